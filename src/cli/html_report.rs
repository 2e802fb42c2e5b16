//! `resplay report CASSETTE [-o FILE]`: the cassette as one self-contained
//! HTML page (see `resplay::report` and docs/report.md).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

use super::report::print_warnings;

/// The flags of `resplay report`.
#[derive(clap::Args)]
pub struct HtmlReportArgs {
    /// The cassette to report on.
    cassette: PathBuf,
    /// Where to write the page.
    #[arg(short, long, value_name = "FILE", default_value = "report.html")]
    output: PathBuf,
}

/// Writes the report and says where it went.
pub fn run(args: &HtmlReportArgs) -> Result<ExitCode> {
    let stats = resplay::report::write_report(&args.cassette, None, &args.output)?;
    print_warnings(&stats.warnings);
    eprintln!(
        "resplay: wrote {} ({} interactions, {} connections; {} timeline marks{}; {} bytes)",
        args.output.display(),
        stats.interactions,
        stats.connections,
        stats.marks,
        if stats.sampled { ", sampled" } else { "" },
        stats.bytes
    );
    Ok(ExitCode::SUCCESS)
}
