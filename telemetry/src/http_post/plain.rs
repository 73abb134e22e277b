//! POSTs to plain-`http` endpoints without a proxy or credentials (the common case in a
//! cluster: Prometheus, Mimir or Loki behind a Service), on hyper-util's pooled client
//! directly instead of reqwest.
//!
//! Why: the agent sends a request per scrape or log batch, and reqwest's per-request layers
//! (the redirect policy and response future re-parse the URL each time, a tower stack, a
//! timeout future) cost about as much as the rest of a request's client-side work. Here the
//! URI and headers are built once. A redirect (301, 302, 303, 307, 308) is not followed here:
//! the caller repeats the request through reqwest, which follows it as configured, and sends
//! everything after through reqwest too. `https`, proxies and credentials (configured, or in
//! the URL's user info; files are read per request) always go through reqwest. Connections get
//! reqwest's TCP keepalive, and the timeout bounds the whole exchange as reqwest's does: a
//! response whose body stalls is classified by its status with the body read so far.

use super::Attempt;
use crate::http_client::{HttpClientConfig, USER_AGENT, error_chain, plain_http_client};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderValue};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

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
    /// Set once the endpoint redirected: from then on reqwest sends everything.
    redirected: AtomicBool,
}

impl PlainPoster {
    /// A poster for `url`, when it is plain `http` and `http` configures no proxy, TLS or
    /// credentials; `None` otherwise (reqwest handles those).
    pub(super) fn for_endpoint(
        url: &reqwest::Url,
        headers: &HeaderMap,
        http: &HttpClientConfig,
    ) -> Option<Self> {
        // reqwest turns `user:password@` into Basic credentials.
        let user_info = !url.username().is_empty() || url.password().is_some();
        if url.scheme() != "http" || user_info || http.uses_proxy() || http.has_credentials() {
            return None;
        }
        let uri: http::Uri = url.as_str().parse().ok()?;
        let mut headers = headers.clone();
        if !headers.contains_key(reqwest::header::USER_AGENT) {
            headers.insert(reqwest::header::USER_AGENT, HeaderValue::from_static(USER_AGENT));
        }
        let client = plain_http_client(None);
        let follow_redirects = http.follow_redirects.unwrap_or(true);
        Some(PlainPoster { client, uri, headers, follow_redirects, redirected: AtomicBool::new(false) })
    }

    /// False once the endpoint redirected (reqwest takes over).
    pub(super) fn in_use(&self) -> bool {
        !self.redirected.load(Ordering::Relaxed)
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
        let deadline = tokio::time::Instant::now() + timeout;
        let mut request = http::Request::new(Full::new(body));
        *request.method_mut() = http::Method::POST;
        *request.uri_mut() = self.uri.clone();
        *request.headers_mut() = self.headers.clone();
        let response = match tokio::time::timeout_at(deadline, self.client.request(request)).await {
            Ok(Ok(response)) => response,
            Ok(Err(e)) => return failed(error_chain(&e)),
            Err(_) => return failed(format!("request timed out after {timeout:?}")),
        };
        let status = response.status();
        let followed = matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308);
        if followed && self.follow_redirects {
            self.redirected.store(true, Ordering::Relaxed);
            return PlainOutcome::Redirect;
        }
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let limit = if status.is_success() { success_limit } else { error_limit };
        let mut incoming = response.into_body();
        let mut prefix = Vec::new();
        // As with reqwest, a body that fails or stalls past the deadline ends the read; the
        // status decides.
        while prefix.len() < limit {
            match tokio::time::timeout_at(deadline, incoming.frame()).await {
                Ok(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        prefix.extend_from_slice(&data[..data.len().min(limit - prefix.len())]);
                    }
                }
                Ok(Some(Err(_)) | None) | Err(_) => break,
            }
        }
        PlainOutcome::Response { status, retry_after, body: prefix }
    }
}

fn failed(reason: String) -> PlainOutcome {
    PlainOutcome::Failed(Attempt::Retry { status: None, retry_after: None, reason })
}
