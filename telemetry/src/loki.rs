//! Loki's push API (`POST /loki/api/v1/push`): the protobuf + snappy body, the JSON body, the
//! label-set string, and a bounded decoder.
//!
//! # Wire format
//! The default body is a `logproto.PushRequest` ([`proto`]) serialized as protobuf and then
//! snappy **block**-compressed (not the framed format), sent with
//! `Content-Type: application/x-protobuf` and no `Content-Encoding` (Loki always
//! snappy-decodes a protobuf body; it tolerates `Content-Encoding: snappy` as a no-op). A
//! stream is identified by its label-set string (`{a="b", c="d"}`, [`label_string`]); each
//! entry carries a `google.protobuf.Timestamp`, the line, and (Loki 3) structured metadata:
//! per-line name/value pairs that are not indexed.
//!
//! The JSON alternative (`Content-Type: application/json`, optionally gzip-compressed) is
//! `{"streams":[{"stream":{"a":"b"},"values":[["<unix ns as a decimal string>","line"],
//! ["<ns>","line",{"trace_id":"..."}]]}]}`, the third element of a value holding the
//! structured metadata when there is any.
//!
//! # Encoding
//! [`PushEncoder`] writes the protobuf wire format directly from a [`PushStreams`] view of the
//! caller's batch, with no intermediate messages and no allocation per entry: a first pass
//! computes each stream's size (entry sizes are cheap to recompute from lengths), a second
//! writes the bytes into a buffer reserved to the exact total. The output is byte-for-byte what
//! prost produces for the same [`proto`] messages (fields in number order, proto3 defaults
//! omitted, the timestamp always present as Loki's non-nullable field is), which the tests
//! check. The snappy encoder and all buffers are kept between requests, so a steady stream of
//! batches allocates nothing.
//!
//! # Decoding
//! [`decode_push`] is for receivers (tests, fuzzing): the body size is checked first, the
//! snappy header's declared length (or the gzip output, read through a bounded reader) is
//! checked against [`DecodeLimits::max_decompressed_bytes`] before anything large is
//! allocated, and every failure is a [`LokiDecodeError`]; no input panics.

mod json;
mod labels;
pub mod proto;
#[cfg(test)]
mod tests;

pub use labels::{LabelStringError, label_string, parse_label_string, push_go_quoted, write_label_string};

use crate::snappy_block::{BlockCompressor, DecompressError, decompress_bounded};
use std::borrow::Cow;
use std::io::Read;

/// `Content-Type` of a protobuf (snappy-compressed) push body.
pub const PROTOBUF_CONTENT_TYPE: &str = "application/x-protobuf";
/// `Content-Type` of a JSON push body.
pub const JSON_CONTENT_TYPE: &str = "application/json";
/// The header that selects the tenant in a multi-tenant Loki.
pub const TENANT_HEADER: &str = "X-Scope-OrgID";
/// The push endpoint's path.
pub const PUSH_PATH: &str = "/loki/api/v1/push";

/// One log entry as the encoder sees it: borrowed from the caller's batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PushEntry<'a> {
    /// Nanoseconds since the Unix epoch (may be negative).
    pub timestamp_ns: i64,
    pub line: &'a str,
    /// Structured metadata, written in this order (empty: none).
    pub metadata: &'a [(String, String)],
}

/// What a push request is built from; the encoder may call these more than once (the protobuf
/// encoder walks every stream's entries twice), so they must return the same data each time.
pub trait PushStreams {
    fn stream_count(&self) -> usize;
    /// The stream's labels in [`label_string`] form.
    fn labels(&self, stream: usize) -> &str;
    /// Calls `f` with each entry of the stream, in order.
    fn for_each_entry(&self, stream: usize, f: &mut dyn FnMut(PushEntry<'_>));
    /// Calls `f` with each label of the stream (the JSON encoding needs them as an object).
    /// The default parses [`PushStreams::labels`]; a string that does not parse yields no
    /// labels (Loki then refuses the stream). Implementations holding the pairs should override.
    fn for_each_label(&self, stream: usize, f: &mut dyn FnMut(&str, &str)) {
        if let Ok(pairs) = parse_label_string(self.labels(stream)) {
            for (name, value) in &pairs {
                f(name, value);
            }
        }
    }
}

/// Builds push bodies, keeping its buffers and snappy state between calls.
pub struct PushEncoder {
    proto: Vec<u8>,
    compressor: BlockCompressor,
    json: Vec<u8>,
    stream_sizes: Vec<usize>,
}

impl Default for PushEncoder {
    fn default() -> Self {
        PushEncoder::new()
    }
}

impl std::fmt::Debug for PushEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushEncoder")
            .field("proto_capacity", &self.proto.capacity())
            .field("compressed_capacity", &self.compressor.capacity())
            .field("json_capacity", &self.json.capacity())
            .finish()
    }
}

impl PushEncoder {
    pub fn new() -> Self {
        PushEncoder {
            proto: Vec::new(),
            compressor: BlockCompressor::new(),
            json: Vec::new(),
            stream_sizes: Vec::new(),
        }
    }

    /// `logproto.PushRequest`, snappy block-compressed: the body to POST with
    /// [`PROTOBUF_CONTENT_TYPE`]. Valid until the next call.
    pub fn encode_protobuf(&mut self, streams: &dyn PushStreams) -> &[u8] {
        self.encode_protobuf_uncompressed(streams);
        self.compressor.compress(&self.proto)
    }

    /// The uncompressed protobuf `PushRequest` (what [`PushEncoder::encode_protobuf`]
    /// compresses). Valid until the next call.
    pub fn encode_protobuf_uncompressed(&mut self, streams: &dyn PushStreams) -> &[u8] {
        let count = streams.stream_count();
        self.stream_sizes.clear();
        let mut total = 0;
        for stream in 0..count {
            let size = stream_size(streams, stream);
            self.stream_sizes.push(size);
            total += len_field_size(size);
        }
        self.proto.clear();
        self.proto.reserve(total);
        for (stream, &size) in self.stream_sizes.iter().enumerate() {
            write_stream(streams, stream, size, &mut self.proto);
        }
        debug_assert_eq!(self.proto.len(), total, "push request size mismatch");
        &self.proto
    }

    /// Loki's JSON push body (uncompressed), to POST with [`JSON_CONTENT_TYPE`]. Valid until
    /// the next call.
    pub fn encode_json(&mut self, streams: &dyn PushStreams) -> &[u8] {
        self.json.clear();
        json::write_push_json(streams, &mut self.json);
        &self.json
    }
}

/// The prost messages of `streams` (the slow, obviously correct path, for tests and tools).
pub fn push_request_from_streams(streams: &dyn PushStreams) -> proto::PushRequest {
    let streams = (0..streams.stream_count())
        .map(|stream| {
            let mut entries = Vec::new();
            streams.for_each_entry(stream, &mut |e| {
                entries.push(proto::EntryAdapter {
                    timestamp: Some(proto::Timestamp::from_nanos(e.timestamp_ns)),
                    line: e.line.to_string(),
                    structured_metadata: e
                        .metadata
                        .iter()
                        .map(|(name, value)| proto::LabelPairAdapter {
                            name: name.clone(),
                            value: value.clone(),
                        })
                        .collect(),
                })
            });
            proto::StreamAdapter { labels: streams.labels(stream).to_string(), entries, hash: 0 }
        })
        .collect();
    proto::PushRequest { streams }
}

// ----- decoding -----

/// Bounds on what [`decode_push`] accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// The request body as received (compressed).
    pub max_body_bytes: usize,
    /// The body after snappy or gzip decompression.
    pub max_decompressed_bytes: usize,
}

impl Default for DecodeLimits {
    /// 64 MiB received, 256 MiB decompressed.
    fn default() -> Self {
        DecodeLimits { max_body_bytes: 64 << 20, max_decompressed_bytes: 256 << 20 }
    }
}

/// Why a push body could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum LokiDecodeError {
    #[error("request body of {size} bytes exceeds the limit of {limit} bytes")]
    BodyTooLarge { size: usize, limit: usize },
    #[error("decompressed body exceeds the limit of {limit} bytes")]
    DecompressedTooLarge { limit: usize },
    #[error("unsupported Content-Type {0:?} (expected application/x-protobuf or application/json)")]
    UnsupportedContentType(String),
    #[error("unsupported Content-Encoding {0:?}")]
    UnsupportedContentEncoding(String),
    #[error("invalid snappy block: {0}")]
    Snappy(#[from] snap::Error),
    #[error("invalid {encoding} body: {source}")]
    Decompress { encoding: &'static str, source: std::io::Error },
    #[error("invalid protobuf PushRequest: {0}")]
    Protobuf(#[from] prost::DecodeError),
    #[error("invalid JSON push body: {0}")]
    Json(#[from] serde_json::Error),
}

/// The body format, from `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyFormat {
    Protobuf,
    Json,
}

fn body_format(content_type: &str) -> Result<BodyFormat, LokiDecodeError> {
    let media_type = content_type.split(';').next().unwrap_or("").trim();
    if media_type.is_empty() || media_type.eq_ignore_ascii_case(PROTOBUF_CONTENT_TYPE) {
        // Loki treats a body without a Content-Type as protobuf.
        Ok(BodyFormat::Protobuf)
    } else if media_type.eq_ignore_ascii_case(JSON_CONTENT_TYPE) {
        Ok(BodyFormat::Json)
    } else {
        Err(LokiDecodeError::UnsupportedContentType(content_type.to_string()))
    }
}

/// Decodes a push body (protobuf + snappy or JSON, by `content_type`; `content_encoding` may
/// be absent, `identity`, `gzip`, `deflate` (raw DEFLATE, as Loki reads it) or, for protobuf,
/// `snappy`, which Loki accepts as a no-op) into the prost messages. A JSON stream's labels
/// become the [`label_string`] of its sorted `stream` object; its metadata keeps document order.
pub fn decode_push(
    body: &[u8],
    content_type: &str,
    content_encoding: Option<&str>,
    limits: &DecodeLimits,
) -> Result<proto::PushRequest, LokiDecodeError> {
    if body.len() > limits.max_body_bytes {
        return Err(LokiDecodeError::BodyTooLarge { size: body.len(), limit: limits.max_body_bytes });
    }
    let format = body_format(content_type)?;
    let encoding = content_encoding.map(str::trim).unwrap_or("");
    let limit = limits.max_decompressed_bytes;
    // A protobuf body is a snappy block whatever the header says; `snappy` names that.
    let passthrough = encoding.is_empty()
        || encoding.eq_ignore_ascii_case("identity")
        || (encoding.eq_ignore_ascii_case("snappy") && format == BodyFormat::Protobuf);
    let payload: Cow<'_, [u8]> = if passthrough {
        Cow::Borrowed(body)
    } else if encoding.eq_ignore_ascii_case("gzip") {
        Cow::Owned(read_bounded(flate2::read::GzDecoder::new(body), limit, "gzip")?)
    } else if encoding.eq_ignore_ascii_case("deflate") {
        Cow::Owned(read_bounded(flate2::read::DeflateDecoder::new(body), limit, "deflate")?)
    } else {
        return Err(LokiDecodeError::UnsupportedContentEncoding(encoding.to_string()));
    };
    match format {
        BodyFormat::Protobuf => decode_protobuf(&payload, limit),
        BodyFormat::Json => {
            if payload.len() > limit {
                return Err(LokiDecodeError::DecompressedTooLarge { limit });
            }
            json::decode_push_json(&payload)
        }
    }
}

/// Decodes a snappy-compressed protobuf `PushRequest`, refusing a declared decompressed length
/// above `max_decompressed` before allocating.
pub fn decode_protobuf(body: &[u8], max_decompressed: usize) -> Result<proto::PushRequest, LokiDecodeError> {
    let decompressed = decompress_bounded(body, max_decompressed).map_err(|e| match e {
        DecompressError::Snappy(e) => LokiDecodeError::Snappy(e),
        DecompressError::TooLarge { .. } => LokiDecodeError::DecompressedTooLarge { limit: max_decompressed },
    })?;
    Ok(prost::Message::decode(decompressed.as_slice())?)
}

/// Reads `reader` to the end, failing once more than `limit` bytes come out.
fn read_bounded(reader: impl Read, limit: usize, encoding: &'static str) -> Result<Vec<u8>, LokiDecodeError> {
    let mut out = Vec::new();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    reader
        .take(cap)
        .read_to_end(&mut out)
        .map_err(|source| LokiDecodeError::Decompress { encoding, source })?;
    if out.len() > limit {
        return Err(LokiDecodeError::DecompressedTooLarge { limit });
    }
    Ok(out)
}

// ----- protobuf wire format -----

use crate::protowire::{WIRE_LEN, WIRE_VARINT, key, len_field_size, put_varint, varint_len};

/// Size of a string field, omitted when empty (proto3 default).
#[inline]
fn string_field_size(s: &str) -> usize {
    if s.is_empty() { 0 } else { len_field_size(s.len()) }
}

#[inline]
fn put_string_field(out: &mut Vec<u8>, field: u8, s: &str) {
    if !s.is_empty() {
        out.push(key(field, WIRE_LEN));
        put_varint(out, s.len() as u64);
        out.extend_from_slice(s.as_bytes());
    }
}

/// Size of the `Timestamp` message body (int64 seconds, int32 nanos; zeros omitted). Negative
/// seconds are 10-byte varints (two's complement), as protobuf encodes negative int64.
#[inline]
fn timestamp_size(ts: proto::Timestamp) -> usize {
    let seconds = if ts.seconds != 0 { 1 + varint_len(ts.seconds as u64) } else { 0 };
    let nanos = if ts.nanos != 0 { 1 + varint_len(i64::from(ts.nanos) as u64) } else { 0 };
    seconds + nanos
}

#[inline]
fn label_pair_size(name: &str, value: &str) -> usize {
    string_field_size(name) + string_field_size(value)
}

#[inline]
fn entry_size(e: &PushEntry<'_>) -> usize {
    let mut size = len_field_size(timestamp_size(proto::Timestamp::from_nanos(e.timestamp_ns)));
    size += string_field_size(e.line);
    for (name, value) in e.metadata {
        size += len_field_size(label_pair_size(name, value));
    }
    size
}

fn stream_size(streams: &dyn PushStreams, stream: usize) -> usize {
    let mut size = string_field_size(streams.labels(stream));
    streams.for_each_entry(stream, &mut |e| size += len_field_size(entry_size(&e)));
    size
}

fn write_stream(streams: &dyn PushStreams, stream: usize, size: usize, out: &mut Vec<u8>) {
    out.push(key(1, WIRE_LEN));
    put_varint(out, size as u64);
    put_string_field(out, 1, streams.labels(stream));
    streams.for_each_entry(stream, &mut |e| write_entry(&e, out));
}

fn write_entry(e: &PushEntry<'_>, out: &mut Vec<u8>) {
    out.push(key(2, WIRE_LEN));
    put_varint(out, entry_size(e) as u64);
    let ts = proto::Timestamp::from_nanos(e.timestamp_ns);
    out.push(key(1, WIRE_LEN));
    put_varint(out, timestamp_size(ts) as u64);
    if ts.seconds != 0 {
        out.push(key(1, WIRE_VARINT));
        put_varint(out, ts.seconds as u64);
    }
    if ts.nanos != 0 {
        out.push(key(2, WIRE_VARINT));
        put_varint(out, i64::from(ts.nanos) as u64);
    }
    put_string_field(out, 2, e.line);
    for (name, value) in e.metadata {
        out.push(key(3, WIRE_LEN));
        put_varint(out, label_pair_size(name, value) as u64);
        put_string_field(out, 1, name);
        put_string_field(out, 2, value);
    }
}
