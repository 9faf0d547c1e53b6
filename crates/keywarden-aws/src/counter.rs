//! Counts the API calls the SDK clients make, per `service:Operation`.
//!
//! The design ("Collection" in `docs/ARCHITECTURE.md`) promises that a run's API calls stay O(1) in the number of users, apart from
//! paging and the users that need action; the count in every report is how that promise is
//! checked in production and in benchmarks. It is an SDK interceptor, so no call site can
//! forget to count, and it counts attempts (retries included) because that is what IAM's
//! rate limits see.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// A shared tally; clone it into every client's config and read it at the end of the run.
#[derive(Debug, Clone, Default)]
pub struct ApiCallCounter {
    calls: Arc<Mutex<BTreeMap<String, u64>>>,
}

impl ApiCallCounter {
    /// An empty tally; one per run, shared by all clients.
    pub fn new() -> Self {
        Self::default()
    }

    /// The calls so far, keyed like `iam:GetCredentialReport`.
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        match self.calls.lock() {
            Ok(calls) => calls.clone(),
            // A panic elsewhere while holding the lock cannot corrupt a map of counters.
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// All calls so far, for the log line that shows a run's cost at a glance.
    pub fn total(&self) -> u64 {
        self.snapshot().values().sum()
    }

    fn record(&self, key: String) {
        let mut calls = match self.calls.lock() {
            Ok(calls) => calls,
            Err(poisoned) => poisoned.into_inner(),
        };
        *calls.entry(key).or_default() += 1;
    }
}

impl Intercept for ApiCallCounter {
    fn name(&self) -> &'static str {
        "keywarden::ApiCallCounter"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let key = match cfg.load::<Metadata>() {
            // `Secrets Manager` → `secretsmanager`, as in IAM policy actions.
            Some(m) => format!("{}:{}", m.service().to_ascii_lowercase().replace(' ', ""), m.name()),
            None => "unknown:unknown".to_string(),
        };
        self.record(key);
        Ok(())
    }
}
