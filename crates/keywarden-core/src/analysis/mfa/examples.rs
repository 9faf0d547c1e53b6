//! The concrete requests the MFA prover tries: actions people know, resources real ARNs
//! look like, and a context that meets the Allow's own conditions, so a reported gap is a
//! request the evaluator really allows.

use super::verdict::Session;
use super::PRE_MFA_BOOTSTRAP_ACTIONS;
use crate::analysis::concrete::{concrete_resource, substituted};
use crate::analysis::credentials::CREDENTIAL_ACTIONS;
use crate::policy::{
    action_matches, resource_matches, Actions, BaseOperator as B, Request, Resources, Statement, Tri,
};

/// Well-known sensitive actions used to probe wildcard and `NotAction` allows: one from
/// each family an attacker with a stolen key reaches for first.
const PROBE_ACTIONS: &[&str] = &[
    "iam:CreateUser",
    "iam:CreateAccessKey",
    "iam:AttachUserPolicy",
    "iam:PutUserPolicy",
    "iam:PassRole",
    "sts:AssumeRole",
    "ec2:DescribeInstances",
    "ec2:RunInstances",
    "s3:ListAllMyBuckets",
    "s3:GetObject",
    "s3:PutObject",
    "kms:Decrypt",
    "secretsmanager:GetSecretValue",
    "ssm:GetParameter",
    "lambda:InvokeFunction",
    "dynamodb:Scan",
    "cloudtrail:StopLogging",
    "organizations:LeaveOrganization",
];

/// The MFA condition keys a session decides; every other key the analysis does not set has
/// a value it cannot know.
const MFA_PRESENT: &str = "aws:MultiFactorAuthPresent";
const MFA_AGE: &str = "aws:MultiFactorAuthAge";

/// The request a session without MFA makes, for conditions: the MFA keys as the session
/// carries them, every other key of unknown value.
pub(crate) fn session_request(action: &str, resource: &str, username: &str, session: Session) -> Request {
    let req = Request::new(action, resource, username);
    match session {
        Session::AccessKey => req.with_only_absent(&[MFA_PRESENT, MFA_AGE]),
        Session::ConsoleWithoutMfa => req.with_mfa(false).with_only_absent(&[MFA_AGE]),
    }
}

/// Actions to try first: an Allow's literal ones, then well-known sensitive ones its
/// wildcards or `NotAction` cover, then its wildcard patterns filled in.
pub(crate) fn candidate_actions(actions: &Actions) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |a: String| {
        if !out.iter().any(|x| x.eq_ignore_ascii_case(&a)) {
            out.push(a);
        }
    };
    match actions {
        Actions::Action(patterns) => {
            for p in patterns {
                if !(p.contains('*') || p.contains('?')) {
                    push(p.clone());
                    continue;
                }
                known_actions().filter(|a| action_matches(p, a)).for_each(|a| push(a.to_string()));
                // Then the pattern with its wildcards filled in (`logs:DeleteAny`): a family
                // we have no sample for, or members the samples do not stand for.
                if p.contains(':') {
                    push(p.replace('*', "Any").replace('?', "X"));
                }
            }
        }
        Actions::NotAction(patterns) => {
            for a in known_actions() {
                if !patterns.iter().any(|p| action_matches(p, a)) {
                    push(a.to_string());
                }
            }
        }
    }
    out
}

/// Real action names, to name a gap with: the well-known sensitive ones first, then the
/// pre-MFA bootstrap and credential actions.
fn known_actions() -> impl Iterator<Item = &'static str> {
    PROBE_ACTIONS
        .iter()
        .copied()
        .chain(PRE_MFA_BOOTSTRAP_ACTIONS.iter().map(|(a, _)| *a))
        .chain(CREDENTIAL_ACTIONS.iter().map(|(a, _)| *a))
}

/// Concrete resources to try for an action a statement allows, as (pattern as written,
/// ARN): each pattern filled in, and for `*` (or `NotResource`) the shapes real ARNs take:
/// regional with an account, IAM's region-less ARNs, S3's ARNs without region or account,
/// another account's, and `*` itself (actions without resource-level permissions).
pub(crate) fn example_resources(
    s: &Statement,
    action: &str,
    username: &str,
    account: &str,
    substitute: bool,
) -> Vec<(String, String)> {
    let service = action.split(':').next().unwrap_or("aws").to_ascii_lowercase();
    let anything = || {
        vec![
            concrete_resource("*", action, username, account, substitute),
            format!("arn:aws:{service}::{account}:keywarden-probe"),
            format!("arn:aws:{service}:::keywarden-probe/keywarden-probe"),
            format!("arn:aws:{service}:eu-west-1:999999999999:keywarden-probe"),
            "*".to_string(),
        ]
    };
    match &s.resources {
        Resources::Resource(patterns) => patterns
            .iter()
            .flat_map(|p| {
                let arns = if p == "*" {
                    anything()
                } else {
                    vec![concrete_resource(p, action, username, account, substitute)]
                };
                arns.into_iter().map(move |a| (p.clone(), a))
            })
            .collect(),
        Resources::NotResource(patterns) => {
            let label = format!("anything but {}", patterns.join(", "));
            anything().into_iter().map(|a| (label.clone(), a)).collect()
        }
    }
}

/// The pattern of `s` (as written) that `arn` matches, for the message.
pub(crate) fn pattern_for(s: &Statement, arn: &str, username: &str, substitute: bool) -> String {
    match &s.resources {
        Resources::Resource(patterns) => {
            let req =
                Request { resource: arn.to_string(), username: username.to_string(), ..Request::default() };
            patterns
                .iter()
                .find(|p| resource_matches(p, &req, substitute) != Tri::No)
                .or_else(|| patterns.first())
                .cloned()
                .unwrap_or_default()
        }
        Resources::NotResource(patterns) => format!("anything but {}", patterns.join(", ")),
    }
}
/// A request context that meets an Allow statement's conditions, so the probe asks about a
/// request the statement really grants: the first value of each positive string, ARN or
/// Bool condition (wildcards filled in). Keys of negated and `IfExists` conditions are left
/// out (absence satisfies them), and so are the MFA keys, which the session decides.
pub(crate) fn satisfying_context(s: &Statement, username: &str, substitute: bool) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for c in &s.conditions {
        let base = c.operator.base;
        if c.operator.qualifier.is_some()
            || c.operator.if_exists
            || c.key.eq_ignore_ascii_case(MFA_PRESENT)
            || c.key.eq_ignore_ascii_case(MFA_AGE)
            || c.key.eq_ignore_ascii_case("aws:username")
            || out.iter().any(|(k, _)| k.eq_ignore_ascii_case(&c.key))
        {
            continue;
        }
        let value = match base {
            B::Bool
            | B::StringEquals
            | B::StringEqualsIgnoreCase
            | B::StringLike
            | B::ArnEquals
            | B::ArnLike => c.values.first().map(|v| {
                let v = substituted(v, username, substitute);
                if matches!(base, B::StringLike | B::ArnEquals | B::ArnLike) {
                    v.replace('*', "keywarden-probe").replace('?', "x")
                } else {
                    v
                }
            }),
            B::Null if c.values.iter().any(|v| v.eq_ignore_ascii_case("false")) => {
                Some("keywarden-probe".into())
            }
            _ => None,
        };
        if let Some(v) = value {
            out.push((c.key.clone(), v));
        }
    }
    out
}
