//! `resplay diff OLD NEW`: what a re-recording changed, in commands.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use resplay::cassette;
use resplay::config::Config;
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
pub fn run(args: &DiffArgs, file: &Config) -> ExitCode {
    let load = |path: &PathBuf| {
        let loaded = cassette::load(path)?;
        print_warnings(&loaded.warnings);
        Ok::<_, cassette::CassetteError>(loaded)
    };
    let (old, new) = match (load(&args.old), load(&args.new)) {
        (Ok(old), Ok(new)) => (old, new),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("resplay: {e}");
            return ExitCode::from(2);
        }
    };
    let rules = settings::ignore_rules(&args.ignore, file);
    let found = resplay::diff::diff(&old, &new, &rules);
    let out = if args.json {
        let mut out = Vec::new();
        resplay::diff::render_json(&found, &mut out);
        out
    } else {
        let name = |p: &PathBuf| p.display().to_string();
        resplay::diff::render_text(&found, (&name(&args.old), &old), (&name(&args.new), &new))
            .into_bytes()
    };
    if let Err(e) = std::io::stdout().lock().write_all(&out) {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("resplay: cannot write the diff: {e}");
            return ExitCode::from(2);
        }
    }
    ExitCode::from(u8::from(!found.is_empty()))
}
