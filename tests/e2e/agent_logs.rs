//! The agent's logs path end to end: the `harrier` binary tails Kubernetes-style pod log files
//! and pushes them to a test Loki receiver ([`crate::loki_receiver`]) that decodes the
//! protobuf + snappy wire format with its own structs. Lines are numbered, so every test can
//! check that each line arrived exactly once (or, after kill -9, at least once with the
//! duplicates counted and bounded).

use crate::loki_receiver::{LokiReceiver, ReceivedEntry};
use crate::support::{Agent, wait_for};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A pod's container log directory under a fake `/var/log/pods`.
struct PodDir {
    dir: PathBuf,
}

impl PodDir {
    fn new(root: &Path, namespace: &str, pod: &str, uid: &str, container: &str) -> PodDir {
        let dir = root.join("pods").join(format!("{namespace}_{pod}_{uid}")).join(container);
        std::fs::create_dir_all(&dir).expect("create pod dir");
        PodDir { dir }
    }

    fn log(&self) -> PathBuf {
        self.dir.join("0.log")
    }
}

/// The agent's config: only the logs path (no scraping, no host metrics), fast polling.
fn config(root: &Path, receiver: &LokiReceiver, extra_file_settings: &str, extra_logs: &str) -> PathBuf {
    let text = format!(
        r#"host_metrics:
  enabled: false
logs:
  poll_interval: 50ms
  discovery_interval: 200ms
  node_name: node-a
{extra_logs}  files:
    - name: pods
      include: ['{root}/pods/*/*/*.log']
      format: auto
{extra_file_settings}  loki:
    - url: {url}
      tenant_id: team-a
      batch_wait: 100ms
      min_backoff: 100ms
      max_backoff: 2s
"#,
        root = root.display(),
        url = receiver.url(),
    );
    let path = root.join("agent.yml");
    std::fs::write(&path, text).expect("write config");
    path
}

/// A CRI log line.
fn cri(stream: &str, tag: &str, message: &str) -> String {
    format!("{} {stream} {tag} {message}\n", rfc3339_now())
}

fn rfc3339_now() -> String {
    let nanos = crate::support::now_nanos();
    let secs = (nanos / 1_000_000_000) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = harrier_telemetry::civil::civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        nanos % 1_000_000_000
    )
}

/// The numbered line `n` (its text without the CRI prefix): `seq=000000123 xxxx…`, padded to
/// about `len` bytes.
fn numbered(n: u64, len: usize) -> String {
    let mut s = format!("seq={n:09} ");
    while s.len() < len {
        s.push('x');
    }
    s
}

fn seq_of(line: &str) -> Option<u64> {
    line.strip_prefix("seq=")?.get(..9)?.parse().ok()
}

/// How each sequence number arrived: count per number.
fn seq_counts(entries: &[ReceivedEntry]) -> BTreeMap<u64, usize> {
    let mut counts = BTreeMap::new();
    for e in entries {
        if let Some(n) = seq_of(&e.line) {
            *counts.entry(n).or_insert(0) += 1;
        }
    }
    counts
}

/// Missing numbers below `total` (at most 10 shown) and how many arrived more than once.
fn loss_and_duplicates(counts: &BTreeMap<u64, usize>, total: u64) -> (Vec<u64>, usize) {
    let missing: Vec<u64> = (0..total).filter(|n| !counts.contains_key(n)).take(10).collect();
    let duplicates = counts.values().map(|c| c - 1).sum();
    (missing, duplicates)
}

/// How a [`Writer`] rotates its file.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Rotation {
    /// Kubelet style: `0.log` renamed to `0.log.<timestamp>`, a new `0.log` created.
    Rename,
    /// logrotate's copytruncate: `0.log` copied to `0.log.<n>`, then truncated in place.
    CopyTruncate,
}

/// Appends numbered CRI lines to a pod's `0.log` from a thread, at a steady rate, rotating it
/// every `rotate_every` lines or when asked.
struct Writer {
    written: Arc<AtomicU64>,
    rotate_now: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<u64>>,
}

struct WriterPlan {
    total: u64,
    lines_per_sec: u64,
    line_len: usize,
    rotation: Rotation,
    /// 0: only when asked through `rotate_now`.
    rotate_every: u64,
}

impl Writer {
    fn start(path: PathBuf, plan: WriterPlan) -> Writer {
        let written = Arc::new(AtomicU64::new(0));
        let rotate_now = Arc::new(AtomicBool::new(false));
        let thread = {
            let (written, rotate_now) = (written.clone(), rotate_now.clone());
            std::thread::spawn(move || write_lines(&path, &plan, &written, &rotate_now))
        };
        Writer { written, rotate_now, thread: Some(thread) }
    }

    /// Asks for a rotation and waits until it is done.
    fn rotate(&self) {
        self.rotate_now.store(true, Ordering::Release);
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.rotate_now.load(Ordering::Acquire) {
            assert!(Instant::now() < deadline, "writer did not rotate");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn written(&self) -> u64 {
        self.written.load(Ordering::Acquire)
    }

    /// Waits for the writer to finish; returns the rotations it made.
    fn join(mut self) -> u64 {
        self.thread.take().map(|t| t.join().expect("writer thread")).unwrap_or(0)
    }
}

fn write_lines(path: &Path, plan: &WriterPlan, written: &AtomicU64, rotate_now: &AtomicBool) -> u64 {
    let open = |p: &Path| std::fs::OpenOptions::new().create(true).append(true).open(p).expect("open log");
    let mut file = open(path);
    let start = Instant::now();
    let mut rotations = 0u64;
    for n in 0..plan.total {
        let asked = rotate_now.load(Ordering::Acquire);
        if asked || (plan.rotate_every > 0 && n > 0 && n % plan.rotate_every == 0) {
            rotations += 1;
            match plan.rotation {
                Rotation::Rename => {
                    let rotated = path.with_file_name(format!("0.log.20260101-0000{rotations:02}"));
                    std::fs::rename(path, &rotated).expect("rename");
                    file = open(path);
                }
                Rotation::CopyTruncate => {
                    let copy = path.with_file_name(format!("0.log.{rotations}"));
                    std::fs::copy(path, &copy).expect("copy");
                    file.set_len(0).expect("truncate");
                }
            }
            if asked {
                rotate_now.store(false, Ordering::Release);
            }
        }
        let line = cri(if n % 7 == 0 { "stderr" } else { "stdout" }, "F", &numbered(n, plan.line_len));
        file.write_all(line.as_bytes()).expect("write line");
        written.store(n + 1, Ordering::Release);
        // Steady rate: sleep when ahead of schedule.
        let due = Duration::from_secs_f64((n + 1) as f64 / plan.lines_per_sec as f64);
        if let Some(ahead) = due.checked_sub(start.elapsed())
            && ahead > Duration::from_millis(2)
        {
            std::thread::sleep(ahead);
        }
    }
    rotations
}

/// Waits until `total` distinct numbers arrived at the receiver.
async fn wait_all(receiver: &LokiReceiver, total: u64, timeout: Duration) -> BTreeMap<u64, usize> {
    wait_for("every numbered line at the receiver", timeout, || async {
        let counts = seq_counts(&receiver.entries());
        if counts.len() as u64 >= total {
            Ok(counts)
        } else {
            let (missing, _) = loss_and_duplicates(&counts, total);
            Err(format!("{} of {total} distinct lines; first missing: {missing:?}", counts.len()))
        }
    })
    .await
}

/// A metric's value summed over the series whose text starts with `prefix` (name and labels).
fn metric_sum(text: &str, prefix: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit_once(' ').and_then(|(_, v)| v.parse::<f64>().ok()))
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pod_logs_arrive_with_kubernetes_labels_cri_partials_joined_and_docker_lines_decoded() {
    let root = tempfile::tempdir().expect("tempdir");
    let receiver = LokiReceiver::start().await;
    let cri_pod =
        PodDir::new(root.path(), "shop", "web-7d9f8-abcde", "0f4c2a9e-1111-2222-3333-444455556666", "nginx");
    let docker_pod = PodDir::new(root.path(), "jobs", "cron-1", "aaaa-bbbb", "worker");

    // A 100 KB line written by the runtime in 16 KiB partial parts, between two plain lines.
    let big: String = (0..100_000).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
    let mut text = cri("stdout", "F", "first line");
    let parts: Vec<&str> = big.as_bytes().chunks(16 << 10).map(|c| std::str::from_utf8(c).unwrap()).collect();
    for (i, part) in parts.iter().enumerate() {
        text.push_str(&cri("stdout", if i + 1 == parts.len() { "F" } else { "P" }, part));
        // A stderr line in the middle of the stdout partial run belongs to its own stream.
        if i == 2 {
            text.push_str(&cri("stderr", "F", "an error in between"));
        }
    }
    text.push_str(&cri("stdout", "F", "last line"));
    std::fs::write(cri_pod.log(), text).expect("write cri log");

    let docker = concat!(
        r#"{"log":"hello from docker\n","stream":"stdout","time":"2026-12-06T10:00:00.123456789Z"}"#,
        "\n",
        r#"{"log":"oops \"quoted\" \u00e9\n","stream":"stderr","time":"2026-12-06T10:00:01Z"}"#,
        "\n"
    );
    std::fs::write(docker_pod.log(), docker).expect("write docker log");

    let cfg = config(root.path(), &receiver, "      structured_metadata: [pod_uid]\n", "");
    let agent = Agent::start(&cfg, &root.path().join("data"), root.path().join("agent.log")).await;

    let entries = wait_for("6 entries", Duration::from_secs(30), || async {
        let e = receiver.entries();
        if e.len() >= 6 {
            Ok(e)
        } else {
            Err(format!(
                "{} entries: {:?}",
                e.len(),
                e.iter().map(|x| &x.line[..x.line.len().min(40)]).collect::<Vec<_>>()
            ))
        }
    })
    .await;
    assert_eq!(entries.len(), 6, "no more than the 6 entries");

    let of =
        |line: &str| entries.iter().find(|e| e.line == line).unwrap_or_else(|| panic!("no entry {line:?}"));
    let first = of("first line");
    let expected_labels: BTreeMap<String, String> = [
        ("container", "nginx"),
        ("namespace", "shop"),
        ("node_name", "node-a"),
        ("pod", "web-7d9f8-abcde"),
        ("stream", "stdout"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(first.labels, expected_labels);
    assert_eq!(
        first.metadata.get("pod_uid").map(String::as_str),
        Some("0f4c2a9e-1111-2222-3333-444455556666"),
        "pod_uid moved to structured metadata"
    );
    let joined = entries.iter().find(|e| e.line.len() == big.len()).expect("the 100 KB line as one entry");
    assert!(joined.line == big, "the joined partial line differs from what was written");
    assert_eq!(joined.labels.get("stream").map(String::as_str), Some("stdout"));
    assert_eq!(of("an error in between").labels.get("stream").map(String::as_str), Some("stderr"));
    of("last line");

    let hello = of("hello from docker");
    assert_eq!(hello.labels.get("stream").map(String::as_str), Some("stdout"));
    assert_eq!(hello.labels.get("pod").map(String::as_str), Some("cron-1"));
    assert_eq!(hello.timestamp_ns, 1_796_551_200_123_456_789, "docker's time field");
    let oops = of("oops \"quoted\" é");
    assert_eq!(oops.labels.get("stream").map(String::as_str), Some("stderr"));
    assert_eq!(oops.timestamp_ns, 1_796_551_201_000_000_000);
    assert_eq!(receiver.last_tenant().as_deref(), Some("team-a"));

    let metrics = agent.self_metrics().await;
    assert!(metric_sum(&metrics, "harrier_agent_log_lines_sent_total") >= 6.0, "{metrics}");
    assert!(metric_sum(&metrics, "harrier_agent_log_files_watched") >= 2.0, "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rename_rotation_delivers_every_line_exactly_once() {
    rotation_delivers_every_line_exactly_once(Rotation::Rename).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copytruncate_rotation_delivers_every_line_exactly_once() {
    rotation_delivers_every_line_exactly_once(Rotation::CopyTruncate).await;
}

async fn rotation_delivers_every_line_exactly_once(rotation: Rotation) {
    let root = tempfile::tempdir().expect("tempdir");
    let receiver = LokiReceiver::start().await;
    let pod = PodDir::new(root.path(), "ns", "app-1", "uid-1", "app");
    let cfg = config(root.path(), &receiver, "", "");
    let _agent = Agent::start(&cfg, &root.path().join("data"), root.path().join("agent.log")).await;

    let total = 60_000;
    let writer = Writer::start(
        pod.log(),
        WriterPlan { total, lines_per_sec: 20_000, line_len: 120, rotation, rotate_every: 7_000 },
    );
    let rotations = tokio::task::spawn_blocking(move || writer.join()).await.expect("writer");
    assert!(rotations >= 8, "{rotations} rotations");
    let counts = wait_all(&receiver, total, Duration::from_secs(60)).await;
    let (missing, duplicates) = loss_and_duplicates(&counts, total);
    assert!(missing.is_empty(), "lost lines, first: {missing:?}");
    assert_eq!(duplicates, 0, "{rotation:?} rotation duplicated lines");
    println!("{rotation:?}: {total} lines, {rotations} rotations, none lost, none duplicated");
}

/// A small xorshift generator, so the kill moments vary between runs but can be replayed from
/// the printed seed.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn between_ms(&mut self, low: u64, high: u64) -> Duration {
        Duration::from_millis(low + self.next() % (high - low))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_random_moments_loses_no_line_and_bounds_duplicates() {
    let root = tempfile::tempdir().expect("tempdir");
    let receiver = LokiReceiver::start().await;
    let pod = PodDir::new(root.path(), "ns", "app-1", "uid-1", "app");
    // A small in-flight budget makes the duplicate bound tight.
    let max_in_flight = 256 << 10;
    let cfg = config(root.path(), &receiver, "", &format!("  max_in_flight_bytes: {max_in_flight}B\n"));
    let data = root.path().join("data");
    let seed = (crate::support::now_nanos() as u64) | 1;
    println!("kill schedule seed: {seed}");
    let mut rng = XorShift(seed);

    let total = 200_000u64;
    let line_len = 100;
    let writer = Writer::start(
        pod.log(),
        WriterPlan {
            total,
            lines_per_sec: 10_000,
            line_len,
            rotation: Rotation::Rename,
            rotate_every: 45_000,
        },
    );
    let mut agent = Agent::start(&cfg, &data, root.path().join("agent-0.log")).await;
    let mut kills = 0;
    while writer.written() < total || kills < 10 {
        tokio::time::sleep(rng.between_ms(300, 2_000)).await;
        agent.proc.kill9();
        kills += 1;
        if kills == 5 {
            // Rotated while the agent is down: it must find 0.log.<ts> by its fingerprint.
            writer.rotate();
        }
        tokio::time::sleep(rng.between_ms(50, 500)).await;
        agent = Agent::start(&cfg, &data, root.path().join(format!("agent-{kills}.log"))).await;
    }
    let rotations = tokio::task::spawn_blocking(move || writer.join()).await.expect("writer");
    let counts = wait_all(&receiver, total, Duration::from_secs(90)).await;
    let (missing, duplicates) = loss_and_duplicates(&counts, total);
    assert!(missing.is_empty(), "lost lines, first: {missing:?}");
    // Each kill can lose the commits of what was in flight: at most the budget's worth of
    // lines (plus the one checkpoint write in progress, covered by the same bound).
    let cri_len = cri("stdout", "F", &numbered(0, line_len)).len() as u64;
    let per_kill = max_in_flight / cri_len + 1;
    println!(
        "kill -9 x{kills}, {rotations} rotations (one while down): {total} lines, 0 lost, {duplicates} duplicated (bound {} = {kills} kills x {per_kill} lines in flight)",
        kills * per_kill
    );
    assert!(
        duplicates as u64 <= kills * per_kill,
        "{duplicates} duplicates exceed {kills} kills x {per_kill} lines in flight"
    );
    drop(agent);
}

/// The resident set of a process now, from /proc (KiB).
fn vm_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loki_refusing_for_60s_loses_nothing_and_memory_stays_bounded() {
    /// The bound stated in the README: memory grows by at most `max_in_flight_bytes` (8 MiB
    /// here) plus a fixed overhead (read buffer, two encoded batches, allocator slack), which
    /// this test allows 16 MiB for, whatever the build profile's idle RSS.
    const MAX_IN_FLIGHT_KIB: u64 = 8 << 10;
    const OVERHEAD_KIB: u64 = 16 << 10;
    let root = tempfile::tempdir().expect("tempdir");
    let receiver = LokiReceiver::start().await;
    let pod = PodDir::new(root.path(), "ns", "app-1", "uid-1", "app");
    let cfg = config(root.path(), &receiver, "", &format!("  max_in_flight_bytes: {MAX_IN_FLIGHT_KIB}KiB\n"));
    let agent = Agent::start(&cfg, &root.path().join("data"), root.path().join("agent.log")).await;
    let pid = agent.proc.pid().expect("agent pid");
    let idle = vm_rss_kib(pid).expect("agent RSS");
    let rss_bound_kib = idle + MAX_IN_FLIGHT_KIB + OVERHEAD_KIB;

    // 429 with Retry-After for 30 s, then 503 for 30 s, while 64 MiB of lines are written.
    receiver.set_failure(Some((429, Some(1))));
    let total = 240_000u64;
    let writer = Writer::start(
        pod.log(),
        WriterPlan {
            total,
            lines_per_sec: 4_000,
            line_len: 256,
            rotation: Rotation::Rename,
            rotate_every: 0,
        },
    );
    let started = Instant::now();
    let mut peak = 0;
    while started.elapsed() < Duration::from_secs(60) {
        if started.elapsed() > Duration::from_secs(30) {
            receiver.set_failure(Some((503, None)));
        }
        peak = peak.max(vm_rss_kib(pid).unwrap_or(0));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let refused = receiver.refused();
    receiver.set_failure(None);
    assert!(refused >= 10, "the receiver refused only {refused} requests");
    let written_during_outage = writer.written();
    let sample_rss = async {
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let now = vm_rss_kib(pid).unwrap_or(0);
            PEAK_AFTER.fetch_max(now, Ordering::Relaxed);
        }
    };
    static PEAK_AFTER: AtomicU64 = AtomicU64::new(0);
    let counts = tokio::select! {
        counts = wait_all(&receiver, total, Duration::from_secs(120)) => counts,
        _ = sample_rss => unreachable!(),
    };
    let _ = tokio::task::spawn_blocking(move || writer.join()).await;
    let (missing, duplicates) = loss_and_duplicates(&counts, total);
    assert!(missing.is_empty(), "lost lines, first: {missing:?}");
    assert_eq!(duplicates, 0, "a retried batch was delivered twice");
    let peak = peak.max(PEAK_AFTER.load(Ordering::Relaxed));
    println!(
        "outage 60 s ({refused} refused requests, {written_during_outage} lines written meanwhile): 0 lost, 0 duplicated, RSS idle {idle} KiB, peak {peak} KiB (bound {rss_bound_kib} KiB)"
    );
    assert!(
        peak <= rss_bound_kib,
        "peak RSS {peak} KiB over the bound {rss_bound_kib} KiB (idle {idle} KiB)"
    );
    let metrics = agent.self_metrics().await;
    assert!(metric_sum(&metrics, "harrier_agent_log_retries_total") >= 10.0, "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_counted_and_the_agent_goes_on() {
    let root = tempfile::tempdir().expect("tempdir");
    let receiver = LokiReceiver::start().await;
    let pod = PodDir::new(root.path(), "ns", "bad-1", "uid-9", "app");
    let plain_dir = root.path().join("plain");
    std::fs::create_dir_all(&plain_dir).expect("plain dir");
    let cfg = config(
        root.path(),
        &receiver,
        &format!(
            "      max_line_bytes: 4KiB\n    - name: plain\n      include: ['{}/*.txt']\n      format: plain\n      path_labels: filename\n      max_line_bytes: 4KiB\n",
            plain_dir.display()
        ),
        "",
    );
    let agent = Agent::start(&cfg, &root.path().join("data"), root.path().join("agent.log")).await;

    let mut cri_text = Vec::new();
    cri_text.extend_from_slice(cri("stdout", "F", "before").as_bytes());
    // Not a CRI line at all.
    cri_text.extend_from_slice(b"garbage without the CRI prefix\n");
    // Invalid UTF-8 in a CRI message.
    cri_text.extend_from_slice(format!("{} stdout F bad \u{0}", rfc3339_now()).as_bytes());
    cri_text.extend_from_slice(b"\xff\xfe\xfd end\n");
    // A line far over the 4 KiB limit.
    cri_text.extend_from_slice(cri("stdout", "F", &"y".repeat(50_000)).as_bytes());
    cri_text.extend_from_slice(cri("stdout", "F", "after").as_bytes());
    std::fs::write(pod.log(), &cri_text).expect("write");

    // Binary garbage, then a normal line, in a plain file.
    let plain = plain_dir.join("app.txt");
    let mut bytes: Vec<u8> = (0..20_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    bytes.extend_from_slice(b"\nplain after garbage\n");
    std::fs::write(&plain, &bytes).expect("write plain");

    wait_for("the good lines after the bad input", Duration::from_secs(30), || async {
        let lines: Vec<String> = receiver.entries().into_iter().map(|e| e.line).collect();
        let has = |s: &str| lines.iter().any(|l| l == s);
        if has("before") && has("after") && has("plain after garbage") {
            Ok(())
        } else {
            Err(format!("{} entries", lines.len()))
        }
    })
    .await;
    let entries = receiver.entries();
    let long = entries.iter().find(|e| e.line.starts_with("yyyy")).expect("the long line, cut");
    assert_eq!(long.line.len(), 4 << 10, "cut at max_line_bytes");
    assert!(entries.iter().any(|e| e.line.contains('\u{fffd}')), "invalid UTF-8 replaced, entry kept");
    assert!(entries.iter().all(|e| e.labels.get("filename").is_none_or(|f| f.ends_with("app.txt"))));

    // A file truncated under the agent: it starts again from the beginning.
    std::fs::write(pod.log(), cri("stdout", "F", "after truncation")).expect("truncate");
    wait_for("the line after truncation", Duration::from_secs(30), || async {
        if receiver.entries().iter().any(|e| e.line == "after truncation") {
            Ok(())
        } else {
            Err("not yet".into())
        }
    })
    .await;

    let metrics = agent.self_metrics().await;
    for reason in ["truncated", "malformed", "invalid_utf8"] {
        let value =
            metric_sum(&metrics, &format!("harrier_agent_log_dropped_lines_total{{reason=\"{reason}\""))
                + metric_sum(
                    &metrics,
                    &format!("harrier_agent_log_dropped_lines_total{{source=\"pods\",reason=\"{reason}\""),
                );
        assert!(value >= 1.0, "no {reason} counted:\n{metrics}");
    }
    let mut agent = agent;
    assert!(agent.proc.is_running(), "the agent exited");
}
