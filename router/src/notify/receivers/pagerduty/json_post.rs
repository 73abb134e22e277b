//! What the PagerDuty and Slack integrations share: Go-compatible JSON bodies, the HTTP
//! client built from `http_config`, one POST with credentials, and Alertmanager's
//! classification of the outcome (`notify.Retrier`): 2xx is delivered, 5xx is retried, other
//! statuses are final unless the integration lists them as retryable (429 for both here),
//! and a request that got no response is retried. `Retry-After` on a retryable status is
//! passed on to the pipeline.
//!
//! Requests carry `User-Agent: Harrier/<version>` (the client's): Alertmanager sends
//! `Alertmanager/<version>`, and neither PagerDuty nor Slack looks at it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use harrier_telemetry::duration::PromDuration;
use harrier_telemetry::http_client::{self, HttpClientConfig, build_client};

use super::super::{BuildContext, NotifyError};

/// Bound on a request when the entry sets no `timeout` (Alertmanager has none; the hosted
/// APIs answer in well under a second, and the pipeline's deadline still applies).
pub(crate) const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How much of an error response's body goes into the error message.
const BODY_SNIPPET_BYTES: usize = 512;

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

/// The entry's `http_config` (or `global.http_config`) with its files resolved against the
/// config's directory, and the client built from it with the entry's `timeout`.
pub(crate) fn http_client(
    entry: Option<&HttpClientConfig>,
    timeout: Option<PromDuration>,
    ctx: &BuildContext,
) -> Result<(HttpClientConfig, reqwest::Client), String> {
    let mut http_config = entry.cloned().or_else(|| ctx.global.http_config.clone()).unwrap_or_default();
    http_client::resolve_paths(ctx.base_dir.as_deref(), &mut http_config);
    let timeout =
        timeout.map(|t| t.as_duration()).filter(|t| !t.is_zero()).unwrap_or(DEFAULT_REQUEST_TIMEOUT);
    let client = build_client(&http_config, timeout).map_err(|e| e.to_string())?;
    Ok((http_config, client))
}

/// A secret given inline or in a file read at every send (trimmed), as Alertmanager does.
#[derive(Debug, Clone)]
pub(crate) enum Secret {
    Inline(String),
    File(PathBuf),
}

impl Secret {
    /// The inline value when set and non-empty, else the file (relative to `base_dir`).
    pub(crate) fn from_config(
        inline: Option<&str>,
        file: Option<&str>,
        base_dir: Option<&Path>,
    ) -> Option<Secret> {
        if let Some(v) = inline.filter(|v| !v.is_empty()) {
            return Some(Secret::Inline(v.to_string()));
        }
        file.filter(|f| !f.is_empty()).map(|f| Secret::File(http_client::join_dir(base_dir, f).into()))
    }

    pub(crate) async fn read(&self, what: &str) -> Result<String, NotifyError> {
        match self {
            Secret::Inline(v) => Ok(v.clone()),
            Secret::File(path) => tokio::fs::read_to_string(path)
                .await
                .map(|s| s.trim().to_string())
                .map_err(|e| permanent(format!("read {what} file {}: {e}", path.display()))),
        }
    }
}

pub(crate) fn permanent(message: impl Into<String>) -> NotifyError {
    NotifyError { message: message.into(), retryable: false, retry_after: None }
}

/// POSTs `body` as JSON with the `http_config` credentials (or `bearer`, the Slack app token).
pub(crate) async fn post(
    client: &reqwest::Client,
    http_config: &HttpClientConfig,
    url: &str,
    body: String,
    bearer: Option<&str>,
) -> Result<reqwest::Response, NotifyError> {
    let url = reqwest::Url::parse(url).map_err(|e| permanent(format!("invalid URL: {e}")))?;
    let mut request = client.post(url).header(reqwest::header::CONTENT_TYPE, "application/json").body(body);
    request = match bearer {
        Some(token) => {
            let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|_| permanent("the app token contains characters not allowed in an HTTP header"))?;
            value.set_sensitive(true);
            request.header(reqwest::header::AUTHORIZATION, value)
        }
        None => http_client::apply_auth(request, http_config).await.map_err(|e| permanent(e.to_string()))?,
    };
    request.send().await.map_err(request_error)
}

/// A request that got no response: retryable (connection refused or reset, timeout, TLS).
/// The URL is left out: it may hold a secret (Slack webhook URLs do).
fn request_error(e: reqwest::Error) -> NotifyError {
    if e.is_timeout() {
        return NotifyError { message: "request timed out".into(), retryable: true, retry_after: None };
    }
    let e = e.without_url();
    let mut message = format!("POST failed: {e}");
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        let _ = write!(message, ": {s}");
        source = s.source();
    }
    NotifyError { message, retryable: true, retry_after: None }
}

/// `Retry-After` of a response, as a delay.
pub(crate) fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| harrier_telemetry::backoff::parse_retry_after(v, SystemTime::now()))
}

/// The start of a response body, for an error message (lossy UTF-8, trimmed, `…` when cut).
pub(crate) fn body_snippet(body: &[u8]) -> String {
    let cut = body.len() > BODY_SNIPPET_BYTES;
    let text = String::from_utf8_lossy(&body[..body.len().min(BODY_SNIPPET_BYTES)]);
    let text = text.trim();
    if cut { format!("{text}…") } else { text.to_string() }
}

/// Alertmanager's `Retrier.Check` for a non-2xx status: `unexpected status code N` with
/// `details` (the integration's reading of the body), retryable for 5xx and `retry_codes`.
pub(crate) fn status_error(
    status: u16,
    retry_codes: &[u16],
    details: &str,
    retry_after: Option<Duration>,
) -> NotifyError {
    let retryable = status / 100 == 5 || retry_codes.contains(&status);
    let mut message = format!("unexpected status code {status}");
    if !details.is_empty() {
        let _ = write!(message, ": {details}");
    }
    NotifyError { message, retryable, retry_after: if retryable { retry_after } else { None } }
}

/// Alertmanager's `TruncateInRunes`: at most `n` characters, the last one `…` when cut.
pub(crate) fn truncate_runes(s: &str, n: usize) -> (String, bool) {
    if s.chars().count() <= n {
        return (s.to_string(), false);
    }
    if n <= 3 {
        return (s.chars().take(n).collect(), true);
    }
    let mut out: String = s.chars().take(n - 1).collect();
    out.push('…');
    (out, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_html_safe_like_go() {
        let v = serde_json::json!({"a": "<b>&</b>\u{2028}"});
        assert_eq!(go_json(&v).unwrap(), "{\"a\":\"\\u003cb\\u003e\\u0026\\u003c/b\\u003e\\u2028\"}\n");
    }

    #[test]
    fn truncation_counts_characters() {
        assert_eq!(truncate_runes("héllo", 5), ("héllo".to_string(), false));
        assert_eq!(truncate_runes("héllo!", 5), ("héll…".to_string(), true));
        assert_eq!(truncate_runes("héllo", 2), ("hé".to_string(), true));
    }

    #[test]
    fn status_classification() {
        let e = status_error(503, &[429], "", Some(Duration::from_secs(3)));
        assert!(e.retryable);
        assert_eq!(e.retry_after, Some(Duration::from_secs(3)));
        assert!(status_error(429, &[429], "", None).retryable);
        let e = status_error(400, &[429], "bad", Some(Duration::from_secs(3)));
        assert_eq!(
            (e.message.as_str(), e.retryable, e.retry_after),
            ("unexpected status code 400: bad", false, None)
        );
        assert!(!status_error(429, &[], "", None).retryable);
    }
}
