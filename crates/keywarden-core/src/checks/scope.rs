//! Which users a run looks at: a scheduled run judges the whole account; an on-demand run
//! may name users, and then the account-level checks are skipped rather than passed.

use std::collections::BTreeSet;

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
