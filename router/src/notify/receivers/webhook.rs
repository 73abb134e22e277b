//! The generic webhook (Alertmanager's `notify/webhook`): each notification is POSTed as JSON
//! to the configured URL.
//!
//! The body is Alertmanager's version "4" message, byte for byte as its `encoding/json`
//! encoder writes it ([`payload`]): `template.Data` (`receiver`, `status`, `alerts`,
//! `groupLabels`, `commonLabels`, `commonAnnotations`, `externalURL`) followed by `version`,
//! `groupKey` and `truncatedAlerts`, then a newline. Details that follow upstream:
//!
//! - `receiver` is the receiver name through Go's `regexp.QuoteMeta` (`team.a` → `team\.a`),
//!   as `template.Data` builds it.
//! - `status` is `firing` when any (sent) alert fires; each alert has its own status.
//! - A firing alert's `endsAt` is Go's zero time, `0001-01-01T00:00:00Z` (`types.Alerts`
//!   hides a future end time); times are UTC RFC 3339 with trailing zeros of the fraction
//!   dropped, as Go's `time.Time` marshals (`2024-01-02T03:04:05.12Z`).
//! - `commonLabels`/`commonAnnotations` are the pairs equal across all sent alerts. The
//!   payload is written from the notification templates' [`TemplateData`], so the receiver
//!   name, statuses, hidden end times and common pairs are computed once, as templates see
//!   them.
//! - Maps are sorted by key; strings escape `<`, `>`, `&` as `\u003c`… (Go's HTML-safe JSON).
//! - `max_alerts` (0: no limit) keeps the first alerts and reports the rest in
//!   `truncatedAlerts`; status and common labels are computed from the kept alerts.
//!
//! Delivery (`http`): `url`, or `url_file` read at every send (trimmed), as
//! upstream; `http_config` credentials applied per request; `timeout` bounds a request when
//! set (otherwise the dispatcher's deadline alone does, see [`receivers`](super)). Any 2xx is
//! success; 5xx and 429 are retryable (honouring `Retry-After`; upstream retries 5xx only);
//! other statuses are not, with a snippet of the response body in the message; connection
//! errors and timeouts are retryable. Unlike Alertmanager the URL (which may hold a secret)
//! is not put into error messages.

#[cfg(test)]
mod tests;

use super::http::{self, Auth, HttpSender};
use super::secret::Secret;
use super::{BuildContext, Integration, NotifyError, NotifyFuture};
use crate::notify::alert::Notification;
use crate::notify::template::{AlertData, TemplateData, json_time};
use crate::route::config::WebhookConfig;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The webhook protocol version Alertmanager sends.
pub const PAYLOAD_VERSION: &str = "4";

/// One `webhook_configs` entry, ready to send.
pub struct WebhookIntegration {
    url: Secret,
    max_alerts: u64,
    send_resolved: bool,
    http: HttpSender,
}

impl WebhookIntegration {
    /// Builds the integration: checks `url`, resolves `url_file` and the `http_config` files
    /// against the config's directory, and builds the HTTP client.
    pub fn new(cfg: &WebhookConfig, ctx: &BuildContext) -> Result<Self, String> {
        let url =
            Secret::from_config("url", cfg.url.as_deref(), cfg.url_file.as_deref(), ctx.base_dir.as_deref())
                .ok_or("one of url or url_file must be configured")?;
        if let Secret::Inline(url) = &url {
            reqwest::Url::parse(url).map_err(|e| format!("invalid url: {e}"))?;
        }
        Ok(WebhookIntegration {
            url,
            max_alerts: cfg.max_alerts,
            send_resolved: cfg.send_resolved,
            http: HttpSender::new(cfg.http_config.as_ref(), cfg.timeout, ctx)?,
        })
    }

    async fn send(&self, notification: &Notification) -> Result<(), NotifyError> {
        let url = self.url.read().await.map_err(|e| NotifyError::permanent(e.to_string()))?;
        let body = payload(notification, self.max_alerts);
        let reply = self.http.post(&url, http::JSON, body, Auth::HttpConfig, http::SMALL_BODY_LIMIT).await?;
        reply.check(&[], &reply.snippet())
    }
}

impl Integration for WebhookIntegration {
    fn name(&self) -> &'static str {
        "webhook"
    }

    fn send_resolved(&self) -> bool {
        self.send_resolved
    }

    fn notify<'a>(&'a self, notification: &'a Notification) -> NotifyFuture<'a> {
        Box::pin(self.send(notification))
    }
}

/// The version "4" webhook body for `notification`, with at most `max_alerts` alerts (0: all).
pub fn payload(notification: &Notification, max_alerts: u64) -> String {
    let total = notification.alerts.len();
    let kept = if max_alerts != 0 && total as u64 > max_alerts { max_alerts as usize } else { total };
    let data = TemplateData::for_alerts(notification, &notification.alerts[..kept]);

    let mut out = String::with_capacity(256 + kept * 256);
    out.push_str("{\"receiver\":");
    write_json_string(&mut out, data.receiver());
    out.push_str(",\"status\":");
    write_json_string(&mut out, data.status());
    out.push_str(",\"alerts\":[");
    for (i, alert) in data.alerts().iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_alert(&mut out, alert);
    }
    out.push_str("],\"groupLabels\":");
    write_json_map(&mut out, data.group_labels());
    out.push_str(",\"commonLabels\":");
    write_json_map(&mut out, data.common_labels());
    out.push_str(",\"commonAnnotations\":");
    write_json_map(&mut out, data.common_annotations());
    out.push_str(",\"externalURL\":");
    write_json_string(&mut out, data.external_url());
    out.push_str(",\"version\":");
    write_json_string(&mut out, PAYLOAD_VERSION);
    out.push_str(",\"groupKey\":");
    write_json_string(&mut out, &notification.group_key);
    let _ = writeln!(out, ",\"truncatedAlerts\":{}}}", total - kept);
    out
}

/// One `template.Alert` as `encoding/json` writes it.
fn write_alert(out: &mut String, alert: &AlertData) {
    out.push_str("{\"status\":");
    write_json_string(out, alert.status);
    out.push_str(",\"labels\":");
    write_json_map(out, &alert.labels);
    out.push_str(",\"annotations\":");
    write_json_map(out, &alert.annotations);
    out.push_str(",\"startsAt\":");
    write_json_string(out, &alert_time(alert.starts_at_ms));
    out.push_str(",\"endsAt\":");
    // Zero while the alert fires (`template.Data` hides a future end time).
    write_json_string(out, &alert_time(alert.ends_at_ms));
    out.push_str(",\"generatorURL\":");
    write_json_string(out, &alert.generator_url);
    out.push_str(",\"fingerprint\":");
    write_json_string(out, &alert.fingerprint);
    out.push('}');
}

/// An alert time in the payload: `0` is unset, Go's zero time.
fn alert_time(ms: i64) -> String {
    json_time((ms != 0).then_some(ms))
}

fn write_json_string(out: &mut String, s: &str) {
    crate::api::json::write_string(out, s);
}

/// A string map as `encoding/json` writes it: keys sorted (a `BTreeMap`'s order).
fn write_json_map(out: &mut String, map: &BTreeMap<String, String>) {
    out.push('{');
    for (i, (key, value)) in map.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_json_string(out, key);
        out.push(':');
        write_json_string(out, value);
    }
    out.push('}');
}
