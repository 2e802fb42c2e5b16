//! What reaches a connection besides its own replies: the pushes a served
//! recording triggers (written here at once, or sent to another live
//! connection through its channel after the recorded gap), the close of a
//! recorded connection the server killed, and messages injected through
//! the control API. Apart from answering because it crosses connections:
//! [`PushOut`] is what travels on their channels.

use std::time::Duration;

use bytes::BytesMut;

use super::{encode_for, Session};
use crate::replay::matcher::Delivery;
use crate::replay::Timing;
use crate::resp::{NullShape, Value};
use crate::server::inject::Listener;
use crate::server::registry::InjectRequest;

/// What another connection's replay sends a live connection.
pub(crate) enum PushOut {
    /// A recorded push.
    Push(Value),
    /// The server closed its recorded connection here (`CLIENT KILL`).
    Close,
    /// A message injected through the control API.
    Inject(InjectRequest),
    /// The connection's stop token fired (a reset, a switch, the server
    /// stopping): finish and close, or hand the connection over. Sent by a
    /// watcher task, so that the loop every request goes through watches
    /// one channel, not the channel and the token.
    Stop,
}

impl Session {
    /// Writes what came down the connection's channel into `out`; `None`
    /// when it says to close the connection.
    pub(super) fn push_out(&self, push: PushOut, out: &mut BytesMut) -> Option<()> {
        match push {
            PushOut::Push(value) => {
                encode_for(&value, self.info.protocol, NullShape::Bulk, out);
            }
            PushOut::Inject(request) => self.inject(request, out),
            PushOut::Close | PushOut::Stop => return None,
        }
        Some(())
    }

    /// Writes an injected message into `out` if this connection's
    /// subscriptions (or its key tracking) concern it.
    pub(super) fn inject(&self, request: InjectRequest, out: &mut BytesMut) {
        let subscriptions = self.matcher().subscriptions(self.live);
        let frames = request.injection.frames_for(&Listener {
            protocol: self.info.protocol,
            subscriptions: &subscriptions,
            tracking: self.tracking,
        });
        let _ = request.done.send(frames.len() as u64);
        for frame in &frames {
            encode_for(frame, self.info.protocol, NullShape::Bulk, out);
        }
    }

    /// Closes the live connections whose recorded ones the server closed at
    /// this point (`CLIENT KILL`), this one after what it was answered.
    pub(super) fn close_killed(&mut self, closes: Vec<u64>) {
        for live in closes {
            if live == self.live {
                self.closing = true;
            } else {
                self.shared.close(live);
            }
        }
    }

    /// Sends the pushes a served recording triggers: to this connection
    /// right after the reply, to others through their channels.
    pub(super) fn deliver(&self, deliveries: Vec<(Delivery, Value)>, out: &mut BytesMut) {
        let recorded = self.shared.config.timing == Timing::Recorded;
        for (delivery, value) in deliveries {
            let gap = if recorded {
                Duration::from_millis(delivery.gap_ms)
            } else {
                Duration::ZERO
            };
            if delivery.live == self.live && gap.is_zero() {
                encode_for(&value, self.info.protocol, NullShape::Bulk, out);
            } else {
                self.shared.deliver(delivery.live, value, gap);
            }
        }
    }
}
