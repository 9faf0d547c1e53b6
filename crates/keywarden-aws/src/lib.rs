//! keywarden's AWS adapter: the IAM collector behind the core's [`Directory`] port.
//!
//! Everything that talks to IAM and STS lives here, so the core never sees an SDK type and
//! the checks can be tested without a network. Edge cases of the API (paging, throttling,
//! `ReportInProgress`, `NoSuchEntity`) are tested against `aws-smithy-mocks`; the whole
//! path runs against a local moto server in the end-to-end tests.
//!
//! [`Directory`]: keywarden_core::ports::Directory

pub mod collector;
pub mod counter;
pub mod crash;
pub mod error;
pub mod rotator;
pub mod store;

pub use collector::{CollectorOptions, IamDirectory};
pub use counter::ApiCallCounter;
pub use error::AwsError;
pub use rotator::IamRotator;
pub use store::S3ReportStore;

/// Builds the IAM and STS clients from a loaded SDK config, each with the call counter.
pub fn clients(
    sdk_config: &aws_config::SdkConfig,
    counter: &ApiCallCounter,
) -> (aws_sdk_iam::Client, aws_sdk_sts::Client) {
    let iam = aws_sdk_iam::config::Builder::from(sdk_config).interceptor(counter.clone()).build();
    let sts = aws_sdk_sts::config::Builder::from(sdk_config).interceptor(counter.clone()).build();
    (aws_sdk_iam::Client::from_conf(iam), aws_sdk_sts::Client::from_conf(sts))
}
