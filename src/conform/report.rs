//! What a conform run found: counts by command, then the differences,
//! grouped by command and reason, a few examples each, replies printed as
//! `resplay show` prints them; or the same as JSON lines.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::json;

use super::compare::Verdict;
use crate::resp::Value;
use crate::show::render_value;

/// Counts for one command name.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Counts {
    /// Recorded commands of this name.
    pub recorded: u64,
    /// Byte-for-byte the same reply.
    pub same: u64,
    /// The same after a normalisation.
    pub equivalent: u64,
    /// Not comparable by nature.
    pub not_comparable: u64,
    /// Different.
    pub different: u64,
    /// Of the different: an error on one side only.
    pub error_one_side: u64,
    /// Not sent (`--unsafe` commands, redacted passwords).
    pub skipped: u64,
    /// Not run or not answered (the connection was gone, still blocked).
    pub unanswered: u64,
}

/// One difference.
#[derive(Debug, Clone)]
pub struct Difference {
    /// The command name (uppercase; a container's subcommand with it).
    pub name: String,
    /// The command as sent, displayed.
    pub command: String,
    /// The recorded connection and the command's sequence number there.
    pub conn: u64,
    /// Its sequence number on the connection.
    pub seq: u64,
    /// Why it differs.
    pub reason: String,
    /// The recorded replies, as `show` prints them.
    pub recorded: String,
    /// The target's, as `show` prints them (or what became of it).
    pub live: String,
}

/// The whole report.
#[derive(Debug, Default)]
pub struct Report {
    /// The target, as named on the command line (password masked).
    pub target: String,
    /// Counts per command name.
    pub by_command: BTreeMap<String, Counts>,
    /// Every difference, in the cassette's order.
    pub differences: Vec<Difference>,
    /// Reasons commands were skipped, with counts.
    pub skipped: BTreeMap<String, u64>,
    /// Commands sent before the recorded order allowed.
    pub forced: u64,
    /// Connections the target closed that the recording's server did not.
    pub closed_by_target: u64,
    /// How many examples each kind of difference lists.
    pub examples: usize,
}

/// The name a report groups a command under: `GET`, `CONFIG GET`.
pub fn group_name(args: &[bytes::Bytes], is_container: bool) -> String {
    let word = |i: usize| {
        args.get(i)
            .map(|a| String::from_utf8_lossy(a).to_ascii_uppercase())
    };
    match (word(0), is_container.then(|| word(1)).flatten()) {
        (Some(name), Some(sub)) => format!("{name} {sub}"),
        (Some(name), None) => name,
        (None, _) => String::new(),
    }
}

/// Replies printed as `resplay show` prints them.
pub fn shown(replies: &[Value]) -> String {
    let mut out = String::new();
    for reply in replies {
        render_value(reply, &mut out);
    }
    out.trim_end().to_string()
}

impl Report {
    /// Counts one compared command; keeps it when it differs.
    pub fn note(&mut self, name: &str, verdict: &Verdict, difference: impl FnOnce() -> Difference) {
        let counts = self.by_command.entry(name.to_string()).or_default();
        counts.recorded += 1;
        match verdict {
            Verdict::Same => counts.same += 1,
            Verdict::Equivalent(_) => counts.equivalent += 1,
            Verdict::NotComparable(_) => counts.not_comparable += 1,
            Verdict::Different(reason) => {
                counts.different += 1;
                if reason.starts_with("error ") && reason != "error text differs" {
                    counts.error_one_side += 1;
                }
                self.differences.push(difference());
            }
        }
    }

    /// Counts a command that was not sent.
    pub fn note_skipped(&mut self, name: &str, command: &str, reason: &str) {
        let counts = self.by_command.entry(name.to_string()).or_default();
        counts.recorded += 1;
        counts.skipped += 1;
        *self
            .skipped
            .entry(format!("{command}: {reason}"))
            .or_default() += 1;
    }

    /// Counts a command sent but not answered; it is a difference.
    pub fn note_unanswered(&mut self, name: &str, difference: Difference) {
        let counts = self.by_command.entry(name.to_string()).or_default();
        counts.recorded += 1;
        counts.unanswered += 1;
        self.differences.push(difference);
    }

    /// True when the target answered everything as recorded.
    pub fn conforms(&self) -> bool {
        self.differences.is_empty()
    }

    /// The totals over every command.
    pub fn totals(&self) -> Counts {
        let mut t = Counts::default();
        for c in self.by_command.values() {
            t.recorded += c.recorded;
            t.same += c.same;
            t.equivalent += c.equivalent;
            t.not_comparable += c.not_comparable;
            t.different += c.different;
            t.error_one_side += c.error_one_side;
            t.skipped += c.skipped;
            t.unanswered += c.unanswered;
        }
        t
    }

    /// The report as a person reads it.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let t = self.totals();
        let _ = writeln!(
            out,
            "conform against {}: {} command(s): {} same, {} equivalent, {} not comparable, {} different ({} an error on one side only), {} skipped, {} unanswered",
            self.target, t.recorded, t.same, t.equivalent, t.not_comparable, t.different, t.error_one_side, t.skipped, t.unanswered
        );
        let _ = writeln!(
            out,
            "\n{:<28} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}",
            "command", "recorded", "same", "equiv", "n/c", "diff", "skipped", "no-reply"
        );
        for (name, c) in &self.by_command {
            let _ = writeln!(
                out,
                "{:<28} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}",
                name,
                c.recorded,
                c.same,
                c.equivalent,
                c.not_comparable,
                c.different,
                c.skipped,
                c.unanswered
            );
        }
        for (what, n) in &self.skipped {
            let _ = writeln!(out, "skipped: {what} (x{n})");
        }
        if self.forced > 0 {
            let _ = writeln!(
                out,
                "note: {} command(s) went before the recorded order allowed (the target answered otherwise)",
                self.forced
            );
        }
        if self.closed_by_target > 0 {
            let _ = writeln!(
                out,
                "note: the target closed {} connection(s) the recorded server kept open",
                self.closed_by_target
            );
        }
        // Grouped by command and reason, in the order first seen.
        let mut groups: Vec<((String, String), Vec<&Difference>)> = Vec::new();
        for d in &self.differences {
            let key = (d.name.clone(), d.reason.clone());
            match groups.iter_mut().find(|(k, _)| *k == key) {
                Some((_, list)) => list.push(d),
                None => groups.push((key, vec![d])),
            }
        }
        for ((name, reason), list) in &groups {
            let _ = writeln!(out, "\n{name}: {reason} ({} time(s))", list.len());
            for d in list.iter().take(self.examples) {
                let _ = writeln!(out, "  [conn {} #{}] {}", d.conn, d.seq, d.command);
                let _ = writeln!(out, "    recorded: {}", indent(&d.recorded));
                let _ = writeln!(out, "    target:   {}", indent(&d.live));
            }
            if list.len() > self.examples {
                let _ = writeln!(out, "  … and {} more", list.len() - self.examples);
            }
        }
        if self.conforms() {
            let _ = writeln!(out, "\nno differences");
        }
        out
    }

    /// The report as JSON lines: one per difference, then the summary.
    pub fn render_json(&self) -> String {
        let mut out = String::new();
        for d in &self.differences {
            let line = json!({
                "type": "difference",
                "command": d.name,
                "sent": d.command,
                "conn": d.conn,
                "seq": d.seq,
                "reason": d.reason,
                "recorded": d.recorded,
                "target": d.live,
            });
            let _ = writeln!(out, "{line}");
        }
        let counts = |c: &Counts| {
            json!({
                "recorded": c.recorded, "same": c.same, "equivalent": c.equivalent,
                "not_comparable": c.not_comparable, "different": c.different,
                "error_one_side": c.error_one_side, "skipped": c.skipped,
                "unanswered": c.unanswered,
            })
        };
        let by_command: serde_json::Map<String, serde_json::Value> = self
            .by_command
            .iter()
            .map(|(name, c)| (name.clone(), counts(c)))
            .collect();
        let line = json!({
            "type": "summary",
            "target": self.target,
            "conforms": self.conforms(),
            "totals": counts(&self.totals()),
            "by_command": by_command,
            "skipped": self.skipped,
            "forced": self.forced,
            "closed_by_target": self.closed_by_target,
        });
        let _ = writeln!(out, "{line}");
        out
    }
}

fn indent(text: &str) -> String {
    text.replace('\n', "\n              ")
}
