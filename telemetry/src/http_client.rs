//! Prometheus's HTTP client configuration (`basic_auth`, `authorization`, `tls_config`, …),
//! shared by scraping and remote_write, and the client built from it.
//!
//! [`build_client`] turns a [`HttpClientConfig`] into a `reqwest::Client`: TLS is a rustls
//! `ClientConfig` built here (custom CA or the platform's roots, client certificate, a
//! `server_name` that certificates are checked against, `insecure_skip_verify`, version bounds),
//! redirects are followed unless `follow_redirects: false`, and proxies are used only when
//! configured, as in Prometheus. Credentials are not baked into the client: [`apply_auth`] adds
//! them to each request, reading `*_file` credentials afresh every time (trimmed of surrounding
//! whitespace), so a rotated secret is picked up without a reload, as Prometheus does.
//!
//! Certificate files are read once, when the client is built.

mod validate;

pub use validate::{HttpConfigIssue, join_dir, resolve_paths, validate};

use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use reqwest::RequestBuilder;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;

/// `basic_auth`: a password inline or in a file (read on every request, as Prometheus does).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub username_file: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub password_file: Option<String>,
}

/// `authorization`: `type` defaults to `Bearer`; credentials inline or in a file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Authorization {
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub credentials: Option<String>,
    #[serde(default)]
    pub credentials_file: Option<String>,
}

/// `tls_config`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    #[serde(default)]
    pub ca: Option<String>,
    #[serde(default)]
    pub ca_file: Option<String>,
    #[serde(default)]
    pub cert: Option<String>,
    #[serde(default)]
    pub cert_file: Option<String>,
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub key_file: Option<String>,
    #[serde(default)]
    pub server_name: Option<String>,
    #[serde(default)]
    pub insecure_skip_verify: bool,
    /// `TLS10`…`TLS13`; Harrier supports TLS12 and TLS13.
    #[serde(default)]
    pub min_version: Option<String>,
    #[serde(default)]
    pub max_version: Option<String>,
}

/// The HTTP client fields Prometheus accepts in a scrape config or a remote_write entry.
/// Flattened into both.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct HttpClientConfig {
    #[serde(default)]
    pub basic_auth: Option<BasicAuth>,
    #[serde(default)]
    pub authorization: Option<Authorization>,
    /// Deprecated Prometheus 2.x forms of `authorization`; still accepted.
    #[serde(default)]
    pub bearer_token: Option<String>,
    #[serde(default)]
    pub bearer_token_file: Option<String>,
    #[serde(default)]
    pub tls_config: Option<TlsConfig>,
    #[serde(default)]
    pub proxy_url: Option<String>,
    #[serde(default)]
    pub no_proxy: Option<String>,
    #[serde(default)]
    pub proxy_from_environment: Option<bool>,
    #[serde(default)]
    pub follow_redirects: Option<bool>,
    #[serde(default)]
    pub enable_http2: Option<bool>,
    /// Accepted so configs load; not supported yet (rejected by validation with a clear message).
    #[serde(default)]
    pub oauth2: Option<yaml_serde::Value>,
    #[serde(default)]
    pub proxy_connect_header: Option<yaml_serde::Value>,
    #[serde(default)]
    pub http_headers: Option<yaml_serde::Value>,
}

impl HttpClientConfig {
    /// Whether requests go through a proxy: `proxy_url`, or the environment's with
    /// `proxy_from_environment`.
    pub fn uses_proxy(&self) -> bool {
        self.proxy_url.as_deref().is_some_and(|u| !u.is_empty())
            || self.proxy_from_environment.unwrap_or(false)
    }

    /// Whether requests carry credentials configured here (`basic_auth`, `authorization`,
    /// `bearer_token[_file]`), which [`apply_auth`] adds.
    pub fn has_credentials(&self) -> bool {
        self.basic_auth.is_some()
            || self.authorization.is_some()
            || self.bearer_token.as_deref().is_some_and(|t| !t.is_empty())
            || self.bearer_token_file.as_deref().is_some_and(|f| !f.is_empty())
    }
}

/// How long an idle pooled connection stays open (reqwest's default).
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// reqwest's TCP keepalive: idle time before the first probe, between probes, and probes.
const KEEPALIVE: Duration = Duration::from_secs(15);
const KEEPALIVE_RETRIES: u32 = 3;

/// hyper-util's pooled HTTP/1 client, for the plain-`http` paths that bypass reqwest (scrapes,
/// remote_write and Loki POSTs), with reqwest's connection settings: TCP_NODELAY, TCP keepalive,
/// the pool's idle timeout. `read_buffer` fixes each connection's read buffer at that many
/// bytes (else hyper grows it towards the largest read).
pub fn plain_http_client<B>(read_buffer: Option<usize>) -> Client<HttpConnector, B>
where
    B: http_body::Body + Send,
    B::Data: Send,
{
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_keepalive(Some(KEEPALIVE));
    connector.set_keepalive_interval(Some(KEEPALIVE));
    connector.set_keepalive_retries(Some(KEEPALIVE_RETRIES));
    let mut builder = Client::builder(TokioExecutor::new());
    builder.pool_idle_timeout(POOL_IDLE_TIMEOUT).pool_timer(TokioTimer::new());
    if let Some(bytes) = read_buffer {
        builder.http1_read_buf_exact_size(bytes);
    }
    builder.build(connector)
}

/// The User-Agent Harrier sends (Prometheus sends `Prometheus/<version>`).
pub const USER_AGENT: &str = concat!("Harrier/", env!("CARGO_PKG_VERSION"));

/// Go's `http.Client` stops after 10 redirects; so do we.
const MAX_REDIRECTS: usize = 10;

/// Why a client could not be built or a request could not be authenticated.
#[derive(Debug, thiserror::Error)]
pub enum HttpClientError {
    #[error("cannot read {what} file {path:?}: {source}")]
    ReadFile { what: &'static str, path: String, source: std::io::Error },
    #[error("invalid {what} (from {origin}): {message}")]
    Pem { what: &'static str, origin: String, message: String },
    #[error("tls_config: {0}")]
    Tls(String),
    #[error("tls_config: unsupported TLS version {0:?} (Harrier supports TLS12 and TLS13)")]
    TlsVersion(String),
    #[error("invalid proxy_url {url:?}: {source}")]
    Proxy { url: String, source: reqwest::Error },
    #[error("{0} is not supported by Harrier yet")]
    Unsupported(&'static str),
    #[error("{what} contains characters not allowed in an HTTP header")]
    HeaderValue { what: &'static str },
    #[error("cannot build the HTTP client: {0}")]
    Build(reqwest::Error),
    #[error("invalid URL {url:?}: {message}")]
    Url { url: String, message: String },
}

/// Builds a client for `cfg`. `timeout` bounds each whole request (a request may set a
/// shorter one).
pub fn build_client(cfg: &HttpClientConfig, timeout: Duration) -> Result<reqwest::Client, HttpClientError> {
    if cfg.oauth2.is_some() {
        return Err(HttpClientError::Unsupported("oauth2"));
    }
    if cfg.http_headers.is_some() {
        return Err(HttpClientError::Unsupported("http_headers"));
    }
    if cfg.proxy_connect_header.is_some() {
        return Err(HttpClientError::Unsupported("proxy_connect_header"));
    }
    let enable_http2 = cfg.enable_http2.unwrap_or(true);
    let redirect = if cfg.follow_redirects.unwrap_or(true) {
        reqwest::redirect::Policy::limited(MAX_REDIRECTS)
    } else {
        reqwest::redirect::Policy::none()
    };
    let tls = rustls_config(cfg.tls_config.as_ref().unwrap_or(&TlsConfig::default()), enable_http2)?;
    let mut builder = reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .timeout(timeout)
        .redirect(redirect)
        .tls_backend_preconfigured(tls)
        .no_proxy();
    if !enable_http2 {
        builder = builder.http1_only();
    }
    for proxy in proxies(cfg)? {
        builder = builder.proxy(proxy);
    }
    builder.build().map_err(HttpClientError::Build)
}

/// The proxies `cfg` asks for: `proxy_url` (with `no_proxy`), or the environment's
/// `HTTP(S)_PROXY`/`NO_PROXY` when `proxy_from_environment` is set, or none.
fn proxies(cfg: &HttpClientConfig) -> Result<Vec<reqwest::Proxy>, HttpClientError> {
    if let Some(url) = cfg.proxy_url.as_deref().filter(|u| !u.is_empty()) {
        let proxy = reqwest::Proxy::all(url)
            .map_err(|source| HttpClientError::Proxy { url: url.to_string(), source })?
            .no_proxy(cfg.no_proxy.as_deref().and_then(reqwest::NoProxy::from_string));
        return Ok(vec![proxy]);
    }
    if !cfg.proxy_from_environment.unwrap_or(false) {
        return Ok(Vec::new());
    }
    let env = |names: &[&str]| names.iter().find_map(|n| std::env::var(n).ok().filter(|v| !v.is_empty()));
    let mut out = Vec::new();
    if let Some(url) = env(&["HTTP_PROXY", "http_proxy"]) {
        let proxy = reqwest::Proxy::http(&url).map_err(|source| HttpClientError::Proxy { url, source })?;
        out.push(proxy.no_proxy(reqwest::NoProxy::from_env()));
    }
    if let Some(url) = env(&["HTTPS_PROXY", "https_proxy"]) {
        let proxy = reqwest::Proxy::https(&url).map_err(|source| HttpClientError::Proxy { url, source })?;
        out.push(proxy.no_proxy(reqwest::NoProxy::from_env()));
    }
    Ok(out)
}

fn read_file(what: &'static str, path: &str) -> Result<Vec<u8>, HttpClientError> {
    std::fs::read(path).map_err(|source| HttpClientError::ReadFile { what, path: path.to_string(), source })
}

/// PEM text inline or from a file; `None` when neither is set.
fn pem_source(
    inline: Option<&str>,
    file: Option<&str>,
    what: &'static str,
) -> Result<Option<(Vec<u8>, String)>, HttpClientError> {
    if let Some(text) = inline.filter(|t| !t.is_empty()) {
        return Ok(Some((text.as_bytes().to_vec(), format!("{what} (inline)"))));
    }
    match file.filter(|f| !f.is_empty()) {
        Some(path) => Ok(Some((read_file(what, path)?, format!("file {path:?}")))),
        None => Ok(None),
    }
}

fn parse_certs(
    pem: &[u8],
    what: &'static str,
    origin: &str,
) -> Result<Vec<CertificateDer<'static>>, HttpClientError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| HttpClientError::Pem { what, origin: origin.to_string(), message: e.to_string() })?;
    if certs.is_empty() {
        return Err(HttpClientError::Pem {
            what,
            origin: origin.to_string(),
            message: "no certificate found".into(),
        });
    }
    Ok(certs)
}

fn tls_version(name: &str) -> Result<u8, HttpClientError> {
    // Ordinals so bounds compare; TLS10/11 are accepted in a minimum (rustls never goes below
    // 1.2, which satisfies "at least 1.0") but not as a maximum.
    match name {
        "TLS10" => Ok(10),
        "TLS11" => Ok(11),
        "TLS12" => Ok(12),
        "TLS13" => Ok(13),
        other => Err(HttpClientError::TlsVersion(other.to_string())),
    }
}

/// The rustls configuration for `tls`.
fn rustls_config(tls: &TlsConfig, enable_http2: bool) -> Result<rustls::ClientConfig, HttpClientError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let min =
        tls.min_version.as_deref().filter(|v| !v.is_empty()).map(tls_version).transpose()?.unwrap_or(12);
    let max =
        tls.max_version.as_deref().filter(|v| !v.is_empty()).map(tls_version).transpose()?.unwrap_or(13);
    if max < 12 {
        return Err(HttpClientError::TlsVersion(tls.max_version.clone().unwrap_or_default()));
    }
    if min > max {
        return Err(HttpClientError::Tls("min_version is greater than max_version".into()));
    }
    let mut versions: Vec<&'static rustls::SupportedProtocolVersion> = Vec::new();
    if min <= 12 {
        versions.push(&rustls::version::TLS12);
    }
    versions.push(&rustls::version::TLS13);
    if max < 13 {
        versions.retain(|v| v.version != rustls::ProtocolVersion::TLSv1_3);
    }

    let verifier: Arc<dyn ServerCertVerifier> = if tls.insecure_skip_verify {
        Arc::new(AcceptAnyServerCert { provider: Arc::clone(&provider) })
    } else if let Some((pem, origin)) =
        pem_source(tls.ca.as_deref(), tls.ca_file.as_deref(), "CA certificate")?
    {
        let mut roots = RootCertStore::empty();
        for cert in parse_certs(&pem, "CA certificate", &origin)? {
            roots.add(cert).map_err(|e| HttpClientError::Pem {
                what: "CA certificate",
                origin: origin.clone(),
                message: e.to_string(),
            })?;
        }
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
            .build()
            .map_err(|e| HttpClientError::Tls(e.to_string()))?
    } else {
        Arc::new(
            rustls_platform_verifier::Verifier::new(Arc::clone(&provider))
                .map_err(|e| HttpClientError::Tls(e.to_string()))?,
        )
    };
    let verifier: Arc<dyn ServerCertVerifier> = match tls.server_name.as_deref().filter(|n| !n.is_empty()) {
        Some(name) if !tls.insecure_skip_verify => {
            let server_name = ServerName::try_from(name.to_string())
                .map_err(|_| HttpClientError::Tls(format!("invalid server_name {name:?}")))?;
            Arc::new(ServerNameOverride { inner: verifier, server_name })
        }
        _ => verifier,
    };

    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions)
        .map_err(|e| HttpClientError::Tls(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let cert = pem_source(tls.cert.as_deref(), tls.cert_file.as_deref(), "client certificate")?;
    let key = pem_source(tls.key.as_deref(), tls.key_file.as_deref(), "client key")?;
    let mut config = match (cert, key) {
        (Some((cert_pem, cert_origin)), Some((key_pem, key_origin))) => {
            let certs = parse_certs(&cert_pem, "client certificate", &cert_origin)?;
            let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| HttpClientError::Pem {
                what: "client key",
                origin: key_origin,
                message: e.to_string(),
            })?;
            builder.with_client_auth_cert(certs, key).map_err(|e| HttpClientError::Tls(e.to_string()))?
        }
        (None, None) => builder.with_no_client_auth(),
        (Some(_), None) => return Err(HttpClientError::Tls("client cert given without a key".into())),
        (None, Some(_)) => return Err(HttpClientError::Tls("client key given without a cert".into())),
    };
    config.alpn_protocols =
        if enable_http2 { vec![b"h2".to_vec(), b"http/1.1".to_vec()] } else { vec![b"http/1.1".to_vec()] };
    Ok(config)
}

/// Checks server certificates against a configured name instead of the URL's host
/// (`tls_config.server_name`).
#[derive(Debug)]
struct ServerNameOverride {
    inner: Arc<dyn ServerCertVerifier>,
    server_name: ServerName<'static>,
}

impl ServerCertVerifier for ServerNameOverride {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner.verify_server_cert(end_entity, intermediates, &self.server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// `insecure_skip_verify: true`: any certificate is accepted (handshake signatures are still
/// checked, so the peer must hold the key of the certificate it presents).
#[derive(Debug)]
struct AcceptAnyServerCert {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AcceptAnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// Reads a credential file afresh, trimmed of surrounding whitespace (Prometheus does both).
async fn read_secret(what: &'static str, path: &str) -> Result<String, HttpClientError> {
    let text = tokio::fs::read_to_string(path).await.map_err(|source| HttpClientError::ReadFile {
        what,
        path: path.to_string(),
        source,
    })?;
    Ok(text.trim().to_string())
}

/// An inline value or a file's trimmed contents; `None` when neither is set.
async fn secret(
    inline: Option<&str>,
    file: Option<&str>,
    what: &'static str,
) -> Result<Option<String>, HttpClientError> {
    if let Some(path) = file.filter(|f| !f.is_empty()) {
        return read_secret(what, path).await.map(Some);
    }
    Ok(inline.map(str::to_string))
}

/// Adds the credentials `cfg` configures to `req`: `basic_auth`, else `authorization`
/// (type `Bearer` unless set), else the deprecated `bearer_token`/`bearer_token_file`.
/// `*_file` credentials are read on every call.
pub async fn apply_auth(
    req: RequestBuilder,
    cfg: &HttpClientConfig,
) -> Result<RequestBuilder, HttpClientError> {
    if let Some(basic) = &cfg.basic_auth {
        let username = match basic.username_file.as_deref().filter(|f| !f.is_empty()) {
            Some(path) => read_secret("basic_auth username", path).await?,
            None => basic.username.clone(),
        };
        let password =
            secret(basic.password.as_deref(), basic.password_file.as_deref(), "basic_auth password").await?;
        return Ok(req.basic_auth(username, password));
    }
    let (kind, credentials) = if let Some(auth) = &cfg.authorization {
        let kind = auth.kind.clone().filter(|k| !k.is_empty()).unwrap_or_else(|| "Bearer".to_string());
        let creds = secret(
            auth.credentials.as_deref(),
            auth.credentials_file.as_deref(),
            "authorization credentials",
        )
        .await?;
        (kind, creds)
    } else {
        let token =
            secret(cfg.bearer_token.as_deref(), cfg.bearer_token_file.as_deref(), "bearer_token").await?;
        ("Bearer".to_string(), token)
    };
    match credentials {
        Some(credentials) => {
            let mut value = reqwest::header::HeaderValue::from_str(&format!("{kind} {credentials}"))
                .map_err(|_| HttpClientError::HeaderValue { what: "authorization credentials" })?;
            value.set_sensitive(true);
            Ok(req.header(reqwest::header::AUTHORIZATION, value))
        }
        None => Ok(req),
    }
}

#[cfg(test)]
mod tests;

/// Reads up to `limit` bytes of a response body (then drops the rest): enough of an error
/// answer to log, without holding a large one.
pub async fn read_prefix(response: &mut reqwest::Response, limit: usize) -> Vec<u8> {
    let mut out = Vec::new();
    while out.len() < limit {
        match response.chunk().await {
            Ok(Some(chunk)) => out.extend_from_slice(&chunk[..chunk.len().min(limit - out.len())]),
            Ok(None) | Err(_) => break,
        }
    }
    out
}

/// An error with its causes, for logs ("error sending request: connection refused").
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Headers a config's `headers:` must not set, lower case: the client sets them itself, and a
/// user value would corrupt the request (Prometheus's remote_write `reservedHeaders`, less its
/// remote_write version headers, which that section adds).
pub const RESERVED_HEADERS: &[&str] = &[
    "authorization",
    "host",
    "content-encoding",
    "content-length",
    "content-type",
    "user-agent",
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "www-authenticate",
    "accept-encoding",
];
