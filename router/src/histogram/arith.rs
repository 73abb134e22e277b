//! Histogram arithmetic, as Prometheus's `FloatHistogram` methods: `add`/`sub` (reconciling
//! schemas, zero buckets, custom bounds and counter reset hints), `mul`/`div`, `compact`,
//! `reduce_resolution`/`copy_to_schema`, `detect_reset` and `equals`.
//!
//! Bucket layouts are handled as ordered `(index, count)` sequences: merging two layouts, or
//! merging buckets down to a lower schema, is a merge of two sorted sequences, and spans are
//! rebuilt from the resulting indices (consecutive indices share a span). This yields the same
//! buckets as Prometheus's in-place span surgery; span boundaries may differ only where
//! Prometheus would leave adjacent spans with offset 0, which describe the same layout.

use super::buckets::{MergedBuckets, RawBuckets, exponential_bound};
use super::{CounterResetHint, FloatHistogram, HistogramError, Span};

/// What an addition or subtraction had to reconcile, for the engine's annotations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AddOutcome {
    /// One histogram said "counter reset" and the other "not counter reset"; the result's hint
    /// is then `Unknown` (Prometheus warns).
    pub counter_reset_collision: bool,
    /// Custom bucket bounds differed and were reduced to their intersection (Prometheus
    /// reports "mismatched custom buckets were reconciled").
    pub nhcb_bounds_reconciled: bool,
}

/// Builds spans and counts from `(index, count)` pairs in ascending index order.
pub(crate) fn build_layout(pairs: impl IntoIterator<Item = (i32, f64)>) -> (Vec<Span>, Vec<f64>) {
    let mut spans: Vec<Span> = Vec::new();
    let mut counts = Vec::new();
    let mut next_index = 0i32;
    for (index, count) in pairs {
        match spans.last_mut() {
            Some(span) if index == next_index => span.length += 1,
            Some(_) => spans.push(Span { offset: index.saturating_sub(next_index), length: 1 }),
            None => spans.push(Span { offset: index, length: 1 }),
        }
        counts.push(count);
        next_index = index.saturating_add(1);
    }
    (spans, counts)
}

/// Merges two ascending `(index, count)` sequences, adding counts of equal indices (`b`'s
/// negated when `negate`).
fn merge_pairs(a: Vec<(i32, f64)>, b: Vec<(i32, f64)>, negate: bool) -> Vec<(i32, f64)> {
    let mut merged = Vec::with_capacity(a.len() + b.len());
    let mut a = a.into_iter().peekable();
    let mut b = b.into_iter().map(|(i, c)| (i, if negate { -c } else { c })).peekable();
    loop {
        match (a.peek().copied(), b.peek().copied()) {
            (Some((ia, ca)), Some((ib, cb))) => {
                if ia < ib {
                    merged.push((ia, ca));
                    a.next();
                } else if ib < ia {
                    merged.push((ib, cb));
                    b.next();
                } else {
                    merged.push((ia, ca + cb));
                    a.next();
                    b.next();
                }
            }
            (Some(pair), None) => {
                merged.push(pair);
                a.next();
            }
            (None, Some(pair)) => {
                merged.push(pair);
                b.next();
            }
            (None, None) => return merged,
        }
    }
}

/// Whether two sides have identical, consistent layouts (spans covering exactly the counts).
fn same_layout(a: (&[Span], &[f64]), b: (&[Span], &[f64])) -> bool {
    a.0 == b.0
        && a.1.len() == b.1.len()
        && a.0.iter().map(|span| u64::from(span.length)).sum::<u64>() == a.1.len() as u64
}

/// Whether the first bucket of `spans` lies above an exponential zero `threshold` (so that
/// addition skips none of them).
fn first_bucket_above(spans: &[Span], schema: i32, threshold: f64) -> bool {
    if threshold <= 0.0 {
        return true;
    }
    let mut index = 0i32;
    for span in spans {
        index = index.saturating_add(span.offset);
        if span.length > 0 {
            return exponential_bound(index, schema) > threshold;
        }
    }
    true
}

fn add_in_place(counts: &mut [f64], other: &[f64], sign: f64) {
    for (count, increment) in counts.iter_mut().zip(other) {
        *count += sign * increment;
    }
}

/// Whether two custom bound lists are identical (Prometheus's `CustomBucketBoundsMatch`).
pub(crate) fn custom_bounds_match(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

/// The bounds present in both lists.
pub(super) fn intersect_bounds(a: &[f64], b: &[f64]) -> Vec<f64> {
    let (mut i, mut j) = (0, 0);
    let mut result = Vec::new();
    while i < a.len() && j < b.len() {
        if a[i] == b[j] {
            result.push(a[i]);
            i += 1;
            j += 1;
        } else if a[i] < b[j] {
            i += 1;
        } else {
            j += 1;
        }
    }
    result
}

/// Maps custom buckets onto the coarser `intersected` bounds: each bucket goes to the first
/// intersected bucket whose upper bound is ≥ its own (the +Inf bucket last).
pub(super) fn map_custom_buckets(
    spans: &[Span],
    counts: &[f64],
    bounds: &[f64],
    intersected: &[f64],
    target: &mut [f64],
) {
    let mut intersect_position = 0;
    let last = target.len().saturating_sub(1);
    for (index, count) in RawBuckets::new(spans, counts) {
        let mut target_position = last;
        if let Some(&bound) = usize::try_from(index).ok().and_then(|i| bounds.get(i)) {
            while intersect_position < intersected.len() {
                if intersected[intersect_position] >= bound {
                    target_position = intersect_position;
                    break;
                }
                intersect_position += 1;
            }
        }
        if let Some(slot) = target.get_mut(target_position) {
            *slot += count;
        }
    }
}

/// Whether the two span lists describe the same sequence of bucket indices.
fn spans_match(a: &[Span], b: &[Span]) -> bool {
    let indices = |spans: &[Span]| {
        let mut index = 0i32;
        let mut out = Vec::new();
        for span in spans {
            index = index.saturating_add(span.offset);
            for _ in 0..span.length {
                out.push(index);
                index = index.saturating_add(1);
            }
        }
        out
    };
    indices(a) == indices(b)
}

/// Prometheus's `almost.Equal` with promqltest's epsilon 1e-6.
fn almost_equal(a: f64, b: f64) -> bool {
    const EPSILON: f64 = 1e-6;
    if (a.is_nan() && b.is_nan()) || a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < f64::MIN_POSITIVE {
        return diff < EPSILON * f64::MIN_POSITIVE;
    }
    diff / abs_sum.min(f64::MAX) < EPSILON
}

fn bits_match(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

/// Reduces a bucket layout from `origin` to the lower `target` schema.
pub(super) fn reduce_layout(
    spans: &[Span],
    counts: &[f64],
    origin: i32,
    target: i32,
) -> (Vec<Span>, Vec<f64>) {
    build_layout(MergedBuckets::new(spans, counts, origin, target))
}

/// Drops empty buckets and re-splits spans at runs of more than `max_empty_buckets` empty
/// buckets; shorter runs between populated buckets stay inside one span.
fn compact_layout(spans: &[Span], counts: &[f64], max_empty_buckets: usize) -> (Vec<Span>, Vec<f64>) {
    let mut new_spans: Vec<Span> = Vec::new();
    let mut new_counts = Vec::new();
    let max_empty_buckets = i64::try_from(max_empty_buckets).unwrap_or(i64::MAX);
    let mut next_index = 0i64;
    for (index, count) in RawBuckets::new(spans, counts) {
        if count == 0.0 {
            continue;
        }
        let index = i64::from(index);
        let gap = index - next_index;
        match new_spans.last_mut() {
            Some(span) if gap <= max_empty_buckets => {
                span.length =
                    span.length.saturating_add(u32::try_from(gap).unwrap_or(u32::MAX)).saturating_add(1);
                new_counts.extend(std::iter::repeat_n(0.0, gap as usize));
            }
            Some(_) => new_spans.push(Span { offset: i32::try_from(gap).unwrap_or(i32::MAX), length: 1 }),
            None => new_spans.push(Span { offset: index as i32, length: 1 }),
        }
        new_counts.push(count);
        next_index = index + 1;
    }
    (new_spans, new_counts)
}

impl FloatHistogram {
    /// Adds `other` to this histogram (Prometheus's `Add`). Schemas are reduced to the lower
    /// of the two, zero buckets are widened to cover both, custom bounds that differ are
    /// reduced to their intersection. Mixing exponential and custom buckets is an error. The
    /// result may hold empty buckets; call [`FloatHistogram::compact`] to drop them.
    pub fn add(&mut self, other: &FloatHistogram) -> Result<AddOutcome, HistogramError> {
        self.add_or_sub(other, false)
    }

    /// Subtracts `other` (Prometheus's `Sub`), with the same reconciliation and counter reset
    /// hint logic as [`FloatHistogram::add`]; the PromQL `-` operator sets the result's hint to
    /// `Gauge` afterwards.
    pub fn sub(&mut self, other: &FloatHistogram) -> Result<AddOutcome, HistogramError> {
        self.add_or_sub(other, true)
    }

    fn add_or_sub(&mut self, other: &FloatHistogram, negate: bool) -> Result<AddOutcome, HistogramError> {
        if self.uses_custom_buckets() != other.uses_custom_buckets() {
            return Err(HistogramError::IncompatibleSchema);
        }
        let sign = if negate { -1.0 } else { 1.0 };
        let mut outcome = AddOutcome {
            counter_reset_collision: self.adjust_counter_reset(other),
            nhcb_bounds_reconciled: false,
        };
        if !self.uses_custom_buckets() {
            let other_zero_count = self.reconcile_zero_buckets(other);
            self.zero_count += sign * other_zero_count;
        }
        self.count += sign * other.count;
        self.sum += sign * other.sum;

        if self.uses_custom_buckets() {
            if custom_bounds_match(&self.custom_values, &other.custom_values) {
                if same_layout(
                    (&self.positive_spans, &self.positive_buckets),
                    (&other.positive_spans, &other.positive_buckets),
                ) {
                    add_in_place(&mut self.positive_buckets, &other.positive_buckets, sign);
                    return Ok(outcome);
                }
                let mine: Vec<_> = RawBuckets::new(&self.positive_spans, &self.positive_buckets).collect();
                let theirs: Vec<_> =
                    RawBuckets::new(&other.positive_spans, &other.positive_buckets).collect();
                (self.positive_spans, self.positive_buckets) =
                    build_layout(merge_pairs(mine, theirs, negate));
            } else {
                outcome.nhcb_bounds_reconciled = true;
                let intersected = intersect_bounds(&self.custom_values, &other.custom_values);
                let mut target = vec![0.0; intersected.len() + 1];
                map_custom_buckets(
                    &self.positive_spans,
                    &self.positive_buckets,
                    &self.custom_values,
                    &intersected,
                    &mut target,
                );
                let mut theirs = vec![0.0; intersected.len() + 1];
                map_custom_buckets(
                    &other.positive_spans,
                    &other.positive_buckets,
                    &other.custom_values,
                    &intersected,
                    &mut theirs,
                );
                for (slot, value) in target.iter_mut().zip(theirs) {
                    *slot += sign * value;
                }
                (self.positive_spans, self.positive_buckets) = build_layout(
                    target.into_iter().enumerate().filter(|(_, c)| *c != 0.0).map(|(i, c)| (i as i32, c)),
                );
                self.custom_values = intersected;
            }
            return Ok(outcome);
        }

        if other.schema < self.schema {
            (self.positive_spans, self.positive_buckets) =
                reduce_layout(&self.positive_spans, &self.positive_buckets, self.schema, other.schema);
            (self.negative_spans, self.negative_buckets) =
                reduce_layout(&self.negative_spans, &self.negative_buckets, self.schema, other.schema);
            self.schema = other.schema;
        }
        for positive in [true, false] {
            let (spans, counts) = if positive {
                (&mut self.positive_spans, &mut self.positive_buckets)
            } else {
                (&mut self.negative_spans, &mut self.negative_buckets)
            };
            let (other_spans, other_counts) = if positive {
                (&other.positive_spans, &other.positive_buckets)
            } else {
                (&other.negative_spans, &other.negative_buckets)
            };
            // Fast path: the same layout and no bucket of `other` inside the zero bucket.
            if other.schema == self.schema
                && same_layout((spans, counts), (other_spans, other_counts))
                && first_bucket_above(other_spans, self.schema, self.zero_threshold)
            {
                add_in_place(counts, other_counts, sign);
                continue;
            }
            let theirs = other.side_pairs_above(positive, self.schema, self.zero_threshold);
            let mine: Vec<_> = RawBuckets::new(spans, counts).collect();
            (*spans, *counts) = build_layout(merge_pairs(mine, theirs, negate));
        }
        Ok(outcome)
    }

    /// One side's buckets merged down to `schema`, leaving out the leading buckets whose upper
    /// bound is ≤ `threshold` (they belong to the zero bucket).
    pub(super) fn side_pairs_above(&self, positive: bool, schema: i32, threshold: f64) -> Vec<(i32, f64)> {
        let (spans, counts) = if positive {
            (&self.positive_spans, &self.positive_buckets)
        } else {
            (&self.negative_spans, &self.negative_buckets)
        };
        let mut below_threshold = true;
        MergedBuckets::new(spans, counts, self.schema, schema.min(self.schema))
            .filter(|&(index, _)| {
                if below_threshold
                    && FloatHistogram::is_exponential_schema(schema)
                    && exponential_bound(index, schema) <= threshold
                {
                    return false;
                }
                below_threshold = false;
                true
            })
            .collect()
    }

    /// The counter reset hint of a sum or difference (Prometheus's `adjustCounterReset`);
    /// returns whether "reset" met "not reset".
    pub(super) fn adjust_counter_reset(&mut self, other: &FloatHistogram) -> bool {
        use CounterResetHint::*;
        match (self.counter_reset_hint, other.counter_reset_hint) {
            (mine, theirs) if mine == theirs => false,
            (Gauge, _) => false,
            (_, Gauge) => {
                self.counter_reset_hint = Gauge;
                false
            }
            (Unknown, _) => false,
            (_, Unknown) => {
                self.counter_reset_hint = Unknown;
                false
            }
            _ => {
                self.counter_reset_hint = Unknown;
                true
            }
        }
    }

    /// What the zero count would be with the larger `threshold`, and the threshold actually
    /// needed so that it does not cut through a populated bucket.
    fn zero_count_for_larger_threshold(&self, threshold: f64) -> (f64, f64) {
        let mut threshold = threshold;
        if threshold == self.zero_threshold {
            return (self.zero_count, threshold);
        }
        'outer: loop {
            let mut count = self.zero_count;
            for bucket in self.positive_bucket_iter() {
                if bucket.lower >= threshold {
                    break;
                }
                count += bucket.count;
                if bucket.upper > threshold {
                    if bucket.count != 0.0 {
                        threshold = bucket.upper;
                    }
                    break;
                }
            }
            for bucket in self.negative_bucket_iter() {
                if bucket.upper <= -threshold {
                    break;
                }
                count += bucket.count;
                if bucket.lower < -threshold {
                    if bucket.count != 0.0 {
                        threshold = -bucket.lower;
                        continue 'outer;
                    }
                    break;
                }
            }
            return (count, threshold);
        }
    }

    /// Drops the buckets inside the zero bucket (their counts are already in the zero count).
    fn trim_buckets_in_zero_bucket(&mut self) {
        let threshold = self.zero_threshold;
        let inside = self.positive_bucket_iter().take_while(|b| b.lower < threshold).count();
        for count in self.positive_buckets.iter_mut().take(inside) {
            *count = 0.0;
        }
        let inside = self.negative_bucket_iter().take_while(|b| b.upper > -threshold).count();
        for count in self.negative_buckets.iter_mut().take(inside) {
            *count = 0.0;
        }
        self.compact(0);
    }

    /// Widens this histogram's zero bucket to cover `other`'s and returns the zero count
    /// `other` would have with the common threshold.
    pub(super) fn reconcile_zero_buckets(&mut self, other: &FloatHistogram) -> f64 {
        let mut other_zero_count = other.zero_count;
        let mut other_threshold = other.zero_threshold;
        // Each round only ever widens a threshold to a bucket boundary, so this terminates;
        // the bound guards against NaN thresholds.
        for _ in 0..10_000 {
            if other_threshold == self.zero_threshold {
                break;
            }
            if self.zero_threshold > other_threshold {
                (other_zero_count, other_threshold) =
                    other.zero_count_for_larger_threshold(self.zero_threshold);
            }
            if other_threshold > self.zero_threshold {
                (self.zero_count, self.zero_threshold) =
                    self.zero_count_for_larger_threshold(other_threshold);
                self.trim_buckets_in_zero_bucket();
            }
            if self.zero_threshold.is_nan() || other_threshold.is_nan() {
                break;
            }
        }
        other_zero_count
    }

    /// Scales all counts and the sum by `factor`; a negative factor makes it a gauge.
    pub fn mul(&mut self, factor: f64) -> &mut Self {
        self.zero_count *= factor;
        self.count *= factor;
        self.sum *= factor;
        self.positive_buckets.iter_mut().chain(self.negative_buckets.iter_mut()).for_each(|c| *c *= factor);
        if factor < 0.0 {
            self.counter_reset_hint = CounterResetHint::Gauge;
        }
        self
    }

    /// Divides all counts and the sum by `divisor`. Dividing by zero sets count, sum and zero
    /// count to ±Inf/NaN and removes all buckets, as Prometheus does; a negative divisor makes
    /// it a gauge.
    pub fn div(&mut self, divisor: f64) -> &mut Self {
        self.zero_count /= divisor;
        self.count /= divisor;
        self.sum /= divisor;
        if divisor == 0.0 {
            self.positive_buckets.clear();
            self.negative_buckets.clear();
            self.positive_spans.clear();
            self.negative_spans.clear();
            return self;
        }
        self.positive_buckets.iter_mut().chain(self.negative_buckets.iter_mut()).for_each(|c| *c /= divisor);
        if divisor < 0.0 {
            self.counter_reset_hint = CounterResetHint::Gauge;
        }
        self
    }

    /// Removes empty buckets, keeping runs of at most `max_empty_buckets` empty buckets between
    /// populated ones inside a span (Prometheus's `Compact`). The kept runs are materialised,
    /// so a huge `max_empty_buckets` on far-apart buckets allocates accordingly.
    pub fn compact(&mut self, max_empty_buckets: usize) -> &mut Self {
        (self.positive_spans, self.positive_buckets) =
            compact_layout(&self.positive_spans, &self.positive_buckets, max_empty_buckets);
        (self.negative_spans, self.negative_buckets) =
            compact_layout(&self.negative_spans, &self.negative_buckets, max_empty_buckets);
        self
    }

    /// Merges buckets down to the lower `target_schema` in place (Prometheus's
    /// `ReduceResolution`).
    pub fn reduce_resolution(&mut self, target_schema: i32) -> Result<&mut Self, HistogramError> {
        if self.uses_custom_buckets() {
            return Err(HistogramError::ReduceCustomBuckets);
        }
        if target_schema == super::CUSTOM_BUCKETS_SCHEMA {
            return Err(HistogramError::ReduceToCustomBuckets);
        }
        if target_schema >= self.schema {
            return Err(HistogramError::ReduceToHigherSchema { from: self.schema, to: target_schema });
        }
        (self.positive_spans, self.positive_buckets) =
            reduce_layout(&self.positive_spans, &self.positive_buckets, self.schema, target_schema);
        (self.negative_spans, self.negative_buckets) =
            reduce_layout(&self.negative_spans, &self.negative_buckets, self.schema, target_schema);
        self.schema = target_schema;
        Ok(self)
    }

    /// A copy at the lower (or equal) `target_schema` (Prometheus's `CopyToSchema`; like it,
    /// a reduced copy has an unknown counter reset hint).
    pub fn copy_to_schema(&self, target_schema: i32) -> Result<FloatHistogram, HistogramError> {
        if target_schema == self.schema {
            return Ok(self.clone());
        }
        if self.uses_custom_buckets() {
            return Err(HistogramError::ReduceCustomBuckets);
        }
        if target_schema == super::CUSTOM_BUCKETS_SCHEMA {
            return Err(HistogramError::ReduceToCustomBuckets);
        }
        if target_schema > self.schema {
            return Err(HistogramError::ReduceToHigherSchema { from: self.schema, to: target_schema });
        }
        let (positive_spans, positive_buckets) =
            reduce_layout(&self.positive_spans, &self.positive_buckets, self.schema, target_schema);
        let (negative_spans, negative_buckets) =
            reduce_layout(&self.negative_spans, &self.negative_buckets, self.schema, target_schema);
        Ok(FloatHistogram {
            counter_reset_hint: CounterResetHint::Unknown,
            schema: target_schema,
            zero_threshold: self.zero_threshold,
            zero_count: self.zero_count,
            count: self.count,
            sum: self.sum,
            positive_spans,
            negative_spans,
            positive_buckets,
            negative_buckets,
            custom_values: Vec::new(),
        })
    }

    /// Whether this histogram follows `previous` only after a counter reset (Prometheus's
    /// `DetectReset`): the hint decides if it is `CounterReset` or `NotCounterReset`;
    /// otherwise a lower count, zero count or bucket count, a vanished populated bucket, a
    /// higher schema or a lower zero threshold is a reset.
    pub fn detect_reset(&self, previous: &FloatHistogram) -> bool {
        match self.counter_reset_hint {
            CounterResetHint::CounterReset => return true,
            CounterResetHint::NotCounterReset => return false,
            CounterResetHint::Unknown | CounterResetHint::Gauge => {}
        }
        if self.count < previous.count {
            return true;
        }
        if self.uses_custom_buckets() {
            if !previous.uses_custom_buckets() {
                return true;
            }
            if !custom_bounds_match(&self.custom_values, &previous.custom_values) {
                return self.detect_reset_with_mismatched_bounds(previous);
            }
        }
        if self.schema > previous.schema {
            return true;
        }
        if self.zero_threshold < previous.zero_threshold {
            return true;
        }
        let (previous_zero_count, threshold) = previous.zero_count_for_larger_threshold(self.zero_threshold);
        if threshold != self.zero_threshold {
            return true;
        }
        if self.zero_count < previous_zero_count {
            return true;
        }
        [true, false].into_iter().any(|positive| {
            let current = self.side_pairs_above(positive, self.schema, self.zero_threshold);
            let before = previous.side_pairs_above(positive, self.schema, self.zero_threshold);
            side_was_reset(&current, &before)
        })
    }

    /// Reset detection between histograms with different custom bounds: compares cumulative
    /// rolled-up counts at every bound both share.
    fn detect_reset_with_mismatched_bounds(&self, previous: &FloatHistogram) -> bool {
        let shared = intersect_bounds(&self.custom_values, &previous.custom_values);
        let mut current = vec![0.0; shared.len() + 1];
        map_custom_buckets(
            &self.positive_spans,
            &self.positive_buckets,
            &self.custom_values,
            &shared,
            &mut current,
        );
        let mut before = vec![0.0; shared.len() + 1];
        map_custom_buckets(
            &previous.positive_spans,
            &previous.positive_buckets,
            &previous.custom_values,
            &shared,
            &mut before,
        );
        current.iter().zip(&before).any(|(now, then)| now < then)
    }

    /// Whether this (actual) histogram matches `expected` as promqltest compares them: both
    /// compacted (empty buckets dropped), same schema, zero threshold and custom bounds,
    /// counts, sum and buckets equal within promqltest's relative epsilon (1e-6; NaN matches
    /// NaN). The counter reset hint is not compared.
    pub fn matches_for_test(&self, expected: &FloatHistogram) -> bool {
        let (mut actual, mut expected) = (self.clone(), expected.clone());
        actual.compact(0);
        expected.compact(0);
        let close =
            |a: &[f64], b: &[f64]| a.len() == b.len() && a.iter().zip(b).all(|(x, y)| almost_equal(*x, *y));
        actual.schema == expected.schema
            && almost_equal(actual.count, expected.count)
            && almost_equal(actual.sum, expected.sum)
            && (!actual.uses_custom_buckets()
                || custom_bounds_match(&actual.custom_values, &expected.custom_values))
            && actual.zero_threshold == expected.zero_threshold
            && almost_equal(actual.zero_count, expected.zero_count)
            && spans_match(&actual.negative_spans, &expected.negative_spans)
            && close(&actual.negative_buckets, &expected.negative_buckets)
            && spans_match(&actual.positive_spans, &expected.positive_spans)
            && close(&actual.positive_buckets, &expected.positive_buckets)
    }

    /// Exact equality as Prometheus's `Equals`: counts, sum and buckets compared by bit pattern
    /// (so NaN equals NaN), spans by the bucket layout they describe.
    pub fn equals(&self, other: &FloatHistogram) -> bool {
        if self.schema != other.schema
            || self.count.to_bits() != other.count.to_bits()
            || self.sum.to_bits() != other.sum.to_bits()
        {
            return false;
        }
        if self.uses_custom_buckets() && !custom_bounds_match(&self.custom_values, &other.custom_values) {
            return false;
        }
        self.zero_threshold == other.zero_threshold
            && self.zero_count.to_bits() == other.zero_count.to_bits()
            && spans_match(&self.negative_spans, &other.negative_spans)
            && bits_match(&self.negative_buckets, &other.negative_buckets)
            && spans_match(&self.positive_spans, &other.positive_spans)
            && bits_match(&self.positive_buckets, &other.positive_buckets)
    }
}

/// Whether a populated bucket of `before` is missing or smaller in `current` (both ascending).
fn side_was_reset(current: &[(i32, f64)], before: &[(i32, f64)]) -> bool {
    let mut current = current.iter().peekable();
    for &(index, count) in before {
        while current.next_if(|(i, _)| *i < index).is_some() {}
        match current.peek() {
            Some(&&(i, now)) if i == index => {
                if now < count {
                    return true;
                }
            }
            _ => {
                if count != 0.0 {
                    return true;
                }
            }
        }
    }
    false
}
