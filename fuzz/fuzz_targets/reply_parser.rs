//! Server replies: whatever the parser accepts must re-encode to exactly the
//! bytes it consumed (the proxy forwards values it decoded), and measuring a
//! frame must agree with parsing it, and so must the recorder's RESP→JSON
//! transcoder (same length, same JSON as serializing the parsed value).
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use resplay::cassette::json::{to_json, write_reply_json};
use resplay::resp::{parse_reply, reply_len, to_bytes, Limits};

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let buf = Bytes::copy_from_slice(data);
    let parsed = parse_reply(&buf, &limits);
    let measured = reply_len(data, &limits);
    match parsed {
        Ok(Some((value, len))) => {
            assert!(len > 0 && len <= data.len(), "bad frame length {len}");
            assert_eq!(measured, Ok(Some(len)), "reply_len disagrees");
            assert_eq!(
                &to_bytes(&value)[..],
                &data[..len],
                "re-encoding differs from the consumed bytes"
            );
            let mut json = Vec::new();
            assert_eq!(
                write_reply_json(data, &mut json),
                Some(len),
                "transcoder length"
            );
            assert_eq!(
                json,
                to_json(&value).into_bytes(),
                "transcoded JSON differs"
            );
        }
        Ok(None) => assert_eq!(measured, Ok(None), "reply_len disagrees"),
        Err(_) => assert!(
            measured.is_err(),
            "reply_len accepts what parse_reply rejects"
        ),
    }
});
