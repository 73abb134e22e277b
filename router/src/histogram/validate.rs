//! Consistency checks of a histogram received from outside (remote write, storage), as
//! Prometheus's `FloatHistogram.Validate`: spans must describe exactly the buckets given (only
//! the first span may have a negative offset), bucket and total counts must not be negative,
//! custom bounds must be finite, strictly increasing and cover the spans, and histograms with
//! custom buckets have no zero bucket and no negative side.

use super::{FloatHistogram, HistogramError, Span};

fn invalid(message: String) -> HistogramError {
    HistogramError::Invalid(message)
}

fn check_spans(
    side: &str,
    spans: &[Span],
    buckets: usize,
    first_may_be_negative: bool,
) -> Result<u64, HistogramError> {
    let mut needed = 0u64;
    let mut total_length = 0i64;
    for (n, span) in spans.iter().enumerate() {
        if span.offset < 0 && (n > 0 || !first_may_be_negative) {
            return Err(invalid(format!(
                "{side}: span number {} with offset {}: histogram has a span whose offset is negative",
                n + 1,
                span.offset
            )));
        }
        needed += u64::from(span.length);
        total_length += i64::from(span.length) + i64::from(span.offset);
    }
    if needed != buckets as u64 {
        return Err(invalid(format!(
            "{side}: spans need {needed} buckets, have {buckets} buckets: histogram spans specify different number of buckets than provided"
        )));
    }
    Ok(u64::try_from(total_length).unwrap_or(0))
}

fn check_counts(side: &str, counts: &[f64]) -> Result<(), HistogramError> {
    match counts.iter().position(|c| *c < 0.0) {
        Some(i) => Err(invalid(format!(
            "{side}: bucket number {} has observation count of {}: histogram has a bucket whose observation count is negative",
            i + 1,
            counts[i]
        ))),
        None => Ok(()),
    }
}

impl FloatHistogram {
    /// Checks the histogram's consistency (Prometheus's `Validate`); the count is not compared
    /// with the bucket total, as floating point sums may differ slightly.
    pub fn validate(&self) -> Result<(), HistogramError> {
        if self.uses_custom_buckets() {
            let side = "custom buckets";
            let mut previous = f64::NEG_INFINITY;
            for &bound in &self.custom_values {
                if bound <= previous || bound.is_nan() {
                    return Err(invalid(format!(
                        "{side}: previous bound is {previous:.6} and current is {bound:.6}: histogram custom bounds must be in strictly increasing order"
                    )));
                }
                previous = bound;
            }
            if previous == f64::INFINITY {
                return Err(invalid(format!(
                    "{side}: last +Inf bound must not be explicitly defined: histogram custom bounds must be finite"
                )));
            }
            let total_length = check_spans(side, &self.positive_spans, self.positive_buckets.len(), false)?;
            if (self.custom_values.len() as u64 + 1) < total_length {
                return Err(invalid(format!(
                    "{side}: only {} custom bounds defined which is insufficient to cover total span length of {total_length}: histogram custom bounds are too few",
                    self.custom_values.len()
                )));
            }
            if self.zero_count != 0.0 {
                return Err(invalid("histogram with custom buckets must not have a zero count".to_string()));
            }
            if self.zero_threshold != 0.0 {
                return Err(invalid(
                    "histogram with custom buckets must not have a zero threshold".to_string(),
                ));
            }
            if !self.negative_spans.is_empty() || !self.negative_buckets.is_empty() {
                return Err(invalid(
                    "histogram with custom buckets must not have negative buckets".to_string(),
                ));
            }
        } else if FloatHistogram::is_exponential_schema(self.schema) {
            check_spans("positive side", &self.positive_spans, self.positive_buckets.len(), true)?;
            check_spans("negative side", &self.negative_spans, self.negative_buckets.len(), true)?;
            check_counts("negative side", &self.negative_buckets)?;
            if self.zero_count < 0.0 {
                return Err(invalid(format!(
                    "zero bucket has observation count of {}: histogram has a bucket whose observation count is negative",
                    self.zero_count
                )));
            }
            if !self.custom_values.is_empty() {
                return Err(invalid(
                    "histogram with exponential schema must not have custom bounds".to_string(),
                ));
            }
        } else {
            return Err(invalid(format!("invalid histogram schema {}", self.schema)));
        }
        if self.count < 0.0 {
            return Err(invalid(format!(
                "observation count is  {}: histogram observation count is negative",
                self.count
            )));
        }
        check_counts("positive side", &self.positive_buckets)
    }
}
