//! The `harrier` binary: command-line parsing and dispatch only. Every role lives in its own
//! crate (`harrier-agent`, `harrier-router`); this file turns flags into their options.

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;

mod allocator;
mod local;

/// Harrier: the observability plane for EKS.
///
/// One binary in two roles. The agent runs on every node (a DaemonSet): it scrapes
/// Prometheus targets and host metrics and ships them with remote_write, buffering on disk so
/// a backend outage or a crash loses nothing, and tails container logs into Loki, committing
/// file offsets only after delivery. The router stores what agents send, answers
/// Prometheus's query API, evaluates rule files and routes alerts as Alertmanager does.
/// Configuration files are Prometheus's and Alertmanager's own: bring your prometheus.yml,
/// rule files and alertmanager.yml unchanged.
#[derive(Parser, Debug)]
#[command(name = "harrier", version, about, long_about, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    log: LogArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Debug)]
struct LogArgs {
    /// Log level or filter (tracing's EnvFilter syntax, e.g. "info" or "harrier_agent=debug").
    #[arg(long, global = true, env = "HARRIER_LOG", default_value = "info")]
    log_level: String,
    /// Log line format.
    #[arg(long, global = true, env = "HARRIER_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum LogFormat {
    /// Human-readable key=value lines.
    Text,
    /// One JSON object per line, for log pipelines.
    Json,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the agent: scrape targets and host metrics, ship them with remote_write; tail
    /// container logs and push them to Loki.
    ///
    /// The config file is a prometheus.yml (global, scrape_configs, remote_write exactly as
    /// Prometheus has them) plus Harrier's sections `host_metrics`, `buffer` and `logs`. Without
    /// --config the agent runs on embedded defaults: host metrics and its own /metrics, no
    /// remote_write. Reload the config with SIGHUP or POST /-/reload.
    Agent(AgentArgs),
    /// Run the router: store remote_write, answer PromQL, evaluate rules, send alerts.
    ///
    /// Listens on Prometheus's port (9090) by default, so Grafana datasources and
    /// remote_write URLs that pointed at Prometheus keep working. The embedded store keeps its
    /// write-ahead log in --data-dir (else the config's storage.path, else data/router), and
    /// alert state in DATA_DIR/rules so a restart resumes every alert where it was. The config
    /// takes Prometheus's global, rule_files and alerting sections unchanged. Without --config
    /// the router runs on defaults: embedded datasource, 15d retention, no rules. Reload with
    /// SIGHUP or POST /-/reload; rule files are also reloaded when they change (storage
    /// settings need a restart).
    Router(RouterArgs),
    /// Run the agent and the router in one process, with no external service.
    ///
    /// The agent scrapes host metrics, itself and the router and writes them with
    /// remote_write to the router's embedded store; the router evaluates the default rule
    /// packs (written to DATA_DIR/rules) and serves Prometheus's query API, /api/v1/rules and
    /// /api/v1/alerts on --listen. The generated configs are written to DATA_DIR/router.yml
    /// and DATA_DIR/agent.yml; --config (a router config: global, rule_files, alerting, ...)
    /// and --agent-config (a prometheus.yml superset) replace them. The router config's
    /// global.scrape_interval also sets the generated agent config's interval.
    Local(LocalArgs),
    /// Validate configuration files without starting anything.
    ///
    /// Agent configs (prometheus.yml superset), router configs and alertmanager.yml files (a
    /// top-level route or receivers; Alertmanager's checks, unsupported receiver types named)
    /// are accepted: a file
    /// with a router section (storage, query, datasource, rule_files, rules, alerting, web)
    /// and none of the agent's (scrape_configs, remote_write, host_metrics) is checked as a
    /// router config, together with the rule files it names. Exits 0
    /// when every file is valid, 1 otherwise, printing each error with file, line, field path
    /// and what was expected.
    Check {
        /// Agent or router config files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Prometheus rule files: check them (like `promtool check rules`).
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Alertmanager routing: see where alerts go (like `amtool config routes`).
    #[command(subcommand)]
    Routes(RoutesCommand),
}

#[derive(Subcommand, Debug)]
enum RoutesCommand {
    /// Print the receivers a label set is routed to, as `amtool config routes test` does.
    ///
    /// Loads the alertmanager.yml (with the checks of `harrier check`), routes the labels
    /// through its route tree and prints the receivers of the matching routes,
    /// comma-separated, in the order of the tree. Labels are given as name=value (values may
    /// be double-quoted; a later value for a name wins). Output and exit status are amtool's:
    /// with --verify-receivers a different result prints a warning and exits 1, and --tree
    /// first draws the matching branches.
    Test {
        /// The alertmanager.yml to route with.
        #[arg(long, short = 'c', alias = "config.file")]
        config: PathBuf,
        /// Labels of the alert, as name=value.
        labels: Vec<String>,
        /// Expected receivers, comma-separated ("team-a,team-b"); exit 1 if they differ.
        #[arg(long, alias = "verify.receivers")]
        verify_receivers: Option<String>,
        /// Print the matching routes tree before the receivers.
        #[arg(long)]
        tree: bool,
    },
}

#[derive(Subcommand, Debug)]
enum RulesCommand {
    /// Check rule files the way `promtool check rules` does.
    ///
    /// Each file is parsed (unknown fields are errors, with file:line:column and field path)
    /// and validated with Prometheus's rules: group names set and unique, exactly one of
    /// record/alert, expressions that parse, recording rules without for, keep_firing_for or
    /// annotations, valid metric and label names, no __name__ label, durations. Prints
    /// `Checking FILE` then `  SUCCESS: N rules found` or `  FAILED:` with the errors; exits
    /// 1 if any file fails. Alert labels and annotations are parsed as Go templates with
    /// Prometheus's functions.
    Check {
        /// Rule files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Lints to run: duplicate-rules (same name and labels) or none.
        #[arg(long, value_enum, default_value_t = RulesLint::DuplicateRules)]
        lint: RulesLint,
        /// Make lint findings fail the file.
        #[arg(long)]
        lint_fatal: bool,
        /// Ignore unknown fields of groups and rules instead of rejecting them.
        #[arg(long)]
        ignore_unknown_fields: bool,
        /// Validate metric and label names with Prometheus 2's legacy character set instead
        /// of Prometheus 3's UTF-8 names.
        #[arg(long)]
        legacy_names: bool,
    },
    /// Run rule unit tests the way `promtool test rules` does.
    ///
    /// Same test files (rule_files, evaluation_interval, group_eval_order, tests with
    /// input_series, alert_rule_test, promql_expr_test), same verdicts and output:
    /// `Unit Testing:  FILE` then `  SUCCESS` or `  FAILED:` with each failure. Exits 1 if
    /// any test fails.
    Test {
        /// Test files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Only run test groups whose name matches this regular expression (repeatable).
        #[arg(long)]
        run: Vec<String>,
        /// Ignore unknown fields in the rule files instead of rejecting them.
        #[arg(long)]
        ignore_unknown_fields: bool,
        /// Show failed alert tests as a diff of expected and got.
        #[arg(long)]
        diff: bool,
        /// Print timings and a dump of all data of each test group.
        #[arg(long)]
        debug: bool,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum RulesLint {
    DuplicateRules,
    None,
}

#[derive(Args, Debug)]
struct RouterArgs {
    /// Config file. Defaults when absent.
    #[arg(long, short = 'c', env = "HARRIER_CONFIG")]
    config: Option<PathBuf>,
    /// Address for the query API, /api/v1/write, /metrics and the /-/ endpoints.
    #[arg(long, env = "HARRIER_LISTEN", default_value = "0.0.0.0:9090")]
    listen: SocketAddr,
    /// Directory of the store's write-ahead log (overrides storage.path).
    #[arg(long, env = "HARRIER_DATA_DIR")]
    data_dir: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct LocalArgs {
    /// Router config file. Generated when absent.
    #[arg(long, short = 'c', env = "HARRIER_CONFIG")]
    config: Option<PathBuf>,
    /// Agent config file (prometheus.yml superset). Generated when absent.
    #[arg(long)]
    agent_config: Option<PathBuf>,
    /// Address of the router: query API, /api/v1/write, /metrics and the /-/ endpoints.
    #[arg(long, env = "HARRIER_LISTEN", default_value = "0.0.0.0:9090")]
    listen: SocketAddr,
    /// Address of the agent's /metrics and /-/ endpoints (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    agent_listen: SocketAddr,
    /// Directory for the store, buffers, alert state and generated configs.
    #[arg(long, env = "HARRIER_DATA_DIR", default_value = "data/local")]
    data_dir: PathBuf,
    /// How long shutdown waits for buffered data to be delivered before leaving it on disk.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    shutdown_grace: std::time::Duration,
}

#[derive(Args, Debug)]
struct AgentArgs {
    /// Config file (prometheus.yml superset). Embedded defaults when absent.
    #[arg(long, short = 'c', env = "HARRIER_CONFIG")]
    config: Option<PathBuf>,
    /// Address for /metrics, /-/healthy, /-/ready and /-/reload.
    #[arg(long, env = "HARRIER_LISTEN", default_value = "0.0.0.0:9801")]
    listen: SocketAddr,
    /// Directory for the remote_write disk buffers and the log files' checkpoints.
    #[arg(long, env = "HARRIER_DATA_DIR", default_value = "data/agent")]
    data_dir: PathBuf,
    /// How long shutdown waits for buffered data to be delivered before leaving it on disk.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    shutdown_grace: std::time::Duration,
    /// Worker threads for scrapes, log tailing and sinks [default: half the CPUs the process
    /// may use (its cgroup's CPU limit counts), at least 1]. The agent's work comes in short
    /// bursts (a scrape, a batch) and every extra worker costs thread wake-ups, so fewer
    /// workers use less CPU in all: one instead of two on a 2-CPU node saves about 8%. Long
    /// work (parsing a large scrape, encoding a backlog) yields every few milliseconds, so one
    /// worker keeps the others' scrapes, sends and health endpoints going. Raise it for a node
    /// with many large targets. Without this flag, tokio's TOKIO_WORKER_THREADS is honoured.
    #[arg(long, env = "HARRIER_AGENT_THREADS", value_parser = clap::value_parser!(u16).range(1..=1024))]
    threads: Option<u16>,
}

/// The agent's default worker threads: half the CPUs available, at least one.
fn default_agent_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |cpus| cpus.get().div_ceil(2))
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    s.parse::<harrier_telemetry::duration::PromDuration>().map(|d| d.as_duration()).map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = init_logging(&cli.log) {
        eprintln!("harrier: {e:#}");
        return ExitCode::from(2);
    }
    let result = match cli.command {
        Command::Check { files } => return check(&files),
        Command::Rules(RulesCommand::Check {
            files,
            lint,
            lint_fatal,
            ignore_unknown_fields,
            legacy_names,
        }) => {
            let options = harrier_router::rules::CheckOptions {
                lint: match lint {
                    RulesLint::DuplicateRules => harrier_router::rules::Lint::DuplicateRules,
                    RulesLint::None => harrier_router::rules::Lint::None,
                },
                lint_fatal,
                ignore_unknown_fields,
                name_validation: if legacy_names {
                    harrier_router::rules::NameValidation::Legacy
                } else {
                    harrier_router::rules::NameValidation::Utf8
                },
            };
            return check_rules(&files, &options);
        }
        Command::Rules(RulesCommand::Test { files, run, ignore_unknown_fields, diff, debug }) => {
            let options =
                harrier_router::rules::unittest::UnitTestOptions { run, ignore_unknown_fields, diff, debug };
            return test_rules(&files, &options);
        }
        Command::Routes(RoutesCommand::Test { config, labels, verify_receivers, tree }) => {
            let options = harrier_router::route::routing_test::RoutesTestOptions { verify_receivers, tree };
            return test_routes(&config, &labels, &options);
        }
        Command::Agent(args) => run_agent(args),
        Command::Router(args) => run_router(args),
        Command::Local(args) => run_local(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "harrier stopped");
            eprintln!("harrier: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(args: &LogArgs) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(&args.log_level)
        .with_context(|| format!("invalid --log-level {:?}", args.log_level))?;
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match args.log_format {
        LogFormat::Text => builder.with_ansi(false).init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
    Ok(())
}

fn check(files: &[PathBuf]) -> ExitCode {
    let mut failed = false;
    for file in files {
        // Unreadable files go to the agent's loader, which reports the read error.
        let text = std::fs::read_to_string(file).unwrap_or_default();
        if harrier_router::route::looks_like_alertmanager_config(&text) {
            match harrier_router::route::load_file(file) {
                Ok(_) => println!("{}: OK (alertmanager)", file.display()),
                Err(e) => {
                    failed = true;
                    println!("{e}");
                }
            }
            continue;
        }
        if harrier_router::config::looks_like_router_config(&text) {
            match harrier_router::config::load_file(file) {
                Ok(loaded) => {
                    for w in &loaded.warnings {
                        println!("{}: warning: {w}", file.display());
                    }
                    // The rule files it names are checked too, as `promtool check config` does.
                    let rule_files =
                        harrier_router::rules::resolve_rule_files(&loaded.config.rule_files, None);
                    match rule_files {
                        Ok(rule_files) => {
                            let options = harrier_router::rules::CheckOptions::default();
                            for rule_file in rule_files {
                                let report = harrier_router::rules::check_file(&rule_file, &options);
                                if report.failed() {
                                    failed = true;
                                    println!("{}", report.render());
                                }
                            }
                        }
                        Err(e) => {
                            failed = true;
                            println!("{}: {e}", file.display());
                        }
                    }
                    if !failed {
                        println!("{}: OK (router)", file.display());
                    }
                }
                Err(e) => {
                    failed = true;
                    println!("{e}");
                }
            }
            continue;
        }
        match harrier_agent::config::load_file(file) {
            Ok(loaded) => {
                for w in &loaded.warnings {
                    println!("{}: warning: {w}", file.display());
                }
                println!("{}: OK", file.display());
            }
            Err(e) => {
                failed = true;
                println!("{e}");
            }
        }
    }
    if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}

/// `harrier rules check`: promtool's output, a blank line after each file.
fn check_rules(files: &[PathBuf], options: &harrier_router::rules::CheckOptions) -> ExitCode {
    let mut failed = false;
    for file in files {
        let report = harrier_router::rules::check_file(file, options);
        failed |= report.failed();
        println!("{}", report.render());
    }
    if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}

/// `harrier rules test`: promtool's output, each piece on promtool's stream.
fn test_rules(files: &[PathBuf], options: &harrier_router::rules::unittest::UnitTestOptions) -> ExitCode {
    use harrier_router::rules::unittest::{Stream, run_files_output};
    use std::io::Write as _;
    let (code, output) = run_files_output(files, options);
    let (mut stdout, mut stderr) = (std::io::stdout().lock(), std::io::stderr().lock());
    for (stream, text) in &output.pieces {
        let _ = match stream {
            Stream::Stdout => stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()),
            Stream::Stderr => stderr.write_all(text.as_bytes()),
        };
    }
    if code == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

/// `harrier routes test`: amtool's output; config errors on stderr, exit 1.
fn test_routes(
    config: &std::path::Path,
    labels: &[String],
    options: &harrier_router::route::routing_test::RoutesTestOptions,
) -> ExitCode {
    use std::io::Write as _;
    let config = match harrier_router::route::load_file(config) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("harrier: error: {e}\n");
            return ExitCode::FAILURE;
        }
    };
    let outcome = harrier_router::route::routing_test::run(&config, labels, options);
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(outcome.stdout.as_bytes()).and_then(|()| stdout.flush());
    let _ = std::io::stderr().lock().write_all(outcome.stderr.as_bytes());
    if outcome.success { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

fn run_router(args: RouterArgs) -> anyhow::Result<()> {
    allocator::tune_for_long_lived_state();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("harrier-router")
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let shutdown = CancellationToken::new();
        tokio::spawn(wait_for_signals(shutdown.clone()));
        let options = harrier_router::run::RouterOptions {
            config_path: args.config,
            listen: args.listen,
            data_dir: args.data_dir,
        };
        harrier_router::run::run(options, shutdown).await.map_err(anyhow::Error::from)
    })
}

fn run_local(args: LocalArgs) -> anyhow::Result<()> {
    allocator::tune_for_streaming();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("harrier-local")
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let shutdown = CancellationToken::new();
        tokio::spawn(wait_for_signals(shutdown.clone()));
        let options = local::LocalOptions {
            config: args.config,
            agent_config: args.agent_config,
            listen: args.listen,
            agent_listen: args.agent_listen,
            data_dir: args.data_dir,
            shutdown_grace: args.shutdown_grace,
        };
        local::run(options, shutdown).await
    })
}

fn run_agent(args: AgentArgs) -> anyhow::Result<()> {
    allocator::tune_for_streaming();
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    match args.threads {
        Some(threads) => {
            builder.worker_threads(usize::from(threads));
        }
        // tokio's own variable still works when --threads is not given.
        None if std::env::var_os("TOKIO_WORKER_THREADS").is_some() => {}
        None => {
            builder.worker_threads(default_agent_threads());
        }
    }
    let runtime =
        builder.enable_all().thread_name("harrier-agent").build().context("starting the async runtime")?;
    runtime.block_on(async move {
        let shutdown = CancellationToken::new();
        tokio::spawn(wait_for_signals(shutdown.clone()));
        let options = harrier_agent::run::AgentOptions {
            config_path: args.config,
            listen: args.listen,
            data_dir: args.data_dir,
            shutdown_grace: args.shutdown_grace,
        };
        harrier_agent::run::run(options, shutdown).await.map_err(anyhow::Error::from)
    })
}

/// SIGINT or SIGTERM starts a graceful shutdown; a second one exits at once.
async fn wait_for_signals(shutdown: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt()))
    else {
        tracing::error!("cannot install signal handlers; stop with SIGKILL");
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    tracing::info!("shutdown requested; finishing in-flight work (signal again to exit now)");
    shutdown.cancel();
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    std::process::exit(130);
}
