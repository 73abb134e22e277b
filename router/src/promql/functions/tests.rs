//! Table-driven tests of the function library, calling [`call`] with hand-built arguments.
//! Expected values come from Prometheus's own test data (`functions.test`, `histograms.test`,
//! `trig_functions.test`) where it covers the case.

use super::numeric::{format_go_g, format_openmetrics_float, kahan_inc};
use super::*;
use harrier_telemetry::model::{Sample, stale_nan};

const MINUTE: i64 = 60_000;

/// Expected output values keyed by one label's value.
type Expected<'a> = &'a [(&'a str, f64)];

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

/// Prometheus's series notation `start+stepxN`: N+1 values.
fn seq(start: f64, step: f64, n: usize) -> Vec<f64> {
    (0..=n).map(|i| start + step * i as f64).collect()
}

/// A series with one sample every `interval_ms` from 0.
fn series(pairs: &[(&str, &str)], interval_ms: i64, values: &[f64]) -> Series {
    let samples = values
        .iter()
        .enumerate()
        .map(|(i, v)| Sample { timestamp_ms: i as i64 * interval_ms, value: *v })
        .collect();
    Series::new(labels(pairs), samples)
}

/// The range-vector argument of `selector[range]` evaluated at `end`: samples in
/// `(end - range, end]`.
fn window(all: &[Series], end: i64, range: i64) -> FnArg {
    let start = end - range;
    let series = all
        .iter()
        .map(|s| {
            let samples = s
                .samples
                .iter()
                .filter(|x| x.timestamp_ms > start && x.timestamp_ms <= end)
                .copied()
                .collect();
            Series::new(s.labels.clone(), samples)
        })
        .collect();
    FnArg::Matrix { series, histograms: Vec::new(), range_start: start, range_end: end }
}

fn vector(items: &[(&[(&str, &str)], f64)]) -> FnArg {
    FnArg::Vector(
        items
            .iter()
            .map(|(l, v)| InstantSample { labels: labels(l), t: 0, v: *v, h: None, drop_name: false })
            .collect(),
    )
}

fn try_run(name: &str, args: Vec<FnArg>, t: i64) -> (Result<FnOutput, PromqlError>, Annotations) {
    let mut annotations = Annotations::default();
    let result = call(FnCall { name, args, arg_exprs: &[], t }, &mut annotations);
    (result, annotations)
}

fn run(name: &str, args: Vec<FnArg>, t: i64) -> (Vec<InstantSample>, Annotations) {
    match try_run(name, args, t) {
        (Ok(FnOutput::Vector(v)), a) => (v, a),
        (other, _) => panic!("{name}: expected a vector, got {other:?}"),
    }
}

fn run_scalar(name: &str, args: Vec<FnArg>, t: i64) -> f64 {
    match try_run(name, args, t) {
        (Ok(FnOutput::Scalar(v)), _) => v,
        (other, _) => panic!("{name}: expected a scalar, got {other:?}"),
    }
}

/// Calls `query` (a function call) with its argument expressions from the parser.
fn run_with_exprs(query: &str, args: Vec<FnArg>, t: i64) -> Vec<InstantSample> {
    let Ok(Expr::Call(parsed)) = promql_parser::parser::parse(query) else { panic!("not a call: {query}") };
    let mut annotations = Annotations::default();
    let call_args = FnCall { name: parsed.func.name, args, arg_exprs: &parsed.args.args, t };
    match call(call_args, &mut annotations) {
        Ok(FnOutput::Vector(v)) => v,
        other => panic!("{query}: {other:?}"),
    }
}

/// Values keyed by one label's value, for order-independent comparison.
fn by_label(out: &[InstantSample], label: &str) -> Vec<(String, f64)> {
    let mut v: Vec<(String, f64)> =
        out.iter().map(|s| (s.labels.get(label).unwrap_or("").to_string(), s.v)).collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

fn assert_close(actual: f64, expected: f64, context: &str) {
    let ok = if expected.is_nan() {
        actual.is_nan()
    } else if expected.is_infinite() || expected == 0.0 {
        actual == expected
    } else {
        ((actual - expected) / expected).abs() < 1e-9
    };
    assert!(ok, "{context}: got {actual}, expected {expected}");
}

fn assert_values(out: &[InstantSample], label: &str, expected: &[(&str, f64)], context: &str) {
    let actual = by_label(out, label);
    let mut expected: Vec<(String, f64)> = expected.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(actual.len(), expected.len(), "{context}: {actual:?} vs {expected:?}");
    for ((ak, av), (ek, ev)) in actual.iter().zip(&expected) {
        assert_eq!(ak, ek, "{context}");
        assert_close(*av, *ev, &format!("{context} {ek}"));
    }
}

fn resets_changes_data() -> Vec<Series> {
    vec![
        series(
            &[("__name__", "http_requests"), ("path", "/foo")],
            5 * MINUTE,
            &[1., 2., 3., 0., 1., 0., 0., 1., 2., 0.],
        ),
        series(
            &[("__name__", "http_requests"), ("path", "/bar")],
            5 * MINUTE,
            &[1., 2., 3., 4., 5., 1., 2., 3., 4., 5.],
        ),
        series(
            &[("__name__", "http_requests"), ("path", "/biz")],
            5 * MINUTE,
            &[0., 0., 0., 0., 0., 1., 1., 1., 1., 1.],
        ),
    ]
}

#[test]
fn resets_and_changes() {
    let data = resets_changes_data();
    let cases: &[(&str, i64, Expected)] = &[
        ("resets", 5 * MINUTE, &[]),
        ("resets", 10 * MINUTE, &[("/foo", 0.), ("/bar", 0.), ("/biz", 0.)]),
        ("resets", 20 * MINUTE, &[("/foo", 1.), ("/bar", 0.), ("/biz", 0.)]),
        ("resets", 32 * MINUTE, &[("/foo", 2.), ("/bar", 1.), ("/biz", 0.)]),
        ("resets", 50 * MINUTE, &[("/foo", 3.), ("/bar", 1.), ("/biz", 0.)]),
        ("changes", 5 * MINUTE, &[]),
        ("changes", 20 * MINUTE, &[("/foo", 2.), ("/bar", 2.), ("/biz", 0.)]),
        ("changes", 30 * MINUTE, &[("/foo", 3.), ("/bar", 4.), ("/biz", 0.)]),
        ("changes", 50 * MINUTE, &[("/foo", 7.), ("/bar", 8.), ("/biz", 1.)]),
    ];
    for (name, range, expected) in cases {
        let (out, _) = run(name, vec![window(&data, 50 * MINUTE, *range)], 50 * MINUTE);
        assert_values(&out, "path", expected, &format!("{name}[{range}]"));
        assert!(out.iter().all(|s| s.drop_name && s.t == 50 * MINUTE));
    }
    // NaN to NaN is no change; a number to NaN and back are two.
    let nans = vec![
        series(&[("a", "b")], 5 * MINUTE, &[f64::NAN, f64::NAN, f64::NAN]),
        series(&[("a", "c")], 5 * MINUTE, &[0., f64::NAN, 0.]),
    ];
    let (out, _) = run("changes", vec![window(&nans, 15 * MINUTE, 20 * MINUTE)], 15 * MINUTE);
    assert_values(&out, "a", &[("b", 0.), ("c", 2.)], "changes NaN");
}

#[test]
fn increase_extrapolates_like_prometheus() {
    let mut bar = seq(0., 18., 5);
    bar.extend(seq(0., 18., 5));
    let data = vec![
        series(&[("__name__", "http_requests_total"), ("path", "/foo")], 5 * MINUTE, &seq(0., 10., 10)),
        series(&[("__name__", "http_requests_total"), ("path", "/bar")], 5 * MINUTE, &bar),
        series(&[("__name__", "http_requests_total"), ("path", "/dings")], 5 * MINUTE, &seq(10., 10., 10)),
        series(&[("__name__", "http_requests_total"), ("path", "/bumms")], 5 * MINUTE, &seq(1., 10., 10)),
    ];
    let cases: &[(i64, &[(&str, f64)])] = &[
        (50 * MINUTE, &[("/foo", 100.), ("/bar", 160.), ("/dings", 100.), ("/bumms", 100.)]),
        (100 * MINUTE, &[("/foo", 100.), ("/bar", 162.), ("/dings", 105.), ("/bumms", 101.)]),
    ];
    for (range, expected) in cases {
        let (out, annotations) = run("increase", vec![window(&data, 50 * MINUTE, *range)], 50 * MINUTE);
        assert_values(&out, "path", expected, &format!("increase[{range}]"));
        assert!(annotations.infos.is_empty(), "_total names are counters");
    }
    // A reset: 0 1 2 3 2 3 4 counts as 7.
    let reset =
        vec![series(&[("__name__", "http_requests_total")], 5 * MINUTE, &[0., 1., 2., 3., 2., 3., 4.])];
    let (out, _) = run("increase", vec![window(&reset, 30 * MINUTE, 30 * MINUTE)], 30 * MINUTE);
    assert_close(out[0].v, 7., "increase over a reset");
}

#[test]
fn rate_cases_from_functions_test() {
    let mut middle = seq(0., 27., 4);
    middle.extend(seq(0., 27., 5));
    let mut end = seq(0., 10., 9);
    end.extend([0., 10.]);
    let reset_middle = vec![series(&[("__name__", "testcounter_reset_middle_total")], 5 * MINUTE, &middle)];
    let reset_end = vec![series(&[("__name__", "testcounter_reset_end_total")], 5 * MINUTE, &end)];
    let window_total =
        vec![series(&[("__name__", "calculate_rate_window_total")], 5 * MINUTE, &seq(0., 80., 10))];
    let cases: Vec<(Vec<Series>, i64, i64, Option<f64>)> = vec![
        (reset_middle, 50 * MINUTE, 50 * MINUTE, Some(0.08)),
        (reset_end.clone(), 50 * MINUTE, 5 * MINUTE, None),
        (reset_end, 50 * MINUTE, 6 * MINUTE, Some(0.)),
        (window_total, 50 * MINUTE, 50 * MINUTE, Some(0.26666666666666666)),
    ];
    for (data, t, range, expected) in cases {
        let (out, _) = run("rate", vec![window(&data, t, range)], t);
        match expected {
            Some(v) => assert_close(out[0].v, v, "rate"),
            None => assert!(out.is_empty(), "rate with one sample: {out:?}"),
        }
    }
    // `offset 5m`: the window ends 5m before the step.
    let offset = vec![series(
        &[("__name__", "calculate_rate_offset_total"), ("x", "a")],
        5 * MINUTE,
        &seq(0., 10., 10),
    )];
    let (out, _) = run("rate", vec![window(&offset, 45 * MINUTE, 10 * MINUTE)], 50 * MINUTE);
    assert_close(out[0].v, 0.03333333333333333, "rate offset");

    // Zero cut-off of the left extrapolation.
    let starts = [("0m", 0.), ("1m", 60.), ("2m", 120.), ("3m", 180.), ("4m", 240.), ("5m", 300.)];
    let zero: Vec<Series> = starts
        .iter()
        .map(|(l, v)| {
            series(
                &[("__name__", "testcounter_zero_cutoff_total"), ("start", l)],
                4 * MINUTE,
                &seq(*v, 240., 10),
            )
        })
        .collect();
    let (out, _) = run("rate", vec![window(&zero, 10 * MINUTE, 20 * MINUTE)], 10 * MINUTE);
    let expected = [("0m", 0.5), ("1m", 0.55), ("2m", 0.6), ("3m", 0.6), ("4m", 0.6), ("5m", 0.6)];
    assert_values(&out, "start", &expected, "zero cutoff at 10m");
    let (out, _) = run("rate", vec![window(&zero, 50 * MINUTE, 20 * MINUTE)], 50 * MINUTE);
    assert_values(&out, "start", &expected.map(|(l, _)| (l, 0.6)), "zero cutoff at 50m");
}

#[test]
fn rate_and_increase_flag_names_without_counter_suffix() {
    let data = resets_changes_data();
    for name in ["rate", "increase"] {
        let (_, annotations) = run(name, vec![window(&data, 50 * MINUTE, 50 * MINUTE)], 50 * MINUTE);
        assert_eq!(
            annotations.infos,
            [
                "PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: \"http_requests\""
            ]
        );
    }
    // delta is for gauges; no result means no info either.
    let (_, annotations) = run("delta", vec![window(&data, 50 * MINUTE, 50 * MINUTE)], 50 * MINUTE);
    assert!(annotations.infos.is_empty());
    let (out, annotations) = run("rate", vec![window(&data, 50 * MINUTE, 5 * MINUTE)], 50 * MINUTE);
    assert!(out.is_empty() && annotations.infos.is_empty());
}

#[test]
fn delta_is_not_reset_aware() {
    let data = vec![series(&[("__name__", "g")], MINUTE, &[10., 5., 20.])];
    let (out, _) = run("delta", vec![window(&data, 2 * MINUTE, 2 * MINUTE + 1)], 2 * MINUTE);
    // 10 over 2m sampled, extrapolated to the window start (1ms before the first sample).
    assert_close(out[0].v, 10. * (120.001 / 120.), "delta");
}

#[test]
fn irate_and_idelta() {
    let mut bar = seq(0., 10., 5);
    bar.extend(seq(0., 10., 5));
    let data = vec![
        series(&[("__name__", "http_requests_total"), ("path", "/foo")], 5 * MINUTE, &seq(0., 10., 10)),
        series(&[("__name__", "http_requests_total"), ("path", "/bar")], 5 * MINUTE, &bar),
    ];
    let (out, _) = run("irate", vec![window(&data, 50 * MINUTE, 50 * MINUTE)], 50 * MINUTE);
    assert_values(&out, "path", &[("/foo", 1. / 30.), ("/bar", 1. / 30.)], "irate");
    let (out, _) = run("irate", vec![window(&data, 30 * MINUTE, 50 * MINUTE)], 30 * MINUTE);
    assert_values(&out, "path", &[("/foo", 1. / 30.), ("/bar", 0.)], "irate over a reset");

    let nan =
        vec![series(&[("__name__", "http_requests_nan")], 5 * MINUTE, &[1., f64::NAN, f64::NAN, 5., 11.])];
    for (t, expected) in
        [(5, Some(f64::NAN)), (10, Some(f64::NAN)), (15, Some(f64::NAN)), (20, Some(0.02)), (0, None)]
    {
        let (out, _) = run("irate", vec![window(&nan, t * MINUTE, 15 * MINUTE + 1000)], t * MINUTE);
        match expected {
            Some(v) => assert_close(out[0].v, v, &format!("irate NaN at {t}m")),
            None => assert!(out.is_empty()),
        }
    }
    let gauge = vec![series(&[("__name__", "g")], MINUTE, &[3., 10., 4.])];
    let (out, _) = run("idelta", vec![window(&gauge, 2 * MINUTE, 5 * MINUTE)], 2 * MINUTE);
    assert_close(out[0].v, -6., "idelta");
}

#[test]
fn deriv_and_predict_linear() {
    let mut middle = seq(0., 10., 4);
    middle.extend(seq(0., 10., 5));
    let reset_middle = vec![series(&[("__name__", "testcounter_reset_middle_total")], 5 * MINUTE, &middle)];
    let linear = vec![series(&[("__name__", "http_requests_total")], 5 * MINUTE, &seq(0., 80., 10))];
    let (out, _) = run("deriv", vec![window(&linear, 50 * MINUTE, 50 * MINUTE)], 50 * MINUTE);
    assert_close(out[0].v, 0.26666666666666666, "deriv");
    let (out, _) = run("deriv", vec![window(&reset_middle, 50 * MINUTE, 100 * MINUTE)], 50 * MINUTE);
    assert_close(out[0].v, 0.010606060606060607, "deriv over a reset");

    let mut inf = vec![f64::NEG_INFINITY];
    inf.extend(seq(0., 80., 10));
    inf.push(f64::INFINITY);
    let infinite = vec![series(&[("__name__", "http_requests_inf")], 5 * MINUTE, &inf)];
    let (out, _) = run("deriv", vec![window(&infinite, 100 * MINUTE, 100 * MINUTE)], 100 * MINUTE);
    assert!(out[0].v.is_nan());

    let cases = [
        (50 * MINUTE, 50 * MINUTE, 50 * MINUTE, 70.),
        (50 * MINUTE, 50 * MINUTE, 55 * MINUTE, 76.81818181818181), // `[55m] @ 3000`
        (10 * MINUTE, 50 * MINUTE, 55 * MINUTE, 51.36363636363637),
        (70 * MINUTE, 50 * MINUTE, 55 * MINUTE, 89.54545454545455),
    ];
    for (t, end, range, expected) in cases {
        let (out, _) =
            run("predict_linear", vec![window(&reset_middle, end, range), FnArg::Scalar(3600.)], t);
        assert_close(out[0].v, expected, &format!("predict_linear at {t}"));
    }
    // One sample: nothing.
    let (out, _) =
        run("predict_linear", vec![window(&reset_middle, 50 * MINUTE, MINUTE), FnArg::Scalar(1.)], 0);
    assert!(out.is_empty());
}

#[test]
fn over_time_aggregations() {
    let data = vec![series(&[("__name__", "m"), ("k", "v")], 10_000, &[1., 5., 3., f64::NAN, 2.])];
    let arg = || window(&data, 40_000, 60_000);
    let nan = f64::NAN;
    let cases: &[(&str, f64, bool)] = &[
        ("sum_over_time", nan, true),
        ("count_over_time", 5., true),
        ("last_over_time", 2., false),
        ("first_over_time", 1., false),
        ("present_over_time", 1., true),
        ("ts_of_last_over_time", 40., true),
        ("ts_of_first_over_time", 0., true),
    ];
    for (name, expected, drop_name) in cases {
        let (out, _) = run(name, vec![arg()], 40_000);
        assert_close(out[0].v, *expected, name);
        assert_eq!(out[0].drop_name, *drop_name, "{name} drop_name");
        assert_eq!(out[0].labels.metric_name(), Some("m"), "{name} keeps the name in the labels");
    }
    // max/min skip a NaN once a number is seen, but a NaN first is replaced.
    let (out, _) = run("max_over_time", vec![arg()], 40_000);
    assert_close(out[0].v, 5., "max_over_time");
    let (out, _) = run("min_over_time", vec![arg()], 40_000);
    assert_close(out[0].v, 1., "min_over_time");
    let (out, _) = run("ts_of_max_over_time", vec![arg()], 40_000);
    assert_close(out[0].v, 10., "ts_of_max_over_time");
    let leading_nan = vec![series(&[("k", "v")], 10_000, &[f64::NAN, 4., 7.])];
    let (out, _) = run("max_over_time", vec![window(&leading_nan, 20_000, 60_000)], 20_000);
    assert_close(out[0].v, 7., "max_over_time after NaN");

    let numbers = vec![series(&[("k", "v")], 10_000, &[2., 4., 4., 4., 5., 5., 7., 9.])];
    let numeric_cases: &[(&str, f64)] = &[
        ("sum_over_time", 40.),
        ("avg_over_time", 5.),
        ("stdvar_over_time", 4.),
        ("stddev_over_time", 2.),
        ("mad_over_time", 0.5),
    ];
    for (name, expected) in numeric_cases {
        let (out, _) = run(name, vec![window(&numbers, 70_000, 100_000)], 70_000);
        assert_close(out[0].v, *expected, name);
    }
    for (q, expected) in
        [(0., 2.), (0.5, 4.5), (1., 9.), (0.25, 4.), (2., f64::INFINITY), (-1., f64::NEG_INFINITY)]
    {
        let (out, annotations) =
            run("quantile_over_time", vec![FnArg::Scalar(q), window(&numbers, 70_000, 100_000)], 70_000);
        assert_close(out[0].v, expected, &format!("quantile_over_time {q}"));
        assert_eq!(annotations.warnings.len(), usize::from(!(0.0..=1.0).contains(&q)));
    }
    let (_, annotations) =
        run("quantile_over_time", vec![FnArg::Scalar(2.), window(&numbers, 70_000, 100_000)], 70_000);
    assert_eq!(annotations.warnings, ["PromQL warning: quantile value should be between 0 and 1, got 2"]);
}

#[test]
fn sum_and_avg_over_time_use_kahan_and_survive_overflow() {
    // Plain summation gives 0 here; Kahan keeps the 2.
    let data = vec![series(&[("k", "v")], 1000, &[1., 1e100, 1., -1e100])];
    let (out, _) = run("sum_over_time", vec![window(&data, 3000, 10_000)], 3000);
    assert_close(out[0].v, 2., "kahan sum");
    let (out, _) = run("avg_over_time", vec![window(&data, 3000, 10_000)], 3000);
    assert_close(out[0].v, 0.5, "kahan avg");
    let huge = vec![series(&[("k", "v")], 1000, &[f64::MAX, f64::MAX, f64::MAX])];
    let (out, _) = run("avg_over_time", vec![window(&huge, 2000, 10_000)], 2000);
    assert_close(out[0].v, f64::MAX, "incremental mean after overflow");
    let (out, _) = run("sum_over_time", vec![window(&huge, 2000, 10_000)], 2000);
    assert_eq!(out[0].v, f64::INFINITY);
    assert_eq!(kahan_inc(1.0, f64::INFINITY, 5.0), (f64::INFINITY, 0.0));
}

#[test]
fn empty_series_and_stale_markers_yield_nothing() {
    let data =
        vec![Series::new(labels(&[("k", "v")]), vec![Sample { timestamp_ms: 1000, value: stale_nan() }])];
    for name in ["count_over_time", "last_over_time", "sum_over_time", "rate", "present_over_time"] {
        let (out, _) = run(name, vec![window(&data, 2000, 10_000)], 2000);
        assert!(out.is_empty(), "{name}: {out:?}");
    }
}

#[test]
fn double_exponential_smoothing_and_factor_errors() {
    let data = vec![series(&[("k", "v")], 1000, &[1., 2., 3., 4.])];
    let (out, _) = run(
        "double_exponential_smoothing",
        vec![window(&data, 3000, 10_000), FnArg::Scalar(0.5), FnArg::Scalar(0.5)],
        3000,
    );
    assert_close(out[0].v, 4., "linear data is followed exactly");
    let (result, _) = try_run(
        "double_exponential_smoothing",
        vec![window(&data, 3000, 10_000), FnArg::Scalar(1.), FnArg::Scalar(0.5)],
        0,
    );
    assert_eq!(
        result,
        Err(PromqlError::Eval("invalid smoothing factor. Expected: 0 < sf < 1, got: 1.000000".into()))
    );
    let (result, _) = try_run(
        "double_exponential_smoothing",
        vec![window(&data, 3000, 10_000), FnArg::Scalar(0.5), FnArg::Scalar(0.)],
        0,
    );
    assert_eq!(
        result,
        Err(PromqlError::Eval("invalid trend factor. Expected: 0 < tf < 1, got: 0.000000".into()))
    );
}

#[test]
fn element_wise_functions() {
    let input = || {
        vector(&[
            (&[("__name__", "d"), ("type", "positive")], 2.5),
            (&[("__name__", "d"), ("type", "negative")], -2.5),
            (&[("__name__", "d"), ("type", "nzero")], -0.0),
            (&[("__name__", "d"), ("type", "inf")], f64::INFINITY),
            (&[("__name__", "d"), ("type", "nan")], f64::NAN),
        ])
    };
    let nan = f64::NAN;
    let cases: &[(&str, [f64; 5])] = &[
        ("abs", [2.5, 2.5, 0., f64::INFINITY, nan]),
        ("ceil", [3., -2., 0., f64::INFINITY, nan]),
        ("floor", [2., -3., 0., f64::INFINITY, nan]),
        ("round", [3., -2., 0., f64::INFINITY, nan]),
        ("sgn", [1., -1., 0., 1., nan]),
        ("sqrt", [2.5f64.sqrt(), nan, 0., f64::INFINITY, nan]),
        ("ln", [2.5f64.ln(), nan, f64::NEG_INFINITY, f64::INFINITY, nan]),
        ("exp", [2.5f64.exp(), (-2.5f64).exp(), 1., f64::INFINITY, nan]),
        (
            "deg",
            [2.5 * 180. / std::f64::consts::PI, -2.5 * 180. / std::f64::consts::PI, 0., f64::INFINITY, nan],
        ),
    ];
    for (name, expected) in cases {
        let (out, _) = run(name, vec![input()], 7000);
        let types = ["positive", "negative", "nzero", "inf", "nan"];
        let expected: Vec<(&str, f64)> = types.iter().copied().zip(expected.iter().copied()).collect();
        assert_values(&out, "type", &expected, name);
        assert!(out.iter().all(|s| s.drop_name && s.t == 7000), "{name} drops the name");
    }
}

#[test]
fn trig_functions_match_trig_functions_test() {
    let input =
        || vector(&[(&[("__name__", "trig"), ("l", "x")], 10.), (&[("__name__", "trig"), ("l", "y")], 20.)]);
    let cases: &[(&str, f64, f64)] = &[
        ("sin", -0.5440211108893698, 0.9129452507276277),
        ("cos", -0.8390715290764524, 0.40808206181339196),
        ("tan", 0.6483608274590866, 2.2371609442247427),
        ("asinh", 2.99822295029797, 3.6895038689889055),
        ("sinh", 11013.232874703393, 2.4258259770489514e8),
        ("cosh", 11013.232920103323, 2.4258259770489514e8),
        ("tanh", 0.9999999958776927, 1.),
        ("rad", 0.17453292519943295, 0.3490658503988659),
        ("deg", 572.9577951308232, 1145.9155902616465),
    ];
    for (name, x, y) in cases {
        let (out, _) = run(name, vec![input()], 0);
        assert_values(&out, "l", &[("x", *x), ("y", *y)], name);
    }
    let (out, _) = run("asin", vec![vector(&[(&[("l", "x")], 0.5)])], 0);
    assert_close(out[0].v, std::f64::consts::FRAC_PI_6, "asin");
    let (out, _) = run("atanh", vec![vector(&[(&[("l", "x")], 2.)])], 0);
    assert!(out[0].v.is_nan());
    assert_close(run_scalar("pi", vec![], 0), std::f64::consts::PI, "pi");
}

#[test]
fn clamp_round_and_scalars() {
    let input = || {
        vector(&[
            (&[("l", "a")], -50.),
            (&[("l", "b")], 0.),
            (&[("l", "c")], 100.),
            (&[("l", "n")], f64::NAN),
        ])
    };
    let (out, _) = run("clamp", vec![input(), FnArg::Scalar(-25.), FnArg::Scalar(75.)], 0);
    assert_values(&out, "l", &[("a", -25.), ("b", 0.), ("c", 75.), ("n", f64::NAN)], "clamp");
    let (out, _) = run("clamp", vec![input(), FnArg::Scalar(5.), FnArg::Scalar(-5.)], 0);
    assert!(out.is_empty(), "max < min gives nothing");
    let (out, _) = run("clamp", vec![input(), FnArg::Scalar(f64::NAN), FnArg::Scalar(100.)], 0);
    assert!(out.iter().all(|s| s.v.is_nan()), "NaN bounds propagate as in Go");
    let (out, _) = run("clamp_min", vec![input(), FnArg::Scalar(-25.)], 0);
    assert_values(&out, "l", &[("a", -25.), ("b", 0.), ("c", 100.), ("n", f64::NAN)], "clamp_min");
    let (out, _) = run("clamp_max", vec![input(), FnArg::Scalar(42.)], 0);
    assert_values(&out, "l", &[("a", -50.), ("b", 0.), ("c", 42.), ("n", f64::NAN)], "clamp_max");

    // From aggregators.test: ties round up, to_nearest works through its inverse.
    let rounding: &[(f64, f64, f64)] = &[
        (1.5, 1., 2.),
        (-1.5, 1., -1.),
        (0.25, 0.1, 0.3),
        (5.2 + 0.15, 0.1, 5.4),
        (3.75, 5., 5.),
        (12.5, 5., 15.),
    ];
    for (v, to_nearest, expected) in rounding {
        let (out, _) = run("round", vec![vector(&[(&[], *v)]), FnArg::Scalar(*to_nearest)], 0);
        assert_close(out[0].v, *expected, &format!("round({v}, {to_nearest})"));
    }

    assert_eq!(run_scalar("scalar", vec![vector(&[(&[("l", "a")], 3.)])], 0), 3.);
    assert!(run_scalar("scalar", vec![input()], 0).is_nan());
    assert!(run_scalar("scalar", vec![vector(&[])], 0).is_nan());
    assert_eq!(run_scalar("time", vec![], 12_345), 12.345);
    let (out, _) = run("vector", vec![FnArg::Scalar(4.)], 9000);
    assert_eq!(out, vec![InstantSample { labels: Labels::new(), t: 9000, v: 4., h: None, drop_name: false }]);
}

#[test]
fn timestamp_reads_sample_times() {
    let input = FnArg::Vector(vec![InstantSample {
        labels: labels(&[("__name__", "m")]),
        t: 1_500,
        v: 7.,
        h: None,
        drop_name: false,
    }]);
    let (out, _) = run("timestamp", vec![input], 9_000);
    assert_eq!(
        out,
        vec![InstantSample {
            labels: labels(&[("__name__", "m")]),
            t: 9_000,
            v: 1.5,
            h: None,
            drop_name: true
        }]
    );
}

#[test]
fn sort_orders_and_puts_nan_last() {
    let input = || {
        vector(&[(&[("l", "a")], 3.), (&[("l", "b")], f64::NAN), (&[("l", "c")], 1.), (&[("l", "d")], 2.)])
    };
    let order = |out: &[InstantSample]| {
        out.iter().map(|s| s.labels.get("l").unwrap_or("").to_string()).collect::<Vec<_>>()
    };
    let (out, _) = run("sort", vec![input()], 0);
    assert_eq!(order(&out), ["c", "d", "a", "b"]);
    assert!(out.iter().all(|s| !s.drop_name));
    let (out, _) = run("sort_desc", vec![input()], 0);
    assert_eq!(order(&out), ["a", "d", "c", "b"]);

    let natural = || {
        vector(&[
            (&[("__name__", "n"), ("v", "a10")], 0.),
            (&[("__name__", "n"), ("v", "a9")], 0.),
            (&[("__name__", "n"), ("v", "a100")], 0.),
            (&[("__name__", "n"), ("v", "b1")], 0.),
        ])
    };
    let by_v = |out: &[InstantSample]| {
        out.iter().map(|s| s.labels.get("v").unwrap_or("").to_string()).collect::<Vec<_>>()
    };
    let (out, _) = run("sort_by_label", vec![natural(), FnArg::String("v".into())], 0);
    assert_eq!(by_v(&out), ["a9", "a10", "a100", "b1"]);
    let (out, _) = run("sort_by_label_desc", vec![natural(), FnArg::String("v".into())], 0);
    assert_eq!(by_v(&out), ["b1", "a100", "a10", "a9"]);
}

#[test]
fn calendar_functions() {
    // 2024-02-29T13:45:30Z, a Thursday, day 60 of a leap year.
    let leap_day = 1_709_214_330.;
    let cases: &[(&str, f64)] = &[
        ("year", 2024.),
        ("month", 2.),
        ("day_of_month", 29.),
        ("day_of_year", 60.),
        ("day_of_week", 4.),
        ("days_in_month", 29.),
        ("hour", 13.),
        ("minute", 45.),
    ];
    for (name, expected) in cases {
        let (out, _) = run(name, vec![vector(&[(&[("__name__", "ts")], leap_day)])], 0);
        assert_eq!(out[0].v, *expected, "{name}");
        assert!(out[0].drop_name);
        let (out, _) = run(name, vec![], 1_709_214_330_999);
        assert_eq!(
            out,
            vec![InstantSample {
                labels: Labels::new(),
                t: 1_709_214_330_999,
                v: *expected,
                h: None,
                drop_name: false
            }]
        );
    }
    // The epoch, pre-epoch and the last day of a year.
    let more: &[(&str, f64, f64)] = &[
        ("year", 0., 1970.),
        ("day_of_week", 0., 4.),
        ("year", -1., 1969.),
        ("day_of_year", -1., 365.),
        ("hour", -1., 23.),
        ("day_of_year", 1_704_067_199., 365.),  // 2023-12-31T23:59:59Z
        ("days_in_month", 1_677_628_800., 31.), // 2023-03-01
        ("days_in_month", 1_675_209_600., 28.), // 2023-02-01
        ("minute", 59.9, 0.),
    ];
    for (name, input, expected) in more {
        let (out, _) = run(name, vec![vector(&[(&[], *input)])], 0);
        assert_eq!(out[0].v, *expected, "{name}({input})");
    }
}

#[test]
fn label_replace_cases() {
    let input = || {
        vector(&[
            (
                &[
                    ("__name__", "testmetric"),
                    ("src", "source-value-10"),
                    ("dst", "original-destination-value"),
                ],
                0.,
            ),
            (
                &[
                    ("__name__", "testmetric"),
                    ("src", "source-value-20"),
                    ("dst", "original-destination-value"),
                ],
                1.,
            ),
        ])
    };
    let s = |v: &str| FnArg::String(v.to_string());
    let replace = |dst: &str, repl: &str, src: &str, re: &str| {
        try_run("label_replace", vec![input(), s(dst), s(repl), s(src), s(re)], 0).0
    };
    let dsts = |r: Result<FnOutput, PromqlError>, label: &str| match r {
        Ok(FnOutput::Vector(v)) => {
            v.iter().map(|x| x.labels.get(label).unwrap_or("").to_string()).collect::<Vec<_>>()
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(
        dsts(replace("dst", "destination-value-$1", "src", "source-value-(.*)"), "dst"),
        ["destination-value-10", "destination-value-20"]
    );
    // Anchored: a partial match is no match.
    assert_eq!(
        dsts(replace("dst", "destination-value-$1", "src", "value-(.*)"), "dst"),
        ["original-destination-value", "original-destination-value"]
    );
    // `$1-value` names group `1` only with braces.
    assert_eq!(
        dsts(replace("dst", "${1}-value-$1x", "src", "source-value-(.*)"), "dst"),
        ["10-value-", "20-value-"]
    );
    assert_eq!(dsts(replace("dst", "", "dst", ".*"), "dst"), ["", ""]);
    assert_eq!(dsts(replace("new", "$$-$1", "src", "(?:.*)-(\\d+)"), "new"), ["$-10", "$-20"]);
    assert_eq!(
        replace("dst", "value-$1", "src", "(.*"),
        Err(PromqlError::Eval("invalid regular expression in label_replace(): (.*".into()))
    );
    assert_eq!(
        replace("", "", "src", "(.*)"),
        Err(PromqlError::Eval("invalid destination label name in label_replace(): ".into()))
    );
    assert_eq!(replace("src", "", "", ""), Err(PromqlError::Eval(DUPLICATE_LABELSET.into())));

    // drop_name survives unless the name itself is written.
    let dropped = FnArg::Vector(vec![InstantSample {
        labels: labels(&[("__name__", "m"), ("a", "x")]),
        t: 0,
        v: 1.,
        h: None,
        drop_name: true,
    }]);
    let (out, _) = run("label_replace", vec![dropped.clone(), s("b"), s("$1"), s("a"), s("(.*)")], 0);
    assert!(out[0].drop_name);
    let (out, _) = run("label_replace", vec![dropped, s("__name__"), s("n_$1"), s("a"), s("(.*)")], 0);
    assert!(!out[0].drop_name);
    assert_eq!(out[0].labels.metric_name(), Some("n_x"));
}

#[test]
fn label_join_cases() {
    let s = |v: &str| FnArg::String(v.to_string());
    let input = || {
        vector(&[(
            &[("__name__", "testmetric"), ("src", "a"), ("src1", "b"), ("src2", "c"), ("dst", "old")],
            0.,
        )])
    };
    let (out, _) = run("label_join", vec![input(), s("dst"), s("-"), s("src"), s("src1"), s("src2")], 0);
    assert_eq!(out[0].labels.get("dst"), Some("a-b-c"));
    let (out, _) = run("label_join", vec![input(), s("dst"), s("-"), s("src"), s("missing"), s("src2")], 0);
    assert_eq!(out[0].labels.get("dst"), Some("a--c"));
    let (out, _) = run("label_join", vec![input(), s("dst"), s(",")], 0);
    assert_eq!(out[0].labels.get("dst"), None, "no sources: empty value removes the label");
    let (result, _) = try_run("label_join", vec![input(), s(""), s("-"), s("src")], 0);
    assert_eq!(result, Err(PromqlError::Eval("invalid destination label name in label_join(): ".into())));
    let (result, _) = try_run("label_join", vec![input(), s("dst"), s("-"), s("")], 0);
    assert_eq!(result, Err(PromqlError::Eval("invalid source label name in label_join(): ".into())));
    let dup = vector(&[
        (&[("__name__", "dup"), ("label", "a"), ("this", "a")], 1.),
        (&[("__name__", "dup"), ("label", "b"), ("this", "a")], 1.),
    ]);
    let (result, _) = try_run("label_join", vec![dup, s("label"), s(""), s("this")], 0);
    assert_eq!(result, Err(PromqlError::Eval(DUPLICATE_LABELSET.into())));
}

#[test]
fn absent_and_absent_over_time_labels() {
    let cases: &[(&str, &[(&str, &str)])] = &[
        ("absent(nonexistent)", &[]),
        (
            "absent(nonexistent{job=\"testjob\", instance=\"testinstance\", method=~\".x\"})",
            &[("instance", "testinstance"), ("job", "testjob")],
        ),
        ("absent(nonexistent{job=\"testjob\", job=\"testjob2\", foo=\"bar\"})", &[("foo", "bar")]),
        ("absent(nonexistent{job=\"testjob\", job!=\"testjob2\", foo=\"bar\"})", &[("foo", "bar")]),
        ("absent(sum(nonexistent{job=\"testjob\"}))", &[]),
    ];
    for (query, expected) in cases {
        let out = run_with_exprs(query, vec![FnArg::Vector(Vec::new())], 60_000);
        assert_eq!(
            out,
            vec![InstantSample { labels: labels(expected), t: 60_000, v: 1., h: None, drop_name: false }],
            "{query}"
        );
    }
    let present = run_with_exprs("absent(x)", vec![vector(&[(&[("__name__", "x")], 1.)])], 0);
    assert!(present.is_empty());

    let empty = FnArg::Matrix {
        series: vec![Series::new(labels(&[("__name__", "x")]), vec![])],
        histograms: Vec::new(),
        range_start: 0,
        range_end: 10,
    };
    let out = run_with_exprs("absent_over_time(x{a=\"b\"}[5m])", vec![empty], 10);
    assert_eq!(
        out,
        vec![InstantSample { labels: labels(&[("a", "b")]), t: 10, v: 1., h: None, drop_name: false }]
    );
    let data = vec![series(&[("__name__", "x")], 1000, &[1.])];
    let out = run_with_exprs("absent_over_time(x[5m])", vec![window(&data, 10, 300_000)], 10);
    assert!(out.is_empty());
}

fn bucket_vector(name: &str, extra: &[(&str, &str)], buckets: &[(&str, f64)]) -> Vec<InstantSample> {
    buckets
        .iter()
        .map(|(le, v)| {
            let mut pairs = vec![("__name__", name), ("le", *le)];
            pairs.extend_from_slice(extra);
            InstantSample { labels: labels(&pairs), t: 0, v: *v, h: None, drop_name: false }
        })
        .collect()
}

#[test]
fn histogram_quantile_classic_buckets() {
    // testhistogram at 50m (values ×10), from histograms.test.
    let mut input = bucket_vector(
        "testhistogram_bucket",
        &[("start", "positive")],
        &[("0.1", 50.), (".2", 70.), ("1e0", 110.), ("+Inf", 120.)],
    );
    input.extend(bucket_vector(
        "testhistogram_bucket",
        &[("start", "negative")],
        &[("-.2", 10.), ("-0.1", 20.), ("0.3", 20.), ("+Inf", 30.)],
    ));
    let cases: &[(f64, f64, f64)] = &[
        (0., 0., -0.2),
        (0.25, 0.06, -0.2),
        (0.5, 0.15, -0.15),
        (0.75, 0.6, 0.3),
        (1., 1., 0.3),
        (-0.1, f64::NEG_INFINITY, f64::NEG_INFINITY),
        (1.01, f64::INFINITY, f64::INFINITY),
        (f64::NAN, f64::NAN, f64::NAN),
    ];
    for (q, positive, negative) in cases {
        let (out, annotations) =
            run("histogram_quantile", vec![FnArg::Scalar(*q), FnArg::Vector(input.clone())], 0);
        assert_values(&out, "start", &[("positive", *positive), ("negative", *negative)], &format!("q={q}"));
        assert!(out.iter().all(|s| s.drop_name && s.labels.get("le").is_none()));
        assert_eq!(annotations.warnings.len(), usize::from(!(0.0..=1.0).contains(q)), "q={q}");
    }
    let (_, annotations) = run("histogram_quantile", vec![FnArg::Scalar(f64::NAN), FnArg::Vector(vec![])], 0);
    assert_eq!(annotations.warnings, ["PromQL warning: quantile value should be between 0 and 1, got NaN"]);

    // Different spellings of one bound are merged: 0.2, 2e-1 and 2.0e-1.
    let mixed = bucket_vector(
        "mixed_bucket",
        &[],
        &[("0.1", 1.), ("0.2", 1.), ("2e-1", 1.), ("2.0e-1", 1.), ("+Inf", 4.)],
    );
    let (out, _) = run("histogram_quantile", vec![FnArg::Scalar(0.5), FnArg::Vector(mixed)], 0);
    assert_close(out[0].v, 0.15, "coalesced bounds");
    // No +Inf bucket or no observations: NaN.
    for buckets in [&[("1", 1.), ("2", 2.)][..], &[("1", 0.), ("+Inf", 0.)][..]] {
        let (out, _) = run(
            "histogram_quantile",
            vec![FnArg::Scalar(0.5), FnArg::Vector(bucket_vector("h", &[], buckets))],
            0,
        );
        assert!(out[0].v.is_nan());
    }
}

#[test]
fn histogram_quantile_forces_monotonicity_with_info() {
    let input = bucket_vector(
        "nonmonotonic_bucket",
        &[],
        &[("0.1", 20.), ("1", 10.), ("10", 50.), ("100", 40.), ("1000", 90.), ("+Inf", 80.)],
    );
    for (q, expected) in [(0.01, 0.0045), (0.5, 8.5), (0.99, 979.75)] {
        let (out, annotations) =
            run("histogram_quantile", vec![FnArg::Scalar(q), FnArg::Vector(input.clone())], 0);
        assert_close(out[0].v, expected, &format!("q={q}"));
        assert_eq!(
            annotations.infos,
            [
                "PromQL info: input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile) for metric name \"nonmonotonic_bucket\""
            ]
        );
    }
    // Counts that differ only by floating-point noise are not "forced".
    let noisy = bucket_vector("h", &[], &[("1", 10.), ("2", 10. - 1e-14), ("+Inf", 20.)]);
    let (_, annotations) = run("histogram_quantile", vec![FnArg::Scalar(0.5), FnArg::Vector(noisy)], 0);
    assert!(annotations.infos.is_empty());
}

#[test]
fn histogram_quantiles_and_bad_le() {
    let input = bucket_vector(
        "nonmonotonic_bucket",
        &[],
        &[("0.1", 20.), ("1", 10.), ("10", 50.), ("100", 40.), ("1000", 90.), ("+Inf", 80.)],
    );
    let args = vec![
        FnArg::Vector(input),
        FnArg::String("q".into()),
        FnArg::Scalar(0.01),
        FnArg::Scalar(0.5),
        FnArg::Scalar(1.),
    ];
    let (out, annotations) = run("histogram_quantiles", args, 0);
    assert_values(&out, "q", &[("0.01", 0.0045), ("0.5", 8.5), ("1.0", 1000.)], "histogram_quantiles");
    assert_eq!(annotations.infos.len(), 1);

    let collide = [
        bucket_vector("h", &[("start", "a")], &[("+Inf", 1.)]),
        bucket_vector("h", &[("start", "b")], &[("+Inf", 1.)]),
    ]
    .concat();
    let args = vec![FnArg::Vector(collide), FnArg::String("start".into()), FnArg::Scalar(0.5)];
    assert_eq!(try_run("histogram_quantiles", args, 0).0, Err(PromqlError::Eval(DUPLICATE_LABELSET.into())));

    for (pairs, le) in [
        (&[("__name__", "series"), ("ale", "0.1")][..], ""),
        (&[("__name__", "series"), ("le", "Hello World")][..], "Hello World"),
    ] {
        let input = vector(&[(pairs, 2.)]);
        let (out, annotations) = run("histogram_quantile", vec![FnArg::Scalar(0.8), input], 0);
        assert!(out.is_empty());
        assert_eq!(
            annotations.warnings,
            [format!(
                "PromQL warning: bucket label \"le\" is missing or has a malformed value of \"{le}\" for metric name \"series\""
            )]
        );
    }
}

#[test]
fn histogram_fraction_classic_buckets() {
    let h2 = bucket_vector(
        "testhistogram2_bucket",
        &[],
        &[("0", 0.), ("2", 10.), ("4", 20.), ("6", 30.), ("+Inf", 30.)],
    );
    let mut h3 = bucket_vector(
        "testhistogram3_bucket",
        &[("start", "positive")],
        &[("0", 0.), ("0.1", 50.), (".2", 70.), ("1e0", 110.), ("+Inf", 110.)],
    );
    h3.extend(bucket_vector(
        "testhistogram3_bucket",
        &[("start", "negative")],
        &[("-.25", 0.), ("-.2", 10.), ("-0.1", 20.), ("0.3", 20.), ("+Inf", 20.)],
    ));
    let cases: &[(f64, f64, &Vec<InstantSample>, Expected)] = &[
        (0., 4., &h2, &[("", 0.6666666666666666)]),
        (0., 6., &h2, &[("", 1.)]),
        (0., 3.5, &h2, &[("", 0.5833333333333334)]),
        (0., 0.2, &h3, &[("positive", 0.6363636363636364), ("negative", 0.)]),
        (f64::NEG_INFINITY, f64::INFINITY, &h2, &[("", 1.)]),
        (4., 0., &h2, &[("", 0.)]),
        (f64::NAN, 1., &h2, &[("", f64::NAN)]),
    ];
    for (lower, upper, input, expected) in cases {
        let (out, annotations) = run(
            "histogram_fraction",
            vec![FnArg::Scalar(*lower), FnArg::Scalar(*upper), FnArg::Vector((*input).clone())],
            0,
        );
        assert_values(&out, "start", expected, &format!("fraction({lower}, {upper})"));
        assert!(annotations.warnings.is_empty() && annotations.infos.is_empty());
    }
}

#[test]
fn native_histogram_functions_ignore_floats() {
    for name in ["histogram_count", "histogram_sum", "histogram_avg", "histogram_stddev", "histogram_stdvar"]
    {
        let (out, _) = run(name, vec![vector(&[(&[("__name__", "x")], 1.)])], 0);
        assert!(out.is_empty(), "{name}");
    }
}

#[test]
fn unknown_functions_and_bad_arguments_are_errors() {
    assert!(matches!(try_run("no_such_function", vec![], 0).0, Err(PromqlError::Eval(_))));
    assert!(matches!(try_run("rate", vec![FnArg::Scalar(1.)], 0).0, Err(PromqlError::Eval(_))));
    assert!(matches!(try_run("abs", vec![], 0).0, Err(PromqlError::Eval(_))));
    assert!(matches!(try_run("info", vec![vector(&[])], 0).0, Err(PromqlError::Unsupported(_))));
}

#[test]
fn go_float_formatting() {
    let cases: &[(f64, &str)] = &[
        (f64::NAN, "NaN"),
        (f64::INFINITY, "+Inf"),
        (f64::NEG_INFINITY, "-Inf"),
        (2., "2"),
        (-0.1, "-0.1"),
        (1.01, "1.01"),
        (100000., "100000"),
        (1e6, "1e+06"),
        (0.0001, "0.0001"),
        (0.00001234, "1.234e-05"),
        (123456789., "1.23456789e+08"),
    ];
    for (f, expected) in cases {
        assert_eq!(format_go_g(*f), *expected);
    }
    assert_eq!(format_openmetrics_float(1.), "1.0");
    assert_eq!(format_openmetrics_float(0.5), "0.5");
    assert_eq!(format_openmetrics_float(f64::NAN), "NaN");
}

#[test]
fn mad_over_time_propagates_nan() {
    let data = vec![series(&[("__name__", "metric_nan")], 10_000, &[1., 2., f64::NAN, 4.])];
    let (out, _) = run("mad_over_time", vec![window(&data, 30_000, 40_000)], 30_000);
    assert!(out[0].v.is_nan());
}

#[test]
fn annotations_name_the_argument_they_refer_to() {
    let cases: &[(&str, &str, Option<usize>)] = &[
        (
            "rate",
            "PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: \"x\"",
            Some(0),
        ),
        ("histogram_quantile", "PromQL warning: quantile value should be between 0 and 1, got NaN", Some(0)),
        (
            "histogram_quantile",
            "PromQL warning: bucket label \"le\" is missing or has a malformed value of \"\"",
            Some(1),
        ),
        (
            "histogram_fraction",
            "PromQL warning: bucket label \"le\" is missing or has a malformed value of \"\"",
            Some(2),
        ),
        (
            "histogram_quantiles",
            "PromQL info: input to histogram_quantile needed to be fixed for monotonicity",
            Some(0),
        ),
        ("histogram_quantiles", "PromQL warning: quantile value should be between 0 and 1, got 2", Some(2)),
        ("abs", "something else", None),
    ];
    for (function, message, expected) in cases {
        assert_eq!(annotation_argument(function, message), *expected, "{function}: {message}");
    }
}
