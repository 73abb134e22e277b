//! PagerDuty (Alertmanager's `notify/pagerduty`): Events API v1 for entries with a service
//! key, v2 for the others.
//!
//! As upstream, an entry with a `service_key` (or `service_key_file`) uses v1 even when it
//! also has a routing key; otherwise `routing_key`/`routing_key_file` selects v2.
//!
//! Events API v2: one POST to `url` (the global
//! `pagerduty_url`, `https://events.pagerduty.com/v2/enqueue`, by default) per notification:
//!
//! - `dedup_key` is the hex SHA-256 of the group key, so PagerDuty keeps one incident per
//!   aggregation group; `event_action` is `trigger`, or `resolve` when every alert is
//!   resolved.
//! - `payload.summary` is `description` (default: the `__subject` line) cut to 1024
//!   characters (with `…` and a warning, as upstream); `source` is `source` or else `client`;
//!   `severity` defaults to `error`; `class`, `component`, `group` are sent when not empty.
//! - `payload.custom_details` are the templated `details`, with Alertmanager's defaults for
//!   the keys not set: `firing` and `resolved` (the alert lists of
//!   `pagerduty.default.instances`), `num_firing`, `num_resolved`. Values are strings, as in
//!   Alertmanager up to 0.27 (`details` is a string map in our config).
//! - `client` (default `Alertmanager`), `client_url` (the alerts page), and the `images` and
//!   `links` whose `src`/`href` is not empty after templating.
//! - Every field is a template (the routing key too). A template error, or an empty routing
//!   key, fails the notification without retry.
//! - A body over 512,000 bytes has its custom details replaced by an error note (with a
//!   warning), as upstream.
//!
//! Events API v1: `service_key`, `incident_key` (the same hash), `event_type`,
//! `description`, `details`, and `client`/`client_url` when triggering, posted to
//! PagerDuty's v1 endpoint (upstream always posts there; here a `url` that is not the default
//! v2 one is used instead, which lets a proxy or a test server receive v1 events); 403 is
//! retryable there, as upstream.
//!
//! Responses (`http`): 2xx delivered; 429 and 5xx retried (honouring
//! `Retry-After`; upstream does not retry a 429 from v1); other statuses final, with
//! PagerDuty's `message: errors` for a 400 and the start of the body otherwise. `timeout`
//! bounds each request when set (otherwise the dispatcher's deadline alone does).

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::http::{self, Auth, HttpSender, Reply, go_json};
use super::secret::Secret;
use super::{BuildContext, Integration, NotifyError, NotifyFuture, truncate_runes};
use crate::notify::alert::Notification;
use crate::notify::template::{TemplateData, Templates};
use crate::route::config::{PagerdutyConfig, PagerdutyImage, PagerdutyLink};
use crate::template::gofmt::quote;

/// PagerDuty's limit on an event's size.
pub const MAX_EVENT_BYTES: usize = 512_000;
/// PagerDuty's limit on a summary (v2) or description (v1), in characters.
pub const MAX_SUMMARY_RUNES: usize = 1024;

/// The Events API v1 endpoint Alertmanager posts `service_key` events to.
pub const EVENTS_V1_URL: &str = "https://events.pagerduty.com/generic/2010-04-15/create_event.json";
const EVENTS_V2_DEFAULT_URL: &str = "https://events.pagerduty.com/v2/enqueue";

const DEFAULT_DESCRIPTION: &str = r#"{{ template "pagerduty.default.description" .}}"#;
const DEFAULT_CLIENT: &str = r#"{{ template "pagerduty.default.client" . }}"#;
const DEFAULT_CLIENT_URL: &str = r#"{{ template "pagerduty.default.clientURL" . }}"#;
const DEFAULT_SEVERITY: &str = "error";
/// Alertmanager's `DefaultPagerdutyDetails`, added for the keys a config does not set.
const DEFAULT_DETAILS: [(&str, &str); 4] = [
    ("firing", r#"{{ template "pagerduty.default.instances" .Alerts.Firing }}"#),
    ("resolved", r#"{{ template "pagerduty.default.instances" .Alerts.Resolved }}"#),
    ("num_firing", "{{ .Alerts.Firing | len }}"),
    ("num_resolved", "{{ .Alerts.Resolved | len }}"),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Api {
    V1,
    V2,
}

/// One `pagerduty_configs` entry, ready to send.
pub struct PagerdutyIntegration {
    api: Api,
    key: Secret,
    url: String,
    description: String,
    client_name: String,
    client_url: String,
    source: Option<String>,
    severity: String,
    class: String,
    component: String,
    group: String,
    details: BTreeMap<String, String>,
    images: Vec<PagerdutyImage>,
    links: Vec<PagerdutyLink>,
    send_resolved: bool,
    templates: Arc<Templates>,
    http: HttpSender,
}

#[derive(Serialize)]
struct Payload {
    summary: String,
    source: String,
    severity: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    class: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    component: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    group: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    custom_details: BTreeMap<String, String>,
}

#[derive(Serialize, Clone)]
struct Image {
    src: String,
    alt: String,
    href: String,
}

#[derive(Serialize, Clone)]
struct Link {
    href: String,
    text: String,
}

/// Alertmanager's `pagerDutyMessage`, in its field order.
#[derive(Serialize)]
struct Message {
    #[serde(skip_serializing_if = "String::is_empty")]
    routing_key: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    service_key: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    dedup_key: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    incident_key: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    event_type: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    description: String,
    event_action: String,
    payload: Option<Payload>,
    #[serde(skip_serializing_if = "String::is_empty")]
    client: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    client_url: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    details: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    images: Vec<Image>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    links: Vec<Link>,
}

/// Alertmanager's `notify.Key.Hash`: hex SHA-256 of the group key.
pub fn group_key_hash(group_key: &str) -> String {
    Sha256::digest(group_key.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// alecthomas/units' `MetricBytes.String` (`512KB`, `600KB123B`), for the size warning.
fn metric_bytes(mut n: usize) -> String {
    let mut out = String::new();
    for (scale, unit) in [(1_000_000_000_000, "TB"), (1_000_000_000, "GB"), (1_000_000, "MB"), (1_000, "KB")]
    {
        if n >= scale {
            out.push_str(&format!("{}{unit}", n / scale));
            n %= scale;
        }
    }
    if n != 0 || out.is_empty() {
        out.push_str(&format!("{n}B"));
    }
    out
}

impl PagerdutyIntegration {
    pub fn new(cfg: &PagerdutyConfig, ctx: &BuildContext) -> Result<Self, String> {
        let base_dir = ctx.base_dir.as_deref();
        let service = Secret::from_config(
            "service_key",
            cfg.service_key.as_deref(),
            cfg.service_key_file.as_deref(),
            base_dir,
        );
        let routing = Secret::from_config(
            "routing_key",
            cfg.routing_key.as_deref(),
            cfg.routing_key_file.as_deref(),
            base_dir,
        );
        let configured_url = cfg.url.clone().unwrap_or_else(|| ctx.global.pagerduty_url.clone());
        // The service key first: upstream picks v1 whenever one is configured.
        let (api, key, url) = match (service, routing) {
            (Some(key), _) => {
                let url = if configured_url == EVENTS_V2_DEFAULT_URL {
                    EVENTS_V1_URL.to_string()
                } else {
                    configured_url
                };
                (Api::V1, key, url)
            }
            (None, Some(key)) => (Api::V2, key, configured_url),
            (None, None) => return Err("missing service or routing key in PagerDuty config".into()),
        };
        reqwest::Url::parse(&url).map_err(|e| format!("invalid url {url:?}: {e}"))?;
        let mut details = cfg.details.clone();
        for (k, v) in DEFAULT_DETAILS {
            details.entry(k.to_string()).or_insert_with(|| v.to_string());
        }
        let http = HttpSender::new(cfg.http_config.as_ref(), cfg.timeout, ctx)?;
        let or = |v: &Option<String>, default: &str| v.clone().unwrap_or_else(|| default.to_string());
        Ok(PagerdutyIntegration {
            api,
            key,
            url,
            description: or(&cfg.description, DEFAULT_DESCRIPTION),
            client_name: or(&cfg.client, DEFAULT_CLIENT),
            client_url: or(&cfg.client_url, DEFAULT_CLIENT_URL),
            source: cfg.source.clone().filter(|s| !s.is_empty()),
            severity: cfg
                .severity
                .clone()
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| DEFAULT_SEVERITY.to_string()),
            class: cfg.class.clone().unwrap_or_default(),
            component: cfg.component.clone().unwrap_or_default(),
            group: cfg.group.clone().unwrap_or_default(),
            details,
            images: cfg.images.clone(),
            links: cfg.links.clone(),
            send_resolved: cfg.send_resolved,
            templates: ctx.templates.clone(),
            http,
        })
    }

    /// The request body for `n` (Go's JSON encoding, newline-terminated).
    async fn message(&self, n: &Notification) -> Result<String, NotifyError> {
        let data = TemplateData::new(n);
        let resolved = n.status() == "resolved";
        let mut details = BTreeMap::new();
        for (k, v) in &self.details {
            let detail = self.templates.render(v, &data).map_err(|e| {
                NotifyError::permanent(format!("{}: failed to template {}: {e}", quote(k), quote(v)))
            })?;
            details.insert(k.clone(), detail);
        }
        let version = if self.api == Api::V1 { "v1" } else { "v2" };
        let tmpl_err = |e: String| {
            NotifyError::permanent(format!("failed to template PagerDuty {version} message: {e}"))
        };
        let tmpl = |text: &str| self.templates.render(text, &data).map_err(tmpl_err);
        let (summary, truncated) = truncate_runes(&tmpl(&self.description)?, MAX_SUMMARY_RUNES);
        if truncated {
            tracing::warn!(key = %n.group_key, max_runes = MAX_SUMMARY_RUNES, "Truncated summary");
        }
        let key = match &self.key {
            Secret::Inline(k) => tmpl(k)?,
            file => file.read().await.map_err(|e| NotifyError::permanent(e.to_string()))?,
        };
        let hash = group_key_hash(&n.group_key);
        let mut msg = match self.api {
            Api::V2 => {
                let mut images = Vec::new();
                for i in &self.images {
                    let image = Image { src: tmpl(&i.src)?, alt: tmpl(&i.alt)?, href: tmpl(&i.href)? };
                    if !image.src.is_empty() {
                        images.push(image);
                    }
                }
                let mut links = Vec::new();
                for l in &self.links {
                    let link = Link { href: tmpl(&l.href)?, text: tmpl(&l.text)? };
                    if !link.href.is_empty() {
                        links.push(link);
                    }
                }
                let source = self.source.as_deref().unwrap_or(&self.client_name);
                if key.is_empty() {
                    return Err(NotifyError::permanent("routing key cannot be empty"));
                }
                Message {
                    routing_key: key,
                    service_key: String::new(),
                    dedup_key: hash,
                    incident_key: String::new(),
                    event_type: String::new(),
                    description: String::new(),
                    event_action: if resolved { "resolve" } else { "trigger" }.to_string(),
                    payload: Some(Payload {
                        summary,
                        source: tmpl(source)?,
                        severity: tmpl(&self.severity)?,
                        class: tmpl(&self.class)?,
                        component: tmpl(&self.component)?,
                        group: tmpl(&self.group)?,
                        custom_details: details,
                    }),
                    client: tmpl(&self.client_name)?,
                    client_url: tmpl(&self.client_url)?,
                    details: BTreeMap::new(),
                    images,
                    links,
                }
            }
            Api::V1 => {
                if key.is_empty() {
                    return Err(NotifyError::permanent("service key cannot be empty"));
                }
                let (client, client_url) = if resolved {
                    (String::new(), String::new())
                } else {
                    (tmpl(&self.client_name)?, tmpl(&self.client_url)?)
                };
                Message {
                    routing_key: String::new(),
                    service_key: key,
                    dedup_key: String::new(),
                    incident_key: hash,
                    event_type: if resolved { "resolve" } else { "trigger" }.to_string(),
                    description: summary,
                    event_action: String::new(),
                    payload: None,
                    client,
                    client_url,
                    details,
                    images: Vec::new(),
                    links: Vec::new(),
                }
            }
        };
        let encode = |m: &Message| {
            go_json(m).map_err(|e| NotifyError::permanent(format!("failed to encode PagerDuty message: {e}")))
        };
        let body = encode(&msg)?;
        if body.len() <= MAX_EVENT_BYTES {
            return Ok(body);
        }
        let note = BTreeMap::from([(
            "error".to_string(),
            format!(
                "Custom details have been removed because the original event exceeds the maximum size of {}",
                metric_bytes(MAX_EVENT_BYTES)
            ),
        )]);
        match &mut msg.payload {
            Some(payload) => payload.custom_details = note,
            None => msg.details = note,
        }
        tracing::warn!(
            key = %n.group_key,
            "Truncated Details because message of size {} exceeds limit {}",
            metric_bytes(body.len()),
            metric_bytes(MAX_EVENT_BYTES)
        );
        encode(&msg)
    }

    async fn send(&self, n: &Notification) -> Result<(), NotifyError> {
        let body = self.message(n).await?;
        let reply =
            self.http.post(&self.url, http::JSON, body, Auth::HttpConfig, http::SMALL_BODY_LIMIT).await?;
        let retry_codes: &[u16] = if self.api == Api::V1 { &[403] } else { &[] };
        reply.check(retry_codes, &error_details(&reply))
    }
}

/// What an error response says: PagerDuty's `message: error,error` for a 400 (upstream's
/// `errDetails`), else the start of the body.
fn error_details(reply: &Reply) -> String {
    #[derive(serde::Deserialize)]
    struct Response {
        #[serde(default)]
        message: String,
        #[serde(default)]
        errors: Vec<String>,
    }
    if reply.status == 400
        && let Ok(r) = serde_json::from_slice::<Response>(&reply.body)
    {
        return format!("{}: {}", r.message, r.errors.join(","));
    }
    reply.snippet()
}

impl Integration for PagerdutyIntegration {
    fn name(&self) -> &'static str {
        "pagerduty"
    }

    fn send_resolved(&self) -> bool {
        self.send_resolved
    }

    fn notify<'a>(&'a self, notification: &'a Notification) -> NotifyFuture<'a> {
        Box::pin(self.send(notification))
    }
}
