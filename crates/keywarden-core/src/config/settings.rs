//! Every environment variable the function reads, each defined once.
//!
//! A [`Setting`] holds all that the code, the README and the tests know of a variable: its
//! name, the words of its README row, its default, its bounds and how its value is parsed.
//! [`VARIABLES`] lists them in the README's order; the README test compares each row with
//! its definition, [`super::Config::from_lookup`] reads each value through it, and the
//! `Default` impls take their values from it, so no default is written down twice.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use super::error::{cut, ConfigError, MAX_SHOWN_VALUE};
use super::mode::RotationMode;
use crate::desired::{DesiredState, DEFAULT_REQUIRED_GROUP};
use crate::text::{is_iam_name, is_role_arn};

/// How a setting turns its trimmed, non-empty value into a `T`. `C` is what it needs of the
/// settings read before it: only `DESIRED_STATE` needs anything (the MFA group).
type Parse<T, C> = fn(&Setting<T, C>, String, &C) -> Result<T, ConfigError>;

/// One environment variable. A `static` per variable, so that its name, documentation,
/// default and rule cannot drift apart the way three hand-kept copies did.
#[derive(Debug)]
pub struct Setting<T: 'static, C: ?Sized + 'static = ()> {
    /// The variable's name in the environment.
    pub name: &'static str,
    /// Its meaning, word for word as the README table's third column says it.
    pub doc: &'static str,
    /// The value when the variable is unset or empty.
    pub default: T,
    /// The inclusive range a number must lie in; `None` for anything else.
    pub bounds: Option<(T, T)>,
    parse: Parse<T, C>,
    /// The default as the README writes it, `None` for "(none)".
    show: fn(&T) -> Option<String>,
}

impl<T, C: ?Sized> Setting<T, C> {
    /// The error for `value`, named after this variable so the operator knows what to fix.
    pub fn reject(&self, value: String, reason: impl Into<String>) -> ConfigError {
        ConfigError { variable: self.name, value, reason: reason.into() }
    }

    /// The value through `lookup` (trimmed; unset and empty take the default), with `context`
    /// for the settings whose meaning depends on another's.
    pub fn read_with(&self, lookup: &dyn Fn(&str) -> Option<String>, context: &C) -> Result<T, ConfigError>
    where
        T: Clone,
    {
        match lookup(self.name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty()) {
            None => Ok(self.default.clone()),
            Some(raw) => (self.parse)(self, raw, context),
        }
    }
}

impl<T: Clone> Setting<T> {
    /// The value through `lookup`, for the settings that stand on their own.
    pub fn read(&self, lookup: &dyn Fn(&str) -> Option<String>) -> Result<T, ConfigError> {
        self.read_with(lookup, &())
    }
}

impl<T: Copy + FromStr + PartialOrd + fmt::Display> Setting<T> {
    /// A whole number in `min..=max`.
    const fn number(name: &'static str, default: T, min: T, max: T, doc: &'static str) -> Self {
        Self { name, doc, default, bounds: Some((min, max)), parse: number::<T>, show: displayed::<T> }
    }
}

impl Setting<bool> {
    /// `true` or `false`, nothing looser: `yes` may mean either to whoever typed it.
    const fn flag(name: &'static str, default: bool, doc: &'static str) -> Self {
        Self { name, doc, default, bounds: None, parse: boolean, show: displayed::<bool> }
    }
}

impl<T, C: ?Sized> Setting<T, C> {
    /// A value with a parser of its own.
    const fn custom(
        name: &'static str,
        default: T,
        parse: Parse<T, C>,
        show: fn(&T) -> Option<String>,
        doc: &'static str,
    ) -> Self {
        Self { name, doc, default, bounds: None, parse, show }
    }
}

/// What the README test and the unit tests need of any setting, whatever its type.
pub trait Variable: Sync {
    /// The variable's name in the environment.
    fn name(&self) -> &'static str;
    /// Its README description.
    fn doc(&self) -> &'static str;
    /// The default as the README writes it: `` `90` ``, or `(none)` when unset means absent.
    fn shown_default(&self) -> String;
    /// Whether the default, written as the README writes it, reads back as the default: so
    /// a default outside its bounds, or a README default the parser refuses, is caught.
    fn default_reads_back(&self) -> Result<(), String>;

    /// The variable's README row, exactly: the README test looks for it line for line.
    fn readme_row(&self) -> String {
        format!("| `{}` | {} | {} |", self.name(), self.shown_default(), self.doc())
    }
}

fn readme_default<T, C: ?Sized>(s: &Setting<T, C>) -> String {
    (s.show)(&s.default).map_or_else(|| "(none)".to_string(), |v| format!("`{v}`"))
}

impl<T: Clone + PartialEq + fmt::Debug + Sync> Variable for Setting<T> {
    fn name(&self) -> &'static str {
        self.name
    }
    fn doc(&self) -> &'static str {
        self.doc
    }
    fn shown_default(&self) -> String {
        readme_default(self)
    }
    fn default_reads_back(&self) -> Result<(), String> {
        let Some(text) = (self.show)(&self.default) else { return Ok(()) };
        match (self.parse)(self, text, &()) {
            Ok(v) if v == self.default => Ok(()),
            Ok(v) => Err(format!("{}: the default reads back as {v:?}, not {:?}", self.name, self.default)),
            Err(e) => Err(e.to_string()),
        }
    }
}

impl Variable for Setting<Option<DesiredState>, str> {
    fn name(&self) -> &'static str {
        self.name
    }
    fn doc(&self) -> &'static str {
        self.doc
    }
    fn shown_default(&self) -> String {
        readme_default(self)
    }
    fn default_reads_back(&self) -> Result<(), String> {
        match &self.default {
            None => Ok(()),
            Some(_) => Err(format!("{}: a default document cannot be shown in the README", self.name)),
        }
    }
}

fn displayed<T: fmt::Display>(v: &T) -> Option<String> {
    Some(v.to_string())
}

fn number<T: Copy + FromStr + PartialOrd + fmt::Display>(
    s: &Setting<T>,
    raw: String,
    _: &(),
) -> Result<T, ConfigError> {
    let Some((min, max)) = s.bounds else {
        return raw.parse().map_err(|_| s.reject(raw, "expected a whole number"));
    };
    // The range too: `-1` or `99999999999` is a number to whoever wrote it.
    let Ok(parsed) = raw.parse::<T>() else {
        return Err(s.reject(raw, format!("expected a whole number between {min} and {max}")));
    };
    if parsed < min || parsed > max {
        return Err(s.reject(raw, format!("must be between {min} and {max}")));
    }
    Ok(parsed)
}

fn boolean(s: &Setting<bool>, raw: String, _: &()) -> Result<bool, ConfigError> {
    match raw.as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(s.reject(raw, "expected `true` or `false`")),
    }
}

/// An unset optional value is shown as "(none)"; a set one as itself.
fn optional(v: &Option<String>) -> Option<String> {
    v.clone()
}

fn rotation_mode(s: &Setting<RotationMode>, raw: String, _: &()) -> Result<RotationMode, ConfigError> {
    raw.parse().map_err(|e: super::mode::UnknownRotationMode| s.reject(raw, e.to_string()))
}

fn group_list(s: &Setting<BTreeSet<String>>, raw: String, _: &()) -> Result<BTreeSet<String>, ConfigError> {
    let mut groups = BTreeSet::new();
    for name in raw.split(',').map(str::trim) {
        if !is_iam_name(name) {
            let reason = format!("`{}` is not a valid IAM group name", cut(name));
            return Err(s.reject(raw, reason));
        }
        groups.insert(name.to_string());
    }
    Ok(groups)
}

fn group_name(s: &Setting<Cow<'static, str>>, raw: String, _: &()) -> Result<Cow<'static, str>, ConfigError> {
    if is_iam_name(&raw) {
        Ok(Cow::Owned(raw))
    } else {
        Err(s.reject(raw, "expected an IAM group name (1-128 of letters, digits and +=,.@_-)"))
    }
}

fn topic_arn(s: &Setting<Option<String>>, raw: String, _: &()) -> Result<Option<String>, ConfigError> {
    let parts: Vec<&str> = raw.split(':').collect();
    if parts.len() != 6 || parts[0] != "arn" || parts[2] != "sns" || parts[5].is_empty() {
        return Err(s.reject(raw, "expected an SNS topic ARN, arn:<partition>:sns:<region>:<account>:<name>"));
    }
    Ok(Some(raw))
}

fn any_text(_: &Setting<Option<String>>, raw: String, _: &()) -> Result<Option<String>, ConfigError> {
    Ok(Some(raw))
}

fn role_arn(s: &Setting<Option<String>>, raw: String, _: &()) -> Result<Option<String>, ConfigError> {
    if !is_role_arn(&raw) {
        let reason = "expected an IAM role ARN with its path, arn:<partition>:iam::<12-digit account>:role/<path/><name>";
        return Err(s.reject(raw, reason));
    }
    Ok(Some(raw))
}

fn bucket(s: &Setting<Option<String>>, raw: String, _: &()) -> Result<Option<String>, ConfigError> {
    let allowed = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'.';
    if !(3..=63).contains(&raw.len()) || !raw.bytes().all(allowed) {
        return Err(s.reject(raw, "expected an S3 bucket name (3-63 lowercase letters, digits, `-` and `.`)"));
    }
    Ok(Some(raw))
}

/// The document is read against the configured MFA group, so that renaming the group does
/// not leave the document's default requiring the old one.
fn desired_state(
    s: &Setting<Option<DesiredState>, str>,
    raw: String,
    mfa_group: &str,
) -> Result<Option<DesiredState>, ConfigError> {
    DesiredState::parse_with_default_group(&raw, mfa_group).map(Some).map_err(|e| ConfigError {
        variable: s.name,
        // Cut here rather than in the message: the field keeps no more than it shows.
        value: raw.chars().take(MAX_SHOWN_VALUE).collect(),
        reason: e.to_string(),
    })
}

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
];
