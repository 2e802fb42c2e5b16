use super::*;
use crate::command::lookup;

fn args(words: &[&str]) -> Vec<Bytes> {
    words
        .iter()
        .map(|w| Bytes::copy_from_slice(w.as_bytes()))
        .collect()
}

fn b(s: &str) -> Value {
    Value::bulk(Bytes::copy_from_slice(s.as_bytes()))
}

fn arr(items: Vec<Value>) -> Value {
    Value::Array(items)
}

fn bulks(words: &[&str]) -> Value {
    arr(words.iter().map(|w| b(w)).collect())
}

fn map(pairs: &[(&str, Value)]) -> Value {
    Value::Map(pairs.iter().map(|(k, v)| (b(k), v.clone())).collect())
}

fn int(n: i64) -> Value {
    Value::Integer(n)
}

fn check_with(words: &[&str], recorded: Value, live: Value, options: &Options) -> Verdict {
    let a = args(words);
    compare(Class::of(&a), &a, &[recorded], &[live], options)
}

fn check(words: &[&str], recorded: Value, live: Value) -> Verdict {
    check_with(words, recorded, live, &Options::default())
}

/// Both directions give the same verdict (reasons name the sides, so
/// only the kind of verdict is compared for differences).
fn check_both(words: &[&str], a: Value, b: Value) -> Verdict {
    let there = check(words, a.clone(), b.clone());
    let back = check(words, b, a);
    match (&there, &back) {
        (Verdict::Different(_), Verdict::Different(_)) => {}
        _ => assert_eq!(there, back, "{words:?} is not symmetric"),
    }
    there
}

fn different(v: &Verdict) -> &str {
    match v {
        Verdict::Different(why) => why,
        other => panic!("expected a difference, got {other:?}"),
    }
}

// What the command table says, which the rules build on: when one of
// these changes (a regenerated table), the hand lists need a look.

fn tips(words: &[&str]) -> Tips {
    lookup(&args(words)).expect("known command").tips
}

#[test]
fn the_table_tips_what_the_rules_take_from_it() {
    let order = Tips::NONDETERMINISTIC_OUTPUT_ORDER;
    let output = Tips::NONDETERMINISTIC_OUTPUT;
    for words in [
        &["SMEMBERS", "k"][..],
        &["HGETALL", "k"],
        &["HKEYS", "k"],
        &["HVALS", "k"],
        &["KEYS", "*"],
        &["SINTER", "a"],
        &["SUNION", "a"],
        &["SDIFF", "a"],
        &["FUNCTION", "LIST"],
        &["COMMAND", "DOCS"],
    ] {
        assert_eq!(tips(words), order, "{words:?}");
    }
    for words in [
        &["TIME"][..],
        &["INFO"],
        &["LASTSAVE"],
        &["XADD", "s", "*", "f", "v"],
        &["CLIENT", "LIST"],
        &["CLIENT", "INFO"],
        &["OBJECT", "FREQ", "k"],
        &["OBJECT", "IDLETIME", "k"],
        &["OBJECT", "ENCODING", "k"],
        &["SLOWLOG", "GET"],
        &["LATENCY", "LATEST"],
        &["MEMORY", "STATS"],
        &["TTL", "k"],
        &["PTTL", "k"],
        &["HTTL", "k"],
        &["HPTTL", "k"],
        &["SRANDMEMBER", "k"],
        &["SPOP", "k"],
        &["RANDOMKEY"],
        &["HRANDFIELD", "k"],
        &["ZRANDMEMBER", "k"],
        &["SCAN", "0"],
        &["SSCAN", "k", "0"],
        &["HSCAN", "k", "0"],
        &["ZSCAN", "k", "0"],
        &["DUMP", "k"],
    ] {
        assert_eq!(tips(words), output, "{words:?}");
    }
    // Untipped, hence the hand lists.
    for words in [
        &["CONFIG", "GET", "x"][..],
        &["CLIENT", "ID"],
        &["CLIENT", "GETREDIR"],
        &["CLIENT", "TRACKINGINFO"],
        &["MEMORY", "USAGE", "k"],
        &["DEBUG", "OBJECT", "k"],
        &["COMMAND", "COUNT"],
        &["LATENCY", "RESET"],
        &["HELLO"],
        &["LOLWUT"],
        &["ROLE"],
        &["WAIT", "0", "0"],
        &["ACL", "LOG"],
        &["ACL", "GENPASS"],
        &["FUNCTION", "DUMP"],
        &["CLUSTER", "MYID"],
        &["EXPIRETIME", "k"],
        &["PEXPIRETIME", "k"],
        &["XINFO", "STREAM", "s"],
    ] {
        assert_eq!(tips(words), Tips(0), "{words:?}");
    }
    for (words, unit) in [
        (&["EXPIRETIME", "k"][..], ReplyTime::Seconds),
        (&["PEXPIRETIME", "k"], ReplyTime::Millis),
        (&["HEXPIRETIME", "k"], ReplyTime::Seconds),
        (&["HPEXPIRETIME", "k"], ReplyTime::Millis),
    ] {
        assert_eq!(
            Class::of(&args(words)).reply_time(),
            Some(unit),
            "{words:?}"
        );
    }
}

#[test]
fn every_hand_listed_command_is_in_the_table() {
    let known = |c: &str, s: &str| {
        if c == "*" {
            return;
        }
        let spec = crate::command::lookup_name(c.as_bytes())
            .unwrap_or_else(|| panic!("{c} is not in the table"));
        assert!(
            s.is_empty() || s == "*" || spec.subcommand(s.as_bytes()).is_some(),
            "{c} {s} is not in the table"
        );
    };
    for &(c, s, _) in DURATIONS {
        known(c, s);
    }
    for c in RANDOM.iter().chain(SCANS) {
        known(c, "");
    }
    for &(c, s) in PAIRS
        .iter()
        .chain(ORDER_FREE)
        .chain(SERVER_SPECIFIC)
        .chain(SERVER_SPECIFIC_EXCEPT)
        .chain(UNTIPPED_NONDETERMINISTIC)
    {
        known(c, s);
    }
    for &(c, s, _, _) in MADE_UP_FIELDS {
        known(c, s);
    }
}

// Rule 1.

#[test]
fn equal_replies_are_the_same() {
    assert_eq!(check(&["GET", "k"], b("v"), b("v")), Verdict::Same);
    assert_eq!(
        check(&["GET", "k"], Value::NullBulk, Value::NullBulk),
        Verdict::Same
    );
    assert_eq!(
        check(&["GET", "k"], Value::Null, Value::Null),
        Verdict::Same
    );
    assert_eq!(
        check(&["LRANGE", "k", "0", "-1"], arr(vec![]), arr(vec![])),
        Verdict::Same
    );
    assert_eq!(
        check(&["SMEMBERS", "k"], Value::Set(vec![]), Value::Set(vec![])),
        Verdict::Same
    );
    // Even a value the server makes up, when it happens to match.
    assert_eq!(check(&["CLIENT", "ID"], int(7), int(7)), Verdict::Same);
    assert_eq!(check(&["NOSUCHCOMMAND"], b("x"), b("x")), Verdict::Same);
    let a = args(&["PING"]);
    assert_eq!(
        compare(Class::of(&a), &a, &[], &[], &Options::default()),
        Verdict::Same
    );
}

// Rule 2.

#[test]
fn an_error_on_one_side_is_a_difference() {
    let err = Value::error("ERR wrong number of arguments for 'get' command");
    assert_eq!(
        different(&check(&["GET", "k"], b("v"), err.clone())),
        "error on the target only"
    );
    assert_eq!(
        different(&check(&["GET", "k"], err.clone(), b("v"))),
        "error in the recording only"
    );
    // Before any forgiving rule: an error is never "nondeterministic".
    assert_eq!(
        different(&check(&["TIME"], bulks(&["1", "2"]), err.clone())),
        "error on the target only"
    );
    assert_eq!(
        different(&check(&["TTL", "k"], int(5), err.clone())),
        "error on the target only"
    );
    assert_eq!(
        different(&check(&["SCAN", "0"], err, bulks(&["0"]))),
        "error in the recording only"
    );
}

#[test]
fn error_text_is_compared_strictly() {
    let a = Value::error("ERR unknown command 'FOO', with args beginning with: ");
    let b2 = Value::error("ERR unknown command `FOO`, with args beginning with: ");
    assert_eq!(
        different(&check_both(&["FOO"], a.clone(), b2)),
        "error text differs"
    );
    // The same text as a RESP3 bulk error is the same error.
    let bulk_error = Value::BulkError(Bytes::from_static(
        b"ERR unknown command 'FOO', with args beginning with: ",
    ));
    assert_eq!(
        check_both(&["FOO"], a, bulk_error),
        Verdict::Equivalent("wire form")
    );
}

#[test]
fn a_nested_error_is_named_with_its_place() {
    let r = arr(vec![b("OK"), int(1)]);
    let l = arr(vec![
        b("OK"),
        Value::error("WRONGTYPE Operation against a key"),
    ]);
    assert_eq!(
        different(&check(&["EVAL", "return 1", "0"], r.clone(), l.clone())),
        "error on the target only at [1]"
    );
    assert_eq!(
        different(&check(&["EVAL", "return 1", "0"], l, r)),
        "error in the recording only at [1]"
    );
}

// Rule 3.

#[test]
fn ttls_compare_within_the_tolerance_in_the_commands_unit() {
    assert_eq!(
        check_both(&["TTL", "k"], int(100), int(98)),
        Verdict::Equivalent("ttl tolerance")
    );
    assert!(check_both(&["TTL", "k"], int(100), int(97)).is_different());
    assert_eq!(
        check_both(&["PTTL", "k"], int(100_000), int(98_000)),
        Verdict::Equivalent("ttl tolerance")
    );
    assert_eq!(
        different(&check(&["PTTL", "k"], int(100_000), int(97_999))),
        "ttl beyond tolerance (recorded 100000, target 97999)"
    );
    // A seconds reply rounds the tolerance up: 1.5 s forgives 2 s.
    let tight = Options {
        ttl_tolerance_ms: 1500,
    };
    assert_eq!(
        check_with(&["TTL", "k"], int(10), int(8), &tight),
        Verdict::Equivalent("ttl tolerance")
    );
    assert!(check_with(&["PTTL", "k"], int(10_000), int(8_000), &tight).is_different());
    let none = Options {
        ttl_tolerance_ms: 0,
    };
    assert!(check_with(&["TTL", "k"], int(10), int(9), &none).is_different());
    // Lower case works as well: the table looks names up in any case.
    assert_eq!(
        check(&["ttl", "k"], int(10), int(9)),
        Verdict::Equivalent("ttl tolerance")
    );
}

#[test]
fn no_expiry_and_no_key_must_match_exactly() {
    assert_eq!(
        different(&check(&["TTL", "k"], int(-1), int(-2))),
        "different expiry (recorded -1, target -2)"
    );
    assert!(check_both(&["TTL", "k"], int(-1), int(1)).is_different());
    assert!(check_both(&["PTTL", "k"], int(-2), int(0)).is_different());
    assert_eq!(check(&["TTL", "k"], int(-1), int(-1)), Verdict::Same);
}

#[test]
fn hash_field_ttls_compare_per_field() {
    let words = &["HTTL", "h", "FIELDS", "3", "a", "b", "c"];
    assert_eq!(
        check_both(
            words,
            arr(vec![int(100), int(-1), int(-2)]),
            arr(vec![int(99), int(-1), int(-2)])
        ),
        Verdict::Equivalent("ttl tolerance")
    );
    assert_eq!(
        different(&check(
            words,
            arr(vec![int(100), int(-1), int(50)]),
            arr(vec![int(100), int(-1), int(40)])
        )),
        "ttl beyond tolerance (recorded 50, target 40) at [2]"
    );
    assert_eq!(
        different(&check(words, arr(vec![int(1), int(2)]), arr(vec![int(1)]))),
        "different length (recorded 2, target 1)"
    );
    assert_eq!(
        check_both(
            &["HPTTL", "h", "FIELDS", "1", "a"],
            arr(vec![int(5000)]),
            arr(vec![int(3500)])
        ),
        Verdict::Equivalent("ttl tolerance")
    );
}

#[test]
fn idle_times_and_expiry_times_take_the_tolerance_too() {
    assert_eq!(
        check_both(&["OBJECT", "IDLETIME", "k"], int(3), int(1)),
        Verdict::Equivalent("ttl tolerance")
    );
    assert!(check_both(&["OBJECT", "IDLETIME", "k"], int(10), int(1)).is_different());
    // Absolute times, already shifted onto the live clock by the driver.
    assert_eq!(
        check_both(&["EXPIRETIME", "k"], int(1_700_000_100), int(1_700_000_101)),
        Verdict::Equivalent("ttl tolerance")
    );
    assert_eq!(
        check_both(
            &["PEXPIRETIME", "k"],
            int(1_700_000_100_000),
            int(1_700_000_101_999)
        ),
        Verdict::Equivalent("ttl tolerance")
    );
    assert!(
        check_both(&["EXPIRETIME", "k"], int(1_700_000_100), int(1_700_000_000)).is_different()
    );
    assert_eq!(
        check_both(
            &["HEXPIRETIME", "h", "FIELDS", "2", "a", "b"],
            arr(vec![int(1_700_000_100), int(-1)]),
            arr(vec![int(1_700_000_099), int(-1)])
        ),
        Verdict::Equivalent("ttl tolerance")
    );
    // TIME's reply_time is a clock, not an expiry: rule 8.
    assert_eq!(
        check(
            &["TIME"],
            bulks(&["1700000000", "1"]),
            bulks(&["1800000000", "2"])
        ),
        Verdict::NotComparable("nondeterministic output")
    );
}

#[test]
fn an_expiry_reply_of_another_shape_compares_as_a_value() {
    // OBJECT IDLETIME of a missing key is a null.
    assert_eq!(
        different(&check(
            &["OBJECT", "IDLETIME", "k"],
            Value::NullBulk,
            int(3)
        )),
        "different type (recorded null, target integer)"
    );
    assert_eq!(
        check_both(&["OBJECT", "IDLETIME", "k"], Value::NullBulk, Value::Null),
        Verdict::Equivalent("null shape")
    );
}

// Rule 4 and the scan union.

#[test]
fn a_scan_call_is_not_compared_by_itself() {
    let r = arr(vec![b("17"), bulks(&["a", "b"])]);
    let l = arr(vec![b("3"), bulks(&["c"])]);
    for words in [
        &["SCAN", "0"][..],
        &["SSCAN", "s", "0"],
        &["HSCAN", "h", "0"],
        &["ZSCAN", "z", "0", "COUNT", "10"],
    ] {
        assert_eq!(
            check_both(words, r.clone(), l.clone()),
            Verdict::NotComparable("scan cursor")
        );
    }
    // RESP3 may send the items as a set.
    let l3 = arr(vec![b("0"), Value::Set(vec![b("a")])]);
    assert_eq!(
        check(&["SCAN", "0"], r.clone(), l3),
        Verdict::NotComparable("scan cursor")
    );
    // Not a scan reply: compared as values.
    assert_eq!(
        different(&check(&["SCAN", "0"], r, Value::NullArray)),
        "different type (recorded array, target null)"
    );
}

fn scan(cursor: &str, items: &[&str]) -> Value {
    arr(vec![b(cursor), bulks(items)])
}

#[test]
fn a_scan_union_forgives_how_the_items_were_spread() {
    let mut union = ScanUnion::new(&args(&["SCAN", "0"]));
    union.add(&scan("5", &["a", "b"]), Some(&scan("9", &["c"])));
    union.add(&scan("0", &["c", "a"]), Some(&scan("0", &["b", "a"])));
    assert_eq!(union.verdict(), Verdict::Equivalent("scan union"));

    let mut same = ScanUnion::default();
    same.add(&scan("0", &["a"]), Some(&scan("0", &["a"])));
    assert_eq!(same.verdict(), Verdict::Same);
    assert_eq!(ScanUnion::default().verdict(), Verdict::Same);

    // The live iteration ended in fewer calls.
    let mut shorter = ScanUnion::default();
    shorter.add(&scan("5", &["a"]), Some(&scan("0", &["a", "b"])));
    shorter.add(&scan("0", &["b"]), None);
    assert_eq!(shorter.verdict(), Verdict::Equivalent("scan union"));

    // The live iteration needed more calls.
    let mut longer = ScanUnion::default();
    longer.add(&scan("0", &["a", "b"]), Some(&scan("7", &["a"])));
    assert!(longer.verdict().is_different());
    longer.add_live(&scan("0", &["b"]));
    assert_eq!(longer.verdict(), Verdict::Equivalent("scan union"));
}

#[test]
fn a_scan_union_names_what_is_on_one_side_only() {
    let mut union = ScanUnion::default();
    union.add(
        &scan("0", &["a", "b", "c", "d", "e"]),
        Some(&scan("0", &["a", "x"])),
    );
    assert_eq!(
        different(&union.verdict()),
        "scan union differs: 4 only in the recording (\"b\", \"c\", \"d\", …); \
         1 only on the target (\"x\")"
    );
    let mut missing = ScanUnion::default();
    missing.add(&scan("0", &["a"]), None);
    assert_eq!(
        different(&missing.verdict()),
        "scan union differs: 1 only in the recording (\"a\")"
    );
    let mut extra = ScanUnion::default();
    extra.add(&scan("0", &[]), Some(&scan("0", &["z"])));
    assert_eq!(
        different(&extra.verdict()),
        "scan union differs: 1 only on the target (\"z\")"
    );
}

#[test]
fn hash_and_sorted_set_scans_union_pairs() {
    let mut union = ScanUnion::new(&args(&["HSCAN", "h", "0"]));
    union.add(
        &scan("0", &["f", "1", "g", "2"]),
        Some(&scan("0", &["g", "2", "f", "1"])),
    );
    assert_eq!(union.verdict(), Verdict::Equivalent("scan union"));

    // The same fields and values, paired otherwise.
    let mut swapped = ScanUnion::new(&args(&["HSCAN", "h", "0"]));
    swapped.add(
        &scan("0", &["f", "1", "g", "2"]),
        Some(&scan("0", &["f", "2", "g", "1"])),
    );
    assert_eq!(
        different(&swapped.verdict()),
        "scan union differs: 2 only in the recording (\"f\" \"1\", \"g\" \"2\"); \
         2 only on the target (\"f\" \"2\", \"g\" \"1\")"
    );
    // Without pairs (`default()`), the same items are the same union.
    let mut singly = ScanUnion::default();
    singly.add(
        &scan("0", &["f", "1", "g", "2"]),
        Some(&scan("0", &["f", "2", "g", "1"])),
    );
    assert_eq!(singly.verdict(), Verdict::Equivalent("scan union"));

    let mut novalues = ScanUnion::new(&args(&["HSCAN", "h", "0", "NOVALUES"]));
    novalues.add(
        &scan("0", &["f", "g", "h"]),
        Some(&scan("0", &["h", "g", "f"])),
    );
    assert_eq!(novalues.verdict(), Verdict::Equivalent("scan union"));

    let mut zscan = ScanUnion::new(&args(&["zscan", "z", "0"]));
    zscan.add(&scan("0", &["m", "1.5"]), Some(&scan("0", &["m", "2"])));
    assert!(zscan.verdict().is_different());
}

#[test]
fn the_end_of_an_iteration_is_cursor_zero() {
    assert!(ScanUnion::is_end(&scan("0", &["a"])));
    assert!(ScanUnion::is_end(&scan("0", &[])));
    assert!(!ScanUnion::is_end(&scan("10", &["a"])));
    assert!(!ScanUnion::is_end(&scan("00", &[])));
    assert!(!ScanUnion::is_end(&Value::error("ERR invalid cursor")));
    assert!(!ScanUnion::is_end(&b("0")));
}

// Rule 5.

fn hello(server: &str, version: &str, id: i64, proto: i64) -> Vec<(&'static str, Value)> {
    vec![
        ("server", b(server)),
        ("version", b(version)),
        ("proto", int(proto)),
        ("id", int(id)),
        ("mode", b("standalone")),
        ("role", b("master")),
        ("modules", arr(vec![])),
    ]
}

fn flat(pairs: &[(&str, Value)]) -> Value {
    arr(pairs.iter().flat_map(|(k, v)| [b(k), v.clone()]).collect())
}

#[test]
fn hello_compares_without_the_servers_own_fields() {
    let r = hello("redis", "7.0.15", 5, 3);
    let l = hello("valkey", "8.1.4", 9, 3);
    assert_eq!(
        check_both(&["HELLO", "3"], map(&r), map(&l)),
        Verdict::Equivalent("hello server fields")
    );
    assert_eq!(
        check_both(&["HELLO", "2"], flat(&r), flat(&l)),
        Verdict::Equivalent("hello server fields")
    );
    // The protocol must match.
    let other_proto = hello("redis", "7.0.15", 5, 2);
    assert_eq!(
        different(&check(&["HELLO"], map(&r), map(&other_proto))),
        "different value at .proto"
    );
    // A field only one server sends.
    let mut more = l.clone();
    more.push(("availability_zone", b("")));
    assert_eq!(
        different(&check(&["HELLO", "3"], map(&r), map(&more))),
        "field only on the target at .availability_zone"
    );
    assert_eq!(
        different(&check(&["HELLO", "3"], map(&more), map(&r))),
        "field missing on the target at .availability_zone"
    );
}

#[test]
fn tracking_info_compares_without_the_redirect_id() {
    let info = |redirect: i64| {
        map(&[
            ("flags", Value::Set(vec![b("on"), b("bcast")])),
            ("redirect", int(redirect)),
            ("prefixes", bulks(&["a:"])),
        ])
    };
    assert_eq!(
        check_both(&["CLIENT", "TRACKINGINFO"], info(4), info(8)),
        Verdict::Equivalent("client ids")
    );
    let off = map(&[
        ("flags", Value::Set(vec![b("off")])),
        ("redirect", int(-1)),
        ("prefixes", bulks(&[])),
    ]);
    assert!(check_both(&["CLIENT", "TRACKINGINFO"], info(4), off).is_different());
}

// Rule 6.

#[test]
fn server_specific_replies_are_not_comparable() {
    let nc = Verdict::NotComparable("server-specific");
    assert_eq!(check_both(&["CLIENT", "ID"], int(3), int(12)), nc);
    assert_eq!(check_both(&["client", "id"], int(3), int(12)), nc);
    assert_eq!(check_both(&["CLIENT", "GETREDIR"], int(3), int(12)), nc);
    assert_eq!(check_both(&["MEMORY", "USAGE", "k"], int(56), int(72)), nc);
    assert_eq!(check_both(&["COMMAND", "COUNT"], int(240), int(250)), nc);
    assert_eq!(check_both(&["COMMAND"], arr(vec![]), arr(vec![int(1)])), nc);
    assert_eq!(
        check_both(
            &["COMMAND", "DOCS", "get"],
            flat(&[("get", arr(vec![]))]),
            flat(&[("get", arr(vec![int(1)]))])
        ),
        nc
    );
    assert_eq!(
        check_both(&["MODULE", "LIST"], arr(vec![]), arr(vec![arr(vec![])])),
        nc
    );
    assert_eq!(check_both(&["LATENCY", "RESET"], int(0), int(2)), nc);
    assert_eq!(
        check_both(&["LOLWUT"], b("Redis ver. 7.0.15"), b("Valkey ver. 8.1")),
        nc
    );
    assert_eq!(
        check_both(
            &["ROLE"],
            arr(vec![b("master"), int(10)]),
            arr(vec![b("master"), int(12)])
        ),
        nc
    );
    assert_eq!(check_both(&["WAIT", "1", "0"], int(1), int(0)), nc);
    assert_eq!(
        check_both(
            &["DEBUG", "OBJECT", "k"],
            Value::simple("Value at:1"),
            Value::simple("Value at:2")
        ),
        nc
    );
    assert_eq!(
        check_both(&["FUNCTION", "DUMP"], b("\x00a"), b("\x00b")),
        nc
    );
    assert_eq!(
        check_both(&["ACL", "LOG"], arr(vec![]), arr(vec![arr(vec![])])),
        nc
    );
    assert_eq!(check_both(&["CLUSTER", "MYID"], b("abc"), b("def")), nc);
    // Any container's help text.
    for words in [
        &["CONFIG", "HELP"][..],
        &["OBJECT", "HELP"],
        &["XINFO", "HELP"],
    ] {
        assert_eq!(check_both(words, bulks(&["a"]), bulks(&["a", "b"])), nc);
    }
    // But COMMAND GETKEYS answers about the request.
    assert_eq!(
        different(&check(
            &["COMMAND", "GETKEYS", "GET", "k"],
            bulks(&["k"]),
            bulks(&["j"])
        )),
        "different value at [0]"
    );
}

#[test]
fn a_made_up_value_must_still_be_there() {
    // MEMORY USAGE of a key the target does not have.
    assert_eq!(
        different(&check(&["MEMORY", "USAGE", "k"], int(56), Value::NullBulk)),
        "different type (recorded integer, target null)"
    );
    assert_eq!(
        check_both(&["MEMORY", "USAGE", "k"], Value::NullBulk, Value::Null),
        Verdict::Equivalent("null shape")
    );
}

// Rule 7.

#[test]
fn one_random_member_compares_by_type() {
    let random = Verdict::Equivalent("random members");
    assert_eq!(check_both(&["SRANDMEMBER", "s"], b("a"), b("b")), random);
    assert_eq!(check_both(&["SPOP", "s"], b("a"), b("b")), random);
    assert_eq!(check_both(&["RANDOMKEY"], b("k1"), b("k2")), random);
    assert_eq!(check_both(&["HRANDFIELD", "h"], b("f"), b("g")), random);
    assert_eq!(check_both(&["ZRANDMEMBER", "z"], b("m"), b("n")), random);
    assert_eq!(
        different(&check(&["RANDOMKEY"], b("k1"), Value::NullBulk)),
        "different type (recorded bulk, target null)"
    );
    assert_eq!(
        different(&check(&["SPOP", "s"], Value::Null, b("a"))),
        "different type (recorded null, target bulk)"
    );
    assert_eq!(
        check_both(&["RANDOMKEY"], Value::NullBulk, Value::Null),
        Verdict::Equivalent("null shape")
    );
}

#[test]
fn random_members_compare_by_count() {
    let random = Verdict::Equivalent("random members");
    // A negative count: exactly |count| members, repeats allowed.
    assert_eq!(
        check_both(
            &["SRANDMEMBER", "s", "-3"],
            bulks(&["a", "a", "b"]),
            bulks(&["c", "b", "b"])
        ),
        random
    );
    assert_eq!(
        different(&check(
            &["SRANDMEMBER", "s", "-3"],
            bulks(&["a", "a", "b"]),
            bulks(&["a"])
        )),
        "different length (recorded 3, target 1)"
    );
    // As many as asked for: a sample, members not checkable.
    assert_eq!(
        check_both(&["SPOP", "s", "2"], bulks(&["a", "b"]), bulks(&["c", "d"])),
        random
    );
    // Empty on both sides (no such key).
    assert_eq!(
        check(&["SRANDMEMBER", "s", "5"], bulks(&[]), bulks(&[])),
        Verdict::Same
    );
    assert_eq!(
        check_both(&["SRANDMEMBER", "s", "0"], bulks(&[]), Value::Set(vec![])),
        Verdict::Different("different type (recorded array, target set)".into())
    );
}

#[test]
fn the_whole_collection_is_compared_as_members() {
    let random = Verdict::Equivalent("random members");
    // Asked for 10, got 3: the whole set, in random order.
    assert_eq!(
        check_both(
            &["SRANDMEMBER", "s", "10"],
            bulks(&["a", "b", "c"]),
            bulks(&["c", "a", "b"])
        ),
        random
    );
    assert_eq!(
        different(&check(
            &["SRANDMEMBER", "s", "10"],
            bulks(&["a", "b", "c"]),
            bulks(&["c", "a", "x"])
        )),
        "different members (1 only recorded, 1 only on the target)"
    );
    assert_eq!(
        check_both(
            &["SPOP", "s", "5"],
            Value::Set(vec![b("a"), b("b")]),
            Value::Set(vec![b("b"), b("a")])
        ),
        random
    );
}

#[test]
fn random_fields_with_values_keep_their_pairs() {
    let random = Verdict::Equivalent("random members");
    let words = &["HRANDFIELD", "h", "5", "WITHVALUES"];
    // RESP2: flat. Two fields of five asked: the whole hash.
    assert_eq!(
        check_both(
            words,
            bulks(&["f", "1", "g", "2"]),
            bulks(&["g", "2", "f", "1"])
        ),
        random
    );
    assert!(check_both(
        words,
        bulks(&["f", "1", "g", "2"]),
        bulks(&["g", "1", "f", "2"])
    )
    .is_different());
    // RESP3: a pair per field.
    let pairs = |p: &[(&str, &str)]| arr(p.iter().map(|(f, v)| bulks(&[f, v])).collect());
    assert_eq!(
        check_both(
            words,
            pairs(&[("f", "1"), ("g", "2")]),
            pairs(&[("g", "2"), ("f", "1")])
        ),
        random
    );
    assert!(check_both(
        words,
        pairs(&[("f", "1"), ("g", "2")]),
        pairs(&[("f", "2"), ("g", "1")])
    )
    .is_different());
    // A sample of exactly the count asked for: not checkable.
    assert_eq!(
        check_both(
            &["ZRANDMEMBER", "z", "2", "withscores"],
            bulks(&["a", "1", "b", "2"]),
            bulks(&["c", "3", "d", "4"])
        ),
        random
    );
    assert_eq!(
        check_both(
            &["ZRANDMEMBER", "z", "-2", "WITHSCORES"],
            bulks(&["a", "1", "a", "1"]),
            bulks(&["c", "3", "d", "4"])
        ),
        random
    );
}

// Rule 8.

#[test]
fn tipped_nondeterministic_output_is_not_comparable() {
    let nc = Verdict::NotComparable("nondeterministic output");
    assert_eq!(
        check_both(
            &["TIME"],
            bulks(&["1700000000", "5"]),
            bulks(&["1800000000", "6"])
        ),
        nc
    );
    assert_eq!(check_both(&["LASTSAVE"], int(1), int(2)), nc);
    assert_eq!(
        check_both(
            &["INFO"],
            Value::Verbatim(Bytes::from_static(b"txt:# Server\r\nredis_version:7.0.15")),
            Value::Verbatim(Bytes::from_static(b"txt:# Server\r\nvalkey_version:8.1.4"))
        ),
        nc
    );
    assert_eq!(
        check_both(
            &["XADD", "s", "*", "f", "v"],
            b("1700000000000-0"),
            b("1800000000000-0")
        ),
        nc
    );
    assert_eq!(
        check_both(&["CLIENT", "LIST"], b("id=3 addr=x"), b("id=4 addr=y")),
        nc
    );
    assert_eq!(check_both(&["CLIENT", "INFO"], b("id=3"), b("id=4")), nc);
    assert_eq!(check_both(&["OBJECT", "FREQ", "k"], int(1), int(5)), nc);
    assert_eq!(
        check_both(&["OBJECT", "ENCODING", "k"], b("listpack"), b("ziplist")),
        nc
    );
    assert_eq!(
        check_both(
            &["SLOWLOG", "GET"],
            arr(vec![]),
            arr(vec![arr(vec![int(1)])])
        ),
        nc
    );
    assert_eq!(check_both(&["SLOWLOG", "LEN"], int(0), int(3)), nc);
    assert_eq!(check_both(&["DUMP", "k"], b("\x00\x01"), b("\x00\x02")), nc);
    assert_eq!(check_both(&["ACL", "GENPASS"], b("aa"), b("bb")), nc);
    assert_eq!(
        different(&check(
            &["XADD", "s", "NOMKSTREAM", "*", "f", "v"],
            Value::NullBulk,
            b("1-0")
        )),
        "different type (recorded null, target bulk)"
    );
}

// Rule 9.

#[test]
fn order_free_replies_compare_as_multisets() {
    let order = Verdict::Equivalent("order");
    assert_eq!(
        check_both(
            &["SMEMBERS", "s"],
            bulks(&["a", "b", "c"]),
            bulks(&["c", "a", "b"])
        ),
        order
    );
    assert_eq!(
        check_both(&["KEYS", "*"], bulks(&["k1", "k2"]), bulks(&["k2", "k1"])),
        order
    );
    assert_eq!(
        check_both(
            &["SINTER", "a", "b"],
            bulks(&["x", "y"]),
            bulks(&["y", "x"])
        ),
        order
    );
    assert_eq!(
        check_both(
            &["HVALS", "h"],
            bulks(&["1", "1", "2"]),
            bulks(&["2", "1", "1"])
        ),
        order
    );
    assert_eq!(
        check_both(
            &["SMEMBERS", "s"],
            Value::Set(vec![b("a"), b("b")]),
            Value::Set(vec![b("b"), b("a")])
        ),
        order
    );
    assert_eq!(
        different(&check(
            &["SMEMBERS", "s"],
            bulks(&["a", "b", "c"]),
            bulks(&["c", "a", "x"])
        )),
        "different members (1 only recorded, 1 only on the target)"
    );
    assert_eq!(
        different(&check(
            &["HVALS", "h"],
            bulks(&["1", "1", "2"]),
            bulks(&["1", "2", "2"])
        )),
        "different members (1 only recorded, 1 only on the target)"
    );
    assert_eq!(
        different(&check(
            &["SMEMBERS", "s"],
            bulks(&["a", "b"]),
            bulks(&["a"])
        )),
        "different members (1 only recorded, 0 only on the target)"
    );
    assert_eq!(
        different(&check(
            &["SMEMBERS", "s"],
            bulks(&["a"]),
            Value::Set(vec![b("a")])
        )),
        "different type (recorded array, target set)"
    );
}

#[test]
fn field_value_replies_keep_their_pairs() {
    let order = Verdict::Equivalent("order");
    let words = &["HGETALL", "h"];
    assert_eq!(
        check_both(
            words,
            bulks(&["f", "1", "g", "2"]),
            bulks(&["g", "2", "f", "1"])
        ),
        order
    );
    // The same words, paired otherwise: as loose items they would match.
    assert_eq!(
        different(&check(
            words,
            bulks(&["f", "1", "g", "2"]),
            bulks(&["f", "2", "g", "1"])
        )),
        "different members (2 only recorded, 2 only on the target)"
    );
    assert_eq!(
        check_both(
            words,
            map(&[("f", b("1")), ("g", b("2"))]),
            map(&[("g", b("2")), ("f", b("1"))])
        ),
        order
    );
    assert_eq!(
        different(&check(
            words,
            map(&[("f", b("1")), ("g", b("2"))]),
            map(&[("g", b("1")), ("f", b("2"))])
        )),
        "different members (2 only recorded, 2 only on the target)"
    );
    // CONFIG GET: not tipped, listed.
    let config = &["CONFIG", "GET", "maxmemory*"];
    assert_eq!(
        check_both(
            config,
            bulks(&["maxmemory", "0", "maxmemory-policy", "noeviction"]),
            bulks(&["maxmemory-policy", "noeviction", "maxmemory", "0"])
        ),
        order
    );
    assert!(check_both(
        config,
        bulks(&["maxmemory", "0"]),
        bulks(&["maxmemory", "100"])
    )
    .is_different());
    assert_eq!(
        check(&["HGETALL", "h"], arr(vec![]), Value::Map(vec![])),
        Verdict::Different("different type (recorded array, target map)".into())
    );
}

#[test]
fn ordered_replies_are_compared_in_order() {
    assert_eq!(
        different(&check(
            &["LRANGE", "l", "0", "-1"],
            bulks(&["a", "b"]),
            bulks(&["b", "a"])
        )),
        "different value at [0]"
    );
    assert_eq!(
        different(&check(
            &["ZRANGE", "z", "0", "-1"],
            bulks(&["a"]),
            bulks(&["a", "b"])
        )),
        "different length (recorded 1, target 2)"
    );
    assert_eq!(
        different(&check(&["GET", "k"], b("1"), int(1))),
        "different type (recorded bulk, target integer)"
    );
    assert_eq!(
        different(&check(&["GET", "k"], b("v1"), b("v2"))),
        "different value"
    );
    assert_eq!(
        different(&check(
            &["MGET", "a", "b"],
            arr(vec![b("1"), Value::NullBulk]),
            arr(vec![b("1"), b("2")])
        )),
        "different type (recorded null, target bulk) at [1]"
    );
    // A command the table does not know compares strictly.
    assert_eq!(
        different(&check(
            &["MY.MODULECMD"],
            bulks(&["a", "b"]),
            bulks(&["b", "a"])
        )),
        "different value at [0]"
    );
}

#[test]
fn the_three_nulls_are_one_null() {
    let null_shape = Verdict::Equivalent("null shape");
    assert_eq!(
        check_both(&["GET", "k"], Value::NullBulk, Value::Null),
        null_shape
    );
    assert_eq!(
        check_both(&["BLPOP", "l", "1"], Value::NullArray, Value::Null),
        null_shape
    );
    assert_eq!(
        check_both(&["GET", "k"], Value::NullBulk, Value::NullArray),
        null_shape
    );
    assert_eq!(
        check_both(
            &["MGET", "a", "b"],
            arr(vec![b("1"), Value::NullBulk]),
            arr(vec![b("1"), Value::Null])
        ),
        null_shape
    );
    // A null is not an empty array.
    assert!(check_both(&["LRANGE", "l", "0", "-1"], Value::NullArray, arr(vec![])).is_different());
}

#[test]
fn resp3_maps_and_sets_have_no_order() {
    let order = Verdict::Equivalent("order");
    let r = map(&[("length", int(2)), ("groups", int(0))]);
    let l = map(&[("groups", int(0)), ("length", int(2))]);
    assert_eq!(check_both(&["XINFO", "STREAM", "s"], r.clone(), l), order);
    let changed = map(&[("groups", int(1)), ("length", int(2))]);
    assert_eq!(
        different(&check(&["XINFO", "STREAM", "s"], r, changed)),
        "different value at .groups"
    );
    assert_eq!(
        check_both(
            &["EVAL", "x", "0"],
            Value::Set(vec![b("a"), b("b")]),
            Value::Set(vec![b("b"), b("a")])
        ),
        order
    );
    // Nested in an ordered reply, too; the array around them keeps its order.
    assert_eq!(
        check_both(
            &["EVAL", "x", "0"],
            arr(vec![int(1), map(&[("a", int(1)), ("b", int(2))])]),
            arr(vec![int(1), map(&[("b", int(2)), ("a", int(1))])])
        ),
        order
    );
    assert!(check_both(
        &["EVAL", "x", "0"],
        arr(vec![int(1), int(2)]),
        arr(vec![int(2), int(1)])
    )
    .is_different());
}

#[test]
fn wire_forms_are_set_aside() {
    let wire = Verdict::Equivalent("wire form");
    let streamed = Value::StreamedBulk(vec![Bytes::from_static(b"ab"), Bytes::from_static(b"c")]);
    assert_eq!(check_both(&["GET", "k"], b("abc"), streamed), wire);
    let attributed = Value::Attributed {
        attrs: vec![(b("key-popularity"), arr(vec![]))],
        value: Box::new(b("abc")),
    };
    assert_eq!(check_both(&["GET", "k"], b("abc"), attributed), wire);
    let streamed_array = Value::StreamedAggregate {
        kind: AggregateKind::Array,
        items: vec![b("a"), b("b")],
    };
    assert_eq!(
        check_both(
            &["LRANGE", "l", "0", "-1"],
            bulks(&["a", "b"]),
            streamed_array
        ),
        wire
    );
    let streamed_map = Value::StreamedAggregate {
        kind: AggregateKind::Map,
        items: vec![b("g"), b("2"), b("f"), b("1")],
    };
    assert_eq!(
        check_both(
            &["HGETALL", "h"],
            map(&[("f", b("1")), ("g", b("2"))]),
            streamed_map
        ),
        Verdict::Equivalent("order")
    );
}

#[test]
fn numbers_written_differently_are_named() {
    assert_eq!(
        different(&check(
            &["ZSCORE", "z", "m"],
            b("0.10000000000000001"),
            b("0.1")
        )),
        "same number written differently"
    );
    assert_eq!(
        different(&check(&["INCRBYFLOAT", "k", "1"], b("3.0"), b("3"))),
        "same number written differently"
    );
    assert_eq!(
        different(&check(
            &["ZSCORE", "z", "m"],
            Value::Double(Bytes::from_static(b"1.50")),
            Value::Double(Bytes::from_static(b"1.5"))
        )),
        "same number written differently"
    );
    assert_eq!(
        different(&check(&["ZSCORE", "z", "m"], b("1.5"), b("1.6"))),
        "different value"
    );
}

#[test]
fn several_replies_compare_one_by_one() {
    let sub = |n: i64| arr(vec![b("subscribe"), b("c"), int(n)]);
    let words = &["SUBSCRIBE", "a", "b"];
    let a = args(words);
    let options = Options::default();
    assert_eq!(
        compare(
            Class::of(&a),
            &a,
            &[sub(1), sub(2)],
            &[sub(1), sub(2)],
            &options
        ),
        Verdict::Same
    );
    assert_eq!(
        different(&compare(
            Class::of(&a),
            &a,
            &[sub(1), sub(2)],
            &[sub(1), sub(3)],
            &options
        )),
        "reply 2: different value at [2]"
    );
    assert_eq!(
        different(&compare(
            Class::of(&a),
            &a,
            &[sub(1), sub(2)],
            &[sub(1)],
            &options
        )),
        "2 replies recorded, 1 on the target"
    );
    assert_eq!(
        different(&compare(Class::of(&a), &a, &[sub(1)], &[], &options)),
        "1 reply recorded, 0 on the target"
    );
    // The heaviest verdict wins.
    let s = args(&["SMEMBERS", "s"]);
    assert_eq!(
        compare(
            Class::of(&s),
            &s,
            &[bulks(&["a"]), bulks(&["a", "b"])],
            &[bulks(&["a"]), bulks(&["b", "a"])],
            &options
        ),
        Verdict::Equivalent("order")
    );
}

#[test]
fn a_transaction_compares_each_queued_command_by_its_rules() {
    let smembers = args(&["SMEMBERS", "s"]);
    let get = args(&["GET", "k"]);
    let ttl = args(&["TTL", "k"]);
    let queued: Vec<&[Bytes]> = vec![&smembers, &get, &ttl];
    let options = Options::default();
    let r = arr(vec![bulks(&["a", "b"]), b("v"), int(100)]);
    let same_data = arr(vec![bulks(&["b", "a"]), b("v"), int(99)]);
    assert_eq!(
        compare_exec(&queued, &r, &same_data, &options),
        Verdict::Equivalent("order")
    );
    let other_value = arr(vec![bulks(&["b", "a"]), b("w"), int(99)]);
    assert_eq!(
        different(&compare_exec(&queued, &r, &other_value, &options)),
        "queued command 2 (GET): different value"
    );
    // Compared as one reply: an aborted transaction, a length mismatch.
    assert_eq!(
        compare_exec(&queued, &Value::NullArray, &Value::NullArray, &options),
        Verdict::Same
    );
    assert_eq!(
        compare_exec(&queued, &Value::NullArray, &Value::Null, &options),
        Verdict::Equivalent("null shape")
    );
    let execabort = Value::error("EXECABORT Transaction discarded because of previous errors.");
    assert_eq!(
        different(&compare_exec(&queued, &r, &execabort, &options)),
        "error on the target only"
    );
    assert_eq!(
        different(&compare_exec(&queued, &r, &arr(vec![b("v")]), &options)),
        "different length (recorded 3, target 1)"
    );
}

#[test]
fn shapes_are_named() {
    assert_eq!(shape(&b("x")), "bulk");
    assert_eq!(shape(&Value::simple("OK")), "simple");
    assert_eq!(shape(&int(1)), "integer");
    assert_eq!(shape(&Value::error("ERR")), "error");
    assert_eq!(shape(&Value::BulkError(Bytes::new())), "error");
    assert_eq!(shape(&Value::NullBulk), "null bulk");
    assert_eq!(shape(&Value::NullArray), "null array");
    assert_eq!(shape(&Value::Null), "null");
    assert_eq!(shape(&arr(vec![])), "array");
    assert_eq!(shape(&Value::Map(vec![])), "map");
    assert_eq!(shape(&Value::Set(vec![])), "set");
    assert_eq!(shape(&Value::Push(vec![])), "push");
    assert_eq!(shape(&Value::Double(Bytes::new())), "double");
    assert_eq!(shape(&Value::Boolean(true)), "boolean");
    assert_eq!(shape(&Value::BigNumber(Bytes::new())), "big number");
    assert_eq!(shape(&Value::Verbatim(Bytes::new())), "verbatim");
    assert_eq!(shape(&Value::StreamedBulk(vec![])), "bulk");
    assert_eq!(
        shape(&Value::StreamedAggregate {
            kind: AggregateKind::Set,
            items: vec![]
        }),
        "set"
    );
    assert_eq!(
        shape(&Value::Attributed {
            attrs: vec![],
            value: Box::new(int(1))
        }),
        "integer"
    );
}

/// Replies as deep as Redis may send compare on a tokio worker's stack.
#[test]
fn deep_replies_do_not_overflow() {
    let run = || {
        let nest = |leaf: Value| {
            let mut v = leaf;
            for i in 0..20_000 {
                v = if i % 2 == 0 {
                    arr(vec![v])
                } else {
                    Value::Map(vec![(b("k"), v)])
                };
            }
            v
        };
        let words = args(&["EVAL", "x", "0"]);
        let verdict = compare(
            Class::of(&words),
            &words,
            &[nest(int(1))],
            &[nest(int(2))],
            &Options::default(),
        );
        assert_eq!(
            different(&verdict),
            "different value at .k[0].k[0].k[0].k[0].k[0].k[0].k[0].k[0].k[0].k[0].k[0].k[0]…"
        );
        let verdict = compare(
            Class::of(&words),
            &words,
            &[nest(Value::NullBulk)],
            &[nest(Value::Null)],
            &Options::default(),
        );
        assert_eq!(verdict, Verdict::Equivalent("null shape"));
    };
    let thread = std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(run)
        .expect("spawns");
    assert!(thread.join().is_ok());
}
