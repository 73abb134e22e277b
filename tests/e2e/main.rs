//! End-to-end tests against real peers. Each test starts what it needs on free loopback
//! ports: Debian's Prometheus (remote-write receiver and query API), Debian's node_exporter,
//! and the `harrier` binary built from this workspace. `scripts/test.sh` installs the peers.

mod agent_logs;
mod agent_metrics;
mod loki_receiver;
mod notifications;
mod router_query;
mod router_rules;
mod router_tls;
mod routes_parity;
mod support;
mod target;
#[path = "../../router/src/run/tls/test_pki.rs"]
mod test_pki;
