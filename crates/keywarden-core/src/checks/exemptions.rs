//! Exemptions: the `keywarden:exempt` user tag and the exempt groups. One parser serves the
//! audit (which marks findings exempted) and the rotation (which must not touch an exempt
//! user), so the two can never disagree about who is exempt.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::catalogue::CheckId;
use crate::config::AuditPolicy;
use crate::model::Inventory;

/// The user tag that exempts a user from checks: a check id, several separated by spaces
/// or `/`, or `all`. (IAM tag values allow no comma.)
pub const EXEMPT_TAG: &str = "keywarden:exempt";

/// Why a user is exempt from some checks.
#[derive(Debug, Clone, Default)]
pub(super) struct Exemption {
    all: Option<String>,
    checks: BTreeMap<CheckId, String>,
}

impl Exemption {
    /// Reads one user's exemptions from their tags and groups. The words of the tag that
    /// name no check are returned, for the audit to warn about; they exempt nothing.
    fn of<'a>(
        tags: &'a BTreeMap<String, String>,
        groups: &BTreeSet<String>,
        policy: &AuditPolicy,
    ) -> (Self, Vec<&'a str>) {
        let mut ex = Exemption::default();
        let mut unknown = Vec::new();
        if let Some(group) = groups.iter().find(|g| policy.exempt_groups.contains(*g)) {
            ex.all = Some(format!("member of exempt group {group}"));
        }
        if let Some(value) = tags.get(EXEMPT_TAG) {
            for word in value.split(|c: char| c.is_whitespace() || c == '/').filter(|w| !w.is_empty()) {
                let reason = format!("tag {EXEMPT_TAG}={value}");
                if word == "all" {
                    ex.all.get_or_insert(reason);
                } else if let Ok(check) = word.parse::<CheckId>() {
                    ex.checks.insert(check, reason);
                } else {
                    unknown.push(word);
                }
            }
        }
        (ex, unknown)
    }

    /// Why `check` does not count against this user, if it does not.
    pub(super) fn reason(&self, check: CheckId) -> Option<&str> {
        self.all.as_deref().or_else(|| self.checks.get(&check).map(String::as_str))
    }

    fn is_empty(&self) -> bool {
        self.all.is_none() && self.checks.is_empty()
    }
}

/// Why a user must not be rotated, if they are exempt: an exempt group, or the
/// `keywarden:exempt` tag (live tags preferred) naming `all` or `access_key_not_rotated`.
pub fn rotation_exemption(
    tags: &BTreeMap<String, String>,
    groups: &BTreeSet<String>,
    policy: &AuditPolicy,
) -> Option<String> {
    let (ex, _) = Exemption::of(tags, groups, policy);
    ex.reason(CheckId::AccessKeyNotRotated).map(str::to_string)
}

/// Every exempt user of the inventory, by name. When the users could not be read, nobody
/// is exempt and a warning says so: a finding is then reported open, never silently muted.
pub(super) fn of_inventory(
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
        let (ex, unknown) = Exemption::of(&user.tags, &user.groups, policy);
        for word in unknown {
            warnings
                .push(format!("user {}: tag {EXEMPT_TAG} names unknown check `{word}`; ignored", user.name));
        }
        if !ex.is_empty() {
            out.insert(user.name.clone(), ex);
        }
    }
    out
}
