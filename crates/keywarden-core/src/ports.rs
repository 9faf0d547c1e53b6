//! The ports: what the core needs from the outside world, as small traits.
//!
//! The Lambda handler is generic over these, so unit tests hand it in-memory fakes and the
//! production binary hands it the AWS adapters. They use `impl Future` rather than an async
//! runtime type so the core stays free of tokio and of the AWS SDK.

use std::collections::BTreeMap;
use std::future::Future;

use thiserror::Error;

use chrono::{DateTime, Utc};

use crate::config::AccountSelection;
use crate::model::{Inventory, LiveDetails, LiveRequest, ReadFailure};
use crate::organization::{AccountEntry, AccountRef, Listing, MemberAccount, OrgReport};
use crate::report::{Report, RotationAction};
use crate::rotation::{LiveUser, SecretState, Step};

/// Reads an account's IAM state.
pub trait Directory {
    /// Reads the whole inventory. It does not fail as a whole: each section carries its own
    /// read failure, so one denied call costs only the checks that needed it.
    fn collect(&self) -> impl Future<Output = Inventory> + Send;

    /// Reads fresh per-user facts for the users that have findings.
    fn live_details(&self, request: &LiveRequest) -> impl Future<Output = LiveDetails> + Send;

    /// API calls made so far, keyed `service:Operation`.
    fn api_calls(&self) -> BTreeMap<String, u64>;
}

/// Why a notification was not delivered.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("notification failed{}: {message}", code.as_ref().map(|c| format!(" ({c})")).unwrap_or_default())]
pub struct NotifyError {
    /// The AWS error code, when the service returned one.
    pub code: Option<String>,
    /// Human-readable cause, with the error's source chain; for logs and the report, not for matching.
    pub message: String,
}

/// Sends a run's outcome to the security team.
pub trait Notifier {
    /// Publishes the report's summary; returns the message id.
    fn publish(&self, report: &Report) -> impl Future<Output = Result<String, NotifyError>> + Send;

    /// Publishes one rotation event (started, held, deactivated, deleted, failed) on its own,
    /// so a team can route them with a filter policy.
    fn publish_rotation(
        &self,
        account_id: &str,
        action: &RotationAction,
    ) -> impl Future<Output = Result<String, NotifyError>> + Send;

    /// Publishes an organization run's consolidated digest; returns the message id.
    fn publish_organization(
        &self,
        report: &OrgReport,
    ) -> impl Future<Output = Result<String, NotifyError>> + Send;
}

/// What a carried-out step produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Executed {
    /// The new access key the step created or carried on with; `None` when it involves none.
    pub new_key_id: Option<String>,
    /// The Secrets Manager ARN holding the new key's secret, when the step knows it.
    pub secret_arn: Option<String>,
}

/// What a failed rotation step undid, or left for the next run: the step's caller (and the
/// operator reading the report) must know whether a key exists that nobody holds.
///
/// Each variant's text is what the report has always appended to the failure's message.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum Undo {
    /// `CreateAccessKey` was refused before IAM acted: the user keeps the old key.
    #[error("; no key was created, {user} keeps {old}")]
    NothingCreated {
        /// The IAM user name.
        user: String,
        /// The access key id the user still has.
        old: String,
    },
    /// `CreateAccessKey` got no usable answer: the intent tag stays for the next run.
    #[error(
        "; IAM may have created a key whose answer was lost: the rotation record stays, and the next run deletes such a key only if it was never used and its secret is stored nowhere"
    )]
    CreateOutcomeUnknown,
    /// The new key's secret was certainly not stored, so the key was deleted again.
    #[error("; the new key {new} was deleted and {user} keeps its old key {old}")]
    NewKeyDeleted {
        /// The access key id created and deleted again.
        new: String,
        /// The IAM user name.
        user: String,
        /// The access key id the user still has.
        old: String,
    },
    /// The unstored new key could not be deleted; the next run's planner deletes it.
    #[error("; deleting the unstored new key {new} also failed ({cause}); the next run deletes it")]
    DeleteFailed {
        /// The access key id that exists with its secret stored nowhere.
        new: String,
        /// The delete's own error, as the adapter worded it.
        cause: String,
    },
    /// Whether the new key's secret was stored could not be read back: nothing is deleted.
    #[error(
        "; whether the new key {new} was stored could not be read back ({cause}): the key and the rotation record stay for the next run"
    )]
    StoredUnknown {
        /// The access key id whose secret may or may not be stored.
        new: String,
        /// The re-read's own error, as the adapter worded it.
        cause: String,
    },
    /// The new key is stored but its grace period was not tagged; the next run tags it.
    #[error("; the new key {new} is stored in {secret_arn}: the next run records its grace period")]
    GraceUnrecorded {
        /// The access key id that was created and stored.
        new: String,
        /// The Secrets Manager ARN holding it.
        secret_arn: String,
    },
}

/// A failed rotation step: the call that failed, and what was undone about it.
///
/// The undo outcome is data, not prose glued onto the message, so an adapter states it once
/// and tests can match it; [`ReadFailure::from`] folds it back into the message, which is
/// what reports and alerts show.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("{failure}{}", .undo.as_ref().map(ToString::to_string).unwrap_or_default())]
pub struct StepError {
    /// The call that failed.
    pub failure: ReadFailure,
    /// What became of the step's earlier writes; `None` when the step made none to undo.
    pub undo: Option<Undo>,
}

impl StepError {
    /// A failure with `undo` as its outcome.
    pub fn undone(failure: impl Into<ReadFailure>, undo: Undo) -> Self {
        Self { failure: failure.into(), undo: Some(undo) }
    }
}

impl From<ReadFailure> for StepError {
    fn from(failure: ReadFailure) -> Self {
        Self { failure, undo: None }
    }
}

impl From<StepError> for ReadFailure {
    /// The message gains the undo text, so a [`ReadFailure`] displays as its [`StepError`] did.
    fn from(e: StepError) -> Self {
        let StepError { mut failure, undo } = e;
        if let Some(undo) = undo {
            failure.message.push_str(&undo.to_string());
        }
        failure
    }
}

/// Changes credentials: the half of keywarden that must be the most careful.
pub trait Rotator {
    /// Every keywarden secret of the account, judged, by user name: one paged bulk read, so
    /// a rotation run does not describe each user's secret on its own. A user absent from
    /// the map has no secret.
    fn secrets(&self) -> impl Future<Output = Result<BTreeMap<String, SecretState>, ReadFailure>> + Send;

    /// Reads one user's live keys, tags and stored secret, and the keys' last use when a
    /// rotation record needs it. `listed` is the user's secret from [`Rotator::secrets`]
    /// (`Some(SecretState::Missing)` when the listing had none, `None` when there was no
    /// listing): a user with no rotation record is judged on it; one mid-rotation, whose
    /// recovery depends on exactly what the secret holds, has its secret read again.
    fn read(
        &self,
        user: &str,
        listed: Option<&SecretState>,
    ) -> impl Future<Output = Result<LiveUser, ReadFailure>> + Send;

    /// Carries out one planned step on the state `live` was read in. On failure nothing is
    /// left that a later run cannot recover (see "Rotation" in `docs/ARCHITECTURE.md`); the error says what was undone.
    fn execute(
        &self,
        live: &LiveUser,
        step: &Step,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Executed, ReadFailure>> + Send;
}

/// One member account's ports, reached through its roles.
#[derive(Debug)]
pub struct Member<D, R, K> {
    /// The account's IAM, read through the audit role.
    pub directory: D,
    /// The account's keys: through the rotation role when the run may write, else through
    /// the audit role (a dry run only reads).
    pub rotator: R,
    /// The account's own Security Hub, through the audit role: findings are imported into
    /// the account that owns them.
    pub sink: K,
}

/// A member account of an [`Organization`], entered.
pub type MemberOf<O> =
    Member<<O as Organization>::Directory, <O as Organization>::Rotator, <O as Organization>::Sink>;

/// The organization: its accounts, and a way into each.
pub trait Organization {
    /// A member account's [`Directory`].
    type Directory: Directory + Send + Sync;
    /// A member account's [`Rotator`].
    type Rotator: Rotator + Send + Sync;
    /// A member account's [`FindingSink`].
    type Sink: FindingSink + Send + Sync;

    /// Every account of the organization (paged), with its OU path when `selection` is by OU
    /// and its tags when it is by tag. A partial listing is an error, never a shorter list:
    /// the accounts it misses would go unaudited with nobody told.
    fn accounts(
        &self,
        selection: &AccountSelection,
    ) -> impl Future<Output = Result<Vec<MemberAccount>, ReadFailure>> + Send;

    /// Enters `account`: assumes its audit role, and its rotation role when `writes`. Each
    /// member gets its own call counter, so its report counts its own calls, the AssumeRole
    /// included.
    fn connect(
        &self,
        account: &AccountRef,
        writes: bool,
    ) -> impl Future<Output = Result<MemberOf<Self>, ReadFailure>> + Send;

    /// The organization-level calls made so far (the listing), keyed `service:Operation`.
    fn api_calls(&self) -> BTreeMap<String, u64>;
}

/// Where an organization run keeps its state between the fan-out's invocations: the listing
/// it started from, each account's result, and the consolidated report.
pub trait RunStore {
    /// Keeps the run's listing; returns where it went.
    fn save_listing(&self, listing: &Listing) -> impl Future<Output = Result<String, ReadFailure>> + Send;

    /// The run's listing; `Ok(None)` when no listing was saved under that run id.
    fn listing(&self, run_id: &str) -> impl Future<Output = Result<Option<Listing>, ReadFailure>> + Send;

    /// Keeps one account's result; returns where it went.
    fn save_account(
        &self,
        run_id: &str,
        entry: &AccountEntry,
    ) -> impl Future<Output = Result<String, ReadFailure>> + Send;

    /// One account's result; `Ok(None)` when its item left none.
    fn account(
        &self,
        run_id: &str,
        account_id: &str,
    ) -> impl Future<Output = Result<Option<AccountEntry>, ReadFailure>> + Send;

    /// Archives the consolidated report; returns where it went.
    fn save_organization(
        &self,
        report: &OrgReport,
    ) -> impl Future<Output = Result<String, ReadFailure>> + Send;
}

/// Keeps each run's full report as evidence and hands back the previous one.
pub trait ReportStore {
    /// The newest archived report of the account; `Ok(None)` before the first run.
    fn previous(&self, account_id: &str) -> impl Future<Output = Result<Option<Report>, ReadFailure>> + Send;

    /// Archives the report; returns where it went (`s3://bucket/key`).
    fn save(&self, report: &Report) -> impl Future<Output = Result<String, ReadFailure>> + Send;

    /// Archives the run's HTML page beside its report, so the digest can point a reader
    /// at something to look at rather than JSON; returns where it went.
    fn save_page(
        &self,
        report: &Report,
        page: &str,
    ) -> impl Future<Output = Result<String, ReadFailure>> + Send;
}

/// What one import into Security Hub did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportOutcome {
    /// Findings Security Hub accepted.
    pub imported: usize,
    /// Findings it refused, `(Id, error code)`: reported, never retried blindly.
    pub failed: Vec<(String, String)>,
}

/// Where findings are imported (Security Hub in production).
pub trait FindingSink {
    /// Imports the report's findings as of `now` (built with
    /// [`crate::export::asff::findings`] for the sink's region), in batches the service
    /// accepts. A batch that fails as a whole is an error with its AWS code; findings
    /// refused one by one are in the outcome.
    fn import(
        &self,
        report: &Report,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<ImportOutcome, ReadFailure>> + Send;
}
