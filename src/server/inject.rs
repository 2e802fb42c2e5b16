//! Messages injected into live connections from outside: a pub/sub message
//! the recording never had, or a client-side caching invalidation.
//!
//! Each connection gets what Redis would send it, in its own protocol: a
//! RESP2 `message`/`pmessage`/`smessage` array or a RESP3 push, one per
//! subscription that matches, so the count of frames delivered is what
//! `PUBLISH` would return.

use bytes::Bytes;

use crate::command::Namespace;
use crate::resp::Value;

/// The channel Redis sends invalidations on to a RESP2 connection that
/// tracks keys with `CLIENT TRACKING on REDIRECT <id>`.
pub const INVALIDATE_CHANNEL: &[u8] = b"__redis__:invalidate";

/// Something to deliver to every live connection it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Injection {
    /// As from `PUBLISH channel message` (or `SPUBLISH` with `shard`).
    Message {
        /// The channel.
        channel: Bytes,
        /// The payload.
        message: Bytes,
        /// A shard channel (`SSUBSCRIBE`rs get `smessage`), not a plain one.
        shard: bool,
    },
    /// A client-side caching invalidation; `None` flushes every key, as
    /// Redis does after `FLUSHALL`.
    Invalidate {
        /// The keys whose cached values are stale.
        keys: Option<Vec<Bytes>>,
    },
}

/// What a connection is listening to, as its session knows it.
pub struct Listener<'a> {
    /// 2 or 3.
    pub protocol: u8,
    /// Its subscriptions.
    pub subscriptions: &'a [(Namespace, Bytes)],
    /// `CLIENT TRACKING on` in effect (RESP3 gets `invalidate` pushes).
    pub tracking: bool,
}

impl Injection {
    /// The frames `listener` receives, in the order Redis sends them
    /// (channel subscribers before pattern subscribers); empty when it is
    /// not concerned.
    pub fn frames_for(&self, listener: &Listener<'_>) -> Vec<Value> {
        let frame = |items: Vec<Value>| {
            if listener.protocol == 3 {
                Value::Push(items)
            } else {
                Value::Array(items)
            }
        };
        let subscribed = |ns: Namespace, name: &[u8]| {
            listener
                .subscriptions
                .iter()
                .any(|(n, s)| *n == ns && s.as_ref() == name)
        };
        let mut out = Vec::new();
        match self {
            Injection::Message {
                channel,
                message,
                shard: true,
            } => {
                if subscribed(Namespace::Shard, channel) {
                    out.push(frame(vec![
                        Value::bulk("smessage"),
                        Value::Bulk(channel.clone()),
                        Value::Bulk(message.clone()),
                    ]));
                }
            }
            Injection::Message {
                channel,
                message,
                shard: false,
            } => {
                if subscribed(Namespace::Channel, channel) {
                    out.push(frame(vec![
                        Value::bulk("message"),
                        Value::Bulk(channel.clone()),
                        Value::Bulk(message.clone()),
                    ]));
                }
                for (ns, pattern) in listener.subscriptions {
                    if *ns == Namespace::Pattern && redis_glob(pattern, channel) {
                        out.push(frame(vec![
                            Value::bulk("pmessage"),
                            Value::Bulk(pattern.clone()),
                            Value::Bulk(channel.clone()),
                            Value::Bulk(message.clone()),
                        ]));
                    }
                }
            }
            Injection::Invalidate { keys } => {
                let payload = match keys {
                    Some(keys) => Value::Array(keys.iter().cloned().map(Value::Bulk).collect()),
                    None if listener.protocol == 3 => Value::Null,
                    None => Value::NullArray,
                };
                if listener.tracking && listener.protocol == 3 {
                    out.push(Value::Push(vec![Value::bulk("invalidate"), payload]));
                } else if subscribed(Namespace::Channel, INVALIDATE_CHANNEL) {
                    // The RESP2 way: the redirect target is subscribed to
                    // the invalidation channel and gets plain messages.
                    out.push(frame(vec![
                        Value::bulk("message"),
                        Value::bulk(INVALIDATE_CHANNEL),
                        payload,
                    ]));
                }
            }
        }
        out
    }
}

/// Redis's own glob (`stringmatchlen`), as `PSUBSCRIBE` patterns use it:
/// `*`, `?`, `[abc]`, `[^a-z]` and `\` escapes.
pub fn redis_glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    // Where to resume after the last `*`: the pattern after it, and the
    // text position it has swallowed up to.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() {
            match pattern[p] {
                b'*' => {
                    star = Some((p + 1, t));
                    p += 1;
                    continue;
                }
                b'?' => {
                    p += 1;
                    t += 1;
                    continue;
                }
                b'[' => {
                    if let Some((matched, next)) = class_match(pattern, p, text[t]) {
                        if matched {
                            p = next;
                            t += 1;
                            continue;
                        }
                    }
                }
                b'\\' if p + 1 < pattern.len() => {
                    if pattern[p + 1] == text[t] {
                        p += 2;
                        t += 1;
                        continue;
                    }
                }
                c => {
                    if c == text[t] {
                        p += 1;
                        t += 1;
                        continue;
                    }
                }
            }
        }
        match star {
            Some((after, swallowed)) => {
                p = after;
                t = swallowed + 1;
                star = Some((after, swallowed + 1));
            }
            None => return false,
        }
    }
    pattern[p..].iter().all(|&b| b == b'*')
}

/// Matches `c` against the class opening at `pattern[open] == b'['`;
/// returns whether it matched and where the pattern continues, or `None`
/// for a class never closed (Redis then reads it to the end).
fn class_match(pattern: &[u8], open: usize, c: u8) -> Option<(bool, usize)> {
    let mut i = open + 1;
    let negate = pattern.get(i) == Some(&b'^');
    if negate {
        i += 1;
    }
    let mut matched = false;
    loop {
        let b = *pattern.get(i)?;
        if b == b']' {
            return Some((matched != negate, i + 1));
        }
        if b == b'\\' && i + 1 < pattern.len() {
            matched |= pattern[i + 1] == c;
            i += 2;
        } else if pattern.get(i + 1) == Some(&b'-')
            && i + 2 < pattern.len()
            && pattern[i + 2] != b']'
        {
            let (lo, hi) = (b.min(pattern[i + 2]), b.max(pattern[i + 2]));
            matched |= (lo..=hi).contains(&c);
            i += 3;
        } else {
            matched |= b == c;
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_as_redis_reads_them() {
        assert!(redis_glob(b"news.*", b"news.tech"));
        assert!(redis_glob(b"*", b""));
        assert!(redis_glob(b"h?llo", b"hello"));
        assert!(!redis_glob(b"h?llo", b"hllo"));
        assert!(redis_glob(b"h[ae]llo", b"hallo"));
        assert!(!redis_glob(b"h[^e]llo", b"hello"));
        assert!(redis_glob(b"h[a-b]llo", b"hbllo"));
        assert!(redis_glob(b"a\\*b", b"a*b"));
        assert!(!redis_glob(b"a\\*b", b"axb"));
        assert!(redis_glob(b"*.log.*", b"app.log.2"));
        assert!(!redis_glob(b"news.*", b"sports.tech"));
    }

    fn subs(list: &[(Namespace, &'static str)]) -> Vec<(Namespace, Bytes)> {
        list.iter()
            .map(|(ns, s)| (*ns, Bytes::from_static(s.as_bytes())))
            .collect()
    }

    #[test]
    fn a_message_reaches_channel_and_pattern_subscribers_in_their_protocol() {
        let msg = Injection::Message {
            channel: Bytes::from_static(b"news.tech"),
            message: Bytes::from_static(b"hi"),
            shard: false,
        };
        let list = subs(&[
            (Namespace::Channel, "news.tech"),
            (Namespace::Pattern, "news.*"),
            (Namespace::Pattern, "sports.*"),
        ]);
        let resp2 = msg.frames_for(&Listener {
            protocol: 2,
            subscriptions: &list,
            tracking: false,
        });
        assert_eq!(resp2.len(), 2);
        assert!(matches!(&resp2[0], Value::Array(a) if a.len() == 3));
        assert!(matches!(&resp2[1], Value::Array(a) if a.len() == 4));
        let resp3 = msg.frames_for(&Listener {
            protocol: 3,
            subscriptions: &list,
            tracking: false,
        });
        assert!(resp3.iter().all(|v| matches!(v, Value::Push(_))));
        let none = msg.frames_for(&Listener {
            protocol: 2,
            subscriptions: &subs(&[(Namespace::Shard, "news.tech")]),
            tracking: false,
        });
        assert!(none.is_empty());
    }

    #[test]
    fn invalidations_go_to_trackers_and_to_resp2_redirect_targets() {
        let inv = Injection::Invalidate {
            keys: Some(vec![Bytes::from_static(b"user:1")]),
        };
        let pushed = inv.frames_for(&Listener {
            protocol: 3,
            subscriptions: &[],
            tracking: true,
        });
        assert_eq!(pushed.len(), 1);
        let redirected = inv.frames_for(&Listener {
            protocol: 2,
            subscriptions: &subs(&[(Namespace::Channel, "__redis__:invalidate")]),
            tracking: false,
        });
        assert_eq!(redirected.len(), 1);
        let untracked = inv.frames_for(&Listener {
            protocol: 3,
            subscriptions: &[],
            tracking: false,
        });
        assert!(untracked.is_empty());
    }
}
