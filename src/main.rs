//! The `resplay` binary: logging, the runtime, and the command line in
//! [`cli`], which hands the work to the library.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

mod cli;

/// mimalloc rather than glibc's malloc: values are built on one runtime
/// thread and freed on another (the cassette writer), and glibc's arena
/// locks showed up as a sixth of the recorder's time under load. Its `v2`
/// line: the crate's default (v3) took its generic aligned path for every
/// Rust allocation, about twice the instructions (callgrind, replay P16).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    let cli = cli::Cli::parse();
    let runtime = match cli.runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("resplay: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli.dispatch()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("resplay: {e:#}");
            ExitCode::FAILURE
        }
    }
}
