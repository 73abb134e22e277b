use super::*;
use crate::route::config::GlobalConfig;
use harrier_telemetry::model::Labels;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

// --- encoders (no server) ---

#[test]
fn q_encoding_matches_go() {
    assert_eq!(q_encode("plain ascii\tsubject"), "plain ascii\tsubject");
    // Values from Go's mime.QEncoding.Encode("utf-8", …).
    assert_eq!(q_encode("¡Hola, señor!"), "=?utf-8?q?=C2=A1Hola,_se=C3=B1or!?=");
    assert_eq!(q_encode("a=b?c_d\n"), "=?utf-8?q?a=3Db=3Fc=5Fd=0A?=");
    // Long values are split into encoded-words of at most 75 characters, never inside a
    // character.
    let long = "é".repeat(40);
    let encoded = q_encode(&long);
    let words: Vec<&str> = encoded.split(' ').collect();
    assert_eq!(words.len(), 4);
    assert!(words.iter().all(|w| w.len() <= 75 && w.starts_with("=?utf-8?q?") && w.ends_with("?=")));
    // 63 content characters hold ten 6-character `é`s.
    assert_eq!(words[0], format!("=?utf-8?q?{}?=", "=C3=A9".repeat(10)));
}

#[test]
fn quoted_printable_matches_go() {
    // Cases from Go's mime/quotedprintable writer tests.
    assert_eq!(quoted_printable("foo bar"), "foo bar");
    assert_eq!(quoted_printable("foo bar="), "foo bar=3D");
    assert_eq!(quoted_printable("foo bar\n"), "foo bar\r\n");
    assert_eq!(quoted_printable("foo bar\r\n"), "foo bar\r\n");
    assert_eq!(quoted_printable("foo bar\r\r"), "foo bar\r\n\r\n");
    assert_eq!(quoted_printable("foo bar \n"), "foo bar=20\r\n");
    assert_eq!(quoted_printable("foo bar\t\n"), "foo bar=09\r\n");
    assert_eq!(quoted_printable("foo bar "), "foo bar=20");
    assert_eq!(quoted_printable("résumé"), "r=C3=A9sum=C3=A9");
    assert_eq!(quoted_printable("\t"), "=09");
    let long = "a".repeat(80);
    assert_eq!(quoted_printable(&long), format!("{}=\r\n{}", "a".repeat(75), "a".repeat(5)));
    // An encoded byte that would cross the limit starts a new line.
    let edge = format!("{}é", "a".repeat(73));
    assert_eq!(quoted_printable(&edge), format!("{}=\r\n=C3=A9", "a".repeat(73)));
}

#[test]
fn helpers() {
    assert_eq!(title_case_header("message-ID"), "Message-Id");
    assert_eq!(title_case_header("x-my-HEADER"), "X-My-Header");
    assert_eq!(split_host_port("smtp.example.org:587").unwrap(), ("smtp.example.org".to_string(), 587));
    assert_eq!(split_host_port("[::1]:25").unwrap(), ("::1".to_string(), 25));
    assert!(split_host_port("nohost").is_err());
    assert!(split_host_port(":25").is_err());
    assert_eq!(rfc1123z(ms("2024-01-02T03:04:05Z")), "Tue, 02 Jan 2024 03:04:05 +0000");
    assert_eq!(base64(b""), "");
    assert_eq!(base64(b"f"), "Zg==");
    assert_eq!(base64(b"fo"), "Zm8=");
    assert_eq!(base64(b"foo"), "Zm9v");
    assert_eq!(base64(b"\0user\0pass"), "AHVzZXIAcGFzcw==");
    let b = multipart_boundary();
    assert_eq!(b.len(), 60);
    assert_ne!(b, multipart_boundary());
}

fn ms(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339).unwrap().timestamp_millis()
}

fn context() -> BuildContext {
    BuildContext {
        templates: Arc::new(Templates::load(&[], None).unwrap()),
        global: GlobalConfig::default(),
        base_dir: None,
    }
}

fn config(smarthost: &str) -> EmailConfig {
    EmailConfig {
        to: "ops@example.org, Second Person <two@example.org>".to_string(),
        from: Some("Alertmanager <am@example.org>".to_string()),
        hello: Some("harrier.test".to_string()),
        smarthost: Some(smarthost.to_string()),
        require_tls: Some(false),
        ..Default::default()
    }
}

#[test]
fn build_errors() {
    let ctx = context();
    let mut cram = config("127.0.0.1:25");
    cram.auth_username = Some("u".into());
    cram.auth_secret = Some("s".into());
    assert!(EmailIntegration::new(&cram, &ctx).err().unwrap().contains("CRAM-MD5"));
    // With a password as well, PLAIN/LOGIN are used.
    cram.auth_password = Some("p".into());
    assert!(EmailIntegration::new(&cram, &ctx).is_ok());
    let mut tls = config("127.0.0.1:25");
    tls.require_tls = Some(true);
    tls.tls_config = Some(TlsConfig { ca_file: Some("/nonexistent/ca.pem".into()), ..Default::default() });
    assert!(EmailIntegration::new(&tls, &ctx).err().unwrap().contains("/nonexistent/ca.pem"));
    tls.tls_config = Some(TlsConfig { max_version: Some("TLS12".into()), ..Default::default() });
    assert!(EmailIntegration::new(&tls, &ctx).err().unwrap().contains("max_version"));
    // Without TLS in use, TLS settings are not looked at (as upstream).
    tls.require_tls = Some(false);
    assert!(EmailIntegration::new(&tls, &ctx).is_ok());
    assert!(EmailIntegration::new(&config("nohost"), &ctx).is_err());
}

fn notification() -> Notification {
    let alert = crate::notify::alert::Alert {
        labels: Labels::from_pairs([("alertname", "DiskFull"), ("instance", "db1")]),
        annotations: Labels::from_pairs([("summary", "Disk is full")]),
        starts_at_ms: ms("2024-01-02T03:00:00Z"),
        ends_at_ms: 0,
        generator_url: "http://prom.example/graph".to_string(),
        updated_at_ms: ms("2024-01-02T03:00:00Z"),
        timeout: false,
    };
    Notification {
        receiver: "ops".to_string(),
        group_key: r#"{}:{alertname="DiskFull"}"#.to_string(),
        group_labels: Labels::from_pairs([("alertname", "DiskFull")]),
        alerts: vec![std::sync::Arc::new(alert)],
        now_ms: ms("2024-01-02T03:04:05Z"),
        external_url: "http://harrier.example:9093".to_string(),
    }
}

#[test]
fn renders_alertmanager_layout() {
    let mut cfg = config("127.0.0.1:25");
    cfg.headers.insert("subject".into(), "[{{ .Status }}] {{ .GroupLabels.alertname }} überfüllt".into());
    cfg.text = Some("{{ .CommonAnnotations.summary }} ".into());
    cfg.html = Some(String::new());
    let email = EmailIntegration::new(&cfg, &context()).unwrap().render(&notification()).unwrap();
    let (head, body) = email.message.split_once("\r\n\r\n").unwrap();
    let lines: Vec<&str> = head.split("\r\n").collect();
    assert_eq!(lines[0], "From: Alertmanager <am@example.org>");
    assert_eq!(lines[1], "Subject: =?utf-8?q?[firing]_DiskFull_=C3=BCberf=C3=BCllt?=");
    assert_eq!(lines[2], "To: ops@example.org, Second Person <two@example.org>");
    assert!(lines[3].starts_with("Message-Id: <1704164645000000000."), "{}", lines[3]);
    assert!(lines[3].ends_with(&format!("@{}>", EmailIntegration::new(&cfg, &context()).unwrap().hostname)));
    assert_eq!(lines[4], "Date: Tue, 02 Jan 2024 03:04:05 +0000");
    let boundary = lines[5].strip_prefix("Content-Type: multipart/alternative;  boundary=").unwrap();
    assert_eq!(lines[6], "MIME-Version: 1.0");
    assert_eq!(lines.len(), 7);
    assert_eq!(
        body,
        format!(
            "--{boundary}\r\nContent-Transfer-Encoding: quoted-printable\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\nDisk is full=20\r\n--{boundary}--\r\n"
        )
    );
    assert_eq!(email.envelope.from().unwrap().to_string(), "am@example.org");
    let to: Vec<String> = email.envelope.to().iter().map(|a| a.to_string()).collect();
    assert_eq!(to, ["ops@example.org", "two@example.org"]);
}

#[test]
fn render_errors_are_not_retryable() {
    let mut cfg = config("127.0.0.1:25");
    cfg.from = Some("a@example.org, b@example.org".into());
    let err = EmailIntegration::new(&cfg, &context()).unwrap().render(&notification()).unwrap_err();
    assert!(!err.retryable);
    assert!(err.message.contains("exactly one 'from' address"), "{}", err.message);
    let mut cfg = config("127.0.0.1:25");
    cfg.headers.insert("X-Bad".into(), "{{ .Nope ".into());
    let err = EmailIntegration::new(&cfg, &context()).unwrap().render(&notification()).unwrap_err();
    assert!(!err.retryable);
    assert!(err.message.contains("X-Bad"), "{}", err.message);
}

// --- against a real SMTP server (aiosmtpd) ---

/// The aiosmtpd handler: writes each accepted message, parsed by Python's `email` package, as
/// JSON to the output directory; `reject` answers DATA with 550, `defer` with 451.
const SINK_HANDLER: &str = r#"
import email, email.policy, json, os

class Sink:
    def __init__(self, outdir, mode):
        self.outdir, self.mode, self.count = outdir, mode, 0

    @classmethod
    def from_cli(cls, parser, *args):
        return cls(*args)

    async def handle_DATA(self, server, session, envelope):
        if self.mode == "reject":
            return "550 5.7.1 rejected by test server"
        if self.mode == "defer":
            return "451 4.3.0 try again later"
        self.count += 1
        raw = envelope.original_content or envelope.content
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        parts = [
            {"content_type": p.get_content_type(), "charset": p.get_content_charset(),
             "encoding": p["Content-Transfer-Encoding"], "body": p.get_content()}
            for p in (msg.iter_parts() if msg.is_multipart() else [])
        ]
        record = {
            "mail_from": envelope.mail_from, "rcpt_tos": envelope.rcpt_tos,
            "helo": session.host_name, "tls": session.ssl is not None,
            "raw": raw.decode("ascii"), "content_type": msg.get_content_type(),
            "headers": [[k, str(v)] for k, v in msg.items()], "parts": parts,
        }
        tmp = os.path.join(self.outdir, "msg%d.tmp" % self.count)
        with open(tmp, "w") as f:
            json.dump(record, f)
        os.rename(tmp, os.path.join(self.outdir, "msg%d.json" % self.count))
        return "250 2.0.0 OK"
"#;

fn ensure_aiosmtpd() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let have =
            Command::new("python3").args(["-c", "import aiosmtpd"]).status().is_ok_and(|s| s.success());
        if !have {
            let status = Command::new("python3")
                .args(["-m", "pip", "install", "--quiet", "aiosmtpd"])
                .status()
                .unwrap();
            assert!(status.success(), "installing aiosmtpd failed");
        }
    });
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// An aiosmtpd process on a free loopback port, killed on drop.
struct SmtpServer {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl SmtpServer {
    fn start(mode: &str, extra: &[&str]) -> SmtpServer {
        ensure_aiosmtpd();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("smtp_sink.py"), SINK_HANDLER).unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        let port = free_port();
        let child = Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
            .args(extra)
            .args(["-c", "smtp_sink.Sink", out.to_str().unwrap(), mode])
            .env("PYTHONPATH", dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let server = SmtpServer { child, port, dir };
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(std::time::Instant::now() < deadline, "aiosmtpd did not start on port {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    fn smarthost(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The `n`th received message (1-based), waiting for it.
    async fn message(&self, n: usize) -> serde_json::Value {
        let path = self.dir.path().join("out").join(format!("msg{n}.json"));
        for _ in 0..200 {
            if let Ok(text) = std::fs::read_to_string(&path) {
                return serde_json::from_str(&text).unwrap();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no message {n} received");
    }

    fn received(&self) -> usize {
        std::fs::read_dir(self.dir.path().join("out"))
            .unwrap()
            .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "json"))
            .count()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn header<'a>(message: &'a serde_json::Value, name: &str) -> Vec<&'a str> {
    message["headers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h[0].as_str().unwrap().eq_ignore_ascii_case(name))
        .map(|h| h[1].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn delivers_multipart_message() {
    let server = SmtpServer::start("accept", &[]);
    let mut cfg = config(&server.smarthost());
    cfg.headers.insert("subject".into(), "[{{ .Status }}] {{ .GroupLabels.alertname }} überfüllt".into());
    cfg.headers.insert("X-Group".into(), "{{ .GroupLabels.alertname }}".into());
    cfg.text =
        Some("Summary: {{ .CommonAnnotations.summary }}\nsecond line with trailing space \nend".into());
    let integration = EmailIntegration::new(&cfg, &context()).unwrap();
    assert_eq!(integration.name(), "email");
    assert!(!integration.send_resolved());
    integration.notify(&notification()).await.unwrap();

    let m = server.message(1).await;
    assert_eq!(m["mail_from"], "am@example.org");
    assert_eq!(m["rcpt_tos"], serde_json::json!(["ops@example.org", "two@example.org"]));
    assert_eq!(m["helo"], "harrier.test");
    assert_eq!(m["tls"], false);
    assert_eq!(header(&m, "Subject"), ["[firing] DiskFull überfüllt"]);
    assert_eq!(header(&m, "To"), ["ops@example.org, Second Person <two@example.org>"]);
    assert_eq!(header(&m, "From"), ["Alertmanager <am@example.org>"]);
    assert_eq!(header(&m, "X-Group"), ["DiskFull"]);
    assert_eq!(header(&m, "Date"), ["Tue, 02 Jan 2024 03:04:05 +0000"]);
    assert_eq!(header(&m, "MIME-Version"), ["1.0"]);
    let message_id = header(&m, "Message-Id");
    assert_eq!(message_id.len(), 1);
    assert!(
        message_id[0].starts_with("<1704164645000000000.") && message_id[0].ends_with('>'),
        "{message_id:?}"
    );
    assert_eq!(m["content_type"], "multipart/alternative");

    let parts = m["parts"].as_array().unwrap();
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[0]["content_type"], "text/plain");
    assert_eq!(parts[0]["charset"], "utf-8");
    assert_eq!(parts[0]["encoding"], "quoted-printable");
    // Line ends travel as CRLF; the trailing space survives (encoded as `=20`).
    assert_eq!(parts[0]["body"], "Summary: Disk is full\r\nsecond line with trailing space \r\nend");
    assert!(m["raw"].as_str().unwrap().contains("trailing space=20\r\n"));
    // The HTML part comes last (preferred alternative) and is Alertmanager's default template.
    assert_eq!(parts[1]["content_type"], "text/html");
    assert_eq!(parts[1]["encoding"], "quoted-printable");
    let html = parts[1]["body"].as_str().unwrap();
    assert!(html.contains("DiskFull"), "{html}");
    assert!(html.contains("http://harrier.example:9093"), "{html}");
    assert!(html.contains("<html"), "{html}");
    // Every line on the wire is within the RFC 5322 limit.
    assert!(m["raw"].as_str().unwrap().lines().all(|l| l.len() <= 998));
}

#[tokio::test]
async fn smtp_replies_decide_retrying() {
    let rejecting = SmtpServer::start("reject", &[]);
    let integration = EmailIntegration::new(&config(&rejecting.smarthost()), &context()).unwrap();
    let err = integration.notify(&notification()).await.unwrap_err();
    assert!(!err.retryable, "{err:?}");
    assert!(err.message.contains("550"), "{}", err.message);

    let deferring = SmtpServer::start("defer", &[]);
    let integration = EmailIntegration::new(&config(&deferring.smarthost()), &context()).unwrap();
    let err = integration.notify(&notification()).await.unwrap_err();
    assert!(err.retryable, "{err:?}");
    assert!(err.message.contains("451"), "{}", err.message);
    assert_eq!(rejecting.received() + deferring.received(), 0);
}

#[tokio::test]
async fn connection_refused_is_retryable() {
    let integration =
        EmailIntegration::new(&config(&format!("127.0.0.1:{}", free_port())), &context()).unwrap();
    let err = integration.notify(&notification()).await.unwrap_err();
    assert!(err.retryable, "{err:?}");
    assert!(err.message.contains("establish connection"), "{}", err.message);
}

#[tokio::test]
async fn require_tls_needs_starttls() {
    let server = SmtpServer::start("accept", &[]);
    let mut cfg = config(&server.smarthost());
    cfg.require_tls = None; // the global default: true
    let integration = EmailIntegration::new(&cfg, &context()).unwrap();
    let err = integration.notify(&notification()).await.unwrap_err();
    assert!(err.retryable);
    assert!(err.message.contains("does not advertise the STARTTLS extension"), "{}", err.message);
    assert_eq!(server.received(), 0);
}

/// A CA and a server certificate for `localhost`/127.0.0.1 signed by it (openssl CLI).
fn make_certificates(dir: &Path) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl is needed");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    run(&[
        &["req", "-x509"][..],
        &ec,
        &["-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=harrier test CA"],
    ]
    .concat());
    run(&[&["req"][..], &ec, &["-keyout", "key.pem", "-out", "req.csr", "-subj", "/CN=localhost"]].concat());
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "req.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "cert.pem",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
}

#[tokio::test]
async fn starttls_with_ca_file() {
    let certs = tempfile::tempdir().unwrap();
    make_certificates(certs.path());
    let cert = certs.path().join("cert.pem");
    let key = certs.path().join("key.pem");
    let server = SmtpServer::start(
        "accept",
        &["--tlscert", cert.to_str().unwrap(), "--tlskey", key.to_str().unwrap()],
    );
    let mut cfg = config(&server.smarthost());
    cfg.require_tls = Some(true);
    // Relative to the config's directory.
    cfg.tls_config = Some(TlsConfig { ca_file: Some("ca.pem".into()), ..Default::default() });
    let ctx = BuildContext { base_dir: Some(certs.path().to_path_buf()), ..context() };
    EmailIntegration::new(&cfg, &ctx).unwrap().notify(&notification()).await.unwrap();
    let m = server.message(1).await;
    assert_eq!(m["tls"], true);

    // The wrong name for the certificate: a TLS failure, retryable.
    cfg.tls_config = Some(TlsConfig {
        ca_file: Some("ca.pem".into()),
        server_name: Some("other.example".into()),
        ..Default::default()
    });
    let err = EmailIntegration::new(&cfg, &ctx).unwrap().notify(&notification()).await.unwrap_err();
    assert!(err.retryable);
    assert!(err.message.contains("STARTTLS"), "{}", err.message);
    // Without the CA the certificate is not trusted, unless verification is off.
    cfg.tls_config = Some(TlsConfig { insecure_skip_verify: true, ..Default::default() });
    EmailIntegration::new(&cfg, &ctx).unwrap().notify(&notification()).await.unwrap();
    assert_eq!(server.received(), 2);
}
