//! `bench-logs`: the agent's logs path, files to Loki, at full speed.
//!
//! 1. Starts a Loki receiver in this process ([`harrier_bench::log_bench::loki_receiver`] on
//!    `127.0.0.1:0`): every push is decoded and its lines are counted by number, then dropped.
//! 2. Starts `harrier agent` with only a `logs:` section (one `files` entry, format `cri`,
//!    include `<work>/pods/*/*/*.log`, and one `loki` entry pointing at the receiver; defaults
//!    otherwise) and host metrics off. Once it is ready, waits 5 s and reads its **idle RSS**
//!    (`VmRSS`) while no log file exists.
//! 3. Writes `--gib` of numbered CRI lines of exactly `--line-bytes` into `--files` pod
//!    directories under `<work>/staging` (before timing starts), then renames each pod directory
//!    into `<work>/pods` (instant: the agent finds complete files) and starts timing.
//! 4. Waits until the receiver has every line, then reads the agent's CPU seconds (utime +
//!    stime since the renames) and peak RSS (`VmHWM`), and this process's CPU seconds over the
//!    same window (the receiver's cost).
//! 5. Prints a markdown block (also to `--out`): MiB of log per agent CPU-second, peak and idle
//!    RSS, each against its target from issue 6; then stops the agent with SIGTERM and deletes
//!    the generated files unless `--keep`.
//!
//! Wall time includes the agent's discovery interval (5 s by default: the files appear between
//! two discoveries), so CPU seconds, not wall time, is the figure to compare.

use anyhow::{Context, bail};
use clap::Parser;
use harrier_bench::log_bench::lines::LineLayout;
use harrier_bench::log_bench::loki_receiver::{PushCounts, PushSnapshot, router};
use harrier_bench::process::{Peer, free_port, spawn, usage, wait_ready};
use harrier_telemetry::loki::{DecodeLimits, PUSH_PATH};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Targets from issue 6's benchmark acceptance point.
const TARGET_MIB_PER_CPU_SECOND: f64 = 100.0;
const TARGET_PEAK_RSS_MIB: f64 = 48.0;
const TARGET_IDLE_RSS_MIB: f64 = 15.0;
/// How long the agent idles before its idle RSS is read.
const IDLE_WAIT: Duration = Duration::from_secs(5);
const MIB: f64 = 1024.0 * 1024.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    fn config_name(self) -> &'static str {
        match self {
            Encoding::Protobuf => "protobuf",
            Encoding::Json => "json",
        }
    }
}

#[derive(Debug, Parser)]
#[command(about = "Measure the agent's logs path: CRI files to a Loki receiver that counts and discards")]
struct Args {
    /// The harrier binary (a release build for numbers worth quoting).
    #[arg(long)]
    harrier: PathBuf,
    /// Total size of the generated log files, in GiB.
    #[arg(long, default_value_t = 1.0)]
    gib: f64,
    /// Bytes per line in the files: CRI prefix, message and newline.
    #[arg(long, default_value_t = 256)]
    line_bytes: usize,
    /// Log files, one per pod.
    #[arg(long, default_value_t = 8)]
    files: usize,
    /// The agent's push encoding.
    #[arg(long, value_enum, default_value_t = Encoding::Protobuf)]
    encoding: Encoding,
    /// Where the config, agent data, agent log and log files go (a temporary directory by
    /// default). Data of an earlier run in it is cleared first.
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Seconds to wait for every line to arrive.
    #[arg(long, default_value_t = 600)]
    timeout: u64,
    /// Also write the markdown block to this file.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Keep the generated log files (and a temporary work directory).
    #[arg(long)]
    keep: bool,
}

/// The load: how many lines each file gets.
struct Plan {
    layout: LineLayout,
    lines_per_file: Vec<u64>,
}

impl Plan {
    fn new(args: &Args) -> anyhow::Result<Plan> {
        let layout = LineLayout::new(args.line_bytes)?;
        if !(args.gib > 0.0 && args.gib.is_finite()) {
            bail!("--gib {} must be a positive number", args.gib);
        }
        if args.files == 0 {
            bail!("--files must be at least 1");
        }
        let total_lines = (args.gib * 1024.0 * MIB) as u64 / args.line_bytes as u64;
        let files = args.files as u64;
        if total_lines < files {
            bail!("--gib {} holds {total_lines} lines, fewer than --files {}", args.gib, args.files);
        }
        let lines_per_file =
            (0..files).map(|f| total_lines / files + u64::from(f < total_lines % files)).collect();
        Ok(Plan { layout, lines_per_file })
    }

    fn total_lines(&self) -> u64 {
        self.lines_per_file.iter().sum()
    }

    fn total_bytes(&self) -> u64 {
        self.total_lines() * self.layout.line_bytes() as u64
    }

    /// `<namespace>_<pod>_<uid>`, as kubelet names a pod's log directory.
    fn pod_dir_name(file: usize) -> String {
        format!("bench_bench-pod-{file}_00000000-0000-4000-8000-{file:012}")
    }
}

/// What one run measured.
struct Measured {
    idle_rss_mib: f64,
    generate_seconds: f64,
    first_line_seconds: Option<f64>,
    wall_seconds: f64,
    agent_cpu_seconds: f64,
    agent_peak_rss_mib: f64,
    receiver_cpu_seconds: f64,
    received: PushSnapshot,
    agent_stopped_cleanly: bool,
}

/// `VmRSS` of `pid`, in MiB.
fn resident_mib(pid: u32) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("no VmRSS in /proc/{pid}/status"))?;
    Ok(kib / 1024.0)
}

fn remove_if_present(path: &Path) -> anyhow::Result<()> {
    match std::fs::remove_dir_all(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing {}", path.display()))
        }
        _ => Ok(()),
    }
}

fn agent_config(dir: &Path, receiver_port: u16, encoding: Encoding) -> String {
    format!(
        "host_metrics: {{enabled: false}}\n\
         logs:\n  files:\n    - name: pods\n      include: ['{pods}/*/*/*.log']\n      format: cri\n\
         \x20 loki:\n    - url: http://127.0.0.1:{receiver_port}{PUSH_PATH}\n      encoding: {encoding}\n",
        pods = dir.join("pods").display(),
        encoding = encoding.config_name(),
    )
}

async fn start_receiver(counts: Arc<PushCounts>) -> anyhow::Result<u16> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let limits = DecodeLimits { max_body_bytes: 64 << 20, max_decompressed_bytes: 256 << 20 };
    let app = router(counts, limits);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(port)
}

/// Writes every file into `<dir>/staging/<pod>/app/0.log`.
fn generate(plan: &Plan, dir: &Path) -> anyhow::Result<()> {
    for (file, &lines) in plan.lines_per_file.iter().enumerate() {
        let container = dir.join("staging").join(Plan::pod_dir_name(file)).join("app");
        std::fs::create_dir_all(&container).with_context(|| format!("creating {}", container.display()))?;
        plan.layout.write_file(&container.join("0.log"), file, lines)?;
    }
    Ok(())
}

/// Asks the agent to stop (SIGTERM) and waits up to 10 s; true if it exited in time with
/// success. Dropping the [`Peer`] kills it otherwise.
async fn terminate(agent: &mut Peer) -> bool {
    let sent = Command::new("kill").arg("-TERM").arg(agent.pid().to_string()).status();
    if !sent.is_ok_and(|s| s.success()) {
        return false;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        match agent.child.try_wait() {
            Ok(Some(status)) => return status.success(),
            Ok(None) => tokio::time::sleep(Duration::from_millis(50)).await,
            Err(_) => return false,
        }
    }
    false
}

async fn run(args: &Args, plan: &Plan, dir: &Path) -> anyhow::Result<Measured> {
    let counts = Arc::new(PushCounts::new(plan.layout, &plan.lines_per_file));
    let receiver_port = start_receiver(Arc::clone(&counts)).await?;
    std::fs::create_dir_all(dir.join("pods"))?;
    let config = dir.join("agent.yml");
    std::fs::write(&config, agent_config(dir, receiver_port, args.encoding))?;
    let port = free_port()?;
    let mut agent = spawn(
        "harrier agent",
        Command::new(&args.harrier)
            .arg("agent")
            .arg("--config")
            .arg(&config)
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--data-dir")
            .arg(dir.join("data"))
            .env("HARRIER_LOG", "warn"),
        &dir.join("agent.log"),
        port,
    )?;
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
    wait_ready(&client, &mut agent, Duration::from_secs(60)).await?;
    tokio::time::sleep(IDLE_WAIT).await;
    let idle_rss_mib = resident_mib(agent.pid())?;

    eprintln!(
        "bench-logs: writing {:.1} MiB ({} lines) into {} files under {}",
        plan.total_bytes() as f64 / MIB,
        plan.total_lines(),
        plan.lines_per_file.len(),
        dir.join("staging").display()
    );
    let generating = Instant::now();
    generate(plan, dir)?;
    let generate_seconds = generating.elapsed().as_secs_f64();

    let agent_before = usage(agent.pid())?;
    let self_before = usage(std::process::id())?;
    let start = Instant::now();
    for file in 0..plan.lines_per_file.len() {
        let name = Plan::pod_dir_name(file);
        let (from, to) = (dir.join("staging").join(&name), dir.join("pods").join(&name));
        std::fs::rename(&from, &to)
            .with_context(|| format!("moving {} to {}", from.display(), to.display()))?;
    }
    eprintln!("bench-logs: files moved in, waiting for {} lines", plan.total_lines());

    let deadline = start + Duration::from_secs(args.timeout);
    let mut first_line_seconds = None;
    loop {
        let received = counts.snapshot();
        if first_line_seconds.is_none() && received.entries > 0 {
            first_line_seconds = Some(start.elapsed().as_secs_f64());
        }
        if received.unique >= plan.total_lines() {
            break;
        }
        if received.decode_errors > 0 {
            bail!("the receiver could not decode {} pushes (answered 400)", received.decode_errors);
        }
        if let Some(status) = agent.child.try_wait()? {
            bail!("the agent exited with {status} after {} of {} lines", received.unique, plan.total_lines());
        }
        if Instant::now() > deadline {
            bail!(
                "only {} of {} lines arrived after {} s ({} entries, {} duplicates, {} malformed)",
                received.unique,
                plan.total_lines(),
                args.timeout,
                received.entries,
                received.duplicates,
                received.malformed
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let wall_seconds = start.elapsed().as_secs_f64();
    let agent_after = usage(agent.pid())?;
    let self_after = usage(std::process::id())?;
    let agent_stopped_cleanly = terminate(&mut agent).await;
    Ok(Measured {
        idle_rss_mib,
        generate_seconds,
        first_line_seconds,
        wall_seconds,
        agent_cpu_seconds: agent_after.cpu_seconds - agent_before.cpu_seconds,
        agent_peak_rss_mib: agent_after.peak_rss_mib,
        receiver_cpu_seconds: self_after.cpu_seconds - self_before.cpu_seconds,
        received: counts.snapshot(),
        agent_stopped_cleanly,
    })
}

/// `YYYY-MM-DD HH:MM UTC` now.
fn utc_now() -> String {
    let secs =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    let (y, m, d) = harrier_telemetry::civil::civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02} UTC", rem / 3600, rem % 3600 / 60)
}

fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|info| {
        info.lines().find_map(|l| {
            l.strip_prefix("model name").map(|m| m.trim_start_matches([' ', '\t', ':']).to_string())
        })
    });
    match model {
        Some(model) => format!("{cores} cores ({model})"),
        None => format!("{cores} cores"),
    }
}

fn harrier_version(harrier: &Path) -> String {
    Command::new(harrier)
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "unknown version".into())
}

fn met(ok: bool) -> &'static str {
    if ok { "met" } else { "**not met**" }
}

fn report(args: &Args, plan: &Plan, m: &Measured) -> String {
    let log_mib = plan.total_bytes() as f64 / MIB;
    let mib_per_cpu_second =
        if m.agent_cpu_seconds > 0.0 { log_mib / m.agent_cpu_seconds } else { f64::INFINITY };
    let first = m.first_line_seconds.map_or("-".into(), |s| format!("{s:.2} s"));
    let r = &m.received;
    let all_met = mib_per_cpu_second >= TARGET_MIB_PER_CPU_SECOND
        && m.agent_peak_rss_mib <= TARGET_PEAK_RSS_MIB
        && m.idle_rss_mib <= TARGET_IDLE_RSS_MIB;
    format!(
        "### bench-logs, {date}\n\n\
         - machine: {machine}\n\
         - agent: {version} (`{binary}`), `logs:` defaults, encoding {encoding}\n\
         - load: {log_mib:.1} MiB of CRI log in {files} files, {lines} lines of {line_bytes} bytes \
         (written in {generate:.1} s before timing)\n\n\
         | measure | value | target | |\n\
         | --- | ---: | ---: | --- |\n\
         | **MiB of log per agent CPU-second** | {mib_per_cpu_second:.1} | >= {TARGET_MIB_PER_CPU_SECOND:.0} | {met_rate} |\n\
         | agent peak RSS (VmHWM) | {peak:.1} MiB | <= {TARGET_PEAK_RSS_MIB:.0} MiB | {met_peak} |\n\
         | agent idle RSS (VmRSS, no files, {idle_wait} s after ready) | {idle:.1} MiB | <= {TARGET_IDLE_RSS_MIB:.0} MiB | {met_idle} |\n\
         | agent CPU (utime + stime, files moved in until the last line arrived) | {cpu:.2} s | | |\n\
         | wall time, files moved in until the last line arrived | {wall:.2} s | | |\n\
         | first line received after | {first} | | |\n\
         | receiver CPU (decode and count, same window) | {receiver_cpu:.2} s | | |\n\
         | lines received: distinct / duplicates / malformed | {unique} / {duplicates} / {malformed} | {lines} / 0 / 0 | {met_lines} |\n\
         | pushes received, compressed body MiB | {requests}, {body_mib:.1} | | |\n\n\
         Targets: {all}. Agent stopped on SIGTERM within 10 s: {stopped}.\n",
        date = utc_now(),
        machine = machine(),
        version = harrier_version(&args.harrier),
        binary = args.harrier.display(),
        encoding = args.encoding.config_name(),
        files = plan.lines_per_file.len(),
        lines = plan.total_lines(),
        line_bytes = plan.layout.line_bytes(),
        generate = m.generate_seconds,
        met_rate = met(mib_per_cpu_second >= TARGET_MIB_PER_CPU_SECOND),
        peak = m.agent_peak_rss_mib,
        met_peak = met(m.agent_peak_rss_mib <= TARGET_PEAK_RSS_MIB),
        idle_wait = IDLE_WAIT.as_secs(),
        idle = m.idle_rss_mib,
        met_idle = met(m.idle_rss_mib <= TARGET_IDLE_RSS_MIB),
        cpu = m.agent_cpu_seconds,
        wall = m.wall_seconds,
        receiver_cpu = m.receiver_cpu_seconds,
        unique = r.unique,
        duplicates = r.duplicates,
        malformed = r.malformed,
        met_lines = met(r.unique == plan.total_lines() && r.duplicates == 0 && r.malformed == 0),
        requests = r.requests,
        body_mib = r.body_bytes as f64 / MIB,
        all = if all_met { "all met" } else { "not all met" },
        stopped = if m.agent_stopped_cleanly { "yes" } else { "no" },
    )
}

/// The last lines of the agent's log, for a failure message.
fn agent_log_tail(dir: &Path) -> String {
    let text = std::fs::read_to_string(dir.join("agent.log")).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let plan = Plan::new(&args)?;
    let tmp = tempfile::tempdir()?;
    let dir = args.work_dir.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    // An earlier run's files would be read again, and its checkpoints would skip the new ones.
    for old in ["pods", "staging", "data"] {
        remove_if_present(&dir.join(old))?;
    }

    let outcome = run(&args, &plan, &dir).await;
    if outcome.is_err() {
        eprintln!("bench-logs: last lines of {}:\n{}", dir.join("agent.log").display(), agent_log_tail(&dir));
    }
    if args.keep {
        eprintln!("bench-logs: files kept in {}", dir.display());
        if args.work_dir.is_none() {
            let _kept = tmp.keep();
        }
    } else {
        remove_if_present(&dir.join("pods"))?;
        remove_if_present(&dir.join("staging"))?;
    }
    let measured = outcome?;
    let text = report(&args, &plan, &measured);
    print!("{text}");
    if let Some(out) = &args.out {
        harrier_bench::output::write_atomically(out, text.as_bytes())
            .with_context(|| format!("writing {}", out.display()))?;
    }
    Ok(())
}
