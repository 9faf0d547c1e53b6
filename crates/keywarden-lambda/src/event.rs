//! The two kinds of event the function accepts, and nothing else.
//!
//! A scheduled EventBridge event runs the configured job; an on-demand JSON object is what an
//! engineer sends with `cargo lambda invoke`. Anything else, including an on-demand object
//! with a misspelt field, is refused before any AWS call: a typo like `"user": ["alice"]`
//! must not silently widen an action to every user.

use std::collections::BTreeSet;

use aws_lambda_events::eventbridge::EventBridgeEvent;
use keywarden_core::config::is_iam_name;
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
