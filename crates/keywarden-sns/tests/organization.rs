//! The organization digest as the security team receives it: worst accounts first, every
//! account named (failed and unreached ones with why), and under SNS's limits at 100 accounts.

use std::collections::BTreeMap;

use keywarden_core::checks::{CheckStatus, Evaluation};
use keywarden_core::organization::{AccountEntry, AccountRef, AccountResult, OrgReport, OrgRunInfo};
use keywarden_core::report::{RunAction, RunInfo};
use keywarden_core::{CheckId, Finding, ReadFailure, Report, RotationMode};
use keywarden_sns::{org_email_text, org_sns_message, org_subject, MAX_MESSAGE_BYTES, MAX_SUBJECT_CHARS};

fn finding(account: &str, check: CheckId, user: &str) -> Finding {
    Finding {
        check,
        severity: check.meta().severity,
        user: Some(user.into()),
        resource: format!("arn:aws:iam::{account}:user/{user}"),
        access_key_id: None,
        key_slot: None,
        key_created: None,
        message: format!(
            "{user}: {} with a deliberately long explanation of what is wrong",
            check.meta().title
        ),
        exempted: false,
        exemption: None,
    }
}

fn report(account: &str, users: usize, check: CheckId) -> Report {
    let mut ev = Evaluation {
        findings: (0..users).map(|i| finding(account, check, &format!("user-{i:04}"))).collect(),
        users_scanned: users,
        ..Evaluation::default()
    };
    for c in CheckId::ALL {
        ev.statuses.insert(c, CheckStatus::Evaluated);
    }
    let run = RunInfo {
        run_id: "run-1".into(),
        account_id: account.into(),
        action: RunAction::Audit,
        mode: RotationMode::DryRun,
        generated_at: keywarden_core::fixtures::now(),
        data_as_of: Some(keywarden_core::fixtures::now()),
    };
    Report::build(run, ev, vec![], BTreeMap::new())
}

fn org(accounts: usize) -> OrgReport {
    let mut entries = Vec::new();
    for i in 0..accounts {
        let id = format!("{:012}", 100_000_000_000u64 + i as u64);
        let account = AccountRef { id: id.clone(), name: format!("workload-{i:03}") };
        let result = match i {
            7 => AccountResult::Failed {
                error: ReadFailure::new(
                    "sts:AssumeRole",
                    Some("AccessDenied".into()),
                    "not authorized to assume",
                ),
            },
            8 => AccountResult::NotAudited { reason: "the invocation's deadline was reached first".into() },
            // A few accounts with a critical finding, many with high ones, the rest medium.
            i if i % 25 == 3 => {
                AccountResult::Audited { report: Box::new(report(&id, 3, CheckId::RootAccessKeyPresent)) }
            }
            i if i % 2 == 0 => {
                AccountResult::Audited { report: Box::new(report(&id, 400, CheckId::ConsoleUserWithoutMfa)) }
            }
            _ => AccountResult::Audited { report: Box::new(report(&id, 400, CheckId::AccessKeyUnused)) },
        };
        entries.push(AccountEntry { account, result });
    }
    let run = OrgRunInfo {
        run_id: "run-1".into(),
        action: RunAction::Audit,
        mode: RotationMode::DryRun,
        generated_at: keywarden_core::fixtures::now(),
    };
    OrgReport::build(run, entries, vec![], &BTreeMap::new())
}

#[test]
fn the_digest_of_100_accounts_fits_sns_and_names_every_account() {
    let report = org(100);
    let message = org_sns_message(&report).expect("message");
    assert!(message.len() <= MAX_MESSAGE_BYTES, "{} bytes", message.len());
    let message: serde_json::Value = serde_json::from_str(&message).expect("JSON");
    let email = message["email"].as_str().expect("email");
    let default: serde_json::Value =
        serde_json::from_str(message["default"].as_str().expect("default")).expect("JSON summary");
    assert_eq!(default["accounts"].as_array().map(Vec::len), Some(100), "every account listed");
    assert_eq!(default["accounts_omitted"], 0);
    for entry in &report.accounts {
        assert!(email.contains(&entry.account.id), "{} is missing from the email", entry.account.id);
    }
    // The critical accounts come first, in the email and in the JSON.
    assert_eq!(default["accounts"][0]["id"], "100000000003");
    let first = email.find("100000000003").expect("listed");
    let high = email.find("100000000000").expect("listed");
    assert!(first < high, "a critical account is listed before a high one");
    // A failed and an unreached account say so and why.
    let failed =
        default["accounts"].as_array().expect("array").iter().find(|a| a["id"] == "100000000007").cloned();
    assert_eq!(failed.as_ref().map(|a| a["status"].clone()), Some("failed".into()));
    assert!(email.contains("FAILED") && email.contains("AccessDenied"), "{email}");
    assert!(email.contains("NOT AUDITED") && email.contains("deadline"), "{email}");
}

#[test]
fn the_subject_counts_accounts_and_failures_on_one_line() {
    let subject = org_subject(&org(100));
    assert!(subject.chars().count() <= MAX_SUBJECT_CHARS && !subject.contains('\n'), "{subject}");
    assert!(subject.starts_with("keywarden organization: 12 critical"), "{subject}");
    assert!(subject.contains("1 failed") && subject.contains("1 not audited"), "{subject}");
}

#[test]
fn past_sns_limits_accounts_are_cut_not_the_summary() {
    let report = org(3000);
    let message = org_sns_message(&report).expect("message");
    assert!(message.len() <= MAX_MESSAGE_BYTES, "{} bytes", message.len());
    let message: serde_json::Value = serde_json::from_str(&message).expect("JSON");
    let default: serde_json::Value =
        serde_json::from_str(message["default"].as_str().expect("default")).expect("JSON summary");
    assert_eq!(default["summary"]["accounts"], 3000);
    assert!(default["accounts_omitted"].as_u64().is_some_and(|n| n > 0));
    assert!(org_email_text(&report, 5).contains("more accounts (all are in the report)"));
}
