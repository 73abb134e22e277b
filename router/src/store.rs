//! The embedded time-series store, and the read interface the PromQL engine evaluates on.
//!
//! [`Queryable`] is what the engine needs from storage: the series matching a set of label
//! matchers, with their samples in a closed time range: [`Queryable::select`] for float
//! samples, [`Queryable::select_series`] for float and native histogram samples
//! ([`SelectedSeries`], like Prometheus's `promql.Series`). [`Store`] (the embedded store) and
//! [`model::ModelStorage`] (a naive reference used by tests) implement it.
//!
//! Matchers are `promql_parser`'s own ([`Matcher`]): regexes are already anchored and compiled
//! by the parser. As in Prometheus, a matcher that matches the empty string also matches series
//! that lack the label (`{foo=""}` selects series without `foo`).
//!
//! # The embedded store
//! - `head.rs`: the in-memory head, a series registry keyed by labels, each series a list of
//!   compressed chunks (`chunk.rs`: Gorilla-style timestamps, decimal values as scaled
//!   integers with an XOR fallback; ~120 samples each, bit-exact floats), and an
//!   inverted index (`index.rs`: label name → value → sorted postings) that evaluates regex
//!   matchers once per distinct label value.
//! - Native histogram samples ([`HistogramSample`], an `Arc<FloatHistogram>` each) are kept
//!   beside the head as a plain sorted list per series ([`Store::append_histograms`]), logged
//!   and checkpointed like float samples, dropped by retention (not by the memory bound). On
//!   append their counter reset hints are set as Prometheus's TSDB reads them back.
//! - `wal.rs`: the write-ahead log (CRC32C-framed records in segment files, group-committed
//!   fsync) and checkpoints that bound it; its module doc describes the on-disk format.
//! - Bounds: [`Store::enforce_retention`] drops data older than the retention (call it
//!   periodically; it is one comparison when there is nothing to drop), and every append
//!   that takes the head over [`StoreOptions::max_bytes`] drops the oldest chunks first.
//!
//! Locking: one reader-writer lock over the head. Appends take it for writing while they apply
//! their batch and queue its log record (so log order is apply order), then release it and wait
//! for the fsync outside it, sharing it with concurrent appenders. Queries take it for reading.
//! Samples become visible to queries when applied, shortly before `append` returns.

use crate::histogram::FloatHistogram;
use harrier_telemetry::model::{Labels, Sample, Series};
pub use promql_parser::label::{MatchOp, Matcher};
use std::fs::{File, TryLockError};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

mod chunk;
mod head;
mod index;
pub mod model;
#[cfg(test)]
mod tests;
mod wal;

use head::Head;
use wal::{BatchRecord, Payload, Wal};

/// A native histogram sample.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSample {
    pub timestamp_ms: i64,
    pub histogram: Arc<FloatHistogram>,
}

/// A selected series: its float samples and its native histogram samples, each oldest first
/// (a timestamp holds at most one of the two).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SelectedSeries {
    pub labels: Labels,
    pub floats: Vec<Sample>,
    pub histograms: Vec<HistogramSample>,
}

/// Read access to series data: what the PromQL engine and the query API evaluate on.
pub trait Queryable: Send + Sync {
    /// Every series matching all `matchers`, with its samples whose timestamps lie in
    /// `[mint, maxt]` (milliseconds, both inclusive), oldest first, staleness markers
    /// (`harrier_telemetry::model::is_stale_nan`) included. Series with no sample in the range
    /// are left out. Series are sorted by labels.
    fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<Series>, StoreError>;

    /// As [`Queryable::select`], with native histogram samples too: every series matching
    /// `matchers` with a float or histogram sample in `[mint, maxt]`, sorted by labels. What the
    /// PromQL engine reads. The default has no histograms (storages without them).
    fn select_series(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<SelectedSeries>, StoreError> {
        Ok(self
            .select(matchers, mint, maxt)?
            .into_iter()
            .map(|s| SelectedSeries { labels: s.labels, floats: s.samples, histograms: Vec::new() })
            .collect())
    }

    /// The label names of the series matching `matchers` (all series if empty) that have
    /// samples in `[mint, maxt]`, sorted and deduplicated.
    fn label_names(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<String>, StoreError>;

    /// The values of label `name` over the series matching `matchers` (all if empty) that have
    /// samples in `[mint, maxt]`, sorted and deduplicated; empty values are left out.
    fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<String>, StoreError>;

    /// The label sets of the series matching `matchers` that have samples in `[mint, maxt]`,
    /// sorted.
    fn series(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<Labels>, StoreError> {
        Ok(self.select(matchers, mint, maxt)?.into_iter().map(|s| s.labels).collect())
    }
}

/// Whether a series' labels satisfy every matcher (a missing label reads as the empty string).
pub fn matches_all(labels: &Labels, matchers: &[Matcher]) -> bool {
    matchers.iter().all(|m| m.is_match(labels.get(&m.name).unwrap_or("")))
}

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store I/O error on {path}: {source}")]
    Io { path: std::path::PathBuf, source: std::io::Error },
    #[error("query matches too many series ({count}, the limit is {limit})")]
    TooManySeries { count: usize, limit: usize },
    #[error("{0}")]
    Other(String),
    #[error("write-ahead log write failed, the batch is not durable: {0}")]
    WalWrite(String),
    #[error("store directory {dir} is in use by another process")]
    Locked { dir: PathBuf },
}

/// Options of [`Store::open`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOptions {
    /// Where the write-ahead log and checkpoints live; `None` keeps everything in memory only.
    pub dir: Option<PathBuf>,
    /// How long samples are kept, measured back from the `now` given to
    /// [`Store::enforce_retention`]. `Duration::MAX` keeps everything.
    pub retention: Duration,
    /// Memory bound for sample data and index; past it the oldest chunks are dropped.
    pub max_bytes: u64,
    /// Log bytes after which the head is checkpointed and the log truncated (the threshold is
    /// at least the size of the last checkpoint, so rewriting costs at most the log it saves).
    pub checkpoint_bytes: u64,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            dir: None,
            retention: Duration::from_secs(2 * 24 * 3600),
            max_bytes: 1 << 30,
            checkpoint_bytes: 256 << 20,
        }
    }
}

/// What one [`Store::append`] did with its samples.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct AppendOutcome {
    /// Samples stored.
    pub appended: u64,
    /// Samples equal (timestamp and value bits) to their series' last one: accepted, no-op.
    pub identical_duplicates: u64,
    /// Rejected: older than their series' last sample (Prometheus's "out of order sample").
    pub out_of_order: u64,
    /// Rejected: at their series' last timestamp with another value (Prometheus's "duplicate
    /// sample for timestamp").
    pub duplicate_timestamp: u64,
    /// Rejected: older than the retention cutoff.
    pub too_old: u64,
}

impl AppendOutcome {
    /// Samples rejected, for any reason.
    pub fn rejected(&self) -> u64 {
        self.out_of_order + self.duplicate_timestamp + self.too_old
    }
}

/// Data removed by retention or by the memory bound.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Dropped {
    pub series: u64,
    pub chunks: u64,
    pub samples: u64,
}

impl From<head::Evicted> for Dropped {
    fn from(e: head::Evicted) -> Self {
        Dropped { series: e.series, chunks: e.chunks, samples: e.samples }
    }
}

/// A snapshot of the store's size and counters.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct StoreStats {
    pub series: u64,
    pub samples: u64,
    pub chunks: u64,
    /// Encoded chunk bytes plus per-chunk bookkeeping.
    pub chunk_bytes: u64,
    /// The inverted index plus per-series bookkeeping (labels, registry entries).
    pub index_bytes: u64,
    /// `chunk_bytes / samples`: what sample data costs.
    pub bytes_per_sample: f64,
    /// `(chunk_bytes + index_bytes) / samples`: everything the memory bound counts.
    pub total_bytes_per_sample: f64,
    /// Removed to stay under the memory bound, since open.
    pub evicted: Dropped,
    /// Removed by retention, since open.
    pub expired: Dropped,
    /// Corrupt or torn log/checkpoint records skipped at open.
    pub wal_corrupt_records: u64,
    /// Bytes in log segments since the last checkpoint.
    pub wal_segment_bytes: u64,
    /// Checkpoints written since open (including the one at open).
    pub checkpoints: u64,
    /// Series with native histogram samples, and those samples (not in `series`/`samples`).
    pub histogram_series: u64,
    pub histogram_samples: u64,
}

/// The embedded time-series store. Cheap to share: wrap it in an `Arc`; every method takes
/// `&self`.
#[derive(Debug)]
pub struct Store {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    head: RwLock<Head>,
    /// Native histogram samples, per series, beside the head (see [`Store::append_histograms`]).
    histograms: RwLock<HistogramSeries>,
    retention_ms: i64,
    wal: Option<Wal>,
    checkpoint_bytes: u64,
    last_checkpoint_bytes: AtomicU64,
    checkpoint_lock: Mutex<()>,
    checkpoint_running: AtomicBool,
    /// The background checkpoint, joined when the store is dropped.
    checkpoint_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    checkpoints: AtomicU64,
    corrupt_records: u64,
    /// Holds the directory's OS lock while open.
    _dir_lock: Option<File>,
}

impl Inner {
    fn read_head(&self) -> RwLockReadGuard<'_, Head> {
        self.head.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write_head(&self) -> RwLockWriteGuard<'_, Head> {
        self.head.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn read_histograms(&self) -> RwLockReadGuard<'_, HistogramSeries> {
        self.histograms.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write_histograms(&self) -> RwLockWriteGuard<'_, HistogramSeries> {
        self.histograms.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Writes a checkpoint of the head and deletes the log it replaces.
    fn checkpoint(&self) -> Result<(), StoreError> {
        let _one_at_a_time = wal::lock(&self.checkpoint_lock);
        let Some(wal) = &self.wal else { return Ok(()) };
        let (number, snapshot, histograms) = {
            let head = self.write_head();
            (wal.cut()?, head.snapshot(), self.read_histograms().snapshot())
        };
        let size = wal::write_checkpoint(wal.dir(), number, &snapshot, &histograms)?;
        drop(snapshot);
        drop(histograms);
        wal::remove_before(wal.dir(), number)?;
        self.last_checkpoint_bytes.store(size, Ordering::Relaxed);
        self.checkpoints.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// Loads the newest complete checkpoint and replays the log after it into `head`. Returns the
/// number the next checkpoint and segment take.
fn replay(
    dir: &std::path::Path,
    head: &mut Head,
    histograms: &mut HistogramSeries,
    corrupt: &mut u64,
) -> Result<u64, StoreError> {
    let listing = wal::list_dir(dir)?;
    let next_number = listing.segments.iter().chain(&listing.checkpoints).max().map_or(0, |n| n + 1);
    let mut ids = std::collections::HashMap::new();
    let mut first_segment = 0;
    for &number in listing.checkpoints.iter().rev() {
        if let Some(checkpoint) = wal::read_checkpoint(dir, number, corrupt)? {
            for (labels, samples) in checkpoint.histograms {
                histograms.replay(&labels, samples);
            }
            for series in checkpoint.series {
                let logged_id = series.id;
                if let Some(id) = head.load_snapshot_series(series) {
                    ids.insert(logged_id, id);
                }
            }
            first_segment = number;
            break;
        }
    }
    for &number in listing.segments.iter().filter(|&&n| n >= first_segment) {
        for payload in wal::read_segment(dir, number, corrupt)? {
            match wal::parse_payload(&payload) {
                Some(Payload::Histograms { labels, samples }) => histograms.replay(&labels, samples),
                Some(Payload::Batch { series, samples }) => {
                    for (logged_id, labels) in series {
                        ids.insert(logged_id, head.get_or_create(&labels));
                    }
                    for (logged_id, timestamp, bits) in samples {
                        if let Some(&id) = ids.get(&logged_id) {
                            head.append_replayed(id, timestamp, bits);
                        }
                    }
                }
                _ => {
                    *corrupt += 1;
                    tracing::warn!(segment = number, "malformed write-ahead log record skipped");
                }
            }
        }
    }
    head.remove_empty_series();
    Ok(next_number)
}

impl Store {
    /// Opens the store: with a directory, takes its lock, loads the last checkpoint, replays
    /// the log (skipping and counting corrupt records), applies retention and the memory
    /// bound, writes a fresh checkpoint and starts a new log segment.
    pub fn open(options: StoreOptions) -> Result<Store, StoreError> {
        let retention_ms = i64::try_from(options.retention.as_millis()).unwrap_or(i64::MAX);
        let mut head = Head::new(retention_ms, options.max_bytes);
        let mut histograms = HistogramSeries::default();
        let mut inner = Inner {
            head: RwLock::new(Head::new(retention_ms, options.max_bytes)),
            histograms: RwLock::new(HistogramSeries::default()),
            retention_ms,
            wal: None,
            checkpoint_bytes: options.checkpoint_bytes,
            last_checkpoint_bytes: AtomicU64::new(0),
            checkpoint_lock: Mutex::new(()),
            checkpoint_running: AtomicBool::new(false),
            checkpoint_thread: Mutex::new(None),
            checkpoints: AtomicU64::new(0),
            corrupt_records: 0,
            _dir_lock: None,
        };
        if let Some(dir) = &options.dir {
            let io = |path: PathBuf| move |source| StoreError::Io { path, source };
            std::fs::create_dir_all(dir).map_err(io(dir.clone()))?;
            let lock_path = dir.join(wal::LOCK_FILE);
            let lock_file = File::options()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&lock_path)
                .map_err(io(lock_path.clone()))?;
            match lock_file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => return Err(StoreError::Locked { dir: dir.clone() }),
                Err(TryLockError::Error(source)) => return Err(StoreError::Io { path: lock_path, source }),
            }
            inner._dir_lock = Some(lock_file);
            let mut corrupt = 0;
            let number = replay(dir, &mut head, &mut histograms, &mut corrupt)?;
            if corrupt > 0 {
                tracing::warn!(dir = %dir.display(), corrupt_records = corrupt, "store recovered with corrupt records skipped");
            }
            let now = harrier_telemetry::model::now_ms();
            head.enforce_retention(now);
            histograms.drop_before(now.saturating_sub(retention_ms));
            head.enforce_memory_bound();
            let size = wal::write_checkpoint(dir, number, &head.snapshot(), &histograms.snapshot())?;
            wal::remove_before(dir, number)?;
            inner.wal = Some(Wal::create(dir, number)?);
            inner.corrupt_records = corrupt;
            inner.last_checkpoint_bytes = AtomicU64::new(size);
            inner.checkpoints = AtomicU64::new(1);
        }
        inner.head = RwLock::new(head);
        inner.histograms = RwLock::new(histograms);
        Ok(Store { inner: Arc::new(inner) })
    }

    /// A memory-only store without retention limit and with the default memory bound.
    pub fn in_memory() -> Store {
        let options = StoreOptions { retention: Duration::MAX, ..StoreOptions::default() };
        Store {
            inner: Arc::new(Inner {
                head: RwLock::new(Head::new(i64::MAX, options.max_bytes)),
                histograms: RwLock::new(HistogramSeries::default()),
                retention_ms: i64::MAX,
                wal: None,
                checkpoint_bytes: options.checkpoint_bytes,
                last_checkpoint_bytes: AtomicU64::new(0),
                checkpoint_lock: Mutex::new(()),
                checkpoint_running: AtomicBool::new(false),
                checkpoint_thread: Mutex::new(None),
                checkpoints: AtomicU64::new(0),
                corrupt_records: 0,
                _dir_lock: None,
            }),
        }
    }

    /// Appends a batch. Per series, samples must come in timestamp order (see
    /// [`AppendOutcome`] for what is rejected and why; rejections are not errors). With a
    /// directory, returns once the batch is durable (fsynced, shared with concurrent
    /// appenders). An error means the log write failed: the batch is applied in memory but may
    /// not survive a restart.
    pub fn append(&self, batch: &[Series]) -> Result<AppendOutcome, StoreError> {
        let (outcome, sequence) = self.append_logged(batch);
        if let Some(sequence) = sequence {
            self.wait_durable(sequence)?;
        }
        Ok(outcome)
    }

    /// As [`Store::append`], but returns without waiting for the log write: the batch is
    /// visible to queries at once and becomes durable with the next [`Store::sync`] (or the
    /// next durable append of anyone). For writers that append many small batches and need
    /// durability only at the end of a unit of work (rule output: one sync per group
    /// evaluation rather than one per rule).
    pub fn append_buffered(&self, batch: &[Series]) -> AppendOutcome {
        self.append_logged(batch).0
    }

    /// Makes everything appended so far durable (a no-op without a directory).
    pub fn sync(&self) -> Result<(), StoreError> {
        match &self.inner.wal {
            Some(wal) => self.wait_durable(wal.queued_through()),
            None => Ok(()),
        }
    }

    /// Applies `batch` to the head and queues its log record; returns the record's sequence.
    fn append_logged(&self, batch: &[Series]) -> (AppendOutcome, Option<u64>) {
        let inner = &self.inner;
        let mut head = inner.write_head();
        let mut record = inner.wal.as_ref().map(|_| BatchRecord::default());
        let outcome = head.append(batch, record.as_mut());
        let sequence = match (&inner.wal, record.and_then(BatchRecord::finish)) {
            (Some(wal), Some(framed)) => Some(wal.enqueue(&framed)),
            _ => None,
        };
        head.enforce_memory_bound();
        (outcome, sequence)
    }

    /// Waits until log record `sequence` is durable, then starts a background checkpoint if
    /// the log has outgrown its threshold.
    fn wait_durable(&self, sequence: u64) -> Result<(), StoreError> {
        let inner = &self.inner;
        let Some(wal) = &inner.wal else { return Ok(()) };
        wal.wait_durable(sequence)?;
        let threshold = inner.checkpoint_bytes.max(inner.last_checkpoint_bytes.load(Ordering::Relaxed));
        if wal.segment_bytes() > threshold
            && inner
                .checkpoint_running
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            let background = Arc::clone(inner);
            let thread = std::thread::spawn(move || {
                if let Err(error) = background.checkpoint() {
                    tracing::warn!(%error, "store checkpoint failed; the log is kept");
                }
                background.checkpoint_running.store(false, Ordering::Release);
            });
            // The previous thread, if any, has finished (the flag was clear).
            if let Some(previous) = wal::lock(&inner.checkpoint_thread).replace(thread) {
                let _ = previous.join();
            }
        }
        Ok(())
    }

    /// Writes a checkpoint of the head now and truncates the log (normally done in the
    /// background as the log grows). A no-op without a directory.
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        self.inner.checkpoint()
    }

    /// Removes every series (durably, when there is a directory).
    pub fn clear(&self) {
        let mut head = self.inner.write_head();
        head.clear();
        self.inner.write_histograms().clear();
        if let Some(wal) = &self.inner.wal {
            let result = wal.cut().and_then(|number| {
                wal::write_checkpoint(wal.dir(), number, &[], &[])?;
                wal::remove_before(wal.dir(), number)
            });
            if let Err(error) = result {
                tracing::error!(%error, "store clear could not truncate its log: old data may return after a restart");
            }
        }
    }

    /// Drops the data older than `now_ms` minus the retention, and rejects such samples from
    /// now on. Cheap when there is nothing to drop (call it, say, every minute).
    pub fn enforce_retention(&self, now_ms: i64) -> Dropped {
        let mut dropped: Dropped = self.inner.write_head().enforce_retention(now_ms).into();
        let cutoff = now_ms.saturating_sub(self.inner.retention_ms);
        let histogram_dropped = self.inner.write_histograms().drop_before(cutoff);
        dropped.samples += histogram_dropped.samples;
        dropped.series += histogram_dropped.series;
        dropped
    }

    /// Appends native histogram samples (oldest first) to series `labels`. As for floats, a
    /// sample older than the series' last histogram sample is rejected as out of order, one at
    /// its timestamp as a duplicate (unless identical). Histogram samples are kept beside the
    /// head, as a plain list per series, and logged (and checkpointed) like float samples:
    /// with a directory, returns once they are durable. They do not count towards the memory
    /// bound.
    pub fn append_histograms(
        &self,
        labels: &Labels,
        samples: &[HistogramSample],
    ) -> Result<AppendOutcome, StoreError> {
        let inner = &self.inner;
        let (outcome, sequence) = {
            // The head's lock orders this record with float batches and checkpoints.
            let _head = inner.write_head();
            let mut logged = inner.wal.as_ref().map(|_| Vec::new());
            let outcome = inner.write_histograms().append(labels, samples, logged.as_mut());
            let sequence = match (&inner.wal, logged) {
                (Some(wal), Some(logged)) if !logged.is_empty() => {
                    Some(wal.enqueue(&wal::histogram_record(labels, &logged)))
                }
                _ => None,
            };
            (outcome, sequence)
        };
        if let (Some(wal), Some(sequence)) = (&inner.wal, sequence) {
            wal.wait_durable(sequence)?;
        }
        Ok(outcome)
    }

    pub fn stats(&self) -> StoreStats {
        let (histogram_series, histogram_samples) = self.inner.read_histograms().counts();
        let head = self.inner.read_head();
        let samples = head.sample_count();
        let per_sample = |bytes: u64| if samples == 0 { 0.0 } else { bytes as f64 / samples as f64 };
        StoreStats {
            series: head.series_count() as u64,
            samples,
            chunks: head.chunk_count(),
            chunk_bytes: head.chunk_bytes(),
            index_bytes: head.index_bytes(),
            bytes_per_sample: per_sample(head.chunk_bytes()),
            total_bytes_per_sample: per_sample(head.total_bytes()),
            evicted: head.evicted.into(),
            expired: head.expired.into(),
            wal_corrupt_records: self.inner.corrupt_records,
            wal_segment_bytes: self.inner.wal.as_ref().map_or(0, Wal::segment_bytes),
            checkpoints: self.inner.checkpoints.load(Ordering::Relaxed),
            histogram_series,
            histogram_samples,
        }
    }
}

impl Drop for Store {
    /// Waits for a background checkpoint, so the directory is free once the store is gone.
    fn drop(&mut self) {
        if let Some(thread) = wal::lock(&self.inner.checkpoint_thread).take() {
            let _ = thread.join();
        }
    }
}

/// Native histogram samples by series (labels), each list oldest first.
#[derive(Debug, Default)]
pub(crate) struct HistogramSeries {
    series: std::collections::BTreeMap<Labels, Vec<HistogramSample>>,
}

impl HistogramSeries {
    pub(crate) fn clear(&mut self) {
        self.series.clear();
    }

    /// Appends in order, rejecting out-of-order and conflicting samples; the samples stored
    /// (with the counter reset hints they read back with) are also pushed to `logged`.
    pub(crate) fn append(
        &mut self,
        labels: &Labels,
        samples: &[HistogramSample],
        mut logged: Option<&mut Vec<HistogramSample>>,
    ) -> AppendOutcome {
        let mut outcome = AppendOutcome::default();
        if samples.is_empty() {
            return outcome;
        }
        let stored = self.series.entry(labels.clone()).or_default();
        for sample in samples {
            match stored.last() {
                Some(last) if sample.timestamp_ms < last.timestamp_ms => outcome.out_of_order += 1,
                Some(last) if sample.timestamp_ms == last.timestamp_ms => {
                    if last.histogram.equals(&sample.histogram) {
                        outcome.identical_duplicates += 1;
                    } else {
                        outcome.duplicate_timestamp += 1;
                    }
                }
                previous => {
                    let mut sample = sample.clone();
                    if let Some(hint) = stored_hint(previous.map(|p| &*p.histogram), &sample.histogram)
                        && hint != sample.histogram.counter_reset_hint
                    {
                        let mut histogram = (*sample.histogram).clone();
                        histogram.counter_reset_hint = hint;
                        sample.histogram = Arc::new(histogram);
                    }
                    if let Some(logged) = logged.as_deref_mut() {
                        logged.push(sample.clone());
                    }
                    stored.push(sample);
                    outcome.appended += 1;
                }
            }
        }
        if stored.is_empty() {
            self.series.remove(labels);
        }
        outcome
    }

    /// Re-adds logged samples as they were stored (newer than the series' last one only).
    pub(crate) fn replay(&mut self, labels: &Labels, samples: Vec<HistogramSample>) {
        let stored = self.series.entry(labels.clone()).or_default();
        for sample in samples {
            if stored.last().is_none_or(|last| last.timestamp_ms < sample.timestamp_ms) {
                stored.push(sample);
            }
        }
        if stored.is_empty() {
            self.series.remove(labels);
        }
    }

    /// Every series with its samples, for a checkpoint.
    pub(crate) fn snapshot(&self) -> Vec<(Labels, Vec<HistogramSample>)> {
        self.series.iter().map(|(labels, samples)| (labels.clone(), samples.clone())).collect()
    }

    /// Drops the samples older than `cutoff`.
    pub(crate) fn drop_before(&mut self, cutoff: i64) -> Dropped {
        let mut dropped = Dropped::default();
        self.series.retain(|_, samples| {
            let keep_from = samples.partition_point(|s| s.timestamp_ms < cutoff);
            dropped.samples += keep_from as u64;
            samples.drain(..keep_from);
            if samples.is_empty() {
                dropped.series += 1;
            }
            !samples.is_empty()
        });
        dropped
    }

    /// The series matching `matchers` with samples in `[mint, maxt]`, with those samples.
    pub(crate) fn select(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Vec<(Labels, Vec<HistogramSample>)> {
        self.series
            .iter()
            .filter(|(labels, _)| matches_all(labels, matchers))
            .filter_map(|(labels, samples)| {
                let from = samples.partition_point(|s| s.timestamp_ms < mint);
                let to = samples.partition_point(|s| s.timestamp_ms <= maxt);
                (from < to).then(|| (labels.clone(), samples[from..to].to_vec()))
            })
            .collect()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// (series, samples).
    pub(crate) fn counts(&self) -> (u64, u64) {
        (self.series.len() as u64, self.series.values().map(|s| s.len() as u64).sum())
    }
}

/// The counter reset hint a histogram reads back with, as from Prometheus's TSDB chunks: the
/// first of a series keeps its own; after another histogram, a gauge stays a gauge, a
/// counter histogram hinted `CounterReset` keeps it, one that resets against the previous one
/// reads as `Unknown` (the first sample of a new chunk), any other as `NotCounterReset`.
/// `None`: unchanged.
fn stored_hint(
    previous: Option<&FloatHistogram>,
    current: &FloatHistogram,
) -> Option<crate::histogram::CounterResetHint> {
    use crate::histogram::CounterResetHint;
    let previous = previous?;
    match current.counter_reset_hint {
        CounterResetHint::Gauge | CounterResetHint::CounterReset => None,
        _ if previous.is_gauge() => None,
        // A reset starts a new chunk, whose first sample reads back as `Unknown`
        // (prometheus/prometheus#15346).
        _ if current.detect_reset(previous) => Some(CounterResetHint::Unknown),
        _ => Some(CounterResetHint::NotCounterReset),
    }
}

/// Merges float series (sorted by labels) with histogram series (sorted by labels) into
/// selected series, sorted by labels.
pub(crate) fn merge_selected(
    floats: Vec<Series>,
    histograms: Vec<(Labels, Vec<HistogramSample>)>,
) -> Vec<SelectedSeries> {
    let mut out: Vec<SelectedSeries> = floats
        .into_iter()
        .map(|s| SelectedSeries { labels: s.labels, floats: s.samples, histograms: Vec::new() })
        .collect();
    if histograms.is_empty() {
        return out;
    }
    for (labels, samples) in histograms {
        match out.binary_search_by(|s| s.labels.cmp(&labels)) {
            Ok(i) => out[i].histograms = samples,
            Err(i) => out.insert(i, SelectedSeries { labels, floats: Vec::new(), histograms: samples }),
        }
    }
    out
}

impl Queryable for Store {
    fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<Series>, StoreError> {
        Ok(self.inner.read_head().select(matchers, mint, maxt))
    }

    fn select_series(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<SelectedSeries>, StoreError> {
        let floats = self.inner.read_head().select(matchers, mint, maxt);
        let histograms = self.inner.read_histograms();
        let histograms =
            if histograms.is_empty() { Vec::new() } else { histograms.select(matchers, mint, maxt) };
        Ok(merge_selected(floats, histograms))
    }

    fn label_names(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<String>, StoreError> {
        let mut names = self.inner.read_head().label_names(matchers, mint, maxt);
        let histograms = self.inner.read_histograms();
        if !histograms.is_empty() {
            for (labels, _) in histograms.select(matchers, mint, maxt) {
                names.extend(labels.iter().map(|l| l.name.to_string()));
            }
            names.sort();
            names.dedup();
        }
        Ok(names)
    }

    fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<String>, StoreError> {
        let mut values = self.inner.read_head().label_values(name, matchers, mint, maxt);
        let histograms = self.inner.read_histograms();
        if !histograms.is_empty() {
            for (labels, _) in histograms.select(matchers, mint, maxt) {
                values.extend(labels.get(name).filter(|v| !v.is_empty()).map(str::to_string));
            }
            values.sort();
            values.dedup();
        }
        Ok(values)
    }

    fn series(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<Labels>, StoreError> {
        let mut series = self.inner.read_head().series_labels(matchers, mint, maxt);
        let histograms = self.inner.read_histograms();
        if !histograms.is_empty() {
            series.extend(histograms.select(matchers, mint, maxt).into_iter().map(|(labels, _)| labels));
            series.sort();
            series.dedup();
        }
        Ok(series)
    }
}
