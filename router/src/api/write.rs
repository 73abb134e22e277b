//! The remote_write 1.0 receiver, `POST /api/v1/write`, as Prometheus's
//! (`storage/remote/write_handler.go`) behaves:
//!
//! - The body is read up to [`WriteLimits::max_body_bytes`] (a larger one, by
//!   `Content-Length` or as it streams in, is refused with 413 without reading the rest), and
//!   decompressed up to [`WriteLimits::max_decompressed_bytes`] (snappy declares the length in
//!   its header, checked before allocating: a "snappy bomb" is refused with 413 too). A body
//!   that is not snappy or not a `WriteRequest` gets 400 with the reason.
//! - Series without a metric name, with an empty label name or with a label name twice are
//!   skipped and counted (`invalid_labels`), and the rest is written: Prometheus does the same.
//! - Samples more than 10 minutes in the future make the whole request fail with 400 before
//!   anything is written (Prometheus's `validationAppender`: out of bounds).
//! - Samples the store refuses as out of order, duplicate (same timestamp, other value) or too
//!   old answer 400 with the reason, which tells the sender not to retry. Prometheus rolls the
//!   whole request back in that case; our store appends sample by sample, so the other samples
//!   of the request are kept (as Prometheus's remote write 2.0 handler does).
//! - A store failure is a 500 (the sender retries). Success is 204.

use crate::store::StoreError;
use harrier_telemetry::model::{METRIC_NAME, Series};
use harrier_telemetry::remote_write::{self, DecodeError, proto};
use std::collections::HashSet;

/// What the write endpoint needs from the store.
pub trait Ingester: Send + Sync {
    /// Appends the samples of `series`, refusing some with a reason.
    fn ingest(&self, series: &[Series]) -> Result<IngestOutcome, StoreError>;

    /// Size figures for the router's `/metrics`.
    fn stats(&self) -> StorageStats {
        StorageStats::default()
    }
}

/// The store's size, as shown on `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StorageStats {
    pub series: u64,
    pub bytes: u64,
}

/// Why a sample was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectReason {
    /// Older than the newest sample of its series.
    OutOfOrder,
    /// Same timestamp as a stored sample, different value.
    Duplicate,
    /// Older than the store accepts (retention).
    TooOld,
    /// Too far in the future.
    OutOfBounds,
    /// Its series has no metric name or invalid labels.
    InvalidLabels,
}

impl RejectReason {
    /// The `reason` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::OutOfOrder => "out_of_order",
            RejectReason::Duplicate => "duplicate",
            RejectReason::TooOld => "too_old",
            RejectReason::OutOfBounds => "out_of_bounds",
            RejectReason::InvalidLabels => "invalid_labels",
        }
    }

    /// Prometheus's message for the storage error of this kind.
    pub fn message(self) -> &'static str {
        match self {
            RejectReason::OutOfOrder => "out of order sample",
            RejectReason::Duplicate => "duplicate sample for timestamp",
            RejectReason::TooOld => "too old sample",
            RejectReason::OutOfBounds => "out of bounds",
            RejectReason::InvalidLabels => "invalid metric name or labels",
        }
    }
}

/// What an append did: samples stored, samples refused by reason.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestOutcome {
    pub appended: u64,
    pub rejected: Vec<(RejectReason, u64)>,
}

impl IngestOutcome {
    /// Adds `count` refusals for `reason`.
    pub fn reject(&mut self, reason: RejectReason, count: u64) {
        if count == 0 {
            return;
        }
        match self.rejected.iter_mut().find(|(r, _)| *r == reason) {
            Some((_, n)) => *n += count,
            None => self.rejected.push((reason, count)),
        }
    }

    /// Refusals for `reason`.
    pub fn rejected(&self, reason: RejectReason) -> u64 {
        self.rejected.iter().filter(|(r, _)| *r == reason).map(|(_, n)| n).sum()
    }
}

/// Size limits of the write endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteLimits {
    /// The largest (compressed) request body.
    pub max_body_bytes: usize,
    /// The largest decompressed `WriteRequest`.
    pub max_decompressed_bytes: usize,
}

impl Default for WriteLimits {
    fn default() -> Self {
        WriteLimits { max_body_bytes: 16 << 20, max_decompressed_bytes: 64 << 20 }
    }
}

/// How far ahead of now a sample may be (Prometheus's `maxAheadTime`).
pub const MAX_AHEAD_MS: i64 = 10 * 60 * 1000;

/// Why a write request failed, with the status it answers.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("request body exceeds the limit of {limit} bytes")]
    BodyTooLarge { limit: usize },
    #[error("{0}")]
    DecompressedTooLarge(DecodeError),
    #[error("{0}")]
    Malformed(DecodeError),
    #[error("cannot read the request body: {0}")]
    Read(String),
    #[error("{reason} for series {series} (timestamp {timestamp_ms})", reason = reason.message())]
    Rejected { reason: RejectReason, series: String, timestamp_ms: i64 },
    #[error("{count} samples refused: {reason}", reason = reason.message())]
    RejectedByStore { reason: RejectReason, count: u64 },
    #[error("storage error: {0}")]
    Store(#[from] StoreError),
}

impl WriteError {
    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            WriteError::BodyTooLarge { .. } | WriteError::DecompressedTooLarge(_) => 413,
            WriteError::Malformed(_) | WriteError::Read(_) => 400,
            WriteError::Rejected { .. } | WriteError::RejectedByStore { .. } => 400,
            WriteError::Store(_) => 500,
        }
    }
}

/// A decoded request: the valid series, and how many samples were dropped for bad labels.
#[derive(Debug, Default)]
pub struct DecodedWrite {
    pub series: Vec<Series>,
    pub invalid_label_samples: u64,
}

/// Decodes and validates a body (see the module documentation); `now_ms` bounds timestamps.
pub fn decode(body: &[u8], limits: &WriteLimits, now_ms: i64) -> Result<DecodedWrite, WriteError> {
    let request =
        remote_write::decode_write_request(body, limits.max_decompressed_bytes).map_err(|e| match e {
            DecodeError::TooLarge { .. } => WriteError::DecompressedTooLarge(e),
            other => WriteError::Malformed(other),
        })?;
    let max_t = now_ms.saturating_add(MAX_AHEAD_MS);
    let mut out =
        DecodedWrite { series: Vec::with_capacity(request.timeseries.len()), invalid_label_samples: 0 };
    for ts in request.timeseries {
        if !labels_valid(&ts.labels) {
            out.invalid_label_samples += ts.samples.len() as u64;
            continue;
        }
        let series = remote_write::series_from_proto(ts);
        if let Some(s) = series.samples.iter().find(|s| s.timestamp_ms > max_t) {
            return Err(WriteError::Rejected {
                reason: RejectReason::OutOfBounds,
                series: series.labels.to_string(),
                timestamp_ms: s.timestamp_ms,
            });
        }
        if !series.samples.is_empty() {
            out.series.push(series);
        }
    }
    Ok(out)
}

/// Prometheus's checks: a non-empty metric name, no empty label name, no name twice.
fn labels_valid(labels: &[proto::Label]) -> bool {
    let has_name = labels.iter().any(|l| l.name == METRIC_NAME && !l.value.is_empty());
    if !has_name || labels.iter().any(|l| l.name.is_empty()) {
        return false;
    }
    let mut seen = HashSet::with_capacity(labels.len());
    labels.iter().all(|l| seen.insert(l.name.as_str()))
}

/// The status of an append: success, or the first refusal that Prometheus answers 400 for.
pub fn check_outcome(outcome: &IngestOutcome) -> Result<(), WriteError> {
    for reason in
        [RejectReason::OutOfOrder, RejectReason::Duplicate, RejectReason::TooOld, RejectReason::OutOfBounds]
    {
        let count = outcome.rejected(reason);
        if count > 0 {
            return Err(WriteError::RejectedByStore { reason, count });
        }
    }
    Ok(())
}

impl Ingester for crate::store::model::ModelStorage {
    /// The model store takes everything (a repeated timestamp replaces the sample).
    fn ingest(&self, series: &[Series]) -> Result<IngestOutcome, StoreError> {
        let mut appended = 0;
        for s in series {
            self.append(&s.labels, &s.samples);
            appended += s.samples.len() as u64;
        }
        Ok(IngestOutcome { appended, rejected: Vec::new() })
    }
}

/// `POST /api/v1/write`.
pub async fn handle(
    axum::extract::State(state): axum::extract::State<super::ApiState>,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let outcome = match body {
        Ok(body) => write_body(&state, body).await,
        Err(rejection) => {
            let status = rejection.status();
            let message = if status == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                WriteError::BodyTooLarge { limit: state.write_limits.max_body_bytes }.to_string()
            } else {
                WriteError::Read(rejection.body_text()).to_string()
            };
            Err((status.as_u16(), message))
        }
    };
    let (status, message) = match outcome {
        Ok(()) => (204, String::new()),
        Err((status, message)) => (status, message),
    };
    state.metrics.write_requests.get_or_create(&[("code", status.to_string())]).inc();
    let code =
        axum::http::StatusCode::from_u16(status).unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
    if message.is_empty() { code.into_response() } else { (code, format!("{message}\n")).into_response() }
}

/// Decodes, stores and counts one request body; the error is a status and a message.
async fn write_body(state: &super::ApiState, body: axum::body::Bytes) -> Result<(), (u16, String)> {
    let failed = |e: WriteError| {
        if e.status() >= 500 {
            tracing::error!(error = %e, "remote_write: cannot store samples");
        } else {
            tracing::debug!(error = %e, "remote_write: request refused");
        }
        (e.status(), e.to_string())
    };
    let limits = state.write_limits;
    let decoded = decode(&body, &limits, harrier_telemetry::model::now_ms()).map_err(failed)?;
    let rejected = &state.metrics.rejected_samples;
    if decoded.invalid_label_samples > 0 {
        rejected
            .get_or_create(&[("reason", RejectReason::InvalidLabels.as_str())])
            .inc_by(decoded.invalid_label_samples);
    }
    let ingester = std::sync::Arc::clone(&state.ingester);
    let series = decoded.series;
    let outcome = match tokio::task::spawn_blocking(move || ingester.ingest(&series)).await {
        Ok(result) => result.map_err(|e| failed(WriteError::Store(e)))?,
        Err(e) => return Err((500, format!("storage task failed: {e}"))),
    };
    state.metrics.ingested_samples.inc_by(outcome.appended);
    for (reason, count) in &outcome.rejected {
        rejected.get_or_create(&[("reason", reason.as_str())]).inc_by(*count);
    }
    check_outcome(&outcome).map_err(failed)
}
