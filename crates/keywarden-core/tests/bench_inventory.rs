//! The benchmark's own account, judged with and without what one user's analysis leaves for
//! the next: the MFA analysis memoises what does not depend on the user (a statement's
//! actions, which Denies contain them), so a run over every user must say exactly what a run
//! over each user alone says, where nothing is shared.

#[path = "../benches/fixture/mod.rs"]
mod fixture;

use std::collections::BTreeSet;

use keywarden_core::checks::{evaluate, UserScope};
use keywarden_core::{AuditPolicy, Finding};

/// 300 users: every combination of groups, own policies and exemptions the fixture makes
/// (it cycles through them with periods 2, 4, 6, 10, 20 and 50).
const USERS: usize = 300;

#[test]
fn every_user_judged_alone_gets_the_findings_of_the_whole_run() {
    let account = fixture::Account::new(USERS);
    let inventory = account.inventory();
    let policy = AuditPolicy::default();
    let whole = evaluate(&inventory, &policy, &UserScope::All, account.now);
    let mfa = whole.findings.iter().filter(|f| f.check.as_str() == "user_mfa_not_enforced").count();
    assert!(mfa > 0, "the fixture has users without enforced MFA");
    for name in account.auth.users.keys() {
        let alone =
            evaluate(&inventory, &policy, &UserScope::Only(BTreeSet::from([name.clone()])), account.now);
        let of = |findings: &[Finding]| -> Vec<Finding> {
            findings.iter().filter(|f| f.user.as_deref() == Some(name)).cloned().collect()
        };
        assert_eq!(of(&whole.findings), of(&alone.findings), "findings of {name}");
        let unknown = |ev: &keywarden_core::checks::Evaluation| -> Vec<String> {
            ev.unknown_subjects
                .iter()
                .filter(|u| u.user.as_deref() == Some(name))
                .map(|u| format!("{}: {}", u.check, u.reason))
                .collect()
        };
        assert_eq!(unknown(&whole), unknown(&alone), "unknown subjects of {name}");
    }
}
