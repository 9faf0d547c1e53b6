//! End-to-end tests of key rotation: the real `keywarden` binary (run by `cargo lambda
//! watch`) rotating keys in moto, with the function's clock and moto's moved together by
//! libfaketime (seed at `-100d`, then run at `+0`, `+8d`, `+16d`).
//!
//! Every test asserts what a rotation left in IAM and Secrets Manager (read back through the
//! SDK, the stored key tried with STS), not only what the report says, and ends with the leak
//! scanner: nothing the function wrote (its log, every response, every SNS message) may hold
//! a secret access key.
//!
//! Failures moto cannot produce on cue are made by an intercepting proxy in front of moto for
//! one service (see `keywarden_e2e::proxy`): Secrets Manager refusing `PutSecretValue`, and
//! another actor's `CreateAccessKey` landing between keywarden's read and its own create.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use keywarden_e2e::inspect::{statements, strings, SecretInfo};
use keywarden_e2e::proxy::{Intercept, Proxy};
use keywarden_e2e::report::{actions_for, assert_summary_consistent, findings_for};
use keywarden_e2e::scan::assert_no_secret_leaked;
use keywarden_e2e::seed::AccessKey;
use keywarden_e2e::{closed_port, function_env, Aws, Moto, Watch};
use serde_json::Value;

const ROTATION_TAG: &str = "keywarden:rotation";
const EXEMPT_TAG: &str = "keywarden:exempt";
/// keywarden's own role, the one principal besides the owner a secret's policy lets in.
const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/keywarden";
const EXEMPT_GROUP: &str = "BreakGlass";

const ROTATE_ALICE: &str = "tests/events/rotate-alice.json";
const ROTATE_ALICE_DEFAULT: &str = "tests/events/rotate-alice-default.json";
const SCHEDULED: &str = "events/scheduled.json";

/// moto, the harness's clients, an SNS topic for the function's alerts, and the test's start.
struct Rig {
    moto: Moto,
    aws: Aws,
    topic: String,
    started: Instant,
}

impl Rig {
    async fn start() -> Self {
        let started = Instant::now();
        let moto = Moto::start();
        let aws = Aws::connect(&moto.endpoint()).await;
        let topic = aws.create_topic("keywarden-alerts").await;
        aws.create_group(EXEMPT_GROUP).await;
        Rig { moto, aws, topic, started }
    }

    /// The function's environment: rotation in `mode`, alerts to the topic, keywarden's role.
    fn env(&self, mode: &str) -> BTreeMap<String, String> {
        let mut env = function_env(&self.moto.endpoint());
        for (k, v) in [
            ("ROTATION_MODE", mode),
            ("TOPIC_ARN", self.topic.as_str()),
            ("KEYWARDEN_ROLE_ARN", ROLE_ARN),
            ("EXEMPT_GROUPS", EXEMPT_GROUP),
            ("CREDENTIAL_REPORT_MAX_WAIT_SECONDS", "20"),
        ] {
            env.insert(k.into(), v.into());
        }
        env
    }

    /// A watch whose function runs on moto's clock.
    fn watch(&self, env: &BTreeMap<String, String>) -> Watch {
        Watch::start_in_step(env, &self.moto)
    }

    /// Creates `user` with one key made `days` days ago; the clock is back at `+0` after.
    async fn user_with_key(&self, user: &str, days: u32) -> AccessKey {
        self.moto.set_clock(&format!("-{days}d"));
        self.aws.create_user(user).await;
        let key = self.aws.create_access_key(user).await;
        self.moto.set_clock("+0");
        key
    }

    /// Moves both clocks (moto's and the function's) to `offset` from the real time.
    fn at(&self, offset: &str) {
        self.moto.set_clock(offset);
    }

    /// Invokes and returns the report; fails with both logs when the invocation fails.
    fn run(&self, watch: &Watch, event: &str) -> Value {
        let inv = watch.invoke(Path::new(event));
        assert!(
            inv.success,
            "invoking {event} failed:\n{}\n{}\n{}",
            inv.output(),
            watch.log_tail(),
            self.moto.log_tail()
        );
        let report = inv.json();
        let steps: Vec<String> = report["actions"]
            .as_array()
            .map(|a| a.iter().map(|a| format!("{} {} {}", a["user"], a["step"], a["status"])).collect())
            .unwrap_or_default();
        eprintln!(
            "{event}: {:?}, actions {steps:?}, API calls {}",
            inv.elapsed, report["summary"]["api_calls"]
        );
        assert_summary_consistent(&report);
        report
    }

    /// The rotation events published to SNS so far (one message each, see "Alerts" in `docs/ARCHITECTURE.md`), as
    /// `(user, step)` from their message attributes.
    fn rotation_events(&self) -> Vec<(String, String)> {
        let attr = |m: &Value, name: &str| m[3][name]["Value"].as_str().unwrap_or_default().to_string();
        self.moto
            .sns_messages()
            .iter()
            .filter(|m| attr(m, "event_type") == "rotation")
            .map(|m| (attr(m, "user"), attr(m, "rotation_step")))
            .collect()
    }

    /// The leak scan every test ends with, and the test's wall time.
    async fn finish(&self, watch: &Watch) {
        assert_no_secret_leaked(&self.aws, &self.moto, watch).await;
        eprintln!("test took {:.1?}", self.started.elapsed());
    }
}

/// The one action about `user` in the report.
fn action<'a>(report: &'a Value, user: &str) -> &'a Value {
    let found = actions_for(report, user);
    assert_eq!(found.len(), 1, "expected one action for {user}, got {found:#?}\nreport: {report:#}");
    found[0]
}

/// Asserts the action's step and status (and that it never carries anything secret-shaped).
fn assert_action(report: &Value, user: &str, step: &str, status: &str) -> Value {
    let a = action(report, user).clone();
    assert_eq!(
        (a["step"].as_str(), a["status"].as_str()),
        (Some(step), Some(status)),
        "action of {user}: {a:#}"
    );
    assert!(a["reason"].as_str().is_some_and(|r| !r.is_empty()), "action without a reason: {a}");
    let fields: BTreeSet<&str> =
        a.as_object().map(|o| o.keys().map(String::as_str).collect()).unwrap_or_default();
    assert!(
        fields.iter().all(|f| !f.to_ascii_lowercase().contains("secret") || *f == "secret_arn"),
        "an action has a secret-like field: {fields:?}"
    );
    a
}

/// The user has no rotation action, or only a step that changes nothing.
fn assert_no_write_action(report: &Value, user: &str) {
    for a in actions_for(report, user) {
        let step = a["step"].as_str().unwrap_or_default();
        assert!(matches!(step, "none" | "warn" | "blocked"), "{user} must not be touched: {a:#}");
        assert_ne!(a["status"], "done", "{user} must not be touched: {a:#}");
    }
}

fn errors(report: &Value) -> &Vec<Value> {
    report["errors"].as_array().unwrap_or_else(|| panic!("report has no errors array: {report:#}"))
}

fn assert_no_errors(report: &Value) {
    assert!(errors(report).is_empty(), "errors: {:#}", report["errors"]);
}

/// `keywarden:rotation` parsed: phase and its `old=`, `new=`, `at=` words.
#[derive(Debug)]
struct Record {
    phase: String,
    old: Option<String>,
    new: Option<String>,
    at: DateTime<Utc>,
}

fn record(tags: &BTreeMap<String, String>) -> Option<Record> {
    let value = tags.get(ROTATION_TAG)?;
    let mut words = value.split_whitespace();
    assert_eq!(words.next(), Some("v1"), "rotation tag {value:?}");
    let phase = words.next().unwrap_or_else(|| panic!("rotation tag without a phase: {value:?}")).to_string();
    let mut rec = Record { phase, old: None, new: None, at: DateTime::<Utc>::MIN_UTC };
    for word in words {
        match word.split_once('=') {
            Some(("old", v)) => rec.old = Some(v.into()),
            Some(("new", v)) => rec.new = Some(v.into()),
            Some(("at", v)) => {
                rec.at = NaiveDateTime::parse_from_str(v, "%Y%m%dT%H%M%SZ")
                    .unwrap_or_else(|e| panic!("rotation tag time {v:?}: {e}"))
                    .and_utc();
            }
            _ => panic!("unexpected word {word:?} in rotation tag {value:?}"),
        }
    }
    Some(rec)
}

fn close_to(t: DateTime<Utc>, want: DateTime<Utc>) -> bool {
    (t - want).abs() < Duration::minutes(5)
}

/// `(id, active)` of the user's keys, oldest first.
async fn keys(aws: &Aws, user: &str) -> Vec<(String, bool)> {
    aws.keys(user).await.into_iter().map(|k| (k.id, k.active)).collect()
}

/// Everything about one user a rotation could change: keys (status, creation, last use),
/// tags, and the secret (metadata, policy, and the key id it holds).
async fn user_state(aws: &Aws, user: &str) -> String {
    let mut out = String::new();
    for k in aws.keys(user).await {
        let used = aws
            .iam
            .get_access_key_last_used()
            .access_key_id(&k.id)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GetAccessKeyLastUsed {}: {e}", k.id))
            .access_key_last_used
            .and_then(|u| u.last_used_date);
        let _ = writeln!(out, "key {} active={} created={} used={used:?}", k.id, k.active, k.created);
    }
    let _ = writeln!(out, "tags {:?}", aws.user_tags(user).await);
    let _ = writeln!(out, "secret {:?}", aws.secret_info(user).await);
    let _ = writeln!(out, "stored {:?}", aws.stored_key(user).await.map(|s| s.key.access_key_id));
    out
}

/// The stored secret of `user` holds `key_id`, has exactly keywarden's three fields, carries
/// the key-id tag, and the key in it works: STS takes a request signed with it for the user.
async fn assert_stored_key_works(aws: &Aws, user: &str, key_id: &str) -> SecretInfo {
    let stored = aws.stored_key(user).await.unwrap_or_else(|| panic!("no secret keywarden/{user}"));
    assert_eq!(stored.fields, ["AccessKeyId", "SecretAccessKey", "UserName"], "fields of keywarden/{user}");
    assert_eq!(stored.key.user, user, "UserName in keywarden/{user}");
    assert_eq!(stored.key.access_key_id, key_id, "keywarden/{user} holds the new key");
    let info = aws.secret_info(user).await.unwrap_or_else(|| panic!("DescribeSecret keywarden/{user}"));
    // Which key the secret holds is named by the stored version itself, never by a tag.
    let current: Vec<&String> = info
        .versions
        .iter()
        .filter(|(_, stages)| stages.iter().any(|s| s == "AWSCURRENT"))
        .map(|(v, _)| v)
        .collect();
    assert_eq!(current, [&format!("keywarden-{key_id}-version")], "versions {:?}", info.versions);
    assert_eq!(info.tags.get("keywarden:managed").map(String::as_str), Some("true"), "tags {:?}", info.tags);
    let arn = aws.user_arn(user).await;
    let caller =
        aws.caller_arn(&stored.key).await.unwrap_or_else(|e| panic!("the stored key of {user} fails: {e}"));
    assert_eq!(caller, arn, "GetCallerIdentity signed with the stored key");
    info
}

/// The secret's resource policy lets the owner read it and denies everyone else (but
/// keywarden's role) everything.
async fn assert_owner_only_policy(aws: &Aws, user: &str) {
    let policy =
        aws.secret_policy(user).await.unwrap_or_else(|| panic!("keywarden/{user} has no resource policy"));
    let arn = aws.user_arn(user).await;
    let stmts = statements(&policy);
    let allow = stmts
        .iter()
        .find(|s| s["Effect"] == "Allow")
        .unwrap_or_else(|| panic!("no Allow statement: {policy:#}"));
    assert_eq!(
        strings(&allow["Principal"]["AWS"]),
        [arn.as_str()],
        "the Allow names exactly the user: {policy:#}"
    );
    let allowed = strings(&allow["Action"]);
    assert!(allowed.contains(&"secretsmanager:GetSecretValue".to_string()), "the owner may read: {policy:#}");
    assert!(
        allowed.iter().all(|a| a != "*" && a != "secretsmanager:*"),
        "the owner gets no more than reading"
    );
    let deny = stmts
        .iter()
        .find(|s| s["Effect"] == "Deny")
        .unwrap_or_else(|| panic!("no Deny statement: {policy:#}"));
    let everyone = deny["Principal"] == "*" || strings(&deny["Principal"]["AWS"]) == ["*"];
    assert!(everyone, "the Deny is for every principal: {policy:#}");
    assert_eq!(strings(&deny["Action"]), ["secretsmanager:*"], "the Deny covers every action: {policy:#}");
    let mut except = strings(&deny["Condition"]["StringNotEquals"]["aws:PrincipalArn"]);
    except.sort();
    let mut want = vec![arn, ROLE_ARN.to_string()];
    want.sort();
    assert_eq!(except, want, "the Deny spares only the owner and keywarden: {policy:#}");
}

/// Enforce mode, one user, the whole life of a rotation, driven by on-demand events scoped to
/// alice (bob is due too and must not be touched):
/// +0 a new key, stored and working, both active, grace recorded; +8d the old key inactive;
/// +16d the old key deleted and the record cleared; +17d nothing left to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enforce_rotates_creates_deactivates_then_deletes() {
    let rig = Rig::start().await;
    let aws = &rig.aws;
    let old = rig.user_with_key("alice", 100).await;
    rig.user_with_key("bob", 100).await;
    aws.use_key(&old).await; // used today, at +0: quiet by the end of the grace period
    let watch = rig.watch(&rig.env("enforce"));
    let bob_before = user_state(aws, "bob").await;

    // On demand, `dry_run` defaults to true even in enforce mode: planned, nothing changed.
    let alice_before = user_state(aws, "alice").await;
    let report = rig.run(&watch, ROTATE_ALICE_DEFAULT);
    let a = assert_action(&report, "alice", "create", "planned");
    assert_eq!(a["old_key_id"], old.access_key_id.as_str());
    assert!(a["new_key_id"].is_null() && a["secret_arn"].is_null(), "nothing was created: {a}");
    assert_eq!(user_state(aws, "alice").await, alice_before, "a planned rotation changed alice");

    // ---- run 1, +0: a new key ----------------------------------------------------------
    let report = rig.run(&watch, ROTATE_ALICE);
    assert_no_errors(&report);
    let a = assert_action(&report, "alice", "create", "done");
    assert_eq!(a["old_key_id"], old.access_key_id.as_str());
    let new_id = a["new_key_id"].as_str().unwrap_or_else(|| panic!("no new_key_id: {a}")).to_string();
    assert_ne!(new_id, old.access_key_id);
    assert!(actions_for(&report, "bob").is_empty(), "a run scoped to alice planned for bob: {report:#}");

    assert_eq!(keys(aws, "alice").await, [(old.access_key_id.clone(), true), (new_id.clone(), true)]);
    let info = assert_stored_key_works(aws, "alice", &new_id).await;
    assert_eq!(a["secret_arn"], info.arn.as_str(), "the report names the secret by ARN");
    assert_eq!(info.name, "keywarden/alice");
    assert_owner_only_policy(aws, "alice").await;
    let tags = aws.user_tags("alice").await;
    let rec = record(&tags).unwrap_or_else(|| panic!("no rotation record: {tags:?}"));
    assert_eq!(rec.phase, "grace", "{tags:?}");
    assert_eq!(
        (rec.old.as_deref(), rec.new.as_deref()),
        (Some(old.access_key_id.as_str()), Some(new_id.as_str()))
    );
    assert!(close_to(rec.at, Utc::now()), "the record is dated now: {rec:?}");
    let description =
        tags.get(&new_id).unwrap_or_else(|| panic!("no description tag for the new key: {tags:?}"));
    assert!(
        description.contains("keywarden") && description.contains(&old.access_key_id),
        "the new key's description names the rotation: {description:?}"
    );
    assert_eq!(aws.caller_arn(&old).await.ok(), Some(aws.user_arn("alice").await), "the old key still works");
    assert_eq!(user_state(aws, "bob").await, bob_before, "bob was touched by a run scoped to alice");
    assert_eq!(rig.rotation_events(), [("alice".into(), "create".into())], "the rotation start is announced");

    // ---- +8d: grace over, old key quiet: deactivated ---------------------------------------
    rig.at("+8d");
    let report = rig.run(&watch, ROTATE_ALICE);
    assert_no_errors(&report);
    let a = assert_action(&report, "alice", "deactivate", "done");
    assert_eq!(
        (a["old_key_id"].as_str(), a["new_key_id"].as_str()),
        (Some(old.access_key_id.as_str()), Some(new_id.as_str()))
    );
    assert_eq!(keys(aws, "alice").await, [(old.access_key_id.clone(), false), (new_id.clone(), true)]);
    let rec = record(&aws.user_tags("alice").await).unwrap_or_else(|| panic!("no record at +8d"));
    assert_eq!(rec.phase, "inactive");
    assert!(
        close_to(rec.at, Utc::now() + Duration::days(8)),
        "dated on the function's (faked) clock: {rec:?}"
    );
    // (moto takes requests signed with an inactive key, and would mark it used: the key's
    // status is the proof here, and the test never signs with an inactive key.)
    assert_stored_key_works(aws, "alice", &new_id).await;

    // ---- +16d: inactive period over: deleted, record cleared -------------------------------
    rig.at("+16d");
    let report = rig.run(&watch, ROTATE_ALICE);
    assert_no_errors(&report);
    let a = assert_action(&report, "alice", "delete", "done");
    assert_eq!(a["old_key_id"], old.access_key_id.as_str());
    assert_eq!(keys(aws, "alice").await, [(new_id.clone(), true)], "only the new key is left");
    let tags = aws.user_tags("alice").await;
    assert!(!tags.contains_key(ROTATION_TAG), "the rotation record is cleared: {tags:?}");
    assert!(!tags.contains_key(&old.access_key_id), "no tag about the deleted key: {tags:?}");
    assert_stored_key_works(aws, "alice", &new_id).await;
    assert_owner_only_policy(aws, "alice").await;

    // ---- +17d: nothing left to do ------------------------------------------------------------
    rig.at("+17d");
    let report = rig.run(&watch, ROTATE_ALICE);
    assert_no_errors(&report);
    assert_no_write_action(&report, "alice");
    assert_eq!(keys(aws, "alice").await, [(new_id.clone(), true)]);
    assert_eq!(user_state(aws, "bob").await, bob_before, "bob was touched");
    let steps: Vec<String> = rig.rotation_events().into_iter().map(|(_, step)| step).collect();
    assert_eq!(steps, ["create", "deactivate", "delete"], "one SNS event per step taken");

    rig.at("+0");
    rig.finish(&watch).await;
}

/// Dry-run mode: the scheduled run at +0, +8d and +16d plans a rotation each time (nothing
/// happened, so it is still `create`) and changes nothing in IAM or Secrets Manager; an
/// on-demand rotation that asks for real changes is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_plans_each_step_and_changes_nothing() {
    let rig = Rig::start().await;
    let aws = &rig.aws;
    let old = rig.user_with_key("alice", 100).await;
    let watch = rig.watch(&rig.env("dry-run"));
    let iam_before = aws.snapshot().await;
    let secrets_before = aws.secrets_snapshot().await;

    for offset in ["+0", "+8d", "+16d"] {
        rig.at(offset);
        let report = rig.run(&watch, SCHEDULED);
        assert_no_errors(&report);
        assert_eq!(report["mode"], "dry-run");
        let a = assert_action(&report, "alice", "create", "planned");
        assert_eq!(a["old_key_id"], old.access_key_id.as_str(), "at {offset}");
        assert!(a["new_key_id"].is_null() && a["secret_arn"].is_null(), "at {offset}: {a}");
        assert_eq!(aws.snapshot().await, iam_before, "a dry run changed IAM at {offset}");
        assert_eq!(
            aws.secrets_snapshot().await,
            secrets_before,
            "a dry run changed Secrets Manager at {offset}"
        );
        assert!(
            !findings_for(&report, "access_key_not_rotated", "alice").is_empty(),
            "the old key is still reported"
        );
    }
    rig.at("+0");

    // On demand with the default (dry_run true): planned as well.
    let report = rig.run(&watch, ROTATE_ALICE_DEFAULT);
    assert_action(&report, "alice", "create", "planned");

    // On demand asking for real changes while the mode is dry-run: refused, nothing done.
    let inv = watch.invoke(Path::new(ROTATE_ALICE));
    assert!(!inv.success, "dry_run=false must be refused unless ROTATION_MODE=enforce:\n{}", inv.output());
    let words = inv.output_words();
    assert!(words.contains("enforce"), "the refusal should name the mode it needs:\n{words}");
    assert!(!words.contains("\"actions\""), "a refused event returns no report:\n{words}");

    assert_eq!(aws.snapshot().await, iam_before, "the dry-run account changed");
    assert_eq!(aws.secrets_snapshot().await, secrets_before);
    assert!(aws.secret_names().await.is_empty(), "a dry run stored a secret");
    rig.finish(&watch).await;
}

/// The old key is still used when the grace period ends: both keys stay active, the run
/// holds and raises `rotation_held_key_in_use`; on the first run after it goes quiet (24 h
/// without use) the old key is deactivated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_key_in_use_at_end_of_grace_is_held() {
    let rig = Rig::start().await;
    let aws = &rig.aws;
    let old = rig.user_with_key("alice", 100).await;
    let watch = rig.watch(&rig.env("enforce"));

    let report = rig.run(&watch, SCHEDULED);
    assert_no_errors(&report);
    let new_id = assert_action(&report, "alice", "create", "done")["new_key_id"].as_str().map(String::from);
    let new_id = new_id.unwrap_or_else(|| panic!("no new key: {report:#}"));

    // The workload still signs with the old key an hour before the run at +8d.
    rig.at("+191h");
    aws.use_key(&old).await;
    rig.at("+8d");
    for run in 1..=2 {
        let report = rig.run(&watch, SCHEDULED);
        assert_no_errors(&report);
        // The hold is recorded once; later runs note it without writing.
        let a = assert_action(&report, "alice", "hold", if run == 1 { "done" } else { "noted" });
        assert_eq!(
            (a["old_key_id"].as_str(), a["new_key_id"].as_str()),
            (Some(old.access_key_id.as_str()), Some(new_id.as_str()))
        );
        let held = findings_for(&report, "rotation_held_key_in_use", "alice");
        assert_eq!(held.len(), 1, "run {run}: {:#}", report["findings"]);
        assert_eq!(held[0]["severity"], "high");
        assert!(
            findings_for(&report, "two_active_access_keys", "alice").is_empty(),
            "two keys are the point of a rotation in progress: {:#}",
            report["findings"]
        );
        assert_eq!(keys(aws, "alice").await, [(old.access_key_id.clone(), true), (new_id.clone(), true)]);
        let rec = record(&aws.user_tags("alice").await).unwrap_or_else(|| panic!("no record"));
        assert_eq!(rec.phase, "hold");
        assert_eq!(aws.caller_arn(&old).await.ok(), Some(aws.user_arn("alice").await), "the held key works");
        // The second run is still within 24 h of the use above (that call counts as a use too,
        // at +8d).
    }

    assert!(
        rig.rotation_events().contains(&("alice".into(), "hold".into())),
        "the hold is alerted on its own: {:?}",
        rig.rotation_events()
    );

    // +10d: the old key was last used at +8d, two days ago: deactivated now.
    rig.at("+10d");
    let report = rig.run(&watch, SCHEDULED);
    assert_no_errors(&report);
    assert_action(&report, "alice", "deactivate", "done");
    assert!(
        findings_for(&report, "rotation_held_key_in_use", "alice").is_empty(),
        "{:#}",
        report["findings"]
    );
    assert_eq!(keys(aws, "alice").await, [(old.access_key_id.clone(), false), (new_id.clone(), true)]);
    assert_eq!(record(&aws.user_tags("alice").await).map(|r| r.phase).as_deref(), Some("inactive"));
    assert_stored_key_works(aws, "alice", &new_id).await;

    rig.at("+0");
    rig.finish(&watch).await;
}

/// keywarden deactivated the old key; a human re-activates it: the next run records a human
/// hold (alert) instead of deactivating it again, and 30 daily runs later the key is still
/// active, with the high finding on every run. The human ends the hold by deactivating it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn human_reactivation_is_held_not_fought() {
    let rig = Rig::start().await;
    let aws = &rig.aws;
    let old = rig.user_with_key("alice", 100).await;
    let watch = rig.watch(&rig.env("enforce"));

    let report = rig.run(&watch, SCHEDULED);
    let new_id = assert_action(&report, "alice", "create", "done")["new_key_id"].as_str().map(String::from);
    let new_id = new_id.unwrap_or_else(|| panic!("no new key: {report:#}"));
    rig.at("+8d");
    let report = rig.run(&watch, SCHEDULED);
    assert_action(&report, "alice", "deactivate", "done");
    assert_eq!(keys(aws, "alice").await, [(old.access_key_id.clone(), false), (new_id.clone(), true)]);

    // +9d: a human turns the old key back on (a workload broke).
    rig.at("+9d");
    aws.set_key_status("alice", &old.access_key_id, true).await;
    let report = rig.run(&watch, SCHEDULED);
    assert_no_errors(&report);
    let a = assert_action(&report, "alice", "hold", "done");
    assert_eq!(a["old_key_id"], old.access_key_id.as_str());
    assert_eq!(
        findings_for(&report, "rotation_held_key_in_use", "alice").len(),
        1,
        "{:#}",
        report["findings"]
    );
    assert_eq!(
        keys(aws, "alice").await,
        [(old.access_key_id.clone(), true), (new_id.clone(), true)],
        "not deactivated again"
    );
    assert_eq!(record(&aws.user_tags("alice").await).map(|r| r.phase).as_deref(), Some("human-hold"));

    // 30 daily runs after it, whether the workload uses the key or not: still held, never
    // deactivated again, the high finding on every run.
    for day in 10..40 {
        rig.at(&format!("+{day}d"));
        if day % 3 == 0 {
            aws.use_key(&old).await;
        }
        let report = rig.run(&watch, SCHEDULED);
        assert_no_errors(&report);
        assert_action(&report, "alice", "hold", "noted");
        let held = findings_for(&report, "rotation_held_key_in_use", "alice");
        assert_eq!(held.len(), 1, "day {day}: {:#}", report["findings"]);
        assert_eq!(held[0]["severity"], "high");
        assert_eq!(
            keys(aws, "alice").await,
            [(old.access_key_id.clone(), true), (new_id.clone(), true)],
            "day {day}: the human's key was touched"
        );
    }
    assert_eq!(record(&aws.user_tags("alice").await).map(|r| r.phase).as_deref(), Some("human-hold"));

    // The human ends the hold by deactivating the key: the inactive period starts again,
    // then keywarden deletes it.
    rig.at("+40d");
    aws.set_key_status("alice", &old.access_key_id, false).await;
    let report = rig.run(&watch, SCHEDULED);
    assert_action(&report, "alice", "deactivate", "done");
    rig.at("+48d");
    let report = rig.run(&watch, SCHEDULED);
    assert_action(&report, "alice", "delete", "done");
    assert_eq!(keys(aws, "alice").await, [(new_id.clone(), true)]);

    rig.at("+0");
    rig.finish(&watch).await;
}

/// A scheduled enforce run over an account with a user holding two keys and no keywarden
/// record (blocked: `rotation_blocked`, nothing changed), a user exempt by tag and one exempt
/// by group (untouched), beside a due user who does get rotated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_keys_without_record_are_blocked_and_exempt_users_untouched() {
    let rig = Rig::start().await;
    let aws = &rig.aws;
    rig.user_with_key("alice", 100).await;
    rig.user_with_key("two-keys", 100).await;
    rig.moto.set_clock("-95d");
    aws.create_access_key("two-keys").await;
    rig.moto.set_clock("+0");
    rig.user_with_key("exempt-tag", 100).await;
    aws.tag_user("exempt-tag", EXEMPT_TAG, "all").await;
    rig.user_with_key("exempt-group", 100).await;
    aws.add_to_group("exempt-group", EXEMPT_GROUP).await;
    let watch = rig.watch(&rig.env("enforce"));
    let untouched = ["two-keys", "exempt-tag", "exempt-group"];
    let mut before = BTreeMap::new();
    for user in untouched {
        before.insert(user, user_state(aws, user).await);
    }

    for offset in ["+0", "+8d"] {
        rig.at(offset);
        let report = rig.run(&watch, SCHEDULED);
        assert_no_errors(&report);
        let a = action(&report, "two-keys");
        assert_eq!(a["step"], "blocked", "at {offset}: {a:#}");
        assert_ne!(a["status"], "done");
        let blocked = findings_for(&report, "rotation_blocked", "two-keys");
        assert_eq!(blocked.len(), 1, "at {offset}: {:#}", report["findings"]);
        assert_eq!(blocked[0]["severity"], "medium");
        for user in ["exempt-tag", "exempt-group"] {
            assert_no_write_action(&report, user);
            assert!(findings_for(&report, "rotation_blocked", user).is_empty());
        }
        for user in untouched {
            assert_eq!(user_state(aws, user).await, before[user], "{user} changed at {offset}");
        }
        let want = if offset == "+0" { "create" } else { "deactivate" };
        assert_action(&report, "alice", want, "done");
    }
    let secrets = aws.secret_names().await;
    assert_eq!(secrets, ["keywarden/alice"], "only alice was rotated");

    rig.at("+0");
    rig.finish(&watch).await;
}

/// Two runs at once: another actor's `CreateAccessKey` for the same user lands between
/// keywarden's live read (one key) and its own `CreateAccessKey`, which IAM answers with
/// `LimitExceeded`. keywarden must stop: no key deleted, the other actor's key left alone,
/// and a run right after must not "recover" a key that another run may be storing.
///
/// How the race is made: the function's IAM endpoint is a proxy in front of moto that, on
/// the first `CreateAccessKey` for alice, sends moto the same request twice and relays only
/// the second answer. moto really creates the racer's key and really refuses keywarden's
/// with `LimitExceeded`; the IAM state afterwards is moto's own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_race_stops_without_deleting() {
    let rig = Rig::start().await;
    let aws = &rig.aws;
    let old = rig.user_with_key("alice", 100).await;
    let raced = Arc::new(AtomicBool::new(false));
    let proxy = {
        let raced = raced.clone();
        Proxy::start(rig.moto.port(), move |req| {
            let create_for_alice = req.operation() == "CreateAccessKey"
                && req.form_field("UserName").as_deref() == Some("alice");
            if create_for_alice && !raced.swap(true, Ordering::SeqCst) {
                Intercept::RaceWithCopy
            } else {
                Intercept::Forward
            }
        })
    };
    let mut env = rig.env("enforce");
    env.insert("AWS_ENDPOINT_URL_IAM".into(), proxy.endpoint());
    let watch = rig.watch(&env);

    let report = rig.run(&watch, ROTATE_ALICE);
    assert!(raced.load(Ordering::SeqCst), "keywarden never called CreateAccessKey: {:?}", proxy.seen());
    let a = assert_action(&report, "alice", "create", "failed");
    let error = format!("{} {}", a["error"], report["errors"]);
    assert!(error.contains("LimitExceeded"), "the report should say the create lost a race: {a:#}\n{error}");
    assert!(a["new_key_id"].is_null(), "{a}");

    let now_keys = keys(aws, "alice").await;
    assert_eq!(now_keys.len(), 2, "the racer's key and the old one: {now_keys:?}");
    assert_eq!(now_keys[0], (old.access_key_id.clone(), true), "the old key is untouched");
    assert!(now_keys[1].1, "the racer's key is untouched");
    let issued: BTreeSet<String> =
        rig.moto.issued_keys().into_iter().filter(|(u, _, _)| u == "alice").map(|(_, id, _)| id).collect();
    let existing: BTreeSet<String> = now_keys.iter().map(|(id, _)| id.clone()).collect();
    assert_eq!(issued, existing, "no key of alice was deleted");
    assert!(aws.stored_key("alice").await.is_none(), "keywarden stored a key it does not have");
    assert!(!proxy.seen().iter().any(|op| op.starts_with("DeleteAccessKey")), "{:?}", proxy.seen());
    assert_eq!(aws.caller_arn(&old).await.ok(), Some(aws.user_arn("alice").await), "the old key works");

    // A run moments later must leave the other run's key alone (it may be storing it now).
    let state = user_state(aws, "alice").await;
    let report = rig.run(&watch, ROTATE_ALICE);
    assert_no_write_action(&report, "alice");
    assert_eq!(keys(aws, "alice").await, now_keys, "a run right after the race touched the keys");
    let after = user_state(aws, "alice").await;
    assert_eq!(after.lines().filter(|l| l.starts_with("key ")).count(), 2);
    assert_eq!(
        state.lines().filter(|l| !l.starts_with("key ")).collect::<Vec<_>>(),
        after.lines().filter(|l| !l.starts_with("key ")).collect::<Vec<_>>(),
        "tags or secret changed on the run after the race"
    );

    rig.finish(&watch).await;
    drop(proxy);
}

/// Secrets Manager unreachable (its endpoint alone points at a closed port): the run leaves
/// alice with exactly her old, working key and no rotation record, and reports the error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_manager_unreachable_leaves_the_old_key() {
    let rig = Rig::start().await;
    let aws = &rig.aws;
    let old = rig.user_with_key("alice", 100).await;
    let mut env = rig.env("enforce");
    env.insert("AWS_ENDPOINT_URL_SECRETS_MANAGER".into(), format!("http://127.0.0.1:{}", closed_port()));
    let watch = rig.watch(&env);

    let report = rig.run(&watch, ROTATE_ALICE);
    let mentioned = format!("{} {}", report["actions"], report["errors"]);
    assert!(
        mentioned.contains("secretsmanager"),
        "the report should name the failed Secrets Manager call: actions {:#} errors {:#}",
        report["actions"],
        report["errors"]
    );
    for a in actions_for(&report, "alice") {
        assert_ne!(a["status"], "done", "nothing can be done without Secrets Manager: {a:#}");
    }
    assert_eq!(keys(aws, "alice").await, [(old.access_key_id.clone(), true)], "exactly the old key");
    assert_eq!(aws.caller_arn(&old).await.ok(), Some(aws.user_arn("alice").await), "and it works");
    let tags = aws.user_tags("alice").await;
    assert!(tags.is_empty(), "no rotation record or key tag left behind: {tags:?}");
    assert!(aws.secret_names().await.is_empty());
    let made: Vec<String> =
        rig.moto.issued_keys().into_iter().filter(|(u, _, _)| u == "alice").map(|(_, id, _)| id).collect();
    eprintln!("keys issued to alice during the run: {}", made.len() - 1);

    rig.finish(&watch).await;
}

/// Storing the secret fails after the new key was created (Secrets Manager refuses
/// `PutSecretValue`, through the proxy): the new key is deleted at once, alice keeps her old
/// key, the record is removed, and the error is reported. The next run rotates cleanly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_secret_write_deletes_the_new_key() {
    let rig = Rig::start().await;
    let aws = &rig.aws;
    let old = rig.user_with_key("alice", 100).await;
    let refuse = Arc::new(AtomicBool::new(true));
    let proxy = {
        let refuse = refuse.clone();
        Proxy::start(rig.moto.port(), move |req| {
            if req.operation() == "PutSecretValue" && refuse.load(Ordering::SeqCst) {
                Intercept::ServiceError {
                    status: 400,
                    code: "AccessDeniedException".into(),
                    message: "keywarden-e2e refuses PutSecretValue".into(),
                }
            } else {
                Intercept::Forward
            }
        })
    };
    let mut env = rig.env("enforce");
    env.insert("AWS_ENDPOINT_URL_SECRETS_MANAGER".into(), proxy.endpoint());
    let watch = rig.watch(&env);

    let report = rig.run(&watch, ROTATE_ALICE);
    let a = assert_action(&report, "alice", "create", "failed");
    let error = format!("{} {}", a["error"], report["errors"]);
    assert!(error.contains("PutSecretValue"), "the error names the failed call: {error}");
    assert!(
        proxy.seen().iter().any(|op| op == "PutSecretValue refused (AccessDeniedException)"),
        "{:?}",
        proxy.seen()
    );
    let issued: Vec<String> =
        rig.moto.issued_keys().into_iter().filter(|(u, _, _)| u == "alice").map(|(_, id, _)| id).collect();
    assert_eq!(issued.len(), 2, "a new key was created (and must be gone): {issued:?}");
    let unstored = issued.iter().find(|id| **id != old.access_key_id).cloned().unwrap_or_default();
    assert!(error.contains(&unstored), "the error names the deleted new key {unstored}: {error}");
    assert_eq!(keys(aws, "alice").await, [(old.access_key_id.clone(), true)], "exactly the old key is left");
    assert_eq!(aws.caller_arn(&old).await.ok(), Some(aws.user_arn("alice").await));
    let tags = aws.user_tags("alice").await;
    assert!(
        !tags.contains_key(ROTATION_TAG) && !tags.contains_key(&unstored),
        "record left behind: {tags:?}"
    );
    assert!(aws.stored_key("alice").await.is_none(), "no value was stored");
    assert_eq!(rig.rotation_events(), [("alice".into(), "create".into())], "the failure is alerted");

    // Secrets Manager works again: the next run rotates from scratch.
    refuse.store(false, Ordering::SeqCst);
    let report = rig.run(&watch, ROTATE_ALICE);
    assert_no_errors(&report);
    let a = assert_action(&report, "alice", "create", "done");
    let new_id = a["new_key_id"].as_str().unwrap_or_default().to_string();
    assert_eq!(keys(aws, "alice").await, [(old.access_key_id.clone(), true), (new_id.clone(), true)]);
    assert_stored_key_works(aws, "alice", &new_id).await;
    assert_owner_only_policy(aws, "alice").await;

    rig.finish(&watch).await;
    drop(proxy);
}

/// A crash between `CreateAccessKey` and storing the secret, an hour ago: an intent record
/// and a newer key whose secret nobody holds. The next run deletes that key and rotates
/// cleanly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashed_rotation_is_recovered() {
    let rig = Rig::start().await;
    let aws = &rig.aws;
    let old = rig.user_with_key("alice", 100).await;
    // What the crashed run left, an hour ago: the intent, then the key it created.
    rig.at("-1h");
    let at = (Utc::now() - Duration::hours(1)).format("%Y%m%dT%H%M%SZ");
    aws.tag_user("alice", ROTATION_TAG, &format!("v1 intent old={} at={at}", old.access_key_id)).await;
    let unstored = aws.create_access_key("alice").await;
    rig.at("+0");
    let watch = rig.watch(&rig.env("enforce"));

    let report = rig.run(&watch, ROTATE_ALICE);
    assert_no_errors(&report);
    let a = assert_action(&report, "alice", "recover", "done");
    assert_eq!(a["old_key_id"], old.access_key_id.as_str());
    let new_id = a["new_key_id"].as_str().unwrap_or_else(|| panic!("no new key: {a}")).to_string();
    assert_ne!(new_id, unstored.access_key_id);
    assert_eq!(
        keys(aws, "alice").await,
        [(old.access_key_id.clone(), true), (new_id.clone(), true)],
        "the unstored key {} is gone, a new one made",
        unstored.access_key_id
    );
    // moto answers a deleted key with a default identity, never the user's.
    assert_ne!(
        aws.caller_arn(&unstored).await.ok(),
        Some(aws.user_arn("alice").await),
        "the unstored key works"
    );
    assert_stored_key_works(aws, "alice", &new_id).await;
    assert_owner_only_policy(aws, "alice").await;
    let rec = record(&aws.user_tags("alice").await).unwrap_or_else(|| panic!("no record"));
    assert_eq!((rec.phase.as_str(), rec.new.as_deref()), ("grace", Some(new_id.as_str())));

    rig.finish(&watch).await;
}
