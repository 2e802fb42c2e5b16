//! Ignore rules (`--ignore`, `ignore = [...]`, a mode switch's `ignore`):
//! any text parses to a rule or an error, never a panic, and the match key
//! replay computes with the rule for any command does not panic either.
//!
//! Input: the rule on the first line; the lines after it are a command's
//! arguments, one per line.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use resplay::pattern::{match_key, IgnoreRule};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (rule_text, args) = text.split_once('\n').unwrap_or((&text, ""));
    let Ok(rule) = rule_text.parse::<IgnoreRule>() else {
        return;
    };
    assert_eq!(rule.text, rule_text, "the rule keeps its text for messages");
    let rules = [rule];
    let args: Vec<Bytes> = args
        .split('\n')
        .map(|a| Bytes::copy_from_slice(a.as_bytes()))
        .collect();
    let key = match_key(&args, &rules);
    assert!(!key.is_empty(), "a match key keeps the command name");
    let _ = match_key(&[], &rules);
});
