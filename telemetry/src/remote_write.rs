//! Prometheus remote_write 1.0: a protobuf `WriteRequest`, snappy block-compressed.
//!
//! Encoding writes the protobuf wire format straight from [`model::Series`] into a buffer,
//! without building the owned prost messages first: sizes are computed in a first pass over
//! each series, then the bytes are written. The output is byte-for-byte what prost (and
//! Prometheus's gogo-protobuf) produce for the same message — fields in number order, proto3
//! defaults (empty strings, `0` values and timestamps) omitted — which the tests check
//! against the prost structs in [`proto`]. [`Encoder`] keeps its buffers between requests.
//!
//! Decoding checks the length snappy declares in its header against the caller's limit
//! before allocating anything, then decompresses and decodes with prost (unknown fields such
//! as native histograms are skipped).
//!
//! [`model::Series`]: crate::model::Series

use crate::model::{Label, Labels, LabelsIter, PackedSamples, Sample, Series};
use crate::snappy_block::{BlockCompressor, DecompressError, decompress_bounded};
use std::cmp::Ordering;

pub mod proto;
#[cfg(test)]
mod tests;

/// `Content-Type` of a remote_write 1.0 request body.
pub const CONTENT_TYPE: &str = "application/x-protobuf";
/// `Content-Encoding` of a remote_write 1.0 request body.
pub const CONTENT_ENCODING: &str = "snappy";
/// The header naming the protocol version, and its value for 1.0.
pub const VERSION_HEADER: &str = "X-Prometheus-Remote-Write-Version";
pub const VERSION: &str = "0.1.0";

/// Why a request body could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("invalid snappy block: {0}")]
    Snappy(#[from] snap::Error),
    #[error("decompressed body of {declared} bytes exceeds the limit of {limit} bytes")]
    TooLarge { declared: usize, limit: usize },
    #[error("invalid protobuf WriteRequest: {0}")]
    Protobuf(#[from] prost::DecodeError),
}

/// The protobuf `WriteRequest` of these series, snappy-compressed (block format): a request body.
pub fn encode_request(series: &[Series]) -> Vec<u8> {
    let mut encoder = Encoder::new();
    encoder.encode(series).to_vec()
}

/// The protobuf `WriteRequest` of these series, uncompressed.
pub fn encode_write_request_proto(series: &[Series]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_write_request_proto_into(series, &mut out);
    out
}

/// Appends the protobuf `WriteRequest` of these series to `out`.
pub fn encode_write_request_proto_into(series: &[Series], out: &mut Vec<u8>) {
    encode_with_external_labels_into(series, &Labels::new(), out)
}

/// Appends the protobuf `WriteRequest` of these series to `out`, each series carrying the
/// `external` labels it lacks (Prometheus's external labels: a series' own label of the same
/// name wins). The labels are copied from their packed encoding ([`Labels::encoded`]), merged
/// in name order without decoding the values.
pub fn encode_with_external_labels_into(series: &[Series], external: &Labels, out: &mut Vec<u8>) {
    for s in series {
        let size = time_series_size(s.labels.encoded(), &s.samples, external);
        out.push(key(1, WIRE_LEN));
        put_varint(out, size as u64);
        let before = out.len();
        write_time_series(s.labels.encoded(), &s.samples, external, out);
        debug_assert_eq!(out.len() - before, size, "time series size mismatch");
    }
}

/// Appends the protobuf `WriteRequest` of these single-sample series to `out`, each carrying
/// the `external` labels it lacks, as [`encode_with_external_labels_into`] does for [`Series`].
pub fn encode_packed_into(packed: &PackedSamples, external: &Labels, out: &mut Vec<u8>) {
    for (labels, sample) in packed.iter() {
        let samples = std::slice::from_ref(&sample);
        let size = time_series_size(labels, samples, external);
        out.push(key(1, WIRE_LEN));
        put_varint(out, size as u64);
        let before = out.len();
        write_time_series(labels, samples, external, out);
        debug_assert_eq!(out.len() - before, size, "time series size mismatch");
    }
}

/// Calls `emit` with the encoded label fields of `labels` (a packed label set,
/// [`Labels::encoded`]) plus the `external` ones it lacks, in name order.
#[inline]
fn merged_label_fields(labels: &[u8], external: &Labels, mut emit: impl FnMut(&[u8])) {
    if external.is_empty() {
        emit(labels);
        return;
    }
    let mut own = LabelsIter::over(labels).with_encoded().peekable();
    let mut ext = external.iter_encoded().peekable();
    loop {
        match (own.peek(), ext.peek()) {
            (Some((o, o_raw)), Some((e, e_raw))) => match o.name.cmp(e.name) {
                Ordering::Less => {
                    emit(o_raw);
                    own.next();
                }
                Ordering::Equal => {
                    emit(o_raw);
                    own.next();
                    ext.next();
                }
                Ordering::Greater => {
                    emit(e_raw);
                    ext.next();
                }
            },
            (Some((_, o_raw)), None) => {
                emit(o_raw);
                own.next();
            }
            (None, Some((_, e_raw))) => {
                emit(e_raw);
                ext.next();
            }
            (None, None) => return,
        }
    }
}

/// A reusable encoder: protobuf and snappy buffers survive between requests.
pub struct Encoder {
    proto: Vec<u8>,
    compressor: BlockCompressor,
}

impl Default for Encoder {
    fn default() -> Self {
        Encoder::new()
    }
}

impl Encoder {
    pub fn new() -> Self {
        Encoder { proto: Vec::new(), compressor: BlockCompressor::new() }
    }

    /// Encodes a request body; the slice is valid until the next call.
    pub fn encode(&mut self, series: &[Series]) -> &[u8] {
        self.encode_with_external_labels(series, &Labels::new())
    }

    /// Encodes a request body with `external` labels added to every series that lacks them.
    pub fn encode_with_external_labels(&mut self, series: &[Series], external: &Labels) -> &[u8] {
        self.encode_proto_with(|out| encode_with_external_labels_into(series, external, out))
    }

    /// Encodes a request body whose `WriteRequest` protobuf `write` appends to the buffer it
    /// is given (empty at the call), with [`encode_with_external_labels_into`] and
    /// [`encode_packed_into`].
    pub fn encode_proto_with(&mut self, write: impl FnOnce(&mut Vec<u8>)) -> &[u8] {
        self.proto.clear();
        write(&mut self.proto);
        self.compressor.compress(&self.proto)
    }

    /// The uncompressed protobuf of the last [`Encoder::encode`].
    pub fn last_proto(&self) -> &[u8] {
        &self.proto
    }
}

/// Decodes a snappy-compressed `WriteRequest` body, refusing more than `max_decompressed` bytes.
pub fn decode_request(body: &[u8], max_decompressed: usize) -> Result<Vec<Series>, DecodeError> {
    let request = decode_write_request(body, max_decompressed)?;
    Ok(request.timeseries.into_iter().map(series_from_proto).collect())
}

/// Decodes a body into the prost messages, keeping exemplars and metadata.
pub fn decode_write_request(
    body: &[u8],
    max_decompressed: usize,
) -> Result<proto::WriteRequest, DecodeError> {
    let decompressed = decompress_bounded(body, max_decompressed).map_err(|e| match e {
        DecompressError::Snappy(e) => DecodeError::Snappy(e),
        DecompressError::TooLarge { declared } => DecodeError::TooLarge { declared, limit: max_decompressed },
    })?;
    Ok(prost::Message::decode(decompressed.as_slice())?)
}

/// Converts a decoded series to the model: labels sorted (last duplicate wins, empty values
/// dropped), samples in wire order.
pub fn series_from_proto(ts: proto::TimeSeries) -> Series {
    let labels = Labels::from_unsorted(
        ts.labels.into_iter().map(|l| Label { name: l.name, value: l.value }).collect(),
    );
    let samples =
        ts.samples.into_iter().map(|s| Sample { timestamp_ms: s.timestamp, value: s.value }).collect();
    Series { labels, samples }
}

/// Converts model series to the prost messages (the slow, obviously-correct path).
pub fn write_request_from_series(series: &[Series]) -> proto::WriteRequest {
    proto::WriteRequest {
        timeseries: series
            .iter()
            .map(|s| proto::TimeSeries {
                labels: s
                    .labels
                    .iter()
                    .map(|l| proto::Label { name: l.name.to_string(), value: l.value.to_string() })
                    .collect(),
                samples: s
                    .samples
                    .iter()
                    .map(|x| proto::Sample { value: x.value, timestamp: x.timestamp_ms })
                    .collect(),
                exemplars: Vec::new(),
            })
            .collect(),
        metadata: Vec::new(),
    }
}

// ----- protobuf wire format -----

use crate::protowire::{WIRE_FIXED64, WIRE_LEN, WIRE_VARINT, key, len_field_size, put_varint, varint_len};

#[inline]
fn sample_size(s: &Sample) -> usize {
    let value = if s.value != 0.0 { 9 } else { 0 };
    let timestamp = if s.timestamp_ms != 0 { 1 + varint_len(s.timestamp_ms as u64) } else { 0 };
    value + timestamp
}

fn time_series_size(labels: &[u8], samples: &[Sample], external: &Labels) -> usize {
    let mut size = 0;
    merged_label_fields(labels, external, |raw| size += raw.len());
    size + samples.iter().map(|x| len_field_size(sample_size(x))).sum::<usize>()
}

fn write_time_series(labels: &[u8], samples: &[Sample], external: &Labels, out: &mut Vec<u8>) {
    merged_label_fields(labels, external, |raw| out.extend_from_slice(raw));
    for x in samples {
        out.push(key(2, WIRE_LEN));
        put_varint(out, sample_size(x) as u64);
        if x.value != 0.0 {
            out.push(key(1, WIRE_FIXED64));
            out.extend_from_slice(&x.value.to_bits().to_le_bytes());
        }
        if x.timestamp_ms != 0 {
            out.push(key(2, WIRE_VARINT));
            put_varint(out, x.timestamp_ms as u64);
        }
    }
}
