//! The options every `backup` subcommand shares: which daemon, which
//! transport, which token, which output. Resolves them into a [`Session`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use serde::Serialize;

use super::format;
use crate::api::Api;
use crate::auth::Credentials;
use crate::client;
use crate::config::Redacted;

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// Tables and `key: value` lines for people.
    Table,
    /// The response's proto3 JSON, exactly as the REST API returns it.
    Json,
}

#[derive(Debug, clap::Args)]
#[command(next_help_heading = "Daemon options")]
pub struct Remote {
    /// The daemon [default: http://127.0.0.1:50051, or http://127.0.0.1:8080 with --http].
    #[arg(long, env = "CONTAINARIUM_SERVER", global = true)]
    server: Option<String>,
    /// Speak REST (the grpc-gateway routes) instead of gRPC.
    #[arg(long, global = true)]
    http: bool,
    /// Bearer token (a flag is visible in `ps`: prefer the environment
    /// variable or --token-file). Without either, the token is read from
    /// $XDG_CONFIG_HOME/containarium/token (or ~/.config/containarium/token)
    /// when that file exists.
    #[arg(long, env = "CONTAINARIUM_TOKEN", hide_env_values = true, global = true,
          value_parser = redacted)]
    token: Option<Redacted>,
    /// File holding the bearer token; wins over --token and CONTAINARIUM_TOKEN.
    #[arg(long, global = true)]
    token_file: Option<PathBuf>,
    /// PEM CA certificate trusted (instead of the system roots) for https:// servers.
    #[arg(long, global = true)]
    ca_cert: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Table, global = true)]
    output: Output,
}

/// Clap's parser for secrets: the value is wrapped before anything can
/// `Debug`-print it.
#[allow(clippy::unnecessary_wraps)]
pub fn redacted(s: &str) -> Result<Redacted, std::convert::Infallible> {
    Ok(Redacted::new(s))
}

/// A connected client, the caller's credentials and the output format.
pub struct Session {
    pub api: Arc<dyn Api>,
    pub creds: Credentials,
    pub output: Output,
}

impl Remote {
    pub async fn session(self) -> anyhow::Result<Session> {
        let default = if self.http {
            client::DEFAULT_REST_SERVER
        } else {
            client::DEFAULT_GRPC_SERVER
        };
        let server = self.server.as_deref().unwrap_or(default);
        let creds = self.credentials()?;
        let api = client::connect(server, self.http, self.ca_cert.as_deref()).await?;
        Ok(Session {
            api,
            creds,
            output: self.output,
        })
    }

    /// `--token-file`, else `--token` (or its env var), else the default
    /// credentials file if it exists, else none (the daemon decides). The
    /// file wins because clap cannot tell an explicit `--token` from one
    /// inherited through the environment, and an explicit file is the
    /// stronger signal.
    fn credentials(&self) -> anyhow::Result<Credentials> {
        if let Some(p) = &self.token_file {
            return read_token(p);
        }
        if let Some(t) = &self.token {
            return bearer(t.expose()).context("--token / CONTAINARIUM_TOKEN is empty");
        }
        let path = match default_token_file(
            std::env::var_os("XDG_CONFIG_HOME"),
            std::env::var_os("HOME"),
        ) {
            Some(p) if p.exists() => p,
            _ => return Ok(Credentials::None),
        };
        read_token(&path)
    }
}

fn bearer(token: &str) -> Option<Credentials> {
    let t = token.trim();
    (!t.is_empty()).then(|| Credentials::Bearer(t.to_string()))
}

fn read_token(path: &Path) -> anyhow::Result<Credentials> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the token file {}", path.display()))?;
    bearer(&text).with_context(|| format!("the token file {} is empty", path.display()))
}

/// `$XDG_CONFIG_HOME/containarium/token`, or `$HOME/.config/containarium/token`.
fn default_token_file(
    xdg: Option<std::ffi::OsString>,
    home: Option<std::ffi::OsString>,
) -> Option<PathBuf> {
    let config = match xdg.filter(|x| !x.is_empty()) {
        Some(x) => PathBuf::from(x),
        None => PathBuf::from(home.filter(|h| !h.is_empty())?).join(".config"),
    };
    Some(config.join("containarium").join("token"))
}

impl Session {
    /// Prints `value` as JSON, or `human` (rendered only when needed) for a table.
    pub fn print<T: Serialize>(
        &self,
        value: &T,
        human: impl FnOnce() -> String,
    ) -> anyhow::Result<()> {
        match self.output {
            Output::Json => print!("{}", format::json(value)?),
            Output::Table => print!("{}", human()),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_token_file_prefers_xdg() {
        let p = default_token_file(Some("/x".into()), Some("/home/u".into()));
        assert_eq!(p.unwrap(), Path::new("/x/containarium/token"));
        let p = default_token_file(Some("".into()), Some("/home/u".into()));
        assert_eq!(p.unwrap(), Path::new("/home/u/.config/containarium/token"));
        assert!(default_token_file(None, None).is_none());
    }

    #[test]
    fn token_files_are_trimmed_and_must_not_be_empty() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t");
        std::fs::write(&p, "abc.def\n").unwrap();
        assert!(matches!(read_token(&p).unwrap(), Credentials::Bearer(t) if t == "abc.def"));
        std::fs::write(&p, "\n").unwrap();
        assert!(read_token(&p).is_err());
        assert!(read_token(&dir.path().join("missing")).is_err());
    }
}
