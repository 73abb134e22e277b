//! The agent's configuration: a superset of `prometheus.yml`, loaded, validated and resolved.
//!
//! `global`, `scrape_configs`, `scrape_config_files` and `remote_write` are exactly
//! Prometheus's; a user's prometheus.yml loads unchanged. Sections that belong to a server
//! (`rule_files`, `alerting`, `remote_read`, `storage`, …) and settings Harrier does not act on
//! (native histograms, exemplars, …) are accepted with a warning. Harrier's own sections are
//! `host_metrics`, `buffer` and `logs`.
//!
//! Loading ([`load_file`], [`load_str`], [`load_default`]) runs three steps:
//! 1. Deserialise with yaml_serde through serde_path_to_error, so an error knows the field path
//!    and (from yaml_serde) the line and column.
//! 2. Validate as Prometheus does (`config.Load`, `ScrapeConfig.Validate`, relabel
//!    `Config.Validate`, `HTTPClientConfig.Validate`), compiling relabel rules on the way.
//!    Errors found here know their field path; [`locate`] finds its line and column by walking
//!    the YAML text once more with a seed that stops at that path (yaml_serde positions every
//!    error it raises, and values carry no positions, so this needs no second YAML parser).
//! 3. Resolve Prometheus's inheritance **in place**: after loading, every scrape config has
//!    `scrape_interval`, `scrape_timeout`, `metrics_path`, `scheme`, `honor_timestamps`,
//!    `enable_compression`, `follow_redirects`, `enable_http2` and every limit set (limits to
//!    the global value, `Some(0)` meaning none), relative file paths are joined to the
//!    directory of the file they were written in, and scrape configs from
//!    `scrape_config_files` are appended to `scrape_configs`. [`ScrapeJob`] carries the same
//!    values without `Option`s plus the compiled relabel rules.
//!
//! Every error reads `file:line:column: field.path: what is wrong (what was expected)`.

mod validate;

#[cfg(test)]
mod tests;

pub use harrier_telemetry::config_diagnostic::Diagnostic;
pub use harrier_telemetry::config_diagnostic::locate::{self, FieldPath, Position, Segment};

use crate::relabel::{NameValidation, RelabelRule};
use crate::sinks::remote_write::config::RemoteWriteConfig;
use crate::sources::host::config::HostMetricsConfig;
use crate::sources::scrape::config::{ScrapeConfig, StaticConfig};
use harrier_telemetry::duration::PromDuration;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The whole agent configuration file.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    #[serde(default)]
    pub global: GlobalConfig,
    #[serde(default)]
    pub scrape_configs: Vec<ScrapeConfig>,
    #[serde(default)]
    pub scrape_config_files: Vec<String>,
    #[serde(default)]
    pub remote_write: Vec<RemoteWriteConfig>,

    /// Harrier: host metrics (node_exporter-compatible).
    #[serde(default)]
    pub host_metrics: HostMetricsConfig,
    /// Harrier: the disk buffer behind each remote_write queue.
    #[serde(default)]
    pub buffer: BufferConfig,
    /// Harrier: log files tailed and pushed to Loki.
    #[serde(default)]
    pub logs: crate::logs::config::LogsConfig,

    /// Prometheus server sections: accepted so prometheus.yml loads unchanged; the agent
    /// ignores them (the router evaluates rules and sends alerts).
    #[serde(default)]
    pub rule_files: Option<yaml_serde::Value>,
    #[serde(default)]
    pub alerting: Option<yaml_serde::Value>,
    #[serde(default)]
    pub remote_read: Option<yaml_serde::Value>,
    #[serde(default)]
    pub storage: Option<yaml_serde::Value>,
    #[serde(default)]
    pub tracing: Option<yaml_serde::Value>,
    #[serde(default)]
    pub runtime: Option<yaml_serde::Value>,
    #[serde(default)]
    pub otlp: Option<yaml_serde::Value>,
}

/// `global`, with Prometheus's defaults (shared with the router).
pub use harrier_telemetry::global_config::GlobalConfig;

/// `buffer:` (Harrier): the disk buffer behind each remote_write queue (defined with the sink
/// in `harrier_telemetry`, shared with the router).
pub use harrier_telemetry::remote_write_sink::config::BufferConfig;

/// A configuration that passed validation, ready to run.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    /// The configuration with inherited values filled in (see the module documentation).
    pub config: AgentConfig,
    /// One per `config.scrape_configs` entry, in the same order.
    pub scrape_jobs: Vec<ScrapeJob>,
    /// One per `config.remote_write` entry, in the same order.
    pub remote_writes: Vec<RemoteWriteRules>,
    /// Settings accepted but not acted on, one sentence each, naming the file and field.
    pub warnings: Vec<String>,
}

/// A scrape job's effective settings (global values inherited) and compiled relabel rules.
#[derive(Debug, Clone)]
pub struct ScrapeJob {
    pub job_name: String,
    pub scrape_interval: Duration,
    pub scrape_timeout: Duration,
    pub metrics_path: String,
    pub scheme: String,
    pub honor_labels: bool,
    pub honor_timestamps: bool,
    pub enable_compression: bool,
    pub limits: ScrapeLimits,
    /// The label-name rules of the job (`metric_name_validation_scheme`, default `utf8`).
    pub name_validation: NameValidation,
    pub relabel_rules: Arc<[RelabelRule]>,
    pub metric_relabel_rules: Arc<[RelabelRule]>,
}

/// A scrape job's limits; 0 means no limit, as in Prometheus.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScrapeLimits {
    pub body_size_limit: u64,
    pub sample_limit: u64,
    pub label_limit: u64,
    pub label_name_length_limit: u64,
    pub label_value_length_limit: u64,
    pub target_limit: u64,
    pub keep_dropped_targets: u64,
}

/// A remote_write entry's compiled `write_relabel_configs`.
#[derive(Debug, Clone)]
pub struct RemoteWriteRules {
    pub write_relabel_rules: Arc<[RelabelRule]>,
}

/// Why a configuration was rejected.
pub use harrier_telemetry::config_diagnostic::ConfigError;

/// Reads, validates and resolves the configuration file at `path`. Relative paths in it (and
/// `scrape_config_files` globs) are relative to its directory, as in Prometheus.
pub fn load_file(path: &Path) -> Result<LoadedConfig, ConfigError> {
    let text = harrier_telemetry::config_diagnostic::read_config(path)?;
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    validate::load(&text, &path.display().to_string(), Some(&dir))
}

/// Validates and resolves a configuration given as text; `origin` names it in errors. Relative
/// paths stay relative to the working directory.
pub fn load_str(yaml: &str, origin: &str) -> Result<LoadedConfig, ConfigError> {
    validate::load(yaml, origin, None)
}

/// [`default_config`], validated and resolved like a loaded file.
pub fn load_default(self_addr: &str) -> Result<LoadedConfig, ConfigError> {
    validate::from_config(default_config(self_addr), "<built-in default>")
}

/// The configuration used when no file is given: host metrics on, a 15s global scrape
/// interval, and one scrape job `harrier` of the agent's own `/metrics` at `self_addr`
/// (`host:port`). No remote_write.
pub fn default_config(self_addr: &str) -> AgentConfig {
    let interval = PromDuration::from_secs(15);
    let global = GlobalConfig { scrape_interval: interval, ..GlobalConfig::default() };
    let job: ScrapeConfig = ScrapeConfig {
        static_configs: vec![StaticConfig { targets: vec![self_addr.to_string()], labels: BTreeMap::new() }],
        ..empty_scrape_config("harrier")
    };
    AgentConfig { global, scrape_configs: vec![job], ..AgentConfig::default() }
}

/// A scrape config with only a job name, every other field at its YAML default.
fn empty_scrape_config(job_name: &str) -> ScrapeConfig {
    ScrapeConfig {
        job_name: job_name.to_string(),
        honor_labels: false,
        honor_timestamps: None,
        track_timestamps_staleness: false,
        scrape_interval: None,
        scrape_timeout: None,
        metrics_path: None,
        scheme: None,
        params: BTreeMap::new(),
        enable_compression: None,
        http: Default::default(),
        static_configs: Vec::new(),
        file_sd_configs: Vec::new(),
        relabel_configs: Vec::new(),
        metric_relabel_configs: Vec::new(),
        body_size_limit: None,
        sample_limit: None,
        label_limit: None,
        label_name_length_limit: None,
        label_value_length_limit: None,
        target_limit: None,
        keep_dropped_targets: None,
        scrape_protocols: None,
        fallback_scrape_protocol: None,
        scrape_classic_histograms: None,
        always_scrape_classic_histograms: None,
        convert_classic_histograms_to_nhcb: None,
        native_histogram_bucket_limit: None,
        native_histogram_min_bucket_factor: None,
        metric_name_validation_scheme: None,
        metric_name_escaping_scheme: None,
        scrape_failure_log_file: None,
        kubernetes_sd_configs: None,
        ec2_sd_configs: None,
        dns_sd_configs: None,
        http_sd_configs: None,
        consul_sd_configs: None,
    }
}
