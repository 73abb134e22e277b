//! Loki's push messages (`logproto` from `pkg/push/push.proto`), written by hand for prost.
//!
//! Field numbers follow Loki 3's `push.proto`: `PushRequest.streams = 1`,
//! `StreamAdapter { labels = 1, entries = 2, hash = 3 }`,
//! `EntryAdapter { timestamp = 1, line = 2, structuredMetadata = 3 }`,
//! `LabelPairAdapter { name = 1, value = 2 }`, and `google.protobuf.Timestamp { seconds = 1,
//! nanos = 2 }`. Fields a client never sends (`PushRequest.format = 2`,
//! `EntryAdapter.parsed = 4`) are not modelled: prost skips unknown fields when decoding.
//!
//! Loki declares the timestamp non-nullable (gogoproto), so it is always on the wire; here it
//! is an `Option` (prost's form for message fields) that the encoders always set.

/// `logproto.PushRequest`: the body of `POST /loki/api/v1/push` (before snappy).
#[derive(Clone, PartialEq, prost::Message)]
pub struct PushRequest {
    #[prost(message, repeated, tag = "1")]
    pub streams: Vec<StreamAdapter>,
}

/// `logproto.StreamAdapter`: one stream, its labels in `labels.String()` form
/// (`{a="b", c="d"}`), its entries in time order.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StreamAdapter {
    #[prost(string, tag = "1")]
    pub labels: String,
    #[prost(message, repeated, tag = "2")]
    pub entries: Vec<EntryAdapter>,
    /// Set by Loki internally; clients leave it 0 (not sent).
    #[prost(uint64, tag = "3")]
    pub hash: u64,
}

/// `logproto.EntryAdapter`: one log line.
#[derive(Clone, PartialEq, prost::Message)]
pub struct EntryAdapter {
    #[prost(message, optional, tag = "1")]
    pub timestamp: Option<Timestamp>,
    #[prost(string, tag = "2")]
    pub line: String,
    #[prost(message, repeated, tag = "3")]
    pub structured_metadata: Vec<LabelPairAdapter>,
}

/// `logproto.LabelPairAdapter`: a structured-metadata pair.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct LabelPairAdapter {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `google.protobuf.Timestamp`: seconds since the Unix epoch and `nanos` in `0..1e9` (so a
/// time before 1970 has negative seconds and positive nanos).
#[derive(Clone, Copy, PartialEq, Eq, Hash, prost::Message)]
pub struct Timestamp {
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

const NANOS_PER_SECOND: i64 = 1_000_000_000;

impl Timestamp {
    /// The timestamp of `ns` nanoseconds since the epoch (floor division: nanos never negative).
    pub fn from_nanos(ns: i64) -> Timestamp {
        Timestamp {
            seconds: ns.div_euclid(NANOS_PER_SECOND),
            // rem_euclid is in 0..1e9, which fits an i32.
            nanos: ns.rem_euclid(NANOS_PER_SECOND) as i32,
        }
    }

    /// Nanoseconds since the epoch, saturating at the ends of `i64` (a decoded timestamp may
    /// hold any seconds and nanos).
    pub fn to_nanos(self) -> i64 {
        let total = i128::from(self.seconds) * i128::from(NANOS_PER_SECOND) + i128::from(self.nanos);
        total.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
    }
}

impl EntryAdapter {
    /// The entry's time in nanoseconds since the epoch (0 when the timestamp is absent).
    pub fn timestamp_ns(&self) -> i64 {
        self.timestamp.map_or(0, Timestamp::to_nanos)
    }
}
