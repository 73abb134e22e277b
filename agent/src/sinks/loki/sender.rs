//! One push request and what its outcome means for the batch, as promtail's client does:
//! 2xx delivers; 429, 5xx and transport failures (connection refused, timeout, TLS, an
//! unreadable credentials file) are retried with the same body, honouring `Retry-After`; every
//! other status rejects the batch for good, and the first KiB of the response body (Loki says
//! why: "entry out of order", "stream limit exceeded", "line too long"…) is kept for the log.
//!
//! The protobuf body is snappy block-compressed and sent with only
//! `Content-Type: application/x-protobuf`, no `Content-Encoding`: that is what promtail sends
//! (`clients/pkg/promtail/client/batch.go` encodes with `snappy.Encode`; `client.go` sets
//! Content-Type, User-Agent and X-Scope-OrgID only), and Loki's push handler snappy-decodes every
//! protobuf body.

use super::settings::SinkSettings;
use bytes::Bytes;
use harrier_telemetry::backoff::parse_retry_after;
use harrier_telemetry::http_client::{self, HttpClientConfig, HttpClientError, error_chain, read_prefix};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use std::time::{Duration, SystemTime};

/// How much of a rejected request's response body goes into the log.
pub const LOGGED_BODY_BYTES: usize = 1024;
/// How much of a successful response body is read so the connection can be reused.
const DRAINED_BODY_BYTES: usize = 64 << 10;

/// The outcome of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// 2xx: the batch is delivered.
    Delivered { status: u16 },
    /// Send the same body again after a backoff (at least `retry_after` when the server said).
    Retry { status: Option<u16>, retry_after: Option<Duration>, reason: String },
    /// Loki refused the batch; retrying cannot help.
    Rejected { status: u16, body: String },
}

impl Attempt {
    /// The `code` label of `harrier_agent_log_requests_total`.
    pub fn code(&self) -> String {
        match self {
            Attempt::Delivered { status } | Attempt::Rejected { status, .. } => status.to_string(),
            Attempt::Retry { status: Some(status), .. } => status.to_string(),
            Attempt::Retry { status: None, .. } => "error".to_string(),
        }
    }
}

/// Posts push bodies to one Loki endpoint.
pub struct PushSender {
    client: reqwest::Client,
    url: reqwest::Url,
    headers: HeaderMap,
    http: HttpClientConfig,
    timeout: Duration,
}

impl PushSender {
    /// Builds the HTTP client (reads TLS certificate files).
    pub fn new(settings: &SinkSettings) -> Result<Self, HttpClientError> {
        let client = http_client::build_client(&settings.http, settings.timeout)?;
        Ok(PushSender {
            client,
            url: settings.url.clone(),
            headers: settings.headers.clone(),
            http: settings.http.clone(),
            timeout: settings.timeout,
        })
    }

    /// Sends one body and classifies the outcome.
    pub async fn post(&self, body: Bytes) -> Attempt {
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
        let body = read_prefix(
            &mut response,
            if status.is_success() { DRAINED_BODY_BYTES } else { LOGGED_BODY_BYTES },
        )
        .await;
        classify(status, retry_after, &body)
    }
}

/// Maps a response to an [`Attempt`].
pub fn classify(status: StatusCode, retry_after: Option<Duration>, body: &[u8]) -> Attempt {
    let code = status.as_u16();
    if status.is_success() {
        return Attempt::Delivered { status: code };
    }
    let text = String::from_utf8_lossy(&body[..body.len().min(LOGGED_BODY_BYTES)]).trim_end().to_string();
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        return Attempt::Retry {
            status: Some(code),
            retry_after,
            reason: format!("server returned HTTP {status}: {text}"),
        };
    }
    Attempt::Rejected { status: code, body: text }
}
