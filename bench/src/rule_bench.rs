//! The workload of `bench-rules`: a generated Prometheus rule file, the counter series it
//! evaluates over, and reading rule-group self-metrics out of a `/metrics` page.
//!
//! # Series
//!
//! `metrics` counter names `bench_m{M}_total`, each with `series_per_metric` series labelled
//! `job="job-{S % 10}"` and `instance="host-{S / 10}:9100"` (at the default 1,000 series per
//! metric: 10 jobs x 100 instances). Series `S` of metric `M` grows by a fixed increment every
//! 15 s step, so its `rate()` is the same over any window:
//!
//! - `base = M + 1`; a series' *rank* is `(7 S + 13 M) mod 100` (7 is coprime with 100, so every
//!   rank is taken by exactly 1% of a metric's series, spread over jobs and instances);
//! - rank 99 grows by `4 base` per step; every other rank `r` by `base (100 + r) / 100`
//!   (between `base` and `1.98 base`).
//!
//! # Rules
//!
//! `rules` rules in `groups` groups (`bench-0`, `bench-1`, ...; consecutive rules share a group),
//! alternating recording and alerting rules. Recording rule `i` records
//! `job:bench_m{M}_total:rate{W}` as `sum by (job) (rate(bench_m{M}_total[W]))`, with
//! `M = i mod metrics` and the window `W` (1m, 2m, 5m, 10m, 15m) chosen by `i / metrics`, so the
//! rules are all different. Alerting rule `i` (same `M` and `W`) is
//! `rate(bench_m{M}_total[W]) > (M + 1) / 5` with `for: 1m`: the threshold is `3 base` per step,
//! far from both the ordinary ranks (at most `1.98 base`) and rank 99 (`4 base`), so exactly the
//! rank-99 series (1%) alert even when `rate()`'s extrapolation is off by a step or two. Its
//! `summary` annotation uses `{{ $labels.instance }}` and `{{ $value | humanize }}`.
//!
//! # Self-metrics
//!
//! [`sum_metric`] sums every sample of one metric name in a text exposition (Prometheus text
//! 0.0.4 or OpenMetrics), which is how the per-group `..._rule_group_last_duration_seconds`
//! gauges become one evaluation time per iteration.

#[cfg(test)]
mod tests;

use harrier_telemetry::model::{Labels, Sample, Series};
use std::fmt::Write as _;

/// The evaluation interval and sample step, in milliseconds.
pub const STEP_MS: i64 = 15_000;

/// The windows recording and alerting rules use, picked in turn.
const WINDOWS: [&str; 5] = ["1m", "2m", "5m", "10m", "15m"];

/// Prefix of every recorded series name (`job:...`).
pub const RECORD_PREFIX: &str = "job:";

/// How big the generated workload is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Metric names.
    pub metrics: usize,
    /// Series per metric name.
    pub series_per_metric: usize,
    /// Rules in the file (recording and alerting alternate).
    pub rules: usize,
    /// Groups the rules are spread over.
    pub groups: usize,
}

/// One generated rule.
#[derive(Debug, Clone, PartialEq)]
pub enum BenchRule {
    Record { name: String, expr: String },
    Alert { name: String, expr: String },
}

impl Shape {
    /// Total series.
    pub fn series(&self) -> usize {
        self.metrics * self.series_per_metric
    }

    /// Recording rules (the even-numbered rules).
    pub fn recording_rules(&self) -> usize {
        self.rules.div_ceil(2)
    }

    /// Alerting rules (the odd-numbered rules).
    pub fn alerting_rules(&self) -> usize {
        self.rules / 2
    }

    /// The rules of group `g`, in file order.
    pub fn group(&self, g: usize) -> Vec<BenchRule> {
        let groups = self.groups.max(1);
        (0..self.rules).filter(|k| k * groups / self.rules.max(1) == g).map(|k| self.rule(k)).collect()
    }

    /// Rule `k` of the file: recording rule `k / 2` for even `k`, alerting rule `k / 2` for odd.
    pub fn rule(&self, k: usize) -> BenchRule {
        let i = k / 2;
        let metrics = self.metrics.max(1);
        let m = i % metrics;
        let round = i / metrics;
        let window = WINDOWS[round % WINDOWS.len()];
        let suffix =
            if round >= WINDOWS.len() { format!("_{}", round / WINDOWS.len()) } else { String::new() };
        if k.is_multiple_of(2) {
            BenchRule::Record {
                name: format!("{RECORD_PREFIX}bench_m{m}_total:rate{window}{suffix}"),
                expr: format!("sum by (job) (rate(bench_m{m}_total[{window}]))"),
            }
        } else {
            BenchRule::Alert {
                name: format!("BenchM{m}HighRate{window}{suffix}"),
                expr: format!("rate(bench_m{m}_total[{window}]) > {}", threshold(m)),
            }
        }
    }

    /// The rule file (YAML, Prometheus's format).
    pub fn rule_file(&self) -> String {
        let mut out = String::from("groups:\n");
        for g in 0..self.groups.max(1) {
            let _ = writeln!(out, "  - name: bench-{g}\n    rules:");
            for rule in self.group(g) {
                match rule {
                    BenchRule::Record { name, expr } => {
                        let _ = writeln!(out, "      - record: {name}\n        expr: {expr}");
                    }
                    BenchRule::Alert { name, expr } => {
                        let _ = writeln!(
                            out,
                            "      - alert: {name}\n        expr: {expr}\n        for: 1m\n        labels:\n          severity: warning\n        annotations:\n          summary: '{{{{ $labels.instance }}}} of {{{{ $labels.job }}}} grows by {{{{ $value | humanize }}}}/s'"
                        );
                    }
                }
            }
        }
        out
    }

    /// The labels of series `s` of metric `m`.
    pub fn labels(&self, m: usize, s: usize) -> Labels {
        Labels::from_pairs([
            ("__name__", format!("bench_m{m}_total")),
            ("job", format!("job-{}", s % 10)),
            ("instance", format!("host-{}:9100", s / 10)),
        ])
    }

    /// Alerts every alerting rule yields once `for` has passed: one per rank-99 series of its
    /// metric.
    pub fn expected_alerts(&self) -> usize {
        let metrics = self.metrics.max(1);
        (0..self.alerting_rules())
            .map(|i| (0..self.series_per_metric).filter(|&s| alerts(i % metrics, s)).count())
            .sum()
    }

    /// Series the recording rules produce: one per job present in the data.
    pub fn expected_recorded_series(&self) -> usize {
        self.recording_rules() * self.series_per_metric.min(10)
    }

    /// Remote-write bodies (snappy + protobuf) holding steps `first_step..end_step` of every
    /// series, step `k` at `origin_ms + k * STEP_MS`, `batch` series per body.
    pub fn bodies(&self, origin_ms: i64, first_step: i64, end_step: i64, batch: usize) -> Vec<Vec<u8>> {
        let mut bodies = Vec::new();
        let mut chunk = Vec::with_capacity(batch);
        for m in 0..self.metrics {
            for s in 0..self.series_per_metric {
                let samples = (first_step..end_step)
                    .map(|k| Sample { timestamp_ms: origin_ms + k * STEP_MS, value: value(m, s, k) })
                    .collect();
                chunk.push(Series::new(self.labels(m, s), samples));
                if chunk.len() >= batch.max(1) {
                    bodies.push(harrier_telemetry::remote_write::encode_request(&chunk));
                    chunk.clear();
                }
            }
        }
        if !chunk.is_empty() {
            bodies.push(harrier_telemetry::remote_write::encode_request(&chunk));
        }
        bodies
    }
}

/// The rank of series `s` of metric `m` (see the module docs).
fn rank(m: usize, s: usize) -> usize {
    (7 * s + 13 * m) % 100
}

/// Whether series `s` of metric `m` is one of the 1% that alert.
pub fn alerts(m: usize, s: usize) -> bool {
    rank(m, s) == 99
}

/// How much series `s` of metric `m` grows per step.
pub fn increment(m: usize, s: usize) -> f64 {
    let base = (m + 1) as f64;
    if alerts(m, s) { 4.0 * base } else { base * (100 + rank(m, s)) as f64 / 100.0 }
}

/// The alert threshold of metric `m`, per second: three bases per 15 s step.
pub fn threshold(m: usize) -> f64 {
    3.0 * (m + 1) as f64 / 15.0
}

/// The value of series `s` of metric `m` at step `k` (a counter: never decreases for `k >= 0`).
pub fn value(m: usize, s: usize, k: i64) -> f64 {
    (s % 1000) as f64 + increment(m, s) * k as f64
}

/// The sum and number of samples of metric `name` in a text exposition.
pub fn sum_metric(text: &str, name: &str) -> (f64, usize) {
    let mut sum = 0.0;
    let mut count = 0;
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(name) else { continue };
        let value_part = if let Some(labelled) = rest.strip_prefix('{') {
            // Label values may contain '}' only inside quotes; the value follows the last '}'.
            match labelled.rsplit_once('}') {
                Some((_, after)) => after,
                None => continue,
            }
        } else if rest.starts_with(' ') {
            rest
        } else {
            continue; // a longer name sharing this prefix
        };
        if let Some(v) = value_part.split_whitespace().next().and_then(|v| v.parse::<f64>().ok()) {
            sum += v;
            count += 1;
        }
    }
    (sum, count)
}
