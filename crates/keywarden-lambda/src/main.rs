//! The `keywarden` binary: the Lambda function under a Lambda runtime, the command line
//! elsewhere; everything it does is in [`keywarden_lambda::entry`].

// The invocation future nests the pipeline's async stages deeply; its layout needs more
// than the default depth to compute.
#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> std::process::ExitCode {
    keywarden_lambda::entry().await
}
