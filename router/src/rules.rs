//! Prometheus rule files and their evaluation.
//!
//! - [`file`]: rule files exactly as Prometheus reads them (`groups:` of recording and alerting
//!   rules), loaded with yaml_serde through serde_path_to_error so that every error names the
//!   file, line, column and field path; and `rule_files` glob resolution.
//! - [`check`]: Prometheus's `rulefmt` validation and promtool's `check rules` (with its
//!   duplicate-rules lint), with promtool's messages and output.
//! - [`eval`]: the interfaces evaluation needs (querier, appender) and its errors.
//! - [`recording`], [`alerting`]: the two rule kinds; [`alerting`] holds the alert state
//!   machine (pending, firing, keep_firing_for, resolved retention, resends).
//! - [`group`]: groups, evaluated in order with staleness markers.
//! - [`state`]: alert state on disk, restored after a restart.
//! - [`manager`]: loading, scheduling, reload and the notification hand-off in the router.

pub mod alerting;
pub mod check;
pub mod eval;
pub mod file;
pub mod group;
pub mod manager;
pub mod recording;
pub mod state;
pub mod unittest;

pub use check::{CheckOptions, FileReport, Lint, NameValidation, check_file};
pub use file::{
    LoadedRuleFile, Rule, RuleFile, RuleGroup, RulesError, load_file, load_str, resolve_rule_files,
};

#[cfg(test)]
mod tests;
