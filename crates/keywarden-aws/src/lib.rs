//! keywarden's AWS adapters: everything that talks to AWS, behind the core's ports, so the
//! core never sees an SDK type and its checks and planner are tested without a network.
//!
//! - [`collector`]: the IAM collector behind [`Directory`], reading an account's IAM state
//!   in a number of calls that does not grow with its users;
//! - [`rotator`]: the key rotator behind [`Rotator`], with IAM and Secrets Manager, built so
//!   that a lost answer or a crash after any write leaves a state the next run recovers;
//! - [`organization`]: the organization's accounts and the member roles behind
//!   [`Organization`];
//! - [`securityhub`]: findings imported into Security Hub behind [`FindingSink`];
//! - [`store`]: the S3 archive behind [`ReportStore`] and [`RunStore`];
//! - [`retry`]: the retry policy of every client, [`counter`]: the API call tally every report
//!   carries, [`crash`]: the test build's crash points;
//! - [`clients`]: the SDK clients, each wired with the retry policy and the counter.
//!
//! Edge cases of the API (paging, throttling, `ReportInProgress`, `NoSuchEntity`, lost
//! answers) are tested against `aws-smithy-mocks`; the whole path runs against a local moto
//! server in the end-to-end tests.
//!
//! [`Directory`]: keywarden_core::ports::Directory
//! [`Rotator`]: keywarden_core::ports::Rotator
//! [`ReportStore`]: keywarden_core::ports::ReportStore
//! [`Organization`]: keywarden_core::ports::Organization
//! [`RunStore`]: keywarden_core::ports::RunStore
//! [`FindingSink`]: keywarden_core::ports::FindingSink

#![warn(missing_docs)]

pub mod collector;
pub mod counter;
pub mod crash;
pub mod error;
pub mod organization;
pub mod retry;
pub mod rotator;
mod sdk;
pub mod securityhub;
pub mod store;

pub use collector::{CollectorOptions, IamDirectory};
pub use counter::ApiCallCounter;
pub use error::AwsError;
pub use organization::AwsOrganization;
pub use rotator::IamRotator;
pub use securityhub::SecurityHubSink;
pub use store::S3ReportStore;

/// The AWS clients keywarden talks to, each with the call counter and keywarden's retry
/// policy ([`retry`]).
#[derive(Debug, Clone)]
pub struct Clients {
    /// IAM: the audit's reads and the rotation's key and tag writes.
    pub iam: aws_sdk_iam::Client,
    /// STS: the account id and keywarden's own role, which need no permission.
    pub sts: aws_sdk_sts::Client,
    /// Secrets Manager: where a rotated key is handed to its owner.
    pub secrets: aws_sdk_secretsmanager::Client,
    /// S3: the report archive.
    pub s3: aws_sdk_s3::Client,
    /// Security Hub: where findings are imported, when `SECURITY_HUB=true`.
    pub securityhub: aws_sdk_securityhub::Client,
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
        securityhub: client!(aws_sdk_securityhub),
    }
}
