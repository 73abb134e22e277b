//! `harrier local`: the agent and the router in one process, for a laptop, a single VM or a
//! first look, with no external service.
//!
//! Layout under the data directory (default `data/local`):
//!
//! - `router/`: the router's store and alert state;
//! - `agent/`: the agent's disk buffers;
//! - `rules/`: the default rule packs (the repository's `rules/*.yml`, built into the binary),
//!   written at every start;
//! - `router.yml`, `agent.yml`: the generated configs, when `--config` / `--agent-config` are
//!   not given, so what runs is visible and can be copied as a starting point.
//!
//! The generated agent config scrapes host metrics, the agent itself and the router, and
//! writes with remote_write to the router's `/api/v1/write` on loopback: the same protocol
//! agents on other nodes would use. The generated router config evaluates `rules/*.yml` on the
//! embedded store. The scrape and evaluation intervals come from the router config's `global`
//! section (Prometheus's defaults: 1 m; the generated config uses 15 s).

use anyhow::Context;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use tokio_util::sync::CancellationToken;

/// The default rule packs, built in.
const DEFAULT_RULES: &[(&str, &str)] =
    &[("node.yml", include_str!("../rules/node.yml")), ("harrier.yml", include_str!("../rules/harrier.yml"))];

/// What `harrier local` was started with.
#[derive(Debug, Clone)]
pub struct LocalOptions {
    /// The router's config (a prometheus.yml server part plus router sections).
    pub config: Option<PathBuf>,
    /// The agent's config (a prometheus.yml superset); generated when absent.
    pub agent_config: Option<PathBuf>,
    pub listen: SocketAddr,
    pub agent_listen: SocketAddr,
    pub data_dir: PathBuf,
    pub shutdown_grace: std::time::Duration,
}

/// Runs both roles until `shutdown`; if either stops with an error, the other is stopped too.
pub async fn run(options: LocalOptions, shutdown: CancellationToken) -> anyhow::Result<()> {
    let dir = &options.data_dir;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    write_default_rules(&dir.join("rules"))?;

    let router_listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .with_context(|| format!("cannot listen on {}", options.listen))?;
    let agent_listener = tokio::net::TcpListener::bind(options.agent_listen)
        .await
        .with_context(|| format!("cannot listen on {}", options.agent_listen))?;
    let router_addr = harrier_agent::run::connect_address(router_listener.local_addr()?);
    let agent_addr = harrier_agent::run::connect_address(agent_listener.local_addr()?);

    let router_config = match &options.config {
        Some(path) => path.clone(),
        None => {
            let path = dir.join("router.yml");
            write_file(&path, &generated_router_config())?;
            path
        }
    };
    // The router config's global section sets the agent's scrape interval too.
    let loaded = harrier_router::config::load_file(&router_config)?;
    let scrape_interval = loaded.config.global.scrape_interval;
    if loaded.config.web.tls_server_config.is_some() && options.agent_config.is_none() {
        anyhow::bail!(
            "{}: web.tls_server_config: the generated agent config writes to the router over plain \
             HTTP on loopback; give --agent-config with an https remote_write (and its tls_config), \
             or run `harrier router` for HTTPS",
            router_config.display()
        );
    }
    let agent_config = match &options.agent_config {
        Some(path) => path.clone(),
        None => {
            let path = dir.join("agent.yml");
            write_file(
                &path,
                &generated_agent_config(&scrape_interval.to_string(), router_addr, agent_addr),
            )?;
            path
        }
    };

    // Shutdown order: the agent first (its last batches drain into the router), then the
    // router. Either stopping on an error stops the other.
    let agent_stop = shutdown.child_token();
    let router_stop = CancellationToken::new();
    let router = {
        let options = harrier_router::run::RouterOptions {
            config_path: Some(router_config),
            listen: options.listen,
            data_dir: Some(dir.join("router")),
        };
        let (router_stop, agent_stop) = (router_stop.clone(), agent_stop.clone());
        tokio::spawn(async move {
            let result = harrier_router::run::serve(options, router_listener, router_stop).await;
            agent_stop.cancel();
            result
        })
    };
    let agent = {
        let options = harrier_agent::run::AgentOptions {
            config_path: Some(agent_config),
            listen: options.agent_listen,
            data_dir: dir.join("agent"),
            shutdown_grace: options.shutdown_grace,
        };
        let (router_stop, agent_stop) = (router_stop.clone(), agent_stop.clone());
        tokio::spawn(async move {
            let result = harrier_agent::run::serve(options, agent_listener, agent_stop).await;
            router_stop.cancel();
            result
        })
    };
    tracing::info!(router = %router_addr, agent = %agent_addr, "harrier local started");
    let (router, agent) = tokio::join!(router, agent);
    router.context("router task")?.context("router")?;
    agent.context("agent task")?.context("agent")?;
    Ok(())
}

fn write_file(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// Writes the built-in rule packs into `dir` (replacing older copies).
fn write_default_rules(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for (name, text) in DEFAULT_RULES {
        write_file(&dir.join(name), text)?;
    }
    Ok(())
}

fn generated_router_config() -> String {
    "# Generated by `harrier local` at every start; pass --config FILE to use your own.\n\
     global:\n  scrape_interval: 15s\n  evaluation_interval: 15s\n\
     rule_files:\n  - rules/*.yml\n"
        .to_string()
}

fn generated_agent_config(scrape_interval: &str, router: SocketAddr, agent: SocketAddr) -> String {
    format!(
        "# Generated by `harrier local` at every start; pass --agent-config FILE to use your own.\n\
         global:\n  scrape_interval: {scrape_interval}\n\
         host_metrics:\n  enabled: true\n\
         scrape_configs:\n\
         \x20 - job_name: harrier-agent\n    static_configs: [{{targets: ['{agent}']}}]\n\
         \x20 - job_name: harrier-router\n    static_configs: [{{targets: ['{router}']}}]\n\
         remote_write:\n  - url: http://{router}/api/v1/write\n"
    )
}
