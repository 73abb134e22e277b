//! A small built-in web page at `/alertmanager`: the active alerts by aggregation group, the
//! silences (with a form to create one and an expire button per silence) and the recent
//! notifications with their delivery status.
//!
//! Server-rendered HTML with plain forms, no script: `POST /alertmanager/silences` (fields
//! `matchers`, `duration`, `comment`, `author`) creates a silence starting now, and
//! `POST /alertmanager/silences/{id}/expire` expires one; both answer `303 See Other` back to
//! the page (a relative `Location`, so the page works behind a path prefix), or the page with
//! the error and status 400/404. Every value is HTML-escaped.
//!
//! The forms are mutating endpoints: they follow the API's [`super::ApiAuth`] (basic auth
//! works from a browser; a bearer token does not, use the API then), and refuse cross-site
//! posts, so another site cannot create or expire silences through a logged-in browser
//! ([`same_origin`]): a browser's `Sec-Fetch-Site` decides when it is sent (`same-origin` and
//! `none` pass, `cross-site` does not); otherwise the `Origin` (or, without one, the
//! `Referer`) must name the host and port the request was addressed to: its `Host`, the
//! request URI's authority (HTTP/2's `:authority`, absolute-form requests) or the
//! `X-Forwarded-Host` a proxy that rewrites `Host` adds. A post with none of these headers is
//! not a browser's form post and passes (auth still applies).
//!
//! Alerts are shown by aggregation group; a group muted by time intervals (as of its last
//! flush) says so, and its alerts show as suppressed, as in the API's `/alerts/groups`.

use super::json::json_string;
use super::{AmState, Reject, set_silence, sort_silences};
use crate::api::params::parse_duration;
use crate::notify::silences::SilenceError;
use crate::notify::{AlertState, GroupView, Silence, SilenceState};
use crate::route::matchers::parse_matchers;
use crate::template::builtins::html_escape;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use std::fmt::Write;

/// Largest form body.
const MAX_FORM_BYTES: usize = 64 << 10;
/// How many recent notifications the page lists.
const MAX_DELIVERIES_SHOWN: usize = 50;

pub(crate) fn routes() -> Router<AmState> {
    Router::new()
        .route("/alertmanager", get(show))
        .route("/alertmanager/silences", post(create_silence).layer(DefaultBodyLimit::max(MAX_FORM_BYTES)))
        .route(
            "/alertmanager/silences/{id}/expire",
            post(expire_silence).layer(DefaultBodyLimit::max(MAX_FORM_BYTES)),
        )
}

async fn show(State(st): State<AmState>) -> Response {
    html(StatusCode::OK, render(&st, None))
}

fn html(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-store")], body)
        .into_response()
}

fn see_page(location: &'static str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, location), (header::CACHE_CONTROL, "no-store")])
        .into_response()
}

/// Whether a post comes from the page's own origin rather than another site (see the module
/// docs); `uri` is the request's target.
pub(crate) fn same_origin(headers: &HeaderMap, uri: &Uri) -> bool {
    let get = |name: &header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    // Fetch Metadata is set by the browser itself; a page cannot forge it.
    match headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        Some("same-origin" | "none") => return true,
        Some("cross-site") => return false,
        _ => {}
    }
    let source = match (get(&header::ORIGIN), get(&header::REFERER)) {
        // "null" (an opaque origin: sandboxed frame, file, redirect) names no host.
        (Some(origin), _) => match Authority::of_url(origin) {
            Some(a) => a,
            None => return false,
        },
        (None, Some(referer)) => match Authority::of_url(referer) {
            Some(a) => a,
            None => return false,
        },
        // Neither: not a browser's form post (browsers send Origin on every POST).
        (None, None) => return true,
    };
    let forwarded_host = headers
        .get("x-forwarded-host")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(str::trim);
    let uri_authority = uri.authority().map(|a| a.as_str());
    [get(&header::HOST), uri_authority, forwarded_host]
        .into_iter()
        .flatten()
        .filter_map(Authority::parse)
        .any(|target| source.same_as(&target))
}

/// A `host[:port]` with the scheme it came with, if any, for comparing origins.
#[derive(Debug, PartialEq)]
struct Authority {
    scheme: Option<String>,
    host: String,
    port: Option<u16>,
}

impl Authority {
    /// The authority of an absolute URL (`Origin`, `Referer`); `None` for `null` or junk.
    fn of_url(url: &str) -> Option<Authority> {
        let (scheme, rest) = url.trim().split_once("://")?;
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = &rest[..end];
        let authority = authority.rsplit_once('@').map_or(authority, |(_, hostport)| hostport);
        let mut a = Authority::parse(authority)?;
        a.scheme = Some(scheme.to_ascii_lowercase());
        Some(a)
    }

    /// `host`, `host:port`, `[v6]` or `[v6]:port`.
    fn parse(s: &str) -> Option<Authority> {
        let s = s.trim();
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let (v6, after) = rest.split_once(']')?;
            let port = match after {
                "" => None,
                p => Some(p.strip_prefix(':')?),
            };
            (format!("[{v6}]"), port)
        } else {
            match s.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (s.to_string(), None),
            }
        };
        if host.is_empty() {
            return None;
        }
        let port = match port {
            None | Some("") => None,
            Some(p) => Some(p.parse().ok()?),
        };
        Some(Authority { scheme: None, host: host.to_ascii_lowercase(), port })
    }

    /// Whether `target` (a request's `Host`, without scheme) is this origin: same host, and
    /// the same port where an omitted one is the origin scheme's default.
    fn same_as(&self, target: &Authority) -> bool {
        let default = match self.scheme.as_deref() {
            Some("https") => Some(443),
            Some("http") => Some(80),
            _ => None,
        };
        let effective = |p: Option<u16>| p.or(default);
        self.host == target.host && effective(self.port) == effective(target.port)
    }
}

/// Checks auth and origin for a form post.
fn check_post(st: &AmState, headers: &HeaderMap, uri: &Uri) -> Result<(), Reject> {
    st.authorize(headers)?;
    if same_origin(headers, uri) {
        Ok(())
    } else {
        Err(Reject::new(StatusCode::FORBIDDEN, json_string("cross-site form posts are refused")))
    }
}

async fn create_silence(State(st): State<AmState>, headers: HeaderMap, uri: Uri, body: Bytes) -> Response {
    if let Err(reject) = check_post(&st, &headers, &uri) {
        return reject.into_response();
    }
    let mut form = SilenceForm::default();
    for (k, v) in form_urlencoded::parse(&body) {
        match k.as_ref() {
            "matchers" => form.matchers = v.into_owned(),
            "duration" => form.duration = v.into_owned(),
            "comment" => form.comment = v.into_owned(),
            "author" => form.author = v.into_owned(),
            _ => {}
        }
    }
    let silence = match form.to_silence(st.api.now_ms()) {
        Ok(s) => s,
        Err(e) => return html(StatusCode::BAD_REQUEST, render(&st, Some((&e, &form)))),
    };
    match set_silence(&st, silence).await {
        Ok(_) => see_page("../alertmanager"),
        Err(e) => html(StatusCode::BAD_REQUEST, render(&st, Some((&e.to_string(), &form)))),
    }
}

async fn expire_silence(
    State(st): State<AmState>,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
) -> Response {
    if let Err(reject) = check_post(&st, &headers, &uri) {
        return reject.into_response();
    }
    let silences = st.api.silences();
    let result = tokio::task::spawn_blocking(move || silences.expire(&id)).await;
    match result {
        Ok(Ok(())) => see_page("../../../alertmanager"),
        Ok(Err(e @ SilenceError::NotFound)) => {
            html(StatusCode::NOT_FOUND, render(&st, Some((&e.to_string(), &SilenceForm::default()))))
        }
        Ok(Err(e)) => html(
            StatusCode::INTERNAL_SERVER_ERROR,
            render(&st, Some((&e.to_string(), &SilenceForm::default()))),
        ),
        Err(e) => html(
            StatusCode::INTERNAL_SERVER_ERROR,
            render(&st, Some((&e.to_string(), &SilenceForm::default()))),
        ),
    }
}

/// The new-silence form's fields (kept to refill the form after an error).
#[derive(Debug, Default)]
struct SilenceForm {
    matchers: String,
    duration: String,
    comment: String,
    author: String,
}

impl SilenceForm {
    fn to_silence(&self, now_ms: i64) -> Result<Silence, String> {
        let matchers = parse_matchers(&self.matchers).map_err(|e| format!("matchers: {e}"))?;
        if matchers.is_empty() {
            return Err("matchers: at least one matcher required".into());
        }
        let duration = parse_duration(self.duration.trim()).map_err(|e| format!("duration: {e}"))?;
        if duration <= 0 {
            return Err("duration: must be positive".into());
        }
        if self.author.trim().is_empty() {
            return Err("author: required".into());
        }
        if self.comment.trim().is_empty() {
            return Err("comment: required".into());
        }
        Ok(Silence {
            id: String::new(),
            matchers,
            starts_at_ms: now_ms,
            ends_at_ms: now_ms.saturating_add(duration),
            updated_at_ms: 0,
            created_by: self.author.trim().to_string(),
            comment: self.comment.trim().to_string(),
        })
    }
}

/// Seconds-precision UTC time for people.
fn time_text(ms: i64) -> String {
    match chrono::DateTime::from_timestamp_millis(ms) {
        Some(t) if ms != 0 => t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        _ => "-".to_string(),
    }
}

fn labels_html(out: &mut String, labels: &harrier_telemetry::model::Labels) {
    for l in labels.iter() {
        let _ = write!(
            out,
            "<span class=\"label\">{}=&#34;{}&#34;</span> ",
            html_escape(l.name),
            html_escape(l.value)
        );
    }
}

const STYLE: &str = "body{font-family:sans-serif;margin:1.5em;color:#222}\
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}\
.label{background:#eef;border-radius:3px;padding:0 .3em;margin:.1em;display:inline-block;font-size:90%}\
.error{background:#fdd;border:1px solid #c00;padding:.5em}.ok{color:#070}.failed{color:#c00}\
.suppressed{color:#777}form.inline{display:inline}input[type=text]{width:28em}";

/// The whole page; `error` shows a failed form post with the form refilled.
fn render(st: &AmState, error: Option<(&str, &SilenceForm)>) -> String {
    let now = st.api.now_ms();
    let mut out = String::with_capacity(16 << 10);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Harrier Alertmanager</title>\
         <style>{STYLE}</style></head><body>\n<h1>Alertmanager</h1>\n<p>Now: {}</p>\n",
        html_escape(&time_text(now))
    );
    let form = match error {
        Some((message, form)) => {
            let _ = writeln!(out, "<p class=\"error\">Error: {}</p>", html_escape(message));
            form
        }
        None => &SilenceForm::default(),
    };
    render_groups(&mut out, &st.api.groups(), now);
    render_silences(&mut out, st, form);
    render_deliveries(&mut out, st);
    out.push_str("</body></html>\n");
    out
}

fn render_groups(out: &mut String, groups: &[GroupView], now: i64) {
    out.push_str("<h2>Alerts</h2>\n");
    let mut shown = 0;
    for g in groups {
        let firing: Vec<_> = g.alerts.iter().filter(|a| !a.alert.resolved_at(now)).collect();
        if firing.is_empty() {
            continue;
        }
        shown += 1;
        let _ = write!(out, "<h3>Receiver {} &mdash; group ", html_escape(&g.receiver));
        labels_html(out, &g.labels);
        if !g.muted_by.is_empty() {
            let _ = write!(out, "(muted by {})", html_escape(&g.muted_by.join(", ")));
        }
        out.push_str(
            "</h3>\n<table><tr><th>Labels</th><th>State</th><th>Since</th><th>Annotations</th></tr>\n",
        );
        for v in firing {
            out.push_str("<tr><td>");
            labels_html(out, &v.alert.labels);
            // As the API's /alerts/groups: an alert of a muted group is suppressed.
            let state_kind = if g.muted_by.is_empty() { v.status.state } else { AlertState::Suppressed };
            let mut state = state_kind.as_str().to_string();
            if !v.status.silenced_by.is_empty() {
                let _ = write!(state, " (silenced by {})", v.status.silenced_by.join(", "));
            }
            if !v.status.inhibited_by.is_empty() {
                let _ = write!(state, " (inhibited by {})", v.status.inhibited_by.join(", "));
            }
            let _ = write!(
                out,
                "</td><td class=\"{}\">{}</td><td>{}</td><td>",
                html_escape(state_kind.as_str()),
                html_escape(&state),
                html_escape(&time_text(v.alert.starts_at_ms))
            );
            for a in v.alert.annotations.iter() {
                let _ = write!(out, "<div><b>{}</b>: {}</div>", html_escape(a.name), html_escape(a.value));
            }
            out.push_str("</td></tr>\n");
        }
        out.push_str("</table>\n");
    }
    if shown == 0 {
        out.push_str("<p>No active alerts.</p>\n");
    }
}

fn render_silences(out: &mut String, st: &AmState, form: &SilenceForm) {
    out.push_str("<h2>Silences</h2>\n");
    let duration = if form.duration.is_empty() { "2h" } else { form.duration.as_str() };
    let _ = writeln!(
        out,
        "<form method=\"post\" action=\"alertmanager/silences\">\
         <p><label>Matchers <input type=\"text\" name=\"matchers\" placeholder=\"alertname=&#34;InstanceDown&#34;, env=~&#34;prod|stage&#34;\" value=\"{}\" required></label></p>\
         <p><label>Duration <input name=\"duration\" value=\"{}\" size=\"8\" required></label> \
         <label>Author <input name=\"author\" value=\"{}\" required></label></p>\
         <p><label>Comment <input type=\"text\" name=\"comment\" value=\"{}\" required></label></p>\
         <p><button type=\"submit\">Create silence</button></p></form>",
        html_escape(&form.matchers),
        html_escape(duration),
        html_escape(&form.author),
        html_escape(&form.comment)
    );
    let mut silences = st.api.silences().list();
    sort_silences(&mut silences);
    if silences.is_empty() {
        out.push_str("<p>No silences.</p>\n");
        return;
    }
    out.push_str(
        "<table><tr><th>ID</th><th>State</th><th>Matchers</th><th>Starts</th><th>Ends</th><th>Created by</th>\
         <th>Comment</th><th></th></tr>\n",
    );
    for (s, state) in &silences {
        let matchers: Vec<String> = s.matchers.iter().map(|m| m.to_string()).collect();
        let _ = write!(
            out,
            "<tr><td><code>{}</code></td><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>",
            html_escape(&s.id),
            html_escape(state.as_str()),
            html_escape(&matchers.join(", ")),
            html_escape(&time_text(s.starts_at_ms)),
            html_escape(&time_text(s.ends_at_ms)),
            html_escape(&s.created_by),
            html_escape(&s.comment),
        );
        if *state != SilenceState::Expired {
            // The ID comes from the store (a UUID); escaped all the same, and percent-encoded
            // as a path segment.
            let segment: String = form_urlencoded::byte_serialize(s.id.as_bytes()).collect();
            let _ = write!(
                out,
                "<form class=\"inline\" method=\"post\" action=\"alertmanager/silences/{}/expire\">\
                 <button type=\"submit\">Expire</button></form>",
                html_escape(&segment)
            );
        }
        out.push_str("</td></tr>\n");
    }
    out.push_str("</table>\n");
}

fn render_deliveries(out: &mut String, st: &AmState) {
    out.push_str("<h2>Recent notifications</h2>\n");
    let deliveries = st.api.recent_deliveries();
    if deliveries.is_empty() {
        out.push_str("<p>No notifications sent yet.</p>\n");
        return;
    }
    out.push_str(
        "<table><tr><th>Time</th><th>Receiver</th><th>Integration</th><th>Group</th><th>Firing</th>\
         <th>Resolved</th><th>Attempts</th><th>Status</th></tr>\n",
    );
    for d in deliveries.iter().take(MAX_DELIVERIES_SHOWN) {
        let (class, status) = match &d.error {
            None => ("ok", "delivered".to_string()),
            Some(e) => ("failed", format!("failed: {e}")),
        };
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}[{}]</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td>\
             <td class=\"{class}\">{}</td></tr>",
            html_escape(&time_text(d.at_ms)),
            html_escape(&d.receiver),
            html_escape(&d.integration),
            d.index,
            html_escape(&d.group_key),
            d.firing,
            d.resolved,
            d.attempts,
            html_escape(&status),
        );
    }
    out.push_str("</table>\n");
}
