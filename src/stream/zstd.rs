//! The zstd stage: pg_dump runs with `-Z0` and the daemon compresses with
//! zstd's own worker threads, so compression uses the host's idle cores
//! instead of pg_dump's single-threaded zlib. Decodes with `zstd -d` too.

use async_compression::Level;
use async_compression::tokio::bufread::ZstdDecoder;
use async_compression::tokio::write::ZstdEncoder;
use async_compression::zstd::CParameter;
use tokio::io::BufReader;

use super::CHUNK;
use super::pipeline::{Reader, Writer};

pub(super) const ID: &str = "zstd";

/// Compresses into `sink` at `level` with `workers` threads (0 = cores).
pub(super) fn encoder(sink: Writer, level: i32, workers: u32) -> Writer {
    let workers = if workers == 0 {
        std::thread::available_parallelism().map_or(1, |n| u32::try_from(n.get()).unwrap_or(1))
    } else {
        workers
    };
    Box::new(ZstdEncoder::with_quality_and_params(
        sink,
        Level::Precise(level),
        &[CParameter::nb_workers(workers)],
    ))
}

/// Decompresses `source`.
pub(super) fn decoder(source: Reader) -> Reader {
    Box::new(ZstdDecoder::new(BufReader::with_capacity(CHUNK, source)))
}
