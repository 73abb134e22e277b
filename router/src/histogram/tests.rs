//! Tests of the native histogram type: bucket bounds, the promqltest notation, arithmetic
//! (cases from Prometheus's `float_histogram_test.go`), the PromQL estimates (every simple
//! `histogram_*` case of the shared conformance file `native_histograms.test`, evaluated
//! directly) and the classic-to-NHCB conversion.

use super::notation::parse_number;
use super::*;

fn h(text: &str) -> FloatHistogram {
    FloatHistogram::parse_test_notation(text).unwrap()
}

/// Prometheus's `almost.Equal` with promqltest's epsilon.
fn almost_equal(a: f64, b: f64) -> bool {
    const EPSILON: f64 = 1e-6;
    if a == b || (a.is_nan() && b.is_nan()) {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < f64::MIN_POSITIVE {
        return diff < EPSILON * f64::MIN_POSITIVE;
    }
    diff / abs_sum.min(f64::MAX) < EPSILON
}

#[test]
fn exponential_bounds_match_prometheus_table() {
    // Values from Prometheus's exponentialBounds table (fractions in [0.5, 1)).
    let cases = [
        (1, 1, 0.7071067811865475),
        (2, 1, 0.5946035575013605),
        (2, 3, 0.8408964152537144),
        (3, 7, 0.9170040432046711),
        (5, 31, 0.9785720620876999),
        (6, 63, 0.9892280131939752),
        (7, 1, 0.5027149505564014),
        (8, 2, 0.5027149505564014),
        (8, 255, 0.9972960560854698),
    ];
    // Prometheus's table is not correctly rounded (sqrt(2)/2 is 0.7071067811865475 there);
    // ours is the correctly rounded `exp2`, within a few ulps of it.
    for (schema, index, fraction) in cases {
        let bound = buckets::exponential_bound(index, schema);
        let table = fraction * 2.0;
        assert!(
            (bound - table).abs() <= 4.0 * table * f64::EPSILON,
            "schema {schema} index {index}: {bound} vs {table}"
        );
    }
    assert_eq!(buckets::exponential_bound(0, 0), 1.0);
    assert_eq!(buckets::exponential_bound(1, 0), 2.0);
    assert_eq!(buckets::exponential_bound(-1, 0), 0.5);
    assert_eq!(buckets::exponential_bound(1, -2), 16.0);
    assert_eq!(buckets::exponential_bound(1024, 0), f64::MAX);
    assert_eq!(buckets::exponential_bound(1025, 0), f64::INFINITY);
    assert_eq!(buckets::exponential_bound(256, -2), f64::MAX);
    assert_eq!(buckets::exponential_bound(-1074, 0), f64::from_bits(1));
}

#[test]
fn bucket_iterators_yield_bounds_and_indices() {
    let histogram =
        h("{{schema:1 count:10 z_bucket:1 z_bucket_w:0.5 buckets:[1 2] offset:1 n_buckets:[3 4]}}");
    let positive: Vec<_> =
        histogram.positive_bucket_iter().map(|b| (b.lower, b.upper, b.count, b.index)).collect();
    let sqrt2 = std::f64::consts::SQRT_2;
    assert_eq!(positive, vec![(1.0, sqrt2, 1.0, 1), (sqrt2, 2.0, 2.0, 2)]);
    let negative: Vec<_> =
        histogram.negative_bucket_iter().map(|b| (b.lower, b.upper, b.count, b.index)).collect();
    assert_eq!(negative, vec![(-1.0, -sqrt2 / 2.0, 3.0, 0), (-sqrt2, -1.0, 4.0, 1)]);
    let all: Vec<_> = histogram.all_bucket_iter().map(|b| (b.lower, b.count)).collect();
    assert_eq!(all, vec![(-sqrt2, 4.0), (-1.0, 3.0), (-0.5, 1.0), (1.0, 1.0), (sqrt2, 2.0)]);
    let first = histogram.positive_bucket_iter().next().unwrap();
    assert!(!first.lower_inclusive && first.upper_inclusive);

    let custom = h("{{schema:-53 count:6 custom_values:[1 5] buckets:[1 2 3]}}");
    let bounds: Vec<_> = custom
        .positive_bucket_iter()
        .map(|b| (b.lower, b.upper, b.lower_inclusive, b.upper_inclusive))
        .collect();
    assert_eq!(
        bounds,
        vec![
            (f64::NEG_INFINITY, 1.0, true, true),
            (1.0, 5.0, false, true),
            (5.0, f64::INFINITY, false, true)
        ]
    );
}

#[test]
fn notation_parses_all_keys() {
    let parsed = h("{{schema:1 sum:-3 count:22 z_bucket:1 z_bucket_w:0.001 buckets:[5 10 7] offset:1 \
         n_buckets:[4 2] n_offset:-2 counter_reset_hint:gauge}}");
    let expected = FloatHistogram {
        counter_reset_hint: CounterResetHint::Gauge,
        schema: 1,
        zero_threshold: 0.001,
        zero_count: 1.0,
        count: 22.0,
        sum: -3.0,
        positive_spans: vec![Span { offset: 1, length: 3 }],
        negative_spans: vec![Span { offset: -2, length: 2 }],
        positive_buckets: vec![5.0, 10.0, 7.0],
        negative_buckets: vec![4.0, 2.0],
        custom_values: vec![],
    };
    assert_eq!(parsed, expected);
    assert_eq!(h("{{}}"), FloatHistogram::default());
    assert_eq!(h("schema:-53 custom_values:[1 2 3]").custom_values, vec![1.0, 2.0, 3.0]);
    assert_eq!(h("{{sum:NaN count:Inf buckets:[1 ] }}").count, f64::INFINITY);
    assert!(h("{{sum:NaN}}").sum.is_nan());
    assert_eq!(h("{{counter_reset_hint:not_reset}}").counter_reset_hint, CounterResetHint::NotCounterReset);
    assert_eq!(h("{{counter_reset_hint:reset}}").counter_reset_hint, CounterResetHint::CounterReset);
}

#[test]
fn notation_rejects_malformed_literals() {
    for bad in [
        "{{schema:1 schema:2}}",
        "{{schema:1.5}}",
        "{{buckets:1}}",
        "{{foo:1}}",
        "{{counter_reset_hint:maybe}}",
        "{{buckets:[1 2}}",
        "{{sum:}}",
        "{{sum:1",
        "{{count:abc}}",
    ] {
        assert!(FloatHistogram::parse_test_notation(bad).is_err(), "{bad} should be rejected");
    }
    assert_eq!(
        FloatHistogram::parse_test_notation("{{sum:1 sum:2}}").unwrap_err().to_string(),
        "duplicate key \"sum\" in histogram"
    );
}

#[test]
fn notation_prints_like_test_expression() {
    let cases = [
        ("{{}}", "{{}}"),
        (
            "{{schema:1 sum:-3 count:22 z_bucket:1 z_bucket_w:0.001 buckets:[5 10 7] offset:1 n_buckets:[4 2] n_offset:-2 counter_reset_hint:gauge}}",
            "{{schema:1 count:22 sum:-3 z_bucket:1 z_bucket_w:0.001 counter_reset_hint:gauge offset:1 buckets:[5 10 7] n_offset:-2 n_buckets:[4 2]}}",
        ),
        (
            "{{schema:-53 count:3 sum:1e+06 custom_values:[0.5 1e-05] buckets:[0 1 2]}}",
            "{{schema:-53 count:3 sum:1e+06 custom_values:[0.5 1e-05] offset:1 buckets:[1 2]}}",
        ),
        ("{{count:NaN sum:Inf buckets:[1 0 0 2 0]}}", "{{count:NaN sum:+Inf buckets:[1 0 0 2]}}"),
        ("{{count:0.000123 sum:123456.5}}", "{{count:0.000123 sum:123456.5}}"),
    ];
    for (input, printed) in cases {
        assert_eq!(h(input).to_test_notation(), printed, "{input}");
    }
}

#[test]
fn series_items_expand_like_promqltest() {
    let values = FloatHistogram::parse_test_series_item(
        "{{schema:0 sum:4 count:4 buckets:[1 2 1]}}+{{sum:2 count:1 buckets:[1] offset:1}}x10",
    )
    .unwrap();
    assert_eq!(values.len(), 11);
    assert_eq!(values[1].count, 5.0);
    assert!(
        values[10].equals(&h("{{count:14 sum:24 buckets:[1 12 1]}}")),
        "{}",
        values[10].to_test_notation()
    );
    let repeated = FloatHistogram::parse_test_series_item("{{sum:1 count:1}}x2").unwrap();
    assert_eq!(repeated, vec![h("{{sum:1 count:1}}"); 3]);
    let single = FloatHistogram::parse_test_series_item("{{sum:1}}").unwrap();
    assert_eq!(single.len(), 1);
    let decreasing =
        FloatHistogram::parse_test_series_item("{{count:10 buckets:[5 5]}}-{{count:1 buckets:[1]}}x2")
            .unwrap();
    assert_eq!(decreasing[2].to_test_notation(), "{{count:8 buckets:[3 5]}}");
    assert!(FloatHistogram::parse_test_series_item("{{sum:1}}+{{sum:1}}").is_err());
    assert!(FloatHistogram::parse_test_series_item("{{sum:1}}x").is_err());
    let mixed = FloatHistogram::parse_test_series_item("{{schema:-53 custom_values:[1]}}+{{count:1}}x2");
    assert_eq!(mixed, Err(HistogramError::IncompatibleSchema));
}

/// The value a `histogram_*` function of one histogram computes, by function name.
fn evaluate(function: &str, scalars: &[f64], histogram: &FloatHistogram) -> Option<f64> {
    Some(match (function, scalars) {
        ("histogram_quantile", [q]) => histogram.quantile(*q),
        ("histogram_fraction", [lower, upper]) => histogram.fraction(*lower, *upper),
        ("histogram_stddev", []) => histogram.stddev(),
        ("histogram_stdvar", []) => histogram.stdvar(),
        ("histogram_avg", []) => histogram.avg(),
        ("histogram_count", []) => histogram.count,
        ("histogram_sum", []) => histogram.sum,
        _ => return None,
    })
}

/// A sample of a loaded series, as far as these tests need to know.
#[derive(Clone)]
enum Loaded {
    Absent,
    Float,
    Histogram(Box<FloatHistogram>),
}

/// Milliseconds of a promqltest duration such as `5m`, `1m30s` or `0`.
fn duration_ms(text: &str) -> Option<i64> {
    if text == "0" {
        return Some(0);
    }
    let (mut total, mut number) = (0i64, String::new());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = if c == 'm' && chars.peek() == Some(&'s') {
            chars.next();
            1
        } else {
            match c {
                's' => 1000,
                'm' => 60_000,
                'h' => 3_600_000,
                'd' => 86_400_000,
                _ => return None,
            }
        };
        total += number.parse::<i64>().ok()? * unit;
        number.clear();
    }
    number.is_empty().then_some(total)
}

/// Splits `name{labels} values` into name, label text (`{}` when absent) and values, keeping
/// quoted braces and spaces inside the labels.
fn split_series(definition: &str) -> Option<(&str, &str, &str)> {
    let name_end = definition.find(|c: char| c == '{' || c.is_whitespace())?;
    let name = &definition[..name_end];
    if !definition[name_end..].starts_with('{') {
        return Some((name, "{}", definition[name_end..].trim()));
    }
    let mut in_quotes = false;
    for (offset, c) in definition[name_end..].char_indices() {
        match c {
            '"' => in_quotes = !in_quotes,
            '}' if !in_quotes => {
                let labels_end = name_end + offset + 1;
                return Some((name, &definition[name_end..labels_end], definition[labels_end..].trim()));
            }
            _ => {}
        }
    }
    None
}

/// The samples a promqltest values string stands for, one per interval.
fn expand_values(values: &str) -> Vec<Loaded> {
    let mut samples = Vec::new();
    let mut tokens = Vec::new();
    let (mut depth, mut start) = (0, None);
    let bytes = values.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'{' => depth += 1,
            b'}' => depth -= 1,
            b' ' | b'\t' if depth == 0 => {
                if let Some(s) = start.take() {
                    tokens.push(&values[s..i]);
                }
                continue;
            }
            _ => {}
        }
        start.get_or_insert(i);
    }
    if let Some(s) = start {
        tokens.push(&values[s..]);
    }
    for token in tokens {
        if token.starts_with("{{") {
            match FloatHistogram::parse_test_series_item(token) {
                Ok(values) => samples.extend(values.into_iter().map(|h| Loaded::Histogram(Box::new(h)))),
                Err(_) => return Vec::new(),
            }
            continue;
        }
        let times = token.rsplit_once('x').and_then(|(_, n)| n.parse::<usize>().ok());
        if token.starts_with('_') {
            samples.extend(std::iter::repeat_n(Loaded::Absent, times.unwrap_or(1)));
        } else {
            samples.extend(std::iter::repeat_n(Loaded::Float, times.map_or(1, |n| n + 1)));
        }
    }
    samples
}

/// Every `eval instant` of `native_histograms.test` that applies a `histogram_*` function with
/// literal arguments to a plain selector of histogram series, evaluated directly with this
/// module and compared like promqltest does.
#[test]
fn conformance_functions_of_loaded_histograms() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/conformance/promql/native_histograms.test");
    let Ok(text) = std::fs::read_to_string(&path) else {
        panic!("cannot read {}", path.display());
    };
    let lines: Vec<&str> = text.lines().collect();
    // Series by name: label text, interval and samples.
    let mut series: std::collections::HashMap<String, Vec<(String, i64, Vec<Loaded>)>> = Default::default();
    let (mut checked, mut failures) = (0, Vec::new());
    let block = |i: &mut usize| -> Vec<&str> {
        let mut out = Vec::new();
        while *i < lines.len() && !lines[*i].trim().is_empty() && lines[*i].starts_with([' ', '\t']) {
            out.push(lines[*i].trim());
            *i += 1;
        }
        out
    };
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim();
        i += 1;
        if line == "clear" {
            series.clear();
        } else if let Some(interval) = line.strip_prefix("load ") {
            let definitions = block(&mut i);
            let Some(interval) = duration_ms(interval.trim()) else { continue };
            for definition in definitions {
                let Some((name, labels, values)) = split_series(definition) else { continue };
                series.entry(name.to_string()).or_default().push((
                    labels.to_string(),
                    interval,
                    expand_values(values),
                ));
            }
        } else if let Some(rest) = line.strip_prefix("eval instant at ") {
            let expectations = block(&mut i);
            let Some((time, expression)) = rest.split_once(char::is_whitespace) else { continue };
            let Some(time) = duration_ms(time) else { continue };
            if expectations.iter().any(|e| e.starts_with("expect fail") || e.starts_with("expect range")) {
                continue;
            }
            let expected: Vec<&str> = expectations.into_iter().filter(|e| !e.starts_with("expect")).collect();
            let Some((function, arguments)) = expression.strip_suffix(')').and_then(|e| e.split_once('('))
            else {
                continue;
            };
            let arguments: Vec<&str> = arguments.split(',').map(str::trim).collect();
            let Some((selector, scalars)) = arguments.split_last() else { continue };
            let Ok(scalars) = scalars.iter().map(|s| parse_number(s)).collect::<Result<Vec<f64>, _>>() else {
                continue;
            };
            let (name, wanted_labels) = match selector.split_once('{') {
                Some((name, labels)) => (name, Some(format!("{{{labels}"))),
                None => (*selector, None),
            };
            let Some(candidates) = series.get(name) else { continue };
            let mut outputs = Vec::new();
            for (labels, interval, samples) in candidates {
                if wanted_labels.as_ref().is_some_and(|wanted| wanted != labels) {
                    continue;
                }
                let index = if *interval > 0 { (time / interval) as usize } else { 0 };
                let Some(index) = index.checked_sub(0).filter(|_| !samples.is_empty()) else { continue };
                let index = index.min(samples.len() - 1);
                if time - index as i64 * interval >= 300_000 {
                    continue;
                }
                match &samples[index] {
                    Loaded::Histogram(histogram) => {
                        let Some(value) = evaluate(function, &scalars, histogram) else { continue };
                        outputs.push((labels.clone(), value));
                    }
                    Loaded::Float | Loaded::Absent => {}
                }
            }
            if outputs.is_empty() || outputs.len() != expected.len() {
                continue;
            }
            let mut matched = Vec::new();
            for expectation in &expected {
                let Some((labels, value)) = expectation.rsplit_once(char::is_whitespace) else { break };
                let Ok(want) = parse_number(value) else { break };
                let output = if outputs.len() == 1 && labels == "{}" {
                    outputs.first()
                } else {
                    outputs.iter().find(|(l, _)| l == labels)
                };
                let Some((_, got)) = output else { break };
                matched.push((*got, want));
            }
            if matched.len() != expected.len() {
                continue;
            }
            checked += 1;
            for (got, want) in matched {
                if !almost_equal(got, want) {
                    failures.push(format!("{line}: got {got}, want {want}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} of {checked} cases failed:\n{}", failures.len(), failures.join("\n"));
    assert!(checked >= 200, "only {checked} cases found");
    println!("{checked} conformance cases checked");
}

fn spans(pairs: &[(i32, u32)]) -> Vec<Span> {
    pairs.iter().map(|&(offset, length)| Span { offset, length }).collect()
}

/// A histogram from Prometheus's test-table layout.
#[allow(clippy::too_many_arguments)]
fn fh(
    zero_threshold: f64,
    zero_count: f64,
    count: f64,
    sum: f64,
    schema: i32,
    positive: (&[(i32, u32)], &[f64]),
    negative: (&[(i32, u32)], &[f64]),
) -> FloatHistogram {
    FloatHistogram {
        schema,
        zero_threshold,
        zero_count,
        count,
        sum,
        positive_spans: spans(positive.0),
        positive_buckets: positive.1.to_vec(),
        negative_spans: spans(negative.0),
        negative_buckets: negative.1.to_vec(),
        ..FloatHistogram::default()
    }
}

/// Equal buckets once empty buckets are dropped (Prometheus may keep a few empty buckets
/// where this implementation drops them or the other way round).
fn assert_same_buckets(got: &FloatHistogram, want: &FloatHistogram, case: &str) {
    let (mut got, mut want) = (got.clone(), want.clone());
    got.compact(0);
    want.compact(0);
    assert!(got.equals(&want), "{case}:\n got  {got:?}\n want {want:?}");
}

#[test]
fn add_matches_prometheus_cases() {
    let a = fh(
        0.01,
        11.0,
        30.0,
        2.345,
        0,
        (&[(-2, 2), (1, 3)], &[1., 0., 3., 4., 7.]),
        (&[(3, 2), (3, 2)], &[3., 1., 5., 6.]),
    );
    let b = fh(
        0.01,
        8.0,
        21.0,
        1.234,
        0,
        (&[(-2, 2), (1, 3)], &[0., 0., 2., 3., 6.]),
        (&[(3, 2), (3, 2)], &[1., 1., 4., 4.]),
    );
    let sum = fh(
        0.01,
        19.0,
        51.0,
        3.579,
        0,
        (&[(-2, 2), (1, 3)], &[1., 0., 5., 7., 13.]),
        (&[(3, 2), (3, 2)], &[4., 2., 9., 10.]),
    );
    let mut got = a.clone();
    assert_eq!(got.add(&b), Ok(AddOutcome::default()));
    assert!(got.equals(&sum), "same bucket layout: {got:?}");

    // Non-overlapping spans.
    let a = fh(
        0.001,
        11.0,
        30.0,
        2.345,
        0,
        (&[(-2, 2), (2, 3)], &[1., 0., 3., 4., 7.]),
        (&[(3, 2), (3, 2)], &[3., 1., 5., 6.]),
    );
    let b = fh(
        0.001,
        8.0,
        21.0,
        1.234,
        0,
        (&[(0, 2), (3, 3)], &[5., 4., 2., 3., 6.]),
        (&[(-9, 2), (3, 2)], &[1., 1., 4., 4.]),
    );
    let want = fh(
        0.001,
        19.0,
        51.0,
        3.579,
        0,
        (&[(-2, 4), (0, 6)], &[1., 0., 5., 4., 3., 4., 7., 2., 3., 6.]),
        (&[(-9, 2), (3, 2), (5, 2), (3, 2)], &[1., 1., 4., 4., 3., 1., 5., 6.]),
    );
    let mut got = a.clone();
    got.add(&b).unwrap();
    assert!(got.equals(&want), "non-overlapping spans: {got:?}");

    // Schema change: the result has the lower schema.
    let a = fh(
        0.01,
        8.0,
        21.0,
        1.234,
        0,
        (&[(-1, 4), (0, 3)], &[5., 4., 2., 3., 6., 2., 5.]),
        (&[(4, 2), (1, 2)], &[1., 1., 4., 4.]),
    );
    let b = fh(
        0.01,
        11.0,
        30.0,
        2.345,
        1,
        (&[(-4, 3), (5, 5)], &[1., 0., 0., 3., 2., 2., 3., 4.]),
        (&[(6, 3), (6, 4)], &[3., 0.5, 0.5, 2., 3., 2., 4.]),
    );
    let want = fh(
        0.01,
        19.0,
        51.0,
        3.579,
        0,
        (&[(-2, 5), (0, 3)], &[1., 5., 4., 2., 6., 10., 9., 5.]),
        (&[(3, 3), (1, 3)], &[3., 2., 1., 4., 9., 6.]),
    );
    for (first, second, case) in [(&a, &b, "schema change"), (&b, &a, "schema change, higher schema first")] {
        let mut got = first.clone();
        got.add(second).unwrap();
        assert_same_buckets(&got, &want, case);
    }

    // Larger zero bucket in the first histogram, then in the second.
    let wide = fh(
        1.0,
        17.0,
        21.0,
        1.234,
        0,
        (&[(1, 2), (0, 3)], &[2., 3., 6., 2., 5.]),
        (&[(4, 2), (1, 2)], &[1., 1., 4., 4.]),
    );
    let narrow = fh(
        0.01,
        11.0,
        30.0,
        2.345,
        0,
        (&[(-2, 2), (2, 3)], &[1., 0., 3., 4., 7.]),
        (&[(3, 2), (3, 2)], &[3., 1., 5., 6.]),
    );
    let want = fh(
        1.0,
        29.0,
        51.0,
        3.579,
        0,
        (&[(1, 5)], &[2., 6., 10., 9., 5.]),
        (&[(3, 3), (1, 3)], &[3., 2., 1., 4., 9., 6.]),
    );
    for (first, second, case) in
        [(&wide, &narrow, "larger zero bucket first"), (&narrow, &wide, "larger zero bucket second")]
    {
        let mut got = first.clone();
        got.add(second).unwrap();
        assert_same_buckets(&got, &want, case);
    }

    // A zero threshold inside a populated bucket of the other histogram widens to that bucket.
    let wide = fh(
        0.2,
        17.0,
        21.0,
        1.234,
        0,
        (&[(1, 2), (0, 3)], &[2., 3., 6., 2., 5.]),
        (&[(4, 2), (1, 2)], &[1., 1., 4., 4.]),
    );
    let want = fh(
        0.25,
        29.0,
        51.0,
        3.579,
        0,
        (&[(1, 5)], &[2., 6., 10., 9., 5.]),
        (&[(3, 3), (1, 3)], &[3., 2., 1., 4., 9., 6.]),
    );
    for (first, second, case) in [
        (&wide, &narrow, "threshold inside bucket, first"),
        (&narrow, &wide, "threshold inside bucket, second"),
    ] {
        let mut got = first.clone();
        got.add(second).unwrap();
        assert_same_buckets(&got, &want, case);
    }

    // Schema change combined with a larger zero bucket in the second histogram.
    let a = fh(
        0.01,
        8.0,
        21.0,
        1.234,
        0,
        (&[(-2, 5), (0, 3)], &[2., 5., 4., 2., 3., 6., 2., 5.]),
        (&[(4, 2), (1, 2)], &[1., 1., 4., 4.]),
    );
    let b = fh(
        0.25,
        12.0,
        30.0,
        2.345,
        1,
        (&[(-3, 2), (5, 5)], &[1., 0., 3., 2., 2., 3., 4.]),
        (&[(6, 3), (6, 4)], &[3., 0.5, 0.5, 2., 3., 2., 4.]),
    );
    let want = fh(
        0.25,
        22.0,
        51.0,
        3.579,
        0,
        (&[(-1, 7)], &[6., 4., 2., 6., 10., 9., 5.]),
        (&[(3, 3), (1, 3)], &[3., 2., 1., 4., 9., 6.]),
    );
    let mut got = a.clone();
    got.add(&b).unwrap();
    assert_same_buckets(&got, &want, "schema change with larger zero bucket");
}

#[test]
fn add_and_sub_reconcile_custom_buckets_and_hints() {
    let mut a = h("{{schema:-53 count:15 sum:2.345 custom_values:[1 2 3 4 5] buckets:[1 0 0 3 4 7]}}");
    let b = h("{{schema:-53 count:11 sum:1.234 custom_values:[1 2 3 4 5] buckets:[0 0 0 2 3 6]}}");
    assert_eq!(a.add(&b), Ok(AddOutcome::default()));
    assert!(
        a.equals(&h("{{schema:-53 count:26 sum:3.579 custom_values:[1 2 3 4 5] buckets:[1 0 0 5 7 13]}}"))
    );

    // Mismatched bounds are reduced to their intersection.
    let mut a = h("{{schema:-53 sum:1 count:1 custom_values:[5 10] buckets:[1]}}");
    let b = h("{{schema:-53 sum:1 count:1 custom_values:[10] buckets:[1]}}");
    let outcome = a.add(&b).unwrap();
    assert!(outcome.nhcb_bounds_reconciled);
    assert!(
        a.equals(&h("{{schema:-53 count:2 sum:2 custom_values:[10] buckets:[2]}}")),
        "{}",
        a.to_test_notation()
    );

    let mut a = h("{{schema:-53 count:10 custom_values:[1 2 3] buckets:[1 2 3 4]}}");
    let b = h("{{schema:-53 count:4 custom_values:[2 4] buckets:[1 1 2]}}");
    assert!(a.sub(&b).unwrap().nhcb_bounds_reconciled);
    assert_eq!(a.custom_values, vec![2.0]);
    assert_eq!(a.to_test_notation(), "{{schema:-53 count:6 custom_values:[2] buckets:[2 4]}}");

    let mut exponential = h("{{count:1 buckets:[1]}}");
    assert_eq!(
        exponential.add(&h("{{schema:-53 count:1 buckets:[1]}}")),
        Err(HistogramError::IncompatibleSchema)
    );
    assert_eq!(
        HistogramError::IncompatibleSchema.to_string(),
        "cannot apply this operation on histograms with a mix of exponential and custom bucket schemas"
    );

    use CounterResetHint::*;
    for (mine, theirs, result, collision) in [
        (Gauge, CounterReset, Gauge, false),
        (NotCounterReset, Gauge, Gauge, false),
        (Unknown, CounterReset, Unknown, false),
        (NotCounterReset, Unknown, Unknown, false),
        (CounterReset, CounterReset, CounterReset, false),
        (CounterReset, NotCounterReset, Unknown, true),
    ] {
        let mut a = FloatHistogram { counter_reset_hint: mine, ..FloatHistogram::default() };
        let b = FloatHistogram { counter_reset_hint: theirs, ..FloatHistogram::default() };
        assert_eq!(a.add(&b).unwrap().counter_reset_collision, collision, "{mine:?} + {theirs:?}");
        assert_eq!(a.counter_reset_hint, result, "{mine:?} + {theirs:?}");
    }
}

#[test]
fn scaling_and_division_by_zero() {
    let mut histogram = h("{{count:4 sum:10 z_bucket:1 buckets:[1 2] n_buckets:[0.5 0.5]}}");
    histogram.mul(2.0);
    assert_eq!(histogram.to_test_notation(), "{{count:8 sum:20 z_bucket:2 buckets:[2 4] n_buckets:[1 1]}}");
    histogram.mul(-1.0);
    assert_eq!(histogram.counter_reset_hint, CounterResetHint::Gauge);
    let mut halved = h("{{count:4 sum:10 buckets:[2 4]}}");
    halved.div(2.0);
    assert_eq!(halved.to_test_notation(), "{{count:2 sum:5 buckets:[1 2]}}");
    let mut by_zero = h("{{count:4 sum:-10 z_bucket:0 buckets:[2 4]}}");
    by_zero.div(0.0);
    assert_eq!(by_zero.count, f64::INFINITY);
    assert_eq!(by_zero.sum, f64::NEG_INFINITY);
    assert!(by_zero.zero_count.is_nan());
    assert!(by_zero.positive_buckets.is_empty() && by_zero.positive_spans.is_empty());
    assert_eq!(by_zero.counter_reset_hint, CounterResetHint::Unknown);
}

#[test]
fn compact_matches_prometheus_semantics() {
    let mut histogram = fh(
        0.0,
        0.0,
        0.0,
        0.0,
        0,
        (&[(-2, 4), (3, 6)], &[0., 0., 1., 0., 0., 0., 2., 0., 0., 3.]),
        (&[(0, 2), (0, 3)], &[0., 1., 0., 0., 4.]),
    );
    histogram.compact(0);
    assert_eq!(histogram.positive_spans, spans(&[(0, 1), (6, 1), (2, 1)]));
    assert_eq!(histogram.positive_buckets, vec![1., 2., 3.]);
    assert_eq!(histogram.negative_spans, spans(&[(1, 1), (2, 1)]));
    let mut histogram = fh(0.0, 0.0, 0.0, 0.0, 0, (&[(0, 1), (2, 1), (1, 2)], &[1., 2., 0., 3.]), (&[], &[]));
    histogram.compact(2);
    assert_eq!(histogram.positive_spans, spans(&[(0, 7)]));
    assert_eq!(histogram.positive_buckets, vec![1., 0., 0., 2., 0., 0., 3.]);
    let mut nan = fh(0.0, 0.0, 0.0, 0.0, 0, (&[(0, 3)], &[0., f64::NAN, 0.]), (&[], &[]));
    nan.compact(0);
    assert_eq!(nan.positive_spans, spans(&[(1, 1)]));
}

#[test]
fn resolution_reduction() {
    let mut histogram = fh(
        0.0,
        0.0,
        10.0,
        0.0,
        1,
        (&[(-4, 3), (5, 5)], &[1., 0., 0., 3., 2., 2., 3., 4.]),
        (&[(6, 3), (6, 4)], &[3., 0.5, 0.5, 2., 3., 2., 4.]),
    );
    let copy = histogram.copy_to_schema(0).unwrap();
    histogram.reduce_resolution(0).unwrap();
    assert_eq!(histogram.schema, 0);
    assert_eq!(histogram.positive_spans, spans(&[(-2, 2), (2, 3)]));
    assert_eq!(histogram.positive_buckets, vec![1., 0., 3., 4., 7.]);
    assert_eq!(histogram.negative_spans, spans(&[(3, 2), (3, 2)]));
    assert_eq!(histogram.negative_buckets, vec![3., 1., 5., 6.]);
    assert!(copy.equals(&histogram));
    assert_eq!(
        histogram.reduce_resolution(1).unwrap_err().to_string(),
        "cannot reduce resolution from schema 0 to 1"
    );
    assert_eq!(
        h("{{schema:-53 custom_values:[1]}}").reduce_resolution(0).unwrap_err(),
        HistogramError::ReduceCustomBuckets
    );
}

#[test]
fn reset_detection() {
    let previous = h("{{count:10 sum:5 z_bucket:1 buckets:[2 3 4]}}");
    assert!(!h("{{count:12 sum:1 z_bucket:1 buckets:[2 4 5]}}").detect_reset(&previous), "sum may decrease");
    assert!(h("{{count:9 z_bucket:1 buckets:[2 3 4]}}").detect_reset(&previous), "count decreased");
    assert!(h("{{count:12 z_bucket:0 buckets:[2 3 4]}}").detect_reset(&previous), "zero count decreased");
    assert!(h("{{count:12 z_bucket:1 buckets:[2 3]}}").detect_reset(&previous), "bucket vanished");
    assert!(h("{{count:12 z_bucket:1 buckets:[2 2 5]}}").detect_reset(&previous), "bucket decreased");
    assert!(!h("{{count:12 z_bucket:1 buckets:[2 3 4 1] offset:0}}").detect_reset(&previous));
    assert!(
        h("{{schema:1 count:12 z_bucket:1 buckets:[2 3 4]}}").detect_reset(&previous),
        "schema increased"
    );
    // A lower schema merges the previous buckets first.
    let fine = h("{{schema:1 count:4 buckets:[1 1 1 1]}}");
    assert!(!h("{{schema:0 count:4 buckets:[1 2 1]}}").detect_reset(&fine));
    assert!(h("{{schema:0 count:4 buckets:[1 1 2]}}").detect_reset(&fine));
    // Hints short-cut the comparison.
    assert!(!h("{{count:1 counter_reset_hint:not_reset}}").detect_reset(&previous));
    assert!(h("{{count:100 buckets:[5 5 5] z_bucket:5 counter_reset_hint:reset}}").detect_reset(&previous));
    // Custom buckets with different bounds compare at the shared bounds.
    let nhcb = h("{{schema:-53 count:6 custom_values:[1 2 3] buckets:[1 2 3]}}");
    assert!(!h("{{schema:-53 count:7 custom_values:[2 3] buckets:[3 4]}}").detect_reset(&nhcb));
    assert!(h("{{schema:-53 count:7 custom_values:[2 3] buckets:[2 5]}}").detect_reset(&nhcb));
    assert!(h("{{schema:-53 count:7 custom_values:[2 3] buckets:[3 4]}}").detect_reset(&previous));
}

#[test]
fn equality_is_bitwise_and_layout_aware() {
    let a = h("{{count:NaN sum:NaN buckets:[1 2]}}");
    assert!(a.equals(&a.clone()));
    let split = FloatHistogram { positive_spans: spans(&[(0, 1), (0, 1)]), ..a.clone() };
    assert!(a.equals(&split), "same layout, different spans");
    assert!(!a.equals(&h("{{count:NaN sum:NaN buckets:[1 2] offset:1}}")));
    assert!(!h("{{sum:0}}").equals(&h("{{sum:-0}}")), "-0 and 0 differ bitwise");
    assert!(!h("{{schema:-53 custom_values:[1]}}").equals(&h("{{schema:-53 custom_values:[2]}}")));
}

#[test]
fn classic_buckets_convert_to_custom_buckets() {
    let converted =
        FloatHistogram::from_classic_buckets(&[(1.0, 1.0), (2.0, 3.0), (f64::INFINITY, 6.0)], 10.0, 6.0)
            .unwrap();
    assert_eq!(
        converted.to_test_notation(),
        "{{schema:-53 count:6 sum:10 custom_values:[1 2] buckets:[1 2 3]}}"
    );
    // Out-of-order input, a repeated le, no +Inf bucket, fractional counts.
    let converted =
        FloatHistogram::from_classic_buckets(&[(5.0, 2.5), (0.5, 0.5), (5.0, 9.0)], 1.5, 4.5).unwrap();
    assert_eq!(
        converted.to_test_notation(),
        "{{schema:-53 count:4.5 sum:1.5 custom_values:[0.5 5] buckets:[0.5 2 2]}}"
    );
    // Empty buckets are dropped.
    let converted = FloatHistogram::from_classic_buckets(
        &[(1.0, 0.0), (2.0, 0.0), (3.0, 2.0), (f64::INFINITY, 2.0)],
        3.0,
        2.0,
    )
    .unwrap();
    assert_eq!(converted.positive_spans, spans(&[(2, 1)]));
    assert_eq!(converted.custom_values, vec![1.0, 2.0, 3.0]);
    let missing_count =
        FloatHistogram::from_classic_parts(&[(1.0, 2.0), (f64::INFINITY, 3.0)], None, None).unwrap();
    assert_eq!(missing_count.count, 3.0);
    assert_eq!(
        FloatHistogram::from_classic_buckets(&[(1.0, 3.0), (2.0, 2.0)], 0.0, 3.0).unwrap_err().to_string(),
        "count is not cumulative: 2 < 3"
    );
    assert_eq!(
        FloatHistogram::from_classic_buckets(&[(1.0, 3.0), (f64::INFINITY, 4.0)], 0.0, 5.0)
            .unwrap_err()
            .to_string(),
        "count mismatch: count=5 != le=+Inf count=4"
    );
    assert!(FloatHistogram::from_classic_buckets(&[(1.0, -1.0)], 0.0, 1.0).is_err());
}

#[test]
fn quantile_and_fraction_edge_cases() {
    let histogram = h("{{schema:0 count:4 sum:5 buckets:[1 2 1]}}");
    assert_eq!(histogram.quantile(-0.1), f64::NEG_INFINITY);
    assert_eq!(histogram.quantile(1.1), f64::INFINITY);
    assert!(histogram.quantile(f64::NAN).is_nan());
    assert!(h("{{}}").quantile(0.5).is_nan());
    assert_eq!(histogram.fraction(2.0, 1.0), 0.0);
    assert!(histogram.fraction(f64::NAN, 1.0).is_nan());
    assert_eq!(histogram.fraction(f64::NEG_INFINITY, f64::INFINITY), 1.0);
    // Quantile and fraction invert each other.
    let q = histogram.quantile(0.3);
    assert!(almost_equal(histogram.fraction(f64::NEG_INFINITY, q), 0.3));
    // NHCB: linear interpolation, the first bucket starts at 0, the +Inf bucket returns its lower bound.
    let nhcb = h("{{schema:-53 count:10 sum:20 custom_values:[2 4] buckets:[4 4 2]}}");
    assert_eq!(nhcb.quantile(0.2), 1.0);
    assert_eq!(nhcb.quantile(0.6), 3.0);
    assert_eq!(nhcb.quantile(0.95), 4.0);
    assert_eq!(nhcb.fraction(0.0, 3.0), 0.6);
    assert_eq!(nhcb.avg(), 2.0);
}

/// Sums with `kahan_add` and folds the compensation in, as the `sum` aggregation does.
fn kahan_sum(histograms: &[FloatHistogram]) -> FloatHistogram {
    let mut total = histograms[0].clone();
    let mut compensation = None;
    for histogram in &histograms[1..] {
        let (next, _) = total.kahan_add(histogram, compensation.take()).unwrap();
        compensation = Some(next);
    }
    if let Some(compensation) = compensation {
        total.add(&compensation).unwrap();
    }
    total.compact(0);
    total
}

#[test]
fn kahan_addition_keeps_small_values() {
    // native_histograms.test: sum_over_time(histogram_sum_over_time_3) and _4.
    let values: Vec<_> =
        ["{{count:1 sum:1}}", "{{count:2 sum:1e100}}", "{{count:3 sum:1}}", "{{count:4 sum:-1e100}}"]
            .map(h)
            .to_vec();
    assert_eq!(kahan_sum(&values).to_test_notation(), "{{count:10 sum:2}}");
    let values: Vec<_> = [
        "{{count:1 sum:5.3}}",
        "{{count:2 sum:1e100}}",
        "{{count:3 sum:1}}",
        "{{count:4 sum:-1e100}}",
        "{{count:5 sum:2}}",
        "{{count:6 sum:1e50}}",
        "{{count:7 sum:-1e50}}",
    ]
    .map(h)
    .to_vec();
    assert_eq!(kahan_sum(&values).to_test_notation(), "{{count:28 sum:8.3}}");
    // Bucket counts are compensated too.
    let values: Vec<_> = [
        "{{count:1 buckets:[1]}}",
        "{{count:1 buckets:[1e100]}}",
        "{{count:1 buckets:[1]}}",
        "{{count:1 buckets:[-1e100]}}",
    ]
    .map(h)
    .to_vec();
    assert_eq!(kahan_sum(&values).positive_buckets, vec![2.0]);
    let mut plain = values[0].clone();
    for value in &values[1..] {
        plain.add(value).unwrap();
    }
    assert_eq!(plain.positive_buckets, vec![0.0], "plain addition loses the small counts");
}

#[test]
fn kahan_addition_reconciles_layouts_like_add() {
    // native_histograms.test: sum(histogram_sum) mixes schemas 0 and 1.
    let values: Vec<_> = [
        "{{schema:0 count:25 sum:3.1 z_bucket:4 z_bucket_w:0.001 buckets:[1 2 0 1 1] n_buckets:[2 4 0 0 1 9]}}",
        "{{schema:0 count:41 sum:1e100 z_bucket:5 z_bucket_w:0.001 buckets:[1 3 1 2 1 1 1] n_buckets:[0 1 4 2 7 0 0 0 0 5 5 2]}}",
        "{{schema:0 count:41 sum:-1e100 z_bucket:5 z_bucket_w:0.001 buckets:[1 3 1 2 1 1 1] n_buckets:[0 1 4 2 7 0 0 0 0 5 5 2]}}",
        "{{schema:1 count:0 sum:1.3 z_bucket:3 z_bucket_w:0.001 buckets:[2 4 2 3 2 2] n_buckets:[1 2 5 3 8 1 1 1 1 6 3]}}",
    ]
    .map(h)
    .to_vec();
    let want = h(
        "{{schema:0 count:107 sum:4.4 z_bucket:17 z_bucket_w:0.001 buckets:[5 14 7 7 3 2 2] n_buckets:[3 13 19 6 17 18 0 0 0 10 10 4]}}",
    );
    let got = kahan_sum(&values);
    assert_eq!(got.to_test_notation(), want.to_test_notation());
    // The same with the higher schema first, and with a wider zero bucket arriving later.
    let mut reversed = values.clone();
    reversed.reverse();
    assert_eq!(kahan_sum(&reversed).to_test_notation(), want.to_test_notation());
    let wide = h("{{count:2 z_bucket:1 z_bucket_w:1 buckets:[1] offset:1}}");
    let narrow = h("{{count:3 z_bucket:1 z_bucket_w:0.1 buckets:[1 1] offset:-1}}");
    let mut expected = narrow.clone();
    expected.add(&wide).unwrap();
    expected.compact(0);
    assert!(kahan_sum(&[narrow.clone(), wide.clone()]).equals(&expected));

    let nhcb: Vec<_> = [
        "{{schema:-53 sum:1 count:1 custom_values:[5 10] buckets:[1]}}",
        "{{schema:-53 sum:1 count:1 custom_values:[10] buckets:[1]}}",
    ]
    .map(h)
    .to_vec();
    let (_, outcome) = nhcb[0].clone().kahan_add(&nhcb[1], None).unwrap();
    assert!(outcome.nhcb_bounds_reconciled);
    assert_eq!(
        kahan_sum(&nhcb).to_test_notation(),
        "{{schema:-53 count:2 sum:2 custom_values:[10] buckets:[2]}}"
    );
    assert_eq!(nhcb[0].clone().kahan_add(&values[0], None).unwrap_err(), HistogramError::IncompatibleSchema);
}

#[test]
fn nan_observations_in_quantile_and_fraction() {
    // native_histograms.test: histogram_nan.
    let all_nan = h("{{schema:0 count:3 sum:NaN}}");
    let some_nan = h("{{schema:0 count:15 sum:NaN buckets:[12]}}");
    for q in [1.0, 0.81, 0.4] {
        let (value, info) = all_nan.quantile_with_nan_info(q);
        assert!(value.is_nan(), "q={q}");
        assert_eq!(info, NanObservations::ResultIsNaN);
    }
    for q in [1.0, 0.81] {
        let (value, info) = some_nan.quantile_with_nan_info(q);
        assert!(value.is_nan(), "q={q}");
        assert_eq!(info, NanObservations::ResultIsNaN);
    }
    assert_eq!(some_nan.quantile_with_nan_info(0.8), (1.0, NanObservations::ResultSkewedHigher));
    let (value, info) = some_nan.quantile_with_nan_info(0.4);
    assert!(almost_equal(value, 0.7071067811865475));
    assert_eq!(info, NanObservations::ResultSkewedHigher);
    assert_eq!(h("{{count:4 sum:5 buckets:[1 2 1]}}").quantile_with_nan_info(0.5).1, NanObservations::None);

    assert_eq!(all_nan.fraction(f64::NEG_INFINITY, 0.7071067811865475), 0.0);
    assert!(almost_equal(some_nan.fraction(f64::NEG_INFINITY, 0.7071067811865475), 0.4));
    assert_eq!(all_nan.fraction(f64::NEG_INFINITY, f64::INFINITY), 0.0);
    assert!(almost_equal(some_nan.fraction(f64::NEG_INFINITY, f64::INFINITY), 0.8));
    assert!(some_nan.has_nan_observations() && !h("{{sum:1}}").has_nan_observations());
}

#[test]
fn hostile_layouts_do_not_panic_or_explode() {
    let extreme = FloatHistogram {
        schema: 8,
        count: 3.0,
        positive_spans: spans(&[(i32::MIN, 1), (i32::MAX, 1), (i32::MAX, 1)]),
        positive_buckets: vec![1.0, 1.0, 1.0],
        negative_spans: spans(&[(0, 5)]),
        negative_buckets: vec![1.0],
        ..FloatHistogram::default()
    };
    let printed = extreme.to_test_notation();
    assert!(printed.len() < 200, "{printed}");
    let mut sum = extreme.clone();
    sum.add(&extreme).unwrap();
    sum.compact(0);
    let _ = extreme.quantile(0.5);
    let _ = extreme.fraction(0.0, 1.0);
    let _ = extreme.stdvar();
    let _ = extreme.detect_reset(&sum);
    let weird_schema = FloatHistogram { schema: i32::MIN, ..extreme.clone() };
    let _ = weird_schema.quantile(0.5);
    let _ = weird_schema.copy_to_schema(-4);
    let mut reduced = extreme.clone();
    reduced.reduce_resolution(-4).unwrap();
    assert_eq!(reduced.count, 3.0);
}

#[test]
fn test_comparison_tolerates_layout_and_rounding() {
    let expected = h("{{count:3 sum:1.0000001 buckets:[1 0 0 2]}}");
    let actual = FloatHistogram {
        positive_spans: spans(&[(0, 1), (1, 2)]),
        positive_buckets: vec![1.0, 0.0, 2.0],
        sum: 1.0000001 + 1e-13,
        ..expected.clone()
    };
    assert!(actual.matches_for_test(&expected));
    assert!(!h("{{count:3 sum:1 buckets:[1 0 2]}}").matches_for_test(&expected));
    assert!(!h("{{schema:1 count:3 sum:1.0000001 buckets:[1 0 0 2]}}").matches_for_test(&expected));
    assert!(h("{{count:NaN}}").matches_for_test(&h("{{count:NaN}}")));
}

#[test]
fn validation_rejects_inconsistent_histograms() {
    assert_eq!(
        h("{{schema:3 count:4 z_bucket:1 buckets:[1 2] n_buckets:[1] n_offset:-3}}").validate(),
        Ok(())
    );
    assert_eq!(h("{{schema:-53 count:3 custom_values:[1 2] buckets:[1 1 1]}}").validate(), Ok(()));
    let cases = [
        (
            FloatHistogram {
                positive_spans: spans(&[(0, 2)]),
                positive_buckets: vec![1.0],
                ..FloatHistogram::default()
            },
            "positive side: spans need 2 buckets, have 1 buckets: histogram spans specify different number of buckets than provided",
        ),
        (
            FloatHistogram {
                positive_spans: spans(&[(0, 1), (-1, 1)]),
                positive_buckets: vec![1.0, 1.0],
                ..FloatHistogram::default()
            },
            "positive side: span number 2 with offset -1: histogram has a span whose offset is negative",
        ),
        (
            h("{{n_buckets:[1 -1]}}"),
            "negative side: bucket number 2 has observation count of -1: histogram has a bucket whose observation count is negative",
        ),
        (
            h("{{schema:-53 custom_values:[2 1] buckets:[1]}}"),
            "custom buckets: previous bound is 2.000000 and current is 1.000000: histogram custom bounds must be in strictly increasing order",
        ),
        (
            h("{{schema:-53 custom_values:[1] buckets:[1 1 1]}}"),
            "custom buckets: only 1 custom bounds defined which is insufficient to cover total span length of 3: histogram custom bounds are too few",
        ),
    ];
    for (histogram, message) in cases {
        assert_eq!(histogram.validate().unwrap_err().to_string(), message);
    }
    assert!(h("{{schema:9}}").validate().is_err());
    assert!(h("{{schema:-53 z_bucket:1}}").validate().is_err());
    assert!(h("{{count:-1}}").validate().is_err());
}

#[test]
fn same_layout_fast_path_matches_general_addition() {
    let mut a = h("{{count:3 sum:2 buckets:[1 2] n_buckets:[3]}}");
    a.add(&a.clone()).unwrap();
    assert_eq!(a.to_test_notation(), "{{count:6 sum:4 buckets:[2 4] n_buckets:[6]}}");
    a.sub(&h("{{count:1 buckets:[1 1] n_buckets:[1]}}")).unwrap();
    assert_eq!(a.to_test_notation(), "{{count:5 sum:4 buckets:[1 3] n_buckets:[5]}}");
    // Buckets inside the other histogram's zero bucket are skipped, as Prometheus does.
    let mut inside = h("{{count:2 z_bucket_w:2 buckets:[1 1] offset:-1}}");
    inside.add(&inside.clone()).unwrap();
    assert_eq!(inside.positive_buckets, vec![1.0, 1.0]);
    assert_eq!(inside.count, 4.0);
    let mut nhcb = h("{{schema:-53 count:3 custom_values:[1 2] buckets:[1 2]}}");
    nhcb.add(&nhcb.clone()).unwrap();
    assert_eq!(nhcb.to_test_notation(), "{{schema:-53 count:6 custom_values:[1 2] buckets:[2 4]}}");
}
