//! Passwords are stored as keyed placeholders (`<redacted:HEX8>`, under the
//! cassette's salt), never in clear, and replay tells them apart: a good
//! password recorded as accepted is accepted, a bad one recorded as
//! refused is refused, whichever order they come in.

mod common;

use common::raw::Raw;
use common::{RedisServer, Resplay};
use resplay::resp::Value;

/// `AUTH` with each password in turn, then `HELLO 3 AUTH` with the last;
/// whether each was accepted.
fn session(port: u16, passwords: &[&str]) -> Vec<bool> {
    let mut con = Raw::connect(port);
    let mut accepted: Vec<bool> = passwords
        .iter()
        .map(|p| !con.call(&["AUTH", "u", p]).is_error())
        .collect();
    let last = passwords[passwords.len() - 1];
    accepted.push(!con.call(&["HELLO", "3", "AUTH", "u", last]).is_error());
    accepted
}

#[test]
fn passwords_are_told_apart_without_being_stored() {
    let server = RedisServer::start();
    let mut admin = Raw::connect(server.port);
    let ok = admin.call(&["ACL", "SETUSER", "u", "on", ">good-secret", "~*", "+@all"]);
    assert_eq!(ok, Value::simple("OK"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.jsonl");
    // Failed handshakes are kept; successful ones are left out by default,
    // and kept with `--record-trivial-calls`: both ways must replay.
    for extra in [&[][..], &["--record-trivial-calls"][..]] {
        let recorder = Resplay::record(&server.url(), &path, extra);
        let recorded = session(recorder.port, &["good-secret", "bad-secret"]);
        assert_eq!(recorded, [true, false, false], "{extra:?}");
        let (code, log) = recorder.stop();
        assert_eq!(code, 0, "{log:?}");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            !text.contains("good-secret") && !text.contains("bad-secret"),
            "a password reached the cassette: {text}"
        );
        assert!(text.contains("<redacted:"), "{text}");

        let replay = Resplay::replay(&path, &[]);
        assert_eq!(
            session(replay.port, &["good-secret", "bad-secret"]),
            recorded,
            "{extra:?}"
        );
        // In the other order too: each password gets its own answer.
        assert_eq!(
            session(replay.port, &["bad-secret", "good-secret"]),
            [false, true, true],
            "{extra:?}"
        );
        let (code, log) = replay.stop();
        assert_eq!(code, 0, "{log:?}");
    }

    // A cassette written before passwords were keyed (`<redacted>`, with or
    // without a salt) replays as it did: the recorded answers, in order.
    let text = std::fs::read_to_string(&path).unwrap();
    let unkeyed = unkeyed_placeholders(&text);
    for keep_salt in [true, false] {
        let old = dir.path().join(format!("old-{keep_salt}.jsonl"));
        let body = if keep_salt {
            unkeyed.clone()
        } else {
            let (header, rest) = unkeyed.split_once('\n').unwrap();
            let mut header: serde_json::Value = serde_json::from_str(header).unwrap();
            header.as_object_mut().unwrap().remove("redact_salt");
            format!("{header}\n{rest}")
        };
        std::fs::write(&old, body).unwrap();
        let replay = Resplay::replay(&old, &[]);
        assert_eq!(
            session(replay.port, &["good-secret", "bad-secret"]),
            [true, false, false],
            "salt kept: {keep_salt}"
        );
        let (code, log) = replay.stop();
        assert_eq!(code, 0, "{log:?}");
    }
}

/// The cassette with every `<redacted:HEX8>` written as `<redacted>`.
fn unkeyed_placeholders(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("<redacted:") {
        out.push_str(&rest[..at]);
        out.push_str("<redacted>");
        let end = rest[at..].find('>').unwrap();
        rest = &rest[at + end + 1..];
    }
    out.push_str(rest);
    out
}
