//! The router's HTTP API: Prometheus's query API, the remote_write receiver, and the
//! lifecycle endpoints, with Prometheus's paths, parameters, JSON and status codes, so Grafana,
//! promtool, and Prometheus agents talk to the router as to a Prometheus server.
//!
//! - Queries ([`query`]): `/api/v1/query`, `/api/v1/query_range`, `/api/v1/series`,
//!   `/api/v1/labels`, `/api/v1/label/<name>/values`, by GET or POST (form). Evaluation goes
//!   through [`EmbeddedDatasource`] (blocking pool, bounded concurrency, timeouts).
//! - Ingest ([`write`]): `POST /api/v1/write`, remote_write 1.0, into an [`Ingester`].
//! - Rules ([`rules`]): `/api/v1/rules` and `/api/v1/alerts`.
//! - For Grafana: `/api/v1/status/buildinfo` (reports the Prometheus version whose API we
//!   follow, so Grafana enables the matching features), `/api/v1/metadata` and
//!   `/api/v1/query_exemplars` (always empty).
//! - Lifecycle, as the agent's: `/metrics` (`harrier_router_*`, OpenMetrics text),
//!   `/-/healthy`, `/-/ready`, `/-/reload` (POST or PUT; answers once the reload is done).
//!
//! [`json`] writes (and reads back) Prometheus's JSON; [`params`] parses its parameters.

pub mod alertmanager;
pub mod json;
pub mod params;
pub mod query;
pub mod rules;
pub mod write;

#[cfg(test)]
mod tests;

use self::write::{Ingester, WriteLimits};
use crate::datasource::EmbeddedDatasource;
use crate::rules::manager::RuleManager;
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::{mpsc, oneshot};

/// The Prometheus version whose query API the router follows (reported by buildinfo).
pub const PROMETHEUS_API_VERSION: &str = "3.9.0";

/// A reload request from the HTTP endpoint; the reply carries the outcome.
pub type ReloadRequest = oneshot::Sender<Result<(), String>>;

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    /// Query evaluation over the embedded store.
    pub queries: EmbeddedDatasource,
    /// Where remote_write samples go.
    pub ingester: Arc<dyn Ingester>,
    pub write_limits: WriteLimits,
    pub metrics: ApiMetrics,
    pub registry: Arc<Registry>,
    pub ready: Arc<AtomicBool>,
    /// `None`: `/-/reload` answers 503.
    pub reload: Option<mpsc::Sender<ReloadRequest>>,
    /// The rules `/api/v1/rules` and `/api/v1/alerts` show (`None`: none).
    pub rules: Option<Arc<RuleManager>>,
}

/// The router's API self-metrics.
#[derive(Clone)]
pub struct ApiMetrics {
    pub ingested_samples: Counter,
    pub rejected_samples: Family<[(&'static str, &'static str); 1], Counter>,
    pub write_requests: Family<[(&'static str, String); 1], Counter>,
    pub queries: Family<[(&'static str, &'static str); 2], Counter>,
    pub query_duration: Family<[(&'static str, &'static str); 1], Histogram>,
    pub store_series: Gauge,
    pub store_bytes: Gauge,
}

fn query_duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 4.0, 9))
}

impl ApiMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let m = ApiMetrics {
            ingested_samples: Counter::default(),
            rejected_samples: Family::default(),
            write_requests: Family::default(),
            queries: Family::default(),
            query_duration: Family::new_with_constructor(query_duration_histogram),
            store_series: Gauge::default(),
            store_bytes: Gauge::default(),
        };
        registry.register(
            "harrier_router_ingested_samples",
            "Samples received with remote_write and stored",
            m.ingested_samples.clone(),
        );
        registry.register(
            "harrier_router_rejected_samples",
            "Samples received with remote_write and not stored, by reason",
            m.rejected_samples.clone(),
        );
        registry.register(
            "harrier_router_write_requests",
            "remote_write requests received, by HTTP status code",
            m.write_requests.clone(),
        );
        registry.register(
            "harrier_router_queries",
            "Query API requests, by endpoint and outcome (success or the error type)",
            m.queries.clone(),
        );
        registry.register(
            "harrier_router_query_duration_seconds",
            "Time to answer query API requests, by endpoint",
            m.query_duration.clone(),
        );
        registry.register(
            "harrier_router_store_series",
            "Series in the embedded store",
            m.store_series.clone(),
        );
        registry.register(
            "harrier_router_store_bytes",
            "Bytes used by the embedded store",
            m.store_bytes.clone(),
        );
        m
    }
}

/// The routes, ready to serve.
pub fn router(state: ApiState) -> Router {
    let write_limit = state.write_limits.max_body_bytes;
    Router::new()
        .route("/api/v1/query", get(query::instant).post(query::instant))
        .route("/api/v1/query_range", get(query::range).post(query::range))
        .route("/api/v1/series", get(query::series).post(query::series))
        .route("/api/v1/labels", get(query::labels).post(query::labels))
        .route("/api/v1/label/{name}/values", get(query::label_values))
        .route("/api/v1/query_exemplars", get(empty_list).post(empty_list))
        .route("/api/v1/metadata", get(metadata))
        .route("/api/v1/status/buildinfo", get(buildinfo))
        .route("/api/v1/rules", get(rules::rules))
        .route("/api/v1/alerts", get(rules::alerts))
        .route("/api/v1/write", post(write::handle).layer(DefaultBodyLimit::max(write_limit)))
        .route("/metrics", get(metrics))
        .route("/-/healthy", get(healthy).head(healthy))
        .route("/-/ready", get(ready).head(ready))
        .route("/-/reload", post(reload).put(reload))
        .with_state(state)
}

/// A JSON answer with a status code.
pub(crate) fn json_response(status: u16, body: String) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

async fn buildinfo() -> Response {
    let mut data = String::from("{\"version\":");
    json::write_string(&mut data, PROMETHEUS_API_VERSION);
    data.push_str(",\"revision\":");
    json::write_string(&mut data, concat!("harrier-", env!("CARGO_PKG_VERSION")));
    data.push_str(",\"branch\":\"\",\"buildUser\":\"\",\"buildDate\":\"\",\"goVersion\":\"\"}");
    json_response(200, json::success(&data, &Default::default()))
}

async fn metadata() -> Response {
    json_response(200, json::success("{}", &Default::default()))
}

async fn empty_list() -> Response {
    json_response(200, json::success("[]", &Default::default()))
}

async fn metrics(State(state): State<ApiState>) -> Response {
    let stats = state.ingester.stats();
    state.metrics.store_series.set(i64::try_from(stats.series).unwrap_or(i64::MAX));
    state.metrics.store_bytes.set(i64::try_from(stats.bytes).unwrap_or(i64::MAX));
    let mut body = String::with_capacity(16 * 1024);
    match prometheus_client::encoding::text::encode(&mut body, &state.registry) {
        Ok(()) => {
            ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], body)
                .into_response()
        }
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("encoding metrics: {e}\n")).into_response(),
    }
}

async fn healthy() -> &'static str {
    "Harrier router is Healthy.\n"
}

async fn ready(State(state): State<ApiState>) -> Response {
    if state.ready.load(Ordering::Acquire) {
        (StatusCode::OK, "Harrier router is Ready.\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "Harrier router is not ready yet.\n").into_response()
    }
}

async fn reload(State(state): State<ApiState>) -> Response {
    let Some(sender) = state.reload else {
        return (StatusCode::SERVICE_UNAVAILABLE, "reload is not available\n").into_response();
    };
    let (tx, rx) = oneshot::channel();
    if sender.send(tx).await.is_err() {
        return (StatusCode::SERVICE_UNAVAILABLE, "router is shutting down\n").into_response();
    }
    match rx.await {
        Ok(Ok(())) => (StatusCode::OK, "config reloaded\n").into_response(),
        Ok(Err(e)) => {
            (StatusCode::INTERNAL_SERVER_ERROR, format!("failed to reload config: {e}\n")).into_response()
        }
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "router is shutting down\n").into_response(),
    }
}
