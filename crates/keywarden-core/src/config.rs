//! Configuration, read from environment variables once at cold start and validated there.
//!
//! Parsing takes a lookup function instead of reading `std::env` so that it stays pure and
//! every rule is unit-tested. A bad value is an error naming the variable: a function that
//! audits with a typo'd threshold is worse than one that refuses to start.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::desired::DesiredState;
use crate::rotation::RotationPolicy;

/// A variable that cannot be used, and why. The message shows at most
/// [`MAX_SHOWN_VALUE`] characters of the value: a pasted document must not flood the log.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[error("invalid configuration: {variable}={}: {reason}", shown(.value))]
pub struct ConfigError {
    pub variable: &'static str,
    pub value: String,
    pub reason: String,
}

/// Longest part of a bad value repeated in a [`ConfigError`]'s message, in characters.
pub const MAX_SHOWN_VALUE: usize = 200;

/// At most [`MAX_SHOWN_VALUE`] characters of `value`, marked when cut.
fn cut(value: &str) -> String {
    crate::text::shorten(value, MAX_SHOWN_VALUE)
}

fn shown(value: &str) -> String {
    if value.chars().count() <= MAX_SHOWN_VALUE {
        format!("{value:?}")
    } else {
        let cut: String = value.chars().take(MAX_SHOWN_VALUE).collect();
        format!("{cut:?}… ({} characters)", value.chars().count())
    }
}

/// What the function may do to credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum RotationMode {
    /// Audit only; no rotation is planned.
    Off,
    /// Plan and report rotations, change nothing. The default: nobody's keys change until a
    /// human has read what keywarden would do.
    #[default]
    DryRun,
    /// Carry out the plan.
    Enforce,
}

impl RotationMode {
    pub fn as_str(self) -> &'static str {
        match self {
            RotationMode::Off => "off",
            RotationMode::DryRun => "dry-run",
            RotationMode::Enforce => "enforce",
        }
    }
}

impl fmt::Display for RotationMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RotationMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "off" => Ok(RotationMode::Off),
            "dry-run" => Ok(RotationMode::DryRun),
            "enforce" => Ok(RotationMode::Enforce),
            _ => Err("expected one of off, dry-run, enforce".into()),
        }
    }
}

/// What CIS and Security Hub require of the account password policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PasswordRequirements {
    pub min_length: u32,
    pub reuse_prevention: u32,
    /// Require upper, lower, digit and symbol (Security Hub IAM.7).
    pub require_all_classes: bool,
}

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

impl Default for AuditPolicy {
    fn default() -> Self {
        Self {
            max_key_age_days: 90,
            unused_days: 45,
            inactive_key_max_days: 30,
            setup_window_minutes: 60,
            password: PasswordRequirements {
                min_length: 14,
                reuse_prevention: 24,
                require_all_classes: true,
            },
            exempt_groups: BTreeSet::new(),
            desired: None,
            mfa_group: crate::desired::DEFAULT_REQUIRED_GROUP.to_string(),
            rotation_grace_days: 7,
            live_confirmation: false,
        }
    }
}

/// The whole function configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub audit: AuditPolicy,
    pub rotation_mode: RotationMode,
    /// The security team's SNS topic; needed only when a run notifies.
    pub topic_arn: Option<String>,
    /// Whether scheduled runs publish to the topic.
    pub notify_scheduled: bool,
    /// Largest report returned as the invocation response (Lambda allows 6 MB).
    pub report_max_bytes: usize,
    /// How long to wait for IAM to generate the credential report.
    pub credential_report_max_wait_secs: u64,
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
}

/// Every variable the function reads, with its default and meaning: the README table is
/// generated from the same words.
pub const VARIABLES: &[(&str, &str, &str)] = &[
    ("ROTATION_MODE", "dry-run", "`off`, `dry-run` or `enforce`: what scheduled runs may do to keys"),
    ("MAX_KEY_AGE_DAYS", "90", "an active key older than this is `access_key_not_rotated`"),
    ("UNUSED_DAYS", "45", "credentials unused (or never used and older) than this are unused"),
    ("INACTIVE_KEY_MAX_DAYS", "30", "an inactive key older than this is `inactive_access_key_lingering`"),
    ("KEY_SETUP_WINDOW_MINUTES", "60", "a key made this soon after its console user counts as made at setup"),
    ("PASSWORD_MIN_LENGTH", "14", "minimum password length the account policy must require"),
    ("PASSWORD_REUSE_PREVENTION", "24", "password reuse prevention the account policy must require"),
    ("PASSWORD_REQUIRE_ALL_CLASSES", "true", "the policy must require upper, lower, digit and symbol"),
    ("EXEMPT_GROUPS", "(none)", "comma-separated groups whose members are exempt from all checks"),
    ("MFA_GROUP", "SelfEdit", "the MFA-enforcing self-service group that must carry the canonical policy"),
    ("TOPIC_ARN", "(none)", "SNS topic for alerts; needed only when a run notifies"),
    ("NOTIFY_SCHEDULED", "true", "whether scheduled runs publish to `TOPIC_ARN`"),
    (
        "REPORT_MAX_BYTES",
        "5000000",
        "largest response; past it the report keeps the summary and the worst findings",
    ),
    (
        "CREDENTIAL_REPORT_MAX_WAIT_SECONDS",
        "120",
        "how long to wait for IAM to generate the credential report",
    ),
    ("ROTATE_AFTER_DAYS", "90", "a key this old is rotated (must exceed `GRACE_DAYS` + `INACTIVE_DAYS`)"),
    ("ROTATION_WARN_DAYS", "7", "warn this many days before a key is due"),
    ("GRACE_DAYS", "7", "days the old and the new key both work"),
    ("INACTIVE_DAYS", "7", "days the old key stays deactivated before it is deleted"),
    ("IN_USE_HOURS", "24", "an old key used this recently at the end of grace is held, not deactivated"),
    ("SECRET_KMS_KEY_ID", "(none)", "customer KMS key for the stored new keys; AWS managed key if unset"),
    (
        "KEYWARDEN_ROLE_ARN",
        "(none)",
        "keywarden's role, allowed besides the owner on stored secrets; from STS if unset",
    ),
    (
        "DESIRED_STATE",
        "(none)",
        "group-membership desired state (JSON, see README); drift checks are skipped without it",
    ),
    ("REPORT_BUCKET", "(none)", "S3 bucket for every run's full report; enables new/resolved in the digest"),
    (
        "NOTIFY_CLEAN_RUNS",
        "true",
        "a scheduled run with nothing to report still sends a short digest (heartbeat)",
    ),
    (
        "DEADLINE_MARGIN_SECONDS",
        "60",
        "rotation starts no new user's step when less of the invocation is left; the report lists them as deferred",
    ),
    (
        "ROTATION_CONCURRENCY",
        "4",
        "users whose rotation step runs at the same time (1-16); IAM's write quotas are per account",
    ),
    (
        "LIVE_CONFIRMATION",
        "false",
        "re-read flagged users live: key ids on key findings, removed passwords dropped; costs one call per flagged user",
    ),
];

impl Config {
    /// Reads the configuration through `lookup` (normally `std::env::var(..).ok()`).
    /// Unset and empty variables take their default.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let defaults = AuditPolicy::default();

        let days = |name: &'static str, default: u32, max: u32| -> Result<u32, ConfigError> {
            number(name, get(name), default, 1, max)
        };
        let max_key_age_days = days("MAX_KEY_AGE_DAYS", defaults.max_key_age_days, 3650)?;
        let unused_days = days("UNUSED_DAYS", defaults.unused_days, 3650)?;
        let inactive_key_max_days = days("INACTIVE_KEY_MAX_DAYS", defaults.inactive_key_max_days, 3650)?;
        let setup_window_minutes = number(
            "KEY_SETUP_WINDOW_MINUTES",
            get("KEY_SETUP_WINDOW_MINUTES"),
            defaults.setup_window_minutes,
            1,
            1440,
        )?;
        let min_length =
            number("PASSWORD_MIN_LENGTH", get("PASSWORD_MIN_LENGTH"), defaults.password.min_length, 6, 128)?;
        let reuse_prevention = number(
            "PASSWORD_REUSE_PREVENTION",
            get("PASSWORD_REUSE_PREVENTION"),
            defaults.password.reuse_prevention,
            1,
            24,
        )?;
        let require_all_classes =
            boolean("PASSWORD_REQUIRE_ALL_CLASSES", get("PASSWORD_REQUIRE_ALL_CLASSES"), true)?;

        let exempt_groups = match get("EXEMPT_GROUPS") {
            None => BTreeSet::new(),
            Some(raw) => {
                let mut groups = BTreeSet::new();
                for name in raw.split(',').map(str::trim) {
                    if !is_iam_name(name) {
                        return Err(ConfigError {
                            variable: "EXEMPT_GROUPS",
                            value: raw.clone(),
                            reason: format!("`{}` is not a valid IAM group name", cut(name)),
                        });
                    }
                    groups.insert(name.to_string());
                }
                groups
            }
        };

        let rotation_mode = match get("ROTATION_MODE") {
            None => RotationMode::default(),
            Some(v) => {
                v.parse().map_err(|reason| ConfigError { variable: "ROTATION_MODE", value: v, reason })?
            }
        };

        let topic_arn = match get("TOPIC_ARN") {
            None => None,
            Some(v) => {
                let parts: Vec<&str> = v.split(':').collect();
                if parts.len() != 6 || parts[0] != "arn" || parts[2] != "sns" || parts[5].is_empty() {
                    return Err(ConfigError {
                        variable: "TOPIC_ARN",
                        value: v,
                        reason: "expected an SNS topic ARN, arn:<partition>:sns:<region>:<account>:<name>"
                            .into(),
                    });
                }
                Some(v)
            }
        };
        let notify_scheduled = boolean("NOTIFY_SCHEDULED", get("NOTIFY_SCHEDULED"), true)?;
        let report_max_bytes =
            number("REPORT_MAX_BYTES", get("REPORT_MAX_BYTES"), 5_000_000u64, 10_000, 6_000_000)? as usize;
        let credential_report_max_wait_secs = number(
            "CREDENTIAL_REPORT_MAX_WAIT_SECONDS",
            get("CREDENTIAL_REPORT_MAX_WAIT_SECONDS"),
            120u64,
            1,
            600,
        )?;

        let rotate_after_days = days("ROTATE_AFTER_DAYS", 90, 3650)?;
        let warn_days = days("ROTATION_WARN_DAYS", 7, 3650)?;
        let grace_days = days("GRACE_DAYS", 7, 3650)?;
        let inactive_days = days("INACTIVE_DAYS", 7, 3650)?;
        let in_use_hours = number("IN_USE_HOURS", get("IN_USE_HOURS"), 24, 1, 24 * 30)?;
        if rotate_after_days <= grace_days + inactive_days {
            return Err(ConfigError {
                variable: "ROTATE_AFTER_DAYS",
                value: rotate_after_days.to_string(),
                reason: format!(
                    "must exceed GRACE_DAYS + INACTIVE_DAYS ({grace_days} + {inactive_days}), or a key would be due again before its rotation ends"
                ),
            });
        }
        if warn_days >= rotate_after_days {
            return Err(ConfigError {
                variable: "ROTATION_WARN_DAYS",
                value: warn_days.to_string(),
                reason: format!("must be less than ROTATE_AFTER_DAYS ({rotate_after_days})"),
            });
        }
        let secret_kms_key_id = get("SECRET_KMS_KEY_ID");
        let role_arn = match get("KEYWARDEN_ROLE_ARN") {
            Some(v) if !is_role_arn(&v) => {
                return Err(ConfigError {
                    variable: "KEYWARDEN_ROLE_ARN",
                    value: v,
                    reason: "expected an IAM role ARN with its path, arn:<partition>:iam::<12-digit account>:role/<path/><name>".into(),
                })
            }
            other => other,
        };
        let deadline_margin_secs =
            number("DEADLINE_MARGIN_SECONDS", get("DEADLINE_MARGIN_SECONDS"), 60, 0, 600)?;

        let report_bucket = match get("REPORT_BUCKET") {
            Some(b)
                if !(3..=63).contains(&b.len())
                    || !b
                        .bytes()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'.') =>
            {
                return Err(ConfigError {
                    variable: "REPORT_BUCKET",
                    value: b,
                    reason: "expected an S3 bucket name (3-63 lowercase letters, digits, `-` and `.`)".into(),
                })
            }
            other => other,
        };
        let notify_clean_runs = boolean("NOTIFY_CLEAN_RUNS", get("NOTIFY_CLEAN_RUNS"), true)?;
        let live_confirmation = boolean("LIVE_CONFIRMATION", get("LIVE_CONFIRMATION"), false)?;
        let rotation_concurrency =
            number("ROTATION_CONCURRENCY", get("ROTATION_CONCURRENCY"), 4u32, 1, 16)? as usize;
        let mfa_group = match get("MFA_GROUP") {
            None => defaults.mfa_group,
            Some(g) if is_iam_name(&g) => g,
            Some(g) => {
                return Err(ConfigError {
                    variable: "MFA_GROUP",
                    value: g,
                    reason: "expected an IAM group name (1-128 of letters, digits and +=,.@_-)".into(),
                })
            }
        };
        let desired = match get("DESIRED_STATE") {
            None => None,
            Some(doc) => {
                Some(DesiredState::parse_with_default_group(&doc, &mfa_group).map_err(|e| ConfigError {
                    variable: "DESIRED_STATE",
                    value: doc.chars().take(200).collect(),
                    reason: e.to_string(),
                })?)
            }
        };

        Ok(Config {
            report_bucket,
            notify_clean_runs,
            deadline_margin_secs,
            rotation_concurrency,
            rotation: RotationPolicy {
                rotate_after_days,
                warn_days,
                grace_days,
                inactive_days,
                in_use_hours,
            },
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
                rotation_grace_days: grace_days,
                live_confirmation,
            },
            rotation_mode,
            topic_arn,
            notify_scheduled,
            report_max_bytes,
            credential_report_max_wait_secs,
        })
    }
}

/// An IAM role ARN as `aws:PrincipalArn` carries it: the role's path is part of it, so the
/// secrets' Deny only spares keywarden when the path is right.
pub fn is_role_arn(v: &str) -> bool {
    let parts: Vec<&str> = v.splitn(6, ':').collect();
    let [arn, partition, iam, region, account, resource] = parts.as_slice() else { return false };
    let Some(path_and_name) = resource.strip_prefix("role/") else { return false };
    *arn == "arn"
        && partition.starts_with("aws")
        && *iam == "iam"
        && region.is_empty()
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && path_and_name.split('/').all(|seg| !seg.is_empty() && is_iam_name(seg))
}

fn number<T>(
    variable: &'static str,
    value: Option<String>,
    default: T,
    min: T,
    max: T,
) -> Result<T, ConfigError>
where
    T: FromStr + PartialOrd + fmt::Display + Copy,
{
    let Some(raw) = value else { return Ok(default) };
    let parsed: T = raw.parse().map_err(|_| ConfigError {
        variable,
        value: raw.clone(),
        // The range too: `-1` or `99999999999` is a number to whoever wrote it.
        reason: format!("expected a whole number between {min} and {max}"),
    })?;
    if parsed < min || parsed > max {
        return Err(ConfigError { variable, value: raw, reason: format!("must be between {min} and {max}") });
    }
    Ok(parsed)
}

fn boolean(variable: &'static str, value: Option<String>, default: bool) -> Result<bool, ConfigError> {
    match value.as_deref() {
        None => Ok(default),
        Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(other) => Err(ConfigError {
            variable,
            value: other.to_string(),
            reason: "expected `true` or `false`".into(),
        }),
    }
}

/// IAM user and group names: 1–128 of letters, digits and `+=,.@_-`.
pub fn is_iam_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn parse(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn empty_environment_gives_safe_defaults() {
        let c = parse(&[]).expect("defaults are valid");
        assert_eq!(c.rotation_mode, RotationMode::DryRun);
        assert_eq!(c.audit, AuditPolicy::default());
        assert_eq!(c.topic_arn, None);
        assert!(c.notify_scheduled);
        assert_eq!(c.report_max_bytes, 5_000_000);
    }

    #[test]
    fn values_are_read() {
        let c = parse(&[
            ("ROTATION_MODE", "enforce"),
            ("MAX_KEY_AGE_DAYS", "30"),
            ("UNUSED_DAYS", " 10 "),
            ("EXEMPT_GROUPS", "BreakGlass, Robots"),
            ("TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:security"),
            ("NOTIFY_SCHEDULED", "false"),
            ("MFA_GROUP", "Force_MFA"),
        ])
        .expect("valid");
        assert_eq!(c.audit.mfa_group, "Force_MFA");
        // The desired state's default requirement follows the configured group.
        let renamed = parse(&[("MFA_GROUP", "Force_MFA"), ("DESIRED_STATE", "{}")]).expect("valid");
        let required = renamed.audit.desired.expect("a desired state").required_for_all;
        assert_eq!(required, ["Force_MFA".to_string()].into());
        assert_eq!(c.rotation_mode, RotationMode::Enforce);
        assert_eq!(c.audit.max_key_age_days, 30);
        assert_eq!(c.audit.unused_days, 10);
        assert_eq!(c.audit.exempt_groups, ["BreakGlass", "Robots"].iter().map(|s| s.to_string()).collect());
        assert_eq!(c.topic_arn.as_deref(), Some("arn:aws:sns:us-east-1:123456789012:security"));
        assert!(!c.notify_scheduled);
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (var, value) in [
            ("MAX_KEY_AGE_DAYS", "ninety"),
            ("MAX_KEY_AGE_DAYS", "0"),
            ("UNUSED_DAYS", "-1"),
            ("ROTATION_MODE", "yolo"),
            ("TOPIC_ARN", "security-topic"),
            ("TOPIC_ARN", "arn:aws:sqs:us-east-1:123456789012:q"),
            ("NOTIFY_SCHEDULED", "yes"),
            ("EXEMPT_GROUPS", "ok,bad group"),
            ("REPORT_MAX_BYTES", "7000000"),
            ("PASSWORD_REUSE_PREVENTION", "25"),
            ("MFA_GROUP", "Self Edit"),
        ] {
            let err = parse(&[(var, value)]).expect_err(var);
            assert_eq!(err.variable, var);
            assert!(err.to_string().contains(var), "{err}");
        }
    }

    #[test]
    fn rotation_thresholds_are_validated_together() {
        let c = parse(&[("ROTATE_AFTER_DAYS", "30"), ("GRACE_DAYS", "3"), ("INACTIVE_DAYS", "2")])
            .expect("valid");
        assert_eq!(c.rotation.rotate_after_days, 30);
        assert_eq!(c.rotation.grace_days, 3);
        let err = parse(&[("ROTATE_AFTER_DAYS", "10"), ("GRACE_DAYS", "7")]).expect_err("10 <= 7 + 7");
        assert_eq!(err.variable, "ROTATE_AFTER_DAYS");
        assert!(err.to_string().contains("GRACE_DAYS + INACTIVE_DAYS"), "{err}");
        assert_eq!(parse(&[("GRACE_DAYS", "0")]).expect_err("zero").variable, "GRACE_DAYS");
        assert_eq!(parse(&[("ROTATION_WARN_DAYS", "90")]).expect_err("warn").variable, "ROTATION_WARN_DAYS");
        assert_eq!(
            parse(&[("KEYWARDEN_ROLE_ARN", "keywarden")]).expect_err("arn").variable,
            "KEYWARDEN_ROLE_ARN"
        );
    }

    #[test]
    fn every_variable_read_is_documented() {
        let documented: Vec<&str> = VARIABLES.iter().map(|(n, _, _)| *n).collect();
        let seen = std::cell::RefCell::new(Vec::new());
        let _ = Config::from_lookup(|k| {
            seen.borrow_mut().push(k.to_string());
            None
        });
        for name in seen.borrow().iter() {
            assert!(documented.contains(&name.as_str()), "{name} is read but not documented");
        }
        assert_eq!(seen.borrow().len(), documented.len());
    }
}
