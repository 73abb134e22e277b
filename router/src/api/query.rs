//! The query endpoints, with Prometheus's parameter checks and messages (web/api/v1/api.go):
//! `/api/v1/query`, `/api/v1/query_range`, `/api/v1/series`, `/api/v1/labels` and
//! `/api/v1/label/<name>/values`. GET reads the URL query; POST also reads an
//! `application/x-www-form-urlencoded` body. Every answer is counted and timed by endpoint.
//!
//! Instant and range queries evaluate through [`EmbeddedDatasource`](crate::datasource::EmbeddedDatasource);
//! series and label lookups read the store directly, on the blocking pool, merging the results
//! of several `match[]` selectors.

use super::params::{self, Form, MAX_TIME_MS, MIN_TIME_MS, ParamError};
use super::{ApiState, json, json_response};
use crate::api::json::ErrorType;
use crate::datasource::DatasourceError;
use crate::promql::{Annotations, QueryResult};
use crate::store::{Matcher, Queryable, StoreError};
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, header};
use axum::response::Response;
use harrier_telemetry::model::Labels;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Prometheus's limit on the points of one series in a range query.
pub const MAX_POINTS_PER_SERIES: i64 = 11_000;

/// An API error: its type and message.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub error_type: ErrorType,
    pub message: String,
}

impl From<ParamError> for ApiError {
    fn from(e: ParamError) -> Self {
        ApiError { error_type: ErrorType::BadData, message: e.0 }
    }
}

impl From<DatasourceError> for ApiError {
    fn from(e: DatasourceError) -> Self {
        ApiError { error_type: e.error_type(), message: e.to_string() }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError { error_type: ErrorType::Internal, message: e.to_string() }
    }
}

/// The request's form values: the URL query, plus the body of a form POST.
fn form(query: Option<String>, headers: &HeaderMap, body: &Bytes) -> Form {
    let is_form = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| {
        v.trim_start().to_ascii_lowercase().starts_with("application/x-www-form-urlencoded")
    });
    Form::parse(query.as_deref(), is_form.then_some(body.as_ref()))
}

/// Counts and times an answer, and turns it into a response.
fn respond(
    state: &ApiState,
    endpoint: &'static str,
    started: Instant,
    outcome: Result<String, ApiError>,
) -> Response {
    let elapsed = started.elapsed().as_secs_f64();
    state.metrics.query_duration.get_or_create(&[("endpoint", endpoint)]).observe(elapsed);
    match outcome {
        Ok(body) => {
            state.metrics.queries.get_or_create(&[("endpoint", endpoint), ("status", "success")]).inc();
            json_response(200, body)
        }
        Err(e) => {
            state
                .metrics
                .queries
                .get_or_create(&[("endpoint", endpoint), ("status", e.error_type.as_str())])
                .inc();
            json_response(e.error_type.http_status(), json::error(e.error_type, &e.message))
        }
    }
}

fn timeout_param(form: &Form) -> Result<Option<Duration>, ParamError> {
    match form.value("timeout") {
        "" => Ok(None),
        s => {
            let ms = params::parse_duration(s).map_err(|e| ParamError::invalid("timeout", e))?;
            Ok(Some(Duration::from_millis(u64::try_from(ms).unwrap_or(0))))
        }
    }
}

/// `GET|POST /api/v1/query`.
pub async fn instant(
    State(state): State<ApiState>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    let form = form(q, &headers, &body);
    let outcome = run_instant(&state, &form).await.map(|r| json::query_success(&r));
    respond(&state, "query", started, outcome)
}

async fn run_instant(state: &ApiState, form: &Form) -> Result<QueryResult, ApiError> {
    let t = params::time_param(form, "time", harrier_telemetry::model::now_ms())?;
    let timeout = timeout_param(form)?;
    Ok(state.queries.instant(form.value("query"), t, timeout).await?)
}

/// `GET|POST /api/v1/query_range`.
pub async fn range(
    State(state): State<ApiState>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    let form = form(q, &headers, &body);
    let outcome = run_range(&state, &form).await.map(|r| json::query_success(&r));
    respond(&state, "query_range", started, outcome)
}

/// The checks of Prometheus's `queryRange`, in its order.
pub fn range_params(form: &Form) -> Result<(i64, i64, i64), ApiError> {
    let start = params::parse_time(form.value("start")).map_err(|e| ParamError::invalid("start", e))?;
    let end = params::parse_time(form.value("end")).map_err(|e| ParamError::invalid("end", e))?;
    if end < start {
        return Err(ParamError::invalid("end", "end timestamp must not be before start time").into());
    }
    let step = params::parse_duration(form.value("step")).map_err(|e| ParamError::invalid("step", e))?;
    if step <= 0 {
        return Err(ParamError::invalid(
            "step",
            "zero or negative query resolution step widths are not accepted. Try a positive integer",
        )
        .into());
    }
    if (end - start) / step > MAX_POINTS_PER_SERIES {
        return Err(ApiError {
            error_type: ErrorType::BadData,
            message: "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)".into(),
        });
    }
    Ok((start, end, step))
}

async fn run_range(state: &ApiState, form: &Form) -> Result<QueryResult, ApiError> {
    let (start, end, step) = range_params(form)?;
    let timeout = timeout_param(form)?;
    Ok(state.queries.range(form.value("query"), start, end, step, timeout).await?)
}

/// Runs a store lookup on the blocking pool.
async fn blocking<T: Send + 'static>(
    storage: &Arc<dyn Queryable>,
    f: impl FnOnce(&dyn Queryable) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    let storage = Arc::clone(storage);
    match tokio::task::spawn_blocking(move || f(storage.as_ref())).await {
        Ok(result) => Ok(result?),
        Err(e) => Err(ApiError { error_type: ErrorType::Internal, message: e.to_string() }),
    }
}

/// Truncates to `limit` (0: none), with Prometheus's warning when it did.
fn apply_limit<T>(items: &mut Vec<T>, limit: usize, annotations: &mut Annotations) {
    if limit > 0 && items.len() > limit {
        items.truncate(limit);
        annotations.warn("results truncated due to limit");
    }
}

/// `GET|POST /api/v1/series`.
pub async fn series(
    State(state): State<ApiState>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    let form = form(q, &headers, &body);
    let outcome = run_series(&state, &form).await;
    respond(&state, "series", started, outcome)
}

async fn run_series(state: &ApiState, form: &Form) -> Result<String, ApiError> {
    let selectors = form.all("match[]");
    if selectors.is_empty() {
        return Err(ParamError("no match[] parameter provided".into()).into());
    }
    let limit = params::limit_param(form)?;
    let start = params::time_param(form, "start", MIN_TIME_MS)?;
    let end = params::time_param(form, "end", MAX_TIME_MS)?;
    let sets = params::parse_match_params(&selectors)?;
    let mut found: Vec<Labels> = blocking(state.queries.storage(), move |storage| {
        let mut all = BTreeSet::new();
        for set in &sets {
            all.extend(storage.series(set, start, end)?);
        }
        Ok(all.into_iter().collect())
    })
    .await?;
    let mut annotations = Annotations::default();
    apply_limit(&mut found, limit, &mut annotations);
    let mut data = String::from("[");
    for (i, labels) in found.iter().enumerate() {
        if i > 0 {
            data.push(',');
        }
        json::write_labels(&mut data, labels, false);
    }
    data.push(']');
    Ok(json::success(&data, &annotations))
}

/// Looks label names or values up over the union of the matcher sets (all series when none).
async fn lookup_strings(
    state: &ApiState,
    form: &Form,
    lookup: impl Fn(&dyn Queryable, &[Matcher], i64, i64) -> Result<Vec<String>, StoreError> + Send + 'static,
) -> Result<String, ApiError> {
    let limit = params::limit_param(form)?;
    let start = params::time_param(form, "start", MIN_TIME_MS)?;
    let end = params::time_param(form, "end", MAX_TIME_MS)?;
    let selectors = form.all("match[]");
    let sets = if selectors.is_empty() { vec![Vec::new()] } else { params::parse_match_params(&selectors)? };
    let mut found: Vec<String> = blocking(state.queries.storage(), move |storage| {
        let mut all = BTreeSet::new();
        for set in &sets {
            all.extend(lookup(storage, set, start, end)?);
        }
        Ok(all.into_iter().collect())
    })
    .await?;
    let mut annotations = Annotations::default();
    apply_limit(&mut found, limit, &mut annotations);
    let mut data = String::new();
    json::write_string_list(&mut data, &found);
    Ok(json::success(&data, &annotations))
}

/// `GET|POST /api/v1/labels`.
pub async fn labels(
    State(state): State<ApiState>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    let form = form(q, &headers, &body);
    let outcome = lookup_strings(&state, &form, |storage, matchers, start, end| {
        storage.label_names(matchers, start, end)
    })
    .await;
    respond(&state, "labels", started, outcome)
}

/// `GET /api/v1/label/<name>/values`. A name written in Prometheus's `U__` escaping (for
/// UTF-8 names in URLs) is unescaped first.
pub async fn label_values(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    let form = form(q, &headers, &body);
    let outcome = match unescape_label_name(&name) {
        Some(name) if !name.is_empty() => {
            lookup_strings(&state, &form, move |storage, matchers, start, end| {
                storage.label_values(&name, matchers, start, end)
            })
            .await
        }
        _ => {
            Err(ApiError { error_type: ErrorType::BadData, message: format!("invalid label name: {name:?}") })
        }
    };
    respond(&state, "label_values", started, outcome)
}

/// Prometheus's value-encoding escape (`U__` prefix, `_` for `__`, `_<hex>_` for any other
/// code point); names without the prefix are returned as they are. `None` when malformed.
pub fn unescape_label_name(name: &str) -> Option<String> {
    let Some(escaped) = name.strip_prefix("U__") else {
        return Some(name.to_string());
    };
    let mut out = String::with_capacity(escaped.len());
    let mut chars = escaped.chars();
    while let Some(c) = chars.next() {
        if c != '_' {
            out.push(c);
            continue;
        }
        let mut hex = String::new();
        loop {
            match chars.next() {
                Some('_') if hex.is_empty() => {
                    out.push('_');
                    break;
                }
                Some('_') => {
                    out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                    break;
                }
                Some(h) if h.is_ascii_hexdigit() => hex.push(h),
                _ => return None,
            }
        }
    }
    Some(out)
}
