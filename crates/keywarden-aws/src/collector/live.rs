//! The per-user live reads, made only for the users whose findings need fresh facts (the
//! credential report can be hours old), a bounded number at a time.

use std::collections::BTreeMap;

use futures::stream::{self, StreamExt};
use keywarden_core::model::{AccessKeyMeta, LiveDetails, LiveRequest};

use super::IamDirectory;
use crate::error::AwsError;
use crate::sdk::{collected, list_access_keys};

impl IamDirectory {
    /// Every access key of one user as IAM sees it now.
    pub async fn access_keys(&self, user: &str) -> Result<Vec<AccessKeyMeta>, AwsError> {
        list_access_keys(&self.iam, user).await
    }

    /// Whether the user still has a console password.
    pub async fn has_login_profile(&self, user: &str) -> Result<bool, AwsError> {
        const OP: &str = "iam:GetLoginProfile";
        match self.iam.get_login_profile().user_name(user).send().await {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_no_such_entity_exception()) => Ok(false),
            Err(e) => Err(AwsError::from_sdk(OP, &e)),
        }
    }

    /// The reads behind [`Directory::live_details`](keywarden_core::ports::Directory).
    pub(super) async fn live(&self, request: &LiveRequest) -> LiveDetails {
        let limit = self.options.live_concurrency.max(1);
        // Owned names: a borrowed-string closure trips the higher-ranked `Send` check.
        let users: Vec<String> = request.access_keys_for.iter().cloned().collect();
        let access_keys: BTreeMap<_, _> = stream::iter(users)
            .map(|user| async move {
                let keys = collected("access keys", self.access_keys(&user).await);
                (user, keys)
            })
            .buffer_unordered(limit)
            .collect()
            .await;
        let users: Vec<String> = request.login_profile_for.iter().cloned().collect();
        let login_profiles: BTreeMap<_, _> = stream::iter(users)
            .map(|user| async move {
                let profile = collected("the login profile", self.has_login_profile(&user).await);
                (user, profile)
            })
            .buffer_unordered(limit)
            .collect()
            .await;
        LiveDetails { access_keys, login_profiles }
    }
}
