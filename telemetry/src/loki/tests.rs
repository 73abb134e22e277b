use super::proto::{EntryAdapter, LabelPairAdapter, PushRequest, StreamAdapter, Timestamp};
use super::*;
use crate::relabel::is_legacy_label_name;
use prost::Message;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::io::Write;

/// A batch held as plain owned data, for feeding the encoders.
#[derive(Debug, Clone, Default)]
struct TestStreams(Vec<TestStream>);

#[derive(Debug, Clone, Default)]
struct TestStream {
    labels: String,
    entries: Vec<TestEntry>,
}

type Metadata = Vec<(String, String)>;

/// Time, line, structured metadata.
type TestEntry = (i64, String, Vec<(String, String)>);

impl PushStreams for TestStreams {
    fn stream_count(&self) -> usize {
        self.0.len()
    }
    fn labels(&self, stream: usize) -> &str {
        &self.0[stream].labels
    }
    fn for_each_entry(&self, stream: usize, f: &mut dyn FnMut(PushEntry<'_>)) {
        for (ts, line, metadata) in &self.0[stream].entries {
            f(PushEntry { timestamp_ns: *ts, line, metadata });
        }
    }
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
}

fn stream(labels: &[(&str, &str)], entries: Vec<(i64, &str, Metadata)>) -> TestStream {
    TestStream {
        labels: label_string(&pairs(labels)),
        entries: entries.into_iter().map(|(ts, line, md)| (ts, line.to_string(), md)).collect(),
    }
}

fn varied_batch() -> TestStreams {
    TestStreams(vec![
        stream(
            &[("container", "app"), ("namespace", "default"), ("stream", "stdout")],
            vec![
                (1_700_000_000_123_456_789, "hello world", vec![]),
                (0, "", vec![]),
                (-1, "before the epoch", pairs(&[("trace_id", "abc123")])),
                (-1_000_000_000, "exactly -1s", vec![]),
                (999_999_999, "just under a second", vec![]),
                (i64::MAX, "the end of time", pairs(&[("", ""), ("k", ""), ("", "v")])),
                (i64::MIN, "the beginning of time", vec![]),
                (1, "ünïcödé 😀 \u{0}\u{1f}\"\\\n\t line", pairs(&[("user", "名前"), ("x", "y\nz")])),
            ],
        ),
        stream(&[], vec![(5, "a stream with no labels", vec![])]),
        stream(&[("job", "empty")], vec![]),
        stream(&[("weird", "a\"b\\c\nd\u{a0}e\u{200b}")], vec![(7, &"x".repeat(300), vec![])]),
    ])
}

fn random_string(rng: &mut StdRng, max_len: usize) -> String {
    const ALPHABET: &[char] = &[
        'a',
        'Z',
        '0',
        ' ',
        '"',
        '\\',
        '\n',
        '\t',
        '\u{0}',
        '\u{7f}',
        'é',
        '名',
        '😀',
        '\u{a0}',
        '\u{200b}',
        '\u{feff}',
        '\u{e000}',
        '\u{f0000}',
        '{',
        '}',
        '=',
        ',',
    ];
    let len = rng.random_range(0..=max_len);
    (0..len).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())]).collect()
}

fn random_batch(rng: &mut StdRng) -> TestStreams {
    let streams = (0..rng.random_range(0..12))
        .map(|i| {
            let mut label_pairs: Vec<(String, String)> =
                (0..rng.random_range(0..5)).map(|j| (format!("label_{j}"), random_string(rng, 12))).collect();
            label_pairs.push((format!("stream_{i}"), "x".to_string()));
            label_pairs.sort();
            let entries = (0..rng.random_range(0..40))
                .map(|_| {
                    let ts = match rng.random_range(0..4) {
                        0 => 0,
                        1 => rng.random::<i64>(),
                        2 => rng.random_range(-5_000_000_000..5_000_000_000),
                        _ => 1_700_000_000_000_000_000 + rng.random_range(0..1_000_000_000_000),
                    };
                    let line_len = if rng.random_bool(0.05) { 5000 } else { 80 };
                    let metadata = (0..rng.random_range(0..3))
                        .map(|k| (format!("md_{k}"), random_string(rng, 8)))
                        .collect();
                    (ts, random_string(rng, line_len), metadata)
                })
                .collect();
            TestStream { labels: label_string(&label_pairs), entries }
        })
        .collect();
    TestStreams(streams)
}

fn snappy_decompress(body: &[u8]) -> Vec<u8> {
    snap::raw::Decoder::new().decompress_vec(body).unwrap()
}

// ----- protobuf -----

#[test]
fn direct_protobuf_is_byte_for_byte_prost() {
    let batch = varied_batch();
    let expected = push_request_from_streams(&batch).encode_to_vec();
    let mut encoder = PushEncoder::new();
    assert_eq!(encoder.encode_protobuf_uncompressed(&batch), expected.as_slice());
    let body = encoder.encode_protobuf(&batch).to_vec();
    assert_eq!(snappy_decompress(&body), expected);
}

#[test]
fn direct_protobuf_matches_prost_on_random_batches() {
    let mut rng = StdRng::seed_from_u64(6);
    let mut encoder = PushEncoder::new();
    for _ in 0..300 {
        let batch = random_batch(&mut rng);
        let expected = push_request_from_streams(&batch).encode_to_vec();
        let body = encoder.encode_protobuf(&batch).to_vec();
        assert_eq!(snappy_decompress(&body), expected);
    }
}

#[test]
fn empty_batch_encodes_to_an_empty_request() {
    let mut encoder = PushEncoder::new();
    assert!(encoder.encode_protobuf_uncompressed(&TestStreams::default()).is_empty());
    let body = encoder.encode_protobuf(&TestStreams::default()).to_vec();
    let decoded = decode_push(&body, PROTOBUF_CONTENT_TYPE, None, &DecodeLimits::default()).unwrap();
    assert_eq!(decoded, PushRequest::default());
}

#[test]
fn protobuf_round_trips_through_decode_push() {
    let batch = varied_batch();
    let body = PushEncoder::new().encode_protobuf(&batch).to_vec();
    let decoded = decode_push(&body, PROTOBUF_CONTENT_TYPE, None, &DecodeLimits::default()).unwrap();
    assert_eq!(decoded, push_request_from_streams(&batch));
    let first = &decoded.streams[0];
    assert_eq!(first.labels, r#"{container="app", namespace="default", stream="stdout"}"#);
    assert_eq!(first.entries[0].timestamp_ns(), 1_700_000_000_123_456_789);
    assert_eq!(first.entries[2].timestamp, Some(Timestamp { seconds: -1, nanos: 999_999_999 }));
    assert_eq!(
        first.entries[2].structured_metadata,
        vec![LabelPairAdapter { name: "trace_id".into(), value: "abc123".into() }]
    );
    // "Content-Encoding: snappy" is tolerated for protobuf, as Loki does.
    let again =
        decode_push(&body, "application/x-protobuf", Some("snappy"), &DecodeLimits::default()).unwrap();
    assert_eq!(again, decoded);
}

#[test]
fn encoder_reuse_does_not_leak_previous_output() {
    let mut encoder = PushEncoder::new();
    let big = varied_batch();
    let small = TestStreams(vec![stream(&[("a", "b")], vec![(1, "one", vec![])])]);
    encoder.encode_protobuf(&big);
    encoder.encode_json(&big);
    let proto = snappy_decompress(encoder.encode_protobuf(&small));
    assert_eq!(proto, push_request_from_streams(&small).encode_to_vec());
    let json = encoder.encode_json(&small).to_vec();
    assert_eq!(json, br#"{"streams":[{"stream":{"a":"b"},"values":[["1","one"]]}]}"#);
}

#[test]
fn timestamp_uses_floor_division() {
    let cases = [
        (0, 0, 0),
        (1, 0, 1),
        (-1, -1, 999_999_999),
        (-1_000_000_000, -1, 0),
        (-1_000_000_001, -2, 999_999_999),
        (1_500_000_000, 1, 500_000_000),
        (i64::MIN, -9_223_372_037, 145_224_192),
        (i64::MAX, 9_223_372_036, 854_775_807),
    ];
    for (ns, seconds, nanos) in cases {
        let ts = Timestamp::from_nanos(ns);
        assert_eq!(ts, Timestamp { seconds, nanos }, "{ns}");
        assert_eq!(ts.to_nanos(), ns);
    }
    assert_eq!(Timestamp { seconds: i64::MAX, nanos: 0 }.to_nanos(), i64::MAX);
    assert_eq!(Timestamp { seconds: i64::MIN, nanos: 0 }.to_nanos(), i64::MIN);
    assert_eq!(EntryAdapter::default().timestamp_ns(), 0);
}

#[test]
fn protobuf_decoder_skips_fields_clients_do_not_send() {
    // PushRequest.format = 2 and EntryAdapter.parsed = 4 (Loki 3) must not break decoding.
    let mut entry = EntryAdapter {
        timestamp: Some(Timestamp { seconds: 3, nanos: 4 }),
        line: "l".into(),
        structured_metadata: vec![],
    }
    .encode_to_vec();
    entry.extend_from_slice(&[0x22, 0x03, 0x0a, 0x01, b'p']); // parsed { name: "p" }
    let mut stream = StreamAdapter { labels: "{a=\"b\"}".into(), entries: vec![], hash: 0 }.encode_to_vec();
    stream.push(0x12);
    stream.push(entry.len() as u8);
    stream.extend_from_slice(&entry);
    let mut request = vec![0x0a, stream.len() as u8];
    request.extend_from_slice(&stream);
    request.extend_from_slice(&[0x12, 0x04, b'l', b'o', b'k', b'i']); // format = "loki"
    let body = snap::raw::Encoder::new().compress_vec(&request).unwrap();
    let decoded = decode_push(&body, "", None, &DecodeLimits::default()).unwrap();
    assert_eq!(decoded.streams.len(), 1);
    assert_eq!(decoded.streams[0].entries[0].line, "l");
    assert_eq!(decoded.streams[0].entries[0].timestamp_ns(), 3_000_000_004);
}

// ----- JSON -----

#[test]
fn json_has_loki_shape() {
    let batch = TestStreams(vec![
        stream(
            &[("app", "web"), ("stream", "stderr")],
            vec![
                (1_700_000_000_000_000_001, "first", vec![]),
                (-5, "md", pairs(&[("trace_id", "t1"), ("a", "b")])),
            ],
        ),
        stream(&[("app", "db")], vec![]),
    ]);
    let json = PushEncoder::new().encode_json(&batch).to_vec();
    let value: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(
        value,
        serde_json::json!({"streams": [
            {"stream": {"app": "web", "stream": "stderr"},
             "values": [["1700000000000000001", "first"], ["-5", "md", {"trace_id": "t1", "a": "b"}]]},
            {"stream": {"app": "db"}, "values": []}
        ]})
    );
}

#[test]
fn json_escapes_every_string_correctly() {
    let mut rng = StdRng::seed_from_u64(61);
    let mut all_bytes: String = (0u8..0x80).map(char::from).collect();
    all_bytes.push_str("é名😀\u{2028}\u{feff}");
    let mut strings = vec![all_bytes, String::new()];
    strings.extend((0..200).map(|_| random_string(&mut rng, 30)));
    for s in strings {
        let mut out = Vec::new();
        json::write_json_string(&mut out, &s);
        let back: String = serde_json::from_slice(&out).unwrap();
        assert_eq!(back, s);
    }
}

#[test]
fn json_round_trips_through_decode_push() {
    let mut rng = StdRng::seed_from_u64(62);
    let mut encoder = PushEncoder::new();
    let mut batches = vec![varied_batch()];
    batches.extend((0..100).map(|_| random_batch(&mut rng)));
    for batch in batches {
        let json = encoder.encode_json(&batch).to_vec();
        let decoded = decode_push(&json, JSON_CONTENT_TYPE, None, &DecodeLimits::default()).unwrap();
        // Labels come back from a name-sorted object; the test batches' labels are sorted.
        assert_eq!(decoded, push_request_from_streams(&batch));
    }
}

#[test]
fn json_decoder_accepts_integer_timestamps_and_gzip() {
    let body =
        br#"{"streams":[{"stream":{"b":"2","a":"1"},"values":[[12,"x"],["-3","y",{"z":"1","k":"2"}]]}]}"#;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(body).unwrap();
    let gz = gz.finish().unwrap();
    let mut deflated = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    deflated.write_all(body).unwrap();
    let deflated = deflated.finish().unwrap();
    let limits = DecodeLimits::default();
    let plain = decode_push(body, "application/json; charset=utf-8", None, &limits).unwrap();
    assert_eq!(decode_push(&gz, JSON_CONTENT_TYPE, Some("gzip"), &limits).unwrap(), plain);
    assert_eq!(decode_push(&deflated, JSON_CONTENT_TYPE, Some("deflate"), &limits).unwrap(), plain);
    let s = &plain.streams[0];
    assert_eq!(s.labels, r#"{a="1", b="2"}"#);
    assert_eq!(s.entries[0].timestamp_ns(), 12);
    assert_eq!(s.entries[1].timestamp_ns(), -3);
    let metadata: Vec<_> =
        s.entries[1].structured_metadata.iter().map(|p| (p.name.as_str(), p.value.as_str())).collect();
    assert_eq!(metadata, vec![("z", "1"), ("k", "2")], "document order kept");
}

#[test]
fn json_decoder_rejects_malformed_entries() {
    let limits = DecodeLimits::default();
    for body in [
        r#"{"streams":[{"stream":{},"values":[["x","line"]]}]}"#,
        r#"{"streams":[{"stream":{},"values":[["1"]]}]}"#,
        r#"{"streams":[{"stream":{},"values":[["1","l",{},"extra"]]}]}"#,
        r#"{"streams":[{"stream":{},"values":[["1","l",{"k":1}]]}]}"#,
        r#"{"streams":[{"stream":{},"values":[["99999999999999999999","l"]]}]}"#,
        r#"{"streams":[{"stream":{"a":1},"values":[]}]}"#,
        r#"{"streams":"#,
    ] {
        let err = decode_push(body.as_bytes(), JSON_CONTENT_TYPE, None, &limits).unwrap_err();
        assert!(matches!(err, LokiDecodeError::Json(_)), "{body}: {err}");
    }
}

#[test]
fn default_for_each_label_parses_the_label_string() {
    let batch = TestStreams(vec![stream(&[("a", "x\"y"), ("b", "")], vec![])]);
    let mut seen = Vec::new();
    batch.for_each_label(0, &mut |n, v| seen.push((n.to_string(), v.to_string())));
    assert_eq!(seen, pairs(&[("a", "x\"y"), ("b", "")]));
    let broken = TestStreams(vec![TestStream { labels: "not a label set".into(), entries: vec![] }]);
    let mut count = 0;
    broken.for_each_label(0, &mut |_, _| count += 1);
    assert_eq!(count, 0);
}

// ----- label strings -----

#[test]
fn label_string_quotes_like_go_strconv_quote() {
    let cases = [
        ("plain", r#""plain""#),
        ("", r#""""#),
        ("a\\b\"c", r#""a\\b\"c""#),
        ("\u{7}\u{8}\u{c}\n\r\t\u{b}", r#""\a\b\f\n\r\t\v""#),
        ("\u{0}\u{1}\u{1b}\u{7f}", r#""\x00\x01\x1b\x7f""#),
        ("\u{80}\u{9f}", r#""\u0080\u009f""#),
        ("\u{a0}\u{ad}\u{a1}ÿ", "\"\\u00a0\\u00ad\u{a1}ÿ\""),
        ("\u{200b}\u{2028}\u{feff}\u{3000}", r#""\u200b\u2028\ufeff\u3000""#),
        ("\u{e000}\u{f0000}\u{e0001}", r#""\ue000\U000f0000\U000e0001""#),
        ("é名😀→€", "\"é名😀→€\""),
        ("'single' `back`", "\"'single' `back`\""),
    ];
    for (raw, quoted) in cases {
        let mut out = String::new();
        push_go_quoted(&mut out, raw);
        assert_eq!(out, quoted, "{raw:?}");
    }
}

#[test]
fn label_string_has_loki_form() {
    assert_eq!(label_string(&[]), "{}");
    assert_eq!(label_string(&pairs(&[("a", "b")])), r#"{a="b"}"#);
    assert_eq!(
        label_string(&pairs(&[("a", "b"), ("c", "d\"x"), ("k8s.io/app", "v")])),
        r#"{a="b", c="d\"x", "k8s.io/app"="v"}"#
    );
    assert!(is_legacy_label_name("_a9"));
    assert!(!is_legacy_label_name("9a"));
    assert!(!is_legacy_label_name(""));
    assert!(!is_legacy_label_name("a-b"));
}

#[test]
fn parse_label_string_reads_go_escapes() {
    let parsed = parse_label_string(r#" { a = "\x41\101\u00e9\U0001f600\a\v" ,"q.n"="\\\"" } "#).unwrap();
    assert_eq!(parsed, pairs(&[("a", "AAé😀\u{7}\u{b}"), ("q.n", "\\\"")]));
    assert_eq!(parse_label_string("{}").unwrap(), vec![]);
    assert_eq!(parse_label_string("{a=\"\"}").unwrap(), pairs(&[("a", "")]));
}

#[test]
fn parse_label_string_rejects_malformed_input() {
    for bad in [
        "",
        "a=\"b\"",
        "{a=\"b\"",
        "{a=\"b}",
        "{a=b}",
        "{=\"b\"}",
        "{a=\"b\",}",
        "{a=\"b\"} x",
        "{a=\"\\q\"}",
        "{a=\"\\x4\"}",
        "{a=\"\\400\"}",
        "{a=\"\\xff\"}",
        "{a=\"\\ud800\"}",
        "{a=\"line\nbreak\"}",
        "{a \"b\"}",
        "{a=\"b\" c=\"d\"}",
    ] {
        assert!(parse_label_string(bad).is_err(), "{bad:?} should not parse");
    }
}

#[test]
fn label_string_round_trips_through_the_parser() {
    let mut rng = StdRng::seed_from_u64(63);
    for _ in 0..500 {
        let pairs: Vec<(String, String)> = (0..rng.random_range(0..5))
            .map(|i| {
                let name = if rng.random_bool(0.2) { format!("odd name {i}/é") } else { format!("n{i}") };
                (name, random_string(&mut rng, 20))
            })
            .collect();
        let text = label_string(&pairs);
        assert_eq!(parse_label_string(&text).unwrap(), pairs, "{text}");
    }
}

// ----- decoder limits and bad input -----

#[test]
fn decode_push_enforces_body_limit() {
    let limits = DecodeLimits { max_body_bytes: 10, max_decompressed_bytes: 1000 };
    let err = decode_push(&[0u8; 11], PROTOBUF_CONTENT_TYPE, None, &limits).unwrap_err();
    assert!(matches!(err, LokiDecodeError::BodyTooLarge { size: 11, limit: 10 }), "{err}");
}

#[test]
fn decode_push_checks_snappy_declared_length_before_allocating() {
    // A 5-byte body whose snappy header declares 1 GiB.
    let mut body = Vec::new();
    let mut n: u64 = 1 << 30;
    while n >= 0x80 {
        body.push((n as u8) | 0x80);
        n >>= 7;
    }
    body.push(n as u8);
    let limits = DecodeLimits { max_body_bytes: 1 << 20, max_decompressed_bytes: 1 << 20 };
    let err = decode_push(&body, PROTOBUF_CONTENT_TYPE, None, &limits).unwrap_err();
    assert!(matches!(err, LokiDecodeError::DecompressedTooLarge { limit } if limit == 1 << 20), "{err}");
}

#[test]
fn decode_push_bounds_gzip_output() {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&vec![b' '; 4 << 20]).unwrap();
    let bomb = gz.finish().unwrap();
    assert!(bomb.len() < 64 << 10);
    let limits = DecodeLimits { max_body_bytes: 1 << 20, max_decompressed_bytes: 1 << 20 };
    let err = decode_push(&bomb, JSON_CONTENT_TYPE, Some("gzip"), &limits).unwrap_err();
    assert!(matches!(err, LokiDecodeError::DecompressedTooLarge { .. }), "{err}");
    // An uncompressed JSON body is held to the decompressed limit as well.
    let limits = DecodeLimits { max_body_bytes: 100, max_decompressed_bytes: 10 };
    let err = decode_push(br#"{"streams":[]}"#, JSON_CONTENT_TYPE, None, &limits).unwrap_err();
    assert!(matches!(err, LokiDecodeError::DecompressedTooLarge { limit: 10 }), "{err}");
}

#[test]
fn decode_push_rejects_unknown_types_encodings_and_garbage() {
    let limits = DecodeLimits::default();
    let err = decode_push(b"x", "text/plain", None, &limits).unwrap_err();
    assert!(matches!(err, LokiDecodeError::UnsupportedContentType(t) if t == "text/plain"));
    let err = decode_push(b"x", JSON_CONTENT_TYPE, Some("br"), &limits).unwrap_err();
    assert!(matches!(err, LokiDecodeError::UnsupportedContentEncoding(e) if e == "br"));
    let err = decode_push(b"{}", JSON_CONTENT_TYPE, Some("snappy"), &limits).unwrap_err();
    assert!(matches!(err, LokiDecodeError::UnsupportedContentEncoding(_)));
    let err = decode_push(b"not gzip", JSON_CONTENT_TYPE, Some("gzip"), &limits).unwrap_err();
    assert!(matches!(err, LokiDecodeError::Decompress { encoding: "gzip", .. }), "{err}");
    let err = decode_push(&[0xff, 0xff, 0xff], PROTOBUF_CONTENT_TYPE, None, &limits).unwrap_err();
    assert!(matches!(err, LokiDecodeError::Snappy(_)), "{err}");
    let not_proto = snap::raw::Encoder::new().compress_vec(&[0x0a, 0x05, 0x01]).unwrap();
    let err = decode_push(&not_proto, PROTOBUF_CONTENT_TYPE, None, &limits).unwrap_err();
    assert!(matches!(err, LokiDecodeError::Protobuf(_)), "{err}");
}

#[test]
fn decode_push_survives_random_input() {
    let mut rng = StdRng::seed_from_u64(64);
    let limits = DecodeLimits { max_body_bytes: 1 << 16, max_decompressed_bytes: 1 << 16 };
    let valid = PushEncoder::new().encode_protobuf(&varied_batch()).to_vec();
    for i in 0..3000 {
        let mut body: Vec<u8> = if i % 2 == 0 {
            (0..rng.random_range(0..200)).map(|_| rng.random()).collect()
        } else {
            // Valid bodies with a few bytes flipped reach deeper into the decoders.
            let mut b = valid.clone();
            for _ in 0..rng.random_range(1..4) {
                let at = rng.random_range(0..b.len());
                b[at] = rng.random();
            }
            b
        };
        if i % 7 == 0 {
            body.truncate(body.len() / 2);
        }
        for content_type in [PROTOBUF_CONTENT_TYPE, JSON_CONTENT_TYPE] {
            let _ = decode_push(&body, content_type, None, &limits);
            let _ = decode_push(&body, content_type, Some("gzip"), &limits);
        }
    }
}
