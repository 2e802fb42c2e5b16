//! Arguments that name resplay's own address.
//!
//! A client sometimes tells the server about the server itself: `MIGRATE
//! 127.0.0.1 <port> key 0 5000` to the address it is connected to, `REPLICAOF`
//! it, a test that passes `[srv port]` along. While recording, that address
//! is the recorder's; while replaying it is the replay server's, and the two
//! rarely listen on the same port (`--listen 127.0.0.1:0`, `resplay run`). So
//! on an exact miss, an argument that is the replay's own port is read as
//! the recorder's port (the cassette header's `listen`) and the command is
//! looked up again.

use bytes::Bytes;

/// The port of an address written `host:port` (`[::1]:6380` too).
pub fn port_of(addr: &str) -> Option<&str> {
    let port = addr.rsplit_once(':')?.1;
    (!port.is_empty() && port.bytes().all(|b| b.is_ascii_digit())).then_some(port)
}

/// `args` with every argument equal to `own_port` replaced by
/// `recorded_port`; `None` when no argument is (or the ports are equal).
pub fn as_recorded(args: &[Bytes], own_port: &str, recorded_port: &str) -> Option<Vec<Bytes>> {
    if own_port == recorded_port || !args.iter().any(|a| a == own_port.as_bytes()) {
        return None;
    }
    let recorded = Bytes::copy_from_slice(recorded_port.as_bytes());
    Some(
        args.iter()
            .map(|a| {
                if a == own_port.as_bytes() {
                    recorded.clone()
                } else {
                    a.clone()
                }
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::args_of;

    #[test]
    fn ports() {
        assert_eq!(port_of("127.0.0.1:6380"), Some("6380"));
        assert_eq!(port_of("[::1]:7000"), Some("7000"));
        assert_eq!(port_of("unix:/tmp/r.sock"), None);
        assert_eq!(port_of("host:"), None);
    }

    #[test]
    fn own_port_reads_as_the_recorders() {
        let live = args_of(&["MIGRATE", "127.0.0.1", "40001", "key", "9", "5000"]);
        assert_eq!(
            as_recorded(&live, "40001", "33161"),
            Some(args_of(&[
                "MIGRATE",
                "127.0.0.1",
                "33161",
                "key",
                "9",
                "5000"
            ]))
        );
        assert_eq!(as_recorded(&live, "40002", "33161"), None);
        assert_eq!(as_recorded(&live, "40001", "40001"), None);
    }
}
