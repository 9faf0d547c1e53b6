//! `keywarden-crashable`: the function with the test-only crash points
//! (`KEYWARDEN_CRASH_AFTER_WRITE=N`), for the end-to-end crash tests. Built only with the
//! `crash-points` feature, which refuses release builds.

// As in `main.rs`: the invocation future nests the pipeline's stages deeply.
#![recursion_limit = "256"]

use lambda_runtime::Error;

#[tokio::main]
async fn main() -> Result<(), Error> {
    keywarden_lambda::serve().await
}
