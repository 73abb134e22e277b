//! Alertmanager's configuration, read verbatim: users bring their `alertmanager.yml` and
//! Harrier's router routes, groups, inhibits and notifies from it.
//!
//! - [`config`]: the model of `alertmanager.yml` (global, templates, route tree,
//!   inhibit_rules, time intervals, receivers), its loader and Alertmanager's validation.
//! - [`matchers`]: Alertmanager's label matcher syntax (UTF-8 and classic forms).
//! - [`tree`]: the routing tree with inherited options, matching and route keys.
//! - [`routing_test`]: `harrier routes test`, amtool's `config routes test` (same output).
//!
//! Only the pagerduty, slack, email and webhook notifiers are implemented; receivers of other
//! types are rejected by name when the file is checked.

pub mod config;
pub mod matchers;
pub mod routing_test;
pub mod time_intervals;
pub mod tree;

#[cfg(test)]
mod tests;

pub use config::{AlertmanagerConfig, ConfigError, load_file, load_str, looks_like_alertmanager_config};
pub use tree::{RouteId, RouteNode, RouteOpts, RouteTree};
