//! TLS toward clients: the server configuration and the handshake.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::server::WebPkiClientVerifier;
use rustls::ServerConfig;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_util::either::Either;

use super::{provider, read_certs, read_key, read_roots, ClientStream, TlsError};

/// A client that starts no handshake within this long is dropped: a
/// plaintext client waiting for a reply, or a stalled one, never hangs a
/// connection slot.
const HANDSHAKE_LIMIT: Duration = Duration::from_secs(10);

/// The first byte of every TLS handshake record.
const TLS_HANDSHAKE: u8 = 0x16;

/// What a plaintext client on a TLS port is told, in plaintext, before the
/// close: the one message its library can show.
const PLAINTEXT_REFUSED: &[u8] =
    b"-ERR resplay: this port requires TLS (connect with rediss:// or --tls)\r\n";

/// The listener's TLS: what every accepted connection goes through.
#[derive(Clone)]
pub struct ListenerTls {
    acceptor: TlsAcceptor,
    /// Clients must show a certificate signed by the client CA.
    client_auth: bool,
}

impl std::fmt::Debug for ListenerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListenerTls")
            .field("client_auth", &self.client_auth)
            .finish_non_exhaustive()
    }
}

impl ListenerTls {
    /// A certificate chain and its key from PEM files; with `client_ca`,
    /// clients must present a certificate it signed.
    pub fn from_files(
        cert: &Path,
        key: &Path,
        client_ca: Option<&Path>,
    ) -> Result<ListenerTls, TlsError> {
        let chain = read_certs("listener certificate", cert)?;
        let key = read_key("listener key", key)?;
        Self::build(chain, key, client_ca)
    }

    /// A throwaway CA and a certificate it signs for `localhost` and
    /// `127.0.0.1`, made now; the CA is written to `ca_out` (PEM) so a test
    /// can trust it.
    pub fn self_signed(ca_out: &Path, client_ca: Option<&Path>) -> Result<ListenerTls, TlsError> {
        let failed = |e: rcgen::Error| TlsError::Config {
            side: "listener TLS (self-signed)",
            reason: e.to_string(),
        };
        let ca_key = rcgen::KeyPair::generate().map_err(failed)?;
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(failed)?;
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "resplay throwaway CA");
        ca_params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).map_err(failed)?;
        let leaf_key = rcgen::KeyPair::generate().map_err(failed)?;
        let mut leaf = rcgen::CertificateParams::new(vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
            "::1".to_string(),
        ])
        .map_err(failed)?;
        leaf.distinguished_name
            .push(rcgen::DnType::CommonName, "localhost");
        let leaf_cert = leaf.signed_by(&leaf_key, &ca).map_err(failed)?;
        std::fs::write(ca_out, ca.pem()).map_err(|e| TlsError::File {
            what: "self-signed CA output",
            path: ca_out.to_path_buf(),
            reason: e.to_string(),
        })?;
        let key = rustls_pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into());
        Self::build(
            vec![leaf_cert.der().clone(), ca.der().clone()],
            key,
            client_ca,
        )
    }

    fn build(
        chain: Vec<rustls_pki_types::CertificateDer<'static>>,
        key: rustls_pki_types::PrivateKeyDer<'static>,
        client_ca: Option<&Path>,
    ) -> Result<ListenerTls, TlsError> {
        let config_error = |reason: String| TlsError::Config {
            side: "listener TLS",
            reason,
        };
        let builder = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| config_error(e.to_string()))?;
        let builder = match client_ca {
            Some(path) => {
                let roots = read_roots("listener client CA", path)?;
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                        .build()
                        .map_err(|e| config_error(e.to_string()))?;
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let config = builder
            .with_single_cert(chain, key)
            .map_err(|e| config_error(format!("certificate and key do not fit: {e}")))?;
        Ok(ListenerTls {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            client_auth: client_ca.is_some(),
        })
    }

    /// The handshake with a client just accepted. A failure is logged
    /// naming the client and the reason (a plaintext client, a refused or
    /// missing client certificate, …) and closes the connection.
    pub async fn accept(&self, tcp: TcpStream, peer: SocketAddr) -> Result<ClientStream, ()> {
        let first = tokio::time::timeout(HANDSHAKE_LIMIT, async {
            let mut byte = [0u8; 1];
            tcp.peek(&mut byte).await.map(|n| (n, byte[0]))
        })
        .await;
        match first {
            Ok(Ok((1, TLS_HANDSHAKE))) => {}
            Ok(Ok((1, _))) => {
                tracing::warn!("client {peer}: plaintext on the TLS listener; refused");
                let mut tcp = tcp;
                let _ = tcp.write_all(PLAINTEXT_REFUSED).await;
                let _ = tcp.shutdown().await;
                return Err(());
            }
            Ok(_) => return Err(()),
            Err(_) => {
                tracing::warn!("client {peer}: no TLS handshake within {HANDSHAKE_LIMIT:?}");
                return Err(());
            }
        }
        match tokio::time::timeout(HANDSHAKE_LIMIT, self.acceptor.accept(tcp)).await {
            Ok(Ok(stream)) => Ok(Either::Right(Box::new(stream))),
            Ok(Err(e)) => {
                let hint = if self.client_auth {
                    " (a client certificate signed by the client CA is required)"
                } else {
                    ""
                };
                tracing::warn!("client {peer}: TLS handshake failed: {e}{hint}");
                Err(())
            }
            Err(_) => {
                tracing::warn!(
                    "client {peer}: TLS handshake not finished within {HANDSHAKE_LIMIT:?}"
                );
                Err(())
            }
        }
    }
}
