//! The router's query path against Prometheus itself: the same series are written by
//! remote_write into Debian's Prometheus and into `harrier router`, then every query of
//! `router_queries.txt` runs against both HTTP APIs (instant at two times, and as a range
//! query) and the answers must agree within float tolerance. Differences that come from
//! Prometheus 2.42's older semantics (Debian ships 2.42; the router follows 3.x) are listed in
//! `router_query_differences.txt` with the reason; the list must only shrink.
//!
//! Also here: a kill -9 restart of the router loses no written sample, and bad input (malformed
//! and oversized remote_write bodies, snappy bombs, bad queries) gets 4xx with a message while
//! the process stays up.

use crate::support::{Proc, Prometheus, free_port, http, wait_ready};
use harrier_telemetry::model::{Labels, Sample, Series, stale_nan};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Sample spacing of the generated series.
const STEP_MS: i64 = 15_000;
/// Samples per series: 50 minutes of data (Prometheus accepts out-of-order-free writes within
/// an hour of its head's newest sample).
const POINTS: i64 = 200;

/// `harrier router` on a free port with its store in `data_dir`.
pub struct Router {
    pub port: u16,
    pub proc: Proc,
}

impl Router {
    pub async fn start(data_dir: &Path, log_dir: &Path) -> Router {
        Self::start_on(data_dir, log_dir, free_port()).await
    }

    pub async fn start_on(data_dir: &Path, log_dir: &Path, port: u16) -> Router {
        Self::start_with(data_dir, log_dir, port, &[]).await
    }

    /// Started with `extra` arguments (e.g. `--config FILE`).
    pub async fn start_with(data_dir: &Path, log_dir: &Path, port: u16, extra: &[&str]) -> Router {
        let log = log_dir.join(format!("router-{}.log", crate::support::now_nanos()));
        let proc = Proc::spawn(
            "harrier router",
            Command::new(env!("CARGO_BIN_EXE_harrier"))
                .arg("router")
                .arg("--listen")
                .arg(format!("127.0.0.1:{port}"))
                .arg("--data-dir")
                .arg(data_dir)
                .args(extra)
                .env("HARRIER_LOG", "info"),
            log,
        );
        let r = Router { port, proc };
        wait_ready("harrier router ready", &format!("{}/-/ready", r.url()), Duration::from_secs(30)).await;
        r
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// A deterministic pseudo-random sequence (xorshift), so both peers get identical data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % 1_000_000) as f64 / 1_000_000.0
    }
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

/// The data set: counters (with and without resets), gauges, classic histograms, a flaky
/// gauge with gaps, a series that ends with a staleness marker, `up`.
fn dataset(base_ms: i64) -> Vec<Series> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let ts = |i: i64| base_ms + i * STEP_MS;
    let mut out = Vec::new();
    let instances = ["10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"];

    for instance in instances {
        for method in ["GET", "POST"] {
            for code in ["200", "500"] {
                let rate = if code == "200" { 5.0 } else { 0.3 } * if method == "GET" { 2.0 } else { 1.0 };
                let mut v = 0.0;
                let samples = (0..POINTS)
                    .map(|i| {
                        v += (rate * 15.0 * (0.5 + rng.next())).round();
                        Sample { timestamp_ms: ts(i), value: v }
                    })
                    .collect();
                out.push(Series::new(
                    labels(&[
                        ("__name__", "http_requests_total"),
                        ("job", "api"),
                        ("instance", instance),
                        ("method", method),
                        ("code", code),
                    ]),
                    samples,
                ));
            }
        }
        // A classic histogram.
        let bounds = ["0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf"];
        let mut counts = [0.0f64; 7];
        let mut sum = 0.0;
        let mut bucket_samples: Vec<Vec<Sample>> = vec![Vec::new(); 7];
        let mut sum_samples = Vec::new();
        let mut count_samples = Vec::new();
        for i in 0..POINTS {
            for _ in 0..20 {
                let latency = rng.next() * rng.next() * 3.0;
                sum += latency;
                for (b, bound) in bounds.iter().enumerate() {
                    let le: f64 = if *bound == "+Inf" { f64::INFINITY } else { bound.parse().unwrap() };
                    if latency <= le {
                        counts[b] += 1.0;
                    }
                }
            }
            for b in 0..7 {
                bucket_samples[b].push(Sample { timestamp_ms: ts(i), value: counts[b] });
            }
            sum_samples.push(Sample { timestamp_ms: ts(i), value: sum });
            count_samples.push(Sample { timestamp_ms: ts(i), value: counts[6] });
        }
        for (b, bound) in bounds.iter().enumerate() {
            out.push(Series::new(
                labels(&[
                    ("__name__", "http_request_duration_seconds_bucket"),
                    ("job", "api"),
                    ("instance", instance),
                    ("le", bound),
                ]),
                std::mem::take(&mut bucket_samples[b]),
            ));
        }
        out.push(Series::new(
            labels(&[
                ("__name__", "http_request_duration_seconds_sum"),
                ("job", "api"),
                ("instance", instance),
            ]),
            sum_samples,
        ));
        out.push(Series::new(
            labels(&[
                ("__name__", "http_request_duration_seconds_count"),
                ("job", "api"),
                ("instance", instance),
            ]),
            count_samples,
        ));
        // Node metrics.
        for cpu in ["0", "1"] {
            for mode in ["idle", "user", "system"] {
                let mut v = 1000.0 * rng.next();
                let samples = (0..POINTS)
                    .map(|i| {
                        v += 15.0 * rng.next() * if mode == "idle" { 0.8 } else { 0.1 };
                        Sample { timestamp_ms: ts(i), value: v }
                    })
                    .collect();
                out.push(Series::new(
                    labels(&[
                        ("__name__", "node_cpu_seconds_total"),
                        ("job", "node"),
                        ("instance", instance),
                        ("cpu", cpu),
                        ("mode", mode),
                    ]),
                    samples,
                ));
            }
        }
        let total = 8.0e9;
        out.push(Series::new(
            labels(&[("__name__", "node_memory_MemTotal_bytes"), ("job", "node"), ("instance", instance)]),
            (0..POINTS).map(|i| Sample { timestamp_ms: ts(i), value: total }).collect(),
        ));
        let mut avail = 4.0e9;
        out.push(Series::new(
            labels(&[
                ("__name__", "node_memory_MemAvailable_bytes"),
                ("job", "node"),
                ("instance", instance),
            ]),
            (0..POINTS)
                .map(|i| {
                    avail += (rng.next() - 0.55) * 5.0e7;
                    Sample { timestamp_ms: ts(i), value: avail.round() }
                })
                .collect(),
        ));
        for job in ["api", "node"] {
            out.push(Series::new(
                labels(&[("__name__", "up"), ("job", job), ("instance", instance)]),
                (0..POINTS)
                    .map(|i| {
                        let down = instance == "10.0.0.3:8080" && job == "api" && (120..150).contains(&i);
                        Sample { timestamp_ms: ts(i), value: if down { 0.0 } else { 1.0 } }
                    })
                    .collect(),
            ));
        }
    }
    // Gauges that go negative.
    for queue in ["a", "b", "c"] {
        let mut v = 3.0;
        out.push(Series::new(
            labels(&[("__name__", "queue_depth"), ("job", "worker"), ("queue", queue)]),
            (0..POINTS)
                .map(|i| {
                    v += ((rng.next() - 0.5) * 4.0).round();
                    Sample { timestamp_ms: ts(i), value: v }
                })
                .collect(),
        ));
    }
    // A counter with resets.
    let mut v = 0.0;
    out.push(Series::new(
        labels(&[("__name__", "resetting_counter_total"), ("job", "worker")]),
        (0..POINTS)
            .map(|i| {
                v = if i % 37 == 36 { 3.0 } else { v + (rng.next() * 10.0).round() };
                Sample { timestamp_ms: ts(i), value: v }
            })
            .collect(),
    ));
    // A gauge with gaps (no samples for stretches longer than the lookback).
    out.push(Series::new(
        labels(&[("__name__", "flaky_gauge"), ("job", "worker")]),
        (0..POINTS)
            .filter(|i| !(60..90).contains(i) && !(170..185).contains(i) && i % 4 != 1)
            .map(|i| Sample { timestamp_ms: ts(i), value: (i % 17) as f64 })
            .collect(),
    ));
    // A series that stops with a staleness marker two thirds of the way in.
    let mut stale: Vec<Sample> =
        (0..130).map(|i| Sample { timestamp_ms: ts(i), value: i as f64 * 1.5 }).collect();
    stale.push(Sample { timestamp_ms: ts(130), value: stale_nan() });
    out.push(Series::new(labels(&[("__name__", "stale_series"), ("job", "worker")]), stale));
    // Kafka lag.
    for topic in ["orders", "payments"] {
        for partition in ["0", "1", "2"] {
            out.push(Series::new(
                labels(&[
                    ("__name__", "kafka_consumergroup_lag"),
                    ("job", "kafka"),
                    ("topic", topic),
                    ("partition", partition),
                ]),
                (0..POINTS).map(|i| Sample { timestamp_ms: ts(i), value: ((i * 7) % 50) as f64 }).collect(),
            ));
        }
    }
    out
}

/// POSTs series as one remote_write request.
async fn remote_write(url: &str, series: &[Series]) -> reqwest::Response {
    let body = harrier_telemetry::remote_write::encode_request(series);
    http()
        .post(url)
        .header("Content-Encoding", "snappy")
        .header("Content-Type", "application/x-protobuf")
        .header("X-Prometheus-Remote-Write-Version", "0.1.0")
        .body(body)
        .send()
        .await
        .expect("remote write request")
}

/// A way to run a corpus query: (name, API path, form parameters).
type QueryMode = (String, &'static str, Vec<(&'static str, String)>);

/// One answer, normalised for comparison: `Ok((resultType, series key -> points))` or
/// `Err(errorType)`.
type Answer = Result<(String, BTreeMap<String, Vec<(i64, f64)>>), String>;

async fn ask(base: &str, path: &str, params: &[(&str, String)]) -> Answer {
    let resp = http().post(format!("{base}{path}")).form(params).send().await.map_err(|e| e.to_string())?;
    let body: Value = resp.json().await.map_err(|e| format!("non-JSON answer: {e}"))?;
    if body["status"] != "success" {
        return Err(body["errorType"].as_str().unwrap_or("?").to_string());
    }
    let data = &body["data"];
    let kind = data["resultType"].as_str().unwrap_or("?").to_string();
    let point = |p: &Value| -> (i64, f64) {
        let t = (p[0].as_f64().unwrap_or(f64::NAN) * 1000.0).round() as i64;
        let v = match p[1].as_str() {
            Some("NaN") => f64::NAN,
            Some("+Inf") => f64::INFINITY,
            Some("-Inf") => f64::NEG_INFINITY,
            Some(s) => s.parse().unwrap_or(f64::NAN),
            None => f64::NAN,
        };
        (t, v)
    };
    let mut out = BTreeMap::new();
    match kind.as_str() {
        "scalar" => {
            out.insert(String::new(), vec![point(&data["result"])]);
        }
        "string" => {
            let s = data["result"][1].as_str().unwrap_or_default().to_string();
            out.insert(s, Vec::new());
        }
        _ => {
            for r in data["result"].as_array().into_iter().flatten() {
                let key = r["metric"].to_string();
                let points = if let Some(values) = r["values"].as_array() {
                    values.iter().map(point).collect()
                } else {
                    vec![point(&r["value"])]
                };
                out.insert(key, points);
            }
        }
    }
    Ok((kind, out))
}

fn close(a: f64, b: f64) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    if a == b {
        return true;
    }
    let diff = (a - b).abs();
    diff <= 1e-9 * a.abs().max(b.abs()) || diff < 1e-12
}

/// Why two answers differ, or `None` when they agree.
fn difference(prometheus: &Answer, router: &Answer) -> Option<String> {
    match (prometheus, router) {
        (Err(_), Err(_)) => None,
        (Ok(_), Err(e)) => Some(format!("router failed ({e}), Prometheus answered")),
        (Err(e), Ok(_)) => Some(format!("Prometheus failed ({e}), router answered")),
        (Ok((pk, ps)), Ok((rk, rs))) => {
            if pk != rk {
                return Some(format!("result type {pk} vs {rk}"));
            }
            let pkeys: Vec<_> = ps.keys().collect();
            let rkeys: Vec<_> = rs.keys().collect();
            if pkeys != rkeys {
                return Some(format!("series differ: Prometheus {pkeys:?}, router {rkeys:?}"));
            }
            for (key, pp) in ps {
                let rp = &rs[key];
                if pp.len() != rp.len() {
                    return Some(format!("{key}: {} points vs {}", pp.len(), rp.len()));
                }
                for (a, b) in pp.iter().zip(rp) {
                    if a.0 != b.0 || !close(a.1, b.1) {
                        return Some(format!("{key}: Prometheus {a:?}, router {b:?}"));
                    }
                }
            }
            None
        }
    }
}

fn corpus() -> Vec<String> {
    include_str!("router_queries.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// `query<TAB>mode<TAB>reason` lines: known differences from Prometheus 2.42.
fn known_differences() -> BTreeMap<(String, String), String> {
    include_str!("router_query_differences.txt")
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let mut parts = l.splitn(3, '\t');
            Some(((parts.next()?.to_string(), parts.next()?.to_string()), parts.next()?.to_string()))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn router_answers_queries_like_prometheus() {
    let dir = tempfile::tempdir().unwrap();
    let prometheus = Prometheus::start(&dir.path().join("prometheus")).await;
    let router = Router::start(&dir.path().join("router"), dir.path()).await;

    let now = harrier_telemetry::model::now_ms();
    // One second past the 15 s grid: subquery steps (multiples of their step) and the
    // evaluation times below never coincide with a sample.
    let base = (now - POINTS * STEP_MS) / STEP_MS * STEP_MS + 1_000;
    let data = dataset(base);
    for target in [prometheus.remote_write_url(), format!("{}/api/v1/write", router.url())] {
        let resp = remote_write(&target, &data).await;
        assert!(resp.status().is_success(), "{target}: {}: {}", resp.status(), resp.text().await.unwrap());
    }

    let end = base + (POINTS - 1) * STEP_MS;
    // Off the 15 s grid: no sample sits exactly on a range boundary (see the module doc).
    let instant_times = [("instant@end", end + 7_000), ("instant@mid", base + 100 * STEP_MS + 4_000)];
    let range = (base + 60 * STEP_MS + 3_000, end + 3_000, 60_000);
    let secs = |ms: i64| format!("{:.3}", ms as f64 / 1000.0);

    let known = known_differences();
    let mut total = 0;
    let mut agreed = 0;
    let mut unexpected = Vec::new();
    let mut now_agreeing = Vec::new();
    let queries = corpus();
    assert!(queries.len() >= 200, "the corpus has {} queries", queries.len());
    for query in &queries {
        let mut modes: Vec<QueryMode> = instant_times
            .iter()
            .map(|(mode, t)| {
                (mode.to_string(), "/api/v1/query", vec![("query", query.clone()), ("time", secs(*t))])
            })
            .collect();
        modes.push((
            "range".to_string(),
            "/api/v1/query_range",
            vec![
                ("query", query.clone()),
                ("start", secs(range.0)),
                ("end", secs(range.1)),
                ("step", format!("{}", range.2 / 1000)),
            ],
        ));
        for (mode, path, params) in modes {
            total += 1;
            let p = ask(&prometheus.url(), path, &params).await;
            let r = ask(&router.url(), path, &params).await;
            let key = (query.clone(), mode.clone());
            match difference(&p, &r) {
                None => {
                    agreed += 1;
                    if known.contains_key(&key) {
                        now_agreeing.push(format!("{query}\t{mode}"));
                    }
                }
                Some(why) if known.contains_key(&key) => {
                    eprintln!("known difference: {query} [{mode}]: {why} ({})", known[&key]);
                }
                Some(why) => unexpected.push(format!("{query}\t{mode}\t{why}")),
            }
        }
    }
    eprintln!("router vs Prometheus: {agreed}/{total} answers agree ({} queries)", queries.len());
    assert!(router.proc.log_text().lines().all(|l| !l.contains("panicked")), "the router panicked");
    assert!(
        unexpected.is_empty() && now_agreeing.is_empty(),
        "unexpected differences:\n{}\n\nlisted in router_query_differences.txt but now agreeing (remove them):\n{}",
        unexpected.join("\n"),
        now_agreeing.join("\n")
    );
}

/// Every sample the router acknowledged is still there after kill -9 and a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn router_keeps_every_acknowledged_sample_across_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("router");
    let mut router = Router::start(&data_dir, dir.path()).await;
    let now = harrier_telemetry::model::now_ms();
    let base = (now - POINTS * STEP_MS) / STEP_MS * STEP_MS;
    let data = dataset(base);
    // Many small requests, each acknowledged before the next: the last is acknowledged
    // moments before the kill.
    for chunk in data.chunks(7) {
        let resp = remote_write(&format!("{}/api/v1/write", router.url()), chunk).await;
        assert!(resp.status().is_success(), "{}", resp.status());
    }
    let everything = vec![
        ("query", "{__name__=~\".+\"}[1h]".to_string()),
        ("time", format!("{:.3}", (base + POINTS * STEP_MS) as f64 / 1000.0)),
    ];
    let before = ask(&router.url(), "/api/v1/query", &everything).await.expect("query before the kill");
    let written: usize = data.iter().map(|s| s.samples.len()).sum();
    let seen: usize = before.1.values().map(Vec::len).sum();
    // The staleness marker is stored but not returned by a range selector.
    assert_eq!(seen, written - 1, "samples visible before the kill");

    router.proc.kill9();
    let router = Router::start_on(&data_dir, dir.path(), router.port).await;
    let after = ask(&router.url(), "/api/v1/query", &everything).await.expect("query after the restart");
    assert_eq!(before.1.len(), after.1.len(), "series after the restart");
    assert!(difference(&Ok(before), &Ok(after.clone())).is_none(), "samples differ after kill -9");
}

/// POSTs a `len`-byte body to /api/v1/write over a raw connection, writing it in the
/// background while reading the answer; returns (status, body text).
async fn oversized_write(port: u16, len: usize) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.expect("connect");
    let (mut read, mut write) = stream.into_split();
    let head = format!(
        "POST /api/v1/write HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Encoding: snappy\r\n\
         Content-Type: application/x-protobuf\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n"
    );
    let writer = tokio::spawn(async move {
        if write.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        let chunk = vec![0u8; 1 << 20];
        for _ in 0..len / chunk.len() {
            // The router may stop reading and close: that is the point.
            if write.write_all(&chunk).await.is_err() {
                return;
            }
        }
    });
    let mut answer = Vec::new();
    let read_all = tokio::time::timeout(Duration::from_secs(30), read.read_to_end(&mut answer)).await;
    writer.abort();
    assert!(read_all.is_ok(), "no answer to an oversized body within 30 s");
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

/// Malformed, oversized and bomb-like input gets a 4xx with a message; the router stays up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn router_rejects_bad_input_and_stays_up() {
    let dir = tempfile::tempdir().unwrap();
    let router = Router::start(&dir.path().join("router"), dir.path()).await;
    let write_url = format!("{}/api/v1/write", router.url());
    let post = |body: Vec<u8>| {
        let url = write_url.clone();
        async move {
            let resp = http()
                .post(url)
                .header("Content-Encoding", "snappy")
                .header("Content-Type", "application/x-protobuf")
                .body(body)
                .send()
                .await
                .expect("write request");
            let status = resp.status().as_u16();
            (status, resp.text().await.unwrap_or_default())
        }
    };

    let mut bodies: Vec<(&str, Vec<u8>)> = vec![
        ("not snappy", b"this is not snappy".to_vec()),
        ("snappy of garbage protobuf", snap::raw::Encoder::new().compress_vec(&[0xff; 64]).unwrap()),
    ];
    // A snappy block whose header claims 4 GiB.
    let mut claims_4gib = vec![0x80, 0x80, 0x80, 0x80, 0x10];
    claims_4gib.extend_from_slice(&[0u8; 32]);
    bodies.push(("header claiming 4 GiB", claims_4gib));
    // 256 MiB of zeros compresses to about 12 MiB.
    bodies.push(("snappy bomb", snap::raw::Encoder::new().compress_vec(&vec![0u8; 256 << 20]).unwrap()));
    for (what, body) in bodies {
        let (status, text) = post(body).await;
        assert!((400..500).contains(&status), "{what}: status {status} ({text})");
        assert!(!text.trim().is_empty(), "{what}: no message with status {status}");
    }
    // Larger than any sane request. The router answers before reading it all and closes the
    // connection, so a client still writing may see a broken pipe instead of the answer: send it
    // by hand and read the answer while writing.
    let (status, text) = oversized_write(router.port, 128 << 20).await;
    assert!((400..500).contains(&status), "oversized body: status {status} ({text})");
    assert!(!text.trim().is_empty(), "oversized body: no message with status {status}");

    for bad_query in ["sum(", "rate(up)", "up{", "label_replace(up, \"x\", \"\", \"a\", \"(\")"] {
        let resp = http()
            .post(format!("{}/api/v1/query", router.url()))
            .form(&[("query", bad_query)])
            .send()
            .await
            .expect("query request");
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.expect("JSON error body");
        assert!(status == 400 || status == 422, "{bad_query}: status {status}");
        assert_eq!(body["status"], "error", "{bad_query}: {body}");
        assert!(!body["error"].as_str().unwrap_or_default().is_empty(), "{bad_query}: {body}");
    }

    // Still up, still accepting good data.
    let good = vec![Series::new(
        labels(&[("__name__", "still_up"), ("job", "t")]),
        vec![Sample { timestamp_ms: harrier_telemetry::model::now_ms(), value: 42.0 }],
    )];
    let resp = remote_write(&write_url, &good).await;
    assert!(resp.status().is_success(), "a good write after the bad ones: {}", resp.status());
    let answer = ask(&router.url(), "/api/v1/query", &[("query", "still_up".to_string())]).await.unwrap();
    assert_eq!(answer.1.values().next().map(|p| p[0].1), Some(42.0));
}

/// The remote datasource (what rules evaluate through at scale) reads Prometheus's real query
/// API: the same queries through it against Debian's Prometheus and against the router agree.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_datasource_reads_prometheus_query_api() {
    use harrier_router::datasource::Datasource;
    use harrier_router::datasource::remote::{RemoteDatasource, RemoteDatasourceConfig};
    use harrier_router::promql::Value;

    let dir = tempfile::tempdir().unwrap();
    let prometheus = Prometheus::start(&dir.path().join("prometheus")).await;
    let router = Router::start(&dir.path().join("router"), dir.path()).await;
    let now = harrier_telemetry::model::now_ms();
    let base = (now - POINTS * STEP_MS) / STEP_MS * STEP_MS + 1_000;
    let data = dataset(base);
    for target in [prometheus.remote_write_url(), format!("{}/api/v1/write", router.url())] {
        assert!(remote_write(&target, &data).await.status().is_success());
    }
    let remote = |url: String| {
        RemoteDatasource::new(RemoteDatasourceConfig {
            url,
            timeout: Duration::from_secs(10),
            headers: Default::default(),
            http: Default::default(),
        })
        .expect("remote datasource")
    };
    let via_prometheus = remote(prometheus.url());
    let via_router = remote(router.url());
    let t = base + (POINTS - 1) * STEP_MS + 7_000;

    // Flattens a value to (labels, t, v) points for comparison.
    fn points(value: &Value) -> Vec<(String, i64, f64)> {
        let mut out: Vec<(String, i64, f64)> = match value {
            Value::Scalar { t, v } => vec![(String::new(), *t, *v)],
            Value::String { t, s } => vec![(s.clone(), *t, 0.0)],
            Value::Vector(samples) => samples.iter().map(|s| (s.labels.to_string(), s.t, s.v)).collect(),
            Value::Matrix(series) => series
                .iter()
                .flat_map(|s| {
                    let labels = s.labels.to_string();
                    s.samples.iter().map(move |p| (labels.clone(), p.timestamp_ms, p.value))
                })
                .collect(),
        };
        out.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
        out
    }

    let mut compared = 0;
    for query in [
        "sum by (job) (rate(http_requests_total[5m]))",
        "histogram_quantile(0.9, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))",
        "queue_depth[2m]",
        "scalar(sum(up))",
        "count(up == 1)",
    ] {
        let p = via_prometheus.instant_query(query, t).await.unwrap_or_else(|e| panic!("{query}: {e}"));
        let r = via_router.instant_query(query, t).await.unwrap_or_else(|e| panic!("{query}: {e}"));
        let (pp, rp) = (points(&p.value), points(&r.value));
        assert!(!pp.is_empty(), "{query}: Prometheus returned nothing");
        assert_eq!(pp.len(), rp.len(), "{query}: {pp:?} vs {rp:?}");
        for (a, b) in pp.iter().zip(&rp) {
            assert!(a.0 == b.0 && a.1 == b.1 && close(a.2, b.2), "{query}: {a:?} vs {b:?}");
        }
        compared += 1;
    }
    let range = via_router
        .range_query("sum(rate(http_requests_total[5m]))", t - 600_000, t, 60_000)
        .await
        .expect("range query through the remote datasource");
    assert_eq!(points(&range.value).len(), 11, "11 steps of the range query");
    // Errors keep the remote's errorType.
    let err = via_prometheus.instant_query("sum(", t).await.expect_err("a parse error");
    assert_eq!(err.error_type().as_str(), "bad_data", "{err}");
    assert_eq!(compared, 5);
}
