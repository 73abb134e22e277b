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
//!    (`dispatch/nflog.rs`), retries bounded by the flush deadline, and logging.
//!
//! The API's views (`dispatch/views.rs`) compute the alerts' status when read, as
//! Alertmanager's API does: `/alerts` from silences and inhibition only, `/alerts/groups`
//! adding each group's own time-interval muting.
//!
//! ## Locking
//! One mutex guards the alerts and groups ([`State`]); the inhibitor has its own read-write
//! lock so that flushes and API reads check inhibition without the state lock. Order: the
//! state lock may be held while taking the inhibitor's, never the reverse; the notification
//! log, the silence cache and the delivery records are leaf locks. Every critical section is
//! a few map operations or a copy: API reads copy under the state lock and compute outside
//! it, state files are serialised and synced on the blocking pool.
//!
//! ## Reload
//! As upstream recreates its dispatcher on reload, [`Dispatcher::reload`] stops every group
//! (cancelling flushes in flight), rebuilds the route tree, inhibition rules and integrations,
//! and re-inserts every held alert into new groups. Alerts that started more than `group_wait`
//! ago flush at once, and the notification log (kept across reloads) stops duplicates.
//!
//! Groups are keyed by their generation as well as route and labels, so a task of the
//! replaced generation can never reach a group of the new one. Such a task is cancelled at its
//! next await point; until then it may still run synchronous steps: record a delivery that did
//! happen in the log (correct: the log is keyed by group key and integration, the same in the
//! new generation, whose group then dedups against it) and look up its own group, which is
//! gone (so it changes nothing). Reload and `put` both hold the state lock throughout, so an
//! alert is either routed by the old generation (and re-inserted by the reload) or by the new.
//!
//! ## Persistence
//! With [`DispatcherOptions::data_dir`], the notification log and the held alerts are kept
//! there (`dispatch/persist.rs`): the log synced before each flush completes (deliveries
//! finishing together share one write), the alerts at most once per
//! [`DispatcherOptions::alerts_snapshot_interval`] after a change that matters, and before a
//! resolved notification is logged; both on [`Dispatcher::stop`]. At start both are read and
//! the alerts re-form their groups; alerts that were firing when saved keep firing until
//! their senders resend them (or `resolve_timeout` passes), so a restart after a long outage
//! sends no false "resolved".
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
mod persist;
mod pipeline;
mod store;
mod views;

#[cfg(test)]
mod tests;

pub use metrics::DispatchMetrics;

use self::group::{AggrGroup, GroupId};
use self::inhibit::Inhibitor;
use self::metrics::status_label;
use self::nflog::NotificationLog;
use self::persist::{StateFiles, StateKind};
use self::store::{AlertStore, PutOutcome};
use self::views::{GroupCopy, SilenceCache};
use crate::alerts::AlertSink;
use crate::notify::alert::{Alert, AlertView, Fingerprint, GroupView};
use crate::notify::receivers::Integrations;
use crate::notify::{AlertmanagerApi, Clock, DeliveryRecord, Silences};
use crate::route::RouteTree;
use crate::route::config::AlertmanagerConfig;
use crate::route::time_intervals::TimeIntervals;
use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

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
    /// The least time between two alert snapshots on disk (a flush about to log resolved
    /// alerts asks for one at once).
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
            alerts_snapshot_interval: Duration::from_secs(30),
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
    /// Distinct for every generation of one dispatcher (part of each [`GroupId`]).
    id: u64,
    config: Arc<AlertmanagerConfig>,
    config_text: String,
    tree: RouteTree,
    integrations: Integrations,
    time_intervals: TimeIntervals,
    resolve_timeout_ms: i64,
    /// Cancelled when the generation is replaced: stops its groups.
    cancel: CancellationToken,
}

/// Alerts and groups: what the state lock guards.
pub(crate) struct State {
    generation: Arc<Generation>,
    store: AlertStore,
    groups: HashMap<GroupId, AggrGroup>,
    /// Bumped by every change the alerts snapshot must follow (see `store.rs`).
    alerts_version: u64,
}

pub(crate) struct Inner {
    clock: Clock,
    external_url: String,
    silences: Arc<Silences>,
    started_at_ms: i64,
    runtime: tokio::runtime::Handle,
    state: Mutex<State>,
    /// Replaced with the generation (under the state lock).
    inhibitor: RwLock<Inhibitor>,
    silence_cache: Mutex<SilenceCache>,
    nflog: Mutex<NotificationLog>,
    deliveries: Mutex<VecDeque<DeliveryRecord>>,
    deliveries_cap: usize,
    metrics: DispatchMetrics,
    files: Option<StateFiles>,
    next_generation: AtomicU64,
    stopped: AtomicBool,
    root: CancellationToken,
}

use crate::sync::lock;

impl Inner {
    fn lock_state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    fn lock_nflog(&self) -> MutexGuard<'_, NotificationLog> {
        lock(&self.nflog)
    }

    fn read_inhibitor(&self) -> RwLockReadGuard<'_, Inhibitor> {
        self.inhibitor.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write_inhibitor(&self) -> RwLockWriteGuard<'_, Inhibitor> {
        self.inhibitor.write().unwrap_or_else(PoisonError::into_inner)
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
        let changed_version = {
            let mut state = self.lock_state();
            // Lock order: the state, then the inhibitor (module docs).
            let mut inhibitor = self.write_inhibitor();
            let mut changed = false;
            for alert in alerts {
                match state.store.put(alert, now_ms) {
                    PutOutcome::Rejected => rejected += 1,
                    PutOutcome::Stored { alert, persist } => {
                        changed |= persist;
                        inhibitor.observe(&alert);
                        self.route(&mut state, alert, now_ms);
                    }
                }
            }
            self.metrics.alerts.set(state.store.len() as i64);
            if changed {
                state.alerts_version += 1;
                Some(state.alerts_version)
            } else {
                None
            }
        };
        if rejected > 0 {
            self.metrics.alerts_rejected.inc_by(rejected);
            tracing::warn!(rejected, "alert store full: new alerts rejected");
        }
        if let (Some(version), Some(files)) = (changed_version, &self.files) {
            files.alerts.changed(version);
        }
    }

    /// Inserts an alert into the groups of every route it matches, creating them as needed.
    fn route(self: &Arc<Self>, state: &mut State, alert: Arc<Alert>, now_ms: i64) {
        let generation = Arc::clone(&state.generation);
        if generation.cancel.is_cancelled() {
            return;
        }
        let routes = generation.tree.match_labels(|name| alert.labels.get(name));
        for route in routes {
            let opts = &generation.tree.node(route).opts;
            let id = GroupId {
                generation: generation.id,
                route,
                labels: group::group_labels(&alert.labels, opts),
            };
            if let Some(g) = state.groups.get_mut(&id) {
                g.insert(Arc::clone(&alert), now_ms);
                continue;
            }
            let key = crate::notify::alert::group_key(generation.tree.node(route).key(), &id.labels);
            let cancel = generation.cancel.child_token();
            let mut g = AggrGroup::new(id.labels.clone(), key, opts, cancel.clone());
            g.insert(Arc::clone(&alert), now_ms);
            let wake = Arc::clone(&g.wake);
            state.groups.insert(id.clone(), g);
            self.metrics.aggregation_groups.set(state.groups.len() as i64);
            self.runtime.spawn(group::run(Arc::clone(self), Arc::clone(&generation), id, wake, cancel));
        }
    }

    /// Every held alert: the store's, and resolved ones that the store collected but a group
    /// still holds for its resolved notification.
    fn held_alerts(state: &State) -> Vec<Arc<Alert>> {
        let mut out: HashMap<Fingerprint, Arc<Alert>> =
            state.store.iter().map(|(fp, a)| (*fp, Arc::clone(a))).collect();
        for g in state.groups.values() {
            for (fp, a) in &g.alerts {
                out.entry(*fp).or_insert_with(|| Arc::clone(a));
            }
        }
        out.into_values().collect()
    }

    /// Waits until the alerts snapshot on disk reached `version` (no-op without a data
    /// directory).
    async fn sync_alerts(&self, version: u64) {
        if let Some(files) = &self.files {
            files.alerts.sync(version, &self.root).await;
        }
    }

    /// Waits until the notification log on disk reached `version` (no-op without a data
    /// directory).
    async fn sync_nflog(&self, version: u64) {
        if let Some(files) = &self.files {
            files.nflog.sync(version, &self.root).await;
        }
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
        if gone.is_empty() {
            return;
        }
        {
            let mut inhibitor = self.write_inhibitor();
            for a in &gone {
                inhibitor.forget(a);
            }
        }
        self.metrics.alerts.set(state.store.len() as i64);
        state.alerts_version += 1;
        let version = state.alerts_version;
        drop(state);
        tracing::debug!(count = gone.len(), "resolved alerts collected");
        if let Some(files) = &self.files {
            files.alerts.changed(version);
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
        id: u64,
        config: Arc<AlertmanagerConfig>,
        config_text: String,
        integrations: Integrations,
        time_intervals: TimeIntervals,
        cancel: CancellationToken,
    ) -> Generation {
        Generation {
            id,
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
            Some(dir) => Some(
                StateFiles::open(dir, options.alerts_snapshot_interval)
                    .map_err(|source| DispatchError::DataDir { path: dir.clone(), source })?,
            ),
            None => None,
        };
        let root = CancellationToken::new();
        let generation = Arc::new(Generation::new(
            0,
            Arc::clone(&config),
            config_text,
            integrations,
            time_intervals,
            root.child_token(),
        ));
        let resolve_timeout_ms = generation.resolve_timeout_ms;
        let retention_ms = options.nflog_retention.as_millis() as i64;
        let inner = Arc::new(Inner {
            clock: options.clock,
            external_url: options.external_url.clone(),
            silences,
            started_at_ms: options.clock.now_ms(),
            runtime: runtime.clone(),
            state: Mutex::new(State {
                generation,
                store: AlertStore::new(options.max_alerts),
                groups: HashMap::new(),
                alerts_version: 0,
            }),
            inhibitor: RwLock::new(Inhibitor::new(&config.inhibit_rules)),
            silence_cache: Mutex::new(SilenceCache::new(options.max_alerts.saturating_mul(2))),
            nflog: Mutex::new(NotificationLog::new(retention_ms)),
            deliveries: Mutex::new(VecDeque::new()),
            deliveries_cap: options.recent_deliveries.max(1),
            metrics: options.metrics.clone(),
            files,
            next_generation: AtomicU64::new(1),
            stopped: AtomicBool::new(false),
            root,
        });

        let restored = persist::load(&inner, resolve_timeout_ms);

        let mut background = Vec::new();
        background.push(runtime.spawn(maintenance(Arc::clone(&inner), options.gc_interval)));
        if inner.files.is_some() {
            for kind in [StateKind::Nflog, StateKind::Alerts] {
                background.push(runtime.spawn(persist::run_writer(Arc::clone(&inner), kind)));
            }
        }
        let dispatcher = Arc::new(Dispatcher { inner, background: Mutex::new(background) });
        if !restored.is_empty() {
            tracing::info!(alerts = restored.len(), "alerts restored from disk");
            dispatcher.inner.put(restored);
        }
        Ok(dispatcher)
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
            inner.next_generation.fetch_add(1, Ordering::Relaxed),
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
        *inner.write_inhibitor() = inhibitor;
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
        persist::write(&self.inner, StateKind::Nflog, false).await;
        persist::write(&self.inner, StateKind::Alerts, true).await;
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
                let (removed, version) = {
                    let mut log = inner.lock_nflog();
                    (log.gc(inner.clock.now_ms()), log.version())
                };
                if removed > 0 {
                    tracing::debug!(removed, "expired notification log entries dropped");
                    if let Some(files) = &inner.files {
                        files.nflog.changed(version);
                    }
                }
            }
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
        let (alerts, generation) = {
            let state = self.inner.lock_state();
            let alerts: Vec<Arc<Alert>> = state.store.iter().map(|(_, a)| Arc::clone(a)).collect();
            (alerts, Arc::clone(&state.generation))
        };
        let mut views = views::alert_views(&self.inner, &generation, alerts, now_ms);
        views.sort_by_key(|v| v.fingerprint);
        views
    }

    fn groups(&self) -> Vec<GroupView> {
        let now_ms = self.inner.clock.now_ms();
        let (groups, generation) = {
            let state = self.inner.lock_state();
            let groups: Vec<GroupCopy> = state
                .groups
                .values()
                .filter_map(|g| {
                    let mut alerts: Vec<Arc<Alert>> =
                        g.alerts.values().filter(|a| !a.resolved_at(now_ms)).cloned().collect();
                    if alerts.is_empty() {
                        return None;
                    }
                    alerts.sort_by(|a, b| group::alert_order(a, b));
                    Some(GroupCopy {
                        labels: g.labels.clone(),
                        receiver: g.receiver.clone(),
                        group_key: g.key.clone(),
                        muted_by: g.muted_by.clone(),
                        alerts,
                    })
                })
                .collect();
            (groups, Arc::clone(&state.generation))
        };
        views::group_views(&self.inner, &generation, groups, now_ms)
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
