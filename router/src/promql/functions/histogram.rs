//! Histogram functions over classic histograms: series that differ only in their `le` label
//! form one histogram, each sample a cumulative bucket count with upper bound `le`.
//!
//! - `histogram_quantile(q, v)` and `histogram_quantiles(v, label, q...)`: Prometheus's
//!   `BucketQuantile`: buckets sorted by bound, buckets with equal bounds merged, counts that
//!   differ by a relative 1e-12 or less made equal, decreasing counts lifted to the running
//!   maximum (with the "needed to be fixed for monotonicity" info), linear interpolation
//!   inside the bucket (from 0 in the first bucket if its bound is positive), the second
//!   highest bound for ranks in the +Inf bucket, NaN without a +Inf bucket or observations.
//! - `histogram_fraction(lower, upper, v)`: Prometheus's `BucketFraction`, the share of
//!   observations between the bounds by the same linear interpolation.
//!
//! A series whose `le` is missing or not a float is skipped with Prometheus's warning. Output
//! labels are the group's labels without `le` (the metric name stays, marked `drop_name`).
//!
//! Native histogram samples: `histogram_quantile(s)` and `histogram_fraction` estimate from
//! them directly (a native histogram whose labels equal a classic group's, without `le`, drops
//! both with the "mix of classic and native histograms" warning, as Prometheus's
//! `resetHistograms`); `histogram_count`, `histogram_sum`, `histogram_avg`,
//! `histogram_stddev` and `histogram_stdvar` read only native histograms (floats are ignored).

use super::numeric::{almost_equal, format_go_g, format_openmetrics_float, go_quote};
use super::{Args, FnOutput, FunctionError, ensure_unique_labelsets, metric_name, output_sample};
use crate::histogram::{FloatHistogram, NanObservations};
use crate::promql::{Annotations, InstantSample};
use harrier_telemetry::model::Labels;
use std::collections::HashMap;
use std::sync::Arc;

/// Relative differences between bucket counts this small are floating-point noise.
const SMALL_DELTA_TOLERANCE: f64 = 1e-12;

/// One classic bucket: upper bound and cumulative count.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Bucket {
    pub upper_bound: f64,
    pub count: f64,
}

/// The buckets of one classic histogram at one step.
struct ClassicHistogram {
    /// The labels without `le`, metric name included.
    labels: Labels,
    buckets: Vec<Bucket>,
}

/// Handles the functions of this module; `None` when `name` is not one of them.
pub(super) fn call(
    name: &str,
    args: &mut Args<'_>,
    t: i64,
    annotations: &mut Annotations,
) -> Result<Option<FnOutput>, FunctionError> {
    let output = match name {
        "histogram_quantile" => {
            let q = args.scalar(0)?;
            if !(0.0..=1.0).contains(&q) {
                annotations.warn(invalid_quantile_warning(q));
            }
            let (histograms, natives) = split_native(args.take_vector(1)?, annotations);
            let mut out = Vec::with_capacity(histograms.len() + natives.len());
            for (labels, h) in natives {
                let value = native_quantile(&h, q, &labels, annotations);
                out.push(output_sample(labels, t, value, true));
            }
            for h in histograms {
                let value = quantile_with_info(q, h.buckets, &h.labels, annotations);
                out.push(output_sample(h.labels, t, value, true));
            }
            out
        }
        "histogram_quantiles" => {
            let label = args.string(1)?;
            let quantiles = (2..args.len()).map(|i| args.scalar(i)).collect::<Result<Vec<_>, _>>()?;
            for q in &quantiles {
                if !(0.0..=1.0).contains(q) {
                    annotations.warn(invalid_quantile_warning(*q));
                }
            }
            let (histograms, natives) = split_native(args.take_vector(0)?, annotations);
            let mut out = Vec::with_capacity((histograms.len() + natives.len()) * quantiles.len());
            for q in quantiles {
                let q_label = format_openmetrics_float(q);
                for (labels, h) in &natives {
                    let value = native_quantile(h, q, labels, annotations);
                    let mut labels = labels.clone();
                    labels.set(&label, &q_label);
                    out.push(output_sample(labels, t, value, true));
                }
                for h in &histograms {
                    let value = quantile_with_info(q, h.buckets.clone(), &h.labels, annotations);
                    let mut labels = h.labels.clone();
                    labels.set(&label, &q_label);
                    out.push(output_sample(labels, t, value, true));
                }
            }
            ensure_unique_labelsets(&out)?;
            out
        }
        "histogram_fraction" => {
            let (lower, upper) = (args.scalar(0)?, args.scalar(1)?);
            let (histograms, natives) = split_native(args.take_vector(2)?, annotations);
            natives
                .into_iter()
                .map(|(labels, h)| {
                    if h.has_nan_observations() {
                        annotations.info(format!(
                            "PromQL info: input to histogram_fraction has NaN observations, which are excluded from all fractions for metric name {}",
                            go_quote(metric_name(&labels))
                        ));
                    }
                    output_sample(labels, t, h.fraction(lower, upper), true)
                })
                .chain(histograms.into_iter().map(|h| {
                    let value = bucket_fraction(lower, upper, h.buckets);
                    output_sample(h.labels, t, value, true)
                }))
                .collect()
        }
        "histogram_count" | "histogram_sum" | "histogram_avg" | "histogram_stddev" | "histogram_stdvar" => {
            args.take_vector(0)?
                .into_iter()
                .filter_map(|sample| {
                    let h = sample.h?;
                    let value = match name {
                        "histogram_count" => h.count,
                        "histogram_sum" => h.sum,
                        "histogram_avg" => h.avg(),
                        "histogram_stddev" => h.stddev(),
                        _ => h.stdvar(),
                    };
                    Some(output_sample(sample.labels, t, value, true))
                })
                .collect()
        }
        _ => return Ok(None),
    };
    Ok(Some(FnOutput::Vector(output)))
}

/// Prometheus's warning for a quantile outside `[0, 1]` (or NaN).
pub(crate) fn invalid_quantile_warning(q: f64) -> String {
    format!("PromQL warning: quantile value should be between 0 and 1, got {}", format_go_g(q))
}

/// A native histogram's quantile, with Prometheus's info when NaN observations affect it.
fn native_quantile(h: &FloatHistogram, q: f64, labels: &Labels, annotations: &mut Annotations) -> f64 {
    let (value, nan) = h.quantile_with_nan_info(q);
    let effect = match nan {
        NanObservations::None => return value,
        NanObservations::ResultIsNaN => "result is NaN",
        NanObservations::ResultSkewedHigher => "result is skewed higher",
    };
    annotations.info(format!(
        "PromQL info: input to histogram_quantile has NaN observations, {effect} for metric name {}",
        go_quote(metric_name(labels))
    ));
    value
}

/// Splits a vector into classic histograms (float samples grouped by their labels without `le`)
/// and native histogram samples, dropping both where a native histogram has the labels of a
/// classic group (with Prometheus's warning).
fn split_native(
    input: Vec<InstantSample>,
    annotations: &mut Annotations,
) -> (Vec<ClassicHistogram>, Vec<(Labels, Arc<FloatHistogram>)>) {
    let (native_samples, floats): (Vec<InstantSample>, Vec<InstantSample>) =
        input.into_iter().partition(|s| s.h.is_some());
    let mut histograms = group_buckets(floats, annotations);
    let mut natives = Vec::with_capacity(native_samples.len());
    for sample in native_samples {
        let Some(h) = sample.h else { continue };
        if let Some(i) = histograms.iter().position(|c| c.labels == sample.labels && !c.buckets.is_empty()) {
            let mut message =
                "PromQL warning: vector contains a mix of classic and native histograms".to_string();
            let name = metric_name(&sample.labels);
            if !name.is_empty() {
                message.push_str(&format!(" for metric name {}", go_quote(name)));
            }
            annotations.warn(message);
            histograms.remove(i);
            continue;
        }
        natives.push((sample.labels, h));
    }
    (histograms, natives)
}

/// Groups samples into classic histograms by their labels without `le`, in order of first
/// appearance; samples without a parseable `le` are skipped with a warning.
fn group_buckets(input: Vec<InstantSample>, annotations: &mut Annotations) -> Vec<ClassicHistogram> {
    let mut index: HashMap<Labels, usize> = HashMap::new();
    let mut histograms: Vec<ClassicHistogram> = Vec::new();
    for sample in input {
        let le = sample.labels.get("le").unwrap_or("");
        let Some(upper_bound) = parse_go_float(le) else {
            let name = metric_name(&sample.labels);
            let mut message = format!(
                "PromQL warning: bucket label \"le\" is missing or has a malformed value of {}",
                go_quote(le)
            );
            if !name.is_empty() {
                message.push_str(&format!(" for metric name {}", go_quote(name)));
            }
            annotations.warn(message);
            continue;
        };
        let mut labels = sample.labels;
        labels.remove("le");
        let bucket = Bucket { upper_bound, count: sample.v };
        match index.get(&labels) {
            Some(&i) => histograms[i].buckets.push(bucket),
            None => {
                index.insert(labels.clone(), histograms.len());
                histograms.push(ClassicHistogram { labels, buckets: vec![bucket] });
            }
        }
    }
    histograms
}

/// Parses a float as Go's `strconv.ParseFloat` does for the forms `le` values take
/// (`0.1`, `.2`, `1e0`, `+Inf`, `+inf`, `NaN`, ...).
fn parse_go_float(s: &str) -> Option<f64> {
    if s.is_empty() {
        return None;
    }
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    let lower = digits.to_ascii_lowercase();
    if lower == "inf" || lower == "infinity" {
        return Some(if s.starts_with('-') { f64::NEG_INFINITY } else { f64::INFINITY });
    }
    if lower == "nan" {
        return (digits.len() == s.len()).then_some(f64::NAN);
    }
    if !digits.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-')) {
        return None;
    }
    s.parse::<f64>().ok()
}

/// `bucket_quantile` plus the forced-monotonicity info.
fn quantile_with_info(q: f64, buckets: Vec<Bucket>, labels: &Labels, annotations: &mut Annotations) -> f64 {
    let (value, forced_monotonic) = bucket_quantile(q, buckets);
    if forced_monotonic {
        let name = metric_name(labels);
        let mut message = "PromQL info: input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile)".to_string();
        if !name.is_empty() {
            message.push_str(&format!(" for metric name {}", go_quote(name)));
        }
        annotations.info(message);
    }
    value
}

/// Sorts by upper bound and merges buckets with equal bounds.
fn sorted_coalesced(mut buckets: Vec<Bucket>) -> Vec<Bucket> {
    buckets.sort_by(|a, b| a.upper_bound.partial_cmp(&b.upper_bound).unwrap_or(std::cmp::Ordering::Equal));
    let mut out: Vec<Bucket> = Vec::with_capacity(buckets.len());
    for b in buckets {
        match out.last_mut() {
            Some(last) if last.upper_bound == b.upper_bound => last.count += b.count,
            _ => out.push(b),
        }
    }
    out
}

/// Makes counts monotonic: near-equal neighbours (relative `tolerance`) are made equal, then
/// decreases are lifted to the previous count. Returns whether a decrease was lifted.
fn ensure_monotonic(buckets: &mut [Bucket], tolerance: f64) -> bool {
    let mut forced = false;
    let Some(first) = buckets.first() else {
        return false;
    };
    let mut previous = first.count;
    for b in buckets.iter_mut().skip(1) {
        let current = b.count;
        if current == previous {
            continue;
        }
        if almost_equal(previous, current, tolerance) {
            b.count = previous;
            continue;
        }
        if current < previous {
            b.count = previous;
            forced = true;
            continue;
        }
        previous = current;
    }
    forced
}

/// Prometheus's `BucketQuantile`: the φ-quantile of classic buckets, and whether the counts
/// had to be forced monotonic.
pub(crate) fn bucket_quantile(q: f64, buckets: Vec<Bucket>) -> (f64, bool) {
    if q.is_nan() {
        return (f64::NAN, false);
    }
    if q < 0.0 {
        return (f64::NEG_INFINITY, false);
    }
    if q > 1.0 {
        return (f64::INFINITY, false);
    }
    let mut buckets = sorted_coalesced(buckets);
    match buckets.last() {
        Some(last) if last.upper_bound == f64::INFINITY => {}
        _ => return (f64::NAN, false),
    }
    let forced = ensure_monotonic(&mut buckets, SMALL_DELTA_TOLERANCE);
    if buckets.len() < 2 {
        return (f64::NAN, false);
    }
    let observations = buckets[buckets.len() - 1].count;
    if observations == 0.0 {
        return (f64::NAN, false);
    }
    let mut rank = q * observations;
    // The first bucket (short of the +Inf one) whose count reaches the rank.
    let b = buckets[..buckets.len() - 1]
        .iter()
        .position(|bucket| bucket.count >= rank)
        .unwrap_or(buckets.len() - 1);
    if b == buckets.len() - 1 {
        return (buckets[buckets.len() - 2].upper_bound, forced);
    }
    if b == 0 && buckets[0].upper_bound <= 0.0 {
        return (buckets[0].upper_bound, forced);
    }
    let bucket_end = buckets[b].upper_bound;
    let mut count = buckets[b].count;
    let mut bucket_start = 0.0;
    if b > 0 {
        bucket_start = buckets[b - 1].upper_bound;
        count -= buckets[b - 1].count;
        rank -= buckets[b - 1].count;
    }
    (bucket_start + (bucket_end - bucket_start) * (rank / count), forced)
}

/// Prometheus's `BucketFraction`: the fraction of observations in `(lower, upper]` of classic
/// buckets, interpolating linearly inside buckets; the first bucket starts at 0 if its bound
/// is positive, else at -Inf (contributing no partial share).
pub(crate) fn bucket_fraction(lower: f64, upper: f64, buckets: Vec<Bucket>) -> f64 {
    let buckets = sorted_coalesced(buckets);
    match buckets.last() {
        Some(last) if last.upper_bound == f64::INFINITY => {}
        _ => return f64::NAN,
    }
    let count = buckets[buckets.len() - 1].count;
    if count == 0.0 || lower.is_nan() || upper.is_nan() {
        return f64::NAN;
    }
    if lower >= upper {
        return 0.0;
    }
    let (mut rank, mut lower_rank, mut upper_rank) = (0.0, 0.0, 0.0);
    let (mut lower_set, mut upper_set) = (false, false);
    let mut lower_bound = if buckets[0].upper_bound <= 0.0 { f64::NEG_INFINITY } else { 0.0 };
    for (i, b) in buckets.iter().enumerate() {
        if i > 0 {
            lower_bound = buckets[i - 1].upper_bound;
        }
        let upper_bound = b.upper_bound;
        let interpolate = |v: f64| {
            if lower_bound == f64::NEG_INFINITY {
                b.count
            } else {
                rank + (b.count - rank) * (v - lower_bound) / (upper_bound - lower_bound)
            }
        };
        if !lower_set && lower_bound >= lower {
            lower_rank = rank;
            lower_set = true;
        }
        if !upper_set && lower_bound >= upper {
            upper_rank = rank;
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        if !lower_set && lower_bound < lower && upper_bound > lower {
            lower_rank = interpolate(lower);
            lower_set = true;
        }
        if !upper_set && lower_bound < upper && upper_bound > upper {
            upper_rank = interpolate(upper);
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        rank = b.count;
    }
    if !lower_set || lower_rank > count {
        lower_rank = count;
    }
    if !upper_set || upper_rank > count {
        upper_rank = count;
    }
    (upper_rank - lower_rank) / count
}
