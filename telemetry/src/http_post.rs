//! One POST of a body that is retried as a whole, and what its outcome means: the policy the
//! remote_write sender (Prometheus's `storage/remote/client.go`) and the Loki sender
//! (promtail's client) share. 2xx delivers; 5xx, 429 (when the policy retries it) and transport
//! failures (connection refused, timeout, TLS, an unreadable credentials file) are retried with
//! the same body, honouring `Retry-After`; every other status rejects the body for good, and the
//! first bytes of the response (the server's reason) are kept for the log.

mod plain;

use crate::backoff::parse_retry_after;
use crate::http_client::{self, HttpClientConfig, error_chain, read_prefix};
use bytes::Bytes;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use std::time::{Duration, SystemTime};

/// The longest `Retry-After` honoured; a server asking for more is retried after this.
pub const RETRY_AFTER_CAP: Duration = Duration::from_secs(300);

/// How much of a successful response body is read so the connection can be reused.
const DRAINED_BODY_BYTES: usize = 64 << 10;

/// The outcome of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// 2xx: the body is delivered.
    Delivered { status: u16 },
    /// Send the same body again after a backoff (at least `retry_after` when the server said).
    Retry { status: Option<u16>, retry_after: Option<Duration>, reason: String },
    /// The server refused the body; retrying cannot help.
    Rejected { status: u16, body: String },
}

impl Attempt {
    /// The `code` label of a requests counter: the status, or `error` when no response came.
    pub fn code(&self) -> String {
        match self {
            Attempt::Delivered { status } | Attempt::Rejected { status, .. } => status.to_string(),
            Attempt::Retry { status: Some(status), .. } => status.to_string(),
            Attempt::Retry { status: None, .. } => "error".to_string(),
        }
    }
}

/// How responses are classified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Whether 429 is retried (Prometheus: `queue_config.retry_on_http_429`) or rejects.
    pub retry_on_http_429: bool,
    /// How much of a refused request's response body is kept for the log.
    pub logged_body_bytes: usize,
}

/// Posts bodies to one endpoint with fixed headers; credentials are applied per request, so
/// `*_file` secrets are read afresh each time.
pub struct BodyPoster {
    client: reqwest::Client,
    /// The lean path for plain-`http` endpoints without proxy or credentials ([`plain`]).
    plain: Option<plain::PlainPoster>,
    /// Parsed once: parsing it for every request cost more than the rest of building one.
    url: reqwest::Url,
    headers: HeaderMap,
    http: HttpClientConfig,
    timeout: Duration,
    policy: RetryPolicy,
}

impl BodyPoster {
    /// Builds the HTTP client (reads TLS certificate files).
    pub fn new(
        url: String,
        headers: HeaderMap,
        http: &HttpClientConfig,
        timeout: Duration,
        policy: RetryPolicy,
    ) -> Result<Self, http_client::HttpClientError> {
        let parsed = reqwest::Url::parse(&url)
            .map_err(|e| http_client::HttpClientError::Url { url, message: e.to_string() })?;
        let client = http_client::build_client(http, timeout)?;
        let plain = plain::PlainPoster::for_endpoint(&parsed, &headers, http);
        Ok(BodyPoster { client, plain, url: parsed, headers, http: http.clone(), timeout, policy })
    }

    /// Sends one body and classifies the outcome.
    pub async fn post(&self, body: Bytes) -> Attempt {
        if let Some(plain) = self.plain.as_ref().filter(|p| p.in_use()) {
            let outcome = plain
                .post(body.clone(), self.timeout, DRAINED_BODY_BYTES, self.policy.logged_body_bytes)
                .await;
            match outcome {
                plain::PlainOutcome::Response { status, retry_after, body } => {
                    let retry_after = retry_after.and_then(|v| parse_retry_after(&v, SystemTime::now()));
                    return classify(status, retry_after, &body, self.policy);
                }
                plain::PlainOutcome::Failed(attempt) => return attempt,
                // reqwest follows it, as configured.
                plain::PlainOutcome::Redirect => {}
            }
        }
        let request =
            self.client.post(self.url.clone()).headers(self.headers.clone()).timeout(self.timeout).body(body);
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
        let limit = if status.is_success() { DRAINED_BODY_BYTES } else { self.policy.logged_body_bytes };
        let body = read_prefix(&mut response, limit).await;
        classify(status, retry_after, &body, self.policy)
    }
}

/// Maps a response to an [`Attempt`].
pub fn classify(
    status: StatusCode,
    retry_after: Option<Duration>,
    body: &[u8],
    policy: RetryPolicy,
) -> Attempt {
    let code = status.as_u16();
    if status.is_success() {
        return Attempt::Delivered { status: code };
    }
    let kept = &body[..body.len().min(policy.logged_body_bytes)];
    let text = String::from_utf8_lossy(kept).trim_end().to_string();
    if status.is_server_error() || (policy.retry_on_http_429 && status == StatusCode::TOO_MANY_REQUESTS) {
        return Attempt::Retry {
            status: Some(code),
            retry_after,
            reason: format!("server returned HTTP {status}: {text}"),
        };
    }
    Attempt::Rejected { status: code, body: text }
}

#[cfg(test)]
mod tests;
