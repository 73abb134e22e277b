//! Bucket boundaries and bucket iteration, as Prometheus's `getBound` and bucket iterators.
//!
//! Exponential schema `s` puts bucket `i`'s upper bound at `2^(i * 2^-s)`; bucket `i` spans
//! `(bound(i-1), bound(i)]` on the positive side and the mirror image on the negative side. The
//! last finite bucket's upper bound is `f64::MAX` so that the next bucket counts ±Inf. Custom
//! buckets (schema -53) take their upper bounds from `custom_values`, with an implicit +Inf
//! bucket after the last one and the first bucket starting at -Inf.
//!
//! The forward iterator can merge buckets down to a lower target schema (bucket `i` of schema
//! `s` goes to bucket `((i-1) >> (s-t)) + 1` of schema `t`) and skip buckets whose upper bound
//! is at most an absolute start value (used to leave out buckets inside a zero bucket).

use std::sync::LazyLock;

use super::{CUSTOM_BUCKETS_SCHEMA, FloatHistogram, Span};

/// One bucket of a histogram with its boundaries.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    pub lower: f64,
    pub upper: f64,
    pub lower_inclusive: bool,
    pub upper_inclusive: bool,
    pub count: f64,
    /// The bucket's index within its schema (irrelevant for the zero bucket).
    pub index: i32,
}

/// `frac * 2^exp` without overflow in the intermediate power (C's `ldexp`).
pub(crate) fn ldexp(frac: f64, exp: i32) -> f64 {
    let mut value = frac;
    let mut exp = exp;
    while exp > 1000 {
        value *= power_of_two(1000);
        exp -= 1000;
    }
    while exp < -1000 {
        value *= power_of_two(-1000);
        exp += 1000;
    }
    value * power_of_two(exp)
}

/// `2^exp` for `exp` in the normal range -1022..=1023.
fn power_of_two(exp: i32) -> f64 {
    f64::from_bits(((exp + 1023) as u64) << 52)
}

/// The bucket bounds in `[0.5, 1)` for schema 8 (`0.5 * 2^(i/256)`); lower schemas use every
/// `2^(8-s)`-th entry.
static SCHEMA_8_FRACTIONS: LazyLock<Vec<f64>> =
    LazyLock::new(|| (0..256).map(|i| 0.5 * (f64::from(i) / 256.0).exp2()).collect());

/// The upper bound of bucket `index` in an exponential schema.
pub(crate) fn exponential_bound(index: i32, schema: i32) -> f64 {
    if schema < 0 {
        let exp = i64::from(index) << schema.saturating_neg().min(32);
        if exp == 1024 {
            return f64::MAX;
        }
        return ldexp(1.0, exp.clamp(-2000, 2000) as i32);
    }
    let schema = schema.min(8);
    let fraction_index = index & ((1 << schema) - 1);
    let fraction = SCHEMA_8_FRACTIONS[(fraction_index as usize) << (8 - schema)];
    let exp = (index >> schema) + 1;
    if fraction == 0.5 && exp == 1025 {
        return f64::MAX;
    }
    ldexp(fraction, exp)
}

/// The upper bound of bucket `index` (Prometheus's `getBound`); custom buckets take theirs from
/// `custom_values`, with -Inf below the first and +Inf for the overflow bucket.
pub(crate) fn bucket_bound(index: i32, schema: i32, custom_values: &[f64]) -> f64 {
    if schema == CUSTOM_BUCKETS_SCHEMA {
        return match usize::try_from(index) {
            Err(_) => f64::NEG_INFINITY,
            Ok(i) => custom_values.get(i).copied().unwrap_or(f64::INFINITY),
        };
    }
    exponential_bound(index, schema)
}

/// The bucket index in `target_schema` that bucket `index` of `origin_schema` merges into.
pub(crate) fn target_index(index: i32, origin_schema: i32, target_schema: i32) -> i32 {
    (index.saturating_sub(1) >> origin_schema.saturating_sub(target_schema).clamp(0, 31)) + 1
}

/// Iterates `(index, count)` over spans and their buckets, stopping early on a layout with too
/// few buckets for its spans.
#[derive(Debug, Clone)]
pub(crate) struct RawBuckets<'a> {
    spans: &'a [Span],
    counts: &'a [f64],
    span_position: usize,
    position_in_span: u32,
    bucket_position: usize,
    index: i32,
}

impl<'a> RawBuckets<'a> {
    pub(crate) fn new(spans: &'a [Span], counts: &'a [f64]) -> Self {
        RawBuckets { spans, counts, span_position: 0, position_in_span: 0, bucket_position: 0, index: 0 }
    }
}

impl Iterator for RawBuckets<'_> {
    type Item = (i32, f64);

    fn next(&mut self) -> Option<(i32, f64)> {
        loop {
            let span = self.spans.get(self.span_position)?;
            if self.position_in_span == 0 {
                self.index = self.index.saturating_add(span.offset);
            }
            if self.position_in_span < span.length {
                let count = *self.counts.get(self.bucket_position)?;
                let index = self.index;
                self.index = self.index.saturating_add(1);
                self.position_in_span += 1;
                self.bucket_position += 1;
                return Some((index, count));
            }
            self.span_position += 1;
            self.position_in_span = 0;
        }
    }
}

/// Merges consecutive raw buckets that fall into the same bucket of a lower schema.
#[derive(Debug, Clone)]
pub(crate) struct MergedBuckets<'a> {
    raw: std::iter::Peekable<RawBuckets<'a>>,
    origin_schema: i32,
    target_schema: i32,
}

impl<'a> MergedBuckets<'a> {
    pub(crate) fn new(spans: &'a [Span], counts: &'a [f64], origin_schema: i32, target_schema: i32) -> Self {
        MergedBuckets { raw: RawBuckets::new(spans, counts).peekable(), origin_schema, target_schema }
    }
}

impl Iterator for MergedBuckets<'_> {
    type Item = (i32, f64);

    fn next(&mut self) -> Option<(i32, f64)> {
        let (index, mut count) = self.raw.next()?;
        if self.origin_schema == self.target_schema || self.origin_schema == CUSTOM_BUCKETS_SCHEMA {
            return Some((index, count));
        }
        let target = target_index(index, self.origin_schema, self.target_schema);
        while let Some(&(next_index, next_count)) = self.raw.peek() {
            if target_index(next_index, self.origin_schema, self.target_schema) != target {
                break;
            }
            count += next_count;
            self.raw.next();
        }
        Some((target, count))
    }
}

/// Builds the [`Bucket`] for `index` in `schema` on the given side.
pub(crate) fn make_bucket(
    index: i32,
    count: f64,
    schema: i32,
    positive: bool,
    custom_values: &[f64],
) -> Bucket {
    let upper = bucket_bound(index, schema, custom_values);
    let lower = bucket_bound(index.saturating_sub(1), schema, custom_values);
    let (lower, upper) = if positive { (lower, upper) } else { (-upper, -lower) };
    let (lower_inclusive, upper_inclusive) =
        if schema == CUSTOM_BUCKETS_SCHEMA { (index == 0, true) } else { (lower < 0.0, upper > 0.0) };
    Bucket { lower, upper, lower_inclusive, upper_inclusive, count, index }
}

/// The forward bucket iterator of one side (Prometheus's `floatBucketIterator`).
#[derive(Debug, Clone)]
pub struct BucketIter<'a> {
    merged: MergedBuckets<'a>,
    positive: bool,
    target_schema: i32,
    custom_values: &'a [f64],
    absolute_start_value: f64,
    reached_start_value: bool,
}

impl Iterator for BucketIter<'_> {
    type Item = Bucket;

    fn next(&mut self) -> Option<Bucket> {
        loop {
            let (index, count) = self.merged.next()?;
            if !self.reached_start_value
                && FloatHistogram::is_exponential_schema(self.target_schema)
                && exponential_bound(index, self.target_schema) <= self.absolute_start_value
            {
                continue;
            }
            self.reached_start_value = true;
            return Some(make_bucket(index, count, self.target_schema, self.positive, self.custom_values));
        }
    }
}

impl FloatHistogram {
    /// The low-level forward iterator: `positive` or negative side, skipping buckets whose
    /// absolute upper bound is ≤ `absolute_start_value` (exponential schemas only), merged down
    /// to `target_schema` (which must be ≤ the histogram's schema; a higher one is treated as
    /// the histogram's own schema).
    pub(crate) fn bucket_iter_with(
        &self,
        positive: bool,
        absolute_start_value: f64,
        target_schema: i32,
    ) -> BucketIter<'_> {
        let target_schema = if self.uses_custom_buckets() || target_schema > self.schema {
            self.schema
        } else {
            target_schema
        };
        let (spans, counts, custom_values): (&[Span], &[f64], &[f64]) = if positive {
            (&self.positive_spans, &self.positive_buckets, &self.custom_values)
        } else {
            (&self.negative_spans, &self.negative_buckets, &[])
        };
        BucketIter {
            merged: MergedBuckets::new(spans, counts, self.schema, target_schema),
            positive,
            target_schema,
            custom_values,
            absolute_start_value,
            reached_start_value: absolute_start_value == 0.0,
        }
    }

    /// The positive buckets in ascending order, starting next to the zero bucket.
    pub fn positive_bucket_iter(&self) -> BucketIter<'_> {
        self.bucket_iter_with(true, 0.0, self.schema)
    }

    /// The negative buckets in descending order, starting next to the zero bucket.
    pub fn negative_bucket_iter(&self) -> BucketIter<'_> {
        self.bucket_iter_with(false, 0.0, self.schema)
    }

    /// The positive buckets in descending order (highest first).
    pub fn positive_reverse_bucket_iter(&self) -> std::iter::Rev<std::vec::IntoIter<Bucket>> {
        self.positive_bucket_iter().collect::<Vec<_>>().into_iter().rev()
    }

    /// The negative buckets in ascending order (lowest first).
    pub fn negative_reverse_bucket_iter(&self) -> std::iter::Rev<std::vec::IntoIter<Bucket>> {
        self.negative_bucket_iter().collect::<Vec<_>>().into_iter().rev()
    }

    /// The zero bucket `[-zero_threshold, zero_threshold]`.
    pub fn zero_bucket(&self) -> Bucket {
        Bucket {
            lower: -self.zero_threshold,
            upper: self.zero_threshold,
            lower_inclusive: true,
            upper_inclusive: true,
            count: self.zero_count,
            index: 0,
        }
    }

    /// All buckets in ascending order: negative, the zero bucket (only if its count is > 0),
    /// positive. Buckets overlapping the zero bucket are clipped to the zero threshold
    /// (Prometheus's `AllBucketIterator`).
    pub fn all_bucket_iter(&self) -> std::vec::IntoIter<Bucket> {
        let mut all: Vec<Bucket> = self.negative_reverse_bucket_iter().map(|b| self.clip(b)).collect();
        if self.zero_count > 0.0 {
            all.push(self.zero_bucket());
        }
        all.extend(self.positive_bucket_iter().map(|b| self.clip(b)));
        all.into_iter()
    }

    /// All buckets in descending order (Prometheus's `AllReverseBucketIterator`).
    pub fn all_reverse_bucket_iter(&self) -> std::iter::Rev<std::vec::IntoIter<Bucket>> {
        self.all_bucket_iter().collect::<Vec<_>>().into_iter().rev()
    }

    fn clip(&self, mut bucket: Bucket) -> Bucket {
        let threshold = self.zero_threshold;
        if bucket.lower > 0.0 && bucket.lower < threshold {
            bucket.lower = threshold;
        } else if bucket.upper < 0.0 && bucket.upper > -threshold {
            bucket.upper = -threshold;
        }
        bucket
    }
}
