//! Load replay: the same cassette as a load test made of real traffic.
//!
//! `--loop N` plays the cassette N times in a row and `--connections-scale
//! K` plays each recorded connection K times at once (keys left as they
//! are: the copies share them). Replies then no longer match the
//! recording (a counter counts on), so they are not compared, and the
//! recorded order across connections, kept only so that replies compare,
//! is not kept either: each connection goes at its own pace (pipelined as
//! recorded). What is reported is what `redis-benchmark` users read:
//! throughput, and per command the latency percentiles next to the
//! recorded ones.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use serde_json::json;

use super::drive::{self, Answer};
use super::plan::Plan;
use super::report::group_name;
use super::{check_target, ConformConfig, ConformError};
use crate::cassette::Cassette;
use crate::command::Class;

/// How fast to send: the recorded pacing scaled, or as fast as the target
/// answers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Speed {
    /// The recorded pacing divided by this (`2x`: twice as fast).
    Recorded(f64),
    /// As fast as the recorded order and the target allow.
    Max,
}

impl std::str::FromStr for Speed {
    type Err = String;

    fn from_str(text: &str) -> Result<Speed, String> {
        if text == "max" {
            return Ok(Speed::Max);
        }
        let number = text.strip_suffix('x').unwrap_or(text);
        match number.parse::<f64>() {
            Ok(n) if n.is_finite() && n > 0.0 => Ok(Speed::Recorded(n)),
            _ => Err(format!(
                "'{text}' is not a speed: write 1x, 2x, 0.5x… (the recorded pacing scaled) or max"
            )),
        }
    }
}

impl Speed {
    /// The factor the recorded pacing is divided by, `None` for no pacing.
    pub fn factor(self) -> Option<f64> {
        match self {
            Speed::Recorded(n) => Some(n),
            Speed::Max => None,
        }
    }
}

/// Latencies of one command name, µs.
#[derive(Debug, Default, Clone)]
struct Latencies {
    live: Vec<u64>,
    recorded: Vec<u64>,
}

/// What a load run measured.
#[derive(Debug, Default)]
pub struct LoadReport {
    /// The target, as named on the command line.
    pub target: String,
    /// Commands answered.
    pub answered: u64,
    /// Of those, error replies.
    pub errors: u64,
    /// Commands sent and not answered, or not run.
    pub unanswered: u64,
    /// Commands not sent (`--unsafe` ones, `SCAN` calls of an iteration
    /// the target ended sooner).
    pub skipped: u64,
    /// Live connections opened (over all loops).
    pub connections: u64,
    /// Wall time of the runs.
    pub elapsed: Duration,
    by_command: BTreeMap<String, Latencies>,
}

/// The `p`-th percentile (0–100) of sorted `values`, nearest rank.
fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// p50, p99 and max of `values`.
fn summary(values: &mut [u64]) -> (u64, u64, u64) {
    values.sort_unstable();
    (
        percentile(values, 50.0),
        percentile(values, 99.0),
        values.last().copied().unwrap_or(0),
    )
}

impl LoadReport {
    /// Commands answered per second.
    pub fn throughput(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.answered as f64 / secs
        } else {
            0.0
        }
    }

    fn add(&mut self, plan: &Plan, run: &drive::Run) {
        self.connections += plan.conns.len() as u64;
        for (item, answer) in plan.items.iter().zip(&run.answers) {
            match answer {
                Answer::Replied { replies, took, .. } => {
                    self.answered += 1;
                    if replies.first().is_some_and(|r| r.is_error()) {
                        self.errors += 1;
                    }
                    let class = Class::of(&item.cmd);
                    let name = group_name(&item.cmd, class.is_container());
                    let l = self.by_command.entry(name).or_default();
                    l.live.push(took.as_micros() as u64);
                    l.recorded.push(item.took_us);
                }
                // An iteration the target ended sooner is not run on.
                Answer::Skipped(_) | Answer::IterationEnded => self.skipped += 1,
                Answer::NotRun(_) | Answer::NoReply => self.unanswered += 1,
            }
        }
    }

    /// The report as a person reads it (`redis-benchmark`'s figures).
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "load against {}: {} command(s) answered in {:.2} s over {} connection(s): {:.0} commands/s; {} error repl(ies), {} unanswered, {} skipped",
            self.target,
            self.answered,
            self.elapsed.as_secs_f64(),
            self.connections,
            self.throughput(),
            self.errors,
            self.unanswered,
            self.skipped
        );
        let _ = writeln!(
            out,
            "\n{:<28} {:>8} {:>10} {:>10} {:>10} {:>12} {:>12} {:>12}",
            "command",
            "count",
            "p50 µs",
            "p99 µs",
            "max µs",
            "rec p50 µs",
            "rec p99 µs",
            "rec max µs"
        );
        for (name, l) in &self.by_command {
            let (p50, p99, max) = summary(&mut l.live.clone());
            let (r50, r99, rmax) = summary(&mut l.recorded.clone());
            let _ = writeln!(
                out,
                "{name:<28} {:>8} {p50:>10} {p99:>10} {max:>10} {r50:>12} {r99:>12} {rmax:>12}",
                l.live.len()
            );
        }
        out
    }

    /// The report as one JSON object.
    pub fn render_json(&self) -> String {
        let by_command: serde_json::Map<String, serde_json::Value> = self
            .by_command
            .iter()
            .map(|(name, l)| {
                let (p50, p99, max) = summary(&mut l.live.clone());
                let (r50, r99, rmax) = summary(&mut l.recorded.clone());
                let v = json!({
                    "count": l.live.len(),
                    "p50_us": p50, "p99_us": p99, "max_us": max,
                    "recorded_p50_us": r50, "recorded_p99_us": r99, "recorded_max_us": rmax,
                });
                (name.clone(), v)
            })
            .collect();
        let line = json!({
            "type": "load",
            "target": self.target,
            "answered": self.answered,
            "errors": self.errors,
            "unanswered": self.unanswered,
            "skipped": self.skipped,
            "connections": self.connections,
            "elapsed_s": self.elapsed.as_secs_f64(),
            "commands_per_s": self.throughput(),
            "by_command": by_command,
        });
        format!("{line}\n")
    }
}

/// Plays `cassette` against the target `loops` times, each recorded
/// connection by `scale` live ones, at `speed`; replies are not compared.
pub async fn load(
    cassette: &Cassette,
    config: &ConformConfig,
    speed: Speed,
    loops: usize,
    scale: usize,
) -> Result<LoadReport, ConformError> {
    let nodes = super::nodes(cassette, config).await?;
    check_target(cassette, config, nodes.as_ref()).await?;
    let mut plan = Plan::new(cassette, config.send_unsafe).scaled(scale);
    plan.unordered = true;
    let mut report = LoadReport {
        target: crate::upstream::mask_password(&config.target.addr),
        ..LoadReport::default()
    };
    let progress = std::io::stderr().is_terminal() && loops > 1;
    let started = Instant::now();
    for round in 1..=loops {
        let run = drive::drive(&plan, &config.target, nodes.as_ref(), speed.factor()).await?;
        report.add(&plan, &run);
        if progress {
            let rate = report.answered as f64 / started.elapsed().as_secs_f64();
            eprint!("\rresplay: load: loop {round}/{loops}, {rate:.0} commands/s   ");
        }
    }
    if progress {
        eprintln!();
    }
    report.elapsed = started.elapsed();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speeds_read_as_written() {
        assert_eq!("max".parse(), Ok(Speed::Max));
        assert_eq!("2x".parse(), Ok(Speed::Recorded(2.0)));
        assert_eq!("0.5x".parse(), Ok(Speed::Recorded(0.5)));
        assert_eq!("1".parse(), Ok(Speed::Recorded(1.0)));
        assert!("0x".parse::<Speed>().is_err());
        assert!("fast".parse::<Speed>().is_err());
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let mut v: Vec<u64> = (1..=100).collect();
        assert_eq!(summary(&mut v), (50, 99, 100));
        assert_eq!(summary(&mut []), (0, 0, 0));
        assert_eq!(summary(&mut [7]), (7, 7, 7));
    }
}
