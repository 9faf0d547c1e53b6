//! Reading the report the function returns (plain JSON, read by field name as any consumer
//! would) and checking that its summary agrees with its findings.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::scenario::Expected;

/// The check ids of the catalogue, in the report's spelling.
pub const ALL_CHECKS: [&str; 21] = [
    "root_mfa_disabled",
    "root_access_key_present",
    "console_user_without_mfa",
    "user_without_mfa",
    "access_key_not_rotated",
    "access_key_unused",
    "console_password_unused",
    "two_active_access_keys",
    "access_key_created_at_setup",
    "inactive_access_key_lingering",
    "user_has_direct_policies",
    "user_in_no_group",
    "virtual_mfa_unassigned",
    "password_policy_weak",
    "rotation_blocked",
    "rotation_held_key_in_use",
    "group_membership_missing",
    "group_membership_unexpected",
    "self_service_policy_drift",
    "self_service_policy_overbroad",
    "user_mfa_not_enforced",
];

/// The checks judged by the rotation planner on live reads: `skipped` in a run that plans
/// no rotation (an `audit` action).
pub const ROTATION_CHECKS: [&str; 2] = ["rotation_blocked", "rotation_held_key_in_use"];

/// The drift checks: `skipped` without a `DESIRED_STATE`, which these scenarios do not set.
pub const DRIFT_CHECKS: [&str; 2] = ["group_membership_missing", "group_membership_unexpected"];

/// Whether an audit of the scenarios reports `check` as `skipped` whatever the account holds.
pub fn skipped_in_audit(check: &str) -> bool {
    ROTATION_CHECKS.contains(&check) || DRIFT_CHECKS.contains(&check)
}

/// The checks about the account as a whole (skipped in a run scoped to users).
pub const ACCOUNT_CHECKS: [&str; 6] = [
    "root_mfa_disabled",
    "root_access_key_present",
    "virtual_mfa_unassigned",
    "password_policy_weak",
    "self_service_policy_drift",
    "self_service_policy_overbroad",
];

/// The report's `findings` array.
pub fn findings(report: &Value) -> &Vec<Value> {
    report["findings"].as_array().unwrap_or_else(|| panic!("report has no findings array: {report:#}"))
}

/// The report's rotation `actions` array (planned or taken steps).
pub fn actions(report: &Value) -> &Vec<Value> {
    report["actions"].as_array().unwrap_or_else(|| panic!("report has no actions array: {report:#}"))
}

/// The rotation actions about `user`.
pub fn actions_for<'a>(report: &'a Value, user: &str) -> Vec<&'a Value> {
    actions(report).iter().filter(|a| a["user"] == user).collect()
}

/// The open (not exempted) findings of `check` about `user`.
pub fn findings_for<'a>(report: &'a Value, check: &str, user: &str) -> Vec<&'a Value> {
    findings(report).iter().filter(|f| f["check"] == check && f["user"] == user).collect()
}

/// A finding's identity and exemption flag, for comparing with a scenario's expectations.
pub fn identity(finding: &Value) -> Expected {
    Expected {
        check: finding["check"].as_str().unwrap_or_else(|| panic!("finding without check: {finding}")).into(),
        user: finding["user"].as_str().map(Into::into),
        key_slot: finding["key_slot"].as_u64().map(|s| u8::try_from(s).expect("key slot is 1 or 2")),
        exempted: finding["exempted"]
            .as_bool()
            .unwrap_or_else(|| panic!("finding without exempted: {finding}")),
    }
}

/// The findings of a report as a set of identities.
pub fn finding_set(report: &Value) -> BTreeSet<Expected> {
    findings(report).iter().map(identity).collect()
}

/// Asserts that two finding sets are equal, listing what is missing and what is extra.
pub fn assert_same_findings(actual: &BTreeSet<Expected>, expected: &BTreeSet<Expected>, report: &Value) {
    let missing: Vec<String> = expected.difference(actual).map(|e| format!("  - {e}")).collect();
    let extra: Vec<String> = actual.difference(expected).map(|e| format!("  + {e}")).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "findings differ from the scenario's\nmissing:\n{}\nextra:\n{}\nreport findings:\n{}",
        missing.join("\n"),
        extra.join("\n"),
        serde_json::to_string_pretty(&report["findings"]).unwrap_or_default()
    );
}

/// The status (`pass`, `fail`, `unknown`, `skipped`) of every check in the summary.
pub fn check_statuses(report: &Value) -> BTreeMap<String, String> {
    let checks = report["summary"]["checks"]
        .as_object()
        .unwrap_or_else(|| panic!("summary has no checks object: {:#}", report["summary"]));
    checks
        .iter()
        .map(|(id, c)| {
            (
                id.clone(),
                c["status"].as_str().unwrap_or_else(|| panic!("check {id} has no status")).to_string(),
            )
        })
        .collect()
}

fn count(value: &Value, what: &str) -> u64 {
    value.as_u64().unwrap_or_else(|| panic!("{what} is not a count: {value}"))
}

/// Asserts that the summary is what the findings say: open and exempted counts, counts by
/// severity and by check, each check's findings, exempted and status, the worst severity,
/// and that the API-call total is the sum of the per-operation counts.
pub fn assert_summary_consistent(report: &Value) {
    let all = findings(report);
    let summary = &report["summary"];
    let open: Vec<&Value> = all.iter().filter(|f| f["exempted"] == Value::Bool(false)).collect();
    let exempted = all.len() - open.len();
    assert_eq!(count(&summary["findings"], "summary.findings"), open.len() as u64, "summary.findings");
    assert_eq!(count(&summary["exempted"], "summary.exempted"), exempted as u64, "summary.exempted");
    assert_eq!(count(&report["findings_omitted"], "findings_omitted"), 0, "no finding may be omitted here");

    let mut by_severity: BTreeMap<String, u64> = BTreeMap::new();
    let mut by_check: BTreeMap<String, u64> = BTreeMap::new();
    let mut exempted_by_check: BTreeMap<String, u64> = BTreeMap::new();
    for f in all {
        let check = f["check"].as_str().unwrap_or_default().to_string();
        if f["exempted"] == Value::Bool(true) {
            *exempted_by_check.entry(check).or_default() += 1;
        } else {
            *by_severity.entry(f["severity"].as_str().unwrap_or_default().to_string()).or_default() += 1;
            *by_check.entry(check).or_default() += 1;
        }
    }
    for (severity, n) in summary["by_severity"].as_object().expect("summary.by_severity is an object") {
        assert_eq!(
            count(n, severity),
            by_severity.get(severity).copied().unwrap_or(0),
            "by_severity.{severity}"
        );
    }
    for severity in by_severity.keys() {
        assert!(summary["by_severity"].get(severity).is_some(), "by_severity lacks {severity}");
    }
    let reported_by_check: BTreeMap<String, u64> = summary["by_check"]
        .as_object()
        .expect("summary.by_check is an object")
        .iter()
        .map(|(k, v)| (k.clone(), count(v, k)))
        .filter(|(_, n)| *n > 0)
        .collect();
    assert_eq!(reported_by_check, by_check, "summary.by_check");

    let checks = summary["checks"].as_object().expect("summary.checks is an object");
    let ids: BTreeSet<&str> = checks.keys().map(String::as_str).collect();
    assert_eq!(ids, ALL_CHECKS.into_iter().collect(), "summary.checks lists every check of the catalogue");
    for (id, c) in checks {
        let open_n = by_check.get(id).copied().unwrap_or(0);
        assert_eq!(count(&c["findings"], id), open_n, "checks.{id}.findings");
        assert_eq!(
            count(&c["exempted"], id),
            exempted_by_check.get(id).copied().unwrap_or(0),
            "checks.{id}.exempted"
        );
        let status = c["status"].as_str().unwrap_or_default();
        match status {
            "pass" => assert_eq!(open_n, 0, "check {id} passes with open findings"),
            "fail" => assert!(open_n > 0, "check {id} fails without open findings"),
            "unknown" | "skipped" => {
                assert_eq!(open_n + exempted_by_check.get(id).copied().unwrap_or(0), 0, "{id} is {status}");
                assert!(
                    c["reason"].as_str().is_some_and(|r| !r.is_empty()),
                    "{id} is {status} without a reason"
                );
            }
            other => panic!("check {id} has unknown status {other:?}"),
        }
    }

    let order = ["info", "low", "medium", "high", "critical"];
    let worst = open
        .iter()
        .filter_map(|f| f["severity"].as_str())
        .max_by_key(|s| order.iter().position(|o| o == s).unwrap_or(0));
    assert_eq!(summary["worst"].as_str(), worst, "summary.worst");

    let calls = summary["api_calls"].as_object().expect("summary.api_calls is an object");
    let sum: u64 = calls.iter().map(|(k, v)| count(v, k)).sum();
    assert_eq!(count(&summary["api_calls_total"], "api_calls_total"), sum, "api_calls_total");
}
