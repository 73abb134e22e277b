//! A durable, byte-bounded, checksummed FIFO of opaque records on local disk, built for the
//! remote_write sink: each encoded batch is appended, a sender peeks the oldest, sends it and
//! acknowledges it.
//!
//! # Guarantees
//! - Once [`DiskQueue::append`] returns `Ok`, the record has been handed to the OS with
//!   `write()`: it survives the process being killed at any moment (kill -9, OOM kill, panic).
//!   [`DiskQueue::flush`] fsyncs, which adds survival of a machine crash.
//! - Records come out in append order. [`DiskQueue::ack`] acknowledges everything up to an id
//!   and is persisted before it returns, so a restart resends only unacknowledged records.
//! - The files on disk never exceed `max_bytes`: an append that would cross the bound first
//!   deletes the oldest segments, counting the unacknowledged records it throws away.
//! - Nothing on disk can make the queue panic or refuse to start: corrupt records are skipped
//!   and counted, a torn tail is truncated, a lost ledger means duplicates rather than loss.
//!
//! # On-disk format (version 1)
//! A queue owns a directory holding:
//! - `lock`: held with an exclusive OS file lock (`flock`) while the queue is open, so two
//!   processes cannot share the directory. The kernel drops the lock when the process dies.
//! - `ledger`: the first unacknowledged id, in two alternating checksummed slots (see
//!   `ledger.rs`).
//! - `NNNNNNNNNNNNNNNNNNNN.seg`: segment files named by the id of their first record, 20
//!   zero-padded digits so names sort in id order. A segment is an 8-byte header, magic `HRQS`
//!   and format version u32 LE, followed by records back to back:
//!
//! ```text
//! offset size field
//!      0    4 magic "HRQR"
//!      4    4 payload length, u32 LE
//!      8    8 record id, u64 LE
//!     16    4 CRC32C of the payload, u32 LE
//!     20    4 CRC32C of bytes 0..20 of this header, u32 LE
//!     24    n payload
//! ```
//!
//! Record ids increase by one per append, across segments and restarts. Appends go to the
//! last segment; a new one starts when the next record would take the last past the segment
//! size (`segment_bytes`, capped at a quarter of `max_bytes` so the drop-oldest step stays
//! small). A segment file is deleted once every record in it is acknowledged, or when it is
//! dropped to stay under the bound.
//!
//! # Recovery at open
//! The last segment is scanned record by record and cut back to the end of its last valid
//! record (a crash mid-append leaves a torn record there, one `append` never returned `Ok`
//! for). Older segments are validated lazily as they are read: a record whose header checksum
//! fails is skipped by scanning forward for the next valid header, one whose payload checksum
//! fails is skipped by its (checksummed) length, and both are counted in
//! [`QueueStats::corrupt_records`]. The next id is one past the largest of the ledger, the
//! last segment's name and the last valid record, so an acknowledged id is never reused.
//!
//! # Memory
//! Only an index of segments (first id and size) is kept in memory, plus the read position;
//! payloads are read from disk on [`DiskQueue::peek`].
//!
//! The API is synchronous. Appends, peeks and acks are single `write()`/`pread()` calls on the
//! page cache (microseconds), cheap enough for an async task to make inline; only fsyncs are
//! slow, and [`DiskQueue::begin_flush`] detaches them so they can run elsewhere (a blocking
//! thread) without holding whatever lock guards the queue.

mod ledger;
mod record;
mod segment;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use ledger::{Ledger, LedgerState};
use record::{HeaderAt, RECORD_HEADER_LEN, RecordHeader, find_next_header, read_header_at, read_payload};
use segment::{
    SEGMENT_HEADER_LEN, Segment, encode_segment_header, list_segments, scan_tail, segment_path, truncate_tail,
};

/// Name of the lock file inside the queue directory.
const LOCK_FILE: &str = "lock";
/// Name of the ack ledger inside the queue directory.
const LEDGER_FILE: &str = "ledger";
/// Closed segments whose fsync waits for the next [`DiskQueue::flush`]; past this many they
/// are synced when the next one closes, which bounds open file handles.
const MAX_UNSYNCED_SEGMENTS: usize = 4;

/// Where a queue lives and how large it may grow.
#[derive(Debug, Clone)]
pub struct DiskQueueConfig {
    /// The queue's own directory (created if missing).
    pub dir: PathBuf,
    /// Bound on the bytes of all segment files; the oldest records are dropped to stay under.
    pub max_bytes: u64,
    /// Target size of one segment file (capped at `max_bytes / 4`).
    pub segment_bytes: u64,
}

/// A record's position in the queue: ids increase by one per append and are never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordId(pub u64);

/// Counters for a queue. `bytes` and `records` describe the queue now; the `dropped_*` and
/// `corrupt_records` counters count since this process opened the queue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Bytes of all segment files on disk (what `max_bytes` bounds), including the not yet
    /// deleted, acknowledged part of the oldest segment.
    pub bytes: u64,
    /// Records not yet acknowledged (corrupt records not yet reached by the reader included).
    pub records: u64,
    /// Unacknowledged records deleted to stay under `max_bytes`.
    pub dropped_records: u64,
    /// Bytes (headers included) of those records.
    pub dropped_bytes: u64,
    /// Records or regions that failed their checksums and were skipped.
    pub corrupt_records: u64,
}

/// Errors of the disk queue.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// An I/O operation on a queue file or directory failed.
    #[error("disk queue I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The record (with its framing) could never fit under `max_bytes`.
    #[error("record of {size} bytes cannot fit in a disk queue bounded to {max_bytes} bytes")]
    RecordTooLarge { size: u64, max_bytes: u64 },
    /// Another process (or another queue in this one) has the directory open.
    #[error("disk queue directory {path} is locked by another process")]
    Locked { path: PathBuf },
    /// A segment was written by a newer on-disk format; refusing to misread it.
    #[error("disk queue segment {path} has format version {version}, this build reads version 1")]
    UnsupportedVersion { path: PathBuf, version: u32 },
    /// An ack named an id that was never appended.
    #[error("ack of record {id} but the last appended record is below {next_id}")]
    AckBeyondEnd { id: u64, next_id: u64 },
}

/// Where the sender is: the segment being read and the offset of the oldest record that may
/// still be unacknowledged.
struct Reader {
    segment_first_id: u64,
    file: File,
    offset: u64,
    /// Ids must increase within a segment; a record below this is corrupt.
    min_id: u64,
    /// The record last returned by `peek`, which sits at `offset`: its id and end offset.
    peeked: Option<(u64, u64)>,
}

/// The durable queue. See the module documentation for the guarantees and the format.
pub struct DiskQueue {
    dir: PathBuf,
    max_bytes: u64,
    segment_bytes: u64,
    /// Holds the directory's exclusive lock until the queue is dropped.
    _lock: File,
    ledger: Ledger,
    /// Every segment file, oldest first; the back one is the segment appends go to.
    segments: VecDeque<Segment>,
    total_bytes: u64,
    /// Open on the last segment, positioned at its end. `None` forces a new segment.
    writer: Option<File>,
    reader: Option<Reader>,
    /// Closed segments written since the last flush.
    unsynced: Vec<File>,
    /// Segment files were created or deleted since the last flush.
    dir_dirty: bool,
    /// The id the next append gets.
    next_id: u64,
    /// No record below this id will be delivered (acknowledged, dropped or skipped).
    floor: u64,
    dropped_records: u64,
    dropped_bytes: u64,
    corrupt_records: u64,
    /// Reused buffer for one framed record.
    write_buffer: Vec<u8>,
    ack_ledger_lost: bool,
}

impl std::fmt::Debug for DiskQueue {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("DiskQueue")
            .field("dir", &self.dir)
            .field("next_id", &self.next_id)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// The fsyncs of one flush, taken from the queue by [`DiskQueue::begin_flush`].
#[derive(Debug)]
#[must_use = "nothing is synced until `sync` runs"]
pub struct PendingSync {
    files: Vec<(PathBuf, File)>,
    /// The queue directory, when segment files were created or deleted.
    dir: Option<PathBuf>,
}

impl PendingSync {
    /// Runs the fsyncs (slow: call it where blocking is fine).
    pub fn sync(self) -> Result<(), QueueError> {
        for (path, file) in &self.files {
            file.sync_data().map_err(io_error(path))?;
        }
        if let Some(dir) = &self.dir {
            sync_directory(dir)?;
        }
        Ok(())
    }
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> QueueError + '_ {
    move |source| QueueError::Io { path: path.to_path_buf(), source }
}

impl DiskQueue {
    /// Opens the queue in `config.dir`, creating it if needed, locking it, and recovering
    /// whatever a previous process left (see "Recovery at open" in the module docs).
    pub fn open(config: DiskQueueConfig) -> Result<Self, QueueError> {
        let dir = config.dir;
        fs::create_dir_all(&dir).map_err(io_error(&dir))?;
        let lock = lock_directory(&dir)?;
        let ledger_path = dir.join(LEDGER_FILE);
        let (ledger, ledger_state) = Ledger::open(&ledger_path).map_err(io_error(&ledger_path))?;
        let mut segments = list_segments(&dir)?;
        let ack_ledger_lost = ledger_state == LedgerState::Reset && !segments.is_empty();

        let mut writer = None;
        let mut next_id = ledger.acked_until();
        if let Some(tail) = segments.back_mut() {
            let path = segment_path(&dir, tail.first_id);
            let mut file = OpenOptions::new().read(true).write(true).open(&path).map_err(io_error(&path))?;
            let scan = scan_tail(&mut file, tail.size, tail.first_id).map_err(io_error(&path))?;
            tail.size = truncate_tail(&mut file, tail.size, scan.valid_end).map_err(io_error(&path))?;
            next_id = next_id.max(tail.first_id);
            if let Some(last_id) = scan.last_id {
                next_id = next_id.max(last_id.saturating_add(1));
            }
            writer = Some(file);
        }
        let total_bytes = segments.iter().map(|segment| segment.size).sum();
        let floor = segments.front().map_or(0, |segment| segment.first_id).max(ledger.acked_until());

        let mut queue = DiskQueue {
            dir,
            max_bytes: config.max_bytes,
            segment_bytes: config.segment_bytes.min(config.max_bytes / 4),
            _lock: lock,
            ledger,
            segments,
            total_bytes,
            writer,
            reader: None,
            unsynced: Vec::new(),
            dir_dirty: false,
            next_id,
            floor,
            dropped_records: 0,
            dropped_bytes: 0,
            corrupt_records: 0,
            write_buffer: Vec::new(),
            ack_ledger_lost,
        };
        queue.delete_acknowledged_segments()?;
        Ok(queue)
    }

    /// Appends one record. When this returns `Ok` the record has been written to the OS and
    /// survives the process being killed. Makes room first by dropping the oldest segments if
    /// the record would take the queue past `max_bytes`.
    pub fn append(&mut self, payload: &[u8]) -> Result<(), QueueError> {
        let record_len = RECORD_HEADER_LEN.saturating_add(payload.len() as u64);
        let payload_len = match u32::try_from(payload.len()) {
            Ok(length) if record_len.saturating_add(SEGMENT_HEADER_LEN) <= self.max_bytes => length,
            _ => return Err(QueueError::RecordTooLarge { size: record_len, max_bytes: self.max_bytes }),
        };
        // Room for the record and, conservatively, the header of a new segment.
        while self.total_bytes.saturating_add(record_len + SEGMENT_HEADER_LEN) > self.max_bytes
            && !self.segments.is_empty()
        {
            self.drop_oldest_segment()?;
        }
        let tail_has_records = self.segments.back().is_some_and(|tail| tail.first_id < self.next_id);
        let tail_is_full = self.segments.back().is_some_and(|tail| {
            tail_has_records && tail.size.saturating_add(record_len) > self.segment_bytes
        });
        if self.writer.is_none() || tail_is_full {
            self.start_segment()?;
        }

        let header = RecordHeader::for_payload(self.next_id, payload_len, payload);
        self.write_buffer.clear();
        self.write_buffer.extend_from_slice(&header.encode());
        self.write_buffer.extend_from_slice(payload);
        let (Some(tail), Some(writer)) = (self.segments.back_mut(), self.writer.as_mut()) else {
            // start_segment always leaves both; treat the impossible as a full queue state.
            return Err(QueueError::Io {
                path: self.dir.clone(),
                source: io::Error::other("no open segment"),
            });
        };
        if let Err(source) = writer.write_all(&self.write_buffer) {
            // Undo a partial write so the segment stays a clean sequence of records; if even
            // that fails, the garbage stays behind the tracked size and a new segment starts.
            let undone = writer.set_len(tail.size).and_then(|()| writer.seek(SeekFrom::Start(tail.size)));
            if undone.is_err() {
                self.writer = None;
            }
            return Err(QueueError::Io { path: segment_path(&self.dir, tail.first_id), source });
        }
        tail.size += record_len;
        self.total_bytes += record_len;
        self.next_id = self.next_id.saturating_add(1);
        Ok(())
    }

    /// The oldest unacknowledged record, read from disk; the same record again until it is
    /// acknowledged. `None` when every record is acknowledged.
    pub fn peek(&mut self) -> Result<Option<(RecordId, Vec<u8>)>, QueueError> {
        loop {
            let Some(index) = self.position_reader()? else {
                return Ok(None);
            };
            let segment = self.segments[index];
            let path = segment_path(&self.dir, segment.first_id);
            let Some(reader) = self.reader.as_mut() else {
                return Ok(None);
            };
            let found =
                read_header_at(&mut reader.file, reader.offset, segment.size).map_err(io_error(&path))?;
            match found {
                HeaderAt::End { trailing } => {
                    if trailing {
                        self.corrupt_records += 1;
                        reader.offset = segment.size;
                    }
                    match self.segments.get(index + 1).copied() {
                        Some(next) => {
                            self.open_reader(next)?;
                            self.floor = self.floor.max(next.first_id);
                        }
                        None => {
                            // Everything appended so far is acknowledged or skipped.
                            self.floor = self.floor.max(self.next_id);
                            return Ok(None);
                        }
                    }
                }
                HeaderAt::Invalid => {
                    self.corrupt_records += 1;
                    reader.offset = find_next_header(&mut reader.file, reader.offset + 1, segment.size)
                        .map_err(io_error(&path))?;
                    reader.peeked = None;
                }
                HeaderAt::Valid(header) => {
                    let end = reader.offset + header.record_len();
                    if header.id < reader.min_id {
                        // Out of order: not a record this queue wrote here.
                        self.corrupt_records += 1;
                        reader.offset = end;
                        reader.peeked = None;
                        continue;
                    }
                    if header.id < self.floor {
                        reader.offset = end;
                        reader.min_id = header.id.saturating_add(1);
                        reader.peeked = None;
                        continue;
                    }
                    match read_payload(&mut reader.file, reader.offset, &header).map_err(io_error(&path))? {
                        Some(payload) => {
                            reader.peeked = Some((header.id, end));
                            self.floor = self.floor.max(header.id);
                            return Ok(Some((RecordId(header.id), payload)));
                        }
                        None => {
                            self.corrupt_records += 1;
                            reader.offset = end;
                            reader.min_id = header.id.saturating_add(1);
                            reader.peeked = None;
                        }
                    }
                }
            }
        }
    }

    /// Acknowledges every record up to and including `id`. Persisted (one `write()` to the
    /// ledger) before it returns; segments left with only acknowledged records are deleted.
    /// Acknowledging an id already acknowledged does nothing.
    pub fn ack(&mut self, id: RecordId) -> Result<(), QueueError> {
        let acked_until = id.0.saturating_add(1);
        if acked_until > self.next_id {
            return Err(QueueError::AckBeyondEnd { id: id.0, next_id: self.next_id });
        }
        if acked_until <= self.ledger.acked_until() {
            return Ok(());
        }
        if let Err(e) = self.ledger.store(acked_until) {
            return Err(io_error(&self.dir.join(LEDGER_FILE))(e));
        }
        self.floor = self.floor.max(acked_until);
        if let Some(reader) = self.reader.as_mut()
            && let Some((peeked_id, end)) = reader.peeked
            && peeked_id < acked_until
        {
            reader.offset = end;
            reader.min_id = peeked_id.saturating_add(1);
            reader.peeked = None;
        }
        self.delete_acknowledged_segments()
    }

    /// Fsyncs the data written since the last flush, the ledger and the directory entries.
    /// Same as [`DiskQueue::begin_flush`] followed by [`PendingSync::sync`].
    pub fn flush(&mut self) -> Result<(), QueueError> {
        self.begin_flush()?.sync()
    }

    /// The fsyncs a [`DiskQueue::flush`] would do, detached from the queue (on duplicated file
    /// handles), so that a caller sharing the queue behind a lock can run them without holding
    /// it: appends and acks go on while the disk syncs. Everything written before this call is
    /// durable once [`PendingSync::sync`] returns `Ok`. Should that fail, the caller reports it;
    /// data written later is synced by the next flush.
    pub fn begin_flush(&mut self) -> Result<PendingSync, QueueError> {
        let mut files = Vec::with_capacity(self.unsynced.len() + 2);
        if let (Some(writer), Some(tail)) = (self.writer.as_ref(), self.segments.back()) {
            let path = segment_path(&self.dir, tail.first_id);
            let file = writer.try_clone().map_err(io_error(&path))?;
            files.push((path, file));
        }
        files.extend(self.unsynced.drain(..).map(|file| (self.dir.clone(), file)));
        let ledger_path = self.dir.join(LEDGER_FILE);
        let ledger = self.ledger.try_clone_file().map_err(io_error(&ledger_path))?;
        files.push((ledger_path, ledger));
        let dir = std::mem::take(&mut self.dir_dirty).then(|| self.dir.clone());
        Ok(PendingSync { files, dir })
    }

    pub fn stats(&self) -> QueueStats {
        QueueStats {
            bytes: self.total_bytes,
            records: self.len(),
            dropped_records: self.dropped_records,
            dropped_bytes: self.dropped_bytes,
            corrupt_records: self.corrupt_records,
        }
    }

    /// Unacknowledged records (an over-count by any corrupt records not yet skipped).
    pub fn len(&self) -> u64 {
        self.next_id.saturating_sub(self.floor)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True when `open` found records on disk but no valid ack ledger, so every record still
    /// on disk is delivered again (worth a warning in the caller's log).
    pub fn ack_ledger_lost(&self) -> bool {
        self.ack_ledger_lost
    }

    /// The directory this queue owns.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Makes `reader` point into an existing segment (the one holding `floor` when it has to
    /// start over) and returns that segment's index; `None` when there are no segments.
    fn position_reader(&mut self) -> Result<Option<usize>, QueueError> {
        if let Some(reader) = &self.reader {
            if let Ok(index) = self.segments.binary_search_by_key(&reader.segment_first_id, |s| s.first_id) {
                return Ok(Some(index));
            }
            self.reader = None;
        }
        if self.segments.is_empty() {
            return Ok(None);
        }
        let index = self.segments.partition_point(|segment| segment.first_id <= self.floor).saturating_sub(1);
        let segment = self.segments[index];
        self.open_reader(segment)?;
        self.floor = self.floor.max(segment.first_id);
        Ok(Some(index))
    }

    fn open_reader(&mut self, segment: Segment) -> Result<(), QueueError> {
        let path = segment_path(&self.dir, segment.first_id);
        let file = File::open(&path).map_err(io_error(&path))?;
        self.reader = Some(Reader {
            segment_first_id: segment.first_id,
            file,
            offset: SEGMENT_HEADER_LEN,
            min_id: segment.first_id,
            peeked: None,
        });
        Ok(())
    }

    /// Closes the current segment and starts a new one named by the next id.
    fn start_segment(&mut self) -> Result<(), QueueError> {
        if let Some(closed) = self.writer.take() {
            self.unsynced.push(closed);
            if self.unsynced.len() > MAX_UNSYNCED_SEGMENTS {
                for file in self.unsynced.drain(..) {
                    file.sync_data().map_err(io_error(&self.dir))?;
                }
            }
        }
        // A last segment without records (left when undoing a failed write failed) would
        // have the new segment's name: replace it.
        if self.segments.back().is_some_and(|tail| tail.first_id >= self.next_id) {
            self.delete_segment(self.segments.len() - 1)?;
        }
        let path = segment_path(&self.dir, self.next_id);
        let mut file =
            OpenOptions::new().write(true).create_new(true).open(&path).map_err(io_error(&path))?;
        self.dir_dirty = true;
        if let Err(source) = file.write_all(&encode_segment_header()) {
            drop(file);
            // Best effort: an orphan header-only file is harmless (recovered as empty).
            let _ = fs::remove_file(&path);
            return Err(QueueError::Io { path, source });
        }
        self.segments.push_back(Segment { first_id: self.next_id, size: SEGMENT_HEADER_LEN });
        self.total_bytes += SEGMENT_HEADER_LEN;
        self.writer = Some(file);
        Ok(())
    }

    /// Deletes the oldest segment to make room, counting the unacknowledged records in it.
    fn drop_oldest_segment(&mut self) -> Result<(), QueueError> {
        let Some(&oldest) = self.segments.front() else {
            return Ok(());
        };
        let end_id = self.segments.get(1).map_or(self.next_id, |next| next.first_id);
        let unacknowledged = end_id.saturating_sub(self.floor.max(oldest.first_id));
        if unacknowledged > 0 {
            let read_offset = match &self.reader {
                Some(reader) if reader.segment_first_id == oldest.first_id => reader.offset,
                _ => SEGMENT_HEADER_LEN,
            };
            self.dropped_records += unacknowledged;
            self.dropped_bytes += oldest.size.saturating_sub(read_offset);
        }
        self.delete_segment(0)?;
        self.floor = self.floor.max(end_id);
        Ok(())
    }

    /// Deletes every segment whose records are all acknowledged, except the last one, which
    /// appends still go to.
    fn delete_acknowledged_segments(&mut self) -> Result<(), QueueError> {
        while self.segments.len() > 1 && self.segments[1].first_id <= self.ledger.acked_until() {
            self.delete_segment(0)?;
        }
        Ok(())
    }

    /// Removes the segment at `index` from disk and from the index.
    fn delete_segment(&mut self, index: usize) -> Result<(), QueueError> {
        let Some(segment) = self.segments.get(index).copied() else {
            return Ok(());
        };
        let path = segment_path(&self.dir, segment.first_id);
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(source) => return Err(QueueError::Io { path, source }),
        }
        self.dir_dirty = true;
        if index + 1 == self.segments.len() {
            self.writer = None;
        }
        if self.reader.as_ref().is_some_and(|reader| reader.segment_first_id == segment.first_id) {
            self.reader = None;
        }
        self.segments.remove(index);
        self.total_bytes = self.total_bytes.saturating_sub(segment.size);
        Ok(())
    }
}

/// How long `open` waits for a lock that another holder is releasing.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// Takes the exclusive lock on `dir/lock`, held for as long as the returned file is open.
///
/// A lock can stay held for a moment after its owner closed the queue: a child process forked
/// at that instant (anywhere in the process) shares the lock until it execs. So a held lock is
/// retried for [`LOCK_WAIT`] before the queue is reported `Locked`.
fn lock_directory(dir: &Path) -> Result<File, QueueError> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path);
    let file = file.map_err(io_error(&path))?;
    let deadline = std::time::Instant::now() + LOCK_WAIT;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(TryLockError::WouldBlock) => return Err(QueueError::Locked { path: dir.to_path_buf() }),
            Err(TryLockError::Error(source)) => return Err(QueueError::Io { path, source }),
        }
    }
}

/// Makes created and deleted file names durable.
fn sync_directory(dir: &Path) -> Result<(), QueueError> {
    #[cfg(unix)]
    File::open(dir).and_then(|directory| directory.sync_all()).map_err(io_error(dir))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}
