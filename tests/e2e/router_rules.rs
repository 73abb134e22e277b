//! Rule evaluation end to end:
//!
//! - `harrier local` (agent and router in one process) evaluates a rule on host metrics until
//!   it fires and shows it in `/api/v1/alerts`; the same rule file, evaluated by `harrier
//!   router` through the remote datasource on Debian's Prometheus (fed by a harrier agent),
//!   gives the same alert, and its recording rule's output reaches Prometheus by remote_write
//!   (the router replacing vmalert or Prometheus's own rule evaluation).
//! - A kill -9 restart of the router resumes alert state exactly: an alert pending when the
//!   router died fires at its original `for` mark, an alert held by `keep_firing_for` resolves
//!   at its original deadline, and the Alertmanager receiver sees no duplicate notification.

use crate::router_query::Router;
use crate::support::{Agent, Prometheus, free_port, http};
use axum::body::Bytes;
use harrier_telemetry::model::{Labels, Sample, Series, now_ms};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// An alert as `/api/v1/alerts` shows it: (labels, annotations, state, activeAt).
type ApiAlert = (BTreeMap<String, String>, BTreeMap<String, String>, String, String);

async fn api_alerts(base: &str) -> Vec<ApiAlert> {
    let Ok(resp) = http().get(format!("{base}/api/v1/alerts")).send().await else { return Vec::new() };
    let Ok(body) = resp.json::<Value>().await else { return Vec::new() };
    let map = |v: &Value| -> BTreeMap<String, String> {
        v.as_object()
            .map(|o| o.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect())
            .unwrap_or_default()
    };
    body["data"]["alerts"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| {
                    (
                        map(&x["labels"]),
                        map(&x["annotations"]),
                        x["state"].as_str().unwrap_or_default().to_string(),
                        x["activeAt"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Polls `f` until it gives `Some`.
async fn until<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    crate::support::wait_for(what, timeout, || {
        let fut = f();
        async move { fut.await.ok_or_else(|| "not yet".to_string()) }
    })
    .await
}

async fn firing_alert(base: &str, name: &str, timeout: Duration) -> ApiAlert {
    until(&format!("{name} firing at {base}"), timeout, || async {
        api_alerts(base)
            .await
            .into_iter()
            .find(|a| a.0.get("alertname").map(String::as_str) == Some(name) && a.2 == "firing")
    })
    .await
}

const HOST_RULES: &str = r#"groups:
  - name: host
    rules:
      - record: host:cpus:count
        expr: count(node_cpu_seconds_total{mode="idle"})
      - alert: HostHasCpus
        expr: count(node_cpu_seconds_total{mode="idle"}) > 0
        for: 2s
        labels:
          severity: info
        annotations:
          summary: "{{ $value }} CPUs seen, {{ $labels.severity }} level"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_rule_fires_and_remote_datasource_on_prometheus_gives_the_same_alert() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("host.yml"), HOST_RULES).unwrap();
    std::fs::write(
        dir.path().join("local.yml"),
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: [host.yml]\n",
    )
    .unwrap();

    // harrier local: host metrics -> embedded store -> rule.
    let port = free_port();
    let local = crate::support::Proc::spawn(
        "harrier local",
        std::process::Command::new(env!("CARGO_BIN_EXE_harrier"))
            .arg("local")
            .arg("--config")
            .arg(dir.path().join("local.yml"))
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--data-dir")
            .arg(dir.path().join("local"))
            .env("HARRIER_LOG", "info"),
        dir.path().join("local.log"),
    );
    let local_url = format!("http://127.0.0.1:{port}");
    let from_local = firing_alert(&local_url, "HostHasCpus", Duration::from_secs(60)).await;
    assert_eq!(from_local.0.get("severity").map(String::as_str), Some("info"));
    let cpus: f64 = from_local.1["summary"].split(' ').next().unwrap().parse().unwrap();
    assert!(cpus >= 1.0, "{from_local:?}");
    // --config replaces the generated config (and its default rule packs): one group.
    let rules: Value =
        http().get(format!("{local_url}/api/v1/rules")).send().await.unwrap().json().await.unwrap();
    assert_eq!(rules["data"]["groups"].as_array().map(Vec::len), Some(1), "{rules}");
    drop(local);

    // The same rule file on Debian's Prometheus, fed by a harrier agent, through the remote
    // datasource.
    let prometheus = Prometheus::start(&dir.path().join("prom")).await;
    std::fs::write(
        dir.path().join("agent.yml"),
        format!(
            "global:\n  scrape_interval: 1s\nhost_metrics:\n  enabled: true\nremote_write:\n  - url: {}\n",
            prometheus.remote_write_url()
        ),
    )
    .unwrap();
    let _agent =
        Agent::start(&dir.path().join("agent.yml"), &dir.path().join("agent"), dir.path().join("agent.log"))
            .await;
    std::fs::write(
        dir.path().join("router.yml"),
        format!(
            "global:\n  evaluation_interval: 1s\nrule_files: [host.yml]\ndatasource:\n  type: remote\n  url: {}\n\
             remote_write:\n  - url: {}\n",
            prometheus.url(),
            prometheus.remote_write_url()
        ),
    )
    .unwrap();
    let router = Router::start_with(
        &dir.path().join("router"),
        dir.path(),
        free_port(),
        &["--config", dir.path().join("router.yml").to_str().unwrap()],
    )
    .await;
    let from_remote = match tokio::time::timeout(
        Duration::from_secs(60),
        firing_alert(&router.url(), "HostHasCpus", Duration::from_secs(120)),
    )
    .await
    {
        Ok(alert) => alert,
        Err(_) => {
            let rules =
                http().get(format!("{}/api/v1/rules", router.url())).send().await.unwrap().text().await;
            let up = prometheus.query("count(node_cpu_seconds_total)").await;
            panic!(
                "HostHasCpus not firing through the remote datasource.\nrules: {rules:?}\nPrometheus has: {up:?}\nrouter log:\n{}",
                router.proc.log_text()
            );
        }
    };
    assert_eq!(from_remote.0, from_local.0, "same labels");
    assert_eq!(from_remote.1, from_local.1, "same annotations");
    // The recorded series went to Prometheus with remote_write.
    let recorded = until("host:cpus:count in Prometheus", Duration::from_secs(30), || async {
        prometheus.query("host:cpus:count").await.ok().filter(|v| !v.is_empty())
    })
    .await;
    assert_eq!(recorded[0].1, cpus, "{recorded:?}");
}

/// One alert received: (alertname, startsAt, endsAt, received at in unix ms).
type Received = (String, String, String, i64);

/// Alertmanager's `POST /api/v2/alerts`, recorded.
#[derive(Clone, Default)]
struct Receiver(Arc<Mutex<Vec<Received>>>);

impl Receiver {
    async fn start(&self) -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let me = self.clone();
        let app = axum::Router::new().route(
            "/api/v2/alerts",
            axum::routing::post(move |body: Bytes| {
                let me = me.clone();
                async move {
                    let alerts: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    for a in alerts.as_array().into_iter().flatten() {
                        me.0.lock().unwrap().push((
                            a["labels"]["alertname"].as_str().unwrap_or_default().to_string(),
                            a["startsAt"].as_str().unwrap_or_default().to_string(),
                            a["endsAt"].as_str().unwrap_or_default().to_string(),
                            now_ms(),
                        ));
                    }
                    "ok"
                }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        port
    }

    fn of(&self, name: &str) -> Vec<Received> {
        self.0.lock().unwrap().iter().filter(|a| a.0 == name).cloned().collect()
    }
}

/// Writes `cond{alert=<name>} <value>` to the router every 500 ms while `values` says so.
fn feed(url: String, values: Arc<Mutex<BTreeMap<&'static str, f64>>>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let now = now_ms();
            let series: Vec<Series> = values
                .lock()
                .unwrap()
                .iter()
                .map(|(name, v)| {
                    Series::new(
                        Labels::from_pairs([("__name__", "cond"), ("alert", name)]),
                        vec![Sample { timestamp_ms: now, value: *v }],
                    )
                })
                .collect();
            let body = harrier_telemetry::remote_write::encode_request(&series);
            let _ = http()
                .post(format!("{url}/api/v1/write"))
                .header("Content-Encoding", "snappy")
                .header("Content-Type", "application/x-protobuf")
                .header("X-Prometheus-Remote-Write-Version", "0.1.0")
                .body(body)
                .send()
                .await;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    })
}

fn parse_rfc3339_ms(s: &str) -> i64 {
    // The API's times are UTC `YYYY-MM-DDTHH:MM:SS[.fff]Z`.
    let (date, time) = s.trim_end_matches('Z').split_once('T').unwrap();
    let d: Vec<i64> = date.split('-').map(|x| x.parse().unwrap()).collect();
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let t: Vec<i64> = hms.split(':').map(|x| x.parse().unwrap()).collect();
    let millis: i64 = format!("{frac:0<3}")[..3].parse().unwrap();
    // Days from civil (Howard Hinnant).
    let (y, m) = if d[1] <= 2 { (d[0] - 1, d[1] + 9) } else { (d[0], d[1] - 3) };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d[2] - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    ((days * 86_400 + t[0] * 3600 + t[1] * 60 + t[2]) * 1000) + millis
}

const RESTART_RULES: &str = r#"groups:
  - name: restart
    interval: 1s
    rules:
      - alert: SlowBurn
        expr: cond{alert="slow"} == 1
        for: 20s
      - alert: Held
        expr: cond{alert="held"} == 1
        keep_firing_for: 15s
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_restart_resumes_pending_and_keep_firing_alerts_without_duplicate_notifications() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::default();
    let am_port = receiver.start().await;
    std::fs::write(dir.path().join("restart.yml"), RESTART_RULES).unwrap();
    std::fs::write(
        dir.path().join("router.yml"),
        format!(
            "rule_files: [restart.yml]\nrules:\n  resend_delay: 1h\n\
             alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['127.0.0.1:{am_port}']\n"
        ),
    )
    .unwrap();
    let config = dir.path().join("router.yml");
    let args = ["--config", config.to_str().unwrap()];
    let port = free_port();
    let data = dir.path().join("data");
    let mut router = Router::start_with(&data, dir.path(), port, &args).await;
    let url = router.url();
    let values = Arc::new(Mutex::new(BTreeMap::from([("slow", 1.0), ("held", 1.0)])));
    let feeder = feed(url.clone(), Arc::clone(&values));

    // Held fires at once; then its condition clears and keep_firing_for starts counting.
    firing_alert(&url, "Held", Duration::from_secs(20)).await;
    values.lock().unwrap().insert("held", 0.0);
    let pending = until("SlowBurn pending", Duration::from_secs(20), || async {
        api_alerts(&url).await.into_iter().find(|a| a.0["alertname"] == "SlowBurn" && a.2 == "pending")
    })
    .await;
    let active_at = parse_rfc3339_ms(&pending.3);
    // Wait until Held's countdown has started (its condition has been 0 for an evaluation).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let held_deadline = {
        let rules: Value =
            http().get(format!("{url}/api/v1/alerts")).send().await.unwrap().json().await.unwrap();
        let held = rules["data"]["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["labels"]["alertname"] == "Held")
            .cloned()
            .expect("Held still firing");
        parse_rfc3339_ms(held["keepFiringSince"].as_str().expect("keepFiringSince")) + 15_000
    };
    // SlowBurn is a few seconds into its 20 s; kill -9 and restart after 2 s.
    assert!(now_ms() < active_at + 15_000, "test too slow: SlowBurn would fire before the restart");
    router.proc.kill9();
    feeder.abort();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let router = Router::start_with(&data, dir.path(), port, &args).await;
    let feeder = feed(url.clone(), Arc::clone(&values));

    // After the restart: SlowBurn keeps its activeAt and is still pending; Held still firing.
    let after = api_alerts(&url).await;
    let slow = after.iter().find(|a| a.0["alertname"] == "SlowBurn").expect("SlowBurn restored");
    assert_eq!(parse_rfc3339_ms(&slow.3), active_at, "activeAt survives the restart");
    assert!(after.iter().any(|a| a.0["alertname"] == "Held" && a.2 == "firing"), "{after:?}");

    // Watch both at once: SlowBurn fires at its original 20 s mark and Held resolves at its
    // original deadline (each within an evaluation interval and the polling delay).
    let (mut fired_seen, mut resolved_seen) = (None, None);
    let started = std::time::Instant::now();
    while fired_seen.is_none() || resolved_seen.is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(40),
            "fired {fired_seen:?}, resolved {resolved_seen:?}"
        );
        let alerts = api_alerts(&url).await;
        let now = now_ms();
        if fired_seen.is_none() && alerts.iter().any(|a| a.0["alertname"] == "SlowBurn" && a.2 == "firing") {
            fired_seen = Some(now);
        }
        if resolved_seen.is_none() && !alerts.iter().any(|a| a.0["alertname"] == "Held") {
            resolved_seen = Some(now);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let fired_after = fired_seen.unwrap_or_default() - active_at;
    assert!(
        (20_000..=21_500).contains(&fired_after),
        "SlowBurn fired {fired_after} ms after activeAt (expected 20000)"
    );
    let resolved_late = resolved_seen.unwrap_or_default() - held_deadline;
    assert!((0..=1_500).contains(&resolved_late), "Held resolved {resolved_late} ms after its deadline");

    // Notifications: one firing and one resolved for Held, one firing for SlowBurn, with the
    // same startsAt across the restart.
    let got_resolution = || async {
        let held = receiver.of("Held");
        (held.len() >= 2).then_some(held)
    };
    let held = until("Held's resolution notification", Duration::from_secs(10), got_resolution).await;
    assert_eq!(held.len(), 2, "Held: one firing, one resolved notification: {held:?}");
    assert_eq!(held[0].1, held[1].1, "same startsAt: {held:?}");
    assert_eq!(parse_rfc3339_ms(&held[1].2) / 1000, held_deadline / 1000, "endsAt is the deadline: {held:?}");
    let slow = receiver.of("SlowBurn");
    assert_eq!(slow.len(), 1, "SlowBurn: exactly one notification: {slow:?}");
    feeder.abort();
    drop(router);
}

/// The default rule packs of `rules/` (built into `harrier local`) pass `harrier rules check`
/// and their unit tests, under both `harrier rules test` and Debian's `promtool test rules`.
#[test]
fn default_rule_packs_pass_check_and_unit_tests_in_harrier_and_promtool() {
    crate::support::require_program("/usr/bin/promtool");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let packs: Vec<String> =
        ["rules/node.yml", "rules/harrier.yml"].iter().map(|p| root.join(p).display().to_string()).collect();
    let tests = root.join("rules/tests/node_test.yml").display().to_string();
    let mut check = vec!["rules", "check"];
    check.extend(packs.iter().map(String::as_str));
    let (code, out) = crate::support::run_harrier(&check);
    assert_eq!(code, 0, "{out}");
    let (code, out) = crate::support::run_harrier(&["rules", "test", &tests]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("SUCCESS"), "{out}");
    let promtool =
        std::process::Command::new("/usr/bin/promtool").args(["test", "rules", &tests]).output().unwrap();
    assert!(promtool.status.success(), "promtool: {}", String::from_utf8_lossy(&promtool.stdout));
}
