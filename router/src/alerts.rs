//! Sending alerts to external Alertmanagers, as Prometheus's notifier does
//! (`notifier/manager.go`, Alertmanager API v2).
//!
//! Rule evaluation hands firing and resolved alerts to an [`AlertSink`]; the [`Notifier`] is
//! the sink that delivers them:
//!
//! 1. [`AlertSink::send`] adds the external labels an alert lacks (the alert's own labels win),
//!    applies `alerting.alert_relabel_configs` (an alert relabeled away is dropped) and appends
//!    to a bounded in-memory queue. When the queue is over capacity the oldest alerts are
//!    dropped and counted. It never waits on the network.
//! 2. A background task ([`Notifier::run`]) takes up to 256 alerts at a time (Prometheus's
//!    `maxBatchSize`) and POSTs them as JSON (Alertmanager's `PostableAlert`s, times in UTC
//!    with milliseconds) to every Alertmanager of every `alertmanagers` entry concurrently,
//!    each request bounded by that entry's `timeout`. An
//!    entry's own `alert_relabel_configs` are applied to the batch before it goes to that
//!    entry's Alertmanagers. A batch is not retried (rule evaluation resends firing alerts every
//!    `resend_delay`); when an entry had no Alertmanager accept the batch, the batch counts as
//!    dropped, as in Prometheus.
//! 3. [`Notifier::reload`] swaps the Alertmanagers and relabeling on a config reload while the
//!    queue is kept; [`Notifier::stop`] drains the queue (best effort, within a time bound)
//!    like Prometheus's `--alertmanager.drain-notification-queue-on-shutdown`.
//!
//! Alertmanagers come from `static_configs` only. Each target becomes a label set
//! (`__address__`, `__scheme__`, `__alerts_path__` and the static labels), goes through
//! `relabel_configs` (dropped targets are not used) and is posted to at
//! `__scheme__://__address____alerts_path__`, i.e. `scheme://target/path_prefix/api/v2/alerts`.
//!
//! - [`config`]: the `alerting:` section ([`AlertingConfig`]).
//! - [`notifier`]: the queue, the sender and their metrics ([`Notifier`]).

pub mod config;
pub mod notifier;
mod wire;

#[cfg(test)]
mod tests;

pub use config::{AlertingConfig, AlertmanagerConfig, ConfigIssue};
pub use notifier::{Notifier, NotifierOptions};

use harrier_telemetry::http_client::HttpClientError;
use harrier_telemetry::model::Labels;
use std::time::Duration;

/// An alert as sent to Alertmanager (Prometheus's `notifier.Alert`).
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub labels: Labels,
    pub annotations: Labels,
    /// Unix milliseconds; `None`: not set (sent as Go's zero time, which Alertmanager reads as
    /// "not set").
    pub starts_at_ms: Option<i64>,
    pub ends_at_ms: Option<i64>,
    pub generator_url: String,
}

/// Where rule evaluation hands alerts. Non-blocking: implementations enqueue.
pub trait AlertSink: Send + Sync {
    fn send(&self, alerts: Vec<Alert>);
}

/// Why a notifier could not be built or reloaded, or a notification was not delivered.
#[derive(Debug, thiserror::Error)]
pub enum AlertsError {
    #[error("{0}")]
    Config(ConfigIssue),
    #[error("{0}")]
    Options(&'static str),
    #[error("alerting.alertmanagers[{index}]: cannot build the HTTP client: {source}")]
    Client { index: usize, source: HttpClientError },
    #[error("alerting.alertmanagers[{index}]: target {address:?}: {message}")]
    Target { index: usize, address: String, message: String },
    #[error("cannot encode alerts: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("POST {url}: {source}")]
    Auth { url: String, source: HttpClientError },
    #[error("POST {url}: {source}")]
    Request { url: String, source: reqwest::Error },
    #[error("POST {url}: bad response status {status}")]
    Status { url: String, status: reqwest::StatusCode },
    #[error("POST {url}: no answer within {timeout:?}")]
    Timeout { url: String, timeout: Duration },
}
