//! Self-metrics of the Loki sinks, every one labelled by `sink` (the sink's name, see
//! `LokiConfig::sink_name`) and named `harrier_agent_log_*`.
//!
//! [`LokiMetrics`] holds the metric families and is registered once per process; each sink
//! resolves its own handles with [`LokiMetrics::for_sink`] so the hot paths touch plain atomics
//! instead of looking a label set up in a family on every update.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Why a sink dropped lines (`reason` of `harrier_agent_log_sink_dropped_lines_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineDropReason {
    /// Loki answered with a status that retrying cannot fix (4xx other than 429): the whole
    /// batch is given up and its offsets move on.
    Rejected,
    /// An entry named a stream its chunk does not have (a source bug; never sent).
    UnknownStream,
}

impl LineDropReason {
    fn as_str(self) -> &'static str {
        match self {
            LineDropReason::Rejected => "rejected",
            LineDropReason::UnknownStream => "unknown_stream",
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SinkLabels {
    sink: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SinkReasonLabels {
    sink: String,
    reason: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SinkCodeLabels {
    sink: String,
    code: String,
}

type HistogramFamily = Family<SinkLabels, Histogram, fn() -> Histogram>;

fn send_duration_histogram() -> Histogram {
    // 5 ms … ~41 s.
    Histogram::new(exponential_buckets(0.005, 2.0, 14))
}

/// The Loki sinks' metric families. Cheap to clone (the families are shared).
#[derive(Debug, Clone)]
pub struct LokiMetrics {
    lines_sent: Family<SinkLabels, Counter>,
    bytes_sent: Family<SinkLabels, Counter>,
    request_bytes: Family<SinkLabels, Counter>,
    requests: Family<SinkCodeLabels, Counter>,
    retries: Family<SinkLabels, Counter>,
    dropped_lines: Family<SinkReasonLabels, Counter>,
    labels_dropped: Family<SinkLabels, Counter>,
    send_duration: HistogramFamily,
}

impl Default for LokiMetrics {
    /// Families that are not registered anywhere (for tests and tools).
    fn default() -> Self {
        LokiMetrics {
            lines_sent: Family::default(),
            bytes_sent: Family::default(),
            request_bytes: Family::default(),
            requests: Family::default(),
            retries: Family::default(),
            dropped_lines: Family::default(),
            labels_dropped: Family::default(),
            send_duration: Family::new_with_constructor(send_duration_histogram),
        }
    }
}

impl LokiMetrics {
    /// Creates the families and registers them in `registry` as `harrier_agent_log_*`.
    /// Register once per registry; every sink shares the families.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = LokiMetrics::default();
        // Counters get their `_total` suffix from the registry.
        registry.register(
            "harrier_agent_log_lines_sent",
            "Log lines Loki accepted (2xx), by sink.",
            metrics.lines_sent.clone(),
        );
        registry.register(
            "harrier_agent_log_bytes_sent",
            "Bytes of log lines Loki accepted (2xx), by sink; lines only, not labels or framing.",
            metrics.bytes_sent.clone(),
        );
        registry.register(
            "harrier_agent_log_request_bytes_sent",
            "Bytes of push request bodies (encoded and compressed) Loki accepted, by sink.",
            metrics.request_bytes.clone(),
        );
        registry.register(
            "harrier_agent_log_requests",
            "Push requests sent, by sink and status code (\"error\" when no response came back).",
            metrics.requests.clone(),
        );
        registry.register(
            "harrier_agent_log_retries",
            "Push requests retried after a 429, a 5xx or a transport failure, by sink.",
            metrics.retries.clone(),
        );
        registry.register(
            "harrier_agent_log_sink_dropped_lines",
            "Log lines a sink gave up on, by sink and reason.",
            metrics.dropped_lines.clone(),
        );
        registry.register(
            "harrier_agent_log_labels_dropped",
            "Streams that had more than max_label_names labels and lost the last ones by name, by sink.",
            metrics.labels_dropped.clone(),
        );
        registry.register(
            "harrier_agent_log_send_duration_seconds",
            "Duration of one push request, by sink.",
            metrics.send_duration.clone(),
        );
        metrics
    }

    /// The handles of one sink.
    pub fn for_sink(&self, sink: &str) -> SinkMetrics {
        let labels = SinkLabels { sink: sink.to_string() };
        SinkMetrics {
            sink: sink.to_string(),
            families: self.clone(),
            lines_sent: self.lines_sent.get_or_create_owned(&labels),
            bytes_sent: self.bytes_sent.get_or_create_owned(&labels),
            request_bytes: self.request_bytes.get_or_create_owned(&labels),
            retries: self.retries.get_or_create_owned(&labels),
            labels_dropped: self.labels_dropped.get_or_create_owned(&labels),
            send_duration: self.send_duration.get_or_create_owned(&labels),
        }
    }
}

/// One sink's metric handles. Cheap to clone (handles share their atomics).
#[derive(Debug, Clone)]
pub struct SinkMetrics {
    sink: String,
    families: LokiMetrics,
    pub lines_sent: Counter,
    pub bytes_sent: Counter,
    pub request_bytes: Counter,
    pub retries: Counter,
    pub labels_dropped: Counter,
    pub send_duration: Histogram,
}

impl SinkMetrics {
    pub fn dropped_lines(&self, reason: LineDropReason) -> Counter {
        self.families.dropped_lines.get_or_create_owned(&SinkReasonLabels {
            sink: self.sink.clone(),
            reason: reason.as_str().to_string(),
        })
    }

    /// `code` is the HTTP status code, or `"error"` when no response came back.
    pub fn requests(&self, code: &str) -> Counter {
        self.families
            .requests
            .get_or_create_owned(&SinkCodeLabels { sink: self.sink.clone(), code: code.to_string() })
    }
}
