//! Who holds each recorded connection: the live connection bound to it,
//! and whether it is retired (its live connection closed).
//!
//! The binding is kept twice, behind one set of writers so the two cannot
//! drift: by recorded connection id, for the binding's own questions, and
//! (with retirement) densely by the index
//! [`Queues`](super::queues::Queues) interns recorded connections under,
//! for the scans that look at every recorded connection of a key
//! (`Matcher::choose` and the token ranking). Those run for nearly every
//! command while connections still bind; the two hash lookups they made
//! per recorded connection cost about 220 instructions per command at P16
//! (callgrind, 50 recorded connections), where an index into a vector is
//! one load.

use rustc_hash::FxHashMap;

/// A recorded connection's holder, as the scans read it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Owner {
    /// The live connection bound to it.
    pub live: Option<u64>,
    /// Its live connection closed: what it has left is a dead client's.
    pub retired: bool,
}

#[derive(Debug, Default)]
pub struct Owners {
    /// recorded connection → live connection bound to it.
    bound: FxHashMap<u64, u64>,
    /// The binding and whether it is retired, by interned index. Only the
    /// scans ask whether a connection is retired, and they see only
    /// interned ones (those with a recording), so retirement is kept here
    /// alone; a connection without a recording is found by id only.
    by_index: Vec<Owner>,
}

impl Owners {
    /// Room for `conns` interned recorded connections, none held.
    pub fn with_conns(conns: usize) -> Owners {
        Owners {
            by_index: vec![Owner::default(); conns],
            ..Owners::default()
        }
    }

    /// The live connection bound to recorded connection `conn`.
    pub fn live_of(&self, conn: u64) -> Option<u64> {
        self.bound.get(&conn).copied()
    }

    /// Whether a live connection is bound to `conn`.
    pub fn is_bound(&self, conn: u64) -> bool {
        self.bound.contains_key(&conn)
    }

    /// The holder of the recorded connection interned as `index`.
    pub fn at(&self, index: usize) -> Owner {
        self.by_index.get(index).copied().unwrap_or_default()
    }

    /// Binds `conn` (interned as `index`, if it is) to live connection
    /// `live`.
    pub fn bind(&mut self, conn: u64, index: Option<usize>, live: u64) {
        self.bound.insert(conn, live);
        if let Some(owner) = index.and_then(|i| self.by_index.get_mut(i)) {
            owner.live = Some(live);
        }
    }

    /// Leaves `conn` unbound.
    pub fn unbind(&mut self, conn: u64, index: Option<usize>) {
        self.bound.remove(&conn);
        if let Some(owner) = index.and_then(|i| self.by_index.get_mut(i)) {
            owner.live = None;
        }
    }

    /// Unbinds `conn` for good: its live connection closed.
    pub fn retire(&mut self, conn: u64, index: Option<usize>) {
        self.unbind(conn, index);
        if let Some(owner) = index.and_then(|i| self.by_index.get_mut(i)) {
            owner.retired = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both views say the same after every change, and retirement sticks.
    #[test]
    fn both_views_agree() {
        let mut owners = Owners::with_conns(3);
        let agree = |o: &Owners, conn: u64, index: usize| {
            let owner = o.at(index);
            assert_eq!(owner.live, o.live_of(conn));
            assert_eq!(owner.live.is_some(), o.is_bound(conn));
        };
        owners.bind(10, Some(0), 7);
        agree(&owners, 10, 0);
        owners.bind(11, Some(1), 8);
        owners.unbind(10, Some(0));
        agree(&owners, 10, 0);
        agree(&owners, 11, 1);
        owners.retire(11, Some(1));
        agree(&owners, 11, 1);
        assert_eq!(
            owners.at(1),
            Owner {
                live: None,
                retired: true
            }
        );
        // Not interned: known by id only; an index past the end is nobody's.
        owners.bind(99, None, 3);
        assert_eq!(owners.live_of(99), Some(3));
        assert_eq!(owners.at(5), Owner::default());
    }
}
