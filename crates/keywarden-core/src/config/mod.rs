//! Configuration, read from environment variables once at cold start and validated there.
//!
//! Parsing takes a lookup function instead of reading `std::env` so that it stays pure and
//! every rule is unit-tested. A bad value is an error naming the variable: a function that
//! audits with a typo'd threshold is worse than one that refuses to start.
//!
//! Each variable is defined once, in [`settings`]: the README table, the `Default` impls
//! below and [`Config::from_lookup`] all read that one definition.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::desired::DesiredState;
use crate::rotation::RotationPolicy;

mod error;
mod mode;
pub mod organization;
pub mod setting;
pub mod settings;
#[cfg(test)]
mod tests;

/// Re-exported from where they now live: callers judged names through `config` before.
pub use crate::text::{is_iam_name, is_role_arn};
pub use error::{ConfigError, MAX_SHOWN_VALUE};
pub use mode::{RotationMode, UnknownRotationMode};
pub use organization::{is_account_id, AccountSelection, AccountTags, OrganizationConfig};
pub use setting::{Setting, Variable};
pub use settings::VARIABLES;

pub use crate::model::PasswordRequirements;

use settings as s;

/// The thresholds the checks judge by. Nothing in a check is hard-coded but these.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditPolicy {
    /// An active key older than this is `access_key_not_rotated`.
    pub max_key_age_days: u32,
    /// Credentials not used for this long are unused; never-used ones older than this too.
    pub unused_days: u32,
    /// An inactive key older than this (and not used for as long) should have been deleted.
    pub inactive_key_max_days: u32,
    /// A key created within this many minutes of its console user counts as created at setup.
    pub setup_window_minutes: u32,
    /// What the account password policy is judged against.
    pub password: PasswordRequirements,
    /// Members of these groups are exempt from every check (shown as exempted, not hidden).
    pub exempt_groups: BTreeSet<String>,
    /// The desired group membership; the drift checks are skipped without one.
    pub desired: Option<DesiredState>,
    /// The MFA-enforcing self-service group, whose policy must be the canonical one.
    pub mfa_group: String,
    /// keywarden's own grace period (`GRACE_DAYS`): two active keys are expected only inside
    /// it, so `two_active_access_keys` is muted for that long and no longer.
    pub rotation_grace_days: u32,
    /// `LIVE_CONFIRMATION`: re-read each flagged user's keys and login profile live, so key
    /// findings carry key ids and a password removed since the credential report is not
    /// reported. Off by default: it costs one `ListAccessKeys` per user with a key finding and
    /// one `GetLoginProfile` per unused password (about 5,000 calls on a 5,000-user account),
    /// where the audit alone costs a handful.
    pub live_confirmation: bool,
}

impl Default for RotationMode {
    fn default() -> Self {
        s::ROTATION_MODE.default
    }
}

impl Default for RotationPolicy {
    fn default() -> Self {
        Self {
            rotate_after_days: s::ROTATE_AFTER_DAYS.default,
            warn_days: s::ROTATION_WARN_DAYS.default,
            grace_days: s::GRACE_DAYS.default,
            inactive_days: s::INACTIVE_DAYS.default,
            in_use_hours: s::IN_USE_HOURS.default,
        }
    }
}

impl Default for AuditPolicy {
    fn default() -> Self {
        Self {
            max_key_age_days: s::MAX_KEY_AGE_DAYS.default,
            unused_days: s::UNUSED_DAYS.default,
            inactive_key_max_days: s::INACTIVE_KEY_MAX_DAYS.default,
            setup_window_minutes: s::KEY_SETUP_WINDOW_MINUTES.default,
            password: PasswordRequirements {
                min_length: s::PASSWORD_MIN_LENGTH.default,
                reuse_prevention: s::PASSWORD_REUSE_PREVENTION.default,
                require_all_classes: s::PASSWORD_REQUIRE_ALL_CLASSES.default,
            },
            exempt_groups: s::EXEMPT_GROUPS.default.clone(),
            desired: s::DESIRED_STATE.default.clone(),
            mfa_group: s::MFA_GROUP.default.to_string(),
            rotation_grace_days: s::GRACE_DAYS.default,
            live_confirmation: s::LIVE_CONFIRMATION.default,
        }
    }
}

/// The whole function configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The thresholds handed to the checks.
    pub audit: AuditPolicy,
    /// Whether rotation only plans (dry run) or changes keys.
    pub rotation_mode: RotationMode,
    /// The security team's SNS topic; needed only when a run notifies.
    pub topic_arn: Option<String>,
    /// Whether scheduled runs publish to the topic.
    pub notify_scheduled: bool,
    /// Largest report returned as the invocation response (Lambda allows 6 MB).
    pub report_max_bytes: usize,
    /// How long to wait for IAM to generate the credential report.
    pub credential_report_max_wait_secs: u64,
    /// When keys are rotated and how long the old key is kept (ages, grace, in-use window).
    pub rotation: RotationPolicy,
    /// Customer KMS key for the stored secrets; AWS's managed key when `None`.
    pub secret_kms_key_id: Option<String>,
    /// keywarden's own role, the only principal besides the key's owner allowed to touch a
    /// stored secret. Derived from the caller identity when `None`.
    pub role_arn: Option<String>,
    /// S3 bucket for the evidence archive; without it a digest cannot say what is new.
    pub report_bucket: Option<String>,
    /// Whether a run with nothing to report still sends its (short) digest: silence must
    /// mean something is broken.
    pub notify_clean_runs: bool,
    /// Rotation starts no new user's step once less than this much of the invocation is
    /// left, so Lambda never cuts a step off between two writes.
    pub deadline_margin_secs: u64,
    /// Users rotated at once. IAM's write quotas are per account, so this stays modest; the
    /// SDK's retries absorb the throttling that remains.
    pub rotation_concurrency: usize,
    /// `Some` with `ORGANIZATION=true`: the run audits the selected member accounts.
    pub organization: Option<OrganizationConfig>,
    /// `SECURITY_HUB`: each account's findings imported into its own Security Hub.
    pub security_hub: bool,
}

impl Config {
    /// Reads the configuration through `lookup` (normally `std::env::var(..).ok()`).
    /// Unset and empty variables take their default.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get: &dyn Fn(&str) -> Option<String> = &lookup;
        // Read in this order so that, of several bad variables, the same one is reported.
        let max_key_age_days = s::MAX_KEY_AGE_DAYS.read(get)?;
        let unused_days = s::UNUSED_DAYS.read(get)?;
        let inactive_key_max_days = s::INACTIVE_KEY_MAX_DAYS.read(get)?;
        let setup_window_minutes = s::KEY_SETUP_WINDOW_MINUTES.read(get)?;
        let min_length = s::PASSWORD_MIN_LENGTH.read(get)?;
        let reuse_prevention = s::PASSWORD_REUSE_PREVENTION.read(get)?;
        let require_all_classes = s::PASSWORD_REQUIRE_ALL_CLASSES.read(get)?;
        let exempt_groups = s::EXEMPT_GROUPS.read(get)?;
        let rotation_mode = s::ROTATION_MODE.read(get)?;
        let topic_arn = s::TOPIC_ARN.read(get)?;
        let notify_scheduled = s::NOTIFY_SCHEDULED.read(get)?;
        let report_max_bytes = s::REPORT_MAX_BYTES.read(get)? as usize;
        let credential_report_max_wait_secs = s::CREDENTIAL_REPORT_MAX_WAIT_SECONDS.read(get)?;
        let rotation = RotationPolicy {
            rotate_after_days: s::ROTATE_AFTER_DAYS.read(get)?,
            warn_days: s::ROTATION_WARN_DAYS.read(get)?,
            grace_days: s::GRACE_DAYS.read(get)?,
            inactive_days: s::INACTIVE_DAYS.read(get)?,
            in_use_hours: s::IN_USE_HOURS.read(get)?,
        };
        check_rotation(&rotation)?;
        let secret_kms_key_id = s::SECRET_KMS_KEY_ID.read(get)?;
        let role_arn = s::KEYWARDEN_ROLE_ARN.read(get)?;
        let deadline_margin_secs = s::DEADLINE_MARGIN_SECONDS.read(get)?;
        let report_bucket = s::REPORT_BUCKET.read(get)?;
        let notify_clean_runs = s::NOTIFY_CLEAN_RUNS.read(get)?;
        let live_confirmation = s::LIVE_CONFIRMATION.read(get)?;
        let rotation_concurrency = s::ROTATION_CONCURRENCY.read(get)? as usize;
        let mfa_group = s::MFA_GROUP.read(get)?.into_owned();
        let desired = s::DESIRED_STATE.read_with(get, &mfa_group)?;
        let organization = read_organization(get)?;
        let security_hub = s::SECURITY_HUB.read(get)?;

        Ok(Config {
            report_bucket,
            notify_clean_runs,
            deadline_margin_secs,
            rotation_concurrency,
            rotation,
            secret_kms_key_id,
            role_arn,
            audit: AuditPolicy {
                max_key_age_days,
                unused_days,
                inactive_key_max_days,
                setup_window_minutes,
                password: PasswordRequirements { min_length, reuse_prevention, require_all_classes },
                exempt_groups,
                desired,
                mfa_group,
                rotation_grace_days: rotation.grace_days,
                live_confirmation,
            },
            rotation_mode,
            topic_arn,
            notify_scheduled,
            report_max_bytes,
            credential_report_max_wait_secs,
            organization,
            security_hub,
        })
    }
}

/// The Organizations settings, read (and so validated) only with `ORGANIZATION=true`: a
/// single-account function is not refused over a variable it never uses, but an
/// organization run never starts with a selection it misread.
fn read_organization(
    get: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<OrganizationConfig>, ConfigError> {
    if !s::ORGANIZATION.read(get)? {
        return Ok(None);
    }
    Ok(Some(OrganizationConfig {
        audit_role: s::MEMBER_AUDIT_ROLE.read(get)?.into_owned(),
        rotation_role: s::MEMBER_ROTATION_ROLE.read(get)?.into_owned(),
        external_id: s::MEMBER_EXTERNAL_ID.read(get)?,
        account_concurrency: s::ACCOUNT_CONCURRENCY.read(get)? as usize,
        selection: AccountSelection {
            include_accounts: s::INCLUDE_ACCOUNTS.read(get)?,
            exclude_accounts: s::EXCLUDE_ACCOUNTS.read(get)?,
            include_ous: s::INCLUDE_OUS.read(get)?,
            exclude_ous: s::EXCLUDE_OUS.read(get)?,
            include_tags: s::INCLUDE_ACCOUNT_TAGS.read(get)?,
            exclude_tags: s::EXCLUDE_ACCOUNT_TAGS.read(get)?,
        },
    }))
}

/// The rotation thresholds judged together: each may be in bounds and the schedule still
/// impossible (a key due again before its own rotation ends).
fn check_rotation(p: &RotationPolicy) -> Result<(), ConfigError> {
    let (grace, inactive) = (p.grace_days, p.inactive_days);
    if p.rotate_after_days <= grace + inactive {
        let reason = format!(
            "must exceed {} + {} ({grace} + {inactive}), or a key would be due again before its rotation ends",
            s::GRACE_DAYS.name,
            s::INACTIVE_DAYS.name,
        );
        return Err(s::ROTATE_AFTER_DAYS.reject(p.rotate_after_days.to_string(), reason));
    }
    if p.warn_days >= p.rotate_after_days {
        let reason = format!("must be less than {} ({})", s::ROTATE_AFTER_DAYS.name, p.rotate_after_days);
        return Err(s::ROTATION_WARN_DAYS.reject(p.warn_days.to_string(), reason));
    }
    Ok(())
}
