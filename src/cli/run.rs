//! `resplay run -- COMMAND`: the command runs with REDIS_URL pointing at
//! resplay, which records or replays by the VCR mode; the library's
//! [`resplay::run`] does the work, this reports it and picks the exit
//! status.

use std::process::ExitCode;

use anyhow::Result;

use resplay::config::{Config, RunMode};
use resplay::run::RunSettings;

use super::args::{Common, ReplayFlags};
use super::report::{report_faults, warn_if_insecure};
use super::settings;
use super::signal::shutdown_on_signal;

/// The flags of `resplay run`.
#[derive(clap::Args)]
pub struct RunArgs {
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
    /// Relay but do not record commands matching this pattern (the --ignore
    /// syntax; a bare name = any arguments), e.g. --exclude 'INFO ...' (repeatable).
    #[arg(long = "exclude", value_name = "PATTERN")]
    exclude: Vec<resplay::exclude::ExcludeRule>,
    /// Record the cassette again once it is older than this (by its header's
    /// `created`), e.g. 30d; without --upstream warn (fail with --strict).
    #[arg(long, value_name = "AGE", value_parser = humantime::parse_duration)]
    max_age: Option<std::time::Duration>,
    /// Record the command twice (the second recording beside the cassette,
    /// NAME.second.jsonl) and propose ignore rules from the two, as
    /// `resplay learn` does.
    #[arg(long)]
    learn: bool,
    /// When recording, once the cassette cannot be written (disk full):
    /// `continue` relaying (the run then fails, naming what was lost), or
    /// `stop`: refuse new connections and commands with an error [default: continue].
    #[arg(long, value_enum, value_name = "continue|stop")]
    on_write_error: Option<resplay::record::OnWriteError>,
    /// The command to run, after `--`.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    command: Vec<String>,
}

/// Runs the command; exits with its status, or 1 for a `--strict` failure.
pub async fn run(args: RunArgs, file: &Config) -> Result<ExitCode> {
    let upstream = settings::upstream(&args.common, file)?;
    let run_settings = RunSettings {
        cassette: settings::cassette(&args.common, file)?,
        mode: settings::run_mode(args.mode, file),
        upstream: upstream.clone(),
        ignore_trivial_calls: settings::ignore_trivial(args.record_trivial_calls, file),
        replay: settings::replay_config(&args.common, &args.flags, None, file, upstream)?,
        strict: settings::strict(args.flags.strict, file),
        cluster: settings::cluster(args.cluster, file),
        exclude: settings::exclude_rules(&args.exclude, file),
        max_age: settings::max_age(args.max_age, file),
        on_write_error: settings::on_write_error(args.on_write_error, file),
        command: args.command,
        report: args
            .flags
            .report
            .clone()
            .map(|out| (out, super::report::report_writer())),
    };
    warn_if_insecure(run_settings.upstream.as_ref());
    if args.learn {
        return learn_twice(run_settings).await;
    }
    let shown = run_settings.cassette.display().to_string();
    let faults = run_settings.replay.faults.clone();
    let redact = run_settings.replay.redact.clone();
    let outcome = resplay::run::run(run_settings, shutdown_on_signal()?).await?;
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
    match &outcome.html_report {
        Some(Ok(path)) => eprintln!("resplay: report: {}", path.display()),
        Some(Err(e)) => eprintln!("resplay: {e}"),
        None => {}
    }
    Ok(ExitCode::from(outcome.exit_code().clamp(0, 255) as u8))
}

/// `run --learn`: records the command twice against the upstream, then
/// proposes rules for what differed (the first recording is the cassette).
async fn learn_twice(settings: RunSettings) -> Result<ExitCode> {
    if settings.upstream.is_none() {
        anyhow::bail!(
            "--learn records the command twice: it needs --upstream (or REDIS_URL in the config)"
        );
    }
    let first = settings.cassette.clone();
    let second = super::learn::second_path(&first);
    for cassette in [&first, &second] {
        let run = RunSettings {
            cassette: cassette.clone(),
            mode: RunMode::All,
            ..settings.clone()
        };
        let outcome = resplay::run::run(run, shutdown_on_signal()?).await?;
        if outcome.discarded || outcome.child_code != 0 {
            eprintln!(
                "resplay: the command failed (exit {}); nothing to learn from",
                outcome.child_code
            );
            return Ok(ExitCode::from(outcome.child_code.clamp(1, 255) as u8));
        }
        eprintln!("resplay: recorded {}", cassette.display());
    }
    super::learn::learn_and_print(&[first, second], &settings.replay.rules)?;
    Ok(ExitCode::SUCCESS)
}
