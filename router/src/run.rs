//! The router's lifecycle (`harrier router`): load the config, open the embedded store (its
//! WAL replayed from the data directory), serve the API, enforce retention every minute,
//! apply reloads (SIGHUP or `/-/reload`), and shut down gracefully.
//!
//! Reload re-reads the file and applies what can change while running: the query engine
//! options and the datasource rules evaluate against. `storage` settings and
//! `query.max_concurrency` are read at start only; a reload that changes them says so in a
//! warning and keeps the running values. A config that fails to load changes nothing.
//!
//! Shutdown: `/-/ready` turns 503, the HTTP server stops accepting and finishes the requests
//! in flight (so acknowledged remote_write samples are in the store's log), the retention task
//! stops, then the store is dropped (closing its log).

use crate::alerts::{Notifier, NotifierOptions};
use crate::api::write::{IngestOutcome, Ingester, RejectReason, StorageStats, WriteLimits};
use crate::api::{self, ApiMetrics, ApiState, ReloadRequest};
use crate::config::{self, ConfigError, LoadedConfig, RouterConfig};
use crate::datasource::{Datasource, DatasourceError, EmbeddedDatasource, RemoteDatasource};
use crate::rules::eval::{RuleAppender, RuleEvalError, RuleSample, append_grouped, group_samples};
use crate::rules::manager::{LoadErrors, ManagerOptions, RuleManager, RuleMetrics};
use crate::rules::state::{RestoreOptions, StateError};
use crate::rules::{RulesError, resolve_rule_files};
use crate::store::{Queryable, Store, StoreError, StoreOptions};
use harrier_telemetry::model::Labels;
use harrier_telemetry::model::Series;
use harrier_telemetry::remote_write_sink::{
    BufferConfig, RemoteWriteConfig, RemoteWriteError, RemoteWriteMetrics, RemoteWriteSink,
};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

mod notifications;
#[cfg(test)]
mod tests;
pub(crate) mod tls;

use notifications::{Notifications, NotificationsError};

/// The data directory when neither `--data-dir` nor `storage.path` names one.
pub const DEFAULT_DATA_DIR: &str = "data/router";

/// How often retention runs.
const RETENTION_INTERVAL: Duration = Duration::from_secs(60);

/// How the router was started (command-line flags).
#[derive(Debug, Clone)]
pub struct RouterOptions {
    /// The config file; defaults when `None`.
    pub config_path: Option<PathBuf>,
    pub listen: SocketAddr,
    /// Overrides `storage.path`.
    pub data_dir: Option<PathBuf>,
}

/// Why the router could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RouterError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("cannot create data directory {path}: {source}")]
    DataDir { path: PathBuf, source: std::io::Error },
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("datasource: {0}")]
    Datasource(#[from] DatasourceError),
    #[error("HTTP server: {0}")]
    Serve(std::io::Error),
    #[error("web.tls_server_config.{field}: {0}", field = .0.field())]
    Tls(#[from] tls::TlsError),
    #[error("rule files: {0}")]
    RuleFiles(#[from] RulesError),
    #[error("loading rules failed:\n{0}")]
    Rules(#[from] LoadErrors),
    #[error("{0}")]
    RuleState(#[from] StateError),
    #[error("alerting: {0}")]
    Alerting(#[from] crate::alerts::AlertsError),
    #[error("remote_write: {0}")]
    RemoteWrite(#[from] RemoteWriteError),
    #[error("notifications: {0}")]
    Notifications(#[from] NotificationsError),
    #[error("reload applied except: {0}")]
    PartialReload(String),
}

/// How long shutdown (or a reload that replaces them) lets remote_write queues deliver before
/// leaving the rest on disk for the next start.
const REMOTE_WRITE_GRACE: Duration = Duration::from_secs(5);

/// Where rule output goes: the embedded store, and every `remote_write` target (float samples;
/// native histogram samples stay in the store).
struct RuleOutput {
    store: Arc<Store>,
    sinks: std::sync::RwLock<Vec<RemoteWriteSink>>,
    /// The config the sinks were started from.
    configs: std::sync::Mutex<Vec<RemoteWriteConfig>>,
    data_dir: PathBuf,
    metrics: RemoteWriteMetrics,
}

impl RuleAppender for RuleOutput {
    fn append(&self, samples: &[RuleSample]) -> Result<usize, RuleEvalError> {
        let (floats, histograms) = group_samples(samples);
        let rejected = append_grouped(&self.store, &floats, &histograms)?;
        for sink in self.sinks.read().unwrap_or_else(|p| p.into_inner()).iter() {
            sink.send(&floats);
        }
        Ok(rejected)
    }

    fn flush(&self) -> Result<(), RuleEvalError> {
        self.store.sync().map_err(|e| RuleEvalError::Append(e.to_string()))
    }
}

impl RuleOutput {
    /// Starts the queues `configs` asks for, replacing (and first draining) the running ones
    /// when the config changed. Queues of the same name share a directory, so the old ones
    /// stop first; if a new one cannot start, the previous queues are started again and the
    /// error returned.
    async fn apply(
        &self,
        configs: &[RemoteWriteConfig],
        external_labels: &BTreeMap<String, String>,
    ) -> Result<(), RouterError> {
        let previous = self.configs.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if previous == configs {
            return Ok(());
        }
        self.stop().await;
        match self.start_all(configs, external_labels) {
            Ok(()) => Ok(()),
            Err(e) => {
                if let Err(again) = self.start_all(&previous, external_labels) {
                    tracing::error!(error = %again, "cannot restart the previous remote_write queues");
                }
                Err(e)
            }
        }
    }

    fn start_all(
        &self,
        configs: &[RemoteWriteConfig],
        external_labels: &BTreeMap<String, String>,
    ) -> Result<(), RouterError> {
        let mut started = Vec::with_capacity(configs.len());
        for cfg in configs {
            let sink = RemoteWriteSink::start(
                cfg,
                external_labels,
                &BufferConfig::default(),
                &self.data_dir,
                self.metrics.clone(),
            )?;
            tracing::info!(queue = sink.name(), url = %cfg.url, "rule output remote_write queue started");
            started.push(sink);
        }
        *self.sinks.write().unwrap_or_else(|p| p.into_inner()) = started;
        *self.configs.lock().unwrap_or_else(|p| p.into_inner()) = configs.to_vec();
        Ok(())
    }

    /// Drains every queue for up to [`REMOTE_WRITE_GRACE`]; what is left stays on disk.
    async fn stop(&self) {
        let sinks = std::mem::take(&mut *self.sinks.write().unwrap_or_else(|p| p.into_inner()));
        self.configs.lock().unwrap_or_else(|p| p.into_inner()).clear();
        for sink in sinks {
            sink.shutdown(REMOTE_WRITE_GRACE).await;
        }
    }
}

/// Prometheus's default external URL: `http://<hostname>:<port>`.
fn default_external_url(listen: SocketAddr) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string());
    format!("http://{host}:{}", listen.port())
}

/// `web.external_url`, else `default_url`, without a trailing `/`.
fn external_url(config: &RouterConfig, default_url: &str) -> String {
    config.web.external_url.as_deref().unwrap_or(default_url).trim_end_matches('/').to_string()
}

/// Where rule evaluation's alerts go: the router's own Alertmanager, and the external
/// Alertmanagers of `alerting:` (if any).
struct RuleAlerts {
    notifier: Arc<Notifier>,
    dispatcher: Arc<crate::notify::dispatch::Dispatcher>,
}

impl crate::alerts::AlertSink for RuleAlerts {
    fn send(&self, alerts: Vec<crate::alerts::Alert>) {
        if self.notifier.has_alertmanagers() {
            self.notifier.send(alerts.clone());
        }
        self.dispatcher.send(alerts);
    }
}

/// The rule manager's settings from the config; `default_url` when `web.external_url` is not
/// set.
fn manager_options(config: &RouterConfig, default_url: &str) -> ManagerOptions {
    ManagerOptions {
        default_interval_ms: config.global.evaluation_interval.as_millis(),
        default_query_offset_ms: config.global.rule_query_offset.map_or(0, |d| d.as_millis()),
        resend_delay_ms: config.rules.resend_delay.as_millis(),
        external_labels: Labels::from_pairs(config.global.external_labels.iter()),
        external_url: external_url(config, default_url),
        restore: RestoreOptions {
            outage_tolerance_ms: config.rules.outage_tolerance.as_millis(),
            for_grace_period_ms: config.rules.for_grace_period.as_millis(),
        },
        check: Default::default(),
    }
}

/// The rule files `config` names, resolved now.
fn rule_files(config: &RouterConfig) -> Result<Vec<PathBuf>, RulesError> {
    resolve_rule_files(&config.rule_files, None)
}

impl Ingester for Store {
    fn ingest(&self, series: &[Series]) -> Result<IngestOutcome, StoreError> {
        let outcome = self.append(series)?;
        // Identical duplicates (a resent sample) are accepted as no-ops, as in Prometheus.
        let mut out = IngestOutcome { appended: outcome.appended, rejected: Vec::new() };
        out.reject(RejectReason::OutOfOrder, outcome.out_of_order);
        out.reject(RejectReason::Duplicate, outcome.duplicate_timestamp);
        out.reject(RejectReason::TooOld, outcome.too_old);
        Ok(out)
    }

    fn stats(&self) -> StorageStats {
        let stats = Store::stats(self);
        StorageStats { series: stats.series, bytes: stats.chunk_bytes + stats.index_bytes }
    }
}

/// Config reload self-metrics, as the agent's.
#[derive(Clone, Default)]
struct ReloadMetrics {
    last_reload_successful: Gauge,
    last_reload_success_timestamp_seconds: Gauge,
}

impl ReloadMetrics {
    fn register(registry: &mut Registry) -> Self {
        let m = ReloadMetrics::default();
        registry.register(
            "harrier_router_config_last_reload_successful",
            "Whether the last configuration reload attempt was successful (1) or not (0)",
            m.last_reload_successful.clone(),
        );
        registry.register(
            "harrier_router_config_last_reload_success_timestamp_seconds",
            "Timestamp of the last successful configuration reload",
            m.last_reload_success_timestamp_seconds.clone(),
        );
        registry.register(
            "harrier_router_build",
            "Harrier router build information",
            Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
        );
        m
    }

    fn record(&self, ok: bool) {
        self.last_reload_successful.set(i64::from(ok));
        if ok {
            self.last_reload_success_timestamp_seconds.set(harrier_telemetry::model::now_ms() / 1000);
        }
    }
}

/// What a reload can change.
struct Router {
    options: RouterOptions,
    config: RouterConfig,
    queries: EmbeddedDatasource,
    /// What rules evaluate against.
    datasource: Arc<dyn Datasource>,
    rules: Arc<RuleManager>,
    notifier: Arc<Notifier>,
    /// The router's own Alertmanager.
    notifications: Notifications,
    rule_output: Arc<RuleOutput>,
    /// The external URL when `web.external_url` is not set.
    default_url: String,
    /// The `rule_files` patterns the watcher follows.
    watched_patterns: Arc<std::sync::RwLock<Vec<String>>>,
    reload_metrics: ReloadMetrics,
}

/// Runs the router until `shutdown` is cancelled.
pub async fn run(options: RouterOptions, shutdown: CancellationToken) -> Result<(), RouterError> {
    // Load first: a bad config should not even take the port.
    load(&options)?;
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(|source| RouterError::Bind { addr: options.listen, source })?;
    serve(options, listener, shutdown).await
}

/// [`run`] on a listener already bound (`options.listen` is not used).
pub async fn serve(
    options: RouterOptions,
    listener: tokio::net::TcpListener,
    shutdown: CancellationToken,
) -> Result<(), RouterError> {
    let loaded = load(&options)?;
    for w in &loaded.warnings {
        tracing::warn!(warning = %w, "config");
    }
    let config = loaded.config;
    let data_dir = data_dir(&options, &config);
    std::fs::create_dir_all(&data_dir)
        .map_err(|source| RouterError::DataDir { path: data_dir.clone(), source })?;
    let local_addr = listener.local_addr().map_err(RouterError::Serve)?;

    let store_options = StoreOptions {
        dir: Some(data_dir.clone()),
        retention: config.storage.retention.as_duration(),
        max_bytes: match config.storage.max_bytes.0 {
            0 => u64::MAX,
            n => n,
        },
        ..StoreOptions::default()
    };
    tracing::info!(dir = %data_dir.display(), "opening the store (replaying its log)");
    let store = match tokio::task::spawn_blocking(move || Store::open(store_options)).await {
        Ok(store) => Arc::new(store?),
        Err(e) => return Err(RouterError::Store(StoreError::Other(format!("store open task failed: {e}")))),
    };

    let mut registry = Registry::default();
    let api_metrics = ApiMetrics::register(&mut registry);
    let reload_metrics = ReloadMetrics::register(&mut registry);
    let rule_metrics = RuleMetrics::register(&mut registry);
    let rule_output = Arc::new(RuleOutput {
        store: Arc::clone(&store),
        sinks: Default::default(),
        configs: Default::default(),
        data_dir: data_dir.clone(),
        metrics: RemoteWriteMetrics::register(&mut registry, "harrier_router"),
    });
    rule_output.apply(&config.remote_write, &config.global.external_labels).await?;
    let queries = EmbeddedDatasource::new(
        Arc::clone(&store) as Arc<dyn Queryable>,
        config.engine_options(),
        usize::try_from(config.query.max_concurrency).unwrap_or(usize::MAX),
    );
    let datasource = build_datasource(&config, &queries)?;
    tracing::info!(datasource = %datasource.describe(), "rules datasource");
    let external_labels = Labels::from_pairs(config.global.external_labels.iter());
    let notifier = Arc::new(Notifier::new(
        &config.alerting,
        &external_labels,
        NotifierOptions::default(),
        &mut registry,
    )?);
    let notifications = Notifications::start(
        &config.notifications,
        &data_dir,
        &external_url(&config, &default_external_url(local_addr)),
        &mut registry,
    )?;
    let api_auth = notifications::api_auth(&config.notifications)?;
    let alertmanager_api = notifications.api();
    let alert_sink = Arc::new(RuleAlerts {
        notifier: Arc::clone(&notifier),
        dispatcher: Arc::clone(&notifications.dispatcher),
    });
    let notifier_stop = CancellationToken::new();
    let notifier_task = tokio::spawn(Arc::clone(&notifier).run(notifier_stop.clone()));
    let rules = Arc::new(RuleManager::new(
        manager_options(&config, &default_external_url(local_addr)),
        Arc::clone(&datasource),
        Arc::clone(&rule_output) as Arc<dyn RuleAppender>,
        alert_sink as Arc<dyn crate::alerts::AlertSink>,
        Some(data_dir.join("rules")),
        rule_metrics,
    )?);
    // Taken before the rules are read: a file changed from here on triggers a reload.
    let rule_files_at_start = rule_files_fingerprint(&config.rule_files);
    let files = rule_files(&config)?;
    rules.update(&files).await?;
    tracing::info!(files = files.len(), "rules loaded");
    let watched_patterns = Arc::new(std::sync::RwLock::new(config.rule_files.clone()));
    let mut router = Router {
        options,
        config,
        queries: queries.clone(),
        datasource,
        rules: Arc::clone(&rules),
        notifier: Arc::clone(&notifier),
        notifications,
        rule_output: Arc::clone(&rule_output),
        default_url: default_external_url(local_addr),
        watched_patterns,
        reload_metrics,
    };
    router.reload_metrics.record(true);

    let tls = match &router.config.web.tls_server_config {
        Some(settings) => {
            Some(tls::ReloadingTlsConfig::new(settings.clone(), tls::TlsMetrics::register(&mut registry))?)
        }
        None => None,
    };
    let ready = Arc::new(AtomicBool::new(true));
    let (reload_tx, mut reload_rx) = mpsc::channel::<ReloadRequest>(4);
    let state = ApiState {
        queries,
        ingester: Arc::clone(&store) as Arc<dyn Ingester>,
        write_limits: WriteLimits::default(),
        metrics: api_metrics,
        registry: Arc::new(registry),
        ready: Arc::clone(&ready),
        reload: Some(reload_tx.clone()),
        rules: Some(Arc::clone(&rules)),
    };
    let app = api::router(state).merge(api::alertmanager::routes(alertmanager_api, api_auth));
    let server_stop = CancellationToken::new();
    let server = {
        let stop = server_stop.clone();
        match tls {
            None => tokio::spawn(async move {
                axum::serve(listener, app).with_graceful_shutdown(stop.cancelled_owned()).await
            }),
            Some(tls) => {
                let listener = tls::TlsListener::new(listener, tls).map_err(RouterError::Serve)?;
                tokio::spawn(async move {
                    axum::serve(listener, app).with_graceful_shutdown(stop.cancelled_owned()).await
                })
            }
        }
    };
    let retention_stop = CancellationToken::new();
    let retention = tokio::spawn(retention_loop(Arc::clone(&store), retention_stop.clone()));
    let watch = tokio::spawn(watch_rule_files(
        Arc::clone(&router.watched_patterns),
        rule_files_at_start,
        reload_tx,
        retention_stop.clone(),
    ));
    tracing::info!(listen = %local_addr, "harrier router started");

    let mut sighup =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).map_err(RouterError::Serve)?;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = sighup.recv() => {
                if let Err(e) = router.reload().await {
                    tracing::error!(error = %e, "config reload failed; keeping the previous config");
                }
            }
            Some(reply) = reload_rx.recv() => {
                let outcome = router.reload().await.map_err(|e| e.to_string());
                if let Err(e) = &outcome {
                    tracing::error!(error = %e, "config reload failed; keeping the previous config");
                }
                let _ = reply.send(outcome);
            }
        }
    }

    ready.store(false, Ordering::Release);
    tracing::info!("shutting down: finishing requests in flight");
    server_stop.cancel();
    let served = server.await;
    retention_stop.cancel();
    if let Err(e) = retention.await {
        tracing::error!(error = %e, "retention task failed");
    }
    let _ = watch.await;
    rules.stop().await;
    rule_output.stop().await;
    router.notifications.stop().await;
    // Alerts from the last evaluations go out before the process ends.
    notifier.stop().await;
    notifier_stop.cancel();
    let _ = notifier_task.await;
    drop(router);
    drop(store);
    match served {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(RouterError::Serve(e)),
        Err(e) => tracing::error!(error = %e, "HTTP server task failed"),
    }
    tracing::info!("harrier router stopped");
    Ok(())
}

fn load(options: &RouterOptions) -> Result<LoadedConfig, ConfigError> {
    match &options.config_path {
        Some(path) => config::load_file(path),
        None => Ok(LoadedConfig::default()),
    }
}

/// [`load`] for a reload: the TLS files are the running server's business
/// ([`config::load_file_for_reload`]).
fn load_for_reload(options: &RouterOptions) -> Result<LoadedConfig, ConfigError> {
    match &options.config_path {
        Some(path) => config::load_file_for_reload(path),
        None => Ok(LoadedConfig::default()),
    }
}

/// `--data-dir`, else `storage.path`, else [`DEFAULT_DATA_DIR`].
fn data_dir(options: &RouterOptions, config: &RouterConfig) -> PathBuf {
    options
        .data_dir
        .clone()
        .or_else(|| config.storage.path.as_ref().map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR))
}

/// The datasource `config` asks for: the embedded engine, or a remote query API.
fn build_datasource(
    config: &RouterConfig,
    embedded: &EmbeddedDatasource,
) -> Result<Arc<dyn Datasource>, DatasourceError> {
    match config.remote_datasource() {
        Some(remote) => Ok(Arc::new(RemoteDatasource::new(remote)?)),
        None => Ok(Arc::new(embedded.clone())),
    }
}

impl Router {
    async fn reload(&mut self) -> Result<(), RouterError> {
        let outcome = self.try_reload().await;
        self.reload_metrics.record(outcome.is_ok());
        if outcome.is_ok() {
            tracing::info!("config reloaded");
        }
        outcome
    }

    /// Applies a new config; rule files are loaded before anything changes, so a bad file
    /// keeps the running config and rules.
    async fn try_reload(&mut self) -> Result<(), RouterError> {
        let loaded = load_for_reload(&self.options)?;
        for w in &loaded.warnings {
            tracing::warn!(warning = %w, "config");
        }
        let config = loaded.config;
        let datasource = build_datasource(&config, &self.queries)?;
        if config.storage != self.config.storage {
            tracing::warn!("storage settings changed: they take effect after a restart");
        }
        if config.web.tls_server_config != self.config.web.tls_server_config {
            tracing::warn!(
                "web.tls_server_config changed: it takes effect after a restart (the certificate files are re-read when they change)"
            );
        }
        if config.query.max_concurrency != self.config.query.max_concurrency {
            tracing::warn!("query.max_concurrency changed: it takes effect after a restart");
        }
        let files = rule_files(&config)?;
        let external_labels = Labels::from_pairs(config.global.external_labels.iter());
        let previous_options = manager_options(&self.config, &self.default_url);
        self.rules.set_options(manager_options(&config, &self.default_url));
        if let Err(e) = self.rules.update(&files).await {
            self.rules.set_options(previous_options);
            return Err(e.into());
        }
        self.queries.set_options(config.engine_options());
        if datasource.describe() != self.datasource.describe() {
            tracing::info!(datasource = %datasource.describe(), "rules datasource");
        }
        // The rules are applied: apply the rest too, each part on its own, and report what
        // failed (that part keeps running as before).
        let mut failures = Vec::new();
        if let Err(e) = self.notifier.reload(&config.alerting, &external_labels) {
            failures.push(format!("alerting: {e}"));
        }
        if let Err(e) = self.notifications.reload(&config.notifications) {
            failures.push(format!("notifications: {e}"));
        }
        if let Err(e) = self.rule_output.apply(&config.remote_write, &config.global.external_labels).await {
            failures.push(e.to_string());
        }
        self.rules.set_datasource(Arc::clone(&datasource));
        self.datasource = datasource;
        *self.watched_patterns.write().unwrap_or_else(|p| p.into_inner()) = config.rule_files.clone();
        self.config = config;
        if failures.is_empty() { Ok(()) } else { Err(RouterError::PartialReload(failures.join("; "))) }
    }
}

/// What the rule file watcher compares: each matched file with its length and modification time.
type RuleFilesFingerprint = Vec<(PathBuf, u64, Option<std::time::SystemTime>)>;

fn rule_files_fingerprint(patterns: &[String]) -> RuleFilesFingerprint {
    resolve_rule_files(patterns, None)
        .unwrap_or_default()
        .into_iter()
        .map(|f| {
            let meta = std::fs::metadata(&f).ok();
            let len = meta.as_ref().map_or(0, |m| m.len());
            let modified = meta.and_then(|m| m.modified().ok());
            (f, len, modified)
        })
        .collect()
}

/// How often rule files are checked for changes.
const RULE_WATCH_INTERVAL: Duration = Duration::from_secs(5);

/// Asks for a reload when the files the `patterns` of the running config match change (added,
/// removed, or modified: length or modification time), checked every
/// [`RULE_WATCH_INTERVAL`], until `stop`, against `initial` (taken before the running rules
/// were loaded, so a change made while the router starts is not missed). A reload that changes
/// `rule_files` updates `patterns`.
async fn watch_rule_files(
    patterns: Arc<std::sync::RwLock<Vec<String>>>,
    initial: RuleFilesFingerprint,
    reload: mpsc::Sender<ReloadRequest>,
    stop: CancellationToken,
) {
    let current = || patterns.read().unwrap_or_else(|p| p.into_inner()).clone();
    let mut watched = current();
    let mut last = initial;
    let mut tick = tokio::time::interval(RULE_WATCH_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let now_patterns = current();
        if now_patterns != watched {
            // A reload changed rule_files. Files may have changed since it loaded them, so
            // compare against nothing: one more reload, which keeps all state, is harmless.
            watched = now_patterns;
            last = Vec::new();
        }
        let now = rule_files_fingerprint(&watched);
        if now == last {
            continue;
        }
        last = now;
        tracing::info!("rule files changed; reloading");
        let (tx, rx) = tokio::sync::oneshot::channel();
        if reload.send(tx).await.is_err() {
            return;
        }
        let _ = rx.await;
    }
}

/// Enforces retention every [`RETENTION_INTERVAL`] until `stop`.
async fn retention_loop(store: Arc<Store>, stop: CancellationToken) {
    let mut tick = tokio::time::interval(RETENTION_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {
                let store = Arc::clone(&store);
                let now = harrier_telemetry::model::now_ms();
                match tokio::task::spawn_blocking(move || store.enforce_retention(now)).await {
                    Ok(dropped) if dropped.samples > 0 => {
                        tracing::debug!(series = dropped.series, samples = dropped.samples, "retention dropped old data");
                    }
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = %e, "retention task failed"),
                }
            }
        }
    }
}
