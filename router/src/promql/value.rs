//! Query results and annotations.

use harrier_telemetry::model::{Labels, Series};

/// One element of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct InstantSample {
    pub labels: Labels,
    /// Milliseconds. The evaluation timestamp in results; inside the engine, a selected sample
    /// keeps its own timestamp until it leaves the selector (what `timestamp()` reads).
    pub t: i64,
    pub v: f64,
    /// Prometheus 3's delayed `__name__` removal: the metric name is still in `labels` but is
    /// dropped when the result leaves the engine (or when a later operation needs it gone).
    pub drop_name: bool,
}

/// The value of an expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Scalar {
        t: i64,
        v: f64,
    },
    String {
        t: i64,
        s: String,
    },
    Vector(Vec<InstantSample>),
    /// A range vector (instant query of a range selector or subquery), or the result of a range
    /// query: one series per label set, samples oldest first.
    Matrix(Vec<Series>),
}

/// Warnings and infos, as Prometheus reports them next to a result (`PromQL warning: ...`,
/// `PromQL info: ...`, each ending with the position `(line:col)` when known).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Annotations {
    pub warnings: Vec<String>,
    pub infos: Vec<String>,
}

impl Annotations {
    pub fn warn(&mut self, message: impl Into<String>) {
        let message = message.into();
        if !self.warnings.contains(&message) {
            self.warnings.push(message);
        }
    }

    pub fn info(&mut self, message: impl Into<String>) {
        let message = message.into();
        if !self.infos.contains(&message) {
            self.infos.push(message);
        }
    }

    pub fn extend(&mut self, other: Annotations) {
        for w in other.warnings {
            self.warn(w);
        }
        for i in other.infos {
            self.info(i);
        }
    }
}

/// A query's value with its annotations.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryResult {
    pub value: Value,
    pub annotations: Annotations,
}
