//! Every subcommand's `--help` describes what it does and every argument,
//! and shows examples that parse: walks clap's whole command tree, so a
//! new subcommand or flag without help text fails here.

use crate::cli::Cli;
use clap::{CommandFactory as _, Parser as _};

/// `(path, command)` for the root and every subcommand below it.
fn walk(cmd: &clap::Command, path: Vec<String>, out: &mut Vec<(Vec<String>, clap::Command)>) {
    out.push((path.clone(), cmd.clone()));
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let mut p = path.clone();
        p.push(sub.get_name().to_owned());
        walk(sub, p, out);
    }
}

fn commands() -> Vec<(Vec<String>, clap::Command)> {
    let mut root = Cli::command();
    root.build();
    let mut out = Vec::new();
    walk(&root, Vec::new(), &mut out);
    out
}

/// The example command lines of a help text: `countersign …` after any
/// `VAR=value` assignments or `$(`, continuation lines joined, comments cut.
fn example_lines(after_help: &str) -> Vec<String> {
    let mut joined = Vec::new();
    let mut current = String::new();
    for line in after_help.lines() {
        let line = line.trim();
        if let Some(head) = line.strip_suffix('\\') {
            current.push_str(head);
            current.push(' ');
            continue;
        }
        current.push_str(line);
        joined.push(std::mem::take(&mut current));
    }
    joined
        .into_iter()
        .filter_map(|l| {
            let start = l.find("countersign ")?;
            // Only lines that are commands, not prose that names one.
            let before = &l[..start];
            let is_command = before.is_empty()
                || before.ends_with("$(")
                || before.split_whitespace().all(|w| w.contains('='));
            if !is_command {
                return None;
            }
            let cmd = &l[start..];
            let cmd = match cmd.find(" #") {
                Some(i) => &cmd[..i],
                None => cmd,
            };
            let cmd = cmd.split(" && ").next().unwrap_or(cmd);
            let cmd = cmd.split(" | ").next().unwrap_or(cmd);
            let cmd = cmd.split(" > ").next().unwrap_or(cmd);
            Some(cmd.trim().trim_end_matches(')').to_owned())
        })
        .collect()
}

#[test]
fn every_subcommand_has_an_about_and_examples() {
    let mut missing = Vec::new();
    for (path, cmd) in commands() {
        let name = format!("countersign {}", path.join(" "));
        if cmd.get_about().is_none() && !path.is_empty() {
            missing.push(format!("{name}: no description"));
        }
        let examples = cmd
            .get_after_help()
            .map(ToString::to_string)
            .unwrap_or_default();
        if !examples.contains("Examples:") || example_lines(&examples).is_empty() {
            missing.push(format!("{name}: no Examples: section with a command"));
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

#[test]
fn every_argument_is_described() {
    let mut missing = Vec::new();
    for (path, cmd) in commands() {
        for arg in cmd.get_arguments() {
            let id = arg.get_id().as_str();
            if ["help", "version"].contains(&id) {
                continue;
            }
            let described = arg
                .get_help()
                .is_some_and(|h| h.to_string().trim().len() > 3);
            if !described {
                missing.push(format!("countersign {} <{id}>", path.join(" ")));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "arguments without help text:\n{}",
        missing.join("\n")
    );
}

#[test]
fn every_example_parses_and_runs_its_own_subcommand() {
    let mut broken = Vec::new();
    let mut count = 0;
    for (path, cmd) in commands() {
        let help = cmd
            .get_after_help()
            .map(ToString::to_string)
            .unwrap_or_default();
        for line in example_lines(&help) {
            count += 1;
            let words = match shell_words::split(&line) {
                Ok(w) => w,
                Err(e) => {
                    broken.push(format!("{line}: {e}"));
                    continue;
                }
            };
            match Cli::try_parse_from(&words) {
                Ok(_) => {
                    // An example in `policy test --help` runs `policy test`.
                    let named = words[1..].iter().filter(|w| !w.starts_with('-'));
                    if !path.iter().zip(named).all(|(p, w)| p == w) && !path.is_empty() {
                        broken.push(format!("{line}: not an example of `{}`", path.join(" ")));
                    }
                }
                Err(e) => broken.push(format!("{line}:\n{e}")),
            }
        }
    }
    assert!(count > 60, "only {count} examples found");
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}

#[test]
fn client_flags_work_before_and_after_the_subcommand() {
    for argv in [
        &[
            "countersign",
            "--token",
            "t",
            "--server",
            "http://x:1",
            "approvals",
            "list",
        ][..],
        &[
            "countersign",
            "approvals",
            "list",
            "--token",
            "t",
            "--server",
            "http://x:1",
        ][..],
        &[
            "countersign",
            "approvals",
            "--token",
            "t",
            "list",
            "--server",
            "http://x:1",
        ][..],
    ] {
        let cli = Cli::try_parse_from(argv).unwrap();
        assert_eq!(cli.remote.token.as_deref(), Some("t"), "{argv:?}");
        assert_eq!(cli.remote.server, "http://x:1", "{argv:?}");
    }
}

#[test]
fn help_names_the_server_and_token_variables() {
    let help = Cli::command().render_long_help().to_string();
    for var in ["COUNTERSIGN_SERVER", "COUNTERSIGN_TOKEN"] {
        assert!(help.contains(var), "{var} missing from --help:\n{help}");
    }
}
