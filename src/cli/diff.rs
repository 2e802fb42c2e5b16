//! `resplay diff OLD NEW`: what a re-recording changed, in commands.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use resplay::config::Config;
use resplay::diff::DiffError;
use resplay::replay::IgnoreRule;

use super::report::print_warnings;
use super::settings;

/// The flags of `resplay diff`.
#[derive(clap::Args)]
pub struct DiffArgs {
    /// The cassette before (e.g. the committed one).
    old: PathBuf,
    /// The cassette after (e.g. the re-recording).
    new: PathBuf,
    /// Ignore volatile arguments, as replay does, e.g. --ignore 'SET lock:* <any> PX <any>' (repeatable).
    #[arg(long = "ignore", value_name = "RULE")]
    ignore: Vec<IgnoreRule>,
    /// One JSON object a line per change instead of the listing.
    #[arg(long)]
    json: bool,
}

/// Exit 0 when equivalent, 1 when they differ, 2 when a cassette cannot be
/// read (as `diff` and `cmp` do), which is why this returns no `Result`: an
/// error must not become the usual exit status 1.
///
/// Both files are read once to compare (nothing is printed if either is
/// bad), then again for the changes shown: see `resplay::diff::diff_files`.
pub fn run(args: &DiffArgs, file: &Config) -> ExitCode {
    let rules = settings::ignore_rules(&args.ignore, file);
    let found = match resplay::diff::diff_files(&args.old, &args.new, &rules) {
        Ok(found) => found,
        Err(e) => {
            eprintln!("resplay: {e}");
            return ExitCode::from(2);
        }
    };
    let warnings: Vec<String> = found.warnings().cloned().collect();
    print_warnings(&warnings);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let name = |p: &PathBuf| p.display().to_string();
    let written = if args.json {
        found.write_json(&mut out)
    } else {
        found.write_text(&name(&args.old), &name(&args.new), &mut out)
    }
    .and_then(|()| out.flush().map_err(DiffError::from));
    match written {
        Err(DiffError::Write(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        Err(e) => {
            eprintln!("resplay: {e}");
            return ExitCode::from(2);
        }
        Ok(()) => {}
    }
    ExitCode::from(u8::from(!found.is_empty()))
}
