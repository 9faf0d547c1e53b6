//! The handler's error paths, one port failure at a time.
//!
//! The in-memory ports of `keywarden_core::mock` are wrapped in the failure injectors of
//! `keywarden_core::failure`, which fail the k-th call of one operation. Each test checks
//! what a user would check in the report: which error is listed (operation and code), what
//! became of each rotation (the action statuses), and what was and was not executed,
//! published and archived.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use keywarden_core::failure::{
    FailingDirectory, FailingNotifier, FailingRotator, FailingStore, Failures, Operation, Section,
};
use keywarden_core::fixtures::{
    self, at, authorization_with_self_service, config, credential_report, now, user, MFA_GROUP,
};
use keywarden_core::mock::{MockDirectory, MockNotifier, MockRotator, MockStore};
use keywarden_core::model::{AccessKeyMeta, LiveDetails};
use keywarden_core::report::ActionStatus;
use keywarden_core::rotation::{LiveKey, LiveUser, Step};
use keywarden_core::{CheckId, Config, Inventory, ReadFailure, Report, RotationMode};
use keywarden_lambda::app::App;
use keywarden_lambda::error::HandlerError;
use serde_json::{json, Value};

// ---- fixtures (after tests/handler.rs) -------------------------------------------------------

/// When every due key of these fixtures was created: 120 days before [`now`].
const DUE_KEY_CREATED: &str = "2026-02-01T12:00:00+00:00";

fn due_key_created() -> DateTime<Utc> {
    at(DUE_KEY_CREATED)
}

fn key_of(user: &str) -> String {
    format!("AKIA{}0000001", user.to_uppercase())
}

fn denied(operation: &str) -> ReadFailure {
    ReadFailure::new(operation, Some("AccessDenied".into()), format!("not authorized to perform {operation}"))
}

/// bob, a compliant API user, and `due`: API users (no console) whose only key is 120 days
/// old and never used, so each is a rotation candidate. With `alice_console`, alice is
/// instead the console user without MFA of tests/handler.rs.
fn inventory_with(due: &[&str], alice_console: bool) -> Inventory {
    let mut rows = Vec::new();
    for user in due {
        let console = alice_console && *user == "alice";
        let (password, password_used, password_changed) = if console {
            ("true", "2026-05-30T00:00:00+00:00", "2026-01-01T00:00:00+00:00")
        } else {
            ("false", "not_supported", "N/A")
        };
        rows.push(format!(
            "{user},arn:aws:iam::123456789012:user/{user},2026-01-01T00:00:00+00:00,{password},{password_used},{password_changed},N/A,false,true,{DUE_KEY_CREATED},N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A"
        ));
    }
    rows.push("bob,arn:aws:iam::123456789012:user/bob,2026-05-01T00:00:00+00:00,false,not_supported,N/A,N/A,true,true,2026-05-20T00:00:00+00:00,2026-05-31T00:00:00+00:00,us-east-1,s3,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A".into());
    // The MFA-enforcing group with the canonical policy, so the control checks pass.
    let auth = authorization_with_self_service(
        due.iter().copied().chain(["bob"]).map(|name| user(name, &[MFA_GROUP])),
    );
    fixtures::inventory(credential_report(rows), auth)
}

/// The audit fixture of tests/handler.rs: alice (console without MFA, an old unused key), bob.
fn audit_inventory() -> Inventory {
    inventory_with(&["alice"], true)
}

/// What `ListAccessKeys` says of the due users' keys.
fn live(due: &[&str]) -> LiveDetails {
    let mut live = LiveDetails::default();
    for user in due {
        live.access_keys.insert(
            user.to_string(),
            Ok(vec![AccessKeyMeta { access_key_id: key_of(user), active: true, created: due_key_created() }]),
        );
    }
    live
}

/// A due user as the rotator reads them: one active, never-used key of 120 days, no record.
fn live_user(user: &str) -> LiveUser {
    LiveUser {
        user: user.into(),
        arn: format!("arn:aws:iam::123456789012:user/{user}"),
        keys: vec![LiveKey { id: key_of(user), active: true, created: due_key_created(), last_used: None }],
        tags: BTreeMap::new(),
        secret: Default::default(),
    }
}

type Failing = App<
    FailingDirectory<MockDirectory>,
    FailingRotator<MockRotator>,
    FailingNotifier<MockNotifier>,
    FailingStore<MockStore>,
>;

/// Which optional ports an app has.
#[derive(Clone, Copy)]
struct Ports {
    store: bool,
    notifier: bool,
}

const BOTH: Ports = Ports { store: true, notifier: true };

fn wrap(
    config: Config,
    directory: MockDirectory,
    rotator: MockRotator,
    plan: &Failures,
    ports: Ports,
) -> Failing {
    App {
        config,
        directory: FailingDirectory::new(directory, plan.clone()),
        rotator: FailingRotator::new(rotator, plan.clone()),
        store: ports.store.then(|| FailingStore::new(MockStore::default(), plan.clone())),
        notifier: ports.notifier.then(|| FailingNotifier::new(MockNotifier::default(), plan.clone())),
        sink: None,
    }
}

/// An auditing app (rotation off) over the audit fixture.
fn audit_app(plan: &Failures, ports: Ports) -> Failing {
    audit_app_with(&[], plan, ports)
}

fn audit_app_with(vars: &[(&str, &str)], plan: &Failures, ports: Ports) -> Failing {
    let directory = MockDirectory::new(audit_inventory(), live(&["alice"]));
    let vars: Vec<(&str, &str)> =
        [("ROTATION_MODE", "off")].into_iter().chain(vars.iter().copied()).collect();
    wrap(config(&vars), directory, MockRotator::default(), plan, ports)
}

/// An enforcing app whose `due` users all have a key to rotate.
fn enforce_app(due: &[&str], plan: &Failures, ports: Ports) -> Failing {
    let directory = MockDirectory::new(inventory_with(due, false), live(due));
    let rotator = MockRotator::new(due.iter().map(|u| live_user(u)));
    wrap(config(&[("ROTATION_MODE", "enforce")]), directory, rotator, plan, ports)
}

async fn invoke_with(
    app: &Failing,
    event: Value,
    remaining: &(dyn Fn() -> Option<Duration> + Sync),
) -> Result<Report, HandlerError> {
    let raw = app.handle(event, "req-1", now(), remaining).await?;
    Ok(serde_json::from_str(raw.get()).expect("the response is a report"))
}

async fn invoke(app: &Failing, event: Value) -> Result<Report, HandlerError> {
    invoke_with(app, event, &|| None).await
}

fn scheduled() -> Value {
    serde_json::from_str(include_str!("../../../events/scheduled.json")).expect("fixture")
}

fn audit_and_notify() -> Value {
    json!({"action": "audit", "notify": true})
}

fn error<'a>(report: &'a Report, operation: &str) -> &'a ReadFailure {
    report
        .errors
        .iter()
        .find(|e| e.operation == operation)
        .unwrap_or_else(|| panic!("no {operation} error in {:?}", report.errors))
}

fn published(app: &Failing) -> Vec<Report> {
    app.notifier.as_ref().expect("notifier").inner().published()
}

fn rotation_events(app: &Failing) -> Vec<keywarden_core::report::RotationAction> {
    app.notifier.as_ref().expect("notifier").inner().rotation_events()
}

fn saved(app: &Failing) -> Vec<Report> {
    app.store.as_ref().expect("store").inner().saved()
}

fn pages(app: &Failing) -> Vec<(String, String)> {
    app.store.as_ref().expect("store").inner().saved_pages()
}

fn executed_users(app: &Failing) -> Vec<String> {
    app.rotator.inner().executed().into_iter().map(|(user, _)| user).collect()
}

fn action<'a>(report: &'a Report, user: &str) -> &'a keywarden_core::report::RotationAction {
    report
        .actions
        .iter()
        .find(|a| a.user == user)
        .unwrap_or_else(|| panic!("no action for {user} in {:?}", report.actions))
}

// ---- the inventory -----------------------------------------------------------------------------

#[tokio::test]
async fn each_inventory_section_failing_alone_is_reported_and_the_run_goes_on() {
    for section in Section::ALL {
        let failure = denied(section.operation());
        let plan = Failures::new().fail_sections(1, [section], failure.clone());
        let app = audit_app(&plan, BOTH);
        let report = invoke(&app, audit_and_notify())
            .await
            .unwrap_or_else(|e| panic!("{section:?}: the run failed as a whole: {e}"));

        assert_eq!(report.errors, vec![failure], "{section:?}: only the section's own error");
        assert_eq!(plan.injected(Operation::Collect), 1, "{section:?}");
        // The sections that were read still count: the password policy check runs on its own
        // section and the missing policy is still a finding, unless that section failed.
        let policy = &report.summary.checks[&CheckId::PasswordPolicyWeak].status;
        if section == Section::PasswordPolicy {
            assert_eq!(policy, "unknown", "{section:?}");
            assert!(report.findings.iter().all(|f| f.check != CheckId::PasswordPolicyWeak));
        } else {
            assert_eq!(policy, "fail", "{section:?}");
        }
        match section {
            Section::AccountId => assert_eq!(report.run.account_id, "unknown"),
            _ => assert_eq!(report.run.account_id, "123456789012", "{section:?}"),
        }
        match section {
            Section::CredentialReport => {
                assert_eq!(report.run.data_as_of, None);
                assert_eq!(report.summary.checks[&CheckId::ConsoleUserWithoutMfa].status, "unknown");
            }
            _ => assert_eq!(report.run.data_as_of, Some(now()), "{section:?}"),
        }

        // The digest still goes out and carries the error.
        let digests = published(&app);
        assert_eq!(digests.len(), 1, "{section:?}");
        assert_eq!(digests[0].errors, report.errors, "{section:?}");
        // The report is archived under its account; with the account unknown it cannot be.
        let archived = saved(&app);
        if section == Section::AccountId {
            assert!(archived.is_empty() && report.archive.is_none(), "{section:?}");
        } else {
            assert_eq!(archived.len(), 1, "{section:?}");
            assert!(report.archive.is_some(), "{section:?}");
        }
    }
}

#[tokio::test]
async fn every_inventory_section_failing_still_returns_a_report_listing_each() {
    let failure = ReadFailure::new("mock:Collect", None, "connection refused");
    let plan = Failures::new().fail(Operation::Collect, 1, failure.clone());
    let app = audit_app(&plan, BOTH);
    let report = invoke(&app, audit_and_notify()).await.expect("a report, not a failed invocation");
    assert_eq!(report.errors, vec![failure; Section::ALL.len()]);
    assert_eq!(report.run.account_id, "unknown");
    assert!(report.findings.is_empty(), "nothing read means unknown, never clean: {:?}", report.findings);
    assert!(report.summary.checks.values().all(|c| c.status != "pass"), "{:?}", report.summary.checks);
    assert_eq!(published(&app).len(), 1, "the digest says the audit could not be done");
}

#[tokio::test]
async fn the_default_audit_makes_no_per_user_read() {
    let plan = Failures::new();
    let app = audit_app(&plan, Ports { store: false, notifier: false });
    let report = invoke(&app, json!({"action": "audit"})).await.expect("report");
    assert!(report.findings.iter().any(|f| f.key_slot.is_some()), "alice has key findings");
    assert_eq!(plan.calls(Operation::LiveDetails), 0, "no live read without LIVE_CONFIRMATION");
    assert!(report.findings.iter().all(|f| f.access_key_id.is_none()), "{:?}", report.findings);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
}

#[tokio::test]
async fn a_live_details_failure_is_reported_and_the_findings_stay() {
    let failure = ReadFailure::new("iam:ListAccessKeys", Some("Throttling".into()), "Rate exceeded");
    let plan = Failures::new().fail(Operation::LiveDetails, 1, failure.clone());
    let app =
        audit_app_with(&[("LIVE_CONFIRMATION", "true")], &plan, Ports { store: false, notifier: false });
    let report = invoke(&app, json!({"action": "audit"})).await.expect("report");

    assert_eq!(plan.calls(Operation::LiveDetails), 1);
    assert!(app.directory.inner().live_requests().is_empty(), "the failing read never reached IAM");
    assert_eq!(error(&report, "iam:ListAccessKeys").code.as_deref(), Some("Throttling"));
    assert_eq!(report.errors, vec![failure], "one error per user whose keys could not be read");
    let key_findings: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.user.as_deref() == Some("alice") && f.key_slot.is_some())
        .collect();
    assert!(!key_findings.is_empty(), "the findings come from the credential report");
    assert!(key_findings.iter().all(|f| f.access_key_id.is_none()), "no key id was learnt: {key_findings:?}");
}

// ---- rotation ----------------------------------------------------------------------------------

#[tokio::test]
async fn a_read_failure_skips_that_user_and_the_other_is_still_rotated() {
    // Candidates are visited in name order: the first read is alice's.
    let failure = ReadFailure::new("iam:ListAccessKeys", Some("Throttling".into()), "Rate exceeded");
    let plan = Failures::new().fail(Operation::Read, 1, failure);
    let app = enforce_app(&["alice", "carol"], &plan, BOTH);
    let report = invoke(&app, scheduled()).await.expect("report");

    assert_eq!(report.run.mode, RotationMode::Enforce);
    assert_eq!(plan.calls(Operation::Read), 2);
    assert_eq!(error(&report, "iam:ListAccessKeys").code.as_deref(), Some("Throttling"));
    assert_eq!(
        app.rotator.inner().executed(),
        vec![("carol".to_string(), Step::Create { old: key_of("carol") })]
    );
    assert!(report.actions.iter().all(|a| a.user != "alice" || a.status != ActionStatus::Done));
    assert_eq!(app.rotator.inner().user("alice"), Some(live_user("alice")), "alice's keys untouched");
    let carol = action(&report, "carol");
    assert_eq!((carol.step.as_str(), carol.status), ("create", ActionStatus::Done));
    // alice's unread rotation is a failed action of its own, alerted like any failure.
    let alice = action(&report, "alice");
    assert_eq!(alice.status, ActionStatus::Failed);
    assert!(alice.error.as_deref().is_some_and(|e| e.contains("Rate exceeded")), "{alice:?}");
    let events = rotation_events(&app);
    assert_eq!(events.iter().map(|a| a.user.as_str()).collect::<Vec<_>>(), ["alice", "carol"]);
    // Whether alice's rotation is blocked or held is not known: never a pass.
    for check in [CheckId::RotationBlocked, CheckId::RotationHeldKeyInUse] {
        let summary = &report.summary.checks[&check];
        assert_eq!(summary.status, "unknown", "{check:?}: {summary:?}");
        assert!(summary.reason.as_deref().is_some_and(|r| r.contains("alice")), "{summary:?}");
    }
}

#[tokio::test]
async fn a_read_failure_names_the_user_whose_rotation_was_skipped() {
    // What IAM sends on throttling: nothing in it names the user.
    let failure = ReadFailure::new("iam:ListAccessKeys", Some("Throttling".into()), "Rate exceeded");
    let plan = Failures::new().fail(Operation::Read, 1, failure);
    let app = enforce_app(&["alice", "carol"], &plan, BOTH);
    let report = invoke(&app, scheduled()).await.expect("report");

    let as_action = report.actions.iter().any(|a| a.user == "alice" && a.status == ActionStatus::Failed);
    let in_error = report.errors.iter().any(|e| e.message.contains("alice"));
    assert!(
        as_action || in_error,
        "alice was due and was not rotated, but the report does not say so: actions {:?}, errors {:?}",
        report.actions,
        report.errors
    );
}

#[tokio::test]
async fn a_failed_step_is_a_failed_action_an_error_and_a_rotation_alert() {
    let failure = ReadFailure::new(
        "iam:CreateAccessKey",
        Some("LimitExceeded".into()),
        "Cannot exceed quota for AccessKeysPerUser: 2",
    );
    let plan = Failures::new().fail(Operation::Execute, 1, failure.clone());
    let app = enforce_app(&["alice"], &plan, BOTH);
    let report = invoke(&app, scheduled()).await.expect("report");

    let alice = action(&report, "alice");
    assert_eq!((alice.step.as_str(), alice.status), ("create", ActionStatus::Failed));
    assert_eq!(alice.error.as_deref(), Some(failure.to_string().as_str()));
    assert_eq!(alice.old_key_id.as_deref(), Some(key_of("alice").as_str()));
    assert_eq!(alice.new_key_id, None, "no key was created");
    assert_eq!(error(&report, "iam:CreateAccessKey"), &failure);
    assert!(app.rotator.inner().executed().is_empty());
    assert_eq!(app.rotator.inner().user("alice"), Some(live_user("alice")));

    let events = rotation_events(&app);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!((events[0].user.as_str(), events[0].status), ("alice", ActionStatus::Failed));
    assert_eq!(events[0].error, alice.error);
    let digests = published(&app);
    assert_eq!(digests.len(), 1);
    assert_eq!(digests[0].actions[0].status, ActionStatus::Failed);
}

#[tokio::test]
async fn a_step_failing_from_the_second_user_on_fails_each_later_user_on_their_own() {
    let failure = ReadFailure::new("iam:CreateAccessKey", None, "dispatch failure: connection reset");
    let plan = Failures::new().fail_from(Operation::Execute, 2, failure.clone());
    let app = enforce_app(&["alice", "carol", "dave"], &plan, Ports { store: false, notifier: true });
    let report = invoke(&app, scheduled()).await.expect("report");

    assert_eq!(plan.calls(Operation::Execute), 3, "a failed step does not stop the others being tried");
    assert_eq!(executed_users(&app), ["alice"]);
    let statuses: Vec<_> = report.actions.iter().map(|a| (a.user.as_str(), a.status)).collect();
    assert_eq!(
        statuses,
        [("alice", ActionStatus::Done), ("carol", ActionStatus::Failed), ("dave", ActionStatus::Failed)]
    );
    assert_eq!(report.errors, vec![failure.clone(), failure]);
    let alerted: Vec<_> = rotation_events(&app).into_iter().map(|a| (a.user, a.status)).collect();
    assert_eq!(
        alerted,
        [
            ("alice".to_string(), ActionStatus::Done),
            ("carol".to_string(), ActionStatus::Failed),
            ("dave".to_string(), ActionStatus::Failed)
        ]
    );
}

#[tokio::test]
async fn unreadable_group_memberships_in_enforce_mode_change_no_key() {
    let failure = denied(Section::Authorization.operation());
    let plan = Failures::new().fail_sections(1, [Section::Authorization], failure.clone());
    let app = enforce_app(&["alice", "carol"], &plan, BOTH);
    let report = invoke(&app, scheduled()).await.expect("report");

    assert_eq!(error(&report, "iam:GetAccountAuthorizationDetails"), &failure);
    assert_eq!(plan.calls(Operation::Execute), 0);
    assert!(app.rotator.inner().executed().is_empty(), "exemptions unknown: nothing may change");
    assert!(
        report.warnings.iter().any(|w| w.contains("exemptions are unknown")),
        "the report says why: {:?}",
        report.warnings
    );
    let statuses: Vec<_> = report.actions.iter().map(|a| (a.user.as_str(), a.status)).collect();
    assert_eq!(statuses, [("alice", ActionStatus::Planned), ("carol", ActionStatus::Planned)]);
    assert!(rotation_events(&app).is_empty(), "a plan is not an alert");
}

#[tokio::test]
async fn users_left_when_the_deadline_nears_are_deferred_and_untouched() {
    let asked = AtomicUsize::new(0);
    let remaining = || {
        if asked.fetch_add(1, Ordering::SeqCst) == 0 {
            Some(Duration::from_secs(600))
        } else {
            Some(Duration::from_secs(1))
        }
    };
    let plan = Failures::new();
    let app = enforce_app(&["alice", "carol", "dave"], &plan, BOTH);
    let report = invoke_with(&app, scheduled(), &remaining).await.expect("report");

    assert_eq!(asked.load(Ordering::SeqCst), 3, "asked once per user");
    assert_eq!(
        app.rotator.inner().executed(),
        vec![("alice".to_string(), Step::Create { old: key_of("alice") })]
    );
    assert_eq!(plan.calls(Operation::Read), 1, "deferred users are not even read");
    assert_eq!(action(&report, "alice").status, ActionStatus::Done);
    for user in ["carol", "dave"] {
        let a = action(&report, user);
        assert_eq!(a.status, ActionStatus::Deferred, "{user}");
        assert!(a.reason.contains("DEADLINE_MARGIN_SECONDS"), "{user}: {}", a.reason);
        assert!(a.error.is_none() && a.new_key_id.is_none(), "{user}: {a:?}");
        assert_eq!(app.rotator.inner().user(user), Some(live_user(user)), "{user} untouched");
    }
    assert!(report.errors.is_empty(), "a deferral is not an error: {:?}", report.errors);
    let alerted: Vec<_> = rotation_events(&app).into_iter().map(|a| a.user).collect();
    assert_eq!(alerted, ["alice"], "deferrals go in the digest only");
    let blocked = &report.summary.checks[&CheckId::RotationBlocked];
    assert_eq!(blocked.status, "unknown", "the deferred users were not judged: {blocked:?}");
    assert!(
        blocked.reason.as_deref().is_some_and(|r| r.contains("carol") && r.contains("dave")),
        "{blocked:?}"
    );
}

/// Without the credential report, users due for their first rotation cannot be found: the
/// rotation checks say so instead of passing.
#[tokio::test]
async fn without_the_credential_report_the_rotation_checks_are_unknown() {
    let failure = denied(Section::CredentialReport.operation());
    let plan = Failures::new().fail_sections(1, [Section::CredentialReport], failure);
    let app = enforce_app(&["alice"], &plan, BOTH);
    let report = invoke(&app, scheduled()).await.expect("report");
    assert!(app.rotator.inner().executed().is_empty(), "no candidate is known, nothing is rotated");
    for check in [CheckId::RotationBlocked, CheckId::RotationHeldKeyInUse] {
        let summary = &report.summary.checks[&check];
        assert_eq!(summary.status, "unknown", "{check:?}: {summary:?}");
        assert!(summary.reason.as_deref().is_some_and(|r| r.contains("credential report")), "{summary:?}");
    }
}

// ---- the archive -------------------------------------------------------------------------------

#[tokio::test]
async fn an_unreadable_previous_report_is_an_error_and_the_run_is_still_archived() {
    // The first run archives a report; reading it back on the second run fails.
    let failure = denied("s3:GetObject");
    let plan = Failures::new().fail(Operation::Previous, 2, failure.clone());
    let app = audit_app(&plan, BOTH);
    let first = invoke(&app, audit_and_notify()).await.expect("first run");
    assert!(first.errors.is_empty(), "{:?}", first.errors);

    let second = invoke(&app, audit_and_notify()).await.expect("second run");
    assert_eq!(second.errors, vec![failure.clone()]);
    assert_eq!(second.changes, None, "nothing to compare with, though a previous report exists");
    assert!(second.archive.is_some());
    let archived = saved(&app);
    assert_eq!(archived.len(), 2, "the second run is archived all the same");
    assert_eq!(archived[1].errors, vec![failure.clone()], "the evidence records the failure");
    let digests = published(&app);
    assert_eq!(digests.len(), 2);
    assert_eq!(digests[1].errors, vec![failure]);
}

#[tokio::test]
async fn a_failed_archive_is_an_error_and_the_digest_still_goes_out() {
    let failure = denied("s3:PutObject");
    let plan = Failures::new().fail(Operation::Save, 1, failure.clone());
    let app = audit_app(&plan, BOTH);
    let report = invoke(&app, audit_and_notify()).await.expect("report");

    assert_eq!(report.errors, vec![failure.clone()]);
    assert_eq!(report.archive, None);
    assert!(saved(&app).is_empty());
    let digests = published(&app);
    assert_eq!(digests.len(), 1, "the digest is published though the archive failed");
    assert_eq!(digests[0].errors, vec![failure], "and says the archive failed");
    assert_eq!(digests[0].archive, None);
    assert!(pages(&app).is_empty(), "no page of a report that is not archived");
    assert_eq!(digests[0].page, None);
}

#[tokio::test]
async fn every_archived_run_has_its_page_and_the_second_draws_the_first() {
    let app = audit_app(&Failures::new(), BOTH);
    let first = invoke(&app, audit_and_notify()).await.expect("first run");
    // The next day's run, so the trend has two points in time.
    let tomorrow = now() + chrono::Duration::days(1);
    let raw = app.handle(audit_and_notify(), "req-2", tomorrow, &|| None).await.expect("second run");
    let second: Report = serde_json::from_str(raw.get()).expect("the response is a report");
    let pages = pages(&app);
    assert_eq!(
        pages.iter().map(|(run, _)| run.as_str()).collect::<Vec<_>>(),
        vec![first.run.run_id.as_str(), second.run.run_id.as_str()],
        "one page per archived run"
    );
    assert!(first.page.is_some() && second.page.is_some());
    let dots = |page: &str| page.matches("<circle class=\"point\"").count();
    assert_eq!((dots(&pages[0].1), dots(&pages[1].1)), (5, 10), "the second page's trend has both runs");
    assert_eq!(published(&app)[1].page, second.page, "the digest names the page");
}

#[tokio::test]
async fn a_failed_page_is_an_error_and_the_report_stays_archived() {
    let failure = denied("s3:PutObject");
    let plan = Failures::new().fail(Operation::SavePage, 1, failure.clone());
    let app = audit_app(&plan, BOTH);
    let report = invoke(&app, audit_and_notify()).await.expect("report");

    assert_eq!(report.errors, vec![failure.clone()], "the missing page is said, not hidden");
    assert!(report.archive.is_some(), "the report itself is archived");
    assert_eq!(report.page, None);
    assert_eq!(saved(&app).len(), 1);
    assert!(pages(&app).is_empty());
    let digests = published(&app);
    assert_eq!(digests.len(), 1, "the digest goes out");
    assert_eq!((digests[0].errors.clone(), digests[0].page.clone()), (vec![failure], None));
}

// ---- the topic ---------------------------------------------------------------------------------

#[tokio::test]
async fn a_failed_digest_is_an_sns_publish_error_and_the_report_is_kept() {
    let failure =
        ReadFailure::new("sns:Publish", Some("AuthorizationError".into()), "not allowed to publish");
    let plan = Failures::new().fail(Operation::Publish, 1, failure);
    let app = audit_app(&plan, BOTH);
    let report = invoke(&app, audit_and_notify()).await.expect("report despite the failure");

    let e = error(&report, "sns:Publish");
    assert_eq!(e.code.as_deref(), Some("AuthorizationError"));
    assert_eq!(e.message, "not allowed to publish");
    assert_eq!(report.errors.len(), 1);
    assert!(published(&app).is_empty());
    assert!(!report.findings.is_empty(), "the audit itself is intact");
    assert_eq!(saved(&app).len(), 1, "archived before the digest was tried");
}

#[tokio::test]
async fn a_failed_rotation_alert_is_an_error_and_the_digest_was_published() {
    let failure = ReadFailure::new("sns:Publish", Some("Throttled".into()), "Rate exceeded");
    let plan = Failures::new().fail(Operation::PublishRotation, 1, failure);
    let app = enforce_app(&["alice"], &plan, BOTH);
    let report = invoke(&app, scheduled()).await.expect("report");

    assert_eq!(action(&report, "alice").status, ActionStatus::Done, "the rotation itself happened");
    assert_eq!(executed_users(&app), ["alice"]);
    assert_eq!(plan.calls(Operation::PublishRotation), 1);
    assert!(rotation_events(&app).is_empty());
    assert_eq!(error(&report, "sns:Publish").code.as_deref(), Some("Throttled"));
    assert_eq!(report.errors.len(), 1);
    let digests = published(&app);
    assert_eq!(digests.len(), 1, "the digest went out before the alert failed");
    assert_eq!(digests[0].actions.len(), 1);
    assert_eq!(digests[0].actions[0].status, ActionStatus::Done);
}
