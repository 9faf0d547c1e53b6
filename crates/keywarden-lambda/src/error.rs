//! The errors an invocation can end with, mapped to Lambda diagnostics.
//!
//! Read failures are not here: they are part of the report (with `unknown` checks), because
//! a partial audit is still worth returning. These are the cases where nothing should run.

use keywarden_core::{ConfigError, ReadFailure};
use lambda_runtime::Diagnostic;
use thiserror::Error;

/// Why an invocation ended without a report. Each maps to its own Lambda `errorType`, so
/// an alarm or a caller can tell a bad event from a broken deployment.
#[derive(Debug, Error)]
pub enum HandlerError {
    /// The event is malformed or asks for something impossible; retrying will not help.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The function's environment is invalid; every invocation fails until it is fixed.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A run scoped to users IAM does not have: refused before anything is evaluated, so a
    /// typo never reads as "this user is compliant".
    #[error("unknown user(s): {}; nothing was done", .0.join(", "))]
    UnknownUsers(Vec<String>),
    /// A read or write the step cannot go on without (the organization's listing, the
    /// fan-out's kept state): the engine retries or stops, rather than the step guessing.
    #[error("{0}")]
    Read(ReadFailure),
    /// The report could not be turned into JSON: a bug, never the caller's fault.
    #[error("could not serialise the report: {0}")]
    Internal(String),
}

impl From<HandlerError> for Diagnostic {
    fn from(e: HandlerError) -> Self {
        let error_type = match &e {
            HandlerError::BadRequest(_) => "BadRequest",
            HandlerError::Config(_) => "ConfigError",
            HandlerError::UnknownUsers(_) => "UnknownUser",
            HandlerError::Read(_) => "ReadFailure",
            HandlerError::Internal(_) => "InternalError",
        };
        Diagnostic { error_type: error_type.into(), error_message: e.to_string() }
    }
}
