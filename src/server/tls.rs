//! Optional TLS on both ports from one PEM certificate chain and key: tonic
//! terminates it for gRPC; for HTTP a listener wrapper hands axum
//! already-decrypted streams. A failed or slow handshake never stalls the
//! accept loop for more than the handshake timeout.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::{Error, Result};

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

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

    /// The identity tonic serves gRPC with.
    pub fn grpc(&self) -> tonic::transport::ServerTlsConfig {
        tonic::transport::ServerTlsConfig::new().identity(tonic::transport::Identity::from_pem(
            &self.cert_pem,
            &self.key_pem,
        ))
    }

    fn acceptor(&self) -> Result<TlsAcceptor> {
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

    /// Wraps a bound listener so axum sees decrypted connections.
    ///
    /// # Errors
    /// As [`Tls::load`].
    pub fn listener(&self, inner: TcpListener) -> Result<TlsListener> {
        Ok(TlsListener {
            inner,
            acceptor: self.acceptor()?,
        })
    }
}

/// A TCP listener that completes the TLS handshake before handing over.
pub struct TlsListener {
    inner: TcpListener,
    acceptor: TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let (tcp, addr) = match self.inner.accept().await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, self.acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => return (tls, addr),
                Ok(Err(e)) => tracing::debug!(%addr, error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!(%addr, "TLS handshake timed out"),
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}
