use super::*;
use crate::promql::Value;
use crate::store::model::ModelStorage;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use harrier_telemetry::http_client::HttpClientConfig;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// One request the fake server saw: the query, the form body and two headers.
struct SeenRequest {
    query: String,
    body: String,
    authorization: Option<String>,
    org_id: Option<String>,
}

/// What the fake server saw.
#[derive(Default)]
struct Seen {
    requests: Mutex<Vec<SeenRequest>>,
}

async fn fake_prometheus() -> (String, Arc<Seen>) {
    let seen = Arc::new(Seen::default());
    async fn answer(
        State(seen): State<Arc<Seen>>,
        headers: HeaderMap,
        body: String,
    ) -> axum::response::Response {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        let form: BTreeMap<String, String> = form_urlencoded::parse(body.as_bytes()).into_owned().collect();
        let query = form.get("query").cloned().unwrap_or_default();
        seen.requests.lock().unwrap().push(SeenRequest {
            query: query.clone(),
            body,
            authorization: header("authorization"),
            org_id: header("x-scope-orgid"),
        });
        let json = |status: StatusCode, body: &'static str| {
            (status, [("content-type", "application/json")], body).into_response()
        };
        match query.as_str() {
            "up" => json(
                StatusCode::OK,
                r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"up","job":"a"},"value":[1700000000.5,"1"]}]},"warnings":["w1"]}"#,
            ),
            "range" => json(
                StatusCode::OK,
                r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"job":"a"},"values":[[10,"1"],[20,"NaN"]]}]}}"#,
            ),
            "bad(" => json(
                StatusCode::BAD_REQUEST,
                r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:5: parse error: unclosed left parenthesis"}"#,
            ),
            "hang" => {
                std::future::pending::<()>().await;
                StatusCode::OK.into_response()
            }
            _ => (StatusCode::BAD_GATEWAY, "upstream down").into_response(),
        }
    }
    let app = axum::Router::new()
        .route("/prefix/api/v1/query", post(answer))
        .route("/prefix/api/v1/query_range", post(answer))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/prefix/"), seen)
}

fn remote(url: &str, http: HttpClientConfig) -> RemoteDatasource {
    RemoteDatasource::new(RemoteDatasourceConfig {
        url: url.to_string(),
        timeout: Duration::from_millis(500),
        headers: BTreeMap::from([("X-Scope-OrgID".to_string(), "team-a".to_string())]),
        http,
    })
    .unwrap()
}

#[tokio::test]
async fn remote_instant_query_parsed_back_with_auth_and_headers() {
    let (url, seen) = fake_prometheus().await;
    let http = HttpClientConfig { bearer_token: Some("secret".into()), ..HttpClientConfig::default() };
    let ds: Arc<dyn Datasource> = Arc::new(remote(&url, http));
    let result = ds.instant_query("up", 1_700_000_000_500).await.unwrap();
    let Value::Vector(samples) = result.value else { panic!("not a vector: {result:?}") };
    assert_eq!(samples.len(), 1);
    assert_eq!(samples[0].labels.get("job"), Some("a"));
    assert_eq!((samples[0].t, samples[0].v), (1_700_000_000_500, 1.0));
    assert_eq!(result.annotations.warnings, ["w1"]);

    let requests = seen.requests.lock().unwrap();
    let SeenRequest { query, body, authorization: auth, org_id: org } = &requests[0];
    assert_eq!(query, "up");
    assert!(body.contains("time=1700000000.500"), "{body}");
    assert!(body.contains("timeout=0.5"), "{body}");
    assert_eq!(auth.as_deref(), Some("Bearer secret"));
    assert_eq!(org.as_deref(), Some("team-a"));
}

#[tokio::test]
async fn remote_range_query_reads_matrix() {
    let (url, seen) = fake_prometheus().await;
    let ds = remote(&url, HttpClientConfig::default());
    let result = ds.range_query("range", 10_000, 20_000, 10_000).await.unwrap();
    let Value::Matrix(series) = result.value else { panic!("not a matrix") };
    assert_eq!(series[0].samples.len(), 2);
    assert_eq!(series[0].samples[0].timestamp_ms, 10_000);
    assert!(series[0].samples[1].value.is_nan());
    let body = seen.requests.lock().unwrap()[0].body.clone();
    assert!(body.contains("start=10&end=20&step=10"), "{body}");
}

#[tokio::test]
async fn remote_errors_keep_type_and_message() {
    let (url, _) = fake_prometheus().await;
    let ds = remote(&url, HttpClientConfig::default());
    let err = ds.instant_query("bad(", 0).await.unwrap_err();
    assert_eq!(err.error_type(), ErrorType::BadData);
    assert_eq!(err.to_string(), "invalid parameter \"query\": 1:5: parse error: unclosed left parenthesis");

    let err = ds.instant_query("other", 0).await.unwrap_err();
    assert!(
        matches!(&err, DatasourceError::Http { status: 502, body, .. } if body == "upstream down"),
        "{err:?}"
    );

    let err = ds.instant_query("hang", 0).await.unwrap_err();
    assert!(matches!(err, DatasourceError::Timeout { .. }), "{err:?}");
    assert_eq!(err.error_type(), ErrorType::Timeout);
}

#[tokio::test]
async fn unreachable_remote_is_a_transport_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let ds = remote(&format!("http://{addr}"), HttpClientConfig::default());
    let err = ds.instant_query("up", 0).await.unwrap_err();
    assert!(matches!(err, DatasourceError::Transport { .. }), "{err:?}");
    assert_eq!(err.error_type(), ErrorType::Unavailable);
}

#[test]
fn remote_settings_checked_when_built() {
    let config = |url: &str, headers: &[(&str, &str)]| RemoteDatasourceConfig {
        url: url.to_string(),
        timeout: Duration::from_secs(1),
        headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        http: HttpClientConfig::default(),
    };
    assert!(
        matches!(RemoteDatasource::new(config("not a url", &[])), Err(DatasourceError::Config(m)) if m.contains("invalid url"))
    );
    assert!(
        matches!(RemoteDatasource::new(config("ftp://x", &[])), Err(DatasourceError::Config(m)) if m.contains("http or https"))
    );
    assert!(
        matches!(RemoteDatasource::new(config("http://x", &[("bad header", "v")])), Err(DatasourceError::Config(m)) if m.contains("header"))
    );
    assert!(RemoteDatasource::new(config("https://x:9090", &[("X-A", "b")])).is_ok());
}

#[test]
fn engine_errors_map_to_prometheus_error_types() {
    let parse = DatasourceError::from(PromqlError::Parse {
        message: "1:1: parse error: x".into(),
        position: Some(0),
    });
    assert_eq!(parse.error_type(), ErrorType::BadData);
    assert_eq!(parse.to_string(), "invalid parameter \"query\": 1:1: parse error: x");
    assert_eq!(
        DatasourceError::from(PromqlError::Timeout("expression evaluation")).error_type(),
        ErrorType::Timeout
    );
    assert_eq!(DatasourceError::from(PromqlError::Eval("boom".into())).error_type(), ErrorType::Execution);
    assert_eq!(DatasourceError::from(PromqlError::Storage("disk".into())).error_type(), ErrorType::Internal);
}

#[tokio::test]
async fn embedded_datasource_evaluates_on_the_blocking_pool() {
    let storage = Arc::new(ModelStorage::new());
    let ds: Arc<dyn Datasource> = Arc::new(EmbeddedDatasource::new(storage, EngineOptions::default(), 2));
    assert_eq!(ds.describe(), "embedded");
    // A query that cannot parse is bad data, whatever else the engine supports.
    let err = ds.instant_query("sum(", 0).await.unwrap_err();
    assert_eq!(err.error_type(), ErrorType::BadData, "{err}");
    assert!(err.to_string().starts_with("invalid parameter \"query\": "), "{err}");
}

#[tokio::test]
async fn embedded_options_replaced_on_reload() {
    let ds = EmbeddedDatasource::new(Arc::new(ModelStorage::new()), EngineOptions::default(), 1);
    let options = EngineOptions { lookback_delta: Duration::from_secs(60), ..EngineOptions::default() };
    ds.set_options(options.clone());
    assert_eq!(ds.options().lookback_delta, Duration::from_secs(60));
}
