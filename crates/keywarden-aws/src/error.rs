//! Errors of the AWS adapter, keeping the AWS error code.
//!
//! The code is what an operator acts on (`AccessDenied` means fix the role, `Throttling`
//! means try later), so it is kept as data rather than buried in a message string, and it
//! travels into the report as [`ReadFailure::code`].

use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use keywarden_core::model::error_chain;
use keywarden_core::ReadFailure;
use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AwsError {
    /// AWS answered with an error code.
    #[error("{operation} failed: {code}: {message}")]
    Service { operation: &'static str, code: String, message: String },
    /// No answer: connection refused, timeout, DNS, credentials could not be loaded.
    #[error("{operation} failed: {message}")]
    Transport { operation: &'static str, message: String },
    /// IAM did not finish the credential report within the configured wait.
    #[error("{operation} failed: credential report still not ready after {waited_secs}s")]
    ReportTimeout { operation: &'static str, waited_secs: u64 },
    /// AWS answered but the answer is not what the API promises (missing field, bad CSV).
    #[error("{operation} returned a malformed response: {message}")]
    Malformed { operation: &'static str, message: String },
}

impl AwsError {
    /// Maps any SDK error, keeping the service's error code when there is one.
    pub fn from_sdk<E, R>(operation: &'static str, err: &SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        match err {
            SdkError::ServiceError(service) => {
                let e = service.err();
                AwsError::Service {
                    operation,
                    code: e.code().unwrap_or("Unknown").to_string(),
                    message: e.message().unwrap_or("no message").to_string(),
                }
            }
            other => AwsError::Transport { operation, message: error_chain(other) },
        }
    }

    pub fn operation(&self) -> &'static str {
        match self {
            AwsError::Service { operation, .. }
            | AwsError::Transport { operation, .. }
            | AwsError::ReportTimeout { operation, .. }
            | AwsError::Malformed { operation, .. } => operation,
        }
    }

    /// The AWS error code, if AWS sent one.
    pub fn code(&self) -> Option<&str> {
        match self {
            AwsError::Service { code, .. } => Some(code),
            _ => None,
        }
    }
}

impl From<AwsError> for ReadFailure {
    fn from(e: AwsError) -> Self {
        let message = match &e {
            AwsError::Service { message, .. } => message.clone(),
            AwsError::Transport { message, .. } | AwsError::Malformed { message, .. } => message.clone(),
            AwsError::ReportTimeout { waited_secs, .. } => {
                format!("credential report still not ready after {waited_secs}s")
            }
        };
        ReadFailure::new(e.operation(), e.code().map(str::to_string), message)
    }
}
