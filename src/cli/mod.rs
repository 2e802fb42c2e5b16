//! The `resplay` command line: the subcommands, and which module runs each.
//!
//! - [`args`]: the flag groups several subcommands share (upstream, TLS,
//!   faults, redaction, steering, replay behaviour).
//! - [`settings`]: flags over the config file, one function per setting
//!   with its flag, config key, default and conflicts.
//! - One module per subcommand: [`record`], [`replay`], [`run`], [`show`],
//!   [`ctl`], [`import`], [`redact`], [`diff`], [`conform`]; each holds its own flags
//!   and its runner.
//! - What record and replay share to run: [`serve`] (one steerable server),
//!   [`cluster`] (a listener per node), [`signal`] (stopping on Ctrl-C or
//!   SIGTERM), [`report`] (warnings and fault counts on stderr).
//!
//! The work itself is the library's; these modules turn flags into its
//! configs and its results into output and an exit status.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

use resplay::config::{self, Config};

mod age;
mod args;
mod cluster;
mod conform;
mod ctl;
mod diff;
mod html_report;
mod import;
mod learn;
mod record;
mod redact;
mod replay;
mod report;
mod run;
mod serve;
mod settings;
mod show;
mod signal;

/// Record Redis traffic into a cassette; replay it as a stand-in Redis.
#[derive(Parser)]
#[command(name = "resplay", version, about)]
pub struct Cli {
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
    Record(record::RecordArgs),
    /// Serve a cassette as a stand-in Redis server.
    Replay(replay::ReplayArgs),
    /// Run a command with REDIS_URL pointing at resplay (records the first time, replays after).
    Run(run::RunArgs),
    /// Print a cassette readably (and check it: a bad line is reported by number).
    Show(show::ShowArgs),
    /// Steer a running resplay through its control API (--admin).
    Ctl(ctl::CtlArgs),
    /// Write a cassette from The Protocol Master's or Keploy's recordings.
    Import(import::ImportArgs),
    /// Apply redaction rules to an existing cassette (see docs/redaction.md).
    Redact(redact::RedactArgs),
    /// List the interactions added, removed or answered differently between two cassettes.
    Diff(diff::DiffArgs),
    /// Send a cassette's commands to another server and report the replies that differ.
    Conform(conform::ConformArgs),
    /// Write a cassette (and a replay's outcome) as one self-contained HTML report.
    Report(html_report::HtmlReportArgs),
    /// Propose ignore rules from two or more recordings of the same test run.
    Learn(learn::LearnArgs),
    /// Say whether a cassette is older than --max-age (by its header's created; exit 1 if so).
    Age(age::AgeArgs),
}

impl Cli {
    /// The async runtime: one thread unless `--threads` says otherwise.
    /// resplay shares its machine with the application under test and with
    /// Redis, and there a second runtime thread mostly adds wake-ups and
    /// cross-core hand-offs. Measured on two cores: pipelined replay went
    /// from 0.82-1.08x to 1.04-1.27x of direct Redis, and recording cost
    /// 13-15 instead of 17-18 µs of CPU per request at pipeline 1 (1.4
    /// instead of 1.5-1.7 at pipeline 16).
    pub fn runtime(&self) -> std::io::Result<tokio::runtime::Runtime> {
        match self.threads {
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

    /// Loads the config file, then runs the subcommand. The file is read
    /// for every subcommand, even those without settings in it, so a bad
    /// `--config` is reported wherever it is given.
    pub async fn dispatch(self) -> Result<ExitCode> {
        let file = match &self.config {
            Some(path) => config::load(path)?,
            None => Config::default(),
        };
        match self.command {
            Command::Record(args) => record::run(args, &file).await,
            Command::Replay(args) => replay::run(args, &file).await,
            Command::Run(args) => run::run(args, &file).await,
            Command::Show(args) => show::run(&args),
            Command::Ctl(args) => ctl::run(args).await,
            Command::Import(args) => import::run(&args),
            Command::Redact(args) => redact::run(&args, &file),
            Command::Diff(args) => Ok(diff::run(&args, &file)),
            Command::Conform(args) => Ok(conform::run(args).await),
            Command::Report(args) => html_report::run(&args),
            Command::Learn(args) => learn::run(args),
            Command::Age(args) => age::run(&args),
        }
    }
}
