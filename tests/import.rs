//! `resplay import`: the samples under tests/import/ become cassettes that
//! `resplay replay` serves; corrupt samples fail naming the entry; what
//! is not carried over exactly is reported per entry.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use bytes::Bytes;
use common::raw::Raw;
use common::{resplay_bin, Resplay};
use resplay::resp::Value;

fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/import")
        .join(name)
}

/// Runs `resplay import --from FROM SAMPLES… --out DIR/out.jsonl`.
fn import(from: &str, samples: &[&str], dir: &Path) -> (Output, PathBuf) {
    let out = dir.join("out.jsonl");
    let output = Command::new(resplay_bin())
        .args(["import", "--from", from])
        .args(samples.iter().map(|s| sample(s)))
        .arg("--out")
        .arg(&out)
        .output()
        .expect("run resplay import");
    (output, out)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn bulk(s: &[u8]) -> Value {
    Value::Bulk(Bytes::copy_from_slice(s))
}

fn simple(s: &str) -> Value {
    Value::Simple(Bytes::copy_from_slice(s.as_bytes()))
}

fn ok_import(from: &str, samples: &[&str], dir: &Path) -> (String, PathBuf) {
    let (o, out) = import(from, samples, dir);
    assert!(o.status.success(), "import failed: {}", stderr(&o));
    (stderr(&o), out)
}

#[test]
fn tpm_sample_replays() {
    let dir = tempfile::tempdir().unwrap();
    let (warnings, cassette) = ok_import("tpm", &["tpm.json"], dir.path());
    // Per entry: what TPM did not keep.
    assert!(
        warnings.contains("tpm.json: index 7: 2 string(s) with characters above 0x7F"),
        "{warnings}"
    );
    assert!(
        warnings.contains("tpm.json: index 3: RESP string types not recorded: 0 written as simple strings (OK/PONG/QUEUED replies), 1 as bulk strings"),
        "{warnings}"
    );
    assert!(
        warnings.contains("tpm.json: index 8: 1 error(s)"),
        "{warnings}"
    );
    // TPM kept the password in clear; the cassette does not.
    let text = std::fs::read_to_string(&cassette).unwrap();
    assert!(
        !text.contains("s3cret") && text.contains(r#"["AUTH","<redacted>"]"#),
        "{text}"
    );

    let server = Resplay::replay(&cassette, &[]);
    let mut c = Raw::connect(server.port);
    assert_eq!(c.call(&["SET", "greeting", "hello"]), simple("OK"));
    assert_eq!(c.call(&["GET", "greeting"]), bulk(b"hello"));
    // RESP2: the map comes flat, the set as an array.
    assert_eq!(
        c.call(&["HGETALL", "user:1"]),
        Value::Array(vec![
            bulk(b"name"),
            bulk(b"ada"),
            bulk(b"visits"),
            bulk(b"3")
        ])
    );
    assert_eq!(
        c.call(&["SMEMBERS", "tags"]),
        Value::Array(vec![bulk(b"red")])
    );
    assert_eq!(c.call(&["INCR", "counter"]), Value::Integer(7));
    assert_eq!(c.call(&["GET", "café"]), bulk("crème".as_bytes()));
    assert_eq!(
        c.call(&["LPUSH", "greeting", "x"]),
        Value::Error(Bytes::from_static(
            b"WRONGTYPE Operation against a key holding the wrong kind of value"
        ))
    );

    // RESP3: the map is a map; the subscriber gets its confirmation and
    // the recorded message as pushes.
    let mut c3 = Raw::connect(server.port);
    let _hello = c3.call(&["HELLO", "3"]);
    assert_eq!(
        c3.call(&["HGETALL", "user:1"]),
        Value::Map(vec![
            (bulk(b"name"), bulk(b"ada")),
            (bulk(b"visits"), bulk(b"3"))
        ])
    );
    let mut sub = Raw::connect(server.port);
    assert_eq!(
        sub.call(&["SUBSCRIBE", "news"]),
        Value::Array(vec![bulk(b"subscribe"), bulk(b"news"), Value::Integer(1)])
    );
    assert_eq!(
        sub.read(),
        Value::Array(vec![bulk(b"message"), bulk(b"news"), bulk(b"hi")])
    );
    assert_eq!(
        Raw::connect(server.port).call(&["AUTH", "anything"]),
        simple("OK")
    );
    server.stop();
}

#[test]
fn tpm_index_file_is_skipped_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let index = dir.path().join("index.json");
    std::fs::write(
        &index,
        r#"[{"index":1,"type":"Resp3Message","caller":"RESP3","durationMs":2,"tags":{}}]"#,
    )
    .unwrap();
    let out = dir.path().join("out.jsonl");
    let o = Command::new(resplay_bin())
        .args(["import", "--from", "tpm"])
        .arg(sample("tpm.json"))
        .arg(&index)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o)
            .contains("index.json: file: TPM's index of entries (no commands or replies): skipped"),
        "{}",
        stderr(&o)
    );
    assert_eq!(common::interactions(&out).len(), 10);
}

#[test]
fn keploy_typed_sample_replays() {
    let dir = tempfile::tempdir().unwrap();
    let (warnings, cassette) = ok_import("keploy", &["keploy-typed.yaml"], dir.path());
    assert!(
        warnings.contains("keploy-typed.yaml: mock-2: `redisresponses` item 0 message 0: typed `error` message: not carried over"),
        "{warnings}"
    );
    assert!(
        warnings.contains("keploy-typed.yaml: mock-2: `INCR`: no reply recorded: not written"),
        "{warnings}"
    );
    assert!(
        warnings.contains("keploy-typed.yaml: mock-3: kind `Http` is not Redis traffic: skipped"),
        "{warnings}"
    );
    let lines = common::interactions(&cassette);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[1]["at_ms"], 10);
    assert_eq!(lines[1]["took_us"], 2000);

    let server = Resplay::replay(&cassette, &[]);
    let mut c = Raw::connect(server.port);
    assert_eq!(c.call(&["SET", "city", "Paris"]), simple("OK"));
    assert_eq!(c.call(&["GET", "city"]), bulk(b"Paris"));
    // The mock whose reply was lost is a miss, not a silent hang.
    assert!(c.call(&["INCR", "city"]).is_error());
    server.stop();
}

#[test]
fn keploy_generic_sample_reassembles_split_frames() {
    let dir = tempfile::tempdir().unwrap();
    let (warnings, cassette) = ok_import("keploy", &["keploy-generic.yaml"], dir.path());
    assert!(
        warnings.contains("keploy-generic.yaml: mock-2: 10 server byte(s) at the end do not form a whole reply: dropped"),
        "{warnings}"
    );
    assert!(!warnings.contains("mock-0"), "{warnings}");

    let server = Resplay::replay(&cassette, &[]);
    let mut c = Raw::connect(server.port);
    // Frames split across chunks (`$` | `1\r\nv`, `$1\r` | `\nv`) are whole again.
    assert_eq!(c.call(&["SET", "k", "v"]), simple("OK"));
    assert_eq!(c.call(&["GET", "k"]), bulk(b"v"));
    // Binary bytes come back exactly.
    c.send(&["GET", "bin"]);
    assert_eq!(c.read_exact_bytes(8), b"$2\r\n\xff\x00\r\n");
    server.stop();
}

#[test]
fn corrupt_samples_name_the_entry() {
    let dir = tempfile::tempdir().unwrap();
    for (from, name, expect) in [
        ("tpm", "tpm-corrupt.json", "tpm-corrupt.json: index 2: missing or non-integer `connectionId`"),
        (
            "keploy",
            "keploy-typed-corrupt.yaml",
            "keploy-typed-corrupt.yaml: mock-0: server bytes are not RESP",
        ),
        (
            "keploy",
            "keploy-generic-corrupt.yaml",
            "keploy-generic-corrupt.yaml: mock-1: `genericrequests` item 0 message 0: `binary` data is not base64",
        ),
    ] {
        let (o, out) = import(from, &[name], dir.path());
        assert_eq!(o.status.code(), Some(1), "{name}: {}", stderr(&o));
        assert!(stderr(&o).contains(expect), "{name}: {}", stderr(&o));
        assert!(!out.exists(), "{name}: no cassette is written");
    }
}
