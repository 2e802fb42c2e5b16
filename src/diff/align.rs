//! Aligning two sequences: the edit script that turns one connection's
//! commands into the other's.
//!
//! This is the diff's one algorithm, and it knows nothing of cassettes: the
//! comparison interns match keys to numbers and hands over two sequences.
//! The common prefix and suffix are trimmed first (a re-recording mostly
//! repeats itself); the middle is aligned by a longest common subsequence
//! when its table fits in [`MAX_LCS_CELLS`], and otherwise by a greedy walk
//! that resynchronises within a window (`WINDOW` commands), so a cassette
//! of millions of commands costs memory in proportion to it, not to its
//! square.

/// The largest LCS table (old × new commands of one connection pair, after
/// trimming the common prefix and suffix) computed; past it, commands are
/// aligned by `window_script`.
pub const MAX_LCS_CELLS: usize = 4_000_000;

/// An edit script over two key sequences: `(Some(i), Some(j))` for aligned
/// (equal) keys, one side `None` for a removal or an addition. Removals come
/// before additions at the same place.
pub fn align(a: &[u32], b: &[u32]) -> Vec<(Option<usize>, Option<usize>)> {
    let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let suffix = a[prefix..]
        .iter()
        .rev()
        .zip(b[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (ma, mb) = (&a[prefix..a.len() - suffix], &b[prefix..b.len() - suffix]);
    let mut script: Vec<_> = (0..prefix).map(|k| (Some(k), Some(k))).collect();
    if ma.len().saturating_mul(mb.len()) <= MAX_LCS_CELLS {
        lcs_script(ma, mb, prefix, &mut script);
    } else {
        window_script(ma, mb, prefix, &mut script);
    }
    let (ta, tb) = (a.len() - suffix, b.len() - suffix);
    script.extend((0..suffix).map(|k| (Some(ta + k), Some(tb + k))));
    script
}

/// LCS by dynamic programming over suffixes, then a forward walk.
fn lcs_script(a: &[u32], b: &[u32], base: usize, out: &mut Vec<(Option<usize>, Option<usize>)>) {
    let (n, m) = (a.len(), b.len());
    let w = m + 1;
    // len[i][j]: LCS length of a[i..] and b[j..].
    let mut len = vec![0u32; (n + 1) * w];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            len[i * w + j] = if a[i] == b[j] {
                len[(i + 1) * w + j + 1] + 1
            } else {
                len[(i + 1) * w + j].max(len[i * w + j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    while i < n && j < m {
        if a[i] == b[j] {
            out.push((Some(base + i), Some(base + j)));
            i += 1;
            j += 1;
        } else if len[(i + 1) * w + j] >= len[i * w + j + 1] {
            out.push((Some(base + i), None));
            i += 1;
        } else {
            out.push((None, Some(base + j)));
            j += 1;
        }
    }
    out.extend((i..n).map(|i| (Some(base + i), None)));
    out.extend((j..m).map(|j| (None, Some(base + j))));
}

/// How far [`window_script`] looks ahead for a resynchronisation point.
const WINDOW: usize = 64;

/// For a middle too large for the LCS table: walks both sides at once;
/// equal keys align, and at a mismatch the nearer resynchronisation within
/// [`WINDOW`] commands wins (the old command found a little later in the new
/// side means new commands were added, and the other way round); with
/// neither, the two are a removal and an addition.
fn window_script(a: &[u32], b: &[u32], base: usize, out: &mut Vec<(Option<usize>, Option<usize>)>) {
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i] == b[j] {
            out.push((Some(base + i), Some(base + j)));
            i += 1;
            j += 1;
            continue;
        }
        let added = b[j..(j + WINDOW).min(b.len())]
            .iter()
            .position(|&k| k == a[i]);
        let removed = a[i..(i + WINDOW).min(a.len())]
            .iter()
            .position(|&k| k == b[j]);
        match (added, removed) {
            (Some(d), r) if r.map_or(true, |r| d <= r) => {
                out.extend((j..j + d).map(|j| (None, Some(base + j))));
                j += d;
            }
            (_, Some(d)) => {
                out.extend((i..i + d).map(|i| (Some(base + i), None)));
                i += d;
            }
            _ => {
                out.push((Some(base + i), None));
                out.push((None, Some(base + j)));
                i += 1;
                j += 1;
            }
        }
    }
    out.extend((i..a.len()).map(|i| (Some(base + i), None)));
    out.extend((j..b.len()).map(|j| (None, Some(base + j))));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_middles_still_resynchronise() {
        let a: Vec<u32> = (0..3000).collect();
        let mut b = vec![99_999];
        b.extend(1..100);
        b.extend(70_000..70_010);
        b.extend(100..1500);
        b.extend(1501..2999);
        b.push(88_888);
        assert!((a.len() - 2) * (b.len() - 2) > MAX_LCS_CELLS);
        let script = align(&a, &b);
        let aligned = script
            .iter()
            .filter(|(x, y)| x.is_some() && y.is_some())
            .count();
        assert_eq!(aligned, 2997);
        for &(x, y) in &script {
            if let (Some(x), Some(y)) = (x, y) {
                assert_eq!(a[x], b[y]);
            }
        }
    }

    #[test]
    fn alignment() {
        let script = align(&[1, 2, 3, 4], &[1, 3, 5, 4]);
        assert_eq!(
            script,
            [
                (Some(0), Some(0)),
                (Some(1), None),
                (Some(2), Some(1)),
                (None, Some(2)),
                (Some(3), Some(3)),
            ]
        );
        assert_eq!(align(&[], &[7]), [(None, Some(0))]);
        let mut out = Vec::new();
        window_script(&[1, 2, 9], &[1, 3, 4, 9, 5], 0, &mut out);
        assert_eq!(
            out,
            [
                (Some(0), Some(0)),
                (Some(1), None),
                (None, Some(1)),
                (None, Some(2)),
                (Some(2), Some(3)),
                (None, Some(4)),
            ]
        );
    }
}
