//! Self-metrics of the remote_write sink, every one labelled by `queue` (the queue's name) and
//! named `<prefix>_remote_write_*`, the prefix chosen by the process that registers them
//! (`harrier_agent`, `harrier_router`).
//!
//! [`RemoteWriteMetrics`] holds the metric families and is registered once per process; each
//! queue resolves its own handles with [`RemoteWriteMetrics::for_queue`] so the hot paths
//! touch plain atomics instead of looking a label set up in a family on every update.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

/// Why samples were dropped (`reason` of `_samples_dropped_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleDropReason {
    /// A `write_relabel_configs` rule dropped the series.
    Relabel,
    /// The remote end answered with a non-retryable status (4xx other than a retried 429).
    Rejected,
    /// The in-memory batches outgrew their byte bound because the disk writer fell behind.
    MemoryFull,
    /// The batch could not be written to the disk buffer.
    DiskError,
    /// Older than `queue_config.sample_age_limit`.
    TooOld,
}

impl SampleDropReason {
    fn as_str(self) -> &'static str {
        match self {
            SampleDropReason::Relabel => "relabel",
            SampleDropReason::Rejected => "rejected",
            SampleDropReason::MemoryFull => "memory_full",
            SampleDropReason::DiskError => "disk_error",
            SampleDropReason::TooOld => "too_old",
        }
    }
}

/// Why whole batches were dropped (`reason` of `_batches_dropped_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchDropReason {
    /// The disk buffer reached `buffer.max_bytes` and dropped its oldest records.
    BufferFull,
    /// The in-memory batches outgrew their byte bound.
    MemoryFull,
    /// A record failed its checksum or could not be parsed.
    Corrupt,
    /// The remote end rejected the batch (non-retryable status).
    Rejected,
    /// The batch could not be written to the disk buffer.
    DiskError,
    /// Every sample in the batch is older than `queue_config.sample_age_limit`.
    TooOld,
}

impl BatchDropReason {
    fn as_str(self) -> &'static str {
        match self {
            BatchDropReason::BufferFull => "buffer_full",
            BatchDropReason::MemoryFull => "memory_full",
            BatchDropReason::Corrupt => "corrupt",
            BatchDropReason::Rejected => "rejected",
            BatchDropReason::DiskError => "disk_error",
            BatchDropReason::TooOld => "too_old",
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueLabels {
    queue: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueReasonLabels {
    queue: String,
    reason: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueCodeLabels {
    queue: String,
    code: String,
}

type HistogramFamily = Family<QueueLabels, Histogram, fn() -> Histogram>;

fn send_duration_histogram() -> Histogram {
    // 5 ms … ~41 s.
    Histogram::new(exponential_buckets(0.005, 2.0, 14))
}

/// The remote_write metric families. Cheap to clone (the families are shared).
#[derive(Debug, Clone)]
pub struct RemoteWriteMetrics {
    samples: Family<QueueLabels, Counter>,
    samples_dropped: Family<QueueReasonLabels, Counter>,
    requests: Family<QueueCodeLabels, Counter>,
    retries: Family<QueueLabels, Counter>,
    queue_bytes: Family<QueueLabels, Gauge>,
    queue_records: Family<QueueLabels, Gauge>,
    batches_dropped: Family<QueueReasonLabels, Counter>,
    send_duration: HistogramFamily,
    highest_sent_timestamp: Family<QueueLabels, Gauge<f64, AtomicU64>>,
}

impl Default for RemoteWriteMetrics {
    /// Families that are not registered anywhere (for tests and tools).
    fn default() -> Self {
        RemoteWriteMetrics {
            samples: Family::default(),
            samples_dropped: Family::default(),
            requests: Family::default(),
            retries: Family::default(),
            queue_bytes: Family::default(),
            queue_records: Family::default(),
            batches_dropped: Family::default(),
            send_duration: Family::new_with_constructor(send_duration_histogram),
            highest_sent_timestamp: Family::default(),
        }
    }
}

impl RemoteWriteMetrics {
    /// Creates the families and registers them in `registry` as
    /// `<prefix>_remote_write_*` (the agent passes `"harrier_agent"`, the router
    /// `"harrier_router"`). Register once per registry: a second registration of the same
    /// prefix would export every family twice.
    pub fn register(registry: &mut Registry, prefix: &str) -> Self {
        let metrics = RemoteWriteMetrics::default();
        let name = |suffix: &str| format!("{prefix}_remote_write_{suffix}");
        // Counters get their `_total` suffix from the registry.
        registry.register(
            name("samples"),
            "Samples delivered to the remote end (2xx).",
            metrics.samples.clone(),
        );
        registry.register(
            name("samples_dropped"),
            "Samples dropped before delivery, by reason.",
            metrics.samples_dropped.clone(),
        );
        registry.register(
            name("requests"),
            "HTTP requests sent, by status code (\"error\" for transport failures).",
            metrics.requests.clone(),
        );
        registry.register(
            name("retries"),
            "Requests retried after a retryable failure.",
            metrics.retries.clone(),
        );
        registry.register(
            name("queue_bytes"),
            "Bytes held in the on-disk buffer.",
            metrics.queue_bytes.clone(),
        );
        registry.register(
            name("queue_records"),
            "Batches held in the on-disk buffer.",
            metrics.queue_records.clone(),
        );
        registry.register(
            name("batches_dropped"),
            "Whole batches dropped, by reason.",
            metrics.batches_dropped.clone(),
        );
        registry.register(
            name("send_duration_seconds"),
            "Duration of one remote_write request.",
            metrics.send_duration.clone(),
        );
        registry.register(
            name("highest_sent_timestamp_seconds"),
            "Newest sample timestamp delivered, in seconds since the epoch.",
            metrics.highest_sent_timestamp.clone(),
        );
        metrics
    }

    /// The handles of one queue.
    pub fn for_queue(&self, queue: &str) -> QueueMetrics {
        let labels = QueueLabels { queue: queue.to_string() };
        QueueMetrics {
            queue: queue.to_string(),
            families: self.clone(),
            samples: self.samples.get_or_create_owned(&labels),
            retries: self.retries.get_or_create_owned(&labels),
            queue_bytes: self.queue_bytes.get_or_create_owned(&labels),
            queue_records: self.queue_records.get_or_create_owned(&labels),
            send_duration: self.send_duration.get_or_create_owned(&labels),
            highest_sent_timestamp: self.highest_sent_timestamp.get_or_create_owned(&labels),
        }
    }
}

/// One queue's metric handles. Cheap to clone (handles share their atomics).
#[derive(Debug, Clone)]
pub struct QueueMetrics {
    queue: String,
    families: RemoteWriteMetrics,
    pub samples: Counter,
    pub retries: Counter,
    pub queue_bytes: Gauge,
    pub queue_records: Gauge,
    pub send_duration: Histogram,
    pub highest_sent_timestamp: Gauge<f64, AtomicU64>,
}

impl QueueMetrics {
    pub fn samples_dropped(&self, reason: SampleDropReason) -> Counter {
        self.families.samples_dropped.get_or_create_owned(&QueueReasonLabels {
            queue: self.queue.clone(),
            reason: reason.as_str().to_string(),
        })
    }

    pub fn batches_dropped(&self, reason: BatchDropReason) -> Counter {
        self.families.batches_dropped.get_or_create_owned(&QueueReasonLabels {
            queue: self.queue.clone(),
            reason: reason.as_str().to_string(),
        })
    }

    /// `code` is the HTTP status code, or `"error"` when no response came back.
    pub fn requests(&self, code: &str) -> Counter {
        self.families
            .requests
            .get_or_create_owned(&QueueCodeLabels { queue: self.queue.clone(), code: code.to_string() })
    }

    /// Raises the highest-sent gauge to `timestamp_ms` if it is newer.
    pub fn observe_sent_timestamp(&self, timestamp_ms: i64) {
        let seconds = timestamp_ms as f64 / 1000.0;
        if seconds > self.highest_sent_timestamp.get() {
            self.highest_sent_timestamp.set(seconds);
        }
    }
}
