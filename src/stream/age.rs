//! The age stage: the archive is encrypted to the tenant's recipients in the
//! stream (64 KiB authenticated chunks, so memory stays bounded), and
//! decrypts with the `age` CLI too. Decryption needs an identity file; a host
//! without one can back up but not restore (encrypt-only).
//!
//! Recipients are age X25519 keys (`age1…`) or OpenSSH `ssh-ed25519` public
//! keys, which age supports natively (`age -R key.pub`, `age -d -i id_ed25519`).
//! `ssh-rsa` is refused on purpose: decrypting RSA-OAEP goes through the `rsa`
//! crate, whose private-key operations are not constant-time (RUSTSEC-2023-0071),
//! and a restore host must not be a timing oracle for a tenant's key.

use std::path::{Path, PathBuf};

use age::{ssh, x25519};
use tokio::io::BufReader;
use tokio_util::compat::{
    FuturesAsyncReadCompatExt, FuturesAsyncWriteCompatExt, TokioAsyncReadCompatExt,
    TokioAsyncWriteCompatExt,
};

use super::CHUNK;
use super::pipeline::{Reader, Writer};
use crate::{Error, Result};

pub(super) const ID: &str = "age";

/// One recipient: what the config may name.
#[derive(Debug, Clone)]
enum Recipient {
    X25519(x25519::Recipient),
    SshEd25519(ssh::Recipient),
}

impl Recipient {
    /// # Errors
    /// InvalidArgument naming the key and what was wrong with it.
    fn parse(key: &str) -> Result<Self> {
        let key = key.trim();
        let bad = |why: String| Error::invalid(format!("recipients: {key:?} {why}"));
        if key.starts_with("ssh-") {
            return match key.parse::<ssh::Recipient>() {
                Ok(r @ ssh::Recipient::SshEd25519(..)) => Ok(Self::SshEd25519(r)),
                Ok(ssh::Recipient::SshRsa(..)) => Err(bad(
                    "is an ssh-rsa key; only ssh-ed25519 OpenSSH keys are accepted \
                     (or an age1… key from age-keygen)"
                        .into(),
                )),
                Err(e) => Err(bad(format!(
                    "is not an ssh-ed25519 public key ({e:?}); paste the whole line of the .pub file"
                ))),
            };
        }
        key.parse().map(Self::X25519).map_err(|e| {
            bad(format!(
                "is neither an age X25519 recipient (age1…) nor an ssh-ed25519 public key: {e}"
            ))
        })
    }

    fn as_dyn(&self) -> &dyn age::Recipient {
        match self {
            Self::X25519(r) => r,
            Self::SshEd25519(r) => r,
        }
    }
}

impl std::fmt::Display for Recipient {
    /// The public key without its comment (the record names keys, not hosts).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::X25519(r) => std::fmt::Display::fmt(r, f),
            Self::SshEd25519(r) => std::fmt::Display::fmt(r, f),
        }
    }
}

/// Parsed recipients and the public keys the record names.
#[derive(Debug, Clone)]
pub(super) struct Recipients(Vec<Recipient>);

impl Recipients {
    /// # Errors
    /// InvalidArgument naming the key that is neither an `age1…` recipient
    /// nor an `ssh-ed25519` public key.
    pub fn parse(keys: &[String]) -> Result<Self> {
        keys.iter()
            .map(|k| Recipient::parse(k))
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
    /// Reads an identity file: age identities (`AGE-SECRET-KEY-1…`, one or
    /// more) or one unencrypted OpenSSH ed25519 private key. `None` = an
    /// encrypt-only host (no identities).
    ///
    /// # Errors
    /// FailedPrecondition when the file cannot be read or holds no usable
    /// identity (a passphrase-protected or non-ed25519 ssh key is named).
    pub fn load(file: Option<&Path>) -> Result<Self> {
        let Some(file) = file else {
            return Ok(Self::default());
        };
        let bad = |e: String| Error::precondition(format!("identity-file {}: {e}", file.display()));
        let text = std::fs::read_to_string(file).map_err(|e| bad(e.to_string()))?;
        let keys = if text.trim_start().starts_with("-----BEGIN ") {
            vec![ssh_identity(&text).map_err(bad)?]
        } else {
            age::IdentityFile::from_buffer(text.as_bytes())
                .map_err(|e| bad(e.to_string()))?
                .into_identities()
                .map_err(|e| bad(e.to_string()))?
        };
        if keys.is_empty() {
            return Err(bad("holds no age identity".into()));
        }
        Ok(Self {
            keys,
            file: Some(file.to_path_buf()),
        })
    }
}

/// An OpenSSH private key as an identity. The daemon has no one to ask for a
/// passphrase, so a protected key is refused with what to do instead.
fn ssh_identity(text: &str) -> std::result::Result<Box<dyn age::Identity + Send + Sync>, String> {
    let key = ssh::Identity::from_buffer(text.as_bytes(), None)
        .map_err(|e| format!("not an OpenSSH private key: {e}"))?;
    match key {
        ssh::Identity::Encrypted(_) => Err(
            "the ssh key is protected by a passphrase, which a daemon cannot type; keep an \
             unprotected copy readable only by the daemon (ssh-keygen -p -N '' -f COPY)"
                .into(),
        ),
        ssh::Identity::Unsupported(k) => Err(format!("unsupported ssh key: {k:?}")),
        unencrypted @ ssh::Identity::Unencrypted(_) => {
            // The key's type is only visible through its public half.
            match ssh::Recipient::try_from(unencrypted.clone()) {
                Ok(ssh::Recipient::SshEd25519(..)) => Ok(Box::new(unencrypted)),
                Ok(ssh::Recipient::SshRsa(..)) => Err(
                    "is an ssh-rsa key; only ssh-ed25519 keys are accepted (see recipients)".into(),
                ),
                Err(e) => Err(format!("unsupported ssh key: {e:?}")),
            }
        }
    }
}

/// Encrypts into `sink`.
pub(super) async fn encryptor(sink: Writer, to: &Recipients) -> Result<Writer> {
    let enc = age::Encryptor::with_recipients(to.0.iter().map(Recipient::as_dyn))
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

#[cfg(test)]
mod tests {
    use super::*;

    const AGE: &str = "age1rml2qhey94pvy42jdxk09rrs47vuqmvuc8tuf4fd940vaj6w8qusnsg339";
    const ED25519: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINyi289QFiUs91XhNhrn03QAKiAOunXw5Bgq4zOGEy+v";
    const RSA: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDbeECKy+EkMN+heqaTJPDJgDNBRvddkiLe1PA89NwYVOR0CwUzUQ8ZL1mw9XTn5ZIWQXIhO5x3lSyr7NevOckKID4HohVMlF2gyNhDQ+N0eSrsu3fa0pTHg7Hjeuyk1QChCJD7MXg9+wehAnENmuXx+Bztc+EUsYfKwQDtU9FPvkncvpH7RA5Z/HbykfDaYnwcaT6GDS6GWu5stssBrgfGfn/g4gBMDxOemb/KR4fp6IZd0wM0PNgnwFKQMnrvGh0X0NwmVLCUxm8x6wqyK4xrqIt4KeorjNvEHkluBvimVCGU56vO5ftwtv/+tKGDtimt9fvEBt3Q6sjdV7myOTOL";

    fn refused(key: &str) -> String {
        let e = Recipients::parse(&[key.to_string()]).unwrap_err();
        assert_eq!(e.code, crate::Code::InvalidArgument, "{e:?}");
        assert!(e.message.contains(&format!("{:?}", key.trim())), "{e:?}");
        e.message
    }

    #[test]
    fn recipients_are_age_or_ssh_ed25519_keys_and_anything_else_is_named() {
        // A .pub line as pasted, comment and all: the record keeps the key.
        let keys = [format!(" {AGE} "), format!("{ED25519} alice@laptop")];
        let parsed = Recipients::parse(&keys).unwrap();
        assert_eq!(parsed.public_keys(), [AGE, ED25519]);

        assert!(refused(RSA).contains("only ssh-ed25519"));
        assert!(refused("ssh-ed25519 AAAAnot-base64").contains("not an ssh-ed25519 public key"));
        assert!(refused("age1notakey").contains("neither an age X25519 recipient"));
        assert!(refused("").contains("neither"));
    }

    #[test]
    fn an_identity_file_that_cannot_decrypt_is_refused_with_its_reason() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("key");
        for (text, why) in [
            ("", "holds no age identity"),
            (
                "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n",
                "not an OpenSSH private key",
            ),
            ("AGE-SECRET-KEY-1NOTAKEY\n", "identity-file"),
        ] {
            std::fs::write(&file, text).unwrap();
            let e = Identities::load(Some(&file)).err().expect(text);
            assert_eq!(e.code, crate::Code::FailedPrecondition, "{e:?}");
            assert!(e.message.contains(why), "{text:?}: {e:?}");
            assert!(e.message.contains(&file.display().to_string()), "{e:?}");
        }
        let e = Identities::load(Some(&dir.path().join("absent")))
            .err()
            .unwrap();
        assert!(e.message.contains("No such file"), "{e:?}");
    }
}
