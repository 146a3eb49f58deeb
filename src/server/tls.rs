//! Optional TLS on both ports from one PEM certificate chain and key: tonic
//! terminates it for gRPC (handshakes concurrent, under the header
//! deadline); the HTTP accept loop ([`super::http`]) runs each handshake in
//! its connection's own task under the same deadline.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::{Error, Result};

/// The certificate chain and key, read once at start.
#[derive(Clone)]
pub struct Tls {
    cert_pem: Vec<u8>,
    key_pem: Vec<u8>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tls(<certificate and key>)")
    }
}

impl Tls {
    /// # Errors
    /// InvalidArgument naming the file that cannot be read or parsed.
    pub fn load(cert: &Path, key: &Path) -> Result<Self> {
        let read = |p: &Path| {
            std::fs::read(p)
                .map_err(|e| Error::invalid(format!("cannot read {}: {e}", p.display())))
        };
        let tls = Self {
            cert_pem: read(cert)?,
            key_pem: read(key)?,
        };
        tls.acceptor()?; // fail at start, not at the first connection
        Ok(tls)
    }

    /// TLS as `[server]` configures it: both files, or neither.
    ///
    /// # Errors
    /// InvalidArgument for only one of the two, or as [`Tls::load`].
    pub fn from_config(server: &crate::config::ServerConfig) -> Result<Option<Self>> {
        match (&server.tls_cert, &server.tls_key) {
            (Some(cert), Some(key)) => Self::load(cert, key).map(Some),
            (None, None) => Ok(None),
            _ => Err(Error::invalid(
                "[server] tls-cert and tls-key go together: set both or neither",
            )),
        }
    }

    /// The identity tonic serves gRPC with; a handshake that takes longer
    /// than `deadline` is dropped.
    pub fn grpc(&self, deadline: Duration) -> tonic::transport::ServerTlsConfig {
        tonic::transport::ServerTlsConfig::new()
            .identity(tonic::transport::Identity::from_pem(
                &self.cert_pem,
                &self.key_pem,
            ))
            .timeout(deadline)
    }

    /// The HTTP port's handshake.
    ///
    /// # Errors
    /// InvalidArgument for a certificate or key rustls refuses.
    pub fn acceptor(&self) -> Result<TlsAcceptor> {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&self.cert_pem)
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| Error::invalid(format!("TLS certificate: {e}")))?;
        if certs.is_empty() {
            return Err(Error::invalid("TLS certificate file holds no certificate"));
        }
        let key = PrivateKeyDer::from_pem_slice(&self.key_pem)
            .map_err(|e| Error::invalid(format!("TLS key: {e}")))?;
        let mut config = tokio_rustls::rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| Error::invalid(format!("TLS certificate and key: {e}")))?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(TlsAcceptor::from(Arc::new(config)))
    }
}
