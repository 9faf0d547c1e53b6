//! `Changes::between` looks unknown subjects up in an index; it must say exactly what the
//! rule says when read literally, one scan of `unknown` per finding, on runs that have
//! findings new, gone and unjudged.

#[path = "../benches/fixture/mod.rs"]
mod fixture;

use std::collections::BTreeSet;

use chrono::Duration;
use keywarden_core::report::{Changes, Report};
use keywarden_core::Finding;

/// [`Changes::between`]'s rule, scanning everything for each finding.
fn literal(previous: &Report, current: &Report) -> Changes {
    let judged = |r: &Report, f: &Finding| {
        let ran = r.summary.checks.get(&f.check).is_some_and(|c| c.status == "pass" || c.status == "fail");
        let unknown = r.unknown.iter().any(|u| {
            u.check == f.check && (u.resource == f.resource || (u.user.is_some() && u.user == f.user))
        });
        ran && !unknown
    };
    let open = |r: &Report| -> BTreeSet<String> {
        r.findings.iter().filter(|f| !f.exempted).map(Finding::id).collect()
    };
    let (before, now) = (open(previous), open(current));
    let mut unverified = BTreeSet::new();
    let mut new = Vec::new();
    for f in current.findings.iter().filter(|f| !f.exempted && !before.contains(&f.id())) {
        if previous.findings_omitted == 0 && judged(previous, f) {
            new.push(f.id());
        } else if previous.findings_omitted == 0 {
            unverified.insert(f.id());
        }
    }
    new.sort();
    new.dedup();
    let mut resolved = Vec::new();
    if current.findings_omitted == 0 {
        for f in previous.findings.iter().filter(|f| !f.exempted && !now.contains(&f.id())) {
            if judged(current, f) {
                resolved.push(f.clone());
            } else {
                unverified.insert(f.id());
            }
        }
    }
    Changes {
        previous_run_id: previous.run.run_id.clone(),
        previous_generated_at: previous.run.generated_at,
        ongoing: now.intersection(&before).count(),
        new,
        resolved,
        unverified: unverified.into_iter().collect(),
    }
}

#[test]
fn indexed_changes_say_what_the_literal_rule_says() {
    let account = fixture::Account::new(300);
    let full = account.parse();
    let later = account.now + Duration::days(45);
    let runs = [
        account.report_at("a", account.now, &full),
        account.report_at("b", later, &full),
        account.report_at("c", account.now, &account.parse_without_every(10)),
        account.report_at("d", later, &account.parse_without_every(7)),
    ];
    let mut seen_new = false;
    let mut seen_resolved = false;
    let mut seen_unverified = false;
    for previous in &runs {
        for current in &runs {
            let changes = Changes::between(previous, current);
            assert_eq!(
                changes,
                literal(previous, current),
                "{} -> {}",
                previous.run.run_id,
                current.run.run_id
            );
            seen_new |= !changes.new.is_empty();
            seen_resolved |= !changes.resolved.is_empty();
            seen_unverified |= !changes.unverified.is_empty();
        }
    }
    assert!(seen_new && seen_resolved && seen_unverified, "every outcome is exercised");
}
