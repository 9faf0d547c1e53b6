//! The rotation checks (`rotation_blocked`, `rotation_held_key_in_use`): judged from the
//! planner's step for each candidate, after the live read, so they are folded into the
//! evaluation once the rotation stage has run rather than in [`super::evaluate`].

use std::collections::BTreeSet;

use crate::catalogue::CheckId;
use crate::rotation::{HoldCause, LiveKey, Step};

use super::finding::{sort_findings, CheckStatus, Evaluation, Finding};

/// The finding a planned step raises: a rotation that needs a human, or a held key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationFinding {
    /// The finding itself, about the user's old key.
    pub finding: Finding,
    /// A hold whose two active keys are exactly the record's: the held finding says, with
    /// the reason, what the user's `two_active_access_keys` finding would say without one,
    /// so it replaces it.
    pub replaces_two_active: bool,
}

impl RotationFinding {
    /// The finding `step` raises for `user` (ARN `arn`), given the keys IAM shows now;
    /// `None` for a step that needs nobody's attention.
    pub fn of(user: &str, arn: &str, step: &Step, keys: &[LiveKey]) -> Option<Self> {
        let (check, message) = match step {
            Step::Blocked { reason } => {
                (CheckId::RotationBlocked, format!("rotation of {user}'s key is blocked: {reason}"))
            }
            Step::Hold { old, cause: HoldCause::InUse, last_used, .. } => (
                CheckId::RotationHeldKeyInUse,
                format!(
                    "old key {old} of {user} was used at {} after its grace period; both keys stay active",
                    last_used.map(|t| t.to_rfc3339()).unwrap_or_else(|| "an unknown time".into())
                ),
            ),
            Step::Hold { old, new, cause: HoldCause::HumanReactivated, .. } => (
                CheckId::RotationHeldKeyInUse,
                format!(
                    "old key {old} of {user} was re-activated by a human after keywarden deactivated it; keywarden will not deactivate or delete it again. To end the hold, move the workload to {new} and deactivate or delete {old} yourself"
                ),
            ),
            _ => return None,
        };
        let (old, _) = step.key_ids();
        let finding = Finding {
            check,
            severity: check.meta().severity,
            user: Some(user.to_string()),
            resource: arn.to_string(),
            access_key_id: old.map(str::to_string),
            key_slot: None,
            key_created: None,
            message,
            exempted: false,
            exemption: None,
        };
        // Only when IAM shows exactly the record's two keys active.
        let replaces_two_active = match step {
            Step::Hold { old, new, .. } => {
                let active: BTreeSet<&str> =
                    keys.iter().filter(|k| k.active).map(|k| k.id.as_str()).collect();
                active == BTreeSet::from([old.as_str(), new.as_str()])
            }
            _ => false,
        };
        Some(RotationFinding { finding, replaces_two_active })
    }
}

/// How much of the rotation the run could judge, which decides the rotation checks' status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RotationCoverage {
    /// Every candidate was read and the candidates themselves are known.
    Complete,
    /// These users' live keys were not read (a failed read, or deferred at the deadline).
    Unread(Vec<String>),
    /// The credential report could not be read, so users due for their first rotation are
    /// unknown; only users with a rotation record were checked.
    CandidatesUnknown,
}

impl RotationCoverage {
    /// The rotation checks pass only when every candidate was read and the candidates
    /// themselves are known; otherwise they are unknown, with the reason.
    fn status(&self) -> CheckStatus {
        match self {
            RotationCoverage::Complete => CheckStatus::Evaluated,
            RotationCoverage::Unread(users) => {
                let named: Vec<&str> = users.iter().take(3).map(String::as_str).collect();
                let more =
                    if users.len() > 3 { format!(" and {} more", users.len() - 3) } else { String::new() };
                CheckStatus::Unknown(format!(
                    "the live keys of {}{more} were not read (see errors and actions)",
                    named.join(", ")
                ))
            }
            RotationCoverage::CandidatesUnknown => CheckStatus::Unknown(
                "the credential report could not be read, so users due for their first rotation are unknown; only users with a rotation record were checked"
                    .into(),
            ),
        }
    }
}

impl Evaluation {
    /// Folds the rotation stage's findings in: a held pair's finding replaces the user's
    /// `two_active_access_keys`, the rotation checks get their status from `coverage`, and
    /// the findings are put back in their one order.
    pub fn fold_rotation(&mut self, findings: Vec<RotationFinding>, coverage: &RotationCoverage) {
        for RotationFinding { finding, replaces_two_active } in findings {
            if replaces_two_active {
                self.findings
                    .retain(|f| !(f.check == CheckId::TwoActiveAccessKeys && f.user == finding.user));
            }
            self.findings.push(finding);
        }
        let status = coverage.status();
        for check in [CheckId::RotationBlocked, CheckId::RotationHeldKeyInUse] {
            self.statuses.insert(check, status.clone());
        }
        sort_findings(&mut self.findings);
    }
}
