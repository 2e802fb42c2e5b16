//! RESP2/RESP3 wire codec, written by hand.
//!
//! Why not a crate: the popular `redis-protocol` crate recurses on nested
//! input (a `*1\r\n` bomb overflows the stack), reads RESP2 `$-1`/`*-1` as
//! RESP3 streamed starts, and does not give back the exact bytes of a frame.
//! A proxy needs all three, so this module scans iteratively with limits and
//! keeps every RESP3 type apart.
//!
//! - [`value`]: the decoded value type.
//! - [`request`] and [`inline`]: client requests, multibulk and inline.
//! - [`reply`]: server replies, every RESP2/RESP3 type.
//! - [`encode`](mod@encode): values back to bytes, byte-identical.
//! - [`downgrade`]: RESP3 values as Redis sends them to RESP2 clients.
//! - [`limits`]: size limits and the protocol error type.
//! - [`rdb`]: the RDB transfer answering `SYNC`/`PSYNC` (a bulk with no
//!   trailing CRLF, or the diskless `$EOF:<mark>` form).

pub mod downgrade;
pub mod encode;
pub mod inline;
pub mod limits;
pub mod rdb;
pub mod reply;
pub mod request;
pub mod value;

pub use downgrade::{is_resp2, to_resp2, NullShape};
pub use encode::{encode, encode_command, to_bytes};
pub use limits::{parse_i64, Limits, ProtocolError, MAX_REPLY_DEPTH};
pub use reply::{parse_reply, reply_len};
pub use request::{parse_request, RequestFrame, RequestParse};
pub(crate) use value::with_stack;
pub use value::{AggregateKind, Value};
