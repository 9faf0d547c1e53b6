//! The Organizations settings: which member accounts a run audits, and how it gets in.
//!
//! The selection is data here and judged in [`crate::organization::select`]; the parsers
//! below refuse a malformed id or tag at cold start, because a typo in `EXCLUDE_ACCOUNTS`
//! would otherwise silently audit (and, in enforce mode, rotate keys in) the account an
//! operator meant to keep out.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::error::{cut, ConfigError};
use super::setting::Setting;
use crate::text::is_iam_name;

/// `key=value` pairs of account tags; a key may be listed with several values.
pub type AccountTags = BTreeSet<(String, String)>;

/// Which of the organization's active accounts a run audits.
///
/// With no inclusion set, every account is selected; with some, an account matching any of
/// them is (an operator listing two OUs and one account means all three). An exclusion wins
/// over every inclusion: keeping an account out is the safer reading of a conflict.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AccountSelection {
    /// `INCLUDE_ACCOUNTS`.
    pub include_accounts: BTreeSet<String>,
    /// `EXCLUDE_ACCOUNTS`.
    pub exclude_accounts: BTreeSet<String>,
    /// `INCLUDE_OUS`: an account anywhere below one of these is included.
    pub include_ous: BTreeSet<String>,
    /// `EXCLUDE_OUS`: an account anywhere below one of these is excluded.
    pub exclude_ous: BTreeSet<String>,
    /// `INCLUDE_ACCOUNT_TAGS`.
    pub include_tags: AccountTags,
    /// `EXCLUDE_ACCOUNT_TAGS`.
    pub exclude_tags: AccountTags,
}

impl AccountSelection {
    /// Whether judging the selection needs each account's OU path: listing the OU tree costs
    /// calls that grow with the organization, so only a selection by OU pays for them.
    pub fn needs_ous(&self) -> bool {
        !self.include_ous.is_empty() || !self.exclude_ous.is_empty()
    }

    /// Whether judging the selection needs each account's tags (one call per account).
    pub fn needs_tags(&self) -> bool {
        !self.include_tags.is_empty() || !self.exclude_tags.is_empty()
    }

    /// Whether any inclusion is set; without one, every account is in.
    pub fn has_inclusions(&self) -> bool {
        !self.include_accounts.is_empty() || !self.include_ous.is_empty() || !self.include_tags.is_empty()
    }

    /// The tags as a map for lookups, key to the values that match.
    pub fn tag_map(tags: &AccountTags) -> BTreeMap<&str, BTreeSet<&str>> {
        let mut map: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for (k, v) in tags {
            map.entry(k.as_str()).or_default().insert(v.as_str());
        }
        map
    }
}

/// How a run reaches its member accounts; `Some` in [`super::Config::organization`] only
/// with `ORGANIZATION=true`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrganizationConfig {
    /// The read-only role assumed in each member account.
    pub audit_role: String,
    /// The role assumed for rotation writes, only in enforce mode: an audit never holds
    /// credentials that could change a key.
    pub rotation_role: String,
    /// Sent as `ExternalId` with every AssumeRole when set.
    #[serde(skip)]
    pub external_id: Option<String>,
    /// Accounts one invocation audits at once.
    pub account_concurrency: usize,
    /// Which accounts are audited.
    pub selection: AccountSelection,
}

/// A 12-digit AWS account id.
pub fn is_account_id(v: &str) -> bool {
    v.len() == 12 && v.bytes().all(|b| b.is_ascii_digit())
}

/// An OU id (`ou-` + root part + `-` + 8 to 32 characters) or a root id (`r-` + 4 to 32),
/// as Organizations writes them.
pub fn is_ou_id(v: &str) -> bool {
    let lower_alnum =
        |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if let Some(rest) = v.strip_prefix("ou-") {
        let mut parts = rest.splitn(2, '-');
        let (Some(root), Some(ou)) = (parts.next(), parts.next()) else { return false };
        (4..=32).contains(&root.len()) && (8..=32).contains(&ou.len()) && lower_alnum(root) && lower_alnum(ou)
    } else if let Some(root) = v.strip_prefix("r-") {
        (4..=32).contains(&root.len()) && lower_alnum(root)
    } else {
        false
    }
}

fn list(raw: &str) -> impl Iterator<Item = &str> {
    raw.split(',').map(str::trim).filter(|s| !s.is_empty())
}

pub(super) fn account_ids(
    s: &Setting<BTreeSet<String>>,
    raw: String,
    _: &(),
) -> Result<BTreeSet<String>, ConfigError> {
    let mut ids = BTreeSet::new();
    for id in list(&raw) {
        if !is_account_id(id) {
            let reason = format!("`{}` is not a 12-digit AWS account id", cut(id));
            return Err(s.reject(raw.clone(), reason));
        }
        ids.insert(id.to_string());
    }
    Ok(ids)
}

pub(super) fn ou_ids(
    s: &Setting<BTreeSet<String>>,
    raw: String,
    _: &(),
) -> Result<BTreeSet<String>, ConfigError> {
    let mut ids = BTreeSet::new();
    for id in list(&raw) {
        if !is_ou_id(id) {
            let reason = format!(
                "`{}` is not an organizational unit id (ou-xxxx-xxxxxxxx) or root id (r-xxxx)",
                cut(id)
            );
            return Err(s.reject(raw.clone(), reason));
        }
        ids.insert(id.to_string());
    }
    Ok(ids)
}

pub(super) fn account_tags(
    s: &Setting<AccountTags>,
    raw: String,
    _: &(),
) -> Result<AccountTags, ConfigError> {
    let mut tags = AccountTags::new();
    for pair in list(&raw) {
        let Some((k, v)) = pair.split_once('=') else {
            let reason = format!("`{}` is not `key=value`", cut(pair));
            return Err(s.reject(raw.clone(), reason));
        };
        let (k, v) = (k.trim(), v.trim());
        // Organizations allows 1-128 characters for a key and 0-256 for a value.
        if k.is_empty() || k.chars().count() > 128 || v.chars().count() > 256 {
            let reason = format!("`{}`: a tag key is 1-128 characters and a value at most 256", cut(pair));
            return Err(s.reject(raw.clone(), reason));
        }
        tags.insert((k.to_string(), v.to_string()));
    }
    Ok(tags)
}

pub(super) fn role_name(
    s: &Setting<Cow<'static, str>>,
    raw: String,
    _: &(),
) -> Result<Cow<'static, str>, ConfigError> {
    // A role name, not an ARN: the account part of the ARN is each member's own.
    if raw.len() <= 64 && is_iam_name(&raw) {
        Ok(Cow::Owned(raw))
    } else {
        Err(s.reject(raw, "expected an IAM role name (1-64 of letters, digits and +=,.@_-), not an ARN"))
    }
}

pub(super) fn external_id(
    s: &Setting<Option<String>>,
    raw: String,
    _: &(),
) -> Result<Option<String>, ConfigError> {
    // STS: 2-1224 characters of letters, digits and +=,.@:/-
    let allowed = |c: char| c.is_ascii_alphanumeric() || "+=,.@:/-_".contains(c);
    if (2..=1224).contains(&raw.len()) && raw.chars().all(allowed) {
        Ok(Some(raw))
    } else {
        // The value is not echoed: an ExternalId is a shared secret of sorts.
        Err(ConfigError {
            variable: s.name,
            value: "(hidden)".into(),
            reason: "expected 2-1224 characters of letters, digits and +=,.@:/-_".into(),
        })
    }
}
