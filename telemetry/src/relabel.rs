//! Relabeling with Prometheus's semantics (`relabel_configs`, `metric_relabel_configs`,
//! `write_relabel_configs`).
//!
//! [`RelabelConfig`] is the YAML form. [`RelabelRule::compile`] validates it exactly as
//! Prometheus's `relabel.Config.Validate` does (same checks, same order, same messages) and
//! compiles the regex fully anchored, `^(?s:REGEX)$`, as Prometheus 3 does. [`process`] applies
//! a list of rules to a label set in place and says whether the series (or target) survives.
//!
//! Semantics follow `model/relabel/relabel.go`:
//! - the source value is the source labels' values (a missing label is `""`) joined with the
//!   separator;
//! - `replace` expands `target_label` and `replacement` with Go's `regexp.Expand` rules (`$1`,
//!   `${1}`, `$name`, `${name}`, `$$`; `$1_x` names the group `1_x`, which does not exist, so it
//!   expands to nothing); a target that is not a valid label name after expansion means no
//!   change, and an empty result deletes the target label;
//! - `hashmod` is the big-endian `u64` of bytes 8..16 of the MD5 of the source value, modulo
//!   `modulus`;
//! - `labelmap` works on a snapshot of the labels, so labels it creates are not mapped again.
//!
//! Label names are validated with Prometheus 3's default UTF-8 scheme (any non-empty name) unless
//! a rule is compiled with [`NameValidation::Legacy`] (`[a-zA-Z_][a-zA-Z0-9_]*`), which a scrape
//! job gets from `metric_name_validation_scheme: legacy`.
//!
//! Speed: `process` runs once per sample for `metric_relabel_configs`, so a rule that does not
//! apply allocates nothing. The label vector is taken out of [`Labels`] and edited in place
//! (values reuse their buffers), a single source label is borrowed rather than joined, and the
//! default regex `(.*)` is never run: it matches everything, with both groups 0 and 1 spanning
//! the whole value.
//!
//! Known divergence: the `regex` crate's `\w`, `\d`, `\s` and `\b` are Unicode-aware where Go's
//! are ASCII-only; this only matters for non-ASCII label values.

use crate::model::{Label, Labels};
use md5::{Digest, Md5};
use regex::{CaptureLocations, Regex};
use serde::{Deserialize, Deserializer};
use std::fmt;
use std::fmt::Write as _;

#[cfg(test)]
mod tests;

/// One relabel step, as Prometheus's YAML has it. Defaults follow Prometheus's documentation:
/// separator `;`, regex `(.*)`, replacement `$1`, action `replace`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelabelConfig {
    #[serde(default)]
    pub source_labels: Vec<String>,
    #[serde(default)]
    pub separator: Option<String>,
    #[serde(default)]
    pub target_label: Option<String>,
    #[serde(default)]
    pub regex: Option<String>,
    #[serde(default)]
    pub modulus: Option<u64>,
    #[serde(default)]
    pub replacement: Option<String>,
    #[serde(default)]
    pub action: Action,
}

/// The relabel action. Parsed case-insensitively, as Prometheus does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Action {
    #[default]
    Replace,
    Keep,
    Drop,
    KeepEqual,
    DropEqual,
    HashMod,
    LabelMap,
    LabelDrop,
    LabelKeep,
    Lowercase,
    Uppercase,
}

impl Action {
    const ALL: [Action; 11] = [
        Action::Replace,
        Action::Keep,
        Action::Drop,
        Action::KeepEqual,
        Action::DropEqual,
        Action::HashMod,
        Action::LabelMap,
        Action::LabelDrop,
        Action::LabelKeep,
        Action::Lowercase,
        Action::Uppercase,
    ];

    /// The name used in YAML (and in Prometheus's error messages).
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Replace => "replace",
            Action::Keep => "keep",
            Action::Drop => "drop",
            Action::KeepEqual => "keepequal",
            Action::DropEqual => "dropequal",
            Action::HashMod => "hashmod",
            Action::LabelMap => "labelmap",
            Action::LabelDrop => "labeldrop",
            Action::LabelKeep => "labelkeep",
            Action::Lowercase => "lowercase",
            Action::Uppercase => "uppercase",
        }
    }

    /// Parses an action name case-insensitively.
    pub fn parse(name: &str) -> Option<Action> {
        let lower = name.to_lowercase();
        Action::ALL.into_iter().find(|a| a.as_str() == lower)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Action {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Action::parse(&name).ok_or_else(|| {
            let names: Vec<&str> = Action::ALL.iter().map(|a| a.as_str()).collect();
            serde::de::Error::custom(format_args!(
                "unknown relabel action {name:?} (expected one of: {})",
                names.join(", ")
            ))
        })
    }
}

/// Which label names are valid: Prometheus 3's default (`utf8`: any non-empty name) or the
/// classic `legacy` set `[a-zA-Z_][a-zA-Z0-9_]*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NameValidation {
    #[default]
    Utf8,
    Legacy,
}

impl NameValidation {
    /// Whether `name` is a valid label name under this scheme.
    pub fn is_valid_label_name(self, name: &str) -> bool {
        match self {
            NameValidation::Utf8 => !name.is_empty(),
            NameValidation::Legacy => is_legacy_label_name(name),
        }
    }

    /// Prometheus's check for a `target_label` (or labelmap `replacement`) that contains
    /// `$` references: under `legacy`, `^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$`.
    fn is_valid_template(self, template: &str) -> bool {
        match self {
            NameValidation::Utf8 => !template.is_empty(),
            NameValidation::Legacy => is_legacy_template(template),
        }
    }
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_legacy_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z' | b'A'..=b'Z' | b'_'))
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Matches `^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$` without a regex: the template is a
/// sequence of tokens, each a letter or `_`, a `$name` / `${name}` reference, or (after at
/// least one of those) a word character. In other words: non-empty, does not start with a
/// digit, and every `$` starts a well-formed reference.
fn is_legacy_template(template: &str) -> bool {
    let bytes = template.as_bytes();
    let is_word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    if bytes.is_empty() || bytes[0].is_ascii_digit() {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'$' => {
                i += 1;
                if bytes.get(i) == Some(&b'{') {
                    let start = i + 1;
                    let mut end = start;
                    while end < bytes.len() && is_word(bytes[end]) {
                        end += 1;
                    }
                    if end == start || bytes.get(end) != Some(&b'}') {
                        return false;
                    }
                    i = end + 1;
                } else {
                    let start = i;
                    while i < bytes.len() && is_word(bytes[i]) {
                        i += 1;
                    }
                    if i == start {
                        return false;
                    }
                }
            }
            b if is_word(b) => i += 1,
            _ => return false,
        }
    }
    true
}

/// Why a relabel config was rejected. The messages are Prometheus's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RelabelError {
    #[error("invalid regex {regex:?}: {message}")]
    Regex { regex: String, message: String },
    #[error("{0:?} is not a valid label name")]
    SourceLabel(String),
    #[error("relabel configuration for hashmod requires non-zero modulus")]
    ZeroModulus,
    #[error("relabel configuration for {0} action requires 'target_label' value")]
    MissingTargetLabel(Action),
    #[error("{target:?} is invalid 'target_label' for {action} action")]
    InvalidTargetLabel { target: String, action: Action },
    #[error("'replacement' can not be set for {0} action")]
    ReplacementNotAllowed(Action),
    #[error("{replacement:?} is invalid 'replacement' for {action} action")]
    InvalidReplacement { replacement: String, action: Action },
    #[error("{0} action requires only 'source_labels' and `target_label`, and no other fields")]
    OnlySourceAndTarget(Action),
    #[error("{0} action requires only 'regex', and no other fields")]
    OnlyRegex(Action),
}

impl RelabelError {
    /// The YAML field of the relabel config the error is about, for pointing at a line.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            RelabelError::Regex { .. } => Some("regex"),
            RelabelError::SourceLabel(_) => Some("source_labels"),
            RelabelError::ZeroModulus => Some("modulus"),
            RelabelError::MissingTargetLabel(_) => Some("target_label"),
            RelabelError::InvalidTargetLabel { .. } => Some("target_label"),
            RelabelError::ReplacementNotAllowed(_) | RelabelError::InvalidReplacement { .. } => {
                Some("replacement")
            }
            RelabelError::OnlySourceAndTarget(_) | RelabelError::OnlyRegex(_) => Some("action"),
        }
    }
}

const DEFAULT_SEPARATOR: &str = ";";
const DEFAULT_REGEX: &str = "(.*)";
const DEFAULT_REPLACEMENT: &str = "$1";

/// A validated, compiled relabel step. Cheap to clone (the regex is shared).
#[derive(Debug, Clone)]
pub struct RelabelRule {
    action: Action,
    source_labels: Vec<String>,
    separator: String,
    /// The anchored regex `^(?s:…)$`.
    regex: Regex,
    /// The regex is `(.*)`: it matches any value, groups 0 and 1 spanning all of it.
    matches_everything: bool,
    target_label: String,
    target_has_refs: bool,
    replacement: String,
    replacement_has_refs: bool,
    modulus: u64,
    names: NameValidation,
}

impl RelabelRule {
    /// Validates and compiles `config` with Prometheus 3's default (UTF-8) label-name rules.
    pub fn compile(config: &RelabelConfig) -> Result<RelabelRule, RelabelError> {
        RelabelRule::compile_with(config, NameValidation::Utf8)
    }

    /// Validates and compiles `config`, checking label names with `names`.
    pub fn compile_with(config: &RelabelConfig, names: NameValidation) -> Result<RelabelRule, RelabelError> {
        let regex_src = config.regex.as_deref().unwrap_or(DEFAULT_REGEX);
        let regex = Regex::new(&format!("^(?s:{regex_src})$")).map_err(|e| RelabelError::Regex {
            regex: regex_src.to_string(),
            message: regex_error_text(&e),
        })?;
        for name in &config.source_labels {
            if !names.is_valid_label_name(name) {
                return Err(RelabelError::SourceLabel(name.clone()));
            }
        }
        let action = config.action;
        let target = config.target_label.as_deref().unwrap_or("");
        let replacement = config.replacement.as_deref().unwrap_or(DEFAULT_REPLACEMENT);
        let modulus = config.modulus.unwrap_or(0);
        let separator = config.separator.as_deref().unwrap_or(DEFAULT_SEPARATOR);
        use Action::*;
        // The checks of relabel.Config.Validate, in its order.
        if modulus == 0 && action == HashMod {
            return Err(RelabelError::ZeroModulus);
        }
        if matches!(action, Replace | HashMod | Lowercase | Uppercase | KeepEqual | DropEqual)
            && target.is_empty()
        {
            return Err(RelabelError::MissingTargetLabel(action));
        }
        let invalid_target = || RelabelError::InvalidTargetLabel { target: target.to_string(), action };
        let target_has_refs = target.contains('$');
        if action == Replace && !target_has_refs && !names.is_valid_label_name(target) {
            return Err(invalid_target());
        }
        if action == Replace && target_has_refs && !names.is_valid_template(target) {
            return Err(invalid_target());
        }
        let only_target = matches!(action, Lowercase | Uppercase | KeepEqual | DropEqual);
        if only_target && !names.is_valid_label_name(target) {
            return Err(invalid_target());
        }
        if only_target && replacement != DEFAULT_REPLACEMENT {
            return Err(RelabelError::ReplacementNotAllowed(action));
        }
        if action == LabelMap && !names.is_valid_template(replacement) {
            return Err(RelabelError::InvalidReplacement { replacement: replacement.to_string(), action });
        }
        if action == HashMod && !names.is_valid_label_name(target) {
            return Err(invalid_target());
        }
        if matches!(action, KeepEqual | DropEqual)
            && (config.regex.is_some()
                || modulus != 0
                || separator != DEFAULT_SEPARATOR
                || replacement != DEFAULT_REPLACEMENT)
        {
            return Err(RelabelError::OnlySourceAndTarget(action));
        }
        if matches!(action, LabelDrop | LabelKeep)
            && (!config.source_labels.is_empty()
                || !target.is_empty()
                || modulus != 0
                || separator != DEFAULT_SEPARATOR
                || replacement != DEFAULT_REPLACEMENT)
        {
            return Err(RelabelError::OnlyRegex(action));
        }
        Ok(RelabelRule {
            action,
            source_labels: config.source_labels.clone(),
            separator: separator.to_string(),
            matches_everything: regex_src == DEFAULT_REGEX,
            regex,
            target_label: target.to_string(),
            target_has_refs,
            replacement: replacement.to_string(),
            replacement_has_refs: replacement.contains('$'),
            modulus,
            names,
        })
    }

    /// Compiles every config of a list; the error carries the index of the failing entry.
    pub fn compile_all(
        configs: &[RelabelConfig],
        names: NameValidation,
    ) -> Result<Vec<RelabelRule>, (usize, RelabelError)> {
        configs
            .iter()
            .enumerate()
            .map(|(i, c)| RelabelRule::compile_with(c, names).map_err(|e| (i, e)))
            .collect()
    }

    pub fn action(&self) -> Action {
        self.action
    }

    /// The regex as written (without the anchors).
    pub fn regex_source(&self) -> &str {
        let full = self.regex.as_str();
        &full["^(?s:".len()..full.len() - ")$".len()]
    }
}

/// The regex crate's error text on one line (its syntax errors span several lines with a caret).
fn regex_error_text(err: &regex::Error) -> String {
    match err {
        regex::Error::Syntax(text) => text
            .lines()
            .filter(|l| l.starts_with("error:"))
            .map(|l| l.trim_start_matches("error:").trim())
            .next()
            .unwrap_or(text)
            .to_string(),
        other => other.to_string(),
    }
}

/// Applies `rules` in order to `labels`. Returns false when a rule drops the series (the label
/// set is then unspecified); otherwise `labels` holds the result.
pub fn process(labels: &mut Labels, rules: &[RelabelRule]) -> bool {
    if rules.is_empty() {
        return true;
    }
    let mut vec = std::mem::take(labels).into_vec();
    let mut scratch = Scratch::default();
    let keep = rules.iter().all(|rule| apply(rule, &mut vec, &mut scratch));
    *labels = Labels::from_sorted_unchecked(vec);
    keep
}

/// Buffers reused across the rules of one `process` call; empty ones never allocate.
#[derive(Default)]
struct Scratch {
    joined: String,
    target: String,
    value: String,
}

fn find(labels: &[Label], name: &str) -> Result<usize, usize> {
    labels.binary_search_by(|l| l.name.as_str().cmp(name))
}

fn get<'a>(labels: &'a [Label], name: &str) -> &'a str {
    find(labels, name).map(|i| labels[i].value.as_str()).unwrap_or("")
}

/// Sets `name` to `value` keeping the vector sorted; an empty value deletes. Reuses the
/// existing value's buffer when the label exists.
fn set(labels: &mut Vec<Label>, name: &str, value: &str) {
    match find(labels, name) {
        Ok(i) if value.is_empty() => {
            labels.remove(i);
        }
        Ok(i) => {
            if labels[i].value != value {
                labels[i].value.clear();
                labels[i].value.push_str(value);
            }
        }
        Err(_) if value.is_empty() => {}
        Err(i) => labels.insert(i, Label::new(name, value)),
    }
}

/// The source value: borrowed when there is at most one source label, else joined into
/// `joined`.
fn source_value<'a>(rule: &RelabelRule, labels: &'a [Label], joined: &'a mut String) -> &'a str {
    match rule.source_labels.as_slice() {
        [] => "",
        [one] => get(labels, one),
        many => {
            joined.clear();
            for (i, name) in many.iter().enumerate() {
                if i > 0 {
                    joined.push_str(&rule.separator);
                }
                joined.push_str(get(labels, name));
            }
            joined
        }
    }
}

/// Where the groups of a match are: the real capture locations, or "everything" for `(.*)`.
enum Groups<'r> {
    All(usize),
    Located(&'r Regex, CaptureLocations),
}

impl Groups<'_> {
    fn get(&self, index: usize) -> Option<(usize, usize)> {
        match self {
            Groups::All(len) => (index <= 1).then_some((0, *len)),
            Groups::Located(_, locs) => locs.get(index),
        }
    }

    fn named(&self, name: &str) -> Option<(usize, usize)> {
        match self {
            Groups::All(_) => None,
            Groups::Located(regex, locs) => regex
                .capture_names()
                .enumerate()
                .filter(|(_, n)| *n == Some(name))
                .find_map(|(i, _)| locs.get(i)),
        }
    }
}

fn matched_groups<'r>(rule: &'r RelabelRule, value: &str) -> Option<Groups<'r>> {
    if rule.matches_everything {
        return Some(Groups::All(value.len()));
    }
    let mut locs = rule.regex.capture_locations();
    rule.regex.captures_read(&mut locs, value)?;
    Some(Groups::Located(&rule.regex, locs))
}

fn apply(rule: &RelabelRule, labels: &mut Vec<Label>, scratch: &mut Scratch) -> bool {
    let Scratch { joined, target, value: expanded } = scratch;
    let value = source_value(rule, labels, joined);
    match rule.action {
        Action::Drop => !(rule.matches_everything || rule.regex.is_match(value)),
        Action::Keep => rule.matches_everything || rule.regex.is_match(value),
        Action::DropEqual => get(labels, &rule.target_label) != value,
        Action::KeepEqual => get(labels, &rule.target_label) == value,
        Action::Replace => {
            if value.is_empty()
                && rule.matches_everything
                && !rule.target_has_refs
                && !rule.replacement_has_refs
            {
                set(labels, &rule.target_label, &rule.replacement);
                return true;
            }
            let Some(groups) = matched_groups(rule, value) else {
                return true;
            };
            target.clear();
            expand(&rule.target_label, value, &groups, target);
            if !rule.names.is_valid_label_name(target) {
                return true;
            }
            expanded.clear();
            expand(&rule.replacement, value, &groups, expanded);
            set(labels, target, expanded);
            true
        }
        Action::Lowercase | Action::Uppercase => {
            // Rune by rune, as Go's strings.ToLower/ToUpper map (no context-dependent forms).
            expanded.clear();
            if rule.action == Action::Lowercase {
                value.chars().flat_map(char::to_lowercase).for_each(|c| expanded.push(c));
            } else {
                value.chars().flat_map(char::to_uppercase).for_each(|c| expanded.push(c));
            }
            set(labels, &rule.target_label, expanded);
            true
        }
        Action::HashMod => {
            let hash = Md5::digest(value.as_bytes());
            let mut tail = [0u8; 8];
            tail.copy_from_slice(&hash[8..16]);
            let modulo = u64::from_be_bytes(tail) % rule.modulus;
            expanded.clear();
            // Writing to a String cannot fail.
            let _ = write!(expanded, "{modulo}");
            set(labels, &rule.target_label, expanded);
            true
        }
        Action::LabelMap => {
            if !labels.iter().any(|l| rule.matches_everything || rule.regex.is_match(&l.name)) {
                return true;
            }
            let snapshot = labels.clone();
            for label in &snapshot {
                if let Some(groups) = matched_groups(rule, &label.name) {
                    target.clear();
                    expand(&rule.replacement, &label.name, &groups, target);
                    set(labels, target, &label.value);
                }
            }
            true
        }
        Action::LabelDrop => {
            labels.retain(|l| !(rule.matches_everything || rule.regex.is_match(&l.name)));
            true
        }
        Action::LabelKeep => {
            labels.retain(|l| rule.matches_everything || rule.regex.is_match(&l.name));
            true
        }
    }
}

/// Go's `regexp.Expand`: appends `template` to `out` with `$1`, `${1}`, `$name`, `${name}`
/// replaced by the matching groups of `haystack` (a group that does not exist or did not
/// match expands to nothing), `$$` by `$`, and a malformed reference kept as written.
fn expand(template: &str, haystack: &str, groups: &Groups<'_>, out: &mut String) {
    let mut rest = template;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        rest = &rest[dollar + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            out.push('$');
            rest = after;
            continue;
        }
        let Some((name, after)) = extract_reference(rest) else {
            out.push('$');
            continue;
        };
        rest = after;
        let span = match group_number(name) {
            Some(index) => groups.get(index),
            None => groups.named(name),
        };
        if let Some((start, end)) = span {
            out.push_str(&haystack[start..end]);
        }
    }
    out.push_str(rest);
}

/// Parses the reference after a `$`: `name` or `{name}`, where a name is a run of letters,
/// digits and `_`. Returns the name and the text after the reference.
fn extract_reference(text: &str) -> Option<(&str, &str)> {
    let (braced, body) = match text.strip_prefix('{') {
        Some(body) => (true, body),
        None => (false, text),
    };
    let end =
        body.char_indices().find(|(_, c)| !(c.is_alphanumeric() || *c == '_')).map_or(body.len(), |(i, _)| i);
    if end == 0 {
        return None;
    }
    let (name, after) = body.split_at(end);
    if braced { after.strip_prefix('}').map(|after| (name, after)) } else { Some((name, after)) }
}

/// A group number as Go reads one: ASCII digits, no leading zero, below 10^8.
fn group_number(name: &str) -> Option<usize> {
    if !name.bytes().all(|b| b.is_ascii_digit())
        || (name.len() > 1 && name.starts_with('0'))
        || name.len() > 8
    {
        return None;
    }
    name.parse().ok()
}
