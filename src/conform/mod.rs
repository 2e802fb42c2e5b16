//! `resplay conform`: a cassette's client side driven against another
//! server, and its replies compared with the recorded ones in Redis terms.
//!
//! The question it answers is the one every migration asks (Redis 7 to 8,
//! Redis to Valkey, self-hosted to managed): does this application's
//! traffic get the same answers there? [`plan`] decides what is sent and
//! when (the recorded order across connections), [`drive`] sends it,
//! [`flow`] carries values the target makes up (stream ids, client ids,
//! cursors) into later commands, [`compare`] judges each reply (noise is
//! not a difference: the rules come from Redis's command metadata), and
//! [`report`] says what differed. [`load`] plays the same cassette as a
//! load test instead. See docs/conform.md.

pub mod cluster;
pub mod compare;
pub mod drive;
pub mod flow;
pub mod load;
pub mod plan;
pub mod report;

use std::collections::HashMap;

use bytes::Bytes;

use crate::cassette::Cassette;
use crate::command::spec::ReplyTime;
use crate::command::Class;
use crate::pattern::CommandPattern;
use crate::replay::clock;
use crate::replay::display::display_command;
use crate::resp::Value;
use crate::upstream::{self, Upstream, UpstreamError};
use compare::{ScanUnion, Verdict};
use drive::{Answer, DriveError};
use plan::Plan;
use report::{group_name, shown, Difference, Report};

/// How a conform run is made.
#[derive(Debug, Clone)]
pub struct ConformConfig {
    /// The server to drive (its URL's credentials stand in for redacted
    /// passwords).
    pub target: Upstream,
    /// Run `FLUSHALL` on the target first.
    pub flush: bool,
    /// Run against a target that holds data (or is the recorded upstream).
    pub allow_nonempty: bool,
    /// Send commands that change the server itself (`CONFIG SET`,
    /// `SHUTDOWN`…) and `MONITOR`/`SYNC`.
    pub send_unsafe: bool,
    /// Comparison options.
    pub options: compare::Options,
    /// Commands whose replies are volatile by the user's word: counted as
    /// not comparable (`--volatile RULE`).
    pub volatile: Vec<CommandPattern>,
    /// Examples listed per kind of difference.
    pub examples: usize,
    /// The recorded pacing divided by this; `None`: as fast as the order
    /// allows (`--speed`).
    pub speed: Option<f64>,
    /// The target is a cluster, the cassette a cluster recording
    /// (`--cluster`): each connection talks to the node serving the slots
    /// its recorded node served.
    pub cluster: bool,
}

/// Why a conform run could not be made (exit status 2).
#[derive(Debug, thiserror::Error)]
pub enum ConformError {
    /// A safety rule refused the target.
    #[error("{0}")]
    Refused(String),
    /// The target could not be reached.
    #[error(transparent)]
    Drive(#[from] DriveError),
    /// The target could not be reached for the safety check.
    #[error("cannot connect to the target: {0}")]
    Connect(#[from] UpstreamError),
    /// The target failed the safety check's commands.
    #[error("the target did not answer {command}: {reason}")]
    Target {
        /// What was asked.
        command: &'static str,
        /// What went wrong.
        reason: String,
    },
}

/// Drives `cassette` against the configured target; the report, or why no
/// run could be made. Writes to the target: it refuses one that holds
/// data unless told (see docs/conform.md, "Safety").
pub async fn conform(cassette: &Cassette, config: &ConformConfig) -> Result<Report, ConformError> {
    let nodes = nodes(cassette, config).await?;
    check_target(cassette, config, nodes.as_ref()).await?;
    let plan = Plan::new(cassette, config.send_unsafe);
    let run = drive::drive(&plan, &config.target, nodes.as_ref(), config.speed).await?;
    let created_ms = clock::created_ms(&cassette.header.created);
    Ok(judge(&plan, run, config, created_ms, nodes.as_ref()))
}

/// A cluster cassette against a cluster target: its nodes matched to the
/// target's; either without the other is refused.
pub(crate) async fn nodes(
    cassette: &Cassette,
    config: &ConformConfig,
) -> Result<Option<cluster::NodeMap>, ConformError> {
    match (&cassette.header.cluster, config.cluster) {
        (Some(recorded), true) => {
            let seed = cassette.header.upstream.as_deref();
            Ok(Some(cluster::NodeMap::discover(recorded, seed, &config.target).await?))
        }
        (Some(_), false) => Err(ConformError::Refused(
            "this is a cluster cassette: pass --cluster, with a node of the target cluster as --target".into(),
        )),
        (None, true) => Err(ConformError::Refused(
            "--cluster needs a cluster cassette (recorded with record --cluster)".into(),
        )),
        (None, false) => Ok(None),
    }
}

/// The safety rules: `conform` writes, so it refuses a target that holds
/// data, or that is the cassette's own recorded upstream, unless told
/// (`--allow-nonempty`), and runs `FLUSHALL` first when told (`--flush`).
pub(crate) async fn check_target(
    cassette: &Cassette,
    config: &ConformConfig,
    nodes: Option<&cluster::NodeMap>,
) -> Result<(), ConformError> {
    let recorded = cassette.header.upstream.as_deref();
    let told = config.flush || config.allow_nonempty;
    if recorded == Some(config.target.addr.as_str()) && !told {
        return Err(ConformError::Refused(format!(
            "{} is the server this cassette was recorded from: conform writes to it; pass --flush (FLUSHALL first) or --allow-nonempty",
            config.target.addr
        )));
    }
    // A cluster's data lives on its primaries: each is checked (or flushed).
    let servers = match nodes {
        Some(nodes) => nodes.primaries.clone(),
        None => vec![config.target.clone()],
    };
    for server in &servers {
        check_server(server, config).await?;
    }
    Ok(())
}

/// [`check_target`] for one server.
async fn check_server(server: &Upstream, config: &ConformConfig) -> Result<(), ConformError> {
    let mut stream = server.connect().await?;
    let ask = |e: std::io::Error, command| ConformError::Target {
        command,
        reason: e.to_string(),
    };
    if config.flush {
        let reply = upstream::ask(&mut stream, &["FLUSHALL"])
            .await
            .map_err(|e| ask(e, "FLUSHALL"))?;
        if reply.is_error() {
            return Err(ConformError::Target {
                command: "FLUSHALL",
                reason: format!("{reply:?}"),
            });
        }
        return Ok(());
    }
    let info = upstream::ask(&mut stream, &["INFO", "keyspace"])
        .await
        .map_err(|e| ask(e, "INFO keyspace"))?;
    let text = info
        .as_bytes()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default();
    let holds_data = text.lines().any(|l| l.starts_with("db"));
    if holds_data && !config.allow_nonempty {
        return Err(ConformError::Refused(format!(
            "{} holds data ({}): conform writes to it; pass --flush (FLUSHALL first) or --allow-nonempty",
            server.addr,
            text.lines()
                .filter(|l| l.starts_with("db"))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(())
}

/// Follows `MULTI`/`EXEC` on a recorded connection: for an `EXEC`, the
/// commands its transaction queued.
fn follow_transaction<'a>(
    queued: &mut HashMap<usize, Vec<&'a [Bytes]>>,
    item: &'a plan::Item,
    class: Class,
) -> Option<Vec<&'a [Bytes]>> {
    match class.name() {
        "MULTI" => {
            let ok = matches!(item.replies.first(), Some(Value::Simple(s)) if &s[..] == b"OK");
            if ok {
                queued.insert(item.conn, Vec::new());
            }
            None
        }
        "EXEC" => queued.remove(&item.conn),
        "DISCARD" | "RESET" => {
            queued.remove(&item.conn);
            None
        }
        _ => {
            if let Some(list) = queued.get_mut(&item.conn) {
                list.push(&item.cmd);
            }
            None
        }
    }
}

/// Recorded absolute-time replies (`EXPIRETIME`, `PEXPIRETIME`, the hash
/// field ones) moved by `offset_ms`; `None` for other commands.
fn shifted(class: Class, replies: &[Value], offset_ms: i64) -> Option<Vec<Value>> {
    let per_unit = match class.reply_time()? {
        ReplyTime::Seconds => 1000,
        ReplyTime::Millis => 1,
        ReplyTime::Clock => return None,
    };
    fn shift(v: &Value, by: i64) -> Value {
        match v {
            Value::Integer(t) if *t > 0 => Value::Integer(t + by),
            Value::Array(items) => Value::Array(items.iter().map(|i| shift(i, by)).collect()),
            other => other.clone(),
        }
    }
    let by = offset_ms / per_unit;
    Some(replies.iter().map(|r| shift(r, by)).collect())
}

/// A `SCAN`-family call's iteration: its connection and the command
/// without its cursor (`None` for other commands).
fn scan_key(item: &plan::Item) -> Option<(usize, Vec<Bytes>)> {
    let cursor = flow::cursor_index(&item.cmd).filter(|&c| c < item.cmd.len())?;
    let mut key = item.cmd.clone();
    key.remove(cursor);
    Some((item.conn, key))
}

/// Compares what the target answered with the recording.
fn judge(
    plan: &Plan,
    run: drive::Run,
    config: &ConformConfig,
    created_ms: Option<i64>,
    nodes: Option<&cluster::NodeMap>,
) -> Report {
    let mut report = Report {
        target: upstream::mask_password(&config.target.addr),
        examples: config.examples,
        forced: run.forced,
        ..Report::default()
    };
    // SCAN-family iterations per connection, keyed by the command without
    // its cursor.
    let mut scans: HashMap<(usize, Vec<Bytes>), ScanUnion> = HashMap::new();
    // Per connection: the commands an open `MULTI` queued, so that `EXEC`'s
    // reply is compared command by command, each by its own rules.
    let mut queued: HashMap<usize, Vec<&[Bytes]>> = HashMap::new();
    for (i, item) in plan.items.iter().enumerate() {
        let class = Class::of(&item.cmd);
        let name = group_name(&item.cmd, class.is_container());
        let conn = plan.conns[item.conn].recorded;
        // The target's made-up values in place of the recorded ones, save
        // in the reply that made one up: that one is compared as recorded.
        let recorded: Vec<Value> = if flow::makes_up_id(&item.cmd) {
            item.replies.clone()
        } else {
            item.replies
                .iter()
                .map(|r| run.flow.reply_to_live(r))
                .collect()
        };
        // The recorded cluster's node names as the target's.
        let recorded: Vec<Value> = match nodes {
            Some(nodes) => recorded.iter().map(|r| nodes.rename(r)).collect(),
            None => recorded,
        };
        let difference = |reason: String, live: String| Difference {
            name: name.clone(),
            command: display_command(&item.cmd),
            conn,
            seq: item.seq,
            reason,
            recorded: shown(&item.replies),
            live,
        };
        match &run.answers[i] {
            Answer::Skipped(reason) => {
                report.note_skipped(&name, &display_command(&item.cmd), reason)
            }
            Answer::NotRun(reason) => report.note_unanswered(
                &name,
                difference(format!("not run: {reason}"), String::new()),
            ),
            Answer::IterationEnded => {
                // The recording's call still counts toward its union.
                let key = scan_key(item);
                let mut verdict = Verdict::NotComparable("scan cursor");
                if let Some(union) = key.as_ref().and_then(|k| scans.get_mut(k)) {
                    if let Some(r) = recorded.first() {
                        union.add(r, None);
                        if ScanUnion::is_end(r) {
                            verdict = union.verdict();
                            if let Some(k) = &key {
                                scans.remove(k);
                            }
                        }
                    }
                }
                let reason = match &verdict {
                    Verdict::Different(reason) => reason.clone(),
                    _ => String::new(),
                };
                report.note(&name, &verdict, || {
                    difference(
                        reason,
                        "(not sent: the target's iteration had ended)".into(),
                    )
                });
            }
            Answer::NoReply => report.note_unanswered(
                &name,
                difference("no reply (still waiting, given up)".into(), String::new()),
            ),
            Answer::Replied {
                replies, sent_ms, ..
            } => {
                let transaction = follow_transaction(&mut queued, item, class);
                let mut verdict = match (&transaction, recorded.first(), replies.first()) {
                    (Some(commands), Some(r), Some(l)) => {
                        compare::compare_exec(commands, r, l, &config.options)
                    }
                    _ => compare::compare(class, &item.cmd, &recorded, replies, &config.options),
                };
                // Absolute times (`EXPIRETIME`) set from the run's clock
                // moved with it: the recorded ones, moved by the time since
                // the recording, may match where the recorded do not.
                if let (true, Some(created)) = (verdict.is_different(), created_ms) {
                    let offset = sent_ms - (created + item.at_ms as i64);
                    if let Some(moved) = shifted(class, &recorded, offset) {
                        let again =
                            compare::compare(class, &item.cmd, &moved, replies, &config.options);
                        if !again.is_different() {
                            verdict = again;
                        }
                    }
                }
                if let Some(key) = scan_key(item) {
                    let union = scans
                        .entry(key.clone())
                        .or_insert_with(|| ScanUnion::new(&item.cmd));
                    if let (Some(r), Some(l)) = (recorded.first(), replies.first()) {
                        union.add(r, Some(l));
                        // Calls that finished the target's iteration.
                        for more in &replies[1..] {
                            union.add_live(more);
                        }
                        if ScanUnion::is_end(r) {
                            verdict = union.verdict();
                            scans.remove(&key);
                        }
                    }
                }
                if !matches!(verdict, Verdict::Same)
                    && config.volatile.iter().any(|p| p.matches(&item.cmd))
                {
                    verdict = Verdict::NotComparable("volatile by rule");
                }
                let reason = match &verdict {
                    Verdict::Different(reason) => reason.clone(),
                    _ => String::new(),
                };
                report.note(&name, &verdict, || difference(reason, shown(replies)));
            }
        }
    }
    for (c, conn) in plan.conns.iter().enumerate() {
        let recorded: Vec<Value> = conn
            .pushes
            .iter()
            .map(|p| run.flow.reply_to_live(p))
            .collect();
        let live = &run.pushes[c];
        if recorded != *live {
            let first = recorded
                .iter()
                .zip(live)
                .position(|(r, l)| r != l)
                .unwrap_or(recorded.len().min(live.len()));
            report.differences.push(Difference {
                name: "(pushes)".into(),
                command: format!("pushes to the connection, from #{first}"),
                conn: conn.recorded,
                seq: first as u64,
                reason: format!(
                    "pushes differ: {} recorded, {} from the target",
                    recorded.len(),
                    live.len()
                ),
                recorded: shown(recorded.get(first..).unwrap_or_default()),
                live: shown(live.get(first..).unwrap_or_default()),
            });
        }
        if run.closed_by_target[c] && !conn.closed_by_server {
            report.closed_by_target += 1;
        }
    }
    report
}
