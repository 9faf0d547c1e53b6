//! The checks, through the crate's public API.
//!
//! Every test starts from an account where every check passes ([`inventory`] over
//! [`console_user`] / [`api_user`] rows) and breaks one thing, so asserting the exact set of
//! checks that fired also proves that no other check misfires. Time is the fixed
//! [`fixtures::now`]; nothing here reads the clock.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use keywarden_core::catalogue::{DataSource, Scope};
use keywarden_core::checks::{
    apply_live, evaluate, live_request, sort_findings, CheckStatus, Evaluation, UserScope, EXEMPT_TAG,
};
use keywarden_core::credential_report::{CredentialRow, KeySlot, ReportTime, ROOT_ACCOUNT_ROW};
use keywarden_core::fixtures::{
    self, authorization_with_self_service, days_ago, group_arn, mfa_arn, now, user_arn as arn,
    ACCOUNT_ID as ACCOUNT, MFA_GROUP,
};
use keywarden_core::model::{
    AccessKeyMeta, AccountSummary, GroupDetail, LiveDetails, ManagedPolicy, PasswordPolicy, UserDetail,
    VirtualMfaDevice,
};
use keywarden_core::policy::CANONICAL_SELF_SERVICE;
use keywarden_core::{AuditPolicy, CheckId, CredentialReport, Finding, Inventory, ReadFailure};

const SECOND: Duration = Duration::seconds(1);

// ---------------------------------------------------------------------------------------------
// Builders
// ---------------------------------------------------------------------------------------------

fn at(t: DateTime<Utc>) -> ReportTime {
    ReportTime::At(t)
}

fn empty_slot(slot: u8) -> KeySlot {
    KeySlot {
        slot,
        active: false,
        last_rotated: ReportTime::NotApplicable,
        last_used: ReportTime::NotApplicable,
    }
}

fn active_key(slot: u8, created: DateTime<Utc>, last_used: ReportTime) -> KeySlot {
    KeySlot { slot, active: true, last_rotated: at(created), last_used }
}

fn inactive_key(slot: u8, created: DateTime<Utc>, last_used: ReportTime) -> KeySlot {
    KeySlot { slot, active: false, last_rotated: at(created), last_used }
}

/// A console user who does everything right: MFA, password used yesterday, no access keys.
fn console_user(name: &str) -> CredentialRow {
    CredentialRow {
        user: name.to_string(),
        arn: arn(name),
        user_creation_time: at(days_ago(400)),
        password_enabled: Some(true),
        password_last_used: at(days_ago(1)),
        password_last_changed: at(days_ago(30)),
        mfa_active: true,
        keys: [empty_slot(1), empty_slot(2)],
    }
}

/// An API-only user who does everything right: no password, MFA, one young key used yesterday.
fn api_user(name: &str) -> CredentialRow {
    CredentialRow {
        user: name.to_string(),
        arn: arn(name),
        user_creation_time: at(days_ago(400)),
        password_enabled: Some(false),
        password_last_used: ReportTime::NotApplicable,
        password_last_changed: ReportTime::NotApplicable,
        mfa_active: true,
        keys: [active_key(1, days_ago(10), at(days_ago(1))), empty_slot(2)],
    }
}

fn with(mut row: CredentialRow, change: impl FnOnce(&mut CredentialRow)) -> CredentialRow {
    change(&mut row);
    row
}

/// The root row as AWS writes it; here with MFA, a password used recently and no keys.
fn root_row() -> CredentialRow {
    CredentialRow {
        user: ROOT_ACCOUNT_ROW.to_string(),
        arn: format!("arn:aws:iam::{ACCOUNT}:root"),
        user_creation_time: at(days_ago(2000)),
        password_enabled: None,
        password_last_used: at(days_ago(3)),
        password_last_changed: ReportTime::NotSupported,
        mfa_active: true,
        keys: [empty_slot(1), empty_slot(2)],
    }
}

/// Exactly what the default policy asks for.
fn strong_password_policy() -> PasswordPolicy {
    PasswordPolicy {
        minimum_length: 14,
        require_symbols: true,
        require_numbers: true,
        require_uppercase: true,
        require_lowercase: true,
        reuse_prevention: Some(24),
        max_age_days: None,
    }
}

/// An account where every check passes for these credential rows: each user is in the MFA
/// group with no policies of its own, every virtual MFA device is assigned, root has MFA and
/// no keys, and the password policy is exactly as strong as required.
fn inventory(rows: Vec<CredentialRow>) -> Inventory {
    let authorization =
        authorization_with_self_service(rows.iter().map(|r| fixtures::user(&r.user, &[MFA_GROUP])));
    let devices = rows
        .iter()
        .map(|r| VirtualMfaDevice {
            serial_number: mfa_arn(&r.user),
            user: Some(r.user.clone()),
            enable_date: Some(days_ago(100)),
        })
        .collect();
    let report =
        CredentialReport { generated_at: now() - Duration::hours(3), root: Some(root_row()), users: rows };
    Inventory {
        virtual_mfa_devices: Ok(devices),
        password_policy: Ok(Some(strong_password_policy())),
        ..fixtures::inventory(report, authorization)
    }
}

fn user_mut<'a>(inv: &'a mut Inventory, name: &str) -> &'a mut UserDetail {
    inv.authorization
        .as_mut()
        .expect("the test inventory's authorization was read")
        .users
        .get_mut(name)
        .expect("the user is in the test inventory")
}

fn tag(inv: &mut Inventory, user: &str, value: &str) {
    user_mut(inv, user).tags.insert(EXEMPT_TAG.to_string(), value.to_string());
}

fn failure(operation: &str) -> ReadFailure {
    ReadFailure::new(operation, Some("AccessDenied".into()), "not authorized to perform this action")
}

fn run(inv: &Inventory) -> Evaluation {
    evaluate(inv, &AuditPolicy::default(), &UserScope::All, now())
}

fn run_with(inv: &Inventory, policy: &AuditPolicy) -> Evaluation {
    evaluate(inv, policy, &UserScope::All, now())
}

fn fired(ev: &Evaluation) -> BTreeSet<CheckId> {
    ev.findings.iter().map(|f| f.check).collect()
}

fn of(ev: &Evaluation, check: CheckId) -> Vec<&Finding> {
    ev.findings.iter().filter(|f| f.check == check).collect()
}

/// Asserts that `check` is the only check that fired, exactly once, and returns its finding.
fn single(ev: &Evaluation, check: CheckId) -> &Finding {
    assert_eq!(fired(ev), BTreeSet::from([check]), "findings: {:#?}", ev.findings);
    let found = of(ev, check);
    assert_eq!(found.len(), 1, "findings: {:#?}", ev.findings);
    found[0]
}

fn assert_clean(ev: &Evaluation) {
    assert!(ev.findings.is_empty(), "expected no findings, got {:#?}", ev.findings);
}

/// The checks `evaluate` judges without extra configuration: the rotation checks are
/// judged by the rotation step, the drift checks need a desired state (tested below).
fn audit_checks() -> impl Iterator<Item = CheckId> {
    CheckId::ALL.into_iter().filter(|c| !c.meta().reads.contains(&DataSource::LiveKeys) && !is_drift(*c))
}

fn is_drift(c: CheckId) -> bool {
    matches!(c, CheckId::GroupMembershipMissing | CheckId::GroupMembershipUnexpected)
}

#[test]
fn drift_checks_are_skipped_without_a_desired_state_and_judged_with_one() {
    let mut inv = inventory(vec![console_user("alice"), api_user("robot")]);
    let ev = run(&inv);
    for check in [CheckId::GroupMembershipMissing, CheckId::GroupMembershipUnexpected] {
        assert!(matches!(ev.statuses.get(&check), Some(CheckStatus::Skipped(_))), "{check}");
    }
    user_mut(&mut inv, "robot").groups.insert("Admins".into());
    let desired = keywarden_core::desired::DesiredState::parse(&format!(
        r#"{{"required_for_all": ["{MFA_GROUP}", "Auditors"], "restricted": {{"Admins": ["alice"]}}}}"#
    ))
    .expect("valid desired state");
    let policy = AuditPolicy { desired: Some(desired), ..AuditPolicy::default() };
    let ev = evaluate(&inv, &policy, &UserScope::All, now());
    let mut got: Vec<(CheckId, Option<String>, String)> = ev
        .findings
        .iter()
        .filter(|f| is_drift(f.check))
        .map(|f| (f.check, f.user.clone(), f.message.clone()))
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            (
                CheckId::GroupMembershipMissing,
                Some("alice".into()),
                "alice is not in Auditors, which every user must be in".into()
            ),
            (
                CheckId::GroupMembershipMissing,
                Some("robot".into()),
                "robot is not in Auditors, which every user must be in".into()
            ),
            (
                CheckId::GroupMembershipUnexpected,
                Some("robot".into()),
                "robot is in Admins: not on the group's list of allowed members".into()
            ),
        ]
    );
    let ids: std::collections::BTreeSet<String> = ev.findings.iter().map(|f| f.id()).collect();
    assert_eq!(ids.len(), ev.findings.len(), "each finding has its own id");
}

#[test]
fn rotation_checks_are_skipped_by_the_audit_alone() {
    let ev = run(&everything_wrong());
    for check in [CheckId::RotationBlocked, CheckId::RotationHeldKeyInUse] {
        assert!(matches!(ev.statuses.get(&check), Some(CheckStatus::Skipped(_))), "{check}");
        assert!(of(&ev, check).is_empty());
    }
}

fn only(users: &[&str]) -> UserScope {
    UserScope::Only(users.iter().map(|u| u.to_string()).collect())
}

// ---------------------------------------------------------------------------------------------
// Every check: one violating case, one compliant near miss
// ---------------------------------------------------------------------------------------------

/// An account that violates exactly `check` (the match is exhaustive: a new check cannot be
/// added to the catalogue without a test case here).
fn violation(check: CheckId) -> Inventory {
    match check {
        CheckId::GroupMembershipMissing | CheckId::GroupMembershipUnexpected => {
            unreachable!("{check} needs a desired state; see the drift test")
        }
        CheckId::RotationBlocked | CheckId::RotationHeldKeyInUse => {
            unreachable!("{check} is judged by the rotation step, not by evaluate")
        }
        CheckId::RootMfaDisabled => {
            let mut inv = inventory(vec![console_user("alice")]);
            inv.account_summary =
                Ok(AccountSummary { root_mfa_enabled: false, root_access_keys_present: false });
            inv
        }
        CheckId::RootAccessKeyPresent => {
            let mut inv = inventory(vec![console_user("alice")]);
            inv.account_summary =
                Ok(AccountSummary { root_mfa_enabled: true, root_access_keys_present: true });
            inv
        }
        CheckId::ConsoleUserWithoutMfa => {
            inventory(vec![with(console_user("alice"), |r| r.mfa_active = false)])
        }
        CheckId::UserWithoutMfa => inventory(vec![with(api_user("robot"), |r| r.mfa_active = false)]),
        CheckId::AccessKeyNotRotated => inventory(vec![with(api_user("robot"), |r| {
            r.keys[0] = active_key(1, days_ago(120), at(days_ago(1)));
        })]),
        CheckId::AccessKeyUnused => inventory(vec![with(api_user("robot"), |r| {
            r.keys[0] = active_key(1, days_ago(60), at(days_ago(50)));
        })]),
        CheckId::ConsolePasswordUnused => {
            inventory(vec![with(console_user("alice"), |r| r.password_last_used = at(days_ago(60)))])
        }
        CheckId::TwoActiveAccessKeys => inventory(vec![with(api_user("robot"), |r| {
            r.keys[1] = active_key(2, days_ago(5), at(days_ago(1)));
        })]),
        CheckId::AccessKeyCreatedAtSetup => inventory(vec![with(console_user("alice"), |r| {
            r.user_creation_time = at(days_ago(10));
            r.password_last_changed = at(days_ago(10));
            r.keys[0] = active_key(1, days_ago(10) + Duration::minutes(5), ReportTime::NotApplicable);
        })]),
        CheckId::InactiveAccessKeyLingering => inventory(vec![with(api_user("robot"), |r| {
            r.keys[1] = inactive_key(2, days_ago(200), at(days_ago(100)));
        })]),
        CheckId::UserHasDirectPolicies => {
            let mut inv = inventory(vec![console_user("alice")]);
            user_mut(&mut inv, "alice").inline_policies.push("alice-admin".into());
            inv
        }
        CheckId::UserInNoGroup => {
            let mut inv = inventory(vec![console_user("alice")]);
            user_mut(&mut inv, "alice").groups.clear();
            inv
        }
        CheckId::VirtualMfaUnassigned => {
            let mut inv = inventory(vec![console_user("alice")]);
            inv.virtual_mfa_devices.as_mut().expect("devices were read").push(VirtualMfaDevice {
                serial_number: mfa_arn("bob"),
                user: None,
                enable_date: None,
            });
            inv
        }
        CheckId::PasswordPolicyWeak => {
            let mut inv = inventory(vec![console_user("alice")]);
            inv.password_policy = Ok(None);
            inv
        }
        // Someone dropped EnableMFADevice from the deny's exceptions: users can no longer
        // enrol MFA without MFA, but nobody gains anything.
        CheckId::SelfServicePolicyDrift => {
            let mut inv = inventory(vec![console_user("alice")]);
            set_group_policy(&mut inv, MFA_GROUP, "self-service", &tampered_canonical());
            inv
        }
        // The canonical policy is intact; a second policy of the group reaches every user's
        // MFA device (MFA is still enforced: the canonical deny covers that action).
        CheckId::SelfServicePolicyOverbroad => {
            let mut inv = inventory(vec![console_user("alice")]);
            set_group_policy(
                &mut inv,
                MFA_GROUP,
                "mfa-helpdesk",
                &allow("iam:DeleteVirtualMFADevice", "arn:aws:iam::*:mfa/*"),
            );
            inv
        }
        // alice works through Developers only, whose EC2 access no MFA deny covers.
        CheckId::UserMfaNotEnforced => {
            let mut inv = inventory(vec![console_user("alice")]);
            set_group_policy(&mut inv, "Developers", "ec2", EC2_FULL_ACCESS);
            let alice = user_mut(&mut inv, "alice");
            alice.groups = ["Developers".to_string()].into();
            inv
        }
    }
}

/// The canonical policy with `iam:EnableMFADevice` dropped from the MFA deny's exceptions.
fn tampered_canonical() -> String {
    let tampered = CANONICAL_SELF_SERVICE
        .replace("\"iam:EnableMFADevice\",\n        \"iam:GetUser\"", "\"iam:GetUser\"");
    assert_ne!(tampered, CANONICAL_SELF_SERVICE, "the canonical file's layout changed; update the test");
    tampered
}

const ADMIN: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#;

/// AWS's PowerUserAccess, abridged to the statement that matters.
const POWER_USER: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","NotAction":["iam:*","organizations:*","account:*"],"Resource":"*"}]}"#;
const POWER_USER_ARN: &str = "arn:aws:iam::aws:policy/PowerUserAccess";

const EC2_FULL_ACCESS: &str =
    r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ec2:*","Resource":"*"}}"#;

fn allow(action: &str, resource: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"Extra","Effect":"Allow","Action":"{action}","Resource":"{resource}"}}]}}"#
    )
}

fn managed(inv: &mut Inventory, arn: &str, document: Result<String, ReadFailure>) {
    let auth = inv.authorization.as_mut().expect("the test inventory's authorization was read");
    let name = arn.rsplit('/').next().unwrap_or(arn).to_string();
    auth.managed_policies.insert(arn.into(), ManagedPolicy { name, arn: arn.into(), document });
}

/// Puts an inline policy on a group, creating the group if needed.
fn set_group_policy(inv: &mut Inventory, group: &str, name: &str, document: &str) {
    let auth = inv.authorization.as_mut().expect("the test inventory's authorization was read");
    let g = auth.groups.entry(group.to_string()).or_insert_with(|| GroupDetail {
        name: group.into(),
        arn: group_arn(group),
        ..GroupDetail::default()
    });
    if !g.inline_policies.iter().any(|p| p == name) {
        g.inline_policies.push(name.into());
    }
    g.inline_documents.insert(name.into(), document.into());
}

/// An account that comes as close as possible to violating `check` without doing so.
fn near_miss(check: CheckId) -> Inventory {
    match check {
        CheckId::GroupMembershipMissing | CheckId::GroupMembershipUnexpected => {
            unreachable!("{check} needs a desired state; see the drift test")
        }
        CheckId::RotationBlocked | CheckId::RotationHeldKeyInUse => {
            unreachable!("{check} is judged by the rotation step, not by evaluate")
        }
        // Root's own credential row lacks MFA and has old keys: the root checks read the
        // account summary, which is clean.
        CheckId::RootMfaDisabled | CheckId::RootAccessKeyPresent => {
            let mut inv = inventory(vec![console_user("alice")]);
            if let Ok(report) = &mut inv.credential_report {
                report.root = Some(with(root_row(), |r| {
                    r.mfa_active = false;
                    r.keys[0] = active_key(1, days_ago(900), at(days_ago(800)));
                }));
            }
            inv
        }
        // No password, no MFA, no key: nothing to sign in with.
        CheckId::ConsoleUserWithoutMfa => inventory(vec![with(api_user("ghost"), |r| {
            r.mfa_active = false;
            r.keys[0] = empty_slot(1);
        })]),
        // No MFA, but the only key is inactive (and young enough not to linger).
        CheckId::UserWithoutMfa => inventory(vec![with(api_user("robot"), |r| {
            r.mfa_active = false;
            r.keys[0] = inactive_key(1, days_ago(10), at(days_ago(5)));
        })]),
        CheckId::AccessKeyNotRotated => inventory(vec![with(api_user("robot"), |r| {
            r.keys[0] = active_key(1, days_ago(90), at(days_ago(1)));
        })]),
        CheckId::AccessKeyUnused => inventory(vec![with(api_user("robot"), |r| {
            r.keys[0] = active_key(1, days_ago(60), at(days_ago(45)));
        })]),
        CheckId::ConsolePasswordUnused => {
            inventory(vec![with(console_user("alice"), |r| r.password_last_used = at(days_ago(45)))])
        }
        CheckId::TwoActiveAccessKeys => inventory(vec![with(api_user("robot"), |r| {
            r.keys[1] = inactive_key(2, days_ago(5), at(days_ago(4)));
        })]),
        // Created with the user, but used since.
        CheckId::AccessKeyCreatedAtSetup => inventory(vec![with(console_user("alice"), |r| {
            r.user_creation_time = at(days_ago(10));
            r.password_last_changed = at(days_ago(10));
            r.keys[0] = active_key(1, days_ago(10) + Duration::minutes(5), at(days_ago(2)));
        })]),
        CheckId::InactiveAccessKeyLingering => inventory(vec![with(api_user("robot"), |r| {
            r.keys[1] = inactive_key(2, days_ago(200), at(days_ago(30)));
        })]),
        // The group has policies (it always does here); the user has none of its own.
        CheckId::UserHasDirectPolicies => inventory(vec![console_user("alice")]),
        CheckId::UserInNoGroup => {
            let mut inv = inventory(vec![console_user("alice")]);
            let alice = user_mut(&mut inv, "alice");
            alice.groups.clear();
            alice.groups.insert("Developers".into());
            inv
        }
        CheckId::VirtualMfaUnassigned => inventory(vec![console_user("alice"), api_user("robot")]),
        CheckId::PasswordPolicyWeak => {
            let mut inv = inventory(vec![console_user("alice")]);
            inv.password_policy = Ok(Some(PasswordPolicy {
                max_age_days: Some(90),
                reuse_prevention: Some(24),
                minimum_length: 14,
                ..strong_password_policy()
            }));
            inv
        }
        // The canonical policy compacted onto one line, statements reversed, Sids renamed,
        // one-element lists written as strings.
        CheckId::SelfServicePolicyDrift => {
            let mut inv = inventory(vec![console_user("alice")]);
            let mut doc: serde_json::Value =
                serde_json::from_str(CANONICAL_SELF_SERVICE).expect("canonical policy is JSON");
            let statements = doc["Statement"].as_array_mut().expect("a statement list");
            statements.reverse();
            for (i, st) in statements.iter_mut().enumerate() {
                st["Sid"] = serde_json::Value::String(format!("S{i}"));
            }
            set_group_policy(&mut inv, MFA_GROUP, "self-service", &doc.to_string());
            inv
        }
        // Helpdesk rights on one's own device only.
        CheckId::SelfServicePolicyOverbroad => {
            let mut inv = inventory(vec![console_user("alice")]);
            set_group_policy(
                &mut inv,
                MFA_GROUP,
                "mfa-helpdesk",
                &allow("iam:DeleteVirtualMFADevice", "arn:aws:iam::*:mfa/${aws:username}"),
            );
            inv
        }
        // EC2 through Developers, but only with MFA.
        CheckId::UserMfaNotEnforced => {
            let mut inv = inventory(vec![console_user("alice")]);
            set_group_policy(
                &mut inv,
                "Developers",
                "ec2",
                r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ec2:*","Resource":"*","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"}}}}"#,
            );
            user_mut(&mut inv, "alice").groups = ["Developers".to_string()].into();
            inv
        }
    }
}

#[test]
fn compliant_account_has_no_findings_and_every_check_is_evaluated() {
    let ev = run(&inventory(vec![console_user("alice"), api_user("robot")]));
    assert_clean(&ev);
    assert!(ev.warnings.is_empty(), "{:?}", ev.warnings);
    assert_eq!(ev.users_scanned, 2);
    for check in audit_checks() {
        assert_eq!(ev.statuses.get(&check), Some(&CheckStatus::Evaluated), "{check}");
    }
}

#[test]
fn every_check_fires_alone_on_its_violation() {
    for check in audit_checks() {
        let ev = run(&violation(check));
        let f = if check == CheckId::SelfServicePolicyOverbroad {
            // The over-broad extra policy sits in the MFA group beside the canonical one, so
            // the group's policies also grant more than the canonical set: drift as well.
            assert_eq!(fired(&ev), BTreeSet::from([check, CheckId::SelfServicePolicyDrift]));
            let found = of(&ev, check);
            assert_eq!(found.len(), 1, "findings: {:#?}", ev.findings);
            found[0]
        } else {
            single(&ev, check)
        };
        let meta = check.meta();
        assert_eq!(f.severity, meta.severity, "{check}");
        assert!(!f.exempted && f.exemption.is_none(), "{check}");
        assert!(!f.message.is_empty(), "{check}");
        match meta.scope {
            Scope::Account => assert_eq!(f.user, None, "{check}"),
            Scope::User => assert!(f.user.is_some(), "{check}"),
        }
    }
}

#[test]
fn every_check_passes_its_near_miss() {
    for check in audit_checks() {
        let ev = run(&near_miss(check));
        assert!(ev.findings.is_empty(), "{check}: near miss produced {:#?}", ev.findings);
        assert_eq!(ev.statuses.get(&check), Some(&CheckStatus::Evaluated), "{check}");
    }
}

// ---------------------------------------------------------------------------------------------
// Account-level checks
// ---------------------------------------------------------------------------------------------

#[test]
fn root_findings_are_about_the_account() {
    let mut inv = inventory(vec![console_user("alice")]);
    inv.account_summary = Ok(AccountSummary { root_mfa_enabled: false, root_access_keys_present: true });
    let ev = run(&inv);
    assert_eq!(fired(&ev), BTreeSet::from([CheckId::RootMfaDisabled, CheckId::RootAccessKeyPresent]));
    for f in &ev.findings {
        assert_eq!(f.resource, "account");
        assert_eq!(f.user, None);
        assert_eq!(f.key_slot, None);
    }
}

#[test]
fn each_unassigned_virtual_mfa_device_is_one_finding_naming_its_serial() {
    let mut inv = inventory(vec![console_user("alice")]);
    let devices = inv.virtual_mfa_devices.as_mut().expect("devices were read");
    for name in ["bob", "carol"] {
        devices.push(VirtualMfaDevice { serial_number: mfa_arn(name), user: None, enable_date: None });
    }
    let ev = run(&inv);
    let found = of(&ev, CheckId::VirtualMfaUnassigned);
    let serials: BTreeSet<&str> = found.iter().map(|f| f.resource.as_str()).collect();
    assert_eq!(
        serials,
        BTreeSet::from(["arn:aws:iam::123456789012:mfa/bob", "arn:aws:iam::123456789012:mfa/carol"])
    );
    assert_eq!(fired(&ev), BTreeSet::from([CheckId::VirtualMfaUnassigned]));
}

#[test]
fn missing_password_policy_is_a_finding() {
    let ev = run(&violation(CheckId::PasswordPolicyWeak));
    let f = single(&ev, CheckId::PasswordPolicyWeak);
    assert!(f.message.contains("no password policy"), "{}", f.message);
}

#[test]
fn each_weakness_of_the_password_policy_is_named() {
    let cases: [(PasswordPolicy, &str); 7] = [
        (PasswordPolicy { minimum_length: 13, ..strong_password_policy() }, "minimum length 13 < 14"),
        (
            PasswordPolicy { reuse_prevention: Some(23), ..strong_password_policy() },
            "reuse prevention 23 < 24",
        ),
        (PasswordPolicy { reuse_prevention: None, ..strong_password_policy() }, "reuse is not prevented"),
        (PasswordPolicy { require_uppercase: false, ..strong_password_policy() }, "uppercase not required"),
        (PasswordPolicy { require_lowercase: false, ..strong_password_policy() }, "lowercase not required"),
        (PasswordPolicy { require_numbers: false, ..strong_password_policy() }, "numbers not required"),
        (PasswordPolicy { require_symbols: false, ..strong_password_policy() }, "symbols not required"),
    ];
    for (pp, expected) in cases {
        let mut inv = inventory(vec![console_user("alice")]);
        inv.password_policy = Ok(Some(pp));
        let ev = run(&inv);
        let f = single(&ev, CheckId::PasswordPolicyWeak);
        assert!(f.message.contains(expected), "expected {expected:?} in {:?}", f.message);
    }
}

#[test]
fn password_policy_requirements_come_from_the_audit_policy() {
    let mut inv = inventory(vec![console_user("alice")]);
    inv.password_policy = Ok(Some(PasswordPolicy {
        minimum_length: 8,
        require_symbols: false,
        require_numbers: true,
        require_uppercase: true,
        require_lowercase: true,
        reuse_prevention: Some(5),
        max_age_days: None,
    }));
    assert!(fired(&run(&inv)).contains(&CheckId::PasswordPolicyWeak));

    let mut lenient = AuditPolicy::default();
    lenient.password.min_length = 8;
    lenient.password.reuse_prevention = 5;
    lenient.password.require_all_classes = false;
    assert_clean(&run_with(&inv, &lenient));

    // One more character required than the account policy has: weak again.
    lenient.password.min_length = 9;
    let ev = run_with(&inv, &lenient);
    assert!(single(&ev, CheckId::PasswordPolicyWeak).message.contains("minimum length 8 < 9"));
}

// ---------------------------------------------------------------------------------------------
// MFA
// ---------------------------------------------------------------------------------------------

#[test]
fn console_user_without_mfa_is_reported_once_not_also_as_api_user() {
    // A console user with an active key and no MFA: the console check covers it.
    let ev = run(&inventory(vec![with(console_user("alice"), |r| {
        r.mfa_active = false;
        r.keys[0] = active_key(1, days_ago(10), at(days_ago(1)));
    })]));
    let f = single(&ev, CheckId::ConsoleUserWithoutMfa);
    assert_eq!(f.user.as_deref(), Some("alice"));
    assert_eq!(f.resource, arn("alice"));
    assert_eq!(f.key_slot, None);
}

#[test]
fn user_without_mfa_needs_an_active_key_and_no_password() {
    // Active key, no password, no MFA: flagged.
    let ev = run(&violation(CheckId::UserWithoutMfa));
    assert_eq!(single(&ev, CheckId::UserWithoutMfa).user.as_deref(), Some("robot"));

    // Same user with MFA: clean.
    assert_clean(&run(&inventory(vec![api_user("robot")])));

    // No password and no key at all: no credential to protect, not reported.
    assert_clean(&run(&near_miss(CheckId::ConsoleUserWithoutMfa)));

    // Only an inactive key: not reported.
    assert_clean(&run(&near_miss(CheckId::UserWithoutMfa)));

    // A slot marked active but without a key (no creation time) is not a key.
    let ev = run(&inventory(vec![with(api_user("robot"), |r| {
        r.mfa_active = false;
        r.keys[0] = KeySlot {
            slot: 1,
            active: true,
            last_rotated: ReportTime::NotApplicable,
            last_used: ReportTime::NotApplicable,
        };
    })]));
    assert_clean(&ev);
}

#[test]
fn users_without_a_password_never_get_console_checks() {
    // No password, no MFA, a password last used long ago (the login profile was deleted) and
    // a never-used key created with the user: none of the console checks apply.
    let row = with(api_user("robot"), |r| {
        r.mfa_active = false;
        r.user_creation_time = at(days_ago(10));
        r.password_last_used = at(days_ago(300));
        r.password_last_changed = at(days_ago(300));
        r.keys[0] = active_key(1, days_ago(10), ReportTime::NotApplicable);
    });
    let ev = run(&inventory(vec![row]));
    // It is still an API user without MFA.
    single(&ev, CheckId::UserWithoutMfa);
    for console_check in
        [CheckId::ConsoleUserWithoutMfa, CheckId::ConsolePasswordUnused, CheckId::AccessKeyCreatedAtSetup]
    {
        assert!(of(&ev, console_check).is_empty(), "{console_check}");
    }
}

// ---------------------------------------------------------------------------------------------
// Key age
// ---------------------------------------------------------------------------------------------

fn key_aged(age: Duration) -> Inventory {
    inventory(vec![with(api_user("robot"), |r| r.keys[0] = active_key(1, now() - age, at(days_ago(1))))])
}

#[test]
fn key_exactly_max_age_is_not_flagged_one_second_more_is() {
    assert_clean(&run(&key_aged(Duration::days(90))));
    let ev = run(&key_aged(Duration::days(90) + SECOND));
    let f = single(&ev, CheckId::AccessKeyNotRotated);
    assert_eq!(f.user.as_deref(), Some("robot"));
    assert_eq!(f.key_slot, Some(1));
    assert_eq!(f.key_created, Some(now() - Duration::days(90) - SECOND));
    assert_eq!(f.access_key_id, None, "the credential report has no key ids");
}

#[test]
fn key_age_message_gives_age_and_limit() {
    let ev = run(&key_aged(Duration::days(120)));
    let msg = &single(&ev, CheckId::AccessKeyNotRotated).message;
    assert!(msg.contains("120 days") && msg.contains("limit 90"), "{msg}");
}

#[test]
fn custom_max_key_age_is_honoured() {
    let policy = AuditPolicy { max_key_age_days: 30, ..AuditPolicy::default() };
    assert_clean(&run_with(&key_aged(Duration::days(30)), &policy));
    let ev = run_with(&key_aged(Duration::days(30) + SECOND), &policy);
    single(&ev, CheckId::AccessKeyNotRotated);
    // The default would have let that key pass.
    assert_clean(&run(&key_aged(Duration::days(30) + SECOND)));

    let generous = AuditPolicy { max_key_age_days: 365, ..AuditPolicy::default() };
    assert_clean(&run_with(&key_aged(Duration::days(200)), &generous));
}

#[test]
fn each_old_key_is_its_own_finding() {
    let ev = run(&inventory(vec![with(api_user("robot"), |r| {
        r.keys[0] = active_key(1, days_ago(200), at(days_ago(1)));
        r.keys[1] = active_key(2, days_ago(100), at(days_ago(1)));
    })]));
    assert_eq!(fired(&ev), BTreeSet::from([CheckId::AccessKeyNotRotated, CheckId::TwoActiveAccessKeys]));
    let slots: Vec<Option<u8>> = of(&ev, CheckId::AccessKeyNotRotated).iter().map(|f| f.key_slot).collect();
    assert_eq!(slots, vec![Some(1), Some(2)]);
}

#[test]
fn inactive_keys_are_not_judged_by_active_key_checks() {
    // Ancient, never used, created with its console user: every active-key check would fire
    // if the key were active.
    let ev = run(&inventory(vec![with(console_user("alice"), |r| {
        r.user_creation_time = at(days_ago(500));
        r.keys[0] = inactive_key(1, days_ago(500), ReportTime::NotApplicable);
        r.keys[1] = inactive_key(2, days_ago(400), at(days_ago(300)));
    })]));
    assert_eq!(fired(&ev), BTreeSet::from([CheckId::InactiveAccessKeyLingering]));
    assert_eq!(of(&ev, CheckId::InactiveAccessKeyLingering).len(), 2);
}

// ---------------------------------------------------------------------------------------------
// Unused keys
// ---------------------------------------------------------------------------------------------

fn key_used(created_days_ago: i64, last_used: ReportTime) -> Inventory {
    inventory(vec![with(api_user("robot"), |r| {
        r.keys[0] = active_key(1, days_ago(created_days_ago), last_used);
    })])
}

#[test]
fn key_unused_exactly_unused_days_is_not_flagged_one_second_more_is() {
    assert_clean(&run(&key_used(80, at(days_ago(45)))));
    let ev = run(&key_used(80, at(days_ago(45) - SECOND)));
    let f = single(&ev, CheckId::AccessKeyUnused);
    assert_eq!(f.key_slot, Some(1));
    assert!(f.message.contains("last used"), "{}", f.message);
}

#[test]
fn never_used_key_is_judged_by_its_age_with_a_grace_for_young_keys() {
    for never in [ReportTime::NotApplicable, ReportTime::NoInformation] {
        // Young never-used key: grace.
        assert_clean(&run(&key_used(10, never)));
        // Exactly unused_days old: still within the grace.
        let young = inventory(vec![with(api_user("robot"), |r| {
            r.keys[0] = active_key(1, days_ago(45), never);
        })]);
        assert_clean(&run(&young));
        // One second older: unused.
        let old = inventory(vec![with(api_user("robot"), |r| {
            r.keys[0] = active_key(1, days_ago(45) - SECOND, never);
        })]);
        let ev = run(&old);
        let f = single(&ev, CheckId::AccessKeyUnused);
        assert!(f.message.contains("never used"), "{}", f.message);
    }
}

#[test]
fn custom_unused_days_is_honoured_for_keys() {
    let policy = AuditPolicy { unused_days: 10, ..AuditPolicy::default() };
    assert_clean(&run_with(&key_used(30, at(days_ago(10))), &policy));
    single(&run_with(&key_used(30, at(days_ago(10) - SECOND)), &policy), CheckId::AccessKeyUnused);
    single(&run_with(&key_used(11, ReportTime::NotApplicable), &policy), CheckId::AccessKeyUnused);
    // The default leaves both alone.
    assert_clean(&run(&key_used(30, at(days_ago(11)))));
    assert_clean(&run(&key_used(11, ReportTime::NotApplicable)));
}

#[test]
fn a_key_recently_used_is_not_unused_however_old_it_is_created() {
    let ev = run(&key_used(89, at(days_ago(0))));
    assert_clean(&ev);
}

// ---------------------------------------------------------------------------------------------
// Console password unused
// ---------------------------------------------------------------------------------------------

fn password(last_used: ReportTime, last_changed: ReportTime, user_created: ReportTime) -> Inventory {
    inventory(vec![with(console_user("alice"), |r| {
        r.password_last_used = last_used;
        r.password_last_changed = last_changed;
        r.user_creation_time = user_created;
    })])
}

#[test]
fn password_unused_exactly_unused_days_is_not_flagged_one_second_more_is() {
    let changed = at(days_ago(300));
    let created = at(days_ago(400));
    assert_clean(&run(&password(at(days_ago(45)), changed, created)));
    let ev = run(&password(at(days_ago(45) - SECOND), changed, created));
    let f = single(&ev, CheckId::ConsolePasswordUnused);
    assert_eq!(f.user.as_deref(), Some("alice"));
    assert_eq!(f.key_slot, None);
}

#[test]
fn never_used_password_is_judged_by_when_it_was_last_changed() {
    let created = at(days_ago(400));
    for never in [ReportTime::NoInformation, ReportTime::NotApplicable] {
        // Set 10 days ago on a user created long ago: grace.
        assert_clean(&run(&password(never, at(days_ago(10)), created)));
        assert_clean(&run(&password(never, at(days_ago(45)), created)));
        let ev = run(&password(never, at(days_ago(45) - SECOND), created));
        let f = single(&ev, CheckId::ConsolePasswordUnused);
        assert!(f.message.contains("never used"), "{}", f.message);
    }
}

#[test]
fn never_used_password_without_change_date_is_judged_by_user_creation() {
    let never = ReportTime::NoInformation;
    assert_clean(&run(&password(never, ReportTime::NotApplicable, at(days_ago(45)))));
    single(
        &run(&password(never, ReportTime::NotApplicable, at(days_ago(45) - SECOND))),
        CheckId::ConsolePasswordUnused,
    );
}

#[test]
fn custom_unused_days_is_honoured_for_passwords() {
    let policy = AuditPolicy { unused_days: 90, ..AuditPolicy::default() };
    let inv = password(at(days_ago(60)), at(days_ago(300)), at(days_ago(400)));
    single(&run(&inv), CheckId::ConsolePasswordUnused);
    assert_clean(&run_with(&inv, &policy));
    let inv = password(at(days_ago(90) - SECOND), at(days_ago(300)), at(days_ago(400)));
    single(&run_with(&inv, &policy), CheckId::ConsolePasswordUnused);
}

// ---------------------------------------------------------------------------------------------
// Two keys, keys made at setup, inactive keys
// ---------------------------------------------------------------------------------------------

#[test]
fn two_active_keys_is_one_user_level_finding() {
    let ev = run(&violation(CheckId::TwoActiveAccessKeys));
    let f = single(&ev, CheckId::TwoActiveAccessKeys);
    assert_eq!(f.user.as_deref(), Some("robot"));
    assert_eq!(f.key_slot, None);
}

fn setup_key(offset: Duration, last_used: ReportTime, console: bool) -> Inventory {
    let base = if console { console_user("alice") } else { api_user("alice") };
    inventory(vec![with(base, |r| {
        r.user_creation_time = at(days_ago(10));
        if console {
            r.password_last_changed = at(days_ago(10));
        }
        r.keys[0] = active_key(1, days_ago(10) + offset, last_used);
    })])
}

#[test]
fn key_created_with_a_console_user_and_never_used_is_flagged_within_the_window() {
    let never = ReportTime::NotApplicable;
    let f_at = |offset| run(&setup_key(offset, never, true));
    let ev = f_at(Duration::zero());
    assert_eq!(single(&ev, CheckId::AccessKeyCreatedAtSetup).key_slot, Some(1));
    // The window boundary is inclusive: exactly 60 minutes is still "at setup".
    single(&f_at(Duration::minutes(60)), CheckId::AccessKeyCreatedAtSetup);
    assert_clean(&f_at(Duration::minutes(60) + SECOND));
    assert_clean(&f_at(Duration::days(2)));
}

#[test]
fn key_created_at_setup_needs_a_console_user_and_a_never_used_key() {
    // Used since: fine.
    assert_clean(&run(&setup_key(Duration::minutes(1), at(days_ago(1)), true)));
    // API-only user: their key is their only credential, expected at setup.
    assert_clean(&run(&setup_key(Duration::minutes(1), ReportTime::NotApplicable, false)));
}

#[test]
fn custom_setup_window_is_honoured() {
    let policy = AuditPolicy { setup_window_minutes: 5, ..AuditPolicy::default() };
    let never = ReportTime::NotApplicable;
    single(
        &run_with(&setup_key(Duration::minutes(5), never, true), &policy),
        CheckId::AccessKeyCreatedAtSetup,
    );
    assert_clean(&run_with(&setup_key(Duration::minutes(5) + SECOND, never, true), &policy));
}

fn inactive(created_days_ago: i64, last_used: ReportTime) -> Inventory {
    inventory(vec![with(api_user("robot"), |r| {
        r.keys[1] = inactive_key(2, days_ago(created_days_ago), last_used);
    })])
}

#[test]
fn inactive_key_quiet_exactly_max_days_is_not_flagged_one_second_more_is() {
    assert_clean(&run(&inactive(200, at(days_ago(30)))));
    let ev = run(&inactive(200, at(days_ago(30) - SECOND)));
    let f = single(&ev, CheckId::InactiveAccessKeyLingering);
    assert_eq!(f.key_slot, Some(2));
    assert_eq!(f.key_created, Some(days_ago(200)));

    // Never used: judged by creation.
    let never = ReportTime::NotApplicable;
    assert_clean(&run(&inventory(vec![with(api_user("robot"), |r| {
        r.keys[1] = inactive_key(2, days_ago(30), never);
    })])));
    single(
        &run(&inventory(vec![with(api_user("robot"), |r| {
            r.keys[1] = inactive_key(2, days_ago(30) - SECOND, never);
        })])),
        CheckId::InactiveAccessKeyLingering,
    );
}

#[test]
fn custom_inactive_key_max_days_is_honoured() {
    let policy = AuditPolicy { inactive_key_max_days: 7, ..AuditPolicy::default() };
    assert_clean(&run_with(&inactive(100, at(days_ago(7))), &policy));
    single(&run_with(&inactive(100, at(days_ago(7) - SECOND)), &policy), CheckId::InactiveAccessKeyLingering);
    assert_clean(&run(&inactive(100, at(days_ago(8)))));
}

// ---------------------------------------------------------------------------------------------
// Authorization checks
// ---------------------------------------------------------------------------------------------

#[test]
fn direct_policies_inline_or_attached_are_named() {
    let mut inv = inventory(vec![console_user("alice"), console_user("bob")]);
    user_mut(&mut inv, "alice").inline_policies.push("alice-admin".into());
    user_mut(&mut inv, "bob").attached_policies.push("arn:aws:iam::aws:policy/AdministratorAccess".into());
    let ev = run(&inv);
    assert_eq!(fired(&ev), BTreeSet::from([CheckId::UserHasDirectPolicies]));
    let found = of(&ev, CheckId::UserHasDirectPolicies);
    assert_eq!(found.len(), 2);
    assert_eq!(found[0].user.as_deref(), Some("alice"));
    assert!(found[0].message.contains("inline alice-admin"), "{}", found[0].message);
    assert_eq!(found[1].user.as_deref(), Some("bob"));
    assert!(found[1].message.contains("attached arn:aws:iam::aws:policy/AdministratorAccess"));
}

#[test]
fn user_in_no_group_is_found_even_without_a_credential_report_row() {
    // A user created after the credential report was generated is still audited from
    // GetAccountAuthorizationDetails.
    let mut inv = inventory(vec![console_user("alice")]);
    if let Ok(auth) = &mut inv.authorization {
        auth.users.insert("newbie".into(), fixtures::user("newbie", &[]));
    }
    let ev = run(&inv);
    assert_eq!(single(&ev, CheckId::UserInNoGroup).user.as_deref(), Some("newbie"));
    assert_eq!(ev.users_scanned, 2);
}

// ---------------------------------------------------------------------------------------------
// Root
// ---------------------------------------------------------------------------------------------

#[test]
fn root_row_is_never_treated_as_a_user() {
    // Root in the credential report: no MFA, two old never-used active keys, never-used
    // password. Only the account summary speaks for root, and it is clean.
    let mut inv = inventory(vec![console_user("alice")]);
    if let Ok(report) = &mut inv.credential_report {
        report.root = Some(with(root_row(), |r| {
            r.mfa_active = false;
            r.password_last_used = ReportTime::NoInformation;
            r.keys = [
                active_key(1, days_ago(900), ReportTime::NotApplicable),
                active_key(2, days_ago(800), at(days_ago(700))),
            ];
        }));
    }
    let ev = run(&inv);
    assert_clean(&ev);
    assert_eq!(ev.users_scanned, 1);
}

#[test]
fn root_row_parsed_from_the_credential_report_is_not_a_user() {
    let report = fixtures::credential_report([
        "<root_account>,arn:aws:iam::123456789012:root,2020-01-01T00:00:00+00:00,not_supported,no_information,not_supported,not_supported,false,true,2020-01-02T00:00:00+00:00,N/A,N/A,N/A,true,2020-01-03T00:00:00+00:00,N/A,N/A,N/A,false,N/A,false,N/A",
    ]);
    let mut inv = inventory(Vec::new());
    inv.credential_report = Ok(report);
    let ev = run(&inv);
    assert_clean(&ev);
    assert_eq!(ev.users_scanned, 0);
    assert!(ev.findings.iter().all(|f| f.user.as_deref() != Some(ROOT_ACCOUNT_ROW)));
}

// ---------------------------------------------------------------------------------------------
// Exemptions
// ---------------------------------------------------------------------------------------------

/// alice: console user with no MFA, an old key and no group. bob: the same, never exempt.
fn two_bad_users() -> Inventory {
    let bad = |name: &str| {
        with(console_user(name), |r| {
            r.mfa_active = false;
            r.keys[0] = active_key(1, days_ago(200), at(days_ago(1)));
        })
    };
    let mut inv = inventory(vec![bad("alice"), bad("bob")]);
    user_mut(&mut inv, "alice").groups.clear();
    user_mut(&mut inv, "bob").groups.clear();
    inv
}

const BAD_USER_CHECKS: [CheckId; 3] =
    [CheckId::ConsoleUserWithoutMfa, CheckId::AccessKeyNotRotated, CheckId::UserInNoGroup];

fn exempted_checks(ev: &Evaluation, user: &str) -> BTreeSet<CheckId> {
    ev.findings.iter().filter(|f| f.user.as_deref() == Some(user) && f.exempted).map(|f| f.check).collect()
}

fn open_checks(ev: &Evaluation, user: &str) -> BTreeSet<CheckId> {
    ev.findings.iter().filter(|f| f.user.as_deref() == Some(user) && !f.exempted).map(|f| f.check).collect()
}

fn assert_bob_untouched(ev: &Evaluation) {
    assert_eq!(open_checks(ev, "bob"), BTreeSet::from(BAD_USER_CHECKS));
    assert!(exempted_checks(ev, "bob").is_empty());
}

#[test]
fn exempt_all_tag_exempts_every_finding_of_the_user_and_keeps_them_listed() {
    let mut inv = two_bad_users();
    tag(&mut inv, "alice", "all");
    inv.account_summary = Ok(AccountSummary { root_mfa_enabled: false, root_access_keys_present: false });
    let ev = run(&inv);
    assert_eq!(exempted_checks(&ev, "alice"), BTreeSet::from(BAD_USER_CHECKS));
    assert!(open_checks(&ev, "alice").is_empty());
    for f in ev.findings.iter().filter(|f| f.user.as_deref() == Some("alice")) {
        assert_eq!(f.exemption.as_deref(), Some("tag keywarden:exempt=all"), "{f:?}");
    }
    assert_bob_untouched(&ev);
    // Account-level findings are never exempted by a user's tag.
    let root = single_of(&ev, CheckId::RootMfaDisabled);
    assert!(!root.exempted && root.exemption.is_none());
    assert!(ev.warnings.is_empty(), "{:?}", ev.warnings);
}

fn single_of(ev: &Evaluation, check: CheckId) -> &Finding {
    let found = of(ev, check);
    assert_eq!(found.len(), 1, "{check}: {found:#?}");
    found[0]
}

#[test]
fn exempt_tag_naming_one_check_exempts_only_that_check() {
    let mut inv = two_bad_users();
    tag(&mut inv, "alice", "access_key_not_rotated");
    let ev = run(&inv);
    assert_eq!(exempted_checks(&ev, "alice"), BTreeSet::from([CheckId::AccessKeyNotRotated]));
    assert_eq!(
        open_checks(&ev, "alice"),
        BTreeSet::from([CheckId::ConsoleUserWithoutMfa, CheckId::UserInNoGroup])
    );
    let f = ev.findings.iter().find(|f| f.exempted).expect("alice's key finding is listed although exempted");
    assert_eq!(f.exemption.as_deref(), Some("tag keywarden:exempt=access_key_not_rotated"));
    assert_bob_untouched(&ev);
}

#[test]
fn exempt_tag_may_name_several_checks_separated_by_space_or_slash() {
    for value in [
        "access_key_not_rotated user_in_no_group",
        "access_key_not_rotated/user_in_no_group",
        " access_key_not_rotated / user_in_no_group ",
    ] {
        let mut inv = two_bad_users();
        tag(&mut inv, "alice", value);
        let ev = run(&inv);
        assert_eq!(
            exempted_checks(&ev, "alice"),
            BTreeSet::from([CheckId::AccessKeyNotRotated, CheckId::UserInNoGroup]),
            "{value:?}"
        );
        assert_eq!(open_checks(&ev, "alice"), BTreeSet::from([CheckId::ConsoleUserWithoutMfa]), "{value:?}");
        assert!(ev.warnings.is_empty(), "{value:?}: {:?}", ev.warnings);
        assert_bob_untouched(&ev);
    }
}

#[test]
fn unknown_check_in_exempt_tag_is_a_warning_and_exempts_nothing() {
    let mut inv = two_bad_users();
    tag(&mut inv, "alice", "access_key_too_old");
    let ev = run(&inv);
    assert!(exempted_checks(&ev, "alice").is_empty());
    assert_eq!(open_checks(&ev, "alice"), BTreeSet::from(BAD_USER_CHECKS));
    assert_eq!(ev.warnings.len(), 1, "{:?}", ev.warnings);
    assert!(ev.warnings[0].contains("alice") && ev.warnings[0].contains("access_key_too_old"));
}

#[test]
fn unknown_word_next_to_a_known_check_still_exempts_the_known_one() {
    let mut inv = two_bad_users();
    tag(&mut inv, "alice", "bogus/user_in_no_group");
    let ev = run(&inv);
    assert_eq!(exempted_checks(&ev, "alice"), BTreeSet::from([CheckId::UserInNoGroup]));
    assert_eq!(ev.warnings.len(), 1, "{:?}", ev.warnings);
    assert!(ev.warnings[0].contains("bogus"));
}

#[test]
fn other_tags_and_empty_exempt_tag_exempt_nothing() {
    let mut inv = two_bad_users();
    user_mut(&mut inv, "alice").tags.insert("keywarden:exempted".into(), "all".into());
    user_mut(&mut inv, "bob").tags.insert(EXEMPT_TAG.into(), "".into());
    let ev = run(&inv);
    assert!(ev.findings.iter().all(|f| !f.exempted), "{:#?}", ev.findings);
}

#[test]
fn members_of_an_exempt_group_are_exempt_from_every_check() {
    let mut inv = two_bad_users();
    user_mut(&mut inv, "alice").groups.insert("BreakGlass".into());
    user_mut(&mut inv, "bob").groups.insert("Developers".into());
    let policy =
        AuditPolicy { exempt_groups: BTreeSet::from(["BreakGlass".to_string()]), ..AuditPolicy::default() };
    let ev = run_with(&inv, &policy);
    // alice is in a group now, so only the other two fire, both exempted.
    assert_eq!(
        exempted_checks(&ev, "alice"),
        BTreeSet::from([CheckId::ConsoleUserWithoutMfa, CheckId::AccessKeyNotRotated])
    );
    assert!(open_checks(&ev, "alice").is_empty());
    for f in ev.findings.iter().filter(|f| f.user.as_deref() == Some("alice")) {
        assert_eq!(f.exemption.as_deref(), Some("member of exempt group BreakGlass"));
    }
    assert_eq!(
        open_checks(&ev, "bob"),
        BTreeSet::from([CheckId::ConsoleUserWithoutMfa, CheckId::AccessKeyNotRotated])
    );

    // Without the policy naming the group, alice is not exempt.
    let ev = run(&inv);
    assert!(exempted_checks(&ev, "alice").is_empty());
}

#[test]
fn exemptions_are_not_guessed_when_authorization_cannot_be_read() {
    let mut inv = two_bad_users();
    tag(&mut inv, "alice", "all");
    inv.authorization = Err(failure("iam:GetAccountAuthorizationDetails"));
    let ev = run(&inv);
    assert!(ev.findings.iter().all(|f| !f.exempted), "{:#?}", ev.findings);
    assert_eq!(
        open_checks(&ev, "alice"),
        BTreeSet::from([CheckId::ConsoleUserWithoutMfa, CheckId::AccessKeyNotRotated])
    );
    assert!(ev.warnings.iter().any(|w| w.contains("exemptions could not be read")), "{:?}", ev.warnings);
}

// ---------------------------------------------------------------------------------------------
// The self-service MFA control
// ---------------------------------------------------------------------------------------------

/// Seed 002's policy (a blog post's Force-MFA variant, verbatim), whose MFA statement reaches
/// every user's device.
fn seed_002_policy() -> String {
    include_str!("fixtures/seed-002-policy.json").to_string()
}

fn messages(ev: &Evaluation, check: CheckId) -> Vec<String> {
    of(ev, check).into_iter().map(|f| f.message.clone()).collect()
}

#[test]
fn drift_is_reported_in_words_against_the_closest_policy() {
    let mut inv = inventory(vec![console_user("alice")]);
    set_group_policy(&mut inv, MFA_GROUP, "self-service", &tampered_canonical());
    let ev = run(&inv);
    let f = single(&ev, CheckId::SelfServicePolicyDrift);
    assert_eq!(f.resource, format!("arn:aws:iam::{ACCOUNT}:group/{MFA_GROUP}"));
    assert_eq!(
        f.message,
        "group SelfEdit does not carry the canonical self-service policy; the closest is inline policy \
         self-service of group SelfEdit: statement DenyAllExceptListedIfNoMFA: action iam:EnableMFADevice missing"
    );
}

#[test]
fn a_missing_group_or_a_group_without_policies_is_drift() {
    let mut inv = inventory(vec![console_user("alice")]);
    let auth = inv.authorization.as_mut().expect("read");
    auth.groups.clear();
    auth.users.values_mut().for_each(|u| u.groups = ["Developers".to_string()].into());
    set_group_policy(
        &mut inv,
        "Developers",
        "nothing-much",
        &allow("iam:GetUser", "arn:aws:iam::*:user/${aws:username}"),
    );
    let ev = run(&inv);
    assert_eq!(
        messages(&ev, CheckId::SelfServicePolicyDrift),
        ["the MFA-enforcing group SelfEdit does not exist, so the self-service MFA policy binds nobody"]
    );
    assert_eq!(of(&ev, CheckId::SelfServicePolicyDrift)[0].resource, "group/SelfEdit");

    let mut inv = inventory(vec![console_user("alice")]);
    let g = inv.authorization.as_mut().expect("read").groups.get_mut(MFA_GROUP).expect("group");
    g.inline_policies.clear();
    g.inline_documents.clear();
    let ev = run(&inv);
    assert_eq!(
        messages(&ev, CheckId::SelfServicePolicyDrift),
        ["group SelfEdit does not carry the canonical self-service policy; it has no policy at all"]
    );
}

#[test]
fn the_canonical_policy_may_be_attached_as_a_managed_policy_under_another_group_name() {
    let arn = format!("arn:aws:iam::{ACCOUNT}:policy/Force_MFA");
    let mut inv = inventory(vec![console_user("alice")]);
    let auth = inv.authorization.as_mut().expect("read");
    let mut g = auth.groups.remove(MFA_GROUP).expect("group");
    g.name = "Force_MFA".into();
    g.inline_policies.clear();
    g.inline_documents.clear();
    g.attached_policies.push(arn.clone());
    auth.groups.insert("Force_MFA".into(), g);
    auth.users.values_mut().for_each(|u| u.groups = ["Force_MFA".to_string()].into());
    managed(&mut inv, &arn, Ok(CANONICAL_SELF_SERVICE.into()));
    let policy = AuditPolicy { mfa_group: "Force_MFA".into(), ..AuditPolicy::default() };
    let ev = run_with(&inv, &policy);
    assert_clean(&ev);
    assert_eq!(ev.statuses.get(&CheckId::SelfServicePolicyDrift), Some(&CheckStatus::Evaluated));
    // With the default group name the same account has drift: SelfEdit does not exist.
    assert_eq!(fired(&run(&inv)), BTreeSet::from([CheckId::SelfServicePolicyDrift]));
}

#[test]
fn seed_002_is_drift_and_overbroad_naming_the_statement_and_actions() {
    let mut inv = inventory(vec![console_user("alice")]);
    set_group_policy(&mut inv, MFA_GROUP, "self-service", &seed_002_policy());
    let ev = run(&inv);
    // Its deny also leaves iam:ListUsers open without MFA, which AWS documents as a
    // pre-MFA option (no gap), and deleting every user's MFA device (a gap).
    assert_eq!(
        fired(&ev),
        BTreeSet::from([
            CheckId::SelfServicePolicyDrift,
            CheckId::SelfServicePolicyOverbroad,
            CheckId::UserMfaNotEnforced
        ]),
        "{:#?}",
        ev.findings
    );
    let open = &of(&ev, CheckId::UserMfaNotEnforced)[0].message;
    // Not a bootstrap action: deleting any user's virtual MFA device needs no MFA here.
    assert!(open.starts_with("alice may call iam:DeleteVirtualMFADevice on arn:aws:iam::*:mfa/* "), "{open}");
    assert!(!open.contains("ListUsers"), "{open}");
    assert!(
        open.ends_with(
            "(granted by inline policy self-service of group SelfEdit, statement AllowMFAHandling)"
        ),
        "{open}"
    );
    let over = of(&ev, CheckId::SelfServicePolicyOverbroad);
    assert_eq!(over.len(), 1, "one finding per statement: {over:#?}");
    assert_eq!(
        over[0].resource,
        format!("arn:aws:iam::{ACCOUNT}:group/SelfEdit policy self-service statement AllowMFAHandling")
    );
    assert_eq!(
        over[0].message,
        "statement AllowMFAHandling of inline policy self-service of group SelfEdit lets a member of \
         SelfEdit act on other users' credentials with iam:CreateVirtualMFADevice, iam:DeleteVirtualMFADevice \
         (resource arn:aws:iam::*:mfa/*, arn:aws:iam::*:user/${aws:username} is not limited to the caller's own)"
    );
    let drift = &of(&ev, CheckId::SelfServicePolicyDrift)[0].message;
    assert!(
        drift.contains("statement DenyAllExceptListedIfNoMFA: action sts:GetSessionToken missing"),
        "{drift}"
    );
    assert!(drift.ends_with("; and 4 more differences"), "long lists are cut: {drift}");
    assert!(drift.contains("statement removed: AllowManageOwnAccessKeys"), "{drift}");
}

#[test]
fn user_mfa_not_enforced_names_what_the_user_can_do_and_through_which_policy() {
    let ev = run(&violation(CheckId::UserMfaNotEnforced));
    let f = single(&ev, CheckId::UserMfaNotEnforced);
    assert_eq!(f.resource, arn("alice"));
    assert_eq!(
        f.message,
        "alice may call ec2:DescribeInstances on * with a long-term access key (no MFA context) without any \
         MFA deny stopping it (granted by inline policy ec2 of group Developers, statement #1)"
    );
    // Being in the MFA group as well closes the gap.
    let mut inv = violation(CheckId::UserMfaNotEnforced);
    user_mut(&mut inv, "alice").groups.insert(MFA_GROUP.into());
    assert_clean(&run(&inv));
    // So does an exemption, shown as such.
    let mut inv = violation(CheckId::UserMfaNotEnforced);
    tag(&mut inv, "alice", "user_mfa_not_enforced");
    let ev = run(&inv);
    assert!(of(&ev, CheckId::UserMfaNotEnforced).iter().all(|f| f.exempted));
}

#[test]
fn a_direct_admin_policy_is_not_enforced_and_an_aws_managed_one_is_judged_by_its_document() {
    let mut inv = inventory(vec![console_user("alice"), api_user("robot")]);
    let robot = user_mut(&mut inv, "robot");
    robot.groups.clear();
    robot.attached_policies.push(POWER_USER_ARN.into());
    managed(&mut inv, POWER_USER_ARN, Ok(POWER_USER.into()));
    let ev = run(&inv);
    assert_eq!(
        fired(&ev),
        BTreeSet::from([CheckId::UserMfaNotEnforced, CheckId::UserHasDirectPolicies, CheckId::UserInNoGroup])
    );
    let f = of(&ev, CheckId::UserMfaNotEnforced)[0];
    assert_eq!(f.user.as_deref(), Some("robot"));
    assert!(
        f.message.contains("managed policy arn:aws:iam::aws:policy/PowerUserAccess (attached to user robot)"),
        "{}",
        f.message
    );
}

#[test]
fn malformed_or_unread_policies_make_the_control_checks_unknown_never_a_pass() {
    let bad_docs = [
        ("not json", "policy document is not valid JSON"),
        (
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"BoolIfExist":{"aws:MultiFactorAuthPresent":"true"}}}}"#,
            "unknown condition operator \"BoolIfExist\"",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":["s3:Get",1],"Resource":"*"}}"#,
            "$.Statement.Action[1]",
        ),
    ];
    for (doc, why) in bad_docs {
        // On a user: that user is unknown; everyone else is still judged.
        let mut inv = inventory(vec![console_user("alice"), console_user("carol")]);
        let alice = user_mut(&mut inv, "alice");
        alice.inline_policies.push("broken".into());
        alice.inline_documents.insert("broken".into(), doc.into());
        let carol = user_mut(&mut inv, "carol");
        carol.groups.clear();
        carol.inline_policies.push("admin".into());
        carol.inline_documents.insert("admin".into(), ADMIN.into());
        let ev = run(&inv);
        match ev.statuses.get(&CheckId::UserMfaNotEnforced) {
            Some(CheckStatus::Unknown(reason)) => {
                assert!(reason.starts_with("alice: inline policy broken of user alice: "), "{reason}");
                assert!(reason.contains(why), "{reason}");
            }
            other => panic!("{doc}: expected unknown, got {other:?}"),
        }
        let users: Vec<_> = of(&ev, CheckId::UserMfaNotEnforced).iter().map(|f| f.user.clone()).collect();
        assert_eq!(users, [Some("carol".to_string())]);

        // On the MFA group: drift is certain (the canonical text is not there) and says why;
        // overbroad cannot look inside, so it is unknown.
        let mut inv = inventory(vec![console_user("alice")]);
        set_group_policy(&mut inv, MFA_GROUP, "self-service", doc);
        let ev = run(&inv);
        let drift = messages(&ev, CheckId::SelfServicePolicyDrift);
        assert_eq!(drift.len(), 1, "{doc}");
        assert!(
            drift[0].contains("inline policy self-service of group SelfEdit is not a valid policy"),
            "{}",
            drift[0]
        );
        assert!(
            matches!(ev.statuses.get(&CheckId::SelfServicePolicyOverbroad), Some(CheckStatus::Unknown(r)) if r.contains(why))
        );
        assert!(matches!(ev.statuses.get(&CheckId::UserMfaNotEnforced), Some(CheckStatus::Unknown(_))));
    }

    // An attached policy whose document could not be read: nothing about it is guessed.
    let arn = format!("arn:aws:iam::{ACCOUNT}:policy/Extra");
    let mut inv = inventory(vec![console_user("alice")]);
    inv.authorization
        .as_mut()
        .expect("read")
        .groups
        .get_mut(MFA_GROUP)
        .expect("group")
        .attached_policies
        .push(arn.clone());
    managed(&mut inv, &arn, Err(failure("iam:GetPolicyVersion")));
    let g = inv.authorization.as_mut().expect("read").groups.get_mut(MFA_GROUP).expect("group");
    g.inline_documents.clear();
    g.inline_policies.clear();
    let ev = run(&inv);
    assert_clean(&ev);
    for check in
        [CheckId::SelfServicePolicyDrift, CheckId::SelfServicePolicyOverbroad, CheckId::UserMfaNotEnforced]
    {
        match ev.statuses.get(&check) {
            Some(CheckStatus::Unknown(r)) => {
                assert!(r.contains("iam:GetPolicyVersion failed (AccessDenied)"), "{check}: {r}")
            }
            other => panic!("{check}: expected unknown, got {other:?}"),
        }
    }
}

#[test]
fn control_checks_in_a_scoped_run() {
    let inv = violation(CheckId::UserMfaNotEnforced);
    let ev = evaluate(&inv, &AuditPolicy::default(), &only(&["alice"]), now());
    assert_eq!(fired(&ev), BTreeSet::from([CheckId::UserMfaNotEnforced]));
    for check in [CheckId::SelfServicePolicyDrift, CheckId::SelfServicePolicyOverbroad] {
        assert!(matches!(ev.statuses.get(&check), Some(CheckStatus::Skipped(_))), "{check}");
    }
    let ev = evaluate(&inv, &AuditPolicy::default(), &only(&["bob"]), now());
    assert_clean(&ev);
}

// ---------------------------------------------------------------------------------------------
// Unknown: failed reads
// ---------------------------------------------------------------------------------------------

/// Every check violated at once, so a check that runs always has something to say.
fn everything_wrong() -> Inventory {
    let mut inv = inventory(vec![
        with(console_user("alice"), |r| {
            r.mfa_active = false;
            r.user_creation_time = at(days_ago(200));
            r.password_last_used = ReportTime::NoInformation;
            r.password_last_changed = ReportTime::NotApplicable;
            r.keys = [
                active_key(1, days_ago(200) + Duration::minutes(1), ReportTime::NotApplicable),
                active_key(2, days_ago(100), ReportTime::NotApplicable),
            ];
        }),
        with(api_user("robot"), |r| {
            r.mfa_active = false;
            r.keys[1] = inactive_key(2, days_ago(300), at(days_ago(200)));
        }),
    ]);
    let alice = user_mut(&mut inv, "alice");
    alice.groups.clear();
    alice.inline_policies.push("alice-admin".into());
    alice.inline_documents.insert("alice-admin".into(), ADMIN.into());
    user_mut(&mut inv, "robot").attached_policies.push(POWER_USER_ARN.into());
    managed(&mut inv, POWER_USER_ARN, Ok(POWER_USER.into()));
    set_group_policy(&mut inv, MFA_GROUP, "self-service", &tampered_canonical());
    set_group_policy(
        &mut inv,
        MFA_GROUP,
        "mfa-helpdesk",
        &allow("iam:DeleteVirtualMFADevice", "arn:aws:iam::*:mfa/*"),
    );
    inv.virtual_mfa_devices =
        Ok(vec![VirtualMfaDevice { serial_number: mfa_arn("alice"), user: None, enable_date: None }]);
    inv.account_summary = Ok(AccountSummary { root_mfa_enabled: false, root_access_keys_present: true });
    inv.password_policy = Ok(None);
    inv
}

fn fail_source(inv: &mut Inventory, source: DataSource) -> ReadFailure {
    let op = match source {
        DataSource::CredentialReport => "iam:GetCredentialReport",
        DataSource::Authorization => "iam:GetAccountAuthorizationDetails",
        DataSource::VirtualMfaDevices => "iam:ListVirtualMFADevices",
        DataSource::AccountSummary => "iam:GetAccountSummary",
        DataSource::PasswordPolicy => "iam:GetAccountPasswordPolicy",
        DataSource::LiveKeys => unreachable!("live reads are not part of the inventory"),
    };
    let f = failure(op);
    match source {
        DataSource::CredentialReport => inv.credential_report = Err(f.clone()),
        DataSource::Authorization => inv.authorization = Err(f.clone()),
        DataSource::VirtualMfaDevices => inv.virtual_mfa_devices = Err(f.clone()),
        DataSource::AccountSummary => inv.account_summary = Err(f.clone()),
        DataSource::PasswordPolicy => inv.password_policy = Err(f.clone()),
        DataSource::LiveKeys => unreachable!("live reads are not part of the inventory"),
    }
    f
}

const SOURCES: [DataSource; 5] = [
    DataSource::CredentialReport,
    DataSource::Authorization,
    DataSource::VirtualMfaDevices,
    DataSource::AccountSummary,
    DataSource::PasswordPolicy,
];

#[test]
fn everything_wrong_fires_every_check() {
    let ev = run(&everything_wrong());
    assert_eq!(fired(&ev), audit_checks().collect());
}

#[test]
fn a_failed_source_makes_its_checks_unknown_and_silent_while_the_others_run() {
    for source in SOURCES {
        let mut inv = everything_wrong();
        let failed = fail_source(&mut inv, source);
        let ev = run(&inv);
        let mut some_unknown = false;
        for check in audit_checks() {
            let status = ev.statuses.get(&check).expect("every check has a status");
            if check.meta().reads.contains(&source) {
                some_unknown = true;
                match status {
                    CheckStatus::Unknown(reason) => {
                        assert!(reason.contains(&failed.operation), "{check}: {reason}");
                        assert!(reason.contains("AccessDenied"), "{check}: {reason}");
                    }
                    other => panic!("{check} reads {source:?} which failed, but is {other:?}"),
                }
                assert!(of(&ev, check).is_empty(), "{check} is unknown but produced findings");
            } else {
                assert_eq!(status, &CheckStatus::Evaluated, "{check} with {source:?} failed");
                assert!(!of(&ev, check).is_empty(), "{check} should still run with {source:?} failed");
            }
        }
        assert!(some_unknown, "no check reads {source:?}");
    }
}

#[test]
fn failed_credential_report_leaves_no_credential_check_evaluated() {
    let mut inv = inventory(vec![console_user("alice"), api_user("robot")]);
    inv.credential_report = Err(ReadFailure::new("iam:GetCredentialReport", None, "connection refused"));
    let ev = run(&inv);
    let unknown: BTreeSet<CheckId> =
        ev.statuses.iter().filter(|(_, s)| matches!(s, CheckStatus::Unknown(_))).map(|(c, _)| *c).collect();
    let expected: BTreeSet<CheckId> = [
        CheckId::ConsoleUserWithoutMfa,
        CheckId::UserWithoutMfa,
        CheckId::AccessKeyNotRotated,
        CheckId::AccessKeyUnused,
        CheckId::ConsolePasswordUnused,
        CheckId::TwoActiveAccessKeys,
        CheckId::AccessKeyCreatedAtSetup,
        CheckId::InactiveAccessKeyLingering,
    ]
    .into_iter()
    .collect();
    assert_eq!(unknown, expected);
    assert_eq!(
        ev.statuses.get(&CheckId::AccessKeyNotRotated),
        Some(&CheckStatus::Unknown("iam:GetCredentialReport failed: connection refused".into()))
    );
    // Users are still scanned from the authorization details.
    assert_eq!(ev.users_scanned, 2);
    assert_clean(&ev);
}

// ---------------------------------------------------------------------------------------------
// Scope
// ---------------------------------------------------------------------------------------------

#[test]
fn scoped_run_skips_account_checks_and_evaluates_only_named_users() {
    let inv = everything_wrong();
    let ev = evaluate(&inv, &AuditPolicy::default(), &only(&["robot"]), now());
    for check in audit_checks() {
        let status = ev.statuses.get(&check).expect("every check has a status");
        match check.meta().scope {
            Scope::Account => {
                assert!(matches!(status, CheckStatus::Skipped(_)), "{check}: {status:?}");
                assert!(of(&ev, check).is_empty(), "{check} skipped but reported");
            }
            Scope::User => assert_eq!(status, &CheckStatus::Evaluated, "{check}"),
        }
    }
    assert!(!ev.findings.is_empty());
    assert!(ev.findings.iter().all(|f| f.user.as_deref() == Some("robot")), "{:#?}", ev.findings);
    assert_eq!(
        fired(&ev),
        BTreeSet::from([
            CheckId::UserWithoutMfa,
            CheckId::InactiveAccessKeyLingering,
            CheckId::UserHasDirectPolicies
        ])
    );
    assert_eq!(ev.users_scanned, 1);
}

#[test]
fn scoped_run_with_several_users_and_unknown_names() {
    let inv = everything_wrong();
    let ev = evaluate(&inv, &AuditPolicy::default(), &only(&["alice", "robot", "nobody"]), now());
    let users: BTreeSet<&str> = ev.findings.iter().filter_map(|f| f.user.as_deref()).collect();
    assert_eq!(users, BTreeSet::from(["alice", "robot"]));
    assert!(ev.findings.iter().all(|f| f.user.is_some()));
    assert_eq!(ev.users_scanned, 2);

    let ev = evaluate(&inv, &AuditPolicy::default(), &only(&[]), now());
    assert_clean(&ev);
    assert_eq!(ev.users_scanned, 0);
}

// ---------------------------------------------------------------------------------------------
// Ordering
// ---------------------------------------------------------------------------------------------

#[test]
fn findings_come_worst_first_then_by_check_user_and_slot() {
    let ev = run(&everything_wrong());
    for pair in ev.findings.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        let key = |f: &Finding| (std::cmp::Reverse(f.severity), f.check, f.user.clone(), f.key_slot);
        assert!(key(a) <= key(b), "{a:#?} before {b:#?}");
    }
    assert_eq!(ev.findings[0].severity, keywarden_core::Severity::Critical);
}

#[test]
fn evaluation_is_a_pure_function_of_its_inputs() {
    let inv = everything_wrong();
    let a = run(&inv);
    let b = run(&inv);
    assert_eq!(a.findings, b.findings);
    assert_eq!(a.statuses, b.statuses);
    // A later `now` ages everything: a key fine today is flagged in 100 days.
    let inv = inventory(vec![api_user("robot")]);
    assert_clean(&run(&inv));
    let later = evaluate(&inv, &AuditPolicy::default(), &UserScope::All, now() + Duration::days(100));
    assert!(fired(&later).contains(&CheckId::AccessKeyNotRotated));
}

// ---------------------------------------------------------------------------------------------
// Live reads
// ---------------------------------------------------------------------------------------------

fn live_key(id: &str, created: DateTime<Utc>, active: bool) -> AccessKeyMeta {
    AccessKeyMeta { access_key_id: id.into(), active, created }
}

/// robot: two active keys, both too old (and two_active_access_keys, which has no slot).
fn two_old_keys() -> Evaluation {
    run(&inventory(vec![with(api_user("robot"), |r| {
        r.keys[0] = active_key(1, days_ago(200), at(days_ago(1)));
        r.keys[1] = active_key(2, days_ago(100), at(days_ago(1)));
    })]))
}

#[test]
fn live_request_asks_for_keys_of_key_findings_and_login_profiles_of_unused_passwords() {
    let ev = run(&everything_wrong());
    let req = live_request(&ev.findings);
    assert_eq!(req.access_keys_for, BTreeSet::from(["alice".to_string(), "robot".to_string()]));
    assert_eq!(req.login_profile_for, BTreeSet::from(["alice".to_string()]));
    assert!(!req.is_empty());

    // Findings without a key or a password (and account findings) need no live read.
    let mut inv = inventory(vec![console_user("alice")]);
    user_mut(&mut inv, "alice").groups.clear();
    inv.password_policy = Ok(None);
    let ev = run(&inv);
    assert_eq!(ev.findings.len(), 2);
    assert!(live_request(&ev.findings).is_empty());
    assert!(live_request(&[]).is_empty());
}

#[test]
fn live_key_ids_are_attached_by_matching_creation_time() {
    let mut ev = two_old_keys();
    let live = LiveDetails {
        access_keys: BTreeMap::from([(
            "robot".to_string(),
            Ok(vec![live_key("AKIAOLDER", days_ago(200), true), live_key("AKIANEWER", days_ago(100), true)]),
        )]),
        login_profiles: BTreeMap::new(),
    };
    apply_live(&mut ev, &live);
    let ids: BTreeMap<u8, Option<&str>> = of(&ev, CheckId::AccessKeyNotRotated)
        .iter()
        .map(|f| (f.key_slot.expect("key finding"), f.access_key_id.as_deref()))
        .collect();
    assert_eq!(ids, BTreeMap::from([(1, Some("AKIAOLDER")), (2, Some("AKIANEWER"))]));
    assert_eq!(single_of(&ev, CheckId::TwoActiveAccessKeys).access_key_id, None);
    assert!(ev.warnings.is_empty(), "{:?}", ev.warnings);
}

#[test]
fn finding_about_a_key_that_no_longer_exists_is_dropped_with_a_warning() {
    let mut ev = two_old_keys();
    // Slot 1's key was deleted since the report; a brand new key took its place.
    let live = LiveDetails {
        access_keys: BTreeMap::from([(
            "robot".to_string(),
            Ok(vec![live_key("AKIANEWER", days_ago(100), true), live_key("AKIAFRESH", now(), true)]),
        )]),
        login_profiles: BTreeMap::new(),
    };
    apply_live(&mut ev, &live);
    let left = of(&ev, CheckId::AccessKeyNotRotated);
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].key_slot, Some(2));
    assert_eq!(left[0].access_key_id.as_deref(), Some("AKIANEWER"));
    assert_eq!(ev.warnings.len(), 1, "{:?}", ev.warnings);
    let w = &ev.warnings[0];
    assert!(w.contains("access_key_not_rotated") && w.contains("robot") && w.contains("no longer exists"));
}

#[test]
fn failed_or_missing_live_read_keeps_the_finding() {
    for live in [
        LiveDetails {
            access_keys: BTreeMap::from([("robot".to_string(), Err(failure("iam:ListAccessKeys")))]),
            login_profiles: BTreeMap::new(),
        },
        LiveDetails::default(),
    ] {
        let mut ev = two_old_keys();
        let before = ev.findings.clone();
        apply_live(&mut ev, &live);
        assert_eq!(ev.findings, before);
        assert!(ev.findings.iter().all(|f| f.access_key_id.is_none()));
        assert!(ev.warnings.is_empty(), "{:?}", ev.warnings);
    }
}

#[test]
fn ambiguous_live_match_keeps_the_finding_without_an_id() {
    let mut ev = two_old_keys();
    let live = LiveDetails {
        access_keys: BTreeMap::from([(
            "robot".to_string(),
            Ok(vec![
                live_key("AKIAONE", days_ago(200), true),
                live_key("AKIATWO", days_ago(200), true),
                live_key("AKIANEWER", days_ago(100), true),
            ]),
        )]),
        login_profiles: BTreeMap::new(),
    };
    apply_live(&mut ev, &live);
    let by_slot: BTreeMap<u8, Option<&str>> = of(&ev, CheckId::AccessKeyNotRotated)
        .iter()
        .map(|f| (f.key_slot.expect("key finding"), f.access_key_id.as_deref()))
        .collect();
    assert_eq!(by_slot, BTreeMap::from([(1, None), (2, Some("AKIANEWER"))]));
}

#[test]
fn unused_password_finding_depends_on_the_live_login_profile() {
    let base = || run(&violation(CheckId::ConsolePasswordUnused));
    let profiles = |state: Result<bool, ReadFailure>| LiveDetails {
        access_keys: BTreeMap::new(),
        login_profiles: BTreeMap::from([("alice".to_string(), state)]),
    };

    // Login profile gone since the report: dropped with a warning.
    let mut ev = base();
    apply_live(&mut ev, &profiles(Ok(false)));
    assert_clean(&ev);
    assert_eq!(ev.warnings.len(), 1, "{:?}", ev.warnings);
    assert!(ev.warnings[0].contains("alice") && ev.warnings[0].contains("console_password_unused"));

    // Still there, or the read failed: kept.
    for state in [Ok(true), Err(failure("iam:GetLoginProfile"))] {
        let mut ev = base();
        apply_live(&mut ev, &profiles(state));
        single(&ev, CheckId::ConsolePasswordUnused);
        assert!(ev.warnings.is_empty(), "{:?}", ev.warnings);
    }
}

#[test]
fn login_profile_gone_does_not_drop_other_findings_of_the_user() {
    let mut ev = run(&inventory(vec![with(console_user("alice"), |r| {
        r.mfa_active = false;
        r.password_last_used = at(days_ago(60));
    })]));
    assert_eq!(fired(&ev), BTreeSet::from([CheckId::ConsoleUserWithoutMfa, CheckId::ConsolePasswordUnused]));
    let live = LiveDetails {
        access_keys: BTreeMap::new(),
        login_profiles: BTreeMap::from([("alice".to_string(), Ok(false))]),
    };
    apply_live(&mut ev, &live);
    assert_eq!(fired(&ev), BTreeSet::from([CheckId::ConsoleUserWithoutMfa]));
}

#[test]
fn inactive_key_finding_gets_the_id_of_the_inactive_live_key() {
    let mut ev = run(&inactive(200, at(days_ago(100))));
    let live = LiveDetails {
        access_keys: BTreeMap::from([(
            "robot".to_string(),
            Ok(vec![
                live_key("AKIAACTIVE", days_ago(10), true),
                live_key("AKIADORMANT", days_ago(200), false),
            ]),
        )]),
        login_profiles: BTreeMap::new(),
    };
    apply_live(&mut ev, &live);
    let f = single(&ev, CheckId::InactiveAccessKeyLingering);
    assert_eq!(f.access_key_id.as_deref(), Some("AKIADORMANT"));
    assert!(ev.warnings.is_empty(), "{:?}", ev.warnings);
}

// ---------------------------------------------------------------------------------------------
// two_active_access_keys during keywarden's own rotation
// ---------------------------------------------------------------------------------------------

/// robot mid-rotation: two active keys in the report, a rotation record with these ids.
fn rotating(record: &str) -> Inventory {
    let mut inv = inventory(vec![with(api_user("robot"), |r| {
        r.keys[0] = active_key(1, days_ago(92), at(days_ago(1)));
        r.keys[1] = active_key(2, days_ago(2), at(days_ago(1)));
    })]);
    user_mut(&mut inv, "robot")
        .tags
        .insert(keywarden_core::rotation::ROTATION_TAG.to_string(), record.to_string());
    inv
}

fn grace_record(old: &str, new: &str, days_ago_started: i64) -> String {
    keywarden_core::rotation::RotationState::Grace {
        old: old.into(),
        new: new.into(),
        at: days_ago(days_ago_started),
    }
    .to_tag()
}

fn live_keys(keys: Vec<AccessKeyMeta>) -> LiveDetails {
    LiveDetails {
        access_keys: BTreeMap::from([("robot".to_string(), Ok(keys))]),
        login_profiles: BTreeMap::new(),
    }
}

fn two_active_after_live(inv: &Inventory, live: &LiveDetails) -> usize {
    let mut ev = run(inv);
    assert!(ev.live_request().access_keys_for.contains("robot") || ev.grace_pairs.is_empty());
    apply_live(&mut ev, live);
    of(&ev, CheckId::TwoActiveAccessKeys).len()
}

#[test]
fn two_active_keys_are_muted_only_for_the_records_own_keys_inside_the_grace_period() {
    let keys = || {
        live_keys(vec![
            live_key("AKIAOLD0000000000001", days_ago(92), true),
            live_key("AKIANEW0000000000002", days_ago(2), true),
        ])
    };
    // The record names exactly the two active keys, 2 days into a 7-day grace: muted.
    assert_eq!(
        two_active_after_live(
            &rotating(&grace_record("AKIAOLD0000000000001", "AKIANEW0000000000002", 2)),
            &keys()
        ),
        0
    );
    // The record names another key: the second active key is not keywarden's.
    assert_eq!(
        two_active_after_live(
            &rotating(&grace_record("AKIAOLD0000000000001", "AKIAOTHER00000000003", 2)),
            &keys()
        ),
        1
    );
    // The grace period ended 3 days ago: two keys are no longer expected.
    assert_eq!(
        two_active_after_live(
            &rotating(&grace_record("AKIAOLD0000000000001", "AKIANEW0000000000002", 10)),
            &keys()
        ),
        1
    );
    // A hold has no end of its own: not muted here (a rotation run says it as a held key).
    let hold = keywarden_core::rotation::RotationState::Hold {
        old: "AKIAOLD0000000000001".into(),
        new: "AKIANEW0000000000002".into(),
        at: days_ago(2),
    }
    .to_tag();
    assert_eq!(two_active_after_live(&rotating(&hold), &keys()), 1);
}

#[test]
fn two_active_keys_stand_when_the_live_read_failed_or_was_not_made() {
    let inv = rotating(&grace_record("AKIAOLD0000000000001", "AKIANEW0000000000002", 2));
    let ev = run(&inv);
    assert_eq!(ev.live_request().access_keys_for, BTreeSet::from(["robot".to_string()]));
    // No live read at all: the finding stands.
    assert_eq!(of(&ev, CheckId::TwoActiveAccessKeys).len(), 1);
    let failed = LiveDetails {
        access_keys: BTreeMap::from([("robot".to_string(), Err(failure("iam:ListAccessKeys")))]),
        login_profiles: BTreeMap::new(),
    };
    assert_eq!(two_active_after_live(&inv, &failed), 1);
    // A third key, or the record's key inactive and another active, is not the record's pair.
    let other = live_keys(vec![
        live_key("AKIAOLD0000000000001", days_ago(92), false),
        live_key("AKIAXXX0000000000004", days_ago(2), true),
    ]);
    assert_eq!(two_active_after_live(&inv, &other), 1);
}

/// Alice, bob and carol in one group with `document`, and in no other: the users the MFA
/// analysis finds unenforced. The run analyses the group's members in name order and
/// shares an answer only where the name decided nothing, so each case below is one where
/// sharing alice's answer with the others would be wrong.
fn unenforced_members(document: &str) -> BTreeSet<String> {
    let mut inv = inventory(vec![console_user("alice"), console_user("bob"), console_user("carol")]);
    let auth = inv.authorization.as_mut().expect("read");
    auth.groups.insert(
        "Shared".into(),
        GroupDetail {
            name: "Shared".into(),
            arn: group_arn("Shared"),
            inline_policies: vec!["p".into()],
            attached_policies: Vec::new(),
            inline_documents: [("p".to_string(), document.to_string())].into(),
        },
    );
    for user in auth.users.values_mut() {
        user.groups = BTreeSet::from(["Shared".to_string()]);
    }
    let ev = run(&inv);
    let alone = |name: &str| {
        let ev = evaluate(&inv, &AuditPolicy::default(), &only(&[name]), now());
        of(&ev, CheckId::UserMfaNotEnforced).len()
    };
    let whole: BTreeSet<String> =
        of(&ev, CheckId::UserMfaNotEnforced).iter().filter_map(|f| f.user.clone()).collect();
    for name in ["alice", "bob", "carol"] {
        assert_eq!(alone(name), usize::from(whole.contains(name)), "{name} judged alone and with the group");
    }
    whole
}

#[test]
fn members_of_one_group_are_judged_by_their_own_names() {
    let set = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<BTreeSet<_>>();
    // A Deny on every resource, but only for alice: the condition reads the name.
    let deny_for_alice = r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Action":"s3:GetObject","Resource":"*"},
        {"Effect":"Deny","Action":"s3:*","Resource":"*","Condition":{"StringEquals":{"aws:username":"alice"}}}]}"#;
    assert_eq!(unenforced_members(deny_for_alice), set(&["bob", "carol"]));
    // Alice's own user is hers to change her password on; nobody else's is.
    let alices_password = r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Action":"iam:ChangePassword","Resource":"arn:aws:iam::*:user/alice"}]}"#;
    assert_eq!(unenforced_members(alices_password), set(&["bob", "carol"]));
    // Each member's home, denied without MFA except bob's and carol's.
    let homes = r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::home/${aws:username}/*"},
        {"Effect":"Deny","Action":"s3:*","NotResource":["arn:aws:s3:::home/bob/*","arn:aws:s3:::home/carol/*"],
         "Condition":{"BoolIfExists":{"aws:MultiFactorAuthPresent":"false"}}}]}"#;
    assert_eq!(unenforced_members(homes), set(&["bob", "carol"]));
}

proptest::proptest! {
    /// The order of a report: most severe first, then check, user, key slot and resource,
    /// stable among equals; the sort by ranked users gives exactly the plain sort's order.
    #[test]
    fn findings_sort_in_the_documented_order(
        raw in proptest::collection::vec(
            (0usize..64, proptest::option::of(0usize..6), proptest::option::of(1u8..3), 0usize..3, 0usize..1000),
            0..200,
        ),
    ) {
        let users = ["", "alice", "bob", "Bob", "alice2", "zed"];
        let mut findings: Vec<Finding> = raw
            .iter()
            .map(|(c, u, slot, r, tag)| {
                let check = CheckId::ALL[c % CheckId::ALL.len()];
                Finding {
                    check,
                    severity: check.meta().severity,
                    user: u.map(|u| users[u].to_string()),
                    resource: format!("resource {r}"),
                    access_key_id: None,
                    key_slot: *slot,
                    key_created: None,
                    message: format!("finding {tag}"),
                    exempted: false,
                    exemption: None,
                }
            })
            .collect();
        let mut expected = findings.clone();
        expected.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then(a.check.cmp(&b.check))
                .then(a.user.cmp(&b.user))
                .then(a.key_slot.cmp(&b.key_slot))
                .then(a.resource.cmp(&b.resource))
        });
        sort_findings(&mut findings);
        proptest::prop_assert_eq!(&findings, &expected);
        // Sorting what is sorted changes nothing.
        sort_findings(&mut findings);
        proptest::prop_assert_eq!(findings, expected);
    }
}
