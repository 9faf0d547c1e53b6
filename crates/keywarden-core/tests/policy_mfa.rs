//! `user_mfa_not_enforced`'s analysis: enforcement is proven by containment of the Allows'
//! actions and resources in the MFA Denies', never by a sample request.

use keywarden_core::analysis::{MfaEnforcement, MfaGap, MfaProber, Session};
use keywarden_core::fixtures::ACCOUNT_ID as ACCOUNT;
use keywarden_core::policy::{PolicyDocument, CANONICAL_SELF_SERVICE};

fn parse(text: &str) -> PolicyDocument {
    PolicyDocument::parse(text).expect("test policy parses")
}

fn check(policies: &[&str]) -> MfaEnforcement {
    let docs: Vec<(String, PolicyDocument)> =
        policies.iter().enumerate().map(|(i, p)| (format!("policy #{}", i + 1), parse(p))).collect();
    MfaProber::new().check(&docs, "alice", ACCOUNT)
}

fn gap(policies: &[&str]) -> MfaGap {
    match check(policies) {
        MfaEnforcement::NotEnforced(gap) => gap,
        other => panic!("expected a gap, got {other:?}"),
    }
}

fn allow(action: &str, resource: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":{{"Sid":"Grant","Effect":"Allow","Action":{action},"Resource":{resource}}}}}"#
    )
}

/// A deny of `actions` on `resources` (JSON element names and values) without MFA.
fn mfa_deny(actions: &str, resources: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Deny",{actions},{resources},
            "Condition":{{"BoolIfExists":{{"aws:MultiFactorAuthPresent":"false"}}}}}}}}"#
    )
}

#[test]
fn a_deny_on_the_accounts_arns_does_not_cover_arns_without_an_account() {
    // The sampled probe used arn:aws:s3:us-east-1:<account>:… and called this enforced.
    let anywhere = allow(r#""s3:GetObject""#, r#""*""#);
    let deny = mfa_deny(r#""Action":"*""#, &format!(r#""Resource":"arn:aws:*:*:{ACCOUNT}:*""#));
    let g = gap(&[&anywhere, &deny]);
    assert_eq!((g.action.as_str(), g.resource.as_str()), ("s3:GetObject", "*"));
    assert!(!g.example.contains(ACCOUNT), "the example escapes the deny: {}", g.example);
    assert_eq!(g.granted_by, "policy #1, statement Grant");
    // IAM's region-less ARNs escape a deny that names a region.
    let iam = allow(r#""iam:CreateAccessKey""#, r#""arn:aws:iam::*:user/${aws:username}""#);
    let regional = mfa_deny(r#""Action":"*""#, r#""Resource":"arn:aws:*:us-east-1:*:*""#);
    let g = gap(&[&iam, &regional]);
    assert_eq!(g.example, format!("arn:aws:iam::{ACCOUNT}:user/alice"));
    // A deny on everything covers both.
    let everything = mfa_deny(r#""Action":"*""#, r#""Resource":"*""#);
    assert_eq!(check(&[&anywhere, &iam, &everything]), MfaEnforcement::Enforced);
}

#[test]
fn containment_is_proven_for_scoped_denies_that_do_cover() {
    // The deny reaches every IAM ARN, which contains the user's own: proven, not sampled.
    let own =
        allow(r#"["iam:CreateAccessKey","iam:DeleteAccessKey"]"#, r#""arn:aws:iam::*:user/${aws:username}""#);
    let iam_only = mfa_deny(r#""Action":"iam:*""#, r#""Resource":"arn:aws:iam::*""#);
    assert_eq!(check(&[&own, &iam_only]), MfaEnforcement::Enforced);
    // Two denies that each cover part of the resources cover all of it together.
    let bucket = allow(r#""s3:GetObject""#, r#""arn:aws:s3:::*""#);
    let x = mfa_deny(r#""Action":"s3:*""#, r#""Resource":"arn:aws:s3:::x*""#);
    let not_x = mfa_deny(r#""Action":"s3:*""#, r#""NotResource":"arn:aws:s3:::x*""#);
    assert_eq!(check(&[&bucket, &x, &not_x]), MfaEnforcement::Enforced);
    // One of them alone leaves the other part open, and the gap is in that part.
    let g = gap(&[&bucket, &x]);
    assert!(!g.example.starts_with("arn:aws:s3:::x"), "{g:?}");
    let g = gap(&[&bucket, &not_x]);
    assert!(g.example.starts_with("arn:aws:s3:::x"), "{g:?}");
}

#[test]
fn wildcard_actions_are_covered_only_by_a_deny_of_all_of_them() {
    let get = allow(r#""s3:Get*""#, r#""arn:aws:s3:::data/*""#);
    let one = mfa_deny(r#""Action":"s3:GetObject""#, r#""Resource":"*""#);
    let g = gap(&[&get, &one]);
    assert!(g.action.starts_with("s3:Get") && g.action != "s3:GetObject", "{g:?}");
    let family = mfa_deny(r#""Action":["s3:Get*","s3:List*"]"#, r#""Resource":"*""#);
    assert_eq!(check(&[&get, &family]), MfaEnforcement::Enforced);
    // A deny of everything but IAM leaves every IAM action an allow of `*` grants.
    let admin = allow(r#""*""#, r#""*""#);
    let but_iam = mfa_deny(r#""NotAction":"iam:*""#, r#""Resource":"*""#);
    let g = gap(&[&admin, &but_iam]);
    assert!(g.action.starts_with("iam:"), "{g:?}");
}

#[test]
fn not_action_and_not_resource_on_both_sides() {
    let not_public = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","NotResource":"arn:aws:s3:::public/*"}}"#;
    let same = mfa_deny(r#""Action":"s3:*""#, r#""NotResource":"arn:aws:s3:::public/*""#);
    assert_eq!(check(&[not_public, &same]), MfaEnforcement::Enforced);
    // A deny that also spares data/ leaves data/ open.
    let wider =
        mfa_deny(r#""Action":"s3:*""#, r#""NotResource":["arn:aws:s3:::public/*","arn:aws:s3:::data/*"]"#);
    let g = gap(&[not_public, &wider]);
    assert!(g.example.starts_with("arn:aws:s3:::data/"), "{g:?}");
    assert_eq!(g.resource, "anything but arn:aws:s3:::public/*");
    // NotAction allow against a NotAction deny that spares more.
    let not_iam =
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","NotAction":"iam:*","Resource":"*"}}"#;
    let spares_kms = mfa_deny(r#""NotAction":["iam:*","kms:*"]"#, r#""Resource":"*""#);
    assert!(gap(&[not_iam, &spares_kms]).action.starts_with("kms:"));
    let spares_iam = mfa_deny(r#""NotAction":"iam:*""#, r#""Resource":"*""#);
    assert_eq!(check(&[not_iam, &spares_iam]), MfaEnforcement::Enforced);
}

#[test]
fn a_deny_that_covers_only_one_session_leaves_the_other_open() {
    let admin = allow(r#""ec2:*""#, r#""*""#);
    let console_only = r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"false"}}}}"#;
    assert_eq!(gap(&[&admin, console_only]).session, Session::AccessKey);
    let old_mfa = r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"NumericGreaterThanIfExists":{"aws:MultiFactorAuthAge":"3600"}}}}"#;
    assert_eq!(check(&[&admin, old_mfa]), MfaEnforcement::Enforced, "no MFA age at all is denied too");
}

#[test]
fn unprovable_coverage_is_unknown_never_enforced() {
    // A deny that only applies outside the office: no proof, and no request shows a gap.
    let admin = allow(r#""ec2:*""#, r#""*""#);
    let office = r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}}"#;
    assert!(matches!(check(&[&admin, office]), MfaEnforcement::Unknown(r) if r.contains("aws:SourceIp")));
    // An allow on a resource named by a variable the evaluator does not know.
    let tagged = allow(r#""s3:GetObject""#, r#""arn:aws:s3:::${aws:PrincipalTag/team}/*""#);
    let canonical_but_s3 = mfa_deny(r#""Action":"*""#, r#""Resource":"arn:aws:s3:::${aws:username}/*""#);
    assert!(matches!(check(&[&tagged, &canonical_but_s3]), MfaEnforcement::Unknown(_)));
    assert_eq!(check(&[&tagged, CANONICAL_SELF_SERVICE]), MfaEnforcement::Enforced);
}
