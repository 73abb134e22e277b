use super::json::{self, ErrorType};
use super::params::{self, Form, MAX_TIME_MS, MIN_TIME_MS};
use super::query::{range_params, unescape_label_name};
use super::write::{IngestOutcome, Ingester, RejectReason, StorageStats, WriteLimits};
use super::{ApiMetrics, ApiState, router};
use crate::datasource::EmbeddedDatasource;
use crate::promql::{Annotations, EngineOptions, InstantSample, MatrixSeries, QueryResult, Value};
use crate::store::model::ModelStorage;
use crate::store::{Queryable, StoreError};
use harrier_telemetry::model::{Labels, Sample, Series, now_ms};
use harrier_telemetry::remote_write;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

// ---- JSON ------------------------------------------------------------------------------

#[test]
fn vector_json_shape() {
    let result = QueryResult {
        value: Value::Vector(vec![
            InstantSample {
                labels: labels(&[("__name__", "up"), ("job", "a")]),
                t: 1_435_781_451_781,
                v: 1.0,
                h: None,
                drop_name: false,
            },
            InstantSample {
                labels: labels(&[("__name__", "up"), ("job", "b")]),
                t: 1_435_781_451_000,
                v: 0.5,
                h: None,
                drop_name: true,
            },
        ]),
        annotations: Annotations::default(),
    };
    assert_eq!(
        json::query_success(&result),
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"up","job":"a"},"value":[1435781451.781,"1"]},{"metric":{"job":"b"},"value":[1435781451,"0.5"]}]}}"#
    );
}

#[test]
fn matrix_scalar_string_json_shapes() {
    let matrix = Value::Matrix(vec![MatrixSeries::new(
        labels(&[("__name__", "x")]),
        vec![
            Sample { timestamp_ms: 1500, value: f64::NAN },
            Sample { timestamp_ms: 2050, value: f64::INFINITY },
        ],
    )]);
    let mut out = String::new();
    json::write_query_data(&mut out, &matrix);
    assert_eq!(
        out,
        r#"{"resultType":"matrix","result":[{"metric":{"__name__":"x"},"values":[[1.500,"NaN"],[2.050,"+Inf"]]}]}"#
    );

    let mut out = String::new();
    json::write_query_data(&mut out, &Value::Scalar { t: 1000, v: f64::NEG_INFINITY });
    assert_eq!(out, r#"{"resultType":"scalar","result":[1,"-Inf"]}"#);

    let mut out = String::new();
    json::write_query_data(&mut out, &Value::String { t: -1001, s: "a\"<b>&\n".into() });
    assert_eq!(out, r#"{"resultType":"string","result":[-1.001,"a\"\u003cb\u003e\u0026\n"]}"#);

    let mut out = String::new();
    json::write_query_data(&mut out, &Value::Matrix(Vec::new()));
    assert_eq!(out, r#"{"resultType":"matrix","result":[]}"#);
}

#[test]
fn values_formatted_like_go() {
    for (v, want) in [
        (1.0, "1".to_string()),
        (-0.0, "-0".to_string()),
        (0.1, "0.1".to_string()),
        (1e21, "1000000000000000000000".to_string()),
        (1e-7, "0.0000001".to_string()),
        (123456789.125, "123456789.125".to_string()),
        (f64::MAX, format!("17976931348623157{}", "0".repeat(292))),
    ] {
        assert_eq!(json::format_value(v), want, "{v}");
    }
}

#[test]
fn annotations_and_errors_in_envelope() {
    let annotations =
        Annotations { warnings: vec!["PromQL warning: w".into()], infos: vec!["PromQL info: i".into()] };
    assert_eq!(
        json::success("[]", &annotations),
        r#"{"status":"success","data":[],"warnings":["PromQL warning: w"],"infos":["PromQL info: i"]}"#
    );
    assert_eq!(
        json::error(ErrorType::BadData, "invalid parameter \"time\": x"),
        r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"time\": x"}"#
    );
    assert_eq!(ErrorType::Execution.http_status(), 422);
    assert_eq!(ErrorType::Timeout.http_status(), 503);
    assert_eq!(ErrorType::BadData.http_status(), 400);
}

#[test]
fn control_characters_escaped_like_go() {
    let mut out = String::new();
    json::write_string(&mut out, "\u{1}\t\u{2028}é\\");
    assert_eq!(out, r#""\u0001\t\u2028é\\""#);
}

#[test]
fn decode_round_trips_every_result_type() {
    let values = [
        Value::Scalar { t: 1500, v: 2.5 },
        Value::String { t: 1000, s: "hello".into() },
        Value::Vector(vec![InstantSample {
            labels: labels(&[("a", "b")]),
            t: 12_345,
            v: f64::INFINITY,
            h: None,
            drop_name: false,
        }]),
        Value::Matrix(vec![MatrixSeries::new(
            labels(&[("__name__", "m")]),
            vec![Sample { timestamp_ms: 1, value: -1.0 }, Sample { timestamp_ms: 2001, value: 3.0 }],
        )]),
    ];
    for value in values {
        let result =
            QueryResult { value, annotations: Annotations { warnings: vec!["w".into()], infos: vec![] } };
        let body = json::query_success(&result);
        assert_eq!(json::decode_query_response(body.as_bytes()).unwrap(), result, "{body}");
    }
    let nan = json::decode_query_response(
        br#"{"status":"success","data":{"resultType":"scalar","result":[1,"NaN"]}}"#,
    )
    .unwrap();
    assert!(matches!(nan.value, Value::Scalar { t: 1000, v } if v.is_nan()));
}

#[test]
fn decode_error_answers_keep_type_and_message() {
    let err =
        json::decode_query_response(br#"{"status":"error","errorType":"bad_data","error":"parse error"}"#)
            .unwrap_err();
    assert_eq!(err, json::DecodeError::Api { error_type: ErrorType::BadData, message: "parse error".into() });
    assert!(matches!(json::decode_query_response(b"<html>"), Err(json::DecodeError::Json(_))));
}

// ---- Parameters ------------------------------------------------------------------------

#[test]
fn times_parse_as_prometheus_does() {
    assert_eq!(params::parse_time("1435781451.781"), Ok(1_435_781_451_781));
    assert_eq!(params::parse_time("1435781451"), Ok(1_435_781_451_000));
    assert_eq!(params::parse_time("-1.5"), Ok(-1500));
    assert_eq!(params::parse_time("2015-07-01T20:10:51.781Z"), Ok(1_435_781_451_781));
    assert_eq!(params::parse_time("2015-07-01T22:10:51+02:00"), Ok(1_435_781_451_000));
    assert_eq!(params::parse_time("-292273086-05-16T16:47:06Z"), Ok(MIN_TIME_MS));
    assert_eq!(params::parse_time("292277025-08-18T07:12:54.999999999Z"), Ok(MAX_TIME_MS));
    assert_eq!(params::parse_time("abc"), Err("cannot parse \"abc\" to a valid timestamp".to_string()));
    assert!(params::parse_time("NaN").is_err());
    assert!(params::parse_time("").is_err());
}

#[test]
fn durations_parse_as_prometheus_does() {
    assert_eq!(params::parse_duration("15"), Ok(15_000));
    assert_eq!(params::parse_duration("0.5"), Ok(500));
    assert_eq!(params::parse_duration("1m30s"), Ok(90_000));
    assert_eq!(params::parse_duration("5x"), Err("cannot parse \"5x\" to a valid duration".to_string()));
    assert!(params::parse_duration("1e30").unwrap_err().contains("overflows int64"));
}

#[test]
fn form_values_body_first_then_query() {
    let form = Form::parse(Some("query=up&match%5B%5D=a"), Some(b"query=down&match[]=b"));
    assert_eq!(form.value("query"), "down");
    assert_eq!(form.all("match[]"), ["b", "a"]);
    assert_eq!(form.value("missing"), "");
}

#[test]
fn range_parameters_checked_in_prometheus_order() {
    let check = |q: &str| range_params(&Form::parse(Some(q), None)).map_err(|e| e.message);
    assert_eq!(check("start=0&end=60&step=15"), Ok((0, 60_000, 15_000)));
    assert_eq!(check("start=0&end=60&step=1m"), Ok((0, 60_000, 60_000)));
    assert_eq!(
        check("end=60&step=15"),
        Err("invalid parameter \"start\": cannot parse \"\" to a valid timestamp".into())
    );
    assert_eq!(
        check("start=60&end=0&step=15"),
        Err("invalid parameter \"end\": end timestamp must not be before start time".into())
    );
    assert_eq!(
        check("start=0&end=60&step=0"),
        Err("invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer".into())
    );
    assert_eq!(check("start=0&end=11000&step=1").map(|r| r.2), Ok(1000));
    assert!(
        check("start=0&end=11001&step=1")
            .unwrap_err()
            .starts_with("exceeded maximum resolution of 11,000 points")
    );
}

#[test]
fn match_selectors_become_matcher_sets() {
    let sets = params::parse_match_params(&["up{job=\"a\"}", "{__name__=~\"x.*\"}"]).unwrap();
    assert_eq!(sets.len(), 2);
    assert_eq!(sets[0].len(), 2);
    assert_eq!(sets[0][0].name, "__name__");
    assert_eq!(params::parse_match_params(&["{a=\"1\" or b=\"2\"}"]).unwrap().len(), 2);
    assert_eq!(
        params::parse_match_params(&["{a=~\".*\"}"]).unwrap_err().0,
        "invalid parameter \"match[]\": vector selector must contain at least one non-empty matcher"
    );
    assert_eq!(
        params::parse_match_params(&["{a=\"1\" or b=~\".*\"}"]).unwrap_err().0,
        "match[] must contain at least one non-empty matcher"
    );
    assert!(
        params::parse_match_params(&["rate(x[5m])"])
            .unwrap_err()
            .0
            .starts_with("invalid parameter \"match[]\"")
    );
    assert!(params::parse_match_params(&["up{"]).is_err());
}

#[test]
fn escaped_label_names_unescaped() {
    assert_eq!(unescape_label_name("job").as_deref(), Some("job"));
    assert_eq!(unescape_label_name("U__my_2e_label").as_deref(), Some("my.label"));
    assert_eq!(unescape_label_name("U__a__b").as_deref(), Some("a_b"));
    assert_eq!(unescape_label_name("U__a_zz_"), None);
}

// ---- HTTP ------------------------------------------------------------------------------

/// An ingester that refuses every sample with one reason (to check status mapping).
struct Refusing(RejectReason);

impl Ingester for Refusing {
    fn ingest(&self, series: &[Series]) -> Result<IngestOutcome, StoreError> {
        let mut outcome = IngestOutcome::default();
        outcome.reject(self.0, series.iter().map(|s| s.samples.len() as u64).sum());
        Ok(outcome)
    }
    fn stats(&self) -> StorageStats {
        StorageStats { series: 7, bytes: 4096 }
    }
}

struct Server {
    base: String,
    client: reqwest::Client,
    _stop: tokio_util::sync::DropGuard,
}

async fn serve(storage: Arc<dyn Queryable>, ingester: Arc<dyn Ingester>, limits: WriteLimits) -> Server {
    let mut registry = Registry::default();
    let metrics = ApiMetrics::register(&mut registry);
    let state = ApiState {
        queries: EmbeddedDatasource::new(storage, EngineOptions::default(), 4),
        ingester,
        write_limits: limits,
        metrics,
        registry: Arc::new(registry),
        ready: Arc::new(AtomicBool::new(true)),
        reload: None,
        rules: None,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = tokio_util::sync::CancellationToken::new();
    let token = stop.clone();
    tokio::spawn(async move {
        axum::serve(listener, router(state)).with_graceful_shutdown(token.cancelled_owned()).await.unwrap();
    });
    Server { base: format!("http://{addr}"), client: reqwest::Client::new(), _stop: stop.drop_guard() }
}

async fn model_server() -> (Server, Arc<ModelStorage>) {
    let storage = Arc::new(ModelStorage::new());
    let server = serve(storage.clone(), storage.clone(), WriteLimits::default()).await;
    (server, storage)
}

impl Server {
    async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        let response = self.client.get(format!("{}{path}", self.base)).send().await.unwrap();
        let status = response.status().as_u16();
        (status, serde_json::from_slice(&response.bytes().await.unwrap()).unwrap())
    }

    async fn post_form(&self, path: &str, form: &str) -> (u16, serde_json::Value) {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.to_string())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, serde_json::from_slice(&response.bytes().await.unwrap()).unwrap())
    }

    async fn write(&self, body: Vec<u8>) -> (u16, String) {
        let response = self
            .client
            .post(format!("{}/api/v1/write", self.base))
            .header("content-type", remote_write::CONTENT_TYPE)
            .header("content-encoding", remote_write::CONTENT_ENCODING)
            .body(body)
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    async fn text(&self, path: &str) -> (u16, String) {
        let response = self.client.get(format!("{}{path}", self.base)).send().await.unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }
}

fn up_series(job: &str, t: i64) -> Series {
    Series::new(labels(&[("__name__", "up"), ("job", job)]), vec![Sample { timestamp_ms: t, value: 1.0 }])
}

#[tokio::test]
async fn write_then_read_series_labels_and_values() {
    let (server, storage) = model_server().await;
    let now = now_ms();
    let body = remote_write::encode_request(&[up_series("a", now), up_series("b", now)]);
    assert_eq!(server.write(body).await, (204, String::new()));
    assert_eq!(storage.select(&[], i64::MIN, i64::MAX).unwrap().len(), 2);

    let (status, json) = server.get("/api/v1/series?match[]=up{job=\"a\"}").await;
    assert_eq!(status, 200);
    assert_eq!(json, serde_json::json!({"status":"success","data":[{"__name__":"up","job":"a"}]}));

    let (status, json) = server.post_form("/api/v1/series", "match[]=up&limit=1").await;
    assert_eq!(status, 200);
    assert_eq!(json["data"].as_array().unwrap().len(), 1);
    assert_eq!(json["warnings"], serde_json::json!(["results truncated due to limit"]));

    let (_, json) = server.get("/api/v1/labels").await;
    assert_eq!(json["data"], serde_json::json!(["__name__", "job"]));

    let (_, json) = server.get("/api/v1/label/job/values?match[]=up").await;
    assert_eq!(json["data"], serde_json::json!(["a", "b"]));

    let (_, json) = server.get("/api/v1/label/nothing/values").await;
    assert_eq!(json["data"], serde_json::json!([]));

    let (_, metrics) = server.text("/metrics").await;
    assert!(metrics.contains("harrier_router_ingested_samples_total 2"), "{metrics}");
    assert!(
        metrics.contains("harrier_router_queries_total{endpoint=\"series\",status=\"success\"} 2"),
        "{metrics}"
    );
    assert!(metrics.contains("harrier_router_write_requests_total{code=\"204\"} 1"), "{metrics}");
}

#[tokio::test]
async fn series_and_query_parameter_errors() {
    let (server, _) = model_server().await;
    let (status, json) = server.get("/api/v1/series").await;
    assert_eq!(status, 400);
    assert_eq!(
        json,
        serde_json::json!({"status":"error","errorType":"bad_data","error":"no match[] parameter provided"})
    );

    let (status, json) = server.get("/api/v1/query?query=up&time=yesterday").await;
    assert_eq!(status, 400);
    assert_eq!(json["error"], "invalid parameter \"time\": cannot parse \"yesterday\" to a valid timestamp");

    let (status, json) = server.post_form("/api/v1/query_range", "query=up&start=10&end=0&step=1").await;
    assert_eq!(status, 400);
    assert_eq!(json["error"], "invalid parameter \"end\": end timestamp must not be before start time");

    let (status, json) = server.get("/api/v1/query?query=up&timeout=soon").await;
    assert_eq!(status, 400);
    assert_eq!(json["error"], "invalid parameter \"timeout\": cannot parse \"soon\" to a valid duration");

    let (_, metrics) = server.text("/metrics").await;
    assert!(
        metrics.contains("harrier_router_queries_total{endpoint=\"query\",status=\"bad_data\"} 2"),
        "{metrics}"
    );
}

#[tokio::test]
async fn query_answers_with_a_prometheus_envelope() {
    let (server, storage) = model_server().await;
    storage
        .append(&labels(&[("__name__", "up"), ("job", "a")]), &[Sample { timestamp_ms: 1000, value: 1.0 }]);
    let (status, json) = server.get("/api/v1/query?query=up&time=1").await;
    // Whatever the engine's state, the answer is an envelope with a status matching the code.
    match status {
        200 => {
            assert_eq!(json["status"], "success");
            assert_eq!(json["data"]["resultType"], "vector");
            assert_eq!(json["data"]["result"][0]["value"], serde_json::json!([1, "1"]));
        }
        _ => {
            assert_eq!(json["status"], "error");
            let error_type = json["errorType"].as_str().unwrap();
            assert_eq!(status, ErrorType::parse(error_type).http_status());
        }
    }
}

#[tokio::test]
async fn malformed_oversized_and_bomb_bodies_refused() {
    let storage = Arc::new(ModelStorage::new());
    let limits = WriteLimits { max_body_bytes: 1024, max_decompressed_bytes: 4096 };
    let server = serve(storage.clone(), storage.clone(), limits).await;

    let (status, message) = server.write(b"not snappy at all".to_vec()).await;
    assert_eq!(status, 400, "{message}");
    assert!(message.contains("snappy"), "{message}");

    let garbage = snap::raw::Encoder::new().compress_vec(&[0xff; 64]).unwrap();
    let (status, message) = server.write(garbage).await;
    assert_eq!(status, 400, "{message}");
    assert!(message.contains("protobuf"), "{message}");

    let (status, message) = server.write(vec![0; 2048]).await;
    assert_eq!(status, 413, "{message}");
    assert!(message.contains("exceeds the limit of 1024 bytes"), "{message}");

    // A snappy header declaring 1 GiB, with a few bytes after it.
    let mut bomb = Vec::new();
    let mut n: u64 = 1 << 30;
    while n >= 0x80 {
        bomb.push((n as u8) | 0x80);
        n >>= 7;
    }
    bomb.push(n as u8);
    bomb.extend_from_slice(&[0; 16]);
    let (status, message) = server.write(bomb).await;
    assert_eq!(status, 413, "{message}");
    assert!(message.contains("exceeds the limit of 4096 bytes"), "{message}");

    assert!(storage.select(&[], i64::MIN, i64::MAX).unwrap().is_empty());
    let (_, metrics) = server.text("/metrics").await;
    assert!(metrics.contains("harrier_router_write_requests_total{code=\"413\"} 2"), "{metrics}");
    assert!(metrics.contains("harrier_router_write_requests_total{code=\"400\"} 2"), "{metrics}");
}

#[tokio::test]
async fn invalid_series_skipped_and_future_samples_refused() {
    let (server, storage) = model_server().await;
    let now = now_ms();
    let nameless = Series::new(labels(&[("job", "x")]), vec![Sample { timestamp_ms: now, value: 1.0 }]);
    let body = remote_write::encode_request(&[nameless, up_series("ok", now)]);
    assert_eq!(server.write(body).await.0, 204);
    let stored = storage.select(&[], i64::MIN, i64::MAX).unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].labels.get("job"), Some("ok"));

    // Duplicate label names are refused too (built on the wire: Labels cannot hold them).
    let request = remote_write::proto::WriteRequest {
        timeseries: vec![remote_write::proto::TimeSeries {
            labels: vec![
                remote_write::proto::Label { name: "__name__".into(), value: "d".into() },
                remote_write::proto::Label { name: "a".into(), value: "1".into() },
                remote_write::proto::Label { name: "a".into(), value: "2".into() },
            ],
            samples: vec![remote_write::proto::Sample { value: 1.0, timestamp: now }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let body = snap::raw::Encoder::new().compress_vec(&prost::Message::encode_to_vec(&request)).unwrap();
    assert_eq!(server.write(body).await.0, 204);
    assert_eq!(storage.select(&[], i64::MIN, i64::MAX).unwrap().len(), 1);

    let future =
        remote_write::encode_request(&[up_series("early", now), up_series("late", now + 11 * 60 * 1000)]);
    let (status, message) = server.write(future).await;
    assert_eq!(status, 400);
    assert!(message.starts_with("out of bounds for series"), "{message}");
    assert!(
        storage.select(&[], i64::MIN, i64::MAX).unwrap().iter().all(|s| s.labels.get("job") != Some("early"))
    );

    let (_, metrics) = server.text("/metrics").await;
    assert!(
        metrics.contains("harrier_router_rejected_samples_total{reason=\"invalid_labels\"} 2"),
        "{metrics}"
    );
}

#[tokio::test]
async fn out_of_order_and_duplicates_answer_400() {
    for (reason, text) in [
        (RejectReason::OutOfOrder, "out of order sample"),
        (RejectReason::Duplicate, "duplicate sample for timestamp"),
        (RejectReason::TooOld, "too old sample"),
    ] {
        let server =
            serve(Arc::new(ModelStorage::new()), Arc::new(Refusing(reason)), WriteLimits::default()).await;
        let (status, message) = server.write(remote_write::encode_request(&[up_series("a", now_ms())])).await;
        assert_eq!(status, 400);
        assert!(message.contains(text), "{message}");
        let (_, metrics) = server.text("/metrics").await;
        let line = format!("harrier_router_rejected_samples_total{{reason=\"{}\"}} 1", reason.as_str());
        assert!(metrics.contains(&line), "{metrics}");
        assert!(metrics.contains("harrier_router_store_series 7"), "{metrics}");
        assert!(metrics.contains("harrier_router_store_bytes 4096"), "{metrics}");
    }
}

#[tokio::test]
async fn lifecycle_and_grafana_endpoints() {
    let (server, _) = model_server().await;
    assert_eq!(server.text("/-/healthy").await.0, 200);
    assert_eq!(server.text("/-/ready").await.0, 200);
    let response = server.client.post(format!("{}/-/reload", server.base)).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 503);
    let (status, json) = server.get("/api/v1/status/buildinfo").await;
    assert_eq!(status, 200);
    assert_eq!(json["data"]["version"], super::PROMETHEUS_API_VERSION);
    assert_eq!(server.get("/api/v1/metadata").await.1, serde_json::json!({"status":"success","data":{}}));
}

#[tokio::test]
async fn reload_endpoint_reports_the_outcome() {
    let storage = Arc::new(ModelStorage::new());
    let mut registry = Registry::default();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<super::ReloadRequest>(1);
    let state = ApiState {
        queries: EmbeddedDatasource::new(storage.clone(), EngineOptions::default(), 1),
        ingester: storage,
        write_limits: WriteLimits::default(),
        metrics: ApiMetrics::register(&mut registry),
        registry: Arc::new(registry),
        ready: Arc::new(AtomicBool::new(true)),
        reload: Some(tx),
        rules: None,
    };
    let outcomes = Arc::new(Mutex::new(vec![Err("bad config".to_string()), Ok(())]));
    tokio::spawn(async move {
        while let Some(reply) = rx.recv().await {
            let next = outcomes.lock().unwrap().pop().unwrap();
            let _ = reply.send(next);
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router(state)).await });
    let client = reqwest::Client::new();
    let first = client.post(format!("http://{addr}/-/reload")).send().await.unwrap();
    assert_eq!(first.status().as_u16(), 200);
    let second = client.put(format!("http://{addr}/-/reload")).send().await.unwrap();
    assert_eq!(second.status().as_u16(), 500);
    assert!(second.text().await.unwrap().contains("bad config"));
}

#[test]
fn histogram_json_shapes() {
    let h = Arc::new(crate::histogram::FloatHistogram {
        count: 6.0,
        sum: 3.5,
        zero_threshold: 0.001,
        zero_count: 2.0,
        positive_spans: vec![crate::histogram::Span { offset: 0, length: 3 }],
        positive_buckets: vec![1.0, 0.0, 2.0],
        negative_spans: vec![crate::histogram::Span { offset: 0, length: 1 }],
        negative_buckets: vec![1.0],
        ..Default::default()
    });
    let vector =
        Value::Vector(vec![InstantSample::histogram(labels(&[("__name__", "h")]), 1500, h.clone(), false)]);
    let mut out = String::new();
    json::write_query_data(&mut out, &vector);
    // Empty buckets are left out; negative buckets are open right, positive ones open left,
    // the zero bucket closed.
    assert_eq!(
        out,
        r#"{"resultType":"vector","result":[{"metric":{"__name__":"h"},"histogram":[1.500,{"count":"6","sum":"3.5","buckets":[[1,"-1","-0.5","1"],[3,"-0.001","0.001","2"],[0,"0.5","1","1"],[0,"2","4","2"]]}]}]}"#
    );

    let matrix = Value::Matrix(vec![crate::promql::MatrixSeries {
        labels: labels(&[("a", "b")]),
        samples: Vec::new(),
        histograms: vec![crate::store::HistogramSample {
            timestamp_ms: 2000,
            histogram: Arc::new(crate::histogram::FloatHistogram::default()),
        }],
    }]);
    let mut out = String::new();
    json::write_query_data(&mut out, &matrix);
    assert_eq!(
        out,
        r#"{"resultType":"matrix","result":[{"metric":{"a":"b"},"histograms":[[2,{"count":"0","sum":"0"}]]}]}"#
    );
}

// /api/v1/rules and /api/v1/alerts formatting
use super::rules::{go_float_e, go_time};

#[test]
fn go_float_e_matches_go() {
    assert_eq!(go_float_e(1.0), "1e+00");
    assert_eq!(go_float_e(0.0), "0e+00");
    assert_eq!(go_float_e(1234.5), "1.2345e+03");
    assert_eq!(go_float_e(1.5e-7), "1.5e-07");
    assert_eq!(go_float_e(-2e100), "-2e+100");
    assert_eq!(go_float_e(f64::INFINITY), "+Inf");
    assert_eq!(go_float_e(f64::NAN), "NaN");
}

#[test]
fn go_time_trims_the_fraction() {
    assert_eq!(go_time(None), "0001-01-01T00:00:00Z");
    assert_eq!(go_time(Some(0)), "1970-01-01T00:00:00Z");
    assert_eq!(go_time(Some(1_530_736_032_600)), "2018-07-04T20:27:12.6Z");
    assert_eq!(go_time(Some(1_530_736_032_061)), "2018-07-04T20:27:12.061Z");
}
