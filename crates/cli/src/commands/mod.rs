mod admin;
mod approvals;
mod audit;
mod change;
mod first_start;
mod init;
mod notifications;
mod policy;
mod recover;
mod run;
mod serve;

use crate::cli::{AdminCmd, Cli, Command};
use std::process::ExitCode;

pub async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    let remote = cli.remote;
    match cli.command {
        Command::Init(a) => init::run(a).await,
        Command::Serve(a) => serve::run(a).await,
        Command::Principals(c) => admin::principals(c, &remote).await,
        Command::Tokens(c) => admin::tokens(c, &remote).await,
        Command::Admin(AdminCmd::Recover {
            data_dir,
            principal,
            expires_in,
            reason,
        }) => recover::run(data_dir, &principal, &expires_in, &reason).await,
        Command::Approvals(c) => approvals::run(c, &remote).await,
        Command::Notifications(c) => notifications::run(c, &remote).await,
        Command::Run(mut a) => {
            a.remote = remote;
            run::run(a).await
        }
        Command::Policy(c) => policy::run(c, &remote).await,
        Command::Audit(c) => audit::run(c, remote).await,
        Command::Change(c) => change::run(c, &remote).await,
        Command::Inventory { environment } => change::inventory(environment, &remote).await,
    }
}
