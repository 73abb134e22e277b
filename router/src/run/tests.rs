use super::*;
use harrier_telemetry::model::{Labels, Sample};
use harrier_telemetry::remote_write;

async fn wait_ready(client: &reqwest::Client, base: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = client.get(format!("{base}/-/ready")).send().await
            && r.status().is_success()
        {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "router not ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn ingest_query_reload_shutdown_and_recover_from_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("router.yml");
    std::fs::write(&config_path, "query:\n  lookback_delta: 5m\n").unwrap();
    let data_dir = dir.path().join("data");
    let options = RouterOptions {
        config_path: Some(config_path.clone()),
        listen: ([127, 0, 0, 1], 0).into(),
        data_dir: Some(data_dir.clone()),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(serve(options, listener, shutdown.clone()));
    let client = reqwest::Client::new();
    wait_ready(&client, &base).await;

    let now = harrier_telemetry::model::now_ms();
    let series = Series::new(
        Labels::from_pairs([("__name__", "up"), ("job", "x")]),
        vec![Sample { timestamp_ms: now, value: 1.0 }],
    );
    let response = client
        .post(format!("{base}/api/v1/write"))
        .body(remote_write::encode_request(&[series]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);
    let body =
        client.get(format!("{base}/api/v1/series?match[]=up")).send().await.unwrap().bytes().await.unwrap();
    let series: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(series["data"], serde_json::json!([{"__name__": "up", "job": "x"}]));

    std::fs::write(&config_path, "query:\n  lookback_delta: 1m\n").unwrap();
    let response = client.post(format!("{base}/-/reload")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    std::fs::write(&config_path, "query:\n  lookback: 1m\n").unwrap();
    let response = client.post(format!("{base}/-/reload")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 500);
    assert!(response.text().await.unwrap().contains("unknown field `lookback`"));
    let metrics = client.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("harrier_router_config_last_reload_successful 0"), "{metrics}");
    assert!(metrics.contains("harrier_router_store_series 1"), "{metrics}");

    shutdown.cancel();
    task.await.unwrap().unwrap();

    let store = Store::open(StoreOptions {
        dir: Some(data_dir),
        retention: Duration::MAX,
        ..StoreOptions::default()
    })
    .unwrap();
    let recovered = store.select(&[], i64::MIN, i64::MAX).unwrap();
    assert_eq!(recovered.len(), 1);
    assert_eq!(recovered[0].samples, [Sample { timestamp_ms: now, value: 1.0 }]);
}

#[tokio::test]
async fn bad_config_fails_before_binding() {
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("router.yml");
    std::fs::write(&config_path, "datasource:\n  type: remote\n").unwrap();
    let options =
        RouterOptions { config_path: Some(config_path), listen: ([127, 0, 0, 1], 0).into(), data_dir: None };
    let err = run(options, CancellationToken::new()).await.unwrap_err();
    assert!(err.to_string().contains("a remote datasource needs a url"), "{err}");
}

/// Rule files are picked up when they appear or change (the watcher), a broken one keeps the
/// running rules and fails `/-/reload` with the file named, and a reload that changes
/// `rule_files` moves the watcher to the new patterns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_files_are_watched_and_a_bad_one_keeps_the_running_rules() {
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("router.yml");
    std::fs::write(&config_path, "global:\n  evaluation_interval: 1s\nrule_files: ['a/*.yml']\n").unwrap();
    std::fs::create_dir_all(dir.path().join("a")).unwrap();
    std::fs::create_dir_all(dir.path().join("b")).unwrap();
    let options = RouterOptions {
        config_path: Some(config_path.clone()),
        listen: ([127, 0, 0, 1], 0).into(),
        data_dir: Some(dir.path().join("data")),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(serve(options, listener, shutdown.clone()));
    let client = reqwest::Client::new();
    wait_ready(&client, &base).await;

    let groups = |client: reqwest::Client, base: String| async move {
        let bytes = client.get(format!("{base}/api/v1/rules")).send().await.unwrap().bytes().await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        body["data"]["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["name"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let wait_groups = |want: Vec<&'static str>| {
        let (client, base) = (client.clone(), base.clone());
        async move {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
            loop {
                let got = groups(client.clone(), base.clone()).await;
                if got == want {
                    return;
                }
                assert!(tokio::time::Instant::now() < deadline, "groups {got:?}, want {want:?}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };

    std::fs::write(
        dir.path().join("a/one.yml"),
        "groups:\n- name: one\n  rules:\n  - record: r\n    expr: vector(1)\n",
    )
    .unwrap();
    wait_groups(vec!["one"]).await;
    std::fs::write(
        dir.path().join("a/one.yml"),
        "groups:\n- name: one\n  rules:\n  - record: r\n    expr: 'vector(('\n",
    )
    .unwrap();
    let response = client.post(format!("{base}/-/reload")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 500);
    assert!(response.text().await.unwrap().contains("one.yml"));
    assert_eq!(groups(client.clone(), base.clone()).await, vec!["one"]);

    std::fs::write(
        dir.path().join("b/two.yml"),
        "groups:\n- name: two\n  rules:\n  - record: r\n    expr: vector(2)\n",
    )
    .unwrap();
    std::fs::write(&config_path, "global:\n  evaluation_interval: 1s\nrule_files: ['b/*.yml']\n").unwrap();
    let response = client.post(format!("{base}/-/reload")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    wait_groups(vec!["two"]).await;
    std::fs::write(
        dir.path().join("b/three.yml"),
        "groups:\n- name: three\n  rules:\n  - record: r\n    expr: vector(3)\n",
    )
    .unwrap();
    wait_groups(vec!["three", "two"]).await;

    shutdown.cancel();
    task.await.unwrap().unwrap();
}
