//! One invocation, start to finish: parse, collect, evaluate, enrich, plan and act, report,
//! archive, notify.
//!
//! Generic over the core's ports so the whole flow is unit-tested with in-memory fakes;
//! `main` only wires the AWS adapters in.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt};
use keywarden_core::checks::{
    apply_live, evaluate, rotation_exemption, Evaluation, RotationCoverage, RotationFinding, UserScope,
};
use keywarden_core::ports::{Directory, Notifier, ReportStore, Rotator};
use keywarden_core::report::{ActionStatus, Changes, RotationAction, RunInfo};
use keywarden_core::rotation::{self, SecretState, Step};
use keywarden_core::{Config, Inventory, ReadFailure, Report, RotationMode};
use serde_json::value::RawValue;
use serde_json::Value;
use tracing::{info, warn};

use crate::error::HandlerError;
use crate::event::{self, Request, RunAction, Trigger};

/// How much of the invocation is left, asked before each user's rotation step; `None` when
/// no deadline is known. A function rather than a number so the loop sees time pass.
pub type Remaining<'a> = &'a (dyn Fn() -> Option<Duration> + Sync);

/// What a run needs: configuration and the ports.
#[derive(Debug)]
pub struct App<D, R, N, S> {
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
}

impl<D: Directory, R: Rotator, N: Notifier, S: ReportStore> App<D, R, N, S> {
    /// Handles one event; `run_id` is the Lambda request id, so logs and report correlate.
    pub async fn handle(
        &self,
        event: Value,
        run_id: &str,
        now: DateTime<Utc>,
        remaining: Remaining<'_>,
    ) -> Result<Box<RawValue>, HandlerError> {
        let request = event::parse(event)?;
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

    /// One run, stage by stage: collect → evaluate → enrich → plan and act → report →
    /// archive → notify. Each stage is a core function or a port call; this only orders them.
    pub async fn run(
        &self,
        request: &Request,
        run_id: &str,
        now: DateTime<Utc>,
        remaining: Remaining<'_>,
    ) -> Result<Report, HandlerError> {
        let rotation_mode = self.rotation_mode(request)?;
        let (notify, warnings) = self.notify_decision(request)?;

        // The clients live as long as the warm process; count only this invocation's calls.
        let calls_before = self.directory.api_calls();
        let inventory = self.directory.collect().await;
        let scope = scope(&inventory, request)?;

        let mut evaluation = evaluate(&inventory, &self.config.audit, &scope, now);
        let mut errors = inventory.failures();
        self.enrich(&mut evaluation, &mut errors).await;
        evaluation.warnings.extend(warnings);

        let mut actions = Vec::new();
        if let Some(mode) = rotation_mode {
            actions =
                self.rotate(&inventory, request, mode, now, remaining, &mut evaluation, &mut errors).await;
        }

        let run = RunInfo {
            run_id: run_id.to_string(),
            account_id: inventory.account_id.clone().unwrap_or_else(|_| "unknown".into()),
            action: request.action,
            mode: rotation_mode.unwrap_or(RotationMode::Off),
            generated_at: now,
            data_as_of: inventory.credential_report.as_ref().ok().map(|r| r.generated_at),
        };
        let mut report = Report::build(run, evaluation, errors, self.calls_since(&calls_before));
        report.actions = actions;
        info!(
            account = %report.run.account_id,
            users = report.summary.users_scanned,
            findings = report.summary.findings,
            errors = report.errors.len(),
            api_calls = report.summary.api_calls_total,
            actions = report.actions.len(),
            "run finished"
        );

        self.archive(&mut report, request, &inventory).await;
        if notify {
            self.notify(&mut report).await;
        }
        Ok(report)
    }

    /// Whether this run alerts, and the warning a scheduled run with no topic earns. An
    /// explicit `notify: true` with no topic is refused rather than silently dropped.
    fn notify_decision(&self, request: &Request) -> Result<(bool, Vec<String>), HandlerError> {
        let mut warnings = Vec::new();
        let notify = match (request.notify, &request.trigger) {
            (Some(true), _) if self.notifier.is_none() => {
                return Err(HandlerError::BadRequest("`notify` is true but TOPIC_ARN is not set".into()))
            }
            (Some(n), _) => n,
            (None, Trigger::OnDemand) => false,
            (None, Trigger::Scheduled) if !self.config.notify_scheduled => false,
            (None, Trigger::Scheduled) => {
                if self.notifier.is_none() {
                    warnings.push("TOPIC_ARN is not set: this scheduled run alerted nobody".to_string());
                }
                self.notifier.is_some()
            }
        };
        Ok((notify, warnings))
    }

    /// The live reads the evaluation asks for, folded in; their failures become errors and
    /// leave the findings as the credential report had them.
    async fn enrich(&self, evaluation: &mut Evaluation, errors: &mut Vec<ReadFailure>) {
        let live_req = evaluation.live_request();
        if live_req.is_empty() {
            return;
        }
        let live = self.directory.live_details(&live_req).await;
        errors.extend(live.failures());
        apply_live(evaluation, &live);
    }

    /// The API calls this invocation made, by operation.
    fn calls_since(&self, before: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
        let mut api_calls = self.directory.api_calls();
        for (op, n) in before {
            if let Some(total) = api_calls.get_mut(op) {
                *total -= (*n).min(*total);
            }
        }
        api_calls.retain(|_, n| *n > 0);
        api_calls
    }

    /// Compares with the previous archived run and archives this one. Only full runs are
    /// evidence: a run scoped to some users would make everyone else look resolved.
    async fn archive(&self, report: &mut Report, request: &Request, inventory: &Inventory) {
        let (Some(store), None, Ok(account)) = (&self.store, &request.users, &inventory.account_id) else {
            return;
        };
        match store.previous(account).await {
            Ok(Some(previous)) => report.changes = Some(Changes::between(&previous, report)),
            Ok(None) => info!("no previous report archived; every finding counts as new next time"),
            Err(e) => {
                warn!(error = %e, "could not read the previous report");
                report.errors.push(e);
            }
        }
        match store.save(report).await {
            Ok(uri) => report.archive = Some(uri),
            Err(e) => {
                warn!(error = %e, "could not archive the report");
                report.errors.push(e);
            }
        }
    }

    /// The digest, then one event per rotation step worth an alert of its own. A failed
    /// publish is an error in the report, never a silent gap.
    async fn notify(&self, report: &mut Report) {
        let clean = report.summary.findings == 0 && report.errors.is_empty() && report.actions.is_empty();
        if clean && !self.config.notify_clean_runs {
            info!("nothing to report and NOTIFY_CLEAN_RUNS=false: no digest");
            return;
        }
        let Some(notifier) = &self.notifier else { return };
        match notifier.publish(report).await {
            Ok(id) => info!(message_id = %id, "summary published"),
            Err(e) => {
                warn!(error = %e, "could not publish the summary");
                report.errors.push(ReadFailure::new("sns:Publish", e.code.clone(), e.message.clone()));
            }
        }
        let events: Vec<RotationAction> =
            report.actions.iter().filter(|a| a.worth_an_alert()).cloned().collect();
        for action in events {
            if let Err(e) = notifier.publish_rotation(&report.run.account_id, &action).await {
                warn!(error = %e, user = %action.user, "could not publish a rotation event");
                report.errors.push(ReadFailure::new("sns:Publish", e.code.clone(), e.message.clone()));
            }
        }
    }

    /// What this run may do to keys: scheduled runs follow `ROTATION_MODE`; an on-demand
    /// rotation is a dry run unless it says `"dry_run": false` and the function is in
    /// enforce mode. An explicit request the configuration forbids is refused, not downgraded.
    fn rotation_mode(&self, request: &Request) -> Result<Option<RotationMode>, HandlerError> {
        let configured = self.config.rotation_mode;
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

    /// Reads each candidate live, plans its next step and, in enforce mode, carries it out.
    /// No new user is started once less than `DEADLINE_MARGIN_SECONDS` of the invocation is
    /// left: those are listed as deferred, and the next run carries on where this one stopped.
    #[allow(clippy::too_many_arguments)]
    async fn rotate(
        &self,
        inventory: &Inventory,
        request: &Request,
        mode: RotationMode,
        now: DateTime<Utc>,
        remaining: Remaining<'_>,
        evaluation: &mut Evaluation,
        errors: &mut Vec<ReadFailure>,
    ) -> Vec<RotationAction> {
        let mut mode = mode;
        if mode == RotationMode::Enforce && inventory.authorization.is_err() {
            // Group exemptions are unknown: changing keys could touch an exempt user.
            evaluation.warnings.push(
                "group memberships could not be read, so exemptions are unknown: rotation only planned"
                    .into(),
            );
            mode = RotationMode::DryRun;
        }
        let candidates = match &request.users {
            Some(users) => users.clone(),
            None => rotation::candidates(inventory, &self.config.rotation, now),
        };
        // One bulk listing of keywarden's secrets instead of a DescribeSecret per user; when it
        // fails, each user's secret is read on its own, as before.
        let listed = if candidates.is_empty() {
            None
        } else {
            match self.rotator.secrets().await {
                Ok(listed) => Some(listed),
                Err(e) => {
                    warn!(error = %e, "could not list keywarden's secrets; reading each user's");
                    None
                }
            }
        };
        let margin = Duration::from_secs(self.config.deadline_margin_secs);
        let outcomes: Vec<UserOutcome> = stream::iter(candidates)
            .map(|user| {
                let listed = listed.as_ref().map(|l| l.get(&user).cloned().unwrap_or_default());
                self.rotate_user(inventory, user, listed, mode, now, remaining, margin)
            })
            .buffered(self.config.rotation_concurrency.max(1))
            .collect()
            .await;
        let mut actions = Vec::new();
        let mut findings = Vec::new();
        for outcome in outcomes {
            findings.extend(outcome.finding);
            errors.extend(outcome.error);
            actions.extend(outcome.action);
        }
        let unread: Vec<String> = actions.iter().filter(|a| a.unread()).map(|a| a.user.clone()).collect();
        let coverage = if !unread.is_empty() {
            RotationCoverage::Unread(unread)
        } else if request.users.is_none() && inventory.credential_report.is_err() {
            RotationCoverage::CandidatesUnknown
        } else {
            RotationCoverage::Complete
        };
        evaluation.fold_rotation(findings, &coverage);
        actions
    }

    /// One user's rotation: the deadline check, the live read, the plan and, in enforce
    /// mode, the step. Users run a few at a time ([`Config::rotation_concurrency`]); each
    /// returns what it found instead of writing to the shared report.
    #[allow(clippy::too_many_arguments)]
    async fn rotate_user(
        &self,
        inventory: &Inventory,
        user: String,
        listed: Option<SecretState>,
        mode: RotationMode,
        now: DateTime<Utc>,
        remaining: Remaining<'_>,
        margin: Duration,
    ) -> UserOutcome {
        let mut out = UserOutcome::default();
        if let Some(left) = remaining().filter(|left| *left < margin) {
            out.action = Some(RotationAction::not_planned(
                &user,
                ActionStatus::Deferred,
                format!(
                    "not started: {}s of the invocation were left (DEADLINE_MARGIN_SECONDS={}); the next run carries on",
                    left.as_secs(),
                    margin.as_secs()
                ),
                None,
            ));
            return out;
        }
        let live = match self.rotator.read(&user, listed.as_ref()).await {
            Ok(live) => live,
            Err(e) => {
                // Said per user, so the report names whose rotation did not happen.
                warn!(user, error = %e, "could not read the user's keys; not rotating");
                out.action = Some(RotationAction::not_planned(
                    &user,
                    ActionStatus::Failed,
                    "the user's keys, tags or secret could not be read; nothing was planned or changed"
                        .into(),
                    Some(e.to_string()),
                ));
                out.error = Some(e);
                return out;
            }
        };
        let groups = inventory
            .authorization
            .as_ref()
            .ok()
            .and_then(|a| a.users.get(&user))
            .map(|u| u.groups.clone())
            .unwrap_or_default();
        let exempt = rotation_exemption(&live.tags, &groups, &self.config.audit);
        let plan = rotation::plan(&live.planner_input(exempt), &self.config.rotation, now);
        out.finding = RotationFinding::of(&user, &live.arn, &plan.step, &live.keys);
        if plan.step == Step::None {
            return out;
        }
        let mut action = RotationAction::planned(&user, &plan.step, &plan.reason, live.secret.arn());
        if !plan.step.writes() {
            action.status = ActionStatus::Noted;
        } else if mode == RotationMode::Enforce {
            match self.rotator.execute(&live, &plan.step, now).await {
                Ok(done) => {
                    action.status = ActionStatus::Done;
                    action.new_key_id = done.new_key_id.or(action.new_key_id);
                    action.secret_arn = done.secret_arn.or(action.secret_arn);
                }
                Err(e) => {
                    warn!(user, step = plan.step.name(), error = %e, "rotation step failed");
                    action.status = ActionStatus::Failed;
                    action.error = Some(e.to_string());
                    out.error = Some(e);
                }
            }
        }
        info!(user, step = %action.step, status = ?action.status, reason = %action.reason, "rotation");
        out.action = Some(action);
        out
    }
}

/// What one user's rotation produced, folded into the report after all users ran.
#[derive(Debug, Default)]
struct UserOutcome {
    action: Option<RotationAction>,
    /// A blocked or held rotation's finding.
    finding: Option<RotationFinding>,
    error: Option<ReadFailure>,
}

/// Which users the run judges. A run scoped to users that do not exist is refused before
/// anything is evaluated.
fn scope(inventory: &Inventory, request: &Request) -> Result<UserScope, HandlerError> {
    match &request.users {
        None => Ok(UserScope::All),
        Some(users) => {
            check_users_exist(inventory, users)?;
            Ok(UserScope::Only(users.clone()))
        }
    }
}

/// Refuses a run scoped to users that do not exist, before anything is evaluated. When the
/// user list itself could not be read, the run goes on and its report says so.
fn check_users_exist(
    inventory: &keywarden_core::Inventory,
    users: &BTreeSet<String>,
) -> Result<(), HandlerError> {
    // Both lists, because a user created after the credential report is only in the other.
    if inventory.credential_report.is_err() && inventory.authorization.is_err() {
        return Ok(());
    }
    let mut known: BTreeSet<&str> = BTreeSet::new();
    if let Ok(r) = &inventory.credential_report {
        known.extend(r.users.iter().map(|u| u.user.as_str()));
    }
    if let Ok(a) = &inventory.authorization {
        known.extend(a.users.keys().map(String::as_str));
    }
    let unknown: Vec<String> = users.iter().filter(|u| !known.contains(u.as_str())).cloned().collect();
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(HandlerError::UnknownUsers(unknown))
    }
}
