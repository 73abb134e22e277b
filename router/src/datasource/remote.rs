//! A Prometheus-compatible query API as a datasource.
//!
//! Queries are POSTed as a form to `<url>/api/v1/query` and `<url>/api/v1/query_range` (POST
//! so long queries do not hit URL limits; every Prometheus-compatible server accepts it), with
//! the request timeout passed on as the `timeout` parameter so the server gives up when we do.
//! The HTTP client is the agent's (Prometheus's `http_config`: basic auth, authorization or
//! bearer token with `*_file` variants read on every request, TLS CA, client certificate,
//! `insecure_skip_verify`, proxy), plus extra headers. The JSON answer is read back into a
//! [`QueryResult`] by [`crate::api::json::decode_query_response`]; an error answer keeps the
//! remote's `errorType` and `error`. Bodies are read up to [`MAX_RESPONSE_BYTES`].

use super::{BoxFuture, Datasource, DatasourceError};
use crate::api::json::{self, DecodeError};
use crate::promql::QueryResult;
use harrier_telemetry::http_client::{self, HttpClientConfig};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use std::collections::BTreeMap;
use std::time::Duration;

/// The largest answer read from the remote (a bigger one is an error, not an OOM).
pub const MAX_RESPONSE_BYTES: usize = 256 << 20;

/// Where and how to query.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteDatasourceConfig {
    /// The server's base URL, e.g. `http://prometheus:9090` (the API paths are appended).
    pub url: String,
    /// The whole request, connection included.
    pub timeout: Duration,
    /// Extra headers sent with every request.
    pub headers: BTreeMap<String, String>,
    /// Authentication, TLS and proxy settings, as in a Prometheus `http_config`.
    pub http: HttpClientConfig,
}

/// The remote query API client.
#[derive(Debug, Clone)]
pub struct RemoteDatasource {
    config: RemoteDatasourceConfig,
    base: String,
    client: reqwest::Client,
    headers: HeaderMap,
}

impl RemoteDatasource {
    /// Builds the client; fails on an invalid URL, header or TLS setting.
    pub fn new(config: RemoteDatasourceConfig) -> Result<Self, DatasourceError> {
        let parsed = reqwest::Url::parse(&config.url)
            .map_err(|e| DatasourceError::Config(format!("invalid url {:?}: {e}", config.url)))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(DatasourceError::Config(format!("url {:?} must be http or https", config.url)));
        }
        let mut headers = HeaderMap::new();
        for (name, value) in &config.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| DatasourceError::Config(format!("invalid header name {name:?}")))?;
            let value = HeaderValue::from_str(value)
                .map_err(|_| DatasourceError::Config(format!("invalid value for header {name}")))?;
            headers.insert(name, value);
        }
        let client = http_client::build_client(&config.http, config.timeout)
            .map_err(|e| DatasourceError::Config(e.to_string()))?;
        let base = config.url.trim_end_matches('/').to_string();
        Ok(RemoteDatasource { config, base, client, headers })
    }

    /// The configuration this client was built from.
    pub fn config(&self) -> &RemoteDatasourceConfig {
        &self.config
    }

    async fn post(&self, path: &str, params: &[(&str, String)]) -> Result<QueryResult, DatasourceError> {
        let url = format!("{}{path}", self.base);
        let body = {
            let mut form = form_urlencoded::Serializer::new(String::new());
            for (name, value) in params {
                form.append_pair(name, value);
            }
            form.append_pair("timeout", &format!("{}", self.config.timeout.as_secs_f64()));
            form.finish()
        };
        let request = self
            .client
            .post(&url)
            .headers(self.headers.clone())
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body);
        let request = http_client::apply_auth(request, &self.config.http)
            .await
            .map_err(|e| DatasourceError::Config(e.to_string()))?;
        let transport = |e: reqwest::Error| {
            if e.is_timeout() {
                DatasourceError::Timeout { url: url.clone(), timeout: self.config.timeout }
            } else {
                DatasourceError::Transport { url: url.clone(), message: error_chain(&e) }
            }
        };
        let mut response = request.send().await.map_err(transport)?;
        let status = response.status();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(DatasourceError::Decode {
                    url,
                    message: format!("response larger than {MAX_RESPONSE_BYTES} bytes"),
                });
            }
            body.extend_from_slice(&chunk);
        }
        match json::decode_query_response(&body) {
            Ok(result) => Ok(result),
            Err(DecodeError::Api { error_type, message }) => {
                Err(DatasourceError::Query { error_type, message })
            }
            Err(e) if status.is_success() => Err(DatasourceError::Decode { url, message: e.to_string() }),
            Err(_) => Err(DatasourceError::Http {
                url,
                status: status.as_u16(),
                body: String::from_utf8_lossy(&body[..body.len().min(512)]).trim().to_string(),
            }),
        }
    }
}

/// Seconds as Prometheus's API reads them (`1.5`), from milliseconds.
fn seconds_param(ms: i64) -> String {
    let mut out = String::new();
    json::write_timestamp(&mut out, ms);
    out
}

/// An error with its sources, which is where reqwest keeps the useful part.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    message
}

impl Datasource for RemoteDatasource {
    fn instant_query<'a>(
        &'a self,
        query: &'a str,
        t_ms: i64,
    ) -> BoxFuture<'a, Result<QueryResult, DatasourceError>> {
        Box::pin(async move {
            let params = [("query", query.to_string()), ("time", seconds_param(t_ms))];
            self.post("/api/v1/query", &params).await
        })
    }

    fn range_query<'a>(
        &'a self,
        query: &'a str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> BoxFuture<'a, Result<QueryResult, DatasourceError>> {
        Box::pin(async move {
            let params = [
                ("query", query.to_string()),
                ("start", seconds_param(start_ms)),
                ("end", seconds_param(end_ms)),
                ("step", seconds_param(step_ms)),
            ];
            self.post("/api/v1/query_range", &params).await
        })
    }

    fn describe(&self) -> String {
        self.base.clone()
    }
}
