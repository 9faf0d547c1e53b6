//! End-to-end: the self-service MFA control and group drift, through the real `keywarden`
//! binary and the real SDK against moto (with AWS-managed policies loaded, so `Admins` can
//! carry AWS's own AdministratorAccess and keywarden must read its document).

use keywarden_e2e::report::{
    assert_same_findings, assert_summary_consistent, check_statuses, finding_set, findings,
};
use keywarden_e2e::scenario::{self, Seeded, DESIRED_STATE};
use keywarden_e2e::{lambda, Aws, Moto, Watch};
use serde_json::Value;

/// The checks this scenario is about: judged (never skipped or unknown) in every run.
const CONTROL_CHECKS: [&str; 5] = [
    "group_membership_missing",
    "group_membership_unexpected",
    "self_service_policy_drift",
    "self_service_policy_overbroad",
    "user_mfa_not_enforced",
];

struct Setup {
    moto: Moto,
    seeded: Seeded,
    watch: Watch,
}

async fn start(broken: bool) -> Setup {
    let moto = Moto::start_with_managed_policies();
    let aws = Aws::connect(&moto.endpoint()).await;
    let seeded = scenario::policy_control(&aws, broken).await;
    let mut env = scenario::scenario_env(&moto);
    env.insert("DESIRED_STATE".into(), DESIRED_STATE.into());
    let watch = Watch::start(&env);
    Setup { moto, seeded, watch }
}

fn audit(setup: &Setup) -> Value {
    let inv = setup.watch.invoke(&lambda::event("events/audit.json"));
    assert!(
        inv.success,
        "audit failed:\n{}\n{}\n{}",
        inv.output(),
        setup.watch.log_tail(),
        setup.moto.log_tail()
    );
    let report = inv.json();
    assert_eq!(report["errors"], Value::Array(vec![]), "errors: {:#}", report["errors"]);
    assert_same_findings(&finding_set(&report), &setup.seeded.expected, &report);
    assert_summary_consistent(&report);
    report
}

fn message<'a>(report: &'a Value, check: &str, user: Option<&str>) -> &'a str {
    let hits: Vec<&Value> =
        findings(report).iter().filter(|f| f["check"] == check && f["user"].as_str() == user).collect();
    assert_eq!(hits.len(), 1, "one {check} finding for {user:?}: {hits:#?}");
    hits[0]["message"].as_str().expect("a message")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_tampered_policy_and_unenforced_mfa_are_reported_exactly() {
    let setup = start(true).await;
    let report = audit(&setup);

    let statuses = check_statuses(&report);
    for check in CONTROL_CHECKS {
        assert_eq!(statuses.get(check).map(String::as_str), Some("fail"), "status of {check}");
    }

    let drift = message(&report, "self_service_policy_drift", None);
    assert_eq!(
        drift,
        "group SelfEdit does not carry the canonical self-service policy; the closest is inline policy \
         self-service of group SelfEdit: statement AllowManageOwnVirtualMFADevice: resource differs \
         (expected arn:aws:iam::*:mfa/${aws:username}, found arn:aws:iam::*:mfa/*)"
    );
    let overbroad = message(&report, "self_service_policy_overbroad", None);
    assert_eq!(
        overbroad,
        "statement AllowManageOwnVirtualMFADevice of inline policy self-service of group SelfEdit lets a \
         member of SelfEdit act on other users' credentials with iam:CreateVirtualMFADevice, \
         iam:DeleteVirtualMFADevice (resource arn:aws:iam::*:mfa/* is not limited to the caller's own)"
    );
    let unenforced = message(&report, "user_mfa_not_enforced", Some("admin-direct"));
    assert!(unenforced.starts_with("admin-direct may call "), "{unenforced}");
    assert!(
        unenforced.ends_with("(granted by inline policy admin of user admin-direct, statement Everything)"),
        "{unenforced}"
    );
    assert_eq!(
        message(&report, "group_membership_unexpected", Some("sneaky")),
        "sneaky is in Admins: not on the group's list of allowed members"
    );
    assert_eq!(
        message(&report, "group_membership_missing", Some("outsider")),
        "outsider is not in SelfEdit, which every user must be in"
    );

    // sneaky and boss hold AdministratorAccess through Admins, and the MFA group's deny still
    // covers them: `fail` rather than `unknown` above means keywarden read the AWS-managed
    // document, once.
    let calls = &report["summary"]["api_calls"];
    assert_eq!(calls["iam:GetPolicy"], 1, "{calls}");
    assert_eq!(calls["iam:GetPolicyVersion"], 1, "{calls}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_compliant_control_yields_no_finding() {
    let setup = start(false).await;
    let report = audit(&setup);
    let statuses = check_statuses(&report);
    for check in CONTROL_CHECKS {
        assert_eq!(statuses.get(check).map(String::as_str), Some("pass"), "status of {check}");
    }
    let open: Vec<&str> = findings(&report).iter().filter_map(|f| f["check"].as_str()).collect();
    assert_eq!(open, ["root_mfa_disabled"], "moto's root has no MFA; nothing else may be reported");
}
