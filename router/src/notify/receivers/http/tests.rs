use super::*;
use crate::notify::receivers::test_server::{Reply as Scripted, TestServer, context, endless_server};
use std::sync::atomic::Ordering;

fn reply(status: u16, body: &[u8], retry_after: Option<Duration>) -> Reply {
    Reply {
        status,
        content_type: String::new(),
        retry_after,
        body: body.to_vec(),
        truncated: false,
        read_error: None,
    }
}

#[test]
fn json_is_html_safe_like_go() {
    let v = serde_json::json!({"a": "<b>&</b>\u{2028}"});
    assert_eq!(go_json(&v).unwrap(), "{\"a\":\"\\u003cb\\u003e\\u0026\\u003c/b\\u003e\\u2028\"}\n");
}

#[test]
fn status_classification() {
    let three = Some(Duration::from_secs(3));
    assert_eq!(reply(204, b"", three).check(&[], "x"), Ok(()));
    let e = reply(503, b"", three).check(&[], "").unwrap_err();
    assert_eq!((e.message.as_str(), e.retryable, e.retry_after), ("unexpected status code 503", true, three));
    let e = reply(429, b"", three).check(&[], "").unwrap_err();
    assert_eq!((e.retryable, e.retry_after), (true, three));
    let e = reply(400, b"", three).check(&[], "bad").unwrap_err();
    assert_eq!(
        (e.message.as_str(), e.retryable, e.retry_after),
        ("unexpected status code 400: bad", false, None)
    );
    assert!(!reply(403, b"", None).check(&[], "").unwrap_err().retryable);
    assert!(reply(403, b"", None).check(&[403], "").unwrap_err().retryable);
    assert!(!reply(302, b"", None).check(&[], "").unwrap_err().retryable);
}

#[test]
fn snippet_is_bounded() {
    assert_eq!(reply(400, b"  bad request\n", None).snippet(), "bad request");
    let s = reply(400, &[b'x'; 2000], None).snippet();
    assert_eq!(s.chars().count(), BODY_SNIPPET_BYTES + 1);
    assert!(s.ends_with('…'));
    let mut cut = reply(400, b"short", None);
    cut.truncated = true;
    assert_eq!(cut.snippet(), "short…");
}

#[test]
fn no_timeout_unless_configured() {
    assert_eq!(request_timeout(None), UNBOUNDED);
    assert_eq!(request_timeout(Some("0s".parse().unwrap())), UNBOUNDED);
    assert_eq!(request_timeout(Some("1m".parse().unwrap())), Duration::from_secs(60));
}

#[tokio::test]
async fn posts_with_credentials_and_reads_the_answer() {
    let server = TestServer::start(vec![
        Scripted::new(200, "{\"ok\":true}").header("content-type", "application/json; charset=utf-8"),
        Scripted::new(503, "later").header("retry-after", "5"),
    ])
    .await;
    let http_config = HttpClientConfig { bearer_token: Some("from-config".into()), ..Default::default() };
    let sender = HttpSender::new(Some(&http_config), None, &context(None)).unwrap();
    let url = format!("{}/a", server.base);
    let ok = sender.post(&url, JSON, "{}".into(), Auth::HttpConfig, 1024).await.unwrap();
    assert_eq!((ok.status, ok.body.as_slice(), ok.truncated), (200, &b"{\"ok\":true}"[..], false));
    assert!(ok.is_json() && ok.is_success());
    let later = sender.post(&url, "text/plain", "hi".into(), Auth::Bearer("app"), 1024).await.unwrap();
    let e = later.check(&[], &later.snippet()).unwrap_err();
    assert_eq!(
        (e.message.as_str(), e.retry_after),
        ("unexpected status code 503: later", Some(Duration::from_secs(5)))
    );
    let requests = server.requests();
    assert_eq!(requests[0].headers["authorization"], "Bearer from-config");
    assert_eq!(requests[0].headers["content-type"], "application/json");
    assert_eq!(requests[1].headers["authorization"], "Bearer app");
    assert_eq!(
        (requests[1].headers["content-type"].to_str().unwrap(), requests[1].body.as_str()),
        ("text/plain", "hi")
    );

    let e = sender.post("not a url", JSON, String::new(), Auth::HttpConfig, 0).await.unwrap_err();
    assert!(!e.retryable && e.message.starts_with("invalid URL"), "{e:?}");
    let e = sender.post(&url, JSON, String::new(), Auth::Bearer("a\nb"), 0).await.unwrap_err();
    assert!(!e.retryable, "{e:?}");
}

#[tokio::test]
async fn an_endless_error_body_is_read_up_to_the_limit() {
    let (base, written) = endless_server("500 Internal Server Error", "text/plain").await;
    let sender = HttpSender::new(None, None, &context(None)).unwrap();
    // No `timeout` configured: only the bounded read ends this (the guard is for a failure).
    let posted = tokio::time::timeout(
        Duration::from_secs(30),
        sender.post(&format!("{base}/"), JSON, "{}".into(), Auth::HttpConfig, 1 << 20),
    )
    .await
    .expect("reading an endless error body must stop at the limit")
    .unwrap();
    assert_eq!(posted.status, 500);
    assert_eq!(posted.body.len(), SMALL_BODY_LIMIT);
    assert!(posted.truncated);
    let e = posted.check(&[], &posted.snippet()).unwrap_err();
    assert!(e.retryable);
    assert_eq!(e.message.len(), "unexpected status code 500: ".len() + BODY_SNIPPET_BYTES + '…'.len_utf8());
    assert!(written.load(Ordering::Relaxed) > 0);

    // A 2xx body is read up to the caller's limit, no further.
    let (base, _) = endless_server("200 OK", "application/json").await;
    let posted = tokio::time::timeout(
        Duration::from_secs(30),
        sender.post(&format!("{base}/"), JSON, "{}".into(), Auth::HttpConfig, 100_000),
    )
    .await
    .expect("reading an endless body must stop at the limit")
    .unwrap();
    assert_eq!((posted.body.len(), posted.truncated), (100_000, true));
}

#[tokio::test]
async fn no_answer_is_retryable_and_keeps_the_url_out() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let sender = HttpSender::new(None, None, &context(None)).unwrap();
    let e = sender
        .post(&format!("http://{addr}/secret-token"), JSON, String::new(), Auth::HttpConfig, 0)
        .await
        .unwrap_err();
    assert!(e.retryable, "{e:?}");
    assert!(e.message.starts_with("POST failed: "), "{}", e.message);
    assert!(!e.message.contains("secret-token"), "{}", e.message);
}
