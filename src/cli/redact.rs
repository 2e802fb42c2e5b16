//! `resplay redact IN OUT`: redaction rules applied to a cassette already
//! written (see docs/redaction.md).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Result};

use resplay::config::Config;
use resplay::redact::RedactRule;

use super::report::print_warnings;
use super::settings;

/// The flags of `resplay redact`.
#[derive(clap::Args)]
pub struct RedactArgs {
    /// The cassette to read.
    input: PathBuf,
    /// Where to write the redacted cassette (may be the input).
    output: PathBuf,
    /// A redaction rule, e.g. --redact 'GET session:* => reply' (repeatable).
    #[arg(long = "redact", value_name = "RULE")]
    redact: Vec<RedactRule>,
}

/// Rewrites the cassette; a rule that matched nothing is a warning.
pub fn run(args: &RedactArgs, file: &Config) -> Result<ExitCode> {
    let Some(rules) = settings::redactor(&args.redact, file) else {
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
