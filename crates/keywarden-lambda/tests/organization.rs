//! An organization run against in-memory ports: every selected account once, one failure
//! kept to its account, the deadline respected, and the fan-out's three steps giving the
//! same consolidated report as one invocation.

use std::collections::BTreeMap;
use std::time::Duration;

use keywarden_core::fixtures::{
    self, authorization_with_self_service, config, credential_report, now, user, MFA_GROUP,
};
use keywarden_core::mock::{MockMember, MockNotifier, MockOrganization, MockStore};
use keywarden_core::organization::{AccountStatus, MemberAccount, OrgReport};
use keywarden_core::{CheckId, Inventory, ReadFailure};
use keywarden_lambda::app::OrgApp;
use keywarden_lambda::error::HandlerError;
use serde_json::{json, Value};

type App = OrgApp<MockOrganization, MockNotifier, MockStore>;

const IDS: [&str; 3] = ["111111111111", "222222222222", "333333333333"];

/// One console user without MFA in each account, named after the account.
fn inventory(account: &str) -> Inventory {
    let name = format!("dev-{}", &account[..3]);
    let report = credential_report([format!(
        "{name},arn:aws:iam::{account}:user/{name},2026-01-01T00:00:00+00:00,true,2026-05-30T00:00:00+00:00,2026-01-01T00:00:00+00:00,N/A,false,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A"
    )]);
    let auth = authorization_with_self_service([user(&name, &[MFA_GROUP])]);
    let mut inventory = fixtures::inventory(report, auth);
    inventory.account_id = Ok(account.to_string());
    inventory
}

fn accounts() -> Vec<MemberAccount> {
    let mut all: Vec<MemberAccount> = IDS
        .iter()
        .map(|id| MemberAccount {
            id: id.to_string(),
            name: format!("acct-{}", &id[..1]),
            active: true,
            ..Default::default()
        })
        .collect();
    all.push(MemberAccount {
        id: "444444444444".into(),
        name: "closed".into(),
        active: false,
        ..Default::default()
    });
    all
}

fn organization(denied: Option<&str>) -> MockOrganization {
    let members: BTreeMap<String, MockMember> = IDS
        .iter()
        .map(|id| {
            let member = if Some(*id) == denied {
                Err(ReadFailure::new(
                    "sts:AssumeRole",
                    Some("AccessDenied".into()),
                    "not authorized to perform sts:AssumeRole",
                ))
            } else {
                Ok((inventory(id), Vec::new()))
            };
            (id.to_string(), member)
        })
        .collect();
    MockOrganization::new(accounts(), members)
}

fn app(vars: &[(&str, &str)], denied: Option<&str>) -> App {
    let mut all = vec![("ORGANIZATION", "true")];
    all.extend_from_slice(vars);
    OrgApp {
        config: config(&all),
        organization: organization(denied),
        store: Some(MockStore::default()),
        notifier: Some(MockNotifier::default()),
    }
}

async fn invoke(app: &App, event: Value, run_id: &str) -> Result<Value, HandlerError> {
    let raw = app.handle(event, run_id, now(), &|| None).await?;
    Ok(serde_json::from_str(raw.get()).expect("the response is JSON"))
}

fn scheduled() -> Value {
    serde_json::from_str(include_str!("../../../events/scheduled.json")).expect("fixture")
}

fn report(v: Value) -> OrgReport {
    serde_json::from_value(v).expect("an organization report")
}

#[tokio::test]
async fn each_account_is_audited_under_its_own_id_and_a_denied_one_is_its_own_failure() {
    let app = app(&[], Some("222222222222"));
    let r = report(invoke(&app, scheduled(), "run-1").await.expect("report"));
    let statuses: Vec<(&str, AccountStatus)> =
        r.accounts.iter().map(|a| (a.account.id.as_str(), a.status())).collect();
    assert_eq!(
        statuses,
        [
            ("111111111111", AccountStatus::Audited),
            ("222222222222", AccountStatus::Failed),
            ("333333333333", AccountStatus::Audited)
        ],
        "the inactive account is not selected; the denied one is kept, failed"
    );
    for entry in r.accounts.iter().filter(|a| a.status() == AccountStatus::Audited) {
        let report = entry.report().expect("audited");
        assert_eq!(report.run.account_id, entry.account.id);
        assert_eq!(report.run.run_id, "run-1");
        let users: Vec<_> = report
            .findings
            .iter()
            .filter(|f| f.check == CheckId::ConsoleUserWithoutMfa)
            .map(|f| f.resource.clone())
            .collect();
        assert_eq!(users, [format!("arn:aws:iam::{}:user/dev-{}", entry.account.id, &entry.account.id[..3])]);
    }
    let failed = r.accounts.iter().find(|a| a.status() == AccountStatus::Failed).map(|a| a.result.clone());
    let text = serde_json::to_string(&failed).unwrap_or_default();
    assert!(text.contains("AccessDenied") && text.contains("sts:AssumeRole"), "{text}");
    assert_eq!((r.summary.audited, r.summary.failed, r.summary.accounts), (2, 1, 3));
    // One digest for the organization, none per account; the consolidated report archived.
    let notifier = app.notifier.as_ref().expect("notifier");
    assert_eq!(notifier.published_organizations().len(), 1);
    assert!(notifier.published().is_empty(), "no per-account digest in an organization run");
    let store = app.store.as_ref().expect("store");
    assert_eq!(store.saved_organizations().len(), 1);
    assert_eq!(store.saved().len(), 2, "each audited account's report is archived as a single account's is");
    assert!(r.archive.is_some());
}

#[tokio::test]
async fn concurrency_one_and_eight_give_the_same_report() {
    let one = invoke(&app(&[("ACCOUNT_CONCURRENCY", "1")], Some("333333333333")), scheduled(), "run-1")
        .await
        .expect("report");
    let eight = invoke(&app(&[("ACCOUNT_CONCURRENCY", "8")], Some("333333333333")), scheduled(), "run-1")
        .await
        .expect("report");
    assert_eq!(one, eight);
}

#[tokio::test]
async fn accounts_not_reached_before_the_deadline_are_not_audited_and_not_entered() {
    let app = app(&[], None);
    // 60 s left: less than DEADLINE_MARGIN_SECONDS + CREDENTIAL_REPORT_MAX_WAIT_SECONDS.
    let raw =
        app.handle(scheduled(), "run-1", now(), &|| Some(Duration::from_secs(60))).await.expect("report");
    let r: OrgReport = serde_json::from_str(raw.get()).expect("report");
    assert_eq!(r.summary.not_audited, 3);
    assert!(app.organization.connects().is_empty(), "no account was entered");
    let text = org_digest_text(&app);
    assert!(text.contains("not_audited") || text.contains("not audited"), "{text}");
}

fn org_digest_text(app: &App) -> String {
    let published = app.notifier.as_ref().map(|n| n.published_organizations()).unwrap_or_default();
    serde_json::to_string(&published).unwrap_or_default()
}

#[tokio::test]
async fn the_fan_out_gives_the_same_report_as_one_invocation() {
    let in_process = invoke(&app(&[], Some("222222222222")), scheduled(), "run-1").await.expect("report");

    let fanned = app(&[], Some("222222222222"));
    let items = invoke(&fanned, json!({"action": "list-accounts"}), "run-1").await.expect("listing");
    assert_eq!(items["run_id"], "run-1");
    let accounts = items["accounts"].as_array().cloned().unwrap_or_default();
    assert_eq!(accounts.len(), 3);
    for account in accounts {
        // As the Distributed Map's ItemSelector builds each item.
        let item = json!({"action": "audit-account", "run_id": items["run_id"], "account": account});
        let out =
            invoke(&fanned, item, "item-request").await.expect("an account's failure is not the item's");
        assert!(out["stored"].as_str().is_some_and(|s| s.contains("run-1")), "{out}");
    }
    let aggregated = invoke(&fanned, json!({"action": "aggregate", "run_id": "run-1"}), "agg-request")
        .await
        .expect("report");
    assert_eq!(aggregated, in_process, "same accounts, same reports, same summary");
    assert_eq!(fanned.notifier.as_ref().map(|n| n.published_organizations().len()), Some(1));
}

#[tokio::test]
async fn an_item_that_left_no_result_is_not_audited_in_the_aggregate() {
    let app = app(&[], None);
    invoke(&app, json!({"action": "list-accounts"}), "run-2").await.expect("listing");
    let item = json!({"action": "audit-account", "run_id": "run-2", "account": {"id": "111111111111", "name": "acct-1"}});
    invoke(&app, item, "item").await.expect("item");
    let r =
        report(invoke(&app, json!({"action": "aggregate", "run_id": "run-2"}), "agg").await.expect("report"));
    assert_eq!((r.summary.audited, r.summary.not_audited), (1, 2));
    let text = serde_json::to_string(&r.accounts).unwrap_or_default();
    assert!(text.contains("redrive"), "{text}");
}

#[tokio::test]
async fn fan_out_steps_refuse_what_the_listing_does_not_hold() {
    let app = app(&[], None);
    let unknown_run = json!({"action": "aggregate", "run_id": "nope"});
    assert!(
        matches!(invoke(&app, unknown_run, "x").await, Err(HandlerError::BadRequest(m)) if m.contains("no listing"))
    );
    invoke(&app, json!({"action": "list-accounts"}), "run-3").await.expect("listing");
    for account in
        [json!({"id": "444444444444", "name": "closed"}), json!({"id": "111111111111", "name": "renamed"})]
    {
        let item = json!({"action": "audit-account", "run_id": "run-3", "account": account});
        let err = invoke(&app, item, "x").await.expect_err("not listed");
        assert!(matches!(&err, HandlerError::BadRequest(m) if m.contains("not in run")), "{err}");
    }
    assert!(app.organization.connects().is_empty(), "nothing was entered");
    let users = json!({"action": "audit", "users": ["alice"]});
    assert!(
        matches!(invoke(&app, users, "x").await, Err(HandlerError::BadRequest(m)) if m.contains("every selected account"))
    );
}

#[tokio::test]
async fn a_failed_listing_is_said_never_an_empty_organization() {
    let mut app = app(&[], None);
    app.organization.accounts =
        Err(ReadFailure::new("organizations:ListAccounts", Some("AccessDeniedException".into()), "denied"));
    let r = report(invoke(&app, scheduled(), "run-4").await.expect("report"));
    assert_eq!(r.summary.accounts, 0);
    assert_eq!(r.errors.len(), 1, "{:?}", r.errors);
    assert_eq!(r.errors[0].code.as_deref(), Some("AccessDeniedException"));
    let listed = invoke(&app, json!({"action": "list-accounts"}), "run-5").await;
    assert!(
        matches!(listed, Err(HandlerError::Read(_))),
        "the state machine stops instead of mapping nothing"
    );
}

#[tokio::test]
async fn only_an_enforce_run_asks_for_the_rotation_role() {
    let dry = app(&[("ROTATION_MODE", "dry-run")], None);
    invoke(&dry, scheduled(), "run-6").await.expect("report");
    assert!(dry.organization.connects().iter().all(|(_, writes)| !writes));
    let enforce = app(&[("ROTATION_MODE", "enforce")], None);
    invoke(&enforce, scheduled(), "run-7").await.expect("report");
    let connects = enforce.organization.connects();
    assert_eq!(connects.len(), 3);
    assert!(connects.iter().all(|(_, writes)| *writes));
}
