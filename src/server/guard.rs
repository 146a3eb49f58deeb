//! Connections a client cannot hold for free: each one takes a permit of a
//! fixed pool (the connection cap; the next `accept` waits for a free one,
//! so excess clients queue in the kernel's backlog), and a connection that
//! has not sent its first byte by the header deadline fails its read, which
//! closes it — a silent client costs one permit for a bounded time.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Sleep;

/// How many connections at once, and how long a client may stay silent
/// (and take over the TLS handshake and an HTTP/1 request head).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
    pub header_timeout: Duration,
}

/// Accepts connections up to the cap, each guarded by the header deadline.
pub struct Acceptor {
    listener: TcpListener,
    permits: Arc<Semaphore>,
    limits: Limits,
}

impl Acceptor {
    pub fn new(listener: TcpListener, limits: Limits) -> Self {
        Self {
            listener,
            permits: Arc::new(Semaphore::new(limits.max_connections.max(1))),
            limits,
        }
    }

    /// The next connection, once a permit is free. Accept errors (a full
    /// file table) are logged and retried after a pause, never returned.
    pub async fn accept(&self) -> (Guarded<TcpStream>, std::net::SocketAddr) {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        loop {
            match self.listener.accept().await {
                Ok((tcp, addr)) => {
                    let _ = tcp.set_nodelay(true);
                    return (Guarded::new(tcp, permit, self.limits.header_timeout), addr);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    /// The gRPC server's view: an endless stream of guarded connections.
    pub fn into_stream(
        self,
    ) -> impl futures::Stream<Item = io::Result<Guarded<TcpStream>>> + Send + 'static {
        futures::stream::unfold(self, |a| async move {
            let (conn, _) = a.accept().await;
            Some((Ok(conn), a))
        })
    }
}

/// A connection holding its permit, closed if it sends nothing in time.
pub struct Guarded<T> {
    inner: T,
    /// Until the first byte arrives.
    silence: Option<Pin<Box<Sleep>>>,
    _permit: OwnedSemaphorePermit,
}

impl<T> Guarded<T> {
    fn new(inner: T, permit: OwnedSemaphorePermit, deadline: Duration) -> Self {
        Self {
            inner,
            silence: Some(Box::pin(tokio::time::sleep(deadline))),
            _permit: permit,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Guarded<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                if buf.filled().len() > before {
                    this.silence = None;
                }
                Poll::Ready(r)
            }
            Poll::Pending => {
                let expired = this
                    .silence
                    .as_mut()
                    .is_some_and(|s| s.as_mut().poll(cx).is_ready());
                if expired {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the client sent nothing before the header deadline",
                    )));
                }
                Poll::Pending
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Guarded<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

impl tonic::transport::server::Connected for Guarded<TcpStream> {
    type ConnectInfo = tonic::transport::server::TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.inner.connect_info()
    }
}
