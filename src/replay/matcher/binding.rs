//! How well a recorded connection explains what a live connection has done.
//!
//! A live connection is bound to the recorded connection it replays, so
//! that two processes replayed in another interleaving each get their own
//! replies. The first command rarely tells which one that is (every test
//! opens with `FLUSHDB`), so the binding stays open to revision: when the
//! bound recording has nothing left for a command and another, free one
//! does, the matcher asks which of the two fits the live connection's recent
//! commands better and moves the binding if the other fits strictly better.
//! Moving also hands back what the live connection took from the old one, so
//! a test that diverged, or a recording bound by mistake, leaves every other
//! recording as it was for the connections that replay them later.
//!
//! Handshake commands are held closer still (see [`Matcher::choose`] and
//! [`Matcher::is_due`]): their recordings exist only when the call failed,
//! so they answer only in their place on their own recorded connection.

use std::collections::VecDeque;

use super::Matcher;
use super::CANDIDATES;
use crate::replay::memory;

/// How many of a live connection's recent commands are compared.
pub const HISTORY: usize = 32;

/// How far back in a recorded connection the comparison looks.
pub const WINDOW: usize = 2 * HISTORY;

/// A recorded connection [`Matcher::choose`] weighs: (its first unused
/// recording of the key, the recorded connection).
type Candidate = (usize, u64);

/// The [`CANDIDATES`] earliest of the candidates offered, in order: all
/// that [`Matcher::choose`] reads of the free recorded connections and of
/// those of other live connections. Kept while scanning, so nothing is
/// allocated, kept between calls or sorted afterwards; it costs what
/// collecting them in vectors and selecting did (callgrind, replay at
/// P16: 4,287 instructions per request against 4,274).
#[derive(Debug, Default)]
struct Earliest {
    items: [Candidate; CANDIDATES],
    len: usize,
}

impl Earliest {
    /// Keeps `c` if it is among the earliest offered so far (no two
    /// offered are equal: each is another recorded connection).
    fn offer(&mut self, c: Candidate) {
        if self.len == CANDIDATES && c >= self.items[CANDIDATES - 1] {
            return;
        }
        let mut at = self.len.min(CANDIDATES - 1);
        while at > 0 && self.items[at - 1] > c {
            self.items[at] = self.items[at - 1];
            at -= 1;
        }
        self.items[at] = c;
        self.len = (self.len + 1).min(CANDIDATES);
    }

    /// The earliest kept, earliest first.
    fn as_slice(&self) -> &[Candidate] {
        &self.items[..self.len]
    }
}

/// What a scan in [`Matcher::choose`] found.
struct Scan {
    free: Earliest,
    others: Earliest,
    /// The earliest retired recorded connection's.
    retired: Option<Candidate>,
}

/// What a live connection was served, most recent last.
#[derive(Debug, Default, Clone)]
pub struct History {
    /// (match key id, recording index, its recorded connection) of each
    /// served command. The connection is kept with it because every
    /// weighing asks which entries a recorded connection served, and a
    /// recording looked up for that is a wait on memory in a large
    /// cassette (a quarter of the weighing's time on 10M interactions).
    served: VecDeque<(u32, usize, u64)>,
    /// How many of the last entries are known to equal the last one (at
    /// most that many: [`replace`](History::replace) forgets).
    run: usize,
    /// Moves whenever `served` may have changed: a kept [`Question`]
    /// compares it instead of every entry. A client repeating one used-up
    /// command pushes the same entry over and over and leaves it alone.
    version: u64,
}

impl History {
    /// Notes a served command: its key, its recording and the recording's
    /// connection.
    pub fn push(&mut self, key: u32, recording: usize, conn: u64) {
        let entry = (key, recording, conn);
        let same = self.served.back() == Some(&entry);
        if !(same && self.run >= HISTORY) {
            self.version += 1;
        }
        self.run = if same { (self.run + 1).min(HISTORY) } else { 1 };
        if self.served.len() == HISTORY {
            self.served.pop_front();
        }
        self.served.push_back(entry);
    }

    /// A number that changes whenever the entries may have.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The served commands (key id, recording), oldest first.
    #[cfg(test)]
    pub fn entries(&self) -> impl Iterator<Item = (u32, usize)> + '_ {
        self.served.iter().map(|&(k, r, _)| (k, r))
    }

    /// Those of the served commands recorded connection `conn` served.
    pub fn served_by(&self, conn: u64) -> impl Iterator<Item = (u32, usize)> + '_ {
        self.served
            .iter()
            .filter(move |e| e.2 == conn)
            .map(|&(k, r, _)| (k, r))
    }

    /// Points an entry at another recording, of recorded connection
    /// `conn` (after the binding moved).
    pub fn replace(&mut self, from: usize, to: usize, conn: u64) {
        self.version += 1;
        self.run = 0;
        for entry in self.served.iter_mut() {
            if entry.1 == from {
                (entry.1, entry.2) = (to, conn);
            }
        }
    }

    /// The key ids, oldest first.
    pub fn keys(&self) -> impl ExactSizeIterator<Item = u32> + '_ {
        self.served.iter().map(|&(k, ..)| k)
    }
}

/// Whether to move a live connection's binding, as weighed last time. The
/// answer depends on nothing else (the recordings do not change), so while
/// the same question comes again, as it does on every command of a client
/// that repeats what its used-up recording held while free recordings of
/// the same commands go unused, a declined move is not weighed again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    id: u32,
    bound_to: Option<u64>,
    handshake: bool,
    /// The live connection's [`History::version`] when it was asked.
    history: u64,
    /// [`Matcher::changes`] when it was asked.
    changes: u64,
    /// The bound recorded connection's last recording of the key, the
    /// repeat's answer: fixed by `id` and `bound_to` once the cassette is
    /// loaded, and kept so the repeat does not look it up again (two binary
    /// searches, 4 % of replay's CPU at pipeline 16 in `perf`).
    last_of_bound: Option<usize>,
}

/// Where each of a live connection's recent commands occurs among them:
/// bit `i` of a key's mask is set when `history[i]` is that key. Built
/// once per weighing and read for every recorded command compared.
///
/// The comparison is bit-parallel (Hyyrö's form of Allison and Dix's
/// method for the longest common subsequence): a bit per recent command,
/// a few word operations per recorded one, where the table before took
/// `HISTORY * WINDOW` dependent steps per candidate connection. Weighing
/// the free connections of a 10M-interaction cassette that way took 54 %
/// of replay's CPU and served its first pass at a tenth of a small
/// cassette's rate (`perf`).
pub struct HistoryMasks {
    /// Open addressing over a key's hash; a zero mask is an empty slot.
    slots: [(u32, u32); MASK_SLOTS],
    /// How many recent commands there are (at most [`HISTORY`]: a bit
    /// each).
    len: usize,
}

/// Room for the [`HISTORY`] keys at most a quarter full: most keys looked
/// up are not among them, and at half full such a look-up reads 2.5 slots
/// on average: a 10M-interaction cassette's first pass took 1.26-1.35 s
/// of CPU against 0.88 s at a quarter (200,000 requests at P16). 1 KiB to
/// clear per weighing.
const MASK_SLOTS: usize = 4 * HISTORY;

// A mask is a `u32`, a bit per recent command.
const _: () = assert!(HISTORY <= 32);

impl HistoryMasks {
    /// The masks of the `history` keys, oldest first; only the last
    /// [`HISTORY`] are read.
    pub fn new(history: impl ExactSizeIterator<Item = u32>) -> HistoryMasks {
        let skip = history.len().saturating_sub(HISTORY);
        let mut masks = HistoryMasks {
            slots: [(0, 0); MASK_SLOTS],
            len: history.len() - skip,
        };
        for (i, key) in history.skip(skip).enumerate() {
            let mut at = Self::slot(key);
            while masks.slots[at].1 != 0 && masks.slots[at].0 != key {
                at = (at + 1) % MASK_SLOTS;
            }
            masks.slots[at] = (key, masks.slots[at].1 | 1 << i);
        }
        masks
    }

    /// The slot a look-up of `key` starts at (Fibonacci hashing: the
    /// high bits of the product).
    fn slot(key: u32) -> usize {
        (key.wrapping_mul(0x9e37_79b9) >> 24) as usize % MASK_SLOTS
    }

    /// Where `key` occurs in the history (no bit: nowhere).
    fn mask(&self, key: u32) -> u32 {
        let mut at = Self::slot(key);
        loop {
            let (k, mask) = self.slots[at];
            if mask == 0 || k == key {
                return mask;
            }
            at = (at + 1) % MASK_SLOTS;
        }
    }

    /// How many of the recent commands appear, in order, among `recorded`
    /// (in recorded order); `None` as soon as that cannot reach `need` (too
    /// few of them are recent commands at all).
    pub fn common_in_order(&self, recorded: &[u32], need: usize) -> Option<usize> {
        // Bit i of `v` (recent command i) is clear where column i of the
        // table steps up: the count of clear bits is the length. Bits above
        // the history's length take carries only and are not counted.
        let mut v = u64::MAX;
        let mut absent = 0;
        for &key in recorded {
            let matches = self.mask(key);
            // No branch on whether it matched (most do not, at random):
            // with no match the step leaves `v` as it was.
            let u = v & u64::from(matches);
            v = v.wrapping_add(u) | (v - u);
            absent += usize::from(matches == 0);
            if recorded.len() - absent < need {
                return None;
            }
        }
        let low = (1u64 << self.len) - 1;
        let common = (!v & low).count_ones() as usize;
        (common >= need).then_some(common)
    }
}

impl Matcher {
    /// Whether recorded connection `conn`'s next handshake recording of key
    /// `id` is due for a live connection at `place` in it: recorded right
    /// after the last one it was served from `conn`. A trivial handshake
    /// call (`PING`, `SELECT`, `CLIENT SETINFO`…) is recorded only when it
    /// failed (`PING` → `-BUSY` while a script ran), so the same call
    /// that succeeded later left no line: served out of its place, the
    /// recording would answer a `PING` long after the script was killed.
    pub(super) fn is_due(&mut self, conn: u64, id: u32, place: Option<usize>) -> bool {
        let Some((_, at)) = self.pick(id, conn, place) else {
            return false;
        };
        let next = self.queues.item(at);
        self.recordings[next].pos == place.map_or(0, |p| self.recordings[p].pos + 1)
    }

    /// Gives a served recording back (its live connection moved to another).
    fn release(&mut self, index: usize) {
        if !self.served[index] {
            return;
        }
        let (key, conn) = (self.recordings[index].key, self.recordings[index].conn);
        let Some(q) = self.queues.conn_queue(key, conn) else {
            return;
        };
        if let Some(at) = self.queues.position(q, index) {
            let queue = self.queues.queue_mut(q);
            queue.next = queue.next.min(at as u32);
        }
        self.queues.reopen(key, q);
        self.queues.key_mut(key).unused += 1;
        self.served[index] = false;
        self.changes += 1;
    }

    /// The recording for key `id` when the live connection's bound one (if
    /// any) has no unused one: a better-fitting free recorded connection
    /// (the binding moves there), a repeat of the bound one's last reply, a
    /// free connection's recording, another live connection's, or the last
    /// reply of all. Returns the recording and whether it is a repeat.
    ///
    /// Handshake commands (`handshake`) are held closer: their recordings
    /// hold what replay could not make up (`-BUSY` from a `PING` while a
    /// script ran), so they are served only from the connection they belong
    /// to, never repeated, borrowed from another connection or used to bind
    /// one with nothing else to go on (save its opening commands); otherwise
    /// resplay answers them itself, as the server would now.
    pub(super) fn choose(
        &mut self,
        live: u64,
        id: u32,
        bound_to: Option<u64>,
        handshake: bool,
    ) -> Option<(usize, bool)> {
        let repeat = self.repeat && !handshake;
        // Compared in place: a repeat asks this on every command, and the
        // question is built only to be kept.
        let changes = self.changes;
        let declined = self.live.get(&live).and_then(|l| {
            l.declined
                .as_ref()
                .filter(|q| {
                    q.id == id
                        && q.bound_to == bound_to
                        && q.handshake == handshake
                        && q.changes == changes
                        && q.history == l.history.version()
                })
                .map(|q| q.last_of_bound)
        });
        if let (Some(Some(last)), true) = (declined, repeat) {
            // Asked and declined with nothing changed since: the answer is
            // the repeat again, without looking at every recorded connection.
            return Some((last, true));
        }
        let declined_before = declined.is_some();
        let last_of_bound = bound_to
            .and_then(|conn| self.queues.conn_queue(id, conn))
            .map(|q| self.queues.item(self.queues.items_of(q).end - 1));
        // Free recorded connections with an unused recording of this key,
        // earliest first; those of other live connections and retired ones
        // (their live connection closed) apart.
        let mut scan = Scan {
            free: Earliest::default(),
            others: Earliest::default(),
            retired: None,
        };
        if self.queues.key(id).unused > 0 {
            let owners = &self.owners;
            self.queues
                .scan_open(id, &self.served, |conn, index, first| {
                    if Some(conn) == bound_to {
                        return;
                    }
                    let candidate = (first, conn);
                    let owner = owners.at(index);
                    if owner.live.is_some_and(|l| l != live) {
                        scan.others.offer(candidate);
                    } else if owner.retired {
                        scan.retired = Some(scan.retired.map_or(candidate, |r| r.min(candidate)));
                    } else {
                        scan.free.offer(candidate);
                    }
                });
        }
        self.choose_among(
            live,
            id,
            bound_to,
            handshake,
            (declined_before, last_of_bound),
            &scan,
        )
    }

    /// The rest of [`choose`](Matcher::choose), given what its scan found
    /// of the recorded connections with an unused recording of key `id`:
    /// the [`CANDIDATES`] earliest free ones and of other live connections,
    /// in order, and the earliest retired one.
    fn choose_among(
        &mut self,
        live: u64,
        id: u32,
        bound_to: Option<u64>,
        handshake: bool,
        (declined_before, last_of_bound): (bool, Option<usize>),
        scan: &Scan,
    ) -> Option<(usize, bool)> {
        let (free, others) = (scan.free.as_slice(), scan.others.as_slice());
        let of_others = others.first().copied();
        let of_retired = scan.retired;
        let repeat = self.repeat && !handshake;
        let changes = self.changes;
        // Weighed only when a free connection could take over: the common
        // way here, a repeat once the bound recording is used up, costs
        // nothing of this.
        if !free.is_empty() && !declined_before {
            if let Some(found) = self.move_binding(live, id, bound_to, handshake, free) {
                return Some(found);
            }
        }
        // The bound recording never had this command, and another live
        // connection holds one that has it: the two may have been bound the
        // wrong way round, on opening commands they share. A handshake
        // command (`CLIENT ID`, whose recorded reply a later `CLIENT KILL
        // ID` names) only where it is due in the other recording.
        if let (Some(mine), None) = (bound_to, last_of_bound) {
            for &(_, theirs) in others.iter().take(CANDIDATES) {
                if handshake && !self.due_after_the_same(live, id, theirs) {
                    continue;
                }
                if let Some(found) = self.swap_bindings(live, id, mine, theirs) {
                    return Some(found);
                }
            }
        }
        if let Some(l) = self.live.get_mut(&live) {
            l.declined = Some(Question {
                id,
                bound_to,
                handshake,
                history: l.history.version(),
                changes,
                last_of_bound,
            });
        }
        if let (Some(last), true) = (last_of_bound, repeat) {
            return Some((last, true));
        }
        if handshake {
            return None;
        }
        if let Some(&(_, conn)) = free.first() {
            return self.take(id, conn, None).map(|r| (r, false));
        }
        if let Some((_, conn)) = of_others {
            return self.take(id, conn, None).map(|r| (r, false));
        }
        // Nothing else has it: a dead client's leftover, in its recorded
        // order.
        if let Some((_, conn)) = of_retired {
            return self.take(id, conn, None).map(|r| (r, false));
        }
        let last = self.queues.key(id).last as usize;
        repeat.then_some((last, true))
    }

    /// Moves (or makes) the binding to the free recorded connection that
    /// fits best, when it fits strictly better than the bound one, and
    /// serves its recording of key `id`.
    fn move_binding(
        &mut self,
        live: u64,
        id: u32,
        bound_to: Option<u64>,
        handshake: bool,
        free: &[(usize, u64)],
    ) -> Option<(usize, bool)> {
        let l = self.live.get(&live)?;
        let masks = HistoryMasks::new(l.history.keys());
        // How well the bound connection explains the recent commands: those
        // it served. A free one: this command, plus what of the recent
        // commands it has, in order, just before its recording of this one.
        let bound_score = bound_to.map_or(0, |conn| l.history.served_by(conn).count());
        // Among equal fits, the recording at the live connection's own
        // place in its order (its first command: a connection's first
        // recording, not one half-way through another), then the earliest.
        let served = l.served as usize;
        let off_place = |first: usize| (self.recordings[first].pos as usize).abs_diff(served);
        // Each candidate's recording, then its connection's recent keys,
        // asked of memory for all of them before any is compared: on a
        // large cassette each is a wait on memory, and asked together they
        // are waited for together.
        for &(first, _) in free {
            memory::prefetch(&self.recordings[first]);
        }
        let mut windows = [&[][..]; CANDIDATES];
        for (window, &(first, _)) in windows.iter_mut().zip(free) {
            *window = self.window_before(first);
            for line in window.chunks(16) {
                memory::prefetch(&line[0]);
            }
        }
        let (score, _, std::cmp::Reverse(first), conn) = free
            .iter()
            .zip(windows)
            .filter_map(|(&(first, conn), window)| {
                Some((
                    // Bound, only a free connection that fits strictly
                    // better can take over (a score of one more than its
                    // common commands): one that cannot is not compared to
                    // the end. Unbound, `bound_score` is 0.
                    1 + masks.common_in_order(window, bound_score)?,
                    std::cmp::Reverse(off_place(first)),
                    std::cmp::Reverse(first),
                    conn,
                ))
            })
            .max()?;
        // A handshake command binds on what came before it, or as one of a
        // connection's opening commands (`CLIENT SETINFO` that a server too
        // old for it refused), never on its own.
        let opening = self.recordings[first].pos as usize <= masks.len;
        let evidence = !handshake || score > 1 || opening;
        if evidence && (bound_to.is_none() || score > bound_score) {
            self.bind(live, conn, bound_to, first);
            return self.take(id, conn, None).map(|r| (r, false));
        }
        None
    }

    /// Whether recorded connection `theirs` has its handshake recording of
    /// key `id` due next for the live connection bound to it: at its place,
    /// which for two connections served the same commands is also `live`'s.
    fn due_after_the_same(&mut self, live: u64, id: u32, theirs: u64) -> bool {
        let Some(other) = self.owners.live_of(theirs) else {
            return false;
        };
        if other == live {
            return false;
        }
        let place = self.live.get(&other).and_then(|l| l.place);
        self.is_due(theirs, id, place)
    }

    /// Exchanges the bindings of `live` (bound to recorded connection
    /// `mine`) and of the live connection bound to `theirs`, when the two
    /// were served the same commands, in the same order, from their bound
    /// recordings: nothing they did tells which recording is whose, and
    /// `theirs` has the command `mine` never had. Two clients that open
    /// with the same handshake (ioredis's `CLIENT SETINFO`, refused by an
    /// older server and so recorded) at the same moment are bound either
    /// way round; without the exchange, the subscriber would replay the
    /// publisher's recording and its messages would go to the publisher.
    /// What each was served stays served; only who holds it changes.
    fn swap_bindings(
        &mut self,
        live: u64,
        id: u32,
        mine: u64,
        theirs: u64,
    ) -> Option<(usize, bool)> {
        let other = self.owners.live_of(theirs)?;
        let (a, b) = (self.live.get(&live)?, self.live.get(&other)?);
        if other == live || a.bound != Some(mine) || b.bound != Some(theirs) {
            return None;
        }
        // Compared in place: this is asked for each other live connection
        // that holds the command, nearly always to find they differ.
        let keys_a = a.history.served_by(mine).map(|(key, _)| key);
        if !keys_a.eq(b.history.served_by(theirs).map(|(key, _)| key)) {
            return None;
        }
        let pairs: Vec<(usize, usize)> = a
            .history
            .served_by(mine)
            .zip(b.history.served_by(theirs))
            .map(|(x, y)| (x.1, y.1))
            .collect();
        for (l, to) in [(live, theirs), (other, mine)] {
            let recordings = &self.recordings;
            if let Some(l) = self.live.get_mut(&l) {
                for &(x, y) in &pairs {
                    if to == theirs {
                        l.history.replace(x, y, theirs);
                    } else {
                        l.history.replace(y, x, mine);
                    }
                }
                // Its place in the new recording: the latest it was served
                // there, exchanged or borrowed before the exchange (a
                // subscription taken from the other's binding while the two
                // still differed), so its next handshake call is due where
                // it was recorded.
                l.place = l
                    .history
                    .served_by(to)
                    .map(|(_, r)| r)
                    .max_by_key(|&r| recordings[r].pos);
                l.bound = Some(to);
                l.declined = None;
            }
        }
        let (at_theirs, at_mine) = (self.queues.conn_index(theirs), self.queues.conn_index(mine));
        self.owners.bind(theirs, at_theirs, live);
        self.owners.bind(mine, at_mine, other);
        self.changes += 1;
        let place = self.live.get(&live).and_then(|l| l.place);
        self.take(id, theirs, place).map(|r| (r, false))
    }

    /// The match keys of the [`WINDOW`] recordings before `first` on its
    /// recorded connection, in order: what a free connection's fit is
    /// judged on (one for the command, plus the live connection's recent
    /// commands found in order among these).
    fn window_before(&self, first: usize) -> &[u32] {
        let r = &self.recordings[first];
        let end = r.pos as usize;
        match self.conn_keys.get(&r.conn) {
            Some(keys) => &keys[end.saturating_sub(WINDOW)..end],
            None => &[],
        }
    }

    /// Binds a live connection to recorded connection `conn`, whose
    /// recording `next` answers its current command. When it moves from
    /// another, what it took from that one goes back, exchanged for the same
    /// commands of the new one recorded before `next`, where it has them
    /// unused.
    fn bind(&mut self, live: u64, conn: u64, from: Option<u64>, next: usize) {
        if let Some(old) = from {
            let index = self.queues.conn_index(old);
            self.owners.unbind(old, index);
            let mut moved: Vec<(u32, usize)> = self
                .live
                .get(&live)
                .map(|l| {
                    l.history
                        .served_by(old)
                        .filter(|&(_, r)| self.served[r])
                        .collect()
                })
                .unwrap_or_default();
            // A repeated reply shows up more than once; it goes back once.
            moved.sort_unstable_by_key(|&(_, r)| r);
            moved.dedup_by_key(|&mut (_, r)| r);
            let mut swaps = Vec::new();
            for (id, old_recording) in moved {
                if self.peek(id, conn).is_some_and(|r| r < next) {
                    if let Some(new_recording) = self.take(id, conn, None) {
                        self.release(old_recording);
                        swaps.push((old_recording, new_recording));
                    }
                }
            }
            if let Some(l) = self.live.get_mut(&live) {
                for (from, to) in swaps {
                    l.history.replace(from, to, conn);
                }
            }
        }
        let index = self.queues.conn_index(conn);
        self.owners.bind(conn, index, live);
        self.changes += 1;
        if let Some(l) = self.live.get_mut(&live) {
            l.bound = Some(conn);
            l.place = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The length of the longest common subsequence of `a` and `b` (the
    /// last [`HISTORY`] of `a` are read), through the masks.
    fn common_in_order(a: &[u32], b: &[u32]) -> usize {
        HistoryMasks::new(a.iter().copied())
            .common_in_order(b, 0)
            .unwrap_or(0)
    }

    /// The table the bit-parallel form replaced: the oracle it is
    /// checked against.
    fn table(a: &[u32], b: &[u32]) -> usize {
        let mut row = vec![0usize; b.len() + 1];
        for &x in a {
            let mut diagonal = 0;
            for (j, &y) in b.iter().enumerate() {
                let above = row[j + 1];
                row[j + 1] = if x == y {
                    diagonal + 1
                } else {
                    above.max(row[j])
                };
                diagonal = above;
            }
        }
        row[b.len()]
    }

    proptest::proptest! {
        /// Any commands, few distinct (so most compare equal somewhere):
        /// up to a whole history, against recorded ones up to the window
        /// and past it.
        #[test]
        fn bit_parallel_length_is_the_table_s(
            a in proptest::collection::vec(0u32..6, 0..=HISTORY),
            b in proptest::collection::vec(0u32..6, 0..=WINDOW + 40),
        ) {
            proptest::prop_assert_eq!(common_in_order(&a, &b), table(&a, &b));
        }
    }

    #[test]
    fn a_history_past_its_length_is_read_from_its_end() {
        let mut a = vec![7u32; 10];
        a.extend(0..HISTORY as u32);
        assert_eq!(common_in_order(&a, &[7, 0, 1]), 2);
        assert_eq!(common_in_order(&a[..HISTORY], &[7]), 1);
    }

    /// Asked for at least `need`, the answer is the length when it is that
    /// much, else nothing, whether or not the scan ended early.
    #[test]
    fn a_length_short_of_the_need_is_none() {
        let masks = HistoryMasks::new([1, 2, 3, 4].into_iter());
        let recorded = [9, 1, 9, 2, 9, 9, 3];
        let ask = |need| masks.common_in_order(&recorded, need);
        assert_eq!(ask(0), Some(3));
        assert_eq!(ask(3), Some(3));
        assert_eq!(ask(4), None);
        assert_eq!(masks.common_in_order(&[9; 40], 1), None);
        assert_eq!(masks.common_in_order(&[9; 40], 0), Some(0));
    }

    #[test]
    fn subsequence_length() {
        assert_eq!(common_in_order(&[], &[1, 2]), 0);
        assert_eq!(common_in_order(&[1, 2, 3], &[1, 2, 3]), 3);
        assert_eq!(common_in_order(&[1, 2, 3], &[3, 2, 1]), 1);
        assert_eq!(common_in_order(&[1, 9, 2, 3], &[1, 2, 7, 3]), 3);
        assert_eq!(common_in_order(&[5, 5, 5], &[5]), 1);
    }

    /// What is kept is what a full sort puts first, whatever the number
    /// and order of the offers.
    #[test]
    fn the_earliest_candidates_are_kept_in_order() {
        let mut seed = 0x9e37_79b9_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for len in 0..40u64 {
            for _ in 0..20 {
                let offers: Vec<Candidate> = (0..len)
                    .map(|conn| ((next() % 16) as usize, conn))
                    .collect();
                let mut kept = Earliest::default();
                for &c in &offers {
                    kept.offer(c);
                }
                let mut sorted = offers.clone();
                sorted.sort_unstable();
                sorted.truncate(CANDIDATES);
                assert_eq!(kept.as_slice(), sorted, "{offers:?}");
            }
        }
    }

    #[test]
    fn history_is_bounded() {
        let mut h = History::default();
        for i in 0..(HISTORY + 5) {
            h.push(i as u32, i, 0);
        }
        assert_eq!(h.keys().len(), HISTORY);
        assert_eq!(h.keys().next(), Some(5));
        h.replace(10, 99, 0);
        assert!(h.entries().any(|(_, r)| r == 99));
    }

    /// The version stands still only while the entries do: a full history
    /// of one entry pushed again.
    #[test]
    fn history_version_moves_with_the_entries() {
        let mut h = History::default();
        let mut seen = vec![h.version()];
        let mut step = |h: &mut History, key: u32, recording: usize| {
            let before: Vec<_> = h.entries().collect();
            h.push(key, recording, 0);
            let changed = before != h.entries().collect::<Vec<_>>();
            let moved = seen.last() != Some(&h.version());
            assert!(moved || !changed, "{before:?} changed, the version did not");
            seen.push(h.version());
            moved
        };
        for _ in 0..HISTORY {
            step(&mut h, 1, 7);
        }
        // Full of (1, 7): the same again changes nothing.
        assert!(!step(&mut h, 1, 7));
        assert!(!step(&mut h, 1, 7));
        assert!(step(&mut h, 2, 8));
        // One (2, 8) among them: it moves until the (2, 8) is pushed out.
        for _ in 1..HISTORY {
            assert!(step(&mut h, 1, 7));
        }
        assert!(step(&mut h, 1, 7));
        assert!(!step(&mut h, 1, 7));
        let before = h.version();
        h.replace(7, 9, 0);
        assert_ne!(h.version(), before);
        // After a replace it counts the run again before standing still.
        for _ in 0..HISTORY {
            step(&mut h, 1, 9);
        }
        assert!(!step(&mut h, 1, 9));
    }
}
