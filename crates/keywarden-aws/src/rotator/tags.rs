//! The rotation record on the IAM user: the `keywarden:rotation` tag is the one place a
//! rotation's progress lives between runs, so every state change is a tag write.

use keywarden_core::rotation::{RotationState, ROTATION_TAG};
use tracing::warn;

use super::IamRotator;
use crate::error::AwsError;
use crate::sdk::iam_tag;

impl IamRotator {
    /// Records `state`, plus one more tag (the new key's description) when given.
    pub(super) async fn tag_state(
        &self,
        user: &str,
        state: &RotationState,
        extra: Option<(&str, String)>,
    ) -> Result<(), AwsError> {
        const OP: &str = "iam:TagUser";
        let mut req = self.iam.tag_user().user_name(user).tags(iam_tag(ROTATION_TAG, &state.to_tag())?);
        if let Some((k, v)) = extra {
            req = req.tags(iam_tag(k, &v)?);
        }
        let res = req.send().await.map_err(|e| AwsError::from_sdk(OP, &e));
        self.wrote(OP);
        res.map(|_| ())
    }

    /// Removes tags; removing one that is not there is not an error in IAM.
    pub(super) async fn untag(&self, user: &str, keys: &[&str]) -> Result<(), AwsError> {
        const OP: &str = "iam:UntagUser";
        let mut req = self.iam.untag_user().user_name(user);
        for k in keys {
            req = req.tag_keys(*k);
        }
        let res = req.send().await.map_err(|e| AwsError::from_sdk(OP, &e));
        self.wrote(OP);
        res.map(|_| ())
    }

    async fn current_rotation_tag(&self, user: &str) -> Result<Option<String>, AwsError> {
        let mut pages = self.iam.list_user_tags().user_name(user).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::from_sdk("iam:ListUserTags", &e))?;
            if let Some(t) = page.tags().iter().find(|t| t.key() == ROTATION_TAG) {
                return Ok(Some(t.value().to_string()));
            }
        }
        Ok(None)
    }

    /// Removes our intent after a create that certainly made nothing, if the record is still
    /// exactly ours. Best effort: a stale intent is harmless, since the planner deletes only a
    /// key created inside the intent's window, never used and stored nowhere.
    pub(super) async fn withdraw_intent(&self, user: &str, intent: &RotationState) {
        let ours = intent.to_tag();
        match self.current_rotation_tag(user).await {
            Ok(Some(current)) if current == ours => {
                if let Err(e) = self.untag(user, &[ROTATION_TAG]).await {
                    warn!(user, error = %e, "could not withdraw the intent tag; the next run sees no new key and starts again");
                }
            }
            Ok(_) => {}
            Err(e) => warn!(user, error = %e, "could not re-read the rotation record; the intent stays"),
        }
    }
}
