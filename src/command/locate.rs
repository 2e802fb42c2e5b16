//! Where an argument the command table describes (a time, a password) sits
//! in one request: at a fixed index, counted from the end, or after a
//! token, scanned the way Redis's option parsers read: from the first
//! optional argument on, each token taking its values with it, so a value
//! that reads like a token (`SET k EXAT EXAT 1`) is never taken for one.

use bytes::Bytes;

use super::spec::{Begin, Find, KeyFlags, Locator, Spec, TimeArg};

/// Calls `found` with the index of each argument of `args` that `at`
/// points to (none when the request is too short or lacks the token).
pub fn each(spec: &Spec, args: &[Bytes], at: Locator, mut found: impl FnMut(usize)) {
    match at {
        Locator::Index(i) => {
            let i = usize::from(i);
            if i < args.len() {
                found(i);
            }
        }
        Locator::FromEnd(k) => {
            let k = usize::from(k);
            // Never the name itself (`AUTH` alone has no password).
            if k < args.len() {
                found(args.len() - k);
            }
        }
        Locator::AfterToken(token, offset) => {
            scan_tokens(spec, args, |i, word| {
                if word.eq_ignore_ascii_case(token.as_bytes())
                    && i + usize::from(offset) < args.len()
                {
                    found(i + usize::from(offset));
                }
            });
        }
    }
}

/// True when the request carries `token` among its options.
pub fn has_token(spec: &Spec, args: &[Bytes], token: &str) -> bool {
    let mut seen = false;
    scan_tokens(spec, args, |_, word| {
        seen |= word.eq_ignore_ascii_case(token.as_bytes());
    });
    seen
}

/// The indexes of the time arguments a request carries, in order.
pub fn time_indexes(spec: &Spec, args: &[Bytes]) -> Vec<(usize, &'static TimeArg)> {
    let mut out = Vec::new();
    for t in spec.time_args {
        if t.requires
            .is_some_and(|token| !has_token(spec, args, token))
        {
            continue;
        }
        each(spec, args, t.at, |i| out.push((i, t)));
    }
    out.sort_by_key(|(i, _)| *i);
    out
}

/// The indexes of a request's keys, by the command's key specifications
/// the way Redis reads them (`getKeysUsingKeySpecs`): where each spec
/// begins (an index, or after a keyword searched forwards or backwards),
/// then a range or a count of keys from there. Specs Redis marks `not_key`
/// or cannot describe (`unknown`) give none; a request too short for its
/// spec gives what fits. Sorted, without repeats.
pub fn keys(spec: &Spec, args: &[Bytes]) -> Vec<usize> {
    let argc = args.len() as i64;
    let mut out = Vec::new();
    for ks in spec.key_specs {
        if ks.flags.0 & KeyFlags::NOT_KEY.0 != 0 {
            continue;
        }
        let first = match ks.begin {
            Begin::Index(i) => i64::from(i),
            Begin::Keyword(word, from) => {
                let from = i64::from(from);
                let (start, end) = if from > 0 {
                    (from, argc - 1)
                } else {
                    (argc + from, 0)
                };
                let step = if start <= end { 1 } else { -1 };
                let mut i = start;
                let found = loop {
                    if i < 1 || i >= argc {
                        break None;
                    }
                    if args[i as usize].eq_ignore_ascii_case(word.as_bytes()) {
                        break Some(i + 1);
                    }
                    if i == end {
                        break None;
                    }
                    i += step;
                };
                let Some(first) = found else { continue };
                first
            }
            Begin::Unknown => continue,
        };
        let (first, last, step) = match ks.find {
            Find::Range { last, step, limit } => {
                let (last, limit) = (i64::from(last), i64::from(limit));
                let end = if last >= 0 {
                    first + last
                } else if limit <= 1 {
                    argc + last
                } else {
                    first + (argc - first) / limit + last
                };
                (first, end, i64::from(step))
            }
            Find::Keynum {
                index,
                first: from,
                step,
            } => {
                let Some(count) = args
                    .get((first + i64::from(index)) as usize)
                    .and_then(|a| std::str::from_utf8(a).ok()?.parse::<i64>().ok())
                    .filter(|n| *n >= 0)
                else {
                    continue;
                };
                let start = first + i64::from(from);
                let step = i64::from(step);
                (start, start + (count - 1) * step, step)
            }
            Find::Unknown => continue,
        };
        let mut i = first;
        while i <= last && i < argc && step > 0 {
            out.push(i as usize);
            i += step;
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Visits each token of the command found in `args` from the first
/// optional argument on, stepping over the values each token takes.
fn scan_tokens(spec: &Spec, args: &[Bytes], mut visit: impl FnMut(usize, &[u8])) {
    let mut i = usize::from(spec.fixed_prefix);
    while i < args.len() {
        let word = &args[i][..];
        let Some(&(_, takes)) = spec
            .tokens
            .iter()
            .find(|(t, _)| !t.is_empty() && word.eq_ignore_ascii_case(t.as_bytes()))
        else {
            i += 1;
            continue;
        };
        visit(i, word);
        if takes == u8::MAX {
            return;
        }
        i += 1 + usize::from(takes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::{args_of, lookup};

    fn times(words: &[&str]) -> Vec<usize> {
        let args = args_of(words);
        let spec = lookup(&args).expect("known command");
        time_indexes(spec, &args)
            .into_iter()
            .map(|(i, _)| i)
            .collect()
    }

    fn key_words(words: &[&str]) -> Vec<String> {
        let args = args_of(words);
        let spec = lookup(&args).expect("known command");
        keys(spec, &args)
            .into_iter()
            .map(|i| words[i].to_string())
            .collect()
    }

    #[test]
    fn keys_are_found_by_the_key_specs() {
        assert_eq!(key_words(&["GET", "a"]), ["a"]);
        assert_eq!(key_words(&["MSET", "a", "1", "b", "2"]), ["a", "b"]);
        assert_eq!(key_words(&["DEL", "a", "b", "c"]), ["a", "b", "c"]);
        assert_eq!(
            key_words(&["EVAL", "s", "2", "k1", "k2", "arg"]),
            ["k1", "k2"]
        );
        assert_eq!(key_words(&["EVAL", "s", "0", "arg"]), Vec::<String>::new());
        assert_eq!(
            key_words(&["XREAD", "COUNT", "2", "STREAMS", "s1", "s2", "0", "0"]),
            ["s1", "s2"]
        );
        assert_eq!(
            key_words(&["LMOVE", "src", "dst", "LEFT", "RIGHT"]),
            ["src", "dst"]
        );
        assert_eq!(key_words(&["BLPOP", "q1", "q2", "0"]), ["q1", "q2"]);
        assert_eq!(
            key_words(&["ZUNIONSTORE", "out", "2", "a", "b", "WEIGHTS", "1", "2"]),
            ["out", "a", "b"]
        );
        assert_eq!(key_words(&["PING"]), Vec::<String>::new());
        assert_eq!(key_words(&["GET"]), Vec::<String>::new());
    }

    #[test]
    fn time_arguments_are_found_where_the_grammar_puts_them() {
        assert_eq!(times(&["expireat", "k", "1"]), vec![2]);
        assert_eq!(times(&["SET", "k", "v", "NX", "exat", "5"]), vec![5]);
        assert_eq!(times(&["SET", "k", "EXAT", "EX", "5"]), Vec::<usize>::new());
        assert_eq!(
            times(&["SET", "k", "v", "EX", "EXAT", "PXAT", "9"]),
            vec![6]
        );
        assert_eq!(times(&["HEXPIREAT", "h", "9", "FIELDS", "1", "f"]), vec![2]);
        assert_eq!(
            times(&["HGETEX", "h", "PXAT", "9", "FIELDS", "2", "PXAT", "EXAT"]),
            vec![3]
        );
        assert_eq!(
            times(&["HSETEX", "h", "FNX", "EXAT", "9", "FIELDS", "1", "f", "v"]),
            vec![4]
        );
        assert_eq!(
            times(&["XCLAIM", "s", "g", "c", "0", "1-1", "TIME", "9"]),
            vec![7]
        );
        assert_eq!(times(&["RESTORE", "k", "9", "x"]), Vec::<usize>::new());
        assert_eq!(times(&["RESTORE", "k", "9", "x", "ABSTTL"]), vec![2]);
        assert_eq!(times(&["GET", "k"]), Vec::<usize>::new());
    }
}
