//! Every environment variable the function reads, each defined once, in the README's order.
//!
//! The README test compares each row of the table with its definition here,
//! [`super::Config::from_lookup`] reads each value through it, and the `Default` impls take
//! their values from it, so no default is written down twice.

use std::borrow::Cow;
use std::collections::BTreeSet;

use super::mode::RotationMode;
use super::organization::{account_ids, account_tags, external_id, ou_ids, role_name, AccountTags};
use super::setting::{
    any_text, bucket, desired_state, group_list, group_name, optional, role_arn, rotation_mode, topic_arn,
    Setting, Variable,
};
use crate::desired::{DesiredState, DEFAULT_REQUIRED_GROUP};

/// What scheduled runs may do to keys.
pub static ROTATION_MODE: Setting<RotationMode> = Setting::custom(
    "ROTATION_MODE",
    RotationMode::DryRun,
    rotation_mode,
    |m| Some(m.as_str().to_string()),
    "`off`, `dry-run` or `enforce`: what scheduled runs may do to keys",
);
/// Age past which an active key is a finding.
pub static MAX_KEY_AGE_DAYS: Setting<u32> = Setting::number(
    "MAX_KEY_AGE_DAYS",
    90,
    1,
    3650,
    "an active key older than this is `access_key_not_rotated`",
);
/// Quiet time past which credentials count as unused.
pub static UNUSED_DAYS: Setting<u32> = Setting::number(
    "UNUSED_DAYS",
    45,
    1,
    3650,
    "credentials unused (or never used and older) than this are unused",
);
/// Age past which an inactive key should have been deleted.
pub static INACTIVE_KEY_MAX_DAYS: Setting<u32> = Setting::number(
    "INACTIVE_KEY_MAX_DAYS",
    30,
    1,
    3650,
    "an inactive key older than this is `inactive_access_key_lingering`",
);
/// How soon after its user a key counts as made at setup.
pub static KEY_SETUP_WINDOW_MINUTES: Setting<u32> = Setting::number(
    "KEY_SETUP_WINDOW_MINUTES",
    60,
    1,
    1440,
    "a key made this soon after its console user counts as made at setup",
);
/// The password length the account policy must require.
pub static PASSWORD_MIN_LENGTH: Setting<u32> = Setting::number(
    "PASSWORD_MIN_LENGTH",
    14,
    6,
    128,
    "minimum password length the account policy must require",
);
/// The reuse prevention the account policy must require (IAM allows at most 24).
pub static PASSWORD_REUSE_PREVENTION: Setting<u32> = Setting::number(
    "PASSWORD_REUSE_PREVENTION",
    24,
    1,
    24,
    "password reuse prevention the account policy must require",
);
/// Whether the account policy must require every character class.
pub static PASSWORD_REQUIRE_ALL_CLASSES: Setting<bool> = Setting::flag(
    "PASSWORD_REQUIRE_ALL_CLASSES",
    true,
    "the policy must require upper, lower, digit and symbol",
);
/// Groups whose members are exempt.
pub static EXEMPT_GROUPS: Setting<BTreeSet<String>> = Setting::custom(
    "EXEMPT_GROUPS",
    BTreeSet::new(),
    group_list,
    |g| (!g.is_empty()).then(|| g.iter().cloned().collect::<Vec<_>>().join(",")),
    "comma-separated groups whose members are exempt from all checks",
);
/// The MFA-enforcing self-service group; by default the one the desired state requires.
pub static MFA_GROUP: Setting<Cow<'static, str>> = Setting::custom(
    "MFA_GROUP",
    Cow::Borrowed(DEFAULT_REQUIRED_GROUP),
    group_name,
    |g| Some(g.to_string()),
    "the MFA-enforcing self-service group that must carry the canonical policy",
);
/// The security team's SNS topic.
pub static TOPIC_ARN: Setting<Option<String>> = Setting::custom(
    "TOPIC_ARN",
    None,
    topic_arn,
    optional,
    "SNS topic for alerts; needed only when a run notifies",
);
/// Whether scheduled runs notify.
pub static NOTIFY_SCHEDULED: Setting<bool> =
    Setting::flag("NOTIFY_SCHEDULED", true, "whether scheduled runs publish to `TOPIC_ARN`");
/// The largest invocation response (Lambda allows 6 MB).
pub static REPORT_MAX_BYTES: Setting<u64> = Setting::number(
    "REPORT_MAX_BYTES",
    5_000_000,
    10_000,
    6_000_000,
    "largest response; past it the report keeps the summary and the worst findings",
);
/// How long to wait for IAM's credential report.
pub static CREDENTIAL_REPORT_MAX_WAIT_SECONDS: Setting<u64> = Setting::number(
    "CREDENTIAL_REPORT_MAX_WAIT_SECONDS",
    120,
    1,
    600,
    "how long to wait for IAM to generate the credential report",
);
/// Age at which a key is rotated.
pub static ROTATE_AFTER_DAYS: Setting<u32> = Setting::number(
    "ROTATE_AFTER_DAYS",
    90,
    1,
    3650,
    "a key this old is rotated (must exceed `GRACE_DAYS` + `INACTIVE_DAYS`)",
);
/// Warning ahead of a rotation.
pub static ROTATION_WARN_DAYS: Setting<u32> =
    Setting::number("ROTATION_WARN_DAYS", 7, 1, 3650, "warn this many days before a key is due");
/// Days both keys work; also the only time two active keys are not a finding.
pub static GRACE_DAYS: Setting<u32> =
    Setting::number("GRACE_DAYS", 7, 1, 3650, "days the old and the new key both work");
/// Days the old key stays deactivated before deletion.
pub static INACTIVE_DAYS: Setting<u32> =
    Setting::number("INACTIVE_DAYS", 7, 1, 3650, "days the old key stays deactivated before it is deleted");
/// How recent a use holds the old key.
pub static IN_USE_HOURS: Setting<u32> = Setting::number(
    "IN_USE_HOURS",
    24,
    1,
    24 * 30,
    "an old key used this recently at the end of grace is held, not deactivated",
);
/// The group-membership desired state; parsed against [`MFA_GROUP`].
pub static DESIRED_STATE: Setting<Option<DesiredState>, str> = Setting::custom(
    "DESIRED_STATE",
    None,
    desired_state,
    |_| None,
    "group-membership desired state (JSON, see below); the drift checks are skipped without it",
);
/// The evidence archive's bucket.
pub static REPORT_BUCKET: Setting<Option<String>> = Setting::custom(
    "REPORT_BUCKET",
    None,
    bucket,
    optional,
    "S3 bucket for every run's full report; enables new/resolved in the digest",
);
/// Whether a clean run still sends its digest: silence must mean something is broken.
pub static NOTIFY_CLEAN_RUNS: Setting<bool> = Setting::flag(
    "NOTIFY_CLEAN_RUNS",
    true,
    "a scheduled run with nothing to report still sends a short digest (heartbeat)",
);
/// The customer KMS key for stored secrets.
pub static SECRET_KMS_KEY_ID: Setting<Option<String>> = Setting::custom(
    "SECRET_KMS_KEY_ID",
    None,
    any_text,
    optional,
    "customer KMS key for the stored new keys; AWS managed key if unset",
);
/// keywarden's own role, spared by the secrets' Deny.
pub static KEYWARDEN_ROLE_ARN: Setting<Option<String>> = Setting::custom(
    "KEYWARDEN_ROLE_ARN",
    None,
    role_arn,
    optional,
    "keywarden's role, allowed besides the owner on stored secrets; from STS if unset",
);
/// Time left below which rotation starts no new step.
pub static DEADLINE_MARGIN_SECONDS: Setting<u64> = Setting::number(
    "DEADLINE_MARGIN_SECONDS",
    60,
    0,
    600,
    "rotation starts no new user's step when less of the invocation is left; the report lists them as deferred",
);
/// Users rotated at once.
pub static ROTATION_CONCURRENCY: Setting<u32> = Setting::number(
    "ROTATION_CONCURRENCY",
    4,
    1,
    16,
    "users whose rotation step runs at the same time (1-16); IAM's write quotas are per account",
);
/// Whether flagged users are re-read live.
pub static LIVE_CONFIRMATION: Setting<bool> = Setting::flag(
    "LIVE_CONFIRMATION",
    false,
    "re-read flagged users live: key ids on key findings, removed passwords dropped; costs one call per flagged user",
);

/// Whether findings are imported into Security Hub.
pub static SECURITY_HUB: Setting<bool> = Setting::flag(
    "SECURITY_HUB",
    false,
    "import each account's findings into its own Security Hub (ASFF, `BatchImportFindings`); resolved ones are archived when `REPORT_BUCKET` is set",
);

/// Whether the function audits the accounts of its organization instead of its own.
pub static ORGANIZATION: Setting<bool> = Setting::flag(
    "ORGANIZATION",
    false,
    "audit every selected member account of the organization (run from the management or a delegated-administrator account)",
);
/// The role assumed in each member account for the audit.
pub static MEMBER_AUDIT_ROLE: Setting<Cow<'static, str>> = Setting::custom(
    "MEMBER_AUDIT_ROLE",
    Cow::Borrowed("keywarden-audit"),
    role_name,
    |v| Some(v.to_string()),
    "the read-only role assumed in each member account (its name; the member-role stack creates it)",
);
/// The role assumed in each member account for rotation writes.
pub static MEMBER_ROTATION_ROLE: Setting<Cow<'static, str>> = Setting::custom(
    "MEMBER_ROTATION_ROLE",
    Cow::Borrowed("keywarden-rotation"),
    role_name,
    |v| Some(v.to_string()),
    "the role assumed in a member account for key rotation; only with `ROTATION_MODE=enforce`",
);
/// The ExternalId the member roles' trust policy asks for.
pub static MEMBER_EXTERNAL_ID: Setting<Option<String>> = Setting::custom(
    "MEMBER_EXTERNAL_ID",
    None,
    external_id,
    optional,
    "the `sts:ExternalId` sent with every AssumeRole, when the member roles require one",
);
/// Accounts audited at once by one invocation.
pub static ACCOUNT_CONCURRENCY: Setting<u32> = Setting::number(
    "ACCOUNT_CONCURRENCY",
    8,
    1,
    64,
    "member accounts one invocation audits at the same time (1-64)",
);
/// Accounts to audit; all when empty.
pub static INCLUDE_ACCOUNTS: Setting<BTreeSet<String>> = Setting::custom(
    "INCLUDE_ACCOUNTS",
    BTreeSet::new(),
    account_ids,
    |_| None,
    "comma-separated account ids to audit (with the other `INCLUDE_*`, any match selects)",
);
/// Accounts never audited.
pub static EXCLUDE_ACCOUNTS: Setting<BTreeSet<String>> = Setting::custom(
    "EXCLUDE_ACCOUNTS",
    BTreeSet::new(),
    account_ids,
    |_| None,
    "comma-separated account ids never audited (exclusions win over inclusions)",
);
/// OUs whose accounts are audited, nested OUs included.
pub static INCLUDE_OUS: Setting<BTreeSet<String>> = Setting::custom(
    "INCLUDE_OUS",
    BTreeSet::new(),
    ou_ids,
    |_| None,
    "comma-separated OU (or root) ids whose accounts are audited, nested OUs included",
);
/// OUs whose accounts are never audited, nested OUs included.
pub static EXCLUDE_OUS: Setting<BTreeSet<String>> = Setting::custom(
    "EXCLUDE_OUS",
    BTreeSet::new(),
    ou_ids,
    |_| None,
    "comma-separated OU ids whose accounts are never audited, nested OUs included",
);
/// Account tags that select an account.
pub static INCLUDE_ACCOUNT_TAGS: Setting<AccountTags> = Setting::custom(
    "INCLUDE_ACCOUNT_TAGS",
    AccountTags::new(),
    account_tags,
    |_| None,
    "`key=value` pairs, comma-separated: an account with any of these tags is audited",
);
/// Account tags that keep an account out.
pub static EXCLUDE_ACCOUNT_TAGS: Setting<AccountTags> = Setting::custom(
    "EXCLUDE_ACCOUNT_TAGS",
    AccountTags::new(),
    account_tags,
    |_| None,
    "`key=value` pairs, comma-separated: an account with any of these tags is never audited",
);

/// Every variable the function reads, in the README table's order: the README test and the
/// unit tests walk this list, so a variable missing from it is caught by both.
pub static VARIABLES: &[&dyn Variable] = &[
    &ROTATION_MODE,
    &MAX_KEY_AGE_DAYS,
    &UNUSED_DAYS,
    &INACTIVE_KEY_MAX_DAYS,
    &KEY_SETUP_WINDOW_MINUTES,
    &PASSWORD_MIN_LENGTH,
    &PASSWORD_REUSE_PREVENTION,
    &PASSWORD_REQUIRE_ALL_CLASSES,
    &EXEMPT_GROUPS,
    &MFA_GROUP,
    &TOPIC_ARN,
    &NOTIFY_SCHEDULED,
    &REPORT_MAX_BYTES,
    &CREDENTIAL_REPORT_MAX_WAIT_SECONDS,
    &ROTATE_AFTER_DAYS,
    &ROTATION_WARN_DAYS,
    &GRACE_DAYS,
    &INACTIVE_DAYS,
    &IN_USE_HOURS,
    &DESIRED_STATE,
    &REPORT_BUCKET,
    &NOTIFY_CLEAN_RUNS,
    &SECRET_KMS_KEY_ID,
    &KEYWARDEN_ROLE_ARN,
    &DEADLINE_MARGIN_SECONDS,
    &ROTATION_CONCURRENCY,
    &LIVE_CONFIRMATION,
    &ORGANIZATION,
    &MEMBER_AUDIT_ROLE,
    &MEMBER_ROTATION_ROLE,
    &MEMBER_EXTERNAL_ID,
    &ACCOUNT_CONCURRENCY,
    &INCLUDE_ACCOUNTS,
    &EXCLUDE_ACCOUNTS,
    &INCLUDE_OUS,
    &EXCLUDE_OUS,
    &INCLUDE_ACCOUNT_TAGS,
    &EXCLUDE_ACCOUNT_TAGS,
    &SECURITY_HUB,
];
