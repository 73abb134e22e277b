//! Harrier router: PromQL evaluation, the embedded store, rule evaluation, alert routing,
//! notifications and synthetic probes.
//!
//! The data plane:
//!
//! - [`store`]: the embedded time-series store (compressed in-memory head, inverted label
//!   index, write-ahead log, retention) and the [`store::Queryable`] read interface the
//!   PromQL engine evaluates on.
//! - [`promql`]: the PromQL evaluator, over the AST of the `promql-parser` crate, with
//!   Prometheus 3.x semantics.
//! - [`promqltest`]: a runner for Prometheus's promqltest script language, used to measure the
//!   engine against upstream's own test data.
//!
//! Serving:
//!
//! - [`api`]: Prometheus's HTTP query API, the remote_write receiver, and the lifecycle
//!   endpoints (`/metrics`, `/-/healthy`, `/-/ready`, `/-/reload`).
//! - [`datasource`]: what rules evaluate against: the embedded engine or a remote
//!   Prometheus-compatible query API, behind one [`datasource::Datasource`] interface.
//! - [`config`]: the router's configuration file.
//! - [`alerts`]: sending alerts to external Alertmanagers (API v2), as Prometheus's notifier does.
//! - [`rules`]: Prometheus rule files (data model, loader, `harrier rules check`).
//! - [`template`]: Go `text/template` with Prometheus's template functions (alert labels and
//!   annotations; Alertmanager notification templates later).
//! - [`route`]: Alertmanager's `alertmanager.yml` (model, loader, validation, matchers), for
//!   alert routing and `harrier check`.
//! - [`run`]: the `harrier router` lifecycle (store, API, retention, reload, shutdown).

pub mod alerts;
pub mod api;
pub mod config;
pub mod datasource;
pub mod histogram;
pub mod notify;
pub mod promql;
pub mod promqltest;
pub mod route;
pub mod rules;
pub mod run;
pub mod state_file;
pub mod store;
mod sync;
pub mod template;
