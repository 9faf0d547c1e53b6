//! The consolidated report of an organization run: every selected account once, audited or
//! not, with one summary by account and by severity.
//!
//! Each audited account keeps its own [`Report`] whole (its findings, errors, unknown checks,
//! actions and its changes since that account's previous run), so a per-account consumer
//! reads the same document as before, and new/resolved stay per account. Across accounts a
//! finding is named `<account>/<finding id>` ([`OrgReport::finding_id`]).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::AccountRef;
use crate::catalogue::Severity;
use crate::config::RotationMode;
use crate::model::ReadFailure;
use crate::report::{Finding, Report, RunAction, SCHEMA_VERSION};

/// What became of one account of the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountStatus {
    /// Collected and judged; its report may still carry errors and unknown checks.
    Audited,
    /// Could not be entered or read at all (AssumeRole denied, the role missing, throttled
    /// out, timed out): nothing about it is known.
    Failed,
    /// Never started: the invocation ran out of time, or its fan-out item left no result.
    NotAudited,
}

/// An account's outcome, with what the status needs and nothing else.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum AccountResult {
    /// The account's full report.
    Audited {
        /// The same report a single-account run of it writes.
        report: Box<Report>,
    },
    /// Why the account could not be audited.
    Failed {
        /// The call that failed, with its AWS error code.
        error: ReadFailure,
    },
    /// Why the account was not reached.
    NotAudited {
        /// In words, for the report and the digest.
        reason: String,
    },
}

/// One account of the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountEntry {
    /// Which account.
    #[serde(flatten)]
    pub account: AccountRef,
    /// What became of it.
    #[serde(flatten)]
    pub result: AccountResult,
}

impl AccountEntry {
    /// The account's status.
    pub fn status(&self) -> AccountStatus {
        match self.result {
            AccountResult::Audited { .. } => AccountStatus::Audited,
            AccountResult::Failed { .. } => AccountStatus::Failed,
            AccountResult::NotAudited { .. } => AccountStatus::NotAudited,
        }
    }

    /// The account's report, when it was audited.
    pub fn report(&self) -> Option<&Report> {
        match &self.result {
            AccountResult::Audited { report } => Some(report),
            _ => None,
        }
    }

    /// How bad the account looks, for "worst first": an account nobody could read ranks
    /// with one that has a high finding (what it hides is unknown), above medium ones.
    pub fn rank(&self) -> (Severity, usize, usize) {
        match &self.result {
            AccountResult::Audited { report } => (
                report.summary.worst.unwrap_or(Severity::Info),
                report.summary.findings,
                report.errors.len() + report.unknown_checks().len(),
            ),
            _ => (Severity::High, 0, 1),
        }
    }
}

/// The facts about an organization run that are not per account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgRunInfo {
    /// The run's id: the request id of the invocation that started it (in-process, or the
    /// fan-out's listing step), shared by every account's report.
    pub run_id: String,
    /// What was asked for.
    pub action: RunAction,
    /// What the run was allowed to do to keys.
    pub mode: RotationMode,
    /// When the run started.
    pub generated_at: DateTime<Utc>,
}

/// Counts across accounts, computed once by [`OrgReport::build`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgSummary {
    /// Accounts selected for the run.
    pub accounts: usize,
    /// Accounts whose status is `audited`.
    pub audited: usize,
    /// Accounts whose status is `failed`.
    pub failed: usize,
    /// Accounts whose status is `not_audited`.
    pub not_audited: usize,
    /// Audited accounts with at least one `unknown` check or error: their passes are partial.
    pub incomplete: usize,
    /// Users judged, over the audited accounts.
    pub users_scanned: usize,
    /// Open findings, over the audited accounts.
    pub findings: usize,
    /// Open findings per severity; every severity is present.
    pub by_severity: BTreeMap<Severity, usize>,
    /// Open findings per account and severity, keyed by account id; every selected account
    /// is present (with no severities when it was not audited).
    pub by_account: BTreeMap<String, BTreeMap<Severity, usize>>,
    /// The worst severity among open findings.
    pub worst: Option<Severity>,
    /// Findings new since each account's previous run, summed (only accounts with one).
    pub new: usize,
    /// Findings resolved since each account's previous run, summed.
    pub resolved: usize,
    /// API calls of the run: the listing's and every account's, keyed `service:Operation`.
    pub api_calls: BTreeMap<String, u64>,
    /// The sum of `api_calls`.
    pub api_calls_total: u64,
}

/// The consolidated report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrgReport {
    /// As [`Report::schema_version`].
    pub schema_version: u32,
    /// `organization`, so a consumer tells the two report kinds apart by one field.
    pub kind: ReportKind,
    /// Which run.
    #[serde(flatten)]
    pub run: OrgRunInfo,
    /// Counts across accounts.
    pub summary: OrgSummary,
    /// Every selected account, by id.
    pub accounts: Vec<AccountEntry>,
    /// Failures of the run itself, not of an account (the listing, the archive, the digest).
    pub errors: Vec<ReadFailure>,
    /// Things a human should know that are not failures.
    pub warnings: Vec<String>,
    /// Per-account findings left out of this copy to stay under the size cap; the archived
    /// copy has them all.
    #[serde(default)]
    pub findings_omitted: usize,
    /// Where the consolidated report was archived.
    #[serde(default)]
    pub archive: Option<String>,
}

/// Which kind of report a document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportKind {
    /// Many accounts, one [`OrgReport`].
    Organization,
}

impl OrgReport {
    /// Folds the accounts' outcomes into one report, sorted by account id. `listing_calls`
    /// are the calls that found the accounts; `errors` the run's own failures (a failed
    /// listing: then there are no accounts, and the report says it knows of none, not that
    /// there are none).
    pub fn build(
        run: OrgRunInfo,
        mut accounts: Vec<AccountEntry>,
        errors: Vec<ReadFailure>,
        listing_calls: &BTreeMap<String, u64>,
    ) -> Self {
        accounts.sort_by(|a, b| a.account.id.cmp(&b.account.id));
        let mut by_severity: BTreeMap<Severity, usize> = Severity::ALL.iter().map(|s| (*s, 0)).collect();
        let mut by_account = BTreeMap::new();
        let mut api_calls = listing_calls.clone();
        let (mut audited, mut failed, mut not_audited, mut incomplete) = (0, 0, 0, 0);
        let (mut users_scanned, mut findings, mut new, mut resolved) = (0, 0, 0, 0);
        for entry in &accounts {
            let mut mine = BTreeMap::new();
            match &entry.result {
                AccountResult::Audited { report } => {
                    audited += 1;
                    if !report.errors.is_empty() || !report.unknown_checks().is_empty() {
                        incomplete += 1;
                    }
                    users_scanned += report.summary.users_scanned;
                    findings += report.summary.findings;
                    for (s, n) in &report.summary.by_severity {
                        *by_severity.entry(*s).or_default() += n;
                        if *n > 0 {
                            mine.insert(*s, *n);
                        }
                    }
                    for (op, n) in &report.summary.api_calls {
                        *api_calls.entry(op.clone()).or_default() += n;
                    }
                    if let Some(c) = &report.changes {
                        new += c.new.len();
                        resolved += c.resolved.len();
                    }
                }
                AccountResult::Failed { .. } => failed += 1,
                AccountResult::NotAudited { .. } => not_audited += 1,
            }
            by_account.insert(entry.account.id.clone(), mine);
        }
        let worst = by_severity.iter().filter(|(_, n)| **n > 0).map(|(s, _)| *s).max();
        let summary = OrgSummary {
            accounts: accounts.len(),
            audited,
            failed,
            not_audited,
            incomplete,
            users_scanned,
            findings,
            by_severity,
            by_account,
            worst,
            new,
            resolved,
            api_calls_total: api_calls.values().sum(),
            api_calls,
        };
        OrgReport {
            schema_version: SCHEMA_VERSION,
            kind: ReportKind::Organization,
            run,
            summary,
            accounts,
            errors,
            warnings: Vec::new(),
            findings_omitted: 0,
            archive: None,
        }
    }

    /// A finding's id across the organization: the same check on the same resource in two
    /// accounts is two findings.
    pub fn finding_id(account_id: &str, finding: &Finding) -> String {
        format!("{account_id}/{}", finding.id())
    }

    /// The accounts worst first (see [`AccountEntry::rank`]), ties by id: the digest's order.
    pub fn worst_first(&self) -> Vec<&AccountEntry> {
        let mut accounts: Vec<&AccountEntry> = self.accounts.iter().collect();
        accounts.sort_by(|a, b| b.rank().cmp(&a.rank()).then_with(|| a.account.id.cmp(&b.account.id)));
        accounts
    }

    /// The report as JSON of at most about `max_bytes`: past it, each account's report is cut
    /// to its worst findings ([`Report::to_json_capped`]) with an equal share of the cap, so
    /// no account disappears from the response; the archive keeps the whole report.
    pub fn to_json_capped(&mut self, max_bytes: usize) -> serde_json::Result<String> {
        let full = serde_json::to_string(self)?;
        if full.len() <= max_bytes {
            return Ok(full);
        }
        let audited = self.accounts.iter().filter(|a| a.report().is_some()).count().max(1);
        // What is left for the reports once the rest of the document is counted.
        let mut skeleton = self.clone();
        for entry in &mut skeleton.accounts {
            if let AccountResult::Audited { report } = &mut entry.result {
                report.findings.clear();
            }
        }
        let rest = serde_json::to_string(&skeleton)?.len();
        let share = max_bytes.saturating_sub(rest) / audited;
        let mut omitted = 0;
        for entry in &mut self.accounts {
            if let AccountResult::Audited { report } = &mut entry.result {
                let bare = {
                    let mut r = (**report).clone();
                    r.findings.clear();
                    serde_json::to_string(&r)?.len()
                };
                report.to_json_capped(bare + share)?;
                omitted += report.findings_omitted;
            }
        }
        self.findings_omitted = omitted;
        serde_json::to_string(self)
    }
}
