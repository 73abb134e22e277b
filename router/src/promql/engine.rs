//! The evaluator: [`Engine::instant_query`] and [`Engine::range_query`] over any
//! [`Queryable`], with Prometheus 3.x semantics.
//!
//! Design (the same shape as Prometheus's own evaluator):
//!
//! - Every expression node is evaluated ONCE for the whole query range (`start..=end` every
//!   `interval`; an instant query is a range of one step). A node's value is a list of
//!   [`evaluator::RangeSeries`]: one per label set, with one point per step where it has a value.
//!   A scalar is one series with no labels and a point at every step.
//! - Selectors read storage once per node for the whole range they need (`[first step -
//!   offset - range/lookback, last step - offset]`), and each step is a binary search or a
//!   cursor move over the loaded samples: storage is never queried per step.
//! - Operators that combine series at one step (binary operators between vectors, functions,
//!   `count_values`) gather the inputs' samples at each step, compute, and regroup the outputs
//!   into series ([`evaluator::Collector`]); aggregations precompute each input series' group
//!   once and walk the steps.
//! - Prometheus 3's delayed `__name__` removal: operations that drop the metric name only set
//!   `drop_name`; the name is removed once when the result leaves the engine, where series that
//!   end up with one label set are merged (or rejected when they overlap in time).
//!
//! Submodules: [`evaluator`] (selectors, subqueries, calls, step gathering), [`binary`]
//! (operators and vector matching), [`aggregate`] (aggregations).

use crate::promql::{InstantSample, PromqlError, QueryResult, Value};
use crate::store::Queryable;
use promql_parser::parser::{self, Expr, value::ValueType};
use std::time::Duration;

mod aggregate;
mod binary;
mod evaluator;
mod format;
pub(crate) mod position;

use evaluator::{Context, Evaluated, Evaluator};

/// Engine settings, with Prometheus's defaults.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// How far back an instant selector looks for a sample (`--query.lookback-delta`, 5 m).
    pub lookback_delta: Duration,
    /// The most samples a query may hold in memory at once (`--query.max-samples`, 50 M).
    pub max_samples: usize,
    /// Per-query timeout (`--query.timeout`, 2 m).
    pub timeout: Duration,
    /// Prometheus 3's delayed `__name__` removal (`promql-delayed-name-removal`): the metric
    /// name is dropped when the result leaves the engine rather than where an operation drops
    /// it. Off by default, as in a Prometheus server (a feature flag there); the promqltest
    /// runner turns it on, as Prometheus's own test suite does.
    pub delayed_name_removal: bool,
    /// The step of a subquery written without one (`x[1h:]`): the default evaluation interval,
    /// 1 m.
    pub default_subquery_step: Duration,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            lookback_delta: Duration::from_secs(300),
            max_samples: 50_000_000,
            timeout: Duration::from_secs(120),
            delayed_name_removal: false,
            default_subquery_step: Duration::from_secs(60),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Engine {
    pub options: EngineOptions,
}

impl Engine {
    pub fn new(options: EngineOptions) -> Self {
        Engine { options }
    }

    /// Evaluates `query` at `t` (ms). A range selector or subquery at the top yields a matrix.
    pub fn instant_query(
        &self,
        storage: &dyn Queryable,
        query: &str,
        t: i64,
    ) -> Result<QueryResult, PromqlError> {
        let expr = parse(query)?;
        let context = Context::new(storage, &self.options, query, t, t, 0);
        let evaluator = Evaluator::new(&context, t, t, 1);
        let value = evaluator.eval(&expr)?;
        let value = match value {
            Evaluated::String(s) => Value::String { t, s },
            Evaluated::Series(series) => {
                let series = evaluator::finish_names(series)?;
                match expr.value_type() {
                    ValueType::Scalar => Value::Scalar {
                        t,
                        v: series.first().and_then(|s| s.samples.first()).map_or(f64::NAN, |s| s.value),
                    },
                    ValueType::Matrix => {
                        let mut matrix: Vec<_> = series.into_iter().map(|s| s.into_series()).collect();
                        matrix.sort_by(|a, b| a.labels.cmp(&b.labels));
                        Value::Matrix(matrix)
                    }
                    _ => Value::Vector(
                        series
                            .into_iter()
                            .filter_map(|s| match s.samples.first() {
                                Some(p) => Some(InstantSample::float(s.labels, t, p.value, false)),
                                None => {
                                    let h = s.histograms.into_iter().next()?.histogram;
                                    Some(InstantSample::histogram(s.labels, t, h, false))
                                }
                            })
                            .collect(),
                    ),
                }
            }
        };
        Ok(QueryResult { value, annotations: context.into_annotations() })
    }

    /// Evaluates `query` at every step from `start` to `end` (ms, inclusive); the result is a
    /// matrix (or an error: range queries must yield a scalar or an instant vector).
    pub fn range_query(
        &self,
        storage: &dyn Queryable,
        query: &str,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<QueryResult, PromqlError> {
        let expr = parse(query)?;
        let value_type = expr.value_type();
        if !matches!(value_type, ValueType::Vector | ValueType::Scalar) {
            return Err(PromqlError::Eval(format!(
                "invalid expression type \"{}\" for range query, must be Scalar or instant Vector",
                documented_type(value_type)
            )));
        }
        if step <= 0 {
            return Err(PromqlError::Eval(
                "zero or negative query resolution step widths are not accepted. Try a positive integer"
                    .into(),
            ));
        }
        let context = Context::new(storage, &self.options, query, start, end, step);
        let evaluator = Evaluator::new(&context, start, end, step);
        let series = match evaluator.eval(&expr)? {
            Evaluated::Series(series) => evaluator::finish_names(series)?,
            Evaluated::String(_) => Vec::new(),
        };
        let mut matrix: Vec<_> = series.into_iter().map(|s| s.into_series()).collect();
        matrix.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(QueryResult { value: Value::Matrix(matrix), annotations: context.into_annotations() })
    }
}

/// Functions of Prometheus 3 the parser does not know: the query's own parameters (`step()`,
/// `range()`, `start()`, `end()`, in seconds) and `min_of`/`max_of` of two scalars. The engine
/// evaluates them itself.
fn register_engine_functions() {
    static REGISTERED: std::sync::Once = std::sync::Once::new();
    REGISTERED.call_once(|| {
        let mut functions: Vec<parser::Function> = ["step", "range", "start", "end"]
            .into_iter()
            .map(|name| parser::Function::new(name, vec![], 0, ValueType::Scalar, false))
            .collect();
        for name in ["min_of", "max_of"] {
            functions.push(parser::Function::new(
                name,
                vec![ValueType::Scalar, ValueType::Scalar],
                0,
                ValueType::Scalar,
                false,
            ));
        }
        if let Err(e) = parser::register_extra_functions(functions) {
            tracing::debug!(error = %e, "registering engine functions with the parser");
        }
    });
}

/// Parses a query, keeping the parser's message and the position it names, if any.
pub fn parse(query: &str) -> Result<Expr, PromqlError> {
    register_engine_functions();
    parser::parse(query).map_err(|message| {
        let position = position_in(&message);
        PromqlError::Parse { message, position }
    })
}

/// The byte offset a parser message points at ("... at position 12", "... pos 12").
fn position_in(message: &str) -> Option<usize> {
    ["position ", "pos "].iter().find_map(|marker| {
        let at = message.rfind(marker)? + marker.len();
        let digits: String = message[at..].chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    })
}

/// Prometheus's `parser.DocumentedType`.
fn documented_type(value_type: ValueType) -> &'static str {
    match value_type {
        ValueType::Vector => "instant vector",
        ValueType::Matrix => "range vector",
        ValueType::Scalar => "scalar",
        ValueType::String => "string",
    }
}

#[cfg(test)]
mod tests;
