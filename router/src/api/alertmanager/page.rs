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
//! posts (`Sec-Fetch-Site: cross-site`, or an `Origin` whose host is not the request's `Host`),
//! so another site cannot create or expire silences through a logged-in browser.

use super::json::json_string;
use super::{AmState, Reject, set_silence, sort_silences};
use crate::api::params::parse_duration;
use crate::notify::silences::SilenceError;
use crate::notify::{GroupView, Silence, SilenceState};
use crate::route::matchers::parse_matchers;
use crate::template::builtins::html_escape;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
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

/// Refuses posts another site made a browser send.
fn same_origin(headers: &HeaderMap) -> bool {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if get("sec-fetch-site") == Some("cross-site") {
        return false;
    }
    // No Origin: not a browser's cross-origin form post. "null" (opaque origins) never
    // equals a host.
    let Some(origin) = get("origin") else { return true };
    let origin_host = origin.split_once("://").map(|(_, h)| h.trim_end_matches('/'));
    get("host").is_some_and(|host| origin_host == Some(host))
}

/// Checks auth and origin for a form post.
fn check_post(st: &AmState, headers: &HeaderMap) -> Result<(), Reject> {
    st.authorize(headers)?;
    if same_origin(headers) {
        Ok(())
    } else {
        Err(Reject::new(StatusCode::FORBIDDEN, json_string("cross-site form posts are refused")))
    }
}

async fn create_silence(State(st): State<AmState>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(reject) = check_post(&st, &headers) {
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

async fn expire_silence(State(st): State<AmState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(reject) = check_post(&st, &headers) {
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
        out.push_str(
            "</h3>\n<table><tr><th>Labels</th><th>State</th><th>Since</th><th>Annotations</th></tr>\n",
        );
        for v in firing {
            out.push_str("<tr><td>");
            labels_html(out, &v.alert.labels);
            let mut state = v.status.state.as_str().to_string();
            if !v.status.silenced_by.is_empty() {
                let _ = write!(state, " (silenced by {})", v.status.silenced_by.join(", "));
            }
            if !v.status.inhibited_by.is_empty() {
                let _ = write!(state, " (inhibited by {})", v.status.inhibited_by.join(", "));
            }
            if !v.status.muted_by.is_empty() {
                let _ = write!(state, " (muted by {})", v.status.muted_by.join(", "));
            }
            let _ = write!(
                out,
                "</td><td class=\"{}\">{}</td><td>{}</td><td>",
                html_escape(v.status.state.as_str()),
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
