//! Unit tests of the series notation, the script parser, the result checks and the `@`
//! rewrites. None of them needs the engine.

use super::at_modifier::at_modifier_cases;
use super::compare::{almost_equal, check_annotations, check_expected_failure, compare_result};
use super::script::{Command, EvalCommand, EvalKind, parse_number, parse_script};
use super::series_notation::{
    SequenceValue, SeriesNotationError, float_samples, parse_duration, parse_metric, parse_series,
    parse_values,
};
use crate::promql::{Annotations, InstantSample, MatrixSeries, Value};
use harrier_telemetry::model::{Labels, Sample, is_stale_nan, stale_nan};

fn floats(values: &[SequenceValue]) -> Vec<f64> {
    values.iter().map(SequenceValue::float_or_zero).collect()
}

#[test]
fn expands_increasing_and_decreasing_sequences() {
    assert_eq!(floats(&parse_values("1+2x3").unwrap()), vec![1.0, 3.0, 5.0, 7.0]);
    assert_eq!(floats(&parse_values("1-1x4").unwrap()), vec![1.0, 0.0, -1.0, -2.0, -3.0]);
    assert_eq!(floats(&parse_values("-2+0.5x2").unwrap()), vec![-2.0, -1.5, -1.0]);
    assert_eq!(floats(&parse_values("0+10x10").unwrap()).len(), 11);
}

#[test]
fn expands_repetitions_blanks_and_stale_markers() {
    let values = parse_values("1x3 _ _x2 stale 5").unwrap();
    assert_eq!(values.len(), 4 + 1 + 2 + 1 + 1);
    assert_eq!(floats(&values[..4]), vec![1.0; 4]);
    assert_eq!(&values[4..7], &[SequenceValue::Omitted, SequenceValue::Omitted, SequenceValue::Omitted]);
    let SequenceValue::Float(stale) = values[7] else { panic!("expected a float, got {:?}", values[7]) };
    assert!(is_stale_nan(stale));
    assert_eq!(values[8], SequenceValue::Float(5.0));
}

#[test]
fn zero_followed_by_x_is_a_repetition_not_hexadecimal() {
    assert_eq!(floats(&parse_values("0x3").unwrap()), vec![0.0; 4]);
}

#[test]
fn parses_special_floats_and_exponents() {
    let values = floats(&parse_values("Inf -Inf +inf NaN 1e3 1.5E+2 -2e-1 .5").unwrap());
    assert_eq!(values[0], f64::INFINITY);
    assert_eq!(values[1], f64::NEG_INFINITY);
    assert_eq!(values[2], f64::INFINITY);
    assert!(values[3].is_nan());
    assert_eq!(&values[4..], &[1000.0, 150.0, -0.2, 0.5]);
}

#[test]
fn increments_accumulate_like_upstream() {
    // Repeated addition, not start + i * step: 0.1 added three times is not 0.3.
    let values = floats(&parse_values("0+0.1x3").unwrap());
    assert_eq!(values[3], 0.1 + 0.1 + 0.1);
}

#[test]
fn rejects_malformed_items() {
    for bad in ["1+", "1+2", "abc", "1x", "_x", "1+2y3", "stalex"] {
        assert!(parse_values(bad).is_err(), "{bad:?} should not parse");
    }
}

fn histogram_at(values: &[SequenceValue], i: usize) -> &super::series_notation::HistogramItem {
    match &values[i] {
        SequenceValue::Histogram(item) => item,
        other => panic!("expected a histogram at {i}, got {other:?}"),
    }
}

#[test]
fn parses_and_expands_native_histogram_items() {
    let values = parse_values("1 {{schema:1 sum:3 count:22 buckets:[5 10 7]}} {{count:1}}x2 2").unwrap();
    assert_eq!(values.len(), 1 + 1 + 3 + 1);
    let first = histogram_at(&values, 1);
    assert_eq!((first.histogram.schema, first.histogram.count, first.histogram.sum), (1, 22.0, 3.0));
    assert_eq!(first.histogram.positive_buckets, vec![5.0, 10.0, 7.0]);
    assert!(!first.explicit_hint);
    assert!(values[2..5].iter().all(SequenceValue::is_histogram));
    assert_eq!(values[5], SequenceValue::Float(2.0));
    let increasing =
        parse_values("{{schema:0 sum:1 count:1 counter_reset_hint:gauge}}+{{sum:1 count:2}}x3").unwrap();
    assert_eq!(increasing.len(), 4);
    let counts: Vec<f64> = (0..4).map(|i| histogram_at(&increasing, i).histogram.count).collect();
    assert_eq!(counts, vec![1.0, 3.0, 5.0, 7.0]);
    assert!(histogram_at(&increasing, 3).explicit_hint);
    assert!(parse_values("{{schema:0 sum:1").is_err());
    assert!(parse_values("{{schema:0 bogus:1}}").is_err());
}

#[test]
fn parses_metric_with_labels_and_values() {
    let series =
        parse_series(r#"http_requests{job="api-server", instance="0", group="canary"}   0+30x10"#).unwrap();
    assert_eq!(
        series.labels,
        Labels::from_pairs([
            ("__name__", "http_requests"),
            ("group", "canary"),
            ("instance", "0"),
            ("job", "api-server")
        ])
    );
    assert_eq!(series.values.len(), 11);
    assert_eq!(series.values[10], SequenceValue::Float(300.0));
}

#[test]
fn parses_label_sets_without_name_and_quoting_forms() {
    assert_eq!(parse_series("{} 1").unwrap().labels, Labels::new());
    let series = parse_series(r#"{job="a\"b", path='x\ty', raw=`c\d`,} 3"#).unwrap();
    assert_eq!(series.labels.get("job"), Some("a\"b"));
    assert_eq!(series.labels.get("path"), Some("x\ty"));
    assert_eq!(series.labels.get("raw"), Some("c\\d"));
    assert_eq!(series.labels.metric_name(), None);
    let utf8 = parse_metric(r#"{"my.metric", "label.name"="v"}"#).unwrap();
    assert_eq!(utf8.metric_name(), Some("my.metric"));
    assert_eq!(utf8.get("label.name"), Some("v"));
    assert!(parse_series(r#"foo{job="a" 1"#).is_err());
    assert!(parse_series(r#"foo{job=a} 1"#).is_err());
    assert!(matches!(parse_series("1 2"), Err(SeriesNotationError::InvalidSeries { .. })));
}

#[test]
fn keyword_names_and_unicode_escapes() {
    let series = parse_series(r#"sum{by="\u00e9\x41"} 1"#).unwrap();
    assert_eq!(series.labels.metric_name(), Some("sum"));
    assert_eq!(series.labels.get("by"), Some("éA"));
}

#[test]
fn lays_out_samples_by_interval() {
    let series = parse_series("m 1 _ 3 stale").unwrap();
    let samples = series.float_samples(0, 60_000);
    assert_eq!(samples.len(), 3);
    assert_eq!(samples[0], Sample { timestamp_ms: 0, value: 1.0 });
    assert_eq!(samples[1], Sample { timestamp_ms: 120_000, value: 3.0 });
    assert_eq!(samples[2].timestamp_ms, 180_000);
    assert!(is_stale_nan(samples[2].value));
    assert_eq!(float_samples(&[SequenceValue::Float(1.0)], 5_000, 1).len(), 1);
}

#[test]
fn parses_prometheus_durations() {
    assert_eq!(parse_duration("0").unwrap(), 0);
    assert_eq!(parse_duration("5m").unwrap(), 300_000);
    assert_eq!(parse_duration("1h30m").unwrap(), 5_400_000);
    assert_eq!(parse_duration("10s53ms").unwrap(), 10_053);
    assert_eq!(parse_duration("1ms").unwrap(), 1);
    assert_eq!(parse_duration("1y").unwrap(), 365 * 86_400_000);
    assert_eq!(parse_duration("2w1d").unwrap(), 15 * 86_400_000);
    for bad in ["", "5", "m", "1m1h", "1x", "-1m", "1m1m"] {
        assert!(parse_duration(bad).is_err(), "{bad:?} should not parse");
    }
}

#[test]
fn parses_numbers_like_go() {
    assert_eq!(parse_number("42"), Some(42.0));
    assert_eq!(parse_number("-3.5"), Some(-3.5));
    assert_eq!(parse_number("0x1F"), Some(31.0));
    assert_eq!(parse_number("010"), Some(8.0));
    assert_eq!(parse_number("1e3"), Some(1000.0));
    assert_eq!(parse_number("+Inf"), Some(f64::INFINITY));
    assert!(parse_number("NaN").is_some_and(f64::is_nan));
    assert_eq!(parse_number("foo 1"), None);
    assert_eq!(parse_number("{} 1"), None);
}

const SCRIPT: &str = r#"
# A comment.
load 5m
  http_requests{job="api", instance="0"} 0+10x10
  http_requests{job="api", instance="1"} 0+20x10
  http_requests{job="api", instance="1"} 1x2

clear
load_with_nhcb 1m
  hist_bucket{le="1"} 1 2
  hist_bucket{le="+Inf"} 2 4

eval instant at 50m sum by (job) (http_requests)
  expect no_warn
  expect info msg: PromQL info: something (1:1)
  {job="api"} 300

eval range from 0 to 10m step 5m http_requests
  expect warn regex: PromQL warning: .*
  http_requests{job="api", instance="0"} 0 10 _

eval instant at 1m 1 + 1
  2

eval_fail instant at 0 foo
  expected_fail_message vector cannot contain metrics with the same labelset

eval_ordered instant at 1h topk(2, http_requests)
  http_requests{instance="1"} 2
  http_requests{instance="0"} 1

eval instant at 10s ("Foo")
  expect string "Foo"

eval instant at 1m some_metric[1m]
  expect range vector from 10s to 1m step 10s
  some_metric{env="a"} 2 3 4 5 6

eval instant at 5m foo
  expect fail regex: too (many|few)
"#;

fn parse_evals(script: &str) -> Vec<EvalCommand> {
    parse_script(script)
        .unwrap()
        .commands
        .into_iter()
        .filter_map(|c| match c {
            Command::Eval(e) => Some(*e),
            _ => None,
        })
        .collect()
}

#[test]
fn parses_commands_in_order() {
    let script = parse_script(SCRIPT).unwrap();
    let kinds: Vec<&str> = script
        .commands
        .iter()
        .map(|c| match c {
            Command::Load(_) => "load",
            Command::Clear => "clear",
            Command::Eval(_) => "eval",
        })
        .collect();
    assert_eq!(
        kinds,
        ["load", "clear", "load", "eval", "eval", "eval", "eval", "eval", "eval", "eval", "eval"]
    );
    let Command::Load(load) = &script.commands[0] else { panic!("expected a load") };
    assert_eq!(load.line, 3);
    assert_eq!(load.interval_ms, 300_000);
    assert!(!load.with_nhcb);
    // The later line for the same series replaces the earlier one.
    assert_eq!(load.series.len(), 2);
    assert_eq!(load.series[1].values.len(), 3);
    let Command::Load(nhcb) = &script.commands[2] else { panic!("expected a load") };
    assert!(nhcb.with_nhcb);
    assert_eq!(nhcb.interval_ms, 60_000);
}

#[test]
fn parses_eval_expectations() {
    let evals = parse_evals(SCRIPT);
    let instant = &evals[0];
    assert_eq!(instant.line, 13);
    assert_eq!(instant.kind, EvalKind::Instant);
    assert_eq!(instant.query, "sum by (job) (http_requests)");
    assert_eq!(instant.eval_ms, 3_000_000);
    assert!(instant.expect.no_warn);
    assert_eq!(instant.expect.info.len(), 1);
    assert!(instant.expect.info[0].matches("PromQL info: something (1:1)"));
    assert!(!instant.expect.info[0].matches("PromQL info: something (1:2)"));
    assert_eq!(instant.expected_series.len(), 1);
    assert_eq!(instant.expected_series.values().next().unwrap().position, 1);

    let range = &evals[1];
    assert_eq!(range.kind, EvalKind::Range);
    assert_eq!((range.start_ms, range.end_ms, range.step_ms), (0, 600_000, 300_000));
    assert_eq!(range.query, "http_requests");
    assert!(range.expect.warn[0].matches("PromQL warning: anything"));

    assert_eq!(evals[2].expected_scalar, Some(SequenceValue::Float(2.0)));
    assert!(evals[3].legacy_fail && evals[3].is_fail());
    assert_eq!(
        evals[3].expected_fail_message.as_deref(),
        Some("vector cannot contain metrics with the same labelset")
    );
    assert!(evals[4].is_ordered());
    let positions: Vec<usize> = evals[4].expected_series.values().map(|s| s.position).collect();
    assert_eq!(positions, vec![2, 1]); // Sorted by labels: instance="0" was the second line.
    assert_eq!(evals[5].expected_string, "Foo");
    assert!(evals[5].exclude_from_range_query);
    let rv = &evals[6];
    assert_eq!((rv.start_ms, rv.end_ms, rv.step_ms, rv.eval_ms), (10_000, 60_000, 10_000, 60_000));
    assert!(rv.exclude_from_range_query);
    assert_eq!(rv.expected_series.values().next().unwrap().values.len(), 5);
    assert!(evals[7].is_fail());
}

#[test]
fn a_comment_ends_a_block() {
    let evals = parse_evals("eval instant at 0 foo\n  foo 1\n# comment\n");
    assert_eq!(evals.len(), 1);
    assert!(parse_script("eval instant at 0 foo\n  foo 1\n# comment\n  bar 2\n").is_err());
}

#[test]
fn rejects_invalid_scripts() {
    let cases = [
        "bogus command",
        "load\n  foo 1",
        "load 1x\n  foo 1",
        "eval instant at 1m foo\n  foo 1 2",
        "eval instant at xyz foo",
        "eval range from 10m to 0 step 1m foo",
        "eval instant at 0 foo\n  expect warn\n  expect no_warn",
        "eval instant at 0 foo\n  expect fail\n  expect fail",
        "eval instant at 0 foo\n  expect sometimes",
        "eval instant at 0 foo\n  expect string Foo",
        "eval instant at 0 foo\n  expect info regex: (",
        "load 1m\n  foo@st 0 1",
    ];
    for script in cases {
        let result = parse_script(script);
        assert!(result.is_err(), "{script:?} should be rejected, got {result:?}");
    }
    let error = parse_script("\n\nbogus").unwrap_err();
    assert_eq!(error.line, 3);
}

#[test]
fn recognises_every_command_form() {
    let evals = parse_evals(
        "eval_warn instant at 0 a\n\neval_info range from 0 to 1m step 30s b\n\neval_fail range from 0 to 1m step 30s c\n  expected_fail_regexp bad.*\n",
    );
    assert!(evals[0].legacy_warn);
    assert!(evals[1].legacy_info && evals[1].kind == EvalKind::Range);
    assert!(evals[2].expected_fail_regexp.as_ref().unwrap().is_match("a bad thing"));
}

#[test]
fn almost_equal_matches_upstream() {
    assert!(almost_equal(1.0, 1.0 + 1e-9, 1e-6));
    assert!(!almost_equal(1.0, 1.001, 1e-6));
    assert!(almost_equal(f64::NAN, f64::NAN, 1e-6));
    assert!(!almost_equal(f64::NAN, 1.0, 1e-6));
    assert!(almost_equal(stale_nan(), stale_nan(), 1e-6));
    assert!(!almost_equal(stale_nan(), f64::NAN, 1e-6));
    assert!(almost_equal(f64::INFINITY, f64::INFINITY, 1e-6));
    assert!(!almost_equal(f64::INFINITY, f64::NEG_INFINITY, 1e-6));
    assert!(!almost_equal(0.0, 1e-10, 1e-6));
    assert!(almost_equal(0.0, -0.0, 1e-6));
}

fn sample(labels: Labels, v: f64) -> InstantSample {
    InstantSample { labels, t: 0, v, h: None, drop_name: false }
}

#[test]
fn compares_vectors_by_labels_and_order() {
    let evals = parse_evals(SCRIPT);
    let a = Labels::from_pairs([("job", "api")]);
    assert!(compare_result(&evals[0], &Value::Vector(vec![sample(a.clone(), 300.0000001)])).is_ok());
    assert!(compare_result(&evals[0], &Value::Vector(vec![sample(a.clone(), 301.0)])).is_err());
    assert!(compare_result(&evals[0], &Value::Vector(vec![])).is_err());
    let other = Labels::from_pairs([("job", "other")]);
    assert!(compare_result(&evals[0], &Value::Vector(vec![sample(a, 300.0), sample(other, 1.0)])).is_err());
    assert!(compare_result(&evals[0], &Value::Scalar { t: 0, v: 300.0 }).is_err());

    let ordered = &evals[4];
    let i0 = Labels::from_pairs([("__name__", "http_requests"), ("instance", "0")]);
    let i1 = Labels::from_pairs([("__name__", "http_requests"), ("instance", "1")]);
    let right = vec![sample(i1.clone(), 2.0), sample(i0.clone(), 1.0)];
    let wrong = vec![sample(i0, 1.0), sample(i1, 2.0)];
    assert!(compare_result(ordered, &Value::Vector(right)).is_ok());
    assert!(compare_result(ordered, &Value::Vector(wrong)).is_err());
}

#[test]
fn compares_scalars_and_strings() {
    let evals = parse_evals(SCRIPT);
    assert!(compare_result(&evals[2], &Value::Scalar { t: 0, v: 2.0 }).is_ok());
    assert!(compare_result(&evals[2], &Value::Scalar { t: 0, v: 3.0 }).is_err());
    assert!(compare_result(&evals[2], &Value::Vector(vec![])).is_err());
    assert!(compare_result(&evals[5], &Value::String { t: 0, s: "Foo".into() }).is_ok());
    assert!(compare_result(&evals[5], &Value::String { t: 0, s: "Bar".into() }).is_err());
}

#[test]
fn compares_matrices_point_by_point() {
    let evals = parse_evals(SCRIPT);
    let range = &evals[1];
    let labels = Labels::from_pairs([("__name__", "http_requests"), ("instance", "0"), ("job", "api")]);
    let matrix = |samples: Vec<(i64, f64)>| {
        let samples =
            samples.into_iter().map(|(timestamp_ms, value)| Sample { timestamp_ms, value }).collect();
        Value::Matrix(vec![MatrixSeries::new(labels.clone(), samples)])
    };
    assert!(compare_result(range, &matrix(vec![(0, 0.0), (300_000, 10.0)])).is_ok());
    // The omitted third point must be absent.
    assert!(compare_result(range, &matrix(vec![(0, 0.0), (300_000, 10.0), (600_000, 20.0)])).is_err());
    assert!(compare_result(range, &matrix(vec![(0, 0.0), (240_000, 10.0)])).is_err());
    assert!(compare_result(range, &matrix(vec![(0, 0.0), (300_000, 11.0)])).is_err());
    assert!(compare_result(range, &Value::Matrix(vec![])).is_err());

    // Range vector of an instant query: points from the `expect range vector` start by step.
    let rv = &evals[6];
    let labels = Labels::from_pairs([("__name__", "some_metric"), ("env", "a")]);
    let samples = (1..=5).map(|i| Sample { timestamp_ms: i * 10_000, value: (i + 1) as f64 }).collect();
    assert!(compare_result(rv, &Value::Matrix(vec![MatrixSeries::new(labels, samples)])).is_ok());

    // Unsorted matrices are rejected.
    let unsorted = parse_evals("eval range from 0 to 0 step 1m m\n  m{a=\"2\"} 1\n  m{a=\"1\"} 1\n");
    let series = |a: &str| {
        MatrixSeries::new(
            Labels::from_pairs([("__name__", "m"), ("a", a)]),
            vec![Sample { timestamp_ms: 0, value: 1.0 }],
        )
    };
    assert!(compare_result(&unsorted[0], &Value::Matrix(vec![series("1"), series("2")])).is_ok());
    assert!(compare_result(&unsorted[0], &Value::Matrix(vec![series("2"), series("1")])).is_err());
}

#[test]
fn checks_annotations_like_upstream() {
    let evals = parse_evals(SCRIPT);
    let instant = &evals[0];
    let with = |warnings: &[&str], infos: &[&str]| Annotations {
        warnings: warnings.iter().map(|s| s.to_string()).collect(),
        infos: infos.iter().map(|s| s.to_string()).collect(),
    };
    assert!(check_annotations(instant, "q", &with(&[], &["PromQL info: something (1:1)"])).is_ok());
    // The expected info is missing.
    assert!(check_annotations(instant, "q", &with(&[], &[])).is_err());
    // An info no expect line matches.
    assert!(
        check_annotations(instant, "q", &with(&[], &["PromQL info: something (1:1)", "PromQL info: other"]))
            .is_err()
    );
    // no_warn.
    assert!(
        check_annotations(instant, "q", &with(&["PromQL warning: x"], &["PromQL info: something (1:1)"]))
            .is_err()
    );
    // Without expect lines nothing is checked; eval_warn needs at least one warning.
    let plain = parse_evals("eval instant at 0 a\n\neval_warn instant at 0 b\n");
    assert!(check_annotations(&plain[0], "a", &with(&["PromQL warning: x"], &["PromQL info: y"])).is_ok());
    assert!(check_annotations(&plain[1], "b", &with(&[], &[])).is_err());
    assert!(check_annotations(&plain[1], "b", &with(&["PromQL warning: x"], &[])).is_ok());
}

#[test]
fn checks_expected_failures() {
    let evals = parse_evals(SCRIPT);
    let legacy = &evals[3];
    assert!(check_expected_failure(legacy, "vector cannot contain metrics with the same labelset").is_ok());
    assert!(check_expected_failure(legacy, "something else").is_err());
    let regex = &evals[7];
    assert!(check_expected_failure(regex, "too many samples").is_ok());
    assert!(check_expected_failure(regex, "bad").is_err());
    let any = parse_evals("eval instant at 0 a\n  expect fail\n");
    assert!(check_expected_failure(&any[0], "whatever").is_ok());
}

#[test]
fn at_modifier_rewrites_selectors_outside_subqueries() {
    let cases = at_modifier_cases("sum(rate(foo[5m])) + bar offset 1m", 60_000).unwrap();
    let times: Vec<i64> = cases.iter().map(|c| c.eval_ms).collect();
    assert_eq!(times, vec![-600_000, 0, 12_000, 60_000, 600_000]);
    let query = &cases[0].query;
    assert!(query.contains("foo[5m] @ 60.000"), "{query}");
    assert!(query.contains("bar @ 60.000 offset 1m"), "{query}");

    let at_zero = at_modifier_cases("foo", 0).unwrap();
    assert_eq!(at_zero.iter().map(|c| c.eval_ms).collect::<Vec<_>>(), vec![-1000, 0, 1000]);

    // A selector inside a subquery keeps its own time; the subquery gets the @.
    let sub = at_modifier_cases("max_over_time(foo[5m:1m])", 120_000).unwrap();
    assert!(sub[0].query.contains("foo[5m:1m] @ 120.000"), "{}", sub[0].query);
    assert!(!sub[0].query.contains("foo @"), "{}", sub[0].query);

    // An existing @ is kept.
    let kept = at_modifier_cases("foo @ 10", 120_000).unwrap();
    assert!(kept[0].query.contains("@ 10.000"), "{}", kept[0].query);

    // Time-dependent functions are not re-run, unless inside a subquery.
    assert!(at_modifier_cases("time() - foo", 60_000).unwrap().is_empty());
    assert!(at_modifier_cases("timestamp(foo)", 60_000).unwrap().is_empty());
    assert!(at_modifier_cases("start()", 60_000).unwrap().is_empty());
    assert!(!at_modifier_cases("max_over_time(timestamp(foo)[5m:1m])", 60_000).unwrap().is_empty());
    assert!(at_modifier_cases("foo +", 60_000).is_err());
}

#[test]
fn at_modifier_rewrites_keep_string_literals_as_written() {
    let cases =
        at_modifier_cases(r#"label_replace(foo{a='\x41'}, "\xff", "", "src", "(.*)")"#, 60_000).unwrap();
    assert_eq!(cases[0].query, r#"label_replace(foo{a='\x41'} @ 60.000, "\xff", "", "src", "(.*)")"#);
}

fn run_script_text(source: &str) -> super::ScriptReport {
    let engine = crate::promql::Engine::new(super::test_engine_options());
    super::run_source(source, &crate::store::model::ModelStorage::new(), &engine).unwrap()
}

const NATIVE_HISTOGRAM_SCRIPT: &str = r#"
load 5m
	m{path="/a"} {{sum:2 count:2}}+{{sum:3 count:3}}x5
	m{path="/b"} {{sum:1 count:1 buckets:[1]}}+{{sum:1 count:1 buckets:[1]}}x5
	f{path="/a"} 1+1x5

load_with_nhcb 5m
	lat_bucket{le="1"} 0+1x5
	lat_bucket{le="2"} 0+3x5
	lat_bucket{le="+Inf"} 0+4x5
	lat_sum 0+5x5
	lat_count 0+4x5

eval instant at 20m irate(m{path="/a"}[20m])
	expect no_warn
	{path="/a"} {{sum:0.01 count:0.01 counter_reset_hint:gauge}}

eval instant at 20m sum(m)
	{} {{sum:19 count:19 buckets:[5]}}

eval instant at 20m histogram_count(m)
	{path="/a"} 14
	{path="/b"} 5

eval instant at 20m m{path="/b"} * 2
	{path="/b"} {{sum:10 count:10 buckets:[10]}}

eval instant at 20m max(m)
	expect info

eval instant at 20m sum({path="/a"})
	expect warn msg: PromQL warning: encountered a mix of histograms and floats for aggregation (1:5)

eval instant at 20m m > 1
	expect info

eval instant at 20m histogram_quantile(0.5, lat)
	{} 1.5

eval instant at 20m lat
	lat {{schema:-53 sum:20 count:16 custom_values:[1 2] buckets:[4 8 4]}}

eval range from 0 to 10m step 5m increase(lat[10m])
	{} _ {{schema:-53 sum:5 count:4 custom_values:[1 2] buckets:[1 2 1] counter_reset_hint:gauge}} {{schema:-53 sum:10 count:8 custom_values:[1 2] buckets:[2 4 2] counter_reset_hint:gauge}}
"#;

#[test]
fn native_histograms_load_select_and_compute() {
    let report = run_script_text(NATIVE_HISTOGRAM_SCRIPT);
    let failures: Vec<_> = report.failed().collect();
    assert!(failures.is_empty(), "{failures:#?}");
    assert_eq!(report.cases.len(), 10);
}

#[test]
fn expected_histograms_must_match() {
    // A wrong histogram, a float where a histogram is expected, and a stated hint that differs.
    let report = run_script_text(
        "load 5m\n\tm {{sum:2 count:2}} 3\n\n\
         eval instant at 0m m\n\tm {{sum:2 count:3}}\n\n\
         eval instant at 5m m\n\tm {{sum:2 count:2}}\n\n\
         eval instant at 0m m\n\tm {{sum:2 count:2 counter_reset_hint:gauge}}\n\n\
         eval instant at 0m m\n\tm {{sum:2 count:2}}\n",
    );
    let passed: Vec<bool> = report.cases.iter().map(|c| c.passed()).collect();
    assert_eq!(passed, vec![false, false, false, true]);
}

#[test]
fn histograms_pass_through_label_functions_and_set_operators() {
    let report = run_script_text(
        r#"load 5m
	m{a="x"} {{sum:2 count:2}}

eval instant at 0m label_replace(m, "b", "$1", "a", "(.*)")
	m{a="x", b="x"} {{sum:2 count:2}}

eval instant at 0m sort_by_label(m, "a")
	m{a="x"} {{sum:2 count:2}}

eval instant at 0m timestamp(m)
	{a="x"} 0

eval instant at 0m -m
	{a="x"} {{sum:-2 count:-2}}

eval instant at 0m count_over_time(m[1m])
	{a="x"} 1

eval instant at 0m last_over_time(m[1m])
	m{a="x"} {{sum:2 count:2}}

eval instant at 0m m and m
	m{a="x"} {{sum:2 count:2}}

eval instant at 0m absent(m)

eval instant at 0m count(m)
	{} 1
"#,
    );
    let failures: Vec<_> = report.failed().collect();
    assert!(failures.is_empty(), "{failures:#?}");
    assert_eq!(report.cases.len(), 9);
}
