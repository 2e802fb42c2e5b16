//! How well a recorded connection explains what a live connection has done.
//!
//! A live connection is bound to the recorded connection it replays, so
//! that two processes replayed in another interleaving each get their own
//! replies. The first command rarely tells which one that is (every test
//! opens with `FLUSHDB`), so the binding stays open to revision: when the
//! bound recording has nothing left for a command and another, free one
//! does, the matcher asks which of the two fits the live connection's recent
//! commands better and moves the binding if the other fits strictly better.
//! Moving also hands back what the live connection took from the old one, so
//! a test that diverged, or a recording bound by mistake, leaves every other
//! recording as it was for the connections that replay them later.

use std::collections::VecDeque;

/// How many of a live connection's recent commands are compared.
pub const HISTORY: usize = 32;

/// How far back in a recorded connection the comparison looks.
pub const WINDOW: usize = 2 * HISTORY;

/// What a live connection was served, most recent last.
#[derive(Debug, Default, Clone)]
pub struct History {
    /// (match key id, recording index) of each served command.
    served: VecDeque<(u32, usize)>,
}

impl History {
    /// Notes a served command.
    pub fn push(&mut self, key: u32, recording: usize) {
        if self.served.len() == HISTORY {
            self.served.pop_front();
        }
        self.served.push_back((key, recording));
    }

    /// The served commands, oldest first.
    pub fn entries(&self) -> impl Iterator<Item = (u32, usize)> + '_ {
        self.served.iter().copied()
    }

    /// Points an entry at another recording (after the binding moved).
    pub fn replace(&mut self, from: usize, to: usize) {
        for entry in self.served.iter_mut() {
            if entry.1 == from {
                entry.1 = to;
            }
        }
    }

    /// The key ids, oldest first.
    pub fn keys(&self) -> Vec<u32> {
        self.served.iter().map(|&(k, _)| k).collect()
    }
}

/// The length of the longest common subsequence of `a` and `b`: how many
/// of the live commands `a` appear, in order, among the recorded ones `b`.
/// Inputs are bounded by [`HISTORY`] and [`WINDOW`], so the quadratic table
/// (one row kept) stays a few thousand steps.
pub fn common_in_order(a: &[u32], b: &[u32]) -> usize {
    let mut row = vec![0usize; b.len() + 1];
    for &x in a {
        let mut diagonal = 0;
        for (j, &y) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = if x == y {
                diagonal + 1
            } else {
                above.max(row[j])
            };
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subsequence_length() {
        assert_eq!(common_in_order(&[], &[1, 2]), 0);
        assert_eq!(common_in_order(&[1, 2, 3], &[1, 2, 3]), 3);
        assert_eq!(common_in_order(&[1, 2, 3], &[3, 2, 1]), 1);
        assert_eq!(common_in_order(&[1, 9, 2, 3], &[1, 2, 7, 3]), 3);
        assert_eq!(common_in_order(&[5, 5, 5], &[5]), 1);
    }

    #[test]
    fn history_is_bounded() {
        let mut h = History::default();
        for i in 0..(HISTORY + 5) {
            h.push(i as u32, i);
        }
        assert_eq!(h.keys().len(), HISTORY);
        assert_eq!(h.keys()[0], 5);
        h.replace(10, 99);
        assert!(h.entries().any(|(_, r)| r == 99));
    }
}
