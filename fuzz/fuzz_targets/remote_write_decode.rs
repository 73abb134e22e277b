//! Fuzzes remote_write decoding: arbitrary bodies (and the same bytes wrapped in valid
//! snappy, to reach the protobuf decoder) must decode or fail with a typed error. Whatever
//! decodes must re-encode and decode to the same series.
#![no_main]

use harrier_telemetry::remote_write::{decode_request, encode_request};
use libfuzzer_sys::fuzz_target;

const LIMIT: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let _ = decode_request(data, LIMIT);
    let wrapped = snap::raw::Encoder::new().compress_vec(data).unwrap_or_default();
    if let Ok(series) = decode_request(&wrapped, LIMIT) {
        let again = decode_request(&encode_request(&series), LIMIT).expect("re-encoded body decodes");
        assert_eq!(series.len(), again.len());
        for (a, b) in series.iter().zip(&again) {
            assert_eq!(a.labels, b.labels);
            assert_eq!(a.samples.len(), b.samples.len());
        }
    }
});
