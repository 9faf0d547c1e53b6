//! The regions an action set makes with a list of covers: which combinations of covers some
//! action meets, each with a shortest such action. The MFA prover checks each region instead
//! of each action, which is what makes a `NotAction` allow provable.

use std::collections::BTreeSet;

use super::super::pattern::{plain_tokens, Tok};
use super::{glob_closure, glob_step, GlobSet, TooComplex, GLOB_STATE_LIMIT};

/// Requests of this shape only: a service prefix, a colon, a name. A witness for "some
/// action" is drawn from these, so the analysis never reports an empty string as an action.
pub(super) const ACTION_SHAPE: &str = "?*:?*";

/// The ways an action in `inside` can relate to the covers: each distinct set of covers
/// (a bit per cover) that contains some action of `inside`, with the shortest such action.
/// Explores the product automaton of all the patterns completely.
///
/// A state keeps only the patterns that can still match, each as a bit set of positions
/// (patterns longer than 63 tokens fall back to [`action_regions_dense`]): most cover
/// patterns are literal action names, which die at their first wrong character, so a
/// state is a handful of words however many actions the covers list. The answer is the
/// same as the dense exploration's, region for region and witness for witness.
pub(crate) fn action_regions(
    inside: &GlobSet,
    covers: &[&GlobSet],
) -> Result<Vec<(Vec<bool>, String)>, TooComplex> {
    let shape = GlobSet::AnyOf(vec![plain_tokens(ACTION_SHAPE)]);
    let sets: Vec<&GlobSet> = [inside, &shape].into_iter().chain(covers.iter().copied()).collect();
    let patterns: Vec<(usize, &[Tok])> = sets
        .iter()
        .enumerate()
        .flat_map(|(k, s)| match s {
            GlobSet::AnyOf(p) | GlobSet::NoneOf(p) => p.iter().map(move |t| (k, t.as_slice())),
        })
        .collect();
    if patterns.iter().any(|(_, p)| p.len() >= 64) || patterns.len() > usize::from(u16::MAX) {
        return action_regions_dense(inside, covers);
    }
    let alphabet = action_alphabet(&patterns);
    let stars: Vec<u64> = patterns.iter().map(|(_, p)| positions(p, |t| *t == Tok::Star)).collect();
    // Per pattern and character: the positions a character moves past (`?` and matching
    // literals, compared case-insensitively as action names are).
    let steps: Vec<Vec<u64>> = patterns
        .iter()
        .map(|(_, p)| {
            alphabet
                .iter()
                .map(|c| {
                    positions(p, |t| match t {
                        Tok::One => true,
                        Tok::Lit(x) => x.eq_ignore_ascii_case(c),
                        Tok::Star => false,
                    })
                })
                .collect()
        })
        .collect();
    let closure = |j: usize, mut m: u64| -> u64 {
        // A star may match nothing: being before it is being after it.
        loop {
            let next = m | ((m & stars[j]) << 1);
            if next == m {
                return m;
            }
            m = next;
        }
    };
    let accepts = |j: usize, m: u64| m & (1u64 << patterns[j].1.len()) != 0;
    let hits = |state: &[(u16, u64)]| -> Vec<bool> {
        let mut hit = vec![false; sets.len()];
        for &(j, m) in state {
            if accepts(usize::from(j), m) {
                hit[patterns[usize::from(j)].0] = true;
            }
        }
        hit.iter()
            .zip(&sets)
            .map(|(h, s)| match s {
                GlobSet::AnyOf(_) => *h,
                GlobSet::NoneOf(_) => !*h,
            })
            .collect()
    };
    let dead = |state: &[(u16, u64)]| -> bool {
        // `inside` or the shape can no longer match.
        (0..2).any(|k| {
            matches!(sets[k], GlobSet::AnyOf(_))
                && !state.iter().any(|(j, _)| patterns[usize::from(*j)].0 == k)
        })
    };
    let start: Vec<(u16, u64)> =
        (0..patterns.len()).filter_map(|j| u16::try_from(j).ok().map(|id| (id, closure(j, 1)))).collect();
    let mut seen: std::collections::HashSet<Vec<(u16, u64)>> = std::collections::HashSet::new();
    let mut queue: std::collections::VecDeque<(Vec<(u16, u64)>, String)> = std::collections::VecDeque::new();
    let mut regions: Vec<(Vec<bool>, String)> = Vec::new();
    seen.insert(start.clone());
    queue.push_back((start, String::new()));
    while let Some((state, text)) = queue.pop_front() {
        let member = hits(&state);
        if member[0] && member[1] {
            let covered = member[2..].to_vec();
            if !regions.iter().any(|(c, _)| *c == covered) {
                regions.push((covered, text.clone()));
            }
        }
        for (ci, &c) in alphabet.iter().enumerate() {
            let next: Vec<(u16, u64)> = state
                .iter()
                .filter_map(|&(j, m)| {
                    let jj = usize::from(j);
                    let moved = ((m & steps[jj][ci]) << 1) | (m & stars[jj]);
                    (moved != 0).then(|| (j, closure(jj, moved)))
                })
                .collect();
            if dead(&next) || seen.contains(&next) {
                continue;
            }
            if seen.len() >= GLOB_STATE_LIMIT {
                return Err(TooComplex);
            }
            seen.insert(next.clone());
            let mut t = text.clone();
            t.push(c);
            queue.push_back((next, t));
        }
    }
    Ok(regions)
}

/// The positions of `p` whose token `f` selects, as bits (`p` is shorter than 64 tokens).
fn positions(p: &[Tok], f: impl Fn(&Tok) -> bool) -> u64 {
    p.iter().enumerate().filter(|(_, t)| f(t)).fold(0, |m, (i, _)| m | (1u64 << i))
}

/// The characters the exploration tries: every literal the patterns name (lower-case),
/// plus one they do not, which stands for every other character.
fn action_alphabet(patterns: &[(usize, &[Tok])]) -> BTreeSet<char> {
    let mut alphabet: BTreeSet<char> = patterns
        .iter()
        .flat_map(|(_, p)| p.iter())
        .filter_map(|t| match t {
            Tok::Lit(c) => Some(c.to_ascii_lowercase()),
            _ => None,
        })
        .collect();
    if let Some(fresh) = "xqzjkvw".chars().chain('\u{100}'..).find(|c| !alphabet.contains(c)) {
        alphabet.insert(fresh);
    }
    alphabet
}

/// [`action_regions`] over dense states (a flag per position of every pattern): for
/// patterns too long for a word of bits.
pub(super) fn action_regions_dense(
    inside: &GlobSet,
    covers: &[&GlobSet],
) -> Result<Vec<(Vec<bool>, String)>, TooComplex> {
    let shape = GlobSet::AnyOf(vec![plain_tokens(ACTION_SHAPE)]);
    let sets: Vec<&GlobSet> = [inside, &shape].into_iter().chain(covers.iter().copied()).collect();
    let patterns: Vec<(usize, &[Tok])> = sets
        .iter()
        .enumerate()
        .flat_map(|(k, s)| match s {
            GlobSet::AnyOf(p) | GlobSet::NoneOf(p) => p.iter().map(move |t| (k, t.as_slice())),
        })
        .collect();
    let alphabet = action_alphabet(&patterns);
    let member = |state: &[Vec<bool>], k: usize| -> bool {
        let hit = patterns.iter().zip(state).any(|((j, p), s)| *j == k && s[p.len()]);
        match sets[k] {
            GlobSet::AnyOf(_) => hit,
            GlobSet::NoneOf(_) => !hit,
        }
    };
    let dead = |state: &[Vec<bool>]| -> bool {
        // `inside` or the shape can no longer match.
        (0..2).any(|k| {
            matches!(sets[k], GlobSet::AnyOf(_))
                && patterns.iter().zip(state).all(|((j, _), s)| *j != k || !s.iter().any(|b| *b))
        })
    };
    let start: Vec<Vec<bool>> = patterns
        .iter()
        .map(|(_, p)| {
            let mut s = vec![false; p.len() + 1];
            s[0] = true;
            glob_closure(p, &mut s);
            s
        })
        .collect();
    let mut seen: std::collections::HashSet<Vec<Vec<bool>>> = std::collections::HashSet::new();
    let mut queue: std::collections::VecDeque<(Vec<Vec<bool>>, String)> = std::collections::VecDeque::new();
    let mut regions: Vec<(Vec<bool>, String)> = Vec::new();
    seen.insert(start.clone());
    queue.push_back((start, String::new()));
    while let Some((state, text)) = queue.pop_front() {
        if member(&state, 0) && member(&state, 1) {
            let covered: Vec<bool> = (2..sets.len()).map(|k| member(&state, k)).collect();
            if !regions.iter().any(|(c, _)| *c == covered) {
                regions.push((covered, text.clone()));
            }
        }
        for &c in &alphabet {
            let next: Vec<Vec<bool>> =
                patterns.iter().zip(&state).map(|((_, p), s)| glob_step(p, s, c, true)).collect();
            if dead(&next) || seen.contains(&next) {
                continue;
            }
            if seen.len() >= GLOB_STATE_LIMIT {
                return Err(TooComplex);
            }
            seen.insert(next.clone());
            let mut t = text.clone();
            t.push(c);
            queue.push_back((next, t));
        }
    }
    Ok(regions)
}
