//! The rotator's live read of one user: what the planner decides on must be IAM's state now,
//! not the credential report's of some hours ago.

use std::collections::BTreeMap;

use keywarden_core::rotation::{LiveKey, LiveUser, SecretState, ROTATION_TAG};

use super::IamRotator;
use crate::error::AwsError;
use crate::sdk::{list_access_keys, to_chrono};

impl IamRotator {
    /// `GetUser` gives the ARN and the tags in one call; the keys' last use is read only when
    /// a rotation record makes the planner ask for it (a first rotation does not), so a
    /// first rotation costs two reads here.
    pub(super) async fn read_user(
        &self,
        user: &str,
        listed: Option<&SecretState>,
    ) -> Result<LiveUser, AwsError> {
        let got = self
            .iam
            .get_user()
            .user_name(user)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("iam:GetUser", &e))?;
        let found =
            got.user().ok_or(AwsError::Malformed { operation: "iam:GetUser", message: "no User".into() })?;
        let arn = found.arn().to_string();
        let tags: BTreeMap<String, String> =
            found.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect();
        let mut keys: Vec<LiveKey> = list_access_keys(&self.iam, user)
            .await?
            .into_iter()
            .map(|k| LiveKey { id: k.access_key_id, active: k.active, created: k.created, last_used: None })
            .collect();
        let mid_rotation = tags.contains_key(ROTATION_TAG);
        if mid_rotation {
            for k in &mut keys {
                let used = self
                    .iam
                    .get_access_key_last_used()
                    .access_key_id(&k.id)
                    .send()
                    .await
                    .map_err(|e| AwsError::from_sdk("iam:GetAccessKeyLastUsed", &e))?;
                k.last_used =
                    used.access_key_last_used().and_then(|u| u.last_used_date()).and_then(to_chrono);
            }
        }
        let secret = match listed {
            Some(state) if !mid_rotation => state.clone(),
            _ => self.judge(self.describe_secret(user).await?),
        };
        Ok(LiveUser { user: user.to_string(), arn, keys, tags, secret })
    }
}
