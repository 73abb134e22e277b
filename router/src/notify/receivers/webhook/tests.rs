use super::*;
use crate::notify::receivers::test_server::alert_with as alert;
use crate::notify::template::Templates;
use crate::route::config::GlobalConfig;
use axum::http::{HeaderMap, StatusCode};
use harrier_telemetry::duration::PromDuration;
use harrier_telemetry::http_client::HttpClientConfig;
use harrier_telemetry::model::Labels;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Go's zero `time.Time` as `encoding/json` prints it.
const GO_ZERO_TIME: &str = "0001-01-01T00:00:00Z";

fn ms(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339).unwrap().timestamp_millis()
}

/// The alerts of the reference run against Alertmanager 0.25 (see `payload_matches_alertmanager`).
fn reference_notification() -> Notification {
    Notification {
        receiver: "team.a".to_string(),
        group_key: r#"{}:{alertname="Down"}"#.to_string(),
        group_labels: Labels::from_pairs([("alertname", "Down")]),
        alerts: vec![
            alert(
                &[("alertname", "Down"), ("job", "a<b>&"), ("instance", "i1")],
                &[("summary", "s")],
                ms("2024-01-02T03:04:05.120Z"),
                0,
                "http://g/x",
            ),
            alert(
                &[("alertname", "Down"), ("job", "a<b>&"), ("instance", "i2")],
                &[("summary", "s"), ("d", "x")],
                ms("2024-01-02T03:04:05Z"),
                ms("2024-01-02T03:05:05.5Z"),
                "",
            ),
            alert(
                &[("alertname", "Down"), ("job", "x"), ("instance", "i3")],
                &[],
                ms("2024-01-02T03:04:05.001Z"),
                ms("2099-01-02T03:05:05.5Z"),
                "",
            ),
        ],
        now_ms: ms("2025-06-01T00:00:00Z"),
        external_url: "http://am.example:9093/x".to_string(),
    }
}

#[test]
fn payload_matches_alertmanager() {
    // Captured from Debian's Alertmanager 0.25 (receiver `team.a`, `max_alerts: 2`, the same
    // three alerts posted to /api/v2/alerts), byte for byte including the trailing newline.
    let expected = concat!(
        r#"{"receiver":"team\\.a","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"Down","instance":"i1","job":"a\u003cb\u003e\u0026"},"annotations":{"summary":"s"},"startsAt":"2024-01-02T03:04:05.12Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://g/x","fingerprint":"063c6574c98d6121"},"#,
        r#"{"status":"resolved","labels":{"alertname":"Down","instance":"i2","job":"a\u003cb\u003e\u0026"},"annotations":{"d":"x","summary":"s"},"startsAt":"2024-01-02T03:04:05Z","endsAt":"2024-01-02T03:05:05.5Z","generatorURL":"","fingerprint":"709ebcca5aab88d6"}],"#,
        r#""groupLabels":{"alertname":"Down"},"commonLabels":{"alertname":"Down","job":"a\u003cb\u003e\u0026"},"commonAnnotations":{"summary":"s"},"externalURL":"http://am.example:9093/x","version":"4","groupKey":"{}:{alertname=\"Down\"}","truncatedAlerts":1}"#,
        "\n"
    );
    assert_eq!(payload(&reference_notification(), 2), expected);
}

#[test]
fn payload_without_limit_and_all_resolved() {
    let mut n = reference_notification();
    let all = payload(&n, 0);
    let v: serde_json::Value = serde_json::from_str(&all).unwrap();
    assert_eq!(v["alerts"].as_array().unwrap().len(), 3);
    assert_eq!(v["truncatedAlerts"], 0);
    // The third alert's end is in the future: firing, end time hidden.
    assert_eq!(v["alerts"][2]["status"], "firing");
    assert_eq!(v["alerts"][2]["endsAt"], GO_ZERO_TIME);
    assert_eq!(v["commonLabels"], serde_json::json!({"alertname": "Down"}));
    assert_eq!(v["commonAnnotations"], serde_json::json!({}));

    // Once its end time has passed, the third alert is resolved and shows it; the first, with
    // no end time, still fires.
    n.now_ms = ms("2100-01-01T00:00:00Z");
    let v: serde_json::Value = serde_json::from_str(&payload(&n, 0)).unwrap();
    assert_eq!(v["status"], "firing");
    assert_eq!(v["alerts"][0]["status"], "firing");
    assert_eq!(v["alerts"][2]["status"], "resolved");
    assert_eq!(v["alerts"][2]["endsAt"], "2099-01-02T03:05:05.5Z");
    // The resolved-only slice decides the status when truncating.
    n.now_ms = ms("2025-06-01T00:00:00Z");
    n.alerts.remove(0);
    let v: serde_json::Value = serde_json::from_str(&payload(&n, 1)).unwrap();
    assert_eq!(v["status"], "resolved");
    assert_eq!(v["truncatedAlerts"], 1);

    n.alerts.clear();
    let v: serde_json::Value = serde_json::from_str(&payload(&n, 0)).unwrap();
    assert_eq!(v["status"], "resolved");
    assert_eq!(v["alerts"], serde_json::json!([]));
    assert_eq!(v["commonLabels"], serde_json::json!({}));
}

#[test]
fn alert_times_are_go_json_times() {
    assert_eq!(alert_time(0), GO_ZERO_TIME);
    assert_eq!(alert_time(ms("2024-01-02T03:04:05Z")), "2024-01-02T03:04:05Z");
    assert_eq!(alert_time(ms("2024-01-02T03:04:05.100Z")), "2024-01-02T03:04:05.1Z");
    assert_eq!(alert_time(ms("2024-01-02T03:04:05.010Z")), "2024-01-02T03:04:05.01Z");
    assert_eq!(alert_time(ms("2024-01-02T03:04:05.999Z")), "2024-01-02T03:04:05.999Z");
    assert_eq!(alert_time(-1), "1969-12-31T23:59:59.999Z");
}

// --- delivery against a local HTTP server ---

#[derive(Clone, Default)]
struct Captured {
    requests: Arc<Mutex<Vec<(String, HeaderMap, String)>>>,
}

struct Reply {
    status: u16,
    headers: Vec<(&'static str, &'static str)>,
    body: &'static str,
    delay: Duration,
}

impl Reply {
    fn status(status: u16) -> Reply {
        Reply { status, headers: Vec::new(), body: "", delay: Duration::ZERO }
    }
}

/// Serves `reply` to every request on a free loopback port; returns the base URL.
async fn serve(reply: Reply) -> (String, Captured) {
    let captured = Captured::default();
    let reply = Arc::new(reply);
    let state = captured.clone();
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri, headers: HeaderMap, body: String| {
        let reply = Arc::clone(&reply);
        let state = state.clone();
        async move {
            state.requests.lock().unwrap().push((uri.to_string(), headers, body));
            tokio::time::sleep(reply.delay).await;
            let mut response =
                axum::http::Response::builder().status(StatusCode::from_u16(reply.status).unwrap());
            for (k, v) in &reply.headers {
                response = response.header(*k, *v);
            }
            response.body(axum::body::Body::from(reply.body)).unwrap()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), captured)
}

fn context(base_dir: Option<PathBuf>) -> BuildContext {
    BuildContext {
        templates: Arc::new(Templates::load(&[], None).unwrap()),
        global: GlobalConfig::default(),
        base_dir,
    }
}

fn config(url: &str) -> WebhookConfig {
    WebhookConfig {
        send_resolved: true,
        http_config: None,
        url: Some(url.to_string()),
        url_file: None,
        max_alerts: 0,
        timeout: None,
    }
}

#[tokio::test]
async fn posts_the_payload_with_credentials() {
    let (base, captured) = serve(Reply::status(200)).await;
    let mut cfg = config(&format!("{base}/hook?x=1"));
    cfg.max_alerts = 1;
    cfg.http_config = Some(HttpClientConfig { bearer_token: Some("s3cret".into()), ..Default::default() });
    let integration = WebhookIntegration::new(&cfg, &context(None)).unwrap();
    assert_eq!(integration.name(), "webhook");
    assert!(integration.send_resolved());
    let n = reference_notification();
    integration.notify(&n).await.unwrap();
    let requests = captured.requests.lock().unwrap();
    assert_eq!(requests.len(), 1);
    let (uri, headers, body) = &requests[0];
    assert_eq!(uri, "/hook?x=1");
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(headers["authorization"], "Bearer s3cret");
    assert_eq!(body, &payload(&n, 1));
}

#[tokio::test]
async fn classifies_responses() {
    let n = reference_notification();
    let send = |reply: Reply| async {
        let (base, _) = serve(reply).await;
        WebhookIntegration::new(&config(&base), &context(None)).unwrap().notify(&n).await
    };
    assert_eq!(send(Reply::status(204)).await, Ok(()));

    let err = send(Reply { headers: vec![("Retry-After", "7")], body: "busy", ..Reply::status(503) })
        .await
        .unwrap_err();
    assert!(err.retryable);
    assert_eq!(err.retry_after, Some(Duration::from_secs(7)));
    assert_eq!(err.message, "unexpected status code 503: busy");

    let err = send(Reply { headers: vec![("Retry-After", "3")], ..Reply::status(429) }).await.unwrap_err();
    assert!(err.retryable);
    assert_eq!(err.retry_after, Some(Duration::from_secs(3)));
    assert_eq!(err.message, "unexpected status code 429");

    let err = send(Reply { body: "{\"error\":\"bad payload\"}", ..Reply::status(400) }).await.unwrap_err();
    assert!(!err.retryable);
    assert_eq!(err.retry_after, None);
    assert_eq!(err.message, r#"unexpected status code 400: {"error":"bad payload"}"#);

    let err = send(Reply::status(404)).await.unwrap_err();
    assert!(!err.retryable);
}

#[tokio::test]
async fn connection_errors_and_timeouts_are_retryable() {
    // A port nothing listens on: bind, note it, close.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let integration =
        WebhookIntegration::new(&config(&format!("http://{addr}/secret-token")), &context(None)).unwrap();
    let err = integration.notify(&reference_notification()).await.unwrap_err();
    assert!(err.retryable, "{err:?}");
    assert!(!err.message.contains("secret-token"), "URL leaked into {:?}", err.message);

    let (base, captured) = serve(Reply { delay: Duration::from_secs(5), ..Reply::status(200) }).await;
    let mut cfg = config(&base);
    cfg.timeout = Some("100ms".parse::<PromDuration>().unwrap());
    let integration = WebhookIntegration::new(&cfg, &context(None)).unwrap();
    let started = std::time::Instant::now();
    let err = integration.notify(&reference_notification()).await.unwrap_err();
    assert!(err.retryable);
    assert_eq!(err.message, "request timed out");
    assert!(started.elapsed() < Duration::from_secs(4));
    assert_eq!(captured.requests.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn an_endless_error_body_does_not_hold_the_attempt() {
    let (base, _) =
        crate::notify::receivers::test_server::endless_server("502 Bad Gateway", "text/html").await;
    // No `timeout`: only the bounded read of the body ends the attempt.
    let integration = WebhookIntegration::new(&config(&base), &context(None)).unwrap();
    let err = tokio::time::timeout(Duration::from_secs(30), integration.notify(&reference_notification()))
        .await
        .expect("an endless body must not hold the attempt")
        .unwrap_err();
    assert!(err.retryable);
    assert!(err.message.starts_with("unexpected status code 502: xxx"), "{}", err.message);
    assert!(err.message.ends_with('…'));
    assert!(err.message.len() < 600, "{} bytes", err.message.len());
}

#[tokio::test]
async fn url_file_is_read_at_send_time() {
    let dir = tempfile::tempdir().unwrap();
    let (base, captured) = serve(Reply::status(200)).await;
    let cfg = WebhookConfig { url: None, url_file: Some("hook-url".into()), ..config("") };
    let integration = WebhookIntegration::new(&cfg, &context(Some(dir.path().to_path_buf()))).unwrap();
    // Missing file: not retryable (as Alertmanager).
    let err = integration.notify(&reference_notification()).await.unwrap_err();
    assert!(!err.retryable);
    assert!(err.message.contains("url_file"), "{}", err.message);
    std::fs::write(dir.path().join("hook-url"), format!("  {base}/from-file\n")).unwrap();
    integration.notify(&reference_notification()).await.unwrap();
    assert_eq!(captured.requests.lock().unwrap()[0].0, "/from-file");
}

#[test]
fn build_errors() {
    let ctx = context(None);
    assert!(WebhookIntegration::new(&config("not a url"), &ctx).err().unwrap().contains("invalid url"));
    let none = WebhookConfig { url: None, ..config("") };
    assert!(WebhookIntegration::new(&none, &ctx).is_err());
    let mut tls = config("https://example.invalid/");
    tls.http_config = Some(HttpClientConfig {
        tls_config: Some(harrier_telemetry::http_client::TlsConfig {
            ca_file: Some("/nonexistent/ca.pem".into()),
            ..Default::default()
        }),
        ..Default::default()
    });
    assert!(WebhookIntegration::new(&tls, &ctx).err().unwrap().contains("/nonexistent/ca.pem"));
}
