//! File source tests: real files in temporary directories, a fake sink (an mpsc receiver that
//! records chunks and calls `delivered()`), writers rotating files while the source reads.

use super::*;
use crate::logs::config::{FileSourceConfig, LineFormat};
use crate::logs::{LogBudget, LogChunk, LogFanout};
use harrier_telemetry::duration::{ByteSize, PromDuration};
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(60);

/// A CRI line of 256+ bytes carrying `number`.
fn cri_line(number: usize) -> String {
    format!("2024-05-01T10:00:00.123456789Z stdout F line {number:08} {}\n", "x".repeat(220))
}

/// The number in a line made by [`cri_line`].
fn number_of(line: &str) -> usize {
    line.split(' ').nth(1).and_then(|number| number.parse().ok()).unwrap_or(usize::MAX)
}

fn file_config(include: &Path) -> FileSourceConfig {
    FileSourceConfig {
        name: "test".to_string(),
        include: vec![include.display().to_string()],
        exclude: Vec::new(),
        format: LineFormat::Cri,
        path_labels: PathLabels::None,
        labels: BTreeMap::new(),
        structured_metadata: Vec::new(),
        max_line_bytes: ByteSize(256 << 10),
        multiline: None,
        start_at: StartAt::Beginning,
        fingerprint_bytes: ByteSize(256),
    }
}

fn logs_config(files: Vec<FileSourceConfig>) -> LogsConfig {
    LogsConfig {
        poll_interval: PromDuration::from_millis(10),
        discovery_interval: PromDuration::from_millis(100),
        checkpoint_interval: PromDuration::from_millis(50),
        files,
        ..LogsConfig::default()
    }
}

/// What the fake sink saw.
#[derive(Default)]
struct Received {
    /// Every line, in arrival order.
    lines: Vec<String>,
    /// Lines of delivered chunks only.
    delivered: Vec<String>,
    /// The end offset of the last delivered chunk.
    last_delivered_end: Option<u64>,
    /// Chunks held without delivery (their budget stays taken).
    held: Vec<Arc<LogChunk>>,
    chunks: Vec<Arc<LogChunk>>,
}

/// A sink that delivers the first `deliver_first` chunks (all if `None`) and holds the rest.
struct FakeSink {
    received: Arc<Mutex<Received>>,
    deliver: Arc<AtomicBool>,
    closed: Arc<AtomicBool>,
}

impl FakeSink {
    fn start(deliver_first: Option<usize>, keep_chunks: bool) -> (FakeSink, LogFanout) {
        let (tx, mut rx) = mpsc::unbounded_channel::<Arc<LogChunk>>();
        let received = Arc::new(Mutex::new(Received::default()));
        let deliver = Arc::new(AtomicBool::new(true));
        let closed = Arc::new(AtomicBool::new(false));
        let sink = FakeSink {
            received: Arc::clone(&received),
            deliver: Arc::clone(&deliver),
            closed: Arc::clone(&closed),
        };
        let delivered_count = AtomicUsize::new(0);
        tokio::spawn(async move {
            while let Some(chunk) = rx.recv().await {
                let lines: Vec<String> =
                    chunk.entries.iter().map(|entry| chunk.line(entry).to_string()).collect();
                let mut received = received.lock().unwrap();
                received.lines.extend(lines.iter().cloned());
                if keep_chunks {
                    received.chunks.push(Arc::clone(&chunk));
                }
                let allowed =
                    deliver_first.is_none_or(|first| delivered_count.load(Ordering::SeqCst) < first);
                if allowed && deliver.load(Ordering::SeqCst) {
                    delivered_count.fetch_add(1, Ordering::SeqCst);
                    chunk.delivered();
                    received.delivered.extend(lines);
                    received.last_delivered_end = chunk.delivery.as_ref().map(|delivery| delivery.end_offset);
                } else {
                    received.held.push(chunk);
                }
            }
            closed.store(true, Ordering::SeqCst);
        });
        (sink, LogFanout::new(vec![tx]))
    }

    fn lines(&self) -> Vec<String> {
        self.received.lock().unwrap().lines.clone()
    }

    fn line_count(&self) -> usize {
        self.received.lock().unwrap().lines.len()
    }
}

/// For writer threads: blocks until the sink holds `count` lines (or 10 s passed), so the next
/// rotation happens after the tailer caught up. Rotations faster than the tailer's checks (several
/// generations between two polls) keep every line but may deliver generations out of order; see
/// the module documentation.
fn wait_for_lines(received: &Mutex<Received>, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while received.lock().unwrap().lines.len() < count && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
}

async fn wait_for(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Polls `condition` for at most `limit` (the assertions after it say what went wrong).
async fn wait_until_or(limit: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !condition() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn start(
    cfg: &LogsConfig,
    data_dir: &Path,
    fanout: LogFanout,
    budget: LogBudget,
) -> (FileSources, LogSourceMetrics) {
    let metrics = LogSourceMetrics::default();
    let compiled = FileSources::compile(cfg).unwrap();
    let sources =
        FileSources::start(compiled, data_dir, fanout, budget, "node-1".to_string(), metrics.clone())
            .unwrap();
    (sources, metrics)
}

fn numbers(lines: &[String]) -> Vec<usize> {
    lines.iter().map(|line| number_of(line)).collect()
}

/// Asserts that `lines` are numbers 0..count, each once, in order; on failure, shows the runs of
/// consecutive numbers that arrived.
fn assert_in_order(lines: &[String], count: usize) {
    let numbers = numbers(lines);
    if numbers.iter().copied().eq(0..count) {
        return;
    }
    let mut runs = Vec::new();
    let mut start = 0;
    for i in 1..=numbers.len() {
        if i == numbers.len() || numbers[i] != numbers[i - 1] + 1 {
            runs.push((numbers[start], numbers[i - 1]));
            start = i;
        }
    }
    panic!("expected lines 0..{count} once each, in order; got {} lines in runs {runs:?}", numbers.len());
}

fn append(path: &Path, range: std::ops::Range<usize>) {
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
    let mut text = String::new();
    for number in range {
        text.push_str(&cri_line(number));
    }
    file.write_all(text.as_bytes()).unwrap();
}

fn checkpoint_offsets(data_dir: &Path) -> Vec<(String, u64)> {
    let Ok(Some(entries)) = checkpoint::load(&data_dir.join("logs/checkpoints.json")) else {
        return Vec::new();
    };
    entries.into_iter().map(|entry| (entry.path, entry.offset)).collect()
}

#[test]
fn compile_rejects_bad_globs_and_duplicate_names() {
    let dir = Path::new("/tmp");
    let mut bad = file_config(dir);
    bad.include = vec!["/var/log/[".to_string()];
    assert!(matches!(FileSources::compile(&logs_config(vec![bad])), Err(LogSourceError::Glob { .. })));
    let twice = logs_config(vec![file_config(dir), file_config(dir)]);
    assert!(
        matches!(FileSources::compile(&twice), Err(LogSourceError::DuplicateName(name)) if name == "test")
    );
    let mut none = file_config(dir);
    none.include.clear();
    assert!(matches!(FileSources::compile(&logs_config(vec![none])), Err(LogSourceError::NoInclude { .. })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_file_is_discovered_with_its_labels() {
    let logs = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let mut file = file_config(&logs.path().join("*/*/*.log"));
    file.path_labels = PathLabels::Kubernetes;
    file.labels.insert("cluster".to_string(), "prod".to_string());
    file.structured_metadata = vec!["pod_uid".to_string()];
    let (sink, fanout) = FakeSink::start(None, true);
    let (sources, metrics) = start(&logs_config(vec![file]), data.path(), fanout, LogBudget::new(1 << 20));

    let container = logs.path().join("default_web-1_0f3c/app");
    std::fs::create_dir_all(&container).unwrap();
    let log = container.join("0.log");
    append(&log, 0..10);
    std::fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .unwrap()
        .write_all(b"2024-05-01T10:00:01.000000000Z stderr F oops\n")
        .unwrap();
    wait_for("11 lines", || sink.line_count() >= 11).await;
    sources.shutdown(Duration::from_secs(5)).await;

    let received = sink.received.lock().unwrap();
    assert_eq!(numbers(&received.lines[..10]), (0..10).collect::<Vec<_>>());
    assert_eq!(received.lines[10], "oops");
    let chunk = &received.chunks[0];
    let stdout = &chunk.streams[usize::from(chunk.entries[0].stream)];
    let names: Vec<&str> = stdout.pairs.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["cluster", "container", "namespace", "node_name", "pod", "stream"]);
    assert!(stdout.loki.contains("stream=\"stdout\""), "{}", stdout.loki);
    assert!(stdout.loki.contains("node_name=\"node-1\""), "{}", stdout.loki);
    let metadata = &chunk.metadata[usize::from(chunk.entries[0].stream)];
    assert_eq!(&metadata[..], [("pod_uid".to_string(), "0f3c".to_string())]);
    assert_eq!(metrics.lines_read(), 11);
    assert!(metrics.bytes_read() > 10 * 256);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_file_is_shipped_after_it_stays_idle() {
    let logs = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let (sink, fanout) = FakeSink::start(None, false);
    let (sources, _metrics) = start(
        &logs_config(vec![file_config(&logs.path().join("*.log"))]),
        data.path(),
        fanout,
        LogBudget::new(1 << 20),
    );
    std::fs::write(logs.path().join("short.log"), "2024-05-01T10:00:00Z stdout F hi\n").unwrap();
    wait_for("the short line", || sink.line_count() == 1).await;
    assert_eq!(sink.lines(), ["hi"]);
    sources.shutdown(Duration::from_secs(5)).await;
}

/// One file tailed by a source into a [`FakeSink`], its first line already delivered (so a
/// writer can start); the temporary directories live as long as this.
struct Tailing {
    _logs: tempfile::TempDir,
    _data: tempfile::TempDir,
    sink: FakeSink,
    sources: FileSources,
    metrics: LogSourceMetrics,
    path: PathBuf,
}

async fn tail_one_file(name: &str) -> Tailing {
    let logs = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let (sink, fanout) = FakeSink::start(None, false);
    let (sources, metrics) = start(
        &logs_config(vec![file_config(&logs.path().join("*.log"))]),
        data.path(),
        fanout,
        LogBudget::new(4 << 20),
    );
    let path = logs.path().join(name);
    append(&path, 0..1);
    wait_for("the first line", || sink.line_count() == 1).await;
    Tailing { _logs: logs, _data: data, sink, sources, metrics, path }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rename_rotation_delivers_every_line_once_in_order() {
    const LINES: usize = 20_000;
    const PER_FILE: usize = 3_000;
    let Tailing { _logs, _data, sink, sources, metrics, path: writer_path } = tail_one_file("0.log").await;
    let received = Arc::clone(&sink.received);
    let writer = std::thread::spawn(move || {
        let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&writer_path).unwrap();
        let (mut number, mut rotation) = (1, 0);
        while number < LINES {
            file.write_all(cri_line(number).as_bytes()).unwrap();
            number += 1;
            if number % PER_FILE == 0 && number < LINES {
                wait_for_lines(&received, number - 1);
                rotation += 1;
                // kubelet renames; the runtime writes to the old file until it reopens.
                std::fs::rename(
                    &writer_path,
                    writer_path.with_extension(format!("log.2024050110{rotation:04}")),
                )
                .unwrap();
                file.write_all(cri_line(number).as_bytes()).unwrap();
                number += 1;
                file = std::fs::OpenOptions::new().create(true).append(true).open(&writer_path).unwrap();
            }
        }
    });
    writer.join().unwrap();
    wait_until_or(Duration::from_secs(20), || sink.line_count() >= LINES).await;
    assert_in_order(&sink.lines(), LINES);
    // Rotated files are drained, then closed.
    wait_for("rotated files closed", || metrics.files_watched() == 1).await;
    sources.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copytruncate_delivers_every_line_once_in_order() {
    const LINES: usize = 20_000;
    const PER_FILE: usize = 3_000;
    let Tailing { _logs, _data, sink, sources, metrics, path: writer_path } = tail_one_file("app.log").await;
    let received = Arc::clone(&sink.received);
    let writer = std::thread::spawn(move || {
        let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&writer_path).unwrap();
        let mut rotation = 0;
        for number in 1..LINES {
            file.write_all(cri_line(number).as_bytes()).unwrap();
            if number % PER_FILE == PER_FILE - 1 {
                // Most of this generation was read; the rest is read from the copy.
                wait_for_lines(&received, number - PER_FILE / 2);
                // logrotate copytruncate: copy, then truncate; the writer goes on appending.
                rotation += 1;
                std::fs::copy(&writer_path, writer_path.with_extension(format!("log.{rotation}"))).unwrap();
                std::fs::OpenOptions::new().write(true).open(&writer_path).unwrap().set_len(0).unwrap();
            }
            if number % 500 == 0 {
                // Pace the writer a little so a debug build of the reader sees most generations.
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    });
    writer.join().unwrap();
    wait_until_or(Duration::from_secs(20), || sink.line_count() >= LINES).await;
    assert_in_order(&sink.lines(), LINES);
    assert!(metrics.file_truncations() >= 1);
    sources.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_resumes_from_the_checkpoint() {
    let logs = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let path = logs.path().join("0.log");
    append(&path, 0..5_000);
    // A small budget so the file takes many chunks; only the first few are delivered.
    let cfg = logs_config(vec![file_config(&logs.path().join("*.log"))]);
    let (first_sink, fanout) = FakeSink::start(Some(3), false);
    let (sources, _metrics) = start(&cfg, data.path(), fanout, LogBudget::new(256 << 10));
    wait_for("chunks past the delivered ones", || first_sink.received.lock().unwrap().held.len() >= 2).await;
    let delivered_end = first_sink.received.lock().unwrap().last_delivered_end.unwrap();
    // The periodic checkpoint reflects the delivered offset.
    wait_for("the checkpoint", || {
        checkpoint_offsets(data.path()).iter().any(|(_, offset)| *offset == delivered_end)
    })
    .await;
    drop(sources);
    wait_for("the tailer thread to end", || first_sink.closed.load(Ordering::SeqCst)).await;
    let delivered = first_sink.received.lock().unwrap().delivered.clone();
    assert!(!delivered.is_empty());
    append(&path, 5_000..6_000);

    let (second_sink, fanout) = FakeSink::start(None, false);
    let (sources, _metrics) = start(&cfg, data.path(), fanout, LogBudget::new(256 << 10));
    let remaining = 6_000 - delivered.len();
    wait_for("the remaining lines", || second_sink.line_count() >= remaining).await;
    sources.shutdown(Duration::from_secs(5)).await;
    // Nothing lost, and the only lines read twice are those of undelivered chunks.
    let mut all = numbers(&delivered);
    all.extend(numbers(&second_sink.lines()));
    assert_eq!(all, (0..6_000).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_renamed_while_stopped_is_found_by_fingerprint_and_finished() {
    let logs = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let path = logs.path().join("0.log");
    append(&path, 0..1_000);
    let cfg = logs_config(vec![file_config(&logs.path().join("*.log"))]);
    let (first_sink, fanout) = FakeSink::start(None, false);
    let (sources, _metrics) = start(&cfg, data.path(), fanout, LogBudget::new(1 << 20));
    wait_for("the first lines", || first_sink.line_count() == 1_000).await;
    sources.shutdown(Duration::from_secs(5)).await;
    wait_for("the tailer thread to end", || first_sink.closed.load(Ordering::SeqCst)).await;

    // While the agent is down: more lines, rotation by rename, a new file.
    append(&path, 1_000..1_500);
    let rotated = logs.path().join("0.log.20240501-100000");
    std::fs::rename(&path, &rotated).unwrap();
    append(&path, 1_500..2_000);

    let (second_sink, fanout) = FakeSink::start(None, false);
    let (sources, metrics) = start(&cfg, data.path(), fanout, LogBudget::new(1 << 20));
    wait_for("the rest", || second_sink.line_count() >= 1_000).await;
    assert_eq!(numbers(&second_sink.lines()), (1_000..2_000).collect::<Vec<_>>());
    wait_for("the rotated file closed", || metrics.files_watched() == 1).await;
    sources.shutdown(Duration::from_secs(5)).await;
    // Its entry is gone from the checkpoint once delivered and closed.
    let entries = checkpoint_offsets(data.path());
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0].0, path.display().to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_checkpoint_is_counted_and_ignored() {
    let logs = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(data.path().join("logs")).unwrap();
    std::fs::write(data.path().join("logs/checkpoints.json"), b"{\"version\":1,\"files\":[{trunc").unwrap();
    append(&logs.path().join("0.log"), 0..100);
    let (sink, fanout) = FakeSink::start(None, false);
    let (sources, metrics) = start(
        &logs_config(vec![file_config(&logs.path().join("*.log"))]),
        data.path(),
        fanout,
        LogBudget::new(1 << 20),
    );
    wait_for("the lines", || sink.line_count() == 100).await;
    assert_eq!(metrics.checkpoint_errors("load"), 1);
    // The checkpoint is written again, valid.
    wait_for("a valid checkpoint", || !checkpoint_offsets(data.path()).is_empty()).await;
    sources.shutdown(Duration::from_secs(5)).await;
    assert_eq!(numbers(&sink.lines()), (0..100).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_stops_at_the_budget_until_chunks_are_delivered() {
    const BUDGET: usize = 256 << 10;
    let logs = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    append(&logs.path().join("0.log"), 0..16_000); // ~4 MiB
    let (sink, fanout) = FakeSink::start(None, false);
    sink.deliver.store(false, Ordering::SeqCst);
    let budget = LogBudget::new(BUDGET);
    let (sources, metrics) = start(
        &logs_config(vec![file_config(&logs.path().join("*.log"))]),
        data.path(),
        fanout,
        budget.clone(),
    );
    let block = BUDGET / 4;
    wait_for("the budget to fill", || budget.in_use() + block > BUDGET).await;
    let held_bytes =
        || sink.received.lock().unwrap().held.iter().map(|chunk| chunk.data_bytes()).sum::<usize>();
    // Another poll or two: reading stays stopped.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(budget.in_use() <= BUDGET);
    assert!(held_bytes() <= BUDGET, "{} bytes held", held_bytes());
    // What was read is what is held plus at most the chunk waiting for the budget.
    assert!(metrics.bytes_read() <= (BUDGET + 2 * block) as u64, "{} bytes read", metrics.bytes_read());
    // Delivering (dropping) the held chunks lets reading go on to the end.
    sink.deliver.store(true, Ordering::SeqCst);
    let received = Arc::clone(&sink.received);
    let release = tokio::spawn(async move {
        loop {
            let held: Vec<_> = std::mem::take(&mut received.lock().unwrap().held);
            for chunk in held {
                chunk.delivered();
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    wait_for("every line", || sink.line_count() == 16_000).await;
    release.abort();
    sources.shutdown(Duration::from_secs(5)).await;
    assert_eq!(numbers(&sink.lines()), (0..16_000).collect::<Vec<_>>());
}
