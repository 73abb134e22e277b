//! Native histograms (Prometheus's float histograms): the value type the store keeps for
//! histogram samples and the PromQL engine computes with.
//!
//! Semantics follow Prometheus's `model/histogram/float_histogram.go` and `generic.go`:
//! exponential schemas -4..=8 (bucket boundaries at powers of `2^(2^-schema)`), a zero bucket,
//! positive and negative buckets as spans + absolute counts, and schema -53 for custom bucket
//! boundaries (NHCB) listed in `custom_values`.
//!
//! The implementation is split by concern:
//! - [`buckets`]: bucket boundaries (`getBound`) and the bucket iterators;
//! - [`arith`]: addition, subtraction, scaling, compaction, resolution reduction, reset
//!   detection and equality;
//! - [`quantile`]: the PromQL estimates (`histogram_quantile`, `histogram_fraction`,
//!   `histogram_stddev`/`histogram_stdvar`, `histogram_avg`);
//! - [`notation`]: the promqltest literal `{{schema:1 sum:3 buckets:[1 2]}}`, its printing and
//!   the `{{...}}+{{...}}x3` series expansion;
//! - [`kahan`]: Kahan-compensated addition for `sum`/`avg` and their `_over_time` forms;
//! - [`validate`]: consistency checks of histograms received from outside;
//! - [`classic`]: conversion of classic `le` buckets to a histogram with custom buckets (NHCB).

mod arith;
mod buckets;
mod classic;
mod kahan;
mod notation;
mod quantile;
mod validate;

#[cfg(test)]
mod tests;

pub use arith::AddOutcome;
pub use buckets::{Bucket, BucketIter};
pub use quantile::NanObservations;

/// Prometheus's counter reset hint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CounterResetHint {
    #[default]
    Unknown,
    CounterReset,
    NotCounterReset,
    Gauge,
}

/// A run of consecutive buckets: `offset` buckets after the previous span's end (or from 0 for
/// the first span), `length` buckets long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub offset: i32,
    pub length: u32,
}

/// A float histogram, as Prometheus's `FloatHistogram`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FloatHistogram {
    pub counter_reset_hint: CounterResetHint,
    pub schema: i32,
    pub zero_threshold: f64,
    pub zero_count: f64,
    pub count: f64,
    pub sum: f64,
    pub positive_spans: Vec<Span>,
    pub negative_spans: Vec<Span>,
    /// Absolute counts of the populated positive buckets, in span order.
    pub positive_buckets: Vec<f64>,
    pub negative_buckets: Vec<f64>,
    /// Upper bounds of the custom buckets (schema -53 only).
    pub custom_values: Vec<f64>,
}

/// The schema of native histograms with custom buckets.
pub const CUSTOM_BUCKETS_SCHEMA: i32 = -53;
/// The smallest exponential schema.
pub const EXPONENTIAL_SCHEMA_MIN: i32 = -4;
/// The largest exponential schema.
pub const EXPONENTIAL_SCHEMA_MAX: i32 = 8;

/// Errors of histogram operations; the messages are Prometheus's.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HistogramError {
    /// Adding or subtracting an exponential histogram and one with custom buckets.
    #[error("cannot apply this operation on histograms with a mix of exponential and custom bucket schemas")]
    IncompatibleSchema,
    /// Operations that need identical custom bounds (Prometheus before 3.8 for add/sub).
    #[error("cannot apply this operation on custom buckets histograms with different custom bounds")]
    IncompatibleBounds,
    #[error("cannot reduce resolution when there are custom buckets")]
    ReduceCustomBuckets,
    #[error("cannot reduce resolution to custom buckets schema")]
    ReduceToCustomBuckets,
    #[error("cannot reduce resolution from schema {from} to {to}")]
    ReduceToHigherSchema { from: i32, to: i32 },
    /// A malformed promqltest histogram literal.
    #[error("{0}")]
    Notation(String),
    /// Classic buckets that cannot be converted (e.g. counts that are not cumulative).
    #[error("{0}")]
    ClassicConversion(String),
    /// An inconsistent histogram (see [`FloatHistogram::validate`]).
    #[error("{0}")]
    Invalid(String),
}

impl FloatHistogram {
    /// Whether this histogram uses custom bucket boundaries (schema -53, NHCB).
    pub fn uses_custom_buckets(&self) -> bool {
        self.schema == CUSTOM_BUCKETS_SCHEMA
    }

    /// Whether `schema` is an exponential schema (-4..=8).
    pub fn is_exponential_schema(schema: i32) -> bool {
        (EXPONENTIAL_SCHEMA_MIN..=EXPONENTIAL_SCHEMA_MAX).contains(&schema)
    }

    /// Whether the histogram is a gauge histogram (counter reset hint `Gauge`).
    pub fn is_gauge(&self) -> bool {
        self.counter_reset_hint == CounterResetHint::Gauge
    }
}
