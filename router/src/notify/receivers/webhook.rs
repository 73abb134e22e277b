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
//! - `commonLabels`/`commonAnnotations` are the pairs equal across all sent alerts
//!   ([`common_pairs`]).
//! - Maps are sorted by key; strings escape `<`, `>`, `&` as `\u003c`… (Go's HTML-safe JSON).
//! - `max_alerts` (0: no limit) keeps the first alerts and reports the rest in
//!   `truncatedAlerts`; status and common labels are computed from the kept alerts.
//!
//! Delivery: `url`, or `url_file` read at every send (trimmed), as upstream; `http_config`
//! through [`build_client`] with credentials applied per request; `timeout` bounds a request
//! (without one, a request is bounded only by [`DEFAULT_REQUEST_TIMEOUT`] and the pipeline's
//! deadline). Any 2xx is success; 5xx and 429 are retryable (honouring `Retry-After`); other
//! statuses are not, with a snippet of the response body in the message; connection errors
//! and timeouts are retryable. Unlike Alertmanager the URL (which may hold a secret) is not
//! put into error messages.

#[cfg(test)]
mod tests;

use super::{BuildContext, Integration, NotifyError, NotifyFuture};
use crate::notify::alert::{Alert, Notification};
use crate::route::config::WebhookConfig;
use harrier_telemetry::http_client::{self, HttpClientConfig, build_client};
use harrier_telemetry::model::Labels;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

/// The webhook protocol version Alertmanager sends.
pub const PAYLOAD_VERSION: &str = "4";

/// Bound on a request when the config sets no `timeout` (Alertmanager has none; the
/// pipeline's per-notification deadline normally ends an attempt sooner).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(300);

/// How much of an error response's body goes into the error message.
const BODY_SNIPPET_BYTES: usize = 512;

/// Go's zero `time.Time` as `encoding/json` prints it.
pub const GO_ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// Where the URL comes from.
#[derive(Debug, Clone)]
enum UrlSource {
    Inline(reqwest::Url),
    /// Read at every send, trimmed of surrounding whitespace.
    File(PathBuf),
}

/// One `webhook_configs` entry, ready to send.
pub struct WebhookIntegration {
    url: UrlSource,
    max_alerts: u64,
    send_resolved: bool,
    http_config: HttpClientConfig,
    client: reqwest::Client,
}

impl WebhookIntegration {
    /// Builds the integration: parses `url`, resolves `url_file` and the `http_config` files
    /// against the config's directory, and builds the HTTP client.
    pub fn new(cfg: &WebhookConfig, ctx: &BuildContext) -> Result<Self, String> {
        let base_dir = ctx.base_dir.as_deref();
        let url = match (cfg.url.as_deref().filter(|u| !u.is_empty()), cfg.url_file.as_deref()) {
            (Some(url), _) => {
                UrlSource::Inline(reqwest::Url::parse(url).map_err(|e| format!("invalid url: {e}"))?)
            }
            (None, Some(file)) if !file.is_empty() => {
                UrlSource::File(http_client::join_dir(base_dir, file).into())
            }
            _ => return Err("one of url or url_file must be configured".to_string()),
        };
        let mut http_config =
            cfg.http_config.clone().or_else(|| ctx.global.http_config.clone()).unwrap_or_default();
        http_client::resolve_paths(base_dir, &mut http_config);
        let timeout =
            cfg.timeout.map(|t| t.as_duration()).filter(|t| !t.is_zero()).unwrap_or(DEFAULT_REQUEST_TIMEOUT);
        let client = build_client(&http_config, timeout).map_err(|e| e.to_string())?;
        Ok(WebhookIntegration {
            url,
            max_alerts: cfg.max_alerts,
            send_resolved: cfg.send_resolved,
            http_config,
            client,
        })
    }

    async fn url(&self) -> Result<reqwest::Url, NotifyError> {
        match &self.url {
            UrlSource::Inline(url) => Ok(url.clone()),
            UrlSource::File(path) => {
                let text = tokio::fs::read_to_string(path)
                    .await
                    .map_err(|e| permanent(format!("read url_file {}: {e}", path.display())))?;
                reqwest::Url::parse(text.trim())
                    .map_err(|e| permanent(format!("invalid url in url_file {}: {e}", path.display())))
            }
        }
    }

    async fn send(&self, notification: &Notification) -> Result<(), NotifyError> {
        let url = self.url().await?;
        let body = payload(notification, self.max_alerts);
        let request =
            self.client.post(url).header(reqwest::header::CONTENT_TYPE, "application/json").body(body);
        let request = http_client::apply_auth(request, &self.http_config)
            .await
            .map_err(|e| permanent(e.to_string()))?;
        let response = request.send().await.map_err(request_error)?;
        check_response(response).await
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

fn permanent(message: String) -> NotifyError {
    NotifyError { message, retryable: false, retry_after: None }
}

/// A request that got no response: retryable (connection refused, reset, timeout, TLS).
fn request_error(e: reqwest::Error) -> NotifyError {
    if e.is_timeout() {
        return NotifyError { message: "request timed out".to_string(), retryable: true, retry_after: None };
    }
    // Without the URL: it may carry a secret token.
    let e = e.without_url();
    let mut message = format!("POST failed: {e}");
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        let _ = write!(message, ": {s}");
        source = s.source();
    }
    NotifyError { message, retryable: true, retry_after: None }
}

/// Alertmanager's `Retrier.Check` for webhooks, plus 429 and `Retry-After`.
async fn check_response(response: reqwest::Response) -> Result<(), NotifyError> {
    let status = response.status().as_u16();
    if (200..300).contains(&status) {
        return Ok(());
    }
    let retryable = status >= 500 || status == 429;
    let retry_after = if retryable {
        response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| harrier_telemetry::backoff::parse_retry_after(v, SystemTime::now()))
    } else {
        None
    };
    let body = response.bytes().await.unwrap_or_default();
    let mut message = format!("unexpected status code {status}");
    let snippet = body_snippet(&body);
    if !snippet.is_empty() {
        let _ = write!(message, ": {snippet}");
    }
    Err(NotifyError { message, retryable, retry_after })
}

/// The start of a response body, for an error message (lossy UTF-8, trimmed, `…` when cut).
pub(crate) fn body_snippet(body: &[u8]) -> String {
    let cut = body.len() > BODY_SNIPPET_BYTES;
    let text = String::from_utf8_lossy(&body[..body.len().min(BODY_SNIPPET_BYTES)]);
    let text = text.trim();
    if cut { format!("{text}…") } else { text.to_string() }
}

/// The version "4" webhook body for `notification`, with at most `max_alerts` alerts (0: all).
pub fn payload(notification: &Notification, max_alerts: u64) -> String {
    let total = notification.alerts.len();
    let kept = if max_alerts != 0 && total as u64 > max_alerts { max_alerts as usize } else { total };
    let alerts = &notification.alerts[..kept];
    let truncated = total - kept;
    let now = notification.now_ms;
    let status = if alerts.iter().any(|a| !a.resolved_at(now)) { "firing" } else { "resolved" };

    let mut out = String::with_capacity(256 + alerts.len() * 256);
    out.push_str("{\"receiver\":");
    write_json_string(&mut out, &quote_meta(&notification.receiver));
    out.push_str(",\"status\":");
    write_json_string(&mut out, status);
    out.push_str(",\"alerts\":[");
    for (i, alert) in alerts.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_alert(&mut out, alert, now);
    }
    out.push_str("],\"groupLabels\":");
    write_json_labels(&mut out, &notification.group_labels);
    out.push_str(",\"commonLabels\":");
    write_json_labels(&mut out, &common_pairs(alerts.iter().map(|a| &a.labels)));
    out.push_str(",\"commonAnnotations\":");
    write_json_labels(&mut out, &common_pairs(alerts.iter().map(|a| &a.annotations)));
    out.push_str(",\"externalURL\":");
    write_json_string(&mut out, &notification.external_url);
    out.push_str(",\"version\":");
    write_json_string(&mut out, PAYLOAD_VERSION);
    out.push_str(",\"groupKey\":");
    write_json_string(&mut out, &notification.group_key);
    let _ = writeln!(out, ",\"truncatedAlerts\":{truncated}}}");
    out
}

fn write_alert(out: &mut String, alert: &Alert, now_ms: i64) {
    let resolved = alert.resolved_at(now_ms);
    out.push_str("{\"status\":");
    write_json_string(out, if resolved { "resolved" } else { "firing" });
    out.push_str(",\"labels\":");
    write_json_labels(out, &alert.labels);
    out.push_str(",\"annotations\":");
    write_json_labels(out, &alert.annotations);
    out.push_str(",\"startsAt\":");
    write_json_string(out, &go_time(alert.starts_at_ms));
    out.push_str(",\"endsAt\":");
    // `types.Alerts` zeroes the end time of an alert that has not ended yet.
    write_json_string(out, &go_time(if resolved { alert.ends_at_ms } else { 0 }));
    out.push_str(",\"generatorURL\":");
    write_json_string(out, &alert.generator_url);
    out.push_str(",\"fingerprint\":");
    write_json_string(out, &alert.fingerprint().to_string());
    out.push('}');
}

fn write_json_string(out: &mut String, s: &str) {
    crate::api::json::write_string(out, s);
}

fn write_json_labels(out: &mut String, labels: &Labels) {
    crate::api::json::write_labels(out, labels, false);
}

/// The pairs present with the same value in every label set (Alertmanager's `commonLabels`
/// and `commonAnnotations` in `template.Data`); empty when there are no sets.
pub fn common_pairs<'a>(mut sets: impl Iterator<Item = &'a Labels>) -> Labels {
    let Some(first) = sets.next() else {
        return Labels::new();
    };
    let mut common = first.clone();
    for set in sets {
        if common.is_empty() {
            break;
        }
        common.retain(|l| set.get(l.name) == Some(l.value));
    }
    common
}

/// Go's `regexp.QuoteMeta`: a backslash before each of `\.+*?()|[]{}^$`.
pub fn quote_meta(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | '.' | '+' | '*' | '?' | '(' | ')' | '|' | '[' | ']' | '{' | '}' | '^' | '$') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Unix milliseconds as Go's `time.Time` marshals to JSON (RFC 3339 in UTC, fraction without
/// trailing zeros); `0` is Go's zero time.
pub fn go_time(ms: i64) -> String {
    if ms == 0 {
        return GO_ZERO_TIME.to_string();
    }
    let Some(t) = chrono::DateTime::from_timestamp_millis(ms) else {
        return GO_ZERO_TIME.to_string();
    };
    let mut out = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    let millis = ms.rem_euclid(1000);
    if millis != 0 {
        let fraction = format!("{millis:03}");
        out.push('.');
        out.push_str(fraction.trim_end_matches('0'));
    }
    out.push('Z');
    out
}
