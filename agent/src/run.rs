//! The agent's lifecycle: load the config, start sinks, sources and the HTTP endpoints, apply
//! reloads (SIGHUP or `/-/reload`) without losing data, and shut down gracefully.
//!
//! Order matters for "nothing lost": sinks start before sources and stop after them, so every
//! batch a source produced (including the final staleness markers) reaches a sink, which
//! writes it to its disk buffer before the process exits. A reload keeps unchanged remote_write
//! queues running; a changed one is stopped and restarted on the same disk buffer.

mod logs;

use crate::config::{self, AgentConfig, ConfigError, LoadedConfig};
use crate::server::{self, ReloadRequest, ServerState};
use crate::sinks::remote_write::metrics::RemoteWriteMetrics;
use crate::sinks::remote_write::{RemoteWriteError, RemoteWriteSink};
use crate::sinks::{HandOver, MetricsFanout, MetricsSink};
use crate::sources::host::schedule::HostLoop;
use crate::sources::host::{HostMetrics, HostMetricsError};
use crate::sources::scrape::ScrapeManager;
use crate::sources::scrape::metrics::ScrapeMetrics;
use crate::sources::scrape::{ScrapeError, ScrapeJob};
use logs::{LogPipeline, LogPipelineError, LogPipelineMetrics};
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

/// How the agent was started (command-line flags).
#[derive(Debug, Clone)]
pub struct AgentOptions {
    /// The config file; embedded defaults when `None`.
    pub config_path: Option<PathBuf>,
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// How long shutdown keeps trying to deliver buffered data before leaving it on disk.
    pub shutdown_grace: Duration,
}

/// Why the agent could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("cannot create data directory {path}: {source}")]
    DataDir { path: PathBuf, source: std::io::Error },
    #[error("remote_write: {0}")]
    RemoteWrite(#[from] RemoteWriteError),
    #[error("host_metrics: {0}")]
    HostMetrics(#[from] HostMetricsError),
    #[error("scrape_configs: {0}")]
    Scrape(#[from] ScrapeError),
    #[error(transparent)]
    Logs(#[from] LogPipelineError),
    #[error("HTTP server: {0}")]
    Serve(std::io::Error),
}

/// The most a queue being restarted by a reload holds in memory meanwhile (the restart takes
/// milliseconds; this only guards against a stuck one). Kept well under the remote_write
/// sink's in-memory bound per shard, which the held series all go into at once.
const HAND_OVER_MAX_BYTES: usize = 8 << 20;

/// Agent-wide self-metrics (component metrics are registered by each component).
#[derive(Clone, Default)]
struct ReloadMetrics {
    last_reload_successful: Gauge,
    last_reload_success_timestamp_seconds: Gauge,
}

impl ReloadMetrics {
    fn register(registry: &mut Registry) -> Self {
        let m = ReloadMetrics::default();
        registry.register(
            "harrier_agent_config_last_reload_successful",
            "Whether the last configuration reload attempt was successful (1) or not (0)",
            m.last_reload_successful.clone(),
        );
        registry.register(
            "harrier_agent_config_last_reload_success_timestamp_seconds",
            "Timestamp of the last successful configuration reload",
            m.last_reload_success_timestamp_seconds.clone(),
        );
        registry.register(
            "harrier_agent_build",
            "Harrier agent build information",
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

/// The running components of one applied configuration.
struct Running {
    config: AgentConfig,
    sinks: Vec<(crate::sinks::remote_write::config::RemoteWriteConfig, Arc<RemoteWriteSink>)>,
    /// Removed queues still delivering in the background, by disk-buffer directory.
    draining: Vec<(PathBuf, tokio::task::JoinHandle<()>)>,
    host: Option<HostLoop>,
    logs: Option<LogPipeline>,
}

/// Everything that lives as long as the process: metrics handles, the fanout, the scrape
/// manager, and the options.
struct Agent {
    options: AgentOptions,
    self_addr: String,
    fanout: MetricsFanout,
    scrape: ScrapeManager,
    remote_write_metrics: RemoteWriteMetrics,
    log_metrics: LogPipelineMetrics,
    reload_metrics: ReloadMetrics,
    running: Running,
}

/// Runs the agent until `shutdown` is cancelled.
pub async fn run(options: AgentOptions, shutdown: CancellationToken) -> Result<(), AgentError> {
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(|source| AgentError::Bind { addr: options.listen, source })?;
    serve(options, listener, shutdown).await
}

/// [`run`] on a listener already bound (`options.listen` is not used): `harrier local` binds
/// it first so it can name the agent's address in the generated config.
pub async fn serve(
    options: AgentOptions,
    listener: tokio::net::TcpListener,
    shutdown: CancellationToken,
) -> Result<(), AgentError> {
    std::fs::create_dir_all(&options.data_dir)
        .map_err(|source| AgentError::DataDir { path: options.data_dir.clone(), source })?;
    let local_addr = listener.local_addr().map_err(AgentError::Serve)?;
    let self_addr = connect_address(local_addr).to_string();
    let loaded = load(&options, &self_addr)?;
    for w in &loaded.warnings {
        tracing::warn!(warning = %w, "config");
    }

    let mut registry = Registry::default();
    let scrape_metrics = ScrapeMetrics::register(&mut registry);
    let remote_write_metrics = RemoteWriteMetrics::register(&mut registry, "harrier_agent");
    let reload_metrics = ReloadMetrics::register(&mut registry);
    let log_metrics = LogPipelineMetrics::register(&mut registry);
    let fanout = MetricsFanout::default();
    let scrape = ScrapeManager::new(fanout.clone(), scrape_metrics);

    let mut agent = Agent {
        options,
        self_addr,
        fanout,
        scrape,
        remote_write_metrics,
        log_metrics,
        reload_metrics,
        running: Running {
            config: AgentConfig::default(),
            sinks: Vec::new(),
            draining: Vec::new(),
            host: None,
            logs: None,
        },
    };
    agent.apply(loaded).await?;
    agent.reload_metrics.record(true);

    let ready = Arc::new(AtomicBool::new(true));
    let (reload_tx, mut reload_rx) = mpsc::channel::<ReloadRequest>(4);
    let state = ServerState { registry: Arc::new(registry), ready: ready.clone(), reload: reload_tx };
    let server_stop = CancellationToken::new();
    let server = {
        let stop = server_stop.clone();
        tokio::spawn(async move {
            axum::serve(listener, server::router(state)).with_graceful_shutdown(stop.cancelled_owned()).await
        })
    };
    tracing::info!(listen = %local_addr, "harrier agent started");

    let mut sighup =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).map_err(AgentError::Serve)?;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = sighup.recv() => {
                if let Err(e) = agent.reload().await {
                    tracing::error!(error = %e, "config reload failed; keeping the previous config");
                }
            }
            Some(reply) = reload_rx.recv() => {
                let outcome = agent.reload().await.map_err(|e| e.to_string());
                if let Err(e) = &outcome {
                    tracing::error!(error = %e, "config reload failed; keeping the previous config");
                }
                let _ = reply.send(outcome);
            }
        }
    }

    ready.store(false, Ordering::Release);
    tracing::info!("shutting down: stopping sources");
    agent.stop().await;
    server_stop.cancel();
    match server.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(AgentError::Serve(e)),
        Err(e) => tracing::error!(error = %e, "HTTP server task failed"),
    }
    tracing::info!("harrier agent stopped");
    Ok(())
}

fn load(options: &AgentOptions, self_addr: &str) -> Result<LoadedConfig, ConfigError> {
    match &options.config_path {
        Some(path) => config::load_file(path),
        None => config::load_default(self_addr),
    }
}

/// The address to connect to a listener bound at `addr`: an unspecified IP (0.0.0.0, ::)
/// replaced by loopback. The agent scrapes itself there; `harrier local` connects the agent
/// to the router with it.
pub fn connect_address(addr: SocketAddr) -> SocketAddr {
    let ip = if addr.ip().is_unspecified() {
        match addr {
            SocketAddr::V4(_) => std::net::IpAddr::from([127, 0, 0, 1]),
            SocketAddr::V6(_) => std::net::IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
        }
    } else {
        addr.ip()
    };
    SocketAddr::new(ip, addr.port())
}

impl Agent {
    async fn reload(&mut self) -> Result<(), AgentError> {
        let outcome = match load(&self.options, &self.self_addr) {
            Ok(loaded) => {
                for w in &loaded.warnings {
                    tracing::warn!(warning = %w, "config");
                }
                self.apply(loaded).await
            }
            Err(e) => Err(e.into()),
        };
        self.reload_metrics.record(outcome.is_ok());
        if outcome.is_ok() {
            tracing::info!("config reloaded");
        }
        outcome
    }

    /// Brings the running components in line with `loaded`. Sinks first (so sources always
    /// have somewhere to send), then sources.
    async fn apply(&mut self, loaded: LoadedConfig) -> Result<(), AgentError> {
        // Build what can fail first, so a bad config changes nothing.
        let scrape_jobs = ScrapeJob::all_from_loaded(&loaded)?;
        let LoadedConfig { config, remote_writes, .. } = loaded;
        let host_changed = config.host_metrics != self.running.config.host_metrics
            || config.global.scrape_interval != self.running.config.global.scrape_interval
            || self.running.host.is_none();
        let host_collector = match (host_changed, config.host_metrics.enabled) {
            (true, true) => Some(HostMetrics::new(&config.host_metrics)?),
            _ => None,
        };
        let external_labels = &config.global.external_labels;
        let sinks_unchanged = config.global.external_labels == self.running.config.global.external_labels
            && config.buffer == self.running.config.buffer;

        // Remote write: keep identical queues; stop the others once they are out of the
        // fanout (so no source sends into a stopping sink), then start the new ones. A changed
        // queue keeps its directory, so the new sink delivers what the old one left on disk.
        let mut kept = Vec::with_capacity(config.remote_write.len());
        let mut to_start = Vec::new();
        let mut old = std::mem::take(&mut self.running.sinks);
        for (rw, rules) in config.remote_write.iter().zip(&remote_writes) {
            match old.iter().position(|(c, _)| sinks_unchanged && c == rw) {
                Some(i) => kept.push(old.swap_remove(i)),
                None => to_start.push((rw.clone(), Arc::clone(&rules.write_relabel_rules))),
            }
        }
        // Queues restarting on their own disk buffer get a stand-in that holds what sources
        // send until the successor has the buffer.
        let mut hand_overs: Vec<(PathBuf, Arc<HandOver>)> = Vec::new();
        if !old.is_empty() {
            let reused_dirs: Vec<PathBuf> =
                to_start.iter().map(|(c, _)| RemoteWriteSink::queue_dir(c, &self.options.data_dir)).collect();
            let mut stopping = Vec::new();
            for (cfg, sink) in old {
                let dir = RemoteWriteSink::queue_dir(&cfg, &self.options.data_dir);
                if reused_dirs.contains(&dir) {
                    hand_overs.push((dir.clone(), Arc::new(HandOver::new(HAND_OVER_MAX_BYTES))));
                }
                stopping.push((dir, sink));
            }
            let mut interim: Vec<Arc<dyn MetricsSink>> =
                kept.iter().map(|(_, s)| Arc::clone(s) as Arc<dyn MetricsSink>).collect();
            interim.extend(hand_overs.iter().map(|(_, h)| Arc::clone(h) as Arc<dyn MetricsSink>));
            self.fanout.replace(interim);
            for (dir, sink) in stopping {
                if reused_dirs.contains(&dir) {
                    // Its successor takes over the disk buffer right away.
                    shutdown_sink(sink, Duration::ZERO).await;
                } else {
                    // A removed queue gets the grace period to deliver, without holding up the reload.
                    let task = tokio::spawn(shutdown_sink(sink, self.options.shutdown_grace));
                    self.running.draining.push((dir, task));
                }
            }
        }
        let mut start_error = None;
        self.running.draining.retain(|(_, task)| !task.is_finished());
        for (rw, rules) in to_start {
            let dir = RemoteWriteSink::queue_dir(&rw, &self.options.data_dir);
            // A queue removed by an earlier reload and back now: its old sink must let go of
            // the disk buffer first (it stops within its grace period).
            if let Some(i) = self.running.draining.iter().position(|(d, _)| *d == dir) {
                let (_, task) = self.running.draining.swap_remove(i);
                if let Err(e) = task.await {
                    tracing::error!(error = %e, "remote_write shutdown task failed");
                }
            }
            let hand_over =
                hand_overs.iter().position(|(d, _)| *d == dir).map(|i| hand_overs.swap_remove(i).1);
            match RemoteWriteSink::start_with_rules(
                &rw,
                rules,
                external_labels,
                &config.buffer,
                &self.options.data_dir,
                self.remote_write_metrics.clone(),
            ) {
                Ok(sink) => {
                    let sink = Arc::new(sink);
                    if let Some(h) = hand_over {
                        h.complete(Some(Arc::clone(&sink) as Arc<dyn MetricsSink>));
                    }
                    kept.push((rw, sink));
                }
                // The queues that did start keep running; the next reload retries this one.
                Err(e) => {
                    if let Some(h) = hand_over {
                        h.complete(None);
                    }
                    start_error = Some(e);
                }
            }
        }
        for (_, h) in hand_overs {
            h.complete(None);
        }
        self.fanout.replace(kept.iter().map(|(_, s)| Arc::clone(s) as Arc<dyn MetricsSink>).collect());
        self.running.sinks = kept;
        if let Some(e) = start_error {
            return Err(e.into());
        }

        // Host metrics: restart the loop when its settings change.
        if host_changed {
            if let Some(host) = self.running.host.take() {
                host.stop().await;
            }
            if let Some(collector) = host_collector {
                let interval = config.host_metrics.interval.unwrap_or(config.global.scrape_interval);
                self.running.host = Some(HostLoop::start(
                    collector,
                    &config.host_metrics.job_name,
                    interval.as_duration(),
                    self.fanout.clone(),
                ));
            }
        }

        // Logs: a changed section restarts the pipeline; files resume from the checkpoint.
        if config.logs != self.running.config.logs || self.running.logs.is_none() {
            // What can be checked without I/O is checked before the running pipeline stops.
            LogPipeline::check(&config.logs)?;
            if let Some(pipeline) = self.running.logs.take() {
                pipeline.stop(self.options.shutdown_grace).await;
            }
            match LogPipeline::start(&config.logs, &self.options.data_dir, &self.log_metrics) {
                Ok(pipeline) => self.running.logs = pipeline,
                Err(e) => {
                    // Keep shipping logs with the previous section rather than none.
                    let previous = &self.running.config.logs;
                    match LogPipeline::start(previous, &self.options.data_dir, &self.log_metrics) {
                        Ok(pipeline) => self.running.logs = pipeline,
                        Err(again) => {
                            tracing::error!(error = %again, "restarting the previous log pipeline failed")
                        }
                    }
                    return Err(e.into());
                }
            }
        }

        // Scrape targets: the manager diffs, so unchanged targets keep their rhythm.
        self.scrape.apply_jobs(scrape_jobs);
        self.running.config = config;
        Ok(())
    }

    async fn stop(mut self) {
        if let Some(pipeline) = self.running.logs.take() {
            pipeline.stop(self.options.shutdown_grace).await;
        }
        self.scrape.shutdown().await;
        if let Some(host) = self.running.host.take() {
            host.stop().await;
        }
        // Sources are done: take the sinks out of the fanout so each can be shut down.
        self.fanout.replace(Vec::new());
        for (_, sink) in self.running.sinks.drain(..) {
            shutdown_sink(sink, self.options.shutdown_grace).await;
        }
        for (_, task) in self.running.draining.drain(..) {
            if let Err(e) = task.await {
                tracing::error!(error = %e, "remote_write shutdown task failed");
            }
        }
    }
}

/// How long a sink may stay referenced by a source's in-progress `send` before shutdown gives
/// up on a graceful stop.
const SINK_RELEASE_TIMEOUT: Duration = Duration::from_secs(5);

/// Shuts a sink down once no source holds it any more (a `send` in progress holds it for
/// microseconds; the sink must already be out of the fanout).
async fn shutdown_sink(mut sink: Arc<RemoteWriteSink>, grace: Duration) {
    let deadline = tokio::time::Instant::now() + SINK_RELEASE_TIMEOUT;
    loop {
        match Arc::try_unwrap(sink) {
            Ok(sink) => return sink.shutdown(grace).await,
            Err(shared) if tokio::time::Instant::now() < deadline => {
                sink = shared;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err(shared) => {
                tracing::error!(
                    queue = shared.name(),
                    "remote_write sink still referenced at shutdown; stopping it without delivering its memory batch"
                );
                return;
            }
        }
    }
}
