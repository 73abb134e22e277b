//! Query results and annotations.
//!
//! A sample is a float or a native histogram ([`FloatHistogram`]): an [`InstantSample`] with
//! `h: Some(..)` is a histogram sample (its `v` is then meaningless, 0), and a
//! [`MatrixSeries`] keeps a series' float and histogram points in two lists, each oldest
//! first (as Prometheus's `promql.Series` with `Floats` and `Histograms`).

use crate::histogram::FloatHistogram;
pub use crate::store::HistogramSample;
use harrier_telemetry::model::{Labels, Sample, Series};
use std::sync::Arc;

/// One element of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct InstantSample {
    pub labels: Labels,
    /// Milliseconds. The evaluation timestamp in results; inside the engine, a selected sample
    /// keeps its own timestamp until it leaves the selector (what `timestamp()` reads).
    pub t: i64,
    pub v: f64,
    /// The native histogram, for a histogram sample (`v` is then 0).
    pub h: Option<Arc<FloatHistogram>>,
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
    Matrix(Vec<MatrixSeries>),
}

/// A series of a matrix: its float points and its histogram points, each oldest first.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MatrixSeries {
    pub labels: Labels,
    pub samples: Vec<Sample>,
    pub histograms: Vec<HistogramSample>,
}

impl MatrixSeries {
    /// A series of float points only.
    pub fn new(labels: Labels, samples: Vec<Sample>) -> Self {
        MatrixSeries { labels, samples, histograms: Vec::new() }
    }

    /// How many points (floats and histograms) the series has.
    pub fn len(&self) -> usize {
        self.samples.len() + self.histograms.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty() && self.histograms.is_empty()
    }
}

impl From<Series> for MatrixSeries {
    fn from(series: Series) -> Self {
        MatrixSeries::new(series.labels, series.samples)
    }
}

impl InstantSample {
    /// A float sample.
    pub fn float(labels: Labels, t: i64, v: f64, drop_name: bool) -> Self {
        InstantSample { labels, t, v, h: None, drop_name }
    }

    /// A histogram sample.
    pub fn histogram(labels: Labels, t: i64, h: Arc<FloatHistogram>, drop_name: bool) -> Self {
        InstantSample { labels, t, v: 0.0, h: Some(h), drop_name }
    }
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
