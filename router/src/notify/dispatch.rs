//! The dispatcher: Alertmanager's alert store, aggregation groups, inhibition, notification
//! pipeline and notification log, inside the router (upstream `provider/mem`, `dispatch`,
//! `inhibit`, `notify`, `nflog`).
//!
//! ## Flow
//! 1. Alerts arrive through [`AlertmanagerApi::put_alerts`] (the v2 API) or
//!    [`AlertSink::send`] (the router's own rules). As Alertmanager's API does, the receiving
//!    side stamps `updatedAt`, defaults `startsAt` (to now, or to `endsAt` when only that is
//!    given) and, when the sender gave no `endsAt`, sets it to now + `resolve_timeout` with
//!    the `timeout` flag.
//! 2. The store (`dispatch/store.rs`) keeps one alert per fingerprint, merging versions
//!    whose activity ranges overlap; it is bounded by [`DispatcherOptions::max_alerts`]
//!    (default 100,000): a new alert beyond it is rejected and counted, updates always pass.
//!    Resolved alerts are collected every [`DispatcherOptions::gc_interval`] (upstream
//!    `--alerts.gc-interval`, 30m).
//! 3. Each stored alert is routed through the [`RouteTree`] and inserted into the aggregation
//!    group (`dispatch/group.rs`) of each matching route and its group labels; groups flush
//!    after `group_wait`, then every `group_interval`, each in its own task.
//! 4. A flush runs the pipeline (`dispatch/pipeline.rs`): inhibition, time intervals,
//!    silences, then per integration dedup against the notification log
//!    (`dispatch/nflog.rs`), retries and logging.
//!
//! The API's alert status is computed when read, as Alertmanager's API refreshes it: the
//! silences and inhibitions muting the alert now, the time intervals that muted its groups at
//! their last flush; `suppressed` when any, else `active`.
//!
//! ## Reload
//! As upstream recreates its dispatcher on reload, [`Dispatcher::reload`] stops every group
//! (cancelling flushes in flight), rebuilds the route tree, inhibition rules and integrations,
//! and re-inserts every held alert into new groups. Alerts that started more than `group_wait`
//! ago flush at once, and the notification log (kept across reloads) stops duplicates.
//!
//! ## Persistence
//! With [`DispatcherOptions::data_dir`], two files are kept there (JSON with a `crc32c`
//! trailer, replaced atomically, see [`crate::state_file`]):
//! - `nflog.state`, the notification log, written and synced after every successful delivery
//!   before the flush completes, and when expired entries are dropped;
//! - `alerts.state`, every held alert (including resolved alerts whose notification is still
//!   due), written at most once per [`DispatcherOptions::alerts_snapshot_interval`] after a
//!   change, and on [`Dispatcher::stop`].
//!
//! At start both are read (a corrupt or unreadable file is logged, counted and ignored). The
//! alerts re-form their groups, which flush at once as their alerts are older than
//! `group_wait`; the restored log makes those flushes notify only what was not yet delivered,
//! so a router killed with `kill -9` and restarted does not page again before
//! `repeat_interval`. Alertmanager itself snapshots the log every 15 minutes and keeps no
//! alerts, so it re-notifies after a crash. An alert whose end time passed while the router
//! was down comes back resolved, and its resolved notification goes out at once (senders'
//! end times are a few minutes ahead, so this only happens after longer outages).
//!
//! ## Views
//! [`AlertmanagerApi::alerts`] lists every stored alert (resolved ones until collected),
//! sorted by fingerprint, with the receivers of the routes it matches in route order;
//! [`AlertmanagerApi::groups`] lists the groups with their unresolved alerts (groups left
//! without any are omitted), sorted as Alertmanager sorts them: by group labels, then
//! receiver.

mod group;
mod inhibit;
mod metrics;
mod nflog;
mod pipeline;
mod store;

#[cfg(test)]
mod tests;

pub use metrics::DispatchMetrics;

use self::group::{AggrGroup, GroupId};
use self::inhibit::Inhibitor;
use self::metrics::status_label;
use self::nflog::NotificationLog;
use self::store::{AlertStore, PutOutcome};
use crate::alerts::AlertSink;
use crate::notify::alert::{Alert, AlertState, AlertStatus, AlertView, Fingerprint, GroupView};
use crate::notify::receivers::Integrations;
use crate::notify::{AlertmanagerApi, Clock, DeliveryRecord, Silences};
use crate::route::RouteTree;
use crate::route::config::AlertmanagerConfig;
use crate::route::time_intervals::TimeIntervals;
use crate::state_file;
use harrier_telemetry::model::Labels;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

const NFLOG_FILE: &str = "nflog.state";
const ALERTS_FILE: &str = "alerts.state";
/// How often empty groups are removed (upstream's dispatcher maintenance).
const MAINTENANCE_INTERVAL: Duration = Duration::from_secs(30);
/// How often expired notification log entries are dropped (upstream's nflog maintenance).
const NFLOG_GC_INTERVAL: Duration = Duration::from_secs(15 * 60);

/// How the dispatcher runs. Build with struct update syntax from [`Default`].
#[derive(Clone)]
pub struct DispatcherOptions {
    /// Where the notification log and the alerts are kept; `None`: in memory only.
    pub data_dir: Option<PathBuf>,
    /// The router's external URL (Alertmanager's `--web.external-url`), in notifications.
    pub external_url: String,
    pub clock: Clock,
    /// Registered with [`DispatchMetrics::register`]; the default is unregistered.
    pub metrics: DispatchMetrics,
    /// The most alerts held; new alerts beyond it are rejected and counted.
    pub max_alerts: usize,
    /// How often resolved alerts are collected (upstream `--alerts.gc-interval`).
    pub gc_interval: Duration,
    /// How long notification log entries are kept at most (upstream `--data.retention`).
    pub nflog_retention: Duration,
    /// The longest one delivery attempt may take before it counts as failed and is retried
    /// (always within the flush deadline).
    pub attempt_timeout: Duration,
    /// The least time between two alert snapshots on disk.
    pub alerts_snapshot_interval: Duration,
    /// How many delivery records [`AlertmanagerApi::recent_deliveries`] keeps.
    pub recent_deliveries: usize,
}

impl Default for DispatcherOptions {
    fn default() -> Self {
        DispatcherOptions {
            data_dir: None,
            external_url: String::new(),
            clock: Clock::system(),
            metrics: DispatchMetrics::default(),
            max_alerts: 100_000,
            gc_interval: Duration::from_secs(30 * 60),
            nflog_retention: Duration::from_secs(120 * 3600),
            attempt_timeout: Duration::from_secs(30),
            alerts_snapshot_interval: Duration::from_secs(1),
            recent_deliveries: 256,
        }
    }
}

/// Why the dispatcher could not start or reload.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    #[error("notification state directory {path}: {source}")]
    DataDir { path: PathBuf, source: std::io::Error },
    #[error("the dispatcher needs a tokio runtime to start")]
    NoRuntime,
    #[error("the dispatcher is stopped")]
    Stopped,
}

/// Everything that changes with the config; replaced whole on reload.
pub(crate) struct Generation {
    config: Arc<AlertmanagerConfig>,
    config_text: String,
    tree: RouteTree,
    integrations: Integrations,
    time_intervals: TimeIntervals,
    resolve_timeout_ms: i64,
    /// Cancelled when the generation is replaced: stops its groups.
    cancel: CancellationToken,
}

/// Alerts, groups and inhibition: what one lock guards.
pub(crate) struct State {
    generation: Arc<Generation>,
    store: AlertStore,
    inhibitor: Inhibitor,
    groups: HashMap<GroupId, AggrGroup>,
}

/// The state files and the locks serializing their writers.
struct StateFiles {
    nflog_path: PathBuf,
    alerts_path: PathBuf,
    /// Version of the log last written (a write of an older snapshot is skipped).
    nflog_written: Arc<Mutex<u64>>,
    alerts_written: Arc<Mutex<()>>,
}

pub(crate) struct Inner {
    clock: Clock,
    external_url: String,
    attempt_timeout: Duration,
    silences: Arc<Silences>,
    started_at_ms: i64,
    runtime: tokio::runtime::Handle,
    state: Mutex<State>,
    nflog: Mutex<NotificationLog>,
    deliveries: Mutex<VecDeque<DeliveryRecord>>,
    deliveries_cap: usize,
    metrics: DispatchMetrics,
    files: Option<StateFiles>,
    alerts_dirty: AtomicBool,
    alerts_changed: Notify,
    stopped: AtomicBool,
    root: CancellationToken,
}

/// Locks a mutex, recovering the data if a holder panicked (the data stays consistent: every
/// critical section here is a few map operations).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Inner {
    fn lock_state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    fn lock_nflog(&self) -> MutexGuard<'_, NotificationLog> {
        lock(&self.nflog)
    }

    /// Runs `f` on a group, `None` when the group is gone.
    fn with_group<R>(&self, id: &GroupId, f: impl FnOnce(&mut AggrGroup) -> R) -> Option<R> {
        self.lock_state().groups.get_mut(id).map(f)
    }

    fn record_delivery(&self, record: DeliveryRecord) {
        let mut d = lock(&self.deliveries);
        if d.len() >= self.deliveries_cap {
            d.pop_back();
        }
        d.push_front(record);
    }

    /// Stores alerts (already defaulted as the API does) and routes them into groups.
    fn put(self: &Arc<Self>, alerts: Vec<Alert>) {
        if self.stopped.load(Ordering::Relaxed) {
            tracing::debug!(count = alerts.len(), "dispatcher stopped: alerts ignored");
            return;
        }
        let now_ms = self.clock.now_ms();
        let mut rejected = 0u64;
        {
            let mut state = self.lock_state();
            for alert in alerts {
                match state.store.put(alert, now_ms) {
                    PutOutcome::Rejected => rejected += 1,
                    PutOutcome::Stored(stored) => {
                        state.inhibitor.observe(&stored);
                        self.route(&mut state, stored, now_ms);
                    }
                }
            }
            self.metrics.alerts.set(state.store.len() as i64);
        }
        if rejected > 0 {
            self.metrics.alerts_rejected.inc_by(rejected);
            tracing::warn!(rejected, "alert store full: new alerts rejected");
        }
        self.mark_alerts_dirty();
    }

    /// Inserts an alert into the groups of every route it matches, creating them as needed.
    fn route(self: &Arc<Self>, state: &mut State, alert: Alert, now_ms: i64) {
        let generation = Arc::clone(&state.generation);
        if generation.cancel.is_cancelled() {
            return;
        }
        let routes = generation.tree.match_labels(|name| alert.labels.get(name));
        for route in routes {
            let opts = &generation.tree.node(route).opts;
            let labels = group::group_labels(&alert.labels, opts);
            let id: GroupId = (route, labels);
            if let Some(g) = state.groups.get_mut(&id) {
                g.insert(alert.clone(), now_ms);
                continue;
            }
            let key = crate::notify::alert::group_key(generation.tree.node(route).key(), &id.1);
            let cancel = generation.cancel.child_token();
            let mut g = AggrGroup::new(id.1.clone(), key, opts, cancel.clone());
            g.insert(alert.clone(), now_ms);
            let wake = Arc::clone(&g.wake);
            state.groups.insert(id.clone(), g);
            self.metrics.aggregation_groups.set(state.groups.len() as i64);
            self.runtime.spawn(group::run(Arc::clone(self), Arc::clone(&generation), id, wake, cancel));
        }
    }

    fn mark_alerts_dirty(&self) {
        if self.files.is_some() {
            self.alerts_dirty.store(true, Ordering::Release);
            self.alerts_changed.notify_one();
        }
    }

    /// Every held alert: the store's, and resolved ones that the store collected but a group
    /// still holds for its resolved notification.
    fn held_alerts(state: &State) -> Vec<Alert> {
        let mut out: HashMap<Fingerprint, Alert> =
            state.store.iter().map(|(fp, a)| (*fp, a.clone())).collect();
        for g in state.groups.values() {
            for (fp, a) in &g.alerts {
                out.entry(*fp).or_insert_with(|| a.clone());
            }
        }
        out.into_values().collect()
    }

    /// Writes the notification log to disk (durably) if it changed since the last write.
    async fn persist_nflog(&self) {
        let Some(files) = &self.files else { return };
        let (version, entries) = self.lock_nflog().snapshot();
        let path = files.nflog_path.clone();
        let written = Arc::clone(&files.nflog_written);
        let result = tokio::task::spawn_blocking(move || {
            let mut last = lock(&written);
            if *last >= version {
                return Ok(());
            }
            state_file::write(&path, &SavedNflog { entries })?;
            *last = version;
            Ok::<(), state_file::StateFileError>(())
        })
        .await;
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                self.metrics.nflog_write_errors.inc();
                tracing::error!(error = %e, "cannot write the notification log");
            }
            Err(e) => {
                self.metrics.nflog_write_errors.inc();
                tracing::error!(error = %e, "notification log write task failed");
            }
        }
    }

    /// Writes every held alert to disk.
    async fn persist_alerts(&self) {
        let Some(files) = &self.files else { return };
        self.alerts_dirty.store(false, Ordering::Release);
        let saved = {
            let state = self.lock_state();
            SavedAlerts {
                saved_at_ms: self.clock.now_ms(),
                alerts: Self::held_alerts(&state).iter().map(SavedAlert::from_alert).collect(),
            }
        };
        let path = files.alerts_path.clone();
        let guard = Arc::clone(&files.alerts_written);
        let result = tokio::task::spawn_blocking(move || {
            let _one_writer = lock(&guard);
            state_file::write(&path, &saved)
        })
        .await;
        let failed = match result {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(e) => Some(e.to_string()),
        };
        if let Some(error) = failed {
            self.metrics.alerts_snapshot_errors.inc();
            self.alerts_dirty.store(true, Ordering::Release);
            tracing::error!(%error, "cannot write the alerts snapshot");
        }
    }

    /// The alert's status now; `muted_by`: the time intervals muting its groups.
    fn status(&self, state: &State, alert: &Alert, now_ms: i64, muted_by: Vec<String>) -> AlertStatus {
        let silenced_by = self.silences.mutes(&alert.labels);
        let inhibited_by = state.inhibitor.inhibited_by(&alert.labels, now_ms);
        let suppressed = !silenced_by.is_empty() || !inhibited_by.is_empty() || !muted_by.is_empty();
        AlertStatus {
            state: if suppressed { AlertState::Suppressed } else { AlertState::Active },
            silenced_by,
            inhibited_by,
            muted_by,
        }
    }

    fn view(
        &self,
        state: &State,
        alert: &Alert,
        now_ms: i64,
        muted: &HashMap<Fingerprint, Vec<String>>,
    ) -> AlertView {
        let fingerprint = alert.fingerprint();
        let generation = &state.generation;
        let receivers = generation
            .tree
            .match_labels(|name| alert.labels.get(name))
            .into_iter()
            .map(|id| generation.tree.node(id).opts.receiver.clone())
            .collect();
        let muted_by = muted.get(&fingerprint).cloned().unwrap_or_default();
        AlertView {
            alert: alert.clone(),
            fingerprint,
            status: self.status(state, alert, now_ms, muted_by),
            receivers,
        }
    }

    /// Time intervals muting each alert's groups (as of their last flush).
    fn muted_by(state: &State) -> HashMap<Fingerprint, Vec<String>> {
        let mut out: HashMap<Fingerprint, Vec<String>> = HashMap::new();
        for g in state.groups.values().filter(|g| !g.muted_by.is_empty()) {
            for fp in g.alerts.keys() {
                let names = out.entry(*fp).or_default();
                names.extend(g.muted_by.iter().cloned());
                names.sort();
                names.dedup();
            }
        }
        out
    }

    /// Removes empty groups (stopping their tasks).
    fn remove_empty_groups(&self) {
        let mut state = self.lock_state();
        state.groups.retain(|_, g| {
            if g.alerts.is_empty() {
                g.cancel.cancel();
                false
            } else {
                true
            }
        });
        self.metrics.aggregation_groups.set(state.groups.len() as i64);
    }

    /// Collects resolved alerts from the store.
    fn gc_alerts(&self) {
        let now_ms = self.clock.now_ms();
        let mut state = self.lock_state();
        let gone = state.store.gc(now_ms);
        for a in &gone {
            state.inhibitor.forget(a);
        }
        self.metrics.alerts.set(state.store.len() as i64);
        drop(state);
        if !gone.is_empty() {
            tracing::debug!(count = gone.len(), "resolved alerts collected");
            self.mark_alerts_dirty();
        }
    }
}

/// The notification log file's content.
#[derive(Serialize, Deserialize)]
struct SavedNflog {
    entries: Vec<nflog::Entry>,
}

/// The alerts file's content.
#[derive(Serialize, Deserialize)]
struct SavedAlerts {
    saved_at_ms: i64,
    alerts: Vec<SavedAlert>,
}

#[derive(Serialize, Deserialize)]
struct SavedAlert {
    labels: Vec<(String, String)>,
    annotations: Vec<(String, String)>,
    starts_at_ms: i64,
    ends_at_ms: i64,
    generator_url: String,
    updated_at_ms: i64,
    timeout: bool,
}

fn pairs(labels: &Labels) -> Vec<(String, String)> {
    labels.iter().map(|l| (l.name.to_string(), l.value.to_string())).collect()
}

impl SavedAlert {
    fn from_alert(a: &Alert) -> SavedAlert {
        SavedAlert {
            labels: pairs(&a.labels),
            annotations: pairs(&a.annotations),
            starts_at_ms: a.starts_at_ms,
            ends_at_ms: a.ends_at_ms,
            generator_url: a.generator_url.clone(),
            updated_at_ms: a.updated_at_ms,
            timeout: a.timeout,
        }
    }

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

/// The running notification side. See the module docs.
pub struct Dispatcher {
    inner: Arc<Inner>,
    background: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Generation {
    fn new(
        config: Arc<AlertmanagerConfig>,
        config_text: String,
        integrations: Integrations,
        time_intervals: TimeIntervals,
        cancel: CancellationToken,
    ) -> Generation {
        Generation {
            tree: RouteTree::new(&config),
            resolve_timeout_ms: config.global.resolve_timeout.as_millis(),
            config,
            config_text,
            integrations,
            time_intervals,
            cancel,
        }
    }
}

impl Dispatcher {
    /// Loads the state in `options.data_dir` (if any), re-forms the groups of the restored
    /// alerts and starts the background tasks. Must be called within a tokio runtime.
    pub fn start(
        config: Arc<AlertmanagerConfig>,
        config_text: String,
        integrations: Integrations,
        silences: Arc<Silences>,
        time_intervals: TimeIntervals,
        options: DispatcherOptions,
    ) -> Result<Arc<Dispatcher>, DispatchError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| DispatchError::NoRuntime)?;
        let files = match &options.data_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir)
                    .map_err(|source| DispatchError::DataDir { path: dir.clone(), source })?;
                Some(StateFiles {
                    nflog_path: dir.join(NFLOG_FILE),
                    alerts_path: dir.join(ALERTS_FILE),
                    nflog_written: Arc::new(Mutex::new(0)),
                    alerts_written: Arc::new(Mutex::new(())),
                })
            }
            None => None,
        };
        let root = CancellationToken::new();
        let generation = Arc::new(Generation::new(
            Arc::clone(&config),
            config_text,
            integrations,
            time_intervals,
            root.child_token(),
        ));
        let retention_ms = options.nflog_retention.as_millis() as i64;
        let inner = Arc::new(Inner {
            clock: options.clock,
            external_url: options.external_url.clone(),
            attempt_timeout: options.attempt_timeout,
            silences,
            started_at_ms: options.clock.now_ms(),
            runtime: runtime.clone(),
            state: Mutex::new(State {
                generation,
                store: AlertStore::new(options.max_alerts),
                inhibitor: Inhibitor::new(&config.inhibit_rules),
                groups: HashMap::new(),
            }),
            nflog: Mutex::new(NotificationLog::new(retention_ms)),
            deliveries: Mutex::new(VecDeque::new()),
            deliveries_cap: options.recent_deliveries.max(1),
            metrics: options.metrics.clone(),
            files,
            alerts_dirty: AtomicBool::new(false),
            alerts_changed: Notify::new(),
            stopped: AtomicBool::new(false),
            root,
        });

        let restored = Self::load(&inner);

        let mut background = Vec::new();
        background.push(runtime.spawn(maintenance(Arc::clone(&inner), options.gc_interval)));
        if inner.files.is_some() {
            background
                .push(runtime.spawn(snapshot_alerts(Arc::clone(&inner), options.alerts_snapshot_interval)));
        }
        let dispatcher = Arc::new(Dispatcher { inner, background: Mutex::new(background) });
        if !restored.is_empty() {
            tracing::info!(alerts = restored.len(), "alerts restored from disk");
            dispatcher.inner.put(restored);
        }
        Ok(dispatcher)
    }

    /// Reads the state files: restores the log, returns the saved alerts.
    fn load(inner: &Inner) -> Vec<Alert> {
        let Some(files) = &inner.files else { return Vec::new() };
        let now_ms = inner.clock.now_ms();
        if let Some(saved) = Self::read_state::<SavedNflog>(inner, &files.nflog_path, "notification log") {
            let kept = inner.lock_nflog().restore(saved.entries, now_ms);
            tracing::info!(entries = kept, "notification log restored");
        }
        Self::read_state::<SavedAlerts>(inner, &files.alerts_path, "alerts")
            .map(|saved| saved.alerts.into_iter().map(SavedAlert::into_alert).collect())
            .unwrap_or_default()
    }

    /// One state file's newest valid generation; corrupt or unreadable files are logged and
    /// counted.
    fn read_state<T: serde::de::DeserializeOwned>(
        inner: &Inner,
        path: &std::path::Path,
        what: &str,
    ) -> Option<T> {
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

    /// Applies a new config: new route tree, inhibition rules, integrations and time
    /// intervals; every group is re-formed (see the module docs).
    pub fn reload(
        &self,
        config: Arc<AlertmanagerConfig>,
        config_text: String,
        integrations: Integrations,
        time_intervals: TimeIntervals,
    ) -> Result<(), DispatchError> {
        let inner = &self.inner;
        if inner.stopped.load(Ordering::Relaxed) {
            return Err(DispatchError::Stopped);
        }
        let generation = Arc::new(Generation::new(
            Arc::clone(&config),
            config_text,
            integrations,
            time_intervals,
            inner.root.child_token(),
        ));
        let now_ms = inner.clock.now_ms();
        let mut state = inner.lock_state();
        let held = Inner::held_alerts(&state);
        state.generation.cancel.cancel();
        state.groups.clear();
        state.generation = generation;
        let mut inhibitor = Inhibitor::new(&config.inhibit_rules);
        for (_, a) in state.store.iter() {
            inhibitor.observe(a);
        }
        state.inhibitor = inhibitor;
        for alert in held {
            inner.route(&mut state, alert, now_ms);
        }
        inner.metrics.aggregation_groups.set(state.groups.len() as i64);
        Ok(())
    }

    /// Stops every task (flushes in flight are cancelled, as upstream on shutdown) and writes
    /// the state to disk.
    pub async fn stop(&self) {
        if self.inner.stopped.swap(true, Ordering::SeqCst) {
            return;
        }
        self.inner.root.cancel();
        let handles: Vec<_> = std::mem::take(&mut *lock(&self.background));
        for h in handles {
            let _ = h.await;
        }
        self.inner.persist_nflog().await;
        self.inner.persist_alerts().await;
    }

    /// Stops every task without writing anything, as a crash would (tests of restarts).
    #[cfg(test)]
    fn kill(&self) {
        self.inner.stopped.store(true, Ordering::SeqCst);
        self.inner.root.cancel();
    }
}

impl Drop for Dispatcher {
    fn drop(&mut self) {
        // Tasks hold the inner state; without this they would outlive an unstopped dispatcher.
        self.inner.root.cancel();
    }
}

/// Periodic work: empty groups (30s), resolved alerts (`gc_interval`), expired log entries
/// (15m).
async fn maintenance(inner: Arc<Inner>, gc_interval: Duration) {
    let mut groups = tokio::time::interval(MAINTENANCE_INTERVAL);
    let mut gc = tokio::time::interval(gc_interval.max(Duration::from_secs(1)));
    let mut nflog_gc = tokio::time::interval(NFLOG_GC_INTERVAL);
    for timer in [&mut groups, &mut gc, &mut nflog_gc] {
        timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        timer.reset();
    }
    loop {
        tokio::select! {
            _ = inner.root.cancelled() => return,
            _ = groups.tick() => inner.remove_empty_groups(),
            _ = gc.tick() => inner.gc_alerts(),
            _ = nflog_gc.tick() => {
                let removed = inner.lock_nflog().gc(inner.clock.now_ms());
                if removed > 0 {
                    tracing::debug!(removed, "expired notification log entries dropped");
                    inner.persist_nflog().await;
                }
            }
        }
    }
}

/// Writes the alerts after changes, at most once per `interval`.
async fn snapshot_alerts(inner: Arc<Inner>, interval: Duration) {
    loop {
        tokio::select! {
            _ = inner.root.cancelled() => return,
            _ = inner.alerts_changed.notified() => {}
        }
        if inner.alerts_dirty.load(Ordering::Acquire) {
            inner.persist_alerts().await;
        }
        tokio::select! {
            _ = inner.root.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}

impl Dispatcher {
    /// Applies Alertmanager's API defaults to a received alert at `now_ms`.
    fn receive(&self, mut alert: Alert, now_ms: i64, resolve_timeout_ms: i64) -> Alert {
        alert.updated_at_ms = now_ms;
        if alert.starts_at_ms == 0 {
            alert.starts_at_ms = if alert.ends_at_ms == 0 { now_ms } else { alert.ends_at_ms };
        }
        if alert.ends_at_ms == 0 {
            alert.timeout = true;
            alert.ends_at_ms = now_ms + resolve_timeout_ms;
        }
        let status = if alert.ends_at_ms > now_ms { "firing" } else { "resolved" };
        self.inner.metrics.alerts_received.get_or_create(&status_label(status)).inc();
        alert
    }
}

impl AlertmanagerApi for Dispatcher {
    fn put_alerts(&self, alerts: Vec<Alert>) {
        let now_ms = self.inner.clock.now_ms();
        let resolve_timeout_ms = self.inner.lock_state().generation.resolve_timeout_ms;
        let alerts = alerts.into_iter().map(|a| self.receive(a, now_ms, resolve_timeout_ms)).collect();
        self.inner.put(alerts);
    }

    fn alerts(&self) -> Vec<AlertView> {
        let now_ms = self.inner.clock.now_ms();
        let state = self.inner.lock_state();
        let muted = Inner::muted_by(&state);
        let mut views: Vec<AlertView> =
            state.store.iter().map(|(_, a)| self.inner.view(&state, a, now_ms, &muted)).collect();
        views.sort_by_key(|v| v.fingerprint);
        views
    }

    fn groups(&self) -> Vec<GroupView> {
        let now_ms = self.inner.clock.now_ms();
        let state = self.inner.lock_state();
        let muted = Inner::muted_by(&state);
        let mut groups: Vec<GroupView> = state
            .groups
            .values()
            .filter_map(|g| {
                let mut alerts: Vec<&Alert> = g.alerts.values().filter(|a| !a.resolved_at(now_ms)).collect();
                if alerts.is_empty() {
                    return None;
                }
                alerts.sort_by(|a, b| group::alert_order(a, b));
                Some(GroupView {
                    labels: g.labels.clone(),
                    receiver: g.receiver.clone(),
                    group_key: g.key.clone(),
                    muted_by: Vec::new(),
                    alerts: alerts.into_iter().map(|a| self.inner.view(&state, a, now_ms, &muted)).collect(),
                })
            })
            .collect();
        groups.sort_by(|a, b| {
            if a.labels == b.labels {
                a.receiver.cmp(&b.receiver)
            } else if group::labels_before(&a.labels, &b.labels) {
                std::cmp::Ordering::Less
            } else {
                std::cmp::Ordering::Greater
            }
        });
        groups
    }

    fn silences(&self) -> Arc<Silences> {
        Arc::clone(&self.inner.silences)
    }

    fn resolve_timeout(&self) -> Duration {
        self.inner.lock_state().generation.config.global.resolve_timeout.as_duration()
    }

    fn receivers(&self) -> Vec<String> {
        self.inner.lock_state().generation.config.receivers.iter().map(|r| r.name.clone()).collect()
    }

    fn config_text(&self) -> String {
        self.inner.lock_state().generation.config_text.clone()
    }

    fn started_at_ms(&self) -> i64 {
        self.inner.started_at_ms
    }

    fn now_ms(&self) -> i64 {
        self.inner.clock.now_ms()
    }

    fn recent_deliveries(&self) -> Vec<DeliveryRecord> {
        lock(&self.inner.deliveries).iter().cloned().collect()
    }
}

impl AlertSink for Dispatcher {
    /// Alerts from the router's own rules: labels with empty values dropped, alerts without
    /// labels or ending before they start skipped (Alertmanager's validation), then received
    /// as the API receives them.
    fn send(&self, alerts: Vec<crate::alerts::Alert>) {
        let alerts = alerts
            .into_iter()
            .filter_map(|a| {
                let mut labels = a.labels;
                labels.retain(|l| !l.value.is_empty());
                let starts_at_ms = a.starts_at_ms.unwrap_or(0);
                let ends_at_ms = a.ends_at_ms.unwrap_or(0);
                if labels.is_empty() || (ends_at_ms != 0 && starts_at_ms != 0 && ends_at_ms < starts_at_ms) {
                    tracing::debug!(%labels, "invalid alert from the rules skipped");
                    return None;
                }
                Some(Alert {
                    labels,
                    annotations: a.annotations,
                    starts_at_ms,
                    ends_at_ms,
                    generator_url: a.generator_url,
                    updated_at_ms: 0,
                    timeout: false,
                })
            })
            .collect();
        self.put_alerts(alerts);
    }
}
