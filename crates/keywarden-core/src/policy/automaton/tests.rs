//! Containment, witnesses and regions checked against brute force over short strings.

use super::regions::{action_regions, action_regions_dense, ACTION_SHAPE};
use super::*;
use crate::policy::pattern::byte_glob;

/// Every string over `alphabet` of length at most `n`.
fn all_strings(alphabet: &[char], n: usize) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut layer = vec![String::new()];
    for _ in 0..n {
        layer = layer.iter().flat_map(|s| alphabet.iter().map(move |c| format!("{s}{c}"))).collect();
        out.extend(layer.iter().cloned());
    }
    out
}

fn set(patterns: &[String], not: bool) -> GlobSet {
    let toks = patterns.iter().map(|p| plain_tokens(p)).collect();
    if not {
        GlobSet::NoneOf(toks)
    } else {
        GlobSet::AnyOf(toks)
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(400))]

    /// Containment agrees with brute force: a claimed A ⊆ B has no counterexample among
    /// all short strings, and a refuted one comes with a witness in A and not in B
    /// (checked with the fast byte matcher).
    #[test]
    fn glob_containment_agrees_with_brute_force(
        a in "[ab:*?]{0,5}",
        b in "[ab:*?]{0,5}",
        ci in proptest::bool::ANY,
    ) {
        let (sa, sb) = (set(std::slice::from_ref(&a), false), set(std::slice::from_ref(&b), false));
        let mut q = GlobQuery::default();
        q.inside(&sa).outside(&sb);
        let witness = glob_witness(&q, ci).expect("small patterns");
        let counter = all_strings(&['a', 'B', ':', 'c'], 6)
            .into_iter()
            .find(|t| byte_glob(a.as_bytes(), t.as_bytes(), ci) && !byte_glob(b.as_bytes(), t.as_bytes(), ci));
        match witness {
            None => proptest::prop_assert!(counter.is_none(), "{a} ⊆ {b} claimed, but {counter:?}"),
            Some(w) => {
                proptest::prop_assert!(byte_glob(a.as_bytes(), w.as_bytes(), ci), "{w:?} not in {a}");
                proptest::prop_assert!(!byte_glob(b.as_bytes(), w.as_bytes(), ci), "{w:?} in {b}");
            }
        }
        proptest::prop_assert_eq!(
            glob_set_subset(&sa, &sb, ci),
            Some(witness_is_none(&a, &b, ci))
        );
    }

    /// The same with unions and complements on both sides (NotAction/NotResource).
    #[test]
    fn glob_witness_with_sets_agrees_with_brute_force(
        a in proptest::collection::vec("[ab*?]{0,4}", 1..3),
        b in proptest::collection::vec("[ab*?]{0,4}", 1..3),
        not_a in proptest::bool::ANY,
        not_b in proptest::bool::ANY,
    ) {
        let (sa, sb) = (set(&a, not_a), set(&b, not_b));
        let mut q = GlobQuery::default();
        q.inside(&sa).outside(&sb);
        let witness = glob_witness(&q, false).expect("small patterns");
        let member = |s: &GlobSet, t: &str| set_contains(s, t, false);
        let counter = all_strings(&['a', 'b', 'c'], 5).into_iter().find(|t| member(&sa, t) && !member(&sb, t));
        match witness {
            None => proptest::prop_assert!(counter.is_none(), "{sa:?} ⊆ {sb:?} claimed, but {counter:?}"),
            Some(w) => proptest::prop_assert!(member(&sa, &w) && !member(&sb, &w), "{w:?}"),
        }
    }

    /// The automaton matcher the analysis uses agrees with the evaluator's byte matcher.
    #[test]
    fn set_membership_agrees_with_the_fast_matcher(
        pattern in "[a-c*?:/]{0,10}",
        text in "[a-cA-C:/]{0,10}",
        ci in proptest::bool::ANY,
    ) {
        let s = set(std::slice::from_ref(&pattern), false);
        proptest::prop_assert_eq!(
            set_contains(&s, &text, ci),
            byte_glob(pattern.as_bytes(), text.as_bytes(), ci)
        );
        let mut q = GlobQuery::default();
        q.inside(&s);
        if let Some(w) = glob_witness(&q, ci).expect("small") {
            proptest::prop_assert!(byte_glob(pattern.as_bytes(), w.as_bytes(), ci));
        }
    }

    /// Every action-shaped string in the allow lands in a region the analysis lists, and
    /// every listed region's witness really has that region.
    #[test]
    fn action_regions_match_the_dense_exploration(
        inside in proptest::collection::vec("[ab]{0,2}[:*?][ab*]{0,2}", 1..3),
        inside_not in proptest::bool::ANY,
        covers in proptest::collection::vec(("[abc]{0,3}[:*][abc*?]{0,3}", proptest::bool::ANY), 0..4),
    ) {
        let inside = set(&inside, inside_not);
        let covers: Vec<GlobSet> = covers.iter().map(|(p, not)| set(std::slice::from_ref(p), *not)).collect();
        let refs: Vec<&GlobSet> = covers.iter().collect();
        proptest::prop_assert_eq!(action_regions(&inside, &refs), action_regions_dense(&inside, &refs));
    }

    #[test]
    fn action_regions_are_complete_and_sound(
        inside in proptest::collection::vec("[ab]{0,2}[:*?][ab*]{0,2}", 1..3),
        covers in proptest::collection::vec(("[ab]{0,2}[:*][ab*?]{0,2}", proptest::bool::ANY), 0..3),
    ) {
        let inside = set(&inside, false);
        let covers: Vec<GlobSet> = covers.iter().map(|(p, not)| set(std::slice::from_ref(p), *not)).collect();
        let refs: Vec<&GlobSet> = covers.iter().collect();
        let regions = action_regions(&inside, &refs).expect("small patterns");
        let region_of = |t: &str| -> Vec<bool> { covers.iter().map(|c| set_contains(c, t, true)).collect() };
        for (r, w) in &regions {
            proptest::prop_assert!(set_contains(&inside, w, true) && byte_glob(ACTION_SHAPE.as_bytes(), w.as_bytes(), true));
            proptest::prop_assert_eq!(&region_of(w), r);
        }
        for t in all_strings(&['a', 'b', ':'], 5) {
            if set_contains(&inside, &t, true) && byte_glob(ACTION_SHAPE.as_bytes(), t.as_bytes(), true) {
                let r = region_of(&t);
                proptest::prop_assert!(regions.iter().any(|(x, _)| *x == r), "{t:?} in no listed region");
            }
        }
    }
}

fn witness_is_none(a: &str, b: &str, ci: bool) -> bool {
    let (sa, sb) = (set(&[a.to_string()], false), set(&[b.to_string()], false));
    let mut q = GlobQuery::default();
    q.inside(&sa).outside(&sb);
    glob_witness(&q, ci).expect("small").is_none()
}
