//! Shared test helpers: a real `redis-server` on a free port in a temp dir,
//! and the `resplay` binary run as a child process.

#![allow(dead_code)]

pub mod admin;
pub mod browser;
pub mod cluster;
pub mod cluster_resplay;
pub mod raw;
pub mod servers;
pub mod workload;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use servers::ServerKind;

/// A free TCP port on loopback (bound then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port")
}

/// A `redis-server` child, killed on drop.
pub struct RedisServer {
    pub port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl RedisServer {
    pub fn start() -> RedisServer {
        Self::start_with(&[])
    }

    /// Starts with extra `redis-server` arguments (e.g. `--requirepass`).
    /// Readiness is checked by connecting, not by `PING` (which may need
    /// auth).
    pub fn start_with(extra: &[&str]) -> RedisServer {
        Self::start_kind(ServerKind::Redis7, extra)
    }

    /// Starts a server of the given kind (Redis 7.0, Redis 8.2, Valkey 8.1:
    /// they take the same arguments) with extra arguments; panics with how
    /// to get the binary when it is missing.
    pub fn start_kind(kind: ServerKind, extra: &[&str]) -> RedisServer {
        let binary = kind.binary();
        let dir = tempfile::tempdir().expect("temp dir");
        for _ in 0..5 {
            let port = free_port();
            let child = Command::new(&binary)
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                .arg("--dir")
                .arg(dir.path())
                .args(extra)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("{}: {e}; {}", binary.display(), kind.missing()));
            let mut child = child;
            if wait_for_reply(port, Duration::from_secs(5)) {
                return RedisServer {
                    port,
                    child,
                    _dir: dir,
                };
            }
            // Most likely the port was taken in between: try another.
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("{} did not start", binary.display());
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Kills the server at once (SIGKILL).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// True once `PING` on `port` gets any reply (`+PONG`, or `-NOAUTH`).
pub fn wait_for_reply(port: u16, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
            let mut buf = [0u8; 1];
            if s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// True once `PING` on `port` answers `+PONG`.
pub fn wait_for_ping(port: u16, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
            let mut buf = [0u8; 7];
            if s.write_all(b"PING\r\n").is_ok()
                && s.read_exact(&mut buf).is_ok()
                && &buf == b"+PONG\r\n"
            {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// A running `resplay` child process.
pub struct Resplay {
    pub port: u16,
    child: Option<Child>,
    stderr: mpsc::Receiver<String>,
    /// Every stderr line seen so far.
    pub log: Vec<String>,
}

pub fn resplay_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_resplay"))
}

/// The child's stderr, line by line, read on a thread of its own so the
/// child never blocks on a full pipe.
pub fn stderr_lines(child: &mut Child) -> mpsc::Receiver<String> {
    let stderr = child.stderr.take().expect("stderr is piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits (20 s at most) for resplay's `resplay: listening on ADDR` line and
/// returns its port; every line read, that one included, goes to `log`.
/// `None` if stderr closed or time ran out first.
pub fn wait_for_listening(lines: &mpsc::Receiver<String>, log: &mut Vec<String>) -> Option<u16> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        match lines.recv_timeout(Duration::from_millis(100)) {
            Ok(line) => {
                let port = line
                    .strip_prefix("resplay: listening on ")
                    .map(|addr| addr.rsplit(':').next().unwrap().parse().unwrap());
                log.push(line);
                if port.is_some() {
                    return port;
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return None,
        }
    }
    None
}

impl Resplay {
    /// Starts `resplay <args> --listen 127.0.0.1:0` and waits for its
    /// `listening on` line.
    pub fn start(args: &[&str]) -> Resplay {
        let mut child = Command::new(resplay_bin())
            .args(args)
            .args(["--listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn resplay");
        let stderr = stderr_lines(&mut child);
        let mut log = Vec::new();
        match wait_for_listening(&stderr, &mut log) {
            Some(port) => Resplay {
                port,
                child: Some(child),
                stderr,
                log,
            },
            None => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("resplay did not start: {log:?}")
            }
        }
    }

    /// `resplay record --upstream UPSTREAM --cassette CASSETTE EXTRA…`.
    pub fn record(upstream: &str, cassette: &Path, extra: &[&str]) -> Resplay {
        let mut args = vec![
            "record",
            "--upstream",
            upstream,
            "--cassette",
            cassette.to_str().expect("UTF-8 temp path"),
        ];
        args.extend_from_slice(extra);
        Resplay::start(&args)
    }

    /// `resplay replay --cassette CASSETTE EXTRA…`.
    pub fn replay(cassette: &Path, extra: &[&str]) -> Resplay {
        let mut args = vec![
            "replay",
            "--cassette",
            cassette.to_str().expect("UTF-8 temp path"),
        ];
        args.extend_from_slice(extra);
        Resplay::start(&args)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Sends SIGTERM and waits; returns the exit code and all stderr lines.
    pub fn stop(mut self) -> (i32, Vec<String>) {
        let mut child = self.child.take().unwrap();
        signal(child.id(), "TERM");
        let status = wait_with_limit(&mut child, Duration::from_secs(20));
        let mut log = std::mem::take(&mut self.log);
        while let Ok(line) = self.stderr.recv_timeout(Duration::from_millis(200)) {
            log.push(line);
        }
        (status, log)
    }

    /// Moves the stderr lines that arrive within `wait` to `log`.
    pub fn drain_log(&mut self, wait: Duration) {
        while let Ok(line) = self.stderr.recv_timeout(wait) {
            self.log.push(line);
        }
    }

    /// SIGKILL, no cleanup.
    pub fn kill9(mut self) {
        let mut child = self.child.take().unwrap();
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Resplay {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub fn signal(pid: u32, name: &str) {
    let _ = Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status();
}

fn wait_with_limit(child: &mut Child, limit: Duration) -> i32 {
    let start = Instant::now();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return status.code().unwrap_or(-1);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("process did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Both protocols, for suites that run twice.
pub const PROTOCOLS: [u8; 2] = [2, 3];

/// A `redis` crate client URL speaking RESP2 or RESP3.
pub fn client_url(base: &str, protocol: u8) -> String {
    if protocol == 3 {
        format!("{base}/?protocol=resp3")
    } else {
        base.to_string()
    }
}

/// Reads a cassette file's lines as JSON values (every line must parse).
pub fn cassette_lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .expect("read cassette")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line {l}: {e}")))
        .collect()
}

/// The interaction lines of a cassette, in file order, but for the
/// `CLIENT SETINFO` calls a server before Redis 7.2 refused: the `redis`
/// crate sends them on connect, and a handshake call that failed is kept
/// (replay could not make the error up), but they are not the test's.
pub fn interactions(path: &Path) -> Vec<serde_json::Value> {
    cassette_lines(path)
        .into_iter()
        .filter(|l| l.get("cmd").is_some() && !is_refused_setinfo(l))
        .collect()
}

/// A `CLIENT SETINFO` line answered with an error.
pub fn is_refused_setinfo(line: &serde_json::Value) -> bool {
    let word = |i: usize| {
        line["cmd"][i]
            .as_str()
            .unwrap_or_default()
            .to_ascii_uppercase()
    };
    word(0) == "CLIENT" && word(1) == "SETINFO" && line["reply"].get("-").is_some()
}

/// Runs `resplay ARGS…` in `dir` to its end (no stdin).
pub fn resplay_in(args: &[&str], dir: &Path) -> std::process::Output {
    Command::new(resplay_bin())
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run resplay")
}

/// A finished process's exit code, stdout and stderr, for a failed
/// assertion's message.
pub fn output_text(o: &std::process::Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Runs `redis-cli` with arguments, returning stdout.
pub fn redis_cli(port: u16, args: &[&str], stdin: Option<&str>) -> String {
    let mut child = Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("redis-cli must be installed");
    {
        let mut input = child.stdin.take().unwrap();
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Records pipelined `SET`s through `resplay record` into `path` against
/// `upstream` and SIGKILLs the recorder mid-traffic; how many commands the
/// client had answered (more than none).
pub fn record_then_kill9(upstream: &str, path: &Path) -> u64 {
    let recorder = Resplay::record(upstream, path, &[]);
    let port = recorder.port;
    let traffic = std::thread::spawn(move || {
        let Ok(client) = redis::Client::open(format!("redis://127.0.0.1:{port}")) else {
            return 0;
        };
        let Ok(mut con) = client.get_connection() else {
            return 0;
        };
        let mut done = 0;
        for i in 0..1_000_000u64 {
            let mut pipe = redis::pipe();
            for j in 0..50 {
                pipe.cmd("SET").arg(format!("k{j}")).arg(i);
            }
            if pipe.query::<redis::Value>(&mut con).is_err() {
                break;
            }
            done += 50;
        }
        done
    });
    std::thread::sleep(Duration::from_millis(800));
    recorder.kill9();
    let sent = traffic.join().unwrap();
    assert!(sent > 0);
    sent
}
