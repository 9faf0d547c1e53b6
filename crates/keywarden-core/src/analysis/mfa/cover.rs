//! What covers requests made without MFA, and the keys of [`MfaProber`](super::MfaProber)'s
//! memos: the vocabulary of the proof, kept apart from the proof itself.

use std::fmt;
use std::rc::Rc;

use crate::policy::{Actions, GlobSet, TooComplex};

/// What covers some requests made without MFA, so that an allow of them is no gap: a Deny
/// that applies in the session whatever else the request carries, or a set of requests
/// that needs no MFA by design (see [`MfaProber`](super::MfaProber)).
#[derive(Debug, Clone)]
pub(super) struct Cover {
    /// Shared: the same Deny (and the same by-design exemptions) cover every user.
    pub(super) actions: Rc<GlobSet>,
    pub(super) resources: Rc<GlobSet>,
    /// The action patterns as written ([`actions_key`]), to look up [`MfaProber`](super::MfaProber)'s memos.
    pub(super) key: Rc<str>,
}

/// A text that identifies an `Action`/`NotAction` element, and nothing else: each part is
/// prefixed with its length, so no pattern's characters can make two elements one key.
pub(super) fn actions_key(actions: &Actions) -> String {
    let mut key = String::from(actions.element());
    for p in actions.patterns() {
        push_key_part(&mut key, p);
    }
    key
}

/// Appends `part` to a memo key so that the key can be split back unambiguously.
pub(super) fn push_key_part(key: &mut String, part: &str) {
    use fmt::Write as _;
    let _ = write!(key, "|{}:{part}", part.len());
}

/// `action_regions` answers, by the patterns they were asked about.
pub(super) type RegionMemo = std::collections::HashMap<String, Result<Regions, TooComplex>>;

/// What an Allow statement's action element alone decides, the same for every user (actions
/// hold no policy variables): its glob set and the actions to try first.
#[derive(Debug)]
pub(super) struct ActionProbe {
    pub(super) set: GlobSet,
    pub(super) candidates: Vec<String>,
}

/// The covers of one session, and a key naming their actions for [`MfaProber`](super::MfaProber)'s memos.
#[derive(Debug, Clone, Copy)]
pub(super) struct Covers<'a> {
    pub(super) list: &'a [Cover],
    pub(super) key: &'a str,
}

/// For each of an [`ActionProbe`]'s candidates, which covers' actions contain it: a
/// function of the statement's actions and the covers' actions only.
pub(super) type Insides = Rc<Vec<Vec<bool>>>;

/// Each set of covers (a bit per cover) some action meets, with the shortest such action.
pub(super) type Regions = Rc<Vec<(Vec<bool>, String)>>;
