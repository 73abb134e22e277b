//! Alertmanager's v2 HTTP API (`/api/v2/...`), so Prometheus, vmalert, amtool and Grafana use
//! the router as an Alertmanager, plus a small built-in web page ([`page`]).
//!
//! Endpoints, with the paths, parameters, status codes and JSON of Alertmanager's
//! `api/v2/openapi.yaml` and `api/v2/api.go` (shapes in [`json`]):
//!
//! - `POST /api/v2/alerts`: best effort, as upstream: empty labels are dropped, every valid
//!   alert is taken, and if any was invalid the answer is 400 with their errors joined by
//!   `"; "`. An unparsable body is 400 and a missing required field 422, with go-swagger's
//!   `{"code","message"}` body. Upstream first fills in unset times (`startsAt`: `endsAt`, else
//!   now; `endsAt`: now + `resolve_timeout`) and then validates; here the alerts are validated
//!   against those effective times ([`AlertmanagerApi::resolve_timeout`]), so an alert
//!   starting after now + `resolve_timeout` without an end is refused ("start time must be
//!   before end time") as upstream, but handed on with its times as sent: the receiving side
//!   ([`AlertmanagerApi::put_alerts`]) fills them in, once.
//! - `GET /api/v2/alerts`: `filter` (repeatable matchers, matched as upstream's
//!   `matchFilterLabels`), `receiver` (anchored regex), `active`, `silenced`, `inhibited`,
//!   `unprocessed` (booleans, default true, parsed as go-openapi's `ConvertBool`). Resolved
//!   alerts are left out; sorted by fingerprint.
//! - `GET /api/v2/alerts/groups`: the same filters plus `muted` (`false` drops the groups a
//!   time interval muted, [`crate::notify::GroupView::muted_by`]); groups left empty are
//!   dropped.
//! - `GET /api/v2/silences` (`filter`: silences having each matcher), sorted active (ending
//!   first), pending (starting first), expired (most recent first); `POST /api/v2/silences`
//!   (create or update, answers `{"silenceID"}`; a new silence beyond the store's limit is 400
//!   with Alertmanager's "exceeded maximum number of silences" message); `GET` and
//!   `DELETE /api/v2/silence/{id}`.
//!   DELETE of an unknown ID is 404 (Alertmanager 0.25 answered 500), of an expired one 200.
//! - `GET /api/v2/status` (cluster `disabled`, the config text, uptime) and
//!   `GET /api/v2/receivers`.
//!
//! Every answer carries `Cache-Control: no-store`, as upstream. Request bodies are limited
//! ([`MAX_ALERTS_BODY_BYTES`], [`MAX_SILENCE_BODY_BYTES`]); larger ones get 413.
//!
//! ## Auth
//! Alertmanager has no auth of its own. Here the mutating endpoints (POST alerts, POST
//! silences, DELETE silence, and the web page's forms) can require a bearer token or basic
//! auth ([`ApiAuth`]); reads stay open, as Alertmanager's. A failed check is 401 with a
//! `WWW-Authenticate` challenge. Credentials are compared in constant time.
//!
//! Writes to the silence store (which fsyncs) run on the blocking pool.
//!
//! ## Details and differences
//! - Time-interval muting is a property of an aggregation group (as of its last flush), as in
//!   Alertmanager 0.27+: in `/alerts/groups` each alert carries its group's `mutedBy` and is
//!   reported `suppressed` when that is not empty; `/alerts` reports `mutedBy: []` and a state
//!   from silences and inhibition only, as upstream (which passes no mutedBy there).
//! - Label and annotation names are checked as in Alertmanager's UTF-8 mode: any non-empty
//!   name is valid. `generatorURL` is not checked to be a URI (upstream: go-swagger's `uri`
//!   format, 422).
//! - `status.versionInfo` reports the router's version (`revision` `harrier-<version>`).
//! - Error texts of matcher parsing (`filter`) are this crate's, not Alertmanager's.

pub mod json;
pub mod page;

#[cfg(test)]
mod tests;

use self::json::{
    AlertGroupJson, ClusterStatusJson, ConfigJson, GettableAlert, GettableSilence, LabelsJson, PostableAlert,
    PostableSilence, ReceiverJson, StatusJson, VersionInfoJson, format_time, json_string, parse_time,
    swagger_error,
};
use crate::notify::silences::SilenceError;
use crate::notify::{Alert, AlertState, AlertView, AlertmanagerApi, Silence, SilenceState};
use crate::route::matchers::{MatchType, Matcher, MatcherError, anchored, parse_matcher};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use harrier_telemetry::model::Labels;
use regex::Regex;
use std::sync::Arc;

/// Largest `POST /api/v2/alerts` body (Prometheus sends at most a few MB per batch).
pub const MAX_ALERTS_BODY_BYTES: usize = 8 << 20;
/// Largest `POST /api/v2/silences` body.
pub const MAX_SILENCE_BODY_BYTES: usize = 1 << 20;

/// Who may use the mutating endpoints.
#[derive(Clone, PartialEq, Eq)]
pub enum ApiAuth {
    /// No check (Alertmanager's behaviour).
    None,
    /// `Authorization: Bearer <token>`.
    Bearer { token: String },
    /// `Authorization: Basic base64(user:password)`.
    Basic { username: String, password: String },
}

impl std::fmt::Debug for ApiAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApiAuth::None => write!(f, "ApiAuth::None"),
            ApiAuth::Bearer { .. } => write!(f, "ApiAuth::Bearer(<secret>)"),
            ApiAuth::Basic { username, .. } => write!(f, "ApiAuth::Basic({username:?}, <secret>)"),
        }
    }
}

/// Why credentials file contents are not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiAuthError {
    #[error("the credentials file is empty")]
    Empty,
    #[error("the basic auth credentials file must hold one line `username:password`")]
    NotUserPassword,
}

impl ApiAuth {
    /// Requires `Authorization: Bearer <token>`. An empty token admits nobody.
    pub fn bearer(token: impl Into<String>) -> ApiAuth {
        ApiAuth::Bearer { token: token.into() }
    }

    /// Requires basic auth with these credentials. An empty username admits nobody.
    pub fn basic(username: impl Into<String>, password: impl Into<String>) -> ApiAuth {
        ApiAuth::Basic { username: username.into(), password: password.into() }
    }

    /// A bearer token from a token file's contents (surrounding whitespace, such as the final
    /// newline, is not part of the token).
    pub fn bearer_from_file_contents(contents: &str) -> Result<ApiAuth, ApiAuthError> {
        let token = contents.trim();
        if token.is_empty() {
            return Err(ApiAuthError::Empty);
        }
        Ok(ApiAuth::Bearer { token: token.to_string() })
    }

    /// Basic auth from a file holding `username:password` (one line; the password may hold
    /// `:`; a final newline is ignored).
    pub fn basic_from_file_contents(contents: &str) -> Result<ApiAuth, ApiAuthError> {
        let line = contents.trim_end_matches(['\n', '\r']);
        if line.trim().is_empty() {
            return Err(ApiAuthError::Empty);
        }
        match line.split_once(':') {
            Some((user, password)) if !user.is_empty() && !line.contains('\n') => {
                Ok(ApiAuth::Basic { username: user.to_string(), password: password.to_string() })
            }
            _ => Err(ApiAuthError::NotUserPassword),
        }
    }

    /// Whether the request's `Authorization` header satisfies this policy.
    pub fn allows(&self, headers: &HeaderMap) -> bool {
        let header = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or("");
        let (scheme, credentials) = header.trim().split_once(' ').unwrap_or((header, ""));
        match self {
            ApiAuth::None => true,
            // Misconfigured (empty) credentials fail closed.
            ApiAuth::Bearer { token } if token.is_empty() => false,
            ApiAuth::Basic { username, .. } if username.is_empty() => false,
            ApiAuth::Bearer { token } => {
                scheme.eq_ignore_ascii_case("bearer")
                    && constant_time_eq(credentials.trim().as_bytes(), token.as_bytes())
            }
            ApiAuth::Basic { username, password } => {
                if !scheme.eq_ignore_ascii_case("basic") {
                    return false;
                }
                let Some(decoded) = base64_decode(credentials.trim()) else { return false };
                let expected = [username.as_bytes(), b":", password.as_bytes()].concat();
                constant_time_eq(&decoded, &expected)
            }
        }
    }

    /// The 401 answer for a request that [`ApiAuth::allows`] refused.
    fn challenge(&self) -> Reject {
        let challenge = match self {
            ApiAuth::Basic { .. } => "Basic realm=\"harrier\", charset=\"UTF-8\"",
            ApiAuth::Bearer { .. } | ApiAuth::None => "Bearer realm=\"harrier\"",
        };
        Reject {
            status: StatusCode::UNAUTHORIZED,
            body: json_string("unauthorized"),
            challenge: Some(challenge),
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for (i, &x) in a.iter().enumerate() {
        diff |= usize::from(x ^ b.get(i).copied().unwrap_or(!x));
    }
    diff == 0
}

/// Standard base64 (with or without padding); `None` when malformed or not canonical.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // Leftover bits must be zero padding (canonical encoding); one lone character is no byte.
    if acc != 0 || bits >= 6 {
        return None;
    }
    Some(out)
}

/// What the handlers share.
#[derive(Clone)]
pub(crate) struct AmState {
    pub(crate) api: Arc<dyn AlertmanagerApi>,
    pub(crate) auth: Arc<ApiAuth>,
}

impl AmState {
    /// `Err(401 response)` when the request may not change anything.
    pub(crate) fn authorize(&self, headers: &HeaderMap) -> Result<(), Reject> {
        if self.auth.allows(headers) { Ok(()) } else { Err(self.auth.challenge()) }
    }
}

/// The v2 API's routes and the web page, ready to merge into the router's server.
pub fn routes(api: Arc<dyn AlertmanagerApi>, auth: ApiAuth) -> Router {
    let state = AmState { api, auth: Arc::new(auth) };
    Router::new()
        .route(
            "/api/v2/alerts",
            get(get_alerts).post(post_alerts).layer(DefaultBodyLimit::max(MAX_ALERTS_BODY_BYTES)),
        )
        .route("/api/v2/alerts/groups", get(get_alert_groups))
        .route(
            "/api/v2/silences",
            get(get_silences).post(post_silences).layer(DefaultBodyLimit::max(MAX_SILENCE_BODY_BYTES)),
        )
        .route("/api/v2/silence/{id}", get(get_silence).delete(delete_silence))
        .route("/api/v2/status", get(get_status))
        .route("/api/v2/receivers", get(get_receivers))
        .merge(page::routes())
        .with_state(state)
}

/// A JSON answer with upstream's `Cache-Control: no-store`.
fn api_json(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json"), (header::CACHE_CONTROL, "no-store")], body)
        .into_response()
}

fn api_empty(status: StatusCode) -> Response {
    (status, [(header::CACHE_CONTROL, "no-store")]).into_response()
}

fn to_json<T: serde::Serialize>(value: &T) -> Response {
    match serde_json::to_string(value) {
        Ok(body) => api_json(StatusCode::OK, body),
        Err(e) => api_json(StatusCode::INTERNAL_SERVER_ERROR, json_string(&e.to_string())),
    }
}

/// An error answer: a status and a JSON body (and the auth challenge of a 401).
#[derive(Debug)]
pub(crate) struct Reject {
    status: StatusCode,
    body: String,
    challenge: Option<&'static str>,
}

impl IntoResponse for Reject {
    fn into_response(self) -> Response {
        let mut resp = api_json(self.status, self.body);
        if let Some(challenge) = self.challenge {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
        }
        resp
    }
}

impl Reject {
    fn new(status: StatusCode, body: String) -> Reject {
        Reject { status, body, challenge: None }
    }
}

fn bad_request(message: &str) -> Reject {
    Reject::new(StatusCode::BAD_REQUEST, json_string(message))
}

fn unprocessable(code: u16, message: &str) -> Reject {
    Reject::new(StatusCode::UNPROCESSABLE_ENTITY, swagger_error(code, message))
}

/// The query parameters of a GET.
struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    fn parse(raw: Option<String>) -> Query {
        let raw = raw.unwrap_or_default();
        Query { pairs: form_urlencoded::parse(raw.as_bytes()).into_owned().collect() }
    }

    fn all(&self, name: &str) -> impl Iterator<Item = &str> {
        self.pairs.iter().filter(move |(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    fn first(&self, name: &str) -> Option<&str> {
        self.all(name).next()
    }

    /// A boolean as go-openapi's `swag.ConvertBool` reads it; `default` when absent or empty.
    fn flag(&self, name: &str, default: bool) -> bool {
        match self.first(name) {
            None | Some("") => default,
            Some(v) => {
                matches!(
                    v.to_ascii_lowercase().as_str(),
                    "true" | "1" | "yes" | "ok" | "y" | "on" | "selected" | "checked" | "t" | "enabled"
                )
            }
        }
    }

    /// The `filter` matchers (each one matcher, as upstream's `parseFilter`).
    fn filter(&self) -> Result<Vec<Matcher>, Reject> {
        self.all("filter").map(|f| parse_matcher(f).map_err(|e| bad_request(&e.to_string()))).collect()
    }

    /// The `receiver` regex, anchored.
    fn receiver(&self) -> Result<Option<Regex>, Reject> {
        match self.first("receiver") {
            None => Ok(None),
            Some(r) => anchored(r)
                .map(Some)
                .map_err(|e| bad_request(&format!("failed to parse receiver param: {e}"))),
        }
    }
}

/// Upstream's `matchFilterLabels`: an `=`/`=~` matcher with an empty value also accepts a
/// missing label, a `!=`/`!~` one with an empty value accepts a present label.
pub fn matches_filter(matchers: &[Matcher], labels: &Labels) -> bool {
    matchers.iter().all(|m| {
        let value = labels.get(&m.name);
        match m.op {
            MatchType::NotEqual | MatchType::NotRegexp if m.value.is_empty() && value.is_some() => true,
            MatchType::Equal | MatchType::Regexp if m.value.is_empty() && value.is_none() => true,
            _ => m.matches(value.unwrap_or("")),
        }
    })
}

/// Which alerts a GET shows (upstream's `alertFilter`).
struct AlertFilter {
    matchers: Vec<Matcher>,
    /// `receiver`: an anchored regex the receiver name must match.
    receiver: Option<Regex>,
    active: bool,
    silenced: bool,
    inhibited: bool,
    unprocessed: bool,
}

impl AlertFilter {
    fn from_query(q: &Query) -> Result<AlertFilter, Reject> {
        Ok(AlertFilter {
            matchers: q.filter()?,
            receiver: q.receiver()?,
            active: q.flag("active", true),
            silenced: q.flag("silenced", true),
            inhibited: q.flag("inhibited", true),
            unprocessed: q.flag("unprocessed", true),
        })
    }

    fn keeps_receiver(&self, name: &str) -> bool {
        self.receiver.as_ref().is_none_or(|re| re.is_match(name))
    }

    fn keeps(&self, v: &AlertView, now_ms: i64) -> bool {
        let a = &v.alert;
        if a.ends_at_ms != 0 && a.ends_at_ms < now_ms {
            return false;
        }
        if !self.active && v.status.state == AlertState::Active {
            return false;
        }
        if !self.unprocessed && v.status.state == AlertState::Unprocessed {
            return false;
        }
        if !self.silenced && !v.status.silenced_by.is_empty() {
            return false;
        }
        if !self.inhibited && !v.status.inhibited_by.is_empty() {
            return false;
        }
        matches_filter(&self.matchers, &a.labels)
    }
}

async fn get_alerts(State(st): State<AmState>, RawQuery(raw): RawQuery) -> Response {
    let filter = match AlertFilter::from_query(&Query::parse(raw)) {
        Ok(f) => f,
        Err(reject) => return reject.into_response(),
    };
    let now = st.api.now_ms();
    let mut alerts: Vec<AlertView> = st
        .api
        .alerts()
        .into_iter()
        .filter(|v| filter.receiver.is_none() || v.receivers.iter().any(|r| filter.keeps_receiver(r)))
        .filter(|v| filter.keeps(v, now))
        .collect();
    alerts.sort_by_key(|v| v.fingerprint);
    to_json(&alerts.iter().map(GettableAlert::new).collect::<Vec<_>>())
}

async fn get_alert_groups(State(st): State<AmState>, RawQuery(raw): RawQuery) -> Response {
    let q = Query::parse(raw);
    let filter = match AlertFilter::from_query(&q) {
        Ok(f) => f,
        Err(reject) => return reject.into_response(),
    };
    let muted = q.flag("muted", true);
    let now = st.api.now_ms();
    let groups = st.api.groups();
    let mut out = Vec::with_capacity(groups.len());
    for g in &groups {
        if !filter.keeps_receiver(&g.receiver) {
            continue;
        }
        if !muted && !g.muted_by.is_empty() {
            continue;
        }
        let alerts: Vec<GettableAlert> = g
            .alerts
            .iter()
            .filter(|v| filter.keeps(v, now))
            .map(|v| GettableAlert::in_group(v, &g.muted_by))
            .collect();
        if alerts.is_empty() {
            continue;
        }
        out.push(AlertGroupJson {
            alerts,
            labels: LabelsJson(&g.labels),
            receiver: ReceiverJson { name: &g.receiver },
        });
    }
    to_json(&out)
}

/// A posted alert turned into the router's alert (empty label values dropped), or the time
/// that does not parse. Times not sent stay unset (`0`) and `updated_at` is left to the
/// receiving side, which fills them in ([`AlertmanagerApi::put_alerts`]).
fn alert_from_postable(p: PostableAlert) -> Result<Alert, String> {
    let starts = p.starts_at.as_deref().map(parse_time).transpose()?.unwrap_or(0);
    let ends = p.ends_at.as_deref().map(parse_time).transpose()?.unwrap_or(0);
    let labels: Vec<(String, String)> =
        p.labels.unwrap_or_default().into_iter().filter(|(_, v)| !v.is_empty()).collect();
    let annotations: Vec<(String, String)> = p.annotations.unwrap_or_default().into_iter().collect();
    Ok(Alert {
        labels: Labels::from_pairs(labels),
        annotations: Labels::from_pairs(annotations),
        starts_at_ms: starts,
        ends_at_ms: ends,
        generator_url: p.generator_url.unwrap_or_default(),
        updated_at_ms: 0,
        timeout: false,
    })
}

/// Upstream's `Alert.Validate` (its checks, order and messages) on the times the alert will
/// have once the receiving side fills in the unset ones: start = `startsAt`, else `endsAt`,
/// else now; end = `endsAt`, else now + `resolve_timeout`.
fn validate_alert(a: &Alert, now_ms: i64, resolve_timeout_ms: i64) -> Result<(), String> {
    let starts = match (a.starts_at_ms, a.ends_at_ms) {
        (0, 0) => now_ms,
        (0, ends) => ends,
        (starts, _) => starts,
    };
    let ends = if a.ends_at_ms == 0 { now_ms.saturating_add(resolve_timeout_ms) } else { a.ends_at_ms };
    if ends < starts {
        return Err("start time must be before end time".into());
    }
    if a.labels.is_empty() {
        return Err("at least one label pair required".into());
    }
    if let Some(l) = a.labels.iter().find(|l| l.name.is_empty()) {
        return Err(format!("invalid label set: invalid name {}", crate::template::gofmt::quote(l.name)));
    }
    if let Some(l) = a.annotations.iter().find(|l| l.name.is_empty()) {
        return Err(format!("invalid annotations: invalid name {}", crate::template::gofmt::quote(l.name)));
    }
    Ok(())
}

async fn post_alerts(State(st): State<AmState>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(reject) = st.authorize(&headers) {
        return reject.into_response();
    }
    let parse_error = |e: &dyn std::fmt::Display| {
        api_json(
            StatusCode::BAD_REQUEST,
            swagger_error(400, &format!("parsing alerts body from \"\" failed, because {e}")),
        )
    };
    let posted: Vec<PostableAlert> = match serde_json::from_slice(&body) {
        Ok(p) => p,
        Err(e) => return parse_error(&e),
    };
    // As go-swagger: times are parsed with the body (400), then required fields (422).
    let missing_labels = posted.iter().position(|p| p.labels.is_none());
    let mut valid = Vec::with_capacity(posted.len());
    let mut errors = Vec::new();
    let mut converted = Vec::with_capacity(posted.len());
    for p in posted {
        match alert_from_postable(p) {
            Ok(a) => converted.push(a),
            Err(e) => return parse_error(&e),
        }
    }
    if let Some(i) = missing_labels {
        return unprocessable(602, &format!("{i}.labels in body is required")).into_response();
    }
    let now = st.api.now_ms();
    let resolve_timeout_ms = i64::try_from(st.api.resolve_timeout().as_millis()).unwrap_or(i64::MAX);
    for a in converted {
        match validate_alert(&a, now, resolve_timeout_ms) {
            Ok(()) => valid.push(a),
            Err(e) => errors.push(e),
        }
    }
    if !valid.is_empty() {
        st.api.put_alerts(valid);
    }
    if errors.is_empty() {
        api_empty(StatusCode::OK)
    } else {
        bad_request(&errors.join("; ")).into_response()
    }
}

/// Upstream's `SortSilences`: active (ending first), pending (starting first), expired (most
/// recently ended first).
pub fn sort_silences(silences: &mut [(Silence, SilenceState)]) {
    let rank = |s: SilenceState| match s {
        SilenceState::Active => 1,
        SilenceState::Pending => 2,
        SilenceState::Expired => 3,
    };
    silences.sort_by(|(a, sa), (b, sb)| {
        rank(*sa).cmp(&rank(*sb)).then_with(|| match sa {
            SilenceState::Active => a.ends_at_ms.cmp(&b.ends_at_ms),
            SilenceState::Pending => a.starts_at_ms.cmp(&b.starts_at_ms),
            SilenceState::Expired => b.ends_at_ms.cmp(&a.ends_at_ms),
        })
    });
}

async fn get_silences(State(st): State<AmState>, RawQuery(raw): RawQuery) -> Response {
    let q = Query::parse(raw);
    let filter = match q.filter() {
        Ok(f) => f,
        Err(reject) => return reject.into_response(),
    };
    let mut silences = st.api.silences().list_matching(&filter);
    sort_silences(&mut silences);
    to_json(&silences.iter().map(|(s, state)| GettableSilence::new(s, *state)).collect::<Vec<_>>())
}

/// go-openapi's `uuid` format check.
fn is_uuid(s: &str) -> bool {
    let hex: String = s.chars().filter(|&c| c != '-').collect();
    let hyphens_ok = match s.len() {
        36 => s.char_indices().all(|(i, c)| (c == '-') == matches!(i, 8 | 13 | 18 | 23)),
        32 => true,
        _ => false,
    };
    hyphens_ok && hex.len() == 32 && hex.chars().all(|c| c.is_ascii_hexdigit())
}

fn check_silence_id(id: &str) -> Result<(), Reject> {
    if is_uuid(id) {
        Ok(())
    } else {
        Err(unprocessable(601, &format!("silenceID in path must be of type uuid: {}", json_string(id))))
    }
}

async fn get_silence(State(st): State<AmState>, Path(id): Path<String>) -> Response {
    if let Err(reject) = check_silence_id(&id) {
        return reject.into_response();
    }
    match st.api.silences().get(&id) {
        Some((s, state)) => to_json(&GettableSilence::new(&s, state)),
        None => api_empty(StatusCode::NOT_FOUND),
    }
}

async fn delete_silence(State(st): State<AmState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(reject) = st.authorize(&headers) {
        return reject.into_response();
    }
    if let Err(reject) = check_silence_id(&id) {
        return reject.into_response();
    }
    let silences = st.api.silences();
    match tokio::task::spawn_blocking(move || silences.expire(&id)).await {
        Ok(Ok(())) => api_empty(StatusCode::OK),
        Ok(Err(SilenceError::NotFound)) => api_empty(StatusCode::NOT_FOUND),
        Ok(Err(e)) => api_json(StatusCode::INTERNAL_SERVER_ERROR, json_string(&e.to_string())),
        Err(e) => api_json(StatusCode::INTERNAL_SERVER_ERROR, json_string(&e.to_string())),
    }
}

/// A posted silence turned into the store's silence, or the error answer (go-swagger's
/// required-field checks in its order, then upstream's conversion).
fn silence_from_postable(p: PostableSilence) -> Result<Silence, Reject> {
    let required = |field: &str| unprocessable(602, &format!("{field} in body is required"));
    let comment = p.comment.ok_or_else(|| required("comment"))?;
    let created_by = p.created_by.ok_or_else(|| required("createdBy"))?;
    let ends = p.ends_at.ok_or_else(|| required("endsAt"))?;
    let posted_matchers = p.matchers.ok_or_else(|| required("matchers"))?;
    if posted_matchers.is_empty() {
        return Err(unprocessable(612, "matchers in body should have at least 1 items"));
    }
    let mut parts = Vec::with_capacity(posted_matchers.len());
    for (i, m) in posted_matchers.into_iter().enumerate() {
        let is_regex = m.is_regex.ok_or_else(|| required(&format!("matchers.{i}.isRegex")))?;
        let name = m.name.ok_or_else(|| required(&format!("matchers.{i}.name")))?;
        let value = m.value.ok_or_else(|| required(&format!("matchers.{i}.value")))?;
        parts.push((name, value, is_regex, m.is_equal.unwrap_or(true)));
    }
    let starts = p.starts_at.ok_or_else(|| required("startsAt"))?;
    let parse = |s: &str| {
        parse_time(s).map_err(|e| {
            Reject::new(
                StatusCode::BAD_REQUEST,
                swagger_error(400, &format!("parsing silence body from \"\" failed, because {e}")),
            )
        })
    };
    let (starts_at_ms, ends_at_ms) = (parse(&starts)?, parse(&ends)?);
    let mut matchers = Vec::with_capacity(parts.len());
    for (i, (name, value, is_regex, is_equal)) in parts.into_iter().enumerate() {
        let op = match (is_equal, is_regex) {
            (true, false) => MatchType::Equal,
            (false, false) => MatchType::NotEqual,
            (true, true) => MatchType::Regexp,
            (false, true) => MatchType::NotRegexp,
        };
        let m = Matcher::new(&name, op, &value).map_err(|e| {
            let why = match e {
                MatcherError::BadRegex { value, message, .. } => {
                    format!("invalid regular expression {}: {message}", crate::template::gofmt::quote(&value))
                }
                other => other.to_string(),
            };
            bad_request(&format!("invalid silence: invalid label matcher {i}: {why}"))
        })?;
        matchers.push(m);
    }
    Ok(Silence {
        id: p.id.unwrap_or_default(),
        matchers,
        starts_at_ms,
        ends_at_ms,
        updated_at_ms: 0,
        created_by,
        comment,
    })
}

async fn post_silences(State(st): State<AmState>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(reject) = st.authorize(&headers) {
        return reject.into_response();
    }
    let posted: PostableSilence = match serde_json::from_slice(&body) {
        Ok(p) => p,
        Err(e) => {
            return api_json(
                StatusCode::BAD_REQUEST,
                swagger_error(400, &format!("parsing silence body from \"\" failed, because {e}")),
            );
        }
    };
    let silence = match silence_from_postable(posted) {
        Ok(s) => s,
        Err(reject) => return reject.into_response(),
    };
    if silence.starts_at_ms >= silence.ends_at_ms {
        return bad_request("Failed to create silence: start time must be before end time").into_response();
    }
    if silence.ends_at_ms < st.api.now_ms() {
        return bad_request("Failed to create silence: end time can't be in the past").into_response();
    }
    match set_silence(&st, silence).await {
        Ok(id) => {
            #[derive(serde::Serialize)]
            struct Created {
                #[serde(rename = "silenceID")]
                silence_id: String,
            }
            to_json(&Created { silence_id: id })
        }
        Err(SilenceError::NotFound) => api_json(StatusCode::NOT_FOUND, json_string("silence not found")),
        Err(e @ (SilenceError::Invalid(_) | SilenceError::TooMany { .. })) => {
            bad_request(&e.to_string()).into_response()
        }
        Err(e @ (SilenceError::Io { .. } | SilenceError::State(_))) => {
            api_json(StatusCode::INTERNAL_SERVER_ERROR, json_string(&e.to_string()))
        }
    }
}

/// `Silences::set` on the blocking pool (it writes and fsyncs the silences file).
pub(crate) async fn set_silence(st: &AmState, silence: Silence) -> Result<String, SilenceError> {
    let silences = st.api.silences();
    tokio::task::spawn_blocking(move || silences.set(silence))
        .await
        .unwrap_or_else(|e| Err(SilenceError::Invalid(format!("silence update did not complete: {e}"))))
}

/// The version the status endpoint reports: the router's own.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

async fn get_status(State(st): State<AmState>) -> Response {
    let original = st.api.config_text();
    let revision = format!("harrier-{VERSION}");
    to_json(&StatusJson {
        cluster: ClusterStatusJson { peers: [], status: "disabled" },
        config: ConfigJson { original: &original },
        uptime: format_time(st.api.started_at_ms()),
        version_info: VersionInfoJson {
            branch: "",
            build_date: "",
            build_user: "",
            go_version: "",
            revision: &revision,
            version: VERSION,
        },
    })
}

async fn get_receivers(State(st): State<AmState>) -> Response {
    let names = st.api.receivers();
    to_json(&names.iter().map(|n| ReceiverJson { name: n }).collect::<Vec<_>>())
}
