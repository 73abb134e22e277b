//! The checkpoint file, `<data_dir>/logs/checkpoints.json`: per file, where it is, who it is
//! (`dev`, `inode`, fingerprint) and the offset up to which every line was delivered
//! ([`FileCommit::get`]). Written atomically (temporary file, write, fsync, rename, fsync of
//! the directory) every `checkpoint_interval` when it changed, and at shutdown, so a crash
//! leaves either the previous or the new version, never a torn one.
//!
//! ```json
//! {"version":1,"files":[{"source":"kubernetes","path":"/var/log/pods/ns_pod_uid/c/0.log",
//!   "origin_path":"/var/log/pods/ns_pod_uid/c/0.log","dev":2049,"inode":1234,
//!   "fingerprint":"9f86d081884c7d65","fingerprint_bytes":256,"offset":40960}]}
//! ```
//!
//! The table ([`Checkpointer`]) holds a record per open file and per closed file whose last
//! chunks are still in flight (a rotated file drained and closed, the copy a copytruncate left);
//! the latter are dropped once delivered. A file with no fingerprint yet (shorter than
//! `fingerprint_bytes` and still being written) is not written: after a restart it is found
//! again by the globs and read from the start, which is where it would resume anyway.

use crate::logs::FileCommit;
use crate::sources::logs::fingerprint::{FileId, Fingerprint};
use crate::sources::logs::metrics::LogSourceMetrics;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

const VERSION: u32 = 1;

/// Why the checkpoint file could not be loaded (the source then starts without it).
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("reading {path}: {error}")]
    Read { path: PathBuf, error: io::Error },
    #[error("parsing {path}: {error}")]
    Parse { path: PathBuf, error: serde_json::Error },
    #[error("{path}: unsupported version {version}")]
    Version { path: PathBuf, version: u32 },
}

#[derive(Debug, Serialize, Deserialize)]
struct CheckpointFile {
    version: u32,
    files: Vec<CheckpointEntry>,
}

/// One file's checkpoint, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CheckpointEntry {
    /// The `files:` entry (by name) the file belongs to.
    pub source: String,
    /// Where the file was last seen.
    pub path: String,
    /// The path it was discovered under (its labels come from it).
    pub origin_path: String,
    pub dev: u64,
    pub inode: u64,
    /// xxh3 of the first `fingerprint_bytes` bytes, 16 hex digits.
    pub fingerprint: String,
    pub fingerprint_bytes: u32,
    /// Every line before this offset was delivered.
    pub offset: u64,
}

impl CheckpointEntry {
    pub fn id(&self) -> FileId {
        FileId { dev: self.dev, inode: self.inode }
    }

    pub fn fingerprint(&self) -> Option<Fingerprint> {
        Fingerprint::from_hex(self.fingerprint_bytes, &self.fingerprint)
    }
}

/// Reads the checkpoint file: `Ok(None)` if there is none (the agent's first start).
pub(crate) fn load(path: &Path) -> Result<Option<Vec<CheckpointEntry>>, CheckpointError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(CheckpointError::Read { path: path.to_path_buf(), error }),
    };
    let file: CheckpointFile = serde_json::from_slice(&bytes)
        .map_err(|error| CheckpointError::Parse { path: path.to_path_buf(), error })?;
    if file.version != VERSION {
        return Err(CheckpointError::Version { path: path.to_path_buf(), version: file.version });
    }
    Ok(Some(file.files))
}

/// Replaces `path` with `bytes` atomically: temporary file, fsync, rename, fsync directory.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(".tmp");
    let tmp = dir.join(tmp_name);
    {
        let mut file = File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    File::open(dir)?.sync_all()
}

/// What the table knows of one file.
#[derive(Debug)]
pub(crate) struct Record {
    pub source: Arc<str>,
    pub path: PathBuf,
    pub origin_path: PathBuf,
    pub id: FileId,
    pub fingerprint: Option<Fingerprint>,
    pub commit: Arc<FileCommit>,
    /// The end offset of the last chunk sent (what `commit` catches up to).
    pub sent: u64,
    /// The file is closed; the record goes once `commit` reaches `sent`.
    pub closed: bool,
}

/// The checkpoint table and its file; owned by the tailer thread.
pub(crate) struct Checkpointer {
    file: PathBuf,
    records: BTreeMap<u64, Record>,
    next_key: u64,
    last_written: Option<Vec<u8>>,
    interval: Duration,
    pub next_due: Instant,
    /// A change is waiting for `next_due` to be written.
    pub pending: bool,
    /// Woken by every file's [`FileCommit`] when a delivery advances it.
    changed: Arc<tokio::sync::Notify>,
    metrics: LogSourceMetrics,
}

impl Checkpointer {
    pub fn new(file: PathBuf, interval: Duration, metrics: LogSourceMetrics) -> Checkpointer {
        Checkpointer {
            file,
            records: BTreeMap::new(),
            next_key: 0,
            last_written: None,
            interval,
            next_due: Instant::now() + interval,
            pending: false,
            changed: Arc::new(tokio::sync::Notify::new()),
            metrics,
        }
    }

    /// What the files' commits wake when they advance.
    pub fn changed(&self) -> Arc<tokio::sync::Notify> {
        Arc::clone(&self.changed)
    }

    /// Whether something changed since the last write (a woken commit, or a change to the
    /// table); consumes the wake-up.
    pub fn take_change(&mut self) -> bool {
        let notified = self.changed.notified();
        let mut notified = std::pin::pin!(notified);
        let woken = notified.as_mut().enable();
        std::mem::take(&mut self.pending) | woken
    }

    pub fn add(&mut self, record: Record) -> u64 {
        let key = self.next_key;
        self.next_key += 1;
        self.records.insert(key, record);
        self.pending = true;
        key
    }

    pub fn get_mut(&mut self, key: u64) -> Option<&mut Record> {
        self.records.get_mut(&key)
    }

    /// Marks a file closed: its record stays until what was sent is delivered.
    pub fn close(&mut self, key: u64) {
        if let Some(record) = self.records.get_mut(&key) {
            record.closed = true;
        }
        self.pending = true;
        self.prune();
    }

    fn prune(&mut self) {
        self.records.retain(|_, record| !(record.closed && record.commit.get() >= record.sent));
    }

    /// Whether every chunk sent has been delivered.
    pub fn caught_up(&self) -> bool {
        self.records.values().all(|record| record.commit.get() >= record.sent)
    }

    /// The file's contents now.
    pub fn serialize(&mut self) -> Vec<u8> {
        self.prune();
        let mut files = Vec::with_capacity(self.records.len());
        for record in self.records.values() {
            let Some(fingerprint) = record.fingerprint else { continue };
            let (Some(path), Some(origin_path)) = (record.path.to_str(), record.origin_path.to_str()) else {
                tracing::debug!(path = %record.path.display(), "not checkpointing a path that is not UTF-8");
                continue;
            };
            files.push(CheckpointEntry {
                source: record.source.to_string(),
                path: path.to_string(),
                origin_path: origin_path.to_string(),
                dev: record.id.dev,
                inode: record.id.inode,
                fingerprint: fingerprint.hash_hex(),
                fingerprint_bytes: fingerprint.len,
                offset: record.commit.get(),
            });
        }
        let file = CheckpointFile { version: VERSION, files };
        // Serializing plain strings and numbers cannot fail; an empty file is never written.
        serde_json::to_vec(&file).unwrap_or_default()
    }

    /// Writes the checkpoint if it changed since the last write; errors are logged and counted
    /// (the next interval tries again).
    pub fn write_if_changed(&mut self) {
        self.next_due = Instant::now() + self.interval;
        self.pending = false;
        let bytes = self.serialize();
        if bytes.is_empty() || self.last_written.as_deref() == Some(bytes.as_slice()) {
            return;
        }
        match write_atomic(&self.file, &bytes) {
            Ok(()) => {
                self.metrics.checkpoint_written();
                self.last_written = Some(bytes);
            }
            Err(error) => {
                self.metrics.checkpoint_error("write");
                tracing::warn!(path = %self.file.display(), %error, "writing the log checkpoint failed");
            }
        }
    }
}
