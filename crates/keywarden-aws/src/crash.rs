//! A test-only crash point: with the `crash-points` feature, `KEYWARDEN_CRASH_AFTER_WRITE=N`
//! makes the process die right after its N-th rotation write has been answered, with no
//! unwinding, no flushing and no cleanup (as a SIGKILL or Lambda's timeout would). The
//! end-to-end tests kill the function after each write in turn and prove the next run
//! recovers. Without the feature this is an empty type and the calls compile away; the
//! feature refuses to build in release mode, so it can never reach a deployed function.

#[cfg(all(feature = "crash-points", not(debug_assertions)))]
compile_error!("the crash-points feature is for test builds only; it must never be in a release build");

#[cfg(feature = "crash-points")]
mod imp {
    use std::sync::atomic::{AtomicU64, Ordering};

    /// The variable naming the write after which the process dies (1 = the first).
    pub const CRASH_AFTER_WRITE: &str = "KEYWARDEN_CRASH_AFTER_WRITE";

    /// Counts the rotation's writes and aborts after the configured one.
    #[derive(Debug, Default)]
    pub struct CrashPoint {
        after: Option<u64>,
        writes: AtomicU64,
    }

    impl CrashPoint {
        /// Reads the write to die after from the environment, once per rotator.
        pub fn from_env() -> Self {
            let after = std::env::var(CRASH_AFTER_WRITE).ok().and_then(|v| v.trim().parse().ok());
            Self { after, writes: AtomicU64::new(0) }
        }

        /// Called after every rotation write has its answer (or none); aborts on the N-th.
        pub fn after_write(&self, operation: &str) {
            let n = self.writes.fetch_add(1, Ordering::SeqCst) + 1;
            if self.after == Some(n) {
                eprintln!("keywarden crash point: dying after rotation write {n} ({operation})");
                std::process::abort();
            }
        }
    }
}

#[cfg(not(feature = "crash-points"))]
mod imp {
    /// Without the feature: nothing to count, so nothing is left of it in the binary.
    #[derive(Debug, Default)]
    pub struct CrashPoint;

    impl CrashPoint {
        /// The same constructor as the test build's, so call sites need no `cfg`.
        pub fn from_env() -> Self {
            CrashPoint
        }

        /// Compiles away.
        #[inline(always)]
        pub fn after_write(&self, _operation: &str) {}
    }
}

pub use imp::*;
