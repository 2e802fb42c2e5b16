//! The index from a match key to its recordings, grouped by recorded
//! connection, in three flat arrays.
//!
//! Replay's commonest question is "recorded connection C's next unused
//! recording of key K". A map per key of a vector per connection answers it,
//! at the cost of two or three allocations per (key, connection) pair: most
//! of a million-line cassette's memory when its keys vary. Here every key
//! is an id into `keys`; its connections' queues are a run of `conns`,
//! sorted by connection (found by binary search); each queue is a run of
//! `items`, recording indexes in file order. The runs are laid out once the
//! whole cassette is read ([`Queues::build`]); the keys themselves are
//! packed in a [`KeyTable`], which finds them by hash.

use std::ops::Range;

use bytes::Bytes;

use super::key_table::{hash_key, KeyTable};
use crate::replay::memory::prefetch;

/// Every recording of one match key (in one database).
#[derive(Debug)]
pub(super) struct KeyQueue {
    /// Its connections' queues: `conns[first..first + count]`.
    first: u32,
    count: u32,
    /// Its run of `Queues::order` (an index into `Queues::wide`) when it
    /// is wide, else `u32::MAX`.
    wide: u32,
    /// Recordings not served yet; at 0 only the repeat path is left.
    /// Counted by [`Queues::build`], as is `last`: while the cassette
    /// loads, a key seen again is looked up in the key table only, not
    /// here.
    pub unused: u32,
    /// Its latest recording.
    pub last: u32,
    /// The database it is matched in (marked inside a transaction, see
    /// `keys`).
    pub db: u32,
    /// Where the key is packed in `Queues::table`.
    key: u64,
}

/// The recordings of one key from one recorded connection: 12 bytes, as
/// a cassette whose keys vary has nearly one per recording.
#[derive(Debug)]
pub(super) struct ConnQueue {
    /// The recorded connection, as its index in `Queues::conn_ids`.
    conn: u32,
    /// Its first item; it ends where the next queue starts.
    start: u32,
    /// Every item before it is served; items after it may be too (a
    /// binding that moved took them), so takers skip served ones.
    pub next: u32,
}

/// The index.
#[derive(Debug, Default)]
pub(super) struct Queues {
    keys: Vec<KeyQueue>,
    /// The keys, packed apart from the recordings, and found by hash: a
    /// million-line cassette looks up a key for every line while it
    /// loads, and its hundred thousand keys then lie in a few MiB rather
    /// than spread over the whole store.
    table: KeyTable,
    /// Connection queues, key by key, each key's sorted by connection; one
    /// more at the end marks where the last one ends.
    conns: Vec<ConnQueue>,
    /// The recorded connections, sorted: a queue's `conn` indexes it.
    conn_ids: Vec<u64>,
    /// Each recorded connection's index in `conn_ids`, by its id less the
    /// first's (`u32::MAX` for none), when the ids are dense enough for
    /// that to stay small (resplay numbers connections 1, 2, 3…): every
    /// command looks up its bound connection's queue, and this makes the
    /// first half of that one load instead of a binary search.
    conn_slots: Vec<u32>,
    /// Recording indexes, queue by queue.
    items: Vec<u32>,
    /// The connection queues (indexes into `conns`) of each key sent by
    /// more than [`WIDE`] recorded connections, a run per key (see
    /// [`Wide`]): first those that may still hold an unused recording,
    /// then those used up. While a key has unused recordings, nearly every
    /// command of it weighs the recorded connections that hold one; this
    /// keeps that weighing to them, not every connection that ever sent
    /// the key. Narrow keys are weighed whole: a scan of a few queues is
    /// cheap, and the list costs 4 bytes a queue, while most keys of a
    /// large cassette are sent by a few connections.
    order: Vec<u32>,
    /// Where each wide key's run of `order` is.
    wide: Vec<Wide>,
}

/// A key with more connection queues than this has its run of
/// [`Queues::order`].
const WIDE: u32 = 8;

/// An index of more recordings than this no longer stays in the caches
/// (their served flags and queue items alone pass the 2 MiB of a core's
/// L2 at about 400,000), so a scan asks for what it reads ahead of
/// reading it. Below, the extra passes only cost instructions: 160 per
/// request at P16 on a 20,000-line cassette (callgrind).
const LARGE: usize = 1 << 18;

/// A wide key's run of [`Queues::order`].
#[derive(Debug)]
struct Wide {
    /// Where it starts in `order`; it is as long as the key's queues.
    start: u32,
    /// How many of its first entries may still hold an unused recording.
    open: u32,
}

/// [`Queues::conn_slots`] for sorted, distinct `ids`: empty when they
/// spread over more than four slots per id (the binary search then
/// stays), so the table is never more than 16 bytes per recorded
/// connection.
fn dense_slots(ids: &[u64]) -> Vec<u32> {
    let (Some(&first), Some(&last)) = (ids.first(), ids.last()) else {
        return Vec::new();
    };
    let span = last - first + 1;
    if span > 4 * ids.len() as u64 + 64 || ids.len() >= u32::MAX as usize {
        return Vec::new();
    }
    let mut slots = vec![u32::MAX; span as usize];
    for (index, &id) in ids.iter().enumerate() {
        slots[(id - first) as usize] = index as u32;
    }
    slots
}

impl Queues {
    /// The id of `key` in `db`, if anything recorded it.
    pub fn find(&self, db: u32, key: &[Bytes]) -> Option<u32> {
        self.table.find(hash_key(db, key), db, key)
    }

    /// The id of `key` in `db` (whose [`hash_key`] is `hash`), added when
    /// it is new (while loading); the bool says it is new.
    pub fn find_or_add(&mut self, db: u32, key: &[Bytes], hash: u64) -> (u32, bool) {
        if let Some(id) = self.table.find(hash, db, key) {
            return (id, false);
        }
        let id = self.keys.len() as u32;
        let key = self.table.insert(hash, id, db, key);
        self.keys.push(KeyQueue {
            first: 0,
            count: 0,
            wide: u32::MAX,
            unused: 0,
            last: 0,
            db,
            key,
        });
        (id, true)
    }

    /// Asks for the slot a look-up of the key hashed to `hash` (see
    /// `hash_key`) reads first, a few lines ahead of it while the cassette
    /// loads (see [`KeyTable`]); [`prefetch_key`](Queues::prefetch_key),
    /// a little later, asks for the key's bytes.
    pub fn prefetch_slot(&self, hash: u64) {
        self.table.prefetch_slot(hash);
    }

    /// The second step of [`prefetch_slot`](Queues::prefetch_slot): the
    /// bytes of the key its slot holds.
    pub fn prefetch_key(&self, hash: u64) {
        self.table.prefetch_key(hash);
    }

    /// Lays out the queues once every recording is in: `of` gives each
    /// recording's key id and recorded connection, in file order, and
    /// `conn_ids` every recorded connection that has one. Given rather
    /// than gathered from `of`: that took two copies of every recording's
    /// connection (8 bytes each), the top of a large load's memory.
    pub fn build(
        &mut self,
        of: impl ExactSizeIterator<Item = (u32, u64)> + Clone,
        conn_ids: impl Iterator<Item = u64>,
    ) {
        self.table.finish();
        let mut conn_ids: Vec<u64> = conn_ids.collect();
        conn_ids.sort_unstable();
        conn_ids.dedup();
        self.conn_slots = dense_slots(&conn_ids);
        self.conn_ids = conn_ids;
        // Recordings by key (a counting sort, so file order holds within
        // a key), then each key's by connection (a stable sort).
        let mut starts = vec![0u32; self.keys.len() + 1];
        for (key, _) in of.clone() {
            starts[key as usize + 1] += 1;
        }
        for k in 1..starts.len() {
            starts[k] += starts[k - 1];
        }
        let mut fill = starts.clone();
        let mut items = vec![0u32; of.len()];
        let mut conn_of = Vec::with_capacity(of.len());
        for (index, (key, conn)) in of.enumerate() {
            items[fill[key as usize] as usize] = index as u32;
            fill[key as usize] += 1;
            let interned = self.conn_index(conn);
            conn_of.push(interned.expect("every recording's connection is listed") as u32);
        }
        drop(fill);
        // At most one queue per recording: room for that at once (what
        // goes unused is given back below) rather than a copy at every
        // doubling of a million-queue vector.
        let mut conns = Vec::with_capacity(items.len() + 1);
        let (mut order, mut wide) = (Vec::new(), Vec::new());
        for (id, queue) in self.keys.iter_mut().enumerate() {
            let run = starts[id] as usize..starts[id + 1] as usize;
            let slice = &mut items[run.clone()];
            // In file order until sorted by connection below.
            queue.unused = slice.len() as u32;
            queue.last = slice.last().copied().unwrap_or_default();
            if slice
                .windows(2)
                .any(|w| conn_of[w[0] as usize] > conn_of[w[1] as usize])
            {
                slice.sort_by_key(|&i| conn_of[i as usize]);
            }
            queue.first = conns.len() as u32;
            let mut at = run.start;
            while at < run.end {
                let conn = conn_of[items[at] as usize];
                conns.push(ConnQueue {
                    conn,
                    start: at as u32,
                    next: at as u32,
                });
                while at < run.end && conn_of[items[at] as usize] == conn {
                    at += 1;
                }
            }
            queue.count = conns.len() as u32 - queue.first;
            if queue.count > WIDE {
                // Every queue holds a recording, and none is served yet.
                let start = order.len() as u32;
                order.extend(queue.first..queue.first + queue.count);
                let open = queue.count;
                queue.wide = wide.len() as u32;
                wide.push(Wide { start, open });
            }
        }
        conns.push(ConnQueue {
            conn: u32::MAX,
            start: items.len() as u32,
            next: items.len() as u32,
        });
        conns.shrink_to_fit();
        order.shrink_to_fit();
        wide.shrink_to_fit();
        self.order = order;
        self.wide = wide;
        self.keys.shrink_to_fit();
        self.conns = conns;
        self.items = items;
    }

    /// A key's queue.
    pub fn key(&self, id: u32) -> &KeyQueue {
        &self.keys[id as usize]
    }

    /// A key's queue, to change its counts.
    pub fn key_mut(&mut self, id: u32) -> &mut KeyQueue {
        &mut self.keys[id as usize]
    }

    /// How many keys there are (ids run from 0 to this).
    pub fn key_count(&self) -> usize {
        self.keys.len()
    }

    /// Every key: its id and queue.
    pub fn keys(&self) -> impl Iterator<Item = (u32, &KeyQueue)> {
        self.keys.iter().enumerate().map(|(id, k)| (id as u32, k))
    }

    /// A key, unpacked.
    pub fn key_args(&self, id: u32) -> Vec<Bytes> {
        self.table.key(self.keys[id as usize].key)
    }

    /// A key's arguments as packed: the same bytes as a command's of the
    /// same arguments (see `Store::packed_args`).
    pub fn packed_key(&self, id: u32) -> &[u8] {
        self.table.packed(self.keys[id as usize].key)
    }

    /// A key's first argument (a command's name).
    pub fn key_name(&self, id: u32) -> Option<&[u8]> {
        self.table.parts(self.keys[id as usize].key).2.next()
    }

    /// The connection queues of key `id` (indexes into the queues).
    pub fn conns_of(&self, id: u32) -> Range<usize> {
        let k = &self.keys[id as usize];
        k.first as usize..(k.first + k.count) as usize
    }

    /// How many recorded connections are interned (those with a recording).
    pub fn conn_count(&self) -> usize {
        self.conn_ids.len()
    }

    /// The index recorded connection `conn` is interned under.
    pub fn conn_index(&self, conn: u64) -> Option<usize> {
        if !self.conn_slots.is_empty() {
            let slot = conn.checked_sub(*self.conn_ids.first()?)?;
            let index = *self.conn_slots.get(usize::try_from(slot).ok()?)?;
            return (index != u32::MAX).then_some(index as usize);
        }
        self.conn_ids.binary_search(&conn).ok()
    }

    /// The interned index of a connection queue's recorded connection.
    pub fn conn_index_at(&self, q: usize) -> usize {
        self.conns[q].conn as usize
    }

    /// Recorded connection `conn`'s queue for key `id`.
    pub fn conn_queue(&self, id: u32, conn: u64) -> Option<usize> {
        let conn = self.conn_index(conn)? as u32;
        let run = self.conns_of(id);
        let found = self.conns[run.clone()].binary_search_by_key(&conn, |q| q.conn);
        found.ok().map(|at| run.start + at)
    }

    /// The recorded connection of a connection queue.
    pub fn conn_at(&self, q: usize) -> u64 {
        self.conn_ids[self.conns[q].conn as usize]
    }

    /// A connection queue.
    pub fn queue(&self, q: usize) -> &ConnQueue {
        &self.conns[q]
    }

    /// A connection queue, to move its cursor.
    pub fn queue_mut(&mut self, q: usize) -> &mut ConnQueue {
        &mut self.conns[q]
    }

    /// The items of a connection queue (positions into [`item`](Queues::item)).
    pub fn items_of(&self, q: usize) -> Range<usize> {
        self.conns[q].start as usize..self.conns[q + 1].start as usize
    }

    /// The recording at an item position.
    pub fn item(&self, at: usize) -> usize {
        self.items[at] as usize
    }

    /// The position of queue `q`'s first unused item at or after `from`.
    /// Inlined: the weighing in `Matcher::choose` calls it for every
    /// recorded connection of a key, and the call cost more than the look
    /// (callgrind, replay at P16: 4,239 -> 3,902 instructions per request).
    #[inline]
    pub fn first_unused(&self, q: usize, from: usize, served: &[bool]) -> Option<usize> {
        let end = self.items_of(q).end;
        (from..end).find(|&at| !served[self.items[at] as usize])
    }

    /// Moves queue `q`'s cursor up to its first unused item (to its end
    /// when it has none: every item before the cursor is served) and
    /// returns that item's position.
    #[inline]
    pub fn advance(&mut self, q: usize, served: &[bool]) -> Option<usize> {
        let from = self.conns[q].next as usize;
        let found = self.first_unused(q, from, served);
        let end = self.items_of(q).end;
        self.conns[q].next = found.unwrap_or(end) as u32;
        found
    }

    /// Calls `visit(conn, conn_index, recording)` for each connection
    /// queue of key `id` that holds an unused recording: its recorded
    /// connection (id and interned index) and its first unused recording.
    /// A wide key's queues found used up leave the open part of its run
    /// of `order` (in no particular order: the weighing keeps the earliest
    /// whatever the order), so the next scan does not look at them again.
    /// Each queue's cursor moves up to its first unused item
    /// ([`advance`](Queues::advance)).
    #[inline]
    pub fn scan_open(
        &mut self,
        id: u32,
        served: &[bool],
        mut visit: impl FnMut(u64, usize, usize),
    ) {
        let at_wide = self.keys[id as usize].wide as usize;
        let Some(&Wide { start, open }) = self.wide.get(at_wide) else {
            for q in self.conns_of(id) {
                if let Some(found) = self.advance(q, served) {
                    let conn = self.conns[q].conn as usize;
                    visit(self.conn_ids[conn], conn, self.items[found] as usize);
                }
            }
            return;
        };
        let (start, mut open) = (start as usize, open as usize);
        // Each open queue's next item, and then whether that is served,
        // asked of memory for all the queues before any is read: a wide
        // key's queues are spread through a large cassette's index, and
        // read in turn each was a wait on memory (`perf`, 10M
        // interactions). A small index skips both passes.
        if self.items.len() > LARGE {
            let runs = &self.order[start..start + open];
            let nexts = || runs.iter().map(|&q| self.conns[q as usize].next as usize);
            for item in nexts().filter_map(|next| self.items.get(next)) {
                prefetch(item);
            }
            let items = nexts().filter_map(|next| self.items.get(next));
            for flag in items.filter_map(|&item| served.get(item as usize)) {
                prefetch(flag);
            }
        }
        let mut at = 0;
        while at < open {
            let q = self.order[start + at] as usize;
            match self.advance(q, served) {
                Some(found) => {
                    let conn = self.conns[q].conn as usize;
                    visit(self.conn_ids[conn], conn, self.items[found] as usize);
                    at += 1;
                }
                None => {
                    open -= 1;
                    self.order.swap(start + at, start + open);
                }
            }
        }
        self.wide[at_wide].open = open as u32;
    }

    /// The connection queues of key `id` that may hold an unused
    /// recording (a superset of those that do).
    pub fn open_of(&self, id: u32) -> impl Iterator<Item = usize> + '_ {
        let at_wide = self.keys[id as usize].wide as usize;
        let (run, narrow): (&[u32], _) = match self.wide.get(at_wide) {
            Some(wide) => {
                let run = wide.start as usize..(wide.start + wide.open) as usize;
                (&self.order[run], 0..0)
            }
            None => (&[], self.conns_of(id)),
        };
        run.iter().map(|&q| q as usize).chain(narrow)
    }

    /// Queue `q` of key `id` holds an unused recording again (a binding
    /// that moved gave it back): it rejoins the open part of a wide key's
    /// run, if it had left it. Rare, so the search is a plain one.
    pub fn reopen(&mut self, id: u32, q: usize) {
        let key = &self.keys[id as usize];
        let (count, at_wide) = (key.count as usize, key.wide as usize);
        let Some(wide) = self.wide.get_mut(at_wide) else {
            return;
        };
        let (open, end) = (
            (wide.start + wide.open) as usize,
            wide.start as usize + count,
        );
        if let Some(at) = self.order[open..end].iter().position(|&o| o as usize == q) {
            self.order.swap(open + at, open);
            wide.open += 1;
        }
    }

    /// The position of recording `index` in queue `q`.
    pub fn position(&self, q: usize, index: usize) -> Option<usize> {
        let run = self.items_of(q);
        let found = self.items[run.clone()].binary_search(&(index as u32));
        found.ok().map(|at| run.start + at)
    }

    /// The first position in queue `q` whose recording comes after `index`.
    pub fn after(&self, q: usize, index: usize) -> usize {
        let run = self.items_of(q);
        run.start + self.items[run].partition_point(|&i| i as usize <= index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(words: &[&str]) -> Vec<Bytes> {
        words
            .iter()
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect()
    }

    #[test]
    fn keys_are_found_after_the_table_grows_and_the_queues_are_laid_out() {
        let mut queues = Queues::default();
        let mut recordings = Vec::new();
        for n in 0..2000u32 {
            let k = key(&["GET", &format!("key:{}", n % 700)]);
            let db = (n / 700) % 2;
            let (id, _) = queues.find_or_add(db, &k, hash_key(db, &k));
            recordings.push((id, u64::from(n % 7)));
        }
        queues.build(recordings.iter().copied(), recordings.iter().map(|r| r.1));
        for n in 0..700u32 {
            let k = key(&["GET", &format!("key:{n}")]);
            for db in 0..2 {
                let id = queues.find(db, &k).expect("recorded");
                assert_eq!(queues.key_args(id), k);
                assert_eq!(queues.key(id).db, db);
            }
            assert_eq!(queues.find(2, &k), None);
        }
        // Each key's recordings, by connection, in file order.
        let id = queues.find(0, &key(&["GET", "key:0"])).unwrap();
        // Counted when laid out: key:0 was recorded at 0 and 1400 (in
        // database 0; 700 is database 1's).
        assert_eq!((queues.key(id).unused, queues.key(id).last), (2, 1400));
        let mut seen = Vec::new();
        for q in queues.conns_of(id) {
            let items: Vec<usize> = queues.items_of(q).map(|at| queues.item(at)).collect();
            assert!(items.windows(2).all(|w| w[0] < w[1]));
            assert_eq!(queues.conn_queue(id, queues.conn_at(q)), Some(q));
            seen.extend(items);
        }
        seen.sort_unstable();
        let expected = vec![0, 1400];
        assert_eq!(seen, expected);
        assert_eq!(queues.conn_queue(id, 99), None);
    }

    /// A scan visits exactly the queues with an unused recording; a wide
    /// key's drops those it finds used up, and a queue given a recording
    /// back is visited again. A narrow key's scan looks at every queue.
    #[test]
    fn the_open_queues_are_those_with_an_unused_recording() {
        for conns in [3u64, 12] {
            let mut queues = Queues::default();
            let mut recordings = Vec::new();
            // One key, sent by connections 1..=conns, twice each.
            let total = 2 * conns as u32;
            for n in 0..total {
                let k = key(&["GET", "k"]);
                let (id, _) = queues.find_or_add(0, &k, hash_key(0, &k));
                recordings.push((id, u64::from(n) % conns + 1));
            }
            queues.build(recordings.iter().copied(), recordings.iter().map(|r| r.1));
            let (id, wide) = (0, conns > u64::from(WIDE));
            let mut served = vec![false; total as usize];
            let scan = |queues: &mut Queues, served: &[bool]| {
                let mut seen = Vec::new();
                queues.scan_open(id, served, |conn, _, first| seen.push((conn, first)));
                seen.sort_unstable();
                seen
            };
            let mut expected: Vec<(u64, usize)> =
                (1..=conns).map(|c| (c, c as usize - 1)).collect();
            assert_eq!(scan(&mut queues, &served), expected);
            // Connection 2 used up, connection 3 half-way.
            for r in [1, 1 + conns as usize, 2] {
                served[r] = true;
            }
            expected.remove(1);
            expected[1].1 = 2 + conns as usize;
            assert_eq!(scan(&mut queues, &served), expected);
            let listed = if wide { conns - 1 } else { conns };
            assert_eq!(queues.open_of(id).count() as u64, listed);
            // Given back: connection 2's second recording.
            let back = 1 + conns as usize;
            served[back] = false;
            let q = queues.conn_queue(id, 2).unwrap();
            queues.queue_mut(q).next = queues.position(q, back).unwrap() as u32;
            queues.reopen(id, q);
            queues.reopen(id, q);
            assert_eq!(queues.open_of(id).count() as u64, conns);
            expected.insert(1, (2, back));
            assert_eq!(scan(&mut queues, &served), expected);
        }
    }

    /// The slot table finds what the binary search finds, for ids dense,
    /// with gaps, and too spread out to get a table.
    #[test]
    fn conn_index_agrees_with_the_search() {
        for ids in [
            vec![1u64, 2, 3, 4, 5],
            vec![3, 4, 9, 10, 40, 41, 42],
            vec![7, 1_000_000, u64::MAX - 1],
            vec![0],
            vec![],
        ] {
            let queues = Queues {
                conn_slots: dense_slots(&ids),
                conn_ids: ids.clone(),
                ..Queues::default()
            };
            let dense = !queues.conn_slots.is_empty();
            assert_eq!(dense, ids.len() > 1 && ids[1] < 100 || ids == [0]);
            let probes = ids
                .iter()
                .flat_map(|&id| [id.saturating_sub(1), id, id.saturating_add(1)])
                .chain([0, 50, u64::MAX]);
            for probe in probes {
                assert_eq!(
                    queues.conn_index(probe),
                    ids.binary_search(&probe).ok(),
                    "{probe} in {ids:?}"
                );
            }
        }
    }
}
