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
pub mod retry;
pub mod rotator;
pub mod store;

pub use collector::{CollectorOptions, IamDirectory};
pub use counter::ApiCallCounter;
pub use error::AwsError;
pub use rotator::IamRotator;
pub use store::S3ReportStore;

/// The AWS clients keywarden talks to, each with the call counter and keywarden's retry
/// policy ([`retry`]).
#[derive(Debug, Clone)]
pub struct Clients {
    pub iam: aws_sdk_iam::Client,
    pub sts: aws_sdk_sts::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub s3: aws_sdk_s3::Client,
}

/// Builds the clients from a loaded SDK config. Each service still honours its own
/// `AWS_ENDPOINT_URL_<SERVICE>`, like every SDK client.
pub fn clients(sdk_config: &aws_config::SdkConfig, counter: &ApiCallCounter) -> Clients {
    macro_rules! client {
        ($sdk:ident) => {{
            let conf = $sdk::config::Builder::from(sdk_config)
                .retry_config(retry::retry_config())
                .retry_classifier(retry::LostConnectionIsTransient)
                .interceptor(counter.clone())
                .build();
            $sdk::Client::from_conf(conf)
        }};
    }
    Clients {
        iam: client!(aws_sdk_iam),
        sts: client!(aws_sdk_sts),
        secrets: client!(aws_sdk_secretsmanager),
        s3: client!(aws_sdk_s3),
    }
}
