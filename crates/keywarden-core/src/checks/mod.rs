//! The checks: `Inventory × AuditPolicy × now → findings`, with no I/O and no clock of its own.
//!
//! Every check declares the data it reads ([`CheckMeta::reads`](crate::catalogue::CheckMeta::reads)); when any of it failed to
//! load, the check is `unknown` with the reason and emits nothing. That is the line between
//! an auditor and a rubber stamp.
//!
//! One file per family ([`account`], [`credentials`], [`groups`], [`control`], the rotation
//! findings in [`rotation`]); [`finding`] is the leaf they all produce into. This module only
//! decides which checks run and hands each family the data it reads.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};

use crate::catalogue::{CheckId, DataSource, Scope};
use crate::config::AuditPolicy;
use crate::model::Inventory;

pub mod account;
pub mod control;
pub mod credentials;
pub mod exemptions;
pub mod finding;
pub mod groups;
pub mod live;
pub mod rotation;
pub mod scope;

pub use exemptions::{rotation_exemption, EXEMPT_TAG};
pub use finding::{sort_findings, CheckStatus, Evaluation, Finding, SubjectUnknown};
pub use live::{apply_live, live_request};
pub use rotation::{RotationCoverage, RotationFinding};
pub use scope::UserScope;

/// Runs every check of the catalogue over the inventory.
pub fn evaluate(inv: &Inventory, policy: &AuditPolicy, scope: &UserScope, now: DateTime<Utc>) -> Evaluation {
    let mut ev = Evaluation { live_confirmation: policy.live_confirmation, ..Evaluation::default() };
    let exemptions = exemptions::of_inventory(inv, policy, &mut ev.warnings);

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
        if let Some(failure) = meta.reads.iter().find_map(|s| inv.failure(s.section()?)) {
            ev.statuses.insert(check, CheckStatus::Unknown(failure.to_string()));
            continue;
        }
        ev.statuses.insert(check, CheckStatus::Evaluated);
    }
    let evaluated = |c: CheckId| ev.statuses.get(&c) == Some(&CheckStatus::Evaluated);
    let mut findings = Vec::new();

    account::check(inv, policy, &evaluated, &mut findings);

    let mut scanned: HashSet<&str> = HashSet::new();
    if let Ok(report) = &inv.credential_report {
        for row in report.users.iter().filter(|r| scope.includes(&r.user)) {
            scanned.insert(&row.user);
            if let Some(pair) = live::grace_pair(inv, &row.user, policy, now) {
                ev.grace_pairs.insert(row.user.clone(), pair);
            }
        }
        let auth = inv.authorization.as_ref().ok();
        credentials::check(
            report,
            auth,
            policy,
            scope,
            now,
            &evaluated,
            &mut findings,
            &mut ev.unknown_subjects,
        );
    }
    let mut control_unknown = BTreeMap::new();
    if let Ok(auth) = &inv.authorization {
        scanned.extend(auth.users.values().filter(|u| scope.includes(&u.name)).map(|u| u.name.as_str()));
        groups::check(auth, policy, scope, &evaluated, &mut findings);
        // The self-service MFA control: the enforcing group's policy and each user's policies.
        let outcome = control::evaluate(auth, policy, scope, &evaluated);
        findings.extend(outcome.findings);
        control_unknown = outcome.unknown;
    }
    ev.users_scanned = scanned.len();
    for (check, reasons) in control_unknown {
        // Part of the account could not be judged: the check is not a pass, even where it
        // produced findings for the rest.
        ev.statuses.insert(check, CheckStatus::Unknown(finding::summarise_unknown(&reasons)));
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
