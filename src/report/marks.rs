//! Which events the timeline draws. A browser draws some tens of thousands
//! of marks smoothly, not a million, so past [`SAMPLED_MAX`] ordinary
//! interactions the timeline is a sample; what a person looks for is kept
//! regardless (up to a cap per kind, [`KIND_MAX`]): error replies,
//! blocking commands, pushes and, with a replay overlay, unused
//! recordings. Marks that other sections link to (the slowest, the
//! biggest, each error group's first example, each miss's closest
//! recording) are kept without a cap; those sections are short.
//!
//! The sample is even and made in one pass: every `stride`-th ordinary
//! interaction is kept, and whenever more than [`SAMPLED_MAX`] are held
//! the stride doubles and every other one kept so far is dropped. The
//! page ends up with between half of [`SAMPLED_MAX`] and all of it, evenly
//! spaced in file order, whatever the cassette's size. In all at most
//! about 20,000 marks: 10,000 sampled, 2,000 of each kept kind, and the
//! linked ones.

use serde::Serialize;

/// Ordinary interactions the timeline holds at most.
pub const SAMPLED_MAX: usize = 10_000;

/// Marks of each kept kind (errors, blocking, pushes, unused) at most;
/// later ones are sampled with the ordinary interactions.
pub const KIND_MAX: usize = 2_000;

/// Why an event is on the timeline, and how it is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// An ordinary interaction.
    Cmd,
    /// An interaction answered with an error.
    Err,
    /// A blocking command (`BLPOP`, `XREAD BLOCK`, `WAIT`…).
    Block,
    /// Data the server pushed (pub/sub messages, invalidations).
    Push,
}

/// The kinds kept up to [`KIND_MAX`] each; `Unused` only with an overlay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// An error reply.
    Err,
    /// A blocking command.
    Block,
    /// A push.
    Push,
    /// A recording the replay never served.
    Unused,
}

/// One mark, as the page's script reads it (short keys: there may be
/// 20,000 of them).
#[derive(Debug, Clone, Serialize)]
pub struct Mark {
    /// The event's place in the file (0 is the first line after the
    /// header): the id other sections link to.
    pub e: u64,
    /// The connection, i.e. the lane.
    pub c: u64,
    /// When it started, ms since the recording started.
    pub t: u64,
    /// How long until the last reply byte, µs (0 for a push).
    pub d: u64,
    /// How it is drawn.
    pub k: Kind,
    /// For an interaction, its place among the interactions (what the
    /// replay overlay counts by).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n: Option<u64>,
    /// With an overlay: `served`, `repeated` or `unused`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub o: Option<&'static str>,
    /// The event as `resplay show` prints it, cut to a few KB.
    pub x: String,
}

/// The marks chosen so far.
#[derive(Debug, Default)]
pub struct Timeline {
    /// The even sample: (ordinal among ordinary interactions, mark).
    sampled: Vec<(u64, Mark)>,
    /// Keep every `stride`-th ordinary interaction (a power of two).
    stride: u64,
    /// Ordinary interactions offered so far.
    ordinary: u64,
    /// Marks kept for their kind, per [`Keep`].
    kinds: [Vec<Mark>; 4],
    /// Marks other sections link to.
    linked: Vec<Mark>,
}

/// What was chosen, in file order, and whether it is a sample.
#[derive(Debug)]
pub struct Chosen {
    /// The marks, in file order, each once.
    pub marks: Vec<Mark>,
    /// Every `stride`-th ordinary interaction is drawn (1: all of them).
    pub stride: u64,
}

impl Timeline {
    /// An empty timeline.
    pub fn new() -> Timeline {
        Timeline {
            stride: 1,
            ..Timeline::default()
        }
    }

    /// Offers an ordinary event (of no kept kind, not linked): returns
    /// its ordinal when the sample takes it, so its text is rendered only
    /// then; hand it to [`Timeline::add_sampled`].
    pub fn offer_ordinary(&mut self) -> Option<u64> {
        let ordinal = self.ordinary;
        self.ordinary += 1;
        (ordinal % self.stride == 0).then_some(ordinal)
    }

    /// Whether a mark of a kept kind is still kept as such (once its kind
    /// is full, offer it as ordinary).
    pub fn has_room(&self, keep: Keep) -> bool {
        self.kinds[keep as usize].len() < KIND_MAX
    }

    /// Keeps a mark of a kept kind (after [`Timeline::has_room`]).
    pub fn add_kind(&mut self, keep: Keep, mark: Mark) {
        self.kinds[keep as usize].push(mark);
    }

    /// Keeps a mark another section links to.
    pub fn add_linked(&mut self, mark: Mark) {
        self.linked.push(mark);
    }

    /// Adds the sampled mark for `ordinal`; thins the sample when full.
    pub fn add_sampled(&mut self, ordinal: u64, mark: Mark) {
        self.sampled.push((ordinal, mark));
        if self.sampled.len() > SAMPLED_MAX {
            self.stride *= 2;
            let stride = self.stride;
            self.sampled.retain(|(o, _)| o % stride == 0);
        }
    }

    /// The marks chosen, in file order, each once.
    pub fn finish(self) -> Chosen {
        let Timeline {
            sampled,
            stride,
            kinds,
            linked,
            ..
        } = self;
        let mut marks: Vec<Mark> = sampled
            .into_iter()
            .map(|(_, m)| m)
            .chain(kinds.into_iter().flatten())
            .chain(linked)
            .collect();
        marks.sort_by_key(|m| m.e);
        marks.dedup_by_key(|m| m.e);
        Chosen { marks, stride }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark(e: u64) -> Mark {
        Mark {
            e,
            c: 1,
            t: e,
            d: 1,
            k: Kind::Cmd,
            n: Some(e),
            o: None,
            x: String::new(),
        }
    }

    #[test]
    fn the_sample_stays_even_and_bounded() {
        let mut t = Timeline::new();
        let total = 100_000u64;
        for e in 0..total {
            if let Some(ordinal) = t.offer_ordinary() {
                t.add_sampled(ordinal, mark(e));
            }
        }
        let chosen = t.finish();
        let n = chosen.marks.len();
        assert!((SAMPLED_MAX / 2..=SAMPLED_MAX).contains(&n), "{n}");
        assert_eq!(chosen.stride, 16);
        // Evenly spaced: every gap is the stride.
        for pair in chosen.marks.windows(2) {
            assert_eq!(pair[1].e - pair[0].e, chosen.stride);
        }
    }

    #[test]
    fn kept_kinds_are_capped_and_marks_are_unique() {
        let mut t = Timeline::new();
        for e in 0..(KIND_MAX as u64 + 10) {
            if t.has_room(Keep::Err) {
                t.add_kind(Keep::Err, mark(e));
            } else if let Some(o) = t.offer_ordinary() {
                t.add_sampled(o, mark(e));
            }
        }
        // A linked mark that is also an error is drawn once.
        t.add_linked(mark(3));
        let chosen = t.finish();
        assert_eq!(chosen.marks.len(), KIND_MAX + 10);
        assert_eq!(chosen.stride, 1);
    }
}
