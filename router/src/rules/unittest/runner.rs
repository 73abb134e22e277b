//! Runs the test groups of one test file the way promtool's `ruleUnitTest` does.
//!
//! Per test group: a fresh in-memory [`Store`]; the input series expanded from the group's
//! start (the Unix epoch or `start_timestamp`) at its `interval`; the rule groups of every rule
//! file (validated as `promtool check rules` does, unknown fields dropped with
//! `--ignore-unknown-fields`), with the test group's interval as their default interval and
//! sorted by `group_eval_order` (groups not listed sort as if first, as upstream's map).
//!
//! Then, from the start to the largest `eval_time` of the group, one step per
//! `evaluation_interval`: the input samples up to the step are loaded (as upstream's lazy
//! loader does, so later samples are invisible to the rules), every group is evaluated at the
//! step in order with its output written to the same store, and a rule that failed ends the
//! group with `rule: NAME, time: T, err: E`. Alert tests whose `eval_time` falls in
//! `[step, step + evaluation_interval)` are checked against the firing alerts (pending ones
//! are not compared) of every alerting rule of that name, in any group, compared as sorted
//! lists of labels and annotations. Expression tests run at the end on the store as it is
//! then (input loaded up to the last step, all rule output).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use harrier_telemetry::model::{Labels, Sample};
use regex::Regex;

use super::file::{AlertTestCase, TestGroup, UnitTestFile};
use super::output::{
    LabelsAndAnnotations, ParsedSample, alerts_string, go_duration, go_quote, indent_lines, json_diff,
    samples_string,
};
use super::{Output, UnitTestOptions};
use crate::histogram::FloatHistogram;
use crate::promql::{Engine, EngineOptions};
use crate::promqltest::TestStorage;
use crate::promqltest::series_notation::{self, SequenceValue};
use crate::rules::alerting::AlertState;
use crate::rules::check::{NameValidation, validate};
use crate::rules::eval::{EngineQuerier, EvalContext, rule_vector};
use crate::rules::file::{load_file, resolve_rule_files};
use crate::rules::group::{Group, RuleKind, build_groups};
use crate::store::{HistogramSample, Store};

/// Prometheus's default evaluation interval, the default of `evaluation_interval`.
const DEFAULT_EVALUATION_INTERVAL_MS: i64 = 60_000;
/// The resend delay given to group evaluations (notifications are dropped in tests).
const RESEND_DELAY_MS: i64 = 60_000;
/// The query sample limit of upstream's test engine.
const MAX_SAMPLES: usize = 10_000;

/// Runs every selected test group of the file at `path`; returns the failures (empty when it
/// passed).
pub(super) fn run_test_file(
    path: &Path,
    options: &UnitTestOptions,
    run: Option<&Regex>,
    out: &mut Output,
) -> Vec<String> {
    let file = match super::file::load_file(path) {
        Ok(file) => file,
        Err(e) => return vec![e.to_string()],
    };
    let base = path.parent();
    let mut rule_files: Vec<PathBuf> = Vec::new();
    for pattern in file.rule_files.iter().filter(|p| !p.is_empty()) {
        match resolve_rule_files(std::slice::from_ref(pattern), base) {
            Ok(found) => {
                if found.is_empty() {
                    let shown = match base {
                        Some(dir) if !Path::new(pattern).is_absolute() && !dir.as_os_str().is_empty() => {
                            dir.join(pattern).display().to_string()
                        }
                        _ => pattern.clone(),
                    };
                    out.err(format!("  WARNING: no file match pattern {shown}\n"));
                }
                rule_files.extend(found);
            }
            Err(e) => return vec![e.to_string()],
        }
    }
    let evaluation_interval = match file.evaluation_interval.map(|d| d.as_millis()) {
        Some(ms) if ms > 0 => ms,
        _ => DEFAULT_EVALUATION_INTERVAL_MS,
    };
    let mut order: Vec<&str> = Vec::new();
    for name in &file.group_eval_order {
        if order.contains(&name.as_str()) {
            return vec![format!("group name repeated in evaluation order: {name}")];
        }
        order.push(name);
    }
    let settings = FileSettings { file: &file, rule_files: &rule_files, evaluation_interval, order: &order };
    let mut errors = Vec::new();
    for (i, group) in file.tests.iter().enumerate() {
        let name = group.name.as_str();
        if run.is_some_and(|re| !re.is_match(name)) {
            continue;
        }
        let test_name = if name.is_empty() { format!("unnamed#{i}") } else { name.to_string() };
        let started = Instant::now();
        if options.debug {
            out.err(format!("DEBUG: Starting test {test_name}\n"));
        }
        errors.extend(run_test_group(group, &settings, options, out));
        if options.debug {
            out.err(format!("DEBUG: Test {test_name} finished, took {:?}\n", started.elapsed()));
        }
    }
    errors
}

/// What every test group of a file shares.
struct FileSettings<'a> {
    file: &'a UnitTestFile,
    rule_files: &'a [PathBuf],
    evaluation_interval: i64,
    order: &'a [&'a str],
}

/// An input series, loaded step by step.
struct PendingSeries {
    labels: Labels,
    floats: Vec<Sample>,
    histograms: Vec<HistogramSample>,
    next_float: usize,
    next_histogram: usize,
}

impl PendingSeries {
    /// Loads the samples up to `ts` not loaded yet.
    fn load_until(&mut self, store: &Store, ts: i64) -> Result<(), String> {
        let end = self.next_float + self.floats[self.next_float..].partition_point(|s| s.timestamp_ms <= ts);
        if end > self.next_float {
            store.load(&self.labels, &self.floats[self.next_float..end]).map_err(|e| e.to_string())?;
            self.next_float = end;
        }
        let end = self.next_histogram
            + self.histograms[self.next_histogram..].partition_point(|s| s.timestamp_ms <= ts);
        if end > self.next_histogram {
            store
                .load_histograms(&self.labels, &self.histograms[self.next_histogram..end])
                .map_err(|e| e.to_string())?;
            self.next_histogram = end;
        }
        Ok(())
    }
}

/// Expands the input series of `group` from `start` at `interval`.
fn input_series(group: &TestGroup, start: i64, interval: i64) -> Result<Vec<PendingSeries>, String> {
    let mut all = Vec::with_capacity(group.input_series.len());
    for (i, input) in group.input_series.iter().enumerate() {
        let line = format!("{} {}", input.series, input.values);
        let description =
            series_notation::parse_series(&line).map_err(|e| format!("error in input_series[{i}]: {e}"))?;
        let floats = description.float_samples(start, interval);
        let mut histograms = Vec::new();
        for (k, value) in description.values.iter().enumerate() {
            if let SequenceValue::Histogram(item) = value {
                histograms.push(HistogramSample {
                    timestamp_ms: start.saturating_add((k as i64).saturating_mul(interval)),
                    histogram: Arc::clone(&item.histogram),
                });
            }
        }
        all.push(PendingSeries {
            labels: description.labels,
            floats,
            histograms,
            next_float: 0,
            next_histogram: 0,
        });
    }
    Ok(all)
}

/// Loads, validates and builds the rule groups; the errors of the first failing file.
fn load_groups(
    rule_files: &[PathBuf],
    options: &UnitTestOptions,
    interval: i64,
) -> Result<Vec<Group>, Vec<String>> {
    let mut groups = Vec::new();
    for path in rule_files {
        let loaded = load_file(path, options.ignore_unknown_fields).map_err(|e| vec![e.to_string()])?;
        let problems = validate(&loaded, NameValidation::Utf8);
        if !problems.is_empty() {
            return Err(problems.iter().map(ToString::to_string).collect());
        }
        groups.extend(build_groups(&loaded, interval, 0));
    }
    Ok(groups)
}

/// Runs one test group; returns its failures.
fn run_test_group(
    group: &TestGroup,
    settings: &FileSettings<'_>,
    options: &UnitTestOptions,
    out: &mut Output,
) -> Vec<String> {
    let evaluation_interval = settings.evaluation_interval;
    let interval = match group.interval.map(|d| d.as_millis()) {
        Some(ms) if ms > 0 => ms,
        _ => evaluation_interval,
    };
    let mint = group.start_timestamp.map_or(0, |s| s.0);
    let mut series = match input_series(group, mint, interval) {
        Ok(series) => series,
        Err(e) => return vec![e],
    };
    let store = Arc::new(Store::in_memory());
    let engine = Engine::new(EngineOptions {
        max_samples: MAX_SAMPLES,
        timeout: std::time::Duration::from_secs(100),
        default_subquery_step: std::time::Duration::from_millis(evaluation_interval.max(1) as u64),
        ..EngineOptions::default()
    });
    let mut groups = match load_groups(settings.rule_files, options, interval) {
        Ok(groups) => groups,
        Err(errors) => return errors,
    };
    let rank = |g: &Group| settings.order.iter().position(|n| *n == g.settings.name).unwrap_or(0);
    groups.sort_by_key(|g| rank(g));

    let max_eval = group
        .alert_rule_test
        .iter()
        .map(|a| a.eval_time.as_millis())
        .chain(group.promql_expr_test.iter().map(|p| p.eval_time.as_millis()))
        .max()
        .unwrap_or(0)
        .max(0);
    let maxt = mint.saturating_add(max_eval);

    // Alert tests by eval time, in time order.
    let mut alert_times: Vec<i64> = Vec::new();
    for test in &group.alert_rule_test {
        if test.alertname.as_str().is_empty() {
            let in_group = if group.name.as_str().is_empty() {
                String::new()
            } else {
                format!(" (in TestGroup {})", group.name)
            };
            return vec![format!(
                "an item under alert_rule_test misses required attribute alertname at eval_time {}{in_group}",
                test.eval_time
            )];
        }
        alert_times.push(test.eval_time.as_millis());
    }
    alert_times.sort_unstable();
    alert_times.dedup();

    let external_labels =
        Labels::from_pairs(group.external_labels.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let querier = EngineQuerier {
        engine: engine.clone(),
        storage: Arc::clone(&store) as Arc<dyn crate::store::Queryable>,
    };
    let ctx = EvalContext {
        querier: &querier,
        external_labels: &external_labels,
        external_url: group.external_url.as_str(),
    };

    let mut errors = Vec::new();
    let mut current = 0;
    let mut ts = mint;
    while ts <= maxt {
        // As upstream's lazy loader: a failed load is reported and the step's evaluation is
        // skipped.
        let load_errors: Vec<String> =
            series.iter_mut().filter_map(|s| s.load_until(&store, ts).err()).collect();
        let eval_errors =
            if load_errors.is_empty() { eval_step(&mut groups, ts, &ctx, &store) } else { Vec::new() };
        errors.extend(load_errors);
        if !eval_errors.is_empty() {
            errors.extend(eval_errors);
            return errors;
        }
        while current < alert_times.len()
            && ts - mint <= alert_times[current]
            && alert_times[current] < ts - mint + evaluation_interval
        {
            let t = alert_times[current];
            for test in group.alert_rule_test.iter().filter(|a| a.eval_time.as_millis() == t) {
                if let Some(failure) = check_alerts(test, &groups, group, options) {
                    errors.push(failure);
                }
            }
            current += 1;
        }
        match ts.checked_add(evaluation_interval) {
            Some(next) => ts = next,
            None => break,
        }
    }

    for test in &group.promql_expr_test {
        if let Some(failure) = check_expression(test, &engine, &store, mint, settings.file.fuzzy_compare) {
            errors.push(failure);
        }
    }

    if options.debug {
        debug_dump(&engine, &store, mint, max_eval, out);
    }
    errors
}

/// Evaluates every group at `ts`, in order; the errors of the rules that failed, as promtool
/// reports them.
fn eval_step(groups: &mut [Group], ts: i64, ctx: &EvalContext<'_>, store: &Store) -> Vec<String> {
    let mut errors = Vec::new();
    for g in groups {
        g.eval(ts, ctx, store, RESEND_DELAY_MS);
        for rule in &g.rules {
            if let Some(e) = &rule.last_error {
                errors.push(format!("    rule: {}, time: {}, err: {e}", rule.rule.name(), go_duration(ts)));
            }
        }
    }
    errors
}

/// The firing alerts of every alerting rule named `name`.
fn firing_alerts(groups: &[Group], name: &str) -> Vec<LabelsAndAnnotations> {
    let mut got = Vec::new();
    for g in groups {
        for rule in &g.rules {
            let RuleKind::Alerting(alerting) = &rule.rule else { continue };
            if alerting.name() != name {
                continue;
            }
            for alert in alerting.alerts() {
                if alert.state == AlertState::Firing {
                    got.push(LabelsAndAnnotations {
                        labels: alert
                            .labels
                            .iter()
                            .map(|l| (l.name.to_string(), l.value.to_string()))
                            .collect(),
                        annotations: alert
                            .annotations
                            .iter()
                            .map(|l| (l.name.to_string(), l.value.to_string()))
                            .collect(),
                    });
                }
            }
        }
    }
    got
}

/// Compares one alert test; the failure message when it fails.
fn check_alerts(
    test: &AlertTestCase,
    groups: &[Group],
    group: &TestGroup,
    options: &UnitTestOptions,
) -> Option<String> {
    let alertname = test.alertname.as_str();
    let mut got = firing_alerts(groups, alertname);
    let mut expected: Vec<LabelsAndAnnotations> = test
        .exp_alerts
        .iter()
        .map(|a| {
            let mut labels: std::collections::BTreeMap<String, String> =
                a.exp_labels.iter().map(|(k, v)| (k.clone(), v.text.clone())).collect();
            labels.insert("alertname".into(), alertname.to_string());
            LabelsAndAnnotations {
                labels: labels.into_iter().collect(),
                annotations: a.exp_annotations.iter().map(|(k, v)| (k.clone(), v.text.clone())).collect(),
            }
        })
        .collect();
    got.sort();
    expected.sort();
    if got == expected {
        return None;
    }
    let test_name =
        if group.name.as_str().is_empty() { String::new() } else { format!("    name: {},\n", group.name) };
    if options.diff {
        let empty = LabelsAndAnnotations { labels: Vec::new(), annotations: Vec::new() };
        let as_json = |list: &[LabelsAndAnnotations]| {
            let list: Vec<serde_json::Value> = if list.is_empty() {
                vec![empty.to_json()]
            } else {
                list.iter().map(LabelsAndAnnotations::to_json).collect()
            };
            serde_json::Value::Array(list)
        };
        let diff = json_diff(&as_json(&expected), &as_json(&got))?;
        return Some(format!(
            "{test_name}    alertname: {alertname}, time: {}, \n        diff: {}",
            test.eval_time,
            indent_lines(&diff, "            ")
        ));
    }
    Some(format!(
        "{test_name}    alertname: {alertname}, time: {}, \n        exp:{}, \n        got:{}",
        test.eval_time,
        indent_lines(&alerts_string(&expected), "            "),
        indent_lines(&alerts_string(&got), "            ")
    ))
}

/// Whether two floats match: equal, or (with `fuzzy_compare`) one ULP apart.
fn floats_match(a: f64, b: f64, fuzzy: bool) -> bool {
    if a == b {
        return true;
    }
    if !fuzzy || !a.is_finite() || !b.is_finite() {
        return false;
    }
    next_toward(a, f64::NEG_INFINITY) == b || next_toward(a, f64::INFINITY) == b
}

/// Go's `math.Nextafter(x, toward)` for finite `x`.
fn next_toward(x: f64, toward: f64) -> f64 {
    if x == toward {
        return x;
    }
    if x == 0.0 {
        let tiny = f64::from_bits(1);
        return if toward > 0.0 { tiny } else { -tiny };
    }
    let bits = x.to_bits();
    let up = (toward > x) == (x > 0.0);
    f64::from_bits(if up { bits + 1 } else { bits - 1 })
}

/// Parses an expected sample's histogram (`{{...}}`).
fn expected_histogram(text: &str) -> Result<Arc<FloatHistogram>, String> {
    let description = series_notation::parse_series(&format!("{{}} {text}")).map_err(|e| e.to_string())?;
    match description.values.as_slice() {
        [SequenceValue::Histogram(item)] => Ok(Arc::clone(&item.histogram)),
        [other] => Err(format!("expected histogram, got {other}")),
        values => Err(format!("expected 1 value, got {}", values.len())),
    }
}

/// Runs one expression test; the failure message when it fails.
fn check_expression(
    test: &super::file::PromqlTestCase,
    engine: &Engine,
    store: &Store,
    mint: i64,
    fuzzy: bool,
) -> Option<String> {
    let expr = test.expr.as_str();
    let prefix = format!("    expr: {}, time: {}", go_quote(expr), test.eval_time);
    let t = mint.saturating_add(test.eval_time.as_millis());
    let result = match engine.instant_query(store, expr, t) {
        Ok(result) => rule_vector(result),
        Err(e) => return Some(format!("{prefix}, err: {e}")),
    };
    let vector = match result {
        Ok(vector) => vector,
        Err(e) => return Some(format!("{prefix}, err: {e}")),
    };
    let mut got: Vec<ParsedSample> = vector
        .into_iter()
        .map(|s| ParsedSample {
            labels: s.labels,
            value: if s.h.is_some() { 0.0 } else { s.v },
            histogram: s.h.map(|h| h.to_test_notation()).unwrap_or_default(),
        })
        .collect();
    let mut expected = Vec::with_capacity(test.exp_samples.len());
    for sample in &test.exp_samples {
        let text = sample.labels.as_str();
        let labels = if text.trim().is_empty() {
            Ok(Labels::new())
        } else {
            series_notation::parse_metric(text).map_err(|e| e.to_string())
        };
        let parsed = labels.and_then(|labels| {
            let histogram = if sample.histogram.as_str().is_empty() {
                String::new()
            } else {
                expected_histogram(sample.histogram.as_str())?.to_test_notation()
            };
            Ok(ParsedSample { labels, value: sample.value, histogram })
        });
        match parsed {
            Ok(p) => expected.push(p),
            Err(e) => return Some(format!("{prefix}, err: labels {}: {e}", go_quote(text))),
        }
    }
    expected.sort_by(|a, b| a.labels.cmp(&b.labels));
    got.sort_by(|a, b| a.labels.cmp(&b.labels));
    let equal = expected.len() == got.len()
        && expected.iter().zip(&got).all(|(e, g)| {
            e.labels == g.labels && e.histogram == g.histogram && floats_match(e.value, g.value, fuzzy)
        });
    if equal {
        return None;
    }
    Some(format!(
        "{prefix},\n        exp: {}\n        got: {}",
        samples_string(&expected),
        samples_string(&got)
    ))
}

/// `--debug`: every series of the store up to the last evaluation, to stderr.
fn debug_dump(engine: &Engine, store: &Store, mint: i64, max_eval: i64, out: &mut Output) {
    let seconds = max_eval / 1000 + 1;
    let expr = format!("{{__name__=~\".+\"}}[{seconds}s]");
    match engine.instant_query(store, &expr, mint.saturating_add(seconds * 1000)) {
        Ok(result) => match result.value {
            crate::promql::Value::Matrix(matrix) => {
                out.err(format!(
                    "DEBUG: Dump of all data (input_series and rules) at {}:\n",
                    go_duration(seconds * 1000)
                ));
                let mut text = Vec::new();
                for s in &matrix {
                    let mut lines = vec![format!("{} =>", super::output::labels_string(&s.labels))];
                    lines.extend(s.samples.iter().map(|p| format!("{} @[{}]", p.value, p.timestamp_ms)));
                    lines.extend(
                        s.histograms
                            .iter()
                            .map(|p| format!("{} @[{}]", p.histogram.to_test_notation(), p.timestamp_ms)),
                    );
                    text.push(lines.join("\n"));
                }
                out.err(format!("{}\n", text.join("\n")));
            }
            _ => out.err("DEBUG: Got unexpected type\n".to_string()),
        },
        Err(e) => out.err(format!("DEBUG: Failed querying, expr: {}, err: {e}\n", go_quote(&expr))),
    }
}
