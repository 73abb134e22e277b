//! Engine tests against [`ModelStorage`]: selectors, lookback and staleness, offset and `@`,
//! subquery alignment, every binary operator class with matching, every aggregation, and
//! Prometheus's error messages.

use super::*;
use crate::promql::{InstantSample, PromqlError, Value};
use crate::store::model::ModelStorage;
use harrier_telemetry::model::{Labels, Sample, stale_nan};

const MINUTE: i64 = 60_000;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

/// Loads `values` at `0, step, 2*step, ...`; `None` leaves a gap.
fn load(storage: &ModelStorage, pairs: &[(&str, &str)], step: i64, values: &[Option<f64>]) {
    let samples: Vec<Sample> = values
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.map(|value| Sample { timestamp_ms: i as i64 * step, value }))
        .collect();
    storage.append(&labels(pairs), &samples);
}

fn series(values: &[f64]) -> Vec<Option<f64>> {
    values.iter().copied().map(Some).collect()
}

fn instant(storage: &ModelStorage, query: &str, t: i64) -> Value {
    Engine::default().instant_query(storage, query, t).unwrap().value
}

/// An instant vector as (labels text, value), sorted.
fn vector(storage: &ModelStorage, query: &str, t: i64) -> Vec<(String, f64)> {
    match instant(storage, query, t) {
        Value::Vector(v) => {
            let mut out: Vec<(String, f64)> =
                v.into_iter().map(|s: InstantSample| (format::labels_string(&s.labels), s.v)).collect();
            out.sort_by(|a, b| a.0.cmp(&b.0));
            out
        }
        other => panic!("expected a vector, got {other:?}"),
    }
}

fn scalar(storage: &ModelStorage, query: &str, t: i64) -> f64 {
    match instant(storage, query, t) {
        Value::Scalar { v, .. } => v,
        other => panic!("expected a scalar, got {other:?}"),
    }
}

fn error(storage: &ModelStorage, query: &str, t: i64) -> String {
    Engine::default().instant_query(storage, query, t).unwrap_err().to_string()
}

fn v(text: &str, value: f64) -> (String, f64) {
    (text.to_string(), value)
}

fn http_requests() -> ModelStorage {
    let s = ModelStorage::new();
    let job = |job, instance, group, start: f64, inc: f64| {
        let values: Vec<f64> = (0..=10).map(|i| start + inc * i as f64).collect();
        load(
            &s,
            &[("__name__", "http_requests"), ("job", job), ("instance", instance), ("group", group)],
            5 * MINUTE,
            &series(&values),
        );
    };
    job("api-server", "0", "production", 0.0, 10.0);
    job("api-server", "1", "production", 0.0, 20.0);
    job("api-server", "0", "canary", 0.0, 30.0);
    job("api-server", "1", "canary", 0.0, 40.0);
    job("app-server", "0", "production", 0.0, 50.0);
    job("app-server", "1", "production", 0.0, 60.0);
    job("app-server", "0", "canary", 0.0, 70.0);
    job("app-server", "1", "canary", 0.0, 80.0);
    s
}

#[test]
fn selector_lookback_is_left_open_and_five_minutes() {
    let s = ModelStorage::new();
    load(&s, &[("__name__", "m")], MINUTE, &[Some(1.0)]);
    assert_eq!(vector(&s, "m", 0), vec![v("{__name__=\"m\"}", 1.0)]);
    assert_eq!(vector(&s, "m", 5 * MINUTE - 1), vec![v("{__name__=\"m\"}", 1.0)]);
    assert!(vector(&s, "m", 5 * MINUTE).is_empty(), "a sample exactly lookback ago is out");
    assert!(vector(&s, "m", -1).is_empty(), "no sample before the first");
}

#[test]
fn staleness_marker_hides_series_until_next_sample() {
    let s = ModelStorage::new();
    load(&s, &[("__name__", "m")], MINUTE, &[Some(1.0), Some(stale_nan()), None, Some(3.0)]);
    assert_eq!(vector(&s, "m", 30_000), vec![v("{__name__=\"m\"}", 1.0)]);
    assert!(vector(&s, "m", MINUTE).is_empty());
    assert!(vector(&s, "m", 2 * MINUTE).is_empty());
    assert_eq!(vector(&s, "m", 3 * MINUTE), vec![v("{__name__=\"m\"}", 3.0)]);
    // Range selectors drop the marker.
    match instant(&s, "m[5m]", 3 * MINUTE) {
        Value::Matrix(m) => {
            let ts: Vec<i64> = m[0].samples.iter().map(|p| p.timestamp_ms).collect();
            assert_eq!(ts, vec![0, 3 * MINUTE]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn matchers_of_every_kind_and_or_groups() {
    let s = http_requests();
    let t = 50 * MINUTE;
    assert_eq!(vector(&s, r#"http_requests{job="api-server",instance="0",group="canary"}"#, t).len(), 1);
    assert_eq!(vector(&s, r#"http_requests{job!="api-server"}"#, t).len(), 4);
    assert_eq!(vector(&s, r#"http_requests{job=~"app.*",instance!~"1"}"#, t).len(), 2);
    assert_eq!(vector(&s, r#"{__name__=~"http_.*", group="canary"}"#, t).len(), 4);
    assert_eq!(vector(&s, r#"http_requests{instance="0" or group="canary"}"#, t).len(), 6);
}

#[test]
fn matrix_selector_is_left_open() {
    let s = ModelStorage::new();
    load(&s, &[("__name__", "m")], MINUTE, &series(&[0.0, 1.0, 2.0, 3.0]));
    match instant(&s, "m[2m]", 3 * MINUTE) {
        Value::Matrix(m) => {
            assert_eq!(m.len(), 1);
            let values: Vec<f64> = m[0].samples.iter().map(|p| p.value).collect();
            assert_eq!(values, vec![2.0, 3.0], "the sample at t-2m is outside");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn offset_and_at_modifiers() {
    let s = ModelStorage::new();
    load(&s, &[("__name__", "m")], MINUTE, &series(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]));
    assert_eq!(vector(&s, "m offset 2m", 5 * MINUTE), vec![v("{__name__=\"m\"}", 3.0)]);
    assert_eq!(vector(&s, "m offset -2m", MINUTE), vec![v("{__name__=\"m\"}", 3.0)]);
    assert_eq!(vector(&s, "m @ 120", 5 * MINUTE), vec![v("{__name__=\"m\"}", 2.0)]);
    assert_eq!(vector(&s, "m @ 180 offset 1m", 0), vec![v("{__name__=\"m\"}", 2.0)]);
    // start() and end() of a range query.
    let result = Engine::default().range_query(&s, "m @ start()", MINUTE, 3 * MINUTE, MINUTE).unwrap();
    match result.value {
        Value::Matrix(m) => {
            assert_eq!(m[0].samples.iter().map(|p| p.value).collect::<Vec<_>>(), vec![1.0; 3])
        }
        other => panic!("{other:?}"),
    }
    let result = Engine::default().range_query(&s, "m @ end()", MINUTE, 3 * MINUTE, MINUTE).unwrap();
    match result.value {
        Value::Matrix(m) => {
            assert_eq!(m[0].samples.iter().map(|p| p.value).collect::<Vec<_>>(), vec![3.0; 3])
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn subquery_steps_are_aligned_to_multiples_of_the_step() {
    let s = ModelStorage::new();
    load(&s, &[("__name__", "m")], 10_000, &series(&(0..60).map(f64::from).collect::<Vec<_>>()));
    // At t=125s, [1m:30s] covers (65s, 125s]: steps at 90s and 120s.
    match instant(&s, "m[1m:30s]", 125_000) {
        Value::Matrix(m) => {
            let points: Vec<(i64, f64)> = m[0].samples.iter().map(|p| (p.timestamp_ms, p.value)).collect();
            assert_eq!(points, vec![(90_000, 9.0), (120_000, 12.0)]);
        }
        other => panic!("{other:?}"),
    }
    // Without a step: the default 1m; a step exactly at the window's start is out.
    match instant(&s, "m[2m:]", 180_000) {
        Value::Matrix(m) => {
            let ts: Vec<i64> = m[0].samples.iter().map(|p| p.timestamp_ms).collect();
            assert_eq!(ts, vec![120_000, 180_000]);
        }
        other => panic!("{other:?}"),
    }
    // With an offset.
    match instant(&s, "m[1m:30s] offset 30s", 125_000) {
        Value::Matrix(m) => {
            let ts: Vec<i64> = m[0].samples.iter().map(|p| p.timestamp_ms).collect();
            assert_eq!(ts, vec![60_000, 90_000]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn literals_and_scalar_arithmetic() {
    let s = ModelStorage::new();
    assert_eq!(scalar(&s, "1 + 2 * 3", 0), 7.0);
    assert_eq!(scalar(&s, "-(2 ^ 3)", 0), -8.0);
    assert_eq!(scalar(&s, "7 % 4", 0), 3.0);
    assert_eq!(scalar(&s, "2 > bool 1", 0), 1.0);
    assert!((scalar(&s, "1 atan2 1", 0) - std::f64::consts::FRAC_PI_4).abs() < 1e-12);
    match instant(&s, "\"text\"", 1000) {
        Value::String { t, s } => assert_eq!((t, s.as_str()), (1000, "text")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn vector_scalar_operators_and_name_dropping() {
    let s = http_requests();
    let t = 50 * MINUTE;
    let q = r#"http_requests{job="api-server",group="canary"}"#;
    assert_eq!(
        vector(&s, &format!("{q} * 2"), t),
        vec![
            v(r#"{group="canary", instance="0", job="api-server"}"#, 600.0),
            v(r#"{group="canary", instance="1", job="api-server"}"#, 800.0)
        ]
    );
    assert_eq!(
        vector(&s, &format!("{q} > 350"), t),
        vec![v(r#"{__name__="http_requests", group="canary", instance="1", job="api-server"}"#, 400.0)]
    );
    assert_eq!(
        vector(&s, &format!("350 < {q}"), t),
        vec![v(r#"{__name__="http_requests", group="canary", instance="1", job="api-server"}"#, 400.0)],
        "the vector's value is kept when the scalar is on the left"
    );
    assert_eq!(
        vector(&s, &format!("{q} > bool 350"), t),
        vec![
            v(r#"{group="canary", instance="0", job="api-server"}"#, 0.0),
            v(r#"{group="canary", instance="1", job="api-server"}"#, 1.0)
        ]
    );
    assert_eq!(
        vector(&s, &format!("-{q}"), t)[0],
        v(r#"{group="canary", instance="0", job="api-server"}"#, -300.0)
    );
}

#[test]
fn vector_matching_on_ignoring_and_group_left() {
    let s = http_requests();
    load(
        &s,
        &[("__name__", "weight"), ("job", "api-server"), ("tier", "front")],
        5 * MINUTE,
        &series(&[2.0; 11]),
    );
    let t = 50 * MINUTE;
    assert_eq!(
        vector(&s, r#"http_requests{group="canary"} / ignoring(group) http_requests{group="production"}"#, t),
        vec![
            v(r#"{instance="0", job="api-server"}"#, 3.0),
            v(r#"{instance="0", job="app-server"}"#, 1.4),
            v(r#"{instance="1", job="api-server"}"#, 2.0),
            v(r#"{instance="1", job="app-server"}"#, 80.0 / 60.0)
        ]
    );
    assert_eq!(
        vector(&s, r#"http_requests{group="canary"} * on(job) group_left(tier) weight"#, t),
        vec![
            v(r#"{group="canary", instance="0", job="api-server", tier="front"}"#, 600.0),
            v(r#"{group="canary", instance="1", job="api-server", tier="front"}"#, 800.0)
        ]
    );
    assert_eq!(
        vector(&s, r#"weight * on(job) group_right http_requests{group="canary"}"#, t).len(),
        2,
        "group_right keeps the many side's labels"
    );
    assert_eq!(
        vector(
            &s,
            r#"http_requests{group="canary", instance="0"} == on(job) http_requests{group="production", instance="0"}"#,
            t
        ),
        Vec::<(String, f64)>::new()
    );
}

#[test]
fn matching_errors_are_prometheus_messages() {
    let s = http_requests();
    let t = 50 * MINUTE;
    assert_eq!(
        error(&s, r#"http_requests{instance="0"} + on(job) http_requests{instance="1"}"#, t),
        "found duplicate series for the match group {job=\"api-server\"} on the right hand-side of the operation: \
         [{__name__=\"http_requests\", group=\"canary\", instance=\"1\", job=\"api-server\"}, \
         {__name__=\"http_requests\", group=\"production\", instance=\"1\", job=\"api-server\"}];\
         many-to-many matching not allowed: matching labels must be unique on one side"
    );
    load(&s, &[("__name__", "x"), ("a", "1")], 5 * MINUTE, &series(&[1.0; 11]));
    load(&s, &[("__name__", "y"), ("a", "1")], 5 * MINUTE, &series(&[1.0; 11]));
    load(&s, &[("__name__", "z"), ("a", "1")], 5 * MINUTE, &series(&[1.0; 11]));
    assert_eq!(
        error(&s, r#"{__name__=~"x|y"} + on(a) group_left z"#, t),
        "multiple matches for labels: grouping labels must ensure unique matches"
    );
    load(&s, &[("__name__", "one"), ("job", "api-server")], 5 * MINUTE, &series(&[1.0; 11]));
    assert_eq!(
        error(&s, r#"http_requests{group="canary"} + on(job) one"#, t),
        "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)"
    );
}

#[test]
fn set_operators() {
    let s = http_requests();
    let t = 50 * MINUTE;
    let names = |q: &str| vector(&s, q, t).into_iter().map(|(l, _)| l).collect::<Vec<_>>();
    assert_eq!(names(r#"http_requests{group="canary"} and http_requests{instance="0"}"#).len(), 2);
    assert_eq!(names(r#"http_requests{group="canary"} or http_requests{group="production"}"#).len(), 8);
    assert_eq!(names(r#"http_requests{group="canary"} unless http_requests{instance="0"}"#).len(), 2);
    assert_eq!(
        names(r#"http_requests{group="canary"} and on(job) http_requests{job="app-server", instance="0"}"#)
            .len(),
        2
    );
    assert_eq!(
        names(r#"http_requests{group="canary"} unless ignoring(group, instance) http_requests{job="api-server"}"#).len(),
        2
    );
}

#[test]
fn aggregations() {
    let s = http_requests();
    let t = 50 * MINUTE;
    assert_eq!(
        vector(&s, "sum by (job) (http_requests)", t),
        vec![v(r#"{job="api-server"}"#, 1000.0), v(r#"{job="app-server"}"#, 2600.0)]
    );
    assert_eq!(vector(&s, "sum(http_requests)", t), vec![v("{}", 3600.0)]);
    assert_eq!(
        vector(&s, "avg without (instance) (http_requests)", t),
        vec![
            v(r#"{group="canary", job="api-server"}"#, 350.0),
            v(r#"{group="canary", job="app-server"}"#, 750.0),
            v(r#"{group="production", job="api-server"}"#, 150.0),
            v(r#"{group="production", job="app-server"}"#, 550.0)
        ]
    );
    assert_eq!(vector(&s, "count(http_requests)", t), vec![v("{}", 8.0)]);
    assert_eq!(vector(&s, "min(http_requests)", t), vec![v("{}", 100.0)]);
    assert_eq!(vector(&s, "max by (group) (http_requests)", t)[0], v(r#"{group="canary"}"#, 800.0));
    assert_eq!(vector(&s, "group by (job) (http_requests)", t)[0], v(r#"{job="api-server"}"#, 1.0));
    assert!((vector(&s, r#"stdvar(http_requests{job="api-server"})"#, t)[0].1 - 12500.0).abs() < 1e-9);
    assert!(
        (vector(&s, r#"stddev(http_requests{job="api-server"})"#, t)[0].1 - 12500f64.sqrt()).abs() < 1e-9
    );
    assert_eq!(vector(&s, r#"quantile(0.5, http_requests{job="api-server"})"#, t), vec![v("{}", 250.0)]);
    assert_eq!(
        vector(&s, r#"count_values("value", http_requests{job="api-server"} > 200)"#, t),
        vec![v(r#"{value="300"}"#, 1.0), v(r#"{value="400"}"#, 1.0)]
    );
}

#[test]
fn topk_and_bottomk_keep_their_order_in_instant_queries() {
    let s = http_requests();
    let t = 50 * MINUTE;
    match instant(&s, "topk(3, http_requests)", t) {
        Value::Vector(v) => assert_eq!(v.iter().map(|s| s.v).collect::<Vec<_>>(), vec![800.0, 700.0, 600.0]),
        other => panic!("{other:?}"),
    }
    match instant(&s, "bottomk by (job) (1, http_requests)", t) {
        Value::Vector(v) => assert_eq!(v.iter().map(|s| s.v).collect::<Vec<_>>(), vec![100.0, 500.0]),
        other => panic!("{other:?}"),
    }
    assert_eq!(error(&s, "topk(NaN, http_requests)", t), "Parameter value is NaN");
    assert!(vector(&s, "topk(0, http_requests)", t).is_empty());
}

#[test]
fn quantile_out_of_range_warns() {
    let s = http_requests();
    let result = Engine::default().instant_query(&s, "quantile(1.5, http_requests)", 50 * MINUTE).unwrap();
    assert_eq!(
        result.annotations.warnings,
        vec!["PromQL warning: quantile value should be between 0 and 1, got 1.5 (1:10)"]
    );
    match result.value {
        Value::Vector(v) => assert_eq!(v[0].v, f64::INFINITY),
        other => panic!("{other:?}"),
    }
}

#[test]
fn call_annotations_end_with_the_position_of_their_argument() {
    let s = ModelStorage::new();
    load(&s, &[("__name__", "series"), ("le", "x")], MINUTE, &series(&[2.0]));
    load(&s, &[("__name__", "requests")], MINUTE, &series(&[1.0, 2.0, 3.0]));
    let engine = Engine::default();
    let query = "histogram_quantile(0.5, nothing) or\n  histogram_quantile(0.8, series)";
    let result = engine.instant_query(&s, query, 0).unwrap();
    assert_eq!(
        result.annotations.warnings,
        [
            "PromQL warning: bucket label \"le\" is missing or has a malformed value of \"x\" for metric name \"series\" (2:27)"
        ]
    );
    let result = engine.instant_query(&s, "sum(rate(requests[5m]))", 2 * MINUTE).unwrap();
    assert_eq!(
        result.annotations.infos,
        [
            "PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: \"requests\" (1:10)"
        ]
    );
    let result = engine.instant_query(&s, "limit_ratio(2, requests)", 0).unwrap();
    assert_eq!(
        result.annotations.warnings,
        ["PromQL warning: ratio value should be between -1 and 1, got 2, capping to 1 (1:13)"]
    );
}

#[test]
fn label_names_that_go_decodes_to_invalid_utf8_are_rejected() {
    let s = http_requests();
    assert_eq!(
        error(&s, r#"label_replace(http_requests, "\xff", "", "job", "(.*)")"#, 0),
        "invalid destination label name in label_replace(): \u{fffd}"
    );
    assert_eq!(
        error(&s, r#"label_join(http_requests, "dst", ",", "job", "\377")"#, 0),
        "invalid source label name in label_join(): \u{fffd}"
    );
    // Escapes that Go decodes to valid UTF-8 are fine.
    assert!(!vector(&s, r#"label_replace(http_requests, "\xc3\xbf", "", "job", "(.*)")"#, 0).is_empty());
}

#[test]
fn kahan_summation_keeps_small_values() {
    let s = ModelStorage::new();
    load(&s, &[("__name__", "m"), ("i", "a")], MINUTE, &series(&[1.0]));
    load(&s, &[("__name__", "m"), ("i", "b")], MINUTE, &series(&[1e100]));
    load(&s, &[("__name__", "m"), ("i", "c")], MINUTE, &series(&[1.0]));
    load(&s, &[("__name__", "m"), ("i", "d")], MINUTE, &series(&[-1e100]));
    assert_eq!(vector(&s, "sum(m)", 0), vec![v("{}", 2.0)]);
    assert_eq!(vector(&s, "avg(m)", 0), vec![v("{}", 0.5)]);
}

#[test]
fn range_query_returns_a_sorted_matrix_with_gaps() {
    let s = ModelStorage::new();
    load(&s, &[("__name__", "b"), ("x", "1")], 10 * MINUTE, &[Some(1.0), None, None]);
    load(&s, &[("__name__", "a")], 10 * MINUTE, &series(&[3.0, 4.0, 5.0]));
    let result = Engine::default().range_query(&s, "a or b", 0, 20 * MINUTE, 10 * MINUTE).unwrap();
    match result.value {
        Value::Matrix(m) => {
            assert_eq!(m.len(), 2);
            assert_eq!(m[0].labels, labels(&[("__name__", "a")]));
            assert_eq!(m[1].samples, vec![Sample { timestamp_ms: 0, value: 1.0 }]);
        }
        other => panic!("{other:?}"),
    }
    // Delayed name removal: series that end up with one label set merge across steps.
    load(&s, &[("__name__", "c")], 10 * MINUTE, &[Some(1.0), None, None]);
    let result = Engine::default().range_query(&s, "-c or -a", 0, 20 * MINUTE, 10 * MINUTE).unwrap();
    match result.value {
        Value::Matrix(m) => {
            assert_eq!(m.len(), 1);
            let values: Vec<f64> = m[0].samples.iter().map(|p| p.value).collect();
            assert_eq!(values, vec![-1.0, -4.0, -5.0]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        Engine::default().range_query(&s, "a[5m]", 0, MINUTE, MINUTE).unwrap_err().to_string(),
        "invalid expression type \"range vector\" for range query, must be Scalar or instant Vector"
    );
}

#[test]
fn same_labelset_after_name_removal_is_an_error() {
    let s = ModelStorage::new();
    load(&s, &[("__name__", "x"), ("job", "api")], MINUTE, &series(&[1.0]));
    load(&s, &[("__name__", "y"), ("job", "api")], MINUTE, &series(&[2.0]));
    assert_eq!(error(&s, r#"-{job="api"}"#, 0), "vector cannot contain metrics with the same labelset");
    // Eager name removal (a Prometheus server's default) fails inside the aggregation too;
    // delayed removal (Prometheus's test suite) drops the name only at the end.
    assert_eq!(
        error(&s, r#"sum by (job) (-{job="api"})"#, 0),
        "vector cannot contain metrics with the same labelset"
    );
    let delayed = Engine::new(EngineOptions { delayed_name_removal: true, ..EngineOptions::default() });
    match delayed.instant_query(&s, r#"sum by (job) (-{job="api"})"#, 0).unwrap().value {
        Value::Vector(v) => assert_eq!(v.len(), 1, "{v:?}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn parse_errors_and_sample_limit() {
    let s = ModelStorage::new();
    load(&s, &[("__name__", "m")], MINUTE, &series(&[1.0; 100]));
    assert!(matches!(Engine::default().instant_query(&s, "sum(", 0), Err(PromqlError::Parse { .. })));
    let engine = Engine::new(EngineOptions { max_samples: 10, ..EngineOptions::default() });
    assert_eq!(
        engine.range_query(&s, "m", 0, 99 * MINUTE, MINUTE).unwrap_err(),
        PromqlError::TooManySamples("query execution")
    );
}
