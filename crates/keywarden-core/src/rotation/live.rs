//! A user's keys as the executor read them just now, never the credential report's
//! hours-old view: every write is planned from this.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::record::{RecordError, RotationState, ROTATION_TAG};
use super::secret::SecretState;

/// One key as the executor read it just now (`ListAccessKeys` + `GetAccessKeyLastUsed`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveKey {
    /// The access key id (`AKIA…`).
    pub id: String,
    /// `Status` is `Active`.
    pub active: bool,
    /// `CreateDate` of `ListAccessKeys`.
    pub created: DateTime<Utc>,
    /// `LastUsedDate` of `GetAccessKeyLastUsed`; `None` for a key never used, or not looked up.
    pub last_used: Option<DateTime<Utc>>,
}

/// One user's state as read live just before planning: never the credential report's
/// hours-old view.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiveUser {
    /// The IAM user name, also the key of the rotator's maps and of the `keywarden/<user>` secret.
    pub user: String,
    /// The user's ARN, for findings and events.
    pub arn: String,
    /// Every key of the user, active or not (IAM allows two).
    pub keys: Vec<LiveKey>,
    /// The user's IAM tags, where [`ROTATION_TAG`] and the exemption tag are read from.
    pub tags: BTreeMap<String, String>,
    /// The user's `keywarden/<user>` secret, judged.
    pub secret: SecretState,
}

impl LiveUser {
    /// The planner's view, with the exemption decided by the caller.
    pub fn planner_input(&self, exempt: Option<String>) -> UserKeys {
        UserKeys {
            user: self.user.clone(),
            keys: self.keys.clone(),
            state: self.tags.get(ROTATION_TAG).map(|v| RotationState::from_tag(v)),
            secret: self.secret.clone(),
            exempt,
        }
    }
}

/// Everything the planner looks at for one user.
#[derive(Debug, Clone)]
pub struct UserKeys {
    /// The IAM user name.
    pub user: String,
    /// As [`LiveUser::keys`].
    pub keys: Vec<LiveKey>,
    /// `None`: no record; `Some(Err)`: a record keywarden cannot read.
    pub state: Option<Result<RotationState, RecordError>>,
    /// The user's secret, judged: which keys it holds, and whether keywarden may write it.
    pub secret: SecretState,
    /// Why the user is exempt from rotation, if they are.
    pub exempt: Option<String>,
}
