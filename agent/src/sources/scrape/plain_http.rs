//! The HTTP client for plain-`http` scrapes without a proxy (the common case: pods and node
//! exporters on the cluster network), on hyper-util directly instead of reqwest.
//!
//! Why: a pooled HTTP/1 connection keeps its read buffer, and hyper's adaptive read strategy
//! grows that buffer towards the largest read it saw: after a 120 KiB scrape each idle
//! connection holds about 128 KiB, 13 MB for 100 targets (measured with heaptrack; see
//! docs/PERFORMANCE.md). reqwest offers no way to bound it; hyper-util's client does
//! (`http1_read_buf_exact_size`): reads here are [`READ_BUFFER_BYTES`] at a time, a few more
//! system calls per scrape for a fraction of the memory, with connections still reused. 8 KiB
//! rather than 16: -0.6 to -2 MiB of peak RSS for 100 targets, no CPU difference measured.
//! The buffer also bounds the response head (status line and headers): a larger head is
//! fetched again through reqwest, whose buffer grows.
//!
//! The request (headers, credentials) is still built by the job's reqwest client and then
//! sent here; a `Content-Encoding: gzip` body is decompressed here, as reqwest would, with the
//! body size limit applied to the decompressed bytes. A redirect is not followed here: the
//! caller repeats the scrape with reqwest (as for a head too large for the read buffer), which
//! follows redirects as the job configures (`follow_redirects`, dropping credentials across
//! hosts). `https` targets and jobs with a proxy always go through reqwest.

use bytes::Bytes;
use harrier_telemetry::http_client::plain_http_client;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use std::io::Write;

/// Bytes read from a connection at a time (and what an idle pooled connection keeps).
pub(crate) const READ_BUFFER_BYTES: usize = 8 << 10;
/// Compressed bytes fed to the gzip decoder at a time, so that one chunk of a compression
/// bomb cannot inflate far past the body size limit before it is checked.
const GZIP_FEED_BYTES: usize = 1024;

/// A pooled HTTP/1.1 client for plain-`http` targets.
pub(crate) type PlainClient = Client<HttpConnector, Empty<Bytes>>;

pub(crate) fn build_client() -> PlainClient {
    plain_http_client(Some(READ_BUFFER_BYTES))
}

/// Why a plain fetch did not produce a body.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PlainError {
    #[error("{0}")]
    Request(String),
    #[error("server returned HTTP status {0}")]
    Status(String),
    #[error("body size limit exceeded")]
    BodySizeLimit,
    #[error("decompressing the gzip body: {0}")]
    Gzip(std::io::Error),
}

/// What a plain fetch got.
#[derive(Debug)]
pub(crate) enum PlainResponse {
    /// `200 OK`: the body (decompressed) and its Content-Type.
    Body(Vec<u8>, Option<String>),
    /// A redirect, or a response head larger than [`READ_BUFFER_BYTES`]: the caller repeats
    /// the request with reqwest.
    Fallback,
}

/// Sends `request` (a GET built by reqwest) and reads the body, failing once it reaches
/// `limit` bytes (0: no limit); `hint` sizes the body buffer. `describe` renders a client
/// error with its causes.
pub(crate) async fn fetch(
    client: &PlainClient,
    request: &reqwest::Request,
    limit: u64,
    hint: usize,
    describe: impl Fn(&dyn std::error::Error) -> String,
) -> Result<PlainResponse, PlainError> {
    let mut builder = http::Request::builder().method(http::Method::GET).uri(request.url().as_str());
    if let Some(headers) = builder.headers_mut() {
        headers.extend(request.headers().iter().map(|(name, value)| (name.clone(), value.clone())));
    }
    let outgoing = builder.body(Empty::new()).map_err(|e| PlainError::Request(describe(&e)))?;
    let response = match client.request(outgoing).await {
        Ok(response) => response,
        Err(e) if head_too_large(&e) => return Ok(PlainResponse::Fallback),
        Err(e) => return Err(PlainError::Request(describe(&e))),
    };
    let status = response.status();
    if status.is_redirection() {
        return Ok(PlainResponse::Fallback);
    }
    if status != http::StatusCode::OK {
        return Err(PlainError::Status(status.to_string()));
    }
    let headers = response.headers();
    let content_type =
        headers.get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_string);
    let gzip = headers
        .get(http::header::CONTENT_ENCODING)
        .is_some_and(|v| v.as_bytes().trim_ascii().eq_ignore_ascii_case(b"gzip"));
    let over_limit = |len: usize| limit > 0 && len as u64 >= limit;
    let mut body = response.into_body();
    let mut plain = Vec::with_capacity(hint + hint / 8);
    let mut decoder = gzip.then(|| flate2::write::GzDecoder::new(Vec::with_capacity(hint + hint / 8)));
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| PlainError::Request(describe(&e)))?;
        let Ok(data) = frame.into_data() else { continue };
        match decoder.as_mut() {
            None => {
                plain.extend_from_slice(&data);
                // Prometheus reads at most the limit and fails when it got that many bytes.
                if over_limit(plain.len()) {
                    return Err(PlainError::BodySizeLimit);
                }
            }
            Some(decoder) => {
                for piece in data.chunks(GZIP_FEED_BYTES) {
                    decoder.write_all(piece).map_err(PlainError::Gzip)?;
                    if over_limit(decoder.get_ref().len()) {
                        return Err(PlainError::BodySizeLimit);
                    }
                }
            }
        }
    }
    if let Some(decoder) = decoder {
        plain = decoder.finish().map_err(PlainError::Gzip)?;
        if over_limit(plain.len()) {
            return Err(PlainError::BodySizeLimit);
        }
    }
    Ok(PlainResponse::Body(plain, content_type))
}

/// Whether hyper failed the response because its head did not fit the read buffer.
fn head_too_large(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if e.downcast_ref::<hyper::Error>().is_some_and(hyper::Error::is_parse_too_large) {
            return true;
        }
        cause = e.source();
    }
    false
}
