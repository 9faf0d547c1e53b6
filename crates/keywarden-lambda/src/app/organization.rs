//! Many accounts: the organization run, in one invocation or fanned out by the engine.
//!
//! Each selected account goes through the same [`Pipeline`] as a single account, with the
//! directory and rotator of its own assumed roles. In one invocation the accounts run a few
//! at a time (`ACCOUNT_CONCURRENCY`) and none is started too close to the deadline; fanned
//! out, the engine sends `list-accounts`, one `audit-account` per account and `aggregate`,
//! and the state in between is kept in the report bucket ([`RunStore`]). Both shapes build
//! the consolidated report with [`OrgReport::build`] from the same per-account entries, so
//! they give the same report. An account that cannot be entered or read is an entry of its
//! own (failed, or not audited), never a reason to stop the others or to leave it out.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt};
use keywarden_core::config::OrganizationConfig;
use keywarden_core::organization::{
    select, AccountEntry, AccountRef, AccountResult, Listing, OrgReport, OrgRunInfo,
};
use keywarden_core::ports::{Notifier, Organization, ReportStore, RunStore};
use keywarden_core::{Config, ReadFailure, RotationMode};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::Value;
use tracing::{info, warn};

use super::{
    calls_since, notify_decision, publish_rotation_events, rotation_mode, Pipeline, Remaining, RunPlan,
    PROGRESS,
};
use crate::error::HandlerError;
use crate::event::{self, Event, FanOut, Request, RunAction, Trigger};

/// What an organization run needs: configuration, the organization and the shared ports.
#[derive(Debug)]
pub struct OrgApp<O, N, S> {
    /// Validated once at cold start, with [`Config::organization`] set.
    pub config: Config,
    /// The accounts, and the way into each.
    pub organization: O,
    /// The archive and the fan-out's state; `None` without `REPORT_BUCKET`.
    pub store: Option<S>,
    /// `None` when no topic is configured.
    pub notifier: Option<N>,
}

/// The answer to `list-accounts`: the run id and the map's items.
#[derive(Debug, Serialize)]
struct Items<'a> {
    run_id: &'a str,
    accounts: &'a [AccountRef],
}

/// The answer to `audit-account`: small, because Step Functions keeps it in the map's
/// results; the full entry is in the bucket.
#[derive(Debug, Serialize)]
struct ItemResult<'a> {
    run_id: &'a str,
    account: &'a AccountRef,
    status: keywarden_core::organization::AccountStatus,
    findings: usize,
    errors: usize,
    stored: String,
}

/// The fan-out's steps run as a scheduled run does: the audit, and rotation in `ROTATION_MODE`.
fn scheduled() -> Request {
    Request {
        trigger: Trigger::Scheduled,
        action: RunAction::Audit,
        users: None,
        notify: None,
        dry_run: false,
    }
}

impl<O, N, S> OrgApp<O, N, S>
where
    O: Organization + Sync,
    N: Notifier + Sync,
    S: ReportStore + RunStore + Sync,
{
    fn org(&self) -> Result<&OrganizationConfig, HandlerError> {
        self.config.organization.as_ref().ok_or_else(|| {
            HandlerError::BadRequest("this function is not in Organizations mode (ORGANIZATION=false)".into())
        })
    }

    fn run_store(&self) -> Result<&S, HandlerError> {
        self.store.as_ref().ok_or_else(|| {
            HandlerError::BadRequest(
                "a fanned-out run keeps its state in REPORT_BUCKET, which is not set".into(),
            )
        })
    }

    /// Handles one event of either shape; `run_id` is the Lambda request id.
    pub async fn handle(
        &self,
        event: Value,
        run_id: &str,
        now: DateTime<Utc>,
        remaining: Remaining<'_>,
    ) -> Result<Box<RawValue>, HandlerError> {
        let json = match event::parse_event(event)? {
            Event::Run(request) => {
                let mut report = self.run(&request, run_id, now, remaining).await?;
                self.capped(&mut report)?
            }
            Event::FanOut(FanOut::ListAccounts {}) => {
                let listing = self.list_accounts(run_id, now).await?;
                to_json(&Items { run_id: &listing.run_id, accounts: &listing.accounts })?
            }
            Event::FanOut(FanOut::AuditAccount { run_id, account }) => {
                self.audit_account(&run_id, &account, now, remaining).await?
            }
            Event::FanOut(FanOut::Aggregate { run_id }) => {
                let mut report = self.aggregate(&run_id).await?;
                self.capped(&mut report)?
            }
        };
        RawValue::from_string(json).map_err(|e| HandlerError::Internal(e.to_string()))
    }

    fn capped(&self, report: &mut OrgReport) -> Result<String, HandlerError> {
        let json = report
            .to_json_capped(self.config.report_max_bytes)
            .map_err(|e| HandlerError::Internal(e.to_string()))?;
        if report.findings_omitted > 0 {
            warn!(
                omitted = report.findings_omitted,
                "report exceeded REPORT_MAX_BYTES; least severe findings left out"
            );
        }
        Ok(json)
    }

    /// The whole run in this invocation: list → each account's pipeline, a few at a time →
    /// the consolidated report → archive → digest.
    pub async fn run(
        &self,
        request: &Request,
        run_id: &str,
        now: DateTime<Utc>,
        remaining: Remaining<'_>,
    ) -> Result<OrgReport, HandlerError> {
        let org = self.org()?;
        if request.users.is_some() {
            return Err(HandlerError::BadRequest(
                "`users` names users of one account; an organization run audits every selected account"
                    .into(),
            ));
        }
        let mode = rotation_mode(&self.config, request)?;
        let (notify, warnings) = notify_decision(&self.config, self.notifier.is_some(), request)?;
        let before = self.organization.api_calls();
        let (accounts, mut errors, listing_calls) = match self.listing(run_id, now).await {
            Ok(listing) => (listing.accounts, Vec::new(), listing.api_calls),
            Err(e) => {
                warn!(error = %e, "could not list the organization's accounts");
                (Vec::new(), vec![e], calls_since(&self.organization.api_calls(), &before))
            }
        };
        let plan = RunPlan { request, run_id, rotation_mode: mode, now, warnings: Vec::new() };
        let total = accounts.len();
        let mut done = 0usize;
        let entries: Vec<AccountEntry> = stream::iter(accounts)
            .map(|account| self.account(account, &plan, remaining))
            .buffer_unordered(org.account_concurrency.max(1))
            .inspect(|_| {
                done += 1;
                info!(target: PROGRESS, done, total, "accounts");
            })
            .collect()
            .await;
        let info = OrgRunInfo {
            run_id: run_id.to_string(),
            action: request.action,
            mode: mode.unwrap_or(RotationMode::Off),
            generated_at: now,
        };
        let mut report = OrgReport::build(info, entries, std::mem::take(&mut errors), &listing_calls);
        report.warnings.extend(warnings);
        self.finish(&mut report, notify).await;
        Ok(report)
    }

    /// The run's accounts, selected, with the calls the listing made.
    async fn listing(&self, run_id: &str, now: DateTime<Utc>) -> Result<Listing, ReadFailure> {
        let org = self.org().map_err(|e| ReadFailure::new("keywarden", None, e.to_string()))?;
        let before = self.organization.api_calls();
        let all = self.organization.accounts(&org.selection).await?;
        let (accounts, excluded, inactive) = select(&org.selection, &all);
        info!(selected = accounts.len(), excluded, inactive, "organization listed");
        Ok(Listing {
            run_id: run_id.to_string(),
            generated_at: now,
            accounts,
            excluded,
            inactive,
            api_calls: calls_since(&self.organization.api_calls(), &before),
        })
    }

    /// One account's entry: not started too close to the deadline, failed when its role
    /// cannot be assumed, else its report.
    async fn account(
        &self,
        account: AccountRef,
        plan: &RunPlan<'_>,
        remaining: Remaining<'_>,
    ) -> AccountEntry {
        // Not started unless a whole account fits: the credential report's longest wait and
        // the rotation's margin.
        let needed = Duration::from_secs(
            self.config.deadline_margin_secs + self.config.credential_report_max_wait_secs,
        );
        if let Some(left) = remaining().filter(|left| *left < needed) {
            let reason = format!(
                "not started: {}s of the invocation were left, less than DEADLINE_MARGIN_SECONDS + CREDENTIAL_REPORT_MAX_WAIT_SECONDS ({}s); the next run audits it, or fan out",
                left.as_secs(),
                needed.as_secs()
            );
            return AccountEntry { account, result: AccountResult::NotAudited { reason } };
        }
        let writes = plan.rotation_mode == Some(RotationMode::Enforce);
        let member = match self.organization.connect(&account, writes).await {
            Ok(member) => member,
            Err(error) => {
                warn!(account = %account.id, error = %error, "could not enter the account");
                return AccountEntry { account, result: AccountResult::Failed { error } };
            }
        };
        let pipeline = Pipeline {
            config: &self.config,
            directory: &member.directory,
            rotator: &member.rotator,
            store: self.store.as_ref(),
            sink: Some(&member.sink),
        };
        // The member's counter is its own: every call it made counts, the AssumeRole included.
        let result = match pipeline.run(plan, remaining, BTreeMap::new()).await {
            Ok(report) => AccountResult::Audited { report: Box::new(report) },
            Err(e) => AccountResult::Failed { error: ReadFailure::new("keywarden", None, e.to_string()) },
        };
        AccountEntry { account, result }
    }

    /// Archives the consolidated report, then the digest and every account's rotation events.
    async fn finish(&self, report: &mut OrgReport, notify: bool) {
        if let Some(store) = &self.store {
            match store.save_organization(report).await {
                Ok(uri) => report.archive = Some(uri),
                Err(e) => {
                    warn!(error = %e, "could not archive the consolidated report");
                    report.errors.push(e);
                }
            }
        }
        let Some(notifier) = self.notifier.as_ref().filter(|_| notify) else { return };
        let s = &report.summary;
        let actions = report.accounts.iter().filter_map(|a| a.report()).any(|r| !r.actions.is_empty());
        let clean = s.findings == 0 && s.failed == 0 && s.not_audited == 0 && s.incomplete == 0 && !actions;
        if clean && report.errors.is_empty() && !self.config.notify_clean_runs {
            info!("nothing to report and NOTIFY_CLEAN_RUNS=false: no digest");
            return;
        }
        match notifier.publish_organization(report).await {
            Ok(id) => info!(message_id = %id, "organization digest published"),
            Err(e) => {
                warn!(error = %e, "could not publish the organization digest");
                report.errors.push(ReadFailure::new("sns:Publish", e.code.clone(), e.message.clone()));
            }
        }
        let mut failures = Vec::new();
        for entry in &report.accounts {
            if let Some(r) = entry.report() {
                failures.extend(publish_rotation_events(notifier, &entry.account.id, &r.actions).await);
            }
        }
        report.errors.extend(failures);
    }

    /// `list-accounts`: the listing, kept for the items and the aggregation. A failed listing
    /// fails the invocation, so the state machine stops and alarms instead of mapping nothing.
    async fn list_accounts(&self, run_id: &str, now: DateTime<Utc>) -> Result<Listing, HandlerError> {
        self.org()?;
        let store = self.run_store()?;
        let listing = self.listing(run_id, now).await.map_err(HandlerError::Read)?;
        store.save_listing(&listing).await.map_err(HandlerError::Read)?;
        Ok(listing)
    }

    /// The run's listing, which every later step checks its input against.
    async fn saved_listing(&self, run_id: &str) -> Result<Listing, HandlerError> {
        self.run_store()?.listing(run_id).await.map_err(HandlerError::Read)?.ok_or_else(|| {
            HandlerError::BadRequest(format!(
                "no listing is kept for run `{run_id}`; start with list-accounts"
            ))
        })
    }

    /// `audit-account`: one listed account, its entry kept. An account that cannot be
    /// entered is kept as failed and the item succeeds, so one account never counts against
    /// the map's tolerated failures and stops the others; an item that leaves no entry
    /// (a crash, a timeout, a failed save) fails and can be redriven.
    async fn audit_account(
        &self,
        run_id: &str,
        account: &AccountRef,
        now: DateTime<Utc>,
        remaining: Remaining<'_>,
    ) -> Result<String, HandlerError> {
        self.org()?;
        let listing = self.saved_listing(run_id).await?;
        if !listing.accounts.contains(account) {
            return Err(HandlerError::BadRequest(format!(
                "account {} ({}) is not in run `{run_id}`'s listing",
                account.id, account.name
            )));
        }
        let request = scheduled();
        let mode = rotation_mode(&self.config, &request)?;
        let plan = RunPlan { request: &request, run_id, rotation_mode: mode, now, warnings: Vec::new() };
        let entry = self.account(account.clone(), &plan, remaining).await;
        let stored = self.run_store()?.save_account(run_id, &entry).await.map_err(HandlerError::Read)?;
        let (findings, errors) = entry.report().map_or((0, 0), |r| (r.summary.findings, r.errors.len()));
        to_json(&ItemResult { run_id, account, status: entry.status(), findings, errors, stored })
    }

    /// `aggregate`: the consolidated report from the kept entries; an account with none is
    /// reported as not audited.
    pub async fn aggregate(&self, run_id: &str) -> Result<OrgReport, HandlerError> {
        self.org()?;
        let listing = self.saved_listing(run_id).await?;
        let store = self.run_store()?;
        let request = scheduled();
        let mode = rotation_mode(&self.config, &request)?;
        let (notify, warnings) = notify_decision(&self.config, self.notifier.is_some(), &request)?;
        let mut entries = Vec::new();
        let mut errors = Vec::new();
        for account in &listing.accounts {
            let entry = match store.account(run_id, &account.id).await {
                Ok(Some(entry)) if entry.account == *account => entry,
                Ok(_) => AccountEntry {
                    account: account.clone(),
                    result: AccountResult::NotAudited {
                        reason: "its fan-out item left no result (failed, timed out or not run); redrive the map run".into(),
                    },
                },
                Err(e) => {
                    let reason = format!("its result could not be read: {e}");
                    errors.push(e);
                    AccountEntry { account: account.clone(), result: AccountResult::NotAudited { reason } }
                }
            };
            entries.push(entry);
        }
        let info = OrgRunInfo {
            run_id: run_id.to_string(),
            action: request.action,
            mode: mode.unwrap_or(RotationMode::Off),
            generated_at: listing.generated_at,
        };
        let mut report = OrgReport::build(info, entries, errors, &listing.api_calls);
        report.warnings.extend(warnings);
        self.finish(&mut report, notify).await;
        Ok(report)
    }
}

fn to_json<T: Serialize>(value: &T) -> Result<String, HandlerError> {
    serde_json::to_string(value).map_err(|e| HandlerError::Internal(e.to_string()))
}
