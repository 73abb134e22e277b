//! Conversion of a classic histogram (cumulative `le` buckets, `_sum`, `_count`) into a native
//! histogram with custom buckets (NHCB), as Prometheus's `util/convertnhcb` does for
//! promqltest's `load_with_nhcb` and for scrapes with `convert_classic_histograms_to_nhcb`.
//!
//! Buckets are inserted by `le` (a repeated `le` is ignored, counts must stay cumulative), an
//! implicit `+Inf` bucket with the total count is added when missing, the finite bounds become
//! `custom_values`, and the cumulative counts become per-bucket counts. Integral inputs are
//! compacted keeping runs of up to two empty buckets (Prometheus builds an integer histogram
//! then), others dropping every empty bucket.

use super::{CUSTOM_BUCKETS_SCHEMA, FloatHistogram, HistogramError, Span};
use crate::histogram::notation::format_go_float as g;

fn conversion_error(message: String) -> HistogramError {
    HistogramError::ClassicConversion(message)
}

/// Inserts `(le, cumulative count)` like Prometheus's `TempHistogram.SetBucketCount`.
fn insert_bucket(buckets: &mut Vec<(f64, f64)>, le: f64, count: f64) -> Result<(), HistogramError> {
    if count < 0.0 {
        return Err(conversion_error(format!(
            "bucket count must be non-negative: le={}, count={}",
            g(le),
            g(count)
        )));
    }
    let position = buckets.partition_point(|(bound, _)| *bound < le);
    if buckets.get(position).is_some_and(|(bound, _)| *bound == le) {
        return Ok(());
    }
    if let Some(&(_, previous)) = position.checked_sub(1).and_then(|i| buckets.get(i))
        && count < previous
    {
        return Err(conversion_error(format!("count is not cumulative: {} < {}", g(count), g(previous))));
    }
    if let Some(&(_, next)) = buckets.get(position)
        && count > next
    {
        return Err(conversion_error(format!("count is not cumulative: {} > {}", g(count), g(next))));
    }
    buckets.insert(position, (le, count));
    Ok(())
}

impl FloatHistogram {
    /// Converts classic buckets `(le, cumulative count)` plus `_sum` and `_count` into a
    /// histogram with custom buckets.
    pub fn from_classic_buckets(
        buckets: &[(f64, f64)],
        sum: f64,
        count: f64,
    ) -> Result<FloatHistogram, HistogramError> {
        FloatHistogram::from_classic_parts(buckets, Some(sum), Some(count))
    }

    /// As [`FloatHistogram::from_classic_buckets`] when `_sum` or `_count` may be missing: the
    /// sum is then 0 and the count that of the highest bucket.
    pub fn from_classic_parts(
        buckets: &[(f64, f64)],
        sum: Option<f64>,
        count: Option<f64>,
    ) -> Result<FloatHistogram, HistogramError> {
        let mut sorted: Vec<(f64, f64)> = Vec::with_capacity(buckets.len() + 1);
        for &(le, bucket_count) in buckets {
            insert_bucket(&mut sorted, le, bucket_count)?;
        }
        if let Some(count) = count
            && count < 0.0
        {
            return Err(conversion_error(format!("count must be non-negative: count={}", g(count))));
        }
        let count = match (count, sorted.last()) {
            (Some(count), _) => count,
            (None, Some(&(_, highest))) => highest,
            (None, None) => 0.0,
        };
        if sorted.last().is_none_or(|(le, _)| *le != f64::INFINITY) {
            sorted.push((f64::INFINITY, count));
        }
        let integral = sorted.iter().all(|(_, c)| c.round() == *c) && count.round() == count;
        let mut per_bucket = Vec::with_capacity(sorted.len());
        let mut previous = 0.0;
        for &(_, cumulative) in &sorted {
            per_bucket.push(cumulative - previous);
            previous = cumulative;
        }
        let (last_le, last_count) = sorted.last().copied().unwrap_or((f64::INFINITY, 0.0));
        if count != last_count {
            return Err(conversion_error(format!(
                "count mismatch: count={} != le={} count={}",
                g(count),
                g(last_le),
                g(last_count)
            )));
        }
        let mut histogram = FloatHistogram {
            schema: CUSTOM_BUCKETS_SCHEMA,
            count,
            sum: sum.unwrap_or(0.0),
            positive_spans: vec![Span { offset: 0, length: per_bucket.len() as u32 }],
            positive_buckets: per_bucket,
            custom_values: sorted
                .iter()
                .map(|(le, _)| *le)
                .filter(|le| le.is_finite() || *le < 0.0)
                .collect(),
            ..FloatHistogram::default()
        };
        histogram.custom_values.retain(|le| *le != f64::INFINITY);
        histogram.compact(if integral { 2 } else { 0 });
        Ok(histogram)
    }
}
