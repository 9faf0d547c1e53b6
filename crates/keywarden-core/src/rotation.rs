//! The rotation planner: from one user's live key state, keywarden's own record and `now`,
//! decide the one next step.
//!
//! It is a pure state machine so that its safety rules are proved by property tests rather
//! than hoped for: never more than two keys, never leave a user without an active key it
//! had, never deactivate or delete a key without a stored, active successor, never touch an
//! exempt user, never fight a human who re-activated a key. The executor (in
//! `keywarden-aws`) re-reads live state before every write and carries out exactly the step
//! planned here.
//!
//! ```text
//!  one active key, age ≥ rotate_after
//!    │ intent tag → CreateAccessKey → store secret → grace tag
//!    ▼
//!  GRACE (both active) ── old key used within the in-use window at the end? ─► HOLD
//!    │ after grace                                                          │ not used
//!    ▼                                                                      ▼
//!  INACTIVE (old deactivated) ── re-activated by a human? ─► HOLD
//!    │ after the inactive period, unused
//!    ▼
//!  DELETED (old key deleted, record cleared)
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use serde::Serialize;

/// The user tag that holds keywarden's rotation record.
pub const ROTATION_TAG: &str = "keywarden:rotation";

/// Rotation thresholds; validated together in [`crate::config`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RotationPolicy {
    pub rotate_after_days: u32,
    pub warn_days: u32,
    pub grace_days: u32,
    pub inactive_days: u32,
    /// A key used within this many hours counts as still in use.
    pub in_use_hours: u32,
}

impl Default for RotationPolicy {
    fn default() -> Self {
        Self { rotate_after_days: 90, warn_days: 7, grace_days: 7, inactive_days: 7, in_use_hours: 24 }
    }
}

/// One key as the executor read it just now (`ListAccessKeys` + `GetAccessKeyLastUsed`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveKey {
    pub id: String,
    pub active: bool,
    pub created: DateTime<Utc>,
    pub last_used: Option<DateTime<Utc>>,
}

/// Where a rotation stands, as recorded in the user's `keywarden:rotation` tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "phase")]
pub enum RotationState {
    /// Written before `CreateAccessKey`, so a crash between the two is recoverable.
    Intent { old: String, at: DateTime<Utc> },
    /// The new key exists and its secret is stored; both keys work until `at + grace`.
    Grace { old: String, new: String, at: DateTime<Utc> },
    /// The old key was still in use when the grace period ended; both stay active.
    Hold { old: String, new: String, at: DateTime<Utc> },
    /// The old key was deactivated at `at`.
    Inactive { old: String, new: String, at: DateTime<Utc> },
}

impl RotationState {
    pub fn phase(&self) -> &'static str {
        match self {
            RotationState::Intent { .. } => "intent",
            RotationState::Grace { .. } => "grace",
            RotationState::Hold { .. } => "hold",
            RotationState::Inactive { .. } => "inactive",
        }
    }

    pub fn old(&self) -> &str {
        match self {
            RotationState::Intent { old, .. }
            | RotationState::Grace { old, .. }
            | RotationState::Hold { old, .. }
            | RotationState::Inactive { old, .. } => old,
        }
    }

    pub fn new_key(&self) -> Option<&str> {
        match self {
            RotationState::Intent { .. } => None,
            RotationState::Grace { new, .. }
            | RotationState::Hold { new, .. }
            | RotationState::Inactive { new, .. } => Some(new),
        }
    }

    pub fn at(&self) -> DateTime<Utc> {
        match self {
            RotationState::Intent { at, .. }
            | RotationState::Grace { at, .. }
            | RotationState::Hold { at, .. }
            | RotationState::Inactive { at, .. } => *at,
        }
    }

    /// The tag value. IAM tag values allow letters, digits, spaces and `_ . : / = + - @`.
    pub fn to_tag(&self) -> String {
        let at = self.at().format("%Y%m%dT%H%M%SZ");
        match self.new_key() {
            None => format!("v1 {} old={} at={at}", self.phase(), self.old()),
            Some(new) => format!("v1 {} old={} new={new} at={at}", self.phase(), self.old()),
        }
    }

    /// Parses a tag value; anything unexpected is an error, and the planner then refuses to
    /// act on the user rather than guess.
    pub fn from_tag(value: &str) -> Result<Self, String> {
        let mut words = value.split_whitespace();
        if words.next() != Some("v1") {
            return Err(format!("unsupported rotation record `{value}`"));
        }
        let phase = words.next().ok_or_else(|| format!("rotation record `{value}` has no phase"))?;
        let (mut old, mut new, mut at) = (None, None, None);
        for word in words {
            match word.split_once('=') {
                Some(("old", v)) if is_key_id(v) => old = Some(v.to_string()),
                Some(("new", v)) if is_key_id(v) => new = Some(v.to_string()),
                Some(("at", v)) => {
                    at = NaiveDateTime::parse_from_str(v, "%Y%m%dT%H%M%SZ").ok().map(|t| t.and_utc());
                    if at.is_none() {
                        return Err(format!("rotation record `{value}` has a bad time `{v}`"));
                    }
                }
                _ => return Err(format!("rotation record `{value}` has an unexpected `{word}`")),
            }
        }
        let old = old.ok_or_else(|| format!("rotation record `{value}` names no old key"))?;
        let at = at.ok_or_else(|| format!("rotation record `{value}` has no time"))?;
        let need_new = || new.clone().ok_or_else(|| format!("rotation record `{value}` names no new key"));
        match phase {
            "intent" if new.is_none() => Ok(RotationState::Intent { old, at }),
            "grace" => Ok(RotationState::Grace { old, new: need_new()?, at }),
            "hold" => Ok(RotationState::Hold { old, new: need_new()?, at }),
            "inactive" => Ok(RotationState::Inactive { old, new: need_new()?, at }),
            _ => Err(format!("rotation record `{value}` has an unknown phase `{phase}`")),
        }
    }
}

fn is_key_id(s: &str) -> bool {
    (16..=128).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// One user's state as read live just before planning: never the credential report's
/// hours-old view.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiveUser {
    pub user: String,
    pub arn: String,
    pub keys: Vec<LiveKey>,
    pub tags: BTreeMap<String, String>,
    /// The access key id that the user's stored secret holds, if there is a secret.
    pub stored_key_id: Option<String>,
    pub secret_arn: Option<String>,
}

impl LiveUser {
    /// The planner's view, with the exemption decided by the caller.
    pub fn planner_input(&self, exempt: Option<String>) -> UserKeys {
        UserKeys {
            user: self.user.clone(),
            keys: self.keys.clone(),
            state: self.tags.get(ROTATION_TAG).map(|v| RotationState::from_tag(v)),
            stored_key_id: self.stored_key_id.clone(),
            exempt,
        }
    }
}

/// The users worth a live read: an active key due (or nearly due) by the credential
/// report, or a rotation record. Keeps per-user calls O(users needing action).
pub fn candidates(inv: &crate::Inventory, policy: &RotationPolicy, now: DateTime<Utc>) -> BTreeSet<String> {
    let mut users = BTreeSet::new();
    if let Ok(report) = &inv.credential_report {
        let soon = now + days(policy.warn_days);
        for row in &report.users {
            let due = row
                .active_keys()
                .filter_map(|k| k.last_rotated.at())
                .any(|created| soon >= created + days(policy.rotate_after_days));
            if due {
                users.insert(row.user.clone());
            }
        }
    }
    if let Ok(auth) = &inv.authorization {
        users.extend(
            auth.users.values().filter(|u| u.tags.contains_key(ROTATION_TAG)).map(|u| u.name.clone()),
        );
    }
    users
}

/// Everything the planner looks at for one user.
#[derive(Debug, Clone)]
pub struct UserKeys {
    pub user: String,
    pub keys: Vec<LiveKey>,
    /// `None`: no record; `Some(Err)`: a record keywarden cannot read.
    pub state: Option<Result<RotationState, String>>,
    /// The access key id the user's stored secret holds, if any.
    pub stored_key_id: Option<String>,
    /// Why the user is exempt from rotation, if they are.
    pub exempt: Option<String>,
}

/// The one next step for a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "step")]
pub enum Step {
    /// Nothing to do now.
    None,
    /// The key is due soon; tell the owner.
    Warn {
        key: String,
        due: DateTime<Utc>,
    },
    /// Start a rotation: record the intent, create a key, store its secret.
    Create {
        old: String,
    },
    /// A previous run crashed after creating `unstored` but before storing its secret:
    /// delete it, then start over.
    Recover {
        old: String,
        unstored: String,
    },
    /// A previous run stored the secret but crashed before recording it: record the grace.
    Resume {
        old: String,
        new: String,
    },
    /// The old key is still in use after the grace period: keep both, alert.
    Hold {
        old: String,
        new: String,
        last_used: DateTime<Utc>,
    },
    Deactivate {
        old: String,
        new: String,
    },
    Delete {
        old: String,
        new: String,
    },
    /// The rotation is over (or was finished by a human): remove the record.
    Clear,
    /// Rotation is due or under way but needs a human.
    Blocked {
        reason: String,
    },
}

impl Step {
    pub fn name(&self) -> &'static str {
        match self {
            Step::None => "none",
            Step::Warn { .. } => "warn",
            Step::Create { .. } => "create",
            Step::Recover { .. } => "recover",
            Step::Resume { .. } => "resume",
            Step::Hold { .. } => "hold",
            Step::Deactivate { .. } => "deactivate",
            Step::Delete { .. } => "delete",
            Step::Clear => "clear",
            Step::Blocked { .. } => "blocked",
        }
    }

    /// The old and new key ids the step is about.
    pub fn key_ids(&self) -> (Option<&str>, Option<&str>) {
        match self {
            Step::Warn { key, .. } => (Some(key), None),
            Step::Create { old } => (Some(old), None),
            Step::Recover { old, .. } => (Some(old), None),
            Step::Resume { old, new }
            | Step::Hold { old, new, .. }
            | Step::Deactivate { old, new }
            | Step::Delete { old, new } => (Some(old), Some(new)),
            Step::None | Step::Clear | Step::Blocked { .. } => (None, None),
        }
    }

    /// Whether carrying the step out changes anything in AWS.
    pub fn writes(&self) -> bool {
        !matches!(self, Step::None | Step::Warn { .. } | Step::Blocked { .. })
    }
}

/// A step with the reason a human reads in the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub user: String,
    #[serde(flatten)]
    pub step: Step,
    pub reason: String,
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} ({})", self.user, self.step.name(), self.reason)
    }
}

/// Longer than any Lambda invocation can last.
const IN_FLIGHT: Duration = Duration::minutes(20);

fn days(n: u32) -> Duration {
    Duration::days(i64::from(n))
}

/// Decides the next step for one user.
pub fn plan(u: &UserKeys, policy: &RotationPolicy, now: DateTime<Utc>) -> Plan {
    let (step, reason) = decide(u, policy, now);
    Plan { user: u.user.clone(), step, reason }
}

fn decide(u: &UserKeys, p: &RotationPolicy, now: DateTime<Utc>) -> (Step, String) {
    if let Some(why) = &u.exempt {
        return (Step::None, format!("exempt: {why}"));
    }
    let key = |id: &str| u.keys.iter().find(|k| k.id == id);
    let in_use =
        |k: &LiveKey| k.last_used.is_some_and(|t| now - t < Duration::hours(i64::from(p.in_use_hours)));

    let state = match &u.state {
        None => return decide_fresh(u, p, now),
        Some(Err(e)) => return (Step::Blocked { reason: e.clone() }, "unreadable rotation record".into()),
        Some(Ok(s)) => s,
    };
    if u.keys.len() > 2 {
        return (Step::Blocked { reason: "more than two keys".into() }, "IAM state is unexpected".into());
    }
    if state.new_key() == Some(state.old()) {
        return (
            Step::Blocked { reason: "the rotation record names one key as both old and new".into() },
            "corrupt record".into(),
        );
    }
    match state {
        RotationState::Intent { old, at } => {
            let Some(old_key) = key(old) else {
                return (
                    Step::Blocked { reason: format!("the key {old} being rotated is gone") },
                    "record is stale".into(),
                );
            };
            let others: Vec<&LiveKey> = u.keys.iter().filter(|k| k.id != *old).collect();
            match others.as_slice() {
                [] if old_key.active => (
                    Step::Create { old: old.clone() },
                    "an earlier rotation stopped before creating the key".into(),
                ),
                [] => (Step::Clear, "the old key was deactivated by someone else; nothing to rotate".into()),
                [new] if u.stored_key_id.as_deref() == Some(new.id.as_str()) => {
                    if new.active {
                        (
                            Step::Resume { old: old.clone(), new: new.id.clone() },
                            "the new key's secret is stored; recording the grace period".into(),
                        )
                    } else {
                        (
                            Step::Blocked {
                                reason: format!("the stored new key {} was deactivated", new.id),
                            },
                            "needs a human".into(),
                        )
                    }
                }
                // A run still in flight (Lambda runs at most 15 minutes) may be storing the
                // secret right now: leave its key alone.
                [_] if now - *at < IN_FLIGHT => {
                    (Step::None, "another run started this rotation moments ago".into())
                }
                // Created after our intent and never stored: ours, and useless to anyone.
                [new] if old_key.active && new.created >= *at - Duration::minutes(5) => (
                    Step::Recover { old: old.clone(), unstored: new.id.clone() },
                    "an earlier run created a key whose secret was never stored".into(),
                ),
                [_] => (
                    Step::Blocked {
                        reason: "a second key that keywarden did not create appeared during rotation".into(),
                    },
                    "needs a human".into(),
                ),
                _ => (Step::Blocked { reason: "unexpected keys".into() }, "needs a human".into()),
            }
        }
        RotationState::Grace { old, new, at } | RotationState::Hold { old, new, at } => {
            let (Some(old_key), Some(new_key)) = (key(old), key(new)) else {
                return match (key(old), key(new)) {
                    (None, Some(_)) => (Step::Clear, "the old key is already gone".into()),
                    _ => (
                        Step::Blocked { reason: format!("the new key {new} is gone") },
                        "needs a human".into(),
                    ),
                };
            };
            if !new_key.active {
                return (
                    Step::Blocked { reason: format!("the new key {new} is inactive") },
                    "needs a human".into(),
                );
            }
            if !old_key.active {
                // Someone deactivated the old key for us: continue from there.
                return (
                    Step::Deactivate { old: old.clone(), new: new.clone() },
                    "the old key is already inactive; recording it".into(),
                );
            }
            let grace_over = matches!(state, RotationState::Hold { .. }) || now >= *at + days(p.grace_days);
            if !grace_over {
                return (Step::None, format!("grace period until {}", *at + days(p.grace_days)));
            }
            match old_key.last_used.filter(|_| in_use(old_key)) {
                Some(last_used) => (
                    Step::Hold { old: old.clone(), new: new.clone(), last_used },
                    format!("the old key was used at {last_used}, within {}h", p.in_use_hours),
                ),
                None => (
                    Step::Deactivate { old: old.clone(), new: new.clone() },
                    "grace period over; old key not in use".into(),
                ),
            }
        }
        RotationState::Inactive { old, new, at } => {
            let Some(old_key) = key(old) else {
                return (Step::Clear, "the old key is already gone".into());
            };
            let Some(new_key) = key(new).filter(|k| k.active) else {
                return (
                    Step::Blocked { reason: format!("the new key {new} is gone or inactive") },
                    "needs a human".into(),
                );
            };
            if old_key.active {
                // A human re-activated it: never fight a human; hold and alert instead.
                return (
                    Step::Hold {
                        old: old.clone(),
                        new: new_key.id.clone(),
                        last_used: old_key.last_used.unwrap_or(*at),
                    },
                    "the old key was re-activated after keywarden deactivated it".into(),
                );
            }
            if old_key.last_used.is_some_and(|t| t > *at) {
                return (Step::None, "the deactivated key was used since; waiting".into());
            }
            if now >= *at + days(p.inactive_days) {
                (Step::Delete { old: old.clone(), new: new.clone() }, "inactive period over".into())
            } else {
                (Step::None, format!("inactive until {}", *at + days(p.inactive_days)))
            }
        }
    }
}

fn decide_fresh(u: &UserKeys, p: &RotationPolicy, now: DateTime<Utc>) -> (Step, String) {
    let active: Vec<&LiveKey> = u.keys.iter().filter(|k| k.active).collect();
    let due_at = |k: &LiveKey| k.created + days(p.rotate_after_days);
    let due: Vec<&&LiveKey> = active.iter().filter(|k| now >= due_at(k)).collect();
    match (u.keys.len(), active.len()) {
        (_, 0) => (Step::None, "no active key".into()),
        (1, 1) => {
            let k = active[0];
            if now >= due_at(k) {
                (
                    Step::Create { old: k.id.clone() },
                    format!("key is older than {} days", p.rotate_after_days),
                )
            } else if now >= due_at(k) - days(p.warn_days) {
                (Step::Warn { key: k.id.clone(), due: due_at(k) }, "rotation due soon".into())
            } else {
                (Step::None, "key is young enough".into())
            }
        }
        _ if due.is_empty() => (Step::None, "no key is due".into()),
        _ => (
            Step::Blocked {
                reason: "the user has two keys and no keywarden rotation record; rotating would need a third"
                    .into(),
            },
            "a human must delete one key first".into(),
        ),
    }
}
