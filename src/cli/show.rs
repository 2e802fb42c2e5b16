//! `resplay show FILE`: a cassette printed readably (or as canonical JSON
//! lines), which also checks it: the loader names a bad line by number.
//!
//! It prints as it reads, one event at a time, so a cassette of millions of
//! interactions is listed without holding it: a bad line stops the listing
//! there, with the error.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

use resplay::cassette::{self, Event};
use resplay::show::{render_event, render_header, Tokens};

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

/// Where the listing goes: stdout, buffered, until it fails. The reader
/// cannot be stopped midway, so after a failure the rest is only read
/// (checked) and the failure reported at the end.
struct Out {
    stdout: std::io::BufWriter<std::io::StdoutLock<'static>>,
    failed: Option<std::io::Error>,
}

impl Out {
    fn write(&mut self, bytes: &[u8]) {
        if self.failed.is_none() {
            if let Err(e) = self.stdout.write_all(bytes) {
                self.failed = Some(e);
            }
        }
    }

    /// Flushes; a closed pipe (`resplay show c.jsonl | head`) is not an
    /// error.
    fn finish(mut self) -> Result<()> {
        if self.failed.is_none() {
            if let Err(e) = self.stdout.flush() {
                self.failed = Some(e);
            }
        }
        match self.failed {
            Some(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
            _ => Ok(()),
        }
    }
}

/// Prints the cassette to stdout as it is read.
pub fn run(args: &ShowArgs) -> Result<ExitCode> {
    // Line 1 first: the reader hands over the header only at the end.
    let header = cassette::read_header(&args.file)?;
    let mut out = Out {
        stdout: std::io::BufWriter::new(std::io::stdout().lock()),
        failed: None,
    };
    let loaded = if args.json {
        let mut line = Vec::new();
        header.write_line(&mut line);
        out.write(&line);
        cassette::load_with(&args.file, |event: Event| {
            line.clear();
            event.write_line(&mut line);
            out.write(&line);
        })
    } else {
        let mut text = String::new();
        render_header(&header, &mut text);
        out.write(text.as_bytes());
        let mut tokens = Tokens::default();
        let loaded = cassette::load_with(&args.file, |event: Event| {
            tokens.add(&event);
            text.clear();
            render_event(&event, &mut text);
            out.write(text.as_bytes());
        });
        if loaded.is_ok() {
            text.clear();
            tokens.render(&mut text);
            out.write(text.as_bytes());
        }
        loaded
    };
    // What was listed before a bad line goes out before the error.
    let written = out.finish();
    let (_, warnings) = loaded?;
    print_warnings(&warnings);
    written?;
    Ok(ExitCode::SUCCESS)
}
