//! How keywarden's AWS clients retry.
//!
//! The SDK's standard classifiers retry throttling, 5xx, timeouts, I/O errors and the
//! connection errors its HTTP client recognises (a connection closed before the answer
//! arrived is `Other(TransientError)`, `tests/retry.rs` drives one over a real socket). Any
//! connector error it does not recognise is `Other(None)`, logged as "unrecognized error from
//! Hyper", and not retried: the audit would then report a read error for a fault a second
//! attempt cures. [`LostConnectionIsTransient`] retries those too.
//!
//! Retrying a request whose answer was lost is only safe when sending it twice does what
//! sending it once does. Every request these clients make is: reads trivially, and the
//! rotation's writes by construction (status updates and tags set a value, deletes of a
//! missing key count as done, secret values carry a client request token, `CreateSecret`
//! answering `ResourceExists` is re-read and judged). The one that is not, `CreateAccessKey`,
//! runs with retries disabled (see the rotator), so no classifier ever sees it twice.
//! SNS `Publish` is not given this classifier: a second alert is noise, not safety.

use std::time::Duration;

use aws_smithy_runtime_api::client::interceptors::context::InterceptorContext;
use aws_smithy_runtime_api::client::retries::classifiers::{
    ClassifyRetry, RetryAction, RetryClassifierPriority,
};
use aws_smithy_types::retry::RetryConfig;

/// Attempts per request, the first included. IAM throttles per account (a few requests per
/// second for some operations); eight attempts with backoff capped at 20 s ride out a burst
/// of a minute or more, which a scheduled audit can afford and a failed one cannot.
pub const MAX_ATTEMPTS: u32 = 8;

/// The longest wait between two attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(20);

/// The SDK retry configuration of every keywarden client: the standard strategy (exponential
/// backoff with jitter and the retry quota), tuned for IAM's throttling.
pub fn retry_config() -> RetryConfig {
    RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS).with_max_backoff(MAX_BACKOFF)
}

/// Classifies a connection lost before the answer arrived as a transient error.
///
/// It runs after the SDK's own classifiers and only fills their silence: a connector error
/// they left unclassified, that is not a "user" error (a request that could not be built or
/// sent at all, which a retry would repeat), is retried like an I/O error.
#[derive(Debug, Default, Clone, Copy)]
pub struct LostConnectionIsTransient;

impl ClassifyRetry for LostConnectionIsTransient {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        let Some(Err(error)) = ctx.output_or_error() else {
            return RetryAction::NoActionIndicated;
        };
        match error.as_connector_error() {
            Some(c) if !c.is_user() && c.as_other().is_none() => RetryAction::transient_error(),
            _ => RetryAction::NoActionIndicated,
        }
    }

    fn classify_retry_v2(&self, ctx: &InterceptorContext, previous: &RetryAction) -> RetryAction {
        // Never overrule a verdict an earlier classifier reached.
        match previous {
            RetryAction::NoActionIndicated => self.classify_retry(ctx),
            _ => RetryAction::NoActionIndicated,
        }
    }

    fn name(&self) -> &'static str {
        "keywarden: lost connection is transient"
    }

    fn priority(&self) -> RetryClassifierPriority {
        RetryClassifierPriority::run_after(RetryClassifierPriority::transient_error_classifier())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_runtime_api::client::interceptors::context::{Input, InterceptorContext};
    use aws_smithy_runtime_api::client::orchestrator::OrchestratorError;
    use aws_smithy_runtime_api::client::result::ConnectorError;
    use aws_smithy_types::retry::ErrorKind;

    fn failed_with(error: ConnectorError) -> InterceptorContext {
        let mut ctx = InterceptorContext::new(Input::doesnt_matter());
        ctx.set_output_or_error(Err(OrchestratorError::connector(error)));
        ctx
    }

    #[test]
    fn a_closed_connection_is_transient_and_a_user_error_is_not() {
        let c = LostConnectionIsTransient;
        let closed =
            failed_with(ConnectorError::other("connection closed before message completed".into(), None));
        assert_eq!(
            c.classify_retry_v2(&closed, &RetryAction::NoActionIndicated),
            RetryAction::transient_error()
        );
        let user = failed_with(ConnectorError::user("invalid URI".into()));
        assert_eq!(
            c.classify_retry_v2(&user, &RetryAction::NoActionIndicated),
            RetryAction::NoActionIndicated
        );
        // A kind the SDK already judged is left to the SDK.
        let kinded = failed_with(ConnectorError::other("x".into(), Some(ErrorKind::ClientError)));
        assert_eq!(
            c.classify_retry_v2(&kinded, &RetryAction::NoActionIndicated),
            RetryAction::NoActionIndicated
        );
    }

    #[test]
    fn an_earlier_verdict_is_never_overruled() {
        let closed = failed_with(ConnectorError::other("closed".into(), None));
        for previous in [RetryAction::RetryForbidden, RetryAction::throttling_error()] {
            assert_eq!(
                LostConnectionIsTransient.classify_retry_v2(&closed, &previous),
                RetryAction::NoActionIndicated
            );
        }
    }
}
