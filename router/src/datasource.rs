//! Where rules (and the query API) get query results from: the [`Datasource`] interface and
//! its two implementations.
//!
//! - [`EmbeddedDatasource`]: our PromQL [`Engine`] over the embedded store (any
//!   [`Queryable`]). Evaluation is CPU-bound and synchronous, so it runs on tokio's blocking
//!   pool, behind a semaphore that bounds concurrent queries (Prometheus's
//!   `--query.max-concurrency`; later queries wait their turn, within their timeout). The engine
//!   options can be replaced on a config reload.
//! - [`RemoteDatasource`] (in [`remote`]): a Prometheus-compatible query API over HTTP
//!   (Prometheus, Thanos, Mimir, VictoriaMetrics, another Harrier), with Prometheus's client
//!   settings (basic auth, bearer token, TLS, headers).
//!
//! [`Datasource`] is object-safe (methods return boxed futures), so callers hold an
//! `Arc<dyn Datasource>` and do not care which one they have. Errors carry Prometheus's
//! `errorType` so a remote server's answer and our engine's errors read the same.

pub mod remote;
#[cfg(test)]
mod tests;

pub use self::remote::{RemoteDatasource, RemoteDatasourceConfig};

use crate::api::json::ErrorType;
use crate::promql::{Engine, EngineOptions, PromqlError, QueryResult};
use crate::store::Queryable;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::Semaphore;

/// A boxed, sendable future: what [`Datasource`] methods return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Something that evaluates PromQL: rules evaluate through this.
pub trait Datasource: Send + Sync {
    /// Evaluates `query` at `t_ms` (milliseconds).
    fn instant_query<'a>(
        &'a self,
        query: &'a str,
        t_ms: i64,
    ) -> BoxFuture<'a, Result<QueryResult, DatasourceError>>;

    /// Evaluates `query` at every `step_ms` from `start_ms` to `end_ms` (inclusive).
    fn range_query<'a>(
        &'a self,
        query: &'a str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> BoxFuture<'a, Result<QueryResult, DatasourceError>>;

    /// A short description for logs (`embedded` or the remote URL).
    fn describe(&self) -> String;
}

/// Why a query through a datasource failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DatasourceError {
    /// The query was refused or failed: our engine's error, or the remote's `errorType` and
    /// `error`.
    #[error("{message}")]
    Query { error_type: ErrorType, message: String },
    #[error("query to {url} timed out after {timeout:?}")]
    Timeout { url: String, timeout: Duration },
    #[error("cannot query {url}: {message}")]
    Transport { url: String, message: String },
    /// The remote answered with an HTTP error and no Prometheus error body.
    #[error("{url} answered HTTP {status}: {body}")]
    Http { url: String, status: u16, body: String },
    #[error("invalid response from {url}: {message}")]
    Decode { url: String, message: String },
    #[error("invalid remote datasource settings: {0}")]
    Config(String),
    #[error("query evaluation failed: {0}")]
    Internal(String),
}

impl DatasourceError {
    /// The Prometheus `errorType` this error is reported with.
    pub fn error_type(&self) -> ErrorType {
        match self {
            DatasourceError::Query { error_type, .. } => *error_type,
            DatasourceError::Timeout { .. } => ErrorType::Timeout,
            DatasourceError::Transport { .. } | DatasourceError::Http { .. } => ErrorType::Unavailable,
            DatasourceError::Decode { .. } | DatasourceError::Config(_) | DatasourceError::Internal(_) => {
                ErrorType::Internal
            }
        }
    }
}

impl From<PromqlError> for DatasourceError {
    /// Prometheus's mapping: a query that does not parse is bad data (`invalid parameter
    /// "query": …`), a timeout is a timeout, a storage failure internal, anything else an
    /// execution error.
    fn from(e: PromqlError) -> Self {
        let (error_type, message) = match &e {
            PromqlError::Parse { .. } => (ErrorType::BadData, format!("invalid parameter \"query\": {e}")),
            PromqlError::Timeout(_) => (ErrorType::Timeout, e.to_string()),
            PromqlError::Storage(_) => (ErrorType::Internal, e.to_string()),
            PromqlError::Eval(_) | PromqlError::TooManySamples(_) | PromqlError::Unsupported(_) => {
                (ErrorType::Execution, e.to_string())
            }
        };
        DatasourceError::Query { error_type, message }
    }
}

/// The embedded engine over a [`Queryable`].
#[derive(Clone)]
pub struct EmbeddedDatasource {
    storage: Arc<dyn Queryable>,
    engine: Arc<RwLock<Engine>>,
    concurrency: Arc<Semaphore>,
}

impl EmbeddedDatasource {
    /// `max_concurrency` queries evaluate at once (at least one); others wait.
    pub fn new(storage: Arc<dyn Queryable>, options: EngineOptions, max_concurrency: usize) -> Self {
        EmbeddedDatasource {
            storage,
            engine: Arc::new(RwLock::new(Engine::new(options))),
            concurrency: Arc::new(Semaphore::new(max_concurrency.max(1))),
        }
    }

    /// The storage queries evaluate on.
    pub fn storage(&self) -> &Arc<dyn Queryable> {
        &self.storage
    }

    /// The engine options in force.
    pub fn options(&self) -> EngineOptions {
        self.engine.read().unwrap_or_else(|p| p.into_inner()).options.clone()
    }

    /// Replaces the engine options (a config reload); queries already running keep theirs.
    pub fn set_options(&self, options: EngineOptions) {
        *self.engine.write().unwrap_or_else(|p| p.into_inner()) = Engine::new(options);
    }

    /// An instant query; `timeout` (when shorter than the engine's) bounds this one.
    pub async fn instant(
        &self,
        query: &str,
        t_ms: i64,
        timeout: Option<Duration>,
    ) -> Result<QueryResult, DatasourceError> {
        let query = query.to_string();
        self.evaluate(timeout, move |engine, storage| engine.instant_query(storage, &query, t_ms)).await
    }

    /// A range query; `timeout` (when shorter than the engine's) bounds this one.
    pub async fn range(
        &self,
        query: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
        timeout: Option<Duration>,
    ) -> Result<QueryResult, DatasourceError> {
        let query = query.to_string();
        self.evaluate(timeout, move |engine, storage| {
            engine.range_query(storage, &query, start_ms, end_ms, step_ms)
        })
        .await
    }

    /// Waits for a slot, then runs `eval` on the blocking pool with the effective timeout. The
    /// engine checks its own timeout while evaluating; the timer here answers the caller even
    /// if an evaluation overruns it (the evaluation then finishes in the background).
    async fn evaluate<F>(&self, timeout: Option<Duration>, eval: F) -> Result<QueryResult, DatasourceError>
    where
        F: FnOnce(&Engine, &dyn Queryable) -> Result<QueryResult, PromqlError> + Send + 'static,
    {
        let mut engine = self.engine.read().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(t) = timeout
            && !t.is_zero()
        {
            engine.options.timeout = engine.options.timeout.min(t);
        }
        let limit = engine.options.timeout;
        let deadline = tokio::time::Instant::now() + limit;
        let permit =
            match tokio::time::timeout_at(deadline, Arc::clone(&self.concurrency).acquire_owned()).await {
                Ok(Ok(permit)) => permit,
                Ok(Err(_)) => return Err(DatasourceError::Internal("the query engine is shut down".into())),
                Err(_) => return Err(PromqlError::Timeout("query queue").into()),
            };
        let storage = Arc::clone(&self.storage);
        let task = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            eval(&engine, storage.as_ref())
        });
        match tokio::time::timeout_at(deadline, task).await {
            Ok(Ok(result)) => result.map_err(DatasourceError::from),
            Ok(Err(join)) => Err(DatasourceError::Internal(join.to_string())),
            Err(_) => Err(PromqlError::Timeout("expression evaluation").into()),
        }
    }
}

impl Datasource for EmbeddedDatasource {
    fn instant_query<'a>(
        &'a self,
        query: &'a str,
        t_ms: i64,
    ) -> BoxFuture<'a, Result<QueryResult, DatasourceError>> {
        Box::pin(self.instant(query, t_ms, None))
    }

    fn range_query<'a>(
        &'a self,
        query: &'a str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> BoxFuture<'a, Result<QueryResult, DatasourceError>> {
        Box::pin(self.range(query, start_ms, end_ms, step_ms, None))
    }

    fn describe(&self) -> String {
        "embedded".to_string()
    }
}
