//! `resplay replay`: serve a cassette as a stand-in Redis, as one
//! steerable server or, for a cluster cassette, a listener per node.

use std::process::ExitCode;

use anyhow::{bail, Result};

use resplay::config::Config;
use resplay::control::{Mode, ModeSpec};
use resplay::replay::OnMiss;

use super::args::{Common, ReplayFlags, Steer};
use super::cluster::{self, Unsupported};
use super::serve::steered;
use super::settings;
use super::signal::shutdown_on_signal;

/// The flags of `resplay replay`.
#[derive(clap::Args)]
pub struct ReplayArgs {
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
    /// When the replay ends without a miss, write the cassette without the
    /// interactions it left unused to OUT (may be the cassette itself).
    #[arg(long, value_name = "OUT")]
    write_pruned: Option<std::path::PathBuf>,
}

/// A cassette with no interactions, in the temp directory, for stubs to
/// answer in front of.
fn empty_cassette() -> Result<std::path::PathBuf> {
    let path = std::env::temp_dir().join(format!("resplay-stubs-{}.jsonl", std::process::id()));
    let mut line = Vec::new();
    resplay::cassette::Header::new(None).write_line(&mut line);
    std::fs::write(&path, line)?;
    Ok(path)
}

/// Replays until a signal; with `--strict`, fails on misses or unused
/// recordings.
pub async fn run(args: ReplayArgs, file: &Config) -> Result<ExitCode> {
    let has_admin = settings::admin(&args.steer, file).is_some();
    // With a control API and no cassette yet, start idle: a test session
    // names each test's cassette through POST /mode.
    let mut first = match settings::cassette_if_any(&args.common, file) {
        Some(path) => ModeSpec::new(Mode::Replay, Some(path)),
        // Stubs alone: a cassette with nothing in it behind them.
        None if args.flags.stubs.is_some() => ModeSpec::new(Mode::Replay, Some(empty_cassette()?)),
        None if has_admin => ModeSpec::new(Mode::Idle, None),
        None => bail!(
            "no cassette: pass --cassette FILE (or set `cassette` in the config file), \
             or --admin ADDR to start idle and name one with POST /mode"
        ),
    };
    let upstream = settings::upstream(&args.common, file)?;
    let config = settings::replay_config(
        &args.common,
        &args.flags,
        args.on_miss,
        file,
        upstream.clone(),
    )?;
    if config.on_miss == OnMiss::Passthrough && config.upstream.is_none() {
        bail!("--on-miss passthrough needs --upstream");
    }
    if let Some(report) = &args.flags.report {
        if first.mode != Mode::Replay {
            bail!(
                "--report draws the cassette replayed: it needs --cassette (a server started \
                 idle names a report with each switch: POST /mode {{\"report\": FILE}})"
            );
        }
        first.report = Some(std::path::absolute(report)?);
    }
    if let Some(out) = &args.write_pruned {
        if first.mode != Mode::Replay {
            bail!(
                "--write-pruned prunes the cassette replayed: it needs --cassette (a server \
                 started idle names one with each switch: POST /mode {{\"write_pruned\": OUT}})"
            );
        }
        first.write_pruned = Some(std::path::absolute(out)?);
    }
    let strict = settings::strict(args.flags.strict, file);
    let listen = settings::listen(&args.listen, file);
    let cluster_cassette = match &first.cassette {
        Some(path) if resplay::cassette::read_header(path)?.cluster.is_some() => Some(path),
        _ => None,
    };
    if let Some(path) = cluster_cassette {
        if first.report.is_some() || first.write_pruned.is_some() {
            bail!(
                "{} is a cluster cassette: --report and --write-pruned do not cover a cluster's yet",
                path.display()
            );
        }
        return cluster::replay(
            config,
            &listen,
            path,
            strict,
            Unsupported::of(&args.steer, file),
            shutdown_on_signal()?,
        )
        .await;
    }
    // With an upstream, the control API may switch this server to
    // recording.
    let record = settings::record_config(&args.common, false, file, upstream);
    steered(record, config, first, &listen, &args.steer, file, strict).await
}
