//! A client carried into record (or passthrough) mode by a switch keeps its
//! protocol, database and subscriptions: its new upstream connection is
//! brought to that state before the first relayed byte. What this costs is
//! not recorded; the cassette's interactions carry the database they ran
//! in, and its pushes are recorded as usual.

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::handover::CarriedState;
use crate::resp::{encode_command, parse_reply, Limits, Value};
use crate::upstream::{Upstream, UpstreamError, UpstreamStream};

/// Sends what restores `state` on a fresh upstream connection and reads
/// every reply. Returns the connection and the bytes read past the last
/// reply (a message published meanwhile), which the relay must see first.
pub(crate) async fn restore(
    mut stream: UpstreamStream,
    state: &CarriedState,
    upstream: &Upstream,
) -> Result<(UpstreamStream, BytesMut), UpstreamError> {
    let mut steps: Vec<(&'static str, Vec<Bytes>, usize)> = Vec::new();
    if state.protocol == 3 {
        steps.push(("HELLO", words(&["HELLO", "3"]), 1));
    }
    if state.db != upstream.db {
        let select = vec![
            Bytes::from_static(b"SELECT"),
            Bytes::from(state.db.to_string()),
        ];
        steps.push(("SELECT", select, 1));
    }
    for args in state.subscribe_commands() {
        // Redis confirms each channel with its own reply.
        let confirmations = args.len() - 1;
        let step = match args[0].as_ref() {
            b"PSUBSCRIBE" => "PSUBSCRIBE",
            b"SSUBSCRIBE" => "SSUBSCRIBE",
            _ => "SUBSCRIBE",
        };
        steps.push((step, args, confirmations));
    }
    let io = |e: std::io::Error| UpstreamError::Unreachable {
        addr: upstream.addr.clone(),
        reason: e.to_string(),
    };
    let mut out = BytesMut::new();
    for (_, args, _) in &steps {
        encode_command(args, &mut out);
    }
    if out.is_empty() {
        return Ok((stream, BytesMut::new()));
    }
    stream.write_all(&out).await.map_err(io)?;
    let limits = Limits::upstream();
    let mut buf = BytesMut::new();
    for (step, _, replies) in &steps {
        for _ in 0..*replies {
            let value = loop {
                let frozen = Bytes::copy_from_slice(&buf);
                let parsed = parse_reply(&frozen, &limits).map_err(|e| UpstreamError::Refused {
                    addr: upstream.addr.clone(),
                    step,
                    reply: e.to_string(),
                })?;
                if let Some((value, len)) = parsed {
                    let _ = buf.split_to(len);
                    break value;
                }
                if stream.read_buf(&mut buf).await.map_err(io)? == 0 {
                    return Err(io(std::io::ErrorKind::UnexpectedEof.into()));
                }
            };
            if let Value::Error(e) | Value::BulkError(e) = &value {
                return Err(UpstreamError::Refused {
                    addr: upstream.addr.clone(),
                    step,
                    reply: String::from_utf8_lossy(e).into_owned(),
                });
            }
        }
    }
    Ok((stream, buf))
}

fn words(list: &[&'static str]) -> Vec<Bytes> {
    list.iter()
        .map(|w| Bytes::from_static(w.as_bytes()))
        .collect()
}
