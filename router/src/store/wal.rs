//! The write-ahead log and checkpoints of the embedded store: what makes an acknowledged
//! append survive the process being killed (kill -9, OOM kill, panic) or the machine crashing.
//!
//! # Guarantees
//! - [`Wal::wait_durable`] returns only once the record, and every record queued before it,
//!   has been written and `fdatasync`ed. The store calls it before `append` returns, so an
//!   acknowledged sample is on disk. Group commit: whoever finds no sync in progress writes
//!   every queued record with one `write` and one sync; appenders arriving meanwhile wait on a
//!   condition variable and are covered by the next sync, so concurrent appenders share fsyncs.
//! - Records are queued while the head's write lock is held, so log order is apply order.
//! - Disk and replay time stay bounded: once the segments outgrow a threshold (the larger of
//!   the configured checkpoint size and the size of the last checkpoint, so checkpoints cost at
//!   most as much I/O as the log they replace), the head is written to a checkpoint and every
//!   segment before it is deleted. A checkpoint is also written at every open, after replay.
//! - Nothing on disk makes opening fail or panic: a torn or corrupt record is skipped and
//!   counted (a record whose header checks out but whose payload does not is stepped over by
//!   its length; after a bad header the rest of that file is given up, which is what a torn
//!   tail looks like), with a `tracing` warning.
//!
//! # On-disk format (version 2; version 1 segments are still read, version 1 checkpoints are not)
//! The store's directory holds:
//! - `lock`: held with an exclusive OS file lock while a store has the directory open.
//! - `NNNNNNNNNNNNNNNN.wal`: log segments, numbered (16 zero-padded decimal digits, so names
//!   sort in order). An 8-byte header, magic `HRWL` and format version u32 LE, then records.
//!   A new segment starts when the current one passes the segment size (64 MiB), after a write
//!   error, and at each checkpoint.
//! - `checkpoint.NNNNNNNNNNNNNNNN`: the whole head as of the start of segment `N` (it covers
//!   every segment numbered below `N`; replay loads it and then replays segments `N` and
//!   later). An 8-byte header, magic `HRCP` and version u32 LE, then records: one per series
//!   and a final end record. Written as `checkpoint.N.tmp`, synced, renamed, the directory
//!   synced; only then are older segments and checkpoints deleted. A checkpoint without its end
//!   record is incomplete and ignored in favour of an older one.
//!
//! Every record, in segments and checkpoints alike, is framed as:
//!
//! ```text
//! offset size field
//!      0    4 payload length, u32 LE
//!      4    4 CRC32C of the payload, u32 LE
//!      8    4 CRC32C of bytes 0..8, u32 LE
//!     12    n payload: a type byte, then the body
//! ```
//!
//! Payload bodies (varints are LEB128; labels are a varint count, then per label a varint
//! length and the name bytes, a varint length and the value bytes):
//! - type 1, an append batch: varint series count; per new series its id (varint) and labels;
//!   varint sample count; when there are samples, the batch's base timestamp (i64 LE), then
//!   per sample the series id (varint), the timestamp minus the base (zigzag varint) and the
//!   value's bits (u64 LE). Series ids are the head's ids of the process that wrote the
//!   segment; a series record always precedes the samples referring to it in the log, and
//!   replay maps ids to series as it reads, so a reused id is simply redefined.
//! - type 2, a checkpoint series: id (varint), labels, last timestamp (i64 LE), last value bits
//!   (u64 LE), varint count of closed chunks and per chunk its first and last timestamps (i64
//!   LE each), varint length and the encoded chunk (see `chunk.rs`); then a varint length and
//!   the open chunk's bytes (length 0: none).
//! - type 3, a checkpoint end: the varint number of series records (type 2) before it.
//! - type 4, native histogram samples of one series, in segments (an append) and checkpoints
//!   (all of a series' histograms) alike: labels, varint sample count, then per sample its
//!   timestamp (i64 LE) and the histogram: counter reset hint (u8: 0 unknown, 1 reset, 2 not
//!   reset, 3 gauge), schema (zigzag varint), zero threshold, zero count, count and sum (f64
//!   LE bits each), positive then negative spans (varint count; per span zigzag offset and
//!   varint length), positive then negative bucket counts (varint count; f64 LE each), custom
//!   bounds (varint count; f64 LE each).

use super::head::{ClosedChunk, SnapshotSeries};
use super::index::SeriesId;
use super::{HistogramSample, StoreError};
use crate::histogram::{CounterResetHint, FloatHistogram, Span};
use harrier_telemetry::model::Labels;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};

const SEGMENT_MAGIC: &[u8; 4] = b"HRWL";
const CHECKPOINT_MAGIC: &[u8; 4] = b"HRCP";
const FORMAT_VERSION: u32 = 2;
/// The oldest segment version still read: segments hold raw samples, unchanged since version 1.
/// Checkpoints hold encoded chunks, whose format changed in version 2, so only
/// [`FORMAT_VERSION`] checkpoints are read (an older one is ignored and the segments replayed).
const OLDEST_SEGMENT_VERSION: u32 = 1;
const FILE_HEADER_LEN: usize = 8;
const RECORD_HEADER_LEN: usize = 12;
/// Payloads larger than this are treated as garbage lengths.
const MAX_PAYLOAD_LEN: usize = 1 << 30;
/// Segment size after which a new segment starts.
pub(super) const SEGMENT_BYTES: u64 = 64 << 20;

const TYPE_BATCH: u8 = 1;
const TYPE_CHECKPOINT_SERIES: u8 = 2;
const TYPE_CHECKPOINT_END: u8 = 3;
const TYPE_HISTOGRAMS: u8 = 4;

pub(super) const LOCK_FILE: &str = "lock";

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io { path: path.to_path_buf(), source }
}

pub(super) use crate::sync::lock;

fn segment_path(dir: &Path, number: u64) -> PathBuf {
    dir.join(format!("{number:016}.wal"))
}

fn checkpoint_path(dir: &Path, number: u64) -> PathBuf {
    dir.join(format!("checkpoint.{number:016}"))
}

pub(super) fn sync_directory(dir: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    File::open(dir).and_then(|directory| directory.sync_all()).map_err(io_error(dir))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

// ---- encoding helpers ----

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

fn unzigzag(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

fn put_labels(out: &mut Vec<u8>, labels: &Labels) {
    put_varint(out, labels.len() as u64);
    for label in labels {
        put_varint(out, label.name.len() as u64);
        out.extend_from_slice(label.name.as_bytes());
        put_varint(out, label.value.len() as u64);
        out.extend_from_slice(label.value.as_bytes());
    }
}

/// Reads a payload without trusting it: every read is bounds-checked.
struct Cursor<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl<'a> Cursor<'a> {
    fn varint(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self.bytes.get(self.position)?;
            self.position += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Some(value);
            }
        }
        None
    }

    fn take(&mut self, len: usize) -> Option<&'a [u8]> {
        let end = self.position.checked_add(len)?;
        let bytes = self.bytes.get(self.position..end)?;
        self.position = end;
        Some(bytes)
    }

    fn u64_le(&mut self) -> Option<u64> {
        let bytes: [u8; 8] = self.take(8)?.try_into().ok()?;
        Some(u64::from_le_bytes(bytes))
    }

    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }

    fn id(&mut self) -> Option<SeriesId> {
        SeriesId::try_from(self.varint()?).ok()
    }

    fn str(&mut self) -> Option<&'a str> {
        let len = usize::try_from(self.varint()?).ok()?;
        std::str::from_utf8(self.take(len)?).ok()
    }

    fn labels(&mut self) -> Option<Labels> {
        let count = self.varint()?;
        let mut pairs = Vec::new();
        for _ in 0..count {
            pairs.push((self.str()?, self.str()?));
        }
        Some(Labels::from_pairs(pairs))
    }

    fn bytes_with_len(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(self.varint()?).ok()?;
        self.take(len)
    }

    fn at_end(&self) -> bool {
        self.position == self.bytes.len()
    }
}

/// Frames `payload` as a record and appends it to `out`.
fn frame(out: &mut Vec<u8>, payload: &[u8]) {
    let mut header = [0u8; RECORD_HEADER_LEN];
    header[0..4].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    header[4..8].copy_from_slice(&crc32c::crc32c(payload).to_le_bytes());
    let header_crc = crc32c::crc32c(&header[0..8]);
    header[8..12].copy_from_slice(&header_crc.to_le_bytes());
    out.extend_from_slice(&header);
    out.extend_from_slice(payload);
}

fn file_header(magic: &[u8; 4]) -> [u8; FILE_HEADER_LEN] {
    let mut header = [0u8; FILE_HEADER_LEN];
    header[0..4].copy_from_slice(magic);
    header[4..8].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    header
}

/// The payloads of the valid records of a file's contents (after its header), counting the
/// corrupt ones. `what` names the file in warnings.
pub(super) fn read_records<'a>(bytes: &'a [u8], what: &Path, corrupt: &mut u64) -> Vec<&'a [u8]> {
    let mut payloads = Vec::new();
    let mut position = FILE_HEADER_LEN;
    while position < bytes.len() {
        let Some(header) = bytes.get(position..position + RECORD_HEADER_LEN) else {
            *corrupt += 1;
            tracing::warn!(file = %what.display(), offset = position, "torn record header at the end of the write-ahead log skipped");
            break;
        };
        let le = |at: usize| u32::from_le_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]]);
        let (len, payload_crc, header_crc) = (le(0) as usize, le(4), le(8));
        if crc32c::crc32c(&header[0..8]) != header_crc || len > MAX_PAYLOAD_LEN {
            *corrupt += 1;
            tracing::warn!(file = %what.display(), offset = position, "corrupt record header in the write-ahead log: the rest of the file is skipped");
            break;
        }
        let start = position + RECORD_HEADER_LEN;
        let Some(payload) = bytes.get(start..start + len) else {
            *corrupt += 1;
            tracing::warn!(file = %what.display(), offset = position, "torn record at the end of the write-ahead log skipped");
            break;
        };
        if crc32c::crc32c(payload) == payload_crc {
            payloads.push(payload);
        } else {
            *corrupt += 1;
            tracing::warn!(file = %what.display(), offset = position, "record with a bad checksum in the write-ahead log skipped");
        }
        position = start + len;
    }
    payloads
}

// ---- payloads ----

/// Accumulates one append batch's log record while the head applies it.
#[derive(Debug, Default)]
pub(super) struct BatchRecord {
    series_count: u64,
    series: Vec<u8>,
    sample_count: u64,
    samples: Vec<u8>,
    base_t: Option<i64>,
}

impl BatchRecord {
    pub(super) fn new_series(&mut self, id: SeriesId, labels: &Labels) {
        self.series_count += 1;
        put_varint(&mut self.series, u64::from(id));
        put_labels(&mut self.series, labels);
    }

    pub(super) fn sample(&mut self, id: SeriesId, timestamp: i64, value_bits: u64) {
        let base = *self.base_t.get_or_insert(timestamp);
        self.sample_count += 1;
        put_varint(&mut self.samples, u64::from(id));
        put_varint(&mut self.samples, zigzag(timestamp.wrapping_sub(base)));
        self.samples.extend_from_slice(&value_bits.to_le_bytes());
    }

    /// The framed record, or `None` when the batch changed nothing.
    pub(super) fn finish(self) -> Option<Vec<u8>> {
        if self.series_count == 0 && self.sample_count == 0 {
            return None;
        }
        let mut payload = Vec::with_capacity(self.series.len() + self.samples.len() + 32);
        payload.push(TYPE_BATCH);
        put_varint(&mut payload, self.series_count);
        payload.extend_from_slice(&self.series);
        put_varint(&mut payload, self.sample_count);
        if let Some(base) = self.base_t {
            payload.extend_from_slice(&base.to_le_bytes());
        }
        payload.extend_from_slice(&self.samples);
        let mut framed = Vec::with_capacity(payload.len() + RECORD_HEADER_LEN);
        frame(&mut framed, &payload);
        Some(framed)
    }
}

/// The framed log record of histogram samples appended to one series.
pub(super) fn histogram_record(labels: &Labels, samples: &[HistogramSample]) -> Vec<u8> {
    let mut payload = Vec::new();
    encode_histograms(&mut payload, labels, samples);
    let mut framed = Vec::with_capacity(payload.len() + RECORD_HEADER_LEN);
    frame(&mut framed, &payload);
    framed
}

fn put_f64(out: &mut Vec<u8>, v: f64) {
    out.extend_from_slice(&v.to_bits().to_le_bytes());
}

fn put_spans(out: &mut Vec<u8>, spans: &[Span]) {
    put_varint(out, spans.len() as u64);
    for span in spans {
        put_varint(out, zigzag(i64::from(span.offset)));
        put_varint(out, u64::from(span.length));
    }
}

fn put_floats(out: &mut Vec<u8>, values: &[f64]) {
    put_varint(out, values.len() as u64);
    for v in values {
        put_f64(out, *v);
    }
}

fn encode_histograms(out: &mut Vec<u8>, labels: &Labels, samples: &[HistogramSample]) {
    out.push(TYPE_HISTOGRAMS);
    put_labels(out, labels);
    put_varint(out, samples.len() as u64);
    for sample in samples {
        let h = &sample.histogram;
        out.extend_from_slice(&sample.timestamp_ms.to_le_bytes());
        out.push(match h.counter_reset_hint {
            CounterResetHint::Unknown => 0,
            CounterResetHint::CounterReset => 1,
            CounterResetHint::NotCounterReset => 2,
            CounterResetHint::Gauge => 3,
        });
        put_varint(out, zigzag(i64::from(h.schema)));
        for v in [h.zero_threshold, h.zero_count, h.count, h.sum] {
            put_f64(out, v);
        }
        put_spans(out, &h.positive_spans);
        put_spans(out, &h.negative_spans);
        put_floats(out, &h.positive_buckets);
        put_floats(out, &h.negative_buckets);
        put_floats(out, &h.custom_values);
    }
}

impl Cursor<'_> {
    fn f64(&mut self) -> Option<f64> {
        Some(f64::from_bits(self.u64_le()?))
    }

    fn spans(&mut self) -> Option<Vec<Span>> {
        let count = self.varint()?;
        let mut spans = Vec::new();
        for _ in 0..count {
            let offset = i32::try_from(unzigzag(self.varint()?)).ok()?;
            let length = u32::try_from(self.varint()?).ok()?;
            spans.push(Span { offset, length });
        }
        Some(spans)
    }

    fn floats(&mut self) -> Option<Vec<f64>> {
        let count = self.varint()?;
        let mut values = Vec::new();
        for _ in 0..count {
            values.push(self.f64()?);
        }
        Some(values)
    }

    fn histogram(&mut self) -> Option<FloatHistogram> {
        let counter_reset_hint = match self.u8()? {
            0 => CounterResetHint::Unknown,
            1 => CounterResetHint::CounterReset,
            2 => CounterResetHint::NotCounterReset,
            3 => CounterResetHint::Gauge,
            _ => return None,
        };
        let schema = i32::try_from(unzigzag(self.varint()?)).ok()?;
        let (zero_threshold, zero_count, count, sum) = (self.f64()?, self.f64()?, self.f64()?, self.f64()?);
        Some(FloatHistogram {
            counter_reset_hint,
            schema,
            zero_threshold,
            zero_count,
            count,
            sum,
            positive_spans: self.spans()?,
            negative_spans: self.spans()?,
            positive_buckets: self.floats()?,
            negative_buckets: self.floats()?,
            custom_values: self.floats()?,
        })
    }
}

/// A decoded record payload.
pub(super) enum Payload {
    Histograms { labels: Labels, samples: Vec<HistogramSample> },
    Batch { series: Vec<(SeriesId, Labels)>, samples: Vec<(SeriesId, i64, u64)> },
    CheckpointSeries(SnapshotSeries),
    CheckpointEnd { series: u64 },
}

/// Decodes a payload; `None` when it is malformed.
pub(super) fn parse_payload(bytes: &[u8]) -> Option<Payload> {
    let mut cursor = Cursor { bytes, position: 0 };
    let payload = match cursor.u8()? {
        TYPE_BATCH => {
            let series_count = cursor.varint()?;
            let mut series = Vec::new();
            for _ in 0..series_count {
                series.push((cursor.id()?, cursor.labels()?));
            }
            let sample_count = cursor.varint()?;
            let mut samples = Vec::new();
            if sample_count > 0 {
                let base = cursor.u64_le()? as i64;
                for _ in 0..sample_count {
                    let id = cursor.id()?;
                    let timestamp = base.wrapping_add(unzigzag(cursor.varint()?));
                    samples.push((id, timestamp, cursor.u64_le()?));
                }
            }
            Payload::Batch { series, samples }
        }
        TYPE_CHECKPOINT_SERIES => {
            let id = cursor.id()?;
            let labels = cursor.labels()?;
            let last_t = cursor.u64_le()? as i64;
            let last_v = cursor.u64_le()?;
            let closed_count = cursor.varint()?;
            let mut closed = Vec::new();
            for _ in 0..closed_count {
                let min_t = cursor.u64_le()? as i64;
                let max_t = cursor.u64_le()? as i64;
                let data: Arc<[u8]> = Arc::from(cursor.bytes_with_len()?);
                closed.push(ClosedChunk::new(min_t, max_t, data));
            }
            let open = cursor.bytes_with_len()?;
            let open = (!open.is_empty()).then(|| Arc::from(open));
            Payload::CheckpointSeries(SnapshotSeries { id, labels, last_t, last_v, closed, open })
        }
        TYPE_CHECKPOINT_END => Payload::CheckpointEnd { series: cursor.varint()? },
        TYPE_HISTOGRAMS => {
            let labels = cursor.labels()?;
            let count = cursor.varint()?;
            let mut samples = Vec::new();
            for _ in 0..count {
                let timestamp_ms = cursor.u64_le()? as i64;
                samples.push(HistogramSample { timestamp_ms, histogram: Arc::new(cursor.histogram()?) });
            }
            Payload::Histograms { labels, samples }
        }
        _ => return None,
    };
    cursor.at_end().then_some(payload)
}

fn encode_snapshot_series(out: &mut Vec<u8>, series: &SnapshotSeries) {
    out.push(TYPE_CHECKPOINT_SERIES);
    put_varint(out, u64::from(series.id));
    put_labels(out, &series.labels);
    out.extend_from_slice(&series.last_t.to_le_bytes());
    out.extend_from_slice(&series.last_v.to_le_bytes());
    put_varint(out, series.closed.len() as u64);
    for chunk in &series.closed {
        out.extend_from_slice(&chunk.min_t.to_le_bytes());
        out.extend_from_slice(&chunk.max_t.to_le_bytes());
        put_varint(out, chunk.data.len() as u64);
        out.extend_from_slice(&chunk.data);
    }
    let open = series.open.as_deref().unwrap_or(&[]);
    put_varint(out, open.len() as u64);
    out.extend_from_slice(open);
}

// ---- the directory ----

/// The numbered files of a store directory.
#[derive(Debug, Default)]
pub(super) struct DirListing {
    pub segments: Vec<u64>,
    pub checkpoints: Vec<u64>,
}

pub(super) fn list_dir(dir: &Path) -> Result<DirListing, StoreError> {
    let mut listing = DirListing::default();
    for entry in fs::read_dir(dir).map_err(io_error(dir))? {
        let entry = entry.map_err(io_error(dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(number) = name.strip_suffix(".wal").and_then(|n| n.parse().ok()) {
            listing.segments.push(number);
        } else if let Some(number) = name.strip_prefix("checkpoint.").and_then(|n| n.parse().ok()) {
            listing.checkpoints.push(number);
        } else if name.starts_with("checkpoint.") && name.ends_with(".tmp") {
            // A checkpoint whose writer died before the rename: never valid.
            let _ = fs::remove_file(entry.path());
        }
    }
    listing.segments.sort_unstable();
    listing.checkpoints.sort_unstable();
    Ok(listing)
}

/// The format version in a file header (the caller checked the header's length).
fn file_version(bytes: &[u8]) -> u32 {
    u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]])
}

/// Reads segment `number`, returning its valid payloads' bytes (the caller parses them).
pub(super) fn read_segment(dir: &Path, number: u64, corrupt: &mut u64) -> Result<Vec<Vec<u8>>, StoreError> {
    let path = segment_path(dir, number);
    let bytes = fs::read(&path).map_err(io_error(&path))?;
    if bytes.len() < FILE_HEADER_LEN
        || &bytes[0..4] != SEGMENT_MAGIC
        || !(OLDEST_SEGMENT_VERSION..=FORMAT_VERSION).contains(&file_version(&bytes))
    {
        if !bytes.is_empty() {
            *corrupt += 1;
            tracing::warn!(file = %path.display(), "write-ahead log segment with a bad header skipped");
        }
        return Ok(Vec::new());
    }
    Ok(read_records(&bytes, &path, corrupt).into_iter().map(<[u8]>::to_vec).collect())
}

/// What a checkpoint holds: the head's series and the native histogram series.
#[derive(Default)]
pub(super) struct Checkpoint {
    pub series: Vec<SnapshotSeries>,
    pub histograms: Vec<(Labels, Vec<HistogramSample>)>,
}

/// Reads checkpoint `number`, or `None` when it is incomplete or not a checkpoint.
pub(super) fn read_checkpoint(
    dir: &Path,
    number: u64,
    corrupt: &mut u64,
) -> Result<Option<Checkpoint>, StoreError> {
    let path = checkpoint_path(dir, number);
    let bytes = fs::read(&path).map_err(io_error(&path))?;
    if bytes.len() < FILE_HEADER_LEN
        || &bytes[0..4] != CHECKPOINT_MAGIC
        || file_version(&bytes) != FORMAT_VERSION
    {
        tracing::warn!(file = %path.display(), "checkpoint with a bad header or another format version ignored");
        return Ok(None);
    }
    let mut series = Vec::new();
    let mut histograms = Vec::new();
    let mut complete = false;
    for payload in read_records(&bytes, &path, corrupt) {
        match parse_payload(payload) {
            Some(Payload::CheckpointSeries(one)) => series.push(one),
            Some(Payload::Histograms { labels, samples }) => histograms.push((labels, samples)),
            Some(Payload::CheckpointEnd { series: count }) => {
                complete = true;
                if count != series.len() as u64 {
                    tracing::warn!(file = %path.display(), expected = count, found = series.len(), "checkpoint lost series records");
                }
            }
            _ => {
                *corrupt += 1;
                tracing::warn!(file = %path.display(), "malformed checkpoint record skipped");
            }
        }
    }
    if !complete {
        tracing::warn!(file = %path.display(), "incomplete checkpoint ignored");
        return Ok(None);
    }
    Ok(Some(Checkpoint { series, histograms }))
}

/// Writes checkpoint `number` atomically (temporary file, sync, rename, directory sync).
/// Returns its size in bytes.
pub(super) fn write_checkpoint(
    dir: &Path,
    number: u64,
    series: &[SnapshotSeries],
    histograms: &[(Labels, Vec<HistogramSample>)],
) -> Result<u64, StoreError> {
    let final_path = checkpoint_path(dir, number);
    let temporary = dir.join(format!("checkpoint.{number:016}.tmp"));
    let file = File::create(&temporary).map_err(io_error(&temporary))?;
    let mut writer = io::BufWriter::with_capacity(1 << 20, file);
    let mut size = FILE_HEADER_LEN as u64;
    writer.write_all(&file_header(CHECKPOINT_MAGIC)).map_err(io_error(&temporary))?;
    let (mut payload, mut framed) = (Vec::new(), Vec::new());
    let mut write = |payload: &[u8], framed: &mut Vec<u8>| -> Result<(), StoreError> {
        framed.clear();
        frame(framed, payload);
        size += framed.len() as u64;
        writer.write_all(framed).map_err(io_error(&temporary))
    };
    for one in series {
        payload.clear();
        encode_snapshot_series(&mut payload, one);
        write(&payload, &mut framed)?;
    }
    for (labels, samples) in histograms {
        payload.clear();
        encode_histograms(&mut payload, labels, samples);
        write(&payload, &mut framed)?;
    }
    payload.clear();
    payload.push(TYPE_CHECKPOINT_END);
    put_varint(&mut payload, series.len() as u64);
    write(&payload, &mut framed)?;
    let file = writer
        .into_inner()
        .map_err(|e| StoreError::Io { path: temporary.clone(), source: e.into_error() })?;
    file.sync_all().map_err(io_error(&temporary))?;
    drop(file);
    fs::rename(&temporary, &final_path).map_err(io_error(&final_path))?;
    sync_directory(dir)?;
    Ok(size)
}

/// Deletes the segments and checkpoints numbered below `number`.
pub(super) fn remove_before(dir: &Path, number: u64) -> Result<(), StoreError> {
    let listing = list_dir(dir)?;
    for segment in listing.segments.into_iter().filter(|&n| n < number) {
        let path = segment_path(dir, segment);
        fs::remove_file(&path).map_err(io_error(&path))?;
    }
    for checkpoint in listing.checkpoints.into_iter().filter(|&n| n < number) {
        let path = checkpoint_path(dir, checkpoint);
        fs::remove_file(&path).map_err(io_error(&path))?;
    }
    Ok(())
}

// ---- the log writer ----

/// The segment being appended to. Only the thread doing a group commit (or a checkpoint cut)
/// touches it.
#[derive(Debug)]
struct SegmentWriter {
    file: Option<File>,
    number: u64,
    size: u64,
}

#[derive(Debug, Default)]
struct CommitState {
    /// Framed records queued and not yet written.
    pending: Vec<u8>,
    /// Sequence number of the last record queued.
    queued_through: u64,
    /// Every record up to this sequence number is durable.
    synced_through: u64,
    /// A thread is writing and syncing.
    syncing: bool,
    /// Records up to this sequence number were lost to a write error (with its message).
    failed: Option<(u64, String)>,
}

/// The open write-ahead log.
#[derive(Debug)]
pub(super) struct Wal {
    dir: PathBuf,
    commit: Mutex<CommitState>,
    durable: Condvar,
    writer: Mutex<SegmentWriter>,
    /// Bytes in segments since the last checkpoint.
    segment_bytes: std::sync::atomic::AtomicU64,
}

impl Wal {
    /// Starts logging into a new segment `number` of `dir`.
    pub(super) fn create(dir: &Path, number: u64) -> Result<Wal, StoreError> {
        let mut writer = SegmentWriter { file: None, number, size: 0 };
        open_segment(dir, &mut writer, number)?;
        Ok(Wal {
            dir: dir.to_path_buf(),
            commit: Mutex::new(CommitState::default()),
            durable: Condvar::new(),
            writer: Mutex::new(writer),
            segment_bytes: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// Queues a framed record; returns its sequence number for [`Wal::wait_durable`]. Called
    /// with the head's write lock held.
    pub(super) fn enqueue(&self, framed: &[u8]) -> u64 {
        let mut state = lock(&self.commit);
        state.pending.extend_from_slice(framed);
        state.queued_through += 1;
        state.queued_through
    }

    /// The sequence number of the last record queued.
    pub(super) fn queued_through(&self) -> u64 {
        lock(&self.commit).queued_through
    }

    /// Bytes written to segments since the last checkpoint.
    pub(super) fn segment_bytes(&self) -> u64 {
        self.segment_bytes.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Blocks until record `sequence` is durable (group commit, see the module doc).
    pub(super) fn wait_durable(&self, sequence: u64) -> Result<(), StoreError> {
        let mut state = lock(&self.commit);
        loop {
            if state.synced_through >= sequence {
                return Ok(());
            }
            if let Some((through, message)) = &state.failed
                && *through >= sequence
            {
                return Err(StoreError::WalWrite(message.clone()));
            }
            if state.syncing {
                state = self.durable.wait(state).unwrap_or_else(|poisoned| poisoned.into_inner());
                continue;
            }
            state.syncing = true;
            let batch = std::mem::take(&mut state.pending);
            let through = state.queued_through;
            drop(state);
            let result = self.write_and_sync(&batch);
            state = lock(&self.commit);
            state.syncing = false;
            match result {
                Ok(()) => state.synced_through = through,
                Err(error) => state.failed = Some((through, error.to_string())),
            }
            if state.pending.is_empty() {
                // Keep the allocation for the next batch.
                let mut reuse = batch;
                reuse.clear();
                state.pending = reuse;
            }
            self.durable.notify_all();
        }
    }

    fn write_and_sync(&self, bytes: &[u8]) -> Result<(), StoreError> {
        if bytes.is_empty() {
            return Ok(());
        }
        let mut writer = lock(&self.writer);
        if writer.file.is_none() || writer.size >= SEGMENT_BYTES {
            let next = writer.number + 1;
            open_segment(&self.dir, &mut writer, next)?;
        }
        let path = segment_path(&self.dir, writer.number);
        let result = match writer.file.as_mut() {
            Some(file) => file.write_all(bytes).and_then(|()| file.sync_data()),
            None => Err(io::Error::other("no open segment")),
        };
        match result {
            Ok(()) => {
                writer.size += bytes.len() as u64;
                self.segment_bytes.fetch_add(bytes.len() as u64, std::sync::atomic::Ordering::Relaxed);
                Ok(())
            }
            Err(source) => {
                // A partial write may have left a torn record: continue in a fresh segment.
                writer.file = None;
                Err(StoreError::Io { path, source })
            }
        }
    }

    /// Makes everything queued durable and starts a new segment; returns its number (the
    /// checkpoint to write next covers every segment before it). Call with the head's write
    /// lock held, so nothing is queued meanwhile.
    pub(super) fn cut(&self) -> Result<u64, StoreError> {
        self.wait_durable(self.queued_through())?;
        let mut writer = lock(&self.writer);
        let next = writer.number + 1;
        open_segment(&self.dir, &mut writer, next)?;
        self.segment_bytes.store(0, std::sync::atomic::Ordering::Relaxed);
        Ok(next)
    }

    pub(super) fn dir(&self) -> &Path {
        &self.dir
    }
}

fn open_segment(dir: &Path, writer: &mut SegmentWriter, number: u64) -> Result<(), StoreError> {
    let path = segment_path(dir, number);
    let mut file =
        OpenOptions::new().create(true).truncate(true).write(true).open(&path).map_err(io_error(&path))?;
    file.write_all(&file_header(SEGMENT_MAGIC)).map_err(io_error(&path))?;
    file.sync_data().map_err(io_error(&path))?;
    sync_directory(dir)?;
    writer.file = Some(file);
    writer.number = number;
    writer.size = FILE_HEADER_LEN as u64;
    Ok(())
}
