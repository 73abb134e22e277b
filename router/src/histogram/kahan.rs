//! Kahan-compensated histogram addition, as Prometheus's `FloatHistogram.KahanAdd`, used by
//! the `sum` and `avg` aggregations and `sum_over_time`/`avg_over_time`.
//!
//! The running compensation is itself a histogram with the sum's schema, zero threshold,
//! custom bounds, counter reset hint and bucket layout; every count (buckets, zero bucket,
//! count, sum) is added with Neumaier's variant of Kahan summation. When the sum's layout has
//! to change (lower schema, wider zero bucket, intersected custom bounds) the compensation
//! follows it. Callers finish with `sum.add(&compensation)`, as Prometheus does.

use std::collections::BTreeMap;

use super::arith::{build_layout, custom_bounds_match, intersect_bounds, map_custom_buckets, reduce_layout};
use super::buckets::RawBuckets;
use super::quantile::kahan_sum_inc;
use super::{AddOutcome, FloatHistogram, HistogramError};

/// Bucket counts by bucket index, in ascending index order.
type IndexedCounts = Vec<(i32, f64)>;

/// Adds `other` bucket-wise into `sum` with the compensation `compensation`; returns the new
/// sum and compensation pairs, both over the union of the indices.
fn kahan_merge(
    sum: impl IntoIterator<Item = (i32, f64)>,
    compensation: impl IntoIterator<Item = (i32, f64)>,
    other: impl IntoIterator<Item = (i32, f64)>,
) -> (IndexedCounts, IndexedCounts) {
    let mut merged: BTreeMap<i32, (f64, f64)> = BTreeMap::new();
    for (index, count) in sum {
        merged.entry(index).or_default().0 += count;
    }
    for (index, count) in compensation {
        merged.entry(index).or_default().1 += count;
    }
    for (index, count) in other {
        let entry = merged.entry(index).or_default();
        *entry = kahan_sum_inc(count, entry.0, entry.1);
    }
    merged.into_iter().map(|(index, (s, c))| ((index, s), (index, c))).unzip()
}

impl FloatHistogram {
    /// An empty histogram with this one's schema, zero threshold, custom bounds and hint.
    fn empty_like(&self) -> FloatHistogram {
        FloatHistogram {
            counter_reset_hint: self.counter_reset_hint,
            schema: self.schema,
            zero_threshold: self.zero_threshold,
            custom_values: self.custom_values.clone(),
            ..FloatHistogram::default()
        }
    }

    /// Moves the buckets inside `threshold` into the zero bucket (plain addition; for the
    /// compensation, whose populated buckets must not move the threshold).
    fn absorb_into_zero_bucket(&mut self, threshold: f64) {
        if threshold <= self.zero_threshold {
            return;
        }
        let inside_positive = self.positive_bucket_iter().take_while(|b| b.lower < threshold).count();
        let inside_negative = self.negative_bucket_iter().take_while(|b| b.upper > -threshold).count();
        let absorbed: f64 = self.positive_buckets.iter().take(inside_positive).sum::<f64>()
            + self.negative_buckets.iter().take(inside_negative).sum::<f64>();
        self.zero_count += absorbed;
        let positive: Vec<_> =
            RawBuckets::new(&self.positive_spans, &self.positive_buckets).skip(inside_positive).collect();
        let negative: Vec<_> =
            RawBuckets::new(&self.negative_spans, &self.negative_buckets).skip(inside_negative).collect();
        (self.positive_spans, self.positive_buckets) = build_layout(positive);
        (self.negative_spans, self.negative_buckets) = build_layout(negative);
        self.zero_threshold = threshold;
    }

    /// Adds `other` with Kahan compensation (Prometheus's `KahanAdd`): `compensation` is the
    /// compensation returned by the previous call (`None` at the start); the new one is
    /// returned. Finish a summation with `sum.add(&compensation)`. Errors and reconciliation
    /// as [`FloatHistogram::add`].
    pub fn kahan_add(
        &mut self,
        other: &FloatHistogram,
        compensation: Option<FloatHistogram>,
    ) -> Result<(FloatHistogram, AddOutcome), HistogramError> {
        if self.uses_custom_buckets() != other.uses_custom_buckets() {
            return Err(HistogramError::IncompatibleSchema);
        }
        let mut compensation = compensation.unwrap_or_else(|| self.empty_like());
        let aligned = compensation.uses_custom_buckets() == self.uses_custom_buckets()
            && compensation.schema == self.schema
            && compensation.zero_threshold == self.zero_threshold
            && custom_bounds_match(&compensation.custom_values, &self.custom_values);
        if !aligned {
            // A compensation from elsewhere: fold it in and start afresh (one that cannot be
            // added mixes schemas and is dropped).
            let _ = self.add(&compensation);
            compensation = self.empty_like();
        }
        let mut outcome = AddOutcome {
            counter_reset_collision: self.adjust_counter_reset(other),
            nhcb_bounds_reconciled: false,
        };

        if self.uses_custom_buckets() {
            if custom_bounds_match(&self.custom_values, &other.custom_values) {
                let (sum, comp) = kahan_merge(
                    RawBuckets::new(&self.positive_spans, &self.positive_buckets),
                    RawBuckets::new(&compensation.positive_spans, &compensation.positive_buckets),
                    RawBuckets::new(&other.positive_spans, &other.positive_buckets),
                );
                (self.positive_spans, self.positive_buckets) = build_layout(sum);
                (compensation.positive_spans, compensation.positive_buckets) = build_layout(comp);
            } else {
                outcome.nhcb_bounds_reconciled = true;
                let intersected = intersect_bounds(&self.custom_values, &other.custom_values);
                let mapped = |histogram: &FloatHistogram| {
                    let mut target = vec![0.0; intersected.len() + 1];
                    map_custom_buckets(
                        &histogram.positive_spans,
                        &histogram.positive_buckets,
                        &histogram.custom_values,
                        &intersected,
                        &mut target,
                    );
                    target
                };
                let (sum, comp, theirs) = (mapped(self), mapped(&compensation), mapped(other));
                let (sum, comp) = kahan_merge(
                    (0i32..).zip(sum),
                    (0i32..).zip(comp),
                    (0i32..).zip(theirs).filter(|(_, c)| *c != 0.0),
                );
                let keep: Vec<bool> =
                    sum.iter().zip(&comp).map(|((_, s), (_, c))| *s != 0.0 || *c != 0.0).collect();
                let filter = |pairs: Vec<(i32, f64)>| -> Vec<(i32, f64)> {
                    pairs.into_iter().zip(&keep).filter(|(_, k)| **k).map(|(p, _)| p).collect()
                };
                (self.positive_spans, self.positive_buckets) = build_layout(filter(sum));
                (compensation.positive_spans, compensation.positive_buckets) = build_layout(filter(comp));
                self.custom_values = intersected.clone();
                compensation.custom_values = intersected;
            }
        } else {
            if other.schema < self.schema {
                for histogram in [&mut *self, &mut compensation] {
                    (histogram.positive_spans, histogram.positive_buckets) = reduce_layout(
                        &histogram.positive_spans,
                        &histogram.positive_buckets,
                        histogram.schema,
                        other.schema,
                    );
                    (histogram.negative_spans, histogram.negative_buckets) = reduce_layout(
                        &histogram.negative_spans,
                        &histogram.negative_buckets,
                        histogram.schema,
                        other.schema,
                    );
                    histogram.schema = other.schema;
                }
            }
            let other_zero_count = self.reconcile_zero_buckets(other);
            compensation.absorb_into_zero_bucket(self.zero_threshold);
            (self.zero_count, compensation.zero_count) =
                kahan_sum_inc(other_zero_count, self.zero_count, compensation.zero_count);
            for positive in [true, false] {
                let theirs = other.side_pairs_above(positive, self.schema, self.zero_threshold);
                let (sum, comp) = if positive {
                    kahan_merge(
                        RawBuckets::new(&self.positive_spans, &self.positive_buckets),
                        RawBuckets::new(&compensation.positive_spans, &compensation.positive_buckets),
                        theirs,
                    )
                } else {
                    kahan_merge(
                        RawBuckets::new(&self.negative_spans, &self.negative_buckets),
                        RawBuckets::new(&compensation.negative_spans, &compensation.negative_buckets),
                        theirs,
                    )
                };
                let (sum, comp) = (build_layout(sum), build_layout(comp));
                if positive {
                    (
                        (self.positive_spans, self.positive_buckets),
                        (compensation.positive_spans, compensation.positive_buckets),
                    ) = (sum, comp);
                } else {
                    (
                        (self.negative_spans, self.negative_buckets),
                        (compensation.negative_spans, compensation.negative_buckets),
                    ) = (sum, comp);
                }
            }
        }
        (self.count, compensation.count) = kahan_sum_inc(other.count, self.count, compensation.count);
        (self.sum, compensation.sum) = kahan_sum_inc(other.sum, self.sum, compensation.sum);
        compensation.counter_reset_hint = self.counter_reset_hint;
        compensation.schema = self.schema;
        compensation.zero_threshold = self.zero_threshold;
        Ok((compensation, outcome))
    }
}
