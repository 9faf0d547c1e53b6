//! The `keywarden` binary: configuration, clients, run. Nothing else belongs here.

use chrono::Utc;
use keywarden_core::Config;
use keywarden_lambda::error::HandlerError;
use keywarden_lambda::wire;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    match Config::from_lookup(|name| std::env::var(name).ok()) {
        Ok(config) => {
            let app = wire(config).await;
            let app = &app;
            run(service_fn(move |event: LambdaEvent<Value>| async move {
                app.handle(event.payload, &event.context.request_id, Utc::now()).await
            }))
            .await
        }
        // Stay up and fail every invocation with the reason, so whoever invokes the
        // function sees which variable to fix instead of a bare init crash.
        Err(config_error) => {
            tracing::error!(error = %config_error, "invalid configuration");
            let config_error = &config_error;
            run(service_fn(move |_: LambdaEvent<Value>| async move {
                Err::<Value, HandlerError>(HandlerError::Config(config_error.clone()))
            }))
            .await
        }
    }
}
