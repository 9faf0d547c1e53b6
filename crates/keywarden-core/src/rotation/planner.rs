//! The decision itself: from a user's live keys, the record and `now`, the one next step.
//! The safety rules in the module doc of [`crate::rotation`] are proved over this function
//! by the property tests.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::live::{LiveKey, UserKeys};
use super::record::{RotationState, ROTATION_TAG};
use super::secret::SecretState;
use super::step::{HoldCause, Plan, Step};

/// Rotation thresholds; validated together, and defaulted, in [`crate::config`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RotationPolicy {
    /// `ROTATE_AFTER_DAYS`: key age at which it is rotated; exceeds `grace_days + inactive_days`.
    pub rotate_after_days: u32,
    /// `ROTATION_WARN_DAYS`: how long before it is due a key gets a warning; less than `rotate_after_days`.
    pub warn_days: u32,
    /// `GRACE_DAYS`: how long the old and the new key both work, counted from the new key's storage.
    pub grace_days: u32,
    /// `INACTIVE_DAYS`: how long the old key stays deactivated before it is deleted.
    pub inactive_days: u32,
    /// A key used within this many hours counts as still in use.
    pub in_use_hours: u32,
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

/// Longer than any Lambda invocation can last (15 minutes): a rotation whose intent is
/// younger may still be carried out by a run in flight.
pub const IN_FLIGHT: Duration = Duration::minutes(20);

/// How much earlier than keywarden's intent IAM may date the key it created: the two clocks
/// are not the same clock.
const CLOCK_SKEW: Duration = Duration::minutes(5);

fn days(n: u32) -> Duration {
    Duration::days(i64::from(n))
}

/// Decides the next step for one user.
pub fn plan(u: &UserKeys, policy: &RotationPolicy, now: DateTime<Utc>) -> Plan {
    let (step, reason) = decide(u, policy, now);
    Plan { user: u.user.clone(), step, reason }
}

fn blocked(reason: impl Into<String>, why: &str) -> (Step, String) {
    (Step::Blocked { reason: reason.into() }, why.to_string())
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
        Some(Err(e)) => return blocked(e.to_string(), "unreadable rotation record"),
        Some(Ok(s)) => s,
    };
    if u.keys.len() > 2 {
        return blocked("more than two keys", "IAM state is unexpected");
    }
    if state.new_key() == Some(state.old()) {
        return blocked("the rotation record names one key as both old and new", "corrupt record");
    }
    match state {
        RotationState::Intent { old, at } => decide_intent(u, old, *at, now),
        RotationState::Grace { old, new, at } | RotationState::Hold { old, new, at } => {
            let (Some(old_key), Some(new_key)) = (key(old), key(new)) else {
                return match (key(old), key(new)) {
                    (None, Some(_)) => (Step::Clear, "the old key is already gone".into()),
                    _ => blocked(format!("the new key {new} is gone"), "needs a human"),
                };
            };
            if !new_key.active {
                return blocked(format!("the new key {new} is inactive"), "needs a human");
            }
            if !old_key.active {
                // Someone deactivated the old key for us: continue from there.
                return (
                    Step::Deactivate { old: old.clone(), new: new.clone() },
                    "the old key is already inactive; recording it".into(),
                );
            }
            let held = matches!(state, RotationState::Hold { .. });
            let grace_over = held || now >= *at + days(p.grace_days);
            if !grace_over {
                return (Step::None, format!("grace period until {}", *at + days(p.grace_days)));
            }
            match old_key.last_used.filter(|_| in_use(old_key)) {
                Some(last_used) => (
                    Step::Hold {
                        old: old.clone(),
                        new: new.clone(),
                        last_used: Some(last_used),
                        cause: HoldCause::InUse,
                        recorded: held,
                    },
                    format!("the old key was used at {last_used}, within {}h", p.in_use_hours),
                ),
                None => (
                    Step::Deactivate { old: old.clone(), new: new.clone() },
                    "grace period over; old key not in use".into(),
                ),
            }
        }
        RotationState::Inactive { old, new, at } | RotationState::HumanHold { old, new, at } => {
            let human = matches!(state, RotationState::HumanHold { .. });
            let Some(old_key) = key(old) else {
                return (Step::Clear, "the old key is already gone".into());
            };
            if key(new).is_none_or(|k| !k.active) {
                return blocked(format!("the new key {new} is gone or inactive"), "needs a human");
            }
            if old_key.active {
                // A human re-activated it: never fight a human. Record it, hold and alert
                // on every run until a human ends the hold.
                return (
                    Step::Hold {
                        old: old.clone(),
                        new: new.clone(),
                        last_used: old_key.last_used,
                        cause: HoldCause::HumanReactivated,
                        recorded: human,
                    },
                    if human {
                        format!(
                            "a human re-activated the old key (noticed {at}); keywarden leaves it active until a human deactivates or deletes it"
                        )
                    } else {
                        "the old key was re-activated after keywarden deactivated it".into()
                    },
                );
            }
            if human {
                // The human who held the key has deactivated it: their hold is over, and
                // the inactive period starts from now.
                return (
                    Step::Deactivate { old: old.clone(), new: new.clone() },
                    "a human deactivated the held key; the inactive period starts again".into(),
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

/// An intent is written before `CreateAccessKey`; what happened after it is settled from
/// IAM and the secret alone, because the answer to the create may never have arrived.
fn decide_intent(u: &UserKeys, old: &str, at: DateTime<Utc>, now: DateTime<Utc>) -> (Step, String) {
    let Some(old_key) = u.keys.iter().find(|k| k.id == old) else {
        return blocked(format!("the key {old} being rotated is gone"), "record is stale");
    };
    let others: Vec<&LiveKey> = u.keys.iter().filter(|k| k.id != old).collect();
    let [new] = others.as_slice() else {
        if !old_key.active {
            return (Step::Clear, "the old key was deactivated by someone else; nothing to rotate".into());
        }
        return match refused(&u.secret) {
            Some(reason) => blocked(reason, "the user's secret cannot take the new key"),
            None => (
                Step::Create { old: old.into() },
                "an earlier rotation stopped before creating the key".into(),
            ),
        };
    };
    if u.secret.current_key() == Some(new.id.as_str()) {
        return if new.active {
            (
                Step::Resume { old: old.into(), new: new.id.clone() },
                "the new key's secret is stored; recording the grace period".into(),
            )
        } else {
            blocked(format!("the stored new key {} was deactivated", new.id), "needs a human")
        };
    }
    // A run still in flight may be storing the secret right now: leave its key alone.
    if now - at < IN_FLIGHT {
        return (Step::None, "another run started this rotation moments ago".into());
    }
    let window_end = at + IN_FLIGHT;
    let why_not_ours = if !old_key.active {
        Some(format!("the old key {old} is inactive"))
    } else if new.created < at - CLOCK_SKEW || new.created > window_end {
        Some(format!("the key {} was created at {}, outside the rotation begun at {at}", new.id, new.created))
    } else if let Some(used) = new.last_used {
        Some(format!("the key {} was used at {used}, so someone holds its secret", new.id))
    } else if u.secret.may_hold(&new.id) {
        Some(format!("the user's secret may hold the key {} (a version keywarden did not write)", new.id))
    } else {
        None
    };
    match why_not_ours {
        // Created inside the run's window, never used, its secret stored nowhere: the key a
        // run created and lost, which nobody can hold. Deleting it strands nobody.
        None => (
            Step::Recover { old: old.into(), unstored: new.id.clone() },
            "an earlier run created a key whose secret was never stored".into(),
        ),
        Some(why) => blocked(
            format!(
                "a second key appeared during rotation that keywarden cannot prove is its own: {why}; delete the key nobody uses, or remove the {ROTATION_TAG} tag"
            ),
            "needs a human",
        ),
    }
}

/// Why the user's secret cannot take a new key, if it cannot.
fn refused(secret: &SecretState) -> Option<String> {
    match secret {
        SecretState::Refused { reason, .. } => Some(reason.clone()),
        _ => None,
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
                match refused(&u.secret) {
                    Some(reason) => blocked(reason, "the user's secret cannot take the new key"),
                    None => (
                        Step::Create { old: k.id.clone() },
                        format!("key is older than {} days", p.rotate_after_days),
                    ),
                }
            } else if now >= due_at(k) - days(p.warn_days) {
                (Step::Warn { key: k.id.clone(), due: due_at(k) }, "rotation due soon".into())
            } else {
                (Step::None, "key is young enough".into())
            }
        }
        _ if due.is_empty() => (Step::None, "no key is due".into()),
        _ => blocked(
            "the user has two keys and no keywarden rotation record; rotating would need a third",
            "a human must delete one key first",
        ),
    }
}
