//! A moto server (the local AWS) on 127.0.0.1, on a free port, under libfaketime so the test
//! can move its clock: create a key "100 days ago", use it "60 days ago", audit "now".

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

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
                .env("LD_PRELOAD", &faketime)
                .env("FAKETIME_TIMESTAMP_FILE", &clock_file)
                // Re-read the file on every clock call, so `set_clock` takes effect at once.
                .env("FAKETIME_NO_CACHE", "1")
                // File times stay real; only the wall clock moves.
                .env("NO_FAKE_STAT", "1")
                .env("FAKETIME_DONT_RESET", "1")
                // Sleeps and timeouts inside moto keep working while the wall clock jumps.
                .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
                .env("PYTHONUNBUFFERED", "1")
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
