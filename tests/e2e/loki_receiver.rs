//! A test Loki: an HTTP server on a free loopback port that accepts Loki's push API
//! (`POST /loki/api/v1/push`) and records every entry, for the agent's log tests.
//!
//! It decodes independently of `harrier_telemetry::loki` so that it checks the agent's encoder
//! rather than agreeing with it: its own prost messages written from Loki's `pkg/push/push.proto`
//! (`PushRequest.streams = 1`; `StreamAdapter { labels = 1, entries = 2, hash = 3 }`;
//! `EntryAdapter { timestamp = 1, line = 2, structuredMetadata = 3 }`; `LabelPairAdapter
//! { name = 1, value = 2 }`; `google.protobuf.Timestamp { seconds = 1, nanos = 2 }`), a snappy
//! block decompression (Loki's protobuf bodies carry no `Content-Encoding`; `snappy` is
//! tolerated as Loki does), Loki's JSON push form (`{"streams":[{"stream":{..},"values":
//! [["<ns>","line",{metadata}]]}]}`), and its own parser for the label-set string
//! (`{a="b", c="d\"x"}`, values in Go's quoted-string syntax).
//!
//! A body that does not decode is answered 400 and recorded in [`LokiReceiver::invalid`], which
//! tests assert is empty. [`LokiReceiver::set_failure`] makes it answer a status (429 with
//! `Retry-After`, 503, a 4xx) instead of accepting, counting the refused requests, to test
//! retries and backpressure; [`LokiReceiver::set_discard`] keeps only the counters (benchmarks).

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The largest decompressed body accepted (Loki's default message limit is 100 MB).
const MAX_DECOMPRESSED: usize = 100 << 20;

/// One received log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedEntry {
    /// The stream's labels, parsed from its label-set string.
    pub labels: BTreeMap<String, String>,
    pub timestamp_ns: i64,
    pub line: String,
    /// Structured metadata (empty when none was sent).
    pub metadata: BTreeMap<String, String>,
    /// `X-Scope-OrgID` of the request that carried it.
    pub tenant: Option<String>,
}

/// The test Loki. The server stops when this is dropped.
pub struct LokiReceiver {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    server: tokio::task::JoinHandle<()>,
}

#[derive(Default)]
struct State {
    entries: Vec<ReceivedEntry>,
    requests: usize,
    accepted_requests: usize,
    refused: usize,
    lines: u64,
    line_bytes: u64,
    invalid: Vec<String>,
    last_headers: HeaderMap,
    failure: Option<(u16, Option<u64>)>,
    discard: bool,
}

impl Drop for LokiReceiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl LokiReceiver {
    /// Binds 127.0.0.1:0 and serves on its own task.
    pub async fn start() -> LokiReceiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let state = Arc::new(Mutex::new(State::default()));
        let handler_state = state.clone();
        let app = axum::Router::new()
            .route(
                "/loki/api/v1/push",
                axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                    let state = handler_state.clone();
                    async move { push(&state, headers, &body) }
                }),
            )
            .layer(axum::extract::DefaultBodyLimit::max(MAX_DECOMPRESSED));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        LokiReceiver { addr, state, server }
    }

    /// The push URL (`http://127.0.0.1:<port>/loki/api/v1/push`).
    pub fn url(&self) -> String {
        format!("http://{}/loki/api/v1/push", self.addr)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every accepted entry, in arrival order (streams of a request in request order).
    pub fn entries(&self) -> Vec<ReceivedEntry> {
        self.state().entries.clone()
    }

    /// How many entries were accepted (also counted when discarding).
    pub fn lines(&self) -> u64 {
        self.state().lines
    }

    /// Bytes of log line accepted (also counted when discarding).
    pub fn line_bytes(&self) -> u64 {
        self.state().line_bytes
    }

    /// Push requests received, whatever they were answered.
    pub fn requests(&self) -> usize {
        self.state().requests
    }

    /// Push requests decoded and answered 204.
    pub fn accepted_requests(&self) -> usize {
        self.state().accepted_requests
    }

    /// Requests answered with the [`LokiReceiver::set_failure`] status.
    pub fn refused(&self) -> usize {
        self.state().refused
    }

    /// Why requests were answered 400 (bodies that did not decode).
    pub fn invalid(&self) -> Vec<String> {
        self.state().invalid.clone()
    }

    /// A header of the last request (any status).
    pub fn last_header(&self, name: &str) -> Option<String> {
        self.state().last_headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
    }

    /// `X-Scope-OrgID` of the last request.
    pub fn last_tenant(&self) -> Option<String> {
        self.last_header("x-scope-orgid")
    }

    /// `Content-Type` of the last request.
    pub fn last_content_type(&self) -> Option<String> {
        self.last_header("content-type")
    }

    /// From now on, answer every push with `status` (and `Retry-After: <secs>` when given)
    /// without reading it; `None` accepts again.
    pub fn set_failure(&self, failure: Option<(u16, Option<u64>)>) {
        self.state().failure = failure;
    }

    /// Keep counting lines and bytes but store no entries (for long runs).
    pub fn set_discard(&self, discard: bool) {
        self.state().discard = discard;
    }

    /// Polls until at least `n` entries have arrived; panics after `timeout`.
    pub async fn wait_for_lines(&self, n: u64, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.lines();
            if got >= n {
                return;
            }
            assert!(Instant::now() < deadline, "Loki receiver: {got} of {n} lines after {timeout:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn push(state: &Mutex<State>, headers: HeaderMap, body: &[u8]) -> Response {
    let (failure, tenant) = {
        let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
        s.requests += 1;
        s.last_headers = headers.clone();
        if s.failure.is_some() {
            s.refused += 1;
        }
        (s.failure, headers.get("x-scope-orgid").and_then(|v| v.to_str().ok()).map(str::to_string))
    };
    if let Some((status, retry_after)) = failure {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        return match retry_after {
            Some(secs) => (status, [("Retry-After", secs.to_string())], "refused by test").into_response(),
            None => (status, "refused by test").into_response(),
        };
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("");
    let decoded = decode(header("content-type"), header("content-encoding"), body);
    let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
    match decoded {
        Ok(mut entries) => {
            s.accepted_requests += 1;
            s.lines += entries.len() as u64;
            s.line_bytes += entries.iter().map(|e| e.line.len() as u64).sum::<u64>();
            if !s.discard {
                for e in &mut entries {
                    e.tenant = tenant.clone();
                }
                s.entries.append(&mut entries);
            }
            StatusCode::NO_CONTENT.into_response()
        }
        Err(reason) => {
            s.invalid.push(reason.clone());
            (StatusCode::BAD_REQUEST, reason).into_response()
        }
    }
}

/// Decodes a push body into entries, or says why it is not one.
fn decode(content_type: &str, content_encoding: &str, body: &[u8]) -> Result<Vec<ReceivedEntry>, String> {
    let media_type = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    match (media_type.as_str(), content_encoding) {
        ("application/x-protobuf" | "", "" | "snappy") => decode_protobuf(body),
        ("application/json", "") => decode_json(body),
        _ => Err(format!(
            "unsupported Content-Type {content_type:?} with Content-Encoding {content_encoding:?}"
        )),
    }
}

fn decode_protobuf(body: &[u8]) -> Result<Vec<ReceivedEntry>, String> {
    use prost::Message;
    let len = snap::raw::decompress_len(body).map_err(|e| format!("snappy header: {e}"))?;
    if len > MAX_DECOMPRESSED {
        return Err(format!("snappy body declares {len} bytes"));
    }
    let raw = snap::raw::Decoder::new().decompress_vec(body).map_err(|e| format!("snappy: {e}"))?;
    let request = PushRequest::decode(raw.as_slice()).map_err(|e| format!("protobuf: {e}"))?;
    let mut out = Vec::new();
    for stream in request.streams {
        let labels = parse_labels(&stream.labels)?;
        for e in stream.entries {
            let ts = e.timestamp.ok_or("entry without a timestamp")?;
            if !(0..1_000_000_000).contains(&ts.nanos) {
                return Err(format!("timestamp nanos {} out of range", ts.nanos));
            }
            let timestamp_ns = ts
                .seconds
                .checked_mul(1_000_000_000)
                .and_then(|s| s.checked_add(i64::from(ts.nanos)))
                .ok_or_else(|| format!("timestamp {}s out of range", ts.seconds))?;
            out.push(ReceivedEntry {
                labels: labels.clone(),
                timestamp_ns,
                line: e.line,
                metadata: e.structured_metadata.into_iter().map(|p| (p.name, p.value)).collect(),
                tenant: None,
            });
        }
    }
    Ok(out)
}

fn decode_json(body: &[u8]) -> Result<Vec<ReceivedEntry>, String> {
    use serde_json::Value;
    let strings = |v: &Value, what: &str| -> Result<BTreeMap<String, String>, String> {
        let object = v.as_object().ok_or_else(|| format!("{what} is not an object"))?;
        object
            .iter()
            .map(|(k, v)| {
                Ok((k.clone(), v.as_str().ok_or_else(|| format!("{what}.{k} is not a string"))?.to_string()))
            })
            .collect()
    };
    let push: Value = serde_json::from_slice(body).map_err(|e| format!("JSON: {e}"))?;
    let streams = push["streams"].as_array().ok_or("no \"streams\" array")?;
    let mut out = Vec::new();
    for stream in streams {
        let labels = strings(&stream["stream"], "stream")?;
        for value in stream["values"].as_array().ok_or("no \"values\" array")? {
            let parts = value.as_array().ok_or("a value is not an array")?;
            let (ts, line, metadata) = match parts.as_slice() {
                [ts, line] => (ts, line, BTreeMap::new()),
                [ts, line, metadata] => (ts, line, strings(metadata, "structured metadata")?),
                _ => return Err(format!("a value has {} elements", parts.len())),
            };
            let timestamp_ns = ts
                .as_str()
                .and_then(|t| t.parse().ok())
                .ok_or_else(|| format!("timestamp {ts} is not a decimal string"))?;
            let line = line.as_str().ok_or("line is not a string")?.to_string();
            out.push(ReceivedEntry { labels: labels.clone(), timestamp_ns, line, metadata, tenant: None });
        }
    }
    Ok(out)
}

/// Parses a label-set string `{name="value", ...}`: names bare or quoted, values in Go's
/// double-quoted syntax.
pub fn parse_labels(text: &str) -> Result<BTreeMap<String, String>, String> {
    let err = |what: &str| format!("label set {text:?}: {what}");
    let inner = text
        .trim()
        .strip_prefix('{')
        .and_then(|t| t.strip_suffix('}'))
        .ok_or_else(|| err("not in braces"))?;
    let mut chars = inner.chars().peekable();
    let mut labels = BTreeMap::new();
    let skip_spaces = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>| {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
    };
    skip_spaces(&mut chars);
    while chars.peek().is_some() {
        let name = if chars.peek() == Some(&'"') {
            go_unquote(&mut chars).map_err(|e| err(&e))?
        } else {
            let mut name = String::new();
            while let Some(c) = chars.next_if(|c| c.is_ascii_alphanumeric() || *c == '_') {
                name.push(c);
            }
            name
        };
        if name.is_empty() {
            return Err(err("empty label name"));
        }
        skip_spaces(&mut chars);
        if chars.next() != Some('=') {
            return Err(err("expected '='"));
        }
        skip_spaces(&mut chars);
        let value = go_unquote(&mut chars).map_err(|e| err(&e))?;
        if labels.insert(name, value).is_some() {
            return Err(err("duplicate label name"));
        }
        skip_spaces(&mut chars);
        match chars.next() {
            None => break,
            Some(',') => skip_spaces(&mut chars),
            Some(c) => return Err(err(&format!("unexpected {c:?} after a value"))),
        }
    }
    Ok(labels)
}

/// Reads a Go double-quoted string (`"..."` with `\n`, `\"`, `\xNN`, `\NNN`, `\uNNNN`,
/// `\UNNNNNNNN` escapes) from `chars`.
fn go_unquote(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Result<String, String> {
    if chars.next() != Some('"') {
        return Err("expected '\"'".into());
    }
    let mut bytes = Vec::new();
    let hex = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>, n: usize, radix: u32| {
        let digits: String = chars.by_ref().take(n).collect();
        if digits.len() != n {
            return Err("short escape".to_string());
        }
        u32::from_str_radix(&digits, radix).map_err(|_| format!("bad escape digits {digits:?}"))
    };
    loop {
        let c = chars.next().ok_or("unterminated string")?;
        let decoded = match c {
            '"' => break,
            '\n' => return Err("newline in string".into()),
            '\\' => match chars.next().ok_or("unterminated escape")? {
                'a' => '\u{7}',
                'b' => '\u{8}',
                'f' => '\u{c}',
                'n' => '\n',
                'r' => '\r',
                't' => '\t',
                'v' => '\u{b}',
                '\\' => '\\',
                '"' => '"',
                'x' => {
                    bytes.push(hex(chars, 2, 16)? as u8);
                    continue;
                }
                d @ '0'..='7' => {
                    let rest = hex(chars, 2, 8)?;
                    let v = (d as u32 - '0' as u32) * 64 + rest;
                    bytes.push(u8::try_from(v).map_err(|_| "octal escape above 255")?);
                    continue;
                }
                'u' => char::from_u32(hex(chars, 4, 16)?).ok_or("bad \\u escape")?,
                'U' => char::from_u32(hex(chars, 8, 16)?).ok_or("bad \\U escape")?,
                other => return Err(format!("unknown escape \\{other}")),
            },
            c => c,
        };
        let mut buf = [0u8; 4];
        bytes.extend_from_slice(decoded.encode_utf8(&mut buf).as_bytes());
    }
    String::from_utf8(bytes).map_err(|_| "string is not UTF-8".into())
}

// Loki's push messages, written here from `pkg/push/push.proto`.

#[derive(Clone, PartialEq, prost::Message)]
struct PushRequest {
    #[prost(message, repeated, tag = "1")]
    streams: Vec<StreamAdapter>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct StreamAdapter {
    #[prost(string, tag = "1")]
    labels: String,
    #[prost(message, repeated, tag = "2")]
    entries: Vec<EntryAdapter>,
    #[prost(uint64, tag = "3")]
    hash: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
struct EntryAdapter {
    #[prost(message, optional, tag = "1")]
    timestamp: Option<Timestamp>,
    #[prost(string, tag = "2")]
    line: String,
    #[prost(message, repeated, tag = "3")]
    structured_metadata: Vec<LabelPairAdapter>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct LabelPairAdapter {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(string, tag = "2")]
    value: String,
}

#[derive(Clone, Copy, PartialEq, prost::Message)]
struct Timestamp {
    #[prost(int64, tag = "1")]
    seconds: i64,
    #[prost(int32, tag = "2")]
    nanos: i32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use harrier_telemetry::loki::{
        JSON_CONTENT_TYPE, PROTOBUF_CONTENT_TYPE, PushEncoder, PushEntry, PushStreams, label_string,
    };

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// An entry to send: time, line, structured metadata.
    type TestEntry = (i64, &'static str, Vec<(String, String)>);

    /// Streams to send: label-set string and entries.
    struct Batch(Vec<(String, Vec<TestEntry>)>);

    impl PushStreams for Batch {
        fn stream_count(&self) -> usize {
            self.0.len()
        }
        fn labels(&self, stream: usize) -> &str {
            &self.0[stream].0
        }
        fn for_each_entry(&self, stream: usize, f: &mut dyn FnMut(PushEntry<'_>)) {
            for (ts, line, metadata) in &self.0[stream].1 {
                f(PushEntry { timestamp_ns: *ts, line, metadata });
            }
        }
    }

    fn batch() -> Batch {
        let stream = |pairs: &[(&str, &str)], entries: Vec<TestEntry>| {
            let pairs: Vec<(String, String)> =
                pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            (label_string(&pairs), entries)
        };
        Batch(vec![
            stream(
                &[("namespace", "default"), ("pod", "web-1"), ("stream", "stdout")],
                vec![
                    (1_700_000_000_000_000_001, "first", vec![]),
                    (-1, "quote \" backslash \\ tab \t é 😀", vec![("trace_id".into(), "t-1".into())]),
                ],
            ),
            stream(&[("odd", "a\"b\n\u{200b}c"), ("stream", "stderr")], vec![(0, "", vec![])]),
        ])
    }

    fn expected() -> Vec<ReceivedEntry> {
        let web = map(&[("namespace", "default"), ("pod", "web-1"), ("stream", "stdout")]);
        vec![
            ReceivedEntry {
                labels: web.clone(),
                timestamp_ns: 1_700_000_000_000_000_001,
                line: "first".into(),
                metadata: BTreeMap::new(),
                tenant: Some("team-a".into()),
            },
            ReceivedEntry {
                labels: web,
                timestamp_ns: -1,
                line: "quote \" backslash \\ tab \t é 😀".into(),
                metadata: map(&[("trace_id", "t-1")]),
                tenant: Some("team-a".into()),
            },
            ReceivedEntry {
                labels: map(&[("odd", "a\"b\n\u{200b}c"), ("stream", "stderr")]),
                timestamp_ns: 0,
                line: String::new(),
                metadata: BTreeMap::new(),
                tenant: Some("team-a".into()),
            },
        ]
    }

    async fn post(url: &str, content_type: &str, body: Vec<u8>) -> reqwest::Response {
        reqwest::Client::new()
            .post(url)
            .header("Content-Type", content_type)
            .header("X-Scope-OrgID", "team-a")
            .body(body)
            .send()
            .await
            .unwrap()
    }

    #[test]
    fn parses_label_strings_with_go_escapes() {
        assert_eq!(parse_labels("{}").unwrap(), BTreeMap::new());
        assert_eq!(
            parse_labels(r#"{a="b", c="d\"x", "k8s.io/x"="\x41\101\u00e9\U0001f600\\\n"}"#).unwrap(),
            map(&[("a", "b"), ("c", "d\"x"), ("k8s.io/x", "AAé😀\\\n")])
        );
        for bad in [
            "a=\"b\"",
            "{a=b}",
            "{a=\"b}",
            "{a=\"b\" c=\"d\"}",
            "{a=\"\\q\"}",
            "{a=\"\\xff\"}",
            "{a=\"1\", a=\"2\"}",
        ] {
            assert!(parse_labels(bad).is_err(), "{bad:?}");
        }
    }

    #[tokio::test]
    async fn records_protobuf_and_json_pushes() {
        let loki = LokiReceiver::start().await;
        let mut encoder = PushEncoder::new();
        let response =
            post(&loki.url(), PROTOBUF_CONTENT_TYPE, encoder.encode_protobuf(&batch()).to_vec()).await;
        assert_eq!(response.status(), 204);
        assert_eq!(loki.entries(), expected());
        assert_eq!(loki.last_tenant().as_deref(), Some("team-a"));
        assert_eq!(loki.last_content_type().as_deref(), Some(PROTOBUF_CONTENT_TYPE));

        let response = post(&loki.url(), JSON_CONTENT_TYPE, encoder.encode_json(&batch()).to_vec()).await;
        assert_eq!(response.status(), 204);
        let entries = loki.entries();
        assert_eq!(entries[3..], expected()[..]);
        assert_eq!(loki.last_content_type().as_deref(), Some(JSON_CONTENT_TYPE));
        assert_eq!((loki.requests(), loki.accepted_requests(), loki.lines()), (2, 2, 6));
        assert!(loki.invalid().is_empty());
    }

    #[tokio::test]
    async fn refuses_while_failing_and_rejects_garbage() {
        let loki = LokiReceiver::start().await;
        let body = PushEncoder::new().encode_protobuf(&batch()).to_vec();
        loki.set_failure(Some((429, Some(7))));
        let response = post(&loki.url(), PROTOBUF_CONTENT_TYPE, body.clone()).await;
        assert_eq!(response.status(), 429);
        assert_eq!(response.headers()["retry-after"], "7");
        loki.set_failure(Some((503, None)));
        let response = post(&loki.url(), PROTOBUF_CONTENT_TYPE, body.clone()).await;
        assert_eq!(response.status(), 503);
        assert!(response.headers().get("retry-after").is_none());
        assert_eq!((loki.refused(), loki.lines()), (2, 0));

        loki.set_failure(None);
        let response = post(&loki.url(), PROTOBUF_CONTENT_TYPE, b"\xff\xff garbage".to_vec()).await;
        assert_eq!(response.status(), 400);
        assert_eq!(loki.invalid().len(), 1);
        let response = post(&loki.url(), "text/plain", body.clone()).await;
        assert_eq!(response.status(), 400);

        loki.set_discard(true);
        let response = post(&loki.url(), PROTOBUF_CONTENT_TYPE, body).await;
        assert_eq!(response.status(), 204);
        loki.wait_for_lines(3, Duration::from_secs(5)).await;
        assert!(loki.entries().is_empty());
        assert_eq!(loki.line_bytes(), expected().iter().map(|e| e.line.len() as u64).sum::<u64>());
        assert_eq!((loki.requests(), loki.accepted_requests(), loki.refused()), (5, 1, 2));
    }
}
