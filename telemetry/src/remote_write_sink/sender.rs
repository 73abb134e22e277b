//! One remote_write HTTP request and what its outcome means for the record, following
//! Prometheus's `storage/remote/client.go`: 2xx delivers; 5xx, 429 (when
//! `retry_on_http_429`) and transport failures (connection refused, timeout, TLS, credentials
//! file unreadable) are retried, honouring `Retry-After`; every other status rejects the batch
//! for good, and the first bytes of the response body are kept for the log.

use crate::backoff::parse_retry_after;
use crate::http_client::{self, HttpClientConfig, error_chain, read_prefix};
use crate::remote_write;
use bytes::Bytes;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_ENCODING, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, USER_AGENT};
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

/// How much of a rejected request's response body goes into the log.
const LOGGED_BODY_BYTES: usize = 256;
/// How much of a response body is read so the connection can be reused.
const DRAINED_BODY_BYTES: usize = 64 << 10;

/// Why the sender could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SenderError {
    #[error("invalid header name {0:?}")]
    HeaderName(String),
    #[error("invalid value for header {0:?}")]
    HeaderValue(String),
    #[error("building the HTTP client: {0}")]
    Client(#[source] http_client::HttpClientError),
}

/// The outcome of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// 2xx: the record is delivered.
    Delivered { status: u16 },
    /// Try the same record again after a backoff (at least `retry_after` when the server said).
    Retry { status: Option<u16>, retry_after: Option<Duration>, reason: String },
    /// The server refused the batch; retrying cannot help.
    Rejected { status: u16, body: String },
}

/// Posts request bodies to one remote_write endpoint.
pub struct HttpSender {
    client: reqwest::Client,
    url: String,
    headers: HeaderMap,
    http: HttpClientConfig,
    timeout: Duration,
    retry_on_http_429: bool,
}

impl HttpSender {
    /// Builds the client and the fixed headers: the configured `headers`, then the protocol's
    /// own (which configuration validation keeps users from overriding).
    pub fn new(
        url: &str,
        configured_headers: &BTreeMap<String, String>,
        http: &HttpClientConfig,
        timeout: Duration,
        retry_on_http_429: bool,
    ) -> Result<Self, SenderError> {
        let mut headers = HeaderMap::new();
        for (name, value) in configured_headers {
            let header_name =
                HeaderName::from_bytes(name.as_bytes()).map_err(|_| SenderError::HeaderName(name.clone()))?;
            let header_value =
                HeaderValue::from_str(value).map_err(|_| SenderError::HeaderValue(name.clone()))?;
            headers.insert(header_name, header_value);
        }
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static(remote_write::CONTENT_ENCODING));
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(remote_write::CONTENT_TYPE));
        let version_header = HeaderName::from_bytes(remote_write::VERSION_HEADER.as_bytes())
            .map_err(|_| SenderError::HeaderName(remote_write::VERSION_HEADER.to_string()))?;
        headers.insert(version_header, HeaderValue::from_static(remote_write::VERSION));
        headers.insert(USER_AGENT, HeaderValue::from_static(http_client::USER_AGENT));
        let client = http_client::build_client(http, timeout).map_err(SenderError::Client)?;
        Ok(HttpSender {
            client,
            url: url.to_string(),
            headers,
            http: http.clone(),
            timeout,
            retry_on_http_429,
        })
    }

    /// Sends one request body and classifies the outcome.
    pub async fn post(&self, body: Bytes) -> Attempt {
        let request =
            self.client.post(&self.url).headers(self.headers.clone()).timeout(self.timeout).body(body);
        let request = match http_client::apply_auth(request, &self.http).await {
            Ok(request) => request,
            Err(e) => {
                return Attempt::Retry { status: None, retry_after: None, reason: format!("auth: {e}") };
            }
        };
        let mut response = match request.send().await {
            Ok(response) => response,
            Err(e) => return Attempt::Retry { status: None, retry_after: None, reason: error_chain(&e) },
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let body = read_prefix(
            &mut response,
            if status.is_success() { DRAINED_BODY_BYTES } else { LOGGED_BODY_BYTES },
        )
        .await;
        classify(status, retry_after, &body, self.retry_on_http_429)
    }
}

/// Maps a response to an [`Attempt`], as Prometheus does.
pub fn classify(
    status: StatusCode,
    retry_after: Option<Duration>,
    body: &[u8],
    retry_on_http_429: bool,
) -> Attempt {
    let code = status.as_u16();
    if status.is_success() {
        return Attempt::Delivered { status: code };
    }
    let text = String::from_utf8_lossy(&body[..body.len().min(LOGGED_BODY_BYTES)]).into_owned();
    if status.is_server_error() || (retry_on_http_429 && status == StatusCode::TOO_MANY_REQUESTS) {
        return Attempt::Retry {
            status: Some(code),
            retry_after,
            reason: format!("server returned HTTP {status}: {text}"),
        };
    }
    Attempt::Rejected { status: code, body: text }
}
