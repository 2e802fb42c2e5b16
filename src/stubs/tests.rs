use super::*;

fn args(words: &[&str]) -> Vec<Bytes> {
    words.iter().map(|w| Bytes::from(w.to_string())).collect()
}

fn spec(line: &str) -> StubSpec {
    StubSpec::line(line)
}

#[test]
fn captures_fill_the_reply() {
    let stubs = Stubs::default();
    stubs.add(spec(r#"GET user:{id} => "name-{id}""#)).unwrap();
    let got = stubs.check(&args(&["get", "user:42"]), 0).unwrap();
    assert_eq!(got.reply, Value::Bulk(Bytes::from_static(b"name-42")));
    assert!(stubs.check(&args(&["GET", "item:1"]), 0).is_none());
    assert!(stubs.check(&args(&["GET", "user:1", "x"]), 0).is_none());
}

#[test]
fn times_nth_sequences_db_and_errors() {
    let stubs = Stubs::default();
    let mut loading = spec("GET k");
    loading.replies = vec![
        "(error) LOADING Redis is loading".into(),
        "(error) LOADING Redis is loading".into(),
        "\"v\"".into(),
    ];
    loading.times = Some(3);
    stubs.add(loading).unwrap();
    let replies: Vec<Option<Value>> = (0..4)
        .map(|_| stubs.check(&args(&["GET", "k"]), 0).map(|s| s.reply))
        .collect();
    assert_eq!(
        replies,
        [
            Some(Value::Error(Bytes::from_static(
                b"LOADING Redis is loading"
            ))),
            Some(Value::Error(Bytes::from_static(
                b"LOADING Redis is loading"
            ))),
            Some(Value::Bulk(Bytes::from_static(b"v"))),
            None,
        ]
    );
    let mut second = spec("INCR n => (integer) 99");
    second.nth = Some(2);
    second.db = Some(3);
    second.delay = Some("20ms".into());
    stubs.add(second).unwrap();
    assert!(stubs.check(&args(&["INCR", "n"]), 0).is_none());
    assert!(stubs.check(&args(&["INCR", "n"]), 3).is_none());
    let hit = stubs.check(&args(&["INCR", "n"]), 3).unwrap();
    assert_eq!(hit.reply, Value::Integer(99));
    assert_eq!(hit.delay, Duration::from_millis(20));
    assert!(stubs.check(&args(&["INCR", "n"]), 3).is_none());
    let listed = stubs.list();
    assert_eq!((listed[0].seen, listed[0].answered), (4, 3));
    assert_eq!((listed[1].seen, listed[1].answered), (3, 1));
    assert!(stubs.remove(listed[0].id));
    assert_eq!(stubs.clear(), 1);
    assert!(stubs.is_empty());
}

#[test]
fn json_and_bad_rules() {
    let stubs = Stubs::default();
    let mut json = spec("HGETALL user:*");
    json.json = Some(serde_json::json!({"%": [["name", "Ada"]]}));
    stubs.add(json).unwrap();
    let got = stubs.check(&args(&["HGETALL", "user:7"]), 0).unwrap();
    assert_eq!(
        got.reply,
        Value::Map(vec![(
            Value::Bulk(Bytes::from_static(b"name")),
            Value::Bulk(Bytes::from_static(b"Ada"))
        )])
    );
    assert!(stubs.add(spec("GET k")).is_err());
    assert!(stubs.add(spec("GET k => (integer) x")).is_err());
    let mut two = spec("GET k => \"a\"");
    two.error = Some("ERR x".into());
    assert!(Stub::new(two).is_err());
    assert!(stubs.add(spec("GET {id => \"a\"")).is_err());
}
