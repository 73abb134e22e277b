//! Which files a `files:` entry tails: its include globs expanded, minus its exclude globs;
//! and the directory scans used to find a file again after a rename or a copytruncate.

use glob::{MatchOptions, Pattern, PatternError};
use std::io;
use std::path::{Path, PathBuf};

/// A `*` never crosses a `/` (the same as expanding the glob one directory at a time);
/// hidden files match like others.
const MATCH_OPTIONS: MatchOptions = MatchOptions {
    case_sensitive: true,
    require_literal_separator: true,
    require_literal_leading_dot: false,
};

/// Suffixes of compressed rotated files: never read as a copy or a sibling.
const COMPRESSED_SUFFIXES: [&str; 6] = [".gz", ".zst", ".xz", ".bz2", ".lz4", ".zip"];

/// A `files:` entry's include and exclude globs, compiled.
#[derive(Debug, Clone)]
pub(crate) struct SourceGlobs {
    include: Vec<Pattern>,
    exclude: Vec<Pattern>,
}

impl SourceGlobs {
    /// Compiles the patterns; the error names the pattern that failed.
    pub fn compile(include: &[String], exclude: &[String]) -> Result<SourceGlobs, (String, PatternError)> {
        let compile = |patterns: &[String]| {
            patterns
                .iter()
                .map(|pattern| Pattern::new(pattern).map_err(|error| (pattern.clone(), error)))
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(SourceGlobs { include: compile(include)?, exclude: compile(exclude)? })
    }

    /// The files the globs match now (not yet checked to be regular files), in glob order.
    /// Unreadable directories are skipped.
    pub fn expand(&self) -> Vec<PathBuf> {
        let mut paths = Vec::new();
        for pattern in &self.include {
            let Ok(entries) = glob::glob_with(pattern.as_str(), MATCH_OPTIONS) else { continue };
            for entry in entries {
                match entry {
                    Ok(path) if !self.excluded(&path) => paths.push(path),
                    Ok(_) => {}
                    Err(error) => tracing::debug!(%error, "log discovery: skipping an unreadable path"),
                }
            }
        }
        paths
    }

    /// Whether `path` is one of this entry's files.
    pub fn matches(&self, path: &Path) -> bool {
        self.include.iter().any(|pattern| pattern.matches_path_with(path, MATCH_OPTIONS))
            && !self.excluded(path)
    }

    fn excluded(&self, path: &Path) -> bool {
        self.exclude.iter().any(|pattern| pattern.matches_path_with(path, MATCH_OPTIONS))
    }
}

/// The other entries of `path`'s directory whose name starts with `path`'s name (`0.log` ->
/// `0.log.20240101-120000`, `app.log` -> `app.log.1`), compressed ones left out.
pub(crate) fn rotated_siblings(path: &Path) -> io::Result<Vec<PathBuf>> {
    let Some(name) = path.file_name() else { return Ok(Vec::new()) };
    let name = name.as_encoded_bytes();
    Ok(siblings(path)?
        .into_iter()
        .filter(|sibling| {
            sibling.file_name().is_some_and(|other| {
                other.as_encoded_bytes().starts_with(name) && other.as_encoded_bytes() != name
            })
        })
        .collect())
}

/// Every other entry of `path`'s directory, compressed ones left out.
pub(crate) fn siblings(path: &Path) -> io::Result<Vec<PathBuf>> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let sibling = entry.path();
        if sibling == path {
            continue;
        }
        let compressed = sibling
            .file_name()
            .and_then(|name| name.to_str())
            .is_some_and(|name| COMPRESSED_SUFFIXES.iter().any(|suffix| name.ends_with(suffix)));
        if !compressed {
            out.push(sibling);
        }
    }
    out.sort();
    Ok(out)
}
