//! [`MfaProber`]: the proof that every request an Allow grants without MFA is covered.

use std::rc::Rc;

use super::cover::{actions_key, push_key_part, ActionProbe, Cover, Covers, Insides, RegionMemo, Regions};
use super::examples::{
    candidate_actions, example_resources, pattern_for, satisfying_context, session_request,
};
use super::verdict::{Holds, MfaEnforcement, MfaGap, Session};
use super::{PreMfaScope, PRE_MFA_BOOTSTRAP_ACTIONS};
use crate::policy::{
    action_regions, action_set, eval_condition, evaluate_all, glob_witness, is_universal, plain_tokens,
    resource_set, resource_set_widened, set_contains, statement_name, Actions, Decision, Effect, GlobQuery,
    GlobSet, PolicyDocument, Statement, Tok, TooComplex, Tri, NO_PERMISSION_ACTIONS,
};

/// Whether a document can make a condition's outcome depend on who asks: a condition on
/// `aws:username`, or a policy variable in a condition key or value.
fn conditions_read_username(doc: &PolicyDocument) -> bool {
    doc.statements.iter().flat_map(|s| &s.conditions).any(|c| {
        c.key.eq_ignore_ascii_case("aws:username")
            || c.key.contains("${")
            || c.values.iter().any(|v| v.contains("${"))
    })
}

/// Decides whether MFA is enforced for a user: every request an Allow statement grants in a
/// session without MFA (a long-term access key, or a console session without MFA) must be
/// covered, i.e. lie within the actions *and* resources of a Deny that provably applies in
/// that session, or within the requests that need no MFA by design.
///
/// The proof is glob containment, not sampling: an Allow's actions and resources (with
/// `NotAction`/`NotResource`) are compared with the Denies' as sets of strings, exactly, by
/// automata over the patterns; so a Deny on `arn:aws:*:*:<account>:*` does not cover an
/// allow on `*`, which also reaches `arn:aws:s3:::bucket/key` and region-less IAM ARNs.
/// Each uncovered part is then tried as a concrete request with the evaluator: an allowed one
/// is the gap reported ([`MfaEnforcement::NotEnforced`]); a part no concrete request confirms
/// makes the answer [`MfaEnforcement::Unknown`], never "enforced".
///
/// What it decides with: a Deny counts for a session only if every condition of it is
/// definitely true there (conditions on keys other than the MFA keys and `aws:username` are
/// of unknown value, so a Deny limited to a network or a time counts for nothing); an Allow
/// is skipped for a session only if one of its conditions is definitely false there (e.g.
/// `Bool aws:MultiFactorAuthPresent true`, or `NumericLessThan aws:MultiFactorAuthAge`); any
/// other condition of an Allow is assumed met. What it does not model: service control
/// policies, permission boundaries, session policies and resource-based policies (which can
/// only narrow an identity-policy allow, or grant cross-account access the analysis does not
/// see), and which resource types an action really accepts.
#[derive(Debug, Clone)]
pub struct MfaProber {
    /// `action_regions` answers by their patterns: the same group policies are analysed
    /// for every member, and actions hold no policy variables.
    regions: std::cell::RefCell<RegionMemo>,
    /// [`ActionProbe`]s by [`actions_key`]: every member of a group has the same statements.
    probes: std::cell::RefCell<std::collections::HashMap<String, Rc<ActionProbe>>>,
    /// [`Insides`] by the statement's and the covers' action keys.
    insides: std::cell::RefCell<std::collections::HashMap<String, Insides>>,
    /// The by-design exemptions' action sets (`[no permission, account, own, canonical]`),
    /// built once: only the own resources differ between users.
    exempt_actions: [Rc<GlobSet>; 4],
    /// `*`, the resources of the exemptions that are not limited to the user's own.
    anywhere: Rc<GlobSet>,
    /// Set when a statement's resources were compared with its covers' beyond the check
    /// for a Deny on every resource: only from there on do the user's name (in the own
    /// resources, in `${aws:username}`, in example ARNs) and the evaluator's answer for a
    /// concrete request enter the analysis ([`check_reusable`](Self::check_reusable)).
    resources_compared: std::cell::Cell<bool>,
}

impl Default for MfaProber {
    fn default() -> Self {
        Self::new()
    }
}

impl MfaProber {
    /// A prober with empty memos: keep one for a whole run, so that a group's analysis is
    /// shared by its members.
    pub fn new() -> Self {
        let actions = |scope: Option<PreMfaScope>| -> Rc<GlobSet> {
            Rc::new(GlobSet::AnyOf(match scope {
                None => NO_PERMISSION_ACTIONS.iter().map(|a| plain_tokens(a)).collect(),
                Some(scope) => PRE_MFA_BOOTSTRAP_ACTIONS
                    .iter()
                    .filter(|(_, s)| *s == scope)
                    .map(|(a, _)| plain_tokens(a))
                    .collect(),
            }))
        };
        Self {
            regions: Default::default(),
            probes: Default::default(),
            insides: Default::default(),
            exempt_actions: [
                actions(None),
                actions(Some(PreMfaScope::Account)),
                actions(Some(PreMfaScope::OwnResources)),
                actions(Some(PreMfaScope::AnyResource)),
            ],
            anywhere: Rc::new(GlobSet::AnyOf(vec![vec![Tok::Star]])),
            resources_compared: std::cell::Cell::new(false),
        }
    }

    /// The requests that need no MFA: [`NO_PERMISSION_ACTIONS`] anywhere, and
    /// [`PRE_MFA_BOOTSTRAP_ACTIONS`] where their [`PreMfaScope`] says. The account part of
    /// the own resources is left open: IAM user operations never reach another account.
    fn exempt(&self, username: &str, _account: &str) -> Vec<Cover> {
        // `*` in the text is a wildcard; the user name holds none (IAM names are `[\w+=,.@-]`).
        let literal = |s: String| -> Vec<Tok> {
            let mut out = Vec::new();
            for (i, part) in s.split('*').enumerate() {
                if i > 0 {
                    out.push(Tok::Star);
                }
                out.extend(part.chars().map(Tok::Lit));
            }
            out
        };
        let own = vec![
            literal(format!("arn:aws:iam::*:user/{username}")),
            literal(format!("arn:aws:iam::*:user/*/{username}")),
            literal(format!("arn:aws:iam::*:mfa/{username}")),
        ];
        let [none, account, own_actions, canonical] = &self.exempt_actions;
        // The keys name no `Action`/`NotAction` element ([`actions_key`]), so no Deny's.
        vec![
            Cover { actions: none.clone(), resources: self.anywhere.clone(), key: "no permission".into() },
            Cover {
                actions: account.clone(),
                resources: self.anywhere.clone(),
                key: "bootstrap, account".into(),
            },
            Cover {
                actions: own_actions.clone(),
                resources: Rc::new(GlobSet::AnyOf(own)),
                key: "bootstrap, own".into(),
            },
            Cover {
                actions: canonical.clone(),
                resources: self.anywhere.clone(),
                key: "bootstrap, canonical".into(),
            },
        ]
    }

    /// The [`ActionProbe`] of an action element, computed once per distinct element.
    fn probe(&self, key: &str, actions: &Actions) -> Rc<ActionProbe> {
        if let Some(hit) = self.probes.borrow().get(key) {
            return hit.clone();
        }
        let probe = Rc::new(ActionProbe { set: action_set(actions), candidates: candidate_actions(actions) });
        self.probes.borrow_mut().insert(key.to_string(), probe.clone());
        probe
    }

    /// Which covers contain each candidate of `probe`, computed once per statement actions
    /// and covers (`key` names both).
    fn insides_of(&self, key: &str, probe: &ActionProbe, covers: &[Cover]) -> Insides {
        if let Some(hit) = self.insides.borrow().get(key) {
            return hit.clone();
        }
        let insides: Insides = Rc::new(
            probe
                .candidates
                .iter()
                .map(|action| covers.iter().map(|c| set_contains(&c.actions, action, true)).collect())
                .collect(),
        );
        self.insides.borrow_mut().insert(key.to_string(), insides.clone());
        insides
    }

    /// `key` names the statement's actions and the covers' ([`statement_gap`](Self::statement_gap)).
    fn regions_of(&self, key: &str, inside: &GlobSet, covers: &[Cover]) -> Result<Regions, TooComplex> {
        if let Some(hit) = self.regions.borrow().get(key) {
            return hit.clone();
        }
        let sets: Vec<&GlobSet> = covers.iter().map(|c| c.actions.as_ref()).collect();
        let answer = action_regions(inside, &sets).map(Rc::new);
        self.regions.borrow_mut().insert(key.to_string(), answer.clone());
        answer
    }

    /// [`check`](Self::check), and whether the answer holds for every user whose effective
    /// documents are these (the same documents, labels and account): most members of a group
    /// are covered by its Denies on every resource, and the analysis of the first stands for
    /// the rest. Where the name may matter the answer is for this user only.
    ///
    /// Why that is sound: the name enters the analysis in three places only, the request's
    /// `aws:username` (conditions), the substitution of `${aws:username}` (resources and
    /// conditions), and the own-resource exemptions. Conditions that could read it are found
    /// in the text; resources are only looked at past the Deny-on-every-resource shortcut
    /// of `statement_gap`, which marks the analysis as reading them. A gap is always
    /// confirmed on a concrete request, so a `NotEnforced` answer is never shared.
    pub fn check_reusable<L, D>(
        &self,
        policies: &[(L, D)],
        username: &str,
        account: &str,
    ) -> (MfaEnforcement, Holds)
    where
        L: AsRef<str>,
        D: std::borrow::Borrow<PolicyDocument>,
    {
        self.resources_compared.set(false);
        let answer = self.check(policies, username, account);
        let holds = if self.resources_compared.get()
            || matches!(answer, MfaEnforcement::NotEnforced(_))
            || policies.iter().any(|(_, d)| conditions_read_username(d.borrow()))
        {
            Holds::ForThisUser
        } else {
            Holds::ForEveryName
        };
        (answer, holds)
    }

    /// Checks one user's effective identity policies, each with a label for the message.
    /// `account` fills the account part of example ARNs.
    pub fn check<L, D>(&self, policies: &[(L, D)], username: &str, account: &str) -> MfaEnforcement
    where
        L: AsRef<str>,
        D: std::borrow::Borrow<PolicyDocument>,
    {
        let docs = || policies.iter().map(|(_, d)| d.borrow());
        let sessions = [Session::AccessKey, Session::ConsoleWithoutMfa];
        let exempt = self.exempt(username, account);
        let requests = sessions.map(|session| session_request("", "", username, session));
        // Per session, the covers and a key that names their actions, for the memos.
        let covers: Vec<(Vec<Cover>, String)> = requests
            .iter()
            .map(|req| {
                let mut covers = Vec::new();
                for doc in docs() {
                    let substitute = doc.substitutes_variables();
                    for d in doc.statements.iter().filter(|d| d.effect == Effect::Deny) {
                        let applies =
                            d.conditions.iter().all(|c| eval_condition(c, req, substitute) == Tri::Yes);
                        if let (true, Ok(resources)) =
                            (applies, resource_set(&d.resources, username, substitute))
                        {
                            let key = actions_key(&d.actions);
                            covers.push(Cover {
                                actions: Rc::new(self.probe(&key, &d.actions).set.clone()),
                                resources: Rc::new(resources),
                                key: key.into(),
                            });
                        }
                    }
                }
                covers.extend(exempt.iter().cloned());
                let mut key = String::new();
                for c in &covers {
                    push_key_part(&mut key, &c.key);
                }
                (covers, key)
            })
            .collect();
        let mut unknown: Option<String> = None;
        for (label, doc) in policies {
            let (label, doc) = (label.as_ref(), doc.borrow());
            let substitute = doc.substitutes_variables();
            for (i, s) in doc.statements.iter().enumerate().filter(|(_, s)| s.effect == Effect::Allow) {
                // Named only when it is reported: most statements are not.
                let granted_by = || format!("{label}, {}", statement_name(s, i));
                for ((&session, req), (covers, covers_key)) in sessions.iter().zip(&requests).zip(&covers) {
                    if s.conditions.iter().any(|c| eval_condition(c, req, substitute) == Tri::No) {
                        continue; // This allow needs MFA itself.
                    }
                    let covers = Covers { list: covers, key: covers_key };
                    match self.statement_gap(policies, s, substitute, session, covers, username, account) {
                        Ok(None) => {}
                        Ok(Some(Ok(mut gap))) => {
                            gap.granted_by = granted_by();
                            return MfaEnforcement::NotEnforced(gap);
                        }
                        Ok(Some(Err(reason))) | Err(reason) => {
                            unknown.get_or_insert_with(|| format!("{}: {reason}", granted_by()));
                        }
                    }
                }
            }
        }
        unknown.map_or(MfaEnforcement::Enforced, MfaEnforcement::Unknown)
    }

    /// The first request of statement `s` no cover covers in `session`: `Ok(None)` if it is
    /// covered entirely, `Ok(Some(Ok(gap)))` with a request the evaluator allows (its
    /// `granted_by` left for the caller), `Ok(Some(Err(why)))` or `Err(why)` when an
    /// uncovered part could not be confirmed or the analysis gave up.
    #[allow(clippy::too_many_arguments)]
    fn statement_gap<L, D>(
        &self,
        policies: &[(L, D)],
        s: &Statement,
        substitute: bool,
        session: Session,
        covers: Covers<'_>,
        username: &str,
        account: &str,
    ) -> Result<Option<Result<MfaGap, String>>, String>
    where
        L: AsRef<str>,
        D: std::borrow::Borrow<PolicyDocument>,
    {
        // The memos' key: this statement's actions, then the covers'.
        let mut key = actions_key(&s.actions);
        let probe = self.probe(&key, &s.actions);
        push_key_part(&mut key, covers.key);
        let insides = self.insides_of(&key, &probe, covers.list);
        let covers = covers.list;
        let resources = resource_set_widened(&s.resources, username, substitute);
        let context = satisfying_context(s, username, substitute);
        let mut unconfirmed: Option<String> = None;
        // The resources an uncovered action reaches, as (pattern as written, concrete ARN).
        let uncovered = |action: &str, inside: &[bool]| -> Result<Option<(String, String)>, String> {
            let outside: Vec<&GlobSet> =
                covers.iter().zip(inside).filter(|(_, i)| **i).map(|(c, _)| c.resources.as_ref()).collect();
            if outside.iter().any(|r| is_universal(r)) {
                return Ok(None);
            }
            self.resources_compared.set(true);
            // Each pattern written out again in a cover (the canonical policy's own-user
            // statements against the own-resource bootstrap set): contained, no automaton.
            if let GlobSet::AnyOf(ps) = &resources {
                let verbatim =
                    |p: &Vec<Tok>| outside.iter().any(|r| matches!(r, GlobSet::AnyOf(qs) if qs.contains(p)));
                if ps.iter().all(verbatim) {
                    return Ok(None);
                }
            }
            let fits = |arn: &str| {
                set_contains(&resources, arn, false) && !outside.iter().any(|r| set_contains(r, arn, false))
            };
            if let Some(hit) = example_resources(s, action, username, account, substitute)
                .into_iter()
                .find(|(_, arn)| fits(arn))
            {
                return Ok(Some(hit));
            }
            let mut q = GlobQuery::default();
            q.inside(&resources);
            for r in &outside {
                q.outside(r);
            }
            match glob_witness(&q, false) {
                Ok(None) => Ok(None),
                Ok(Some(arn)) => Ok(Some((pattern_for(s, &arn, username, substitute), arn))),
                Err(TooComplex) => Err(format!("the resources of {action} are too complex to compare")),
            }
        };
        let mut confirm = |action: &str, pattern: String, resource: String| -> Option<MfaGap> {
            let mut req = session_request(action, &resource, username, session);
            for (k, v) in &context {
                req = req.with_context(k, v);
            }
            match evaluate_all(policies.iter().map(|(_, d)| d.borrow()), &req) {
                Decision::Allowed => {
                    return Some(MfaGap {
                        action: action.to_string(),
                        resource: pattern,
                        example: resource,
                        session,
                        granted_by: String::new(),
                    })
                }
                Decision::Unknown(r) => {
                    unconfirmed.get_or_insert_with(|| format!("{action} on {pattern}: {r}"));
                }
                Decision::ExplicitlyDenied | Decision::ImplicitlyDenied => {
                    unconfirmed.get_or_insert_with(|| {
                        format!(
                            "no MFA deny is proven to cover {action} on {pattern} {session}, and the request \
                             {resource} could not be shown to be allowed"
                        )
                    });
                }
            }
            None
        };
        // 1. Well-known actions first, so a gap names an action people know.
        for (action, inside) in probe.candidates.iter().zip(insides.iter()) {
            if let Some((pattern, resource)) = uncovered(action, inside)? {
                if let Some(gap) = confirm(action, pattern, resource) {
                    return Ok(Some(Ok(gap)));
                }
            }
        }
        // 2. The proof: every way an action of the statement meets the covers. A list of
        //    literal actions was tried whole above.
        if matches!(&s.actions, Actions::Action(p) if !p.iter().any(|a| a.contains('*') || a.contains('?'))) {
            return Ok(unconfirmed.map(Err));
        }
        let regions = self.regions_of(&key, &probe.set, covers).map_err(|_| {
            format!("the actions of {} are too complex to compare", s.actions.patterns().join(", "))
        })?;
        for (inside, action) in regions.iter() {
            if let Some((pattern, resource)) = uncovered(action, inside)? {
                if let Some(gap) = confirm(action, pattern, resource) {
                    return Ok(Some(Ok(gap)));
                }
            }
        }
        Ok(unconfirmed.map(Err))
    }
}
