//! A client connection carried from one mode to the next when a running
//! resplay switches mode with `reset_connections_on_start = false`.
//!
//! The old mode's session finishes what is in flight and hands back the
//! socket, the bytes it read but could not yet parse, and what the client
//! set up on it; the new mode's session picks it up there, so the
//! application sees one unbroken connection: same database, same protocol,
//! same subscriptions.

use crate::tls::ClientStream;
use bytes::BytesMut;

pub use crate::carried_state::CarriedState;

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

/// How a session ended.
pub enum SessionEnd {
    /// The connection is closed.
    Closed,
    /// The mode is being switched: the connection continues in the next one.
    HandedOver(Carry),
}
