//! `resplay show` and `resplay diff` print as they read the files (show)
//! or compare summaries and read the changes again (diff); their output
//! must stay byte for byte what the in-memory renderers make of the loaded
//! cassettes.

use std::path::Path;
use std::process::{Command, Output};

use resplay::cassette;
use resplay::diff::{diff, render_json as diff_json, render_text};
use resplay::show::{render, render_header, render_json, render_tokens};

const HEAD: &str =
    r#"{"resplay":1,"created":"2026-01-01T00:00:00Z","upstream":"127.0.0.1:6379","db":0}"#;

/// Pushes, opens and closes, several replies, no reply, a database, deep
/// and binary replies, and volatile tokens for show's footer.
const OLD: &[&str] = &[
    r#"{"conn":1,"at_ms":0,"event":"open"}"#,
    r#"{"conn":1,"seq":0,"at_ms":1,"took_us":5,"cmd":["SET","k","v"],"reply":{"+":"OK"}}"#,
    r#"{"conn":1,"seq":2,"at_ms":2,"took_us":1500,"cmd":["LRANGE","l","0","-1"],"reply":["a","b"]}"#,
    r#"{"conn":1,"seq":1,"at_ms":2,"took_us":5,"cmd":["GET","k"],"reply":"v"}"#,
    r#"{"conn":2,"seq":0,"at_ms":3,"took_us":5,"cmd":["SUBSCRIBE","x","y"],"replies":[["subscribe","x",1],["subscribe","y",2]]}"#,
    r#"{"conn":2,"at_ms":4,"push":["message","x","hi"]}"#,
    r#"{"conn":3,"seq":0,"at_ms":5,"took_us":5,"cmd":["SET","lock:6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f","1","PX","100"],"reply":{"+":"OK"}}"#,
    r#"{"conn":3,"db":2,"seq":1,"at_ms":5,"took_us":5,"cmd":["HGETALL","h"],"reply":{"%":[["a",[1,[2,[3]]]],["b",{"b64":"/wA="}]]}}"#,
    r#"{"conn":3,"seq":2,"at_ms":6,"took_us":5,"cmd":["DEL","tmp"],"reply":1}"#,
    r#"{"conn":1,"at_ms":9,"event":"close"}"#,
];

const NEW: &[&str] = &[
    r#"{"conn":7,"seq":0,"at_ms":0,"took_us":9,"cmd":["SET","lock:0e1d2c3b-4a59-4867-8f9e-a0b1c2d3e4f5","1","PX","100"],"reply":{"+":"OK"}}"#,
    r#"{"conn":7,"db":2,"seq":1,"at_ms":5,"took_us":5,"cmd":["HGETALL","h"],"reply":{"%":[["a",[1,[2,[4]]]],["b",{"b64":"/wA="}]]}}"#,
    r#"{"conn":4,"seq":0,"at_ms":1,"took_us":5,"cmd":["set","k","v"],"reply":{"+":"OK"}}"#,
    r#"{"conn":4,"seq":1,"at_ms":2,"took_us":5,"cmd":["GET","k"],"reply":"w"}"#,
    r#"{"conn":4,"seq":2,"at_ms":2,"took_us":5,"cmd":["LRANGE","l","0","-1"],"reply":["a","c"]}"#,
    r#"{"conn":4,"seq":3,"at_ms":2,"took_us":5,"cmd":["CLIENT","REPLY","OFF"]}"#,
    r#"{"conn":9,"seq":0,"at_ms":3,"took_us":5,"cmd":["PING"],"reply":{"+":"PONG"}}"#,
];

fn write(dir: &Path, name: &str, lines: &[&str], tail: &str) -> String {
    let mut text = format!("{HEAD}\n");
    for line in lines {
        text.push_str(line);
        text.push('\n');
    }
    text.push_str(tail);
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

fn resplay(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_resplay"))
        .args(args)
        .output()
        .expect("run resplay")
}

#[test]
fn show_prints_what_the_renderers_make() {
    let dir = tempfile::tempdir().unwrap();
    // A truncated last line: a warning, and the rest listed.
    let path = write(dir.path(), "c.jsonl", OLD, r#"{"conn":1,"seq":9,"cm"#);
    let loaded = cassette::load(Path::new(&path)).unwrap();
    assert_eq!(loaded.warnings.len(), 1);

    let mut want = String::new();
    render_header(&loaded.header, &mut want);
    render(&loaded, &mut want);
    render_tokens(&loaded, &mut want);
    assert!(want.contains("volatile token(s)"), "{want}");
    let out = resplay(&["show", &path]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), want);
    assert!(String::from_utf8_lossy(&out.stderr).contains("truncated last line"));

    let mut want = Vec::new();
    render_json(&loaded, &mut want);
    let out = resplay(&["show", "--json", &path]);
    assert!(out.status.success());
    assert_eq!(out.stdout, want);
}

#[test]
fn diff_prints_what_the_renderers_make() {
    let dir = tempfile::tempdir().unwrap();
    let old = write(dir.path(), "old.jsonl", OLD, "");
    let new = write(dir.path(), "new.jsonl", NEW, "");
    let (a, b) = (
        cassette::load(Path::new(&old)).unwrap(),
        cassette::load(Path::new(&new)).unwrap(),
    );
    for rules in [vec![], vec!["SET lock:* <any> PX <any>".parse().unwrap()]] {
        let found = diff(&a, &b, &rules);
        assert!(!found.is_empty());
        let rule_args: Vec<&str> = if rules.is_empty() {
            vec![]
        } else {
            vec!["--ignore", "SET lock:* <any> PX <any>"]
        };

        let want = render_text(&found, (&old, &a), (&new, &b));
        let out = resplay(&[&["diff", &old, &new][..], &rule_args].concat());
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(String::from_utf8_lossy(&out.stdout), want);

        let mut want = Vec::new();
        diff_json(&found, &mut want);
        let out = resplay(&[&["diff", "--json", &old, &new][..], &rule_args].concat());
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&want)
        );
    }

    // The other way round, and a cassette against itself.
    let found = diff(&b, &a, &[]);
    let out = resplay(&["diff", &new, &old]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        render_text(&found, (&new, &b), (&old, &a))
    );
    let out = resplay(&["diff", &old, &old]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).ends_with("no differences\n"));
}
