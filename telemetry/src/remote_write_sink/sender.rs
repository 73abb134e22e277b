//! One remote_write HTTP request and what its outcome means for the record, following
//! Prometheus's `storage/remote/client.go`: 2xx delivers; 5xx, 429 (when
//! `retry_on_http_429`) and transport failures (connection refused, timeout, TLS, credentials
//! file unreadable) are retried, honouring `Retry-After`; every other status rejects the batch
//! for good, and the first bytes of the response body are kept for the log.

use crate::http_client::{self, HttpClientConfig};
pub use crate::http_post::Attempt;
use crate::http_post::{BodyPoster, RetryPolicy};
use crate::remote_write;
use bytes::Bytes;
use reqwest::header::{CONTENT_ENCODING, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, USER_AGENT};
use std::collections::BTreeMap;
use std::time::Duration;

/// How much of a rejected request's response body goes into the log.
pub const LOGGED_BODY_BYTES: usize = 256;

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

/// Posts request bodies to one remote_write endpoint.
pub struct HttpSender {
    poster: BodyPoster,
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
        let policy = RetryPolicy { retry_on_http_429, logged_body_bytes: LOGGED_BODY_BYTES };
        let poster =
            BodyPoster::new(url.to_string(), headers, http, timeout, policy).map_err(SenderError::Client)?;
        Ok(HttpSender { poster })
    }

    /// Sends one request body and classifies the outcome.
    pub async fn post(&self, body: Bytes) -> Attempt {
        self.poster.post(body).await
    }
}
