//! The rule file data model and loader.
//!
//! The structs mirror Prometheus's `rulefmt.RuleGroups` field for field and refuse unknown
//! fields, as Prometheus does. Scalars that Go's YAML decoder turns into strings (`expr: 1`,
//! `severity: 2`) are accepted as strings here too ([`ScalarString`]). The source text is kept
//! next to the parsed file so that later checks can point at the line and column of a field
//! with [`locate`](harrier_telemetry::config_diagnostic::locate).
//!
//! `--ignore-unknown-fields` (promtool's flag) is supported by dropping unknown keys of groups
//! and rules from the YAML value before it is deserialized.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use harrier_telemetry::config_diagnostic::locate::{self, FieldPath};
use harrier_telemetry::config_diagnostic::{self, Diagnostic};
use harrier_telemetry::duration::PromDuration;
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

/// A whole rule file: Prometheus's `RuleGroups`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RuleFile {
    #[serde(default)]
    pub groups: Vec<RuleGroup>,
}

/// One group: rules evaluated in order on the group's interval.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RuleGroup {
    #[serde(default)]
    pub name: String,
    /// Defaults to the global evaluation interval.
    #[serde(default)]
    pub interval: Option<PromDuration>,
    /// Defaults to the global rule query offset.
    #[serde(default)]
    pub query_offset: Option<PromDuration>,
    /// Maximum series an alerting rule may produce or a recording rule may write; 0 is none.
    #[serde(default)]
    pub limit: i64,
    /// Added to every rule's output; rule labels win.
    #[serde(default)]
    pub labels: BTreeMap<String, ScalarString>,
    #[serde(default)]
    pub rules: Vec<Rule>,
}

/// A recording rule (`record`) or an alerting rule (`alert`); validation checks it is one.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    #[serde(default)]
    pub record: Option<ScalarString>,
    #[serde(default)]
    pub alert: Option<ScalarString>,
    #[serde(default)]
    pub expr: Option<ScalarString>,
    #[serde(default, rename = "for")]
    pub for_duration: Option<PromDuration>,
    #[serde(default)]
    pub keep_firing_for: Option<PromDuration>,
    #[serde(default)]
    pub labels: BTreeMap<String, ScalarString>,
    #[serde(default)]
    pub annotations: BTreeMap<String, ScalarString>,
}

impl Rule {
    /// The recording rule's name, if set and non-empty.
    pub fn record_name(&self) -> Option<&str> {
        self.record.as_ref().map(ScalarString::as_str).filter(|s| !s.is_empty())
    }
    /// The alert's name, if set and non-empty.
    pub fn alert_name(&self) -> Option<&str> {
        self.alert.as_ref().map(ScalarString::as_str).filter(|s| !s.is_empty())
    }
    /// The record or alert name (promtool's `ruleMetric`), empty when neither is set.
    pub fn name(&self) -> &str {
        self.alert_name().or(self.record_name()).unwrap_or("")
    }
    /// The expression text, empty when not set.
    pub fn expr_text(&self) -> &str {
        self.expr.as_ref().map_or("", ScalarString::as_str)
    }
}

/// A YAML scalar read as a string, like Go's YAML decoder does for string fields: `1`,
/// `true` and `2.5` are accepted and kept as their text.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct ScalarString(pub String);

impl ScalarString {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ScalarString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ScalarString {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScalarVisitor;
        impl Visitor<'_> for ScalarVisitor {
            type Value = ScalarString;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ScalarString, E> {
                Ok(ScalarString(v.to_string()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<ScalarString, E> {
                Ok(ScalarString(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ScalarString, E> {
                Ok(ScalarString(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ScalarString, E> {
                Ok(ScalarString(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<ScalarString, E> {
                Ok(ScalarString(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<ScalarString, E> {
                Ok(ScalarString(v.to_string()))
            }
        }
        deserializer.deserialize_any(ScalarVisitor)
    }
}

/// A parsed rule file with the text it came from, for positions in later diagnostics.
#[derive(Debug, Clone)]
pub struct LoadedRuleFile {
    /// The file name as given (used as the origin of diagnostics).
    pub origin: String,
    pub text: String,
    pub file: RuleFile,
}

impl LoadedRuleFile {
    /// A diagnostic at `field` of this file.
    pub fn diagnostic(&self, field: FieldPath, message: String) -> Diagnostic {
        let position = locate::locate(&self.text, &field);
        Diagnostic { origin: self.origin.clone(), position, field, message }
    }

    /// Number of rules over all groups.
    pub fn rule_count(&self) -> usize {
        self.file.groups.iter().map(|g| g.rules.len()).sum()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("{path}: cannot read: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{0}")]
    Invalid(Box<Diagnostic>),
    #[error("invalid rule file pattern {pattern:?}: {message}")]
    Pattern { pattern: String, message: String },
}

/// Reads and parses the rule file at `path` (syntax and field types only; see
/// [`check`](super::check) for Prometheus's validation).
pub fn load_file(path: &Path, ignore_unknown_fields: bool) -> Result<LoadedRuleFile, RulesError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| RulesError::Read { path: path.to_path_buf(), source })?;
    load_str(text, &path.display().to_string(), ignore_unknown_fields)
}

/// Parses rule file text; `origin` names it in errors.
pub fn load_str(
    text: String,
    origin: &str,
    ignore_unknown_fields: bool,
) -> Result<LoadedRuleFile, RulesError> {
    let raw: yaml_serde::Value =
        yaml_serde::from_str(&text).map_err(|e| yaml_error(&text, origin, &FieldPath::root(), &e))?;
    let file = if raw.is_null() {
        RuleFile::default()
    } else if ignore_unknown_fields {
        let pruned = prune_unknown(raw);
        serde_path_to_error::deserialize(pruned)
            .map_err(|e| yaml_error(&text, origin, &FieldPath::from_serde(e.path()), e.inner()))?
    } else {
        serde_path_to_error::deserialize(yaml_serde::Deserializer::from_str(&text))
            .map_err(|e| yaml_error(&text, origin, &FieldPath::from_serde(e.path()), e.inner()))?
    };
    Ok(LoadedRuleFile { origin: origin.to_string(), text, file })
}

const FILE_KEYS: &[&str] = &["groups"];
const GROUP_KEYS: &[&str] = &["name", "interval", "query_offset", "limit", "labels", "rules"];
const RULE_KEYS: &[&str] = &["record", "alert", "expr", "for", "keep_firing_for", "labels", "annotations"];

/// Drops the keys Prometheus's structs do not know, at file, group and rule level.
fn prune_unknown(mut value: yaml_serde::Value) -> yaml_serde::Value {
    fn keep_known(value: &mut yaml_serde::Value, known: &[&str]) {
        if let yaml_serde::Value::Mapping(map) = value {
            map.retain(|k, _| k.as_str().is_some_and(|k| known.contains(&k)));
        }
    }
    keep_known(&mut value, FILE_KEYS);
    if let Some(yaml_serde::Value::Sequence(groups)) = value.get_mut("groups") {
        for group in groups {
            keep_known(group, GROUP_KEYS);
            if let Some(yaml_serde::Value::Sequence(rules)) = group.get_mut("rules") {
                for rule in rules {
                    keep_known(rule, RULE_KEYS);
                }
            }
        }
    }
    value
}

/// Prometheus's `rule_files` resolution: each pattern is joined to the config file's
/// directory when relative, then globbed; a pattern matching nothing adds no file, an invalid
/// pattern is an error. Files come out in pattern order, each pattern's matches sorted.
pub fn resolve_rule_files(
    patterns: &[String],
    config_dir: Option<&Path>,
) -> Result<Vec<PathBuf>, RulesError> {
    let mut files = Vec::new();
    for pattern in patterns {
        let joined = match config_dir {
            Some(dir) if !Path::new(pattern).is_absolute() && !dir.as_os_str().is_empty() => {
                dir.join(pattern).display().to_string()
            }
            _ => pattern.clone(),
        };
        let paths = glob::glob(&joined)
            .map_err(|e| RulesError::Pattern { pattern: pattern.clone(), message: e.to_string() })?;
        let mut matched: Vec<PathBuf> = paths.filter_map(Result::ok).collect();
        matched.sort();
        files.extend(matched);
    }
    Ok(files)
}

/// A yaml_serde error as a diagnostic (see [`config_diagnostic::yaml_diagnostic`]).
fn yaml_error(text: &str, origin: &str, path: &FieldPath, err: &yaml_serde::Error) -> RulesError {
    RulesError::Invalid(Box::new(config_diagnostic::yaml_diagnostic(text, origin, path, err)))
}
