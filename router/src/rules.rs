//! Prometheus rule files: the data model, the loader and `harrier rules check`.
//!
//! - [`file`]: rule files exactly as Prometheus reads them (`groups:` of recording and alerting
//!   rules), loaded with yaml_serde through serde_path_to_error so that every error names the
//!   file, line, column and field path; and `rule_files` glob resolution.
//! - [`check`]: Prometheus's `rulefmt` validation and promtool's `check rules` (with its
//!   duplicate-rules lint), with promtool's messages and output.
//!
//! Evaluation, alert state and `rules test` come later (issue 4) and build on [`file::RuleFile`].

pub mod check;
pub mod file;

pub use check::{CheckOptions, FileReport, Lint, NameValidation, check_file};
pub use file::{
    LoadedRuleFile, Rule, RuleFile, RuleGroup, RulesError, load_file, load_str, resolve_rule_files,
};

#[cfg(test)]
mod tests;
