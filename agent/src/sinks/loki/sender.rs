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
use harrier_telemetry::http_client::HttpClientError;
use harrier_telemetry::http_post::{BodyPoster, RetryPolicy};

/// Loki's answers to a refused push: 429 is retried (promtail does), and the first KiB of the
/// response goes into the log.
const POLICY: RetryPolicy = RetryPolicy { retry_on_http_429: true, logged_body_bytes: 1024 };

/// The poster of one Loki endpoint: its URL, the push headers of `settings`, the HTTP client
/// (reads TLS certificate files).
pub fn poster(settings: &SinkSettings) -> Result<BodyPoster, HttpClientError> {
    BodyPoster::new(
        settings.url.to_string(),
        settings.headers.clone(),
        &settings.http,
        settings.timeout,
        POLICY,
    )
}
