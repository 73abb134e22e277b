//! The running log pipeline of one applied `logs:` section: the Loki sinks, the file sources
//! feeding them, and the byte budget between them (see [`crate::logs`]).
//!
//! Order matters for "nothing lost, nothing duplicated beyond what was in flight": sinks start
//! before sources; at a stop, sources stop reading first and wait (up to the grace period) for
//! what they sent to be delivered, then write their final checkpoint, and only then do the
//! sinks stop. A reload that changes the section stops the whole pipeline this way and starts
//! the new one, which resumes every file from the checkpoint.

use crate::logs::config::LogsConfig;
use crate::logs::{LogBudget, LogFanout};
use crate::sinks::loki::{LokiMetrics, LokiSink, LokiSinkError};
use crate::sources::logs::{FileSources, LogSourceError, LogSourceMetrics};
use std::path::Path;
use std::time::Duration;

/// Why the log pipeline could not start.
#[derive(Debug, thiserror::Error)]
pub enum LogPipelineError {
    #[error("logs.loki: {0}")]
    Sink(#[from] LokiSinkError),
    #[error("logs.files: {0}")]
    Source(#[from] LogSourceError),
}

/// The metric families of the log pipeline, registered once per process.
#[derive(Clone)]
pub struct LogPipelineMetrics {
    pub sources: LogSourceMetrics,
    pub sinks: LokiMetrics,
}

impl LogPipelineMetrics {
    pub fn register(registry: &mut prometheus_client::registry::Registry) -> Self {
        LogPipelineMetrics {
            sources: LogSourceMetrics::register(registry),
            sinks: LokiMetrics::register(registry),
        }
    }
}

/// A started pipeline.
pub struct LogPipeline {
    sources: FileSources,
    sinks: Vec<LokiSink>,
}

impl LogPipeline {
    /// Checks `config` as far as possible without I/O (globs, regexes, the sinks' settings).
    pub fn check(config: &LogsConfig) -> Result<(), LogPipelineError> {
        FileSources::compile(config)?;
        for loki in &config.loki {
            crate::sinks::loki::check_config(loki).map_err(LokiSinkError::Config)?;
        }
        Ok(())
    }

    /// Starts the sinks, then the sources. `None` when the section configures no files or no
    /// Loki endpoint (nothing to do; validation warned about files without an endpoint).
    pub fn start(
        config: &LogsConfig,
        data_dir: &Path,
        metrics: &LogPipelineMetrics,
    ) -> Result<Option<LogPipeline>, LogPipelineError> {
        if config.files.is_empty() || config.loki.is_empty() {
            return Ok(None);
        }
        let compiled = FileSources::compile(config)?;
        let mut sinks = Vec::with_capacity(config.loki.len());
        let mut inputs = Vec::with_capacity(config.loki.len());
        for loki in &config.loki {
            let (sink, input) = LokiSink::start(loki, metrics.sinks.clone())?;
            sinks.push(sink);
            inputs.push(input);
        }
        let budget = LogBudget::new(usize::try_from(config.max_in_flight_bytes.0).unwrap_or(usize::MAX));
        let node_name = node_name(config);
        let sources = match FileSources::start(
            compiled,
            data_dir,
            LogFanout::new(inputs),
            budget,
            node_name,
            metrics.sources.clone(),
        ) {
            Ok(sources) => sources,
            Err(e) => {
                for sink in sinks {
                    // Nothing was sent to them yet.
                    tokio::spawn(sink.shutdown(Duration::ZERO));
                }
                return Err(e.into());
            }
        };
        Ok(Some(LogPipeline { sources, sinks }))
    }

    /// Stops reading, lets in-flight lines be delivered for up to `grace`, writes the final
    /// checkpoint, then stops the sinks.
    pub async fn stop(self, grace: Duration) {
        let started = tokio::time::Instant::now();
        self.sources.shutdown(grace).await;
        let left = grace.saturating_sub(started.elapsed());
        for sink in self.sinks {
            sink.shutdown(left).await;
        }
    }
}

/// The `node_name` label: the config's, else `$NODE_NAME` (the downward API in a DaemonSet),
/// else the host name.
fn node_name(config: &LogsConfig) -> String {
    if let Some(name) = config.node_name.as_ref().filter(|n| !n.is_empty()) {
        return name.clone();
    }
    if let Ok(name) = std::env::var("NODE_NAME")
        && !name.is_empty()
    {
        return name;
    }
    rustix::system::uname().nodename().to_string_lossy().into_owned()
}
