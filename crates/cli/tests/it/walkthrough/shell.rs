//! One bash session that runs a walkthrough's commands in order, as a
//! reader pasting them into a terminal would: variables and `export`s carry
//! over, background jobs keep running. Each command's output (stdout and
//! stderr together) goes to a file of its own; its exit status comes back
//! on the session's stdout after a marker.

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

pub struct Session {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
    out: PathBuf,
    n: usize,
}

impl Drop for Session {
    fn drop(&mut self) {
        // Background jobs too: they are in the session's process group.
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What one command did.
pub struct Ran {
    pub output: PathBuf,
    /// `None` for a background job (see [`Session::exit_of`]).
    pub exit: Option<i32>,
}

impl Session {
    /// A clean `bash` in `cwd`: none of the caller's environment but a
    /// `PATH` that starts with `bin_dir` (where `countersign` is).
    pub fn start(cwd: &Path, bin_dir: &Path) -> Session {
        let out = cwd.join(".walkthrough");
        std::fs::create_dir_all(&out).unwrap();
        let mut child = Command::new("setsid")
            .args(["bash", "--noprofile", "--norc"])
            .current_dir(cwd)
            .env_clear()
            .env(
                "PATH",
                format!("{}:/usr/local/bin:/usr/bin:/bin", bin_dir.display()),
            )
            .env("HOME", cwd)
            .env("LANG", "C.UTF-8")
            .env("TERM", "dumb")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("bash starts");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Session {
            child,
            stdin,
            lines,
            out,
            n: 0,
        }
    }

    /// Runs `command` (in the background when asked) with no input; waits
    /// up to `timeout` for a foreground command.
    pub fn run(&mut self, command: &str, background: bool, timeout: Duration) -> Ran {
        self.n += 1;
        let n = self.n;
        let output = self.out.join(format!("{n}.out"));
        let rc = self.out.join(format!("{n}.rc"));
        let script = if background {
            format!(
                "{{ {{ {command}\n}} > '{out}' 2>&1 < /dev/null; echo $? > '{rc}'; }} &\necho \"__walkthrough_done {n} 0\"\n",
                out = output.display(),
                rc = rc.display()
            )
        } else {
            format!(
                "{{ {command}\n}} > '{out}' 2>&1 < /dev/null\necho \"__walkthrough_done {n} $?\"\n",
                out = output.display()
            )
        };
        self.stdin.write_all(script.as_bytes()).unwrap();
        self.stdin.flush().unwrap();
        let status = self.marker(n, timeout).unwrap_or_else(|| {
            panic!(
                "`{command}` did not finish within {timeout:?}; its output so far:\n{}",
                std::fs::read_to_string(&output).unwrap_or_default()
            )
        });
        Ran {
            output,
            exit: (!background).then_some(status),
        }
    }

    /// Waits for every background job to end.
    pub fn wait_all(&mut self, timeout: Duration) {
        let ran = self.run("wait", false, timeout);
        assert_eq!(ran.exit, Some(0));
    }

    /// A finished background job's exit status.
    pub fn exit_of(output: &Path) -> Option<i32> {
        let rc = output.with_extension("rc");
        std::fs::read_to_string(rc).ok()?.trim().parse().ok()
    }

    fn marker(&self, n: usize, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        let prefix = format!("__walkthrough_done {n} ");
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            let line = self.lines.recv_timeout(left).ok()?;
            if let Some(code) = line.strip_prefix(&prefix) {
                return code.trim().parse().ok();
            }
        }
    }
}
