//! `resplay learn A.jsonl B.jsonl [...]`: ignore rules proposed from two or
//! more recordings of one test run (see `resplay::learn`), printed with
//! their evidence; `--write FILE` adds them to a config file's `ignore`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};

use resplay::cassette::Cassette;
use resplay::learn::{learn, Learned};
use resplay::pattern::IgnoreRule;

/// The flags of `resplay learn`.
#[derive(clap::Args)]
pub struct LearnArgs {
    /// Recordings of the same test run: the first is the one replays use,
    /// each other a later run.
    #[arg(required = true, num_args = 2.., value_name = "CASSETTE")]
    cassettes: Vec<PathBuf>,
    /// Rules already in use (repeatable): proposals come on top of them.
    #[arg(long = "ignore", value_name = "RULE")]
    ignore: Vec<IgnoreRule>,
    /// Add the proposals that remove misses to this config file's `ignore`
    /// list (created when missing; its own rules count as in use).
    #[arg(long, value_name = "FILE")]
    write: Option<PathBuf>,
}

pub fn run(args: LearnArgs) -> Result<ExitCode> {
    let mut rules = args.ignore;
    if let Some(file) = args.write.as_deref().filter(|f| f.exists()) {
        rules.extend(rules_in(file)?);
    }
    let learned = learn_and_print(&args.cassettes, &rules)?;
    if let Some(file) = &args.write {
        let useful: Vec<String> = learned
            .proposals
            .iter()
            .filter(|p| p.misses_removed > 0)
            .map(|p| p.rule.text.clone())
            .collect();
        let added = write_rules(file, &useful)?;
        println!("wrote {added} rule(s) to {}", file.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Loads `paths`, learns from them on top of `rules`, prints the
/// proposals (`resplay learn`, `resplay run --learn`).
pub fn learn_and_print(paths: &[PathBuf], rules: &[IgnoreRule]) -> Result<Learned> {
    let cassettes = paths
        .iter()
        .map(|path| resplay::cassette::load(path).map_err(anyhow::Error::from))
        .collect::<Result<Vec<Cassette>>>()?;
    let learned = learn(&cassettes, rules);
    print(&learned, paths);
    Ok(learned)
}

/// Where `run --learn` writes its second recording: `NAME.second.jsonl`
/// beside the cassette (`.zst` kept, so it is written as the first is).
pub fn second_path(cassette: &Path) -> PathBuf {
    let name = cassette
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (stem, rest) = name.split_once('.').unwrap_or((&name, "jsonl"));
    cassette.with_file_name(format!("{stem}.second.{rest}"))
}

fn print(learned: &Learned, paths: &[PathBuf]) {
    println!(
        "resplay learn: {} recordings, {} commands aligned, {} differ between runs",
        paths.len(),
        learned.aligned,
        learned.differing
    );
    for (n, p) in learned.proposals.iter().enumerate() {
        let kinds: Vec<&str> = p.kinds.iter().map(|k| k.as_str()).collect();
        let worth = match p.misses_removed {
            0 => "removes no miss (replay already lets a fresh token stand in; needed with --exact-tokens)".to_string(),
            n => format!("removes {n} of {} miss(es)", learned.misses_before),
        };
        println!(
            "rule {}: {}\n  {}; {} occurrence(s); {worth}",
            n + 1,
            p.rule.text,
            kinds.join(", "),
            p.occurrences
        );
        for (a, b) in &p.examples {
            println!("  {a}\n    vs {b}");
        }
    }
    for r in &learned.rejected {
        println!("not proposed: {}\n  {}", r.rule, r.why);
    }
    println!(
        "misses replaying {} against {}: {} with the rules given, {} with these",
        paths[1..]
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
        paths[0].display(),
        learned.misses_before,
        learned.misses_after
    );
}

/// The `ignore` rules of a config file.
fn rules_in(file: &Path) -> Result<Vec<IgnoreRule>> {
    let config = resplay::config::load(file)?;
    Ok(config.ignore)
}

/// Appends `rules` not already there to `file`'s top-level `ignore` array,
/// keeping the rest of the file as written (toml_edit); returns how many
/// were added.
fn write_rules(file: &Path, rules: &[String]) -> Result<usize> {
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", file.display())),
    };
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .with_context(|| format!("{} is not TOML", file.display()))?;
    let item = doc
        .entry("ignore")
        .or_insert(toml_edit::value(toml_edit::Array::new()));
    let Some(list) = item.as_array_mut() else {
        bail!("{}: `ignore` is not an array", file.display());
    };
    let mut added = 0;
    for rule in rules {
        if !list.iter().any(|v| v.as_str() == Some(rule)) {
            list.push(rule.as_str());
            added += 1;
        }
    }
    std::fs::write(file, doc.to_string())
        .with_context(|| format!("cannot write {}", file.display()))?;
    Ok(added)
}
