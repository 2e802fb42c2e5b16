use super::*;

fn resp(words: &[&str]) -> Vec<u8> {
    let mut out = bytes::BytesMut::new();
    crate::resp::encode_command(words, &mut out);
    out.to_vec()
}

#[test]
fn calls_are_kept_in_order_with_their_replies() {
    let journal = Journal::new(100);
    let mut a = journal.scribe(7).unwrap();
    a.note(0, &resp(&["SET", "user:1", "v", "EX", "60"]), b"+OK\r\n");
    a.note(2, &resp(&["GET", "user:1"]), b"$1\r\nv\r\n");
    // Not published yet: nobody sees them.
    assert!(journal.is_empty());
    a.publish();
    let mut b = journal.scribe(8).unwrap();
    b.note(0, b"INCR n\r\n", b":3\r\n");
    b.note(0, &resp(&["CLIENT", "REPLY", "OFF"]), b"");
    b.publish();
    let all = journal.query(&Query::default());
    let shown: Vec<(u64, u64, u32, &str, &str)> = all
        .calls
        .iter()
        .map(|c| (c.id, c.conn, c.db, c.cmd.as_str(), c.reply.as_str()))
        .collect();
    assert_eq!(
        shown,
        [
            (1, 7, 0, "SET user:1 v EX 60", "OK"),
            (2, 7, 2, "GET user:1", "\"v\""),
            (3, 8, 0, "INCR n", "(integer) 3"),
            (4, 8, 0, "CLIENT REPLY OFF", "(no reply)"),
        ]
    );
    assert_eq!(all.calls[0].args, ["SET", "user:1", "v", "EX", "60"]);
    assert_eq!((all.last, all.dropped, all.max), (4, 0, 100));

    let sets = journal.query(&Query::new(Some("SET user:* ..."), None).unwrap());
    assert_eq!(sets.calls.len(), 1);
    let bare = journal.query(&Query::new(Some("get"), None).unwrap());
    assert_eq!(bare.calls[0].id, 2);
    let since = journal.query(&Query::new(None, Some(2)).unwrap());
    assert_eq!(since.calls.iter().map(|c| c.id).collect::<Vec<_>>(), [3, 4]);
    assert!(Query::new(Some("GET \"x"), None).is_err());

    assert_eq!(journal.clear(), (4, 4));
    a.note(0, &resp(&["DEL", "k"]), b"-ERR no\r\n");
    drop(a); // publishes what it still holds
    let after = journal.query(&Query::default());
    assert_eq!(after.calls.len(), 1);
    assert_eq!(after.calls[0].id, 5);
    assert!(after.calls[0].error);
    assert_eq!(after.calls[0].reply, "(error) ERR no");
}

#[test]
fn the_cap_drops_the_oldest_and_counts_them() {
    let journal = Journal::new(10);
    let mut s = journal.scribe(1).unwrap();
    for i in 0..25 {
        s.note(0, &resp(&["GET", &format!("k{i}")]), b"$-1\r\n");
        if i % 4 == 0 {
            s.publish();
        }
    }
    s.publish();
    let all = journal.query(&Query::default());
    assert_eq!(all.calls.len(), 10);
    assert_eq!(all.dropped, 15);
    assert_eq!(all.calls[0].cmd, "GET k15");
    assert_eq!(all.calls[9].reply, "(nil)");
    assert!(Journal::new(0).scribe(1).is_none());
}

#[test]
fn large_requests_and_replies_are_kept_cut() {
    let journal = Journal::new(10);
    let mut s = journal.scribe(1).unwrap();
    let big = "x".repeat(100_000);
    let reply = format!("${}\r\n{big}\r\n", big.len());
    s.note(0, &resp(&["SET", "k", &big]), reply.as_bytes());
    s.note_args(
        0,
        &[Bytes::from_static(b"AUTH"), Bytes::from_static(b"secret")],
        &[Bytes::from_static(b"+OK\r\n")],
    );
    s.publish();
    let all = journal.query(&Query::default());
    let set = &all.calls[0];
    assert!(set.cut);
    assert_eq!(set.args[2].len(), KEPT_ARG);
    assert!(set.reply.starts_with("\"xxx"), "{}", set.reply);
    assert!(set.reply.ends_with('…'));
    let auth = &all.calls[1];
    assert!(!auth.args.iter().any(|a| a.contains("secret")), "{auth:?}");
    assert_eq!(auth.reply, "OK");
}
