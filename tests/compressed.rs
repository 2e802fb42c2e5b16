//! Cassettes named `*.jsonl.zst`, stored zstd-compressed, through every
//! subcommand against a real redis-server: record, replay, run (record,
//! replay, new-episodes appending), show (`--json` equal to the plain
//! cassette's), diff, redact, import and report; and a recorder killed
//! with SIGKILL mid-traffic.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};

use common::{output_text as text, resplay_in as resplay, workload, RedisServer, Resplay};
use resplay::cassette::compress::CassetteReader;

const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The file is zstd frames, not text.
fn assert_compressed(path: &Path) {
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(data[..4], ZSTD_MAGIC, "{} is not zstd", path.display());
}

/// The JSON Lines a compressed cassette holds.
fn decompressed(path: &Path) -> String {
    let mut text = String::new();
    CassetteReader::open(path)
        .expect("open")
        .read_to_string(&mut text)
        .expect("decompress");
    text
}

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 temp path")
}

#[test]
fn a_zst_cassette_through_record_replay_show_diff_redact_import_and_report() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let zst = dir.path().join("c.jsonl.zst");

    // Record the workload through the proxy.
    let recorder = Resplay::record(&server.url(), &zst, &[]);
    let mut con = redis::Client::open(recorder.url())
        .unwrap()
        .get_connection()
        .unwrap();
    let recorded = workload::run(&mut con);
    drop(con);
    let (code, log) = recorder.stop();
    assert_eq!(code, 0, "{log:?}");
    assert_compressed(&zst);
    let cassette = resplay::cassette::load(&zst).expect("loads");
    assert!(cassette.warnings.is_empty(), "{:?}", cassette.warnings);
    assert!(cassette.interactions().count() >= workload::commands().len());

    // The same cassette as plain JSON Lines: show prints both alike.
    let plain = dir.path().join("c.jsonl");
    std::fs::write(&plain, decompressed(&zst)).unwrap();
    for flags in [&["--json"][..], &[][..]] {
        let of = |p: &Path| {
            let mut args = vec!["show", s(p)];
            args.extend_from_slice(flags);
            let out = resplay(&args, dir.path());
            assert!(out.status.success(), "{}", text(&out));
            out.stdout
        };
        let shown = of(&zst);
        assert!(shown.len() > 100);
        assert_eq!(
            String::from_utf8_lossy(&shown),
            String::from_utf8_lossy(&of(&plain)),
            "show {flags:?}"
        );
    }
    // `show --json` is canonical: the recorder wrote it that way.
    let out = resplay(&["show", "--json", s(&zst)], dir.path());
    assert_eq!(String::from_utf8_lossy(&out.stdout), decompressed(&zst));

    // Replay it, strictly: the same replies, nothing missed or unused.
    let replay = Resplay::replay(&zst, &["--strict"]);
    let mut con = redis::Client::open(replay.url())
        .unwrap()
        .get_connection()
        .unwrap();
    assert_eq!(workload::run(&mut con), recorded);
    drop(con);
    let (code, log) = replay.stop();
    assert_eq!(code, 0, "{log:?}");
    assert!(
        log.iter().any(|l| l.contains("0 missed, 0 unused")),
        "{log:?}"
    );

    // diff: equal to the plain one; a change shows.
    let out = resplay(&["diff", s(&zst), s(&plain)], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let changed = dir.path().join("changed.jsonl");
    let edited = decompressed(&zst).replacen("\"h:1\"", "\"h:renamed\"", 1);
    assert_ne!(edited, decompressed(&zst), "the workload writes h:1");
    std::fs::write(&changed, edited).unwrap();
    let out = resplay(&["diff", s(&changed), s(&zst)], dir.path());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));

    // redact: compressed in, compressed out (and plain out when asked).
    let redacted = dir.path().join("r.jsonl.zst");
    let out = resplay(
        &[
            "redact",
            s(&zst),
            s(&redacted),
            "--redact",
            "SET * => arg=2",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_compressed(&redacted);
    let body = decompressed(&redacted);
    assert!(body.contains("<redacted:"), "{body}");
    assert!(resplay::cassette::load(&redacted).is_ok());

    // import straight into a compressed cassette.
    let imported = dir.path().join("tpm.jsonl.zst");
    let out = resplay(
        &[
            "import",
            "--from",
            "tpm",
            "--out",
            s(&imported),
            s(&repo().join("tests/import/tpm.json")),
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_compressed(&imported);
    assert!(resplay::cassette::load(&imported).unwrap().events.len() > 1);

    // The HTML report reads it.
    let page = dir.path().join("report.html");
    let out = resplay(&["report", s(&zst), "-o", s(&page)], dir.path());
    assert!(out.status.success(), "{}", text(&out));
    assert!(std::fs::read_to_string(&page)
        .unwrap()
        .contains("resplay-data"));
}

#[test]
fn run_records_replays_and_extends_a_zst_cassette() {
    let dir = tempfile::tempdir().unwrap();
    let zst = dir.path().join("client.jsonl.zst");
    let mut server = RedisServer::start();
    let upstream = server.url();
    let program = ["python3", "tests/clients/app.py"];
    let with = |extra: &[&str]| {
        let mut args = vec!["run", "--cassette", s(&zst)];
        args.extend_from_slice(extra);
        args.push("--");
        args.extend_from_slice(&program);
        resplay(&args, &repo())
    };
    let first = with(&["--upstream", &upstream]);
    assert!(first.status.success(), "{}", text(&first));
    assert_compressed(&zst);
    // Written through `client.jsonl.zst.partial`, renamed when done.
    assert!(!dir.path().join("client.jsonl.zst.partial").exists());

    let second = with(&["--strict", "--mode", "none"]);
    assert!(second.status.success(), "{}", text(&second));
    assert_eq!(second.stdout, first.stdout);
    assert!(text(&second).contains("0 missed, 0 unused"));

    // new-episodes appends frames for what the cassette lacks.
    let before = std::fs::read(&zst).unwrap();
    let step =
        "redis-cli -p $REDIS_PORT SET extra yes >/dev/null && redis-cli -p $REDIS_PORT GET extra";
    let out = resplay(
        &[
            "run",
            "--mode",
            "new-episodes",
            "--cassette",
            s(&zst),
            "--upstream",
            &upstream,
            "--",
            "sh",
            "-c",
            step,
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out));
    let after = std::fs::read(&zst).unwrap();
    assert!(after.starts_with(&before), "new-episodes must only append");
    assert_eq!(after[before.len()..before.len() + 4], ZSTD_MAGIC);
    let body = decompressed(&zst);
    assert!(body.contains(r#"["SET","extra","yes"]"#), "{body}");
    assert!(resplay::cassette::load(&zst).unwrap().warnings.is_empty());

    server.kill();
    let out = resplay(
        &[
            "run",
            "--mode",
            "none",
            "--cassette",
            s(&zst),
            "--",
            "sh",
            "-c",
            step,
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "yes");
}

#[test]
fn kill_9_mid_traffic_leaves_a_loadable_zst_cassette() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.jsonl.zst");
    common::record_then_kill9(&server.url(), &path);
    assert_compressed(&path);
    // Every complete frame loads; a torn last one is a warning naming the
    // file, never an error.
    let cassette = resplay::cassette::load(&path).expect("cassette loads after kill -9");
    let recorded = cassette.interactions().count();
    assert!(recorded > 0);
    for warning in &cassette.warnings {
        assert!(warning.starts_with(s(&path)), "{warning}");
    }
    let out = resplay(&["show", "--json", s(&path)], dir.path());
    assert!(out.status.success(), "{}", text(&out));

    // Tear the last frame on purpose (a kill may land between frames).
    let data = std::fs::read(&path).unwrap();
    std::fs::write(&path, &data[..data.len() - 3]).unwrap();
    let torn = resplay::cassette::load(&path).expect("loads torn");
    assert!(
        torn.warnings
            .iter()
            .any(|w| w.starts_with(&format!("{}: torn last zstd frame", s(&path)))),
        "{:?}",
        torn.warnings
    );
    assert!(torn.interactions().count() + 50 >= recorded);

    // Recording on into it (new-episodes) cuts the torn frame first.
    let out = resplay(
        &[
            "run",
            "--mode",
            "new-episodes",
            "--cassette",
            s(&path),
            "--upstream",
            &server.url(),
            "--",
            "sh",
            "-c",
            "redis-cli -p $REDIS_PORT SET after kill >/dev/null",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out));
    let extended = resplay::cassette::load(&path).expect("loads");
    assert!(extended.warnings.is_empty(), "{:?}", extended.warnings);
    assert!(extended
        .interactions()
        .any(|i| i.cmd.first().is_some_and(|c| &c[..] == b"SET")
            && i.cmd.get(1).is_some_and(|k| &k[..] == b"after")));
}
