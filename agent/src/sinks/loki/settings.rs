//! A `logs.loki[]` entry checked and turned into what the sink runs with, with no I/O: the
//! parsed URL, the sink's name, the fixed request headers, durations and sizes in the types
//! the tasks use, and `external_labels` as a sorted list.
//!
//! Configuration loading (`LogsConfig::validate`) checks the same rules with positions in the
//! YAML text; this check is the sink's own guard, so a sink built from a config that skipped
//! it (a test, a tool) fails with an error naming the field instead of misbehaving.

use crate::logs::config::{LokiConfig, LokiEncoding};
use harrier_telemetry::config_diagnostic::FieldPath;
use harrier_telemetry::http_client::{self, HttpClientConfig};
use harrier_telemetry::loki::{JSON_CONTENT_TYPE, PROTOBUF_CONTENT_TYPE, TENANT_HEADER};
use harrier_telemetry::relabel::is_legacy_label_name;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, USER_AGENT};
use std::time::Duration;

/// [`TENANT_HEADER`] as `HeaderName::from_static` wants it.
const TENANT_HEADER_LOWER: &str = "x-scope-orgid";

/// Whether a `loki` entry must not set this header (lower case): the common reserved headers
/// (`http_client::RESERVED_HEADERS`, Prometheus's) plus Loki's tenant header, which
/// `tenant_id` sets.
pub fn reserved_header(lower: &str) -> bool {
    http_client::RESERVED_HEADERS.contains(&lower) || lower.eq_ignore_ascii_case(TENANT_HEADER)
}

/// What is wrong with a `loki` entry; [`LokiConfigError::path`] names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LokiConfigError {
    #[error("url: invalid URL {url:?}: {reason} (expected e.g. \"http://loki:3100/loki/api/v1/push\")")]
    Url { url: String, reason: String },
    #[error("tenant_id: {0:?} is not a valid header value")]
    TenantId(String),
    #[error("headers.{0}: not a valid HTTP header name")]
    HeaderName(String),
    #[error("headers.{0}: not a valid HTTP header value")]
    HeaderValue(String),
    #[error("headers.{0}: {0} is a reserved header. It must not be changed")]
    ReservedHeader(String),
    #[error("max_label_names: must be at least 1")]
    MaxLabelNames,
    #[error("batch_size: must be greater than 0B")]
    BatchSize,
    #[error("{0}: must be greater than 0s")]
    ZeroDuration(&'static str),
    #[error("max_backoff: {max:?} is less than min_backoff {min:?}")]
    Backoff { min: Duration, max: Duration },
    #[error("external_labels.{0}: invalid label name (expected [a-zA-Z_][a-zA-Z0-9_]*)")]
    ExternalLabelName(String),
    #[error("{path}: {message}")]
    Http { path: FieldPath, message: String },
}

impl LokiConfigError {
    /// The offending field, relative to the `loki` entry.
    pub fn path(&self) -> FieldPath {
        let root = FieldPath::root();
        match self {
            LokiConfigError::Url { .. } => root.key("url"),
            LokiConfigError::TenantId(_) => root.key("tenant_id"),
            LokiConfigError::HeaderName(name)
            | LokiConfigError::HeaderValue(name)
            | LokiConfigError::ReservedHeader(name) => root.key("headers").key(name),
            LokiConfigError::MaxLabelNames => root.key("max_label_names"),
            LokiConfigError::BatchSize => root.key("batch_size"),
            LokiConfigError::ZeroDuration(field) => root.key(field),
            LokiConfigError::Backoff { .. } => root.key("max_backoff"),
            LokiConfigError::ExternalLabelName(name) => root.key("external_labels").key(name),
            LokiConfigError::Http { path, .. } => path.clone(),
        }
    }
}

/// A checked `loki` entry.
#[derive(Debug, Clone)]
pub struct SinkSettings {
    pub name: String,
    pub url: reqwest::Url,
    /// Every header of a push request except authentication (added per request, since
    /// `*_file` credentials are read afresh each time).
    pub headers: HeaderMap,
    pub encoding: LokiEncoding,
    pub http: HttpClientConfig,
    pub timeout: Duration,
    pub batch_size: usize,
    pub batch_wait: Duration,
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    /// `external_labels`, sorted by name.
    pub external_labels: Vec<(String, String)>,
    pub max_label_names: usize,
}

/// Checks `cfg` (no I/O) and resolves what the sink runs with.
pub fn check(cfg: &LokiConfig) -> Result<SinkSettings, LokiConfigError> {
    let url = parse_url(&cfg.url)?;
    // `name`, else (also when empty) the URL's host and port.
    let name = cfg.sink_name();

    let mut headers = HeaderMap::new();
    for (name, value) in &cfg.headers {
        if reserved_header(&name.to_ascii_lowercase()) {
            return Err(LokiConfigError::ReservedHeader(name.clone()));
        }
        let header_name =
            HeaderName::from_bytes(name.as_bytes()).map_err(|_| LokiConfigError::HeaderName(name.clone()))?;
        let header_value =
            HeaderValue::from_str(value).map_err(|_| LokiConfigError::HeaderValue(name.clone()))?;
        headers.append(header_name, header_value);
    }
    let content_type = match cfg.encoding {
        LokiEncoding::Protobuf => PROTOBUF_CONTENT_TYPE,
        LokiEncoding::Json => JSON_CONTENT_TYPE,
    };
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(USER_AGENT, HeaderValue::from_static(http_client::USER_AGENT));
    if let Some(tenant) = &cfg.tenant_id {
        let value = HeaderValue::from_str(tenant)
            .ok()
            .filter(|_| !tenant.is_empty())
            .ok_or_else(|| LokiConfigError::TenantId(tenant.clone()))?;
        headers.insert(HeaderName::from_static(TENANT_HEADER_LOWER), value);
    }

    if cfg.max_label_names == 0 {
        return Err(LokiConfigError::MaxLabelNames);
    }
    let batch_size = usize::try_from(cfg.batch_size.0).unwrap_or(usize::MAX);
    if batch_size == 0 {
        return Err(LokiConfigError::BatchSize);
    }
    for (field, value) in
        [("timeout", cfg.timeout), ("min_backoff", cfg.min_backoff), ("batch_wait", cfg.batch_wait)]
    {
        if value.0.is_zero() {
            return Err(LokiConfigError::ZeroDuration(field));
        }
    }
    if cfg.min_backoff.0 > cfg.max_backoff.0 {
        return Err(LokiConfigError::Backoff { min: cfg.min_backoff.0, max: cfg.max_backoff.0 });
    }
    for name in cfg.external_labels.keys() {
        if !is_legacy_label_name(name) {
            return Err(LokiConfigError::ExternalLabelName(name.clone()));
        }
    }
    http_client::validate(&cfg.http, &FieldPath::root())
        .map_err(|issue| LokiConfigError::Http { path: issue.path, message: issue.message })?;

    Ok(SinkSettings {
        name,
        url,
        headers,
        encoding: cfg.encoding,
        http: cfg.http.clone(),
        timeout: cfg.timeout.0,
        batch_size,
        batch_wait: cfg.batch_wait.0,
        min_backoff: cfg.min_backoff.0,
        max_backoff: cfg.max_backoff.0,
        // A BTreeMap iterates sorted by name.
        external_labels: cfg.external_labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        max_label_names: cfg.max_label_names,
    })
}

fn parse_url(text: &str) -> Result<reqwest::Url, LokiConfigError> {
    let error = |reason: String| LokiConfigError::Url { url: text.to_string(), reason };
    let url = reqwest::Url::parse(text).map_err(|e| error(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(error(format!("scheme must be http or https, got {:?}", url.scheme())));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(error("a host is required".to_string()));
    }
    Ok(url)
}
