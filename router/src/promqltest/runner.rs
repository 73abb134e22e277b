//! Executes a parsed script: `load` and `clear` change the storage, every `eval` is a case run
//! through the engine and checked as upstream's `execInstantEval`/`execRangeEval` do.
//!
//! A panic inside the engine is caught and fails the case (the engine is code under test), so
//! one bad case cannot abort a whole conformance run.

use super::TestStorage;
use super::at_modifier::at_modifier_cases;
use super::compare::{
    assert_matrix_sorted, check_annotations, check_expected_failure, compare_result, compare_vector,
};
use super::nhcb;
use super::script::{Command, EvalCommand, EvalKind, LoadCommand, Script, ScriptError, parse_script};
use super::series_notation::{SequenceValue, SeriesDescription};
use crate::promql::{Engine, InstantSample, QueryResult, Value};
use crate::store::HistogramSample;
use promql_parser::parser::parse;
use regex::Regex;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::LazyLock;

/// The outcome of one `eval`.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseResult {
    /// 1-based line of the `eval` command.
    pub line: usize,
    pub query: String,
    /// Why the case failed; `None` when it passed.
    pub failure: Option<String>,
}

impl CaseResult {
    pub fn passed(&self) -> bool {
        self.failure.is_none()
    }
}

/// The outcomes of a script's cases, in script order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScriptReport {
    pub cases: Vec<CaseResult>,
}

impl ScriptReport {
    pub fn passed(&self) -> usize {
        self.cases.iter().filter(|c| c.passed()).count()
    }

    pub fn failed(&self) -> impl Iterator<Item = &CaseResult> {
        self.cases.iter().filter(|c| !c.passed())
    }
}

/// Parses and runs a script.
pub fn run_source<S: TestStorage>(
    source: &str,
    storage: &S,
    engine: &Engine,
) -> Result<ScriptReport, ScriptError> {
    Ok(run_script(&parse_script(source)?, storage, engine))
}

/// Runs a parsed script on `storage` (cleared first) with `engine`.
pub fn run_script<S: TestStorage>(script: &Script, storage: &S, engine: &Engine) -> ScriptReport {
    let mut runner = Runner { storage, engine, load_error: None };
    runner.clear();
    let mut report = ScriptReport::default();
    for command in &script.commands {
        match command {
            Command::Clear => runner.clear(),
            Command::Load(load) => runner.load(load),
            Command::Eval(eval) => {
                let outcome =
                    catch_unwind(AssertUnwindSafe(|| runner.run_eval(eval))).unwrap_or_else(|payload| {
                        Err(format!("engine panicked: {}", panic_message(payload.as_ref())))
                    });
                report.cases.push(CaseResult {
                    line: eval.line,
                    query: eval.query.clone(),
                    failure: outcome.err(),
                });
            }
        }
    }
    report
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(non-string panic payload)".to_string()
    }
}

/// Queries that depend on the query's own range, not re-run in range mode (upstream's
/// `reQueryContextFuncs`).
static QUERY_CONTEXT_FUNCS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(start|end|range|step)\(\)").unwrap_or_else(|e| panic!("invalid built-in pattern: {e}"))
});

struct Runner<'a, S> {
    storage: &'a S,
    engine: &'a Engine,
    /// A failed load makes every later case fail until the next clear.
    load_error: Option<String>,
}

impl<S: TestStorage> Runner<'_, S> {
    fn clear(&mut self) {
        self.load_error = self.storage.clear().err().map(|e| format!("clearing the storage failed: {e}"));
    }

    fn load(&mut self, load: &LoadCommand) {
        for series in &load.series {
            if let Err(e) = self.load_series(series, load.interval_ms) {
                self.load_error.get_or_insert(format!("loading data (line {}) failed: {e}", load.line));
            }
        }
        if load.with_nhcb {
            match nhcb::convert(&load.series, load.interval_ms) {
                Ok(converted) => {
                    for (labels, samples) in converted {
                        if let Err(e) = self.storage.load_histograms(&labels, &samples) {
                            self.load_error
                                .get_or_insert(format!("loading data (line {}) failed: {e}", load.line));
                        }
                    }
                }
                Err(e) => {
                    self.load_error.get_or_insert(format!("loading data (line {}) failed: {e}", load.line));
                }
            }
        }
    }

    /// Loads one series' floats and histograms.
    fn load_series(&self, series: &SeriesDescription, interval_ms: i64) -> Result<(), String> {
        let samples = series.float_samples(0, interval_ms);
        if !samples.is_empty() {
            self.storage.load(&series.labels, &samples).map_err(|e| e.to_string())?;
        }
        if series.has_histograms() {
            let mut histograms = Vec::new();
            for (i, value) in series.values.iter().enumerate() {
                if let SequenceValue::Histogram(item) = value {
                    histograms.push(HistogramSample {
                        timestamp_ms: (i as i64).saturating_mul(interval_ms),
                        histogram: item.histogram.clone(),
                    });
                }
            }
            self.storage.load_histograms(&series.labels, &histograms).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    fn run_eval(&self, eval: &EvalCommand) -> Result<(), String> {
        parse(&eval.query).map_err(|e| format!("query does not parse: {e}"))?;
        if let Some(error) = &self.load_error {
            return Err(error.clone());
        }
        match eval.kind {
            EvalKind::Range => self.run_range(eval),
            EvalKind::Instant => self.run_instant_eval(eval),
        }
    }

    fn run_range(&self, eval: &EvalCommand) -> Result<(), String> {
        let result =
            self.engine.range_query(self.storage, &eval.query, eval.start_ms, eval.end_ms, eval.step_ms);
        let result = match result {
            Err(error) if eval.is_fail() => return check_expected_failure(eval, &error.to_string()),
            Err(error) => {
                return Err(format!("error evaluating query {:?} (line {}): {error}", eval.query, eval.line));
            }
            Ok(result) => result,
        };
        if eval.is_fail() {
            return Err(format!(
                "expected error evaluating query {:?} (line {}) but got none",
                eval.query, eval.line
            ));
        }
        check_annotations(eval, &eval.query, &result.annotations)?;
        compare_result(eval, &result.value)
            .map_err(|e| format!("error in eval {} (line {}): {e}", eval.query, eval.line))
    }

    fn run_instant_eval(&self, eval: &EvalCommand) -> Result<(), String> {
        self.run_instant(eval, &eval.query, eval.eval_ms)?;
        for case in at_modifier_cases(&eval.query, eval.eval_ms)? {
            self.run_instant(eval, &case.query, case.eval_ms)
                .map_err(|e| format!("@ re-run `{}` at {}ms: {e}", case.query, case.eval_ms))?;
        }
        Ok(())
    }

    fn run_instant(&self, eval: &EvalCommand, query: &str, t: i64) -> Result<(), String> {
        let result = match self.engine.instant_query(self.storage, query, t) {
            Err(error) if eval.is_fail() => return check_expected_failure(eval, &error.to_string()),
            Err(error) => {
                return Err(format!("error evaluating query {query:?} (line {}): {error}", eval.line));
            }
            Ok(result) => result,
        };
        if eval.is_fail() {
            return Err(format!(
                "expected error evaluating query {query:?} (line {}) but got none",
                eval.line
            ));
        }
        check_annotations(eval, query, &result.annotations)?;
        compare_result(eval, &result.value)
            .map_err(|e| format!("error in eval {query} (line {}): {e}", eval.line))?;
        if eval.exclude_from_range_query || QUERY_CONTEXT_FUNCS.is_match(query) {
            return Ok(());
        }
        self.check_range_mode(eval, query, t, &result)
            .map_err(|e| format!("error in eval {query} (line {}) range mode: {e}", eval.line))
    }

    /// The instant query re-run as a range query around `t`: its step at `t` must match.
    fn check_range_mode(
        &self,
        eval: &EvalCommand,
        query: &str,
        t: i64,
        instant: &QueryResult,
    ) -> Result<(), String> {
        const MINUTE_MS: i64 = 60_000;
        let range = self
            .engine
            .range_query(self.storage, query, t - MINUTE_MS, t + MINUTE_MS, MINUTE_MS)
            .map_err(|e| format!("error evaluating query {query:?} in range mode: {e}"))?;
        if eval.is_ordered() {
            // Range results are sorted by labels, so an expected order cannot be checked.
            return Ok(());
        }
        let Value::Matrix(matrix) = &range.value else {
            return Err(format!("range query returned {:?} instead of a matrix", value_kind(&range.value)));
        };
        assert_matrix_sorted(matrix)?;
        let mut vector: Vec<InstantSample> = Vec::new();
        for series in matrix {
            if let Some(s) = series.samples.iter().find(|s| s.timestamp_ms == t) {
                vector.push(InstantSample::float(series.labels.clone(), t, s.value, false));
            }
            if let Some(h) = series.histograms.iter().find(|s| s.timestamp_ms == t) {
                vector.push(InstantSample::histogram(series.labels.clone(), t, h.histogram.clone(), false));
            }
        }
        if matches!(instant.value, Value::Scalar { .. }) {
            let first = vector.first().ok_or("the range query has no point at the instant query's time")?;
            compare_result(eval, &Value::Scalar { t, v: first.v })
        } else {
            compare_vector(eval, &vector)
        }
    }
}

fn value_kind(value: &Value) -> &'static str {
    match value {
        Value::Scalar { .. } => "scalar",
        Value::String { .. } => "string",
        Value::Vector(_) => "vector",
        Value::Matrix(_) => "matrix",
    }
}
