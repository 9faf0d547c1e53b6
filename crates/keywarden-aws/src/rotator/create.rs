//! Starting a rotation: the intent tag, `CreateAccessKey`, storing the new key, and undoing
//! the new key when it cannot be stored. Each failure says, as an [`Undo`], what became of
//! the writes made before it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use keywarden_core::ports::{Executed, StepError, Undo};
use keywarden_core::rotation::{LiveUser, RotationState};
use tracing::{info, warn};

use super::secret::StoreFailure;
use super::IamRotator;
use crate::error::{AwsError, Outcome};

/// How often a throttled `CreateAccessKey` is tried in all: IAM refused those before acting,
/// so trying again cannot make a second key.
const CREATE_ATTEMPTS: u32 = 4;

/// What became of `CreateAccessKey`.
enum CreateFailure {
    /// IAM answered with an error before acting: nothing was created.
    Rejected(AwsError),
    /// The user already has two keys: someone else created one since it was read.
    LimitExceeded,
    /// No usable answer (lost, timed out, a 5xx, malformed): a key may exist.
    Unknown(AwsError),
}

impl IamRotator {
    /// Deletes a key; one already gone counts as deleted (a retried delete whose first answer
    /// was lost finds it gone).
    pub(super) async fn delete_key(&self, user: &str, key: &str) -> Result<(), AwsError> {
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

    /// Records the intent, creates the new key, stores it and starts its grace period.
    pub(super) async fn create(
        &self,
        live: &LiveUser,
        old: &str,
        now: DateTime<Utc>,
    ) -> Result<Executed, StepError> {
        let user = live.user.as_str();
        let intent = RotationState::Intent { old: old.to_string(), at: now };
        self.tag_state(user, &intent, None).await?;
        let (new_id, secret) = match self.create_access_key(user).await {
            Ok(created) => created,
            Err(CreateFailure::Rejected(e)) => {
                // IAM refused before acting: nothing was created.
                self.withdraw_intent(user, &intent).await;
                return Err(StepError::undone(
                    e,
                    Undo::NothingCreated { user: user.to_string(), old: old.to_string() },
                ));
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
                }
                .into());
            }
            Err(CreateFailure::Unknown(e)) => {
                warn!(user, error = %e, "CreateAccessKey's outcome is unknown; the intent stays for the next run");
                return Err(StepError::undone(e, Undo::CreateOutcomeUnknown));
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
        if let Err(e) = self.tag_state(user, &grace, Some((new_id.as_str(), description))).await {
            return Err(StepError::undone(e, Undo::GraceUnrecorded { new: new_id, secret_arn }));
        }
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
    ) -> Result<String, StepError> {
        let user = live.user.as_str();
        let StoreFailure { error, value_sent } = failure;
        if value_sent {
            match self.describe_secret(user).await.map(|f| self.judge(f)) {
                Ok(state) if state.current_key() == Some(new_id) => {
                    info!(user, key = new_id, "the secret was stored although its answer was lost");
                    return state.arn().map(str::to_string).ok_or_else(|| error.into());
                }
                Ok(_) => {}
                Err(reread) => {
                    return Err(StepError::undone(
                        error,
                        Undo::StoredUnknown { new: new_id.to_string(), cause: reread.to_string() },
                    ))
                }
            }
        }
        // Nobody holds this key's secret: delete it now; the user keeps the old key.
        match self.delete_key(user, new_id).await {
            Ok(()) => {
                self.withdraw_intent(user, intent).await;
                Err(StepError::undone(
                    error,
                    Undo::NewKeyDeleted {
                        new: new_id.to_string(),
                        user: user.to_string(),
                        old: old.to_string(),
                    },
                ))
            }
            Err(del_err) => Err(StepError::undone(
                error,
                Undo::DeleteFailed { new: new_id.to_string(), cause: del_err.to_string() },
            )),
        }
    }
}
