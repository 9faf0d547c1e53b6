//! The request the evaluator authorises, and what it knows about its context keys.
//!
//! A probe cannot know every key a real request carries; [`Request::absent_keys`] lets it say
//! which it knows to be absent, so a condition on any other key is "unknown", never a guess.

use std::collections::{BTreeMap, BTreeSet};

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
    /// the answer [`Decision::Unknown`](super::Decision::Unknown). Probes use this: a real
    /// request carries `aws:SourceIp`, `aws:RequestedRegion` and more, whose values a probe
    /// cannot know.
    pub absent_keys: Option<BTreeSet<String>>,
}

impl Request {
    /// A request whose context is whole and empty: every key missing from it is absent.
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

    /// What the request says about `key`, case-insensitively; `aws:username` comes from
    /// [`Request::username`] unless the context sets it.
    pub(crate) fn context_values(&self, key: &str) -> Context<'_> {
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
pub(crate) enum Context<'a> {
    /// The key's values, as the request carries them.
    Values(&'a [String]),
    /// The request does not carry the key.
    Absent,
    /// The request has the key, with a value the caller did not give.
    NotKnown,
}
