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

/// Bytes handed to each zstd worker at a time. zstd's own choice at level 3
/// is several MiB per job, held as input and output for every worker, which
/// took the daemon past its 64 MiB bar when a bucket's parts were in flight
/// too. 2 MiB jobs took 24 MiB off the peak of a 1.1 GiB zstd + age dump on
/// every store, and the stored size did not change (`scripts/bench/memory.sh`
/// and `bytes.sh`; figures in the README). 1 MiB jobs saved nothing more
/// and stored 1.5% more of incompressible rows.
const JOB_SIZE: u32 = 2 * 1024 * 1024;

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
        &[
            CParameter::nb_workers(workers),
            CParameter::job_size(JOB_SIZE),
        ],
    ))
}

/// Decompresses `source`.
pub(super) fn decoder(source: Reader) -> Reader {
    Box::new(ZstdDecoder::new(BufReader::with_capacity(CHUNK, source)))
}
