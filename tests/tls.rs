//! TLS on both sides of resplay, against a real TLS `redis-server` and real
//! clients (`redis-cli --tls`, redis-py, ioredis), with certificates made at
//! run time: a CA, a server certificate for localhost/127.0.0.1, a client
//! certificate, and an unrelated CA (with its own client certificate) for
//! the failure cases.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{free_port, resplay_bin, RedisServer, Resplay};

// ---------------------------------------------------------------- certificates

/// PEM files in a temp dir.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let ca = make_ca("resplay test CA");
        let other = make_ca("unrelated CA");
        let write = |name: &str, text: String| std::fs::write(dir.path().join(name), text).unwrap();
        write("ca.pem", ca.pem());
        write("other-ca.pem", other.pem());
        let (cert, key) = leaf(&ca, rcgen::ExtendedKeyUsagePurpose::ServerAuth, "localhost");
        write("server.pem", cert);
        write("server.key", key);
        let (cert, key) = leaf(&ca, rcgen::ExtendedKeyUsagePurpose::ClientAuth, "client");
        write("client.pem", cert);
        write("client.key", key);
        let (cert, key) = leaf(&other, rcgen::ExtendedKeyUsagePurpose::ClientAuth, "client");
        write("other-client.pem", cert);
        write("other-client.key", key);
        Pki { dir }
    }

    /// A file's path as a string.
    fn p(&self, name: &str) -> String {
        self.dir.path().join(name).to_str().unwrap().to_string()
    }

    fn dir(&self) -> &Path {
        self.dir.path()
    }
}

fn make_ca(name: &str) -> rcgen::CertifiedIssuer<'static, rcgen::KeyPair> {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    rcgen::CertifiedIssuer::self_signed(params, key).unwrap()
}

/// A certificate for localhost and 127.0.0.1 signed by `ca`, and its key.
fn leaf(
    ca: &rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
    usage: rcgen::ExtendedKeyUsagePurpose,
    cn: &str,
) -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params =
        rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    params.extended_key_usages = vec![usage];
    let cert = params.signed_by(&key, ca).unwrap();
    (cert.pem(), key.serialize_pem())
}

// ---------------------------------------------------------------- TLS Redis

/// A `redis-server` serving only TLS, killed on drop.
struct TlsRedis {
    port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl TlsRedis {
    /// With `--tls-auth-clients yes` when `mutual`.
    fn start(pki: &Pki, mutual: bool) -> TlsRedis {
        let dir = tempfile::tempdir().unwrap();
        for _ in 0..5 {
            let port = free_port();
            let mut child = Command::new("redis-server")
                .args(["--port", "0", "--bind", "127.0.0.1"])
                .args(["--tls-port", &port.to_string()])
                .args(["--tls-cert-file", &pki.p("server.pem")])
                .args(["--tls-key-file", &pki.p("server.key")])
                .args(["--tls-ca-cert-file", &pki.p("ca.pem")])
                .args(["--tls-auth-clients", if mutual { "yes" } else { "no" }])
                .args(["--save", "", "--appendonly", "no"])
                .arg("--dir")
                .arg(dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server must be installed (.ci/run installs it)");
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                let mut args = vec!["--tls", "--cacert", &pki.p("ca.pem")]
                    .into_iter()
                    .map(String::from)
                    .collect::<Vec<_>>();
                args.extend(["--cert", &pki.p("client.pem")].map(String::from));
                args.extend(["--key", &pki.p("client.key")].map(String::from));
                args.push("ping".into());
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                if cli(port, &args).0.trim() == "PONG" {
                    return TlsRedis {
                        port,
                        child,
                        _dir: dir,
                    };
                }
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("redis-server with TLS did not start (Debian's is built with TLS)");
    }

    fn url(&self) -> String {
        format!("rediss://127.0.0.1:{}", self.port)
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

// ---------------------------------------------------------------- clients

/// `redis-cli -p PORT ARGS…` with a time limit: (stdout, stderr).
fn cli(port: u16, args: &[&str]) -> (String, String) {
    let out = run_limited(
        Command::new("redis-cli")
            .args(["-p", &port.to_string()])
            .args(args),
        Duration::from_secs(15),
    );
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `redis-cli --tls --cacert CA` and an optional client certificate.
fn cli_tls(port: u16, ca: &str, client: Option<(&str, &str)>, args: &[&str]) -> (String, String) {
    let mut all = vec!["--tls", "--cacert", ca];
    if let Some((cert, key)) = client {
        all.extend(["--cert", cert, "--key", key]);
    }
    all.extend_from_slice(args);
    cli(port, &all)
}

/// Runs a command to completion, killing it past `limit` (a test never
/// hangs on a client that waits forever).
fn run_limited(cmd: &mut Command, limit: Duration) -> Output {
    let child = cmd
        .current_dir(repo())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            common::signal(pid, "KILL");
            panic!("{cmd:?} did not finish within {limit:?}");
        }
    }
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[derive(Clone, Copy, Debug)]
enum Client {
    Python,
    Node,
}

impl Client {
    fn program(self) -> Vec<&'static str> {
        match self {
            Client::Python => {
                let ok = Command::new("python3")
                    .args(["-c", "import redis"])
                    .status()
                    .is_ok_and(|s| s.success());
                assert!(
                    ok,
                    "redis-py is not installed: run `pip install redis` (.ci/run does)"
                );
                vec!["python3", "tests/clients/app.py"]
            }
            Client::Node => {
                assert!(
                    repo()
                        .join("tests/clients/node/node_modules/ioredis")
                        .exists(),
                    "ioredis is not installed: run `npm install --prefix tests/clients/node` (.ci/run does)"
                );
                vec!["node", "tests/clients/node/app.js"]
            }
        }
    }

    /// Runs the program against `url`, trusting `ca` (and showing a client
    /// certificate) when the URL is rediss://; returns its output.
    fn run(self, url: &str, ca: Option<&str>, client: Option<(&str, &str)>) -> String {
        let program = self.program();
        let mut cmd = Command::new(program[0]);
        cmd.args(&program[1..]).env("REDIS_URL", url);
        if let Some(ca) = ca {
            cmd.env("TLS_CA", ca);
        }
        if let Some((cert, key)) = client {
            cmd.env("TLS_CERT", cert).env("TLS_KEY", key);
        }
        let out = run_limited(&mut cmd, Duration::from_secs(30));
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{self:?} against {url}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("hello"), "{stdout}");
        stdout
    }
}

/// A URL for a resplay listener.
fn url(tls: bool, port: u16) -> String {
    format!(
        "{}://127.0.0.1:{port}",
        if tls { "rediss" } else { "redis" }
    )
}

/// The cassette's header line.
fn header(cassette: &Path) -> serde_json::Value {
    common::cassette_lines(cassette).remove(0)
}

/// Sends raw bytes over plain TCP and reads until the peer closes (5 s at
/// most): what a client that does not speak TLS sees.
fn raw_exchange(port: u16, send: &[u8]) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(send).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// Waits (10 s at most) for a resplay stderr line containing `needle`.
fn wait_for_log(resplay: &mut Resplay, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Some(line) = resplay.log.iter().find(|l| l.contains(needle)) {
            return line.clone();
        }
        resplay.drain_log(Duration::from_millis(100));
    }
    panic!("no log line with {needle:?}: {:?}", resplay.log);
}

// ---------------------------------------------------------------- the four combinations

/// Records `client` through resplay (TLS listener when `listen_tls`) to the
/// TLS Redis, stops Redis, replays from a TLS listener (files, or
/// self-signed when `self_signed`): the same output both times, and the
/// header says tls.
fn record_tls_upstream_then_replay_tls(client: Client, listen_tls: bool, self_signed: bool) {
    let pki = Pki::new();
    let ca = pki.p("ca.pem");
    let cassette = pki.dir().join("c.jsonl");
    let mut redis = TlsRedis::start(&pki, false);
    let upstream = redis.url();
    let mut extra = vec!["--tls-ca-file", &ca];
    let (cert, key) = (pki.p("server.pem"), pki.p("server.key"));
    if listen_tls {
        extra.extend(["--listen-tls-cert", &cert, "--listen-tls-key", &key]);
    }
    let rec = Resplay::record(&upstream, &cassette, &extra);
    let first = client.run(&url(listen_tls, rec.port), Some(&ca), None);
    let (status, log) = rec.stop();
    assert_eq!(status, 0, "{log:?}");
    redis.kill();
    assert_eq!(header(&cassette)["tls"], true);

    let ca_out = pki.p("listener-ca.pem");
    let replay_args: Vec<&str> = if self_signed {
        vec![
            "--strict",
            "--listen-tls",
            "self-signed",
            "--listen-tls-ca-out",
            &ca_out,
        ]
    } else {
        vec![
            "--strict",
            "--listen-tls-cert",
            &cert,
            "--listen-tls-key",
            &key,
        ]
    };
    let rep = Resplay::replay(&cassette, &replay_args);
    let trust = if self_signed { &ca_out } else { &ca };
    let second = client.run(&url(true, rep.port), Some(trust), None);
    let (status, log) = rep.stop();
    assert_eq!(status, 0, "{log:?}");
    assert_eq!(second, first);
}

#[test]
fn python_plain_listener_to_tls_redis_then_tls_replay() {
    record_tls_upstream_then_replay_tls(Client::Python, false, false);
}

#[test]
fn python_tls_to_tls_then_self_signed_replay() {
    record_tls_upstream_then_replay_tls(Client::Python, true, true);
}

#[test]
fn node_plain_listener_to_tls_redis_then_self_signed_replay() {
    record_tls_upstream_then_replay_tls(Client::Node, false, true);
}

#[test]
fn node_tls_to_tls_then_tls_replay() {
    record_tls_upstream_then_replay_tls(Client::Node, true, false);
}

/// TLS listener, plain Redis: the header has no tls; the cassette replays
/// on a plain listener just as well.
#[test]
fn tls_listener_to_plain_redis_both_clients() {
    let pki = Pki::new();
    let ca = pki.p("ca.pem");
    let (cert, key) = (pki.p("server.pem"), pki.p("server.key"));
    for client in [Client::Python, Client::Node] {
        let cassette = pki.dir().join(format!("{client:?}.jsonl"));
        let mut redis = RedisServer::start();
        let rec = Resplay::record(
            &redis.url(),
            &cassette,
            &["--listen-tls-cert", &cert, "--listen-tls-key", &key],
        );
        let first = client.run(&url(true, rec.port), Some(&ca), None);
        let (status, log) = rec.stop();
        assert_eq!(status, 0, "{log:?}");
        redis.kill();
        assert!(
            header(&cassette).get("tls").is_none(),
            "{:?}",
            header(&cassette)
        );

        let rep = Resplay::replay(&cassette, &["--strict"]);
        let second = client.run(&url(false, rep.port), None, None);
        let (status, log) = rep.stop();
        assert_eq!(status, 0, "{log:?}");
        assert_eq!(second, first);
    }
}

/// `resplay run` with a TLS listener exports a rediss:// REDIS_URL; redis-py
/// `from_url` with `ssl_ca_certs` uses it, recording against the TLS Redis
/// and then replaying.
#[test]
fn run_with_tls_listener_exports_rediss_url() {
    let pki = Pki::new();
    let ca = pki.p("ca.pem");
    let ca_out = pki.p("listener-ca.pem");
    let cassette = pki.p("run.jsonl");
    Client::Python.program();
    let mut redis = TlsRedis::start(&pki, false);
    let upstream = redis.url();
    let step = "echo url ${REDIS_URL%%:*}; python3 tests/clients/app.py";
    let run = |upstream: Option<&str>| {
        let mut cmd = Command::new(resplay_bin());
        cmd.args(["run", "--cassette", &cassette]);
        if let Some(upstream) = upstream {
            cmd.args(["--upstream", upstream, "--tls-ca-file", &ca]);
        } else {
            cmd.arg("--strict");
        }
        cmd.args([
            "--listen-tls",
            "self-signed",
            "--listen-tls-ca-out",
            &ca_out,
        ])
        .args(["--", "sh", "-c", step])
        .env("TLS_CA", &ca_out);
        let out = run_limited(&mut cmd, Duration::from_secs(60));
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        );
        assert!(out.status.success(), "{stdout}{stderr}");
        (stdout, stderr)
    };
    let (first, log) = run(Some(&upstream));
    assert!(log.contains("recorded"), "{log}");
    assert!(first.starts_with("url rediss\n"), "{first}");
    assert!(first.contains("hello"), "{first}");
    redis.kill();
    let (second, log) = run(None);
    assert!(log.contains("0 missed, 0 unused"), "{log}");
    assert_eq!(second, first);
    assert_eq!(
        header(Path::new(&cassette))["tls"],
        true,
        "the header records the upstream's TLS"
    );
}

// ---------------------------------------------------------------- mutual TLS

/// An upstream requiring client certificates: `--tls-cert/--tls-key` work;
/// without them every client gets an error naming the upstream and the
/// reason, and resplay goes on serving.
#[test]
fn mutual_tls_upstream() {
    let pki = Pki::new();
    let ca = pki.p("ca.pem");
    let (cert, key) = (pki.p("client.pem"), pki.p("client.key"));
    let redis = TlsRedis::start(&pki, true);
    let cassette = pki.dir().join("m.jsonl");
    let rec = Resplay::record(
        &redis.url(),
        &cassette,
        &["--tls-ca-file", &ca, "--tls-cert", &cert, "--tls-key", &key],
    );
    assert_eq!(cli(rec.port, &["set", "k", "v"]).0.trim(), "OK");
    let out = Client::Python.run(&url(false, rec.port), None, None);
    assert!(out.contains("hello"));
    let (status, log) = rec.stop();
    assert_eq!(status, 0, "{log:?}");

    // No client certificate.
    let cassette = pki.dir().join("none.jsonl");
    let rec = Resplay::record(&redis.url(), &cassette, &["--tls-ca-file", &ca]);
    for _ in 0..2 {
        let reply = raw_exchange(rec.port, b"PING\r\n");
        assert!(
            reply.starts_with(&format!(
                "-ERR resplay: upstream 127.0.0.1:{} unreachable: TLS handshake failed: ",
                redis.port
            )),
            "{reply}"
        );
        assert!(reply.contains("CertificateRequired"), "{reply}");
        eprintln!("{}", reply.trim_end());
    }
    let (status, log) = rec.stop();
    assert_eq!(status, 0, "{log:?}");
    // The refused client's command never reached Redis, nor the cassette.
    assert!(common::interactions(&cassette).is_empty());
}

/// A listener with `--listen-tls-client-ca`: a client with a certificate
/// from that CA is served; one without a certificate, or with one from
/// another CA, is refused and the log names it; others go on being served.
#[test]
fn mutual_tls_listener() {
    let pki = Pki::new();
    let ca = pki.p("ca.pem");
    let redis = RedisServer::start();
    let cassette = pki.dir().join("l.jsonl");
    let mut rec = Resplay::record(
        &redis.url(),
        &cassette,
        &[
            "--listen-tls-cert",
            &pki.p("server.pem"),
            "--listen-tls-key",
            &pki.p("server.key"),
            "--listen-tls-client-ca",
            &ca,
        ],
    );
    let good = (pki.p("client.pem"), pki.p("client.key"));
    let good = Some((good.0.as_str(), good.1.as_str()));
    let (out, err) = cli_tls(rec.port, &ca, good, &["set", "k", "v"]);
    assert_eq!(out.trim(), "OK", "{err}");
    let out = Client::Node.run(&url(true, rec.port), Some(&ca), good);
    assert!(out.contains("hello"));
    let out = Client::Python.run(&url(true, rec.port), Some(&ca), good);
    assert!(out.contains("hello"));

    // No client certificate.
    let (out, err) = cli_tls(rec.port, &ca, None, &["get", "k"]);
    assert!(!out.contains('v'), "{out}{err}");
    let line = wait_for_log(&mut rec, "TLS handshake failed");
    assert!(line.contains("client 127.0.0.1:"), "{line}");
    eprintln!("{line}");
    assert!(
        line.contains("a client certificate signed by the client CA is required"),
        "{line}"
    );
    // A certificate from another CA.
    let bad = (pki.p("other-client.pem"), pki.p("other-client.key"));
    let (out, err) = cli_tls(rec.port, &ca, Some((&bad.0, &bad.1)), &["get", "k"]);
    assert!(!out.contains('v'), "{out}{err}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline
        && rec
            .log
            .iter()
            .filter(|l| l.contains("TLS handshake failed"))
            .count()
            < 2
    {
        rec.drain_log(Duration::from_millis(100));
    }
    let failures: Vec<&String> = rec
        .log
        .iter()
        .filter(|l| l.contains("TLS handshake failed"))
        .collect();
    assert_eq!(failures.len(), 2, "{:?}", rec.log);
    assert!(failures[1].contains("UnknownIssuer"), "{}", failures[1]);
    eprintln!("{}", failures[1]);

    // Still serving.
    let (out, err) = cli_tls(rec.port, &ca, good, &["get", "k"]);
    assert_eq!(out.trim(), "v", "{err}");
    let (status, log) = rec.stop();
    assert_eq!(status, 0, "{log:?}");
}

// ---------------------------------------------------------------- failures

/// Starts `resplay record` to the TLS Redis with `extra`, and checks that
/// two clients in turn each get `-ERR resplay: upstream ADDR unreachable:
/// TLS handshake failed: …` containing `reason`, and that the log says it
/// too.
fn upstream_refused(extra: &[&str], reason: &str) -> String {
    let pki = Pki::new();
    let redis = TlsRedis::start(&pki, false);
    let ca = pki.p("ca.pem");
    let other = pki.p("other-ca.pem");
    let extra: Vec<&str> = extra
        .iter()
        .map(|a| match *a {
            "CA" => ca.as_str(),
            "OTHER_CA" => other.as_str(),
            a => a,
        })
        .collect();
    let cassette = pki.dir().join("f.jsonl");
    let rec = Resplay::record(&redis.url(), &cassette, &extra);
    let expected = format!(
        "-ERR resplay: upstream 127.0.0.1:{} unreachable: TLS handshake failed: ",
        redis.port
    );
    let mut first = String::new();
    for _ in 0..2 {
        let started = Instant::now();
        let reply = raw_exchange(rec.port, b"PING\r\n");
        assert!(started.elapsed() < Duration::from_secs(4), "slow: {reply}");
        assert!(reply.starts_with(&expected), "{reply}");
        assert!(reply.contains(reason), "{reply}");
        first = reply;
    }
    // redis-cli shows the same text.
    let (out, _) = cli(rec.port, &["ping"]);
    assert!(out.contains(reason), "{out}");
    let (status, log) = rec.stop();
    assert_eq!(status, 0);
    assert!(
        log.iter()
            .any(|l| l.contains("TLS handshake failed") && l.contains(reason)),
        "{log:?}"
    );
    first.trim_end().to_string()
}

#[test]
fn upstream_with_the_wrong_ca() {
    let line = upstream_refused(&["--tls-ca-file", "OTHER_CA"], "UnknownIssuer");
    eprintln!("{line}");
}

#[test]
fn upstream_with_the_wrong_name() {
    let line = upstream_refused(
        &["--tls-ca-file", "CA", "--tls-server-name", "wrong.example"],
        "certificate not valid for name \"wrong.example\"",
    );
    eprintln!("{line}");
}

/// A client that does not speak TLS to a TLS listener is told so, in
/// plaintext, and the connection closed; TLS clients go on being served.
#[test]
fn plaintext_client_on_a_tls_listener() {
    let pki = Pki::new();
    let ca_out = pki.p("listener-ca.pem");
    let cassette = pki.dir().join("p.jsonl");
    std::fs::write(
        &cassette,
        "{\"resplay\":1,\"created\":\"x\"}\n{\"conn\":1,\"seq\":0,\"cmd\":[\"GET\",\"k\"],\"reply\":\"v\"}\n",
    )
    .unwrap();
    let mut rep = Resplay::replay(
        &cassette,
        &[
            "--listen-tls",
            "self-signed",
            "--listen-tls-ca-out",
            &ca_out,
        ],
    );
    let started = Instant::now();
    let reply = raw_exchange(rep.port, b"*1\r\n$4\r\nPING\r\n");
    assert!(started.elapsed() < Duration::from_secs(4));
    assert_eq!(
        reply,
        "-ERR resplay: this port requires TLS (connect with rediss:// or --tls)\r\n"
    );
    let (out, _) = cli(rep.port, &["get", "k"]);
    assert!(out.contains("this port requires TLS"), "{out}");
    let line = wait_for_log(&mut rep, "plaintext on the TLS listener");
    assert!(line.contains("client 127.0.0.1:"), "{line}");
    // A client that connects and says nothing does not hold the others up.
    let _silent = TcpStream::connect(("127.0.0.1", rep.port)).unwrap();
    let (out, err) = cli_tls(rep.port, &ca_out, None, &["get", "k"]);
    assert_eq!(out.trim(), "v", "{err}");
    let (status, log) = rep.stop();
    assert_eq!(status, 0, "{log:?}");
}

/// Flags that make no sense together are refused at start, naming the
/// flag.
#[test]
fn misused_flags_are_refused_at_start() {
    let pki = Pki::new();
    let cassette = pki.p("x.jsonl");
    let ca = pki.p("ca.pem");
    let check = |args: &[&str], needle: &str| {
        let out = run_limited(
            Command::new(resplay_bin()).args(args),
            Duration::from_secs(15),
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert_eq!(err.matches(needle).count(), 1, "said once: {err}");
    };
    check(
        &[
            "record",
            "--cassette",
            &cassette,
            "--upstream",
            "redis://127.0.0.1:1",
            "--tls-ca-file",
            &ca,
        ],
        "rediss://",
    );
    check(
        &[
            "replay",
            "--cassette",
            &cassette,
            "--listen-tls",
            "self-signed",
        ],
        "--listen-tls-ca-out",
    );
    check(
        &["replay", "--cassette", &cassette, "--listen-tls-cert", &ca],
        "--listen-tls-key",
    );
    check(
        &[
            "record",
            "--cassette",
            &cassette,
            "--upstream",
            "rediss://127.0.0.1:1",
            "--tls-ca-file",
            &pki.p("missing.pem"),
        ],
        "missing.pem",
    );
    check(
        &[
            "record",
            "--cassette",
            &cassette,
            "--upstream",
            "rediss://127.0.0.1:1",
            "--tls-cert",
            &ca,
        ],
        "--tls-cert and --tls-key go together",
    );
    check(
        &[
            "record",
            "--cassette",
            &cassette,
            "--upstream",
            "unix:///tmp/resplay-none.sock",
            "--tls-insecure",
        ],
        "TLS over a Unix socket is not supported",
    );
}

// ---------------------------------------------------------------- config file

/// The same settings as config-file keys (underscores): upstream CA, client
/// certificate, server name; listener certificate and client CA.
#[test]
fn config_file_keys() {
    let pki = Pki::new();
    let redis = TlsRedis::start(&pki, true);
    let config = pki.dir().join("resplay.toml");
    let cassette = pki.dir().join("cfg.jsonl");
    std::fs::write(
        &config,
        format!(
            "upstream = \"{}\"\n\
             tls_ca_file = \"{}\"\n\
             tls_cert = \"{}\"\n\
             tls_key = \"{}\"\n\
             tls_server_name = \"localhost\"\n\
             listen_tls_cert = \"{}\"\n\
             listen_tls_key = \"{}\"\n\
             listen_tls_client_ca = \"{}\"\n",
            redis.url(),
            pki.p("ca.pem"),
            pki.p("client.pem"),
            pki.p("client.key"),
            pki.p("server.pem"),
            pki.p("server.key"),
            pki.p("ca.pem"),
        ),
    )
    .unwrap();
    let rec = Resplay::start(&[
        "--config",
        config.to_str().unwrap(),
        "record",
        "--cassette",
        cassette.to_str().unwrap(),
    ]);
    let ca = pki.p("ca.pem");
    let (cert, key) = (pki.p("client.pem"), pki.p("client.key"));
    let (out, err) = cli_tls(rec.port, &ca, Some((&cert, &key)), &["set", "cfg", "1"]);
    assert_eq!(out.trim(), "OK", "{err}");
    let (out, _) = cli_tls(rec.port, &ca, None, &["get", "cfg"]);
    assert_ne!(out.trim(), "1");
    let (status, log) = rec.stop();
    assert_eq!(status, 0, "{log:?}");
    assert_eq!(header(&cassette)["tls"], true);

    // A self-signed listener from the file.
    let ca_out = pki.p("cfg-ca.pem");
    std::fs::write(
        &config,
        format!("listen_tls = \"self-signed\"\nlisten_tls_ca_out = \"{ca_out}\"\n"),
    )
    .unwrap();
    let rep = Resplay::start(&[
        "--config",
        config.to_str().unwrap(),
        "replay",
        "--cassette",
        cassette.to_str().unwrap(),
    ]);
    let (out, err) = cli_tls(rep.port, &ca_out, None, &["get", "cfg"]);
    assert!(
        out.trim().is_empty() || out.contains("resplay"),
        "{out}{err}"
    );
    let (out, err) = cli_tls(rep.port, &ca_out, None, &["ping"]);
    assert_eq!(out.trim(), "PONG", "{err}");
    let (status, log) = rep.stop();
    assert_eq!(status, 0, "{log:?}");
}

/// `--tls-insecure` records against a server whose CA nobody gave, and says
/// on start that the certificate goes unchecked.
#[test]
fn insecure_upstream_is_warned_about() {
    let pki = Pki::new();
    let redis = TlsRedis::start(&pki, false);
    let cassette = pki.dir().join("i.jsonl");
    let rec = Resplay::record(&redis.url(), &cassette, &["--tls-insecure"]);
    assert_eq!(cli(rec.port, &["set", "k", "v"]).0.trim(), "OK");
    let (status, log) = rec.stop();
    assert_eq!(status, 0, "{log:?}");
    let warning = format!(
        "resplay: warning: --tls-insecure: the certificate of upstream 127.0.0.1:{} is not verified",
        redis.port
    );
    assert!(log.contains(&warning), "{log:?}");
}

/// rediss:// to a Redis that does not speak TLS (it takes the ClientHello
/// for the start of an inline command and waits): after the connect
/// timeout, an error naming the upstream and the handshake.
#[test]
fn rediss_to_a_plaintext_redis() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("p.jsonl");
    let rec = Resplay::record(
        &format!("rediss://127.0.0.1:{}", redis.port),
        &cassette,
        &["--tls-insecure", "--timeout-seconds", "1"],
    );
    let started = Instant::now();
    let reply = raw_exchange(rec.port, b"PING\r\n");
    assert!(started.elapsed() < Duration::from_secs(4), "{reply}");
    assert_eq!(
        reply,
        format!(
            "-ERR resplay: upstream 127.0.0.1:{} unreachable: TLS handshake failed: no answer within 1s (is it a TLS port?)\r\n",
            redis.port
        ),
    );
    eprintln!("{}", reply.trim_end());
    let (status, _) = rec.stop();
    assert_eq!(status, 0);
}

/// On a machine with no CA bundle (a slim container), `--tls-ca-file` (or
/// `--tls-insecure`) is all a rediss:// upstream needs; without either,
/// resplay refuses to start and says what to pass.
#[test]
fn no_system_roots_needs_only_a_ca_file() {
    let pki = Pki::new();
    let redis = TlsRedis::start(&pki, false);
    let cassette = pki.p("n.jsonl");
    let ca = pki.p("ca.pem");
    let upstream = redis.url();
    let resplay = |extra: &[&str]| {
        let mut cmd = Command::new(resplay_bin());
        cmd.args(["record", "--cassette", &cassette, "--upstream", &upstream])
            .args(extra)
            .args(["--listen", "127.0.0.1:0"])
            .env("SSL_CERT_FILE", "/nonexistent/resplay-test.pem")
            .env("SSL_CERT_DIR", "/nonexistent/resplay-test");
        cmd
    };
    let mut child = resplay(&["--tls-ca-file", &ca])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = common::stderr_lines(&mut child);
    let mut log = Vec::new();
    let port = common::wait_for_listening(&lines, &mut log);
    let answer = port.map(|port| cli(port, &["set", "k", "v"]).0);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(answer.as_deref().map(str::trim), Some("OK"), "{log:?}");

    let out = run_limited(&mut resplay(&[]), Duration::from_secs(15));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("upstream TLS: no system root certificates")
            && err.contains("pass --tls-ca-file"),
        "{err}"
    );
}

#[test]
fn conform_drives_a_cassette_against_a_tls_target() {
    // Recorded from a plain Redis; conformed against one that speaks only
    // TLS, with mutual TLS, through the same --tls-* flags as record.
    let pki = Pki::new();
    let plain = RedisServer::start();
    let cassette = pki.dir().join("plain.jsonl");
    let rec = Resplay::record(&plain.url(), &cassette, &[]);
    assert_eq!(cli(rec.port, &["set", "k", "v"]).0.trim(), "OK");
    assert_eq!(cli(rec.port, &["get", "k"]).0.trim(), "v");
    let (status, log) = rec.stop();
    assert_eq!(status, 0, "{log:?}");

    let tls = TlsRedis::start(&pki, true);
    let conform = |extra: &[&str]| {
        let mut cmd = Command::new(resplay_bin());
        cmd.arg("conform")
            .arg(&cassette)
            .args(["--target", &tls.url(), "--tls-ca-file", &pki.p("ca.pem")])
            .args(extra)
            .stdin(Stdio::null());
        run_limited(&mut cmd, Duration::from_secs(30))
    };
    let out = conform(&[
        "--tls-cert",
        &pki.p("client.pem"),
        "--tls-key",
        &pki.p("client.key"),
    ]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("no differences"), "{text}");
    // Without the client certificate the target refuses: no run (exit 2).
    let out = conform(&[]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("TLS handshake failed"),
        "{out:?}"
    );
}
