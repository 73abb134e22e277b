use prost::Message;

use super::*;
use crate::model::stale_nan;

fn sample_series() -> Vec<Series> {
    vec![
        Series::new(
            Labels::from_pairs([("__name__", "http_requests_total"), ("code", "200"), ("job", "api")]),
            vec![
                Sample { timestamp_ms: 1_700_000_000_000, value: 1.5 },
                Sample { timestamp_ms: 1_700_000_015_000, value: 0.0 },
                Sample { timestamp_ms: 0, value: -3.25 },
                Sample { timestamp_ms: -5, value: f64::INFINITY },
                Sample { timestamp_ms: 1, value: stale_nan() },
            ],
        ),
        Series::new(Labels::from_pairs([("__name__", "up"), ("instance", "ünïcødé:9100")]), vec![]),
        Series::new(Labels::new(), vec![Sample { timestamp_ms: i64::MAX, value: f64::MIN_POSITIVE }]),
        Series::new(
            Labels::from_pairs([("__name__", "long"), ("v", "x".repeat(300).as_str())]),
            vec![Sample { timestamp_ms: i64::MIN, value: 1e300 }],
        ),
    ]
}

fn same_samples(a: &[Series], b: &[Series]) {
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        assert_eq!(x.labels, y.labels);
        assert_eq!(x.samples.len(), y.samples.len());
        for (p, q) in x.samples.iter().zip(&y.samples) {
            assert_eq!(p.timestamp_ms, q.timestamp_ms);
            assert_eq!(p.value.to_bits(), q.value.to_bits(), "values must survive bit for bit");
        }
    }
}

#[test]
fn hand_encoder_matches_prost_bytes() {
    let series = sample_series();
    let fast = encode_write_request_proto(&series);
    let slow = write_request_from_series(&series).encode_to_vec();
    assert_eq!(fast, slow);
    assert_eq!(encode_write_request_proto(&[]), Vec::<u8>::new());
}

#[test]
fn label_lengths_around_the_one_byte_varint_boundary_match_prost() {
    // A label field's length is 4 + name + value while every length fits in one byte; the
    // packed encoding takes a shortcut below 128 and the general path from there on.
    let mut series = Vec::new();
    for name_len in [1, 2, 60, 61, 62, 63, 64, 123, 124, 127, 128, 129, 300] {
        for total in [120, 121, 122, 123, 124, 125, 126, 127, 128, 140, 260] {
            let Some(value_len) = usize::checked_sub(total, 4 + name_len).filter(|&v| v > 0) else {
                continue;
            };
            let name = "n".repeat(name_len);
            let value = "v".repeat(value_len);
            series.push(Series::new(
                Labels::from_pairs([("__name__", "m"), (name.as_str(), value.as_str())]),
                vec![Sample { timestamp_ms: 1, value: 1.0 }],
            ));
        }
    }
    assert!(series.len() > 40);
    assert_eq!(encode_write_request_proto(&series), write_request_from_series(&series).encode_to_vec());
    let mut packed = PackedSamples::new();
    for s in &series {
        packed.push(&s.labels, s.samples[0]);
    }
    let mut out = Vec::new();
    encode_packed_into(&packed, &Labels::new(), &mut out);
    assert_eq!(out, write_request_from_series(&series).encode_to_vec());
}

#[test]
fn round_trip_through_snappy() {
    let series = sample_series();
    let body = encode_request(&series);
    let decoded = decode_request(&body, 1 << 20).unwrap();
    same_samples(&series, &decoded);
}

#[test]
fn reused_encoder_gives_the_same_body() {
    let series = sample_series();
    let mut encoder = Encoder::new();
    let first = encoder.encode(&series).to_vec();
    let _ = encoder.encode(&series[..1]);
    let again = encoder.encode(&series).to_vec();
    assert_eq!(first, again);
    assert_eq!(first, encode_request(&series));
    assert_eq!(encoder.last_proto(), encode_write_request_proto(&series).as_slice());
}

#[test]
fn decodes_a_hand_built_prost_message_with_metadata_and_exemplars() {
    let request = proto::WriteRequest {
        timeseries: vec![proto::TimeSeries {
            // Out of order and with an empty value: the model sorts and drops it.
            labels: vec![
                proto::Label { name: "job".into(), value: "node".into() },
                proto::Label { name: "__name__".into(), value: "node_load1".into() },
                proto::Label { name: "empty".into(), value: String::new() },
            ],
            samples: vec![proto::Sample { value: 0.5, timestamp: 42 }],
            exemplars: vec![proto::Exemplar {
                labels: vec![proto::Label { name: "trace_id".into(), value: "abc".into() }],
                value: 1.0,
                timestamp: 41,
            }],
        }],
        metadata: vec![proto::MetricMetadata {
            r#type: proto::MetadataType::Gauge as i32,
            metric_family_name: "node_load1".into(),
            help: "1m load average.".into(),
            unit: String::new(),
        }],
    };
    let body = snap::raw::Encoder::new().compress_vec(&request.encode_to_vec()).unwrap();
    let full = decode_write_request(&body, 1 << 20).unwrap();
    assert_eq!(full, request);
    let series = decode_request(&body, 1 << 20).unwrap();
    assert_eq!(series.len(), 1);
    assert_eq!(series[0].labels.to_string(), r#"node_load1{job="node"}"#);
    assert_eq!(series[0].samples, vec![Sample { timestamp_ms: 42, value: 0.5 }]);
}

#[test]
fn skips_unknown_fields_such_as_native_histograms() {
    let mut ts = write_request_from_series(&sample_series()[..1]).timeseries.remove(0).encode_to_vec();
    // TimeSeries.histograms (field 4): a Histogram with sum (field 3, double) = 2.0.
    let histogram = [0x19, 0, 0, 0, 0, 0, 0, 0, 0x40];
    ts.push(0x22);
    ts.push(histogram.len() as u8);
    ts.extend_from_slice(&histogram);
    let mut request = vec![0x0a];
    put_varint(&mut request, ts.len() as u64);
    request.extend_from_slice(&ts);
    // WriteRequest field 2 (reserved upstream), varint.
    request.extend_from_slice(&[0x10, 0x07]);
    let body = snap::raw::Encoder::new().compress_vec(&request).unwrap();
    let decoded = decode_request(&body, 1 << 20).unwrap();
    same_samples(&sample_series()[..1], &decoded);
}

#[test]
fn refuses_oversize_before_decompressing() {
    let body = encode_request(&sample_series());
    let declared = snap::raw::decompress_len(&body).unwrap();
    match decode_request(&body, declared - 1) {
        Err(DecodeError::TooLarge { declared: d, limit }) => {
            assert_eq!(d, declared);
            assert_eq!(limit, declared - 1);
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    assert!(decode_request(&body, declared).is_ok());
    // A header declaring 4 GiB with no data behind it is refused without allocating.
    let lying = [0x80, 0x80, 0x80, 0x80, 0x0f];
    assert!(matches!(decode_request(&lying, 64 << 20), Err(DecodeError::TooLarge { .. })));
}

#[test]
fn corrupt_snappy_is_a_snappy_error() {
    let mut body = encode_request(&sample_series());
    let len = body.len();
    body.truncate(len / 2);
    assert!(matches!(decode_request(&body, 1 << 20), Err(DecodeError::Snappy(_))));
    assert!(matches!(
        decode_request(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff], 1 << 20),
        Err(DecodeError::Snappy(_))
    ));
}

#[test]
fn truncated_protobuf_is_a_protobuf_error() {
    let proto_bytes = encode_write_request_proto(&sample_series());
    let truncated = &proto_bytes[..proto_bytes.len() - 3];
    let body = snap::raw::Encoder::new().compress_vec(truncated).unwrap();
    let error = decode_request(&body, 1 << 20).unwrap_err();
    assert!(matches!(error, DecodeError::Protobuf(_)), "{error}");
    assert!(error.to_string().starts_with("invalid protobuf WriteRequest"));
}

#[test]
fn varint_lengths() {
    for v in [0u64, 1, 127, 128, 16383, 16384, u64::from(u32::MAX), u64::MAX] {
        let mut out = Vec::new();
        put_varint(&mut out, v);
        assert_eq!(out.len(), varint_len(v), "{v}");
    }
}

#[test]
fn headers_are_remote_write_1_0() {
    assert_eq!(CONTENT_TYPE, "application/x-protobuf");
    assert_eq!(CONTENT_ENCODING, "snappy");
    assert_eq!(VERSION_HEADER, "X-Prometheus-Remote-Write-Version");
    assert_eq!(VERSION, "0.1.0");
}

#[test]
fn mutated_bodies_never_panic() {
    let proto_bytes = encode_write_request_proto(&sample_series());
    let mut state = 0x1234_5678_9abc_def0u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for round in 0..20_000 {
        let mut data = proto_bytes.clone();
        for _ in 0..1 + next() % 4 {
            let at = (next() as usize) % data.len().max(1);
            match next() % 3 {
                0 if at < data.len() => data[at] = next() as u8,
                1 => data.truncate(at),
                _ => data.insert(at.min(data.len()), next() as u8),
            }
        }
        // Valid snappy around a broken protobuf, and broken snappy.
        let body = snap::raw::Encoder::new().compress_vec(&data).unwrap();
        let _ = decode_request(&body, 1 << 20);
        let raw = if round % 2 == 0 { &data[..] } else { &body[..body.len() / 2] };
        let _ = decode_request(raw, 1 << 20);
    }
}

#[test]
fn external_labels_merge_in_name_order_and_own_labels_win() {
    let series = vec![
        Series::new(
            Labels::from_pairs([("__name__", "up"), ("job", "a")]),
            vec![Sample { timestamp_ms: 5, value: 1.0 }],
        ),
        Series::new(
            Labels::from_pairs([("zone", "z"), ("__name__", "x")]),
            vec![Sample { timestamp_ms: 6, value: 2.0 }],
        ),
    ];
    let external = Labels::from_pairs([("cluster", "c"), ("job", "ignored"), ("zzz", "last")]);
    let mut encoder = Encoder::new();
    let body = encoder.encode_with_external_labels(&series, &external).to_vec();
    let decoded = decode_request(&body, 1 << 20).unwrap();
    assert_eq!(
        decoded[0].labels,
        Labels::from_pairs([("__name__", "up"), ("cluster", "c"), ("job", "a"), ("zzz", "last")])
    );
    assert_eq!(
        decoded[1].labels,
        Labels::from_pairs([
            ("__name__", "x"),
            ("cluster", "c"),
            ("job", "ignored"),
            ("zone", "z"),
            ("zzz", "last")
        ])
    );
    // The bytes equal prost's encoding of the merged request.
    let merged: Vec<Series> = decoded.clone();
    assert_eq!(encoder.last_proto(), encode_write_request_proto(&merged).as_slice());
}
