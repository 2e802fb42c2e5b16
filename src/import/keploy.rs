//! Keploy's Redis mocks (`mocks.yaml`).
//!
//! The file is a stream of YAML documents, one mock each:
//! `version`, `kind` (`Redis` or `Generic`), `name` (`mock-0`, …),
//! `spec` and `connectionId`. The spec holds `metadata`, the requests
//! (`redisrequests` / `genericrequests`) and the responses
//! (`redisresponses` / `genericresponses`), each a list of
//! `{origin: client|server, message: [{type, data}]}`, and the times
//! `reqtimestampmock` / `restimestampmock`.
//!
//! A message of type `binary` is base64 of raw bytes, `string` the raw
//! text. Keploy keeps chunks as TCP delivered them, so a frame can be split
//! between chunks or several frames share one: the chunks of each
//! direction are joined and parsed with resplay's RESP parser. Typed
//! messages (`array`, `BulkString`, `SimpleString`, `integer`, … with a
//! `size`) are rebuilt into RESP bytes first when their data is text.
//! Whatever cannot be rebuilt is a warning naming the mock.

use base64::Engine as _;
use bytes::Bytes;
use serde::Deserialize;
use serde_norway::Value as Yaml;

use super::{Import, ImportError};
use crate::resp::{parse_reply, parse_request, Limits, RequestParse, Value};

/// One mock, reduced to what a cassette keeps.
struct Mock {
    label: String,
    conn_key: String,
    req_us: Option<i128>,
    res_us: Option<i128>,
    client: Vec<u8>,
    server: Vec<u8>,
}

/// Imports every Redis (or generic) mock of one YAML file.
pub fn import(file: &str, text: &[u8], import: &mut Import) -> Result<(), ImportError> {
    let mut mocks = Vec::new();
    for (i, doc) in serde_norway::Deserializer::from_slice(text).enumerate() {
        let fallback = format!("document {}", i + 1);
        let yaml = Yaml::deserialize(doc)
            .map_err(|e| ImportError::new(file, &fallback, format!("not YAML: {e}")))?;
        if yaml.is_null() {
            continue;
        }
        if let Some(m) = mock(file, &fallback, &yaml, import)? {
            mocks.push(m);
        }
    }
    let base = mocks.iter().filter_map(|m| m.req_us).min().unwrap_or(0);
    let mut conns: Vec<String> = Vec::new();
    for m in mocks {
        let conn = match conns.iter().position(|c| *c == m.conn_key) {
            Some(i) => i as u64 + 1,
            None => {
                conns.push(m.conn_key.clone());
                conns.len() as u64
            }
        };
        let at_ms = m.req_us.map_or(0, |t| ((t - base).max(0) / 1000) as u64);
        let took_us = match (m.req_us, m.res_us) {
            (Some(a), Some(b)) if b >= a => (b - a) as u64,
            _ => 0,
        };
        pair(file, &m, conn, at_ms, took_us, import)?;
    }
    Ok(())
}

/// A key of a mapping, ignoring case (`redisRequests`, `redisrequests`).
fn get<'a>(map: &'a Yaml, key: &str) -> Option<&'a Yaml> {
    map.as_mapping()?
        .iter()
        .find(|(k, _)| k.as_str().is_some_and(|k| k.eq_ignore_ascii_case(key)))
        .map(|(_, v)| v)
}

fn scalar_text(y: &Yaml) -> Option<String> {
    match y {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Number(n) => Some(n.to_string()),
        Yaml::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn mock(
    file: &str,
    fallback: &str,
    yaml: &Yaml,
    import: &mut Import,
) -> Result<Option<Mock>, ImportError> {
    let label = get(yaml, "name")
        .and_then(Yaml::as_str)
        .map_or_else(|| fallback.to_string(), str::to_string);
    let err = |m: String| ImportError::new(file, &label, m);
    let kind = get(yaml, "kind").and_then(Yaml::as_str).unwrap_or("");
    let prefix = match kind.to_ascii_lowercase().as_str() {
        "redis" => "redis",
        "generic" => "generic",
        "" => return Err(err("no `kind`: not a Keploy mock".into())),
        _ => {
            import.warn(
                file,
                &label,
                format!("kind `{kind}` is not Redis traffic: skipped"),
            );
            return Ok(None);
        }
    };
    let spec = get(yaml, "spec").ok_or_else(|| err("no `spec`".into()))?;
    let conn_key = get(yaml, "connectionId")
        .and_then(scalar_text)
        .unwrap_or_default();
    let mut client = Vec::new();
    let mut server = Vec::new();
    for (list, default_client) in [("requests", true), ("responses", false)] {
        let key = format!("{prefix}{list}");
        let Some(items) = get(spec, &key) else {
            continue;
        };
        let items = items
            .as_sequence()
            .ok_or_else(|| err(format!("`{key}` must be a list")))?;
        for (i, item) in items.iter().enumerate() {
            let from_client = match get(item, "origin").and_then(Yaml::as_str) {
                Some("client") => true,
                Some("server") => false,
                Some(o) => return Err(err(format!("`{key}` item {i}: unknown origin `{o}`"))),
                None => default_client,
            };
            let messages = get(item, "message")
                .and_then(Yaml::as_sequence)
                .ok_or_else(|| err(format!("`{key}` item {i}: no `message` list")))?;
            for (j, msg) in messages.iter().enumerate() {
                let at = format!("`{key}` item {i} message {j}");
                match message_bytes(msg).map_err(|m| err(format!("{at}: {m}")))? {
                    Ok(bytes) => {
                        if from_client {
                            client.extend_from_slice(&bytes)
                        } else {
                            server.extend_from_slice(&bytes)
                        }
                    }
                    Err(why) => import.warn(file, &label, format!("{at}: {why}: not carried over")),
                }
            }
        }
    }
    let mut time = |key: &str| -> Option<i128> {
        let text = get(spec, key).and_then(scalar_text)?;
        let t = super::rfc3339_micros(&text);
        if t.is_none() {
            import.warn(
                file,
                &label,
                format!("`{key}` {text:?} is not an RFC 3339 time: timing lost"),
            );
        }
        t
    };
    let req_us = time("reqtimestampmock");
    let res_us = time("restimestampmock");
    Ok(Some(Mock {
        label,
        conn_key,
        req_us,
        res_us,
        client,
        server,
    }))
}

/// The bytes of one message: `Ok(Ok(bytes))`, `Ok(Err(why))` for a typed
/// message that cannot be rebuilt (a warning), `Err` for a corrupt one.
fn message_bytes(msg: &Yaml) -> Result<Result<Vec<u8>, String>, String> {
    let kind = get(msg, "type").and_then(Yaml::as_str).ok_or("no `type`")?;
    let data = get(msg, "data").ok_or("no `data`")?;
    let size = get(msg, "size").and_then(Yaml::as_i64);
    let text = data.as_str();
    Ok(Ok(match kind.to_ascii_lowercase().as_str() {
        "binary" => {
            let t = text.ok_or("`binary` data must be a base64 string")?;
            base64::engine::general_purpose::STANDARD
                .decode(t.trim())
                .map_err(|e| format!("`binary` data is not base64: {e}"))?
        }
        "string" => text
            .ok_or("`string` data must be a string")?
            .as_bytes()
            .to_vec(),
        typed => {
            // Keploy's typed form keeps a frame's header apart (`size`) and
            // the text after its first CRLF as `data`.
            let Some(t) = text else {
                return Ok(Err(format!("typed `{kind}` message with structured data")));
            };
            let head = |b: char| -> Result<Vec<u8>, String> {
                let n = size.ok_or(format!("typed `{kind}` message without `size`"))?;
                Ok(format!("{b}{n}\r\n{t}").into_bytes())
            };
            match typed {
                "array" => head('*')?,
                "map" => head('%')?,
                "set" => head('~')?,
                "bulkstring" => {
                    let mut v = head('$')?;
                    v.extend_from_slice(b"\r\n");
                    v
                }
                "simplestring" => {
                    let body = t.strip_prefix('+').unwrap_or(t);
                    format!("+{body}\r\n").into_bytes()
                }
                "integer" => match size {
                    Some(n) if t.is_empty() => format!(":{n}\r\n").into_bytes(),
                    _ => return Ok(Err(format!("typed `{kind}` message without its value"))),
                },
                _ => return Ok(Err(format!("typed `{kind}` message"))),
            }
        }
    }))
}

/// Parses the joined chunks of a mock and appends its interactions.
fn pair(
    file: &str,
    m: &Mock,
    conn: u64,
    at_ms: u64,
    took_us: u64,
    import: &mut Import,
) -> Result<(), ImportError> {
    let err = |what: &str, e: String| ImportError::new(file, &m.label, format!("{what}: {e}"));
    let limits = Limits::upstream();
    let mut requests = Vec::new();
    let mut rest = Bytes::copy_from_slice(&m.client);
    while !rest.is_empty() {
        match parse_request(&rest, &limits).map_err(|e| err("client bytes are not RESP", e.0))? {
            RequestParse::Incomplete => {
                import.warn(
                    file,
                    &m.label,
                    format!(
                        "{} client byte(s) at the end do not form a whole command: dropped",
                        rest.len()
                    ),
                );
                break;
            }
            RequestParse::Skip { len } => {
                let _ = rest.split_to(len);
            }
            RequestParse::Command(frame) => {
                let raw = rest.split_to(frame.len);
                requests.push(frame.args(&raw));
            }
        }
    }
    let mut replies = std::collections::VecDeque::new();
    let mut rest = Bytes::copy_from_slice(&m.server);
    while !rest.is_empty() {
        match parse_reply(&rest, &limits).map_err(|e| err("server bytes are not RESP", e.0))? {
            None => {
                import.warn(
                    file,
                    &m.label,
                    format!(
                        "{} server byte(s) at the end do not form a whole reply: dropped",
                        rest.len()
                    ),
                );
                break;
            }
            Some((value, len)) => {
                let _ = rest.split_to(len);
                replies.push_back(value);
            }
        }
    }
    if requests.is_empty() && !replies.is_empty() {
        import.warn(file, &m.label, "replies with no command: written as pushes");
    }
    for cmd in requests {
        let want = match crate::command::subscription(&cmd) {
            Some(_) => (cmd.len() - 1).max(1),
            None => 1,
        };
        let mut got: Vec<Value> = Vec::new();
        while got.len() < want {
            match replies.pop_front() {
                Some(v) => got.push(v),
                None => break,
            }
        }
        if got.is_empty() {
            import.warn(
                file,
                &m.label,
                format!(
                    "`{}`: no reply recorded: not written (replay would never answer it)",
                    String::from_utf8_lossy(&cmd[0])
                ),
            );
            continue;
        }
        if got.len() < want {
            import.warn(
                file,
                &m.label,
                format!(
                    "`{}`: {} of {want} repl{} recorded",
                    String::from_utf8_lossy(&cmd[0]),
                    got.len(),
                    if want == 1 { "y" } else { "ies" }
                ),
            );
        }
        import.interaction(conn, at_ms, took_us, cmd, got);
    }
    let extra = replies.len();
    for v in replies {
        import.push(conn, at_ms, v);
    }
    if extra > 0 {
        import.warn(
            file,
            &m.label,
            format!("{extra} reply frame(s) beyond the commands' replies: written as pushes"),
        );
    }
    Ok(())
}
