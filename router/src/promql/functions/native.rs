//! Range-vector functions over native histogram samples, as Prometheus 3's `functions.go`.
//!
//! [`call_range`] runs before the float implementations in `range.rs`: it takes every series
//! of the matrix argument that has histogram samples in the window, computes what the function
//! gives for it (or leaves its floats to `range.rs` where the float path applies), and returns
//! the histogram-derived outputs. The rules:
//!
//! - `rate`, `increase`, `delta`: Prometheus's `histogramRate` (the last histogram minus the
//!   first at the lowest schema, plus the value before every counter reset for counters), then
//!   the float path's extrapolation (the zero point from the histograms' counts). A window with
//!   floats and histograms warns "encountered a mix of histograms and floats"; gauge
//!   histograms under `rate`/`increase` warn "not a counter", counter histograms under `delta`
//!   "not a gauge". The result is a gauge histogram.
//! - `irate`, `idelta`: the last two samples; two histograms give a histogram (for `irate`, the
//!   last one alone after a counter reset), a float and a histogram the mix warning.
//! - `sum_over_time`, `avg_over_time`: histogram sum or mean; mixed windows warn and yield
//!   nothing.
//! - `count_over_time`, `present_over_time`, `changes`, `resets`, `ts_of_first_over_time`,
//!   `ts_of_last_over_time`, `last_over_time`, `first_over_time`, `absent_over_time`: over both
//!   kinds of samples.
//! - the float-only functions (`min_over_time`, `stddev_over_time`, `deriv`, ...): histograms
//!   are ignored, with the "ignored histograms in a range containing both floats and
//!   histograms" info when the window has floats too.

use super::{Args, FunctionError, output_sample};
use crate::histogram::{CounterResetHint, FloatHistogram, HistogramError};
use crate::promql::{Annotations, InstantSample};
use crate::store::HistogramSample;
use harrier_telemetry::model::{Labels, Sample, Series};
use std::sync::Arc;

/// Functions that only read float samples: histograms are dropped from their windows.
const FLOAT_ONLY: &[&str] = &[
    "deriv",
    "predict_linear",
    "max_over_time",
    "min_over_time",
    "ts_of_max_over_time",
    "ts_of_min_over_time",
    "stddev_over_time",
    "stdvar_over_time",
    "mad_over_time",
    "quantile_over_time",
    "double_exponential_smoothing",
];

/// Handles the histogram samples of a range function's matrix argument (see the module doc);
/// `None` when the function takes no range vector or the window holds no histograms. The
/// series left in the matrix (float samples only) are for `range.rs`.
pub(super) fn call_range(
    name: &str,
    args: &mut Args<'_>,
    t: i64,
    annotations: &mut Annotations,
) -> Result<Option<Vec<InstantSample>>, FunctionError> {
    let matrix_index = if name == "quantile_over_time" { 1 } else { 0 };
    let Some(super::FnArg::Matrix { series, histograms, range_start, range_end }) =
        args.values.get_mut(matrix_index)
    else {
        return Ok(None);
    };
    if histograms.iter().all(Vec::is_empty) {
        return Ok(None);
    }
    let (range_start, range_end) = (*range_start, *range_end);
    let all_series = std::mem::take(series);
    let all_histograms = std::mem::take(histograms);
    let mut kept = Vec::with_capacity(all_series.len());
    let mut out = Vec::new();
    for (i, floats) in all_series.into_iter().enumerate() {
        let hs = all_histograms.get(i).map(Vec::as_slice).unwrap_or(&[]);
        if hs.is_empty() {
            kept.push(floats);
            continue;
        }
        let name_of = metric_name_of(&floats.labels);
        let window = Window { range_start, range_end, t };
        if let Some(left) = one_series(name, floats, hs, &name_of, window, &mut out, annotations)? {
            kept.push(left);
        }
    }
    if name == "absent_over_time" {
        // Some series has samples: nothing is absent.
        kept.clear();
    }
    if let Some(super::FnArg::Matrix { series, .. }) = args.values.get_mut(matrix_index) {
        *series = kept;
    }
    Ok(Some(out))
}

#[derive(Clone, Copy)]
struct Window {
    range_start: i64,
    range_end: i64,
    t: i64,
}

fn metric_name_of(labels: &Labels) -> String {
    labels.metric_name().unwrap_or("").to_string()
}

fn mix_warning(name: &str) -> String {
    format!("PromQL warning: encountered a mix of histograms and floats for metric name {}", quote(name))
}

fn quote(s: &str) -> String {
    super::numeric::go_quote(s)
}

/// One series with histograms: pushes its output, or returns the series for the float path.
fn one_series(
    function: &str,
    floats: Series,
    hs: &[HistogramSample],
    metric: &str,
    w: Window,
    out: &mut Vec<InstantSample>,
    annotations: &mut Annotations,
) -> Result<Option<Series>, FunctionError> {
    let labels = floats.labels.clone();
    let has_floats = !floats.samples.is_empty();
    let t = w.t;
    match function {
        "rate" | "increase" | "delta" => {
            if has_floats {
                annotations.warn(mix_warning(metric));
                return Ok(None);
            }
            if hs.len() < 2 {
                return Ok(None);
            }
            let is_counter = function != "delta";
            if let Some(h) = histogram_rate(hs, is_counter, metric, annotations) {
                let h = extrapolate(h, hs, w, is_counter, function == "rate");
                out.push(InstantSample::histogram(labels, t, Arc::new(h), true));
            }
            Ok(None)
        }
        "irate" | "idelta" => {
            let last_two = last_two_samples(&floats.samples, hs);
            match last_two.as_slice() {
                [Point::Float(_), Point::Float(_)] => Ok(Some(floats)),
                [Point::Histogram(previous), Point::Histogram(last)] => {
                    if let Some(h) =
                        instant_histogram(previous, last, function == "irate", metric, annotations)
                    {
                        out.push(InstantSample::histogram(labels, t, Arc::new(h), true));
                    }
                    Ok(None)
                }
                [_, _] => {
                    annotations.warn(mix_warning(metric));
                    Ok(None)
                }
                _ => Ok(None),
            }
        }
        "sum_over_time" | "avg_over_time" => {
            if has_floats {
                annotations.warn(mix_warning(metric));
                return Ok(None);
            }
            if let Some(h) = sum_histograms(hs, function == "avg_over_time", annotations) {
                out.push(InstantSample::histogram(labels, t, Arc::new(h), true));
            }
            Ok(None)
        }
        "count_over_time" => {
            out.push(output_sample(labels, t, (floats.samples.len() + hs.len()) as f64, true));
            Ok(None)
        }
        "present_over_time" => {
            out.push(output_sample(labels, t, 1.0, true));
            Ok(None)
        }
        "absent_over_time" => Ok(None),
        "last_over_time" | "ts_of_last_over_time" => {
            let last_float = floats.samples.last().map(|s| s.timestamp_ms);
            let last_histogram = hs.last();
            match (last_float, last_histogram) {
                (Some(ft), Some(h)) if ft > h.timestamp_ms => Ok(Some(floats)),
                (_, Some(h)) => {
                    if function == "last_over_time" {
                        out.push(InstantSample::histogram(labels, t, h.histogram.clone(), false));
                    } else {
                        out.push(output_sample(labels, t, h.timestamp_ms as f64 / 1000.0, true));
                    }
                    Ok(None)
                }
                _ => Ok(Some(floats)),
            }
        }
        "first_over_time" | "ts_of_first_over_time" => {
            let first_float = floats.samples.first().map(|s| s.timestamp_ms);
            let first_histogram = hs.first();
            match (first_float, first_histogram) {
                (Some(ft), Some(h)) if ft < h.timestamp_ms => Ok(Some(floats)),
                (_, Some(h)) => {
                    if function == "first_over_time" {
                        out.push(InstantSample::histogram(labels, t, h.histogram.clone(), false));
                    } else {
                        out.push(output_sample(labels, t, h.timestamp_ms as f64 / 1000.0, true));
                    }
                    Ok(None)
                }
                _ => Ok(Some(floats)),
            }
        }
        "changes" | "resets" => {
            let points = merged(&floats.samples, hs);
            let mut count = 0usize;
            for pair in points.windows(2) {
                let hit = match (&pair[0], &pair[1]) {
                    (Point::Float(a), Point::Float(b)) => {
                        if function == "changes" {
                            a.value != b.value && !(a.value.is_nan() && b.value.is_nan())
                        } else {
                            b.value < a.value
                        }
                    }
                    (Point::Histogram(a), Point::Histogram(b)) => {
                        if function == "changes" {
                            !b.histogram.equals(&a.histogram)
                        } else {
                            b.histogram.detect_reset(&a.histogram)
                        }
                    }
                    // A change of sample type counts as a change and as a reset.
                    _ => true,
                };
                if hit {
                    count += 1;
                }
            }
            out.push(output_sample(labels, t, count as f64, true));
            Ok(None)
        }
        f if FLOAT_ONLY.contains(&f) => {
            if has_floats {
                annotations.info(format!(
                    "PromQL info: ignored histograms in a range containing both floats and histograms for metric name {}",
                    quote(metric)
                ));
                Ok(Some(floats))
            } else {
                Ok(None)
            }
        }
        _ => Ok(Some(floats)),
    }
}

/// A sample of either kind.
enum Point<'a> {
    Float(Sample),
    Histogram(&'a HistogramSample),
}

impl Point<'_> {
    fn timestamp_ms(&self) -> i64 {
        match self {
            Point::Float(s) => s.timestamp_ms,
            Point::Histogram(h) => h.timestamp_ms,
        }
    }
}

/// Floats and histograms in timestamp order.
fn merged<'a>(floats: &[Sample], hs: &'a [HistogramSample]) -> Vec<Point<'a>> {
    let mut points: Vec<Point<'a>> =
        floats.iter().map(|s| Point::Float(*s)).chain(hs.iter().map(Point::Histogram)).collect();
    points.sort_by_key(Point::timestamp_ms);
    points
}

fn last_two_samples<'a>(floats: &[Sample], hs: &'a [HistogramSample]) -> Vec<Point<'a>> {
    let mut points = merged(floats, hs);
    let from = points.len().saturating_sub(2);
    points.drain(..from);
    points
}

/// Prometheus's `histogramRate`: the increase from the first to the last histogram, at the
/// lowest schema, with counter resets accounted for when `is_counter`. A counter that changed
/// once between exponential and custom buckets restarted there (a counter reset): its increase
/// counts from the first histogram of the new kind. Changing back and forth has no increase.
fn histogram_rate(
    hs: &[HistogramSample],
    is_counter: bool,
    metric: &str,
    annotations: &mut Annotations,
) -> Option<FloatHistogram> {
    let custom = hs[hs.len() - 1].histogram.uses_custom_buckets();
    let same_kind_from =
        hs.iter().rposition(|h| h.histogram.uses_custom_buckets() != custom).map_or(0, |i| i + 1);
    if same_kind_from == 0 {
        return same_kind_rate(hs, is_counter, metric, annotations);
    }
    if !is_counter || hs[..same_kind_from].iter().any(|h| h.histogram.uses_custom_buckets() == custom) {
        annotations.warn(mixed_schemas_warning(metric));
        return None;
    }
    let restart = &hs[same_kind_from..];
    let mut h = if restart.len() >= 2 {
        same_kind_rate(restart, is_counter, metric, annotations)?
    } else {
        let mut zero = (*restart[0].histogram).clone();
        zero.mul(0.0);
        zero
    };
    h.add(&restart[0].histogram).ok()?;
    h.counter_reset_hint = CounterResetHint::Gauge;
    h.compact(0);
    Some(h)
}

/// [`histogram_rate`] over histograms of one kind (exponential or custom buckets).
fn same_kind_rate(
    hs: &[HistogramSample],
    is_counter: bool,
    metric: &str,
    annotations: &mut Annotations,
) -> Option<FloatHistogram> {
    let first = &hs[0].histogram;
    let last = &hs[hs.len() - 1].histogram;
    let custom = first.uses_custom_buckets();
    let mut min_schema = first.schema.min(last.schema);
    if last.uses_custom_buckets() != custom {
        annotations.warn(mixed_schemas_warning(metric));
        return None;
    }
    for current in &hs[1..hs.len() - 1] {
        let current = &current.histogram;
        if !is_counter {
            continue;
        }
        if current.counter_reset_hint == CounterResetHint::Gauge {
            annotations.warn(not_counter_warning(metric));
        }
        min_schema = min_schema.min(current.schema);
        if current.uses_custom_buckets() != custom {
            annotations.warn(mixed_schemas_warning(metric));
            return None;
        }
    }
    if is_counter
        && (first.counter_reset_hint == CounterResetHint::Gauge
            || last.counter_reset_hint == CounterResetHint::Gauge)
    {
        annotations.warn(not_counter_warning(metric));
    }
    let mut h = last.copy_to_schema(min_schema).ok()?;
    match h.sub(first) {
        Ok(outcome) => {
            if outcome.nhcb_bounds_reconciled {
                annotations.info("PromQL info: mismatched custom buckets were reconciled during subtraction");
            }
        }
        Err(HistogramError::IncompatibleSchema) => {
            annotations.warn(mixed_schemas_warning(metric));
            return None;
        }
        Err(_) => return None,
    }
    if is_counter {
        let mut previous = first;
        for current in &hs[1..] {
            let current = &current.histogram;
            if current.detect_reset(previous) && h.add(previous).is_err() {
                return None;
            }
            previous = current;
        }
    } else if first.counter_reset_hint != CounterResetHint::Gauge
        || last.counter_reset_hint != CounterResetHint::Gauge
    {
        annotations.warn(not_gauge_warning(metric));
    }
    h.counter_reset_hint = CounterResetHint::Gauge;
    h.compact(0);
    Some(h)
}

/// The float path's extrapolation of `extrapolatedRate`, applied to a histogram increase.
fn extrapolate(
    mut h: FloatHistogram,
    hs: &[HistogramSample],
    w: Window,
    is_counter: bool,
    is_rate: bool,
) -> FloatHistogram {
    let first_t = hs[0].timestamp_ms;
    let last_t = hs[hs.len() - 1].timestamp_ms;
    let mut duration_to_start = (first_t - w.range_start) as f64 / 1000.0;
    let mut duration_to_end = (w.range_end - last_t) as f64 / 1000.0;
    let sampled_interval = (last_t - first_t) as f64 / 1000.0;
    let average_between = sampled_interval / (hs.len() - 1) as f64;
    let threshold = average_between * 1.1;
    if duration_to_start >= threshold {
        duration_to_start = average_between / 2.0;
    }
    if is_counter && h.count > 0.0 && hs[0].histogram.count >= 0.0 {
        let duration_to_zero = sampled_interval * (hs[0].histogram.count / h.count);
        if duration_to_zero < duration_to_start {
            duration_to_start = duration_to_zero;
        }
    }
    if duration_to_end >= threshold {
        duration_to_end = average_between / 2.0;
    }
    let mut factor = (sampled_interval + duration_to_start + duration_to_end) / sampled_interval;
    if is_rate {
        factor /= (w.range_end - w.range_start) as f64 / 1000.0;
    }
    h.mul(factor);
    h
}

/// `irate`/`idelta` of two histograms (Prometheus's `instantValue`).
fn instant_histogram(
    previous: &HistogramSample,
    last: &HistogramSample,
    is_rate: bool,
    metric: &str,
    annotations: &mut Annotations,
) -> Option<FloatHistogram> {
    let mut h = (*last.histogram).clone();
    let reset = is_rate && last.histogram.detect_reset(&previous.histogram);
    if !reset {
        match h.sub(&previous.histogram) {
            Ok(outcome) => {
                if outcome.nhcb_bounds_reconciled {
                    annotations
                        .info("PromQL info: mismatched custom buckets were reconciled during subtraction");
                }
            }
            Err(HistogramError::IncompatibleSchema) => {
                annotations.warn(mixed_schemas_warning(metric));
                return None;
            }
            Err(_) => return None,
        }
    }
    let gauge = |x: &FloatHistogram| x.counter_reset_hint == CounterResetHint::Gauge;
    if is_rate && (gauge(&last.histogram) || gauge(&previous.histogram)) {
        annotations.warn(not_counter_warning(metric));
    }
    if !is_rate && (!gauge(&last.histogram) || !gauge(&previous.histogram)) {
        annotations.warn(not_gauge_warning(metric));
    }
    h.counter_reset_hint = CounterResetHint::Gauge;
    h.compact(0);
    if is_rate {
        let interval = (last.timestamp_ms - previous.timestamp_ms) as f64 / 1000.0;
        if interval == 0.0 {
            return None;
        }
        h.div(interval);
    }
    Some(h)
}

/// The sum (or mean) of histograms, as `sum_over_time`/`avg_over_time`.
fn sum_histograms(
    hs: &[HistogramSample],
    mean: bool,
    annotations: &mut Annotations,
) -> Option<FloatHistogram> {
    let mut sum = (*hs[0].histogram).clone();
    let mut compensation = None;
    let mut hints = HintsSeen::default();
    hints.see(&sum);
    for h in &hs[1..] {
        hints.see(&h.histogram);
        match sum.kahan_add(&h.histogram, compensation.take()) {
            Ok((next, outcome)) => {
                compensation = Some(next);
                hints.collision |= outcome.counter_reset_collision;
                if outcome.nhcb_bounds_reconciled {
                    annotations
                        .info("PromQL info: mismatched custom buckets were reconciled during aggregation");
                }
            }
            Err(HistogramError::IncompatibleSchema) => {
                annotations.warn(
                    "PromQL warning: vector contains a mix of histograms with exponential and custom buckets schemas",
                );
                return None;
            }
            Err(_) => return None,
        }
    }
    if hints.conflict() {
        annotations.warn("PromQL warning: conflicting counter resets during histogram aggregation");
    }
    if let Some(compensation) = compensation {
        let _ = sum.add(&compensation);
    }
    if mean {
        if overflowed(&sum) {
            let inputs: Vec<&FloatHistogram> = hs.iter().map(|h| &*h.histogram).collect();
            if let Some(mean) = incremental_mean(&inputs) {
                return Some(keep_finite_fields(mean, sum, hs.len() as f64));
            }
        }
        sum.div(hs.len() as f64);
    }
    sum.compact(0);
    Some(sum)
}

fn mixed_schemas_warning(metric: &str) -> String {
    format!(
        "PromQL warning: vector contains a mix of histograms with exponential and custom buckets schemas for metric name {}",
        quote(metric)
    )
}

fn not_counter_warning(metric: &str) -> String {
    format!("PromQL warning: this native histogram metric is not a counter: {}", quote(metric))
}

fn not_gauge_warning(metric: &str) -> String {
    format!("PromQL warning: this native histogram metric is not a gauge: {}", quote(metric))
}

/// Whether a sum of histograms overflowed (an infinite count or sum).
pub(crate) fn overflowed(sum: &FloatHistogram) -> bool {
    sum.count.is_infinite() || sum.sum.is_infinite()
}

/// An incremental mean with the fields whose compensated sum stayed finite taken from
/// `sum / n` (more precise than the incremental mean).
pub(crate) fn keep_finite_fields(
    mut mean: FloatHistogram,
    mut sum: FloatHistogram,
    n: f64,
) -> FloatHistogram {
    sum.div(n);
    let pick = |m: &mut f64, s: f64| {
        if s.is_finite() {
            *m = s;
        }
    };
    pick(&mut mean.count, sum.count);
    pick(&mut mean.sum, sum.sum);
    pick(&mut mean.zero_count, sum.zero_count);
    sum.compact(0);
    if mean.positive_spans == sum.positive_spans && mean.negative_spans == sum.negative_spans {
        for (m, s) in mean.positive_buckets.iter_mut().zip(&sum.positive_buckets) {
            pick(m, *s);
        }
        for (m, s) in mean.negative_buckets.iter_mut().zip(&sum.negative_buckets) {
            pick(m, *s);
        }
    }
    mean
}

/// The mean of histograms computed incrementally (`mean += h/n - mean/n`), for sums that
/// overflow; `None` if the histograms cannot be added, or if an input is itself infinite.
pub(crate) fn incremental_mean(histograms: &[&FloatHistogram]) -> Option<FloatHistogram> {
    let (first, rest) = histograms.split_first()?;
    if histograms.iter().any(|h| h.count.is_infinite() || h.sum.is_infinite()) {
        return None;
    }
    let mut mean = (*first).clone();
    for (i, h) in rest.iter().enumerate() {
        let n = (i + 2) as f64;
        let mut term = (*h).clone();
        term.div(n);
        let mut correction = mean.clone();
        correction.div(n);
        term.sub(&correction).ok()?;
        mean.add(&term).ok()?;
    }
    mean.compact(0);
    Some(mean)
}

/// The counter reset hints met while summing histograms: a `CounterReset` and a
/// `NotCounterReset` among the inputs (in any order, gauges in between or not) conflict.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct HintsSeen {
    reset: bool,
    not_reset: bool,
    /// An addition reported a collision itself.
    pub collision: bool,
}

impl HintsSeen {
    pub(crate) fn see(&mut self, h: &FloatHistogram) {
        match h.counter_reset_hint {
            CounterResetHint::CounterReset => self.reset = true,
            CounterResetHint::NotCounterReset => self.not_reset = true,
            _ => {}
        }
    }

    pub(crate) fn conflict(&self) -> bool {
        self.collision || (self.reset && self.not_reset)
    }
}
