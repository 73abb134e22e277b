//! Alertmanager, inside the router: alerts from the router's own rules and from any
//! Prometheus pointed at it are grouped, inhibited, silenced and delivered to PagerDuty,
//! Slack, email and webhooks, with Alertmanager's semantics and its `alertmanager.yml`.
//!
//! - [`alert`]: the alert model, fingerprints, merging, the views the API reads.
//! - [`clock`]: unix time that follows tokio's clock (virtual time in timer tests).
//! - [`silences`]: the silence store.
//! - [`template`]: notification templates (Alertmanager's data model and default templates).
//! - [`receivers`]: the integrations (webhook, PagerDuty, Slack, email).
//! - [`dispatch`]: the alert store, aggregation groups, inhibition, the notification pipeline
//!   and log ([`dispatch::Dispatcher`]).
//!
//! [`AlertmanagerApi`] is what the HTTP API (`api::alertmanager`) and the web page need from
//! the running dispatcher.

pub mod alert;
pub mod clock;
pub mod dispatch;
pub mod receivers;
pub mod silences;
pub mod template;

pub use alert::{Alert, AlertState, AlertStatus, AlertView, Fingerprint, GroupView, Notification};
pub use clock::Clock;
pub use silences::{Silence, SilenceState, Silences};

use std::sync::Arc;

/// One delivery attempt series of a notification, for the web page and the API's status.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryRecord {
    pub at_ms: i64,
    pub receiver: String,
    /// `webhook`, `pagerduty`, `slack` or `email`, and the index among the receiver's configs
    /// of that type.
    pub integration: String,
    pub index: usize,
    pub group_key: String,
    pub firing: usize,
    pub resolved: usize,
    pub attempts: u32,
    /// `None`: delivered.
    pub error: Option<String>,
}

/// What the v2 API and the web page read from and write to the running notification side.
pub trait AlertmanagerApi: Send + Sync {
    /// Takes alerts as a client posted them (already validated): the receiving side sets
    /// `updated_at`, defaults `starts_at`, and sets `ends_at` from `resolve_timeout` (with
    /// `timeout: true`) when the sender gave none, as Alertmanager's API does.
    fn put_alerts(&self, alerts: Vec<Alert>);
    /// Every alert the router holds (resolved ones until they are collected), with status
    /// and receivers.
    fn alerts(&self) -> Vec<AlertView>;
    /// The aggregation groups, sorted by receiver and group labels.
    fn groups(&self) -> Vec<GroupView>;
    fn silences(&self) -> Arc<Silences>;
    /// `global.resolve_timeout`: the end time given to alerts posted without one.
    fn resolve_timeout(&self) -> std::time::Duration;
    /// Configured receiver names, in config order.
    fn receivers(&self) -> Vec<String>;
    /// The alertmanager.yml in use, as read.
    fn config_text(&self) -> String;
    /// Unix ms when the notification side started.
    fn started_at_ms(&self) -> i64;
    fn now_ms(&self) -> i64;
    /// Recent deliveries, newest first (bounded).
    fn recent_deliveries(&self) -> Vec<DeliveryRecord>;
}
