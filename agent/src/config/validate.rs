//! Parsing, validation and resolution of a configuration, with Prometheus's rules.
//!
//! The checks and their messages follow Prometheus: `config.Load` and
//! `GlobalConfig.UnmarshalYAML` (global timeout vs interval, duplicate job names),
//! `ScrapeConfig.Validate` (inheritance, timeout vs interval), `FileSDConfig.UnmarshalYAML`
//! (file name patterns), `RemoteWriteConfig.UnmarshalYAML` (URL, reserved headers), and
//! prometheus/common's `HTTPClientConfig.Validate` / `TLSConfig.Validate` (mutually exclusive
//! auth settings). Harrier's own refusals (service discovery and cloud auth it does not have
//! yet) name the setting. A problem is an [`Issue`] with a field path; it becomes a
//! [`Diagnostic`] with a line and column when the text of its file is searched with
//! [`locate`](super::locate).

use super::locate::{self, FieldPath, Position, Segment};
use super::{AgentConfig, ConfigError, Diagnostic, LoadedConfig, RemoteWriteRules, ScrapeJob, ScrapeLimits};
use crate::http_client::{self, join_dir};
use crate::relabel::{NameValidation, RelabelConfig, RelabelRule};
use crate::sinks::remote_write::config::RemoteWriteConfig;
use crate::sources::scrape::config::ScrapeConfig;
use harrier_telemetry::duration::{ByteSize, PromDuration};
use harrier_telemetry::global_config::{d_scrape_interval, d_scrape_timeout};
use serde::Deserialize;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One YAML file the configuration came from.
struct Document {
    origin: String,
    text: String,
    /// The directory relative paths in it are relative to (`None`: the working directory).
    dir: Option<PathBuf>,
}

/// A problem found after deserialisation: in which document, at which field.
struct Issue {
    doc: usize,
    path: FieldPath,
    message: String,
}

/// A file listed by `scrape_config_files`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScrapeConfigFile {
    #[serde(default)]
    scrape_configs: Vec<ScrapeConfig>,
}

/// Fields of the structs that flatten `HttpClientConfig` in: serde cannot list them in its
/// "unknown field" message, so we do.
const HTTP_CLIENT_FIELDS: &[&str] = &[
    "basic_auth",
    "authorization",
    "bearer_token",
    "bearer_token_file",
    "tls_config",
    "proxy_url",
    "no_proxy",
    "proxy_from_environment",
    "follow_redirects",
    "enable_http2",
    "oauth2",
    "proxy_connect_header",
    "http_headers",
];
pub(super) const SCRAPE_CONFIG_FIELDS: &[&str] = &[
    "job_name",
    "honor_labels",
    "honor_timestamps",
    "track_timestamps_staleness",
    "scrape_interval",
    "scrape_timeout",
    "metrics_path",
    "scheme",
    "params",
    "enable_compression",
    "static_configs",
    "file_sd_configs",
    "relabel_configs",
    "metric_relabel_configs",
    "body_size_limit",
    "sample_limit",
    "label_limit",
    "label_name_length_limit",
    "label_value_length_limit",
    "target_limit",
    "keep_dropped_targets",
    "scrape_protocols",
    "fallback_scrape_protocol",
    "scrape_classic_histograms",
    "always_scrape_classic_histograms",
    "convert_classic_histograms_to_nhcb",
    "native_histogram_bucket_limit",
    "native_histogram_min_bucket_factor",
    "metric_name_validation_scheme",
    "metric_name_escaping_scheme",
    "scrape_failure_log_file",
    "kubernetes_sd_configs",
    "ec2_sd_configs",
    "dns_sd_configs",
    "http_sd_configs",
    "consul_sd_configs",
];
pub(super) const REMOTE_WRITE_FIELDS: &[&str] = &[
    "url",
    "name",
    "remote_timeout",
    "headers",
    "write_relabel_configs",
    "queue_config",
    "send_exemplars",
    "send_native_histograms",
    "protobuf_message",
    "metadata_config",
    "round_robin_dns",
    "sigv4",
    "azuread",
    "google_iam",
];
/// `logs.loki[]` fields besides the flattened HTTP client ones.
pub(super) const LOKI_FIELDS: &[&str] = &[
    "url",
    "name",
    "tenant_id",
    "encoding",
    "batch_size",
    "batch_wait",
    "timeout",
    "min_backoff",
    "max_backoff",
    "external_labels",
    "max_label_names",
    "headers",
];

/// Headers Prometheus does not let a remote_write config set (`reservedHeaders`): the common
/// ones and the remote_write version headers.
fn reserved_remote_write_header(lower: &str) -> bool {
    crate::http_client::RESERVED_HEADERS.contains(&lower)
        || matches!(lower, "x-prometheus-remote-write-version" | "x-prometheus-remote-read-version")
}

pub(super) fn load(text: &str, origin: &str, dir: Option<&Path>) -> Result<LoadedConfig, ConfigError> {
    let main =
        Document { origin: origin.to_string(), text: text.to_string(), dir: dir.map(Path::to_path_buf) };
    let raw: yaml_serde::Value =
        yaml_serde::from_str(text).map_err(|e| yaml_error(&main, &FieldPath::root(), &e))?;
    let mut config: AgentConfig = if raw.is_null() { AgentConfig::default() } else { parse(&main)? };
    let global_timeout_set =
        raw.get("global").and_then(|g| g.get("scrape_timeout")).is_some_and(|v| !v.is_null());

    let mut docs = vec![main];
    let mut origins: Vec<(usize, FieldPath)> = (0..config.scrape_configs.len())
        .map(|i| (0, FieldPath::root().key("scrape_configs").index(i)))
        .collect();
    for (pattern_index, pattern) in config.scrape_config_files.clone().iter().enumerate() {
        let at = FieldPath::root().key("scrape_config_files").index(pattern_index);
        let full = join_dir(docs[0].dir.as_deref(), pattern);
        let paths = glob::glob(&full).map_err(|e| {
            diagnose(
                &docs,
                Issue { doc: 0, path: at.clone(), message: format!("invalid glob pattern {pattern:?}: {e}") },
            )
        })?;
        let mut files: Vec<PathBuf> = Vec::new();
        for entry in paths {
            let path = entry.map_err(|e| {
                diagnose(
                    &docs,
                    Issue {
                        doc: 0,
                        path: at.clone(),
                        message: format!("error retrieving scrape config files for {pattern:?}: {e}"),
                    },
                )
            })?;
            files.push(path);
        }
        files.sort();
        for path in files {
            let text = std::fs::read_to_string(&path)
                .map_err(|source| ConfigError::Read { path: path.clone(), source })?;
            let doc = Document {
                origin: path.display().to_string(),
                text,
                dir: Some(path.parent().map(Path::to_path_buf).unwrap_or_default()),
            };
            let is_empty = yaml_serde::from_str::<yaml_serde::Value>(&doc.text)
                .map_err(|e| yaml_error(&doc, &FieldPath::root(), &e))?
                .is_null();
            let file: ScrapeConfigFile =
                if is_empty { ScrapeConfigFile { scrape_configs: Vec::new() } } else { parse(&doc)? };
            for (i, scrape) in file.scrape_configs.into_iter().enumerate() {
                config.scrape_configs.push(scrape);
                origins.push((docs.len(), FieldPath::root().key("scrape_configs").index(i)));
            }
            docs.push(doc);
        }
    }
    finish(config, docs, origins, global_timeout_set)
}

/// Validates and resolves a configuration built in code (no text to point into).
pub(super) fn from_config(config: AgentConfig, origin: &str) -> Result<LoadedConfig, ConfigError> {
    let docs = vec![Document { origin: origin.to_string(), text: String::new(), dir: None }];
    let origins = (0..config.scrape_configs.len())
        .map(|i| (0, FieldPath::root().key("scrape_configs").index(i)))
        .collect();
    finish(config, docs, origins, true)
}

/// Deserialises a whole document, turning serde's error into a [`Diagnostic`].
fn parse<T: for<'de> Deserialize<'de>>(doc: &Document) -> Result<T, ConfigError> {
    serde_path_to_error::deserialize(yaml_serde::Deserializer::from_str(&doc.text)).map_err(|err| {
        let path = FieldPath::from_serde(err.path());
        yaml_error(doc, &path, err.inner())
    })
}

/// A yaml_serde error as a diagnostic: its position, the field path, and the bare message
/// (yaml_serde's own path prefix and "at line … column …" suffix removed). An unknown field is
/// pinpointed at its key (serde reports those of flattened structs at the enclosing mapping)
/// and listed with the fields that are allowed.
fn yaml_error(doc: &Document, path: &FieldPath, err: &yaml_serde::Error) -> ConfigError {
    let mut position = err.location().map(|l| Position { line: l.line(), column: l.column() });
    let mut message = bare_message(&err.to_string());
    let mut field = path.clone();
    // Errors a Deserialize impl raises after reading its value (a bad duration, say) carry the
    // position of the enclosing mapping; the field's own key is more precise.
    if let Some(key) = locate::locate_exact(&doc.text, &field)
        && position.is_none_or(|p| (p.line, p.column) < (key.line, key.column))
    {
        position = Some(key);
    }
    if let Some(name) = unknown_field_name(&message) {
        // serde_path_to_error may already have stepped into the unknown key: report the mapping.
        if field.0.last() == Some(&Segment::Key(name.clone())) {
            field.0.pop();
        }
        // The key directly in the reported mapping, else the first one below it.
        let direct = field.key(&name);
        let found = locate::locate_exact(&doc.text, &direct)
            .map(|p| (p, direct))
            .or_else(|| locate::find_key_below(&doc.text, &field, &name));
        if let Some((p, full)) = found {
            position = Some(p);
            let mut parent = full;
            parent.0.pop();
            field = parent;
        }
        let expected = expected_fields(&message, &field);
        message = unknown_field_message(&name, &expected);
    }
    ConfigError::Invalid(Box::new(Diagnostic { origin: doc.origin.clone(), position, field, message }))
}

fn bare_message(display: &str) -> String {
    // Positions: "… at line 3 column 7" (possibly several, in libyaml's messages).
    let mut text = display.to_string();
    while let Some(at) = text.find(" at line ") {
        let rest = &text[at + " at line ".len()..];
        let digits = |s: &str| s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let line_len = digits(rest);
        let Some(after_col) = rest[line_len..].strip_prefix(" column ") else {
            break;
        };
        let col_len = digits(after_col);
        let end = at + " at line ".len() + line_len + " column ".len() + col_len;
        text.replace_range(at..end, "");
    }
    // yaml_serde's own path prefix ("scrape_configs[0].scrape_interval: …").
    if let Some((head, tail)) = text.split_once(": ")
        && !head.is_empty()
        && head.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '[' | ']' | '?'))
    {
        text = tail.to_string();
    }
    text
}

fn unknown_field_name(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split_once('`').map(|(name, _)| name.to_string())
}

/// The allowed field names: from serde's message when it has them, else from our lists for
/// the structs that flatten the HTTP client fields in.
fn expected_fields(message: &str, field: &FieldPath) -> Vec<String> {
    if let Some((_, list)) = message.split_once("expected ") {
        let names: Vec<String> = list.split('`').skip(1).step_by(2).map(str::to_string).collect();
        if !names.is_empty() {
            return names;
        }
    }
    let own: &[&str] = match field.0.as_slice() {
        [Segment::Key(section), Segment::Index(_)] if section == "scrape_configs" => SCRAPE_CONFIG_FIELDS,
        [Segment::Key(section), Segment::Index(_)] if section == "remote_write" => REMOTE_WRITE_FIELDS,
        [Segment::Key(section), Segment::Key(sink), Segment::Index(_)]
            if section == "logs" && sink == "loki" =>
        {
            LOKI_FIELDS
        }
        _ => return Vec::new(),
    };
    own.iter().chain(HTTP_CLIENT_FIELDS).map(|s| s.to_string()).collect()
}

fn unknown_field_message(name: &str, expected: &[String]) -> String {
    let mut message = format!("unknown field {name:?}");
    if let Some(best) = expected
        .iter()
        .filter(|e| edit_distance(name, e) <= 2.max(name.len() / 4))
        .min_by_key(|e| edit_distance(name, e))
    {
        message.push_str(&format!(" (did you mean {best:?}?)"));
    }
    if !expected.is_empty() {
        message.push_str(&format!(", expected one of: {}", expected.join(", ")));
    }
    message
}

/// Levenshtein distance, for "did you mean".
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

fn diagnose(docs: &[Document], issue: Issue) -> ConfigError {
    ConfigError::Invalid(Box::new(diagnostic(docs, issue)))
}

fn diagnostic(docs: &[Document], issue: Issue) -> Diagnostic {
    let (origin, position) = match docs.get(issue.doc) {
        Some(doc) => (doc.origin.clone(), locate::locate(&doc.text, &issue.path)),
        None => (String::new(), None),
    };
    Diagnostic { origin, position, field: issue.path, message: issue.message }
}

fn parse_name_validation(value: Option<&str>) -> Result<Option<NameValidation>, String> {
    match value {
        None | Some("") => Ok(None),
        Some("utf8") => Ok(Some(NameValidation::Utf8)),
        Some("legacy") => Ok(Some(NameValidation::Legacy)),
        Some(other) => {
            Err(format!("unknown metric name validation scheme {other:?} (expected \"utf8\" or \"legacy\")"))
        }
    }
}

fn finish(
    mut config: AgentConfig,
    docs: Vec<Document>,
    origins: Vec<(usize, FieldPath)>,
    global_timeout_set: bool,
) -> Result<LoadedConfig, ConfigError> {
    let mut warnings = Vec::new();
    let mut checker = Checker { docs: &docs, warnings: &mut warnings };
    let result = checker.check(&mut config, &origins, global_timeout_set);
    match result {
        Ok((scrape_jobs, remote_writes)) => Ok(LoadedConfig { config, scrape_jobs, remote_writes, warnings }),
        Err(issue) => Err(diagnose(&docs, issue)),
    }
}

struct Checker<'a> {
    docs: &'a [Document],
    warnings: &'a mut Vec<String>,
}

type Checked = (Vec<ScrapeJob>, Vec<RemoteWriteRules>);

fn issue(doc: usize, path: FieldPath, message: impl Into<String>) -> Issue {
    Issue { doc, path, message: message.into() }
}

impl Checker<'_> {
    fn warn(&mut self, doc: usize, path: FieldPath, message: impl Into<String>) {
        let d = diagnostic(self.docs, issue(doc, path, message));
        self.warnings.push(d.to_string());
    }

    fn warn_ignored(&mut self, doc: usize, path: FieldPath, why: &str) {
        self.warn(doc, path, format!("ignored: {why}"));
    }

    fn check(
        &mut self,
        config: &mut AgentConfig,
        origins: &[(usize, FieldPath)],
        global_timeout_set: bool,
    ) -> Result<Checked, Issue> {
        let root = FieldPath::root();
        let names = self.check_global(config, global_timeout_set)?;

        let server_sections: [(&str, bool); 7] = [
            ("rule_files", config.rule_files.is_some()),
            ("alerting", config.alerting.is_some()),
            ("remote_read", config.remote_read.is_some()),
            ("storage", config.storage.is_some()),
            ("tracing", config.tracing.is_some()),
            ("runtime", config.runtime.is_some()),
            ("otlp", config.otlp.is_some()),
        ];
        for (section, present) in server_sections {
            if present {
                let why = match section {
                    "rule_files" | "alerting" => {
                        "the Harrier agent does not evaluate rules or send alerts (the Harrier router does)"
                    }
                    _ => "a Prometheus server setting the Harrier agent does not use",
                };
                self.warn_ignored(0, root.key(section), why);
            }
        }

        let mut jobs = Vec::with_capacity(config.scrape_configs.len());
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (index, scrape) in config.scrape_configs.iter_mut().enumerate() {
            let (doc, path) =
                origins.get(index).cloned().unwrap_or((0, root.key("scrape_configs").index(index)));
            if scrape.job_name.is_empty() {
                return Err(issue(doc, path.key("job_name"), "job_name is empty"));
            }
            if let Some(first_doc) = seen.get(&scrape.job_name) {
                let mut message =
                    format!("found multiple scrape configs with job name {:?}", scrape.job_name);
                if *first_doc != doc {
                    message.push_str(&format!(", first found in {}", self.docs[*first_doc].origin));
                }
                return Err(issue(doc, path.key("job_name"), message));
            }
            seen.insert(scrape.job_name.clone(), doc);
            let dir = self.docs.get(doc).and_then(|d| d.dir.clone());
            jobs.push(self.check_scrape(scrape, &config.global, names, doc, &path, dir.as_deref())?);
        }

        let mut remote_writes = Vec::with_capacity(config.remote_write.len());
        let mut seen_names: HashSet<String> = HashSet::new();
        let mut seen_dirs: HashMap<std::path::PathBuf, usize> = HashMap::new();
        let dir = self.docs.first().and_then(|d| d.dir.clone());
        for (index, rw) in config.remote_write.iter_mut().enumerate() {
            let path = root.key("remote_write").index(index);
            if let Some(name) = rw.name.as_ref().filter(|n| !n.is_empty())
                && !seen_names.insert(name.clone())
            {
                return Err(issue(
                    0,
                    path.key("name"),
                    format!("found multiple remote write configs with job name {name:?}"),
                ));
            }
            remote_writes.push(self.check_remote_write(rw, names, &path, dir.as_deref())?);
            // Each queue owns a disk-buffer directory named after it; two must not share one.
            let queue_dir = crate::sinks::remote_write::RemoteWriteSink::queue_dir(rw, Path::new(""));
            if let Some(first) = seen_dirs.insert(queue_dir.clone(), index) {
                return Err(issue(
                    0,
                    path.key(if rw.name.is_some() { "name" } else { "url" }),
                    format!(
                        "remote_write[{index}] would share the disk buffer {:?} with remote_write[{first}] (the same url without a name, or names that differ only in characters not allowed in a directory name): give each a distinct name",
                        queue_dir.display().to_string()
                    ),
                ));
            }
        }
        let dir = self.docs.first().and_then(|d| d.dir.clone());
        config.logs.validate(&root.key("logs"), dir.as_deref()).map_err(|e| issue(0, e.path, e.message))?;
        if !config.logs.files.is_empty() && config.logs.loki.is_empty() {
            self.warn(
                0,
                root.key("logs").key("files"),
                "no logs.loki endpoint is configured: log files are not read",
            );
        }
        Ok((jobs, remote_writes))
    }

    /// Checks `global` and fills its defaults; returns the global label-name scheme.
    fn check_global(&mut self, config: &mut AgentConfig, timeout_set: bool) -> Result<NameValidation, Issue> {
        let path = FieldPath::root().key("global");
        let global = &mut config.global;
        if global.scrape_interval.0.is_zero() {
            global.scrape_interval = d_scrape_interval();
        }
        if timeout_set && global.scrape_timeout > global.scrape_interval {
            return Err(issue(
                0,
                path.key("scrape_timeout"),
                "global scrape timeout greater than scrape interval",
            ));
        }
        if !timeout_set || global.scrape_timeout.0.is_zero() {
            global.scrape_timeout = d_scrape_timeout().min(global.scrape_interval);
        }
        let names = parse_name_validation(global.metric_name_validation_scheme.as_deref())
            .map_err(|m| issue(0, path.key("metric_name_validation_scheme"), m))?
            .unwrap_or_default();
        for name in global.external_labels.keys() {
            if !names.is_valid_label_name(name) {
                return Err(issue(
                    0,
                    path.key("external_labels").key(name),
                    format!("{name:?} is not a valid label name"),
                ));
            }
        }
        let ignored: [(&str, bool, &str); 6] = [
            ("query_log_file", global.query_log_file.is_some(), "the agent runs no queries"),
            ("rule_query_offset", global.rule_query_offset.is_some(), "the agent evaluates no rules"),
            ("scrape_protocols", global.scrape_protocols.is_some(), "Harrier negotiates the text formats"),
            (
                "always_scrape_classic_histograms",
                global.always_scrape_classic_histograms.is_some(),
                "Harrier does not scrape native histograms",
            ),
            (
                "convert_classic_histograms_to_nhcb",
                global.convert_classic_histograms_to_nhcb.is_some(),
                "Harrier does not produce native histograms",
            ),
            (
                "metric_name_escaping_scheme",
                global.metric_name_escaping_scheme.is_some(),
                "Harrier does not escape metric names",
            ),
        ];
        for (field, present, why) in ignored {
            if present {
                self.warn_ignored(0, path.key(field), why);
            }
        }
        Ok(names)
    }

    fn check_scrape(
        &mut self,
        scrape: &mut ScrapeConfig,
        global: &super::GlobalConfig,
        global_names: NameValidation,
        doc: usize,
        path: &FieldPath,
        dir: Option<&Path>,
    ) -> Result<ScrapeJob, Issue> {
        let unsupported_sd: [(&str, bool); 5] = [
            ("kubernetes_sd_configs", scrape.kubernetes_sd_configs.is_some()),
            ("ec2_sd_configs", scrape.ec2_sd_configs.is_some()),
            ("dns_sd_configs", scrape.dns_sd_configs.is_some()),
            ("http_sd_configs", scrape.http_sd_configs.is_some()),
            ("consul_sd_configs", scrape.consul_sd_configs.is_some()),
        ];
        for (field, present) in unsupported_sd {
            if present {
                return Err(issue(
                    doc,
                    path.key(field),
                    format!(
                        "{field} is not supported yet by Harrier (supported: static_configs, file_sd_configs)"
                    ),
                ));
            }
        }
        http_client::validate(&scrape.http, path).map_err(|e| issue(doc, e.path, e.message))?;
        http_client::resolve_paths(dir, &mut scrape.http);

        let names = parse_name_validation(scrape.metric_name_validation_scheme.as_deref())
            .map_err(|m| issue(doc, path.key("metric_name_validation_scheme"), m))?
            .unwrap_or(global_names);

        // ScrapeConfig.Validate: inheritance, and the timeout check before the timeout default.
        let interval = scrape.scrape_interval.filter(|d| !d.0.is_zero()).unwrap_or(global.scrape_interval);
        if let Some(timeout) = scrape.scrape_timeout.filter(|d| !d.0.is_zero())
            && timeout > interval
        {
            return Err(issue(
                doc,
                path.key("scrape_timeout"),
                format!(
                    "scrape timeout greater than scrape interval for scrape config with job name {:?} ({timeout} > {interval})",
                    scrape.job_name
                ),
            ));
        }
        let timeout = scrape
            .scrape_timeout
            .filter(|d| !d.0.is_zero())
            .unwrap_or(if global.scrape_timeout > interval { interval } else { global.scrape_timeout });
        scrape.scrape_interval = Some(interval);
        scrape.scrape_timeout = Some(timeout);

        let scheme = scrape.scheme.get_or_insert_with(|| "http".to_string());
        if scheme != "http" && scheme != "https" {
            return Err(issue(
                doc,
                path.key("scheme"),
                format!("unsupported scheme {scheme:?} (expected \"http\" or \"https\")"),
            ));
        }
        let metrics_path = scrape.metrics_path.get_or_insert_with(|| "/metrics".to_string()).clone();
        let honor_timestamps = *scrape.honor_timestamps.get_or_insert(true);
        let enable_compression = *scrape.enable_compression.get_or_insert(true);
        scrape.http.follow_redirects.get_or_insert(true);
        scrape.http.enable_http2.get_or_insert(true);

        fn inherit(own: &mut Option<u64>, global: Option<u64>) -> u64 {
            let value = own.filter(|v| *v != 0).or(global).unwrap_or(0);
            *own = Some(value);
            value
        }
        let body =
            scrape.body_size_limit.filter(|b| b.0 != 0).or(global.body_size_limit).unwrap_or(ByteSize(0));
        scrape.body_size_limit = Some(body);
        let limits = ScrapeLimits {
            body_size_limit: body.0,
            sample_limit: inherit(&mut scrape.sample_limit, global.sample_limit),
            label_limit: inherit(&mut scrape.label_limit, global.label_limit),
            label_name_length_limit: inherit(
                &mut scrape.label_name_length_limit,
                global.label_name_length_limit,
            ),
            label_value_length_limit: inherit(
                &mut scrape.label_value_length_limit,
                global.label_value_length_limit,
            ),
            target_limit: inherit(&mut scrape.target_limit, global.target_limit),
            keep_dropped_targets: inherit(&mut scrape.keep_dropped_targets, global.keep_dropped_targets),
        };

        for (k, group) in scrape.static_configs.iter().enumerate() {
            let group_path = path.key("static_configs").index(k);
            for (m, target) in group.targets.iter().enumerate() {
                if target.contains('/') {
                    return Err(issue(
                        doc,
                        group_path.key("targets").index(m),
                        format!(
                            "{target:?} is not a valid hostname (expected host:port, without scheme or path)"
                        ),
                    ));
                }
            }
            for name in group.labels.keys() {
                if !names.is_valid_label_name(name) {
                    return Err(issue(
                        doc,
                        group_path.key("labels").key(name),
                        format!("{name:?} is not a valid label name"),
                    ));
                }
            }
        }
        for (k, file_sd) in scrape.file_sd_configs.iter_mut().enumerate() {
            let sd_path = path.key("file_sd_configs").index(k);
            if file_sd.files.is_empty() {
                return Err(issue(
                    doc,
                    sd_path.key("files"),
                    "file service discovery config must contain at least one path name",
                ));
            }
            for (m, name) in file_sd.files.iter_mut().enumerate() {
                if !is_file_sd_name(name) {
                    return Err(issue(
                        doc,
                        sd_path.key("files").index(m),
                        format!(
                            "path name {name:?} is not valid for file discovery (expected a .json, .yml or .yaml file; a * glob is allowed in the last path element)"
                        ),
                    ));
                }
                *name = join_dir(dir, name);
            }
            file_sd.refresh_interval.get_or_insert(PromDuration::from_secs(300));
        }

        let relabel_rules = compile_rules(&scrape.relabel_configs, names, doc, &path.key("relabel_configs"))?;
        let metric_relabel_rules =
            compile_rules(&scrape.metric_relabel_configs, names, doc, &path.key("metric_relabel_configs"))?;

        let ignored: [(&str, bool, &str); 8] = [
            ("scrape_protocols", scrape.scrape_protocols.is_some(), "Harrier negotiates the text formats"),
            (
                "fallback_scrape_protocol",
                scrape.fallback_scrape_protocol.is_some(),
                "Harrier negotiates the text formats",
            ),
            (
                "scrape_classic_histograms",
                scrape.scrape_classic_histograms.is_some(),
                "Harrier always scrapes classic histograms",
            ),
            (
                "always_scrape_classic_histograms",
                scrape.always_scrape_classic_histograms.is_some(),
                "Harrier always scrapes classic histograms",
            ),
            (
                "convert_classic_histograms_to_nhcb",
                scrape.convert_classic_histograms_to_nhcb.is_some(),
                "Harrier does not produce native histograms",
            ),
            (
                "native_histogram_bucket_limit",
                scrape.native_histogram_bucket_limit.is_some(),
                "Harrier does not scrape native histograms",
            ),
            (
                "native_histogram_min_bucket_factor",
                scrape.native_histogram_min_bucket_factor.is_some(),
                "Harrier does not scrape native histograms",
            ),
            (
                "metric_name_escaping_scheme",
                scrape.metric_name_escaping_scheme.is_some(),
                "Harrier does not escape metric names",
            ),
        ];
        for (field, present, why) in ignored {
            if present {
                self.warn_ignored(doc, path.key(field), why);
            }
        }

        Ok(ScrapeJob {
            job_name: scrape.job_name.clone(),
            scrape_interval: interval.as_duration(),
            scrape_timeout: timeout.as_duration(),
            metrics_path,
            scheme: scheme.clone(),
            honor_labels: scrape.honor_labels,
            honor_timestamps,
            enable_compression,
            limits,
            name_validation: names,
            relabel_rules,
            metric_relabel_rules,
        })
    }

    fn check_remote_write(
        &mut self,
        rw: &mut RemoteWriteConfig,
        names: NameValidation,
        path: &FieldPath,
        dir: Option<&Path>,
    ) -> Result<RemoteWriteRules, Issue> {
        if rw.url.is_empty() {
            return Err(issue(0, path.key("url"), "url for remote_write is empty"));
        }
        match reqwest::Url::parse(&rw.url) {
            Ok(url)
                if matches!(url.scheme(), "http" | "https")
                    && url.host_str().is_some_and(|h| !h.is_empty()) => {}
            Ok(url) => {
                return Err(issue(
                    0,
                    path.key("url"),
                    format!(
                        "invalid URL {:?}: scheme must be http or https and a host is required, got scheme {:?} (expected e.g. \"https://prometheus.example.com/api/v1/write\")",
                        rw.url,
                        url.scheme()
                    ),
                ));
            }
            Err(e) => {
                return Err(issue(
                    0,
                    path.key("url"),
                    format!(
                        "invalid URL {:?}: {e} (expected e.g. \"https://prometheus.example.com/api/v1/write\")",
                        rw.url
                    ),
                ));
            }
        }
        for (field, present) in [
            ("sigv4", rw.sigv4.is_some()),
            ("azuread", rw.azuread.is_some()),
            ("google_iam", rw.google_iam.is_some()),
        ] {
            if present {
                return Err(issue(0, path.key(field), format!("{field} is not supported yet by Harrier")));
            }
        }
        for header in rw.headers.keys() {
            if reserved_remote_write_header(&header.to_ascii_lowercase()) {
                return Err(issue(
                    0,
                    path.key("headers").key(header),
                    format!("{header} is a reserved header. It must not be changed"),
                ));
            }
        }
        http_client::validate(&rw.http, path).map_err(|e| issue(0, e.path, e.message))?;
        http_client::resolve_paths(dir, &mut rw.http);
        rw.remote_timeout.get_or_insert(PromDuration::from_secs(30));
        rw.http.follow_redirects.get_or_insert(true);
        rw.http.enable_http2.get_or_insert(true);
        let write_relabel_rules =
            compile_rules(&rw.write_relabel_configs, names, 0, &path.key("write_relabel_configs"))?;

        if rw.send_exemplars == Some(true) {
            self.warn_ignored(0, path.key("send_exemplars"), "Harrier does not send exemplars yet");
        }
        if rw.send_native_histograms == Some(true) {
            self.warn_ignored(
                0,
                path.key("send_native_histograms"),
                "Harrier does not send native histograms",
            );
        }
        if let Some(message) = rw.protobuf_message.as_deref().filter(|m| *m != "prometheus.WriteRequest") {
            self.warn_ignored(
                0,
                path.key("protobuf_message"),
                &format!("Harrier sends remote write 1.0 (prometheus.WriteRequest), not {message}"),
            );
        }
        if rw.metadata_config.is_some() {
            self.warn_ignored(0, path.key("metadata_config"), "Harrier does not send metadata yet");
        }
        if rw.round_robin_dns.is_some() {
            self.warn_ignored(0, path.key("round_robin_dns"), "Harrier resolves the host the usual way");
        }
        Ok(RemoteWriteRules { write_relabel_rules })
    }
}

fn compile_rules(
    configs: &[RelabelConfig],
    names: NameValidation,
    doc: usize,
    path: &FieldPath,
) -> Result<Arc<[RelabelRule]>, Issue> {
    RelabelRule::compile_all(configs, names).map(Arc::from).map_err(|(index, err)| {
        let entry = path.index(index);
        let at = match err.field() {
            Some(field) => entry.key(field),
            None => entry,
        };
        issue(doc, at, err.to_string())
    })
}

/// `^[^*]*(\*[^/]*)?\.(json|yml|yaml|JSON|YML|YAML)$`, Prometheus's `patFileSDName`.
fn is_file_sd_name(name: &str) -> bool {
    let Some((stem, ext)) = name.rsplit_once('.') else {
        return false;
    };
    if !matches!(ext, "json" | "yml" | "yaml" | "JSON" | "YML" | "YAML") {
        return false;
    }
    match stem.find('*') {
        None => true,
        Some(star) => !stem[star + 1..].contains('/'),
    }
}
