//! Checks a query's outcome against an eval's expectations, as upstream's `compareResult`,
//! `checkAnnotations` and `checkExpectedFailure` do.
//!
//! - Floats compare with upstream's `almost.Equal` (relative epsilon 1e-6; NaN equals NaN; a
//!   staleness marker only equals a staleness marker).
//! - Series are identified by their label sets; order matters only with `expect ordered` (or
//!   `eval_ordered`), and range results must be sorted by labels.
//! - A matrix result is compared point by point with the expected values laid out from the
//!   eval's start by its step; omitted (`_`) positions expect no point.
//! - Annotations: every `expect warn|info` line must match one annotation of its kind, and with
//!   at least one such line every annotation of that kind must match one; `no_warn`/`no_info`
//!   forbid any. Without `expect` lines annotations are not checked.
//!
//! - Native histograms compare as upstream's `compareNativeHistogram` after compacting both
//!   (`Compact(0)`): schema, zero threshold and custom bounds exactly, count, sum, zero count
//!   and bucket counts with `almost.Equal`, spans modulo empty spans. The counter reset hint
//!   is compared only when the expected literal states it (FORMAT.md).
//!
//! Each check returns `Err(reason)`, a one-line message in upstream's wording.

use super::script::{EvalCommand, MessageMatch};
use super::series_notation::{HistogramItem, SequenceValue};
use crate::histogram::FloatHistogram;
use crate::promql::{Annotations, InstantSample, MatrixSeries, Value};
use harrier_telemetry::model::is_stale_nan;

/// Upstream's `defaultEpsilon`: the relative error allowed for sample values.
pub const DEFAULT_EPSILON: f64 = 0.000001;

/// Upstream's `almost.Equal`.
pub fn almost_equal(a: f64, b: f64, epsilon: f64) -> bool {
    if is_stale_nan(a) || is_stale_nan(b) {
        return is_stale_nan(a) && is_stale_nan(b);
    }
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    const MIN_NORMAL: f64 = f64::MIN_POSITIVE; // 2.2250738585072014e-308, Go's minNormal.
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < MIN_NORMAL {
        return diff < epsilon * MIN_NORMAL;
    }
    diff / abs_sum.min(f64::MAX) < epsilon
}

/// The check of an error when the eval expects a failure (`expect fail`, `eval_fail`).
pub fn check_expected_failure(eval: &EvalCommand, error: &str) -> Result<(), String> {
    if let Some(message) = &eval.expected_fail_message
        && message != error
    {
        return Err(format!(
            "expected error {message:?} evaluating query {:?} (line {}), but got: {error}",
            eval.query, eval.line
        ));
    }
    if let Some(regex) = &eval.expected_fail_regexp
        && !regex.is_match(error)
    {
        return Err(format!(
            "expected error matching pattern {:?} evaluating query {:?} (line {}), but got: {error}",
            regex.as_str(),
            eval.query,
            eval.line
        ));
    }
    if let Some(expected) = eval.expect.fail.first()
        && !expected.matches(error)
    {
        return Err(format!(
            "expected error matching {:?} evaluating query {:?} (line {}), but got: {error}",
            expected.to_string(),
            eval.query,
            eval.line
        ));
    }
    Ok(())
}

/// The annotation checks of a successful query.
pub fn check_annotations(eval: &EvalCommand, query: &str, annotations: &Annotations) -> Result<(), String> {
    let line = eval.line;
    if eval.legacy_warn && annotations.warnings.is_empty() {
        return Err(format!("expected warnings evaluating query {query:?} (line {line}) but got none"));
    }
    if eval.legacy_info && annotations.infos.is_empty() {
        return Err(format!(
            "expected info annotations evaluating query {query:?} (line {line}) but got none"
        ));
    }
    check_annotations_of_kind(query, line, "warn", &eval.expect.warn, &annotations.warnings, annotations)?;
    check_annotations_of_kind(query, line, "info", &eval.expect.info, &annotations.infos, annotations)?;
    if eval.expect.no_warn && !annotations.warnings.is_empty() {
        return Err(format!(
            "unexpected warning annotations evaluating query {query:?} (line {line}): {}",
            all_annotations(annotations)
        ));
    }
    if eval.expect.no_info && !annotations.infos.is_empty() {
        return Err(format!(
            "unexpected info annotations evaluating query {query:?} (line {line}): {}",
            all_annotations(annotations)
        ));
    }
    Ok(())
}

fn all_annotations(annotations: &Annotations) -> String {
    let all: Vec<&str> = annotations.warnings.iter().chain(&annotations.infos).map(String::as_str).collect();
    format!("{all:?}")
}

fn check_annotations_of_kind(
    query: &str,
    line: usize,
    kind: &str,
    expected: &[MessageMatch],
    actual: &[String],
    all: &Annotations,
) -> Result<(), String> {
    if expected.is_empty() {
        return Ok(());
    }
    if actual.is_empty() {
        return Err(format!(
            "expected {kind} annotations but none were found for query {query:?} (line {line})"
        ));
    }
    for e in expected {
        if !actual.iter().any(|a| e.matches(a)) {
            return Err(format!(
                "expected {kind} annotation matching {} {:?} but no matching annotation was found for query \
                 {query:?} (line {line}), found: {}",
                e.kind(),
                e.to_string(),
                all_annotations(all)
            ));
        }
    }
    for a in actual {
        if !expected.iter().any(|e| e.matches(a)) {
            return Err(format!("unexpected {kind} annotation {a:?} found for query {query} (line {line})"));
        }
    }
    Ok(())
}

/// Compares a query's value with the eval's expected result.
pub fn compare_result(eval: &EvalCommand, value: &Value) -> Result<(), String> {
    match value {
        Value::Matrix(matrix) => compare_matrix(eval, matrix),
        Value::Vector(vector) => compare_vector(eval, vector),
        Value::Scalar { v, .. } => {
            let Some(expected) = &eval.expected_scalar else {
                return Err(format!("expected vector or matrix result, but got scalar {v}"));
            };
            if let SequenceValue::Histogram(h) = expected {
                return Err(format!(
                    "expected histogram {} but got scalar {v}",
                    test_expression(&h.histogram)
                ));
            }
            if !almost_equal(expected.float_or_zero(), *v, DEFAULT_EPSILON) {
                return Err(format!("expected scalar {expected} but got {v}"));
            }
            Ok(())
        }
        Value::String { s, .. } => {
            if &eval.expected_string != s {
                return Err(format!("expected string \"{}\" but got \"{s}\"", eval.expected_string));
            }
            Ok(())
        }
    }
}

/// Upstream's `assertMatrixSorted`: range results must be sorted by labels.
pub fn assert_matrix_sorted(matrix: &[MatrixSeries]) -> Result<(), String> {
    for (i, pair) in matrix.windows(2).enumerate() {
        if pair[0].labels > pair[1].labels {
            return Err(format!(
                "matrix results should always be sorted by labels, but matrix is not sorted: series at index {} \
                 with labels {} sorts before series at index {i} with labels {}",
                i + 1,
                pair[1].labels,
                pair[0].labels
            ));
        }
    }
    Ok(())
}

fn format_series(series: &MatrixSeries) -> String {
    let points: Vec<String> =
        series.samples.iter().map(|s| format!("{} @[{}]", s.value, s.timestamp_ms)).collect();
    let plural = if points.len() == 1 { "" } else { "s" };
    let histograms: Vec<String> = series
        .histograms
        .iter()
        .map(|s| format!("{} @[{}]", test_expression(&s.histogram), s.timestamp_ms))
        .collect();
    let histogram_plural = if histograms.len() == 1 { "" } else { "s" };
    format!(
        "{} float point{plural} [{}] and {} histogram point{histogram_plural} [{}]",
        points.len(),
        points.join(" "),
        histograms.len(),
        histograms.join(" ")
    )
}

/// A histogram in the test notation (upstream's `TestExpression`), for messages.
pub fn test_expression(h: &FloatHistogram) -> String {
    h.to_test_notation()
}

/// Upstream's `compareNativeHistogram` (both compacted, floats within the epsilon), plus the
/// counter reset hint when the expected item states it.
pub fn histograms_match(expected: &HistogramItem, actual: &FloatHistogram) -> bool {
    (!expected.explicit_hint || expected.histogram.counter_reset_hint == actual.counter_reset_hint)
        && actual.matches_for_test(&expected.histogram)
}

fn compare_matrix(eval: &EvalCommand, matrix: &[MatrixSeries]) -> Result<(), String> {
    if eval.is_ordered() {
        return Err("expected ordered result, but query returned a matrix".into());
    }
    if eval.expected_scalar.is_some() {
        return Err(format!("expected scalar result, but got matrix with {} series", matrix.len()));
    }
    assert_matrix_sorted(matrix)?;
    for series in matrix {
        let Some(expected) = eval.expected_series.get(&series.labels) else {
            return Err(format!(
                "unexpected metric {} in result, has {}",
                series.labels,
                format_series(series)
            ));
        };
        let mut expected_points: Vec<(i64, f64)> = Vec::new();
        let mut expected_histograms: Vec<(i64, &HistogramItem)> = Vec::new();
        for (i, value) in expected.values.iter().enumerate() {
            let t = eval.start_ms.saturating_add((i as i64).saturating_mul(eval.step_ms));
            if t > eval.end_ms {
                return Err(format!(
                    "expected {} points for {}, but query time range cannot return this many points",
                    expected.values.len(),
                    series.labels
                ));
            }
            match value {
                SequenceValue::Float(v) => expected_points.push((t, *v)),
                SequenceValue::Omitted => {}
                SequenceValue::Histogram(h) => expected_histograms.push((t, h)),
            }
        }
        if expected_points.len() != series.samples.len()
            || expected_histograms.len() != series.histograms.len()
        {
            return Err(format!(
                "expected {} float points and {} histogram points for {}, but got {}",
                expected_points.len(),
                expected_histograms.len(),
                series.labels,
                format_series(series)
            ));
        }
        for (i, ((t, item), actual)) in expected_histograms.iter().zip(&series.histograms).enumerate() {
            if *t != actual.timestamp_ms {
                return Err(format!(
                    "expected histogram value at index {i} for {} to have timestamp {t}, but it had timestamp {} \
                     (result has {})",
                    series.labels,
                    actual.timestamp_ms,
                    format_series(series)
                ));
            }
            if !histograms_match(item, &actual.histogram) {
                return Err(format!(
                    "expected histogram value at index {i} (t={t}) for {} to be {}, but got {} (result has {})",
                    series.labels,
                    test_expression(&item.histogram),
                    test_expression(&actual.histogram),
                    format_series(series)
                ));
            }
        }
        for (i, ((t, v), actual)) in expected_points.iter().zip(&series.samples).enumerate() {
            if *t != actual.timestamp_ms {
                return Err(format!(
                    "expected float value at index {i} for {} to have timestamp {t}, but it had timestamp {} (result \
                     has {})",
                    series.labels,
                    actual.timestamp_ms,
                    format_series(series)
                ));
            }
            if !almost_equal(actual.value, *v, DEFAULT_EPSILON) {
                return Err(format!(
                    "expected float value at index {i} (t={t}) for {} to be {v}, but got {} (result has {})",
                    series.labels,
                    actual.value,
                    format_series(series)
                ));
            }
        }
    }
    for labels in eval.expected_series.keys() {
        if !matrix.iter().any(|s| &s.labels == labels) {
            return Err(format!("expected metric {labels} not found"));
        }
    }
    Ok(())
}

/// Compares an instant vector (also used for the range-mode re-run of an instant query).
pub fn compare_vector(eval: &EvalCommand, vector: &[InstantSample]) -> Result<(), String> {
    if eval.expected_scalar.is_some() {
        let rendered: Vec<String> = vector.iter().map(|s| format!("{} => {}", s.labels, s.v)).collect();
        return Err(format!("expected scalar result, but got vector [{}]", rendered.join(", ")));
    }
    for (position, sample) in vector.iter().enumerate() {
        let Some(expected) = eval.expected_series.get(&sample.labels) else {
            if let Some(h) = &sample.h {
                return Err(format!(
                    "unexpected metric {} in result, has value {}",
                    sample.labels,
                    test_expression(h)
                ));
            }
            return Err(format!("unexpected metric {} in result, has value {}", sample.labels, sample.v));
        };
        if eval.is_ordered() && expected.position != position + 1 {
            return Err(format!(
                "expected metric {} with {} at position {} but was at {}",
                sample.labels,
                render_values(&expected.values),
                expected.position,
                position + 1
            ));
        }
        let Some(first) = expected.values.first() else {
            return Err(format!("no expected value for {}", sample.labels));
        };
        match (first, &sample.h) {
            (SequenceValue::Histogram(item), None) => {
                return Err(format!(
                    "expected histogram {} for {} but got float value {}",
                    test_expression(&item.histogram),
                    sample.labels,
                    sample.v
                ));
            }
            (SequenceValue::Histogram(item), Some(h)) => {
                if !histograms_match(item, h) {
                    return Err(format!(
                        "expected {} for {} but got {}",
                        test_expression(&item.histogram),
                        sample.labels,
                        test_expression(h)
                    ));
                }
                continue;
            }
            (_, Some(h)) => {
                return Err(format!(
                    "expected float value {first} for {} but got histogram {}",
                    sample.labels,
                    test_expression(h)
                ));
            }
            (_, None) => {}
        }
        if !almost_equal(first.float_or_zero(), sample.v, DEFAULT_EPSILON) {
            return Err(format!("expected {first} for {} but got {}", sample.labels, sample.v));
        }
    }
    for (labels, expected) in &eval.expected_series {
        if !vector.iter().any(|s| &s.labels == labels) {
            return Err(format!(
                "expected metric {labels} with [{}] not found",
                render_values(&expected.values)
            ));
        }
    }
    Ok(())
}

fn render_values(values: &[SequenceValue]) -> String {
    values.iter().map(ToString::to_string).collect::<Vec<_>>().join(" ")
}
