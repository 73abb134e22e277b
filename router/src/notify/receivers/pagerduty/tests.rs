use super::*;
use crate::notify::receivers::test_server::{
    Recorded, Reply, TestServer, context, reference_notification, resolved_notification,
};
use std::time::Duration;

/// The request Alertmanager 0.25 sent for `reference_notification` (`routing_key: abc`),
/// byte for byte (Content-Length 1059).
const ALERTMANAGER_TRIGGER: &str = concat!(
    r#"{"routing_key":"abc","dedup_key":"f69dc3cb4c73002c9ab55f4f8fa67081dfcb1723fa475ff3e9160ef15e0cb217","event_action":"trigger","payload":{"summary":"[FIRING:2] InstanceDown node (page)","source":"Alertmanager","severity":"error","custom_details":{"firing":"Labels:\n - alertname = InstanceDown\n - instance = a:9100\n - job = node\n - severity = page\nAnnotations:\n - description = a is down \u003cb\u003e\u0026\u003c/b\u003e\n - summary = Instance down\nSource: http://prom:9090/graph?g0.expr=up+%3D%3D+0\u0026g0.tab=1\nLabels:\n - alertname = InstanceDown\n - instance = b:9100\n - job = node\n - severity = page\nAnnotations:\n - description = b is down\n - summary = Instance down\nSource: http://prom:9090/graph?g0.expr=up\n","num_firing":"2","num_resolved":"1","resolved":"Labels:\n - alertname = InstanceDown\n - instance = c:9100\n - job = node\n - severity = page\nAnnotations:\n - summary = Instance down\nSource: http://prom:9090/graph?g0.expr=up\n"}},"client":"Alertmanager","client_url":"http://am.example:9093/#/alerts?receiver=team-x%5C.pager"}"#,
    "\n"
);

fn config(yaml: &str) -> PagerdutyConfig {
    yaml_serde::from_str(yaml).unwrap()
}

async fn send_one(
    yaml: &str,
    replies: Vec<Reply>,
    n: &Notification,
) -> (Result<(), NotifyError>, Vec<Recorded>) {
    let server = TestServer::start(replies).await;
    let yaml = yaml.replace("BASE", &server.base);
    let integration = PagerdutyIntegration::new(&config(&yaml), &context(None)).unwrap();
    let result = integration.notify(n).await;
    (result, server.requests())
}

fn json(r: &Recorded) -> serde_json::Value {
    serde_json::from_str(&r.body).unwrap()
}

#[test]
fn dedup_key_is_sha256_of_group_key() {
    assert_eq!(
        group_key_hash("{}:{alertname=\"InstanceDown\", job=\"node\"}"),
        "f69dc3cb4c73002c9ab55f4f8fa67081dfcb1723fa475ff3e9160ef15e0cb217"
    );
    assert_eq!(metric_bytes(MAX_EVENT_BYTES), "512KB");
    assert_eq!(metric_bytes(600_123), "600KB123B");
}

#[tokio::test]
async fn trigger_matches_alertmanager() {
    let (result, requests) =
        send_one("routing_key: abc\nurl: BASE/v2/enqueue\n", vec![], &reference_notification()).await;
    assert_eq!(result, Ok(()));
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.path, "/v2/enqueue");
    assert_eq!(r.body, ALERTMANAGER_TRIGGER);
    assert_eq!(r.body.len(), 1059);
    assert_eq!(r.headers["content-type"], "application/json");
    assert!(r.headers["user-agent"].to_str().unwrap().starts_with("Harrier/"));
    assert!(r.headers.get("authorization").is_none());
}

#[tokio::test]
async fn resolve_when_every_alert_is_resolved() {
    let (result, requests) =
        send_one("routing_key: abc\nurl: BASE/\n", vec![], &resolved_notification()).await;
    assert_eq!(result, Ok(()));
    let body = json(&requests[0]);
    assert_eq!(body["event_action"], "resolve");
    assert_eq!(body["dedup_key"], "f69dc3cb4c73002c9ab55f4f8fa67081dfcb1723fa475ff3e9160ef15e0cb217");
    assert_eq!(body["payload"]["summary"], "[RESOLVED] InstanceDown node (page)");
    assert_eq!(body["payload"]["custom_details"]["num_firing"], "0");
    assert_eq!(body["payload"]["custom_details"]["num_resolved"], "3");
    assert_eq!(body["payload"]["custom_details"]["firing"], "");
}

#[tokio::test]
async fn every_field_is_templated() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("key"), "  from-file\n").unwrap();
    let server = TestServer::start(vec![]).await;
    let yaml = format!(
        r#"
routing_key_file: key
url: {}/enqueue
client: 'Harrier {{{{ .Status }}}}'
client_url: 'http://x/{{{{ .GroupLabels.job }}}}'
description: '{{{{ .CommonLabels.alertname }}}} x{{{{ len .Alerts }}}}'
source: '{{{{ .CommonLabels.job }}}}-src'
severity: '{{{{ .CommonLabels.severity }}}}'
class: cls
component: '{{{{ .GroupLabels.alertname }}}}'
group: grp
details:
  firing: custom
  extra: '{{{{ .Receiver }}}}'
images:
  - src: 'http://img/{{{{ .Status }}}}.png'
    alt: alt
    href: 'http://href'
  - src: ''
    alt: dropped
links:
  - href: 'http://link/{{{{ .GroupLabels.job }}}}'
    text: runbook
  - href: ''
    text: dropped
"#,
        server.base
    );
    let integration = PagerdutyIntegration::new(&config(&yaml), &context(Some(dir.path()))).unwrap();
    assert_eq!(integration.notify(&reference_notification()).await, Ok(()));
    let body = json(&server.requests()[0]);
    let want = serde_json::json!({
        "routing_key": "from-file",
        "dedup_key": "f69dc3cb4c73002c9ab55f4f8fa67081dfcb1723fa475ff3e9160ef15e0cb217",
        "event_action": "trigger",
        "payload": {
            "summary": "InstanceDown x3",
            "source": "node-src",
            "severity": "page",
            "class": "cls",
            "component": "InstanceDown",
            "group": "grp",
            "custom_details": {
                "extra": "team-x\\.pager",
                "firing": "custom",
                "num_firing": "2",
                "num_resolved": "1",
                "resolved": "Labels:\n - alertname = InstanceDown\n - instance = c:9100\n - job = node\n - severity = page\nAnnotations:\n - summary = Instance down\nSource: http://prom:9090/graph?g0.expr=up\n"
            }
        },
        "client": "Harrier firing",
        "client_url": "http://x/node",
        "images": [{"src": "http://img/firing.png", "alt": "alt", "href": "http://href"}],
        "links": [{"href": "http://link/node", "text": "runbook"}]
    });
    assert_eq!(body, want);
}

#[tokio::test]
async fn long_summary_is_cut_to_1024_characters() {
    let yaml = "routing_key: abc\nurl: BASE/\ndescription: '{{ printf \"%1100s\" \"é\" }}'\n";
    let (result, requests) = send_one(yaml, vec![], &reference_notification()).await;
    assert_eq!(result, Ok(()));
    let summary = json(&requests[0])["payload"]["summary"].as_str().unwrap().to_string();
    assert_eq!(summary.chars().count(), 1024);
    assert!(summary.ends_with('…'));
    assert!(summary.starts_with("    "));
}

#[tokio::test]
async fn oversized_event_loses_its_details() {
    let yaml = "routing_key: abc\nurl: BASE/\ndetails:\n  big: '{{ printf \"%600000s\" \"x\" }}'\n";
    let (result, requests) = send_one(yaml, vec![], &reference_notification()).await;
    assert_eq!(result, Ok(()));
    let body = json(&requests[0]);
    assert_eq!(
        body["payload"]["custom_details"],
        serde_json::json!({"error": "Custom details have been removed because the original event exceeds the maximum size of 512KB"})
    );
    assert!(requests[0].body.len() < MAX_EVENT_BYTES);
}

#[tokio::test]
async fn status_handling() {
    let n = reference_notification();
    let yaml = "routing_key: abc\nurl: BASE/\n";
    let (result, _) = send_one(yaml, vec![Reply::new(500, "boom")], &n).await;
    let e = result.unwrap_err();
    assert!(e.retryable);
    assert_eq!(e.message, "unexpected status code 500: boom");

    let (result, _) = send_one(yaml, vec![Reply::new(429, "slow down").header("retry-after", "7")], &n).await;
    let e = result.unwrap_err();
    assert!(e.retryable);
    assert_eq!(e.retry_after, Some(Duration::from_secs(7)));

    let bad = r#"{"status":"invalid event","message":"Event object is invalid","errors":["Length of 'routing_key' is incorrect (should be 32 characters)"]}"#;
    let (result, _) = send_one(yaml, vec![Reply::new(400, bad)], &n).await;
    let e = result.unwrap_err();
    assert!(!e.retryable);
    assert_eq!(
        e.message,
        "unexpected status code 400: Event object is invalid: Length of 'routing_key' is incorrect (should be 32 characters)"
    );

    let (result, _) = send_one(yaml, vec![Reply::new(403, "forbidden")], &n).await;
    let e = result.unwrap_err();
    assert_eq!((e.retryable, e.message.as_str()), (false, "unexpected status code 403: forbidden"));

    let (result, _) = send_one(yaml, vec![Reply::new(202, r#"{"status":"success"}"#)], &n).await;
    assert_eq!(result, Ok(()));
}

#[tokio::test]
async fn connection_errors_are_retryable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let yaml = format!("routing_key: abc\nurl: http://{addr}/\n");
    let integration = PagerdutyIntegration::new(&config(&yaml), &context(None)).unwrap();
    let e = integration.notify(&reference_notification()).await.unwrap_err();
    assert!(e.retryable, "{e:?}");
    assert!(e.message.starts_with("POST failed"), "{}", e.message);
}

#[tokio::test]
async fn template_errors_are_final() {
    let (result, requests) = send_one(
        "routing_key: abc\nurl: BASE/\nseverity: '{{ .Nope }}'\n",
        vec![],
        &reference_notification(),
    )
    .await;
    assert_eq!(
        result,
        Err(NotifyError::permanent(
            r#"failed to template PagerDuty v2 message: template: :1:3: executing "" at <.Nope>: can't evaluate field Nope in type *template.Data"#
        ))
    );
    assert!(requests.is_empty());
    let (result, _) = send_one(
        "routing_key: abc\nurl: BASE/\ndetails:\n  x: '{{ nope }}'\n",
        vec![],
        &reference_notification(),
    )
    .await;
    assert_eq!(
        result,
        Err(NotifyError::permanent(
            r#""x": failed to template "{{ nope }}": template: :1: function "nope" not defined"#
        ))
    );
    let (result, _) =
        send_one("routing_key: '{{ .CommonLabels.none }}'\nurl: BASE/\n", vec![], &reference_notification())
            .await;
    assert_eq!(result, Err(NotifyError::permanent("routing key cannot be empty")));
}

#[tokio::test]
async fn service_key_uses_events_api_v1() {
    let (result, requests) =
        send_one("service_key: svc\nurl: BASE/v1\n", vec![], &reference_notification()).await;
    assert_eq!(result, Ok(()));
    let body = json(&requests[0]);
    assert_eq!(body["service_key"], "svc");
    assert_eq!(body["incident_key"], "f69dc3cb4c73002c9ab55f4f8fa67081dfcb1723fa475ff3e9160ef15e0cb217");
    assert_eq!(body["event_type"], "trigger");
    assert_eq!(body["description"], "[FIRING:2] InstanceDown node (page)");
    assert_eq!(body["event_action"], "");
    assert_eq!(body["payload"], serde_json::Value::Null);
    assert_eq!(body["client"], "Alertmanager");
    assert_eq!(body["details"]["num_firing"], "2");
    // Resolving leaves out the client fields; 403 is retryable on v1.
    let (result, requests) =
        send_one("service_key: svc\nurl: BASE/v1\n", vec![Reply::new(403, "")], &resolved_notification())
            .await;
    assert!(result.unwrap_err().retryable);
    let body = json(&requests[0]);
    assert_eq!(body["event_type"], "resolve");
    assert!(body.get("client").is_none());
    // The default URL becomes PagerDuty's v1 endpoint.
    let cfg = config("service_key: svc\n");
    let mut ctx = context(None);
    ctx.global.pagerduty_url = "https://events.pagerduty.com/v2/enqueue".into();
    let integration = PagerdutyIntegration::new(&cfg, &ctx).unwrap();
    assert_eq!(integration.url, EVENTS_V1_URL);
}

#[tokio::test]
async fn service_key_wins_over_routing_key() {
    // As upstream: a service key selects Events API v1 even with a routing key set.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("svc"), "svc-from-file\n").unwrap();
    for (yaml, key) in [
        ("routing_key: abc\nservice_key: svc\nurl: BASE/v1\n", "svc"),
        ("routing_key: abc\nservice_key_file: svc\nurl: BASE/v1\n", "svc-from-file"),
    ] {
        let server = TestServer::start(vec![Reply::new(403, "rate limited")]).await;
        let cfg = config(&yaml.replace("BASE", &server.base));
        let integration = PagerdutyIntegration::new(&cfg, &context(Some(dir.path()))).unwrap();
        assert_eq!(integration.api, Api::V1);
        // 403 is retryable on v1 only.
        assert!(integration.notify(&reference_notification()).await.unwrap_err().retryable);
        let body = json(&server.requests()[0]);
        assert_eq!(body["service_key"], key);
        assert!(body.get("routing_key").is_none(), "{body}");
        assert_eq!(body["event_type"], "trigger");
    }
    // Without a URL of its own, v1 goes to PagerDuty's v1 endpoint.
    let cfg = config("routing_key: abc\nservice_key: svc\n");
    let mut ctx = context(None);
    ctx.global.pagerduty_url = "https://events.pagerduty.com/v2/enqueue".into();
    let integration = PagerdutyIntegration::new(&cfg, &ctx).unwrap();
    assert_eq!((integration.api, integration.url.as_str()), (Api::V1, EVENTS_V1_URL));
    // A routing key alone is v2, where 403 is final.
    let (result, requests) = send_one(
        "routing_key_file: ''\nrouting_key: abc\nurl: BASE/\n",
        vec![Reply::new(403, "")],
        &reference_notification(),
    )
    .await;
    assert!(!result.unwrap_err().retryable);
    assert_eq!(json(&requests[0])["routing_key"], "abc");
}

#[tokio::test]
async fn an_endless_error_body_does_not_hold_the_attempt() {
    let (base, _) =
        crate::notify::receivers::test_server::endless_server("400 Bad Request", "application/json").await;
    let integration =
        PagerdutyIntegration::new(&config(&format!("routing_key: abc\nurl: {base}/\n")), &context(None))
            .unwrap();
    let e = tokio::time::timeout(Duration::from_secs(30), integration.notify(&reference_notification()))
        .await
        .expect("an endless body must not hold the attempt")
        .unwrap_err();
    assert!(!e.retryable);
    assert!(e.message.starts_with("unexpected status code 400: xxx"), "{}", e.message);
    assert!(e.message.len() < 600, "{} bytes", e.message.len());
}

#[test]
fn build_errors() {
    let ctx = context(None);
    let err = PagerdutyIntegration::new(&config("url: http://x/\n"), &ctx).err();
    assert_eq!(err.as_deref(), Some("missing service or routing key in PagerDuty config"));
    let err = PagerdutyIntegration::new(&config("routing_key: a\nurl: 'not a url'\n"), &ctx).err().unwrap();
    assert!(err.starts_with("invalid url"), "{err}");
    let integration = PagerdutyIntegration::new(&config("routing_key: a\n"), &ctx).unwrap();
    assert!(integration.send_resolved());
    assert_eq!(integration.name(), "pagerduty");
}
