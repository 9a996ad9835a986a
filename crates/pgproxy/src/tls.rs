//! TLS: the certificate clients see (from files, or generated for
//! development) and the client side towards upstreams.

use crate::config::{ProxyConfig, UpstreamTls};
use crate::error::ProxyError;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::sync::Arc;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn err(e: impl std::fmt::Display) -> ProxyError {
    ProxyError::Tls(e.to_string())
}

/// The server side: the configured certificate, or a self-signed one for
/// `localhost` (logged, for development).
pub fn acceptor(cfg: &ProxyConfig) -> Result<tokio_rustls::TlsAcceptor, ProxyError> {
    let (certs, key) = match (&cfg.tls_cert, &cfg.tls_key) {
        (Some(c), Some(k)) => {
            let certs = CertificateDer::pem_file_iter(c)
                .map_err(|e| err(format!("cannot read `{}`: {e}", c.display())))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| err(format!("`{}`: {e}", c.display())))?;
            let key = PrivateKeyDer::from_pem_file(k)
                .map_err(|e| err(format!("cannot read key `{}`: {e}", k.display())))?;
            (certs, key)
        }
        _ => {
            tracing::warn!(
                "postgres: no tls_cert/tls_key configured; using a generated self-signed certificate (development only)"
            );
            let ck = rcgen::generate_simple_self_signed(vec![
                "localhost".to_owned(),
                "127.0.0.1".to_owned(),
            ])
            .map_err(err)?;
            let key = PrivateKeyDer::try_from(ck.signing_key.serialize_der()).map_err(err)?;
            (vec![ck.cert.der().clone()], key)
        }
    };
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(err)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(err)?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// The client side towards an upstream, for `require` or `verify-full`.
pub fn connector(mode: &UpstreamTls) -> Result<Option<tokio_rustls::TlsConnector>, ProxyError> {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(err)?;
    let config = match mode {
        UpstreamTls::Disable => return Ok(None),
        UpstreamTls::Require => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider())))
            .with_no_client_auth(),
        UpstreamTls::VerifyFull(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_file_iter(ca)
                .map_err(|e| err(format!("cannot read `{}`: {e}", ca.display())))?
            {
                roots.add(c.map_err(err)?).map_err(err)?;
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
    };
    Ok(Some(tokio_rustls::TlsConnector::from(Arc::new(config))))
}

pub fn server_name(host: &str) -> Result<ServerName<'static>, ProxyError> {
    ServerName::try_from(host.to_owned()).map_err(err)
}

/// `require`: encrypted, certificate not checked (as libpq's `require`).
#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
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
