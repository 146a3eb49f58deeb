//! The age stage: the archive is encrypted to the tenant's X25519 recipients
//! in the stream (64 KiB authenticated chunks, so memory stays bounded), and
//! decrypts with the `age` CLI too. Decryption needs an identity file; a host
//! without one can back up but not restore (encrypt-only).

use std::path::{Path, PathBuf};

use age::x25519;
use tokio::io::BufReader;
use tokio_util::compat::{
    FuturesAsyncReadCompatExt, FuturesAsyncWriteCompatExt, TokioAsyncReadCompatExt,
    TokioAsyncWriteCompatExt,
};

use super::CHUNK;
use super::pipeline::{Reader, Writer};
use crate::{Error, Result};

pub(super) const ID: &str = "age";

/// Parsed recipients and the public keys the record names.
#[derive(Debug, Clone)]
pub(super) struct Recipients(Vec<x25519::Recipient>);

impl Recipients {
    /// # Errors
    /// InvalidArgument naming the key that is not an `age1…` recipient.
    pub fn parse(keys: &[String]) -> Result<Self> {
        keys.iter()
            .map(|k| {
                k.trim().parse().map_err(|e| {
                    Error::invalid(format!(
                        "recipients: {k:?} is not an age X25519 recipient: {e}"
                    ))
                })
            })
            .collect::<Result<_>>()
            .map(Self)
    }

    pub fn public_keys(&self) -> Vec<String> {
        self.0.iter().map(ToString::to_string).collect()
    }
}

/// The identities that decrypt, and where they came from (for messages).
#[derive(Default)]
pub struct Identities {
    keys: Vec<Box<dyn age::Identity + Send + Sync>>,
    file: Option<PathBuf>,
}

impl Identities {
    /// Reads an identity file; `None` = an encrypt-only host (no identities).
    ///
    /// # Errors
    /// FailedPrecondition when the file cannot be read or holds no identity.
    pub fn load(file: Option<&Path>) -> Result<Self> {
        let Some(file) = file else {
            return Ok(Self::default());
        };
        let bad = |e: String| Error::precondition(format!("identity-file {}: {e}", file.display()));
        let keys = age::IdentityFile::from_file(file.display().to_string())
            .map_err(|e| bad(e.to_string()))?
            .into_identities()
            .map_err(|e| bad(e.to_string()))?;
        if keys.is_empty() {
            return Err(bad("holds no age identity".into()));
        }
        Ok(Self {
            keys,
            file: Some(file.to_path_buf()),
        })
    }
}

/// Encrypts into `sink`.
pub(super) async fn encryptor(sink: Writer, to: &Recipients) -> Result<Writer> {
    let enc = age::Encryptor::with_recipients(to.0.iter().map(|r| r as &dyn age::Recipient))
        .map_err(|e| Error::internal(format!("age: {e}")))?;
    let w = enc
        .wrap_async_output(TokioAsyncWriteCompatExt::compat_write(sink))
        .await
        .map_err(|e| Error::internal(format!("age: writing the header: {e}")))?;
    Ok(Box::new(FuturesAsyncWriteCompatExt::compat_write(w)))
}

/// Decrypts `source` with `ids`. The header is read here, so a wrong key
/// fails before anything downstream (a database) is touched.
///
/// # Errors
/// FailedPrecondition "cannot decrypt" with `hint` on an encrypt-only host.
pub(super) async fn decryptor(source: Reader, ids: &Identities, hint: &str) -> Result<Reader> {
    let Some(file) = &ids.file else {
        return Err(Error::precondition(format!(
            "cannot decrypt: this daemon has no identity-file for this tenant (an encrypt-only \
             host); restore by hand with the tenant's key: {hint}"
        )));
    };
    let buffered = TokioAsyncReadCompatExt::compat(BufReader::with_capacity(CHUNK, source));
    let header = age::Decryptor::new_async_buffered(buffered)
        .await
        .map_err(|e| {
            Error::precondition(format!("cannot decrypt: not a readable age file: {e}"))
        })?;
    let reader = header
        .decrypt_async(ids.keys.iter().map(|k| k.as_ref() as &dyn age::Identity))
        .map_err(|e| {
            Error::precondition(format!(
                "cannot decrypt: {e} (identity-file {})",
                file.display()
            ))
        })?;
    Ok(Box::new(FuturesAsyncReadCompatExt::compat(reader)))
}
