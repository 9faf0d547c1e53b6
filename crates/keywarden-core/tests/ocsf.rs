//! The export formats checked as their consumers would: every OCSF event against the
//! Compliance Finding class's required fields and enums (OCSF 1.3.0: `base_event`, `finding`
//! and `compliance_finding`, with the `cloud` profile), and the ASFF findings Security Hub
//! receives (deterministic ids, resolved ones archived, unknown checks never passed).

use std::collections::BTreeMap;

use chrono::Duration;
use keywarden_core::checks::{evaluate, UserScope};
use keywarden_core::export::{asff, ocsf};
use keywarden_core::fixtures::{
    self, authorization_with_self_service, credential_report, now, user, ACCOUNT_ID,
};
use keywarden_core::model::ReadFailure;
use keywarden_core::report::{Changes, RunAction, RunInfo};
use keywarden_core::{AuditPolicy, Report, RotationMode};
use serde_json::Value;

fn run() -> RunInfo {
    RunInfo {
        run_id: "run-1".into(),
        account_id: ACCOUNT_ID.into(),
        action: RunAction::Audit,
        mode: RotationMode::DryRun,
        generated_at: now(),
        data_as_of: Some(now() - Duration::hours(1)),
    }
}

/// alice: console without MFA and in no group; the virtual MFA devices could not be read.
fn report() -> Report {
    let csv = credential_report([format!(
        "alice,arn:aws:iam::{ACCOUNT_ID}:user/alice,2026-01-01T00:00:00+00:00,true,2026-05-30T00:00:00+00:00,2026-01-01T00:00:00+00:00,N/A,false,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A"
    )]);
    let mut inventory = fixtures::inventory(csv, authorization_with_self_service([user("alice", &[])]));
    let failure = ReadFailure::new("iam:ListVirtualMFADevices", Some("AccessDenied".into()), "denied");
    inventory.virtual_mfa_devices = Err(failure.clone());
    let ev = evaluate(&inventory, &AuditPolicy::default(), &UserScope::All, now());
    Report::build(run(), ev, vec![failure], BTreeMap::new())
}

/// The required attributes of Compliance Finding 1.3.0 with the cloud profile, as dotted paths.
const REQUIRED: [&str; 17] = [
    "activity_id",
    "category_uid",
    "class_uid",
    "type_uid",
    "time",
    "severity_id",
    "metadata.product.name",
    "metadata.product.vendor_name",
    "metadata.version",
    "finding_info.uid",
    "finding_info.title",
    "compliance.standards",
    "compliance.status_id",
    "cloud.provider",
    "cloud.account.uid",
    "resources",
    "status_id",
];

fn at<'a>(v: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(v, |v, k| &v[k])
}

fn one_of(v: &Value, path: &str, allowed: &[u64]) {
    let n = at(v, path).as_u64().unwrap_or_else(|| panic!("{path} is not an integer: {v}"));
    assert!(allowed.contains(&n), "{path} = {n} is not in the enum {allowed:?}");
}

#[test]
fn every_ocsf_event_has_the_class_fields_and_enum_values() {
    let events = ocsf::events(&report(), "0.1.0");
    assert!(!events.is_empty());
    for e in &events {
        let v = serde_json::to_value(e).expect("serialise");
        for path in REQUIRED {
            assert!(!at(&v, path).is_null(), "{path} is missing: {v}");
        }
        assert_eq!(v["class_uid"], 2003);
        assert_eq!(v["category_uid"], 2);
        one_of(&v, "activity_id", &[0, 1, 2, 3, 99]);
        assert_eq!(v["type_uid"].as_u64(), Some(200_300 + v["activity_id"].as_u64().unwrap_or(0)));
        one_of(&v, "severity_id", &[0, 1, 2, 3, 4, 5, 6, 99]);
        one_of(&v, "status_id", &[0, 1, 2, 3, 4, 99]);
        one_of(&v, "compliance.status_id", &[0, 1, 2, 3, 99]);
        assert!(
            v["metadata"]["version"].as_str().is_some_and(|s| s.starts_with("1.")),
            "OCSF 1.1 or later (1.3.0, whose class 2003 has `resources`)"
        );
        assert!(v["time"].as_i64().is_some_and(|t| t == now().timestamp_millis()));
        assert!(v["compliance"]["standards"].as_array().is_some_and(|s| !s.is_empty()));
        assert!(v["resources"].as_array().is_some_and(|r| r.iter().all(|r| r["uid"].is_string())));
        assert_eq!(v["cloud"]["account"]["uid"], ACCOUNT_ID);
    }
}

#[test]
fn a_check_that_could_not_run_is_unknown_in_ocsf_and_not_available_in_asff() {
    let r = report();
    let events = ocsf::events(&r, "0.1.0");
    let unknown: Vec<_> =
        events.iter().filter(|e| e.compliance.control == "virtual_mfa_unassigned").collect();
    assert_eq!(unknown.len(), 1);
    assert_eq!(
        (unknown[0].compliance.status_id, unknown[0].status_id),
        (2, 0),
        "Warning: no result for missing information"
    );
    assert!(
        events.iter().all(|e| e.compliance.status_id != 1),
        "nothing passes in a run with no resolved finding"
    );
    let asff = asff::findings(&r, "us-east-1", now());
    let na: Vec<_> = asff.iter().filter(|f| f.generator_id == "keywarden/virtual_mfa_unassigned").collect();
    assert_eq!(na.len(), 1);
    assert_eq!(na[0].compliance.status, "NOT_AVAILABLE");
}

#[test]
fn asff_ids_are_deterministic_and_updated_at_is_the_send_time() {
    let first = asff::findings(&report(), "us-east-1", now());
    let second = asff::findings(&report(), "us-east-1", now() + Duration::days(1));
    let ids = |f: &[asff::AsffFinding]| f.iter().map(|f| f.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&first), ids(&second));
    assert!(first.iter().zip(&second).all(|(a, b)| a.updated_at < b.updated_at));
    let mut unique = ids(&first);
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), first.len(), "one id per finding");
    for f in &first {
        assert_eq!(
            f.product_arn,
            format!("arn:aws:securityhub:us-east-1:{ACCOUNT_ID}:product/{ACCOUNT_ID}/default")
        );
        assert_eq!(f.aws_account_id, ACCOUNT_ID);
        assert!(f.description.chars().count() <= asff::MAX_DESCRIPTION);
        assert!(f.id.starts_with(&format!("keywarden/{ACCOUNT_ID}/")));
    }
    let json = serde_json::to_value(&first[0]).expect("serialise");
    for key in [
        "SchemaVersion",
        "Id",
        "ProductArn",
        "GeneratorId",
        "AwsAccountId",
        "Types",
        "CreatedAt",
        "UpdatedAt",
        "Severity",
        "Title",
        "Description",
        "Resources",
    ] {
        assert!(!json[key].is_null(), "ASFF requires {key}: {json}");
    }
}

#[test]
fn a_finding_resolved_since_the_last_run_is_archived_as_passed() {
    let mut r = report();
    let gone = r.findings.remove(0);
    r.changes = Some(Changes {
        previous_run_id: "run-0".into(),
        previous_generated_at: now() - Duration::days(1),
        new: vec![],
        resolved: vec![gone.clone()],
        ongoing: r.findings.len(),
        unverified: vec![],
    });
    let asff = asff::findings(&r, "us-east-1", now());
    let archived: Vec<_> = asff.iter().filter(|f| f.record_state == "ARCHIVED").collect();
    assert_eq!(archived.len(), 1);
    assert_eq!(archived[0].compliance.status, "PASSED");
    assert_eq!(archived[0].id, keywarden_core::export::finding_uid(ACCOUNT_ID, &gone));
    let events = ocsf::events(&r, "0.1.0");
    let closed: Vec<_> = events.iter().filter(|e| e.activity_id == 3).collect();
    assert_eq!(closed.len(), 1);
    assert_eq!((closed[0].status_id, closed[0].compliance.status_id, closed[0].type_uid), (4, 1, 200_303));
}
