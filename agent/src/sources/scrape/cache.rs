//! The per-target scrape cache (Prometheus's `scrapeCache`), plus the per-series timestamp
//! guard of the Prometheus agent's appender.
//!
//! # Final series, without their labels
//!
//! The cache's core is one compact table per target, keyed by the 64-bit hash of a series'
//! *final* label set (after target labels, honor_labels and `metric_relabel_configs`): the
//! last timestamp sent for the series (the timestamp guard), the scrape that last produced it
//! (staleness and duplicate detection), whether it counts as cached (`scrape_series_added`,
//! and whether its labels were already validated), when it was last scraped (expiry) and which
//! kept body holds it. 24 bytes per series (32 with its key; see `series_table.rs`, which keeps
//! the series in scrape order so that a scrape reads the table sequentially); **no label set is
//! kept** for jobs without `metric_relabel_configs`, which is what keeps the agent's memory
//! small (the design of vmagent):
//!
//! - the scrape loop builds each sample's final labels afresh every scrape (merging the
//!   target's labels into the parsed ones is cheaper than looking a stored set up) and hashes
//!   them to find the series here ([`ScrapeCache::touch`], [`ScrapeCache::admit_built`]);
//! - the labels of series that *vanish*, which need staleness markers, are recovered from a
//!   previous successful scrape's body, kept per target compressed
//!   ([`PreviousBody`]) and re-parsed only when some series did vanish (the scrape loop does
//!   that with [`ScrapeCache::take_unresolved`]). The kept body is replaced only by a scrape
//!   that produced a series it lacks (each series records the generation of the body that
//!   holds it), so a target with a stable series set compresses one body, once.
//!
//! # Jobs with `metric_relabel_configs`
//!
//! Relabeling is too costly to repeat for every sample, so those jobs keep Prometheus's
//! layout: a map from **raw keys** (`name{a="b"}`, the series exactly as the target wrote it)
//! to the final series' hash or "dropped by relabeling", and the final labels stored with the
//! series. A steady-state scrape does one lookup per sample instead of relabeling. The raw key
//! is not stored: it is identified by its 128-bit XXH3 hash, randomly seeded per cache (two of
//! a target's series collide with a probability around n²/2¹²⁹).
//!
//! # Eviction, guard, staleness
//!
//! Eviction follows Prometheus's `iterDone`: after a successful scrape, cache entries (raw keys,
//! or the "cached" mark of a final series) not used by it are evicted; after a failed one, they
//! are kept unless the cache grew past `2 * size after the last successful scrape + 1000` (a
//! failing target with churning series would otherwise grow it without bound), in which case
//! entries unused by the failed scrape go. Final series are kept for [`SERIES_RETENTION_MS`]
//! after they were last scraped, so a series that vanishes (and got a staleness marker) and
//! comes back with an old explicit timestamp is still recognised as out of order.
//!
//! Timestamp guard: a sample is sent only if its timestamp is newer than the last one sent for
//! its series (a remote-write receiver rejects the whole request otherwise, which matters for
//! targets with explicit timestamps that repeat them every scrape, like cAdvisor). Staleness
//! markers pass the same guard. Timestamps recorded by a scrape that then fails (nothing of it
//! is delivered) are rolled back.
//!
//! Staleness: each final series records the last scrape (iteration) that produced it (only
//! series subject to staleness), to emit markers for the ones that disappear: after a
//! successful scrape, every series of the previous scrape that is not in this one; after a
//! failed scrape or when the target goes away, all of them. All of those were produced by the
//! last successful scrape, whose series the kept [`PreviousBody`] holds.

mod series_table;

use super::job::JobSettings;
use harrier_telemetry::exposition::{Format, Parser};
use harrier_telemetry::model::Labels;
use series_table::SeriesTable;
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::sync::Arc;

/// How long a final series' last timestamp is remembered after it was last scraped.
pub(crate) const SERIES_RETENTION_MS: i64 = 60 * 60 * 1000;

/// The "doubling plus 1000" of Prometheus's forced cache flush.
const FORCED_FLUSH_SLACK: usize = 1000;

/// A `Hasher` for keys that already are 64-bit hashes: it returns them unchanged.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only reached for keys other than u64; fold the bytes in.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// A raw series key, identified by its 128-bit XXH3 hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RawKey(u128);

impl std::hash::Hash for RawKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Already a hash: its low half is the bucket hash (see IdentityHasher).
        state.write_u64(self.0 as u64);
    }
}

/// Hashes raw keys into [`RawKey`]s with a random seed per cache.
#[derive(Debug)]
struct RawKeyHasher(u64);

impl Default for RawKeyHasher {
    fn default() -> Self {
        RawKeyHasher(rand::random())
    }
}

impl RawKeyHasher {
    fn key(&self, raw: &[u8]) -> RawKey {
        RawKey(xxhash_rust::xxh3::xxh3_128_with_seed(raw, self.0))
    }
}

/// `present` of a series no scrape has produced (or whose presence was reset), and `used` of a
/// series that is not cached.
const NONE: u32 = u32::MAX;

type IdentityState = BuildHasherDefault<IdentityHasher>;

/// What a raw series key maps to.
#[derive(Debug, Clone, Copy)]
enum CachedSeries {
    /// The hash of the final labels (a key of `ScrapeCache::series`).
    Kept(u64),
    /// Metric relabeling drops this series.
    Dropped,
}

#[derive(Debug)]
struct Entry {
    series: CachedSeries,
    /// The iteration (scrape) that last used the entry.
    last_seen: u32,
}

/// The result of looking a raw key up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lookup {
    /// Not cached: build the final labels.
    Miss,
    /// Metric relabeling drops the series.
    Dropped,
    /// The final series, by hash.
    Kept(u64),
}

/// The outcome of offering a sample to the timestamp guard.
#[derive(Debug, PartialEq)]
pub(crate) enum Admission<'a> {
    /// Send the sample with these labels; `new` when the raw key was not cached before.
    Accepted { labels: &'a Labels, new: bool },
    /// Same timestamp as the last sample sent: not sent, but the series counts as present.
    DuplicateTimestamp,
    /// Older than the last sample sent: not sent.
    OutOfOrder,
}

/// What [`ScrapeCache::touch`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Touched {
    /// Known and validated (not new to the cache).
    pub cached: bool,
    /// Already produced by this scrape.
    pub present: bool,
}

/// The outcome of [`ScrapeCache::admit_built`]: like [`Admission`], the caller holding the
/// labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BuiltAdmission {
    /// Send the sample; `new` when the series was not cached before.
    Accepted {
        new: bool,
    },
    DuplicateTimestamp,
    OutOfOrder,
}

/// One final series: 24 bytes.
#[derive(Debug, Clone, Copy)]
struct SeriesState {
    /// The timestamp of the last sample (or staleness marker) sent; `i64::MIN` if none.
    last_ts: i64,
    /// The iteration whose scrape last produced the series (for staleness), or [`NONE`].
    present: u32,
    /// Series whose labels are built every scrape: the iteration that last used the series
    /// while cached, or [`NONE`] when it is not cached (the raw-key entry of the other path).
    used: u32,
    /// When a scrape last produced the series: seconds after the cache's epoch.
    last_seen_s: u32,
    /// The generation of the kept previous body ([`ScrapeCache::previous`]) whose scrape
    /// produced the series last time it was produced, or 0: that body holds its labels.
    body_gen: u32,
}

/// How to undo a timestamp the current scrape recorded, should the scrape fail.
#[derive(Debug)]
enum Undo {
    Created(u64),
    Changed { hash: u64, last_ts: i64, present: u32 },
}

/// Undo buffers a thread keeps for its next scrapes ([`UndoLog`]).
const SPARE_UNDO_BUFFERS: usize = 4;
/// A buffer grown past this many records (a very large target's) is freed, not kept.
const SPARE_UNDO_MAX_RECORDS: usize = 1 << 16;

thread_local! {
    static SPARE_UNDO: std::cell::RefCell<Vec<Vec<Undo>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The undo records of the scrape under way: one per series whose timestamp it recorded.
///
/// The buffer lives only as long as the scrape. When the scrape finishes it goes back to a
/// small per-thread pool, and the next scrape to record something takes it from there. A scrape
/// touches every series of its target, so kept per target these buffers held 49 KB for each
/// 1,000-series target (4.9 MB of the agent's 18 MB heap for 100 such targets, heaptrack),
/// while few scrapes record at the same time on one thread.
#[derive(Debug, Default)]
struct UndoLog(Vec<Undo>);

impl UndoLog {
    fn push(&mut self, undo: Undo) {
        if self.0.capacity() == 0 {
            self.0 = SPARE_UNDO.with(|spare| spare.borrow_mut().pop()).unwrap_or_default();
        }
        self.0.push(undo);
    }

    fn pop(&mut self) -> Option<Undo> {
        self.0.pop()
    }

    /// The scrape finished: its records are dropped, the buffer goes back to the pool.
    fn release(&mut self) {
        let mut buffer = std::mem::take(&mut self.0);
        if buffer.capacity() == 0 || buffer.capacity() > SPARE_UNDO_MAX_RECORDS {
            return;
        }
        buffer.clear();
        SPARE_UNDO.with(|spare| {
            let mut spare = spare.borrow_mut();
            if spare.len() < SPARE_UNDO_BUFFERS {
                spare.push(buffer);
            }
        });
    }
}

/// Scrapes a kept body must outlast before [`PreviousBody::settle`] recompresses it; also how
/// long the kept body must have lasted for its successor to be compressed with deflate at once.
const SETTLE_AFTER_SCRAPES: u32 = 3;

/// The body of the last successful scrape, compressed, with what is needed to rebuild its
/// series' final labels: the staleness markers of series that vanish get their labels from
/// here.
///
/// Deflate takes exposition text to about half of snappy's size (a 125 KB body: 25 KB with
/// snappy, 13 KB with deflate at its fastest level, 6.8 KB once the values are blanked out, see
/// [`skeleton`]) for several times the CPU and a second parse, which a body kept for good is
/// worth and a body replaced at the next scrape is not. So a target's first
/// body, and the successor of a body that lasted [`SETTLE_AFTER_SCRAPES`] scrapes, are deflated
/// at once ([`BodyCodec::for_successor`]); the successor of a short-lived one (a target whose
/// series come and go) gets snappy, and is recompressed with deflate only if it outlasts
/// [`SETTLE_AFTER_SCRAPES`] scrapes ([`PreviousBody::settle`]).
#[derive(Debug)]
pub(crate) struct PreviousBody {
    compressed: Compressed,
    /// Scrapes the body has outlasted (see [`PreviousBody::settle`]).
    outlasted: u32,
    pub format: Format,
    /// The job settings the body was scraped with (a reload may change them since).
    pub settings: Arc<JobSettings>,
}

#[derive(Debug)]
enum Compressed {
    Snappy(Box<[u8]>),
    Deflate { bytes: Box<[u8]>, len: usize },
}

/// How a kept body is compressed ([`PreviousBody`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyCodec {
    Snappy,
    Deflate,
}

impl BodyCodec {
    /// The codec for the body that replaces `kept` (`None`: the target's first).
    pub fn for_successor(kept: Option<&PreviousBody>) -> BodyCodec {
        match kept {
            Some(kept) if kept.outlasted < SETTLE_AFTER_SCRAPES => BodyCodec::Snappy,
            _ => BodyCodec::Deflate,
        }
    }
}

impl PreviousBody {
    /// Compresses `body` with `codec`; `None` if it cannot (snappy: a body over 4 GiB).
    pub fn new(body: &[u8], format: Format, settings: Arc<JobSettings>, codec: BodyCodec) -> Option<Self> {
        let compressed = match codec {
            BodyCodec::Snappy => Compressed::Snappy(snappy(body)?),
            BodyCodec::Deflate => {
                let skeleton = skeleton(body, format);
                let kept = skeleton.as_deref().unwrap_or(body);
                Compressed::Deflate { bytes: deflate(kept)?, len: kept.len() }
            }
        };
        Some(PreviousBody { compressed, outlasted: 0, format, settings })
    }

    /// The body, decompressed; once deflated, its values are blanked out ([`skeleton`]).
    pub fn body(&self) -> std::io::Result<Vec<u8>> {
        match &self.compressed {
            Compressed::Snappy(bytes) => Ok(snap::raw::Decoder::new().decompress_vec(bytes)?),
            Compressed::Deflate { bytes, len } => {
                use std::io::Read;
                let mut body = Vec::with_capacity(*len);
                flate2::read::DeflateDecoder::new(&bytes[..]).take(*len as u64).read_to_end(&mut body)?;
                Ok(body)
            }
        }
    }

    /// Counts a scrape the body outlasted (it held all of that scrape's series), and on the
    /// [`SETTLE_AFTER_SCRAPES`]th recompresses a snappy body with deflate (type docs). A body
    /// that cannot be recompressed stays as it is.
    pub fn settle(&mut self) {
        self.outlasted = self.outlasted.saturating_add(1);
        if self.outlasted != SETTLE_AFTER_SCRAPES || !matches!(self.compressed, Compressed::Snappy(_)) {
            return;
        }
        let Ok(body) = self.body() else { return };
        let body = skeleton(&body, self.format).unwrap_or(body);
        if let Some(bytes) = deflate(&body) {
            self.compressed = Compressed::Deflate { bytes, len: body.len() };
        }
    }

    /// Bytes held (for tests).
    #[cfg(test)]
    pub fn compressed_len(&self) -> usize {
        match &self.compressed {
            Compressed::Snappy(bytes) | Compressed::Deflate { bytes, .. } => bytes.len(),
        }
    }
}

/// `body` compressed with snappy (block format); `None` over 4 GiB.
fn snappy(body: &[u8]) -> Option<Box<[u8]>> {
    thread_local! {
        static ENCODER: std::cell::RefCell<(snap::raw::Encoder, Vec<u8>)> =
            std::cell::RefCell::new((snap::raw::Encoder::new(), Vec::new()));
    }
    ENCODER.with(|cell| {
        let mut guard = cell.borrow_mut();
        let (encoder, scratch) = &mut *guard;
        scratch.resize(snap::raw::max_compress_len(body.len()), 0);
        let written = encoder.compress(body, scratch).ok()?;
        let compressed: Box<[u8]> = scratch.get(..written)?.into();
        // Keep the scratch from pinning an outsized buffer after one huge body.
        if scratch.capacity() > 4 << 20 {
            *scratch = Vec::new();
        }
        Some(compressed)
    })
}

/// `body` (which parsed as `format` to its end) with each sample's value, and whatever follows
/// it on the line (timestamp, exemplar), replaced by `1`: the series and comment lines, all a
/// kept body is read for, in half the compressed size (the values are most of what does not
/// repeat). `1` is a valid value for every metric type (an info metric's must be 1). `None` if
/// the body does not parse to its end.
fn skeleton(body: &[u8], format: Format) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(body.len());
    let mut parser = Parser::new(body, format);
    let mut copied = 0;
    while parser.advance().ok()? {
        let series_end = parser.series_range().end;
        let end = parser.sample_end();
        // The newline stays, copied with what follows.
        let line_end = if end > series_end && body.get(end - 1) == Some(&b'\n') { end - 1 } else { end };
        out.extend_from_slice(body.get(copied..series_end)?);
        out.extend_from_slice(b" 1");
        copied = line_end;
    }
    out.extend_from_slice(body.get(copied..)?);
    Some(out)
}

/// `body` compressed with raw deflate at the fastest level.
fn deflate(body: &[u8]) -> Option<Box<[u8]>> {
    let mut encoder =
        flate2::write::DeflateEncoder::new(Vec::with_capacity(body.len() / 8), flate2::Compression::fast());
    std::io::Write::write_all(&mut encoder, body).ok()?;
    encoder.finish().ok().map(Vec::into_boxed_slice)
}

/// One target's cache; owned by its scrape loop (and handed to its successor when only the
/// target's hidden labels change).
#[derive(Debug, Default)]
pub(crate) struct ScrapeCache {
    /// Raw keys, for jobs with metric relabeling.
    entries: HashMap<RawKey, Entry, IdentityState>,
    raw_keys: RawKeyHasher,
    /// Final series, in scrape order (see `series_table.rs`).
    series: SeriesTable<SeriesState>,
    /// The final labels of series built through `entries` (jobs with metric relabeling).
    labels: HashMap<u64, Labels, IdentityState>,
    /// Counts finished scrapes (never [`NONE`]); entries remember the last one that used them.
    iteration: u32,
    /// Number of cache entries after the last successful scrape.
    successful_count: usize,
    label_hasher: foldhash::fast::RandomState,
    /// Timestamps recorded by the scrape under way.
    undo: UndoLog,
    /// Scrape time (ms) that `last_seen_s` counts from: the first scrape's.
    epoch_ms: Option<i64>,
    /// Series that went stale without stored labels: to be rebuilt from `previous`.
    unresolved: Vec<u64>,
    /// A successful scrape's body that holds every series produced since (see
    /// [`ScrapeCache::set_previous`]).
    previous: Option<PreviousBody>,
    /// The generation of `previous` (0: none yet).
    previous_gen: u32,
    /// Whether `previous` holds every (staleness-tracked) series the last successful scrape
    /// produced.
    previous_covers: bool,
    /// The iteration of the last finished scrape.
    last_finished: u32,
}

impl ScrapeCache {
    /// Looks a raw key up, marking it used by this scrape.
    pub fn lookup(&mut self, key: &[u8]) -> Lookup {
        let key = self.raw_keys.key(key);
        let Some(entry) = self.entries.get_mut(&key) else {
            return Lookup::Miss;
        };
        entry.last_seen = self.iteration;
        match entry.series {
            CachedSeries::Dropped => Lookup::Dropped,
            CachedSeries::Kept(hash) if self.labels.contains_key(&hash) => Lookup::Kept(hash),
            CachedSeries::Kept(_) => {
                self.entries.remove(&key);
                Lookup::Miss
            }
        }
    }

    /// Remembers that metric relabeling drops the series of `key`.
    pub fn insert_dropped(&mut self, key: &[u8]) {
        let key = self.raw_keys.key(key);
        self.entries.insert(key, Entry { series: CachedSeries::Dropped, last_seen: self.iteration });
    }

    pub fn hash_labels(&self, labels: &Labels) -> u64 {
        self.label_hasher.hash_one(labels)
    }

    /// The hash of a label set given in its packed encoding ([`Labels::encoded`]): equal to
    /// [`ScrapeCache::hash_labels`] of those labels.
    pub fn hash_encoded(&self, encoded: &[u8]) -> u64 {
        self.label_hasher.hash_one(encoded)
    }

    /// Whether this scrape already produced the (staleness-tracked) series.
    pub fn is_present(&mut self, hash: u64) -> bool {
        self.series.get(hash).is_some_and(|s| s.present == self.iteration)
    }

    /// Series whose labels are built every scrape, in one lookup: whether `hash` is cached
    /// (known and validated, not new), marking it used by this scrape, and whether this scrape
    /// already produced it ([`ScrapeCache::is_present`]).
    pub fn touch(&mut self, hash: u64) -> Touched {
        let iteration = self.iteration;
        match self.series.get_mut(hash) {
            Some(state) => {
                let cached = state.used != NONE;
                if cached {
                    state.used = iteration;
                }
                Touched { cached, present: state.present == iteration }
            }
            None => Touched { cached: false, present: false },
        }
    }

    fn seconds_since_epoch(&mut self, scrape_ts: i64) -> u32 {
        let epoch = *self.epoch_ms.get_or_insert(scrape_ts);
        u32::try_from(scrape_ts.saturating_sub(epoch).max(0) / 1000).unwrap_or(u32::MAX)
    }

    /// The timestamp guard on series `hash`, creating it when `create`. `None` when the series
    /// is unknown and not to be created; else whether the sample is accepted, a duplicate
    /// timestamp or out of order.
    fn guard(
        &mut self,
        hash: u64,
        create: bool,
        ts: i64,
        scrape_ts: i64,
        track: bool,
    ) -> Option<(Guarded, &mut SeriesState)> {
        let seen_s = self.seconds_since_epoch(scrape_ts);
        let iteration = self.iteration;
        let undo = &mut self.undo;
        let state = self.series.get_or_try_insert(hash, || {
            if !create {
                return None;
            }
            undo.push(Undo::Created(hash));
            Some(SeriesState {
                last_ts: i64::MIN,
                present: NONE,
                used: NONE,
                last_seen_s: seen_s,
                body_gen: 0,
            })
        })?;
        if ts < state.last_ts {
            return Some((Guarded::OutOfOrder, state));
        }
        state.last_seen_s = seen_s;
        let duplicate = ts == state.last_ts;
        let present = if track { iteration } else { state.present };
        if !duplicate || present != state.present {
            self.undo.push(Undo::Changed { hash, last_ts: state.last_ts, present: state.present });
            state.last_ts = ts;
            state.present = present;
        }
        Some((if duplicate { Guarded::Duplicate } else { Guarded::Accepted }, state))
    }

    /// Offers a sample with timestamp `ts` of the series `hash` to the timestamp guard (jobs
    /// with metric relabeling). `built` holds the final labels when the raw `key` missed the
    /// cache. On acceptance (and on a duplicate timestamp) the series is recorded: the raw key
    /// cached, and, with `track`, the series marked present for staleness.
    pub fn admit(
        &mut self,
        key: &[u8],
        hash: u64,
        built: Option<Labels>,
        ts: i64,
        scrape_ts: i64,
        track: bool,
    ) -> Admission<'_> {
        let new = built.is_some();
        // `lookup` only reports series it knows (with labels).
        let create = new;
        let Some((guarded, _)) = self.guard(hash, create, ts, scrape_ts, track) else {
            return Admission::OutOfOrder;
        };
        if guarded == Guarded::OutOfOrder {
            return Admission::OutOfOrder;
        }
        if let Some(labels) = built {
            self.labels.entry(hash).or_insert(labels);
            let key = self.raw_keys.key(key);
            self.entries.insert(key, Entry { series: CachedSeries::Kept(hash), last_seen: self.iteration });
        }
        match (guarded, self.labels.get(&hash)) {
            (Guarded::Accepted, Some(labels)) => Admission::Accepted { labels, new },
            (Guarded::Accepted, None) => Admission::OutOfOrder,
            _ => Admission::DuplicateTimestamp,
        }
    }

    /// Offers a sample of the series `hash`, whose labels the caller built (jobs without
    /// metric relabeling): the timestamp guard, and on acceptance (and on a duplicate
    /// timestamp) the series recorded, cached, and with `track` marked present.
    pub fn admit_built(&mut self, hash: u64, ts: i64, scrape_ts: i64, track: bool) -> BuiltAdmission {
        let iteration = self.iteration;
        match self.guard(hash, true, ts, scrape_ts, track) {
            None | Some((Guarded::OutOfOrder, _)) => BuiltAdmission::OutOfOrder,
            Some((guarded, state)) => {
                let new = state.used == NONE;
                state.used = iteration;
                if guarded == Guarded::Duplicate {
                    BuiltAdmission::DuplicateTimestamp
                } else {
                    BuiltAdmission::Accepted { new }
                }
            }
        }
    }

    /// Staleness markers at `ts` for the series `gone` selects (by their `present`
    /// iteration): the labels of those whose last sample is older; those without stored
    /// labels go to `unresolved`. Every selected series' presence is reset.
    fn markers(&mut self, ts: i64, gone: impl Fn(u32) -> bool) -> Vec<Labels> {
        let mut out = Vec::new();
        for (hash, state) in self.series.iter_mut() {
            if state.present == NONE || !gone(state.present) {
                continue;
            }
            state.present = NONE;
            if ts > state.last_ts {
                state.last_ts = ts;
                match self.labels.get(&hash) {
                    Some(labels) => out.push(labels.clone()),
                    None => self.unresolved.push(hash),
                }
            }
        }
        out
    }

    /// The kept body: the staleness markers of series without stored labels take them from
    /// here (every such series that can go stale was produced by its scrape).
    pub fn previous(&self) -> Option<&PreviousBody> {
        self.previous.as_ref()
    }

    /// Whether the kept body already holds every staleness-tracked series the last successful
    /// scrape produced: then it need not be replaced by that scrape's body. A target whose
    /// series set does not change keeps one body and compresses nothing after its first
    /// scrape.
    pub fn previous_covers_last_scrape(&self) -> bool {
        self.previous.is_some() && self.previous_covers
    }

    /// The kept body outlasted another scrape ([`PreviousBody::settle`]).
    pub fn settle_previous(&mut self) {
        if let Some(previous) = self.previous.as_mut() {
            previous.settle();
        }
    }

    /// Keeps `body` (the last successful scrape's) as the body that staleness markers take
    /// labels from, or drops the kept body (`None`: jobs that store labels).
    pub fn set_previous(&mut self, body: Option<PreviousBody>) {
        self.previous = body;
        if self.previous.is_none() {
            return;
        }
        self.previous_gen = self.previous_gen.wrapping_add(1).max(1);
        let (iteration, generation) = (self.last_finished, self.previous_gen);
        for state in self.series.values_mut() {
            if state.present == iteration {
                state.body_gen = generation;
            }
        }
    }

    /// The series that the last `finish_*` marked stale but whose labels are not stored: the
    /// caller rebuilds them from [`ScrapeCache::previous`].
    pub fn take_unresolved(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.unresolved)
    }

    /// Forgets series not scraped for [`SERIES_RETENTION_MS`] (never those still present).
    fn expire_series(&mut self, now_ms: i64) {
        let Some(epoch) = self.epoch_ms else { return };
        let labels = &mut self.labels;
        self.series.retain(|hash, s| {
            let last_seen_ms = epoch.saturating_add(i64::from(s.last_seen_s) * 1000);
            let keep = now_ms.saturating_sub(last_seen_ms) < SERIES_RETENTION_MS || s.present != NONE;
            if !keep {
                labels.remove(&hash);
            }
            keep
        });
    }

    /// Evicts cache entries (raw keys, and the cached mark of built series) the current
    /// scrape did not use.
    fn evict_unused(&mut self) {
        let iteration = self.iteration;
        self.entries.retain(|_, e| e.last_seen == iteration);
        for state in self.series.values_mut() {
            if state.used != iteration {
                state.used = NONE;
            }
        }
    }

    /// Cache entries: raw keys plus cached built series.
    fn cached_count(&self) -> usize {
        self.entries.len() + self.series.values().filter(|s| s.used != NONE).count()
    }

    fn next_iteration(&mut self) {
        self.iteration = self.iteration.wrapping_add(1);
        if self.iteration == NONE {
            self.iteration = 0;
        }
        // The next scrape walks the series table from the start.
        self.series.rewind();
    }

    /// Ends a successful scrape at `ts`: returns the labels of the series of the previous
    /// scrape that this one lacks (they get staleness markers at `ts`; those without stored
    /// labels are left for [`ScrapeCache::take_unresolved`]) and evicts cache entries this
    /// scrape did not use.
    pub fn finish_success(&mut self, ts: i64) -> Vec<Labels> {
        self.undo.release();
        let iteration = self.iteration;
        // Present in an earlier scrape but not in this one (only the previous one can be
        // left: older presences were reset when their successor finished).
        let stale = self.markers(ts, |present| present != iteration);
        self.successful_count = self.cached_count();
        let generation = self.previous_gen;
        self.previous_covers =
            self.series.values().all(|s| s.present != iteration || s.body_gen == generation);
        self.evict_unused();
        self.expire_series(ts);
        self.last_finished = iteration;
        self.next_iteration();
        stale
    }

    /// Ends a failed scrape at `ts` (nothing of it is delivered): the timestamps it recorded are
    /// rolled back and every series of the previous scrape goes stale (as with
    /// [`ScrapeCache::finish_success`], those without stored labels are left for
    /// [`ScrapeCache::take_unresolved`]). Cache entries stay, unless the cache more than
    /// doubled since the last successful scrape (plus 1000).
    pub fn finish_failure(&mut self, ts: i64) -> Vec<Labels> {
        // The rollback restores the presence of the previous scrape's series; they all go.
        self.rollback();
        let stale = self.markers(ts, |_| true);
        if self.cached_count() > self.successful_count.saturating_mul(2).saturating_add(FORCED_FLUSH_SLACK) {
            self.evict_unused();
        }
        self.expire_series(ts);
        self.last_finished = self.iteration;
        self.next_iteration();
        stale
    }

    /// A scrape stopped before it finished (its loop was cancelled mid-scrape, nothing of it
    /// delivered): what it recorded is rolled back, as for a failed scrape, without staleness.
    /// Without this, a successor inheriting the cache would take the series of that unfinished
    /// scrape for duplicates in its first one.
    pub fn abandon_unfinished(&mut self) {
        self.rollback();
        self.series.rewind();
    }

    /// Undoes what the scrape under way recorded, and releases its undo buffer.
    fn rollback(&mut self) {
        while let Some(undo) = self.undo.pop() {
            match undo {
                Undo::Created(hash) => {
                    self.series.remove(hash);
                    self.labels.remove(&hash);
                }
                Undo::Changed { hash, last_ts, present } => {
                    if let Some(state) = self.series.get_mut(hash) {
                        state.last_ts = last_ts;
                        state.present = present;
                    }
                }
            }
        }
        self.undo.release();
    }

    /// Forgets cached label results (the job's settings changed); staleness tracking and
    /// timestamps stay.
    pub fn clear_entries(&mut self) {
        self.entries.clear();
        for state in self.series.values_mut() {
            state.used = NONE;
        }
    }

    /// The labels of a known final series, when stored.
    #[cfg(test)]
    pub fn series_labels(&self, hash: u64) -> Option<&Labels> {
        self.labels.get(&hash)
    }

    /// The undo buffer's capacity (0 between scrapes).
    #[cfg(test)]
    pub fn undo_capacity(&self) -> usize {
        self.undo.0.capacity()
    }

    /// Number of cached raw series keys.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Number of final series known (a capacity hint for a scrape's batch).
    pub fn series_count(&self) -> usize {
        self.series.len()
    }
}

/// What the timestamp guard decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Guarded {
    Accepted,
    Duplicate,
    OutOfOrder,
}
