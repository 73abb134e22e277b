//! Notification templates: Alertmanager's `template` package on the router's Go template
//! engine (`crate::template`).
//!
//! - [`TemplateData`] is what `.` is in a notification template, built from a
//!   [`Notification`] as Alertmanager's `Template.Data` builds it: `.Receiver` (escaped with
//!   `regexp.QuoteMeta`, as upstream does), `.Status`, `.Alerts` (with `.Firing` and
//!   `.Resolved`), `.GroupLabels`, `.CommonLabels` and `.CommonAnnotations` (the labels and
//!   annotations every alert shares), `.ExternalURL`. Each alert has `.Status`, `.Labels`,
//!   `.Annotations`, `.StartsAt`, `.EndsAt` (Go's zero time while the alert fires, as
//!   Alertmanager hides a future end), `.GeneratorURL` and `.Fingerprint`. The objects are in
//!   `objects`; times and durations (printed and formatted as Go does) in `gotime`.
//!   [`TemplateData::for_alerts`] builds the data for a subset of a notification's alerts
//!   (the webhook's `max_alerts`), which is also what the webhook payload is written from.
//! - [`Templates`] holds the default templates (our own `default.tmpl`, defining
//!   Alertmanager's template names with the same text output) and the user's `templates:`
//!   files, parsed twice as upstream does: a text set and an HTML set. Later definitions of a
//!   name replace earlier ones, so user files can override the defaults.
//! - [`Templates::render`] is Alertmanager's `ExecuteTextString`: the text (empty gives
//!   empty) is parsed as a new template in a copy of the set and executed with
//!   `missingkey=zero`; errors are Go's texts (`template: :1: function "foo" not defined`).
//!   `since` measures from the notification's time, so output does not depend on when a
//!   retry renders it.
//! - [`Templates::render_html`] is `ExecuteHTMLString` with a simpler escaper: every printing
//!   action is escaped as HTML text (see `html` for what html/template does beyond that).
//!
//! The functions (`funcs`) are Alertmanager's `DefaultFuncs` except `toJson`.
//!
//! Known differences: `range $k, $v := .Labels` over a label set yields indices, not label
//! names, as keys (the engine ranges host objects as lists; values and `.SortedPairs` work);
//! `title` approximates Unicode word breaking.

mod funcs;
mod gotime;
mod html;
mod objects;

#[cfg(test)]
mod tests;

pub use gotime::json_time;
pub use objects::{AlertData, Kv, sorted_pairs};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::alert::{Alert, Notification};
use crate::template::{FuncMap, MissingKey, Template, Value};
use objects::{DataFields, DataObj};

/// Harrier's default templates (Alertmanager's template names).
const DEFAULT_TEMPLATES: &str = include_str!("template/default.tmpl");
const DEFAULT_TEMPLATES_NAME: &str = "default.tmpl";

/// Why the templates could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TemplateLoadError {
    #[error("invalid template pattern {pattern:?}: syntax error in pattern")]
    Pattern { pattern: String },
    #[error("cannot read template file {path:?}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    /// A template file does not parse (Go's error text).
    #[error("{0}")]
    Invalid(String),
}

/// The data a notification template sees (Alertmanager's `template.Data`).
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateData {
    fields: Arc<DataFields>,
    now_ms: i64,
}

/// Go's `regexp.QuoteMeta`: a backslash before each of `\.+*?()|[]{}^$` (Alertmanager
/// escapes the receiver name with it in `template.Data`).
pub fn quote_meta(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn label_map(labels: &harrier_telemetry::model::Labels) -> BTreeMap<String, String> {
    labels.iter().map(|l| (l.name.to_string(), l.value.to_string())).collect()
}

/// The entries of `first` that every map of `rest` has with the same value.
fn common(first: &BTreeMap<String, String>, rest: &[&BTreeMap<String, String>]) -> BTreeMap<String, String> {
    let mut common = first.clone();
    for other in rest {
        common.retain(|k, v| other.get(k) == Some(v));
        if common.is_empty() {
            break;
        }
    }
    common
}

impl TemplateData {
    /// The data for `n` (Alertmanager's `notify.GetTemplateData` of all its alerts).
    pub fn new(n: &Notification) -> TemplateData {
        TemplateData::for_alerts(n, &n.alerts)
    }

    /// The data for `alerts`, a subset of `n`'s (the webhook sends at most `max_alerts`):
    /// `.Status`, `.Alerts`, `.CommonLabels` and `.CommonAnnotations` describe those alerts
    /// only, as upstream truncates before building `template.Data`.
    pub fn for_alerts(n: &Notification, alerts: &[Arc<Alert>]) -> TemplateData {
        let alerts: Vec<Arc<AlertData>> = alerts
            .iter()
            .map(|a| {
                let resolved = a.resolved_at(n.now_ms);
                Arc::new(AlertData {
                    status: if resolved { "resolved" } else { "firing" },
                    labels: Arc::new(label_map(&a.labels)),
                    annotations: Arc::new(label_map(&a.annotations)),
                    starts_at_ms: a.starts_at_ms,
                    ends_at_ms: if resolved { a.ends_at_ms } else { 0 },
                    generator_url: a.generator_url.clone(),
                    fingerprint: a.fingerprint().to_string(),
                })
            })
            .collect();
        let (common_labels, common_annotations) = match alerts.split_first() {
            Some((first, rest)) => {
                let labels: Vec<_> = rest.iter().map(|a| a.labels.as_ref()).collect();
                let annotations: Vec<_> = rest.iter().map(|a| a.annotations.as_ref()).collect();
                (common(&first.labels, &labels), common(&first.annotations, &annotations))
            }
            None => (BTreeMap::new(), BTreeMap::new()),
        };
        let status = if alerts.iter().any(|a| a.status == "firing") { "firing" } else { "resolved" };
        TemplateData {
            fields: Arc::new(DataFields {
                receiver: quote_meta(&n.receiver),
                status,
                alerts,
                group_labels: Arc::new(label_map(&n.group_labels)),
                common_labels: Arc::new(common_labels),
                common_annotations: Arc::new(common_annotations),
                external_url: n.external_url.clone(),
            }),
            now_ms: n.now_ms,
        }
    }

    /// `.Receiver`: the receiver name escaped with `regexp.QuoteMeta`, as Alertmanager does.
    pub fn receiver(&self) -> &str {
        &self.fields.receiver
    }

    /// `.Status`: `firing` when any alert fires, else `resolved`.
    pub fn status(&self) -> &'static str {
        self.fields.status
    }

    pub fn alerts(&self) -> &[Arc<AlertData>] {
        &self.fields.alerts
    }

    pub fn group_labels(&self) -> &BTreeMap<String, String> {
        &self.fields.group_labels
    }

    pub fn common_labels(&self) -> &BTreeMap<String, String> {
        &self.fields.common_labels
    }

    pub fn common_annotations(&self) -> &BTreeMap<String, String> {
        &self.fields.common_annotations
    }

    pub fn external_url(&self) -> &str {
        &self.fields.external_url
    }

    /// The template value `.` (a `*template.Data`).
    pub fn value(&self) -> Value {
        Value::Object(Arc::new(DataObj(self.fields.clone())))
    }
}

/// The files `templates:` patterns match (relative to `base_dir`), with their content, in
/// pattern then path order; directories are skipped.
pub fn read_files(
    patterns: &[String],
    base_dir: Option<&Path>,
) -> Result<Vec<(PathBuf, String)>, TemplateLoadError> {
    let mut files = Vec::new();
    for pattern in patterns {
        let full = harrier_telemetry::http_client::join_dir(base_dir, pattern);
        let paths = glob::glob(&full).map_err(|_| TemplateLoadError::Pattern { pattern: full.clone() })?;
        for path in paths {
            let path = path.map_err(|e| TemplateLoadError::Read {
                path: e.path().to_path_buf(),
                source: std::io::Error::new(e.error().kind(), e.error().to_string()),
            })?;
            if path.is_dir() {
                continue;
            }
            let source = std::fs::read_to_string(&path)
                .map_err(|source| TemplateLoadError::Read { path: path.clone(), source })?;
            files.push((path, source));
        }
    }
    Ok(files)
}

/// Alertmanager's default templates plus the user's `templates:` files.
pub struct Templates {
    text: Template,
    html: Template,
    funcs: FuncMap,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templates").field("names", &self.text.names().collect::<Vec<_>>()).finish()
    }
}

impl Templates {
    /// Loads the default templates and the files matching `patterns` (relative to `base_dir`).
    /// A pattern matching no file is fine (as in Alertmanager, files may appear later).
    pub fn load(patterns: &[String], base_dir: Option<&Path>) -> Result<Templates, TemplateLoadError> {
        Templates::from_files(&read_files(patterns, base_dir)?)
    }

    /// The default templates plus `files` (path and content, as [`read_files`] gives them);
    /// each file is named after its file name, as Alertmanager names them.
    pub fn from_files(files: &[(PathBuf, String)]) -> Result<Templates, TemplateLoadError> {
        let funcs = funcs::notification_funcs();
        let invalid = |e: crate::template::TemplateError| TemplateLoadError::Invalid(e.to_string());
        let mut text = Template::parse("", "", &funcs).map_err(invalid)?;
        let mut html = text.clone();
        let mut add = |name: &str, source: &str| -> Result<(), TemplateLoadError> {
            text.add(name, source, &funcs).map_err(invalid)?;
            html.add(name, &html::escape_actions(source), &funcs).map_err(invalid)
        };
        add(DEFAULT_TEMPLATES_NAME, DEFAULT_TEMPLATES)?;
        for (path, source) in files {
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            add(&name, source)?;
        }
        Ok(Templates { text, html, funcs })
    }

    /// Whether a template of that name is defined (defaults included).
    pub fn has(&self, name: &str) -> bool {
        self.text.has(name)
    }

    /// Renders `text` (which may call `{{ template "name" . }}`) as Go's text/template.
    pub fn render(&self, text: &str, data: &TemplateData) -> Result<String, String> {
        self.execute(&self.text, text, data)
    }

    /// Renders `text` for HTML output (email bodies): every value an action prints is escaped
    /// as HTML text, except `safeHtml` output. Simpler than html/template: no contextual
    /// escaping (URLs in attributes are escaped as text, not filtered; no JS/CSS contexts).
    pub fn render_html(&self, text: &str, data: &TemplateData) -> Result<String, String> {
        self.execute(&self.html, &html::escape_actions(text), data)
    }

    fn execute(&self, set: &Template, text: &str, data: &TemplateData) -> Result<String, String> {
        if text.is_empty() {
            return Ok(String::new());
        }
        let mut tmpl = set.clone();
        tmpl.add("", text, &self.funcs).map_err(|e| e.to_string())?;
        let now_ms = data.now_ms;
        let local = move |name: &str, args: &[Value]| -> Option<Result<Value, String>> {
            (name == "since").then(|| funcs::since(now_ms, args))
        };
        tmpl.execute_with("", &data.value(), &self.funcs, &local, MissingKey::Zero).map_err(|e| e.to_string())
    }
}
