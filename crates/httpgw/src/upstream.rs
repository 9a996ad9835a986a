//! Upstream clients: one keep-alive pool per route (each route may trust
//! its own CA), HTTP/1.1 or HTTP/2 (by ALPN over TLS), rustls with the
//! platform's roots or the route's `ca_file`.

use crate::body::Body;
use crate::config::{GatewayConfig, Route};
use crate::error::GatewayError;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::ClientConfig;
use std::sync::Arc;
use std::time::Duration;

pub type Upstream = Client<hyper_rustls::HttpsConnector<HttpConnector>, Body>;

fn tls(route: &Route) -> Result<ClientConfig, GatewayError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| GatewayError::Tls(e.to_string()))?;
    let config = match &route.ca_file {
        Some(path) => {
            use rustls_pki_types::CertificateDer;
            use rustls_pki_types::pem::PemObject as _;
            let mut roots = rustls::RootCertStore::empty();
            let certs = CertificateDer::pem_file_iter(path).map_err(|e| {
                GatewayError::Tls(format!(
                    "route `{}`: cannot read ca_file `{}`: {e}",
                    route.name,
                    path.display()
                ))
            })?;
            for c in certs {
                let c = c.map_err(|e| {
                    GatewayError::Tls(format!("route `{}`: ca_file: {e}", route.name))
                })?;
                roots.add(c).map_err(|e| {
                    GatewayError::Tls(format!("route `{}`: ca_file: {e}", route.name))
                })?;
            }
            if roots.is_empty() {
                return Err(GatewayError::Tls(format!(
                    "route `{}`: ca_file `{}` holds no certificate",
                    route.name,
                    path.display()
                )));
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        None => {
            use rustls_platform_verifier::BuilderVerifierExt as _;
            builder
                .with_platform_verifier()
                .map_err(|e| GatewayError::Tls(e.to_string()))?
                .with_no_client_auth()
        }
    };
    Ok(config)
}

pub fn client(route: &Route, cfg: &GatewayConfig) -> Result<Upstream, GatewayError> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(cfg.connect_timeout));
    http.set_keepalive(Some(Duration::from_secs(60)));
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls(route)?)
        .https_or_http()
        .enable_all_versions()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .timer(TokioTimer::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(256)
        .build(connector))
}
