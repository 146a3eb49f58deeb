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
    /// Comma-separated scopes (backups:read, backups:write, *). Omitted =
    /// `*`, written into the token: a token without the claim grants a
    /// non-admin nothing.
    #[arg(long, value_delimiter = ',')]
    scopes: Option<Vec<String>>,
    /// Lifetime, e.g. 90min, 12h, 7d (at most the configured max-token-ttl).
    /// `m` means months everywhere, so minutes are `min`.
    #[arg(long, default_value = "1h", value_parser = parse_ttl)]
    ttl: u64,
    #[command(flatten)]
    secret: SecretArgs,
}

/// A lifetime in the one duration syntax (`90s`, `15min`, `1h`, `7d`) →
/// seconds. Months are refused: `15m` meant minutes here before `m` meant
/// months everywhere, so it is ambiguous.
pub fn parse_ttl(s: &str) -> Result<u64, String> {
    let d: crate::duration::CalendarDuration = s.parse()?;
    if d.months > 0 || d.years > 0 {
        return Err(format!(
            "--ttl {s}: m means months (as in retention) and tokens do not last months; \
             write min for minutes (e.g. 15min), h or d"
        ));
    }
    u64::try_from(d.seconds_from(&chrono::Utc::now())).map_err(|_| format!("{s:?} is negative"))
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
        let scopes = m.scopes.unwrap_or_else(|| vec!["*".into()]);
        let token = keys.mint(&jwt::access_claims(&m.username, m.roles, Some(scopes), ttl))?;
        println!("{token}");
        Ok(ExitCode::SUCCESS)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations() {
        use super::parse_ttl;
        assert_eq!(parse_ttl("90s"), Ok(90));
        assert_eq!(parse_ttl("15min"), Ok(900));
        assert_eq!(parse_ttl("2h"), Ok(7200));
        assert_eq!(parse_ttl("30d"), Ok(2_592_000));
        assert!(parse_ttl("1w").is_err());
        assert!(parse_ttl("h").is_err());
        let e = parse_ttl("15m").unwrap_err();
        assert!(e.contains("min for minutes"), "{e}");
        assert!(
            parse_ttl("4000000000d")
                .unwrap_err()
                .contains("out of range")
        );
    }
}
