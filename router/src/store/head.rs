//! The in-memory head: the series registry, each series' compressed chunks, the inverted
//! index, and the rules that keep it bounded (retention, memory bound).
//!
//! A series lives in a slot of `series` (its [`SeriesId`]; freed slots are reused), is found by
//! its labels through a hash map (`Labels` hashes its packed buffer), and holds a list of closed
//! chunks (immutable, shared `Arc<[u8]>`, so checkpoints copy them for the price of a reference
//! count) plus the open chunk being appended to. A chunk is closed at
//! [`chunk::SAMPLES_PER_CHUNK`] samples.
//!
//! Append semantics are Prometheus's: per series, timestamps must increase; a sample at the
//! last timestamp with the same value bits is a no-op, with other bits it is rejected as a
//! duplicate; samples before the retention cutoff (set by [`Head::enforce_retention`]) are
//! rejected as too old.
//!
//! Memory accounting is incremental: chunk bytes (encoded bytes, allocation capacity for the
//! open chunk, plus per-chunk bookkeeping), index bytes (estimated by the index) and per-series
//! bytes (labels, map entries, the series struct).

use super::chunk::{self, ChunkEncoder};
use super::index::{Index, SeriesId};
use super::wal::BatchRecord;
use super::{AppendOutcome, Matcher};
use harrier_telemetry::model::{Labels, Sample, Series};
use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap};
use std::sync::Arc;

/// An immutable, full chunk.
#[derive(Debug, Clone)]
pub(super) struct ClosedChunk {
    pub min_t: i64,
    pub max_t: i64,
    pub data: Arc<[u8]>,
}

/// Bookkeeping bytes per closed chunk beyond its data: the struct and the `Arc` counters.
const CLOSED_CHUNK_OVERHEAD: usize = size_of::<ClosedChunk>() + 2 * size_of::<usize>();

impl ClosedChunk {
    pub(super) fn new(min_t: i64, max_t: i64, data: Arc<[u8]>) -> Self {
        ClosedChunk { min_t, max_t, data }
    }

    fn bytes(&self) -> usize {
        self.data.len() + CLOSED_CHUNK_OVERHEAD
    }

    fn samples(&self) -> u64 {
        u64::from(chunk::sample_count(&self.data))
    }
}

#[derive(Debug)]
struct MemSeries {
    labels: Labels,
    closed: Vec<ClosedChunk>,
    open: Option<ChunkEncoder>,
    last_t: i64,
    last_v: u64,
}

impl MemSeries {
    fn min_t(&self) -> i64 {
        match (self.closed.first(), &self.open) {
            (Some(first), _) => first.min_t,
            (None, Some(open)) => open.min_t(),
            (None, None) => self.last_t,
        }
    }

    fn overlaps(&self, mint: i64, maxt: i64) -> bool {
        self.last_t >= mint && self.min_t() <= maxt
    }

    fn has_data(&self) -> bool {
        !self.closed.is_empty() || self.open.is_some()
    }

    /// The samples in `[mint, maxt]`, oldest first.
    fn samples_in(&self, mint: i64, maxt: i64, out: &mut Vec<Sample>) {
        let mut push = |bytes: &[u8]| {
            for (timestamp_ms, bits) in chunk::decode(bytes) {
                if timestamp_ms > maxt {
                    break;
                }
                if timestamp_ms >= mint {
                    out.push(Sample { timestamp_ms, value: f64::from_bits(bits) });
                }
            }
        };
        let start = self.closed.partition_point(|c| c.max_t < mint);
        for closed in self.closed[start..].iter().take_while(|c| c.min_t <= maxt) {
            push(&closed.data);
        }
        if let Some(open) = &self.open
            && open.count() > 0
            && open.max_t() >= mint
            && open.min_t() <= maxt
        {
            push(open.bytes());
        }
    }
}

/// The fields of a packed label set (see `Labels`' representation: remote_write `Label`
/// messages) as (name bytes, value bytes), without the UTF-8 checks `Labels::iter` makes.
fn raw_labels(encoded: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    fn varint(bytes: &[u8], position: &mut usize) -> Option<usize> {
        let mut value = 0usize;
        for shift in (0..64).step_by(7) {
            let byte = *bytes.get(*position)?;
            *position += 1;
            value |= usize::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Some(value);
            }
        }
        None
    }
    let mut position = 0;
    std::iter::from_fn(move || {
        position += 1; // the field key of a label
        let len = varint(encoded, &mut position)?;
        let body = encoded.get(position..position.checked_add(len)?)?;
        position += len;
        let (mut name, mut value): (&[u8], &[u8]) = (&[], &[]);
        let mut at = 0;
        while at < body.len() {
            let key = body[at];
            at += 1;
            let n = varint(body, &mut at)?;
            let field = body.get(at..at.checked_add(n)?)?;
            at += n;
            if key == 0x0a {
                name = field;
            } else {
                value = field;
            }
        }
        Some((name, value))
    })
}

/// `Labels`' order (lexicographic over (name, value) pairs; byte order of UTF-8 is string
/// order), faster: sorting 100k selected series is a large part of a big select.
pub(super) fn compare_labels(a: &Labels, b: &Labels) -> std::cmp::Ordering {
    if Labels::ptr_eq(a, b) {
        return std::cmp::Ordering::Equal;
    }
    raw_labels(a.encoded()).cmp(raw_labels(b.encoded()))
}

/// A series as a checkpoint stores it.
#[derive(Debug)]
pub(super) struct SnapshotSeries {
    pub id: SeriesId,
    pub labels: Labels,
    pub last_t: i64,
    pub last_v: u64,
    pub closed: Vec<ClosedChunk>,
    pub open: Option<Arc<[u8]>>,
}

/// What one eviction pass threw away.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Evicted {
    pub chunks: u64,
    pub samples: u64,
    pub series: u64,
}

#[derive(Debug)]
pub(super) struct Head {
    series: Vec<Option<MemSeries>>,
    free: Vec<SeriesId>,
    by_labels: HashMap<Labels, SeriesId, foldhash::fast::RandomState>,
    index: Index,
    samples: u64,
    chunks: u64,
    chunk_bytes: u64,
    series_bytes: u64,
    /// A lower bound of the oldest sample timestamp (exact after a retention pass).
    min_t: i64,
    /// Samples before this are rejected (the last retention cutoff).
    retention_cutoff: i64,
    retention_ms: i64,
    max_bytes: u64,
    /// Totals thrown away to stay under the memory bound.
    pub evicted: Evicted,
    /// Totals removed by retention.
    pub expired: Evicted,
}

/// Size of a series' bookkeeping beyond its chunks.
fn series_overhead(labels: &Labels) -> u64 {
    (labels.byte_size() + size_of::<Option<MemSeries>>() + size_of::<(Labels, SeriesId, u64)>() + 16) as u64
}

enum Verdict {
    Accept,
    Identical,
    OutOfOrder,
    Duplicate,
    TooOld,
}

impl Head {
    pub(super) fn new(retention_ms: i64, max_bytes: u64) -> Self {
        Head {
            series: Vec::new(),
            free: Vec::new(),
            by_labels: HashMap::default(),
            index: Index::default(),
            samples: 0,
            chunks: 0,
            chunk_bytes: 0,
            series_bytes: 0,
            min_t: i64::MAX,
            retention_cutoff: i64::MIN,
            retention_ms,
            max_bytes,
            evicted: Evicted::default(),
            expired: Evicted::default(),
        }
    }

    pub(super) fn clear(&mut self) {
        let (evicted, expired) = (self.evicted, self.expired);
        *self = Head { evicted, expired, ..Head::new(self.retention_ms, self.max_bytes) };
    }

    pub(super) fn series_count(&self) -> usize {
        self.by_labels.len()
    }

    pub(super) fn sample_count(&self) -> u64 {
        self.samples
    }

    pub(super) fn chunk_count(&self) -> u64 {
        self.chunks
    }

    pub(super) fn chunk_bytes(&self) -> u64 {
        self.chunk_bytes
    }

    pub(super) fn index_bytes(&self) -> u64 {
        self.index.bytes() as u64 + self.series_bytes
    }

    pub(super) fn total_bytes(&self) -> u64 {
        self.chunk_bytes + self.index_bytes()
    }

    fn get(&self, id: SeriesId) -> Option<&MemSeries> {
        self.series.get(id as usize).and_then(Option::as_ref)
    }

    fn verdict(&self, id: Option<SeriesId>, timestamp: i64, bits: u64) -> Verdict {
        if timestamp < self.retention_cutoff {
            return Verdict::TooOld;
        }
        let Some(series) = id.and_then(|id| self.get(id)) else { return Verdict::Accept };
        if timestamp > series.last_t {
            Verdict::Accept
        } else if timestamp < series.last_t {
            Verdict::OutOfOrder
        } else if bits == series.last_v {
            Verdict::Identical
        } else {
            Verdict::Duplicate
        }
    }

    /// Creates a series (in a free slot when there is one).
    fn create(&mut self, labels: &Labels) -> SeriesId {
        let fresh =
            MemSeries { labels: labels.clone(), closed: Vec::new(), open: None, last_t: i64::MIN, last_v: 0 };
        let id = match self.free.pop() {
            Some(id) => {
                self.series[id as usize] = Some(fresh);
                id
            }
            None => {
                self.series.push(Some(fresh));
                (self.series.len() - 1) as SeriesId
            }
        };
        self.by_labels.insert(labels.clone(), id);
        self.index.add(id, labels.iter().map(|l| (l.name, l.value)));
        self.series_bytes += series_overhead(labels);
        id
    }

    fn remove_series(&mut self, id: SeriesId) -> Evicted {
        let Some(series) = self.series.get_mut(id as usize).and_then(Option::take) else {
            return Evicted::default();
        };
        let mut removed = Evicted { series: 1, ..Evicted::default() };
        for closed in &series.closed {
            removed.chunks += 1;
            removed.samples += closed.samples();
            self.chunk_bytes = self.chunk_bytes.saturating_sub(closed.bytes() as u64);
        }
        if let Some(open) = &series.open {
            removed.chunks += 1;
            removed.samples += u64::from(open.count());
            self.chunk_bytes = self.chunk_bytes.saturating_sub((open.heap_bytes()) as u64);
        }
        self.samples = self.samples.saturating_sub(removed.samples);
        self.chunks = self.chunks.saturating_sub(removed.chunks);
        self.by_labels.remove(&series.labels);
        self.index.remove(id, series.labels.iter().map(|l| (l.name, l.value)));
        self.series_bytes = self.series_bytes.saturating_sub(series_overhead(&series.labels));
        self.free.push(id);
        removed
    }

    /// Appends one accepted sample to series `id`.
    fn push(&mut self, id: SeriesId, timestamp: i64, bits: u64) {
        let Some(series) = self.series.get_mut(id as usize).and_then(Option::as_mut) else { return };
        if series.open.as_ref().is_some_and(ChunkEncoder::is_full)
            && let Some(full) = series.open.take()
        {
            let closed = ClosedChunk::new(full.min_t(), full.max_t(), full.finish());
            self.chunk_bytes = self.chunk_bytes + closed.bytes() as u64 - full.heap_bytes() as u64;
            series.closed.push(closed);
        }
        let open = match &mut series.open {
            Some(open) => open,
            None => {
                self.chunks += 1;
                let open = series.open.insert(ChunkEncoder::new());
                self.chunk_bytes += open.heap_bytes() as u64;
                open
            }
        };
        let before = open.heap_bytes();
        open.append(timestamp, bits);
        self.chunk_bytes += (open.heap_bytes() - before) as u64;
        series.last_t = timestamp;
        series.last_v = bits;
        self.samples += 1;
        self.min_t = self.min_t.min(timestamp);
    }

    /// Applies a batch, recording what it changed in `record` when logging.
    pub(super) fn append(&mut self, batch: &[Series], mut record: Option<&mut BatchRecord>) -> AppendOutcome {
        let mut outcome = AppendOutcome::default();
        for series in batch {
            let mut id = self.by_labels.get(&series.labels).copied();
            for sample in &series.samples {
                let bits = sample.value.to_bits();
                match self.verdict(id, sample.timestamp_ms, bits) {
                    Verdict::Accept => {
                        let id = match id {
                            Some(id) => id,
                            None => {
                                let created = self.create(&series.labels);
                                if let Some(record) = record.as_deref_mut() {
                                    record.new_series(created, &series.labels);
                                }
                                *id.insert(created)
                            }
                        };
                        self.push(id, sample.timestamp_ms, bits);
                        if let Some(record) = record.as_deref_mut() {
                            record.sample(id, sample.timestamp_ms, bits);
                        }
                        outcome.appended += 1;
                    }
                    Verdict::Identical => outcome.identical_duplicates += 1,
                    Verdict::OutOfOrder => outcome.out_of_order += 1,
                    Verdict::Duplicate => outcome.duplicate_timestamp += 1,
                    Verdict::TooOld => outcome.too_old += 1,
                }
            }
        }
        outcome
    }

    /// The id of the series with `labels`, created when missing (replay).
    pub(super) fn get_or_create(&mut self, labels: &Labels) -> SeriesId {
        match self.by_labels.get(labels) {
            Some(&id) => id,
            None => self.create(labels),
        }
    }

    /// Appends one replayed sample, with the usual checks.
    pub(super) fn append_replayed(&mut self, id: SeriesId, timestamp: i64, bits: u64) {
        if self.get(id).is_some() && matches!(self.verdict(Some(id), timestamp, bits), Verdict::Accept) {
            self.push(id, timestamp, bits);
        }
    }

    /// Loads a checkpointed series. Returns its id in this head.
    pub(super) fn load_snapshot_series(&mut self, snapshot: SnapshotSeries) -> Option<SeriesId> {
        if self.by_labels.contains_key(&snapshot.labels) {
            return None;
        }
        let id = self.create(&snapshot.labels);
        let series = self.series.get_mut(id as usize).and_then(Option::as_mut)?;
        for closed in snapshot.closed {
            self.chunk_bytes += closed.bytes() as u64;
            self.samples += closed.samples();
            self.chunks += 1;
            self.min_t = self.min_t.min(closed.min_t);
            series.closed.push(closed);
        }
        series.last_t = series.closed.last().map_or(i64::MIN, |c| c.max_t);
        series.last_v = snapshot.last_v;
        if let Some(open) = snapshot.open {
            for (timestamp, bits) in chunk::decode(&open) {
                self.append_replayed(id, timestamp, bits);
            }
        }
        let series = self.series.get_mut(id as usize).and_then(Option::as_mut)?;
        if series.has_data() {
            series.last_t = series.last_t.max(snapshot.last_t);
            series.last_v = snapshot.last_v;
            Some(id)
        } else {
            self.remove_series(id);
            None
        }
    }

    /// Removes the series that hold no sample (created during replay for samples that were
    /// then rejected).
    pub(super) fn remove_empty_series(&mut self) {
        for id in 0..self.series.len() as SeriesId {
            if self.get(id).is_some_and(|s| !s.has_data()) {
                self.remove_series(id);
            }
        }
    }

    /// Every series, for a checkpoint.
    pub(super) fn snapshot(&self) -> Vec<SnapshotSeries> {
        self.series
            .iter()
            .enumerate()
            .filter_map(|(id, series)| {
                let series = series.as_ref()?;
                Some(SnapshotSeries {
                    id: id as SeriesId,
                    labels: series.labels.clone(),
                    last_t: series.last_t,
                    last_v: series.last_v,
                    closed: series.closed.clone(),
                    open: series.open.as_ref().filter(|o| o.count() > 0).map(ChunkEncoder::finish),
                })
            })
            .collect()
    }

    /// The ids of the series matching `matchers` with data in `[mint, maxt]`.
    fn matching(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<SeriesId> {
        let mut ids = self.index.select(matchers);
        ids.retain(|&id| self.get(id).is_some_and(|s| s.overlaps(mint, maxt)));
        ids
    }

    pub(super) fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<Series> {
        let mut found: Vec<&MemSeries> =
            self.matching(matchers, mint, maxt).into_iter().filter_map(|id| self.get(id)).collect();
        found.sort_unstable_by(|a, b| compare_labels(&a.labels, &b.labels));
        found
            .into_iter()
            .filter_map(|series| {
                let mut samples = Vec::new();
                series.samples_in(mint, maxt, &mut samples);
                (!samples.is_empty()).then(|| Series::new(series.labels.clone(), samples))
            })
            .collect()
    }

    pub(super) fn series_labels(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<Labels> {
        let mut labels: Vec<Labels> = self
            .matching(matchers, mint, maxt)
            .into_iter()
            .filter_map(|id| self.get(id))
            .filter(|series| {
                let mut samples = Vec::new();
                series.samples_in(mint, maxt, &mut samples);
                !samples.is_empty()
            })
            .map(|series| series.labels.clone())
            .collect();
        labels.sort_unstable();
        labels
    }

    /// Whether series `id` has a sample in `[mint, maxt]` (exact: decodes when needed).
    fn has_sample_in(&self, id: SeriesId, mint: i64, maxt: i64) -> bool {
        let Some(series) = self.get(id) else { return false };
        if !series.overlaps(mint, maxt) {
            return false;
        }
        if series.min_t() >= mint && series.last_t <= maxt {
            return true;
        }
        let mut samples = Vec::new();
        series.samples_in(mint, maxt, &mut samples);
        !samples.is_empty()
    }

    pub(super) fn label_names(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<String> {
        if matchers.is_empty() {
            let mut names: Vec<String> = self
                .index
                .names()
                .filter(|name| {
                    self.index
                        .values(name)
                        .any(|(_, ids)| ids.iter().any(|&id| self.has_sample_in(id, mint, maxt)))
                })
                .map(str::to_string)
                .collect();
            names.sort_unstable();
            return names;
        }
        let mut names = BTreeSet::new();
        for id in self.matching(matchers, mint, maxt) {
            if self.has_sample_in(id, mint, maxt)
                && let Some(series) = self.get(id)
            {
                for label in &series.labels {
                    if !names.contains(label.name) {
                        names.insert(label.name.to_string());
                    }
                }
            }
        }
        names.into_iter().collect()
    }

    pub(super) fn label_values(&self, name: &str, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<String> {
        if matchers.is_empty() {
            return self
                .index
                .values(name)
                .filter(|(value, ids)| {
                    !value.is_empty() && ids.iter().any(|&id| self.has_sample_in(id, mint, maxt))
                })
                .map(|(value, _)| value.to_string())
                .collect();
        }
        let mut values = BTreeSet::new();
        for id in self.matching(matchers, mint, maxt) {
            if let Some(value) = self.get(id).and_then(|s| s.labels.get(name))
                && !value.is_empty()
                && !values.contains(value)
                && self.has_sample_in(id, mint, maxt)
            {
                values.insert(value.to_string());
            }
        }
        values.into_iter().collect()
    }

    /// Drops the data older than `now_ms - retention`, and from now on rejects samples older
    /// than that. Cheap when nothing is old enough: one comparison.
    pub(super) fn enforce_retention(&mut self, now_ms: i64) -> Evicted {
        let cutoff = now_ms.saturating_sub(self.retention_ms);
        self.retention_cutoff = self.retention_cutoff.max(cutoff);
        let mut removed = Evicted::default();
        if self.min_t >= cutoff {
            return removed;
        }
        let mut new_min_t = i64::MAX;
        for id in 0..self.series.len() as SeriesId {
            let Some(series) = self.series.get_mut(id as usize).and_then(Option::as_mut) else { continue };
            if series.last_t < cutoff {
                let gone = self.remove_series(id);
                removed.series += gone.series;
                removed.chunks += gone.chunks;
                removed.samples += gone.samples;
                continue;
            }
            let expired = series.closed.partition_point(|c| c.max_t < cutoff);
            for closed in series.closed.drain(..expired) {
                removed.chunks += 1;
                let samples = closed.samples();
                removed.samples += samples;
                self.samples = self.samples.saturating_sub(samples);
                self.chunks = self.chunks.saturating_sub(1);
                self.chunk_bytes = self.chunk_bytes.saturating_sub(closed.bytes() as u64);
            }
            new_min_t = new_min_t.min(series.min_t());
        }
        self.min_t = new_min_t;
        self.expired.series += removed.series;
        self.expired.chunks += removed.chunks;
        self.expired.samples += removed.samples;
        removed
    }

    /// When over the memory bound, drops the oldest closed chunks (then, if that is not
    /// enough, whole series with the oldest data) until 90% of the bound.
    pub(super) fn enforce_memory_bound(&mut self) -> Evicted {
        let mut removed = Evicted::default();
        if self.total_bytes() <= self.max_bytes {
            return removed;
        }
        let target = self.max_bytes / 10 * 9;
        let mut oldest: BinaryHeap<Reverse<(i64, SeriesId)>> = self
            .series
            .iter()
            .enumerate()
            .filter_map(|(id, s)| Some(Reverse((s.as_ref()?.closed.first()?.max_t, id as SeriesId))))
            .collect();
        while self.total_bytes() > target {
            let Some(Reverse((_, id))) = oldest.pop() else { break };
            let Some(series) = self.series.get_mut(id as usize).and_then(Option::as_mut) else { continue };
            if series.closed.is_empty() {
                continue;
            }
            let closed = series.closed.remove(0);
            if let Some(next) = series.closed.first() {
                oldest.push(Reverse((next.max_t, id)));
            }
            let samples = closed.samples();
            removed.chunks += 1;
            removed.samples += samples;
            self.samples = self.samples.saturating_sub(samples);
            self.chunks = self.chunks.saturating_sub(1);
            self.chunk_bytes = self.chunk_bytes.saturating_sub(closed.bytes() as u64);
        }
        if self.total_bytes() > target {
            let mut by_age: Vec<(i64, SeriesId)> = self
                .series
                .iter()
                .enumerate()
                .filter_map(|(id, s)| Some((s.as_ref()?.last_t, id as SeriesId)))
                .collect();
            by_age.sort_unstable();
            for (_, id) in by_age {
                if self.total_bytes() <= target {
                    break;
                }
                let gone = self.remove_series(id);
                removed.series += gone.series;
                removed.chunks += gone.chunks;
                removed.samples += gone.samples;
            }
        }
        self.evicted.series += removed.series;
        self.evicted.chunks += removed.chunks;
        self.evicted.samples += removed.samples;
        tracing::warn!(
            max_bytes = self.max_bytes,
            evicted_chunks = removed.chunks,
            evicted_samples = removed.samples,
            evicted_series = removed.series,
            "store over its memory bound: oldest data dropped"
        );
        removed
    }
}
