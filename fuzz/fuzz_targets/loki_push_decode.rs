//! Fuzzes Loki push decoding: arbitrary bodies as protobuf (raw, and wrapped in valid snappy to
//! reach the protobuf decoder), as JSON and as gzip must decode or fail with a typed error.
//! Whatever decodes as protobuf must re-encode, through the direct encoder, to a body that
//! decodes to the same request.
#![no_main]

use harrier_telemetry::loki::proto::PushRequest;
use harrier_telemetry::loki::{
    DecodeLimits, JSON_CONTENT_TYPE, PROTOBUF_CONTENT_TYPE, PushEncoder, PushEntry, PushStreams, decode_push,
};
use libfuzzer_sys::fuzz_target;

const LIMITS: DecodeLimits = DecodeLimits { max_body_bytes: 1 << 20, max_decompressed_bytes: 1 << 20 };

fuzz_target!(|data: &[u8]| {
    let _ = decode_push(data, PROTOBUF_CONTENT_TYPE, None, &LIMITS);
    let _ = decode_push(data, JSON_CONTENT_TYPE, None, &LIMITS);
    let _ = decode_push(data, JSON_CONTENT_TYPE, Some("gzip"), &LIMITS);
    let wrapped = snap::raw::Encoder::new().compress_vec(data).unwrap_or_default();
    if let Ok(request) = decode_push(&wrapped, PROTOBUF_CONTENT_TYPE, None, &LIMITS) {
        let view = RequestView::new(&request);
        let body = PushEncoder::new().encode_protobuf(&view).to_vec();
        let again =
            decode_push(&body, PROTOBUF_CONTENT_TYPE, None, &LIMITS).expect("re-encoded body decodes");
        assert_eq!(again.streams.len(), request.streams.len());
        for (a, b) in request.streams.iter().zip(&again.streams) {
            assert_eq!(a.labels, b.labels);
            assert_eq!(a.entries.len(), b.entries.len());
            for (x, y) in a.entries.iter().zip(&b.entries) {
                assert_eq!(x.line, y.line);
                assert_eq!(x.structured_metadata, y.structured_metadata);
                // A decoded timestamp may be out of range; what survives is its nanoseconds.
                assert_eq!(x.timestamp_ns(), y.timestamp_ns());
            }
        }
    }
});

/// A decoded request seen through [`PushStreams`] (metadata copied into pairs).
struct RequestView<'a> {
    request: &'a PushRequest,
    metadata: Vec<Vec<Vec<(String, String)>>>,
}

impl<'a> RequestView<'a> {
    fn new(request: &'a PushRequest) -> Self {
        let metadata = request
            .streams
            .iter()
            .map(|s| {
                s.entries
                    .iter()
                    .map(|e| {
                        e.structured_metadata.iter().map(|p| (p.name.clone(), p.value.clone())).collect()
                    })
                    .collect()
            })
            .collect();
        RequestView { request, metadata }
    }
}

impl PushStreams for RequestView<'_> {
    fn stream_count(&self) -> usize {
        self.request.streams.len()
    }
    fn labels(&self, stream: usize) -> &str {
        &self.request.streams[stream].labels
    }
    fn for_each_entry(&self, stream: usize, f: &mut dyn FnMut(PushEntry<'_>)) {
        for (e, metadata) in self.request.streams[stream].entries.iter().zip(&self.metadata[stream]) {
            f(PushEntry { timestamp_ns: e.timestamp_ns(), line: &e.line, metadata });
        }
    }
}
