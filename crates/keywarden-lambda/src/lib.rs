//! The `keywarden` Lambda function: event parsing, configuration and wiring.
//!
//! The binary's `main` reads the configuration, builds the AWS clients once per cold start
//! and hands events to [`app::App::handle`], or in Organizations mode to
//! [`app::OrgApp::handle`]. All behaviour lives in the library so it is tested without a
//! Lambda runtime.

#![warn(missing_docs)]

pub mod app;
pub mod cli;
pub mod error;
pub mod event;

use std::time::{Duration, Instant, SystemTime};

use chrono::Utc;
use keywarden_aws::{
    ApiCallCounter, AwsOrganization, CollectorOptions, IamDirectory, IamRotator, S3ReportStore,
};
use keywarden_core::Config;
use keywarden_sns::SnsNotifier;
use lambda_runtime::{run, service_fn, LambdaEvent};
use serde_json::value::RawValue;
use serde_json::Value;

use crate::app::Remaining;
use crate::error::HandlerError;

/// The function as wired: one account, or an organization.
#[derive(Debug)]
pub enum Function {
    /// `ORGANIZATION=false`: the account the function runs in.
    Account(Box<app::App<IamDirectory, IamRotator, SnsNotifier, S3ReportStore>>),
    /// `ORGANIZATION=true`: the organization's selected accounts.
    Organization(Box<app::OrgApp<AwsOrganization, SnsNotifier, S3ReportStore>>),
}

impl Function {
    /// Handles one event with whichever app is wired.
    pub async fn handle(
        &self,
        event: Value,
        run_id: &str,
        now: chrono::DateTime<Utc>,
        remaining: Remaining<'_>,
    ) -> Result<Box<RawValue>, HandlerError> {
        match self {
            Function::Account(app) => app.handle(event, run_id, now, remaining).await,
            Function::Organization(app) => app.handle(event, run_id, now, remaining).await,
        }
    }
}

/// The binary's entry: the Lambda function when a Lambda runtime started it (it sets
/// `AWS_LAMBDA_RUNTIME_API`), else the command line.
pub async fn entry() -> std::process::ExitCode {
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_none() {
        return cli::main().await;
    }
    match serve().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The function: tracing, configuration, clients once per cold start, then one
/// [`app::App::handle`] per event.
pub async fn serve() -> Result<(), lambda_runtime::Error> {
    let init = Instant::now();
    lambda_runtime::tracing::init_default_subscriber();
    match Config::from_lookup(|name| std::env::var(name).ok()) {
        Ok(config) => {
            let app = wire(config, &sdk_config(None, None).await).await;
            // The cold-start cost of keywarden itself (configuration, SDK clients), which
            // Lambda bills as Init Duration: `make bench` reads it from this line.
            tracing::info!(init_ms = init.elapsed().as_secs_f64() * 1000.0, "initialised");
            let app = &app;
            run(service_fn(move |event: LambdaEvent<Value>| async move {
                let remaining = remaining_time(event.context.deadline());
                let started = Instant::now();
                let handled =
                    app.handle(event.payload, &event.context.request_id, Utc::now(), &remaining).await;
                // The function's own duration (what Lambda bills), apart from the runtime's
                // transfer of the answer: `make bench` sets it against moto's own time.
                tracing::info!(
                    elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
                    ok = handled.is_ok(),
                    "invocation handled"
                );
                handled
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

/// The SDK's environment: the standard credential chain (a profile, SSO, the environment,
/// the function's role), the region and `AWS_ENDPOINT_URL`. `profile` and `region` are the
/// command line's overrides.
pub async fn sdk_config(profile: Option<&str>, region: Option<&str>) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        // SNS keeps these; the other clients get keywarden_aws::retry's policy.
        .retry_config(keywarden_aws::retry::retry_config());
    if let Some(profile) = profile {
        loader = loader.profile_name(profile);
    }
    if let Some(region) = region {
        loader = loader.region(aws_config::Region::new(region.to_string()));
    }
    loader.load().await
}

/// Builds the production ports from a validated configuration and the SDK's environment.
pub async fn wire(config: Config, sdk: &aws_config::SdkConfig) -> Function {
    let sdk = sdk.clone();
    let counter = ApiCallCounter::new();
    let notifier = config.topic_arn.as_ref().map(|topic| {
        let sns = aws_sdk_sns::config::Builder::from(&sdk).interceptor(counter.clone()).build();
        SnsNotifier::new(aws_sdk_sns::Client::from_conf(sns), topic.clone())
    });
    let options = CollectorOptions::new(Duration::from_secs(config.credential_report_max_wait_secs));
    if let Some(org) = config.organization.clone() {
        let s3 = keywarden_aws::clients(&sdk, &counter).s3;
        let store = config.report_bucket.as_ref().map(|bucket| S3ReportStore::new(s3, bucket.clone()));
        let organization = AwsOrganization::new(
            sdk,
            counter,
            org,
            options,
            config.secret_kms_key_id.clone(),
            config.role_arn.clone(),
        );
        return Function::Organization(Box::new(app::OrgApp { config, organization, store, notifier }));
    }
    let keywarden_aws::Clients { iam, sts, secrets, s3, securityhub } =
        keywarden_aws::clients(&sdk, &counter);
    let sink = config.security_hub.then(|| keywarden_aws::SecurityHubSink::new(securityhub));
    let directory = IamDirectory::new(iam.clone(), sts.clone(), counter.clone(), options);
    let rotator = IamRotator::new(
        iam,
        secrets,
        sts,
        config.secret_kms_key_id.clone(),
        config.role_arn.clone(),
        counter.clone(),
    );
    let store = config.report_bucket.as_ref().map(|bucket| S3ReportStore::new(s3, bucket.clone()));
    Function::Account(Box::new(app::App { config, directory, rotator, notifier, store, sink }))
}

/// Lambda's longest invocation.
const MAX_INVOCATION: Duration = Duration::from_secs(15 * 60);

/// The invocation's time left, measured on the monotonic clock from its deadline as the
/// runtime gave it. A deadline that looks past or more than 15 minutes away means the wall
/// clocks disagree (a skewed clock, or a faked one in tests): then the budget is Lambda's
/// maximum from now, which the real runtime enforces anyway.
pub fn remaining_time(deadline: SystemTime) -> impl Fn() -> Option<Duration> + Sync {
    let started = Instant::now();
    let budget = match deadline.duration_since(SystemTime::now()) {
        Ok(left) if left <= MAX_INVOCATION => left,
        _ => {
            tracing::warn!("the invocation deadline is implausible on this clock; assuming 15 minutes");
            MAX_INVOCATION
        }
    };
    tracing::debug!(budget_secs = budget.as_secs(), "invocation time budget");
    move || Some(budget.saturating_sub(started.elapsed()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plausible_deadline_is_kept_and_an_implausible_one_becomes_the_maximum() {
        let soon = remaining_time(SystemTime::now() + Duration::from_secs(30))().unwrap_or_default();
        assert!(soon <= Duration::from_secs(30) && soon > Duration::from_secs(25), "{soon:?}");
        for implausible in
            [SystemTime::now() - Duration::from_secs(5), SystemTime::now() + Duration::from_secs(86_400)]
        {
            let left = remaining_time(implausible)().unwrap_or_default();
            assert!(left > Duration::from_secs(14 * 60) && left <= MAX_INVOCATION, "{left:?}");
        }
    }
}
