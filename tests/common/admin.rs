//! A resplay started with a control API, and plain HTTP/1.1 requests to
//! it (no client library: what the API answers is checked byte for byte).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::Value;

use super::Resplay;

/// `resplay ARGS --admin 127.0.0.1:0`, with the control API's address.
pub fn start_with_admin(args: &[&str]) -> (Resplay, String) {
    let mut all = args.to_vec();
    all.extend(["--admin", "127.0.0.1:0"]);
    // The journal is off unless asked for; the journal tests read it.
    if !args.contains(&"--journal-max") {
        all.extend(["--journal-max", "10000"]);
    }
    let resplay = Resplay::start(&all);
    let admin = admin_of(&resplay);
    (resplay, admin)
}

/// The control API's address, from resplay's `control API on http://ADDR`.
pub fn admin_of(resplay: &Resplay) -> String {
    resplay
        .log
        .iter()
        .find_map(|l| l.strip_prefix("resplay: control API on http://"))
        .unwrap_or_else(|| panic!("no control API line in {:?}", resplay.log))
        .to_string()
}

/// One HTTP/1.1 request with the headers a plain client sends: the status,
/// the head and the body.
pub fn http_raw(
    admin: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> (u16, String, String) {
    let body = body.map(Value::to_string).unwrap_or_default();
    http_text(admin, method, path, &body)
}

/// One request whose body is `body` as written (a test of what is not
/// JSON): the status, the head and the body.
pub fn http_text(admin: &str, method: &str, path: &str, body: &str) -> (u16, String, String) {
    let mut stream = TcpStream::connect(admin).expect("connect to the control API");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nhost: {admin}\r\nconnection: close\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let (head, body) = answer
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("not HTTP: {answer}"));
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head.to_string(), body.to_string())
}

/// One request; the status and the body parsed as JSON (`null` if empty).
pub fn http(admin: &str, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    let (status, _, body) = http_raw(admin, method, path, body);
    let json = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"))
    };
    (status, json)
}

/// A request that must succeed (2xx); its JSON.
pub fn ok(admin: &str, method: &str, path: &str, body: Option<&Value>) -> Value {
    let (status, json) = http(admin, method, path, body);
    assert!(
        (200..300).contains(&status),
        "{method} {path}: {status} {json}"
    );
    json
}

/// `GET /journal` with a query string already encoded.
pub fn journal(admin: &str, query: &str) -> Value {
    let path = if query.is_empty() {
        "/journal".to_string()
    } else {
        format!("/journal?{query}")
    };
    ok(admin, "GET", &path, None)
}
