//! Injected faults on a replayed connection (see `crate::fault`): latency,
//! error lines, drops, hangs, half replies, and the `-EXECABORT` of a
//! transaction an injected error refused. Apart from the answer path,
//! which only asks whether a rule fires before it matches, so that a
//! faulted command uses up no recording unless it runs.

use bytes::{Bytes, BytesMut};
use tokio::io::AsyncWriteExt;

use super::Session;
use crate::fault::{FaultAction, EXECABORT};
use crate::selected_db::Outcome;
use crate::tls::ClientWriter;

impl Session {
    /// Applies an injected fault to one command (see `crate::fault`), or,
    /// with none, answers the `EXEC` of a transaction one refused.
    pub(super) async fn fault(
        &mut self,
        raw: Bytes,
        args: Vec<Bytes>,
        fault: Option<FaultAction>,
        out: &mut BytesMut,
        writer: &mut ClientWriter,
    ) {
        let Some(fault) = fault else {
            // EXEC after an injected error inside MULTI.
            self.doomed = false;
            if !self.silent {
                out.extend_from_slice(EXECABORT);
            }
            self.selected.observe(&args, Outcome::Error, || None);
            self.queued_handshake.clear();
            return;
        };
        match fault {
            FaultAction::Latency(delay) => {
                // Earlier replies go now; this one and those after it wait.
                if !out.is_empty() {
                    if writer.write_all(out).await.is_err() {
                        self.closing = true;
                        return;
                    }
                    out.clear();
                }
                tokio::select! {
                    _ = self.shared.shutdown.cancelled() => {
                        self.closing = true;
                        return;
                    }
                    _ = tokio::time::sleep(delay) => {}
                }
                self.answer_now(raw, args, out).await;
            }
            FaultAction::Error(line) => {
                // Not run, as Redis refuses a command; inside MULTI the
                // refusal flags the transaction.
                if self.selected.in_multi() {
                    self.doomed = true;
                }
                if !self.silent {
                    out.extend_from_slice(&line);
                }
            }
            FaultAction::Drop => self.closing = true,
            FaultAction::Hang => self.hung = true,
            FaultAction::Partial => {
                let mut whole = BytesMut::new();
                self.answer_now(raw, args, &mut whole).await;
                let half = (whole.len() / 2).max(1).min(whole.len());
                out.extend_from_slice(&whole[..half]);
                self.closing = true;
            }
        }
    }
}
