//! `resplay age CASSETTE --max-age 30d [--json]`: whether a cassette is
//! older than a `max_age`, by its header's `created` (only the header is
//! read). The pytest plugin and the npm helper ask it before replaying, so
//! that durations are read one way (humantime's) everywhere.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;

use resplay::expiry::{cassette_age, Age};

/// The flags of `resplay age`.
#[derive(clap::Args)]
pub struct AgeArgs {
    /// The cassette.
    cassette: PathBuf,
    /// The age past which it is expired, e.g. 30d, 12h, "1week 2days".
    #[arg(long, value_name = "AGE", value_parser = humantime::parse_duration)]
    max_age: Duration,
    /// One JSON object: {"created","age_seconds","max_age_seconds","expired","said"}.
    #[arg(long)]
    json: bool,
}

/// Prints the verdict; exits 1 when the cassette is expired, 0 otherwise
/// (a cassette whose age cannot be told never is), as `test` would.
pub fn run(args: &AgeArgs) -> Result<ExitCode> {
    let age = cassette_age(&args.cassette, args.max_age)?;
    let said = age.describe(args.max_age);
    if args.json {
        let (created, seconds) = match &age {
            Age::Fresh { created, age } | Age::Expired { created, age } => {
                (Some(created.as_str()), Some(age.as_secs()))
            }
            Age::Unknown => (None, None),
        };
        let object = serde_json::json!({
            "cassette": args.cassette.display().to_string(),
            "created": created,
            "age_seconds": seconds,
            "max_age_seconds": args.max_age.as_secs(),
            "expired": age.is_expired(),
            "said": said,
        });
        println!("{object}");
    } else {
        println!("{}: {said}", args.cassette.display());
    }
    Ok(if age.is_expired() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
