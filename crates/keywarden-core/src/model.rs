//! The account as keywarden saw it: what each IAM read returned, or why it could not be read.
//!
//! Every section of [`Inventory`] is a [`Collected`] value rather than a bare list, because the
//! worst bug an auditor can have is a failed read that looks like an empty account: no users
//! read means "unknown", never "no findings".

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::credential_report::CredentialReport;

/// What CIS and Security Hub require of the account password policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PasswordRequirements {
    /// Shortest password length the policy must enforce (CIS asks for at least 14).
    pub min_length: u32,
    /// How many previous passwords the policy must forbid reusing (CIS asks for 24).
    pub reuse_prevention: u32,
    /// Require upper, lower, digit and symbol (Security Hub IAM.7).
    pub require_all_classes: bool,
}

/// The result of one IAM read. `Err` carries what went wrong, so the checks that needed the
/// data report `unknown` and the report lists the error.
pub type Collected<T> = Result<T, ReadFailure>;

/// Why a piece of the inventory could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadFailure {
    /// The API operation that failed, as `service:Operation` (e.g. `iam:GetCredentialReport`).
    pub operation: String,
    /// The AWS error code (`AccessDenied`, `Throttling`, …) when the service sent one; `None`
    /// for transport failures such as a refused connection.
    pub code: Option<String>,
    /// What the SDK said, with its source chain; for people, not for matching (match `code`).
    pub message: String,
}

impl ReadFailure {
    /// A failure of `operation`; `code` is the AWS error code when the service sent one.
    pub fn new(operation: impl Into<String>, code: Option<String>, message: impl Into<String>) -> Self {
        Self { operation: operation.into(), code, message: message.into() }
    }
}

impl std::fmt::Display for ReadFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.code {
            Some(code) => write!(f, "{} failed ({code}): {}", self.operation, self.message),
            None => write!(f, "{} failed: {}", self.operation, self.message),
        }
    }
}

/// `dispatch failure: io error: Connection refused (os error 111)`: each cause once, without
/// the Debug dump the SDK's own context printer appends, so it reads well in a report.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = vec![err.to_string()];
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
}

/// Everything the checks read, gathered once per run.
#[derive(Debug, Clone)]
pub struct Inventory {
    /// The 12-digit account id, or the read failure that kept us from learning it.
    pub account_id: Collected<String>,
    /// Every user's credential state; the checks of credential age and use depend on it.
    pub credential_report: Collected<CredentialReport>,
    /// Users, groups and policies; the checks of permissions and membership depend on it.
    pub authorization: Collected<Authorization>,
    /// Virtual MFA devices, so hardware and virtual MFA can be told apart.
    pub virtual_mfa_devices: Collected<Vec<VirtualMfaDevice>>,
    /// The root user's MFA and access-key flags.
    pub account_summary: Collected<AccountSummary>,
    /// `Ok(None)` means the account has no password policy at all (IAM's `NoSuchEntity`),
    /// which is itself a finding, not an error.
    pub password_policy: Collected<Option<PasswordPolicy>>,
}

/// A section of the [`Inventory`]: one bulk read. Listed once, here, so the checks (which
/// read sections) and the report (which lists their failures) cannot disagree about what
/// an inventory holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Section {
    /// `sts:GetCallerIdentity`.
    AccountId,
    /// The credential report.
    CredentialReport,
    /// `GetAccountAuthorizationDetails` and the managed policies' documents.
    Authorization,
    /// `ListVirtualMFADevices`.
    VirtualMfaDevices,
    /// `GetAccountSummary`.
    AccountSummary,
    /// `GetAccountPasswordPolicy`.
    PasswordPolicy,
}

impl Section {
    /// Every section, in the order the report lists their failures.
    pub const ALL: [Section; 6] = [
        Section::AccountId,
        Section::CredentialReport,
        Section::Authorization,
        Section::VirtualMfaDevices,
        Section::AccountSummary,
        Section::PasswordPolicy,
    ];

    /// The AWS operation that reads this section in production: the name a read failure
    /// carries (`iam:GetCredentialReport`, …), so injected failures look like real ones.
    pub fn operation(self) -> &'static str {
        match self {
            Section::AccountId => "sts:GetCallerIdentity",
            Section::CredentialReport => "iam:GetCredentialReport",
            Section::Authorization => "iam:GetAccountAuthorizationDetails",
            Section::VirtualMfaDevices => "iam:ListVirtualMFADevices",
            Section::AccountSummary => "iam:GetAccountSummary",
            Section::PasswordPolicy => "iam:GetAccountPasswordPolicy",
        }
    }

    /// Replaces this section of `inventory` with `Err(failure)`: what a failed read leaves.
    pub fn fail(self, inventory: &mut Inventory, failure: ReadFailure) {
        match self {
            Section::AccountId => inventory.account_id = Err(failure),
            Section::CredentialReport => inventory.credential_report = Err(failure),
            Section::Authorization => inventory.authorization = Err(failure),
            Section::VirtualMfaDevices => inventory.virtual_mfa_devices = Err(failure),
            Section::AccountSummary => inventory.account_summary = Err(failure),
            Section::PasswordPolicy => inventory.password_policy = Err(failure),
        }
    }
}

impl Inventory {
    /// Why `section` could not be read, if it could not.
    pub fn failure(&self, section: Section) -> Option<&ReadFailure> {
        match section {
            Section::AccountId => self.account_id.as_ref().err(),
            Section::CredentialReport => self.credential_report.as_ref().err(),
            Section::Authorization => self.authorization.as_ref().err(),
            Section::VirtualMfaDevices => self.virtual_mfa_devices.as_ref().err(),
            Section::AccountSummary => self.account_summary.as_ref().err(),
            Section::PasswordPolicy => self.password_policy.as_ref().err(),
        }
    }

    /// Every section's read failure, for the report's errors.
    pub fn failures(&self) -> Vec<ReadFailure> {
        Section::ALL.into_iter().filter_map(|s| self.failure(s)).cloned().collect()
    }
}

/// Users, groups and their attachments from `GetAccountAuthorizationDetails`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Authorization {
    /// Users by name.
    pub users: BTreeMap<String, UserDetail>,
    /// Groups by name.
    pub groups: BTreeMap<String, GroupDetail>,
    /// Managed policies by ARN with their default version's document: every customer-managed
    /// policy, and the AWS-managed ones attached to a user or group.
    pub managed_policies: BTreeMap<String, ManagedPolicy>,
}

/// A managed policy and the JSON of its default version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedPolicy {
    /// The policy's friendly name, for reports.
    pub name: String,
    /// The policy's ARN; the key that users' and groups' `attached_policies` refer to.
    pub arn: String,
    /// The default version's JSON, or why it could not be read: a policy nobody could read
    /// makes the checks that need it `unknown` for the users it applies to.
    pub document: Collected<String>,
}

/// One user from `GetAccountAuthorizationDetails`, with everything the permission checks read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserDetail {
    /// The user name: the key every other per-user map uses.
    pub name: String,
    /// The user's ARN.
    pub arn: String,
    /// The IAM path (e.g. `/` or `/service/`).
    pub path: String,
    /// Names of the groups the user belongs to.
    pub groups: BTreeSet<String>,
    /// Names of inline policies embedded in the user.
    pub inline_policies: Vec<String>,
    /// ARNs of managed policies attached directly to the user.
    pub attached_policies: Vec<String>,
    /// The user's IAM tags, as given.
    pub tags: BTreeMap<String, String>,
    /// The inline policies' JSON documents by name (URL-decoded).
    pub inline_documents: BTreeMap<String, String>,
}

/// One group from `GetAccountAuthorizationDetails`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupDetail {
    /// The group name, as users' `groups` spell it.
    pub name: String,
    /// The group's ARN.
    pub arn: String,
    /// Names of inline policies embedded in the group.
    pub inline_policies: Vec<String>,
    /// ARNs of managed policies attached to the group.
    pub attached_policies: Vec<String>,
    /// The inline policies' JSON documents by name (URL-decoded).
    pub inline_documents: BTreeMap<String, String>,
}

/// A virtual MFA device from `ListVirtualMFADevices`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualMfaDevice {
    /// The device's serial, which for a virtual device is its ARN.
    pub serial_number: String,
    /// The user the device is assigned to; `None` for a created but unassigned device.
    pub user: Option<String>,
    /// When it was enabled; `None` when it never was.
    pub enable_date: Option<DateTime<Utc>>,
}

/// The two account-level flags of `GetAccountSummary` that concern the root user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountSummary {
    /// `AccountMFAEnabled`: the root user has MFA.
    pub root_mfa_enabled: bool,
    /// `AccountAccessKeysPresent`: the root user has an access key (it should have none).
    pub root_access_keys_present: bool,
}

/// The fields of `GetAccountPasswordPolicy` that CIS and Security Hub judge.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PasswordPolicy {
    /// Shortest password allowed.
    pub minimum_length: u32,
    /// Passwords must contain a symbol.
    pub require_symbols: bool,
    /// Passwords must contain a digit.
    pub require_numbers: bool,
    /// Passwords must contain an upper-case letter.
    pub require_uppercase: bool,
    /// Passwords must contain a lower-case letter.
    pub require_lowercase: bool,
    /// `None`: reuse is not restricted.
    pub reuse_prevention: Option<u32>,
    /// `None`: passwords never expire.
    pub max_age_days: Option<u32>,
}

impl PasswordPolicy {
    /// The weakest policy that meets `want`: what a compliant account sets, and the fixture
    /// tests and examples share.
    pub fn meeting(want: &PasswordRequirements) -> Self {
        Self {
            minimum_length: want.min_length,
            require_symbols: want.require_all_classes,
            require_numbers: want.require_all_classes,
            require_uppercase: want.require_all_classes,
            require_lowercase: want.require_all_classes,
            reuse_prevention: Some(want.reuse_prevention),
            max_age_days: None,
        }
    }
}

/// One access key as `ListAccessKeys` returns it: the credential report has no key ids, so
/// this is how a per-slot finding learns which key it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessKeyMeta {
    /// The key id, safe to show (it is not the secret).
    pub access_key_id: String,
    /// `Active` (`true`) or `Inactive`.
    pub active: bool,
    /// When the key was created.
    pub created: DateTime<Utc>,
}

/// Live facts read after evaluation for only the users that have a finding that needs them:
/// cheap (O(users with findings)) and fresher than a credential report that may be hours old.
#[derive(Debug, Clone, Default)]
pub struct LiveDetails {
    /// Each requested user's access keys (`ListAccessKeys`), by user name.
    pub access_keys: BTreeMap<String, Collected<Vec<AccessKeyMeta>>>,
    /// Whether the user still has a console password (`GetLoginProfile`).
    pub login_profiles: BTreeMap<String, Collected<bool>>,
}

impl LiveDetails {
    /// Every failed live read, keys first, for the report's errors.
    pub fn failures(&self) -> impl Iterator<Item = ReadFailure> + '_ {
        let keys = self.access_keys.values().filter_map(|r| r.as_ref().err());
        let profiles = self.login_profiles.values().filter_map(|r| r.as_ref().err());
        keys.chain(profiles).cloned()
    }
}

/// Which users a live read is wanted for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiveRequest {
    /// Users whose access keys to list.
    pub access_keys_for: BTreeSet<String>,
    /// Users whose login profile to read.
    pub login_profile_for: BTreeSet<String>,
}

impl LiveRequest {
    /// Whether there is nothing to read, so the reads can be skipped.
    pub fn is_empty(&self) -> bool {
        self.access_keys_for.is_empty() && self.login_profile_for.is_empty()
    }
}
