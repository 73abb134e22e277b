//! The notifier: a bounded queue of alerts and the task that posts them to Alertmanagers.
//!
//! Concurrency: [`Notifier::send`] takes a short mutex on the queue (no I/O under it) and wakes
//! the sender with a [`Notify`] permit, so a wake-up while a batch is in flight is not lost.
//! The routing state (external labels, relabel rules, Alertmanager sets with their HTTP
//! clients) is an immutable snapshot behind an `RwLock<Arc<_>>`: a batch uses the snapshot it
//! started with, and [`Notifier::reload`] replaces it without touching the queue.
//!
//! Shutdown: [`Notifier::run`] returns after its cancellation token (or [`Notifier::stop`])
//! fires and the queue is drained: with `drain_on_shutdown`, batches keep going out until the
//! queue is empty or `drain_timeout` has passed (requests are cut at the deadline); whatever
//! is left is counted as dropped. A batch in flight when the stop is requested completes.
//!
//! Metrics follow Prometheus's `prometheus_notifications_*`, including its quirks:
//! `sent_total` counts every alert posted to an Alertmanager whether or not it was accepted,
//! `errors_total` the ones that failed, and the latency of a request is measured from the
//! start of its batch.

use super::config::{self, AlertingConfig, AlertmanagerConfig};
use super::{Alert, AlertSink, AlertsError, wire};
use harrier_telemetry::config_diagnostic::FieldPath;
use harrier_telemetry::http_client::{self, HttpClientConfig};
use harrier_telemetry::model::Labels;
use harrier_telemetry::relabel::{self, RelabelRule};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Prometheus's `DefaultMaxBatchSize`.
pub const DEFAULT_MAX_BATCH: usize = 256;
/// Prometheus's `--alertmanager.notification-queue-capacity` default.
pub const DEFAULT_QUEUE_CAPACITY: usize = 10_000;

/// The label carrying the path alerts are posted to (Prometheus's `pathLabel`).
const ALERTS_PATH_LABEL: &str = "__alerts_path__";
const SCHEME_LABEL: &str = "__scheme__";
const ADDRESS_LABEL: &str = "__address__";

/// Tuning that is not part of the config file (Prometheus's command-line flags).
#[derive(Debug, Clone, PartialEq)]
pub struct NotifierOptions {
    /// Alerts kept in the queue; past it the oldest are dropped.
    pub queue_capacity: usize,
    /// Alerts per POST.
    pub max_batch: usize,
    /// Send what is queued when stopping (Prometheus's default) rather than dropping it.
    pub drain_on_shutdown: bool,
    /// Bound on the drain when stopping.
    pub drain_timeout: Duration,
}

impl Default for NotifierOptions {
    fn default() -> Self {
        NotifierOptions {
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            max_batch: DEFAULT_MAX_BATCH,
            drain_on_shutdown: true,
            drain_timeout: Duration::from_secs(30),
        }
    }
}

type AmLabel = [(&'static str, String); 1];

/// The notifier's self-metrics (Prometheus's `prometheus_notifications_*`).
#[derive(Clone)]
struct Metrics {
    sent: Family<AmLabel, Counter>,
    errors: Family<AmLabel, Counter>,
    dropped: Counter,
    queue_length: Gauge,
    queue_capacity: Gauge,
    discovered: Gauge,
    latency: Family<AmLabel, Histogram>,
}

fn latency_histogram() -> Histogram {
    // Prometheus's latency_histogram_seconds buckets.
    Histogram::new([0.01, 0.1, 1.0, 10.0])
}

impl Metrics {
    fn register(registry: &mut Registry) -> Metrics {
        let m = Metrics {
            sent: Family::default(),
            errors: Family::default(),
            dropped: Counter::default(),
            queue_length: Gauge::default(),
            queue_capacity: Gauge::default(),
            discovered: Gauge::default(),
            latency: Family::new_with_constructor(latency_histogram),
        };
        registry.register(
            "harrier_router_notifications_sent",
            "Alerts posted to each Alertmanager, accepted or not",
            m.sent.clone(),
        );
        registry.register(
            "harrier_router_notifications_errors",
            "Alerts posted to each Alertmanager and not accepted (error, timeout or non-2xx status)",
            m.errors.clone(),
        );
        registry.register(
            "harrier_router_notifications_dropped",
            "Alerts dropped: queue overflow, a batch no Alertmanager of an alertmanagers entry accepted, or left at shutdown",
            m.dropped.clone(),
        );
        registry.register(
            "harrier_router_notifications_queue_length",
            "Alerts waiting in the notification queue",
            m.queue_length.clone(),
        );
        registry.register(
            "harrier_router_notifications_queue_capacity",
            "Capacity of the notification queue",
            m.queue_capacity.clone(),
        );
        registry.register(
            "harrier_router_notifications_alertmanagers_discovered",
            "Alertmanagers configured and not relabeled away",
            m.discovered.clone(),
        );
        registry.register(
            "harrier_router_notifications_latency_seconds",
            "Time from the start of a batch to each Alertmanager's answer",
            m.latency.clone(),
        );
        m
    }
}

/// One `alertmanagers` entry, ready to post to.
struct AmSet {
    client: reqwest::Client,
    http: Arc<HttpClientConfig>,
    timeout: Duration,
    alert_rules: Vec<RelabelRule>,
    /// Deduplicated, in configuration order.
    urls: Vec<String>,
    /// Targets relabeled away (pre-relabel URLs), for reporting.
    dropped: Vec<String>,
}

/// What a configuration resolves to.
struct Routing {
    external_labels: Labels,
    alert_rules: Vec<RelabelRule>,
    sets: Vec<AmSet>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RunState {
    NotStarted,
    Running,
    /// [`Notifier::stop`] is draining the queue itself (`run` was never started).
    Draining,
    Done,
}

/// Delivers alerts to Alertmanagers; see the [module docs](super).
pub struct Notifier {
    routing: RwLock<Arc<Routing>>,
    queue: Mutex<VecDeque<Alert>>,
    more: Notify,
    opts: NotifierOptions,
    metrics: Metrics,
    stop_requested: CancellationToken,
    state: watch::Sender<RunState>,
}

impl Notifier {
    /// Builds a notifier for `cfg` (validated here) and registers its metrics. Nothing is sent
    /// until [`Notifier::run`] is spawned.
    pub fn new(
        cfg: &AlertingConfig,
        external_labels: &Labels,
        opts: NotifierOptions,
        registry: &mut Registry,
    ) -> Result<Notifier, AlertsError> {
        if opts.queue_capacity == 0 {
            return Err(AlertsError::Options("the notification queue capacity must be at least 1"));
        }
        if opts.max_batch == 0 {
            return Err(AlertsError::Options("the notification batch size must be at least 1"));
        }
        let routing = build_routing(cfg, external_labels)?;
        let metrics = Metrics::register(registry);
        metrics.queue_capacity.set(i64::try_from(opts.queue_capacity).unwrap_or(i64::MAX));
        metrics.discovered.set(count_ams(&routing));
        Ok(Notifier {
            routing: RwLock::new(Arc::new(routing)),
            queue: Mutex::new(VecDeque::new()),
            more: Notify::new(),
            opts,
            metrics,
            stop_requested: CancellationToken::new(),
            state: watch::Sender::new(RunState::NotStarted),
        })
    }

    /// Applies a new configuration (Alertmanagers, relabeling, external labels). Queued alerts
    /// are kept and go to the new Alertmanagers; a batch in flight finishes with the old ones.
    /// On error the running configuration stays.
    pub fn reload(&self, cfg: &AlertingConfig, external_labels: &Labels) -> Result<(), AlertsError> {
        let routing = build_routing(cfg, external_labels)?;
        self.metrics.discovered.set(count_ams(&routing));
        *self.routing.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(routing);
        Ok(())
    }

    /// The URLs alerts are posted to, in configuration order.
    pub fn alertmanagers(&self) -> Vec<String> {
        self.routing().sets.iter().flat_map(|s| s.urls.iter().cloned()).collect()
    }

    /// Whether any Alertmanager is configured (cheaper than [`Notifier::alertmanagers`]).
    pub fn has_alertmanagers(&self) -> bool {
        self.routing().sets.iter().any(|s| !s.urls.is_empty())
    }

    /// The URLs of targets `relabel_configs` dropped.
    pub fn dropped_alertmanagers(&self) -> Vec<String> {
        self.routing().sets.iter().flat_map(|s| s.dropped.iter().cloned()).collect()
    }

    /// Alerts waiting to be sent.
    pub fn queue_len(&self) -> usize {
        self.lock_queue().len()
    }

    /// Sends queued alerts until `cancel` fires or [`Notifier::stop`] is called, then drains
    /// the queue (see the module docs) and returns. Spawn it once; a second call returns at
    /// once.
    pub async fn run(self: Arc<Self>, cancel: CancellationToken) {
        let started = self.state.send_if_modified(|s| {
            if *s == RunState::NotStarted {
                *s = RunState::Running;
                true
            } else {
                false
            }
        });
        if !started {
            return;
        }
        'outer: loop {
            tokio::select! {
                biased;
                () = cancel.cancelled() => break,
                () = self.stop_requested.cancelled() => break,
                () = self.more.notified() => {
                    loop {
                        if cancel.is_cancelled() || self.stop_requested.is_cancelled() {
                            break 'outer;
                        }
                        let batch = self.next_batch();
                        if batch.is_empty() {
                            break;
                        }
                        self.send_all(batch, None).await;
                    }
                }
            }
        }
        self.drain().await;
        self.state.send_replace(RunState::Done);
    }

    /// Stops sending and drains the queue (within `drain_timeout`), waiting for
    /// [`Notifier::run`] to finish; if `run` was never started, drains here. Alerts sent after
    /// this are dropped.
    pub async fn stop(&self) {
        self.stop_requested.cancel();
        let drain_here = self.state.send_if_modified(|s| {
            if *s == RunState::NotStarted {
                *s = RunState::Draining;
                true
            } else {
                false
            }
        });
        if drain_here {
            self.drain().await;
            self.state.send_replace(RunState::Done);
            return;
        }
        let mut rx = self.state.subscribe();
        // The sender lives in `self`, so this cannot fail while we hold `&self`.
        let _ = rx.wait_for(|s| *s == RunState::Done).await;
    }

    /// Relabels and enqueues `alerts` (see [`AlertSink::send`]).
    pub fn enqueue(&self, alerts: Vec<Alert>) {
        if alerts.is_empty() {
            return;
        }
        if *self.state.borrow() == RunState::Done {
            self.metrics.dropped.inc_by(alerts.len() as u64);
            tracing::warn!(count = alerts.len(), "notifier stopped, dropping alerts");
            return;
        }
        let routing = self.routing();
        let mut alerts = relabel_alerts(alerts, &routing.alert_rules, &routing.external_labels);
        drop(routing);
        if alerts.is_empty() {
            return;
        }
        let capacity = self.opts.queue_capacity;
        let mut dropped = 0;
        if alerts.len() > capacity {
            let excess = alerts.len() - capacity;
            alerts.drain(..excess);
            dropped += excess;
            tracing::warn!(
                num_dropped = excess,
                "alert batch larger than the queue capacity, dropping alerts"
            );
        }
        {
            let mut queue = self.lock_queue();
            let excess = (queue.len() + alerts.len()).saturating_sub(capacity);
            if excess > 0 {
                queue.drain(..excess);
                dropped += excess;
                tracing::warn!(
                    num_dropped = excess,
                    "alert notification queue full, dropping the oldest alerts"
                );
            }
            queue.extend(alerts);
            self.metrics.queue_length.set(i64::try_from(queue.len()).unwrap_or(i64::MAX));
        }
        if dropped > 0 {
            self.metrics.dropped.inc_by(dropped as u64);
        }
        self.more.notify_one();
    }

    fn routing(&self) -> Arc<Routing> {
        self.routing.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn lock_queue(&self) -> MutexGuard<'_, VecDeque<Alert>> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn next_batch(&self) -> Vec<Alert> {
        let mut queue = self.lock_queue();
        let n = queue.len().min(self.opts.max_batch);
        let batch: Vec<Alert> = queue.drain(..n).collect();
        self.metrics.queue_length.set(i64::try_from(queue.len()).unwrap_or(i64::MAX));
        batch
    }

    /// Sends what is queued when stopping, or counts it as dropped.
    async fn drain(&self) {
        if !self.opts.drain_on_shutdown {
            let left = self.next_all();
            if left > 0 {
                tracing::warn!(
                    count = left,
                    "draining notifications on shutdown is disabled; dropping queued alerts"
                );
                self.metrics.dropped.inc_by(left as u64);
            }
            return;
        }
        let deadline = Instant::now() + self.opts.drain_timeout;
        while Instant::now() < deadline {
            let batch = self.next_batch();
            if batch.is_empty() {
                return;
            }
            self.send_all(batch, Some(deadline)).await;
        }
        let left = self.next_all();
        if left > 0 {
            tracing::warn!(count = left, "notification queue not drained in time; dropping queued alerts");
            self.metrics.dropped.inc_by(left as u64);
        }
    }

    /// Empties the queue, returning how many alerts it held.
    fn next_all(&self) -> usize {
        let mut queue = self.lock_queue();
        let n = queue.len();
        queue.clear();
        self.metrics.queue_length.set(0);
        n
    }

    /// Posts `batch` to every Alertmanager concurrently (Prometheus's `sendAll`). Requests are
    /// cut at `deadline` when given. When some `alertmanagers` entry was tried and none of its
    /// Alertmanagers accepted the batch, the batch counts as dropped.
    async fn send_all(&self, batch: Vec<Alert>, deadline: Option<Instant>) {
        let routing = self.routing();
        let begin = Instant::now();
        let mut cached: Option<bytes::Bytes> = None;
        let mut requests = JoinSet::new();
        let mut attempted = vec![false; routing.sets.len()];
        let mut covered = vec![false; routing.sets.len()];
        for (index, set) in routing.sets.iter().enumerate() {
            if set.urls.is_empty() {
                continue;
            }
            let (payload, count) = if set.alert_rules.is_empty() {
                let payload = match &cached {
                    Some(p) => p.clone(),
                    None => match wire::encode_alerts(&batch) {
                        Ok(p) => cached.insert(bytes::Bytes::from(p)).clone(),
                        Err(err) => {
                            tracing::error!(%err, "encoding alerts for Alertmanager API v2 failed");
                            self.metrics.dropped.inc_by(batch.len() as u64);
                            return;
                        }
                    },
                };
                (payload, batch.len())
            } else {
                let alerts = relabel_alerts(batch.clone(), &set.alert_rules, &Labels::new());
                if alerts.is_empty() {
                    continue;
                }
                match wire::encode_alerts(&alerts) {
                    Ok(p) => (bytes::Bytes::from(p), alerts.len()),
                    Err(err) => {
                        tracing::error!(%err, "encoding alerts for Alertmanager API v2 failed");
                        self.metrics.dropped.inc_by(batch.len() as u64);
                        return;
                    }
                }
            };
            attempted[index] = true;
            let timeout = match deadline {
                Some(d) => set.timeout.min(d.saturating_duration_since(Instant::now())),
                None => set.timeout,
            };
            for url in &set.urls {
                let (client, http, url, payload) =
                    (set.client.clone(), set.http.clone(), url.clone(), payload.clone());
                requests.spawn(async move {
                    let result = post(&client, &http, &url, payload, timeout).await;
                    (index, url, count, result)
                });
            }
        }
        while let Some(joined) = requests.join_next().await {
            let Ok((index, url, count, result)) = joined else {
                continue;
            };
            let label = [("alertmanager", url)];
            match result {
                Ok(()) => covered[index] = true,
                Err(err) => {
                    tracing::error!(alertmanager = %label[0].1, count, %err, "error sending alerts");
                    self.metrics.errors.get_or_create(&label).inc_by(count as u64);
                }
            }
            self.metrics.latency.get_or_create(&label).observe(begin.elapsed().as_secs_f64());
            self.metrics.sent.get_or_create(&label).inc_by(count as u64);
        }
        if attempted.iter().zip(&covered).any(|(&a, &c)| a && !c) {
            self.metrics.dropped.inc_by(batch.len() as u64);
        }
    }
}

impl AlertSink for Notifier {
    fn send(&self, alerts: Vec<Alert>) {
        self.enqueue(alerts);
    }
}

/// One POST (Prometheus's `sendOne`): any 2xx status is success; the body is read and dropped.
async fn post(
    client: &reqwest::Client,
    http: &HttpClientConfig,
    url: &str,
    payload: bytes::Bytes,
    timeout: Duration,
) -> Result<(), AlertsError> {
    let request = async {
        let req = client.post(url).header(reqwest::header::CONTENT_TYPE, "application/json").body(payload);
        let req = http_client::apply_auth(req, http)
            .await
            .map_err(|source| AlertsError::Auth { url: url.to_string(), source })?;
        let resp =
            req.send().await.map_err(|source| AlertsError::Request { url: url.to_string(), source })?;
        let status = resp.status();
        // Drained so the connection can be reused; its content does not matter.
        let _ = resp.bytes().await;
        if !status.is_success() {
            return Err(AlertsError::Status { url: url.to_string(), status });
        }
        Ok(())
    };
    match tokio::time::timeout(timeout, request).await {
        Ok(result) => result,
        Err(_) => Err(AlertsError::Timeout { url: url.to_string(), timeout }),
    }
}

/// Prometheus's `relabelAlerts`: adds the external labels an alert does not have, then
/// applies `rules`; alerts relabeled away are dropped.
fn relabel_alerts(alerts: Vec<Alert>, rules: &[RelabelRule], external: &Labels) -> Vec<Alert> {
    alerts
        .into_iter()
        .filter_map(|mut alert| {
            if !external.is_empty() {
                // Later pairs win: the alert's own labels over the external ones.
                let pairs = external.iter().chain(alert.labels.iter()).map(|l| (l.name, l.value));
                alert.labels = Labels::from_pairs(pairs);
            }
            relabel::process(&mut alert.labels, rules).then_some(alert)
        })
        .collect()
}

fn count_ams(routing: &Routing) -> i64 {
    i64::try_from(routing.sets.iter().map(|s| s.urls.len()).sum::<usize>()).unwrap_or(i64::MAX)
}

fn build_routing(cfg: &AlertingConfig, external_labels: &Labels) -> Result<Routing, AlertsError> {
    let path = FieldPath::root().key("alerting");
    cfg.validate(&path).map_err(AlertsError::Config)?;
    let alert_rules = config::compile_rules(&cfg.alert_relabel_configs, &path.key("alert_relabel_configs"))
        .map_err(AlertsError::Config)?;
    let sets = cfg
        .alertmanagers
        .iter()
        .enumerate()
        .map(|(index, am)| build_set(index, am, &path.key("alertmanagers").index(index)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Routing { external_labels: external_labels.clone(), alert_rules, sets })
}

fn build_set(index: usize, am: &AlertmanagerConfig, path: &FieldPath) -> Result<AmSet, AlertsError> {
    let timeout = am.timeout.as_duration();
    let client = http_client::build_client(&am.http, timeout)
        .map_err(|source| AlertsError::Client { index, source })?;
    let target_rules = config::compile_rules(&am.relabel_configs, &path.key("relabel_configs"))
        .map_err(AlertsError::Config)?;
    let alert_rules = config::compile_rules(&am.alert_relabel_configs, &path.key("alert_relabel_configs"))
        .map_err(AlertsError::Config)?;
    let (urls, dropped) = resolve_targets(index, am, &target_rules)?;
    Ok(AmSet { client, http: Arc::new(am.http.clone()), timeout, alert_rules, urls, dropped })
}

/// Prometheus's `AlertmanagerFromGroup` over the static targets, then `sync`'s deduplication:
/// the URLs to post to and the URLs of the targets relabeled away.
fn resolve_targets(
    index: usize,
    am: &AlertmanagerConfig,
    rules: &[RelabelRule],
) -> Result<(Vec<String>, Vec<String>), AlertsError> {
    let alerts_path = post_path(&am.path_prefix, am.api_version.as_str());
    let mut urls = Vec::new();
    let mut dropped = Vec::new();
    let mut seen = HashSet::new();
    for group in &am.static_configs {
        for target in &group.targets {
            let mut labels: BTreeMap<&str, &str> = BTreeMap::new();
            labels.insert(ADDRESS_LABEL, target);
            labels.insert(SCHEME_LABEL, &am.scheme);
            labels.insert(ALERTS_PATH_LABEL, &alerts_path);
            // Group labels fill in what the target lacks (a static target has only its address).
            for (name, value) in &group.labels {
                if name != ADDRESS_LABEL {
                    labels.insert(name, value);
                }
            }
            let before = Labels::from_pairs(labels);
            let mut after = before.clone();
            if !relabel::process(&mut after, rules) {
                if let Ok(url) = am_url(&before) {
                    dropped.push(url);
                }
                continue;
            }
            let address = after.get(ADDRESS_LABEL).unwrap_or("");
            let invalid =
                |message: String| AlertsError::Target { index, address: address.to_string(), message };
            config::check_target_address(address).map_err(invalid)?;
            let url = am_url(&after).map_err(invalid)?;
            if seen.insert(url.clone()) {
                urls.push(url);
            }
        }
    }
    Ok((urls, dropped))
}

/// `scheme://address/path` from an Alertmanager's labels (Prometheus's `alertmanagerLabels.url`).
fn am_url(labels: &Labels) -> Result<String, String> {
    let scheme = labels.get(SCHEME_LABEL).unwrap_or("");
    let address = labels.get(ADDRESS_LABEL).unwrap_or("");
    if scheme != "http" && scheme != "https" {
        return Err(format!("unsupported scheme {scheme:?} (expected http or https)"));
    }
    if address.is_empty() {
        return Err("empty address".to_string());
    }
    let mut url = reqwest::Url::parse(&format!("{scheme}://{address}/"))
        .map_err(|e| format!("invalid address: {e}"))?;
    url.set_path(labels.get(ALERTS_PATH_LABEL).unwrap_or(""));
    Ok(url.to_string())
}

/// Prometheus's `postPath`: `path.Join("/", prefix, "/api/<version>/alerts")`, cleaned as Go's
/// `path.Clean` does (no empty or `.` elements, `..` removes the previous one).
pub(super) fn post_path(prefix: &str, version: &str) -> String {
    let endpoint = format!("api/{version}/alerts");
    let mut parts: Vec<&str> = Vec::new();
    for part in prefix.split('/').chain(endpoint.split('/')) {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}
