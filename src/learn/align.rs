//! Which command of one recording is which command of another recording
//! of the same test run: connections paired by what they said, then each
//! pair's commands aligned by name and argument count (a longest common
//! subsequence), so that a command one run sent and the other did not
//! shifts nothing after it.

use bytes::Bytes;

use crate::cassette::{Cassette, Event};

/// One command as recorded: its words and replies (for the ambiguity
/// check), its connection and database.
#[derive(Debug, Clone)]
pub struct Sent {
    /// The recorded connection.
    pub conn: u64,
    /// The database it ran in.
    pub db: u32,
    /// Its arguments, name first.
    pub args: Vec<Bytes>,
}

impl Sent {
    /// The command name upper-cased and the argument count: what two
    /// recordings of one call share whatever its volatile values.
    fn signature(&self) -> (Vec<u8>, usize) {
        let name = self
            .args
            .first()
            .map(|n| n.to_ascii_uppercase())
            .unwrap_or_default();
        (name, self.args.len())
    }
}

/// Each connection's commands, connections in the order they first spoke.
pub fn by_connection(cassette: &Cassette) -> Vec<Vec<Sent>> {
    let mut order: Vec<u64> = Vec::new();
    let mut lists: std::collections::HashMap<u64, Vec<Sent>> = Default::default();
    for event in &cassette.events {
        if let Event::Interaction(i) = event {
            if !lists.contains_key(&i.conn) {
                order.push(i.conn);
            }
            lists.entry(i.conn).or_default().push(Sent {
                conn: i.conn,
                db: i.db,
                args: i.cmd.clone(),
            });
        }
    }
    order.into_iter().filter_map(|c| lists.remove(&c)).collect()
}

/// Aligned pairs of commands `(a, b)` of two recordings: connections paired
/// greedily, each of `a`'s (in order) with the free one of `b`'s whose
/// commands align best (ties to the earliest), then their commands aligned.
pub fn align<'a>(a: &'a [Vec<Sent>], b: &'a [Vec<Sent>]) -> Vec<(&'a Sent, &'a Sent)> {
    /// Connections weighed per connection of `a`: enough for any test run,
    /// bounded for a load test's recording.
    const WEIGHED: usize = 64;
    let mut free: Vec<bool> = vec![true; b.len()];
    let mut pairs = Vec::new();
    for conn in a {
        let best = (0..b.len())
            .filter(|&j| free[j])
            .take(WEIGHED)
            .map(|j| (lcs(conn, &b[j]).len(), j))
            .max_by_key(|&(score, j)| (score, std::cmp::Reverse(j)));
        if let Some((score, j)) = best {
            if score == 0 {
                continue;
            }
            free[j] = false;
            for (x, y) in lcs(conn, &b[j]) {
                pairs.push((&conn[x], &b[j][y]));
            }
        }
    }
    pairs
}

/// The longest common subsequence of two command lists by signature, as
/// index pairs in order. Quadratic: a connection's commands in a test run
/// number in the hundreds; longer lists are aligned position by position.
fn lcs(a: &[Sent], b: &[Sent]) -> Vec<(usize, usize)> {
    const LONGEST: usize = 4000;
    let (sa, sb): (Vec<_>, Vec<_>) = (
        a.iter().map(Sent::signature).collect(),
        b.iter().map(Sent::signature).collect(),
    );
    if a.len() > LONGEST || b.len() > LONGEST {
        return (0..a.len().min(b.len()))
            .filter(|&i| sa[i] == sb[i])
            .map(|i| (i, i))
            .collect();
    }
    let (n, m) = (a.len(), b.len());
    let mut table = vec![0u32; (n + 1) * (m + 1)];
    let at = |i: usize, j: usize| i * (m + 1) + j;
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            table[at(i, j)] = if sa[i] == sb[j] {
                table[at(i + 1, j + 1)] + 1
            } else {
                table[at(i + 1, j)].max(table[at(i, j + 1)])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < n && j < m {
        if sa[i] == sb[j] {
            out.push((i, j));
            i += 1;
            j += 1;
        } else if table[at(i + 1, j)] >= table[at(i, j + 1)] {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(conn: u64, words: &str) -> Sent {
        Sent {
            conn,
            db: 0,
            args: words
                .split(' ')
                .map(|w| Bytes::copy_from_slice(w.as_bytes()))
                .collect(),
        }
    }

    #[test]
    fn a_command_sent_once_shifts_nothing_after_it() {
        let a = vec![vec![
            sent(1, "SET k:1 a"),
            sent(1, "PING"),
            sent(1, "GET k:1"),
        ]];
        let b = vec![
            vec![sent(7, "INFO")],
            vec![sent(8, "SET k:2 a"), sent(8, "GET k:2")],
        ];
        let pairs = align(&a, &b);
        let shown: Vec<_> = pairs
            .iter()
            .map(|(x, y)| (x.args[1].clone(), y.args[1].clone(), y.conn))
            .collect();
        assert_eq!(
            shown,
            [
                (Bytes::from("k:1"), Bytes::from("k:2"), 8),
                (Bytes::from("k:1"), Bytes::from("k:2"), 8)
            ]
        );
    }
}
