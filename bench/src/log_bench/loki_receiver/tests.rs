use super::*;
use harrier_telemetry::loki::{
    JSON_CONTENT_TYPE, PROTOBUF_CONTENT_TYPE, PushEncoder, PushEntry, PushStreams, label_string,
};

/// One stream of the given lines.
struct OneStream {
    labels: String,
    lines: Vec<String>,
}

impl OneStream {
    fn new(lines: Vec<String>) -> OneStream {
        let labels = label_string(&[("pod".to_string(), "bench-0".to_string())]);
        OneStream { labels, lines }
    }
}

impl PushStreams for OneStream {
    fn stream_count(&self) -> usize {
        1
    }
    fn labels(&self, _stream: usize) -> &str {
        &self.labels
    }
    fn for_each_entry(&self, _stream: usize, f: &mut dyn FnMut(PushEntry<'_>)) {
        for (i, line) in self.lines.iter().enumerate() {
            f(PushEntry { timestamp_ns: 1_000 + i as i64, line, metadata: &[] });
        }
    }
}

fn payload(layout: &LineLayout, file: usize, number: u64) -> String {
    let line = layout.line(file, number);
    String::from_utf8(line[crate::log_bench::lines::CRI_PREFIX.len()..line.len() - 1].to_vec()).unwrap()
}

fn limits() -> DecodeLimits {
    DecodeLimits { max_body_bytes: 1 << 20, max_decompressed_bytes: 4 << 20 }
}

#[test]
fn counts_unique_duplicate_and_malformed_lines_of_a_protobuf_push() {
    let layout = LineLayout::new(120).unwrap();
    let counts = PushCounts::new(layout, &[100, 3]);
    let mut lines: Vec<String> = (0..100).map(|n| payload(&layout, 0, n)).collect();
    lines.push(payload(&layout, 0, 7)); // again
    lines.push(payload(&layout, 1, 3)); // beyond file 1's 3 lines
    lines.push(payload(&layout, 2, 0)); // no file 2
    lines.push("not a generated line".to_string());
    let mut encoder = PushEncoder::default();
    let body = encoder.encode_protobuf(&OneStream::new(lines.clone())).to_vec();
    counts.record(&body, PROTOBUF_CONTENT_TYPE, None, &limits()).unwrap();
    let snapshot = counts.snapshot();
    assert_eq!(
        snapshot,
        PushSnapshot {
            requests: 1,
            decode_errors: 0,
            body_bytes: body.len() as u64,
            entries: 104,
            line_bytes: lines.iter().map(|l| l.len() as u64).sum(),
            malformed: 3,
            duplicates: 1,
            unique: 100,
        }
    );
}

#[test]
fn json_pushes_count_the_same_and_accumulate() {
    let layout = LineLayout::new(200).unwrap();
    let counts = PushCounts::new(layout, &[10]);
    let mut encoder = PushEncoder::default();
    for half in [0..5, 5..10] {
        let lines = half.map(|n| payload(&layout, 0, n)).collect();
        let body = encoder.encode_json(&OneStream::new(lines)).to_vec();
        counts.record(&body, JSON_CONTENT_TYPE, None, &limits()).unwrap();
    }
    let snapshot = counts.snapshot();
    assert_eq!((snapshot.requests, snapshot.entries, snapshot.unique), (2, 10, 10));
    assert_eq!((snapshot.duplicates, snapshot.malformed, snapshot.line_bytes), (0, 0, 10 * 159));
}

#[test]
fn an_undecodable_body_is_counted_as_a_decode_error() {
    let counts = PushCounts::new(LineLayout::new(120).unwrap(), &[1]);
    let result = counts.record(b"\xff\xff\xff\xff garbage", PROTOBUF_CONTENT_TYPE, None, &limits());
    assert!(result.is_err());
    let snapshot = counts.snapshot();
    assert_eq!((snapshot.requests, snapshot.decode_errors, snapshot.entries), (1, 1, 0));
}

#[tokio::test]
async fn http_push_is_answered_204_and_garbage_400() {
    let layout = LineLayout::new(120).unwrap();
    let counts = Arc::new(PushCounts::new(layout, &[2]));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}{PUSH_PATH}", listener.local_addr().unwrap());
    let app = router(Arc::clone(&counts), limits());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let client = reqwest::Client::new();
    let body = PushEncoder::default()
        .encode_protobuf(&OneStream::new(vec![payload(&layout, 0, 0), payload(&layout, 0, 1)]))
        .to_vec();
    let ok = client.post(&url).header("Content-Type", PROTOBUF_CONTENT_TYPE).body(body).send().await.unwrap();
    assert_eq!(ok.status(), reqwest::StatusCode::NO_CONTENT);
    let bad = client.post(&url).header("Content-Type", "text/plain").body("x").send().await.unwrap();
    assert_eq!(bad.status(), reqwest::StatusCode::BAD_REQUEST);
    let snapshot = counts.snapshot();
    assert_eq!((snapshot.unique, snapshot.decode_errors), (2, 1));
}
