//! Paced pipes to and from a child. pg_dump writes its archive in 8 KiB
//! pieces and pg_restore reads in 4 KiB ones; a daemon that wakes for each
//! (reading a pipe that just became non-empty, refilling one that just lost
//! a page) spends more CPU switching tasks than moving bytes, CPU that the
//! tools themselves need on a small host. So each pipe is enlarged to
//! [`PIPE`], and once a stream is bulk (past [`BULK`] bytes) the daemon
//! lets it fill or drain by about a quarter of the pipe before touching it
//! again, judged from the rate since the last pause (a rate averaged over
//! the whole stream lags when the tool speeds up, and a pause judged from
//! it let a fast pg_dump fill the pipe and wait). The tool does not wait
//! for us: three quarters of the pipe are still buffered when we come back.

use std::future::Future as _;
use std::os::fd::AsFd;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// The pipe size asked for (Linux's default `pipe-max-size`).
const PIPE: usize = 1024 * 1024;
/// A stream is paced only past this many bytes: a psql query's few lines
/// are never delayed.
const BULK: u64 = 1024 * 1024;
/// The longest pause, however slow the stream.
const LONGEST: Duration = Duration::from_millis(20);

/// A child's stdin or stdout, paced once it carries a bulk stream.
pub struct Paced<T> {
    inner: T,
    /// A quarter of the pipe; `None` when the pipe could not be enlarged
    /// (then the stream is never paced, so a small pipe never runs dry).
    quarter: Option<u64>,
    moved: u64,
    /// Bytes moved since `since`: the first byte, or the last pause.
    recent: u64,
    since: Option<Instant>,
    pause: Option<Pin<Box<Sleep>>>,
}

impl<T: AsFd> Paced<T> {
    /// Enlarges `inner`'s pipe and wraps it.
    pub fn new(inner: T) -> Self {
        let size = rustix::pipe::fcntl_setpipe_size(&inner, PIPE)
            .or_else(|_| rustix::pipe::fcntl_getpipe_size(&inner))
            .unwrap_or(0);
        Self::with_pipe(inner, size)
    }
}

impl<T> Paced<T> {
    fn with_pipe(inner: T, size: usize) -> Self {
        Self {
            inner,
            quarter: (size >= PIPE).then_some(size as u64 / 4),
            moved: 0,
            recent: 0,
            since: None,
            pause: None,
        }
    }

    /// Waits out a pause that is due.
    fn paused(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if let Some(p) = &mut self.pause {
            ready!(p.as_mut().poll(cx));
            self.pause = None;
        }
        Poll::Ready(())
    }

    fn count(&mut self, n: usize) {
        self.since.get_or_insert_with(Instant::now);
        self.moved += n as u64;
        self.recent += n as u64;
    }

    /// Pauses for about the time the tool takes to move a quarter of the
    /// pipe at the rate since the last pause, when the stream is bulk.
    fn pause_now(&mut self) {
        let (Some(quarter), Some(since)) = (self.quarter, self.since) else {
            return;
        };
        if self.moved < BULK {
            return;
        }
        // quarter / (recent / elapsed), in whole nanoseconds; nothing moved
        // since the last pause means a slow tool: the longest pause.
        let wait = u128::from(quarter)
            .checked_mul(since.elapsed().as_nanos())
            .and_then(|n| n.checked_div(u128::from(self.recent)))
            .and_then(|n| u64::try_from(n).ok())
            .map_or(LONGEST, |n| Duration::from_nanos(n).min(LONGEST));
        self.pause = Some(Box::pin(tokio::time::sleep(wait)));
        self.since = Some(Instant::now());
        self.recent = 0;
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Paced<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        ready!(self.paused(cx));
        let before = buf.filled().len();
        ready!(Pin::new(&mut self.inner).poll_read(cx, buf))?;
        let n = buf.filled().len() - before;
        self.count(n);
        // Less than a quarter means the pipe was drained faster than the
        // tool fills it: let it fill before the next read.
        if n > 0 && self.quarter.is_some_and(|q| (n as u64) < q) {
            self.pause_now();
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Paced<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        ready!(self.paused(cx));
        match Pin::new(&mut self.inner).poll_write(cx, data) {
            Poll::Ready(Ok(n)) => {
                self.count(n);
                Poll::Ready(Ok(n))
            }
            Poll::Pending => {
                // The pipe is full: let the tool drain a quarter of it
                // instead of refilling each page it frees.
                self.pause_now();
                if self.pause.is_some() {
                    ready!(self.paused(cx));
                    return Pin::new(&mut self.inner).poll_write(cx, data);
                }
                Poll::Pending
            }
            failed @ Poll::Ready(Err(_)) => failed,
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// What a slow tool moves: 8 KiB every millisecond for 4 MiB.
    const PIECE: usize = 8 * 1024;
    const PIECES: usize = 512;

    fn bytes() -> Vec<u8> {
        (0..PIECE * PIECES)
            .map(|i| u8::try_from(i % 251).unwrap())
            .collect()
    }

    /// Reads `from` to the end in 256 KiB reads: the bytes and how many reads
    /// returned data after the first BULK bytes.
    async fn read_all(mut from: impl AsyncRead + Unpin) -> (Vec<u8>, usize) {
        let (mut got, mut reads) = (Vec::new(), 0);
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = from.read(&mut buf).await.unwrap();
            if n == 0 {
                return (got, reads);
            }
            if got.len() as u64 >= BULK {
                reads += 1;
            }
            got.extend_from_slice(&buf[..n]);
        }
    }

    #[tokio::test]
    async fn a_slow_writer_is_read_in_few_large_reads_and_nothing_is_lost() {
        let (mut tool, daemon_end) = tokio::io::duplex(PIPE);
        let data = bytes();
        let sent = data.clone();
        let writer = tokio::spawn(async move {
            for piece in sent.chunks(PIECE) {
                tool.write_all(piece).await.unwrap();
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        });
        let (got, reads) = read_all(Paced::with_pipe(daemon_end, PIPE)).await;
        writer.await.unwrap();
        assert!(got == data, "the bytes arrive whole and in order");
        // Unpaced, nearly every 8 KiB piece past the first MiB is one read.
        let pieces = (data.len() - PIPE) / PIECE; // past BULK, which is 1 MiB like PIPE
        assert!(reads * 4 < pieces, "{reads} reads for {pieces} pieces");
    }

    #[tokio::test]
    async fn a_small_pipe_or_a_short_stream_is_never_paced() {
        let mut small = Paced::with_pipe(&b"a psql answer"[..], 64 * 1024);
        small.count(PIPE * 2);
        small.pause_now();
        assert!(small.pause.is_none(), "a 64 KiB pipe could run dry");
        let mut short = Paced::with_pipe(&b"a psql answer"[..], PIPE);
        short.count(100);
        short.pause_now();
        assert!(short.pause.is_none(), "a few lines are never delayed");
    }

    /// The pause after `recent` bytes in the last 10 ms of a stream that
    /// had been slow for a minute.
    fn pause_after(recent: usize) -> Duration {
        let mut p = Paced::with_pipe(&b""[..], PIPE);
        p.count(PIPE * 2);
        p.since = Instant::now().checked_sub(Duration::from_mins(1));
        p.pause_now();
        p.since = Instant::now().checked_sub(Duration::from_millis(10));
        p.recent = 0;
        p.count(recent);
        p.pause_now();
        p.pause.unwrap().deadline() - tokio::time::Instant::now()
    }

    #[tokio::test]
    async fn the_pause_follows_the_rate_since_the_last_one() {
        // 2.5 MiB in 10 ms: a quarter of the pipe takes the tool 1 ms, however
        // slow it was before (the slow minute alone would say 20 ms).
        assert!(pause_after(10 * PIPE / 4) <= Duration::from_millis(2));
        // 25 KiB in 10 ms: 100 ms for a quarter, cut to the longest pause.
        let slow = pause_after(25 * 1024);
        assert!(
            slow > Duration::from_millis(15) && slow <= LONGEST,
            "{slow:?}"
        );
    }

    #[tokio::test]
    async fn a_full_pipe_is_refilled_in_large_writes_and_nothing_is_lost() {
        let (daemon_end, mut tool) = tokio::io::duplex(PIPE);
        let data = bytes();
        let mut paced = Paced::with_pipe(Writes(daemon_end, 0), PIPE);
        let sent = data.clone();
        let writer = tokio::spawn(async move {
            paced.write_all(&sent).await.unwrap();
            paced.shutdown().await.unwrap();
            paced.inner.1
        });
        // The tool drains 8 KiB a millisecond.
        let (mut got, mut buf) = (Vec::new(), vec![0u8; PIECE]);
        loop {
            let n = tool.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let refilled = writer.await.unwrap();
        assert!(got == data, "the bytes arrive whole and in order");
        // Unpaced, each 8 KiB the tool frees is refilled by one write.
        let refills = (data.len() - PIPE) / PIECE;
        assert!(
            refilled * 4 < refills,
            "{refilled} writes for {refills} refills"
        );
    }

    /// Counts the writes that moved bytes.
    struct Writes<W>(W, usize);

    impl<W: AsyncWrite + Unpin> AsyncWrite for Writes<W> {
        fn poll_write(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            data: &[u8],
        ) -> Poll<std::io::Result<usize>> {
            let n = ready!(Pin::new(&mut self.0).poll_write(cx, data))?;
            self.1 += usize::from(n > 0);
            Poll::Ready(Ok(n))
        }

        fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Pin::new(&mut self.0).poll_flush(cx)
        }

        fn poll_shutdown(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<std::io::Result<()>> {
            Pin::new(&mut self.0).poll_shutdown(cx)
        }
    }
}
