//! HTTPS for the router's own server (`web.tls_server_config`).
//!
//! Without `tls_server_config` the router serves plain HTTP on its `TcpListener` exactly as
//! before; with it, [`TlsListener`] wraps that listener as an [`axum::serve::Listener`] that
//! hands axum finished TLS streams, so routing, graceful shutdown and connection handling stay
//! axum's.
//!
//! # Design
//!
//! - **Accept loop.** One task owns the `TcpListener` and only accepts: each connection's
//!   handshake runs in a task of its own, so a slow, stalled or failing client never holds up
//!   the next `accept`. At most [`MAX_PENDING_HANDSHAKES`] handshakes run at once; past that
//!   the oldest one in progress is dropped (and counted) to make room, which bounds the memory
//!   a flood of idle connections can take without letting it lock other clients out.
//! - **Handshake tasks.** Each has [`HANDSHAKE_TIMEOUT`] to finish. A finished stream goes
//!   through a bounded channel ([`ACCEPTED_QUEUE`]) to [`TlsListener::accept`], where axum's
//!   serve loop takes it and serves it as HTTP/1.1 or HTTP/2, whichever ALPN chose (`h2` is
//!   offered first, then `http/1.1`). A failed or timed-out handshake is logged at debug (a
//!   port scanner or a client that does not trust the certificate is not the router's
//!   problem) and counted in `harrier_router_tls_handshake_errors_total`.
//! - **Shutdown.** axum stops calling `accept` and drops the listener on graceful shutdown;
//!   dropping it cancels the accept loop (closing the port) and every handshake still in
//!   progress, while the connections already handed over finish their requests as with plain
//!   HTTP.
//! - **Certificates.** [`server_config`] reads the certificate chain, the key (PKCS#8, PKCS#1
//!   or SEC1) and the client CAs, checks that the key belongs to the certificate, and builds
//!   the rustls configuration; config loading (`harrier check` too) runs it, so a bad file is
//!   refused before the router starts. [`ReloadingTlsConfig`] re-reads the files when they
//!   change: before a handshake it compares their length and modification time with the
//!   loaded ones (at most once per [`RELOAD_CHECK_INTERVAL`]), so a renewed certificate
//!   (cert-manager rewriting a mounted secret, say) is used from the next connection on,
//!   without a reload or restart; established connections keep theirs. Files that fail to
//!   load keep the previous certificate (logged as an error) until they change again.
//!   `tls_server_config` itself (file paths, `client_auth_type`, `min_version`, turning TLS on
//!   or off) is read at start only: changing it needs a restart.

#[cfg(test)]
mod test_pki;
#[cfg(test)]
mod tests;

use crate::config::{ClientAuthType, TlsServerConfig, TlsVersion};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{NoClientAuth, WebPkiClientVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::{CancellationToken, DropGuard};

/// How long a client has to complete the TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Handshakes in progress at once; past this the oldest in progress is dropped.
pub const MAX_PENDING_HANDSHAKES: usize = 1024;

/// Finished handshakes waiting for axum to take them.
pub const ACCEPTED_QUEUE: usize = 64;

/// How often, at most, the certificate files are checked for changes.
pub const RELOAD_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// The ALPN protocols offered, in order of preference.
const ALPN_PROTOCOLS: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// A field of `web.tls_server_config`, for errors to point at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsField {
    CertFile,
    KeyFile,
    ClientAuthType,
    ClientCaFile,
    MinVersion,
    MaxVersion,
}

impl TlsField {
    pub fn as_str(self) -> &'static str {
        match self {
            TlsField::CertFile => "cert_file",
            TlsField::KeyFile => "key_file",
            TlsField::ClientAuthType => "client_auth_type",
            TlsField::ClientCaFile => "client_ca_file",
            TlsField::MinVersion => "min_version",
            TlsField::MaxVersion => "max_version",
        }
    }
}

impl fmt::Display for TlsField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why `tls_server_config` cannot be used. [`TlsError::field`] says which field is at fault.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{field} is required (cert_file and key_file go together)")]
    Missing { field: TlsField },
    #[error("{path}: cannot read: {source}")]
    Read { field: TlsField, path: String, source: std::io::Error },
    #[error("{path}: no usable {what}: {message}")]
    Pem { field: TlsField, path: String, what: &'static str, message: String },
    #[error("the private key in {key_file} does not match the certificate in {cert_file}")]
    KeyMismatch { cert_file: String, key_file: String },
    #[error("the private key in {key_file} cannot be used with the certificate in {cert_file}: {source}")]
    Key { cert_file: String, key_file: String, source: rustls::Error },
    #[error("client_auth_type {0} verifies client certificates: client_ca_file is required")]
    ClientCaRequired(&'static str),
    #[error(
        "client_ca_file is only used with client_auth_type VerifyClientCertIfGiven or \
         RequireAndVerifyClientCert (client_auth_type is {0})"
    )]
    ClientCaUnused(&'static str),
    #[error("{path}: client CA certificates: {message}")]
    ClientCa { path: String, message: String },
    #[error("{0} is not supported: rustls implements TLS12 and TLS13")]
    UnsupportedVersion(&'static str),
    #[error("{0} is not supported: rustls implements TLS12 and TLS13")]
    UnsupportedMaxVersion(&'static str),
    #[error("max_version TLS12 is older than min_version TLS13")]
    VersionsReversed,
    #[error("TLS setup: {0}")]
    Setup(rustls::Error),
}

impl TlsError {
    /// The field of `tls_server_config` the error is about.
    pub fn field(&self) -> TlsField {
        match self {
            TlsError::Missing { field } | TlsError::Read { field, .. } | TlsError::Pem { field, .. } => {
                *field
            }
            TlsError::KeyMismatch { .. } | TlsError::Key { .. } => TlsField::KeyFile,
            TlsError::ClientCaRequired(_) | TlsError::ClientCaUnused(_) | TlsError::ClientCa { .. } => {
                TlsField::ClientCaFile
            }
            TlsError::UnsupportedVersion(_) | TlsError::Setup(_) => TlsField::MinVersion,
            TlsError::UnsupportedMaxVersion(_) | TlsError::VersionsReversed => TlsField::MaxVersion,
        }
    }
}

/// The rustls server configuration `settings` describe (paths already resolved), with ALPN
/// `h2` and `http/1.1`: reads and checks every file.
pub fn server_config(settings: &TlsServerConfig) -> Result<rustls::ServerConfig, TlsError> {
    let versions: &[&'static rustls::SupportedProtocolVersion] =
        match (settings.min_version, settings.max_version.unwrap_or(TlsVersion::Tls13)) {
            (TlsVersion::Tls10, _) => return Err(TlsError::UnsupportedVersion("TLS10")),
            (TlsVersion::Tls11, _) => return Err(TlsError::UnsupportedVersion("TLS11")),
            (_, TlsVersion::Tls10) => return Err(TlsError::UnsupportedMaxVersion("TLS10")),
            (_, TlsVersion::Tls11) => return Err(TlsError::UnsupportedMaxVersion("TLS11")),
            (TlsVersion::Tls13, TlsVersion::Tls12) => return Err(TlsError::VersionsReversed),
            (TlsVersion::Tls12, TlsVersion::Tls13) => &[&rustls::version::TLS13, &rustls::version::TLS12],
            (TlsVersion::Tls12, TlsVersion::Tls12) => &[&rustls::version::TLS12],
            (TlsVersion::Tls13, TlsVersion::Tls13) => &[&rustls::version::TLS13],
        };
    let cert_file = required(&settings.cert_file, TlsField::CertFile)?;
    let key_file = required(&settings.key_file, TlsField::KeyFile)?;
    let auth = settings.client_auth_type;
    let client_ca_file = settings.client_ca_file.as_deref().filter(|f| !f.is_empty());
    match (auth.verifies(), client_ca_file) {
        (true, None) => return Err(TlsError::ClientCaRequired(auth.as_str())),
        // As exporter-toolkit: refused only where no certificate is asked for; with
        // RequestClientCert and RequireAnyClientCert it is accepted and not used.
        (false, Some(_)) if auth == ClientAuthType::NoClientCert => {
            return Err(TlsError::ClientCaUnused(auth.as_str()));
        }
        _ => {}
    }

    let cert_pem = read(cert_file, TlsField::CertFile)?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(TlsField::CertFile, cert_file, "certificate", &e))?;
    if chain.is_empty() {
        return Err(pem_error(
            TlsField::CertFile,
            cert_file,
            "certificate",
            &rustls_pki_types::pem::Error::NoItemsFound,
        ));
    }
    let key_pem = read(key_file, TlsField::KeyFile)?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| pem_error(TlsField::KeyFile, key_file, "private key", &e))?;

    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = client_verifier(auth, client_ca_file, &provider)?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(versions)
        .map_err(TlsError::Setup)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|source| match source {
            rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => {
                TlsError::KeyMismatch { cert_file: cert_file.to_string(), key_file: key_file.to_string() }
            }
            source => {
                TlsError::Key { cert_file: cert_file.to_string(), key_file: key_file.to_string(), source }
            }
        })?;
    config.alpn_protocols = ALPN_PROTOCOLS.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}

fn required(file: &Option<String>, field: TlsField) -> Result<&str, TlsError> {
    file.as_deref().filter(|f| !f.is_empty()).ok_or(TlsError::Missing { field })
}

fn read(path: &str, field: TlsField) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read { field, path: path.to_string(), source })
}

fn pem_error(field: TlsField, path: &str, what: &'static str, e: &rustls_pki_types::pem::Error) -> TlsError {
    let message = match e {
        rustls_pki_types::pem::Error::NoItemsFound => format!("no PEM {what} found"),
        other => other.to_string(),
    };
    TlsError::Pem { field, path: path.to_string(), what, message }
}

/// How client certificates are asked for and checked, per Go's `tls.ClientAuthType`.
fn client_verifier(
    auth: ClientAuthType,
    client_ca_file: Option<&str>,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ClientCertVerifier>, TlsError> {
    let unverified = |mandatory| {
        Arc::new(UnverifiedClientCert { mandatory, algorithms: provider.signature_verification_algorithms })
            as Arc<dyn ClientCertVerifier>
    };
    let verified = |if_given: bool| -> Result<Arc<dyn ClientCertVerifier>, TlsError> {
        let path = client_ca_file.ok_or(TlsError::ClientCaRequired(auth.as_str()))?;
        let pem = read(path, TlsField::ClientCaFile)?;
        let ca_error = |message: String| TlsError::ClientCa { path: path.to_string(), message };
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(&pem) {
            roots.add(cert.map_err(|e| ca_error(e.to_string()))?).map_err(|e| ca_error(e.to_string()))?;
        }
        if roots.is_empty() {
            return Err(ca_error("no PEM certificate found".into()));
        }
        let builder = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(provider));
        let builder = if if_given { builder.allow_unauthenticated() } else { builder };
        builder.build().map_err(|e| ca_error(e.to_string()))
    };
    match auth {
        ClientAuthType::NoClientCert => Ok(Arc::new(NoClientAuth)),
        ClientAuthType::RequestClientCert => Ok(unverified(false)),
        ClientAuthType::RequireAnyClientCert => Ok(unverified(true)),
        ClientAuthType::VerifyClientCertIfGiven => verified(true),
        ClientAuthType::RequireAndVerifyClientCert => verified(false),
    }
}

/// `RequestClientCert` and `RequireAnyClientCert`: a client certificate is asked for (and
/// required, when `mandatory`) but its chain is not verified, as Go does. The handshake
/// signature is still checked: the client holds the key of the certificate it sent.
#[derive(Debug)]
struct UnverifiedClientCert {
    mandatory: bool,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for UnverifiedClientCert {
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The HTTPS server's self-metrics (registered only when TLS is configured).
#[derive(Clone, Default)]
pub struct TlsMetrics {
    handshake_errors: Counter,
}

impl TlsMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let m = TlsMetrics::default();
        registry.register(
            "harrier_router_tls_handshake_errors",
            "TLS handshakes that failed, timed out, or were refused over the pending-handshake limit",
            m.handshake_errors.clone(),
        );
        m
    }
}

/// Length and modification time of each file the configuration was read from.
type FilesFingerprint = Vec<Option<(u64, Option<SystemTime>)>>;

fn fingerprint(settings: &TlsServerConfig) -> FilesFingerprint {
    [&settings.cert_file, &settings.key_file, &settings.client_ca_file]
        .into_iter()
        .flatten()
        .map(|path| std::fs::metadata(path).ok().map(|m| (m.len(), m.modified().ok())))
        .collect()
}

/// The rustls configuration in use, rebuilt when its files change (see the module docs).
pub struct ReloadingTlsConfig {
    settings: TlsServerConfig,
    current: Mutex<LoadedTls>,
    metrics: TlsMetrics,
}

struct LoadedTls {
    config: Arc<rustls::ServerConfig>,
    /// The files as they were when `config` was last (re)built or failed to be.
    files: FilesFingerprint,
    checked: Instant,
}

impl ReloadingTlsConfig {
    /// Loads the files `settings` name (paths already resolved).
    pub fn new(settings: TlsServerConfig, metrics: TlsMetrics) -> Result<Self, TlsError> {
        let files = fingerprint(&settings);
        let config = Arc::new(server_config(&settings)?);
        Ok(ReloadingTlsConfig {
            settings,
            current: Mutex::new(LoadedTls { config, files, checked: Instant::now() }),
            metrics,
        })
    }

    /// The configuration for a new connection: rebuilt first if the files changed since the
    /// last check (checked at most once per [`RELOAD_CHECK_INTERVAL`]).
    pub fn current(&self) -> Arc<rustls::ServerConfig> {
        let mut loaded = self.current.lock().unwrap_or_else(|p| p.into_inner());
        if loaded.checked.elapsed() < RELOAD_CHECK_INTERVAL {
            return Arc::clone(&loaded.config);
        }
        loaded.checked = Instant::now();
        let files = fingerprint(&self.settings);
        if files == loaded.files {
            return Arc::clone(&loaded.config);
        }
        // Taken before reading: a change made while reading is seen at the next check.
        loaded.files = files;
        match server_config(&self.settings) {
            Ok(config) => {
                tracing::info!("TLS certificate files changed: reloaded");
                loaded.config = Arc::new(config);
            }
            Err(e) => {
                tracing::error!(field = %e.field(), error = %e, "web.tls_server_config: TLS certificate files changed but cannot be used; keeping the previous ones");
            }
        }
        Arc::clone(&loaded.config)
    }
}

/// An [`axum::serve::Listener`] that accepts TCP connections and hands over TLS streams
/// (see the module docs).
pub struct TlsListener {
    accepted: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local_addr: SocketAddr,
    /// Stops the accept loop and the handshakes in progress when the listener is dropped.
    _stop: DropGuard,
}

impl fmt::Debug for TlsListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsListener").field("local_addr", &self.local_addr).finish_non_exhaustive()
    }
}

impl TlsListener {
    /// Starts accepting on `tcp` (must be called inside a Tokio runtime).
    pub fn new(tcp: TcpListener, tls: ReloadingTlsConfig) -> std::io::Result<Self> {
        let local_addr = tcp.local_addr()?;
        let (tx, accepted) = mpsc::channel(ACCEPTED_QUEUE);
        let stop = CancellationToken::new();
        tokio::spawn(accept_loop(tcp, Arc::new(tls), tx, stop.clone()));
        tracing::info!(listen = %local_addr, "serving HTTPS");
        Ok(TlsListener { accepted, local_addr, _stop: stop.drop_guard() })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.accepted.recv().await {
            Some(connection) => connection,
            // The accept loop ends only when this listener is dropped: nothing more comes.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local_addr)
    }
}

/// Accepts TCP connections until `stop` (or until the listener is gone), starting a
/// handshake task for each.
async fn accept_loop(
    tcp: TcpListener,
    tls: Arc<ReloadingTlsConfig>,
    accepted: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
    stop: CancellationToken,
) {
    // Handshakes in progress, oldest first. When full, the oldest is dropped rather than the
    // newest refused: a client holding many idle connections then cannot lock everyone else
    // out, since each new connection pushes one of its stalled ones out.
    let mut pending: VecDeque<AbortHandle> = VecDeque::new();
    loop {
        let (stream, peer) = tokio::select! {
            _ = stop.cancelled() => return,
            _ = accepted.closed() => return,
            result = tcp.accept() => match result {
                Ok(connection) => connection,
                Err(e) => {
                    if !is_connection_error(&e) {
                        // As axum does: most likely out of file descriptors; wait for some
                        // to be released rather than spin.
                        tracing::error!(error = %e, "accept error");
                        tokio::select! {
                            _ = stop.cancelled() => return,
                            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        }
                    }
                    continue;
                }
            },
        };
        if pending.len() >= MAX_PENDING_HANDSHAKES {
            pending.retain(|h| !h.is_finished());
        }
        if pending.len() >= MAX_PENDING_HANDSHAKES
            && let Some(oldest) = pending.pop_front()
        {
            oldest.abort();
            tracing::debug!("TLS handshake dropped: too many handshakes in progress, the oldest goes");
            tls.metrics.handshake_errors.inc();
        }
        let task = tokio::spawn(handshake(stream, peer, Arc::clone(&tls), accepted.clone(), stop.clone()));
        pending.push_back(task.abort_handle());
    }
}

/// One connection's handshake, bounded by [`HANDSHAKE_TIMEOUT`]; the stream goes to
/// `accepted` on success.
async fn handshake(
    stream: TcpStream,
    peer: SocketAddr,
    tls: Arc<ReloadingTlsConfig>,
    accepted: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
    stop: CancellationToken,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls.current());
    let outcome = tokio::select! {
        _ = stop.cancelled() => return,
        outcome = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)) => outcome,
    };
    match outcome {
        Ok(Ok(stream)) => {
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = accepted.send((stream, peer)) => {}
            }
        }
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "TLS handshake failed");
            tls.metrics.handshake_errors.inc();
        }
        Err(_) => {
            tracing::debug!(%peer, timeout = ?HANDSHAKE_TIMEOUT, "TLS handshake timed out");
            tls.metrics.handshake_errors.inc();
        }
    }
}

/// Errors about one connection rather than the listener (axum's list).
fn is_connection_error(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}
