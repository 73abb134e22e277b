//! The file sources' own metrics (exposed on the agent's `/metrics`):
//!
//! - `harrier_agent_log_files_watched`: files open (being tailed or drained).
//! - `harrier_agent_log_bytes_read_total`: bytes read from log files.
//! - `harrier_agent_log_lines_read_total`: entries produced (a CRI line with its partials
//!   joined, a multiline event and a plain line count one each).
//! - `harrier_agent_log_read_errors_total`: failed opens, stats and reads of log files.
//! - `harrier_agent_log_dropped_lines_total{reason}`: lines cut or altered at the source:
//!   `truncated` (longer than `max_line_bytes`), `malformed` (bad CRI prefix or docker JSON,
//!   shipped raw), `invalid_utf8` (shipped with U+FFFD), `partial_overflow` (a joined CRI/docker
//!   partial run cut at `max_line_bytes`).
//! - `harrier_agent_log_lag_bytes{path}`: file size minus the delivered offset, per open file.
//! - `harrier_agent_log_file_truncations_total`: files truncated in place (copytruncate).
//! - `harrier_agent_log_checkpoint_writes_total`, `harrier_agent_log_checkpoint_errors_total{op}`
//!   (`op` = `load` for an unreadable or corrupt checkpoint file at start, `write`).
//! - `harrier_agent_log_in_flight_bytes`: line bytes read but not yet delivered (the
//!   [`crate::logs::LogBudget`] in use).

use crate::sources::logs::parse::ParseCounters;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

type LabelPairs = Vec<(String, String)>;

/// Handles to the file source metrics; cheap to clone.
#[derive(Clone, Default)]
pub struct LogSourceMetrics {
    files_watched: Gauge,
    bytes_read: Counter,
    lines_read: Counter,
    read_errors: Counter,
    dropped_lines: Family<LabelPairs, Counter>,
    lag_bytes: Family<LabelPairs, Gauge>,
    truncations: Counter,
    checkpoint_writes: Counter,
    checkpoint_errors: Family<LabelPairs, Counter>,
    in_flight_bytes: Gauge,
}

impl std::fmt::Debug for LogSourceMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogSourceMetrics").finish_non_exhaustive()
    }
}

impl LogSourceMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &mut Registry) -> LogSourceMetrics {
        let metrics = LogSourceMetrics::default();
        registry.register(
            "harrier_agent_log_files_watched",
            "Log files open (tailed or being drained).",
            metrics.files_watched.clone(),
        );
        registry.register(
            "harrier_agent_log_bytes_read",
            "Bytes read from log files.",
            metrics.bytes_read.clone(),
        );
        registry.register(
            "harrier_agent_log_lines_read",
            "Log entries read (joined partial lines and multiline events count once).",
            metrics.lines_read.clone(),
        );
        registry.register(
            "harrier_agent_log_read_errors",
            "Failed opens, stats and reads of log files.",
            metrics.read_errors.clone(),
        );
        registry.register(
            "harrier_agent_log_dropped_lines",
            "Log lines cut or altered at the source, by reason.",
            metrics.dropped_lines.clone(),
        );
        registry.register(
            "harrier_agent_log_lag_bytes",
            "Bytes of each open log file not yet delivered (file size minus delivered offset).",
            metrics.lag_bytes.clone(),
        );
        registry.register(
            "harrier_agent_log_file_truncations",
            "Log files truncated in place (copytruncate).",
            metrics.truncations.clone(),
        );
        registry.register(
            "harrier_agent_log_checkpoint_writes",
            "Checkpoint files written.",
            metrics.checkpoint_writes.clone(),
        );
        registry.register(
            "harrier_agent_log_checkpoint_errors",
            "Checkpoint files that could not be loaded or written.",
            metrics.checkpoint_errors.clone(),
        );
        registry.register(
            "harrier_agent_log_in_flight_bytes",
            "Log line bytes read but not yet delivered by every sink.",
            metrics.in_flight_bytes.clone(),
        );
        metrics
    }

    fn reason(reason: &str) -> LabelPairs {
        vec![("reason".to_string(), reason.to_string())]
    }

    fn path_label(path: &str) -> LabelPairs {
        vec![("path".to_string(), path.to_string())]
    }

    fn op(op: &str) -> LabelPairs {
        vec![("op".to_string(), op.to_string())]
    }

    pub(crate) fn set_files_watched(&self, count: usize) {
        self.files_watched.set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    pub(crate) fn add_read(&self, bytes: usize, entries: usize) {
        self.bytes_read.inc_by(bytes as u64);
        self.lines_read.inc_by(entries as u64);
    }

    pub(crate) fn read_error(&self) {
        self.read_errors.inc();
    }

    /// Adds what the parser counted since `before` (cumulative counters) and `invalid_utf8`.
    pub(crate) fn add_parse_counters(&self, before: &ParseCounters, now: &ParseCounters, invalid_utf8: u64) {
        self.add_dropped("truncated", now.truncated.saturating_sub(before.truncated));
        self.add_dropped("malformed", now.malformed.saturating_sub(before.malformed));
        self.add_dropped("partial_overflow", now.partial_overflow.saturating_sub(before.partial_overflow));
        self.add_dropped("invalid_utf8", invalid_utf8);
    }

    fn add_dropped(&self, reason: &str, count: u64) {
        if count > 0 {
            self.dropped_lines.get_or_create(&Self::reason(reason)).inc_by(count);
        }
    }

    pub(crate) fn set_lag(&self, path: &str, bytes: u64) {
        self.lag_bytes.get_or_create(&Self::path_label(path)).set(i64::try_from(bytes).unwrap_or(i64::MAX));
    }

    pub(crate) fn remove_lag(&self, path: &str) {
        self.lag_bytes.remove(&Self::path_label(path));
    }

    pub(crate) fn truncation(&self) {
        self.truncations.inc();
    }

    pub(crate) fn checkpoint_written(&self) {
        self.checkpoint_writes.inc();
    }

    pub(crate) fn checkpoint_error(&self, op: &str) {
        self.checkpoint_errors.get_or_create(&Self::op(op)).inc();
    }

    pub(crate) fn set_in_flight(&self, bytes: usize) {
        self.in_flight_bytes.set(i64::try_from(bytes).unwrap_or(i64::MAX));
    }

    /// Files open now (for tests).
    pub fn files_watched(&self) -> i64 {
        self.files_watched.get()
    }

    /// Bytes read so far (for tests).
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read.get()
    }

    /// Entries read so far (for tests).
    pub fn lines_read(&self) -> u64 {
        self.lines_read.get()
    }

    /// Read errors so far (for tests).
    pub fn read_errors(&self) -> u64 {
        self.read_errors.get()
    }

    /// Lines dropped or altered so far for `reason` (for tests).
    pub fn dropped_lines(&self, reason: &str) -> u64 {
        self.dropped_lines.get_or_create(&Self::reason(reason)).get()
    }

    /// The lag of the file at `path`, if it is open (for tests).
    pub fn lag_bytes(&self, path: &str) -> Option<i64> {
        // `get_or_create` would add the series; look without creating it.
        self.lag_bytes.get(&Self::path_label(path)).map(|gauge| gauge.get())
    }

    /// In-place truncations so far (for tests).
    pub fn file_truncations(&self) -> u64 {
        self.truncations.get()
    }

    /// Checkpoint files written so far (for tests).
    pub fn checkpoint_writes(&self) -> u64 {
        self.checkpoint_writes.get()
    }

    /// Checkpoint errors so far for `op` (`load` or `write`) (for tests).
    pub fn checkpoint_errors(&self, op: &str) -> u64 {
        self.checkpoint_errors.get_or_create(&Self::op(op)).get()
    }

    /// The in-flight bytes gauge (for tests).
    pub fn in_flight_bytes(&self) -> i64 {
        self.in_flight_bytes.get()
    }
}
