//! What must hold of every user after rotation runs, however they were interrupted (lost
//! answers, crashes, races, faults): read from IAM, Secrets Manager and STS, never from the
//! function's report.
//!
//! - no key exists whose secret nobody holds: every key besides the ones the user had before
//!   the rotation is the key stored in `keywarden/<user>` (its current version);
//! - no user lost a working key: the user has an active key that works (STS accepts a
//!   request signed with it), the one they had or the stored one;
//! - a rotation that is over has put the new key in the secret, and it works.

use crate::inspect::KeyState;
use crate::seed::{AccessKey, Aws};

/// Where a user's rotation stands, as IAM and the secret show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stage {
    /// Only the original key; no record.
    NotStarted,
    /// Both keys active, the new one stored, the record in grace (or hold).
    Grace { new: String },
    /// The original key inactive, the new one active and stored.
    Inactive { new: String },
    /// Only the new, stored key is left and no record.
    Done { new: String },
    /// Anything else (an unstored key, an intent, …): not settled yet.
    Unsettled(String),
}

/// Checks the invariants for `user`, whose key before the rotation was `original`, and says
/// where the rotation stands. `Err` names the broken invariant.
pub async fn check(aws: &Aws, user: &str, original: &AccessKey) -> Result<Stage, String> {
    let keys: Vec<KeyState> = aws.keys(user).await;
    let stored = aws.stored_key(user).await;
    let stored_id = stored.as_ref().map(|s| s.key.access_key_id.clone());
    let arn = aws.user_arn(user).await;
    let works = |k: &AccessKey| {
        let aws = aws.clone();
        let k = k.clone();
        let arn = arn.clone();
        async move { aws.caller_arn(&k).await.ok().as_deref() == Some(arn.as_str()) }
    };
    let original_active = keys.iter().any(|k| k.id == original.access_key_id && k.active);
    let stored_active = stored_id.as_ref().is_some_and(|id| keys.iter().any(|k| &k.id == id && k.active));
    // The stored key is tried first: signing with the original key marks it used, which
    // would make the next run hold the rotation instead of deactivating the key.
    let mut working = false;
    if stored_active {
        if let Some(s) = &stored {
            working = works(&s.key).await;
        }
    }
    if !working {
        working = original_active && works(original).await;
    }
    if !working {
        return Err(format!("{user} has no working key: keys {keys:?}, stored {stored_id:?}"));
    }
    let unheld: Vec<&KeyState> =
        keys.iter().filter(|k| k.id != original.access_key_id && Some(&k.id) != stored_id.as_ref()).collect();
    let tags = aws.user_tags(user).await;
    let phase = tags.get("keywarden:rotation").and_then(|v| v.split_whitespace().nth(1).map(String::from));
    let original_key = keys.iter().find(|k| k.id == original.access_key_id);
    let stage = match (original_key, stored_id.as_deref(), phase.as_deref(), keys.len()) {
        (Some(o), None, None, 1) if o.active => Stage::NotStarted,
        (Some(o), Some(new), Some("grace" | "hold"), 2) if o.active && stored_active => {
            Stage::Grace { new: new.into() }
        }
        (Some(o), Some(new), Some("inactive"), 2) if !o.active && stored_active => {
            Stage::Inactive { new: new.into() }
        }
        (None, Some(new), None, 1) if stored_active => Stage::Done { new: new.into() },
        _ => Stage::Unsettled(format!("keys {keys:?}, stored {stored_id:?}, record {phase:?}")),
    };
    if !unheld.is_empty() {
        // Allowed only while unsettled: the next runs must delete or store it.
        if !matches!(stage, Stage::Unsettled(_)) {
            return Err(format!("{user} has a key whose secret nobody holds: {unheld:?}"));
        }
        return Ok(Stage::Unsettled(format!("a key whose secret nobody holds: {unheld:?}")));
    }
    if let Stage::Grace { .. } | Stage::Inactive { .. } | Stage::Done { .. } = &stage {
        let Some(s) = &stored else { return Err(format!("{user}: stage {stage:?} without a stored key")) };
        if !works(&s.key).await {
            return Err(format!("{user}: the stored key {} does not work", s.key.access_key_id));
        }
    }
    Ok(stage)
}
