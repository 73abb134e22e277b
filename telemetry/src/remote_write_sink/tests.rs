//! Tests of the remote_write sink: the pieces (batcher, record header, response
//! classification, naming) directly, and the whole sink against an axum receiver on
//! 127.0.0.1:0 that decodes every request and answers from a script (200 when the script is
//! empty, or always 503 while `failing` is set).

use super::batcher::{BatchPart, Batcher, PushOutcome};
use super::config::BufferConfig;
use super::config::RemoteWriteConfig;
use super::metrics::{BatchDropReason, QueueMetrics, RemoteWriteMetrics, SampleDropReason};
use super::record::{HEADER_LEN, RecordError, decode_header, encode_record};
use super::sender::{Attempt, LOGGED_BODY_BYTES};
use crate::http_post::RetryPolicy;

/// The remote_write sender's classification of a response.
fn classify(
    status: StatusCode,
    retry_after: Option<Duration>,
    body: &[u8],
    retry_on_http_429: bool,
) -> Attempt {
    let policy = RetryPolicy { retry_on_http_429, logged_body_bytes: LOGGED_BODY_BYTES };
    crate::http_post::classify(status, retry_after, body, policy)
}
use super::{RemoteWriteSink, path_safe};
use crate::duration::ByteSize;
use crate::model::{Labels, PackedSamples, Sample, Series, now_ms};
use crate::remote_write::decode_request;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

// ---------------------------------------------------------------- pieces

fn one_series(name: &str, index: usize, samples: usize) -> Series {
    let labels = Labels::from_pairs([("__name__", name.to_string()), ("i", index.to_string())]);
    let base = now_ms();
    Series::new(
        labels,
        (0..samples).map(|k| Sample { timestamp_ms: base + k as i64, value: k as f64 }).collect(),
    )
}

#[test]
fn batcher_splits_series_at_max_samples() {
    let mut batcher = Batcher::new(10, usize::MAX);
    let mut outcome = PushOutcome::default();
    batcher.push(one_series("m", 0, 25), &mut outcome);
    assert!(outcome.sealed);
    let first = batcher.take_sealed().unwrap();
    let second = batcher.take_sealed().unwrap();
    assert_eq!((first.samples, second.samples), (10, 10));
    assert!(batcher.take_sealed().is_none(), "the last 5 samples stay open");
    assert!(batcher.seal());
    let third = batcher.take_sealed().unwrap();
    assert_eq!(third.samples, 5);
    assert_eq!(third.series()[0].samples[0].value, 20.0, "samples keep their order across batches");
    assert!(!batcher.seal(), "nothing left to seal");
}

#[test]
fn writer_merges_waiting_batches_up_to_max_samples() {
    let mut batcher = Batcher::new(10, usize::MAX);
    let mut outcome = PushOutcome::default();
    for (i, samples) in [3, 4, 2, 5].into_iter().enumerate() {
        batcher.push(one_series("m", i, samples), &mut outcome);
        assert!(batcher.seal());
    }
    let first = batcher.take_sealed_merged().unwrap();
    assert_eq!((first.samples, first.series().len()), (9, 3), "3 + 4 + 2 fit in 10; 5 more would not");
    let second = batcher.take_sealed_merged().unwrap();
    assert_eq!(second.samples, 5);
    assert!(batcher.take_sealed_merged().is_none());
}

#[test]
fn batcher_drops_oldest_sealed_batches_over_its_byte_bound() {
    // Room for about two one-sample batches.
    let probe = {
        let mut b = Batcher::new(1, usize::MAX);
        b.push(one_series("m", 0, 1), &mut PushOutcome::default());
        b.bytes()
    };
    let mut batcher = Batcher::new(1, probe * 2);
    let mut outcome = PushOutcome::default();
    for i in 0..5 {
        batcher.push(one_series("m", i, 1), &mut outcome);
    }
    assert_eq!(outcome.dropped_samples, vec![1, 1, 1]);
    let kept: Vec<String> = std::iter::from_fn(|| batcher.take_sealed())
        .map(|b| b.series()[0].labels.get("i").unwrap_or_default().to_string())
        .collect();
    assert_eq!(kept, ["3", "4"], "the newest batches survive");
}

/// `count` single-sample series `m{i="<start + k>"}`, packed as a scrape hands them over.
fn packed(start: usize, count: usize) -> PackedSamples {
    let mut packed = PackedSamples::new();
    for i in start..start + count {
        let series = one_series("m", i, 1);
        packed.push(&series.labels, series.samples[0]);
    }
    packed
}

#[test]
fn batcher_splits_packed_series_at_max_samples_and_keeps_push_order() {
    let mut batcher = Batcher::new(10, usize::MAX);
    let mut outcome = PushOutcome::default();
    batcher.push(one_series("s", 0, 3), &mut outcome);
    batcher.push_packed(packed(0, 12), &mut outcome);
    assert!(outcome.sealed);
    let first = batcher.take_sealed().unwrap();
    assert_eq!(first.samples, 10);
    assert!(batcher.seal());
    let second = batcher.take_sealed().unwrap();
    assert_eq!(second.samples, 5);
    let names: Vec<String> = [first, second]
        .iter()
        .flat_map(|b| b.series())
        .map(|s| {
            format!("{}{}", s.labels.metric_name().unwrap_or_default(), s.labels.get("i").unwrap_or_default())
        })
        .collect();
    let expected: Vec<String> =
        std::iter::once("s0".to_string()).chain((0..12).map(|i| format!("m{i}"))).collect();
    assert_eq!(names, expected);
}

#[test]
fn packed_and_series_batches_encode_to_the_same_request() {
    let external = Labels::from_pairs([("cluster", "c1"), ("i", "shadowed"), ("zone", "z")]);
    let input = packed(0, 20);
    let mut as_packed = Batcher::new(100, usize::MAX);
    as_packed.push_packed(input.clone(), &mut PushOutcome::default());
    as_packed.seal();
    let mut as_series = Batcher::new(100, usize::MAX);
    for series in input.to_series() {
        as_series.push(series, &mut PushOutcome::default());
    }
    as_series.seal();
    let (a, b) = (as_packed.take_sealed().unwrap(), as_series.take_sealed().unwrap());
    assert!(matches!(a.parts.as_slice(), [BatchPart::Packed(_)]));
    let mut encoder = crate::remote_write::Encoder::new();
    let record_a = encode_record(&a, &mut encoder, &external);
    let record_b = encode_record(&b, &mut encoder, &external);
    assert_eq!(record_a, record_b);
    let decoded = decode_request(&record_a[HEADER_LEN..], 1 << 20).unwrap();
    assert_eq!(decoded.len(), 20);
    assert_eq!(decoded[3].labels.get("cluster"), Some("c1"));
    assert_eq!(decoded[3].labels.get("i"), Some("3"), "a series' own label wins over an external one");
}

#[test]
fn record_header_round_trips_and_rejects_garbage() {
    let mut batcher = Batcher::new(3, usize::MAX);
    batcher.push(one_series("m", 0, 3), &mut PushOutcome::default());
    let batch = batcher.take_sealed().unwrap();
    let record = encode_record(&batch, &mut crate::remote_write::Encoder::new(), &Labels::new());
    let header = decode_header(&record).unwrap();
    assert_eq!(header.samples, 3);
    assert_eq!(header.max_timestamp_ms, batch.series()[0].samples[2].timestamp_ms);
    let decoded = decode_request(&record[HEADER_LEN..], 1 << 20).unwrap();
    assert_eq!(decoded, batch.series());
    assert_eq!(decode_header(&record[..5]), Err(RecordError::Truncated(5)));
    let mut wrong = record.clone();
    wrong[0] = 9;
    assert_eq!(decode_header(&wrong), Err(RecordError::UnknownVersion(9)));
}

#[test]
fn classification_follows_prometheus() {
    let ok = classify(StatusCode::NO_CONTENT, None, b"", true);
    assert_eq!(ok, Attempt::Delivered { status: 204 });
    let ra = Some(Duration::from_secs(2));
    assert!(
        matches!(classify(StatusCode::SERVICE_UNAVAILABLE, ra, b"", true), Attempt::Retry { retry_after, .. } if retry_after == ra)
    );
    assert!(matches!(
        classify(StatusCode::INTERNAL_SERVER_ERROR, None, b"", false),
        Attempt::Retry { status: Some(500), .. }
    ));
    assert!(matches!(classify(StatusCode::TOO_MANY_REQUESTS, None, b"", true), Attempt::Retry { .. }));
    assert!(matches!(
        classify(StatusCode::TOO_MANY_REQUESTS, None, b"", false),
        Attempt::Rejected { status: 429, .. }
    ));
    let long_body = vec![b'x'; 1000];
    match classify(StatusCode::BAD_REQUEST, None, &long_body, true) {
        Attempt::Rejected { status: 400, body } => assert_eq!(body.len(), 256),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn queue_names_and_directories() {
    let named = config_for("http://example.invalid/api/v1/write", Some("prod/eu"), "");
    assert_eq!(RemoteWriteSink::queue_name(&named), "prod/eu");
    assert_eq!(RemoteWriteSink::queue_dir(&named, Path::new("/d")), Path::new("/d/remote_write/prod_eu"));
    let unnamed = config_for("http://example.invalid/api/v1/write", None, "");
    let name = RemoteWriteSink::queue_name(&unnamed);
    assert_eq!(name.len(), 6);
    assert!(name.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(RemoteWriteSink::queue_name(&unnamed.clone()), name, "stable");
    assert_ne!(RemoteWriteSink::queue_name(&config_for("http://other.invalid/", None, "")), name);
    assert_eq!(path_safe(".."), "___");
    assert_eq!(path_safe("a.b-c_d"), "a.b-c_d");
}

// ---------------------------------------------------------------- receiver

#[derive(Clone, Copy)]
struct Scripted {
    status: u16,
    retry_after: Option<&'static str>,
    body: &'static str,
}

struct Received {
    at: Instant,
    status: u16,
    headers: HeaderMap,
    series: Vec<Series>,
}

#[derive(Default)]
struct ReceiverState {
    script: Mutex<VecDeque<Scripted>>,
    failing: AtomicBool,
    requests: Mutex<Vec<Received>>,
}

struct Receiver {
    addr: SocketAddr,
    state: Arc<ReceiverState>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn receive(State(state): State<Arc<ReceiverState>>, headers: HeaderMap, body: Bytes) -> Response {
    let series = decode_request(&body, 64 << 20).unwrap_or_default();
    let scripted = if state.failing.load(Ordering::SeqCst) {
        Scripted { status: 503, retry_after: None, body: "down" }
    } else {
        state.script.lock().unwrap().pop_front().unwrap_or(Scripted {
            status: 200,
            retry_after: None,
            body: "",
        })
    };
    state.requests.lock().unwrap().push(Received {
        at: Instant::now(),
        status: scripted.status,
        headers,
        series,
    });
    let mut response = (StatusCode::from_u16(scripted.status).unwrap(), scripted.body).into_response();
    if let Some(retry_after) = scripted.retry_after {
        response.headers_mut().insert("retry-after", retry_after.parse().unwrap());
    }
    response
}

impl Receiver {
    async fn start() -> Receiver {
        Receiver::start_on("127.0.0.1:0".parse().unwrap()).await
    }

    async fn start_on(addr: SocketAddr) -> Receiver {
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(ReceiverState::default());
        let app =
            axum::Router::new().route("/write", axum::routing::post(receive)).with_state(Arc::clone(&state));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver { addr, state, server }
    }

    fn url(&self) -> String {
        url_for(self.addr)
    }

    fn script(&self, responses: &[Scripted]) {
        self.state.script.lock().unwrap().extend(responses.iter().copied());
    }

    /// Every series delivered (2xx), in arrival order.
    fn delivered(&self) -> Vec<Series> {
        self.state
            .requests
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.status < 300)
            .flat_map(|r| r.series.clone())
            .collect()
    }

    /// The `i` label of every delivered series, in arrival order.
    fn delivered_indices(&self) -> Vec<usize> {
        self.delivered().iter().filter_map(|s| s.labels.get("i").and_then(|v| v.parse().ok())).collect()
    }

    fn request_count(&self) -> usize {
        self.state.requests.lock().unwrap().len()
    }
}

fn url_for(addr: SocketAddr) -> String {
    format!("http://{addr}/write")
}

/// An address nothing listens on (yet).
async fn unused_addr() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

// ---------------------------------------------------------------- helpers

fn config_for(url: &str, name: Option<&str>, extra: &str) -> RemoteWriteConfig {
    let name_line = name.map(|n| format!("name: {n:?}\n")).unwrap_or_default();
    let yaml = format!(
        "url: {url}\n{name_line}queue_config:\n  max_samples_per_send: 10\n  batch_send_deadline: 50ms\n  min_backoff: 10ms\n  max_backoff: 100ms\n{extra}"
    );
    yaml_serde::from_str(&yaml).unwrap()
}

fn buffer() -> BufferConfig {
    BufferConfig::default()
}

/// `count` one-sample series `test_metric{i="<start + k>"}`.
fn numbered(start: usize, count: usize) -> Vec<Series> {
    (start..start + count)
        .map(|i| {
            Series::new(
                Labels::from_pairs([("__name__", "test_metric".to_string()), ("i", i.to_string())]),
                vec![Sample { timestamp_ms: now_ms(), value: i as f64 }],
            )
        })
        .collect()
}

fn start_sink(
    cfg: &RemoteWriteConfig,
    data_dir: &Path,
    buffer: &BufferConfig,
) -> (RemoteWriteSink, QueueMetrics) {
    let metrics = RemoteWriteMetrics::default();
    let queue = metrics.for_queue(&RemoteWriteSink::queue_name(cfg));
    let sink = RemoteWriteSink::start(cfg, &BTreeMap::new(), buffer, data_dir, metrics).unwrap();
    (sink, queue)
}

async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Runs a sink on its own runtime in its own thread, sends `series`, waits until the disk
/// buffer holds `records` records, then drops sink and runtime without shutdown: a crash
/// after the appends (the dropped runtime waits for in-flight disk calls, as a dead process
/// would leave them).
async fn run_then_crash(cfg: RemoteWriteConfig, data_dir: PathBuf, series: Vec<Series>, records: i64) {
    tokio::task::spawn_blocking(move || {
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                let (sink, metrics) = start_sink(&cfg, &data_dir, &buffer());
                sink.send(&series);
                wait_until("the batches are on disk", || metrics.queue_records.get() >= records).await;
                drop(sink);
            });
            drop(runtime);
        })
        .join()
        .unwrap();
    })
    .await
    .unwrap();
}

// ---------------------------------------------------------------- sink

#[tokio::test]
async fn external_labels_then_write_relabel_and_protocol_headers() {
    let receiver = Receiver::start().await;
    let relabel = "write_relabel_configs:\n  - source_labels: [__name__]\n    regex: drop_me\n    action: drop\n  - source_labels: [cluster]\n    target_label: cluster_copy\n";
    let cfg = config_for(&receiver.url(), Some("rw"), relabel);
    let dir = tempfile::tempdir().unwrap();
    let metrics = RemoteWriteMetrics::default();
    let external =
        BTreeMap::from([("cluster".to_string(), "eu".to_string()), ("job".to_string(), "ext".to_string())]);
    let sink = RemoteWriteSink::start(&cfg, &external, &buffer(), dir.path(), metrics.clone()).unwrap();
    let now = now_ms();
    let sample = vec![Sample { timestamp_ms: now, value: 1.0 }];
    sink.send(&[
        Series::new(Labels::from_pairs([("__name__", "up"), ("job", "node")]), sample.clone()),
        Series::new(Labels::from_pairs([("__name__", "drop_me")]), sample.clone()),
    ]);
    wait_until("delivered", || !receiver.delivered().is_empty()).await;
    let delivered = receiver.delivered();
    assert_eq!(delivered.len(), 1);
    assert_eq!(
        delivered[0].labels,
        Labels::from_pairs([("__name__", "up"), ("job", "node"), ("cluster", "eu"), ("cluster_copy", "eu")]),
        "external labels fill only missing labels, and write relabeling sees them"
    );
    assert_eq!(delivered[0].samples, sample);
    let queue = metrics.for_queue("rw");
    assert_eq!(queue.samples_dropped(SampleDropReason::Relabel).get(), 1);
    wait_until("counted", || queue.samples.get() == 1).await;
    assert_eq!(queue.highest_sent_timestamp.get(), now as f64 / 1000.0);

    let requests = receiver.state.requests.lock().unwrap();
    let headers = &requests[0].headers;
    assert_eq!(headers["content-encoding"], "snappy");
    assert_eq!(headers["content-type"], "application/x-protobuf");
    assert_eq!(headers["x-prometheus-remote-write-version"], "0.1.0");
    assert!(headers["user-agent"].to_str().unwrap().starts_with("Harrier/"));
}

#[tokio::test]
async fn batches_respect_max_samples_per_send() {
    let receiver = Receiver::start().await;
    let cfg = config_for(&receiver.url(), Some("batches"), "headers:\n  X-Tenant: team-a\n");
    let dir = tempfile::tempdir().unwrap();
    let (sink, metrics) = start_sink(&cfg, dir.path(), &buffer());
    sink.send(&numbered(0, 35));
    // One series carrying 25 samples is split across batches too.
    sink.send(&[one_series("long", 99, 25)]);
    wait_until("all 60 samples delivered", || metrics.samples.get() == 60).await;
    let requests = receiver.state.requests.lock().unwrap();
    let sizes: Vec<usize> = requests.iter().map(|r| r.series.iter().map(|s| s.samples.len()).sum()).collect();
    assert!(sizes.iter().all(|&n| n <= 10), "{sizes:?}");
    assert_eq!(sizes.iter().sum::<usize>(), 60);
    assert!(sizes.iter().filter(|&&n| n == 10).count() >= 5, "full batches are sent whole: {sizes:?}");
    assert!(requests.iter().all(|r| r.headers["x-tenant"] == "team-a"));
}

#[tokio::test]
async fn packed_series_are_delivered_through_one_shard_and_through_several() {
    for shards in [1, 3] {
        let receiver = Receiver::start().await;
        let mut cfg = config_for(&receiver.url(), Some("packed"), "");
        cfg.queue_config.min_shards = shards;
        cfg.queue_config.max_shards = shards;
        let dir = tempfile::tempdir().unwrap();
        let (sink, metrics) = start_sink(&cfg, dir.path(), &buffer());
        sink.send_packed(packed(0, 25));
        sink.send_packed(packed(25, 25));
        wait_until("all 50 samples delivered", || metrics.samples.get() == 50).await;
        let mut indices = receiver.delivered_indices();
        if shards == 1 {
            assert_eq!(indices, (0..50).collect::<Vec<_>>(), "one shard keeps the order");
        }
        indices.sort_unstable();
        assert_eq!(indices, (0..50).collect::<Vec<_>>(), "{shards} shards");
        let requests = receiver.state.requests.lock().unwrap();
        assert!(requests.iter().all(|r| r.series.len() <= 10), "max_samples_per_send holds");
    }
}

#[tokio::test]
async fn a_series_gets_one_shard_whether_it_comes_packed_or_as_a_series() {
    let receiver = Receiver::start().await;
    let mut cfg = config_for(&receiver.url(), Some("shards"), "");
    cfg.queue_config.min_shards = 4;
    cfg.queue_config.max_shards = 4;
    let dir = tempfile::tempdir().unwrap();
    let external =
        BTreeMap::from([("cluster".to_string(), "eu".to_string()), ("i".to_string(), "x".to_string())]);
    let sink = RemoteWriteSink::start(&cfg, &external, &buffer(), dir.path(), RemoteWriteMetrics::default())
        .unwrap();
    let mut shards_used = std::collections::HashSet::new();
    for series in packed(0, 200).to_series() {
        let prepared = sink.prepare(&series).unwrap();
        let as_series = sink.sent_labels_hash(&prepared);
        assert_eq!(sink.packed_labels_hash(series.labels.encoded()), as_series, "{}", series.labels);
        shards_used.insert(as_series % 4);
    }
    assert_eq!(shards_used.len(), 4, "the hash spreads series over the shards");
    sink.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn packed_series_go_through_write_relabel_configs() {
    let receiver = Receiver::start().await;
    let relabel = "write_relabel_configs:\n  - source_labels: [i]\n    regex: '1.'\n    action: drop\n";
    let cfg = config_for(&receiver.url(), Some("relabel"), relabel);
    let dir = tempfile::tempdir().unwrap();
    let (sink, metrics) = start_sink(&cfg, dir.path(), &buffer());
    sink.send_packed(packed(0, 30));
    wait_until("20 samples delivered", || metrics.samples.get() == 20).await;
    let mut indices = receiver.delivered_indices();
    indices.sort_unstable();
    assert_eq!(indices, (0..10).chain(20..30).collect::<Vec<_>>(), "i=10..19 dropped by the rule");
    assert_eq!(metrics.samples_dropped(SampleDropReason::Relabel).get(), 10);
}

#[test]
fn a_large_packed_scrape_is_cut_into_exactly_sized_batches() {
    let mut batcher = Batcher::new(10, usize::MAX);
    let mut outcome = PushOutcome::default();
    batcher.push_packed(packed(0, 7), &mut outcome);
    batcher.push_packed(packed(7, 95), &mut outcome);
    assert!(batcher.seal());
    let batches: Vec<_> = std::iter::from_fn(|| batcher.take_sealed()).collect();
    let sizes: Vec<usize> = batches.iter().map(|b| b.samples).collect();
    assert_eq!(sizes, [10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 2]);
    let indices: Vec<String> = batches
        .iter()
        .flat_map(|b| b.series())
        .map(|s| s.labels.get("i").unwrap_or_default().to_string())
        .collect();
    assert_eq!(indices, (0..102).map(|i| i.to_string()).collect::<Vec<_>>());
    // Each batch accounts for what it holds: pieces are copies, not views of the whole scrape.
    let one_piece = batches[2].bytes;
    assert!(
        batches[3..10].iter().all(|b| b.bytes <= one_piece * 2),
        "{:?}",
        batches.iter().map(|b| b.bytes).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn server_error_is_retried_without_loss_in_order() {
    let receiver = Receiver::start().await;
    receiver.script(&[Scripted { status: 500, retry_after: None, body: "boom" }]);
    let cfg = config_for(&receiver.url(), Some("retry"), "");
    let dir = tempfile::tempdir().unwrap();
    let (sink, metrics) = start_sink(&cfg, dir.path(), &buffer());
    for start in (0..50).step_by(10) {
        sink.send(&numbered(start, 10));
    }
    wait_until("all delivered", || receiver.delivered().len() == 50).await;
    assert_eq!(receiver.delivered_indices(), (0..50).collect::<Vec<_>>());
    let requests = receiver.state.requests.lock().unwrap();
    assert_eq!(requests[0].status, 500);
    assert_eq!(requests[1].series, requests[0].series, "the failed batch is retried first");
    assert_eq!(metrics.retries.get(), 1);
    assert_eq!(metrics.requests("500").get(), 1);
}

#[tokio::test]
async fn retry_after_on_429_is_honoured() {
    let receiver = Receiver::start().await;
    receiver.script(&[Scripted { status: 429, retry_after: Some("1"), body: "slow down" }]);
    let cfg = config_for(&receiver.url(), Some("ra"), "");
    let dir = tempfile::tempdir().unwrap();
    let (sink, _metrics) = start_sink(&cfg, dir.path(), &buffer());
    sink.send(&numbered(0, 10));
    wait_until("delivered after the retry", || receiver.delivered().len() == 10).await;
    let requests = receiver.state.requests.lock().unwrap();
    assert_eq!(requests.len(), 2);
    let gap = requests[1].at - requests[0].at;
    assert!(gap >= Duration::from_secs(1), "retried after {gap:?}, before Retry-After");
}

#[tokio::test]
async fn client_error_drops_the_batch_and_later_batches_flow() {
    let receiver = Receiver::start().await;
    receiver.script(&[Scripted { status: 400, retry_after: None, body: "out of order sample" }]);
    let cfg = config_for(&receiver.url(), Some("reject"), "");
    let dir = tempfile::tempdir().unwrap();
    let (sink, metrics) = start_sink(&cfg, dir.path(), &buffer());
    sink.send(&numbered(0, 10));
    wait_until("first request answered", || receiver.request_count() == 1).await;
    sink.send(&numbered(10, 10));
    wait_until("second batch delivered", || receiver.delivered().len() == 10).await;
    assert_eq!(receiver.delivered_indices(), (10..20).collect::<Vec<_>>());
    wait_until("drop counted", || metrics.samples_dropped(SampleDropReason::Rejected).get() == 10).await;
    assert_eq!(metrics.batches_dropped(BatchDropReason::Rejected).get(), 1);
    assert_eq!(metrics.requests("400").get(), 1);
    assert_eq!(metrics.retries.get(), 0, "a 400 is not retried");
}

#[tokio::test]
async fn receiver_down_then_up_gets_everything_in_order() {
    let addr = unused_addr().await;
    let cfg = config_for(&url_for(addr), Some("down"), "");
    let dir = tempfile::tempdir().unwrap();
    let (sink, metrics) = start_sink(&cfg, dir.path(), &buffer());
    for start in (0..40).step_by(10) {
        sink.send(&numbered(start, 10));
    }
    wait_until("a few failed attempts", || metrics.retries.get() >= 3).await;
    assert!(metrics.requests("error").get() >= 3);
    let receiver = Receiver::start_on(addr).await;
    sink.send(&numbered(40, 10));
    wait_until("all delivered", || receiver.delivered().len() == 50).await;
    assert_eq!(receiver.delivered_indices(), (0..50).collect::<Vec<_>>());
}

#[tokio::test]
async fn crash_then_restart_delivers_the_disk_buffer() {
    let receiver = Receiver::start().await;
    receiver.state.failing.store(true, Ordering::SeqCst);
    let cfg = config_for(&receiver.url(), Some("crash"), "");
    let dir = tempfile::tempdir().unwrap();
    run_then_crash(cfg.clone(), dir.path().to_path_buf(), numbered(0, 30), 3).await;
    assert!(receiver.delivered().is_empty());

    receiver.state.failing.store(false, Ordering::SeqCst);
    let (sink, metrics) = start_sink(&cfg, dir.path(), &buffer());
    wait_until("the buffered batches are delivered", || receiver.delivered().len() == 30).await;
    assert_eq!(receiver.delivered_indices(), (0..30).collect::<Vec<_>>());
    wait_until("the buffer is empty", || metrics.samples.get() == 30 && metrics.queue_records.get() == 0)
        .await;
    drop(sink);
}

#[tokio::test]
async fn leftover_shard_directories_are_drained() {
    let receiver = Receiver::start().await;
    receiver.state.failing.store(true, Ordering::SeqCst);
    let dir = tempfile::tempdir().unwrap();
    let four_shards = config_for(&receiver.url(), Some("reshard"), "");
    let mut four_shards_cfg = four_shards.clone();
    four_shards_cfg.queue_config.min_shards = 4;
    // 20 series in batches of one sample each: they spread over the four shards.
    let mut crash_cfg = four_shards_cfg.clone();
    crash_cfg.queue_config.max_samples_per_send = 1;
    run_then_crash(crash_cfg, dir.path().to_path_buf(), numbered(0, 20), 20).await;
    let shard_dirs = std::fs::read_dir(RemoteWriteSink::queue_dir(&four_shards, dir.path())).unwrap().count();
    assert_eq!(shard_dirs, 4);

    receiver.state.failing.store(false, Ordering::SeqCst);
    let one_shard = four_shards; // min_shards defaults to 1
    let (sink, _metrics) = start_sink(&one_shard, dir.path(), &buffer());
    // New data for the same series must not overtake their backlog in the leftover shards.
    sink.send(&numbered(100, 5));
    wait_until("every shard drained", || receiver.delivered().len() == 25).await;
    let arrival = receiver.delivered_indices();
    let first_new = arrival.iter().position(|i| *i >= 100).unwrap();
    assert!(arrival[first_new..].iter().all(|i| *i >= 100), "backlog arrived after new data: {arrival:?}");
    let mut indices = arrival;
    indices.sort_unstable();
    assert_eq!(indices, (0..20).chain(100..105).collect::<Vec<_>>());
    drop(sink);
}

/// Data never waits in memory for `batch_send_deadline`: what `send` got is on disk (and
/// delivered) at once, so a kill -9 right after loses nothing.
#[tokio::test]
async fn sent_data_reaches_disk_without_waiting_for_the_deadline() {
    let addr = unused_addr().await;
    let mut cfg = config_for(&url_for(addr), Some("prompt"), "");
    cfg.queue_config.batch_send_deadline = crate::duration::PromDuration::from_secs(3600);
    let dir = tempfile::tempdir().unwrap();
    let (sink, metrics) = start_sink(&cfg, dir.path(), &buffer());
    sink.send(&numbered(0, 3));
    // The receiver is down, so the batch stays in the disk queue, which the flusher reports.
    wait_until("the batch is in the disk queue", || metrics.queue_records.get() >= 1).await;
    drop(sink);
}

#[tokio::test]
async fn graceful_shutdown_writes_the_open_batch_and_delivers_it() {
    let receiver = Receiver::start().await;
    let mut cfg = config_for(&receiver.url(), Some("graceful"), "");
    cfg.queue_config.batch_send_deadline = crate::duration::PromDuration::from_secs(3600);
    let dir = tempfile::tempdir().unwrap();
    let (sink, _metrics) = start_sink(&cfg, dir.path(), &buffer());
    sink.send(&numbered(0, 3));
    sink.shutdown(Duration::from_secs(10)).await;
    assert_eq!(receiver.delivered_indices(), vec![0, 1, 2]);
}

#[tokio::test]
async fn shutdown_with_the_receiver_down_keeps_data_for_the_next_start() {
    let addr = unused_addr().await;
    let mut cfg = config_for(&url_for(addr), Some("later"), "");
    cfg.queue_config.batch_send_deadline = crate::duration::PromDuration::from_secs(3600);
    let dir = tempfile::tempdir().unwrap();
    let (sink, _metrics) = start_sink(&cfg, dir.path(), &buffer());
    sink.send(&numbered(0, 15));
    let started = Instant::now();
    sink.shutdown(Duration::from_millis(200)).await;
    assert!(started.elapsed() < Duration::from_secs(5), "shutdown respects its grace");

    let receiver = Receiver::start_on(addr).await;
    let (sink, _metrics) = start_sink(&cfg, dir.path(), &buffer());
    wait_until("delivered by the next start", || receiver.delivered().len() == 15).await;
    assert_eq!(receiver.delivered_indices(), (0..15).collect::<Vec<_>>());
    sink.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn full_disk_buffer_drops_the_oldest_and_counts_them() {
    let receiver = Receiver::start().await;
    receiver.state.failing.store(true, Ordering::SeqCst);
    let cfg = config_for(&receiver.url(), Some("tiny"), "");
    let dir = tempfile::tempdir().unwrap();
    let tiny = BufferConfig { max_bytes: ByteSize(2048), segment_bytes: ByteSize(512) };
    let (sink, metrics) = start_sink(&cfg, dir.path(), &tiny);
    let batches = 30;
    for start in (0..batches * 10).step_by(10) {
        sink.send(&numbered(start, 10));
    }
    let dropped = || metrics.batches_dropped(BatchDropReason::BufferFull).get();
    wait_until("oldest batches dropped", || dropped() > 0).await;
    wait_until("all batches written", || {
        metrics.queue_records.get() > 0 && dropped() + metrics.queue_records.get() as u64 >= batches as u64
    })
    .await;
    assert!(metrics.queue_bytes.get() <= 2048, "bounded: {}", metrics.queue_bytes.get());

    receiver.state.failing.store(false, Ordering::SeqCst);
    wait_until("the newest batch is delivered", || {
        receiver.delivered_indices().last() == Some(&(batches * 10 - 1))
    })
    .await;
    let delivered = receiver.delivered_indices();
    assert!(delivered.windows(2).all(|w| w[0] < w[1]), "in order: {delivered:?}");
    let delivered_batches = delivered.len() as u64 / 10;
    // The batch in flight when the buffer overflowed may be delivered and counted as dropped.
    assert!(delivered_batches + dropped() >= batches as u64);
    assert!(delivered_batches < batches as u64, "something was dropped");
    sink.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn several_sinks_each_have_their_own_queue() {
    let first = Receiver::start().await;
    let second = Receiver::start().await;
    second.state.failing.store(true, Ordering::SeqCst);
    let dir = tempfile::tempdir().unwrap();
    let (sink_a, metrics_a) = start_sink(&config_for(&first.url(), Some("a"), ""), dir.path(), &buffer());
    let (sink_b, metrics_b) = start_sink(&config_for(&second.url(), Some("b"), ""), dir.path(), &buffer());
    let data = numbered(0, 20);
    sink_a.send(&data);
    sink_b.send(&data);
    wait_until("the healthy sink delivers", || first.delivered().len() == 20).await;
    wait_until("the failing sink retries", || metrics_b.retries.get() > 0).await;
    assert_eq!(metrics_a.retries.get(), 0, "one sink's outage does not affect the other");
    second.state.failing.store(false, Ordering::SeqCst);
    wait_until("the other sink catches up", || second.delivered().len() == 20).await;
    assert_eq!(first.delivered(), second.delivered());
    assert!(dir.path().join("remote_write/a/shard-0").is_dir());
    assert!(dir.path().join("remote_write/b/shard-0").is_dir());
    sink_a.shutdown(Duration::from_secs(5)).await;
    sink_b.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn sample_age_limit_drops_old_samples_on_arrival_and_on_retry() {
    let receiver = Receiver::start().await;
    receiver.state.failing.store(true, Ordering::SeqCst);
    let cfg = config_for(&receiver.url(), Some("age"), "  sample_age_limit: 1s\n");
    assert_eq!(cfg.queue_config.sample_age_limit, Some(crate::duration::PromDuration::from_secs(1)));
    let dir = tempfile::tempdir().unwrap();
    let (sink, metrics) = start_sink(&cfg, dir.path(), &buffer());
    let too_old = metrics.samples_dropped(SampleDropReason::TooOld);

    let stale = Series::new(
        Labels::from_pairs([("__name__", "test_metric"), ("i", "1000")]),
        vec![Sample { timestamp_ms: now_ms() - 3_600_000, value: 1.0 }],
    );
    sink.send(&[stale]);
    assert_eq!(too_old.get(), 1, "dropped on arrival");

    // Fresh when sent, but it ages past the limit while the receiver keeps failing.
    sink.send(&numbered(0, 10));
    wait_until("dropped while retrying", || too_old.get() == 11).await;
    assert_eq!(metrics.batches_dropped(BatchDropReason::TooOld).get(), 1);

    receiver.state.failing.store(false, Ordering::SeqCst);
    sink.send(&numbered(10, 10));
    wait_until("the fresh batch is delivered", || receiver.delivered().len() == 10).await;
    assert_eq!(receiver.delivered_indices(), (10..20).collect::<Vec<_>>());
    sink.shutdown(Duration::from_secs(5)).await;
}

/// The shard of a series depends on the labels it is sent with, not on where the external
/// labels are merged (the writer without write_relabel_configs, `send` with them).
#[test]
fn shard_hash_covers_external_labels_either_way() {
    let own = Labels::from_pairs([("__name__", "m"), ("a", "1")]);
    let external = Labels::from_pairs([("cluster", "c")]);
    let sent = Labels::from_pairs([("__name__", "m"), ("a", "1"), ("cluster", "c")]);
    assert_eq!(super::shard_hash(own.merged_with(&external)), super::shard_hash(sent.iter()));
    assert_ne!(super::shard_hash(own.iter()), super::shard_hash(sent.iter()));
}

#[tokio::test]
async fn metrics_are_registered_under_the_given_prefix() {
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_for(&url_for(receiver.addr), Some("rw"), "");
    let mut agent_registry = prometheus_client::registry::Registry::default();
    let agent = RemoteWriteMetrics::register(&mut agent_registry, "harrier_agent");
    agent.for_queue("a").samples.inc();
    let mut registry = prometheus_client::registry::Registry::default();
    let metrics = RemoteWriteMetrics::register(&mut registry, "harrier_router");
    let sink =
        RemoteWriteSink::start(&cfg, &BTreeMap::new(), &buffer(), dir.path(), metrics.clone()).unwrap();
    sink.send(&numbered(0, 3));
    let queue = metrics.for_queue("rw");
    wait_until("delivered", || queue.samples.get() == 3).await;
    sink.shutdown(Duration::from_secs(5)).await;

    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    assert!(text.contains("harrier_router_remote_write_samples_total{queue=\"rw\"} 3\n"), "{text}");
    assert!(text.contains("harrier_router_remote_write_requests_total{queue=\"rw\",code=\"200\"}"), "{text}");
    assert!(text.contains("# TYPE harrier_router_remote_write_queue_bytes gauge"), "{text}");
    assert!(!text.contains("harrier_agent_"), "{text}");

    let mut agent_text = String::new();
    prometheus_client::encoding::text::encode(&mut agent_text, &agent_registry).unwrap();
    assert!(agent_text.contains("harrier_agent_remote_write_samples_total{queue=\"a\"} 1\n"), "{agent_text}");
    assert!(!agent_text.contains("queue=\"rw\""), "the agent's families are separate: {agent_text}");
}
