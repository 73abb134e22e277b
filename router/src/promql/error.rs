//! Errors of parsing and evaluating a query.

/// A query that could not be parsed or evaluated. The messages are Prometheus's where
/// Prometheus has one, since users and tests match on them.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PromqlError {
    /// The query does not parse. `message` is the parser's own text; `position` the byte
    /// offset it points at, when it names one.
    #[error("{message}")]
    Parse { message: String, position: Option<usize> },
    /// An evaluation error, e.g. "vector cannot contain metrics with the same labelset".
    #[error("{0}")]
    Eval(String),
    /// The query would load more samples than the engine's limit.
    #[error("query processing would load too many samples into memory in {0}")]
    TooManySamples(&'static str),
    #[error("query timed out in {0}")]
    Timeout(&'static str),
    #[error("storage error: {0}")]
    Storage(String),
    #[error("{0}")]
    Unsupported(String),
}
