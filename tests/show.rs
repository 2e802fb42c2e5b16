//! `resplay show`: a hand-written cassette covering every reply type, listed
//! redis-cli style, and re-emitted as canonical JSON lines.

use std::path::Path;

use resplay::cassette::{self, Cassette};
use resplay::show::{render, render_json};

/// One line per event; comments say what each one covers.
const CASSETTE: &str = r#"{"resplay":1,"created":"2026-01-01T00:00:00Z","upstream":"127.0.0.1:6379"}
{"conn":1,"at_ms":0,"event":"open"}
{"conn":1,"seq":0,"at_ms":3,"took_us":120,"cmd":["SET","k","v"],"reply":{"+":"OK"}}
{"conn":1,"seq":1,"at_ms":4,"took_us":80,"cmd":["HGETALL","h"],"reply":["a","1"]}
{"conn":1,"seq":2,"at_ms":4,"took_us":2500,"cmd":["GET","missing"],"reply":null}
{"conn":1,"seq":3,"at_ms":5,"took_us":1,"cmd":["GET","bin"],"reply":{"b64":"YQoi/wE="}}
{"conn":1,"seq":4,"at_ms":5,"took_us":1,"cmd":["INCR","n"],"reply":3}
{"conn":1,"seq":5,"at_ms":5,"took_us":1,"cmd":["INCR"],"reply":{"-":"ERR wrong number of arguments for 'incr' command"}}
{"conn":1,"seq":6,"at_ms":6,"took_us":1,"cmd":["XRANGE","s","-","+"],"reply":[["1-0",["f","v","g","w"]],["2-0",["f","x"]]]}
{"conn":1,"seq":7,"at_ms":6,"took_us":1,"cmd":["LRANGE","empty","0","-1"],"reply":[]}
{"conn":1,"seq":8,"at_ms":6,"took_us":1,"cmd":["BLPOP","q","1"],"reply":{"*":null}}
{"conn":1,"seq":9,"at_ms":7,"took_us":1,"cmd":["HELLO","3"],"reply":{"%":[["server","redis"],["proto",3],["modules",[]],["flags",["a","b"]]]}}
{"conn":1,"seq":10,"at_ms":7,"took_us":1,"cmd":["SMEMBERS","s"],"reply":{"~":["x","y"]}}
{"conn":1,"seq":11,"at_ms":7,"took_us":1,"cmd":["ZSCORE","z","m"],"reply":{",":"1.5"}}
{"conn":1,"seq":12,"at_ms":7,"took_us":1,"cmd":["EVAL","return true","0"],"reply":true}
{"conn":1,"seq":13,"at_ms":7,"took_us":1,"cmd":["EVAL","return false","0"],"reply":false}
{"conn":1,"seq":14,"at_ms":8,"took_us":1,"cmd":["DEBUG","PROTOCOL","bignum"],"reply":{"(":"1234567999999999999999999999999999999"}}
{"conn":1,"seq":15,"at_ms":8,"took_us":1,"cmd":["DEBUG","PROTOCOL","verbatim"],"reply":{"=":"txt:This is a verbatim\nstring"}}
{"conn":1,"seq":16,"at_ms":8,"took_us":1,"cmd":["FT.SEARCH","idx","q"],"reply":{"!":"SYNTAX invalid syntax"}}
{"conn":1,"seq":17,"at_ms":8,"took_us":1,"cmd":["DEBUG","PROTOCOL","attrib"],"reply":{"|":[["key-popularity",[["key:123",90]]]],"value":"Some real reply following the attribute"}}
{"conn":1,"seq":18,"at_ms":8,"took_us":1,"cmd":["GET","streamed"],"reply":{"$?":["ab","c"]}}
{"conn":1,"seq":19,"at_ms":8,"took_us":1,"cmd":["SET","my key","a b"],"reply":{"+":"OK"}}
{"conn":1,"seq":20,"at_ms":9,"took_us":1,"cmd":["CLIENT","REPLY","OFF"]}
{"conn":2,"at_ms":9,"event":"open"}
{"conn":2,"seq":0,"at_ms":9,"took_us":300,"cmd":["SUBSCRIBE","news","sport"],"replies":[{">":["subscribe","news",1]},{">":["subscribe","sport",2]}]}
{"conn":2,"at_ms":12,"push":{">":["message","news","hello"]}}
{"conn":2,"at_ms":13,"push":["message","sport","goal"]}
{"conn":2,"db":3,"seq":1,"at_ms":14,"took_us":1,"cmd":["PING"],"reply":["pong",""]}
{"conn":1,"at_ms":20,"event":"close"}
{"conn":2,"at_ms":21,"event":"close","by":"server"}
"#;

const LISTING: &str = r#"[conn 1 +0ms open]
[conn 1 #0 +3ms 120µs] SET k v
OK
[conn 1 #1 +4ms 80µs] HGETALL h
1) "a"
2) "1"
[conn 1 #2 +4ms 2.5ms] GET missing
(nil)
[conn 1 #3 +5ms 1µs] GET bin
"a\n\"\xff\x01"
[conn 1 #4 +5ms 1µs] INCR n
(integer) 3
[conn 1 #5 +5ms 1µs] INCR
(error) ERR wrong number of arguments for 'incr' command
[conn 1 #6 +6ms 1µs] XRANGE s - +
1) 1) "1-0"
   2) 1) "f"
      2) "v"
      3) "g"
      4) "w"
2) 1) "2-0"
   2) 1) "f"
      2) "x"
[conn 1 #7 +6ms 1µs] LRANGE empty 0 -1
(empty array)
[conn 1 #8 +6ms 1µs] BLPOP q 1
(nil)
[conn 1 #9 +7ms 1µs] HELLO 3
1# "server" => "redis"
2# "proto" => (integer) 3
3# "modules" => (empty array)
4# "flags" => 
   1) "a"
   2) "b"
[conn 1 #10 +7ms 1µs] SMEMBERS s
1~ "x"
2~ "y"
[conn 1 #11 +7ms 1µs] ZSCORE z m
(double) 1.5
[conn 1 #12 +7ms 1µs] EVAL "return true" 0
(true)
[conn 1 #13 +7ms 1µs] EVAL "return false" 0
(false)
[conn 1 #14 +8ms 1µs] DEBUG PROTOCOL bignum
(big number) 1234567999999999999999999999999999999
[conn 1 #15 +8ms 1µs] DEBUG PROTOCOL verbatim
This is a verbatim
string
[conn 1 #16 +8ms 1µs] FT.SEARCH idx q
(error) SYNTAX invalid syntax
[conn 1 #17 +8ms 1µs] DEBUG PROTOCOL attrib
(attributes) 1# "key-popularity" => 
                1) 1) "key:123"
                   2) (integer) 90
"Some real reply following the attribute"
[conn 1 #18 +8ms 1µs] GET streamed
"abc"
[conn 1 #19 +8ms 1µs] SET "my key" "a b"
OK
[conn 1 #20 +9ms 1µs] CLIENT REPLY OFF
(no reply)
[conn 2 +9ms open]
[conn 2 #0 +9ms 300µs] SUBSCRIBE news sport
1) "subscribe"
2) "news"
3) (integer) 1
1) "subscribe"
2) "sport"
3) (integer) 2
[conn 2 +12ms push]
1) "message"
2) "news"
3) "hello"
[conn 2 +13ms push]
1) "message"
2) "sport"
3) "goal"
[conn 2 db 3 #1 +14ms 1µs] PING
1) "pong"
2) ""
[conn 1 +20ms close]
[conn 2 +21ms close by server]
"#;

fn load_fixture(dir: &Path) -> Cassette {
    let path = dir.join("every-type.jsonl");
    std::fs::write(&path, CASSETTE).expect("write cassette");
    let cassette = cassette::load(&path).expect("fixture loads");
    assert!(cassette.warnings.is_empty(), "{:?}", cassette.warnings);
    cassette
}

#[test]
fn listing_matches_redis_cli() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cassette = load_fixture(dir.path());
    assert_eq!(cassette.events.len(), CASSETTE.lines().count() - 1);

    let mut out = String::new();
    render(&cassette, &mut out);
    if out != LISTING {
        // Line by line, so a failure points at the first difference.
        for (n, (got, want)) in out.lines().zip(LISTING.lines()).enumerate() {
            assert_eq!(got, want, "listing line {}", n + 1);
        }
        assert_eq!(out, LISTING);
    }
}

#[test]
fn json_round_trips() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cassette = load_fixture(dir.path());

    let mut json = Vec::new();
    render_json(&cassette, &mut json);
    let path = dir.path().join("canonical.jsonl");
    std::fs::write(&path, &json).expect("write");
    let again = cassette::load(&path).expect("canonical output loads");
    assert_eq!(again.header, cassette.header);
    assert_eq!(again.events, cassette.events);

    // Canonical means stable: a second pass writes the same bytes.
    let mut twice = Vec::new();
    render_json(&again, &mut twice);
    assert_eq!(twice, json);
    assert_eq!(
        json.iter().filter(|&&b| b == b'\n').count(),
        CASSETTE.lines().count()
    );
}
