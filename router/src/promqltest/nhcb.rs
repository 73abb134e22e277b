//! `load_with_nhcb`: the native histograms with custom buckets (NHCB) upstream's test runner
//! derives from the classic histogram series of a load block.
//!
//! As upstream's `appendCustomHistogram`: the `x_bucket{le=...}`, `x_count` and `x_sum` float
//! series of one label set (without `le`) are collated by timestamp into one histogram series
//! `x` (the label set without `le`, named `x`), converted at each timestamp by
//! [`FloatHistogram::from_classic_parts`] (a bound given twice, as `0.2` and `2e-1`, keeps the
//! later value; the count is `x_count` or the highest bucket's, the sum `x_sum` or 0).
//! Buckets whose `le` is not a number are skipped; a conversion error fails the load, as
//! upstream.

use super::series_notation::SeriesDescription;
use crate::histogram::FloatHistogram;
use crate::store::HistogramSample;
use harrier_telemetry::model::{Labels, METRIC_NAME};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The collated classic data of one histogram at one timestamp.
#[derive(Debug, Default)]
struct Collated {
    /// (le, cumulative count), in load order.
    buckets: Vec<(f64, f64)>,
    count: Option<f64>,
    sum: Option<f64>,
}

/// What a classic series contributes.
enum Part {
    Bucket(f64),
    Count,
    Sum,
}

/// The histogram series derived from a load block's classic histograms, with their samples
/// oldest first.
pub fn convert(
    series: &[SeriesDescription],
    interval_ms: i64,
) -> Result<Vec<(Labels, Vec<HistogramSample>)>, String> {
    let mut collated: BTreeMap<Labels, BTreeMap<i64, Collated>> = BTreeMap::new();
    for description in series {
        let Some((base, part)) = classify(&description.labels) else { continue };
        let by_time = collated.entry(base).or_default();
        for sample in description.float_samples(0, interval_ms) {
            let entry = by_time.entry(sample.timestamp_ms).or_default();
            match part {
                Part::Bucket(le) => match entry.buckets.iter_mut().find(|(bound, _)| *bound == le) {
                    Some(existing) => existing.1 = sample.value,
                    None => entry.buckets.push((le, sample.value)),
                },
                Part::Count => entry.count = Some(sample.value),
                Part::Sum => entry.sum = Some(sample.value),
            }
        }
    }
    let mut out = Vec::new();
    for (labels, by_time) in collated {
        let mut samples = Vec::with_capacity(by_time.len());
        for (timestamp_ms, data) in by_time {
            if data.buckets.is_empty() {
                continue;
            }
            let histogram =
                FloatHistogram::from_classic_parts(&data.buckets, data.sum, data.count).map_err(|e| {
                    format!("converting {labels} at {timestamp_ms} ms to a native histogram: {e}")
                })?;
            samples.push(HistogramSample { timestamp_ms, histogram: Arc::new(histogram) });
        }
        if !samples.is_empty() {
            out.push((labels, samples));
        }
    }
    Ok(out)
}

/// The histogram series a classic series belongs to, and what it contributes.
fn classify(labels: &Labels) -> Option<(Labels, Part)> {
    let name = labels.metric_name()?;
    let (base, part) = if let Some(base) = name.strip_suffix("_bucket") {
        let le = parse_le(labels.get("le")?)?;
        (base, Part::Bucket(le))
    } else if let Some(base) = name.strip_suffix("_count") {
        (base, Part::Count)
    } else if let Some(base) = name.strip_suffix("_sum") {
        (base, Part::Sum)
    } else {
        return None;
    };
    let mut derived = labels.clone();
    derived.remove("le");
    derived.set(METRIC_NAME, base);
    Some((derived, part))
}

/// Go's `strconv.ParseFloat` for an `le` value (`+Inf`, `1e0`, `.2`); NaN is refused.
fn parse_le(text: &str) -> Option<f64> {
    let lower = text.to_ascii_lowercase();
    let value = match lower.as_str() {
        "+inf" | "inf" | "+infinity" | "infinity" => f64::INFINITY,
        "-inf" | "-infinity" => f64::NEG_INFINITY,
        _ => text.parse::<f64>().ok()?,
    };
    (!value.is_nan()).then_some(value)
}
