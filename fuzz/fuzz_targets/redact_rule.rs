//! Redaction rules (`--redact`, `[[redact]]`): any text parses to a rule or
//! an error, never a panic; a redactor with the rule, applied to any
//! command, reply and push, does not panic, and redacting is idempotent on
//! the command (a placeholder is not redacted again into another one).
//!
//! Input: the rule on the first line; the next lines are a command's
//! arguments, one per line; the last of them is also its reply (a bulk
//! string, inside an array and a map too).
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use resplay::redact::{RedactRule, Redactor};
use resplay::resp::Value;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (rule_text, rest) = text.split_once('\n').unwrap_or((&text, ""));
    let Ok(rule) = rule_text.parse::<RedactRule>() else {
        return;
    };
    let redactor = Redactor::new(vec![rule], "fuzz-salt");
    let mut cmd: Vec<Bytes> = rest
        .split('\n')
        .map(|a| Bytes::copy_from_slice(a.as_bytes()))
        .collect();
    let last = cmd.last().cloned().unwrap_or_default();
    let mut replies = vec![
        Value::Bulk(last.clone()),
        Value::Array(vec![Value::Bulk(last.clone()), Value::Integer(1)]),
        Value::Map(vec![(Value::Bulk(last.clone()), Value::Bulk(last.clone()))]),
    ];
    let _ = redactor.applies(&cmd);
    let _ = redactor.interaction(&mut cmd, &mut replies, true);
    let once = cmd.clone();
    let _ = redactor.command(&mut cmd);
    assert_eq!(cmd, once, "redacting a redacted command changed it again");
    let mut push = Value::Push(vec![
        Value::Bulk(Bytes::from_static(b"message")),
        Value::Bulk(last.clone()),
        Value::Bulk(last),
    ]);
    let _ = redactor.push(&mut push);
    let _ = redactor.unmatched();
});
