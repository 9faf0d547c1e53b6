//! The real `keywarden` binary as a command-line tool: run with a clean environment (only
//! what the test gives it, so a developer's AWS profile never reaches a test), stdout and
//! stderr piped as in a CI job.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The `keywarden` binary of this build (`target/debug/keywarden`), beside the running test
/// (`target/debug/deps/<test>`) or tool (`target/debug/demo`): `make test` and `make demo`
/// build it first.
pub fn binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the running binary's path");
    let dir = exe.parent().expect("the running binary has a directory");
    let candidates = [dir.join("keywarden"), dir.parent().map(|d| d.join("keywarden")).unwrap_or_default()];
    candidates.into_iter().find(|bin| bin.is_file()).unwrap_or_else(|| {
        panic!(
            "no keywarden binary beside {}: build it with `cargo build --bin keywarden` (make test does)",
            exe.display()
        )
    })
}

/// The build's `target/` directory, for what tests leave to look at (screenshots).
pub fn target_dir() -> PathBuf {
    let bin = binary();
    bin.parent().and_then(|d| d.parent()).map(PathBuf::from).expect("target/<profile>/keywarden")
}

/// What one command did.
#[derive(Debug)]
pub struct CliRun {
    /// The exit code (`-1` when killed by a signal).
    pub code: i32,
    /// Everything on stdout.
    pub stdout: String,
    /// Everything on stderr.
    pub stderr: String,
    /// Wall time.
    pub elapsed: Duration,
}

impl CliRun {
    /// Both streams, for an assertion's message.
    pub fn output(&self) -> String {
        format!("exit {}\n--- stdout\n{}\n--- stderr\n{}", self.code, self.stdout, self.stderr)
    }
}

/// Runs `keywarden ARGS` with exactly `env` (plus `PATH`), and waits for it.
pub fn run(env: &BTreeMap<String, String>, args: &[&str]) -> CliRun {
    let started = Instant::now();
    let mut command = Command::new(binary());
    command
        .env_clear()
        .envs(env)
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = command.output().expect("run keywarden");
    CliRun {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        elapsed: started.elapsed(),
    }
}

/// A function environment for the CLI: without `RUST_LOG`, so the CLI logs what a person at
/// a terminal gets by default (warnings).
pub fn quiet(mut env: BTreeMap<String, String>) -> BTreeMap<String, String> {
    env.remove("RUST_LOG");
    env
}
