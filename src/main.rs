//! The `resplay` command line: flags and config file merged, then handed
//! to the library.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use resplay::cassette;
use resplay::config::{self, Config, RunMode};
use resplay::control::api::{admin_addr, serve_api};
use resplay::control::{Finished, Mode, ModeSpec, SteerSettings, Steering};
use resplay::fault::{FaultRule, Faults};
use resplay::record::RecordConfig;
use resplay::redact::{RedactRule, Redactor};
use resplay::replay::{IgnoreRule, OnMiss, ReplayConfig, Timing};
use resplay::run::{run, RunSettings};
use resplay::server::DEFAULT_MAX_CLIENTS;
use resplay::tls::{ListenerTls, UpstreamTlsOptions};
use resplay::upstream::Upstream;

mod cluster_cmd;
mod ctl;

/// mimalloc rather than glibc's malloc: values are built on one runtime
/// thread and freed on another (the cassette writer), and glibc's arena
/// locks showed up as a sixth of the recorder's time under load.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The address record and replay listen on unless told otherwise.
const DEFAULT_LISTEN: &str = "127.0.0.1:6380";

/// Record Redis traffic into a cassette; replay it as a stand-in Redis.
#[derive(Parser)]
#[command(name = "resplay", version, about)]
struct Cli {
    /// A TOML config file (see examples/resplay.toml); flags override it.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Runtime threads (0: one per core).
    #[arg(long, global = true, value_name = "N", default_value_t = 1)]
    threads: usize,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Proxy to a real Redis and write every exchange to a cassette.
    Record(RecordArgs),
    /// Serve a cassette as a stand-in Redis server.
    Replay(ReplayArgs),
    /// Run a command with REDIS_URL pointing at resplay (records the first time, replays after).
    Run(RunArgs),
    /// Print a cassette readably (and check it: a bad line is reported by number).
    Show(ShowArgs),
    /// Steer a running resplay through its control API (--admin).
    Ctl(ctl::CtlArgs),
    /// Write a cassette from The Protocol Master's or Keploy's recordings.
    Import(ImportArgs),
    /// Apply redaction rules to an existing cassette (see docs/redaction.md).
    Redact(RedactArgs),
    /// List the interactions added, removed or answered differently between two cassettes.
    Diff(DiffArgs),
}

#[derive(clap::Args)]
struct ImportArgs {
    /// The tool the recordings come from.
    #[arg(long, value_enum)]
    from: resplay::import::Source,
    /// The cassette to write.
    #[arg(long, value_name = "CASSETTE")]
    out: PathBuf,
    /// The recordings (TPM: entry files; Keploy: mocks.yaml).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
}

#[derive(clap::Args)]
struct RedactArgs {
    /// The cassette to read.
    input: PathBuf,
    /// Where to write the redacted cassette (may be the input).
    output: PathBuf,
    /// A redaction rule, e.g. --redact 'GET session:* => reply' (repeatable).
    #[arg(long = "redact", value_name = "RULE")]
    redact: Vec<RedactRule>,
}

/// Options record, replay and run share.
#[derive(clap::Args)]
struct Common {
    /// The cassette file (JSON Lines).
    #[arg(long)]
    cassette: Option<PathBuf>,
    /// The real Redis: redis://[user:pass@]host:port[/db].
    #[arg(long)]
    upstream: Option<String>,
    /// Connect timeout for the upstream; idle timeout for clients with nothing in flight.
    #[arg(long, value_name = "SECONDS")]
    timeout_seconds: Option<u64>,
    /// Refuse clients beyond this many, as Redis does [default: 10000].
    #[arg(long)]
    max_clients: Option<usize>,
    /// Inject a fault, e.g. --fault 'GET session:* => error="LOADING …" count=2'
    /// (repeatable; see docs/faults.md).
    #[arg(long = "fault", value_name = "RULE")]
    fault: Vec<FaultRule>,
    /// Seed for fault probabilities and jitter [default: random, printed].
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
    /// Redact secrets, e.g. --redact 'HSET user:* => field=ssn' (repeatable;
    /// see docs/redaction.md).
    #[arg(long = "redact", value_name = "RULE")]
    redact: Vec<RedactRule>,
    #[command(flatten)]
    tls: TlsFlags,
}

/// TLS on either side (see docs/tls.md); each has a config-file key of the
/// same name with underscores.
#[derive(clap::Args)]
struct TlsFlags {
    /// Upstream TLS (rediss://): trust this CA (PEM) instead of the system roots.
    #[arg(long, value_name = "FILE")]
    tls_ca_file: Option<PathBuf>,
    /// Upstream TLS: client certificate (PEM) for mutual TLS.
    #[arg(long, value_name = "FILE")]
    tls_cert: Option<PathBuf>,
    /// Upstream TLS: the client certificate's key (PEM).
    #[arg(long, value_name = "FILE")]
    tls_key: Option<PathBuf>,
    /// Upstream TLS: check the server's certificate against (and send as SNI) this name.
    #[arg(long, value_name = "NAME")]
    tls_server_name: Option<String>,
    /// Upstream TLS: do not verify the server's certificate (warned on every start).
    #[arg(long)]
    tls_insecure: bool,
    /// Serve clients over TLS with this certificate chain (PEM).
    #[arg(long, value_name = "FILE")]
    listen_tls_cert: Option<PathBuf>,
    /// The listener certificate's key (PEM).
    #[arg(long, value_name = "FILE")]
    listen_tls_key: Option<PathBuf>,
    /// Require client certificates signed by this CA (PEM).
    #[arg(long, value_name = "FILE")]
    listen_tls_client_ca: Option<PathBuf>,
    /// `self-signed`: serve TLS with a throwaway certificate for localhost
    /// made at start (its CA goes to --listen-tls-ca-out).
    #[arg(long, value_name = "self-signed")]
    listen_tls: Option<String>,
    /// Where --listen-tls self-signed writes its CA (PEM), for clients to trust.
    #[arg(long, value_name = "FILE")]
    listen_tls_ca_out: Option<PathBuf>,
}

/// Options of the servers a control API can steer (record and replay).
#[derive(clap::Args)]
struct Steer {
    /// Serve the control API (HTTP/JSON) on HOST:PORT, or on 127.0.0.1:PORT.
    #[arg(long, value_name = "ADDR")]
    admin: Option<String>,
    /// On a mode switch, keep client connections (with their database,
    /// protocol and subscriptions) instead of closing them.
    #[arg(long)]
    keep_connections: bool,
}

#[derive(clap::Args)]
struct RecordArgs {
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    steer: Steer,
    /// Address to listen on; port 0 picks a free port [default: 127.0.0.1:6380].
    #[arg(long)]
    listen: Option<String>,
    /// Also record handshake calls (PING, HELLO, AUTH, SELECT, ECHO, CLIENT SETNAME/SETINFO).
    #[arg(long)]
    record_trivial_calls: bool,
    /// The upstream is a Redis Cluster node: listen for every node of the
    /// cluster (from --listen's port on) and rewrite node addresses to
    /// resplay's (see docs/cluster.md).
    #[arg(long)]
    cluster: bool,
}

/// Replay behaviour, shared by replay and run.
#[derive(clap::Args, Default)]
struct ReplayFlags {
    /// `recorded` keeps the recorded reply durations and push gaps [default: none].
    #[arg(long, value_enum)]
    timing: Option<Timing>,
    /// Exit non-zero if any command missed or any recording went unused.
    #[arg(long)]
    strict: bool,
    /// Once identical recordings are used up, miss instead of repeating the last reply.
    #[arg(long)]
    no_repeat: bool,
    /// Ignore volatile arguments, e.g. --ignore 'SET lock:* <any> PX <any>' (repeatable).
    #[arg(long = "ignore", value_name = "RULE")]
    ignore: Vec<IgnoreRule>,
}

#[derive(clap::Args)]
struct ReplayArgs {
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    steer: Steer,
    #[command(flatten)]
    flags: ReplayFlags,
    /// Address to listen on; port 0 picks a free port [default: 127.0.0.1:6380].
    #[arg(long)]
    listen: Option<String>,
    /// What a command with no recording gets [default: error].
    #[arg(long, value_enum)]
    on_miss: Option<OnMiss>,
}

#[derive(clap::Args)]
struct RunArgs {
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    flags: ReplayFlags,
    /// once: record if the cassette is missing, else replay; new-episodes: replay
    /// and record what is missing; none: replay only; all: record afresh [default: once].
    #[arg(long, value_enum)]
    mode: Option<RunMode>,
    /// Also record handshake calls.
    #[arg(long)]
    record_trivial_calls: bool,
    /// Record a Redis Cluster (a cluster cassette replays as one without it);
    /// the command also gets REDIS_CLUSTER_NODES.
    #[arg(long)]
    cluster: bool,
    /// The command to run, after `--`.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    command: Vec<String>,
}

#[derive(clap::Args)]
struct ShowArgs {
    /// The cassette to print.
    file: PathBuf,
    /// Print canonical JSON lines instead of the readable listing.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct DiffArgs {
    /// The cassette before (e.g. the committed one).
    old: PathBuf,
    /// The cassette after (e.g. the re-recording).
    new: PathBuf,
    /// Ignore volatile arguments, as replay does, e.g. --ignore 'SET lock:* <any> PX <any>' (repeatable).
    #[arg(long = "ignore", value_name = "RULE")]
    ignore: Vec<IgnoreRule>,
    /// One JSON object a line per change instead of the listing.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RESPLAY_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        // Colour only on a terminal: a log file or a pipe gets plain text.
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
    let cli = Cli::parse();
    let runtime = match build_runtime(&cli) {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("resplay: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("resplay: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The async runtime: one thread unless `--threads` says otherwise. resplay
/// shares its machine with the application under test and with Redis, and
/// there a second runtime thread mostly adds wake-ups and cross-core
/// hand-offs. Measured on two cores: pipelined replay went from 0.82-1.08x
/// to 1.04-1.27x of direct Redis, and recording cost 13-15 instead of
/// 17-18 µs of CPU per request at pipeline 1 (1.4 instead of 1.5-1.7 at
/// pipeline 16).
fn build_runtime(cli: &Cli) -> std::io::Result<tokio::runtime::Runtime> {
    match cli.threads {
        1 => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        0 => tokio::runtime::Runtime::new(),
        n => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n)
            .enable_all()
            .build(),
    }
}

async fn dispatch(cli: Cli) -> Result<ExitCode> {
    let file = match &cli.config {
        Some(path) => config::load(path)?,
        None => Config::default(),
    };
    match cli.command {
        Command::Record(args) => run_record(args, &file).await,
        Command::Replay(args) => run_replay(args, &file).await,
        Command::Run(args) => run_wrapped(args, &file).await,
        Command::Show(args) => show(&args),
        Command::Ctl(args) => ctl::run(args).await,
        Command::Import(args) => {
            let warnings = resplay::import::run(args.from, &args.files, &args.out)?;
            print_warnings(&warnings);
            Ok(ExitCode::SUCCESS)
        }
        Command::Redact(args) => redact_cassette(&args, &file),
        Command::Diff(args) => Ok(diff(&args, &file)),
    }
}

async fn bind(addr: &str) -> Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))
}

/// Prints the one line tools wait for: `resplay: listening on ADDR`.
fn announce(listener: &TcpListener) -> Result<()> {
    eprintln!("resplay: listening on {}", listener.local_addr()?);
    Ok(())
}

/// A token cancelled on Ctrl-C or SIGTERM.
///
/// The handlers are installed here, before the caller prints its
/// `listening on` line: a supervisor that sends SIGTERM as soon as it sees
/// that line must never find them missing (a signal that arrives before
/// tokio has a listener for it is lost, and the server would run on).
fn shutdown_on_signal() -> Result<CancellationToken> {
    let token = CancellationToken::new();
    let fire = token.clone();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut interrupt = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
        let mut terminate = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
        tokio::spawn(async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
            fire.cancel();
        });
    }
    #[cfg(not(unix))]
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        fire.cancel();
    });
    Ok(token)
}

/// The cassette path from the flag or the file.
fn cassette_path(common: &Common, file: &Config) -> Result<PathBuf> {
    match common.cassette.clone().or_else(|| file.cassette.clone()) {
        Some(path) => Ok(path),
        None => bail!("no cassette: pass --cassette FILE (or set `cassette` in the config file)"),
    }
}

/// The upstream from the flag or the file (with its login/password).
fn upstream(common: &Common, file: &Config) -> Result<Option<Upstream>> {
    let url = match &common.upstream {
        Some(flag) => {
            let merged = Config {
                upstream: Some(flag.clone()),
                login: file.login.clone(),
                password: file.password.clone(),
                ..Config::default()
            };
            merged.upstream_url()
        }
        None => file.upstream_url(),
    };
    let Some(url) = url else {
        return Ok(None);
    };
    let mut parsed = Upstream::parse(&url)?;
    if let Some(seconds) = timeout(common, file) {
        parsed.connect_timeout = seconds;
    }
    let flags = &common.tls;
    let options = UpstreamTlsOptions {
        ca_file: flags.tls_ca_file.clone().or(file.tls_ca_file.clone()),
        cert: flags.tls_cert.clone().or(file.tls_cert.clone()),
        key: flags.tls_key.clone().or(file.tls_key.clone()),
        server_name: flags
            .tls_server_name
            .clone()
            .or(file.tls_server_name.clone()),
        insecure: flags.tls_insecure || file.tls_insecure.unwrap_or(false),
    };
    if options != UpstreamTlsOptions::default() {
        if parsed.addr.starts_with("unix:") {
            bail!("the --tls-* options need a TCP upstream (rediss://HOST:PORT): TLS over a Unix socket is not supported");
        }
        if parsed.tls.is_none() {
            bail!(
                "the --tls-* options are for a TLS upstream: write it as rediss://{}",
                parsed.addr
            );
        }
        parsed.set_tls(options)?;
    }
    if let Some(reason) = parsed.tls.as_ref().and_then(|t| t.missing_roots()) {
        bail!("upstream {}: upstream TLS: {reason}", parsed.addr);
    }
    Ok(Some(parsed))
}

/// Says, on every start, that the upstream's certificate goes unchecked.
fn warn_if_insecure(upstream: Option<&Upstream>) {
    if let Some(upstream) =
        upstream.filter(|u| u.tls.as_ref().is_some_and(|t| t.options().insecure))
    {
        eprintln!(
            "resplay: warning: --tls-insecure: the certificate of upstream {} is not verified",
            upstream.addr
        );
    }
}

/// The listener's TLS, from flags over the file: certificate files, or a
/// throwaway self-signed one.
fn listener_tls(common: &Common, file: &Config) -> Result<Option<ListenerTls>> {
    let flags = &common.tls;
    let cert = flags
        .listen_tls_cert
        .clone()
        .or(file.listen_tls_cert.clone());
    let key = flags.listen_tls_key.clone().or(file.listen_tls_key.clone());
    let client_ca = flags
        .listen_tls_client_ca
        .clone()
        .or(file.listen_tls_client_ca.clone());
    let mode = flags.listen_tls.clone().or(file.listen_tls.clone());
    let ca_out = flags
        .listen_tls_ca_out
        .clone()
        .or(file.listen_tls_ca_out.clone());
    let tls = match (mode.as_deref(), cert, key) {
        (Some("self-signed"), None, None) => {
            let Some(ca_out) = ca_out else {
                bail!("--listen-tls self-signed needs --listen-tls-ca-out FILE, where its CA is written for clients to trust");
            };
            ListenerTls::self_signed(&ca_out, client_ca.as_deref())?
        }
        (Some("self-signed"), _, _) => {
            bail!("--listen-tls self-signed makes its own certificate: leave out --listen-tls-cert and --listen-tls-key")
        }
        (Some(other), _, _) => bail!("--listen-tls takes only 'self-signed', not '{other}'"),
        (None, Some(cert), Some(key)) => {
            ListenerTls::from_files(&cert, &key, client_ca.as_deref())?
        }
        (None, Some(_), None) | (None, None, Some(_)) => {
            bail!("--listen-tls-cert and --listen-tls-key go together")
        }
        (None, None, None) => {
            if client_ca.is_some() || ca_out.is_some() {
                bail!("--listen-tls-client-ca and --listen-tls-ca-out need a TLS listener (--listen-tls-cert/--listen-tls-key or --listen-tls self-signed)");
            }
            return Ok(None);
        }
    };
    Ok(Some(tls))
}

fn timeout(common: &Common, file: &Config) -> Option<Duration> {
    common
        .timeout_seconds
        .or(file.timeout_seconds)
        .filter(|&s| s > 0)
        .map(Duration::from_secs)
}

fn max_clients(common: &Common, file: &Config) -> usize {
    common
        .max_clients
        .or(file.max_clients)
        .unwrap_or(DEFAULT_MAX_CLIENTS)
}

fn listen_addr(flag: &Option<String>, file: &Config) -> String {
    flag.clone()
        .or_else(|| file.listen.clone())
        .unwrap_or_else(|| DEFAULT_LISTEN.to_string())
}

/// The fault rules of the file, then the flags', under one seed. Without a
/// seed one is drawn and printed, so a run that found something can be
/// repeated exactly.
fn faults(common: &Common, file: &Config) -> Arc<Faults> {
    let rules: Vec<FaultRule> = file.fault.iter().chain(&common.fault).cloned().collect();
    let seed = common.seed.or(file.seed).unwrap_or_else(|| {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or_default();
        if !rules.is_empty() {
            eprintln!("resplay: faults seeded with {seed} (--seed {seed} repeats them)");
        }
        seed
    });
    Arc::new(Faults::with_rules(seed, rules))
}

/// What each fault rule did, so a run shows its faults really fired.
fn report_faults(faults: &Faults) {
    for info in faults.list() {
        eprintln!(
            "resplay: fault #{} '{}': fired {} time(s) for {} matching command(s)",
            info.id, info.rule, info.fired, info.seen
        );
    }
}

/// Replay settings from flags over the file; `upstream` as [`upstream`]
/// read it (parsed once: a `rediss://` one loads its certificates).
fn replay_config(
    common: &Common,
    flags: &ReplayFlags,
    on_miss: Option<OnMiss>,
    file: &Config,
    upstream: Option<Upstream>,
) -> Result<ReplayConfig> {
    let mut rules = file.ignore.clone();
    rules.extend(flags.ignore.iter().cloned());
    let mut config = ReplayConfig {
        rules,
        repeat: !(flags.no_repeat || file.no_repeat.unwrap_or(false)),
        on_miss: on_miss.or(file.on_miss()).unwrap_or(OnMiss::Error),
        upstream,
        timing: flags.timing.or(file.timing()).unwrap_or(Timing::None),
        idle_timeout: timeout(common, file),
        faults: faults(common, file),
        redact: redactor(&common.redact, file),
        ..ReplayConfig::default()
    };
    config.serve.max_clients = max_clients(common, file);
    config.serve.tls = listener_tls(common, file)?;
    Ok(config)
}

fn ignore_trivial(flag: bool, file: &Config) -> bool {
    !flag && file.ignore_trivial_calls.unwrap_or(true)
}

fn record_config(
    common: &Common,
    record_trivial_calls: bool,
    file: &Config,
    upstream: Option<Upstream>,
) -> Result<Option<RecordConfig>> {
    let Some(upstream) = upstream else {
        return Ok(None);
    };
    let mut config = RecordConfig::new(upstream);
    config.ignore_trivial_calls = ignore_trivial(record_trivial_calls, file);
    config.redact = redactor(&common.redact, file);
    config.idle_timeout = timeout(common, file);
    config.serve.max_clients = max_clients(common, file);
    Ok(Some(config))
}

async fn run_record(args: RecordArgs, file: &Config) -> Result<ExitCode> {
    let path = cassette_path(&args.common, file)?;
    let upstream = upstream(&args.common, file)?;
    let replay = replay_config(
        &args.common,
        &ReplayFlags::default(),
        None,
        file,
        upstream.clone(),
    )?;
    let Some(record) = record_config(&args.common, args.record_trivial_calls, file, upstream)?
    else {
        bail!("record needs an upstream: pass --upstream redis://HOST:PORT");
    };
    if args.cluster || file.cluster.unwrap_or(false) {
        warn_if_insecure(Some(&record.upstream));
        return cluster_cmd::record(
            record,
            &replay,
            &listen_addr(&args.listen, file),
            &path,
            unsupported_by_cluster(&args.steer, file),
            shutdown_on_signal()?,
        )
        .await;
    }
    let first = ModeSpec::new(Mode::Record, Some(path));
    let strict = file.strict.unwrap_or(false);
    steered(
        Some(record),
        replay,
        first,
        &args.listen,
        &args.steer,
        file,
        strict,
    )
    .await
}

/// The steering options a cluster server refuses.
fn unsupported_by_cluster(steer: &Steer, file: &Config) -> cluster_cmd::Unsupported {
    cluster_cmd::Unsupported {
        admin: steer.admin.is_some() || file.admin.is_some(),
        keep_connections: steer.keep_connections || file.reset_connections_on_start == Some(false),
    }
}

/// Runs record or replay as a steerable server: binds, starts the first
/// mode, serves the control API when asked, and reports the last mode.
async fn steered(
    record: Option<RecordConfig>,
    replay: ReplayConfig,
    first: ModeSpec,
    listen_flag: &Option<String>,
    steer: &Steer,
    file: &Config,
    strict: bool,
) -> Result<ExitCode> {
    // Bound first: a recording's header names the address clients use.
    let listener = bind(&listen_addr(listen_flag, file)).await?;
    let admin = match steer.admin.as_ref().or(file.admin.as_ref()) {
        Some(text) => {
            let addr = admin_addr(text).map_err(anyhow::Error::msg)?;
            let admin = TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot serve the control API on {addr}"))?;
            if !addr.ip().is_loopback() {
                tracing::warn!("the control API on {addr} is reachable from other hosts and has no authentication");
            }
            Some(admin)
        }
        None => None,
    };
    // One rule set for every mode the server may switch to.
    let mut record = record;
    if let Some(record) = &mut record {
        record.faults = replay.faults.clone();
    }
    let faults = replay.faults.clone();
    let redact = record.as_ref().and_then(|r| r.redact.clone());
    warn_if_insecure(record.as_ref().map(|r| &r.upstream));
    let mut serve = resplay::server::ServeOptions::default();
    serve.max_clients = record
        .as_ref()
        .map(|r| r.serve.max_clients)
        .unwrap_or(replay.serve.max_clients);
    serve.tls = replay.serve.tls.clone();
    let settings = SteerSettings {
        record,
        replay,
        reset_connections_on_switch: !steer.keep_connections
            && file.reset_connections_on_start.unwrap_or(true),
        serve,
    };
    let shutdown = shutdown_on_signal()?;
    let (steering, warnings) =
        Steering::start(settings, first, listener.local_addr()?, shutdown).await?;
    print_warnings(&warnings);
    if let Some(admin) = admin {
        eprintln!("resplay: control API on http://{}", admin.local_addr()?);
        let api = steering.clone();
        tokio::spawn(async move {
            if let Err(e) = serve_api(admin, api).await {
                tracing::error!("control API stopped: {e}");
            }
        });
    }
    announce(&listener)?;
    let finished = steering.serve(listener).await;
    report_faults(&faults);
    if let (Some(r), Some(Finished::Recorded(_))) = (&redact, &finished) {
        r.warn_unmatched();
    }
    let Some(finished) = finished else {
        return Ok(ExitCode::SUCCESS);
    };
    eprintln!("resplay: {finished}");
    Ok(match &finished {
        Finished::Recorded(summary)
            if summary.writer.lost > 0 || summary.writer.error.is_some() =>
        {
            ExitCode::FAILURE
        }
        Finished::Replayed(report) if strict && report.is_strict_failure() => {
            eprintln!("resplay: --strict: failing because of missed or unused interactions");
            ExitCode::FAILURE
        }
        _ => ExitCode::SUCCESS,
    })
}

/// Prints a loader's warnings (a torn last line).
fn print_warnings(warnings: &[String]) {
    for warning in warnings {
        eprintln!("resplay: warning: {warning}");
    }
}

async fn run_replay(args: ReplayArgs, file: &Config) -> Result<ExitCode> {
    let has_admin = args.steer.admin.is_some() || file.admin.is_some();
    let cassette = args
        .common
        .cassette
        .clone()
        .or_else(|| file.cassette.clone());
    // With a control API and no cassette yet, start idle: a test session
    // names each test's cassette through POST /mode.
    let first = match cassette {
        Some(path) => ModeSpec::new(Mode::Replay, Some(path)),
        None if has_admin => ModeSpec::new(Mode::Idle, None),
        None => bail!(
            "no cassette: pass --cassette FILE (or set `cassette` in the config file), \
             or --admin ADDR to start idle and name one with POST /mode"
        ),
    };
    let upstream = upstream(&args.common, file)?;
    let config = replay_config(
        &args.common,
        &args.flags,
        args.on_miss,
        file,
        upstream.clone(),
    )?;
    if config.on_miss == OnMiss::Passthrough && config.upstream.is_none() {
        bail!("--on-miss passthrough needs --upstream");
    }
    let strict = args.flags.strict || file.strict.unwrap_or(false);
    let cluster_cassette = match &first.cassette {
        Some(path) if resplay::cassette::read_header(path)?.cluster.is_some() => Some(path),
        _ => None,
    };
    if let Some(path) = cluster_cassette {
        return cluster_cmd::replay(
            config,
            &listen_addr(&args.listen, file),
            path,
            strict,
            unsupported_by_cluster(&args.steer, file),
            shutdown_on_signal()?,
        )
        .await;
    }
    let record = record_config(&args.common, false, file, upstream)?;
    steered(
        record,
        config,
        first,
        &args.listen,
        &args.steer,
        file,
        strict,
    )
    .await
}

async fn run_wrapped(args: RunArgs, file: &Config) -> Result<ExitCode> {
    let upstream = upstream(&args.common, file)?;
    let settings = RunSettings {
        cassette: cassette_path(&args.common, file)?,
        mode: args.mode.or(file.mode).unwrap_or(RunMode::Once),
        upstream: upstream.clone(),
        ignore_trivial_calls: ignore_trivial(args.record_trivial_calls, file),
        replay: replay_config(&args.common, &args.flags, None, file, upstream)?,
        strict: args.flags.strict || file.strict.unwrap_or(false),
        cluster: args.cluster || file.cluster.unwrap_or(false),
        command: args.command,
    };
    warn_if_insecure(settings.upstream.as_ref());
    let shown = settings.cassette.display().to_string();
    let faults = settings.replay.faults.clone();
    let redact = settings.replay.redact.clone();
    let outcome = run(settings, shutdown_on_signal()?).await?;
    report_faults(&faults);
    if let (Some(r), Some(_)) = (&redact, &outcome.recorded) {
        r.warn_unmatched();
    }
    if let Some(summary) = &outcome.recorded {
        if outcome.discarded {
            eprintln!(
                "resplay: the command failed (exit {}); {shown} was not written",
                outcome.child_code
            );
        } else {
            eprintln!("resplay: {summary} into {shown}");
        }
    }
    if let Some(report) = &outcome.replayed {
        eprintln!("resplay: {report}");
        if outcome.strict_failed {
            eprintln!("resplay: --strict: failing because of missed or unused interactions");
        }
    }
    Ok(ExitCode::from(outcome.exit_code().clamp(0, 255) as u8))
}

fn show(args: &ShowArgs) -> Result<ExitCode> {
    use std::io::Write;
    let loaded = cassette::load(&args.file)?;
    print_warnings(&loaded.warnings);
    let mut stdout = std::io::stdout().lock();
    if args.json {
        let mut out = Vec::new();
        resplay::show::render_json(&loaded, &mut out);
        stdout.write_all(&out)?;
    } else {
        let mut out = String::new();
        let h = &loaded.header;
        out.push_str(&format!(
            "# resplay cassette v{}, created {}{}\n",
            h.version,
            h.created,
            h.upstream
                .as_deref()
                .map(|u| format!(", upstream {u}"))
                .unwrap_or_default()
        ));
        if let Some(cluster) = &h.cluster {
            for node in &cluster.nodes {
                let slots: Vec<String> = node
                    .slots
                    .iter()
                    .map(|[a, b]| {
                        if a == b {
                            a.to_string()
                        } else {
                            format!("{a}-{b}")
                        }
                    })
                    .collect();
                out.push_str(&format!(
                    "# cluster node {} {} {}{}\n",
                    node.addr,
                    node.role,
                    node.id,
                    if slots.is_empty() {
                        String::new()
                    } else {
                        format!(" slots {}", slots.join(","))
                    }
                ));
            }
        }
        resplay::show::render(&loaded, &mut out);
        if let Err(e) = stdout.write_all(out.as_bytes()) {
            // `resplay show c.jsonl | head` is not an error.
            if e.kind() != std::io::ErrorKind::BrokenPipe {
                return Err(e.into());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The redaction rules of the file, then the flags', under a fresh salt
/// (replay and appends use the cassette's own); None without rules.
fn redactor(flags: &[RedactRule], file: &Config) -> Option<Redactor> {
    let rules: Vec<RedactRule> = file.redact.iter().chain(flags).cloned().collect();
    (!rules.is_empty()).then(|| Redactor::new(rules, &Redactor::fresh_salt()))
}

/// `resplay redact IN OUT`.
fn redact_cassette(args: &RedactArgs, file: &Config) -> Result<ExitCode> {
    let Some(rules) = redactor(&args.redact, file) else {
        bail!("no redaction rules: pass --redact RULE (or [[redact]] in the config file)");
    };
    let (report, used) = resplay::redact::redact_file(&args.input, &args.output, &rules)?;
    print_warnings(&report.warnings);
    eprintln!(
        "resplay: redacted {} interaction(s); {} line(s) written to {}",
        report.redacted,
        report.lines,
        args.output.display()
    );
    used.warn_unmatched();
    Ok(ExitCode::SUCCESS)
}

/// `resplay diff OLD NEW`: exit 0 when equivalent, 1 when they differ, 2
/// when a cassette cannot be read (as `diff` and `cmp` do).
fn diff(args: &DiffArgs, file: &Config) -> ExitCode {
    use std::io::Write;
    let load = |path: &PathBuf| {
        let loaded = cassette::load(path)?;
        print_warnings(&loaded.warnings);
        Ok::<_, cassette::CassetteError>(loaded)
    };
    let (old, new) = match (load(&args.old), load(&args.new)) {
        (Ok(old), Ok(new)) => (old, new),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("resplay: {e}");
            return ExitCode::from(2);
        }
    };
    let mut rules = file.ignore.clone();
    rules.extend(args.ignore.iter().cloned());
    let found = resplay::diff::diff(&old, &new, &rules);
    let out = if args.json {
        let mut out = Vec::new();
        resplay::diff::render_json(&found, &mut out);
        out
    } else {
        let name = |p: &PathBuf| p.display().to_string();
        resplay::diff::render_text(&found, (&name(&args.old), &old), (&name(&args.new), &new))
            .into_bytes()
    };
    if let Err(e) = std::io::stdout().lock().write_all(&out) {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("resplay: cannot write the diff: {e}");
            return ExitCode::from(2);
        }
    }
    ExitCode::from(u8::from(!found.is_empty()))
}
