use super::*;
use crate::config::{self, ConfigError, LoadedConfig};

use super::test_pki::TestPki as Pki;

/// Router configs written next to a test PKI's files, loaded.
trait ConfigFiles {
    fn load(&self, yaml: &str) -> Result<LoadedConfig, ConfigError>;
    fn load_error(&self, yaml: &str) -> String;
    fn settings(&self, yaml: &str) -> TlsServerConfig;
}

impl ConfigFiles for Pki {
    /// Writes `router.yml` with `yaml` and loads it.
    fn load(&self, yaml: &str) -> Result<LoadedConfig, ConfigError> {
        let path = self.path("router.yml");
        std::fs::write(&path, yaml).unwrap();
        config::load_file(&path)
    }

    fn load_error(&self, yaml: &str) -> String {
        match self.load(yaml) {
            Ok(_) => panic!("accepted:\n{yaml}"),
            Err(e) => e.to_string(),
        }
    }

    /// The loaded `web.tls_server_config` of `yaml`.
    fn settings(&self, yaml: &str) -> TlsServerConfig {
        let loaded = self.load(yaml).unwrap_or_else(|e| panic!("{e}"));
        loaded.config.web.tls_server_config.unwrap()
    }
}

const SERVER: &str = "web:\n  tls_server_config:\n    cert_file: server.crt\n    key_file: server.key\n";

#[test]
fn cert_and_key_are_read_relative_to_the_config_file() {
    let pki = Pki::new();
    pki.leaf("server", "EC");
    let settings = pki.settings(SERVER);
    assert_eq!(settings.cert_file.as_deref(), Some(pki.path("server.crt").to_str().unwrap()));
    assert_eq!(settings.key_file.as_deref(), Some(pki.path("server.key").to_str().unwrap()));
    assert_eq!(settings.client_auth_type, ClientAuthType::NoClientCert);
    assert_eq!(settings.min_version, TlsVersion::Tls12);
    let config = server_config(&settings).unwrap();
    assert_eq!(config.alpn_protocols, [b"h2".to_vec(), b"http/1.1".to_vec()]);
}

#[test]
fn keys_in_pkcs8_pkcs1_and_sec1_are_accepted() {
    let pki = Pki::new();
    pki.leaf("ec", "EC");
    pki.leaf("rsa", "RSA");
    pki.openssl(&["ec", "-in", "ec.key", "-out", "ec.sec1"]);
    pki.openssl(&["rsa", "-in", "rsa.key", "-traditional", "-out", "rsa.pkcs1"]);
    assert!(std::fs::read_to_string(pki.path("ec.sec1")).unwrap().contains("BEGIN EC PRIVATE KEY"));
    assert!(std::fs::read_to_string(pki.path("rsa.pkcs1")).unwrap().contains("BEGIN RSA PRIVATE KEY"));
    for (cert, key) in
        [("ec.crt", "ec.key"), ("ec.crt", "ec.sec1"), ("rsa.crt", "rsa.key"), ("rsa.crt", "rsa.pkcs1")]
    {
        let yaml = format!("web:\n  tls_server_config:\n    cert_file: {cert}\n    key_file: {key}\n");
        if let Err(e) = pki.load(&yaml) {
            panic!("{cert} with {key}: {e}");
        }
    }
}

#[test]
fn missing_key_file_is_refused_naming_the_field() {
    let pki = Pki::new();
    pki.leaf("server", "EC");
    let err = pki.load_error("web:\n  tls_server_config:\n    cert_file: server.crt\n");
    assert!(err.contains("router.yml:2:3: web.tls_server_config.key_file: key_file is required"), "{err}");
    let err = pki.load_error("web:\n  tls_server_config:\n    key_file: server.key\n");
    assert!(err.contains("web.tls_server_config.cert_file: cert_file is required"), "{err}");
}

#[test]
fn unreadable_key_file_is_refused_naming_the_file_and_field() {
    let pki = Pki::new();
    pki.leaf("server", "EC");
    let err =
        pki.load_error("web:\n  tls_server_config:\n    cert_file: server.crt\n    key_file: absent.key\n");
    let absent = pki.path("absent.key");
    assert!(
        err.contains(&format!(
            "router.yml:4:5: web.tls_server_config.key_file: {}: cannot read",
            absent.display()
        )),
        "{err}"
    );
}

#[test]
fn key_of_another_certificate_is_refused_naming_both_files() {
    let pki = Pki::new();
    pki.leaf("server", "EC");
    pki.leaf("other", "EC");
    let err =
        pki.load_error("web:\n  tls_server_config:\n    cert_file: server.crt\n    key_file: other.key\n");
    let expected = format!(
        "web.tls_server_config.key_file: the private key in {} does not match the certificate in {}",
        pki.path("other.key").display(),
        pki.path("server.crt").display()
    );
    assert!(err.contains(&expected), "{err}");
}

#[test]
fn files_without_pem_of_the_right_kind_are_refused() {
    let pki = Pki::new();
    pki.leaf("server", "EC");
    let err =
        pki.load_error("web:\n  tls_server_config:\n    cert_file: server.key\n    key_file: server.key\n");
    assert!(
        err.contains("web.tls_server_config.cert_file") && err.contains("no PEM certificate found"),
        "{err}"
    );
    let err =
        pki.load_error("web:\n  tls_server_config:\n    cert_file: server.crt\n    key_file: server.crt\n");
    assert!(
        err.contains("web.tls_server_config.key_file") && err.contains("no PEM private key found"),
        "{err}"
    );
}

#[test]
fn exporter_toolkit_fields_harrier_does_not_implement_are_refused_by_name() {
    let pki = Pki::new();
    pki.leaf("server", "EC");
    let err = pki.load_error(&format!("{SERVER}    cipher_suites: [TLS_AES_128_GCM_SHA256]\n"));
    assert!(err.contains("router.yml:5:5: web.tls_server_config.cipher_suites: not supported"), "{err}");
    let err = pki.load_error(&format!("{SERVER}    client_ca: \"-----BEGIN CERTIFICATE-----\"\n"));
    assert!(err.contains("web.tls_server_config.client_ca: inline PEM is not supported"), "{err}");
    let err = pki.load_error(&format!("{SERVER}    no_such_setting: 1\n"));
    assert!(err.contains("web.tls_server_config: unknown field `no_such_setting`"), "{err}");
}

#[test]
fn verifying_client_certificates_needs_client_ca_file() {
    let pki = Pki::new();
    pki.leaf("server", "EC");
    for auth in ["RequireAndVerifyClientCert", "VerifyClientCertIfGiven"] {
        let err = pki.load_error(&format!("{SERVER}    client_auth_type: {auth}\n"));
        assert!(
            err.contains(&format!(
                "web.tls_server_config.client_ca_file: client_auth_type {auth} verifies client certificates: \
                 client_ca_file is required"
            )),
            "{err}"
        );
    }
    let settings = pki.settings(&format!(
        "{SERVER}    client_auth_type: RequireAndVerifyClientCert\n    client_ca_file: ca.crt\n"
    ));
    assert_eq!(settings.client_ca_file.as_deref(), Some(pki.path("ca.crt").to_str().unwrap()));
}

#[test]
fn client_ca_file_without_verification_is_refused() {
    let pki = Pki::new();
    pki.leaf("server", "EC");
    let err = pki.load_error(&format!("{SERVER}    client_ca_file: ca.crt\n"));
    assert!(err.contains("web.tls_server_config.client_ca_file: client_ca_file is only used with"), "{err}");
    // As exporter-toolkit: accepted (and not used) where a certificate is asked for unverified.
    for auth in ["RequestClientCert", "RequireAnyClientCert"] {
        pki.settings(&format!("{SERVER}    client_auth_type: {auth}\n    client_ca_file: ca.crt\n"));
    }
    let err = pki.load_error(&format!(
        "{SERVER}    client_auth_type: RequireAndVerifyClientCert\n    client_ca_file: server.key\n"
    ));
    assert!(err.contains("client CA certificates: no PEM certificate found"), "{err}");
}

#[test]
fn tls_versions_rustls_lacks_are_refused() {
    let pki = Pki::new();
    pki.leaf("server", "EC");
    let err = pki.load_error(&format!("{SERVER}    min_version: TLS10\n"));
    assert!(err.contains("web.tls_server_config.min_version: TLS10 is not supported"), "{err}");
    let err = pki.load_error(&format!("{SERVER}    client_auth_type: Sometimes\n"));
    assert!(err.contains("unknown variant `Sometimes`"), "{err}");
    let settings = pki.settings(&format!("{SERVER}    min_version: TLS13\n"));
    assert_eq!(settings.min_version, TlsVersion::Tls13);
}

/// An HTTPS server with one route (`/` answers `ok`) on a free loopback port.
struct TestServer {
    addr: SocketAddr,
    metrics: TlsMetrics,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl TestServer {
    async fn start(settings: TlsServerConfig) -> TestServer {
        let metrics = TlsMetrics::default();
        let tls = ReloadingTlsConfig::new(settings, metrics.clone()).unwrap();
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = tcp.local_addr().unwrap();
        let listener = TlsListener::new(tcp, tls).unwrap();
        let app = axum::Router::new().route("/", axum::routing::get(|| async { "ok" }));
        let stop = CancellationToken::new();
        let shutdown = stop.clone().cancelled_owned();
        let task =
            tokio::spawn(async move { axum::serve(listener, app).with_graceful_shutdown(shutdown).await });
        TestServer { addr, metrics, stop, task }
    }

    fn url(&self) -> String {
        format!("https://localhost:{}/", self.addr.port())
    }
}

fn client(
    pki: &Pki,
    configure: impl FnOnce(reqwest::ClientBuilder) -> reqwest::ClientBuilder,
) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(&pki.ca_pem()).unwrap();
    configure(reqwest::Client::builder().tls_certs_only([ca]).timeout(Duration::from_secs(5)))
        .resolve("localhost", ([127, 0, 0, 1], 0).into())
        .build()
        .unwrap()
}

/// The certificate the server at `addr` presents, seen by a client trusting the test CA.
async fn presented_certificate(pki: &Pki, addr: SocketAddr) -> Vec<u8> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pki.ca_pem()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let config =
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let stream = tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp).await.unwrap();
    stream.get_ref().1.peer_certificates().unwrap()[0].to_vec()
}

fn certificate_der(pki: &Pki, file: &str) -> Vec<u8> {
    CertificateDer::from_pem_file(pki.path(file)).unwrap().to_vec()
}

#[tokio::test]
async fn serves_http1_and_h2_while_stalled_handshakes_wait_and_failures_are_counted() {
    let pki = Pki::new();
    pki.leaf("server", "EC");
    let server = TestServer::start(pki.settings(SERVER)).await;
    // Clients that connect and never say hello: their handshakes must not hold up others.
    let mut stalled = Vec::new();
    for _ in 0..3 {
        stalled.push(TcpStream::connect(server.addr).await.unwrap());
    }

    let response = client(&pki, |b| b).get(server.url()).send().await.unwrap();
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    assert_eq!(response.text().await.unwrap(), "ok");
    let response = client(&pki, |b| b.http1_only()).get(server.url()).send().await.unwrap();
    assert_eq!(response.version(), reqwest::Version::HTTP_11);
    assert_eq!(response.text().await.unwrap(), "ok");
    assert_eq!(server.metrics.handshake_errors.get(), 0);

    // Plain HTTP on the TLS port: the handshake fails, is counted, and the server goes on.
    let plain = reqwest::Client::new().get(format!("http://127.0.0.1:{}/", server.addr.port())).send().await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success());
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.metrics.handshake_errors.get() == 0 {
        assert!(Instant::now() < deadline, "failed handshake not counted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let response = client(&pki, |b| b).get(server.url()).send().await.unwrap();
    assert_eq!(response.text().await.unwrap(), "ok");

    // Shutdown does not wait for the stalled handshakes (they would take HANDSHAKE_TIMEOUT),
    // and closes the port.
    let started = Instant::now();
    server.stop.cancel();
    server.task.await.unwrap().unwrap();
    assert!(started.elapsed() < HANDSHAKE_TIMEOUT / 2, "shutdown took {:?}", started.elapsed());
    let deadline = Instant::now() + Duration::from_secs(5);
    while TcpStream::connect(server.addr).await.is_ok() {
        assert!(Instant::now() < deadline, "port still open after shutdown");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(stalled);
}

#[tokio::test]
async fn a_renewed_certificate_is_served_without_a_restart() {
    let pki = Pki::new();
    pki.leaf("server", "EC");
    pki.leaf("renewed", "EC");
    let server = TestServer::start(pki.settings(SERVER)).await;
    assert_eq!(presented_certificate(&pki, server.addr).await, certificate_der(&pki, "server.crt"));

    // A half-written renewal (new certificate, old key) keeps the old pair in use.
    std::fs::copy(pki.path("renewed.crt"), pki.path("server.crt")).unwrap();
    tokio::time::sleep(RELOAD_CHECK_INTERVAL + Duration::from_millis(100)).await;
    let renewed = certificate_der(&pki, "renewed.crt");
    assert_ne!(presented_certificate(&pki, server.addr).await, renewed);

    std::fs::copy(pki.path("renewed.key"), pki.path("server.key")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while presented_certificate(&pki, server.addr).await != renewed {
        assert!(Instant::now() < deadline, "renewed certificate not served");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.stop.cancel();
    server.task.await.unwrap().unwrap();
}

#[tokio::test]
async fn require_any_client_cert_takes_an_unverified_certificate_but_not_none() {
    let pki = Pki::new();
    pki.leaf("server", "EC");
    // A client certificate from a CA the server does not know.
    let stranger = Pki::new();
    stranger.leaf("client", "EC");
    let identity = stranger.identity_pem("client");
    let server =
        TestServer::start(pki.settings(&format!("{SERVER}    client_auth_type: RequireAnyClientCert\n")))
            .await;

    let without = client(&pki, |b| b).get(server.url()).send().await;
    assert!(without.is_err(), "{without:?}");
    let with = client(&pki, |b| b.identity(reqwest::Identity::from_pem(&identity).unwrap()))
        .get(server.url())
        .send()
        .await
        .unwrap();
    assert_eq!(with.text().await.unwrap(), "ok");
    server.stop.cancel();
    server.task.await.unwrap().unwrap();
}

#[tokio::test]
async fn exporter_toolkit_spellings_and_version_ranges_are_accepted() {
    let pki = Pki::new();
    pki.leaf("server", "EC");
    // exporter-toolkit's old name and its empty value.
    let settings = pki.settings(&format!("{SERVER}    client_auth_type: RequireClientCert\n"));
    assert_eq!(settings.client_auth_type, ClientAuthType::RequireAnyClientCert);
    let settings = pki.settings(&format!("{SERVER}    client_auth_type: \"\"\n"));
    assert_eq!(settings.client_auth_type, ClientAuthType::NoClientCert);
    let err = pki.load_error(&format!("{SERVER}    min_version: TLS13\n    max_version: TLS12\n"));
    assert!(
        err.contains("web.tls_server_config.max_version: max_version TLS12 is older than min_version TLS13"),
        "{err}"
    );
    // Which versions a client limited to one of them gets served with, per range.
    for (range, tls12, tls13) in [
        ("max_version: TLS12", true, false),
        ("max_version: TLS13", true, true),
        ("min_version: TLS13", false, true),
    ] {
        let server = TestServer::start(pki.settings(&format!("{SERVER}    {range}\n"))).await;
        for (version, expected) in
            [(reqwest::tls::Version::TLS_1_2, tls12), (reqwest::tls::Version::TLS_1_3, tls13)]
        {
            let only = client(&pki, |b| b.min_tls_version(version).max_tls_version(version));
            let served = only.get(server.url()).send().await.is_ok();
            assert_eq!(served, expected, "{range}: {version:?}");
        }
        server.stop.cancel();
    }
}
