//! The router's HTTPS server (`web.tls_server_config`) end to end: `harrier router` with a
//! certificate from a CA the test makes with the openssl CLI, reached by reqwest over
//! HTTP/1.1 and HTTP/2, by plain HTTP and untrusting clients (refused), by Debian's `amtool`
//! through its `--http.config.file`, and with client certificates required
//! (`RequireAndVerifyClientCert`).

use crate::support::{Proc, free_port, now_nanos, require_program, run_harrier, wait_for, wait_ready_with};
use crate::test_pki::TestPki as Pki;
use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// A test CA (openssl CLI, installed by scripts/test.sh).
fn new_pki() -> Pki {
    require_program("/usr/bin/openssl");
    Pki::new()
}

/// `NAME.crt` and `NAME.key` of `pki` as a reqwest client identity.
fn identity(pki: &Pki, name: &str) -> reqwest::Identity {
    reqwest::Identity::from_pem(&pki.identity_pem(name)).unwrap()
}

/// A client trusting only `pki`'s CA; `configure` adds the rest.
fn https_client(
    pki: &Pki,
    configure: impl FnOnce(reqwest::ClientBuilder) -> reqwest::ClientBuilder,
) -> reqwest::Client {
    configure(
        reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(&pki.ca_pem()).unwrap()])
            .timeout(Duration::from_secs(10)),
    )
    .build()
    .unwrap()
}

/// `harrier router` with `tls_yaml` as its `web.tls_server_config` (paths relative to `dir`,
/// where the config file is written), waited for until `/-/ready` answers `ready_client`.
async fn start_router(dir: &Path, tls_yaml: &str, ready_client: &reqwest::Client) -> (Proc, u16) {
    let config = dir.join("router.yml");
    std::fs::write(&config, format!("web:\n  tls_server_config:\n{tls_yaml}")).unwrap();
    let port = free_port();
    let proc = Proc::spawn(
        "harrier router",
        Command::new(env!("CARGO_BIN_EXE_harrier"))
            .arg("router")
            .arg("--config")
            .arg(&config)
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--data-dir")
            .arg(dir.join("data"))
            .env("HARRIER_LOG", "info"),
        dir.join(format!("router-{}.log", now_nanos())),
    );
    let url = format!("https://127.0.0.1:{port}/-/ready");
    wait_ready_with("harrier router ready over HTTPS", ready_client, &url, Duration::from_secs(30)).await;
    (proc, port)
}

/// Runs Debian's amtool against `url` with `http_config` as its `--http.config.file`:
/// (success, stdout, stderr).
fn amtool(dir: &Path, url: &str, http_config: &str, args: &[&str]) -> (bool, String, String) {
    require_program("/usr/bin/amtool");
    let file = dir.join(format!("amtool-http-{}.yml", now_nanos()));
    std::fs::write(&file, http_config).unwrap();
    let out = Command::new("/usr/bin/amtool")
        .arg(format!("--alertmanager.url={url}"))
        .arg(format!("--http.config.file={}", file.display()))
        .args(args)
        .output()
        .expect("run amtool");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `tls_server_config`'s certificate and key: `pki`'s `server.crt` and `key` (`key_file`).
fn server_tls(pki: &Pki, key: &str) -> String {
    format!(
        "    cert_file: {}\n    key_file: {}\n",
        pki.path("server.crt").display(),
        pki.path(key).display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn router_serves_https_over_http1_and_h2_and_refuses_plain_http_and_untrusting_clients() {
    let dir = tempfile::tempdir().unwrap();
    let pki = new_pki();
    pki.leaf("server", "EC");
    let client = https_client(&pki, |b| b);
    let (mut router, port) = start_router(dir.path(), &server_tls(&pki, "server.key"), &client).await;
    let base = format!("https://127.0.0.1:{port}");

    let h2 = client.get(format!("{base}/-/healthy")).send().await.unwrap();
    assert!(h2.status().is_success(), "{}", h2.status());
    assert_eq!(h2.version(), reqwest::Version::HTTP_2, "ALPN h2");
    let http1 = https_client(&pki, |b| b.http1_only()).get(format!("{base}/-/healthy")).send().await.unwrap();
    assert!(http1.status().is_success(), "{}", http1.status());
    assert_eq!(http1.version(), reqwest::Version::HTTP_11);
    // The name in the certificate works too.
    let by_name = https_client(&pki, |b| b.resolve("localhost", ([127, 0, 0, 1], port).into()))
        .get(format!("https://localhost:{port}/-/healthy"))
        .send()
        .await
        .unwrap();
    assert!(by_name.status().is_success(), "{}", by_name.status());

    // Alertmanager's v2 API over HTTPS.
    let alert = json!([{
        "labels": {"alertname": "TlsEndToEnd", "severity": "page"},
        "annotations": {"summary": "sent over https"},
    }]);
    let posted = client.post(format!("{base}/api/v2/alerts")).json(&alert).send().await.unwrap();
    assert!(posted.status().is_success(), "POST /api/v2/alerts: {}", posted.status());
    let alerts: Value =
        client.get(format!("{base}/api/v2/alerts")).send().await.unwrap().json().await.unwrap();
    let names: Vec<&str> =
        alerts.as_array().unwrap().iter().filter_map(|a| a["labels"]["alertname"].as_str()).collect();
    assert_eq!(names, ["TlsEndToEnd"], "{alerts}");

    // amtool trusting the CA through its HTTP config file.
    let ca_only = format!("tls_config:\n  ca_file: {}\n", pki.path("ca.crt").display());
    let (ok, out, err) = amtool(dir.path(), &base, &ca_only, &["alert", "query"]);
    assert!(ok && out.contains("TlsEndToEnd"), "amtool alert query: {out}{err}");
    let (ok, out, err) = amtool(dir.path(), &base, "{}\n", &["alert", "query"]);
    assert!(!ok && err.contains("certificate"), "amtool without the CA: {out}{err}");

    // Refused: plain HTTP on the HTTPS port, and a client that does not trust the CA.
    let plain = reqwest::Client::new().get(format!("http://127.0.0.1:{port}/-/healthy")).send().await;
    assert!(plain.is_err(), "plain HTTP answered: {plain:?}");
    let untrusting = reqwest::Client::new().get(format!("{base}/-/healthy")).send().await;
    let error = format!("{:?}", untrusting.expect_err("an untrusted certificate was accepted"));
    assert!(error.to_lowercase().contains("certificate"), "{error}");

    // amtool without the CA, plain HTTP, and the untrusting reqwest client: the server counts
    // each once its handshake task has ended, which can be just after the client saw the error.
    wait_for("3 handshake errors counted", Duration::from_secs(30), || {
        let (client, base) = (client.clone(), base.clone());
        async move {
            let metrics = client
                .get(format!("{base}/metrics"))
                .send()
                .await
                .map_err(|e| e.to_string())?
                .text()
                .await
                .map_err(|e| e.to_string())?;
            let failed: f64 = metrics
                .lines()
                .find_map(|l| l.strip_prefix("harrier_router_tls_handshake_errors_total "))
                .ok_or_else(|| format!("no handshake error counter in:\n{metrics}"))?
                .parse()
                .map_err(|e| format!("{e}"))?;
            if failed >= 3.0 { Ok(()) } else { Err(format!("handshake errors {failed}")) }
        }
    })
    .await;

    let status = router.terminate(Duration::from_secs(30));
    assert!(status.is_some_and(|s| s.success()), "router exit {status:?}: {}", router.log_text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_and_verify_client_cert_admits_only_clients_with_a_certificate_from_the_ca() {
    let dir = tempfile::tempdir().unwrap();
    let pki = new_pki();
    pki.leaf("server", "EC");
    pki.leaf("client", "EC");
    let stranger = new_pki();
    stranger.leaf("client", "EC");
    let with_cert = https_client(&pki, |b| b.identity(identity(&pki, "client")));
    let tls = format!(
        "{}    client_auth_type: RequireAndVerifyClientCert\n    client_ca_file: {}\n",
        server_tls(&pki, "server.key"),
        pki.path("ca.crt").display()
    );
    let (mut router, port) = start_router(dir.path(), &tls, &with_cert).await;
    let url = format!("https://127.0.0.1:{port}/-/healthy");

    let ok = with_cert.get(&url).send().await.unwrap();
    assert!(ok.status().is_success(), "{}", ok.status());
    let without = https_client(&pki, |b| b).get(&url).send().await;
    assert!(without.is_err(), "answered without a client certificate: {without:?}");
    let foreign = https_client(&pki, |b| b.identity(identity(&stranger, "client"))).get(&url).send().await;
    assert!(foreign.is_err(), "answered a certificate from another CA: {foreign:?}");

    let base = format!("https://127.0.0.1:{port}");
    let with_identity = format!(
        "tls_config:\n  ca_file: {}\n  cert_file: {}\n  key_file: {}\n",
        pki.path("ca.crt").display(),
        pki.path("client.crt").display(),
        pki.path("client.key").display()
    );
    let (ok, out, err) = amtool(dir.path(), &base, &with_identity, &["alert", "query"]);
    assert!(ok, "amtool with a client certificate: {out}{err}");
    let ca_only = format!("tls_config:\n  ca_file: {}\n", pki.path("ca.crt").display());
    let (ok, out, err) = amtool(dir.path(), &base, &ca_only, &["alert", "query"]);
    assert!(!ok, "amtool without a client certificate: {out}{err}");

    let status = router.terminate(Duration::from_secs(30));
    assert!(status.is_some_and(|s| s.success()), "router exit {status:?}: {}", router.log_text());
}

#[test]
fn harrier_check_names_the_tls_field_and_file_at_fault() {
    let dir = tempfile::tempdir().unwrap();
    let pki = new_pki();
    pki.leaf("server", "EC");
    pki.leaf("other", "EC");
    let config = dir.path().join("router.yml");
    let config_arg = config.to_str().unwrap();

    std::fs::write(&config, format!("web:\n  tls_server_config:\n{}", server_tls(&pki, "server.key")))
        .unwrap();
    let (code, out) = run_harrier(&["check", config_arg]);
    assert_eq!(code, 0, "{out}");

    std::fs::write(&config, format!("web:\n  tls_server_config:\n{}", server_tls(&pki, "other.key")))
        .unwrap();
    let (code, out) = run_harrier(&["check", config_arg]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("router.yml:4:5: web.tls_server_config.key_file: the private key in"), "{out}");
    assert!(
        out.contains("other.key does not match the certificate in") && out.contains("server.crt"),
        "{out}"
    );

    std::fs::write(
        &config,
        format!(
            "web:\n  tls_server_config:\n{}    cipher_suites: [TLS_AES_128_GCM_SHA256]\n",
            server_tls(&pki, "server.key")
        ),
    )
    .unwrap();
    let (code, out) = run_harrier(&["check", config_arg]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("router.yml:5:5: web.tls_server_config.cipher_suites: not supported"), "{out}");
}
