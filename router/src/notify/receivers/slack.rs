//! Slack (Alertmanager's `notify/slack`): one message with one attachment per notification.
//!
//! Two ways in, as upstream:
//!
//! - Incoming webhook: POST to `api_url` (or the URL in `api_url_file`, read at every send).
//!   Slack answers `ok` as plain text; any other 2xx body is a final error.
//! - App token (`app_token`/`app_token_file`): POST to `app_url` (default
//!   `https://slack.com/api/chat.postMessage`; a non-webhook `api_url` is used when
//!   `app_url` is not set) with `Authorization: Bearer <token>`. The Web API answers JSON:
//!   `{"ok": false, "error": ...}` is a final error, a body that does not parse is retried.
//!   Setting `http_config.authorization` as well is a build error, as upstream.
//!
//! The attachment follows upstream: `title` (cut to 1024 characters with `…` and a
//! warning), `title_link`, `pretext`, `text`, `fallback`, `callback_id`, `fields` (each
//! `short` from the field or `short_fields`), `actions` (with `confirm`), `image_url`,
//! `thumb_url`, `footer`, `color` (default `danger` while firing, `good` when resolved) and
//! `mrkdwn_in` (default `fallback`, `pretext`, `text`); the message has `channel`,
//! `username`, `icon_emoji`, `icon_url`, `link_names`. Every text setting is a template, with
//! Alertmanager's `slack.default.*` defaults; a template error fails without retry.
//!
//! Two layouts, chosen by `layout` (Harrier's own setting; Alertmanager would reject it):
//!
//! - `attachments` (the default): Alertmanager's message above, byte for byte, so a config
//!   moved from Alertmanager posts exactly what it did.
//! - `blocks`: Slack Block Kit (`slack/blocks.rs`), rendered from the same templated settings so
//!   existing templates keep working. The message's `text` is the rendered `fallback` (what
//!   notifications and screen readers show); one attachment keeps the `color` bar and holds
//!   the blocks: a `header` with the `title`, a `section` with `pretext` and `text`, the
//!   `fields` as sections of two-column fields, a `context` with the `footer`, and an
//!   `actions` row with an `Open` button to `title_link` and one button per action that has
//!   a URL. Every text, count and the number of blocks is kept within Slack's Block Kit
//!   limits (texts cut with `…`, with a warning, as the attachment title is); empty blocks
//!   are left out.
//!
//! Responses (`http`): 2xx as above (a Web API answer is read up to
//! [`MAX_ANSWER_BYTES`]); 5xx and (unlike Alertmanager, which drops it) 429 are retried,
//! honouring `Retry-After`; other statuses are final with the start of the body in the
//! message. Errors name the channel, as upstream. `timeout` bounds each request when set
//! (otherwise the dispatcher's deadline alone does).
//!
//! Not done: `update_message` (editing the previous message of a group needs a store of
//! message timestamps; a new message is posted each time, with a warning at build).

mod blocks;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use serde::Serialize;

use super::http::{self, Auth, HttpSender, Reply, go_json};
use super::secret::{Secret, SecretReadError};
use super::{BuildContext, Integration, NotifyError, NotifyFuture, truncate_runes};
use crate::notify::alert::Notification;
use crate::notify::template::{TemplateData, Templates};
use crate::route::config::{SlackAction, SlackConfig, SlackField, SlackLayout};
use crate::template::gofmt::quote;

/// Slack's limit on an attachment title, in characters.
pub const MAX_TITLE_RUNES: usize = 1024;
/// How much of a 2xx answer is read. Incoming webhooks answer `ok`; `chat.postMessage`
/// echoes the message, which Slack caps well below this.
pub const MAX_ANSWER_BYTES: usize = 1 << 20;
/// The Web API method app tokens post to by default.
pub const DEFAULT_APP_URL: &str = "https://slack.com/api/chat.postMessage";

const DEFAULT_COLOR: &str = r#"{{ if eq .Status "firing" }}danger{{ else }}good{{ end }}"#;
const DEFAULT_MRKDWN_IN: [&str; 3] = ["fallback", "pretext", "text"];

fn default_template(name: &str) -> String {
    format!("{{{{ template \"slack.default.{name}\" . }}}}")
}

/// Where messages go.
enum Endpoint {
    /// Incoming webhook URL (inline or from a file).
    Webhook(Secret),
    /// Web API with an app token.
    App { url: String, token: Secret },
}

/// One `slack_configs` entry, ready to send.
pub struct SlackIntegration {
    endpoint: Endpoint,
    cfg: SlackConfig,
    templates: Arc<Templates>,
    http: HttpSender,
}

#[derive(Serialize)]
struct Field {
    #[serde(skip_serializing_if = "String::is_empty")]
    title: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    value: String,
    short: bool,
}

#[derive(Serialize)]
struct Confirm {
    #[serde(skip_serializing_if = "String::is_empty")]
    text: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    title: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    ok_text: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    dismiss_text: String,
}

#[derive(Serialize)]
struct Action {
    #[serde(rename = "type", skip_serializing_if = "String::is_empty")]
    type_: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    text: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    url: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    style: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    value: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    confirm: Option<Confirm>,
}

/// Alertmanager's `attachment`, in its field order.
#[derive(Serialize)]
struct Attachment {
    #[serde(skip_serializing_if = "String::is_empty")]
    title: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    title_link: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pretext: String,
    text: String,
    fallback: String,
    callback_id: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    fields: Vec<Field>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    actions: Vec<Action>,
    #[serde(skip_serializing_if = "String::is_empty")]
    image_url: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    thumb_url: String,
    footer: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    color: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    mrkdwn_in: Vec<String>,
}

/// Alertmanager's `request`.
#[derive(Serialize)]
struct Message {
    #[serde(flatten)]
    sender: Sender,
    attachments: Vec<Attachment>,
}

/// Where a message goes and who it is from: the first fields of both layouts' bodies.
#[derive(Serialize)]
struct Sender {
    #[serde(skip_serializing_if = "String::is_empty")]
    channel: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    username: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    icon_emoji: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    icon_url: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    link_names: bool,
}

impl SlackIntegration {
    pub fn new(cfg: &SlackConfig, ctx: &BuildContext) -> Result<Self, String> {
        let base_dir = ctx.base_dir.as_deref();
        let token = Secret::from_config(
            "app_token",
            cfg.app_token.as_deref(),
            cfg.app_token_file.as_deref(),
            base_dir,
        );
        let endpoint = match token {
            Some(token) => {
                if cfg.http_config.as_ref().is_some_and(|h| h.authorization.is_some()) {
                    return Err("http authorization can't be set when using Slack App tokens".into());
                }
                let url = cfg
                    .app_url
                    .clone()
                    .or_else(|| cfg.api_url.clone())
                    .filter(|u| !u.is_empty())
                    .unwrap_or_else(|| DEFAULT_APP_URL.to_string());
                reqwest::Url::parse(&url).map_err(|e| format!("invalid app_url: {e}"))?;
                Endpoint::App { url, token }
            }
            None => {
                match Secret::from_config(
                    "api_url",
                    cfg.api_url.as_deref(),
                    cfg.api_url_file.as_deref(),
                    base_dir,
                ) {
                    Some(Secret::Inline(url)) => {
                        reqwest::Url::parse(&url).map_err(|e| format!("invalid api_url: {e}"))?;
                        Endpoint::Webhook(Secret::Inline(url))
                    }
                    Some(file) => Endpoint::Webhook(file),
                    None => {
                        return Err("no Slack API URL nor App token set either inline or in a file".into());
                    }
                }
            }
        };
        if cfg.update_message {
            tracing::warn!(
                "slack_configs: update_message is not supported yet; each notification posts a new message"
            );
        }
        let http = HttpSender::new(cfg.http_config.as_ref(), cfg.timeout, ctx)?;
        Ok(SlackIntegration { endpoint, cfg: cfg.clone(), templates: ctx.templates.clone(), http })
    }

    /// The request body for `n` in the configured layout, and its channel.
    fn message(&self, n: &Notification) -> Result<(String, String), NotifyError> {
        let data = TemplateData::new(n);
        let c = &self.cfg;
        let tmpl = |text: &str| self.templates.render(text, &data).map_err(NotifyError::permanent);
        let or_default = |v: &Option<String>, name: &str| match v {
            Some(v) => tmpl(v),
            None => tmpl(&default_template(name)),
        };
        let channel = tmpl(c.channel.as_deref().unwrap_or_default())?;
        let title = or_default(&c.title, "title")?;
        let fields = c
            .fields
            .iter()
            .map(|f: &SlackField| {
                Ok(Field {
                    title: tmpl(&f.title)?,
                    value: tmpl(&f.value)?,
                    short: f.short.unwrap_or(c.short_fields),
                })
            })
            .collect::<Result<Vec<_>, NotifyError>>()?;
        let actions = c
            .actions
            .iter()
            .map(|a: &SlackAction| {
                let confirm = match &a.confirm {
                    Some(cf) => Some(Confirm {
                        text: tmpl(&cf.text)?,
                        title: tmpl(&cf.title)?,
                        ok_text: tmpl(&cf.ok_text)?,
                        dismiss_text: tmpl(&cf.dismiss_text)?,
                    }),
                    None => None,
                };
                Ok(Action {
                    type_: tmpl(&a.type_)?,
                    text: tmpl(&a.text)?,
                    url: tmpl(&a.url)?,
                    style: tmpl(&a.style)?,
                    name: tmpl(&a.name)?,
                    value: tmpl(&a.value)?,
                    confirm,
                })
            })
            .collect::<Result<Vec<_>, NotifyError>>()?;
        let mrkdwn_in = if c.mrkdwn_in.is_empty() {
            DEFAULT_MRKDWN_IN.iter().map(|s| s.to_string()).collect()
        } else {
            c.mrkdwn_in.clone()
        };
        let attachment = Attachment {
            title,
            title_link: or_default(&c.title_link, "titlelink")?,
            pretext: or_default(&c.pretext, "pretext")?,
            text: or_default(&c.text, "text")?,
            fallback: or_default(&c.fallback, "fallback")?,
            callback_id: or_default(&c.callback_id, "callbackid")?,
            fields,
            actions,
            image_url: tmpl(c.image_url.as_deref().unwrap_or_default())?,
            thumb_url: tmpl(c.thumb_url.as_deref().unwrap_or_default())?,
            footer: or_default(&c.footer, "footer")?,
            color: tmpl(c.color.as_deref().unwrap_or(DEFAULT_COLOR))?,
            mrkdwn_in,
        };
        let message = Message {
            sender: Sender {
                channel: channel.clone(),
                username: or_default(&c.username, "username")?,
                icon_emoji: or_default(&c.icon_emoji, "iconemoji")?,
                icon_url: or_default(&c.icon_url, "iconurl")?,
                link_names: c.link_names,
            },
            attachments: vec![attachment],
        };
        let body = match c.layout {
            SlackLayout::Attachments => {
                let mut message = message;
                for attachment in &mut message.attachments {
                    let (title, truncated) = truncate_runes(&attachment.title, MAX_TITLE_RUNES);
                    if truncated {
                        tracing::warn!(key = %n.group_key, max_runes = MAX_TITLE_RUNES, "Truncated title");
                    }
                    attachment.title = title;
                }
                go_json(&message)
            }
            SlackLayout::Blocks => go_json(&blocks::BlocksMessage::new(message, &n.group_key)),
        }
        .map_err(|e| NotifyError::permanent(format!("failed to encode Slack message: {e}")))?;
        Ok((body, channel))
    }

    async fn send(&self, n: &Notification) -> Result<(), NotifyError> {
        let (body, channel) = self.message(n)?;
        let in_channel = |e: NotifyError| NotifyError {
            message: format!("channel {}: {}", quote(&channel), e.message),
            ..e
        };
        let read_error = |e: SecretReadError| NotifyError::permanent(e.to_string());
        // As upstream, an error without an answer does not name the channel.
        let reply = match &self.endpoint {
            Endpoint::Webhook(url) => {
                let url = url.read().await.map_err(read_error)?;
                self.http.post(&url, http::JSON, body, Auth::HttpConfig, MAX_ANSWER_BYTES).await?
            }
            Endpoint::App { url, token } => {
                let token = token.read().await.map_err(read_error)?;
                self.http.post(url, http::JSON, body, Auth::Bearer(&token), MAX_ANSWER_BYTES).await?
            }
        };
        check_reply(&reply).map_err(in_channel)
    }
}

/// A 2xx answer is checked by its content type; other statuses are classified as usual.
fn check_reply(reply: &Reply) -> Result<(), NotifyError> {
    reply.check(&[], &reply.snippet())?;
    if let Some(e) = &reply.read_error {
        return Err(NotifyError::retryable(e.clone()));
    }
    if reply.is_json() { check_json_response(&reply.body) } else { check_text_response(&reply.body) }
}

/// An incoming webhook's answer: `ok`, or the error as text.
fn check_text_response(body: &[u8]) -> Result<(), NotifyError> {
    if body == b"ok" {
        return Ok(());
    }
    Err(NotifyError::permanent(format!(
        "received an error response from Slack: {}",
        String::from_utf8_lossy(&body[..body.len().min(http::BODY_SNIPPET_BYTES)])
    )))
}

/// A Web API answer: `{"ok": true}`, or `{"ok": false, "error": ...}` (final); a body that
/// does not parse is retried.
fn check_json_response(body: &[u8]) -> Result<(), NotifyError> {
    #[derive(serde::Deserialize)]
    struct Response {
        #[serde(default)]
        ok: bool,
        #[serde(default)]
        error: String,
    }
    match serde_json::from_slice::<Response>(body) {
        Ok(r) if r.ok => Ok(()),
        Ok(r) => Err(NotifyError::permanent(format!("error response from Slack: {}", r.error))),
        Err(e) => Err(NotifyError::retryable(format!(
            "could not unmarshal JSON response {}: {e}",
            quote(&String::from_utf8_lossy(&body[..body.len().min(http::BODY_SNIPPET_BYTES)]))
        ))),
    }
}

impl Integration for SlackIntegration {
    fn name(&self) -> &'static str {
        "slack"
    }

    fn send_resolved(&self) -> bool {
        self.cfg.send_resolved
    }

    fn notify<'a>(&'a self, notification: &'a Notification) -> NotifyFuture<'a> {
        Box::pin(self.send(notification))
    }
}
