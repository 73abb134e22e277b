//! Scrape tests against a real HTTP exporter on 127.0.0.1:0 and a sink that records batches.

use super::discovery::parse_file;
use super::job::accept_header;
use super::scrape_loop::sample_labels;
use super::target::{Target, populate_labels, target_url};
use super::*;
use crate::config::GlobalConfig;
use crate::sinks::{MetricsFanout, MetricsSink};
use crate::sources::scrape::config::ScrapeConfig;
use crate::sources::scrape::metrics::ScrapeMetrics;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use harrier_telemetry::model::{Labels, Series, is_stale_nan};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------- test exporter and sink

#[derive(Clone, Default)]
struct Page {
    body: Vec<u8>,
    gzip: bool,
    /// The Authorization header the page demands (401 otherwise).
    required_auth: Option<String>,
    /// Answer `302 Found` to this location instead.
    redirect: Option<String>,
    /// Bytes of an extra response header (`X-Padding`), to make the head large.
    padding_header: usize,
}

#[derive(Debug, Clone)]
struct SeenRequest {
    path: String,
    query: String,
    at: Instant,
    headers: HeaderMap,
}

#[derive(Clone, Default)]
struct Exporter {
    pages: Arc<Mutex<HashMap<String, Page>>>,
    requests: Arc<Mutex<Vec<SeenRequest>>>,
}

impl Exporter {
    fn set(&self, path: &str, body: &str) {
        self.set_page(path, Page { body: body.as_bytes().to_vec(), ..Default::default() });
    }
    fn set_page(&self, path: &str, page: Page) {
        self.pages.lock().unwrap().insert(path.to_string(), page);
    }
    fn requests(&self) -> Vec<SeenRequest> {
        self.requests.lock().unwrap().clone()
    }
}

async fn handle(State(exporter): State<Exporter>, uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path().to_string();
    exporter.requests.lock().unwrap().push(SeenRequest {
        path: path.clone(),
        query: uri.query().unwrap_or_default().to_string(),
        at: Instant::now(),
        headers: headers.clone(),
    });
    let Some(page) = exporter.pages.lock().unwrap().get(&path).cloned() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if let Some(required) = &page.required_auth
        && headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(required.as_str())
    {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let mut out = HeaderMap::new();
    if let Some(location) = &page.redirect {
        out.insert("location", location.parse().unwrap());
        return (StatusCode::FOUND, out).into_response();
    }
    out.insert("content-type", "text/plain; version=0.0.4".parse().unwrap());
    if page.padding_header > 0 {
        out.insert("x-padding", "p".repeat(page.padding_header).parse().unwrap());
    }
    let body = if page.gzip {
        out.insert("content-encoding", "gzip".parse().unwrap());
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&page.body).unwrap();
        enc.finish().unwrap()
    } else {
        page.body
    };
    (StatusCode::OK, out, body).into_response()
}

async fn start_exporter() -> (Exporter, SocketAddr) {
    let exporter = Exporter::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().fallback(handle).with_state(exporter.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (exporter, addr)
}

#[derive(Default)]
struct CollectingSink {
    batches: Mutex<Vec<Vec<Series>>>,
}

impl MetricsSink for CollectingSink {
    fn send(&self, series: &[Series]) {
        self.batches.lock().unwrap().push(series.to_vec());
    }
}

impl CollectingSink {
    fn batches(&self) -> Vec<Vec<Series>> {
        self.batches.lock().unwrap().clone()
    }
    fn all(&self) -> Vec<Series> {
        self.batches().into_iter().flatten().collect()
    }
    fn clear(&self) {
        self.batches.lock().unwrap().clear();
    }
}

fn manager() -> (ScrapeManager, Arc<CollectingSink>, ScrapeMetrics) {
    let sink = Arc::new(CollectingSink::default());
    let metrics = ScrapeMetrics::default();
    let fanout = MetricsFanout::new(vec![Arc::clone(&sink) as Arc<dyn MetricsSink>]);
    let manager =
        ScrapeManager::new(fanout, metrics.clone()).with_file_sd_poll_interval(Duration::from_millis(50));
    (manager, sink, metrics)
}

fn scrape_config(yaml: &str) -> ScrapeConfig {
    yaml_serde::from_str(yaml).unwrap()
}

fn job(yaml: &str) -> ScrapeJob {
    ScrapeJob::from_config(&scrape_config(yaml), &GlobalConfig::default()).unwrap()
}

/// Polls `cond` over the recorded batches for up to 15 s.
async fn wait_for(sink: &CollectingSink, what: &str, cond: impl Fn(&[Vec<Series>]) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if cond(&sink.batches()) {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}; got {:#?}", sink.batches());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn find<'a>(batch: &'a [Series], name: &str, extra: &[(&str, &str)]) -> Option<&'a Series> {
    batch.iter().find(|s| {
        s.labels.metric_name() == Some(name) && extra.iter().all(|(n, v)| s.labels.get(n) == Some(*v))
    })
}

fn value(batch: &[Series], name: &str, extra: &[(&str, &str)]) -> Option<f64> {
    find(batch, name, extra).map(|s| s.samples[0].value)
}

fn has_up(batch: &[Series], up: f64, extra: &[(&str, &str)]) -> bool {
    value(batch, "up", extra) == Some(up)
}

// ---------------------------------------------------------------- end to end

#[tokio::test]
async fn samples_carry_target_labels_and_prometheus_headers() {
    let (exporter, addr) = start_exporter().await;
    exporter.set("/metrics", "# TYPE foo counter\nfoo{a=\"1\"} 3\nbar 1 1700000000000\n");
    let (mut manager, sink, metrics) = manager();
    let before = harrier_telemetry::model::now_ms();
    manager.apply_jobs(vec![job(&format!(
        "job_name: test\nscrape_interval: 500ms\nstatic_configs: [{{targets: ['{addr}'], labels: {{env: prod}}}}]\n"
    ))]);
    wait_for(&sink, "a scrape", |b| b.iter().any(|batch| has_up(batch, 1.0, &[]))).await;
    let batch = sink.batches().into_iter().find(|b| has_up(b, 1.0, &[])).unwrap();
    let instance = addr.to_string();
    let foo = find(&batch, "foo", &[]).unwrap();
    assert_eq!(
        foo.labels,
        Labels::from_pairs([
            ("__name__", "foo"),
            ("a", "1"),
            ("env", "prod"),
            ("instance", &instance),
            ("job", "test")
        ])
    );
    assert_eq!(foo.samples[0].value, 3.0);
    assert!(
        foo.samples[0].timestamp_ms >= before
            && foo.samples[0].timestamp_ms <= harrier_telemetry::model::now_ms()
    );
    // An explicit timestamp is honoured by default.
    assert_eq!(find(&batch, "bar", &[]).unwrap().samples[0].timestamp_ms, 1_700_000_000_000);
    // Report series carry the target labels and the scrape's timestamp.
    let up = find(&batch, "up", &[("job", "test"), ("instance", &instance), ("env", "prod")]).unwrap();
    assert_eq!(up.samples[0].timestamp_ms, foo.samples[0].timestamp_ms);
    assert_eq!(value(&batch, "scrape_samples_scraped", &[]), Some(2.0));
    assert_eq!(value(&batch, "scrape_samples_post_metric_relabeling", &[]), Some(2.0));
    assert_eq!(value(&batch, "scrape_series_added", &[]), Some(2.0));
    assert!(value(&batch, "scrape_duration_seconds", &[]).unwrap() > 0.0);
    assert_eq!(batch.len(), 7, "one batch holds samples and report series: {batch:#?}");

    let request = exporter.requests().into_iter().next().unwrap();
    let header = |n: &str| request.headers.get(n).unwrap().to_str().unwrap().to_string();
    assert_eq!(
        header("accept"),
        "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
    );
    assert_eq!(header("accept-encoding"), "gzip");
    assert_eq!(header("x-prometheus-scrape-timeout-seconds"), "0.5");
    assert!(header("user-agent").starts_with("Harrier/"));
    assert_eq!(request.path, "/metrics");

    // Steady state: the second scrape is served from the cache and adds no series.
    wait_for(&sink, "a second scrape", |b| b.iter().filter(|batch| has_up(batch, 1.0, &[])).count() >= 2)
        .await;
    let second = sink.batches().into_iter().filter(|b| has_up(b, 1.0, &[])).nth(1).unwrap();
    assert_eq!(value(&second, "scrape_series_added", &[]), Some(0.0));
    assert_eq!(find(&second, "foo", &[]).unwrap().labels, foo.labels);
    assert!(metrics.scrapes("test", "success") >= 2);
    assert_eq!(metrics.targets("test"), 1);
    manager.shutdown().await;
}

#[tokio::test]
async fn honor_labels_both_ways() {
    let (exporter, addr) = start_exporter().await;
    exporter.set("/metrics", "foo{job=\"other\",instance=\"x\",exported_job=\"e\"} 1\n");
    let (mut manager, sink, _) = manager();
    manager.apply_jobs(vec![
        job(&format!("job_name: plain\nscrape_interval: 500ms\nstatic_configs: [{{targets: ['{addr}']}}]\n")),
        job(&format!("job_name: honor\nhonor_labels: true\nscrape_interval: 500ms\nstatic_configs: [{{targets: ['{addr}']}}]\n")),
    ]);
    wait_for(&sink, "both jobs", |b| {
        b.iter().any(|x| has_up(x, 1.0, &[("job", "plain")]))
            && b.iter().any(|x| has_up(x, 1.0, &[("job", "honor")]))
    })
    .await;
    let all = sink.all();
    let instance = addr.to_string();
    let plain = find(&all, "foo", &[("job", "plain")]).unwrap();
    assert_eq!(
        plain.labels,
        Labels::from_pairs([
            ("__name__", "foo"),
            ("job", "plain"),
            ("instance", instance.as_str()),
            ("exported_instance", "x"),
            ("exported_job", "e"),
            ("exported_exported_job", "other"),
        ])
    );
    let honored = find(&all, "foo", &[("job", "other")]).unwrap();
    assert_eq!(
        honored.labels,
        Labels::from_pairs([("__name__", "foo"), ("job", "other"), ("instance", "x"), ("exported_job", "e")])
    );
    // Report series always carry the target's labels.
    assert!(find(&all, "up", &[("job", "honor"), ("instance", &instance)]).is_some());
    manager.shutdown().await;
}

#[test]
fn honor_labels_keeps_an_empty_exposed_label() {
    let settings = job("job_name: j\nhonor_labels: true\n").settings;
    let target = Labels::from_pairs([("job", "j"), ("instance", "i")]);
    let labels = sample_labels([("__name__", "m"), ("job", "")].into_iter(), &target, &settings).unwrap();
    // The exposed (empty) job wins, so the series has no job label at all, as in Prometheus.
    assert_eq!(labels, Labels::from_pairs([("__name__", "m"), ("instance", "i")]));
}

#[tokio::test]
async fn metric_relabel_drop_and_sample_limit() {
    let (exporter, addr) = start_exporter().await;
    exporter.set("/metrics", "keep_me 1\ndrop_me 2\ndrop_me_too 3\n");
    let (mut manager, sink, metrics) = manager();
    manager.apply_jobs(vec![
        job(&format!(
            "job_name: relabel\nscrape_interval: 500ms\nsample_limit: 1\nstatic_configs: [{{targets: ['{addr}']}}]\nmetric_relabel_configs: [{{source_labels: [__name__], regex: 'drop_.*', action: drop}}]\n"
        )),
        job(&format!("job_name: limited\nscrape_interval: 500ms\nsample_limit: 2\nstatic_configs: [{{targets: ['{addr}']}}]\n")),
    ]);
    wait_for(&sink, "both jobs", |b| {
        b.iter().any(|x| has_up(x, 1.0, &[("job", "relabel")]))
            && b.iter().any(|x| has_up(x, 0.0, &[("job", "limited")]))
    })
    .await;
    let batches = sink.batches();
    let relabeled = batches.iter().find(|b| has_up(b, 1.0, &[("job", "relabel")])).unwrap();
    assert!(find(relabeled, "keep_me", &[]).is_some());
    assert!(find(relabeled, "drop_me", &[]).is_none() && find(relabeled, "drop_me_too", &[]).is_none());
    assert_eq!(value(relabeled, "scrape_samples_scraped", &[]), Some(3.0));
    assert_eq!(value(relabeled, "scrape_samples_post_metric_relabeling", &[]), Some(1.0));

    // Three samples with a limit of two: the whole scrape fails, nothing but the report.
    let limited = batches.iter().find(|b| has_up(b, 0.0, &[("job", "limited")])).unwrap();
    assert_eq!(limited.len(), 5, "{limited:#?}");
    assert_eq!(value(limited, "scrape_samples_scraped", &[]), Some(3.0));
    assert!(metrics.failures("limited", "sample_limit") >= 1);
    manager.shutdown().await;
}

/// Captures `tracing` output.
#[derive(Clone, Default)]
struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A process-wide capture of WARN and above. A thread-scoped subscriber is not reliable here:
/// tests running in parallel register the warning's callsite while it is not listening.
fn global_log_capture() -> LogCapture {
    static CAPTURE: std::sync::OnceLock<LogCapture> = std::sync::OnceLock::new();
    CAPTURE
        .get_or_init(|| {
            let capture = LogCapture::default();
            let writer = capture.clone();
            let subscriber = tracing_subscriber::fmt()
                .with_writer(move || writer.clone())
                .with_ansi(false)
                .with_max_level(tracing::Level::WARN)
                .finish();
            tracing::subscriber::set_global_default(subscriber)
                .expect("no other global subscriber in agent tests");
            capture
        })
        .clone()
}

#[tokio::test]
async fn malformed_body_fails_the_scrape_with_a_warning_and_staleness() {
    let logs = global_log_capture();
    let (exporter, addr) = start_exporter().await;
    exporter.set("/metrics", "good 1\n");
    let (mut manager, sink, metrics) = manager();
    manager.apply_jobs(vec![job(&format!(
        "job_name: bad\nscrape_interval: 300ms\nstatic_configs: [{{targets: ['{addr}']}}]\n"
    ))]);
    wait_for(&sink, "a good scrape", |b| b.iter().any(|x| has_up(x, 1.0, &[]))).await;
    exporter.set("/metrics", "good 1\nbroken{ 2\n");
    wait_for(&sink, "a failed scrape", |b| b.iter().any(|x| has_up(x, 0.0, &[]))).await;
    let failed = sink.batches().into_iter().find(|b| has_up(b, 0.0, &[])).unwrap();
    // Nothing of the failed scrape is delivered; the previous series goes stale.
    let good = find(&failed, "good", &[]).unwrap();
    assert!(is_stale_nan(good.samples[0].value));
    assert_eq!(failed.iter().filter(|s| s.labels.metric_name() == Some("good")).count(), 1);
    assert!(metrics.failures("bad", "parse") >= 1);

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let target = format!("target=http://{addr}/metrics");
    let line = text
        .lines()
        .find(|l| l.contains("scrape failed") && l.contains(&target))
        .unwrap_or_else(|| panic!("no warning in {text}"));
    assert!(line.contains("WARN"), "{line}");
    assert!(line.contains("error=line 2:"), "{line}");
    manager.shutdown().await;
}

#[tokio::test]
async fn body_size_limit_applies_to_the_decompressed_body() {
    let (exporter, addr) = start_exporter().await;
    let body: String =
        (0..2000).map(|i| format!("some_metric_with_a_long_name{{index=\"{i}\"}} 1\n")).collect();
    assert!(body.len() > 64 * 1024);
    exporter.set_page("/metrics", Page { body: body.into_bytes(), gzip: true, ..Default::default() });
    let (mut manager, sink, metrics) = manager();
    manager.apply_jobs(vec![
        job(&format!("job_name: small\nscrape_interval: 500ms\nbody_size_limit: 32KB\nstatic_configs: [{{targets: ['{addr}']}}]\n")),
        job(&format!("job_name: big\nscrape_interval: 500ms\nbody_size_limit: 1MB\nstatic_configs: [{{targets: ['{addr}']}}]\n")),
    ]);
    wait_for(&sink, "both jobs", |b| {
        b.iter().any(|x| has_up(x, 0.0, &[("job", "small")]))
            && b.iter().any(|x| has_up(x, 1.0, &[("job", "big")]))
    })
    .await;
    let big = sink.batches().into_iter().find(|b| has_up(b, 1.0, &[("job", "big")])).unwrap();
    assert_eq!(value(&big, "scrape_samples_scraped", &[]), Some(2000.0));
    assert!(metrics.failures("small", "body_size_limit") >= 1);
    // The compressed body is far below the limit: the limit is on what was decompressed.
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(&exporter.pages.lock().unwrap()["/metrics"].body).unwrap();
    assert!(enc.finish().unwrap().len() < 32 * 1024);
    manager.shutdown().await;
}

#[tokio::test]
async fn staleness_when_a_series_vanishes() {
    let (exporter, addr) = start_exporter().await;
    exporter.set("/metrics", "a 1\nb 2\n");
    let (mut manager, sink, _) = manager();
    manager.apply_jobs(vec![job(&format!(
        "job_name: s\nscrape_interval: 300ms\nstatic_configs: [{{targets: ['{addr}']}}]\n"
    ))]);
    wait_for(&sink, "a and b", |b| b.iter().any(|x| find(x, "b", &[]).is_some())).await;
    exporter.set("/metrics", "a 1\n");
    let is_stale =
        |x: &[Series], name: &str| find(x, name, &[]).is_some_and(|s| is_stale_nan(s.samples[0].value));
    wait_for(&sink, "b going stale", |b| b.iter().any(|x| is_stale(x, "b"))).await;
    let batch = sink.batches().into_iter().find(|x| is_stale(x, "b")).unwrap();
    let a = find(&batch, "a", &[]).unwrap();
    assert_eq!(a.samples[0].value, 1.0);
    assert_eq!(find(&batch, "b", &[]).unwrap().samples[0].timestamp_ms, a.samples[0].timestamp_ms);
    assert!(has_up(&batch, 1.0, &[]));
    // Only once: the next scrape no longer mentions b.
    sink.clear();
    wait_for(&sink, "another scrape", |b| b.iter().any(|x| has_up(x, 1.0, &[]))).await;
    assert!(sink.all().iter().all(|s| s.labels.metric_name() != Some("b")));
    manager.shutdown().await;
}

#[tokio::test]
async fn vanished_series_get_their_labels_from_the_kept_body() {
    let (exporter, addr) = start_exporter().await;
    // Unsorted labels, an escaped value, a normalised `le`, a label the target also has.
    let first = "a{z=\"1\",b=\"x\\\"y\"} 1\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 2\nh_count 2\nh_sum 1\nc{team=\"mine\"} 3\n";
    exporter.set("/metrics", first);
    let (mut manager, sink, _) = manager();
    let config = format!(
        "job_name: k\nscrape_interval: 200ms\nstatic_configs: [{{targets: ['{addr}'], labels: {{team: t}}}}]\n"
    );
    manager.apply_jobs(vec![job(&config)]);
    let is_stale = |s: &Series| is_stale_nan(s.samples[0].value);
    // The target's first kept body is deflated as a skeleton at once (`BodyCodec`).
    wait_for(&sink, "two scrapes of the first body", |b| {
        b.iter().filter(|x| has_up(x, 1.0, &[])).count() >= 2
    })
    .await;
    let mut live: Vec<Labels> =
        sink.all().iter().filter(|s| !is_stale(s)).map(|s| s.labels.clone()).collect();
    live.sort();
    live.dedup();
    // `d` is new, so this body replaces the kept one; the vanished series come from the first.
    exporter.set("/metrics", "c{team=\"mine\"} 3\nd{q=\"1\"} 4\n");
    wait_for(&sink, "a and the histogram going stale", |b| {
        b.iter().flatten().filter(|s| is_stale(s) && s.labels.metric_name() != Some("up")).count() >= 5
    })
    .await;
    let stale: Vec<Labels> = sink.all().iter().filter(|s| is_stale(s)).map(|s| s.labels.clone()).collect();
    for name in ["a", "h_bucket", "h_count", "h_sum"] {
        let expected: Vec<&Labels> = live.iter().filter(|l| l.metric_name() == Some(name)).collect();
        for labels in &expected {
            assert!(stale.contains(labels), "no marker for {labels}: {stale:?}");
        }
        assert_eq!(stale.iter().filter(|l| l.metric_name() == Some(name)).count(), expected.len());
    }
    let a = live.iter().find(|l| l.metric_name() == Some("a")).unwrap();
    assert_eq!((a.get("b"), a.get("team"), a.get("z")), (Some("x\"y"), Some("t"), Some("1")));
    assert!(stale.iter().all(|l| l.metric_name() != Some("c")));
    // `d` vanishes: its labels come from the second body.
    sink.clear();
    exporter.set("/metrics", "c{team=\"mine\"} 3\n");
    wait_for(&sink, "d going stale", |b| {
        b.iter().flatten().any(|s| is_stale(s) && s.labels.metric_name() == Some("d"))
    })
    .await;
    let d = sink.all().into_iter().find(|s| is_stale(s) && s.labels.metric_name() == Some("d")).unwrap();
    assert_eq!(d.labels.get("q"), Some("1"));
    assert_eq!(d.labels.get("team"), Some("t"));
    // The job goes away: `c` (with its exported label) goes stale too.
    sink.clear();
    manager.apply_jobs(vec![]);
    wait_for(&sink, "c going stale", |b| {
        b.iter().flatten().any(|s| is_stale(s) && s.labels.metric_name() == Some("c"))
    })
    .await;
    let c = sink.all().into_iter().find(|s| is_stale(s) && s.labels.metric_name() == Some("c")).unwrap();
    assert_eq!((c.labels.get("team"), c.labels.get("exported_team")), (Some("t"), Some("mine")));
    manager.shutdown().await;
}

#[tokio::test]
async fn redirects_are_followed_unless_disabled() {
    let (exporter, addr) = start_exporter().await;
    exporter.set_page("/metrics", Page { redirect: Some("/real".into()), ..Default::default() });
    exporter.set("/real", "m 7\n");
    let (mut manager, sink, _) = manager();
    manager.apply_jobs(vec![job(&format!(
        "job_name: r\nscrape_interval: 200ms\nstatic_configs: [{{targets: ['{addr}']}}]\n"
    ))]);
    wait_for(&sink, "the redirected page", |b| b.iter().any(|x| find(x, "m", &[]).is_some())).await;
    let batch = sink.batches().into_iter().find(|x| find(x, "m", &[]).is_some()).unwrap();
    assert_eq!(find(&batch, "m", &[]).unwrap().samples[0].value, 7.0);
    assert!(has_up(&batch, 1.0, &[]));
    let paths: Vec<String> = exporter.requests().into_iter().map(|r| r.path).collect();
    assert!(paths.windows(2).any(|w| w == ["/metrics", "/real"]), "{paths:?}");
    manager.shutdown().await;

    let (mut manager, sink, _) = self::manager();
    manager.apply_jobs(vec![job(&format!(
        "job_name: r\nscrape_interval: 200ms\nfollow_redirects: false\nstatic_configs: [{{targets: ['{addr}']}}]\n"
    ))]);
    wait_for(&sink, "a failed scrape", |b| b.iter().any(|x| has_up(x, 0.0, &[]))).await;
    assert!(sink.all().iter().all(|s| s.labels.metric_name() != Some("m")));
    manager.shutdown().await;
}

#[tokio::test]
async fn a_response_head_larger_than_the_read_buffer_is_fetched_through_reqwest() {
    let (exporter, addr) = start_exporter().await;
    let padding = 3 * super::plain_http::READ_BUFFER_BYTES;
    exporter.set_page(
        "/metrics",
        Page { body: b"m 7\n".to_vec(), padding_header: padding, ..Default::default() },
    );
    let (mut manager, sink, _) = manager();
    manager.apply_jobs(vec![job(&format!(
        "job_name: h\nscrape_interval: 200ms\nstatic_configs: [{{targets: ['{addr}']}}]\n"
    ))]);
    wait_for(&sink, "the sample", |b| b.iter().any(|x| find(x, "m", &[]).is_some())).await;
    let batch = sink.batches().into_iter().find(|x| find(x, "m", &[]).is_some()).unwrap();
    assert_eq!(value(&batch, "m", &[]), Some(7.0));
    assert!(has_up(&batch, 1.0, &[]));
    // The plain client's attempt, then reqwest's.
    let scrapes = exporter.requests().iter().filter(|r| r.path == "/metrics").count();
    assert!(scrapes >= 2, "{scrapes}");
    manager.shutdown().await;
}

#[tokio::test]
async fn removed_target_goes_stale_and_the_other_keeps_running() {
    let (exporter, addr) = start_exporter().await;
    exporter.set("/metrics", "m 1\n");
    let (mut manager, sink, metrics) = manager();
    let two = format!(
        "job_name: r\nscrape_interval: 300ms\nstatic_configs: [{{targets: ['{addr}'], labels: {{t: '1'}}}}, {{targets: ['{addr}'], labels: {{t: '2'}}}}]\n"
    );
    let one = format!(
        "job_name: r\nscrape_interval: 300ms\nstatic_configs: [{{targets: ['{addr}'], labels: {{t: '1'}}}}]\n"
    );
    manager.apply_jobs(vec![job(&two)]);
    wait_for(&sink, "both targets", |b| {
        b.iter().any(|x| has_up(x, 1.0, &[("t", "1")])) && b.iter().any(|x| has_up(x, 1.0, &[("t", "2")]))
    })
    .await;
    assert_eq!(metrics.targets("r"), 2);
    sink.clear();
    manager.apply_jobs(vec![job(&one)]);
    let stale_up =
        |x: &[Series], t: &str| find(x, "up", &[("t", t)]).is_some_and(|s| is_stale_nan(s.samples[0].value));
    wait_for(&sink, "t=2 going stale", |b| b.iter().any(|x| stale_up(x, "2"))).await;
    let batch = sink.batches().into_iter().find(|x| stale_up(x, "2")).unwrap();
    assert!(find(&batch, "m", &[("t", "2")]).is_some_and(|s| is_stale_nan(s.samples[0].value)));
    assert!(
        find(&batch, "scrape_duration_seconds", &[("t", "2")])
            .is_some_and(|s| is_stale_nan(s.samples[0].value))
    );
    assert_eq!(metrics.targets("r"), 1);
    // t=1 keeps scraping without interruption: never stale, never restarted.
    wait_for(&sink, "two more t=1 scrapes", |b| {
        b.iter().filter(|x| has_up(x, 1.0, &[("t", "1")])).count() >= 2
    })
    .await;
    assert!(
        sink.all()
            .iter()
            .filter(|s| s.labels.get("t") == Some("1"))
            .all(|s| !is_stale_nan(s.samples[0].value))
    );
    assert!(sink.all().iter().all(|s| s.labels.get("t") != Some("2") || is_stale_nan(s.samples[0].value)));
    // Re-applying the same config changes nothing.
    manager.apply_jobs(vec![job(&one)]);
    // Shutdown sends no staleness markers (a restarting agent must not mark its series stale).
    sink.clear();
    manager.shutdown().await;
    let all = sink.all();
    assert!(all.iter().all(|s| !is_stale_nan(s.samples[0].value)), "{all:#?}");
}

#[tokio::test]
async fn removed_job_goes_stale_but_shutdown_does_not() {
    let (exporter, addr) = start_exporter().await;
    exporter.set("/metrics", "m 1\n");
    let (mut manager, sink, _) = manager();
    let cfg = |name: &str| {
        job(&format!("job_name: {name}\nscrape_interval: 300ms\nstatic_configs: [{{targets: ['{addr}']}}]\n"))
    };
    manager.apply_jobs(vec![cfg("gone"), cfg("kept")]);
    wait_for(&sink, "both jobs", |b| {
        b.iter().any(|x| has_up(x, 1.0, &[("job", "gone")]))
            && b.iter().any(|x| has_up(x, 1.0, &[("job", "kept")]))
    })
    .await;
    manager.apply_jobs(vec![cfg("kept")]);
    let stale = |x: &[Series], name: &str, job: &str| {
        find(x, name, &[("job", job)]).is_some_and(|s| is_stale_nan(s.samples[0].value))
    };
    wait_for(&sink, "the removed job going stale", |b| {
        b.iter().any(|x| stale(x, "m", "gone") && stale(x, "up", "gone"))
    })
    .await;
    sink.clear();
    manager.shutdown().await;
    assert!(sink.all().iter().all(|s| !is_stale_nan(s.samples[0].value)), "{:#?}", sink.all());
}

/// A `params` value beyond the first of a name shows only in the URL: changing it must still
/// reach the running target (its identity includes the URL, as Prometheus's target hash does).
#[tokio::test]
async fn params_change_beyond_the_first_value_reaches_the_target() {
    let (exporter, addr) = start_exporter().await;
    exporter.set("/metrics", "m 1\n");
    let (mut manager, sink, _metrics) = manager();
    let cfg = |second: &str| {
        job(&format!(
            "job_name: p\nscrape_interval: 200ms\nparams: {{x: [a, {second}]}}\nstatic_configs: [{{targets: ['{addr}']}}]\n"
        ))
    };
    manager.apply_jobs(vec![cfg("b")]);
    wait_for(&sink, "a scrape", |b| b.iter().any(|x| has_up(x, 1.0, &[]))).await;
    manager.apply_jobs(vec![cfg("c")]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !exporter.requests().iter().any(|r| r.query == "x=a&x=c") {
        assert!(
            Instant::now() < deadline,
            "the new params never reached the target: {:?}",
            exporter.requests()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    manager.shutdown().await;
}

#[tokio::test]
async fn hidden_label_change_hands_the_cache_over_without_markers() {
    let (exporter, addr) = start_exporter().await;
    exporter.set("/metrics", "m 1\nvanishing 1\n");
    let (mut manager, sink, metrics) = manager();
    let cfg = |interval: &str| {
        job(&format!("job_name: h\nscrape_interval: {interval}\nstatic_configs: [{{targets: ['{addr}']}}]\n"))
    };
    manager.apply_jobs(vec![cfg("300ms")]);
    wait_for(&sink, "a scrape", |b| b.iter().any(|x| find(x, "vanishing", &[]).is_some())).await;
    sink.clear();
    // The interval is in the target's hidden labels: its identity changes, its public labels
    // do not. `vanishing` disappears at the same time.
    manager.apply_jobs(vec![cfg("400ms")]);
    exporter.set("/metrics", "m 1\n");
    let stale =
        |x: &[Series], name: &str| find(x, name, &[]).is_some_and(|s| is_stale_nan(s.samples[0].value));
    wait_for(&sink, "vanishing going stale", |b| b.iter().any(|x| stale(x, "vanishing"))).await;
    wait_for(&sink, "two more scrapes", |b| b.iter().filter(|x| has_up(x, 1.0, &[])).count() >= 2).await;
    let all = sink.all();
    // Only the series that really disappeared went stale, once; the rest continued.
    assert_eq!(all.iter().filter(|s| is_stale_nan(s.samples[0].value)).count(), 1, "{all:#?}");
    assert_eq!(metrics.targets("h"), 1);
    manager.shutdown().await;
}

#[tokio::test]
async fn duplicates_count_after_relabeling_and_old_timestamps_are_dropped() {
    let (exporter, addr) = start_exporter().await;
    let now = harrier_telemetry::model::now_ms();
    let old = now - 60_000;
    exporter.set("/metrics", &format!("dup 1\ndup 2\nexplicit 1 {old}\n"));
    let (mut manager, sink, metrics) = manager();
    manager.apply_jobs(vec![job(&format!(
        "job_name: ts\nscrape_interval: 300ms\nstatic_configs: [{{targets: ['{addr}']}}]\n"
    ))]);
    wait_for(&sink, "two scrapes", |b| b.iter().filter(|x| has_up(x, 1.0, &[])).count() >= 2).await;
    let batches = sink.batches();
    let first = batches.iter().find(|b| has_up(b, 1.0, &[])).unwrap();
    assert_eq!(value(first, "scrape_samples_scraped", &[]), Some(3.0));
    // Prometheus still counts the duplicate here.
    assert_eq!(value(first, "scrape_samples_post_metric_relabeling", &[]), Some(3.0));
    assert_eq!(value(first, "scrape_series_added", &[]), Some(2.0));
    assert_eq!(first.iter().filter(|s| s.labels.metric_name() == Some("dup")).count(), 1);
    assert_eq!(value(first, "dup", &[]), Some(1.0));
    // The repeated explicit timestamp is sent once only.
    let explicit: Vec<_> =
        sink.all().into_iter().filter(|s| s.labels.metric_name() == Some("explicit")).collect();
    assert_eq!(explicit.len(), 1, "{explicit:#?}");
    assert_eq!(explicit[0].samples[0].timestamp_ms, old);
    assert!(metrics.dropped("ts", "duplicate_timestamp") >= 3);

    // Older than the last one sent, then too far in the future: dropped; then a newer one.
    exporter.set("/metrics", &format!("explicit 2 {}\n", old - 1000));
    wait_for(&sink, "an out-of-order drop", |_| metrics.dropped("ts", "out_of_order") >= 1).await;
    exporter.set("/metrics", &format!("explicit 3 {}\n", now + 3_600_000));
    wait_for(&sink, "a future drop", |_| metrics.dropped("ts", "too_far_in_future") >= 1).await;
    exporter.set("/metrics", &format!("explicit 4 {}\n", old + 1000));
    wait_for(&sink, "the newer sample", |b| b.iter().any(|x| value(x, "explicit", &[]) == Some(4.0))).await;
    let values: Vec<f64> = sink
        .all()
        .into_iter()
        .filter(|s| s.labels.metric_name() == Some("explicit"))
        .map(|s| s.samples[0].value)
        .collect();
    assert!(values.iter().all(|v| *v == 1.0 || *v == 4.0), "{values:?}");
    manager.shutdown().await;
}

#[tokio::test]
async fn invalid_names_after_relabeling_fail_the_scrape() {
    let (exporter, addr) = start_exporter().await;
    exporter.set("/metrics", "m 1\n");
    let (mut manager, sink, metrics) = manager();
    let cfg = |name: &str, scheme: &str| {
        job(&format!(
            "job_name: {name}\nmetric_name_validation_scheme: {scheme}\nscrape_interval: 300ms\nstatic_configs: [{{targets: ['{addr}']}}]\nmetric_relabel_configs: [{{target_label: __name__, replacement: 'bad-name'}}]\n"
        ))
    };
    manager.apply_jobs(vec![cfg("legacy", "legacy"), cfg("utf8", "utf8")]);
    wait_for(&sink, "both jobs", |b| {
        b.iter().any(|x| has_up(x, 0.0, &[("job", "legacy")]))
            && b.iter().any(|x| has_up(x, 1.0, &[("job", "utf8")]))
    })
    .await;
    assert!(metrics.failures("legacy", "invalid_labels") >= 1);
    assert!(sink.all().iter().any(|s| s.labels.metric_name() == Some("bad-name")));
    assert!(
        sink.all()
            .iter()
            .all(|s| s.labels.metric_name() != Some("bad-name") || s.labels.get("job") == Some("utf8"))
    );
    manager.shutdown().await;
}

#[tokio::test]
async fn file_sd_reload_picks_up_a_new_target_and_survives_a_broken_file() {
    let (exporter, addr) = start_exporter().await;
    exporter.set("/metrics", "m 1\n");
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.json");
    std::fs::write(&a, format!(r#"[{{"targets": ["{addr}"], "labels": {{"t": "a"}}}}]"#)).unwrap();
    let (mut manager, sink, _) = manager();
    manager.apply_jobs(vec![job(&format!(
        "job_name: f\nscrape_interval: 300ms\nfile_sd_configs: [{{files: ['{}/*.yml', '{}/*.json']}}]\nrelabel_configs: [{{source_labels: [__meta_filepath], regex: '.*/(.*)', target_label: file}}]\n",
        dir.path().display(),
        dir.path().display()
    ))]);
    wait_for(&sink, "target a", |b| b.iter().any(|x| has_up(x, 1.0, &[("t", "a"), ("file", "a.json")])))
        .await;

    std::fs::write(dir.path().join("b.yml"), format!("- targets: ['{addr}']\n  labels:\n    t: b\n"))
        .unwrap();
    wait_for(&sink, "target b", |b| b.iter().any(|x| has_up(x, 1.0, &[("t", "b"), ("file", "b.yml")]))).await;
    let m = sink
        .all()
        .into_iter()
        .find(|s| s.labels.metric_name() == Some("m") && s.labels.get("t") == Some("b"))
        .unwrap();
    assert!(m.labels.iter().all(|l| !l.name.starts_with("__meta_")));

    // A broken file keeps its previous targets.
    std::fs::write(&a, "[{\"targets\": [").unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    sink.clear();
    wait_for(&sink, "a still scraped", |b| b.iter().filter(|x| has_up(x, 1.0, &[("t", "a")])).count() >= 2)
        .await;
    assert!(sink.all().iter().all(|s| !is_stale_nan(s.samples[0].value)));

    // A deleted file takes its targets with it.
    std::fs::remove_file(dir.path().join("b.yml")).unwrap();
    wait_for(&sink, "b going stale", |b| {
        b.iter().any(|x| find(x, "up", &[("t", "b")]).is_some_and(|s| is_stale_nan(s.samples[0].value)))
    })
    .await;
    manager.shutdown().await;
}

#[tokio::test]
async fn scrapes_of_many_targets_are_spread_over_the_interval() {
    let (exporter, addr) = start_exporter().await;
    let mut statics = String::new();
    for i in 0..4 {
        exporter.set(&format!("/m{i}"), "m 1\n");
        statics.push_str(&format!("{{targets: ['{addr}'], labels: {{__metrics_path__: '/m{i}'}}}},"));
    }
    let (manager, _sink, _) = manager();
    let mut manager = manager.with_offset_seed(0);
    manager.apply_jobs(vec![job(&format!(
        "job_name: spread\nscrape_interval: 1s\nstatic_configs: [{statics}]\n"
    ))]);
    let deadline = Instant::now() + Duration::from_secs(10);
    let firsts = loop {
        let requests = exporter.requests();
        let mut firsts: BTreeMap<String, Instant> = BTreeMap::new();
        for r in requests {
            firsts.entry(r.path).or_insert(r.at);
        }
        if firsts.len() == 4 {
            break firsts;
        }
        assert!(Instant::now() < deadline, "not all targets scraped: {firsts:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let min = firsts.values().min().unwrap();
    let max = firsts.values().max().unwrap();
    assert!(max.duration_since(*min) > Duration::from_millis(50), "all targets scraped at once: {firsts:?}");
    manager.shutdown().await;
}

#[tokio::test]
async fn basic_auth_with_password_file_reaches_the_server() {
    let (exporter, addr) = start_exporter().await;
    // base64("user:s3cret")
    let page = Page {
        body: b"m 1\n".to_vec(),
        gzip: false,
        required_auth: Some("Basic dXNlcjpzM2NyZXQ=".into()),
        ..Default::default()
    };
    exporter.set_page("/metrics", page);
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good");
    let bad = dir.path().join("bad");
    std::fs::write(&good, "s3cret\n").unwrap();
    std::fs::write(&bad, "wrong\n").unwrap();
    let (mut manager, sink, metrics) = manager();
    let cfg = |name: &str, file: &std::path::Path| {
        job(&format!(
            "job_name: {name}\nscrape_interval: 500ms\nbasic_auth: {{username: user, password_file: '{}'}}\nstatic_configs: [{{targets: ['{addr}']}}]\n",
            file.display()
        ))
    };
    manager.apply_jobs(vec![cfg("good", &good), cfg("bad", &bad)]);
    wait_for(&sink, "both jobs", |b| {
        b.iter().any(|x| has_up(x, 1.0, &[("job", "good")]))
            && b.iter().any(|x| has_up(x, 0.0, &[("job", "bad")]))
    })
    .await;
    assert!(
        sink.all().iter().any(|s| s.labels.metric_name() == Some("m") && s.labels.get("job") == Some("good"))
    );
    assert!(metrics.failures("bad", "status") >= 1);
    manager.shutdown().await;
}

// ---------------------------------------------------------------- units

#[test]
fn accept_header_matches_prometheus() {
    let protocols: Vec<String> =
        ["PrometheusProto", "OpenMetricsText1.0.0", "PrometheusText0.0.4"].map(String::from).into();
    // Prometheus would send the protobuf entry at q=0.6; Harrier leaves it out.
    assert_eq!(
        accept_header(&protocols, "underscores").unwrap(),
        "application/openmetrics-text;version=1.0.0;escaping=underscores;q=0.5,text/plain;version=0.0.4;q=0.4,*/*;q=0.3"
    );
    assert_eq!(accept_header(&["Bogus".to_string()], "underscores"), Err("Bogus".to_string()));
}

#[test]
fn job_defaults_follow_prometheus() {
    let global = GlobalConfig {
        scrape_interval: "5s".parse().unwrap(),
        sample_limit: Some(100),
        ..GlobalConfig::default()
    };
    let j = ScrapeJob::from_config(&scrape_config("job_name: d\n"), &global).unwrap();
    let s = &j.settings;
    assert_eq!(s.interval, Duration::from_secs(5));
    // The global timeout (10s) is capped at the interval.
    assert_eq!(s.timeout, Duration::from_secs(5));
    assert_eq!((s.metrics_path.as_str(), s.scheme.as_str()), ("/metrics", "http"));
    assert!(s.honor_timestamps && s.enable_compression && !s.honor_labels);
    assert_eq!(s.limits.sample, 100);
    let err = ScrapeJob::from_config(
        &scrape_config("job_name: d\nscrape_interval: 5s\nscrape_timeout: 6s\n"),
        &global,
    );
    assert!(matches!(err, Err(ScrapeError::TimeoutAboveInterval { .. })));
}

fn populate(
    target: &[(&str, &str)],
    group: &[(&str, &str)],
    job_yaml: &str,
) -> Result<Option<Target>, String> {
    let j = job(job_yaml);
    let t: BTreeMap<String, String> = target.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
    let g: BTreeMap<String, String> = group.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
    populate_labels(&t, &g, &j.settings).map_err(|e| e.to_string())
}

#[test]
fn populate_labels_like_prometheus() {
    let t = populate(
        &[("__address__", "h:9100"), ("__meta_x", "y"), ("a", "target")],
        &[("a", "group"), ("b", "group")],
        "job_name: j\nscrape_interval: 30s\nparams: {module: [m1, m2]}\n",
    )
    .unwrap()
    .unwrap();
    assert_eq!(
        t.public_labels,
        Labels::from_pairs([("a", "target"), ("b", "group"), ("instance", "h:9100"), ("job", "j")])
    );
    assert_eq!(t.labels.get("__scrape_interval__"), Some("30s"));
    assert_eq!(t.labels.get("__scrape_timeout__"), Some("10s"));
    assert_eq!(t.labels.get("__param_module"), Some("m1"));
    assert_eq!(t.labels.get("__meta_x"), None);
    assert_eq!(t.url.as_str(), "http://h:9100/metrics?module=m1&module=m2");
    assert_eq!((t.interval, t.timeout), (Duration::from_secs(30), Duration::from_secs(10)));

    // relabel_configs see the defaults, may rewrite them, and can drop the target.
    let relabeled = "job_name: j\nrelabel_configs:\n- {source_labels: [__address__], target_label: __param_target}\n- {target_label: __address__, replacement: 'exporter:9115'}\n- {source_labels: [__param_target], target_label: instance}\n- {source_labels: [drop], regex: 'yes', action: drop}\n";
    let t = populate(&[("__address__", "example.com")], &[], relabeled).unwrap().unwrap();
    assert_eq!(t.url.as_str(), "http://exporter:9115/metrics?target=example.com");
    assert_eq!(t.public_labels.get("instance"), Some("example.com"));
    assert_eq!(populate(&[("__address__", "a"), ("drop", "yes")], &[], relabeled).unwrap(), None);

    assert_eq!(populate(&[("x", "y")], &[], "job_name: j\n").unwrap_err(), "no address");
    assert!(
        populate(&[("__address__", "h/x")], &[], "job_name: j\n")
            .unwrap_err()
            .contains("not a valid hostname")
    );
    assert!(
        populate(&[("__address__", "h"), ("__scrape_timeout__", "2m")], &[], "job_name: j\n")
            .unwrap_err()
            .contains("greater than scrape interval")
    );
    // Prometheus 3 adds no default port.
    let t =
        populate(&[("__address__", "h"), ("__scheme__", "https")], &[], "job_name: j\n").unwrap().unwrap();
    assert_eq!(t.url.as_str(), "https://h/metrics");
    assert_eq!(t.public_labels.get("instance"), Some("h"));
}

#[test]
fn param_labels_override_the_first_value() {
    let labels = Labels::from_pairs([
        ("__address__", "h:1"),
        ("__scheme__", "http"),
        ("__metrics_path__", "/probe"),
        ("__param_a", "override"),
        ("__param_new", "x y"),
    ]);
    let params = BTreeMap::from([("a".to_string(), vec!["1".to_string(), "2".to_string()])]);
    assert_eq!(target_url(&labels, &params).unwrap().as_str(), "http://h:1/probe?a=override&a=2&new=x+y");
}

#[test]
fn offsets_differ_between_targets_and_stay_within_the_interval() {
    let interval = Duration::from_secs(15);
    let mut offsets = Vec::new();
    for i in 0..20 {
        let t = populate(
            &[("__address__", &format!("host-{i}:9100"))],
            &[],
            "job_name: j\nscrape_interval: 15s\n",
        )
        .unwrap()
        .unwrap();
        let now_ns = 1_700_000_000_123_456_789u128;
        let offset = t.offset(interval, 42, now_ns);
        assert!(offset <= interval);
        // Pinned to absolute time: asking later gives the same phase.
        let later = t.offset(interval, 42, now_ns + 3_000_000_000);
        assert_eq!(
            (offset.as_nanos() + 15_000_000_000 - 3_000_000_000) % 15_000_000_000,
            later.as_nanos() % 15_000_000_000
        );
        offsets.push(offset);
    }
    offsets.sort();
    offsets.dedup();
    assert_eq!(offsets.len(), 20);
    let spread = *offsets.last().unwrap() - offsets[0];
    assert!(spread > Duration::from_secs(5), "offsets bunched together: {offsets:?}");
}

#[test]
fn file_sd_formats() {
    let json = parse_file(
        "/sd/x.json",
        br#"[{"targets": ["a:1", "b:2"], "labels": {"env": "p"}}, {"targets": ["c:3"]}]"#,
    )
    .unwrap();
    assert_eq!(json.len(), 2);
    assert_eq!(json[0].targets[1]["__address__"], "b:2");
    assert_eq!(json[0].labels["env"], "p");
    assert_eq!(json[1].labels["__meta_filepath"], "/sd/x.json");
    let yaml = parse_file("/sd/x.YAML", b"- targets: ['a:1']\n  labels: {env: p}\n").unwrap();
    assert_eq!(yaml[0].targets[0]["__address__"], "a:1");
    assert!(parse_file("/sd/x.yml", b"").unwrap().is_empty());
    assert!(parse_file("/sd/x.json", br#"[{"targets": [], "extra": 1}]"#).is_err());
    assert!(parse_file("/sd/x.txt", b"[]").is_err());
}

#[test]
fn label_validation_follows_the_scheme() {
    use super::scrape_loop::labels_are_valid;
    use crate::relabel::NameValidation::{Legacy, Utf8};
    let ok = Labels::from_pairs([("__name__", "ns:metric_total"), ("a_1", "x")]);
    assert!(labels_are_valid(&ok, Legacy) && labels_are_valid(&ok, Utf8));
    let dotted = Labels::from_pairs([("__name__", "m"), ("a.b", "x")]);
    assert!(!labels_are_valid(&dotted, Legacy) && labels_are_valid(&dotted, Utf8));
    let bad_name = Labels::from_pairs([("__name__", "1m")]);
    assert!(!labels_are_valid(&bad_name, Legacy) && labels_are_valid(&bad_name, Utf8));
    let empty_name = Labels::from_pairs([("__name__", "m"), ("", "x")]);
    assert!(!labels_are_valid(&empty_name, Utf8) && !labels_are_valid(&empty_name, Legacy));
}

#[test]
fn kept_bodies_are_deflated_unless_the_target_churns_and_recompressed_once_they_last() {
    use super::cache::{BodyCodec, PreviousBody};
    use harrier_telemetry::exposition::Format;
    let body: String = (0..2000)
        .map(|i| {
            format!(
                "http_requests_total{{method=\"GET\",code=\"{}\",path=\"/api/v{}\"}} {}\n",
                200 + i % 7,
                i % 13,
                i * 7919 % 100_003
            )
        })
        .collect();
    let blanked = body.lines().map(|l| format!("{} 1\n", l.rsplit_once(' ').unwrap().0)).collect::<String>();
    let settings = job("job_name: k\nstatic_configs: [{targets: ['x:1']}]\n").settings;
    let first =
        PreviousBody::new(body.as_bytes(), Format::PrometheusText, Arc::clone(&settings), BodyCodec::Deflate);
    let first = first.unwrap();
    assert_eq!(String::from_utf8(first.body().unwrap()).unwrap(), blanked);
    // A target's first body is deflated at once; the successor of a body that lasted less than
    // three scrapes gets snappy, of one that lasted three deflate.
    assert_eq!(BodyCodec::for_successor(None), BodyCodec::Deflate);
    assert_eq!(BodyCodec::for_successor(Some(&first)), BodyCodec::Snappy);
    let mut kept =
        PreviousBody::new(body.as_bytes(), Format::PrometheusText, settings, BodyCodec::Snappy).unwrap();
    let snappy = kept.compressed_len();
    assert_eq!(kept.body().unwrap(), body.as_bytes());
    kept.settle();
    kept.settle();
    assert_eq!(kept.compressed_len(), snappy, "still snappy after two scrapes");
    kept.settle();
    let deflated = kept.compressed_len();
    assert!(deflated * 3 < snappy, "deflate {deflated} bytes, snappy {snappy}");
    assert_eq!(deflated, first.compressed_len());
    assert_eq!(BodyCodec::for_successor(Some(&kept)), BodyCodec::Deflate);
    assert_eq!(String::from_utf8(kept.body().unwrap()).unwrap(), blanked);
    kept.settle();
    assert_eq!(kept.compressed_len(), deflated);
}

#[test]
fn a_deflated_kept_body_yields_the_same_series_in_both_formats() {
    use super::cache::{BodyCodec, PreviousBody};
    use harrier_telemetry::exposition::{Format, Parser};
    let settings = job("job_name: k\nstatic_configs: [{targets: ['x:1']}]\n").settings;
    let text = "# HELP h A histogram.\n# TYPE h histogram\nh_bucket{le=\"1\"} 2 1700000000000\nh_bucket{le=\"+Inf\"} 3\nh_sum 4.5\nh_count 3\na{b=\"x y\\\"}\",c=\"\\n\"} -Inf\nno_newline_at_end 7";
    // An exemplar's quoted label name may hold a raw newline.
    let openmetrics = "# TYPE c counter\nc_total{x=\"1\"} 3 # {trace_id=\"abc\"} 0.5 1700000000.1\nc_created{x=\"1\"} 1700000000\n# TYPE d counter\nd_total 3 # {\"a\nb\"=\"x\"} 1\n# TYPE i info\ni_info{v=\"2\"} 1\n# TYPE s stateset\ns{s=\"a\"} 0\ns{s=\"b\"} 1\n# TYPE g gauge\ng NaN 1700000000.5\n# EOF\n";
    for (body, format) in [(text, Format::PrometheusText), (openmetrics, Format::OpenMetrics)] {
        let series = |input: &[u8]| {
            let mut parser = Parser::new(input, format);
            let mut out = Vec::new();
            while parser.advance().unwrap() {
                let labels: Vec<(String, String)> =
                    parser.labels().map(|(n, v)| (n.to_string(), v.into_owned())).collect();
                out.push((parser.metric_name().to_string(), labels, parser.metric_type()));
            }
            out
        };
        let kept =
            PreviousBody::new(body.as_bytes(), format, Arc::clone(&settings), BodyCodec::Deflate).unwrap();
        let blanked = kept.body().unwrap();
        assert_ne!(blanked, body.as_bytes(), "values blanked out");
        assert_eq!(series(&blanked), series(body.as_bytes()), "{}", String::from_utf8_lossy(&blanked));
        assert!(series(body.as_bytes()).len() >= 6);
    }
}

#[test]
fn cache_is_flushed_when_failing_scrapes_churn() {
    use super::cache::{Admission, ScrapeCache};
    let mut cache = ScrapeCache::default();
    let labels = Labels::from_pairs([("__name__", "steady")]);
    let hash = cache.hash_labels(&labels);
    assert!(matches!(
        cache.admit(b"steady", hash, Some(labels), 1, 1, true),
        Admission::Accepted { new: true, .. }
    ));
    cache.finish_success(1);
    for scrape in 0..10u32 {
        for i in 0..600u32 {
            let key = format!("churn{{s=\"{scrape}\",i=\"{i}\"}}");
            let l = Labels::from_pairs([
                ("__name__", "churn"),
                ("s", &scrape.to_string()),
                ("i", &i.to_string()),
            ]);
            let h = cache.hash_labels(&l);
            cache.admit(key.as_bytes(), h, Some(l), 2, 2, true);
        }
        cache.finish_failure(2);
        // Without the forced flush this would reach 6001 entries.
        assert!(cache.len() <= 2 + 1000 + 600, "scrape {scrape}: {} entries", cache.len());
    }
}

#[test]
fn undo_buffers_live_only_while_a_scrape_records() {
    use super::cache::{BuiltAdmission, ScrapeCache};
    let (mut first, mut second) = (ScrapeCache::default(), ScrapeCache::default());
    let hashes: Vec<u64> = (0..3000u64).map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15)).collect();
    for &hash in &hashes {
        assert_eq!(first.admit_built(hash, 1000, 1000, true), BuiltAdmission::Accepted { new: true });
    }
    assert!(first.undo_capacity() >= 3000);
    first.finish_success(1000);
    assert_eq!(first.undo_capacity(), 0, "released with the scrape");
    // The next scrape on this thread, of another target, takes the buffer over.
    second.admit_built(1, 1000, 1000, true);
    assert!(second.undo_capacity() >= 3000, "the pooled buffer");
    second.finish_success(1000);
    // A failed scrape still rolls back everything it recorded, then releases the buffer.
    // (Explicit timestamps ahead of the scrape's, so that a rollback shows.)
    for &hash in &hashes {
        assert_eq!(first.admit_built(hash, 5000, 2000, true), BuiltAdmission::Accepted { new: false });
    }
    assert!(first.admit_built(7, 2000, 2000, true) == BuiltAdmission::Accepted { new: true });
    first.finish_failure(2000);
    assert_eq!(first.undo_capacity(), 0);
    assert_eq!(first.series_count(), hashes.len(), "the new series is gone");
    // A scrape cancelled half-way (its loop stopped): rolled back like a failed one, so that
    // the next scrape (a successor's, which inherits the cache) does not take its series for
    // duplicates of that unfinished one.
    let mut third = ScrapeCache::default();
    third.admit_built(1, 1000, 1000, true);
    third.finish_success(1000);
    third.admit_built(1, 2000, 2000, true);
    third.admit_built(2, 2000, 2000, true);
    assert!(third.touch(1).present);
    third.abandon_unfinished();
    assert_eq!(third.undo_capacity(), 0);
    assert_eq!(third.series_count(), 1, "the unfinished scrape's new series is gone");
    assert!(!third.touch(1).present);
    assert_eq!(third.admit_built(1, 2000, 2000, true), BuiltAdmission::Accepted { new: false });
    for &hash in &hashes {
        // 5000 was rolled back: 4000 is not out of order.
        assert!(matches!(first.admit_built(hash, 4000, 3000, true), BuiltAdmission::Accepted { .. }));
    }
}

#[test]
fn timestamp_guard_rolls_back_failed_scrapes_and_suppresses_old_markers() {
    use super::cache::{Admission, Lookup, ScrapeCache};
    let mut cache = ScrapeCache::default();
    let labels = Labels::from_pairs([("__name__", "c")]);
    let hash = cache.hash_labels(&labels);
    // A scrape at 1000 carrying an explicit timestamp ahead of it (tracked for staleness).
    assert!(matches!(
        cache.admit(b"c", hash, Some(labels.clone()), 5000, 1000, true),
        Admission::Accepted { .. }
    ));
    cache.finish_success(1000);
    assert_eq!(cache.lookup(b"c"), Lookup::Kept(hash));
    assert_eq!(cache.admit(b"c", hash, None, 5000, 2000, true), Admission::DuplicateTimestamp);
    assert_eq!(cache.admit(b"c", hash, None, 4000, 2000, true), Admission::OutOfOrder);
    // The series vanishes at 3000: its marker would be older than its last sample: not sent.
    assert!(cache.finish_success(2000).is_empty());
    assert!(cache.finish_success(3000).is_empty());
    assert_eq!(cache.series_labels(hash), Some(&labels));

    // A failed scrape's timestamps are rolled back: the sample is sent again next time.
    assert!(matches!(cache.lookup(b"c"), Lookup::Kept(_) | Lookup::Miss));
    assert!(matches!(
        cache.admit(b"c", hash, Some(labels.clone()), 6000, 4000, true),
        Admission::Accepted { .. }
    ));
    assert!(cache.finish_failure(4000).is_empty());
    let built = (cache.lookup(b"c") == Lookup::Miss).then(|| labels.clone());
    assert!(matches!(cache.admit(b"c", hash, built, 6000, 5000, true), Admission::Accepted { .. }));
    // Gone after a successful scrape at 7000: a marker at 7000 (newer than 6000).
    cache.finish_success(5000);
    assert_eq!(cache.finish_success(7000), vec![labels]);
}

#[test]
fn identity_hasher_passes_u64_keys_through() {
    use super::cache::IdentityHasher;
    use std::hash::{BuildHasher, BuildHasherDefault};
    let build = BuildHasherDefault::<IdentityHasher>::default();
    assert_eq!(build.hash_one(0xdead_beef_u64), 0xdead_beef);
}

#[tokio::test]
async fn file_sd_poll_panic_rebuilds_the_discovery_from_the_job() {
    use super::discovery::JobDiscovery;
    use super::manager::poll_discovery_with;
    use std::sync::atomic::{AtomicBool, Ordering};
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("t.yml"), "- targets: ['file:1']\n").unwrap();
    let j = job(&format!(
        "job_name: p\nstatic_configs: [{{targets: ['static:1']}}]\nfile_sd_configs: [{{files: ['{}/*.yml']}}]\n",
        dir.path().display()
    ));
    let settings = &j.settings;
    let addresses = |d: &JobDiscovery| -> Vec<String> {
        let mut out: Vec<String> =
            d.groups().flat_map(|g| g.targets.iter().map(|t| t["__address__"].clone())).collect();
        out.sort();
        out
    };
    let empty = || JobDiscovery::new(&[], &[]);
    // A discovery whose first poll panics (an empty one would mean the job lost its targets).
    static PANICKED: AtomicBool = AtomicBool::new(false);
    fn panic_once(d: &mut JobDiscovery, now: Instant) -> bool {
        if !PANICKED.swap(true, Ordering::SeqCst) {
            panic!("poll failed");
        }
        d.poll(now)
    }
    let broken = JobDiscovery::new(&[], &settings.file_sd_configs);
    let (discovery, changed) = poll_discovery_with(broken, settings, panic_once).await;
    assert!(changed);
    assert_eq!(addresses(&discovery), ["file:1", "static:1"]);
    fn always_panic(_: &mut JobDiscovery, _: Instant) -> bool {
        panic!("poll failed")
    }
    let broken = JobDiscovery::new(&[], &settings.file_sd_configs);
    let (discovery, changed) = poll_discovery_with(broken, settings, always_panic).await;
    // Unchanged, so the running targets stay; the rebuilt discovery keeps the static targets.
    assert!(!changed && discovery.has_files());
    assert_eq!(addresses(&discovery), ["static:1"]);
    assert!(addresses(&empty()).is_empty());
}
