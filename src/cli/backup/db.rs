//! How the daemon should log in to Postgres inside the tenant's container
//! (create, restore, verify). Empty fields leave the daemon's defaults.

use std::path::PathBuf;

use anyhow::Context as _;

use super::remote::redacted;
use crate::config::Redacted;
use crate::proto::PgConnection;

#[derive(Debug, clap::Args)]
#[command(next_help_heading = "Postgres options")]
pub struct DbArgs {
    /// Postgres user [server default: postgres].
    #[arg(long = "db-user")]
    user: Option<String>,
    /// File whose first line is the Postgres password.
    #[arg(long = "db-password-file")]
    password_file: Option<PathBuf>,
    /// The Postgres password. Visible to other users in `ps`: prefer
    /// --db-password-file or the PGPASSWORD environment variable.
    #[arg(long = "db-password", env = "PGPASSWORD", hide_env_values = true, value_parser = redacted)]
    password: Option<Redacted>,
    /// Postgres host as seen from inside the container [server default: 127.0.0.1].
    #[arg(long = "db-host")]
    host: Option<String>,
    /// Postgres port [server default: 5432].
    #[arg(long = "db-port")]
    port: Option<u16>,
}

impl DbArgs {
    /// The wire connection for `database` (empty = the daemon decides).
    /// The password file wins over `--db-password`/PGPASSWORD.
    pub fn connection(&self, database: Option<String>) -> anyhow::Result<PgConnection> {
        let password = match &self.password_file {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("reading the password file {}", p.display()))?;
                text.lines().next().unwrap_or_default().to_string()
            }
            None => self
                .password
                .as_ref()
                .map(|p| p.expose().to_string())
                .unwrap_or_default(),
        };
        Ok(PgConnection {
            database: database.unwrap_or_default(),
            user: self.user.clone().unwrap_or_default(),
            password,
            host: self.host.clone().unwrap_or_default(),
            port: self.port.map_or(0, i32::from),
        })
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        db: DbArgs,
    }

    #[test]
    fn flags_fill_the_connection_and_unset_means_default() {
        let t = T::try_parse_from(["t", "--db-user", "u", "--db-port", "6543"]).unwrap();
        let c = t.db.connection(Some("app".into())).unwrap();
        assert_eq!(
            (c.database.as_str(), c.user.as_str(), c.port),
            ("app", "u", 6543)
        );
        assert!(c.host.is_empty());
        let c = T::try_parse_from(["t"])
            .unwrap()
            .db
            .connection(None)
            .unwrap();
        assert_eq!(c.port, 0);
        assert!(c.database.is_empty() && c.user.is_empty());
    }

    #[test]
    fn password_file_gives_its_first_line_and_debug_redacts() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pw");
        std::fs::write(&p, "s3cret\n").unwrap();
        let t = T::try_parse_from(["t", "--db-password-file", p.to_str().unwrap()]).unwrap();
        assert_eq!(t.db.connection(None).unwrap().password, "s3cret");
        let t = T::try_parse_from(["t", "--db-password", "hunter2"]).unwrap();
        assert!(!format!("{:?}", t.db).contains("hunter2"));
        assert_eq!(t.db.connection(None).unwrap().password, "hunter2");
    }
}
