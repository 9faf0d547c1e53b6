//! keywarden's rotation record: the `keywarden:rotation` user tag.
//!
//! It is written before every rotation write (the intent before `CreateAccessKey`) so that
//! a run whose answer was lost leaves what the next run needs to settle the outcome from
//! IAM. A record keywarden cannot read is an error the planner refuses to act on.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Serialize;

/// The user tag that holds keywarden's rotation record.
pub const ROTATION_TAG: &str = "keywarden:rotation";

/// Why a rotation record could not be read. The planner blocks the user on any of these,
/// because guessing what a half-written or hand-edited record meant could strand a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The record is not a `v1` record.
    #[error("unsupported rotation record `{0}`")]
    Unsupported(String),
    /// The record names no phase.
    #[error("rotation record `{0}` has no phase")]
    NoPhase(String),
    /// The `at=` time does not parse.
    #[error("rotation record `{record}` has a bad time `{time}`")]
    BadTime {
        /// The whole tag value.
        record: String,
        /// The time as written.
        time: String,
    },
    /// A word is neither `old=`, `new=` nor `at=` with a valid value.
    #[error("rotation record `{record}` has an unexpected `{word}`")]
    Unexpected {
        /// The whole tag value.
        record: String,
        /// The word that was not understood.
        word: String,
    },
    /// The record names no old key.
    #[error("rotation record `{0}` names no old key")]
    NoOldKey(String),
    /// The phase needs a new key and the record names none.
    #[error("rotation record `{0}` names no new key")]
    NoNewKey(String),
    /// The record has no time.
    #[error("rotation record `{0}` has no time")]
    NoTime(String),
    /// The phase is not one keywarden writes (or an intent that names a new key).
    #[error("rotation record `{record}` has an unknown phase `{phase}`")]
    UnknownPhase {
        /// The whole tag value.
        record: String,
        /// The phase as written.
        phase: String,
    },
}

/// Where a rotation stands, as recorded in the user's `keywarden:rotation` tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "phase")]
pub enum RotationState {
    /// Written before `CreateAccessKey`, so a crash between the two is recoverable.
    Intent {
        /// The access key id being rotated away from (`old=`).
        old: String,
        /// When the intent was written, just before `CreateAccessKey` (`at=`, UTC, whole seconds).
        at: DateTime<Utc>,
    },
    /// The new key exists and its secret is stored; both keys work until `at + grace`.
    Grace {
        /// The access key id being rotated away from (`old=`).
        old: String,
        /// The access key id keywarden created (`new=`).
        new: String,
        /// When the new key was stored: the grace period counts from here (`at=`, UTC, whole seconds).
        at: DateTime<Utc>,
    },
    /// The old key was still in use when the grace period ended; both stay active.
    Hold {
        /// The access key id being rotated away from (`old=`).
        old: String,
        /// The access key id keywarden created (`new=`).
        new: String,
        /// When the run found the old key still in use (`at=`, UTC, whole seconds).
        at: DateTime<Utc>,
    },
    /// The old key was deactivated at `at`.
    Inactive {
        /// The access key id being rotated away from (`old=`).
        old: String,
        /// The access key id keywarden created (`new=`).
        new: String,
        /// When the old key was deactivated (`at=`, UTC, whole seconds).
        at: DateTime<Utc>,
    },
    /// A human re-activated the old key after keywarden deactivated it (noticed at `at`).
    /// keywarden never deactivates or deletes that key again: the hold ends only when a human
    /// deactivates or deletes the old key, or removes the record.
    HumanHold {
        /// The access key id being rotated away from (`old=`).
        old: String,
        /// The access key id keywarden created (`new=`).
        new: String,
        /// When the re-activation was noticed (`at=`, UTC, whole seconds).
        at: DateTime<Utc>,
    },
}

impl RotationState {
    /// The phase word of the tag (`intent`, `grace`, `hold`, `inactive`, `human-hold`), also the report's.
    pub fn phase(&self) -> &'static str {
        match self {
            RotationState::Intent { .. } => "intent",
            RotationState::Grace { .. } => "grace",
            RotationState::Hold { .. } => "hold",
            RotationState::Inactive { .. } => "inactive",
            RotationState::HumanHold { .. } => "human-hold",
        }
    }

    /// The key being rotated away from; every phase names one.
    pub fn old(&self) -> &str {
        match self {
            RotationState::Intent { old, .. }
            | RotationState::Grace { old, .. }
            | RotationState::Hold { old, .. }
            | RotationState::Inactive { old, .. }
            | RotationState::HumanHold { old, .. } => old,
        }
    }

    /// The key created by the rotation; `None` only in the intent phase, before it exists.
    pub fn new_key(&self) -> Option<&str> {
        match self {
            RotationState::Intent { .. } => None,
            RotationState::Grace { new, .. }
            | RotationState::Hold { new, .. }
            | RotationState::Inactive { new, .. }
            | RotationState::HumanHold { new, .. } => Some(new),
        }
    }

    /// When the phase was entered; the planner measures the grace period and holds from it.
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            RotationState::Intent { at, .. }
            | RotationState::Grace { at, .. }
            | RotationState::Hold { at, .. }
            | RotationState::Inactive { at, .. }
            | RotationState::HumanHold { at, .. } => *at,
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
    pub fn from_tag(value: &str) -> Result<Self, RecordError> {
        let record = || value.to_string();
        let mut words = value.split_whitespace();
        if words.next() != Some("v1") {
            return Err(RecordError::Unsupported(record()));
        }
        let phase = words.next().ok_or_else(|| RecordError::NoPhase(record()))?;
        let (mut old, mut new, mut at) = (None, None, None);
        for word in words {
            match word.split_once('=') {
                Some(("old", v)) if is_key_id(v) => old = Some(v.to_string()),
                Some(("new", v)) if is_key_id(v) => new = Some(v.to_string()),
                Some(("at", v)) => {
                    at = NaiveDateTime::parse_from_str(v, "%Y%m%dT%H%M%SZ").ok().map(|t| t.and_utc());
                    if at.is_none() {
                        return Err(RecordError::BadTime { record: record(), time: v.to_string() });
                    }
                }
                _ => return Err(RecordError::Unexpected { record: record(), word: word.to_string() }),
            }
        }
        let old = old.ok_or_else(|| RecordError::NoOldKey(record()))?;
        let at = at.ok_or_else(|| RecordError::NoTime(record()))?;
        let need_new = || new.clone().ok_or_else(|| RecordError::NoNewKey(record()));
        match phase {
            "intent" if new.is_none() => Ok(RotationState::Intent { old, at }),
            "grace" => Ok(RotationState::Grace { old, new: need_new()?, at }),
            "hold" => Ok(RotationState::Hold { old, new: need_new()?, at }),
            "inactive" => Ok(RotationState::Inactive { old, new: need_new()?, at }),
            "human-hold" => Ok(RotationState::HumanHold { old, new: need_new()?, at }),
            _ => Err(RecordError::UnknownPhase { record: record(), phase: phase.to_string() }),
        }
    }
}

/// An access key id as IAM writes them; anything else in a record is a corruption.
pub(crate) fn is_key_id(s: &str) -> bool {
    (16..=128).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric())
}
