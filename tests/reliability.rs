//! Reliability against real processes: many clients, client limits, an
//! upstream that dies and comes back, clients that die or stall, a cassette
//! that cannot be written, a recorder killed with SIGKILL, damaged cassettes,
//! and hostile bytes. Loopback only; every loop is bounded.

mod common;

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use common::raw::Raw;
use common::{
    free_port, interactions, resplay_bin, stderr_lines, wait_for_listening, wait_for_ping,
    RedisServer, Resplay,
};
use resplay::resp::Value;

// ---------------------------------------------------------------- helpers

/// One command as multibulk bytes.
fn command(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n{arg}\r\n", arg.len()).as_bytes());
    }
    out
}

/// A `redis-server` on a given port (for restarting on the same port).
fn spawn_redis_on(port: u16, dir: &Path) -> Child {
    for _ in 0..50 {
        let mut child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed");
        if wait_for_ping(port, Duration::from_secs(5)) {
            return child;
        }
        // The port may still be held by the dying server: try again.
        let _ = child.kill();
        let _ = child.wait();
        thread::sleep(Duration::from_millis(100));
    }
    panic!("redis-server did not start on port {port}");
}

/// Runs `resplay` with `args` to its exit (which must come within `limit`),
/// returning the exit code and stderr lines.
fn run_to_exit(args: &[&str], limit: Duration) -> (i32, Vec<String>) {
    let mut child = Command::new(resplay_bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn resplay");
    let stderr = child.stderr.take().unwrap();
    let reader = thread::spawn(move || {
        BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<_>>()
    });
    let start = Instant::now();
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code().unwrap_or(-1);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("resplay {args:?} still running after {limit:?}");
        }
        thread::sleep(Duration::from_millis(20));
    };
    (code, reader.join().unwrap())
}

/// A resplay child started through `sh` (to set limits first).
struct Wrapped {
    child: Child,
    lines: mpsc::Receiver<String>,
    port: u16,
}

impl Wrapped {
    /// `sh -c SCRIPT resplay ARGS… --listen 127.0.0.1:0`, where the script
    /// ends in `exec "$0" "$@"`; waits for the listening line, or returns the
    /// exit code and stderr if the process ends first.
    fn start(script: &str, args: &[&str]) -> Result<Wrapped, (i32, Vec<String>)> {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg(resplay_bin())
            .args(args)
            .args(["--listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn sh");
        let lines = stderr_lines(&mut child);
        let mut log = Vec::new();
        if let Some(port) = wait_for_listening(&lines, &mut log) {
            return Ok(Wrapped { child, lines, port });
        }
        // Stderr closed: the process is exiting (or wedged).
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(status) = child.try_wait().unwrap() {
                return Err((status.code().unwrap_or(-1), log));
            }
            thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("resplay neither started nor exited: {log:?}");
    }

    /// SIGTERM, then the exit code and the remaining stderr lines.
    fn stop(mut self) -> (i32, Vec<String>) {
        common::signal(self.child.id(), "TERM");
        let start = Instant::now();
        let code = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status.code().unwrap_or(-1);
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "no exit after SIGTERM"
            );
            thread::sleep(Duration::from_millis(20));
        };
        let log = self.lines.try_iter().collect();
        (code, log)
    }
}

impl Drop for Wrapped {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Resident memory of a process in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc status")
}

/// Reads until the peer closes (EOF or reset) or `limit` passes; returns the
/// bytes, whether it closed, and when.
fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (Vec<u8>, bool, Duration) {
    let start = Instant::now();
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    while start.elapsed() < limit {
        let left = limit
            .saturating_sub(start.elapsed())
            .max(Duration::from_millis(1));
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut chunk) {
            Ok(0) => return (got, true, start.elapsed()),
            Ok(n) => got.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return (got, true, start.elapsed())
            }
            Err(_) => {}
        }
    }
    (got, false, start.elapsed())
}

/// The complete lines of a file still being written (a torn last line is
/// left out); each must be JSON.
fn complete_lines(path: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let complete = match text.rfind('\n') {
        Some(end) => &text[..end],
        None => "",
    };
    complete
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line {l}: {e}")))
        .collect()
}

fn error_text(v: &Value) -> String {
    match v {
        Value::Error(b) => String::from_utf8_lossy(b).into_owned(),
        other => panic!("expected an error reply, got {other:?}"),
    }
}

// ------------------------------------------------------------------- load

/// The descriptor limit this test and its children inherit.
fn fd_limit() -> usize {
    let out = Command::new("sh")
        .args(["-c", "ulimit -n"])
        .output()
        .expect("sh");
    let text = String::from_utf8_lossy(&out.stdout);
    match text.trim() {
        "unlimited" => usize::MAX,
        n => n.parse().unwrap_or(1024),
    }
}

/// Client `i`'s pipeline (10 SETs then 10 GETs of its own keys) and the
/// exact reply bytes it must get.
fn load_pipeline(i: usize) -> (Vec<u8>, Vec<u8>) {
    let mut request = Vec::new();
    let mut expected = Vec::new();
    for j in 0..10 {
        request.extend(command(&[
            "SET",
            &format!("c{i}:k{j}"),
            &format!("v{i}:{j}"),
        ]));
        expected.extend_from_slice(b"+OK\r\n");
    }
    for j in 0..10 {
        request.extend(command(&["GET", &format!("c{i}:k{j}")]));
        let value = format!("v{i}:{j}");
        expected.extend(format!("${}\r\n{value}\r\n", value.len()).into_bytes());
    }
    (request, expected)
}

/// Opens `clients` connections, waits until all are open, then has each
/// send its pipeline at once; returns the failures.
fn hammer(port: u16, clients: usize) -> Vec<String> {
    let barrier = Arc::new(Barrier::new(clients));
    let threads: Vec<_> = (0..clients)
        .map(|i| {
            let barrier = barrier.clone();
            thread::Builder::new()
                .stack_size(128 * 1024)
                .spawn(move || -> Result<(), String> {
                    let stream = TcpStream::connect(("127.0.0.1", port));
                    // Every thread reaches the barrier, failed or not.
                    barrier.wait();
                    let mut stream = stream.map_err(|e| format!("client {i}: connect: {e}"))?;
                    stream
                        .set_read_timeout(Some(Duration::from_secs(60)))
                        .unwrap();
                    let (request, expected) = load_pipeline(i);
                    stream
                        .write_all(&request)
                        .map_err(|e| format!("client {i}: write: {e}"))?;
                    let mut got = vec![0u8; expected.len()];
                    stream
                        .read_exact(&mut got)
                        .map_err(|e| format!("client {i}: read: {e}"))?;
                    if got != expected {
                        return Err(format!(
                            "client {i}: got {:?}",
                            String::from_utf8_lossy(&got)
                        ));
                    }
                    Ok(())
                })
                .expect("spawn client thread")
        })
        .collect();
    threads
        .into_iter()
        .filter_map(|t| t.join().unwrap().err())
        .collect()
}

#[test]
fn thousand_concurrent_pipelining_clients_record_then_replay() {
    // The recorder holds two descriptors a client (client and upstream).
    let limit = fd_limit();
    let clients = 1000.min(limit.saturating_sub(200) / 2);
    if clients < 1000 {
        eprintln!("note: fd limit {limit}: running {clients} clients instead of 1000");
    }
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("load.jsonl");
    let recorder = Resplay::record(&server.url(), &path, &[]);
    let started = Instant::now();
    let failures = hammer(recorder.port, clients);
    assert!(failures.is_empty(), "record: {failures:?}");
    eprintln!("record: {clients} clients in {:?}", started.elapsed());
    let (code, log) = recorder.stop();
    assert_eq!(code, 0, "{log:?}");

    let lines = interactions(&path);
    assert_eq!(lines.len(), clients * 20, "one line per command");
    let mut seen = HashSet::new();
    for line in &lines {
        let cmd: Vec<&str> = line["cmd"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        match cmd[0] {
            "SET" => assert_eq!(line["reply"], serde_json::json!({"+": "OK"}), "{line}"),
            "GET" => {
                let (i, j) = cmd[1][1..].split_once(":k").unwrap();
                assert_eq!(line["reply"], format!("v{i}:{j}"), "{line}");
            }
            other => panic!("unexpected command {other}"),
        }
        assert!(seen.insert(cmd.join(" ")), "recorded twice: {cmd:?}");
    }
    // Every connection's 20 commands, in order, under one connection id.
    let conns: HashSet<u64> = lines.iter().map(|l| l["conn"].as_u64().unwrap()).collect();
    assert_eq!(conns.len(), clients);

    let replay = Resplay::replay(&path, &["--strict"]);
    let started = Instant::now();
    let failures = hammer(replay.port, clients);
    assert!(failures.is_empty(), "replay: {failures:?}");
    eprintln!("replay: {clients} clients in {:?}", started.elapsed());
    let (code, log) = replay.stop();
    assert_eq!(code, 0, "strict replay served everything: {log:?}");
}

// ------------------------------------------------------------ max clients

/// Two clients in, the third refused with Redis's words; once one leaves,
/// there is room again.
fn check_max_clients(port: u16) {
    let mut a = Raw::connect(port);
    let mut b = Raw::connect(port);
    assert_eq!(a.call(&["PING"]), Value::simple("PONG"));
    assert_eq!(b.call(&["PING"]), Value::simple("PONG"));
    let mut third = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let (bytes, closed, _) = read_until_closed(&mut third, Duration::from_secs(10));
    assert_eq!(
        String::from_utf8_lossy(&bytes),
        "-ERR max number of clients reached\r\n"
    );
    assert!(closed, "the refused connection must close");
    drop(a);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        c.write_all(b"PING\r\n").unwrap();
        let mut reply = [0u8; 7];
        if c.read_exact(&mut reply).is_ok() && &reply == b"+PONG\r\n" {
            break;
        }
        assert!(Instant::now() < deadline, "no room after a client left");
        thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(b.call(&["PING"]), Value::simple("PONG"));
}

#[test]
fn max_clients_refuses_the_third_connection_in_both_modes() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.jsonl");
    let recorder = Resplay::record(&server.url(), &path, &["--max-clients", "2"]);
    check_max_clients(recorder.port);
    assert_eq!(recorder.stop().0, 0);
    let replay = Resplay::replay(&path, &["--max-clients", "2"]);
    check_max_clients(replay.port);
    assert_eq!(replay.stop().0, 0);
}

// ------------------------------------------------------ upstream restarts

#[test]
fn upstream_killed_and_restarted_on_the_same_port() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut redis = spawn_redis_on(port, dir.path());
    let path = dir.path().join("c.jsonl");
    let upstream = format!("redis://127.0.0.1:{port}");
    let recorder = Resplay::record(&upstream, &path, &[]);

    let mut waiter = Raw::connect(recorder.port);
    waiter.send(&["BLPOP", "k", "0"]);
    // Wait until Redis really holds the blocked client.
    let mut direct = Raw::connect(port);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let info = direct.call(&["INFO", "clients"]);
        let text = String::from_utf8_lossy(info.as_bytes().unwrap()).into_owned();
        if text.contains("blocked_clients:1") {
            break;
        }
        assert!(Instant::now() < deadline, "BLPOP never blocked: {text}");
        thread::sleep(Duration::from_millis(20));
    }
    drop(direct);

    let _ = redis.kill();
    let _ = redis.wait();
    let reply = waiter.read();
    let text = error_text(&reply);
    assert!(text.starts_with("ERR"), "{text}");
    assert!(
        text.contains(&format!("127.0.0.1:{port}")),
        "the error names the upstream: {text}"
    );
    assert!(waiter.is_closed());

    // While the upstream is down, a new client gets an error naming it.
    let mut early = Raw::connect(recorder.port);
    let text = error_text(&early.call(&["GET", "k"]));
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");

    let mut redis = spawn_redis_on(port, dir.path());
    let mut after = Raw::connect(recorder.port);
    assert_eq!(after.call(&["SET", "k", "v"]), Value::simple("OK"));
    assert_eq!(after.call(&["GET", "k"]), Value::bulk("v"));
    drop(after);
    let (code, log) = recorder.stop();
    assert_eq!(code, 0, "{log:?}");
    let lines = interactions(&path);
    assert!(
        lines
            .iter()
            .any(|l| l["cmd"] == serde_json::json!(["GET", "k"]) && l["reply"] == "v"),
        "{lines:?}"
    );
    let _ = redis.kill();
    let _ = redis.wait();
}

// --------------------------------------------------- client dies midway

#[test]
fn client_killed_mid_pipeline_leaves_its_answered_commands_in_the_cassette() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.jsonl");
    let recorder = Resplay::record(&server.url(), &path, &[]);
    let mut other = Raw::connect(recorder.port);
    assert_eq!(other.call(&["SET", "other", "1"]), Value::simple("OK"));
    let big = "b".repeat(20_000);
    assert_eq!(other.call(&["SET", "big", &big]), Value::simple("OK"));
    // A client that pipelines 2 MB worth of replies and dies unread.
    let mut bytes = Vec::new();
    for _ in 0..100 {
        bytes.extend(command(&["GET", "big"]));
    }
    bytes.extend_from_slice(b"*2\r\n$3\r\nGET\r\n$3\r\nbi");
    let mut greedy = TcpStream::connect(("127.0.0.1", recorder.port)).unwrap();
    greedy.write_all(&bytes).unwrap();
    drop(greedy);

    // Half of a 200-command pipeline and a torn frame, then gone without
    // reading a single reply.
    let value = "x".repeat(1000);
    let mut bytes = Vec::new();
    for i in 0..100 {
        bytes.extend(command(&["SET", &format!("d:{i}"), &value]));
    }
    let torn = command(&["SET", "d:100", &value]);
    bytes.extend_from_slice(&torn[..torn.len() / 2]);
    let mut dying = TcpStream::connect(("127.0.0.1", recorder.port)).unwrap();
    dying.write_all(&bytes).unwrap();
    drop(dying);

    // The recorder keeps serving the others.
    for n in 1..=50 {
        assert_eq!(other.call(&["INCR", "counter"]), Value::Integer(n));
    }

    // Redis answered all 100 complete commands...
    let mut direct = Raw::connect(server.port);
    let deadline = Instant::now() + Duration::from_secs(10);
    while direct.call(&["DBSIZE"]) != Value::Integer(103) {
        assert!(Instant::now() < deadline, "Redis did not get all commands");
        thread::sleep(Duration::from_millis(20));
    }
    // ...and each is in the cassette, without waiting for shutdown.
    let dying_keys = |lines: &[serde_json::Value]| -> HashSet<String> {
        lines
            .iter()
            .filter(|l| l["cmd"][0] == "SET" && l["cmd"][1].as_str().unwrap().starts_with("d:"))
            .map(|l| {
                assert_eq!(l["reply"], serde_json::json!({"+": "OK"}), "{l}");
                l["cmd"][1].as_str().unwrap().to_string()
            })
            .collect()
    };
    let expected: HashSet<String> = (0..100).map(|i| format!("d:{i}")).collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let lines = complete_lines(&path);
        let keys = dying_keys(&lines);
        let gets = lines
            .iter()
            .filter(|l| l["cmd"] == serde_json::json!(["GET", "big"]))
            .count();
        if keys == expected && gets == 100 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "cassette has {} of the 100 SETs, {gets} of the 100 GETs",
            keys.len()
        );
        thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(other.call(&["GET", "counter"]), Value::bulk("50"));
    drop(other);
    let (code, log) = recorder.stop();
    assert_eq!(code, 0, "{log:?}");
    let lines = interactions(&path);
    assert_eq!(dying_keys(&lines), expected);
    let gets: Vec<_> = lines
        .iter()
        .filter(|l| l["cmd"] == serde_json::json!(["GET", "big"]))
        .collect();
    assert_eq!(gets.len(), 100);
    assert!(gets.iter().all(|l| l["reply"] == big.as_str()));
    assert_eq!(lines.iter().filter(|l| l["cmd"][0] == "INCR").count(), 50);
}

// ------------------------------------------------ cassette not writable

fn assert_one_clear_line(code: i32, log: &[String], path: &str) {
    assert_ne!(code, 0, "{log:?}");
    let lines: Vec<&String> = log.iter().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line: {log:?}");
    assert!(lines[0].contains(path), "names {path}: {log:?}");
    assert!(!lines[0].contains("listening"), "{log:?}");
}

#[test]
fn unwritable_cassette_path_fails_fast_with_one_line() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let dir_path = dir.path().to_str().unwrap().to_string();
    for path in ["/nonexistent-dir/c.jsonl", dir_path.as_str()] {
        let started = Instant::now();
        let (code, log) = run_to_exit(
            &[
                "record",
                "--upstream",
                &server.url(),
                "--cassette",
                path,
                "--listen",
                "127.0.0.1:0",
            ],
            Duration::from_secs(10),
        );
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_one_clear_line(code, &log, path);
        eprintln!("{path}: {}", log[0]);
    }
}

// ------------------------------------------------------------- disk full

#[test]
fn dev_full_as_cassette_is_refused_or_reported() {
    let server = RedisServer::start();
    let args = [
        "record",
        "--upstream",
        &server.url(),
        "--cassette",
        "/dev/full",
    ];
    match Wrapped::start(r#"exec "$0" "$@""#, &args) {
        Err((code, log)) => {
            // The header write fails at open: refused before listening.
            assert_one_clear_line(code, &log, "/dev/full");
            eprintln!("/dev/full refused at open: {}", log[0]);
            assert!(log.iter().any(|l| l.contains("No space left")), "{log:?}");
        }
        Ok(proxy) => {
            eprintln!("/dev/full opened; checking the loss report");
            let mut c = Raw::connect(proxy.port);
            for i in 0..20 {
                let key = format!("k{i}");
                assert_eq!(c.call(&["SET", &key, "v"]), Value::simple("OK"));
            }
            drop(c);
            let (code, log) = proxy.stop();
            assert_ne!(code, 0, "{log:?}");
            assert!(log.iter().any(|l| l.contains("LOST")), "{log:?}");
        }
    }
}

#[test]
fn disk_full_mid_run_keeps_traffic_flowing_and_reports_the_loss() {
    // A file size limit makes the cassette's writes fail after a few KiB,
    // as a full disk would (SIGXFSZ ignored, so writes fail with EFBIG).
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.jsonl");
    let args = [
        "record",
        "--upstream",
        &server.url(),
        "--cassette",
        path.to_str().unwrap(),
    ];
    let proxy = Wrapped::start(r#"trap '' XFSZ; ulimit -f 8 && exec "$0" "$@""#, &args)
        .unwrap_or_else(|e| panic!("recorder did not start: {e:?}"));
    let mut c = Raw::connect(proxy.port);
    let value = "x".repeat(200);
    for i in 0..300 {
        let key = format!("k{i}");
        assert_eq!(c.call(&["SET", &key, &value]), Value::simple("OK"));
        assert_eq!(c.call(&["STRLEN", &key]), Value::Integer(200));
    }
    drop(c);
    let (code, log) = proxy.stop();
    assert_ne!(code, 0, "{log:?}");
    let summary = log
        .iter()
        .find(|l| l.contains("recorded "))
        .unwrap_or_else(|| panic!("no summary: {log:?}"));
    assert!(summary.contains("LOST"), "{summary}");
    assert!(summary.contains(path.to_str().unwrap()), "{summary}");
    eprintln!("summary: {summary}");
    let size = std::fs::metadata(&path).unwrap().len();
    assert!(size <= 8 * 1024, "file size {size}");
}

/// A 1 MB tmpfs, unmounted on drop; `None` where mounting is refused
/// (not root): the caller then falls back to a file size limit.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount() -> Option<SmallDisk> {
        let dir = tempfile::tempdir().unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
            .arg(dir.path())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        mounted.then_some(SmallDisk { dir })
    }

    /// The script that starts resplay: as it is on the tmpfs, or with
    /// writes past 1 MB failing (EFBIG) without one.
    fn script(disk: &Option<SmallDisk>) -> &'static str {
        match disk {
            Some(_) => r#"exec "$0" "$@""#,
            None => r#"trap '' XFSZ; ulimit -f 1024 && exec "$0" "$@""#,
        }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// Where the cassette goes: on the small disk, or in a fresh directory.
fn small_disk_cassette() -> (Option<SmallDisk>, tempfile::TempDir, PathBuf) {
    let disk = SmallDisk::mount();
    let fallback = tempfile::tempdir().unwrap();
    let dir = disk.as_ref().map_or(fallback.path(), |d| d.dir.path());
    let path = dir.join("c.jsonl");
    eprintln!(
        "cassette on {}",
        if disk.is_some() {
            "a 1 MB tmpfs"
        } else {
            "a 1 MB file size limit"
        }
    );
    (disk, fallback, path)
}

#[test]
fn full_disk_keeps_traffic_flowing_and_the_exit_names_the_loss() {
    let server = RedisServer::start();
    let (disk, _fallback, path) = small_disk_cassette();
    let args = [
        "record",
        "--upstream",
        &server.url(),
        "--cassette",
        path.to_str().unwrap(),
    ];
    let proxy = Wrapped::start(SmallDisk::script(&disk), &args)
        .unwrap_or_else(|e| panic!("recorder did not start: {e:?}"));
    let mut c = Raw::connect(proxy.port);
    let value = "x".repeat(1000);
    // 3 MB of cassette lines for a 1 MB disk: every command still answered.
    for i in 0..1500 {
        let key = format!("k{i}");
        assert_eq!(c.call(&["SET", &key, &value]), Value::simple("OK"));
    }
    let mut late = Raw::connect(proxy.port);
    assert_eq!(late.call(&["GET", "k0"]), Value::bulk(value.clone()));
    drop((c, late));
    let (code, log) = proxy.stop();
    assert_ne!(code, 0, "{log:?}");
    let summary = log
        .iter()
        .find(|l| l.contains("recorded "))
        .unwrap_or_else(|| panic!("no summary: {log:?}"));
    assert!(summary.contains("event(s) LOST"), "{summary}");
    assert!(summary.contains(path.to_str().unwrap()), "{summary}");
    eprintln!("summary: {summary}");
}

#[test]
fn on_write_error_stop_refuses_new_commands_and_connections() {
    let server = RedisServer::start();
    let (disk, _fallback, path) = small_disk_cassette();
    let args = [
        "record",
        "--upstream",
        &server.url(),
        "--cassette",
        path.to_str().unwrap(),
        "--on-write-error",
        "stop",
    ];
    let proxy = Wrapped::start(SmallDisk::script(&disk), &args)
        .unwrap_or_else(|e| panic!("recorder did not start: {e:?}"));
    let mut c = Raw::connect(proxy.port);
    let value = "x".repeat(1000);
    let refused = |v: &Value| {
        matches!(v, Value::Error(_))
            && error_text(v).starts_with("ERR resplay: cannot write cassette")
    };
    let mut first_refused = None;
    for i in 0..3000 {
        let key = format!("k{i}");
        let reply = c.call(&["SET", &key, &value]);
        if refused(&reply) {
            first_refused = Some(i);
            break;
        }
        assert_eq!(reply, Value::simple("OK"), "command {i}");
    }
    let first = first_refused.expect("the disk filled up and commands were refused");
    eprintln!("refused from command {first} on: {}", {
        let v = c.call(&["GET", "k0"]);
        assert!(refused(&v), "{v:?}");
        error_text(&v)
    });
    // A refused command never reached Redis.
    let mut direct = Raw::connect(server.port);
    assert_eq!(
        direct.call(&["EXISTS", &format!("k{first}")]),
        Value::Integer(0)
    );
    // A new connection gets the error for what it sends, then the close.
    let mut fresh = TcpStream::connect(("127.0.0.1", proxy.port)).unwrap();
    fresh.write_all(&command(&["PING"])).unwrap();
    let (bytes, closed, _) = read_until_closed(&mut fresh, Duration::from_secs(10));
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        text.starts_with("-ERR resplay: cannot write cassette"),
        "{text}"
    );
    assert!(closed, "the new connection was not closed");
    let (code, log) = proxy.stop();
    assert_ne!(code, 0, "{log:?}");
    assert!(log.iter().any(|l| l.contains("LOST")), "{log:?}");
}

// ------------------------------------------------------------- kill -9

#[test]
fn recorder_killed_with_sigkill_leaves_a_loadable_cassette() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.jsonl");
    let recorder = Resplay::record(&server.url(), &path, &[]);
    let stop = Arc::new(AtomicBool::new(false));
    let port = recorder.port;
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let stop = stop.clone();
            thread::spawn(move || {
                let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
                    return;
                };
                let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                for i in 0..20_000 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let cmd = command(&["SET", &format!("w{w}:{i}"), &format!("{i}")]);
                    let mut reply = [0u8; 5];
                    if s.write_all(&cmd).is_err() || s.read_exact(&mut reply).is_err() {
                        break;
                    }
                    assert_eq!(&reply, b"+OK\r\n");
                }
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::fs::read(&path).map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count()) < 500 {
        assert!(Instant::now() < deadline, "traffic too slow");
        thread::sleep(Duration::from_millis(10));
    }
    recorder.kill9();
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }

    let lines = complete_lines(&path);
    assert!(lines.len() >= 500);
    let cassette = resplay::cassette::load(&path).expect("loads after kill -9");
    let first = cassette
        .interactions()
        .next()
        .expect("an interaction")
        .clone();
    eprintln!(
        "kill -9: {} complete lines, warnings {:?}",
        lines.len(),
        cassette.warnings
    );

    let replay = Resplay::replay(&path, &[]);
    let mut c = Raw::connect(replay.port);
    let args: Vec<Vec<u8>> = first.cmd.iter().map(|a| a.to_vec()).collect();
    c.send_args(&args);
    assert_eq!(c.read(), first.replies[0]);
    let (code, log) = replay.stop();
    assert_eq!(code, 0, "{log:?}");
}

// ------------------------------------------------------- damaged cassettes

fn small_cassette(dir: &Path) -> (PathBuf, Vec<String>) {
    let server = RedisServer::start();
    let path = dir.join("small.jsonl");
    let recorder = Resplay::record(&server.url(), &path, &[]);
    let mut c = Raw::connect(recorder.port);
    assert_eq!(c.call(&["SET", "a", "1"]), Value::simple("OK"));
    assert_eq!(c.call(&["GET", "a"]), Value::bulk("1"));
    assert_eq!(c.call(&["INCR", "n"]), Value::Integer(1));
    drop(c);
    assert_eq!(recorder.stop().0, 0);
    let text = std::fs::read_to_string(&path).unwrap();
    (path, text.lines().map(str::to_string).collect())
}

#[test]
fn damaged_cassettes_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let (_, lines) = small_cassette(dir.path());
    assert!(lines.len() >= 4, "{lines:?}");

    // A torn last line: replay starts and warns with file:line.
    let torn = dir.path().join("torn.jsonl");
    let last = &lines[lines.len() - 1];
    let mut text = lines.join("\n");
    text.push('\n');
    text.push_str(&last[..last.len() / 2]);
    std::fs::write(&torn, text).unwrap();
    let replay = Resplay::replay(&torn, &[]);
    let at = format!("{}:{}", torn.display(), lines.len() + 1);
    assert!(
        replay
            .log
            .iter()
            .any(|l| l.contains("warning") && l.contains(&at)),
        "warning naming {at}: {:?}",
        replay.log
    );
    let mut c = Raw::connect(replay.port);
    assert_eq!(c.call(&["GET", "a"]), Value::bulk("1"));
    drop(c);
    assert_eq!(replay.stop().0, 0);

    // A corrupt middle line: refused, naming file:line.
    let corrupt = dir.path().join("corrupt.jsonl");
    let mut broken = lines.clone();
    broken[2] = r#"{"conn":1,"seq":"#.to_string();
    std::fs::write(&corrupt, broken.join("\n") + "\n").unwrap();
    let (code, log) = run_to_exit(
        &[
            "replay",
            "--cassette",
            corrupt.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ],
        Duration::from_secs(10),
    );
    assert_ne!(code, 0, "{log:?}");
    let at = format!("{}:3:", corrupt.display());
    assert!(log.iter().any(|l| l.contains(&at)), "{at} in {log:?}");
    assert!(!log.iter().any(|l| l.contains("listening")), "{log:?}");
}

// ---------------------------------------------------------- slow clients

/// A client sending one byte a second, ten clients that declare a 100 MB
/// bulk and send 1 MiB of it, all closed by the idle limit; memory stays flat.
fn check_slow_clients(port: u16, pid: u32, mode: &str) {
    let before = rss_kib(pid);
    let slow = thread::spawn(move || {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let mut w = s.try_clone().unwrap();
        let writer = thread::spawn(move || {
            for b in b"*1\r\n$4\r\nPING\r\n" {
                if w.write_all(&[*b]).is_err() {
                    break;
                }
                thread::sleep(Duration::from_secs(1));
            }
        });
        let (bytes, closed, after) = read_until_closed(&mut s, Duration::from_secs(10));
        let _ = s.shutdown(Shutdown::Both);
        writer.join().unwrap();
        (bytes, closed, after)
    });
    let big: Vec<_> = (0..10)
        .map(|_| {
            thread::spawn(move || {
                let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
                let mut bytes = b"*2\r\n$3\r\nGET\r\n$100000000\r\n".to_vec();
                bytes.extend(std::iter::repeat(b'x').take(1 << 20));
                let _ = s.write_all(&bytes);
                read_until_closed(&mut s, Duration::from_secs(10))
            })
        })
        .collect();
    thread::sleep(Duration::from_millis(1500));
    let peak = rss_kib(pid);
    for (i, t) in big.into_iter().enumerate() {
        let (bytes, closed, after) = t.join().unwrap();
        if i == 0 {
            eprintln!("{mode}: big-bulk client closed after {after:?}");
        }
        assert!(
            closed,
            "{mode}: big-bulk client {i} still open after {after:?}"
        );
        assert!(
            after < Duration::from_secs(7),
            "{mode}: closed after {after:?}"
        );
        assert!(
            bytes.is_empty(),
            "{mode}: {:?}",
            String::from_utf8_lossy(&bytes)
        );
    }
    let (bytes, closed, after) = slow.join().unwrap();
    eprintln!("{mode}: slow client closed after {after:?}");
    assert!(closed, "{mode}: slow client still open after {after:?}");
    assert!(
        after < Duration::from_secs(7),
        "{mode}: closed after {after:?}"
    );
    assert!(
        bytes.is_empty(),
        "{mode}: {:?}",
        String::from_utf8_lossy(&bytes)
    );
    let end = rss_kib(pid);
    eprintln!("{mode}: VmRSS before {before} KiB, peak {peak} KiB, after {end} KiB");
    assert!(peak < before + 64 * 1024, "{mode}: RSS grew to {peak} KiB");
    assert!(end < 128 * 1024, "{mode}: RSS {end} KiB");
    // Others are still served.
    let mut c = Raw::connect(port);
    assert_eq!(c.call(&["PING"]), Value::simple("PONG"));
}

#[test]
fn slow_and_stalled_clients_are_closed_by_the_timeout() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.jsonl");
    let recorder = Resplay::record(&server.url(), &path, &["--timeout-seconds", "2"]);
    check_slow_clients(recorder.port, recorder.pid(), "record");
    assert_eq!(recorder.stop().0, 0);
    let replay = Resplay::replay(&path, &["--timeout-seconds", "2"]);
    check_slow_clients(replay.port, replay.pid(), "replay");
    assert_eq!(replay.stop().0, 0);
}

// ------------------------------------------------------------ NUL bytes

#[test]
fn nul_bytes_hide_newlines_as_in_redis() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.jsonl");
    let recorder = Resplay::record(&server.url(), &path, &[]);
    let replay = Resplay::replay(&path, &[]);
    let mut payload = Vec::new();
    for _ in 0..70 {
        payload.extend(std::iter::repeat(b'A').take(1023));
        payload.extend_from_slice(b"\r\n");
    }
    let cases: &[(&[u8], &str)] = &[
        (b"\x00", "too big inline request"),
        (b"$\x00", "too big inline request"),
        (b"*\x00", "too big mbulk count string"),
    ];
    for port in [server.port, recorder.port, replay.port] {
        for (prefix, text) in cases {
            let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
            let mut bytes = b"PING\r\n".to_vec();
            bytes.extend_from_slice(prefix);
            bytes.extend_from_slice(&payload);
            // The server may close before reading it all.
            let _ = c.write_all(&bytes);
            let (got, closed, _) = read_until_closed(&mut c, Duration::from_secs(10));
            assert_eq!(
                String::from_utf8_lossy(&got),
                format!("+PONG\r\n-ERR Protocol error: {text}\r\n"),
                "port {port} {prefix:?}"
            );
            assert!(closed, "port {port} {prefix:?}: must close");
        }
    }
    let (code, log) = recorder.stop();
    assert_eq!(code, 0, "{log:?}");
}

// ------------------------------------------------- timeouts and pub/sub

/// Redis's `timeout` spares subscribers (they only listen), and so must
/// `--timeout-seconds`.
fn check_subscriber_outlives_timeout(port: u16, publish_to: u16, mode: &str) {
    let mut sub = Raw::connect(port);
    sub.send(&["SUBSCRIBE", "news"]);
    assert_eq!(sub.read().elements().unwrap().len(), 3, "{mode}");
    thread::sleep(Duration::from_millis(3500));
    let mut publisher = Raw::connect(publish_to);
    publisher.call(&["PUBLISH", "news", "hello"]);
    let message = sub.read();
    assert_eq!(
        message.elements().unwrap()[2],
        Value::bulk("hello"),
        "{mode}"
    );
}

#[test]
fn subscribers_are_not_closed_by_the_idle_timeout() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.jsonl");
    let recorder = Resplay::record(&server.url(), &path, &["--timeout-seconds", "2"]);
    check_subscriber_outlives_timeout(recorder.port, recorder.port, "record");
    assert_eq!(recorder.stop().0, 0);
    let replay = Resplay::replay(&path, &["--timeout-seconds", "2"]);
    check_subscriber_outlives_timeout(replay.port, replay.port, "replay");
    assert_eq!(replay.stop().0, 0);
}

/// A client that pipelines without ever reading its replies is held back by
/// the recorder (bounded requests in flight), not buffered without limit.
#[test]
fn client_that_never_reads_costs_bounded_memory() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.jsonl");
    let recorder = Resplay::record(&server.url(), &path, &[]);
    let pid = recorder.pid();
    let mut stream = TcpStream::connect(("127.0.0.1", recorder.port)).unwrap();
    stream
        .set_write_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let before = rss_kib(pid);
    // 64-byte GET replies, never read: writes must eventually block.
    let value = "v".repeat(64);
    let mut setup = Raw::connect(recorder.port);
    setup.call(&["SET", "k", &value]);
    let batch = b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n".repeat(10_000);
    let mut sent = 0usize;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(20) {
        match stream.write_all(&batch) {
            Ok(()) => sent += 10_000,
            Err(_) => break, // blocked: back-pressure reached the client
        }
    }
    let peak = rss_kib(pid);
    eprintln!("sent {sent} GETs unread; VmRSS {before} KiB -> {peak} KiB");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "writes never blocked"
    );
    assert!(peak < before + 256 * 1024, "RSS grew to {peak} KiB");
    drop(stream);
    assert_eq!(setup.call(&["GET", "k"]), Value::bulk(value.clone()));
}
