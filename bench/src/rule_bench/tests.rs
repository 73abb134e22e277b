use super::*;

const DEFAULT: Shape = Shape { metrics: 100, series_per_metric: 1000, rules: 1000, groups: 10 };

#[test]
fn default_shape_has_half_recording_half_alerting_rules_in_even_groups() {
    assert_eq!(DEFAULT.series(), 100_000);
    let mut records = std::collections::BTreeSet::new();
    let mut alerts_seen = std::collections::BTreeSet::new();
    for g in 0..10 {
        let group = DEFAULT.group(g);
        assert_eq!(group.len(), 100, "group {g}");
        for rule in group {
            match rule {
                BenchRule::Record { name, .. } => assert!(records.insert(name)),
                BenchRule::Alert { name, .. } => assert!(alerts_seen.insert(name)),
            }
        }
    }
    assert_eq!(records.len(), 500);
    assert_eq!(alerts_seen.len(), 500);
    assert!(DEFAULT.group(10).is_empty());
}

#[test]
fn exactly_one_percent_of_series_alert_with_a_wide_margin() {
    for m in 0..100 {
        let alerting = (0..1000).filter(|&s| alerts(m, s)).count();
        assert_eq!(alerting, 10, "metric {m}");
        let per_step = threshold(m) * 15.0;
        for s in 0..1000 {
            let inc = increment(m, s);
            if alerts(m, s) {
                assert!(inc * 0.8 > per_step, "metric {m} series {s}: {inc} vs {per_step}");
            } else {
                assert!(inc * 1.4 < per_step, "metric {m} series {s}: {inc} vs {per_step}");
            }
        }
    }
    assert_eq!(DEFAULT.expected_alerts(), 500 * 10);
    assert_eq!(DEFAULT.expected_recorded_series(), 500 * 10);
}

#[test]
fn labels_spread_over_ten_jobs_and_a_hundred_instances() {
    let mut jobs = std::collections::BTreeSet::new();
    let mut instances = std::collections::BTreeSet::new();
    for s in 0..1000 {
        let labels = DEFAULT.labels(3, s);
        assert_eq!(labels.get("__name__"), Some("bench_m3_total"));
        jobs.insert(labels.get("job").map(str::to_string));
        instances.insert(labels.get("instance").map(str::to_string));
    }
    assert_eq!(jobs.len(), 10);
    assert_eq!(instances.len(), 100);
}

#[test]
fn values_are_counters() {
    for s in [0, 1, 99, 999] {
        assert!(value(7, s, 1) > value(7, s, 0));
        assert!((value(7, s, 2) - value(7, s, 1) - increment(7, s)).abs() < 1e-9);
    }
}

#[test]
fn rule_file_carries_for_and_templated_summary() {
    let file = Shape { metrics: 2, series_per_metric: 10, rules: 4, groups: 2 }.rule_file();
    assert_eq!(
        file,
        "groups:\n  - name: bench-0\n    rules:\n      - record: job:bench_m0_total:rate1m\n        expr: sum by (job) (rate(bench_m0_total[1m]))\n      - alert: BenchM0HighRate1m\n        expr: rate(bench_m0_total[1m]) > 0.2\n        for: 1m\n        labels:\n          severity: warning\n        annotations:\n          summary: '{{ $labels.instance }} of {{ $labels.job }} grows by {{ $value | humanize }}/s'\n  - name: bench-1\n    rules:\n      - record: job:bench_m1_total:rate1m\n        expr: sum by (job) (rate(bench_m1_total[1m]))\n      - alert: BenchM1HighRate1m\n        expr: rate(bench_m1_total[1m]) > 0.4\n        for: 1m\n        labels:\n          severity: warning\n        annotations:\n          summary: '{{ $labels.instance }} of {{ $labels.job }} grows by {{ $value | humanize }}/s'\n"
    );
}

#[test]
fn bodies_cover_every_series_in_batches() {
    let shape = Shape { metrics: 3, series_per_metric: 10, rules: 2, groups: 1 };
    let bodies = shape.bodies(1_000_000, 0, 4, 7);
    assert_eq!(bodies.len(), 5); // 30 series, 7 per body
    let decoded: Vec<_> = bodies
        .iter()
        .flat_map(|b| harrier_telemetry::remote_write::decode_request(b, 1 << 24).unwrap_or_default())
        .collect();
    assert_eq!(decoded.len(), 30);
    assert!(decoded.iter().all(|s| s.samples.len() == 4));
    assert_eq!(decoded[0].samples[3].timestamp_ms, 1_000_000 + 3 * STEP_MS);
}

#[test]
fn sum_metric_reads_labelled_and_plain_samples_and_skips_longer_names() {
    let text = "# HELP x_seconds Duration\n# TYPE x_seconds gauge\n\
        x_seconds{rule_group=\"/a/b.yml;g}1\"} 0.25\n\
        x_seconds{rule_group=\"/a/b.yml;g2\"} 1.5e-1\n\
        x_seconds_total 100\n\
        x_seconds 2\n# EOF\n";
    let (sum, count) = sum_metric(text, "x_seconds");
    assert_eq!(count, 3);
    assert!((sum - 2.4).abs() < 1e-12, "{sum}");
    assert_eq!(sum_metric(text, "x_seconds_total"), (100.0, 1));
    assert_eq!(sum_metric(text, "missing"), (0.0, 0));
}
