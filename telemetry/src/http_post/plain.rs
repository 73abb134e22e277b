//! POSTs to plain-`http` endpoints without a proxy or credentials (the common case in a
//! cluster: Prometheus, Mimir or Loki behind a Service), on hyper-util's pooled client
//! directly instead of reqwest.
//!
//! Why: the agent sends a request per scrape or log batch, and reqwest's per-request layers
//! (the redirect policy and response future re-parse the URL each time, a tower stack, a
//! timeout future) cost about as much as the rest of a request's client-side work. Here the
//! URI and headers are built once. A redirect is not followed here: the caller repeats the
//! request through reqwest, which follows it as configured. `https`, proxies and credentials
//! (read from files per request) always go through reqwest.

use super::Attempt;
use crate::http_client::{HttpClientConfig, USER_AGENT, error_chain};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderValue};
use std::time::Duration;

/// How long an idle connection stays pooled (reqwest's default).
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// What a plain POST got.
pub(super) enum PlainOutcome {
    /// A final response: its status, `Retry-After` header and the first bytes of its body.
    Response { status: StatusCode, retry_after: Option<String>, body: Vec<u8> },
    /// A redirect to follow: the caller repeats the request through reqwest.
    Redirect,
    /// No response (connection refused, timeout): retry.
    Failed(Attempt),
}

/// Posts to one plain-`http` endpoint.
pub(super) struct PlainPoster {
    client: Client<HttpConnector, Full<Bytes>>,
    uri: http::Uri,
    headers: HeaderMap,
    follow_redirects: bool,
}

impl PlainPoster {
    /// A poster for `url`, when it is plain `http` and `http` configures no proxy, TLS or
    /// credentials; `None` otherwise (reqwest handles those).
    pub(super) fn for_endpoint(
        url: &reqwest::Url,
        headers: &HeaderMap,
        http: &HttpClientConfig,
    ) -> Option<Self> {
        let proxied = http.proxy_url.as_deref().is_some_and(|u| !u.is_empty())
            || http.proxy_from_environment.unwrap_or(false);
        let credentials = http.basic_auth.is_some()
            || http.authorization.is_some()
            || http.bearer_token.as_deref().is_some_and(|t| !t.is_empty())
            || http.bearer_token_file.as_deref().is_some_and(|f| !f.is_empty());
        if url.scheme() != "http" || proxied || credentials {
            return None;
        }
        let uri: http::Uri = url.as_str().parse().ok()?;
        let mut headers = headers.clone();
        if !headers.contains_key(reqwest::header::USER_AGENT) {
            headers.insert(reqwest::header::USER_AGENT, HeaderValue::from_static(USER_AGENT));
        }
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .pool_timer(TokioTimer::new())
            .build(connector);
        Some(PlainPoster { client, uri, headers, follow_redirects: http.follow_redirects.unwrap_or(true) })
    }

    /// POSTs `body` within `timeout` and reads up to `success_limit` bytes of a 2xx response's
    /// body (so the connection can be reused), `error_limit` of any other.
    pub(super) async fn post(
        &self,
        body: Bytes,
        timeout: Duration,
        success_limit: usize,
        error_limit: usize,
    ) -> PlainOutcome {
        let exchange = async {
            let mut request = http::Request::new(Full::new(body));
            *request.method_mut() = http::Method::POST;
            *request.uri_mut() = self.uri.clone();
            *request.headers_mut() = self.headers.clone();
            let response = self.client.request(request).await.map_err(|e| error_chain(&e))?;
            let status = response.status();
            if status.is_redirection() && self.follow_redirects {
                return Ok(PlainOutcome::Redirect);
            }
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let limit = if status.is_success() { success_limit } else { error_limit };
            let mut incoming = response.into_body();
            let mut prefix = Vec::new();
            while prefix.len() < limit {
                match incoming.frame().await {
                    Some(Ok(frame)) => {
                        if let Ok(data) = frame.into_data() {
                            prefix.extend_from_slice(&data[..data.len().min(limit - prefix.len())]);
                        }
                    }
                    Some(Err(_)) | None => break,
                }
            }
            Ok(PlainOutcome::Response { status, retry_after, body: prefix })
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(reason)) => {
                PlainOutcome::Failed(Attempt::Retry { status: None, retry_after: None, reason })
            }
            Err(_) => PlainOutcome::Failed(Attempt::Retry {
                status: None,
                retry_after: None,
                reason: format!("request timed out after {timeout:?}"),
            }),
        }
    }
}
