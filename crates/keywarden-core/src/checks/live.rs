//! Live reads folded into an evaluation: the credential report is up to four hours old and
//! has no key ids, so a finding about a key is made exact (or dropped) by what IAM shows now,
//! and keywarden's own grace period is recognised only when IAM shows exactly its two keys.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};

use crate::catalogue::CheckId;
use crate::config::AuditPolicy;
use crate::model::{Inventory, LiveDetails, LiveRequest};
use crate::rotation::{RotationState, ROTATION_TAG};

use super::finding::{Evaluation, Finding};

impl Evaluation {
    /// The live reads this evaluation needs. By default only the keys of users whose two
    /// active keys may be keywarden's own rotation (a user mid-rotation, whose next step needs
    /// the read anyway): the audit of any account is otherwise a handful of bulk reads. With
    /// live confirmation, also key ids for key findings and login profiles for unused
    /// passwords.
    pub fn live_request(&self) -> LiveRequest {
        let mut req =
            if self.live_confirmation { live_request(&self.findings) } else { LiveRequest::default() };
        for f in self.findings.iter().filter(|f| f.check == CheckId::TwoActiveAccessKeys) {
            if let Some(user) = f.user.as_ref().filter(|u| self.grace_pairs.contains_key(*u)) {
                req.access_keys_for.insert(user.clone());
            }
        }
        req
    }
}

/// The (old, new) key ids of keywarden's own rotation of `user`, while its grace period
/// lasts: the one time keywarden means both keys to be active. A hold, a human hold or a
/// record past its grace period is not muted: two active keys are then a fact worth saying.
pub(super) fn grace_pair(
    inv: &Inventory,
    user: &str,
    policy: &AuditPolicy,
    now: DateTime<Utc>,
) -> Option<(String, String)> {
    let auth = inv.authorization.as_ref().ok()?;
    let state = auth.users.get(user)?.tags.get(ROTATION_TAG).and_then(|v| RotationState::from_tag(v).ok())?;
    match state {
        RotationState::Grace { old, new, at }
            if now >= at && now < at + Duration::days(i64::from(policy.rotation_grace_days)) =>
        {
            Some((old, new))
        }
        _ => None,
    }
}

/// The live reads that would make the findings exact: key ids for key findings and the
/// login profile for unused passwords (the report may be hours old).
pub fn live_request(findings: &[Finding]) -> LiveRequest {
    let mut req = LiveRequest::default();
    for f in findings {
        let Some(user) = &f.user else { continue };
        if f.key_slot.is_some() {
            req.access_keys_for.insert(user.clone());
        }
        if f.check == CheckId::ConsolePasswordUnused {
            req.login_profile_for.insert(user.clone());
        }
    }
    req
}

/// Folds live reads into the evaluation: key ids are attached by matching the report's
/// creation time (the report has none); a finding about a key or password that no longer
/// exists is dropped with a warning; a failed live read keeps the finding as it was.
pub fn apply_live(ev: &mut Evaluation, live: &LiveDetails) {
    let mut warnings = Vec::new();
    let grace_pairs = &ev.grace_pairs;
    ev.findings.retain_mut(|f| {
        let Some(user) = f.user.clone() else { return true };
        if f.check == CheckId::TwoActiveAccessKeys {
            // Muted only when IAM shows the record's two keys and nothing else active.
            if let (Some((old, new)), Some(Ok(keys))) = (grace_pairs.get(&user), live.access_keys.get(&user))
            {
                let active: BTreeSet<&str> =
                    keys.iter().filter(|k| k.active).map(|k| k.access_key_id.as_str()).collect();
                if active == BTreeSet::from([old.as_str(), new.as_str()]) {
                    return false;
                }
            }
        }
        if let (Some(slot), Some(created)) = (f.key_slot, f.key_created) {
            if let Some(Ok(keys)) = live.access_keys.get(&user) {
                let matching: Vec<_> =
                    keys.iter().filter(|k| (k.created - created).num_seconds().abs() < 1).collect();
                match matching.as_slice() {
                    [key] => f.access_key_id = Some(key.access_key_id.clone()),
                    [] => {
                        warnings.push(format!(
                            "{}: access key {slot} of {user} no longer exists; finding dropped",
                            f.check
                        ));
                        return false;
                    }
                    _ => {}
                }
            }
        }
        if f.check == CheckId::ConsolePasswordUnused {
            if let Some(Ok(false)) = live.login_profiles.get(&user) {
                warnings
                    .push(format!("{}: {user} no longer has a console password; finding dropped", f.check));
                return false;
            }
        }
        true
    });
    ev.warnings.extend(warnings);
}
