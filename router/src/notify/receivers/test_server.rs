//! Local HTTP servers for the receivers' tests: [`TestServer`] records every request and
//! answers with scripted responses (200 `ok` once the script runs out); [`endless_server`]
//! answers every request with a body that never ends. Also the reference notifications the
//! payload tests compare against Alertmanager 0.25's requests.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use crate::notify::alert::{Alert, Notification};
use crate::notify::receivers::BuildContext;
use crate::notify::template::Templates;
use harrier_telemetry::model::Labels;

/// One request the server received.
#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    pub path: String,
    pub headers: HeaderMap,
    pub body: String,
}

/// A scripted answer.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, &'static str)>,
    pub body: &'static str,
}

impl Reply {
    pub fn new(status: u16, body: &'static str) -> Reply {
        Reply { status, headers: Vec::new(), body }
    }

    pub fn header(mut self, name: &'static str, value: &'static str) -> Reply {
        self.headers.push((name, value));
        self
    }
}

#[derive(Default)]
struct State {
    requests: Vec<Recorded>,
    replies: Vec<Reply>,
}

pub(crate) struct TestServer {
    pub base: String,
    state: Arc<Mutex<State>>,
}

impl TestServer {
    /// Starts a server answering `replies` in order.
    pub async fn start(replies: Vec<Reply>) -> TestServer {
        let state = Arc::new(Mutex::new(State { requests: Vec::new(), replies }));
        let shared = state.clone();
        let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap, body: Bytes| {
            let shared = shared.clone();
            async move {
                let mut s = shared.lock().unwrap();
                s.requests.push(Recorded {
                    path: uri.path().to_string(),
                    headers,
                    body: String::from_utf8_lossy(&body).into_owned(),
                });
                let reply = if s.replies.is_empty() { Reply::new(200, "ok") } else { s.replies.remove(0) };
                let mut response: Response =
                    (StatusCode::from_u16(reply.status).unwrap(), reply.body).into_response();
                for (name, value) in reply.headers {
                    response.headers_mut().insert(name, HeaderValue::from_static(value));
                }
                response
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        TestServer { base, state }
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().requests.clone()
    }
}

/// Serves, on a free loopback port, `status` with `content_type` and a chunked body that never
/// ends (until the client goes away) to every request; returns the base URL and a counter of
/// the body bytes written so far.
pub(crate) async fn endless_server(
    status: &'static str,
    content_type: &'static str,
) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let written = Arc::new(AtomicUsize::new(0));
    let counter = written.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let counter = counter.clone();
            tokio::spawn(async move {
                // Read the request head; the body (sent with it, small) is ignored.
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let header = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ntransfer-encoding: chunked\r\n\r\n"
                );
                if socket.write_all(header.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = format!("{:x}\r\n{}\r\n", 16 * 1024, "x".repeat(16 * 1024));
                while socket.write_all(chunk.as_bytes()).await.is_ok() {
                    counter.fetch_add(16 * 1024, Ordering::Relaxed);
                }
            });
        }
    });
    (base, written)
}

/// 2026-12-06T10:00:00Z.
pub(crate) const T10: i64 = 1_796_551_200_000;
pub(crate) const MINUTE: i64 = 60_000;

fn alert(instance: &str, annotations: &[(&str, &str)], starts: i64, ends: i64, url: &str) -> Arc<Alert> {
    let labels =
        [("alertname", "InstanceDown"), ("job", "node"), ("severity", "page"), ("instance", instance)];
    alert_with(&labels, annotations, starts, ends, url)
}

/// An alert last updated when it started.
pub(crate) fn alert_with(
    labels: &[(&str, &str)],
    annotations: &[(&str, &str)],
    starts: i64,
    ends: i64,
    url: &str,
) -> Arc<Alert> {
    Arc::new(Alert {
        labels: Labels::from_pairs(labels.iter().copied()),
        annotations: Labels::from_pairs(annotations.iter().copied()),
        starts_at_ms: starts,
        ends_at_ms: ends,
        generator_url: url.to_string(),
        updated_at_ms: starts,
        timeout: false,
    })
}

/// The alerts of the reference run against Alertmanager 0.25: two firing, one resolved,
/// receiver `team-x.pager`, grouped by alertname and job.
pub(crate) fn reference_notification() -> Notification {
    Notification {
        receiver: "team-x.pager".into(),
        group_key: "{}:{alertname=\"InstanceDown\", job=\"node\"}".into(),
        group_labels: Labels::from_pairs([("alertname", "InstanceDown"), ("job", "node")]),
        alerts: vec![
            alert(
                "a:9100",
                &[("summary", "Instance down"), ("description", "a is down <b>&</b>")],
                T10,
                0,
                "http://prom:9090/graph?g0.expr=up+%3D%3D+0&g0.tab=1",
            ),
            alert(
                "b:9100",
                &[("summary", "Instance down"), ("description", "b is down")],
                T10 + 5 * MINUTE + 500,
                0,
                "http://prom:9090/graph?g0.expr=up",
            ),
            alert(
                "c:9100",
                &[("summary", "Instance down")],
                T10 - 60 * MINUTE,
                T10 + 30 * MINUTE,
                "http://prom:9090/graph?g0.expr=up",
            ),
        ],
        now_ms: T10 + 60 * MINUTE,
        external_url: "http://am.example:9093".into(),
    }
}

/// The same group once every alert has resolved.
pub(crate) fn resolved_notification() -> Notification {
    let mut n = reference_notification();
    for a in &mut n.alerts {
        Arc::make_mut(a).ends_at_ms = T10 + 30 * MINUTE;
    }
    n
}

pub(crate) fn context(base_dir: Option<&std::path::Path>) -> BuildContext {
    BuildContext {
        templates: Arc::new(Templates::load(&[], None).unwrap()),
        global: crate::route::config::GlobalConfig::default(),
        base_dir: base_dir.map(std::path::Path::to_path_buf),
    }
}
