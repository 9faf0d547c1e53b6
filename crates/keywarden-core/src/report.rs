//! The run report: what the invocation returns, what alerts summarise and what is archived.
//!
//! It is plain data with a versioned schema. Consumers (SIEM rules, the digest, tests) read
//! fields by name, so fields are only ever added; a rename is a `SCHEMA_VERSION` bump.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::catalogue::{CheckId, Severity};
use crate::checks::{sort_findings, CheckStatus, Evaluation};
pub use crate::checks::{Finding, SubjectUnknown};
use crate::config::RotationMode;
use crate::model::ReadFailure;
use crate::rotation::{Step, StepKind};

/// The [`Report::schema_version`] this build writes.
pub const SCHEMA_VERSION: u32 = 1;

/// What the run did, in the order a reader asks: which run, about what, how bad.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Bumped on any rename or removal; fields are only ever added otherwise.
    pub schema_version: u32,
    /// Which run this is (flattened: the JSON has the same top-level fields as ever).
    #[serde(flatten)]
    pub run: RunInfo,
    /// Counts per check and severity, and the calls the run made.
    pub summary: Summary,
    /// Worst first ([`sort_findings`]), exempted ones included and marked.
    pub findings: Vec<Finding>,
    /// Findings left out to keep the response under the size cap (the worst are kept).
    pub findings_omitted: usize,
    /// Every failed call of the run (inventory, live reads, rotation, archive, publish), with its operation.
    pub errors: Vec<ReadFailure>,
    /// Things a human should know that are not failures (e.g. an exemption tag naming no known check).
    pub warnings: Vec<String>,
    /// Subjects of checks that ran but could not judge them; each makes its check `unknown`.
    #[serde(default)]
    pub unknown: Vec<SubjectUnknown>,
    /// Rotation steps planned or taken in this run (empty when rotation did not run).
    #[serde(default)]
    pub actions: Vec<RotationAction>,
    /// Since the previous archived run; `None` when there is no archive to compare with.
    #[serde(default)]
    pub changes: Option<Changes>,
    /// Where the full report was archived (`s3://bucket/key`), when it was.
    #[serde(default)]
    pub archive: Option<String>,
    /// Where the run's HTML page was archived, beside the report (`None` when it was not).
    /// Not in the archived JSON itself: the page is written after it, from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<String>,
}

/// What changed since the previous archived run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changes {
    /// The run compared against.
    pub previous_run_id: String,
    /// When the compared run started ([`RunInfo::generated_at`] of the previous report).
    pub previous_generated_at: DateTime<Utc>,
    /// Ids of open findings that the previous run did not have.
    pub new: Vec<String>,
    /// Open findings of the previous run that are gone now.
    pub resolved: Vec<Finding>,
    /// Open findings present in both runs.
    pub ongoing: usize,
    /// Ids of findings present in one run only, about a subject the other run did not judge
    /// (its check was unknown or skipped, or that user was): neither new nor resolved.
    #[serde(default)]
    pub unverified: Vec<String>,
}

impl Changes {
    /// Compares open findings by [`Finding::id`]. A finding is new only if the previous run
    /// judged its check for that subject, and resolved only if this run did: a check that
    /// could not run (a denied credential report, say) proves nothing either way. A report
    /// that left findings out (size cap) cannot prove the other side's findings new or
    /// resolved.
    pub fn between(previous: &Report, current: &Report) -> Self {
        use std::collections::BTreeSet;
        // Each id is made once: it is a `format!`, and there may be tens of thousands.
        fn open(r: &Report) -> Vec<(String, &Finding)> {
            r.findings.iter().filter(|f| !f.exempted).map(|f| (f.id(), f)).collect()
        }
        let (open_before, open_now) = (open(previous), open(current));
        let before: BTreeSet<&str> = open_before.iter().map(|(id, _)| id.as_str()).collect();
        let now: BTreeSet<&str> = open_now.iter().map(|(id, _)| id.as_str()).collect();
        let mut unverified = BTreeSet::new();
        let mut new = Vec::new();
        if previous.findings_omitted == 0 {
            let judged = Judged::of(previous);
            for (id, f) in open_now.iter().filter(|(id, _)| !before.contains(id.as_str())) {
                if judged.judged(f) {
                    new.push(id.clone());
                } else {
                    unverified.insert(id.clone());
                }
            }
        }
        new.sort();
        new.dedup();
        let mut resolved = Vec::new();
        if current.findings_omitted == 0 {
            let judged = Judged::of(current);
            for (id, f) in open_before.iter().filter(|(id, _)| !now.contains(id.as_str())) {
                if judged.judged(f) {
                    resolved.push((*f).clone());
                } else {
                    unverified.insert(id.clone());
                }
            }
        }
        Changes {
            previous_run_id: previous.run.run_id.clone(),
            previous_generated_at: previous.run.generated_at,
            ongoing: now.intersection(&before).count(),
            new,
            resolved,
            unverified: unverified.into_iter().collect(),
        }
    }
}

/// A report's [`Report::unknown`] indexed by check and subject, so that asking whether it
/// judged each of many findings does not scan every unknown subject for each.
struct Judged<'a> {
    report: &'a Report,
    resources: std::collections::HashSet<(CheckId, &'a str)>,
    users: std::collections::HashSet<(CheckId, &'a str)>,
}

impl<'a> Judged<'a> {
    fn of(report: &'a Report) -> Self {
        let resources = report.unknown.iter().map(|u| (u.check, u.resource.as_str())).collect();
        let users = report.unknown.iter().filter_map(|u| Some((u.check, u.user.as_deref()?))).collect();
        Judged { report, resources, users }
    }

    /// Whether the run judged `finding`'s check for its subject, so that the finding's
    /// absence (or presence) there means something: the check ran (`pass` or `fail`) and the
    /// subject is not among [`Report::unknown`] (by resource, or by user when both name one).
    fn judged(&self, finding: &Finding) -> bool {
        let ran = self.report.summary.checks.get(&finding.check).is_some_and(|c| c.status.judged());
        let subject_unknown = self.resources.contains(&(finding.check, finding.resource.as_str()))
            || finding.user.as_deref().is_some_and(|user| self.users.contains(&(finding.check, user)));
        ran && !subject_unknown
    }
}

/// What became of a planned rotation step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionStatus {
    /// Dry run: this is what enforce mode would do.
    Planned,
    /// Nothing to change in AWS (a warning, or a rotation blocked on a human).
    Noted,
    /// The step was carried out in AWS.
    Done,
    /// The step's call failed: [`RotationAction::error`] says why, and what was undone.
    Failed,
    /// Not started: the invocation was running out of time. The next run carries it out.
    Deferred,
}

/// One rotation step for one user. Never carries a secret: key ids and the secret's ARN only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RotationAction {
    /// Whose keys.
    pub user: String,
    /// What kind of step; `unknown` when the user's keys were not read.
    pub step: StepKind,
    /// Why, in words a human acts on.
    pub reason: String,
    /// What became of it.
    pub status: ActionStatus,
    /// The key being rotated away from.
    pub old_key_id: Option<String>,
    /// The key being rotated to.
    pub new_key_id: Option<String>,
    /// Where the new key's secret is stored.
    pub secret_arn: Option<String>,
    /// Why the step failed, with the AWS error code.
    pub error: Option<String>,
}

impl RotationAction {
    /// A step the planner chose, not yet carried out.
    pub fn planned(user: &str, step: &Step, reason: &str, secret_arn: Option<&str>) -> Self {
        let (old, new) = step.key_ids();
        RotationAction {
            user: user.to_string(),
            step: step.kind(),
            reason: reason.to_string(),
            status: ActionStatus::Planned,
            old_key_id: old.map(str::to_string),
            new_key_id: new.map(str::to_string),
            secret_arn: if new.is_some() { secret_arn.map(str::to_string) } else { None },
            error: None,
        }
    }

    /// A user for whom no step could be planned (not read, or not started at the deadline).
    pub fn not_planned(user: &str, status: ActionStatus, reason: String, error: Option<String>) -> Self {
        RotationAction {
            user: user.to_string(),
            step: StepKind::Unknown,
            reason,
            status,
            old_key_id: None,
            new_key_id: None,
            secret_arn: None,
            error,
        }
    }

    /// Whether this user's live keys went unread, which leaves the rotation checks unknown.
    pub fn unread(&self) -> bool {
        matches!(self.status, ActionStatus::Failed | ActionStatus::Deferred) && self.step == StepKind::Unknown
    }

    /// Rotation events a human wants to see on their own: started, held, deactivated,
    /// deleted, and any failure. Warnings and dry-run plans go in the digest only.
    pub fn worth_an_alert(&self) -> bool {
        match self.status {
            ActionStatus::Failed => true,
            ActionStatus::Done => self.step.alerts_when_done(),
            ActionStatus::Planned | ActionStatus::Noted | ActionStatus::Deferred => false,
        }
    }
}

/// What a run can say about one check. Only `pass` is a pass: `unknown` means the run could
/// not tell, and `skipped` that it was not asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckOutcome {
    /// The check ran on complete data and found nothing open.
    Pass,
    /// The check ran and found something.
    Fail,
    /// Some data the check needs, or some subject, could not be judged.
    Unknown,
    /// The check was not asked for in this run.
    Skipped,
}

impl CheckOutcome {
    /// The name in reports and digests.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckOutcome::Pass => "pass",
            CheckOutcome::Fail => "fail",
            CheckOutcome::Unknown => "unknown",
            CheckOutcome::Skipped => "skipped",
        }
    }

    /// Whether the check was judged (pass or fail), so a finding's absence means something.
    pub fn judged(self) -> bool {
        matches!(self, CheckOutcome::Pass | CheckOutcome::Fail)
    }
}

impl std::fmt::Display for CheckOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

impl PartialEq<&str> for CheckOutcome {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<str> for CheckOutcome {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

/// One check's line of the summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckSummary {
    /// What the run can say about the check.
    pub status: CheckOutcome,
    /// Open findings of the check; exempted ones are counted in `exempted` instead.
    pub findings: usize,
    /// Exempted findings of the check.
    pub exempted: usize,
    /// Why the check is `unknown` or `skipped`; absent for `pass` and `fail`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The report's counts, computed once by [`Report::build`] so every consumer reads the same numbers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// As [`Evaluation::users_scanned`].
    pub users_scanned: usize,
    /// Open (not exempted) findings.
    pub findings: usize,
    /// Findings marked exempted; not in `findings`, `by_severity` or `by_check`.
    pub exempted: usize,
    /// Open findings per severity; every severity is present, with 0 when none.
    pub by_severity: BTreeMap<Severity, usize>,
    /// Open findings per check; a check without open findings is absent.
    pub by_check: BTreeMap<CheckId, usize>,
    /// One line per check of the catalogue, whatever its outcome.
    pub checks: BTreeMap<CheckId, CheckSummary>,
    /// The worst severity among open findings.
    pub worst: Option<Severity>,
    /// API calls of the run, keyed `service:Operation` as [`crate::ports::Directory::api_calls`] counts them.
    pub api_calls: BTreeMap<String, u64>,
    /// The sum of `api_calls`.
    pub api_calls_total: u64,
}

/// The facts about a run that are not findings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunInfo {
    /// The Lambda request id, so logs and the report correlate.
    pub run_id: String,
    /// `unknown` when the account id itself could not be read.
    pub account_id: String,
    /// What was asked for.
    pub action: RunAction,
    /// What the run was allowed to do to keys (`off` for an audit).
    pub mode: RotationMode,
    /// When the run started.
    pub generated_at: DateTime<Utc>,
    /// When AWS generated the credential report the findings are based on (up to 4 hours
    /// older than `generated_at`); `None` when it could not be read.
    pub data_as_of: Option<DateTime<Utc>>,
}

/// What a run was asked to do: the event's `action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunAction {
    /// Read and judge; change nothing.
    #[default]
    Audit,
    /// Audit, then plan (and in enforce mode carry out) key rotations.
    Rotate,
}

impl RunAction {
    /// The name in events and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            RunAction::Audit => "audit",
            RunAction::Rotate => "rotate",
        }
    }
}

impl std::fmt::Display for RunAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for RunAction {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl Report {
    /// Findings come out worst first whatever order they were handed over in: the digest and
    /// the size cap of [`Report::to_json_capped`] both rely on it.
    pub fn build(
        run: RunInfo,
        mut evaluation: Evaluation,
        errors: Vec<ReadFailure>,
        api_calls: BTreeMap<String, u64>,
    ) -> Self {
        sort_findings(&mut evaluation.findings);
        let open = evaluation.findings.iter().filter(|f| !f.exempted);
        let mut by_severity: BTreeMap<Severity, usize> = Severity::ALL.iter().map(|s| (*s, 0)).collect();
        let mut by_check: BTreeMap<CheckId, usize> = BTreeMap::new();
        for f in open.clone() {
            *by_severity.entry(f.severity).or_default() += 1;
            *by_check.entry(f.check).or_default() += 1;
        }
        // One pass each over the findings and the unknown subjects, not one per check.
        let mut exempted_by_check: BTreeMap<CheckId, usize> = BTreeMap::new();
        for f in evaluation.findings.iter().filter(|f| f.exempted) {
            *exempted_by_check.entry(f.check).or_default() += 1;
        }
        let mut unknown_by_check: BTreeMap<CheckId, Vec<String>> = BTreeMap::new();
        for u in &evaluation.unknown_subjects {
            unknown_by_check.entry(u.check).or_default().push(u.reason.clone());
        }
        let checks = evaluation
            .statuses
            .iter()
            .map(|(check, status)| {
                let findings = by_check.get(check).copied().unwrap_or(0);
                let exempted = exempted_by_check.get(check).copied().unwrap_or(0);
                let unknown: Vec<String> = unknown_by_check.remove(check).unwrap_or_default();
                let (status, reason) = match status {
                    // Some subjects were not judged: not a pass, even with findings for the rest.
                    CheckStatus::Evaluated if !unknown.is_empty() => {
                        (CheckOutcome::Unknown, Some(crate::checks::finding::summarise_unknown(&unknown)))
                    }
                    CheckStatus::Evaluated if findings > 0 => (CheckOutcome::Fail, None),
                    CheckStatus::Evaluated => (CheckOutcome::Pass, None),
                    CheckStatus::Unknown(r) => (CheckOutcome::Unknown, Some(r.clone())),
                    CheckStatus::Skipped(r) => (CheckOutcome::Skipped, Some(r.clone())),
                };
                (*check, CheckSummary { status, findings, exempted, reason })
            })
            .collect();
        let summary = Summary {
            users_scanned: evaluation.users_scanned,
            findings: open.clone().count(),
            exempted: evaluation.findings.iter().filter(|f| f.exempted).count(),
            by_severity,
            by_check,
            checks,
            worst: open.map(|f| f.severity).max(),
            api_calls_total: api_calls.values().sum(),
            api_calls,
        };
        Report {
            schema_version: SCHEMA_VERSION,
            run,
            summary,
            findings: evaluation.findings,
            findings_omitted: 0,
            errors,
            warnings: evaluation.warnings,
            unknown: evaluation.unknown_subjects,
            actions: Vec::new(),
            changes: None,
            archive: None,
            page: None,
        }
    }

    /// Checks whose status is `unknown`: the run could not tell whether they pass.
    pub fn unknown_checks(&self) -> Vec<CheckId> {
        self.summary
            .checks
            .iter()
            .filter(|(_, c)| c.status == CheckOutcome::Unknown)
            .map(|(id, _)| *id)
            .collect()
    }

    /// Serialises the report within `max_bytes`, dropping the least severe findings first
    /// (they are sorted worst first) and saying how many were left out.
    pub fn to_json_capped(&mut self, max_bytes: usize) -> serde_json::Result<String> {
        let full = serde_json::to_string(self)?;
        if full.len() <= max_bytes {
            return Ok(full);
        }
        let mut all = std::mem::take(&mut self.findings);
        let total = all.len();
        // The size of the report with the first `k` findings, without serialising it: the
        // findings are an array of their own serialisations joined by commas, and the rest
        // of the report differs between prefixes only in `findings_omitted`, whose size
        // depends on its number of digits alone. Each finding is serialised once.
        let mut prefix = Vec::with_capacity(total + 1);
        prefix.push(0usize);
        for f in &all {
            let len = serde_json::to_string(f)?.len();
            prefix.push(prefix.last().copied().unwrap_or(0) + len);
        }
        let mut rest_by_digits: BTreeMap<usize, usize> = BTreeMap::new();
        let mut size = |report: &mut Report, k: usize| -> serde_json::Result<usize> {
            let omitted = total - k;
            let digits = omitted.to_string().len();
            let rest = match rest_by_digits.get(&digits) {
                Some(rest) => *rest,
                None => {
                    report.findings_omitted = omitted;
                    let rest = serde_json::to_string(report)?.len();
                    rest_by_digits.insert(digits, rest);
                    rest
                }
            };
            Ok(rest + prefix[k] + k.saturating_sub(1))
        };
        // Binary search for the largest prefix of findings that fits (the size grows with
        // the prefix: a finding adds more bytes than `findings_omitted` loses digits).
        let (mut lo, mut hi) = (0usize, total);
        while lo < hi {
            let mid = (lo + hi).div_ceil(2);
            if size(self, mid)? <= max_bytes {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        all.truncate(lo);
        self.findings = all;
        self.findings_omitted = total - lo;
        serde_json::to_string(self)
    }
}
