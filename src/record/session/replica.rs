//! The reply path of a connection that sent `SYNC`/`PSYNC`. Apart from the
//! plain relay because after such a request the bytes no longer read as
//! one reply after another (an RDB transfer, then the replication stream:
//! see `record::replication`), so each piece is measured and paired before
//! the next, and a large one is forwarded uncopied. Other connections
//! never come here: the reply half checks one atomic.

use bytes::{Bytes, BytesMut};
use tokio::io::AsyncWriteExt;

use super::Session;
use crate::pairing::Paired;
use crate::resp::{Limits, ProtocolError};
use crate::tls::ClientWriter;

/// What [`take_replication_pieces`] took off the buffer.
pub(super) struct Pieces {
    /// Exact bytes for the client, in order.
    pub(super) forward: Vec<Bytes>,
    /// An invalid reply, after the pieces before it.
    pub(super) bad: Option<ProtocolError>,
    /// Requests still in flight.
    pub(super) pending: usize,
    /// The gate marker after them.
    pub(super) since: u64,
    /// The connection carries the replication stream.
    pub(super) streaming: bool,
}

/// The frame loop for a connection that sent `SYNC`/`PSYNC`: each piece is
/// measured and paired before the next, under one hold of the lock, since
/// a reply can change how the bytes after it read (see
/// `Replication::next_piece`).
pub(super) fn take_replication_pieces(
    session: &Session,
    buf: &mut BytesMut,
    limits: &Limits,
    out: &mut Vec<Paired>,
) -> Pieces {
    let mut guard = session.state();
    let state = &mut *guard;
    let mut forward = Vec::new();
    let mut bad = None;
    loop {
        match state
            .replication
            .next_piece(&mut state.pairing, buf, limits, out)
        {
            Ok(Some(piece)) => forward.push(piece),
            Ok(None) => break,
            Err(e) => {
                bad = Some(e);
                break;
            }
        }
    }
    Pieces {
        forward,
        bad,
        pending: state.pairing.pending(),
        since: session.waiting_since(state),
        streaming: state.replication.is_streaming(),
    }
}

/// Writes pieces to the client: small ones gathered into one write, a
/// large one (an RDB) as it is, uncopied.
pub(super) async fn forward_pieces(
    client: &mut ClientWriter,
    pieces: &[Bytes],
) -> std::io::Result<()> {
    const GATHER: usize = 64 * 1024;
    let mut gathered = BytesMut::new();
    for piece in pieces {
        if piece.len() >= GATHER {
            if !gathered.is_empty() {
                client.write_all(&gathered).await?;
                gathered.clear();
            }
            client.write_all(piece).await?;
        } else {
            gathered.extend_from_slice(piece);
        }
    }
    if !gathered.is_empty() {
        client.write_all(&gathered).await?;
    }
    Ok(())
}
