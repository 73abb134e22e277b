//! Configuration diagnostics shared by every Harrier config (agent, router, and the ones to
//! come): a [`Diagnostic`] says where a problem is (file, line, column, field path) and what is
//! wrong, and [`locate`] finds the position of a field path in the YAML text.

use std::fmt;

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
