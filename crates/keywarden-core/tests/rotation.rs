//! The rotation planner: its documented transitions, its tag format, and property tests of
//! the safety rules over random key states and time steps.

use chrono::{DateTime, Duration, TimeZone, Utc};
use keywarden_core::rotation::{
    plan, HoldCause, LiveKey, RotationPolicy, RotationState, SecretState, Step, UserKeys,
};
use proptest::prelude::*;
use std::collections::BTreeSet;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 6, 0, 0).single().expect("valid date")
}

fn key(id: &str, active: bool, created: DateTime<Utc>, last_used: Option<DateTime<Utc>>) -> LiveKey {
    LiveKey { id: id.to_string(), active, created, last_used }
}

const OLD: &str = "AKIAOLD000000000001";
const NEW: &str = "AKIANEW000000000002";

fn user(keys: Vec<LiveKey>, state: Option<RotationState>) -> UserKeys {
    UserKeys { user: "alice".into(), keys, state: state.map(Ok), secret: SecretState::Missing, exempt: None }
}

fn p() -> RotationPolicy {
    RotationPolicy::default()
}

const SECRET_ARN: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:keywarden/alice-AbCdEf";

/// keywarden's secret with `current` in AWSCURRENT (and every key of `held` stored once).
fn secret(current: Option<&str>, held: &[&str]) -> SecretState {
    SecretState::Usable {
        arn: SECRET_ARN.into(),
        current: current.map(String::from),
        held: held.iter().map(|k| k.to_string()).chain(current.map(String::from)).collect::<BTreeSet<_>>(),
        foreign_versions: false,
    }
}

#[test]
fn a_young_key_is_left_alone_and_a_key_near_its_due_date_is_warned() {
    let now = t0() + Duration::days(80);
    assert_eq!(plan(&user(vec![key(OLD, true, t0(), None)], None), &p(), now).step, Step::None);
    let now = t0() + Duration::days(84);
    assert_eq!(
        plan(&user(vec![key(OLD, true, t0(), None)], None), &p(), now).step,
        Step::Warn { key: OLD.into(), due: t0() + Duration::days(90) }
    );
}

#[test]
fn a_due_key_is_rotated_at_exactly_the_threshold() {
    let u = user(vec![key(OLD, true, t0(), None)], None);
    assert!(matches!(
        plan(&u, &p(), t0() + Duration::days(90) - Duration::seconds(1)).step,
        Step::Warn { .. }
    ));
    assert_eq!(plan(&u, &p(), t0() + Duration::days(90)).step, Step::Create { old: OLD.into() });
}

#[test]
fn exempt_users_are_never_touched() {
    let mut u = user(vec![key(OLD, true, t0(), None)], None);
    u.exempt = Some("tag keywarden:exempt=all".into());
    let pl = plan(&u, &p(), t0() + Duration::days(400));
    assert_eq!(pl.step, Step::None);
    assert!(pl.reason.contains("exempt"));
}

#[test]
fn two_keys_without_a_record_block_rotation() {
    let u = user(vec![key(OLD, true, t0(), None), key(NEW, true, t0(), None)], None);
    assert!(matches!(plan(&u, &p(), t0() + Duration::days(100)).step, Step::Blocked { .. }));
}

#[test]
fn grace_then_deactivate_then_delete() {
    let created = t0() + Duration::days(100);
    let grace = RotationState::Grace { old: OLD.into(), new: NEW.into(), at: created };
    let keys = vec![key(OLD, true, t0(), None), key(NEW, true, created, None)];
    assert_eq!(
        plan(&user(keys.clone(), Some(grace.clone())), &p(), created + Duration::days(6)).step,
        Step::None
    );
    assert_eq!(
        plan(&user(keys, Some(grace)), &p(), created + Duration::days(7)).step,
        Step::Deactivate { old: OLD.into(), new: NEW.into() }
    );
    let deactivated = created + Duration::days(8);
    let inactive = RotationState::Inactive { old: OLD.into(), new: NEW.into(), at: deactivated };
    let keys = vec![key(OLD, false, t0(), None), key(NEW, true, created, None)];
    assert_eq!(
        plan(&user(keys.clone(), Some(inactive.clone())), &p(), deactivated + Duration::days(6)).step,
        Step::None
    );
    assert_eq!(
        plan(&user(keys, Some(inactive)), &p(), deactivated + Duration::days(7)).step,
        Step::Delete { old: OLD.into(), new: NEW.into() }
    );
}

#[test]
fn an_old_key_still_in_use_is_held_then_released() {
    let created = t0() + Duration::days(100);
    let end = created + Duration::days(8);
    let grace = RotationState::Grace { old: OLD.into(), new: NEW.into(), at: created };
    let used = end - Duration::hours(2);
    let keys = vec![key(OLD, true, t0(), Some(used)), key(NEW, true, created, None)];
    assert_eq!(
        plan(&user(keys, Some(grace)), &p(), end).step,
        Step::Hold {
            old: OLD.into(),
            new: NEW.into(),
            last_used: Some(used),
            cause: HoldCause::InUse,
            recorded: false
        }
    );
    // On a later run, no longer used within 24 h: deactivate.
    let hold = RotationState::Hold { old: OLD.into(), new: NEW.into(), at: end };
    let keys = vec![key(OLD, true, t0(), Some(used)), key(NEW, true, created, None)];
    assert_eq!(
        plan(&user(keys, Some(hold)), &p(), end + Duration::days(1)).step,
        Step::Deactivate { old: OLD.into(), new: NEW.into() }
    );
}

#[test]
fn a_human_reactivating_the_old_key_puts_it_back_on_hold() {
    let at = t0() + Duration::days(108);
    let inactive = RotationState::Inactive { old: OLD.into(), new: NEW.into(), at };
    let keys = vec![key(OLD, true, t0(), None), key(NEW, true, t0() + Duration::days(100), None)];
    assert!(matches!(
        plan(&user(keys, Some(inactive)), &p(), at + Duration::days(1)).step,
        Step::Hold { .. }
    ));
}

#[test]
fn an_unstored_key_left_by_a_crash_is_recovered_but_not_while_a_run_may_be_in_flight() {
    let at = t0() + Duration::days(100);
    let intent = RotationState::Intent { old: OLD.into(), at };
    let keys = vec![key(OLD, true, t0(), None), key(NEW, true, at + Duration::seconds(1), None)];
    assert_eq!(
        plan(&user(keys.clone(), Some(intent.clone())), &p(), at + Duration::minutes(1)).step,
        Step::None
    );
    assert_eq!(
        plan(&user(keys.clone(), Some(intent.clone())), &p(), at + Duration::hours(1)).step,
        Step::Recover { old: OLD.into(), unstored: NEW.into() }
    );
    // If the secret was stored after all, finish instead of deleting.
    let mut stored = user(keys, Some(intent));
    stored.secret = secret(Some(NEW), &[]);
    assert_eq!(
        plan(&stored, &p(), at + Duration::hours(1)).step,
        Step::Resume { old: OLD.into(), new: NEW.into() }
    );
}

/// The lost-answer cases: after an intent, a second key is deleted only when it was made
/// inside the rotation's window, never used, and its secret is stored nowhere.
#[test]
fn recover_deletes_only_a_key_nobody_can_hold() {
    let at = t0() + Duration::days(100);
    let later = at + Duration::hours(1);
    let intent = || Some(RotationState::Intent { old: OLD.into(), at });
    let with = |new: LiveKey, secret_state: SecretState| {
        let mut u = user(vec![key(OLD, true, t0(), None), new], intent());
        u.secret = secret_state;
        plan(&u, &p(), later)
    };
    let ours = key(NEW, true, at + Duration::seconds(2), None);
    assert_eq!(
        with(ours.clone(), SecretState::Missing).step,
        Step::Recover { old: OLD.into(), unstored: NEW.into() }
    );
    // An earlier rotation's key in the secret's history does not make this one stored.
    assert_eq!(
        with(ours.clone(), secret(Some("AKIAEARLIER000000001"), &[])).step,
        Step::Recover { old: OLD.into(), unstored: NEW.into() }
    );
    let blocked = |pl: keywarden_core::rotation::Plan, why: &str| match pl.step {
        Step::Blocked { reason } => assert!(reason.contains(why), "{reason}"),
        other => panic!("expected blocked ({why}), got {other:?}"),
    };
    // A stale intent, and a key a human made days later and deployed.
    let human = key(NEW, true, at + Duration::days(3), Some(at + Duration::days(3)));
    blocked(with(human, SecretState::Missing), "outside the rotation");
    // Made inside the window but used: someone holds its secret.
    blocked(with(key(NEW, true, at + Duration::seconds(2), Some(later)), SecretState::Missing), "was used");
    // Made well before the intent.
    blocked(
        with(key(NEW, true, at - Duration::hours(2), None), SecretState::Missing),
        "outside the rotation",
    );
    // Stored as a non-current version, or in a version keywarden did not write.
    blocked(with(ours.clone(), secret(Some("AKIAEARLIER000000001"), &[NEW])), "may hold");
    let foreign = SecretState::Usable {
        arn: SECRET_ARN.into(),
        current: None,
        held: BTreeSet::new(),
        foreign_versions: true,
    };
    blocked(with(ours.clone(), foreign), "may hold");
    // Stored as the current version: the rotation resumes instead.
    assert_eq!(with(ours, secret(Some(NEW), &[])).step, Step::Resume { old: OLD.into(), new: NEW.into() });
}

/// An intent with no second key (a lost `TagUser` or `CreateAccessKey` answer with nothing
/// created): the rotation starts again at once; a refused secret blocks it instead.
#[test]
fn an_intent_without_a_new_key_starts_again_unless_the_secret_is_refused() {
    let at = t0() + Duration::days(100);
    let mut u = user(vec![key(OLD, true, t0(), None)], Some(RotationState::Intent { old: OLD.into(), at }));
    assert_eq!(plan(&u, &p(), at + Duration::seconds(30)).step, Step::Create { old: OLD.into() });
    u.secret = SecretState::Refused { arn: SECRET_ARN.into(), reason: "not created by keywarden".into() };
    assert!(
        matches!(plan(&u, &p(), at).step, Step::Blocked { reason } if reason.contains("not created by keywarden"))
    );
    let mut fresh = user(vec![key(OLD, true, t0(), None)], None);
    fresh.secret = SecretState::Refused { arn: SECRET_ARN.into(), reason: "scheduled for deletion".into() };
    assert!(matches!(plan(&fresh, &p(), at).step, Step::Blocked { .. }));
}

/// A human re-activates the old key keywarden deactivated: recorded once, then held on
/// every run (quiet or not) and never deactivated or deleted, until the human deactivates it.
#[test]
fn a_human_hold_lasts_until_a_human_ends_it() {
    let at = t0() + Duration::days(108);
    let keys = vec![key(OLD, true, t0(), None), key(NEW, true, t0() + Duration::days(100), None)];
    let inactive = RotationState::Inactive { old: OLD.into(), new: NEW.into(), at };
    let first = plan(&user(keys.clone(), Some(inactive)), &p(), at + Duration::days(1)).step;
    assert!(
        matches!(first, Step::Hold { cause: HoldCause::HumanReactivated, recorded: false, .. }),
        "{first:?}"
    );
    assert!(first.writes(), "the human's decision is recorded");
    let held = RotationState::HumanHold { old: OLD.into(), new: NEW.into(), at: at + Duration::days(1) };
    for day in 2..=60 {
        let step = plan(&user(keys.clone(), Some(held.clone())), &p(), at + Duration::days(day)).step;
        assert!(
            matches!(step, Step::Hold { cause: HoldCause::HumanReactivated, recorded: true, .. }),
            "day {day}: {step:?}"
        );
        assert!(!step.writes());
    }
    // The human deactivates it: the hold is over and the inactive period starts again.
    let off = vec![key(OLD, false, t0(), None), key(NEW, true, t0() + Duration::days(100), None)];
    assert_eq!(
        plan(&user(off, Some(held.clone())), &p(), at + Duration::days(70)).step,
        Step::Deactivate { old: OLD.into(), new: NEW.into() }
    );
    // Or deletes it: the record is cleared.
    let gone = vec![key(NEW, true, t0() + Duration::days(100), None)];
    assert_eq!(plan(&user(gone, Some(held)), &p(), at + Duration::days(70)).step, Step::Clear);
}

#[test]
fn which_key_a_secret_holds_is_read_from_its_versions() {
    use keywarden_core::rotation::{key_of_version, version_id, SecretFacts};
    let v = version_id(NEW);
    assert!((32..=64).contains(&v.len()), "ClientRequestToken is 32-64 characters: {v}");
    assert_eq!(key_of_version(&v), Some(NEW));
    assert_eq!(key_of_version("3f1c2b9e-0000-4000-8000-000000000000"), None);
    let facts = |managed, deleted, kms: Option<&str>, versions: &[(&str, &[&str])]| SecretFacts {
        arn: SECRET_ARN.into(),
        managed,
        scheduled_for_deletion: deleted,
        kms_key_id: kms.map(String::from),
        versions: versions
            .iter()
            .map(|(v, s)| (v.to_string(), s.iter().map(|s| s.to_string()).collect()))
            .collect(),
    };
    let state = SecretState::judge(
        Some(facts(true, false, None, &[(&version_id(OLD), &["AWSPREVIOUS"]), (&v, &["AWSCURRENT"])])),
        None,
    );
    assert_eq!(state.current_key(), Some(NEW));
    assert!(state.may_hold(OLD) && state.may_hold(NEW) && !state.may_hold("AKIAOTHER00000000009"));
    assert_eq!(SecretState::judge(None, None), SecretState::Missing);
    let refused = |f: SecretFacts, kms: Option<&str>, why: &str| match SecretState::judge(Some(f), kms) {
        SecretState::Refused { reason, .. } => assert!(reason.contains(why), "{reason}"),
        other => panic!("expected a refusal ({why}), got {other:?}"),
    };
    refused(facts(false, false, None, &[]), None, "not created by keywarden");
    refused(facts(true, true, None, &[]), None, "scheduled for deletion");
    refused(facts(true, false, Some("arn:aws:kms:us-east-1:1:key/other"), &[]), None, "encrypted under");
    refused(facts(true, false, None, &[]), Some("alias/keywarden"), "encrypted under");
    // The same key named by its id, its ARN, or the AWS managed key by alias.
    let arn = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    for (actual, expected) in [
        (Some(arn), Some("1234abcd-12ab-34cd-56ef-1234567890ab")),
        (Some(arn), Some(arn)),
        (Some("alias/aws/secretsmanager"), None),
    ] {
        let got = SecretState::judge(Some(facts(true, false, actual, &[])), expected);
        assert!(matches!(got, SecretState::Usable { .. }), "{actual:?} vs {expected:?}: {got:?}");
    }
}

#[test]
fn an_unreadable_record_blocks() {
    let mut u = user(vec![key(OLD, true, t0(), None)], None);
    u.state = Some(RotationState::from_tag("v1 grace old=x"));
    assert!(matches!(plan(&u, &p(), t0()).step, Step::Blocked { .. }));
}

#[test]
fn tags_round_trip_and_use_only_allowed_characters() {
    let at = Utc.with_ymd_and_hms(2026, 3, 4, 5, 6, 7).single().expect("valid date");
    for s in [
        RotationState::Intent { old: OLD.into(), at },
        RotationState::Grace { old: OLD.into(), new: NEW.into(), at },
        RotationState::Hold { old: OLD.into(), new: NEW.into(), at },
        RotationState::Inactive { old: OLD.into(), new: NEW.into(), at },
        RotationState::HumanHold { old: OLD.into(), new: NEW.into(), at },
    ] {
        let tag = s.to_tag();
        assert!(tag.len() <= 256, "{tag}");
        assert!(tag.chars().all(|c| c.is_ascii_alphanumeric() || " _.:/=+-@".contains(c)), "{tag}");
        assert_eq!(RotationState::from_tag(&tag), Ok(s));
    }
    for bad in [
        "",
        "v2 grace old=AKIAOLD000000000001 at=20260101T000000Z",
        "v1 grace old=AKIAOLD000000000001 at=20260101T000000Z",
        "v1 intent old=AKIAOLD000000000001 at=yesterday",
        "v1 nonsense old=AKIAOLD000000000001 at=20260101T000000Z",
    ] {
        assert!(RotationState::from_tag(bad).is_err(), "{bad}");
    }
}

// ---- property tests -------------------------------------------------------------------

fn arb_time() -> impl Strategy<Value = DateTime<Utc>> {
    (0i64..400 * 24).prop_map(|h| t0() + Duration::hours(h))
}

fn arb_key(id: &'static str) -> impl Strategy<Value = LiveKey> {
    (any::<bool>(), arb_time(), proptest::option::of(arb_time()))
        .prop_map(move |(active, created, used)| key(id, active, created, used))
}

fn arb_state() -> impl Strategy<Value = Option<RotationState>> {
    let id = prop_oneof![Just(OLD), Just(NEW), Just("AKIAGONE00000000003")];
    prop_oneof![
        Just(None),
        (id.clone(), arb_time()).prop_map(|(old, at)| Some(RotationState::Intent { old: old.into(), at })),
        (id.clone(), id.clone(), arb_time(), 0u8..4).prop_map(|(old, new, at, phase)| Some(match phase {
            0 => RotationState::Grace { old: old.into(), new: new.into(), at },
            1 => RotationState::Hold { old: old.into(), new: new.into(), at },
            2 => RotationState::HumanHold { old: old.into(), new: new.into(), at },
            _ => RotationState::Inactive { old: old.into(), new: new.into(), at },
        })),
    ]
}

fn arb_user() -> impl Strategy<Value = UserKeys> {
    (
        proptest::option::of(arb_key(OLD)),
        proptest::option::of(arb_key(NEW)),
        arb_state(),
        prop_oneof![
            Just(SecretState::Missing),
            Just(secret(Some(OLD), &[])),
            Just(secret(Some(NEW), &[])),
            Just(secret(Some(OLD), &[NEW])),
            Just(secret(None, &[])),
            Just(SecretState::Usable {
                arn: SECRET_ARN.into(),
                current: None,
                held: BTreeSet::new(),
                foreign_versions: true
            }),
            Just(SecretState::Refused { arn: SECRET_ARN.into(), reason: "not keywarden's".into() }),
        ],
        any::<bool>(),
    )
        .prop_map(|(a, b, state, stored, exempt)| UserKeys {
            user: "alice".into(),
            keys: a.into_iter().chain(b).collect(),
            state: state.map(Ok),
            secret: stored,
            exempt: exempt.then(|| "tag".to_string()),
        })
}

/// What the executor would leave behind after carrying out `step`.
fn apply(keys: &[LiveKey], step: &Step, now: DateTime<Utc>) -> Vec<LiveKey> {
    let mut keys = keys.to_vec();
    match step {
        Step::Create { .. } => keys.push(key("AKIACREATED00000009", true, now, None)),
        Step::Recover { unstored, .. } => keys.retain(|k| k.id != *unstored),
        Step::Deactivate { old, .. } => {
            keys.iter_mut().filter(|k| k.id == *old).for_each(|k| k.active = false)
        }
        Step::Delete { old, .. } => keys.retain(|k| k.id != *old),
        _ => {}
    }
    keys
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn every_planned_step_is_safe(u in arb_user(), now in arb_time()) {
        let pl = plan(&u, &p(), now);
        let after = apply(&u.keys, &pl.step, now);
        let active_before = u.keys.iter().filter(|k| k.active).count();
        let active_after = after.iter().filter(|k| k.active).count();
        prop_assert!(after.len() <= 2, "more than two keys after {pl}");
        if active_before > 0 {
            prop_assert!(active_after > 0, "user left without an active key by {pl}");
        }
        if u.exempt.is_some() {
            prop_assert!(!pl.step.writes(), "exempt user touched: {pl}");
        }
        let find = |id: &str| u.keys.iter().find(|k| k.id == id);
        match &pl.step {
            Step::Deactivate { old, new } | Step::Delete { old, new } => {
                prop_assert_ne!(old, new);
                let successor = find(new);
                prop_assert!(successor.is_some_and(|k| k.active), "no active successor for {pl}");
                // The successor's secret was stored: only a grace/hold/inactive record names it.
                prop_assert!(matches!(u.state, Some(Ok(RotationState::Grace { .. } | RotationState::Hold { .. } | RotationState::Inactive { .. } | RotationState::HumanHold { .. }))), "{pl}");
                if matches!(pl.step, Step::Delete { .. }) {
                    prop_assert!(find(old).is_some_and(|k| !k.active), "deleting an active key: {pl}");
                }
            }
            Step::Recover { old, unstored } => {
                // Only a key nobody can hold: stored nowhere, never used, made inside the
                // intent's window, while the old key still works.
                prop_assert!(!u.secret.may_hold(unstored), "{pl}");
                let k = find(unstored);
                prop_assert!(k.is_some_and(|k| k.last_used.is_none()), "deleting a used key: {pl}");
                let Some(Ok(RotationState::Intent { at, .. })) = &u.state else {
                    return Err(TestCaseError::fail(format!("recover without an intent: {pl}")));
                };
                let created = k.map(|k| k.created).unwrap_or(*at);
                prop_assert!(created >= *at - Duration::minutes(5) && created <= *at + Duration::minutes(20), "{pl}");
                prop_assert!(find(old).is_some_and(|k| k.active), "recovery would leave no working key: {pl}");
            }
            Step::Create { old } => {
                prop_assert_eq!(u.keys.len(), 1);
                prop_assert!(find(old).is_some_and(|k| k.active));
                prop_assert!(!matches!(u.secret, SecretState::Refused { .. }), "writing into a refused secret: {pl}");
            }
            _ => {}
        }
        // Never fight a human: a key re-activated after keywarden deactivated it is never
        // deactivated or deleted again.
        let reactivated = match &u.state {
            Some(Ok(RotationState::HumanHold { old, .. })) => find(old).filter(|k| k.active).map(|k| k.id.clone()),
            Some(Ok(RotationState::Inactive { old, .. })) => find(old).filter(|k| k.active).map(|k| k.id.clone()),
            _ => None,
        };
        if let Some(held) = reactivated {
            match &pl.step {
                Step::Deactivate { old, .. } | Step::Delete { old, .. } => prop_assert_ne!(old, &held, "{}", pl),
                _ => {}
            }
        }
    }

    /// A whole rotation, run by run, with random gaps between runs and random use of the old
    /// key: every intermediate state is safe, and once the old key goes quiet the rotation
    /// ends with exactly the new key.
    #[test]
    fn a_rotation_run_by_run_ends_with_only_the_new_key(
        gaps in proptest::collection::vec(1i64..(10 * 24), 1..40),
        used_until_hours in 0i64..(60 * 24),
    ) {
        let start = t0() + Duration::days(100);
        let mut keys = vec![key(OLD, true, t0(), None)];
        let mut state: Option<RotationState> = None;
        let mut stored = SecretState::Missing;
        let mut now = start;
        let mut created_id = None;
        let quiet_after = start + Duration::hours(used_until_hours);
        let mut done = false;
        for gap in gaps.iter().chain(std::iter::repeat_n(&(24 * 3), 40)) {
            // The workload keeps using the old key until `quiet_after`.
            if now < quiet_after {
                if let Some(k) = keys.iter_mut().find(|k| k.id == OLD && k.active) { k.last_used = Some(now) }
            }
            let u = UserKeys { user: "alice".into(), keys: keys.clone(), state: state.clone().map(Ok), secret: stored.clone(), exempt: None };
            let pl = plan(&u, &p(), now);
            prop_assert!(!matches!(pl.step, Step::Blocked { .. }), "blocked: {pl}");
            match &pl.step {
                Step::Create { old } => {
                    keys.push(key(NEW, true, now, None));
                    stored = secret(Some(NEW), &[]);
                    created_id = Some(NEW);
                    state = Some(RotationState::Grace { old: old.clone(), new: NEW.into(), at: now });
                }
                Step::Hold { old, new, cause: HoldCause::InUse, .. } => {
                    state = Some(RotationState::Hold { old: old.clone(), new: new.clone(), at: now });
                }
                Step::Deactivate { old, new } => {
                    keys.iter_mut().filter(|k| k.id == *old).for_each(|k| k.active = false);
                    state = Some(RotationState::Inactive { old: old.clone(), new: new.clone(), at: now });
                }
                Step::Delete { old, .. } => {
                    keys.retain(|k| k.id != *old);
                    state = None;
                    done = true;
                }
                Step::None | Step::Warn { .. } => {}
                other => prop_assert!(false, "unexpected step {other:?}"),
            }
            prop_assert!(keys.len() <= 2);
            prop_assert!(keys.iter().any(|k| k.active), "no active key after {pl}");
            if done {
                break;
            }
            now += Duration::hours(*gap);
        }
        prop_assert!(done, "rotation did not finish");
        prop_assert_eq!(created_id, Some(NEW));
        prop_assert_eq!(keys.iter().map(|k| k.id.as_str()).collect::<Vec<_>>(), vec![NEW]);
        prop_assert!(state.is_none());
    }
}
