//! A connection's side of the journal: calls noted without a lock into a
//! block of bytes of its own, and published a batch at a time.

use bytes::{Bytes, BytesMut};

use super::{now_ms, Entry, Journal, Reply, KEPT_ARG, KEPT_BYTES};
use crate::resp::{encode_command, parse_request, Limits, RequestParse, Value};

/// Bytes a scribe's block holds before it takes a new one: a block stays
/// alive while any call noted in it is kept, so it is small.
const BLOCK: usize = 4096;

/// Notes one connection's calls for its [`Journal`].
pub struct Scribe {
    journal: Journal,
    conn: u64,
    /// The bytes of the calls noted since the last publish, at the end of
    /// the current block.
    block: BytesMut,
    /// Calls noted and not published: ranges into `block`.
    noted: Vec<Noted>,
    /// Reused by every publish.
    entries: Vec<Entry>,
}

struct Noted {
    db: u32,
    request: (usize, usize),
    cut: bool,
    reply: NotedReply,
}

enum NotedReply {
    Wire(usize, usize),
    Shown(std::sync::Arc<str>),
}

impl Scribe {
    pub(super) fn new(journal: Journal, conn: u64) -> Scribe {
        Scribe {
            journal,
            conn,
            block: BytesMut::new(),
            noted: Vec::new(),
            entries: Vec::new(),
        }
    }

    /// Room for `n` more bytes in the block.
    fn room(&mut self, n: usize) {
        if self.block.capacity() - self.block.len() < n {
            self.block.reserve(n.max(BLOCK));
        }
    }

    /// Notes a call from its request as the client sent it (RESP or
    /// inline) and the reply bytes it got (possibly none), in database `db`.
    pub fn note(&mut self, db: u32, request: &[u8], reply: &[u8]) {
        let start = self.block.len();
        let cut = request.len() > KEPT_BYTES;
        if cut {
            let args = args_of(request);
            self.room(KEPT_BYTES);
            encode_cut(&args, &mut self.block);
        } else {
            self.room(request.len() + reply.len().min(KEPT_BYTES));
            self.block.extend_from_slice(request);
        }
        let request = (start, self.block.len());
        let reply = self.reply(reply);
        self.noted.push(Noted {
            db,
            request,
            cut,
            reply,
        });
    }

    /// Notes a call from its arguments and the reply frames it got
    /// (recording: the request is already split into arguments).
    pub fn note_args(&mut self, db: u32, args: &[Bytes], frames: &[Bytes]) {
        let start = self.block.len();
        let size: usize = args.iter().map(|a| a.len() + 16).sum();
        let cut = size > KEPT_BYTES;
        if cut {
            self.room(KEPT_BYTES);
            encode_cut(args, &mut self.block);
        } else {
            self.room(size + 16);
            encode_command(args, &mut self.block);
        }
        let request = (start, self.block.len());
        let total: usize = frames.iter().map(Bytes::len).sum();
        let reply = if total > KEPT_BYTES {
            NotedReply::Shown(shown(frames).into())
        } else {
            self.room(total);
            let at = self.block.len();
            for frame in frames {
                self.block.extend_from_slice(frame);
            }
            NotedReply::Wire(at, self.block.len())
        };
        self.noted.push(Noted {
            db,
            request,
            cut,
            reply,
        });
    }

    fn reply(&mut self, reply: &[u8]) -> NotedReply {
        if reply.len() > KEPT_BYTES {
            return NotedReply::Shown(shown(&[Bytes::copy_from_slice(reply)]).into());
        }
        self.room(reply.len());
        let at = self.block.len();
        self.block.extend_from_slice(reply);
        NotedReply::Wire(at, self.block.len())
    }

    /// Hands what was noted to the journal: one hold of its lock.
    pub fn publish(&mut self) {
        if self.noted.is_empty() {
            return;
        }
        // The noted bytes leave the block; it keeps its spare room for
        // the next batch.
        let bytes = self.block.split().freeze();
        let at_ms = now_ms();
        for noted in self.noted.drain(..) {
            let reply = match noted.reply {
                NotedReply::Wire(s, e) => Reply::Wire(bytes.slice(s..e)),
                NotedReply::Shown(text) => Reply::Shown(text),
            };
            self.entries.push(Entry {
                id: 0,
                conn: self.conn,
                db: noted.db,
                at_ms,
                request: bytes.slice(noted.request.0..noted.request.1),
                cut: noted.cut,
                reply,
            });
        }
        self.journal.publish(&mut self.entries);
    }
}

impl Drop for Scribe {
    fn drop(&mut self) {
        self.publish();
    }
}

/// A request's arguments (none when it does not parse).
pub(super) fn args_of(request: &[u8]) -> Vec<Bytes> {
    match parse_request(request, &Limits::default()) {
        Ok(RequestParse::Command(frame)) => {
            let raw = Bytes::copy_from_slice(&request[..frame.len]);
            frame.args(&raw)
        }
        _ => Vec::new(),
    }
}

/// A request with each argument cut to [`KEPT_ARG`] bytes, as many
/// arguments as fit in [`KEPT_BYTES`].
fn encode_cut(args: &[Bytes], out: &mut BytesMut) {
    let per = KEPT_ARG + 16;
    let kept: Vec<&[u8]> = args
        .iter()
        .take((KEPT_BYTES / per).max(1))
        .map(|a| &a[..a.len().min(KEPT_ARG)])
        .collect();
    encode_command(&kept, out);
}

/// Reply frames as the journal displays them.
fn shown(frames: &[Bytes]) -> String {
    let values: Vec<Value> = frames.iter().flat_map(super::query::frames).collect();
    crate::tail::show_values(&values)
}
