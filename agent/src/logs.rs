//! The log pipeline's shared types: what a log source hands to log sinks, how memory between
//! them is bounded, and how a file offset is committed only after every sink delivered.
//!
//! ```text
//!  file source ──LogChunk──▶ LogFanout ──Arc<LogChunk>──▶ each sink (batch, push, retry)
//!      ▲   (awaits LogBudget)                                  │
//!      └──────────── FileCommit::advance(end_offset) ◀─────────┘  LogChunk::delivered()
//! ```
//!
//! - A [`LogChunk`] is what one read of one file produced: complete entries (a CRI line with
//!   its partials joined, a multiline event, a plain line), their bytes in one buffer, each
//!   tagged with its stream (stdout/stderr). It carries a share of the [`LogBudget`] for as
//!   long as it lives, so the bytes between reading and delivery are bounded: when the budget
//!   is spent, the source waits and the file itself is the buffer.
//! - Delivery: a chunk is shared by every sink. Each sink calls [`LogChunk::delivered`] once
//!   it has pushed the chunk (or given it up for good, a 4xx). The last of them advances the
//!   file's [`FileCommit`] to the chunk's `end_offset`, the offset just past the last byte of
//!   its last complete entry. Sinks deliver in the order they receive, and a source sends a
//!   file's chunks in file order, so commits of one file advance in order.
//! - A chunk dropped without `delivered` (shutdown, crash) commits nothing: the next start
//!   reads those lines again (at-least-once; duplicates bounded by what was in flight).

pub mod config;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc};

/// Which output stream of a container an entry came from. `None` for plain files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StdStream {
    Stdout,
    Stderr,
    None,
}

impl StdStream {
    /// A dense index (0, 1, 2) for per-stream tables.
    pub fn index(self) -> usize {
        match self {
            StdStream::Stdout => 0,
            StdStream::Stderr => 1,
            StdStream::None => 2,
        }
    }

    /// The value of the `stream` label (`None` has no label).
    pub fn label_value(self) -> Option<&'static str> {
        match self {
            StdStream::Stdout => Some("stdout"),
            StdStream::Stderr => Some("stderr"),
            StdStream::None => None,
        }
    }
}

/// A stream's labels, sorted by name, and the same set in Loki's label-string syntax
/// (`{a="b", c="d"}`) computed once.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StreamLabels {
    pub pairs: Vec<(String, String)>,
    pub loki: String,
}

/// One entry of a chunk: its timestamp and where its line is in [`LogChunk::data`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogEntry {
    /// Nanoseconds since the Unix epoch.
    pub timestamp_ns: i64,
    pub start: u32,
    pub len: u32,
    /// Index into [`LogChunk::streams`].
    pub stream: u8,
}

/// What one read of one file produced; see the module documentation.
#[derive(Debug)]
pub struct LogChunk {
    /// The chunk's streams; entries refer to them by index (usually one or two).
    pub streams: Vec<Arc<StreamLabels>>,
    /// Per-stream structured metadata, sent with every entry of the stream (Loki 3); empty
    /// unless configured.
    pub metadata: Vec<Arc<[(String, String)]>>,
    /// Entries in file order. Every line is valid UTF-8 (sources replace invalid bytes).
    pub entries: Vec<LogEntry>,
    pub data: Vec<u8>,
    pub delivery: Option<Delivery>,
    pub budget: Option<OwnedSemaphorePermit>,
}

impl LogChunk {
    /// The line of `entry`.
    pub fn line(&self, entry: &LogEntry) -> &str {
        let start = entry.start as usize;
        let bytes = self.data.get(start..start + entry.len as usize).unwrap_or_default();
        // Sources only store UTF-8 (see `ChunkBuilder::push`); fall back to empty, never panic.
        std::str::from_utf8(bytes).unwrap_or_default()
    }

    /// Bytes of line data (what batch sizes and budgets count).
    pub fn data_bytes(&self) -> usize {
        self.data.len()
    }

    /// Called by each sink once the chunk is delivered or given up for good. The last call
    /// (of [`Delivery::sinks`]) commits the chunk's file offset.
    pub fn delivered(&self) {
        if let Some(delivery) = &self.delivery
            && delivery.pending_sinks.fetch_sub(1, Ordering::AcqRel) == 1
        {
            delivery.commit.advance(delivery.end_offset);
        }
    }
}

/// Where a chunk's delivery is committed.
#[derive(Debug)]
pub struct Delivery {
    pub commit: Arc<FileCommit>,
    /// The file offset just past the chunk's last complete entry.
    pub end_offset: u64,
    /// Sinks that have not yet called [`LogChunk::delivered`].
    pub pending_sinks: AtomicUsize,
}

/// The delivered offset of one file, advanced by sinks and read by the checkpointer, which
/// [`FileCommit::advance`] wakes (through the shared [`Notify`]) so that a delivery reaches the
/// checkpoint file within one checkpoint write.
#[derive(Debug, Default)]
pub struct FileCommit {
    committed: AtomicU64,
    changed: Option<Arc<Notify>>,
}

impl FileCommit {
    pub fn new(offset: u64) -> Self {
        FileCommit { committed: AtomicU64::new(offset), changed: None }
    }

    /// A commit that wakes `changed` whenever it advances.
    pub fn with_notify(offset: u64, changed: Arc<Notify>) -> Self {
        FileCommit { committed: AtomicU64::new(offset), changed: Some(changed) }
    }

    /// Raises the committed offset to `offset` (never lowers it).
    pub fn advance(&self, offset: u64) {
        let before = self.committed.fetch_max(offset, Ordering::AcqRel);
        if offset > before
            && let Some(changed) = &self.changed
        {
            changed.notify_one();
        }
    }

    pub fn get(&self) -> u64 {
        self.committed.load(Ordering::Acquire)
    }
}

/// Builds a [`LogChunk`]: sources push complete entries into it.
#[derive(Debug, Default)]
pub struct ChunkBuilder {
    pub entries: Vec<LogEntry>,
    pub data: Vec<u8>,
    /// Which [`StdStream`] each stream index stands for, in first-seen order.
    pub stream_kinds: Vec<StdStream>,
    /// Lines that were not valid UTF-8 (invalid bytes replaced by U+FFFD).
    pub invalid_utf8: u64,
}

impl ChunkBuilder {
    /// Appends an entry. Invalid UTF-8 is replaced (and counted), so a chunk's lines are
    /// always valid strings.
    pub fn push(&mut self, stream: StdStream, timestamp_ns: i64, line: &[u8]) {
        let index = match self.stream_kinds.iter().position(|kind| *kind == stream) {
            Some(index) => index,
            None => {
                self.stream_kinds.push(stream);
                self.stream_kinds.len() - 1
            }
        };
        let start = self.data.len();
        match std::str::from_utf8(line) {
            Ok(_) => self.data.extend_from_slice(line),
            Err(_) => {
                self.invalid_utf8 += 1;
                // Each invalid byte becomes a 3-byte U+FFFD: keep the entry within the line's
                // own length (the parser's `max_line_bytes` cut), at a character boundary.
                let replaced = String::from_utf8_lossy(line);
                let mut end = replaced.len().min(line.len());
                while !replaced.is_char_boundary(end) {
                    end -= 1;
                }
                self.data.extend_from_slice(&replaced.as_bytes()[..end]);
            }
        }
        let len = self.data.len() - start;
        self.entries.push(LogEntry {
            timestamp_ns,
            start: u32::try_from(start).unwrap_or(u32::MAX),
            len: u32::try_from(len).unwrap_or(u32::MAX),
            stream: u8::try_from(index).unwrap_or(u8::MAX),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The bound on line bytes between reading and delivery, shared by every log source.
#[derive(Debug, Clone)]
pub struct LogBudget {
    semaphore: Arc<Semaphore>,
    max_bytes: usize,
}

impl LogBudget {
    pub fn new(max_bytes: usize) -> Self {
        let max_bytes = max_bytes.clamp(1, Semaphore::MAX_PERMITS);
        LogBudget { semaphore: Arc::new(Semaphore::new(max_bytes)), max_bytes }
    }

    /// Waits until `bytes` (capped at the whole budget, so one large chunk cannot wait
    /// forever) are free and takes them; `None` only if the budget was closed.
    pub async fn acquire(&self, bytes: usize) -> Option<OwnedSemaphorePermit> {
        let wanted = u32::try_from(bytes.clamp(1, self.max_bytes)).unwrap_or(u32::MAX);
        Arc::clone(&self.semaphore).acquire_many_owned(wanted).await.ok()
    }

    /// Bytes currently taken.
    pub fn in_use(&self) -> usize {
        self.max_bytes.saturating_sub(self.semaphore.available_permits())
    }

    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }
}

/// Every log sink's input; sources hand each chunk to all of them.
#[derive(Debug, Clone, Default)]
pub struct LogFanout {
    sinks: Vec<mpsc::UnboundedSender<Arc<LogChunk>>>,
}

impl LogFanout {
    pub fn new(sinks: Vec<mpsc::UnboundedSender<Arc<LogChunk>>>) -> Self {
        LogFanout { sinks }
    }

    /// How many sinks a chunk must be delivered to (for [`Delivery::pending_sinks`]).
    pub fn sink_count(&self) -> usize {
        self.sinks.len()
    }

    /// Hands `chunk` to every sink. A sink whose task has ended (shutting down) never
    /// delivers it, so its offset is not committed and the next start reads it again.
    pub fn send(&self, chunk: LogChunk) {
        let chunk = Arc::new(chunk);
        for sink in &self.sinks {
            // An error means the sink has stopped: nothing to do (see above).
            let _ = sink.send(Arc::clone(&chunk));
        }
    }
}

#[cfg(test)]
mod tests;
