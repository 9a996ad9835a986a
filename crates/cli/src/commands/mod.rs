mod admin;
mod approvals;
mod audit;
mod change;
mod init;
mod notifications;
mod policy;
mod run;
mod serve;

use crate::cli::{Cli, Command};
use std::process::ExitCode;

pub async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Init(a) => init::run(a).await,
        Command::Serve(a) => serve::run(a).await,
        Command::Principals(c) => admin::principals(c).await,
        Command::Tokens(c) => admin::tokens(c).await,
        Command::Approvals(c) => approvals::run(c).await,
        Command::Notifications(c) => notifications::run(c).await,
        Command::Run(a) => run::run(a).await,
        Command::Policy(c) => policy::run(c).await,
        Command::Audit(c) => audit::run(c).await,
        Command::Change(c) => change::run(c).await,
        Command::Inventory {
            environment,
            remote,
        } => change::inventory(environment, remote).await,
    }
}
