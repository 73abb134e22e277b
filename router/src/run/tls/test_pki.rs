//! A test PKI made with the openssl CLI in a temporary directory: a CA (`ca.crt`, `ca.key`)
//! and the certificates it signs. Shared by the TLS unit tests and the e2e test
//! (tests/e2e/main.rs includes this file by path), so both test against the same kind of
//! certificates.

use std::path::PathBuf;
use std::process::Command;

pub struct TestPki {
    dir: tempfile::TempDir,
}

impl TestPki {
    /// A new CA (EC P-256, valid 2 days) in a fresh temporary directory.
    pub fn new() -> TestPki {
        let pki = TestPki { dir: tempfile::tempdir().unwrap() };
        pki.openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "2",
            "-subj",
            "/CN=harrier-test-ca",
        ]);
        pki
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs `openssl ARGS` in the directory; panics with its stderr when it fails.
    pub fn openssl(&self, args: &[&str]) {
        let out = Command::new("openssl").args(args).current_dir(self.dir.path()).output().unwrap();
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// `NAME.key` (PKCS#8; `algorithm` is `EC` or `RSA`) and `NAME.crt` signed by the CA, for
    /// `localhost` and `127.0.0.1`, usable by a server and by a client.
    pub fn leaf(&self, name: &str, algorithm: &str) {
        let (key, csr, crt, ext) =
            (format!("{name}.key"), format!("{name}.csr"), format!("{name}.crt"), format!("{name}.ext"));
        let mut args = vec!["genpkey", "-algorithm", algorithm, "-out", &key];
        if algorithm == "EC" {
            args.extend(["-pkeyopt", "ec_paramgen_curve:prime256v1"]);
        }
        self.openssl(&args);
        self.openssl(&["req", "-new", "-key", &key, "-out", &csr, "-subj", &format!("/CN={name}")]);
        std::fs::write(
            self.path(&ext),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
             extendedKeyUsage=serverAuth,clientAuth\n",
        )
        .unwrap();
        self.openssl(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &crt,
            "-days",
            "2",
            "-extfile",
            &ext,
        ]);
    }

    /// The CA certificate, PEM.
    pub fn ca_pem(&self) -> Vec<u8> {
        std::fs::read(self.path("ca.crt")).unwrap()
    }

    /// `NAME.crt` then `NAME.key`, PEM: a client identity.
    pub fn identity_pem(&self, name: &str) -> Vec<u8> {
        let mut pem = std::fs::read(self.path(&format!("{name}.crt"))).unwrap();
        pem.extend(std::fs::read(self.path(&format!("{name}.key"))).unwrap());
        pem
    }
}
