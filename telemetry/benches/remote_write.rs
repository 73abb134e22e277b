//! remote_write encoding and decoding of a 2000-sample request (one sample per series, 6-8
//! labels each, as a queue shard sends them), from `Series` values and from a scrape's packed
//! samples. Reports series/s and MB/s of protobuf.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use harrier_telemetry::model::{Labels, PackedSamples, Sample, Series};
use harrier_telemetry::remote_write::{
    Encoder, decode_request, encode_write_request_proto, write_request_from_series,
};
use prost::Message;

const SAMPLES: usize = 2000;

fn request() -> Vec<Series> {
    (0..SAMPLES)
        .map(|i| {
            let labels = Labels::from_pairs([
                ("__name__", format!("node_network_receive_bytes_total_{}", i % 40)),
                ("cluster", "prod-eu-west-1".to_string()),
                ("device", format!("eth{}", i % 4)),
                ("instance", format!("ip-10-0-{}-{}.ec2.internal:9100", i % 16, i % 250)),
                ("job", "node-exporter".to_string()),
                ("namespace", "monitoring".to_string()),
                ("pod", format!("node-exporter-{:05x}", i * 7919)),
            ]);
            Series::new(
                labels,
                vec![Sample { timestamp_ms: 1_700_000_000_000 + i as i64, value: i as f64 * 1.5 }],
            )
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let series = request();
    let proto_len = encode_write_request_proto(&series).len() as u64;
    let mut encoder = Encoder::new();
    let body = encoder.encode(&series).to_vec();

    let mut per_series = c.benchmark_group("remote_write_series");
    per_series.throughput(Throughput::Elements(SAMPLES as u64));
    per_series
        .bench_function("encode_snappy/direct", |b| b.iter(|| encoder.encode(black_box(&series)).len()));
    per_series.bench_function("encode_proto/direct", |b| {
        let mut out = Vec::new();
        b.iter(|| {
            out.clear();
            harrier_telemetry::remote_write::encode_write_request_proto_into(black_box(&series), &mut out);
            out.len()
        })
    });
    // The same series as a scrape hands them over: labels packed in one buffer.
    let mut packed = PackedSamples::new();
    for one in &series {
        packed.push(&one.labels, one.samples[0]);
    }
    let no_external = Labels::new();
    per_series.bench_function("encode_proto/packed", |b| {
        let mut out = Vec::new();
        b.iter(|| {
            out.clear();
            harrier_telemetry::remote_write::encode_packed_into(black_box(&packed), &no_external, &mut out);
            out.len()
        })
    });
    per_series.bench_function("encode_proto/via_prost_structs", |b| {
        b.iter(|| write_request_from_series(black_box(&series)).encode_to_vec().len())
    });
    per_series.bench_function("decode_snappy", |b| {
        b.iter(|| decode_request(black_box(&body), 64 << 20).map(|s| s.len()))
    });
    per_series.finish();

    let mut bytes = c.benchmark_group("remote_write_bytes");
    bytes.throughput(Throughput::Bytes(proto_len));
    bytes.bench_function("encode_snappy/direct", |b| b.iter(|| encoder.encode(black_box(&series)).len()));
    bytes.bench_function("decode_snappy", |b| {
        b.iter(|| decode_request(black_box(&body), 64 << 20).map(|s| s.len()))
    });
    bytes.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
