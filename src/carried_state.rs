//! The connection state a client expects to keep when a running resplay
//! switches mode under it: protocol, database and subscriptions. Pairing
//! tracks it, the hand-over carries it, and the next mode restores it.

use bytes::Bytes;

use crate::command::Namespace;

/// The connection state a client expects to keep across a switch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CarriedState {
    /// 2 or 3 (`HELLO`).
    pub protocol: u8,
    /// The selected database (`SELECT`).
    pub db: u32,
    /// Channels, patterns and shard channels subscribed to.
    pub subscriptions: Vec<(Namespace, Bytes)>,
}

impl CarriedState {
    /// The commands that subscribe a fresh connection to what this one
    /// was subscribed to: one `SUBSCRIBE`, `PSUBSCRIBE` or `SSUBSCRIBE` per
    /// namespace in use, each naming all its channels.
    pub fn subscribe_commands(&self) -> Vec<Vec<Bytes>> {
        [
            (Namespace::Channel, "SUBSCRIBE"),
            (Namespace::Pattern, "PSUBSCRIBE"),
            (Namespace::Shard, "SSUBSCRIBE"),
        ]
        .into_iter()
        .filter_map(|(ns, verb)| {
            let mut args = vec![Bytes::from_static(verb.as_bytes())];
            args.extend(
                self.subscriptions
                    .iter()
                    .filter(|(n, _)| *n == ns)
                    .map(|(_, s)| s.clone()),
            );
            (args.len() > 1).then_some(args)
        })
        .collect()
    }
}
