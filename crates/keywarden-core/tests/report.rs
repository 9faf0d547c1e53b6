//! The run report: summary counts, statuses, ordering and the size cap, through the public API.
//!
//! Reports are built both from real evaluations (so the counts are tied to what the checks
//! say) and from hand-made findings (so the arithmetic is checked on known numbers). Time is
//! fixed; nothing reads the clock.

use std::collections::{BTreeMap, BTreeSet};

use chrono::Duration;
use keywarden_core::catalogue::DataSource;
use keywarden_core::checks::{evaluate, CheckStatus, Evaluation, UserScope, EXEMPT_TAG};
use keywarden_core::credential_report::{CredentialRow, KeySlot, ReportTime};
use keywarden_core::fixtures::{
    self, authorization_with_self_service, days_ago, mfa_arn, now, user_arn as arn, ACCOUNT_ID as ACCOUNT,
    MFA_GROUP,
};
use keywarden_core::model::{AccountSummary, PasswordPolicy, VirtualMfaDevice};
use keywarden_core::report::{RunAction, RunInfo, SCHEMA_VERSION};
use keywarden_core::{
    AuditPolicy, CheckId, CredentialReport, Finding, Inventory, ReadFailure, Report, RotationMode, Severity,
};

fn run_info() -> RunInfo {
    RunInfo {
        run_id: "run-0001".into(),
        account_id: ACCOUNT.into(),
        action: RunAction::Audit,
        mode: RotationMode::DryRun,
        generated_at: now(),
        data_as_of: Some(now() - Duration::hours(3)),
    }
}

fn no_key(slot: u8) -> KeySlot {
    KeySlot {
        slot,
        active: false,
        last_rotated: ReportTime::NotApplicable,
        last_used: ReportTime::NotApplicable,
    }
}

/// A console user; `bad` makes it lack MFA (high) and hold an old key (medium).
fn row(name: &str, bad: bool) -> CredentialRow {
    CredentialRow {
        user: name.into(),
        arn: arn(name),
        user_creation_time: ReportTime::At(days_ago(400)),
        password_enabled: Some(true),
        password_last_used: ReportTime::At(days_ago(1)),
        password_last_changed: ReportTime::At(days_ago(30)),
        mfa_active: !bad,
        keys: [
            if bad {
                KeySlot {
                    slot: 1,
                    active: true,
                    last_rotated: ReportTime::At(days_ago(200)),
                    last_used: ReportTime::At(days_ago(1)),
                }
            } else {
                no_key(1)
            },
            no_key(2),
        ],
    }
}

/// alice and bob are bad, carol is fine. Root has no MFA (critical) and one virtual MFA
/// device is unassigned (low). Everything else passes.
fn inventory() -> Inventory {
    let rows = vec![row("alice", true), row("bob", true), row("carol", false)];
    let authorization =
        authorization_with_self_service(rows.iter().map(|r| fixtures::user(&r.user, &[MFA_GROUP])));
    let report = CredentialReport { generated_at: now() - Duration::hours(3), root: None, users: rows };
    Inventory {
        virtual_mfa_devices: Ok(vec![VirtualMfaDevice {
            serial_number: mfa_arn("dave"),
            user: None,
            enable_date: None,
        }]),
        account_summary: Ok(AccountSummary { root_mfa_enabled: false, root_access_keys_present: false }),
        password_policy: Ok(Some(PasswordPolicy::meeting(&keywarden_core::AuditPolicy::default().password))),
        ..fixtures::inventory(report, authorization)
    }
}

fn evaluate_now(inv: &Inventory) -> Evaluation {
    evaluate(inv, &AuditPolicy::default(), &UserScope::All, now())
}

fn build(ev: Evaluation) -> Report {
    Report::build(run_info(), ev, Vec::new(), BTreeMap::new())
}

fn evaluation_of(findings: Vec<Finding>) -> Evaluation {
    Evaluation { findings, ..Evaluation::default() }
}

fn finding(check: CheckId, user: &str, n: usize) -> Finding {
    Finding {
        check,
        severity: check.meta().severity,
        user: Some(user.into()),
        resource: arn(user),
        access_key_id: None,
        key_slot: None,
        key_created: None,
        message: format!("{check}: finding number {n} about {user}, padded to a realistic length"),
        exempted: false,
        exemption: None,
    }
}

fn severity_counts(report: &Report) -> Vec<(Severity, usize)> {
    report.summary.by_severity.iter().map(|(s, n)| (*s, *n)).collect()
}

// ---------------------------------------------------------------------------------------------
// Counts
// ---------------------------------------------------------------------------------------------

#[test]
fn summary_counts_findings_by_severity_and_check() {
    let report = build(evaluate_now(&inventory()));
    let s = &report.summary;
    // critical: root MFA; high: alice+bob no MFA; medium: alice+bob old keys; low: device.
    assert_eq!(s.findings, 6);
    assert_eq!(s.exempted, 0);
    assert_eq!(
        severity_counts(&report),
        vec![
            (Severity::Info, 0),
            (Severity::Low, 1),
            (Severity::Medium, 2),
            (Severity::High, 2),
            (Severity::Critical, 1)
        ]
    );
    assert_eq!(
        s.by_check,
        BTreeMap::from([
            (CheckId::RootMfaDisabled, 1),
            (CheckId::ConsoleUserWithoutMfa, 2),
            (CheckId::AccessKeyNotRotated, 2),
            (CheckId::VirtualMfaUnassigned, 1),
        ])
    );
    assert_eq!(s.worst, Some(Severity::Critical));
    assert_eq!(s.users_scanned, 3);
    assert_eq!(report.findings.len(), 6);
    assert_eq!(report.findings_omitted, 0);
}

#[test]
fn check_summaries_say_fail_pass_unknown_or_skipped() {
    let report = build(evaluate_now(&inventory()));
    let checks = &report.summary.checks;
    assert_eq!(checks.len(), CheckId::ALL.len());
    let fail = checks.get(&CheckId::ConsoleUserWithoutMfa).expect("every check is summarised");
    assert_eq!(
        (fail.status.as_str(), fail.findings, fail.exempted, fail.reason.as_deref()),
        ("fail", 2, 0, None)
    );
    let pass = checks.get(&CheckId::PasswordPolicyWeak).expect("every check is summarised");
    assert_eq!((pass.status.as_str(), pass.findings, pass.reason.as_deref()), ("pass", 0, None));

    // Scoped run: account checks are skipped, with the reason.
    let ev = evaluate(
        &inventory(),
        &AuditPolicy::default(),
        &UserScope::Only(BTreeSet::from(["carol".to_string()])),
        now(),
    );
    let report = build(ev);
    let skipped = report.summary.checks.get(&CheckId::RootMfaDisabled).expect("summarised");
    assert_eq!(skipped.status, "skipped");
    assert!(skipped.reason.as_deref().is_some_and(|r| !r.is_empty()));
    assert_eq!(report.summary.findings, 0, "carol is clean and root is out of scope");
    assert_eq!(report.summary.worst, None);
}

#[test]
fn failed_credential_report_is_unknown_never_pass() {
    let mut inv = inventory();
    let failure = ReadFailure::new("iam:GetCredentialReport", Some("AccessDenied".into()), "denied");
    inv.credential_report = Err(failure.clone());
    let report = Report::build(run_info(), evaluate_now(&inv), vec![failure.clone()], BTreeMap::new());

    let credential_checks: Vec<CheckId> = CheckId::ALL
        .into_iter()
        .filter(|c| c.meta().reads.contains(&keywarden_core::catalogue::DataSource::CredentialReport))
        .collect();
    assert!(credential_checks.len() >= 8);
    for check in &credential_checks {
        let summary = report.summary.checks.get(check).expect("every check is summarised");
        assert_eq!(summary.status, "unknown", "{check}");
        assert_eq!(summary.findings, 0, "{check}");
        let reason = summary.reason.as_deref().expect("an unknown check says why");
        assert!(reason.contains("iam:GetCredentialReport") && reason.contains("AccessDenied"), "{reason}");
    }
    let unknown: BTreeSet<CheckId> = report.unknown_checks().into_iter().collect();
    assert_eq!(unknown, credential_checks.iter().copied().collect());
    assert_eq!(report.errors, vec![failure]);
    // The account-level checks still ran and still fail.
    assert_eq!(report.summary.checks.get(&CheckId::RootMfaDisabled).map(|c| c.status.as_str()), Some("fail"));

    // Serialised, the status reads `unknown` with its reason.
    let json: serde_json::Value = serde_json::to_value(&report).expect("a report serialises");
    let entry = &json["summary"]["checks"]["access_key_not_rotated"];
    assert_eq!(entry["status"], "unknown");
    assert!(entry["reason"].as_str().is_some_and(|r| r.contains("iam:GetCredentialReport")));
}

#[test]
fn fully_failed_inventory_has_no_passing_check() {
    let failure = ReadFailure::new("iam:GetCredentialReport", None, "connection refused");
    let inv = Inventory {
        account_id: Err(failure.clone()),
        credential_report: Err(failure.clone()),
        authorization: Err(failure.clone()),
        virtual_mfa_devices: Err(failure.clone()),
        account_summary: Err(failure.clone()),
        password_policy: Err(failure),
    };
    let report = build(evaluate_now(&inv));
    assert_eq!(report.summary.findings, 0);
    // Nothing passes: the audit's checks are unknown; the rotation checks did not run and
    // the drift checks have no desired state to judge by.
    for (check, c) in &report.summary.checks {
        let skipped = check.meta().reads.contains(&DataSource::LiveKeys)
            || matches!(check, CheckId::GroupMembershipMissing | CheckId::GroupMembershipUnexpected);
        let want = if skipped { "skipped" } else { "unknown" };
        assert_eq!(c.status, want, "{check}: {c:?}");
    }
    assert_eq!(report.unknown_checks().len(), CheckId::ALL.len() - 4);
}

#[test]
fn exempted_findings_are_listed_but_not_counted() {
    let mut inv = inventory();
    if let Ok(auth) = &mut inv.authorization {
        let alice = auth.users.get_mut("alice").expect("alice is in the inventory");
        alice.tags.insert(EXEMPT_TAG.into(), "all".into());
    }
    let report = build(evaluate_now(&inv));
    let s = &report.summary;
    assert_eq!(s.findings, 4);
    assert_eq!(s.exempted, 2);
    assert_eq!(s.by_severity.get(&Severity::High), Some(&1));
    assert_eq!(s.by_severity.get(&Severity::Medium), Some(&1));
    assert_eq!(s.by_check.get(&CheckId::ConsoleUserWithoutMfa), Some(&1));
    assert_eq!(s.by_check.get(&CheckId::AccessKeyNotRotated), Some(&1));
    let c = s.checks.get(&CheckId::ConsoleUserWithoutMfa).expect("summarised");
    assert_eq!((c.status.as_str(), c.findings, c.exempted), ("fail", 1, 1));
    // Still listed, marked and explained.
    let alice: Vec<&Finding> =
        report.findings.iter().filter(|f| f.user.as_deref() == Some("alice")).collect();
    assert_eq!(alice.len(), 2);
    assert!(alice.iter().all(|f| f.exempted && f.exemption.as_deref() == Some("tag keywarden:exempt=all")));
    assert_eq!(report.findings.len(), 6);
}

#[test]
fn worst_counts_only_open_findings() {
    let mut critical = finding(CheckId::RootMfaDisabled, "root", 0);
    critical.exempted = true;
    critical.exemption = Some("member of exempt group BreakGlass".into());
    let report = build(evaluation_of(vec![critical, finding(CheckId::UserInNoGroup, "bob", 1)]));
    assert_eq!(report.summary.worst, Some(Severity::Medium));
    assert_eq!(report.summary.findings, 1);
    assert_eq!(report.summary.exempted, 1);
    assert_eq!(report.summary.by_severity.get(&Severity::Critical), Some(&0));

    let mut f = finding(CheckId::UserInNoGroup, "bob", 2);
    f.exempted = true;
    assert_eq!(build(evaluation_of(vec![f])).summary.worst, None);
    assert_eq!(build(Evaluation::default()).summary.worst, None);
}

#[test]
fn api_calls_are_listed_and_totalled() {
    let calls = BTreeMap::from([
        ("iam:GenerateCredentialReport".to_string(), 3u64),
        ("iam:GetCredentialReport".to_string(), 1),
        ("iam:GetAccountAuthorizationDetails".to_string(), 5),
    ]);
    let report = Report::build(run_info(), Evaluation::default(), Vec::new(), calls.clone());
    assert_eq!(report.summary.api_calls_total, 9);
    assert_eq!(report.summary.api_calls, calls);
    assert_eq!(build(Evaluation::default()).summary.api_calls_total, 0);
}

#[test]
fn run_facts_and_warnings_are_carried_over() {
    let mut ev = Evaluation::default();
    ev.warnings.push("user x: tag names unknown check".into());
    ev.statuses.insert(CheckId::UserInNoGroup, CheckStatus::Evaluated);
    let report = build(ev);
    assert_eq!(report.schema_version, SCHEMA_VERSION);
    assert_eq!(report.run.run_id, "run-0001");
    assert_eq!(report.run.account_id, ACCOUNT);
    assert_eq!(report.run.action, "audit");
    assert_eq!(report.run.mode, RotationMode::DryRun);
    assert_eq!(report.run.generated_at, now());
    assert_eq!(report.run.data_as_of, Some(now() - Duration::hours(3)));
    assert_eq!(report.warnings, vec!["user x: tag names unknown check".to_string()]);
    let json = serde_json::to_value(&report).expect("a report serialises");
    assert_eq!(json["mode"], "dry-run");
    assert_eq!(json["summary"]["by_severity"]["critical"], 0);
    assert_eq!(json["summary"]["checks"]["user_in_no_group"]["status"], "pass");
    assert!(json["summary"]["checks"]["user_in_no_group"].get("reason").is_none());
}

// ---------------------------------------------------------------------------------------------
// Ordering
// ---------------------------------------------------------------------------------------------

fn assert_worst_first(findings: &[Finding]) {
    for pair in findings.windows(2) {
        assert!(pair[0].severity >= pair[1].severity, "{:?} before {:?}", pair[0], pair[1]);
    }
}

#[test]
fn report_findings_are_sorted_worst_first() {
    let report = build(evaluate_now(&inventory()));
    assert_worst_first(&report.findings);
    assert_eq!(report.findings.first().map(|f| f.check), Some(CheckId::RootMfaDisabled));
    assert_eq!(report.findings.last().map(|f| f.check), Some(CheckId::VirtualMfaUnassigned));

    // Findings handed over in any order come out worst first too.
    let ev = evaluation_of(vec![
        finding(CheckId::UserHasDirectPolicies, "a", 0),
        finding(CheckId::UserInNoGroup, "b", 1),
        finding(CheckId::RootAccessKeyPresent, "c", 2),
        finding(CheckId::ConsoleUserWithoutMfa, "d", 3),
    ]);
    let report = build(ev);
    let order: Vec<Severity> = report.findings.iter().map(|f| f.severity).collect();
    assert_eq!(order, vec![Severity::Critical, Severity::High, Severity::Medium, Severity::Low]);
}

// ---------------------------------------------------------------------------------------------
// Size cap
// ---------------------------------------------------------------------------------------------

/// 40 findings of each of four severities, handed over worst last to make sure the cap
/// does not rely on its input being sorted.
fn big_report() -> Report {
    let mut ev = Evaluation::default();
    let mut n = 0;
    for check in [
        CheckId::UserHasDirectPolicies,
        CheckId::UserInNoGroup,
        CheckId::ConsoleUserWithoutMfa,
        CheckId::RootMfaDisabled,
    ] {
        for i in 0..40 {
            ev.findings.push(finding(check, &format!("user{i:03}"), n));
            n += 1;
        }
        ev.statuses.insert(check, CheckStatus::Evaluated);
    }
    let calls = BTreeMap::from([("iam:GetCredentialReport".to_string(), 2u64)]);
    Report::build(run_info(), ev, Vec::new(), calls)
}

#[test]
fn report_under_the_cap_is_serialised_whole() {
    let mut report = big_report();
    let full = serde_json::to_string(&report).expect("a report serialises");
    let capped = report.to_json_capped(full.len()).expect("a report serialises");
    assert_eq!(capped, full);
    assert_eq!(report.findings_omitted, 0);
    assert_eq!(report.findings.len(), 160);
}

#[test]
fn capped_report_keeps_the_summary_and_the_worst_findings() {
    let original = big_report();
    let full_len = serde_json::to_string(&original).expect("a report serialises").len();
    for cap in [full_len - 1, full_len / 2, full_len / 5, full_len / 10] {
        let mut report = original.clone();
        let json = report.to_json_capped(cap).expect("a report serialises");
        assert!(json.len() <= cap, "cap {cap}: got {} bytes", json.len());

        let back: Report = serde_json::from_str(&json).expect("the capped report is valid JSON");
        assert_eq!(back, report, "cap {cap}: the returned JSON is the report as left");
        assert_eq!(back.summary, original.summary, "cap {cap}: the summary is kept whole");
        assert_eq!(back.summary.findings, 160);

        let kept = back.findings.len();
        assert!(kept > 0 && kept < 160, "cap {cap}: kept {kept}");
        assert_eq!(back.findings_omitted, 160 - kept, "cap {cap}");
        // The kept findings are the first of the (worst-first) full list.
        assert_eq!(back.findings.as_slice(), &original.findings[..kept], "cap {cap}");
        let worst_omitted = original.findings[kept..].iter().map(|f| f.severity).max();
        let least_kept = back.findings.iter().map(|f| f.severity).min();
        assert!(least_kept >= worst_omitted, "cap {cap}: a worse finding was omitted");

        // As many findings as fit: one more would not.
        let mut one_more = back.clone();
        one_more.findings = original.findings[..kept + 1].to_vec();
        one_more.findings_omitted = 160 - kept - 1;
        let longer = serde_json::to_string(&one_more).expect("a report serialises");
        assert!(longer.len() > cap, "cap {cap}: {} findings would have fit", kept + 1);
    }
}

#[test]
fn capped_report_at_a_tenth_keeps_only_critical_findings() {
    let mut report = big_report();
    let full_len = serde_json::to_string(&report).expect("a report serialises").len();
    let json = report.to_json_capped(full_len / 10).expect("a report serialises");
    let value: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
    let findings = value["findings"].as_array().expect("findings is an array");
    assert!(!findings.is_empty());
    assert!(findings.iter().all(|f| f["severity"] == "critical"), "{findings:#?}");
    assert_eq!(value["findings_omitted"].as_u64(), Some(160 - findings.len() as u64));
    assert_eq!(value["summary"]["findings"], 160);
    assert_eq!(value["summary"]["by_severity"]["low"], 40);
}

#[test]
fn cap_below_the_summary_drops_every_finding_and_says_so() {
    let mut report = big_report();
    let json = report.to_json_capped(100).expect("a report serialises");
    let back: Report = serde_json::from_str(&json).expect("valid JSON");
    assert!(back.findings.is_empty());
    assert_eq!(back.findings_omitted, 160);
    assert_eq!(back.summary.findings, 160);
}

// ---------------------------------------------------------------------------------------------
// "Resolved since the last run" only for what this run judged
// ---------------------------------------------------------------------------------------------

fn ids(findings: &[Finding]) -> BTreeSet<String> {
    findings.iter().map(Finding::id).collect()
}

#[test]
fn a_denied_credential_report_resolves_nothing_and_the_next_run_finds_nothing_new() {
    let day1 = build(evaluate_now(&inventory()));
    let mfa: BTreeSet<String> =
        day1.findings.iter().filter(|f| f.check == CheckId::ConsoleUserWithoutMfa).map(Finding::id).collect();
    assert_eq!(mfa.len(), 2, "alice and bob lack MFA on day 1");

    let mut denied = inventory();
    denied.credential_report = Err(ReadFailure::new(
        "iam:GetCredentialReport",
        Some("AccessDenied".into()),
        "not authorized to perform iam:GetCredentialReport",
    ));
    let day2 = build(evaluate_now(&denied));
    let changes = keywarden_core::report::Changes::between(&day1, &day2);
    let resolved = ids(&changes.resolved);
    assert!(resolved.is_disjoint(&mfa), "a check that could not run resolved {resolved:?}");
    assert!(
        mfa.iter().all(|id| changes.unverified.contains(id)),
        "the MFA findings are unverified, not resolved: {:?}",
        changes.unverified
    );
    // The account-level finding was judged on day 2 too (root MFA still missing): ongoing.
    assert!(changes.ongoing >= 1);

    // Day 3 reads the report again: the MFA findings are back, and they are not "new".
    let day3 = build(evaluate_now(&inventory()));
    let changes = keywarden_core::report::Changes::between(&day2, &day3);
    assert!(changes.new.iter().all(|id| !mfa.contains(id)), "new: {:?}", changes.new);
    assert!(mfa.iter().all(|id| changes.unverified.contains(id)), "{:?}", changes.unverified);
    assert!(changes.resolved.is_empty(), "{:?}", changes.resolved);
}

#[test]
fn a_finding_gone_from_a_run_that_judged_it_is_resolved() {
    let day1 = build(evaluate_now(&inventory()));
    let mut fixed = inventory();
    if let Ok(report) = fixed.credential_report.as_mut() {
        report.users[0].mfa_active = true; // alice enabled MFA
    }
    let day2 = build(evaluate_now(&fixed));
    let changes = keywarden_core::report::Changes::between(&day1, &day2);
    let resolved: Vec<(CheckId, Option<&str>)> =
        changes.resolved.iter().map(|f| (f.check, f.user.as_deref())).collect();
    assert_eq!(resolved, [(CheckId::ConsoleUserWithoutMfa, Some("alice"))]);
    assert!(changes.unverified.is_empty(), "{:?}", changes.unverified);
}

#[test]
fn a_key_finding_is_the_same_finding_with_or_without_its_key_id_and_after_renumbering() {
    let mut day1 = build(evaluate_now(&inventory()));
    assert!(day1.findings.iter().any(|f| f.key_slot.is_some()), "the fixture has key findings");
    for f in day1.findings.iter_mut().filter(|f| f.key_slot.is_some()) {
        f.access_key_id = Some(format!("AKIA{}", f.user.as_deref().unwrap_or_default().to_uppercase()));
    }
    // Day 2 made no live read (the default), so the same findings carry no key id; and a
    // rotation elsewhere renumbered every key slot.
    let mut day2 = build(evaluate_now(&inventory()));
    for f in day2.findings.iter_mut().filter(|f| f.key_slot.is_some()) {
        f.key_slot = f.key_slot.map(|s| 3 - s);
    }
    let changes = keywarden_core::report::Changes::between(&day1, &day2);
    assert!(changes.resolved.is_empty() && changes.new.is_empty(), "{changes:?}");
    assert!(changes.unverified.is_empty(), "{changes:?}");
    assert_eq!(changes.ongoing, day1.findings.iter().filter(|f| !f.exempted).count());
    // A key created at another time is another key: its finding is new.
    let mut day3 = day2.clone();
    let key = day3.findings.iter_mut().find(|f| f.key_slot.is_some()).expect("a key finding");
    key.key_created = key.key_created.map(|t| t + chrono::Duration::seconds(1));
    let changes = keywarden_core::report::Changes::between(&day2, &day3);
    assert_eq!((changes.new.len(), changes.resolved.len()), (1, 1), "{changes:?}");
}

#[test]
fn a_user_newer_than_the_credential_report_is_unknown_for_each_credential_check() {
    let mut inv = inventory();
    if let Ok(auth) = inv.authorization.as_mut() {
        let mut erin = auth.users["carol"].clone();
        erin.name = "erin".into();
        erin.arn = arn("erin");
        auth.users.insert("erin".into(), erin);
    }
    let report = build(evaluate_now(&inv));
    let unknown: BTreeSet<CheckId> =
        report.unknown.iter().filter(|u| u.user.as_deref() == Some("erin")).map(|u| u.check).collect();
    let credential_checks: BTreeSet<CheckId> = CheckId::ALL
        .into_iter()
        .filter(|c| {
            c.meta().reads.contains(&DataSource::CredentialReport)
                && c.meta().scope == keywarden_core::catalogue::Scope::User
                && !c.meta().reads.contains(&DataSource::LiveKeys)
        })
        .collect();
    assert_eq!(unknown, credential_checks, "erin is unknown for exactly the credential checks");
    assert!(report.unknown.iter().all(|u| u.reason.contains("not in the credential report")));
    for check in &credential_checks {
        let c = &report.summary.checks[check];
        assert_eq!(c.status, "unknown", "{check} cannot pass while erin was not judged");
        assert!(c.reason.as_deref().is_some_and(|r| r.contains("erin")), "{check}: {:?}", c.reason);
    }
    // Checks that read only the authorization details judged erin, and pass for her.
    assert_eq!(report.summary.checks[&CheckId::UserInNoGroup].status, "pass");
    assert_eq!(report.summary.users_scanned, 4);
}
