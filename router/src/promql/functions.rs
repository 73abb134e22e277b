//! The PromQL function library. The engine evaluates a call's arguments at one step and calls
//! [`call`]; range-vector arguments arrive as the samples of each series inside the step's
//! window.
//!
//! Semantics are Prometheus 3.x's `promql/functions.go` and `promql/quantile.go`:
//!
//! - [`range`]: functions over range vectors (`rate`, `increase`, `delta` with Prometheus's
//!   extrapolation, `irate`, `idelta`, `deriv`, `predict_linear`, `resets`, `changes`, the
//!   `*_over_time` family, `double_exponential_smoothing`, `absent_over_time`).
//! - [`math`]: element-wise float functions, `clamp*`, `round`, `scalar`, `vector`, `sort*`,
//!   `timestamp`, `time`, `pi`.
//! - [`time`]: the calendar functions (`year()`, `hour()`, ...) in UTC.
//! - [`labels`]: `label_replace`, `label_join`, `absent`, `sort_by_label*`.
//! - [`histogram`]: `histogram_quantile`, `histogram_quantiles` and `histogram_fraction` over
//!   classic `le` buckets and native histograms, and `histogram_count`, `histogram_sum`,
//!   `histogram_avg`, `histogram_stddev`, `histogram_stdvar` of native histograms.
//! - [`native`]: the range functions over native histogram samples (`rate`, `increase`,
//!   `delta`, `irate`, `idelta`, `sum_over_time`, `avg_over_time`, ...), run before [`range`]
//!   takes the float samples. Other functions read floats only: histogram samples are dropped
//!   from their instant-vector arguments (as Prometheus's float functions skip them).
//! - [`numeric`]: Go-compatible float helpers (Kahan summation, NaN-propagating min/max,
//!   `%g` formatting).
//!
//! Metric names: Prometheus 3 delays the removal of `__name__`; a function whose output
//! Prometheus marks `DropName` sets [`InstantSample::drop_name`] and leaves the name in the
//! labels, and the engine removes it later. Annotations carry Prometheus's texts without the
//! `(line:col)` position suffix: the engine, which locates the arguments in the query text,
//! appends it for the argument [`annotation_argument`] names.
//!
//! CONTRACT: the engine depends only on [`FnArg`], [`FnCall`], [`FnOutput`] and [`call`].

mod histogram;
mod labels;
mod math;
mod native;
pub(crate) use native::HintsSeen;
mod numeric;
mod range;
pub(crate) mod time;

#[cfg(test)]
mod tests;

use crate::promql::{Annotations, InstantSample, PromqlError};
use crate::store::HistogramSample;
use harrier_telemetry::model::{Labels, Series};
use promql_parser::parser::Expr;

/// An argument of a function call, evaluated at one step.
#[derive(Debug, Clone)]
pub enum FnArg {
    Scalar(f64),
    String(String),
    Vector(Vec<InstantSample>),
    /// A range vector at this step: each series with its samples in the window
    /// `(range_start, range_end]` (left-open, as in Prometheus 3). The window already accounts
    /// for offset and `@`.
    Matrix {
        series: Vec<Series>,
        /// The native histogram samples in the window of each series of `series` (same index;
        /// may be shorter, missing entries meaning none).
        histograms: Vec<Vec<HistogramSample>>,
        range_start: i64,
        range_end: i64,
    },
}

/// One call at one evaluation step.
#[derive(Debug)]
pub struct FnCall<'a> {
    /// The function's name as written (`rate`, `histogram_quantile`, ...).
    pub name: &'a str,
    pub args: Vec<FnArg>,
    /// The argument expressions: `absent()` and `absent_over_time()` derive their output
    /// labels from the equality matchers of their selector.
    pub arg_exprs: &'a [Box<Expr>],
    /// The evaluation timestamp of this step, in milliseconds.
    pub t: i64,
}

/// What a function returns at one step.
#[derive(Debug, Clone, PartialEq)]
pub enum FnOutput {
    Scalar(f64),
    String(String),
    Vector(Vec<InstantSample>),
}

/// Why a function call failed. The `Invalid` texts are Prometheus's own, since users and tests
/// match on them.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FunctionError {
    #[error("unknown function with name {0:?}")]
    Unknown(String),
    #[error("function {function}(): argument {index} must be {expected}")]
    BadArgument { function: String, index: usize, expected: &'static str },
    /// An evaluation error with Prometheus's message (invalid regex, label name, factor, ...).
    #[error("{0}")]
    Invalid(String),
    #[error("function {0}() is not supported")]
    Unsupported(String),
}

impl From<FunctionError> for PromqlError {
    fn from(error: FunctionError) -> Self {
        match error {
            FunctionError::Unsupported(_) => PromqlError::Unsupported(error.to_string()),
            other => PromqlError::Eval(other.to_string()),
        }
    }
}

/// The error Prometheus raises when an operation yields two series with one label set.
pub(crate) const DUPLICATE_LABELSET: &str = "vector cannot contain metrics with the same labelset";

/// Calls a function at one step. Unknown functions and wrong argument types are errors (the
/// parser already checked arity and types, so these only guard against misuse).
pub fn call(call: FnCall<'_>, annotations: &mut Annotations) -> Result<FnOutput, PromqlError> {
    dispatch(call, annotations).map_err(PromqlError::from)
}

/// Functions whose instant-vector arguments may hold native histograms; every other function
/// reads floats only, and histogram samples are dropped from its arguments (as Prometheus's
/// float functions skip them).
const HISTOGRAM_AWARE: &[&str] = &[
    "histogram_count",
    "histogram_sum",
    "histogram_avg",
    "histogram_stddev",
    "histogram_stdvar",
    "histogram_fraction",
    "histogram_quantile",
    "histogram_quantiles",
    "label_replace",
    "label_join",
    "sort_by_label",
    "sort_by_label_desc",
    "timestamp",
    "absent",
];

fn dispatch(call: FnCall<'_>, annotations: &mut Annotations) -> Result<FnOutput, FunctionError> {
    let FnCall { name, mut args, arg_exprs, t } = call;
    if !HISTOGRAM_AWARE.contains(&name) {
        for arg in args.iter_mut() {
            if let FnArg::Vector(samples) = arg
                && samples.iter().any(|s| s.h.is_some())
            {
                samples.retain(|s| s.h.is_none());
            }
        }
    }
    let mut args = Args { function: name, values: args };
    if let Some(histogram_outputs) = native::call_range(name, &mut args, t, annotations)? {
        if name == "absent_over_time" {
            // Histogram samples are samples: nothing is absent.
            return Ok(FnOutput::Vector(Vec::new()));
        }
        let float_outputs = match range::call(name, &mut args, arg_exprs, t, annotations)? {
            Some(FnOutput::Vector(v)) => v,
            _ => Vec::new(),
        };
        let mut all = histogram_outputs;
        all.extend(float_outputs);
        return Ok(FnOutput::Vector(all));
    }
    if let Some(output) = math::call(name, &mut args, t)? {
        return Ok(output);
    }
    if let Some(output) = time::call(name, &mut args, t)? {
        return Ok(output);
    }
    if let Some(output) = range::call(name, &mut args, arg_exprs, t, annotations)? {
        return Ok(output);
    }
    if let Some(output) = labels::call(name, &mut args, arg_exprs, t)? {
        return Ok(output);
    }
    if let Some(output) = histogram::call(name, &mut args, t, annotations)? {
        return Ok(output);
    }
    match name {
        // `info()` enriches series with the labels of `target_info`, which needs the store.
        "info" => Err(FunctionError::Unsupported(name.to_string())),
        _ => Err(FunctionError::Unknown(name.to_string())),
    }
}

/// Which argument of a call to `function` an annotation this module emitted refers to, so
/// that the engine, which knows where the arguments sit in the query text, can end the message
/// with Prometheus's ` (line:col)`. `None` for messages this module does not emit.
pub fn annotation_argument(function: &str, message: &str) -> Option<usize> {
    let vector_argument = match function {
        "histogram_quantile" => 1,
        "histogram_fraction" => 2,
        "histogram_quantiles" => 0,
        _ => 0,
    };
    if message.contains("metric might not be a counter")
        || message.contains("this native histogram metric is not a")
        || message.contains("encountered a mix of histograms and floats for metric name")
        || message.contains("mix of histograms with exponential and custom buckets")
        || message.contains("mismatched custom buckets were reconciled")
        || message.contains("ignored histograms in a range containing both")
        || message.contains("conflicting counter resets during histogram aggregation")
    {
        Some(if function == "quantile_over_time" { 1 } else { 0 })
    } else if message.contains("quantile value should be between 0 and 1") {
        Some(if function == "histogram_quantiles" { 2 } else { 0 })
    } else if message.contains("bucket label \"le\" is missing")
        || message.contains("fixed for monotonicity")
        || message.contains("mix of classic and native histograms")
        || message.contains("has NaN observations")
    {
        Some(vector_argument)
    } else {
        None
    }
}

/// The mean of `inputs` computed incrementally when their (Kahan) `sum` overflowed; `None` when
/// the sum is finite (divide it) or the incremental mean is not possible.
pub(crate) fn overflow_safe_mean(
    sum: &crate::histogram::FloatHistogram,
    inputs: &[&crate::histogram::FloatHistogram],
) -> Option<crate::histogram::FloatHistogram> {
    if !native::overflowed(sum) {
        return None;
    }
    let mean = native::incremental_mean(inputs)?;
    Some(native::keep_finite_fields(mean, sum.clone(), inputs.len() as f64))
}

/// The evaluated arguments of one call, taken out one at a time by type.
pub(crate) struct Args<'a> {
    function: &'a str,
    values: Vec<FnArg>,
}

/// A range-vector argument taken out of [`Args`].
pub(crate) struct MatrixArg {
    pub series: Vec<Series>,
    pub range_start: i64,
    pub range_end: i64,
}

impl Args<'_> {
    fn bad(&self, index: usize, expected: &'static str) -> FunctionError {
        FunctionError::BadArgument { function: self.function.to_string(), index, expected }
    }

    pub(crate) fn len(&self) -> usize {
        self.values.len()
    }

    /// A scalar argument. A one-element vector is accepted too (Prometheus passes scalars as
    /// such), an empty one reads as NaN.
    pub(crate) fn scalar(&self, index: usize) -> Result<f64, FunctionError> {
        match self.values.get(index) {
            Some(FnArg::Scalar(v)) => Ok(*v),
            Some(FnArg::Vector(v)) => Ok(v.first().map(|s| s.v).unwrap_or(f64::NAN)),
            _ => Err(self.bad(index, "a scalar")),
        }
    }

    pub(crate) fn string(&self, index: usize) -> Result<String, FunctionError> {
        match self.values.get(index) {
            Some(FnArg::String(s)) => Ok(s.clone()),
            _ => Err(self.bad(index, "a string")),
        }
    }

    pub(crate) fn take_vector(&mut self, index: usize) -> Result<Vec<InstantSample>, FunctionError> {
        match self.values.get_mut(index) {
            Some(FnArg::Vector(v)) => Ok(std::mem::take(v)),
            _ => Err(self.bad(index, "an instant vector")),
        }
    }

    pub(crate) fn take_matrix(&mut self, index: usize) -> Result<MatrixArg, FunctionError> {
        match self.values.get_mut(index) {
            Some(FnArg::Matrix { series, range_start, range_end, .. }) => Ok(MatrixArg {
                series: std::mem::take(series),
                range_start: *range_start,
                range_end: *range_end,
            }),
            _ => Err(self.bad(index, "a range vector")),
        }
    }
}

/// A sample of a function's output vector.
pub(crate) fn output_sample(labels: Labels, t: i64, v: f64, drop_name: bool) -> InstantSample {
    InstantSample { labels, t, v, h: None, drop_name }
}

/// Fails with Prometheus's duplicate-labelset error if two samples share a label set.
pub(crate) fn ensure_unique_labelsets(samples: &[InstantSample]) -> Result<(), FunctionError> {
    let mut seen = std::collections::HashSet::with_capacity(samples.len());
    for s in samples {
        if !seen.insert(&s.labels) {
            return Err(FunctionError::Invalid(DUPLICATE_LABELSET.to_string()));
        }
    }
    Ok(())
}

/// The metric name of a label set, empty if it has none (Prometheus's `getMetricName`).
pub(crate) fn metric_name(labels: &Labels) -> &str {
    labels.metric_name().unwrap_or("")
}
