//! `containarium token mint`: operators mint access tokens with the daemon's
//! secret. The token is printed on stdout and nowhere else.

use std::process::ExitCode;

use anyhow::Context as _;

use super::daemon::SecretArgs;
use crate::auth::jwt;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: TokenCommand,
}

#[derive(Debug, clap::Subcommand)]
enum TokenCommand {
    /// Mint an access token.
    Mint(MintArgs),
}

#[derive(Debug, clap::Args)]
struct MintArgs {
    /// The subject: a tenant name, or an operator's name with --roles admin.
    #[arg(long)]
    username: String,
    /// Comma-separated roles; `admin` may act on every tenant.
    #[arg(long, value_delimiter = ',')]
    roles: Vec<String>,
    /// Comma-separated scopes (backups:read, backups:write, *). Omitted = unrestricted.
    #[arg(long, value_delimiter = ',')]
    scopes: Option<Vec<String>>,
    /// Lifetime, e.g. 1h, 12h, 7d (at most the configured max-token-ttl).
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    ttl: u64,
    #[command(flatten)]
    secret: SecretArgs,
}

/// `90s`, `15m`, `1h`, `7d` → seconds.
pub fn parse_duration(s: &str) -> Result<u64, String> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration like 90s, 15m, 1h or 7d"))?;
    let mult = match unit {
        "s" | "" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return Err(format!("unknown unit in {s:?}: use s, m, h or d")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("{s:?} is too long"))
}

impl Args {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let TokenCommand::Mint(m) = self.command;
        let (secret, max_ttl) = m.secret.load()?;
        anyhow::ensure!(
            m.ttl > 0 && m.ttl <= max_ttl,
            "--ttl must be between 1s and the configured maximum of {max_ttl}s"
        );
        crate::catalog::validate_name("username", &m.username)?;
        let keys = jwt::Keys::new(secret.as_bytes())?;
        let ttl = i64::try_from(m.ttl).context("ttl")?;
        let token = keys.mint(&jwt::access_claims(&m.username, m.roles, m.scopes, ttl))?;
        println!("{token}");
        Ok(ExitCode::SUCCESS)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations() {
        assert_eq!(super::parse_duration("90s"), Ok(90));
        assert_eq!(super::parse_duration("2h"), Ok(7200));
        assert_eq!(super::parse_duration("30d"), Ok(2_592_000));
        assert!(super::parse_duration("1w").is_err());
        assert!(super::parse_duration("h").is_err());
    }
}
