//! The checks: `Inventory × AuditPolicy × now → findings`, with no I/O and no clock of its own.
//!
//! Every check declares the data it reads ([`CheckMeta::reads`]); when any of it failed to
//! load, the check is `unknown` with the reason and emits nothing. That is the line between
//! an auditor and a rubber stamp.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::catalogue::{CheckId, CheckMeta, DataSource, Scope};
use crate::config::AuditPolicy;
use crate::credential_report::{CredentialRow, KeySlot, ReportTime};
use crate::desired::Drift;
use crate::model::{Inventory, LiveDetails, LiveRequest, ReadFailure};
use crate::report::{Finding, SubjectUnknown};
use crate::rotation::{RotationState, ROTATION_TAG};

/// The user tag that exempts a user from checks: a check id, several separated by spaces
/// or `/`, or `all`. (IAM tag values allow no comma.)
pub const EXEMPT_TAG: &str = "keywarden:exempt";

/// Which users a run looks at.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum UserScope {
    /// Every user, and the account-level checks.
    #[default]
    All,
    /// Only these users; account-level checks are skipped.
    Only(BTreeSet<String>),
}

impl UserScope {
    pub(crate) fn includes(&self, user: &str) -> bool {
        match self {
            UserScope::All => true,
            UserScope::Only(users) => users.contains(user),
        }
    }
}

/// What became of a check in this run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "status", content = "reason")]
pub enum CheckStatus {
    /// The check ran on complete data.
    Evaluated,
    /// The check could not run: some data it needs failed to load.
    Unknown(String),
    /// The check was not asked for (an account-level check in a run scoped to some users).
    Skipped(String),
}

#[derive(Debug, Clone, Default)]
pub struct Evaluation {
    pub findings: Vec<Finding>,
    pub statuses: BTreeMap<CheckId, CheckStatus>,
    pub users_scanned: usize,
    /// Things a human should know that are not read errors (e.g. an exemption tag that names
    /// no known check).
    pub warnings: Vec<String>,
    /// Subjects a check that ran could not judge (a user newer than the credential report):
    /// the check is `unknown`, not `pass`, and their earlier findings are not "resolved".
    pub unknown_subjects: Vec<SubjectUnknown>,
    /// Users inside keywarden's own grace period, with the record's (old, new) key ids.
    /// Their `two_active_access_keys` finding stands until a live read shows that their two
    /// active keys are exactly these two ([`apply_live`]).
    pub grace_pairs: BTreeMap<String, (String, String)>,
    /// Whether the policy asked for live confirmation of every flagged user
    /// ([`AuditPolicy::live_confirmation`]).
    pub live_confirmation: bool,
}

impl Evaluation {
    /// The live reads this evaluation needs. By default only the keys of users whose two
    /// active keys may be keywarden's own rotation (a user mid-rotation, whose next step needs
    /// the read anyway): the audit of any account is otherwise a handful of bulk reads. With
    /// live confirmation, also key ids for key findings and login profiles for unused
    /// passwords.
    pub fn live_request(&self) -> LiveRequest {
        let mut req =
            if self.live_confirmation { live_request(&self.findings) } else { LiveRequest::default() };
        for f in self.findings.iter().filter(|f| f.check == CheckId::TwoActiveAccessKeys) {
            if let Some(user) = f.user.as_ref().filter(|u| self.grace_pairs.contains_key(*u)) {
                req.access_keys_for.insert(user.clone());
            }
        }
        req
    }
}

/// Why a user is exempt from some checks.
#[derive(Debug, Clone, Default)]
struct Exemption {
    all: Option<String>,
    checks: BTreeMap<CheckId, String>,
}

impl Exemption {
    fn reason(&self, check: CheckId) -> Option<&str> {
        self.all.as_deref().or_else(|| self.checks.get(&check).map(String::as_str))
    }
}

fn source_failure(inv: &Inventory, source: DataSource) -> Option<&ReadFailure> {
    match source {
        DataSource::CredentialReport => inv.credential_report.as_ref().err(),
        DataSource::Authorization => inv.authorization.as_ref().err(),
        DataSource::VirtualMfaDevices => inv.virtual_mfa_devices.as_ref().err(),
        DataSource::AccountSummary => inv.account_summary.as_ref().err(),
        DataSource::PasswordPolicy => inv.password_policy.as_ref().err(),
        DataSource::LiveKeys => None,
    }
}

fn older_than(t: DateTime<Utc>, now: DateTime<Utc>, days: u32) -> bool {
    now - t > Duration::days(i64::from(days))
}

fn days_between(earlier: DateTime<Utc>, now: DateTime<Utc>) -> i64 {
    (now - earlier).num_days()
}

/// Runs every check of the catalogue over the inventory.
pub fn evaluate(inv: &Inventory, policy: &AuditPolicy, scope: &UserScope, now: DateTime<Utc>) -> Evaluation {
    let mut ev = Evaluation { live_confirmation: policy.live_confirmation, ..Evaluation::default() };
    let exemptions = exemptions(inv, policy, &mut ev.warnings);

    for check in CheckId::ALL {
        let meta = check.meta();
        if meta.reads.contains(&DataSource::LiveKeys) {
            // Judged by the rotation step, which marks them evaluated when it runs.
            ev.statuses.insert(check, CheckStatus::Skipped("rotation was not planned in this run".into()));
            continue;
        }
        if matches!(check, CheckId::GroupMembershipMissing | CheckId::GroupMembershipUnexpected)
            && policy.desired.is_none()
        {
            ev.statuses.insert(check, CheckStatus::Skipped("no DESIRED_STATE is configured".into()));
            continue;
        }
        if meta.scope == Scope::Account && *scope != UserScope::All {
            ev.statuses.insert(check, CheckStatus::Skipped("run is scoped to named users".into()));
            continue;
        }
        if let Some(failure) = meta.reads.iter().find_map(|s| source_failure(inv, *s)) {
            ev.statuses.insert(check, CheckStatus::Unknown(failure.to_string()));
            continue;
        }
        ev.statuses.insert(check, CheckStatus::Evaluated);
    }
    let evaluated = |c: CheckId| ev.statuses.get(&c) == Some(&CheckStatus::Evaluated);
    let mut findings = Vec::new();

    // Account-level checks.
    if let Ok(summary) = &inv.account_summary {
        if evaluated(CheckId::RootMfaDisabled) && !summary.root_mfa_enabled {
            findings.push(account_finding(
                CheckId::RootMfaDisabled,
                "account",
                "the root user has no MFA device".into(),
            ));
        }
        if evaluated(CheckId::RootAccessKeyPresent) && summary.root_access_keys_present {
            findings.push(account_finding(
                CheckId::RootAccessKeyPresent,
                "account",
                "the root user has access keys".into(),
            ));
        }
    }
    if let Ok(devices) = &inv.virtual_mfa_devices {
        if evaluated(CheckId::VirtualMfaUnassigned) {
            for d in devices.iter().filter(|d| d.user.is_none()) {
                findings.push(account_finding(
                    CheckId::VirtualMfaUnassigned,
                    &d.serial_number,
                    format!("virtual MFA device {} is not assigned to any user", d.serial_number),
                ));
            }
        }
    }
    if let Ok(pp) = &inv.password_policy {
        if evaluated(CheckId::PasswordPolicyWeak) {
            if let Some(message) = password_policy_weakness(pp.as_ref(), policy) {
                findings.push(account_finding(CheckId::PasswordPolicyWeak, "account", message));
            }
        }
    }

    // User-level checks on the credential report.
    let mut scanned: HashSet<&str> = HashSet::new();
    if let Ok(report) = &inv.credential_report {
        for row in report.users.iter().filter(|r| scope.includes(&r.user)) {
            scanned.insert(&row.user);
            if let Some(pair) = grace_pair(inv, &row.user, policy, now) {
                ev.grace_pairs.insert(row.user.clone(), pair);
            }
            credential_checks(row, policy, now, &evaluated, &mut findings);
        }
        // A user created after the report was generated has no row: their credentials were
        // not judged, and saying nothing would read as a pass.
        if let Ok(auth) = &inv.authorization {
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
                    ev.unknown_subjects.push(SubjectUnknown {
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
    }
    // User-level checks on group membership and attachments.
    if let Ok(auth) = &inv.authorization {
        for user in auth.users.values().filter(|u| scope.includes(&u.name)) {
            scanned.insert(&user.name);
            if evaluated(CheckId::UserHasDirectPolicies)
                && (!user.inline_policies.is_empty() || !user.attached_policies.is_empty())
            {
                let mut parts = Vec::new();
                if !user.inline_policies.is_empty() {
                    parts.push(format!("inline {}", user.inline_policies.join(", ")));
                }
                if !user.attached_policies.is_empty() {
                    parts.push(format!("attached {}", user.attached_policies.join(", ")));
                }
                findings.push(user_finding(
                    CheckId::UserHasDirectPolicies,
                    &user.name,
                    &user.arn,
                    None,
                    format!("{} has policies of its own: {}", user.name, parts.join("; ")),
                ));
            }
            if let Some(desired) = &policy.desired {
                for drift in desired.drift(&user.name, &user.groups) {
                    let (check, group, message) = match drift {
                        Drift::Missing { group, .. } => (
                            CheckId::GroupMembershipMissing,
                            group.clone(),
                            format!("{} is not in {group}, which every user must be in", user.name),
                        ),
                        Drift::Unexpected { group, why, .. } => (
                            CheckId::GroupMembershipUnexpected,
                            group.clone(),
                            format!("{} is in {group}: {why}", user.name),
                        ),
                    };
                    if evaluated(check) {
                        // One finding per user and group, so the id names the group.
                        let resource = format!("{} group {group}", user.arn);
                        findings.push(user_finding(check, &user.name, &resource, None, message));
                    }
                }
            }
            if evaluated(CheckId::UserInNoGroup) && user.groups.is_empty() {
                findings.push(user_finding(
                    CheckId::UserInNoGroup,
                    &user.name,
                    &user.arn,
                    None,
                    format!("{} belongs to no group", user.name),
                ));
            }
        }
    }
    // The self-service MFA control: the enforcing group's policy and each user's policies.
    let mut control_unknown = BTreeMap::new();
    if let Ok(auth) = &inv.authorization {
        let outcome = crate::control::evaluate(auth, policy, scope, &evaluated);
        findings.extend(outcome.findings);
        control_unknown = outcome.unknown;
    }
    ev.users_scanned = scanned.len();
    for (check, reasons) in control_unknown {
        // Part of the account could not be judged: the check is not a pass, even where it
        // produced findings for the rest.
        ev.statuses.insert(check, CheckStatus::Unknown(summarise_unknown(&reasons)));
    }

    for f in &mut findings {
        if let Some(user) = &f.user {
            if let Some(reason) = exemptions.get(user).and_then(|e| e.reason(f.check)) {
                f.exempted = true;
                f.exemption = Some(reason.to_string());
            }
        }
    }
    sort_findings(&mut findings);
    ev.findings = findings;
    ev
}

/// One line for a check that could not judge some entities: the count and the first few.
pub(crate) fn summarise_unknown(reasons: &[String]) -> String {
    const SHOWN: usize = 3;
    match reasons {
        [one] => one.clone(),
        _ => {
            let mut s = format!(
                "{} could not be judged: {}",
                reasons.len(),
                reasons[..reasons.len().min(SHOWN)].join("; ")
            );
            if reasons.len() > SHOWN {
                s.push_str(&format!("; and {} more", reasons.len() - SHOWN));
            }
            s
        }
    }
}

/// The (old, new) key ids of keywarden's own rotation of `user`, while its grace period
/// lasts: the one time keywarden means both keys to be active. A hold, a human hold or a
/// record past its grace period is not muted: two active keys are then a fact worth saying.
fn grace_pair(
    inv: &Inventory,
    user: &str,
    policy: &AuditPolicy,
    now: DateTime<Utc>,
) -> Option<(String, String)> {
    let auth = inv.authorization.as_ref().ok()?;
    let state = auth.users.get(user)?.tags.get(ROTATION_TAG).and_then(|v| RotationState::from_tag(v).ok())?;
    match state {
        RotationState::Grace { old, new, at }
            if now >= at && now < at + Duration::days(i64::from(policy.rotation_grace_days)) =>
        {
            Some((old, new))
        }
        _ => None,
    }
}

/// Why a user must not be rotated, if they are exempt: the `keywarden:exempt` tag (live
/// tags preferred) naming `all` or `access_key_not_rotated`, or an exempt group.
pub fn rotation_exemption(
    tags: &std::collections::BTreeMap<String, String>,
    groups: &BTreeSet<String>,
    policy: &AuditPolicy,
) -> Option<String> {
    if let Some(group) = groups.iter().find(|g| policy.exempt_groups.contains(*g)) {
        return Some(format!("member of exempt group {group}"));
    }
    let value = tags.get(EXEMPT_TAG)?;
    value
        .split(|c: char| c.is_whitespace() || c == '/')
        .any(|w| w == "all" || w == CheckId::AccessKeyNotRotated.as_str())
        .then(|| format!("tag {EXEMPT_TAG}={value}"))
}

/// Worst first, then by check, user and key slot, so reports diff cleanly between runs.
pub fn sort_findings(findings: &mut [Finding]) {
    let order = |a: &Finding, b: &Finding| {
        b.severity
            .cmp(&a.severity)
            .then(a.check.cmp(&b.check))
            .then(a.user.cmp(&b.user))
            .then(a.key_slot.cmp(&b.key_slot))
            .then(a.resource.cmp(&b.resource))
    };
    // The report and the Lambda sort again what the evaluation sorted: one pass says so.
    if findings.windows(2).all(|w| order(&w[0], &w[1]).is_le()) {
        return;
    }
    // Users are ranked once (each distinct name compared with the others, not every pair
    // of findings), and positions are sorted, not findings: a finding is a dozen words,
    // and the sort's comparisons are then of small integers. Stable like `sort_by`.
    let mut names: Vec<&str> =
        findings.iter().filter_map(|f| f.user.as_deref()).collect::<HashSet<&str>>().into_iter().collect();
    names.sort_unstable();
    let rank: HashMap<&str, usize> = names.into_iter().enumerate().map(|(i, n)| (n, i)).collect();
    let keys: Vec<_> = findings
        .iter()
        .map(|f| {
            (
                std::cmp::Reverse(f.severity),
                f.check,
                f.user.as_deref().and_then(|u| rank.get(u).copied()),
                f.key_slot,
            )
        })
        .collect();
    let mut by: Vec<usize> = (0..findings.len()).collect();
    by.sort_by(|&a, &b| keys[a].cmp(&keys[b]).then_with(|| findings[a].resource.cmp(&findings[b].resource)));
    permute(findings, &mut by);
}

/// Reorders `items` so that position `i` holds what was at `from[i]`, following each
/// cycle of the permutation once (`from` is consumed: it marks the positions done).
fn permute<T>(items: &mut [T], from: &mut [usize]) {
    for start in 0..items.len() {
        let mut at = start;
        while from[at] != usize::MAX {
            let next = from[at];
            from[at] = usize::MAX;
            if next == start {
                break;
            }
            items.swap(at, next);
            at = next;
        }
    }
}

fn credential_checks(
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

fn password_policy_weakness(
    pp: Option<&crate::model::PasswordPolicy>,
    policy: &AuditPolicy,
) -> Option<String> {
    let Some(pp) = pp else {
        return Some("the account has no password policy".into());
    };
    let want = &policy.password;
    let mut weak = Vec::new();
    if pp.minimum_length < want.min_length {
        weak.push(format!("minimum length {} < {}", pp.minimum_length, want.min_length));
    }
    match pp.reuse_prevention {
        Some(n) if n >= want.reuse_prevention => {}
        Some(n) => weak.push(format!("reuse prevention {n} < {}", want.reuse_prevention)),
        None => weak.push("password reuse is not prevented".into()),
    }
    if want.require_all_classes {
        for (required, what) in [
            (pp.require_uppercase, "uppercase"),
            (pp.require_lowercase, "lowercase"),
            (pp.require_numbers, "numbers"),
            (pp.require_symbols, "symbols"),
        ] {
            if !required {
                weak.push(format!("{what} not required"));
            }
        }
    }
    (!weak.is_empty()).then(|| format!("password policy is weak: {}", weak.join(", ")))
}

pub(crate) fn account_finding(check: CheckId, resource: &str, message: String) -> Finding {
    let meta: CheckMeta = check.meta();
    Finding {
        check,
        severity: meta.severity,
        user: None,
        resource: resource.to_string(),
        access_key_id: None,
        key_slot: None,
        key_created: None,
        message,
        exempted: false,
        exemption: None,
    }
}

pub(crate) fn user_finding(
    check: CheckId,
    user: &str,
    arn: &str,
    key: Option<&KeySlot>,
    message: String,
) -> Finding {
    Finding {
        check,
        severity: check.meta().severity,
        user: Some(user.to_string()),
        resource: arn.to_string(),
        access_key_id: None,
        key_slot: key.map(|k| k.slot),
        key_created: key.and_then(|k| k.last_rotated.at()),
        message,
        exempted: false,
        exemption: None,
    }
}

fn exemptions(
    inv: &Inventory,
    policy: &AuditPolicy,
    warnings: &mut Vec<String>,
) -> HashMap<String, Exemption> {
    // Looked up once per finding: hashed, not searched.
    let mut out: HashMap<String, Exemption> = HashMap::new();
    let auth = match &inv.authorization {
        Ok(auth) => auth,
        Err(failure) => {
            warnings.push(format!("exemptions could not be read ({failure}); no finding is marked exempted"));
            return out;
        }
    };
    for user in auth.users.values() {
        let mut ex = Exemption::default();
        if let Some(group) = user.groups.iter().find(|g| policy.exempt_groups.contains(*g)) {
            ex.all = Some(format!("member of exempt group {group}"));
        }
        if let Some(value) = user.tags.get(EXEMPT_TAG) {
            for word in value.split(|c: char| c.is_whitespace() || c == '/').filter(|w| !w.is_empty()) {
                let reason = format!("tag {EXEMPT_TAG}={value}");
                if word == "all" {
                    ex.all.get_or_insert(reason);
                } else if let Ok(check) = word.parse::<CheckId>() {
                    ex.checks.insert(check, reason);
                } else {
                    warnings.push(format!(
                        "user {}: tag {EXEMPT_TAG} names unknown check `{word}`; ignored",
                        user.name
                    ));
                }
            }
        }
        if ex.all.is_some() || !ex.checks.is_empty() {
            out.insert(user.name.clone(), ex);
        }
    }
    out
}

/// The live reads that would make the findings exact: key ids for key findings and the
/// login profile for unused passwords (the report may be hours old).
pub fn live_request(findings: &[Finding]) -> LiveRequest {
    let mut req = LiveRequest::default();
    for f in findings {
        let Some(user) = &f.user else { continue };
        if f.key_slot.is_some() {
            req.access_keys_for.insert(user.clone());
        }
        if f.check == CheckId::ConsolePasswordUnused {
            req.login_profile_for.insert(user.clone());
        }
    }
    req
}

/// Folds live reads into the evaluation: key ids are attached by matching the report's
/// creation time (the report has none); a finding about a key or password that no longer
/// exists is dropped with a warning; a failed live read keeps the finding as it was.
pub fn apply_live(ev: &mut Evaluation, live: &LiveDetails) {
    let mut warnings = Vec::new();
    let grace_pairs = &ev.grace_pairs;
    ev.findings.retain_mut(|f| {
        let Some(user) = f.user.clone() else { return true };
        if f.check == CheckId::TwoActiveAccessKeys {
            // Muted only when IAM shows the record's two keys and nothing else active.
            if let (Some((old, new)), Some(Ok(keys))) = (grace_pairs.get(&user), live.access_keys.get(&user))
            {
                let active: BTreeSet<&str> =
                    keys.iter().filter(|k| k.active).map(|k| k.access_key_id.as_str()).collect();
                if active == BTreeSet::from([old.as_str(), new.as_str()]) {
                    return false;
                }
            }
        }
        if let (Some(slot), Some(created)) = (f.key_slot, f.key_created) {
            if let Some(Ok(keys)) = live.access_keys.get(&user) {
                let matching: Vec<_> =
                    keys.iter().filter(|k| (k.created - created).num_seconds().abs() < 1).collect();
                match matching.as_slice() {
                    [key] => f.access_key_id = Some(key.access_key_id.clone()),
                    [] => {
                        warnings.push(format!(
                            "{}: access key {slot} of {user} no longer exists; finding dropped",
                            f.check
                        ));
                        return false;
                    }
                    _ => {}
                }
            }
        }
        if f.check == CheckId::ConsolePasswordUnused {
            if let Some(Ok(false)) = live.login_profiles.get(&user) {
                warnings
                    .push(format!("{}: {user} no longer has a console password; finding dropped", f.check));
                return false;
            }
        }
        true
    });
    ev.warnings.extend(warnings);
}
