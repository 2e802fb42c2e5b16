//! The connection's state as answered commands change it, followed the
//! way the recorder follows it: the database and the open transaction,
//! handshake commands queued in `MULTI` that take effect at `EXEC`, the
//! protocol, tracking, subscriptions and replica mode; and what of it is
//! carried to and from another mode. Apart from answering because every
//! way a command is answered (recorded, made up, passed through) must
//! leave the same state behind.

use bytes::Bytes;

use super::Session;
use crate::command::{self, Class};
use crate::handover::CarriedState;
use crate::replay::handshake::synthesize;
use crate::replay::matcher::Matcher;
use crate::resp::Value;
use crate::selected_db::{Outcome, SelectedDb};

impl Session {
    /// Takes up a connection carried in from another mode where it left off.
    pub(super) fn resume(&mut self, state: &CarriedState) {
        self.info.protocol = state.protocol;
        self.selected = SelectedDb::new(state.db);
        let shared = self.shared.clone();
        let mut matcher = shared.matcher();
        for args in state.subscribe_commands() {
            matcher.track_subscription(self.live, &args);
        }
        self.info.subscribed = matcher.is_subscribed(self.live);
    }

    /// The state to carry into the next mode.
    pub(super) fn carried_state(&self) -> CarriedState {
        CarriedState {
            protocol: self.info.protocol,
            db: self.selected.db(),
            subscriptions: self.matcher().subscriptions(self.live),
        }
    }

    /// Follows the connection's database (and transaction) through one
    /// answered command, as the recorder did; at `EXEC`, handshake commands
    /// queued meanwhile take effect.
    pub(super) fn follow_db(&mut self, args: &[Bytes], replies: &[Value]) {
        let outcome = match replies.first() {
            None => Outcome::Silent,
            Some(v) if v.is_error() => Outcome::Error,
            Some(_) => Outcome::Ok,
        };
        self.follow_db_with(args, outcome, || exec_results(replies));
    }

    /// [`follow_db`](Session::follow_db) for a recording served from the
    /// cassette: its replies are decoded only for an `EXEC`.
    pub(super) fn follow_recorded(&mut self, args: &[Bytes], matcher: &Matcher, recording: usize) {
        let r = matcher.recording(recording);
        let outcome = if r.is_silent() {
            Outcome::Silent
        } else if r.is_error() {
            Outcome::Error
        } else {
            Outcome::Ok
        };
        self.follow_db_with(args, outcome, || exec_results(&matcher.replies(recording)));
    }

    /// Follows one command whose reply had `outcome`; `exec_results` gives,
    /// for an `EXEC` that ran, the error flag of each result (`None` when it
    /// returned no array: a `WATCH`ed key changed).
    fn follow_db_with(
        &mut self,
        args: &[Bytes],
        outcome: Outcome,
        exec_results: impl Fn() -> Option<Vec<bool>>,
    ) {
        let was_in_multi = self.selected.in_multi();
        self.selected.observe(args, outcome, &exec_results);
        if was_in_multi && !self.selected.in_multi() {
            let queued = std::mem::take(&mut self.queued_handshake);
            let executed = command::name(args) == "EXEC" && exec_results().is_some();
            if executed {
                let shared = self.shared.clone();
                for args in queued {
                    let _ = synthesize(&args, &mut self.info, &shared.server);
                }
            }
        }
    }

    /// State changes a recorded successful reply implies.
    pub(super) fn after_success(&mut self, matcher: &mut Matcher, args: &[Bytes], class: Class) {
        match class.name() {
            "HELLO" => match command::hello_version(args) {
                Some(b"2") => self.info.protocol = 2,
                Some(b"3") => self.info.protocol = 3,
                _ => {}
            },
            "QUIT" => self.closing = true,
            "SYNC" | "PSYNC" => self.replica = true,
            "CLIENT" => {
                if let Some(on) = command::tracking_switch(args) {
                    self.tracking = on;
                }
            }
            "RESET" => {
                self.info.protocol = 2;
                self.info.name = None;
                self.tracking = false;
                matcher.clear_subscriptions(self.live);
                matcher.monitor(self.live, false);
            }
            "MONITOR" => matcher.monitor(self.live, true),
            _ => {}
        }
        if class.subscription().is_some() {
            matcher.track_subscription(self.live, args);
            self.info.subscribed = matcher.is_subscribed(self.live);
        }
    }
}

/// The error flag of each result of an `EXEC` that ran (`None` for no array).
fn exec_results(replies: &[Value]) -> Option<Vec<bool>> {
    let items = replies.first()?.elements()?;
    Some(items.iter().map(Value::is_error).collect())
}
