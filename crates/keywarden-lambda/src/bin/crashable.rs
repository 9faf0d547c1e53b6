//! `keywarden-crashable`: the function with the test-only crash points
//! (`KEYWARDEN_CRASH_AFTER_WRITE=N`), for the end-to-end crash tests. Built only with the
//! `crash-points` feature, which refuses release builds.

use lambda_runtime::Error;

#[tokio::main]
async fn main() -> Result<(), Error> {
    keywarden_lambda::serve().await
}
