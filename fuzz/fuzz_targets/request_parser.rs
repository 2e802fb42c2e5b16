//! Client requests: parse frame after frame as a connection would, and check
//! that every frame consumed has a sane length and arguments that fit in it.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use resplay::resp::{parse_request, Limits, RequestParse};

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let mut rest = data;
    while !rest.is_empty() {
        let len = match parse_request(rest, &limits) {
            Ok(RequestParse::Incomplete) | Err(_) => break,
            Ok(RequestParse::Skip { len }) => len,
            Ok(RequestParse::Command(frame)) => {
                let raw = Bytes::copy_from_slice(&rest[..frame.len.min(rest.len())]);
                let args = frame.args(&raw);
                assert!(!args.is_empty(), "a command has at least one argument");
                if !frame.is_inline() {
                    let total: usize = args.iter().map(|a| a.len()).sum();
                    assert!(total <= frame.len, "arguments longer than their frame");
                }
                frame.len
            }
        };
        assert!(len > 0, "a frame consumes something");
        assert!(len <= rest.len(), "frame longer than the input");
        rest = &rest[len..];
    }
});
