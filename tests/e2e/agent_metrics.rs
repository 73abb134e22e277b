//! The agent's metrics path end to end: node_exporter and test targets scraped by
//! `harrier agent`, written with remote_write into Debian's Prometheus, checked through
//! Prometheus's query API.

use crate::support::{Agent, LabelSet, NodeExporter, Prometheus, http, run_harrier, wait_for};
use crate::target::TestTarget;
use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

fn write_config(dir: &Path, yaml: &str) -> std::path::PathBuf {
    let path = dir.join("agent.yml");
    std::fs::write(&path, yaml).expect("write agent config");
    path
}

/// node_exporter's exposition, as the label sets Prometheus should hold for job "node".
async fn node_exporter_series(
    node: &NodeExporter,
    dropped: &regex_lite::Regex,
) -> Result<BTreeSet<LabelSet>, String> {
    let body = http()
        .get(node.metrics_url())
        .send()
        .await
        .map_err(|e| e.to_string())?
        .bytes()
        .await
        .map_err(|e| e.to_string())?;
    let samples = harrier_telemetry::exposition::parse_all(
        &body,
        harrier_telemetry::exposition::Format::PrometheusText,
    )
    .map_err(|e| e.to_string())?;
    Ok(samples
        .into_iter()
        .filter(|s| !dropped.is_match(s.labels.metric_name().unwrap_or_default()))
        .map(|s| {
            let mut set: LabelSet =
                s.labels.iter().map(|l| (l.name.to_string(), l.value.to_string())).collect();
            set.insert("job".into(), "node".into());
            set.insert("instance".into(), node.address());
            set
        })
        .collect())
}

/// Waits until Prometheus holds every value 1..=`served` of a `TestTarget::counter` series
/// (except `may_miss`, a scrape that was in flight when the agent was killed).
async fn wait_for_every_value(
    prom: &Prometheus,
    series: &str,
    served: u64,
    may_miss: Option<u64>,
    timeout: Duration,
) {
    let query = format!("{series}[30m]");
    wait_for(&format!("every value of {series} in Prometheus"), timeout, || async {
        let r = prom.raw_samples(&query).await?;
        let values: BTreeSet<u64> = r.iter().flat_map(|(_, vs)| vs.iter().map(|(_, v)| *v as u64)).collect();
        let missing: Vec<u64> =
            (1..=served).filter(|v| !values.contains(v) && Some(*v) != may_miss).collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{} of {served} values missing, first: {:?}",
                missing.len(),
                &missing[..missing.len().min(10)]
            ))
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_exporter_and_host_metrics_arrive_in_prometheus() {
    let dir = tempfile::tempdir().expect("tempdir");
    let prom = Prometheus::start(&dir.path().join("prom")).await;
    let node = NodeExporter::start(dir.path(), &[]).await;
    let config = write_config(
        dir.path(),
        &format!(
            r#"
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: node
    static_configs:
      - targets: ["{node}"]
    metric_relabel_configs:
      - source_labels: [__name__]
        regex: "go_.*"
        action: drop
remote_write:
  - url: {rw}
    queue_config:
      batch_send_deadline: 500ms
      max_backoff: 1s
host_metrics:
  job_name: harrier-host
  interval: 1s
"#,
            node = node.address(),
            rw = prom.remote_write_url()
        ),
    );
    let agent = Agent::start(&config, &dir.path().join("data"), dir.path().join("agent.log")).await;

    wait_for("up{job=\"node\"} == 1", Duration::from_secs(60), || async {
        let r = prom.query(r#"up{job="node"}"#).await?;
        if r.len() == 1 && r[0].1 == 1.0 { Ok(()) } else { Err(format!("{r:?}")) }
    })
    .await;

    // The series Prometheus holds for the job equal what node_exporter exposes now, minus what
    // metric_relabel_configs dropped. Series can come and go between the two reads, so poll.
    let dropped = regex_lite::Regex::new("^go_.*$").expect("regex");
    wait_for("node_exporter's series set in Prometheus", Duration::from_secs(60), || async {
        let expected = node_exporter_series(&node, &dropped).await?;
        let got: BTreeSet<LabelSet> = prom
            .query(r#"{job="node", __name__!~"up|scrape_.*"}"#)
            .await?
            .into_iter()
            .map(|(mut l, _)| {
                l.remove("__name__").map(|n| l.insert("__name__".into(), n));
                l
            })
            .collect();
        if got == expected {
            return Ok(());
        }
        let missing: Vec<_> = expected.difference(&got).take(5).collect();
        let extra: Vec<_> = got.difference(&expected).take(5).collect();
        Err(format!(
            "{} expected, {} in Prometheus; missing (first 5): {missing:?}; unexpected (first 5): {extra:?}",
            expected.len(),
            got.len()
        ))
    })
    .await;
    let go = prom.query(r#"{job="node", __name__=~"go_.*"}"#).await.expect("query");
    assert!(go.is_empty(), "metric_relabel_configs should have dropped go_* series: {go:?}");

    // A counter increases over time: cpu 0's time over all modes (idle alone stands still while
    // the machine is fully busy, as it can be under CI).
    let cpu0 = r#"sum(node_cpu_seconds_total{job="node", cpu="0"})"#;
    let first = prom.query(cpu0).await.expect("query")[0].1;
    wait_for("node_cpu_seconds_total to increase", Duration::from_secs(30), || async {
        let now = prom.query(cpu0).await?;
        match now.first() {
            Some((_, v)) if *v > first => Ok(()),
            other => Err(format!("first {first}, now {other:?}")),
        }
    })
    .await;

    // The agent's own host metrics arrive under their own job.
    for q in [
        r#"node_memory_MemTotal_bytes{job="harrier-host"} > 0"#,
        r#"node_cpu_seconds_total{job="harrier-host", mode="idle"}"#,
        r#"node_load1{job="harrier-host"}"#,
    ] {
        wait_for(q, Duration::from_secs(30), || async {
            let r = prom.query(q).await?;
            if r.is_empty() { Err("no result".into()) } else { Ok(()) }
        })
        .await;
    }

    // Self-metrics are exposed with the harrier_agent_ prefix.
    let own = agent.self_metrics().await;
    for name in ["harrier_agent_scrapes_total", "harrier_agent_remote_write_samples_total"] {
        assert!(own.contains(name), "self-metrics lack {name}:\n{own}");
    }
}

/// Prometheus goes away for more than 60 s while the agent scrapes every second; when it
/// returns, every value the target served is in Prometheus. With `kill_agent`, the agent is
/// also killed with SIGKILL during the outage and restarted on the same data directory.
async fn outage_loses_nothing(kill_agent: bool) {
    let dir = tempfile::tempdir().expect("tempdir");
    let prom_dir = dir.path().join("prom");
    let mut prom = Prometheus::start(&prom_dir).await;
    let port = prom.port;
    let target = TestTarget::counter().await;
    let config = write_config(
        dir.path(),
        &format!(
            r#"
global:
  scrape_interval: 1s
  scrape_timeout: 900ms
scrape_configs:
  - job_name: outage
    static_configs:
      - targets: ["{target}"]
remote_write:
  - url: {rw}
    queue_config:
      batch_send_deadline: 500ms
      min_backoff: 50ms
      max_backoff: 1s
host_metrics:
  enabled: false
"#,
            target = target.addr,
            rw = prom.remote_write_url()
        ),
    );
    let data = dir.path().join("data");
    let mut agent = Agent::start(&config, &data, dir.path().join("agent-1.log")).await;
    let series = r#"harrier_test_scrapes_total{job="outage"}"#;
    wait_for("first samples in Prometheus", Duration::from_secs(30), || async {
        let r = prom.query(series).await?;
        if r.first().is_some_and(|(_, v)| *v >= 3.0) { Ok(()) } else { Err(format!("{r:?}")) }
    })
    .await;

    assert!(prom.proc.terminate(Duration::from_secs(30)).is_some(), "prometheus did not stop");
    let outage_start = Instant::now();
    let mut lost_in_flight = None;
    if kill_agent {
        let before = target.served();
        wait_for("scrapes during the outage", Duration::from_secs(40), || async {
            if target.served() >= before + 20 { Ok(()) } else { Err(format!("{}", target.served())) }
        })
        .await;
        agent.proc.kill9();
        // The scrape answered last may have been in flight when the agent died: that one
        // value may be missing; every earlier one must arrive.
        lost_in_flight = Some(target.served());
        agent = Agent::start(&config, &data, dir.path().join("agent-2.log")).await;
    }
    let outage = Duration::from_secs(65);
    tokio::time::sleep(outage.saturating_sub(outage_start.elapsed())).await;
    assert!(agent.proc.is_running(), "agent died during the outage:\n{}", agent.proc.log_text());

    let prom = Prometheus::start_on(&prom_dir, port).await;
    let served = target.served();
    wait_for_every_value(&prom, series, served, lost_in_flight, Duration::from_secs(120)).await;
    drop(agent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_outage_loses_no_scrape() {
    outage_loses_nothing(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_outage_with_agent_kill9_loses_no_scrape() {
    outage_loses_nothing(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_target_is_down_and_named_in_the_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let prom = Prometheus::start(&dir.path().join("prom")).await;
    let bad = TestTarget::fixed("# TYPE ok_total counter\nok_total 1\nthis is { not exposition\n").await;
    let good = TestTarget::counter().await;
    let config = write_config(
        dir.path(),
        &format!(
            r#"
global:
  scrape_interval: 1s
  scrape_timeout: 900ms
scrape_configs:
  - job_name: bad
    static_configs: [{{targets: ["{bad}"]}}]
  - job_name: good
    static_configs: [{{targets: ["{good}"]}}]
remote_write:
  - url: {rw}
    queue_config: {{batch_send_deadline: 500ms}}
host_metrics: {{enabled: false}}
"#,
            bad = bad.addr,
            good = good.addr,
            rw = prom.remote_write_url()
        ),
    );
    let mut agent = Agent::start(&config, &dir.path().join("data"), dir.path().join("agent.log")).await;
    wait_for("up == 0 for the bad target, 1 for the good one", Duration::from_secs(60), || async {
        let bad = prom.query(r#"up{job="bad"}"#).await?;
        let good = prom.query(r#"up{job="good"}"#).await?;
        if bad.first().map(|r| r.1) == Some(0.0) && good.first().map(|r| r.1) == Some(1.0) {
            Ok(())
        } else {
            Err(format!("bad {bad:?} good {good:?}"))
        }
    })
    .await;
    let log = agent.proc.log_text();
    let url = format!("http://{}/metrics", bad.addr);
    let line =
        log.lines().find(|l| l.contains(&url)).unwrap_or_else(|| panic!("no log line names {url}:\n{log}"));
    assert!(line.contains("line 3"), "the log line should name line 3 of the body: {line}");
    // The agent goes on: the good target keeps arriving.
    let before = good.served();
    wait_for("more scrapes of the good target", Duration::from_secs(10), || async {
        if good.served() > before + 2 { Ok(()) } else { Err(good.served().to_string()) }
    })
    .await;
    assert!(agent.proc.is_running());
}

#[test]
fn harrier_check_names_file_line_and_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = [
        (
            "unknown-field.yml",
            "global:\n  scrape_interval: 15s\nscrape_configs:\n  - job_name: a\n    scrape_intervall: 5s\n",
            5,
            "scrape_intervall",
        ),
        (
            "bad-regex.yml",
            "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - source_labels: [x]\n        regex: \"a(b\"\n",
            5,
            "scrape_configs[0].relabel_configs[0].regex",
        ),
        (
            "bad-duration.yml",
            "global:\n  scrape_interval: 15s\nscrape_configs:\n  - job_name: a\n    scrape_interval: 5x\n",
            5,
            "scrape_configs[0].scrape_interval",
        ),
    ];
    for (name, yaml, line, field) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, yaml).expect("write");
        let (code, out) = run_harrier(&["check", path.to_str().expect("utf-8 path")]);
        assert_eq!(code, 1, "{name}: harrier check should fail:\n{out}");
        let at = format!("{}:{line}:", path.display());
        assert!(out.contains(&at), "{name}: message should name {at}:\n{out}");
        assert!(out.contains(field), "{name}: message should name {field}:\n{out}");
    }
    let good = dir.path().join("good.yml");
    std::fs::write(
        &good,
        "scrape_configs:\n  - job_name: a\n    static_configs: [{targets: [\"localhost:9100\"]}]\n",
    )
    .expect("write");
    let (code, out) = run_harrier(&["check", good.to_str().expect("utf-8 path")]);
    assert_eq!(code, 0, "{out}");
}

/// `/-/reload` applies a changed config (a new job, a changed remote_write queue that keeps
/// its disk buffer) without losing a scrape, rejects a bad one and keeps running on the old,
/// and SIGTERM stops the agent cleanly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_and_graceful_shutdown() {
    let dir = tempfile::tempdir().expect("tempdir");
    let prom = Prometheus::start(&dir.path().join("prom")).await;
    let a = TestTarget::counter().await;
    let b = TestTarget::counter().await;
    let config_text = |jobs: &str, max_samples: u32| {
        format!(
            r#"
global:
  scrape_interval: 1s
  scrape_timeout: 900ms
scrape_configs:
{jobs}
remote_write:
  - url: {rw}
    name: main
    queue_config: {{batch_send_deadline: 500ms, max_samples_per_send: {max_samples}}}
host_metrics: {{enabled: false}}
"#,
            rw = prom.remote_write_url()
        )
    };
    // Job a scrapes every 100 ms, so queue restarts during the reloads below happen while
    // its samples keep coming.
    let job_a = format!(
        "  - job_name: a\n    scrape_interval: 100ms\n    scrape_timeout: 90ms\n    static_configs: [{{targets: [\"{}\"]}}]\n",
        a.addr
    );
    let job_b = format!("  - job_name: b\n    static_configs: [{{targets: [\"{}\"]}}]\n", b.addr);
    let config = write_config(dir.path(), &config_text(&job_a, 2000));
    let mut agent = Agent::start(&config, &dir.path().join("data"), dir.path().join("agent.log")).await;
    let reload_url = format!("http://127.0.0.1:{}/-/reload", agent.port);
    wait_for("up{job=\"a\"} == 1", Duration::from_secs(30), || async {
        let r = prom.query(r#"up{job="a"}"#).await?;
        if r.first().is_some_and(|(_, v)| *v == 1.0) { Ok(()) } else { Err(format!("{r:?}")) }
    })
    .await;

    // A new job and a changed queue (same name, so the same disk buffer).
    write_config(dir.path(), &config_text(&format!("{job_a}{job_b}"), 500));
    let resp = http().post(&reload_url).send().await.expect("reload");
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap_or_default());
    wait_for("up{job=\"b\"} == 1", Duration::from_secs(30), || async {
        let r = prom.query(r#"up{job="b"}"#).await?;
        if r.first().is_some_and(|(_, v)| *v == 1.0) { Ok(()) } else { Err(format!("{r:?}")) }
    })
    .await;

    // Restart the queue again and again (max_samples_per_send changes each time).
    for round in 0..10u32 {
        write_config(dir.path(), &config_text(&format!("{job_a}{job_b}"), 600 + round));
        let resp = http().post(&reload_url).send().await.expect("reload");
        assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap_or_default());
        tokio::time::sleep(Duration::from_millis(150)).await;
    }

    // A bad config is refused with its location, and the running config stays.
    let path = write_config(dir.path(), "scrape_configs:\n  - job_name: a\n    scrape_interval: 5x\n");
    let resp = http().post(&reload_url).send().await.expect("reload");
    assert_eq!(resp.status(), 500);
    let text = resp.text().await.unwrap_or_default();
    assert!(text.contains(&format!("{}:3:", path.display())), "{text}");
    assert!(agent.self_metrics().await.contains("harrier_agent_config_last_reload_successful 0"));
    let before = a.served();
    wait_for("job a still scraped", Duration::from_secs(10), || async {
        if a.served() > before + 2 { Ok(()) } else { Err(a.served().to_string()) }
    })
    .await;

    // Not one scrape of job a was lost across the reload that restarted the queue.
    let served = a.served();
    wait_for_every_value(
        &prom,
        r#"harrier_test_scrapes_total{job="a"}"#,
        served,
        None,
        Duration::from_secs(30),
    )
    .await;

    let status = agent.proc.terminate(Duration::from_secs(20)).expect("agent should stop on SIGTERM");
    assert!(status.success(), "exit status {status:?}:\n{}", agent.proc.log_text());
    let log = agent.proc.log_text();
    assert!(!log.contains("still referenced"), "shutdown was not graceful:\n{log}");
    assert!(log.contains("harrier agent stopped"), "{log}");
}

/// A queue removed by one reload and added back by the next, while its backend is down (so
/// the old sink is still draining within its grace period), starts once the old one lets go
/// of the disk buffer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_removed_then_re_added_while_draining() {
    let dir = tempfile::tempdir().expect("tempdir");
    let down = format!("http://127.0.0.1:{}/api/v1/write", crate::support::free_port());
    let target = TestTarget::counter().await;
    let with_queue = format!(
        "global: {{scrape_interval: 200ms, scrape_timeout: 100ms}}\nscrape_configs:\n  - job_name: t\n    static_configs: [{{targets: [\"{}\"]}}]\nremote_write:\n  - url: {down}\n    name: q\nhost_metrics: {{enabled: false}}\n",
        target.addr
    );
    let without_queue = with_queue.split("remote_write:").next().unwrap_or_default().to_string()
        + "host_metrics: {enabled: false}\n";
    let config = write_config(dir.path(), &with_queue);
    let agent = Agent::start(&config, &dir.path().join("data"), dir.path().join("agent.log")).await;
    let reload_url = format!("http://127.0.0.1:{}/-/reload", agent.port);
    let before = target.served();
    wait_for("some scrapes", Duration::from_secs(10), || async {
        if target.served() > before + 2 { Ok(()) } else { Err(target.served().to_string()) }
    })
    .await;
    write_config(dir.path(), &without_queue);
    let resp = http().post(&reload_url).send().await.expect("reload");
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap_or_default());
    write_config(dir.path(), &with_queue);
    let resp = crate::support::http_with_timeout(Duration::from_secs(30))
        .post(&reload_url)
        .send()
        .await
        .expect("reload");
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap_or_default());
}
