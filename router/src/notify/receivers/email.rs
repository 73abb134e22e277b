//! Email delivery over SMTP (Alertmanager's `notify/email`), with `lettre`'s SMTP client.
//!
//! The SMTP conversation follows upstream step by step: connect to `smarthost` (implicit TLS
//! when its port is 465), `EHLO <hello>`, then — unless the connection is already TLS —
//! `STARTTLS` when `require_tls` is true (the default; a server that does not advertise it is
//! an error), authentication when `auth_username` is set and the server advertises `AUTH`
//! (PLAIN, with `auth_identity` as the authorisation identity, or LOGIN), `MAIL FROM` the one
//! address of the rendered `from`, `RCPT TO` each address of the rendered `to`, and the
//! message. `auth_password_file` is read at every send and trimmed; a file that cannot be
//! read fails the attempt as retryable (both as upstream). CRAM-MD5
//! (`auth_secret`) is not available in `lettre`: a config that can only authenticate with it
//! fails to build, with a message saying so.
//!
//! The message is laid out as upstream writes it ([`EmailIntegration::render`]):
//!
//! - the configured `headers` (names title-cased, as Alertmanager's config normalises them),
//!   with the defaults `Subject: {{ template "email.default.subject" . }}`, `To: <to>` and
//!   `From: <from>` when absent; each value is a text template, rendered and then
//!   Q-encoded (RFC 2047) when it has characters outside printable ASCII, as Go's
//!   `mime.QEncoding.Encode("utf-8", …)` does;
//! - `Message-Id: <nanos.random@hostname>` unless configured, `Date` (RFC 1123 with a numeric
//!   zone, the notification's time in UTC; left out when configured, where upstream would
//!   write it twice), `Content-Type: multipart/alternative;  boundary=…` and `MIME-Version`;
//! - a `multipart/alternative` body with the `text` part (text template, when `text` is set)
//!   and then the `html` part (HTML template, by default `email.default.html`; none when
//!   `html` is empty), each quoted-printable encoded like Go's `mime/quotedprintable`.
//!
//! Header order is sorted by name (upstream's follows Go's map iteration, i.e. is random).
//! The whole message is ASCII, so no `8BITMIME` is needed.
//!
//! Timeouts: connecting to the smarthost is bounded by [`CONNECT_TIMEOUT`] (30 s; `lettre`
//! applies it to the TCP connect only), so an unreachable smarthost fails the attempt and the
//! pipeline retries it within the flush deadline. The SMTP session itself has no bound of its
//! own: like every integration without a `timeout` setting (email has none), it is bounded by
//! the dispatcher's flush deadline only, as in Alertmanager (see [`receivers`](super)).
//!
//! Failures: connection errors, TLS errors, timeouts and transient (4xx) SMTP replies are
//! retryable; permanent (5xx) replies, template errors and bad addresses are not. Upstream
//! retries every SMTP reply; the split here is the brief's (a 550 will not get better).

#[cfg(test)]
mod tests;

use super::secret::Secret;
use super::{BuildContext, Integration, NotifyError, NotifyFuture};
use crate::notify::alert::Notification;
use crate::notify::template::{TemplateData, Templates};
use crate::route::config::EmailConfig;
use harrier_telemetry::http_client::{TlsConfig, join_dir};
use lettre::address::Envelope;
use lettre::message::Mailboxes;
use lettre::transport::smtp::Error as SmtpError;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{
    AsyncSmtpConnection, Certificate, CertificateStore, Identity, TlsParameters, TlsVersion,
};
use lettre::transport::smtp::extension::{ClientId, Extension};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::time::Duration;

/// Alertmanager's default `Subject` header.
pub const DEFAULT_SUBJECT: &str = r#"{{ template "email.default.subject" . }}"#;
/// Alertmanager's default HTML body.
pub const DEFAULT_HTML: &str = r#"{{ template "email.default.html" . }}"#;

/// Bound on establishing the TCP connection to the smarthost (the only timeout email adds;
/// see the module docs).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
struct SmtpAuth {
    username: String,
    password: Secret,
    identity: String,
}

/// One `email_configs` entry, ready to send.
pub struct EmailIntegration {
    send_resolved: bool,
    /// `host:port` as configured, for messages.
    smarthost: String,
    host: String,
    port: u16,
    hello: String,
    from: String,
    to: String,
    /// Canonical header name → value template, sorted, with the defaults filled in.
    headers: BTreeMap<String, String>,
    html: Option<String>,
    text: Option<String>,
    require_tls: bool,
    implicit_tls: bool,
    /// Built when TLS can be used (implicit TLS or `require_tls`).
    tls: Option<TlsParameters>,
    auth: Option<SmtpAuth>,
    templates: Arc<Templates>,
    /// For `Message-Id`.
    hostname: String,
}

/// A message ready for the SMTP transaction.
#[derive(Debug, Clone)]
pub struct RenderedEmail {
    pub envelope: Envelope,
    /// The message as sent after `DATA` (CRLF line ends, ASCII).
    pub message: String,
}

impl EmailIntegration {
    /// Builds the integration from an entry whose global defaults validation filled in.
    pub fn new(cfg: &EmailConfig, ctx: &BuildContext) -> Result<Self, String> {
        let base_dir = ctx.base_dir.as_deref();
        let smarthost = cfg.smarthost.clone().filter(|s| !s.is_empty()).ok_or("no smarthost configured")?;
        let (host, port) = split_host_port(&smarthost)?;
        let from = cfg.from.clone().filter(|s| !s.is_empty()).ok_or("no from address configured")?;
        if cfg.to.is_empty() {
            return Err("missing to address".to_string());
        }

        let mut headers: BTreeMap<String, String> =
            cfg.headers.iter().map(|(k, v)| (title_case_header(k), v.clone())).collect();
        headers.entry("Subject".to_string()).or_insert_with(|| DEFAULT_SUBJECT.to_string());
        headers.entry("To".to_string()).or_insert_with(|| cfg.to.clone());
        headers.entry("From".to_string()).or_insert_with(|| from.clone());
        if let Some((name, _)) = headers.iter().find(|(k, _)| k.contains([':', '\r', '\n']) || k.is_empty()) {
            return Err(format!("invalid header name {name:?}"));
        }

        let auth = match cfg.auth_username.as_deref().filter(|u| !u.is_empty()) {
            None => None,
            Some(username) => {
                let password = Secret::from_config(
                    "auth_password",
                    cfg.auth_password.as_deref(),
                    cfg.auth_password_file.as_deref(),
                    base_dir,
                );
                let has_secret = cfg.auth_secret.as_deref().is_some_and(|s| !s.is_empty())
                    || cfg.auth_secret_file.as_deref().is_some_and(|s| !s.is_empty());
                match password {
                    Some(password) => Some(SmtpAuth {
                        username: username.to_string(),
                        password,
                        identity: cfg.auth_identity.clone().unwrap_or_default(),
                    }),
                    None if has_secret => {
                        return Err("CRAM-MD5 authentication (auth_secret) is not supported by Harrier; \
                                    configure auth_password or auth_password_file for PLAIN/LOGIN"
                            .to_string());
                    }
                    // As upstream: a username without credentials fails at send time when
                    // the server asks for authentication.
                    None => Some(SmtpAuth {
                        username: username.to_string(),
                        password: Secret::Inline(String::new()),
                        identity: cfg.auth_identity.clone().unwrap_or_default(),
                    }),
                }
            }
        };

        let require_tls = cfg.require_tls.unwrap_or(ctx.global.smtp_require_tls);
        let implicit_tls = port == 465;
        let tls = if require_tls || implicit_tls {
            let tls_config = cfg.tls_config.clone().unwrap_or_default();
            Some(tls_parameters(&tls_config, &host, base_dir)?)
        } else {
            None
        };

        let hostname = match ClientId::default() {
            ClientId::Domain(name) if !name.is_empty() => name,
            _ => "localhost.localdomain".to_string(),
        };
        Ok(EmailIntegration {
            send_resolved: cfg.send_resolved,
            smarthost,
            host,
            port,
            hello: cfg.hello.clone().filter(|h| !h.is_empty()).unwrap_or_else(|| "localhost".to_string()),
            from,
            to: cfg.to.clone(),
            headers,
            html: match &cfg.html {
                None => Some(DEFAULT_HTML.to_string()),
                Some(h) if h.is_empty() => None,
                Some(h) => Some(h.clone()),
            },
            text: cfg.text.clone().filter(|t| !t.is_empty()),
            require_tls,
            implicit_tls,
            tls,
            auth,
            templates: Arc::clone(&ctx.templates),
            hostname,
        })
    }

    /// Renders the envelope and the message for `notification` (no I/O).
    pub fn render(&self, notification: &Notification) -> Result<RenderedEmail, NotifyError> {
        let data = TemplateData::new(notification);
        let text = |what: &str, template: &str| -> Result<String, NotifyError> {
            render_text(&self.templates, template, &data)
                .map_err(|e| NotifyError::permanent(format!("execute {what} template: {e}")))
        };
        let from = text("'from'", &self.from)?;
        let to = text("'to'", &self.to)?;
        let from: Vec<_> = from
            .parse::<Mailboxes>()
            .map_err(|e| NotifyError::permanent(format!("parse 'from' addresses {from:?}: {e}")))?
            .into_iter()
            .collect();
        let [from] = from.as_slice() else {
            return Err(NotifyError::permanent(format!(
                "must be exactly one 'from' address (got: {})",
                from.len()
            )));
        };
        let to: Vec<_> = to
            .parse::<Mailboxes>()
            .map_err(|e| NotifyError::permanent(format!("parse 'to' addresses {to:?}: {e}")))?
            .into_iter()
            .map(|m| m.email)
            .collect();
        let envelope = Envelope::new(Some(from.email.clone()), to)
            .map_err(|e| NotifyError::permanent(format!("invalid envelope: {e}")))?;

        let mut message = String::new();
        for (name, template) in &self.headers {
            let value = text(&format!("{name:?} header"), template)?;
            let _ = write!(message, "{name}: {}\r\n", q_encode(&value));
        }
        let now_ms = notification.now_ms;
        if !self.headers.contains_key("Message-Id") {
            let nanos = i128::from(now_ms) * 1_000_000;
            let _ = write!(message, "Message-Id: <{nanos}.{}@{}>\r\n", random_u64(), self.hostname);
        }
        if !self.headers.contains_key("Date") {
            let _ = write!(message, "Date: {}\r\n", rfc1123z(now_ms));
        }
        let boundary = multipart_boundary();
        let _ = write!(message, "Content-Type: multipart/alternative;  boundary={boundary}\r\n");
        message.push_str("MIME-Version: 1.0\r\n\r\n");

        let mut parts = 0;
        let mut part = |message: &mut String, content_type: &str, body: &str| {
            if parts > 0 {
                message.push_str("\r\n");
            }
            parts += 1;
            let _ = write!(
                message,
                "--{boundary}\r\nContent-Transfer-Encoding: quoted-printable\r\nContent-Type: {content_type}\r\n\r\n"
            );
            message.push_str(&quoted_printable(body));
        };
        if let Some(template) = &self.text {
            let body = text("text", template)?;
            part(&mut message, "text/plain; charset=UTF-8", &body);
        }
        if let Some(template) = &self.html {
            let body = render_html(&self.templates, template, &data)
                .map_err(|e| NotifyError::permanent(format!("execute html template: {e}")))?;
            part(&mut message, "text/html; charset=UTF-8", &body);
        }
        let _ = write!(message, "\r\n--{boundary}--\r\n");
        Ok(RenderedEmail { envelope, message })
    }

    async fn send(&self, notification: &Notification) -> Result<(), NotifyError> {
        let email = self.render(notification)?;
        self.transact(&email).await
    }

    /// One SMTP session delivering `email`.
    async fn transact(&self, email: &RenderedEmail) -> Result<(), NotifyError> {
        let hello = ClientId::Domain(self.hello.clone());
        let wrapper = if self.implicit_tls { self.tls.clone() } else { None };
        let what = if self.implicit_tls {
            "establish TLS connection to server"
        } else {
            "establish connection to server"
        };
        let mut conn = AsyncSmtpConnection::connect_tokio1(
            (self.host.as_str(), self.port),
            Some(CONNECT_TIMEOUT),
            &hello,
            wrapper,
            None,
        )
        .await
        .map_err(|e| smtp_error(what, &e))?;
        self.converse(&mut conn, &hello, email).await?;
        // Delivered; a failing QUIT does not change that. After an error the connection is
        // just dropped: it may be unusable (a failed TLS upgrade leaves no stream to write on).
        let _ = conn.quit().await;
        Ok(())
    }

    async fn converse(
        &self,
        conn: &mut AsyncSmtpConnection,
        hello: &ClientId,
        email: &RenderedEmail,
    ) -> Result<(), NotifyError> {
        if self.require_tls && !self.implicit_tls {
            if !conn.server_info().supports_feature(Extension::StartTls) {
                return Err(NotifyError::retryable(format!(
                    "'require_tls' is true (default) but {:?} does not advertise the STARTTLS extension",
                    self.smarthost
                )));
            }
            let Some(tls) = self.tls.clone() else {
                return Err(NotifyError::permanent("TLS parameters missing".to_string()));
            };
            conn.starttls(tls, hello).await.map_err(|e| smtp_error("send STARTTLS command", &e))?;
        }
        if let Some(auth) = &self.auth {
            self.authenticate(conn, auth).await?;
        }
        conn.send(&email.envelope, email.message.as_bytes())
            .await
            .map_err(|e| smtp_error("deliver message", &e))?;
        Ok(())
    }

    /// Authenticates when the server offers PLAIN or LOGIN; a server that offers neither is
    /// sent the message without authentication (upstream skips authentication when `AUTH`
    /// is not advertised; `lettre` does not tell other mechanisms apart from none).
    async fn authenticate(&self, conn: &mut AsyncSmtpConnection, auth: &SmtpAuth) -> Result<(), NotifyError> {
        let info = conn.server_info();
        let Some(mechanism) = info.get_auth_mechanism(&[Mechanism::Plain, Mechanism::Login]) else {
            return Ok(());
        };
        let password = auth.password.read().await.map_err(|e| NotifyError::retryable(e.to_string()))?;
        if password.is_empty() {
            return Err(NotifyError::retryable(format!("missing password for {mechanism} auth mechanism")));
        }
        if mechanism == Mechanism::Plain && !auth.identity.is_empty() {
            // `lettre`'s PLAIN has no authorisation identity; send the initial response here.
            let token = base64(format!("{}\0{}\0{}", auth.identity, auth.username, password).as_bytes());
            conn.command(format!("AUTH PLAIN {token}\r\n"))
                .await
                .map_err(|e| smtp_error("PLAIN auth", &e))?;
            return Ok(());
        }
        let credentials = Credentials::new(auth.username.clone(), password);
        conn.auth(&[mechanism], &credentials)
            .await
            .map_err(|e| smtp_error(&format!("{mechanism} auth"), &e))?;
        Ok(())
    }
}

impl Integration for EmailIntegration {
    fn name(&self) -> &'static str {
        "email"
    }

    fn send_resolved(&self) -> bool {
        self.send_resolved
    }

    fn notify<'a>(&'a self, notification: &'a Notification) -> NotifyFuture<'a> {
        Box::pin(self.send(notification))
    }
}

/// Permanent (5xx) replies and client-side refusals are final; everything else (4xx replies,
/// connection, TLS and I/O errors, timeouts) may pass on a later attempt.
fn smtp_error(what: &str, e: &SmtpError) -> NotifyError {
    let mut message = format!("{what}: {e}");
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let _ = write!(message, ": {s}");
        source = s.source();
    }
    NotifyError { message, retryable: !(e.is_permanent() || e.is_client()), retry_after: None }
}

fn render_text(templates: &Templates, template: &str, data: &TemplateData) -> Result<String, String> {
    if template.is_empty() { Ok(String::new()) } else { templates.render(template, data) }
}

fn render_html(templates: &Templates, template: &str, data: &TemplateData) -> Result<String, String> {
    if template.is_empty() { Ok(String::new()) } else { templates.render_html(template, data) }
}

/// Splits `host:port` (`[v6]:port` too).
fn split_host_port(smarthost: &str) -> Result<(String, u16), String> {
    let (host, port) =
        smarthost.rsplit_once(':').ok_or_else(|| format!("invalid smarthost {smarthost:?}: missing port"))?;
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    let port: u16 = port.parse().map_err(|_| format!("invalid smarthost {smarthost:?}: bad port"))?;
    if host.is_empty() {
        return Err(format!("invalid smarthost {smarthost:?}: missing host"));
    }
    Ok((host.to_string(), port))
}

/// TLS settings for STARTTLS or implicit TLS, from `tls_config`, as far as `lettre` goes:
/// `ca`/`ca_file` (then trusted alone, as Go's `RootCAs`), `cert`/`key` (+`_file`),
/// `server_name` (default: the smarthost's host), `insecure_skip_verify`, `min_version`.
/// A `max_version` below TLS 1.3 cannot be expressed and is refused.
fn tls_parameters(
    tls: &TlsConfig,
    host: &str,
    base_dir: Option<&std::path::Path>,
) -> Result<TlsParameters, String> {
    let read =
        |inline: &Option<String>, file: &Option<String>, what: &str| -> Result<Option<Vec<u8>>, String> {
            if let Some(text) = inline.as_deref().filter(|t| !t.is_empty()) {
                return Ok(Some(text.as_bytes().to_vec()));
            }
            match file.as_deref().filter(|f| !f.is_empty()) {
                None => Ok(None),
                Some(f) => {
                    let path = join_dir(base_dir, f);
                    std::fs::read(&path)
                        .map(Some)
                        .map_err(|e| format!("tls_config: cannot read {what} {path:?}: {e}"))
                }
            }
        };
    let domain = tls.server_name.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| host.to_string());
    let mut builder = TlsParameters::builder(domain).dangerous_accept_invalid_certs(tls.insecure_skip_verify);
    if let Some(pem) = read(&tls.ca, &tls.ca_file, "CA file")? {
        let cert =
            Certificate::from_pem(&pem).map_err(|e| format!("tls_config: invalid CA certificate: {e}"))?;
        builder = builder.certificate_store(CertificateStore::None).add_root_certificate(cert);
    }
    match (read(&tls.cert, &tls.cert_file, "certificate")?, read(&tls.key, &tls.key_file, "key")?) {
        (Some(cert), Some(key)) => {
            let identity = Identity::from_pem(&cert, &key)
                .map_err(|e| format!("tls_config: invalid client certificate: {e}"))?;
            builder = builder.identify_with(identity);
        }
        (None, None) => {}
        _ => return Err("tls_config: client certificate and key must be given together".to_string()),
    }
    match tls.min_version.as_deref().unwrap_or("") {
        "" | "TLS10" | "TLS11" | "TLS12" => {}
        "TLS13" => builder = builder.set_min_tls_version(TlsVersion::Tlsv13),
        other => return Err(format!("tls_config: unsupported min_version {other:?}")),
    }
    match tls.max_version.as_deref().unwrap_or("") {
        "" | "TLS13" => {}
        other => return Err(format!("tls_config: max_version {other:?} is not supported for email")),
    }
    builder.build().map_err(|e| format!("tls_config: {e}"))
}

/// Header names as Alertmanager's config normalises them (`cases.Title`): the first letter
/// of each `-`-separated word upper-case, the rest lower-case (`message-ID` → `Message-Id`).
pub fn title_case_header(name: &str) -> String {
    let mut upper = true;
    name.chars()
        .map(|c| {
            let out = if upper { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() };
            upper = c == '-';
            out
        })
        .collect()
}

/// Go's `mime.QEncoding.Encode("utf-8", s)`: `s` unchanged when it is printable ASCII (tabs
/// allowed), else RFC 2047 encoded-words of at most 75 characters, split between characters.
pub fn q_encode(s: &str) -> String {
    if s.chars().all(|c| (' '..='~').contains(&c) || c == '\t') {
        return s.to_string();
    }
    const OPEN: &str = "=?utf-8?q?";
    const CLOSE: &str = "?=";
    // Go's maxContentLen: 75 - len("=?UTF-8?q?") - len("?=").
    const MAX_CONTENT: usize = 75 - 10 - 2;
    let mut out = String::from(OPEN);
    let mut current = 0;
    for c in s.chars() {
        let literal = c.is_ascii() && (' '..='~').contains(&c) && !matches!(c, '=' | '?' | '_');
        let mut buf = [0u8; 4];
        let bytes = c.encode_utf8(&mut buf).as_bytes();
        let len = if literal { 1 } else { 3 * bytes.len() };
        if current + len > MAX_CONTENT {
            out.push_str(CLOSE);
            out.push(' ');
            out.push_str(OPEN);
            current = 0;
        }
        if c == ' ' {
            out.push('_');
        } else if literal {
            out.push(c);
        } else {
            for b in bytes {
                let _ = write!(out, "={b:02X}");
            }
        }
        current += len;
    }
    out.push_str(CLOSE);
    out
}

/// Go's `mime/quotedprintable.Writer` (text mode): lines of at most 76 characters with soft
/// breaks, `\n` and `\r\n` written as CRLF, `=` and bytes outside printable ASCII encoded,
/// and a space or tab before a line end encoded.
pub fn quoted_printable(body: &str) -> String {
    const LINE_MAX: usize = 76;
    struct Writer {
        out: String,
        line: Vec<u8>,
        cr: bool,
    }
    impl Writer {
        fn flush(&mut self) {
            self.out.push_str(&String::from_utf8_lossy(&self.line));
            self.line.clear();
        }
        fn crlf(&mut self) {
            self.line.extend_from_slice(b"\r\n");
            self.flush();
        }
        fn soft_break(&mut self) {
            self.line.push(b'=');
            self.crlf();
        }
        fn encode(&mut self, b: u8) {
            if LINE_MAX - 1 - self.line.len() < 3 {
                self.soft_break();
            }
            self.line.extend_from_slice(format!("={b:02X}").as_bytes());
        }
        fn encode_trailing_space(&mut self) {
            if let Some(&b) = self.line.last()
                && (b == b' ' || b == b'\t')
            {
                self.line.pop();
                self.encode(b);
            }
        }
        fn literal(&mut self, b: u8) {
            if b == b'\n' || b == b'\r' {
                if self.cr && b == b'\n' {
                    self.cr = false;
                    return;
                }
                if b == b'\r' {
                    self.cr = true;
                }
                self.encode_trailing_space();
                self.crlf();
                return;
            }
            if self.line.len() == LINE_MAX - 1 {
                self.soft_break();
            }
            self.line.push(b);
            self.cr = false;
        }
    }
    let mut w = Writer {
        out: String::with_capacity(body.len() + body.len() / 8),
        line: Vec::with_capacity(80),
        cr: false,
    };
    for &b in body.as_bytes() {
        let plain = (b'!'..=b'~').contains(&b) && b != b'=';
        if plain || b == b' ' || b == b'\t' || b == b'\n' || b == b'\r' {
            w.literal(b);
        } else {
            w.encode(b);
        }
    }
    w.encode_trailing_space();
    w.flush();
    w.out
}

/// A pseudo-random number (std's per-instance random hasher keys); for identifiers only.
fn random_u64() -> u64 {
    std::collections::hash_map::RandomState::new().hash_one(std::time::SystemTime::now())
}

/// Like Go's `multipart.Writer`: 30 random bytes in hex.
fn multipart_boundary() -> String {
    let mut out = String::with_capacity(64);
    for _ in 0..4 {
        let _ = write!(out, "{:016x}", random_u64());
    }
    out.truncate(60);
    out
}

/// Go's `time.RFC1123Z` of unix milliseconds, in UTC.
fn rfc1123z(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%a, %d %b %Y %H:%M:%S +0000")
        .to_string()
}

/// Standard base64 with padding.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(chunk.get(1).copied().unwrap_or(0)) << 8)
            | u32::from(chunk.get(2).copied().unwrap_or(0));
        let sextet = |i: u32| char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]);
        out.push(sextet(0));
        out.push(sextet(1));
        out.push(if chunk.len() > 1 { sextet(2) } else { '=' });
        out.push(if chunk.len() > 2 { sextet(3) } else { '=' });
    }
    out
}
