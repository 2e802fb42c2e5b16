//! Replies resplay makes up itself for handshake commands that were not
//! recorded (recording leaves them out by default). Which commands those
//! are is the command table's (`Resplay::HANDSHAKE`): `HELLO`, `PING`,
//! `ECHO`, `SELECT`, `AUTH`, `CLIENT SETNAME|GETNAME|SETINFO|ID`,
//! `READONLY`, `READWRITE`, `QUIT`, `RESET`; this module says what each
//! answers.

use bytes::Bytes;

use crate::command::{self, arg_is, Class};
use crate::resp::Value;

/// What replay tracks per live connection for the handshake.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    /// The live connection id (`CLIENT ID`).
    pub id: u64,
    /// 2 or 3.
    pub protocol: u8,
    /// `CLIENT SETNAME`.
    pub name: Option<Bytes>,
    /// In RESP2 pub/sub mode (`PING` answers `["pong", …]`).
    pub subscribed: bool,
}

/// What a synthesized reply does besides answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Nothing else.
    None,
    /// Close the connection once the reply is written (`QUIT`).
    Close,
    /// Back to a fresh connection's state (`RESET`).
    Reset,
}

/// The server version replay claims in `HELLO` when the cassette does not
/// say which Redis it recorded.
pub const DEFAULT_SERVER_VERSION: &str = "7.0.0";

/// What replay's own `HELLO` says of the server: the recorded server's
/// own `HELLO 3` reply (the header's `hello`: `server`, `version`, `mode`,
/// `role`, `modules`, Valkey's `availability_zone`…) with each connection's
/// `proto` and `id`, or Redis's fields for a cassette without it.
#[derive(Debug, Clone, Default)]
pub struct ServerHello {
    /// The recorded reply (a map).
    reply: Option<Value>,
    /// The server's version: the reply's, else the header's.
    version: Option<String>,
}

impl ServerHello {
    /// The server a cassette was recorded against, as its header says.
    pub fn from_header(header: &crate::cassette::Header) -> ServerHello {
        ServerHello {
            reply: header.hello.clone().filter(|h| matches!(h, Value::Map(_))),
            version: header.server_version.clone(),
        }
    }

    /// The server's version (`HELLO`'s `version`).
    pub fn version(&self) -> &str {
        self.version.as_deref().unwrap_or(DEFAULT_SERVER_VERSION)
    }
}

fn wrong_arity(name: &str) -> Value {
    Value::error(format!(
        "ERR wrong number of arguments for '{}' command",
        name.to_ascii_lowercase()
    ))
}

fn bulk(s: &str) -> Value {
    Value::Bulk(Bytes::copy_from_slice(s.as_bytes()))
}

/// The reply to a handshake command, or `None` if it is not one.
/// Updates `info` (protocol, name) as Redis would.
pub fn synthesize(
    args: &[Bytes],
    info: &mut ConnInfo,
    server: &ServerHello,
) -> Option<(Value, Effect)> {
    if !command::is_handshake(args) {
        return None;
    }
    let name = command::name(args);
    let ok = Value::simple("OK");
    let reply = match name.as_str() {
        "PING" => match args.len() {
            1 if info.subscribed && info.protocol == 2 => {
                Value::Array(vec![bulk("pong"), bulk("")])
            }
            1 => Value::simple("PONG"),
            2 if info.subscribed && info.protocol == 2 => {
                Value::Array(vec![bulk("pong"), Value::Bulk(args[1].clone())])
            }
            2 => Value::Bulk(args[1].clone()),
            _ => wrong_arity("ping"),
        },
        "ECHO" if args.len() == 2 => Value::Bulk(args[1].clone()),
        "ECHO" => wrong_arity("echo"),
        "SELECT" if args.len() == 2 => match std::str::from_utf8(&args[1])
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
        {
            Some(n) if n >= 0 => ok,
            Some(_) => Value::error("ERR DB index is out of range"),
            None => Value::error("ERR value is not an integer or out of range"),
        },
        "SELECT" => wrong_arity("select"),
        "AUTH" if (2..=3).contains(&args.len()) => ok,
        "AUTH" => wrong_arity("auth"),
        "READONLY" | "READWRITE" => ok,
        "QUIT" => return Some((ok, Effect::Close)),
        "RESET" => {
            info.protocol = 2;
            info.name = None;
            info.subscribed = false;
            return Some((Value::simple("RESET"), Effect::Reset));
        }
        "CLIENT" => client(args, info)?,
        "HELLO" => hello(args, info, server),
        _ => return None,
    };
    Some((reply, Effect::None))
}

/// True for the commands replay answers itself when nothing recorded
/// matches them.
pub fn is_handshake(class: Class, args: &[Bytes]) -> bool {
    if !class.is_handshake() {
        return false;
    }
    let mut probe = ConnInfo {
        id: 0,
        protocol: 2,
        name: None,
        subscribed: false,
    };
    synthesize(args, &mut probe, &ServerHello::default()).is_some()
}

fn client(args: &[Bytes], info: &mut ConnInfo) -> Option<Value> {
    Some(if arg_is(args, 1, "SETNAME") && args.len() == 3 {
        if args[2].iter().any(|&b| b <= b' ' || b > b'~') {
            Value::error("ERR Client names cannot contain spaces, newlines or special characters.")
        } else {
            info.name = Some(args[2].clone()).filter(|n| !n.is_empty());
            Value::simple("OK")
        }
    } else if arg_is(args, 1, "GETNAME") && args.len() == 2 {
        match &info.name {
            Some(n) => Value::Bulk(n.clone()),
            None => Value::Null,
        }
    } else if arg_is(args, 1, "SETINFO") && args.len() == 4 {
        Value::simple("OK")
    } else if arg_is(args, 1, "ID") && args.len() == 2 {
        Value::Integer(info.id as i64)
    } else {
        return None;
    })
}

/// `HELLO [protover [AUTH user pass] [SETNAME name]]`.
fn hello(args: &[Bytes], info: &mut ConnInfo, server: &ServerHello) -> Value {
    if let Some(version) = args.get(1) {
        let parsed = std::str::from_utf8(version)
            .ok()
            .and_then(|v| v.parse::<i64>().ok());
        match parsed {
            Some(2) => info.protocol = 2,
            Some(3) => info.protocol = 3,
            Some(_) => return Value::error("NOPROTO unsupported protocol version"),
            None => return Value::error("ERR Protocol version is not an integer or out of range"),
        }
    }
    let mut i = 2;
    while i < args.len() {
        if arg_is(args, i, "AUTH") && i + 2 < args.len() {
            i += 3;
        } else if arg_is(args, i, "SETNAME") && i + 1 < args.len() {
            info.name = Some(args[i + 1].clone());
            i += 2;
        } else {
            return Value::error(format!(
                "ERR Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(&args[i])
            ));
        }
    }
    let proto = Value::Integer(i64::from(info.protocol));
    let id = Value::Integer(info.id as i64);
    if let Some(Value::Map(recorded)) = &server.reply {
        let pairs = recorded
            .iter()
            .map(|(k, v)| match k.as_bytes() {
                Some(b"proto") => (k.clone(), proto.clone()),
                Some(b"id") => (k.clone(), id.clone()),
                _ => (k.clone(), v.clone()),
            })
            .collect();
        return Value::Map(pairs);
    }
    let [server_key, version, proto_key, id_key, mode, role, modules] = command::HELLO_FIELDS;
    Value::Map(vec![
        (bulk(server_key), bulk("redis")),
        (bulk(version), bulk(server.version())),
        (bulk(proto_key), proto),
        (bulk(id_key), id),
        (bulk(mode), bulk("standalone")),
        (bulk(role), bulk("master")),
        (bulk(modules), Value::Array(Vec::new())),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> ConnInfo {
        ConnInfo {
            id: 9,
            protocol: 2,
            name: None,
            subscribed: false,
        }
    }

    fn run(words: &[&str], info: &mut ConnInfo) -> Option<Value> {
        let args = crate::command::args_of(words);
        synthesize(&args, info, &ServerHello::default()).map(|(v, _)| v)
    }

    #[test]
    fn hello_switches_protocol() {
        let mut i = info();
        assert!(matches!(run(&["hello", "3"], &mut i), Some(Value::Map(_))));
        assert_eq!(i.protocol, 3);
        assert_eq!(
            run(&["HELLO", "4"], &mut i),
            Some(Value::error("NOPROTO unsupported protocol version"))
        );
        assert_eq!(i.protocol, 3);
        run(&["HELLO", "2", "AUTH", "u", "p", "SETNAME", "me"], &mut i);
        assert_eq!((i.protocol, i.name.as_deref()), (2, Some(&b"me"[..])));
    }

    #[test]
    fn basics() {
        let mut i = info();
        assert_eq!(run(&["PING"], &mut i), Some(Value::simple("PONG")));
        assert_eq!(run(&["ping", "x"], &mut i), Some(Value::bulk("x")));
        assert_eq!(run(&["ECHO", "e"], &mut i), Some(Value::bulk("e")));
        assert_eq!(run(&["SELECT", "3"], &mut i), Some(Value::simple("OK")));
        assert_eq!(
            run(&["AUTH", "anything"], &mut i),
            Some(Value::simple("OK"))
        );
        assert_eq!(run(&["CLIENT", "GETNAME"], &mut i), Some(Value::Null));
        run(&["client", "setname", "app"], &mut i);
        assert_eq!(
            run(&["CLIENT", "GETNAME"], &mut i),
            Some(Value::bulk("app"))
        );
        assert_eq!(run(&["CLIENT", "ID"], &mut i), Some(Value::Integer(9)));
        assert_eq!(run(&["CLIENT", "LIST"], &mut i), None);
        assert_eq!(run(&["GET", "k"], &mut i), None);
        i.subscribed = true;
        assert!(matches!(run(&["PING"], &mut i), Some(Value::Array(_))));
    }
}
