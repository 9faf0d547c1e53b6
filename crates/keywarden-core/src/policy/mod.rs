//! IAM identity-policy documents: parsing, evaluation, and semantic comparison with the
//! canonical self-service policy.
//!
//! The canonical self-service policy (AWS's `Force_MFA` example) lives in
//! `policies/self-service.json` and is embedded as [`CANONICAL_SELF_SERVICE`]: the same file
//! is meant to be deployed by the CDK stack, so there is one source.
//!
//! The evaluator is deliberately conservative: anything it does not understand that could
//! change the answer yields [`Decision::Unknown`] with a reason, never a guess.
//!
//! The layout follows cedar-policy-core's: the document types (`document`), their parser
//! (`parse`) and operators (`operator`), the glob matcher (`pattern`), the request
//! (`request`), the evaluator (`eval`, with typed values in `typed`), glob-set automata
//! (`automaton`) and the comparison (`compare`). The analyses built on the evaluator (the
//! over-broad probe, MFA enforcement) are in [`crate::analysis`], which imports this module
//! and never the reverse.

mod automaton;
mod compare;
mod document;
mod eval;
mod operator;
mod parse;
mod pattern;
mod request;
mod typed;

pub use compare::{
    canonical_self_service, compare, compare_to_canonical, grants_beyond, Difference, CANONICAL_SELF_SERVICE,
};
pub use document::{Actions, Condition, Effect, PolicyDocument, Resources, Statement, VERSION_2012};
pub use eval::{evaluate, evaluate_json, Decision, NO_PERMISSION_ACTIONS};
pub use operator::{BaseOperator, Operator, SetQualifier, UnknownOperator};
pub use parse::PolicyError;
pub use request::Request;

// What the analyses build on: the evaluator's three-valued parts and the automata.
pub(crate) use automaton::regions::action_regions;
pub(crate) use automaton::{
    action_set, glob_witness, is_universal, resource_set, resource_set_widened, set_contains, GlobQuery,
    GlobSet, TooComplex,
};
pub(crate) use document::label;
pub(crate) use eval::{
    eval_condition, evaluate_all, resource_matches, statement_applies_with, statement_name, Tri,
};
pub(crate) use pattern::{action_matches, plain_tokens, tokenize, Tok};
