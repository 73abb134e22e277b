//! The router's configuration file (`harrier router --config FILE`).
//!
//! ```yaml
//! storage:                 # the embedded store
//!   path: data/router      # WAL directory (relative to this file); --data-dir overrides it
//!   retention: 15d
//!   max_bytes: 1GiB        # memory bound; the oldest data goes first (0: none)
//! query:                   # the embedded PromQL engine (Prometheus's --query.* flags)
//!   lookback_delta: 5m
//!   timeout: 2m
//!   max_samples: 50000000
//!   max_concurrency: 20
//! datasource:              # what rules evaluate against
//!   type: embedded         # or remote: a Prometheus-compatible query API
//!   url: http://prometheus:9090
//!   timeout: 2m            # default: query.timeout
//!   headers: {X-Scope-OrgID: team-a}
//!   basic_auth: {username: u, password_file: /secrets/p}
//!   authorization: {type: Bearer, credentials_file: /secrets/token}
//!   bearer_token_file: /secrets/token
//!   tls_config: {ca_file: ca.pem, insecure_skip_verify: false}
//!   proxy_url: http://proxy:3128
//! notifications:           # the router's own Alertmanager (see crate::notify)
//!   alertmanager_config: alertmanager.yml   # Alertmanager's file, verbatim; none: keep
//!                                           # alerts (API, web page) but deliver nowhere
//!   api_auth:              # required on the v2 API's mutating endpoints (optional)
//!     bearer_token_file: /secrets/token     # or: basic_auth: {username: u, password_file: f}
//! ```
//!
//! Loading follows the agent's: yaml_serde through serde_path_to_error with
//! `deny_unknown_fields`, so every error reads `file:line:column: field.path: message`;
//! problems found after deserialising are positioned with the agent's
//! [`locate`](harrier_telemetry::config_diagnostic::locate). Prometheus sections the router will act on in
//! later versions (`global`, `rule_files`, `alerting`) are accepted with a warning. Relative
//! file paths are relative to the config file's directory, as in Prometheus. Without a file,
//! [`RouterConfig::default`] is an embedded datasource with Prometheus's defaults.

#[cfg(test)]
mod tests;

use crate::alerts::config::AlertingConfig;
use crate::datasource::{RemoteDatasource, RemoteDatasourceConfig};
use crate::promql::EngineOptions;
use harrier_telemetry::config_diagnostic::locate::{self, FieldPath};
use harrier_telemetry::config_diagnostic::{self, Diagnostic};
use harrier_telemetry::duration::{ByteSize, PromDuration};
use harrier_telemetry::global_config::GlobalConfig;
use harrier_telemetry::http_client::{self, HttpClientConfig, join_dir};
use harrier_telemetry::remote_write_sink::RemoteWriteConfig;
use serde::Deserialize;
use serde::de::IgnoredAny;
use std::collections::BTreeMap;
use std::path::Path;

/// The whole router configuration file.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouterConfig {
    #[serde(default)]
    pub storage: StorageConfig,
    #[serde(default)]
    pub query: QueryConfig,
    #[serde(default)]
    pub datasource: DatasourceConfig,
    /// Prometheus's `global:`: `evaluation_interval`, `rule_query_offset` and
    /// `external_labels` apply to rules; scrape settings are accepted and ignored.
    #[serde(default)]
    pub global: GlobalConfig,
    /// Prometheus's `rule_files:` globs, relative to this file.
    #[serde(default)]
    pub rule_files: Vec<String>,
    /// Prometheus's `alerting:`: the Alertmanagers alerts are sent to (v2 API).
    #[serde(default)]
    pub alerting: AlertingConfig,
    /// How alerting rules notify and restore (Prometheus's `--rules.*` flags).
    #[serde(default)]
    pub rules: RulesConfig,
    #[serde(default)]
    pub web: WebConfig,
    /// Prometheus's `remote_write:`: where rule output (recording rules, `ALERTS`) is also
    /// sent, each target with its own disk-buffered queue.
    #[serde(default)]
    pub remote_write: Vec<RemoteWriteConfig>,
    /// The router's own Alertmanager: where alerts from its rules and from Prometheus servers
    /// pointed at it are routed and delivered.
    #[serde(default)]
    pub notifications: NotificationsConfig,
}

/// `notifications:` (Harrier).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationsConfig {
    /// Alertmanager's configuration file, read verbatim (relative to this file).
    #[serde(default)]
    pub alertmanager_config: Option<String>,
    /// Credentials the Alertmanager API's mutating endpoints require.
    #[serde(default)]
    pub api_auth: Option<ApiAuthConfig>,
}

/// `notifications.api_auth`: one of a bearer token or basic auth, each secret read from a file.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiAuthConfig {
    #[serde(default)]
    pub bearer_token_file: Option<String>,
    #[serde(default)]
    pub basic_auth: Option<BasicAuthFileConfig>,
}

/// `notifications.api_auth.basic_auth`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuthFileConfig {
    pub username: String,
    pub password_file: String,
}

/// `rules:` (Harrier): settings Prometheus takes as `--rules.alert.*` flags.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesConfig {
    /// How often a firing alert is re-sent (`--rules.alert.resend-delay`).
    #[serde(default = "d_resend_delay")]
    pub resend_delay: PromDuration,
    /// After a restart, a pending alert fires no sooner than this (capped by the time the
    /// router was down and by the alert's `for`) (`--rules.alert.for-grace-period`).
    #[serde(default = "d_for_grace_period")]
    pub for_grace_period: PromDuration,
    /// Alert state older than this is not restored (`--rules.alert.for-outage-tolerance`).
    #[serde(default = "d_outage_tolerance")]
    pub outage_tolerance: PromDuration,
}

fn d_resend_delay() -> PromDuration {
    PromDuration::from_secs(60)
}
fn d_for_grace_period() -> PromDuration {
    PromDuration::from_secs(600)
}
fn d_outage_tolerance() -> PromDuration {
    PromDuration::from_secs(3600)
}

impl Default for RulesConfig {
    fn default() -> Self {
        RulesConfig {
            resend_delay: d_resend_delay(),
            for_grace_period: d_for_grace_period(),
            outage_tolerance: d_outage_tolerance(),
        }
    }
}

/// `web:` (Harrier): Prometheus's `--web.external-url`, and the HTTPS settings of Prometheus's
/// web configuration file (`--web.config.file`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebConfig {
    /// The URL the router is reached at (in alerts' `generatorURL` and `$externalURL`).
    #[serde(default)]
    pub external_url: Option<String>,
    /// HTTPS for the router's own server; plain HTTP without it (see `crate::run::tls`).
    #[serde(default)]
    pub tls_server_config: Option<TlsServerConfig>,
}

/// `web.tls_server_config`: the names and values of Prometheus's web configuration file
/// (exporter-toolkit's `tls_server_config`), the subset rustls implements.
///
/// ```yaml
/// web:
///   tls_server_config:
///     cert_file: server.crt     # PEM: the server's certificate, then its chain
///     key_file: server.key      # PEM: PKCS#8, PKCS#1 or SEC1
///     client_auth_type: RequireAndVerifyClientCert   # default NoClientCert
///     client_ca_file: ca.crt    # PEM; with VerifyClientCertIfGiven/RequireAndVerifyClientCert
///     min_version: TLS12        # or TLS13
///     max_version: TLS13        # or TLS12
/// ```
///
/// exporter-toolkit's other fields are recognised only to be refused by name
/// ([`TlsServerConfig::unsupported_fields`]).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsServerConfig {
    /// The server's certificate chain (relative to the config file once loaded).
    #[serde(default)]
    pub cert_file: Option<String>,
    /// The certificate's private key.
    #[serde(default)]
    pub key_file: Option<String>,
    #[serde(default)]
    pub client_auth_type: ClientAuthType,
    /// The CAs client certificates are verified against.
    #[serde(default)]
    pub client_ca_file: Option<String>,
    #[serde(default)]
    pub min_version: TlsVersion,
    // exporter-toolkit's fields that Harrier does not implement: read only to be refused.
    #[serde(default)]
    cert: Option<IgnoredAny>,
    #[serde(default)]
    key: Option<IgnoredAny>,
    #[serde(default)]
    client_ca: Option<IgnoredAny>,
    #[serde(default)]
    client_allowed_sans: Option<IgnoredAny>,
    /// The newest TLS version offered: TLS13 (default) or TLS12.
    #[serde(default)]
    pub max_version: Option<TlsVersion>,
    #[serde(default)]
    cipher_suites: Option<IgnoredAny>,
    #[serde(default)]
    prefer_server_cipher_suites: Option<IgnoredAny>,
    #[serde(default)]
    curve_preferences: Option<IgnoredAny>,
}

impl TlsServerConfig {
    /// The exporter-toolkit fields present that Harrier does not implement, each with why.
    pub fn unsupported_fields(&self) -> Vec<(&'static str, &'static str)> {
        const INLINE: &str = "inline PEM is not supported: put it in a file and use cert_file, key_file \
                              and client_ca_file";
        const RUSTLS_CHOOSES: &str = "not supported: rustls's safe defaults apply";
        [
            ("cert", self.cert.is_some(), INLINE),
            ("key", self.key.is_some(), INLINE),
            ("client_ca", self.client_ca.is_some(), INLINE),
            (
                "client_allowed_sans",
                self.client_allowed_sans.is_some(),
                "not supported: verify client certificates with client_ca_file",
            ),
            ("cipher_suites", self.cipher_suites.is_some(), RUSTLS_CHOOSES),
            ("prefer_server_cipher_suites", self.prefer_server_cipher_suites.is_some(), RUSTLS_CHOOSES),
            ("curve_preferences", self.curve_preferences.is_some(), RUSTLS_CHOOSES),
        ]
        .into_iter()
        .filter(|(_, present, _)| *present)
        .map(|(name, _, why)| (name, why))
        .collect()
    }
}

/// `client_auth_type`: Go's `tls.ClientAuthType` names, as exporter-toolkit takes them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum ClientAuthType {
    /// No client certificate is asked for.
    /// (Also written `""`, as exporter-toolkit accepts.)
    #[default]
    #[serde(alias = "")]
    NoClientCert,
    /// A certificate is asked for, not required, and not verified (insecure).
    RequestClientCert,
    /// A certificate is required but not verified (insecure).
    /// (Also written `RequireClientCert`, exporter-toolkit's old name.)
    #[serde(alias = "RequireClientCert")]
    RequireAnyClientCert,
    /// A certificate, if sent, is verified against `client_ca_file`.
    VerifyClientCertIfGiven,
    /// A certificate is required and verified against `client_ca_file`.
    RequireAndVerifyClientCert,
}

impl ClientAuthType {
    /// Whether client certificates are verified against `client_ca_file`.
    pub fn verifies(self) -> bool {
        matches!(self, ClientAuthType::VerifyClientCertIfGiven | ClientAuthType::RequireAndVerifyClientCert)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ClientAuthType::NoClientCert => "NoClientCert",
            ClientAuthType::RequestClientCert => "RequestClientCert",
            ClientAuthType::RequireAnyClientCert => "RequireAnyClientCert",
            ClientAuthType::VerifyClientCertIfGiven => "VerifyClientCertIfGiven",
            ClientAuthType::RequireAndVerifyClientCert => "RequireAndVerifyClientCert",
        }
    }
}

/// `min_version`: exporter-toolkit's names. TLS 1.0 and 1.1 parse (so the error says why they
/// are refused) but rustls implements neither.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum TlsVersion {
    #[serde(rename = "TLS10")]
    Tls10,
    #[serde(rename = "TLS11")]
    Tls11,
    #[default]
    #[serde(rename = "TLS12")]
    Tls12,
    #[serde(rename = "TLS13")]
    Tls13,
}

/// `storage:`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// The store's directory (WAL); `None`: the `--data-dir` flag's default.
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default = "d_retention")]
    pub retention: PromDuration,
    /// The store's memory bound (sample data and index); past it the oldest data is dropped.
    /// 0: no bound.
    #[serde(default = "d_max_bytes")]
    pub max_bytes: ByteSize,
}

fn d_max_bytes() -> ByteSize {
    ByteSize(1 << 30)
}

fn d_retention() -> PromDuration {
    PromDuration::from_secs(15 * 24 * 3600)
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig { path: None, retention: d_retention(), max_bytes: d_max_bytes() }
    }
}

/// `query:`, with Prometheus's defaults.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryConfig {
    #[serde(default = "d_lookback")]
    pub lookback_delta: PromDuration,
    #[serde(default = "d_query_timeout")]
    pub timeout: PromDuration,
    #[serde(default = "d_max_samples")]
    pub max_samples: u64,
    #[serde(default = "d_max_concurrency")]
    pub max_concurrency: u64,
}

fn d_lookback() -> PromDuration {
    PromDuration::from_secs(300)
}
fn d_query_timeout() -> PromDuration {
    PromDuration::from_secs(120)
}
fn d_max_samples() -> u64 {
    50_000_000
}
fn d_max_concurrency() -> u64 {
    20
}

impl Default for QueryConfig {
    fn default() -> Self {
        QueryConfig {
            lookback_delta: d_lookback(),
            timeout: d_query_timeout(),
            max_samples: d_max_samples(),
            max_concurrency: d_max_concurrency(),
        }
    }
}

/// Which datasource rules evaluate against.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DatasourceKind {
    #[default]
    Embedded,
    Remote,
}

/// `datasource:`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasourceConfig {
    #[serde(default, rename = "type")]
    pub kind: DatasourceKind,
    #[serde(default)]
    pub url: Option<String>,
    /// Default: `query.timeout`.
    #[serde(default)]
    pub timeout: Option<PromDuration>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Authentication, TLS and proxy settings: Prometheus's `http_config`, as the agent's
    /// scrape and remote_write sections take them.
    #[serde(flatten)]
    pub http: HttpClientConfig,
}

impl DatasourceConfig {
    /// Whether any remote-only setting is present.
    fn has_remote_settings(&self) -> bool {
        self.url.is_some() || !self.headers.is_empty() || self.http != HttpClientConfig::default()
    }
}

impl RouterConfig {
    /// The engine options the `query` section asks for.
    pub fn engine_options(&self) -> EngineOptions {
        EngineOptions {
            lookback_delta: self.query.lookback_delta.as_duration(),
            max_samples: usize::try_from(self.query.max_samples).unwrap_or(usize::MAX),
            timeout: self.query.timeout.as_duration(),
            ..EngineOptions::default()
        }
    }

    /// The remote datasource's settings, when `datasource.type` is `remote`.
    pub fn remote_datasource(&self) -> Option<RemoteDatasourceConfig> {
        let ds = &self.datasource;
        if ds.kind != DatasourceKind::Remote {
            return None;
        }
        Some(RemoteDatasourceConfig {
            url: ds.url.clone().unwrap_or_default(),
            timeout: ds.timeout.unwrap_or(self.query.timeout).as_duration(),
            headers: ds.headers.clone(),
            http: ds.http.clone(),
        })
    }
}

/// A configuration that passed validation.
#[derive(Debug, Clone, Default)]
pub struct LoadedConfig {
    /// Relative paths already joined to the file's directory.
    pub config: RouterConfig,
    /// Settings accepted but not acted on, one sentence each.
    pub warnings: Vec<String>,
}

pub use harrier_telemetry::config_diagnostic::ConfigError;

/// Reads and validates the configuration file at `path`.
pub fn load_file(path: &Path) -> Result<LoadedConfig, ConfigError> {
    let text = config_diagnostic::read_config(path)?;
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    load(&text, &path.display().to_string(), Some(&dir), TlsFiles::Check)
}

/// [`load_file`] for a reload of a running router: the `tls_server_config` files are not
/// read. The running server keeps its settings until a restart and re-reads those files itself
/// when they change, so a certificate rotation caught half-way (new certificate, old key) must
/// not make the reload of rules and routes fail.
pub fn load_file_for_reload(path: &Path) -> Result<LoadedConfig, ConfigError> {
    let text = config_diagnostic::read_config(path)?;
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    load(&text, &path.display().to_string(), Some(&dir), TlsFiles::Skip)
}

/// Whether loading reads and checks the `tls_server_config` files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TlsFiles {
    Check,
    Skip,
}

/// Validates a configuration given as text; `origin` names it in errors. Relative paths stay
/// relative to the working directory.
pub fn load_str(yaml: &str, origin: &str) -> Result<LoadedConfig, ConfigError> {
    load(yaml, origin, None, TlsFiles::Check)
}

/// Whether a YAML document looks like a router configuration (has one of the router's own
/// sections), for `harrier check` to pick the right validator.
pub fn looks_like_router_config(yaml: &str) -> bool {
    let Ok(yaml_serde::Value::Mapping(map)) = yaml_serde::from_str::<yaml_serde::Value>(yaml) else {
        return false;
    };
    ["storage", "query", "datasource", "rule_files", "rules", "alerting", "web", "notifications"]
        .iter()
        .any(|key| map.contains_key(*key))
        && !["scrape_configs", "remote_write", "host_metrics"].iter().any(|key| map.contains_key(*key))
}

fn load(
    text: &str,
    origin: &str,
    dir: Option<&Path>,
    tls_files: TlsFiles,
) -> Result<LoadedConfig, ConfigError> {
    let mut config: RouterConfig = config_diagnostic::deserialize_yaml(text, origin)?;
    let invalid = |path: FieldPath, message: String| {
        let position = locate::locate(text, &path);
        ConfigError::Invalid(Box::new(Diagnostic {
            origin: origin.to_string(),
            position,
            field: path,
            message,
        }))
    };
    let root = FieldPath::root();
    let mut warnings = Vec::new();
    config.alerting.validate(&root.key("alerting")).map_err(|e| invalid(e.path, e.message))?;
    config.alerting.resolve_paths(dir);
    for (i, pattern) in config.rule_files.iter().enumerate() {
        if let Err(e) = glob::Pattern::new(pattern) {
            return Err(invalid(
                root.key("rule_files").index(i),
                format!("invalid glob pattern {pattern:?}: {e}"),
            ));
        }
    }
    if config.global.evaluation_interval.as_duration().is_zero() {
        return Err(invalid(root.key("global").key("evaluation_interval"), "must be greater than 0".into()));
    }
    let mut queue_names = std::collections::BTreeSet::new();
    for (i, rw) in config.remote_write.iter_mut().enumerate() {
        let path = root.key("remote_write").index(i);
        if reqwest::Url::parse(&rw.url).is_err() {
            return Err(invalid(path.key("url"), format!("{:?} is not an absolute URL", rw.url)));
        }
        http_client::validate(&rw.http, &path).map_err(|e| invalid(e.path, e.message))?;
        http_client::resolve_paths(dir, &mut rw.http);
        let name = harrier_telemetry::remote_write_sink::RemoteWriteSink::queue_name(rw);
        if !queue_names.insert(name.clone()) {
            return Err(invalid(
                path,
                format!("found multiple remote write configs with the same name {name:?}"),
            ));
        }
    }
    let rules_path = root.key("rules");
    if config.rules.resend_delay.as_duration().is_zero() {
        return Err(invalid(rules_path.key("resend_delay"), "must be greater than 0".into()));
    }
    if let Some(url) = &config.web.external_url
        && reqwest::Url::parse(url).is_err()
    {
        return Err(invalid(root.key("web").key("external_url"), format!("{url:?} is not an absolute URL")));
    }
    if let Some(tls) = &mut config.web.tls_server_config {
        let at = root.key("web").key("tls_server_config");
        if let Some((field, why)) = tls.unsupported_fields().first() {
            return Err(invalid(at.key(field), (*why).to_string()));
        }
        for file in [&mut tls.cert_file, &mut tls.key_file, &mut tls.client_ca_file].into_iter().flatten() {
            *file = join_dir(dir, file);
        }
        // Reads and parses the files and builds the rustls configuration the server will use:
        // a key that does not match its certificate fails here, not at the first connection.
        if tls_files == TlsFiles::Check {
            crate::run::tls::server_config(tls)
                .map_err(|e| invalid(at.key(e.field().as_str()), e.to_string()))?;
        }
    }

    let query = root.key("query");
    if config.query.timeout.as_duration().is_zero() {
        return Err(invalid(query.key("timeout"), "must be greater than 0".into()));
    }
    if config.query.lookback_delta.as_duration().is_zero() {
        return Err(invalid(query.key("lookback_delta"), "must be greater than 0".into()));
    }
    if config.query.max_concurrency == 0 {
        return Err(invalid(query.key("max_concurrency"), "must be at least 1".into()));
    }

    if let Some(path) = &mut config.storage.path {
        *path = join_dir(dir, path);
    }
    for pattern in &mut config.rule_files {
        *pattern = join_dir(dir, pattern);
    }
    let notifications = &mut config.notifications;
    if let Some(path) = &mut notifications.alertmanager_config {
        *path = join_dir(dir, path);
        crate::route::load_file(Path::new(path.as_str()))?;
    }
    if let Some(auth) = &mut notifications.api_auth {
        let at = root.key("notifications").key("api_auth");
        match (&mut auth.bearer_token_file, &mut auth.basic_auth) {
            (Some(f), None) => *f = join_dir(dir, f),
            (None, Some(basic)) => basic.password_file = join_dir(dir, &basic.password_file),
            (Some(_), Some(_)) => {
                return Err(invalid(at, "set one of bearer_token_file and basic_auth, not both".into()));
            }
            (None, None) => return Err(invalid(at, "expected bearer_token_file or basic_auth".into())),
        }
    }

    let ds_path = root.key("datasource");
    let ds = &mut config.datasource;
    match ds.kind {
        DatasourceKind::Embedded => {
            if ds.has_remote_settings() {
                warnings.push(format!(
                    "{origin}: datasource: url, headers and HTTP settings are ignored with type embedded"
                ));
            }
        }
        DatasourceKind::Remote => {
            if ds.url.as_deref().is_none_or(str::is_empty) {
                return Err(invalid(ds_path.key("type"), "a remote datasource needs a url".into()));
            }
            http_client::validate(&ds.http, &ds_path).map_err(|e| invalid(e.path, e.message))?;
            http_client::resolve_paths(dir, &mut ds.http);
        }
    }
    if let Some(remote) = config.remote_datasource() {
        // Builds the client once: checks the URL, headers and TLS files now rather than at
        // the first evaluation.
        RemoteDatasource::new(remote).map_err(|e| {
            let field = match e.to_string() {
                m if m.contains("url") => ds_path.key("url"),
                m if m.contains("header") => ds_path.key("headers"),
                m if m.contains("tls") || m.contains("certificate") => ds_path.key("tls_config"),
                _ => ds_path.clone(),
            };
            invalid(field, e.to_string())
        })?;
    }
    Ok(LoadedConfig { config, warnings })
}
