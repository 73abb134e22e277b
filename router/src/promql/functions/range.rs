//! Functions over range vectors. Each series of the matrix argument is reduced to at most one
//! output sample, stamped at the step time and labelled with the series' labels; a series
//! with no samples in the window yields nothing. Every function but `last_over_time` and
//! `first_over_time` marks its output `drop_name`, as Prometheus's engine does.
//!
//! - `rate`, `increase`, `delta`: Prometheus 3's `extrapolatedRate`: the difference between
//!   the first and last sample (plus, for counters, every value before a reset), extrapolated
//!   to the window's boundaries when the samples come within 110 % of the average sample
//!   interval of them, else by half an interval; counters are not extrapolated below zero.
//!   `rate` and `increase` add the "might not be a counter" info for metric names without a
//!   counter suffix.
//! - `irate`, `idelta`: the last two samples.
//! - `deriv`, `predict_linear`: least-squares regression with Kahan sums.
//! - `*_over_time`: aggregations of the window's values; `sum` and `avg` use Kahan summation,
//!   `avg` switching to an incremental mean if the sum would overflow.

use super::labels::absent_labels;
use super::numeric::{kahan_inc, quantile};
use super::{Args, FnOutput, FunctionError, MatrixArg, metric_name, output_sample};
use crate::promql::{Annotations, InstantSample};
use harrier_telemetry::model::{Labels, Sample, Series, is_stale_nan};
use promql_parser::parser::Expr;

/// Handles the functions of this module; `None` when `name` is not one of them.
pub(super) fn call(
    name: &str,
    args: &mut Args<'_>,
    arg_exprs: &[Box<Expr>],
    t: i64,
    annotations: &mut Annotations,
) -> Result<Option<FnOutput>, FunctionError> {
    let output = match name {
        "rate" | "increase" | "delta" => {
            let matrix = args.take_matrix(0)?;
            let is_counter = name != "delta";
            let is_rate = name == "rate";
            let (start, end) = (matrix.range_start, matrix.range_end);
            let mut out = Vec::new();
            for series in matrix.series {
                let samples = float_samples(&series);
                if let Some(v) = extrapolated_rate(&samples, start, end, is_counter, is_rate) {
                    if is_counter {
                        possible_non_counter_info(&series.labels, annotations);
                    }
                    out.push(output_sample(series.labels, t, v, true));
                }
            }
            out
        }
        "irate" => per_series(args.take_matrix(0)?, t, true, |s| instant_value(s, true))?,
        "idelta" => per_series(args.take_matrix(0)?, t, true, |s| instant_value(s, false))?,
        "deriv" => per_series(args.take_matrix(0)?, t, true, |s| {
            (s.len() >= 2).then(|| linear_regression(s, s[0].timestamp_ms).0)
        })?,
        "predict_linear" => {
            let duration = args.scalar(1)?;
            per_series(args.take_matrix(0)?, t, true, |s| {
                (s.len() >= 2).then(|| {
                    let (slope, intercept) = linear_regression(s, t);
                    slope * duration + intercept
                })
            })?
        }
        "resets" => per_series(args.take_matrix(0)?, t, true, |s| {
            Some(s.windows(2).filter(|w| w[1].value < w[0].value).count() as f64)
        })?,
        "changes" => per_series(args.take_matrix(0)?, t, true, |s| {
            let changed =
                |w: &[Sample]| w[1].value != w[0].value && !(w[1].value.is_nan() && w[0].value.is_nan());
            Some(s.windows(2).filter(|w| changed(w)).count() as f64)
        })?,
        "avg_over_time" => per_series(args.take_matrix(0)?, t, true, |s| Some(average(s)))?,
        "sum_over_time" => per_series(args.take_matrix(0)?, t, true, |s| Some(kahan_sum(s)))?,
        "count_over_time" => per_series(args.take_matrix(0)?, t, true, |s| Some(s.len() as f64))?,
        "present_over_time" => per_series(args.take_matrix(0)?, t, true, |_| Some(1.0))?,
        "last_over_time" => per_series(args.take_matrix(0)?, t, false, |s| s.last().map(|x| x.value))?,
        "first_over_time" => per_series(args.take_matrix(0)?, t, false, |s| s.first().map(|x| x.value))?,
        "max_over_time" => per_series(args.take_matrix(0)?, t, true, |s| {
            extreme(s, |cur, best| cur > best || best.is_nan()).map(|x| x.value)
        })?,
        "min_over_time" => per_series(args.take_matrix(0)?, t, true, |s| {
            extreme(s, |cur, best| cur < best || best.is_nan()).map(|x| x.value)
        })?,
        "ts_of_max_over_time" => per_series(args.take_matrix(0)?, t, true, |s| {
            extreme(s, |cur, best| cur >= best || best.is_nan()).map(|x| seconds(x.timestamp_ms))
        })?,
        "ts_of_min_over_time" => per_series(args.take_matrix(0)?, t, true, |s| {
            extreme(s, |cur, best| cur <= best || best.is_nan()).map(|x| seconds(x.timestamp_ms))
        })?,
        "ts_of_first_over_time" => {
            per_series(args.take_matrix(0)?, t, true, |s| s.first().map(|x| seconds(x.timestamp_ms)))?
        }
        "ts_of_last_over_time" => {
            per_series(args.take_matrix(0)?, t, true, |s| s.last().map(|x| seconds(x.timestamp_ms)))?
        }
        "stddev_over_time" => per_series(args.take_matrix(0)?, t, true, |s| Some(variance(s).sqrt()))?,
        "stdvar_over_time" => per_series(args.take_matrix(0)?, t, true, |s| Some(variance(s)))?,
        "mad_over_time" => per_series(args.take_matrix(0)?, t, true, |s| Some(median_absolute_deviation(s)))?,
        "quantile_over_time" => {
            let q = args.scalar(0)?;
            let matrix = args.take_matrix(1)?;
            let out = per_series(matrix, t, true, |s| {
                let mut values: Vec<f64> = s.iter().map(|x| x.value).collect();
                Some(quantile(q, &mut values))
            })?;
            if !out.is_empty() && (q.is_nan() || !(0.0..=1.0).contains(&q)) {
                annotations.warn(super::histogram::invalid_quantile_warning(q));
            }
            out
        }
        "double_exponential_smoothing" => {
            let (smoothing, trend) = (args.scalar(1)?, args.scalar(2)?);
            let matrix = args.take_matrix(0)?;
            if matrix.series.iter().any(|s| !s.samples.is_empty()) {
                check_factor("smoothing", "sf", smoothing)?;
                check_factor("trend", "tf", trend)?;
            }
            per_series(matrix, t, true, |s| double_exponential_smoothing(s, smoothing, trend))?
        }
        "absent_over_time" => {
            let matrix = args.take_matrix(0)?;
            if matrix.series.iter().any(|s| !float_samples(s).is_empty()) {
                Vec::new()
            } else {
                let labels = arg_exprs.first().map(|e| absent_labels(e)).unwrap_or_default();
                vec![output_sample(labels, t, 1.0, false)]
            }
        }
        _ => return Ok(None),
    };
    Ok(Some(FnOutput::Vector(output)))
}

fn seconds(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

/// The samples of a series without staleness markers (the engine should not pass any, as
/// Prometheus never does; this guards the arithmetic if it does).
fn float_samples(series: &Series) -> std::borrow::Cow<'_, [Sample]> {
    if series.samples.iter().any(|s| is_stale_nan(s.value)) {
        std::borrow::Cow::Owned(series.samples.iter().filter(|s| !is_stale_nan(s.value)).copied().collect())
    } else {
        std::borrow::Cow::Borrowed(&series.samples)
    }
}

/// Applies `f` to the samples of each non-empty series, one output sample per `Some`.
fn per_series(
    matrix: MatrixArg,
    t: i64,
    drop_name: bool,
    f: impl Fn(&[Sample]) -> Option<f64>,
) -> Result<Vec<InstantSample>, FunctionError> {
    let mut out = Vec::with_capacity(matrix.series.len());
    for series in matrix.series {
        let samples = float_samples(&series);
        if samples.is_empty() {
            continue;
        }
        if let Some(v) = f(&samples) {
            out.push(output_sample(series.labels, t, v, drop_name));
        }
    }
    Ok(out)
}

/// Prometheus's info for `rate()`/`increase()` over a metric whose name lacks a counter suffix.
fn possible_non_counter_info(labels: &Labels, annotations: &mut Annotations) {
    let name = metric_name(labels);
    if name.is_empty() || ["_total", "_sum", "_count", "_bucket"].iter().any(|suffix| name.ends_with(suffix))
    {
        return;
    }
    annotations.info(format!(
        "PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: {}",
        super::numeric::go_quote(name)
    ));
}

/// Prometheus's `extrapolatedRate` for float samples in the window `(range_start, range_end]`.
/// `None` with fewer than two samples.
pub(crate) fn extrapolated_rate(
    samples: &[Sample],
    range_start: i64,
    range_end: i64,
    is_counter: bool,
    is_rate: bool,
) -> Option<f64> {
    if samples.len() < 2 {
        return None;
    }
    let first = samples[0];
    let last = samples[samples.len() - 1];
    let mut result = last.value - first.value;
    if is_counter {
        for w in samples.windows(2) {
            if w[1].value < w[0].value {
                result += w[0].value;
            }
        }
    }
    let mut duration_to_start = (first.timestamp_ms - range_start) as f64 / 1000.0;
    let mut duration_to_end = (range_end - last.timestamp_ms) as f64 / 1000.0;
    let sampled_interval = (last.timestamp_ms - first.timestamp_ms) as f64 / 1000.0;
    let average_interval = sampled_interval / (samples.len() - 1) as f64;
    let threshold = average_interval * 1.1;
    if duration_to_start >= threshold {
        duration_to_start = average_interval / 2.0;
    }
    if is_counter {
        let mut duration_to_zero = duration_to_start;
        if result > 0.0 && first.value >= 0.0 {
            duration_to_zero = sampled_interval * (first.value / result);
        }
        if duration_to_zero < duration_to_start {
            duration_to_start = duration_to_zero;
        }
    }
    if duration_to_end >= threshold {
        duration_to_end = average_interval / 2.0;
    }
    let mut factor = (sampled_interval + duration_to_start + duration_to_end) / sampled_interval;
    if is_rate {
        factor /= (range_end - range_start) as f64 / 1000.0;
    }
    Some(result * factor)
}

/// `irate` (`is_rate`) and `idelta`: from the last two samples. A counter reset makes `irate`
/// use the last value alone.
fn instant_value(samples: &[Sample], is_rate: bool) -> Option<f64> {
    let [previous, last] = samples.get(samples.len().checked_sub(2)?..)? else {
        return None;
    };
    let interval = last.timestamp_ms - previous.timestamp_ms;
    if interval == 0 {
        return None;
    }
    let mut result = last.value;
    if !is_rate || last.value >= previous.value || last.value.is_nan() || previous.value.is_nan() {
        result = last.value - previous.value;
    }
    if is_rate {
        result /= interval as f64 / 1000.0;
    }
    Some(result)
}

/// Least-squares slope and intercept (at `intercept_time`) of the samples, with x in seconds
/// relative to `intercept_time`. A constant series has slope 0 (NaN for an infinite constant).
fn linear_regression(samples: &[Sample], intercept_time: i64) -> (f64, f64) {
    let (mut n, mut sum_x, mut c_x, mut sum_y, mut c_y) = (0.0, 0.0, 0.0, 0.0, 0.0);
    let (mut sum_xy, mut c_xy, mut sum_x2, mut c_x2) = (0.0, 0.0, 0.0, 0.0);
    let init_y = samples[0].value;
    let mut const_y = true;
    for (i, sample) in samples.iter().enumerate() {
        if const_y && i > 0 && sample.value != init_y {
            const_y = false;
        }
        n += 1.0;
        let x = (sample.timestamp_ms - intercept_time) as f64 / 1e3;
        (sum_x, c_x) = kahan_inc(x, sum_x, c_x);
        (sum_y, c_y) = kahan_inc(sample.value, sum_y, c_y);
        (sum_xy, c_xy) = kahan_inc(x * sample.value, sum_xy, c_xy);
        (sum_x2, c_x2) = kahan_inc(x * x, sum_x2, c_x2);
    }
    if const_y {
        if init_y.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init_y);
    }
    sum_x += c_x;
    sum_y += c_y;
    sum_xy += c_xy;
    sum_x2 += c_x2;
    let cov_xy = sum_xy - sum_x * sum_y / n;
    let var_x = sum_x2 - sum_x * sum_x / n;
    let slope = cov_xy / var_x;
    let intercept = sum_y / n - slope * sum_x / n;
    (slope, intercept)
}

/// `avg_over_time`: the Kahan sum divided by the count, switching to an incremental mean once
/// the sum would overflow.
fn average(samples: &[Sample]) -> f64 {
    let (mut sum, mut count) = (samples[0].value, 1.0);
    let (mut mean, mut c) = (0.0, 0.0);
    let mut incremental = false;
    for (i, s) in samples[1..].iter().enumerate() {
        count = (i + 2) as f64;
        if !incremental {
            let (new_sum, new_c) = kahan_inc(s.value, sum, c);
            if !new_sum.is_infinite() {
                (sum, c) = (new_sum, new_c);
                continue;
            }
            incremental = true;
            mean = sum / (count - 1.0);
            c /= count - 1.0;
        }
        let q = (count - 1.0) / count;
        (mean, c) = kahan_inc(s.value / count, q * mean, q * c);
    }
    if incremental { mean + c } else { sum / count + c / count }
}

/// `sum_over_time`: Kahan sum.
fn kahan_sum(samples: &[Sample]) -> f64 {
    let (mut sum, mut c) = (0.0, 0.0);
    for s in samples {
        (sum, c) = kahan_inc(s.value, sum, c);
    }
    if sum.is_infinite() { sum } else { sum + c }
}

/// The population variance, by Welford's method with Kahan-compensated accumulators.
fn variance(samples: &[Sample]) -> f64 {
    let mut count = 0.0;
    let (mut mean, mut c_mean, mut aux, mut c_aux) = (0.0, 0.0, 0.0, 0.0);
    for s in samples {
        count += 1.0;
        let delta = s.value - (mean + c_mean);
        (mean, c_mean) = kahan_inc(delta / count, mean, c_mean);
        (aux, c_aux) = kahan_inc(delta * (s.value - (mean + c_mean)), aux, c_aux);
    }
    (aux + c_aux) / count
}

/// The median of the absolute deviations from the median; NaN if any value is NaN (the median
/// is undefined then).
fn median_absolute_deviation(samples: &[Sample]) -> f64 {
    if samples.iter().any(|s| s.value.is_nan()) {
        return f64::NAN;
    }
    let mut values: Vec<f64> = samples.iter().map(|s| s.value).collect();
    let median = quantile(0.5, &mut values);
    let mut deviations: Vec<f64> = samples.iter().map(|s| (s.value - median).abs()).collect();
    quantile(0.5, &mut deviations)
}

/// The sample that wins `better(candidate, best)` scanning from the first.
fn extreme(samples: &[Sample], better: impl Fn(f64, f64) -> bool) -> Option<Sample> {
    let mut best = *samples.first()?;
    for s in samples {
        if better(s.value, best.value) {
            best = *s;
        }
    }
    Some(best)
}

fn check_factor(what: &str, short: &str, factor: f64) -> Result<(), FunctionError> {
    if factor <= 0.0 || factor >= 1.0 {
        return Err(FunctionError::Invalid(format!(
            "invalid {what} factor. Expected: 0 < {short} < 1, got: {}",
            super::numeric::format_go_f(factor)
        )));
    }
    Ok(())
}

/// Holt's double exponential smoothing; `None` with fewer than two samples.
fn double_exponential_smoothing(samples: &[Sample], smoothing: f64, trend_factor: f64) -> Option<f64> {
    if samples.len() < 2 {
        return None;
    }
    let mut s0 = 0.0;
    let mut s1 = samples[0].value;
    let mut b = samples[1].value - samples[0].value;
    for (i, sample) in samples.iter().enumerate().skip(1) {
        let x = smoothing * sample.value;
        if i > 1 {
            b = trend_factor * (s1 - s0) + (1.0 - trend_factor) * b;
        }
        let y = (1.0 - smoothing) * (s1 + b);
        s0 = s1;
        s1 = x + y;
    }
    Some(s1)
}
