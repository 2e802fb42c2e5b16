//! Interaction and push lines written straight from the bytes on the wire.
//!
//! The recorder keeps each reply as the exact frame the server sent; building
//! an [`Event`] would mean decoding every frame into a `Value` first. These
//! functions write the line [`Event::write_line`] would write for the same
//! event (same keys, same order, same JSON; the tests compare the two), with
//! the replies transcoded by [`write_reply_json`].
//!
//! [`Event`]: super::Event
//! [`Event::write_line`]: super::Event::write_line

use bytes::Bytes;

use super::json::{write_bytes_json, write_int_json, write_reply_json, JsonValue};
use crate::resp::{parse_reply, Limits};

/// Where and when an interaction happened (the keys before `cmd`).
#[derive(Debug, Clone, Copy)]
pub struct InteractionHead {
    /// The recorded connection.
    pub conn: u64,
    /// The database the command ran in (written only when not 0).
    pub db: u32,
    /// Index of the request within its connection.
    pub seq: u64,
    /// When the request arrived, in ms since the recording started.
    pub at_ms: u64,
    /// Time until the last reply byte, in µs.
    pub took_us: u64,
}

/// Appends `{"conn":…,["db":…,]"seq":…,"at_ms":…,"took_us":…,"cmd":[…],"reply":…}`
/// (or `"replies":[…]`, or neither when there is no reply) and `\n`.
/// `replies` are complete reply frames; should one not be exactly one
/// reply (each was measured by `reply_len`, so it is), the line is left out
/// and an error logged, so the file never holds a wrong or partial line.
pub fn write_interaction_line(
    out: &mut Vec<u8>,
    head: InteractionHead,
    cmd: &[Bytes],
    replies: &[Bytes],
) -> bool {
    let start = out.len();
    out.extend_from_slice(b"{\"conn\":");
    write_int_json(head.conn, out);
    if head.db != 0 {
        out.extend_from_slice(b",\"db\":");
        write_int_json(u64::from(head.db), out);
    }
    out.extend_from_slice(b",\"seq\":");
    write_int_json(head.seq, out);
    out.extend_from_slice(b",\"at_ms\":");
    write_int_json(head.at_ms, out);
    out.extend_from_slice(b",\"took_us\":");
    write_int_json(head.took_us, out);
    out.extend_from_slice(b",\"cmd\":[");
    for (i, arg) in cmd.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_bytes_json(arg, out);
    }
    out.push(b']');
    let written = match replies {
        [] => true,
        [one] => {
            out.extend_from_slice(b",\"reply\":");
            write_frame(one, out)
        }
        many => {
            out.extend_from_slice(b",\"replies\":[");
            let mut ok = true;
            for (i, frame) in many.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                ok &= write_frame(frame, out);
            }
            out.push(b']');
            ok
        }
    };
    finish(out, start, written)
}

/// Appends `{"conn":…,"at_ms":…,"push":…}` and `\n` for one pushed frame.
pub fn write_push_line(out: &mut Vec<u8>, conn: u64, at_ms: u64, frame: &Bytes) -> bool {
    let start = out.len();
    out.extend_from_slice(b"{\"conn\":");
    write_int_json(conn, out);
    out.extend_from_slice(b",\"at_ms\":");
    write_int_json(at_ms, out);
    out.extend_from_slice(b",\"push\":");
    let written = write_frame(frame, out);
    finish(out, start, written)
}

fn finish(out: &mut Vec<u8>, start: usize, written: bool) -> bool {
    if written {
        out.extend_from_slice(b"}\n");
    } else {
        out.truncate(start);
        tracing::error!("cassette: a reply frame did not decode; its event is not written");
    }
    written
}

/// One reply frame as JSON: transcoded, or (should the transcoder refuse
/// it) decoded and serialized the slow way.
fn write_frame(frame: &Bytes, out: &mut Vec<u8>) -> bool {
    let start = out.len();
    if write_reply_json(frame, out) == Some(frame.len()) {
        return true;
    }
    // Not exactly one frame as the transcoder sees it: drop whatever it
    // wrote and let the parser decide.
    out.truncate(start);
    match parse_reply(frame, &Limits::upstream()) {
        Ok(Some((value, len))) if len == frame.len() => {
            serde_json::to_writer(&mut *out, &JsonValue(&value)).is_ok()
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cassette::{Event, Interaction, PushEvent};
    use crate::resp::{to_bytes, Value};

    fn frame(v: &Value) -> Bytes {
        to_bytes(v).freeze()
    }

    fn via_event(ev: Event) -> String {
        let mut out = Vec::new();
        ev.write_line(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn interaction_lines_match_the_event_serializer() {
        let cmd = vec![
            Bytes::from_static(b"SET"),
            Bytes::from_static(b"k\"\\\n"),
            Bytes::from_static(&[0xff, 0x00, b'v']),
        ];
        let reply_sets = [
            vec![],
            vec![Value::simple("OK")],
            vec![
                Value::Array(vec![Value::bulk("subscribe"), Value::bulk("a")]),
                Value::Map(vec![(Value::Integer(-3), Value::Null)]),
                Value::BulkError(Bytes::from_static(b"ERR \xfe")),
            ],
        ];
        for (n, replies) in reply_sets.into_iter().enumerate() {
            let db = n as u32; // 0 (left out) and others
            let head = InteractionHead {
                conn: 7,
                db,
                seq: u64::MAX,
                at_ms: 0,
                took_us: 12345,
            };
            let frames: Vec<Bytes> = replies.iter().map(frame).collect();
            let mut out = b"before\n".to_vec();
            assert!(write_interaction_line(&mut out, head, &cmd, &frames));
            let expected = via_event(Event::Interaction(Interaction {
                conn: 7,
                db,
                seq: u64::MAX,
                at_ms: 0,
                took_us: 12345,
                cmd: cmd.clone(),
                replies,
            }));
            assert_eq!(String::from_utf8_lossy(&out[7..]), expected);
        }
    }

    #[test]
    fn push_lines_match_the_event_serializer() {
        let push = Value::Push(vec![Value::bulk("invalidate"), Value::Array(vec![])]);
        let mut out = Vec::new();
        assert!(write_push_line(&mut out, 3, 99, &frame(&push)));
        let expected = via_event(Event::Push(PushEvent {
            conn: 3,
            at_ms: 99,
            push,
        }));
        assert_eq!(String::from_utf8_lossy(&out), expected);
    }

    #[test]
    fn a_frame_that_is_not_exactly_one_reply_leaves_no_partial_line() {
        let mut out = b"kept\n".to_vec();
        // Incomplete, and two frames where one is due.
        for bad in [&b"*2\r\n:1\r\n"[..], b":1\r\n:2\r\n"] {
            assert!(!write_push_line(&mut out, 1, 0, &Bytes::from_static(bad)));
            assert_eq!(out, b"kept\n");
        }
    }
}
