//! The invocation flow against in-memory ports: what the handler does with each kind of
//! event, with read failures, with notification failures and with bad requests.

use keywarden_core::fixtures::{
    self, at, authorization_with_self_service, config, credential_report, now, user, MFA_GROUP,
};
use keywarden_core::mock::{MockDirectory, MockNotifier, MockRotator, MockStore};
use keywarden_core::model::{AccessKeyMeta, LiveDetails};
use keywarden_core::ports::NotifyError;
use keywarden_core::{CheckId, Inventory, ReadFailure, Report, RotationMode};
use keywarden_lambda::app::App;
use keywarden_lambda::error::HandlerError;
use serde_json::{json, Value};

/// alice: console user without MFA and a 120-day-old never-used key; bob: compliant API user.
fn inventory() -> Inventory {
    let report = credential_report([
        "alice,arn:aws:iam::123456789012:user/alice,2026-01-01T00:00:00+00:00,true,2026-05-30T00:00:00+00:00,2026-01-01T00:00:00+00:00,N/A,false,true,2026-02-01T12:00:00+00:00,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A",
        "bob,arn:aws:iam::123456789012:user/bob,2026-05-01T00:00:00+00:00,false,not_supported,N/A,N/A,true,true,2026-05-20T00:00:00+00:00,2026-05-31T00:00:00+00:00,us-east-1,s3,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A",
    ]);
    // The MFA-enforcing group with the canonical policy, so the control checks pass.
    let auth = authorization_with_self_service(["alice", "bob"].map(|name| user(name, &[MFA_GROUP])));
    fixtures::inventory(report, auth)
}

fn live() -> LiveDetails {
    let created = at("2026-02-01T12:00:00Z");
    let mut live = LiveDetails::default();
    live.access_keys.insert(
        "alice".into(),
        Ok(vec![AccessKeyMeta { access_key_id: "AKIAALICE0000001".into(), active: true, created }]),
    );
    live
}

fn app(notifier: Option<MockNotifier>) -> App<MockDirectory, MockRotator, MockNotifier, MockStore> {
    App {
        config: config(&[]),
        directory: MockDirectory::new(inventory(), live()),
        rotator: MockRotator::default(),
        store: None,
        notifier,
        sink: None,
    }
}

async fn invoke(
    app: &App<MockDirectory, MockRotator, MockNotifier, MockStore>,
    event: Value,
) -> Result<Report, HandlerError> {
    let raw = app.handle(event, "req-1", now(), &|| None).await?;
    Ok(serde_json::from_str(raw.get()).expect("the response is a report"))
}

fn scheduled() -> Value {
    serde_json::from_str(include_str!("../../../events/scheduled.json")).expect("fixture")
}

fn keys(report: &Report) -> Vec<(CheckId, Option<String>, Option<u8>)> {
    report.findings.iter().map(|f| (f.check, f.user.clone(), f.key_slot)).collect()
}

#[tokio::test]
async fn on_demand_audit_reports_findings_without_a_per_user_read_and_does_not_notify() {
    let app = app(Some(MockNotifier::default()));
    let report = invoke(&app, json!({"action": "audit", "notify": false})).await.expect("report");
    assert_eq!(report.run.run_id, "req-1");
    assert_eq!(report.run.account_id, "123456789012");
    assert_eq!(report.run.data_as_of, Some(now()));
    let mut got = keys(&report);
    got.sort();
    let mut want = vec![
        (CheckId::ConsoleUserWithoutMfa, Some("alice".to_string()), None),
        (CheckId::AccessKeyNotRotated, Some("alice".to_string()), Some(1)),
        (CheckId::AccessKeyUnused, Some("alice".to_string()), Some(1)),
        (CheckId::PasswordPolicyWeak, None, None),
    ];
    want.sort();
    assert_eq!(got, want);
    for f in report.findings.iter().filter(|f| f.key_slot.is_some()) {
        assert_eq!(f.access_key_id, None, "no live read, no key id: {f:?}");
        assert!(f.key_created.is_some(), "the key is named by its creation time: {f:?}");
    }
    assert!(report.errors.is_empty());
    assert!(app.notifier.as_ref().expect("notifier").published().is_empty(), "notify:false must not publish");
    assert!(app.directory.live_requests().is_empty(), "the audit alone reads nothing per user");
}

#[tokio::test]
async fn live_confirmation_reads_key_ids_for_the_users_with_key_findings() {
    let mut app = app(None);
    app.config = config(&[("LIVE_CONFIRMATION", "true")]);
    let report = invoke(&app, json!({"action": "audit"})).await.expect("report");
    let key_findings: Vec<_> = report.findings.iter().filter(|f| f.key_slot.is_some()).collect();
    assert_eq!(key_findings.len(), 2, "{:?}", report.findings);
    for f in key_findings {
        assert_eq!(f.access_key_id.as_deref(), Some("AKIAALICE0000001"));
    }
    // Key ids are read live only for the user with key findings.
    let reqs = app.directory.live_requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].access_keys_for.iter().collect::<Vec<_>>(), ["alice"]);
}

#[tokio::test]
async fn scheduled_run_publishes_one_summary() {
    let app = app(Some(MockNotifier::default()));
    let report = invoke(&app, scheduled()).await.expect("report");
    let published = app.notifier.as_ref().expect("notifier").published();
    assert_eq!(published.len(), 1);
    assert_eq!(published[0].summary, report.summary);
}

#[tokio::test]
async fn scheduled_run_without_topic_warns_that_nobody_was_alerted() {
    let app = app(None);
    let report = invoke(&app, scheduled()).await.expect("report");
    assert!(report.warnings.iter().any(|w| w.contains("TOPIC_ARN")), "{:?}", report.warnings);
}

#[tokio::test]
async fn notify_without_topic_is_refused_before_reading_anything() {
    let app = app(None);
    let err = invoke(&app, json!({"action": "audit", "notify": true})).await.expect_err("no topic");
    assert!(err.to_string().contains("TOPIC_ARN"), "{err}");
    assert_eq!(app.directory.collects(), 0);
}

#[tokio::test]
async fn malformed_events_are_refused_before_reading_anything() {
    let app = app(None);
    for event in [
        json!({"action": "audit", "userz": ["alice"]}),
        json!("audit"),
        json!({"action": "rotate", "dry_run": false}),
    ] {
        let err = invoke(&app, event.clone()).await.expect_err("refused");
        assert!(matches!(err, HandlerError::BadRequest(_)), "{event}: {err}");
    }
    assert_eq!(app.directory.collects(), 0);
}

#[tokio::test]
async fn unknown_users_are_an_error_naming_them() {
    let app = app(None);
    let err =
        invoke(&app, json!({"action": "audit", "users": ["alice", "mallory"]})).await.expect_err("unknown");
    assert!(matches!(&err, HandlerError::UnknownUsers(u) if u == &["mallory".to_string()]), "{err}");
    assert!(err.to_string().contains("mallory"));
}

#[tokio::test]
async fn scoped_run_reports_only_the_named_users() {
    let app = app(None);
    let report = invoke(&app, json!({"action": "audit", "users": ["bob"]})).await.expect("report");
    assert!(report.findings.is_empty(), "{:?}", report.findings);
    assert_eq!(report.summary.users_scanned, 1);
    assert_eq!(report.summary.checks[&CheckId::PasswordPolicyWeak].status, "skipped");
}

#[tokio::test]
async fn a_publish_failure_is_reported_and_keeps_the_audit() {
    let app = app(Some(MockNotifier::failing(NotifyError {
        code: Some("AuthorizationError".into()),
        message: "not allowed to publish".into(),
    })));
    let report =
        invoke(&app, json!({"action": "audit", "notify": true})).await.expect("report despite failure");
    assert!(!report.findings.is_empty());
    let e = report.errors.iter().find(|e| e.operation == "sns:Publish").expect("publish error in report");
    assert_eq!(e.code.as_deref(), Some("AuthorizationError"));
}

#[tokio::test]
async fn read_failures_become_errors_and_unknown_checks() {
    let mut inv = inventory();
    inv.credential_report =
        Err(ReadFailure::new("iam:GetCredentialReport", Some("AccessDenied".into()), "denied"));
    let app: App<MockDirectory, MockRotator, MockNotifier, MockStore> = App {
        config: config(&[]),
        directory: MockDirectory::new(inv, live()),
        rotator: MockRotator::default(),
        store: None,
        notifier: None,
        sink: None,
    };
    let report = invoke(&app, json!({"action": "audit"})).await.expect("report");
    assert_eq!(report.errors.len(), 1);
    assert_eq!(report.errors[0].code.as_deref(), Some("AccessDenied"));
    assert_eq!(report.run.data_as_of, None);
    for check in [CheckId::ConsoleUserWithoutMfa, CheckId::AccessKeyNotRotated, CheckId::AccessKeyUnused] {
        assert_eq!(report.summary.checks[&check].status, "unknown", "{check}");
    }
    assert!(report.findings.iter().all(|f| f.check == CheckId::PasswordPolicyWeak));
}

#[tokio::test]
async fn api_calls_are_counted_per_invocation() {
    let app = app(None);
    let first = invoke(&app, json!({"action": "audit"})).await.expect("first");
    let second = invoke(&app, json!({"action": "audit"})).await.expect("second");
    assert_eq!(first.summary.api_calls, second.summary.api_calls);
    assert_eq!(second.summary.api_calls.get("mock:Collect"), Some(&1));
}

#[tokio::test]
async fn exempt_group_from_config_marks_findings_exempted() {
    let app: App<MockDirectory, MockRotator, MockNotifier, MockStore> = App {
        config: config(&[("EXEMPT_GROUPS", "SelfEdit")]),
        directory: MockDirectory::new(inventory(), live()),
        rotator: MockRotator::default(),
        store: None,
        notifier: None,
        sink: None,
    };
    let report = invoke(&app, json!({"action": "audit"})).await.expect("report");
    let alice: Vec<_> = report.findings.iter().filter(|f| f.user.as_deref() == Some("alice")).collect();
    assert!(!alice.is_empty());
    assert!(alice
        .iter()
        .all(|f| f.exempted && f.exemption.as_deref() == Some("member of exempt group SelfEdit")));
    assert_eq!(report.summary.findings, 1, "only the account-level finding stays open");
}

// ---- rotation --------------------------------------------------------------------------

use keywarden_core::report::ActionStatus;
use keywarden_core::rotation::{LiveKey, LiveUser, RotationState, Step, ROTATION_TAG};

const ALICE_KEY: &str = "AKIAALICE0000001";

fn live_alice(extra_tags: &[(&str, &str)]) -> LiveUser {
    let created = at("2026-02-01T12:00:00Z");
    LiveUser {
        user: "alice".into(),
        arn: "arn:aws:iam::123456789012:user/alice".into(),
        keys: vec![LiveKey { id: ALICE_KEY.into(), active: true, created, last_used: None }],
        tags: extra_tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        secret: Default::default(),
    }
}

fn rotating_app(
    vars: &[(&str, &str)],
    users: Vec<LiveUser>,
    notifier: Option<MockNotifier>,
) -> App<MockDirectory, MockRotator, MockNotifier, MockStore> {
    App {
        config: config(vars),
        directory: MockDirectory::new(inventory(), live()),
        rotator: MockRotator::new(users),
        store: None,
        notifier,
        sink: None,
    }
}

#[tokio::test]
async fn scheduled_enforce_run_rotates_due_keys_and_announces_it() {
    let app =
        rotating_app(&[("ROTATION_MODE", "enforce")], vec![live_alice(&[])], Some(MockNotifier::default()));
    let report = invoke(&app, scheduled()).await.expect("report");
    assert_eq!(report.run.mode, RotationMode::Enforce);
    assert_eq!(report.actions.len(), 1, "{:?}", report.actions);
    let a = &report.actions[0];
    assert_eq!((a.user.as_str(), a.step.as_str(), a.status), ("alice", "create", ActionStatus::Done));
    assert_eq!(a.old_key_id.as_deref(), Some(ALICE_KEY));
    assert!(a.new_key_id.is_some() && a.secret_arn.is_some());
    assert_eq!(app.rotator.executed(), vec![("alice".to_string(), Step::Create { old: ALICE_KEY.into() })]);
    let alice = app.rotator.user("alice").expect("alice");
    assert_eq!(alice.keys.iter().filter(|k| k.active).count(), 2, "both keys work during grace");
    let events = app.notifier.as_ref().expect("notifier").rotation_events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].step, "create");
    assert_eq!(report.summary.checks[&CheckId::RotationBlocked].status, "pass");
}

#[tokio::test]
async fn dry_run_plans_and_changes_nothing() {
    let app = rotating_app(&[], vec![live_alice(&[])], None);
    let report = invoke(&app, scheduled()).await.expect("report");
    assert_eq!(report.run.mode, RotationMode::DryRun);
    assert_eq!(report.actions[0].status, ActionStatus::Planned);
    assert_eq!(report.actions[0].step, "create");
    assert!(app.rotator.executed().is_empty());
    assert_eq!(app.rotator.user("alice"), Some(live_alice(&[])));
}

#[tokio::test]
async fn audits_do_not_rotate() {
    let app = rotating_app(&[("ROTATION_MODE", "enforce")], vec![live_alice(&[])], None);
    let report = invoke(&app, json!({"action": "audit"})).await.expect("report");
    assert_eq!(report.run.mode, RotationMode::Off);
    assert!(report.actions.is_empty());
    assert!(app.rotator.executed().is_empty());
}

#[tokio::test]
async fn on_demand_rotation_is_a_dry_run_unless_enforce_allows_it() {
    let app = rotating_app(&[], vec![live_alice(&[])], None);
    let report = invoke(&app, json!({"action": "rotate", "users": ["alice"]})).await.expect("dry run");
    assert_eq!(report.actions[0].status, ActionStatus::Planned);
    let err = invoke(&app, json!({"action": "rotate", "users": ["alice"], "dry_run": false}))
        .await
        .expect_err("dry-run config");
    assert!(err.to_string().contains("ROTATION_MODE=enforce"), "{err}");
    assert_eq!(app.directory.collects(), 1, "the refused request read nothing");

    let off = rotating_app(&[("ROTATION_MODE", "off")], vec![live_alice(&[])], None);
    assert!(invoke(&off, json!({"action": "rotate"})).await.is_err());

    let enforce = rotating_app(&[("ROTATION_MODE", "enforce")], vec![live_alice(&[])], None);
    let report = invoke(&enforce, json!({"action": "rotate", "users": ["alice"], "dry_run": false}))
        .await
        .expect("enforced");
    assert_eq!(report.actions[0].status, ActionStatus::Done);
}

#[tokio::test]
async fn exempt_users_are_never_rotated() {
    let app =
        rotating_app(&[("ROTATION_MODE", "enforce")], vec![live_alice(&[("keywarden:exempt", "all")])], None);
    let report = invoke(&app, scheduled()).await.expect("report");
    assert!(report.actions.is_empty(), "{:?}", report.actions);
    assert!(app.rotator.executed().is_empty());
}

#[tokio::test]
async fn two_keys_without_a_record_are_blocked_and_untouched() {
    let mut alice = live_alice(&[]);
    let mut second = alice.keys[0].clone();
    second.id = "AKIAALICE0000002".into();
    alice.keys.push(second);
    let app = rotating_app(&[("ROTATION_MODE", "enforce")], vec![alice.clone()], None);
    let report = invoke(&app, scheduled()).await.expect("report");
    assert_eq!(report.actions[0].step, "blocked");
    assert_eq!(report.actions[0].status, ActionStatus::Noted);
    assert!(report
        .findings
        .iter()
        .any(|f| f.check == CheckId::RotationBlocked && f.user.as_deref() == Some("alice")));
    assert!(app.rotator.executed().is_empty());
    assert_eq!(app.rotator.user("alice"), Some(alice));
}

#[tokio::test]
async fn an_old_key_in_use_at_the_end_of_grace_is_held_with_a_high_finding() {
    let grace_start = now() - chrono::Duration::days(8);
    let mut alice = live_alice(&[]);
    alice.keys[0].last_used = Some(now() - chrono::Duration::hours(1));
    alice.keys.push(LiveKey {
        id: "AKIANEW000000001".into(),
        active: true,
        created: grace_start,
        last_used: None,
    });
    alice.tags.insert(
        ROTATION_TAG.into(),
        RotationState::Grace { old: ALICE_KEY.into(), new: "AKIANEW000000001".into(), at: grace_start }
            .to_tag(),
    );
    let app = rotating_app(&[("ROTATION_MODE", "enforce")], vec![alice], Some(MockNotifier::default()));
    let report = invoke(&app, scheduled()).await.expect("report");
    let held: Vec<_> = report.findings.iter().filter(|f| f.check == CheckId::RotationHeldKeyInUse).collect();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].severity, keywarden_core::Severity::High);
    let alice = app.rotator.user("alice").expect("alice");
    assert!(alice.keys.iter().all(|k| k.active), "a key in use is never deactivated");
    assert!(alice.tags[ROTATION_TAG].contains("hold"));
    assert_eq!(app.notifier.as_ref().expect("notifier").rotation_events()[0].step, "hold");
}

#[tokio::test]
async fn a_failed_step_is_reported_and_alerted() {
    let mut app =
        rotating_app(&[("ROTATION_MODE", "enforce")], vec![live_alice(&[])], Some(MockNotifier::default()));
    app.rotator.fail_steps = vec!["create"];
    let report = invoke(&app, scheduled()).await.expect("report");
    assert_eq!(report.actions[0].status, ActionStatus::Failed);
    assert!(report.actions[0].error.as_deref().is_some_and(|e| e.contains("InjectedFailure")));
    assert!(report.errors.iter().any(|e| e.code.as_deref() == Some("InjectedFailure")));
    assert_eq!(app.notifier.as_ref().expect("notifier").rotation_events().len(), 1);
}

#[tokio::test]
async fn unknown_group_memberships_downgrade_enforce_to_a_plan() {
    let mut inv = inventory();
    inv.authorization =
        Err(ReadFailure::new("iam:GetAccountAuthorizationDetails", Some("AccessDenied".into()), "no"));
    let app: App<MockDirectory, MockRotator, MockNotifier, MockStore> = App {
        config: config(&[("ROTATION_MODE", "enforce")]),
        directory: MockDirectory::new(inv, live()),
        rotator: MockRotator::new(vec![live_alice(&[])]),
        store: None,
        notifier: None,
        sink: None,
    };
    let report = invoke(&app, scheduled()).await.expect("report");
    assert_eq!(report.actions[0].status, ActionStatus::Planned);
    assert!(app.rotator.executed().is_empty());
    assert!(report.warnings.iter().any(|w| w.contains("exemptions are unknown")));
}

// ---- evidence and digests -----------------------------------------------------------------

#[tokio::test]
async fn the_second_run_reports_what_is_new_and_what_was_resolved() {
    let first = App {
        config: config(&[]),
        directory: MockDirectory::new(inventory(), live()),
        rotator: MockRotator::default(),
        store: Some(MockStore::default()),
        notifier: Some(MockNotifier::default()),
        sink: None,
    };
    let r1 = invoke(&first, scheduled()).await.expect("first run");
    assert_eq!(r1.changes, None, "nothing to compare with yet");
    assert!(r1.archive.as_deref().is_some_and(|a| a.ends_with("/req-1.json")));

    // alice enrols MFA (a finding fixed) and a virtual MFA device is left unassigned (a new one).
    let mut inv = inventory();
    if let Ok(report) = &mut inv.credential_report {
        report.users[0].mfa_active = true;
    }
    inv.virtual_mfa_devices = Ok(vec![keywarden_core::model::VirtualMfaDevice {
        serial_number: "arn:aws:iam::123456789012:mfa/orphan".into(),
        user: None,
        enable_date: None,
    }]);
    let second = App {
        config: config(&[]),
        directory: MockDirectory::new(inv, live()),
        rotator: MockRotator::default(),
        store: first.store,
        notifier: Some(MockNotifier::default()),
        sink: None,
    };
    let r2 = invoke(&second, scheduled()).await.expect("second run");
    let changes = r2.changes.expect("compared with the first run");
    assert_eq!(changes.previous_run_id, "req-1");
    assert_eq!(changes.new, vec!["virtual_mfa_unassigned:arn:aws:iam::123456789012:mfa/orphan".to_string()]);
    assert_eq!(changes.resolved.len(), 1);
    assert_eq!(changes.resolved[0].check, CheckId::ConsoleUserWithoutMfa);
    assert_eq!(changes.ongoing, 3);
    let published = second.notifier.as_ref().expect("notifier").published();
    assert_eq!(published[0].changes.as_ref().map(|c| c.new.len()), Some(1), "the digest carries the changes");
}

#[tokio::test]
async fn scoped_runs_are_not_archived() {
    let app = App {
        config: config(&[]),
        directory: MockDirectory::new(inventory(), live()),
        rotator: MockRotator::default(),
        store: Some(MockStore::default()),
        notifier: None::<MockNotifier>,
        sink: None,
    };
    invoke(&app, json!({"action": "audit", "users": ["bob"]})).await.expect("report");
    assert!(app.store.as_ref().expect("store").saved().is_empty());
}

fn clean_inventory() -> Inventory {
    let mut inv = inventory();
    inv.credential_report = Ok(credential_report::<&str>([]));
    inv.password_policy =
        Ok(Some(keywarden_core::model::PasswordPolicy::meeting(&config(&[]).audit.password)));
    inv
}

#[tokio::test]
async fn a_clean_scheduled_run_sends_a_heartbeat_unless_told_not_to() {
    for (setting, expected) in [("true", 1), ("false", 0)] {
        let app = App {
            config: config(&[("NOTIFY_CLEAN_RUNS", setting)]),
            directory: MockDirectory::new(clean_inventory(), LiveDetails::default()),
            rotator: MockRotator::default(),
            store: None::<MockStore>,
            notifier: Some(MockNotifier::default()),
            sink: None,
        };
        let report = invoke(&app, scheduled()).await.expect("report");
        assert_eq!(report.summary.findings, 0, "{:?}", report.findings);
        assert_eq!(
            app.notifier.as_ref().expect("notifier").published().len(),
            expected,
            "NOTIFY_CLEAN_RUNS={setting}"
        );
    }
}
