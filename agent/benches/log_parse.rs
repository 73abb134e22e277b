//! Log line parsing: 1 MiB of 256-byte lines fed in 64 KiB reads into a chunk, as the file
//! source does, for the CRI, auto (CRI lines) and plain formats. Reports bytes per second
//! (divide 256 by the time per byte for the time per line).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use harrier_agent::logs::ChunkBuilder;
use harrier_agent::logs::config::LineFormat;
use harrier_agent::sources::logs::parse::{LineParser, ParserSettings};
use std::hint::black_box;
use std::sync::Arc;

const LINES: usize = 4096;
const LINE_BYTES: usize = 256;
const READ_BYTES: usize = 64 << 10;

fn block() -> Vec<u8> {
    let prefix_len = "2024-01-02T15:04:05.000000000Z stdout F ".len();
    let message = "x".repeat(LINE_BYTES - prefix_len - 1);
    let mut block = Vec::with_capacity(LINES * LINE_BYTES);
    for i in 0..LINES {
        block.extend_from_slice(format!("2024-01-02T15:04:05.{i:09}Z stdout F {message}\n").as_bytes());
    }
    block
}

fn parse(c: &mut Criterion) {
    let block = block();
    let mut group = c.benchmark_group("log_parse_1MiB");
    group.throughput(Throughput::Bytes(block.len() as u64));
    for (name, format) in [("cri", LineFormat::Cri), ("auto", LineFormat::Auto), ("plain", LineFormat::Plain)]
    {
        let settings = Arc::new(ParserSettings { format, max_line_bytes: 256 << 10, multiline: None });
        group.bench_function(name, |b| {
            let mut parser = LineParser::new(Arc::clone(&settings), 0);
            b.iter(|| {
                let mut out = ChunkBuilder::default();
                for read in block.chunks(READ_BYTES) {
                    parser.feed(black_box(read), 7, &mut out);
                }
                black_box(out)
            });
        });
    }
    group.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
