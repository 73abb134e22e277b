//! One `scrape_configs` entry resolved against `global`: every default filled in, the relabel
//! rules compiled and the HTTP client built, once per config load.
//!
//! Defaults are Prometheus's: interval and limits from `global`, timeout the global timeout
//! capped at the interval, `metrics_path: /metrics`, `scheme: http`, `honor_timestamps: true`,
//! `enable_compression: true`, and the Accept header built from `scrape_protocols` the way
//! Prometheus builds it (the protobuf protocol is skipped: Harrier parses the text formats).

use super::config::{FileSdConfig, ScrapeConfig, StaticConfig};
use crate::config::{GlobalConfig, LoadedConfig};
use crate::http_client::{self, HttpClientConfig, HttpClientError};
use crate::relabel::{NameValidation, RelabelConfig, RelabelError, RelabelRule};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// Why a scrape config could not be turned into a running job.
#[derive(Debug, thiserror::Error)]
pub enum ScrapeError {
    #[error("job {job:?}: {field}[{index}]: {source}")]
    Relabel { job: String, field: &'static str, index: usize, source: RelabelError },
    #[error("job {job:?}: {source}")]
    HttpClient { job: String, source: HttpClientError },
    #[error("job {job:?}: scrape_interval cannot be 0")]
    ZeroInterval { job: String },
    #[error("job {job:?}: scrape timeout greater than scrape interval ({timeout:?} > {interval:?})")]
    TimeoutAboveInterval { job: String, timeout: Duration, interval: Duration },
    #[error("job {job:?}: invalid scheme {scheme:?} (expected http or https)")]
    Scheme { job: String, scheme: String },
    #[error("job {job:?}: unknown scrape protocol {protocol:?}")]
    ScrapeProtocol { job: String, protocol: String },
}

/// The scrape limits of a job; 0 means "no limit", as in Prometheus.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Limits {
    pub body_size: u64,
    pub sample: u64,
    pub label: u64,
    pub label_name_length: u64,
    pub label_value_length: u64,
}

/// Everything a scrape loop needs from its job, shared by all of the job's targets.
#[derive(Debug)]
pub(crate) struct JobSettings {
    pub job_name: String,
    pub interval: Duration,
    pub timeout: Duration,
    pub metrics_path: String,
    pub scheme: String,
    pub params: BTreeMap<String, Vec<String>>,
    pub honor_labels: bool,
    pub honor_timestamps: bool,
    pub track_timestamps_staleness: bool,
    pub enable_compression: bool,
    pub limits: Limits,
    pub target_limit: u64,
    pub relabel_rules: Arc<[RelabelRule]>,
    pub metric_relabel_rules: Arc<[RelabelRule]>,
    /// How scraped metric and label names are validated (`metric_name_validation_scheme`).
    pub name_validation: NameValidation,
    pub http: HttpClientConfig,
    pub client: reqwest::Client,
    /// For plain-`http` targets when no proxy is configured (see `plain_http`).
    pub plain_client: Option<super::plain_http::PlainClient>,
    pub accept_header: String,
    pub extra_scrape_metrics: bool,
    pub static_configs: Vec<StaticConfig>,
    pub file_sd_configs: Vec<FileSdConfig>,
}

/// A scrape job ready to run: hand a list of these to
/// [`ScrapeManager::apply_jobs`](super::ScrapeManager::apply_jobs).
#[derive(Debug, Clone)]
pub struct ScrapeJob {
    config: ScrapeConfig,
    global: GlobalConfig,
    pub(crate) settings: Arc<JobSettings>,
}

/// Prometheus's scrape protocols and the media ranges they put in the Accept header.
const SCRAPE_PROTOCOLS: [(&str, &str); 5] = [
    (
        "PrometheusProto",
        "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited",
    ),
    ("PrometheusText0.0.4", "text/plain;version=0.0.4"),
    ("PrometheusText1.0.0", "text/plain;version=1.0.0"),
    ("OpenMetricsText0.0.1", "application/openmetrics-text;version=0.0.1"),
    ("OpenMetricsText1.0.0", "application/openmetrics-text;version=1.0.0"),
];

/// Prometheus 3's default order.
const DEFAULT_SCRAPE_PROTOCOLS: [&str; 4] =
    ["OpenMetricsText1.0.0", "OpenMetricsText0.0.1", "PrometheusText1.0.0", "PrometheusText0.0.4"];

/// Prometheus's `acceptHeader`: each protocol in preference order with a descending `q`,
/// starting at `0.<number of known protocols + 1>`, the 1.0.0 text formats carrying the
/// escaping scheme, then `*/*`. Protobuf is left out (not parsed here); its weight is not
/// reused, so the remaining weights equal Prometheus's for the same list.
pub(crate) fn accept_header(protocols: &[String], escaping: &str) -> Result<String, String> {
    let mut parts = Vec::new();
    let mut weight = SCRAPE_PROTOCOLS.len() + 1;
    for protocol in protocols {
        let Some((name, media)) = SCRAPE_PROTOCOLS.iter().find(|(name, _)| name == protocol) else {
            return Err(protocol.clone());
        };
        if *name != "PrometheusProto" {
            let mut value = media.to_string();
            if *name == "PrometheusText1.0.0" || *name == "OpenMetricsText1.0.0" {
                value.push_str(";escaping=");
                value.push_str(escaping);
            }
            parts.push(format!("{value};q=0.{weight}"));
        }
        weight -= 1;
    }
    parts.push(format!("*/*;q=0.{weight}"));
    Ok(parts.join(","))
}

/// The job's `metric_name_validation_scheme`, inherited from `global`.
fn name_validation(cfg: &ScrapeConfig, global: &GlobalConfig) -> NameValidation {
    match cfg.metric_name_validation_scheme.as_deref().or(global.metric_name_validation_scheme.as_deref()) {
        Some("legacy") => NameValidation::Legacy,
        _ => NameValidation::Utf8,
    }
}

fn compile_rules(
    job: &str,
    field: &'static str,
    configs: &[RelabelConfig],
    names: NameValidation,
) -> Result<Vec<RelabelRule>, ScrapeError> {
    configs
        .iter()
        .enumerate()
        .map(|(index, c)| {
            RelabelRule::compile_with(c, names).map_err(|source| ScrapeError::Relabel {
                job: job.to_string(),
                field,
                index,
                source,
            })
        })
        .collect()
}

impl ScrapeJob {
    /// Resolves `cfg` against `global`, compiles its relabel rules and builds its client.
    pub fn from_config(cfg: &ScrapeConfig, global: &GlobalConfig) -> Result<ScrapeJob, ScrapeError> {
        let names = name_validation(cfg, global);
        let relabel_rules = compile_rules(&cfg.job_name, "relabel_configs", &cfg.relabel_configs, names)?;
        let metric_relabel_rules =
            compile_rules(&cfg.job_name, "metric_relabel_configs", &cfg.metric_relabel_configs, names)?;
        Self::build(cfg, global, relabel_rules.into(), metric_relabel_rules.into())
    }

    /// The jobs of a validated configuration, reusing the relabel rules validation compiled.
    pub fn all_from_loaded(loaded: &LoadedConfig) -> Result<Vec<ScrapeJob>, ScrapeError> {
        let global = &loaded.config.global;
        loaded
            .config
            .scrape_configs
            .iter()
            .zip(&loaded.scrape_jobs)
            .map(|(cfg, validated)| {
                Self::build(
                    cfg,
                    global,
                    Arc::clone(&validated.relabel_rules),
                    Arc::clone(&validated.metric_relabel_rules),
                )
            })
            .collect()
    }

    /// Resolves `cfg` against `global` with compiled rules and builds its client.
    fn build(
        cfg: &ScrapeConfig,
        global: &GlobalConfig,
        relabel_rules: Arc<[RelabelRule]>,
        metric_relabel_rules: Arc<[RelabelRule]>,
    ) -> Result<ScrapeJob, ScrapeError> {
        let job = cfg.job_name.clone();
        let interval = cfg.scrape_interval.unwrap_or(global.scrape_interval).as_duration();
        if interval.is_zero() {
            return Err(ScrapeError::ZeroInterval { job });
        }
        let timeout = match cfg.scrape_timeout {
            Some(t) => t.as_duration(),
            None => global.scrape_timeout.as_duration().min(interval),
        };
        if timeout > interval {
            return Err(ScrapeError::TimeoutAboveInterval { job, timeout, interval });
        }
        let scheme = cfg.scheme.clone().filter(|s| !s.is_empty()).unwrap_or_else(|| "http".to_string());
        if scheme != "http" && scheme != "https" {
            return Err(ScrapeError::Scheme { job, scheme });
        }
        let names = name_validation(cfg, global);

        let protocols: Vec<String> = cfg
            .scrape_protocols
            .clone()
            .or_else(|| global.scrape_protocols.clone())
            .unwrap_or_else(|| DEFAULT_SCRAPE_PROTOCOLS.iter().map(|p| p.to_string()).collect());
        // Prometheus 3: `allow-utf-8` unless names are validated the legacy way.
        let escaping = cfg
            .metric_name_escaping_scheme
            .as_deref()
            .or(global.metric_name_escaping_scheme.as_deref())
            .unwrap_or(if names == NameValidation::Legacy { "underscores" } else { "allow-utf-8" });
        let accept_header = accept_header(&protocols, escaping)
            .map_err(|protocol| ScrapeError::ScrapeProtocol { job: job.clone(), protocol })?;

        let client = http_client::build_client(&cfg.http, timeout)
            .map_err(|source| ScrapeError::HttpClient { job: job.clone(), source })?;
        let limit = |own: Option<u64>, global: Option<u64>| own.filter(|v| *v > 0).or(global).unwrap_or(0);
        let limits = Limits {
            body_size: limit(cfg.body_size_limit.map(|b| b.0), global.body_size_limit.map(|b| b.0)),
            sample: limit(cfg.sample_limit, global.sample_limit),
            label: limit(cfg.label_limit, global.label_limit),
            label_name_length: limit(cfg.label_name_length_limit, global.label_name_length_limit),
            label_value_length: limit(cfg.label_value_length_limit, global.label_value_length_limit),
        };
        let settings = JobSettings {
            job_name: job,
            interval,
            timeout,
            metrics_path: cfg
                .metrics_path
                .clone()
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| "/metrics".to_string()),
            scheme,
            params: cfg.params.clone(),
            honor_labels: cfg.honor_labels,
            honor_timestamps: cfg.honor_timestamps.unwrap_or(true),
            track_timestamps_staleness: cfg.track_timestamps_staleness,
            enable_compression: cfg.enable_compression.unwrap_or(true),
            limits,
            target_limit: limit(cfg.target_limit, global.target_limit),
            relabel_rules,
            metric_relabel_rules,
            name_validation: names,
            http: cfg.http.clone(),
            client,
            plain_client: (!cfg.http.uses_proxy()).then(super::plain_http::build_client),
            accept_header,
            extra_scrape_metrics: global.extra_scrape_metrics.unwrap_or(false),
            static_configs: cfg.static_configs.clone(),
            file_sd_configs: cfg.file_sd_configs.clone(),
        };
        Ok(ScrapeJob { config: cfg.clone(), global: global.clone(), settings: Arc::new(settings) })
    }

    /// The job name (`job_name`).
    pub fn name(&self) -> &str {
        &self.settings.job_name
    }

    /// Whether `other` was built from the same configuration (so nothing needs to change).
    pub(crate) fn same_config(&self, other: &ScrapeJob) -> bool {
        self.config == other.config && self.global == other.global
    }
}
