//! The leaf of the checks: what a check produces ([`Finding`], [`SubjectUnknown`]), what
//! became of each check ([`CheckStatus`], [`Evaluation`]) and the one order findings are
//! kept in. Every other module of the core that reads findings (the report, the rotation
//! findings, the digest downstream) imports them from here, and this module imports no
//! check, so the graph stays one-way.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::catalogue::{CheckId, CheckMeta, Severity};
use crate::credential_report::KeySlot;

/// One thing wrong with one resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// The check that raised it; with `resource` and the key, it makes [`Finding::id`].
    pub check: CheckId,
    /// Copied from the catalogue ([`CheckMeta::severity`]) when the finding is made.
    pub severity: Severity,
    /// The IAM user, for user-level checks.
    pub user: Option<String>,
    /// The user's ARN, an MFA device serial, or `account`.
    pub resource: String,
    /// Known after the live `ListAccessKeys`; the credential report alone has no key ids.
    pub access_key_id: Option<String>,
    /// 1 or 2, the credential report's slot, for findings about one key.
    pub key_slot: Option<u8>,
    /// The key's creation (`access_key_N_last_rotated`); in [`Finding::id`] so the id survives renumbering.
    pub key_created: Option<DateTime<Utc>>,
    /// One sentence for a human, with the numbers that triggered it (ages, limits).
    pub message: String,
    /// Exempted findings are reported, never dropped, and not counted as open.
    pub exempted: bool,
    /// Why the finding is exempted (an exempt group or the `keywarden:exempt` tag); `None` if it is not.
    pub exemption: Option<String>,
}

/// One subject (a user, or a resource) that a check which ran could not judge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubjectUnknown {
    /// The check that could not judge the subject.
    pub check: CheckId,
    /// `None` for an account-level subject.
    pub user: Option<String>,
    /// The user's ARN, or the resource, as in [`Finding::resource`].
    pub resource: String,
    /// Why it could not be judged, for the report.
    pub reason: String,
}

impl Finding {
    /// What the finding is about beyond its user, for a table: the key (by id, or by slot
    /// and creation day when only the credential report saw it), or the resource of a
    /// finding that is not about one user's credentials. A user's own ARN is left out: it
    /// would only repeat the user's name.
    pub fn key_or_resource(&self) -> String {
        match (&self.access_key_id, self.key_slot) {
            (Some(id), _) => id.clone(),
            (None, Some(slot)) => match self.key_created {
                Some(created) => format!("key {slot} (created {})", created.format("%Y-%m-%d")),
                None => format!("key {slot}"),
            },
            (None, None) if self.user.is_some() && self.resource.contains(":user/") => String::new(),
            (None, None) => self.resource.clone(),
        }
    }

    /// A stable identity across runs, so a digest can say what is new and what was resolved.
    /// A key is named by its user and its creation time, which the credential report gives
    /// without any per-user call: the id neither depends on whether a live read attached the
    /// key id nor changes when a rotation deletes key 1 and the report renumbers key 2 as 1.
    /// Findings that exist only with a key id (the rotation checks) use it.
    pub fn id(&self) -> String {
        match (self.key_created, &self.access_key_id) {
            (Some(created), _) => format!(
                "{}:{}:key-created-{}",
                self.check,
                self.resource,
                created.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
            (None, Some(key)) => format!("{}:{}:{key}", self.check, self.resource),
            (None, None) => format!("{}:{}", self.check, self.resource),
        }
    }
}

/// What became of a check in this run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "status", content = "reason")]
pub enum CheckStatus {
    /// The check ran on complete data.
    Evaluated,
    /// The check could not run: some data it needs failed to load.
    Unknown(String),
    /// The check was not asked for (an account-level check in a run scoped to some users).
    Skipped(String),
}

/// The audit's output before live reads, rotation and the report: [`crate::checks::evaluate`] returns it.
#[derive(Debug, Clone, Default)]
pub struct Evaluation {
    /// Sorted by [`sort_findings`]; exempted findings included.
    pub findings: Vec<Finding>,
    /// One entry per check of the catalogue, so an absent check never reads as `pass`.
    pub statuses: BTreeMap<CheckId, CheckStatus>,
    /// Distinct in-scope users of the credential report and the authorization details, root not counted.
    pub users_scanned: usize,
    /// Things a human should know that are not read errors (e.g. an exemption tag that names
    /// no known check).
    pub warnings: Vec<String>,
    /// Subjects a check that ran could not judge (a user newer than the credential report):
    /// the check is `unknown`, not `pass`, and their earlier findings are not "resolved".
    pub unknown_subjects: Vec<SubjectUnknown>,
    /// Users inside keywarden's own grace period, with the record's (old, new) key ids.
    /// Their `two_active_access_keys` finding stands until a live read shows that their two
    /// active keys are exactly these two ([`apply_live`](crate::checks::apply_live)).
    pub grace_pairs: BTreeMap<String, (String, String)>,
    /// Whether the policy asked for live confirmation of every flagged user
    /// ([`AuditPolicy::live_confirmation`](crate::config::AuditPolicy::live_confirmation)).
    pub live_confirmation: bool,
}

/// One line for a check that could not judge some entities: the count and the first few.
pub(crate) fn summarise_unknown(reasons: &[String]) -> String {
    const SHOWN: usize = 3;
    match reasons {
        [one] => one.clone(),
        _ => {
            let mut s = format!(
                "{} could not be judged: {}",
                reasons.len(),
                reasons[..reasons.len().min(SHOWN)].join("; ")
            );
            if reasons.len() > SHOWN {
                s.push_str(&format!("; and {} more", reasons.len() - SHOWN));
            }
            s
        }
    }
}

/// Worst first, then by check, user and key slot, so reports diff cleanly between runs.
pub fn sort_findings(findings: &mut [Finding]) {
    let order = |a: &Finding, b: &Finding| {
        b.severity
            .cmp(&a.severity)
            .then(a.check.cmp(&b.check))
            .then(a.user.cmp(&b.user))
            .then(a.key_slot.cmp(&b.key_slot))
            .then(a.resource.cmp(&b.resource))
    };
    // The report and the Lambda sort again what the evaluation sorted: one pass says so.
    if findings.windows(2).all(|w| order(&w[0], &w[1]).is_le()) {
        return;
    }
    // Users are ranked once (each distinct name compared with the others, not every pair
    // of findings), and positions are sorted, not findings: a finding is a dozen words,
    // and the sort's comparisons are then of small integers. Stable like `sort_by`.
    let mut names: Vec<&str> =
        findings.iter().filter_map(|f| f.user.as_deref()).collect::<HashSet<&str>>().into_iter().collect();
    names.sort_unstable();
    let rank: HashMap<&str, usize> = names.into_iter().enumerate().map(|(i, n)| (n, i)).collect();
    let keys: Vec<_> = findings
        .iter()
        .map(|f| {
            (
                std::cmp::Reverse(f.severity),
                f.check,
                f.user.as_deref().and_then(|u| rank.get(u).copied()),
                f.key_slot,
            )
        })
        .collect();
    let mut by: Vec<usize> = (0..findings.len()).collect();
    by.sort_by(|&a, &b| keys[a].cmp(&keys[b]).then_with(|| findings[a].resource.cmp(&findings[b].resource)));
    permute(findings, &mut by);
}

/// Reorders `items` so that position `i` holds what was at `from[i]`, following each
/// cycle of the permutation once (`from` is consumed: it marks the positions done).
fn permute<T>(items: &mut [T], from: &mut [usize]) {
    for start in 0..items.len() {
        let mut at = start;
        while from[at] != usize::MAX {
            let next = from[at];
            from[at] = usize::MAX;
            if next == start {
                break;
            }
            items.swap(at, next);
            at = next;
        }
    }
}

pub(crate) fn account_finding(check: CheckId, resource: &str, message: String) -> Finding {
    let meta: CheckMeta = check.meta();
    Finding {
        check,
        severity: meta.severity,
        user: None,
        resource: resource.to_string(),
        access_key_id: None,
        key_slot: None,
        key_created: None,
        message,
        exempted: false,
        exemption: None,
    }
}

pub(crate) fn user_finding(
    check: CheckId,
    user: &str,
    arn: &str,
    key: Option<&KeySlot>,
    message: String,
) -> Finding {
    Finding {
        check,
        severity: check.meta().severity,
        user: Some(user.to_string()),
        resource: arn.to_string(),
        access_key_id: None,
        key_slot: key.map(|k| k.slot),
        key_created: key.and_then(|k| k.last_rotated.at()),
        message,
        exempted: false,
        exemption: None,
    }
}
