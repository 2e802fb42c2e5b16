//! Polling only what was woken: a task that waits on several things at
//! once (both halves of a session, a read and a shutdown) gets one waker
//! per thing, so when one of them wakes the task, only that one is polled
//! again.
//!
//! `tokio::select!` and `join!` poll every branch whenever the task wakes.
//! For a relay that costs, per request, a poll of the socket that is not
//! ready (a readiness check and a waker registration under a lock) and of
//! every `Notify` and cancellation it also watches: a fifth of the
//! recorder's instructions at pipeline depth 1 went there. A branch polled
//! and left pending is only polled again once its own waker fired, which
//! is all the `Future` contract asks for.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Wake, Waker};

/// The wakers of up to `usize::BITS` branches, and which fired.
pub(super) struct Branches {
    shared: Arc<Shared>,
    wakers: Vec<Waker>,
}

struct Shared {
    /// One bit per branch woken since the owner last looked.
    woken: AtomicUsize,
    /// The waker of the task (or enclosing branch) that polls the
    /// branches, as of its last poll.
    parent: Mutex<Option<Waker>>,
}

struct BranchWaker {
    shared: Arc<Shared>,
    bit: usize,
}

impl Wake for BranchWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.shared.woken.fetch_or(self.bit, Ordering::AcqRel);
        let parent = self.shared.parent.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(waker) = &*parent {
            waker.wake_by_ref();
        }
    }
}

impl Branches {
    /// `n` branches, all marked woken: each is polled on the first look.
    pub(super) fn new(n: usize) -> Branches {
        assert!(n <= usize::BITS as usize);
        let shared = Arc::new(Shared {
            woken: AtomicUsize::new(usize::MAX),
            parent: Mutex::new(None),
        });
        let wakers = (0..n)
            .map(|i| {
                Waker::from(Arc::new(BranchWaker {
                    shared: shared.clone(),
                    bit: 1 << i,
                }))
            })
            .collect();
        Branches { shared, wakers }
    }

    /// The branches woken since the last call (bit `i` for branch `i`),
    /// cleared; `cx` is the poller's own context, woken whenever a branch
    /// is. Call it once at the start of every poll.
    pub(super) fn woken(&self, cx: &Context<'_>) -> usize {
        {
            let mut parent = self.shared.parent.lock().unwrap_or_else(|e| e.into_inner());
            match &*parent {
                Some(waker) if waker.will_wake(cx.waker()) => {}
                _ => *parent = Some(cx.waker().clone()),
            }
        }
        // After the parent is set: a branch woken from now on wakes it.
        self.shared.woken.swap(0, Ordering::AcqRel)
    }

    /// Branch `i`'s waker, for whoever should have it polled again.
    pub(super) fn waker(&self, i: usize) -> &Waker {
        &self.wakers[i]
    }

    /// The context to poll branch `i` with.
    pub(super) fn context(&self, i: usize) -> Context<'_> {
        Context::from_waker(&self.wakers[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::pin::pin;
    use std::task::Poll;

    #[tokio::test]
    async fn a_branch_left_pending_is_polled_again_only_once_woken() {
        let branches = Branches::new(2);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u8>();
        let mut never = pin!(std::future::pending::<()>());
        let sender = tokio::spawn(async move {
            for v in 0..3 {
                tokio::task::yield_now().await;
                let _ = tx.send(v);
            }
        });
        let (mut got, mut never_polls) = (Vec::new(), 0);
        std::future::poll_fn(|cx| {
            let woken = branches.woken(cx);
            if woken & 2 != 0 {
                never_polls += 1;
                let _ = never.as_mut().poll(&mut branches.context(1));
            }
            if woken & 1 != 0 {
                while let Poll::Ready(v) = rx.poll_recv(&mut branches.context(0)) {
                    match v {
                        Some(v) => got.push(v),
                        None => return Poll::Ready(()),
                    }
                }
            }
            Poll::Pending
        })
        .await;
        sender.await.expect("sender");
        assert_eq!(got, [0, 1, 2]);
        assert_eq!(never_polls, 1);
    }
}
