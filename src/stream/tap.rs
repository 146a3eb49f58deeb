//! The tap on the raw archive: counts the bytes pg_dump emits (the record's
//! `raw_size`, the live progress counter), offers them to the row counter,
//! and stops a dump that grows past `max-dump-bytes`, before the excess
//! reaches a codec or the disk.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};

use super::rows::Feed;

/// The error a [`Tap`] raises past its limit, recognisable inside an io::Error.
#[derive(Debug, thiserror::Error)]
#[error("the archive grew past max-dump-bytes = {0}")]
pub(super) struct TooLarge(pub u64);

/// Counts what passes; fails the read that crosses `limit`.
pub(super) struct Tap<R> {
    inner: R,
    limit: Option<u64>,
    seen: u64,
    progress: Arc<AtomicU64>,
    rows: Option<Feed>,
}

impl<R> Tap<R> {
    pub fn new(inner: R, limit: Option<u64>, progress: Arc<AtomicU64>) -> Self {
        Self {
            inner,
            limit,
            seen: 0,
            progress,
            rows: None,
        }
    }

    /// Also offers every byte read to a row counter.
    pub fn counting(mut self, rows: Feed) -> Self {
        self.rows = Some(rows);
        self
    }

    pub fn seen(&self) -> u64 {
        self.seen
    }

    /// The row counter's feed, to close it once the archive has ended.
    pub fn into_rows(self) -> Option<Feed> {
        self.rows
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for Tap<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            let n = (buf.filled().len() - before) as u64;
            self.seen += n;
            self.progress.fetch_add(n, Ordering::Relaxed);
            if let Some(limit) = self.limit
                && self.seen > limit
            {
                // An error read must hand back nothing.
                buf.set_filled(before);
                return Poll::Ready(Err(std::io::Error::other(TooLarge(limit))));
            }
            if let Some(rows) = &mut self.rows {
                rows.offer(&buf.filled()[before..]);
            }
        }
        polled
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncReadExt;

    use super::*;

    #[tokio::test]
    async fn counts_and_stops_past_the_limit() {
        let progress = Arc::new(AtomicU64::new(0));
        let data = vec![1u8; 1000];
        let mut t = Tap::new(&data[..], None, progress.clone());
        let mut out = Vec::new();
        t.read_to_end(&mut out).await.unwrap();
        assert_eq!((t.seen(), progress.load(Ordering::Relaxed)), (1000, 1000));

        let mut t = Tap::new(&data[..], Some(999), Arc::default());
        let e = t.read_to_end(&mut Vec::new()).await.unwrap_err();
        assert!(e.get_ref().unwrap().downcast_ref::<TooLarge>().is_some());
        let mut t = Tap::new(&data[..], Some(1000), Arc::default());
        assert_eq!(t.read_to_end(&mut Vec::new()).await.unwrap(), 1000);
    }
}
