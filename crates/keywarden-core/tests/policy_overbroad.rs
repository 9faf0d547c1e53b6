//! `self_service_policy_overbroad` and `self_service_policy_drift` judged from a member's
//! side: conditions the member can meet are met, and every policy of the group counts.

use keywarden_core::analysis::{overbroad_in, overbroad_self_service, Overbroad};
use keywarden_core::checks::{evaluate, CheckStatus, Evaluation, UserScope};
use keywarden_core::fixtures::{self, group_arn, now, ACCOUNT_ID as ACCOUNT, MFA_GROUP};
use keywarden_core::model::{Authorization, GroupDetail, ManagedPolicy};
use keywarden_core::policy::{canonical_self_service, grants_beyond, PolicyDocument, CANONICAL_SELF_SERVICE};
use keywarden_core::{AuditPolicy, CheckId, CredentialReport, Inventory, ReadFailure};

fn parse(text: &str) -> PolicyDocument {
    PolicyDocument::parse(text).expect("test policy parses")
}

/// One Allow statement `Sid: Keys` with the given actions, resource and condition block.
fn statement(actions: &str, resource: &str, condition: &str) -> PolicyDocument {
    parse(&format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"Keys","Effect":"Allow","Action":{actions},
            "Resource":{resource},"Condition":{condition}}}]}}"#
    ))
}

fn certain(findings: &[Overbroad]) -> Vec<&str> {
    findings.iter().filter(|f| f.certain).map(|f| f.action.as_str()).collect()
}

#[test]
fn a_condition_the_member_meets_does_not_hide_access_to_every_users_keys() {
    // The brief's case: anyone who signed in with MFA within the hour may create keys for,
    // and deactivate the MFA device of, any user.
    let doc = statement(
        r#"["iam:CreateAccessKey","iam:DeactivateMFADevice"]"#,
        r#""arn:aws:iam::*:user/*""#,
        r#"{"NumericLessThan":{"aws:MultiFactorAuthAge":"3600"}}"#,
    );
    let findings = overbroad_self_service(&doc);
    assert_eq!(certain(&findings), ["iam:CreateAccessKey", "iam:DeactivateMFADevice"], "{findings:?}");
    assert!(findings[0].reason.contains("arn:aws:iam::123456789012:user/bob"), "{}", findings[0].reason);
}

#[test]
fn conditions_on_the_session_or_on_what_the_member_sends_count_as_met() {
    for condition in [
        r#"{"Bool":{"aws:MultiFactorAuthPresent":"true"}}"#,
        r#"{"DateGreaterThan":{"aws:CurrentTime":"2020-01-01T00:00:00Z"}}"#,
        r#"{"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}}"#,
        r#"{"Bool":{"aws:SecureTransport":"true"}}"#,
        r#"{"StringEquals":{"aws:RequestedRegion":"eu-west-1"}}"#,
        r#"{"ForAnyValue:StringEquals":{"aws:TagKeys":"team"}}"#,
        r#"{"StringEquals":{"aws:PrincipalTag/role":"helpdesk"}}"#,
        // The victim's tags are not the member's to set, but someone may have set them:
        // when unsure, the statement is flagged.
        r#"{"StringEquals":{"iam:ResourceTag/owner":"${aws:username}"}}"#,
        r#"{"Null":{"aws:TokenIssueTime":"false"}}"#,
    ] {
        let doc = statement(r#""iam:CreateAccessKey""#, r#""arn:aws:iam::*:user/*""#, condition);
        assert_eq!(certain(&overbroad_self_service(&doc)), ["iam:CreateAccessKey"], "{condition}");
    }
}

#[test]
fn a_condition_only_the_victim_meets_is_not_overbroad() {
    // Only bob may act, and only on bob: self-service for one user.
    let bob_only = statement(
        r#""iam:CreateAccessKey""#,
        r#""arn:aws:iam::*:user/bob""#,
        r#"{"StringEquals":{"aws:username":"bob"}}"#,
    );
    assert_eq!(overbroad_self_service(&bob_only), Vec::new());
    // Without the condition anyone may create bob's keys.
    let anyone = statement(r#""iam:CreateAccessKey""#, r#""arn:aws:iam::*:user/bob""#, "{}");
    assert_eq!(certain(&overbroad_self_service(&anyone)), ["iam:CreateAccessKey"]);
    // Only the helpdesk user may act, but on everyone: over-broad, and the reason names it.
    let helpdesk = statement(
        r#""iam:CreateAccessKey""#,
        r#""arn:aws:iam::*:user/*""#,
        r#"{"StringEquals":{"aws:username":"helpdesk"}}"#,
    );
    let found = overbroad_self_service(&helpdesk);
    assert_eq!(certain(&found), ["iam:CreateAccessKey"]);
    assert!(found[0].reason.starts_with("allows user helpdesk "), "{}", found[0].reason);
    // A condition that ties the caller to itself is no restriction at all.
    let tautology = statement(
        r#""iam:CreateAccessKey""#,
        r#""arn:aws:iam::*:user/*""#,
        r#"{"ArnEquals":{"aws:PrincipalArn":"arn:aws:iam::*:user/${aws:username}"}}"#,
    );
    assert_eq!(certain(&overbroad_self_service(&tautology)), ["iam:CreateAccessKey"]);
}

#[test]
fn resources_that_only_look_like_ones_own_are_overbroad() {
    // A prefix wildcard after the user name reaches alice2, alice-admin, ...
    let prefix = statement(r#""iam:CreateAccessKey""#, r#""arn:aws:iam::*:user/${aws:username}*""#, "{}");
    let found = overbroad_self_service(&prefix);
    assert_eq!(certain(&found), ["iam:CreateAccessKey"]);
    assert!(found[0].reason.contains("user/alicekeywarden-probe"), "{}", found[0].reason);
    // The real account id in the ARN: the probe victim's made-up account must not hide it.
    let real_account = statement(r#""iam:CreateAccessKey""#, r#""arn:aws:iam::555555555555:user/*""#, "{}");
    assert_eq!(certain(&overbroad_self_service(&real_account)), ["iam:CreateAccessKey"]);
    // Users under a path.
    let path = statement(r#""iam:DeleteLoginProfile""#, r#""arn:aws:iam::*:user/staff/*""#, "{}");
    assert_eq!(certain(&overbroad_self_service(&path)), ["iam:DeleteLoginProfile"]);
    // One's own user, with or without a path, is fine.
    let own = statement(r#""iam:CreateAccessKey""#, r#""arn:aws:iam::*:user/${aws:username}""#, "{}");
    assert_eq!(overbroad_self_service(&own), Vec::new());
}

#[test]
fn a_deny_anywhere_in_the_group_takes_an_allow_back_only_if_the_member_cannot_avoid_it() {
    let allow = statement(r#""iam:CreateAccessKey""#, r#""arn:aws:iam::*:user/*""#, "{}");
    let fence = parse(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"iam:*","NotResource":["arn:aws:iam::*:user/${aws:username}","arn:aws:iam::*:mfa/${aws:username}"]}}"#,
    );
    assert_eq!(overbroad_in(&[&allow, &fence]), Vec::new(), "an unconditional deny in another policy");
    // A deny the member avoids by signing in with MFA (or from another network) takes
    // nothing back.
    for condition in [
        r#"{"BoolIfExists":{"aws:MultiFactorAuthPresent":"false"}}"#,
        r#"{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}"#,
    ] {
        let avoidable = parse(&format!(
            r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Deny","Action":"iam:*","Resource":"*","Condition":{condition}}}}}"#
        ));
        let found = overbroad_in(&[&allow, &avoidable]);
        assert_eq!(found.len(), 1, "{condition}: {found:?}");
        assert_eq!((found[0].policy, found[0].finding.action.as_str()), (0, "iam:CreateAccessKey"));
    }
    // Findings name the document they come from.
    let canonical = canonical_self_service().expect("canonical parses");
    let found = overbroad_in(&[&canonical, &allow]);
    assert_eq!(found.iter().map(|f| f.policy).collect::<Vec<_>>(), [1]);
}

#[test]
fn grants_beyond_the_canonical_policy() {
    let canonical = canonical_self_service().expect("canonical parses");
    let own_device =
        statement(r#""iam:DeleteVirtualMFADevice""#, r#""arn:aws:iam::*:mfa/${aws:username}""#, "{}");
    assert_eq!(grants_beyond(&canonical, &own_device), Vec::new(), "the canonical policy grants it already");
    let narrower = statement(
        r#"["iam:CreateAccessKey","iam:ListAccessKeys"]"#,
        r#""arn:aws:iam::*:user/${aws:username}""#,
        r#"{"Bool":{"aws:SecureTransport":"true"}}"#,
    );
    assert_eq!(grants_beyond(&canonical, &narrower), Vec::new(), "an added condition only narrows");
    let deny = parse(r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"*","Resource":"*"}}"#);
    assert_eq!(grants_beyond(&canonical, &deny), Vec::new(), "a deny grants nothing");
    assert_eq!(grants_beyond(&canonical, &canonical), Vec::new());
    for (more, why) in [
        (statement(r#""iam:DeleteVirtualMFADevice""#, r#""arn:aws:iam::*:mfa/*""#, "{}"), "every device"),
        (statement(r#""ec2:*""#, r#""*""#, "{}"), "another service"),
        (statement(r#""iam:*AccessKey*""#, r#""arn:aws:iam::*:user/${aws:username}""#, "{}"), "a wildcard"),
        (
            statement(r#""iam:GetUser""#, r#""arn:aws:iam::*:user/${aws:username}*""#, "{}"),
            "a wider resource",
        ),
        (
            parse(
                r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","NotAction":"iam:*","Resource":"*"}}"#,
            ),
            "NotAction",
        ),
    ] {
        let beyond = grants_beyond(&canonical, &more);
        assert_eq!(beyond.len(), 1, "{why}: {beyond:?}");
        assert_eq!(beyond[0].0, 0);
    }
}

// --- through the checks ------------------------------------------------------------------------

fn inventory(group_policies: &[(&str, Result<&str, ReadFailure>)]) -> Inventory {
    let mut auth = Authorization::default();
    let mut group =
        GroupDetail { name: MFA_GROUP.into(), arn: group_arn(MFA_GROUP), ..GroupDetail::default() };
    for (name, doc) in group_policies {
        match doc {
            Ok(text) => {
                group.inline_policies.push(name.to_string());
                group.inline_documents.insert(name.to_string(), text.to_string());
            }
            Err(failure) => {
                let arn = format!("arn:aws:iam::{ACCOUNT}:policy/{name}");
                group.attached_policies.push(arn.clone());
                auth.managed_policies.insert(
                    arn.clone(),
                    ManagedPolicy { name: name.to_string(), arn, document: Err(failure.clone()) },
                );
            }
        }
    }
    auth.groups.insert(MFA_GROUP.into(), group);
    auth.users.insert("alice".into(), fixtures::user("alice", &[MFA_GROUP]));
    fixtures::inventory(CredentialReport { generated_at: now(), root: None, users: vec![] }, auth)
}

fn run(inv: &Inventory) -> Evaluation {
    evaluate(inv, &AuditPolicy::default(), &UserScope::All, now())
}

fn messages(ev: &Evaluation, check: CheckId) -> Vec<&str> {
    ev.findings.iter().filter(|f| f.check == check).map(|f| f.message.as_str()).collect()
}

const EC2: &str =
    r#"{"Version":"2012-10-17","Statement":{"Sid":"Ec2","Effect":"Allow","Action":"ec2:*","Resource":"*"}}"#;

#[test]
fn the_canonical_policy_beside_one_that_grants_more_is_drift() {
    let ev = run(&inventory(&[("self-service", Ok(CANONICAL_SELF_SERVICE)), ("extra", Ok(EC2))]));
    assert_eq!(
        messages(&ev, CheckId::SelfServicePolicyDrift),
        ["group SelfEdit carries the canonical self-service policy (inline policy self-service of group \
          SelfEdit), but its other policies grant what the canonical one does not: inline policy extra of group \
          SelfEdit grants Ec2 (Allow Action ec2:* on Resource *)"]
    );
    assert_eq!(messages(&ev, CheckId::SelfServicePolicyOverbroad), Vec::<&str>::new());
    // The canonical policy alone, or beside one that grants nothing more, is no drift.
    let own = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iam:ListAccessKeys","Resource":"arn:aws:iam::*:user/${aws:username}"}}"#;
    for extra in [CANONICAL_SELF_SERVICE, own] {
        let ev = run(&inventory(&[("self-service", Ok(CANONICAL_SELF_SERVICE)), ("extra", Ok(extra))]));
        assert_eq!(messages(&ev, CheckId::SelfServicePolicyDrift), Vec::<&str>::new(), "{extra}");
        assert_eq!(ev.statuses.get(&CheckId::SelfServicePolicyDrift), Some(&CheckStatus::Evaluated));
    }
}

#[test]
fn an_extra_policy_that_reaches_other_users_under_a_condition_is_overbroad_and_drift() {
    let extra = r#"{"Version":"2012-10-17","Statement":{"Sid":"Helpdesk","Effect":"Allow","Action":["iam:CreateAccessKey","iam:DeactivateMFADevice"],"Resource":"arn:aws:iam::*:user/*","Condition":{"NumericLessThan":{"aws:MultiFactorAuthAge":"3600"}}}}"#;
    let ev = run(&inventory(&[("self-service", Ok(CANONICAL_SELF_SERVICE)), ("helpdesk", Ok(extra))]));
    assert_eq!(
        messages(&ev, CheckId::SelfServicePolicyOverbroad),
        ["statement Helpdesk of inline policy helpdesk of group SelfEdit lets a member of SelfEdit act on other \
          users' credentials with iam:CreateAccessKey, iam:DeactivateMFADevice (resource arn:aws:iam::*:user/* is \
          not limited to the caller's own)"]
    );
    let drift = messages(&ev, CheckId::SelfServicePolicyDrift);
    assert_eq!(drift.len(), 1);
    assert!(drift[0].contains("inline policy helpdesk of group SelfEdit grants Helpdesk"), "{}", drift[0]);
}

#[test]
fn an_unreadable_policy_beside_the_canonical_one_makes_drift_unknown() {
    let failure = ReadFailure {
        operation: "iam:GetPolicyVersion".into(),
        code: Some("AccessDenied".into()),
        message: "denied".into(),
    };
    let ev = run(&inventory(&[("self-service", Ok(CANONICAL_SELF_SERVICE)), ("Extra", Err(failure))]));
    assert_eq!(messages(&ev, CheckId::SelfServicePolicyDrift), Vec::<&str>::new());
    match ev.statuses.get(&CheckId::SelfServicePolicyDrift) {
        Some(CheckStatus::Unknown(r)) => {
            assert!(r.contains("cannot tell whether managed policy"), "{r}");
            assert!(r.contains("grants more than the canonical policy"), "{r}");
        }
        other => panic!("expected unknown, got {other:?}"),
    }
}
