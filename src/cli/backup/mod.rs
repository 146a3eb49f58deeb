//! `containarium backup …`: the daemon's client. (Being written.)

use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {}

impl Args {
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        anyhow::bail!("backup commands are not built yet")
    }
}
