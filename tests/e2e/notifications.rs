//! Notifications end to end, with real programs on loopback:
//!
//! - Debian's Prometheus evaluates an alerting rule and sends to the router as its
//!   Alertmanager; the router delivers to a webhook, a PagerDuty-shaped and a Slack-shaped
//!   receiver (test servers that check each payload's schema and record it) and to an SMTP
//!   server (`aiosmtpd` from PyPI) whose messages the test reads; then the alert resolves and
//!   the resolve arrives where `send_resolved` says it should (everywhere but email).
//! - Debian's `amtool` against the router: silences added, queried and expired, alerts
//!   queried; a silenced alert is not delivered until its silence expires.
//! - kill -9 while a group is active and a silence is set: after the restart the silence
//!   still holds and the group is not notified again before its repeat_interval.

use crate::router_query::Router;
use crate::support::{Proc, Prometheus, free_port, http, require_program, wait_for};
use axum::body::Bytes;
use axum::http::StatusCode;
use harrier_telemetry::model::{Labels, Sample, Series, now_ms};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the test receivers got: (kind, payload), and schema violations.
#[derive(Clone, Default)]
struct Receivers {
    got: Arc<Mutex<Vec<(&'static str, Value)>>>,
    invalid: Arc<Mutex<Vec<String>>>,
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.chars().all(|c| c.is_ascii_hexdigit())
}

fn is_string_map(v: &Value) -> bool {
    v.as_object().is_some_and(|o| o.values().all(Value::is_string))
}

/// Alertmanager's webhook payload, version 4.
fn check_webhook(v: &Value) -> Result<(), String> {
    for key in ["receiver", "status", "externalURL", "groupKey"] {
        v[key].as_str().ok_or(format!("{key} missing"))?;
    }
    if v["version"] != "4" {
        return Err("version is not \"4\"".into());
    }
    for key in ["groupLabels", "commonLabels", "commonAnnotations"] {
        if !is_string_map(&v[key]) {
            return Err(format!("{key} is not a string map"));
        }
    }
    v["truncatedAlerts"].as_u64().ok_or("truncatedAlerts missing")?;
    let alerts = v["alerts"].as_array().filter(|a| !a.is_empty()).ok_or("no alerts")?;
    for a in alerts {
        if !matches!(a["status"].as_str(), Some("firing" | "resolved")) {
            return Err(format!("alert status {}", a["status"]));
        }
        for key in ["startsAt", "endsAt", "generatorURL"] {
            a[key].as_str().ok_or(format!("alert {key} missing"))?;
        }
        if !is_string_map(&a["labels"]) || !is_string_map(&a["annotations"]) {
            return Err("alert labels/annotations".into());
        }
        if !is_hex(a["fingerprint"].as_str().unwrap_or(""), 16) {
            return Err(format!("fingerprint {}", a["fingerprint"]));
        }
    }
    Ok(())
}

/// PagerDuty Events API v2.
fn check_pagerduty(v: &Value) -> Result<(), String> {
    if v["routing_key"] != ROUTING_KEY {
        return Err(format!("routing_key {}", v["routing_key"]));
    }
    if !matches!(v["event_action"].as_str(), Some("trigger" | "resolve")) {
        return Err(format!("event_action {}", v["event_action"]));
    }
    if !is_hex(v["dedup_key"].as_str().unwrap_or(""), 64) {
        return Err(format!("dedup_key {}", v["dedup_key"]));
    }
    if v["event_action"] == "trigger" {
        let p = &v["payload"];
        let summary = p["summary"].as_str().unwrap_or("");
        if summary.is_empty() || summary.chars().count() > 1024 {
            return Err(format!("summary {summary:?}"));
        }
        if p["source"].as_str().unwrap_or("").is_empty() {
            return Err("payload.source missing".into());
        }
        if !matches!(p["severity"].as_str(), Some("critical" | "error" | "warning" | "info")) {
            return Err(format!("severity {}", p["severity"]));
        }
    }
    Ok(())
}

/// A Slack incoming-webhook message with Alertmanager's attachment.
fn check_slack(v: &Value) -> Result<(), String> {
    let att = v["attachments"].as_array().and_then(|a| a.first()).ok_or("no attachment")?;
    for key in ["title", "text", "fallback", "color"] {
        att[key].as_str().ok_or(format!("attachment {key} missing"))?;
    }
    if v["channel"] != "#alerts" {
        return Err(format!("channel {}", v["channel"]));
    }
    Ok(())
}

const ROUTING_KEY: &str = "0123456789abcdef0123456789abcdef";

impl Receivers {
    async fn start(&self) -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let route = |kind: &'static str, check: fn(&Value) -> Result<(), String>, reply: &'static str| {
            let me = self.clone();
            axum::routing::post(move |body: Bytes| {
                let me = me.clone();
                async move {
                    let v: Value = match serde_json::from_slice(&body) {
                        Ok(v) => v,
                        Err(e) => {
                            me.invalid.lock().unwrap().push(format!("{kind}: not JSON: {e}"));
                            return (StatusCode::BAD_REQUEST, "bad json");
                        }
                    };
                    if let Err(e) = check(&v) {
                        me.invalid.lock().unwrap().push(format!("{kind}: {e}: {v}"));
                        return (StatusCode::BAD_REQUEST, "schema");
                    }
                    me.got.lock().unwrap().push((kind, v));
                    (StatusCode::ACCEPTED, reply)
                }
            })
        };
        let app = axum::Router::new()
            .route("/webhook", route("webhook", check_webhook, ""))
            .route("/pagerduty", route("pagerduty", check_pagerduty, r#"{"status":"success"}"#))
            .route("/slack", route("slack", check_slack, "ok"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        port
    }

    fn of(&self, kind: &str) -> Vec<Value> {
        self.got.lock().unwrap().iter().filter(|(k, _)| *k == kind).map(|(_, v)| v.clone()).collect()
    }

    fn assert_valid(&self) {
        let invalid = self.invalid.lock().unwrap();
        assert!(invalid.is_empty(), "payloads that failed their schema: {invalid:#?}");
    }

    /// Webhook notifications that carry an alert named `name`, as (status, alert names).
    fn webhooks_with(&self, name: &str) -> Vec<Value> {
        self.of("webhook")
            .into_iter()
            .filter(|v| {
                v["alerts"].as_array().into_iter().flatten().any(|a| a["labels"]["alertname"] == name)
            })
            .collect()
    }
}

/// `aiosmtpd` from PyPI, saving each message as a file.
struct SmtpServer {
    port: u16,
    out: std::path::PathBuf,
    _proc: Proc,
}

impl SmtpServer {
    async fn start(dir: &Path) -> SmtpServer {
        let have =
            Command::new("python3").args(["-c", "import aiosmtpd"]).status().is_ok_and(|s| s.success());
        if !have {
            let ok = Command::new("python3")
                .args(["-m", "pip", "install", "--quiet", "aiosmtpd"])
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "installing aiosmtpd from PyPI failed");
        }
        let out = dir.join("mail");
        std::fs::create_dir_all(&out).unwrap();
        std::fs::write(
            dir.join("save_handler.py"),
            "import os, time\n\
             class Save:\n\
             \x20   async def handle_DATA(self, server, session, envelope):\n\
             \x20       path = os.path.join(os.environ['SMTP_OUT'], '%d.eml' % time.time_ns())\n\
             \x20       with open(path + '.tmp', 'wb') as f:\n\
             \x20           f.write(envelope.original_content or envelope.content)\n\
             \x20       os.rename(path + '.tmp', path)\n\
             \x20       return '250 OK'\n",
        )
        .unwrap();
        let port = free_port();
        let proc = Proc::spawn(
            "aiosmtpd",
            Command::new("python3")
                .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}"), "-c", "save_handler.Save"])
                .env("PYTHONPATH", dir)
                .env("SMTP_OUT", &out),
            dir.join("smtp.log"),
        );
        wait_for("aiosmtpd listening", Duration::from_secs(30), || async move {
            tokio::net::TcpStream::connect(("127.0.0.1", port)).await.map(|_| ()).map_err(|e| e.to_string())
        })
        .await;
        SmtpServer { port, out, _proc: proc }
    }

    fn messages(&self) -> Vec<String> {
        let mut files: Vec<_> = std::fs::read_dir(&self.out)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        files.sort();
        files.iter().map(|p| std::fs::read_to_string(p).unwrap_or_default()).collect()
    }
}

/// Writes `e2e_condition <value>` to `url`'s remote-write endpoint every 500 ms.
fn feed(url: String, value: Arc<Mutex<f64>>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let v = *value.lock().unwrap();
            let series = [Series::new(
                Labels::from_pairs([("__name__", "e2e_condition"), ("instance", "db-1")]),
                vec![Sample { timestamp_ms: now_ms(), value: v }],
            )];
            let _ = http()
                .post(&url)
                .header("Content-Encoding", "snappy")
                .header("Content-Type", "application/x-protobuf")
                .header("X-Prometheus-Remote-Write-Version", "0.1.0")
                .body(harrier_telemetry::remote_write::encode_request(&series))
                .send()
                .await;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    })
}

async fn until<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    wait_for(what, timeout, || {
        let fut = f();
        async move { fut.await.ok_or_else(|| "not yet".to_string()) }
    })
    .await
}

fn start_router_config(dir: &Path, am_yml: &str) -> std::path::PathBuf {
    std::fs::write(dir.join("am.yml"), am_yml).unwrap();
    let router_yml = dir.join("router.yml");
    std::fs::write(
        &router_yml,
        "global:\n  evaluation_interval: 1s\nweb:\n  external_url: http://router.example:9093/\n\
         notifications:\n  alertmanager_config: am.yml\n",
    )
    .unwrap();
    router_yml
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_alert_is_delivered_to_webhook_pagerduty_slack_and_email_then_resolved() {
    let dir = tempfile::tempdir().unwrap();
    let receivers = Receivers::default();
    let rport = receivers.start().await;
    let smtp = SmtpServer::start(dir.path()).await;
    let am = format!(
        "global:\n  smtp_smarthost: 127.0.0.1:{smtp}\n  smtp_from: harrier@example.org\n  smtp_require_tls: false\n\
         route:\n  receiver: everyone\n  group_by: [alertname]\n  group_wait: 1s\n  group_interval: 2s\n  repeat_interval: 1h\n\
         receivers:\n- name: everyone\n\
         \x20 webhook_configs: [{{url: 'http://127.0.0.1:{rport}/webhook'}}]\n\
         \x20 pagerduty_configs: [{{routing_key: {ROUTING_KEY}, url: 'http://127.0.0.1:{rport}/pagerduty'}}]\n\
         \x20 slack_configs: [{{api_url: 'http://127.0.0.1:{rport}/slack', channel: '#alerts', send_resolved: true}}]\n\
         \x20 email_configs: [{{to: oncall@example.org}}]\n",
        smtp = smtp.port
    );
    let config = start_router_config(dir.path(), &am);
    let router = Router::start_with(
        &dir.path().join("router"),
        dir.path(),
        free_port(),
        &["--config", config.to_str().unwrap()],
    )
    .await;

    std::fs::write(
        dir.path().join("rules.yml"),
        "groups:\n- name: e2e\n  rules:\n  - alert: DiskAlmostFull\n    expr: e2e_condition == 1\n\
         \x20   labels: {severity: page}\n    annotations: {summary: 'disk on {{ $labels.instance }} almost full'}\n",
    )
    .unwrap();
    let prom_dir = dir.path().join("prom");
    std::fs::create_dir_all(&prom_dir).unwrap();
    std::fs::copy(dir.path().join("rules.yml"), prom_dir.join("rules.yml")).unwrap();
    let prometheus = Prometheus::start_with(
        &prom_dir,
        free_port(),
        &format!(
            "global:\n  scrape_interval: 1m\n  evaluation_interval: 1s\nrule_files: [rules.yml]\n\
             alerting:\n  alertmanagers:\n  - static_configs:\n    - targets: ['127.0.0.1:{}']\n",
            router.port
        ),
        &[],
    )
    .await;
    let condition = Arc::new(Mutex::new(1.0));
    let feeder = feed(prometheus.remote_write_url(), Arc::clone(&condition));

    // Firing: every receiver gets it.
    let firing = |kind: &'static str| {
        let receivers = receivers.clone();
        move || {
            let got = receivers.of(kind);
            async move { (!got.is_empty()).then_some(got) }
        }
    };
    let webhook = until("webhook notification", Duration::from_secs(90), firing("webhook")).await;
    receivers.assert_valid();
    let w = &webhook[0];
    assert_eq!(w["status"], "firing", "{w}");
    assert_eq!(w["receiver"], "everyone");
    assert_eq!(w["groupKey"], r#"{}:{alertname="DiskAlmostFull"}"#);
    assert_eq!(w["groupLabels"], json!({"alertname": "DiskAlmostFull"}));
    assert_eq!(w["commonLabels"]["severity"], "page");
    assert_eq!(w["commonAnnotations"]["summary"], "disk on db-1 almost full");
    assert_eq!(w["externalURL"], "http://router.example:9093");
    assert_eq!(w["alerts"][0]["endsAt"], "0001-01-01T00:00:00Z");
    let pd = until("pagerduty notification", Duration::from_secs(30), firing("pagerduty")).await;
    assert_eq!(pd[0]["event_action"], "trigger", "{}", pd[0]);
    assert!(pd[0]["payload"]["summary"].as_str().unwrap().contains("DiskAlmostFull"), "{}", pd[0]);
    let slack = until("slack notification", Duration::from_secs(30), firing("slack")).await;
    assert!(slack[0]["attachments"][0]["title"].as_str().unwrap().contains("FIRING"), "{}", slack[0]);
    assert_eq!(slack[0]["attachments"][0]["color"], "danger");
    let mail = until("email", Duration::from_secs(30), || {
        let m = smtp.messages();
        async move { (!m.is_empty()).then_some(m) }
    })
    .await;
    let message = &mail[0];
    for header in ["To: oncall@example.org", "From: harrier@example.org", "Message-ID:", "Date:"] {
        assert!(
            message.lines().any(|l| l.to_ascii_lowercase().starts_with(&header.to_ascii_lowercase())),
            "no {header:?} in\n{message}"
        );
    }
    assert!(message.contains("Subject: [FIRING:1] DiskAlmostFull"), "{message}");
    assert!(message.contains("multipart/alternative"), "{message}");

    // Resolved: webhook, PagerDuty and Slack (send_resolved) get it; email (send_resolved
    // false by default) does not.
    *condition.lock().unwrap() = 0.0;
    let resolved = |kind: &'static str, field: &'static str, want: &'static str| {
        let receivers = receivers.clone();
        move || {
            let hit = receivers
                .of(kind)
                .into_iter()
                .find(|v| v.pointer(field).and_then(Value::as_str) == Some(want));
            async move { hit }
        }
    };
    let w =
        until("webhook resolved", Duration::from_secs(60), resolved("webhook", "/status", "resolved")).await;
    assert!(w["alerts"][0]["endsAt"] != "0001-01-01T00:00:00Z", "{w}");
    let pd_resolve = until(
        "pagerduty resolve",
        Duration::from_secs(30),
        resolved("pagerduty", "/event_action", "resolve"),
    )
    .await;
    assert_eq!(pd_resolve["dedup_key"], pd[0]["dedup_key"], "resolve closes the same incident");
    until("slack resolved", Duration::from_secs(30), || {
        let hit = receivers.of("slack").into_iter().find(|v| v["attachments"][0]["color"] == "good");
        async move { hit }
    })
    .await;
    // One more group_interval and then some: still only the firing email.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mail = smtp.messages();
    assert_eq!(mail.len(), 1, "email has send_resolved false: {mail:#?}");
    assert_eq!(receivers.of("webhook").len(), 2, "one firing, one resolved: {:#?}", receivers.of("webhook"));
    receivers.assert_valid();
    feeder.abort();
}

/// Runs Debian's amtool against `url`: (success, stdout). Its stderr (a warning that the
/// server's version differs from amtool's) goes to the test's output.
fn amtool(url: &str, args: &[&str]) -> (bool, String) {
    require_program("/usr/bin/amtool");
    let out = Command::new("/usr/bin/amtool")
        .arg(format!("--alertmanager.url={url}"))
        .args(args)
        .output()
        .expect("run amtool");
    eprintln!("amtool {args:?}: {}", String::from_utf8_lossy(&out.stderr).trim());
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
}

const WEBHOOK_ONLY: &str = "route:\n  receiver: hook\n  group_by: [alertname]\n  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\n\
     receivers:\n- name: hook\n  webhook_configs: [{url: 'http://127.0.0.1:PORT/webhook'}]\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amtool_silences_alerts_and_a_silenced_alert_is_not_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let receivers = Receivers::default();
    let rport = receivers.start().await;
    let config = start_router_config(dir.path(), &WEBHOOK_ONLY.replace("PORT", &rport.to_string()));
    let router = Router::start_with(
        &dir.path().join("router"),
        dir.path(),
        free_port(),
        &["--config", config.to_str().unwrap()],
    )
    .await;
    let url = router.url();

    let (ok, out) = amtool(
        &url,
        &["silence", "add", "alertname=Muted", "--comment=maintenance", "--author=sre", "--duration=1h"],
    );
    assert!(ok, "amtool silence add: {out}");
    let id = out.trim().to_string();
    assert_eq!(id.len(), 36, "a silence ID: {out}");
    let (ok, out) = amtool(&url, &["silence", "query"]);
    assert!(ok && out.contains(&id) && out.contains("maintenance"), "amtool silence query: {out}");

    for name in ["Muted", "Loud"] {
        let (ok, out) = amtool(&url, &["alert", "add", &format!("alertname={name}"), "severity=page"]);
        assert!(ok, "amtool alert add {name}: {out}");
    }
    until("Loud delivered", Duration::from_secs(30), || {
        let got = receivers.webhooks_with("Loud");
        async move { (!got.is_empty()).then_some(()) }
    })
    .await;
    let (ok, out) = amtool(&url, &["alert", "query"]);
    assert!(ok && out.contains("Loud") && !out.contains("Muted"), "active alerts only: {out}");
    let (ok, out) = amtool(&url, &["alert", "query", "--silenced"]);
    assert!(ok && out.contains("Muted"), "silenced alerts: {out}");
    // Several group intervals later the silenced alert has still not gone out.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(receivers.webhooks_with("Muted").is_empty(), "a silenced alert was delivered");

    let (ok, out) = amtool(&url, &["silence", "expire", &id]);
    assert!(ok, "amtool silence expire: {out}");
    let (ok, out) = amtool(&url, &["silence", "query"]);
    assert!(ok && !out.contains(&id), "expired silence still listed as active: {out}");
    until("Muted delivered once its silence expired", Duration::from_secs(30), || {
        let got = receivers.webhooks_with("Muted");
        async move { (!got.is_empty()).then_some(()) }
    })
    .await;
    receivers.assert_valid();
}

async fn post_alerts(url: &str, alerts: Value) {
    let resp = http().post(format!("{url}/api/v2/alerts")).json(&alerts).send().await.unwrap();
    assert!(resp.status().is_success(), "POST /api/v2/alerts: {}", resp.status());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_keeps_silences_and_sends_no_duplicate_before_repeat_interval() {
    let dir = tempfile::tempdir().unwrap();
    let receivers = Receivers::default();
    let rport = receivers.start().await;
    let config = start_router_config(dir.path(), &WEBHOOK_ONLY.replace("PORT", &rport.to_string()));
    let args = ["--config", config.to_str().unwrap()];
    let data = dir.path().join("router");
    let port = free_port();
    let mut router = Router::start_with(&data, dir.path(), port, &args).await;
    let url = router.url();

    let silence = json!({
        "matchers": [{"name": "alertname", "value": "Quiet", "isRegex": false, "isEqual": true}],
        "startsAt": "2000-01-01T00:00:00Z", "endsAt": "2999-01-01T00:00:00Z",
        "createdBy": "sre", "comment": "during the restart"
    });
    let resp: Value = http()
        .post(format!("{url}/api/v2/silences"))
        .json(&silence)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let silence_id = resp["silenceID"].as_str().expect("silenceID").to_string();
    let alerts = json!([
        {"labels": {"alertname": "Active", "team": "db"}, "annotations": {"summary": "s"}, "endsAt": "2999-01-01T00:00:00Z"},
        {"labels": {"alertname": "Quiet"}, "endsAt": "2999-01-01T00:00:00Z"}
    ]);
    post_alerts(&url, alerts.clone()).await;
    until("Active delivered", Duration::from_secs(30), || {
        let got = receivers.webhooks_with("Active");
        async move { (!got.is_empty()).then_some(()) }
    })
    .await;
    // A delivery is at-least-once: a crash between the receiver's answer and the notification
    // log reaching disk sends it again. The restart is after the log write, as the acceptance
    // asks ("while a group is active"), which the router reports in its metrics.
    until("delivery logged to disk", Duration::from_secs(30), || {
        let url = url.clone();
        async move {
            let text = http().get(format!("{url}/metrics")).send().await.ok()?.text().await.ok()?;
            let writes = text
                .lines()
                .find_map(|l| l.strip_prefix("harrier_router_alertmanager_nflog_writes_total "))?;
            (writes.trim().parse::<f64>().ok()? >= 1.0).then_some(())
        }
    })
    .await;

    router.proc.kill9();
    let router = Router::start_with(&data, dir.path(), port, &args).await;
    // The sender re-posts, as Prometheus does every resend interval.
    post_alerts(&url, alerts).await;
    let silences: Value =
        http().get(format!("{url}/api/v2/silences")).send().await.unwrap().json().await.unwrap();
    let kept = silences.as_array().unwrap().iter().find(|s| s["id"] == silence_id.as_str()).cloned();
    assert_eq!(kept.as_ref().map(|s| s["status"]["state"].clone()), Some(json!("active")), "{silences}");
    // The group is back (from the persisted alerts) and ...
    until("Active group re-formed", Duration::from_secs(30), || {
        let url = url.clone();
        async move {
            let groups: Value =
                http().get(format!("{url}/api/v2/alerts/groups")).send().await.ok()?.json().await.ok()?;
            groups.as_array()?.iter().any(|g| g["labels"]["alertname"] == "Active").then_some(())
        }
    })
    .await;
    // ... several group_wait + group_interval periods pass without a second notification.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(receivers.webhooks_with("Active").len(), 1, "duplicate notification after restart");
    assert!(receivers.webhooks_with("Quiet").is_empty(), "silence lost in the restart");
    receivers.assert_valid();
    drop(router);
}

/// A webhook endpoint that misbehaves on its first request, then accepts: counts accepted
/// notifications and all requests.
#[derive(Clone, Default)]
struct Faulty {
    requests: Arc<Mutex<BTreeMap<String, usize>>>,
    accepted: Arc<Mutex<BTreeMap<String, Vec<Instant>>>>,
}

impl Faulty {
    async fn start(&self) -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let me = self.clone();
        let app = axum::Router::new().route(
            "/{mode}",
            axum::routing::post(
                move |axum::extract::Path(mode): axum::extract::Path<String>, _body: Bytes| {
                    let me = me.clone();
                    async move {
                        let n = {
                            let mut r = me.requests.lock().unwrap();
                            let n = r.entry(mode.clone()).or_default();
                            *n += 1;
                            *n
                        };
                        let first = n == 1;
                        let reply = match mode.as_str() {
                            "flaky" if first => (StatusCode::INTERNAL_SERVER_ERROR, [("Retry-After", "0")]),
                            "throttled" if first => (StatusCode::TOO_MANY_REQUESTS, [("Retry-After", "2")]),
                            "hang" if first => {
                                tokio::time::sleep(Duration::from_secs(3600)).await;
                                (StatusCode::OK, [("Retry-After", "0")])
                            }
                            _ => (StatusCode::OK, [("Retry-After", "0")]),
                        };
                        if reply.0.is_success() {
                            me.accepted.lock().unwrap().entry(mode).or_default().push(Instant::now());
                        }
                        reply
                    }
                },
            ),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        port
    }

    fn accepted(&self, mode: &str) -> Vec<Instant> {
        self.accepted.lock().unwrap().get(mode).cloned().unwrap_or_default()
    }

    fn requests(&self, mode: &str) -> usize {
        self.requests.lock().unwrap().get(mode).copied().unwrap_or(0)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_throttling_and_hanging_receivers_are_retried_and_delivered_once_without_blocking_others() {
    let dir = tempfile::tempdir().unwrap();
    let faulty = Faulty::default();
    let port = faulty.start().await;
    let receiver = |mode: &str| {
        format!(
            "- name: {mode}\n  webhook_configs: [{{url: 'http://127.0.0.1:{port}/{mode}', timeout: 2s}}]\n"
        )
    };
    let am = format!(
        "route:\n  receiver: ok\n  group_by: [alertname]\n  group_wait: 1s\n  group_interval: 1h\n  repeat_interval: 1h\n  routes:\n\
         \x20 - {{matchers: [mode=flaky], receiver: flaky}}\n\
         \x20 - {{matchers: [mode=throttled], receiver: throttled}}\n\
         \x20 - {{matchers: [mode=hang], receiver: hang}}\n\
         receivers:\n{}{}{}{}",
        receiver("ok"),
        receiver("flaky"),
        receiver("throttled"),
        receiver("hang")
    );
    let config = start_router_config(dir.path(), &am);
    let router = Router::start_with(
        &dir.path().join("router"),
        dir.path(),
        free_port(),
        &["--config", config.to_str().unwrap()],
    )
    .await;
    let posted = Instant::now();
    post_alerts(
        &router.url(),
        json!(["ok", "flaky", "throttled", "hang"]
            .iter()
            .map(|m| json!({"labels": {"alertname": format!("Fault-{m}"), "mode": m}, "endsAt": "2999-01-01T00:00:00Z"}))
            .collect::<Vec<_>>()),
    )
    .await;
    for mode in ["ok", "flaky", "throttled", "hang"] {
        until(&format!("{mode} delivered"), Duration::from_secs(60), || {
            let got = faulty.accepted(mode);
            async move { (!got.is_empty()).then_some(()) }
        })
        .await;
    }
    // The well-behaved receiver was not held up by the hanging one (group_wait is 1 s; the
    // hanging request takes its 2 s timeout).
    let ok_at = faulty.accepted("ok")[0];
    assert!(
        ok_at.duration_since(posted) < Duration::from_millis(1900),
        "ok delivered after {:?}",
        ok_at - posted
    );
    // 429 honoured its Retry-After of 2 s (after the 1 s group_wait).
    assert_eq!(faulty.requests("throttled"), 2, "one throttled attempt, one accepted");
    let throttled_at = faulty.accepted("throttled")[0];
    assert!(throttled_at.duration_since(posted) >= Duration::from_secs(3), "Retry-After not honoured");
    // Every one went through exactly once (the group interval is an hour: nothing else is due).
    tokio::time::sleep(Duration::from_secs(3)).await;
    for mode in ["ok", "flaky", "throttled", "hang"] {
        assert_eq!(faulty.accepted(mode).len(), 1, "{mode}: delivered once");
    }
    assert_eq!(faulty.requests("flaky"), 2, "500 retried once");
    assert_eq!(faulty.requests("hang"), 2, "hanging request timed out and was retried");
    // The web page lists the deliveries, the failed attempts' errors included.
    let page =
        http().get(format!("{}/alertmanager", router.url())).send().await.unwrap().text().await.unwrap();
    for mode in ["flaky", "throttled", "hang"] {
        assert!(page.contains(mode), "{mode} missing from the page:\n{page}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_auth_guards_the_mutating_endpoints() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), "s3cret\n").unwrap();
    std::fs::write(dir.path().join("am.yml"), "route:\n  receiver: r\nreceivers:\n- name: r\n").unwrap();
    std::fs::write(
        dir.path().join("router.yml"),
        "notifications:\n  alertmanager_config: am.yml\n  api_auth:\n    bearer_token_file: token\n",
    )
    .unwrap();
    let config = dir.path().join("router.yml");
    let router = Router::start_with(
        &dir.path().join("router"),
        dir.path(),
        free_port(),
        &["--config", config.to_str().unwrap()],
    )
    .await;
    let alerts = json!([{"labels": {"alertname": "Guarded"}}]);
    let url = format!("{}/api/v2/alerts", router.url());
    let status = |r: reqwest::Response| r.status().as_u16();
    assert_eq!(status(http().post(&url).json(&alerts).send().await.unwrap()), 401);
    assert_eq!(status(http().post(&url).bearer_auth("wrong").json(&alerts).send().await.unwrap()), 401);
    assert_eq!(status(http().post(&url).bearer_auth("s3cret").json(&alerts).send().await.unwrap()), 200);
    // Reading needs no credentials.
    let got: Value = http().get(&url).send().await.unwrap().json().await.unwrap();
    assert_eq!(got[0]["labels"]["alertname"], "Guarded", "{got}");
}
