//! Receivers: the integrations a notification is delivered through (Alertmanager's
//! `notify.Notifier` implementations), built from `receivers:` in alertmanager.yml.
//!
//! An [`Integration`] delivers one [`Notification`] once and classifies failures; the
//! pipeline (`notify::pipeline`) owns retries, backoff, deadlines, the `send_resolved`
//! filtering and the notification log.
//!
//! [`build`] turns every receiver of a validated [`AlertmanagerConfig`] into its list of
//! integrations, in Alertmanager's order (`BuildReceiverIntegrations`): all `webhook_configs`,
//! then `email_configs`, `pagerduty_configs` and `slack_configs`. An integration's index (as
//! in `webhook[1]`, in logs, metrics and [`DeliveryRecord`](super::DeliveryRecord)) is its
//! position among the receiver's configs of the same type; [`integration_index`] recovers it
//! from a position in the list. A receiver with no configs gets an empty list, and its
//! notifications are dropped, as in Alertmanager.
//!
//! Building checks what can be checked without sending: URLs, TLS settings, unsupported
//! authentication. Secrets in `*_file` settings are read at send time (relative paths are
//! resolved against the config's directory), so a rotated secret is picked up without a
//! reload, as Alertmanager does.
//!
//! - [`webhook`]: the generic webhook (Alertmanager's version "4" JSON payload).
//! - [`email`]: SMTP delivery, with Alertmanager's message layout.
//! - [`pagerduty`]: PagerDuty Events API v1/v2.
//! - [`slack`]: Slack incoming webhooks and `chat.postMessage`.

pub mod email;
pub mod webhook;

use super::alert::Notification;
use crate::route::config::AlertmanagerConfig;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

pub mod pagerduty;
pub mod slack;

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
            list.push(Arc::new(built));
        }
        for (i, cfg) in receiver.email_configs.iter().enumerate() {
            let built = email::EmailIntegration::new(cfg, ctx).map_err(|m| fail("email", i, m))?;
            list.push(Arc::new(built));
        }
        for (i, cfg) in receiver.pagerduty_configs.iter().enumerate() {
            let built =
                pagerduty::PagerdutyIntegration::new(cfg, ctx).map_err(|m| fail("pagerduty", i, m))?;
            list.push(Arc::new(built));
        }
        for (i, cfg) in receiver.slack_configs.iter().enumerate() {
            let built = slack::SlackIntegration::new(cfg, ctx).map_err(|m| fail("slack", i, m))?;
            list.push(Arc::new(built));
        }
        out.insert(receiver.name.clone(), list);
    }
    Ok(out)
}

/// The index of `list[position]` among the integrations of its type in `list` (`webhook[1]`
/// is the second webhook of the receiver); 0 when `position` is out of range.
pub fn integration_index(list: &[Arc<dyn Integration>], position: usize) -> usize {
    let Some(target) = list.get(position) else {
        return 0;
    };
    list[..position].iter().filter(|i| i.name() == target.name()).count()
}

#[cfg(test)]
mod tests;
