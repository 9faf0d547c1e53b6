//! Errors of the AWS adapter, keeping the AWS error code.
//!
//! The code is what an operator acts on (`AccessDenied` means fix the role, `Throttling`
//! means try later), so it is kept as data rather than buried in a message string, and it
//! travels into the report as [`ReadFailure::code`].

use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use keywarden_core::model::error_chain;
use keywarden_core::ports::StepError;
use keywarden_core::ReadFailure;
use thiserror::Error;

/// Why an AWS call failed, in the terms an operator acts on: who refused (AWS, the network,
/// keywarden itself), which operation, and AWS's code.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AwsError {
    /// AWS answered with an error code.
    #[error("{operation} failed: {code}: {message}")]
    Service {
        /// The call, as `service:Operation`.
        operation: &'static str,
        /// AWS's error code, what an operator acts on.
        code: String,
        /// AWS's own words.
        message: String,
    },
    /// No answer: connection refused, timeout, DNS, credentials could not be loaded.
    #[error("{operation} failed: {message}")]
    Transport {
        /// The call, as `service:Operation`.
        operation: &'static str,
        /// Each cause once (see [`error_chain`]).
        message: String,
    },
    /// IAM did not finish the credential report within the configured wait.
    #[error("{operation} failed: credential report still not ready after {waited_secs}s")]
    ReportTimeout {
        /// The call last made: generating the report, or fetching it.
        operation: &'static str,
        /// How long it was waited for, to compare with the configured wait.
        waited_secs: u64,
    },
    /// AWS answered but the answer is not what the API promises (missing field, bad CSV).
    #[error("{operation} returned a malformed response: {message}")]
    Malformed {
        /// The call, as `service:Operation`.
        operation: &'static str,
        /// What was missing or wrong.
        message: String,
    },
    /// keywarden would not make the call: it would put a user's key where it must not go.
    #[error("{operation} not attempted: {message}")]
    Refused {
        /// The call not made, as `service:Operation`.
        operation: &'static str,
        /// Why keywarden would not make it.
        message: String,
    },
}

/// What a failed call says about whether AWS acted on it, which decides whether a write that
/// is not idempotent may be tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// AWS answered with a client error (4xx): it did not act.
    Rejected,
    /// AWS refused for its request rate, before acting: safe to try again after a pause.
    Throttled,
    /// No usable answer (lost connection, timeout, a 5xx, an unreadable answer): AWS may
    /// have acted; only a fresh read can tell.
    Unknown,
}

/// Error codes AWS services use for throttling (the SDK's own list, for query-protocol IAM
/// and JSON-protocol Secrets Manager alike).
const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
];

impl Outcome {
    /// Judges an SDK error; callers decide from it whether a write may be tried again.
    pub fn of<E>(err: &SdkError<E, aws_smithy_runtime_api::client::orchestrator::HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata,
    {
        match err {
            SdkError::ServiceError(service) => {
                let code = service.err().code();
                let status = service.raw().status();
                if code.is_some_and(|c| THROTTLING_CODES.contains(&c)) {
                    Outcome::Throttled
                } else if code.is_none() || status.is_success() || status.is_server_error() {
                    // A 5xx, or an answer the SDK could not read (a success cut short parses
                    // as an error without a code): AWS may have acted.
                    Outcome::Unknown
                } else {
                    Outcome::Rejected
                }
            }
            // Never sent: the request could not even be built.
            SdkError::ConstructionFailure(_) => Outcome::Rejected,
            _ => Outcome::Unknown,
        }
    }
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

    /// The `service:Operation` that failed, which the report's error list is keyed by.
    pub fn operation(&self) -> &'static str {
        match self {
            AwsError::Service { operation, .. }
            | AwsError::Transport { operation, .. }
            | AwsError::ReportTimeout { operation, .. }
            | AwsError::Malformed { operation, .. }
            | AwsError::Refused { operation, .. } => operation,
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
            AwsError::Transport { message, .. }
            | AwsError::Malformed { message, .. }
            | AwsError::Refused { message, .. } => message.clone(),
            AwsError::ReportTimeout { waited_secs, .. } => {
                format!("credential report still not ready after {waited_secs}s")
            }
        };
        ReadFailure::new(e.operation(), e.code().map(str::to_string), message)
    }
}

impl From<AwsError> for StepError {
    /// A step that failed before any write of its own needed undoing.
    fn from(e: AwsError) -> Self {
        StepError::from(ReadFailure::from(e))
    }
}
