//! Secrets of receiver configs, given inline or through a `*_file` setting: the webhook's
//! `url`/`url_file`, PagerDuty's `routing_key(_file)` and `service_key(_file)`, Slack's
//! `api_url(_file)` and `app_token(_file)`, email's `auth_password(_file)`.
//!
//! As in Alertmanager, an inline value wins when it is set and not empty; a file is read at
//! every send and trimmed of surrounding whitespace, so a rotated secret is used without a
//! reload. Relative paths are resolved against the config's directory when the integration
//! is built. Whether a file that cannot be read is worth retrying is the integration's call
//! (email retries, as upstream; the HTTP integrations do not).

use std::path::{Path, PathBuf};

use harrier_telemetry::http_client::join_dir;

/// A secret inline or in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Secret {
    Inline(String),
    /// Read at every send, trimmed.
    File {
        /// The setting the file stands for (`url` for `url_file`), for error messages.
        setting: &'static str,
        path: PathBuf,
    },
}

/// A `*_file` secret that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("read {setting} file {} ({setting}_file): {source}", path.display())]
pub(crate) struct SecretReadError {
    setting: &'static str,
    path: PathBuf,
    source: std::io::Error,
}

impl Secret {
    /// `setting`'s secret: the inline value when set and not empty, else the file (relative
    /// to `base_dir`); `None` when neither is configured.
    pub(crate) fn from_config(
        setting: &'static str,
        inline: Option<&str>,
        file: Option<&str>,
        base_dir: Option<&Path>,
    ) -> Option<Secret> {
        if let Some(value) = inline.filter(|v| !v.is_empty()) {
            return Some(Secret::Inline(value.to_string()));
        }
        file.filter(|f| !f.is_empty()).map(|f| Secret::File { setting, path: join_dir(base_dir, f).into() })
    }

    /// The secret's value: the inline text, or the file's content trimmed.
    pub(crate) async fn read(&self) -> Result<String, SecretReadError> {
        match self {
            Secret::Inline(value) => Ok(value.clone()),
            Secret::File { setting, path } => match tokio::fs::read_to_string(path).await {
                Ok(text) => Ok(text.trim().to_string()),
                Err(source) => Err(SecretReadError { setting, path: path.clone(), source }),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn inline_wins_and_files_are_read_at_every_call() {
        let dir = tempfile::tempdir().unwrap();
        let inline = Secret::from_config("url", Some("http://x"), Some("f"), Some(dir.path())).unwrap();
        assert_eq!(inline, Secret::Inline("http://x".into()));
        assert_eq!(inline.read().await.unwrap(), "http://x");
        assert_eq!(Secret::from_config("url", Some(""), Some(""), None), None);
        assert_eq!(Secret::from_config("url", None, None, None), None);

        let file = Secret::from_config("api_url", Some(""), Some("f"), Some(dir.path())).unwrap();
        let err = file.read().await.unwrap_err().to_string();
        assert!(err.starts_with("read api_url file "), "{err}");
        assert!(err.contains("(api_url_file): "), "{err}");
        std::fs::write(dir.path().join("f"), "  one\n").unwrap();
        assert_eq!(file.read().await.unwrap(), "one");
        std::fs::write(dir.path().join("f"), "two").unwrap();
        assert_eq!(file.read().await.unwrap(), "two");
    }
}
