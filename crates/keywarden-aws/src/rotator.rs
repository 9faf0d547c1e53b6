//! The rotation executor: carries out one planned step with IAM and Secrets Manager.
//!
//! Every write is followed by the question "what if its answer was lost?":
//! - the intent tag is written before `CreateAccessKey`, so a run that stops (or loses the
//!   answer) after IAM created a key leaves a record the next run settles from IAM;
//! - `CreateAccessKey` is the one write that is not idempotent. The SDK never retries it
//!   (a retry after a lost answer makes a second key, or answers `LimitExceeded` for our own
//!   first one); only a throttled attempt, which IAM refused before acting, is tried again.
//!   Any other unanswered attempt keeps the intent: the next run's planner decides, from the
//!   keys' creation times, their use and the secret's versions, whether a key is ours;
//! - the secret's resource policy is in place before the value is written, so the new key is
//!   never readable by anyone but its owner and keywarden;
//! - the value is written under a version id that names its key (`PutSecretValue` with a
//!   `ClientRequestToken`), so which key a stored secret holds is read from the stored version
//!   itself, and a repeated write is a no-op;
//! - if storing fails and the value cannot have been written (or a re-read shows it was not)
//!   the new key is deleted at once: no key may exist whose secret nobody holds. When the
//!   re-read cannot tell, nothing is deleted and the intent stays for the next run;
//! - `LimitExceeded` from `CreateAccessKey` means someone else made a second key between our
//!   read and our write: stop, never delete, keep the record;
//! - the idempotent writes (tags, key status, deletes, the policy, the value) are left to the
//!   SDK's retries; a delete that finds its key gone has done its job.
//!
//! The new secret access key lives only in a local `String` between `CreateAccessKey` and
//! `PutSecretValue`; it is never logged, returned or put in an error.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_iam::types::{StatusType, Tag};
use chrono::{DateTime, Utc};
use keywarden_core::ports::{Executed, Rotator};
use keywarden_core::rotation::{
    version_id, HoldCause, LiveKey, LiveUser, RotationState, SecretFacts, SecretState, Step,
    MANAGED_SECRET_TAG, ROTATION_TAG,
};
use keywarden_core::ReadFailure;
use tokio::sync::OnceCell;
use tracing::{info, warn};

use crate::collector::{list_access_keys, to_chrono};
use crate::counter::ApiCallCounter;
use crate::error::{AwsError, Outcome};

/// The secret's name for a user.
pub fn secret_name(user: &str) -> String {
    format!("keywarden/{user}")
}

/// How often a throttled `CreateAccessKey` is tried in all: IAM refused those before acting,
/// so trying again cannot make a second key.
const CREATE_ATTEMPTS: u32 = 4;

/// The production [`Rotator`].
#[derive(Debug)]
pub struct IamRotator {
    iam: aws_sdk_iam::Client,
    secrets: aws_sdk_secretsmanager::Client,
    sts: aws_sdk_sts::Client,
    kms_key_id: Option<String>,
    role_arn: OnceCell<String>,
    counter: ApiCallCounter,
    crash: crate::crash::CrashPoint,
}

/// Why storing a new key's secret failed, and whether its value may have been written.
struct StoreFailure {
    error: AwsError,
    /// `PutSecretValue` got no usable answer: the value may be stored although the call failed.
    value_sent: bool,
}

impl From<AwsError> for StoreFailure {
    fn from(error: AwsError) -> Self {
        StoreFailure { error, value_sent: false }
    }
}

impl IamRotator {
    /// `role_arn`: keywarden's own role, the only principal besides the owner that the
    /// secret's policy does not deny; looked up on first use when `None` (STS, then IAM
    /// `GetRole` for its path).
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
        Self {
            iam,
            secrets,
            sts,
            kms_key_id,
            role_arn: cell,
            counter,
            crash: crate::crash::CrashPoint::from_env(),
        }
    }

    pub fn api_calls(&self) -> BTreeMap<String, u64> {
        self.counter.snapshot()
    }

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

    /// Counts a rotation write that got an answer (or none); a crash point may stop the
    /// process here in the test build.
    fn wrote(&self, operation: &'static str) {
        self.crash.after_write(operation);
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
        let res = req.send().await.map_err(|e| AwsError::from_sdk(OP, &e));
        self.wrote(OP);
        res.map(|_| ())
    }

    async fn untag(&self, user: &str, keys: &[&str]) -> Result<(), AwsError> {
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
    async fn withdraw_intent(&self, user: &str, intent: &RotationState) {
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

    /// Deletes a key; one already gone counts as deleted (a retried delete whose first answer
    /// was lost finds it gone).
    async fn delete_key(&self, user: &str, key: &str) -> Result<(), AwsError> {
        const OP: &str = "iam:DeleteAccessKey";
        let res = self.iam.delete_access_key().user_name(user).access_key_id(key).send().await;
        self.wrote(OP);
        match res {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_no_such_entity_exception()) => Ok(()),
            Err(e) => Err(AwsError::from_sdk(OP, &e)),
        }
    }

    /// `CreateAccessKey` without the SDK's retries: returns the new key id and its secret.
    async fn create_access_key(&self, user: &str) -> Result<(String, String), CreateFailure> {
        const OP: &str = "iam:CreateAccessKey";
        let mut backoff = Duration::from_millis(200);
        for attempt in 1..=CREATE_ATTEMPTS {
            let res = self
                .iam
                .create_access_key()
                .user_name(user)
                .customize()
                .config_override(
                    aws_sdk_iam::config::Builder::default()
                        .retry_config(aws_sdk_iam::config::retry::RetryConfig::disabled()),
                )
                .send()
                .await;
            self.wrote(OP);
            let err = match res {
                Ok(out) => {
                    return match out.access_key() {
                        Some(k) => Ok((k.access_key_id().to_string(), k.secret_access_key().to_string())),
                        // IAM acted, and said nothing we can use: as good as a lost answer.
                        None => Err(CreateFailure::Unknown(AwsError::Malformed {
                            operation: OP,
                            message: "the answer has no AccessKey".into(),
                        })),
                    };
                }
                Err(e) => e,
            };
            if err.as_service_error().is_some_and(|se| se.is_limit_exceeded_exception()) {
                return Err(CreateFailure::LimitExceeded);
            }
            match Outcome::of(&err) {
                Outcome::Throttled if attempt < CREATE_ATTEMPTS => {
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                }
                Outcome::Rejected | Outcome::Throttled => {
                    return Err(CreateFailure::Rejected(AwsError::from_sdk(OP, &err)))
                }
                Outcome::Unknown => return Err(CreateFailure::Unknown(AwsError::from_sdk(OP, &err))),
            }
        }
        Err(CreateFailure::Rejected(AwsError::Transport { operation: OP, message: "no attempt made".into() }))
    }

    async fn describe_secret(&self, user: &str) -> Result<Option<SecretFacts>, AwsError> {
        const OP: &str = "secretsmanager:DescribeSecret";
        match self.secrets.describe_secret().secret_id(secret_name(user)).send().await {
            Ok(out) => {
                let arn = out
                    .arn()
                    .ok_or(AwsError::Malformed { operation: OP, message: "no ARN in the answer".into() })?;
                Ok(Some(SecretFacts {
                    arn: arn.to_string(),
                    managed: out
                        .tags()
                        .iter()
                        .any(|t| t.key() == Some(MANAGED_SECRET_TAG) && t.value() == Some("true")),
                    scheduled_for_deletion: out.deleted_date().is_some(),
                    kms_key_id: out.kms_key_id().map(str::to_string),
                    versions: out
                        .version_ids_to_stages()
                        .map(|m| m.iter().map(|(v, s)| (v.clone(), s.clone())).collect())
                        .unwrap_or_default(),
                }))
            }
            Err(e) if e.as_service_error().is_some_and(|se| se.is_resource_not_found_exception()) => Ok(None),
            Err(e) => Err(AwsError::from_sdk(OP, &e)),
        }
    }

    fn judge(&self, facts: Option<SecretFacts>) -> SecretState {
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
            .tags(sm_tag(MANAGED_SECRET_TAG, "true"));
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
    async fn store_secret(
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

    async fn create(&self, live: &LiveUser, old: &str, now: DateTime<Utc>) -> Result<Executed, AwsError> {
        let user = live.user.as_str();
        let intent = RotationState::Intent { old: old.to_string(), at: now };
        self.tag_state(user, &intent, None).await?;
        let (new_id, secret) = match self.create_access_key(user).await {
            Ok(created) => created,
            Err(CreateFailure::Rejected(e)) => {
                // IAM refused before acting: nothing was created.
                self.withdraw_intent(user, &intent).await;
                return Err(with_message(e, |m| format!("{m}; no key was created, {user} keeps {old}")));
            }
            Err(CreateFailure::LimitExceeded) => {
                // Another run or a human made a second key since we read. Theirs to finish:
                // delete nothing and keep the record, which lets the next run tell a stored
                // key (resume) from one nobody holds.
                warn!(user, "CreateAccessKey hit the two-key limit; stopping without deleting anything");
                return Err(AwsError::Service {
                    operation: "iam:CreateAccessKey",
                    code: "LimitExceeded".into(),
                    message: format!(
                        "{user} gained a second key since it was read (another run or a human); stopped, nothing deleted"
                    ),
                });
            }
            Err(CreateFailure::Unknown(e)) => {
                warn!(user, error = %e, "CreateAccessKey's outcome is unknown; the intent stays for the next run");
                return Err(with_message(e, |m| {
                    format!(
                        "{m}; IAM may have created a key whose answer was lost: the rotation record stays, and the next run deletes such a key only if it was never used and its secret is stored nowhere"
                    )
                }));
            }
        };
        let stored = self.store_secret(live, &new_id, &secret).await;
        drop(secret);
        let secret_arn = match stored {
            Ok(arn) => arn,
            Err(failure) => self.settle_unstored(live, old, &intent, &new_id, failure).await?,
        };
        let description = format!("keywarden rotation of {old} on {}", now.format("%Y-%m-%d"));
        let grace = RotationState::Grace { old: old.to_string(), new: new_id.clone(), at: now };
        self.tag_state(user, &grace, Some((new_id.as_str(), description))).await.map_err(|e| {
            with_message(e, |m| {
                format!("{m}; the new key {new_id} is stored in {secret_arn}: the next run records its grace period")
            })
        })?;
        info!(user, old, new = %new_id, "rotation started; grace period begins");
        Ok(Executed { new_key_id: Some(new_id), secret_arn: Some(secret_arn) })
    }

    /// Storing the new key's secret failed. If the value may have been written, the secret is
    /// re-read: a stored key goes on (returns its secret's ARN). A key certainly not stored is
    /// deleted at once. When that cannot be told, nothing is deleted and the intent stays.
    async fn settle_unstored(
        &self,
        live: &LiveUser,
        old: &str,
        intent: &RotationState,
        new_id: &str,
        failure: StoreFailure,
    ) -> Result<String, AwsError> {
        let user = live.user.as_str();
        let StoreFailure { error, value_sent } = failure;
        if value_sent {
            match self.describe_secret(user).await.map(|f| self.judge(f)) {
                Ok(state) if state.current_key() == Some(new_id) => {
                    info!(user, key = new_id, "the secret was stored although its answer was lost");
                    return state.arn().map(str::to_string).ok_or(error);
                }
                Ok(_) => {}
                Err(reread) => {
                    return Err(with_message(error, |m| {
                        format!(
                            "{m}; whether the new key {new_id} was stored could not be read back ({reread}): the key and the rotation record stay for the next run"
                        )
                    }))
                }
            }
        }
        // Nobody holds this key's secret: delete it now; the user keeps the old key.
        match self.delete_key(user, new_id).await {
            Ok(()) => {
                self.withdraw_intent(user, intent).await;
                Err(with_message(error, |m| {
                    format!("{m}; the new key {new_id} was deleted and {user} keeps its old key {old}")
                }))
            }
            Err(del_err) => Err(with_message(error, |m| {
                format!("{m}; deleting the unstored new key {new_id} also failed ({del_err}); the next run deletes it")
            })),
        }
    }
}

/// What became of `CreateAccessKey`.
enum CreateFailure {
    /// IAM answered with an error before acting: nothing was created.
    Rejected(AwsError),
    /// The user already has two keys: someone else created one since it was read.
    LimitExceeded,
    /// No usable answer (lost, timed out, a 5xx, malformed): a key may exist.
    Unknown(AwsError),
}

/// The role name in an assumed-role session ARN (`arn:aws:sts::1:assumed-role/R/session`).
pub fn assumed_role_name(caller: &str) -> Option<&str> {
    let parts: Vec<&str> = caller.splitn(6, ':').collect();
    let [_, _, "sts", _, _, resource] = parts.as_slice() else { return None };
    resource.strip_prefix("assumed-role/")?.split('/').next().filter(|r| !r.is_empty())
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
        AwsError::Refused { operation, message } => AwsError::Refused { operation, message: f(&message) },
        other => other,
    }
}

impl Rotator for IamRotator {
    async fn secrets(&self) -> Result<BTreeMap<String, SecretState>, ReadFailure> {
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
            let page = page.map_err(|e| ReadFailure::from(AwsError::from_sdk(OP, &e)))?;
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
                    managed: entry
                        .tags()
                        .iter()
                        .any(|t| t.key() == Some(MANAGED_SECRET_TAG) && t.value() == Some("true")),
                    scheduled_for_deletion: entry.deleted_date().is_some(),
                    kms_key_id: entry.kms_key_id().map(str::to_string),
                    versions: entry
                        .secret_versions_to_stages()
                        .map(|m| m.iter().map(|(v, s)| (v.clone(), s.clone())).collect())
                        .unwrap_or_default(),
                };
                listed.insert(user.to_string(), self.judge(Some(facts)));
            }
        }
        Ok(listed)
    }

    /// `GetUser` gives the ARN and the tags in one call; the keys' last use is read only when
    /// a rotation record makes the planner ask for it (a first rotation does not), so a
    /// first rotation costs two reads here.
    async fn read(&self, user: &str, listed: Option<&SecretState>) -> Result<LiveUser, ReadFailure> {
        let inner = async {
            let got = self
                .iam
                .get_user()
                .user_name(user)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("iam:GetUser", &e))?;
            let found = got
                .user()
                .ok_or(AwsError::Malformed { operation: "iam:GetUser", message: "no User".into() })?;
            let arn = found.arn().to_string();
            let tags: BTreeMap<String, String> =
                found.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect();
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
        };
        inner.await.map_err(|e: AwsError| ReadFailure::from(e))
    }

    async fn execute(
        &self,
        live: &LiveUser,
        step: &Step,
        now: DateTime<Utc>,
    ) -> Result<Executed, ReadFailure> {
        let user = live.user.as_str();
        let secret_arn = live.secret.arn().map(str::to_string);
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
                    Ok(Executed { new_key_id: Some(new.clone()), secret_arn })
                }
                Step::Hold { old, new, cause, recorded, .. } => {
                    if !recorded {
                        let (old, new) = (old.clone(), new.clone());
                        let hold = match cause {
                            HoldCause::InUse => RotationState::Hold { old, new, at: now },
                            HoldCause::HumanReactivated => RotationState::HumanHold { old, new, at: now },
                        };
                        self.tag_state(user, &hold, None).await?;
                    }
                    Ok(Executed { new_key_id: Some(new.clone()), secret_arn })
                }
                Step::Deactivate { old, new } => {
                    if live.keys.iter().any(|k| k.id == *old && k.active) {
                        const OP: &str = "iam:UpdateAccessKey";
                        let res = self
                            .iam
                            .update_access_key()
                            .user_name(user)
                            .access_key_id(old)
                            .status(StatusType::Inactive)
                            .send()
                            .await;
                        self.wrote(OP);
                        res.map_err(|e| AwsError::from_sdk(OP, &e))?;
                    }
                    let inactive = RotationState::Inactive { old: old.clone(), new: new.clone(), at: now };
                    self.tag_state(user, &inactive, None).await?;
                    info!(user, old, "old key deactivated");
                    Ok(Executed { new_key_id: Some(new.clone()), secret_arn })
                }
                Step::Delete { old, new } => {
                    self.delete_key(user, old).await?;
                    self.untag(user, &[ROTATION_TAG, old.as_str()]).await?;
                    info!(user, old, "old key deleted; rotation finished");
                    Ok(Executed { new_key_id: Some(new.clone()), secret_arn })
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
