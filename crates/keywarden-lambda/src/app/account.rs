//! One account, start to finish: collect → evaluate → enrich → plan and act → report →
//! archive. The single-account run and every member account of an organization run go
//! through this same code; only where the directory and the rotator point differs.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt};
use keywarden_core::checks::{
    apply_live, evaluate, rotation_exemption, Evaluation, RotationCoverage, RotationFinding, UserScope,
};
use keywarden_core::export::document::Document;
use keywarden_core::export::html;
use keywarden_core::ports::{Directory, FindingSink, ReportStore, Rotator};
use keywarden_core::report::{ActionStatus, Changes, RotationAction, RunInfo};
use keywarden_core::rotation::{self, SecretState, Step};
use keywarden_core::{Config, Inventory, ReadFailure, Report, RotationMode};
use tracing::{info, warn};

use super::{calls_since, Remaining, PROGRESS};
use crate::error::HandlerError;
use crate::event::Request;

/// The ports one account's run goes through.
#[derive(Debug)]
pub struct Pipeline<'a, D, R, S, K> {
    /// The function's configuration, the same for every account.
    pub config: &'a Config,
    /// The account's IAM.
    pub directory: &'a D,
    /// The account's keys.
    pub rotator: &'a R,
    /// The archive, shared by every account (reports are keyed by account id).
    pub store: Option<&'a S>,
    /// The account's own Security Hub; used only with `SECURITY_HUB=true`.
    pub sink: Option<&'a K>,
}

/// How a run is to treat its account, decided once for the run.
#[derive(Debug, Clone)]
pub struct RunPlan<'a> {
    /// The validated request.
    pub request: &'a Request,
    /// The run's id, shared by every account of an organization run.
    pub run_id: &'a str,
    /// `None`: no rotation stage.
    pub rotation_mode: Option<RotationMode>,
    /// When the run started.
    pub now: DateTime<Utc>,
    /// Said in the report, not failures.
    pub warnings: Vec<String>,
}

impl<D: Directory, R: Rotator, S: ReportStore, K: FindingSink> Pipeline<'_, D, R, S, K> {
    /// The account's report, archived when a store is set. `baseline` is the directory's call
    /// tally before the run (a warm function's clients live across invocations); a member
    /// account's counter is its own, so it passes an empty one and its AssumeRole counts.
    pub async fn run(
        &self,
        plan: &RunPlan<'_>,
        remaining: Remaining<'_>,
        baseline: BTreeMap<String, u64>,
    ) -> Result<Report, HandlerError> {
        info!(target: PROGRESS, "reading the IAM inventory (credential report, authorization details)");
        let inventory = self.directory.collect().await;
        let scope = scope(&inventory, plan.request)?;
        info!(target: PROGRESS, "evaluating");

        let mut evaluation = evaluate(&inventory, &self.config.audit, &scope, plan.now);
        let mut errors = inventory.failures();
        self.enrich(&mut evaluation, &mut errors).await;
        evaluation.warnings.extend(plan.warnings.iter().cloned());

        let mut actions = Vec::new();
        if let Some(mode) = plan.rotation_mode {
            actions = self.rotate(&inventory, plan, mode, remaining, &mut evaluation, &mut errors).await;
        }

        let run = RunInfo {
            run_id: plan.run_id.to_string(),
            account_id: inventory.account_id.clone().unwrap_or_else(|_| "unknown".into()),
            action: plan.request.action,
            mode: plan.rotation_mode.unwrap_or(RotationMode::Off),
            generated_at: plan.now,
            data_as_of: inventory.credential_report.as_ref().ok().map(|r| r.generated_at),
        };
        let mut report =
            Report::build(run, evaluation, errors, calls_since(&self.directory.api_calls(), &baseline));
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
        self.archive(&mut report, plan.request, &inventory).await;
        self.import(&mut report, plan.now).await;
        Ok(report)
    }

    /// Imports the findings into the account's Security Hub, after the archive so that
    /// findings resolved since the previous run are known and archived there too. A refused
    /// import or finding is an error in the report.
    async fn import(&self, report: &mut Report, now: DateTime<Utc>) {
        let Some(sink) = self.sink.filter(|_| self.config.security_hub) else { return };
        match sink.import(report, now).await {
            Ok(outcome) => {
                info!(
                    imported = outcome.imported,
                    refused = outcome.failed.len(),
                    "findings imported into Security Hub"
                );
                for (id, code) in outcome.failed {
                    report.errors.push(ReadFailure::new(
                        "securityhub:BatchImportFindings",
                        Some(code),
                        format!("Security Hub refused finding {id}"),
                    ));
                }
            }
            Err(e) => {
                warn!(error = %e, "could not import the findings into Security Hub");
                report.errors.push(e);
            }
        }
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

    /// Compares with the previous archived run and archives this one. Only full runs are
    /// evidence: a run scoped to some users would make everyone else look resolved.
    async fn archive(&self, report: &mut Report, request: &Request, inventory: &Inventory) {
        let (Some(store), None, Ok(account)) = (&self.store, &request.users, &inventory.account_id) else {
            return;
        };
        let previous = match store.previous(account).await {
            Ok(Some(previous)) => {
                report.changes = Some(Changes::between(&previous, report));
                Some(previous)
            }
            Ok(None) => {
                info!("no previous report archived; every finding counts as new next time");
                None
            }
            Err(e) => {
                warn!(error = %e, "could not read the previous report");
                report.errors.push(e);
                None
            }
        };
        match store.save(report).await {
            Ok(uri) => report.archive = Some(uri),
            Err(e) => {
                warn!(error = %e, "could not archive the report");
                report.errors.push(e);
                return;
            }
        }
        // The page beside it: this run and the one before (already read, so the trend costs
        // no extra call); `keywarden report --html` draws the longer history on demand.
        let mut documents: Vec<Document> =
            previous.map(|p| Document::Account(Box::new(p))).into_iter().collect();
        documents.push(Document::Account(Box::new(report.clone())));
        let page = html::render(&documents, report.run.generated_at);
        match store.save_page(report, &page).await {
            Ok(uri) => report.page = Some(uri),
            Err(e) => {
                warn!(error = %e, "could not archive the report's page");
                report.errors.push(e);
            }
        }
    }

    /// Reads each candidate live, plans its next step and, in enforce mode, carries it out.
    /// No new user is started once less than `DEADLINE_MARGIN_SECONDS` of the invocation is
    /// left: those are listed as deferred, and the next run carries on where this one stopped.
    async fn rotate(
        &self,
        inventory: &Inventory,
        plan: &RunPlan<'_>,
        mode: RotationMode,
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
        let candidates = match &plan.request.users {
            Some(users) => users.clone(),
            None => rotation::candidates(inventory, &self.config.rotation, plan.now),
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
        let total = candidates.len();
        let mut done = 0usize;
        let outcomes: Vec<UserOutcome> = stream::iter(candidates)
            .map(|user| {
                let listed = listed.as_ref().map(|l| l.get(&user).cloned().unwrap_or_default());
                self.rotate_user(inventory, user, listed, mode, plan.now, remaining, margin)
            })
            .buffered(self.config.rotation_concurrency.max(1))
            .inspect(|_| {
                done += 1;
                info!(target: PROGRESS, done, total, "rotating");
            })
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
        } else if plan.request.users.is_none() && inventory.credential_report.is_err() {
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
