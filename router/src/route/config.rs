//! The `alertmanager.yml` model, read verbatim: every section Alertmanager's `config.Config`
//! has, with `deny_unknown_fields` so a misspelt key is an error, as Alertmanager's strict YAML
//! decoding makes it.
//!
//! Loading has two steps. Deserialising (yaml_serde through serde_path_to_error) checks the
//! syntax and the field types; [`validate`](AlertmanagerConfig) then applies Alertmanager's
//! checks: the ones its `UnmarshalYAML` methods make on each section (label names, `group_by`,
//! intervals, notifier secrets given both inline and as a file, ...) and the cross-checks of
//! `Config.UnmarshalYAML` (root route, undefined or duplicate receivers, undefined time
//! intervals, global defaults such as `smtp_from` that email configs need). Validation
//! positions each problem with [`locate`] from its field path.
//!
//! Global defaults are resolved into the notifier configs (`resolve`), as Alertmanager does
//! while loading, so the router can use them as they are. `*_file` paths are kept as given:
//! Alertmanager reads them when it sends, not when it loads.
//!
//! Receivers of the types Harrier does not implement (`opsgenie_configs`, ...) are parsed
//! loosely and rejected with a message naming them.

use super::matchers::{self, Matcher, MatcherError};
use harrier_telemetry::config_diagnostic::locate::{self, FieldPath};
use harrier_telemetry::config_diagnostic::{self, Diagnostic};
use harrier_telemetry::duration::PromDuration;
use harrier_telemetry::http_client::{HttpClientConfig, TlsConfig};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

pub use harrier_telemetry::config_diagnostic::ConfigError;

/// A whole `alertmanager.yml`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertmanagerConfig {
    #[serde(default)]
    pub global: GlobalConfig,
    #[serde(default)]
    pub route: Option<Route>,
    #[serde(default)]
    pub inhibit_rules: Vec<InhibitRule>,
    #[serde(default)]
    pub receivers: Vec<Receiver>,
    /// Template file globs (relative to the config file).
    #[serde(default)]
    pub templates: Vec<String>,
    /// Deprecated name of `time_intervals`.
    #[serde(default)]
    pub mute_time_intervals: Vec<TimeInterval>,
    #[serde(default)]
    pub time_intervals: Vec<TimeInterval>,
    /// Alertmanager's own tracing settings: accepted, not used.
    #[serde(default)]
    pub tracing: Option<yaml_serde::Value>,
}

/// `global:`, with Alertmanager's defaults.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlobalConfig {
    #[serde(default = "d_resolve_timeout")]
    pub resolve_timeout: PromDuration,
    #[serde(default)]
    pub http_config: Option<HttpClientConfig>,
    #[serde(default)]
    pub smtp_from: Option<String>,
    #[serde(default = "d_smtp_hello")]
    pub smtp_hello: String,
    #[serde(default)]
    pub smtp_smarthost: Option<String>,
    #[serde(default)]
    pub smtp_auth_username: Option<String>,
    #[serde(default)]
    pub smtp_auth_password: Option<String>,
    #[serde(default)]
    pub smtp_auth_password_file: Option<String>,
    #[serde(default)]
    pub smtp_auth_secret: Option<String>,
    #[serde(default)]
    pub smtp_auth_secret_file: Option<String>,
    #[serde(default)]
    pub smtp_auth_identity: Option<String>,
    #[serde(default = "d_true")]
    pub smtp_require_tls: bool,
    #[serde(default)]
    pub smtp_tls_config: Option<TlsConfig>,
    #[serde(default)]
    pub slack_api_url: Option<String>,
    #[serde(default)]
    pub slack_api_url_file: Option<String>,
    #[serde(default)]
    pub slack_app_token: Option<String>,
    #[serde(default)]
    pub slack_app_token_file: Option<String>,
    #[serde(default)]
    pub slack_app_url: Option<String>,
    #[serde(default = "d_pagerduty_url")]
    pub pagerduty_url: String,
    /// Settings of the notifier types Harrier does not implement: accepted so that a global
    /// section loads; a receiver using them is rejected.
    #[serde(default)]
    pub opsgenie_api_url: Option<String>,
    #[serde(default)]
    pub opsgenie_api_key: Option<String>,
    #[serde(default)]
    pub opsgenie_api_key_file: Option<String>,
    #[serde(default)]
    pub wechat_api_url: Option<String>,
    #[serde(default)]
    pub wechat_api_secret: Option<String>,
    #[serde(default)]
    pub wechat_api_secret_file: Option<String>,
    #[serde(default)]
    pub wechat_api_corp_id: Option<String>,
    #[serde(default)]
    pub victorops_api_url: Option<String>,
    #[serde(default)]
    pub victorops_api_key: Option<String>,
    #[serde(default)]
    pub victorops_api_key_file: Option<String>,
    #[serde(default)]
    pub telegram_api_url: Option<String>,
    #[serde(default)]
    pub telegram_bot_token: Option<String>,
    #[serde(default)]
    pub telegram_bot_token_file: Option<String>,
    #[serde(default)]
    pub webex_api_url: Option<String>,
    #[serde(default)]
    pub rocketchat_api_url: Option<String>,
    #[serde(default)]
    pub rocketchat_token: Option<String>,
    #[serde(default)]
    pub rocketchat_token_file: Option<String>,
    #[serde(default)]
    pub rocketchat_token_id: Option<String>,
    #[serde(default)]
    pub rocketchat_token_id_file: Option<String>,
    #[serde(default)]
    pub mattermost_webhook_url: Option<String>,
    #[serde(default)]
    pub mattermost_webhook_url_file: Option<String>,
    #[serde(default)]
    pub jira_api_url: Option<String>,
}

fn d_resolve_timeout() -> PromDuration {
    PromDuration::from_secs(300)
}
fn d_smtp_hello() -> String {
    "localhost".to_string()
}
fn d_true() -> bool {
    true
}
fn d_pagerduty_url() -> String {
    "https://events.pagerduty.com/v2/enqueue".to_string()
}

impl Default for GlobalConfig {
    fn default() -> Self {
        GlobalConfig {
            resolve_timeout: d_resolve_timeout(),
            http_config: None,
            smtp_from: None,
            smtp_hello: d_smtp_hello(),
            smtp_smarthost: None,
            smtp_auth_username: None,
            smtp_auth_password: None,
            smtp_auth_password_file: None,
            smtp_auth_secret: None,
            smtp_auth_secret_file: None,
            smtp_auth_identity: None,
            smtp_require_tls: true,
            smtp_tls_config: None,
            slack_api_url: None,
            slack_api_url_file: None,
            slack_app_token: None,
            slack_app_token_file: None,
            slack_app_url: None,
            pagerduty_url: d_pagerduty_url(),
            opsgenie_api_url: None,
            opsgenie_api_key: None,
            opsgenie_api_key_file: None,
            wechat_api_url: None,
            wechat_api_secret: None,
            wechat_api_secret_file: None,
            wechat_api_corp_id: None,
            victorops_api_url: None,
            victorops_api_key: None,
            victorops_api_key_file: None,
            telegram_api_url: None,
            telegram_bot_token: None,
            telegram_bot_token_file: None,
            webex_api_url: None,
            rocketchat_api_url: None,
            rocketchat_token: None,
            rocketchat_token_file: None,
            rocketchat_token_id: None,
            rocketchat_token_id_file: None,
            mattermost_webhook_url: None,
            mattermost_webhook_url_file: None,
            jira_api_url: None,
        }
    }
}

/// A node of the routing tree.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    #[serde(default)]
    pub receiver: Option<String>,
    /// Label names, or `["..."]` for every label.
    #[serde(default)]
    pub group_by: Option<Vec<String>>,
    /// Matcher strings as written; parsed into [`Route::parsed_matchers`] by validation.
    #[serde(default)]
    pub matchers: Vec<String>,
    /// Deprecated equality matchers.
    #[serde(default, rename = "match")]
    pub match_: BTreeMap<String, String>,
    /// Deprecated regex matchers (a null value is an error, as in Alertmanager).
    #[serde(default)]
    pub match_re: BTreeMap<String, Option<String>>,
    #[serde(default, rename = "continue")]
    pub continue_: bool,
    #[serde(default)]
    pub group_wait: Option<PromDuration>,
    #[serde(default)]
    pub group_interval: Option<PromDuration>,
    #[serde(default)]
    pub repeat_interval: Option<PromDuration>,
    #[serde(default)]
    pub mute_time_intervals: Vec<String>,
    #[serde(default)]
    pub active_time_intervals: Vec<String>,
    #[serde(default)]
    pub routes: Vec<Route>,
    /// All matchers of this node (`match`, `match_re` and `matchers`), filled by validation.
    #[serde(skip)]
    pub parsed_matchers: Vec<Matcher>,
}

impl Route {
    /// Whether `group_by: ['...']` (group by every label).
    pub fn group_by_all(&self) -> bool {
        self.group_by.as_deref().is_some_and(|g| g.iter().any(|l| l == "..."))
    }
}

/// Alertmanager's root-route defaults.
pub const DEFAULT_GROUP_WAIT: PromDuration = PromDuration::from_secs(30);
pub const DEFAULT_GROUP_INTERVAL: PromDuration = PromDuration::from_secs(300);
pub const DEFAULT_REPEAT_INTERVAL: PromDuration = PromDuration::from_secs(4 * 3600);

/// An inhibition rule.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InhibitRule {
    #[serde(default)]
    pub source_match: BTreeMap<String, String>,
    #[serde(default)]
    pub source_match_re: BTreeMap<String, Option<String>>,
    #[serde(default)]
    pub source_matchers: Vec<String>,
    #[serde(default)]
    pub target_match: BTreeMap<String, String>,
    #[serde(default)]
    pub target_match_re: BTreeMap<String, Option<String>>,
    #[serde(default)]
    pub target_matchers: Vec<String>,
    #[serde(default)]
    pub equal: Vec<String>,
    /// Filled by validation from the three source forms.
    #[serde(skip)]
    pub parsed_source: Vec<Matcher>,
    /// Filled by validation from the three target forms.
    #[serde(skip)]
    pub parsed_target: Vec<Matcher>,
}

/// A named set of time intervals (`time_intervals:` / `mute_time_intervals:`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeInterval {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub time_intervals: Vec<TimeIntervalSpec>,
}

/// One interval: each list is a set of ranges (`"monday:friday"`, `"1:5"`, `"-1"`, ...).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeIntervalSpec {
    #[serde(default)]
    pub times: Vec<TimeRange>,
    #[serde(default)]
    pub weekdays: Vec<String>,
    #[serde(default)]
    pub days_of_month: Vec<String>,
    #[serde(default)]
    pub months: Vec<String>,
    #[serde(default)]
    pub years: Vec<String>,
    #[serde(default)]
    pub location: Option<String>,
}

/// `start_time`/`end_time` as `HH:MM`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeRange {
    pub start_time: String,
    pub end_time: String,
}

/// A receiver: a name and its notifier configs.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receiver {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub email_configs: Vec<EmailConfig>,
    #[serde(default)]
    pub pagerduty_configs: Vec<PagerdutyConfig>,
    #[serde(default)]
    pub slack_configs: Vec<SlackConfig>,
    #[serde(default)]
    pub webhook_configs: Vec<WebhookConfig>,
    #[serde(default)]
    pub opsgenie_configs: Option<yaml_serde::Value>,
    #[serde(default)]
    pub victorops_configs: Option<yaml_serde::Value>,
    #[serde(default)]
    pub pushover_configs: Option<yaml_serde::Value>,
    #[serde(default)]
    pub sns_configs: Option<yaml_serde::Value>,
    #[serde(default)]
    pub telegram_configs: Option<yaml_serde::Value>,
    #[serde(default)]
    pub mattermost_configs: Option<yaml_serde::Value>,
    #[serde(default)]
    pub rocketchat_configs: Option<yaml_serde::Value>,
    #[serde(default)]
    pub wechat_configs: Option<yaml_serde::Value>,
    #[serde(default)]
    pub msteams_configs: Option<yaml_serde::Value>,
    #[serde(default)]
    pub msteamsv2_configs: Option<yaml_serde::Value>,
    #[serde(default)]
    pub discord_configs: Option<yaml_serde::Value>,
    #[serde(default)]
    pub webex_configs: Option<yaml_serde::Value>,
    #[serde(default)]
    pub jira_configs: Option<yaml_serde::Value>,
    #[serde(default)]
    pub incidentio_configs: Option<yaml_serde::Value>,
}

/// The notifier types Harrier implements, for messages.
pub const SUPPORTED_RECEIVERS: &str = "pagerduty_configs, slack_configs, email_configs, webhook_configs";

impl Receiver {
    /// The unsupported notifier sections this receiver has, in declaration order.
    pub fn unsupported(&self) -> Vec<&'static str> {
        let all: [(&'static str, &Option<yaml_serde::Value>); 14] = [
            ("opsgenie_configs", &self.opsgenie_configs),
            ("victorops_configs", &self.victorops_configs),
            ("pushover_configs", &self.pushover_configs),
            ("sns_configs", &self.sns_configs),
            ("telegram_configs", &self.telegram_configs),
            ("mattermost_configs", &self.mattermost_configs),
            ("rocketchat_configs", &self.rocketchat_configs),
            ("wechat_configs", &self.wechat_configs),
            ("msteams_configs", &self.msteams_configs),
            ("msteamsv2_configs", &self.msteamsv2_configs),
            ("discord_configs", &self.discord_configs),
            ("webex_configs", &self.webex_configs),
            ("jira_configs", &self.jira_configs),
            ("incidentio_configs", &self.incidentio_configs),
        ];
        all.iter().filter(|(_, v)| v.as_ref().is_some_and(|v| !v.is_null())).map(|(k, _)| *k).collect()
    }
}

/// `email_configs` entry (defaults: `send_resolved: false`, the `email.default.html` body,
/// and the global `smtp_*` settings).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    #[serde(default)]
    pub send_resolved: bool,
    #[serde(default)]
    pub to: String,
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub hello: Option<String>,
    #[serde(default)]
    pub smarthost: Option<String>,
    #[serde(default)]
    pub auth_username: Option<String>,
    #[serde(default)]
    pub auth_password: Option<String>,
    #[serde(default)]
    pub auth_password_file: Option<String>,
    #[serde(default)]
    pub auth_secret: Option<String>,
    #[serde(default)]
    pub auth_secret_file: Option<String>,
    #[serde(default)]
    pub auth_identity: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub html: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub require_tls: Option<bool>,
    #[serde(default)]
    pub tls_config: Option<TlsConfig>,
}

/// `pagerduty_configs` entry (defaults: `send_resolved: true`, the global `pagerduty_url`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagerdutyConfig {
    #[serde(default = "d_true")]
    pub send_resolved: bool,
    #[serde(default)]
    pub http_config: Option<HttpClientConfig>,
    #[serde(default)]
    pub service_key: Option<String>,
    #[serde(default)]
    pub service_key_file: Option<String>,
    #[serde(default)]
    pub routing_key: Option<String>,
    #[serde(default)]
    pub routing_key_file: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub client: Option<String>,
    #[serde(default)]
    pub client_url: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub details: BTreeMap<String, String>,
    #[serde(default)]
    pub images: Vec<PagerdutyImage>,
    #[serde(default)]
    pub links: Vec<PagerdutyLink>,
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub severity: Option<String>,
    #[serde(default)]
    pub class: Option<String>,
    #[serde(default)]
    pub component: Option<String>,
    #[serde(default)]
    pub group: Option<String>,
    #[serde(default)]
    pub timeout: Option<PromDuration>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagerdutyImage {
    #[serde(default)]
    pub src: String,
    #[serde(default)]
    pub alt: String,
    #[serde(default)]
    pub href: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagerdutyLink {
    #[serde(default)]
    pub href: String,
    #[serde(default)]
    pub text: String,
}

/// `slack_configs` entry (defaults: `send_resolved: false`, the global `slack_api_url` /
/// `slack_app_token`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackConfig {
    #[serde(default)]
    pub send_resolved: bool,
    #[serde(default)]
    pub http_config: Option<HttpClientConfig>,
    #[serde(default)]
    pub api_url: Option<String>,
    #[serde(default)]
    pub api_url_file: Option<String>,
    #[serde(default)]
    pub app_token: Option<String>,
    #[serde(default)]
    pub app_token_file: Option<String>,
    #[serde(default)]
    pub app_url: Option<String>,
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub color: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub title_link: Option<String>,
    #[serde(default)]
    pub pretext: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub fields: Vec<SlackField>,
    #[serde(default)]
    pub short_fields: bool,
    #[serde(default)]
    pub footer: Option<String>,
    #[serde(default)]
    pub fallback: Option<String>,
    #[serde(default)]
    pub callback_id: Option<String>,
    #[serde(default)]
    pub icon_emoji: Option<String>,
    #[serde(default)]
    pub icon_url: Option<String>,
    #[serde(default)]
    pub image_url: Option<String>,
    #[serde(default)]
    pub thumb_url: Option<String>,
    #[serde(default)]
    pub link_names: bool,
    #[serde(default)]
    pub mrkdwn_in: Vec<String>,
    #[serde(default)]
    pub actions: Vec<SlackAction>,
    #[serde(default)]
    pub update_message: bool,
    #[serde(default)]
    pub timeout: Option<PromDuration>,
    /// How the message is laid out: `attachments` (the default: Alertmanager's legacy
    /// attachment, byte for byte) or `blocks` (Slack Block Kit, rendered from the same
    /// templated fields; see `notify::receivers::slack`).
    ///
    /// Harrier's own extension: Alertmanager has no such field, and its strict YAML decoding
    /// would reject a config that sets it. Leave it out in a config shared with Alertmanager.
    /// Any other value is a config error naming `layout` and the accepted values.
    #[serde(default)]
    pub layout: SlackLayout,
}

/// `slack_configs[].layout` (Harrier's own, see [`SlackConfig::layout`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SlackLayout {
    /// Alertmanager's message: one legacy attachment with `title`, `text`, `fields`, ...
    #[default]
    Attachments,
    /// Slack Block Kit: header, section, fields, context and actions blocks inside one
    /// attachment that keeps the color bar.
    Blocks,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackField {
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub value: String,
    #[serde(default)]
    pub short: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackAction {
    #[serde(default, rename = "type")]
    pub type_: String,
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub style: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub value: String,
    #[serde(default)]
    pub confirm: Option<SlackConfirm>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackConfirm {
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub ok_text: String,
    #[serde(default)]
    pub dismiss_text: String,
}

/// `webhook_configs` entry (defaults: `send_resolved: true`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    #[serde(default = "d_true")]
    pub send_resolved: bool,
    #[serde(default)]
    pub http_config: Option<HttpClientConfig>,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub url_file: Option<String>,
    /// 0: no limit.
    #[serde(default)]
    pub max_alerts: u64,
    /// 0 or absent: no timeout.
    #[serde(default)]
    pub timeout: Option<PromDuration>,
}

/// Whether `text` has a top-level `route` or `receivers` key.
pub fn looks_like_alertmanager_config(text: &str) -> bool {
    match yaml_serde::from_str::<yaml_serde::Value>(text) {
        Ok(yaml_serde::Value::Mapping(map)) => {
            map.keys().any(|k| matches!(k.as_str(), Some("route" | "receivers")))
        }
        _ => false,
    }
}

/// Reads and validates the Alertmanager config at `path`.
pub fn load_file(path: &Path) -> Result<AlertmanagerConfig, ConfigError> {
    let text = config_diagnostic::read_config(path)?;
    load_str(&text, &path.display().to_string())
}

/// Parses and validates Alertmanager config text; `origin` names it in errors.
pub fn load_str(text: &str, origin: &str) -> Result<AlertmanagerConfig, ConfigError> {
    let mut config: AlertmanagerConfig = config_diagnostic::deserialize_yaml(text, origin)?;
    let v = Validator { text, origin };
    v.validate(&mut config)
        .map_err(|(field, message)| ConfigError::Invalid(Box::new(v.diag(field, message))))?;
    Ok(config)
}

type Problem = (FieldPath, String);

struct Validator<'a> {
    text: &'a str,
    origin: &'a str,
}

fn both(a: &Option<String>, b: &Option<String>) -> bool {
    set(a) && set(b)
}

fn set(a: &Option<String>) -> bool {
    a.as_deref().is_some_and(|s| !s.is_empty())
}

/// Alertmanager's `URL` type: http(s) with a host.
fn check_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("invalid URL {url:?}: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("unsupported scheme {:?} for URL", parsed.scheme()));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err("host is missing in URL".to_string());
    }
    Ok(())
}

/// Alertmanager's `HostPort`: `host:port`, port required.
fn check_host_port(addr: &str) -> Result<(), String> {
    match addr.rsplit_once(':') {
        Some((host, port)) if !port.is_empty() && (!host.is_empty() || addr.starts_with(':')) => Ok(()),
        _ => Err(format!("address {addr}: missing port in address")),
    }
}

impl Validator<'_> {
    fn diag(&self, field: FieldPath, message: String) -> Diagnostic {
        let position = locate::locate(self.text, &field);
        Diagnostic { origin: self.origin.to_string(), position, field, message }
    }

    fn validate(&self, c: &mut AlertmanagerConfig) -> Result<(), Problem> {
        let root = FieldPath::root();
        self.validate_global(&c.global, &root.key("global"))?;

        // Time intervals: unique names across both lists.
        let mut intervals = BTreeSet::new();
        for (list, key) in
            [(&c.mute_time_intervals, "mute_time_intervals"), (&c.time_intervals, "time_intervals")]
        {
            for (i, ti) in list.iter().enumerate() {
                let at = root.key(key).index(i);
                if ti.name.is_empty() {
                    return Err((at, "missing name in time interval".to_string()));
                }
                if !intervals.insert(ti.name.clone()) {
                    return Err((at.key("name"), format!("time interval {:?} is not unique", ti.name)));
                }
                for (j, spec) in ti.time_intervals.iter().enumerate() {
                    validate_interval(spec).map_err(|m| (at.key("time_intervals").index(j), m))?;
                }
            }
        }

        // Receivers: names, unsupported types, notifier checks with global defaults.
        let mut names = BTreeSet::new();
        for (i, r) in c.receivers.iter_mut().enumerate() {
            let at = root.key("receivers").index(i);
            if r.name.is_empty() {
                return Err((at, "missing name in receiver".to_string()));
            }
            if !names.insert(r.name.clone()) {
                return Err((at.key("name"), format!("notification config name {:?} is not unique", r.name)));
            }
            if let Some(kind) = r.unsupported().first() {
                return Err((
                    at.key(kind),
                    format!(
                        "receiver {:?}: {kind} is not supported (supported: {SUPPORTED_RECEIVERS})",
                        r.name
                    ),
                ));
            }
            self.resolve_receiver(&c.global, r, &at)?;
        }

        for (i, rule) in c.inhibit_rules.iter_mut().enumerate() {
            let at = root.key("inhibit_rules").index(i);
            rule.parsed_source = collect_matchers(
                &rule.source_match,
                &rule.source_match_re,
                &rule.source_matchers,
                &at,
                "source",
            )?;
            rule.parsed_target = collect_matchers(
                &rule.target_match,
                &rule.target_match_re,
                &rule.target_matchers,
                &at,
                "target",
            )?;
            for (j, l) in rule.equal.iter().enumerate() {
                if l.is_empty() {
                    return Err((
                        at.key("equal").index(j),
                        format!("invalid label name {l:?} in equal list"),
                    ));
                }
            }
        }

        let Some(route) = c.route.as_mut() else {
            return Err((root, "no route provided in config".to_string()));
        };
        let at = root.key("route");
        if route.receiver.as_deref().is_none_or(str::is_empty) {
            return Err((at, "root route must specify a default receiver".to_string()));
        }
        if !route.match_.is_empty() || !route.match_re.is_empty() || !route.matchers.is_empty() {
            return Err((at, "root route must not have any matchers".to_string()));
        }
        if !route.mute_time_intervals.is_empty() {
            return Err((at, "root route must not have any mute time intervals".to_string()));
        }
        if !route.active_time_intervals.is_empty() {
            return Err((at, "root route must not have any active time intervals".to_string()));
        }
        route.group_wait.get_or_insert(DEFAULT_GROUP_WAIT);
        route.group_interval.get_or_insert(DEFAULT_GROUP_INTERVAL);
        route.repeat_interval.get_or_insert(DEFAULT_REPEAT_INTERVAL);
        validate_route(route, &at, &names, &intervals)
    }

    fn validate_global(&self, g: &GlobalConfig, at: &FieldPath) -> Result<(), Problem> {
        let pairs: [(&str, &Option<String>, &str, &Option<String>); 11] = [
            (
                "smtp_auth_password",
                &g.smtp_auth_password,
                "smtp_auth_password_file",
                &g.smtp_auth_password_file,
            ),
            ("smtp_auth_secret", &g.smtp_auth_secret, "smtp_auth_secret_file", &g.smtp_auth_secret_file),
            ("slack_api_url", &g.slack_api_url, "slack_api_url_file", &g.slack_api_url_file),
            ("slack_app_token", &g.slack_app_token, "slack_app_token_file", &g.slack_app_token_file),
            ("opsgenie_api_key", &g.opsgenie_api_key, "opsgenie_api_key_file", &g.opsgenie_api_key_file),
            ("victorops_api_key", &g.victorops_api_key, "victorops_api_key_file", &g.victorops_api_key_file),
            ("wechat_api_secret", &g.wechat_api_secret, "wechat_api_secret_file", &g.wechat_api_secret_file),
            (
                "telegram_bot_token",
                &g.telegram_bot_token,
                "telegram_bot_token_file",
                &g.telegram_bot_token_file,
            ),
            ("rocketchat_token", &g.rocketchat_token, "rocketchat_token_file", &g.rocketchat_token_file),
            (
                "rocketchat_token_id",
                &g.rocketchat_token_id,
                "rocketchat_token_id_file",
                &g.rocketchat_token_id_file,
            ),
            (
                "mattermost_webhook_url",
                &g.mattermost_webhook_url,
                "mattermost_webhook_url_file",
                &g.mattermost_webhook_url_file,
            ),
        ];
        for (a, va, b, vb) in pairs {
            if both(va, vb) {
                return Err((at.key(b), format!("at most one of {a} & {b} must be configured")));
            }
        }
        if (set(&g.slack_app_token) || set(&g.slack_app_token_file)) && set(&g.slack_api_url_file) {
            return Err((
                at.key("slack_api_url_file"),
                "at most one of slack_app_token(_file) & slack_api_url_file must be configured".to_string(),
            ));
        }
        if (set(&g.slack_app_token) || set(&g.slack_app_token_file))
            && let Some(url) = g.slack_api_url.as_deref()
            && is_slack_webhook(url)
        {
            return Err((
                at.key("slack_api_url"),
                "slack_app_token cannot be used with an incoming webhook slack_api_url".to_string(),
            ));
        }
        for (key, url) in [("slack_api_url", &g.slack_api_url), ("slack_app_url", &g.slack_app_url)] {
            if let Some(url) = url {
                check_url(url).map_err(|m| (at.key(key), m))?;
            }
        }
        check_url(&g.pagerduty_url).map_err(|m| (at.key("pagerduty_url"), m))?;
        if let Some(h) = &g.smtp_smarthost
            && !h.is_empty()
        {
            check_host_port(h).map_err(|m| (at.key("smtp_smarthost"), m))?;
        }
        Ok(())
    }

    /// Alertmanager's per-notifier checks, filling the global defaults in.
    fn resolve_receiver(&self, g: &GlobalConfig, r: &mut Receiver, at: &FieldPath) -> Result<(), Problem> {
        for (i, e) in r.email_configs.iter_mut().enumerate() {
            let at = at.key("email_configs").index(i);
            if e.to.is_empty() {
                return Err((at, "missing to address in email config".to_string()));
            }
            if both(&e.auth_password, &e.auth_password_file) {
                return Err((
                    at.key("auth_password_file"),
                    "at most one of auth_password & auth_password_file must be configured".to_string(),
                ));
            }
            if both(&e.auth_secret, &e.auth_secret_file) {
                return Err((
                    at.key("auth_secret_file"),
                    "at most one of auth_secret & auth_secret_file must be configured".to_string(),
                ));
            }
            let mut seen = BTreeSet::new();
            for h in e.headers.keys() {
                let canonical = canonical_header(h);
                if !seen.insert(canonical.clone()) {
                    return Err((
                        at.key("headers"),
                        format!("duplicate header {canonical:?} in email config"),
                    ));
                }
            }
            if !set(&e.smarthost) {
                if !set(&g.smtp_smarthost) {
                    return Err((at, "no global SMTP smarthost set".to_string()));
                }
                e.smarthost.clone_from(&g.smtp_smarthost);
            } else if let Some(h) = &e.smarthost {
                check_host_port(h).map_err(|m| (at.key("smarthost"), m))?;
            }
            if !set(&e.from) {
                if !set(&g.smtp_from) {
                    return Err((at, "no global SMTP from set".to_string()));
                }
                e.from.clone_from(&g.smtp_from);
            }
            if e.hello.is_none() {
                e.hello = Some(g.smtp_hello.clone());
            }
            if !set(&e.auth_username) {
                e.auth_username.clone_from(&g.smtp_auth_username);
            }
            // Credentials are inherited only when the config sets none of its own.
            if !set(&e.auth_password) && !set(&e.auth_password_file) {
                e.auth_password.clone_from(&g.smtp_auth_password);
                e.auth_password_file.clone_from(&g.smtp_auth_password_file);
            }
            if !set(&e.auth_secret) && !set(&e.auth_secret_file) {
                e.auth_secret.clone_from(&g.smtp_auth_secret);
                e.auth_secret_file.clone_from(&g.smtp_auth_secret_file);
            }
            if !set(&e.auth_identity) {
                e.auth_identity.clone_from(&g.smtp_auth_identity);
            }
            if e.require_tls.is_none() {
                e.require_tls = Some(g.smtp_require_tls);
            }
            if e.tls_config.is_none() {
                e.tls_config.clone_from(&g.smtp_tls_config);
            }
        }
        for (i, p) in r.pagerduty_configs.iter_mut().enumerate() {
            let at = at.key("pagerduty_configs").index(i);
            if !set(&p.routing_key)
                && !set(&p.service_key)
                && !set(&p.routing_key_file)
                && !set(&p.service_key_file)
            {
                return Err((at, "missing service or routing key in PagerDuty config".to_string()));
            }
            if both(&p.routing_key, &p.routing_key_file) {
                return Err((
                    at.key("routing_key_file"),
                    "at most one of routing_key & routing_key_file must be configured".to_string(),
                ));
            }
            if both(&p.service_key, &p.service_key_file) {
                return Err((
                    at.key("service_key_file"),
                    "at most one of service_key & service_key_file must be configured".to_string(),
                ));
            }
            match &p.url {
                Some(url) => check_url(url).map_err(|m| (at.key("url"), m))?,
                None => p.url = Some(g.pagerduty_url.clone()),
            }
            if p.http_config.is_none() {
                p.http_config.clone_from(&g.http_config);
            }
        }
        for (i, s) in r.slack_configs.iter_mut().enumerate() {
            let at = at.key("slack_configs").index(i);
            if both(&s.api_url, &s.api_url_file) {
                return Err((
                    at.key("api_url_file"),
                    "at most one of api_url & api_url_file must be configured".to_string(),
                ));
            }
            if both(&s.app_token, &s.app_token_file) {
                return Err((
                    at.key("app_token_file"),
                    "at most one of app_token & app_token_file must be configured".to_string(),
                ));
            }
            let own_token = set(&s.app_token) || set(&s.app_token_file);
            let own_url = set(&s.api_url) || set(&s.api_url_file);
            if own_token && set(&s.api_url_file) {
                return Err((
                    at.key("api_url_file"),
                    "at most one of app_token(_file) & api_url_file must be configured".to_string(),
                ));
            }
            if own_token && s.api_url.as_deref().is_some_and(is_slack_webhook) {
                return Err((
                    at.key("api_url"),
                    "app_token cannot be used with an incoming webhook api_url".to_string(),
                ));
            }
            for (j, f) in s.fields.iter().enumerate() {
                let fat = at.key("fields").index(j);
                if f.title.is_empty() {
                    return Err((fat, "missing title in Slack field configuration".to_string()));
                }
                if f.value.is_empty() {
                    return Err((fat, "missing value in Slack field configuration".to_string()));
                }
            }
            for (j, a) in s.actions.iter().enumerate() {
                let aat = at.key("actions").index(j);
                if a.type_.is_empty() {
                    return Err((aat, "missing type in Slack action configuration".to_string()));
                }
                if a.text.is_empty() {
                    return Err((aat, "missing text in Slack action configuration".to_string()));
                }
                if a.url.is_empty() && a.name.is_empty() {
                    return Err((aat, "missing name or url in Slack action configuration".to_string()));
                }
                if a.url.is_empty() && a.confirm.as_ref().is_some_and(|c| c.text.is_empty()) {
                    return Err((
                        aat.key("confirm"),
                        "missing text in Slack confirmation configuration".to_string(),
                    ));
                }
            }
            if let Some(url) = &s.api_url {
                check_url(url).map_err(|m| (at.key("api_url"), m))?;
            }
            if let Some(url) = &s.app_url {
                check_url(url).map_err(|m| (at.key("app_url"), m))?;
            }
            // Defaults: a config with neither its own token nor its own URL takes the global
            // app token when there is one, else the global URL.
            if !own_token && !own_url {
                if set(&g.slack_app_token) || set(&g.slack_app_token_file) {
                    s.app_token.clone_from(&g.slack_app_token);
                    s.app_token_file.clone_from(&g.slack_app_token_file);
                }
                if set(&g.slack_api_url) {
                    s.api_url.clone_from(&g.slack_api_url);
                } else if set(&g.slack_api_url_file) {
                    s.api_url_file.clone_from(&g.slack_api_url_file);
                }
            }
            if s.app_url.is_none() {
                s.app_url.clone_from(&g.slack_app_url);
            }
            let token = set(&s.app_token) || set(&s.app_token_file);
            if !token && !set(&s.api_url) && !set(&s.api_url_file) {
                return Err((at, "no global Slack API URL set either inline or in a file".to_string()));
            }
            if s.update_message && !token {
                return Err((
                    at.key("update_message"),
                    "update_message requires app_token (or app_token_file): incoming webhooks cannot update messages"
                        .to_string(),
                ));
            }
            if s.http_config.is_none() {
                s.http_config.clone_from(&g.http_config);
            }
        }
        for (i, w) in r.webhook_configs.iter_mut().enumerate() {
            let at = at.key("webhook_configs").index(i);
            if !set(&w.url) && !set(&w.url_file) {
                return Err((at, "one of url or url_file must be configured".to_string()));
            }
            if both(&w.url, &w.url_file) {
                return Err((
                    at.key("url_file"),
                    "at most one of url & url_file must be configured".to_string(),
                ));
            }
            if let Some(url) = &w.url {
                check_url(url).map_err(|m| (at.key("url"), m))?;
            }
            if w.http_config.is_none() {
                w.http_config.clone_from(&g.http_config);
            }
        }
        Ok(())
    }
}

/// A Slack incoming-webhook URL (as opposed to the Web API's `chat.postMessage`).
fn is_slack_webhook(url: &str) -> bool {
    url.contains("hooks.slack.com")
}

/// Go's `textproto.CanonicalMIMEHeaderKey` for ASCII names.
fn canonical_header(h: &str) -> String {
    let mut upper = true;
    h.chars()
        .map(|c| {
            let out = if upper { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() };
            upper = c == '-';
            out
        })
        .collect()
}

fn matcher_problem(at: FieldPath, e: &MatcherError) -> Problem {
    (at, e.to_string())
}

/// Parses `match`, `match_re` and `matchers` of a route or one side of an inhibit rule.
fn collect_matchers(
    eq: &BTreeMap<String, String>,
    re: &BTreeMap<String, Option<String>>,
    list: &[String],
    at: &FieldPath,
    prefix: &str,
) -> Result<Vec<Matcher>, Problem> {
    let (k_match, k_re, k_list) = if prefix.is_empty() {
        ("match".to_string(), "match_re".to_string(), "matchers".to_string())
    } else {
        (format!("{prefix}_match"), format!("{prefix}_match_re"), format!("{prefix}_matchers"))
    };
    let mut out = Vec::new();
    for (name, value) in eq {
        let at = at.key(&k_match).key(name);
        if !matchers::is_valid_label_name(name) {
            return Err((at, format!("invalid label name {name:?}")));
        }
        out.push(Matcher::new(name, matchers::MatchType::Equal, value).map_err(|e| matcher_problem(at, &e))?);
    }
    for (name, value) in re {
        let at = at.key(&k_re).key(name);
        if !matchers::is_valid_label_name(name) {
            return Err((at, format!("invalid label name {name:?}")));
        }
        let Some(value) = value else {
            return Err((at, format!("{k_re}: label {name:?} has no regular expression")));
        };
        out.push(
            Matcher::new(name, matchers::MatchType::Regexp, value).map_err(|e| matcher_problem(at, &e))?,
        );
    }
    for (i, entry) in list.iter().enumerate() {
        let at = at.key(&k_list).index(i);
        out.extend(matchers::parse_matchers(entry).map_err(|e| matcher_problem(at, &e))?);
    }
    Ok(out)
}

fn validate_route(
    route: &mut Route,
    at: &FieldPath,
    receivers: &BTreeSet<String>,
    intervals: &BTreeSet<String>,
) -> Result<(), Problem> {
    if let Some(name) = &route.receiver
        && !receivers.contains(name)
    {
        return Err((at.key("receiver"), format!("undefined receiver {name:?} used in route")));
    }
    if let Some(group_by) = &route.group_by {
        let mut seen = BTreeSet::new();
        for (i, l) in group_by.iter().enumerate() {
            let lat = at.key("group_by").index(i);
            if l == "..." {
                if group_by.len() > 1 {
                    return Err((
                        lat,
                        "cannot have wildcard group_by (`...`) and other other labels at the same time"
                            .to_string(),
                    ));
                }
                continue;
            }
            if l.is_empty() {
                return Err((lat, format!("invalid label name {l:?} in group_by list")));
            }
            if !seen.insert(l) {
                return Err((lat, format!("duplicated label {l:?} in group_by")));
            }
        }
    }
    if route.group_interval.is_some_and(|d| d.as_millis() == 0) {
        return Err((at.key("group_interval"), "group_interval cannot be zero".to_string()));
    }
    if route.repeat_interval.is_some_and(|d| d.as_millis() == 0) {
        return Err((at.key("repeat_interval"), "repeat_interval cannot be zero".to_string()));
    }
    for (key, list) in [
        ("mute_time_intervals", &route.mute_time_intervals),
        ("active_time_intervals", &route.active_time_intervals),
    ] {
        for (i, name) in list.iter().enumerate() {
            if !intervals.contains(name) {
                return Err((
                    at.key(key).index(i),
                    format!("undefined time interval {name:?} used in route"),
                ));
            }
        }
    }
    route.parsed_matchers = collect_matchers(&route.match_, &route.match_re, &route.matchers, at, "")?;
    for (i, child) in route.routes.iter_mut().enumerate() {
        validate_route(child, &at.key("routes").index(i), receivers, intervals)?;
    }
    Ok(())
}

/// Alertmanager's checks of one time interval (ranges, times of day and the `location`
/// zone, loaded from the system zoneinfo as Go's `time.LoadLocation` does), with its messages.
fn validate_interval(spec: &TimeIntervalSpec) -> Result<(), String> {
    super::time_intervals::Interval::parse(spec).map(|_| ()).map_err(|e| e.to_string())
}
