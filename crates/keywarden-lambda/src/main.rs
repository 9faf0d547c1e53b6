//! The `keywarden` binary: everything it does is in [`keywarden_lambda::serve`].

use lambda_runtime::Error;

#[tokio::main]
async fn main() -> Result<(), Error> {
    keywarden_lambda::serve().await
}
