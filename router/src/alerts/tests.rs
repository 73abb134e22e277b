//! Tests of the `alerting:` config, the wire format, and the notifier against local axum
//! receivers on 127.0.0.1:0.

use super::notifier::post_path;
use super::wire::{encode_alerts, format_time};
use super::*;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use harrier_telemetry::config_diagnostic::FieldPath;
use prometheus_client::registry::Registry;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

// ---------------------------------------------------------------------------------------------
// Helpers

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

fn alert(name: &str, i: usize) -> Alert {
    Alert {
        labels: labels(&[("alertname", name), ("i", &i.to_string())]),
        annotations: labels(&[("summary", "s")]),
        starts_at_ms: Some(1_700_000_000_000),
        ends_at_ms: Some(1_700_000_060_000),
        generator_url: "http://router/graph".to_string(),
    }
}

fn alerts(name: &str, n: usize) -> Vec<Alert> {
    (0..n).map(|i| alert(name, i)).collect()
}

fn alerting(yaml: &str) -> AlertingConfig {
    match yaml_serde::from_str(yaml) {
        Ok(c) => c,
        Err(e) => panic!("config does not parse: {e}\n{yaml}"),
    }
}

/// One POST a receiver got.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    headers: HeaderMap,
    body: Vec<Value>,
}

#[derive(Clone)]
struct Receiver {
    got: Arc<Mutex<Vec<Received>>>,
    status: StatusCode,
    delay: Duration,
    addr: std::net::SocketAddr,
}

impl Receiver {
    /// An Alertmanager stand-in answering every POST with `status` after `delay`.
    async fn start(status: StatusCode, delay: Duration) -> Receiver {
        let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
            Ok(l) => l,
            Err(e) => panic!("bind: {e}"),
        };
        let addr = match listener.local_addr() {
            Ok(a) => a,
            Err(e) => panic!("local_addr: {e}"),
        };
        let rx = Receiver { got: Arc::default(), status, delay, addr };
        let app = Router::new().fallback(post(record)).with_state(rx.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        rx
    }

    fn target(&self) -> String {
        self.addr.to_string()
    }

    fn url(&self) -> String {
        format!("http://{}/api/v2/alerts", self.addr)
    }

    fn received(&self) -> Vec<Received> {
        self.got.lock().map(|g| g.clone()).unwrap_or_default()
    }

    fn alert_count(&self) -> usize {
        self.received().iter().map(|r| r.body.len()).sum()
    }

    /// Waits (real time, up to 10 s) until `n` alerts arrived.
    async fn wait_alerts(&self, n: usize) {
        for _ in 0..1000 {
            if self.alert_count() >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("expected {n} alerts, got {}", self.alert_count());
    }
}

async fn record(
    State(rx): State<Receiver>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: bytes::Bytes,
) -> StatusCode {
    let body: Vec<Value> = serde_json::from_slice(&body).unwrap_or_else(|e| panic!("bad JSON body: {e}"));
    if let Ok(mut got) = rx.got.lock() {
        got.push(Received { path: uri.path().to_string(), headers, body });
    }
    if !rx.delay.is_zero() {
        tokio::time::sleep(rx.delay).await;
    }
    rx.status
}

/// A metric's value from the registry's text exposition; 0 when absent.
fn metric(registry: &Registry, series: &str) -> f64 {
    let mut text = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut text, registry) {
        panic!("encode: {e}");
    }
    text.lines()
        .find_map(|line| line.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .map(|v| v.trim().parse().unwrap_or(f64::NAN))
        .unwrap_or(0.0)
}

fn sent(url: &str) -> String {
    format!("harrier_router_notifications_sent_total{{alertmanager=\"{url}\"}}")
}

fn errors(url: &str) -> String {
    format!("harrier_router_notifications_errors_total{{alertmanager=\"{url}\"}}")
}

const DROPPED: &str = "harrier_router_notifications_dropped_total";

fn notifier(cfg: &AlertingConfig, external: &Labels, opts: NotifierOptions) -> (Arc<Notifier>, Registry) {
    let mut registry = Registry::default();
    match Notifier::new(cfg, external, opts, &mut registry) {
        Ok(n) => (Arc::new(n), registry),
        Err(e) => panic!("Notifier::new: {e}"),
    }
}

fn static_cfg(targets: &[&Receiver]) -> AlertingConfig {
    let list: Vec<String> = targets.iter().map(|r| format!("\"{}\"", r.target())).collect();
    alerting(&format!("alertmanagers:\n  - static_configs:\n      - targets: [{}]\n", list.join(", ")))
}

fn label_of<'a>(alert: &'a Value, name: &str) -> Option<&'a str> {
    alert["labels"][name].as_str()
}

// ---------------------------------------------------------------------------------------------
// Wire format

#[test]
fn time_formatting_matches_strfmt_datetime() {
    let cases: &[(Option<i64>, &str)] = &[
        (None, "0001-01-01T00:00:00.000Z"),
        (Some(0), "1970-01-01T00:00:00.000Z"),
        (Some(1), "1970-01-01T00:00:00.001Z"),
        (Some(-1), "1969-12-31T23:59:59.999Z"),
        (Some(1_704_164_645_123), "2024-01-02T03:04:05.123Z"),
        (Some(1_704_164_645_000), "2024-01-02T03:04:05.000Z"),
        (Some(1_709_164_800_000), "2024-02-29T00:00:00.000Z"),
        (Some(951_782_400_000), "2000-02-29T00:00:00.000Z"),
        (Some(4_102_444_799_999), "2099-12-31T23:59:59.999Z"),
        (Some(253_402_300_800_000), "10000-01-01T00:00:00.000Z"),
        (Some(-62_135_596_800_000), "0001-01-01T00:00:00.000Z"),
        (Some(-62_167_219_200_000), "0000-01-01T00:00:00.000Z"),
        (Some(-62_198_755_200_000), "-0001-01-01T00:00:00.000Z"),
    ];
    for (ms, want) in cases {
        assert_eq!(format_time(*ms), *want, "{ms:?}");
    }
}

#[test]
fn body_is_prometheus_postable_alerts() {
    let full = Alert {
        labels: labels(&[("severity", "page"), ("alertname", "Up")]),
        annotations: labels(&[("summary", "down & out")]),
        starts_at_ms: Some(1_704_164_645_123),
        ends_at_ms: Some(1_704_164_705_000),
        generator_url: "http://router:9090/graph?g0.expr=up".to_string(),
    };
    let bare = Alert {
        labels: Labels::new(),
        annotations: Labels::new(),
        starts_at_ms: None,
        ends_at_ms: None,
        generator_url: String::new(),
    };
    let body = match encode_alerts(&[full, bare]) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(e) => panic!("{e}"),
    };
    assert_eq!(
        body,
        concat!(
            r#"[{"annotations":{"summary":"down & out"},"endsAt":"2024-01-02T03:05:05.000Z","#,
            r#""startsAt":"2024-01-02T03:04:05.123Z","generatorURL":"http://router:9090/graph?g0.expr=up","#,
            r#""labels":{"alertname":"Up","severity":"page"}},"#,
            r#"{"endsAt":"0001-01-01T00:00:00.000Z","startsAt":"0001-01-01T00:00:00.000Z","labels":{}}]"#
        )
    );
}

#[test]
fn post_path_is_cleaned_like_go_path_join() {
    for (prefix, want) in [
        ("", "/api/v2/alerts"),
        ("/", "/api/v2/alerts"),
        ("am", "/am/api/v2/alerts"),
        ("/am/", "/am/api/v2/alerts"),
        ("//a//b/", "/a/b/api/v2/alerts"),
        ("/a/./b/../c", "/a/c/api/v2/alerts"),
    ] {
        assert_eq!(post_path(prefix, "v2"), want, "{prefix:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Config

#[derive(Deserialize)]
struct PromYml {
    alerting: AlertingConfig,
}

#[test]
fn realistic_prometheus_yml_alerting_block_deserializes() {
    let yaml = r#"
global:
  external_labels: {cluster: eu-1}
alerting:
  alert_relabel_configs:
    - source_labels: [dc]
      regex: (.+)\d+
      target_label: dc
    - action: labeldrop
      regex: replica
  alertmanagers:
    - static_configs:
        - targets: ["alertmanager-0.alertmanager:9093", "alertmanager-1.alertmanager:9093"]
          labels: {team: sre}
      scheme: https
      path_prefix: /alertmanager
      timeout: 5s
      api_version: v2
      basic_auth:
        username: prometheus
        password_file: /etc/secrets/am-password
      tls_config:
        ca_file: /etc/ssl/am-ca.pem
        insecure_skip_verify: false
      follow_redirects: true
      enable_http2: true
      relabel_configs:
        - source_labels: [__address__]
          regex: alertmanager-1.*
          action: drop
      alert_relabel_configs:
        - target_label: routed
          replacement: eu
    - static_configs:
        - targets: ["backup-am:9093"]
"#;
    let doc: PromYml = match yaml_serde::from_str(yaml) {
        Ok(d) => d,
        Err(e) => panic!("{e}"),
    };
    let cfg = doc.alerting;
    assert_eq!(cfg.validate(&FieldPath::root().key("alerting")), Ok(()));
    assert_eq!(cfg.alert_relabel_configs.len(), 2);
    assert_eq!(cfg.alertmanagers.len(), 2);
    let am = &cfg.alertmanagers[0];
    assert_eq!(
        am.static_configs[0].targets,
        ["alertmanager-0.alertmanager:9093", "alertmanager-1.alertmanager:9093"]
    );
    assert_eq!(am.static_configs[0].labels.get("team").map(String::as_str), Some("sre"));
    assert_eq!(am.scheme, "https");
    assert_eq!(am.path_prefix, "/alertmanager");
    assert_eq!(am.timeout.as_duration(), Duration::from_secs(5));
    assert_eq!(am.api_version, config::ApiVersion::V2);
    let basic = am.http.basic_auth.as_ref().map(|b| (b.username.as_str(), b.password_file.as_deref()));
    assert_eq!(basic, Some(("prometheus", Some("/etc/secrets/am-password"))));
    assert_eq!(am.http.tls_config.as_ref().and_then(|t| t.ca_file.as_deref()), Some("/etc/ssl/am-ca.pem"));
    assert_eq!(am.relabel_configs.len(), 1);
    assert_eq!(am.alert_relabel_configs.len(), 1);
    // Prometheus's defaults.
    let backup = &cfg.alertmanagers[1];
    assert_eq!(backup.scheme, "http");
    assert_eq!(backup.path_prefix, "");
    assert_eq!(backup.timeout.as_duration(), Duration::from_secs(10));
    assert_eq!(backup.api_version, config::ApiVersion::V2);
}

fn parse_err(yaml: &str) -> String {
    match yaml_serde::from_str::<AlertingConfig>(yaml) {
        Ok(c) => panic!("expected an error, parsed {c:?}"),
        Err(e) => e.to_string(),
    }
}

fn validate_err(yaml: &str) -> ConfigIssue {
    match alerting(yaml).validate(&FieldPath::root().key("alerting")) {
        Ok(()) => panic!("expected a validation error for {yaml}"),
        Err(e) => e,
    }
}

#[test]
fn api_version_v1_is_refused_clearly() {
    let err = parse_err("alertmanagers:\n  - api_version: v1\n");
    assert!(err.contains("v1 is not supported") && err.contains("removed in Prometheus 3"), "{err}");
    let err = parse_err("alertmanagers:\n  - api_version: v3\n");
    assert!(err.contains("expected Alertmanager api version to be one of [v2] but got v3"), "{err}");
}

#[test]
fn service_discovery_other_than_static_is_refused_by_name() {
    for field in ["kubernetes_sd_configs", "dns_sd_configs", "file_sd_configs", "consul_sd_configs"] {
        let issue = validate_err(&format!(
            "alertmanagers:\n  - static_configs: [{{targets: [a:9093]}}]\n  - {field}:\n      - {{}}\n"
        ));
        assert_eq!(issue.path.to_string(), format!("alerting.alertmanagers[1].{field}"));
        assert!(issue.message.contains(field) && issue.message.contains("not supported"), "{issue}");
        assert!(issue.message.contains("static_configs"), "{issue}");
    }
    let issue = validate_err("alertmanagers:\n  - sigv4: {region: eu-west-1}\n");
    assert_eq!(issue.to_string(), "alerting.alertmanagers[0].sigv4: sigv4 is not supported by Harrier");
}

#[test]
fn unknown_fields_are_refused() {
    let err = parse_err("alertmanagers:\n  - static_configs: []\n    tiemout: 5s\n");
    assert!(err.contains("tiemout"), "{err}");
    let err = parse_err("alert_relabel: []\n");
    assert!(err.contains("alert_relabel"), "{err}");
    let err = parse_err("alertmanagers:\n  - static_configs: [{targets: [a:1], lables: {}}]\n");
    assert!(err.contains("lables"), "{err}");
}

#[test]
fn validation_matches_prometheus_checks() {
    // A URL as a target, without relabel_configs to fix it.
    let issue = validate_err("alertmanagers:\n  - static_configs: [{targets: [a:1, \"http://b:9093\"]}]\n");
    assert_eq!(issue.path.to_string(), "alerting.alertmanagers[0].static_configs[0].targets[1]");
    assert_eq!(issue.message, r#""http://b:9093" is not a valid hostname"#);
    // With relabel_configs, Prometheus leaves the check to after relabeling.
    let cfg = alerting(
        "alertmanagers:\n  - static_configs: [{targets: [\"http://b:9093\"]}]\n    relabel_configs:\n      - {source_labels: [__address__], regex: 'http://(.*)', target_label: __address__}\n",
    );
    assert_eq!(cfg.validate(&FieldPath::root()), Ok(()));
    // Relabel rules are validated, pointing at the field.
    let issue = validate_err("alert_relabel_configs:\n  - {action: hashmod, target_label: x}\n");
    assert_eq!(issue.path.to_string(), "alerting.alert_relabel_configs[0].modulus");
    let issue = validate_err("alertmanagers:\n  - alert_relabel_configs: [{regex: '('}]\n");
    assert_eq!(issue.path.to_string(), "alerting.alertmanagers[0].alert_relabel_configs[0].regex");
    // http_config checks are shared with the rest of Harrier.
    let issue = validate_err("alertmanagers:\n  - bearer_token: a\n    bearer_token_file: b\n");
    assert_eq!(issue.path.to_string(), "alerting.alertmanagers[0].bearer_token_file");
    let issue = validate_err("alertmanagers:\n  - timeout: 0s\n");
    assert_eq!(issue.path.to_string(), "alerting.alertmanagers[0].timeout");
    let issue = validate_err("alertmanagers:\n  - scheme: ftp\n");
    assert_eq!(issue.path.to_string(), "alerting.alertmanagers[0].scheme");
}

#[test]
fn targets_are_relabeled_into_urls() {
    let cfg = alerting(
        r#"
alertmanagers:
  - static_configs:
      - targets: [am-0:9093, am-1:9093, am-0:9093]
        labels: {__scheme__: https}
      - targets: [skip-me:9093]
    path_prefix: /am/
    relabel_configs:
      - {source_labels: [__address__], regex: 'skip-.*', action: drop}
  - static_configs: [{targets: ["127.0.0.1:9093"]}]
    relabel_configs:
      - {target_label: __alerts_path__, replacement: /custom/path}
"#,
    );
    let (n, registry) = notifier(&cfg, &Labels::new(), NotifierOptions::default());
    // Static labels override the configured scheme (they are set after it, as Prometheus does);
    // duplicates are posted to once; the dropped target is reported.
    assert_eq!(
        n.alertmanagers(),
        [
            "https://am-0:9093/am/api/v2/alerts",
            "https://am-1:9093/am/api/v2/alerts",
            "http://127.0.0.1:9093/custom/path"
        ]
    );
    assert_eq!(n.dropped_alertmanagers(), ["http://skip-me:9093/am/api/v2/alerts"]);
    assert_eq!(metric(&registry, "harrier_router_notifications_alertmanagers_discovered"), 3.0);
    assert_eq!(metric(&registry, "harrier_router_notifications_queue_capacity"), 10_000.0);

    // A target that is still a URL after relabeling is an error.
    let bad = alerting(
        "alertmanagers:\n  - static_configs: [{targets: [a:1]}]\n    relabel_configs: [{target_label: __address__, replacement: 'http://x/'}]\n",
    );
    let mut registry = Registry::default();
    match Notifier::new(&bad, &Labels::new(), NotifierOptions::default(), &mut registry) {
        Ok(_) => panic!("expected an error"),
        Err(e) => assert!(e.to_string().contains("is not a valid hostname"), "{e}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Notifier

#[tokio::test]
async fn batches_hold_at_most_256_alerts() {
    let am = Receiver::start(StatusCode::OK, Duration::ZERO).await;
    let (n, registry) = notifier(&static_cfg(&[&am]), &Labels::new(), NotifierOptions::default());
    n.send(alerts("Batch", 600));
    assert_eq!(n.queue_len(), 600);
    assert_eq!(metric(&registry, "harrier_router_notifications_queue_length"), 600.0);
    let cancel = CancellationToken::new();
    let task = tokio::spawn(n.clone().run(cancel.clone()));
    am.wait_alerts(600).await;
    let sizes: Vec<usize> = am.received().iter().map(|r| r.body.len()).collect();
    assert_eq!(sizes, [256, 256, 88]);
    // In order, and as sent.
    let got: Vec<String> =
        am.received().iter().flat_map(|r| r.body.iter().map(|a| a["labels"]["i"].to_string())).collect();
    let want: Vec<String> = (0..600).map(|i| format!("\"{i}\"")).collect();
    assert_eq!(got, want);
    let first = &am.received()[0];
    assert_eq!(first.path, "/api/v2/alerts");
    assert_eq!(first.headers.get("content-type").and_then(|v| v.to_str().ok()), Some("application/json"));
    assert!(
        first
            .headers
            .get("user-agent")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ua| ua.starts_with("Harrier/")),
        "{:?}",
        first.headers
    );
    assert_eq!(
        first.body[0],
        json!({"annotations": {"summary": "s"}, "endsAt": "2023-11-14T22:14:20.000Z",
               "startsAt": "2023-11-14T22:13:20.000Z", "generatorURL": "http://router/graph",
               "labels": {"alertname": "Batch", "i": "0"}})
    );
    cancel.cancel();
    let _ = task.await;
    assert_eq!(metric(&registry, &sent(&am.url())), 600.0);
    assert_eq!(metric(&registry, &errors(&am.url())), 0.0);
    assert_eq!(metric(&registry, DROPPED), 0.0);
    assert_eq!(metric(&registry, "harrier_router_notifications_queue_length"), 0.0);
    assert_eq!(
        metric(
            &registry,
            &format!("harrier_router_notifications_latency_seconds_count{{alertmanager=\"{}\"}}", am.url())
        ),
        3.0
    );
}

#[tokio::test]
async fn overflow_drops_the_oldest_and_counts_them() {
    let am = Receiver::start(StatusCode::OK, Duration::ZERO).await;
    let opts = NotifierOptions { queue_capacity: 10, ..NotifierOptions::default() };
    let (n, registry) = notifier(&static_cfg(&[&am]), &Labels::new(), opts);
    n.send(alerts("Old", 8));
    n.send(alerts("New", 5));
    assert_eq!(n.queue_len(), 10);
    assert_eq!(metric(&registry, DROPPED), 3.0);
    // One call larger than the whole queue keeps only its newest alerts.
    n.send(alerts("Huge", 25));
    assert_eq!(metric(&registry, DROPPED), 3.0 + 15.0 + 10.0);
    let cancel = CancellationToken::new();
    let task = tokio::spawn(n.clone().run(cancel.clone()));
    am.wait_alerts(10).await;
    let got: Vec<String> = am
        .received()
        .iter()
        .flat_map(|r| {
            r.body.iter().map(|a| {
                format!(
                    "{}{}",
                    a["labels"]["alertname"].as_str().unwrap_or(""),
                    a["labels"]["i"].as_str().unwrap_or("")
                )
            })
        })
        .collect();
    let want: Vec<String> = (15..25).map(|i| format!("Huge{i}")).collect();
    assert_eq!(got, want);
    cancel.cancel();
    let _ = task.await;
}

#[tokio::test]
async fn external_labels_and_relabeling() {
    let plain = Receiver::start(StatusCode::OK, Duration::ZERO).await;
    let routed = Receiver::start(StatusCode::OK, Duration::ZERO).await;
    let cfg = alerting(&format!(
        r#"
alert_relabel_configs:
  - {{source_labels: [drop], regex: "yes", action: drop}}
  - {{source_labels: [cluster], target_label: region, regex: "(eu)-.*", replacement: "$1"}}
alertmanagers:
  - static_configs: [{{targets: ["{}"]}}]
  - static_configs: [{{targets: ["{}"]}}]
    alert_relabel_configs:
      - {{target_label: routed, replacement: "yes"}}
      - {{source_labels: [severity], regex: info, action: drop}}
"#,
        plain.target(),
        routed.target()
    ));
    let external = labels(&[("cluster", "eu-1"), ("severity", "warning")]);
    let (n, registry) = notifier(&cfg, &external, NotifierOptions::default());
    let mk = |name: &str, extra: &[(&str, &str)]| {
        let mut pairs = vec![("alertname", name)];
        pairs.extend_from_slice(extra);
        Alert { labels: labels(&pairs), ..alert(name, 0) }
    };
    n.send(vec![
        mk("Own", &[("severity", "critical")]),
        mk("Dropped", &[("drop", "yes")]),
        mk("Info", &[("severity", "info"), ("cluster", "us-2")]),
    ]);
    // The globally dropped alert never reaches the queue.
    assert_eq!(n.queue_len(), 2);
    let cancel = CancellationToken::new();
    let task = tokio::spawn(n.clone().run(cancel.clone()));
    plain.wait_alerts(2).await;
    routed.wait_alerts(1).await;
    let got = plain.received().concat_bodies();
    // External labels fill in what the alert lacks; the alert's own labels win.
    assert_eq!(
        got[0]["labels"],
        json!({"alertname": "Own", "cluster": "eu-1", "region": "eu", "severity": "critical"})
    );
    assert_eq!(got[1]["labels"], json!({"alertname": "Info", "cluster": "us-2", "severity": "info"}));
    // The per-Alertmanager rules apply to that set only.
    let got = routed.received().concat_bodies();
    assert_eq!(got.len(), 1);
    assert_eq!(label_of(&got[0], "alertname"), Some("Own"));
    assert_eq!(label_of(&got[0], "routed"), Some("yes"));
    cancel.cancel();
    let _ = task.await;
    assert_eq!(metric(&registry, &sent(&plain.url())), 2.0);
    assert_eq!(metric(&registry, &sent(&routed.url())), 1.0);
}

trait ConcatBodies {
    fn concat_bodies(&self) -> Vec<Value>;
}

impl ConcatBodies for Vec<Received> {
    fn concat_bodies(&self) -> Vec<Value> {
        self.iter().flat_map(|r| r.body.iter().cloned()).collect()
    }
}

#[tokio::test]
async fn auth_header_and_path_prefix_are_used() {
    let am = Receiver::start(StatusCode::OK, Duration::ZERO).await;
    let bearer = Receiver::start(StatusCode::OK, Duration::ZERO).await;
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("{e}"),
    };
    let token = dir.path().join("token");
    if let Err(e) = std::fs::write(&token, "s3cr3t\n") {
        panic!("{e}");
    }
    let cfg = alerting(&format!(
        r#"
alertmanagers:
  - static_configs: [{{targets: ["{}"]}}]
    path_prefix: /prefix
    basic_auth: {{username: prom, password: pw}}
  - static_configs: [{{targets: ["{}"]}}]
    authorization: {{credentials_file: "{}"}}
"#,
        am.target(),
        bearer.target(),
        token.display()
    ));
    let (n, _registry) = notifier(&cfg, &Labels::new(), NotifierOptions::default());
    let cancel = CancellationToken::new();
    let task = tokio::spawn(n.clone().run(cancel.clone()));
    n.send(alerts("Auth", 1));
    am.wait_alerts(1).await;
    bearer.wait_alerts(1).await;
    let got = &am.received()[0];
    assert_eq!(got.path, "/prefix/api/v2/alerts");
    // base64("prom:pw")
    assert_eq!(got.headers.get("authorization").and_then(|v| v.to_str().ok()), Some("Basic cHJvbTpwdw=="));
    let got = &bearer.received()[0];
    assert_eq!(got.headers.get("authorization").and_then(|v| v.to_str().ok()), Some("Bearer s3cr3t"));
    cancel.cancel();
    let _ = task.await;
}

#[tokio::test]
async fn a_failing_alertmanager_is_counted_while_others_receive() {
    let good = Receiver::start(StatusCode::OK, Duration::ZERO).await;
    let bad = Receiver::start(StatusCode::INTERNAL_SERVER_ERROR, Duration::ZERO).await;
    let lonely_bad = Receiver::start(StatusCode::BAD_REQUEST, Duration::ZERO).await;
    // Set 0: one good and one bad Alertmanager: covered, nothing dropped.
    let cfg = static_cfg(&[&good, &bad]);
    let (n, registry) = notifier(&cfg, &Labels::new(), NotifierOptions::default());
    let cancel = CancellationToken::new();
    let task = tokio::spawn(n.clone().run(cancel.clone()));
    n.send(alerts("Partial", 3));
    good.wait_alerts(3).await;
    bad.wait_alerts(3).await;
    cancel.cancel();
    let _ = task.await;
    assert_eq!(metric(&registry, &sent(&good.url())), 3.0);
    assert_eq!(metric(&registry, &errors(&good.url())), 0.0);
    assert_eq!(metric(&registry, &sent(&bad.url())), 3.0);
    assert_eq!(metric(&registry, &errors(&bad.url())), 3.0);
    assert_eq!(metric(&registry, DROPPED), 0.0);

    // A second set whose only Alertmanager fails: the batch counts as dropped, and the good
    // set still receives it.
    let cfg = alerting(&format!(
        "alertmanagers:\n  - static_configs: [{{targets: [\"{}\"]}}]\n  - static_configs: [{{targets: [\"{}\"]}}]\n",
        good.target(),
        lonely_bad.target()
    ));
    let (n, registry) = notifier(&cfg, &Labels::new(), NotifierOptions::default());
    let cancel = CancellationToken::new();
    let task = tokio::spawn(n.clone().run(cancel.clone()));
    n.send(alerts("Lonely", 2));
    good.wait_alerts(5).await;
    lonely_bad.wait_alerts(2).await;
    cancel.cancel();
    let _ = task.await;
    assert_eq!(metric(&registry, &errors(&lonely_bad.url())), 2.0);
    assert_eq!(metric(&registry, &errors(&good.url())), 0.0);
    assert_eq!(metric(&registry, DROPPED), 2.0);
}

#[tokio::test(start_paused = true)]
async fn a_slow_alertmanager_times_out_without_holding_the_others() {
    let slow = Receiver::start(StatusCode::OK, Duration::from_secs(3600)).await;
    let fast = Receiver::start(StatusCode::OK, Duration::ZERO).await;
    let cfg = alerting(&format!(
        "alertmanagers:\n  - static_configs: [{{targets: [\"{}\", \"{}\"]}}]\n    timeout: 2s\n",
        slow.target(),
        fast.target()
    ));
    let (n, registry) = notifier(&cfg, &Labels::new(), NotifierOptions::default());
    let started = tokio::time::Instant::now();
    n.send(alerts("Slow", 1));
    // Without `run`, stop drains the queue itself.
    n.stop().await;
    // The batch waited for the slow Alertmanager's timeout (virtual time), not its hour.
    let waited = started.elapsed();
    assert!(waited >= Duration::from_secs(2) && waited < Duration::from_secs(60), "{waited:?}");
    assert_eq!(fast.alert_count(), 1);
    assert_eq!(metric(&registry, &errors(&slow.url())), 1.0);
    assert_eq!(metric(&registry, &errors(&fast.url())), 0.0);
    assert_eq!(metric(&registry, DROPPED), 0.0);
}

#[tokio::test(start_paused = true)]
async fn stop_drains_within_the_drain_timeout() {
    let slow = Receiver::start(StatusCode::OK, Duration::from_secs(3600)).await;
    let cfg = alerting(&format!(
        "alertmanagers:\n  - static_configs: [{{targets: [\"{}\"]}}]\n    timeout: 1h\n",
        slow.target()
    ));
    let opts =
        NotifierOptions { max_batch: 2, drain_timeout: Duration::from_secs(5), ..NotifierOptions::default() };
    let (n, registry) = notifier(&cfg, &Labels::new(), opts);
    let cancel = CancellationToken::new();
    let task = tokio::spawn(n.clone().run(cancel.clone()));
    n.stop().await; // nothing queued: returns at once
    assert!(task.await.is_ok());
    // Stopped: later alerts are dropped and counted.
    n.send(alerts("Late", 2));
    assert_eq!(metric(&registry, DROPPED), 2.0);

    let (n, registry) = notifier(
        &cfg,
        &Labels::new(),
        NotifierOptions { max_batch: 2, drain_timeout: Duration::from_secs(5), ..NotifierOptions::default() },
    );
    n.send(alerts("Stuck", 5));
    let started = tokio::time::Instant::now();
    n.stop().await;
    let waited = started.elapsed();
    assert!(waited >= Duration::from_secs(5) && waited < Duration::from_secs(60), "{waited:?}");
    // The first batch (2) was cut at the deadline and failed; the other 3 were never sent.
    assert_eq!(metric(&registry, &errors(&slow.url())), 2.0);
    assert_eq!(metric(&registry, DROPPED), 2.0 + 3.0);
    assert_eq!(n.queue_len(), 0);
}

#[tokio::test]
async fn stop_sends_what_is_queued_or_drops_it_when_draining_is_off() {
    let am = Receiver::start(StatusCode::OK, Duration::ZERO).await;
    let (n, _registry) = notifier(&static_cfg(&[&am]), &Labels::new(), NotifierOptions::default());
    let cancel = CancellationToken::new();
    let task = tokio::spawn(n.clone().run(cancel.clone()));
    // Queue before the sender can run, then stop at once: the drain delivers everything.
    n.send(alerts("Drain", 300));
    n.stop().await;
    assert_eq!(am.alert_count(), 300);
    assert!(task.await.is_ok());

    let other = Receiver::start(StatusCode::OK, Duration::ZERO).await;
    let opts = NotifierOptions { drain_on_shutdown: false, ..NotifierOptions::default() };
    let (n, registry) = notifier(&static_cfg(&[&other]), &Labels::new(), opts);
    n.send(alerts("Lost", 7));
    n.stop().await;
    assert_eq!(other.alert_count(), 0);
    assert_eq!(metric(&registry, DROPPED), 7.0);
}

#[tokio::test]
async fn reload_swaps_alertmanagers_and_keeps_the_queue() {
    let old = Receiver::start(StatusCode::OK, Duration::ZERO).await;
    let new = Receiver::start(StatusCode::OK, Duration::ZERO).await;
    let (n, registry) = notifier(&static_cfg(&[&old]), &Labels::new(), NotifierOptions::default());
    n.send(alerts("Kept", 4));
    let reloaded = n.reload(&static_cfg(&[&new]), &labels(&[("env", "prod")]));
    assert!(reloaded.is_ok(), "{reloaded:?}");
    assert_eq!(n.queue_len(), 4);
    assert_eq!(n.alertmanagers(), [new.url()]);
    // A bad config is refused and the running one stays.
    let bad = alerting("alertmanagers:\n  - static_configs: [{targets: [\"http://x\"]}]\n");
    assert!(n.reload(&bad, &Labels::new()).is_err());
    assert_eq!(n.alertmanagers(), [new.url()]);
    let cancel = CancellationToken::new();
    let task = tokio::spawn(n.clone().run(cancel.clone()));
    new.wait_alerts(4).await;
    // External labels apply at enqueue time: those queued before the reload do not have them.
    n.send(alerts("After", 1));
    new.wait_alerts(5).await;
    let got = new.received().concat_bodies();
    assert_eq!(label_of(&got[0], "env"), None);
    assert_eq!(label_of(&got[4], "env"), Some("prod"));
    assert_eq!(old.alert_count(), 0);
    cancel.cancel();
    let _ = task.await;
    assert_eq!(metric(&registry, "harrier_router_notifications_alertmanagers_discovered"), 1.0);
}

#[test]
fn invalid_options_are_refused() {
    let mut registry = Registry::default();
    let opts = NotifierOptions { queue_capacity: 0, ..NotifierOptions::default() };
    assert!(matches!(
        Notifier::new(&AlertingConfig::default(), &Labels::new(), opts, &mut registry),
        Err(AlertsError::Options(_))
    ));
}
