//! The Loki push sink: batches the log chunks sources hand it, pushes them to one Loki
//! endpoint, and reports each chunk delivered only once Loki has accepted it (or refused it for
//! good), so file offsets are committed only for delivered lines.
//!
//! ```text
//!  LogFanout ──Arc<LogChunk>──▶ batcher task ──ReadyBatch (1 slot)──▶ sender task ──POST──▶ Loki
//!  (unbounded channel)          group by stream, encode                retry 429/5xx forever,
//!                                                                       then chunk.delivered()
//! ```
//!
//! # Using it
//!
//! [`LokiSink::start`] checks the `logs.loki[]` entry ([`LokiConfigError`] names the field),
//! builds the HTTP client and spawns two tasks (so it must run inside a tokio runtime); it
//! returns the sink and the sender to put in the [`LogFanout`](crate::logs::LogFanout).
//! [`LokiSink::shutdown`] drains; dropping the sink instead aborts its tasks at once (nothing
//! is lost: undelivered chunks are not committed and are read again at the next start).
//!
//! # Design
//!
//! - **Batching** (the batcher task): each chunk is appended to the current batch (`batch::Batch`),
//!   whose entries reference the chunk's buffer (no line is copied before encoding). Entries
//!   are grouped by Loki stream, the chunk's [`StreamLabels`](crate::logs::StreamLabels) merged
//!   with `external_labels` (the stream's own labels win) and cut to `max_label_names` (the
//!   first names kept; counted in `harrier_agent_log_labels_dropped_total`), computed once per
//!   stream and cached. Within a stream, entries stay in arrival order, which is file order;
//!   they are not sorted by time (Loki >= 2.4 accepts out-of-order writes). A batch closes when
//!   it holds `batch_size` bytes of lines (a chunk that would overflow a non-empty batch starts
//!   the next one; chunks are never split, so a batch can exceed `batch_size` by one chunk) or
//!   `batch_wait` after its first chunk. It is then encoded (protobuf + snappy, or JSON) with a
//!   reused [`PushEncoder`] and handed to the sender through a one-slot channel, so the next
//!   batch is built while the previous one is in flight, and a slow Loki stops the batcher,
//!   then the sources (through the log budget that chunks hold until they are dropped).
//! - **Sending** (the sender task): one request in flight, so chunks are delivered in the
//!   order they arrived. 2xx: delivered. 429, 5xx and transport failures: the same body is
//!   sent again forever, after [`Backoff`] delays (`min_backoff` doubling to `max_backoff`,
//!   jittered; a longer `Retry-After` wins, up to 5 minutes), and the backoff is reset
//!   after a success. Any other status drops the batch: its lines are counted
//!   (`harrier_agent_log_sink_dropped_lines_total{reason="rejected"}`), the status and the first
//!   KiB of Loki's answer are logged, and the batch counts as delivered so offsets move on (a
//!   4xx would fail forever). Then [`LogChunk::delivered`] is called once per chunk, in chunk
//!   order, and the chunks are dropped, which returns their budget.
//! - **Shutdown**: the channel is closed (sources have stopped), the chunks already queued are
//!   batched and sent with retries until `grace` runs out; then both tasks are aborted and the
//!   chunks they hold are dropped WITHOUT `delivered()`, so their offsets stay uncommitted.
//!
//! # Metrics
//!
//! See [`metrics`]: `harrier_agent_log_lines_sent_total`, `_bytes_sent_total` (line bytes),
//! `_request_bytes_sent_total`, `_requests_total{code}`, `_retries_total`,
//! `_sink_dropped_lines_total{reason}`, `_labels_dropped_total`, `_send_duration_seconds`, all
//! labelled `sink`.

mod batch;
pub mod metrics;
mod sender;
mod settings;

pub use metrics::{LineDropReason, LokiMetrics, SinkMetrics};
pub use settings::{LokiConfigError, SinkSettings, check as check_config, reserved_header};

use crate::logs::LogChunk;
use crate::logs::config::{LokiConfig, LokiEncoding};
use batch::{Batch, LabelCache};
use bytes::Bytes;
use harrier_telemetry::backoff::Backoff;
use harrier_telemetry::http_client::HttpClientError;
use harrier_telemetry::http_post::{Attempt, BodyPoster};
use harrier_telemetry::loki::PushEncoder;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Why a sink could not start.
#[derive(Debug, thiserror::Error)]
pub enum LokiSinkError {
    #[error("invalid loki config: {0}")]
    Config(#[from] LokiConfigError),
    #[error("loki sink {sink:?}: {source}")]
    Client { sink: String, source: HttpClientError },
}

/// A running sink; see the module documentation.
pub struct LokiSink {
    name: String,
    stop: CancellationToken,
    batcher: Option<JoinHandle<()>>,
    sender: Option<JoinHandle<()>>,
}

/// An encoded batch on its way to the sender.
struct ReadyBatch {
    body: Bytes,
    chunks: Vec<Arc<LogChunk>>,
    lines: u64,
    line_bytes: u64,
}

impl LokiSink {
    /// Validates (URL, HTTP client, names) and spawns the batching/sending tasks; returns the
    /// sender to put in the LogFanout. Must be called inside a tokio runtime.
    pub fn start(
        cfg: &LokiConfig,
        metrics: LokiMetrics,
    ) -> Result<(LokiSink, mpsc::UnboundedSender<Arc<LogChunk>>), LokiSinkError> {
        let settings = settings::check(cfg)?;
        let sender = sender::poster(&settings)
            .map_err(|source| LokiSinkError::Client { sink: settings.name.clone(), source })?;
        let metrics = metrics.for_sink(&settings.name);
        let (chunk_tx, chunk_rx) = mpsc::unbounded_channel();
        let (ready_tx, ready_rx) = mpsc::channel(1);
        let stop = CancellationToken::new();
        let batcher = Batcher {
            cache: LabelCache::new(
                settings.external_labels.clone(),
                settings.max_label_names,
                metrics.clone(),
            ),
            batch: Batch::default(),
            encoder: PushEncoder::default(),
            encoding: settings.encoding,
            batch_size: settings.batch_size,
            batch_wait: settings.batch_wait,
            metrics: metrics.clone(),
            ready: ready_tx,
        };
        let delivery = Delivery {
            sender,
            backoff: Backoff::new(settings.min_backoff, settings.max_backoff),
            metrics,
            sink: settings.name.clone(),
        };
        let batcher = tokio::spawn(batcher.run(chunk_rx, stop.clone()));
        let sender = tokio::spawn(delivery.run(ready_rx));
        let sink = LokiSink { name: settings.name, stop, batcher: Some(batcher), sender: Some(sender) };
        Ok((sink, chunk_tx))
    }

    /// Sends what is batched, retrying for at most `grace`, then stops (undelivered chunks are
    /// dropped WITHOUT delivered(), so their offsets are not committed).
    pub async fn shutdown(mut self, grace: Duration) {
        self.stop.cancel();
        // Each task is awaited at most once to completion: a handle set to `None` is done.
        let mut batcher = self.batcher.take();
        let mut sender = self.sender.take();
        let drained = tokio::time::timeout(grace, async {
            if let Some(task) = batcher.as_mut() {
                let _ = task.await;
                batcher = None;
            }
            if let Some(task) = sender.as_mut() {
                let _ = task.await;
                sender = None;
            }
        })
        .await;
        if drained.is_err() {
            for task in [batcher, sender].into_iter().flatten() {
                task.abort();
                let _ = task.await;
            }
            tracing::warn!(
                sink = %self.name,
                grace = ?grace,
                "loki sink stopped before delivering everything; the rest is read again at the next start"
            );
        }
    }
}

impl Drop for LokiSink {
    fn drop(&mut self) {
        for task in [self.batcher.take(), self.sender.take()].into_iter().flatten() {
            task.abort();
        }
    }
}

/// The batcher task's state.
struct Batcher {
    cache: LabelCache,
    batch: Batch,
    encoder: PushEncoder,
    encoding: LokiEncoding,
    batch_size: usize,
    batch_wait: Duration,
    metrics: SinkMetrics,
    ready: mpsc::Sender<ReadyBatch>,
}

impl Batcher {
    async fn run(mut self, mut chunks: mpsc::UnboundedReceiver<Arc<LogChunk>>, stop: CancellationToken) {
        let mut stopping = false;
        loop {
            let deadline = self.batch.opened_at().map(|opened| opened + self.batch_wait);
            tokio::select! {
                biased;
                () = stop.cancelled(), if !stopping => {
                    // Take no new chunks; what is queued already is still batched and sent.
                    chunks.close();
                    stopping = true;
                }
                chunk = chunks.recv() => match chunk {
                    Some(chunk) => {
                        if !self.add(chunk).await {
                            return;
                        }
                    }
                    None => {
                        // Closed and drained: flush and end (the sender ends after it).
                        let _ = self.flush().await;
                        return;
                    }
                },
                () = sleep_until_or_forever(deadline) => {
                    if !self.flush().await {
                        return;
                    }
                }
            }
        }
    }

    /// Appends `chunk`, sending batches it closes; false once the sender has gone.
    async fn add(&mut self, chunk: Arc<LogChunk>) -> bool {
        let overflows = self.batch.line_bytes() + chunk.data_bytes() > self.batch_size;
        if !self.batch.is_empty() && overflows && !self.flush().await {
            return false;
        }
        self.batch.push(chunk, &mut self.cache, &self.metrics);
        if self.batch.line_bytes() >= self.batch_size {
            return self.flush().await;
        }
        true
    }

    /// Encodes the current batch and hands it to the sender (waiting while one is in flight
    /// and another queued); false once the sender has gone.
    async fn flush(&mut self) -> bool {
        if self.batch.is_empty() {
            return true;
        }
        let lines = self.batch.lines() as u64;
        let line_bytes = self.batch.line_bytes() as u64;
        // A batch of empty chunks (files that produced no complete entry) sends no request but
        // still goes through the sender, so its chunks are delivered in order.
        let body = if lines == 0 {
            Bytes::new()
        } else {
            let encoded = match self.encoding {
                LokiEncoding::Protobuf => self.encoder.encode_protobuf(&self.batch),
                LokiEncoding::Json => self.encoder.encode_json(&self.batch),
            };
            Bytes::copy_from_slice(encoded)
        };
        let chunks = self.batch.take_chunks();
        self.ready.send(ReadyBatch { body, chunks, lines, line_bytes }).await.is_ok()
    }
}

/// Sleeps until `deadline`, or forever without one (a disabled `select!` branch).
async fn sleep_until_or_forever(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// The sender task's state.
struct Delivery {
    sender: BodyPoster,
    backoff: Backoff,
    metrics: SinkMetrics,
    sink: String,
}

impl Delivery {
    async fn run(mut self, mut batches: mpsc::Receiver<ReadyBatch>) {
        while let Some(batch) = batches.recv().await {
            if batch.lines > 0 {
                self.push(&batch).await;
            }
            for chunk in &batch.chunks {
                chunk.delivered();
            }
            // Dropping the chunks here returns their budget to the sources.
        }
    }

    /// Sends `batch` until Loki accepts or rejects it.
    async fn push(&mut self, batch: &ReadyBatch) {
        let mut failures = 0u64;
        loop {
            let started = tokio::time::Instant::now();
            let attempt = self.sender.post(batch.body.clone()).await;
            self.metrics.send_duration.observe(started.elapsed().as_secs_f64());
            self.metrics.requests(&attempt.code()).inc();
            match attempt {
                Attempt::Delivered { .. } => {
                    self.metrics.lines_sent.inc_by(batch.lines);
                    self.metrics.bytes_sent.inc_by(batch.line_bytes);
                    self.metrics.request_bytes.inc_by(batch.body.len() as u64);
                    self.backoff.reset();
                    return;
                }
                Attempt::Rejected { status, body } => {
                    self.metrics.dropped_lines(LineDropReason::Rejected).inc_by(batch.lines);
                    tracing::error!(
                        sink = %self.sink,
                        status,
                        lines = batch.lines,
                        response = %body,
                        "loki rejected a batch; dropping it"
                    );
                    return;
                }
                Attempt::Retry { status, retry_after, reason } => {
                    self.metrics.retries.inc();
                    let delay = self.backoff.next_delay_with_retry_after(
                        retry_after,
                        harrier_telemetry::http_post::RETRY_AFTER_CAP,
                    );
                    failures += 1;
                    let status = status.map_or(-1, i64::from);
                    let sink = &self.sink;
                    if failures == 1 {
                        tracing::warn!(
                            %sink,
                            status,
                            retry_in = ?delay,
                            error = %reason,
                            "pushing to loki failed; retrying"
                        );
                    } else {
                        tracing::debug!(
                            %sink,
                            status,
                            retry_in = ?delay,
                            error = %reason,
                            failures,
                            "pushing to loki failed again; retrying"
                        );
                    }
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
