//! Both paths of [`BodyPoster`] against a local server: the plain one (hyper-util) for plain
//! `http` without credentials, reqwest for the rest and for redirects.

use super::*;
use crate::http_client::{Authorization, HttpClientConfig};
use axum::extract::State;
use axum::http::{HeaderMap as AxumHeaders, StatusCode as AxumStatus};
use axum::response::{IntoResponse, Response};
use std::sync::{Arc, Mutex};

/// What the server saw: (path, headers of interest, body) per request.
type Seen = Arc<Mutex<Vec<(String, Vec<(String, String)>, Vec<u8>)>>>;

async fn serve() -> (String, Seen) {
    async fn record(
        State(seen): State<Seen>,
        uri: axum::http::Uri,
        headers: AxumHeaders,
        body: Bytes,
    ) -> Response {
        let kept = ["content-type", "x-custom", "authorization", "user-agent", "host"]
            .iter()
            .filter_map(|n| headers.get(*n).map(|v| (n.to_string(), v.to_str().unwrap_or("").to_string())))
            .collect();
        let path = uri.path().to_string();
        seen.lock().unwrap().push((path.clone(), kept, body.to_vec()));
        match path.as_str() {
            "/moved" => (AxumStatus::TEMPORARY_REDIRECT, [("location", "/write")]).into_response(),
            "/busy" => (AxumStatus::SERVICE_UNAVAILABLE, [("retry-after", "7")], "try later").into_response(),
            "/bad" => (AxumStatus::BAD_REQUEST, "out of order sample").into_response(),
            "/slow" => {
                tokio::time::sleep(Duration::from_secs(5)).await;
                AxumStatus::NO_CONTENT.into_response()
            }
            _ => AxumStatus::NO_CONTENT.into_response(),
        }
    }
    let seen: Seen = Arc::default();
    let app = axum::Router::new().fallback(axum::routing::post(record)).with_state(Arc::clone(&seen));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), seen)
}

fn poster(url: String, http: &HttpClientConfig, timeout: Duration) -> BodyPoster {
    let mut headers = HeaderMap::new();
    headers.insert("content-type", "application/x-protobuf".parse().unwrap());
    headers.insert("x-custom", "yes".parse().unwrap());
    let policy = RetryPolicy { retry_on_http_429: true, logged_body_bytes: 64 };
    BodyPoster::new(url, headers, http, timeout, policy).unwrap()
}

#[tokio::test]
async fn plain_http_without_credentials_takes_the_lean_path_and_classifies_like_reqwest() {
    let (base, seen) = serve().await;
    let plain_cfg = HttpClientConfig::default();
    let with_auth = HttpClientConfig {
        authorization: Some(Authorization {
            kind: None,
            credentials: Some("s3cret".into()),
            credentials_file: None,
        }),
        ..Default::default()
    };
    for (cfg, lean) in [(&plain_cfg, true), (&with_auth, false)] {
        let p = poster(format!("{base}/write"), cfg, Duration::from_secs(5));
        assert_eq!(p.plain.is_some(), lean);
        seen.lock().unwrap().clear();

        assert_eq!(p.post(Bytes::from_static(b"payload")).await, Attempt::Delivered { status: 204 });
        let (path, headers, body) = seen.lock().unwrap()[0].clone();
        assert_eq!((path.as_str(), body.as_slice()), ("/write", &b"payload"[..]));
        let header = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        assert_eq!(header("content-type").as_deref(), Some("application/x-protobuf"));
        assert_eq!(header("x-custom").as_deref(), Some("yes"));
        assert_eq!(header("user-agent").as_deref(), Some(http_client::USER_AGENT));
        assert_eq!(header("host"), Some(base.trim_start_matches("http://").to_string()));
        assert_eq!(header("authorization").as_deref(), (!lean).then_some("Bearer s3cret"));

        let busy = poster(format!("{base}/busy"), cfg, Duration::from_secs(5));
        match busy.post(Bytes::from_static(b"x")).await {
            Attempt::Retry { status, retry_after, reason } => {
                assert_eq!(status, Some(503));
                assert_eq!(retry_after, Some(Duration::from_secs(7)));
                assert!(reason.contains("try later"), "{reason}");
            }
            other => panic!("expected a retry, got {other:?}"),
        }
        let bad = poster(format!("{base}/bad"), cfg, Duration::from_secs(5));
        assert_eq!(
            bad.post(Bytes::from_static(b"x")).await,
            Attempt::Rejected { status: 400, body: "out of order sample".into() }
        );
    }
}

#[tokio::test]
async fn a_redirect_on_the_lean_path_is_followed_through_reqwest_with_the_body() {
    let (base, seen) = serve().await;
    let p = poster(format!("{base}/moved"), &HttpClientConfig::default(), Duration::from_secs(5));
    assert!(p.plain.is_some());
    assert_eq!(p.post(Bytes::from_static(b"moved body")).await, Attempt::Delivered { status: 204 });
    // From then on reqwest sends everything.
    assert!(!p.plain.as_ref().unwrap().in_use());
    assert_eq!(p.post(Bytes::from_static(b"again")).await, Attempt::Delivered { status: 204 });
    let seen = seen.lock().unwrap().clone();
    // The lean attempt, reqwest's repeat, reqwest following the redirect; then reqwest only.
    let paths: Vec<&str> = seen.iter().map(|(p, _, _)| p.as_str()).collect();
    assert_eq!(paths, ["/moved", "/moved", "/write", "/moved", "/write"]);
    assert_eq!(seen[2].2, b"moved body");
    assert_eq!(seen[4].2, b"again");

    let no_follow = HttpClientConfig { follow_redirects: Some(false), ..Default::default() };
    let p = poster(format!("{base}/moved"), &no_follow, Duration::from_secs(5));
    assert!(matches!(p.post(Bytes::from_static(b"x")).await, Attempt::Rejected { status: 307, .. }));
}

#[tokio::test]
async fn no_response_on_the_lean_path_is_retried() {
    let (base, _seen) = serve().await;
    let slow = poster(format!("{base}/slow"), &HttpClientConfig::default(), Duration::from_millis(200));
    match slow.post(Bytes::from_static(b"x")).await {
        Attempt::Retry { status: None, reason, .. } => assert!(reason.contains("timed out"), "{reason}"),
        other => panic!("expected a retry without status, got {other:?}"),
    }
    // A port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/write", closed.local_addr().unwrap());
    drop(closed);
    let refused = poster(url, &HttpClientConfig::default(), Duration::from_secs(5));
    assert!(refused.plain.is_some());
    assert!(matches!(refused.post(Bytes::from_static(b"x")).await, Attempt::Retry { status: None, .. }));
}

#[tokio::test]
async fn credentials_in_the_url_go_through_reqwest_as_basic_auth() {
    let (base, seen) = serve().await;
    let url = base.replace("http://", "http://user:pw@") + "/write";
    let p = poster(url, &HttpClientConfig::default(), Duration::from_secs(5));
    assert!(p.plain.is_none());
    assert_eq!(p.post(Bytes::from_static(b"x")).await, Attempt::Delivered { status: 204 });
    let headers = seen.lock().unwrap()[0].1.clone();
    let authorization = headers.iter().find(|(k, _)| k == "authorization").map(|(_, v)| v.as_str());
    // base64("user:pw")
    assert_eq!(authorization, Some("Basic dXNlcjpwdw=="));
}

#[tokio::test]
async fn a_response_whose_body_stalls_is_classified_by_its_status() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = [0u8; 4096];
                let _ = socket.read(&mut request).await;
                let head = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial";
                let _ = socket.write_all(head.as_bytes()).await;
                tokio::time::sleep(Duration::from_secs(10)).await;
            });
        }
    });
    let p = poster(format!("http://{addr}/write"), &HttpClientConfig::default(), Duration::from_millis(300));
    assert!(p.plain.is_some());
    // Delivered, not retried (a retry would send the data twice).
    assert_eq!(p.post(Bytes::from_static(b"x")).await, Attempt::Delivered { status: 200 });
}
