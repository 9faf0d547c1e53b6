//! What the planner may decide for a user: one [`Step`], its [`StepKind`] (the name the
//! report, digest and events share) and the [`Plan`] a human reads.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Why both keys stay active past the grace period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldCause {
    /// The old key was used within the in-use window when the grace period ended; keywarden
    /// deactivates it once it goes quiet.
    InUse,
    /// A human re-activated the old key after keywarden deactivated it; keywarden never
    /// touches it again until a human ends the hold.
    HumanReactivated,
}

/// The one next step for a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "step")]
pub enum Step {
    /// Nothing to do now.
    None,
    /// The key is due soon; tell the owner.
    Warn {
        /// The access key id that is due.
        key: String,
        /// Its creation plus `rotate_after_days`.
        due: DateTime<Utc>,
    },
    /// Start a rotation: record the intent, create a key, store its secret.
    Create {
        /// The user's one active key, which keeps working through the grace period.
        old: String,
    },
    /// An earlier run created `unstored` (inside its window, never used, its secret stored
    /// nowhere) and stopped or lost the answer before storing it: delete it, then start over.
    Recover {
        /// The access key id being rotated away from.
        old: String,
        /// The orphaned key id to delete first.
        unstored: String,
    },
    /// A previous run stored the secret but stopped before recording it: record the grace.
    Resume {
        /// The access key id being rotated away from.
        old: String,
        /// The access key id the rotation created.
        new: String,
    },
    /// Both keys stay active; alert. `recorded`: the record already says so, nothing to write.
    Hold {
        /// The access key id being rotated away from.
        old: String,
        /// The access key id the rotation created.
        new: String,
        /// The old key's last use as read live; `None` if it was never used or not looked up.
        last_used: Option<DateTime<Utc>>,
        /// Why the hold.
        cause: HoldCause,
        /// The record is already in the hold's phase, so the step writes nothing.
        recorded: bool,
    },
    /// Deactivate the old key (quiet after the grace, or a held key a human deactivated); record `inactive`.
    Deactivate {
        /// The access key id being rotated away from.
        old: String,
        /// The access key id the rotation created.
        new: String,
    },
    /// The old key stayed inactive and unused for `inactive_days`: delete it and remove the record.
    Delete {
        /// The access key id being rotated away from.
        old: String,
        /// The access key id the rotation created.
        new: String,
    },
    /// The rotation is over (or was finished by a human): remove the record.
    Clear,
    /// Rotation is due or under way but needs a human.
    Blocked {
        /// What the human must do, as the `rotation_blocked` finding says it.
        reason: String,
    },
}

/// The kind of a step, without its keys: what the report, the digest and the rotation
/// events name, so the three agree and nobody matches on strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// Nothing to do now.
    None,
    /// The key is due soon.
    Warn,
    /// A rotation starts.
    Create,
    /// An unstored key of an interrupted run is deleted before starting over.
    Recover,
    /// A stored secret's grace period is recorded.
    Resume,
    /// Both keys stay active.
    Hold,
    /// The old key is deactivated.
    Deactivate,
    /// The old key is deleted.
    Delete,
    /// The record is removed.
    Clear,
    /// The rotation needs a human.
    Blocked,
    /// Not known: the user's keys were not read, so no step was planned.
    Unknown,
}

impl StepKind {
    /// The name in reports, digests and SNS message attributes.
    pub fn as_str(self) -> &'static str {
        match self {
            StepKind::None => "none",
            StepKind::Warn => "warn",
            StepKind::Create => "create",
            StepKind::Recover => "recover",
            StepKind::Resume => "resume",
            StepKind::Hold => "hold",
            StepKind::Deactivate => "deactivate",
            StepKind::Delete => "delete",
            StepKind::Clear => "clear",
            StepKind::Blocked => "blocked",
            StepKind::Unknown => "unknown",
        }
    }

    /// Whether a done step of this kind is an event a human wants on its own (the key
    /// changed hands, or both keys stay active); the rest go in the digest only.
    pub fn alerts_when_done(self) -> bool {
        matches!(
            self,
            StepKind::Create | StepKind::Recover | StepKind::Hold | StepKind::Deactivate | StepKind::Delete
        )
    }
}

impl fmt::Display for StepKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad`, so the digest's column widths apply.
        f.pad(self.as_str())
    }
}

impl PartialEq<&str> for StepKind {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<str> for StepKind {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl Step {
    /// The step's kind, for the report.
    pub fn kind(&self) -> StepKind {
        match self {
            Step::None => StepKind::None,
            Step::Warn { .. } => StepKind::Warn,
            Step::Create { .. } => StepKind::Create,
            Step::Recover { .. } => StepKind::Recover,
            Step::Resume { .. } => StepKind::Resume,
            Step::Hold { .. } => StepKind::Hold,
            Step::Deactivate { .. } => StepKind::Deactivate,
            Step::Delete { .. } => StepKind::Delete,
            Step::Clear => StepKind::Clear,
            Step::Blocked { .. } => StepKind::Blocked,
        }
    }

    /// The step's name, as in the report.
    pub fn name(&self) -> &'static str {
        self.kind().as_str()
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
        match self {
            Step::None | Step::Warn { .. } | Step::Blocked { .. } => false,
            Step::Hold { recorded, .. } => !recorded,
            _ => true,
        }
    }
}

/// A step with the reason a human reads in the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// The IAM user name.
    pub user: String,
    /// The step, flattened so its `step` tag and keys sit next to `user` in the JSON.
    #[serde(flatten)]
    pub step: Step,
    /// Why this step and not another, with the dates or ages that decided it.
    pub reason: String,
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} ({})", self.user, self.step.name(), self.reason)
    }
}
