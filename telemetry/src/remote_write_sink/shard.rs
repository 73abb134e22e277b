//! One shard of a remote_write queue: an in-memory [`Batcher`], a [`DiskQueue`] in its own
//! directory (`shard-N`), and three loops that move data along:
//!
//! - the writer ([`run_writer`]) wakes whenever the sink sealed data (at the end of every
//!   `send`), merges the waiting batches up to `max_samples_per_send` (group commit: a burst
//!   of small batches becomes one record), encodes them and appends them to the disk queue.
//!   Write-through: every sample is on disk before it is sent, and data waits in memory only
//!   for the writer's next turn (milliseconds), not for `batch_send_deadline`, so a kill -9
//!   loses at most what was handed over in those milliseconds;
//! - the sender ([`run_sender`]) peeks the oldest record, POSTs it, acks it once delivered or
//!   rejected, and retries it with backoff otherwise, so delivery is in order per shard; it
//!   sleeps on a [`Notify`] the writer pokes after each append rather than polling;
//! - the flusher ([`run_flusher`], one per sink) fsyncs every queue once a second and
//!   publishes their sizes and drop counts.
//!
//! The disk queue is synchronous. Appends, peeks and acks run inline on the task that makes
//! them ([`ShardQueue::call`]: one system call on the page cache, cheaper than two thread
//! hand-offs); the flusher's fsyncs run on the blocking pool on duplicated file handles,
//! without holding the queue's lock ([`ShardQueue::flush`]), so appends do not wait for the
//! disk. A call is never interrupted half-way (cancellation only happens around network
//! requests and sleeps), so once the loops have returned, nothing holds the queue.

use super::batcher::{Batch, Batcher};
use super::metrics::{BatchDropReason, QueueMetrics, SampleDropReason};
use super::record::{HEADER_LEN, decode_header, encode_record};
use super::sender::{Attempt, HttpSender};
use crate::backoff::Backoff;
use crate::model::{Labels, now_ms};
use crate::queue::{DiskQueue, QueueError, QueueStats, RecordId};
use crate::remote_write::Encoder;
use bytes::Bytes;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How often the disk queues are fsynced and their gauges refreshed.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// Why a disk-queue call failed.
#[derive(Debug, thiserror::Error)]
pub enum ShardError {
    #[error("disk queue {dir}: {source}")]
    Queue { dir: PathBuf, source: QueueError },
    #[error("disk queue {dir}: the blocking task failed: {reason}")]
    Blocking { dir: PathBuf, reason: String },
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain data behind; keep going with it.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A shard's disk queue, shared by its writer, its sender and the flusher.
pub struct ShardQueue {
    pub dir: PathBuf,
    queue: Mutex<DiskQueue>,
    /// Poked after every append; the sender waits on it when the queue is empty.
    pub record_appended: Notify,
    /// Drop counters last seen in the queue's stats, to count deltas.
    last_stats: Mutex<QueueStats>,
}

impl ShardQueue {
    pub fn new(dir: PathBuf, queue: DiskQueue) -> Self {
        ShardQueue {
            dir,
            queue: Mutex::new(queue),
            record_appended: Notify::new(),
            last_stats: Mutex::new(QueueStats::default()),
        }
    }

    /// Runs `op` on the queue, inline: appends, peeks and acks are single system calls on
    /// the page cache (microseconds), cheaper than a hand-off to another thread and back. Slow
    /// fsyncs do not come through here (see [`ShardQueue::flush`]).
    pub async fn call<R: Send + 'static>(
        &self,
        op: impl FnOnce(&mut DiskQueue) -> Result<R, QueueError> + Send + 'static,
    ) -> Result<R, ShardError> {
        op(&mut lock(&self.queue)).map_err(|source| ShardError::Queue { dir: self.dir.clone(), source })
    }

    /// Fsyncs what was written so far, on the blocking pool and without holding the queue's
    /// lock (the writer and the sender keep going meanwhile); returns the queue's stats.
    pub async fn flush(&self) -> Result<QueueStats, ShardError> {
        let pending = self.call(|q| q.begin_flush()).await?;
        let joined = tokio::task::spawn_blocking(move || pending.sync()).await;
        match joined {
            Ok(synced) => synced.map_err(|source| ShardError::Queue { dir: self.dir.clone(), source })?,
            Err(e) => return Err(ShardError::Blocking { dir: self.dir.clone(), reason: e.to_string() }),
        }
        self.call(|q| Ok(q.stats())).await
    }
}

/// The in-memory side of an active shard (one that receives new data).
pub struct ShardBatcher {
    batcher: Mutex<Batcher>,
    /// Poked when a batch is sealed by size; the writer waits on it.
    pub batch_sealed: Notify,
}

impl ShardBatcher {
    pub fn new(batcher: Batcher) -> Self {
        ShardBatcher { batcher: Mutex::new(batcher), batch_sealed: Notify::new() }
    }

    pub fn lock(&self) -> MutexGuard<'_, Batcher> {
        lock(&self.batcher)
    }
}

/// Moves sealed batches from memory to disk until `closing` is cancelled, then writes what
/// is left (the open batch included) and returns.
pub async fn run_writer(
    batcher: Arc<ShardBatcher>,
    queue: Arc<ShardQueue>,
    external: Labels,
    deadline: Duration,
    closing: CancellationToken,
    metrics: QueueMetrics,
) {
    let deadline = deadline.max(Duration::from_millis(1));
    let mut next_deadline = Instant::now() + deadline;
    let mut encoder = Encoder::new();
    loop {
        let closing_now = tokio::select! {
            _ = batcher.batch_sealed.notified() => false,
            _ = tokio::time::sleep_until(next_deadline) => {
                batcher.lock().seal();
                next_deadline = Instant::now() + deadline;
                false
            }
            _ = closing.cancelled() => {
                batcher.lock().seal();
                true
            }
        };
        loop {
            let Some(batch) = batcher.lock().take_sealed_merged() else { break };
            encoder = write_batch(&queue, batch, encoder, &external, &metrics).await;
            // A backlog of records (a large scrape cut into pieces) is encoded one record at a
            // time, letting other tasks run in between (the agent may have one worker thread).
            tokio::task::yield_now().await;
        }
        if closing_now {
            return;
        }
    }
}

/// Encodes and appends one batch; hands the encoder (and its buffers) back.
async fn write_batch(
    queue: &ShardQueue,
    batch: Batch,
    mut encoder: Encoder,
    external: &Labels,
    metrics: &QueueMetrics,
) -> Encoder {
    let samples = batch.samples as u64;
    let external = external.clone();
    let appended = queue
        .call(move |q| {
            let record = encode_record(&batch, &mut encoder, &external);
            q.append(&record).map(|()| encoder)
        })
        .await;
    match appended {
        Ok(encoder) => {
            queue.record_appended.notify_one();
            encoder
        }
        Err(e) => {
            tracing::error!(error = %e, samples, "remote_write: cannot buffer a batch on disk; dropping it");
            metrics.batches_dropped(BatchDropReason::DiskError).inc();
            metrics.samples_dropped(SampleDropReason::DiskError).inc_by(samples);
            Encoder::new()
        }
    }
}

/// When a sender starts and stops.
pub struct SenderStop {
    /// Start sending once this is cancelled: active shards wait until the shard directories
    /// left by a run with more shards are drained, so a series' old samples (in a leftover
    /// shard) reach the receiver before its new ones.
    pub start: CancellationToken,
    /// Return once the queue is empty (set after the writers have finished).
    pub drain: CancellationToken,
    /// Return now, leaving the current record on disk.
    pub stop: CancellationToken,
}

/// Delivers the shard's records in order. See the module documentation.
pub async fn run_sender(
    queue: Arc<ShardQueue>,
    sender: Arc<HttpSender>,
    mut backoff: Backoff,
    control: SenderStop,
    sample_age_limit: Option<Duration>,
    metrics: QueueMetrics,
) {
    tokio::select! {
        _ = control.start.cancelled() => {}
        _ = control.stop.cancelled() => return,
    }
    loop {
        if control.stop.is_cancelled() {
            return;
        }
        let (id, record) = match queue.call(|q| q.peek()).await {
            Ok(Some(next)) => next,
            Ok(None) => {
                if control.drain.is_cancelled() {
                    return;
                }
                tokio::select! {
                    _ = queue.record_appended.notified() => {}
                    _ = control.drain.cancelled() => {}
                    _ = control.stop.cancelled() => return,
                }
                continue;
            }
            Err(e) => {
                tracing::error!(error = %e, "remote_write: cannot read the disk buffer");
                if !sleep_unless_stopped(backoff.next_delay(), &control.stop).await {
                    return;
                }
                continue;
            }
        };
        let header = match decode_header(&record) {
            Ok(header) => header,
            Err(e) => {
                tracing::warn!(dir = %queue.dir.display(), error = %e, "remote_write: dropping an unreadable record");
                metrics.batches_dropped(BatchDropReason::Corrupt).inc();
                if !ack(&queue, id, &mut backoff, &control.stop).await {
                    return;
                }
                continue;
            }
        };
        let body = Bytes::from(record).slice(HEADER_LEN..);
        let mut failures = 0u32;
        loop {
            if is_too_old(header.max_timestamp_ms, sample_age_limit) {
                tracing::warn!(
                    samples = header.samples,
                    "remote_write: dropping a batch older than sample_age_limit"
                );
                metrics.samples_dropped(SampleDropReason::TooOld).inc_by(header.samples);
                metrics.batches_dropped(BatchDropReason::TooOld).inc();
                break;
            }
            let started = Instant::now();
            let attempt = tokio::select! {
                biased;
                _ = control.stop.cancelled() => return,
                attempt = sender.post(body.clone()) => attempt,
            };
            metrics.send_duration.observe(started.elapsed().as_secs_f64());
            metrics.requests(&attempt.code()).inc();
            match attempt {
                Attempt::Delivered { .. } => {
                    metrics.samples.inc_by(header.samples);
                    metrics.observe_sent_timestamp(header.max_timestamp_ms);
                    backoff.reset();
                    break;
                }
                Attempt::Rejected { status, body } => {
                    tracing::error!(
                        status,
                        samples = header.samples,
                        response = %body,
                        "remote_write: the server rejected a batch; dropping it (non-retryable status)"
                    );
                    metrics.samples_dropped(SampleDropReason::Rejected).inc_by(header.samples);
                    metrics.batches_dropped(BatchDropReason::Rejected).inc();
                    break;
                }
                Attempt::Retry { retry_after, reason, .. } => {
                    metrics.retries.inc();
                    let delay =
                        backoff.next_delay_with_retry_after(retry_after, crate::http_post::RETRY_AFTER_CAP);
                    failures += 1;
                    if failures == 1 {
                        tracing::warn!(reason = %reason, ?delay, "remote_write: sending failed; retrying");
                    } else {
                        tracing::debug!(reason = %reason, ?delay, failures, "remote_write: retrying");
                    }
                    if !sleep_unless_stopped(delay, &control.stop).await {
                        return;
                    }
                }
            }
        }
        if !ack(&queue, id, &mut backoff, &control.stop).await {
            return;
        }
    }
}

/// Whether a batch whose newest sample is `max_timestamp_ms` is past `sample_age_limit`
/// (checked before every attempt, as Prometheus filters retried samples; a batch with any
/// sample still within the limit is sent whole).
fn is_too_old(max_timestamp_ms: i64, sample_age_limit: Option<Duration>) -> bool {
    sample_age_limit.is_some_and(|limit| {
        max_timestamp_ms < now_ms().saturating_sub(i64::try_from(limit.as_millis()).unwrap_or(i64::MAX))
    })
}

/// Acks `id`, retrying a failing ack with backoff (a record that is never acked would be sent
/// again and again). Returns false when stopped first.
async fn ack(queue: &ShardQueue, id: RecordId, backoff: &mut Backoff, stop: &CancellationToken) -> bool {
    loop {
        match queue.call(move |q| q.ack(id)).await {
            Ok(()) => return true,
            Err(e) => {
                tracing::error!(error = %e, "remote_write: cannot acknowledge a record in the disk buffer");
                if !sleep_unless_stopped(backoff.next_delay(), stop).await {
                    return false;
                }
            }
        }
    }
}

/// Sleeps for `delay`; false if `stop` was cancelled first.
async fn sleep_unless_stopped(delay: Duration, stop: &CancellationToken) -> bool {
    tokio::select! {
        biased;
        _ = stop.cancelled() => false,
        _ = tokio::time::sleep(delay) => true,
    }
}

/// Fsyncs the queues every [`FLUSH_INTERVAL`] until `stop` is cancelled.
pub async fn run_flusher(queues: Vec<Arc<ShardQueue>>, stop: CancellationToken, metrics: QueueMetrics) {
    let mut tick = tokio::time::interval(FLUSH_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.cancelled() => return,
        }
        flush_all(&queues, &metrics).await;
    }
}

/// Fsyncs every queue and publishes their sizes and the records they dropped.
pub async fn flush_all(queues: &[Arc<ShardQueue>], metrics: &QueueMetrics) {
    let mut bytes = 0u64;
    let mut records = 0u64;
    for queue in queues {
        let stats = match queue.flush().await {
            Ok(stats) => stats,
            Err(e) => {
                tracing::error!(error = %e, "remote_write: cannot sync the disk buffer");
                continue;
            }
        };
        bytes += stats.bytes;
        records += stats.records;
        let mut last = lock(&queue.last_stats);
        let dropped = stats.dropped_records.saturating_sub(last.dropped_records);
        if dropped > 0 {
            tracing::warn!(dir = %queue.dir.display(), records = dropped, "remote_write: disk buffer full; dropped the oldest batches");
            metrics.batches_dropped(BatchDropReason::BufferFull).inc_by(dropped);
        }
        let corrupt = stats.corrupt_records.saturating_sub(last.corrupt_records);
        if corrupt > 0 {
            tracing::warn!(dir = %queue.dir.display(), records = corrupt, "remote_write: skipped corrupt records in the disk buffer");
            metrics.batches_dropped(BatchDropReason::Corrupt).inc_by(corrupt);
        }
        *last = stats;
    }
    metrics.queue_bytes.set(i64::try_from(bytes).unwrap_or(i64::MAX));
    metrics.queue_records.set(i64::try_from(records).unwrap_or(i64::MAX));
}
