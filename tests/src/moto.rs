//! A moto server (the local AWS) on 127.0.0.1, on a free port, under libfaketime so the test
//! can move its clock: create a key "100 days ago", use it "60 days ago", audit "now".

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

use crate::process::Supervised;
use crate::{find_in_path, free_port};

/// How long moto may take to answer its first request (Python start-up, imports).
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// A running moto server. Stopped (by its pid) when dropped.
#[derive(Debug)]
pub struct Moto {
    port: u16,
    clock_file: PathBuf,
    // Field order matters: the process is stopped before its directory is removed.
    process: Supervised,
    dir: TempDir,
}

impl Moto {
    /// Starts moto on a free port with the clock at the real time (`+0`), and waits until it
    /// answers. Panics (the test fails, never skips) when moto_server or libfaketime is missing.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Like [`Moto::start`], with AWS-managed policies (`AdministratorAccess`, …) loaded, as
    /// moto leaves them out unless told (`MOTO_IAM_LOAD_MANAGED_POLICIES`); loading them
    /// costs about half a second on the first IAM call, so only the tests that attach one
    /// ask for it.
    pub fn start_with_managed_policies() -> Self {
        Self::start_with(&[("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")])
    }

    fn start_with(extra_env: &[(&str, &str)]) -> Self {
        let moto_server = find_in_path("moto_server").expect(
            "moto_server not found in PATH: run the tests through `make test` (which creates the \
             venv and puts it first in PATH), or `make venv && PATH=$PWD/.venv/bin:$PATH`",
        );
        let faketime = libfaketime().expect(
            "libfaketime not found: install it with `apt-get install -y faketime` \
             (or set KEYWARDEN_LIBFAKETIME to the path of libfaketime.so.1)",
        );
        let dir = tempfile::Builder::new().prefix("keywarden-moto-").tempdir().expect("create a temp dir");
        let clock_file = dir.path().join("faketime");
        write_clock(&clock_file, "+0");

        let mut last_error = String::new();
        // A free port can be taken by someone else between our probe and moto's bind: retry.
        for _attempt in 0..3 {
            let port = free_port();
            let mut cmd = Command::new(&moto_server);
            cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .envs(faketime_env(&faketime, &clock_file))
                .env("PYTHONUNBUFFERED", "1")
                .envs(extra_env.iter().copied())
                .current_dir(dir.path());
            let log = dir.path().join(format!("moto-{port}.log"));
            let mut process = Supervised::spawn("moto", &cmd, &log);
            match wait_ready(port, &mut process) {
                Ok(()) => return Moto { port, clock_file, process, dir },
                Err(e) => {
                    last_error = format!("{e}\n{}", process.log_tail(3000));
                    process.stop(Duration::from_secs(2));
                }
            }
        }
        panic!("moto did not start: {last_error}");
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:<port>`, for `AWS_ENDPOINT_URL`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Moves moto's clock: `"-100d"`, `"-60d"`, `"+0"` (libfaketime's relative format: a sign,
    /// a number and an optional unit s, m, h, d or y). Takes effect for the next request.
    pub fn set_clock(&self, offset: &str) {
        assert!(
            offset.starts_with(['+', '-']) && offset.len() > 1,
            "clock offset must look like -100d or +0, not {offset:?}"
        );
        write_clock(&self.clock_file, offset);
    }

    /// The libfaketime timestamp file moto's clock follows; a function started with
    /// [`crate::Watch::start_in_step`] follows the same file, so both clocks move together.
    pub fn clock_file(&self) -> &Path {
        &self.clock_file
    }

    /// moto's whole internal state (`/moto-api/data.json`): every model instance of every
    /// service, by service and model name. It holds secrets (IAM keys, Secrets Manager
    /// values): read it, never print it.
    pub fn data(&self) -> Value {
        let (status, body) = http_get(self.port, "/moto-api/data.json")
            .unwrap_or_else(|e| panic!("GET /moto-api/data.json from moto: {e}"));
        assert_eq!(status, 200, "GET /moto-api/data.json answered {status}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("moto's data.json is not JSON: {e}"))
    }

    /// Every access key moto ever issued, deleted ones included (moto keeps each model
    /// instance it created), with its secret: `(user, access key id, secret)`.
    pub fn issued_keys(&self) -> Vec<(String, String, String)> {
        let data = self.data();
        let keys = data["iam"]["AccessKey"].as_array().cloned().unwrap_or_default();
        keys.iter()
            .filter_map(|k| {
                Some((
                    k["user_name"].as_str().unwrap_or_default().to_string(),
                    k["access_key_id"].as_str()?.to_string(),
                    k["secret_access_key"].as_str()?.to_string(),
                ))
            })
            .collect()
    }

    /// The messages published to SNS topics, as moto recorded them (`sent_notifications` of
    /// every topic in the `sns` section of data.json: id, message, subject, attributes).
    pub fn sns_messages(&self) -> Vec<Value> {
        let data = self.data();
        let topics = data["sns"]["Topic"].as_array().cloned().unwrap_or_default();
        topics.iter().flat_map(|t| t["sent_notifications"].as_array().cloned().unwrap_or_default()).collect()
    }

    /// The whole `sns` section of data.json as text (topics, subscriptions, platform
    /// endpoints and every message they recorded), for scanning.
    pub fn sns_text(&self) -> String {
        self.data()["sns"].to_string()
    }

    /// The directory that holds the clock file and moto's log.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// moto's output so far (its tail), for failure messages.
    pub fn log_tail(&self) -> String {
        self.process.log_tail(4000)
    }

    /// GET a moto path (e.g. `/moto-api/data.json`) and return the body.
    pub fn get(&self, path: &str) -> std::io::Result<String> {
        http_get(self.port, path).map(|(_, body)| body)
    }
}

/// Writes the clock file atomically, so moto never reads half a value.
fn write_clock(path: &Path, offset: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, format!("{offset}\n")).expect("write the faketime file");
    std::fs::rename(&tmp, path).expect("replace the faketime file");
}

fn wait_ready(port: u16, process: &mut Supervised) -> Result<(), String> {
    let start = Instant::now();
    loop {
        if let Ok((200, _)) = http_get(port, "/moto-api/") {
            return Ok(());
        }
        if let Some(status) = process.exited() {
            return Err(format!("moto_server exited ({status}) before answering on port {port}"));
        }
        if start.elapsed() > READY_TIMEOUT {
            return Err(format!("moto_server did not answer on port {port} within {READY_TIMEOUT:?}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A minimal HTTP/1.0 GET on 127.0.0.1 (no HTTP client dependency for a readiness probe).
pub(crate) fn http_get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n")?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let text = String::from_utf8_lossy(&response);
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Ok((status, body))
}

/// The environment that runs a program under libfaketime with its wall clock at the offset
/// written in `clock_file`:
/// - `FAKETIME_NO_CACHE=1`: re-read the file on every clock call, so a new offset takes effect
///   at once, in a process that is already running;
/// - `NO_FAKE_STAT=1`: file times stay real (only the wall clock moves);
/// - `FAKETIME_DONT_FAKE_MONOTONIC=1`: sleeps, timeouts and retries keep working while the
///   wall clock jumps by days.
pub fn faketime_env(libfaketime: &Path, clock_file: &Path) -> Vec<(&'static str, String)> {
    vec![
        ("LD_PRELOAD", libfaketime.display().to_string()),
        ("FAKETIME_TIMESTAMP_FILE", clock_file.display().to_string()),
        ("FAKETIME_NO_CACHE", "1".into()),
        ("NO_FAKE_STAT", "1".into()),
        ("FAKETIME_DONT_RESET", "1".into()),
        ("FAKETIME_DONT_FAKE_MONOTONIC", "1".into()),
    ]
}

/// libfaketime's shared object: `KEYWARDEN_LIBFAKETIME`, else where Debian's `libfaketime`
/// package puts it for this machine's architecture.
pub fn libfaketime() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("KEYWARDEN_LIBFAKETIME") {
        let p = PathBuf::from(p);
        return p.is_file().then_some(p);
    }
    let mut candidates: Vec<PathBuf> = Vec::new();
    for base in ["/usr/lib", "/usr/local/lib", "/usr/lib64"] {
        candidates.push(Path::new(base).join("faketime/libfaketime.so.1"));
        if let Ok(entries) = std::fs::read_dir(base) {
            for entry in entries.flatten() {
                candidates.push(entry.path().join("faketime/libfaketime.so.1"));
            }
        }
    }
    candidates.into_iter().find(|p| p.is_file())
}
