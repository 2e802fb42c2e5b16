//! `resplay conform CASSETTE --target URL`: the cassette's commands driven
//! against another server, its replies compared with the recorded ones.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use resplay::cassette;
use resplay::conform::load::{load, Speed};
use resplay::conform::{compare, conform, ConformConfig};
use resplay::pattern::CommandPattern;
use resplay::tls::UpstreamTlsOptions;
use resplay::upstream::Upstream;

use super::report::print_warnings;
use super::settings;

/// The flags of `resplay conform`.
#[derive(clap::Args)]
pub struct ConformArgs {
    /// The cassette whose commands are sent.
    cassette: PathBuf,
    /// The server to drive: redis://[user:pass@]host:port[/db] or rediss://…
    /// (its credentials stand in for the cassette's redacted passwords).
    #[arg(long, value_name = "URL")]
    target: String,
    /// The cassette is a cluster recording and the target a node of a
    /// cluster: each connection talks to the node serving its recorded node's slots.
    #[arg(long)]
    cluster: bool,
    /// Run FLUSHALL on the target first (on every primary of a cluster; it must be data you may wipe).
    #[arg(long)]
    flush: bool,
    /// Run even though the target holds data, or is the cassette's own upstream.
    #[arg(long)]
    allow_nonempty: bool,
    /// Also send what changes the server itself (CONFIG SET, SHUTDOWN, DEBUG,
    /// REPLICAOF, SAVE…) and MONITOR/SYNC; skipped and listed otherwise.
    #[arg(long = "unsafe")]
    send_unsafe: bool,
    /// How far TTL, PTTL, EXPIRETIME… may differ and still be the same, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 2.0)]
    ttl_tolerance: f64,
    /// Declare a command's reply volatile: counted, never a difference
    /// (a command pattern as for --ignore, e.g. 'GET session:*'; repeatable).
    #[arg(long = "volatile", value_name = "RULE")]
    volatile: Vec<String>,
    /// How many examples each kind of difference lists.
    #[arg(long, value_name = "N", default_value_t = 3)]
    examples: usize,
    /// One JSON object a line (each difference, then the summary).
    #[arg(long)]
    json: bool,
    /// `1x`, `2x`, `0.5x`…: the recorded pacing scaled; `max`: as fast as the target answers.
    #[arg(long, value_name = "SPEED", default_value = "max")]
    speed: Speed,
    /// Play it as a load test: replies not compared, nor the recorded order
    /// across connections; throughput and latency percentiles reported.
    #[arg(long)]
    load: bool,
    /// Load test: play the cassette N times in a row.
    #[arg(long = "loop", value_name = "N", default_value_t = 1)]
    loops: usize,
    /// Load test: play each recorded connection K times at once, keys shared.
    #[arg(long, value_name = "K", default_value_t = 1)]
    connections_scale: usize,
    /// Connect timeout for the target.
    #[arg(long, value_name = "SECONDS")]
    timeout_seconds: Option<u64>,
    /// Target TLS (rediss://): trust this CA (PEM) instead of the system roots.
    #[arg(long, value_name = "FILE")]
    tls_ca_file: Option<PathBuf>,
    /// Target TLS: client certificate (PEM) for mutual TLS.
    #[arg(long, value_name = "FILE")]
    tls_cert: Option<PathBuf>,
    /// Target TLS: the client certificate's key (PEM).
    #[arg(long, value_name = "FILE")]
    tls_key: Option<PathBuf>,
    /// Target TLS: check the server's certificate against (and send as SNI) this name.
    #[arg(long, value_name = "NAME")]
    tls_server_name: Option<String>,
    /// Target TLS: do not verify the server's certificate.
    #[arg(long)]
    tls_insecure: bool,
}

/// Exit 0 when the target conforms, 1 when any reply differs, 2 when no
/// run could be made (as `diff` does).
pub async fn run(args: ConformArgs) -> ExitCode {
    match run_checked(args).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("resplay: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run_checked(args: ConformArgs) -> anyhow::Result<ExitCode> {
    let loaded = cassette::load(&args.cassette)?;
    print_warnings(&loaded.warnings);
    let mut target = Upstream::parse(&args.target)?;
    if let Some(seconds) = args.timeout_seconds {
        target.connect_timeout = Duration::from_secs(seconds);
    }
    settings::with_tls(
        &mut target,
        UpstreamTlsOptions {
            ca_file: args.tls_ca_file.clone(),
            cert: args.tls_cert.clone(),
            key: args.tls_key.clone(),
            server_name: args.tls_server_name.clone(),
            insecure: args.tls_insecure,
        },
    )?;
    if !(args.ttl_tolerance.is_finite() && args.ttl_tolerance >= 0.0) {
        anyhow::bail!("--ttl-tolerance must be a number of seconds, 0 or more");
    }
    let volatile = args
        .volatile
        .iter()
        .map(|rule| {
            CommandPattern::parse(rule)
                .map(CommandPattern::for_faults)
                .map_err(|reason| anyhow::anyhow!("invalid --volatile rule '{rule}': {reason}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    if args.flush {
        eprintln!(
            "resplay: conform: FLUSHALL on {} first (--flush)",
            target.addr
        );
    }
    let config = ConformConfig {
        target,
        flush: args.flush,
        allow_nonempty: args.allow_nonempty,
        send_unsafe: args.send_unsafe,
        options: compare::Options {
            ttl_tolerance_ms: (args.ttl_tolerance * 1000.0).round() as u64,
        },
        volatile,
        examples: args.examples,
        speed: args.speed.factor(),
        cluster: args.cluster,
    };
    if args.loops == 0 || args.connections_scale == 0 {
        anyhow::bail!("--loop and --connections-scale count from 1");
    }
    if args.load || args.loops > 1 || args.connections_scale > 1 {
        let report = load(
            &loaded,
            &config,
            args.speed,
            args.loops,
            args.connections_scale,
        )
        .await?;
        let out = if args.json {
            report.render_json()
        } else {
            report.render_text()
        };
        write_out(&out)?;
        // A load test fails only when commands went unanswered.
        return Ok(ExitCode::from(u8::from(report.unanswered > 0)));
    }
    let report = conform(&loaded, &config).await?;
    let out = if args.json {
        report.render_json()
    } else {
        report.render_text()
    };
    write_out(&out)?;
    Ok(ExitCode::from(u8::from(!report.conforms())))
}

/// Writes the report to stdout; a closed pipe (`| head`) is not an error.
fn write_out(out: &str) -> anyhow::Result<()> {
    if let Err(e) = std::io::stdout().lock().write_all(out.as_bytes()) {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            anyhow::bail!("cannot write the report: {e}");
        }
    }
    Ok(())
}
