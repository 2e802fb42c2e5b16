//! The real Redis behind resplay: its URL, and opening a ready connection
//! (authenticated and on the right database) to it.
//!
//! The upstream is reached over TCP (`redis://`), TLS (`rediss://`, see
//! [`crate::tls`]) or a Unix socket (`unix://`, `redis+unix://`). A Unix socket skips the TCP stack on both
//! ends: when Redis runs on the same machine, recording through one costs
//! much less CPU per request than loopback TCP (see docs/benchmarks.md).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::{tcp, unix, TcpStream, UnixStream};
use tokio_util::either::Either;

use crate::resp::{encode_command, parse_reply, Limits, Value};
use crate::tls::{TlsError, UpstreamTls, UpstreamTlsOptions};

/// A TLS connection to the upstream.
pub type TlsUpstream = Box<tokio_rustls::client::TlsStream<TcpStream>>;
/// A connection to the upstream: plain (TCP or Unix socket), or TLS.
pub type UpstreamStream = Either<Either<TcpStream, UnixStream>, TlsUpstream>;
/// The reading half of an [`UpstreamStream`].
pub type UpstreamReader =
    Either<Either<tcp::OwnedReadHalf, unix::OwnedReadHalf>, ReadHalf<TlsUpstream>>;
/// The writing half of an [`UpstreamStream`].
pub type UpstreamWriter =
    Either<Either<tcp::OwnedWriteHalf, unix::OwnedWriteHalf>, WriteHalf<TlsUpstream>>;

/// Splits a connection into halves that two futures can own: with no lock
/// between them for plain sockets (unlike `tokio::io::split`, which TLS
/// needs, its session state being shared by both directions).
pub fn split(stream: UpstreamStream) -> (UpstreamReader, UpstreamWriter) {
    match stream {
        Either::Left(Either::Left(tcp)) => {
            let (r, w) = tcp.into_split();
            (Either::Left(Either::Left(r)), Either::Left(Either::Left(w)))
        }
        Either::Left(Either::Right(unix)) => {
            let (r, w) = unix.into_split();
            (
                Either::Left(Either::Right(r)),
                Either::Left(Either::Right(w)),
            )
        }
        Either::Right(tls) => {
            let (r, w) = tokio::io::split(tls);
            (Either::Right(r), Either::Right(w))
        }
    }
}

/// How the upstream is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// `host:port` over TCP.
    Tcp(String),
    /// A Unix domain socket at this path.
    Unix(PathBuf),
}

/// Where the upstream is and how to log in, from
/// `redis://[user:pass@]host:port[/db]` or
/// `unix:///path/to/redis.sock[?db=N&user=U&password=P]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Upstream {
    /// `host:port` or `unix:/path`, for errors and the cassette header.
    pub addr: String,
    /// How to reach it.
    pub transport: Transport,
    /// ACL user name; `None` means the default user.
    pub user: Option<String>,
    /// Password; when set, every upstream connection sends `AUTH` first.
    pub password: Option<String>,
    /// Database to `SELECT` on every upstream connection (0 = leave as is).
    pub db: u32,
    /// How long connecting (and the login handshake) may take.
    pub connect_timeout: Duration,
    /// TLS (`rediss://`), ready to connect.
    pub tls: Option<Arc<UpstreamTls>>,
}

impl std::fmt::Debug for Upstream {
    // Written by hand so that a password never reaches a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("addr", &self.addr)
            .field("transport", &self.transport)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("db", &self.db)
            .field("tls", &self.tls)
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
    /// Connecting failed or timed out.
    #[error("upstream {addr} unreachable: {reason}")]
    Unreachable {
        /// `host:port` or `unix:/path`.
        addr: String,
        /// The cause.
        reason: String,
    },
    /// `AUTH` or `SELECT` was refused.
    #[error("upstream {addr} refused {step}: {reply}")]
    Refused {
        /// `host:port` or `unix:/path`.
        addr: String,
        /// `AUTH` or `SELECT`.
        step: &'static str,
        /// The server's error text.
        reply: String,
    },
    /// The TLS options cannot be used (a CA file, a key…).
    #[error("upstream {addr}: {cause}")]
    Tls {
        /// `host:port`.
        addr: String,
        /// What is wrong (in the message, so not also a `source` that
        /// `{:#}` would print a second time).
        cause: TlsError,
    },
}

impl Upstream {
    /// The server's own `HELLO 3` reply (`server`, `version`, `mode`,
    /// `role`, `modules`, Valkey's `availability_zone`…), read once when a
    /// recording starts, so that replay's made-up `HELLO` says what this
    /// server says. `None` when the server cannot be reached within a few
    /// seconds or refuses `HELLO`: the recording goes on without it.
    pub async fn hello_reply(&self) -> Option<Value> {
        let probe = async {
            let mut stream = self.connect().await.ok()?;
            ask(&mut stream, &["HELLO", "3"]).await.ok()
        };
        let reply = tokio::time::timeout(Duration::from_secs(3), probe)
            .await
            .ok()??;
        matches!(reply, Value::Map(_)).then_some(reply)
    }

    /// A cassette header for a recording against this upstream that
    /// starts now: its address, the database its connections start in,
    /// and what the server says of itself in `HELLO`.
    pub async fn recording_header(&self) -> crate::cassette::Header {
        crate::cassette::Header {
            db: Some(self.db),
            tls: self.tls.is_some(),
            ..crate::cassette::Header::new(Some(self.addr.clone()))
        }
        .with_hello(self.hello_reply().await)
    }
    /// Parses `redis://[user:pass@]host[:port][/db]` (port 6379 by default;
    /// a bare `host:port` is accepted too), or a Unix socket as
    /// `unix:///path/to/redis.sock[?db=N&user=U&password=P]` (also spelled
    /// `redis+unix://`, and `pass=` for `password=`, as the `redis` crate
    /// writes it).
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
        let scheme = with_scheme.split("://").next().unwrap_or_default();
        if is_unix_scheme(scheme)
            && with_scheme
                .split('?')
                .next()
                .is_some_and(|head| head.contains('@'))
        {
            return Err(bad(
                "a Unix socket URL takes credentials in its query: unix:///path?user=U&password=P",
            ));
        }
        let url = url::Url::parse(&with_scheme).map_err(|e| bad(&e.to_string()))?;
        let mut user = Some(percent_decode(url.username())).filter(|u| !u.is_empty());
        let mut password = url.password().map(percent_decode);
        let (addr, transport, db) = match url.scheme() {
            "redis" | "rediss" => {
                let host = url.host_str().ok_or_else(|| bad("no host"))?;
                let port = url.port().unwrap_or(6379);
                if url.query().is_some() {
                    return Err(bad("redis:// URLs take no query; the path is the database"));
                }
                let db = match url.path().trim_start_matches('/') {
                    "" => 0,
                    n => n
                        .parse()
                        .map_err(|_| bad("the path must be a database number"))?,
                };
                let addr = format!("{host}:{port}");
                (addr.clone(), Transport::Tcp(addr), db)
            }
            scheme if is_unix_scheme(scheme) => {
                if url.host_str().is_some_and(|h| !h.is_empty()) {
                    return Err(bad(
                        "a Unix socket URL has no host: write unix:///absolute/path",
                    ));
                }
                let path = percent_decode(url.path());
                if path.is_empty() || path == "/" {
                    return Err(bad("no socket path"));
                }
                let mut db = 0;
                for (key, value) in url.query_pairs() {
                    match &*key {
                        "db" => {
                            db = value
                                .parse()
                                .map_err(|_| bad("db must be a database number"))?
                        }
                        "password" | "pass" => password = Some(value.into_owned()),
                        "user" | "username" => user = Some(value.into_owned()),
                        other => {
                            return Err(bad(&format!(
                                "unknown parameter '{other}' (expected db, password or user)"
                            )))
                        }
                    }
                }
                (format!("unix:{path}"), Transport::Unix(path.into()), db)
            }
            _ => {
                return Err(bad(
                    "only redis://, rediss:// (TLS) and unix:// (redis+unix://) are supported",
                ))
            }
        };
        let mut upstream = Upstream {
            addr,
            transport,
            user,
            password,
            db,
            connect_timeout: Duration::from_secs(5),
            tls: None,
        };
        if url.scheme() == "rediss" {
            upstream.set_tls(UpstreamTlsOptions::default())?;
        }
        Ok(upstream)
    }

    /// Speaks TLS to the upstream with `options` (a CA file, a client
    /// certificate, …); only for TCP upstreams.
    pub fn set_tls(&mut self, options: UpstreamTlsOptions) -> Result<(), UpstreamError> {
        let Transport::Tcp(addr) = &self.transport else {
            return Err(UpstreamError::BadUrl {
                url: self.addr.clone(),
                reason: "TLS needs a TCP upstream (rediss://HOST:PORT)".into(),
            });
        };
        let host = addr.rsplit_once(':').map_or(addr.as_str(), |(h, _)| h);
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let tls = UpstreamTls::new(options, host).map_err(|cause| UpstreamError::Tls {
            addr: self.addr.clone(),
            cause,
        })?;
        self.tls = Some(Arc::new(tls));
        Ok(())
    }

    /// Opens a connection, with `AUTH` and `SELECT` done when the URL asks
    /// for them, so what follows can be relayed byte for byte.
    pub async fn connect(&self) -> Result<UpstreamStream, UpstreamError> {
        let unreachable = |reason: String| UpstreamError::Unreachable {
            addr: self.addr.clone(),
            reason,
        };
        // Set while the TLS handshake (and its confirming PING) runs, so a
        // timeout there says so: a plaintext server takes the ClientHello
        // for the start of an inline command and waits for the rest.
        let in_tls = AtomicBool::new(false);
        let attempt = async {
            let mut stream = match &self.transport {
                Transport::Tcp(addr) => {
                    let stream = TcpStream::connect(addr)
                        .await
                        .map_err(|e| unreachable(e.to_string()))?;
                    stream
                        .set_nodelay(true)
                        .map_err(|e| unreachable(e.to_string()))?;
                    match &self.tls {
                        None => Either::Left(Either::Left(stream)),
                        Some(tls) => {
                            in_tls.store(true, Ordering::Relaxed);
                            let mut stream = tls
                                .connect(stream)
                                .await
                                .map_err(|e| unreachable(format!("TLS handshake failed: {e}")))?;
                            // In TLS 1.3 a server refuses the client's
                            // certificate (or its absence) only after the
                            // handshake: one PING brings that out here, as a
                            // handshake failure, rather than on the client's
                            // first command. Any reply (even -NOAUTH) will do.
                            let ping = [Bytes::from_static(b"PING")];
                            match self.call(&mut stream, &ping, "PING").await {
                                Ok(()) | Err(UpstreamError::Refused { .. }) => {}
                                Err(UpstreamError::Unreachable { reason, .. }) => {
                                    return Err(unreachable(format!(
                                        "TLS handshake failed: {reason}"
                                    )))
                                }
                                Err(e) => return Err(e),
                            }
                            in_tls.store(false, Ordering::Relaxed);
                            Either::Right(Box::new(stream))
                        }
                    }
                }
                Transport::Unix(path) => Either::Left(Either::Right(
                    UnixStream::connect(path)
                        .await
                        .map_err(|e| unreachable(e.to_string()))?,
                )),
            };
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
            Err(_) if in_tls.load(Ordering::Relaxed) => Err(unreachable(format!(
                "TLS handshake failed: no answer within {:?} (is it a TLS port?)",
                self.connect_timeout
            ))),
            Err(_) => Err(unreachable(format!(
                "timed out after {:?}",
                self.connect_timeout
            ))),
        }
    }

    /// Sends one command and reads its reply; an error reply is `Refused`.
    async fn call(
        &self,
        stream: &mut (impl AsyncRead + AsyncWrite + Unpin),
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
                parse_reply(&frozen, &Limits::upstream()).map_err(|e| UpstreamError::Refused {
                    addr: self.addr.clone(),
                    step,
                    reply: e.to_string(),
                })?;
            if let Some((value, _)) = parsed {
                return match &value {
                    Value::Error(e) | Value::BulkError(e) => Err(UpstreamError::Refused {
                        addr: self.addr.clone(),
                        step,
                        reply: String::from_utf8_lossy(e).into_owned(),
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

/// `unix` or `redis+unix`: the schemes of a Unix socket URL.
pub fn is_unix_scheme(scheme: &str) -> bool {
    matches!(scheme, "unix" | "redis+unix")
}

/// The URL with any password replaced, for error messages: the one in the
/// user-info part, and `password=` / `pass=` in a Unix socket URL's query.
pub fn mask_password(text: &str) -> String {
    let (head, query) = match text.split_once('?') {
        Some((head, query)) => (head, Some(query)),
        None => (text, None),
    };
    let mut out = match (head.find("://"), head.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &head[scheme + 3..at];
            match creds.find(':') {
                Some(colon) => format!(
                    "{}{}:<redacted>{}",
                    &head[..scheme + 3],
                    &creds[..colon],
                    &head[at..]
                ),
                None => format!("{}<redacted>{}", &head[..scheme + 3], &head[at..]),
            }
        }
        _ => head.to_string(),
    };
    if let Some(query) = query {
        let params: Vec<String> = query
            .split('&')
            .map(|param| match param.split_once('=') {
                Some((key @ ("password" | "pass"), _)) => format!("{key}=<redacted>"),
                _ => param.to_string(),
            })
            .collect();
        out.push('?');
        out.push_str(&params.join("&"));
    }
    out
}

/// Sends one command on a connection of its own and reads its reply (the
/// topology at a cluster recording's start, the server's `HELLO`).
pub async fn ask(
    stream: &mut (impl AsyncRead + AsyncWrite + Unpin),
    args: &[&str],
) -> std::io::Result<Value> {
    let args: Vec<Bytes> = args
        .iter()
        .map(|a| Bytes::copy_from_slice(a.as_bytes()))
        .collect();
    let mut out = BytesMut::new();
    encode_command(&args, &mut out);
    stream.write_all(&out).await?;
    let mut buf = BytesMut::new();
    loop {
        if stream.read_buf(&mut buf).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let frozen = Bytes::copy_from_slice(&buf);
        match parse_reply(&frozen, &Limits::upstream()) {
            Ok(Some((value, _))) => return Ok(value),
            Ok(None) => {}
            Err(e) => return Err(std::io::Error::other(e.to_string())),
        }
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
        // TLS: system roots are only needed to connect (a CA file may
        // still be given), so parsing never depends on the machine.
        let u = Upstream::parse("rediss://h").unwrap();
        assert_eq!(u.addr, "h:6379");
        assert!(u.tls.is_some());
        assert!(Upstream::parse("redis://h:1?db=2").is_err());
        assert_eq!(
            Upstream::parse("h:7000").unwrap().transport,
            Transport::Tcp("h:7000".into())
        );
        assert!(Upstream::parse("redis://h/x").is_err());
        let e = Upstream::parse("redis://u:pw@h/x").unwrap_err().to_string();
        assert!(!e.contains("pw"), "{e}");
        assert!(!format!("{:?}", Upstream::parse("redis://u:pw@h").unwrap()).contains("pw"));
    }

    #[test]
    fn unix_socket_urls() {
        let u = Upstream::parse("unix:///tmp/redis.sock").unwrap();
        assert_eq!(u.transport, Transport::Unix("/tmp/redis.sock".into()));
        assert_eq!((u.addr.as_str(), u.db), ("unix:/tmp/redis.sock", 0));
        let u = Upstream::parse("redis+unix:///run/r%20s.sock?db=3&password=p%40ss").unwrap();
        assert_eq!(u.transport, Transport::Unix("/run/r s.sock".into()));
        assert_eq!((u.db, u.password.as_deref()), (3, Some("p@ss")));
        let u = Upstream::parse("unix:///tmp/r.sock?user=bob&pass=pw").unwrap();
        assert_eq!(
            (u.user.as_deref(), u.password.as_deref()),
            (Some("bob"), Some("pw"))
        );
        for bad in [
            "unix://host/tmp/r.sock",
            "unix://alice:pw@/tmp/r.sock",
            "unix://",
            "unix:///tmp/r.sock?db=x",
            "unix:///tmp/r.sock?timeout=1",
        ] {
            assert!(Upstream::parse(bad).is_err(), "{bad}");
        }
        let e = Upstream::parse("unix://u:pw@/r.sock?db=x")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("pw"), "{e}");
        let e = Upstream::parse("unix:///r.sock?password=hunter2&db=x")
            .unwrap_err()
            .to_string();
        assert!(
            !e.contains("hunter2") && e.contains("password=<redacted>"),
            "{e}"
        );
    }
}
