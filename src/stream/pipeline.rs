//! The byte path as an ordered list of stages built from the config, one line
//! per stage below. [`Pipeline::run`] encodes pg_dump's archive on its way to
//! a store (tap on the raw bytes, stages, SHA-256 over the stored bytes);
//! [`decode`] undoes a record's stages in reverse, refusing ids it does not
//! know. Callers never name a codec.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio_util::task::AbortOnDropHandle;

use super::age::{self, Identities, Recipients};
use super::archive::{GiveUp, RowCounts};
use super::config::{Compression, DEFAULT_LEVEL, DumpConfig, check_ranges};
use super::tap::{Tap, TooLarge};
use super::{CHUNK, Digest, pump, rows, zstd};
use crate::catalog::Encoding;
use crate::store::ObjectWriter;
use crate::{Error, Result};

pub(super) type Writer = Box<dyn AsyncWrite + Send + Unpin>;
pub(super) type Reader = Box<dyn AsyncRead + Send + Unpin>;

/// One transformation of the byte path.
#[derive(Debug, Clone)]
enum Stage {
    Zstd { level: i32, workers: u32 },
    Age(Recipients),
}

impl Stage {
    fn id(&self) -> &'static str {
        match self {
            Self::Zstd { .. } => zstd::ID,
            Self::Age(_) => age::ID,
        }
    }

    async fn wrap(&self, sink: Writer) -> Result<Writer> {
        match self {
            Self::Zstd { level, workers } => Ok(zstd::encoder(sink, *level, *workers)),
            Self::Age(to) => age::encryptor(sink, to).await,
        }
    }
}

/// What a dump goes through, in order, for one tenant.
#[derive(Debug, Clone)]
pub struct Pipeline {
    stages: Vec<Stage>,
    compression: Compression,
    limit: Option<u64>,
    progress: Arc<AtomicU64>,
}

/// What [`Pipeline::run`] stored.
#[derive(Debug, Clone)]
pub struct Encoded {
    /// SHA-256 and size of the stored bytes (what a restore checks first).
    pub stored: Digest,
    /// The archive's size as pg_dump emitted it; 0 = an empty archive.
    pub raw_size: u64,
    /// The record's description of the stages.
    pub encoding: Encoding,
    /// Exact rows per table, counted in the archive as it passed; why not
    /// when the archive could not be counted (the backup is fine either way).
    pub row_counts: std::result::Result<RowCounts, GiveUp>,
}

impl Pipeline {
    /// The stages `c` asks for: compress, then encrypt.
    ///
    /// # Errors
    /// InvalidArgument for a bad recipient or an out-of-range number.
    pub fn from_config(c: &DumpConfig) -> Result<Self> {
        check_ranges(c)?;
        let compression = c.compression.unwrap_or_default();
        let mut stages = Vec::new();
        if compression == Compression::Zstd {
            stages.push(Stage::Zstd {
                level: c.level.unwrap_or(DEFAULT_LEVEL),
                workers: c.workers.unwrap_or(0),
            });
        }
        if let Some(r) = c.recipients.as_ref().filter(|r| !r.is_empty()) {
            stages.push(Stage::Age(Recipients::parse(r)?));
        }
        Ok(Self {
            stages,
            compression,
            limit: c.max_dump_bytes.filter(|&n| n > 0),
            progress: Arc::default(),
        })
    }

    pub fn stage_ids(&self) -> Vec<&'static str> {
        self.stages.iter().map(Stage::id).collect()
    }

    /// Extra pg_dump arguments: `-Z0` when pg_dump must not compress.
    pub fn pg_dump_args(&self) -> Vec<String> {
        match self.compression {
            Compression::Zlib => vec![],
            Compression::Zstd | Compression::None => vec!["-Z0".into()],
        }
    }

    /// Adds every archive byte read from pg_dump to `counter` (a running
    /// operation's "bytes so far"), from the raw tap itself.
    #[must_use]
    pub fn reporting_to(mut self, counter: Arc<AtomicU64>) -> Self {
        self.progress = counter;
        self
    }

    fn encoding(&self, raw_size: u64) -> Encoding {
        let recipients = self
            .stages
            .iter()
            .find_map(|s| match s {
                Stage::Age(r) => Some(r.public_keys()),
                Stage::Zstd { .. } => None,
            })
            .unwrap_or_default();
        Encoding {
            stages: self.stage_ids().into_iter().map(str::to_string).collect(),
            compression: Some(
                match self.compression {
                    Compression::Zlib => "zlib",
                    Compression::Zstd => "zstd",
                    Compression::None => "none",
                }
                .into(),
            ),
            raw_size_bytes: Some(i64::try_from(raw_size).unwrap_or(i64::MAX)),
            encryption: (!recipients.is_empty()).then(|| age::ID.to_string()),
            recipients,
        }
    }

    /// Encodes `raw` into `sink` (not committed). The stages run in their own
    /// task so compression overlaps with storing.
    ///
    /// # Errors
    /// FailedPrecondition past `max-dump-bytes`; the reader's, a stage's or
    /// the sink's error otherwise.
    pub async fn run<R>(&self, raw: R, sink: &mut dyn ObjectWriter) -> Result<Encoded>
    where
        R: AsyncRead + Send + Unpin + 'static,
    {
        let (stages_in, mut stored) = tokio::io::duplex(CHUNK);
        let this = self.clone();
        let (feed, counting) = rows::start();
        let encode = AbortOnDropHandle::new(tokio::spawn(async move {
            let tap = Tap::new(raw, this.limit, this.progress.clone()).counting(feed);
            let mut tap = BufReader::with_capacity(CHUNK, tap);
            let mut w: Writer = Box::new(stages_in);
            // The last stage is nearest the store: wrap from the end.
            for s in this.stages.iter().rev() {
                w = s.wrap(w).await?;
            }
            let copied = tokio::io::copy_buf(&mut tap, &mut w).await;
            if let Err(e) = copied {
                return Err(
                    match e.get_ref().and_then(|i| i.downcast_ref::<TooLarge>()) {
                        Some(t) => Error::precondition(format!("{t}; the dump was aborted")),
                        None => Error::internal(format!("reading the dump stream: {e}")),
                    },
                );
            }
            w.shutdown()
                .await
                .map_err(|e| Error::internal(format!("finishing the dump stream: {e}")))?;
            let tap = tap.into_inner();
            Ok((tap.seen(), tap.into_rows()))
        }));
        let store = pump(&mut stored, sink);
        let joined = async {
            encode
                .await
                .map_err(|e| Error::internal(format!("the encoding task failed: {e}")))?
        };
        let ((raw_size, feed), stored) = tokio::try_join!(joined, store)?;
        Ok(Encoded {
            stored,
            raw_size,
            encoding: self.encoding(raw_size),
            row_counts: counting.finish(feed).await,
        })
    }
}

/// The identities a restore may decrypt with (none on an encrypt-only host).
#[derive(Default)]
pub struct Keys(Identities);

impl Keys {
    /// # Errors
    /// FailedPrecondition when the identity file cannot be read.
    pub fn load(file: Option<&std::path::Path>) -> Result<Self> {
        Identities::load(file).map(Self)
    }
}

/// Undoes `encoding`'s stages over `stored`, last stage first. Headers are
/// read here, so a wrong key fails before the caller starts pg_restore.
/// `keys` is only called when a stage needs it.
///
/// # Errors
/// FailedPrecondition for an unknown stage id, or "cannot decrypt".
pub async fn decode(
    encoding: &Encoding,
    location: &str,
    stored: Reader,
    keys: impl FnOnce() -> Result<Keys>,
) -> Result<Reader> {
    let mut keys = Some(keys);
    let mut r = stored;
    for id in encoding.stages.iter().rev() {
        r = match id.as_str() {
            zstd::ID => zstd::decoder(r),
            age::ID => {
                let load = keys.take().ok_or_else(|| Error::internal("age twice"))?;
                age::decryptor(r, &load()?.0, &hand_restore(encoding, location)).await?
            }
            other => {
                return Err(Error::precondition(format!(
                    "the dump at {location} went through a stage {other:?} this daemon does \
                     not know; nothing was restored"
                )));
            }
        };
    }
    Ok(r)
}

/// The shell pipeline that restores `location` without the daemon.
pub fn hand_restore(encoding: &Encoding, location: &str) -> String {
    let mut cmd = vec![];
    for (i, id) in encoding.stages.iter().rev().enumerate() {
        let from = if i == 0 {
            format!(" < {location}")
        } else {
            String::new()
        };
        cmd.push(match id.as_str() {
            age::ID => format!("age -d -i key.txt{from}"),
            zstd::ID => format!("zstd -d{from}"),
            other => format!("{other}{from}"),
        });
    }
    if cmd.is_empty() {
        format!("pg_restore -d DATABASE {location}")
    } else {
        cmd.push("pg_restore -d DATABASE".into());
        cmd.join(" | ")
    }
}

#[cfg(test)]
mod tests {
    use ::age::secrecy::ExposeSecret as _;
    use async_trait::async_trait;
    use bytes::Bytes;
    use tokio::io::AsyncReadExt;

    use super::*;

    /// A sink that keeps what it was given.
    #[derive(Default)]
    struct MemoryWriter {
        bytes: Vec<u8>,
    }

    #[async_trait]
    impl ObjectWriter for MemoryWriter {
        async fn write(&mut self, chunk: Bytes) -> Result<()> {
            self.bytes.extend_from_slice(&chunk);
            Ok(())
        }
        async fn commit(self: Box<Self>) -> Result<()> {
            Ok(())
        }
        async fn abort(self: Box<Self>) {}
    }

    fn secret(id: &::age::x25519::Identity) -> String {
        id.to_string().expose_secret().to_string()
    }

    fn cfg(toml_text: &str) -> Pipeline {
        Pipeline::from_config(&toml::from_str(toml_text).unwrap()).unwrap()
    }

    async fn round_trip(p: &Pipeline, data: &[u8], keys: Option<&std::path::Path>) -> Vec<u8> {
        let mut sink = MemoryWriter::default();
        let out = p
            .run(std::io::Cursor::new(data.to_vec()), &mut sink)
            .await
            .unwrap();
        assert_eq!(out.raw_size, data.len() as u64);
        assert_eq!(out.stored.size, sink.bytes.len() as u64);
        let mut r = decode(
            &out.encoding,
            "X",
            Box::new(std::io::Cursor::new(sink.bytes)),
            || Keys::load(keys),
        )
        .await
        .unwrap();
        let mut back = Vec::new();
        r.read_to_end(&mut back).await.unwrap();
        back
    }

    #[tokio::test]
    async fn every_combination_round_trips() {
        let id = ::age::x25519::Identity::generate();
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key.txt");
        std::fs::write(&key, format!("# test\n{}\n", secret(&id))).unwrap();
        let data: Vec<u8> = (0..3_000_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        let to = id.to_public().to_string();
        for text in [
            String::new(),
            "compression = \"zstd\"".into(),
            format!("recipients = [\"{to}\"]"),
            format!("compression = \"zstd\"\nworkers = 2\nrecipients = [\"{to}\"]"),
        ] {
            let p = cfg(&text);
            assert_eq!(round_trip(&p, &data, Some(&key)).await, data, "{text}");
        }
        assert_eq!(
            cfg(&format!("compression = \"zstd\"\nrecipients = [\"{to}\"]")).stage_ids(),
            ["zstd", "age"]
        );
    }

    #[tokio::test]
    async fn a_wrong_or_missing_key_cannot_decrypt() {
        let p = cfg(&format!(
            "recipients = [\"{}\"]",
            ::age::x25519::Identity::generate().to_public()
        ));
        let mut sink = MemoryWriter::default();
        let out = p
            .run(std::io::Cursor::new(b"archive".to_vec()), &mut sink)
            .await
            .unwrap();
        let stored = || Box::new(std::io::Cursor::new(sink.bytes.clone())) as Reader;
        let e = decode(&out.encoding, "/b/x.dump", stored(), || Ok(Keys::default()))
            .await
            .err()
            .unwrap();
        assert!(e.message.contains("encrypt-only"), "{}", e.message);
        assert!(
            e.message
                .contains("age -d -i key.txt < /b/x.dump | pg_restore"),
            "{}",
            e.message
        );

        let dir = tempfile::tempdir().unwrap();
        let other = dir.path().join("other.txt");
        let id = ::age::x25519::Identity::generate();
        std::fs::write(&other, secret(&id)).unwrap();
        let e = decode(&out.encoding, "X", stored(), || Keys::load(Some(&other)))
            .await
            .err()
            .unwrap();
        assert!(e.message.starts_with("cannot decrypt"), "{}", e.message);
    }

    #[tokio::test]
    async fn an_unknown_stage_is_refused() {
        let enc = Encoding {
            stages: vec!["rot13".into()],
            ..Encoding::default()
        };
        let e = decode(&enc, "X", Box::new(std::io::Cursor::new(vec![])), || {
            Ok(Keys::default())
        })
        .await
        .err()
        .unwrap();
        assert!(e.message.contains("\"rot13\""), "{}", e.message);
    }

    #[tokio::test]
    async fn a_dump_past_the_limit_is_aborted() {
        let p = cfg("max-dump-bytes = 1000");
        let mut sink = MemoryWriter::default();
        let e = p
            .run(std::io::Cursor::new(vec![0u8; 5000]), &mut sink)
            .await
            .unwrap_err();
        assert_eq!(e.code, crate::Code::FailedPrecondition);
        assert!(e.message.contains("max-dump-bytes = 1000"), "{}", e.message);
    }

    #[test]
    fn hand_restore_names_each_tool_in_reverse() {
        let enc = Encoding {
            stages: vec!["zstd".into(), "age".into()],
            ..Encoding::default()
        };
        assert_eq!(
            hand_restore(&enc, "/b/x.dump"),
            "age -d -i key.txt < /b/x.dump | zstd -d | pg_restore -d DATABASE"
        );
        assert_eq!(
            hand_restore(&Encoding::default(), "/b/x.dump"),
            "pg_restore -d DATABASE /b/x.dump"
        );
    }
}
