//! The control API is a door a web page must not open: requests naming
//! another host (DNS rebinding) or coming from another origin are refused,
//! writes are JSON posts only, no CORS header ever goes out, a token (when
//! set) is needed by every client, and the API is not served beyond
//! loopback without one. Against a real `resplay replay` process and its
//! own `resplay ctl`.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{resplay_bin, Resplay};

fn cassette() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/cassettes/quickstart.jsonl")
}

fn admin_of(resplay: &Resplay) -> String {
    resplay
        .log
        .iter()
        .find_map(|l| l.strip_prefix("resplay: control API on http://"))
        .unwrap_or_else(|| panic!("no control API line in {:?}", resplay.log))
        .to_string()
}

/// An answer: status, lower-cased header lines, body.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn cors(&self) -> Vec<&(String, String)> {
        self.headers
            .iter()
            .filter(|(k, _)| k.starts_with("access-control-"))
            .collect()
    }
}

/// One raw HTTP/1.1 request with exactly `headers` (a browser's, forged).
fn http(admin: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Answer {
    let mut stream = TcpStream::connect(admin).expect("connect to the control API");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nconnection: close\r\n");
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str(&format!("content-length: {}\r\n\r\n{body}", body.len()));
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let (head, body) = answer
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("not HTTP: {answer}"));
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Answer {
        status,
        headers,
        body: body.to_string(),
    }
}

fn mode(admin: &str, auth: &[(&str, &str)]) -> String {
    let mut headers = vec![("host", admin)];
    headers.extend_from_slice(auth);
    let answer = http(admin, "GET", "/status", &headers, "");
    assert_eq!(answer.status, 200, "{}", answer.body);
    let status: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    status["mode"].as_str().unwrap().to_string()
}

fn faults(admin: &str, auth: &[(&str, &str)]) -> serde_json::Value {
    let mut headers = vec![("host", admin)];
    headers.extend_from_slice(auth);
    let answer = http(admin, "GET", "/faults", &headers, "");
    assert_eq!(answer.status, 200, "{}", answer.body);
    serde_json::from_str(&answer.body).unwrap()
}

#[test]
fn pages_of_other_origins_and_names_change_nothing() {
    let server = Resplay::replay(&cassette(), &["--admin", "127.0.0.1:0"]);
    let admin = admin_of(&server);
    let port = admin.rsplit(':').next().unwrap();
    let evil_host = format!("evil.example:{port}");
    let own_origin = format!("http://{admin}");
    let switch = r#"{"mode":"idle"}"#;
    let fault = r#"{"rule":"GET * => error=\"ERR injected\""}"#;

    // A cross-origin form post (text/plain needs no preflight).
    let form = http(
        &admin,
        "POST",
        "/mode",
        &[
            ("host", &admin),
            ("content-type", "text/plain"),
            ("origin", "http://evil.example"),
        ],
        switch,
    );
    assert_eq!(form.status, 403, "{}", form.body);
    // The same without Origin (a non-browser, or an old one): still no
    // state change from a form kind.
    for kind in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ] {
        let answer = http(
            &admin,
            "POST",
            "/mode",
            &[("host", &admin), ("content-type", kind)],
            switch,
        );
        assert_eq!(answer.status, 415, "{kind}: {}", answer.body);
    }
    let bare = http(&admin, "POST", "/reset", &[("host", &admin)], "");
    assert_eq!(bare.status, 415, "a POST without a type: {}", bare.body);
    // JSON from another origin (what a page's fetch would send after a
    // preflight it does not get).
    let cross = http(
        &admin,
        "POST",
        "/faults",
        &[
            ("host", &admin),
            ("content-type", "application/json"),
            ("origin", "http://evil.example"),
        ],
        fault,
    );
    assert_eq!(cross.status, 403, "{}", cross.body);
    let null_origin = http(
        &admin,
        "POST",
        "/faults",
        &[
            ("host", &admin),
            ("content-type", "application/json"),
            ("origin", "null"),
        ],
        fault,
    );
    assert_eq!(null_origin.status, 403, "{}", null_origin.body);
    let cross_site = http(
        &admin,
        "GET",
        "/status",
        &[("host", &admin), ("sec-fetch-site", "cross-site")],
        "",
    );
    assert_eq!(cross_site.status, 403, "{}", cross_site.body);
    // DNS rebinding: the page's own name, resolved to 127.0.0.1, makes its
    // requests same-origin; the Host header still names it.
    for (method, path, body) in [("GET", "/status", ""), ("POST", "/mode", switch)] {
        let answer = http(
            &admin,
            method,
            path,
            &[
                ("host", &evil_host),
                ("content-type", "application/json"),
                ("origin", &format!("http://{evil_host}")),
            ],
            body,
        );
        assert_eq!(answer.status, 403, "{method} {path}: {}", answer.body);
        assert!(answer.body.contains("DNS rebinding"), "{}", answer.body);
    }
    // A preflight gets nothing that would let the real request through.
    let preflight = http(
        &admin,
        "OPTIONS",
        "/mode",
        &[
            ("host", &admin),
            ("origin", "http://evil.example"),
            ("access-control-request-method", "POST"),
            ("access-control-request-headers", "content-type"),
        ],
        "",
    );
    assert!(preflight.cors().is_empty(), "{:?}", preflight.cors());
    assert!(preflight.status >= 400);

    // Nothing changed.
    assert_eq!(mode(&admin, &[]), "replay");
    assert_eq!(faults(&admin, &[]), serde_json::json!([]));

    // The API's own page (same origin) and plain clients (no Origin) work,
    // and no answer carries a CORS header.
    let own = http(
        &admin,
        "POST",
        "/faults",
        &[
            ("host", &admin),
            ("content-type", "application/json; charset=utf-8"),
            ("origin", &own_origin),
            ("sec-fetch-site", "same-origin"),
        ],
        fault,
    );
    assert!(own.status < 300, "{}: {}", own.status, own.body);
    assert!(own.cors().is_empty(), "{:?}", own.cors());
    let local = http(
        &admin,
        "GET",
        "/status",
        &[("host", &format!("localhost:{port}"))],
        "",
    );
    assert_eq!(local.status, 200, "{}", local.body);
    assert!(local.cors().is_empty());
    assert_eq!(faults(&admin, &[]).as_array().unwrap().len(), 1);
    server.stop();
}

/// Runs `resplay ctl` with `args` and the environment `env`.
fn ctl(args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let mut command = Command::new(resplay_bin());
    command
        .arg("ctl")
        .args(args)
        .env_remove("RESPLAY_ADMIN_TOKEN");
    for (k, v) in env {
        command.env(k, v);
    }
    let out = command.output().expect("run resplay ctl");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn a_token_is_needed_by_every_client() {
    let server = Resplay::replay(
        &cassette(),
        &["--admin", "127.0.0.1:0", "--admin-token", "s3cret-token"],
    );
    let admin = admin_of(&server);

    let none = http(&admin, "GET", "/status", &[("host", &admin)], "");
    assert_eq!(none.status, 401, "{}", none.body);
    assert_eq!(none.header("www-authenticate"), Some("Bearer"));
    let wrong = http(
        &admin,
        "GET",
        "/status",
        &[("host", &admin), ("authorization", "Bearer s3cret-tokem")],
        "",
    );
    assert_eq!(wrong.status, 401, "{}", wrong.body);
    let bearer = [("authorization", "Bearer s3cret-token")];
    assert_eq!(mode(&admin, &bearer), "replay");

    let (ok, text) = ctl(&["--admin", &admin, "status"], &[]);
    assert!(!ok, "{text}");
    assert!(
        text.contains("401") && text.contains("RESPLAY_ADMIN_TOKEN"),
        "{text}"
    );
    let (ok, text) = ctl(
        &[
            "--admin",
            &admin,
            "--admin-token",
            "s3cret-token",
            "fault",
            "add",
            "GET x => drop",
        ],
        &[],
    );
    assert!(ok, "{text}");
    let (ok, text) = ctl(
        &["--admin", &admin, "fault", "list"],
        &[("RESPLAY_ADMIN_TOKEN", "s3cret-token")],
    );
    assert!(ok && text.contains("GET x"), "{text}");
    server.stop();

    // The variable alone protects a server too.
    let mut child = Command::new(resplay_bin())
        .args(["replay", "--cassette"])
        .arg(cassette())
        .args(["--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"])
        .env("RESPLAY_ADMIN_TOKEN", "from-env")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = common::stderr_lines(&mut child);
    let mut log = Vec::new();
    common::wait_for_listening(&lines, &mut log).expect("replay with a token from the environment");
    let admin = log
        .iter()
        .find_map(|l| l.strip_prefix("resplay: control API on http://"))
        .expect("control API line")
        .to_string();
    assert_eq!(
        http(&admin, "GET", "/status", &[("host", &admin)], "").status,
        401
    );
    assert_eq!(
        mode(&admin, &[("authorization", "Bearer from-env")]),
        "replay"
    );
    common::signal(child.id(), "TERM");
    let _ = child.wait();
}

/// Runs `resplay replay` on the example cassette with `extra`, expecting
/// it to refuse to start; its stderr.
fn refused(extra: &[&str]) -> String {
    let out = Command::new(resplay_bin())
        .args(["replay", "--cassette"])
        .arg(cassette())
        .args(["--listen", "127.0.0.1:0"])
        .args(extra)
        .env_remove("RESPLAY_ADMIN_TOKEN")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success(), "started with {extra:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn beyond_loopback_only_with_a_token() {
    let text = refused(&["--admin", "0.0.0.0:0"]);
    assert!(
        text.contains("refusing to serve the control API on 0.0.0.0:0 without a token"),
        "{text}"
    );
    let text = refused(&["--admin-token", "t"]);
    assert!(
        text.contains("--admin-token") && text.contains("needs --admin"),
        "{text}"
    );
    let text = refused(&["--admin-host", "devbox"]);
    assert!(
        text.contains("--admin-host") && text.contains("needs --admin"),
        "{text}"
    );

    // With a token it serves on every interface, and answers to an address
    // of this machine as well as loopback.
    let server = Resplay::replay(
        &cassette(),
        &["--admin", "0.0.0.0:0", "--admin-token", "t0k"],
    );
    let admin = admin_of(&server);
    let port = admin.rsplit(':').next().unwrap().to_string();
    let local = format!("127.0.0.1:{port}");
    assert_eq!(mode(&local, &[("authorization", "Bearer t0k")]), "replay");
    assert_eq!(
        http(&local, "GET", "/status", &[("host", &local)], "").status,
        401
    );
    server.stop();
}
