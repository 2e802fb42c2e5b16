//! Codec throughput: how fast the proxy can find frame boundaries.
//!
//! - `request/parse_request`: a pipelined stream of 10 000 `SET` multibulk
//!   frames in one buffer, scanned frame by frame as a session does.
//! - `reply/reply_len` and `reply/parse_reply`: a mixed RESP3 reply stream
//!   (bulk, integers, maps, sets, doubles, pushes, nested arrays, nulls),
//!   measured only, then measured and decoded.
//! - `reply/to_json_via_value` and `reply/to_json_transcoded`: the same
//!   stream turned into cassette JSON, by decoding each frame and serializing
//!   the value (the way `show --json` does), and by the recorder's one-pass
//!   transcoder.
//!
//! Throughput is in bytes of wire input per second. Measurement times are
//! short so the whole run stays well under a minute:
//! `cargo bench --bench codec`.

use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use resplay::cassette::json::{write_reply_json, JsonValue};
use resplay::resp::{parse_reply, parse_request, reply_len, Limits, RequestParse};

/// Frames per buffer: enough that per-call overhead is averaged out, small
/// enough to stay in L2.
const FRAMES: usize = 10_000;

/// `*3 $3 SET $N key:NNNNN $64 <64 bytes>` repeated, as a client pipeline.
fn set_pipeline() -> Vec<u8> {
    let value = [b'v'; 64];
    let mut buf = Vec::with_capacity(FRAMES * 100);
    for i in 0..FRAMES {
        let key = format!("key:{i:05}");
        buf.extend_from_slice(b"*3\r\n$3\r\nSET\r\n");
        buf.extend_from_slice(format!("${}\r\n{key}\r\n", key.len()).as_bytes());
        buf.extend_from_slice(b"$64\r\n");
        buf.extend_from_slice(&value);
        buf.extend_from_slice(b"\r\n");
    }
    buf
}

/// A rotation of RESP3 replies of the kinds a busy client sees.
fn mixed_replies() -> Vec<u8> {
    let samples: &[&[u8]] = &[
        b"+OK\r\n",
        b"$11\r\nhello world\r\n",
        b":12345\r\n",
        b"_\r\n",
        b"$-1\r\n",
        b",3.14159\r\n",
        b"#t\r\n",
        // HGETALL-style map.
        b"%3\r\n$5\r\nfield\r\n$5\r\nvalue\r\n$3\r\nage\r\n:42\r\n$4\r\nname\r\n$7\r\nresplay\r\n",
        // SMEMBERS-style set.
        b"~4\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n",
        // Pub/sub message push.
        b">3\r\n$7\r\nmessage\r\n$4\r\nchan\r\n$13\r\nhello, world!\r\n",
        // SCAN-style nested array.
        b"*2\r\n$1\r\n0\r\n*3\r\n$4\r\nkey1\r\n$4\r\nkey2\r\n$4\r\nkey3\r\n",
        // Deeper nesting: XRANGE-style entries.
        b"*2\r\n*2\r\n$15\r\n1700000000000-0\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n*2\r\n$15\r\n1700000000000-1\r\n*2\r\n$1\r\ng\r\n,1.5\r\n",
        b"=15\r\ntxt:Some string\r\n",
        b"(3492890328409238509324850943850943825024385\r\n",
    ];
    // A 256-byte bulk, the size of a typical cached value.
    let mut big = b"$256\r\n".to_vec();
    big.extend_from_slice(&[b'x'; 256]);
    big.extend_from_slice(b"\r\n");
    let mut buf = Vec::new();
    for i in 0..FRAMES {
        match samples.get(i % (samples.len() + 1)) {
            Some(sample) => buf.extend_from_slice(sample),
            None => buf.extend_from_slice(&big),
        }
    }
    buf
}

fn bench_requests(c: &mut Criterion) {
    let buf = set_pipeline();
    let limits = Limits::default();
    let mut group = c.benchmark_group("request");
    group.throughput(Throughput::Bytes(buf.len() as u64));
    group.bench_function("parse_request", |b| {
        b.iter(|| {
            let mut pos = 0;
            let mut frames = 0usize;
            while pos < buf.len() {
                match parse_request(black_box(&buf[pos..]), &limits) {
                    Ok(RequestParse::Command(frame)) => {
                        pos += frame.len;
                        frames += 1;
                    }
                    Ok(RequestParse::Skip { len }) => pos += len,
                    other => panic!("unexpected parse result at {pos}: {other:?}"),
                }
            }
            assert_eq!(frames, FRAMES);
            frames
        })
    });
    group.finish();
}

fn bench_replies(c: &mut Criterion) {
    let buf = Bytes::from(mixed_replies());
    let limits = Limits::default();
    let mut group = c.benchmark_group("reply");
    group.throughput(Throughput::Bytes(buf.len() as u64));
    group.bench_function("reply_len", |b| {
        b.iter(|| {
            let mut pos = 0;
            while pos < buf.len() {
                match reply_len(black_box(&buf[pos..]), &limits) {
                    Ok(Some(len)) => pos += len,
                    other => panic!("unexpected reply_len result at {pos}: {other:?}"),
                }
            }
            pos
        })
    });
    group.bench_function("parse_reply", |b| {
        b.iter(|| {
            // The session splits each frame off its buffer before decoding;
            // `slice` is the same refcount bump, without the mutation.
            let mut rest = buf.clone();
            let mut frames = 0usize;
            while !rest.is_empty() {
                match parse_reply(black_box(&rest), &limits) {
                    Ok(Some((value, len))) => {
                        black_box(value);
                        rest = rest.slice(len..);
                        frames += 1;
                    }
                    other => panic!("unexpected parse_reply result: {other:?}"),
                }
            }
            frames
        })
    });
    let mut json = Vec::with_capacity(4 * buf.len());
    group.bench_function("to_json_via_value", |b| {
        b.iter(|| {
            json.clear();
            let mut rest = buf.clone();
            while !rest.is_empty() {
                match parse_reply(black_box(&rest), &limits) {
                    Ok(Some((value, len))) => {
                        serde_json::to_writer(&mut json, &JsonValue(&value)).expect("serializes");
                        rest = rest.slice(len..);
                    }
                    other => panic!("unexpected parse_reply result: {other:?}"),
                }
            }
            json.len()
        })
    });
    group.bench_function("to_json_transcoded", |b| {
        b.iter(|| {
            json.clear();
            let mut pos = 0;
            while pos < buf.len() {
                match write_reply_json(black_box(&buf[pos..]), &mut json) {
                    Some(len) => pos += len,
                    None => panic!("transcoder refused the frame at {pos}"),
                }
            }
            json.len()
        })
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_requests, bench_replies
}
criterion_main!(benches);
