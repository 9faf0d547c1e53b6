//! Background processes the harness starts (moto, `cargo lambda watch`) and must stop again,
//! even when a test panics or the test process itself is killed.
//!
//! Each one is started under a small `sh` supervisor, in a process group of its own:
//! - the supervisor runs the program in the background, and a reader on the supervisor's
//!   standard input sends the program SIGTERM when that input closes. The write end of the
//!   pipe belongs to this process, so when the test process ends for any reason (a panic,
//!   nextest's timeout, SIGKILL) the pipe closes and the program is stopped: nothing is
//!   left running after a killed test;
//! - on [`Drop`] we close that pipe ourselves, give the program a moment to exit cleanly,
//!   then SIGKILL what is left of the group. The group id is the supervisor's pid, so only
//!   processes this harness started are ever signalled.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use std::os::unix::process::CommandExt;

/// Runs `"$@"` with its standard input from /dev/null; a reader on our standard input (fd 3)
/// sends it SIGTERM when that closes. The supervisor exits with the program's status.
const SUPERVISOR: &str = r#"exec 3<&0
"$@" </dev/null 3<&- &
child=$!
( read -r _ignored <&3 || true; kill -TERM "$child" 2>/dev/null ) &
reader=$!
exec 3<&-
wait "$child"
status=$?
kill "$reader" 2>/dev/null
exit "$status"
"#;

/// A program started by the harness, with its output in a log file.
#[derive(Debug)]
pub struct Supervised {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    log: PathBuf,
    /// Set once the supervisor has been reaped; after that its pid (= our group id) may be
    /// reused, so the group is never signalled again.
    status: Option<std::process::ExitStatus>,
}

impl Supervised {
    /// Starts `command` (its program, args, env and cwd are kept) under the supervisor,
    /// writing its standard output and error to `log`.
    pub fn spawn(name: &str, command: &Command, log: &Path) -> Self {
        let out = File::create(log).unwrap_or_else(|e| panic!("cannot create log {}: {e}", log.display()));
        let err = out.try_clone().expect("duplicate the log file handle");
        let mut sh = Command::new("sh");
        sh.arg("-c").arg(SUPERVISOR).arg(format!("{name}-supervisor"));
        sh.arg(command.get_program()).args(command.get_args());
        for (key, value) in command.get_envs() {
            match value {
                Some(value) => sh.env(key, value),
                None => sh.env_remove(key),
            };
        }
        if let Some(dir) = command.get_current_dir() {
            sh.current_dir(dir);
        }
        sh.stdin(Stdio::piped()).stdout(Stdio::from(out)).stderr(Stdio::from(err)).process_group(0);
        let mut child =
            sh.spawn().unwrap_or_else(|e| panic!("cannot start {name} ({:?}): {e}", command.get_program()));
        let stdin = child.stdin.take();
        Supervised { name: name.to_string(), child, stdin, log: log.to_path_buf(), status: None }
    }

    /// The process group (= the supervisor's pid) of everything this started.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the program has exited (then the supervisor has too).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status
    }

    /// The last `max` bytes of the program's output, for failure messages.
    pub fn log_tail(&self, max: usize) -> String {
        let mut text = String::new();
        if let Ok(mut f) = File::open(&self.log) {
            let mut bytes = Vec::new();
            let _ = f.read_to_end(&mut bytes);
            let start = bytes.len().saturating_sub(max);
            text = String::from_utf8_lossy(&bytes[start..]).into_owned();
        }
        format!("---- last output of {} ({}) ----\n{text}\n---- end ----", self.name, self.log.display())
    }

    /// Everything the program wrote so far.
    pub fn log(&self) -> String {
        let bytes = std::fs::read(&self.log).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Stops the program: EOF to the supervisor (which sends SIGTERM), then SIGKILL to the
    /// whole process group after `grace`.
    pub fn stop(&mut self, grace: Duration) {
        drop(self.stdin.take());
        if self.status.is_some() {
            return;
        }
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline && !finished(self.pid()) {
            std::thread::sleep(Duration::from_millis(50));
        }
        // The supervisor is not reaped yet (at most a zombie), so its pid, our group id,
        // cannot have been reused: what the group still holds was started by us.
        signal_group(self.pid(), "KILL");
        let _ = self.child.kill();
        self.status = self.child.wait().ok();
    }
}

/// Whether process `pid` has exited (a zombie waiting to be reaped, or gone).
fn finished(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => true,
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.log_tail(6000));
        }
        self.stop(Duration::from_secs(5));
    }
}

/// Sends `signal` to process group `pgid` through the shell's `kill` builtin (no `unsafe`
/// libc call, no dependency on procps being installed).
fn signal_group(pgid: u32, signal: &str) {
    let _ = Command::new("sh")
        .arg("-c")
        .arg(format!("kill -{signal} -- -{pgid} 2>/dev/null"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}
