//! The self-service MFA control, verified: the MFA-enforcing group exists and carries the
//! canonical policy unchanged (`self_service_policy_drift`), its statements reach only the
//! caller's own credentials (`self_service_policy_overbroad`), and every user's effective
//! policies really deny sensitive work without MFA (`user_mfa_not_enforced`).
//!
//! Every document is parsed once per run. A document that could not be read or parsed
//! never counts as compliant: the check names it and turns `unknown` for what it covers.

use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use crate::analysis::{overbroad_in, Holds, MfaEnforcement, MfaProber, OverbroadIn};
use crate::catalogue::CheckId;
use crate::config::AuditPolicy;
use crate::model::{Authorization, GroupDetail, UserDetail};
use crate::policy::{canonical_self_service, compare, grants_beyond, PolicyDocument};

use super::finding::{account_finding, user_finding, Finding};
use super::scope::UserScope;

/// Differences listed in a drift finding before "and N more".
const MAX_DIFFERENCES_SHOWN: usize = 12;

/// What the control checks found, and what they could not decide.
#[derive(Debug, Default)]
pub(crate) struct ControlOutcome {
    pub findings: Vec<Finding>,
    /// Per check, the entities it could not judge and why.
    pub unknown: BTreeMap<CheckId, Vec<String>>,
}

/// One policy document that applies to a group or user, as far as it could be had.
#[derive(Debug, Clone)]
struct Doc {
    /// `inline policy X of group G`, `managed policy arn:…`.
    label: String,
    /// The policy's name (inline) or ARN (managed), for finding resources.
    name: String,
    /// Shared: a managed policy attached to many users is parsed once and never copied.
    parsed: Result<Rc<PolicyDocument>, DocProblem>,
}

#[derive(Debug, Clone)]
enum DocProblem {
    /// IAM did not give us the text: we cannot say anything about it.
    Unread(String),
    /// The text is not a policy we can read.
    Invalid(String),
}

impl DocProblem {
    fn reason(&self) -> &str {
        match self {
            DocProblem::Unread(r) | DocProblem::Invalid(r) => r,
        }
    }
}

/// Parsed documents, shared by every user and group that uses them.
struct Library<'a> {
    auth: &'a Authorization,
    managed: BTreeMap<&'a str, Result<Rc<PolicyDocument>, DocProblem>>,
    groups: BTreeMap<&'a str, Vec<Doc>>,
}

impl<'a> Library<'a> {
    fn new(auth: &'a Authorization) -> Self {
        let managed = auth
            .managed_policies
            .iter()
            .map(|(arn, p)| {
                let parsed = match &p.document {
                    Err(failure) => Err(DocProblem::Unread(failure.to_string())),
                    Ok(text) => parse(text),
                };
                (arn.as_str(), parsed)
            })
            .collect();
        let mut lib = Library { auth, managed, groups: BTreeMap::new() };
        for (name, g) in &auth.groups {
            let docs = lib.entity_docs(
                &format!("group {name}"),
                &g.inline_policies,
                &g.inline_documents,
                &g.attached_policies,
            );
            lib.groups.insert(name.as_str(), docs);
        }
        lib
    }

    fn entity_docs(
        &self,
        owner: &str,
        inline_names: &[String],
        inline_documents: &BTreeMap<String, String>,
        attached: &[String],
    ) -> Vec<Doc> {
        let mut out = Vec::new();
        let mut names: Vec<&String> = inline_names.iter().chain(inline_documents.keys()).collect();
        names.sort();
        names.dedup();
        for name in names {
            let parsed = match inline_documents.get(name) {
                None => Err(DocProblem::Unread("IAM returned no document for it".into())),
                Some(text) => parse(text),
            };
            out.push(Doc { label: format!("inline policy {name} of {owner}"), name: name.clone(), parsed });
        }
        for arn in attached {
            let parsed = match self.managed.get(arn.as_str()) {
                None => {
                    Err(DocProblem::Unread("it was not read (no document in the account listing)".into()))
                }
                Some(p) => p.clone(),
            };
            out.push(Doc {
                label: format!("managed policy {arn} (attached to {owner})"),
                name: arn.clone(),
                parsed,
            });
        }
        out
    }

    /// Every identity policy that applies to the user: inline, attached, and through groups.
    /// The user's own documents are returned owned, the groups' borrowed (shared by members).
    fn effective<'s>(&'s self, user: &UserDetail) -> Result<(Vec<Doc>, Vec<&'s Doc>), String> {
        let has_own = !(user.inline_policies.is_empty()
            && user.inline_documents.is_empty()
            && user.attached_policies.is_empty());
        // Most users have no policy of their own: no label is made for them.
        let own = if has_own {
            self.entity_docs(
                &format!("user {}", user.name),
                &user.inline_policies,
                &user.inline_documents,
                &user.attached_policies,
            )
        } else {
            Vec::new()
        };
        let mut shared = Vec::new();
        for group in &user.groups {
            match self.groups.get(group.as_str()) {
                Some(group_docs) => shared.extend(group_docs.iter()),
                None => return Err(format!("group {group} is not in the account listing")),
            }
        }
        Ok((own, shared))
    }
}

fn parse(text: &str) -> Result<Rc<PolicyDocument>, DocProblem> {
    PolicyDocument::parse(text).map(Rc::new).map_err(|e| DocProblem::Invalid(e.to_string()))
}

fn group_resource(name: &str, group: Option<&GroupDetail>) -> String {
    group.map(|g| g.arn.clone()).filter(|a| !a.is_empty()).unwrap_or_else(|| format!("group/{name}"))
}

/// The account id in an IAM ARN (`arn:aws:iam::123456789012:user/x`).
fn account_of(arn: &str) -> Option<&str> {
    arn.split(':').nth(4).filter(|a| !a.is_empty())
}

pub(crate) fn evaluate(
    auth: &Authorization,
    policy: &AuditPolicy,
    scope: &UserScope,
    evaluated: &dyn Fn(CheckId) -> bool,
) -> ControlOutcome {
    let mut out = ControlOutcome::default();
    let checks =
        [CheckId::SelfServicePolicyDrift, CheckId::SelfServicePolicyOverbroad, CheckId::UserMfaNotEnforced];
    if !checks.into_iter().any(evaluated) {
        return out; // Nothing to judge: do not parse a single document.
    }
    let lib = Library::new(auth);
    if evaluated(CheckId::SelfServicePolicyDrift) || evaluated(CheckId::SelfServicePolicyOverbroad) {
        group_checks(&lib, &policy.mfa_group, evaluated, &mut out);
    }
    if evaluated(CheckId::UserMfaNotEnforced) {
        let prober = MfaProber::new();
        // Answers that hold for every member of the same groups (see `check_reusable`), by
        // the groups and the account. Only users with no policy of their own share one: the
        // groups then decide every document and label.
        let mut shared_answers: HashMap<(Vec<&str>, &str), MfaEnforcement> = HashMap::new();
        for user in auth.users.values().filter(|u| scope.includes(&u.name)) {
            let (own, shared) = match lib.effective(user) {
                Ok(docs) => docs,
                Err(reason) => {
                    out.unknown
                        .entry(CheckId::UserMfaNotEnforced)
                        .or_default()
                        .push(format!("{}: {reason}", user.name));
                    continue;
                }
            };
            let docs: Vec<&Doc> = own.iter().chain(shared).collect();
            if let Some(bad) = docs.iter().find_map(|d| d.parsed.as_ref().err().map(|e| (d, e))) {
                out.unknown.entry(CheckId::UserMfaNotEnforced).or_default().push(format!(
                    "{}: {}: {}",
                    user.name,
                    bad.0.label,
                    bad.1.reason()
                ));
                continue;
            }
            let parsed: Vec<(&str, &PolicyDocument)> = docs
                .iter()
                .filter_map(|d| d.parsed.as_ref().ok().map(|p| (d.label.as_str(), p.as_ref())))
                .collect();
            let account = account_of(&user.arn).unwrap_or("000000000000");
            let key =
                own.is_empty().then(|| (user.groups.iter().map(String::as_str).collect::<Vec<_>>(), account));
            let answer = match key.as_ref().and_then(|k| shared_answers.get(k)) {
                Some(answer) => answer.clone(),
                None => {
                    let (answer, holds) = prober.check_reusable(&parsed, &user.name, account);
                    if let (Some(key), Holds::ForEveryName) = (key, holds) {
                        shared_answers.insert(key, answer.clone());
                    }
                    answer
                }
            };
            match answer {
                MfaEnforcement::Enforced => {}
                MfaEnforcement::NotEnforced(gap) => out.findings.push(user_finding(
                    CheckId::UserMfaNotEnforced,
                    &user.name,
                    &user.arn,
                    None,
                    format!(
                        "{} may call {} on {} {} without any MFA deny stopping it (granted by {})",
                        user.name, gap.action, gap.resource, gap.session, gap.granted_by
                    ),
                )),
                MfaEnforcement::Unknown(reason) => out
                    .unknown
                    .entry(CheckId::UserMfaNotEnforced)
                    .or_default()
                    .push(format!("{}: {reason}", user.name)),
            }
        }
    }
    out
}

fn group_checks(
    lib: &Library<'_>,
    name: &str,
    evaluated: &dyn Fn(CheckId) -> bool,
    out: &mut ControlOutcome,
) {
    let group = lib.auth.groups.get(name);
    let resource = group_resource(name, group);
    let docs: &[Doc] = match lib.groups.get(name) {
        Some(docs) => docs,
        None => {
            if evaluated(CheckId::SelfServicePolicyDrift) {
                out.findings.push(account_finding(
                    CheckId::SelfServicePolicyDrift,
                    &resource,
                    format!("the MFA-enforcing group {name} does not exist, so the self-service MFA policy binds nobody"),
                ));
            }
            return;
        }
    };

    if evaluated(CheckId::SelfServicePolicyDrift) {
        match canonical_self_service() {
            Err(e) => out
                .unknown
                .entry(CheckId::SelfServicePolicyDrift)
                .or_default()
                .push(format!("the canonical policy does not parse: {e}")),
            Ok(canonical) => drift(name, &resource, docs, &canonical, out),
        }
    }
    if evaluated(CheckId::SelfServicePolicyOverbroad) {
        // Every document of the group is judged, and judged together: a Deny in one takes an
        // Allow of another back for every member.
        let mut parsed: Vec<(&Doc, &PolicyDocument)> = Vec::new();
        for doc in docs {
            match &doc.parsed {
                Ok(p) => parsed.push((doc, p.as_ref())),
                Err(problem) => out
                    .unknown
                    .entry(CheckId::SelfServicePolicyOverbroad)
                    .or_default()
                    .push(format!("{}: {}", doc.label, problem.reason())),
            }
        }
        let documents: Vec<&PolicyDocument> = parsed.iter().map(|(_, p)| *p).collect();
        // One finding per statement, naming every action it over-reaches with.
        let mut by_statement: BTreeMap<(usize, usize, String), Vec<String>> = BTreeMap::new();
        for OverbroadIn { policy, finding: o } in overbroad_in(&documents) {
            if o.certain {
                by_statement.entry((policy, o.statement, o.sid)).or_default().push(o.action);
            } else {
                out.unknown
                    .entry(CheckId::SelfServicePolicyOverbroad)
                    .or_default()
                    .push(format!("{}, statement {}: {}", parsed[policy].0.label, o.sid, o.reason));
            }
        }
        for ((policy, index, sid), actions) in by_statement {
            let (doc, document) = parsed[policy];
            // The statement's own resources say why: they are not limited to the caller.
            let resources = document
                .statements
                .get(index)
                .map(|st| st.resources.patterns().join(", "))
                .unwrap_or_default();
            out.findings.push(account_finding(
                CheckId::SelfServicePolicyOverbroad,
                &format!("{resource} policy {} statement {sid}", doc.name),
                format!(
                    "statement {sid} of {} lets a member of {name} act on other users' credentials with {} \
                     (resource {resources} is not limited to the caller's own)",
                    doc.label,
                    actions.join(", ")
                ),
            ));
        }
    }
}

fn drift(name: &str, resource: &str, docs: &[Doc], canonical: &PolicyDocument, out: &mut ControlOutcome) {
    let mut closest: Option<(&Doc, Vec<String>)> = None;
    let mut unread = Vec::new();
    let mut invalid = Vec::new();
    for (at, doc) in docs.iter().enumerate() {
        match &doc.parsed {
            Ok(parsed) => {
                let diffs: Vec<String> = compare(canonical, parsed).iter().map(ToString::to_string).collect();
                if diffs.is_empty() {
                    // The canonical policy is there, unchanged; the group's other policies
                    // must not grant its members more.
                    return extras(name, resource, docs, at, canonical, out);
                }
                if closest.as_ref().is_none_or(|(_, best)| diffs.len() < best.len()) {
                    closest = Some((doc, diffs));
                }
            }
            Err(DocProblem::Unread(r)) => unread.push(format!("{}: {r}", doc.label)),
            Err(DocProblem::Invalid(r)) => invalid.push(format!("{} is not a valid policy ({r})", doc.label)),
        }
    }
    if !unread.is_empty() {
        // The one we could not read may be the canonical policy: we cannot say it is missing.
        out.unknown.entry(CheckId::SelfServicePolicyDrift).or_default().extend(unread);
        return;
    }
    let mut message = format!("group {name} does not carry the canonical self-service policy");
    match closest {
        None if docs.is_empty() => message.push_str("; it has no policy at all"),
        None => {}
        Some((doc, diffs)) => {
            let shown: Vec<&str> = diffs.iter().take(MAX_DIFFERENCES_SHOWN).map(String::as_str).collect();
            message.push_str(&format!("; the closest is {}: {}", doc.label, shown.join("; ")));
            if diffs.len() > MAX_DIFFERENCES_SHOWN {
                message.push_str(&format!("; and {} more differences", diffs.len() - MAX_DIFFERENCES_SHOWN));
            }
        }
    }
    if !invalid.is_empty() {
        message.push_str(&format!("; {}", invalid.join("; ")));
    }
    out.findings.push(account_finding(CheckId::SelfServicePolicyDrift, resource, message));
}

/// The group carries the canonical policy (`docs[canonical_at]`): every other policy of the
/// group is drift if it may grant what the canonical one does not ([`grants_beyond`]), and
/// makes the check `unknown` if it could not be read or parsed (it might).
fn extras(
    name: &str,
    resource: &str,
    docs: &[Doc],
    canonical_at: usize,
    canonical: &PolicyDocument,
    out: &mut ControlOutcome,
) {
    let mut more = Vec::new();
    for (_, doc) in docs.iter().enumerate().filter(|(at, _)| *at != canonical_at) {
        match &doc.parsed {
            Ok(parsed) => {
                let beyond = grants_beyond(canonical, parsed);
                if !beyond.is_empty() {
                    let statements: Vec<String> = beyond.into_iter().map(|(_, s)| s).collect();
                    more.push(format!("{} grants {}", doc.label, statements.join("; ")));
                }
            }
            Err(problem) => out.unknown.entry(CheckId::SelfServicePolicyDrift).or_default().push(format!(
                "cannot tell whether {} grants more than the canonical policy: {}",
                doc.label,
                problem.reason()
            )),
        }
    }
    if !more.is_empty() {
        out.findings.push(account_finding(
            CheckId::SelfServicePolicyDrift,
            resource,
            format!(
                "group {name} carries the canonical self-service policy ({}), but its other policies grant what \
                 the canonical one does not: {}",
                docs[canonical_at].label,
                more.join("; ")
            ),
        ));
    }
}
