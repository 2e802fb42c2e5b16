//! A blocking command that timed out made its client wait in Redis, and it
//! does on replay too, whatever `--timing` says: clients and test suites
//! time it (Redis 8's own suite checks that `BLPOP … 1` takes about a
//! second). One that got its value at once is answered at once.

mod common;

use std::time::{Duration, Instant};

use common::{client_url, RedisServer, Resplay, PROTOCOLS};
use redis::Value;

fn timed(con: &mut redis::Connection, cmd: &redis::Cmd) -> (Value, Duration) {
    let start = Instant::now();
    let value = cmd.query(con).expect("answered");
    (value, start.elapsed())
}

#[test]
fn a_timed_out_blpop_waits_its_timeout_on_replay_and_a_served_one_does_not() {
    for protocol in PROTOCOLS {
        let server = RedisServer::start();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.jsonl");
        let recorder = Resplay::record(&server.url(), &path, &[]);
        let session = |url: &str| {
            let mut con = redis::Client::open(client_url(url, protocol))
                .unwrap()
                .get_connection()
                .unwrap();
            let _: () = redis::cmd("RPUSH")
                .arg("full")
                .arg("x")
                .query(&mut con)
                .unwrap();
            let served = timed(&mut con, redis::cmd("BLPOP").arg("full").arg(5));
            let timed_out = timed(&mut con, redis::cmd("BLPOP").arg("empty").arg(1));
            (served, timed_out)
        };
        let (rec_served, rec_timed_out) = session(&recorder.url());
        let (code, log) = recorder.stop();
        assert_eq!(code, 0, "{log:?}");
        assert!(
            rec_timed_out.1 >= Duration::from_millis(900),
            "{rec_timed_out:?}"
        );
        drop(server);

        let replay = Resplay::replay(&path, &[]);
        let (served, timed_out) = session(&replay.url());
        assert_eq!(served.0, rec_served.0, "RESP{protocol}");
        assert_eq!(timed_out.0, rec_timed_out.0, "RESP{protocol}");
        assert!(
            served.1 < Duration::from_millis(500),
            "RESP{protocol}: a served BLPOP answers at once, took {:?}",
            served.1
        );
        assert!(
            timed_out.1 >= Duration::from_millis(900),
            "RESP{protocol}: a timed-out BLPOP waits its timeout, took {:?}",
            timed_out.1
        );
        let (code, log) = replay.stop();
        assert_eq!(code, 0, "{log:?}");
    }
}
