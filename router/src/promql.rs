//! The PromQL evaluator, over the AST of the `promql-parser` crate, with Prometheus 3.x
//! semantics (left-open range selectors, 5 m lookback, staleness markers, `@` and offset,
//! subqueries, every stable function and aggregation, vector matching).
//!
//! - [`value`]: what queries return ([`Value`], [`InstantSample`]) and the annotations
//!   (warnings and infos) Prometheus attaches to results.
//! - [`engine`]: the evaluator: [`Engine::instant_query`] and [`Engine::range_query`] over any
//!   [`crate::store::Queryable`].
//! - [`functions`]: the function library, called by the engine once per evaluation step.
//! - [`error`]: [`PromqlError`], which keeps the parser's position.

pub mod engine;
pub mod error;
pub mod functions;
pub mod value;

pub use engine::{Engine, EngineOptions};
pub use error::PromqlError;
pub use value::{Annotations, InstantSample, MatrixSeries, QueryResult, Value};
