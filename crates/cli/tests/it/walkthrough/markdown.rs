//! The runnable parts of a markdown page: the ```sh blocks of a section,
//! split into steps (a command and the output shown under it).
//!
//! Conventions (scripts/walkthrough.sh repeats them for writers):
//! - every ```sh block in a walkthrough section runs, in order, in one shell;
//! - a line `#   text` (a hash and three spaces) right under a command is
//!   output that command must print (stdout or stderr), `…` standing for
//!   anything; the lines must appear in that order, each within one line;
//! - `#   (exit N)` says the command exits with N (otherwise it must exit 0);
//! - other `#` lines are comments; a command may continue over lines ending
//!   in `\`, and one ending in `&` runs in the background.

/// One command of a walkthrough and what it must print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The command as written (continuations joined, trailing `&` removed).
    pub command: String,
    pub background: bool,
    /// Patterns, in order; `…` matches anything.
    pub expect: Vec<String>,
    /// The exit status it must have.
    pub exit: i32,
    /// Where it is, for failure messages: `README.md:142`.
    pub place: String,
}

/// The ```sh blocks under the heading titled `title` (any level), up to
/// the next heading of the same or a higher level, as steps. Panics when the
/// heading or its blocks are missing: a renamed section must fail, not run
/// nothing.
pub fn section_steps(file: &str, text: &str, title: &str) -> Vec<Step> {
    let lines: Vec<&str> = text.lines().collect();
    // Headings outside code blocks (a `# comment` in a block is not one).
    let mut fenced = false;
    let headings: Vec<(usize, usize, &str)> = lines
        .iter()
        .enumerate()
        .filter_map(|(i, l)| {
            if l.trim_start().starts_with("```") {
                fenced = !fenced;
                return None;
            }
            let hashes = l.chars().take_while(|c| *c == '#').count();
            (!fenced && hashes > 0 && l[hashes..].starts_with(' '))
                .then(|| (i, hashes, l[hashes..].trim()))
        })
        .collect();
    let (start, level) = headings
        .iter()
        .find(|(_, _, t)| *t == title)
        .map(|(i, level, _)| (*i, *level))
        .unwrap_or_else(|| panic!("{file}: no heading `{title}`"));
    let end = headings
        .iter()
        .find(|(i, l, _)| *i > start && *l <= level)
        .map_or(lines.len(), |(i, _, _)| *i);
    let mut steps = Vec::new();
    let mut i = start + 1;
    let mut blocks = 0;
    while i < end {
        if lines[i].trim_start().starts_with("```") {
            let info = lines[i].trim_start().trim_start_matches('`').trim();
            let close = (i + 1..end)
                .find(|&j| lines[j].trim_start().starts_with("```"))
                .unwrap_or_else(|| panic!("{file}:{}: unclosed code block", i + 1));
            if info == "sh" {
                blocks += 1;
                steps.extend(block_steps(file, &lines[i + 1..close], i + 2));
            }
            i = close + 1;
        } else {
            i += 1;
        }
    }
    assert!(blocks > 0, "{file}: no ```sh block under `{title}`");
    steps
}

/// The steps of one block whose first line is line `first` of the file.
pub fn block_steps(file: &str, lines: &[&str], first: usize) -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::new();
    let mut pending = String::new();
    let mut pending_at = 0;
    for (n, raw) in lines.iter().enumerate() {
        let line = raw.trim_end();
        let trimmed = line.trim_start();
        if pending.is_empty() {
            if let Some(out) = trimmed.strip_prefix("#   ") {
                let step = steps.last_mut().unwrap_or_else(|| {
                    panic!("{file}:{}: output shown before any command", first + n)
                });
                let out = out.trim();
                match out.strip_prefix("(exit ").and_then(|r| r.strip_suffix(')')) {
                    Some(code) => step.exit = code.parse().expect("(exit N)"),
                    None => step.expect.push(out.to_owned()),
                }
                continue;
            }
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            pending_at = first + n;
        }
        match line.strip_suffix('\\') {
            Some(head) => {
                pending.push_str(head);
                pending.push(' ');
            }
            None => {
                pending.push_str(line);
                let command = std::mem::take(&mut pending);
                let command = command.trim().to_owned();
                let (command, background) = match command.strip_suffix('&') {
                    Some(c) if !c.ends_with('&') => (c.trim().to_owned(), true),
                    _ => (command, false),
                };
                steps.push(Step {
                    command,
                    background,
                    expect: Vec::new(),
                    exit: 0,
                    place: format!("{file}:{pending_at}"),
                });
            }
        }
    }
    assert!(
        pending.is_empty(),
        "{file}: a command ends in `\\` at the end of its block"
    );
    steps
}

/// Whether `line` matches `pattern`: its `…`-separated pieces appear in
/// order within the line.
pub fn matches(pattern: &str, line: &str) -> bool {
    let mut rest = line;
    for piece in pattern.split('…') {
        match rest.find(piece) {
            Some(i) => rest = &rest[i + piece.len()..],
            None => return false,
        }
    }
    true
}

/// The first pattern of `expect` not found, in order, in `output`.
pub fn first_missing<'a>(expect: &'a [String], output: &str) -> Option<&'a str> {
    let mut lines = output.lines();
    expect
        .iter()
        .find(|pattern| !lines.by_ref().any(|l| matches(pattern, l)))
        .map(String::as_str)
}

#[test]
fn steps_join_continuations_and_collect_shown_output() {
    let md = "intro\n## Try it\n\n```sh\n# a comment\nexport A=1   # trailing\nB=$(echo x)\necho one \\\n  two &\n#   one two\n#   (exit 0)\nfalse\n#   (exit 1)\n```\n\n```text\nnot run\n```\n## Next\n```sh\nnot in the section\n```\n";
    let steps = section_steps("x.md", md, "Try it");
    let commands: Vec<&str> = steps.iter().map(|s| s.command.as_str()).collect();
    assert_eq!(
        commands,
        [
            "export A=1   # trailing",
            "B=$(echo x)",
            "echo one    two",
            "false"
        ]
    );
    assert!(steps[2].background);
    assert_eq!(steps[2].expect, ["one two"]);
    assert_eq!(steps[3].exit, 1);
    assert_eq!(steps[1].place, "x.md:7");
}

#[test]
fn shown_output_matches_in_order_with_ellipses() {
    assert!(matches(
        "waiting for apr_…: 0/2 approvals",
        "x waiting for apr_01ab: 0/2 approvals · 4h"
    ));
    assert!(!matches(
        "0/2 approvals …reviewer",
        "reviewer 0/2 approvals"
    ));
    let expect = vec!["b…".to_owned(), "d".to_owned()];
    assert_eq!(first_missing(&expect, "a\nbc\nd"), None);
    assert_eq!(first_missing(&expect, "d\nbc"), Some("d"));
}

#[test]
#[should_panic(expected = "no heading `Gone`")]
fn a_renamed_section_fails_rather_than_running_nothing() {
    section_steps("x.md", "## Here\n```sh\ntrue\n```\n", "Gone");
}
