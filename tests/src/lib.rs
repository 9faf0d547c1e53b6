//! The end-to-end harness for keywarden: a local AWS (moto, under libfaketime so tests can
//! move its clock), the real `keywarden` binary run by `cargo lambda watch` and invoked with
//! `cargo lambda invoke`, helpers that seed IAM through the real SDK and read back what the
//! function changed (IAM, Secrets Manager, STS), and a scanner that proves the function's
//! output holds no secret access key.
//!
//! Everything it starts runs on 127.0.0.1 on ports picked at random, so tests run in
//! parallel, and is stopped by pid when its guard is dropped. Missing tools (moto_server,
//! cargo-lambda, libfaketime) make a test fail with the command that installs them: an
//! end-to-end suite that silently skips is a suite that silently passes.

pub mod cli;
pub mod inspect;
pub mod invariants;
pub mod lambda;
pub mod moto;
pub mod organization;
pub mod process;
pub mod proxy;
pub mod report;
pub mod scan;
pub mod scenario;
pub mod seed;

use std::net::TcpListener;
use std::path::{Path, PathBuf};

pub use lambda::{function_env, Invocation, Watch};
pub use moto::Moto;
pub use seed::Aws;

/// The workspace root (the parent of this crate), where `events/` and `Cargo.toml` live.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate lives inside the workspace")
        .to_path_buf()
}

/// A port that was free a moment ago on 127.0.0.1 (the OS picks it).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local address of a bound socket").port()
}

/// A port on 127.0.0.1 that refuses connections: bound, then closed.
pub fn closed_port() -> u16 {
    free_port()
}

/// The first executable called `name` in PATH.
pub fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata().map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false)
}
