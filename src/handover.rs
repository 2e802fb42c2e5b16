//! A client connection carried from one mode to the next when a running
//! resplay switches mode with `reset_connections_on_start = false`.
//!
//! The old mode's session finishes what is in flight and hands back the
//! socket, the bytes it read but could not yet parse, and what the client
//! set up on it; the new mode's session picks it up there, so the
//! application sees one unbroken connection: same database, same protocol,
//! same subscriptions.

use crate::tls::ClientStream;
use bytes::{Bytes, BytesMut};

use crate::command::Namespace;

/// A client connection on its way into a session.
pub struct Carry {
    /// The client's socket.
    pub stream: ClientStream,
    /// Client bytes read but not yet a whole command: the start of the next
    /// command, which the new session must see first.
    pub buffered: BytesMut,
    /// What the client set up before the switch; `None` for a connection
    /// just accepted.
    pub state: Option<CarriedState>,
}

impl Carry {
    /// A connection just accepted.
    pub fn fresh(stream: ClientStream) -> Carry {
        Carry {
            stream,
            buffered: BytesMut::new(),
            state: None,
        }
    }
}

/// The connection state a client expects to keep across a switch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CarriedState {
    /// 2 or 3 (`HELLO`).
    pub protocol: u8,
    /// The selected database (`SELECT`).
    pub db: u32,
    /// Channels, patterns and shard channels subscribed to.
    pub subscriptions: Vec<(Namespace, Bytes)>,
}

impl CarriedState {
    /// The commands that subscribe a fresh connection to what this one
    /// was subscribed to: one `SUBSCRIBE`, `PSUBSCRIBE` or `SSUBSCRIBE` per
    /// namespace in use, each naming all its channels.
    pub fn subscribe_commands(&self) -> Vec<Vec<Bytes>> {
        [
            (Namespace::Channel, "SUBSCRIBE"),
            (Namespace::Pattern, "PSUBSCRIBE"),
            (Namespace::Shard, "SSUBSCRIBE"),
        ]
        .into_iter()
        .filter_map(|(ns, verb)| {
            let mut args = vec![Bytes::from_static(verb.as_bytes())];
            args.extend(
                self.subscriptions
                    .iter()
                    .filter(|(n, _)| *n == ns)
                    .map(|(_, s)| s.clone()),
            );
            (args.len() > 1).then_some(args)
        })
        .collect()
    }
}

/// How a session ended.
pub enum SessionEnd {
    /// The connection is closed.
    Closed,
    /// The mode is being switched: the connection continues in the next one.
    HandedOver(Carry),
}
