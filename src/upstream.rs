//! The real Redis behind resplay: its URL, and opening a ready connection
//! (authenticated and on the right database) to it.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::resp::{encode_command, parse_reply, Limits, Value};

/// Where the upstream is and how to log in, from
/// `redis://[user:pass@]host:port[/db]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Upstream {
    /// `host:port`, as given (used in errors and in the cassette header).
    pub addr: String,
    /// ACL user name; `None` means the default user.
    pub user: Option<String>,
    /// Password; when set, every upstream connection sends `AUTH` first.
    pub password: Option<String>,
    /// Database to `SELECT` on every upstream connection (0 = leave as is).
    pub db: u32,
    /// How long connecting (and the login handshake) may take.
    pub connect_timeout: Duration,
}

impl std::fmt::Debug for Upstream {
    // Written by hand so that a password never reaches a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("addr", &self.addr)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("db", &self.db)
            .finish()
    }
}

/// Why the upstream could not be used.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// The URL is not a `redis://` URL resplay understands.
    #[error("invalid upstream URL '{url}': {reason}")]
    BadUrl {
        /// The URL as given (password masked).
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// TCP connect failed or timed out.
    #[error("upstream {addr} unreachable: {reason}")]
    Unreachable {
        /// `host:port`.
        addr: String,
        /// The cause.
        reason: String,
    },
    /// `AUTH` or `SELECT` was refused.
    #[error("upstream {addr} refused {step}: {reply}")]
    Refused {
        /// `host:port`.
        addr: String,
        /// `AUTH` or `SELECT`.
        step: &'static str,
        /// The server's error text.
        reply: String,
    },
}

impl Upstream {
    /// Parses `redis://[user:pass@]host[:port][/db]` (port 6379 by default;
    /// a bare `host:port` is accepted too).
    pub fn parse(text: &str) -> Result<Upstream, UpstreamError> {
        let with_scheme = if text.contains("://") {
            text.to_string()
        } else {
            format!("redis://{text}")
        };
        let bad = |reason: &str| UpstreamError::BadUrl {
            url: mask_password(text),
            reason: reason.to_string(),
        };
        let url = url::Url::parse(&with_scheme).map_err(|e| bad(&e.to_string()))?;
        if url.scheme() != "redis" {
            return Err(bad("only redis:// is supported (no TLS)"));
        }
        let host = url.host_str().ok_or_else(|| bad("no host"))?;
        let port = url.port().unwrap_or(6379);
        let user = Some(percent_decode(url.username())).filter(|u| !u.is_empty());
        let password = url.password().map(percent_decode);
        let db = match url.path().trim_start_matches('/') {
            "" => 0,
            n => n
                .parse()
                .map_err(|_| bad("the path must be a database number"))?,
        };
        Ok(Upstream {
            addr: format!("{host}:{port}"),
            user,
            password,
            db,
            connect_timeout: Duration::from_secs(5),
        })
    }

    /// Opens a connection, with `AUTH` and `SELECT` done when the URL asks
    /// for them, so what follows can be relayed byte for byte.
    pub async fn connect(&self) -> Result<TcpStream, UpstreamError> {
        let unreachable = |reason: String| UpstreamError::Unreachable {
            addr: self.addr.clone(),
            reason,
        };
        let attempt = async {
            let mut stream = TcpStream::connect(&self.addr)
                .await
                .map_err(|e| unreachable(e.to_string()))?;
            stream
                .set_nodelay(true)
                .map_err(|e| unreachable(e.to_string()))?;
            if let Some(password) = &self.password {
                let mut args = vec![Bytes::from_static(b"AUTH")];
                if let Some(user) = &self.user {
                    args.push(Bytes::from(user.clone()));
                }
                args.push(Bytes::from(password.clone()));
                self.call(&mut stream, &args, "AUTH").await?;
            }
            if self.db != 0 {
                let args = [
                    Bytes::from_static(b"SELECT"),
                    Bytes::from(self.db.to_string()),
                ];
                self.call(&mut stream, &args, "SELECT").await?;
            }
            Ok(stream)
        };
        match tokio::time::timeout(self.connect_timeout, attempt).await {
            Ok(result) => result,
            Err(_) => Err(unreachable(format!(
                "timed out after {:?}",
                self.connect_timeout
            ))),
        }
    }

    /// Sends one command and reads its reply; an error reply is `Refused`.
    async fn call(
        &self,
        stream: &mut TcpStream,
        args: &[Bytes],
        step: &'static str,
    ) -> Result<(), UpstreamError> {
        let io = |e: std::io::Error| UpstreamError::Unreachable {
            addr: self.addr.clone(),
            reason: e.to_string(),
        };
        let mut out = BytesMut::new();
        encode_command(args, &mut out);
        stream.write_all(&out).await.map_err(io)?;
        let mut buf = BytesMut::new();
        loop {
            if stream.read_buf(&mut buf).await.map_err(io)? == 0 {
                return Err(io(std::io::ErrorKind::UnexpectedEof.into()));
            }
            let frozen = Bytes::copy_from_slice(&buf);
            let parsed =
                parse_reply(&frozen, &Limits::default()).map_err(|e| UpstreamError::Refused {
                    addr: self.addr.clone(),
                    step,
                    reply: e.to_string(),
                })?;
            if let Some((value, _)) = parsed {
                return match value {
                    Value::Error(e) | Value::BulkError(e) => Err(UpstreamError::Refused {
                        addr: self.addr.clone(),
                        step,
                        reply: String::from_utf8_lossy(&e).into_owned(),
                    }),
                    _ => Ok(()),
                };
            }
        }
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The URL with any password replaced, for error messages.
pub fn mask_password(text: &str) -> String {
    match (text.find("://"), text.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &text[scheme + 3..at];
            match creds.find(':') {
                Some(colon) => format!(
                    "{}{}:<redacted>{}",
                    &text[..scheme + 3],
                    &creds[..colon],
                    &text[at..]
                ),
                None => format!("{}<redacted>{}", &text[..scheme + 3], &text[at..]),
            }
        }
        _ => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = Upstream::parse("redis://127.0.0.1:6390").unwrap();
        assert_eq!(
            (u.addr.as_str(), u.user, u.password, u.db),
            ("127.0.0.1:6390", None, None, 0)
        );
        let u = Upstream::parse("redis://alice:p%40ss@localhost/2").unwrap();
        assert_eq!(u.addr, "localhost:6379");
        assert_eq!(u.user.as_deref(), Some("alice"));
        assert_eq!(u.password.as_deref(), Some("p@ss"));
        assert_eq!(u.db, 2);
        let u = Upstream::parse("redis://:secret@h:1").unwrap();
        assert_eq!((u.user, u.password.as_deref()), (None, Some("secret")));
        assert_eq!(Upstream::parse("h:7000").unwrap().addr, "h:7000");
        assert!(Upstream::parse("rediss://h").is_err());
        assert!(Upstream::parse("redis://h/x").is_err());
        let e = Upstream::parse("redis://u:pw@h/x").unwrap_err().to_string();
        assert!(!e.contains("pw"), "{e}");
        assert!(!format!("{:?}", Upstream::parse("redis://u:pw@h").unwrap()).contains("pw"));
    }
}
