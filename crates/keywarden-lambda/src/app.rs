//! One invocation, start to finish: parse, collect, evaluate, enrich, report, notify.
//!
//! Generic over the core's ports so the whole flow is unit-tested with in-memory fakes;
//! `main` only wires the AWS adapters in.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt};
use keywarden_core::checks::{
    apply_live, evaluate, rotation_exemption, sort_findings, CheckStatus, Evaluation, UserScope,
};
use keywarden_core::ports::{Directory, Notifier, ReportStore, Rotator};
use keywarden_core::report::{Action as RotationAction, ActionStatus, Changes, RunInfo};
use keywarden_core::rotation::{self, HoldCause, SecretState, Step};
use keywarden_core::{CheckId, Config, Finding, Inventory, ReadFailure, Report, RotationMode};
use serde_json::value::RawValue;
use serde_json::Value;
use tracing::{info, warn};

use crate::error::HandlerError;
use crate::event::{self, Action, Request, Trigger};

/// How much of the invocation is left, asked before each user's rotation step; `None` when
/// no deadline is known. A function rather than a number so the loop sees time pass.
pub type Remaining<'a> = &'a (dyn Fn() -> Option<Duration> + Sync);

/// What a run needs: configuration and the ports.
#[derive(Debug)]
pub struct App<D, R, N, S> {
    pub config: Config,
    pub directory: D,
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

    pub async fn run(
        &self,
        request: &Request,
        run_id: &str,
        now: DateTime<Utc>,
        remaining: Remaining<'_>,
    ) -> Result<Report, HandlerError> {
        let rotation_mode = self.rotation_mode(request)?;
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

        // The clients live as long as the warm process; count only this invocation's calls.
        let calls_before = self.directory.api_calls();
        let inventory = self.directory.collect().await;
        let scope = match &request.users {
            None => UserScope::All,
            Some(users) => {
                check_users_exist(&inventory, users)?;
                UserScope::Only(users.clone())
            }
        };

        let mut evaluation = evaluate(&inventory, &self.config.audit, &scope, now);
        let live_req = evaluation.live_request();
        let mut errors: Vec<ReadFailure> = [
            inventory.account_id.as_ref().err(),
            inventory.credential_report.as_ref().err(),
            inventory.authorization.as_ref().err(),
            inventory.virtual_mfa_devices.as_ref().err(),
            inventory.account_summary.as_ref().err(),
            inventory.password_policy.as_ref().err(),
        ]
        .into_iter()
        .flatten()
        .cloned()
        .collect();
        if !live_req.is_empty() {
            let live = self.directory.live_details(&live_req).await;
            errors.extend(live.access_keys.values().filter_map(|r| r.as_ref().err()).cloned());
            errors.extend(live.login_profiles.values().filter_map(|r| r.as_ref().err()).cloned());
            apply_live(&mut evaluation, &live);
        }
        evaluation.warnings.extend(warnings);

        let mut actions = Vec::new();
        if let Some(mode) = rotation_mode {
            actions =
                self.rotate(&inventory, request, mode, now, remaining, &mut evaluation, &mut errors).await;
        }

        let run = RunInfo {
            run_id: run_id.to_string(),
            account_id: inventory.account_id.clone().unwrap_or_else(|_| "unknown".into()),
            action: request.action.as_str().to_string(),
            mode: rotation_mode.unwrap_or(RotationMode::Off),
            generated_at: now,
            data_as_of: inventory.credential_report.as_ref().ok().map(|r| r.generated_at),
        };
        let mut api_calls = self.directory.api_calls();
        for (op, n) in &calls_before {
            if let Some(total) = api_calls.get_mut(op) {
                *total -= (*n).min(*total);
            }
        }
        api_calls.retain(|_, n| *n > 0);
        let mut report = Report::build(run, evaluation, errors, api_calls);
        report.actions = actions;
        info!(
            account = %report.account_id,
            users = report.summary.users_scanned,
            findings = report.summary.findings,
            errors = report.errors.len(),
            api_calls = report.summary.api_calls_total,
            actions = report.actions.len(),
            "run finished"
        );

        // Only full runs are evidence: a run scoped to some users would make everyone else
        // look resolved.
        if let (Some(store), None, Ok(account)) = (&self.store, &request.users, &inventory.account_id) {
            match store.previous(account).await {
                Ok(Some(previous)) => report.changes = Some(Changes::between(&previous, &report)),
                Ok(None) => info!("no previous report archived; every finding counts as new next time"),
                Err(e) => {
                    warn!(error = %e, "could not read the previous report");
                    report.errors.push(e);
                }
            }
            match store.save(&report).await {
                Ok(uri) => report.archive = Some(uri),
                Err(e) => {
                    warn!(error = %e, "could not archive the report");
                    report.errors.push(e);
                }
            }
        }

        let clean = report.summary.findings == 0 && report.errors.is_empty() && report.actions.is_empty();
        if notify && clean && !self.config.notify_clean_runs {
            info!("nothing to report and NOTIFY_CLEAN_RUNS=false: no digest");
        } else if notify {
            if let Some(notifier) = &self.notifier {
                match notifier.publish(&report).await {
                    Ok(id) => info!(message_id = %id, "summary published"),
                    Err(e) => {
                        warn!(error = %e, "could not publish the summary");
                        report.errors.push(ReadFailure::new(
                            "sns:Publish",
                            e.code.clone(),
                            e.message.clone(),
                        ));
                    }
                }
                let events: Vec<RotationAction> =
                    report.actions.iter().filter(|a| worth_an_alert(a)).cloned().collect();
                for action in events {
                    if let Err(e) = notifier.publish_rotation(&report.account_id, &action).await {
                        warn!(error = %e, user = %action.user, "could not publish a rotation event");
                        report.errors.push(ReadFailure::new(
                            "sns:Publish",
                            e.code.clone(),
                            e.message.clone(),
                        ));
                    }
                }
            }
        }
        Ok(report)
    }

    /// What this run may do to keys: scheduled runs follow `ROTATION_MODE`; an on-demand
    /// rotation is a dry run unless it says `"dry_run": false` and the function is in
    /// enforce mode. An explicit request the configuration forbids is refused, not downgraded.
    fn rotation_mode(&self, request: &Request) -> Result<Option<RotationMode>, HandlerError> {
        let configured = self.config.rotation_mode;
        match (&request.trigger, request.action) {
            (Trigger::Scheduled, _) => Ok((configured != RotationMode::Off).then_some(configured)),
            (Trigger::OnDemand, Action::Audit) => Ok(None),
            (Trigger::OnDemand, Action::Rotate) => match (configured, request.dry_run) {
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
        for outcome in outcomes {
            if let Some(finding) = outcome.finding {
                if outcome.held_pair_active {
                    // A held rotation's two active keys are said, with the reason, by the
                    // held finding; `two_active_access_keys` would say it again without one.
                    evaluation
                        .findings
                        .retain(|f| !(f.check == CheckId::TwoActiveAccessKeys && f.user == finding.user));
                }
                evaluation.findings.push(finding);
            }
            errors.extend(outcome.error);
            actions.extend(outcome.action);
        }
        // The rotation checks pass only when every candidate was read and the candidates
        // themselves are known; otherwise they are unknown, with the reason.
        let unread: Vec<&str> = actions
            .iter()
            .filter(|a| {
                matches!(a.status, ActionStatus::Failed | ActionStatus::Deferred) && a.step == "unknown"
            })
            .map(|a| a.user.as_str())
            .collect();
        let status = if !unread.is_empty() {
            let named: Vec<&str> = unread.iter().take(3).copied().collect();
            let more =
                if unread.len() > 3 { format!(" and {} more", unread.len() - 3) } else { String::new() };
            CheckStatus::Unknown(format!(
                "the live keys of {}{more} were not read (see errors and actions)",
                named.join(", ")
            ))
        } else if request.users.is_none() && inventory.credential_report.is_err() {
            CheckStatus::Unknown(
                "the credential report could not be read, so users due for their first rotation are unknown; only users with a rotation record were checked"
                    .into(),
            )
        } else {
            CheckStatus::Evaluated
        };
        for check in [CheckId::RotationBlocked, CheckId::RotationHeldKeyInUse] {
            evaluation.statuses.insert(check, status.clone());
        }
        sort_findings(&mut evaluation.findings);
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
            out.action = Some(RotationAction {
                user: user.clone(),
                step: "unknown".into(),
                reason: format!(
                    "not started: {}s of the invocation were left (DEADLINE_MARGIN_SECONDS={}); the next run carries on",
                    left.as_secs(),
                    margin.as_secs()
                ),
                status: ActionStatus::Deferred,
                old_key_id: None,
                new_key_id: None,
                secret_arn: None,
                error: None,
            });
            return out;
        }
        let live = match self.rotator.read(&user, listed.as_ref()).await {
            Ok(live) => live,
            Err(e) => {
                // Said per user, so the report names whose rotation did not happen.
                warn!(user, error = %e, "could not read the user's keys; not rotating");
                out.action = Some(RotationAction {
                    user: user.clone(),
                    step: "unknown".into(),
                    reason:
                        "the user's keys, tags or secret could not be read; nothing was planned or changed"
                            .into(),
                    status: ActionStatus::Failed,
                    old_key_id: None,
                    new_key_id: None,
                    secret_arn: None,
                    error: Some(e.to_string()),
                });
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
        if let Some((check, message)) = rotation_finding(&user, &plan.step) {
            let (old, _) = plan.step.key_ids();
            out.finding = Some(Finding {
                check,
                severity: check.meta().severity,
                user: Some(user.clone()),
                resource: live.arn.clone(),
                access_key_id: old.map(str::to_string),
                key_slot: None,
                key_created: None,
                message,
                exempted: false,
                exemption: None,
            });
            // Only when IAM shows exactly the record's two keys active.
            if let Step::Hold { old, new, .. } = &plan.step {
                let active: BTreeSet<&str> =
                    live.keys.iter().filter(|k| k.active).map(|k| k.id.as_str()).collect();
                out.held_pair_active = active == BTreeSet::from([old.as_str(), new.as_str()]);
            }
        }
        if plan.step == Step::None {
            return out;
        }
        let (old, new) = plan.step.key_ids();
        let mut action = RotationAction {
            user: user.clone(),
            step: plan.step.name().to_string(),
            reason: plan.reason.clone(),
            status: ActionStatus::Planned,
            old_key_id: old.map(str::to_string),
            new_key_id: new.map(str::to_string),
            secret_arn: if new.is_some() { live.secret.arn().map(str::to_string) } else { None },
            error: None,
        };
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
    finding: Option<Finding>,
    /// A hold whose two active keys are exactly the record's: the held finding replaces
    /// the user's `two_active_access_keys`.
    held_pair_active: bool,
    error: Option<ReadFailure>,
}

/// The finding a planned step raises: a rotation that needs a human, or a held key.
fn rotation_finding(user: &str, step: &Step) -> Option<(CheckId, String)> {
    match step {
        Step::Blocked { reason } => {
            Some((CheckId::RotationBlocked, format!("rotation of {user}'s key is blocked: {reason}")))
        }
        Step::Hold { old, cause: HoldCause::InUse, last_used, .. } => Some((
            CheckId::RotationHeldKeyInUse,
            format!(
                "old key {old} of {user} was used at {} after its grace period; both keys stay active",
                last_used.map(|t| t.to_rfc3339()).unwrap_or_else(|| "an unknown time".into())
            ),
        )),
        Step::Hold { old, new, cause: HoldCause::HumanReactivated, .. } => Some((
            CheckId::RotationHeldKeyInUse,
            format!(
                "old key {old} of {user} was re-activated by a human after keywarden deactivated it; keywarden will not deactivate or delete it again. To end the hold, move the workload to {new} and deactivate or delete {old} yourself"
            ),
        )),
        _ => None,
    }
}

/// Rotation events a human wants to see on their own: started, held, deactivated, deleted,
/// and any failure. Warnings and dry-run plans go in the digest only.
fn worth_an_alert(a: &RotationAction) -> bool {
    match a.status {
        ActionStatus::Failed => true,
        ActionStatus::Done => {
            matches!(a.step.as_str(), "create" | "recover" | "hold" | "deactivate" | "delete")
        }
        ActionStatus::Planned | ActionStatus::Noted | ActionStatus::Deferred => false,
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
