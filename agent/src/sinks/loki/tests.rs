//! The sink against an axum receiver on 127.0.0.1:0 that decodes every push with
//! `harrier_telemetry::loki::decode_push`, plus unit tests of configuration checks and the
//! label cache. Real sockets make tokio's paused time unusable here (reqwest's timeouts would
//! fire while the receiver works), so timing assertions are loose lower bounds on real time.

use super::batch::LabelCache;
use super::*;
use crate::logs::{Delivery, FileCommit, LogEntry, StreamLabels};
use axum::body::Bytes as AxumBytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use harrier_telemetry::loki::{DecodeLimits, decode_push, label_string, proto};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

// ----- the receiver -----

/// How the receiver answers one request.
#[derive(Debug, Clone, Copy)]
struct Scripted {
    status: u16,
    retry_after: Option<&'static str>,
    body: &'static str,
    delay: Duration,
}

impl Scripted {
    fn status(status: u16) -> Self {
        Scripted { status, retry_after: None, body: "", delay: Duration::ZERO }
    }
}

struct Received {
    at: Instant,
    status: u16,
    headers: HeaderMap,
    push: proto::PushRequest,
    /// The watched file commit when the request arrived.
    commit_at_arrival: Option<u64>,
}

#[derive(Default)]
struct ReceiverState {
    script: Mutex<VecDeque<Scripted>>,
    /// Answers every request not scripted (default 200).
    fallback: Mutex<Option<Scripted>>,
    requests: Mutex<Vec<Received>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    watched_commit: Mutex<Option<Arc<FileCommit>>>,
}

async fn receive(State(state): State<Arc<ReceiverState>>, headers: HeaderMap, body: AxumBytes) -> Response {
    let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    state.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let content_encoding = headers.get("content-encoding").and_then(|v| v.to_str().ok()).map(str::to_string);
    let push = decode_push(&body, &content_type, content_encoding.as_deref(), &DecodeLimits::default())
        .expect("the sink's body decodes");
    let scripted = state
        .script
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or_else(|| state.fallback.lock().unwrap().unwrap_or(Scripted::status(200)));
    let commit_at_arrival = state.watched_commit.lock().unwrap().as_ref().map(|c| c.get());
    state.requests.lock().unwrap().push(Received {
        at: Instant::now(),
        status: scripted.status,
        headers,
        push,
        commit_at_arrival,
    });
    if !scripted.delay.is_zero() {
        tokio::time::sleep(scripted.delay).await;
    }
    state.in_flight.fetch_sub(1, Ordering::SeqCst);
    let mut response = (StatusCode::from_u16(scripted.status).unwrap(), scripted.body).into_response();
    if let Some(retry_after) = scripted.retry_after {
        response.headers_mut().insert("retry-after", retry_after.parse().unwrap());
    }
    response
}

struct Receiver {
    addr: SocketAddr,
    state: Arc<ReceiverState>,
    server: JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Receiver {
    async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(ReceiverState::default());
        let app = axum::Router::new()
            .route("/loki/api/v1/push", axum::routing::post(receive))
            .with_state(Arc::clone(&state));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver { addr, state, server }
    }

    fn url(&self) -> String {
        format!("http://{}/loki/api/v1/push", self.addr)
    }

    fn script(&self, responses: &[Scripted]) {
        self.state.script.lock().unwrap().extend(responses.iter().copied());
    }

    fn watch(&self, commit: &Arc<FileCommit>) {
        *self.state.watched_commit.lock().unwrap() = Some(Arc::clone(commit));
    }

    fn request_count(&self) -> usize {
        self.state.requests.lock().unwrap().len()
    }

    /// (labels, line) of every entry of every accepted request, in arrival order.
    fn delivered_lines(&self) -> Vec<(String, String)> {
        let requests = self.state.requests.lock().unwrap();
        requests
            .iter()
            .filter(|r| r.status < 300)
            .flat_map(|r| {
                r.push
                    .streams
                    .iter()
                    .flat_map(|s| s.entries.iter().map(|e| (s.labels.clone(), e.line.clone())))
            })
            .collect()
    }

    /// Lines of every request (accepted or not), one list per request.
    fn lines_per_request(&self) -> Vec<Vec<String>> {
        let requests = self.state.requests.lock().unwrap();
        requests
            .iter()
            .map(|r| r.push.streams.iter().flat_map(|s| s.entries.iter().map(|e| e.line.clone())).collect())
            .collect()
    }
}

/// Polls `condition` every 10 ms for up to 10 s.
async fn wait_for(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// An address nothing listens on.
async fn unused_addr() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

// ----- chunks -----

fn stream(pairs: &[(&str, &str)]) -> Arc<StreamLabels> {
    let pairs: Vec<(String, String)> = pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
    let loki = label_string(&pairs);
    Arc::new(StreamLabels { pairs, loki })
}

/// A chunk of `lines` (stream index, line) for one sink, committing `end_offset` to `commit`.
fn chunk(
    streams: &[Arc<StreamLabels>],
    lines: &[(u8, &str)],
    commit: &Arc<FileCommit>,
    end_offset: u64,
) -> Arc<LogChunk> {
    let mut data = Vec::new();
    let mut entries = Vec::new();
    for (i, (stream, line)) in lines.iter().enumerate() {
        entries.push(LogEntry {
            timestamp_ns: 1_700_000_000_000_000_000 + i as i64,
            start: data.len() as u32,
            len: line.len() as u32,
            stream: *stream,
        });
        data.extend_from_slice(line.as_bytes());
    }
    Arc::new(LogChunk {
        streams: streams.to_vec(),
        metadata: Vec::new(),
        entries,
        data,
        delivery: Some(Delivery {
            commit: Arc::clone(commit),
            end_offset,
            pending_sinks: AtomicUsize::new(1),
        }),
        budget: None,
    })
}

fn pending(chunk: &LogChunk) -> usize {
    chunk.delivery.as_ref().unwrap().pending_sinks.load(Ordering::SeqCst)
}

fn config(url: &str, extra: &str) -> LokiConfig {
    let yaml = format!("url: {url}\nmin_backoff: 10ms\nmax_backoff: 50ms\n{extra}");
    yaml_serde::from_str(&yaml).unwrap()
}

fn sink_metrics(metrics: &LokiMetrics, cfg: &LokiConfig) -> SinkMetrics {
    metrics.for_sink(&cfg.sink_name())
}

// ----- batching -----

#[tokio::test]
async fn batches_close_at_batch_size_and_shutdown_sends_the_rest() {
    let receiver = Receiver::start().await;
    let cfg = config(&receiver.url(), "batch_size: 100B\nbatch_wait: 1h\n");
    let (sink, tx) = LokiSink::start(&cfg, LokiMetrics::default()).unwrap();
    let s = stream(&[("job", "a")]);
    let commit = Arc::new(FileCommit::new(0));
    let line = "x".repeat(40);
    let chunks: Vec<_> = (1..=5).map(|i| chunk(&[Arc::clone(&s)], &[(0, &line)], &commit, i * 10)).collect();
    for c in &chunks {
        tx.send(Arc::clone(c)).unwrap();
    }
    // 40 + 40 fit; the third would make 120 > 100, so it starts the next batch.
    wait_for("two batches", || receiver.request_count() == 2).await;
    assert_eq!(receiver.lines_per_request().iter().map(Vec::len).collect::<Vec<_>>(), vec![2, 2]);
    wait_for("the commit of chunk 4", || commit.get() == 40).await;
    assert_eq!(pending(&chunks[4]), 1, "the fifth chunk waits for batch_wait (1h)");

    // A chunk that fills the batch on its own is sent at once... after the waiting one.
    let full = chunk(&[Arc::clone(&s)], &[(0, &"y".repeat(100))], &commit, 60);
    tx.send(Arc::clone(&full)).unwrap();
    wait_for("the full batch", || receiver.request_count() == 4).await;
    assert_eq!(receiver.lines_per_request().iter().map(Vec::len).collect::<Vec<_>>(), vec![2, 2, 1, 1]);
    wait_for("the commit of the full chunk", || commit.get() == 60).await;

    let last = chunk(&[Arc::clone(&s)], &[(0, "tail")], &commit, 70);
    tx.send(Arc::clone(&last)).unwrap();
    sink.shutdown(Duration::from_secs(5)).await;
    assert_eq!(receiver.request_count(), 5, "shutdown sends the open batch");
    assert_eq!(commit.get(), 70);
    assert!(chunks.iter().chain([&full, &last]).all(|c| pending(c) == 0), "delivered once each");
}

#[tokio::test]
async fn a_batch_closes_batch_wait_after_its_first_chunk() {
    let receiver = Receiver::start().await;
    let cfg = config(&receiver.url(), "batch_wait: 300ms\n");
    let (_sink, tx) = LokiSink::start(&cfg, LokiMetrics::default()).unwrap();
    let s = stream(&[("job", "a")]);
    let commit = Arc::new(FileCommit::new(0));
    let sent_at = Instant::now();
    tx.send(chunk(&[Arc::clone(&s)], &[(0, "one")], &commit, 1)).unwrap();
    tx.send(chunk(&[Arc::clone(&s)], &[(0, "two")], &commit, 2)).unwrap();
    wait_for("the batch", || receiver.request_count() == 1).await;
    let arrived = receiver.state.requests.lock().unwrap()[0].at;
    assert!(arrived.duration_since(sent_at) >= Duration::from_millis(290), "sent before batch_wait");
    assert_eq!(receiver.lines_per_request(), vec![vec!["one".to_string(), "two".to_string()]]);
    wait_for("the commit", || commit.get() == 2).await;
}

#[tokio::test]
async fn entries_are_grouped_by_stream_in_arrival_order_with_metadata() {
    let receiver = Receiver::start().await;
    let cfg = config(&receiver.url(), "batch_wait: 200ms\n");
    let (sink, tx) = LokiSink::start(&cfg, LokiMetrics::default()).unwrap();
    let out = stream(&[("pod", "p"), ("stream", "stdout")]);
    let err = stream(&[("pod", "p"), ("stream", "stderr")]);
    // The same labels in another Arc (another file of the same container) share the stream.
    let out_again = stream(&[("pod", "p"), ("stream", "stdout")]);
    let other = stream(&[("pod", "q"), ("stream", "stdout")]);
    let commit = Arc::new(FileCommit::new(0));
    let first = {
        let mut c = Arc::try_unwrap(chunk(
            &[Arc::clone(&out), Arc::clone(&err)],
            &[(0, "o1"), (1, "e1"), (0, "o2"), (1, "e2")],
            &commit,
            10,
        ))
        .unwrap();
        c.metadata = vec![Arc::from(vec![("pod_uid".to_string(), "u-1".to_string())]), Arc::from(vec![])];
        Arc::new(c)
    };
    let second = chunk(&[other, out_again], &[(1, "o3"), (0, "q1"), (1, "o4")], &commit, 20);
    tx.send(first).unwrap();
    tx.send(second).unwrap();
    wait_for("the batch", || receiver.request_count() == 1).await;
    sink.shutdown(Duration::from_secs(5)).await;

    let requests = receiver.state.requests.lock().unwrap();
    let streams = &requests[0].push.streams;
    let summary: Vec<(&str, Vec<&str>)> = streams
        .iter()
        .map(|s| (s.labels.as_str(), s.entries.iter().map(|e| e.line.as_str()).collect()))
        .collect();
    assert_eq!(
        summary,
        vec![
            (r#"{pod="p", stream="stdout"}"#, vec!["o1", "o2", "o3", "o4"]),
            (r#"{pod="p", stream="stderr"}"#, vec!["e1", "e2"]),
            (r#"{pod="q", stream="stdout"}"#, vec!["q1"]),
        ]
    );
    let first_entry = &streams[0].entries[0];
    assert_eq!(first_entry.timestamp_ns(), 1_700_000_000_000_000_000);
    assert_eq!(
        first_entry.structured_metadata,
        vec![proto::LabelPairAdapter { name: "pod_uid".into(), value: "u-1".into() }]
    );
    assert!(streams[0].entries[2].structured_metadata.is_empty(), "the second chunk has no metadata");
    assert!(streams[1].entries[0].structured_metadata.is_empty());
    assert_eq!(commit.get(), 20);
}

#[tokio::test]
async fn one_request_in_flight_and_chunks_delivered_in_order() {
    let receiver = Receiver::start().await;
    *receiver.state.fallback.lock().unwrap() =
        Some(Scripted { delay: Duration::from_millis(30), ..Scripted::status(204) });
    let cfg = config(&receiver.url(), "batch_size: 10B\nbatch_wait: 10ms\n");
    let (sink, tx) = LokiSink::start(&cfg, LokiMetrics::default()).unwrap();
    let s = stream(&[("job", "a")]);
    let commit = Arc::new(FileCommit::new(0));
    let expected: Vec<String> = (0..20).map(|i| format!("line {i:02}")).collect();
    let chunks: Vec<_> = expected
        .iter()
        .enumerate()
        .map(|(i, line)| chunk(&[Arc::clone(&s)], &[(0, line)], &commit, i as u64 + 1))
        .collect();
    for c in &chunks {
        tx.send(Arc::clone(c)).unwrap();
    }
    wait_for("every line", || receiver.delivered_lines().len() == 20).await;
    sink.shutdown(Duration::from_secs(5)).await;
    let lines: Vec<String> = receiver.delivered_lines().into_iter().map(|(_, l)| l).collect();
    assert_eq!(lines, expected);
    assert!(receiver.request_count() > 1);
    assert_eq!(receiver.state.max_in_flight.load(Ordering::SeqCst), 1);
    assert_eq!(commit.get(), 20);
}

#[tokio::test]
async fn chunks_without_entries_are_delivered_without_a_request() {
    let receiver = Receiver::start().await;
    let cfg = config(&receiver.url(), "batch_wait: 20ms\n");
    let (sink, tx) = LokiSink::start(&cfg, LokiMetrics::default()).unwrap();
    let commit = Arc::new(FileCommit::new(0));
    let empty = chunk(&[], &[], &commit, 42);
    tx.send(Arc::clone(&empty)).unwrap();
    wait_for("the commit", || commit.get() == 42).await;
    assert_eq!(pending(&empty), 0);
    sink.shutdown(Duration::from_secs(1)).await;
    assert_eq!(receiver.request_count(), 0);
}

// ----- requests -----

#[tokio::test]
async fn requests_carry_tenant_content_type_user_agent_auth_and_custom_headers() {
    let receiver = Receiver::start().await;
    let cfg = config(
        &receiver.url(),
        concat!(
            "batch_wait: 10ms\ntenant_id: team-a\n",
            "headers:\n  X-Custom: yes-please\nauthorization:\n  credentials: s3cret\n",
        ),
    );
    let (sink, tx) = LokiSink::start(&cfg, LokiMetrics::default()).unwrap();
    let commit = Arc::new(FileCommit::new(0));
    tx.send(chunk(&[stream(&[("job", "a")])], &[(0, "hello")], &commit, 5)).unwrap();
    wait_for("a request", || receiver.request_count() == 1).await;
    sink.shutdown(Duration::from_secs(1)).await;
    let requests = receiver.state.requests.lock().unwrap();
    let headers = &requests[0].headers;
    assert_eq!(headers["content-type"], "application/x-protobuf");
    assert!(headers.get("content-encoding").is_none(), "promtail sends no Content-Encoding");
    assert_eq!(headers["x-scope-orgid"], "team-a");
    assert_eq!(headers["user-agent"], harrier_telemetry::http_client::USER_AGENT);
    assert_eq!(headers["x-custom"], "yes-please");
    assert_eq!(headers["authorization"], "Bearer s3cret");
}

#[tokio::test]
async fn no_tenant_header_without_tenant_id() {
    let receiver = Receiver::start().await;
    let cfg = config(&receiver.url(), "batch_wait: 10ms\n");
    let (sink, tx) = LokiSink::start(&cfg, LokiMetrics::default()).unwrap();
    let commit = Arc::new(FileCommit::new(0));
    tx.send(chunk(&[stream(&[("job", "a")])], &[(0, "hello")], &commit, 5)).unwrap();
    wait_for("a request", || receiver.request_count() == 1).await;
    sink.shutdown(Duration::from_secs(1)).await;
    assert!(receiver.state.requests.lock().unwrap()[0].headers.get("x-scope-orgid").is_none());
}

#[tokio::test]
async fn json_encoding_sends_the_same_streams() {
    let receiver = Receiver::start().await;
    let cfg = config(&receiver.url(), "batch_wait: 10ms\nencoding: json\nexternal_labels:\n  cluster: c1\n");
    let (sink, tx) = LokiSink::start(&cfg, LokiMetrics::default()).unwrap();
    let commit = Arc::new(FileCommit::new(0));
    let s = stream(&[("job", "a \"quoted\" \\ value"), ("stream", "stdout")]);
    let mut c =
        Arc::try_unwrap(chunk(&[s], &[(0, "line with \"quotes\" and \u{e9}"), (0, "two")], &commit, 9))
            .unwrap();
    c.metadata = vec![Arc::from(vec![("trace_id".to_string(), "abc".to_string())])];
    tx.send(Arc::new(c)).unwrap();
    wait_for("a request", || receiver.request_count() == 1).await;
    sink.shutdown(Duration::from_secs(1)).await;
    let requests = receiver.state.requests.lock().unwrap();
    assert_eq!(requests[0].headers["content-type"], "application/json");
    let streams = &requests[0].push.streams;
    assert_eq!(streams.len(), 1);
    assert_eq!(streams[0].labels, r#"{cluster="c1", job="a \"quoted\" \\ value", stream="stdout"}"#);
    let lines: Vec<&str> = streams[0].entries.iter().map(|e| e.line.as_str()).collect();
    assert_eq!(lines, vec!["line with \"quotes\" and \u{e9}", "two"]);
    assert_eq!(streams[0].entries[1].timestamp_ns(), 1_700_000_000_000_000_001);
    assert_eq!(
        streams[0].entries[0].structured_metadata,
        vec![proto::LabelPairAdapter { name: "trace_id".into(), value: "abc".into() }]
    );
    assert_eq!(commit.get(), 9);
}

#[tokio::test]
async fn external_labels_merge_and_max_label_names_cuts_once_per_stream() {
    let receiver = Receiver::start().await;
    let cfg = config(
        &receiver.url(),
        concat!(
            "batch_wait: 10ms\nmax_label_names: 3\n",
            "external_labels:\n  cluster: prod\n  namespace: from-external\n",
        ),
    );
    let metrics = LokiMetrics::default();
    let (sink, tx) = LokiSink::start(&cfg, metrics.clone()).unwrap();
    let commit = Arc::new(FileCommit::new(0));
    let s = stream(&[("container", "app"), ("namespace", "ns1"), ("pod", "p"), ("stream", "stdout")]);
    tx.send(chunk(&[Arc::clone(&s)], &[(0, "a")], &commit, 1)).unwrap();
    tx.send(chunk(&[Arc::clone(&s)], &[(0, "b")], &commit, 2)).unwrap();
    wait_for("the commit", || commit.get() == 2).await;
    let small = stream(&[("job", "x")]);
    tx.send(chunk(&[small], &[(0, "c")], &commit, 3)).unwrap();
    wait_for("the last commit", || commit.get() == 3).await;
    sink.shutdown(Duration::from_secs(1)).await;
    let labels: Vec<String> = receiver.delivered_lines().into_iter().map(|(labels, _)| labels).collect();
    // cluster from external_labels; namespace from the stream (it wins); pod and stream cut.
    let cut = r#"{cluster="prod", container="app", namespace="ns1"}"#;
    assert_eq!(labels, vec![cut, cut, r#"{cluster="prod", job="x", namespace="from-external"}"#]);
    assert_eq!(sink_metrics(&metrics, &cfg).labels_dropped.get(), 1, "counted once per stream");
}

#[test]
fn label_cache_reuses_and_forgets_streams_no_source_holds() {
    let metrics = LokiMetrics::default().for_sink("t");
    let mut cache = LabelCache::new(Vec::new(), 15, metrics);
    let kept = stream(&[("job", "kept")]);
    let first = cache.resolve(&kept);
    assert!(Arc::ptr_eq(&first, &cache.resolve(&kept)), "resolved once per stream");
    for i in 0..200 {
        let gone = stream(&[("job", &i.to_string())]);
        assert_eq!(&*cache.resolve(&gone).text, gone.loki.as_str());
    }
    assert!(cache.len() < 100, "sweeps bound the cache: {}", cache.len());
    cache.sweep();
    assert_eq!(cache.len(), 1, "only the stream a source still holds is left");
    assert!(Arc::ptr_eq(&first, &cache.resolve(&kept)));
}

// ----- outcomes -----

#[tokio::test]
async fn a_503_is_retried_and_chunks_are_delivered_once_after_success() {
    let receiver = Receiver::start().await;
    receiver.script(&[Scripted { body: "ingester down", ..Scripted::status(503) }, Scripted::status(204)]);
    let commit = Arc::new(FileCommit::new(0));
    receiver.watch(&commit);
    let cfg = config(&receiver.url(), "batch_wait: 10ms\n");
    let metrics = LokiMetrics::default();
    let (sink, tx) = LokiSink::start(&cfg, metrics.clone()).unwrap();
    let s = stream(&[("job", "a")]);
    let chunks = [
        chunk(&[Arc::clone(&s)], &[(0, "one"), (0, "two")], &commit, 7),
        chunk(&[Arc::clone(&s)], &[(0, "three")], &commit, 11),
    ];
    for c in &chunks {
        tx.send(Arc::clone(c)).unwrap();
    }
    wait_for("the commit", || commit.get() == 11).await;
    sink.shutdown(Duration::from_secs(1)).await;

    let requests = receiver.state.requests.lock().unwrap();
    assert_eq!(requests.iter().map(|r| r.status).collect::<Vec<_>>(), vec![503, 204]);
    assert_eq!(
        requests.iter().map(|r| r.commit_at_arrival).collect::<Vec<_>>(),
        vec![Some(0), Some(0)],
        "nothing is committed before Loki accepted"
    );
    assert_eq!(requests[0].push, requests[1].push, "the same batch is sent again");
    drop(requests);
    assert!(chunks.iter().all(|c| pending(c) == 0), "delivered exactly once");
    let m = sink_metrics(&metrics, &cfg);
    assert_eq!(m.retries.get(), 1);
    assert_eq!(m.requests("503").get(), 1);
    assert_eq!(m.requests("204").get(), 1);
    assert_eq!(m.lines_sent.get(), 3);
    assert_eq!(m.bytes_sent.get(), "onetwothree".len() as u64);
    assert!(m.request_bytes.get() > 0);
    assert_eq!(m.dropped_lines(LineDropReason::Rejected).get(), 0);
}

#[tokio::test]
async fn a_429_waits_for_retry_after() {
    let receiver = Receiver::start().await;
    receiver.script(&[
        Scripted { retry_after: Some("1"), body: "rate limited", ..Scripted::status(429) },
        Scripted::status(204),
    ]);
    // The backoff alone would retry after at most 50 ms.
    let cfg = config(&receiver.url(), "batch_wait: 10ms\n");
    let metrics = LokiMetrics::default();
    let (sink, tx) = LokiSink::start(&cfg, metrics.clone()).unwrap();
    let commit = Arc::new(FileCommit::new(0));
    tx.send(chunk(&[stream(&[("job", "a")])], &[(0, "x")], &commit, 3)).unwrap();
    wait_for("the commit", || commit.get() == 3).await;
    sink.shutdown(Duration::from_secs(1)).await;
    let requests = receiver.state.requests.lock().unwrap();
    assert_eq!(requests.len(), 2);
    let gap = requests[1].at.duration_since(requests[0].at);
    assert!(gap >= Duration::from_millis(990), "retried after {gap:?}, before Retry-After: 1");
    assert_eq!(sink_metrics(&metrics, &cfg).retries.get(), 1);
}

#[tokio::test]
async fn a_400_drops_the_batch_counts_it_and_moves_offsets_on() {
    let receiver = Receiver::start().await;
    receiver.script(&[Scripted { body: "entry out of order", ..Scripted::status(400) }]);
    let cfg = config(&receiver.url(), "batch_wait: 10ms\n");
    let metrics = LokiMetrics::default();
    let (sink, tx) = LokiSink::start(&cfg, metrics.clone()).unwrap();
    let commit = Arc::new(FileCommit::new(0));
    let s = stream(&[("job", "a")]);
    let rejected = chunk(&[Arc::clone(&s)], &[(0, "old"), (0, "older")], &commit, 8);
    tx.send(Arc::clone(&rejected)).unwrap();
    wait_for("the commit", || commit.get() == 8).await;
    assert_eq!(pending(&rejected), 0);
    // The sink carries on with the next batch.
    tx.send(chunk(&[Arc::clone(&s)], &[(0, "new")], &commit, 12)).unwrap();
    wait_for("the next commit", || commit.get() == 12).await;
    sink.shutdown(Duration::from_secs(1)).await;
    assert_eq!(receiver.request_count(), 2, "a 400 is not retried");
    let m = sink_metrics(&metrics, &cfg);
    assert_eq!(m.dropped_lines(LineDropReason::Rejected).get(), 2);
    assert_eq!(m.requests("400").get(), 1);
    assert_eq!(m.retries.get(), 0);
    assert_eq!(m.lines_sent.get(), 1);
}

#[tokio::test]
async fn shutdown_with_loki_unreachable_returns_within_grace_and_commits_nothing() {
    let addr = unused_addr().await;
    let cfg = config(&format!("http://{addr}/loki/api/v1/push"), "batch_wait: 10ms\ntimeout: 5s\n");
    let metrics = LokiMetrics::default();
    let (sink, tx) = LokiSink::start(&cfg, metrics.clone()).unwrap();
    let commit = Arc::new(FileCommit::new(0));
    let c = chunk(&[stream(&[("job", "a")])], &[(0, "lost for now")], &commit, 5);
    tx.send(Arc::clone(&c)).unwrap();
    let m = sink_metrics(&metrics, &cfg);
    wait_for("a retry", || m.retries.get() >= 1).await;
    let started = Instant::now();
    sink.shutdown(Duration::from_millis(300)).await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(2), "shutdown took {took:?}");
    assert!(took >= Duration::from_millis(290), "gave up before the grace period: {took:?}");
    assert_eq!(commit.get(), 0);
    assert_eq!(pending(&c), 1, "never delivered");
    assert!(m.requests("error").get() >= 1);
    assert!(tx.send(Arc::clone(&c)).is_err(), "a stopped sink takes no chunks");
    assert_eq!(Arc::strong_count(&c), 1, "the sink let go of the chunk (and its budget)");
}

// ----- configuration -----

#[test]
fn config_checks_name_the_field() {
    let url = "http://loki:3100/loki/api/v1/push";
    let cases: Vec<(String, &str)> = vec![
        ("url: ftp://loki/x\n".to_string(), "url"),
        ("url: not a url\n".to_string(), "url"),
        (format!("url: {url}\ntenant_id: \"bad\\nvalue\"\n"), "tenant_id"),
        (format!("url: {url}\ntenant_id: ''\n"), "tenant_id"),
        (format!("url: {url}\nheaders:\n  Content-Type: text/plain\n"), "headers.Content-Type"),
        (format!("url: {url}\nheaders:\n  x-scope-orgid: t\n"), "headers.x-scope-orgid"),
        (format!("url: {url}\nheaders:\n  Content-Encoding: gzip\n"), "headers.Content-Encoding"),
        (format!("url: {url}\nheaders:\n  User-Agent: me\n"), "headers.User-Agent"),
        (format!("url: {url}\nheaders:\n  Authorization: x\n"), "headers.Authorization"),
        (format!("url: {url}\nheaders:\n  'bad header': x\n"), "headers.bad header"),
        (format!("url: {url}\nheaders:\n  X-Ok: \"a\\nb\"\n"), "headers.X-Ok"),
        (format!("url: {url}\nmax_label_names: 0\n"), "max_label_names"),
        (format!("url: {url}\nbatch_size: 0B\n"), "batch_size"),
        (format!("url: {url}\nmin_backoff: 2s\nmax_backoff: 1s\n"), "max_backoff"),
        (format!("url: {url}\ntimeout: 0s\n"), "timeout"),
        (format!("url: {url}\nexternal_labels:\n  bad-name: x\n"), "external_labels.bad-name"),
        (format!("url: {url}\nbearer_token: a\nbearer_token_file: b\n"), "bearer_token_file"),
    ];
    for (yaml, field) in cases {
        let cfg: LokiConfig = yaml_serde::from_str(&yaml).unwrap();
        let err = settings::check(&cfg).expect_err(&yaml);
        assert_eq!(err.path().to_string(), field, "{yaml}: {err}");
        let started = LokiSink::start(&cfg, LokiMetrics::default()).err().expect(&yaml);
        assert!(matches!(started, LokiSinkError::Config(_)), "{yaml}");
    }
}

#[test]
fn config_defaults_name_to_host_and_port() {
    let cfg: LokiConfig = yaml_serde::from_str("url: https://logs.example.com/loki/api/v1/push\n").unwrap();
    let settings = settings::check(&cfg).unwrap();
    assert_eq!(settings.name, "logs.example.com:443");
    let cfg: LokiConfig = yaml_serde::from_str("url: http://loki:3100/x\nname: main\n").unwrap();
    assert_eq!(settings::check(&cfg).unwrap().name, "main");
    let cfg: LokiConfig = yaml_serde::from_str("url: http://loki/x\nname: ''\n").unwrap();
    assert_eq!(settings::check(&cfg).unwrap().name, "loki:80", "an empty name is no name");
}

#[test]
fn metrics_are_registered_under_harrier_agent_log() {
    let mut registry = prometheus_client::registry::Registry::default();
    let metrics = LokiMetrics::register(&mut registry);
    let sink = metrics.for_sink("loki:3100");
    sink.lines_sent.inc();
    sink.dropped_lines(LineDropReason::Rejected).inc();
    sink.requests("503").inc();
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    for expected in [
        r#"harrier_agent_log_lines_sent_total{sink="loki:3100"} 1"#,
        r#"harrier_agent_log_sink_dropped_lines_total{sink="loki:3100",reason="rejected"} 1"#,
        r#"harrier_agent_log_requests_total{sink="loki:3100",code="503"} 1"#,
        r#"harrier_agent_log_retries_total{sink="loki:3100"} 0"#,
        "# TYPE harrier_agent_log_send_duration_seconds histogram",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
}
