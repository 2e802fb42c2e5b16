//! The `resplay` command line.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use resplay::cassette::{self, Header, WriteMode};
use resplay::record::{record, RecordConfig};
use resplay::replay::{replay, IgnoreRule, OnMiss, ReplayConfig, Timing};
use resplay::upstream::Upstream;

/// Record Redis traffic into a cassette; replay it as a stand-in Redis.
#[derive(Parser)]
#[command(name = "resplay", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Proxy to a real Redis and write every exchange to a cassette.
    Record(RecordArgs),
    /// Serve a cassette as a stand-in Redis server.
    Replay(ReplayArgs),
}

#[derive(clap::Args)]
struct ReplayArgs {
    /// The cassette to serve.
    #[arg(long)]
    cassette: PathBuf,
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:6380")]
    listen: String,
    /// What a command with no recording gets.
    #[arg(long, value_enum, default_value_t = OnMiss::Error)]
    on_miss: OnMiss,
    /// The real Redis for `--on-miss passthrough`.
    #[arg(long)]
    upstream: Option<String>,
    /// `recorded` keeps the recorded reply durations and push gaps.
    #[arg(long, value_enum, default_value_t = Timing::None)]
    timing: Timing,
    /// Exit non-zero if any command missed or any recording went unused.
    #[arg(long)]
    strict: bool,
    /// Once identical recordings are used up, miss instead of repeating the last.
    #[arg(long)]
    no_repeat: bool,
    /// Ignore volatile arguments, e.g. --ignore 'SET lock:* <any> PX <any>' (repeatable).
    #[arg(long = "ignore", value_name = "RULE")]
    ignore: Vec<IgnoreRule>,
    /// Close clients idle this long (0 = never).
    #[arg(long, default_value_t = 0)]
    timeout_seconds: u64,
    /// Refuse clients beyond this many, as Redis does.
    #[arg(long, default_value_t = resplay::server::DEFAULT_MAX_CLIENTS)]
    max_clients: usize,
}

#[derive(clap::Args)]
struct RecordArgs {
    /// The real Redis: redis://[user:pass@]host:port[/db].
    #[arg(long)]
    upstream: String,
    /// The cassette file to write (JSON Lines).
    #[arg(long)]
    cassette: PathBuf,
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:6380")]
    listen: String,
    /// Also record handshake calls (PING, HELLO, AUTH, SELECT, ECHO, CLIENT SETNAME/SETINFO).
    #[arg(long)]
    record_trivial_calls: bool,
    /// Connect timeout for the upstream, and idle timeout for clients with
    /// nothing in flight (0 = no idle timeout).
    #[arg(long, default_value_t = 0)]
    timeout_seconds: u64,
    /// Refuse clients beyond this many, as Redis does.
    #[arg(long, default_value_t = resplay::server::DEFAULT_MAX_CLIENTS)]
    max_clients: usize,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RESPLAY_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
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

async fn dispatch(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Record(args) => run_record(args).await,
        Command::Replay(args) => run_replay(args).await,
    }
}

/// Binds the listener and prints the one line tools wait for.
async fn listen(addr: &str) -> Result<TcpListener> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    eprintln!("resplay: listening on {local}");
    Ok(listener)
}

/// A token cancelled on Ctrl-C or SIGTERM.
fn shutdown_on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let fire = token.clone();
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let term = signal(SignalKind::terminate());
            match term {
                Ok(mut term) => {
                    tokio::select! {
                        _ = tokio::signal::ctrl_c() => {}
                        _ = term.recv() => {}
                    }
                }
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        fire.cancel();
    });
    token
}

async fn run_record(args: RecordArgs) -> Result<ExitCode> {
    let mut upstream = Upstream::parse(&args.upstream)?;
    if args.timeout_seconds > 0 {
        upstream.connect_timeout = Duration::from_secs(args.timeout_seconds);
    }
    let header = Header::new(Some(upstream.addr.clone()));
    let writer = cassette::CassetteWriter::open(&args.cassette, &header, WriteMode::Create)
        .await
        .with_context(|| format!("cannot record to {}", args.cassette.display()))?;
    let mut config = RecordConfig::new(upstream);
    config.ignore_trivial_calls = !args.record_trivial_calls;
    config.idle_timeout =
        (args.timeout_seconds > 0).then(|| Duration::from_secs(args.timeout_seconds));
    config.serve.max_clients = args.max_clients;
    let listener = listen(&args.listen).await?;
    let shutdown = shutdown_on_signal();
    let summary = record(listener, config, writer, shutdown).await;
    eprintln!("resplay: {summary}");
    Ok(
        if summary.writer.lost > 0 || summary.writer.error.is_some() {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        },
    )
}

/// Loads a cassette, printing its warnings (a torn last line).
fn load_cassette(path: &std::path::Path) -> Result<cassette::Cassette> {
    let loaded = cassette::load(path)?;
    for warning in &loaded.warnings {
        eprintln!("resplay: warning: {warning}");
    }
    Ok(loaded)
}

async fn run_replay(args: ReplayArgs) -> Result<ExitCode> {
    let loaded = load_cassette(&args.cassette)?;
    let upstream = args.upstream.as_deref().map(Upstream::parse).transpose()?;
    if args.on_miss == OnMiss::Passthrough && upstream.is_none() {
        anyhow::bail!("--on-miss passthrough needs --upstream");
    }
    let mut config = ReplayConfig {
        rules: args.ignore,
        repeat: !args.no_repeat,
        on_miss: args.on_miss,
        upstream,
        timing: args.timing,
        idle_timeout: (args.timeout_seconds > 0).then(|| Duration::from_secs(args.timeout_seconds)),
        ..ReplayConfig::default()
    };
    config.serve.max_clients = args.max_clients;
    let listener = listen(&args.listen).await?;
    let report = replay(listener, loaded, config, shutdown_on_signal()).await;
    eprintln!("resplay: {report}");
    if args.strict && report.is_strict_failure() {
        eprintln!("resplay: --strict: failing because of missed or unused interactions");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
