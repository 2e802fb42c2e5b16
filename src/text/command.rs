//! A command as redis-cli echoes it, and a string as redis-cli quotes it.

use bytes::Bytes;

/// A command as redis-cli would echo it: words separated by spaces, quoted
/// when they hold spaces, quotes or bytes that are not printable.
pub fn display_command(args: &[Bytes]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let plain = !a.is_empty()
            && a.iter()
                .all(|&b| b.is_ascii_graphic() && b != b'"' && b != b'\'' && b != b'\\');
        if plain {
            out.push_str(&String::from_utf8_lossy(a));
        } else {
            out.push('"');
            for &b in a.iter() {
                match b {
                    b'"' => out.push_str("\\\""),
                    b'\\' => out.push_str("\\\\"),
                    b'\n' => out.push_str("\\n"),
                    b'\r' => out.push_str("\\r"),
                    b'\t' => out.push_str("\\t"),
                    b if b == b' ' || b.is_ascii_graphic() => out.push(b as char),
                    b => out.push_str(&format!("\\x{b:02x}")),
                }
            }
            out.push('"');
        }
    }
    out
}

/// A bulk string as redis-cli quotes it (`sdscatrepr`): `\\`, `\"`, `\n`,
/// `\r`, `\t`, `\a`, `\b`, printable ASCII as is, everything else `\xNN`.
pub fn repr(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() + 2);
    s.push('"');
    for &b in bytes {
        match b {
            b'\\' => s.push_str("\\\\"),
            b'"' => s.push_str("\\\""),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            0x07 => s.push_str("\\a"),
            0x08 => s.push_str("\\b"),
            b' '..=b'~' => s.push(char::from(b)),
            _ => {
                s.push_str(&format!("\\x{b:02x}"));
            }
        }
    }
    s.push('"');
    s
}
