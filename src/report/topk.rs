//! The few biggest of many, in bounded memory: [`TopN`] keeps the `n`
//! highest-scored items seen (the slowest interactions, the biggest
//! replies), [`HotKeys`] counts keys and keeps the most frequent.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

/// The `n` items with the highest scores, ties kept in arrival order.
#[derive(Debug)]
pub struct TopN<T> {
    /// How many to keep.
    n: usize,
    /// A min-heap, so the weakest kept is on top.
    heap: BinaryHeap<Reverse<Entry<T>>>,
    /// Items offered so far: the tie-breaker.
    offered: u64,
}

/// A kept item: its score, then earlier arrivals ranking higher among
/// equal scores.
type Entry<T> = (u64, Reverse<u64>, Slot<T>);

/// An item in the heap, compared by nothing (the heap orders by score and
/// arrival only).
#[derive(Debug)]
struct Slot<T>(T);

impl<T> PartialEq for Slot<T> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl<T> Eq for Slot<T> {}
impl<T> PartialOrd for Slot<T> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Slot<T> {
    fn cmp(&self, _: &Self) -> std::cmp::Ordering {
        std::cmp::Ordering::Equal
    }
}

impl<T> TopN<T> {
    /// Keeps the best `n`.
    pub fn new(n: usize) -> TopN<T> {
        TopN {
            n,
            heap: BinaryHeap::with_capacity(n + 1),
            offered: 0,
        }
    }

    /// True when an item scored `score` would be kept: callers build an
    /// item (render its text) only then.
    pub fn wants(&self, score: u64) -> bool {
        self.heap.len() < self.n
            || self
                .heap
                .peek()
                .is_some_and(|Reverse((s, _, _))| score > *s)
    }

    /// Offers an item; it is kept if it is among the best `n` so far.
    pub fn offer(&mut self, score: u64, item: T) {
        let order = Reverse(self.offered);
        self.offered += 1;
        if !self.wants(score) {
            return;
        }
        self.heap.push(Reverse((score, order, Slot(item))));
        if self.heap.len() > self.n {
            self.heap.pop();
        }
    }

    /// The kept items, best first (equal scores: the earliest first).
    pub fn into_sorted(self) -> Vec<(u64, T)> {
        let mut all: Vec<_> = self.heap.into_iter().map(|Reverse(x)| x).collect();
        all.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)));
        all.into_iter().map(|(s, _, Slot(t))| (s, t)).collect()
    }
}

/// Counts keys, holding at most `2 × capacity` of them.
///
/// Below that many distinct keys every count is exact. Past it, the table
/// is cut back to the `capacity` most frequent whenever it doubles (the
/// "frequent items" sketch with batched pruning): a key dropped and seen
/// again starts over, so a count is then a lower bound, at most
/// [`HotKeys::error_bound`] below the truth, and a key more frequent than
/// that bound can never have been dropped from the top.
#[derive(Debug)]
pub struct HotKeys {
    /// Keys kept after a pruning.
    capacity: usize,
    /// Key → count since it was last (re)inserted.
    counts: HashMap<Box<[u8]>, u64>,
    /// The highest count a pruning ever dropped.
    dropped_max: u64,
    /// Key occurrences counted.
    total: u64,
}

impl HotKeys {
    /// A counter keeping the `capacity` most frequent keys.
    pub fn new(capacity: usize) -> HotKeys {
        HotKeys {
            capacity,
            counts: HashMap::new(),
            dropped_max: 0,
            total: 0,
        }
    }

    /// Counts one occurrence of `key`.
    pub fn add(&mut self, key: &[u8]) {
        self.total += 1;
        if let Some(n) = self.counts.get_mut(key) {
            *n += 1;
            return;
        }
        if self.counts.len() >= 2 * self.capacity {
            self.prune();
        }
        self.counts.insert(key.into(), 1);
    }

    /// Drops all but the `capacity` most frequent keys.
    fn prune(&mut self) {
        let mut by_count: Vec<u64> = self.counts.values().copied().collect();
        // The count a key needs to stay: the capacity-th largest. Fewer
        // than `capacity` keys are above it; as many at it as make up the
        // rest stay (whichever the table meets first).
        let cut = by_count.len() - self.capacity;
        let threshold = *by_count.select_nth_unstable(cut).1;
        let above = by_count.iter().filter(|&&n| n > threshold).count();
        let mut room = self.capacity - above;
        let mut dropped_max = self.dropped_max;
        self.counts.retain(|_, n| {
            let keep = *n > threshold || (*n == threshold && room > 0);
            if *n == threshold && keep {
                room -= 1;
            }
            if !keep {
                dropped_max = dropped_max.max(*n);
            }
            keep
        });
        self.dropped_max = dropped_max;
    }

    /// How far below its true count a shown count may be: 0 when every
    /// count is exact.
    pub fn error_bound(&self) -> u64 {
        self.dropped_max
    }

    /// Key occurrences counted.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The `n` most frequent keys, most frequent first (ties by key).
    pub fn top(&self, n: usize) -> Vec<(&[u8], u64)> {
        let mut all: Vec<(&[u8], u64)> = self.counts.iter().map(|(k, &c)| (&k[..], c)).collect();
        all.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        all.truncate(n);
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_n_keeps_the_highest_in_order() {
        let mut top = TopN::new(3);
        for (score, name) in [(5, "a"), (1, "b"), (9, "c"), (5, "d"), (7, "e"), (2, "f")] {
            top.offer(score, name);
        }
        assert!(!top.wants(5));
        assert!(top.wants(6));
        assert_eq!(top.into_sorted(), vec![(9, "c"), (7, "e"), (5, "a")]);
    }

    #[test]
    fn hot_keys_exact_below_capacity() {
        let mut keys = HotKeys::new(10);
        for i in 0..15u8 {
            for _ in 0..=i {
                keys.add(&[i]);
            }
        }
        assert_eq!(keys.error_bound(), 0);
        assert_eq!(keys.top(2), vec![(&[14u8][..], 15), (&[13u8][..], 14)]);
        assert_eq!(keys.total(), (1..=15).sum::<u64>());
    }

    #[test]
    fn hot_keys_past_capacity_keep_the_frequent_ones_with_a_bound() {
        let mut keys = HotKeys::new(4);
        // Three hot keys among a stream of distinct cold ones.
        for round in 0..1000u32 {
            keys.add(b"hot:a");
            if round % 2 == 0 {
                keys.add(b"hot:b");
            }
            if round % 4 == 0 {
                keys.add(b"hot:c");
            }
            keys.add(format!("cold:{round}").as_bytes());
        }
        let top = keys.top(3);
        let names: Vec<&[u8]> = top.iter().map(|(k, _)| *k).collect();
        assert_eq!(names, vec![&b"hot:a"[..], b"hot:b", b"hot:c"]);
        assert_eq!(top[0].1, 1000);
        // Cold keys were dropped with count 1: that is the whole error.
        assert_eq!(keys.error_bound(), 1);
        assert!(keys.counts.len() <= 8);
    }
}
