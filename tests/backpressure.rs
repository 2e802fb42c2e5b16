//! Clients that do not read, against real redis-server: a pipeline of
//! large replies left unread costs resplay a bounded amount of memory in
//! both modes (back-pressure, then every reply, in order), and a
//! subscriber that does not read is closed by Redis's pubsub output
//! buffer limit: by resplay in replay, by Redis itself in record.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::thread;
use std::time::{Duration, Instant};

use common::admin::{admin_of, ok};
use common::raw::Raw;
use common::{RedisServer, Resplay};
use resplay::resp::Value;
use serde_json::json;

/// Each `big<i>` key holds this many bytes.
const VALUE_LEN: usize = 1 << 20;
/// How much resplay's resident memory may grow while a client owes it
/// gigabytes of unread replies (the default limit is 16 MB).
const RSS_BOUND_KIB: u64 = 64 * 1024;

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc status")
}

/// A small receive buffer, so the kernel holds little of what is unread.
fn shrink_receive_buffer(stream: &TcpStream) {
    extern "C" {
        fn setsockopt(fd: i32, level: i32, name: i32, value: *const i32, len: u32) -> i32;
    }
    const SOL_SOCKET: i32 = 1;
    const SO_RCVBUF: i32 = 8;
    let size: i32 = 16 * 1024;
    // SAFETY: a valid socket and a pointer to an int of the length given.
    let rc = unsafe { setsockopt(stream.as_raw_fd(), SOL_SOCKET, SO_RCVBUF, &size, 4) };
    assert_eq!(rc, 0, "setsockopt SO_RCVBUF");
}

/// The fill byte of `big<i % 4>`: consecutive replies differ, so an
/// out-of-order or mixed-up reply shows.
fn fill(i: usize) -> u8 {
    b'a' + (i % 4) as u8
}

fn get_big(i: usize) -> String {
    format!("*2\r\n$3\r\nGET\r\n$4\r\nbig{}\r\n", i % 4)
}

fn set_big_keys(port: u16) {
    let mut c = Raw::connect(port);
    for i in 0..4 {
        let value = String::from_utf8(vec![fill(i); VALUE_LEN]).unwrap();
        assert_eq!(
            c.call(&["SET", &format!("big{i}"), &value]),
            Value::simple("OK")
        );
    }
}

/// Redis's `used_memory`, in KiB.
fn redis_memory_kib(redis: &mut Raw) -> u64 {
    let Value::Bulk(ref info) = redis.call(&["INFO", "memory"]) else {
        panic!("INFO is a bulk string");
    };
    let info = String::from_utf8_lossy(info).into_owned();
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .expect("used_memory in INFO")
        / 1024
}

/// Pipelines `n` `GET big<i>` without reading, watches resplay's memory
/// (and, given a connection to it, Redis's) for a while, then reads every
/// reply and checks each. Returns resplay's RSS before and at its peak,
/// and Redis's memory growth at its peak, in KiB.
fn pipeline_unread_then_read(
    port: u16,
    pid: u32,
    n: usize,
    mut redis: Option<&mut Raw>,
) -> (u64, u64, u64) {
    let redis_idle = redis.as_deref_mut().map_or(0, redis_memory_kib);
    let mut redis_peak = redis_idle;
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    shrink_receive_buffer(&stream);
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let idle = rss_kib(pid);
    let mut requests = String::new();
    for i in 0..n {
        requests.push_str(&get_big(i));
    }
    let mut sender = stream.try_clone().unwrap();
    // May block: resplay stops reading once enough replies are owed.
    let writer = thread::spawn(move || sender.write_all(requests.as_bytes()).is_ok());
    let mut peak = idle;
    let watch = Instant::now();
    while watch.elapsed() < Duration::from_secs(4) {
        peak = peak.max(rss_kib(pid));
        if let Some(redis) = redis.as_deref_mut() {
            redis_peak = redis_peak.max(redis_memory_kib(redis));
        }
        thread::sleep(Duration::from_millis(50));
    }
    let mut reader = BufReader::with_capacity(256 * 1024, stream);
    let mut value = vec![0u8; VALUE_LEN + 2];
    let want_header = format!("${VALUE_LEN}\r\n");
    let mut header = String::new();
    for i in 0..n {
        header.clear();
        reader.read_line(&mut header).expect("a reply header");
        assert_eq!(header, want_header, "reply {i} of {n}");
        reader.read_exact(&mut value).expect("a reply body");
        assert!(
            value[..VALUE_LEN].iter().all(|&b| b == fill(i)),
            "reply {i} is not big{}'s value",
            i % 4
        );
        assert_eq!(&value[VALUE_LEN..], b"\r\n");
        if i % 64 == 0 {
            peak = peak.max(rss_kib(pid));
        }
    }
    assert!(writer.join().unwrap(), "the requests were all sent");
    (idle, peak, redis_peak - redis_idle)
}

#[test]
fn unread_pipeline_of_large_replies_costs_bounded_memory_in_record() {
    let server = RedisServer::start();
    set_big_keys(server.port);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.jsonl");
    let recorder = Resplay::record(&server.url(), &path, &[]);
    // Every reply goes to the cassette too: 400 MB of it.
    let n = 400;
    let mut redis = Raw::connect(server.port);
    let (idle, peak, redis_grew) =
        pipeline_unread_then_read(recorder.port, recorder.pid(), n, Some(&mut redis));
    eprintln!(
        "record: {n} GETs of 1 MB unread; VmRSS {idle} KiB -> peak {peak} KiB; \
         Redis's memory grew {redis_grew} KiB at most"
    );
    // The back-pressure reaches Redis too: it is not asked for all 400 MB
    // (the first pipeline may ask for 64 replies before their size is
    // known, then 16 are owed at most).
    assert!(redis_grew < 128 * 1024, "Redis grew {redis_grew} KiB");
    assert!(
        peak < idle + RSS_BOUND_KIB,
        "RSS grew from {idle} to {peak} KiB"
    );
    let (code, log) = recorder.stop();
    assert_eq!(code, 0, "{log:?}");
    assert_eq!(common::interactions(&path).len(), n);
}

#[test]
fn unread_pipeline_of_large_replies_costs_bounded_memory_in_replay() {
    let server = RedisServer::start();
    set_big_keys(server.port);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.jsonl");
    let recorder = Resplay::record(&server.url(), &path, &[]);
    let mut c = Raw::connect(recorder.port);
    for i in 0..4 {
        assert!(matches!(
            c.call(&["GET", &format!("big{i}")]),
            Value::Bulk(_)
        ));
    }
    drop(c);
    let (code, log) = recorder.stop();
    assert_eq!(code, 0, "{log:?}");
    let replay = Resplay::replay(&path, &[]);
    // 2 GB of replies to 44 KB of requests.
    let n = 2000;
    let (idle, peak, _) = pipeline_unread_then_read(replay.port, replay.pid(), n, None);
    eprintln!("replay: {n} GETs of 1 MB unread; VmRSS {idle} KiB -> peak {peak} KiB");
    assert!(
        peak < idle + RSS_BOUND_KIB,
        "RSS grew from {idle} to {peak} KiB"
    );
    let (code, log) = replay.stop();
    assert_eq!(code, 0, "{log:?}");
}

/// Subscribes on a raw socket with a small receive buffer; the reply to
/// `SUBSCRIBE` is read.
fn subscriber(port: u16, channel: &str) -> TcpStream {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    shrink_receive_buffer(&stream);
    stream
        .write_all(
            format!(
                "*2\r\n$9\r\nSUBSCRIBE\r\n${}\r\n{channel}\r\n",
                channel.len()
            )
            .as_bytes(),
        )
        .unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let want = format!(
        "*3\r\n$9\r\nsubscribe\r\n${}\r\n{channel}\r\n:1\r\n",
        channel.len()
    );
    let mut got = vec![0u8; want.len()];
    stream.read_exact(&mut got).unwrap();
    assert_eq!(String::from_utf8_lossy(&got), want);
    stream
}

/// Reads until the peer closes or `limit` passes: the bytes read, and
/// whether it closed.
fn read_to_close(stream: &mut TcpStream, limit: Duration) -> (usize, bool) {
    stream
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let started = Instant::now();
    let mut total = 0;
    let mut buf = vec![0u8; 256 * 1024];
    while started.elapsed() < limit {
        match stream.read(&mut buf) {
            Ok(0) => return (total, true),
            Ok(n) => total += n,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return (total, true),
            Err(_) => {}
        }
    }
    (total, false)
}

/// A message of `len` bytes, as `PUBLISH` would send it to a RESP2
/// subscriber of `channel`.
fn message_frame_len(channel: &str, len: usize) -> usize {
    format!(
        "*3\r\n$7\r\nmessage\r\n${}\r\n{channel}\r\n${len}\r\n",
        channel.len()
    )
    .len()
        + len
        + 2
}

const MESSAGE_LEN: usize = 512 * 1024;
/// 50 MB of messages: past the 32 MB hard limit.
const MESSAGES: usize = 100;

#[test]
fn replay_closes_a_subscriber_that_does_not_read_but_not_one_that_does() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub.jsonl");
    let recorder = Resplay::record(&server.url(), &path, &[]);
    drop(subscriber(recorder.port, "news"));
    thread::sleep(Duration::from_millis(300));
    let (code, log) = recorder.stop();
    assert_eq!(code, 0, "{log:?}");

    let mut replay = Resplay::start(&[
        "replay",
        "--cassette",
        path.to_str().unwrap(),
        "--admin",
        "127.0.0.1:0",
    ]);
    let admin = admin_of(&replay);
    let idle = rss_kib(replay.pid());
    let mut stalled = subscriber(replay.port, "news");
    let reading = subscriber(replay.port, "news");
    let want = MESSAGES * message_frame_len("news", MESSAGE_LEN);
    let reader = thread::spawn(move || {
        let mut reading = reading;
        reading
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut buf = vec![0u8; want];
        reading.read_exact(&mut buf).map(|_| buf.len())
    });
    let message = "m".repeat(MESSAGE_LEN);
    // Published from a few threads at once: a publish waits (at most 2 s)
    // for a stuck subscriber to take it, until the limit closes it.
    let publishers: Vec<_> = (0..5)
        .map(|_| {
            let (admin, message) = (admin.clone(), message.clone());
            thread::spawn(move || {
                for _ in 0..MESSAGES / 5 {
                    ok(
                        &admin,
                        "POST",
                        "/publish",
                        Some(&json!({"channel": "news", "message": message})),
                    );
                }
            })
        })
        .collect();
    let mut peak = idle;
    for p in publishers {
        while !p.is_finished() {
            peak = peak.max(rss_kib(replay.pid()));
            thread::sleep(Duration::from_millis(50));
        }
        p.join().unwrap();
    }
    assert_eq!(reader.join().unwrap().expect("every message"), want);
    let (read, closed) = read_to_close(&mut stalled, Duration::from_secs(20));
    eprintln!(
        "replay: stalled subscriber got {read} of {want} bytes, closed: {closed}; \
         VmRSS {idle} KiB -> peak {peak} KiB"
    );
    assert!(closed, "the stalled subscriber was not closed");
    assert!(read < want, "it got everything ({read} bytes)");
    assert!(
        peak < idle + 2 * RSS_BOUND_KIB,
        "RSS grew from {idle} to {peak} KiB"
    );
    replay.drain_log(Duration::from_millis(300));
    let (code, log) = replay.stop();
    assert_eq!(code, 0, "{log:?}");
    assert!(
        log.iter().any(|l| l.contains("output buffer limits")),
        "{log:?}"
    );
}

#[test]
fn record_leaves_a_subscriber_that_does_not_read_to_redis_own_limit() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub.jsonl");
    let recorder = Resplay::record(&server.url(), &path, &[]);
    let idle = rss_kib(recorder.pid());
    let mut stalled = subscriber(recorder.port, "news");
    let message = "m".repeat(MESSAGE_LEN);
    let mut publisher = Raw::connect(server.port);
    let mut peak = idle;
    let mut receivers = Vec::new();
    for _ in 0..MESSAGES {
        receivers.push(publisher.call(&["PUBLISH", "news", &message]));
        peak = peak.max(rss_kib(recorder.pid()));
    }
    // Redis itself closed the upstream once 32 MB were owed to it: the
    // last messages had no receiver.
    assert_eq!(receivers.first(), Some(&Value::Integer(1)));
    assert_eq!(
        receivers.last(),
        Some(&Value::Integer(0)),
        "Redis never closed the subscriber's upstream"
    );
    let pubsub = publisher.call(&["CLIENT", "LIST", "TYPE", "pubsub"]);
    assert_eq!(pubsub, Value::bulk(""), "a subscriber is left on Redis");
    let want = MESSAGES * message_frame_len("news", MESSAGE_LEN);
    // What the client sees: what was relayed before Redis closed, then the
    // close.
    let (read, closed) = read_to_close(&mut stalled, Duration::from_secs(20));
    eprintln!(
        "record: stalled subscriber got {read} of {want} bytes, closed: {closed}; \
         VmRSS {idle} KiB -> peak {peak} KiB"
    );
    assert!(closed, "the client was not closed after its upstream");
    assert!(read < want);
    assert!(
        peak < idle + RSS_BOUND_KIB,
        "RSS grew from {idle} to {peak} KiB"
    );
    let (code, log) = recorder.stop();
    assert_eq!(code, 0, "{log:?}");
}
