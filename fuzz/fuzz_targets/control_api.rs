//! The control API's request bodies (`--admin`): `POST /mode`, `/faults`,
//! `/publish` and `/invalidate`. Any body is read by axum's `Json` extractor
//! into the type its handler takes, as the handler reads it, or refused,
//! never a panic; then what the handler does with it before touching the
//! server, where that is pure:
//!
//! - a mode spec: the options its mode does not take (the switch refuses
//!   them), its ignore rules parsed, and the spec as `GET /status` shows it
//!   reads back to the same spec;
//! - a fault: its rule parsed, and the rule as the answer shows it parses
//!   back to the same rule;
//! - a publish and an invalidation: the channel, message and keys as bytes.
//!
//! Input: the first byte picks the endpoint, the rest is the body.
#![no_main]

use axum::Json;
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use resplay::control::api::{Invalidate, NewFault, Publish};
use resplay::control::ModeSpec;
use resplay::fault::FaultRule;
use resplay::pattern::IgnoreRule;

fn mode(body: &[u8]) {
    let Ok(Json(spec)) = Json::<ModeSpec>::from_bytes(body) else {
        return;
    };
    let misplaced = spec.misplaced_options();
    if misplaced.is_empty() {
        for rule in &spec.ignore {
            let _ = rule.parse::<IgnoreRule>();
        }
    }
    let shown = serde_json::to_vec(&spec).expect("a mode spec serializes");
    let Json(again) = Json::<ModeSpec>::from_bytes(&shown)
        .unwrap_or_else(|e| panic!("the spec as shown does not read back: {}", e.body_text()));
    assert_eq!(again, spec, "the spec as shown reads back as another spec");
    assert_eq!(again.misplaced_options(), misplaced);
}

fn fault(body: &[u8]) {
    let Ok(Json(new)) = Json::<NewFault>::from_bytes(body) else {
        return;
    };
    let Ok(rule) = new.rule.parse::<FaultRule>() else {
        return;
    };
    let shown = rule.to_string();
    let again: FaultRule = shown
        .parse()
        .unwrap_or_else(|e| panic!("the rule as answered ({shown:?}) does not parse back: {e}"));
    assert_eq!(
        again, rule,
        "the rule as answered ({shown:?}) parses to another rule"
    );
}

fn publish(body: &[u8]) {
    let Ok(Json(publish)) = Json::<Publish>::from_bytes(body) else {
        return;
    };
    let _ = (
        Bytes::from(publish.channel),
        Bytes::from(publish.message),
        publish.shard,
    );
}

fn invalidate(body: &[u8]) {
    let Ok(Json(invalidate)) = Json::<Invalidate>::from_bytes(body) else {
        return;
    };
    let keys: Option<Vec<Bytes>> = invalidate
        .keys
        .map(|keys| keys.into_iter().map(Bytes::from).collect());
    let _ = keys;
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    match which % 4 {
        0 => mode(body),
        1 => fault(body),
        2 => publish(body),
        _ => invalidate(body),
    }
});
