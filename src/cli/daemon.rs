//! `containarium daemon`: load the config (file, then env/flags), build the
//! service, bind the listeners, serve until SIGTERM/SIGINT, then drain.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

use crate::config::Config;

/// Where the config and the JWT secret come from (shared with `token mint`).
#[derive(Debug, Clone, clap::Args)]
pub struct SecretArgs {
    /// TOML config file.
    #[arg(long, env = "CONTAINARIUM_CONFIG")]
    pub config: Option<PathBuf>,
    /// File holding the JWT secret (≥ 32 bytes). The secret itself can also
    /// come from the CONTAINARIUM_JWT_SECRET environment variable, never a flag.
    #[arg(long, env = "CONTAINARIUM_JWT_SECRET_FILE")]
    pub jwt_secret_file: Option<PathBuf>,
}

impl SecretArgs {
    /// The config file's contents, or the defaults. Reads only.
    pub fn config(&self) -> anyhow::Result<Config> {
        match &self.config {
            Some(p) => Ok(Config::load(p)?),
            None => Ok(Config::default()),
        }
    }

    /// The JWT secret (env, then `--jwt-secret-file`, then the config's file
    /// or inline value) and the longest token lifetime allowed.
    pub fn load(&self) -> anyhow::Result<(String, u64)> {
        let config = self.config()?;
        let secret = secret(&config, self.jwt_secret_file.as_ref())?.context(
            "no JWT secret: set CONTAINARIUM_JWT_SECRET, --jwt-secret-file, or [auth] jwt-secret-file in the config",
        )?;
        Ok((secret, config.auth.max_token_ttl_secs))
    }
}

/// The JWT secret by precedence; `None` when none is configured anywhere.
pub fn secret(config: &Config, file_flag: Option<&PathBuf>) -> anyhow::Result<Option<String>> {
    if let Ok(s) = std::env::var("CONTAINARIUM_JWT_SECRET")
        && !s.is_empty()
    {
        return Ok(Some(s));
    }
    if let Some(p) = file_flag.or(config.auth.jwt_secret_file.as_ref()) {
        let s = std::fs::read_to_string(p)
            .with_context(|| format!("reading the JWT secret file {}", p.display()))?;
        return Ok(Some(s.trim_end_matches(['\n', '\r']).to_string()));
    }
    Ok(config
        .auth
        .jwt_secret
        .as_ref()
        .map(|s| s.expose().to_string()))
}

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    secret: SecretArgs,
}

impl Args {
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        let _ = self.secret.config()?;
        anyhow::bail!("the daemon is not built yet")
    }
}
