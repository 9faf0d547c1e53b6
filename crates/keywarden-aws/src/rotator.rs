//! The rotation executor: carries out one planned step with IAM and Secrets Manager.
//!
//! The order of writes is the safety argument (DESIGN §5):
//! - the intent tag is written before `CreateAccessKey`, so a crash leaves a record that the
//!   next run can recover from;
//! - the secret's resource policy is in place before the secret value is written, so the new
//!   key is never readable by anyone but its owner and keywarden;
//! - if storing the secret fails the new key is deleted at once: no key may exist whose
//!   secret nobody holds, and the user keeps the key it had;
//! - `LimitExceeded` from `CreateAccessKey` means someone else made a second key between our
//!   read and our write: stop, never delete.
//!
//! The new secret access key lives only in a local `String` between `CreateAccessKey` and
//! `PutSecretValue`; it is never logged, returned or put in an error.

use std::collections::BTreeMap;

use aws_sdk_iam::types::{StatusType, Tag};
use chrono::{DateTime, Utc};
use keywarden_core::ports::{Executed, Rotator};
use keywarden_core::rotation::{LiveKey, LiveUser, RotationState, Step, ROTATION_TAG};
use keywarden_core::ReadFailure;
use tokio::sync::OnceCell;
use tracing::{info, warn};

use crate::collector::{list_access_keys, to_chrono};
use crate::counter::ApiCallCounter;
use crate::error::AwsError;

/// The secret tag naming the access key id the secret holds: how a later run tells a stored
/// key from an orphan without reading the secret itself.
pub const SECRET_KEY_ID_TAG: &str = "keywarden:access-key-id";

/// The secret version id for a key: writing the value and naming its key is one call, so no
/// crash can leave a stored key that a later run mistakes for an orphan.
pub fn version_token(key_id: &str) -> String {
    // ClientRequestToken must be 32 to 64 characters.
    format!("keywarden-{key_id}-version")
}

/// The key id a secret version holds, read from its version id.
pub fn key_id_of_version(version_id: &str) -> Option<&str> {
    version_id.strip_prefix("keywarden-")?.strip_suffix("-version")
}

/// The secret's name for a user.
pub fn secret_name(user: &str) -> String {
    format!("keywarden/{user}")
}

/// The production [`Rotator`].
#[derive(Debug)]
pub struct IamRotator {
    iam: aws_sdk_iam::Client,
    secrets: aws_sdk_secretsmanager::Client,
    sts: aws_sdk_sts::Client,
    kms_key_id: Option<String>,
    role_arn: OnceCell<String>,
    counter: ApiCallCounter,
}

impl IamRotator {
    /// `role_arn`: keywarden's own role, the only principal besides the owner that the
    /// secret's policy does not deny; looked up with STS on first use when `None`.
    pub fn new(
        iam: aws_sdk_iam::Client,
        secrets: aws_sdk_secretsmanager::Client,
        sts: aws_sdk_sts::Client,
        kms_key_id: Option<String>,
        role_arn: Option<String>,
        counter: ApiCallCounter,
    ) -> Self {
        let cell = OnceCell::new();
        if let Some(arn) = role_arn {
            let _ = cell.set(arn);
        }
        Self { iam, secrets, sts, kms_key_id, role_arn: cell, counter }
    }

    pub fn api_calls(&self) -> BTreeMap<String, u64> {
        self.counter.snapshot()
    }

    async fn role_arn(&self) -> Result<&str, AwsError> {
        const OP: &str = "sts:GetCallerIdentity";
        self.role_arn
            .get_or_try_init(|| async {
                let out =
                    self.sts.get_caller_identity().send().await.map_err(|e| AwsError::from_sdk(OP, &e))?;
                let arn = out
                    .arn()
                    .ok_or(AwsError::Malformed { operation: OP, message: "no Arn in the response".into() })?;
                Ok(principal_arn(arn))
            })
            .await
            .map(String::as_str)
    }

    async fn tag_state(
        &self,
        user: &str,
        state: &RotationState,
        extra: Option<(&str, String)>,
    ) -> Result<(), AwsError> {
        const OP: &str = "iam:TagUser";
        let mut req = self.iam.tag_user().user_name(user).tags(tag(ROTATION_TAG, &state.to_tag())?);
        if let Some((k, v)) = extra {
            req = req.tags(tag(k, &v)?);
        }
        req.send().await.map_err(|e| AwsError::from_sdk(OP, &e))?;
        Ok(())
    }

    async fn untag(&self, user: &str, keys: &[&str]) -> Result<(), AwsError> {
        const OP: &str = "iam:UntagUser";
        let mut req = self.iam.untag_user().user_name(user);
        for k in keys {
            req = req.tag_keys(*k);
        }
        req.send().await.map_err(|e| AwsError::from_sdk(OP, &e))?;
        Ok(())
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

    async fn delete_key(&self, user: &str, key: &str) -> Result<(), AwsError> {
        const OP: &str = "iam:DeleteAccessKey";
        self.iam
            .delete_access_key()
            .user_name(user)
            .access_key_id(key)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(OP, &e))?;
        Ok(())
    }

    /// Ensures `keywarden/<user>` exists with the owner-only policy, then writes the value.
    async fn store_secret(&self, live: &LiveUser, key_id: &str, secret: &str) -> Result<String, AwsError> {
        let name = secret_name(&live.user);
        let arn = match self.secrets.describe_secret().secret_id(&name).send().await {
            Ok(out) => out.arn().unwrap_or(&name).to_string(),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_resource_not_found_exception()) => {
                let mut req = self
                    .secrets
                    .create_secret()
                    .name(&name)
                    .description(format!("Access key of IAM user {}, rotated by keywarden", live.user))
                    .tags(sm_tag("keywarden:managed", "true"));
                if let Some(kms) = &self.kms_key_id {
                    req = req.kms_key_id(kms);
                }
                let out =
                    req.send().await.map_err(|e| AwsError::from_sdk("secretsmanager:CreateSecret", &e))?;
                out.arn().unwrap_or(&name).to_string()
            }
            Err(e) => return Err(AwsError::from_sdk("secretsmanager:DescribeSecret", &e)),
        };
        let policy = secret_policy(&live.arn, self.role_arn().await?);
        self.secrets
            .put_resource_policy()
            .secret_id(&arn)
            .resource_policy(policy)
            .block_public_policy(true)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("secretsmanager:PutResourcePolicy", &e))?;
        let value = serde_json::json!({
            "UserName": live.user,
            "AccessKeyId": key_id,
            "SecretAccessKey": secret,
        })
        .to_string();
        self.secrets
            .put_secret_value()
            .secret_id(&arn)
            .client_request_token(version_token(key_id))
            .secret_string(value)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("secretsmanager:PutSecretValue", &e))?;
        self.secrets
            .tag_resource()
            .secret_id(&arn)
            .tags(sm_tag(SECRET_KEY_ID_TAG, key_id))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("secretsmanager:TagResource", &e))?;
        Ok(arn)
    }

    async fn create(&self, live: &LiveUser, old: &str, now: DateTime<Utc>) -> Result<Executed, AwsError> {
        let user = live.user.as_str();
        self.tag_state(user, &RotationState::Intent { old: old.to_string(), at: now }, None).await?;
        let created = match self.iam.create_access_key().user_name(user).send().await {
            Ok(out) => out,
            Err(e) if e.as_service_error().is_some_and(|se| se.is_limit_exceeded_exception()) => {
                // Another run or a human made a second key since we read: theirs to finish.
                warn!(user, "CreateAccessKey hit the two-key limit; stopping without deleting anything");
                // Withdraw our intent if it is still ours, so no later run takes the other
                // party's key for an orphan of ours: with two keys and no record it blocks.
                let intent = RotationState::Intent { old: old.to_string(), at: now }.to_tag();
                if self.current_rotation_tag(user).await.ok().flatten().as_deref() == Some(intent.as_str()) {
                    if let Err(u) = self.untag(user, &[ROTATION_TAG]).await {
                        warn!(user, error = %u, "could not withdraw the intent tag after losing the race");
                    }
                }
                return Err(AwsError::Service {
                    operation: "iam:CreateAccessKey",
                    code: "LimitExceeded".into(),
                    message: format!(
                        "{user} gained a second key since it was read (another run or a human); stopped, nothing deleted"
                    ),
                });
            }
            Err(e) => {
                let err = AwsError::from_sdk("iam:CreateAccessKey", &e);
                if let Err(u) = self.untag(user, &[ROTATION_TAG]).await {
                    warn!(user, error = %u, "could not remove the intent tag after a failed CreateAccessKey");
                }
                return Err(err);
            }
        };
        let Some(key) = created.access_key() else {
            return Err(AwsError::Malformed {
                operation: "iam:CreateAccessKey",
                message: "no AccessKey".into(),
            });
        };
        let new_id = key.access_key_id().to_string();
        let stored = self.store_secret(live, &new_id, key.secret_access_key()).await;
        drop(created);
        let secret_arn = match stored {
            Ok(arn) => arn,
            Err(store_err) => {
                // Nobody holds this key's secret: delete it now; the user keeps the old key.
                return Err(match self.delete_key(user, &new_id).await {
                    Ok(()) => {
                        if let Err(u) = self.untag(user, &[ROTATION_TAG]).await {
                            warn!(user, error = %u, "could not remove the intent tag");
                        }
                        with_message(store_err, |m| {
                            format!(
                                "{m}; the new key {new_id} was deleted and {user} keeps its old key {old}"
                            )
                        })
                    }
                    Err(del_err) => with_message(store_err, |m| {
                        format!("{m}; deleting the unstored new key {new_id} also failed ({del_err}); the next run deletes it")
                    }),
                });
            }
        };
        let description = format!("keywarden rotation of {old} on {}", now.format("%Y-%m-%d"));
        self.tag_state(
            user,
            &RotationState::Grace { old: old.to_string(), new: new_id.clone(), at: now },
            Some((new_id.as_str(), description)),
        )
        .await?;
        info!(user, old, new = %new_id, "rotation started; grace period begins");
        Ok(Executed { new_key_id: Some(new_id), secret_arn: Some(secret_arn) })
    }
}

/// The ARN `aws:PrincipalArn` carries for the caller: an assumed role's session ARN names the
/// role (`arn:aws:sts::1:assumed-role/R/s` → `arn:aws:iam::1:role/R`).
pub fn principal_arn(caller: &str) -> String {
    let parts: Vec<&str> = caller.splitn(6, ':').collect();
    if let [arn, partition, "sts", _, account, resource] = parts.as_slice() {
        if let Some(rest) = resource.strip_prefix("assumed-role/") {
            let role = rest.split('/').next().unwrap_or(rest);
            return format!("{arn}:{partition}:iam::{account}:role/{role}");
        }
    }
    caller.to_string()
}

/// Only the owner may read; everyone but the owner and keywarden is denied everything.
pub fn secret_policy(user_arn: &str, keywarden_arn: &str) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "OwnerMayRead",
                "Effect": "Allow",
                "Principal": {"AWS": user_arn},
                "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
                "Resource": "*"
            },
            {
                "Sid": "DenyEveryoneElse",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "secretsmanager:*",
                "Resource": "*",
                "Condition": {"StringNotEquals": {"aws:PrincipalArn": [user_arn, keywarden_arn]}}
            }
        ]
    })
    .to_string()
}

fn tag(key: &str, value: &str) -> Result<Tag, AwsError> {
    Tag::builder()
        .key(key)
        .value(value)
        .build()
        .map_err(|e| AwsError::Malformed { operation: "iam:TagUser", message: e.to_string() })
}

fn sm_tag(key: &str, value: &str) -> aws_sdk_secretsmanager::types::Tag {
    aws_sdk_secretsmanager::types::Tag::builder().key(key).value(value).build()
}

fn with_message(e: AwsError, f: impl FnOnce(&str) -> String) -> AwsError {
    match e {
        AwsError::Service { operation, code, message } => {
            AwsError::Service { operation, code, message: f(&message) }
        }
        AwsError::Transport { operation, message } => AwsError::Transport { operation, message: f(&message) },
        AwsError::Malformed { operation, message } => AwsError::Malformed { operation, message: f(&message) },
        other => other,
    }
}

impl Rotator for IamRotator {
    async fn read(&self, user: &str) -> Result<LiveUser, ReadFailure> {
        let inner = async {
            let got = self
                .iam
                .get_user()
                .user_name(user)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("iam:GetUser", &e))?;
            let arn = got
                .user()
                .map(|u| u.arn().to_string())
                .ok_or(AwsError::Malformed { operation: "iam:GetUser", message: "no User".into() })?;
            let mut keys: Vec<LiveKey> = list_access_keys(&self.iam, user)
                .await?
                .into_iter()
                .map(|k| LiveKey {
                    id: k.access_key_id,
                    active: k.active,
                    created: k.created,
                    last_used: None,
                })
                .collect();
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
            let mut tags = BTreeMap::new();
            let mut pages = self.iam.list_user_tags().user_name(user).into_paginator().send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| AwsError::from_sdk("iam:ListUserTags", &e))?;
                tags.extend(page.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())));
            }
            let (stored_key_id, secret_arn) =
                match self.secrets.describe_secret().secret_id(secret_name(user)).send().await {
                    Ok(out) => (
                        out.tags()
                            .iter()
                            .find(|t| t.key() == Some(SECRET_KEY_ID_TAG))
                            .and_then(|t| t.value())
                            .map(str::to_string),
                        out.arn().map(str::to_string),
                    ),
                    Err(e) if e.as_service_error().is_some_and(|se| se.is_resource_not_found_exception()) => {
                        (None, None)
                    }
                    Err(e) => return Err(AwsError::from_sdk("secretsmanager:DescribeSecret", &e)),
                };
            Ok(LiveUser { user: user.to_string(), arn, keys, tags, stored_key_id, secret_arn })
        };
        inner.await.map_err(ReadFailure::from)
    }

    async fn execute(
        &self,
        live: &LiveUser,
        step: &Step,
        now: DateTime<Utc>,
    ) -> Result<Executed, ReadFailure> {
        let user = live.user.as_str();
        let state = live.tags.get(ROTATION_TAG).and_then(|v| RotationState::from_tag(v).ok());
        let result: Result<Executed, AwsError> = async {
            match step {
                Step::Create { old } => self.create(live, old, now).await,
                Step::Recover { old, unstored } => {
                    self.delete_key(user, unstored).await?;
                    info!(user, key = %unstored, "deleted a key whose secret was never stored");
                    self.create(live, old, now).await
                }
                Step::Resume { old, new } => {
                    let description = format!("keywarden rotation of {old} on {}", now.format("%Y-%m-%d"));
                    let grace = RotationState::Grace { old: old.clone(), new: new.clone(), at: now };
                    self.tag_state(user, &grace, Some((new.as_str(), description))).await?;
                    Ok(Executed { new_key_id: Some(new.clone()), secret_arn: live.secret_arn.clone() })
                }
                Step::Hold { old, new, .. } => {
                    if !matches!(state, Some(RotationState::Hold { .. })) {
                        let hold = RotationState::Hold { old: old.clone(), new: new.clone(), at: now };
                        self.tag_state(user, &hold, None).await?;
                    }
                    Ok(Executed { new_key_id: Some(new.clone()), secret_arn: live.secret_arn.clone() })
                }
                Step::Deactivate { old, new } => {
                    if live.keys.iter().any(|k| k.id == *old && k.active) {
                        self.iam
                            .update_access_key()
                            .user_name(user)
                            .access_key_id(old)
                            .status(StatusType::Inactive)
                            .send()
                            .await
                            .map_err(|e| AwsError::from_sdk("iam:UpdateAccessKey", &e))?;
                    }
                    let inactive = RotationState::Inactive { old: old.clone(), new: new.clone(), at: now };
                    self.tag_state(user, &inactive, None).await?;
                    info!(user, old, "old key deactivated");
                    Ok(Executed { new_key_id: Some(new.clone()), secret_arn: live.secret_arn.clone() })
                }
                Step::Delete { old, new } => {
                    self.delete_key(user, old).await?;
                    self.untag(user, &[ROTATION_TAG, old.as_str()]).await?;
                    info!(user, old, "old key deleted; rotation finished");
                    Ok(Executed { new_key_id: Some(new.clone()), secret_arn: live.secret_arn.clone() })
                }
                Step::Clear => {
                    self.untag(user, &[ROTATION_TAG]).await?;
                    Ok(Executed::default())
                }
                Step::None | Step::Warn { .. } | Step::Blocked { .. } => Ok(Executed::default()),
            }
        }
        .await;
        result.map_err(ReadFailure::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_tokens_name_their_key_and_fit_the_api() {
        let t = version_token("AKIAIOSFODNN7EXAMPLE");
        assert!((32..=64).contains(&t.len()), "{t}");
        assert_eq!(key_id_of_version(&t), Some("AKIAIOSFODNN7EXAMPLE"));
        assert_eq!(key_id_of_version("3f1c2b9e-0000-4000-8000-000000000000"), None);
    }

    #[test]
    fn assumed_role_sessions_map_to_their_role() {
        assert_eq!(
            principal_arn("arn:aws:sts::123456789012:assumed-role/keywarden-fn/keywarden"),
            "arn:aws:iam::123456789012:role/keywarden-fn"
        );
        assert_eq!(principal_arn("arn:aws:iam::123456789012:user/ops"), "arn:aws:iam::123456789012:user/ops");
    }

    #[test]
    fn the_secret_policy_allows_only_the_owner_and_denies_everyone_else() {
        let p: serde_json::Value =
            serde_json::from_str(&secret_policy("arn:aws:iam::1:user/team/alice", "arn:aws:iam::1:role/kw"))
                .expect("JSON");
        assert_eq!(p["Statement"][0]["Principal"]["AWS"], "arn:aws:iam::1:user/team/alice");
        assert_eq!(p["Statement"][1]["Effect"], "Deny");
        assert_eq!(
            p["Statement"][1]["Condition"]["StringNotEquals"]["aws:PrincipalArn"],
            serde_json::json!(["arn:aws:iam::1:user/team/alice", "arn:aws:iam::1:role/kw"])
        );
    }
}
