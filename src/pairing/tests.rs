//! Pairing's unit tests: frames fed as the server sends them, checked
//! against what each request got.

use super::*;

fn req(seq: u64, words: &[&str]) -> Pending {
    Pending::new(seq, command::args_of(words), Instant::now(), false)
}

fn bulk(s: &str) -> Value {
    Value::Bulk(Bytes::copy_from_slice(s.as_bytes()))
}

fn confirmation(kind: &str, ch: &str, n: i64, push: bool) -> Value {
    let items = vec![bulk(kind), bulk(ch), Value::Integer(n)];
    if push {
        Value::Push(items)
    } else {
        Value::Array(items)
    }
}

/// Runs frames through a pairing; returns (seq, reply count) and push count.
fn run(p: &mut Pairing, frames: Vec<Value>) -> (Vec<(u64, usize)>, usize) {
    let mut out = Vec::new();
    for f in frames {
        p.on_frame(crate::resp::to_bytes(&f).freeze(), &mut out);
    }
    let mut done = Vec::new();
    let mut pushes = 0;
    for o in out {
        match o {
            Paired::Interaction {
                request, replies, ..
            } => done.push((request.seq, replies.len())),
            Paired::Push(_) => pushes += 1,
            Paired::Local(_) => {}
        }
    }
    (done, pushes)
}

#[test]
fn one_for_one_in_order() {
    let mut p = Pairing::default();
    p.push_request(req(0, &["SET", "a", "1"]));
    p.push_request(req(1, &["GET", "a"]));
    let (done, pushes) = run(&mut p, vec![Value::simple("OK"), bulk("1")]);
    assert_eq!(done, [(0, 1), (1, 1)]);
    assert_eq!(pushes, 0);
}

#[test]
fn resp2_pubsub() {
    let mut p = Pairing::default();
    p.push_request(req(0, &["SUBSCRIBE", "a", "b"]));
    p.push_request(req(1, &["PING"]));
    let msg = Value::Array(vec![bulk("message"), bulk("a"), bulk("hi")]);
    let pong = Value::Array(vec![bulk("pong"), bulk("")]);
    let (done, pushes) = run(
        &mut p,
        vec![
            confirmation("subscribe", "a", 1, false),
            msg.clone(),
            confirmation("subscribe", "b", 2, false),
            pong,
            msg,
        ],
    );
    assert_eq!(done, [(0, 2), (1, 1)]);
    assert_eq!(pushes, 2);
    // A bare UNSUBSCRIBE gets one confirmation per subscribed channel.
    p.push_request(req(2, &["UNSUBSCRIBE"]));
    p.push_request(req(3, &["GET", "x"]));
    let (done, _) = run(
        &mut p,
        vec![
            confirmation("unsubscribe", "a", 1, false),
            confirmation("unsubscribe", "b", 0, false),
            Value::NullBulk,
        ],
    );
    assert_eq!(done, [(2, 2), (3, 1)]);
    // Not subscribed any more: an array starting with "message" is a reply.
    p.push_request(req(4, &["LRANGE", "l", "0", "-1"]));
    let (done, pushes) = run(&mut p, vec![Value::Array(vec![bulk("message"), bulk("x")])]);
    assert_eq!((done, pushes), (vec![(4, 1)], 0));
}

#[test]
fn abandoned_requests_keep_their_order_and_what_they_got() {
    let mut p = Pairing::default();
    p.push_request(req(0, &["SUBSCRIBE", "a", "b"]));
    p.push_request(req(1, &["SELECT", "2"]));
    p.push_request(req(2, &["BLPOP", "q", "0"]));
    let (done, _) = run(&mut p, vec![confirmation("subscribe", "a", 1, true)]);
    assert!(done.is_empty());
    let mut out = Vec::new();
    p.abandon(&mut out);
    let got: Vec<_> = out
        .iter()
        .map(|o| match o {
            Paired::Interaction {
                request,
                db,
                replies,
            } => (request.seq, *db, replies.len()),
            other => panic!("{other:?}"),
        })
        .collect();
    // The SUBSCRIBE keeps its one confirmation; the SELECT is assumed
    // to have run, as a silent one is.
    assert_eq!(got, [(0, 0, 1), (1, 0, 0), (2, 2, 0)]);
    assert_eq!(p.pending(), 0);
    // The next reply is not taken for one of theirs.
    let (done, pushes) = run(&mut p, vec![bulk("late")]);
    assert_eq!((done.len(), pushes), (0, 1));
}

#[test]
fn bare_unsubscribe_with_nothing_subscribed_gets_one_reply() {
    let mut p = Pairing::default();
    p.push_request(req(0, &["UNSUBSCRIBE"]));
    let nil = Value::Array(vec![
        bulk("unsubscribe"),
        Value::NullBulk,
        Value::Integer(0),
    ]);
    assert_eq!(run(&mut p, vec![nil]).0, [(0, 1)]);
}

#[test]
fn resp3_pushes_and_hello() {
    let mut p = Pairing::default();
    p.push_request(req(0, &["HELLO", "3"]));
    p.push_request(req(1, &["SUBSCRIBE", "a"]));
    p.push_request(req(2, &["GET", "k"]));
    let hello = Value::Map(vec![(bulk("proto"), Value::Integer(3))]);
    let message = Value::Push(vec![bulk("message"), bulk("a"), bulk("x")]);
    let (done, pushes) = run(
        &mut p,
        vec![
            hello,
            message.clone(),
            confirmation("subscribe", "a", 1, true),
            message,
            Value::Null,
        ],
    );
    assert_eq!(done, [(0, 1), (1, 1), (2, 1)]);
    assert_eq!(pushes, 2);
    assert_eq!(p.protocol(), 3);
}

#[test]
fn invalidation_before_reply() {
    let mut p = Pairing::default();
    p.push_request(req(0, &["GET", "k"]));
    let inval = Value::Push(vec![bulk("invalidate"), Value::Array(vec![bulk("k")])]);
    let (done, pushes) = run(&mut p, vec![inval.clone(), bulk("v"), inval]);
    assert_eq!((done, pushes), (vec![(0, 1)], 2));
}

#[test]
fn monitor_lines_are_pushes() {
    let mut p = Pairing::default();
    p.push_request(req(0, &["MONITOR"]));
    p.push_request(req(1, &["QUIT"]));
    let line = Value::Simple(Bytes::from_static(
        b"1700000000.1 [0 127.0.0.1:1] \"GET\" \"k\"",
    ));
    let (done, pushes) = run(&mut p, vec![Value::simple("OK"), line, Value::simple("OK")]);
    assert_eq!((done, pushes), (vec![(0, 1), (1, 1)], 1));
}

#[test]
fn errors_end_multi_reply_commands() {
    let mut p = Pairing::default();
    p.push_request(req(0, &["SUBSCRIBE", "a", "b"]));
    p.push_request(req(1, &["GET", "k"]));
    let (done, _) = run(&mut p, vec![Value::error("ERR nope"), bulk("v")]);
    assert_eq!(done, [(0, 1), (1, 1)]);
}

#[test]
fn client_reply_modes() {
    let mut t = ReplyModeTracker::default();
    let a = |w: &[&str]| req(0, w).args;
    assert!(!t.is_silent(&a(&["GET", "a"])));
    assert!(t.is_silent(&a(&["CLIENT", "REPLY", "SKIP"])));
    assert!(t.is_silent(&a(&["GET", "a"])));
    assert!(!t.is_silent(&a(&["GET", "a"])));
    assert!(t.is_silent(&a(&["CLIENT", "REPLY", "OFF"])));
    assert!(t.is_silent(&a(&["SET", "a", "1"])));
    assert!(!t.is_silent(&a(&["CLIENT", "REPLY", "ON"])));
    assert!(!t.is_silent(&a(&["GET", "a"])));
}

#[test]
fn silent_requests_complete_in_order() {
    let mut p = Pairing::default();
    p.push_request(req(0, &["GET", "a"]));
    let mut silent = req(1, &["SET", "b", "1"]);
    silent.silent = true;
    p.push_request(silent);
    let mut out = Vec::new();
    p.complete_silent(&mut out);
    assert!(out.is_empty(), "must wait for the earlier reply");
    let (done, _) = run(&mut p, vec![bulk("1")]);
    assert_eq!(done, [(0, 1), (1, 0)]);
}

#[test]
fn injected_faults_take_their_turn() {
    let mut p = Pairing::default();
    let loading = Bytes::from_static(b"-LOADING later\r\n");
    p.push_request(req(0, &["GET", "a"]));
    p.push_request(req(1, &["GET", "b"]).with_special(Special::Error(loading.clone())));
    p.push_request(req(1, &["EXEC"]).with_special(Special::ExecAbort));
    let mut out = Vec::new();
    p.complete_silent(&mut out);
    assert!(
        out.is_empty(),
        "the local answer waits for the reply before it"
    );
    let frame = |v: &Value| crate::resp::to_bytes(v).freeze();
    assert_eq!(p.on_frame(frame(&bulk("1")), &mut out), None);
    assert!(
        matches!(&out[..], [Paired::Interaction { .. }, Paired::Local(Special::Error(l))] if *l == loading)
    );
    out.clear();
    // DISCARD's +OK answers the EXEC, recorded as the client saw it.
    let shaping = p.on_frame(frame(&Value::simple("OK")), &mut out);
    assert_eq!(shaping, Some(Special::ExecAbort));
    let [Paired::Interaction { replies, .. }] = &out[..] else {
        panic!("{out:?}");
    };
    assert_eq!(replies[..], [Bytes::from_static(command::EXECABORT)]);
    assert_eq!(p.pending(), 0);
}

#[test]
fn interactions_carry_the_database_they_ran_in() {
    let mut p = Pairing::new(4);
    for (seq, words) in [
        (0, &["GET", "a"][..]),
        (1, &["SELECT", "2"]),
        (2, &["GET", "a"]),
        (3, &["MULTI"]),
        (4, &["SELECT", "5"]),
        (5, &["EXEC"]),
        (6, &["GET", "a"]),
    ] {
        p.push_request(req(seq, words));
    }
    let queued = Value::simple("QUEUED");
    let exec = Value::Array(vec![Value::simple("OK")]);
    let frames = vec![
        Value::NullBulk,
        Value::simple("OK"),
        Value::NullBulk,
        Value::simple("OK"),
        queued,
        exec,
        Value::NullBulk,
    ];
    let mut out = Vec::new();
    for f in frames {
        p.on_frame(crate::resp::to_bytes(&f).freeze(), &mut out);
    }
    let dbs: Vec<u32> = out
        .iter()
        .filter_map(|o| match o {
            Paired::Interaction { db, .. } => Some(*db),
            Paired::Push(_) | Paired::Local(_) => None,
        })
        .collect();
    assert_eq!(dbs, [4, 4, 2, 2, 2, 2, 5]);
}
