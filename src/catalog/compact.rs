//! Records as the index holds them in memory: compact JSON, compressed with
//! zstd against a dictionary trained on the catalog's own records. Records
//! of one host repeat themselves (field names, tenants, databases, table
//! names, the backup directory), so a record of ~550 bytes packs into ~130;
//! at 100 000 records that is the difference between an index that fits
//! the daemon's memory bar and one that does not. A record is unpacked only
//! when a request hands it out (a page, a get), which costs microseconds.
//!
//! The dictionary is trained once, when the index is loaded, from a sample
//! of the records read; a catalog too small to train on packs without one.
//! Packed bytes are only ever read back with the codec that packed them:
//! they live in memory and are never written anywhere.

use zstd::bulk::{Compressor, Decompressor};
use zstd::dict::{DecoderDictionary, EncoderDictionary};

use super::Record;
use crate::{Error, Result};

/// Records sampled to train the dictionary: enough to see every field and
/// most tenants, small enough to train in well under a second.
pub(super) const SAMPLES: usize = 2000;
/// Fewer records than this are packed without a dictionary (zstd's trainer
/// needs a few hundred samples, and a small catalog needs no help).
const MIN_SAMPLES: usize = 200;
/// The dictionary's largest size.
const DICT_BYTES: usize = 32 * 1024;
const LEVEL: i32 = 3;

/// Packs and unpacks records; one per loaded index.
#[derive(Default)]
pub(super) struct Codec {
    dict: Option<(EncoderDictionary<'static>, DecoderDictionary<'static>)>,
    /// The dictionary as trained (empty: none), for the index's snapshot.
    raw: Vec<u8>,
}

impl std::fmt::Debug for Codec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Codec")
            .field("dictionary_bytes", &self.raw.len())
            .finish_non_exhaustive()
    }
}

/// A record as the index keeps it.
pub(super) type Packed = Box<[u8]>;

impl Codec {
    /// A codec whose dictionary is trained on `samples` (records as
    /// [`json`] writes them); without one when there are too few samples or
    /// training fails, which only costs memory.
    pub fn train(samples: &[Vec<u8>]) -> Self {
        if samples.len() < MIN_SAMPLES {
            return Self::default();
        }
        match zstd::dict::from_samples(samples, DICT_BYTES) {
            Ok(d) => Self::with_dictionary(d),
            Err(e) => {
                tracing::warn!(error = %e, "the catalog index packs its records without a dictionary");
                Self::default()
            }
        }
    }

    /// A codec with dictionary `raw` (as [`Codec::dictionary`] gave it).
    pub fn with_dictionary(raw: Vec<u8>) -> Self {
        if raw.is_empty() {
            return Self::default();
        }
        Self {
            dict: Some((
                EncoderDictionary::copy(&raw, LEVEL),
                DecoderDictionary::copy(&raw),
            )),
            raw,
        }
    }

    /// The dictionary; empty when there is none.
    pub fn dictionary(&self) -> &[u8] {
        &self.raw
    }

    /// A packer for many records in turn (one per thread).
    pub fn packer(&self) -> Result<Packer<'_>> {
        let z = match &self.dict {
            Some((enc, _)) => Compressor::with_prepared_dictionary(enc),
            None => Compressor::new(LEVEL),
        };
        Ok(Packer(z.map_err(|e| zstd_error("packing", &e))?))
    }

    /// An unpacker for many records in turn.
    pub fn unpacker(&self) -> Result<Unpacker<'_>> {
        let z = match &self.dict {
            Some((_, dec)) => Decompressor::with_prepared_dictionary(dec),
            None => Decompressor::new(),
        };
        Ok(Unpacker {
            z: z.map_err(|e| zstd_error("unpacking", &e))?,
            buf: Vec::new(),
        })
    }
}

fn zstd_error(what: &str, e: &std::io::Error) -> Error {
    Error::internal(format!("{what} a catalog record: {e}"))
}

/// A record as compact JSON: what is packed, and what the dictionary is
/// trained on.
pub(super) fn json(record: &Record) -> Result<Vec<u8>> {
    Ok(serde_json::to_vec(record)?)
}

pub(super) struct Packer<'a>(Compressor<'a>);

impl Packer<'_> {
    pub fn pack(&mut self, record: &Record) -> Result<Packed> {
        self.0
            .compress(&json(record)?)
            .map(Vec::into_boxed_slice)
            .map_err(|e| zstd_error("packing", &e))
    }
}

pub(super) struct Unpacker<'a> {
    z: Decompressor<'a>,
    buf: Vec<u8>,
}

impl Unpacker<'_> {
    pub fn unpack(&mut self, packed: &[u8]) -> Result<Record> {
        let size = Decompressor::upper_bound(packed)
            .ok_or_else(|| Error::internal("a packed catalog record has no size"))?;
        self.buf.clear();
        self.buf.reserve(size);
        self.z
            .decompress_to_buffer(packed, &mut self.buf)
            .map_err(|e| zstd_error("unpacking", &e))?;
        Ok(serde_json::from_slice(&self.buf)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(i: usize) -> Record {
        serde_json::from_value(serde_json::json!({
            "id": format!("tenant{}-app-20260101T{:06}Z", i % 7, i), "username": format!("tenant{}", i % 7),
            "database": "app", "created_at": "2026-01-01T00:00:00Z", "size_bytes": i * 7919,
            "sha256": format!("{:064x}", i * 104_729), "destination": "local",
            "location": format!("/var/lib/containarium/backups/tenant{}-app-{i}.dump", i % 7),
            "engine": "postgres", "relation_count": 2,
            "row_counts": {"public.users": i, "public.events": i * 3}
        }))
        .unwrap()
    }

    #[test]
    fn records_round_trip_with_and_without_a_dictionary_and_the_dictionary_pays() {
        let records: Vec<Record> = (0..1000).map(record).collect();
        let samples: Vec<Vec<u8>> = records.iter().map(|r| json(r).unwrap()).collect();
        let trained = Codec::train(&samples);
        assert!(trained.dict.is_some(), "1000 samples train a dictionary");
        let plain = Codec::train(&samples[..10]);
        assert!(plain.dict.is_none(), "10 samples are too few");
        let size = |c: &Codec| -> usize {
            let mut p = c.packer().unwrap();
            let mut u = c.unpacker().unwrap();
            records
                .iter()
                .map(|r| {
                    let packed = p.pack(r).unwrap();
                    assert_eq!(&u.unpack(&packed).unwrap(), r);
                    packed.len()
                })
                .sum()
        };
        let (with, without) = (size(&trained), size(&plain));
        let json: usize = samples.iter().map(Vec::len).sum();
        assert!(
            with * 2 < without && without < json,
            "packed {with} with a dictionary, {without} without, {json} as JSON"
        );
    }
}
