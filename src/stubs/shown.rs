//! Replies written as `resplay show` (redis-cli) prints them, read back
//! into values: `"v"`, `OK`, `(integer) 3`, `(nil)`, `(error) ERR x`,
//! `(double) 1.5`, `(true)`, indexed arrays (`1) "a"`), sets (`1~ "a"`) and
//! maps (`1# "k" => "v"`), nested as redis-cli indents them. The inverse
//! of [`crate::text::reply`], so a stub can be written by pasting
//! what `resplay show` printed.

use bytes::Bytes;

use crate::resp::Value;

/// Reads a reply written as redis-cli prints it.
pub fn parse_shown(text: &str) -> Result<Value, String> {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty())
        .collect();
    if lines.is_empty() {
        return Err("an empty reply".into());
    }
    // The common indent of every line (a reply pasted indented into TOML):
    // not the first line's, whose index may be right-aligned (` 1)` in a
    // list that counts to `10)`).
    let indent = lines
        .iter()
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    let mut reader = Reader { lines, line: 0 };
    let value = reader.value(indent)?;
    if reader.line < reader.lines.len() {
        return Err(format!(
            "unexpected line '{}' after the reply",
            reader.lines[reader.line].trim()
        ));
    }
    Ok(value)
}

struct Reader<'a> {
    lines: Vec<&'a str>,
    line: usize,
}

/// An index marker at the start of `text`: `1) `, ` 2~ `, `3# `: its
/// number, separator and length.
fn marker(text: &str) -> Option<(usize, char, usize)> {
    let digits_at = text.len() - text.trim_start_matches(' ').len();
    let rest = &text[digits_at..];
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let sep = rest[digits..].chars().next()?;
    if !matches!(sep, ')' | '~' | '#') || !rest[digits + 1..].starts_with(' ') {
        return None;
    }
    let n = rest[..digits].parse().ok()?;
    Some((n, sep, digits_at + digits + 2))
}

impl Reader<'_> {
    fn text_at(&self, col: usize) -> Result<&str, String> {
        let line = self.lines.get(self.line).ok_or("the reply ends too soon")?;
        line.get(col..)
            .ok_or_else(|| format!("line '{}' is not indented as expected", line.trim()))
    }

    /// The value starting at column `col` of the current line; moves past
    /// its last line.
    fn value(&mut self, col: usize) -> Result<Value, String> {
        let text = self.text_at(col)?;
        let Some((1, sep, len)) = marker(text) else {
            let value = line_value(text.trim())?;
            self.line += 1;
            return Ok(value);
        };
        let child = col + len;
        let mut items = Vec::new();
        let mut pairs = Vec::new();
        let mut n = 1;
        loop {
            if sep == '#' {
                let text = self.text_at(child)?;
                let (key, used) = key_value(text)?;
                let rest = &text[used..];
                let rest = rest
                    .strip_prefix(" =>")
                    .ok_or_else(|| format!("expected ' => ' after the key in '{}'", text.trim()))?;
                let value = if rest.trim().is_empty() {
                    self.line += 1;
                    self.value(child)?
                } else {
                    let at = child + used + 4;
                    self.value(at)?
                };
                pairs.push((key, value));
            } else {
                items.push(self.value(child)?);
            }
            let next = self
                .lines
                .get(self.line)
                .and_then(|l| l.get(col..))
                .and_then(marker);
            match next {
                Some((m, s, l)) if m == n + 1 && s == sep && col + l == child => n += 1,
                // An index one digit wider: the list counts past 9.
                _ => break,
            }
        }
        Ok(match sep {
            ')' => Value::Array(items),
            '~' => Value::Set(items),
            _ => Value::Map(pairs),
        })
    }
}

/// A map key on one line, up to ` => `: the value and the bytes it took.
fn key_value(text: &str) -> Result<(Value, usize), String> {
    if text.starts_with('"') {
        let end = quoted_end(text).ok_or_else(|| format!("unclosed quote in '{text}'"))?;
        return Ok((line_value(&text[..end])?, end));
    }
    let end = text
        .find(" =>")
        .ok_or_else(|| format!("expected 'key => value' in '{text}'"))?;
    Ok((line_value(&text[..end])?, end))
}

/// Where a quoted string starting `text` ends (past its closing quote).
fn quoted_end(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut i = 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// A value that fits on one line.
fn line_value(text: &str) -> Result<Value, String> {
    let tagged = |tag: &str| text.strip_prefix(tag).map(str::trim);
    Ok(match text {
        "(nil)" => Value::Null,
        "(true)" => Value::Boolean(true),
        "(false)" => Value::Boolean(false),
        "(empty array)" => Value::Array(Vec::new()),
        "(empty hash)" => Value::Map(Vec::new()),
        "(empty set)" => Value::Set(Vec::new()),
        "(empty push)" => Value::Push(Vec::new()),
        _ if text.starts_with('"') => {
            if quoted_end(text) != Some(text.len()) {
                return Err(format!("a quoted string must end the line: '{text}'"));
            }
            Value::Bulk(unrepr(&text[1..text.len() - 1])?)
        }
        _ => {
            if let Some(n) = tagged("(integer)") {
                Value::Integer(n.parse().map_err(|_| format!("not an integer: '{text}'"))?)
            } else if let Some(e) = tagged("(error)") {
                Value::Error(Bytes::copy_from_slice(e.as_bytes()))
            } else if let Some(d) = tagged("(double)") {
                Value::Double(Bytes::copy_from_slice(d.as_bytes()))
            } else if let Some(b) = tagged("(big number)") {
                Value::BigNumber(Bytes::copy_from_slice(b.as_bytes()))
            } else if text.starts_with('(') {
                return Err(format!("unknown reply type '{text}'"));
            } else {
                Value::Simple(Bytes::copy_from_slice(text.as_bytes()))
            }
        }
    })
}

/// The bytes of a string redis-cli quoted (`sdscatrepr`'s escapes).
fn unrepr(text: &str) -> Result<Bytes, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        let escaped = *bytes.get(i + 1).ok_or("a lone backslash")?;
        i += 2;
        out.push(match escaped {
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'a' => 0x07,
            b'b' => 0x08,
            b'x' => {
                let hex = text.get(i..i + 2).ok_or("\\x needs two hex digits")?;
                i += 2;
                u8::from_str_radix(hex, 16).map_err(|_| format!("bad escape \\x{hex}"))?
            }
            other => other,
        });
    }
    Ok(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::reply::render_value;

    fn round_trip(value: Value) {
        let mut text = String::new();
        render_value(&value, &mut text);
        assert_eq!(parse_shown(&text), Ok(value), "{text}");
    }

    #[test]
    fn what_show_prints_reads_back() {
        let b = |s: &str| Value::Bulk(Bytes::copy_from_slice(s.as_bytes()));
        round_trip(b("v"));
        round_trip(b("a \"quoted\"\n\\ \x01 line"));
        round_trip(Value::Simple(Bytes::from_static(b"OK")));
        round_trip(Value::Integer(-3));
        round_trip(Value::Null);
        round_trip(Value::Error(Bytes::from_static(
            b"LOADING Redis is loading",
        )));
        round_trip(Value::Double(Bytes::from_static(b"1.5")));
        round_trip(Value::Boolean(true));
        round_trip(Value::Array(vec![]));
        round_trip(Value::Array((0..12).map(Value::Integer).collect()));
        round_trip(Value::Array(vec![
            Value::Array(vec![b("a"), b("b")]),
            b("c"),
            Value::Set(vec![b("x"), Value::Integer(1)]),
        ]));
        round_trip(Value::Map(vec![
            (b("name"), b("Ada")),
            (b("tags =>"), Value::Array(vec![b("x"), b("y")])),
            (b("n"), Value::Integer(2)),
        ]));
    }

    #[test]
    fn mistakes_are_named() {
        assert!(parse_shown("").is_err());
        assert!(parse_shown("(integer) x").is_err());
        assert!(parse_shown("(weird) 1").is_err());
        assert!(parse_shown("\"open").is_err());
    }
}
