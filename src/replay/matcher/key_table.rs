//! The match keys, packed one after another, and the table that finds
//! one by its hash.
//!
//! By hand rather than hashbrown's `HashTable`: while a cassette loads,
//! every line looks up its key, in whatever order the workload sent them,
//! and a look-up through hashbrown read three cold lines of memory (its
//! control bytes, its bucket, the key's bytes), a fifth of a million-line
//! load. Here a slot is 8 bytes that hold a tag of the hash and where the
//! key is packed, so a look-up reads two lines, and
//! [`prefetch_slot`](KeyTable::prefetch_slot) and
//! [`prefetch_key`](KeyTable::prefetch_key) ask for both while earlier
//! lines are indexed, which no map crate's API offers. Open addressing
//! with linear probing, at most three quarters full.

use std::hash::{Hash, Hasher};

use bytes::{BufMut, Bytes, BytesMut};
use rustc_hash::FxHasher;

use super::store::{pack_args, packed_args_at, read_varint, unpack_args};
use crate::replay::memory::prefetch;

/// How many low bits of a slot say where its key is packed (1 TiB of
/// keys); the bits above hold the tag.
const OFFSET_BITS: u32 = 40;
const OFFSET_MASK: u64 = (1 << OFFSET_BITS) - 1;

/// What comes before a key's arguments in the arena: its id and database,
/// 4 bytes each (little endian). The read that tells whether a key is the
/// one looked up also gives its id.
const HEADER: usize = 8;

/// The keys and the table.
#[derive(Debug, Default)]
pub(super) struct KeyTable {
    /// 0 for empty; else the key's tag above [`OFFSET_BITS`] (its top bit
    /// always set, so never 0) and its offset in the arena below. The
    /// length is 0 or a power of two.
    slots: Vec<u64>,
    /// How many slots are full.
    len: usize,
    /// The packed keys while the cassette loads.
    filling: BytesMut,
    /// The same, frozen by [`finish`](KeyTable::finish), so keys are
    /// sliced out without a copy.
    frozen: Bytes,
}

/// The hash of a key in a database.
pub(super) fn hash_key(db: u32, key: &[Bytes]) -> u64 {
    hash_args(db, key.len(), key.iter().map(|a| &a[..]))
}

/// The hash of a key given as its arguments, packed or not: the table
/// grows by hashing packed keys where they lie, never unpacking them.
fn hash_args<'a>(db: u32, count: usize, args: impl Iterator<Item = &'a [u8]>) -> u64 {
    let mut h = FxHasher::default();
    db.hash(&mut h);
    h.write_usize(count);
    for arg in args {
        h.write_usize(arg.len());
        h.write(arg);
    }
    h.finish()
}

/// A slot's tag for `hash`: its top 24 bits with the highest set. The
/// position comes from the low bits, so the two are independent.
fn tag_of(hash: u64) -> u64 {
    (hash >> OFFSET_BITS) | (1 << (63 - OFFSET_BITS))
}

/// A packed key's id, database and packed arguments.
fn split_header(packed: &[u8]) -> (u32, u32, &[u8]) {
    let word = |at: usize| u32::from_le_bytes(packed[at..at + 4].try_into().expect("4 bytes"));
    (word(0), word(4), &packed[HEADER..])
}

/// Whether the key packed at the start of `packed` is `key` in `db`,
/// without unpacking it; its id when it is.
fn packed_is(packed: &[u8], db: u32, key: &[Bytes]) -> Option<u32> {
    let (id, packed_db, mut rest) = split_header(packed);
    if packed_db != db || read_varint(&mut rest)? != key.len() {
        return None;
    }
    for arg in key {
        let len = read_varint(&mut rest)?;
        if len != arg.len() || rest.get(..len)? != &arg[..] {
            return None;
        }
        rest = &rest[len..];
    }
    Some(id)
}

impl KeyTable {
    /// The id of `key` in `db`, given its [`hash_key`].
    pub fn find(&self, hash: u64, db: u32, key: &[Bytes]) -> Option<u32> {
        if self.slots.is_empty() {
            return None;
        }
        let (mask, tag) = (self.slots.len() - 1, tag_of(hash));
        let arena = self.arena();
        let mut at = hash as usize & mask;
        loop {
            let slot = self.slots[at];
            if slot == 0 {
                return None;
            }
            if slot >> OFFSET_BITS == tag {
                let offset = (slot & OFFSET_MASK) as usize;
                if let Some(id) = packed_is(&arena[offset..], db, key) {
                    return Some(id);
                }
            }
            at = (at + 1) & mask;
        }
    }

    /// Packs `key` of `db` as key `id` (not in the table yet) and returns
    /// where it is packed.
    pub fn insert(&mut self, hash: u64, id: u32, db: u32, key: &[Bytes]) -> u64 {
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            self.grow();
        }
        let offset = self.filling.len() as u64;
        assert!(offset <= OFFSET_MASK, "a cassette with 1 TiB of keys");
        self.filling.put_u32_le(id);
        self.filling.put_u32_le(db);
        pack_args(key, &mut self.filling);
        self.place(hash, offset);
        self.len += 1;
        offset
    }

    /// Puts a key packed at `offset` in its slot.
    fn place(&mut self, hash: u64, offset: u64) {
        let mask = self.slots.len() - 1;
        let mut at = hash as usize & mask;
        while self.slots[at] != 0 {
            at = (at + 1) & mask;
        }
        self.slots[at] = tag_of(hash) << OFFSET_BITS | offset;
    }

    /// Doubles the table, hashing each key again where it is packed.
    fn grow(&mut self) {
        let size = (self.slots.len() * 2).max(16);
        let old = std::mem::replace(&mut self.slots, vec![0; size]);
        for slot in old.into_iter().filter(|&s| s != 0) {
            let offset = slot & OFFSET_MASK;
            let (db, count, args) = self.parts(offset);
            let hash = hash_args(db, count, args);
            self.place(hash, offset);
        }
    }

    /// Asks for the slot a look-up of `hash` reads first.
    pub fn prefetch_slot(&self, hash: u64) {
        if !self.slots.is_empty() {
            prefetch(&self.slots[hash as usize & (self.slots.len() - 1)]);
        }
    }

    /// Asks for the key bytes a look-up of `hash` compares first (read
    /// from its slot, which [`prefetch_slot`](KeyTable::prefetch_slot)
    /// asked for earlier).
    pub fn prefetch_key(&self, hash: u64) {
        if self.slots.is_empty() {
            return;
        }
        let slot = self.slots[hash as usize & (self.slots.len() - 1)];
        if slot != 0 && slot >> OFFSET_BITS == tag_of(hash) {
            if let Some(byte) = self.arena().get((slot & OFFSET_MASK) as usize) {
                prefetch(byte);
            }
        }
    }

    /// Called once every key is in: they are then sliced, not copied.
    pub fn finish(&mut self) {
        if !self.filling.is_empty() {
            self.frozen = std::mem::take(&mut self.filling).freeze();
        }
    }

    fn arena(&self) -> &[u8] {
        match self.filling.is_empty() {
            true => &self.frozen,
            false => &self.filling,
        }
    }

    /// A key packed at `offset`, as its database, its argument count and
    /// its arguments, borrowed where they lie.
    pub fn parts(&self, offset: u64) -> (u32, usize, impl Iterator<Item = &[u8]>) {
        let (_, db, mut packed) = split_header(&self.arena()[offset as usize..]);
        let count = read_varint(&mut packed).unwrap_or(0);
        let args = (0..count).map_while(move |_| {
            let len = read_varint(&mut packed)?;
            let (arg, rest) = packed.split_at_checked(len)?;
            packed = rest;
            Some(arg)
        });
        (db, count, args)
    }

    /// A key packed at `offset`, unpacked.
    pub fn key(&self, offset: u64) -> Vec<Bytes> {
        let start = offset as usize + HEADER;
        match self.filling.is_empty() {
            true => unpack_args(&self.frozen.slice(start..)),
            // Still loading: a copy (only tests look before the end).
            false => unpack_args(&Bytes::copy_from_slice(&self.filling[start..])),
        }
    }

    /// A key's arguments as packed: the same bytes as a command's of the
    /// same arguments (see `Store::packed_args`).
    pub fn packed(&self, offset: u64) -> &[u8] {
        packed_args_at(&self.arena()[offset as usize + HEADER..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::args_of as args;

    /// Keys are found in their database, through growth and after the
    /// freeze; absent ones and other databases are not; each comes back
    /// unpacked and packed as it went in.
    #[test]
    fn keys_are_found_through_growth_and_after_the_freeze() {
        let mut table = KeyTable::default();
        let key = |n: u32| args(&["GET", &format!("key:{n}")]);
        let mut offsets = Vec::new();
        for n in 0..5000u32 {
            let (db, k) = (n % 3, key(n));
            let hash = hash_key(db, &k);
            assert_eq!(table.find(hash, db, &k), None);
            offsets.push(table.insert(hash, n, db, &k));
            table.prefetch_slot(hash);
            table.prefetch_key(hash);
        }
        assert!(table.slots.len() >= 5000 * 4 / 3);
        for frozen in [false, true] {
            if frozen {
                table.finish();
            }
            for n in 0..5000u32 {
                let (db, k) = (n % 3, key(n));
                assert_eq!(table.find(hash_key(db, &k), db, &k), Some(n));
                let other = (db + 1) % 3;
                assert_eq!(table.find(hash_key(other, &k), other, &k), None);
                let offset = offsets[n as usize];
                assert_eq!(table.key(offset), k);
                let (packed_db, count, parts) = table.parts(offset);
                assert_eq!((packed_db, count), (db, 2));
                assert_eq!(parts.collect::<Vec<_>>(), [&b"GET"[..], k[1].as_ref()]);
                let mut packed = BytesMut::new();
                pack_args(&k, &mut packed);
                assert_eq!(table.packed(offset), &packed[..]);
            }
            let absent = args(&["GET", "key:5000"]);
            assert_eq!(table.find(hash_key(0, &absent), 0, &absent), None);
        }
    }

    /// Keys whose hashes share a slot are told apart by their bytes: the
    /// table is probed past a tag that matches the wrong key.
    #[test]
    fn colliding_hashes_are_told_apart_by_the_key() {
        let mut table = KeyTable::default();
        let (a, b) = (args(&["GET", "a"]), args(&["GET", "b"]));
        // The same hash for both, as if they collided fully.
        table.insert(42, 0, 0, &a);
        table.insert(42, 1, 0, &b);
        assert_eq!(table.find(42, 0, &a), Some(0));
        assert_eq!(table.find(42, 0, &b), Some(1));
        assert_eq!(table.find(42, 0, &args(&["GET", "c"])), None);
        assert!(KeyTable::default().find(42, 0, &a).is_none());
    }
}
