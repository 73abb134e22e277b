//! Log files: discovery, tailing, rotation, checkpoints ([`FileSources`]) and line parsing
//! ([`parse`]: CRI, docker json-file, plain, multiline). It feeds the pipeline of
//! [`crate::logs`]: one [`crate::logs::LogChunk`] per read of one file, its offset committed
//! only once every sink delivered it.
//!
//! # Threads and reading
//! All `files:` entries of a config are tailed by one thread (`harrier-logs`): plain blocking
//! reads of the page cache are the fastest way to read files, and one thread keeps chunks of a
//! file in file order. The thread waits (for the [`crate::logs::LogBudget`], for the next
//! poll) through the tokio runtime it was started in. Each round gives every open file one
//! turn of at most 1 MiB (in blocks of up to 256 KiB, one chunk each), so a hot file cannot
//! starve the others; rounds follow each other while any file has data, otherwise the thread
//! sleeps `poll_interval` (no inotify). Include globs are expanded again every
//! `discovery_interval`; a path matched by several `files:` entries belongs to the first.
//!
//! # Identity
//! An open file is known by `(device, inode)`. To recognise it after a restart (inodes are
//! reused) and to notice it was truncated and rewritten in place, it also has a fingerprint:
//! the xxh3 hash of its first `fingerprint_bytes` bytes. A file shorter than that is not read
//! until it has grown to `fingerprint_bytes`, or has not changed for 1 s (then its fingerprint
//! covers what it has), or was rotated away: a pod writing one short line is shipped about a
//! second late, and never mistaken for another file with an empty fingerprint.
//!
//! # Rotation by rename (kubelet, docker)
//! `0.log` is renamed to `0.log.<timestamp>` and a new `0.log` created. Every poll (and every
//! discovery) checks that each file's path still names it. When the path names another file,
//! the old file is read to its end first, then the new file is opened and read from offset 0,
//! so lines stay in order. The old file stays open, read when it grows (a writer may append
//! right after the rename, before it reopens), and is closed once it has been idle for 1 s,
//! unless it is still matched by the globs under its new name (then it is simply tailed there).
//! A deleted file is drained and closed the same way. If the path was rotated more than once
//! since we last looked (reading waited for the budget, or the agent was down), the
//! generations in between (siblings named `<name>*`, not compressed, newer than the file we
//! were reading, never opened) are read whole, oldest first, before the new file. Known limit:
//! when several rotations happen between two checks of one file (within `poll_interval`, in
//! tests that rotate every few milliseconds), every line still arrives once but generations can
//! arrive out of order; kubelet rotates at 10 MiB, far slower.
//!
//! # copytruncate
//! A file whose size fell below the read offset, or whose first bytes no longer hash to its
//! fingerprint, was truncated in place. Before reading it again from 0, the copy is looked up
//! among its siblings (same directory, name starting with the file's name, not compressed)
//! whose fingerprint equals the old one; what it holds past the old read offset (lines
//! written between our last read and the copy) is read from it first. Lines written between
//! the copy and the truncation are lost by copytruncate itself: no reader can recover them
//! (prefer rotation by rename, which is what Kubernetes does). Copies newer than the one read
//! (the file was truncated again before we looked) are read whole, oldest first; a copytruncate
//! repeated within one `poll_interval` can deliver a generation twice. The truncation is counted in
//! `harrier_agent_log_file_truncations_total`; without a copy, a warning says lines may be
//! lost.
//!
//! # Checkpoints
//! `<data_dir>/logs/checkpoints.json` holds, per file, its path, `dev`, `inode`, fingerprint
//! and delivered offset ([`crate::logs::FileCommit`]); see [`checkpoint`]. It is written
//! atomically as soon as a delivery advanced an offset (woken by the commits), at most once per
//! `checkpoint_interval`, and at shutdown. At start each entry is resolved: (1) a file in the
//! entry's directory with the same `dev`, `inode` and fingerprint, whatever its name now (rotated
//! while the agent was down) resumes at the offset and, if the globs no longer match it, is
//! drained and closed; (2) once every entry had its chance at (1), the entry's own path or one of
//! its rotated names (`<name>*`) with the same fingerprint and at least `offset` bytes (the copy
//! of a copytruncate) resumes at the offset; (3) otherwise the entry is forgotten (logged).
//! Generations of one path resumed together (a rotated file and its successor) are read one after
//! the other, in checkpoint order. A corrupt or unreadable checkpoint
//! file is logged and counted (`harrier_agent_log_checkpoint_errors_total{op="load"}`), and the
//! source starts without it, reading files from the beginning (duplicates, not losses).
//! `start_at: end` applies only at the agent's very first start (no checkpoint file at all), to
//! the files found then; every file found later is read from the beginning.
//!
//! Since offsets are committed after delivery, a crash loses nothing and duplicates at most what
//! was read but not yet delivered when the checkpoint was last written.

pub mod checkpoint;
mod discovery;
mod fingerprint;
mod metrics;
pub mod parse;
pub mod path_labels;
mod tailer;

pub use metrics::LogSourceMetrics;

use crate::logs::config::{LogsConfig, PathLabels, StartAt};
use crate::logs::{LogBudget, LogFanout};
use discovery::SourceGlobs;
use parse::{CompiledMultiline, ParserSettings};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

/// Why the file sources could not be compiled or started.
#[derive(Debug, thiserror::Error)]
pub enum LogSourceError {
    #[error("logs.files: the name {0:?} is used twice")]
    DuplicateName(String),
    #[error("logs.files[{name}]: include must list at least one glob")]
    NoInclude { name: String },
    #[error("logs.files[{name}]: invalid glob {pattern:?}: {error}")]
    Glob { name: String, pattern: String, error: glob::PatternError },
    #[error("logs.files[{name}].multiline.start_pattern: {error}")]
    Multiline { name: String, error: regex::Error },
    #[error("logs.files[{name}].{field} must be greater than 0")]
    Zero { name: String, field: &'static str },
    #[error("creating {path}: {error}")]
    DataDir { path: PathBuf, error: std::io::Error },
    #[error("FileSources::start must be called in a tokio runtime")]
    NoRuntime,
    #[error("starting the log tailer thread: {0}")]
    Spawn(std::io::Error),
}

/// The largest fingerprint taken (a bigger `fingerprint_bytes` is capped).
const MAX_FINGERPRINT_BYTES: usize = 64 << 10;

/// One `files:` entry, compiled.
pub(crate) struct CompiledSource {
    pub name: Arc<str>,
    pub globs: SourceGlobs,
    pub parser: Arc<ParserSettings>,
    pub path_labels: PathLabels,
    /// Static labels, sorted by name.
    pub labels: Vec<(String, String)>,
    pub structured_metadata: Vec<String>,
    pub start_at: StartAt,
    pub fingerprint_bytes: usize,
}

/// The `logs:` section's file sources, validated and compiled ([`FileSources::compile`]).
pub struct CompiledLogs {
    sources: Vec<CompiledSource>,
    poll_interval: Duration,
    discovery_interval: Duration,
    checkpoint_interval: Duration,
}

impl std::fmt::Debug for CompiledLogs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledLogs")
            .field("sources", &self.sources.iter().map(|source| &*source.name).collect::<Vec<_>>())
            .field("poll_interval", &self.poll_interval)
            .field("discovery_interval", &self.discovery_interval)
            .field("checkpoint_interval", &self.checkpoint_interval)
            .finish()
    }
}

impl CompiledLogs {
    /// How many `files:` entries there are.
    pub fn source_count(&self) -> usize {
        self.sources.len()
    }
}

/// Tails every `files:` entry of a config; see the module documentation.
pub struct FileSources {
    stop: CancellationToken,
    done: Option<oneshot::Receiver<tailer::Tailer>>,
}

impl std::fmt::Debug for FileSources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileSources").finish_non_exhaustive()
    }
}

impl FileSources {
    /// Validates and compiles (globs, multiline regexes) with no I/O.
    pub fn compile(cfg: &LogsConfig) -> Result<CompiledLogs, LogSourceError> {
        let mut sources: Vec<CompiledSource> = Vec::with_capacity(cfg.files.len());
        for file in &cfg.files {
            let name = file.name.clone();
            if sources.iter().any(|source| *source.name == *name) {
                return Err(LogSourceError::DuplicateName(name));
            }
            if file.include.is_empty() {
                return Err(LogSourceError::NoInclude { name });
            }
            let globs = SourceGlobs::compile(&file.include, &file.exclude)
                .map_err(|(pattern, error)| LogSourceError::Glob { name: name.clone(), pattern, error })?;
            let multiline = match &file.multiline {
                Some(multiline) => Some(
                    CompiledMultiline::compile(multiline)
                        .map_err(|error| LogSourceError::Multiline { name: name.clone(), error })?,
                ),
                None => None,
            };
            let max_line_bytes = usize::try_from(file.max_line_bytes.0).unwrap_or(usize::MAX);
            if max_line_bytes == 0 {
                return Err(LogSourceError::Zero { name, field: "max_line_bytes" });
            }
            let fingerprint_bytes = usize::try_from(file.fingerprint_bytes.0).unwrap_or(usize::MAX);
            if fingerprint_bytes == 0 {
                return Err(LogSourceError::Zero { name, field: "fingerprint_bytes" });
            }
            sources.push(CompiledSource {
                name: Arc::from(name.as_str()),
                globs,
                parser: Arc::new(ParserSettings { format: file.format, max_line_bytes, multiline }),
                path_labels: file.path_labels,
                labels: file.labels.iter().map(|(name, value)| (name.clone(), value.clone())).collect(),
                structured_metadata: file.structured_metadata.clone(),
                start_at: file.start_at,
                fingerprint_bytes: fingerprint_bytes.min(MAX_FINGERPRINT_BYTES),
            });
        }
        let positive = |duration: Duration| duration.max(Duration::from_millis(1));
        Ok(CompiledLogs {
            sources,
            poll_interval: positive(cfg.poll_interval.as_duration()),
            discovery_interval: positive(cfg.discovery_interval.as_duration()),
            checkpoint_interval: positive(cfg.checkpoint_interval.as_duration()),
        })
    }

    /// Starts tailing: reads the checkpoint file `<data_dir>/logs/checkpoints.json`, spawns the
    /// tailer thread. Must be called in a tokio runtime (multi-threaded, or one whose thread
    /// keeps running it: the tailer thread waits on its timers).
    pub fn start(
        compiled: CompiledLogs,
        data_dir: &Path,
        fanout: LogFanout,
        budget: LogBudget,
        node_name: String,
        metrics: LogSourceMetrics,
    ) -> Result<FileSources, LogSourceError> {
        let handle = tokio::runtime::Handle::try_current().map_err(|_| LogSourceError::NoRuntime)?;
        let dir = data_dir.join("logs");
        std::fs::create_dir_all(&dir)
            .map_err(|error| LogSourceError::DataDir { path: dir.clone(), error })?;
        let checkpoint_path = dir.join("checkpoints.json");
        let (entries, first_start) = match checkpoint::load(&checkpoint_path) {
            Ok(Some(entries)) => (entries, false),
            Ok(None) => (Vec::new(), true),
            Err(error) => {
                // Never crash-loop on a bad checkpoint: start without it, reading files from the
                // beginning (duplicates rather than losses; `start_at` does not apply).
                metrics.checkpoint_error("load");
                tracing::error!(%error, "log checkpoint unusable; starting without it");
                (Vec::new(), false)
            }
        };
        let stop = CancellationToken::new();
        let settings = tailer::TailerSettings {
            sources: compiled.sources,
            poll_interval: compiled.poll_interval,
            discovery_interval: compiled.discovery_interval,
            checkpoint_interval: compiled.checkpoint_interval,
            checkpoint_path,
            first_start,
            node_name,
        };
        let tailer = tailer::Tailer::new(settings, fanout, budget, metrics, handle, stop.clone());
        let (done_tx, done_rx) = oneshot::channel();
        std::thread::Builder::new()
            .name("harrier-logs".to_string())
            .spawn(move || {
                let mut tailer = tailer.run(entries);
                tailer.stopped();
                if let Err(mut tailer) = done_tx.send(tailer) {
                    // Dropped without `shutdown`: save what was delivered so far.
                    tailer.write_checkpoint();
                }
            })
            .map_err(LogSourceError::Spawn)?;
        Ok(FileSources { stop, done: Some(done_rx) })
    }

    /// Stops reading, waits up to `grace` for in-flight chunks to be delivered, writes the final
    /// checkpoint.
    pub async fn shutdown(mut self, grace: Duration) {
        let deadline = tokio::time::Instant::now() + grace;
        self.stop.cancel();
        let Some(done) = self.done.take() else { return };
        let mut tailer = match tokio::time::timeout_at(deadline, done).await {
            Ok(Ok(tailer)) => tailer,
            Ok(Err(_)) => {
                tracing::error!("the log tailer thread ended abnormally; no final checkpoint");
                return;
            }
            Err(_) => {
                // Still inside a read; it writes its own last checkpoint when it stops.
                tracing::warn!("the log tailer did not stop within the grace period");
                return;
            }
        };
        while !tailer.caught_up() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let _ = tokio::task::spawn_blocking(move || tailer.write_checkpoint()).await;
    }
}

impl Drop for FileSources {
    /// Stops the tailer thread; it writes a last checkpoint of what was delivered.
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

#[cfg(test)]
mod tests;
