//! A workload touching every data type, run through the `redis` crate.
//! Record tests compare it with direct Redis; replay tests run it again
//! against a cassette.

use redis::{cmd, Connection, Value};

/// Binary value with CR LF and bytes that are not UTF-8.
pub const BINARY: &[u8] = b"a\r\nb\x00\xff\xfe\r\n";

/// Every command of the workload, in order, as argument lists.
pub fn commands() -> Vec<Vec<Vec<u8>>> {
    let text =
        |words: &[&str]| -> Vec<Vec<u8>> { words.iter().map(|w| w.as_bytes().to_vec()).collect() };
    let mut all = vec![
        text(&["SET", "s:1", "hello"]),
        text(&["GET", "s:1"]),
        text(&["APPEND", "s:1", " world"]),
        text(&["INCRBY", "n:1", "5"]),
        text(&["INCRBYFLOAT", "f:1", "1.5"]),
        text(&["GET", "missing"]),
        text(&["MGET", "s:1", "missing", "n:1"]),
        text(&["HSET", "h:1", "a", "1", "b", "2"]),
        text(&["HGETALL", "h:1"]),
        text(&["HGET", "h:1", "a"]),
        text(&["RPUSH", "l:1", "x", "y", "z"]),
        text(&["LRANGE", "l:1", "0", "-1"]),
        text(&["LPOP", "l:1"]),
        text(&["SADD", "set:1", "m"]),
        text(&["SMEMBERS", "set:1"]),
        text(&["SISMEMBER", "set:1", "m"]),
        text(&["ZADD", "z:1", "1.5", "a", "2", "b"]),
        text(&["ZRANGE", "z:1", "0", "-1", "WITHSCORES"]),
        text(&["ZSCORE", "z:1", "a"]),
        text(&["XADD", "x:1", "1-1", "f", "v"]),
        text(&["XRANGE", "x:1", "-", "+"]),
        text(&["XLEN", "x:1"]),
        text(&["MULTI"]),
        text(&["INCR", "n:1"]),
        text(&["SET", "s:2", "v"]),
        text(&["EXEC"]),
        text(&["MULTI"]),
        text(&["INCR", "n:1"]),
        text(&["DISCARD"]),
        text(&["WATCH", "n:1"]),
        text(&["UNWATCH"]),
        text(&["GET", "h:1"]),
        text(&["NOSUCHCOMMAND", "x"]),
        text(&["EXISTS", "s:1", "s:2", "nope"]),
        text(&["TYPE", "z:1"]),
        text(&["OBJECT", "ENCODING", "l:1"]),
    ];
    all.push(vec![b"SET".to_vec(), b"bin:\xff".to_vec(), BINARY.to_vec()]);
    all.push(vec![b"GET".to_vec(), b"bin:\xff".to_vec()]);
    all
}

/// Runs the workload, returning every reply (errors as `ServerError`).
pub fn run(con: &mut Connection) -> Vec<Value> {
    commands()
        .iter()
        .map(|args| {
            let mut c = cmd(std::str::from_utf8(&args[0]).unwrap());
            for a in &args[1..] {
                c.arg(&a[..]);
            }
            match c.query::<Value>(con) {
                Ok(v) => v,
                Err(e) => Value::SimpleString(format!("client error: {e}")),
            }
        })
        .collect()
}
