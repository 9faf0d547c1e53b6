//! The digest as the security team receives it: a golden email, SNS's limits at the largest
//! account, and the JSON copy agreeing with the report.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use keywarden_core::checks::{CheckStatus, Evaluation};
use keywarden_core::report::{ActionStatus, Changes, RotationAction, RunAction, RunInfo};
use keywarden_core::{CheckId, Finding, ReadFailure, Report, RotationMode, Severity};
use keywarden_sns::{email_text, sns_message, subject, MAX_SUBJECT_CHARS};

/// Day `d`, hour `h` of November 2026, on the shared fixtures' clock.
fn at(d: u32, h: u32) -> DateTime<Utc> {
    keywarden_core::fixtures::at(&format!("2026-11-{d:02}T{h:02}:00:00Z"))
}

fn finding(check: CheckId, user: Option<&str>, key: Option<&str>, message: &str) -> Finding {
    Finding {
        check,
        severity: check.meta().severity,
        user: user.map(str::to_string),
        resource: user.map_or("account".into(), |u| format!("arn:aws:iam::123456789012:user/{u}")),
        access_key_id: key.map(str::to_string),
        key_slot: key.map(|_| 1),
        key_created: None,
        message: message.into(),
        exempted: false,
        exemption: None,
    }
}

fn fixed_report() -> Report {
    let mut ev = Evaluation {
        findings: vec![
            finding(CheckId::RootMfaDisabled, None, None, "the root user has no MFA device"),
            finding(
                CheckId::ConsoleUserWithoutMfa,
                Some("alice"),
                None,
                "alice can sign in to the console with a password and has no MFA device",
            ),
            finding(
                CheckId::ConsoleUserWithoutMfa,
                Some("bob"),
                None,
                "bob can sign in to the console with a password and has no MFA device",
            ),
            finding(
                CheckId::AccessKeyNotRotated,
                Some("ci-deployer"),
                Some("AKIAEXAMPLE000000001"),
                "access key 1 of ci-deployer is 131 days old (limit 90)",
            ),
            finding(
                CheckId::PasswordPolicyWeak,
                None,
                None,
                "password policy is weak: minimum length 8 < 14",
            ),
        ],
        users_scanned: 12,
        ..Evaluation::default()
    };
    let mut exempt =
        finding(CheckId::UserInNoGroup, Some("break-glass"), None, "break-glass belongs to no group");
    exempt.exempted = true;
    exempt.exemption = Some("member of exempt group BreakGlass".into());
    ev.findings.push(exempt);
    for c in CheckId::ALL {
        ev.statuses.insert(c, CheckStatus::Evaluated);
    }
    ev.statuses.insert(
        CheckId::VirtualMfaUnassigned,
        CheckStatus::Unknown("iam:ListVirtualMFADevices failed (AccessDenied): not authorized".into()),
    );
    keywarden_core::checks::sort_findings(&mut ev.findings);
    let run = RunInfo {
        run_id: "7f3c2a10-5d2e-4c1b-9a61-3e8f0b6d2c44".into(),
        account_id: "123456789012".into(),
        action: RunAction::Audit,
        mode: RotationMode::Enforce,
        generated_at: at(23, 6),
        data_as_of: Some(at(23, 5)),
    };
    let calls: BTreeMap<String, u64> = [("iam:GetCredentialReport".to_string(), 1)].into();
    let errors =
        vec![ReadFailure::new("iam:ListVirtualMFADevices", Some("AccessDenied".into()), "not authorized")];
    let mut report = Report::build(run, ev, errors, calls);
    let mut resolved =
        finding(CheckId::TwoActiveAccessKeys, Some("carol"), None, "carol has two active access keys");
    resolved.severity = Severity::Medium;
    report.changes = Some(Changes {
        previous_run_id: "1b2c".into(),
        previous_generated_at: at(22, 6),
        new: vec![report.findings[2].id()],
        resolved: vec![resolved],
        ongoing: 4,
        unverified: vec![],
    });
    report.actions = vec![RotationAction {
        user: "ci-deployer".into(),
        step: keywarden_core::rotation::StepKind::Create,
        reason: "key is older than 90 days".into(),
        status: ActionStatus::Done,
        old_key_id: Some("AKIAEXAMPLE000000001".into()),
        new_key_id: Some("AKIAEXAMPLE000000002".into()),
        secret_arn: Some(
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:keywarden/ci-deployer-AbC123".into(),
        ),
        error: None,
    }];
    report.archive = Some(
        "s3://keywarden-reports/123456789012/2026/11/23/7f3c2a10-5d2e-4c1b-9a61-3e8f0b6d2c44.json".into(),
    );
    report.page = Some(
        "s3://keywarden-reports/123456789012/2026/11/23/7f3c2a10-5d2e-4c1b-9a61-3e8f0b6d2c44.html".into(),
    );
    report
}

#[test]
fn email_digest_matches_the_reviewed_golden_file() {
    let text = email_text(&fixed_report());
    let golden = include_str!("golden/email.txt");
    assert_eq!(
        text, golden,
        "the email digest changed; review it and update tests/golden/email.txt:\n{text}"
    );
    assert!(!text.contains('{') && !text.contains("\"check\""), "no JSON in the email");
}

#[test]
fn subject_counts_high_severities_and_new_findings() {
    assert_eq!(subject(&fixed_report()), "keywarden 123456789012: 1 critical, 2 high (1 new), 1 errors");
}

#[test]
fn the_json_copy_is_the_report_with_its_schema_version() {
    let report = fixed_report();
    let message: serde_json::Value =
        serde_json::from_str(&sns_message(&report).expect("message")).expect("JSON");
    let default: serde_json::Value =
        serde_json::from_str(message["default"].as_str().expect("default is a string"))
            .expect("summary JSON");
    assert_eq!(default["schema_version"], 1);
    assert_eq!(default["summary"]["findings"], 5);
    assert_eq!(default["summary"]["by_severity"]["high"], 2);
    assert_eq!(default["changes"]["new"].as_array().map(Vec::len), Some(1));
    assert_eq!(message["email"].as_str(), Some(email_text(&report).as_str()));
}

#[test]
fn a_finding_on_each_of_5000_users_fits_in_one_sns_message() {
    let mut ev = Evaluation::default();
    for i in 0..5000 {
        let user = format!("user-{i:04}-with-a-rather-long-name-for-good-measure");
        ev.findings.push(finding(
            CheckId::ConsoleUserWithoutMfa,
            Some(&user),
            None,
            &format!("{user} can sign in to the console with a password and has no MFA device"),
        ));
        ev.findings.push(finding(
            CheckId::AccessKeyNotRotated,
            Some(&user),
            Some("AKIAEXAMPLE000000009"),
            "access key 1 is 400 days old (limit 90)",
        ));
    }
    ev.users_scanned = 5000;
    let run = RunInfo {
        run_id: "big".into(),
        account_id: "123456789012".into(),
        action: RunAction::Audit,
        mode: RotationMode::DryRun,
        generated_at: at(23, 6),
        data_as_of: Some(at(23, 5)),
    };
    let mut report = Report::build(run, ev, vec![], BTreeMap::new());
    report.archive = Some("s3://bucket/123456789012/2026/11/23/big.json".into());
    let message = sns_message(&report).expect("message");
    println!("digest for 10,000 findings: {} bytes", message.len());
    assert!(message.len() <= 256 * 1024, "{} bytes", message.len());
    let subject = subject(&report);
    assert!(subject.chars().count() <= MAX_SUBJECT_CHARS && !subject.contains('\n'));
    let parsed: serde_json::Value = serde_json::from_str(&message).expect("JSON");
    let default: serde_json::Value =
        serde_json::from_str(parsed["default"].as_str().expect("default")).expect("JSON");
    assert_eq!(default["summary"]["findings"], 10_000, "the counts stay whole");
    assert!(default["findings_omitted"].as_u64().is_some_and(|n| n > 0), "findings are summarized");
    let email = parsed["email"].as_str().expect("email");
    assert!(email.contains("s3://bucket/123456789012/2026/11/23/big.json"), "points to the archive");
    assert!(email.contains("... and 4990 more"));
    assert!(!email.contains("NEW "), "no archive, so nothing is marked new");
}
