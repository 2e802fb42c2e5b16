//! A minimal client on a raw socket, for what the `redis` crate hides:
//! pushes, replies that never come, exact reply bytes, hostile input.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use resplay::resp::{encode_command, parse_reply, Limits, Value};

/// A minimal client on a raw socket, for what the `redis` crate hides
/// (pushes, replies that never come).
pub struct Raw {
    stream: TcpStream,
    buf: BytesMut,
}

impl Raw {
    pub fn connect(port: u16) -> Raw {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        Raw {
            stream,
            buf: BytesMut::new(),
        }
    }

    pub fn send(&mut self, args: &[&str]) {
        let mut out = BytesMut::new();
        encode_command(args, &mut out);
        self.stream.write_all(&out).unwrap();
    }

    pub fn read(&mut self) -> Value {
        loop {
            let data = Bytes::copy_from_slice(&self.buf);
            if let Some((value, len)) = parse_reply(&data, &Limits::upstream()).unwrap() {
                let _ = self.buf.split_to(len);
                return value;
            }
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk).expect("reply in time");
            assert!(n > 0, "connection closed");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// This client's own address, as the server sees it.
    pub fn local_addr(&self) -> std::net::SocketAddr {
        self.stream.local_addr().unwrap()
    }

    pub fn call(&mut self, args: &[&str]) -> Value {
        self.send(args);
        self.read()
    }
}

impl Raw {
    /// Sends one command given as byte arguments.
    pub fn send_args(&mut self, args: &[Vec<u8>]) {
        let mut out = BytesMut::new();
        encode_command(args, &mut out);
        self.stream.write_all(&out).unwrap();
    }

    /// Sends raw bytes as they are.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// Sends raw bytes, for a flood the server may close on before it has
    /// all been written.
    pub fn try_send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Reads one reply and returns its exact bytes.
    pub fn read_bytes(&mut self) -> Vec<u8> {
        loop {
            let data = Bytes::copy_from_slice(&self.buf);
            if let Some((_, len)) = parse_reply(&data, &Limits::upstream()).unwrap() {
                return self.buf.split_to(len).to_vec();
            }
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk).expect("reply in time");
            assert!(n > 0, "connection closed");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// True once the server has closed the connection (after any bytes
    /// still buffered were read). A reset counts: a server that closes with
    /// unread input (a flood it refused) makes the kernel send one.
    pub fn is_closed(&mut self) -> bool {
        let mut chunk = [0u8; 4096];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return true,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
                Err(_) => return false,
            }
        }
    }
}

impl Raw {
    /// Reads until the server closes the connection; returns every byte
    /// not yet consumed.
    pub fn read_to_end(&mut self) -> Vec<u8> {
        let mut chunk = [0u8; 4096];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
                Err(e) => panic!("no close in time: {e}"),
            }
        }
        self.buf.split().to_vec()
    }

    /// Fills the buffer until it holds `n` bytes.
    fn fill(&mut self, n: usize) {
        while self.buf.len() < n {
            let mut chunk = [0u8; 16 * 1024];
            let got = self.stream.read(&mut chunk).expect("data in time");
            assert!(got > 0, "connection closed");
            self.buf.extend_from_slice(&chunk[..got]);
        }
    }

    /// Reads one line up to `\n`, without its `\r\n` (or bare `\n`).
    pub fn read_line(&mut self) -> Vec<u8> {
        loop {
            if let Some(lf) = self.buf.iter().position(|&b| b == b'\n') {
                let mut line = self.buf.split_to(lf + 1).to_vec();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return line;
            }
            let want = self.buf.len() + 1;
            self.fill(want);
        }
    }

    /// Reads exactly `n` bytes.
    pub fn read_exact_bytes(&mut self, n: usize) -> Vec<u8> {
        self.fill(n);
        self.buf.split_to(n).to_vec()
    }

    /// Reads up to and including the first occurrence of `mark`.
    pub fn read_through(&mut self, mark: &[u8]) -> Vec<u8> {
        loop {
            if let Some(at) = self.buf.windows(mark.len()).position(|w| w == mark) {
                return self.buf.split_to(at + mark.len()).to_vec();
            }
            let want = self.buf.len() + 1;
            self.fill(want);
        }
    }
}
