//! `logs:` (a Harrier section of the agent config): which files to tail and which Loki
//! endpoints to push to.
//!
//! ```yaml
//! logs:
//!   max_in_flight_bytes: 16MiB     # read but not yet delivered, all files together
//!   files:
//!     - name: kubernetes
//!       include: ["/var/log/pods/*/*/*.log"]
//!       format: cri                 # cri | docker | auto | plain
//!       path_labels: kubernetes     # namespace, pod, pod_uid, container from the path
//!   loki:
//!     - url: http://loki:3100/loki/api/v1/push
//!       tenant_id: team-a
//! ```

use harrier_telemetry::config_diagnostic::locate::FieldPath;
use harrier_telemetry::duration::{ByteSize, PromDuration};
use harrier_telemetry::http_client::HttpClientConfig;
use harrier_telemetry::relabel::is_legacy_label_name;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// The `logs:` section. Logs are shipped only when at least one `files` entry and one `loki`
/// entry are configured.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogsConfig {
    /// Line bytes read but not yet delivered by every sink, across all files. When reached,
    /// reading pauses: the files are the buffer.
    #[serde(default = "d_max_in_flight")]
    pub max_in_flight_bytes: ByteSize,
    /// How often files are checked for new data, rotation and truncation when idle.
    #[serde(default = "d_poll_interval")]
    pub poll_interval: PromDuration,
    /// How often the include globs are expanded again to find new files.
    #[serde(default = "d_discovery_interval")]
    pub discovery_interval: PromDuration,
    /// The least time between two writes of the checkpoint file. The checkpointer wakes when
    /// a delivery advances an offset, so this bounds how many deliveries a crash can forget
    /// (and send again after the restart).
    #[serde(default = "d_checkpoint_interval")]
    pub checkpoint_interval: PromDuration,
    /// The `node_name` label; defaults to `$NODE_NAME`, then the host name.
    #[serde(default)]
    pub node_name: Option<String>,
    #[serde(default)]
    pub files: Vec<FileSourceConfig>,
    #[serde(default)]
    pub loki: Vec<LokiConfig>,
}

impl Default for LogsConfig {
    fn default() -> Self {
        LogsConfig {
            max_in_flight_bytes: d_max_in_flight(),
            poll_interval: d_poll_interval(),
            discovery_interval: d_discovery_interval(),
            checkpoint_interval: d_checkpoint_interval(),
            node_name: None,
            files: Vec::new(),
            loki: Vec::new(),
        }
    }
}

/// One group of files tailed the same way.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSourceConfig {
    /// Names the source in metrics and logs; unique.
    pub name: String,
    /// Glob patterns of files to tail.
    pub include: Vec<String>,
    /// Glob patterns of files to leave alone, even if included.
    #[serde(default)]
    pub exclude: Vec<String>,
    #[serde(default)]
    pub format: LineFormat,
    #[serde(default)]
    pub path_labels: PathLabels,
    /// Static labels added to every stream.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Labels (from the path or `labels`) sent as structured metadata instead of stream
    /// labels (Loki 3), e.g. `[pod_uid]` to keep stream cardinality down.
    #[serde(default)]
    pub structured_metadata: Vec<String>,
    /// The longest entry kept; longer ones are cut to this size and counted.
    #[serde(default = "d_max_line_bytes")]
    pub max_line_bytes: ByteSize,
    /// Joins lines into one entry by a start pattern (stack traces).
    #[serde(default)]
    pub multiline: Option<MultilineConfig>,
    /// Where to start in a file found with no checkpoint, at the agent's first start. Files
    /// that appear later are always read from the beginning.
    #[serde(default)]
    pub start_at: StartAt,
    /// Bytes hashed from the start of a file to recognise it after a rename or restart.
    #[serde(default = "d_fingerprint_bytes")]
    pub fingerprint_bytes: ByteSize,
}

/// How a file's lines are parsed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LineFormat {
    /// CRI: `<RFC3339Nano time> <stdout|stderr> <P|F> <message>`, partial lines joined.
    #[default]
    Cri,
    /// Docker json-file: `{"log":"...","stream":"stdout","time":"..."}`.
    Docker,
    /// CRI or docker, decided by each line's first byte (`{` is docker).
    Auto,
    /// Each line as it is, timestamped when read.
    Plain,
}

/// Labels taken from a file's path.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PathLabels {
    /// `/var/log/pods/<namespace>_<pod>_<pod uid>/<container>/<n>.log`: `namespace`, `pod`,
    /// `pod_uid`, `container`.
    #[default]
    Kubernetes,
    /// `filename` only.
    Filename,
    None,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StartAt {
    #[default]
    Beginning,
    End,
}

/// `multiline:`: a line matching `start_pattern` starts an entry; the lines after it that do
/// not match are joined to it with `\n`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MultilineConfig {
    /// A regular expression (RE2 syntax, as Prometheus and Loki use).
    pub start_pattern: String,
    /// An entry waiting for more lines is sent after this long without one.
    #[serde(default = "d_multiline_timeout")]
    pub timeout: PromDuration,
    /// At most this many lines per entry; more start a new entry.
    #[serde(default = "d_multiline_max_lines")]
    pub max_lines: usize,
}

/// One `loki:` endpoint.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LokiConfig {
    /// The push URL, e.g. `http://loki:3100/loki/api/v1/push`.
    pub url: String,
    /// Names the sink in metrics; defaults to the URL's host and port.
    #[serde(default)]
    pub name: Option<String>,
    /// Sent as `X-Scope-OrgID`.
    #[serde(default)]
    pub tenant_id: Option<String>,
    #[serde(default)]
    pub encoding: LokiEncoding,
    /// A batch is sent when it holds this many bytes of lines...
    #[serde(default = "d_batch_size")]
    pub batch_size: ByteSize,
    /// ... or when its oldest entry has waited this long.
    #[serde(default = "d_batch_wait")]
    pub batch_wait: PromDuration,
    #[serde(default = "d_timeout")]
    pub timeout: PromDuration,
    #[serde(default = "d_min_backoff")]
    pub min_backoff: PromDuration,
    #[serde(default = "d_max_backoff")]
    pub max_backoff: PromDuration,
    /// Labels added to every stream.
    #[serde(default)]
    pub external_labels: BTreeMap<String, String>,
    /// Loki's `max_label_names_per_series`: a stream with more labels keeps the first ones by
    /// name and the rest are dropped (counted).
    #[serde(default = "d_max_label_names")]
    pub max_label_names: usize,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(flatten)]
    pub http: HttpClientConfig,
}

/// The push body's encoding.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LokiEncoding {
    /// `logproto.PushRequest`, snappy-compressed.
    #[default]
    Protobuf,
    /// `{"streams":[{"stream":{...},"values":[["<ns>","<line>"]]}]}`.
    Json,
}

fn d_max_in_flight() -> ByteSize {
    ByteSize(16 << 20)
}
fn d_poll_interval() -> PromDuration {
    PromDuration::from_millis(250)
}
fn d_discovery_interval() -> PromDuration {
    PromDuration::from_secs(5)
}
fn d_checkpoint_interval() -> PromDuration {
    PromDuration::from_millis(10)
}
fn d_max_line_bytes() -> ByteSize {
    ByteSize(256 << 10)
}
fn d_fingerprint_bytes() -> ByteSize {
    ByteSize(256)
}
fn d_multiline_timeout() -> PromDuration {
    PromDuration::from_secs(1)
}
fn d_multiline_max_lines() -> usize {
    500
}
fn d_batch_size() -> ByteSize {
    ByteSize(1 << 20)
}
fn d_batch_wait() -> PromDuration {
    PromDuration::from_secs(1)
}
fn d_timeout() -> PromDuration {
    PromDuration::from_secs(10)
}
fn d_min_backoff() -> PromDuration {
    PromDuration::from_millis(500)
}
fn d_max_backoff() -> PromDuration {
    PromDuration::from_secs(5 * 60)
}
fn d_max_label_names() -> usize {
    15
}

/// A problem in the `logs:` section: where (a field path under the root) and what.
#[derive(Debug, Clone, PartialEq)]
pub struct LogsConfigIssue {
    pub path: FieldPath,
    pub message: String,
}

fn problem(path: FieldPath, message: impl Into<String>) -> LogsConfigIssue {
    LogsConfigIssue { path, message: message.into() }
}

impl LogsConfig {
    /// Checks the section with no I/O (globs, regexes, names, URLs, sizes) and resolves relative
    /// include/exclude patterns and HTTP client file paths against `dir`, the config file's
    /// directory. `path` is where the section sits (`logs`).
    pub fn validate(&mut self, path: &FieldPath, dir: Option<&Path>) -> Result<(), LogsConfigIssue> {
        if self.max_in_flight_bytes.0 < 64 << 10 {
            return Err(problem(
                path.key("max_in_flight_bytes"),
                format!("{} is too small (expected at least 64KiB)", self.max_in_flight_bytes),
            ));
        }
        for (field, value) in [
            ("poll_interval", self.poll_interval),
            ("discovery_interval", self.discovery_interval),
            ("checkpoint_interval", self.checkpoint_interval),
        ] {
            if value.0.is_zero() {
                return Err(problem(path.key(field), "must be greater than 0s"));
            }
        }
        let mut names = std::collections::HashSet::new();
        for (index, source) in self.files.iter_mut().enumerate() {
            let at = path.key("files").index(index);
            if source.name.is_empty() {
                return Err(problem(
                    at.key("name"),
                    "name is empty (expected a name for this group of files)",
                ));
            }
            if !names.insert(source.name.clone()) {
                return Err(problem(
                    at.key("name"),
                    format!("found multiple logs.files entries named {:?}", source.name),
                ));
            }
            if source.include.is_empty() {
                return Err(problem(
                    at.key("include"),
                    "no patterns (expected at least one glob, e.g. \"/var/log/pods/*/*/*.log\")",
                ));
            }
            for (field, patterns) in [("include", &mut source.include), ("exclude", &mut source.exclude)] {
                for (i, pattern) in patterns.iter_mut().enumerate() {
                    if let Err(e) = glob::Pattern::new(pattern) {
                        return Err(problem(
                            at.key(field).index(i),
                            format!("invalid glob pattern {pattern:?}: {e}"),
                        ));
                    }
                    *pattern = harrier_telemetry::http_client::join_dir(dir, pattern);
                }
            }
            for name in source.labels.keys() {
                if !is_legacy_label_name(name) {
                    return Err(problem(
                        at.key("labels").key(name),
                        format!("invalid label name {name:?} (expected [a-zA-Z_][a-zA-Z0-9_]*)"),
                    ));
                }
            }
            for (i, name) in source.structured_metadata.iter().enumerate() {
                if !is_legacy_label_name(name) {
                    return Err(problem(
                        at.key("structured_metadata").index(i),
                        format!("invalid label name {name:?} (expected [a-zA-Z_][a-zA-Z0-9_]*)"),
                    ));
                }
            }
            if source.max_line_bytes.0 < 256 || source.max_line_bytes.0 > 64 << 20 {
                return Err(problem(
                    at.key("max_line_bytes"),
                    format!("{} is out of range (expected 256B to 64MiB)", source.max_line_bytes),
                ));
            }
            if source.fingerprint_bytes.0 < 16 || source.fingerprint_bytes.0 > 64 << 10 {
                return Err(problem(
                    at.key("fingerprint_bytes"),
                    format!("{} is out of range (expected 16B to 64KiB)", source.fingerprint_bytes),
                ));
            }
            if let Some(multiline) = &source.multiline {
                if let Err(e) = regex::Regex::new(&multiline.start_pattern) {
                    return Err(problem(
                        at.key("multiline").key("start_pattern"),
                        format!("invalid regular expression: {e}"),
                    ));
                }
                if multiline.timeout.0.is_zero() {
                    return Err(problem(at.key("multiline").key("timeout"), "must be greater than 0s"));
                }
                if multiline.max_lines == 0 {
                    return Err(problem(at.key("multiline").key("max_lines"), "must be at least 1"));
                }
            }
        }
        let mut sink_names = std::collections::HashSet::new();
        for (index, loki) in self.loki.iter_mut().enumerate() {
            let at = path.key("loki").index(index);
            // The sink's own checks (URL, headers, tenant, sizes, backoff, labels, HTTP client),
            // so validation and `LokiSink::start` agree.
            if let Err(e) = crate::sinks::loki::check_config(loki) {
                let mut field = at.clone();
                field.0.extend(e.path().0);
                let text = e.to_string();
                let message = text.split_once(": ").map_or(text.as_str(), |(_, m)| m).to_string();
                return Err(problem(field, message));
            }
            let name = loki.sink_name();
            if !sink_names.insert(name.clone()) {
                return Err(problem(
                    at.key(if loki.name.is_some() { "name" } else { "url" }),
                    format!("found multiple logs.loki entries named {name:?} (give each a distinct name)"),
                ));
            }
            harrier_telemetry::http_client::resolve_paths(dir, &mut loki.http);
        }
        Ok(())
    }
}

impl LokiConfig {
    /// The sink's name in metrics: `name`, else the URL's host and port.
    pub fn sink_name(&self) -> String {
        if let Some(name) = self.name.as_ref().filter(|n| !n.is_empty()) {
            return name.clone();
        }
        match reqwest::Url::parse(&self.url) {
            Ok(url) => match (url.host_str(), url.port_or_known_default()) {
                (Some(host), Some(port)) => format!("{host}:{port}"),
                (Some(host), None) => host.to_string(),
                _ => self.url.clone(),
            },
            Err(_) => self.url.clone(),
        }
    }
}
