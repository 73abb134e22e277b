//! Prometheus remote_write 1.0 sink with a disk buffer: one durable, bounded, retrying
//! sender per `remote_write` config entry, used by the agent (its metrics sink) and by the
//! router (recording-rule results).
//!
//! # Using it
//!
//! ```no_run
//! # async fn example(yaml: &str) -> Result<(), Box<dyn std::error::Error>> {
//! use harrier_telemetry::model::{Labels, Sample, Series};
//! use harrier_telemetry::remote_write_sink::{
//!     BufferConfig, RemoteWriteConfig, RemoteWriteMetrics, RemoteWriteSink,
//! };
//! use std::collections::BTreeMap;
//! use std::path::Path;
//! use std::time::Duration;
//!
//! // Once per process: the metric families, named `harrier_router_remote_write_*`.
//! let mut registry = prometheus_client::registry::Registry::default();
//! let metrics = RemoteWriteMetrics::register(&mut registry, "harrier_router");
//!
//! // One sink per `remote_write` entry (Prometheus's YAML, field for field), inside a tokio
//! // runtime: `start` opens `<data_dir>/remote_write/<queue name>/shard-N/` and spawns the
//! // writer, sender and flusher tasks.
//! let cfg: RemoteWriteConfig = yaml_serde::from_str(yaml)?;
//! let external_labels = BTreeMap::from([("cluster".to_string(), "prod".to_string())]);
//! let sink = RemoteWriteSink::start(
//!     &cfg,
//!     &external_labels,
//!     &BufferConfig::default(),
//!     Path::new("/var/lib/harrier"),
//!     metrics.clone(),
//! )?;
//!
//! // Hand it series: returns at once (no I/O); delivery happens in the background.
//! let up = Series::new(
//!     Labels::from_pairs([("__name__", "up"), ("job", "node")]),
//!     vec![Sample { timestamp_ms: 1_700_000_000_000, value: 1.0 }],
//! );
//! sink.send(&[up.clone()]);
//! sink.send_owned(vec![up]);
//!
//! // Drain: write what is in memory to disk, keep delivering for up to the grace period,
//! // leave the rest on disk for the next start (with the same data directory).
//! sink.shutdown(Duration::from_secs(10)).await;
//! # Ok(())
//! # }
//! ```
//!
//! - [`RemoteWriteSink::start`] compiles `write_relabel_configs` (errors:
//!   [`RemoteWriteError`]); [`RemoteWriteSink::start_with_rules`] takes rules compiled
//!   already (by configuration validation). Both must run inside a tokio runtime and open the
//!   disk queues synchronously. Two sinks must not share one queue directory
//!   ([`RemoteWriteSink::queue_dir`]): give entries distinct `name`s or URLs, and stop the old
//!   sink before starting its replacement after a reload.
//! - [`RemoteWriteSink::send`] / [`RemoteWriteSink::send_owned`] take `&self`: share the sink
//!   behind an `Arc`. [`RemoteWriteSink::shutdown`] takes `self`, so get it back with
//!   `Arc::try_unwrap` once no other holder is left. Dropping the sink instead aborts its
//!   tasks at once, like a crash: what is on disk is sent by the next start, the batches still
//!   in memory (milliseconds' worth) are lost.
//! - `external_labels` (`global.external_labels`) are added to series that lack them.
//!
//! # Metrics
//!
//! [`metrics::RemoteWriteMetrics::register`] creates these, all labelled `queue` (the queue's
//! name, [`RemoteWriteSink::queue_name`]); `<p>` is the prefix it was given:
//!
//! - `<p>_remote_write_samples_total`: samples delivered (2xx);
//! - `<p>_remote_write_samples_dropped_total{reason}`: `relabel`, `rejected`, `memory_full`,
//!   `disk_error`, `too_old`;
//! - `<p>_remote_write_batches_dropped_total{reason}`: `buffer_full`, `memory_full`,
//!   `corrupt`, `rejected`, `disk_error`, `too_old`;
//! - `<p>_remote_write_requests_total{code}`: HTTP requests by status code (`error` when no
//!   response came back);
//! - `<p>_remote_write_retries_total`: requests retried;
//! - `<p>_remote_write_queue_bytes`, `<p>_remote_write_queue_records`: the disk buffer's size
//!   (refreshed every second);
//! - `<p>_remote_write_send_duration_seconds`: histogram of request durations;
//! - `<p>_remote_write_highest_sent_timestamp_seconds`: newest sample timestamp delivered.
//!
//! # Design
//!
//! Data flow for one `remote_write` entry (a "queue"):
//!
//! 1. [`RemoteWriteSink::send`] (never blocks on I/O) adds the external labels a series lacks
//!    and then applies `write_relabel_configs` (Prometheus's order, `storage/remote/
//!    queue_manager.go`), picks a shard by a stable hash of the labels (so one series' samples
//!    stay in order), and appends to that shard's in-memory [`batcher::Batcher`].
//! 2. `send` seals what it added; each shard's writer wakes, merges the waiting batches up to
//!    `max_samples_per_send` samples (group commit), encodes them ([`record`]) and appends them
//!    to the shard's on-disk queue under `<data_dir>/remote_write/<queue>/shard-N/`. Every
//!    batch goes to disk before it is sent, and data waits in memory only for the writer's next
//!    turn, so a backend outage loses nothing and a kill -9 at most the last milliseconds.
//!    `batch_send_deadline` still seals anything left open, but nothing waits for it.
//! 3. Each shard's sender delivers the records in order, retrying with backoff
//!    ([`shard::run_sender`], [`sender`]). Shard directories left by a run with more shards
//!    are drained too.
//!
//! The number of shards is `queue_config.min_shards` (at least 1, at most `max_shards`);
//! Harrier does not reshard at run time. `buffer.max_bytes` bounds the whole queue on disk
//! (split evenly between its shards); past it the oldest batches are dropped and counted.

pub mod batcher;
pub mod config;
pub mod metrics;
pub mod record;
pub mod sender;
pub mod shard;

#[cfg(test)]
mod tests;

use self::batcher::{Batcher, PushOutcome};
pub use self::config::{BufferConfig, QueueConfig, RemoteWriteConfig};
pub use self::metrics::RemoteWriteMetrics;

use self::metrics::{BatchDropReason, QueueMetrics, SampleDropReason};
use self::sender::{HttpSender, SenderError};
use self::shard::{SenderStop, ShardBatcher, ShardQueue};
use crate::backoff::Backoff;
use crate::model::{LabelRef, Labels, LabelsIter, PackedSamples, Series, now_ms};
use crate::queue::{DiskQueue, DiskQueueConfig, QueueError};
use crate::relabel::{self, RelabelRule};
use md5::{Digest, Md5};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Prometheus's default `remote_timeout`.
const DEFAULT_REMOTE_TIMEOUT: Duration = Duration::from_secs(30);
/// Memory held per shard for batches not yet on disk, before the oldest are dropped.
const MEMORY_BYTES_PER_SHARD: usize = 16 << 20;
/// Shard directories are `shard-<index>`.
const SHARD_DIR_PREFIX: &str = "shard-";

/// Why a sink could not start.
#[derive(Debug, thiserror::Error)]
pub enum RemoteWriteError {
    #[error("remote_write {queue}: write_relabel_configs[{index}]: {source}")]
    Relabel { queue: String, index: usize, source: relabel::RelabelError },
    #[error("remote_write {queue}: {source}")]
    Sender { queue: String, source: SenderError },
    #[error("remote_write {queue}: cannot create or list {}: {source}", path.display())]
    Directory { queue: String, path: PathBuf, source: std::io::Error },
    #[error("remote_write {queue}: cannot open the disk buffer {}: {source}", path.display())]
    OpenQueue { queue: String, path: PathBuf, source: QueueError },
}

/// A running remote_write queue. Dropping it without [`RemoteWriteSink::shutdown`] stops its
/// tasks at once, like a crash: what is on disk is delivered by the next start.
pub struct RemoteWriteSink {
    name: String,
    /// `global.external_labels`, added to series that lack them (at encoding time when there
    /// are no write_relabel_configs, so the per-sample path copies no labels).
    external: Labels,
    rules: Arc<[RelabelRule]>,
    /// `queue_config.sample_age_limit` (0 = off): older samples are dropped, not sent.
    sample_age_limit: Option<Duration>,
    shards: Vec<Arc<ShardBatcher>>,
    queues: Vec<Arc<ShardQueue>>,
    metrics: QueueMetrics,
    relabel_dropped: prometheus_client::metrics::counter::Counter,
    too_old_dropped: prometheus_client::metrics::counter::Counter,
    memory_dropped_batches: prometheus_client::metrics::counter::Counter,
    memory_dropped_samples: prometheus_client::metrics::counter::Counter,
    closing: CancellationToken,
    drain: CancellationToken,
    stop: CancellationToken,
    flusher_stop: CancellationToken,
    writers: Vec<JoinHandle<()>>,
    senders: Vec<JoinHandle<()>>,
    flusher: Option<JoinHandle<()>>,
}

impl RemoteWriteSink {
    /// The queue's name: `name` if set, else a short hash of the URL (stable across restarts).
    pub fn queue_name(cfg: &RemoteWriteConfig) -> String {
        match &cfg.name {
            Some(name) if !name.is_empty() => name.clone(),
            _ => {
                let digest = Md5::digest(cfg.url.as_bytes());
                digest.iter().take(3).map(|b| format!("{b:02x}")).collect()
            }
        }
    }

    /// The queue's disk directory: `<data_dir>/remote_write/<name>` (name made path-safe).
    pub fn queue_dir(cfg: &RemoteWriteConfig, data_dir: &Path) -> PathBuf {
        data_dir.join("remote_write").join(path_safe(&Self::queue_name(cfg)))
    }

    /// Compiles `write_relabel_configs` and starts the queue (see [`Self::start_with_rules`]).
    pub fn start(
        cfg: &RemoteWriteConfig,
        external_labels: &BTreeMap<String, String>,
        buffer: &BufferConfig,
        data_dir: &Path,
        metrics: RemoteWriteMetrics,
    ) -> Result<RemoteWriteSink, RemoteWriteError> {
        let rules = cfg
            .write_relabel_configs
            .iter()
            .enumerate()
            .map(|(index, rule)| {
                RelabelRule::compile(rule).map_err(|source| RemoteWriteError::Relabel {
                    queue: Self::queue_name(cfg),
                    index,
                    source,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Self::start_with_rules(cfg, rules.into(), external_labels, buffer, data_dir, metrics)
    }

    /// Opens the disk buffer and starts the writer, sender and flusher tasks on the current
    /// tokio runtime, with `rules` compiled from `cfg.write_relabel_configs` (configuration
    /// validation already compiled them). Opening the queues reads their directories
    /// synchronously.
    pub fn start_with_rules(
        cfg: &RemoteWriteConfig,
        rules: Arc<[RelabelRule]>,
        external_labels: &BTreeMap<String, String>,
        buffer: &BufferConfig,
        data_dir: &Path,
        metrics: RemoteWriteMetrics,
    ) -> Result<RemoteWriteSink, RemoteWriteError> {
        let name = Self::queue_name(cfg);
        let metrics = metrics.for_queue(&name);
        let queue_config = &cfg.queue_config;
        let sample_age_limit =
            queue_config.sample_age_limit.map(|d| d.as_duration()).filter(|d| !d.is_zero());
        let timeout = cfg.remote_timeout.map_or(DEFAULT_REMOTE_TIMEOUT, |t| t.as_duration());
        let sender =
            HttpSender::new(&cfg.url, &cfg.headers, &cfg.http, timeout, queue_config.retry_on_http_429)
                .map_err(|source| RemoteWriteError::Sender { queue: name.clone(), source })?;
        let sender = Arc::new(sender);

        let shard_count = queue_config.min_shards.max(1).min(queue_config.max_shards.max(1));
        let dir = Self::queue_dir(cfg, data_dir);
        let dir_error = |path: &Path, source| RemoteWriteError::Directory {
            queue: name.clone(),
            path: path.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(&dir).map_err(|e| dir_error(&dir, e))?;
        let extra_shards = existing_shards(&dir).map_err(|e| dir_error(&dir, e))?;
        let per_shard_bytes = (buffer.max_bytes.0 / shard_count as u64).max(1);
        let queue_config_for = |path: PathBuf| DiskQueueConfig {
            dir: path,
            max_bytes: per_shard_bytes,
            segment_bytes: buffer.segment_bytes.0.min(per_shard_bytes).max(1),
        };
        let mut queues = Vec::new();
        let indices = (0..shard_count).chain(extra_shards.into_iter().filter(|&i| i >= shard_count));
        for index in indices {
            let path = dir.join(format!("{SHARD_DIR_PREFIX}{index}"));
            let queue = DiskQueue::open(queue_config_for(path.clone())).map_err(|source| {
                RemoteWriteError::OpenQueue { queue: name.clone(), path: path.clone(), source }
            })?;
            queues.push(Arc::new(ShardQueue::new(path, queue)));
        }

        let closing = CancellationToken::new();
        let drain = CancellationToken::new();
        let stop = CancellationToken::new();
        let flusher_stop = CancellationToken::new();
        let memory_bytes = MEMORY_BYTES_PER_SHARD;
        let shards: Vec<Arc<ShardBatcher>> = (0..shard_count)
            .map(|_| {
                Arc::new(ShardBatcher::new(Batcher::new(queue_config.max_samples_per_send, memory_bytes)))
            })
            .collect();
        let deadline = queue_config.batch_send_deadline.as_duration();
        let external = Labels::from_pairs(external_labels);
        // With write_relabel_configs, `send` applies external labels before relabeling (the
        // rules may drop them); without, the writer adds them while encoding.
        let writer_external = if rules.is_empty() { external.clone() } else { Labels::new() };
        let writers = shards
            .iter()
            .zip(&queues)
            .map(|(batcher, queue)| {
                tokio::spawn(shard::run_writer(
                    Arc::clone(batcher),
                    Arc::clone(queue),
                    writer_external.clone(),
                    deadline,
                    closing.clone(),
                    metrics.clone(),
                ))
            })
            .collect();
        let backoff =
            Backoff::new(queue_config.min_backoff.as_duration(), queue_config.max_backoff.as_duration());
        // Leftover shards (from a run with more shards) drain first; `leftovers_drained` is
        // cancelled when the last of them finishes, and only then do the active shards send.
        let leftovers = queues.len().saturating_sub(shard_count);
        let leftovers_drained = CancellationToken::new();
        if leftovers == 0 {
            leftovers_drained.cancel();
        }
        let remaining_leftovers = Arc::new(std::sync::atomic::AtomicUsize::new(leftovers));
        let senders = queues
            .iter()
            .enumerate()
            .map(|(index, queue)| {
                let leftover = index >= shard_count;
                let control = SenderStop {
                    start: if leftover { cancelled_token() } else { leftovers_drained.clone() },
                    // Leftover shards get no new data: they stop once empty.
                    drain: if leftover { cancelled_token() } else { drain.clone() },
                    stop: stop.clone(),
                };
                let send = shard::run_sender(
                    Arc::clone(queue),
                    Arc::clone(&sender),
                    backoff.clone(),
                    control,
                    sample_age_limit,
                    metrics.clone(),
                );
                let remaining = Arc::clone(&remaining_leftovers);
                let drained = leftovers_drained.clone();
                tokio::spawn(async move {
                    send.await;
                    if leftover && remaining.fetch_sub(1, std::sync::atomic::Ordering::AcqRel) == 1 {
                        drained.cancel();
                    }
                })
            })
            .collect();
        let flusher = tokio::spawn(shard::run_flusher(queues.clone(), flusher_stop.clone(), metrics.clone()));
        tracing::info!(queue = %name, url = %cfg.url, shards = shard_count, dir = %dir.display(), "remote_write queue started");

        Ok(RemoteWriteSink {
            name,
            external,
            rules,
            sample_age_limit,
            shards,
            queues,
            relabel_dropped: metrics.samples_dropped(SampleDropReason::Relabel),
            too_old_dropped: metrics.samples_dropped(SampleDropReason::TooOld),
            memory_dropped_batches: metrics.batches_dropped(BatchDropReason::MemoryFull),
            memory_dropped_samples: metrics.samples_dropped(SampleDropReason::MemoryFull),
            metrics,
            closing,
            drain,
            stop,
            flusher_stop,
            writers,
            senders,
            flusher: Some(flusher),
        })
    }

    /// The queue's name (the `queue` label of its metrics).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Writes the in-memory batches to disk, then keeps delivering for up to `grace`; what is
    /// not delivered by then stays on disk for the next start.
    pub async fn shutdown(mut self, grace: Duration) {
        self.closing.cancel();
        for writer in std::mem::take(&mut self.writers) {
            if let Err(e) = writer.await {
                tracing::error!(queue = %self.name, error = %e, "remote_write writer task failed");
            }
        }
        self.drain.cancel();
        let mut senders = std::mem::take(&mut self.senders);
        let drained = tokio::time::timeout(grace, async {
            for sender in senders.iter_mut() {
                if let Err(e) = sender.await {
                    tracing::error!(queue = %self.name, error = %e, "remote_write sender task failed");
                }
            }
        })
        .await;
        if drained.is_err() {
            self.stop.cancel();
            // A finished handle may already have been awaited; only wait for the others.
            for sender in senders.into_iter().filter(|s| !s.is_finished()) {
                let _ = sender.await;
            }
        }
        self.flusher_stop.cancel();
        if let Some(flusher) = self.flusher.take() {
            let _ = flusher.await;
        }
        shard::flush_all(&self.queues, &self.metrics).await;
        tracing::info!(
            queue = %self.name,
            delivered_all = drained.is_ok(),
            "remote_write queue stopped"
        );
    }

    /// The shard hash of a prepared series: over the labels as they are sent, so a series keeps
    /// its shard whether external labels are merged here (with rules) or by the writer.
    fn sent_labels_hash(&self, prepared: &Labels) -> u64 {
        if self.rules.is_empty() {
            shard_hash(prepared.merged_with(&self.external))
        } else {
            shard_hash(prepared.iter())
        }
    }

    /// The shard hash of a packed label set (no write_relabel_configs): equal to
    /// [`RemoteWriteSink::sent_labels_hash`] of the same labels, so a series keeps its shard
    /// whichever way it comes.
    fn packed_labels_hash(&self, raw: &[u8]) -> u64 {
        shard_hash(LabelsIter::over(raw).merged(self.external.iter()))
    }

    /// The labels a series is sent with (external labels still to be added by the writer when
    /// there are no rules); `None` when write_relabel_configs drop it.
    fn prepare(&self, series: &Series) -> Option<Labels> {
        let mut labels = series.labels.clone();
        if self.rules.is_empty() {
            return (!labels.is_empty()).then_some(labels);
        }
        for l in &self.external {
            if labels.get(l.name).is_none() {
                labels.set(l.name, l.value);
            }
        }
        if !relabel::process(&mut labels, &self.rules) {
            return None;
        }
        if labels.is_empty() {
            return None;
        }
        Some(labels)
    }
}

impl RemoteWriteSink {
    /// Hands `series` to the queue (copying them). Never blocks on I/O or the network: the
    /// series are filtered (`sample_age_limit`), labelled (external labels), relabeled
    /// (`write_relabel_configs`), sharded and sealed into memory; the writers put them on disk
    /// right after. Under memory pressure the oldest in-memory batches are dropped and counted.
    pub fn send(&self, series: &[Series]) {
        self.route(series.iter().cloned());
    }

    /// [`RemoteWriteSink::send`] with ownership: the samples are moved, not copied.
    pub fn send_owned(&self, series: Vec<Series>) {
        self.route(series.into_iter());
    }

    /// Hands single-sample series packed together (a scrape's output) to the queue. Without
    /// `write_relabel_configs` and `sample_age_limit` they go to the batchers as they are, and
    /// the writer copies their labels straight into the request; otherwise this is
    /// [`RemoteWriteSink::send_owned`] of the same series.
    pub fn send_packed(&self, packed: PackedSamples) {
        if !self.rules.is_empty() || self.sample_age_limit.is_some() || packed.has_empty_label_set() {
            self.send_owned(packed.to_series());
            return;
        }
        if packed.is_empty() {
            return;
        }
        let shard_count = self.shards.len();
        if shard_count == 1 {
            self.push_to_shard(0, |batcher, outcome| batcher.push_packed(packed, outcome));
            return;
        }
        let mut per_shard: Vec<PackedSamples> = vec![PackedSamples::new(); shard_count];
        for (raw, sample) in packed.iter() {
            let hash = self.packed_labels_hash(raw);
            per_shard[(hash % shard_count as u64) as usize].push_encoded(raw, sample);
        }
        for (index, part) in per_shard.into_iter().enumerate() {
            if !part.is_empty() {
                self.push_to_shard(index, |batcher, outcome| batcher.push_packed(part, outcome));
            }
        }
    }

    /// Runs `push` on shard `index`'s batcher, seals what it added, wakes the writer and counts
    /// what memory pressure dropped.
    fn push_to_shard(&self, index: usize, push: impl FnOnce(&mut Batcher, &mut PushOutcome)) {
        let shard = &self.shards[index];
        let mut outcome = PushOutcome::default();
        {
            let mut batcher = shard.lock();
            push(&mut batcher, &mut outcome);
            // Seal now: the writer merges what waits and puts it on disk right away.
            outcome.sealed |= batcher.seal();
        }
        if outcome.sealed {
            shard.batch_sealed.notify_one();
        }
        if !outcome.dropped_samples.is_empty() {
            let samples: usize = outcome.dropped_samples.iter().sum();
            tracing::warn!(queue = %self.name, batches = outcome.dropped_samples.len(), samples, "remote_write: the disk writer is behind; dropped the oldest in-memory batches");
            self.memory_dropped_batches.inc_by(outcome.dropped_samples.len() as u64);
            self.memory_dropped_samples.inc_by(samples as u64);
        }
    }

    /// Filters, relabels and shards `series` into the shards' batchers (see the module docs).
    fn route(&self, series: impl ExactSizeIterator<Item = Series>) {
        let shard_count = self.shards.len();
        let oldest_allowed_ms = self
            .sample_age_limit
            .map(|limit| now_ms().saturating_sub(i64::try_from(limit.as_millis()).unwrap_or(i64::MAX)));
        let mut per_shard: Vec<Vec<Series>> = vec![Vec::new(); shard_count];
        if let [only] = per_shard.as_mut_slice() {
            only.reserve_exact(series.len());
        }
        for mut one in series {
            if let Some(oldest) = oldest_allowed_ms {
                let before = one.samples.len();
                one.samples.retain(|s| s.timestamp_ms >= oldest);
                self.too_old_dropped.inc_by((before - one.samples.len()) as u64);
            }
            if one.samples.is_empty() {
                continue;
            }
            let Some(labels) = self.prepare(&one) else {
                self.relabel_dropped.inc_by(one.samples.len() as u64);
                continue;
            };
            let index = if shard_count == 1 {
                0
            } else {
                (self.sent_labels_hash(&labels) % shard_count as u64) as usize
            };
            per_shard[index].push(Series::new(labels, one.samples));
        }
        for (index, batch) in per_shard.into_iter().enumerate() {
            if batch.is_empty() {
                continue;
            }
            self.push_to_shard(index, |batcher, outcome| {
                for one in batch {
                    batcher.push(one, outcome);
                }
            });
        }
    }
}

impl Drop for RemoteWriteSink {
    fn drop(&mut self) {
        // After a graceful shutdown these are all finished or already taken.
        for task in self.writers.iter().chain(&self.senders).chain(&self.flusher) {
            task.abort();
        }
    }
}

fn cancelled_token() -> CancellationToken {
    let token = CancellationToken::new();
    token.cancel();
    token
}

/// Indices of the `shard-N` directories under `dir`.
fn existing_shards(dir: &Path) -> std::io::Result<Vec<usize>> {
    let mut indices = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if !entry.file_type()?.is_dir() {
            continue;
        }
        let file_name = entry.file_name();
        let Some(index) =
            file_name.to_str().and_then(|n| n.strip_prefix(SHARD_DIR_PREFIX)).and_then(|n| n.parse().ok())
        else {
            continue;
        };
        indices.push(index);
    }
    indices.sort_unstable();
    Ok(indices)
}

/// A queue name usable as one path component: anything but `[A-Za-z0-9_.-]` becomes `_`, and
/// names made only of dots are spelled with underscores.
fn path_safe(name: &str) -> String {
    let safe: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') { c } else { '_' })
        .collect();
    if safe.is_empty() || safe.chars().all(|c| c == '.') { safe.replace('.', "_") + "_" } else { safe }
}

/// FNV-1a over the label names and values of the series as sent: stable across runs and
/// versions, so a series maps to the same shard directory after a restart.
fn shard_hash<'a>(labels: impl Iterator<Item = LabelRef<'a>>) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut hash = OFFSET;
    for label in labels {
        for byte in label.name.bytes().chain([0xff]).chain(label.value.bytes()).chain([0xff]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(PRIME);
        }
    }
    hash
}
