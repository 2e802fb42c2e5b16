//! TLS toward the real Redis (`rediss://`).

use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use super::{provider, read_certs, read_key, read_roots, TlsError};

/// How to speak TLS to the upstream, as the user gave it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpstreamTlsOptions {
    /// Trust this CA (PEM) instead of the system roots (`--tls-ca-file`).
    pub ca_file: Option<PathBuf>,
    /// Client certificate for mutual TLS (`--tls-cert`).
    pub cert: Option<PathBuf>,
    /// Its key (`--tls-key`).
    pub key: Option<PathBuf>,
    /// The name to check the server's certificate against and send as SNI,
    /// instead of the URL's host (`--tls-server-name`).
    pub server_name: Option<String>,
    /// Skip verifying the server's certificate (`--tls-insecure`).
    pub insecure: bool,
}

/// A ready TLS client configuration for one upstream.
pub struct UpstreamTls {
    options: UpstreamTlsOptions,
    connector: TlsConnector,
    server_name: ServerName<'static>,
    /// Why the system roots could not be used, when they were wanted and
    /// none were found: not an error at parse time (a `--tls-ca-file` or
    /// `--tls-insecure` may follow, on a machine with no CA bundle), but
    /// every connection fails with it.
    missing_roots: Option<String>,
}

impl std::fmt::Debug for UpstreamTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamTls")
            .field("options", &self.options)
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl PartialEq for UpstreamTls {
    fn eq(&self, other: &Self) -> bool {
        self.options == other.options && self.server_name == other.server_name
    }
}

impl Eq for UpstreamTls {}

impl UpstreamTls {
    /// The configuration for `host` (the URL's), with `options`.
    pub fn new(options: UpstreamTlsOptions, host: &str) -> Result<UpstreamTls, TlsError> {
        let config_error = |reason: String| TlsError::Config {
            side: "upstream TLS",
            reason,
        };
        let name_text = options
            .server_name
            .clone()
            .unwrap_or_else(|| host.to_string());
        let server_name = ServerName::try_from(name_text.clone())
            .map_err(|e| config_error(format!("invalid server name '{name_text}': {e}")))?;
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| config_error(e.to_string()))?;
        let mut missing_roots = None;
        let builder = if options.insecure {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoVerification(provider())))
        } else {
            let roots = match &options.ca_file {
                Some(path) => read_roots("upstream CA file", path)?,
                None => system_roots().unwrap_or_else(|reason| {
                    missing_roots = Some(reason);
                    rustls::RootCertStore::empty()
                }),
            };
            builder.with_root_certificates(roots)
        };
        let config = match (&options.cert, &options.key) {
            (Some(cert), Some(key)) => {
                let chain = read_certs("upstream client certificate", cert)?;
                let key = read_key("upstream client key", key)?;
                builder.with_client_auth_cert(chain, key).map_err(|e| {
                    config_error(format!("client certificate and key do not fit: {e}"))
                })?
            }
            (None, None) => builder.with_no_client_auth(),
            _ => {
                return Err(config_error(
                    "--tls-cert and --tls-key go together (mutual TLS needs both)".into(),
                ))
            }
        };
        Ok(UpstreamTls {
            options,
            connector: TlsConnector::from(Arc::new(config)),
            server_name,
            missing_roots,
        })
    }

    /// Set when the server is to be checked against the system roots and
    /// there are none: what to tell the user (pass `--tls-ca-file`).
    pub fn missing_roots(&self) -> Option<&str> {
        self.missing_roots.as_deref()
    }

    /// The options it was made from.
    pub fn options(&self) -> &UpstreamTlsOptions {
        &self.options
    }

    /// The handshake over a connected socket; the error says why the
    /// server was refused (unknown CA, name mismatch, expired, …).
    pub async fn connect(&self, tcp: TcpStream) -> std::io::Result<TlsStream<TcpStream>> {
        if let Some(reason) = &self.missing_roots {
            return Err(std::io::Error::other(reason.clone()));
        }
        self.connector.connect(self.server_name.clone(), tcp).await
    }
}

/// The operating system's trusted roots, or why there are none.
fn system_roots() -> Result<rustls::RootCertStore, String> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = rustls::RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        let reason = found
            .errors
            .first()
            .map(|e| e.to_string())
            .unwrap_or_else(|| "none found".to_string());
        return Err(format!(
            "no system root certificates ({reason}); pass --tls-ca-file"
        ));
    }
    Ok(roots)
}

/// `--tls-insecure`: any certificate is accepted (signatures are still
/// checked, so the handshake itself is sound).
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
