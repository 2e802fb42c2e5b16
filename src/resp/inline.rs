//! Splitting an inline command line into arguments, as Redis's
//! `sdssplitargs` does (the form telnet and `redis-cli` raw sessions send).

/// Redis's `isspace` set.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

fn hex_value(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Splits `line` into arguments. `None` means unbalanced quotes (or a closing
/// quote followed by something other than a space), which Redis answers with
/// `Protocol error: unbalanced quotes in request`.
///
/// Rules, from `sdssplitargs`: blanks separate words; inside double quotes
/// `\xHH`, `\n`, `\r`, `\t`, `\b`, `\a` and `\<any>` are escapes; inside single
/// quotes only `\'` is; a quote may open in the middle of a word; a closing
/// quote must be followed by a blank or the end of the line.
pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut args = Vec::new();
    let mut p = 0;
    let at = |i: usize| line.get(i).copied().unwrap_or(0);
    loop {
        while p < line.len() && is_space(line[p]) {
            p += 1;
        }
        if p >= line.len() || line[p] == 0 {
            // sdssplitargs works on a C string: a NUL ends it.
            return Some(args);
        }
        let mut current = Vec::new();
        let (mut in_double, mut in_single) = (false, false);
        loop {
            let c = at(p);
            if in_double {
                if c == b'\\'
                    && at(p + 1) == b'x'
                    && hex_value(at(p + 2)).is_some()
                    && hex_value(at(p + 3)).is_some()
                {
                    let hi = hex_value(at(p + 2)).unwrap_or(0);
                    let lo = hex_value(at(p + 3)).unwrap_or(0);
                    current.push(hi * 16 + lo);
                    p += 3;
                } else if c == b'\\' && at(p + 1) != 0 {
                    p += 1;
                    current.push(match at(p) {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    });
                } else if c == b'"' {
                    if at(p + 1) != 0 && !is_space(at(p + 1)) {
                        return None;
                    }
                    p += 1;
                    break;
                } else if c == 0 {
                    return None;
                } else {
                    current.push(c);
                }
            } else if in_single {
                if c == b'\\' && at(p + 1) == b'\'' {
                    p += 1;
                    current.push(b'\'');
                } else if c == b'\'' {
                    if at(p + 1) != 0 && !is_space(at(p + 1)) {
                        return None;
                    }
                    p += 1;
                    break;
                } else if c == 0 {
                    return None;
                } else {
                    current.push(c);
                }
            } else {
                match c {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => {
                        if c != 0 {
                            p += 1;
                        }
                        break;
                    }
                    b'"' => in_double = true,
                    b'\'' => in_single = true,
                    other => current.push(other),
                }
            }
            p += 1;
        }
        args.push(current);
        if p > line.len() {
            return Some(args);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::split_args;

    fn split(s: &str) -> Option<Vec<String>> {
        split_args(s.as_bytes()).map(|v| {
            v.into_iter()
                .map(|a| String::from_utf8_lossy(&a).into_owned())
                .collect()
        })
    }

    #[test]
    fn words_and_blanks() {
        assert_eq!(split("SET k v").unwrap(), ["SET", "k", "v"]);
        assert_eq!(split("  PING\t x  ").unwrap(), ["PING", "x"]);
        assert!(split("").unwrap().is_empty());
        assert!(split("   ").unwrap().is_empty());
    }

    #[test]
    fn double_quote_escapes() {
        assert_eq!(
            split(r#"SET "a b" "\x41\n\r\t\"z""#).unwrap(),
            ["SET", "a b", "A\n\r\t\"z"]
        );
        let bytes = split_args(br#""\b\a\xff\q""#).unwrap();
        assert_eq!(bytes, vec![vec![0x08, 0x07, 0xff, b'q']]);
        // \x with non-hex digits is just an escaped x.
        assert_eq!(split(r#""\xZZ""#).unwrap(), ["xZZ"]);
    }

    #[test]
    fn single_quotes() {
        assert_eq!(
            split(r"SET 'it\'s' 'a\nb'").unwrap(),
            ["SET", "it's", r"a\nb"]
        );
    }

    #[test]
    fn quote_opening_mid_word() {
        assert_eq!(split(r#"ab"c d" e"#).unwrap(), ["abc d", "e"]);
        assert_eq!(split(r#""""#).unwrap(), [""]);
    }

    #[test]
    fn unbalanced() {
        assert_eq!(split(r#"SET "abc"#), None);
        assert_eq!(split("SET 'abc"), None);
        assert_eq!(split(r#"set """test-key""" test-value"#), None);
        assert_eq!(split(r#""a"b"#), None);
        assert_eq!(split("'a'b"), None);
    }
}
