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

use crate::api::write::{IngestOutcome, Ingester, RejectReason, StorageStats, WriteLimits};
use crate::api::{self, ApiMetrics, ApiState, ReloadRequest};
use crate::config::{self, ConfigError, LoadedConfig, RouterConfig};
use crate::datasource::{Datasource, DatasourceError, EmbeddedDatasource, RemoteDatasource};
use crate::store::{Queryable, Store, StoreError, StoreOptions};
use harrier_telemetry::model::Series;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

#[cfg(test)]
mod tests;

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
    /// What rules evaluate against (rules arrive with a later version).
    datasource: Arc<dyn Datasource>,
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
    let queries = EmbeddedDatasource::new(
        Arc::clone(&store) as Arc<dyn Queryable>,
        config.engine_options(),
        usize::try_from(config.query.max_concurrency).unwrap_or(usize::MAX),
    );
    let datasource = build_datasource(&config, &queries)?;
    tracing::info!(datasource = %datasource.describe(), "rules datasource");
    let mut router = Router { options, config, queries: queries.clone(), datasource, reload_metrics };
    router.reload_metrics.record(true);

    let ready = Arc::new(AtomicBool::new(true));
    let (reload_tx, mut reload_rx) = mpsc::channel::<ReloadRequest>(4);
    let state = ApiState {
        queries,
        ingester: Arc::clone(&store) as Arc<dyn Ingester>,
        write_limits: WriteLimits::default(),
        metrics: api_metrics,
        registry: Arc::new(registry),
        ready: Arc::clone(&ready),
        reload: Some(reload_tx),
    };
    let server_stop = CancellationToken::new();
    let server = {
        let stop = server_stop.clone();
        tokio::spawn(async move {
            axum::serve(listener, api::router(state)).with_graceful_shutdown(stop.cancelled_owned()).await
        })
    };
    let retention_stop = CancellationToken::new();
    let retention = tokio::spawn(retention_loop(Arc::clone(&store), retention_stop.clone()));
    tracing::info!(listen = %local_addr, "harrier router started");

    let mut sighup =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).map_err(RouterError::Serve)?;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = sighup.recv() => {
                if let Err(e) = router.reload() {
                    tracing::error!(error = %e, "config reload failed; keeping the previous config");
                }
            }
            Some(reply) = reload_rx.recv() => {
                let outcome = router.reload().map_err(|e| e.to_string());
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
    fn reload(&mut self) -> Result<(), RouterError> {
        let outcome = self.try_reload();
        self.reload_metrics.record(outcome.is_ok());
        if outcome.is_ok() {
            tracing::info!("config reloaded");
        }
        outcome
    }

    fn try_reload(&mut self) -> Result<(), RouterError> {
        let loaded = load(&self.options)?;
        for w in &loaded.warnings {
            tracing::warn!(warning = %w, "config");
        }
        let config = loaded.config;
        let datasource = build_datasource(&config, &self.queries)?;
        if config.storage != self.config.storage {
            tracing::warn!("storage settings changed: they take effect after a restart");
        }
        if config.query.max_concurrency != self.config.query.max_concurrency {
            tracing::warn!("query.max_concurrency changed: it takes effect after a restart");
        }
        self.queries.set_options(config.engine_options());
        if datasource.describe() != self.datasource.describe() {
            tracing::info!(datasource = %datasource.describe(), "rules datasource");
        }
        self.datasource = datasource;
        self.config = config;
        Ok(())
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
