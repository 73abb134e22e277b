//! Receivers: the integrations a notification is delivered through (Alertmanager's
//! `notify.Notifier` implementations), built from `receivers:` in alertmanager.yml.
//!
//! An [`Integration`] delivers one [`Notification`] once and classifies failures; the
//! pipeline (`notify::dispatch::pipeline`) owns retries, backoff, deadlines, the
//! `send_resolved` filtering and the notification log.
//!
//! [`build`] turns every receiver of a validated [`AlertmanagerConfig`] into its list of
//! integrations, in Alertmanager's order (`BuildReceiverIntegrations`): all `webhook_configs`,
//! then `email_configs`, `pagerduty_configs` and `slack_configs`. An integration's index (as
//! in `webhook[1]`, in logs, metrics and [`DeliveryRecord`](super::DeliveryRecord)) is its
//! position among the receiver's configs of the same type. A receiver with no configs gets
//! an empty list, and its notifications are dropped, as in Alertmanager.
//!
//! Building checks what can be checked without sending: URLs, TLS settings, unsupported
//! authentication. Secrets in `*_file` settings (`secret`) are read at send time (relative
//! paths are resolved against the config's directory), so a rotated secret is picked up
//! without a reload, as Alertmanager does.
//!
//! Timeouts, one rule for every integration: an attempt is bounded by the dispatcher's flush
//! deadline (`max(group_interval, 10s)` from the start of the flush, Alertmanager's context
//! deadline), and by the entry's `timeout` when the config sets one (the HTTP integrations
//! have it: webhook, PagerDuty, Slack). When the config sets no `timeout`, an integration
//! adds no shorter bound of its own, as upstream: a slow receiver that answers before the
//! deadline has delivered, and is not sent the notification again. The one exception is
//! email's TCP connect timeout (30 s, see [`email`]): a smarthost that does not accept the
//! connection fails that attempt, which the pipeline retries within the deadline.
//!
//! - [`webhook`]: the generic webhook (Alertmanager's version "4" JSON payload).
//! - [`email`]: SMTP delivery, with Alertmanager's message layout.
//! - [`pagerduty`]: PagerDuty Events API v1/v2.
//! - [`slack`]: Slack incoming webhooks and `chat.postMessage`.
//! - `http`: the POST, bounded response read and status classification the HTTP
//!   integrations share; `secret`: inline-or-file secrets.
//!
//! [`build`] wraps every integration so it has at most [`MAX_IN_FLIGHT`] deliveries under way.

pub mod email;
pub(crate) mod http;
pub mod pagerduty;
pub(crate) mod secret;
pub mod slack;
pub mod webhook;

#[cfg(test)]
pub(crate) mod test_server;

use super::alert::Notification;
use crate::route::config::AlertmanagerConfig;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// Why a delivery failed, and whether trying again can help.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct NotifyError {
    pub message: String,
    /// 5xx, 429, timeouts and connection errors are retryable; other 4xx are not.
    pub retryable: bool,
    /// The receiver asked to wait this long before the next attempt (`Retry-After`).
    pub retry_after: Option<Duration>,
}

impl NotifyError {
    /// A failure trying again cannot fix (bad config, template error, 4xx answer).
    pub fn permanent(message: impl Into<String>) -> NotifyError {
        NotifyError { message: message.into(), retryable: false, retry_after: None }
    }

    /// A failure a later attempt may not have (no answer, 5xx, a transient SMTP reply).
    pub fn retryable(message: impl Into<String>) -> NotifyError {
        NotifyError { message: message.into(), retryable: true, retry_after: None }
    }
}

/// A boxed future returned by [`Integration::notify`].
pub type NotifyFuture<'a> = Pin<Box<dyn Future<Output = Result<(), NotifyError>> + Send + 'a>>;

/// One configured integration of a receiver (e.g. the second `slack_configs` entry).
pub trait Integration: Send + Sync {
    /// Alertmanager's integration name: `webhook`, `pagerduty`, `slack`, `email`.
    fn name(&self) -> &'static str;
    /// Whether resolved alerts are sent (`send_resolved`, defaults as in Alertmanager).
    fn send_resolved(&self) -> bool;
    /// Delivers the notification once (no retry).
    fn notify<'a>(&'a self, notification: &'a Notification) -> NotifyFuture<'a>;
}

/// Every receiver's integrations, by receiver name (a receiver with no integrations has an
/// empty list: its notifications are dropped, as in Alertmanager).
pub type Integrations = std::collections::BTreeMap<String, Vec<std::sync::Arc<dyn Integration>>>;

/// What building an integration needs besides its own config entry.
#[derive(Clone)]
pub struct BuildContext {
    pub templates: std::sync::Arc<super::template::Templates>,
    /// The config's `global:` section (its defaults are already filled into each entry by
    /// validation; kept for settings that are not, e.g. `global.http_config`).
    pub global: crate::route::config::GlobalConfig,
    /// Directory of alertmanager.yml, for relative `*_file` paths.
    pub base_dir: Option<std::path::PathBuf>,
}

/// Why an integration could not be built (bad URL, unreadable `*_file`, TLS settings...).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("receiver {receiver:?}: {integration}[{index}]: {message}")]
pub struct BuildError {
    pub receiver: String,
    pub integration: &'static str,
    pub index: usize,
    pub message: String,
}

/// Builds every receiver's integrations (see the module docs for order and indices).
pub fn build(config: &AlertmanagerConfig, ctx: &BuildContext) -> Result<Integrations, BuildError> {
    let mut out = Integrations::new();
    for receiver in &config.receivers {
        let mut list: Vec<Arc<dyn Integration>> = Vec::new();
        let fail = |integration: &'static str, index: usize, message: String| BuildError {
            receiver: receiver.name.clone(),
            integration,
            index,
            message,
        };
        for (i, cfg) in receiver.webhook_configs.iter().enumerate() {
            let built = webhook::WebhookIntegration::new(cfg, ctx).map_err(|m| fail("webhook", i, m))?;
            list.push(Limited::wrap(built));
        }
        for (i, cfg) in receiver.email_configs.iter().enumerate() {
            let built = email::EmailIntegration::new(cfg, ctx).map_err(|m| fail("email", i, m))?;
            list.push(Limited::wrap(built));
        }
        for (i, cfg) in receiver.pagerduty_configs.iter().enumerate() {
            let built =
                pagerduty::PagerdutyIntegration::new(cfg, ctx).map_err(|m| fail("pagerduty", i, m))?;
            list.push(Limited::wrap(built));
        }
        for (i, cfg) in receiver.slack_configs.iter().enumerate() {
            let built = slack::SlackIntegration::new(cfg, ctx).map_err(|m| fail("slack", i, m))?;
            list.push(Limited::wrap(built));
        }
        out.insert(receiver.name.clone(), list);
    }
    Ok(out)
}

/// The most notifications one integration delivers at a time.
pub const MAX_IN_FLIGHT: usize = 16;

/// An integration with at most [`MAX_IN_FLIGHT`] deliveries under way; more wait for a slot
/// (within their flush deadline) before building their payload. When hundreds of groups
/// flush at the same moment, this bounds the payloads, connections and buffers held at once,
/// without holding up other integrations (each has its own slots).
struct Limited<I> {
    inner: I,
    slots: tokio::sync::Semaphore,
}

impl<I: Integration + 'static> Limited<I> {
    fn wrap(inner: I) -> Arc<dyn Integration> {
        Arc::new(Limited { inner, slots: tokio::sync::Semaphore::new(MAX_IN_FLIGHT) })
    }
}

impl<I: Integration> Integration for Limited<I> {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn send_resolved(&self) -> bool {
        self.inner.send_resolved()
    }

    fn notify<'a>(&'a self, notification: &'a Notification) -> NotifyFuture<'a> {
        Box::pin(async move {
            // The semaphore is never closed (a closed one would only mean no limit).
            let _slot = self.slots.acquire().await.ok();
            self.inner.notify(notification).await
        })
    }
}

/// Alertmanager's `notify.TruncateInRunes`: at most `n` characters, the last one `…` when
/// cut (PagerDuty summaries, Slack titles); whether it was cut.
pub(crate) fn truncate_runes(s: &str, n: usize) -> (String, bool) {
    if s.chars().count() <= n {
        return (s.to_string(), false);
    }
    if n <= 3 {
        return (s.chars().take(n).collect(), true);
    }
    let mut out: String = s.chars().take(n - 1).collect();
    out.push('…');
    (out, true)
}

#[cfg(test)]
mod tests;
