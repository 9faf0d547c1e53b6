//! One invocation, start to finish: parse the event, decide what the run may do, run the
//! account pipeline ([`account`]) once, or once per member account ([`organization`]), then
//! report and notify.
//!
//! Generic over the core's ports so the whole flow is unit-tested with in-memory fakes;
//! `main` only wires the AWS adapters in.

pub mod account;
pub mod organization;

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use keywarden_core::ports::{Directory, FindingSink, Notifier, ReportStore, Rotator};
use keywarden_core::report::RotationAction;
use keywarden_core::{Config, ReadFailure, Report, RotationMode};
use serde_json::value::RawValue;
use serde_json::Value;
use tracing::{info, warn};

pub use account::{Pipeline, RunPlan};
pub use organization::OrgApp;

use crate::error::HandlerError;
use crate::event::{self, Request, RunAction, Trigger};

/// The target of the events that say how far a run is: a terminal's progress bar follows
/// them (`done` and `total` when the work is countable), the Lambda's logs show them as any
/// other event.
pub const PROGRESS: &str = "keywarden::progress";

/// How much of the invocation is left, asked before each user's rotation step; `None` when
/// no deadline is known. A function rather than a number so the loop sees time pass.
pub type Remaining<'a> = &'a (dyn Fn() -> Option<Duration> + Sync);

/// What a single-account run needs: configuration and the ports.
#[derive(Debug)]
pub struct App<D, R, N, S, K = keywarden_aws::SecurityHubSink> {
    /// Validated once at cold start; a run never re-reads the environment.
    pub config: Config,
    /// Where the inventory comes from: IAM in production, a mock in tests.
    pub directory: D,
    /// What reads and changes keys; only called for rotation candidates.
    pub rotator: R,
    /// `None` when no report bucket is configured.
    pub store: Option<S>,
    /// `None` when no topic is configured.
    pub notifier: Option<N>,
    /// The account's Security Hub; `None` unless `SECURITY_HUB=true`.
    pub sink: Option<K>,
}

impl<D: Directory, R: Rotator, N: Notifier, S: ReportStore, K: FindingSink> App<D, R, N, S, K> {
    /// Handles one event; `run_id` is the Lambda request id, so logs and report correlate.
    pub async fn handle(
        &self,
        event: Value,
        run_id: &str,
        now: DateTime<Utc>,
        remaining: Remaining<'_>,
    ) -> Result<Box<RawValue>, HandlerError> {
        let request = match event::parse_event(event)? {
            event::Event::Run(request) => request,
            event::Event::FanOut(_) => {
                return Err(HandlerError::BadRequest(
                    "fan-out events are for an organization run; this function has ORGANIZATION=false".into(),
                ))
            }
        };
        let mut report = self.run(&request, run_id, now, remaining).await?;
        let json = report
            .to_json_capped(self.config.report_max_bytes)
            .map_err(|e| HandlerError::Internal(e.to_string()))?;
        if report.findings_omitted > 0 {
            warn!(
                omitted = report.findings_omitted,
                "report exceeded REPORT_MAX_BYTES; least severe findings left out"
            );
        }
        RawValue::from_string(json).map_err(|e| HandlerError::Internal(e.to_string()))
    }

    /// One run: decide → the account pipeline (collect → evaluate → enrich → plan and act →
    /// report → archive) → notify. This only orders the stages.
    pub async fn run(
        &self,
        request: &Request,
        run_id: &str,
        now: DateTime<Utc>,
        remaining: Remaining<'_>,
    ) -> Result<Report, HandlerError> {
        let rotation_mode = rotation_mode(&self.config, request)?;
        let (notify, warnings) = notify_decision(&self.config, self.notifier.is_some(), request)?;
        let plan = RunPlan { request, run_id, rotation_mode, now, warnings };
        let pipeline = Pipeline {
            config: &self.config,
            directory: &self.directory,
            rotator: &self.rotator,
            store: self.store.as_ref(),
            sink: self.sink.as_ref(),
        };
        // The clients live as long as the warm process; count only this invocation's calls.
        let mut report = pipeline.run(&plan, remaining, self.directory.api_calls()).await?;
        if let (true, Some(notifier)) = (notify, &self.notifier) {
            notify_account(&self.config, notifier, &mut report).await;
        }
        Ok(report)
    }
}

/// Whether this run alerts, and the warning a scheduled run with no topic earns. An
/// explicit `notify: true` with no topic is refused rather than silently dropped.
pub(crate) fn notify_decision(
    config: &Config,
    has_notifier: bool,
    request: &Request,
) -> Result<(bool, Vec<String>), HandlerError> {
    let mut warnings = Vec::new();
    let notify = match (request.notify, &request.trigger) {
        (Some(true), _) if !has_notifier => {
            return Err(HandlerError::BadRequest("`notify` is true but TOPIC_ARN is not set".into()))
        }
        (Some(n), _) => n,
        (None, Trigger::OnDemand) => false,
        (None, Trigger::Scheduled) if !config.notify_scheduled => false,
        (None, Trigger::Scheduled) => {
            if !has_notifier {
                warnings.push("TOPIC_ARN is not set: this scheduled run alerted nobody".to_string());
            }
            has_notifier
        }
    };
    Ok((notify, warnings))
}

/// What this run may do to keys: scheduled runs follow `ROTATION_MODE`; an on-demand
/// rotation is a dry run unless it says `"dry_run": false` and the function is in
/// enforce mode. An explicit request the configuration forbids is refused, not downgraded.
pub(crate) fn rotation_mode(
    config: &Config,
    request: &Request,
) -> Result<Option<RotationMode>, HandlerError> {
    let configured = config.rotation_mode;
    match (&request.trigger, request.action) {
        (Trigger::Scheduled, _) => Ok((configured != RotationMode::Off).then_some(configured)),
        (Trigger::OnDemand, RunAction::Audit) => Ok(None),
        (Trigger::OnDemand, RunAction::Rotate) => match (configured, request.dry_run) {
            (RotationMode::Off, _) => {
                Err(HandlerError::BadRequest("rotation is disabled (ROTATION_MODE=off)".into()))
            }
            (_, true) => Ok(Some(RotationMode::DryRun)),
            (RotationMode::Enforce, false) => Ok(Some(RotationMode::Enforce)),
            (RotationMode::DryRun, false) => Err(HandlerError::BadRequest(
                "`dry_run: false` needs ROTATION_MODE=enforce; this function only plans rotations".into(),
            )),
        },
    }
}

/// The digest, then the account's rotation events. A failed publish is an error in the
/// report, never a silent gap.
async fn notify_account<N: Notifier>(config: &Config, notifier: &N, report: &mut Report) {
    let clean = report.summary.findings == 0 && report.errors.is_empty() && report.actions.is_empty();
    if clean && !config.notify_clean_runs {
        info!("nothing to report and NOTIFY_CLEAN_RUNS=false: no digest");
        return;
    }
    match notifier.publish(report).await {
        Ok(id) => info!(message_id = %id, "summary published"),
        Err(e) => {
            warn!(error = %e, "could not publish the summary");
            report.errors.push(ReadFailure::new("sns:Publish", e.code.clone(), e.message.clone()));
        }
    }
    let account = report.run.account_id.clone();
    let failures = publish_rotation_events(notifier, &account, &report.actions).await;
    report.errors.extend(failures);
}

/// One event per rotation step worth an alert of its own; the failures to publish them.
pub(crate) async fn publish_rotation_events<N: Notifier>(
    notifier: &N,
    account_id: &str,
    actions: &[RotationAction],
) -> Vec<ReadFailure> {
    let mut failures = Vec::new();
    for action in actions.iter().filter(|a| a.worth_an_alert()) {
        if let Err(e) = notifier.publish_rotation(account_id, action).await {
            warn!(error = %e, user = %action.user, "could not publish a rotation event");
            failures.push(ReadFailure::new("sns:Publish", e.code.clone(), e.message.clone()));
        }
    }
    failures
}

/// `now` minus `before`, by operation: a warm function's counters live across invocations.
pub(crate) fn calls_since(
    now: &BTreeMap<String, u64>,
    before: &BTreeMap<String, u64>,
) -> BTreeMap<String, u64> {
    let mut calls = now.clone();
    for (op, n) in before {
        if let Some(total) = calls.get_mut(op) {
            *total -= (*n).min(*total);
        }
    }
    calls.retain(|_, n| *n > 0);
    calls
}
