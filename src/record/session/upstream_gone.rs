//! An upstream that cannot be reached, or that stops answering. Apart from
//! the relay because the client then gets answers resplay makes up: an
//! error naming the upstream for each request it sent (or still waits
//! on), in order, and a close, never a bare hang-up.

use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::Session;
use crate::record::RecordShared;
use crate::resp::{parse_request, RequestParse};
use crate::tls::{ClientStream, ClientWriter};

/// The upstream cannot be reached: answer what the client sent with an
/// error naming the upstream, then close.
pub(super) async fn answer_unreachable(
    mut client: ClientStream,
    mut buf: BytesMut,
    reason: &str,
    shared: &RecordShared,
) {
    let line = format!("-ERR resplay: {reason}\r\n");
    // Wait briefly for the client's first requests so it gets a reply
    // rather than a bare close.
    let read = tokio::time::timeout(Duration::from_secs(2), client.read_buf(&mut buf)).await;
    let mut out = Vec::new();
    if let Ok(Ok(n)) = read {
        if n > 0 {
            let mut pos = 0;
            while let Ok(RequestParse::Command(frame)) =
                parse_request(&buf[pos..], &shared.config.limits)
            {
                out.extend_from_slice(line.as_bytes());
                pos += frame.len;
            }
        }
    }
    if out.is_empty() {
        out.extend_from_slice(line.as_bytes());
    }
    let _ = client.write_all(&out).await;
    let _ = client.shutdown().await;
}

/// The upstream is gone: every request still waiting gets an error naming
/// it, in order, and the client connection closes.
pub(super) async fn fail_pending(
    session: &Session,
    client: &mut ClientWriter,
    client_alive: bool,
    reason: &str,
) {
    let addr = &session.shared.config.upstream.addr;
    let pending = session.state().pairing.drain();
    if pending.is_empty() {
        tracing::debug!("connection {}: upstream {addr} {reason}", session.conn);
        let _ = client.shutdown().await;
        return;
    }
    tracing::warn!(
        "connection {}: upstream {addr} {reason}; failing {} waiting request(s)",
        session.conn,
        pending.len()
    );
    if client_alive {
        let line = format!("-ERR resplay: upstream {addr} {reason}\r\n");
        let out: Vec<u8> = pending
            .iter()
            .filter(|p| !p.silent)
            .flat_map(|_| line.bytes())
            .collect();
        let _ = client.write_all(&out).await;
        let _ = client.shutdown().await;
    }
}
