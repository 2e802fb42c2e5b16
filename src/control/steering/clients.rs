//! A client connection's side of steering: one task per client that lives
//! through every mode it meets.
//!
//! The switch only publishes which mode is active (none while it drains
//! the old one). Here a connection picks that up, waits while there is
//! none, is counted in the mode's sessions before it starts (so that a
//! switch waits for it), and after a handover goes on in the next mode
//! with what it carries.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::Inner;
use crate::handover::{Carry, SessionEnd};

/// One client connection for its whole life, through every mode it meets.
pub(super) async fn connection(inner: Arc<Inner>, carry: Carry, id: u64) {
    inner.clients.fetch_add(1, Ordering::Relaxed);
    through_modes(&inner, carry, id).await;
    inner.clients.fetch_sub(1, Ordering::Relaxed);
}

async fn through_modes(inner: &Inner, mut carry: Carry, id: u64) {
    let mut modes = inner.active.subscribe();
    loop {
        let active = loop {
            let current = modes.borrow_and_update().clone();
            if let Some(active) = current {
                // Counted before the check: a switch that cancels after the
                // check waits for this session.
                let token = active.sessions.token();
                if !active.stop.is_cancelled() && active.serves() {
                    break (active, token);
                }
            }
            tokio::select! {
                _ = inner.shutdown.cancelled() => return,
                changed = modes.changed() => if changed.is_err() { return },
            }
        };
        let (active, token) = active;
        let end = match active.session(carry, id).await {
            Ok(end) => end,
            // Not reached (idle is skipped above); waits like it.
            Err(unserved) => {
                carry = unserved;
                drop(token);
                continue;
            }
        };
        // Announced before the old mode counts this session done, so the
        // switch that follows waits for it to arrive in the new mode.
        match &end {
            SessionEnd::HandedOver(_) => inner.registry.will_arrive(id),
            // Closed, or its upstream unreachable: nothing to wait for.
            SessionEnd::Closed => inner.registry.will_not_arrive(id),
        }
        drop(token);
        drop(active);
        match end {
            SessionEnd::Closed => return,
            SessionEnd::HandedOver(next) => carry = next,
        }
    }
}
