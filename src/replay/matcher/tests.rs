//! The matcher's unit tests: matching, binding and its moves, pushes,
//! databases, handshake recordings.

use super::*;
use crate::cassette::{Header, Interaction, PushEvent};

fn args(s: &str) -> Vec<Bytes> {
    crate::command::args_of(&s.split(' ').collect::<Vec<_>>())
}

fn interaction(conn: u64, seq: u64, cmd: &str, reply: i64) -> Event {
    Event::Interaction(Interaction {
        conn,
        db: 0,
        seq,
        at_ms: seq,
        took_us: 10,
        cmd: args(cmd),
        replies: vec![Value::Integer(reply)],
    })
}

/// A `message` push on `channel`.
fn message(channel: &'static str, text: &'static str) -> Value {
    Value::Push(vec![
        Value::bulk("message"),
        Value::bulk(channel),
        Value::bulk(text),
    ])
}

fn matcher(events: Vec<Event>, repeat: bool) -> Matcher {
    let cassette = Cassette {
        header: Header::new(None),
        events,
        warnings: Vec::new(),
    };
    Matcher::new(cassette, Vec::new(), repeat)
}

/// The integer a hit replies (these tests record integers), or `None`.
pub(crate) fn hit_integer(m: &Matcher, found: Matched) -> Option<i64> {
    match found {
        Matched::Hit { recording, .. } => match m.replies(recording)[0] {
            Value::Integer(n) => Some(n),
            _ => None,
        },
        Matched::Miss { .. } => None,
    }
}

fn reply(m: &mut Matcher, live: u64, cmd: &str) -> Option<i64> {
    reply_in(m, live, 0, cmd)
}

#[test]
fn nth_identical_gets_nth_reply_then_repeats() {
    let mut m = matcher(
        vec![
            interaction(1, 0, "INCR n", 1),
            interaction(1, 1, "INCR n", 2),
        ],
        true,
    );
    m.connect(10);
    assert_eq!(reply(&mut m, 10, "incr n"), Some(1));
    assert_eq!(reply(&mut m, 10, "INCR n"), Some(2));
    assert_eq!(reply(&mut m, 10, "INCR n"), Some(2));
    assert_eq!(m.counters().repeated, 1);
    assert_eq!(m.unused().0, 0);
}

#[test]
fn no_repeat_misses() {
    let mut m = matcher(vec![interaction(1, 0, "INCR n", 1)], false);
    m.connect(10);
    assert_eq!(reply(&mut m, 10, "INCR n"), Some(1));
    assert_eq!(reply(&mut m, 10, "INCR n"), None);
}

#[test]
fn live_connections_bind_to_recorded_ones() {
    // Two recorded connections each read their own counter value.
    let mut m = matcher(
        vec![
            interaction(1, 0, "HELLO-A x", 0),
            interaction(2, 0, "HELLO-B x", 0),
            interaction(1, 1, "GET n", 1),
            interaction(2, 1, "GET n", 2),
        ],
        true,
    );
    m.connect(20);
    m.connect(10);
    // Replayed in the other order: live 20 is connection 2.
    assert_eq!(reply(&mut m, 20, "HELLO-B x"), Some(0));
    assert_eq!(reply(&mut m, 20, "GET n"), Some(2));
    assert_eq!(reply(&mut m, 10, "HELLO-A x"), Some(0));
    assert_eq!(reply(&mut m, 10, "GET n"), Some(1));
}

#[test]
fn miss_names_the_closest() {
    let mut m = matcher(
        vec![
            interaction(1, 0, "GET user:8", 1),
            interaction(1, 1, "SET a b", 1),
        ],
        true,
    );
    m.connect(1);
    match m.find(1, 0, &args("GET user:7")) {
        Matched::Miss { closest } => {
            assert_eq!(
                closest.map(|c| c.to_string()).as_deref(),
                Some("'GET user:8'")
            )
        }
        other => panic!("{other:?}"),
    }
    let from = MissFrom {
        live: 1,
        bound_to: None,
        db: 0,
        at_ms: 5,
    };
    let closest = match m.find(1, 0, &args("GET user:7")) {
        Matched::Miss { closest } => closest.unwrap(),
        other => panic!("{other:?}"),
    };
    m.note_miss(&args("GET user:7"), from, Ok(&closest));
    let (answers, repeats, misses) = m.outcomes();
    assert_eq!((answers, repeats), (vec![0, 0], vec![0, 0]));
    assert_eq!(misses.len(), 1);
    assert_eq!(misses[0].closest.as_deref(), Some("GET user:8"));
    assert_eq!(misses[0].closest_recording, Some(0));
    assert_eq!(
        misses[0].why,
        r#"argument 1 differs: "user:8" recorded, "user:7" sent"#
    );
    assert_eq!(m.counters().first_misses, ["GET user:7"]);
    assert_eq!(
        m.unused(),
        (2, vec!["GET user:8".into(), "SET a b".into()], 2)
    );
}

#[test]
fn pushes_go_to_subscribers() {
    let push = message("news", "hi");
    let mut m = matcher(
        vec![
            interaction(2, 0, "PUBLISH news hi", 1),
            Event::Push(PushEvent {
                conn: 1,
                at_ms: 5,
                push,
            }),
        ],
        true,
    );
    m.connect(7);
    m.connect(8);
    m.track_subscription(8, &args("SUBSCRIBE news"));
    match m.find(7, 0, &args("PUBLISH news hi")) {
        Matched::Hit { deliveries, .. } => {
            assert_eq!(deliveries.len(), 1);
            assert_eq!(deliveries[0].live, 8);
        }
        other => panic!("{other:?}"),
    }
}

fn in_db(db: u32, event: Event) -> Event {
    match event {
        Event::Interaction(mut i) => {
            i.db = db;
            Event::Interaction(i)
        }
        other => other,
    }
}

fn reply_in(m: &mut Matcher, live: u64, db: u32, cmd: &str) -> Option<i64> {
    let found = m.find(live, db, &args(cmd));
    hit_integer(m, found)
}

#[test]
fn the_database_is_part_of_the_match() {
    let mut m = matcher(
        vec![
            in_db(1, interaction(1, 0, "GET x", 1)),
            in_db(2, interaction(2, 0, "GET x", 2)),
        ],
        true,
    );
    m.set_track_db(true);
    m.connect(10);
    m.connect(11);
    // Replayed db 2 first: each gets its own database's reply.
    assert_eq!(reply_in(&mut m, 11, 2, "GET x"), Some(2));
    assert_eq!(reply_in(&mut m, 10, 1, "GET x"), Some(1));
    assert_eq!(reply_in(&mut m, 10, 3, "GET x"), None);
    match m.find(10, 3, &args("GET x")) {
        Matched::Miss { closest: Some(c) } => assert!(c.to_string().ends_with(" in db 1")),
        other => panic!("{other:?}"),
    }
    // A cassette written before databases were tracked (all lines
    // without one) matches whatever a live connection selected.
    let mut legacy = matcher(vec![interaction(1, 0, "GET x", 5)], true);
    legacy.set_track_db(false);
    legacy.connect(10);
    assert_eq!(reply_in(&mut legacy, 10, 3, "GET x"), Some(5));
}

#[test]
fn a_diverging_connection_moves_to_the_recording_that_fits() {
    // Two recorded sessions open alike; only the second is replayed.
    let mut m = matcher(
        vec![
            interaction(1, 0, "FLUSHDB", 0),
            interaction(1, 1, "SET k 1", 0),
            interaction(1, 2, "GET k", 1),
            interaction(2, 0, "FLUSHDB", 0),
            interaction(2, 1, "SET k 2", 0),
            interaction(2, 2, "GET k", 2),
        ],
        true,
    );
    m.connect(10);
    assert_eq!(reply(&mut m, 10, "FLUSHDB"), Some(0));
    assert_eq!(reply(&mut m, 10, "SET k 2"), Some(0));
    assert_eq!(reply(&mut m, 10, "GET k"), Some(2));
    // The first session is still whole for a connection replaying it.
    m.disconnect(10);
    m.connect(11);
    assert_eq!(reply(&mut m, 11, "FLUSHDB"), Some(0));
    assert_eq!(reply(&mut m, 11, "SET k 1"), Some(0));
    assert_eq!(reply(&mut m, 11, "GET k"), Some(1));
    assert_eq!(m.unused().0, 0);
    assert_eq!(m.counters().repeated, 0);
}

#[test]
fn an_extra_poll_repeats_its_own_reply_and_takes_nothing_from_others() {
    let mut m = matcher(
        vec![
            interaction(1, 0, "SET a 1", 0),
            interaction(1, 1, "GET flag", 0),
            interaction(1, 2, "GET flag", 1),
            interaction(2, 0, "DEL b", 0),
            interaction(2, 1, "GET flag", 7),
        ],
        true,
    );
    m.connect(10);
    assert_eq!(reply(&mut m, 10, "SET a 1"), Some(0));
    assert_eq!(reply(&mut m, 10, "GET flag"), Some(0));
    assert_eq!(reply(&mut m, 10, "GET flag"), Some(1));
    assert_eq!(reply(&mut m, 10, "GET flag"), Some(1), "a repeat");
    m.connect(11);
    assert_eq!(reply(&mut m, 11, "DEL b"), Some(0));
    assert_eq!(reply(&mut m, 11, "GET flag"), Some(7));
}

#[test]
fn a_miss_changes_nothing_for_later_commands() {
    let mut m = matcher(
        vec![
            interaction(1, 0, "GET a", 1),
            interaction(1, 1, "GET b", 2),
            interaction(2, 0, "GET a", 3),
            interaction(2, 1, "GET b", 4),
        ],
        true,
    );
    m.connect(10);
    m.connect(11);
    assert_eq!(reply(&mut m, 10, "GET a"), Some(1));
    assert_eq!(reply(&mut m, 10, "GET zzz"), None);
    assert_eq!(reply(&mut m, 10, "GET b"), Some(2));
    assert_eq!(reply(&mut m, 11, "GET a"), Some(3));
    assert_eq!(reply(&mut m, 11, "GET b"), Some(4));
}

#[test]
fn handshake_recordings_stay_with_their_connection() {
    // Connection 2 recorded a PING that failed (a script was running).
    let mut m = matcher(
        vec![
            interaction(1, 0, "GET a", 1),
            interaction(2, 0, "EVAL x 0", 0),
            interaction(2, 1, "PING", -1),
        ],
        true,
    );
    m.connect(10);
    m.connect(11);
    // Neither a fresh connection (it is no opening command) nor one
    // bound elsewhere gets it.
    assert_eq!(reply(&mut m, 10, "PING"), None);
    assert_eq!(reply(&mut m, 10, "GET a"), Some(1));
    assert_eq!(reply(&mut m, 10, "PING"), None);
    // The connection replaying connection 2 does, once, then no repeat.
    assert_eq!(reply(&mut m, 11, "EVAL x 0"), Some(0));
    assert_eq!(reply(&mut m, 11, "PING"), Some(-1));
    assert_eq!(reply(&mut m, 11, "PING"), None);
}

#[test]
fn a_failed_opening_handshake_binds_a_fresh_connection() {
    let mut m = matcher(
        vec![
            interaction(1, 0, "CLIENT SETINFO LIB-NAME x", -1),
            interaction(1, 1, "GET a", 1),
        ],
        true,
    );
    m.connect(10);
    assert_eq!(reply(&mut m, 10, "CLIENT SETINFO LIB-NAME x"), Some(-1));
    assert_eq!(reply(&mut m, 10, "GET a"), Some(1));
    assert_eq!(m.unused().0, 0);
}

#[test]
fn a_handshake_recording_answers_only_in_its_place() {
    // A script ran: PING failed once, then, after the kill, PING got
    // PONG (not recorded); the next test made PING fail again.
    let mut m = matcher(
        vec![
            interaction(1, 0, "CONFIG SET lua-time-limit 10", 0),
            interaction(1, 1, "PING", -1),
            interaction(1, 2, "SCRIPT KILL", 0),
            interaction(1, 3, "CONFIG SET lua-time-limit 10", 0),
            interaction(1, 4, "PING", -2),
        ],
        true,
    );
    m.connect(10);
    assert_eq!(reply(&mut m, 10, "CONFIG SET lua-time-limit 10"), Some(0));
    assert_eq!(reply(&mut m, 10, "PING"), Some(-1));
    assert_eq!(reply(&mut m, 10, "SCRIPT KILL"), Some(0));
    assert_eq!(reply(&mut m, 10, "PING"), None, "made up, not -2");
    assert_eq!(reply(&mut m, 10, "CONFIG SET lua-time-limit 10"), Some(0));
    assert_eq!(reply(&mut m, 10, "PING"), Some(-2));
    assert_eq!(m.unused().0, 0);
}

#[test]
fn what_a_failed_test_left_behind_stays_behind() {
    // Two tests on one connection, each ending in SLOWLOG GET.
    let mut m = matcher(
        vec![
            interaction(1, 0, "SLOWLOG RESET", 0),
            interaction(1, 1, "SET a 1", 0),
            interaction(1, 2, "SLOWLOG GET", 1),
            interaction(1, 3, "SLOWLOG RESET", 0),
            interaction(1, 4, "SLOWLOG GET", 2),
        ],
        true,
    );
    m.connect(10);
    // The first test stops after its first command (a miss elsewhere).
    assert_eq!(reply(&mut m, 10, "SLOWLOG RESET"), Some(0));
    assert_eq!(reply(&mut m, 10, "SLOWLOG RESET"), Some(0));
    assert_eq!(
        reply(&mut m, 10, "SLOWLOG GET"),
        Some(2),
        "the second test's own"
    );
    assert_eq!(m.unused().0, 2);
}

/// A subscriber (recorded connection 3) and a publisher (4) that open with
/// the same calls, the publisher's recorded first.
fn twins() -> Matcher {
    let push = message("news", "hi");
    matcher(
        vec![
            interaction(4, 0, "INFO", 40),
            interaction(3, 0, "INFO", 30),
            interaction(4, 1, "CONFIG GET x", 41),
            interaction(3, 1, "CONFIG GET x", 31),
            interaction(3, 2, "SUBSCRIBE news", 32),
            interaction(4, 2, "PUBLISH news hi", 42),
            Event::Push(PushEvent {
                conn: 3,
                at_ms: 5,
                push,
            }),
            interaction(3, 3, "QUIT", 33),
            interaction(4, 3, "QUIT", 43),
        ],
        true,
    )
}

/// Two clients open with the same calls at the same moment (ioredis's
/// refused `CLIENT SETINFO`, then `INFO`), then one subscribes and the
/// other publishes. Bound the wrong way round on the shared opening, the
/// bindings are exchanged at the first command that tells them apart, so
/// the message goes to the subscriber, and nothing is left unused.
#[test]
fn twins_bound_the_wrong_way_round_are_exchanged() {
    let mut m = twins();
    // The subscriber (10) comes first and takes the publisher's recording.
    m.connect(10);
    m.connect(11);
    assert_eq!(reply(&mut m, 10, "INFO"), Some(40));
    assert_eq!(reply(&mut m, 11, "INFO"), Some(30));
    assert_eq!(reply(&mut m, 10, "CONFIG GET x"), Some(41));
    assert_eq!(reply(&mut m, 11, "CONFIG GET x"), Some(31));
    assert_eq!(reply(&mut m, 10, "SUBSCRIBE news"), Some(32));
    m.track_subscription(10, &args("SUBSCRIBE news"));
    match m.find(11, 0, &args("PUBLISH news hi")) {
        Matched::Hit { deliveries, .. } => {
            assert_eq!(deliveries.len(), 1);
            assert_eq!(deliveries[0].live, 10, "the message goes to the subscriber");
        }
        other => panic!("{other:?}"),
    }
    // Each now finishes on its own recording.
    assert_eq!(reply(&mut m, 10, "QUIT"), Some(33));
    assert_eq!(reply(&mut m, 11, "QUIT"), Some(43));
    assert_eq!(m.unused().0, 0);
    assert_eq!(m.counters().repeated, 0);
}

/// Connections that did different things are never exchanged: a client
/// that needs a command only another live connection's recording has
/// borrows it, and the other keeps its binding.
#[test]
fn different_histories_are_not_exchanged() {
    let mut m = matcher(
        vec![
            interaction(1, 0, "GET a", 1),
            interaction(2, 0, "GET b", 2),
            interaction(2, 1, "GET c", 3),
            interaction(2, 2, "GET d", 4),
        ],
        true,
    );
    m.connect(10);
    m.connect(11);
    assert_eq!(reply(&mut m, 10, "GET a"), Some(1));
    assert_eq!(reply(&mut m, 11, "GET b"), Some(2));
    assert_eq!(reply(&mut m, 10, "GET c"), Some(3));
    assert_eq!(reply(&mut m, 11, "GET d"), Some(4));
}

/// The same twins, in another interleaving: the publisher has sent less
/// than the subscriber when the subscriber subscribes (no exchange yet: it
/// borrows the subscription from the publisher's binding), and the
/// exchange comes at PUBLISH. The subscriber then continues in its place on
/// its new recording: its QUIT is the recorded one, not made up, and
/// nothing is left unused.
#[test]
fn twins_exchanged_later_keep_their_place() {
    let mut m = twins();
    m.connect(10);
    m.connect(11);
    assert_eq!(reply(&mut m, 10, "INFO"), Some(40));
    assert_eq!(reply(&mut m, 10, "CONFIG GET x"), Some(41));
    assert_eq!(reply(&mut m, 11, "INFO"), Some(30));
    assert_eq!(reply(&mut m, 10, "SUBSCRIBE news"), Some(32));
    m.track_subscription(10, &args("SUBSCRIBE news"));
    assert_eq!(reply(&mut m, 11, "CONFIG GET x"), Some(31));
    match m.find(11, 0, &args("PUBLISH news hi")) {
        Matched::Hit { deliveries, .. } => {
            assert_eq!(deliveries.len(), 1);
            assert_eq!(deliveries[0].live, 10, "the message goes to the subscriber");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(reply(&mut m, 10, "QUIT"), Some(33));
    assert_eq!(reply(&mut m, 11, "QUIT"), Some(43));
    assert_eq!(m.unused().0, 0);
}

#[test]
fn a_closed_connections_leftovers_go_to_no_one_else() {
    // Recorded: connection 1 sets, expires, reads and deletes `a`; then
    // connection 2 reads it (gone: 0 here). Live connection 10 diverges at
    // its second command and closes; 11's read must get connection 2's.
    let mut m = matcher(
        vec![
            interaction(1, 0, "SET a foo", 1),
            interaction(1, 1, "EXPIRE a 100", 1),
            interaction(1, 2, "GET a", 7),
            interaction(1, 3, "DEL a", 1),
            interaction(2, 4, "GET a", 0),
        ],
        true,
    );
    m.connect(10);
    assert_eq!(reply(&mut m, 10, "SET a foo"), Some(1));
    assert_eq!(reply(&mut m, 10, "EXPIRE a 101"), None);
    m.disconnect(10);
    m.connect(11);
    assert_eq!(reply(&mut m, 11, "GET a"), Some(0));
    // Nothing else has `DEL a`: the dead connection's leftover answers.
    assert_eq!(reply(&mut m, 11, "DEL a"), Some(1));
    let (unused, examples, _) = m.unused();
    assert_eq!(unused, 2, "{examples:?}");
}

#[test]
fn among_equal_fits_the_recording_at_the_live_place_binds() {
    // Two recorded connections read `k`, the first half-way through its
    // session, the second as its first command: a new connection's first
    // `GET k` is the second's.
    let mut m = matcher(
        vec![
            interaction(1, 0, "SET k 1", 1),
            interaction(1, 1, "GET k", 1),
            interaction(2, 2, "GET k", 2),
        ],
        true,
    );
    m.connect(10);
    assert_eq!(reply(&mut m, 10, "GET k"), Some(2));
}

#[test]
fn a_handshake_call_swaps_bindings_made_the_wrong_way_round() {
    // Two clients open with the same refused handshake; the one that
    // connects first binds to the other's recording. Its `CLIENT ID` (the
    // id a later `CLIENT KILL ID` names) is in the other recording, due
    // right after the shared opening: the bindings are exchanged.
    let mut m = matcher(
        vec![
            interaction(1, 0, "CLIENT SETINFO LIB-NAME x", -1),
            interaction(2, 1, "CLIENT SETINFO LIB-NAME x", -1),
            interaction(2, 2, "CLIENT ID", 6),
            interaction(1, 3, "SET k v", 1),
        ],
        true,
    );
    m.connect(10);
    m.connect(11);
    assert_eq!(reply(&mut m, 10, "CLIENT SETINFO LIB-NAME x"), Some(-1));
    assert_eq!(reply(&mut m, 11, "CLIENT SETINFO LIB-NAME x"), Some(-1));
    assert_eq!(reply(&mut m, 10, "CLIENT ID"), Some(6));
    assert_eq!(reply(&mut m, 11, "SET k v"), Some(1));
    assert_eq!(m.unused().0, 0);
}

/// An interaction with a simple-string reply (`OK`, `QUEUED`).
fn simple(conn: u64, seq: u64, cmd: &str, reply: &'static str) -> Event {
    let Event::Interaction(mut i) = interaction(conn, seq, cmd, 0) else {
        unreachable!()
    };
    i.replies = vec![Value::simple(reply)];
    Event::Interaction(i)
}

/// What the session does per command: look it up, and on a miss follow
/// the live connection's transaction itself.
fn served(m: &mut Matcher, live: u64, cmd: &str) -> Option<Value> {
    let a = args(cmd);
    let class = Class::of(&a);
    match m.find(live, 0, &a) {
        Matched::Hit { recording, .. } => m.first_reply(recording),
        Matched::Miss { .. } => {
            m.follow(live, &a, class, None);
            None
        }
    }
}

#[test]
fn queued_commands_and_exec_match_only_their_own_transaction() {
    // Connection 1 runs `GET k` in a transaction, connection 2 plainly.
    // The live connection that replays 2 binds to 1 first (same opening),
    // yet its plain `GET k` never gets `+QUEUED`, and the transaction's
    // `EXEC` is the one that queued the same commands.
    let mut m = matcher(
        vec![
            simple(1, 0, "SET k v", "OK"),
            simple(1, 1, "MULTI", "OK"),
            simple(1, 2, "GET k", "QUEUED"),
            interaction(1, 3, "EXEC", 11),
            simple(2, 4, "SET k v", "OK"),
            interaction(2, 5, "GET k", 22),
            simple(2, 6, "MULTI", "OK"),
            simple(2, 7, "INCR n", "QUEUED"),
            interaction(2, 8, "EXEC", 33),
        ],
        true,
    );
    m.connect(10);
    assert_eq!(served(&mut m, 10, "SET k v"), Some(Value::simple("OK")));
    assert_eq!(served(&mut m, 10, "GET k"), Some(Value::Integer(22)));
    assert_eq!(served(&mut m, 10, "MULTI"), Some(Value::simple("OK")));
    assert_eq!(served(&mut m, 10, "INCR n"), Some(Value::simple("QUEUED")));
    assert_eq!(served(&mut m, 10, "EXEC"), Some(Value::Integer(33)));
    m.connect(11);
    assert_eq!(served(&mut m, 11, "SET k v"), Some(Value::simple("OK")));
    assert_eq!(served(&mut m, 11, "MULTI"), Some(Value::simple("OK")));
    assert_eq!(served(&mut m, 11, "GET k"), Some(Value::simple("QUEUED")));
    assert_eq!(served(&mut m, 11, "EXEC"), Some(Value::Integer(11)));
    assert_eq!(m.unused().0, 0);
}

#[test]
fn set_arguments_match_in_any_order() {
    let mut m = matcher(vec![interaction(1, 0, "SADD s 3 2 1", 3)], true);
    m.connect(10);
    assert_eq!(reply(&mut m, 10, "SADD s 1 3 2"), Some(3));
}

#[test]
fn a_message_skips_a_bound_connection_that_never_subscribed() {
    // Live 7 replays recorded connection 1's opening but never subscribes
    // (it is a look-alike of another test's); live 8 did subscribe. The
    // message recorded for connection 1 goes to live 8.
    let push = message("news", "hi");
    let mut m = matcher(
        vec![
            interaction(1, 0, "GET a", 1),
            interaction(2, 1, "PUBLISH news hi", 1),
            Event::Push(PushEvent {
                conn: 1,
                at_ms: 5,
                push,
            }),
        ],
        true,
    );
    m.connect(7);
    m.connect(8);
    assert_eq!(reply(&mut m, 7, "GET a"), Some(1));
    m.track_subscription(8, &args("SUBSCRIBE news"));
    match m.find(9, 0, &args("PUBLISH news hi")) {
        Matched::Hit { deliveries, .. } => {
            let to: Vec<u64> = deliveries.iter().map(|d| d.live).collect();
            assert_eq!(to, [8]);
        }
        other => panic!("{other:?}"),
    }
}

/// The unused listing counts every unused recording and groups the first
/// ten distinct commands, whether a command is its own match key (worked
/// out once per key) or not (an ignore rule made its key), and across
/// databases (the command is the same).
#[test]
fn unused_examples_group_by_command() {
    let mut events = vec![
        interaction(1, 0, "GET a", 1),
        interaction(1, 1, "GET a", 1),
        in_db(1, interaction(2, 2, "GET a", 1)),
        interaction(1, 3, "SET t 1 PX 5", 1),
        interaction(1, 4, "SET t 1 PX 6", 1),
        interaction(1, 5, "SET t 1 PX 5", 1),
    ];
    for n in 0..12u64 {
        for seq in 0..=n {
            events.push(interaction(3, 100 + 20 * n + seq, &format!("GET k{n}"), 1));
        }
    }
    let cassette = Cassette {
        header: Header::new(None),
        events,
        warnings: Vec::new(),
    };
    let rules = vec!["SET t 1 PX *".parse().unwrap()];
    let mut m = Matcher::new(cassette, rules, true);
    m.connect(10);
    assert_eq!(reply(&mut m, 10, "GET a"), Some(1));
    let (unused, examples, listed) = m.unused();
    assert_eq!(unused, 5 + (1..=12).sum::<u64>(), "{examples:?}");
    let mut expected = vec![
        "GET a (x2)".to_string(),
        "SET t 1 PX 5 (x2)".to_string(),
        "SET t 1 PX 6".to_string(),
        "GET k0".to_string(),
    ];
    expected.extend((1..7).map(|n| format!("GET k{n} (x{})", n + 1)));
    assert_eq!(examples, expected);
    assert_eq!(listed, 2 + 2 + 1 + (1..=7).sum::<u64>());
}
