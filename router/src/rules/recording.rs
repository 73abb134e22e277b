//! Recording rules (Prometheus's `rules/recording.go`): the expression's result, renamed to the
//! rule's name with the rule's labels set, written back at the query time.

use super::eval::{EvalContext, RuleEvalError, RuleSample};
use std::collections::HashSet;

/// A recording rule.
#[derive(Debug, Clone)]
pub struct RecordingRule {
    name: String,
    expr: String,
    /// Group labels merged in, rule labels winning; not templated (as Prometheus).
    labels: Vec<(String, String)>,
}

impl RecordingRule {
    pub fn new(name: impl Into<String>, expr: impl Into<String>, labels: Vec<(String, String)>) -> Self {
        RecordingRule { name: name.into(), expr: expr.into(), labels }
    }

    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn expr(&self) -> &str {
        &self.expr
    }
    pub fn labels(&self) -> &[(String, String)] {
        &self.labels
    }

    /// Evaluates at `ts - query_offset_ms`; `limit` (0: none) bounds the series written.
    pub fn eval(
        &self,
        ts: i64,
        query_offset_ms: i64,
        limit: usize,
        ctx: &EvalContext<'_>,
    ) -> Result<Vec<RuleSample>, RuleEvalError> {
        let mut vector = ctx.querier.query(&self.expr, ts - query_offset_ms)?;
        for sample in &mut vector {
            sample.labels.set("__name__", &self.name);
            for (name, value) in &self.labels {
                sample.labels.set(name, value); // an empty value removes the label
            }
        }
        let mut seen = HashSet::with_capacity(vector.len());
        if !vector.iter().all(|s| seen.insert(&s.labels)) {
            return Err(RuleEvalError::DuplicateRecordingLabels);
        }
        if limit > 0 && vector.len() > limit {
            return Err(RuleEvalError::RecordingLimit { limit, count: vector.len() });
        }
        Ok(vector)
    }
}
