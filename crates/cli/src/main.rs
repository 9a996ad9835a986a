//! The `countersign` binary: parses flags, builds one validated config, and
//! dispatches to one subcommand per file in `commands/`.

mod cli;
mod client;
mod commands;
mod config;
mod data_lock;
mod examples;
mod exit;
#[cfg(test)]
mod help_check;
mod human;

use clap::Parser;

fn main() -> std::process::ExitCode {
    quiet_on_broken_pipe();
    let args = match cli::Cli::try_parse() {
        Ok(args) => args,
        Err(e) => return usage_error(&e),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    match runtime.block_on(commands::dispatch(args)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(exit::ERROR)
        }
    }
}

/// Prints clap's message (help and version too), adding the hint people
/// need most: `countersign run` takes its command after `--`.
fn usage_error(e: &clap::Error) -> std::process::ExitCode {
    let _ = e.print();
    let argv: Vec<String> = std::env::args().skip(1).collect();
    if e.kind() == clap::error::ErrorKind::UnknownArgument && run_without_separator(&argv) {
        eprintln!(
            "\nhint: put `--` before the command to run, e.g.\n  countersign run --resource 'Command::\"backup\"' --env prod -- ./backup.sh --full"
        );
    }
    std::process::ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(exit::ERROR))
}

/// `countersign … run …` with no `--` at all.
fn run_without_separator(argv: &[String]) -> bool {
    argv.iter().any(|a| a == "run") && !argv.iter().any(|a| a == "--")
}

/// `countersign policy diff … | head` closes our stdout early: that is the
/// reader's choice, not an error, so exit quietly instead of panicking with
/// a backtrace (Rust ignores SIGPIPE, and `println!` panics on EPIPE). Any
/// other panic keeps the default report.
fn quiet_on_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info.to_string();
        let broken_pipe =
            message.contains("failed printing to stdout") && message.contains("(os error 32)");
        if broken_pipe {
            std::process::exit(0);
        }
        default(info);
    }));
}
