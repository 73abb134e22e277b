//! The rule manager: loads rule files, runs every group on its interval, carries alert state
//! across reloads and restarts, and hands alerts to an [`AlertSink`].
//!
//! - **Loading** ([`RuleManager::update`]): every file is read and validated first; if any
//!   fails, nothing changes and the errors are returned (a bad file on reload keeps the old
//!   rules). Otherwise groups are matched to the running ones by file and name: a matched
//!   group takes over the old one's state ([`Group::copy_state_from`]), a new group restores
//!   its saved state from disk ([`super::state`]), a removed group writes staleness markers for
//!   its series and deletes its saved state.
//! - **Scheduling**: one tokio task per group. Evaluations land on the group's fixed phase
//!   within its interval ([`Group::eval_timestamp`]); when an evaluation overruns, the slots it
//!   covered are skipped and counted as missed, as Prometheus does. Evaluation times come
//!   from the wall clock; when it jumps back, the schedule realigns.
//! - **Reading** ([`RuleManager::groups`]): each group publishes a copy of itself after every
//!   evaluation, so the API never waits for an evaluation in progress.
//! - **Evaluation** runs on the blocking pool ([`Group::eval`] is synchronous); queries go to
//!   the [`Datasource`] (the embedded engine or a remote API) through [`DatasourceQuerier`].
//!   Output goes to the [`RuleAppender`] (the embedded store), alerts to the sink, and the
//!   group's alert state to disk when it has any.

use super::check::{CheckOptions, load_valid};
use super::eval::{EvalContext, RuleAppender, RuleEvalError, RuleQuerier, RuleSample, rule_vector};
use super::group::{Group, build_groups};
use super::state::{self, RestoreOptions, StateDir};
use crate::alerts::AlertSink;
use crate::datasource::Datasource;
use harrier_telemetry::model::Labels;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, RwLock};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Settings of the rule manager (Prometheus's `global` evaluation settings and rule flags).
#[derive(Debug, Clone)]
pub struct ManagerOptions {
    /// `global.evaluation_interval`: groups without `interval`.
    pub default_interval_ms: i64,
    /// `global.rule_query_offset`.
    pub default_query_offset_ms: i64,
    /// How often a firing alert is re-sent (Prometheus's `--rules.alert.resend-delay`, 1 m).
    pub resend_delay_ms: i64,
    pub external_labels: Labels,
    pub external_url: String,
    pub restore: RestoreOptions,
    pub check: CheckOptions,
}

impl Default for ManagerOptions {
    fn default() -> Self {
        ManagerOptions {
            default_interval_ms: 60_000,
            default_query_offset_ms: 0,
            resend_delay_ms: 60_000,
            external_labels: Labels::new(),
            external_url: String::new(),
            restore: RestoreOptions::default(),
            check: CheckOptions::default(),
        }
    }
}

/// Runs rule expressions through a [`Datasource`] from a blocking-pool thread.
pub struct DatasourceQuerier {
    pub datasource: Arc<dyn Datasource>,
    pub handle: tokio::runtime::Handle,
}

impl RuleQuerier for DatasourceQuerier {
    fn query(&self, expr: &str, t_ms: i64) -> Result<Vec<RuleSample>, RuleEvalError> {
        let result = self.handle.block_on(self.datasource.instant_query(expr, t_ms))?;
        rule_vector(result)
    }
}

/// Self-metrics of rule evaluation (`harrier_router_rule_*`), per group.
#[derive(Clone, Default)]
pub struct RuleMetrics {
    iterations: Family<Vec<(String, String)>, Counter>,
    missed: Family<Vec<(String, String)>, Counter>,
    evaluations: Family<Vec<(String, String)>, Counter>,
    failures: Family<Vec<(String, String)>, Counter>,
    samples_written: Family<Vec<(String, String)>, Counter>,
    samples_rejected: Family<Vec<(String, String)>, Counter>,
    last_duration: Family<Vec<(String, String)>, Gauge<f64, AtomicU64>>,
    last_eval: Family<Vec<(String, String)>, Gauge<f64, AtomicU64>>,
    interval: Family<Vec<(String, String)>, Gauge<f64, AtomicU64>>,
    rules: Family<Vec<(String, String)>, Gauge>,
    alerts_sent: Counter,
    state_errors: Counter,
    restored_alerts: Counter,
}

impl RuleMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let m = RuleMetrics::default();
        let r = registry.sub_registry_with_prefix("harrier_router");
        r.register(
            "rule_group_iterations",
            "Scheduled evaluations of each rule group (run or missed)",
            m.iterations.clone(),
        );
        r.register(
            "rule_group_iterations_missed",
            "Evaluations skipped because the previous one overran its slot",
            m.missed.clone(),
        );
        r.register("rule_evaluations", "Rule evaluations", m.evaluations.clone());
        r.register("rule_evaluation_failures", "Rule evaluations that failed", m.failures.clone());
        r.register(
            "rule_samples_written",
            "Samples rules wrote (recorded series, ALERTS, staleness markers)",
            m.samples_written.clone(),
        );
        r.register(
            "rule_samples_rejected",
            "Rule output samples the store refused (out of order, duplicate timestamp)",
            m.samples_rejected.clone(),
        );
        r.register(
            "rule_group_last_duration_seconds",
            "Duration of the group's last evaluation",
            m.last_duration.clone(),
        );
        r.register(
            "rule_group_last_evaluation_timestamp_seconds",
            "Time of the group's last evaluation",
            m.last_eval.clone(),
        );
        r.register("rule_group_interval_seconds", "The group's evaluation interval", m.interval.clone());
        r.register("rule_group_rules", "Rules in the group", m.rules.clone());
        r.register("rule_alerts_sent", "Alerts handed to the notification pipeline", m.alerts_sent.clone());
        r.register(
            "rule_state_errors",
            "Alert state files that could not be written or read (corrupt ones are skipped)",
            m.state_errors.clone(),
        );
        r.register("rule_alerts_restored", "Alerts restored from disk at start", m.restored_alerts.clone());
        m
    }

    fn group_labels(key: &str) -> Vec<(String, String)> {
        vec![("rule_group".to_string(), key.to_string())]
    }
}

/// A scheduled group.
struct RunningGroup {
    group: Arc<Mutex<Group>>,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

/// The state readers see: a copy of a group taken after each evaluation, so the API never
/// waits for an evaluation in progress (which can take as long as the query timeout).
type Snapshot = Arc<RwLock<Arc<Group>>>;

struct Shared {
    options: RwLock<ManagerOptions>,
    datasource: RwLock<Arc<dyn Datasource>>,
    appender: Arc<dyn RuleAppender>,
    sink: Arc<dyn AlertSink>,
    state: Option<StateDir>,
    metrics: RuleMetrics,
}

/// Why loading rules failed: one message per problem, each naming its file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", .0.join("\n"))]
pub struct LoadErrors(pub Vec<String>);

/// The rule manager.
pub struct RuleManager {
    shared: Arc<Shared>,
    groups: tokio::sync::Mutex<Vec<RunningGroup>>,
    /// What readers (the API) see, in load order.
    handles: RwLock<Vec<Snapshot>>,
}

impl RuleManager {
    /// A manager with no rules yet; `state_dir` keeps alert state across restarts (`None`:
    /// state lives in memory only).
    pub fn new(
        options: ManagerOptions,
        datasource: Arc<dyn Datasource>,
        appender: Arc<dyn RuleAppender>,
        sink: Arc<dyn AlertSink>,
        state_dir: Option<PathBuf>,
        metrics: RuleMetrics,
    ) -> Result<RuleManager, state::StateError> {
        let state = state_dir.map(StateDir::open).transpose()?;
        Ok(RuleManager {
            shared: Arc::new(Shared {
                options: RwLock::new(options),
                datasource: RwLock::new(datasource),
                appender,
                sink,
                state,
                metrics,
            }),
            groups: tokio::sync::Mutex::new(Vec::new()),
            handles: RwLock::new(Vec::new()),
        })
    }

    /// Replaces the datasource rules query (config reload).
    pub fn set_datasource(&self, datasource: Arc<dyn Datasource>) {
        *self.shared.datasource.write().unwrap_or_else(|p| p.into_inner()) = datasource;
    }

    /// Replaces the options (config reload); groups pick them up at their next evaluation,
    /// except defaults for interval and offset, which apply to the next [`RuleManager::update`].
    pub fn set_options(&self, options: ManagerOptions) {
        *self.shared.options.write().unwrap_or_else(|p| p.into_inner()) = options;
    }

    /// Loads `files` and (re)starts the groups; on any error the running rules stay.
    pub async fn update(&self, files: &[PathBuf]) -> Result<(), LoadErrors> {
        let options = self.shared.options.read().unwrap_or_else(|p| p.into_inner()).clone();
        let mut errors = Vec::new();
        let mut new_groups = Vec::new();
        for path in files {
            match load_valid(path, &options.check) {
                Ok(loaded) => new_groups.extend(build_groups(
                    &loaded,
                    options.default_interval_ms,
                    options.default_query_offset_ms,
                )),
                Err(e) => errors.push(e.to_string()),
            }
        }
        let mut seen = std::collections::HashSet::new();
        for g in &new_groups {
            if !seen.insert(g.key()) {
                errors.push(format!(
                    "{}: groupname: \"{}\" is repeated in the same file",
                    g.settings.file, g.settings.name
                ));
            }
        }
        if !errors.is_empty() {
            return Err(LoadErrors(errors));
        }

        let mut running = self.groups.lock().await;
        // Stop every running group after its evaluation in progress, keeping its state.
        let mut old: HashMap<String, Arc<Mutex<Group>>> = HashMap::new();
        for r in running.iter() {
            r.stop.cancel();
        }
        for r in running.drain(..) {
            if let Err(e) = r.task.await {
                tracing::error!(error = %e, "rule group task failed");
            }
            let key = lock(&r.group).key();
            old.insert(key, r.group);
        }
        let now = harrier_telemetry::model::now_ms();
        let mut started = Vec::with_capacity(new_groups.len());
        let mut snapshots = Vec::with_capacity(new_groups.len());
        for mut group in new_groups {
            let key = group.key();
            if let Some(previous) = old.remove(&key) {
                group.copy_state_from(&lock(&previous));
            } else if let Some(dir) = &self.shared.state {
                match dir.load(&key) {
                    Ok(Some(saved)) => {
                        let n = state::restore_group(&mut group, &saved, now, options.restore);
                        if n > 0 {
                            tracing::info!(group = %key, alerts = n, "alert state restored");
                        }
                        self.shared.metrics.restored_alerts.inc_by(n as u64);
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "alert state skipped");
                        self.shared.metrics.state_errors.inc();
                    }
                }
            }
            let labels = RuleMetrics::group_labels(&key);
            self.shared
                .metrics
                .interval
                .get_or_create(&labels)
                .set(group.settings.interval_ms as f64 / 1000.0);
            self.shared.metrics.rules.get_or_create(&labels).set(group.rules.len() as i64);
            let snapshot: Snapshot = Arc::new(RwLock::new(Arc::new(group.clone())));
            let group = Arc::new(Mutex::new(group));
            let stop = CancellationToken::new();
            let task = tokio::spawn(run_group(
                Arc::clone(&self.shared),
                Arc::clone(&group),
                Arc::clone(&snapshot),
                stop.clone(),
            ));
            started.push(RunningGroup { group, stop, task });
            snapshots.push(snapshot);
        }
        // Groups that are gone: forget their state, and end their series after two of their
        // intervals (as Prometheus: a group that was only renamed or moved has written newer
        // samples by then, so the markers are refused and its series have no gap).
        for (key, removed) in old {
            let (markers, interval) = {
                let g = lock(&removed);
                (g.stale_markers(0), g.settings.interval_ms)
            };
            if !markers.is_empty() {
                let appender = Arc::clone(&self.shared.appender);
                tokio::spawn(async move {
                    tokio::time::sleep(std::time::Duration::from_millis((2 * interval).max(0) as u64)).await;
                    let t = harrier_telemetry::model::now_ms();
                    let markers: Vec<RuleSample> =
                        markers.into_iter().map(|m| RuleSample { t, ..m }).collect();
                    let written = tokio::task::spawn_blocking(move || {
                        appender.append(&markers).and_then(|_| appender.flush())
                    })
                    .await;
                    if let Ok(Err(e)) = written {
                        tracing::warn!(error = %e, "cannot write staleness markers of a removed rule group");
                    }
                });
            }
            if let Some(dir) = &self.shared.state
                && let Err(e) = dir.save(&key, None)
            {
                tracing::warn!(error = %e, "cannot remove alert state");
            }
            let labels = RuleMetrics::group_labels(&key);
            self.shared.metrics.interval.remove(&labels);
            self.shared.metrics.rules.remove(&labels);
        }
        *self.handles.write().unwrap_or_else(|p| p.into_inner()) = snapshots;
        *running = started;
        Ok(())
    }

    /// Every group as of its last evaluation, in load order (for the API); never waits for an
    /// evaluation in progress.
    pub fn groups(&self) -> Vec<Arc<Group>> {
        self.handles
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|g| Arc::clone(&g.read().unwrap_or_else(|p| p.into_inner())))
            .collect()
    }

    /// Stops every group after its evaluation in progress; alert state is on disk.
    pub async fn stop(&self) {
        let mut running = self.groups.lock().await;
        for r in running.iter() {
            r.stop.cancel();
        }
        for r in running.drain(..) {
            let _ = r.task.await;
        }
    }
}

use crate::sync::lock;

/// Evaluates `group` on its interval until `stop`. Evaluation times come from the wall
/// clock (as Prometheus's); if it jumps, the schedule realigns to the group's phase.
async fn run_group(
    shared: Arc<Shared>,
    group: Arc<Mutex<Group>>,
    snapshot: Snapshot,
    stop: CancellationToken,
) {
    let (key, interval, mut next) = {
        let g = lock(&group);
        let now = harrier_telemetry::model::now_ms();
        (g.key(), g.settings.interval_ms, g.eval_timestamp(now) + g.settings.interval_ms)
    };
    let labels = RuleMetrics::group_labels(&key);
    let mut saved_state = shared.state.as_ref().is_some_and(|d| d.path_for(&key).exists());
    loop {
        let wait = next - harrier_telemetry::model::now_ms();
        if wait > interval {
            // The clock went back: take the next slot from now.
            next = lock(&group).eval_timestamp(harrier_telemetry::model::now_ms()) + interval;
            continue;
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(std::time::Duration::from_millis(wait.max(0) as u64)) => {}
        }
        let now = harrier_telemetry::model::now_ms();
        let missed = (now - next) / interval;
        if missed > 0 {
            shared.metrics.missed.get_or_create(&labels).inc_by(missed as u64);
            shared.metrics.iterations.get_or_create(&labels).inc_by(missed as u64);
            next += missed * interval;
        }
        shared.metrics.iterations.get_or_create(&labels).inc();
        let ts = next;
        let task_shared = Arc::clone(&shared);
        let task_group = Arc::clone(&group);
        let task_snapshot = Arc::clone(&snapshot);
        let handle = tokio::runtime::Handle::current();
        let had_state = saved_state;
        let task_key = key.clone();
        let evaluated = tokio::task::spawn_blocking(move || {
            let shared = task_shared;
            let datasource = Arc::clone(&shared.datasource.read().unwrap_or_else(|p| p.into_inner()));
            let options = shared.options.read().unwrap_or_else(|p| p.into_inner()).clone();
            let querier = DatasourceQuerier { datasource, handle };
            let ctx = EvalContext {
                querier: &querier,
                external_labels: &options.external_labels,
                external_url: &options.external_url,
            };
            let mut g = lock(&task_group);
            let outcome = g.eval(ts, &ctx, shared.appender.as_ref(), options.resend_delay_ms);
            // Readers and the state file work from a copy, off the group's lock.
            let snapshot = Arc::new(g.clone());
            drop(g);
            *task_snapshot.write().unwrap_or_else(|p| p.into_inner()) = Arc::clone(&snapshot);
            let mut has_state = had_state;
            if let Some(dir) = &shared.state {
                let captured = state::capture(&snapshot);
                if captured.is_some() || had_state {
                    match dir.save(&task_key, captured.as_ref()) {
                        Ok(()) => has_state = captured.is_some(),
                        Err(e) => {
                            tracing::warn!(error = %e, "cannot save alert state");
                            shared.metrics.state_errors.inc();
                        }
                    }
                }
            }
            let (rules, duration) = (snapshot.rules.len(), snapshot.last_eval_duration_secs);
            (outcome, rules, duration, has_state)
        })
        .await;
        match evaluated {
            Ok((outcome, rules, duration, has_state)) => {
                saved_state = has_state;
                shared.metrics.evaluations.get_or_create(&labels).inc_by(rules as u64);
                shared.metrics.failures.get_or_create(&labels).inc_by(outcome.failures as u64);
                shared.metrics.samples_written.get_or_create(&labels).inc_by(outcome.samples_written as u64);
                shared
                    .metrics
                    .samples_rejected
                    .get_or_create(&labels)
                    .inc_by(outcome.rejected_samples as u64);
                shared.metrics.last_duration.get_or_create(&labels).set(duration);
                shared.metrics.last_eval.get_or_create(&labels).set(ts as f64 / 1000.0);
                if !outcome.alerts.is_empty() {
                    shared.metrics.alerts_sent.inc_by(outcome.alerts.len() as u64);
                    shared.sink.send(outcome.alerts);
                }
            }
            Err(e) => tracing::error!(group = %key, error = %e, "rule group evaluation task failed"),
        }
        next += interval;
    }
}

#[cfg(test)]
mod tests;
