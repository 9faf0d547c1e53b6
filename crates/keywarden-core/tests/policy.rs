//! The seeds' claims about the self-service (`Force_MFA`) policy, reproduced offline.

use keywarden_core::analysis::{overbroad_self_service, MfaEnforcement, MfaGap, MfaProber, Session};
use keywarden_core::fixtures::{mfa_arn as mfa, user_arn as user, ACCOUNT_ID as ACCOUNT};
use keywarden_core::policy::{
    canonical_self_service, compare, compare_to_canonical, evaluate, evaluate_json, Decision, Difference,
    PolicyDocument, PolicyError, Request, CANONICAL_SELF_SERVICE,
};

const EC2_FULL_ACCESS: &str =
    r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ec2:*","Resource":"*"}}"#;

/// The policy of seed 002 (a blog post), verbatim: `AllowMFAHandling` allows the MFA
/// actions on `arn:aws:iam::*:mfa/*`, i.e. on every user's MFA device.
const SEED_002: &str = include_str!("fixtures/seed-002-policy.json");

fn alice_policies() -> Vec<PolicyDocument> {
    vec![
        canonical_self_service().expect("canonical policy parses"),
        PolicyDocument::parse(EC2_FULL_ACCESS).expect("EC2 policy parses"),
    ]
}

fn decide(action: &str, resource: &str, mfa_present: Option<bool>) -> Decision {
    let mut req = Request::new(action, resource, "alice");
    if let Some(m) = mfa_present {
        req = req.with_mfa(m);
    }
    evaluate(&alice_policies(), &req)
}

fn parse(text: &str) -> PolicyDocument {
    PolicyDocument::parse(text).expect("test policy parses")
}

// --- the seeds' claims -------------------------------------------------------------------

#[test]
fn canonical_policy_is_aws_force_mfa() {
    let doc = canonical_self_service().expect("canonical policy parses");
    assert_eq!(doc.version.as_deref(), Some("2012-10-17"));
    let sids: Vec<_> = doc.statements.iter().filter_map(|s| s.sid.as_deref()).collect();
    assert_eq!(
        sids,
        [
            "AllowViewAccountInfo",
            "AllowManageOwnPasswords",
            "AllowManageOwnAccessKeys",
            "AllowManageOwnSigningCertificates",
            "AllowManageOwnSSHPublicKeys",
            "AllowManageOwnGitCredentials",
            "AllowManageOwnVirtualMFADevice",
            "AllowManageOwnUserMFA",
            "DenyAllExceptListedIfNoMFA",
        ]
    );
    assert!(CANONICAL_SELF_SERVICE.contains("\n  \"Statement\""), "pretty-printed");
}

#[test]
fn without_mfa_ec2_is_denied_explicitly() {
    assert_eq!(decide("ec2:DescribeInstances", "*", Some(false)), Decision::ExplicitlyDenied);
    // Long-term access keys carry no MFA key at all: BoolIfExists denies too.
    assert_eq!(decide("ec2:DescribeInstances", "*", None), Decision::ExplicitlyDenied);
}

#[test]
fn without_mfa_own_mfa_setup_is_allowed() {
    assert_eq!(decide("iam:CreateVirtualMFADevice", &mfa("alice"), Some(false)), Decision::Allowed);
    assert_eq!(decide("iam:EnableMFADevice", &user("alice"), Some(false)), Decision::Allowed);
    assert_eq!(decide("iam:ListMFADevices", &user("alice"), None), Decision::Allowed);
    // ...but not another user's device, and nothing else about one's own credentials.
    assert_eq!(decide("iam:CreateVirtualMFADevice", &mfa("bob"), Some(false)), Decision::ImplicitlyDenied);
    assert_eq!(decide("iam:CreateAccessKey", &user("alice"), Some(false)), Decision::ExplicitlyDenied);
    assert_eq!(decide("iam:ChangePassword", &user("alice"), Some(false)), Decision::ExplicitlyDenied);
}

#[test]
fn with_mfa_ec2_is_allowed() {
    assert_eq!(decide("ec2:DescribeInstances", "*", Some(true)), Decision::Allowed);
    assert_eq!(decide("ec2:TerminateInstances", "*", Some(true)), Decision::Allowed);
}

#[test]
fn with_mfa_access_keys_only_for_oneself() {
    assert_eq!(decide("iam:CreateAccessKey", &user("alice"), Some(true)), Decision::Allowed);
    assert_eq!(decide("iam:CreateAccessKey", &user("bob"), Some(true)), Decision::ImplicitlyDenied);
    assert_eq!(decide("iam:DeleteVirtualMFADevice", &mfa("bob"), Some(true)), Decision::ImplicitlyDenied);
    // Resource ARNs are case-sensitive: "Alice" is another user.
    assert_eq!(decide("iam:CreateAccessKey", &user("Alice"), Some(true)), Decision::ImplicitlyDenied);
    // Action names are not.
    assert_eq!(decide("IAM:createaccesskey", &user("alice"), Some(true)), Decision::Allowed);
}

#[test]
fn get_session_token_works_without_mfa() {
    // STS documents that GetSessionToken needs no permission and that no policy can stop
    // it: it is how a user without MFA gets an MFA session at all. Even an explicit deny of
    // everything leaves it working, and so does a document we cannot read.
    for mfa in [None, Some(false), Some(true)] {
        assert_eq!(decide("sts:GetSessionToken", "*", mfa), Decision::Allowed, "{mfa:?}");
    }
    let deny_all =
        parse(r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"*","Resource":"*"}}"#);
    assert_eq!(evaluate(&[deny_all], &Request::new("sts:GetSessionToken", "*", "alice")), Decision::Allowed);
    assert_eq!(
        evaluate_json(&["not json"], &Request::new("sts:GetSessionToken", "*", "alice")),
        Decision::Allowed
    );
    // Any other STS call is explicitly denied without MFA, and allowed with it only when a
    // policy allows it.
    let other = Request::new("sts:AssumeRole", "arn:aws:iam::123456789012:role/r", "alice");
    assert_eq!(evaluate(&alice_policies(), &other.clone().with_mfa(false)), Decision::ExplicitlyDenied);
    assert_eq!(evaluate(&alice_policies(), &other.clone().with_mfa(true)), Decision::ImplicitlyDenied);
    let mut with_sts = alice_policies();
    with_sts.push(parse(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"sts:*","Resource":"*"}}"#,
    ));
    assert_eq!(evaluate(&with_sts, &other.clone().with_mfa(true)), Decision::Allowed);
    assert_eq!(evaluate(&with_sts, &other), Decision::ExplicitlyDenied);
}

#[test]
fn seed_002_is_overbroad_and_canonical_is_not() {
    let findings = overbroad_self_service(&parse(SEED_002));
    assert!(
        findings.iter().any(|f| f.sid == "AllowMFAHandling" && f.action == "iam:DeleteVirtualMFADevice"),
        "{findings:?}"
    );
    assert!(findings.iter().any(|f| f.sid == "AllowMFAHandling" && f.action == "iam:CreateVirtualMFADevice"));
    assert!(findings.iter().all(|f| f.sid == "AllowMFAHandling"), "{findings:?}");
    let f = findings.iter().find(|f| f.action == "iam:DeleteVirtualMFADevice").expect("finding");
    assert!(f.reason.contains("mfa/bob"), "{}", f.reason);

    let canonical = canonical_self_service().expect("canonical policy parses");
    assert_eq!(overbroad_self_service(&canonical), Vec::new());
}

#[test]
fn wildcard_credential_statement_is_overbroad() {
    let doc = parse(
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"Keys","Effect":"Allow","Action":"iam:*AccessKey*","Resource":"arn:aws:iam::*:user/*"}]}"#,
    );
    let actions: Vec<_> = overbroad_self_service(&doc).into_iter().map(|f| f.action).collect();
    assert!(actions.contains(&"iam:CreateAccessKey".to_string()), "{actions:?}");
    assert!(actions.contains(&"iam:DeleteAccessKey".to_string()));
    assert!(!actions.iter().any(|a| a.contains("MFA")));
}

// --- drift --------------------------------------------------------------------------------

#[test]
fn reordered_and_reformatted_policy_has_no_drift() {
    let canonical = canonical_self_service().expect("canonical policy parses");
    let mut reordered = canonical.clone();
    reordered.statements.reverse();
    for s in &mut reordered.statements {
        s.sid = None;
    }
    assert_eq!(compare(&canonical, &reordered), Vec::new());

    // One-element list vs string, whitespace, order inside lists, action case.
    let a = parse(
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"A","Effect":"Allow","Action":["iam:GetUser","iam:ChangePassword"],"Resource":["arn:aws:iam::*:user/${aws:username}"]}]}"#,
    );
    let b = parse(
        "{ \"Version\" : \"2012-10-17\",\n \"Statement\" : { \"Effect\": \"Allow\",\n  \"Action\": [\"iam:changepassword\", \"iam:GetUser\"],\n  \"Resource\": \"arn:aws:iam::*:user/${aws:username}\" } }",
    );
    assert_eq!(compare(&a, &b), Vec::new());
    let canonical_text_again = parse(CANONICAL_SELF_SERVICE);
    assert_eq!(compare_to_canonical(&canonical_text_again).expect("canonical parses"), Vec::new());
}

#[test]
fn removed_action_is_reported_in_words() {
    let tampered = CANONICAL_SELF_SERVICE.replacen("\"iam:DeleteAccessKey\",", "", 1);
    assert_ne!(tampered, CANONICAL_SELF_SERVICE);
    let diffs = compare_to_canonical(&parse(&tampered)).expect("canonical parses");
    assert_eq!(
        diffs,
        vec![Difference::ActionMissing {
            statement: "AllowManageOwnAccessKeys".into(),
            action: "iam:DeleteAccessKey".into()
        }]
    );
    assert_eq!(
        diffs[0].to_string(),
        "statement AllowManageOwnAccessKeys: action iam:DeleteAccessKey missing"
    );
}

#[test]
fn added_removed_statements_and_conditions_are_reported() {
    let canonical = canonical_self_service().expect("canonical policy parses");
    let mut doc = canonical.clone();
    // Drop the MFA deny, add an admin statement, and weaken a resource.
    doc.statements.retain(|s| s.sid.as_deref() != Some("DenyAllExceptListedIfNoMFA"));
    doc.statements.push(
        parse(r#"{"Version":"2012-10-17","Statement":{"Sid":"Admin","Effect":"Allow","Action":"*","Resource":"*"}}"#)
            .statements
            .remove(0),
    );
    let words: Vec<String> = compare(&canonical, &doc).iter().map(ToString::to_string).collect();
    assert!(
        words.iter().any(|w| w.starts_with("statement removed: DenyAllExceptListedIfNoMFA")),
        "{words:?}"
    );
    assert!(words.iter().any(|w| w.starts_with("statement added: Admin")), "{words:?}");

    let tampered = CANONICAL_SELF_SERVICE.replace("\"false\"", "\"true\"");
    let words: Vec<String> =
        compare_to_canonical(&parse(&tampered)).expect("parses").iter().map(ToString::to_string).collect();
    assert_eq!(words.len(), 1, "{words:?}");
    assert!(words[0].contains("DenyAllExceptListedIfNoMFA: condition differs"), "{words:?}");

    let tampered = CANONICAL_SELF_SERVICE.replace("mfa/${aws:username}", "mfa/*");
    let diffs = compare_to_canonical(&parse(&tampered)).expect("parses");
    assert!(
        matches!(&diffs[..], [Difference::ResourceDiffers { statement, .. }] if statement == "AllowManageOwnVirtualMFADevice"),
        "{diffs:?}"
    );

    let added =
        CANONICAL_SELF_SERVICE.replacen("\"iam:GetUser\"", "\"iam:GetUser\", \"iam:PutUserPolicy\"", 1);
    let words: Vec<String> =
        compare_to_canonical(&parse(&added)).expect("parses").iter().map(ToString::to_string).collect();
    assert_eq!(words, ["statement AllowManageOwnPasswords: action iam:PutUserPolicy added"]);
}

// --- evaluator details ------------------------------------------------------------------

#[test]
fn wildcards_not_action_and_not_resource() {
    let doc = parse(
        r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Action":"s3:Get?bject","Resource":"arn:aws:s3:::bucket/*"},
            {"Effect":"Allow","NotAction":"iam:*","NotResource":"arn:aws:s3:::secret/*"}
        ]}"#,
    );
    let d = |a: &str, r: &str| evaluate(std::slice::from_ref(&doc), &Request::new(a, r, "alice"));
    assert_eq!(d("s3:GetObject", "arn:aws:s3:::bucket/a/b"), Decision::Allowed);
    assert_eq!(d("iam:GetUser", "arn:aws:iam::1:user/alice"), Decision::ImplicitlyDenied);
    assert_eq!(d("s3:PutObject", "arn:aws:s3:::secret/x"), Decision::ImplicitlyDenied);
    assert_eq!(d("s3:PutObject", "arn:aws:s3:::public/x"), Decision::Allowed);
    // In Resource, a wildcard spans colons; in ArnLike the ARN's parts are compared separately.
    let arn = parse(
        r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Action":"iam:*","Resource":"arn:aws:iam::*"},
            {"Effect":"Allow","Action":"sns:Publish","Resource":"*","Condition":{"ArnLike":{"aws:SourceArn":"arn:aws:s3:::*"}}}
        ]}"#,
    );
    let req = Request::new("iam:GetUser", "arn:aws:iam::1:user/x", "alice");
    assert_eq!(evaluate(std::slice::from_ref(&arn), &req), Decision::Allowed);
    let publish = |source: &str| {
        let req = Request::new("sns:Publish", "*", "alice").with_context("aws:SourceArn", source);
        evaluate(std::slice::from_ref(&arn), &req)
    };
    assert_eq!(publish("arn:aws:s3:::bucket"), Decision::Allowed);
    assert_eq!(publish("arn:aws:s3:eu-west-1:1:thing"), Decision::ImplicitlyDenied);
}

#[test]
fn conditions() {
    let doc = parse(
        r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Action":"s3:GetObject","Resource":"*",
             "Condition":{"StringEquals":{"aws:PrincipalTag/team":"${aws:username}"},
                          "StringLike":{"s3:prefix":["home/${aws:username}/*"]},
                          "ArnLike":{"aws:SourceArn":"arn:aws:sns:*:*:topic-?"},
                          "Null":{"aws:TokenIssueTime":"false"}}},
            {"Effect":"Deny","Action":"*","Resource":"*",
             "Condition":{"StringNotEquals":{"aws:RequestedRegion":["eu-west-1","eu-central-1"]}}}
        ]}"#,
    );
    let base = Request::new("s3:GetObject", "arn:aws:s3:::b/k", "alice")
        .with_context("aws:PrincipalTag/team", "alice")
        .with_context("s3:prefix", "home/alice/docs")
        .with_context("aws:SourceArn", "arn:aws:sns:eu-west-1:1:topic-a")
        .with_context("aws:TokenIssueTime", "2026-01-01T00:00:00Z")
        .with_context("aws:RequestedRegion", "eu-west-1");
    let d = |r: &Request| evaluate(std::slice::from_ref(&doc), r);
    assert_eq!(d(&base), Decision::Allowed);
    assert_eq!(d(&base.clone().with_context("aws:RequestedRegion", "us-east-1")), Decision::ExplicitlyDenied);
    // Negated operators match an absent key (as IAM documents): the deny applies.
    let mut no_region = base.clone();
    no_region.context.remove("aws:RequestedRegion");
    assert_eq!(d(&no_region), Decision::ExplicitlyDenied);
    assert_eq!(d(&base.clone().with_context("s3:prefix", "home/bob/docs")), Decision::ImplicitlyDenied);
    assert_eq!(
        d(&base.clone().with_context("aws:SourceArn", "arn:aws:sns:x:1:topic-ab")),
        Decision::ImplicitlyDenied
    );
    let mut no_token = base.clone();
    no_token.context.remove("aws:TokenIssueTime");
    assert_eq!(d(&no_token), Decision::ImplicitlyDenied);
    // Context keys are case-insensitive.
    let mut lower = base.clone();
    let v = lower.context.remove("aws:RequestedRegion").expect("present");
    lower.context.insert("AWS:requestedregion".into(), v);
    assert_eq!(d(&lower), Decision::Allowed);
}

#[test]
fn version_2008_does_not_substitute_variables() {
    let doc = parse(
        r#"{"Version":"2008-10-17","Statement":{"Effect":"Allow","Action":"iam:GetUser","Resource":"arn:aws:iam::*:user/${aws:username}"}}"#,
    );
    let req = Request::new("iam:GetUser", &user("alice"), "alice");
    assert_eq!(evaluate(&[doc], &req), Decision::ImplicitlyDenied);
}

#[test]
fn unsupported_elements_give_unknown_only_when_relevant() {
    let doc = parse(
        r#"{"Version":"2012-10-17","Statement":[
            {"Sid":"Net","Effect":"Deny","Action":"s3:*","Resource":"*","Condition":{"BinaryEquals":{"aws:SourceIp":"MTAuMS4yLjM="}}},
            {"Sid":"Tag","Effect":"Allow","Action":"ec2:*","Resource":"arn:aws:ec2:*:*:instance/${aws:PrincipalTag/x}"},
            {"Effect":"Allow","Action":"*","Resource":"*"}
        ]}"#,
    );
    let d = |a: &str, r: &str| {
        evaluate(
            std::slice::from_ref(&doc),
            &Request::new(a, r, "alice").with_context("aws:SourceIp", "10.1.2.3"),
        )
    };
    // The unsupported deny could change the answer for s3.
    match d("s3:GetObject", "arn:aws:s3:::b/k") {
        Decision::Unknown(reason) => {
            assert!(reason.contains("Net") && reason.contains("BinaryEquals"), "{reason}")
        }
        other => panic!("expected unknown, got {other:?}"),
    }
    // It cannot for iam; the unsupported variable in an allow cannot either, as another
    // statement allows ec2 anyway.
    assert_eq!(d("iam:GetUser", "*"), Decision::Allowed);
    assert_eq!(d("ec2:RunInstances", "arn:aws:ec2:eu-west-1:1:instance/i-1"), Decision::Allowed);
    // Without the blanket allow, the unsupported variable decides.
    let only_tag =
        PolicyDocument { version: doc.version.clone(), statements: vec![doc.statements[1].clone()] };
    let req = Request::new("ec2:RunInstances", "arn:aws:ec2:eu-west-1:1:instance/i-1", "alice");
    assert!(matches!(evaluate(&[only_tag], &req), Decision::Unknown(r) if r.contains("aws:PrincipalTag/x")));
    // A request without aws:SourceIp at all does not match BinaryEquals: absence decides
    // before the values are compared, whatever the operator.
    let no_ip = Request::new("s3:GetObject", "arn:aws:s3:::b/k", "alice");
    assert_eq!(evaluate(std::slice::from_ref(&doc), &no_ip), Decision::Allowed);
    // But when the caller says only some keys are known to be absent, a condition on any
    // other key is unknown, not guessed from its absence.
    let open = no_ip.clone().with_only_absent(&["aws:MultiFactorAuthPresent"]);
    assert!(
        matches!(evaluate(std::slice::from_ref(&doc), &open), Decision::Unknown(r) if r.contains("aws:SourceIp"))
    );
    // An explicit deny is final even if another statement is unknown.
    let deny =
        parse(r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"s3:*","Resource":"*"}}"#);
    let req = Request::new("s3:GetObject", "arn:aws:s3:::b/k", "alice");
    assert_eq!(evaluate(&[doc.clone(), deny], &req), Decision::ExplicitlyDenied);
}

// --- malformed documents ------------------------------------------------------------------

fn reason_of(text: &str) -> String {
    match PolicyDocument::parse(text) {
        Err(e) => e.to_string(),
        Ok(doc) => panic!("expected an error, parsed {doc:?}"),
    }
}

#[test]
fn malformed_documents_are_errors_with_reasons() {
    assert!(matches!(PolicyDocument::parse("{\"Version\": "), Err(PolicyError::Json(_))));
    assert!(reason_of("[]").contains("must be a JSON object"));
    assert!(reason_of(r#"{"Version":"2012-10-17"}"#).contains("missing Statement"));
    assert!(reason_of(r#"{"Statement":{"Action":"*","Resource":"*"}}"#).contains("missing Effect"));
    assert!(reason_of(r#"{"Statement":{"Effect":"Permit","Action":"*","Resource":"*"}}"#).contains("Effect"));
    assert!(reason_of(r#"{"Statement":{"Effect":"Allow","Action":7,"Resource":"*"}}"#)
        .contains("$.Statement.Action"));
    assert!(reason_of(r#"{"Statement":[{"Effect":"Allow","Action":["s3:Get",1],"Resource":"*"}]}"#)
        .contains("$.Statement[0].Action[1]"));
    assert!(reason_of(r#"{"Statement":{"Effect":"Allow","Action":"*"}}"#).contains("missing Resource"));
    assert!(reason_of(r#"{"Statement":{"Effect":"Allow","Action":"GetObject","Resource":"*"}}"#)
        .contains("not an action"));
    assert!(reason_of(r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}}"#)
        .contains("Principal"));
    assert!(reason_of(
        r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEqualz":{"a":"b"}}}}"#
    )
    .contains("unknown condition operator \"StringEqualz\""));
    assert!(reason_of(
        r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"Bool":{"a":{"x":1}}}}}"#
    )
    .contains("Condition.Bool.a"));
    assert!(reason_of(r#"{"Version":"2019-01-01","Statement":[]}"#).contains("unknown policy version"));
    assert!(reason_of(r#"{"Statement":"nope"}"#).contains("object or an array"));
    assert!(reason_of(r#"{"Statement":{"Effect":"Allow","Action":"*","NotAction":"iam:*","Resource":"*"}}"#)
        .contains("only one of Action and NotAction"));
}

#[test]
fn malformed_documents_evaluate_to_unknown_never_a_pass() {
    let req = Request::new("ec2:DescribeInstances", "*", "alice").with_mfa(false);
    for bad in [
        "not json",
        r#"{"Statement":{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"BoolIfExist":{"aws:MultiFactorAuthPresent":"false"}}}}"#,
        r#"{"Statement":{"Effect":"Deny","Action":["*"],"Resource":{"arn":"x"}}}"#,
    ] {
        match evaluate_json(&[CANONICAL_SELF_SERVICE, EC2_FULL_ACCESS, bad], &req) {
            Decision::Unknown(reason) => assert!(reason.contains("policy #3"), "{reason}"),
            other => panic!("expected unknown for {bad}, got {other:?}"),
        }
    }
    assert_eq!(evaluate_json(&[CANONICAL_SELF_SERVICE, EC2_FULL_ACCESS], &req), Decision::ExplicitlyDenied);
}

proptest::proptest! {
    #[test]
    fn arbitrary_text_never_panics(text in ".{0,200}") {
        let _ = PolicyDocument::parse(&text);
        let _ = evaluate_json(&[&text], &Request::new("iam:GetUser", "*", "alice"));
    }

    #[test]
    fn damaged_canonical_never_panics(cut in 0usize..2900, len in 0usize..40, mfa in proptest::bool::ANY) {
        let text = CANONICAL_SELF_SERVICE;
        let start = cut.min(text.len());
        let end = (start + len).min(text.len());
        if text.is_char_boundary(start) && text.is_char_boundary(end) {
            let damaged = format!("{}{}", &text[..start], &text[end..]);
            let req = Request::new("iam:CreateAccessKey", &user("alice"), "alice").with_mfa(mfa);
            let decision = evaluate_json(&[&damaged], &req);
            if let Ok(doc) = PolicyDocument::parse(&damaged) {
                let _ = overbroad_self_service(&doc);
                let _ = compare_to_canonical(&doc);
            } else {
                proptest::prop_assert!(matches!(decision, Decision::Unknown(_)));
            }
        }
    }
}

// --- is MFA enforced? -----------------------------------------------------------------------

fn probe(policies: &[&str], user: &str) -> MfaEnforcement {
    let docs: Vec<(String, PolicyDocument)> =
        policies.iter().enumerate().map(|(i, p)| (format!("policy #{}", i + 1), parse(p))).collect();
    MfaProber::new().check(&docs, user, ACCOUNT)
}

fn gap(policies: &[&str]) -> MfaGap {
    match probe(policies, "alice") {
        MfaEnforcement::NotEnforced(gap) => gap,
        other => panic!("expected a gap, got {other:?}"),
    }
}

const ADMIN: &str =
    r#"{"Version":"2012-10-17","Statement":{"Sid":"Admin","Effect":"Allow","Action":"*","Resource":"*"}}"#;

#[test]
fn the_canonical_policy_enforces_mfa_over_any_allow() {
    for extra in [
        EC2_FULL_ACCESS,
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","NotAction":"iam:*","Resource":"*"}}"#,
    ] {
        assert_eq!(probe(&[CANONICAL_SELF_SERVICE, extra], "alice"), MfaEnforcement::Enforced, "{extra}");
    }
    // An administrator in the MFA group reaches the canonical exemptions (MFA set-up) on
    // other users too: the control as written, not a gap.
    assert_eq!(probe(&[CANONICAL_SELF_SERVICE, ADMIN], "alice"), MfaEnforcement::Enforced);
    // The canonical policy alone: only MFA set-up works without MFA, which is not sensitive.
    assert_eq!(probe(&[CANONICAL_SELF_SERVICE], "alice"), MfaEnforcement::Enforced);
    // No policy at all: nothing is allowed, so nothing is allowed without MFA.
    assert_eq!(probe(&[], "alice"), MfaEnforcement::Enforced);
}

#[test]
fn an_allow_without_any_mfa_deny_is_a_gap_naming_action_session_and_statement() {
    let g = gap(&[ADMIN]);
    assert_eq!(g.granted_by, "policy #1, statement Admin");
    assert_eq!(g.resource, "*");
    assert_eq!(g.session, Session::AccessKey);
    assert!(g.action.contains(':'), "{g:?}");
    // The canonical policy without its deny: EC2 (and the own-credential allows) work.
    let mut no_deny: serde_json::Value = serde_json::from_str(CANONICAL_SELF_SERVICE).expect("JSON");
    no_deny["Statement"].as_array_mut().expect("statements").pop();
    let g = gap(&[EC2_FULL_ACCESS, no_deny.to_string().as_str()]);
    assert!(g.action.starts_with("ec2:"), "{g:?}");
}

#[test]
fn a_deny_written_with_bool_instead_of_bool_if_exists_leaves_access_keys_open() {
    let bool_only = CANONICAL_SELF_SERVICE.replace("BoolIfExists", "Bool");
    let g = gap(&[EC2_FULL_ACCESS, bool_only.as_str()]);
    assert_eq!(g.session, Session::AccessKey, "console sessions carry the key and are denied");
    assert!(g.action.starts_with("ec2:"), "{g:?}");
}

#[test]
fn allows_that_require_mfa_themselves_are_no_gap() {
    let needs_mfa = r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"}}},
        {"Effect":"Allow","Action":"ec2:*","Resource":"*","Condition":{"NumericLessThan":{"aws:MultiFactorAuthAge":"3600"}}}
    ]}"#;
    assert_eq!(probe(&[needs_mfa], "alice"), MfaEnforcement::Enforced);
    // BoolIfExists true is the classic mistake the other way round: an access key has no
    // MFA key at all, so the allow applies to it.
    let if_exists = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"BoolIfExists":{"aws:MultiFactorAuthPresent":"true"}}}}"#;
    let g = gap(&[if_exists]);
    assert_eq!((g.session, g.action.as_str()), (Session::AccessKey, "s3:ListAllMyBuckets"));
}

#[test]
fn scoped_allows_and_partial_denies_are_probed_on_their_own_resources() {
    // A deny that covers only some buckets does not cover an allow on another.
    let bucket_allow = r#"{"Version":"2012-10-17","Statement":{"Sid":"Data","Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::data/*"}}"#;
    let partial_deny = r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"*","Resource":"arn:aws:s3:::secrets/*","Condition":{"BoolIfExists":{"aws:MultiFactorAuthPresent":"false"}}}}"#;
    let g = gap(&[bucket_allow, partial_deny]);
    assert_eq!((g.action.as_str(), g.resource.as_str()), ("s3:GetObject", "arn:aws:s3:::data/*"));
    let covering_deny = partial_deny.replace("arn:aws:s3:::secrets/*", "arn:aws:s3:::*");
    assert_eq!(probe(&[bucket_allow, &covering_deny], "alice"), MfaEnforcement::Enforced);
    // Own-credential allows are probed on the user's own ARN.
    let own_keys = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iam:CreateAccessKey","Resource":"arn:aws:iam::*:user/${aws:username}"}}"#;
    let g = gap(&[own_keys]);
    assert_eq!(g.action, "iam:CreateAccessKey");
    assert_eq!(probe(&[own_keys, CANONICAL_SELF_SERVICE], "alice"), MfaEnforcement::Enforced);
}

#[test]
fn conditions_on_request_values_a_probe_cannot_know_make_it_unknown() {
    // The deny only applies outside the office network: whether a stolen key works
    // depends on where it is used, which no policy reading can tell.
    let ip_deny = r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}}"#;
    match probe(&[EC2_FULL_ACCESS, ip_deny], "alice") {
        MfaEnforcement::Unknown(reason) => assert!(reason.contains("aws:SourceIp"), "{reason}"),
        other => panic!("expected unknown, got {other:?}"),
    }
    // A region-limited allow is probed in a region it allows, and found.
    let region = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ec2:*","Resource":"*","Condition":{"StringEquals":{"aws:RequestedRegion":"eu-west-1"}}}}"#;
    assert!(matches!(probe(&[region], "alice"), MfaEnforcement::NotEnforced(_)));
    // An unsupported operator in the only allow: unknown, never enforced.
    let tagged = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ec2:*","Resource":"*","Condition":{"ForAnyValue:StringLike":{"aws:TagKeys":"team*"}}}}"#;
    assert!(matches!(probe(&[tagged], "alice"), MfaEnforcement::Unknown(_)));
}
