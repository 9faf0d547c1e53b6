//! The parsed form of an identity policy: what a statement says, with lists as written.
//!
//! These types hold no behaviour beyond accessors; parsing is in `parse`, evaluation in
//! `eval`, and they are plain data so that tests and the analyses can build and inspect them.

use std::fmt;

use super::operator::Operator;

/// The policy language version in which policy variables are substituted.
pub const VERSION_2012: &str = "2012-10-17";

/// `Allow` or `Deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Effect {
    /// Grants the statement's requests, unless a Deny applies.
    Allow,
    /// Refuses them, whatever any Allow says.
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
    /// `Action`: the statement covers the actions these patterns match.
    Action(Vec<String>),
    /// `NotAction`: it covers every action none of them matches.
    NotAction(Vec<String>),
}

impl Actions {
    /// The listed patterns, whichever element they came from.
    pub fn patterns(&self) -> &[String] {
        match self {
            Actions::Action(v) | Actions::NotAction(v) => v,
        }
    }
    /// The element's name as JSON writes it, for messages and memo keys.
    pub(crate) fn element(&self) -> &'static str {
        match self {
            Actions::Action(_) => "Action",
            Actions::NotAction(_) => "NotAction",
        }
    }
}

/// `Resource` or `NotResource`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resources {
    /// `Resource`: the statement covers the resources these patterns match.
    Resource(Vec<String>),
    /// `NotResource`: it covers every resource none of them matches.
    NotResource(Vec<String>),
}

impl Resources {
    /// The listed patterns, whichever element they came from.
    pub fn patterns(&self) -> &[String] {
        match self {
            Resources::Resource(v) | Resources::NotResource(v) => v,
        }
    }
    /// The element's name as JSON writes it, for messages and memo keys.
    pub(crate) fn element(&self) -> &'static str {
        match self {
            Resources::Resource(_) => "Resource",
            Resources::NotResource(_) => "NotResource",
        }
    }
}

/// One `operator: { key: values }` test of a `Condition` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// Parsed once from the spelling, e.g. `BoolIfExists`, `ForAnyValue:StringLike`
    /// (displays as written).
    pub operator: Operator,
    /// Condition key as written, e.g. `aws:MultiFactorAuthPresent`.
    pub key: String,
    /// Values, with booleans and numbers rendered as strings (as IAM does).
    pub values: Vec<String>,
}

/// One statement of an identity policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// `Sid`, if present: names the statement in messages (else its position does).
    pub sid: Option<String>,
    /// `Effect`.
    pub effect: Effect,
    /// `Action` or `NotAction`.
    pub actions: Actions,
    /// `Resource` or `NotResource`.
    pub resources: Resources,
    /// Every `operator: { key: values }` test of `Condition`, one per key; all must hold.
    pub conditions: Vec<Condition>,
}

/// A parsed identity-policy document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyDocument {
    /// `Version`, if present. Without `2012-10-17`, policy variables are literal text.
    pub version: Option<String>,
    /// `Statement`, a single object read as a one-element list.
    pub statements: Vec<Statement>,
}

impl PolicyDocument {
    /// Whether policy variables such as `${aws:username}` are substituted.
    pub fn substitutes_variables(&self) -> bool {
        self.version.as_deref() == Some(VERSION_2012)
    }
}

/// How messages name a statement: its Sid, or `#n` (1-based) without one.
pub(crate) fn label(s: &Statement, index: usize) -> String {
    s.sid.clone().unwrap_or_else(|| format!("#{}", index + 1))
}
