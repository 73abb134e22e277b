//! What a rule evaluation needs from the outside, as small synchronous interfaces so that the
//! same code runs in the router (over a [`Datasource`](crate::datasource::Datasource) on the
//! blocking pool), in `harrier rules test` (over an in-memory store, with timestamps chosen by
//! the test) and in timing tests (virtual time: the caller passes every evaluation timestamp).
//!
//! - [`RuleQuerier`]: runs a rule's expression at a timestamp (Prometheus's `QueryFunc`): a
//!   vector stays a vector, a scalar becomes one sample without labels, anything else is an
//!   error.
//! - [`RuleAppender`]: where recording rule results and the `ALERTS`/`ALERTS_FOR_STATE` series
//!   go, one commit per rule so that later rules of the group see earlier results.
//! - [`EvalContext`]: the per-evaluation settings (external labels and URL, query offset,
//!   limit) and the template querier for `query` in annotations.

use crate::datasource::DatasourceError;
use crate::histogram::FloatHistogram;
use crate::promql::{InstantSample, QueryResult, Value};
use harrier_telemetry::model::Labels;
use std::sync::Arc;

/// Why evaluating a rule failed; the text is what Prometheus reports as the rule's `lastError`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RuleEvalError {
    /// The expression failed (engine error, remote error, timeout).
    #[error("{0}")]
    Query(String),
    #[error("rule result is not a vector or scalar")]
    NotVector,
    #[error("vector contains metrics with the same labelset after applying rule labels")]
    DuplicateRecordingLabels,
    #[error("vector contains metrics with the same labelset after applying alert labels")]
    DuplicateAlertLabels,
    #[error("exceeded limit of {limit} with {count} series")]
    RecordingLimit { limit: usize, count: usize },
    #[error("exceeded limit of {limit} with {count} alerts")]
    AlertLimit { limit: usize, count: usize },
    /// Writing the results failed.
    #[error("cannot store rule results: {0}")]
    Append(String),
}

impl From<DatasourceError> for RuleEvalError {
    fn from(e: DatasourceError) -> Self {
        RuleEvalError::Query(e.to_string())
    }
}

/// One sample of a rule's result or output.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleSample {
    pub labels: Labels,
    pub t: i64,
    pub v: f64,
    pub h: Option<Arc<FloatHistogram>>,
}

impl From<InstantSample> for RuleSample {
    fn from(s: InstantSample) -> Self {
        RuleSample { labels: s.labels, t: s.t, v: s.v, h: s.h }
    }
}

/// Runs rule expressions.
pub trait RuleQuerier: Send + Sync {
    /// Evaluates `expr` at `t_ms` and returns its instant vector (a scalar as one sample with
    /// no labels).
    fn query(&self, expr: &str, t_ms: i64) -> Result<Vec<RuleSample>, RuleEvalError>;
}

/// Turns a query result into the vector a rule works on, as Prometheus's `EngineQueryFunc`.
pub fn rule_vector(result: QueryResult) -> Result<Vec<RuleSample>, RuleEvalError> {
    match result.value {
        Value::Vector(samples) => Ok(samples.into_iter().map(RuleSample::from).collect()),
        Value::Scalar { t, v } => Ok(vec![RuleSample { labels: Labels::new(), t, v, h: None }]),
        Value::Matrix(_) | Value::String { .. } => Err(RuleEvalError::NotVector),
    }
}

/// Receives rule output: recording results, `ALERTS` and `ALERTS_FOR_STATE`, staleness
/// markers. Each call is one rule's output and is visible to queries when it returns.
pub trait RuleAppender: Send + Sync {
    /// Stores `samples`; returns how many were rejected (out of order, duplicates), which is
    /// counted but does not fail the rule, as in Prometheus.
    fn append(&self, samples: &[RuleSample]) -> Result<usize, RuleEvalError>;

    /// Makes what was appended durable; called once at the end of each group evaluation
    /// (appends may be buffered until then). The default does nothing.
    fn flush(&self) -> Result<(), RuleEvalError> {
        Ok(())
    }
}

/// An appender that keeps nothing (rule output not stored).
pub struct DiscardAppender;

impl RuleAppender for DiscardAppender {
    fn append(&self, _samples: &[RuleSample]) -> Result<usize, RuleEvalError> {
        Ok(0)
    }
}

/// Settings shared by every rule of an evaluation.
#[derive(Clone, Copy)]
pub struct EvalContext<'a> {
    pub querier: &'a dyn RuleQuerier,
    pub external_labels: &'a Labels,
    /// The router's external URL (for `$externalURL`, `generatorURL`).
    pub external_url: &'a str,
}

/// Runs rule expressions synchronously with our engine on a storage: what `harrier rules test`
/// and the timing tests use (the router goes through a [`Datasource`](crate::datasource::Datasource)).
pub struct EngineQuerier {
    pub engine: crate::promql::Engine,
    pub storage: Arc<dyn crate::store::Queryable>,
}

impl RuleQuerier for EngineQuerier {
    fn query(&self, expr: &str, t_ms: i64) -> Result<Vec<RuleSample>, RuleEvalError> {
        let result = self
            .engine
            .instant_query(self.storage.as_ref(), expr, t_ms)
            .map_err(|e| RuleEvalError::from(DatasourceError::from(e)))?;
        rule_vector(result)
    }
}

/// Rule output into the embedded store (the router's, or the in-memory one of
/// `harrier rules test`): appended without waiting for the log, made durable by `flush`.
impl RuleAppender for crate::store::Store {
    fn append(&self, samples: &[RuleSample]) -> Result<usize, RuleEvalError> {
        let (floats, histograms) = group_samples(samples);
        append_grouped(self, &floats, &histograms)
    }

    fn flush(&self) -> Result<(), RuleEvalError> {
        self.sync().map_err(|e| RuleEvalError::Append(e.to_string()))
    }
}

/// Rule samples as series: floats grouped per series (in label order), and histogram samples
/// per series.
pub fn group_samples(
    samples: &[RuleSample],
) -> (Vec<harrier_telemetry::model::Series>, Vec<(Labels, Vec<crate::store::HistogramSample>)>) {
    use crate::store::HistogramSample;
    use harrier_telemetry::model::{Sample, Series};
    use std::collections::BTreeMap;
    let mut floats: BTreeMap<&Labels, Vec<Sample>> = BTreeMap::new();
    let mut histograms: BTreeMap<&Labels, Vec<HistogramSample>> = BTreeMap::new();
    for s in samples {
        match &s.h {
            Some(h) => histograms
                .entry(&s.labels)
                .or_default()
                .push(HistogramSample { timestamp_ms: s.t, histogram: Arc::clone(h) }),
            None => floats.entry(&s.labels).or_default().push(Sample { timestamp_ms: s.t, value: s.v }),
        }
    }
    (
        floats.into_iter().map(|(l, s)| Series::new(l.clone(), s)).collect(),
        histograms.into_iter().map(|(l, h)| (l.clone(), h)).collect(),
    )
}

/// Appends rule output grouped by [`group_samples`] to `store`, floats without waiting for its
/// log (see [`Store::append_buffered`](crate::store::Store::append_buffered);
/// [`RuleAppender::flush`] syncs); returns how many samples it rejected.
pub fn append_grouped(
    store: &crate::store::Store,
    floats: &[harrier_telemetry::model::Series],
    histograms: &[(Labels, Vec<crate::store::HistogramSample>)],
) -> Result<usize, RuleEvalError> {
    let mut rejected = 0;
    if !floats.is_empty() {
        rejected += store.append_buffered(floats).rejected() as usize;
    }
    for (labels, hs) in histograms {
        let outcome =
            store.append_histograms(labels, hs).map_err(|e| RuleEvalError::Append(e.to_string()))?;
        rejected += outcome.rejected() as usize;
    }
    Ok(rejected)
}
