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

pub const SCHEMA_VERSION: u32 = 1;

/// What the run did, in the order a reader asks: which run, about what, how bad.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub schema_version: u32,
    pub run_id: String,
    /// `unknown` when the account id itself could not be read.
    pub account_id: String,
    pub action: String,
    pub mode: RotationMode,
    pub generated_at: DateTime<Utc>,
    /// When AWS generated the credential report the findings are based on (up to 4 hours
    /// older than `generated_at`); `None` when it could not be read.
    pub data_as_of: Option<DateTime<Utc>>,
    pub summary: Summary,
    pub findings: Vec<Finding>,
    /// Findings left out to keep the response under the size cap (the worst are kept).
    pub findings_omitted: usize,
    pub errors: Vec<ReadFailure>,
    pub warnings: Vec<String>,
    /// Subjects of checks that ran but could not judge them; each makes its check `unknown`.
    #[serde(default)]
    pub unknown: Vec<SubjectUnknown>,
    /// Rotation steps planned or taken in this run (empty when rotation did not run).
    #[serde(default)]
    pub actions: Vec<Action>,
    /// Since the previous archived run; `None` when there is no archive to compare with.
    #[serde(default)]
    pub changes: Option<Changes>,
    /// Where the full report was archived (`s3://bucket/key`), when it was.
    #[serde(default)]
    pub archive: Option<String>,
}

/// What changed since the previous archived run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changes {
    /// The run compared against.
    pub previous_run_id: String,
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
            previous_run_id: previous.run_id.clone(),
            previous_generated_at: previous.generated_at,
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
        let ran = self
            .report
            .summary
            .checks
            .get(&finding.check)
            .is_some_and(|c| matches!(c.status.as_str(), "pass" | "fail"));
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
    Done,
    Failed,
    /// Not started: the invocation was running out of time. The next run carries it out.
    Deferred,
}

/// One rotation step for one user. Never carries a secret: key ids and the secret's ARN only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Action {
    pub user: String,
    pub step: String,
    pub reason: String,
    pub status: ActionStatus,
    pub old_key_id: Option<String>,
    pub new_key_id: Option<String>,
    pub secret_arn: Option<String>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckSummary {
    /// `pass`, `fail`, `unknown` or `skipped`.
    pub status: String,
    pub findings: usize,
    pub exempted: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub users_scanned: usize,
    /// Open (not exempted) findings.
    pub findings: usize,
    pub exempted: usize,
    pub by_severity: BTreeMap<Severity, usize>,
    pub by_check: BTreeMap<CheckId, usize>,
    pub checks: BTreeMap<CheckId, CheckSummary>,
    /// The worst severity among open findings.
    pub worst: Option<Severity>,
    pub api_calls: BTreeMap<String, u64>,
    pub api_calls_total: u64,
}

/// The facts about a run that are not findings.
#[derive(Debug, Clone)]
pub struct RunInfo {
    pub run_id: String,
    pub account_id: String,
    pub action: String,
    pub mode: RotationMode,
    pub generated_at: DateTime<Utc>,
    pub data_as_of: Option<DateTime<Utc>>,
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
                        ("unknown", Some(crate::checks::finding::summarise_unknown(&unknown)))
                    }
                    CheckStatus::Evaluated if findings > 0 => ("fail", None),
                    CheckStatus::Evaluated => ("pass", None),
                    CheckStatus::Unknown(r) => ("unknown", Some(r.clone())),
                    CheckStatus::Skipped(r) => ("skipped", Some(r.clone())),
                };
                (*check, CheckSummary { status: status.into(), findings, exempted, reason })
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
            run_id: run.run_id,
            account_id: run.account_id,
            action: run.action,
            mode: run.mode,
            generated_at: run.generated_at,
            data_as_of: run.data_as_of,
            summary,
            findings: evaluation.findings,
            findings_omitted: 0,
            errors,
            warnings: evaluation.warnings,
            unknown: evaluation.unknown_subjects,
            actions: Vec::new(),
            changes: None,
            archive: None,
        }
    }

    /// Checks whose status is `unknown`: the run could not tell whether they pass.
    pub fn unknown_checks(&self) -> Vec<CheckId> {
        self.summary.checks.iter().filter(|(_, c)| c.status == "unknown").map(|(id, _)| *id).collect()
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
