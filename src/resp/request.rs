//! Parsing client requests: multibulk (`*N` of `$len` strings) and inline
//! lines, with Redis's limits and error texts (`networking.c`,
//! `processMultibulkBuffer` / `processInlineBuffer`).

use bytes::Bytes;
use smallvec::SmallVec;

use super::inline::split_args;
use super::limits::{parse_i64, Limits, ProtocolError};

/// One request found at the start of a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestParse {
    /// More bytes are needed; nothing was consumed. Not an error.
    Incomplete,
    /// `len` bytes form something Redis skips without a reply: an empty
    /// inline line, `*0`, or a negative multibulk count.
    Skip {
        /// Bytes to drop from the buffer.
        len: usize,
    },
    /// A command of `len` bytes.
    Command(RequestFrame),
}

/// Where a parsed request's arguments are. Multibulk arguments are ranges of
/// the frame's own bytes, so a proxy that keeps the frame as `Bytes` gets its
/// arguments without copying; inline arguments are unescaped, hence owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestFrame {
    /// Length of the whole frame in bytes, from the start of the buffer.
    pub len: usize,
    args: Args,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Args {
    /// Inline up to four arguments (`GET k`, `SET k v`, `HSET h f v`): most
    /// requests then cost no allocation to parse.
    Ranges(SmallVec<[(usize, usize); 4]>),
    Owned(Vec<Bytes>),
}

impl RequestFrame {
    /// The arguments, given the frame's bytes (`raw` must be the `len` bytes
    /// this frame was parsed from).
    pub fn args(&self, raw: &Bytes) -> Vec<Bytes> {
        match &self.args {
            Args::Ranges(r) => r.iter().map(|&(s, e)| raw.slice(s..e)).collect(),
            Args::Owned(v) => v.clone(),
        }
    }

    /// [`args`](RequestFrame::args) of a frame that starts `at` bytes into
    /// `buf`, with no allocation for as many arguments as `A` holds inline:
    /// what a proxy wants per request (replay keeps four, record three:
    /// see `pairing::RequestArgs`).
    pub fn args_at<A: smallvec::Array<Item = Bytes>>(&self, buf: &Bytes, at: usize) -> SmallVec<A> {
        match &self.args {
            Args::Ranges(r) => r.iter().map(|&(s, e)| buf.slice(at + s..at + e)).collect(),
            Args::Owned(v) => v.iter().cloned().collect(),
        }
    }

    /// True when the request came as an inline line.
    pub fn is_inline(&self) -> bool {
        matches!(self.args, Args::Owned(_))
    }
}

/// Finds `needle` before the first NUL, as C's `strchr` on Redis's query
/// buffer does: a NUL in a header or inline line hides what follows, so the
/// line keeps growing until the size limit rejects it, exactly as in Redis.
fn find_in_c_string(buf: &[u8], needle: u8) -> Option<usize> {
    memchr::memchr2(needle, 0, buf).filter(|&i| buf[i] == needle)
}

/// Parses one request from the start of `buf`.
pub fn parse_request(buf: &[u8], limits: &Limits) -> Result<RequestParse, ProtocolError> {
    match buf.first() {
        None => Ok(RequestParse::Incomplete),
        Some(b'*') => parse_multibulk(buf, limits),
        Some(_) => parse_inline(buf, limits),
    }
}

fn parse_inline(buf: &[u8], limits: &Limits) -> Result<RequestParse, ProtocolError> {
    let Some(newline) = find_in_c_string(buf, b'\n') else {
        if buf.len() > limits.max_inline {
            return Err(ProtocolError::new("Protocol error: too big inline request"));
        }
        return Ok(RequestParse::Incomplete);
    };
    let line_end = if newline > 0 && buf[newline - 1] == b'\r' {
        newline - 1
    } else {
        newline
    };
    let args = split_args(&buf[..line_end])
        .ok_or_else(|| ProtocolError::new("Protocol error: unbalanced quotes in request"))?;
    let len = newline + 1;
    if args.is_empty() {
        return Ok(RequestParse::Skip { len });
    }
    Ok(RequestParse::Command(RequestFrame {
        len,
        args: Args::Owned(args.into_iter().map(Bytes::from).collect()),
    }))
}

/// Reads a header line (`*N` or `$N`) starting at `pos`: `Ok(None)` when its
/// `\r\n` is not buffered yet, else the number text and the position after it.
fn header_line<'a>(
    buf: &'a [u8],
    pos: usize,
    limits: &Limits,
    too_big: &str,
) -> Result<Option<(&'a [u8], usize)>, ProtocolError> {
    let rest = &buf[pos..];
    let Some(cr) = find_in_c_string(rest, b'\r') else {
        if rest.len() > limits.max_inline {
            return Err(ProtocolError::new(too_big));
        }
        return Ok(None);
    };
    // Redis waits for the `\n` too, but does not check that it is one.
    if cr + 2 > rest.len() {
        return Ok(None);
    }
    // `cr` is 0 when an element starts with `\r`: Redis then reports the
    // bad type byte, so the (empty) number text is never read.
    Ok(Some((&rest[cr.min(1)..cr], pos + cr + 2)))
}

/// The number of a header line (`*N` or `$N`) at `pos` when it is the
/// common case: one to nine digits without a leading zero, then `\r` and
/// one more byte. Returns it and the position after the line. Anything else
/// (a sign, a NUL, a long or bad number, a line not buffered whole) is
/// `None`, and the caller takes the general path, [`header_line`] and
/// [`parse_i64`], which gives the same answer where this one gives one and
/// Redis's verdict everywhere else. Nearly every header a client sends is
/// a few digits long: a byte loop reads them in a few instructions where
/// the general path's `memchr2` costs more to set up than the line is long
/// (callgrind, record at P16: parsing a `SET` took 627 instructions, 323
/// with this).
#[inline]
fn short_header(buf: &[u8], pos: usize) -> Option<(usize, usize)> {
    const MAX_DIGITS: usize = 9;
    // One digit (`*3`, `$3`), the commonest, read without the loop.
    if let Some(&[digit, b'\r', _]) = buf.get(pos + 1..pos + 4) {
        return digit
            .is_ascii_digit()
            .then(|| (usize::from(digit - b'0'), pos + 4));
    }
    let digits = buf.get(pos + 1..)?;
    let mut value = 0usize;
    for (i, &byte) in digits.iter().take(MAX_DIGITS + 1).enumerate() {
        match byte {
            b'0'..=b'9' if i < MAX_DIGITS => value = value * 10 + usize::from(byte - b'0'),
            // `0` alone is a number; `01` is not (Redis's `string2ll`).
            b'\r' if i == 1 || (i > 1 && digits[0] != b'0') => {
                // Redis waits for the byte after `\r` but does not check it.
                let after = pos + 1 + i + 2;
                return (after <= buf.len()).then_some((value, after));
            }
            _ => return None,
        }
    }
    None
}

fn parse_multibulk(buf: &[u8], limits: &Limits) -> Result<RequestParse, ProtocolError> {
    let (count, mut pos) = match short_header(buf, 0) {
        Some((count, after)) => (count as i64, after),
        None => {
            let Some((count_text, pos)) =
                header_line(buf, 0, limits, "Protocol error: too big mbulk count string")?
            else {
                return Ok(RequestParse::Incomplete);
            };
            match parse_i64(count_text) {
                Some(n) if n <= i64::from(i32::MAX) => (n, pos),
                _ => {
                    return Err(ProtocolError::new(
                        "Protocol error: invalid multibulk length",
                    ))
                }
            }
        }
    };
    if count <= 0 {
        return Ok(RequestParse::Skip { len: pos });
    }
    // Do not trust the count for the allocation: a `*2000000000` header costs
    // nothing until its elements actually arrive.
    let mut ranges = SmallVec::with_capacity((count as usize).min(1024));
    for _ in 0..count {
        if pos >= buf.len() {
            return Ok(RequestParse::Incomplete);
        }
        if buf[pos] != b'$' {
            // Redis would wait for a whole line before looking at the byte;
            // the verdict is the same once it comes, so give it now if we can.
            if header_line(
                buf,
                pos,
                limits,
                "Protocol error: too big bulk count string",
            )?
            .is_none()
            {
                return Ok(RequestParse::Incomplete);
            }
            // Redis replaces CR and LF in error text with spaces.
            let got = match buf[pos] {
                b'\r' | b'\n' => ' ',
                other => other as char,
            };
            return Err(ProtocolError(format!(
                "Protocol error: expected '$', got '{got}'"
            )));
        }
        let (len, after) = match short_header(buf, pos) {
            Some((len, after)) if len <= limits.max_bulk => (len, after),
            _ => {
                let Some((len_text, after)) = header_line(
                    buf,
                    pos,
                    limits,
                    "Protocol error: too big bulk count string",
                )?
                else {
                    return Ok(RequestParse::Incomplete);
                };
                match parse_i64(len_text) {
                    Some(n) if n >= 0 && (n as u64) <= limits.max_bulk as u64 => {
                        (n as usize, after)
                    }
                    _ => return Err(ProtocolError::new("Protocol error: invalid bulk length")),
                }
            }
        };
        // Redis skips the two bytes after the payload without checking them.
        if buf.len() - after < len + 2 {
            return Ok(RequestParse::Incomplete);
        }
        ranges.push((after, after + len));
        pos = after + len + 2;
    }
    Ok(RequestParse::Command(RequestFrame {
        len: pos,
        args: Args::Ranges(ranges),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(input: &[u8]) -> Result<RequestParse, ProtocolError> {
        parse_request(input, &Limits::default())
    }

    fn command(input: &[u8]) -> (Vec<Vec<u8>>, usize) {
        match parse(input).unwrap() {
            RequestParse::Command(frame) => {
                let raw = Bytes::copy_from_slice(&input[..frame.len]);
                let args = frame.args(&raw).into_iter().map(|b| b.to_vec()).collect();
                (args, frame.len)
            }
            other => panic!("expected a command, got {other:?}"),
        }
    }

    fn err(input: &[u8]) -> String {
        parse(input).unwrap_err().0
    }

    #[test]
    fn multibulk() {
        let (args, len) = command(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\nEXTRA");
        assert_eq!(args, [b"GET".to_vec(), b"k".to_vec()]);
        assert_eq!(len, 20);
        let (args, _) = command(b"*1\r\n$0\r\n\r\n");
        assert_eq!(args, [Vec::<u8>::new()]);
        let (args, _) = command(b"*1\r\n$4\r\na\r\nb\r\n");
        assert_eq!(args, [b"a\r\nb".to_vec()]);
    }

    #[test]
    fn inline() {
        let (args, len) = command(b"SET k \"v w\"\r\nPING\r\n");
        assert_eq!(args, [b"SET".to_vec(), b"k".to_vec(), b"v w".to_vec()]);
        assert_eq!(len, 13);
        let (args, len) = command(b"PING\n");
        assert_eq!((args, len), (vec![b"PING".to_vec()], 5));
        assert!(matches!(parse(b"PING").unwrap(), RequestParse::Incomplete));
    }

    #[test]
    fn skipped_without_reply() {
        assert_eq!(parse(b"\r\n").unwrap(), RequestParse::Skip { len: 2 });
        assert_eq!(parse(b"\n").unwrap(), RequestParse::Skip { len: 1 });
        assert_eq!(parse(b"   \r\n").unwrap(), RequestParse::Skip { len: 5 });
        assert_eq!(parse(b"*0\r\n").unwrap(), RequestParse::Skip { len: 4 });
        assert_eq!(parse(b"*-10\r\n").unwrap(), RequestParse::Skip { len: 6 });
    }

    #[test]
    fn redis_error_texts() {
        assert_eq!(
            err(b"*3000000000\r\n"),
            "Protocol error: invalid multibulk length"
        );
        assert_eq!(
            err(b"*blabla\r\n"),
            "Protocol error: invalid multibulk length"
        );
        assert_eq!(err(b"*\r\n"), "Protocol error: invalid multibulk length");
        assert_eq!(
            err(b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n"),
            "Protocol error: expected '$', got 'f'"
        );
        assert_eq!(
            err(b"*1\r\nfoo\r\n"),
            "Protocol error: expected '$', got 'f'"
        );
        assert_eq!(
            err(b"*1\r\n*1\r\n"),
            "Protocol error: expected '$', got '*'"
        );
        for bad in [&b"$-10"[..], b"$2000000000", b"$blabla", b"$", b"$-1"] {
            let mut input = b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n".to_vec();
            input.extend_from_slice(bad);
            input.extend_from_slice(b"\r\n");
            assert_eq!(err(&input), "Protocol error: invalid bulk length");
        }
        assert_eq!(
            err(b"set \"\"\"test-key\"\"\" test-value\r\n"),
            "Protocol error: unbalanced quotes in request"
        );
    }

    /// Wherever the fast header path answers, it answers as the general
    /// one does: every line of up to six bytes from an alphabet of digits,
    /// signs, line ends, a NUL and a letter.
    #[test]
    fn short_headers_agree_with_the_general_path() {
        let alphabet = b"0159-\r\n\0a";
        let limits = Limits::default();
        let mut lines = vec![b"$".to_vec()];
        let mut answered = 0;
        for _ in 0..6 {
            let mut longer = Vec::new();
            for line in &lines {
                for &byte in alphabet {
                    let mut next = line.clone();
                    next.push(byte);
                    if let Some((value, after)) = short_header(&next, 0) {
                        let (text, general_after) =
                            header_line(&next, 0, &limits, "too big").unwrap().unwrap();
                        assert_eq!(general_after, after, "{next:?}");
                        assert_eq!(parse_i64(text), Some(value as i64), "{next:?}");
                        answered += 1;
                    }
                    longer.push(next);
                }
            }
            lines = longer;
        }
        assert!(
            answered > 1000,
            "the fast path answered only {answered} lines"
        );
        // Ten digits are left to the general path, and still read.
        let long = b"*1\r\n$0000000001\r\nx\r\n";
        assert_eq!(short_header(b"$1234567890\r\n", 0), None);
        assert_eq!(err(long), "Protocol error: invalid bulk length");
        let (args, _) = command(b"*1\r\n$10\r\n0123456789\r\n");
        assert_eq!(args, [b"0123456789".to_vec()]);
    }

    #[test]
    fn configurable_bulk_limit() {
        let limits = Limits {
            max_bulk: 10,
            ..Limits::default()
        };
        assert!(parse_request(b"*1\r\n$10\r\n", &limits).is_ok());
        assert_eq!(
            parse_request(b"*1\r\n$11\r\n", &limits).unwrap_err().0,
            "Protocol error: invalid bulk length"
        );
    }

    #[test]
    fn too_big_lines() {
        let mut inline = vec![b'a'; 64 * 1024];
        assert!(matches!(parse(&inline).unwrap(), RequestParse::Incomplete));
        inline.push(b'a');
        assert_eq!(err(&inline), "Protocol error: too big inline request");

        let mut count = b"*".to_vec();
        count.extend(std::iter::repeat_n(b'1', 64 * 1024));
        assert_eq!(err(&count), "Protocol error: too big mbulk count string");

        let mut bulk = b"*1\r\n$".to_vec();
        bulk.extend(std::iter::repeat_n(b'1', 64 * 1024));
        assert_eq!(err(&bulk), "Protocol error: too big bulk count string");
    }

    #[test]
    fn nul_hides_the_line_end_like_strchr() {
        // Redis's protocol desync regression tests: "\x00", "*\x00", "$\x00"
        // followed by lines never find their newline and hit the size limit.
        for (prefix, text) in [
            (&b"\x00"[..], "too big inline request"),
            (b"*\x00", "too big mbulk count string"),
            (b"$\x00", "too big inline request"),
        ] {
            let mut input = prefix.to_vec();
            let mut verdict = None;
            for _ in 0..80 {
                input.extend(std::iter::repeat_n(b'A', 1024));
                input.push(b'\n');
                match parse(&input) {
                    Ok(RequestParse::Incomplete) => continue,
                    Ok(other) => panic!("unexpected {other:?}"),
                    Err(e) => {
                        verdict = Some(e.0);
                        break;
                    }
                }
            }
            assert_eq!(verdict.unwrap(), format!("Protocol error: {text}"));
        }
    }

    #[test]
    fn split_at_every_boundary() {
        let input = b"*3\r\n$3\r\nSET\r\n$4\r\nk\r\nk\r\n$0\r\n\r\n";
        for cut in 0..input.len() {
            assert_eq!(
                parse(&input[..cut]).unwrap(),
                RequestParse::Incomplete,
                "cut {cut}"
            );
        }
        let (args, len) = command(input);
        assert_eq!(len, input.len());
        assert_eq!(args[1], b"k\r\nk");
    }

    /// Requests cannot nest: a deep `*1` bomb from a client fails at its
    /// second line with Redis's own error, whatever its depth.
    #[test]
    fn nested_request_bomb_is_refused_at_once() {
        let bomb = b"*1\r\n".repeat(100_000);
        assert_eq!(
            parse(&bomb).unwrap_err().0,
            "Protocol error: expected '$', got '*'"
        );
    }

    #[test]
    fn huge_count_does_not_allocate() {
        assert_eq!(
            parse(b"*2000000000\r\n$1\r\na\r\n").unwrap(),
            RequestParse::Incomplete
        );
    }
}
