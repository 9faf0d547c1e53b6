//! The check catalogue: one place that says, for every check, what it flags, why it matters,
//! how to fix it and which benchmark controls it maps to.
//!
//! Prowler keeps this as metadata next to each check; we keep it as data in one table so
//! that the report, the alert and the README all speak from the same text, and so that a
//! new check cannot be added without its rationale and remediation (the match is exhaustive).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::model::Section;

/// How bad a finding is. Ordered from least to most severe so `max()` gives the worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing, not a risk by itself; no check currently uses it.
    Info,
    /// Hygiene: leftovers and drift (an unused setup key, an inactive key, direct policies).
    Low,
    /// A weakness an attacker needs something else to exploit (a leaked key, a guessed password).
    Medium,
    /// Exploitable on its own or a control that is gone; from here up the SNS digest headline counts it.
    High,
    /// Whole-account compromise (the root user).
    Critical,
}

impl Severity {
    /// Worst first, the order the report and the digest list severities in.
    pub const ALL: [Severity; 5] =
        [Severity::Critical, Severity::High, Severity::Medium, Severity::Low, Severity::Info];

    /// The lowercase name serde and the report use.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which part of the inventory a check reads; a check whose data could not be read is
/// `unknown`, never `pass`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataSource {
    /// `GetCredentialReport`: the CSV of every user's password, MFA and key state.
    CredentialReport,
    /// `GetAccountAuthorizationDetails`: users' groups, tags and inline and attached policies.
    Authorization,
    /// `ListVirtualMFADevices`, with the user each device is assigned to, if any.
    VirtualMfaDevices,
    /// `GetAccountSummary`: root's MFA and access-key flags.
    AccountSummary,
    /// `GetAccountPasswordPolicy`; an account without one is data too (the policy is missing).
    PasswordPolicy,
    /// The live per-user reads of a rotation run (keys, last use, tags, stored secret).
    LiveKeys,
}

impl DataSource {
    /// The inventory section this source is, or `None` for the live reads of a rotation run,
    /// which the rotation stage judges itself.
    pub fn section(self) -> Option<Section> {
        match self {
            DataSource::CredentialReport => Some(Section::CredentialReport),
            DataSource::Authorization => Some(Section::Authorization),
            DataSource::VirtualMfaDevices => Some(Section::VirtualMfaDevices),
            DataSource::AccountSummary => Some(Section::AccountSummary),
            DataSource::PasswordPolicy => Some(Section::PasswordPolicy),
            DataSource::LiveKeys => None,
        }
    }
}

/// Whether a check is about the account as a whole or about one user (and maybe one key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Judged once for the account; skipped when the run is scoped to named users.
    Account,
    /// Judged per user (and key slot); a scoped run judges only the users it names.
    User,
}

/// Stable name of a check: its snake_case form is written in reports and `keywarden:exempt` tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckId {
    /// `AccountMFAEnabled` of the account summary is 0.
    RootMfaDisabled,
    /// `AccountAccessKeysPresent` of the account summary is not 0.
    RootAccessKeyPresent,
    /// `password_enabled` with `mfa_active` false in the credential report.
    ConsoleUserWithoutMfa,
    /// An active access key and no MFA device, with no console password ([`CheckId::ConsoleUserWithoutMfa`]).
    UserWithoutMfa,
    /// An active key older than `max_key_age_days`, from `access_key_N_last_rotated` (the key's creation).
    AccessKeyNotRotated,
    /// An active key unused for `unused_days`, or never used and older than that.
    AccessKeyUnused,
    /// A console password unused (or never used and older) for `unused_days`.
    ConsolePasswordUnused,
    /// Both key slots active at once.
    TwoActiveAccessKeys,
    /// A never-used key created within `setup_window_minutes` of its console user (CIS 1.11).
    AccessKeyCreatedAtSetup,
    /// An inactive key kept longer than `inactive_key_max_days`.
    InactiveAccessKeyLingering,
    /// Inline or attached managed policies on the user itself rather than on a group.
    UserHasDirectPolicies,
    /// The user belongs to no IAM group.
    UserInNoGroup,
    /// A virtual MFA device with no user assigned.
    VirtualMfaUnassigned,
    /// The password policy is missing or below [`crate::config::PasswordRequirements`].
    PasswordPolicyWeak,
    /// Raised by the rotation stage from live reads, not by the audit: a due key it cannot rotate unattended.
    RotationBlocked,
    /// Raised by the rotation stage: the old key was still used when the grace period ended.
    RotationHeldKeyInUse,
    /// Needs a desired-state document: a [`crate::desired::Drift::Missing`].
    GroupMembershipMissing,
    /// Needs a desired-state document: a [`crate::desired::Drift::Unexpected`].
    GroupMembershipUnexpected,
    /// The MFA group's policy is absent or differs from the canonical self-service policy.
    SelfServicePolicyDrift,
    /// A statement of the MFA group's policy reaches beyond `${aws:username}`.
    SelfServicePolicyOverbroad,
    /// The user's effective policies allow a sensitive action without MFA.
    UserMfaNotEnforced,
}

/// The fields of [`CheckMeta`] after its id, in order: one row of the catalogue table.
type MetaRow = (
    &'static str,
    Severity,
    Scope,
    &'static str,
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
    &'static [DataSource],
);

/// Everything the report and the alerts say about a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckMeta {
    /// Filled by [`CheckId::meta`] from `self`, not from the table, so a row cannot name the wrong check.
    pub id: CheckId,
    /// Short heading, as the report and the alert print it.
    pub title: &'static str,
    /// Fixed per check: a finding carries this severity, never one it computed.
    pub severity: Severity,
    /// Decides whether a run scoped to some users evaluates the check.
    pub scope: Scope,
    /// Why the finding matters, in one or two sentences for the report.
    pub rationale: &'static str,
    /// What to do about it, naming the console page or API call.
    pub remediation: &'static str,
    /// CIS AWS Foundations Benchmark items (v3.0 numbering).
    pub cis: &'static [&'static str],
    /// AWS Security Hub / Config controls.
    pub security_hub: &'static [&'static str],
    /// What the check needs loaded; if any of it failed, the check is `unknown`, not `pass`.
    pub reads: &'static [DataSource],
}

impl CheckId {
    /// Every check once; [`FromStr`] and the tests walk this list, so a new variant must be added here too.
    pub const ALL: [CheckId; 21] = [
        CheckId::RootMfaDisabled,
        CheckId::RootAccessKeyPresent,
        CheckId::ConsoleUserWithoutMfa,
        CheckId::UserWithoutMfa,
        CheckId::AccessKeyNotRotated,
        CheckId::AccessKeyUnused,
        CheckId::ConsolePasswordUnused,
        CheckId::TwoActiveAccessKeys,
        CheckId::AccessKeyCreatedAtSetup,
        CheckId::InactiveAccessKeyLingering,
        CheckId::UserHasDirectPolicies,
        CheckId::UserInNoGroup,
        CheckId::VirtualMfaUnassigned,
        CheckId::PasswordPolicyWeak,
        CheckId::RotationBlocked,
        CheckId::RotationHeldKeyInUse,
        CheckId::GroupMembershipMissing,
        CheckId::GroupMembershipUnexpected,
        CheckId::SelfServicePolicyDrift,
        CheckId::SelfServicePolicyOverbroad,
        CheckId::UserMfaNotEnforced,
    ];

    /// The id as written in reports, finding ids and the `keywarden:exempt` tag.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckId::RootMfaDisabled => "root_mfa_disabled",
            CheckId::RootAccessKeyPresent => "root_access_key_present",
            CheckId::ConsoleUserWithoutMfa => "console_user_without_mfa",
            CheckId::UserWithoutMfa => "user_without_mfa",
            CheckId::AccessKeyNotRotated => "access_key_not_rotated",
            CheckId::AccessKeyUnused => "access_key_unused",
            CheckId::ConsolePasswordUnused => "console_password_unused",
            CheckId::TwoActiveAccessKeys => "two_active_access_keys",
            CheckId::AccessKeyCreatedAtSetup => "access_key_created_at_setup",
            CheckId::InactiveAccessKeyLingering => "inactive_access_key_lingering",
            CheckId::UserHasDirectPolicies => "user_has_direct_policies",
            CheckId::UserInNoGroup => "user_in_no_group",
            CheckId::VirtualMfaUnassigned => "virtual_mfa_unassigned",
            CheckId::PasswordPolicyWeak => "password_policy_weak",
            CheckId::RotationBlocked => "rotation_blocked",
            CheckId::RotationHeldKeyInUse => "rotation_held_key_in_use",
            CheckId::GroupMembershipMissing => "group_membership_missing",
            CheckId::GroupMembershipUnexpected => "group_membership_unexpected",
            CheckId::SelfServicePolicyDrift => "self_service_policy_drift",
            CheckId::SelfServicePolicyOverbroad => "self_service_policy_overbroad",
            CheckId::UserMfaNotEnforced => "user_mfa_not_enforced",
        }
    }

    /// The catalogue row: every text and mapping the report and the alert say about the check.
    pub fn meta(self) -> CheckMeta {
        use DataSource::*;
        let (title, severity, scope, rationale, remediation, cis, security_hub, reads): MetaRow = match self {
            CheckId::RootMfaDisabled => (
                "Root user has no MFA",
                Severity::Critical,
                Scope::Account,
                "The root user can do anything in the account, including close it; a password alone is one phishing email away.",
                "Sign in as root and assign a hardware or virtual MFA device (IAM > Security credentials > Assign MFA).",
                &["1.5"],
                &["IAM.9"],
                &[AccountSummary],
            ),
            CheckId::RootAccessKeyPresent => (
                "Root user has access keys",
                Severity::Critical,
                Scope::Account,
                "Root access keys cannot be limited by any policy; a leaked one is a full account compromise.",
                "Delete the root user's access keys; use IAM roles or users with scoped policies instead.",
                &["1.4"],
                &["IAM.4"],
                &[AccountSummary],
            ),
            CheckId::ConsoleUserWithoutMfa => (
                "Console user without MFA",
                Severity::High,
                Scope::User,
                "A console password without MFA lets anyone with the password act as the user.",
                "Have the user enrol an MFA device; members of the MFA-enforcing group can do it themselves.",
                &["1.10"],
                &["IAM.5", "IAM.19"],
                &[CredentialReport],
            ),
            CheckId::UserWithoutMfa => (
                "API user without MFA",
                Severity::Medium,
                Scope::User,
                "An access-key user without MFA cannot be held to MFA-conditioned policies; a leaked key is enough. Users without any active credential are not reported.",
                "Enrol an MFA device for the user and require aws:MultiFactorAuthPresent for sensitive actions, or replace the user by a role.",
                &[],
                &["IAM.19"],
                &[CredentialReport],
            ),
            CheckId::AccessKeyNotRotated => (
                "Access key not rotated",
                Severity::Medium,
                Scope::User,
                "The longer a key lives, the more places it has been copied to and the longer a leak stays useful.",
                "Create a new key, move the workload to it, deactivate then delete the old one (keywarden can do this in enforce mode).",
                &["1.14"],
                &["IAM.3"],
                &[CredentialReport],
            ),
            CheckId::AccessKeyUnused => (
                "Access key unused",
                Severity::Medium,
                Scope::User,
                "An active key nobody uses is pure risk; a key never used is judged by its age, with a grace period for new keys.",
                "Deactivate the key, and delete it if nothing breaks.",
                &["1.12"],
                &["IAM.22"],
                &[CredentialReport],
            ),
            CheckId::ConsolePasswordUnused => (
                "Console password unused",
                Severity::Medium,
                Scope::User,
                "A password nobody uses can still be guessed or phished; never-used passwords are judged by their age.",
                "Delete the user's login profile (console password).",
                &["1.12"],
                &["IAM.8", "IAM.22"],
                &[CredentialReport],
            ),
            CheckId::TwoActiveAccessKeys => (
                "Two active access keys",
                Severity::Medium,
                Scope::User,
                "Two live keys double the exposure and usually mean an unfinished rotation.",
                "Finish the rotation: move the workload to the newer key and deactivate the older one.",
                &["1.13"],
                &[],
                &[CredentialReport],
            ),
            CheckId::AccessKeyCreatedAtSetup => (
                "Access key created at user setup",
                Severity::Low,
                Scope::User,
                "Keys created together with a console user and never used are credentials nobody asked for.",
                "Delete the key; let the user create one when they need it.",
                &["1.11"],
                &[],
                &[CredentialReport],
            ),
            CheckId::InactiveAccessKeyLingering => (
                "Inactive access key lingering",
                Severity::Low,
                Scope::User,
                "An inactive key can be re-activated by anyone with iam:UpdateAccessKey; it should be deleted once it is clear nothing needs it.",
                "Delete the inactive key.",
                &[],
                &[],
                &[CredentialReport],
            ),
            CheckId::UserHasDirectPolicies => (
                "User has direct policies",
                Severity::Low,
                Scope::User,
                "Permissions attached to users instead of groups or roles drift and escape review.",
                "Move the user's inline and attached policies to a group and add the user to it.",
                &["1.15"],
                &["IAM.2"],
                &[Authorization],
            ),
            CheckId::UserInNoGroup => (
                "User in no group",
                Severity::Medium,
                Scope::User,
                "A user outside every group is outside the MFA-enforcing group and every group-based control.",
                "Add the user to the groups its role requires, at least the MFA-enforcing self-service group.",
                &[],
                &["iam-user-group-membership-check"],
                &[Authorization],
            ),
            CheckId::VirtualMfaUnassigned => (
                "Virtual MFA device unassigned",
                Severity::Low,
                Scope::Account,
                "A created but unassigned virtual MFA device blocks its user from enrolling again under the same name.",
                "Delete the unassigned virtual MFA device (iam delete-virtual-mfa-device).",
                &[],
                &[],
                &[VirtualMfaDevices],
            ),
            CheckId::PasswordPolicyWeak => (
                "Password policy weak or missing",
                Severity::Medium,
                Scope::Account,
                "Without a strong policy users may choose short or reused passwords.",
                "Set an account password policy: minimum length 14, prevent reuse of 24, require all character classes.",
                &["1.8", "1.9"],
                &["IAM.7", "IAM.15", "IAM.16"],
                &[PasswordPolicy],
            ),
            CheckId::RotationBlocked => (
                "Key rotation blocked",
                Severity::Medium,
                Scope::User,
                "A key is due for rotation but keywarden cannot rotate it without a human (two keys, an unknown key, a damaged record), so it keeps ageing.",
                "Read the reason in the finding; usually delete the unused one of two keys, then let keywarden rotate.",
                &["1.14"],
                &["IAM.3"],
                &[LiveKeys],
            ),
            CheckId::RotationHeldKeyInUse => (
                "Old key still in use after rotation",
                Severity::High,
                Scope::User,
                "keywarden created a new key, but the old one was still used at the end of the grace period; it stays active until the workload moves.",
                "Move the workload to the new key stored in Secrets Manager (keywarden/<user>); keywarden deactivates the old key on the first run after it goes quiet.",
                &["1.14"],
                &["IAM.3"],
                &[LiveKeys],
            ),
            CheckId::GroupMembershipMissing => (
                "User missing from a required group",
                Severity::High,
                Scope::User,
                "A user outside a group the desired state requires (such as the MFA-enforcing SelfEdit group) escapes the control that group carries.",
                "Add the user to the group, or change the desired-state document if the requirement is wrong.",
                &[],
                &["iam-user-group-membership-check"],
                &[Authorization],
            ),
            CheckId::GroupMembershipUnexpected => (
                "User in a group it should not be in",
                Severity::High,
                Scope::User,
                "Membership of a restricted (often privileged) group that the desired state does not grant is privilege drift.",
                "Remove the user from the group, or add them to its list in the desired-state document after review.",
                &[],
                &[],
                &[Authorization],
            ),
            CheckId::SelfServicePolicyDrift => (
                "Self-service MFA policy missing or changed",
                Severity::High,
                Scope::Account,
                "The MFA-enforcing group is the control that keeps every user to MFA; if its policy is gone or edited, members may work without MFA or lose the right to set it up.",
                "Attach the canonical self-service policy (keywarden's policies/self-service.json, deployed by the CDK stack) to the group, or revert the edits the finding lists.",
                &[],
                &[],
                &[Authorization],
            ),
            CheckId::SelfServicePolicyOverbroad => (
                "Self-service policy reaches other users' credentials",
                Severity::High,
                Scope::Account,
                "A self-service statement whose resource is not scoped to ${aws:username} lets any member delete, replace or read another user's MFA device, keys or password.",
                "Scope the statement's resources to arn:aws:iam::*:user/${aws:username} or arn:aws:iam::*:mfa/${aws:username}, as the canonical policy does.",
                &[],
                &[],
                &[Authorization],
            ),
            CheckId::UserMfaNotEnforced => (
                "MFA not enforced by the user's policies",
                Severity::High,
                Scope::User,
                "The user's own, group and attached policies allow a sensitive action without MFA, so a leaked password or access key is enough to use it.",
                "Add the user to the MFA-enforcing group (its deny covers everything but MFA set-up), or add an explicit deny with BoolIfExists aws:MultiFactorAuthPresent false.",
                &[],
                &["IAM.19"],
                &[Authorization],
            ),
        };
        CheckMeta { id: self, title, severity, scope, rationale, remediation, cis, security_hub, reads }
    }
}

impl fmt::Display for CheckId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CheckId {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CheckId::ALL.into_iter().find(|c| c.as_str() == s).ok_or_else(|| format!("unknown check id `{s}`"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_text_and_serde() {
        for id in CheckId::ALL {
            assert_eq!(id.as_str().parse::<CheckId>(), Ok(id));
            let json = serde_json::to_string(&id).expect("serialize");
            assert_eq!(json, format!("\"{}\"", id.as_str()));
            assert_eq!(id.meta().id, id);
        }
    }

    #[test]
    fn every_check_has_rationale_remediation_and_data() {
        for id in CheckId::ALL {
            let m = id.meta();
            assert!(!m.title.is_empty() && !m.rationale.is_empty() && !m.remediation.is_empty(), "{id}");
            assert!(!m.reads.is_empty(), "{id} reads nothing");
        }
    }

    #[test]
    fn severities_order_worst_last() {
        assert!(Severity::Critical > Severity::High && Severity::Low > Severity::Info);
        assert_eq!(CheckId::RootMfaDisabled.meta().severity, Severity::Critical);
        assert_eq!(CheckId::ConsoleUserWithoutMfa.meta().severity, Severity::High);
    }
}
