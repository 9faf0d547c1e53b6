//! End-to-end: the real `keywarden` binary, run by `cargo lambda watch`, invoked with
//! `cargo lambda invoke --data-file`, reading IAM from a moto server through the real SDK.
//!
//! Each test starts its own moto and its own watch on free ports, so tests run in parallel.

use std::collections::BTreeSet;
use std::path::Path;

use chrono::{DateTime, Duration, Utc};
use keywarden_e2e::report::{
    assert_same_findings, assert_summary_consistent, check_statuses, finding_set, findings, skipped_in_audit,
    ACCOUNT_CHECKS, ALL_CHECKS,
};
use keywarden_e2e::scenario::{self, Expected, Seeded};
use keywarden_e2e::{closed_port, function_env, lambda, Aws, Moto, Watch};
use serde_json::Value;

/// moto's default account.
const MOTO_ACCOUNT: &str = "123456789012";

/// The catalogue's default severity of each check.
fn severity(check: &str) -> &'static str {
    match check {
        "root_mfa_disabled" | "root_access_key_present" => "critical",
        "console_user_without_mfa"
        | "rotation_held_key_in_use"
        | "self_service_policy_drift"
        | "self_service_policy_overbroad"
        | "user_mfa_not_enforced"
        | "group_membership_missing"
        | "group_membership_unexpected" => "high",
        "user_without_mfa"
        | "access_key_not_rotated"
        | "access_key_unused"
        | "console_password_unused"
        | "two_active_access_keys"
        | "user_in_no_group"
        | "password_policy_weak"
        | "rotation_blocked" => "medium",
        "access_key_created_at_setup"
        | "inactive_access_key_lingering"
        | "user_has_direct_policies"
        | "virtual_mfa_unassigned" => "low",
        other => panic!("check {other} is not in the catalogue"),
    }
}

struct Setup {
    moto: Moto,
    aws: Aws,
    seeded: Seeded,
    watch: Watch,
}

async fn start(violations: bool) -> Setup {
    let moto = Moto::start();
    let aws = Aws::connect(&moto.endpoint()).await;
    let seeded = if violations {
        scenario::violations(&moto, &aws).await
    } else {
        scenario::compliant(&moto, &aws).await
    };
    let watch = Watch::start(&scenario::scenario_env(&moto));
    Setup { moto, aws, seeded, watch }
}

/// Invokes and returns the report, with moto's and the function's logs on failure.
fn report_of(setup: &Setup, event: &str) -> Value {
    let inv = setup.watch.invoke(&lambda::event(event));
    assert!(
        inv.success,
        "invoking {event} failed:\n{}\n{}\n{}",
        inv.output(),
        setup.watch.log_tail(),
        setup.moto.log_tail()
    );
    eprintln!("{event}: invocation took {:?}", inv.elapsed);
    inv.json()
}

fn assert_run_metadata(report: &Value, action: &str) {
    assert_eq!(report["schema_version"], 1);
    assert_eq!(report["account_id"], MOTO_ACCOUNT);
    assert_eq!(report["action"], action);
    // The mode is what this run could do to keys: an on-demand audit does nothing to them.
    assert_eq!(report["mode"], "off");
    assert!(report["run_id"].as_str().is_some_and(|r| !r.is_empty()), "run_id");
    let generated: DateTime<Utc> =
        report["generated_at"].as_str().and_then(|s| s.parse().ok()).expect("generated_at is a time");
    assert!((Utc::now() - generated).abs() < Duration::minutes(5), "generated_at is now: {generated}");
    assert!(report["data_as_of"].as_str().is_some(), "data_as_of is the credential report's time");
}

/// Without live confirmation (the default) a finding about a key names it by its creation
/// time, which is the creation time of the key the scenario created in that slot, and by no
/// key id: the audit read nothing per user. With `live`, it names that key's id too.
async fn assert_keys_named(aws: &Aws, report: &Value, seeded: &Seeded, live: bool) {
    for f in findings(report) {
        match (f["user"].as_str(), f["key_slot"].as_u64()) {
            (Some(user), Some(slot)) => {
                let slot = u8::try_from(slot).expect("slot 1 or 2");
                let id = seeded.key_id(user, slot).unwrap_or_else(|| panic!("no key {slot} for {user}"));
                let key = aws.keys(user).await.into_iter().find(|k| k.id == id).expect("the key exists");
                let created: Option<DateTime<Utc>> = f["key_created"].as_str().and_then(|t| t.parse().ok());
                // The credential report gives whole seconds.
                let want = DateTime::<Utc>::from_timestamp(key.created.timestamp(), 0);
                assert_eq!(created, want, "key_created of {} for {user}", f["check"]);
                let want_id = live.then_some(id);
                assert_eq!(f["access_key_id"].as_str(), want_id, "key id of {} for {user}", f["check"]);
            }
            _ => assert!(f["access_key_id"].is_null(), "finding not about a key names one: {f}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn violations_are_reported_exactly() {
    let setup = start(true).await;
    let seeded = &setup.seeded;
    let report = report_of(&setup, "events/audit.json");

    assert_eq!(report["errors"], Value::Array(vec![]), "errors: {:#}", report["errors"]);
    assert_run_metadata(&report, "audit");
    assert_same_findings(&finding_set(&report), &seeded.expected, &report);
    assert_summary_consistent(&report);
    assert_keys_named(&setup.aws, &report, seeded, false).await;

    // Every check moto can exhibit fails; the one it cannot passes; an audit plans no
    // rotation, so the rotation checks are skipped.
    let statuses = check_statuses(&report);
    for check in ALL_CHECKS {
        let want = if check == "root_access_key_present" {
            "pass"
        } else if skipped_in_audit(check) {
            "skipped"
        } else {
            "fail"
        };
        assert_eq!(statuses.get(check).map(String::as_str), Some(want), "status of {check}");
    }

    for f in findings(&report) {
        let check = f["check"].as_str().expect("check");
        assert_eq!(f["severity"], severity(check), "severity of {f}");
        assert!(f["message"].as_str().is_some_and(|m| !m.is_empty()), "message of {f}");
        match (f["exempted"].as_bool(), f["user"].as_str()) {
            (Some(true), Some(user)) => {
                let reason =
                    f["exemption"].as_str().unwrap_or_else(|| panic!("exempted without reason: {f}"));
                let want = &seeded.exemption_reasons[user];
                assert!(
                    reason.contains(want.as_str()),
                    "exemption of {user} is {reason:?}, should name {want}"
                );
            }
            (Some(false), _) => assert!(f["exemption"].is_null(), "open finding with an exemption: {f}"),
            _ => panic!("exempted finding without a user: {f}"),
        }
        if check == "virtual_mfa_unassigned" {
            assert_eq!(f["resource"].as_str(), seeded.unassigned_mfa.first().map(String::as_str));
        }
    }
    let s = &report["summary"];
    assert_eq!(s["users_scanned"].as_u64(), Some(seeded.users.len() as u64), "users_scanned");
    assert_eq!(s["worst"], "critical");
    let calls = s["api_calls"].as_object().expect("api_calls");
    assert!(
        calls.get("iam:GetCredentialReport").and_then(Value::as_u64).is_some_and(|n| n >= 1),
        "api_calls counts iam:GetCredentialReport: {calls:?}"
    );
    // Bulk reads only: no call names a user.
    let per_user: Vec<&String> = calls
        .keys()
        .filter(|op| ["ListAccessKeys", "GetLoginProfile", "GetUser"].iter().any(|p| op.ends_with(p)))
        .collect();
    assert!(per_user.is_empty(), "the default audit made per-user calls: {calls:?}");
    let total = s["api_calls_total"].as_u64().expect("api_calls_total");
    assert!(total <= 12, "{total} API calls for {} users: {calls:?}", seeded.users.len());

    // The daily EventBridge trigger audits the same way.
    let scheduled = report_of(&setup, "events/scheduled.json");
    assert_eq!(scheduled["errors"], Value::Array(vec![]), "errors: {:#}", scheduled["errors"]);
    assert_same_findings(&finding_set(&scheduled), &seeded.expected, &scheduled);
    assert_summary_consistent(&scheduled);

    // With live confirmation the same findings name their keys, for one ListAccessKeys per
    // user with a key finding.
    let mut env = scenario::scenario_env(&setup.moto);
    env.insert("LIVE_CONFIRMATION".into(), "true".into());
    let live = Watch::start(&env);
    let confirmed = live.invoke(&lambda::event("events/audit.json")).report();
    assert_eq!(confirmed["errors"], Value::Array(vec![]), "errors: {:#}", confirmed["errors"]);
    assert_same_findings(&finding_set(&confirmed), &seeded.expected, &confirmed);
    assert_keys_named(&setup.aws, &confirmed, seeded, true).await;
    let with_keys: BTreeSet<&str> = findings(&confirmed)
        .iter()
        .filter(|f| f["key_slot"].is_u64())
        .filter_map(|f| f["user"].as_str())
        .collect();
    assert_eq!(
        confirmed["summary"]["api_calls"]["iam:ListAccessKeys"].as_u64(),
        Some(with_keys.len() as u64),
        "{:#}",
        confirmed["summary"]["api_calls"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compliant_account_has_no_user_findings() {
    let setup = start(false).await;
    let report = report_of(&setup, "events/audit.json");

    assert_eq!(report["errors"], Value::Array(vec![]), "errors: {:#}", report["errors"]);
    assert_run_metadata(&report, "audit");
    // Only what moto cannot avoid: root has no MFA there.
    assert_same_findings(&finding_set(&report), &setup.seeded.expected, &report);
    assert!(findings(&report).iter().all(|f| f["user"].is_null()), "no user-level finding");
    assert_summary_consistent(&report);
    let statuses = check_statuses(&report);
    for check in ALL_CHECKS {
        let want = if check == "root_mfa_disabled" {
            "fail"
        } else if skipped_in_audit(check) {
            "skipped"
        } else {
            "pass"
        };
        assert_eq!(statuses.get(check).map(String::as_str), Some(want), "status of {check}");
    }
    assert_eq!(report["summary"]["users_scanned"].as_u64(), Some(setup.seeded.users.len() as u64));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_endpoint_reports_unknown_not_pass() {
    // Nothing listens there: every read fails with a refused connection.
    let endpoint = format!("http://127.0.0.1:{}", closed_port());
    let mut env = function_env(&endpoint);
    env.insert("CREDENTIAL_REPORT_MAX_WAIT_SECONDS".into(), "2".into());
    let watch = Watch::start(&env);
    let inv = watch.invoke(&lambda::event("events/audit.json"));
    assert!(
        inv.success,
        "a failed read must still return a report (cargo lambda invoke exits 0):\n{}\n{}",
        inv.output(),
        watch.log_tail()
    );
    eprintln!("invocation took {:?}", inv.elapsed);
    let report = inv.json();

    let errors = report["errors"].as_array().expect("errors array");
    assert!(!errors.is_empty(), "a run that read nothing must say so: {report:#}");
    for e in errors {
        assert!(e["operation"].as_str().is_some_and(|o| o.contains(':')), "error names the operation: {e}");
        assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "error has a message: {e}");
    }
    assert_eq!(findings(&report).len(), 0, "no data, no findings: {:#}", report["findings"]);
    let statuses = check_statuses(&report);
    assert_eq!(
        statuses.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        ALL_CHECKS.into_iter().collect()
    );
    for (check, status) in &statuses {
        let want = if skipped_in_audit(check.as_str()) { "skipped" } else { "unknown" };
        assert_eq!(status, want, "{check} cannot pass on data that was never read");
    }
    assert_summary_consistent(&report);
    assert_eq!(report["summary"]["findings"], 0);
    assert!(report["summary"]["worst"].is_null());
    assert_eq!(report["account_id"], "unknown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scoped_run_and_rejected_events() {
    let setup = start(true).await;

    // A run scoped to alice: only her findings, account-level checks skipped.
    let report = report_of(&setup, "events/audit-users.json");
    assert_eq!(report["errors"], Value::Array(vec![]), "errors: {:#}", report["errors"]);
    assert_run_metadata(&report, "audit");
    let alice: BTreeSet<Expected> = setup.seeded.expected_for("alice");
    assert!(!alice.is_empty(), "the scenario gives alice findings");
    assert_same_findings(&finding_set(&report), &alice, &report);
    assert_summary_consistent(&report);
    assert_eq!(report["summary"]["users_scanned"], 1);
    let statuses = check_statuses(&report);
    for check in ALL_CHECKS {
        let status = statuses.get(check).map(String::as_str);
        if ACCOUNT_CHECKS.contains(&check) || skipped_in_audit(check) {
            assert_eq!(status, Some("skipped"), "account or rotation check {check} in a scoped audit");
        } else {
            assert!(matches!(status, Some("pass" | "fail")), "user check {check} is {status:?}");
        }
    }

    // Events that must be refused, with a clear error, changing nothing.
    let before = setup.aws.snapshot().await;
    for (event, must_mention) in [
        ("tests/events/audit-unknown-user.json", &["nobody-by-that-name", "unknown user"][..]),
        ("tests/events/audit-unknown-field.json", &["delete_everything", "unknown field"][..]),
        ("tests/events/audit-bad-action.json", &["purge"][..]),
    ] {
        let inv = setup.watch.invoke(Path::new(event));
        assert!(!inv.success, "{event} must be rejected, got:\n{}", inv.output());
        let output = inv.output_words();
        for needle in must_mention {
            assert!(output.contains(needle), "the error for {event} should mention {needle:?}:\n{output}");
        }
        assert!(!output.contains("\"findings\""), "a rejected event returns no report:\n{output}");
    }
    assert_eq!(before, setup.aws.snapshot().await, "a rejected event changed IAM");
}
