//! The pre-MFA bootstrap actions AWS's Force_MFA tutorial documents are no MFA gap on the
//! user's own resources (or account-wide for the listings), and only there.

use keywarden_core::analysis::{MfaEnforcement, MfaGap, MfaProber, PreMfaScope, PRE_MFA_BOOTSTRAP_ACTIONS};
use keywarden_core::policy::{
    canonical_self_service, Actions, Effect, PolicyDocument, NO_PERMISSION_ACTIONS,
};

/// Seed 002's policy (a blog post's Force_MFA variant), verbatim: it allows `iam:ListUsers`
/// before MFA, as the tutorial documents as an option.
const SEED_002: &str = include_str!("fixtures/policy/seed-002-force-mfa.json");

fn parse(text: &str) -> PolicyDocument {
    PolicyDocument::parse(text).expect("test policy parses")
}

fn check(policies: &[&str]) -> MfaEnforcement {
    let docs: Vec<(String, PolicyDocument)> =
        policies.iter().enumerate().map(|(i, p)| (format!("policy #{}", i + 1), parse(p))).collect();
    MfaProber::new().check(&docs, "alice", "123456789012")
}

fn gap(policies: &[&str]) -> MfaGap {
    match check(policies) {
        MfaEnforcement::NotEnforced(gap) => gap,
        other => panic!("expected a gap, got {other:?}"),
    }
}

/// Seed 002 without its `AllowMFAHandling` statement (which reaches every user's device and
/// is a gap of its own), so what is left is ListUsers and the deny.
fn seed_002_list_users_only() -> String {
    let mut doc: serde_json::Value = serde_json::from_str(SEED_002).expect("seed 002 is JSON");
    doc["Statement"].as_array_mut().expect("statements").retain(|s| s["Sid"] != "AllowMFAHandling");
    doc.to_string()
}

#[test]
fn seed_002_list_users_before_mfa_is_no_gap() {
    assert_eq!(check(&[&seed_002_list_users_only()]), MfaEnforcement::Enforced);
    // The whole seed still has a gap, but never iam:ListUsers: its MFA statement reaches
    // every user's device, which is not the user's own.
    let g = gap(&[SEED_002]);
    assert_ne!(g.action, "iam:ListUsers");
    assert!(g.granted_by.ends_with("statement AllowMFAHandling"), "{g:?}");
    assert!(!g.example.ends_with("mfa/alice"), "{g:?}");
}

#[test]
fn a_sensitive_action_beside_the_bootstrap_ones_is_still_a_gap() {
    // The seed's deny tampered to spare s3:GetObject too: reading data without MFA is a gap.
    let mut tampered: serde_json::Value = serde_json::from_str(&seed_002_list_users_only()).expect("JSON");
    for st in tampered["Statement"].as_array_mut().expect("statements") {
        if let Some(list) = st.get_mut("NotAction").and_then(|l| l.as_array_mut()) {
            list.push("s3:GetObject".into());
        }
    }
    let tampered = tampered.to_string();
    let data = r#"{"Version":"2012-10-17","Statement":{"Sid":"Data","Effect":"Allow","Action":["iam:ListUsers","s3:GetObject"],"Resource":"*"}}"#;
    let g = gap(&[&tampered, data]);
    assert_eq!((g.action.as_str(), g.granted_by.as_str()), ("s3:GetObject", "policy #2, statement Data"));
    // Without any deny at all, ListUsers is still not what is reported.
    let g = gap(&[data]);
    assert_eq!(g.action, "s3:GetObject");
}

#[test]
fn bootstrap_actions_are_exempt_on_ones_own_resources_only() {
    let no_deny = |resource: &str| {
        format!(
            r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Action":["iam:CreateLoginProfile","iam:ChangePassword"],"Resource":"{resource}"}}}}"#
        )
    };
    assert_eq!(check(&[&no_deny("arn:aws:iam::*:user/${aws:username}")]), MfaEnforcement::Enforced);
    assert_eq!(
        check(&[&no_deny("arn:aws:iam::123456789012:user/engineering/alice")]),
        MfaEnforcement::Enforced
    );
    let g = gap(&[&no_deny("arn:aws:iam::*:user/*")]);
    assert_eq!(g.action, "iam:CreateLoginProfile");
    assert!(!g.example.ends_with("/alice"), "{g:?}");
    // A sensitive IAM action on one's own user is no bootstrap.
    let own_keys = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iam:CreateAccessKey","Resource":"arn:aws:iam::*:user/${aws:username}"}}"#;
    assert_eq!(gap(&[own_keys]).action, "iam:CreateAccessKey");
}

#[test]
fn the_constant_holds_the_canonical_policys_exceptions_and_the_documented_options() {
    let canonical = canonical_self_service().expect("canonical parses");
    let deny = canonical.statements.iter().find(|s| s.effect == Effect::Deny).expect("a deny");
    let Actions::NotAction(exceptions) = &deny.actions else { panic!("the deny is a NotAction") };
    for a in exceptions {
        assert!(
            PRE_MFA_BOOTSTRAP_ACTIONS.iter().any(|(b, _)| b == a)
                || NO_PERMISSION_ACTIONS.contains(&a.as_str()),
            "{a} is left open by the canonical policy but not a bootstrap action"
        );
    }
    for (a, scope) in [
        ("iam:ListUsers", PreMfaScope::Account),
        ("iam:EnableMFADevice", PreMfaScope::AnyResource),
        ("iam:CreateLoginProfile", PreMfaScope::OwnResources),
        ("iam:ChangePassword", PreMfaScope::OwnResources),
    ] {
        assert!(PRE_MFA_BOOTSTRAP_ACTIONS.contains(&(a, scope)), "{a}");
    }
    assert!(!PRE_MFA_BOOTSTRAP_ACTIONS
        .iter()
        .any(|(a, _)| *a == "iam:DeactivateMFADevice" || *a == "iam:DeleteVirtualMFADevice"));
}
