//! `--on-miss passthrough`: a command nothing recorded answers goes to the
//! real upstream, on a connection of its own per live connection.

use std::time::Instant;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::pairing::{Paired, Pairing, Pending};
use crate::resp::{parse_reply, reply_len, Limits, Value};
use crate::tls::ClientReader;
use crate::upstream::{Upstream, UpstreamStream};

/// Most client bytes read ahead while a command waits on the upstream.
const READ_AHEAD: usize = 1 << 20;

/// One live connection's way to the upstream.
pub struct Passthrough {
    stream: UpstreamStream,
    buf: BytesMut,
    pairing: Pairing,
    seq: u64,
}

/// What the upstream said to one command.
pub struct Forwarded {
    /// The exact reply bytes (and any pushes that came meanwhile), in order.
    pub bytes: Bytes,
    /// The decoded replies to the command.
    pub replies: Vec<Value>,
    /// Pushes that arrived meanwhile.
    pub pushes: Vec<Value>,
}

impl Passthrough {
    /// Connects (and logs in) to the upstream.
    pub async fn connect(
        upstream: &Upstream,
    ) -> Result<Passthrough, crate::upstream::UpstreamError> {
        Ok(Passthrough {
            stream: upstream.connect().await?,
            buf: BytesMut::new(),
            pairing: Pairing::new(upstream.db),
            seq: 0,
        })
    }

    /// Sends one request (its exact bytes) to run in database `db`, and
    /// reads until it is answered. Replay answers `SELECT` itself, so the
    /// upstream connection is moved to `db` first when it is elsewhere.
    pub async fn forward(
        &mut self,
        db: u32,
        raw: &[u8],
        args: Vec<Bytes>,
        limits: &Limits,
    ) -> std::io::Result<Forwarded> {
        if self.pairing.db() != db {
            let select = vec![Bytes::from_static(b"SELECT"), Bytes::from(db.to_string())];
            let mut frame = BytesMut::new();
            crate::resp::encode_command(&select, &mut frame);
            let answer = self.send(&frame, select, limits).await?;
            if let Some(error) = answer.replies.first().filter(|v| v.is_error()) {
                return Err(invalid(format!("SELECT {db} failed: {error:?}")));
            }
        }
        self.send(raw, args, limits).await
    }

    async fn send(
        &mut self,
        raw: &[u8],
        args: Vec<Bytes>,
        limits: &Limits,
    ) -> std::io::Result<Forwarded> {
        self.stream.write_all(raw).await?;
        self.pairing
            .push_request(Pending::new(self.seq, args, Instant::now(), false));
        self.seq += 1;
        let mut bytes = BytesMut::new();
        let mut pushes = Vec::new();
        loop {
            while let Some(len) = reply_len(&self.buf, limits).map_err(invalid)? {
                let frame = self.buf.split_to(len).freeze();
                bytes.extend_from_slice(&frame);
                let mut paired = Vec::new();
                self.pairing.on_frame(frame, &mut paired);
                for p in paired {
                    match p {
                        Paired::Push(frame) => pushes.push(decode(&frame, limits)?),
                        // Faults are applied before passthrough, never here.
                        Paired::Local(_) => {}
                        Paired::Interaction { replies, .. } => {
                            return Ok(Forwarded {
                                bytes: bytes.freeze(),
                                replies: replies
                                    .iter()
                                    .map(|frame| decode(frame, limits))
                                    .collect::<Result<_, _>>()?,
                                pushes,
                            })
                        }
                    }
                }
            }
            if self.stream.read_buf(&mut self.buf).await? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
        }
    }
}

/// Returns once the client has closed its connection (or it broke), to be
/// raced against [`Passthrough::forward`]. What the client sends meanwhile
/// (commands pipelined behind a blocked one) is kept in `buf`, and
/// `unread` set; past [`READ_AHEAD`] bytes it stops reading and only waits.
pub(super) async fn client_gone(reader: &mut ClientReader, buf: &mut BytesMut, unread: &mut bool) {
    while buf.len() < READ_AHEAD {
        buf.reserve(16 * 1024);
        match reader.read_buf(buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => *unread = true,
        }
    }
    std::future::pending().await
}

/// Decodes a frame `reply_len` measured.
fn decode(frame: &Bytes, limits: &Limits) -> std::io::Result<Value> {
    match parse_reply(frame, limits).map_err(invalid)? {
        Some((value, _)) => Ok(value),
        None => Err(invalid("frame vanished")),
    }
}

fn invalid(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string())
}
