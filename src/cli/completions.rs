//! `containarium completions bash|zsh|fish|…`

use std::process::ExitCode;

use clap::CommandFactory;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The shell to generate completions for.
    shell: clap_complete::Shell,
}

impl Args {
    pub fn run(self) -> ExitCode {
        let mut cmd = super::Cli::command();
        clap_complete::generate(self.shell, &mut cmd, "containarium", &mut std::io::stdout());
        ExitCode::SUCCESS
    }
}
