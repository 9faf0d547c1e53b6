//! Over-broad self-service statements: does a self-service policy let a member act on
//! another user's credentials?
//!
//! Answered with the evaluator on probe requests (a caller, a victim), conditions judged from
//! the member's side, so a finding is a request that is really allowed.

use super::concrete::concrete_resource;
use super::credentials::{Target, CREDENTIAL_ACTIONS};
use crate::policy::{
    action_matches, eval_condition, label, statement_applies_with, Actions, Condition, Effect,
    PolicyDocument, PolicyError, Request, Resources, Statement, Tri,
};

/// The test caller used by [`overbroad_self_service`]: a user who must reach nobody else.
pub const PROBE_CALLER: &str = "alice";
/// The default victim's user ARN: another user in the probe account.
pub const PROBE_VICTIM_USER_ARN: &str = "arn:aws:iam::123456789012:user/bob";
/// The default victim's virtual MFA device ARN.
pub const PROBE_VICTIM_MFA_ARN: &str = "arn:aws:iam::123456789012:mfa/bob";

/// Account-level IAM actions: they support no resource-level scoping (resource `*`), so an
/// allow on them cannot be narrowed to one's own user and does not touch anyone's credentials.
const ACCOUNT_LEVEL_ACTIONS: &[&str] = &[
    "iam:GetAccountPasswordPolicy",
    "iam:GetAccountSummary",
    "iam:ListVirtualMFADevices",
    "iam:ListAccountAliases",
    "iam:ListUsers",
    "iam:GetAccountAuthorizationDetails",
    "iam:GetCredentialReport",
    "iam:GenerateCredentialReport",
];

/// A self-service statement that lets a user act on another user's credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overbroad {
    /// The statement's Sid, or `#n` (1-based) without one.
    pub sid: String,
    /// The statement's position in the document, to read the rest of it.
    pub statement: usize,
    /// The IAM action, e.g. `iam:DeleteVirtualMFADevice`.
    pub action: String,
    /// Who may call it on whom, or why the evaluator could not tell.
    pub reason: String,
    /// `false` when the evaluator could not tell (the reason says why): such an entry makes
    /// the check `unknown`, it is not reported as a proven over-broad statement.
    pub certain: bool,
}

/// The concrete IAM actions a statement allows, to probe: literal `iam:` actions as
/// written (except account-level ones), and the known credential actions a wildcard or
/// `NotAction` covers.
fn probe_actions(s: &Statement) -> Vec<(String, Vec<Target>)> {
    let target_of = |a: &str| -> Vec<Target> {
        CREDENTIAL_ACTIONS
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(a))
            .map_or_else(|| vec![Target::User, Target::Mfa], |(_, t)| vec![*t])
    };
    let account_level = |a: &str| ACCOUNT_LEVEL_ACTIONS.iter().any(|n| n.eq_ignore_ascii_case(a));
    let mut out: Vec<(String, Vec<Target>)> = Vec::new();
    let mut push = |a: String| {
        if !out.iter().any(|(x, _)| x.eq_ignore_ascii_case(&a)) {
            let t = target_of(&a);
            out.push((a, t));
        }
    };
    match &s.actions {
        Actions::Action(patterns) => {
            for p in patterns {
                let wildcard = p.contains('*') || p.contains('?');
                if !wildcard {
                    if p.to_ascii_lowercase().starts_with("iam:") && !account_level(p) {
                        push(p.clone());
                    }
                } else {
                    for (a, _) in CREDENTIAL_ACTIONS {
                        if action_matches(p, a) {
                            push((*a).to_string());
                        }
                    }
                }
            }
        }
        Actions::NotAction(patterns) => {
            for (a, _) in CREDENTIAL_ACTIONS {
                if !patterns.iter().any(|p| action_matches(p, a)) {
                    push((*a).to_string());
                }
            }
        }
    }
    out
}

/// Condition keys that name the caller. A member cannot choose them: they decide *who* may
/// make the request, so the over-broad probe judges them for the caller it picked. Every
/// other key is something the member controls (MFA, time, source IP, TLS, region, tags it
/// passes) or may find satisfied (tags on the victim, its own principal tags); the probe
/// counts those as satisfiable, so that a statement is flagged unless only the victim could
/// meet it.
const CALLER_IDENTITY_KEYS: &[&str] = &["aws:username", "aws:PrincipalArn"];

fn is_caller_identity_key(key: &str) -> bool {
    CALLER_IDENTITY_KEYS.iter().any(|k| k.eq_ignore_ascii_case(key))
}

/// The account of the probe's victim when a statement does not name one.
const PROBE_ACCOUNT: &str = "123456789012";

/// The callers to probe a statement with: [`PROBE_CALLER`], and every user a condition on
/// the caller's identity names (`aws:username` = `helpdesk` makes `helpdesk` the caller who
/// might reach others).
fn probe_callers(s: &Statement) -> Vec<String> {
    let mut out = vec![PROBE_CALLER.to_string()];
    for c in s.conditions.iter().filter(|c| is_caller_identity_key(&c.key)) {
        for v in &c.values {
            let name = v.rsplit('/').next().unwrap_or(v).replace('*', "keywarden-probe").replace('?', "x");
            if !name.is_empty() && !name.contains("${") && !out.iter().any(|o| o.eq_ignore_ascii_case(&name))
            {
                out.push(name);
            }
        }
    }
    out
}

/// The name of the IAM user or virtual MFA device a concrete IAM ARN is about, with the
/// resource type (`user` or `mfa`), e.g. `arn:aws:iam::1:user/dev/bob` → (`user`, `bob`).
fn iam_subject(arn: &str) -> Option<(&str, &str)> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    if parts.len() != 6 || parts[0] != "arn" || parts[2] != "iam" {
        return None;
    }
    let (kind, rest) = parts[5].split_once('/')?;
    let name = rest.rsplit('/').next().unwrap_or(rest);
    ((kind == "user" || kind == "mfa") && !name.is_empty()).then_some((kind, name))
}

/// The victims' resources to probe for `caller` and an action authorised on `target`: the
/// default victim's, and every concrete user or device a resource pattern of the statement
/// reaches that is not the caller's own (`user/${aws:username}*` reaches `alicekeywarden-probe`;
/// `arn:aws:iam::555555555555:user/*` reaches a user of that account).
fn probe_victims(s: &Statement, caller: &str, target: Target, substitute: bool) -> Vec<String> {
    let kind = match target {
        Target::User => "user",
        Target::Mfa => "mfa",
    };
    let default = if caller.eq_ignore_ascii_case("bob") { "carol" } else { "bob" };
    let mut out = vec![format!("arn:aws:iam::{PROBE_ACCOUNT}:{kind}/{default}")];
    if let Resources::Resource(patterns) = &s.resources {
        for p in patterns {
            let arn = concrete_resource(p, "iam:x", caller, PROBE_ACCOUNT, substitute);
            if let Some((k, name)) = iam_subject(&arn) {
                if k == kind && !name.eq_ignore_ascii_case(caller) && !out.contains(&arn) {
                    out.push(arn);
                }
            }
        }
    }
    out
}

/// One Allow statement of a self-service policy that lets a member act on another user's
/// credentials, found among several documents (see [`overbroad_in`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverbroadIn {
    /// Index of the document in the slice given to [`overbroad_in`].
    pub policy: usize,
    /// The statement and action found.
    pub finding: Overbroad,
}

/// Finds Allow statements that let a member of a group act on credentials of a user other
/// than themselves, judging every document the group carries together: a Deny in any of them
/// takes an allow back, wherever it is written.
///
/// For each IAM action a statement allows, the evaluator asks whether some caller may perform
/// it on some other user's resource (the default [`PROBE_CALLER`] on
/// [`PROBE_VICTIM_USER_ARN`] or [`PROBE_VICTIM_MFA_ARN`], plus the callers and victims the
/// statement itself names, see `probe_callers` and `probe_victims`). Conditions are
/// judged from the member's side: a condition on the caller's identity
/// (`CALLER_IDENTITY_KEYS`) is evaluated for the chosen caller; every other condition of the
/// Allow counts as met (a member can sign in with MFA, pick the time, network and region,
/// and pass tags), and every other condition of a Deny as avoidable. So an allow conditioned
/// on `aws:MultiFactorAuthAge` is over-broad when its resource is, and a deny only counts when
/// it applies whatever the member does. An answer the evaluator cannot give is reported too
/// (`certain: false`), never passed.
pub fn overbroad_in(docs: &[&PolicyDocument]) -> Vec<OverbroadIn> {
    let mut out = Vec::new();
    for (d, doc) in docs.iter().enumerate() {
        let substitute = doc.substitutes_variables();
        for (i, s) in doc.statements.iter().enumerate() {
            if s.effect != Effect::Allow {
                continue;
            }
            let sid = label(s, i);
            for (action, targets) in probe_actions(s) {
                if let Some((certain, reason)) = overbroad_action(docs, s, substitute, &action, &targets) {
                    out.push(OverbroadIn {
                        policy: d,
                        finding: Overbroad { sid: sid.clone(), statement: i, action, reason, certain },
                    });
                }
            }
        }
    }
    out
}

/// Whether statement `s` lets some caller call `action` on another user's resource, with
/// the reason (`true`: proven, `false`: the evaluator could not tell).
fn overbroad_action(
    docs: &[&PolicyDocument],
    s: &Statement,
    substitute: bool,
    action: &str,
    targets: &[Target],
) -> Option<(bool, String)> {
    let mut unsure = None;
    for caller in probe_callers(s) {
        for &target in targets {
            for victim in probe_victims(s, &caller, target, substitute) {
                let account = victim.split(':').nth(4).unwrap_or(PROBE_ACCOUNT).to_string();
                let req = Request::new(action, &victim, &caller)
                    .with_mfa(true)
                    .with_context("aws:PrincipalArn", &format!("arn:aws:iam::{account}:user/{caller}"));
                let granted = statement_applies_with(s, &req, substitute, &|c: &Condition| {
                    if is_caller_identity_key(&c.key) {
                        eval_condition(c, &req, substitute)
                    } else {
                        Tri::Yes
                    }
                });
                let denied = Tri::or_any(docs.iter().flat_map(|doc| {
                    let sub = doc.substitutes_variables();
                    let req = &req;
                    doc.statements.iter().filter(|d| d.effect == Effect::Deny).map(move |d| {
                        statement_applies_with(d, req, sub, &|c: &Condition| {
                            if is_caller_identity_key(&c.key) {
                                eval_condition(c, req, sub)
                            } else {
                                Tri::No
                            }
                        })
                    })
                }));
                match (granted, denied) {
                    (Tri::Yes, Tri::No) => {
                        return Some((
                            true,
                            format!(
                                "allows user {caller} to call {action} on another user's resource {victim}"
                            ),
                        ))
                    }
                    (Tri::Unknown(r), _) | (Tri::Yes, Tri::Unknown(r)) => {
                        unsure.get_or_insert_with(|| {
                            format!("cannot tell whether user {caller} may call {action} on {victim}: {r}")
                        });
                    }
                    _ => {}
                }
            }
        }
    }
    unsure.map(|r| (false, r))
}

/// Finds Allow statements of one self-service policy that let a user act on credentials of
/// another user: [`overbroad_in`] for a group that carries this document alone.
pub fn overbroad_self_service(doc: &PolicyDocument) -> Vec<Overbroad> {
    overbroad_in(&[doc]).into_iter().map(|o| o.finding).collect()
}

/// Parses a document and runs [`overbroad_self_service`].
pub fn overbroad_self_service_json(text: &str) -> Result<Vec<Overbroad>, PolicyError> {
    Ok(overbroad_self_service(&PolicyDocument::parse(text)?))
}
