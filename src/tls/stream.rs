//! A client connection, plain TCP or TLS, and its two halves.
//!
//! Plain TCP keeps tokio's lock-free `into_split` halves (the hot path
//! every benchmark measures); TLS, whose session state both directions
//! share, goes through `tokio::io::split`. `Either` gives both one type
//! that reads and writes.

use tokio::io::{ReadHalf, WriteHalf};
use tokio::net::{tcp, TcpStream};
use tokio_util::either::Either;

/// A TLS connection from a client, handshake done.
pub type TlsClient = Box<tokio_rustls::server::TlsStream<TcpStream>>;
/// A client connection.
pub type ClientStream = Either<TcpStream, TlsClient>;
/// Its reading half.
pub type ClientReader = Either<tcp::OwnedReadHalf, ReadHalf<TlsClient>>;
/// Its writing half.
pub type ClientWriter = Either<tcp::OwnedWriteHalf, WriteHalf<TlsClient>>;

/// The client's address (`MONITOR` lines and `CLIENT LIST` name it).
pub fn peer_addr(stream: &ClientStream) -> Option<std::net::SocketAddr> {
    match stream {
        Either::Left(tcp) => tcp.peer_addr().ok(),
        Either::Right(tls) => tls.get_ref().0.peer_addr().ok(),
    }
}

/// Splits a client connection into halves two futures can own.
pub fn split(stream: ClientStream) -> (ClientReader, ClientWriter) {
    match stream {
        Either::Left(tcp) => {
            let (r, w) = tcp.into_split();
            (Either::Left(r), Either::Left(w))
        }
        Either::Right(tls) => {
            let (r, w) = tokio::io::split(tls);
            (Either::Right(r), Either::Right(w))
        }
    }
}

/// Puts the halves of one connection back together (to hand it over to
/// another mode); `None` if they are not halves of the same connection.
pub fn reunite(reader: ClientReader, writer: ClientWriter) -> Option<ClientStream> {
    match (reader, writer) {
        (Either::Left(r), Either::Left(w)) => r.reunite(w).ok().map(Either::Left),
        (Either::Right(r), Either::Right(w)) if r.is_pair_of(&w) => {
            Some(Either::Right(r.unsplit(w)))
        }
        _ => None,
    }
}
