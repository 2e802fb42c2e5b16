//! `resplay import`: a cassette from The Protocol Master's or Keploy's
//! recordings (the conversion is the library's [`resplay::import`]).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

use super::report::print_warnings;

/// The flags of `resplay import`.
#[derive(clap::Args)]
pub struct ImportArgs {
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

/// Writes the cassette; what could not be carried over is a warning.
pub fn run(args: &ImportArgs) -> Result<ExitCode> {
    let warnings = resplay::import::run(args.from, &args.files, &args.out)?;
    print_warnings(&warnings);
    Ok(ExitCode::SUCCESS)
}
