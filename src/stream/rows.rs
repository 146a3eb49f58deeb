//! Runs the archive row counter ([`super::archive::count`]) on a blocking
//! thread beside the byte path. The raw tap offers it every chunk without
//! waiting: a counter more than [`QUEUE`] bytes behind is cut off and the
//! backup goes on without a row manifest, so counting (inflating zlib costs
//! CPU) never back-pressures, slows or fails a dump.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use bytes::Bytes;
use tokio::task::JoinHandle;

use super::archive::{self, GiveUp, RowCounts};

/// How far (in raw bytes) the counter may fall behind the dump.
const QUEUE: usize = 16 << 20;
/// How long the end of a dump waits for the counter to drain its queue
/// (normally milliseconds; only a pathological archive gets near it).
const GRACE: Duration = Duration::from_secs(5);

#[derive(Default)]
struct Shared {
    queued: AtomicUsize,
    cancel: AtomicBool,
    overrun: AtomicBool,
}

/// The tap's end: hands chunks to the counter, never waiting.
pub(super) struct Feed {
    tx: Option<mpsc::Sender<Bytes>>,
    shared: Arc<Shared>,
}

impl Feed {
    pub fn offer(&mut self, chunk: &[u8]) {
        let Some(tx) = &self.tx else {
            return;
        };
        if chunk.is_empty() {
            return;
        }
        if self.shared.queued.load(Ordering::Relaxed) + chunk.len() > QUEUE {
            self.shared.overrun.store(true, Ordering::Relaxed);
            self.tx = None;
            return;
        }
        self.shared.queued.fetch_add(chunk.len(), Ordering::Relaxed);
        if tx.send(Bytes::copy_from_slice(chunk)).is_err() {
            self.tx = None; // the counter already gave up
        }
    }
}

/// The running counter; dropping it stops the thread.
pub(super) struct Counting {
    task: JoinHandle<Result<RowCounts, GiveUp>>,
    shared: Arc<Shared>,
}

/// Starts a counter on a blocking thread.
pub(super) fn start() -> (Feed, Counting) {
    let (tx, rx) = mpsc::channel::<Bytes>();
    let shared = Arc::new(Shared::default());
    let theirs = shared.clone();
    let task = tokio::task::spawn_blocking(move || {
        let s = &theirs;
        let chunks = rx.into_iter().inspect(|b| {
            s.queued.fetch_sub(b.len(), Ordering::Relaxed);
        });
        archive::count(chunks, &s.cancel)
    });
    let feed = Feed {
        tx: Some(tx),
        shared: shared.clone(),
    };
    (feed, Counting { task, shared })
}

impl Counting {
    /// The counts once `feed` (closed here) has been read to its end.
    ///
    /// # Errors
    /// Why there are no counts.
    pub async fn finish(mut self, feed: Option<Feed>) -> Result<RowCounts, GiveUp> {
        drop(feed);
        if self.shared.overrun.load(Ordering::Relaxed) {
            return Err("the row counter fell behind the dump and was cut off".into());
        }
        match tokio::time::timeout(GRACE, &mut self.task).await {
            Ok(Ok(counted)) => counted,
            Ok(Err(e)) => Err(format!("the row counter failed: {e}")),
            Err(_) => Err(format!(
                "the row counter had not finished {} s after the dump",
                GRACE.as_secs()
            )),
        }
    }
}

impl Drop for Counting {
    fn drop(&mut self) {
        self.shared.cancel.store(true, Ordering::Relaxed);
    }
}
