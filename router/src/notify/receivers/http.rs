//! HTTP delivery shared by the webhook, PagerDuty and Slack integrations: the client built
//! from an entry's `http_config` and `timeout`, one POST with credentials, a bounded read of
//! the answer, and Alertmanager's classification of the outcome (`notify.Retrier`).
//!
//! - Client: the entry's `http_config` (or `global.http_config`) with its files resolved
//!   against the config's directory. The entry's `timeout`, when set and not zero, bounds each
//!   request, body included. Without one the client adds no bound of its own: the attempt ends
//!   at the dispatcher's flush deadline, as in Alertmanager (see the `receivers` module docs).
//! - POST ([`HttpSender::post`]): the body with its content type, credentials from
//!   `http_config`, or a bearer token (Slack app tokens). Requests carry
//!   `User-Agent: Harrier/<version>` (Alertmanager sends `Alertmanager/<version>`; no
//!   receiver looks at it).
//! - Answer ([`Reply`]): the body is read in chunks and reading stops at a limit
//!   ([`SMALL_BODY_LIMIT`] unless the caller needs a larger 2xx body, as Slack's Web API
//!   answers), so an endpoint streaming an endless body neither holds the attempt nor fills
//!   memory. A connection whose body was not read to the end is closed, not reused.
//! - Classification ([`Reply::check`]): 2xx is delivered; 5xx and 429 are retryable,
//!   honouring `Retry-After`; other statuses are final, with details (by default the start
//!   of the body) in the message; an integration may list more retryable statuses (PagerDuty
//!   v1: 403). A request that got no response (connection refused or reset, TLS, timeout) is
//!   retryable ([`request_error`]). Messages never contain the URL: it may hold a secret
//!   (Slack webhook URLs do, webhook URLs often do).
//! - Bodies: [`go_json`] encodes a value as Go's `json.Encoder` does, so request bodies match
//!   Alertmanager's byte for byte.

#[cfg(test)]
mod tests;

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use harrier_telemetry::duration::PromDuration;
use harrier_telemetry::http_client::{self, HttpClientConfig, build_client};

use super::{BuildContext, NotifyError};

/// The content type of JSON bodies.
pub(crate) const JSON: &str = "application/json";

/// How much of a response body is read when it only feeds an error message (or is not used):
/// enough for any error document a receiver sends, small enough to ignore a runaway stream.
pub(crate) const SMALL_BODY_LIMIT: usize = 4096;

/// How much of an error response's body goes into the error message.
pub(crate) const BODY_SNIPPET_BYTES: usize = 512;

/// The client timeout when the entry sets none. `build_client` always sets one; this one never
/// fires first (tokio caps it at about 30 years), so the dispatcher's deadline bounds the
/// attempt, as Alertmanager's context does.
const UNBOUNDED: Duration = Duration::MAX;

/// How a request authenticates.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Auth<'a> {
    /// What `http_config` says (basic auth, `authorization`, bearer token files...).
    HttpConfig,
    /// `Authorization: Bearer <token>` instead (Slack app tokens).
    Bearer(&'a str),
}

/// An entry's HTTP client and the `http_config` its requests authenticate with.
pub(crate) struct HttpSender {
    client: reqwest::Client,
    http_config: HttpClientConfig,
}

/// A response, with its body read up to a limit.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reply {
    pub status: u16,
    /// The `Content-Type` header (empty when absent or not text).
    pub content_type: String,
    /// `Retry-After`, as a delay.
    pub retry_after: Option<Duration>,
    /// The start of the body (all of it when `!truncated`).
    pub body: Vec<u8>,
    /// Reading stopped at the limit: the body may be longer.
    pub truncated: bool,
    /// Why reading the body failed part way (the body holds what arrived before).
    pub read_error: Option<String>,
}

impl HttpSender {
    /// The client for an entry with `http_config` (else `global.http_config`) and `timeout`.
    pub(crate) fn new(
        http_config: Option<&HttpClientConfig>,
        timeout: Option<PromDuration>,
        ctx: &BuildContext,
    ) -> Result<HttpSender, String> {
        let mut http_config =
            http_config.cloned().or_else(|| ctx.global.http_config.clone()).unwrap_or_default();
        http_client::resolve_paths(ctx.base_dir.as_deref(), &mut http_config);
        let client = build_client(&http_config, request_timeout(timeout)).map_err(|e| e.to_string())?;
        Ok(HttpSender { client, http_config })
    }

    /// POSTs `body` to `url` and reads the answer: at most `success_body_limit` bytes of a
    /// 2xx body, at most [`SMALL_BODY_LIMIT`] bytes of any other. An invalid URL or
    /// credential is a final error; no response at all is a retryable one.
    pub(crate) async fn post(
        &self,
        url: &str,
        content_type: &'static str,
        body: String,
        auth: Auth<'_>,
        success_body_limit: usize,
    ) -> Result<Reply, NotifyError> {
        let url =
            reqwest::Url::parse(url).map_err(|e| NotifyError::permanent(format!("invalid URL: {e}")))?;
        let request = self.client.post(url).header(reqwest::header::CONTENT_TYPE, content_type).body(body);
        let request = match auth {
            Auth::HttpConfig => http_client::apply_auth(request, &self.http_config)
                .await
                .map_err(|e| NotifyError::permanent(e.to_string()))?,
            Auth::Bearer(token) => {
                let mut value =
                    reqwest::header::HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
                        NotifyError::permanent(
                            "the bearer token contains characters not allowed in an HTTP header",
                        )
                    })?;
                value.set_sensitive(true);
                request.header(reqwest::header::AUTHORIZATION, value)
            }
        };
        let response = request.send().await.map_err(request_error)?;
        let status = response.status().as_u16();
        let limit = if (200..300).contains(&status) { success_body_limit } else { SMALL_BODY_LIMIT };
        Ok(Reply::read(response, limit).await)
    }
}

/// The client timeout for an entry's `timeout` (unset or zero: none, see [`UNBOUNDED`]).
pub(crate) fn request_timeout(timeout: Option<PromDuration>) -> Duration {
    timeout.map(|t| t.as_duration()).filter(|t| !t.is_zero()).unwrap_or(UNBOUNDED)
}

impl Reply {
    /// Reads `response`'s headers and at most `limit` bytes of its body, chunk by chunk.
    pub(crate) async fn read(mut response: reqwest::Response, limit: usize) -> Reply {
        let status = response.status().as_u16();
        let headers = response.headers();
        let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
        let content_type = header(reqwest::header::CONTENT_TYPE).unwrap_or_default().to_string();
        let retry_after = header(reqwest::header::RETRY_AFTER)
            .and_then(|v| harrier_telemetry::backoff::parse_retry_after(v, SystemTime::now()));
        let mut body = Vec::new();
        let mut truncated = false;
        let mut read_error = None;
        while body.len() < limit {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    let room = limit - body.len();
                    if chunk.len() > room {
                        body.extend_from_slice(&chunk[..room]);
                        truncated = true;
                    } else {
                        body.extend_from_slice(&chunk);
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    read_error = Some(error_chain("read response body", &e.without_url()));
                    break;
                }
            }
        }
        // Stopped at the limit with the end not seen: the rest is not read (dropping the
        // response closes the connection).
        if body.len() >= limit && read_error.is_none() && !truncated {
            truncated = response.content_length().is_none_or(|n| n > limit as u64);
        }
        Reply { status, content_type, retry_after, body, truncated, read_error }
    }

    pub(crate) fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// Whether the body is declared JSON (`application/json`, with or without parameters).
    pub(crate) fn is_json(&self) -> bool {
        self.content_type.starts_with(JSON)
    }

    /// The start of the body for an error message (lossy UTF-8, trimmed, `…` when cut).
    pub(crate) fn snippet(&self) -> String {
        let cut = self.truncated || self.body.len() > BODY_SNIPPET_BYTES;
        let text = String::from_utf8_lossy(&self.body[..self.body.len().min(BODY_SNIPPET_BYTES)]);
        let text = text.trim();
        if cut { format!("{text}…") } else { text.to_string() }
    }

    /// Alertmanager's `Retrier.Check`: `Ok` for 2xx; otherwise `unexpected status code N`
    /// with `details` (when not empty), retryable for 5xx, 429 and `extra_retry_codes`, with
    /// the reply's `Retry-After` when retryable.
    pub(crate) fn check(&self, extra_retry_codes: &[u16], details: &str) -> Result<(), NotifyError> {
        if self.is_success() {
            return Ok(());
        }
        let retryable = (500..600).contains(&self.status)
            || self.status == 429
            || extra_retry_codes.contains(&self.status);
        let mut message = format!("unexpected status code {}", self.status);
        if !details.is_empty() {
            let _ = write!(message, ": {details}");
        }
        Err(NotifyError { message, retryable, retry_after: if retryable { self.retry_after } else { None } })
    }
}

/// A request that got no response: retryable (connection refused or reset, timeout, TLS).
/// The URL is left out: it may hold a secret.
pub(crate) fn request_error(e: reqwest::Error) -> NotifyError {
    if e.is_timeout() {
        return NotifyError::retryable("request timed out");
    }
    NotifyError::retryable(error_chain("POST failed", &e.without_url()))
}

/// `what: error: cause: cause…`.
fn error_chain(what: &str, e: &dyn std::error::Error) -> String {
    let mut message = format!("{what}: {e}");
    let mut source = e.source();
    while let Some(s) = source {
        let _ = write!(message, ": {s}");
        source = s.source();
    }
    message
}

/// `value` as Go's `json.Encoder` writes it: `<`, `>`, `&`, U+2028 and U+2029 escaped as
/// `\u003c`…, and a trailing newline.
pub(crate) fn go_json<T: serde::Serialize>(value: &T) -> Result<String, serde_json::Error> {
    let plain = serde_json::to_string(value)?;
    let mut out = String::with_capacity(plain.len() + 16);
    for c in plain.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out.push('\n');
    Ok(out)
}
