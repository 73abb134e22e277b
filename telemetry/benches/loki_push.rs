//! Loki push encoding of a 1 MiB batch: 4096 lines of 256 bytes spread over 10 streams (six
//! kubernetes labels each), as the agent's Loki sink sends them. Reports bytes of log line per
//! second for the direct protobuf encoder (with and without snappy), the same through prost's
//! structs, and the JSON encoder.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use harrier_telemetry::loki::{PushEncoder, PushEntry, PushStreams, label_string, push_request_from_streams};
use prost::Message;

const BATCH_BYTES: usize = 1 << 20;
const LINE_BYTES: usize = 256;
const STREAMS: usize = 10;

struct Batch {
    streams: Vec<(String, Vec<(i64, String)>)>,
}

impl PushStreams for Batch {
    fn stream_count(&self) -> usize {
        self.streams.len()
    }
    fn labels(&self, stream: usize) -> &str {
        &self.streams[stream].0
    }
    fn for_each_entry(&self, stream: usize, f: &mut dyn FnMut(PushEntry<'_>)) {
        for (ts, line) in &self.streams[stream].1 {
            f(PushEntry { timestamp_ns: *ts, line, metadata: &[] });
        }
    }
}

fn batch() -> Batch {
    let mut streams: Vec<(String, Vec<(i64, String)>)> = (0..STREAMS)
        .map(|i| {
            let labels = [
                ("container", format!("app-{i}")),
                ("namespace", "payments".to_string()),
                ("node_name", "ip-10-0-1-15.eu-west-1.compute.internal".to_string()),
                ("pod", format!("app-{i}-7d9f8b6c5-x{i}q2z")),
                ("pod_uid", format!("4f9c2a1e-8b7d-4c3a-9e2f-1a2b3c4d5e{i:02}")),
                ("stream", if i % 3 == 0 { "stderr" } else { "stdout" }.to_string()),
            ]
            .map(|(n, v)| (n.to_string(), v));
            (label_string(&labels), Vec::new())
        })
        .collect();
    for n in 0..BATCH_BYTES / LINE_BYTES {
        let prefix = format!(
            "2024-05-01T12:00:00.{n:06}Z INFO request_id={:016x} path=/api/v1/orders/{n} status=200 ",
            (n as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
        );
        let line = format!("{prefix}{}", "x".repeat(LINE_BYTES - prefix.len()));
        streams[n % STREAMS].1.push((1_714_564_800_000_000_000 + n as i64 * 1000, line));
    }
    Batch { streams }
}

fn bench(c: &mut Criterion) {
    let batch = batch();
    let line_bytes: usize = batch.streams.iter().flat_map(|s| &s.1).map(|(_, l)| l.len()).sum();
    let mut encoder = PushEncoder::new();

    let mut group = c.benchmark_group("loki_push_1MiB");
    group.throughput(Throughput::Bytes(line_bytes as u64));
    group.bench_function("protobuf_snappy/direct", |b| {
        b.iter(|| encoder.encode_protobuf(black_box(&batch)).len())
    });
    group.bench_function("protobuf/direct", |b| {
        b.iter(|| encoder.encode_protobuf_uncompressed(black_box(&batch)).len())
    });
    group.bench_function("protobuf/via_prost_structs", |b| {
        b.iter(|| push_request_from_streams(black_box(&batch)).encode_to_vec().len())
    });
    group.bench_function("json/direct", |b| b.iter(|| encoder.encode_json(black_box(&batch)).len()));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
