//! The cluster's topology, answered on any node in replay.
//!
//! A cluster client asks whichever node it likes for the topology, and not
//! always the one it asked while recording: ioredis refreshes its slot
//! table every few seconds from a node picked at random, and redis-py asks
//! again after a redirection. `CLUSTER SLOTS` and `CLUSTER SHARDS` read the
//! same on every node, so a node with no recording of one answers with the
//! latest recorded on any node; `CLUSTER NODES` too, its `myself` flag moved
//! to the node answering. Recordings on the node itself come first, as
//! always.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;

use super::rewrite::{map_node_lines, topology_command, TopologyCommand};
use crate::resp::Value;

/// The latest successful reply to each topology command, from any node,
/// with resplay's addresses in it.
#[derive(Debug, Default)]
pub struct TopologyAnswers {
    by_command: HashMap<Vec<Bytes>, Value>,
}

impl TopologyAnswers {
    /// Notes a recorded interaction (its replies already rewritten).
    pub fn note(&mut self, cmd: &[Bytes], replies: &[Value]) {
        if topology_command(cmd).is_none() {
            return;
        }
        if let [reply] = replies {
            if !reply.is_error() {
                self.by_command.insert(key(cmd), reply.clone());
            }
        }
    }
}

/// The command with its name and subcommand in one case, as Redis reads
/// them (`cluster slots` is `CLUSTER SLOTS`); other arguments (a node id)
/// as sent.
fn key(cmd: &[Bytes]) -> Vec<Bytes> {
    cmd.iter()
        .enumerate()
        .map(|(i, a)| {
            if i < 2 {
                Bytes::from(a.to_ascii_uppercase())
            } else {
                a.clone()
            }
        })
        .collect()
}

/// One node's view of the recorded topology: what it answers when it has
/// no recording of a topology command.
#[derive(Debug, Clone)]
pub struct NodeTopology {
    /// The node's listener (its line in `CLUSTER NODES` is `myself`).
    pub local: SocketAddr,
    /// Every node's recorded answers.
    pub answers: Arc<TopologyAnswers>,
}

impl NodeTopology {
    /// The reply to `args` as this node gives it, if `args` is a topology
    /// command some node recorded.
    pub fn answer(&self, args: &[Bytes]) -> Option<Value> {
        let kind = topology_command(args)?;
        let reply = self.answers.by_command.get(&key(args))?;
        if kind != TopologyCommand::Nodes {
            return Some(reply.clone());
        }
        let mut reply = reply.clone();
        let mine = format!("{}@", self.local);
        map_node_lines(&mut reply, |line| as_seen_by(line, &mine));
        Some(reply)
    }
}

/// A `CLUSTER NODES` line with `myself` among its flags only when it is
/// the line of the node at `mine` (`ip:port@`).
fn as_seen_by(line: &str, mine: &str) -> Option<String> {
    let mut fields: Vec<&str> = line.splitn(4, ' ').collect();
    if fields.len() < 4 {
        return None;
    }
    let others = fields[2].split(',').filter(|f| *f != "myself");
    let flags: Vec<&str> = if fields[1].starts_with(mine) {
        std::iter::once("myself").chain(others).collect()
    } else {
        others.collect()
    };
    let flags = flags.join(",");
    fields[2] = &flags;
    Some(fields.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(text: &str) -> Vec<Bytes> {
        text.split(' ')
            .map(|a| Bytes::from(a.to_string()))
            .collect()
    }

    #[test]
    fn any_node_answers_with_myself_moved() {
        let mut answers = TopologyAnswers::default();
        let nodes = "a 127.0.0.1:9000@17000 myself,master - 0 0 1 connected 0-8000\n\
                     b 127.0.0.1:9001@17001 master - 0 0 1 connected 8001-16383\n";
        answers.note(&args("cluster nodes"), &[Value::Bulk(Bytes::from(nodes))]);
        answers.note(&args("CLUSTER SLOTS"), &[Value::Integer(7)]);
        answers.note(
            &args("CLUSTER SHARDS"),
            &[Value::Error(Bytes::from("ERR x"))],
        );
        answers.note(&args("GET k"), &[Value::Integer(1)]);
        let b = NodeTopology {
            local: "127.0.0.1:9001".parse().unwrap(),
            answers: Arc::new(answers),
        };
        assert_eq!(
            b.answer(&args("CLUSTER NODES")),
            Some(Value::Bulk(Bytes::from(
                "a 127.0.0.1:9000@17000 master - 0 0 1 connected 0-8000\n\
                 b 127.0.0.1:9001@17001 myself,master - 0 0 1 connected 8001-16383\n"
            )))
        );
        assert_eq!(b.answer(&args("cluster slots")), Some(Value::Integer(7)));
        // Errors and other commands are not kept.
        assert_eq!(b.answer(&args("CLUSTER SHARDS")), None);
        assert_eq!(b.answer(&args("GET k")), None);
    }
}
