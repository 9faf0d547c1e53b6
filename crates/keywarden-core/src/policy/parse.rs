//! JSON text to [`PolicyDocument`], strictly: anything IAM would reject (or read differently)
//! is an error with a JSON path, because a policy we misread is a verdict we get wrong.

use serde_json::Value;
use thiserror::Error;

use super::document::{Actions, Condition, Effect, PolicyDocument, Resources, Statement, VERSION_2012};
use super::operator::Operator;

const VERSION_2008: &str = "2008-10-17";

/// Why a policy document could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PolicyError {
    /// The text is not JSON at all.
    #[error("policy document is not valid JSON: {0}")]
    Json(String),
    /// The JSON is not a valid identity policy; `path` is a JSON path to the offending element.
    #[error("invalid policy document at {path}: {reason}")]
    Invalid {
        /// Where, e.g. `$.Statement[1].Condition.Bool`.
        path: String,
        /// What is wrong there.
        reason: String,
    },
}

fn invalid(path: impl Into<String>, reason: impl Into<String>) -> PolicyError {
    PolicyError::Invalid { path: path.into(), reason: reason.into() }
}

impl PolicyDocument {
    /// Parses an identity policy from JSON text.
    pub fn parse(text: &str) -> Result<Self, PolicyError> {
        // Strict: a duplicate key (`"Effect"` twice) would otherwise keep only the last one.
        let value = crate::json::parse_strict(text).map_err(|e| PolicyError::Json(e.to_string()))?;
        Self::from_value(&value)
    }

    /// Parses an identity policy from a JSON value.
    pub fn from_value(value: &Value) -> Result<Self, PolicyError> {
        let obj = value.as_object().ok_or_else(|| invalid("$", "a policy document must be a JSON object"))?;
        let mut version = None;
        let mut statements = None;
        for (k, v) in obj {
            match k.as_str() {
                "Version" => {
                    let s = v.as_str().ok_or_else(|| invalid("$.Version", "must be a string"))?;
                    if s != VERSION_2012 && s != VERSION_2008 {
                        return Err(invalid(
                            "$.Version",
                            format!("unknown policy version {s:?} (expected {VERSION_2012:?} or {VERSION_2008:?})"),
                        ));
                    }
                    version = Some(s.to_string());
                }
                "Id" => {
                    if !v.is_string() {
                        return Err(invalid("$.Id", "must be a string"));
                    }
                }
                "Statement" => {
                    let list: Vec<(String, &Value)> = match v {
                        Value::Array(items) => {
                            items.iter().enumerate().map(|(i, s)| (format!("$.Statement[{i}]"), s)).collect()
                        }
                        Value::Object(_) => vec![("$.Statement".to_string(), v)],
                        _ => return Err(invalid("$.Statement", "must be an object or an array of objects")),
                    };
                    let mut parsed = Vec::with_capacity(list.len());
                    for (path, s) in list {
                        parsed.push(parse_statement(&path, s)?);
                    }
                    statements = Some(parsed);
                }
                other => return Err(invalid(format!("$.{other}"), "unknown top-level element")),
            }
        }
        let statements = statements.ok_or_else(|| invalid("$", "missing Statement"))?;
        Ok(PolicyDocument { version, statements })
    }
}

fn string_or_list(path: &str, v: &Value) -> Result<Vec<String>, PolicyError> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => {
            if items.is_empty() {
                return Err(invalid(path, "must not be an empty list"));
            }
            items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    item.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| invalid(format!("{path}[{i}]"), "must be a string"))
                })
                .collect()
        }
        _ => Err(invalid(path, "must be a string or a list of strings")),
    }
}

fn parse_statement(path: &str, v: &Value) -> Result<Statement, PolicyError> {
    let obj = v.as_object().ok_or_else(|| invalid(path, "a statement must be a JSON object"))?;
    let mut sid = None;
    let mut effect = None;
    let mut actions = None;
    let mut resources = None;
    let mut conditions = Vec::new();
    for (k, v) in obj {
        let p = format!("{path}.{k}");
        match k.as_str() {
            "Sid" => sid = Some(v.as_str().ok_or_else(|| invalid(&p, "must be a string"))?.to_string()),
            "Effect" => {
                effect = Some(match v.as_str() {
                    Some("Allow") => Effect::Allow,
                    Some("Deny") => Effect::Deny,
                    _ => return Err(invalid(&p, "must be \"Allow\" or \"Deny\"")),
                })
            }
            "Action" | "NotAction" => {
                if actions.is_some() {
                    return Err(invalid(&p, "a statement may have only one of Action and NotAction"));
                }
                let list = string_or_list(&p, v)?;
                for (i, a) in list.iter().enumerate() {
                    if a != "*" && !valid_action_pattern(a) {
                        return Err(invalid(
                            format!("{p}[{i}]"),
                            format!("{a:?} is not an action (expected \"service:Action\" or \"*\")"),
                        ));
                    }
                }
                actions = Some(if k == "Action" { Actions::Action(list) } else { Actions::NotAction(list) });
            }
            "Resource" | "NotResource" => {
                if resources.is_some() {
                    return Err(invalid(&p, "a statement may have only one of Resource and NotResource"));
                }
                let list = string_or_list(&p, v)?;
                resources = Some(if k == "Resource" {
                    Resources::Resource(list)
                } else {
                    Resources::NotResource(list)
                });
            }
            "Condition" => conditions = parse_conditions(&p, v)?,
            "Principal" | "NotPrincipal" => {
                return Err(invalid(
                    &p,
                    "an identity policy must not name a Principal (that is a resource policy)",
                ))
            }
            other => return Err(invalid(&p, format!("unknown statement element {other:?}"))),
        }
    }
    Ok(Statement {
        sid,
        effect: effect.ok_or_else(|| invalid(path, "missing Effect"))?,
        actions: actions.ok_or_else(|| invalid(path, "missing Action or NotAction"))?,
        resources: resources.ok_or_else(|| invalid(path, "missing Resource or NotResource"))?,
        conditions,
    })
}

fn valid_action_pattern(a: &str) -> bool {
    match a.split_once(':') {
        Some((service, name)) => {
            !service.is_empty()
                && !name.is_empty()
                && service.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !name.contains(':')
        }
        None => false,
    }
}

fn parse_conditions(path: &str, v: &Value) -> Result<Vec<Condition>, PolicyError> {
    let obj = v.as_object().ok_or_else(|| invalid(path, "must be an object of operators"))?;
    let mut out = Vec::new();
    for (op, block) in obj {
        let p = format!("{path}.{op}");
        let operator: Operator =
            op.parse().map_err(|e: super::operator::UnknownOperator| invalid(&p, e.to_string()))?;
        let keys = block.as_object().ok_or_else(|| invalid(&p, "must be an object of condition keys"))?;
        if keys.is_empty() {
            return Err(invalid(&p, "must name at least one condition key"));
        }
        for (key, values) in keys {
            let kp = format!("{p}.{key}");
            out.push(Condition { operator, key: key.clone(), values: condition_values(&kp, values)? });
        }
    }
    Ok(out)
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn condition_values(path: &str, v: &Value) -> Result<Vec<String>, PolicyError> {
    match v {
        Value::Array(items) => {
            if items.is_empty() {
                return Err(invalid(path, "must not be an empty list"));
            }
            items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    scalar(item)
                        .ok_or_else(|| invalid(format!("{path}[{i}]"), "must be a string, boolean or number"))
                })
                .collect()
        }
        other => scalar(other)
            .map(|s| vec![s])
            .ok_or_else(|| invalid(path, "must be a string, boolean, number or a list of them")),
    }
}
