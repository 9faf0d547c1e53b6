//! Many accounts: which member accounts a run audits, and the consolidated report of them.
//!
//! Each member account is audited by the same stages as a single account (the Lambda's
//! per-account pipeline); this module only decides which accounts those are
//! ([`select`]) and folds their reports into one ([`OrgReport`]), with an account that could
//! not be audited kept as such, never dropped.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::{is_account_id, AccountSelection};

mod report;

pub use report::{AccountEntry, AccountResult, AccountStatus, OrgReport, OrgRunInfo, OrgSummary};

/// An account as Organizations lists it, with what the selection may ask of it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberAccount {
    /// The 12-digit id.
    pub id: String,
    /// The account's name in the organization.
    pub name: String,
    /// Whether Organizations says the account is active; suspended and closing accounts
    /// have no IAM to audit.
    pub active: bool,
    /// Every OU (and the root) above the account, nearest first; only read when the
    /// selection is by OU ([`AccountSelection::needs_ous`]).
    pub ous: Vec<String>,
    /// The account's tags; only read when the selection is by tag.
    pub tags: BTreeMap<String, String>,
}

/// An account as events, the listing and reports name it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountRef {
    /// The 12-digit id.
    pub id: String,
    /// The account's name in the organization.
    pub name: String,
}

impl AccountRef {
    /// Refuses an id that is not 12 digits, or a name no account could have: an event names
    /// accounts, and a malformed one must not reach STS as part of a role ARN.
    pub fn validate(&self) -> Result<(), String> {
        if !is_account_id(&self.id) {
            return Err(format!("`{}` is not a 12-digit AWS account id", self.id));
        }
        if self.name.chars().count() > 128 || self.name.chars().any(char::is_control) {
            return Err(format!(
                "account {}: the name is longer than 128 characters or has control characters",
                self.id
            ));
        }
        Ok(())
    }
}

impl From<&MemberAccount> for AccountRef {
    fn from(a: &MemberAccount) -> Self {
        AccountRef { id: a.id.clone(), name: a.name.clone() }
    }
}

/// The accounts of one organization run, as listed at its start: the fan-out's items, and
/// what the aggregation checks the stored results against, so an account whose item never
/// ran is reported as not audited instead of missing from the total.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listing {
    /// The run the listing belongs to.
    pub run_id: String,
    /// When the run started.
    pub generated_at: DateTime<Utc>,
    /// The selected active accounts, by id.
    pub accounts: Vec<AccountRef>,
    /// Active accounts the selection left out.
    pub excluded: usize,
    /// Accounts that are not active (suspended, closing), never audited.
    pub inactive: usize,
    /// The calls the listing made, keyed `service:Operation`.
    pub api_calls: BTreeMap<String, u64>,
}

/// The selected accounts, by id, and how many active accounts were left out and how many
/// were inactive.
pub fn select(selection: &AccountSelection, accounts: &[MemberAccount]) -> (Vec<AccountRef>, usize, usize) {
    let include_tags = AccountSelection::tag_map(&selection.include_tags);
    let exclude_tags = AccountSelection::tag_map(&selection.exclude_tags);
    let tagged = |a: &MemberAccount, tags: &BTreeMap<&str, BTreeSet<&str>>| {
        a.tags.iter().any(|(k, v)| tags.get(k.as_str()).is_some_and(|vs| vs.contains(v.as_str())))
    };
    let under = |a: &MemberAccount, ous: &BTreeSet<String>| a.ous.iter().any(|ou| ous.contains(ou));
    let mut selected = Vec::new();
    let (mut excluded, mut inactive) = (0, 0);
    for a in accounts {
        if !a.active {
            inactive += 1;
            continue;
        }
        let included = !selection.has_inclusions()
            || selection.include_accounts.contains(&a.id)
            || under(a, &selection.include_ous)
            || tagged(a, &include_tags);
        let kept_out = selection.exclude_accounts.contains(&a.id)
            || under(a, &selection.exclude_ous)
            || tagged(a, &exclude_tags);
        if included && !kept_out {
            selected.push(AccountRef::from(a));
        } else {
            excluded += 1;
        }
    }
    selected.sort();
    selected.dedup_by(|a, b| a.id == b.id);
    (selected, excluded, inactive)
}

#[cfg(test)]
mod tests;
