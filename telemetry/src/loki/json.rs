//! Loki's JSON push body: `{"streams":[{"stream":{"a":"b"},"values":[["<ns>","line"],
//! ["<ns>","line",{"k":"v"}]]}]}`.
//!
//! The encoder writes straight into a byte buffer: timestamps as decimal strings of Unix
//! nanoseconds (JSON numbers cannot hold them exactly), strings escaped as JSON requires
//! (`"`, `\`, and control characters below U+0020; everything else stays raw UTF-8), the
//! structured metadata as a third element only when an entry has some. The decoder reads the
//! same shape with serde into the protobuf messages, so a receiver handles both encodings
//! alike; timestamps may be strings (what Loki documents) or integers.

use super::proto::{EntryAdapter, LabelPairAdapter, PushRequest, StreamAdapter, Timestamp};
use super::{LokiDecodeError, PushStreams, write_label_string};
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::collections::BTreeMap;
use std::fmt;

pub(super) fn write_push_json(streams: &dyn PushStreams, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"streams\":[");
    for stream in 0..streams.stream_count() {
        if stream > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"stream\":{");
        let mut first = true;
        streams.for_each_label(stream, &mut |name, value| {
            if !first {
                out.push(b',');
            }
            first = false;
            write_json_string(out, name);
            out.push(b':');
            write_json_string(out, value);
        });
        out.extend_from_slice(b"},\"values\":[");
        let mut first = true;
        streams.for_each_entry(stream, &mut |e| {
            if !first {
                out.push(b',');
            }
            first = false;
            out.extend_from_slice(b"[\"");
            write_decimal(out, e.timestamp_ns);
            out.extend_from_slice(b"\",");
            write_json_string(out, e.line);
            if !e.metadata.is_empty() {
                out.extend_from_slice(b",{");
                for (i, (name, value)) in e.metadata.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write_json_string(out, name);
                    out.push(b':');
                    write_json_string(out, value);
                }
                out.push(b'}');
            }
            out.push(b']');
        });
        out.extend_from_slice(b"]}");
    }
    out.extend_from_slice(b"]}");
}

/// Appends `v` in decimal.
fn write_decimal(out: &mut Vec<u8>, v: i64) {
    let mut digits = [0u8; 20];
    let mut n = v.unsigned_abs();
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if v < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&digits[at..]);
}

/// Appends `s` as a JSON string literal.
pub(super) fn write_json_string(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut run_start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0C => b"\\f",
            0x00..=0x1F => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[run_start..i]);
        run_start = i + 1;
        if escape.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xF)]);
        } else {
            out.extend_from_slice(escape);
        }
    }
    out.extend_from_slice(&bytes[run_start..]);
    out.push(b'"');
}

// ----- decoding -----

#[derive(Deserialize)]
struct JsonPush {
    #[serde(default)]
    streams: Vec<JsonStream>,
}

#[derive(Deserialize)]
struct JsonStream {
    #[serde(default)]
    stream: BTreeMap<String, String>,
    #[serde(default)]
    values: Vec<JsonEntry>,
}

/// `["<ns>", "line"]` or `["<ns>", "line", {"k": "v", ...}]`.
struct JsonEntry {
    timestamp_ns: i64,
    line: String,
    metadata: Vec<LabelPairAdapter>,
}

pub(super) fn decode_push_json(body: &[u8]) -> Result<PushRequest, LokiDecodeError> {
    let push: JsonPush = serde_json::from_slice(body)?;
    let streams = push
        .streams
        .into_iter()
        .map(|s| {
            let mut labels = String::new();
            write_label_string(s.stream.iter().map(|(n, v)| (n.as_str(), v.as_str())), &mut labels);
            StreamAdapter {
                labels,
                entries: s
                    .values
                    .into_iter()
                    .map(|e| EntryAdapter {
                        timestamp: Some(Timestamp::from_nanos(e.timestamp_ns)),
                        line: e.line,
                        structured_metadata: e.metadata,
                    })
                    .collect(),
                hash: 0,
            }
        })
        .collect();
    Ok(PushRequest { streams })
}

impl<'de> Deserialize<'de> for JsonEntry {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_seq(EntryVisitor)
    }
}

struct EntryVisitor;

impl<'de> Visitor<'de> for EntryVisitor {
    type Value = JsonEntry;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array [\"<unix ns>\", \"line\"] with an optional metadata object")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<JsonEntry, A::Error> {
        let JsonTimestamp(timestamp_ns) =
            seq.next_element()?.ok_or_else(|| de::Error::invalid_length(0, &self))?;
        let line: String = seq.next_element()?.ok_or_else(|| de::Error::invalid_length(1, &self))?;
        let metadata = seq.next_element::<JsonMetadata>()?.map(|m| m.0).unwrap_or_default();
        if seq.next_element::<IgnoredAny>()?.is_some() {
            return Err(de::Error::invalid_length(4, &self));
        }
        Ok(JsonEntry { timestamp_ns, line, metadata })
    }
}

/// A timestamp in Unix nanoseconds: a decimal string, or an integer.
struct JsonTimestamp(i64);

impl<'de> Deserialize<'de> for JsonTimestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TimestampVisitor;
        impl Visitor<'_> for TimestampVisitor {
            type Value = JsonTimestamp;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("Unix nanoseconds as a decimal string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<JsonTimestamp, E> {
                v.parse().map(JsonTimestamp).map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<JsonTimestamp, E> {
                Ok(JsonTimestamp(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<JsonTimestamp, E> {
                i64::try_from(v)
                    .map(JsonTimestamp)
                    .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
            }
        }
        deserializer.deserialize_any(TimestampVisitor)
    }
}

/// Structured metadata: an object of strings, kept in document order.
struct JsonMetadata(Vec<LabelPairAdapter>);

impl<'de> Deserialize<'de> for JsonMetadata {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MetadataVisitor;
        impl<'de> Visitor<'de> for MetadataVisitor {
            type Value = JsonMetadata;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of string values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JsonMetadata, A::Error> {
                let mut pairs = Vec::new();
                while let Some((name, value)) = map.next_entry::<String, String>()? {
                    pairs.push(LabelPairAdapter { name, value });
                }
                Ok(JsonMetadata(pairs))
            }
        }
        deserializer.deserialize_map(MetadataVisitor)
    }
}
