//! The dispatcher's state on disk: the notification log (`nflog.state`) and the held alerts
//! (`alerts.state`), each a [`crate::state_file`] (JSON with a `crc32c` trailer, replaced
//! atomically, the previous generation kept).
//!
//! ## Writers
//! Each file has one writer task. Changes only bump a version ([`StateFile::changed`]); the
//! task snapshots the state (a copy under its lock), serialises and syncs it on the blocking
//! pool, and publishes the version it wrote. Whoever needs a version on disk before going on
//! calls [`StateFile::sync`] and waits for the published version to reach it: deliveries
//! that finish while a write is running are all covered by the next one (group commit), and
//! no delivery holds a blocking thread.
//!
//! - The log is written as soon as it changed: every delivery waits for its entry to be on
//!   disk before its flush completes, so a router killed right after a notification does not
//!   send it again.
//! - The alerts are written at most once per `alerts_snapshot_interval` (30s) after a change
//!   that matters on disk (see `store.rs`), except when a flush is about to log resolved
//!   alerts as notified: it asks for the snapshot at once (a crash must not restore as firing
//!   an alert whose resolved notification the log already has).
//! - A failed write is logged and counted; waiters go on (the state stays in memory) and the
//!   write is retried after [`FAILED_WRITE_RETRY`], or at once when someone waits for a newer
//!   version.
//!
//! ## Restart
//! At start both files are read (a corrupt or unreadable file is logged, counted and set
//! aside). Restored alerts re-form their groups, which flush at once as their alerts are older
//! than `group_wait`; the restored log makes those flushes notify only what was not yet
//! delivered, so a router killed with `kill -9` and restarted does not page again before
//! `repeat_interval`. (Alertmanager snapshots its log every 15 minutes and keeps no alerts, so
//! it re-notifies after a crash.)
//!
//! An alert that was firing when the snapshot was taken ([`SavedAlerts::saved_at_ms`] before
//! its end) may have been resent by its sender many times since, each resend moving its end
//! further: the end on disk is stale, and after an outage longer than the sender's resend
//! margin it has passed. Such an alert comes back firing until at least now +
//! `resolve_timeout`, with the `timeout` flag, so the sender's next resend (its real end) wins
//! the merge and no false "resolved" (then "firing" again) is sent; an alert whose sender is
//! gone resolves after `resolve_timeout`, as one that stopped being resent does. Alerts that
//! were resolved when the snapshot was taken come back unchanged, so their resolved
//! notification, if still due, goes out.

use super::{Inner, lock};
use crate::notify::alert::Alert;
use crate::state_file;
use harrier_telemetry::model::Labels;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub(super) const NFLOG_FILE: &str = "nflog.state";
pub(super) const ALERTS_FILE: &str = "alerts.state";
/// How long a writer waits after a failed write before trying again unprompted.
const FAILED_WRITE_RETRY: Duration = Duration::from_secs(10);

/// Which state file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum StateKind {
    Nflog,
    Alerts,
}

impl StateKind {
    fn what(self) -> &'static str {
        match self {
            StateKind::Nflog => "notification log",
            StateKind::Alerts => "alerts",
        }
    }
}

/// One state file and the coordination around its writer task.
pub(super) struct StateFile {
    path: PathBuf,
    /// The least time between two writes (unless someone waits for one).
    min_interval: Duration,
    /// The newest version of the in-memory state announced by a change.
    changed: AtomicU64,
    /// The newest version someone waits to see on disk.
    urgent: AtomicU64,
    wake: Notify,
    /// The version of the last write attempt, successful or not: waiters go on past it.
    attempted: watch::Sender<u64>,
    /// The version on disk; the lock serialises the writers (the task, and `stop`).
    on_disk: Arc<Mutex<u64>>,
}

impl StateFile {
    fn new(path: PathBuf, min_interval: Duration) -> StateFile {
        StateFile {
            path,
            min_interval,
            changed: AtomicU64::new(0),
            urgent: AtomicU64::new(0),
            wake: Notify::new(),
            attempted: watch::Sender::new(0),
            on_disk: Arc::new(Mutex::new(0)),
        }
    }

    /// Announces that the state reached `version` (written when the interval allows).
    pub(super) fn changed(&self, version: u64) {
        if self.changed.fetch_max(version, Ordering::AcqRel) < version {
            self.wake.notify_one();
        }
    }

    /// Waits until a write of `version` (or newer) was attempted, asking for one at once; returns
    /// early when `cancel` fires (the dispatcher stops).
    pub(super) async fn sync(&self, version: u64, cancel: &CancellationToken) {
        if *self.attempted.borrow() >= version {
            return;
        }
        let mut attempted = self.attempted.subscribe();
        self.changed.fetch_max(version, Ordering::AcqRel);
        self.urgent.fetch_max(version, Ordering::AcqRel);
        self.wake.notify_one();
        tokio::select! {
            _ = cancel.cancelled() => {}
            _ = attempted.wait_for(|a| *a >= version) => {}
        }
    }
}

/// The dispatcher's two state files.
pub(super) struct StateFiles {
    pub(super) nflog: StateFile,
    pub(super) alerts: StateFile,
}

impl StateFiles {
    /// Creates `dir` if needed.
    pub(super) fn open(dir: &Path, alerts_snapshot_interval: Duration) -> std::io::Result<StateFiles> {
        std::fs::create_dir_all(dir)?;
        Ok(StateFiles {
            nflog: StateFile::new(dir.join(NFLOG_FILE), Duration::ZERO),
            alerts: StateFile::new(dir.join(ALERTS_FILE), alerts_snapshot_interval),
        })
    }

    fn get(&self, kind: StateKind) -> &StateFile {
        match kind {
            StateKind::Nflog => &self.nflog,
            StateKind::Alerts => &self.alerts,
        }
    }
}

/// The notification log file's content.
#[derive(Serialize, Deserialize)]
pub(super) struct SavedNflog {
    pub(super) entries: Vec<super::nflog::Entry>,
}

/// The alerts file's content.
#[derive(Serialize, Deserialize)]
pub(super) struct SavedAlerts {
    /// When the snapshot was taken (unix ms): tells alerts firing then from resolved ones.
    pub(super) saved_at_ms: i64,
    pub(super) alerts: Vec<SavedAlert>,
}

#[derive(Serialize, Deserialize)]
pub(super) struct SavedAlert {
    labels: Vec<(String, String)>,
    annotations: Vec<(String, String)>,
    starts_at_ms: i64,
    ends_at_ms: i64,
    generator_url: String,
    updated_at_ms: i64,
    timeout: bool,
}

/// [`SavedAlerts`] as written: the alerts serialized straight from the held ones, without
/// owned copies of their labels (10,000 alerts would otherwise copy megabytes per snapshot).
#[derive(Serialize)]
struct SavedAlertsRef<'a> {
    saved_at_ms: i64,
    alerts: Vec<SavedAlertRef<'a>>,
}

/// An alert in [`SavedAlert`]'s JSON shape.
struct SavedAlertRef<'a>(&'a Alert);

impl Serialize for SavedAlertRef<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let a = self.0;
        let mut st = s.serialize_struct("SavedAlert", 7)?;
        st.serialize_field("labels", &PairsRef(&a.labels))?;
        st.serialize_field("annotations", &PairsRef(&a.annotations))?;
        st.serialize_field("starts_at_ms", &a.starts_at_ms)?;
        st.serialize_field("ends_at_ms", &a.ends_at_ms)?;
        st.serialize_field("generator_url", &a.generator_url)?;
        st.serialize_field("updated_at_ms", &a.updated_at_ms)?;
        st.serialize_field("timeout", &a.timeout)?;
        st.end()
    }
}

/// Labels as `[[name, value], ...]`, the shape of `Vec<(String, String)>`.
struct PairsRef<'a>(&'a Labels);

impl Serialize for PairsRef<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|l| (l.name, l.value)))
    }
}

impl SavedAlert {
    fn into_alert(self) -> Alert {
        Alert {
            labels: Labels::from_pairs(self.labels),
            annotations: Labels::from_pairs(self.annotations),
            starts_at_ms: self.starts_at_ms,
            ends_at_ms: self.ends_at_ms,
            generator_url: self.generator_url,
            updated_at_ms: self.updated_at_ms,
            timeout: self.timeout,
        }
    }
}

/// A copy of one file's state, taken under its lock and serialised off it.
enum Snapshot {
    Nflog(SavedNflog),
    Alerts { saved_at_ms: i64, alerts: Vec<Arc<Alert>> },
}

fn take_snapshot(inner: &Inner, kind: StateKind) -> (u64, Snapshot) {
    match kind {
        StateKind::Nflog => {
            let (version, entries) = inner.lock_nflog().snapshot();
            (version, Snapshot::Nflog(SavedNflog { entries }))
        }
        StateKind::Alerts => {
            let state = inner.lock_state();
            let alerts = Inner::held_alerts(&state);
            (state.alerts_version, Snapshot::Alerts { saved_at_ms: inner.clock.now_ms(), alerts })
        }
    }
}

/// Writes one file if its state changed since the last write (`always`: in any case);
/// returns the version on disk, `None` when the write failed (logged and counted).
pub(super) async fn write(inner: &Inner, kind: StateKind, always: bool) -> Option<u64> {
    let files = inner.files.as_ref()?;
    let file = files.get(kind);
    let (version, snapshot) = take_snapshot(inner, kind);
    let path = file.path.clone();
    let on_disk = Arc::clone(&file.on_disk);
    let result = tokio::task::spawn_blocking(move || {
        let mut on_disk = lock(&on_disk);
        if !always && *on_disk >= version {
            return Ok((*on_disk, false));
        }
        match snapshot {
            Snapshot::Nflog(saved) => state_file::write(&path, &saved)?,
            Snapshot::Alerts { saved_at_ms, alerts } => {
                let alerts = alerts.iter().map(|a| SavedAlertRef(a)).collect();
                state_file::write(&path, &SavedAlertsRef { saved_at_ms, alerts })?
            }
        }
        *on_disk = version;
        Ok::<_, state_file::StateFileError>((version, true))
    })
    .await;
    file.attempted.send_modify(|attempted| *attempted = (*attempted).max(version));
    let error = match result {
        Ok(Ok((on_disk, wrote))) => {
            if wrote {
                match kind {
                    StateKind::Nflog => inner.metrics.nflog_writes.inc(),
                    StateKind::Alerts => inner.metrics.alerts_snapshots.inc(),
                };
            }
            return Some(on_disk);
        }
        Ok(Err(e)) => e.to_string(),
        Err(e) => e.to_string(),
    };
    match kind {
        StateKind::Nflog => inner.metrics.nflog_write_errors.inc(),
        StateKind::Alerts => inner.metrics.alerts_snapshot_errors.inc(),
    };
    tracing::error!(%error, "cannot write the {} state file", kind.what());
    None
}

/// The writer task of one file (see the module docs); ends when the dispatcher stops. A write
/// in progress is finished first (the task is only cancelled while waiting).
pub(super) async fn run_writer(inner: Arc<Inner>, kind: StateKind) {
    let Some(files) = &inner.files else { return };
    let file = files.get(kind);
    let mut on_disk = 0u64;
    // When the last write was attempted, and whether it failed.
    let mut last: Option<(Instant, bool)> = None;
    loop {
        let dirty = file.changed.load(Ordering::Acquire) > on_disk;
        if dirty {
            let urgent = file.urgent.load(Ordering::Acquire) > *file.attempted.borrow();
            let due = match last {
                None => Instant::now(),
                Some((at, false)) => at + file.min_interval,
                Some((at, true)) => at + file.min_interval.max(FAILED_WRITE_RETRY),
            };
            if urgent || Instant::now() >= due {
                let written = write(&inner, kind, false).await;
                if let Some(version) = written {
                    on_disk = on_disk.max(version);
                }
                last = Some((Instant::now(), written.is_none()));
                continue;
            }
            tokio::select! {
                _ = inner.root.cancelled() => return,
                _ = file.wake.notified() => {}
                _ = tokio::time::sleep_until(due) => {}
            }
        } else {
            tokio::select! {
                _ = inner.root.cancelled() => return,
                _ = file.wake.notified() => {}
            }
        }
    }
}

/// Reads the state files: restores the log, returns the saved alerts as they are to be put
/// back (see the module docs).
pub(super) fn load(inner: &Inner, resolve_timeout_ms: i64) -> Vec<Alert> {
    let Some(files) = &inner.files else { return Vec::new() };
    let now_ms = inner.clock.now_ms();
    if let Some(saved) = read_state::<SavedNflog>(inner, &files.nflog.path, StateKind::Nflog) {
        let kept = inner.lock_nflog().restore(saved.entries, now_ms);
        tracing::info!(entries = kept, "notification log restored");
    }
    let Some(saved) = read_state::<SavedAlerts>(inner, &files.alerts.path, StateKind::Alerts) else {
        return Vec::new();
    };
    saved
        .alerts
        .into_iter()
        .map(|a| restored_alert(a.into_alert(), saved.saved_at_ms, now_ms, resolve_timeout_ms))
        .collect()
}

/// The restart rule (module docs): an alert firing at `saved_at_ms` fires until at least
/// `now_ms + resolve_timeout_ms`, its end then marked as a timeout; others are unchanged.
pub(super) fn restored_alert(
    mut alert: Alert,
    saved_at_ms: i64,
    now_ms: i64,
    resolve_timeout_ms: i64,
) -> Alert {
    let firing_when_saved = alert.ends_at_ms > saved_at_ms;
    let deadline = now_ms.saturating_add(resolve_timeout_ms);
    if firing_when_saved && alert.ends_at_ms < deadline {
        alert.ends_at_ms = deadline;
        alert.timeout = true;
    }
    alert
}

/// One state file's newest valid generation; corrupt or unreadable files are logged and
/// counted.
fn read_state<T: serde::de::DeserializeOwned>(inner: &Inner, path: &Path, kind: StateKind) -> Option<T> {
    let what = kind.what();
    match state_file::read::<T>(path) {
        Ok(outcome) => {
            for (file, reason) in &outcome.corrupt {
                inner.metrics.state_load_errors.inc();
                tracing::error!(file = %file.display(), %reason, "{what} state file is corrupt; set aside");
            }
            if outcome.from_previous {
                tracing::warn!(file = %path.display(), "{what} restored from the previous generation");
            }
            outcome.value
        }
        Err(e) => {
            inner.metrics.state_load_errors.inc();
            tracing::error!(error = %e, "{what} not restored");
            None
        }
    }
}
