//! How many requests a recorded client may have in flight before the
//! request half stops reading it: as many as keep their replies, at the
//! size this connection's replies have had, under the client output limit
//! (`--client-output-limit`). A client that pipelines without reading then
//! stops being read once that much is owed to it, so the back-pressure
//! reaches it (and Redis is asked for no more than that), instead of
//! Redis, or resplay, holding every reply it asked for. Apart from the two
//! halves because both use it: the reply half measures, the request half
//! waits.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::MAX_IN_FLIGHT;

/// The reply size assumed before the first reply is seen: large enough
/// that a first pipeline of large replies asks Redis for little more than
/// the limit (64 requests at 16 MB), small enough that one of small
/// replies is held back for a round trip at most.
const FIRST_GUESS: usize = 256 * 1024;

/// The cap, and the reply size it is worked out from.
pub(super) struct InFlightCap {
    /// Bytes of replies one client may be owed.
    limit: usize,
    /// Bytes per reply, as recently seen.
    estimate: AtomicUsize,
    /// Requests in flight allowed now.
    cap: AtomicUsize,
}

impl InFlightCap {
    pub(super) fn new(limit: usize) -> InFlightCap {
        InFlightCap {
            limit,
            estimate: AtomicUsize::new(FIRST_GUESS),
            cap: AtomicUsize::new(cap_for(limit, FIRST_GUESS)),
        }
    }

    /// Requests in flight allowed now.
    pub(super) fn get(&self) -> usize {
        self.cap.load(Ordering::Relaxed)
    }

    /// The reply half forwarded `frames` whole replies, `bytes` in all.
    /// Larger replies lower the cap at once (the next requests are held
    /// before Redis is asked for more of them); smaller ones raise it
    /// gradually (the estimate halves toward them per read).
    pub(super) fn observe(&self, frames: usize, bytes: usize) {
        if frames == 0 {
            return;
        }
        let seen = bytes / frames;
        let old = self.estimate.load(Ordering::Relaxed);
        let estimate = if seen >= old { seen } else { (old + seen) / 2 };
        if estimate != old {
            self.estimate.store(estimate, Ordering::Relaxed);
            self.cap
                .store(cap_for(self.limit, estimate), Ordering::Relaxed);
        }
    }
}

/// Requests whose replies of `estimate` bytes fit in `limit`: at least
/// one (a single reply larger than the limit still goes), at most
/// [`MAX_IN_FLIGHT`].
fn cap_for(limit: usize, estimate: usize) -> usize {
    (limit / estimate.max(1)).clamp(1, MAX_IN_FLIGHT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_replies_lower_the_cap_at_once_small_ones_raise_it_slowly() {
        let cap = InFlightCap::new(16 << 20);
        assert_eq!(cap.get(), 64);
        cap.observe(4, 4 << 20);
        assert_eq!(cap.get(), 16);
        cap.observe(0, 0);
        assert_eq!(cap.get(), 16);
        cap.observe(100, 1000);
        assert!(cap.get() > 16 && cap.get() <= 32, "{}", cap.get());
        for _ in 0..100 {
            cap.observe(100, 1000);
        }
        assert_eq!(cap.get(), MAX_IN_FLIGHT);
        cap.observe(1, 64 << 20);
        assert_eq!(cap.get(), 1);
    }
}
