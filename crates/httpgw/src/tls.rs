//! TLS on the gateway's own listener (`[http_gateway] tls`): the
//! certificate and key are read and checked against each other at start,
//! and each connection's handshake is bounded in time.
//!
//! Error messages name the file and what is wrong with it, never the
//! file's contents: a key must not reach a log through an error.

use crate::error::GatewayError;
use rustls::ServerConfig;
use rustls::pki_types::pem::{self, PemObject as _};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

/// ALPN ids offered, preferred first.
pub(crate) const ALPN_H2: &[u8] = b"h2";
pub(crate) const ALPN_HTTP11: &[u8] = b"http/1.1";

/// The validated `tls` option: where the files came from (for messages)
/// and the server configuration built from them.
#[derive(Clone)]
pub struct ListenerTls {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// A client that has not finished its handshake by then is dropped, so
    /// a silent one cannot hold a connection slot.
    pub handshake_timeout: Duration,
    server: Arc<ServerConfig>,
}

// By hand: the server configuration holds the private key, and a derived
// `Debug` would put whatever rustls prints for it into any log of the
// gateway's configuration.
impl std::fmt::Debug for ListenerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListenerTls")
            .field("cert", &self.cert)
            .field("key", &self.key)
            .field("handshake_timeout", &self.handshake_timeout)
            .finish_non_exhaustive()
    }
}

fn tls_err(msg: String) -> GatewayError {
    GatewayError::Tls(msg)
}

impl ListenerTls {
    /// Reads `cert` (PEM chain, leaf first) and `key` (PEM, PKCS#8, PKCS#1
    /// or SEC1) and checks that the key belongs to the certificate.
    pub fn load(
        cert: PathBuf,
        key: PathBuf,
        handshake_timeout: Duration,
    ) -> Result<ListenerTls, GatewayError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let chain = read_chain(&cert)?;
        let key_der = read_key(&key)?;
        let signing = provider
            .key_provider
            .load_private_key(key_der)
            .map_err(|_| {
                tls_err(format!(
                    "http_gateway.tls.key `{}` is not a supported private key (RSA, ECDSA or Ed25519)",
                    key.display()
                ))
            })?;
        let certified = CertifiedKey::new(chain, signing);
        match certified.keys_match() {
            // `Unknown`: the provider cannot derive the public key; rustls
            // accepts that too, and the handshake will fail visibly.
            Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
            Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
                return Err(tls_err(format!(
                    "http_gateway.tls.key `{}` does not match the certificate in `{}`",
                    key.display(),
                    cert.display()
                )));
            }
            // rustls words this for a peer's certificate; this one is ours.
            Err(rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding)) => {
                return Err(tls_err(format!(
                    "http_gateway.tls.cert `{}`: the first certificate is not valid X.509",
                    cert.display()
                )));
            }
            Err(e) => {
                return Err(tls_err(format!(
                    "http_gateway.tls.cert `{}`: {e}",
                    cert.display()
                )));
            }
        }
        let mut server = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| tls_err(e.to_string()))?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(SingleCertAndKey::from(certified)));
        server.alpn_protocols = vec![ALPN_H2.to_vec(), ALPN_HTTP11.to_vec()];
        Ok(ListenerTls {
            cert,
            key,
            handshake_timeout,
            server: Arc::new(server),
        })
    }

    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(Arc::clone(&self.server))
    }
}

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, GatewayError> {
    let at = || format!("http_gateway.tls.cert `{}`", path.display());
    let chain = CertificateDer::pem_file_iter(path)
        .map_err(|e| tls_err(format!("{}: {}", at(), pem_problem(&e, "certificate"))))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| tls_err(format!("{}: {}", at(), pem_problem(&e, "certificate"))))?;
    if chain.is_empty() {
        return Err(tls_err(format!("{}: holds no PEM certificate", at())));
    }
    Ok(chain)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, GatewayError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| {
        tls_err(format!(
            "http_gateway.tls.key `{}`: {}",
            path.display(),
            pem_problem(&e, "private key")
        ))
    })
}

/// What went wrong reading a PEM file, in words that carry none of its
/// contents (some parse errors quote the offending line).
fn pem_problem(e: &pem::Error, what: &str) -> String {
    match e {
        pem::Error::Io(io) => format!("cannot read: {io}"),
        pem::Error::NoItemsFound => format!("holds no PEM {what}"),
        _ => format!("is not a valid PEM {what}"),
    }
}

/// Completes the handshake within the configured time; `None` (logged at
/// debug) when the client fails it, is not speaking TLS, or stays silent.
pub(crate) async fn accept(
    acceptor: &tokio_rustls::TlsAcceptor,
    timeout: Duration,
    sock: TcpStream,
    peer: SocketAddr,
) -> Option<TlsStream<TcpStream>> {
    match tokio::time::timeout(timeout, acceptor.accept(sock)).await {
        Ok(Ok(stream)) => Some(stream),
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "http gateway: tls handshake failed");
            None
        }
        Err(_) => {
            tracing::debug!(%peer, ?timeout, "http gateway: tls handshake timed out");
            None
        }
    }
}
