//! Glob sets as automata: containment, and a string that tells two sets apart.
//!
//! The analyses must prove "every request this Allow grants is covered by that Deny", which
//! sampling cannot do; the product of the patterns' automata decides it exactly, within
//! [`GLOB_STATE_LIMIT`] states, and otherwise says so ([`TooComplex`]).

use std::collections::BTreeSet;

use super::document::{Actions, Resources};
use super::pattern::{glob, glob_with, plain_tokens, tokenize, Tok, Wild};
use super::request::Request;

pub(crate) mod regions;
#[cfg(test)]
mod tests;

/// A set of strings given by `*`/`?` globs, as an `Action`/`Resource` element gives one:
/// any string one of the patterns matches, or (for `NotAction`/`NotResource`) any string
/// none of them matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum GlobSet {
    /// Strings one of the patterns matches.
    AnyOf(Vec<Vec<Tok>>),
    /// Strings none of them matches.
    NoneOf(Vec<Vec<Tok>>),
}

/// The analysis gave up: the patterns make too many automaton states to explore.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TooComplex;

/// How many automaton states a [`glob_witness`] search may visit before it gives up.
pub(crate) const GLOB_STATE_LIMIT: usize = 20_000;

/// The glob patterns (as tokens) a string must match: at least one pattern of every `all`
/// group, and none of the `none` patterns.
#[derive(Debug, Default)]
pub(crate) struct GlobQuery<'a> {
    all: Vec<&'a [Vec<Tok>]>,
    none: Vec<&'a [Tok]>,
}

impl<'a> GlobQuery<'a> {
    /// The string must be in `set`.
    pub(crate) fn inside(&mut self, set: &'a GlobSet) -> &mut Self {
        match set {
            GlobSet::AnyOf(p) => self.all.push(p),
            GlobSet::NoneOf(p) => self.none.extend(p.iter().map(Vec::as_slice)),
        }
        self
    }
    /// The string must not be in `set`.
    pub(crate) fn outside(&mut self, set: &'a GlobSet) -> &mut Self {
        match set {
            GlobSet::AnyOf(p) => self.none.extend(p.iter().map(Vec::as_slice)),
            GlobSet::NoneOf(p) => self.all.push(p),
        }
        self
    }
}

/// The positions a glob can be at after some input: a bit per position (`0..=len`).
pub(crate) fn glob_closure(p: &[Tok], set: &mut [bool]) {
    // A star may match nothing, so being before it is being after it too. Stars only lead
    // forward, so one forward pass closes the set.
    for i in 0..p.len() {
        if set[i] && p[i] == Tok::Star {
            set[i + 1] = true;
        }
    }
}

/// The positions a glob can be at after reading `c` from `set`.
pub(crate) fn glob_step(p: &[Tok], set: &[bool], c: char, case_insensitive: bool) -> Vec<bool> {
    let mut next = vec![false; p.len() + 1];
    for i in 0..p.len() {
        if !set[i] {
            continue;
        }
        match p[i] {
            Tok::Star => next[i] = true,
            Tok::One => next[i + 1] = true,
            Tok::Lit(x) => {
                if x == c || (case_insensitive && x.eq_ignore_ascii_case(&c)) {
                    next[i + 1] = true;
                }
            }
        }
    }
    glob_closure(p, &mut next);
    next
}

/// A shortest string that satisfies `query`, `None` if there is none: the patterns are
/// compiled to automata whose product is explored breadth-first over the characters the
/// patterns name plus one they do not (every other character behaves like that one).
/// This decides containment exactly: A ⊆ B1 ∪ … ∪ Bn iff no string matches A and none of Bi.
pub(crate) fn glob_witness(
    query: &GlobQuery<'_>,
    case_insensitive: bool,
) -> Result<Option<String>, TooComplex> {
    let patterns: Vec<&[Tok]> = query
        .all
        .iter()
        .flat_map(|g| g.iter().map(Vec::as_slice))
        .chain(query.none.iter().copied())
        .collect();
    let mut groups: Vec<std::ops::Range<usize>> = Vec::with_capacity(query.all.len());
    let mut at = 0;
    for g in &query.all {
        groups.push(at..at + g.len());
        at += g.len();
    }
    let negatives = at..patterns.len();
    let norm = |c: char| if case_insensitive { c.to_ascii_lowercase() } else { c };
    let mut alphabet: BTreeSet<char> = patterns
        .iter()
        .flat_map(|p| p.iter())
        .filter_map(|t| match t {
            Tok::Lit(c) => Some(norm(*c)),
            _ => None,
        })
        .collect();
    if let Some(fresh) = "xqzjkvw0123456789_~#".chars().chain('\u{100}'..).find(|c| !alphabet.contains(c)) {
        alphabet.insert(fresh);
    }
    let alphabet: Vec<char> = alphabet.into_iter().collect();

    let start: Vec<Vec<bool>> = patterns
        .iter()
        .map(|p| {
            let mut s = vec![false; p.len() + 1];
            s[0] = true;
            glob_closure(p, &mut s);
            s
        })
        .collect();
    let accepts = |state: &[Vec<bool>], k: usize| state[k][patterns[k].len()];
    let satisfied = |state: &[Vec<bool>]| {
        groups.iter().all(|g| g.clone().any(|k| accepts(state, k)))
            && !negatives.clone().any(|k| accepts(state, k))
    };
    // A group none of whose patterns can still match is a dead end.
    let alive = |state: &[Vec<bool>]| groups.iter().all(|g| g.clone().any(|k| state[k].iter().any(|b| *b)));

    let mut seen: std::collections::HashMap<Vec<Vec<bool>>, usize> = std::collections::HashMap::new();
    // (state, parent index, character that led here)
    let mut nodes: Vec<(Vec<Vec<bool>>, usize, char)> = Vec::new();
    if !alive(&start) {
        return Ok(None);
    }
    seen.insert(start.clone(), 0);
    nodes.push((start, usize::MAX, '\0'));
    let mut next = 0;
    while next < nodes.len() {
        if satisfied(&nodes[next].0) {
            let mut text = Vec::new();
            let mut n = next;
            while nodes[n].1 != usize::MAX {
                text.push(nodes[n].2);
                n = nodes[n].1;
            }
            return Ok(Some(text.into_iter().rev().collect()));
        }
        for &c in &alphabet {
            let state: Vec<Vec<bool>> = patterns
                .iter()
                .zip(&nodes[next].0)
                .map(|(p, s)| glob_step(p, s, c, case_insensitive))
                .collect();
            if !alive(&state) || seen.contains_key(&state) {
                continue;
            }
            if nodes.len() >= GLOB_STATE_LIMIT {
                return Err(TooComplex);
            }
            seen.insert(state.clone(), nodes.len());
            nodes.push((state, next, c));
        }
        next += 1;
    }
    Ok(None)
}

/// Whether every string in `a` is in `b` (`None`: too complex to tell).
pub(crate) fn glob_set_subset(a: &GlobSet, b: &GlobSet, case_insensitive: bool) -> Option<bool> {
    let mut q = GlobQuery::default();
    q.inside(a).outside(b);
    glob_witness(&q, case_insensitive).ok().map(|w| w.is_none())
}

/// Action patterns as glob tokens (actions have no policy variables).
pub(crate) fn action_set(actions: &Actions) -> GlobSet {
    let toks = |v: &[String]| v.iter().map(|a| plain_tokens(a)).collect();
    match actions {
        Actions::Action(v) => GlobSet::AnyOf(toks(v)),
        Actions::NotAction(v) => GlobSet::NoneOf(toks(v)),
    }
}

/// Resource patterns as glob tokens, `${aws:username}` replaced by `username` (the
/// evaluator's own substitution). `Err` names a variable the evaluator does not know.
pub(crate) fn resource_set(
    resources: &Resources,
    username: &str,
    substitute: bool,
) -> Result<GlobSet, String> {
    let req = Request { username: username.to_string(), ..Request::default() };
    let toks = |v: &[String]| -> Result<Vec<Vec<Tok>>, String> {
        v.iter().map(|p| tokenize(p, &req, substitute, true)).collect()
    };
    Ok(match resources {
        Resources::Resource(v) => GlobSet::AnyOf(toks(v)?),
        Resources::NotResource(v) => GlobSet::NoneOf(toks(v)?),
    })
}
/// Resource patterns as glob tokens for the user, an unknown policy variable widened to `*`:
/// what an Allow grants is then over-approximated, never under.
pub(crate) fn resource_set_widened(resources: &Resources, username: &str, substitute: bool) -> GlobSet {
    let req = Request { username: username.to_string(), ..Request::default() };
    let toks = |v: &[String]| -> Vec<Vec<Tok>> {
        v.iter()
            .map(|p| {
                tokenize(p, &req, substitute, true).unwrap_or_else(|_| {
                    let mut out = Vec::new();
                    let mut rest = p.as_str();
                    while let Some(start) = rest.find("${") {
                        out.extend(plain_tokens(&rest[..start]));
                        out.push(Tok::Star);
                        rest = rest[start..].find('}').map_or("", |end| &rest[start + end + 1..]);
                    }
                    out.extend(plain_tokens(rest));
                    out
                })
            })
            .collect()
    };
    match resources {
        Resources::Resource(v) => GlobSet::AnyOf(toks(v)),
        // Widening a NotResource pattern would narrow the set; keep the text literal, and
        // let the evaluator report the variable for a concrete request.
        Resources::NotResource(v) => GlobSet::NoneOf(v.iter().map(|p| plain_tokens(p)).collect()),
    }
}

/// Whether `text` is in the set.
pub(crate) fn set_contains(set: &GlobSet, text: &str, case_insensitive: bool) -> bool {
    let hit = |pats: &[Vec<Tok>]| {
        if text.is_ascii() {
            // Without allocating: called for every candidate request and every cover.
            let eq = |a: char, b: u8| {
                if case_insensitive {
                    a.eq_ignore_ascii_case(&(b as char))
                } else {
                    a == b as char
                }
            };
            let kind = |t: &Tok| match t {
                Tok::Star => Wild::Star,
                Tok::One => Wild::One,
                Tok::Lit(_) => Wild::Lit,
            };
            pats.iter()
                .any(|p| glob_with(p, text.as_bytes(), kind, |t, b| matches!(t, Tok::Lit(x) if eq(*x, *b))))
        } else {
            let chars: Vec<char> = text.chars().collect();
            pats.iter().any(|p| glob(p, &chars, case_insensitive))
        }
    };
    match set {
        GlobSet::AnyOf(p) => hit(p),
        GlobSet::NoneOf(p) => !hit(p),
    }
}

/// Whether the set is everything (a bare `*` among an `AnyOf`): the common case of a
/// deny on `Resource: "*"`, decided without building an automaton.
pub(crate) fn is_universal(set: &GlobSet) -> bool {
    matches!(set, GlobSet::AnyOf(p) if p.iter().any(|t| t.as_slice() == [Tok::Star]))
}
