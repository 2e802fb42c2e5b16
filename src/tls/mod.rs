//! TLS on either side of resplay, with rustls (no OpenSSL at build time).
//!
//! - The listener ([`ListenerTls`]): a certificate and key from files, or a
//!   throwaway certificate for localhost made at start (`self-signed`),
//!   whose CA is written where a test can trust it; optionally client
//!   certificates required (mutual TLS).
//! - The upstream ([`UpstreamTls`]): `rediss://`, verified against the
//!   system roots or a CA file, with an optional client certificate, a
//!   server name override, or, when asked explicitly, no verification.
//!
//! The two sides are independent, and the cassette does not depend on
//! either: TLS only carries the same RESP bytes.
//!
//! - `stream`: a client connection, plain or TLS, and its halves.

mod listener;
mod stream;
mod upstream;

use std::path::PathBuf;

pub use listener::ListenerTls;
pub use stream::{peer_addr, reunite, split, ClientReader, ClientStream, ClientWriter, TlsClient};
pub use upstream::{UpstreamTls, UpstreamTlsOptions};

/// Why TLS could not be set up. Each message names the file or the side.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A certificate, key or CA file could not be read or holds nothing
    /// usable.
    #[error("{what} {}: {reason}", path.display())]
    File {
        /// "listener certificate", "upstream CA file", …
        what: &'static str,
        /// The path as given.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// rustls refused the configuration (a key that does not match its
    /// certificate, …).
    #[error("{side}: {reason}")]
    Config {
        /// "listener TLS" or "upstream TLS".
        side: &'static str,
        /// rustls's reason.
        reason: String,
    },
}

/// The crypto provider: ring, compiled in, so that building resplay needs
/// no C toolchain beyond what ring itself uses and no system OpenSSL.
fn provider() -> std::sync::Arc<rustls::crypto::CryptoProvider> {
    std::sync::Arc::new(rustls::crypto::ring::default_provider())
}

/// Reads every certificate in a PEM file.
fn read_certs(
    what: &'static str,
    path: &std::path::Path,
) -> Result<Vec<rustls_pki_types::CertificateDer<'static>>, TlsError> {
    use rustls_pki_types::pem::PemObject;
    let bad = |reason: String| TlsError::File {
        what,
        path: path.to_path_buf(),
        reason,
    };
    let certs = rustls_pki_types::CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(e.to_string()))?;
    if certs.is_empty() {
        return Err(bad("no PEM certificate in it".into()));
    }
    Ok(certs)
}

/// Reads the private key in a PEM file.
fn read_key(
    what: &'static str,
    path: &std::path::Path,
) -> Result<rustls_pki_types::PrivateKeyDer<'static>, TlsError> {
    use rustls_pki_types::pem::PemObject;
    rustls_pki_types::PrivateKeyDer::from_pem_file(path).map_err(|e| TlsError::File {
        what,
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// A root store holding every certificate of a CA file.
fn read_roots(
    what: &'static str,
    path: &std::path::Path,
) -> Result<rustls::RootCertStore, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in read_certs(what, path)? {
        roots.add(cert).map_err(|e| TlsError::File {
            what,
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    }
    Ok(roots)
}
