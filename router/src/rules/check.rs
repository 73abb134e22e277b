//! Prometheus's rule validation (`rulefmt` `Validate`) and promtool's `check rules`.
//!
//! Messages are Prometheus's: `group "NAME", rule N, "RULE": MESSAGE` for a rule (N counts
//! from 1), `Groupname must not be empty` and `groupname: "NAME" is repeated in the same file`
//! for groups; each is a [`Diagnostic`] with file, line, column and field path. Expressions
//! are parsed with the engine's parser (so the engine's extra functions are known).
//!
//! Templates in labels and annotations of alerting rules are parsed as promtool does
//! (`testTemplateParsing`: Prometheus's variable definitions prepended, its function map, Go's
//! `text/template` parser; see [`crate::template::prometheus::parse_check`]).
//!
//! The lint is promtool's `duplicate-rules`: rules with the same record/alert name and the
//! same labels, over all groups of a file. Like promtool it is printed under `FAILED:` but
//! does not fail the file unless [`CheckOptions::lint_fatal`] is set.

use std::fmt::Write as _;
use std::path::Path;

use harrier_telemetry::config_diagnostic::Diagnostic;
use harrier_telemetry::config_diagnostic::locate::FieldPath;

use super::file::{LoadedRuleFile, Rule, RulesError, load_file};
use crate::promql::engine;

/// Which lints `check_file` runs (promtool's `--lint`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lint {
    None,
    #[default]
    DuplicateRules,
}

/// How metric and label names are validated. Prometheus 3 accepts any non-empty UTF-8 name;
/// Prometheus 2 (and `legacy`) wants `[a-zA-Z_:][a-zA-Z0-9_:]*` (no `:` in label names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NameValidation {
    #[default]
    Utf8,
    Legacy,
}

#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    pub lint: Lint,
    /// Lint findings make the file fail (promtool's `--lint-fatal`).
    pub lint_fatal: bool,
    /// Unknown fields of groups and rules are dropped instead of rejected.
    pub ignore_unknown_fields: bool,
    pub name_validation: NameValidation,
}

/// Rules with the same name and labels (promtool's `compareRuleType`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateRule {
    pub metric: String,
    pub labels: Vec<(String, String)>,
}

/// The outcome of checking one file.
#[derive(Debug, Clone)]
pub struct FileReport {
    pub path: String,
    /// Rules found, when the file parsed and validated.
    pub rule_count: usize,
    /// Read, syntax and validation errors; the file fails when there are any.
    pub errors: Vec<String>,
    pub duplicates: Vec<DuplicateRule>,
    pub lint_fatal: bool,
}

impl FileReport {
    pub fn failed(&self) -> bool {
        !self.errors.is_empty() || (self.lint_fatal && !self.duplicates.is_empty())
    }

    /// promtool's output for this file: `Checking FILE`, then `  SUCCESS: N rules found`, or
    /// `  FAILED:` and one error per line. Lint findings are printed under `  FAILED:` as
    /// promtool does, even when they are not fatal.
    pub fn render(&self) -> String {
        let mut out = format!("Checking {}\n", self.path);
        if !self.errors.is_empty() {
            out.push_str("  FAILED:\n");
            for e in &self.errors {
                let _ = writeln!(out, "{e}");
            }
        } else if !self.duplicates.is_empty() {
            out.push_str("  FAILED:\n");
            let _ = writeln!(out, "lint error {} duplicate rule(s) found.", self.duplicates.len());
            for dup in &self.duplicates {
                let _ = writeln!(out, "Metric: {}\nLabel(s):", dup.metric);
                for (name, value) in &dup.labels {
                    let _ = writeln!(out, "\t{name}: {value}");
                }
            }
            out.push_str("Might cause inconsistency while recording expressions\n");
        } else {
            let _ = writeln!(out, "  SUCCESS: {} rules found", self.rule_count);
        }
        out
    }
}

/// Reads, parses and validates one rule file, and lints it.
pub fn check_file(path: &Path, options: &CheckOptions) -> FileReport {
    let mut report = FileReport {
        path: path.display().to_string(),
        rule_count: 0,
        errors: Vec::new(),
        duplicates: Vec::new(),
        lint_fatal: options.lint_fatal,
    };
    let loaded = match load_file(path, options.ignore_unknown_fields) {
        Ok(loaded) => loaded,
        Err(e) => {
            report.errors.push(e.to_string());
            return report;
        }
    };
    let problems = validate(&loaded, options.name_validation);
    if !problems.is_empty() {
        report.errors = problems.iter().map(ToString::to_string).collect();
        return report;
    }
    report.rule_count = loaded.rule_count();
    if options.lint == Lint::DuplicateRules {
        report.duplicates = find_duplicates(&loaded);
    }
    report
}

/// Reads and validates a rule file, for loading rules to evaluate: the first problem wins.
pub fn load_valid(path: &Path, options: &CheckOptions) -> Result<LoadedRuleFile, RulesError> {
    let loaded = load_file(path, options.ignore_unknown_fields)?;
    match validate(&loaded, options.name_validation).into_iter().next() {
        Some(problem) => Err(RulesError::Invalid(Box::new(problem))),
        None => Ok(loaded),
    }
}

/// Prometheus's `RuleGroups.Validate`: every problem of the file, in file order.
pub fn validate(loaded: &LoadedRuleFile, names: NameValidation) -> Vec<Diagnostic> {
    let mut problems = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let groups_path = FieldPath::root().key("groups");
    for (g, group) in loaded.file.groups.iter().enumerate() {
        let group_path = groups_path.index(g);
        if group.name.is_empty() {
            problems.push(loaded.diagnostic(group_path.key("name"), "Groupname must not be empty".into()));
        }
        if !seen.insert(group.name.as_str()) {
            problems.push(loaded.diagnostic(
                group_path.key("name"),
                format!("groupname: \"{}\" is repeated in the same file", group.name),
            ));
        }
        for (name, value) in &group.labels {
            if let Some(message) = label_problem(name, value.as_str(), names) {
                problems.push(loaded.diagnostic(group_path.key("labels").key(name), message));
            }
        }
        for (r, rule) in group.rules.iter().enumerate() {
            let rule_path = group_path.key("rules").index(r);
            for (field, message) in validate_rule(rule, names) {
                let path = field.iter().fold(rule_path.clone(), |path, key| path.key(key));
                problems.push(loaded.diagnostic(
                    path,
                    format!("group \"{}\", rule {}, \"{}\": {message}", group.name, r + 1, rule.name()),
                ));
            }
        }
    }
    problems
}

/// Prometheus's `Rule.Validate`: (field path below the rule, message) for each problem of
/// one rule; an empty path is the rule itself.
pub fn validate_rule(rule: &Rule, names: NameValidation) -> Vec<(Vec<String>, String)> {
    let mut problems: Vec<(Vec<String>, String)> = Vec::new();
    let mut push = |field: &[&str], message: String| {
        problems.push((field.iter().map(|f| f.to_string()).collect(), message))
    };
    let (record, alert) = (rule.record_name(), rule.alert_name());
    match (record, alert) {
        (Some(_), Some(_)) => push(&["record"], "only one of 'record' and 'alert' must be set".into()),
        (None, None) => push(&[], "one of 'record' or 'alert' must be set".into()),
        _ => {}
    }
    let expr = rule.expr_text();
    if expr.is_empty() {
        push(&["expr"], "field 'expr' must be set in rule".into());
    } else if let Err(e) = engine::parse(expr) {
        push(&["expr"], format!("could not parse expression: {}", parse_message(&e)));
    }
    if let Some(record) = record {
        if !rule.annotations.is_empty() {
            push(&["annotations"], "invalid field 'annotations' in recording rule".into());
        }
        if rule.for_duration.is_some_and(|d| !d.as_duration().is_zero()) {
            push(&["for"], "invalid field 'for' in recording rule".into());
        }
        if rule.keep_firing_for.is_some_and(|d| !d.as_duration().is_zero()) {
            push(&["keep_firing_for"], "invalid field 'keep_firing_for' in recording rule".into());
        }
        if !valid_metric_name(record, names) {
            push(&["record"], format!("invalid recording rule name: {record}"));
        }
    }
    for (name, value) in &rule.labels {
        if let Some(message) = label_problem(name, value.as_str(), names) {
            push(&["labels", name], message);
        }
    }
    for name in rule.annotations.keys() {
        if !valid_label_name(name, names) {
            push(&["annotations", name], format!("invalid annotation name: {name}"));
        }
    }
    if let Some(alert) = alert {
        let template_name = format!("__alert_{alert}");
        for (name, value) in &rule.labels {
            if let Err(e) = check_template(value.as_str(), &template_name) {
                push(&["labels", name], format!("label \"{name}\": {e}"));
            }
        }
        for (name, value) in &rule.annotations {
            if let Err(e) = check_template(value.as_str(), &template_name) {
                push(&["annotations", name], format!("annotation \"{name}\": {e}"));
            }
        }
    }
    problems
}

fn parse_message(e: &crate::promql::PromqlError) -> String {
    match e {
        crate::promql::PromqlError::Parse { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

fn label_problem(name: &str, _value: &str, names: NameValidation) -> Option<String> {
    // Label values are strings, hence valid UTF-8: only names can be wrong.
    if !valid_label_name(name, names) || name == "__name__" {
        return Some(format!("invalid label name: {name}"));
    }
    None
}

/// A metric name under `names` (Prometheus's `IsValidMetricName`).
pub fn valid_metric_name(name: &str, names: NameValidation) -> bool {
    match names {
        NameValidation::Utf8 => !name.is_empty(),
        NameValidation::Legacy => legacy_name(name, true),
    }
}

/// A label name under `names` (Prometheus's `LabelName.IsValid`).
pub fn valid_label_name(name: &str, names: NameValidation) -> bool {
    match names {
        NameValidation::Utf8 => !name.is_empty(),
        NameValidation::Legacy => legacy_name(name, false),
    }
}

fn legacy_name(name: &str, allow_colon: bool) -> bool {
    let mut chars = name.chars();
    let ok_first = |c: char| c.is_ascii_alphabetic() || c == '_' || (allow_colon && c == ':');
    match chars.next() {
        Some(c) if ok_first(c) => chars.all(|c| ok_first(c) || c.is_ascii_digit()),
        _ => false,
    }
}

/// promtool's template check of one label or annotation value, for the template named `name`
/// (`__alert_ALERT`): Go's parse error text (`template: NAME:LINE: ...`).
pub fn check_template(text: &str, name: &str) -> Result<(), String> {
    crate::template::prometheus::parse_check_named(name, text)
}

/// promtool's duplicate-rules lint: rules with the same record/alert name and the same labels
/// (group labels merged under rule labels), over all groups; each duplicated rule is listed
/// once, sorted by name then labels.
pub fn find_duplicates(loaded: &LoadedRuleFile) -> Vec<DuplicateRule> {
    let mut keys: Vec<DuplicateRule> = Vec::new();
    for group in &loaded.file.groups {
        for rule in &group.rules {
            let mut labels: std::collections::BTreeMap<&str, &str> =
                group.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            labels.extend(rule.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            keys.push(DuplicateRule {
                metric: rule.name().to_string(),
                labels: labels.into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            });
        }
    }
    keys.sort_by(|a, b| a.metric.cmp(&b.metric).then_with(|| a.labels.cmp(&b.labels)));
    let mut duplicates: Vec<DuplicateRule> = Vec::new();
    for pair in keys.windows(2) {
        if pair[0] == pair[1] && duplicates.last() != Some(&pair[1]) {
            duplicates.push(pair[1].clone());
        }
    }
    duplicates
}
