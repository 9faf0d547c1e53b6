//! The evaluator: does a set of identity policies allow a request?
//!
//! Three-valued throughout ([`Tri`]): what it cannot decide (an unsupported operator or
//! variable, a context key of unknown value) stays "unknown" up to the [`Decision`], so a
//! caller never mistakes a gap in the evaluator for a deny or an allow.

use super::document::{label, Actions, Condition, Effect, PolicyDocument, Resources, Statement};
use super::operator::{BaseOperator as B, SetQualifier};
use super::pattern::{action_matches, byte_glob, match_tokens, tokenize};
use super::request::{Context, Request};
use super::typed::typed_matches;

/// The answer of the evaluator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// An Allow applies and no Deny does.
    Allowed,
    /// A Deny applies: nothing else can allow the request.
    ExplicitlyDenied,
    /// Nothing applies: IAM's default.
    ImplicitlyDenied,
    /// The answer depends on something the evaluator does not support (or a document that
    /// could not be parsed); the reason says what.
    Unknown(String),
}

/// Three-valued outcome of a match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tri {
    /// It matches.
    Yes,
    /// It does not.
    No,
    /// It could not be decided; the reason says why.
    Unknown(String),
}

impl Tri {
    /// `Yes` or `No`.
    fn from_bool(b: bool) -> Tri {
        if b {
            Tri::Yes
        } else {
            Tri::No
        }
    }
    /// Negation; `Unknown` stays unknown.
    pub(crate) fn not(self) -> Tri {
        match self {
            Tri::Yes => Tri::No,
            Tri::No => Tri::Yes,
            u => u,
        }
    }
    /// Conjunction: a definite `No` wins over `Unknown`.
    fn and_all(items: impl IntoIterator<Item = Tri>) -> Tri {
        let mut unknown = None;
        for t in items {
            match t {
                Tri::No => return Tri::No,
                Tri::Unknown(r) => unknown = unknown.or(Some(r)),
                Tri::Yes => {}
            }
        }
        unknown.map_or(Tri::Yes, Tri::Unknown)
    }
    /// Disjunction: a definite `Yes` wins over `Unknown`.
    pub(crate) fn or_any(items: impl IntoIterator<Item = Tri>) -> Tri {
        let mut unknown = None;
        for t in items {
            match t {
                Tri::Yes => return Tri::Yes,
                Tri::Unknown(r) => unknown = unknown.or(Some(r)),
                Tri::No => {}
            }
        }
        unknown.map_or(Tri::No, Tri::Unknown)
    }
}
/// Whether a `Resource` pattern matches the request's resource.
pub(crate) fn resource_matches(pattern: &str, req: &Request, substitute: bool) -> Tri {
    // Fast path, taken by nearly every pattern: no policy variable, ASCII on both sides.
    if !(substitute && pattern.contains("${")) && pattern.is_ascii() && req.resource.is_ascii() {
        return Tri::from_bool(byte_glob(pattern.as_bytes(), req.resource.as_bytes(), false));
    }
    match tokenize(pattern, req, substitute, true) {
        // In the Resource element a wildcard may span colons (`arn:aws:iam::*` covers every
        // IAM ARN); only the Arn* condition operators compare the ARN's parts separately.
        Ok(toks) => Tri::from_bool(match_tokens(&toks, &req.resource, false, false)),
        Err(reason) => Tri::Unknown(format!("resource {pattern:?}: {reason}")),
    }
}
/// Evaluates one condition test against the request, as IAM documents it:
///
/// * a key the request lacks (or carries as an empty set): `...IfExists` matches, negated
///   operators match, `ForAllValues:` matches (the empty set is a subset of anything),
///   `ForAnyValue:` does not, and every other operator does not;
/// * without a set qualifier, a multi-valued key matches a positive operator when any of
///   its values matches any condition value, and a negated one when none does;
/// * `ForAnyValue:` matches when at least one request value passes the single-value test,
///   `ForAllValues:` when every one does (for a negated operator, the single-value test is
///   "matches none of the condition values");
/// * a Numeric, Date or IP value that does not parse, on either side, makes the condition
///   not match, whatever the operator.
pub(crate) fn eval_condition(c: &Condition, req: &Request, substitute: bool) -> Tri {
    let (qualifier, base, if_exists) = (c.operator.qualifier, c.operator.base, c.operator.if_exists);
    let actual = match req.context_values(&c.key) {
        Context::Values(v) => Some(v),
        Context::Absent => None,
        Context::NotKnown => {
            return Tri::Unknown(format!(
                "condition {} on {}: the key's value is not known",
                c.operator, c.key
            ))
        }
    };
    if base == B::Null {
        if qualifier.is_some() {
            return Tri::Unknown(format!("condition operator {} is not supported", c.operator));
        }
        // Null: "true" means the key must be absent, "false" that it must be present.
        let absent = actual.is_none_or(<[String]>::is_empty);
        return Tri::or_any(c.values.iter().map(|v| match v.to_ascii_lowercase().as_str() {
            "true" => Tri::from_bool(absent),
            "false" => Tri::from_bool(!absent),
            other => Tri::Unknown(format!("Null condition on {} has a non-boolean value {other:?}", c.key)),
        }));
    }
    let negated = base.is_negated();
    let actual = match actual {
        Some(v) if !v.is_empty() => v,
        // Absent key: decided here for every operator, even one we cannot compare values
        // for (`BinaryEquals`), as IAM does not look at the values then.
        _ => {
            return Tri::from_bool(match qualifier {
                Some(SetQualifier::ForAllValues) => true,
                Some(SetQualifier::ForAnyValue) => if_exists,
                None => if_exists || negated,
            })
        }
    };
    // Does each context value match any condition value (positive form)?
    let per_value: Vec<Tri> = match base {
        B::NumericEquals
        | B::NumericNotEquals
        | B::NumericLessThan
        | B::NumericLessThanEquals
        | B::NumericGreaterThan
        | B::NumericGreaterThanEquals
        | B::DateEquals
        | B::DateNotEquals
        | B::DateLessThan
        | B::DateLessThanEquals
        | B::DateGreaterThan
        | B::DateGreaterThanEquals
        | B::IpAddress
        | B::NotIpAddress => match typed_matches(base, actual, &c.values) {
            Some(v) => v.into_iter().map(Tri::from_bool).collect(),
            None => return Tri::No,
        },
        B::Bool
        | B::StringEquals
        | B::StringNotEquals
        | B::StringEqualsIgnoreCase
        | B::StringNotEqualsIgnoreCase
        | B::StringLike
        | B::StringNotLike
        | B::ArnEquals
        | B::ArnLike
        | B::ArnNotEquals
        | B::ArnNotLike => {
            // (wildcards, case-insensitive, ARN-aware)
            let (wildcards, ci, arn) = match base {
                B::Bool => (false, true, false),
                B::StringEquals | B::StringNotEquals => (false, false, false),
                B::StringEqualsIgnoreCase | B::StringNotEqualsIgnoreCase => (false, true, false),
                B::StringLike | B::StringNotLike => (true, false, false),
                // ArnEquals and ArnLike behave the same in IAM: per-part wildcard match.
                _ => (true, false, true),
            };
            let mut patterns = Vec::with_capacity(c.values.len());
            for cv in &c.values {
                match tokenize(cv, req, substitute && base != B::Bool, wildcards) {
                    Ok(t) => patterns.push(t),
                    Err(r) => return Tri::Unknown(format!("condition on {}: {r}", c.key)),
                }
            }
            actual
                .iter()
                .map(|v| Tri::from_bool(patterns.iter().any(|p| match_tokens(p, v, ci, arn))))
                .collect()
        }
        // `BinaryEquals` (values we cannot compare); `Null` was decided above.
        B::BinaryEquals | B::Null => {
            return Tri::Unknown(format!("condition operator {} is not supported", c.operator))
        }
    };
    let single = |t: Tri| if negated { t.not() } else { t };
    match qualifier {
        None => {
            let any = Tri::or_any(per_value);
            if negated {
                any.not()
            } else {
                any
            }
        }
        Some(SetQualifier::ForAllValues) => Tri::and_all(per_value.into_iter().map(single)),
        Some(SetQualifier::ForAnyValue) => Tri::or_any(per_value.into_iter().map(single)),
    }
}

/// Whether statement `s` applies to the request, its conditions judged from the request.
fn statement_applies(s: &Statement, req: &Request, substitute: bool) -> Tri {
    statement_applies_with(s, req, substitute, &|c: &Condition| eval_condition(c, req, substitute))
}

/// [`statement_applies`] with the conditions judged by `condition` (the analyses decide some
/// conditions from the caller's side instead of from a request).
pub(crate) fn statement_applies_with(
    s: &Statement,
    req: &Request,
    substitute: bool,
    condition: &dyn Fn(&Condition) -> Tri,
) -> Tri {
    let action = match &s.actions {
        Actions::Action(p) => p.iter().any(|a| action_matches(a, &req.action)),
        Actions::NotAction(p) => !p.iter().any(|a| action_matches(a, &req.action)),
    };
    if !action {
        return Tri::No;
    }
    let resource = match &s.resources {
        Resources::Resource(p) => Tri::or_any(p.iter().map(|r| resource_matches(r, req, substitute))),
        Resources::NotResource(p) => {
            Tri::or_any(p.iter().map(|r| resource_matches(r, req, substitute))).not()
        }
    };
    if resource == Tri::No {
        return Tri::No;
    }
    let conditions = Tri::and_all(s.conditions.iter().map(condition));
    Tri::and_all([resource, conditions])
}

/// `statement <sid or #n>`, as messages name a statement.
pub(crate) fn statement_name(s: &Statement, index: usize) -> String {
    format!("statement {}", label(s, index))
}

/// STS operations that IAM does not authorise at all. AWS documents for both that no
/// permission is needed and that a policy, even an explicit deny, cannot stop them
/// ("You cannot use policies to control authentication operations"); `GetSessionToken` is
/// how a user without MFA gets an MFA session in the first place.
pub const NO_PERMISSION_ACTIONS: &[&str] = &["sts:GetSessionToken", "sts:GetCallerIdentity"];

/// Whether `action` is one of [`NO_PERMISSION_ACTIONS`].
fn needs_no_permission(action: &str) -> bool {
    NO_PERMISSION_ACTIONS.iter().any(|a| a.eq_ignore_ascii_case(action))
}

/// Evaluates a request against all of a user's identity policies: an explicit deny wins,
/// then an allow, else the request is implicitly denied. If a statement that could change
/// that answer cannot be evaluated, the answer is [`Decision::Unknown`].
/// [`NO_PERMISSION_ACTIONS`] are always allowed.
pub fn evaluate(policies: &[PolicyDocument], req: &Request) -> Decision {
    evaluate_all(policies.iter(), req)
}

/// [`evaluate`] over any documents (the analyses hold them borrowed).
pub(crate) fn evaluate_all<'a>(
    policies: impl Iterator<Item = &'a PolicyDocument> + Clone,
    req: &Request,
) -> Decision {
    if needs_no_permission(&req.action) {
        return Decision::Allowed;
    }
    // Denies first: an explicit deny ends the evaluation whatever allows there are, and it is
    // usually one statement (the MFA deny), so most requests stop there.
    match any_applies(policies.clone(), req, Effect::Deny) {
        Tri::Yes => Decision::ExplicitlyDenied,
        Tri::Unknown(r) => Decision::Unknown(r),
        Tri::No => match any_applies(policies, req, Effect::Allow) {
            Tri::Yes => Decision::Allowed,
            Tri::Unknown(r) => Decision::Unknown(r),
            Tri::No => Decision::ImplicitlyDenied,
        },
    }
}

/// Whether a statement with `effect` applies to the request: `Yes` at the first that does,
/// else the first that could not be decided (named), else `No`.
fn any_applies<'a>(policies: impl Iterator<Item = &'a PolicyDocument>, req: &Request, effect: Effect) -> Tri {
    Tri::or_any(policies.flat_map(|doc| {
        let substitute = doc.substitutes_variables();
        doc.statements.iter().enumerate().filter(move |(_, s)| s.effect == effect).map(move |(i, s)| {
            match statement_applies(s, req, substitute) {
                Tri::Unknown(r) => Tri::Unknown(format!("{}: {r}", statement_name(s, i))),
                t => t,
            }
        })
    }))
}

/// Like [`evaluate`], from JSON texts: a document that does not parse makes the answer
/// [`Decision::Unknown`] with the parse error as the reason (never a pass).
pub fn evaluate_json(policies: &[&str], req: &Request) -> Decision {
    if needs_no_permission(&req.action) {
        return Decision::Allowed;
    }
    let mut docs = Vec::with_capacity(policies.len());
    for (i, text) in policies.iter().enumerate() {
        match PolicyDocument::parse(text) {
            Ok(d) => docs.push(d),
            Err(e) => return Decision::Unknown(format!("policy #{}: {e}", i + 1)),
        }
    }
    evaluate(&docs, req)
}
