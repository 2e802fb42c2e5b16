//! `resplay record`: proxy to a real Redis and write every exchange to a
//! cassette, as one steerable server or, with `--cluster`, a listener per
//! node.

use std::process::ExitCode;

use anyhow::{bail, Result};

use resplay::config::Config;
use resplay::control::{Mode, ModeSpec};

use super::args::{Common, ReplayFlags, Steer};
use super::cluster::{self, Unsupported};
use super::report::warn_if_insecure;
use super::serve::steered;
use super::settings;
use super::signal::shutdown_on_signal;

/// The flags of `resplay record`.
#[derive(clap::Args)]
pub struct RecordArgs {
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
    /// Relay but do not record commands matching this pattern (the --ignore
    /// syntax; a bare name = any arguments), e.g. --exclude 'INFO ...' (repeatable).
    #[arg(long = "exclude", value_name = "PATTERN")]
    exclude: Vec<resplay::exclude::ExcludeRule>,
    /// Once the cassette cannot be written (disk full): `continue` relaying
    /// (and exit non-zero, naming what was lost), or `stop`: refuse new
    /// connections and commands with an error [default: continue].
    #[arg(long, value_enum, value_name = "continue|stop")]
    on_write_error: Option<resplay::record::OnWriteError>,
}

/// Records until a signal; fails when the cassette lost lines.
pub async fn run(args: RecordArgs, file: &Config) -> Result<ExitCode> {
    let path = settings::cassette(&args.common, file)?;
    let upstream = settings::upstream(&args.common, file)?;
    // The listener's TLS and the faults are replay settings too: made here
    // for whichever mode the server later switches to.
    let replay = settings::replay_config(
        &args.common,
        &ReplayFlags::default(),
        None,
        file,
        upstream.clone(),
    )?;
    let Some(mut record) =
        settings::record_config(&args.common, args.record_trivial_calls, file, upstream)
    else {
        bail!("record needs an upstream: pass --upstream redis://HOST:PORT");
    };
    record.exclude = settings::exclude_rules(&args.exclude, file);
    record.on_write_error = settings::on_write_error(args.on_write_error, file);
    let listen = settings::listen(&args.listen, file);
    if settings::cluster(args.cluster, file) {
        warn_if_insecure(Some(&record.upstream));
        return cluster::record(
            record,
            &replay,
            &listen,
            &path,
            Unsupported::of(&args.steer, file),
            shutdown_on_signal()?,
        )
        .await;
    }
    let first = ModeSpec::new(Mode::Record, Some(path));
    // No --strict flag on record: the file's key still applies after a
    // switch to replay.
    let strict = settings::strict(false, file);
    steered(
        Some(record),
        replay,
        first,
        &listen,
        &args.steer,
        file,
        strict,
    )
    .await
}
