//! The layout of one disk-queue record: a small header, then the request body exactly as it
//! is POSTed (a snappy-compressed `WriteRequest`), so sending a record copies nothing and
//! encodes nothing.
//!
//! Header (little-endian): format version `u8` (= 1), sample count `u32`, newest sample
//! timestamp `i64` (milliseconds). The header feeds the sent/dropped sample counters and the
//! highest-sent-timestamp gauge without decoding the body.

use super::batcher::Batch;
use crate::model::Labels;
use crate::remote_write::Encoder;

const FORMAT_VERSION: u8 = 1;
/// Bytes before the body.
pub const HEADER_LEN: usize = 1 + 4 + 8;

/// What the header says about a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordHeader {
    pub samples: u64,
    pub max_timestamp_ms: i64,
}

/// Why a record could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("record of {0} bytes is shorter than its header")]
    Truncated(usize),
    #[error("unknown record format version {0}")]
    UnknownVersion(u8),
}

/// Encodes a batch into a record: header then request body, each series given the `external`
/// labels it lacks. `encoder` keeps its buffers
/// between calls.
pub fn encode_record(batch: &Batch, encoder: &mut Encoder, external: &Labels) -> Vec<u8> {
    let body = encoder.encode_proto_with(|out| batch.encode_proto_into(external, out));
    let mut record = Vec::with_capacity(HEADER_LEN + body.len());
    record.push(FORMAT_VERSION);
    let samples = u32::try_from(batch.samples).unwrap_or(u32::MAX);
    record.extend_from_slice(&samples.to_le_bytes());
    record.extend_from_slice(&batch.max_timestamp_ms.to_le_bytes());
    record.extend_from_slice(body);
    record
}

/// Reads a record's header. The body is `record[HEADER_LEN..]`.
pub fn decode_header(record: &[u8]) -> Result<RecordHeader, RecordError> {
    if record.len() < HEADER_LEN {
        return Err(RecordError::Truncated(record.len()));
    }
    if record[0] != FORMAT_VERSION {
        return Err(RecordError::UnknownVersion(record[0]));
    }
    let mut samples = [0u8; 4];
    samples.copy_from_slice(&record[1..5]);
    let mut timestamp = [0u8; 8];
    timestamp.copy_from_slice(&record[5..13]);
    Ok(RecordHeader {
        samples: u64::from(u32::from_le_bytes(samples)),
        max_timestamp_ms: i64::from_le_bytes(timestamp),
    })
}
