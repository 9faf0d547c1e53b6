//! IAM identity-policy documents: parsing, semantic comparison with the canonical
//! self-service policy, evaluation, and the over-broad self-service check.
//!
//! The canonical self-service policy (AWS's `Force_MFA` example) lives in
//! `policies/self-service.json` and is embedded as [`CANONICAL_SELF_SERVICE`]: the same file
//! is meant to be deployed by the CDK stack, so there is one source.
//!
//! The evaluator is deliberately conservative: anything it does not understand that could
//! change the answer yields [`Decision::Unknown`] with a reason, never a guess.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::rc::Rc;

use serde_json::Value;
use thiserror::Error;

/// The canonical self-service policy (AWS `Force_MFA`), pretty-printed JSON.
pub const CANONICAL_SELF_SERVICE: &str = include_str!("../policies/self-service.json");

/// The policy language version in which policy variables are substituted.
pub const VERSION_2012: &str = "2012-10-17";
const VERSION_2008: &str = "2008-10-17";

/// Why a policy document could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PolicyError {
    /// The text is not JSON at all.
    #[error("policy document is not valid JSON: {0}")]
    Json(String),
    /// The JSON is not a valid identity policy; `path` is a JSON path to the offending element.
    #[error("invalid policy document at {path}: {reason}")]
    Invalid { path: String, reason: String },
}

fn invalid(path: impl Into<String>, reason: impl Into<String>) -> PolicyError {
    PolicyError::Invalid { path: path.into(), reason: reason.into() }
}

/// `Allow` or `Deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Effect {
    Allow,
    Deny,
}

impl fmt::Display for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Effect::Allow => "Allow",
            Effect::Deny => "Deny",
        })
    }
}

/// `Action` (the listed patterns) or `NotAction` (everything but the listed patterns).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actions {
    Action(Vec<String>),
    NotAction(Vec<String>),
}

impl Actions {
    /// The listed patterns, whichever element they came from.
    pub fn patterns(&self) -> &[String] {
        match self {
            Actions::Action(v) | Actions::NotAction(v) => v,
        }
    }
    fn element(&self) -> &'static str {
        match self {
            Actions::Action(_) => "Action",
            Actions::NotAction(_) => "NotAction",
        }
    }
}

/// `Resource` or `NotResource`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resources {
    Resource(Vec<String>),
    NotResource(Vec<String>),
}

impl Resources {
    /// The listed patterns, whichever element they came from.
    pub fn patterns(&self) -> &[String] {
        match self {
            Resources::Resource(v) | Resources::NotResource(v) => v,
        }
    }
    fn element(&self) -> &'static str {
        match self {
            Resources::Resource(_) => "Resource",
            Resources::NotResource(_) => "NotResource",
        }
    }
}

/// One `operator: { key: values }` test of a `Condition` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// As written, e.g. `BoolIfExists`, `ForAnyValue:StringLike`.
    pub operator: String,
    /// Condition key as written, e.g. `aws:MultiFactorAuthPresent`.
    pub key: String,
    /// Values, with booleans and numbers rendered as strings (as IAM does).
    pub values: Vec<String>,
}

/// One statement of an identity policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub sid: Option<String>,
    pub effect: Effect,
    pub actions: Actions,
    pub resources: Resources,
    pub conditions: Vec<Condition>,
}

/// A parsed identity-policy document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyDocument {
    /// `Version`, if present. Without `2012-10-17`, policy variables are literal text.
    pub version: Option<String>,
    pub statements: Vec<Statement>,
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

    /// Whether policy variables such as `${aws:username}` are substituted.
    pub fn substitutes_variables(&self) -> bool {
        self.version.as_deref() == Some(VERSION_2012)
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

/// Base operators of the IAM policy language (without `IfExists`, `ForAllValues:` and
/// `ForAnyValue:`). An operator outside this list is a malformed document.
const KNOWN_OPERATORS: &[&str] = &[
    "StringEquals",
    "StringNotEquals",
    "StringEqualsIgnoreCase",
    "StringNotEqualsIgnoreCase",
    "StringLike",
    "StringNotLike",
    "NumericEquals",
    "NumericNotEquals",
    "NumericLessThan",
    "NumericLessThanEquals",
    "NumericGreaterThan",
    "NumericGreaterThanEquals",
    "DateEquals",
    "DateNotEquals",
    "DateLessThan",
    "DateLessThanEquals",
    "DateGreaterThan",
    "DateGreaterThanEquals",
    "Bool",
    "BinaryEquals",
    "IpAddress",
    "NotIpAddress",
    "ArnEquals",
    "ArnLike",
    "ArnNotEquals",
    "ArnNotLike",
    "Null",
];

/// Splits an operator into (set qualifier, base operator, if-exists).
fn split_operator(op: &str) -> (Option<&str>, &str, bool) {
    let (qualifier, rest) = match op.split_once(':') {
        Some((q, r)) => (Some(q), r),
        None => (None, op),
    };
    match rest.strip_suffix("IfExists") {
        Some(base) => (qualifier, base, true),
        None => (qualifier, rest, false),
    }
}

fn parse_conditions(path: &str, v: &Value) -> Result<Vec<Condition>, PolicyError> {
    let obj = v.as_object().ok_or_else(|| invalid(path, "must be an object of operators"))?;
    let mut out = Vec::new();
    for (op, block) in obj {
        let p = format!("{path}.{op}");
        let (qualifier, base, if_exists) = split_operator(op);
        let known = KNOWN_OPERATORS.contains(&base)
            && qualifier.is_none_or(|q| q == "ForAllValues" || q == "ForAnyValue")
            && !(base == "Null" && if_exists);
        if !known {
            return Err(invalid(&p, format!("unknown condition operator {op:?}")));
        }
        let keys = block.as_object().ok_or_else(|| invalid(&p, "must be an object of condition keys"))?;
        if keys.is_empty() {
            return Err(invalid(&p, "must name at least one condition key"));
        }
        for (key, values) in keys {
            let kp = format!("{p}.{key}");
            out.push(Condition {
                operator: op.clone(),
                key: key.clone(),
                values: condition_values(&kp, values)?,
            });
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

// ---------------------------------------------------------------------------------------
// Semantic comparison
// ---------------------------------------------------------------------------------------

/// A statement reduced to what it means: Sid dropped, lists as sets, action names lower-cased.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Normalised {
    effect: Effect,
    not_action: bool,
    actions: BTreeSet<String>,
    not_resource: bool,
    resources: BTreeSet<String>,
    /// operator → key (lower-cased) → values.
    conditions: BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
}

fn normalise(s: &Statement) -> Normalised {
    let mut conditions: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for c in &s.conditions {
        let (_, base, _) = split_operator(&c.operator);
        let bool_like = base == "Bool" || base == "Null";
        conditions
            .entry(c.operator.clone())
            .or_default()
            .entry(c.key.to_ascii_lowercase())
            .or_default()
            .extend(c.values.iter().map(|v| if bool_like { v.to_ascii_lowercase() } else { v.clone() }));
    }
    Normalised {
        effect: s.effect,
        not_action: matches!(s.actions, Actions::NotAction(_)),
        actions: s.actions.patterns().iter().map(|a| a.to_ascii_lowercase()).collect(),
        not_resource: matches!(s.resources, Resources::NotResource(_)),
        resources: s.resources.patterns().iter().cloned().collect(),
        conditions,
    }
}

fn render_conditions(c: &BTreeMap<String, BTreeMap<String, BTreeSet<String>>>) -> String {
    if c.is_empty() {
        return "none".to_string();
    }
    let parts: Vec<String> = c
        .iter()
        .flat_map(|(op, keys)| {
            keys.iter().map(move |(k, vs)| {
                format!("{op} {k} = {}", vs.iter().cloned().collect::<Vec<_>>().join(" | "))
            })
        })
        .collect();
    parts.join("; ")
}

/// One semantic difference between an expected (canonical) and an actual policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Difference {
    VersionDiffers { expected: Option<String>, found: Option<String> },
    StatementRemoved { statement: String },
    StatementAdded { statement: String },
    ActionMissing { statement: String, action: String },
    ActionAdded { statement: String, action: String },
    ResourceDiffers { statement: String, expected: Vec<String>, found: Vec<String> },
    ConditionDiffers { statement: String, expected: String, found: String },
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Difference::VersionDiffers { expected, found } => write!(
                f,
                "policy version differs: expected {}, found {}",
                expected.as_deref().unwrap_or("none"),
                found.as_deref().unwrap_or("none")
            ),
            Difference::StatementRemoved { statement } => write!(f, "statement removed: {statement}"),
            Difference::StatementAdded { statement } => write!(f, "statement added: {statement}"),
            Difference::ActionMissing { statement, action } => {
                write!(f, "statement {statement}: action {action} missing")
            }
            Difference::ActionAdded { statement, action } => {
                write!(f, "statement {statement}: action {action} added")
            }
            Difference::ResourceDiffers { statement, expected, found } => write!(
                f,
                "statement {statement}: resource differs (expected {}, found {})",
                expected.join(", "),
                found.join(", ")
            ),
            Difference::ConditionDiffers { statement, expected, found } => {
                write!(f, "statement {statement}: condition differs (expected {expected}, found {found})")
            }
        }
    }
}

fn describe(s: &Statement, index: usize) -> String {
    let name = label(s, index);
    let actions = s.actions.patterns();
    let shown: Vec<&str> = actions.iter().take(4).map(String::as_str).collect();
    let more = if actions.len() > 4 { format!(", … ({} in all)", actions.len()) } else { String::new() };
    format!(
        "{name} ({} {} {}{more} on {} {})",
        s.effect,
        s.actions.element(),
        shown.join(", "),
        s.resources.element(),
        s.resources.patterns().join(", ")
    )
}

fn label(s: &Statement, index: usize) -> String {
    s.sid.clone().unwrap_or_else(|| format!("#{}", index + 1))
}

/// Compares `actual` to `expected` semantically: statement order, a string versus a
/// one-element list, whitespace, `Sid`s and the case of action names do not matter.
/// An empty result means the documents are equivalent.
pub fn compare(expected: &PolicyDocument, actual: &PolicyDocument) -> Vec<Difference> {
    let mut diffs = Vec::new();
    if expected.version != actual.version {
        diffs.push(Difference::VersionDiffers {
            expected: expected.version.clone(),
            found: actual.version.clone(),
        });
    }
    let exp: Vec<(usize, &Statement, Normalised)> =
        expected.statements.iter().enumerate().map(|(i, s)| (i, s, normalise(s))).collect();
    let act: Vec<(usize, &Statement, Normalised)> =
        actual.statements.iter().enumerate().map(|(i, s)| (i, s, normalise(s))).collect();

    // 1. Exact (normalised) matches, as a multiset.
    let mut exp_left: Vec<usize> = Vec::new();
    let mut act_used = vec![false; act.len()];
    for (ei, (_, _, en)) in exp.iter().enumerate() {
        match act.iter().enumerate().position(|(ai, (_, _, an))| !act_used[ai] && an == en) {
            Some(ai) => act_used[ai] = true,
            None => exp_left.push(ei),
        }
    }
    // 2. Pair what is left: same Sid first, else same effect and element kinds with the
    //    largest overlap of actions (or same resources and conditions).
    let mut pairs: Vec<(usize, usize)> = Vec::new();
    let mut unmatched_exp = Vec::new();
    for ei in exp_left {
        let (_, es, en) = &exp[ei];
        let by_sid = es.sid.as_ref().and_then(|sid| {
            act.iter().enumerate().position(|(ai, (_, s, n))| {
                !act_used[ai] && s.sid.as_ref() == Some(sid) && n.effect == en.effect
            })
        });
        let best = by_sid.or_else(|| {
            act.iter()
                .enumerate()
                .filter(|(ai, (_, _, n))| {
                    !act_used[*ai]
                        && n.effect == en.effect
                        && n.not_action == en.not_action
                        && n.not_resource == en.not_resource
                })
                .filter_map(|(ai, (_, _, n))| {
                    // Pair only statements that share at least half of the larger action
                    // list, or everything but the actions: an edited statement, not a
                    // different one that happens to share an action.
                    let overlap = n.actions.intersection(&en.actions).count();
                    let same_rest = n.resources == en.resources && n.conditions == en.conditions;
                    let similar = overlap * 2 >= n.actions.len().max(en.actions.len()) && overlap > 0;
                    (similar || same_rest).then_some((ai, overlap * 2 + usize::from(same_rest)))
                })
                .max_by_key(|(ai, score)| (*score, std::cmp::Reverse(*ai)))
                .map(|(ai, _)| ai)
        });
        match best {
            Some(ai) => {
                act_used[ai] = true;
                pairs.push((ei, ai));
            }
            None => unmatched_exp.push(ei),
        }
    }
    for ei in unmatched_exp {
        let (i, s, _) = &exp[ei];
        diffs.push(Difference::StatementRemoved { statement: describe(s, *i) });
    }
    for (ei, ai) in pairs {
        let (i, es, en) = &exp[ei];
        let (j, as_, an) = &act[ai];
        let name = es.sid.clone().unwrap_or_else(|| label(as_, *j));
        if en.effect != an.effect || en.not_action != an.not_action || en.not_resource != an.not_resource {
            // Same Sid but a different kind of statement: report it as replaced.
            diffs.push(Difference::StatementRemoved { statement: describe(es, *i) });
            diffs.push(Difference::StatementAdded { statement: describe(as_, *j) });
            continue;
        }
        for a in en.actions.difference(&an.actions) {
            diffs.push(Difference::ActionMissing { statement: name.clone(), action: original_case(es, a) });
        }
        for a in an.actions.difference(&en.actions) {
            diffs.push(Difference::ActionAdded { statement: name.clone(), action: original_case(as_, a) });
        }
        if en.resources != an.resources {
            diffs.push(Difference::ResourceDiffers {
                statement: name.clone(),
                expected: en.resources.iter().cloned().collect(),
                found: an.resources.iter().cloned().collect(),
            });
        }
        if en.conditions != an.conditions {
            diffs.push(Difference::ConditionDiffers {
                statement: name.clone(),
                expected: render_conditions(&en.conditions),
                found: render_conditions(&an.conditions),
            });
        }
    }
    for (ai, used) in act_used.iter().enumerate() {
        if !used {
            let (j, s, _) = &act[ai];
            diffs.push(Difference::StatementAdded { statement: describe(s, *j) });
        }
    }
    diffs
}

fn original_case(s: &Statement, lower: &str) -> String {
    s.actions
        .patterns()
        .iter()
        .find(|a| a.to_ascii_lowercase() == lower)
        .cloned()
        .unwrap_or_else(|| lower.to_string())
}

/// Parses [`CANONICAL_SELF_SERVICE`].
pub fn canonical_self_service() -> Result<PolicyDocument, PolicyError> {
    PolicyDocument::parse(CANONICAL_SELF_SERVICE)
}

/// Compares a document to the canonical self-service policy (see [`compare`]).
pub fn compare_to_canonical(actual: &PolicyDocument) -> Result<Vec<Difference>, PolicyError> {
    Ok(compare(&canonical_self_service()?, actual))
}

// ---------------------------------------------------------------------------------------
// Evaluation
// ---------------------------------------------------------------------------------------

/// A request to authorise, as IAM sees it for an identity policy.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Request {
    /// e.g. `iam:CreateAccessKey`.
    pub action: String,
    /// The resource ARN, e.g. `arn:aws:iam::123456789012:user/alice`, or `*`.
    pub resource: String,
    /// The IAM user name of the caller (`${aws:username}`).
    pub username: String,
    /// Request context: condition key → values, e.g. `aws:MultiFactorAuthPresent → ["true"]`.
    /// Keys are compared case-insensitively.
    pub context: BTreeMap<String, Vec<String>>,
    /// What a key missing from `context` means. `None`: the context is the whole request, so
    /// a missing key is absent. `Some(keys)`: only these keys (lower-case) are known to be
    /// absent; any other missing key has a value nobody told us, and a condition on it makes
    /// the answer [`Decision::Unknown`]. Probes use this: a real request carries
    /// `aws:SourceIp`, `aws:RequestedRegion` and more, whose values a probe cannot know.
    pub absent_keys: Option<BTreeSet<String>>,
}

impl Request {
    pub fn new(action: &str, resource: &str, username: &str) -> Self {
        Request {
            action: action.to_string(),
            resource: resource.to_string(),
            username: username.to_string(),
            context: BTreeMap::new(),
            absent_keys: None,
        }
    }

    /// Declares that only `keys` are known to be absent (see [`Request::absent_keys`]).
    #[must_use]
    pub fn with_only_absent(mut self, keys: &[&str]) -> Self {
        self.absent_keys = Some(keys.iter().map(|k| k.to_ascii_lowercase()).collect());
        self
    }

    /// Adds (or replaces) a single-valued context key.
    #[must_use]
    pub fn with_context(mut self, key: &str, value: &str) -> Self {
        self.context.insert(key.to_string(), vec![value.to_string()]);
        self
    }

    /// Sets `aws:MultiFactorAuthPresent` to `true` or `false`.
    #[must_use]
    pub fn with_mfa(self, present: bool) -> Self {
        self.with_context("aws:MultiFactorAuthPresent", if present { "true" } else { "false" })
    }

    fn context_values(&self, key: &str) -> Context<'_> {
        if let Some((_, v)) = self.context.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)) {
            return Context::Values(v);
        }
        if key.eq_ignore_ascii_case("aws:username") && !self.username.is_empty() {
            return Context::Values(std::slice::from_ref(&self.username));
        }
        match &self.absent_keys {
            Some(absent) if !absent.contains(&key.to_ascii_lowercase()) => Context::NotKnown,
            _ => Context::Absent,
        }
    }
}

/// What the request says about one condition key.
enum Context<'a> {
    Values(&'a [String]),
    Absent,
    /// The request has the key, with a value the caller did not give.
    NotKnown,
}

/// The answer of the evaluator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    ExplicitlyDenied,
    ImplicitlyDenied,
    /// The answer depends on something the evaluator does not support (or a document that
    /// could not be parsed); the reason says what.
    Unknown(String),
}

/// Three-valued outcome of a match.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tri {
    Yes,
    No,
    Unknown(String),
}

impl Tri {
    fn from_bool(b: bool) -> Tri {
        if b {
            Tri::Yes
        } else {
            Tri::No
        }
    }
    fn not(self) -> Tri {
        match self {
            Tri::Yes => Tri::No,
            Tri::No => Tri::Yes,
            u => u,
        }
    }
    /// Conjunction: a definite `No` wins over `Unknown`.
    fn and_all(items: impl IntoIterator<Item = Tri>) -> Tri {
        let mut unknown = None;
        for t in items {
            match t {
                Tri::No => return Tri::No,
                Tri::Unknown(r) => unknown = unknown.or(Some(r)),
                Tri::Yes => {}
            }
        }
        unknown.map_or(Tri::Yes, Tri::Unknown)
    }
    /// Disjunction: a definite `Yes` wins over `Unknown`.
    fn or_any(items: impl IntoIterator<Item = Tri>) -> Tri {
        let mut unknown = None;
        for t in items {
            match t {
                Tri::Yes => return Tri::Yes,
                Tri::Unknown(r) => unknown = unknown.or(Some(r)),
                Tri::No => {}
            }
        }
        unknown.map_or(Tri::No, Tri::Unknown)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Lit(char),
    Star,
    One,
}

/// Turns a policy pattern into glob tokens, substituting policy variables.
fn tokenize(pattern: &str, req: &Request, substitute: bool, wildcards: bool) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = Vec::with_capacity(chars.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if substitute && c == '$' && chars.get(i + 1) == Some(&'{') {
            if let Some(end) = chars[i + 2..].iter().position(|&c| c == '}') {
                let name: String = chars[i + 2..i + 2 + end].iter().collect();
                match name.trim() {
                    "*" | "?" | "$" => out.extend(name.trim().chars().map(Tok::Lit)),
                    n if n.eq_ignore_ascii_case("aws:username") => {
                        out.extend(req.username.chars().map(Tok::Lit))
                    }
                    _ => return Err(format!("unsupported policy variable ${{{name}}}")),
                }
                i += end + 3;
                continue;
            }
        }
        out.push(match c {
            '*' if wildcards => Tok::Star,
            '?' if wildcards => Tok::One,
            c => Tok::Lit(c),
        });
        i += 1;
    }
    Ok(out)
}

fn glob(pattern: &[Tok], text: &[char], case_insensitive: bool) -> bool {
    let eq = |a: char, b: char| if case_insensitive { a.eq_ignore_ascii_case(&b) } else { a == b };
    glob_with(
        pattern,
        text,
        |t| match t {
            Tok::Star => Wild::Star,
            Tok::One => Wild::One,
            Tok::Lit(_) => Wild::Lit,
        },
        |t, c| matches!(t, Tok::Lit(x) if eq(*x, *c)),
    )
}

/// What a pattern element is to the matcher.
enum Wild {
    Star,
    One,
    Lit,
}

/// The one `*`/`?` matcher (greedy with backtracking to the last star), over any pattern
/// and text element types: tokens and chars for policy patterns with variables, plain bytes
/// for the allocation-free fast path.
fn glob_with<P, T>(
    pattern: &[P],
    text: &[T],
    kind: impl Fn(&P) -> Wild,
    eq: impl Fn(&P, &T) -> bool,
) -> bool {
    let (mut p, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p).map(|x| (kind(x), x)) {
            Some((Wild::One, _)) => {
                p += 1;
                t += 1;
            }
            Some((Wild::Lit, x)) if eq(x, &text[t]) => {
                p += 1;
                t += 1;
            }
            Some((Wild::Star, _)) => {
                star = Some((p, t));
                p += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p.min(pattern.len())..].iter().all(|x| matches!(kind(x), Wild::Star))
}

/// Matches a tokenised pattern against text; with `arn_aware` (the Arn* condition
/// operators), ARNs with six colon-separated parts are compared part by part, so a
/// wildcard does not cross a colon there, as IAM documents for ArnLike/ArnEquals.
fn match_tokens(pattern: &[Tok], text: &str, case_insensitive: bool, arn_aware: bool) -> bool {
    let text_chars: Vec<char> = text.chars().collect();
    if arn_aware && text.starts_with("arn:") {
        let pat_parts = split_tokens(pattern, 6);
        let txt_parts = split_chars(&text_chars, 6);
        if pat_parts.len() == 6 && txt_parts.len() == 6 {
            return pat_parts.iter().zip(txt_parts.iter()).all(|(p, t)| glob(p, t, case_insensitive));
        }
    }
    glob(pattern, &text_chars, case_insensitive)
}

fn split_tokens(tokens: &[Tok], n: usize) -> Vec<Vec<Tok>> {
    let mut parts = vec![Vec::new()];
    for t in tokens {
        if *t == Tok::Lit(':') && parts.len() < n {
            parts.push(Vec::new());
        } else if let Some(last) = parts.last_mut() {
            last.push(*t);
        }
    }
    parts
}

fn split_chars(chars: &[char], n: usize) -> Vec<Vec<char>> {
    let mut parts = vec![Vec::new()];
    for c in chars {
        if *c == ':' && parts.len() < n {
            parts.push(Vec::new());
        } else if let Some(last) = parts.last_mut() {
            last.push(*c);
        }
    }
    parts
}

/// Actions contain no policy variables; `*` and `?` are wildcards; the match ignores case.
/// Called for every statement of every probe, so it works on bytes without allocating
/// (action names are ASCII; anything else simply does not match).
fn action_matches(pattern: &str, action: &str) -> bool {
    byte_glob(pattern.as_bytes(), action.as_bytes(), true)
}

/// `*`/`?` glob over ASCII bytes, without allocating.
fn byte_glob(p: &[u8], t: &[u8], case_insensitive: bool) -> bool {
    let eq = |a: &u8, b: &u8| if case_insensitive { a.eq_ignore_ascii_case(b) } else { a == b };
    glob_with(
        p,
        t,
        |b| match b {
            b'*' => Wild::Star,
            b'?' => Wild::One,
            _ => Wild::Lit,
        },
        eq,
    )
}

fn resource_matches(pattern: &str, req: &Request, substitute: bool) -> Tri {
    // Fast path, taken by nearly every pattern: no policy variable, ASCII on both sides.
    if !(substitute && pattern.contains("${")) && pattern.is_ascii() && req.resource.is_ascii() {
        return Tri::from_bool(byte_glob(pattern.as_bytes(), req.resource.as_bytes(), false));
    }
    match tokenize(pattern, req, substitute, true) {
        // In the Resource element a wildcard may span colons (`arn:aws:iam::*` covers every
        // IAM ARN); only the Arn* condition operators compare the ARN's parts separately.
        Ok(toks) => Tri::from_bool(match_tokens(&toks, &req.resource, false, false)),
        Err(reason) => Tri::Unknown(format!("resource {pattern:?}: {reason}")),
    }
}

/// Operators whose result is the negation of a positive form: IAM documents that each of
/// them matches a request that lacks the key ("If the key that you specify in a policy
/// condition is not present in the request context, the values do not match" holds for the
/// positive form; the negated one is then true).
fn negated_operator(base: &str) -> bool {
    matches!(
        base,
        "StringNotEquals"
            | "StringNotEqualsIgnoreCase"
            | "StringNotLike"
            | "ArnNotEquals"
            | "ArnNotLike"
            | "NumericNotEquals"
            | "DateNotEquals"
            | "NotIpAddress"
    )
}

/// A decimal number as IAM's Numeric operators read it (`[+-]digits[.digits]`), compared
/// exactly: `f64` would call 9007199254740993 and 9007199254740992 equal.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Decimal {
    negative: bool,
    /// Integer digits without leading zeros (`""` for zero).
    int: String,
    /// Fraction digits without trailing zeros.
    frac: String,
}

impl Decimal {
    fn parse(text: &str) -> Option<Decimal> {
        let t = text.trim();
        let (negative, digits) = match t.as_bytes().first() {
            Some(b'-') => (true, &t[1..]),
            Some(b'+') => (false, &t[1..]),
            _ => (false, t),
        };
        let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if (int.is_empty() && frac.is_empty()) || !all_digits(int) || !all_digits(frac) {
            return None;
        }
        let int = int.trim_start_matches('0').to_string();
        let frac = frac.trim_end_matches('0').to_string();
        let negative = negative && !(int.is_empty() && frac.is_empty());
        Some(Decimal { negative, int, frac })
    }
}

impl PartialOrd for Decimal {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Decimal {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        let magnitude = self
            .int
            .len()
            .cmp(&other.int.len())
            .then_with(|| self.int.cmp(&other.int))
            .then_with(|| self.frac.cmp(&other.frac));
        match (self.negative, other.negative) {
            (false, false) => magnitude,
            (true, true) => magnitude.reverse(),
            (false, true) => std::cmp::Ordering::Greater,
            (true, false) => std::cmp::Ordering::Less,
        }
    }
}

/// A Date operator value: epoch seconds, or the W3C profile of ISO 8601 that AWS documents
/// for policies (`2020-01-01`, `2020-01-01T00:00Z`, `2020-01-01T00:00:00Z`, with fractional
/// seconds or a `+hh:mm` offset). A date-time without a zone is read as UTC.
fn parse_date(text: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
    let t = text.trim();
    let digits = t.strip_prefix('-').unwrap_or(t);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return t.parse::<i64>().ok().and_then(|s| DateTime::from_timestamp(s, 0));
    }
    if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return d.and_hms_opt(0, 0, 0).map(|n| n.and_utc());
    }
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Some(d.with_timezone(&Utc));
    }
    if let Ok(d) = DateTime::parse_from_str(t, "%Y-%m-%dT%H:%M%:z") {
        return Some(d.with_timezone(&Utc));
    }
    let naive = t.strip_suffix('Z').or_else(|| t.strip_suffix('z')).unwrap_or(t);
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(naive, f).ok())
        .map(|n| n.and_utc())
}

/// An `IpAddress` operand: an IPv4 or IPv6 network in CIDR notation, or one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IpNet {
    V4(u32, u8),
    V6(u128, u8),
}

impl IpNet {
    fn parse(text: &str) -> Option<IpNet> {
        let t = text.trim();
        let (addr, prefix) = match t.split_once('/') {
            Some((a, p)) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                (a, Some(p.parse::<u8>().ok()?))
            }
            Some(_) => return None,
            None => (t, None),
        };
        match addr.parse::<std::net::IpAddr>().ok()? {
            std::net::IpAddr::V4(a) => {
                let p = prefix.unwrap_or(32);
                (p <= 32).then_some(IpNet::V4(u32::from(a), p))
            }
            std::net::IpAddr::V6(a) => {
                let p = prefix.unwrap_or(128);
                (p <= 128).then_some(IpNet::V6(u128::from(a), p))
            }
        }
    }

    /// Whether `addr` (an address, as the request carries it) lies in this network. IPv4 and
    /// IPv6 are separate: an IPv4 network does not contain an IPv4-mapped IPv6 address.
    fn contains(&self, addr: std::net::IpAddr) -> bool {
        match (self, addr) {
            (IpNet::V4(net, p), std::net::IpAddr::V4(a)) => {
                let mask = if *p == 0 { 0 } else { u32::MAX << (32 - u32::from(*p)) };
                (u32::from(a) & mask) == (net & mask)
            }
            (IpNet::V6(net, p), std::net::IpAddr::V6(a)) => {
                let mask = if *p == 0 { 0 } else { u128::MAX << (128 - u32::from(*p)) };
                (u128::from(a) & mask) == (net & mask)
            }
            _ => false,
        }
    }
}

/// For the typed operators (Numeric, Date, IP), whether each context value matches any
/// condition value in the operator's positive form. `None` when a value on either side does
/// not parse as the operator's type: IAM then treats the condition as not matching.
fn typed_matches(base: &str, context: &[String], values: &[String]) -> Option<Vec<bool>> {
    use std::cmp::Ordering::{Equal, Greater, Less};
    let holds = |o: std::cmp::Ordering| -> bool {
        let suffix = base.trim_start_matches("Numeric").trim_start_matches("Date");
        match suffix {
            "Equals" | "NotEquals" => o == Equal,
            "LessThan" => o == Less,
            "LessThanEquals" => o != Greater,
            "GreaterThan" => o == Greater,
            "GreaterThanEquals" => o != Less,
            _ => false,
        }
    };
    if base.starts_with("Numeric") {
        let cond: Vec<Decimal> = values.iter().map(|v| Decimal::parse(v)).collect::<Option<_>>()?;
        let ctx: Vec<Decimal> = context.iter().map(|v| Decimal::parse(v)).collect::<Option<_>>()?;
        Some(ctx.iter().map(|x| cond.iter().any(|c| holds(x.cmp(c)))).collect())
    } else if base.starts_with("Date") {
        let cond: Vec<_> = values.iter().map(|v| parse_date(v)).collect::<Option<_>>()?;
        let ctx: Vec<_> = context.iter().map(|v| parse_date(v)).collect::<Option<_>>()?;
        Some(ctx.iter().map(|x| cond.iter().any(|c| holds(x.cmp(c)))).collect())
    } else {
        let cond: Vec<IpNet> = values.iter().map(|v| IpNet::parse(v)).collect::<Option<_>>()?;
        let ctx: Vec<std::net::IpAddr> =
            context.iter().map(|v| v.trim().parse().ok()).collect::<Option<_>>()?;
        Some(ctx.iter().map(|a| cond.iter().any(|n| n.contains(*a))).collect())
    }
}

/// Evaluates one condition test against the request, as IAM documents it:
///
/// * a key the request lacks (or carries as an empty set): `...IfExists` matches, negated
///   operators match, `ForAllValues:` matches (the empty set is a subset of anything),
///   `ForAnyValue:` does not, and every other operator does not;
/// * without a set qualifier, a multi-valued key matches a positive operator when any of
///   its values matches any condition value, and a negated one when none does;
/// * `ForAnyValue:` matches when at least one request value passes the single-value test,
///   `ForAllValues:` when every one does (for a negated operator, the single-value test is
///   "matches none of the condition values");
/// * a Numeric, Date or IP value that does not parse, on either side, makes the condition
///   not match, whatever the operator.
fn eval_condition(c: &Condition, req: &Request, substitute: bool) -> Tri {
    let (qualifier, base, if_exists) = split_operator(&c.operator);
    let actual = match req.context_values(&c.key) {
        Context::Values(v) => Some(v),
        Context::Absent => None,
        Context::NotKnown => {
            return Tri::Unknown(format!(
                "condition {} on {}: the key's value is not known",
                c.operator, c.key
            ))
        }
    };
    if base == "Null" {
        if qualifier.is_some() {
            return Tri::Unknown(format!("condition operator {} is not supported", c.operator));
        }
        // Null: "true" means the key must be absent, "false" that it must be present.
        let absent = actual.is_none_or(<[String]>::is_empty);
        return Tri::or_any(c.values.iter().map(|v| match v.to_ascii_lowercase().as_str() {
            "true" => Tri::from_bool(absent),
            "false" => Tri::from_bool(!absent),
            other => Tri::Unknown(format!("Null condition on {} has a non-boolean value {other:?}", c.key)),
        }));
    }
    let negated = negated_operator(base);
    let actual = match actual {
        Some(v) if !v.is_empty() => v,
        // Absent key: decided here for every operator, even one we cannot compare values
        // for (`BinaryEquals`), as IAM does not look at the values then.
        _ => {
            return Tri::from_bool(match qualifier {
                Some("ForAllValues") => true,
                Some(_) => if_exists,
                None => if_exists || negated,
            })
        }
    };
    // Does each context value match any condition value (positive form)?
    let per_value: Vec<Tri> = match base {
        "NumericEquals"
        | "NumericNotEquals"
        | "NumericLessThan"
        | "NumericLessThanEquals"
        | "NumericGreaterThan"
        | "NumericGreaterThanEquals"
        | "DateEquals"
        | "DateNotEquals"
        | "DateLessThan"
        | "DateLessThanEquals"
        | "DateGreaterThan"
        | "DateGreaterThanEquals"
        | "IpAddress"
        | "NotIpAddress" => match typed_matches(base, actual, &c.values) {
            Some(v) => v.into_iter().map(Tri::from_bool).collect(),
            None => return Tri::No,
        },
        "Bool"
        | "StringEquals"
        | "StringNotEquals"
        | "StringEqualsIgnoreCase"
        | "StringNotEqualsIgnoreCase"
        | "StringLike"
        | "StringNotLike"
        | "ArnEquals"
        | "ArnLike"
        | "ArnNotEquals"
        | "ArnNotLike" => {
            // (wildcards, case-insensitive, ARN-aware)
            let (wildcards, ci, arn) = match base {
                "Bool" => (false, true, false),
                "StringEquals" | "StringNotEquals" => (false, false, false),
                "StringEqualsIgnoreCase" | "StringNotEqualsIgnoreCase" => (false, true, false),
                "StringLike" | "StringNotLike" => (true, false, false),
                // ArnEquals and ArnLike behave the same in IAM: per-part wildcard match.
                _ => (true, false, true),
            };
            let mut patterns = Vec::with_capacity(c.values.len());
            for cv in &c.values {
                let cv = if base == "Bool" { cv.as_str() } else { cv };
                match tokenize(cv, req, substitute && base != "Bool", wildcards) {
                    Ok(t) => patterns.push(t),
                    Err(r) => return Tri::Unknown(format!("condition on {}: {r}", c.key)),
                }
            }
            actual
                .iter()
                .map(|v| Tri::from_bool(patterns.iter().any(|p| match_tokens(p, v, ci, arn))))
                .collect()
        }
        _ => return Tri::Unknown(format!("condition operator {} is not supported", c.operator)),
    };
    let single = |t: Tri| if negated { t.not() } else { t };
    match qualifier {
        None => {
            let any = Tri::or_any(per_value);
            if negated {
                any.not()
            } else {
                any
            }
        }
        Some("ForAllValues") => Tri::and_all(per_value.into_iter().map(single)),
        Some(_) => Tri::or_any(per_value.into_iter().map(single)),
    }
}

fn statement_applies(s: &Statement, req: &Request, substitute: bool) -> Tri {
    statement_applies_with(s, req, substitute, &|c: &Condition| eval_condition(c, req, substitute))
}

/// [`statement_applies`] with the conditions judged by `condition` (the analyses decide some
/// conditions from the caller's side instead of from a request).
fn statement_applies_with(
    s: &Statement,
    req: &Request,
    substitute: bool,
    condition: &dyn Fn(&Condition) -> Tri,
) -> Tri {
    let action = match &s.actions {
        Actions::Action(p) => p.iter().any(|a| action_matches(a, &req.action)),
        Actions::NotAction(p) => !p.iter().any(|a| action_matches(a, &req.action)),
    };
    if !action {
        return Tri::No;
    }
    let resource = match &s.resources {
        Resources::Resource(p) => Tri::or_any(p.iter().map(|r| resource_matches(r, req, substitute))),
        Resources::NotResource(p) => {
            Tri::or_any(p.iter().map(|r| resource_matches(r, req, substitute))).not()
        }
    };
    if resource == Tri::No {
        return Tri::No;
    }
    let conditions = Tri::and_all(s.conditions.iter().map(condition));
    Tri::and_all([resource, conditions])
}

fn statement_name(s: &Statement, index: usize) -> String {
    format!("statement {}", label(s, index))
}

/// STS operations that IAM does not authorise at all. AWS documents for both that no
/// permission is needed and that a policy, even an explicit deny, cannot stop them
/// ("You cannot use policies to control authentication operations"); `GetSessionToken` is
/// how a user without MFA gets an MFA session in the first place.
pub const NO_PERMISSION_ACTIONS: &[&str] = &["sts:GetSessionToken", "sts:GetCallerIdentity"];

fn needs_no_permission(action: &str) -> bool {
    NO_PERMISSION_ACTIONS.iter().any(|a| a.eq_ignore_ascii_case(action))
}

/// Evaluates a request against all of a user's identity policies: an explicit deny wins,
/// then an allow, else the request is implicitly denied. If a statement that could change
/// that answer cannot be evaluated, the answer is [`Decision::Unknown`].
/// [`NO_PERMISSION_ACTIONS`] are always allowed.
pub fn evaluate(policies: &[PolicyDocument], req: &Request) -> Decision {
    evaluate_all(policies.iter(), req)
}

fn evaluate_all<'a>(policies: impl Iterator<Item = &'a PolicyDocument> + Clone, req: &Request) -> Decision {
    if needs_no_permission(&req.action) {
        return Decision::Allowed;
    }
    // Denies first: an explicit deny ends the evaluation whatever allows there are, and it is
    // usually one statement (the MFA deny), so most requests stop there.
    match any_applies(policies.clone(), req, Effect::Deny) {
        Tri::Yes => Decision::ExplicitlyDenied,
        Tri::Unknown(r) => Decision::Unknown(r),
        Tri::No => match any_applies(policies, req, Effect::Allow) {
            Tri::Yes => Decision::Allowed,
            Tri::Unknown(r) => Decision::Unknown(r),
            Tri::No => Decision::ImplicitlyDenied,
        },
    }
}

/// Whether a statement with `effect` applies to the request: `Yes` at the first that does,
/// else the first that could not be decided (named), else `No`.
fn any_applies<'a>(policies: impl Iterator<Item = &'a PolicyDocument>, req: &Request, effect: Effect) -> Tri {
    Tri::or_any(policies.flat_map(|doc| {
        let substitute = doc.substitutes_variables();
        doc.statements.iter().enumerate().filter(move |(_, s)| s.effect == effect).map(move |(i, s)| {
            match statement_applies(s, req, substitute) {
                Tri::Unknown(r) => Tri::Unknown(format!("{}: {r}", statement_name(s, i))),
                t => t,
            }
        })
    }))
}

/// Like [`evaluate`], from JSON texts: a document that does not parse makes the answer
/// [`Decision::Unknown`] with the parse error as the reason (never a pass).
pub fn evaluate_json(policies: &[&str], req: &Request) -> Decision {
    if needs_no_permission(&req.action) {
        return Decision::Allowed;
    }
    let mut docs = Vec::with_capacity(policies.len());
    for (i, text) in policies.iter().enumerate() {
        match PolicyDocument::parse(text) {
            Ok(d) => docs.push(d),
            Err(e) => return Decision::Unknown(format!("policy #{}: {e}", i + 1)),
        }
    }
    evaluate(&docs, req)
}

// ---------------------------------------------------------------------------------------
// Glob sets: containment, and a string that tells two patterns apart
// ---------------------------------------------------------------------------------------

/// A set of strings given by `*`/`?` globs, as an `Action`/`Resource` element gives one:
/// any string one of the patterns matches, or (for `NotAction`/`NotResource`) any string
/// none of them matches.
#[derive(Debug, Clone, PartialEq, Eq)]
enum GlobSet {
    AnyOf(Vec<Vec<Tok>>),
    NoneOf(Vec<Vec<Tok>>),
}

/// The analysis gave up: the patterns make too many automaton states to explore.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TooComplex;

/// How many automaton states a [`glob_witness`] search may visit before it gives up.
const GLOB_STATE_LIMIT: usize = 20_000;

/// The glob patterns (as tokens) a string must match: at least one pattern of every `all`
/// group, and none of the `none` patterns.
#[derive(Debug, Default)]
struct GlobQuery<'a> {
    all: Vec<&'a [Vec<Tok>]>,
    none: Vec<&'a [Tok]>,
}

impl<'a> GlobQuery<'a> {
    /// The string must be in `set`.
    fn inside(&mut self, set: &'a GlobSet) -> &mut Self {
        match set {
            GlobSet::AnyOf(p) => self.all.push(p),
            GlobSet::NoneOf(p) => self.none.extend(p.iter().map(Vec::as_slice)),
        }
        self
    }
    /// The string must not be in `set`.
    fn outside(&mut self, set: &'a GlobSet) -> &mut Self {
        match set {
            GlobSet::AnyOf(p) => self.none.extend(p.iter().map(Vec::as_slice)),
            GlobSet::NoneOf(p) => self.all.push(p),
        }
        self
    }
}

/// The positions a glob can be at after some input: a bit per position (`0..=len`).
fn glob_closure(p: &[Tok], set: &mut [bool]) {
    // A star may match nothing, so being before it is being after it too. Stars only lead
    // forward, so one forward pass closes the set.
    for i in 0..p.len() {
        if set[i] && p[i] == Tok::Star {
            set[i + 1] = true;
        }
    }
}

fn glob_step(p: &[Tok], set: &[bool], c: char, case_insensitive: bool) -> Vec<bool> {
    let mut next = vec![false; p.len() + 1];
    for i in 0..p.len() {
        if !set[i] {
            continue;
        }
        match p[i] {
            Tok::Star => next[i] = true,
            Tok::One => next[i + 1] = true,
            Tok::Lit(x) => {
                if x == c || (case_insensitive && x.eq_ignore_ascii_case(&c)) {
                    next[i + 1] = true;
                }
            }
        }
    }
    glob_closure(p, &mut next);
    next
}

/// A shortest string that satisfies `query`, `None` if there is none: the patterns are
/// compiled to automata whose product is explored breadth-first over the characters the
/// patterns name plus one they do not (every other character behaves like that one).
/// This decides containment exactly: A ⊆ B1 ∪ … ∪ Bn iff no string matches A and none of Bi.
fn glob_witness(query: &GlobQuery<'_>, case_insensitive: bool) -> Result<Option<String>, TooComplex> {
    let patterns: Vec<&[Tok]> = query
        .all
        .iter()
        .flat_map(|g| g.iter().map(Vec::as_slice))
        .chain(query.none.iter().copied())
        .collect();
    let mut groups: Vec<std::ops::Range<usize>> = Vec::with_capacity(query.all.len());
    let mut at = 0;
    for g in &query.all {
        groups.push(at..at + g.len());
        at += g.len();
    }
    let negatives = at..patterns.len();
    let norm = |c: char| if case_insensitive { c.to_ascii_lowercase() } else { c };
    let mut alphabet: BTreeSet<char> = patterns
        .iter()
        .flat_map(|p| p.iter())
        .filter_map(|t| match t {
            Tok::Lit(c) => Some(norm(*c)),
            _ => None,
        })
        .collect();
    if let Some(fresh) = "xqzjkvw0123456789_~#".chars().chain('\u{100}'..).find(|c| !alphabet.contains(c)) {
        alphabet.insert(fresh);
    }
    let alphabet: Vec<char> = alphabet.into_iter().collect();

    let start: Vec<Vec<bool>> = patterns
        .iter()
        .map(|p| {
            let mut s = vec![false; p.len() + 1];
            s[0] = true;
            glob_closure(p, &mut s);
            s
        })
        .collect();
    let accepts = |state: &[Vec<bool>], k: usize| state[k][patterns[k].len()];
    let satisfied = |state: &[Vec<bool>]| {
        groups.iter().all(|g| g.clone().any(|k| accepts(state, k)))
            && !negatives.clone().any(|k| accepts(state, k))
    };
    // A group none of whose patterns can still match is a dead end.
    let alive = |state: &[Vec<bool>]| groups.iter().all(|g| g.clone().any(|k| state[k].iter().any(|b| *b)));

    let mut seen: std::collections::HashMap<Vec<Vec<bool>>, usize> = std::collections::HashMap::new();
    // (state, parent index, character that led here)
    let mut nodes: Vec<(Vec<Vec<bool>>, usize, char)> = Vec::new();
    if !alive(&start) {
        return Ok(None);
    }
    seen.insert(start.clone(), 0);
    nodes.push((start, usize::MAX, '\0'));
    let mut next = 0;
    while next < nodes.len() {
        if satisfied(&nodes[next].0) {
            let mut text = Vec::new();
            let mut n = next;
            while nodes[n].1 != usize::MAX {
                text.push(nodes[n].2);
                n = nodes[n].1;
            }
            return Ok(Some(text.into_iter().rev().collect()));
        }
        for &c in &alphabet {
            let state: Vec<Vec<bool>> = patterns
                .iter()
                .zip(&nodes[next].0)
                .map(|(p, s)| glob_step(p, s, c, case_insensitive))
                .collect();
            if !alive(&state) || seen.contains_key(&state) {
                continue;
            }
            if nodes.len() >= GLOB_STATE_LIMIT {
                return Err(TooComplex);
            }
            seen.insert(state.clone(), nodes.len());
            nodes.push((state, next, c));
        }
        next += 1;
    }
    Ok(None)
}

/// Whether every string in `a` is in `b` (`None`: too complex to tell).
fn glob_set_subset(a: &GlobSet, b: &GlobSet, case_insensitive: bool) -> Option<bool> {
    let mut q = GlobQuery::default();
    q.inside(a).outside(b);
    glob_witness(&q, case_insensitive).ok().map(|w| w.is_none())
}

/// Action patterns as glob tokens (actions have no policy variables).
fn action_set(actions: &Actions) -> GlobSet {
    let toks = |v: &[String]| v.iter().map(|a| plain_tokens(a)).collect();
    match actions {
        Actions::Action(v) => GlobSet::AnyOf(toks(v)),
        Actions::NotAction(v) => GlobSet::NoneOf(toks(v)),
    }
}

fn plain_tokens(pattern: &str) -> Vec<Tok> {
    pattern
        .chars()
        .map(|c| match c {
            '*' => Tok::Star,
            '?' => Tok::One,
            c => Tok::Lit(c),
        })
        .collect()
}

/// Resource patterns as glob tokens, `${aws:username}` replaced by `username` (the
/// evaluator's own substitution). `Err` names a variable the evaluator does not know.
fn resource_set(resources: &Resources, username: &str, substitute: bool) -> Result<GlobSet, String> {
    let req = Request { username: username.to_string(), ..Request::default() };
    let toks = |v: &[String]| -> Result<Vec<Vec<Tok>>, String> {
        v.iter().map(|p| tokenize(p, &req, substitute, true)).collect()
    };
    Ok(match resources {
        Resources::Resource(v) => GlobSet::AnyOf(toks(v)?),
        Resources::NotResource(v) => GlobSet::NoneOf(toks(v)?),
    })
}

/// Stands for `${aws:username}` when statements are compared for every member at once: a
/// character no IAM user name (`[\w+=,.@-]`) and no policy pattern contains, so a pattern
/// with the variable is contained in another only if that one has the variable in the same
/// place or a wildcard over it.
const ANY_MEMBER: &str = "\u{E000}";

/// The statements of `extra` that may grant something no statement of `canonical` grants to
/// the same member: an Allow is covered when a single unconditional (or identically
/// conditioned, and no more) Allow of `canonical` contains its actions and its resources.
/// Denies never grant. When containment cannot be proven the statement is listed, so the
/// answer errs towards "grants more".
pub fn grants_beyond(canonical: &PolicyDocument, extra: &PolicyDocument) -> Vec<(usize, String)> {
    let cover: Vec<(GlobSet, Option<GlobSet>, Normalised)> = canonical
        .statements
        .iter()
        .filter(|s| s.effect == Effect::Allow)
        .map(|s| {
            (
                action_set(&s.actions),
                resource_set(&s.resources, ANY_MEMBER, canonical.substitutes_variables()).ok(),
                normalise(s),
            )
        })
        .collect();
    let mut out = Vec::new();
    for (i, s) in extra.statements.iter().enumerate() {
        if s.effect != Effect::Allow {
            continue;
        }
        let actions = action_set(&s.actions);
        let resources = resource_set(&s.resources, ANY_MEMBER, extra.substitutes_variables()).ok();
        let conditions = normalise(s).conditions;
        let covered = resources.as_ref().is_some_and(|r| {
            cover.iter().any(|(ca, cr, cn)| {
                // The canonical statement's conditions must all be among this one's: then
                // this one is at most as permissive.
                let narrower = cn.conditions.iter().all(|(op, keys)| {
                    keys.iter().all(|(k, vs)| conditions.get(op).and_then(|m| m.get(k)) == Some(vs))
                });
                narrower
                    && cr.as_ref().is_some_and(|cr| glob_set_subset(r, cr, false) == Some(true))
                    && glob_set_subset(&actions, ca, true) == Some(true)
            })
        });
        if !covered {
            out.push((i, describe(s, i)));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// Over-broad self-service statements
// ---------------------------------------------------------------------------------------

/// The test caller and victim used by [`overbroad_self_service`].
pub const PROBE_CALLER: &str = "alice";
pub const PROBE_VICTIM_USER_ARN: &str = "arn:aws:iam::123456789012:user/bob";
pub const PROBE_VICTIM_MFA_ARN: &str = "arn:aws:iam::123456789012:mfa/bob";

/// Which resource an IAM credential action is authorised on (AWS service authorisation
/// reference): the virtual MFA device, or the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    User,
    Mfa,
}

/// IAM actions that act on one user's credentials, and the resource they are authorised on.
const CREDENTIAL_ACTIONS: &[(&str, Target)] = &[
    ("iam:ChangePassword", Target::User),
    ("iam:CreateLoginProfile", Target::User),
    ("iam:DeleteLoginProfile", Target::User),
    ("iam:GetLoginProfile", Target::User),
    ("iam:UpdateLoginProfile", Target::User),
    ("iam:GetUser", Target::User),
    ("iam:CreateAccessKey", Target::User),
    ("iam:DeleteAccessKey", Target::User),
    ("iam:ListAccessKeys", Target::User),
    ("iam:UpdateAccessKey", Target::User),
    ("iam:DeleteSigningCertificate", Target::User),
    ("iam:ListSigningCertificates", Target::User),
    ("iam:UpdateSigningCertificate", Target::User),
    ("iam:UploadSigningCertificate", Target::User),
    ("iam:DeleteSSHPublicKey", Target::User),
    ("iam:GetSSHPublicKey", Target::User),
    ("iam:ListSSHPublicKeys", Target::User),
    ("iam:UpdateSSHPublicKey", Target::User),
    ("iam:UploadSSHPublicKey", Target::User),
    ("iam:CreateServiceSpecificCredential", Target::User),
    ("iam:DeleteServiceSpecificCredential", Target::User),
    ("iam:ListServiceSpecificCredentials", Target::User),
    ("iam:ResetServiceSpecificCredential", Target::User),
    ("iam:UpdateServiceSpecificCredential", Target::User),
    ("iam:CreateVirtualMFADevice", Target::Mfa),
    ("iam:DeleteVirtualMFADevice", Target::Mfa),
    ("iam:DeactivateMFADevice", Target::User),
    ("iam:EnableMFADevice", Target::User),
    ("iam:ListMFADevices", Target::User),
    ("iam:ResyncMFADevice", Target::User),
];

/// Account-level IAM actions: they support no resource-level scoping (resource `*`), so an
/// allow on them cannot be narrowed to one's own user and does not touch anyone's credentials.
const ACCOUNT_LEVEL_ACTIONS: &[&str] = &[
    "iam:GetAccountPasswordPolicy",
    "iam:GetAccountSummary",
    "iam:ListVirtualMFADevices",
    "iam:ListAccountAliases",
    "iam:ListUsers",
    "iam:GetAccountAuthorizationDetails",
    "iam:GetCredentialReport",
    "iam:GenerateCredentialReport",
];

/// A self-service statement that lets a user act on another user's credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overbroad {
    /// The statement's Sid, or `#n` (1-based) without one.
    pub sid: String,
    /// The statement's position in the document, to read the rest of it.
    pub statement: usize,
    /// The IAM action, e.g. `iam:DeleteVirtualMFADevice`.
    pub action: String,
    pub reason: String,
    /// `false` when the evaluator could not tell (the reason says why): such an entry makes
    /// the check `unknown`, it is not reported as a proven over-broad statement.
    pub certain: bool,
}

/// The concrete IAM actions a statement allows, to probe: literal `iam:` actions as
/// written (except account-level ones), and the known credential actions a wildcard or
/// `NotAction` covers.
fn probe_actions(s: &Statement) -> Vec<(String, Vec<Target>)> {
    let target_of = |a: &str| -> Vec<Target> {
        CREDENTIAL_ACTIONS
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(a))
            .map_or_else(|| vec![Target::User, Target::Mfa], |(_, t)| vec![*t])
    };
    let account_level = |a: &str| ACCOUNT_LEVEL_ACTIONS.iter().any(|n| n.eq_ignore_ascii_case(a));
    let mut out: Vec<(String, Vec<Target>)> = Vec::new();
    let mut push = |a: String| {
        if !out.iter().any(|(x, _)| x.eq_ignore_ascii_case(&a)) {
            let t = target_of(&a);
            out.push((a, t));
        }
    };
    match &s.actions {
        Actions::Action(patterns) => {
            for p in patterns {
                let wildcard = p.contains('*') || p.contains('?');
                if !wildcard {
                    if p.to_ascii_lowercase().starts_with("iam:") && !account_level(p) {
                        push(p.clone());
                    }
                } else {
                    for (a, _) in CREDENTIAL_ACTIONS {
                        if action_matches(p, a) {
                            push((*a).to_string());
                        }
                    }
                }
            }
        }
        Actions::NotAction(patterns) => {
            for (a, _) in CREDENTIAL_ACTIONS {
                if !patterns.iter().any(|p| action_matches(p, a)) {
                    push((*a).to_string());
                }
            }
        }
    }
    out
}

/// Condition keys that name the caller. A member cannot choose them: they decide *who* may
/// make the request, so the over-broad probe judges them for the caller it picked. Every
/// other key is something the member controls (MFA, time, source IP, TLS, region, tags it
/// passes) or may find satisfied (tags on the victim, its own principal tags); the probe
/// counts those as satisfiable, so that a statement is flagged unless only the victim could
/// meet it.
const CALLER_IDENTITY_KEYS: &[&str] = &["aws:username", "aws:PrincipalArn"];

fn is_caller_identity_key(key: &str) -> bool {
    CALLER_IDENTITY_KEYS.iter().any(|k| k.eq_ignore_ascii_case(key))
}

/// The account of the probe's victim when a statement does not name one.
const PROBE_ACCOUNT: &str = "123456789012";

/// The callers to probe a statement with: [`PROBE_CALLER`], and every user a condition on
/// the caller's identity names (`aws:username` = `helpdesk` makes `helpdesk` the caller who
/// might reach others).
fn probe_callers(s: &Statement) -> Vec<String> {
    let mut out = vec![PROBE_CALLER.to_string()];
    for c in s.conditions.iter().filter(|c| is_caller_identity_key(&c.key)) {
        for v in &c.values {
            let name = v.rsplit('/').next().unwrap_or(v).replace('*', "keywarden-probe").replace('?', "x");
            if !name.is_empty() && !name.contains("${") && !out.iter().any(|o| o.eq_ignore_ascii_case(&name))
            {
                out.push(name);
            }
        }
    }
    out
}

/// The name of the IAM user or virtual MFA device a concrete IAM ARN is about, with the
/// resource type (`user` or `mfa`), e.g. `arn:aws:iam::1:user/dev/bob` → (`user`, `bob`).
fn iam_subject(arn: &str) -> Option<(&str, &str)> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    if parts.len() != 6 || parts[0] != "arn" || parts[2] != "iam" {
        return None;
    }
    let (kind, rest) = parts[5].split_once('/')?;
    let name = rest.rsplit('/').next().unwrap_or(rest);
    ((kind == "user" || kind == "mfa") && !name.is_empty()).then_some((kind, name))
}

/// The victims' resources to probe for `caller` and an action authorised on `target`: the
/// default victim's, and every concrete user or device a resource pattern of the statement
/// reaches that is not the caller's own (`user/${aws:username}*` reaches `alicekeywarden-probe`;
/// `arn:aws:iam::555555555555:user/*` reaches a user of that account).
fn probe_victims(s: &Statement, caller: &str, target: Target, substitute: bool) -> Vec<String> {
    let kind = match target {
        Target::User => "user",
        Target::Mfa => "mfa",
    };
    let default = if caller.eq_ignore_ascii_case("bob") { "carol" } else { "bob" };
    let mut out = vec![format!("arn:aws:iam::{PROBE_ACCOUNT}:{kind}/{default}")];
    if let Resources::Resource(patterns) = &s.resources {
        for p in patterns {
            let arn = concrete_resource(p, "iam:x", caller, PROBE_ACCOUNT, substitute);
            if let Some((k, name)) = iam_subject(&arn) {
                if k == kind && !name.eq_ignore_ascii_case(caller) && !out.contains(&arn) {
                    out.push(arn);
                }
            }
        }
    }
    out
}

/// One Allow statement of a self-service policy that lets a member act on another user's
/// credentials, found among several documents (see [`overbroad_in`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverbroadIn {
    /// Index of the document in the slice given to [`overbroad_in`].
    pub policy: usize,
    pub finding: Overbroad,
}

/// Finds Allow statements that let a member of a group act on credentials of a user other
/// than themselves, judging every document the group carries together: a Deny in any of them
/// takes an allow back, wherever it is written.
///
/// For each IAM action a statement allows, the evaluator asks whether some caller may perform
/// it on some other user's resource (the default [`PROBE_CALLER`] on
/// [`PROBE_VICTIM_USER_ARN`] or [`PROBE_VICTIM_MFA_ARN`], plus the callers and victims the
/// statement itself names, see [`probe_callers`] and [`probe_victims`]). Conditions are
/// judged from the member's side: a condition on the caller's identity
/// ([`CALLER_IDENTITY_KEYS`]) is evaluated for the chosen caller; every other condition of the
/// Allow counts as met (a member can sign in with MFA, pick the time, network and region,
/// and pass tags), and every other condition of a Deny as avoidable. So an allow conditioned
/// on `aws:MultiFactorAuthAge` is over-broad when its resource is, and a deny only counts when
/// it applies whatever the member does. An answer the evaluator cannot give is reported too
/// (`certain: false`), never passed.
pub fn overbroad_in(docs: &[&PolicyDocument]) -> Vec<OverbroadIn> {
    let mut out = Vec::new();
    for (d, doc) in docs.iter().enumerate() {
        let substitute = doc.substitutes_variables();
        for (i, s) in doc.statements.iter().enumerate() {
            if s.effect != Effect::Allow {
                continue;
            }
            let sid = label(s, i);
            for (action, targets) in probe_actions(s) {
                if let Some((certain, reason)) = overbroad_action(docs, s, substitute, &action, &targets) {
                    out.push(OverbroadIn {
                        policy: d,
                        finding: Overbroad { sid: sid.clone(), statement: i, action, reason, certain },
                    });
                }
            }
        }
    }
    out
}

/// Whether statement `s` lets some caller call `action` on another user's resource, with
/// the reason (`true`: proven, `false`: the evaluator could not tell).
fn overbroad_action(
    docs: &[&PolicyDocument],
    s: &Statement,
    substitute: bool,
    action: &str,
    targets: &[Target],
) -> Option<(bool, String)> {
    let mut unsure = None;
    for caller in probe_callers(s) {
        for &target in targets {
            for victim in probe_victims(s, &caller, target, substitute) {
                let account = victim.split(':').nth(4).unwrap_or(PROBE_ACCOUNT).to_string();
                let req = Request::new(action, &victim, &caller)
                    .with_mfa(true)
                    .with_context("aws:PrincipalArn", &format!("arn:aws:iam::{account}:user/{caller}"));
                let granted = statement_applies_with(s, &req, substitute, &|c: &Condition| {
                    if is_caller_identity_key(&c.key) {
                        eval_condition(c, &req, substitute)
                    } else {
                        Tri::Yes
                    }
                });
                let denied = Tri::or_any(docs.iter().flat_map(|doc| {
                    let sub = doc.substitutes_variables();
                    let req = &req;
                    doc.statements.iter().filter(|d| d.effect == Effect::Deny).map(move |d| {
                        statement_applies_with(d, req, sub, &|c: &Condition| {
                            if is_caller_identity_key(&c.key) {
                                eval_condition(c, req, sub)
                            } else {
                                Tri::No
                            }
                        })
                    })
                }));
                match (granted, denied) {
                    (Tri::Yes, Tri::No) => {
                        return Some((
                            true,
                            format!(
                                "allows user {caller} to call {action} on another user's resource {victim}"
                            ),
                        ))
                    }
                    (Tri::Unknown(r), _) | (Tri::Yes, Tri::Unknown(r)) => {
                        unsure.get_or_insert_with(|| {
                            format!("cannot tell whether user {caller} may call {action} on {victim}: {r}")
                        });
                    }
                    _ => {}
                }
            }
        }
    }
    unsure.map(|r| (false, r))
}

/// Finds Allow statements of one self-service policy that let a user act on credentials of
/// another user: [`overbroad_in`] for a group that carries this document alone.
pub fn overbroad_self_service(doc: &PolicyDocument) -> Vec<Overbroad> {
    overbroad_in(&[doc]).into_iter().map(|o| o.finding).collect()
}

/// Parses a document and runs [`overbroad_self_service`].
pub fn overbroad_self_service_json(text: &str) -> Result<Vec<Overbroad>, PolicyError> {
    Ok(overbroad_self_service(&PolicyDocument::parse(text)?))
}

// ---------------------------------------------------------------------------------------
// Is MFA enforced for a user?
// ---------------------------------------------------------------------------------------

/// How a request without MFA reaches AWS. The two differ in what IAM sees: a long-term
/// access key carries no `aws:MultiFactorAuthPresent` key at all, a console session without
/// MFA carries it as `false`. A deny written with `Bool` instead of `BoolIfExists` stops the
/// second and lets the first through, which is the classic broken MFA policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Session {
    AccessKey,
    ConsoleWithoutMfa,
}

impl fmt::Display for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Session::AccessKey => "with a long-term access key (no MFA context)",
            Session::ConsoleWithoutMfa => "in a console session without MFA",
        })
    }
}

/// A request a user may make without MFA, and the statement that grants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MfaGap {
    pub action: String,
    /// The resource as the granting statement writes it (e.g. `*`).
    pub resource: String,
    /// The concrete request resource the evaluator allowed, e.g. `arn:aws:s3:::…` for `*`.
    pub example: String,
    pub session: Session,
    /// `<policy label>, statement <sid or #n>`.
    pub granted_by: String,
}

/// The answer to "can this user do something sensitive without MFA?".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MfaEnforcement {
    /// Every sensitive request the user's policies allow is denied without MFA (or the user
    /// is allowed nothing sensitive at all).
    Enforced,
    NotEnforced(MfaGap),
    /// Some request could not be decided; the reason says which and why.
    Unknown(String),
}

/// Whom an [`MfaEnforcement`] answer holds for ([`MfaProber::check_reusable`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holds {
    /// Every user with the same documents in the same account: the user's name decided
    /// nothing on the way to the answer, so the next member need not be analysed again.
    ForEveryName,
    /// This user only: the name entered a condition, or a resource compared beyond a
    /// Deny on every resource (the user's own ARNs, `${aws:username}`, an example ARN).
    ForThisUser,
}

/// Whether a document can make a condition's outcome depend on who asks: a condition on
/// `aws:username`, or a policy variable in a condition key or value.
fn conditions_read_username(doc: &PolicyDocument) -> bool {
    doc.statements.iter().flat_map(|s| &s.conditions).any(|c| {
        c.key.eq_ignore_ascii_case("aws:username")
            || c.key.contains("${")
            || c.values.iter().any(|v| v.contains("${"))
    })
}

/// Well-known sensitive actions used to probe wildcard and `NotAction` allows: one from
/// each family an attacker with a stolen key reaches for first.
const PROBE_ACTIONS: &[&str] = &[
    "iam:CreateUser",
    "iam:CreateAccessKey",
    "iam:AttachUserPolicy",
    "iam:PutUserPolicy",
    "iam:PassRole",
    "sts:AssumeRole",
    "ec2:DescribeInstances",
    "ec2:RunInstances",
    "s3:ListAllMyBuckets",
    "s3:GetObject",
    "s3:PutObject",
    "kms:Decrypt",
    "secretsmanager:GetSecretValue",
    "ssm:GetParameter",
    "lambda:InvokeFunction",
    "dynamodb:Scan",
    "cloudtrail:StopLogging",
    "organizations:LeaveOrganization",
];

/// The MFA condition keys a session decides; every other key the analysis does not set has
/// a value it cannot know.
const MFA_PRESENT: &str = "aws:MultiFactorAuthPresent";
const MFA_AGE: &str = "aws:MultiFactorAuthAge";

/// Requests of this shape only: a service prefix, a colon, a name. A witness for "some
/// action" is drawn from these, so the analysis never reports an empty string as an action.
const ACTION_SHAPE: &str = "?*:?*";

/// What covers some requests made without MFA, so that an allow of them is no gap: a Deny
/// that applies in the session whatever else the request carries, or a set of requests
/// that needs no MFA by design (see [`MfaProber`]).
#[derive(Debug, Clone)]
struct Cover {
    /// Shared: the same Deny (and the same by-design exemptions) cover every user.
    actions: Rc<GlobSet>,
    resources: Rc<GlobSet>,
    /// The action patterns as written ([`actions_key`]), to look up [`MfaProber`]'s memos.
    key: Rc<str>,
}

/// A text that identifies an `Action`/`NotAction` element, and nothing else: each part is
/// prefixed with its length, so no pattern's characters can make two elements one key.
fn actions_key(actions: &Actions) -> String {
    let mut key = String::from(actions.element());
    for p in actions.patterns() {
        push_key_part(&mut key, p);
    }
    key
}

/// Appends `part` to a memo key so that the key can be split back unambiguously.
fn push_key_part(key: &mut String, part: &str) {
    use fmt::Write as _;
    let _ = write!(key, "|{}:{part}", part.len());
}

/// [`action_regions`] answers, by the patterns they were asked about.
type RegionMemo = std::collections::HashMap<String, Result<Regions, TooComplex>>;

/// What an Allow statement's action element alone decides, the same for every user (actions
/// hold no policy variables): its glob set and the actions to try first.
#[derive(Debug)]
struct ActionProbe {
    set: GlobSet,
    candidates: Vec<String>,
}

/// The covers of one session, and a key naming their actions for [`MfaProber`]'s memos.
#[derive(Debug, Clone, Copy)]
struct Covers<'a> {
    list: &'a [Cover],
    key: &'a str,
}

/// For each of an [`ActionProbe`]'s candidates, which covers' actions contain it: a
/// function of the statement's actions and the covers' actions only.
type Insides = Rc<Vec<Vec<bool>>>;

/// Each set of covers (a bit per cover) some action meets, with the shortest such action.
type Regions = Rc<Vec<(Vec<bool>, String)>>;

/// The request a session without MFA makes, for conditions: the MFA keys as the session
/// carries them, every other key of unknown value.
fn session_request(action: &str, resource: &str, username: &str, session: Session) -> Request {
    let req = Request::new(action, resource, username);
    match session {
        Session::AccessKey => req.with_only_absent(&[MFA_PRESENT, MFA_AGE]),
        Session::ConsoleWithoutMfa => req.with_mfa(false).with_only_absent(&[MFA_AGE]),
    }
}

/// Resource patterns as glob tokens for the user, an unknown policy variable widened to `*`:
/// what an Allow grants is then over-approximated, never under.
fn resource_set_widened(resources: &Resources, username: &str, substitute: bool) -> GlobSet {
    let req = Request { username: username.to_string(), ..Request::default() };
    let toks = |v: &[String]| -> Vec<Vec<Tok>> {
        v.iter()
            .map(|p| {
                tokenize(p, &req, substitute, true).unwrap_or_else(|_| {
                    let mut out = Vec::new();
                    let mut rest = p.as_str();
                    while let Some(start) = rest.find("${") {
                        out.extend(plain_tokens(&rest[..start]));
                        out.push(Tok::Star);
                        rest = rest[start..].find('}').map_or("", |end| &rest[start + end + 1..]);
                    }
                    out.extend(plain_tokens(rest));
                    out
                })
            })
            .collect()
    };
    match resources {
        Resources::Resource(v) => GlobSet::AnyOf(toks(v)),
        // Widening a NotResource pattern would narrow the set; keep the text literal, and
        // let the evaluator report the variable for a concrete request.
        Resources::NotResource(v) => GlobSet::NoneOf(v.iter().map(|p| plain_tokens(p)).collect()),
    }
}

fn set_contains(set: &GlobSet, text: &str, case_insensitive: bool) -> bool {
    let hit = |pats: &[Vec<Tok>]| {
        if text.is_ascii() {
            // Without allocating: called for every candidate request and every cover.
            let eq = |a: char, b: u8| {
                if case_insensitive {
                    a.eq_ignore_ascii_case(&(b as char))
                } else {
                    a == b as char
                }
            };
            let kind = |t: &Tok| match t {
                Tok::Star => Wild::Star,
                Tok::One => Wild::One,
                Tok::Lit(_) => Wild::Lit,
            };
            pats.iter()
                .any(|p| glob_with(p, text.as_bytes(), kind, |t, b| matches!(t, Tok::Lit(x) if eq(*x, *b))))
        } else {
            let chars: Vec<char> = text.chars().collect();
            pats.iter().any(|p| glob(p, &chars, case_insensitive))
        }
    };
    match set {
        GlobSet::AnyOf(p) => hit(p),
        GlobSet::NoneOf(p) => !hit(p),
    }
}

/// Whether the set is everything (a bare `*` among an `AnyOf`): the common case of a
/// deny on `Resource: "*"`, decided without building an automaton.
fn is_universal(set: &GlobSet) -> bool {
    matches!(set, GlobSet::AnyOf(p) if p.iter().any(|t| t.as_slice() == [Tok::Star]))
}

/// The ways an action in `inside` can relate to the covers: each distinct set of covers
/// (a bit per cover) that contains some action of `inside`, with the shortest such action.
/// Explores the product automaton of all the patterns completely.
///
/// A state keeps only the patterns that can still match, each as a bit set of positions
/// (patterns longer than 63 tokens fall back to [`action_regions_dense`]): most cover
/// patterns are literal action names, which die at their first wrong character, so a
/// state is a handful of words however many actions the covers list. The answer is the
/// same as the dense exploration's, region for region and witness for witness.
fn action_regions(inside: &GlobSet, covers: &[&GlobSet]) -> Result<Vec<(Vec<bool>, String)>, TooComplex> {
    let shape = GlobSet::AnyOf(vec![plain_tokens(ACTION_SHAPE)]);
    let sets: Vec<&GlobSet> = [inside, &shape].into_iter().chain(covers.iter().copied()).collect();
    let patterns: Vec<(usize, &[Tok])> = sets
        .iter()
        .enumerate()
        .flat_map(|(k, s)| match s {
            GlobSet::AnyOf(p) | GlobSet::NoneOf(p) => p.iter().map(move |t| (k, t.as_slice())),
        })
        .collect();
    if patterns.iter().any(|(_, p)| p.len() >= 64) || patterns.len() > usize::from(u16::MAX) {
        return action_regions_dense(inside, covers);
    }
    let alphabet = action_alphabet(&patterns);
    let stars: Vec<u64> = patterns.iter().map(|(_, p)| positions(p, |t| *t == Tok::Star)).collect();
    // Per pattern and character: the positions a character moves past (`?` and matching
    // literals, compared case-insensitively as action names are).
    let steps: Vec<Vec<u64>> = patterns
        .iter()
        .map(|(_, p)| {
            alphabet
                .iter()
                .map(|c| {
                    positions(p, |t| match t {
                        Tok::One => true,
                        Tok::Lit(x) => x.eq_ignore_ascii_case(c),
                        Tok::Star => false,
                    })
                })
                .collect()
        })
        .collect();
    let closure = |j: usize, mut m: u64| -> u64 {
        // A star may match nothing: being before it is being after it.
        loop {
            let next = m | ((m & stars[j]) << 1);
            if next == m {
                return m;
            }
            m = next;
        }
    };
    let accepts = |j: usize, m: u64| m & (1u64 << patterns[j].1.len()) != 0;
    let hits = |state: &[(u16, u64)]| -> Vec<bool> {
        let mut hit = vec![false; sets.len()];
        for &(j, m) in state {
            if accepts(usize::from(j), m) {
                hit[patterns[usize::from(j)].0] = true;
            }
        }
        hit.iter()
            .zip(&sets)
            .map(|(h, s)| match s {
                GlobSet::AnyOf(_) => *h,
                GlobSet::NoneOf(_) => !*h,
            })
            .collect()
    };
    let dead = |state: &[(u16, u64)]| -> bool {
        // `inside` or the shape can no longer match.
        (0..2).any(|k| {
            matches!(sets[k], GlobSet::AnyOf(_))
                && !state.iter().any(|(j, _)| patterns[usize::from(*j)].0 == k)
        })
    };
    let start: Vec<(u16, u64)> =
        (0..patterns.len()).filter_map(|j| u16::try_from(j).ok().map(|id| (id, closure(j, 1)))).collect();
    let mut seen: std::collections::HashSet<Vec<(u16, u64)>> = std::collections::HashSet::new();
    let mut queue: std::collections::VecDeque<(Vec<(u16, u64)>, String)> = std::collections::VecDeque::new();
    let mut regions: Vec<(Vec<bool>, String)> = Vec::new();
    seen.insert(start.clone());
    queue.push_back((start, String::new()));
    while let Some((state, text)) = queue.pop_front() {
        let member = hits(&state);
        if member[0] && member[1] {
            let covered = member[2..].to_vec();
            if !regions.iter().any(|(c, _)| *c == covered) {
                regions.push((covered, text.clone()));
            }
        }
        for (ci, &c) in alphabet.iter().enumerate() {
            let next: Vec<(u16, u64)> = state
                .iter()
                .filter_map(|&(j, m)| {
                    let jj = usize::from(j);
                    let moved = ((m & steps[jj][ci]) << 1) | (m & stars[jj]);
                    (moved != 0).then(|| (j, closure(jj, moved)))
                })
                .collect();
            if dead(&next) || seen.contains(&next) {
                continue;
            }
            if seen.len() >= GLOB_STATE_LIMIT {
                return Err(TooComplex);
            }
            seen.insert(next.clone());
            let mut t = text.clone();
            t.push(c);
            queue.push_back((next, t));
        }
    }
    Ok(regions)
}

/// The positions of `p` whose token `f` selects, as bits (`p` is shorter than 64 tokens).
fn positions(p: &[Tok], f: impl Fn(&Tok) -> bool) -> u64 {
    p.iter().enumerate().filter(|(_, t)| f(t)).fold(0, |m, (i, _)| m | (1u64 << i))
}

/// The characters the exploration tries: every literal the patterns name (lower-case),
/// plus one they do not, which stands for every other character.
fn action_alphabet(patterns: &[(usize, &[Tok])]) -> BTreeSet<char> {
    let mut alphabet: BTreeSet<char> = patterns
        .iter()
        .flat_map(|(_, p)| p.iter())
        .filter_map(|t| match t {
            Tok::Lit(c) => Some(c.to_ascii_lowercase()),
            _ => None,
        })
        .collect();
    if let Some(fresh) = "xqzjkvw".chars().chain('\u{100}'..).find(|c| !alphabet.contains(c)) {
        alphabet.insert(fresh);
    }
    alphabet
}

/// [`action_regions`] over dense states (a flag per position of every pattern): for
/// patterns too long for a word of bits.
fn action_regions_dense(
    inside: &GlobSet,
    covers: &[&GlobSet],
) -> Result<Vec<(Vec<bool>, String)>, TooComplex> {
    let shape = GlobSet::AnyOf(vec![plain_tokens(ACTION_SHAPE)]);
    let sets: Vec<&GlobSet> = [inside, &shape].into_iter().chain(covers.iter().copied()).collect();
    let patterns: Vec<(usize, &[Tok])> = sets
        .iter()
        .enumerate()
        .flat_map(|(k, s)| match s {
            GlobSet::AnyOf(p) | GlobSet::NoneOf(p) => p.iter().map(move |t| (k, t.as_slice())),
        })
        .collect();
    let alphabet = action_alphabet(&patterns);
    let member = |state: &[Vec<bool>], k: usize| -> bool {
        let hit = patterns.iter().zip(state).any(|((j, p), s)| *j == k && s[p.len()]);
        match sets[k] {
            GlobSet::AnyOf(_) => hit,
            GlobSet::NoneOf(_) => !hit,
        }
    };
    let dead = |state: &[Vec<bool>]| -> bool {
        // `inside` or the shape can no longer match.
        (0..2).any(|k| {
            matches!(sets[k], GlobSet::AnyOf(_))
                && patterns.iter().zip(state).all(|((j, _), s)| *j != k || !s.iter().any(|b| *b))
        })
    };
    let start: Vec<Vec<bool>> = patterns
        .iter()
        .map(|(_, p)| {
            let mut s = vec![false; p.len() + 1];
            s[0] = true;
            glob_closure(p, &mut s);
            s
        })
        .collect();
    let mut seen: std::collections::HashSet<Vec<Vec<bool>>> = std::collections::HashSet::new();
    let mut queue: std::collections::VecDeque<(Vec<Vec<bool>>, String)> = std::collections::VecDeque::new();
    let mut regions: Vec<(Vec<bool>, String)> = Vec::new();
    seen.insert(start.clone());
    queue.push_back((start, String::new()));
    while let Some((state, text)) = queue.pop_front() {
        if member(&state, 0) && member(&state, 1) {
            let covered: Vec<bool> = (2..sets.len()).map(|k| member(&state, k)).collect();
            if !regions.iter().any(|(c, _)| *c == covered) {
                regions.push((covered, text.clone()));
            }
        }
        for &c in &alphabet {
            let next: Vec<Vec<bool>> =
                patterns.iter().zip(&state).map(|((_, p), s)| glob_step(p, s, c, true)).collect();
            if dead(&next) || seen.contains(&next) {
                continue;
            }
            if seen.len() >= GLOB_STATE_LIMIT {
                return Err(TooComplex);
            }
            seen.insert(next.clone());
            let mut t = text.clone();
            t.push(c);
            queue.push_back((next, t));
        }
    }
    Ok(regions)
}

/// The actions AWS's `Force_MFA` tutorial lets a user call before signing in with MFA
/// ("IAM: Allows MFA-authenticated IAM users to manage their own credentials on the Security
/// credentials page", IAM User Guide): the `NotAction` list of its `DenyAllExceptListedIfNoMFA`
/// statement (set up and resynchronise one's own virtual MFA device, see one's own user),
/// and the options the same page documents: `iam:ListUsers` (to use the Users page),
/// `iam:CreateLoginProfile` (to set one's password from one's own user page), and
/// `iam:ChangePassword` with `iam:GetAccountPasswordPolicy` (to change an expired password
/// at sign-in). A user who can call these without MFA is not an MFA-enforcement failure where
/// [`PreMfaScope`] says; anywhere else they are judged like any other action. Whether a policy
/// reaches other users with them is the over-broad check's concern too.
pub const PRE_MFA_BOOTSTRAP_ACTIONS: &[(&str, PreMfaScope)] = &[
    ("iam:CreateVirtualMFADevice", PreMfaScope::AnyResource),
    ("iam:EnableMFADevice", PreMfaScope::AnyResource),
    ("iam:GetUser", PreMfaScope::AnyResource),
    ("iam:ListMFADevices", PreMfaScope::AnyResource),
    ("iam:ResyncMFADevice", PreMfaScope::AnyResource),
    ("iam:ChangePassword", PreMfaScope::OwnResources),
    ("iam:CreateLoginProfile", PreMfaScope::OwnResources),
    ("iam:ListVirtualMFADevices", PreMfaScope::Account),
    ("iam:ListUsers", PreMfaScope::Account),
    ("iam:GetAccountPasswordPolicy", PreMfaScope::Account),
];

/// Where a [`PRE_MFA_BOOTSTRAP_ACTIONS`] action needs no MFA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreMfaScope {
    /// The canonical control's own exemptions (its Deny's `NotAction` list): that Deny spares
    /// them on every resource, so they need no MFA wherever the user's Allows reach. Judged
    /// more narrowly, every administrator in the MFA group would be a finding that only a
    /// drift from the canonical policy could fix; where the self-service policy itself
    /// reaches other users' devices, the over-broad check says so.
    AnyResource,
    /// The documented options beyond the canonical policy (`iam:CreateLoginProfile`,
    /// `iam:ChangePassword`), on the user's own IAM user (under any path) and own virtual MFA device
    /// (`arn:aws:iam::*:user/<name>`, `…:user/*/<name>`, `…:mfa/<name>`).
    OwnResources,
    /// Account-level listings that support no resource-level scoping: any resource.
    Account,
}

/// Decides whether MFA is enforced for a user: every request an Allow statement grants in a
/// session without MFA (a long-term access key, or a console session without MFA) must be
/// covered, i.e. lie within the actions *and* resources of a Deny that provably applies in
/// that session, or within the requests that need no MFA by design.
///
/// The proof is glob containment, not sampling: an Allow's actions and resources (with
/// `NotAction`/`NotResource`) are compared with the Denies' as sets of strings, exactly, by
/// automata over the patterns; so a Deny on `arn:aws:*:*:<account>:*` does not cover an
/// allow on `*`, which also reaches `arn:aws:s3:::bucket/key` and region-less IAM ARNs.
/// Each uncovered part is then tried as a concrete request with the evaluator: an allowed one
/// is the gap reported ([`MfaEnforcement::NotEnforced`]); a part no concrete request confirms
/// makes the answer [`MfaEnforcement::Unknown`], never "enforced".
///
/// What it decides with: a Deny counts for a session only if every condition of it is
/// definitely true there (conditions on keys other than the MFA keys and `aws:username` are
/// of unknown value, so a Deny limited to a network or a time counts for nothing); an Allow
/// is skipped for a session only if one of its conditions is definitely false there (e.g.
/// `Bool aws:MultiFactorAuthPresent true`, or `NumericLessThan aws:MultiFactorAuthAge`); any
/// other condition of an Allow is assumed met. What it does not model: service control
/// policies, permission boundaries, session policies and resource-based policies (which can
/// only narrow an identity-policy allow, or grant cross-account access the analysis does not
/// see), and which resource types an action really accepts.
#[derive(Debug, Clone)]
pub struct MfaProber {
    /// [`action_regions`] answers by their patterns: the same group policies are analysed
    /// for every member, and actions hold no policy variables.
    regions: std::cell::RefCell<RegionMemo>,
    /// [`ActionProbe`]s by [`actions_key`]: every member of a group has the same statements.
    probes: std::cell::RefCell<std::collections::HashMap<String, Rc<ActionProbe>>>,
    /// [`Insides`] by the statement's and the covers' action keys.
    insides: std::cell::RefCell<std::collections::HashMap<String, Insides>>,
    /// The by-design exemptions' action sets (`[no permission, account, own, canonical]`),
    /// built once: only the own resources differ between users.
    exempt_actions: [Rc<GlobSet>; 4],
    /// `*`, the resources of the exemptions that are not limited to the user's own.
    anywhere: Rc<GlobSet>,
    /// Set when a statement's resources were compared with its covers' beyond the check
    /// for a Deny on every resource: only from there on do the user's name (in the own
    /// resources, in `${aws:username}`, in example ARNs) and the evaluator's answer for a
    /// concrete request enter the analysis ([`check_reusable`](Self::check_reusable)).
    resources_compared: std::cell::Cell<bool>,
}

impl Default for MfaProber {
    fn default() -> Self {
        Self::new()
    }
}

impl MfaProber {
    pub fn new() -> Self {
        let actions = |scope: Option<PreMfaScope>| -> Rc<GlobSet> {
            Rc::new(GlobSet::AnyOf(match scope {
                None => NO_PERMISSION_ACTIONS.iter().map(|a| plain_tokens(a)).collect(),
                Some(scope) => PRE_MFA_BOOTSTRAP_ACTIONS
                    .iter()
                    .filter(|(_, s)| *s == scope)
                    .map(|(a, _)| plain_tokens(a))
                    .collect(),
            }))
        };
        Self {
            regions: Default::default(),
            probes: Default::default(),
            insides: Default::default(),
            exempt_actions: [
                actions(None),
                actions(Some(PreMfaScope::Account)),
                actions(Some(PreMfaScope::OwnResources)),
                actions(Some(PreMfaScope::AnyResource)),
            ],
            anywhere: Rc::new(GlobSet::AnyOf(vec![vec![Tok::Star]])),
            resources_compared: std::cell::Cell::new(false),
        }
    }

    /// The requests that need no MFA: [`NO_PERMISSION_ACTIONS`] anywhere, and
    /// [`PRE_MFA_BOOTSTRAP_ACTIONS`] where their [`PreMfaScope`] says. The account part of
    /// the own resources is left open: IAM user operations never reach another account.
    fn exempt(&self, username: &str, _account: &str) -> Vec<Cover> {
        // `*` in the text is a wildcard; the user name holds none (IAM names are `[\w+=,.@-]`).
        let literal = |s: String| -> Vec<Tok> {
            let mut out = Vec::new();
            for (i, part) in s.split('*').enumerate() {
                if i > 0 {
                    out.push(Tok::Star);
                }
                out.extend(part.chars().map(Tok::Lit));
            }
            out
        };
        let own = vec![
            literal(format!("arn:aws:iam::*:user/{username}")),
            literal(format!("arn:aws:iam::*:user/*/{username}")),
            literal(format!("arn:aws:iam::*:mfa/{username}")),
        ];
        let [none, account, own_actions, canonical] = &self.exempt_actions;
        // The keys name no `Action`/`NotAction` element ([`actions_key`]), so no Deny's.
        vec![
            Cover { actions: none.clone(), resources: self.anywhere.clone(), key: "no permission".into() },
            Cover {
                actions: account.clone(),
                resources: self.anywhere.clone(),
                key: "bootstrap, account".into(),
            },
            Cover {
                actions: own_actions.clone(),
                resources: Rc::new(GlobSet::AnyOf(own)),
                key: "bootstrap, own".into(),
            },
            Cover {
                actions: canonical.clone(),
                resources: self.anywhere.clone(),
                key: "bootstrap, canonical".into(),
            },
        ]
    }

    /// The [`ActionProbe`] of an action element, computed once per distinct element.
    fn probe(&self, key: &str, actions: &Actions) -> Rc<ActionProbe> {
        if let Some(hit) = self.probes.borrow().get(key) {
            return hit.clone();
        }
        let probe = Rc::new(ActionProbe { set: action_set(actions), candidates: candidate_actions(actions) });
        self.probes.borrow_mut().insert(key.to_string(), probe.clone());
        probe
    }

    /// Which covers contain each candidate of `probe`, computed once per statement actions
    /// and covers (`key` names both).
    fn insides_of(&self, key: &str, probe: &ActionProbe, covers: &[Cover]) -> Insides {
        if let Some(hit) = self.insides.borrow().get(key) {
            return hit.clone();
        }
        let insides: Insides = Rc::new(
            probe
                .candidates
                .iter()
                .map(|action| covers.iter().map(|c| set_contains(&c.actions, action, true)).collect())
                .collect(),
        );
        self.insides.borrow_mut().insert(key.to_string(), insides.clone());
        insides
    }

    /// `key` names the statement's actions and the covers' ([`statement_gap`](Self::statement_gap)).
    fn regions_of(&self, key: &str, inside: &GlobSet, covers: &[Cover]) -> Result<Regions, TooComplex> {
        if let Some(hit) = self.regions.borrow().get(key) {
            return hit.clone();
        }
        let sets: Vec<&GlobSet> = covers.iter().map(|c| c.actions.as_ref()).collect();
        let answer = action_regions(inside, &sets).map(Rc::new);
        self.regions.borrow_mut().insert(key.to_string(), answer.clone());
        answer
    }

    /// [`check`](Self::check), and whether the answer holds for every user whose effective
    /// documents are these (the same documents, labels and account): most members of a group
    /// are covered by its Denies on every resource, and the analysis of the first stands for
    /// the rest. Where the name may matter the answer is for this user only.
    ///
    /// Why that is sound: the name enters the analysis in three places only, the request's
    /// `aws:username` (conditions), the substitution of `${aws:username}` (resources and
    /// conditions), and the own-resource exemptions. Conditions that could read it are found
    /// in the text; resources are only looked at past the Deny-on-every-resource shortcut
    /// of `statement_gap`, which marks the analysis as reading them. A gap is always
    /// confirmed on a concrete request, so a `NotEnforced` answer is never shared.
    pub fn check_reusable<L, D>(
        &self,
        policies: &[(L, D)],
        username: &str,
        account: &str,
    ) -> (MfaEnforcement, Holds)
    where
        L: AsRef<str>,
        D: std::borrow::Borrow<PolicyDocument>,
    {
        self.resources_compared.set(false);
        let answer = self.check(policies, username, account);
        let holds = if self.resources_compared.get()
            || matches!(answer, MfaEnforcement::NotEnforced(_))
            || policies.iter().any(|(_, d)| conditions_read_username(d.borrow()))
        {
            Holds::ForThisUser
        } else {
            Holds::ForEveryName
        };
        (answer, holds)
    }

    /// Checks one user's effective identity policies, each with a label for the message.
    /// `account` fills the account part of example ARNs.
    pub fn check<L, D>(&self, policies: &[(L, D)], username: &str, account: &str) -> MfaEnforcement
    where
        L: AsRef<str>,
        D: std::borrow::Borrow<PolicyDocument>,
    {
        let docs = || policies.iter().map(|(_, d)| d.borrow());
        let sessions = [Session::AccessKey, Session::ConsoleWithoutMfa];
        let exempt = self.exempt(username, account);
        let requests = sessions.map(|session| session_request("", "", username, session));
        // Per session, the covers and a key that names their actions, for the memos.
        let covers: Vec<(Vec<Cover>, String)> = requests
            .iter()
            .map(|req| {
                let mut covers = Vec::new();
                for doc in docs() {
                    let substitute = doc.substitutes_variables();
                    for d in doc.statements.iter().filter(|d| d.effect == Effect::Deny) {
                        let applies =
                            d.conditions.iter().all(|c| eval_condition(c, req, substitute) == Tri::Yes);
                        if let (true, Ok(resources)) =
                            (applies, resource_set(&d.resources, username, substitute))
                        {
                            let key = actions_key(&d.actions);
                            covers.push(Cover {
                                actions: Rc::new(self.probe(&key, &d.actions).set.clone()),
                                resources: Rc::new(resources),
                                key: key.into(),
                            });
                        }
                    }
                }
                covers.extend(exempt.iter().cloned());
                let mut key = String::new();
                for c in &covers {
                    push_key_part(&mut key, &c.key);
                }
                (covers, key)
            })
            .collect();
        let mut unknown: Option<String> = None;
        for (label, doc) in policies {
            let (label, doc) = (label.as_ref(), doc.borrow());
            let substitute = doc.substitutes_variables();
            for (i, s) in doc.statements.iter().enumerate().filter(|(_, s)| s.effect == Effect::Allow) {
                // Named only when it is reported: most statements are not.
                let granted_by = || format!("{label}, {}", statement_name(s, i));
                for ((&session, req), (covers, covers_key)) in sessions.iter().zip(&requests).zip(&covers) {
                    if s.conditions.iter().any(|c| eval_condition(c, req, substitute) == Tri::No) {
                        continue; // This allow needs MFA itself.
                    }
                    let covers = Covers { list: covers, key: covers_key };
                    match self.statement_gap(policies, s, substitute, session, covers, username, account) {
                        Ok(None) => {}
                        Ok(Some(Ok(mut gap))) => {
                            gap.granted_by = granted_by();
                            return MfaEnforcement::NotEnforced(gap);
                        }
                        Ok(Some(Err(reason))) | Err(reason) => {
                            unknown.get_or_insert_with(|| format!("{}: {reason}", granted_by()));
                        }
                    }
                }
            }
        }
        unknown.map_or(MfaEnforcement::Enforced, MfaEnforcement::Unknown)
    }

    /// The first request of statement `s` no cover covers in `session`: `Ok(None)` if it is
    /// covered entirely, `Ok(Some(Ok(gap)))` with a request the evaluator allows (its
    /// `granted_by` left for the caller), `Ok(Some(Err(why)))` or `Err(why)` when an
    /// uncovered part could not be confirmed or the analysis gave up.
    #[allow(clippy::too_many_arguments)]
    fn statement_gap<L, D>(
        &self,
        policies: &[(L, D)],
        s: &Statement,
        substitute: bool,
        session: Session,
        covers: Covers<'_>,
        username: &str,
        account: &str,
    ) -> Result<Option<Result<MfaGap, String>>, String>
    where
        L: AsRef<str>,
        D: std::borrow::Borrow<PolicyDocument>,
    {
        // The memos' key: this statement's actions, then the covers'.
        let mut key = actions_key(&s.actions);
        let probe = self.probe(&key, &s.actions);
        push_key_part(&mut key, covers.key);
        let insides = self.insides_of(&key, &probe, covers.list);
        let covers = covers.list;
        let resources = resource_set_widened(&s.resources, username, substitute);
        let context = satisfying_context(s, username, substitute);
        let mut unconfirmed: Option<String> = None;
        // The resources an uncovered action reaches, as (pattern as written, concrete ARN).
        let uncovered = |action: &str, inside: &[bool]| -> Result<Option<(String, String)>, String> {
            let outside: Vec<&GlobSet> =
                covers.iter().zip(inside).filter(|(_, i)| **i).map(|(c, _)| c.resources.as_ref()).collect();
            if outside.iter().any(|r| is_universal(r)) {
                return Ok(None);
            }
            self.resources_compared.set(true);
            // Each pattern written out again in a cover (the canonical policy's own-user
            // statements against the own-resource bootstrap set): contained, no automaton.
            if let GlobSet::AnyOf(ps) = &resources {
                let verbatim =
                    |p: &Vec<Tok>| outside.iter().any(|r| matches!(r, GlobSet::AnyOf(qs) if qs.contains(p)));
                if ps.iter().all(verbatim) {
                    return Ok(None);
                }
            }
            let fits = |arn: &str| {
                set_contains(&resources, arn, false) && !outside.iter().any(|r| set_contains(r, arn, false))
            };
            if let Some(hit) = example_resources(s, action, username, account, substitute)
                .into_iter()
                .find(|(_, arn)| fits(arn))
            {
                return Ok(Some(hit));
            }
            let mut q = GlobQuery::default();
            q.inside(&resources);
            for r in &outside {
                q.outside(r);
            }
            match glob_witness(&q, false) {
                Ok(None) => Ok(None),
                Ok(Some(arn)) => Ok(Some((pattern_for(s, &arn, username, substitute), arn))),
                Err(TooComplex) => Err(format!("the resources of {action} are too complex to compare")),
            }
        };
        let mut confirm = |action: &str, pattern: String, resource: String| -> Option<MfaGap> {
            let mut req = session_request(action, &resource, username, session);
            for (k, v) in &context {
                req = req.with_context(k, v);
            }
            match evaluate_all(policies.iter().map(|(_, d)| d.borrow()), &req) {
                Decision::Allowed => {
                    return Some(MfaGap {
                        action: action.to_string(),
                        resource: pattern,
                        example: resource,
                        session,
                        granted_by: String::new(),
                    })
                }
                Decision::Unknown(r) => {
                    unconfirmed.get_or_insert_with(|| format!("{action} on {pattern}: {r}"));
                }
                Decision::ExplicitlyDenied | Decision::ImplicitlyDenied => {
                    unconfirmed.get_or_insert_with(|| {
                        format!(
                            "no MFA deny is proven to cover {action} on {pattern} {session}, and the request \
                             {resource} could not be shown to be allowed"
                        )
                    });
                }
            }
            None
        };
        // 1. Well-known actions first, so a gap names an action people know.
        for (action, inside) in probe.candidates.iter().zip(insides.iter()) {
            if let Some((pattern, resource)) = uncovered(action, inside)? {
                if let Some(gap) = confirm(action, pattern, resource) {
                    return Ok(Some(Ok(gap)));
                }
            }
        }
        // 2. The proof: every way an action of the statement meets the covers. A list of
        //    literal actions was tried whole above.
        if matches!(&s.actions, Actions::Action(p) if !p.iter().any(|a| a.contains('*') || a.contains('?'))) {
            return Ok(unconfirmed.map(Err));
        }
        let regions = self.regions_of(&key, &probe.set, covers).map_err(|_| {
            format!("the actions of {} are too complex to compare", s.actions.patterns().join(", "))
        })?;
        for (inside, action) in regions.iter() {
            if let Some((pattern, resource)) = uncovered(action, inside)? {
                if let Some(gap) = confirm(action, pattern, resource) {
                    return Ok(Some(Ok(gap)));
                }
            }
        }
        Ok(unconfirmed.map(Err))
    }
}

/// Actions to try first: an Allow's literal ones, then well-known sensitive ones its
/// wildcards or `NotAction` cover, then its wildcard patterns filled in.
fn candidate_actions(actions: &Actions) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |a: String| {
        if !out.iter().any(|x| x.eq_ignore_ascii_case(&a)) {
            out.push(a);
        }
    };
    match actions {
        Actions::Action(patterns) => {
            for p in patterns {
                if !(p.contains('*') || p.contains('?')) {
                    push(p.clone());
                    continue;
                }
                known_actions().filter(|a| action_matches(p, a)).for_each(|a| push(a.to_string()));
                // Then the pattern with its wildcards filled in (`logs:DeleteAny`): a family
                // we have no sample for, or members the samples do not stand for.
                if p.contains(':') {
                    push(p.replace('*', "Any").replace('?', "X"));
                }
            }
        }
        Actions::NotAction(patterns) => {
            for a in known_actions() {
                if !patterns.iter().any(|p| action_matches(p, a)) {
                    push(a.to_string());
                }
            }
        }
    }
    out
}

/// Real action names, to name a gap with: the well-known sensitive ones first, then the
/// pre-MFA bootstrap and credential actions.
fn known_actions() -> impl Iterator<Item = &'static str> {
    PROBE_ACTIONS
        .iter()
        .copied()
        .chain(PRE_MFA_BOOTSTRAP_ACTIONS.iter().map(|(a, _)| *a))
        .chain(CREDENTIAL_ACTIONS.iter().map(|(a, _)| *a))
}

/// Concrete resources to try for an action a statement allows, as (pattern as written,
/// ARN): each pattern filled in, and for `*` (or `NotResource`) the shapes real ARNs take:
/// regional with an account, IAM's region-less ARNs, S3's ARNs without region or account,
/// another account's, and `*` itself (actions without resource-level permissions).
fn example_resources(
    s: &Statement,
    action: &str,
    username: &str,
    account: &str,
    substitute: bool,
) -> Vec<(String, String)> {
    let service = action.split(':').next().unwrap_or("aws").to_ascii_lowercase();
    let anything = || {
        vec![
            concrete_resource("*", action, username, account, substitute),
            format!("arn:aws:{service}::{account}:keywarden-probe"),
            format!("arn:aws:{service}:::keywarden-probe/keywarden-probe"),
            format!("arn:aws:{service}:eu-west-1:999999999999:keywarden-probe"),
            "*".to_string(),
        ]
    };
    match &s.resources {
        Resources::Resource(patterns) => patterns
            .iter()
            .flat_map(|p| {
                let arns = if p == "*" {
                    anything()
                } else {
                    vec![concrete_resource(p, action, username, account, substitute)]
                };
                arns.into_iter().map(move |a| (p.clone(), a))
            })
            .collect(),
        Resources::NotResource(patterns) => {
            let label = format!("anything but {}", patterns.join(", "));
            anything().into_iter().map(|a| (label.clone(), a)).collect()
        }
    }
}

/// The pattern of `s` (as written) that `arn` matches, for the message.
fn pattern_for(s: &Statement, arn: &str, username: &str, substitute: bool) -> String {
    match &s.resources {
        Resources::Resource(patterns) => {
            let req =
                Request { resource: arn.to_string(), username: username.to_string(), ..Request::default() };
            patterns
                .iter()
                .find(|p| resource_matches(p, &req, substitute) != Tri::No)
                .or_else(|| patterns.first())
                .cloned()
                .unwrap_or_default()
        }
        Resources::NotResource(patterns) => format!("anything but {}", patterns.join(", ")),
    }
}

/// `text` with its policy variables replaced as IAM does before matching (the same
/// [`tokenize`] the evaluator uses, wildcards kept as written). A variable the evaluator does
/// not know leaves the text as it is: evaluating the probe then reports it as unknown.
fn substituted(text: &str, username: &str, substitute: bool) -> String {
    let req = Request { username: username.to_string(), ..Request::default() };
    match tokenize(text, &req, substitute, false) {
        Ok(tokens) => tokens
            .into_iter()
            .map(|t| match t {
                Tok::Lit(c) => c,
                Tok::Star => '*',
                Tok::One => '?',
            })
            .collect(),
        Err(_) => text.to_string(),
    }
}

/// A concrete ARN for a resource pattern: the account and region parts filled in, other
/// wildcards replaced by a probe name, `${aws:username}` by the user.
fn concrete_resource(pattern: &str, action: &str, username: &str, account: &str, substitute: bool) -> String {
    let service = action.split(':').next().unwrap_or("aws").to_ascii_lowercase();
    if pattern == "*" {
        return format!("arn:aws:{service}:us-east-1:{account}:keywarden-probe");
    }
    let text = substituted(pattern, username, substitute);
    let fill = |part: &str| part.replace('*', "keywarden-probe").replace('?', "x");
    if text.starts_with("arn:") {
        let parts: Vec<&str> = text.splitn(6, ':').collect();
        if parts.len() == 6 {
            let region = if parts[3] == "*" { "us-east-1".to_string() } else { fill(parts[3]) };
            let acct = if parts[4] == "*" { account.to_string() } else { fill(parts[4]) };
            return format!("arn:{}:{}:{region}:{acct}:{}", fill(parts[1]), fill(parts[2]), fill(parts[5]));
        }
    }
    fill(&text)
}

/// A request context that meets an Allow statement's conditions, so the probe asks about a
/// request the statement really grants: the first value of each positive string, ARN or
/// Bool condition (wildcards filled in). Keys of negated and `IfExists` conditions are left
/// out (absence satisfies them), and so are the MFA keys, which the session decides.
fn satisfying_context(s: &Statement, username: &str, substitute: bool) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for c in &s.conditions {
        let (qualifier, base, if_exists) = split_operator(&c.operator);
        if qualifier.is_some()
            || if_exists
            || c.key.eq_ignore_ascii_case(MFA_PRESENT)
            || c.key.eq_ignore_ascii_case(MFA_AGE)
            || c.key.eq_ignore_ascii_case("aws:username")
            || out.iter().any(|(k, _)| k.eq_ignore_ascii_case(&c.key))
        {
            continue;
        }
        let value = match base {
            "Bool" | "StringEquals" | "StringEqualsIgnoreCase" | "StringLike" | "ArnEquals" | "ArnLike" => {
                c.values.first().map(|v| {
                    let v = substituted(v, username, substitute);
                    if base == "StringLike" || base.starts_with("Arn") {
                        v.replace('*', "keywarden-probe").replace('?', "x")
                    } else {
                        v
                    }
                })
            }
            "Null" if c.values.iter().any(|v| v.eq_ignore_ascii_case("false")) => {
                Some("keywarden-probe".into())
            }
            _ => None,
        };
        if let Some(v) = value {
            out.push((c.key.clone(), v));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every string over `alphabet` of length at most `n`.
    fn all_strings(alphabet: &[char], n: usize) -> Vec<String> {
        let mut out = vec![String::new()];
        let mut layer = vec![String::new()];
        for _ in 0..n {
            layer = layer.iter().flat_map(|s| alphabet.iter().map(move |c| format!("{s}{c}"))).collect();
            out.extend(layer.iter().cloned());
        }
        out
    }

    fn set(patterns: &[String], not: bool) -> GlobSet {
        let toks = patterns.iter().map(|p| plain_tokens(p)).collect();
        if not {
            GlobSet::NoneOf(toks)
        } else {
            GlobSet::AnyOf(toks)
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(400))]

        /// Containment agrees with brute force: a claimed A ⊆ B has no counterexample among
        /// all short strings, and a refuted one comes with a witness in A and not in B
        /// (checked with the fast byte matcher).
        #[test]
        fn glob_containment_agrees_with_brute_force(
            a in "[ab:*?]{0,5}",
            b in "[ab:*?]{0,5}",
            ci in proptest::bool::ANY,
        ) {
            let (sa, sb) = (set(std::slice::from_ref(&a), false), set(std::slice::from_ref(&b), false));
            let mut q = GlobQuery::default();
            q.inside(&sa).outside(&sb);
            let witness = glob_witness(&q, ci).expect("small patterns");
            let counter = all_strings(&['a', 'B', ':', 'c'], 6)
                .into_iter()
                .find(|t| byte_glob(a.as_bytes(), t.as_bytes(), ci) && !byte_glob(b.as_bytes(), t.as_bytes(), ci));
            match witness {
                None => proptest::prop_assert!(counter.is_none(), "{a} ⊆ {b} claimed, but {counter:?}"),
                Some(w) => {
                    proptest::prop_assert!(byte_glob(a.as_bytes(), w.as_bytes(), ci), "{w:?} not in {a}");
                    proptest::prop_assert!(!byte_glob(b.as_bytes(), w.as_bytes(), ci), "{w:?} in {b}");
                }
            }
            proptest::prop_assert_eq!(
                glob_set_subset(&sa, &sb, ci),
                Some(witness_is_none(&a, &b, ci))
            );
        }

        /// The same with unions and complements on both sides (NotAction/NotResource).
        #[test]
        fn glob_witness_with_sets_agrees_with_brute_force(
            a in proptest::collection::vec("[ab*?]{0,4}", 1..3),
            b in proptest::collection::vec("[ab*?]{0,4}", 1..3),
            not_a in proptest::bool::ANY,
            not_b in proptest::bool::ANY,
        ) {
            let (sa, sb) = (set(&a, not_a), set(&b, not_b));
            let mut q = GlobQuery::default();
            q.inside(&sa).outside(&sb);
            let witness = glob_witness(&q, false).expect("small patterns");
            let member = |s: &GlobSet, t: &str| set_contains(s, t, false);
            let counter = all_strings(&['a', 'b', 'c'], 5).into_iter().find(|t| member(&sa, t) && !member(&sb, t));
            match witness {
                None => proptest::prop_assert!(counter.is_none(), "{sa:?} ⊆ {sb:?} claimed, but {counter:?}"),
                Some(w) => proptest::prop_assert!(member(&sa, &w) && !member(&sb, &w), "{w:?}"),
            }
        }

        /// The automaton matcher the analysis uses agrees with the evaluator's byte matcher.
        #[test]
        fn set_membership_agrees_with_the_fast_matcher(
            pattern in "[a-c*?:/]{0,10}",
            text in "[a-cA-C:/]{0,10}",
            ci in proptest::bool::ANY,
        ) {
            let s = set(std::slice::from_ref(&pattern), false);
            proptest::prop_assert_eq!(
                set_contains(&s, &text, ci),
                byte_glob(pattern.as_bytes(), text.as_bytes(), ci)
            );
            let mut q = GlobQuery::default();
            q.inside(&s);
            if let Some(w) = glob_witness(&q, ci).expect("small") {
                proptest::prop_assert!(byte_glob(pattern.as_bytes(), w.as_bytes(), ci));
            }
        }

        /// Every action-shaped string in the allow lands in a region the analysis lists, and
        /// every listed region's witness really has that region.
        #[test]
        fn action_regions_match_the_dense_exploration(
            inside in proptest::collection::vec("[ab]{0,2}[:*?][ab*]{0,2}", 1..3),
            inside_not in proptest::bool::ANY,
            covers in proptest::collection::vec(("[abc]{0,3}[:*][abc*?]{0,3}", proptest::bool::ANY), 0..4),
        ) {
            let inside = set(&inside, inside_not);
            let covers: Vec<GlobSet> = covers.iter().map(|(p, not)| set(std::slice::from_ref(p), *not)).collect();
            let refs: Vec<&GlobSet> = covers.iter().collect();
            proptest::prop_assert_eq!(action_regions(&inside, &refs), action_regions_dense(&inside, &refs));
        }

        #[test]
        fn action_regions_are_complete_and_sound(
            inside in proptest::collection::vec("[ab]{0,2}[:*?][ab*]{0,2}", 1..3),
            covers in proptest::collection::vec(("[ab]{0,2}[:*][ab*?]{0,2}", proptest::bool::ANY), 0..3),
        ) {
            let inside = set(&inside, false);
            let covers: Vec<GlobSet> = covers.iter().map(|(p, not)| set(std::slice::from_ref(p), *not)).collect();
            let refs: Vec<&GlobSet> = covers.iter().collect();
            let regions = action_regions(&inside, &refs).expect("small patterns");
            let region_of = |t: &str| -> Vec<bool> { covers.iter().map(|c| set_contains(c, t, true)).collect() };
            for (r, w) in &regions {
                proptest::prop_assert!(set_contains(&inside, w, true) && byte_glob(ACTION_SHAPE.as_bytes(), w.as_bytes(), true));
                proptest::prop_assert_eq!(&region_of(w), r);
            }
            for t in all_strings(&['a', 'b', ':'], 5) {
                if set_contains(&inside, &t, true) && byte_glob(ACTION_SHAPE.as_bytes(), t.as_bytes(), true) {
                    let r = region_of(&t);
                    proptest::prop_assert!(regions.iter().any(|(x, _)| *x == r), "{t:?} in no listed region");
                }
            }
        }
    }

    fn witness_is_none(a: &str, b: &str, ci: bool) -> bool {
        let (sa, sb) = (set(&[a.to_string()], false), set(&[b.to_string()], false));
        let mut q = GlobQuery::default();
        q.inside(&sa).outside(&sb);
        glob_witness(&q, ci).expect("small").is_none()
    }

    proptest::proptest! {
        /// The allocation-free matcher agrees with the general one it short-cuts.
        #[test]
        fn byte_glob_agrees_with_the_tokenised_glob(
            pattern in "[a-c*?:/]{0,12}",
            text in "[a-cA-C:/]{0,12}",
        ) {
            let req = Request::new("s3:GetObject", &text, "alice");
            let toks = tokenize(&pattern, &req, false, true).expect("no variables");
            proptest::prop_assert_eq!(
                byte_glob(pattern.as_bytes(), text.as_bytes(), false),
                match_tokens(&toks, &text, false, false)
            );
            proptest::prop_assert_eq!(
                byte_glob(pattern.as_bytes(), text.as_bytes(), true),
                match_tokens(&toks, &text, true, false)
            );
        }
    }
}
