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
//!
//! [`read`] is the live read, [`create`] the start of a rotation with its undo, [`secret`]
//! the Secrets Manager side and [`tags`] the rotation record; this module dispatches steps.

use std::collections::BTreeMap;

use aws_sdk_iam::types::StatusType;
use chrono::{DateTime, Utc};
use keywarden_core::ports::{Executed, Rotator, StepError};
use keywarden_core::rotation::{HoldCause, LiveUser, RotationState, SecretState, Step, ROTATION_TAG};
use keywarden_core::ReadFailure;
use tokio::sync::OnceCell;
use tracing::info;

use crate::counter::ApiCallCounter;
use crate::error::AwsError;

mod create;
mod read;
pub mod secret;
mod tags;

pub use secret::{assumed_role_name, secret_name, secret_policy};

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

    /// The calls made so far, for the report's tally of the rotation's cost.
    pub fn api_calls(&self) -> BTreeMap<String, u64> {
        self.counter.snapshot()
    }

    /// Counts a rotation write that got an answer (or none); a crash point may stop the
    /// process here in the test build.
    fn wrote(&self, operation: &'static str) {
        self.crash.after_write(operation);
    }

    /// Carries out one step; a failure says what was undone (see [`Rotator::execute`]).
    pub async fn execute_step(
        &self,
        live: &LiveUser,
        step: &Step,
        now: DateTime<Utc>,
    ) -> Result<Executed, StepError> {
        let user = live.user.as_str();
        let secret_arn = live.secret.arn().map(str::to_string);
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
}

impl Rotator for IamRotator {
    async fn secrets(&self) -> Result<BTreeMap<String, SecretState>, ReadFailure> {
        Ok(self.list_secrets().await?)
    }

    async fn read(&self, user: &str, listed: Option<&SecretState>) -> Result<LiveUser, ReadFailure> {
        Ok(self.read_user(user, listed).await?)
    }

    /// The port carries a [`ReadFailure`]; its message ends with the undo's text.
    async fn execute(
        &self,
        live: &LiveUser,
        step: &Step,
        now: DateTime<Utc>,
    ) -> Result<Executed, ReadFailure> {
        self.execute_step(live, step, now).await.map_err(ReadFailure::from)
    }
}
