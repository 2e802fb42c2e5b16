//! `resplay learn`: ignore rules proposed from two or more recordings of
//! the same test run. Where the runs sent the same command with some
//! arguments different (a UUID in a key, `time.time()`, a lock token, a
//! counter), those arguments are volatile: a rule that ignores them is what
//! lets the next run replay (Keploy's "noise detection", as rules a person
//! reads and keeps).
//!
//! - [`align`]: which command of one recording is which of another.
//! - [`shape`]: what kind of value differs, and the narrowest token that
//!   covers it (`lock:*` keeps the key's stable prefix; `<any>` otherwise).
//! - [`check`]: whether a rule is safe (no two different recorded commands
//!   with different replies become one), and how many misses it removes,
//!   counted by replaying each later recording against the first with the
//!   replay server's own matcher.

pub mod align;
pub mod check;
pub mod shape;

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::cassette::Cassette;
use crate::pattern::{match_key, IgnoreRule};
use crate::replay::display::display_command;
use shape::{Kind, Token};

/// A proposed rule and the evidence for it.
#[derive(Debug, Clone)]
pub struct Proposal {
    /// The rule.
    pub rule: IgnoreRule,
    /// The kinds of values it ignores.
    pub kinds: Vec<Kind>,
    /// How many aligned commands differed this way.
    pub occurrences: usize,
    /// A few of them: the first recording's command and the other's.
    pub examples: Vec<(String, String)>,
    /// Misses it removes when the later recordings replay against the
    /// first (with the rules already given, and without the others).
    pub misses_removed: u64,
}

/// A rule that was considered and not proposed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// The rule.
    pub rule: String,
    /// Why not.
    pub why: String,
}

/// What `learn` found.
#[derive(Debug, Clone)]
pub struct Learned {
    /// Commands aligned across the recordings.
    pub aligned: usize,
    /// Of those, commands whose arguments differed.
    pub differing: usize,
    /// Safe rules, most useful first.
    pub proposals: Vec<Proposal>,
    /// Unsafe ones.
    pub rejected: Vec<Rejected>,
    /// Misses replaying the later recordings against the first, with the
    /// rules given.
    pub misses_before: u64,
    /// The same with every proposal added.
    pub misses_after: u64,
}

/// One group of aligned commands that differ at the same places.
struct Group {
    name: Bytes,
    tokens: Vec<Token>,
    kinds: Vec<Kind>,
    occurrences: usize,
    examples: Vec<(String, String)>,
}

/// How many examples a proposal keeps.
const EXAMPLES: usize = 3;

/// Proposes rules from `cassettes` (the first is the one replayed; every
/// other is a later run of the same test), on top of `rules`.
pub fn learn(cassettes: &[Cassette], rules: &[IgnoreRule]) -> Learned {
    let Some((first, later)) = cassettes.split_first() else {
        return Learned::empty();
    };
    let first_lists = align::by_connection(first);
    let secs = |c: &Cassette| {
        humantime::parse_rfc3339_weak(c.header.created.trim_end_matches('Z'))
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs_f64())
    };
    let mut groups: BTreeMap<(Bytes, usize, Vec<Option<Bytes>>), Group> = BTreeMap::new();
    let (mut aligned, mut differing) = (0, 0);
    for other in later {
        let other_lists = align::by_connection(other);
        for (x, y) in align::align(&first_lists, &other_lists) {
            aligned += 1;
            if x.args == y.args || match_key(&x.args, rules) == match_key(&y.args, rules) {
                continue;
            }
            differing += 1;
            let mut tokens = Vec::with_capacity(x.args.len() - 1);
            let mut kinds = Vec::new();
            let mut shape = Vec::with_capacity(x.args.len() - 1);
            for (a, b) in x.args[1..].iter().zip(&y.args[1..]) {
                if a == b {
                    tokens.push(Token::Exact(a.clone()));
                    shape.push(Some(a.clone()));
                } else {
                    let (kind, token) = shape::classify(a, b, secs(first), secs(other));
                    kinds.push(kind);
                    tokens.push(token);
                    shape.push(None);
                }
            }
            let name = Bytes::from(x.args[0].to_ascii_uppercase());
            let example = (display_command(&x.args), display_command(&y.args));
            let group = groups
                .entry((name.clone(), x.args.len(), shape))
                .or_insert_with(|| Group {
                    name,
                    tokens: tokens.clone(),
                    kinds: Vec::new(),
                    occurrences: 0,
                    examples: Vec::new(),
                });
            for (have, new) in group.tokens.iter_mut().zip(&tokens) {
                *have = shape::widen(have, new);
            }
            group.kinds.extend(kinds);
            group.kinds.sort();
            group.kinds.dedup();
            group.occurrences += 1;
            if group.examples.len() < EXAMPLES && !group.examples.contains(&example) {
                group.examples.push(example);
            }
        }
    }

    let mut proposals = Vec::new();
    let mut rejected = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for group in groups.into_values() {
        let mut text = String::from_utf8_lossy(&group.name).into_owned();
        for token in &group.tokens {
            text.push(' ');
            text.push_str(&shape::written(token));
        }
        if !seen.insert(text.clone()) {
            continue;
        }
        let rule: IgnoreRule = match text.parse() {
            Ok(rule) => rule,
            Err(e) => {
                rejected.push(Rejected {
                    rule: text,
                    why: e.to_string(),
                });
                continue;
            }
        };
        if let Some(why) = check::ambiguity(cassettes, rules, &rule) {
            rejected.push(Rejected { rule: text, why });
            continue;
        }
        proposals.push(Proposal {
            rule,
            kinds: group.kinds,
            occurrences: group.occurrences,
            examples: group.examples,
            misses_removed: 0,
        });
    }
    let misses_before = check::misses(first, later, rules);
    for proposal in &mut proposals {
        let with: Vec<IgnoreRule> = rules
            .iter()
            .cloned()
            .chain([proposal.rule.clone()])
            .collect();
        proposal.misses_removed = misses_before.saturating_sub(check::misses(first, later, &with));
    }
    let all: Vec<IgnoreRule> = rules
        .iter()
        .cloned()
        .chain(proposals.iter().map(|p| p.rule.clone()))
        .collect();
    let misses_after = check::misses(first, later, &all);
    proposals.sort_by(|a, b| {
        b.misses_removed
            .cmp(&a.misses_removed)
            .then(b.occurrences.cmp(&a.occurrences))
            .then(a.rule.text.cmp(&b.rule.text))
    });
    Learned {
        aligned,
        differing,
        proposals,
        rejected,
        misses_before,
        misses_after,
    }
}

impl Learned {
    fn empty() -> Learned {
        Learned {
            aligned: 0,
            differing: 0,
            proposals: Vec::new(),
            rejected: Vec::new(),
            misses_before: 0,
            misses_after: 0,
        }
    }
}
