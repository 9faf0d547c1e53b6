//! The group checks: policies of a user's own (not through a group), membership drift
//! from the desired state, and users in no group.

use crate::catalogue::CheckId;
use crate::config::AuditPolicy;
use crate::desired::Drift;
use crate::model::Authorization;

use super::finding::{user_finding, Finding};
use super::scope::UserScope;

/// Each user in scope against their attachments and memberships.
pub(super) fn check(
    auth: &Authorization,
    policy: &AuditPolicy,
    scope: &UserScope,
    evaluated: &dyn Fn(CheckId) -> bool,
    findings: &mut Vec<Finding>,
) {
    for user in auth.users.values().filter(|u| scope.includes(&u.name)) {
        if evaluated(CheckId::UserHasDirectPolicies)
            && (!user.inline_policies.is_empty() || !user.attached_policies.is_empty())
        {
            let mut parts = Vec::new();
            if !user.inline_policies.is_empty() {
                parts.push(format!("inline {}", user.inline_policies.join(", ")));
            }
            if !user.attached_policies.is_empty() {
                parts.push(format!("attached {}", user.attached_policies.join(", ")));
            }
            findings.push(user_finding(
                CheckId::UserHasDirectPolicies,
                &user.name,
                &user.arn,
                None,
                format!("{} has policies of its own: {}", user.name, parts.join("; ")),
            ));
        }
        if let Some(desired) = &policy.desired {
            for drift in desired.drift(&user.name, &user.groups) {
                let (check, group, message) = match drift {
                    Drift::Missing { group, .. } => (
                        CheckId::GroupMembershipMissing,
                        group.clone(),
                        format!("{} is not in {group}, which every user must be in", user.name),
                    ),
                    Drift::Unexpected { group, why, .. } => (
                        CheckId::GroupMembershipUnexpected,
                        group.clone(),
                        format!("{} is in {group}: {why}", user.name),
                    ),
                };
                if evaluated(check) {
                    // One finding per user and group, so the id names the group.
                    let resource = format!("{} group {group}", user.arn);
                    findings.push(user_finding(check, &user.name, &resource, None, message));
                }
            }
        }
        if evaluated(CheckId::UserInNoGroup) && user.groups.is_empty() {
            findings.push(user_finding(
                CheckId::UserInNoGroup,
                &user.name,
                &user.arn,
                None,
                format!("{} belongs to no group", user.name),
            ));
        }
    }
}
