//! A cassette reduced to what the comparison reads: per recorded
//! connection, each interaction's match key (interned to a number), a hash
//! of its replies and its place in the file.
//!
//! That is 16 bytes an interaction whatever its command and replies weigh,
//! so two cassettes of millions of interactions are compared without
//! holding either; what a change shows is read again afterwards, for the
//! changed interactions only (see `files`).

use std::hash::{Hash, Hasher};

use rustc_hash::FxHashMap as HashMap;

use crate::cassette::{Header, Interaction};
use crate::pattern::{match_key, IgnoreRule};

/// One side's connections, in order of first appearance.
#[derive(Debug, Default)]
pub(crate) struct Summary {
    /// The connections that sent something, in order of first appearance.
    pub conns: Vec<ConnSummary>,
    /// Interactions in the cassette (for the side's header line).
    pub interactions: usize,
}

/// One connection's interactions, in `seq` order.
#[derive(Debug, Default)]
pub(crate) struct ConnSummary {
    /// Match key ids (shared by both sides through [`Keys`]).
    pub keys: Vec<u32>,
    /// A hash of each interaction's replies: equal hashes mean equal
    /// replies (64 bits: only aligned pairs are ever compared, so a false
    /// match is a 2^-64 chance per pair, not a birthday bound).
    pub replies: Vec<u64>,
    /// Each interaction's ordinal among the file's interactions, to find
    /// it again.
    pub ordinals: Vec<u32>,
}

/// Match keys interned to small ids shared by both sides. The key is held
/// as a 128-bit hash of (database, match key), not as its bytes: a
/// cassette of distinct keys then costs 20 bytes a key here, and two
/// different keys look the same with a chance of about n²/2^129.
#[derive(Default)]
pub(crate) struct Keys {
    ids: HashMap<u128, u32>,
}

impl Keys {
    fn id(&mut self, i: &Interaction, rules: &[IgnoreRule], track_db: bool) -> u32 {
        let key = match_key(&i.cmd, rules);
        let db = if track_db { i.db } else { 0 };
        let next = self.ids.len() as u32;
        *self.ids.entry(hash128(&(db, &*key))).or_insert(next)
    }
}

/// Builds a [`Summary`] from interactions handed over in file order.
pub(crate) struct Summarizer<'k, 'r> {
    keys: &'k mut Keys,
    rules: &'r [IgnoreRule],
    track_db: bool,
    /// Connection id to its index in `conns`.
    index: HashMap<u64, usize>,
    /// Per connection, until [`Summarizer::finish`] sorts them: (seq, key,
    /// replies hash, ordinal).
    conns: Vec<Vec<(u64, u32, u64, u32)>>,
    next: u32,
}

impl<'k, 'r> Summarizer<'k, 'r> {
    /// `track_db`: whether both cassettes record databases (their headers'
    /// `db`); see [`track_db`].
    pub fn new(keys: &'k mut Keys, rules: &'r [IgnoreRule], track_db: bool) -> Self {
        Summarizer {
            keys,
            rules,
            track_db,
            index: HashMap::default(),
            conns: Vec::new(),
            next: 0,
        }
    }

    /// The next interaction of the file.
    pub fn add(&mut self, i: &Interaction) {
        let conns = &mut self.conns;
        let at = *self.index.entry(i.conn).or_insert_with(|| {
            conns.push(Vec::new());
            conns.len() - 1
        });
        let key = self.keys.id(i, self.rules, self.track_db);
        conns[at].push((i.seq, key, hash64(&i.replies), self.next));
        // Past 4 billion interactions ordinals would wrap; no cassette gets
        // there (it would be hundreds of GiB).
        self.next = self.next.wrapping_add(1);
    }

    pub fn finish(self) -> Summary {
        let conns = self
            .conns
            .into_iter()
            .map(|mut items| {
                // File order is completion order; seq is request order.
                // Stable, so equal seqs keep file order.
                items.sort_by_key(|&(seq, ..)| seq);
                ConnSummary {
                    keys: items.iter().map(|&(_, k, _, _)| k).collect(),
                    replies: items.iter().map(|&(_, _, r, _)| r).collect(),
                    ordinals: items.iter().map(|&(_, _, _, o)| o).collect(),
                }
            })
            .collect();
        Summary {
            conns,
            interactions: self.next as usize,
        }
    }
}

/// Databases count only when both cassettes know them: one without `db`
/// in its header predates them.
pub(crate) fn track_db(old: &Header, new: &Header) -> bool {
    old.db.is_some() && new.db.is_some()
}

/// Fixed keys, so both sides hash alike (only within one run: the
/// algorithm may change between Rust versions, and nothing is stored).
/// SipHash, not FxHash: keys and replies are arbitrary bytes, and a weak
/// hash collides on structured ones.
fn hasher(salt: u64) -> impl Hasher {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    h.write_u64(salt);
    h
}

fn hash64<T: Hash + ?Sized>(v: &T) -> u64 {
    let mut h = hasher(1);
    v.hash(&mut h);
    h.finish()
}

/// Two independently salted 64-bit hashes.
fn hash128<T: Hash + ?Sized>(v: &T) -> u128 {
    let (mut a, mut b) = (hasher(2), hasher(3));
    v.hash(&mut a);
    v.hash(&mut b);
    (u128::from(a.finish()) << 64) | u128::from(b.finish())
}
