//! Harrier's end-to-end benchmark harness: the pieces that stand around an agent under test.
//!
//! - [`targets`]: generated scrape targets. Each target owns a fixed set of realistic series
//!   (counters, gauges, classic histograms; 3-6 labels each) and re-renders its Prometheus text
//!   exposition once a second, so serving a scrape is a cheap clone of pre-rendered bytes.
//! - [`receiver`]: a remote_write endpoint that decodes every request and only counts what it
//!   got (requests, series, samples, bytes, delivery delay), writing totals to a JSON file.
//! - [`process`]: start Prometheus or `harrier router` as a peer on a free port, wait until it is
//!   ready, remote_write to it, and read its CPU time and peak RSS from `/proc`.
//! - [`rule_bench`]: the generated rule file and series of `bench-rules`.
//! - [`output`]: small helpers shared by both binaries (atomic file writes).
//!
//! The binaries `bench-targets` and `bench-receiver` wrap these; `bench/agent-e2e.sh` runs
//! Prometheus (agent mode) and Harrier side by side against them and compares CPU and memory.
//! `bench-router-query` and `bench-rules` run Prometheus (server mode) and `harrier router` side
//! by side as [`process::Peer`]s: query latency and ingest, and rule evaluation.

pub mod log_bench;
pub mod output;
pub mod process;
pub mod receiver;
pub mod rule_bench;
pub mod targets;
