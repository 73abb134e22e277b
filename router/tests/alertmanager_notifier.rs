//! The notifier against a real Alertmanager (Debian's `prometheus-alertmanager`): alerts posted
//! with the v2 API come back from `GET /api/v2/alerts` as sent.
//!
//! Needs `/usr/bin/prometheus-alertmanager` (`apt-get install prometheus-alertmanager`, which
//! scripts/test.sh is meant to do); the test fails rather than skips when it is missing.

use harrier_router::alerts::{Alert, AlertSink, AlertingConfig, Notifier, NotifierOptions};
use harrier_telemetry::model::Labels;
use prometheus_client::registry::Registry;
use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio_util::sync::CancellationToken;

const ALERTMANAGER: &str = "/usr/bin/prometheus-alertmanager";

/// Kills the Alertmanager when the test ends, however it ends.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    match std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()) {
        Ok(addr) => addr.port(),
        Err(e) => panic!("cannot find a free port: {e}"),
    }
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Starts Alertmanager on a free port with a null receiver, clustering off, its data in `dir`.
fn start_alertmanager(dir: &Path) -> (KillOnDrop, u16) {
    assert!(
        Path::new(ALERTMANAGER).exists(),
        "{ALERTMANAGER} not found: run scripts/test.sh (it installs the test peers), or \
         `sudo apt-get install -y prometheus-alertmanager`"
    );
    let config = dir.join("alertmanager.yml");
    let yaml = "route:\n  receiver: \"null\"\nreceivers:\n  - name: \"null\"\n";
    if let Err(e) = std::fs::write(&config, yaml) {
        panic!("cannot write {}: {e}", config.display());
    }
    let log = match std::fs::File::create(dir.join("alertmanager.log")) {
        Ok(f) => f,
        Err(e) => panic!("cannot create the log file: {e}"),
    };
    let log_err = match log.try_clone() {
        Ok(f) => f,
        Err(e) => panic!("{e}"),
    };
    let port = free_port();
    let child = Command::new(ALERTMANAGER)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .arg(format!("--storage.path={}", dir.join("data").display()))
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .spawn();
    match child {
        Ok(child) => (KillOnDrop(child), port),
        Err(e) => panic!("cannot start {ALERTMANAGER}: {e}"),
    }
}

async fn wait_ready(client: &reqwest::Client, base: &str, dir: &Path) {
    for _ in 0..200 {
        if let Ok(resp) = client.get(format!("{base}/-/ready")).send().await
            && resp.status().is_success()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = std::fs::read_to_string(dir.join("alertmanager.log")).unwrap_or_default();
    panic!("Alertmanager at {base} not ready after 20s; its log:\n{log}");
}

fn format_ms(ms: i64) -> String {
    // The format the notifier sends and Alertmanager returns: RFC 3339 with milliseconds, UTC.
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}

#[tokio::test]
async fn alerts_reach_a_real_alertmanager() {
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("{e}"),
    };
    let (_am, port) = start_alertmanager(dir.path());
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    wait_ready(&client, &base, dir.path()).await;

    let yaml = format!(
        "alertmanagers:\n  - static_configs:\n      - targets: [\"127.0.0.1:{port}\"]\n    timeout: 5s\n"
    );
    let cfg: AlertingConfig = match yaml_serde::from_str(&yaml) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    };
    let mut registry = Registry::default();
    let external = Labels::from_pairs([("cluster", "it-1")]);
    let notifier = match Notifier::new(&cfg, &external, NotifierOptions::default(), &mut registry) {
        Ok(n) => Arc::new(n),
        Err(e) => panic!("{e}"),
    };
    let cancel = CancellationToken::new();
    let task = tokio::spawn(notifier.clone().run(cancel.clone()));

    let now = now_ms();
    let firing = Alert {
        labels: Labels::from_pairs([("alertname", "HarrierFiring"), ("severity", "page"), ("job", "api")]),
        annotations: Labels::from_pairs([("summary", "api is down"), ("runbook", "https://runbooks/api")]),
        starts_at_ms: Some(now - 60_123),
        // What rule evaluation sets for a firing alert: now + 4 * resend_delay.
        ends_at_ms: Some(now + 4 * 60_000),
        generator_url: "http://harrier-router:9090/graph?g0.expr=up+%3D%3D+0&g0.tab=1".to_string(),
    };
    let resolved = Alert {
        labels: Labels::from_pairs([("alertname", "HarrierResolved"), ("severity", "ticket")]),
        annotations: Labels::from_pairs([("summary", "was slow")]),
        starts_at_ms: Some(now - 600_000),
        ends_at_ms: Some(now - 30_000),
        generator_url: "http://harrier-router:9090/graph?g0.expr=slow".to_string(),
    };
    notifier.send(vec![firing.clone(), resolved]);

    let mut alerts: Vec<Value> = Vec::new();
    for _ in 0..100 {
        let body = match client.get(format!("{base}/api/v2/alerts")).send().await {
            Ok(resp) => resp.bytes().await.unwrap_or_default(),
            Err(_) => Default::default(),
        };
        if let Ok(list) = serde_json::from_slice::<Vec<Value>>(&body) {
            alerts = list;
            if alerts.iter().any(|a| a["labels"]["alertname"] == "HarrierFiring") {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let got = alerts.iter().find(|a| a["labels"]["alertname"] == "HarrierFiring");
    let Some(got) = got else {
        panic!("the firing alert did not reach Alertmanager; it has: {alerts:#?}");
    };
    assert_eq!(
        got["labels"],
        serde_json::json!({"alertname": "HarrierFiring", "severity": "page", "job": "api", "cluster": "it-1"})
    );
    assert_eq!(
        got["annotations"],
        serde_json::json!({"summary": "api is down", "runbook": "https://runbooks/api"})
    );
    assert_eq!(got["startsAt"].as_str(), Some(format_ms(now - 60_123).as_str()));
    assert_eq!(got["endsAt"].as_str(), Some(format_ms(now + 4 * 60_000).as_str()));
    assert_eq!(got["generatorURL"].as_str(), Some(firing.generator_url.as_str()));
    // Already resolved when it arrived: Alertmanager keeps it but does not list it.
    assert!(
        !alerts.iter().any(|a| a["labels"]["alertname"] == "HarrierResolved"),
        "resolved alert listed: {alerts:#?}"
    );

    notifier.stop().await;
    cancel.cancel();
    let _ = task.await;
    let mut text = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut text, &registry) {
        panic!("{e}");
    }
    let url = format!("http://127.0.0.1:{port}/api/v2/alerts");
    assert!(
        text.contains(&format!("harrier_router_notifications_sent_total{{alertmanager=\"{url}\"}} 2")),
        "{text}"
    );
    assert!(!text.contains("harrier_router_notifications_errors_total{"), "{text}");
}
