//! What each recording did in this replay, for the HTML report's overlay
//! (`resplay replay --report`): how often it answered, how often as a
//! repeat, and the misses with their closest recording. Kept apart from
//! the matching itself, which only needs to know served or not.

use bytes::Bytes;

use super::Closest;
use crate::replay::display::{display_command, why_unmatched};
use crate::replay::overlay::{MissNote, MISSES_KEPT};

/// Per recording, a byte or two: a 10M-interaction cassette keeps 10 MB of
/// counts, not 80 MB.
#[derive(Debug, Default)]
pub struct Outcomes {
    /// Per recording: how many live commands it answered (saturating).
    answers: Vec<u8>,
    /// Per recording: how many of those were repeats; allocated at the
    /// first repeat (most replays have none).
    repeats: Vec<u8>,
    /// The first misses, in the order they came.
    misses: Vec<MissNote>,
}

/// Where a missed command came from.
#[derive(Debug, Clone, Copy)]
pub struct MissFrom {
    /// The live connection.
    pub live: u64,
    /// The recorded connection it was bound to.
    pub bound_to: Option<u64>,
    /// Its database.
    pub db: u32,
    /// ms since the replay started.
    pub at_ms: u64,
}

impl Outcomes {
    /// Makes room for about `recordings` more (see `Matcher::reserve`).
    pub fn reserve(&mut self, recordings: usize) {
        self.answers.reserve(recordings);
    }

    /// Gives back room [`reserve`](Outcomes::reserve) made and no
    /// recording took.
    pub fn shrink_to_fit(&mut self) {
        self.answers.shrink_to_fit();
    }

    /// Makes room for one more recording.
    pub fn add_recording(&mut self) {
        self.answers.push(0);
    }

    /// Recording `index` answered a live command.
    pub fn answered(&mut self, index: usize, repeated: bool) {
        self.answers[index] = self.answers[index].saturating_add(1);
        if repeated {
            if self.repeats.len() < self.answers.len() {
                self.repeats.resize(self.answers.len(), 0);
            }
            self.repeats[index] = self.repeats[index].saturating_add(1);
        }
    }

    /// Keeps a miss (the first [`MISSES_KEPT`]): `args` as shown to people
    /// (passwords redacted), `key` as matched, `closest` with its key, or
    /// why there is none.
    pub fn missed(
        &mut self,
        from: MissFrom,
        args: &[Bytes],
        key: &[Bytes],
        closest: Result<(&Closest, &[Bytes]), &str>,
    ) {
        if self.misses.len() >= MISSES_KEPT {
            return;
        }
        let why = match closest {
            Ok((c, recorded)) => why_unmatched(key, recorded, c.other_db),
            Err(why) => why.to_string(),
        };
        let closest = closest.ok();
        self.misses.push(MissNote {
            live_conn: from.live,
            bound_to: from.bound_to,
            at_ms: from.at_ms,
            db: from.db,
            command: display_command(args),
            closest: closest.map(|(c, _)| c.shown.clone()),
            closest_recording: closest.and_then(|(c, _)| c.recording),
            why,
        });
    }

    /// How often each recording answered (0 for one `served` says is
    /// unused: a recording given back when its live connection moved to
    /// another counts as unused, as in the summary).
    pub fn answers(&self, served: &[bool]) -> Vec<u32> {
        self.answers
            .iter()
            .zip(served)
            .map(|(&n, &s)| if s { u32::from(n.max(1)) } else { 0 })
            .collect()
    }

    /// How many answers of each recording were repeats.
    pub fn repeats(&self) -> Vec<u32> {
        let mut out: Vec<u32> = self.repeats.iter().map(|&n| u32::from(n)).collect();
        out.resize(self.answers.len(), 0);
        out
    }

    /// The misses kept.
    pub fn misses(&self) -> &[MissNote] {
        &self.misses
    }
}
