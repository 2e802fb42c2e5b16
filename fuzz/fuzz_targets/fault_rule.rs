//! Fault rules (`--fault`, `POST /faults`, `[[fault]]`): any text parses to
//! a rule or an error, never a panic. A rule shows itself (`GET /faults`,
//! the answer to `POST /faults`) as text that parses back to the same rule,
//! and matching it against any command does not panic.
//!
//! Input: the rule on the first line; the lines after it are a command's
//! arguments, one per line, matched against the rule.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use resplay::fault::FaultRule;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (rule_text, args) = text.split_once('\n').unwrap_or((&text, ""));
    let Ok(rule) = rule_text.parse::<FaultRule>() else {
        return;
    };
    let shown = rule.to_string();
    let again: FaultRule = shown
        .parse()
        .unwrap_or_else(|e| panic!("the rule as shown ({shown:?}) does not parse back: {e}"));
    assert_eq!(
        again, rule,
        "the rule as shown ({shown:?}) parses to another rule"
    );
    assert_eq!(again.to_string(), shown, "showing is not stable");
    let args: Vec<Bytes> = args
        .split('\n')
        .map(|a| Bytes::copy_from_slice(a.as_bytes()))
        .collect();
    let _ = rule.matches(&args);
    let _ = rule.matches(&args[..1]);
    let _ = rule.matches(&[]);
});
