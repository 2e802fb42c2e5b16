//! The RDB transfer that answers `SYNC` and `PSYNC`.
//!
//! It looks like a bulk string but is not one: Redis sends `$<len>\r\n`
//! and the RDB file with **no** CRLF after it, or, to a replica that
//! announced `REPLCONF capa eof` (diskless sync), `$EOF:<40-byte mark>\r\n`,
//! the RDB, and the same mark again. The reply scanner would wait forever
//! for the missing CRLF (or reject the `EOF:` header), so the recorder
//! measures the transfer here, and replay writes it back here.
//!
//! In a cassette the transfer is one bulk string (`docs/cassette-format.md`,
//! "SYNC and PSYNC"): the RDB itself for the `$<len>` form, and everything
//! after the `$` (`EOF:<mark>\r\n<RDB><mark>`) for the diskless form. An
//! RDB file starts with `REDIS`, so the two never look alike, and
//! [`encode_transfer`] gives back the exact bytes of either.

use bytes::{BufMut, BytesMut};

use super::limits::{parse_i64, Limits, ProtocolError};

/// Length of the end mark of a diskless transfer (`CONFIG_RUN_ID_SIZE`).
pub const EOF_MARK_LEN: usize = 40;

/// `EOF:` ahead of the mark, in the header and in the stored form.
const EOF_PREFIX: &[u8] = b"EOF:";

/// A complete transfer at the start of a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    /// Its length on the wire.
    pub len: usize,
    /// Where the bytes a cassette stores lie in the buffer (see the module
    /// documentation).
    pub stored: std::ops::Range<usize>,
}

/// Measures the RDB transfer at the start of `buf` (which starts with `$`):
/// `Ok(None)` while it is not all buffered.
///
/// `searched` is the caller's memory of how much of `buf` an earlier call
/// already searched for a diskless end mark, so that a transfer arriving in
/// thousands of reads is searched once, not once per read; it is reset to 0
/// when a transfer completes.
pub fn transfer_len(
    buf: &[u8],
    limits: &Limits,
    searched: &mut usize,
) -> Result<Option<Transfer>, ProtocolError> {
    let invalid = || ProtocolError::new("Protocol error: invalid bulk length");
    if buf.first() != Some(&b'$') {
        return Err(ProtocolError::new(
            "Protocol error: expected '$' before the RDB payload",
        ));
    }
    let Some(lf) = memchr::memchr(b'\n', &buf[..buf.len().min(limits.max_inline)]) else {
        return if buf.len() >= limits.max_inline {
            Err(ProtocolError::new("Protocol error: too big line"))
        } else {
            Ok(None)
        };
    };
    if lf < 2 || buf[lf - 1] != b'\r' {
        return Err(ProtocolError::new("Protocol error: expected CRLF"));
    }
    let text = &buf[1..lf - 1];
    let start = lf + 1;
    if let Some(mark) = text.strip_prefix(EOF_PREFIX) {
        if mark.len() != EOF_MARK_LEN {
            return Err(invalid());
        }
        // The mark may straddle the end of what was searched last time.
        let from = start.max(searched.saturating_sub(EOF_MARK_LEN - 1));
        return match memchr::memmem::find(&buf[from..], mark) {
            Some(at) => {
                *searched = 0;
                let len = from + at + EOF_MARK_LEN;
                Ok(Some(Transfer {
                    len,
                    stored: 1..len,
                }))
            }
            None if buf.len() - start > limits.max_bulk + EOF_MARK_LEN => Err(invalid()),
            None => {
                *searched = buf.len();
                Ok(None)
            }
        };
    }
    let n = match parse_i64(text) {
        Some(n) if n >= 0 && (n as u64) <= limits.max_bulk as u64 => n as usize,
        _ => return Err(invalid()),
    };
    let len = start + n;
    Ok((buf.len() >= len).then_some(Transfer {
        len,
        stored: start..len,
    }))
}

/// True when `stored` is a diskless transfer as a cassette stores it:
/// `EOF:<mark>\r\n<payload><mark>`.
pub fn is_eof_form(stored: &[u8]) -> bool {
    let head = EOF_PREFIX.len() + EOF_MARK_LEN;
    stored.len() >= head + 2 + EOF_MARK_LEN
        && stored.starts_with(EOF_PREFIX)
        && &stored[head..head + 2] == b"\r\n"
        && stored[EOF_PREFIX.len()..head] == stored[stored.len() - EOF_MARK_LEN..]
}

/// Appends the transfer whose stored form is `stored`, byte for byte as
/// Redis sent it: no CRLF after the payload.
pub fn encode_transfer(stored: &[u8], out: &mut BytesMut) {
    out.reserve(stored.len() + 24);
    out.put_u8(b'$');
    if !is_eof_form(stored) {
        out.put_slice(itoa::Buffer::new().format(stored.len()).as_bytes());
        out.put_slice(b"\r\n");
    }
    out.put_slice(stored);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measure(buf: &[u8]) -> Result<Option<Transfer>, ProtocolError> {
        transfer_len(buf, &Limits::default(), &mut 0)
    }

    #[test]
    fn sized_form_has_no_crlf_after_the_payload() {
        let wire = b"$5\r\nREDIS*1\r\n$4\r\nPING\r\n";
        let t = measure(wire).unwrap().unwrap();
        assert_eq!(
            t,
            Transfer {
                len: 9,
                stored: 4..9
            }
        );
        for cut in 0..9 {
            assert_eq!(measure(&wire[..cut.max(1)]).unwrap(), None, "cut {cut}");
        }
        let mut out = BytesMut::new();
        encode_transfer(&wire[t.stored], &mut out);
        assert_eq!(&out[..], &wire[..9]);
    }

    #[test]
    fn eof_form_round_trips_and_is_searched_once() {
        let mark = [b'x'; EOF_MARK_LEN];
        let mut wire = b"$EOF:".to_vec();
        wire.extend_from_slice(&mark);
        wire.extend_from_slice(b"\r\nREDIS0009 payload");
        wire.extend_from_slice(&mark);
        let total = wire.len();
        wire.extend_from_slice(b"*1\r\n$4\r\nPING\r\n");
        let mut searched = 0;
        // Fed a few bytes at a time, the mark is found where it ends.
        let mut found = None;
        for end in 1..=wire.len() {
            if let Some(t) = transfer_len(&wire[..end], &Limits::default(), &mut searched).unwrap()
            {
                found = Some((end, t));
                break;
            }
        }
        let (end, t) = found.unwrap();
        assert_eq!((end, t.len), (total, total));
        assert_eq!(searched, 0);
        assert!(is_eof_form(&wire[t.stored.clone()]));
        let mut out = BytesMut::new();
        encode_transfer(&wire[t.stored], &mut out);
        assert_eq!(&out[..], &wire[..total]);
        // An RDB is never taken for the EOF form.
        assert!(!is_eof_form(b"REDIS0009"));
    }

    #[test]
    fn bad_headers_are_errors() {
        let limits = Limits {
            max_bulk: 10,
            ..Limits::default()
        };
        for bad in [
            &b"$-1\r\n"[..],
            b"$11\r\n",
            b"$EOF:short\r\n",
            b"$3\n",
            b"+OK\r\n",
        ] {
            assert!(transfer_len(bad, &limits, &mut 0).is_err(), "{bad:?}");
        }
        let mut long = b"$EOF:".to_vec();
        long.extend_from_slice(&[b'm'; EOF_MARK_LEN]);
        long.extend_from_slice(b"\r\n");
        long.extend_from_slice(&[0; 100]);
        assert!(transfer_len(&long, &limits, &mut 0).is_err());
    }
}
