//! The credential-report checks: MFA for console and key users, key age, unused keys and
//! passwords, keys made with the user, lingering inactive keys, two active keys. One row of
//! the report is one user; nothing here needs a per-user call.

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};

use crate::catalogue::{CheckId, DataSource, Scope};
use crate::config::AuditPolicy;
use crate::credential_report::{CredentialReport, CredentialRow, KeySlot, ReportTime};
use crate::model::Authorization;

use super::finding::{user_finding, Finding, SubjectUnknown};
use super::scope::UserScope;

/// Every row of the report in scope; and, for users IAM lists but the report does not
/// (created since it was generated), an unknown subject per credential check, because
/// saying nothing would read as a pass.
#[allow(clippy::too_many_arguments)]
pub(super) fn check(
    report: &CredentialReport,
    auth: Option<&Authorization>,
    policy: &AuditPolicy,
    scope: &UserScope,
    now: DateTime<Utc>,
    evaluated: &dyn Fn(CheckId) -> bool,
    findings: &mut Vec<Finding>,
    unknown: &mut Vec<SubjectUnknown>,
) {
    for row in report.users.iter().filter(|r| scope.includes(&r.user)) {
        row_checks(row, policy, now, evaluated, findings);
    }
    let Some(auth) = auth else { return };
    let in_report: HashSet<&str> = report.users.iter().map(|r| r.user.as_str()).collect();
    let credential_checks: Vec<CheckId> = CheckId::ALL
        .into_iter()
        .filter(|c| {
            let m = c.meta();
            m.scope == Scope::User && m.reads.contains(&DataSource::CredentialReport) && evaluated(*c)
        })
        .collect();
    for user in auth.users.values().filter(|u| scope.includes(&u.name)) {
        if in_report.contains(user.name.as_str()) {
            continue;
        }
        for check in &credential_checks {
            unknown.push(SubjectUnknown {
                check: *check,
                user: Some(user.name.clone()),
                resource: user.arn.clone(),
                reason: format!(
                    "{} is not in the credential report generated at {} (created since?)",
                    user.name,
                    report.generated_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                ),
            });
        }
    }
}

fn older_than(t: DateTime<Utc>, now: DateTime<Utc>, days: u32) -> bool {
    now - t > Duration::days(i64::from(days))
}

fn days_between(earlier: DateTime<Utc>, now: DateTime<Utc>) -> i64 {
    (now - earlier).num_days()
}

fn row_checks(
    row: &CredentialRow,
    policy: &AuditPolicy,
    now: DateTime<Utc>,
    evaluated: &dyn Fn(CheckId) -> bool,
    out: &mut Vec<Finding>,
) {
    let user = row.user.as_str();
    let active_keys: Vec<&KeySlot> = row.active_keys().collect();

    if evaluated(CheckId::ConsoleUserWithoutMfa) && row.has_password() && !row.mfa_active {
        out.push(user_finding(
            CheckId::ConsoleUserWithoutMfa,
            user,
            &row.arn,
            None,
            format!("{user} can sign in to the console with a password and has no MFA device"),
        ));
    }
    if evaluated(CheckId::UserWithoutMfa)
        && row.password_enabled == Some(false)
        && !row.mfa_active
        && !active_keys.is_empty()
    {
        out.push(user_finding(
            CheckId::UserWithoutMfa,
            user,
            &row.arn,
            None,
            format!("{user} uses access keys and has no MFA device"),
        ));
    }

    for key in &row.keys {
        let Some(created) = key.last_rotated.at() else { continue };
        if key.active {
            if evaluated(CheckId::AccessKeyNotRotated) && older_than(created, now, policy.max_key_age_days) {
                out.push(user_finding(
                    CheckId::AccessKeyNotRotated,
                    user,
                    &row.arn,
                    Some(key),
                    format!(
                        "access key {} of {user} is {} days old (limit {})",
                        key.slot,
                        days_between(created, now),
                        policy.max_key_age_days
                    ),
                ));
            }
            if evaluated(CheckId::AccessKeyUnused) {
                let message = match key.last_used {
                    ReportTime::At(used) if older_than(used, now, policy.unused_days) => Some(format!(
                        "access key {} of {user} was last used {} days ago (limit {})",
                        key.slot,
                        days_between(used, now),
                        policy.unused_days
                    )),
                    ReportTime::At(_) => None,
                    _ if older_than(created, now, policy.unused_days) => Some(format!(
                        "access key {} of {user} was never used and is {} days old (limit {})",
                        key.slot,
                        days_between(created, now),
                        policy.unused_days
                    )),
                    _ => None,
                };
                if let Some(message) = message {
                    out.push(user_finding(CheckId::AccessKeyUnused, user, &row.arn, Some(key), message));
                }
            }
            if evaluated(CheckId::AccessKeyCreatedAtSetup)
                && row.has_password()
                && key.last_used.at().is_none()
            {
                if let Some(user_created) = row.user_creation_time.at() {
                    let window = Duration::minutes(i64::from(policy.setup_window_minutes));
                    if (created - user_created).abs() <= window {
                        out.push(user_finding(
                            CheckId::AccessKeyCreatedAtSetup,
                            user,
                            &row.arn,
                            Some(key),
                            format!(
                                "access key {} of console user {user} was created with the user and never used",
                                key.slot
                            ),
                        ));
                    }
                }
            }
        } else if evaluated(CheckId::InactiveAccessKeyLingering) {
            let quiet_since = key.last_used.at().map_or(created, |used| used.max(created));
            if older_than(quiet_since, now, policy.inactive_key_max_days) {
                out.push(user_finding(
                    CheckId::InactiveAccessKeyLingering,
                    user,
                    &row.arn,
                    Some(key),
                    format!(
                        "access key {} of {user} is inactive and unused for {} days (limit {})",
                        key.slot,
                        days_between(quiet_since, now),
                        policy.inactive_key_max_days
                    ),
                ));
            }
        }
    }

    if evaluated(CheckId::TwoActiveAccessKeys) && active_keys.len() == 2 {
        out.push(user_finding(
            CheckId::TwoActiveAccessKeys,
            user,
            &row.arn,
            None,
            format!("{user} has two active access keys"),
        ));
    }

    if evaluated(CheckId::ConsolePasswordUnused) && row.has_password() {
        let message = match row.password_last_used {
            ReportTime::At(used) if older_than(used, now, policy.unused_days) => Some(format!(
                "the console password of {user} was last used {} days ago (limit {})",
                days_between(used, now),
                policy.unused_days
            )),
            ReportTime::At(_) => None,
            _ => {
                let since = row.password_last_changed.at().or_else(|| row.user_creation_time.at());
                since.filter(|t| older_than(*t, now, policy.unused_days)).map(|t| {
                    format!(
                        "the console password of {user} was never used and is {} days old (limit {})",
                        days_between(t, now),
                        policy.unused_days
                    )
                })
            }
        };
        if let Some(message) = message {
            out.push(user_finding(CheckId::ConsolePasswordUnused, user, &row.arn, None, message));
        }
    }
}
