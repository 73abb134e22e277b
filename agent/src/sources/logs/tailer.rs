//! The tailer thread: discovery, one turn per open file per round, rotation and truncation
//! handling, chunk sending and periodic checkpoints. See the parent module for the design.

use crate::logs::config::StartAt;
use crate::logs::{
    ChunkBuilder, Delivery, FileCommit, LogBudget, LogChunk, LogEntry, LogFanout, StdStream, StreamLabels,
};
use crate::sources::logs::CompiledSource;
use crate::sources::logs::checkpoint::{CheckpointEntry, Checkpointer, Record};
use crate::sources::logs::discovery::{rotated_siblings, siblings};
use crate::sources::logs::fingerprint::{FileId, Fingerprint, Upgrade};
use crate::sources::logs::metrics::LogSourceMetrics;
use crate::sources::logs::parse::{LineParser, ParseCounters};
use crate::sources::logs::path_labels::path_labels;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::fs::File;
use std::future::Future;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;

/// A file shorter than its fingerprint length is read once it has not changed for this long.
const SHORT_FILE_WAIT: Duration = Duration::from_secs(1);
/// A file no longer at a matched path is closed once drained and unchanged for this long
/// (writers may append right after a rename, before they reopen).
const DETACHED_IDLE: Duration = Duration::from_secs(1);
/// The largest read; a chunk holds what one read produced.
const MAX_BLOCK_BYTES: usize = 256 << 10;
const MIN_BLOCK_BYTES: usize = 4 << 10;
/// Blocks a file may read per round before the next file's turn.
const BLOCKS_PER_TURN: usize = 4;
/// What a chunk costs besides its buffers (the struct, its stream handles, the channel slot).
const CHUNK_OVERHEAD: usize = 512;
/// How far back `start_at: end` looks for the start of the last line.
const LINE_START_LOOKBACK: u64 = 64 << 10;

/// The tailer was asked to stop (or the budget was closed).
#[derive(Debug)]
pub(crate) struct Stopped;

/// What the thread is started with.
pub(crate) struct TailerSettings {
    pub sources: Vec<CompiledSource>,
    pub poll_interval: Duration,
    pub discovery_interval: Duration,
    pub checkpoint_interval: Duration,
    pub checkpoint_path: PathBuf,
    /// No checkpoint file existed: `start_at` applies to the files of the first discovery.
    pub first_start: bool,
    pub node_name: String,
}

/// What every turn needs, never changed while running.
struct Ctx {
    sources: Vec<CompiledSource>,
    fanout: LogFanout,
    budget: LogBudget,
    metrics: LogSourceMetrics,
    node_name: String,
    poll_interval: Duration,
    discovery_interval: Duration,
    block_bytes: usize,
    handle: Handle,
    stop: CancellationToken,
}

/// Scratch buffers and the checkpoint table.
struct Io {
    buf: Vec<u8>,
    scratch: Vec<u8>,
    checkpoints: Checkpointer,
}

/// A stream's labels and structured metadata, built once per file.
#[derive(Clone)]
struct StreamInfo {
    labels: Arc<StreamLabels>,
    metadata: Arc<[(String, String)]>,
}

/// One open file.
struct TailedFile {
    /// Its record in the checkpoint table.
    key: u64,
    id: FileId,
    source: usize,
    /// Where it was last seen.
    path: PathBuf,
    /// The path it was discovered under; its labels come from it.
    origin_path: PathBuf,
    /// The `path` label of its lag gauge while it is tracked.
    lag_label: Option<String>,
    file: File,
    fingerprint: Option<Fingerprint>,
    parser: LineParser,
    counters: ParseCounters,
    commit: Arc<FileCommit>,
    /// Bytes fed to the parser (the next read starts here).
    read_offset: u64,
    /// The end offset of the last chunk sent.
    sent_offset: u64,
    streams: [Option<StreamInfo>; 3],
    /// `path` is matched by the globs and names this file.
    tracked: bool,
    size_seen: u64,
    size_changed_at: Instant,
    last_data: Instant,
    last_path_check: Option<Instant>,
    /// Read only once this file (rotated away from our path) has been read to its end.
    after: Option<FileId>,
    reached_eof: bool,
    reported_error: bool,
    /// After a copytruncate: the newest copy read. Once the new generation is fingerprinted,
    /// copies newer than this are generations truncated away before we saw them.
    copies_after: Option<SystemTime>,
}

/// What a turn did.
enum Turn {
    Idle,
    Read,
    /// The file's path now names another file (to open, after this one was drained).
    Replaced(PathBuf),
    /// Drained and gone from the globs: remove it.
    Close,
}

/// What the identity check found.
enum Identity {
    Ready,
    NotYet,
    Truncated,
}

/// Whether a file's path still names it.
enum PathState {
    Same,
    Replaced,
    Gone,
}

/// The tailer: owned by its thread, handed back when it stops.
pub(crate) struct Tailer {
    ctx: Ctx,
    io: Io,
    files: Vec<TailedFile>,
    first_start: bool,
    discovered_once: bool,
    next_discovery: Instant,
    /// Paths that failed to open (logged once until they open).
    open_failures: HashSet<PathBuf>,
    /// The file last opened at each path: the predecessor of the next one opened there.
    last_at_path: HashMap<PathBuf, FileId>,
    /// Files closed lately: never taken for a rotated generation not seen before.
    /// With each file's last modification time, for [`Tailer::open_missed_generations`].
    recently_closed: VecDeque<(FileId, Option<SystemTime>)>,
}

/// How many closed files [`Tailer::recently_closed`] remembers.
const RECENTLY_CLOSED: usize = 4096;

fn unix_now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Builds a stream's labels: path labels, then `node_name`, then the static `labels` (which
/// override both), then `stream`; names in `structured_metadata` become metadata instead.
fn build_stream(
    source: &CompiledSource,
    origin_path: &Path,
    node_name: &str,
    stream: StdStream,
) -> StreamInfo {
    let mut all: BTreeMap<String, String> =
        path_labels(source.path_labels, origin_path).into_iter().collect();
    if !node_name.is_empty() {
        all.insert("node_name".to_string(), node_name.to_string());
    }
    for (name, value) in &source.labels {
        all.insert(name.clone(), value.clone());
    }
    if let Some(value) = stream.label_value() {
        all.insert("stream".to_string(), value.to_string());
    }
    let mut pairs = Vec::with_capacity(all.len());
    let mut metadata = Vec::new();
    for (name, value) in all {
        if source.structured_metadata.contains(&name) {
            metadata.push((name, value));
        } else {
            pairs.push((name, value));
        }
    }
    let loki = harrier_telemetry::loki::label_string(&pairs);
    StreamInfo { labels: Arc::new(StreamLabels { pairs, loki }), metadata: Arc::from(metadata) }
}

impl Ctx {
    /// Runs `future` on this (non-runtime) thread until it completes, writing checkpoints
    /// when due meanwhile; `Err(Stopped)` once the tailer is asked to stop.
    fn wait<F: Future>(&self, checkpoints: &mut Checkpointer, future: F) -> Result<F::Output, Stopped> {
        enum Woke<T> {
            Stop,
            Done(T),
            Changed,
            Checkpoint,
        }
        let mut future = std::pin::pin!(future);
        loop {
            let due = tokio::time::Instant::from_std(checkpoints.next_due);
            let pending = checkpoints.pending;
            let changed = checkpoints.changed();
            let woke = self.handle.block_on(async {
                tokio::select! {
                    biased;
                    () = self.stop.cancelled() => Woke::Stop,
                    output = &mut future => Woke::Done(output),
                    // A delivery advanced an offset: write it now, or once the interval since the
                    // last write has passed.
                    () = changed.notified(), if !pending => Woke::Changed,
                    () = tokio::time::sleep_until(due), if pending => Woke::Checkpoint,
                }
            });
            match woke {
                Woke::Stop => return Err(Stopped),
                Woke::Done(output) => return Ok(output),
                Woke::Changed if Instant::now() < checkpoints.next_due => checkpoints.pending = true,
                Woke::Changed | Woke::Checkpoint => checkpoints.write_if_changed(),
            }
        }
    }

    /// Turns what the parser produced into a chunk and sends it (after taking its share of the
    /// budget). With nothing to send, the commit still advances past skipped bytes once every
    /// earlier chunk is delivered.
    fn send(&self, io: &mut Io, file: &mut TailedFile, builder: ChunkBuilder) -> Result<(), Stopped> {
        let counters = file.parser.counters();
        self.metrics.add_parse_counters(&file.counters, &counters, builder.invalid_utf8);
        file.counters = counters;
        let end_offset = file.parser.safe_offset();
        if builder.is_empty() {
            if end_offset > file.sent_offset && file.commit.get() >= file.sent_offset {
                file.commit.advance(end_offset);
                file.sent_offset = end_offset;
                if let Some(record) = io.checkpoints.get_mut(file.key) {
                    record.sent = end_offset;
                }
            }
            return Ok(());
        }
        self.metrics.add_read(0, builder.entries.len());
        let source = &self.sources[file.source];
        let mut streams = Vec::with_capacity(builder.stream_kinds.len());
        let mut metadata = Vec::new();
        for kind in &builder.stream_kinds {
            let slot = &mut file.streams[kind.index()];
            let info =
                slot.get_or_insert_with(|| build_stream(source, &file.origin_path, &self.node_name, *kind));
            streams.push(Arc::clone(&info.labels));
            if !source.structured_metadata.is_empty() {
                metadata.push(Arc::clone(&info.metadata));
            }
        }
        let sinks = self.fanout.sink_count();
        let mut chunk = LogChunk {
            streams,
            metadata,
            entries: builder.entries,
            data: builder.data,
            delivery: Some(Delivery {
                commit: Arc::clone(&file.commit),
                end_offset,
                pending_sinks: AtomicUsize::new(sinks),
            }),
            budget: None,
        };
        // Charge what the chunk holds, not only its line bytes: many short or empty lines cost
        // more in entries than in text.
        let held = chunk.data.capacity()
            + chunk.entries.capacity() * std::mem::size_of::<LogEntry>()
            + CHUNK_OVERHEAD;
        let permit = self.wait(&mut io.checkpoints, self.budget.acquire(held))?.ok_or(Stopped)?;
        chunk.budget = Some(permit);
        file.sent_offset = file.sent_offset.max(end_offset);
        if let Some(record) = io.checkpoints.get_mut(file.key) {
            record.sent = file.sent_offset;
        }
        if sinks == 0 {
            // Nobody will call `delivered`: nothing is waiting for these lines.
            file.commit.advance(end_offset);
        }
        self.fanout.send(chunk);
        Ok(())
    }

    /// Reads up to `max_bytes` from `from` (the file itself if `None`: a copy for
    /// copytruncate) at the file's read offset, one chunk per block. Returns the bytes read.
    fn pump(
        &self,
        io: &mut Io,
        file: &mut TailedFile,
        from: Option<&File>,
        max_bytes: usize,
    ) -> Result<u64, Stopped> {
        let mut total = 0u64;
        while (total as usize) < max_bytes {
            // Blocks that produce no entries never wait on the budget, where stop is noticed.
            if self.stop.is_cancelled() {
                return Err(Stopped);
            }
            let block = self.block_bytes.min(max_bytes - total as usize).max(1);
            if io.buf.len() < block {
                io.buf.resize(block, 0);
            }
            let result = {
                let source = from.unwrap_or(&file.file);
                source.read_at(&mut io.buf[..block], file.read_offset)
            };
            let n = match result {
                Ok(0) => break,
                Ok(n) => n,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => {
                    self.read_error(file, "reading", &error);
                    break;
                }
            };
            file.reported_error = false;
            total += n as u64;
            self.metrics.add_read(n, 0);
            let mut builder = ChunkBuilder {
                data: Vec::with_capacity(n + 256),
                entries: Vec::with_capacity(n / 96 + 4),
                ..ChunkBuilder::default()
            };
            file.parser.feed(&io.buf[..n], unix_now_ns(), &mut builder);
            file.read_offset += n as u64;
            self.send(io, file, builder)?;
            if n < block {
                break;
            }
        }
        Ok(total)
    }

    /// Reads `file` to its current end.
    fn drain(&self, io: &mut Io, file: &mut TailedFile) -> Result<(), Stopped> {
        while self.pump(io, file, None, usize::MAX)? > 0 {}
        Ok(())
    }

    fn read_error(&self, file: &mut TailedFile, what: &str, error: &io::Error) {
        self.metrics.read_error();
        if !file.reported_error {
            file.reported_error = true;
            tracing::warn!(path = %file.path.display(), %error, "{what} a log file failed");
        }
    }

    /// Checks (and upgrades) the fingerprint; `Truncated` if the file was truncated in place.
    fn identity(&self, io: &mut Io, file: &mut TailedFile, size: u64, now: Instant) -> io::Result<Identity> {
        let target = self.sources[file.source].fingerprint_bytes;
        let Some(fingerprint) = file.fingerprint else {
            let waited = now.duration_since(file.size_changed_at) >= SHORT_FILE_WAIT;
            let len = if size >= target as u64 {
                target
            } else if size > 0 && (waited || !file.tracked) {
                size as usize
            } else {
                return Ok(Identity::NotYet);
            };
            let Some(fingerprint) = Fingerprint::of_file(&file.file, len, &mut io.scratch)? else {
                return Ok(Identity::NotYet);
            };
            self.set_fingerprint(io, file, fingerprint);
            return Ok(if size < file.read_offset { Identity::Truncated } else { Identity::Ready });
        };
        if size < file.read_offset || size < u64::from(fingerprint.len) {
            return Ok(Identity::Truncated);
        }
        if (fingerprint.len as usize) < target && size >= target as u64 {
            return match fingerprint.upgrade(&file.file, target, &mut io.scratch)? {
                Upgrade::Upgraded(upgraded) => {
                    self.set_fingerprint(io, file, upgraded);
                    Ok(Identity::Ready)
                }
                Upgrade::NotYet => Ok(Identity::Ready),
                Upgrade::Mismatch => Ok(Identity::Truncated),
            };
        }
        if size > file.read_offset && !fingerprint.matches(&file.file, &mut io.scratch)? {
            return Ok(Identity::Truncated);
        }
        Ok(Identity::Ready)
    }

    fn set_fingerprint(&self, io: &mut Io, file: &mut TailedFile, fingerprint: Fingerprint) {
        file.fingerprint = Some(fingerprint);
        if let Some(record) = io.checkpoints.get_mut(file.key) {
            record.fingerprint = Some(fingerprint);
        }
    }

    /// Whether the file's path still names it.
    fn check_path(&self, file: &mut TailedFile) -> PathState {
        match std::fs::metadata(&file.path) {
            Ok(metadata) if FileId::of(&metadata) == file.id => PathState::Same,
            Ok(metadata) if metadata.is_file() => PathState::Replaced,
            Ok(_) => PathState::Gone,
            Err(error) if error.kind() == io::ErrorKind::NotFound => PathState::Gone,
            Err(error) => {
                self.read_error(file, "checking", &error);
                PathState::Same
            }
        }
    }

    /// Stops tracking the file at its path (rotated or deleted): it is drained, then closed.
    fn detach(&self, file: &mut TailedFile) {
        file.tracked = false;
        file.reached_eof = false;
        if let Some(label) = file.lag_label.take() {
            self.metrics.remove_lag(&label);
        }
    }

    /// One turn of one file: identity, rotation, reading up to the quantum, closing.
    fn turn(&self, io: &mut Io, file: &mut TailedFile, now: Instant) -> Result<Turn, Stopped> {
        let size = match file.file.metadata() {
            Ok(metadata) => metadata.len(),
            Err(error) => {
                self.read_error(file, "checking", &error);
                return Ok(Turn::Idle);
            }
        };
        if size != file.size_seen {
            file.size_seen = size;
            file.size_changed_at = now;
        }
        let path_check_due =
            file.last_path_check.is_none_or(|checked| now.duration_since(checked) >= self.poll_interval);
        let mut replaced = false;
        if path_check_due {
            file.last_path_check = Some(now);
            match self.check_path(file) {
                PathState::Same => {}
                PathState::Replaced if file.tracked => {
                    self.detach(file);
                    replaced = true;
                }
                // Detached earlier, the path now names a new file: open it (if not yet open).
                PathState::Replaced => replaced = true,
                PathState::Gone => {
                    if file.tracked {
                        self.detach(file);
                    }
                }
            }
        }
        let identity = match self.identity(io, file, size, now) {
            Ok(identity) => identity,
            Err(error) => {
                self.read_error(file, "fingerprinting", &error);
                return Ok(Turn::Idle);
            }
        };
        if matches!(identity, Identity::Ready) && file.copies_after.is_some() && file.fingerprint.is_some() {
            self.check_copies_after_truncation(io, file, now)?;
        }
        let mut read = 0;
        match identity {
            Identity::NotYet => {}
            Identity::Truncated => {
                self.truncated(io, file, now)?;
                return Ok(if replaced { Turn::Replaced(file.path.clone()) } else { Turn::Read });
            }
            Identity::Ready if replaced => self.drain(io, file)?,
            Identity::Ready if size > file.read_offset => {
                read = self.pump(io, file, None, self.block_bytes * BLOCKS_PER_TURN)?;
            }
            Identity::Ready => {}
        }
        if read > 0 {
            file.last_data = now;
        } else {
            if file.fingerprint.is_some() && file.read_offset >= file.size_seen {
                file.reached_eof = true;
            }
            let mut builder = ChunkBuilder::default();
            file.parser.flush_expired(Instant::now(), &mut builder);
            if !builder.is_empty() {
                self.send(io, file, builder)?;
            }
        }
        if let Some(label) = &file.lag_label {
            self.metrics.set_lag(label, size.max(file.read_offset).saturating_sub(file.commit.get()));
        }
        if replaced {
            return Ok(Turn::Replaced(file.path.clone()));
        }
        if !file.tracked && read == 0 && self.may_close(file, now) {
            if self.retrack(io, file) {
                return Ok(Turn::Idle);
            }
            let mut builder = ChunkBuilder::default();
            file.parser.finish(unix_now_ns(), &mut builder);
            self.send(io, file, builder)?;
            return Ok(Turn::Close);
        }
        Ok(if read > 0 { Turn::Read } else { Turn::Idle })
    }

    /// A detached file is closed once read to its end and unchanged for [`DETACHED_IDLE`].
    fn may_close(&self, file: &TailedFile, now: Instant) -> bool {
        let drained =
            file.read_offset >= file.size_seen && (file.fingerprint.is_some() || file.size_seen == 0);
        drained
            && now.duration_since(file.size_changed_at) >= DETACHED_IDLE
            && now.duration_since(file.last_data) >= DETACHED_IDLE
    }

    /// Before closing a detached file: if it was renamed to a name the globs match, it is
    /// tracked there instead.
    fn retrack(&self, io: &mut Io, file: &mut TailedFile) -> bool {
        let globs = &self.sources[file.source].globs;
        let Ok(candidates) = siblings(&file.path) else { return false };
        for candidate in candidates {
            if !globs.matches(&candidate) {
                continue;
            }
            let Ok(metadata) = std::fs::metadata(&candidate) else { continue };
            if FileId::of(&metadata) == file.id {
                self.track_at(io, file, candidate);
                return true;
            }
        }
        false
    }

    /// The file is at `path`, a path the globs match.
    fn track_at(&self, io: &mut Io, file: &mut TailedFile, path: PathBuf) {
        if file.path != path || !file.tracked {
            tracing::debug!(from = %file.path.display(), to = %path.display(), "log file renamed");
            if let Some(label) = file.lag_label.take() {
                self.metrics.remove_lag(&label);
            }
            file.lag_label = Some(path.display().to_string());
            if let Some(record) = io.checkpoints.get_mut(file.key) {
                record.path = path.clone();
            }
            file.path = path;
            file.tracked = true;
        }
    }

    /// copytruncate: reads the rest of the old contents from the copy (and, if the file was
    /// truncated more than once since we last looked, the later copies whole), then starts over
    /// at 0.
    fn truncated(&self, io: &mut Io, file: &mut TailedFile, now: Instant) -> Result<(), Stopped> {
        self.metrics.truncation();
        let old_offset = file.read_offset;
        let mut missed = Vec::new();
        let copy = file.fingerprint.and_then(|fingerprint| self.find_copy(io, file, fingerprint));
        match &copy {
            Some(copy) => {
                tracing::info!(
                    path = %file.path.display(), copy = %copy.path.display(), old_offset, copy_size = copy.size,
                    "log file truncated in place; reading the rest from its copy"
                );
                if copy.size > old_offset {
                    while self.pump(io, file, Some(&copy.file), usize::MAX)? > 0 {}
                }
                missed = self.later_copies(file, copy.id, copy.modified);
            }
            None if file.fingerprint.is_some() => tracing::warn!(
                path = %file.path.display(), old_offset,
                "log file truncated in place and no copy found: lines written since the last read may be lost"
            ),
            None => {
                tracing::info!(path = %file.path.display(), "log file truncated before it was fingerprinted")
            }
        }
        // The old generation keeps its record (under the copy's identity, so a restart can
        // finish it) until its chunks are delivered.
        self.finish_generation(io, file, copy.as_ref().map(|copy| (copy.path.clone(), copy.id)))?;
        let newest =
            missed.last().and_then(|copy| copy.modified).or(copy.as_ref().and_then(|copy| copy.modified));
        self.read_whole_copies(io, file, missed, now)?;
        self.start_generation(io, file, file.path.clone(), file.id, None, now);
        file.copies_after = newest;
        Ok(())
    }

    /// Reads copies of generations never seen, oldest first, each as its own generation.
    fn read_whole_copies(
        &self,
        io: &mut Io,
        file: &mut TailedFile,
        copies: Vec<CopyOfFile>,
        now: Instant,
    ) -> Result<(), Stopped> {
        for later in copies {
            tracing::info!(path = %file.path.display(), copy = %later.path.display(), "reading a whole copy of a log file truncated again");
            let len = self.sources[file.source]
                .fingerprint_bytes
                .min(usize::try_from(later.size).unwrap_or(usize::MAX));
            let fingerprint = Fingerprint::of_file(&later.file, len, &mut io.scratch).ok().flatten();
            self.start_generation(io, file, later.path.clone(), later.id, fingerprint, now);
            while self.pump(io, file, Some(&later.file), usize::MAX)? > 0 {}
            self.finish_generation(io, file, None)?;
        }
        Ok(())
    }

    /// A generation started after a copytruncate was just fingerprinted: if copies newer than
    /// the last one read appeared meanwhile, the file was truncated again before we read it;
    /// those copies are read first, then the file from 0 (nothing of it was read yet).
    fn check_copies_after_truncation(
        &self,
        io: &mut Io,
        file: &mut TailedFile,
        now: Instant,
    ) -> Result<(), Stopped> {
        let Some(anchor) = file.copies_after.take() else { return Ok(()) };
        let missed = self.later_copies(file, file.id, Some(anchor));
        let Some(newest) = missed.last().and_then(|copy| copy.modified) else { return Ok(()) };
        let fingerprint = file.fingerprint;
        io.checkpoints.close(file.key);
        self.read_whole_copies(io, file, missed, now)?;
        self.start_generation(io, file, file.path.clone(), file.id, fingerprint, now);
        file.copies_after = Some(newest);
        Ok(())
    }

    /// Emits what the parser holds and closes the generation's checkpoint record (moved to
    /// `moved_to`, the copy, if given).
    fn finish_generation(
        &self,
        io: &mut Io,
        file: &mut TailedFile,
        moved_to: Option<(PathBuf, FileId)>,
    ) -> Result<(), Stopped> {
        let mut builder = ChunkBuilder::default();
        file.parser.finish(unix_now_ns(), &mut builder);
        self.send(io, file, builder)?;
        if let Some(record) = io.checkpoints.get_mut(file.key) {
            match moved_to {
                Some((path, id)) => {
                    record.path = path;
                    record.id = id;
                }
                // The contents are gone: nothing to resume after a restart.
                None if record.id == file.id => record.fingerprint = None,
                None => {}
            }
        }
        io.checkpoints.close(file.key);
        Ok(())
    }

    /// Starts reading a new generation of the file's contents from 0: the file itself after a
    /// truncation (`id` = the file's), or a copy.
    fn start_generation(
        &self,
        io: &mut Io,
        file: &mut TailedFile,
        path: PathBuf,
        id: FileId,
        fingerprint: Option<Fingerprint>,
        now: Instant,
    ) {
        let source = &self.sources[file.source];
        file.parser = LineParser::new(Arc::clone(&source.parser), 0);
        file.counters = ParseCounters::default();
        file.commit = Arc::new(FileCommit::with_notify(0, io.checkpoints.changed()));
        file.read_offset = 0;
        file.sent_offset = 0;
        file.fingerprint = if id == file.id { fingerprint } else { file.fingerprint };
        file.size_changed_at = now;
        file.reached_eof = false;
        file.key = io.checkpoints.add(Record {
            source: Arc::clone(&source.name),
            path,
            origin_path: file.origin_path.clone(),
            id,
            fingerprint,
            commit: Arc::clone(&file.commit),
            sent: 0,
            closed: false,
        });
    }

    /// The copy of a truncated file: a sibling named like it whose fingerprint is the old one
    /// (the longest if several).
    fn find_copy(&self, io: &mut Io, file: &TailedFile, fingerprint: Fingerprint) -> Option<CopyOfFile> {
        let candidates = rotated_siblings(&file.path).ok()?;
        let mut best: Option<CopyOfFile> = None;
        for candidate in candidates {
            let Ok(metadata) = std::fs::metadata(&candidate) else { continue };
            let id = FileId::of(&metadata);
            if !metadata.is_file() || id == file.id || metadata.len() < u64::from(fingerprint.len) {
                continue;
            }
            let Ok(copy) = File::open(&candidate) else { continue };
            if fingerprint.matches(&copy, &mut io.scratch).unwrap_or(false)
                && best.as_ref().is_none_or(|best| metadata.len() > best.size)
            {
                best = Some(CopyOfFile {
                    path: candidate,
                    file: copy,
                    id,
                    size: metadata.len(),
                    modified: metadata.modified().ok(),
                });
            }
        }
        best
    }

    /// Copies made after `after` (by later truncations we did not see): whole generations
    /// never read, oldest first.
    fn later_copies(&self, file: &TailedFile, known: FileId, after: Option<SystemTime>) -> Vec<CopyOfFile> {
        let Some(after) = after else { return Vec::new() };
        let mut later = Vec::new();
        for candidate in rotated_siblings(&file.path).unwrap_or_default() {
            let Ok(metadata) = std::fs::metadata(&candidate) else { continue };
            let id = FileId::of(&metadata);
            let Ok(modified) = metadata.modified() else { continue };
            if !metadata.is_file() || id == file.id || id == known || modified <= after || metadata.len() == 0
            {
                continue;
            }
            let Ok(opened) = File::open(&candidate) else { continue };
            later.push(CopyOfFile {
                path: candidate,
                file: opened,
                id,
                size: metadata.len(),
                modified: Some(modified),
            });
        }
        later.sort_by(|a, b| (a.modified, &a.path).cmp(&(b.modified, &b.path)));
        later
    }
}

/// A copy left by copytruncate.
struct CopyOfFile {
    path: PathBuf,
    file: File,
    id: FileId,
    size: u64,
    modified: Option<SystemTime>,
}

impl Tailer {
    pub fn new(
        settings: TailerSettings,
        fanout: LogFanout,
        budget: LogBudget,
        metrics: LogSourceMetrics,
        handle: Handle,
        stop: CancellationToken,
    ) -> Tailer {
        let block_bytes = (budget.max_bytes() / 4).clamp(MIN_BLOCK_BYTES, MAX_BLOCK_BYTES);
        let checkpoints =
            Checkpointer::new(settings.checkpoint_path, settings.checkpoint_interval, metrics.clone());
        Tailer {
            ctx: Ctx {
                sources: settings.sources,
                fanout,
                budget,
                metrics,
                node_name: settings.node_name,
                poll_interval: settings.poll_interval,
                discovery_interval: settings.discovery_interval,
                block_bytes,
                handle,
                stop,
            },
            io: Io { buf: Vec::new(), scratch: Vec::new(), checkpoints },
            files: Vec::new(),
            first_start: settings.first_start,
            discovered_once: false,
            next_discovery: Instant::now(),
            open_failures: HashSet::new(),
            last_at_path: HashMap::new(),
            recently_closed: VecDeque::new(),
        }
    }

    /// The thread's loop, until stopped; returns the tailer for the final checkpoint.
    pub fn run(mut self, checkpoint: Vec<CheckpointEntry>) -> Tailer {
        self.resume(checkpoint);
        while !self.ctx.stop.is_cancelled() {
            let now = Instant::now();
            if now >= self.next_discovery {
                self.discover();
                self.next_discovery = Instant::now() + self.ctx.discovery_interval;
            }
            let progressed = match self.round() {
                Ok(progressed) => progressed,
                Err(Stopped) => break,
            };
            self.ctx.metrics.set_files_watched(self.files.len());
            self.ctx.metrics.set_in_flight(self.ctx.budget.in_use());
            if Instant::now() >= self.io.checkpoints.next_due && self.io.checkpoints.take_change() {
                self.io.checkpoints.write_if_changed();
            }
            if !progressed {
                let wake = (Instant::now() + self.ctx.poll_interval).min(self.next_discovery);
                // Created when polled, inside the runtime's context.
                let sleep =
                    async move { tokio::time::sleep_until(tokio::time::Instant::from_std(wake)).await };
                if self.ctx.wait(&mut self.io.checkpoints, sleep).is_err() {
                    break;
                }
            }
        }
        self
    }

    /// After the loop: the gauges say nothing is read any more.
    pub fn stopped(&mut self) {
        self.ctx.metrics.set_in_flight(self.ctx.budget.in_use());
        // A reload may drop these files: their lag series must not stay behind.
        for file in &mut self.files {
            if let Some(label) = file.lag_label.take() {
                self.ctx.metrics.remove_lag(&label);
            }
        }
    }

    /// Whether every chunk sent has been delivered.
    pub fn caught_up(&self) -> bool {
        self.io.checkpoints.caught_up()
    }

    /// Writes the checkpoint now (if it changed).
    pub fn write_checkpoint(&mut self) {
        self.io.checkpoints.write_if_changed();
    }

    /// One turn for every open file. Returns whether any read data.
    fn round(&mut self) -> Result<bool, Stopped> {
        let mut progressed = false;
        let mut replaced = Vec::new();
        let mut index = 0;
        while index < self.files.len() {
            if let Some(predecessor) = self.files[index].after {
                if self.files.iter().any(|other| other.id == predecessor && !other.reached_eof) {
                    index += 1;
                    continue;
                }
                self.files[index].after = None;
            }
            let now = Instant::now();
            let file = &mut self.files[index];
            match self.ctx.turn(&mut self.io, file, now)? {
                Turn::Idle => {}
                Turn::Read => progressed = true,
                Turn::Replaced(path) => {
                    progressed = true;
                    replaced.push((path, file.source, file.id));
                }
                Turn::Close => {
                    let file = self.files.remove(index);
                    tracing::debug!(path = %file.path.display(), "closing a drained log file");
                    if let Some(label) = &file.lag_label {
                        self.ctx.metrics.remove_lag(label);
                    }
                    self.io.checkpoints.close(file.key);
                    if self.recently_closed.len() >= RECENTLY_CLOSED {
                        self.recently_closed.pop_front();
                    }
                    let modified = file.file.metadata().and_then(|m| m.modified()).ok();
                    self.recently_closed.push_back((file.id, modified));
                    continue;
                }
            }
            index += 1;
        }
        for (path, source, predecessor) in replaced {
            if let Ok(metadata) = std::fs::metadata(&path)
                && metadata.is_file()
                && self.ctx.sources[source].globs.matches(&path)
            {
                let id = FileId::of(&metadata);
                if !self.files.iter().any(|file| file.id == id) {
                    self.open(path, source, false, Some(predecessor));
                }
            }
        }
        Ok(progressed)
    }

    /// Expands the globs: new files are opened, renamed ones followed.
    fn discover(&mut self) {
        let files = &self.files;
        self.last_at_path.retain(|_, id| files.iter().any(|file| file.id == *id));
        // Failures are remembered to log them once; those of paths gone since (pod churn) go.
        self.open_failures.retain(|path| std::fs::symlink_metadata(path).is_ok());
        let apply_start_at = self.first_start && !self.discovered_once;
        self.discovered_once = true;
        let mut claimed: HashSet<PathBuf> = HashSet::new();
        for source in 0..self.ctx.sources.len() {
            for path in self.ctx.sources[source].globs.expand() {
                if !claimed.insert(path.clone()) {
                    continue;
                }
                let metadata = match std::fs::metadata(&path) {
                    Ok(metadata) if metadata.is_file() => metadata,
                    Ok(_) => continue,
                    Err(error) if error.kind() == io::ErrorKind::NotFound => continue,
                    Err(error) => {
                        self.ctx.metrics.read_error();
                        if self.open_failures.insert(path.clone()) {
                            tracing::warn!(path = %path.display(), %error, "cannot stat a log file");
                        }
                        continue;
                    }
                };
                let id = FileId::of(&metadata);
                if let Some(file) = self.files.iter_mut().find(|file| file.id == id) {
                    if file.source == source {
                        self.last_at_path.insert(path.clone(), id);
                        self.ctx.track_at(&mut self.io, file, path);
                    }
                    continue;
                }
                if let Some(file) = self.files.iter_mut().find(|file| file.tracked && file.path == path) {
                    // Rotated since its last check: its next turn drains it, then opens this.
                    file.last_path_check = None;
                    continue;
                }
                let start_at_end = apply_start_at && self.ctx.sources[source].start_at == StartAt::End;
                self.open(path, source, start_at_end, None);
            }
        }
    }

    /// Opens a file found by discovery or rotation.
    fn open(&mut self, path: PathBuf, source: usize, start_at_end: bool, after: Option<FileId>) {
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(error) => {
                self.ctx.metrics.read_error();
                if self.open_failures.insert(path.clone()) {
                    tracing::warn!(path = %path.display(), %error, "cannot open a log file");
                }
                return;
            }
        };
        self.open_failures.remove(&path);
        let metadata = match file.metadata() {
            Ok(metadata) => metadata,
            Err(error) => {
                self.ctx.metrics.read_error();
                tracing::warn!(path = %path.display(), %error, "cannot stat a log file");
                return;
            }
        };
        let offset = if start_at_end { line_start_before(&file, metadata.len()) } else { 0 };
        let id = FileId::of(&metadata);
        // The file that was at this path before (rotated away, maybe at a restart) is read
        // first, and the generations between them.
        let predecessor = after.or_else(|| {
            self.last_at_path
                .get(&path)
                .copied()
                .filter(|last| self.files.iter().any(|file| file.id == *last))
        });
        self.last_at_path.insert(path.clone(), id);
        let after = match predecessor {
            Some(predecessor) => self.open_missed_generations(&path, source, predecessor, id),
            None => None,
        };
        tracing::debug!(path = %path.display(), offset, "tailing a log file");
        let mut tailed =
            self.new_tailed(file, id, source, path.clone(), path, None, offset, true, metadata.len());
        tailed.after = after;
        self.files.push(tailed);
    }

    /// Files rotated away from `path` after `predecessor` (the file we were reading there) and
    /// before `current` (the one there now), never seen because rotations came faster than our
    /// checks (or while reading waited for the budget, or while the agent was down): their
    /// names start with `path`'s, they are newer than the predecessor's last write and not
    /// open. They are opened to be drained, oldest first, each after the one before; returns
    /// the last of the chain (what `current` waits for).
    fn open_missed_generations(
        &mut self,
        path: &Path,
        source: usize,
        predecessor: FileId,
        current: FileId,
    ) -> Option<FileId> {
        let last_write = self
            .files
            .iter()
            .find(|file| file.id == predecessor)
            .and_then(|file| file.file.metadata().ok())
            .and_then(|metadata| metadata.modified().ok())
            // Drained and closed already: its time was kept when it closed.
            .or_else(|| {
                self.recently_closed.iter().find(|(closed, _)| *closed == predecessor).and_then(|(_, m)| *m)
            });
        let Some(last_write) = last_write else { return Some(predecessor) };
        let mut missed = Vec::new();
        for candidate in rotated_siblings(path).unwrap_or_default() {
            let Ok(metadata) = std::fs::metadata(&candidate) else { continue };
            let id = FileId::of(&metadata);
            let Ok(modified) = metadata.modified() else { continue };
            // File times are coarse (a clock tick): a generation may share its predecessor's.
            if metadata.is_file()
                && modified >= last_write
                && id != current
                && !self.files.iter().any(|file| file.id == id)
                && !self.recently_closed.iter().any(|(closed, _)| *closed == id)
            {
                missed.push((modified, candidate));
            }
        }
        missed.sort();
        let mut previous = predecessor;
        for (_, candidate) in missed {
            let Ok(file) = File::open(&candidate) else { continue };
            let Ok(metadata) = file.metadata() else { continue };
            tracing::info!(path = %candidate.display(), "reading a rotated log file not seen before");
            let id = FileId::of(&metadata);
            let mut tailed = self.new_tailed(
                file,
                id,
                source,
                candidate,
                path.to_path_buf(),
                None,
                0,
                false,
                metadata.len(),
            );
            tailed.after = Some(previous);
            self.files.push(tailed);
            previous = id;
        }
        Some(previous)
    }

    #[allow(clippy::too_many_arguments)]
    fn new_tailed(
        &mut self,
        file: File,
        id: FileId,
        source: usize,
        path: PathBuf,
        origin_path: PathBuf,
        fingerprint: Option<Fingerprint>,
        offset: u64,
        tracked: bool,
        size: u64,
    ) -> TailedFile {
        let compiled = &self.ctx.sources[source];
        let commit = Arc::new(FileCommit::with_notify(offset, self.io.checkpoints.changed()));
        let key = self.io.checkpoints.add(Record {
            source: Arc::clone(&compiled.name),
            path: path.clone(),
            origin_path: origin_path.clone(),
            id,
            fingerprint,
            commit: Arc::clone(&commit),
            sent: offset,
            closed: false,
        });
        let now = Instant::now();
        TailedFile {
            key,
            id,
            source,
            lag_label: tracked.then(|| path.display().to_string()),
            path,
            origin_path,
            file,
            fingerprint,
            parser: LineParser::new(Arc::clone(&compiled.parser), offset),
            counters: ParseCounters::default(),
            commit,
            read_offset: offset,
            sent_offset: offset,
            streams: [None, None, None],
            tracked,
            size_seen: size,
            size_changed_at: now,
            last_data: now,
            last_path_check: None,
            after: None,
            reached_eof: false,
            reported_error: false,
            copies_after: None,
        }
    }

    /// Resolves the checkpoint's entries to files (see the module documentation). Entries are
    /// matched by inode first, all of them, so a content match (rule 2) can never take a file
    /// that has its own entry. Generations of one path (a rotated `0.log.<ts>` and the new
    /// `0.log`) are read one after the other, in checkpoint order, as when they were tailed.
    fn resume(&mut self, entries: Vec<CheckpointEntry>) {
        let mut resumed: Vec<(usize, FileId, PathBuf)> = Vec::new();
        let mut unresolved = Vec::new();
        for content_match in [false, true] {
            let pass = if content_match {
                std::mem::take(&mut unresolved)
            } else {
                entries.iter().enumerate().collect()
            };
            for (order, entry) in pass {
                let Some(source) = self.ctx.sources.iter().position(|source| *source.name == *entry.source)
                else {
                    tracing::info!(path = %entry.path, source = %entry.source, "forgetting the checkpoint of a removed log source");
                    continue;
                };
                let Some(fingerprint) = entry.fingerprint() else {
                    tracing::warn!(path = %entry.path, "forgetting a checkpoint entry with an invalid fingerprint");
                    continue;
                };
                let Some((path, file, id, size)) = self.find_checkpointed(entry, fingerprint, content_match)
                else {
                    if content_match {
                        tracing::info!(path = %entry.path, offset = entry.offset, "forgetting the checkpoint of a file that is gone");
                    } else {
                        unresolved.push((order, entry));
                    }
                    continue;
                };
                if self.files.iter().any(|open| open.id == id) {
                    continue;
                }
                let tracked = self.ctx.sources[source].globs.matches(&path);
                tracing::info!(
                    path = %path.display(), checkpointed_path = %entry.path, offset = entry.offset,
                    "resuming a log file from its checkpoint"
                );
                let origin_path = PathBuf::from(&entry.origin_path);
                self.last_at_path.insert(origin_path.clone(), id);
                let tailed = self.new_tailed(
                    file,
                    id,
                    source,
                    path,
                    origin_path.clone(),
                    Some(fingerprint),
                    entry.offset,
                    tracked,
                    size,
                );
                self.files.push(tailed);
                resumed.push((order, id, origin_path));
            }
        }
        resumed.sort_by_key(|(order, _, _)| *order);
        for (i, (_, id, origin)) in resumed.iter().enumerate() {
            let Some((_, previous, _)) = resumed[..i].iter().rev().find(|(_, _, o)| o == origin) else {
                continue;
            };
            if let Some(file) = self.files.iter_mut().find(|file| file.id == *id) {
                file.after = Some(*previous);
            }
        }
    }

    /// (1) the same `dev`, `inode` and fingerprint at the entry's path or in its directory;
    /// (2) with `content_match`, else the entry's own path or one of its rotated names
    /// (`0.log.<ts>`) with the same fingerprint and at least `offset` bytes.
    fn find_checkpointed(
        &mut self,
        entry: &CheckpointEntry,
        fingerprint: Fingerprint,
        content_match: bool,
    ) -> Option<(PathBuf, File, FileId, u64)> {
        let path = PathBuf::from(&entry.path);
        let origin = PathBuf::from(&entry.origin_path);
        let mut candidates = vec![path.clone()];
        if origin != path {
            candidates.push(origin.clone());
        }
        let own_names: HashSet<PathBuf> = if content_match {
            let mut names: HashSet<PathBuf> = candidates.iter().cloned().collect();
            names.extend(rotated_siblings(&origin).unwrap_or_default());
            names.extend(rotated_siblings(&path).unwrap_or_default());
            names
        } else {
            HashSet::new()
        };
        candidates.extend(siblings(&path).unwrap_or_default());
        for candidate in candidates {
            let Ok(metadata) = std::fs::metadata(&candidate) else { continue };
            if !metadata.is_file() || metadata.len() < u64::from(fingerprint.len) {
                continue;
            }
            let id = FileId::of(&metadata);
            let same_inode = id == entry.id();
            let content_candidate =
                content_match && own_names.contains(&candidate) && metadata.len() >= entry.offset;
            if !same_inode && !content_candidate {
                continue;
            }
            let Ok(file) = File::open(&candidate) else { continue };
            if !fingerprint.matches(&file, &mut self.io.scratch).unwrap_or(false) {
                continue;
            }
            return Some((candidate, file, id, metadata.len()));
        }
        None
    }
}

/// For `start_at: end`: the offset just after the last newline before `size` (within
/// [`LINE_START_LOOKBACK`]), so reading starts at a line; `size` if there is none.
fn line_start_before(file: &File, size: u64) -> u64 {
    let from = size.saturating_sub(LINE_START_LOOKBACK);
    let mut tail = vec![0u8; (size - from) as usize];
    let mut filled = 0;
    while filled < tail.len() {
        match file.read_at(&mut tail[filled..], from + filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    match tail[..filled].iter().rposition(|byte| *byte == b'\n') {
        Some(position) => from + position as u64 + 1,
        None => size,
    }
}
