//! Commands shown to people (from [`crate::text`]: in miss errors,
//! reports, `resplay show` and `MONITOR` lines), the distance that picks
//! the closest recorded command for a miss, and why a miss did not match
//! it.

use bytes::Bytes;

pub use crate::text::command::{display_command, repr};

/// Levenshtein distance over chars, on short prefixes (commands can be huge).
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().take(200).collect();
    let b: Vec<char> = b.chars().take(200).collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display() {
        assert_eq!(
            display_command(&[
                Bytes::from("SET"),
                Bytes::from("a b"),
                Bytes::from(&b"\xff"[..])
            ]),
            "SET \"a b\" \"\\xff\""
        );
    }

    #[test]
    fn distances() {
        assert_eq!(edit_distance("GET user:7", "GET user:8"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }
}

/// Why a missed command did not match its closest recording, in words:
/// another database, another command, another number of arguments, or the
/// first argument that differs (`key` and `recorded` are match keys, after
/// ignore rules).
pub fn why_unmatched(key: &[Bytes], recorded: &[Bytes], other_db: Option<u32>) -> String {
    let shown = |b: &Bytes| {
        let text = repr(b);
        if text.chars().count() > 60 {
            format!("{}…\"", text.chars().take(58).collect::<String>())
        } else {
            text
        }
    };
    if let Some(db) = other_db {
        return format!("recorded only in database {db}");
    }
    match (key.first(), recorded.first()) {
        (Some(a), Some(b)) if !a.eq_ignore_ascii_case(b) => {
            return format!(
                "no {} was recorded; the closest is a {}",
                shown(a),
                shown(b)
            )
        }
        _ => {}
    }
    if let Some(i) = (1..key.len().min(recorded.len())).find(|&i| key[i] != recorded[i]) {
        return format!(
            "argument {i} differs: {} recorded, {} sent",
            shown(&recorded[i]),
            shown(&key[i])
        );
    }
    if key.len() != recorded.len() {
        return format!(
            "{} argument(s) recorded, {} sent",
            recorded.len().saturating_sub(1),
            key.len().saturating_sub(1)
        );
    }
    "every recording of it was used, and repeats are off (--no-repeat) or it was \
     recorded on a connection bound to another client"
        .to_string()
}

#[cfg(test)]
mod why_tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<Bytes> {
        words
            .iter()
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect()
    }

    #[test]
    fn says_what_differs() {
        let set = args(&["SET", "k", "v"]);
        assert_eq!(
            why_unmatched(&args(&["SET", "k", "w"]), &set, None),
            r#"argument 2 differs: "v" recorded, "w" sent"#
        );
        assert_eq!(
            why_unmatched(&args(&["SET", "k", "v", "EX", "9"]), &set, None),
            "2 argument(s) recorded, 4 sent"
        );
        assert_eq!(
            why_unmatched(&args(&["GET", "k"]), &set, None),
            r#"no "GET" was recorded; the closest is a "SET""#
        );
        assert_eq!(
            why_unmatched(&set, &set, Some(3)),
            "recorded only in database 3"
        );
        assert!(why_unmatched(&set, &set, None).starts_with("every recording"));
    }
}
