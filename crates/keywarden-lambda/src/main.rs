//! The `keywarden` binary: everything it does is in [`keywarden_lambda::serve`].

// The invocation future nests the pipeline's async stages deeply; its layout needs more
// than the default depth to compute.
#![recursion_limit = "256"]

use lambda_runtime::Error;

#[tokio::main]
async fn main() -> Result<(), Error> {
    keywarden_lambda::serve().await
}
