//! The new key's home in Secrets Manager: the secret's name, its owner-only resource
//! policy, and the writes that store a key there without ever exposing it to anyone else.

use std::collections::BTreeMap;

use keywarden_core::rotation::{version_id, LiveUser, SecretFacts, SecretState, MANAGED_SECRET_TAG};

use super::IamRotator;
use crate::error::{AwsError, Outcome};
use crate::sdk::secrets_tag;

/// The secret's name for a user: one fixed prefix, so the rotator lists all of keywarden's
/// secrets in one filtered read and the owner finds theirs without asking.
pub fn secret_name(user: &str) -> String {
    format!("keywarden/{user}")
}

/// The role name in an assumed-role session ARN (`arn:aws:sts::1:assumed-role/R/session`):
/// the secret's policy must name the role, which outlives the session.
pub fn assumed_role_name(caller: &str) -> Option<&str> {
    let parts: Vec<&str> = caller.splitn(6, ':').collect();
    let [_, _, "sts", _, _, resource] = parts.as_slice() else { return None };
    resource.strip_prefix("assumed-role/")?.split('/').next().filter(|r| !r.is_empty())
}

/// Only the owner may read; everyone but the owner and keywarden is denied everything, so
/// a broad `secretsmanager:*` grant elsewhere in the account cannot read a user's key.
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

/// Why storing a new key's secret failed, and whether its value may have been written.
pub(super) struct StoreFailure {
    pub(super) error: AwsError,
    /// `PutSecretValue` got no usable answer: the value may be stored although the call failed.
    pub(super) value_sent: bool,
}

impl From<AwsError> for StoreFailure {
    fn from(error: AwsError) -> Self {
        StoreFailure { error, value_sent: false }
    }
}

/// Whether a secret carries keywarden's managed tag, which only `CreateSecret` writes.
fn is_managed<'a>(mut tags: impl Iterator<Item = &'a aws_sdk_secretsmanager::types::Tag>) -> bool {
    tags.any(|t| t.key() == Some(MANAGED_SECRET_TAG) && t.value() == Some("true"))
}

/// A secret's versions with their stages, as the planner reads which key a secret holds.
fn versions(map: Option<&std::collections::HashMap<String, Vec<String>>>) -> BTreeMap<String, Vec<String>> {
    map.map(|m| m.iter().map(|(v, s)| (v.clone(), s.clone())).collect()).unwrap_or_default()
}

impl IamRotator {
    /// keywarden's principal as `aws:PrincipalArn` carries it. An assumed role's session ARN
    /// (`arn:aws:sts::1:assumed-role/R/s`) drops the role's path, which `aws:PrincipalArn`
    /// keeps: the role itself is read to get it, or the Deny would match keywarden too.
    async fn role_arn(&self) -> Result<&str, AwsError> {
        self.role_arn
            .get_or_try_init(|| async {
                const OP: &str = "sts:GetCallerIdentity";
                let out =
                    self.sts.get_caller_identity().send().await.map_err(|e| AwsError::from_sdk(OP, &e))?;
                let arn = out
                    .arn()
                    .ok_or(AwsError::Malformed { operation: OP, message: "no Arn in the response".into() })?;
                let Some(role) = assumed_role_name(arn) else { return Ok(arn.to_string()) };
                let got = self
                    .iam
                    .get_role()
                    .role_name(role)
                    .send()
                    .await
                    .map_err(|e| AwsError::from_sdk("iam:GetRole", &e))?;
                got.role()
                    .map(|r| r.arn().to_string())
                    .ok_or(AwsError::Malformed { operation: "iam:GetRole", message: "no Role".into() })
            })
            .await
            .map(String::as_str)
    }

    /// Every keywarden secret of the account, judged, by user name (see [`Rotator::secrets`]).
    ///
    /// [`Rotator::secrets`]: keywarden_core::ports::Rotator::secrets
    pub(super) async fn list_secrets(&self) -> Result<BTreeMap<String, SecretState>, AwsError> {
        const OP: &str = "secretsmanager:ListSecrets";
        let prefix = secret_name("");
        let filter = aws_sdk_secretsmanager::types::Filter::builder()
            .key(aws_sdk_secretsmanager::types::FilterNameStringType::Name)
            .values(&prefix)
            .build();
        let mut listed = BTreeMap::new();
        // Secrets scheduled for deletion are listed too: keywarden must refuse them, not
        // take them for missing and try to create one.
        let mut pages = self
            .secrets
            .list_secrets()
            .filters(filter)
            .include_planned_deletion(true)
            .max_results(100)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::from_sdk(OP, &e))?;
            for entry in page.secret_list() {
                // The name filter matches prefixes case-insensitively; only the exact name
                // is a user's secret, as DescribeSecret would find it.
                let (Some(user), Some(arn)) =
                    (entry.name().and_then(|n| n.strip_prefix(prefix.as_str())), entry.arn())
                else {
                    continue;
                };
                let facts = SecretFacts {
                    arn: arn.to_string(),
                    managed: is_managed(entry.tags().iter()),
                    scheduled_for_deletion: entry.deleted_date().is_some(),
                    kms_key_id: entry.kms_key_id().map(str::to_string),
                    versions: versions(entry.secret_versions_to_stages()),
                };
                listed.insert(user.to_string(), self.judge(Some(facts)));
            }
        }
        Ok(listed)
    }

    /// One user's secret as it is now; `None` when there is none.
    pub(super) async fn describe_secret(&self, user: &str) -> Result<Option<SecretFacts>, AwsError> {
        const OP: &str = "secretsmanager:DescribeSecret";
        match self.secrets.describe_secret().secret_id(secret_name(user)).send().await {
            Ok(out) => {
                let arn = out
                    .arn()
                    .ok_or(AwsError::Malformed { operation: OP, message: "no ARN in the answer".into() })?;
                Ok(Some(SecretFacts {
                    arn: arn.to_string(),
                    managed: is_managed(out.tags().iter()),
                    scheduled_for_deletion: out.deleted_date().is_some(),
                    kms_key_id: out.kms_key_id().map(str::to_string),
                    versions: versions(out.version_ids_to_stages()),
                }))
            }
            Err(e) if e.as_service_error().is_some_and(|se| se.is_resource_not_found_exception()) => Ok(None),
            Err(e) => Err(AwsError::from_sdk(OP, &e)),
        }
    }

    /// Whether keywarden may write to the secret, with the configured KMS key.
    pub(super) fn judge(&self, facts: Option<SecretFacts>) -> SecretState {
        SecretState::judge(facts, self.kms_key_id.as_deref())
    }

    /// The secret's ARN, creating it when the live read found none; refuses a secret keywarden
    /// must not write to (someone else's, being deleted, another KMS key).
    async fn usable_secret(&self, live: &LiveUser) -> Result<String, AwsError> {
        const OP: &str = "secretsmanager:CreateSecret";
        let adopt = |state: SecretState| match state {
            SecretState::Usable { arn, .. } => Ok(arn),
            SecretState::Refused { reason, .. } => Err(AwsError::Refused { operation: OP, message: reason }),
            SecretState::Missing => Err(AwsError::Malformed {
                operation: "secretsmanager:DescribeSecret",
                message: "the secret it just reported existing is gone".into(),
            }),
        };
        // The live read judged the secret moments ago; only a secret it did not see needs a
        // call here (and a fresh look if someone created it since).
        if live.secret != SecretState::Missing {
            return adopt(live.secret.clone());
        }
        // The managed tag is written by CreateSecret itself: a secret without it is not ours.
        let mut req = self
            .secrets
            .create_secret()
            .name(secret_name(&live.user))
            .description(format!("Access key of IAM user {}, rotated by keywarden", live.user))
            .tags(secrets_tag(MANAGED_SECRET_TAG, "true"));
        if let Some(kms) = &self.kms_key_id {
            req = req.kms_key_id(kms);
        }
        let res = req.send().await;
        self.wrote(OP);
        match res {
            Ok(out) => out
                .arn()
                .map(str::to_string)
                .ok_or(AwsError::Malformed { operation: OP, message: "no ARN in the answer".into() }),
            // Our own earlier attempt whose answer was lost, or another run: judge what is there.
            Err(e) if e.as_service_error().is_some_and(|se| se.is_resource_exists_exception()) => {
                adopt(self.judge(self.describe_secret(&live.user).await?))
            }
            Err(e) => Err(AwsError::from_sdk(OP, &e)),
        }
    }

    /// Stores the new key: the secret (created if need be), its owner-only policy, then the
    /// value under the version id that names the key.
    pub(super) async fn store_secret(
        &self,
        live: &LiveUser,
        key_id: &str,
        secret: &str,
    ) -> Result<String, StoreFailure> {
        let arn = self.usable_secret(live).await?;
        let policy = secret_policy(&live.arn, self.role_arn().await?);
        const POLICY: &str = "secretsmanager:PutResourcePolicy";
        let res = self
            .secrets
            .put_resource_policy()
            .secret_id(&arn)
            .resource_policy(policy)
            .block_public_policy(true)
            .send()
            .await;
        self.wrote(POLICY);
        res.map_err(|e| AwsError::from_sdk(POLICY, &e))?;
        let value = serde_json::json!({
            "UserName": live.user,
            "AccessKeyId": key_id,
            "SecretAccessKey": secret,
        })
        .to_string();
        const PUT: &str = "secretsmanager:PutSecretValue";
        let res = self
            .secrets
            .put_secret_value()
            .secret_id(&arn)
            .client_request_token(version_id(key_id))
            .secret_string(value)
            .send()
            .await;
        self.wrote(PUT);
        res.map_err(|e| StoreFailure {
            value_sent: Outcome::of(&e) == Outcome::Unknown,
            error: AwsError::from_sdk(PUT, &e),
        })?;
        Ok(arn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assumed_role_sessions_name_their_role() {
        assert_eq!(
            assumed_role_name("arn:aws:sts::123456789012:assumed-role/keywarden-fn/keywarden"),
            Some("keywarden-fn")
        );
        assert_eq!(assumed_role_name("arn:aws:iam::123456789012:user/ops"), None);
        assert_eq!(assumed_role_name("arn:aws:sts::123456789012:federated-user/bob"), None);
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
