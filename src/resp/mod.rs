//! RESP2/RESP3 wire codec, written by hand.
//!
//! Why not a crate: the popular `redis-protocol` crate recurses on nested
//! input (a `*1\r\n` bomb overflows the stack), reads RESP2 `$-1`/`*-1` as
//! RESP3 streamed starts, and does not give back the exact bytes of a frame.
//! A proxy needs all three, so this module scans iteratively with limits and
//! keeps every RESP3 type apart.

pub mod value;

pub use value::{AggregateKind, Value};
