//! The events the function accepts, and nothing else.
//!
//! A scheduled EventBridge event runs the configured job; an on-demand JSON object is what an
//! engineer sends with `cargo lambda invoke`; in Organizations mode, the fan-out engine sends
//! the three steps of a fanned-out run ([`FanOut`]). Anything else, including an object with
//! a misspelt field, is refused before any AWS call: a typo like `"user": ["alice"]` must not
//! silently widen an action to every user.

use std::collections::BTreeSet;

use aws_lambda_events::eventbridge::EventBridgeEvent;
use keywarden_core::config::is_iam_name;
use keywarden_core::organization::AccountRef;
pub use keywarden_core::report::RunAction;
use serde::Deserialize;
use serde_json::Value;

use crate::error::HandlerError;

/// Who started the run: it decides the defaults (notification, rotation mode, dry run).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// An EventBridge `Scheduled Event` from `aws.events`: the daily full run.
    Scheduled,
    /// A JSON request from an engineer (`cargo lambda invoke`, the console).
    OnDemand,
}

/// A validated request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Who started the run.
    pub trigger: Trigger,
    /// What the caller asked for; a scheduled run is an `Audit` that also rotates in `ROTATION_MODE`.
    pub action: RunAction,
    /// `None`: every user.
    pub users: Option<BTreeSet<String>>,
    /// `None`: the trigger's default (scheduled runs follow `NOTIFY_SCHEDULED`, on-demand
    /// runs do not notify).
    pub notify: Option<bool>,
    /// On-demand rotations default to a dry run.
    pub dry_run: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OnDemand {
    action: RunAction,
    #[serde(default)]
    dry_run: Option<bool>,
    #[serde(default)]
    users: Option<Vec<String>>,
    #[serde(default)]
    notify: Option<bool>,
}

/// Validates an event before any AWS call: an unknown field, a wrong type or an impossible
/// combination is a `BadRequest`, never a guess at what the caller meant.
pub fn parse(event: Value) -> Result<Request, HandlerError> {
    let Value::Object(map) = &event else {
        return Err(HandlerError::BadRequest(format!(
            "expected a JSON object (an EventBridge scheduled event or {{\"action\": \"audit\"}}), got {}",
            kind(&event)
        )));
    };
    if map.contains_key("detail-type") {
        let eb: EventBridgeEvent<Value> = serde_json::from_value(event)
            .map_err(|e| HandlerError::BadRequest(format!("malformed EventBridge event: {e}")))?;
        if eb.detail_type != "Scheduled Event" || eb.source != "aws.events" {
            return Err(HandlerError::BadRequest(format!(
                "unsupported EventBridge event `{}` from `{}`; only `Scheduled Event` from `aws.events` runs keywarden",
                eb.detail_type, eb.source
            )));
        }
        return Ok(Request {
            trigger: Trigger::Scheduled,
            // A full run: the audit, plus rotation in the configured `ROTATION_MODE`.
            action: RunAction::Audit,
            users: None,
            notify: None,
            dry_run: false,
        });
    }
    let od: OnDemand = serde_json::from_value(event).map_err(|e| {
        HandlerError::BadRequest(format!(
            "malformed on-demand event: {e}; expected {{\"action\": \"audit\"|\"rotate\", \"users\": [..], \"dry_run\": bool, \"notify\": bool}}"
        ))
    })?;
    let users = match od.users {
        None => None,
        Some(list) if list.is_empty() => {
            return Err(HandlerError::BadRequest("`users` is empty; omit it to act on every user".into()))
        }
        Some(list) => {
            if let Some(bad) = list.iter().find(|u| !is_iam_name(u)) {
                return Err(HandlerError::BadRequest(format!("`{bad}` is not a valid IAM user name")));
            }
            Some(list.into_iter().collect())
        }
    };
    Ok(Request {
        trigger: Trigger::OnDemand,
        action: od.action,
        users,
        notify: od.notify,
        dry_run: od.dry_run.unwrap_or(true),
    })
}

/// A step of a fanned-out organization run, as the Step Functions state machine sends it:
/// list the accounts, audit one (a Distributed Map item), then aggregate.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "action", rename_all = "kebab-case", deny_unknown_fields)]
pub enum FanOut {
    /// `{"action": "list-accounts"}`: lists and selects the accounts and keeps the listing;
    /// answers `{"run_id", "accounts": [{"id", "name"}]}`, the map's items.
    ListAccounts {},
    /// `{"action": "audit-account", "run_id", "account": {"id", "name"}}`: one account of a
    /// listed run, audited (and rotated in `ROTATION_MODE`) and its result kept.
    AuditAccount {
        /// The run the listing started.
        run_id: String,
        /// One of the listing's accounts.
        account: AccountRef,
    },
    /// `{"action": "aggregate", "run_id"}`: the consolidated report, archive and digest
    /// from the kept results.
    Aggregate {
        /// The run the listing started.
        run_id: String,
    },
}

/// An event of either mode, told apart by its `action`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A whole run (scheduled or on demand).
    Run(Request),
    /// A step of a fanned-out organization run.
    FanOut(FanOut),
}

const FAN_OUT_ACTIONS: [&str; 3] = ["list-accounts", "audit-account", "aggregate"];

/// A run id as the fan-out carries it: it names S3 keys, so only the characters a Lambda
/// request id has, and never a path.
pub fn is_run_id(v: &str) -> bool {
    !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Validates any event the function accepts; [`parse`] for a whole run, [`FanOut`] for the
/// fan-out's steps, with the same strictness.
pub fn parse_event(event: Value) -> Result<Event, HandlerError> {
    let action = event.get("action").and_then(Value::as_str);
    if !action.is_some_and(|a| FAN_OUT_ACTIONS.contains(&a)) {
        return parse(event).map(Event::Run);
    }
    let step: FanOut = serde_json::from_value(event).map_err(|e| {
        HandlerError::BadRequest(format!(
            "malformed fan-out event: {e}; expected {{\"action\": \"list-accounts\"}}, {{\"action\": \"audit-account\", \"run_id\": \"..\", \"account\": {{\"id\": \"..\", \"name\": \"..\"}}}} or {{\"action\": \"aggregate\", \"run_id\": \"..\"}}"
        ))
    })?;
    match &step {
        FanOut::ListAccounts {} => {}
        FanOut::AuditAccount { run_id, account } => {
            check_run_id(run_id)?;
            account.validate().map_err(HandlerError::BadRequest)?;
        }
        FanOut::Aggregate { run_id } => check_run_id(run_id)?,
    }
    Ok(Event::FanOut(step))
}

fn check_run_id(run_id: &str) -> Result<(), HandlerError> {
    if is_run_id(run_id) {
        Ok(())
    } else {
        Err(HandlerError::BadRequest(format!(
            "`run_id` must be 1 to 64 letters, digits, `-` or `_` (a Lambda request id), got {:?}",
            run_id.chars().take(80).collect::<String>()
        )))
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scheduled_event_from_the_repo_is_a_full_run() {
        let raw = include_str!("../../../events/scheduled.json");
        let v: Value = serde_json::from_str(raw).expect("fixture is JSON");
        let r = parse(v).expect("scheduled event");
        assert_eq!(r.trigger, Trigger::Scheduled);
        assert_eq!(r.users, None);
        assert_eq!(r.notify, None);
    }

    #[test]
    fn on_demand_audit_with_users() {
        let r = parse(json!({"action": "audit", "users": ["alice", "bob"], "notify": false})).expect("valid");
        assert_eq!(r.action, RunAction::Audit);
        assert_eq!(r.trigger, Trigger::OnDemand);
        assert_eq!(r.users, Some(["alice".to_string(), "bob".to_string()].into_iter().collect()));
        assert_eq!(r.notify, Some(false));
        assert!(r.dry_run, "on-demand defaults to a dry run");
    }

    #[test]
    fn repo_event_files_parse() {
        for raw in
            [include_str!("../../../events/audit.json"), include_str!("../../../events/audit-users.json")]
        {
            let v: Value = serde_json::from_str(raw).expect("fixture is JSON");
            assert_eq!(parse(v).expect("valid").action, RunAction::Audit);
        }
    }

    #[test]
    fn fan_out_events_from_the_repo_parse() {
        for (raw, want) in [
            (include_str!("../../../events/list-accounts.json"), "list"),
            (include_str!("../../../events/audit-account.json"), "account"),
            (include_str!("../../../events/aggregate.json"), "aggregate"),
        ] {
            let v: Value = serde_json::from_str(raw).expect("fixture is JSON");
            let got = match parse_event(v).expect("valid") {
                Event::FanOut(FanOut::ListAccounts {}) => "list",
                Event::FanOut(FanOut::AuditAccount { .. }) => "account",
                Event::FanOut(FanOut::Aggregate { .. }) => "aggregate",
                Event::Run(_) => "run",
            };
            assert_eq!(got, want);
        }
        assert!(matches!(parse_event(json!({"action": "audit"})), Ok(Event::Run(_))));
    }

    #[test]
    fn bad_fan_out_events_are_refused_with_a_reason() {
        let account = json!({"id": "111111111111", "name": "prod"});
        for (event, needle) in [
            (json!({"action": "list-accounts", "run_id": "x"}), "unknown field `run_id`"),
            (json!({"action": "aggregate"}), "missing field `run_id`"),
            (json!({"action": "aggregate", "run_id": "../../etc"}), "`run_id` must be"),
            (json!({"action": "aggregate", "run_id": ""}), "`run_id` must be"),
            (json!({"action": "audit-account", "run_id": "r1"}), "missing field `account`"),
            (
                json!({"action": "audit-account", "run_id": "r1", "account": {"id": "12"}}),
                "missing field `name`",
            ),
            (
                json!({"action": "audit-account", "run_id": "r1", "account": {"id": "1111111111x1", "name": "a"}}),
                "not a 12-digit",
            ),
            (
                json!({"action": "audit-account", "run_id": "r1", "account": account, "users": ["a"]}),
                "unknown field `users`",
            ),
        ] {
            let err = parse_event(event.clone()).expect_err(&event.to_string());
            assert!(err.to_string().contains(needle), "{event}: {err}");
            assert!(matches!(err, HandlerError::BadRequest(_)));
        }
    }

    #[test]
    fn bad_events_are_refused_with_a_reason() {
        for (event, needle) in [
            (json!({"action": "audit", "user": ["alice"]}), "unknown field `user`"),
            (json!({"action": "destroy"}), "unknown variant `destroy`"),
            (json!({"users": ["alice"]}), "missing field `action`"),
            (json!({"action": "audit", "users": []}), "`users` is empty"),
            (json!({"action": "audit", "users": ["bad name"]}), "not a valid IAM user name"),
            (json!({"action": "audit", "notify": "yes"}), "invalid type"),
            (json!([1, 2]), "got an array"),
            (
                json!({"detail-type": "AWS API Call via CloudTrail", "source": "aws.iam", "detail": {}}),
                "unsupported EventBridge event",
            ),
            (json!({"detail-type": 5}), "malformed EventBridge event"),
        ] {
            let err = parse(event.clone()).expect_err(&event.to_string());
            assert!(err.to_string().contains(needle), "{event}: {err}");
            assert!(matches!(err, HandlerError::BadRequest(_)));
        }
    }
}
