//! The real Lambda path: `cargo lambda watch` runs the `keywarden` binary behind a local
//! Lambda runtime API, and `cargo lambda invoke --data-file` sends it an event.
//!
//! How the function gets its configuration: `cargo lambda watch` starts the function with
//! `cargo run --bin keywarden` as a child process that inherits watch's own environment, plus
//! the variables of `--env-var K=V` / `--env-file FILE` (and the `AWS_LAMBDA_*` variables of
//! the emulated runtime). We write each watch a complete environment file and strip the
//! AWS variables of the test process from watch's own environment, so a developer's
//! `AWS_PROFILE` or real credentials can never reach a test run.

use std::collections::BTreeMap;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

use crate::process::Supervised;
use crate::{find_in_path, free_port, workspace_root};

/// How long watch may take to listen (it does not compile until the first invoke).
const LISTEN_TIMEOUT: Duration = Duration::from_secs(60);

/// The function's environment for a given AWS endpoint: fake credentials, a region, and no
/// way to reach real AWS (no profile files, no instance metadata).
pub fn function_env(endpoint: &str) -> BTreeMap<String, String> {
    [
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_CONFIG_FILE", "/dev/null"),
        ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("RUST_LOG", "info"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// A running `cargo lambda watch`. Stopped (its process group) when dropped.
#[derive(Debug)]
pub struct Watch {
    port: u16,
    process: Supervised,
    dir: TempDir,
}

/// What one `cargo lambda invoke` did.
#[derive(Debug)]
pub struct Invocation {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Invocation {
    /// The response parsed as JSON; panics with the output when it is not.
    pub fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim()).unwrap_or_else(|e| {
            panic!("invoke output is not JSON ({e}):\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr)
        })
    }

    /// The report of a successful invocation.
    pub fn report(&self) -> Value {
        assert!(
            self.success,
            "cargo lambda invoke failed:\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self.json()
    }

    /// Everything the invocation printed.
    pub fn output(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    /// What the invocation printed as one line of words: `cargo lambda invoke` wraps error
    /// messages in a box (`×`, `│`) at the terminal width, which would split phrases.
    pub fn output_words(&self) -> String {
        self.output()
            .split_whitespace()
            .filter(|w| !matches!(*w, "│" | "×" | "╰─▶" | "├─▶"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl Watch {
    /// Starts `cargo lambda watch` from the workspace root on a free port, with `env` as the
    /// function's environment (see [`function_env`]).
    pub fn start(env: &BTreeMap<String, String>) -> Self {
        let cargo_lambda = cargo_lambda();
        build_function();
        let dir = tempfile::Builder::new().prefix("keywarden-watch-").tempdir().expect("create a temp dir");
        let env_file = dir.path().join("function.env");
        let text: String = env.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
        std::fs::write(&env_file, text).expect("write the function env file");

        let mut last_error = String::new();
        for _attempt in 0..3 {
            let port = free_port();
            let mut cmd = Command::new(&cargo_lambda);
            cmd.args(["lambda", "watch", "--invoke-address", "127.0.0.1", "--invoke-port"])
                .arg(port.to_string())
                // The tests and the demo write files in the tree; never rebuild mid-run.
                .arg("--ignore-changes")
                .arg("--env-file")
                .arg(&env_file)
                .current_dir(workspace_root());
            scrub(&mut cmd);
            let log = dir.path().join(format!("watch-{port}.log"));
            let mut process = Supervised::spawn("cargo lambda watch", &cmd, &log);
            match wait_listening(port, &mut process) {
                Ok(()) => return Watch { port, process, dir },
                Err(e) => {
                    last_error = format!("{e}\n{}", process.log_tail(3000));
                    process.stop(Duration::from_secs(2));
                }
            }
        }
        panic!("cargo lambda watch did not start: {last_error}");
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The function's (and watch's) output so far, for failure messages.
    pub fn log_tail(&self) -> String {
        self.process.log_tail(6000)
    }

    /// Invokes the `keywarden` function with the event in `data_file` (relative paths are
    /// relative to the workspace root), through `cargo lambda invoke`.
    pub fn invoke(&self, data_file: &Path) -> Invocation {
        let data_file =
            if data_file.is_absolute() { data_file.to_path_buf() } else { workspace_root().join(data_file) };
        assert!(data_file.is_file(), "event file {} does not exist", data_file.display());
        let start = Instant::now();
        let mut cmd = Command::new(cargo_lambda());
        cmd.args(["lambda", "invoke", "keywarden", "--invoke-address", "127.0.0.1", "--invoke-port"])
            .arg(self.port.to_string())
            .arg("--data-file")
            .arg(&data_file)
            .args(["--output-format", "json"])
            .current_dir(workspace_root())
            .stdin(Stdio::null());
        scrub(&mut cmd);
        let Output { status, stdout, stderr } =
            cmd.output().expect("run `cargo lambda invoke` (is cargo-lambda in PATH?)");
        Invocation {
            success: status.success(),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
            elapsed: start.elapsed(),
        }
    }

    /// Invokes with an event given inline; the event is written to a file first, as
    /// `cargo lambda invoke --data-file` is the path users take.
    pub fn invoke_json(&self, event: &Value) -> Invocation {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = self.dir.path().join(format!("event-{}.json", NEXT.fetch_add(1, Ordering::Relaxed)));
        std::fs::write(&path, serde_json::to_vec(event).expect("serialize the event")).expect("write event");
        self.invoke(&path)
    }
}

/// Builds the function the way watch will run it (`cargo run --manifest-path Cargo.toml
/// --bin keywarden` from the workspace root), so that a compile error fails the test with
/// the compiler's message, and the first invocation does not wait for a build. A no-op
/// when the binary is up to date.
pub fn build_function() {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--manifest-path", "Cargo.toml", "--bin", "keywarden"])
        .current_dir(workspace_root())
        .stdin(Stdio::null());
    scrub(&mut cmd);
    let out = cmd.output().expect("run cargo build for the keywarden binary");
    assert!(
        out.status.success(),
        "the keywarden binary does not build:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Removes from `cmd`'s environment what must not reach the function (every `AWS_*`
/// setting of the developer, a preloaded faketime) or the `cargo run` that watch starts
/// (the `CARGO_PKG_*`, `CARGO_MANIFEST_*`, … variables cargo and nextest set for this test
/// process). Build scripts such as ring's
/// `rerun-if-env-changed` on them, so leaving them in would make every `cargo run` inside
/// a test rebuild ring and everything above it, and the next `cargo build` rebuild it back.
fn scrub(cmd: &mut Command) {
    const KEEP: &[&str] = &[
        "CARGO_HOME",
        "CARGO_TARGET_DIR",
        "CARGO_INCREMENTAL",
        "CARGO_TERM_",
        "CARGO_BUILD_",
        "CARGO_NET_",
        "CARGO_HTTP_",
        "CARGO_REGISTRIES_",
        "CARGO_REGISTRY_",
        "CARGO_PROFILE_",
    ];
    for (key, _) in std::env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        let cargo_set = key.starts_with("CARGO_") && !KEEP.iter().any(|k| key.starts_with(k));
        let ours = key.starts_with("AWS_") || key.starts_with("FAKETIME") || key == "LD_PRELOAD";
        let test_runner = key == "OUT_DIR" || key.starts_with("NEXTEST") || key.starts_with("__NEXTEST");
        if ours || cargo_set || test_runner {
            cmd.env_remove(key);
        }
    }
}

/// The `cargo-lambda` executable from PATH (installed by `make venv`).
pub fn cargo_lambda() -> PathBuf {
    find_in_path("cargo-lambda").expect(
        "cargo-lambda not found in PATH: run the tests through `make test` (which creates the venv \
         with `pip install cargo-lambda` and puts it first in PATH)",
    )
}

fn wait_listening(port: u16, process: &mut Supervised) -> Result<(), String> {
    let start = Instant::now();
    loop {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        if let Some(status) = process.exited() {
            return Err(format!("cargo lambda watch exited ({status}) before listening on port {port}"));
        }
        if start.elapsed() > LISTEN_TIMEOUT {
            return Err(format!(
                "cargo lambda watch did not listen on port {port} within {LISTEN_TIMEOUT:?}"
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The path of a file in the workspace, e.g. `events/audit.json`.
pub fn event(path: &str) -> PathBuf {
    workspace_root().join(path)
}
