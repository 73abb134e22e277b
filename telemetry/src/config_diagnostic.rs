//! Configuration diagnostics shared by every Harrier config (agent, router, and the ones to
//! come): a [`Diagnostic`] says where a problem is (file, line, column, field path) and what is
//! wrong, and [`locate`] finds the position of a field path in the YAML text.
//! [`ConfigError`], [`read_config`] and [`deserialize_yaml`] are the loading steps they share.

use std::fmt;
use std::path::{Path, PathBuf};

pub mod locate;

pub use locate::{FieldPath, Position, Segment};

/// A problem in a configuration file: where it is and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file (or the origin given to [`load_str`]).
    pub origin: String,
    pub position: Option<Position>,
    /// The field path, e.g. `scrape_configs[0].scrape_interval` (empty for the whole file).
    pub field: FieldPath,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    /// `origin:line:column: field.path: message`, leaving out what is unknown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.origin)?;
        if let Some(p) = self.position {
            write!(f, ":{}:{}", p.line, p.column)?;
        }
        if !self.field.is_root() {
            write!(f, ": {}", self.field)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Why a configuration file could not be loaded: every Harrier config (agent, router,
/// alertmanager.yml) fails in one of these two ways.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{0}")]
    Invalid(Box<Diagnostic>),
}

impl ConfigError {
    /// The diagnostic of an invalid configuration (`None` for an unreadable file).
    pub fn diagnostic(&self) -> Option<&Diagnostic> {
        match self {
            ConfigError::Invalid(d) => Some(d),
            ConfigError::Read { .. } => None,
        }
    }
}

/// Reads a configuration file's text.
pub fn read_config(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })
}

/// Deserializes YAML `text` into `T` through serde_path_to_error, so an error names the field
/// path and position ([`yaml_diagnostic`]). An empty document gives `T::default()`.
pub fn deserialize_yaml<T: serde::de::DeserializeOwned + Default>(
    text: &str,
    origin: &str,
) -> Result<T, ConfigError> {
    let invalid = |path: &locate::FieldPath, e: &yaml_serde::Error| {
        ConfigError::Invalid(Box::new(yaml_diagnostic(text, origin, path, e)))
    };
    let raw: yaml_serde::Value = yaml_serde::from_str(text).map_err(|e| invalid(&FieldPath::root(), &e))?;
    if raw.is_null() {
        return Ok(T::default());
    }
    serde_path_to_error::deserialize(yaml_serde::Deserializer::from_str(text))
        .map_err(|e| invalid(&FieldPath::from_serde(e.path()), e.inner()))
}

/// A yaml_serde error as a diagnostic: the position of the field's key when it is known
/// (errors raised after reading a value point at the enclosing mapping), the field path, and
/// the message without yaml_serde's own path prefix and position suffix.
pub fn yaml_diagnostic(text: &str, origin: &str, path: &FieldPath, err: &yaml_serde::Error) -> Diagnostic {
    let mut position = err.location().map(|l| Position { line: l.line(), column: l.column() });
    if let Some(key) = locate::locate_exact(text, path)
        && position.is_none_or(|p| (p.line, p.column) < (key.line, key.column))
    {
        position = Some(key);
    }
    let message = bare_message(&err.to_string());
    let mut field = path.clone();
    // serde_path_to_error steps into an unknown key: report the mapping that does not allow it.
    if let Some(rest) = message.strip_prefix("unknown field `")
        && let Some((name, _)) = rest.split_once('`')
        && field.0.last() == Some(&locate::Segment::Key(name.to_string()))
    {
        field.0.pop();
    }
    Diagnostic { origin: origin.to_string(), position, field, message }
}

/// yaml_serde's message without its field-path prefix and position suffix.
fn bare_message(display: &str) -> String {
    let mut text = display.to_string();
    if let Some(at) = text.find(" at line ") {
        let rest = &text[at + " at line ".len()..];
        if rest.split(" column ").count() == 2
            && rest.chars().all(|c| c.is_ascii_digit() || c == ' ' || c.is_ascii_lowercase())
        {
            text.truncate(at);
        }
    }
    if let Some((head, tail)) = text.split_once(": ")
        && !head.is_empty()
        && head.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '[' | ']' | '?'))
    {
        text = tail.to_string();
    }
    text
}
