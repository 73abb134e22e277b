//! The PromQL estimates over one native histogram, as Prometheus's `HistogramQuantile`,
//! `HistogramFraction` (promql/quantile.go) and `histogram_stddev`/`histogram_stdvar`/
//! `histogram_avg` (promql/functions.go).
//!
//! Quantiles and fractions interpolate linearly within custom buckets and the zero bucket, and
//! logarithmically within exponential buckets (whose boundaries are equidistant on a log
//! scale). A histogram with only positive (negative) buckets treats 0 as the lower (upper)
//! bound of its zero bucket. The variance estimate places each bucket's observations at its
//! arithmetic mean (custom buckets), at 0 (zero bucket) or at its geometric mean (exponential
//! buckets).

use super::{Bucket, FloatHistogram};

/// Adds `increment` to `sum` with Neumaier's compensation `compensation` (Prometheus's
/// `kahansum.Inc`); returns the new sum and compensation.
pub(crate) fn kahan_sum_inc(increment: f64, sum: f64, compensation: f64) -> (f64, f64) {
    let total = sum + increment;
    let compensation = if total.is_infinite() {
        0.0
    } else if sum.abs() >= increment.abs() {
        compensation + ((sum - total) + increment)
    } else {
        compensation + ((increment - total) + sum)
    };
    (total, compensation)
}

/// What NaN observations did to a quantile, for the engine's info annotations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NanObservations {
    /// No NaN observations (or the result did not depend on them).
    None,
    /// The quantile lies beyond all buckets, among the NaN observations: the result is NaN.
    ResultIsNaN,
    /// The quantile was found in a bucket, but NaN observations shifted it upwards.
    ResultSkewedHigher,
}

impl FloatHistogram {
    /// The estimated `q`-quantile (`histogram_quantile` for native histograms): -Inf for
    /// q < 0, +Inf for q > 1, NaN for NaN q or an empty histogram. See
    /// [`FloatHistogram::quantile_with_nan_info`] for the annotation about NaN observations.
    pub fn quantile(&self, q: f64) -> f64 {
        self.quantile_with_nan_info(q).0
    }

    /// [`FloatHistogram::quantile`] plus what NaN observations (a NaN sum) did to the result,
    /// for Prometheus's info annotations "input to histogram_quantile has NaN observations,
    /// result is NaN" / "..., result is skewed higher". NaN observations sit in no bucket but
    /// count; a quantile beyond all buckets is then NaN.
    pub fn quantile_with_nan_info(&self, q: f64) -> (f64, NanObservations) {
        if q < 0.0 {
            return (f64::NEG_INFINITY, NanObservations::None);
        }
        if q > 1.0 {
            return (f64::INFINITY, NanObservations::None);
        }
        if self.count == 0.0 || q.is_nan() {
            return (f64::NAN, NanObservations::None);
        }
        let value = self.quantile_of_populated(q);
        if !self.sum.is_nan() {
            (value, NanObservations::None)
        } else if value.is_nan() {
            (value, NanObservations::ResultIsNaN)
        } else {
            (value, NanObservations::ResultSkewedHigher)
        }
    }

    fn quantile_of_populated(&self, q: f64) -> f64 {
        let forward = self.sum.is_nan() || q < 0.5;
        let (buckets, mut rank): (Vec<Bucket>, f64) = if forward {
            (self.all_bucket_iter().collect(), q * self.count)
        } else {
            (self.all_reverse_bucket_iter().collect(), (1.0 - q) * self.count)
        };
        let mut bucket = Bucket {
            lower: 0.0,
            upper: 0.0,
            lower_inclusive: false,
            upper_inclusive: false,
            count: 0.0,
            index: 0,
        };
        let mut count = 0.0;
        for candidate in buckets {
            bucket = candidate;
            if bucket.count == 0.0 {
                continue;
            }
            count += bucket.count;
            if count >= rank {
                break;
            }
        }
        if !self.uses_custom_buckets() && bucket.lower < 0.0 && bucket.upper > 0.0 {
            self.clamp_zero_bucket(&mut bucket);
        } else if self.uses_custom_buckets() {
            if bucket.lower == f64::NEG_INFINITY {
                if bucket.upper <= 0.0 {
                    return bucket.upper;
                }
                bucket.lower = 0.0;
            } else if bucket.upper == f64::INFINITY {
                return bucket.lower;
            }
        }
        if count > self.count {
            count = self.count;
        }
        if count < rank {
            // Only NaN (or ±Inf) observations lie beyond the buckets.
            return if self.sum.is_nan() { f64::NAN } else { bucket.upper };
        }
        if forward {
            rank -= count - bucket.count;
        } else {
            rank = count - rank;
        }
        let fraction = rank / bucket.count;
        if self.uses_custom_buckets() || (bucket.lower <= 0.0 && bucket.upper >= 0.0) {
            return bucket.lower + (bucket.upper - bucket.lower) * fraction;
        }
        let log_lower = bucket.lower.abs().log2();
        let log_upper = bucket.upper.abs().log2();
        if bucket.lower > 0.0 {
            (log_lower + (log_upper - log_lower) * fraction).exp2()
        } else {
            -(log_upper + (log_lower - log_upper) * (1.0 - fraction)).exp2()
        }
    }

    /// With only positive (negative) buckets, the zero bucket starts (ends) at 0.
    fn clamp_zero_bucket(&self, bucket: &mut Bucket) {
        if self.negative_buckets.is_empty() && !self.positive_buckets.is_empty() {
            bucket.lower = 0.0;
        } else if self.positive_buckets.is_empty() && !self.negative_buckets.is_empty() {
            bucket.upper = 0.0;
        }
    }

    /// The estimated fraction of observations between `lower` and `upper`
    /// (`histogram_fraction`): NaN for an empty histogram or NaN bounds, 0 if lower ≥ upper.
    /// NaN observations (a NaN sum) lie outside every range, so `fraction(-Inf, +Inf)` is then
    /// below 1 (Prometheus adds the info annotation "input to histogram_fraction has NaN
    /// observations, which are excluded from all fractions"; see
    /// [`FloatHistogram::has_nan_observations`]).
    pub fn fraction(&self, lower: f64, upper: f64) -> f64 {
        if self.count == 0.0 || lower.is_nan() || upper.is_nan() {
            return f64::NAN;
        }
        if lower >= upper {
            return 0.0;
        }
        let mut rank = 0.0;
        let mut lower_rank = None;
        let mut upper_rank = None;
        for mut bucket in self.all_bucket_iter() {
            let mut zero_bucket = false;
            if bucket.lower <= 0.0 && bucket.upper >= 0.0 {
                zero_bucket = true;
                self.clamp_zero_bucket(&mut bucket);
            }
            let linear = self.uses_custom_buckets() || zero_bucket;
            let interpolate = |value: f64| -> f64 {
                if linear {
                    return rank + bucket.count * (value - bucket.lower) / (bucket.upper - bucket.lower);
                }
                let log_lower = bucket.lower.abs().log2();
                let log_upper = bucket.upper.abs().log2();
                let log_value = value.abs().log2();
                let fraction = if value > 0.0 {
                    (log_value - log_lower) / (log_upper - log_lower)
                } else {
                    1.0 - (log_value - log_upper) / (log_lower - log_upper)
                };
                rank + bucket.count * fraction
            };
            if lower_rank.is_none() && bucket.lower >= lower {
                lower_rank = Some(rank);
            }
            if upper_rank.is_none() && bucket.lower >= upper {
                upper_rank = Some(rank);
            }
            if lower_rank.is_some() && upper_rank.is_some() {
                break;
            }
            if lower_rank.is_none() && bucket.lower < lower && bucket.upper > lower {
                lower_rank = Some(interpolate(lower));
            }
            if upper_rank.is_none() && bucket.lower < upper && bucket.upper > upper {
                upper_rank = Some(interpolate(upper));
            }
            if lower_rank.is_some() && upper_rank.is_some() {
                break;
            }
            rank += bucket.count;
        }
        // Without NaN observations all observations are in buckets; with them, only the
        // bucket total counts.
        let ceiling =
            if self.sum.is_nan() { self.all_bucket_iter().map(|b| b.count).sum() } else { self.count };
        let clamp = |rank: Option<f64>| match rank {
            Some(rank) if rank <= ceiling => rank,
            _ => ceiling,
        };
        (clamp(upper_rank) - clamp(lower_rank)) / self.count
    }

    /// Whether the histogram has NaN observations (its sum is NaN), for the info annotations
    /// of `histogram_quantile` and `histogram_fraction`.
    pub fn has_nan_observations(&self) -> bool {
        self.sum.is_nan()
    }

    /// The estimated variance of the observations (`histogram_stdvar`).
    pub fn stdvar(&self) -> f64 {
        let mean = self.sum / self.count;
        let mut variance = 0.0;
        let mut compensation = 0.0;
        for bucket in self.all_bucket_iter() {
            if bucket.count == 0.0 {
                continue;
            }
            let value = if self.uses_custom_buckets() {
                (bucket.upper + bucket.lower) / 2.0
            } else if bucket.lower <= 0.0 && bucket.upper >= 0.0 {
                0.0
            } else {
                let geometric = (bucket.upper * bucket.lower).sqrt();
                if bucket.upper < 0.0 { -geometric } else { geometric }
            };
            let delta = value - mean;
            (variance, compensation) = kahan_sum_inc(bucket.count * delta * delta, variance, compensation);
        }
        (variance + compensation) / self.count
    }

    /// The estimated standard deviation of the observations (`histogram_stddev`).
    pub fn stddev(&self) -> f64 {
        self.stdvar().sqrt()
    }

    /// The mean observation, `sum / count` (`histogram_avg`).
    pub fn avg(&self) -> f64 {
        self.sum / self.count
    }
}
