//! Fuzz target for the event parser: whatever the event, [`event::parse`] returns a request
//! or a `BadRequest` naming the problem, never a panic, and never a run wider than asked.
//! The harness is `keywarden_core::fuzzing` (a wall-clock budget, `KEYWARDEN_FUZZ_SECONDS`).
//!
//! A long local session:
//! `KEYWARDEN_FUZZ_SECONDS=1800 cargo test -p keywarden-lambda --release --test fuzz_event -- --nocapture`

use keywarden_core::fuzzing::{check_message, damage_json, fuzz, json_damage, json_from};
use keywarden_lambda::error::HandlerError;
use keywarden_lambda::event::{self, Trigger};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::{json, Value};

const SCHEDULED: &str = include_str!("../../../events/scheduled.json");

/// Keys and values an event is made of, so random documents reach the field checks.
const WORDS: &[&str] = &[
    "action",
    "audit",
    "rotate",
    "users",
    "dry_run",
    "notify",
    "alice",
    "bob",
    "detail-type",
    "Scheduled Event",
    "source",
    "aws.events",
    "detail",
    "id",
    "version",
    "account",
    "time",
    "region",
    "resources",
    "0",
    "123456789012",
    "2026-01-01T00:00:00Z",
    "us-east-1",
];

fn valid_events() -> impl Strategy<Value = Value> {
    let scheduled: Value = serde_json::from_str(SCHEDULED).unwrap_or(Value::Null);
    let users = prop::collection::vec("[a-zA-Z0-9+=,.@_-]{1,64}", 1..4);
    prop_oneof![
        Just(scheduled),
        (
            prop::sample::select(vec!["audit", "rotate"]),
            prop::option::of(users),
            any::<Option<bool>>(),
            any::<Option<bool>>()
        )
            .prop_map(|(action, users, dry_run, notify)| {
                let mut e = json!({ "action": action });
                if let Some(u) = users {
                    e["users"] = json!(u);
                }
                if let Some(d) = dry_run {
                    e["dry_run"] = json!(d);
                }
                if let Some(n) = notify {
                    e["notify"] = json!(n);
                }
                e
            }),
    ]
}

/// One event: valid, damaged, or random JSON from event words.
fn events() -> impl Strategy<Value = Value> {
    prop_oneof![
        2 => valid_events(),
        // The function is only ever handed JSON: damage that leaves none becomes a string.
        4 => (valid_events(), json_damage()).prop_map(|(e, d)| {
            let text = damage_json(e, &d);
            serde_json::from_str::<Value>(&text).unwrap_or(Value::String(text))
        }),
        2 => json_from(WORDS),
    ]
}

#[test]
fn fuzz_event() {
    fuzz("event", events(), |e| {
        // `"users": null` is the field left out: every user, as documented.
        let asked_users = e.get("users").filter(|u| !u.is_null()).cloned();
        match event::parse(e.clone()) {
            Ok(req) => {
                // A request never acts on more users than it named.
                if let Some(users) = &req.users {
                    let named: Vec<String> = asked_users
                        .as_ref()
                        .and_then(Value::as_array)
                        .map(|a| a.iter().filter_map(|v| v.as_str().map(String::from)).collect())
                        .unwrap_or_default();
                    prop_assert!(users.iter().all(|u| named.contains(u)), "{e}: {users:?}");
                }
                if req.trigger == Trigger::OnDemand {
                    prop_assert!(asked_users.is_none() || req.users.is_some(), "{e}: `users` dropped");
                    prop_assert!(
                        req.dry_run || e.get("dry_run") == Some(&json!(false)),
                        "{e}: not a dry run"
                    );
                }
                Ok(true)
            }
            Err(HandlerError::BadRequest(message)) => {
                check_message(&message)?;
                Ok(false)
            }
            Err(other) => Err(TestCaseError::fail(format!("{e}: not a BadRequest: {other}"))),
        }
    });
}
