//! The `keywarden` Lambda function: event parsing, configuration and wiring.
//!
//! The binary's `main` reads the configuration, builds the AWS clients once per cold start
//! and hands events to [`app::App::handle`]. All behaviour lives in the library so it is
//! tested without a Lambda runtime.

pub mod app;
pub mod error;
pub mod event;

use std::time::Duration;

use keywarden_aws::{ApiCallCounter, CollectorOptions, IamDirectory, IamRotator, S3ReportStore};
use keywarden_core::Config;
use keywarden_sns::SnsNotifier;

/// Builds the production ports from a validated configuration and the SDK's environment
/// (region, credentials, `AWS_ENDPOINT_URL`).
pub async fn wire(config: Config) -> app::App<IamDirectory, IamRotator, SnsNotifier, S3ReportStore> {
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        // IAM throttles per account; a few more patient retries beat a failed audit.
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(5))
        .load()
        .await;
    let counter = ApiCallCounter::new();
    let (iam, sts) = keywarden_aws::clients(&sdk, &counter);
    let options = CollectorOptions {
        report_max_wait: Duration::from_secs(config.credential_report_max_wait_secs),
        ..CollectorOptions::default()
    };
    let directory = IamDirectory::new(iam.clone(), sts.clone(), counter.clone(), options);
    // Secrets Manager honours its own AWS_ENDPOINT_URL_SECRETS_MANAGER, like every SDK client.
    let secrets = aws_sdk_secretsmanager::config::Builder::from(&sdk).interceptor(counter.clone()).build();
    let rotator = IamRotator::new(
        iam,
        aws_sdk_secretsmanager::Client::from_conf(secrets),
        sts,
        config.secret_kms_key_id.clone(),
        config.role_arn.clone(),
        counter.clone(),
    );
    let notifier = config.topic_arn.as_ref().map(|topic| {
        let sns = aws_sdk_sns::config::Builder::from(&sdk).interceptor(counter.clone()).build();
        SnsNotifier::new(aws_sdk_sns::Client::from_conf(sns), topic.clone())
    });
    let store = config.report_bucket.as_ref().map(|bucket| {
        let s3 = aws_sdk_s3::config::Builder::from(&sdk).interceptor(counter.clone()).build();
        S3ReportStore::new(aws_sdk_s3::Client::from_conf(s3), bucket.clone())
    });
    app::App { config, directory, rotator, notifier, store }
}
