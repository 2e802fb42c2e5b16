//! Values the server makes up, flowing on into later commands.
//!
//! Where the target answers with a value of its own in place of the
//! recorded one, a later command that sends the recorded value back must
//! send the target's, or every command after the first made-up value would
//! differ. The values and where they flow:
//!
//! - **stream ids** from `XADD` with `*` (or `<ms>-*`): any later argument
//!   equal to the recorded id, whole (`XACK`, `XDEL`, `XCLAIM`, `XRANGE`
//!   bounds); ids are distinctive (`1700000000000-0`), so whole-argument
//!   equality is safe. Recorded replies holding the id (`XRANGE`,
//!   `XREADGROUP`) are compared with the target's id in its place;
//! - **client ids** from `CLIENT ID`: only the argument after `ID` in
//!   `CLIENT KILL`, `CLIENT UNBLOCK`'s id and `CLIENT TRACKING … REDIRECT`,
//!   since a small integer anywhere else is data;
//! - **cursors** from the `SCAN` family: only the cursor argument of the
//!   next call of the same family on the same connection.

use std::collections::HashMap;

use bytes::Bytes;

use super::compare::SCANS;
use crate::command;
use crate::resp::Value;

/// The recorded → live pairs learned so far.
#[derive(Debug, Default)]
pub struct Flow {
    stream_ids: HashMap<Bytes, Bytes>,
    client_ids: HashMap<Bytes, Bytes>,
    /// Per connection: recorded cursor → live cursor.
    cursors: HashMap<(usize, Bytes), Bytes>,
}

/// Where a `SCAN`-family command carries its cursor.
pub fn cursor_index(args: &[Bytes]) -> Option<usize> {
    let name = command::name(args);
    if !SCANS.contains(&name.as_str()) {
        return None;
    }
    // `SCAN cursor`; the others name their key first (`SSCAN key cursor`).
    Some(if name.as_str() == "SCAN" { 1 } else { 2 })
}

/// The values a recorded reply made up that a later command may send back
/// (see the module doc): such a command cannot have been sent before that
/// reply came, so it is never pipelined.
pub fn made_up(args: &[Bytes], replies: &[Value]) -> Vec<Bytes> {
    let Some(reply) = replies.first() else {
        return Vec::new();
    };
    match (command::name(args).as_bytes(), reply) {
        (b"XADD", Value::Bulk(id)) if makes_up_id(args) => vec![id.clone()],
        (b"CLIENT", Value::Integer(id)) if command::arg_is(args, 1, "ID") => {
            vec![Bytes::from(id.to_string())]
        }
        _ if cursor_index(args).is_some() => cursor_of(Some(reply))
            .filter(|c| *c != b"0")
            .map(|c| vec![Bytes::copy_from_slice(c)])
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// Whether `args` may send back one of `values`: any argument equal to
/// one. Wider than what [`Flow::to_live`] maps (a `5` in `SET k 5` equals a
/// recorded client id), which costs a pipelined command a round trip and
/// never a wrong order.
pub fn sends_back(args: &[Bytes], values: &std::collections::HashSet<Bytes>) -> bool {
    !values.is_empty() && args.iter().skip(1).any(|a| values.contains(a))
}

/// The cursor of a `SCAN`-family reply (`[cursor, [items…]]`).
pub fn cursor_of(reply: Option<&Value>) -> Option<&[u8]> {
    reply?.elements()?.first()?.as_bytes()
}

/// Whether the command is an `XADD` whose id the server makes up (`*`, or
/// `<ms>-*`): its own reply is compared unmapped.
pub fn makes_up_id(args: &[Bytes]) -> bool {
    command::name(args).as_bytes() == b"XADD" && args.iter().skip(2).any(|a| a.ends_with(b"*"))
}

fn id_args(args: &[Bytes]) -> Vec<usize> {
    let name = command::name(args);
    if name.as_bytes() != b"CLIENT" {
        return Vec::new();
    }
    if command::arg_is(args, 1, "UNBLOCK") {
        return vec![2];
    }
    let after = |word: &str| -> Vec<usize> {
        (2..args.len().saturating_sub(1))
            .filter(|&i| command::arg_is(args, i, word))
            .map(|i| i + 1)
            .collect()
    };
    if command::arg_is(args, 1, "KILL") {
        return after("ID");
    }
    if command::arg_is(args, 1, "TRACKING") {
        return after("REDIRECT");
    }
    Vec::new()
}

impl Flow {
    /// `recorded` as it must be sent to the target on connection `conn`.
    pub fn to_live(&self, conn: usize, recorded: &[Bytes]) -> Vec<Bytes> {
        let mut args = recorded.to_vec();
        if !self.stream_ids.is_empty() {
            for arg in args.iter_mut().skip(1) {
                if let Some(live) = self.stream_ids.get(arg) {
                    *arg = live.clone();
                }
            }
        }
        for i in id_args(recorded) {
            if let Some(live) = self.client_ids.get(&recorded[i]) {
                args[i] = live.clone();
            }
        }
        if let Some(i) = cursor_index(recorded).filter(|&i| i < recorded.len()) {
            if let Some(live) = self.cursors.get(&(conn, recorded[i].clone())) {
                args[i] = live.clone();
            }
        }
        args
    }

    /// Whether `recorded` continues an iteration the target already ended
    /// (its cursor came back `0` where the recording's did not): sending
    /// it would start the iteration over.
    pub fn iteration_ended(&self, conn: usize, recorded: &[Bytes]) -> bool {
        cursor_index(recorded)
            .and_then(|i| recorded.get(i))
            .filter(|c| &c[..] != b"0")
            .and_then(|c| self.cursors.get(&(conn, c.clone())))
            .is_some_and(|live| &live[..] == b"0")
    }

    /// Learns from one answered command what the target made up in place
    /// of the recording's values.
    pub fn learn(&mut self, conn: usize, args: &[Bytes], recorded: &[Value], live: &[Value]) {
        let (Some(r), Some(l)) = (recorded.first(), live.first()) else {
            return;
        };
        match command::name(args).as_bytes() {
            b"XADD" => {
                if let (true, Value::Bulk(r), Value::Bulk(l)) = (makes_up_id(args), r, l) {
                    if r != l {
                        self.stream_ids.insert(r.clone(), l.clone());
                    }
                }
            }
            b"CLIENT" if command::arg_is(args, 1, "ID") => {
                if let (Value::Integer(r), Value::Integer(l)) = (r, l) {
                    self.client_ids
                        .insert(Bytes::from(r.to_string()), Bytes::from(l.to_string()));
                }
            }
            _ if cursor_index(args).is_some() => {
                if let (Some(r), Some(l)) = (cursor_of(Some(r)), cursor_of(Some(l))) {
                    if r != b"0" {
                        self.cursors
                            .insert((conn, Bytes::copy_from_slice(r)), Bytes::copy_from_slice(l));
                    }
                }
            }
            _ => {}
        }
    }

    /// A recorded reply with the made-up stream ids replaced by the
    /// target's, to compare with the target's reply.
    pub fn reply_to_live(&self, value: &Value) -> Value {
        if self.stream_ids.is_empty() {
            return value.clone();
        }
        let map = |v: &Value| self.reply_to_live(v);
        match value {
            Value::Bulk(b) => {
                Value::Bulk(self.stream_ids.get(b).cloned().unwrap_or_else(|| b.clone()))
            }
            Value::Array(items) => Value::Array(items.iter().map(map).collect()),
            Value::Set(items) => Value::Set(items.iter().map(map).collect()),
            Value::Push(items) => Value::Push(items.iter().map(map).collect()),
            Value::Map(pairs) => Value::Map(pairs.iter().map(|(k, v)| (map(k), map(v))).collect()),
            other => other.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<Bytes> {
        command::args_of(words)
    }

    fn bulk(s: &str) -> Value {
        Value::Bulk(Bytes::copy_from_slice(s.as_bytes()))
    }

    #[test]
    fn a_stream_id_flows_into_later_commands_and_replies() {
        let mut flow = Flow::default();
        flow.learn(
            0,
            &args(&["XADD", "s", "*", "f", "v"]),
            &[bulk("1-0")],
            &[bulk("9-0")],
        );
        assert_eq!(
            flow.to_live(0, &args(&["XDEL", "s", "1-0"])),
            args(&["XDEL", "s", "9-0"])
        );
        assert_eq!(
            flow.reply_to_live(&Value::Array(vec![bulk("1-0")])),
            Value::Array(vec![bulk("9-0")])
        );
        // An explicit id is the client's, not made up.
        flow.learn(
            0,
            &args(&["XADD", "s", "5-0", "f", "v"]),
            &[bulk("5-0")],
            &[bulk("6-0")],
        );
        assert_eq!(
            flow.to_live(0, &args(&["XDEL", "s", "5-0"])),
            args(&["XDEL", "s", "5-0"])
        );
    }

    #[test]
    fn a_client_id_flows_only_where_an_id_is_expected() {
        let mut flow = Flow::default();
        flow.learn(
            0,
            &args(&["CLIENT", "ID"]),
            &[Value::Integer(5)],
            &[Value::Integer(12)],
        );
        assert_eq!(
            flow.to_live(1, &args(&["CLIENT", "KILL", "ID", "5"])),
            args(&["CLIENT", "KILL", "ID", "12"])
        );
        assert_eq!(
            flow.to_live(1, &args(&["SET", "k", "5"])),
            args(&["SET", "k", "5"])
        );
    }

    #[test]
    fn a_cursor_flows_into_the_next_call_on_its_connection() {
        let mut flow = Flow::default();
        let reply = |c: &str| Value::Array(vec![bulk(c), Value::Array(vec![])]);
        flow.learn(3, &args(&["SCAN", "0"]), &[reply("17")], &[reply("40")]);
        assert_eq!(
            flow.to_live(3, &args(&["SCAN", "17"])),
            args(&["SCAN", "40"])
        );
        assert_eq!(
            flow.to_live(4, &args(&["SCAN", "17"])),
            args(&["SCAN", "17"])
        );
    }
}
