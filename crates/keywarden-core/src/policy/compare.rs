//! Semantic comparison of policies: drift from the canonical self-service policy, and the
//! statements of another policy that may grant more than it does.
//!
//! A text diff would flag a reordered list or a `Sid` as drift; what matters to the control
//! is what the document allows, so both comparisons work on meaning.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::automaton::{action_set, glob_set_subset, resource_set, GlobSet};
use super::document::{label, Actions, Effect, PolicyDocument, Resources, Statement};
use super::operator::BaseOperator;
use super::parse::PolicyError;

/// The canonical self-service policy (AWS `Force_MFA`), pretty-printed JSON.
pub const CANONICAL_SELF_SERVICE: &str = include_str!("../../policies/self-service.json");

/// A statement reduced to what it means: Sid dropped, lists as sets, action names lower-cased.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Normalised {
    effect: Effect,
    not_action: bool,
    actions: BTreeSet<String>,
    not_resource: bool,
    resources: BTreeSet<String>,
    /// operator → key (lower-cased) → values.
    conditions: BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
}

fn normalise(s: &Statement) -> Normalised {
    let mut conditions: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for c in &s.conditions {
        let bool_like = matches!(c.operator.base, BaseOperator::Bool | BaseOperator::Null);
        conditions
            .entry(c.operator.to_string())
            .or_default()
            .entry(c.key.to_ascii_lowercase())
            .or_default()
            .extend(c.values.iter().map(|v| if bool_like { v.to_ascii_lowercase() } else { v.clone() }));
    }
    Normalised {
        effect: s.effect,
        not_action: matches!(s.actions, Actions::NotAction(_)),
        actions: s.actions.patterns().iter().map(|a| a.to_ascii_lowercase()).collect(),
        not_resource: matches!(s.resources, Resources::NotResource(_)),
        resources: s.resources.patterns().iter().cloned().collect(),
        conditions,
    }
}

fn render_conditions(c: &BTreeMap<String, BTreeMap<String, BTreeSet<String>>>) -> String {
    if c.is_empty() {
        return "none".to_string();
    }
    let parts: Vec<String> = c
        .iter()
        .flat_map(|(op, keys)| {
            keys.iter().map(move |(k, vs)| {
                format!("{op} {k} = {}", vs.iter().cloned().collect::<Vec<_>>().join(" | "))
            })
        })
        .collect();
    parts.join("; ")
}

/// One semantic difference between an expected (canonical) and an actual policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Difference {
    /// `Version` differs: policy variables are then read differently.
    VersionDiffers {
        /// The expected version, if any.
        expected: Option<String>,
        /// The actual version, if any.
        found: Option<String>,
    },
    /// An expected statement has no counterpart (described in full).
    StatementRemoved {
        /// The expected statement, described.
        statement: String,
    },
    /// A statement has no expected counterpart (described in full).
    StatementAdded {
        /// The actual statement, described.
        statement: String,
    },
    /// A paired statement lacks an expected action.
    ActionMissing {
        /// The statement's Sid or `#n`.
        statement: String,
        /// The action, as the expected statement spells it.
        action: String,
    },
    /// A paired statement lists an action the expected one does not.
    ActionAdded {
        /// The statement's Sid or `#n`.
        statement: String,
        /// The action, as the actual statement spells it.
        action: String,
    },
    /// A paired statement's resources differ.
    ResourceDiffers {
        /// The statement's Sid or `#n`.
        statement: String,
        /// The expected resource patterns.
        expected: Vec<String>,
        /// The actual ones.
        found: Vec<String>,
    },
    /// A paired statement's conditions differ (rendered `operator key = values; …`).
    ConditionDiffers {
        /// The statement's Sid or `#n`.
        statement: String,
        /// The expected conditions, rendered.
        expected: String,
        /// The actual ones, rendered.
        found: String,
    },
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Difference::VersionDiffers { expected, found } => write!(
                f,
                "policy version differs: expected {}, found {}",
                expected.as_deref().unwrap_or("none"),
                found.as_deref().unwrap_or("none")
            ),
            Difference::StatementRemoved { statement } => write!(f, "statement removed: {statement}"),
            Difference::StatementAdded { statement } => write!(f, "statement added: {statement}"),
            Difference::ActionMissing { statement, action } => {
                write!(f, "statement {statement}: action {action} missing")
            }
            Difference::ActionAdded { statement, action } => {
                write!(f, "statement {statement}: action {action} added")
            }
            Difference::ResourceDiffers { statement, expected, found } => write!(
                f,
                "statement {statement}: resource differs (expected {}, found {})",
                expected.join(", "),
                found.join(", ")
            ),
            Difference::ConditionDiffers { statement, expected, found } => {
                write!(f, "statement {statement}: condition differs (expected {expected}, found {found})")
            }
        }
    }
}

fn describe(s: &Statement, index: usize) -> String {
    let name = label(s, index);
    let actions = s.actions.patterns();
    let shown: Vec<&str> = actions.iter().take(4).map(String::as_str).collect();
    let more = if actions.len() > 4 { format!(", … ({} in all)", actions.len()) } else { String::new() };
    format!(
        "{name} ({} {} {}{more} on {} {})",
        s.effect,
        s.actions.element(),
        shown.join(", "),
        s.resources.element(),
        s.resources.patterns().join(", ")
    )
}

/// Compares `actual` to `expected` semantically: statement order, a string versus a
/// one-element list, whitespace, `Sid`s and the case of action names do not matter.
/// An empty result means the documents are equivalent.
pub fn compare(expected: &PolicyDocument, actual: &PolicyDocument) -> Vec<Difference> {
    let mut diffs = Vec::new();
    if expected.version != actual.version {
        diffs.push(Difference::VersionDiffers {
            expected: expected.version.clone(),
            found: actual.version.clone(),
        });
    }
    let exp: Vec<(usize, &Statement, Normalised)> =
        expected.statements.iter().enumerate().map(|(i, s)| (i, s, normalise(s))).collect();
    let act: Vec<(usize, &Statement, Normalised)> =
        actual.statements.iter().enumerate().map(|(i, s)| (i, s, normalise(s))).collect();

    // 1. Exact (normalised) matches, as a multiset.
    let mut exp_left: Vec<usize> = Vec::new();
    let mut act_used = vec![false; act.len()];
    for (ei, (_, _, en)) in exp.iter().enumerate() {
        match act.iter().enumerate().position(|(ai, (_, _, an))| !act_used[ai] && an == en) {
            Some(ai) => act_used[ai] = true,
            None => exp_left.push(ei),
        }
    }
    // 2. Pair what is left: same Sid first, else same effect and element kinds with the
    //    largest overlap of actions (or same resources and conditions).
    let mut pairs: Vec<(usize, usize)> = Vec::new();
    let mut unmatched_exp = Vec::new();
    for ei in exp_left {
        let (_, es, en) = &exp[ei];
        let by_sid = es.sid.as_ref().and_then(|sid| {
            act.iter().enumerate().position(|(ai, (_, s, n))| {
                !act_used[ai] && s.sid.as_ref() == Some(sid) && n.effect == en.effect
            })
        });
        let best = by_sid.or_else(|| {
            act.iter()
                .enumerate()
                .filter(|(ai, (_, _, n))| {
                    !act_used[*ai]
                        && n.effect == en.effect
                        && n.not_action == en.not_action
                        && n.not_resource == en.not_resource
                })
                .filter_map(|(ai, (_, _, n))| {
                    // Pair only statements that share at least half of the larger action
                    // list, or everything but the actions: an edited statement, not a
                    // different one that happens to share an action.
                    let overlap = n.actions.intersection(&en.actions).count();
                    let same_rest = n.resources == en.resources && n.conditions == en.conditions;
                    let similar = overlap * 2 >= n.actions.len().max(en.actions.len()) && overlap > 0;
                    (similar || same_rest).then_some((ai, overlap * 2 + usize::from(same_rest)))
                })
                .max_by_key(|(ai, score)| (*score, std::cmp::Reverse(*ai)))
                .map(|(ai, _)| ai)
        });
        match best {
            Some(ai) => {
                act_used[ai] = true;
                pairs.push((ei, ai));
            }
            None => unmatched_exp.push(ei),
        }
    }
    for ei in unmatched_exp {
        let (i, s, _) = &exp[ei];
        diffs.push(Difference::StatementRemoved { statement: describe(s, *i) });
    }
    for (ei, ai) in pairs {
        let (i, es, en) = &exp[ei];
        let (j, as_, an) = &act[ai];
        let name = es.sid.clone().unwrap_or_else(|| label(as_, *j));
        if en.effect != an.effect || en.not_action != an.not_action || en.not_resource != an.not_resource {
            // Same Sid but a different kind of statement: report it as replaced.
            diffs.push(Difference::StatementRemoved { statement: describe(es, *i) });
            diffs.push(Difference::StatementAdded { statement: describe(as_, *j) });
            continue;
        }
        for a in en.actions.difference(&an.actions) {
            diffs.push(Difference::ActionMissing { statement: name.clone(), action: original_case(es, a) });
        }
        for a in an.actions.difference(&en.actions) {
            diffs.push(Difference::ActionAdded { statement: name.clone(), action: original_case(as_, a) });
        }
        if en.resources != an.resources {
            diffs.push(Difference::ResourceDiffers {
                statement: name.clone(),
                expected: en.resources.iter().cloned().collect(),
                found: an.resources.iter().cloned().collect(),
            });
        }
        if en.conditions != an.conditions {
            diffs.push(Difference::ConditionDiffers {
                statement: name.clone(),
                expected: render_conditions(&en.conditions),
                found: render_conditions(&an.conditions),
            });
        }
    }
    for (ai, used) in act_used.iter().enumerate() {
        if !used {
            let (j, s, _) = &act[ai];
            diffs.push(Difference::StatementAdded { statement: describe(s, *j) });
        }
    }
    diffs
}

fn original_case(s: &Statement, lower: &str) -> String {
    s.actions
        .patterns()
        .iter()
        .find(|a| a.to_ascii_lowercase() == lower)
        .cloned()
        .unwrap_or_else(|| lower.to_string())
}

/// Parses [`CANONICAL_SELF_SERVICE`].
pub fn canonical_self_service() -> Result<PolicyDocument, PolicyError> {
    PolicyDocument::parse(CANONICAL_SELF_SERVICE)
}

/// Compares a document to the canonical self-service policy (see [`compare`]).
pub fn compare_to_canonical(actual: &PolicyDocument) -> Result<Vec<Difference>, PolicyError> {
    Ok(compare(&canonical_self_service()?, actual))
}
/// Stands for `${aws:username}` when statements are compared for every member at once: a
/// character no IAM user name (`[\w+=,.@-]`) and no policy pattern contains, so a pattern
/// with the variable is contained in another only if that one has the variable in the same
/// place or a wildcard over it.
const ANY_MEMBER: &str = "\u{E000}";

/// The statements of `extra` that may grant something no statement of `canonical` grants to
/// the same member: an Allow is covered when a single unconditional (or identically
/// conditioned, and no more) Allow of `canonical` contains its actions and its resources.
/// Denies never grant. When containment cannot be proven the statement is listed, so the
/// answer errs towards "grants more".
pub fn grants_beyond(canonical: &PolicyDocument, extra: &PolicyDocument) -> Vec<(usize, String)> {
    let cover: Vec<(GlobSet, Option<GlobSet>, Normalised)> = canonical
        .statements
        .iter()
        .filter(|s| s.effect == Effect::Allow)
        .map(|s| {
            (
                action_set(&s.actions),
                resource_set(&s.resources, ANY_MEMBER, canonical.substitutes_variables()).ok(),
                normalise(s),
            )
        })
        .collect();
    let mut out = Vec::new();
    for (i, s) in extra.statements.iter().enumerate() {
        if s.effect != Effect::Allow {
            continue;
        }
        let actions = action_set(&s.actions);
        let resources = resource_set(&s.resources, ANY_MEMBER, extra.substitutes_variables()).ok();
        let conditions = normalise(s).conditions;
        let covered = resources.as_ref().is_some_and(|r| {
            cover.iter().any(|(ca, cr, cn)| {
                // The canonical statement's conditions must all be among this one's: then
                // this one is at most as permissive.
                let narrower = cn.conditions.iter().all(|(op, keys)| {
                    keys.iter().all(|(k, vs)| conditions.get(op).and_then(|m| m.get(k)) == Some(vs))
                });
                narrower
                    && cr.as_ref().is_some_and(|cr| glob_set_subset(r, cr, false) == Some(true))
                    && glob_set_subset(&actions, ca, true) == Some(true)
            })
        });
        if !covered {
            out.push((i, describe(s, i)));
        }
    }
    out
}
