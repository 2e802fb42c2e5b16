//! `resplay show FILE`: a cassette printed readably (or as canonical JSON
//! lines), which also checks it: the loader names a bad line by number.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

use resplay::cassette;

use super::report::print_warnings;

/// The flags of `resplay show`.
#[derive(clap::Args)]
pub struct ShowArgs {
    /// The cassette to print.
    file: PathBuf,
    /// Print canonical JSON lines instead of the readable listing.
    #[arg(long)]
    json: bool,
}

/// Prints the cassette to stdout; a closed pipe (`| head`) is not an error.
pub fn run(args: &ShowArgs) -> Result<ExitCode> {
    let loaded = cassette::load(&args.file)?;
    print_warnings(&loaded.warnings);
    let mut stdout = std::io::stdout().lock();
    if args.json {
        let mut out = Vec::new();
        resplay::show::render_json(&loaded, &mut out);
        stdout.write_all(&out)?;
    } else {
        let mut out = String::new();
        let h = &loaded.header;
        out.push_str(&format!(
            "# resplay cassette v{}, created {}{}\n",
            h.version,
            h.created,
            h.upstream
                .as_deref()
                .map(|u| format!(", upstream {u}"))
                .unwrap_or_default()
        ));
        if let Some(cluster) = &h.cluster {
            for node in &cluster.nodes {
                let slots: Vec<String> = node
                    .slots
                    .iter()
                    .map(|[a, b]| {
                        if a == b {
                            a.to_string()
                        } else {
                            format!("{a}-{b}")
                        }
                    })
                    .collect();
                out.push_str(&format!(
                    "# cluster node {} {} {}{}\n",
                    node.addr,
                    node.role,
                    node.id,
                    if slots.is_empty() {
                        String::new()
                    } else {
                        format!(" slots {}", slots.join(","))
                    }
                ));
            }
        }
        resplay::show::render(&loaded, &mut out);
        resplay::show::render_tokens(&loaded, &mut out);
        if let Err(e) = stdout.write_all(out.as_bytes()) {
            // `resplay show c.jsonl | head` is not an error.
            if e.kind() != std::io::ErrorKind::BrokenPipe {
                return Err(e.into());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
