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
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

use crate::moto::{faketime_env, libfaketime, Moto};
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
    /// The function (binary) the watch runs and `invoke` calls.
    function: &'static str,
    process: Supervised,
    dir: TempDir,
    /// Everything every invocation printed (and the events it sent), in order, so a test can
    /// scan all the function's output at the end (see [`crate::scan`]).
    transcript: Mutex<Vec<String>>,
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
    /// function's environment (see [`function_env`]). The function runs on the real clock.
    pub fn start(env: &BTreeMap<String, String>) -> Self {
        Self::start_with_clock(env, None)
    }

    /// Like [`Watch::start`], but the function's wall clock follows `moto`'s: both run under
    /// libfaketime reading the same timestamp file, so `moto.set_clock("+8d")` moves the
    /// function's `now` by eight days too, in the running process, at once.
    pub fn start_in_step(env: &BTreeMap<String, String>, moto: &Moto) -> Self {
        Self::start_with_clock(env, Some(moto.clock_file()))
    }

    /// Like [`Watch::start_in_step`], running `keywarden-crashable`: the same function built
    /// with the test-only `crash-points` feature, which dies right after its N-th rotation
    /// write when `KEYWARDEN_CRASH_AFTER_WRITE=N` is in `env`. A separate binary, so the
    /// feature never changes the `keywarden` binary other tests run at the same time.
    pub fn start_crashable_in_step(env: &BTreeMap<String, String>, moto: &Moto) -> Self {
        Self::start_function(CRASHABLE, env, Some(moto.clock_file()))
    }

    /// Like [`Watch::start`], running the release build (`cargo lambda watch --release`):
    /// what `make bench` measures.
    pub fn start_release(env: &BTreeMap<String, String>) -> Self {
        Self::start_function(RELEASE, env, None)
    }

    fn start_with_clock(env: &BTreeMap<String, String>, clock_file: Option<&Path>) -> Self {
        Self::start_function(FUNCTION, env, clock_file)
    }

    fn start_function(
        function: &'static Function,
        env: &BTreeMap<String, String>,
        clock_file: Option<&Path>,
    ) -> Self {
        let cargo_lambda = cargo_lambda();
        build(function);
        let dir = tempfile::Builder::new().prefix("keywarden-watch-").tempdir().expect("create a temp dir");
        let env_file = dir.path().join("function.env");
        let mut env = env.clone();
        if let Some(clock_file) = clock_file {
            let (key, runner) = faketime_runner(clock_file);
            env.insert(key, runner);
        }
        // Single quotes keep a value literal in the dotenv format (JSON such as DESIRED_STATE
        // has double quotes and braces); a value cannot contain one itself.
        let text: String = env
            .iter()
            .map(|(k, v)| {
                assert!(
                    !v.contains('\'') && !v.contains('\n'),
                    "{k}: a single quote or newline cannot be passed"
                );
                format!("{k}='{v}'\n")
            })
            .collect();
        std::fs::write(&env_file, text).expect("write the function env file");

        let mut last_error = String::new();
        for _attempt in 0..3 {
            let port = free_port();
            let mut cmd = Command::new(&cargo_lambda);
            cmd.args(["lambda", "watch", "--invoke-address", "127.0.0.1", "--invoke-port"])
                .arg(port.to_string())
                .args(["--bin", function.bin])
                .args(function.features.iter().flat_map(|f| ["--features", f]))
                .args(function.release.then_some("--release"))
                // The tests and the demo write files in the tree; never rebuild mid-run.
                .arg("--ignore-changes")
                .arg("--env-file")
                .arg(&env_file)
                .current_dir(workspace_root());
            scrub(&mut cmd);
            let log = dir.path().join(format!("watch-{port}.log"));
            let mut process = Supervised::spawn("cargo lambda watch", &cmd, &log);
            match wait_listening(port, &mut process) {
                Ok(()) => {
                    return Watch {
                        port,
                        function: function.bin,
                        process,
                        dir,
                        transcript: Mutex::new(Vec::new()),
                    }
                }
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

    /// The pid of the function process watch started, once it runs: watch starts it at the
    /// first invocation, through `cargo run`. Found as a descendant of watch by name, because
    /// whether the function shares watch's process group depends on the cargo-lambda version.
    pub fn function_pid(&self) -> Option<u32> {
        let watch = self.process.pid();
        let comm: String = self.function.chars().take(15).collect();
        // pid -> (comm, ppid) for every process, read once so the ancestry walk is consistent.
        let table: std::collections::HashMap<u32, (String, u32)> = std::fs::read_dir("/proc")
            .ok()?
            .flatten()
            .filter_map(|entry| {
                let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
                let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
                // `pid (comm) state ppid ...`: comm may hold spaces, so split after its `)`.
                let (head, rest) = stat.rsplit_once(") ")?;
                let name = head.split_once(" (")?.1.to_string();
                let ppid = rest.split_whitespace().nth(1)?.parse().ok()?;
                Some((pid, (name, ppid)))
            })
            .collect();
        let descends_from_watch = |mut pid: u32| {
            for _ in 0..64 {
                match table.get(&pid) {
                    Some((_, ppid)) if *ppid == watch => return true,
                    Some((_, ppid)) if *ppid > 1 => pid = *ppid,
                    _ => return false,
                }
            }
            false
        };
        table.iter().find_map(|(pid, (name, _))| (*name == comm && descends_from_watch(*pid)).then_some(*pid))
    }

    /// The function's (and watch's) output so far, for failure messages.
    pub fn log_tail(&self) -> String {
        self.process.log_tail(6000)
    }

    /// Everything watch and the function wrote to their standard output and error so far.
    pub fn log(&self) -> String {
        self.process.log()
    }

    /// Every invocation so far: the event sent, and everything `cargo lambda invoke` printed
    /// (the response on stdout, errors on stderr).
    pub fn transcript(&self) -> Vec<String> {
        self.transcript.lock().map(|t| t.clone()).unwrap_or_else(|poisoned| poisoned.into_inner().clone())
    }

    /// Invokes the `keywarden` function with the event in `data_file` (relative paths are
    /// relative to the workspace root), through `cargo lambda invoke`.
    pub fn invoke(&self, data_file: &Path) -> Invocation {
        let data_file =
            if data_file.is_absolute() { data_file.to_path_buf() } else { workspace_root().join(data_file) };
        assert!(data_file.is_file(), "event file {} does not exist", data_file.display());
        let start = Instant::now();
        let mut cmd = Command::new(cargo_lambda());
        cmd.args(["lambda", "invoke", self.function, "--invoke-address", "127.0.0.1", "--invoke-port"])
            .arg(self.port.to_string())
            .arg("--data-file")
            .arg(&data_file)
            .args(["--output-format", "json"])
            .current_dir(workspace_root())
            .stdin(Stdio::null());
        scrub(&mut cmd);
        let Output { status, stdout, stderr } =
            cmd.output().expect("run `cargo lambda invoke` (is cargo-lambda in PATH?)");
        let invocation = Invocation {
            success: status.success(),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
            elapsed: start.elapsed(),
        };
        let event = std::fs::read_to_string(&data_file).unwrap_or_default();
        let entry = format!(
            "---- invoke {} ----\nevent: {event}\nstdout:\n{}\nstderr:\n{}\n",
            data_file.display(),
            invocation.stdout,
            invocation.stderr
        );
        match self.transcript.lock() {
            Ok(mut t) => t.push(entry),
            Err(poisoned) => poisoned.into_inner().push(entry),
        }
        invocation
    }

    /// Invokes a crashable function (see [`Watch::start_crashable_in_step`]) that is meant to
    /// die: `cargo lambda invoke` waits for an answer that never comes, so it is stopped once
    /// the function's log says it died at its crash point. Returns that log line, or panics
    /// when the invocation ends without a crash or no crash comes within a minute.
    pub fn invoke_expecting_crash(&self, data_file: &Path) -> String {
        const MARK: &str = "keywarden crash point: dying after rotation write";
        let before = self.log().matches(MARK).count();
        let mut cmd = Command::new(cargo_lambda());
        cmd.args(["lambda", "invoke", self.function, "--invoke-address", "127.0.0.1", "--invoke-port"])
            .arg(self.port.to_string())
            .arg("--data-file")
            .arg(data_file)
            .args(["--output-format", "json"])
            .current_dir(workspace_root())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        scrub(&mut cmd);
        let mut child = cmd.spawn().expect("run `cargo lambda invoke`");
        let start = Instant::now();
        let outcome = loop {
            let log = self.log();
            if log.matches(MARK).count() > before {
                let line = log.lines().rev().find(|l| l.contains(MARK)).unwrap_or(MARK).to_string();
                break Ok(line);
            }
            if let Ok(Some(status)) = child.try_wait() {
                break Err(format!("the invocation ended ({status}) without a crash:\n{}", self.log_tail()));
            }
            if start.elapsed() > Duration::from_secs(60) {
                break Err(format!("no crash within a minute:\n{}", self.log_tail()));
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        let _ = child.kill();
        let _ = child.wait();
        match self.transcript.lock() {
            Ok(mut t) => t.push(format!("---- invoke {} (crashed) ----", data_file.display())),
            Err(poisoned) => {
                poisoned.into_inner().push(format!("---- invoke {} (crashed) ----", data_file.display()))
            }
        }
        outcome.unwrap_or_else(|e| panic!("{e}"))
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
    build(FUNCTION)
}

/// A function binary the harness can run: its name and the cargo features it needs.
#[derive(Debug)]
struct Function {
    bin: &'static str,
    features: &'static [&'static str],
    release: bool,
}

const FUNCTION: &Function = &Function { bin: "keywarden", features: &[], release: false };
const RELEASE: &Function = &Function { bin: "keywarden", features: &[], release: true };
const CRASHABLE: &Function =
    &Function { bin: "keywarden-crashable", features: &["keywarden-lambda/crash-points"], release: false };

fn build(function: &Function) {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--manifest-path", "Cargo.toml", "--bin", function.bin])
        .args(function.features.iter().flat_map(|f| ["--features", f]))
        .args(function.release.then_some("--release"))
        .current_dir(workspace_root())
        .stdin(Stdio::null());
    scrub(&mut cmd);
    let out = cmd.output().expect("run cargo build for the keywarden binary");
    assert!(
        out.status.success(),
        "the {} binary does not build:\n{}",
        function.bin,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The cargo setting that runs the function binary under libfaketime with its clock in
/// `clock_file`: `CARGO_TARGET_<host triple>_RUNNER=env LD_PRELOAD=… FAKETIME_…=… `.
///
/// Why a runner and not `LD_PRELOAD` in the function's env file: watch starts the function
/// with `cargo run`, and the env file's variables reach that `cargo` (and any `rustc` it
/// starts) too. Under a faked clock, cargo would stamp its global cache tracker with days in
/// the future (or past) and any rebuild would run at a faked time. A target runner is the
/// one hook cargo offers that wraps only the final program: `cargo run` executes
/// `<runner> target/debug/keywarden`, so only the keywarden process (and nothing cargo
/// does) sees the faked clock. A runner is not part of cargo's fingerprint, so it never
/// causes a rebuild (`tests/harness.rs` checks both).
fn faketime_runner(clock_file: &Path) -> (String, String) {
    let lib = libfaketime().expect(
        "libfaketime not found: install it with `apt-get install -y faketime` \
         (or set KEYWARDEN_LIBFAKETIME to the path of libfaketime.so.1)",
    );
    let vars: Vec<String> = faketime_env(&lib, clock_file)
        .into_iter()
        .map(|(k, v)| {
            // cargo splits a runner given as a string at whitespace.
            assert!(!v.contains(char::is_whitespace), "{k}={v:?}: a runner path may not contain spaces");
            format!("{k}={v}")
        })
        .collect();
    let triple = host_triple().to_uppercase().replace(['-', '.'], "_");
    (format!("CARGO_TARGET_{triple}_RUNNER"), format!("env {}", vars.join(" ")))
}

/// The host target triple, as `rustc -vV` reports it (what `cargo run` builds for).
fn host_triple() -> String {
    static TRIPLE: OnceLock<String> = OnceLock::new();
    TRIPLE
        .get_or_init(|| {
            let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
            let out = Command::new(rustc)
                .arg("-vV")
                .current_dir(workspace_root())
                .stdin(Stdio::null())
                .output()
                .expect("run `rustc -vV`");
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.lines()
                .find_map(|l| l.strip_prefix("host: "))
                .map(|h| h.trim().to_string())
                .unwrap_or_else(|| panic!("`rustc -vV` printed no host triple:\n{text}"))
        })
        .clone()
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
