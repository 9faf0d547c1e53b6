//! The rotation planner: from one user's live key state, keywarden's own record and `now`,
//! decide the one next step.
//!
//! It is a pure state machine so that its safety rules are proved by property tests rather
//! than hoped for: never more than two keys, never leave a user without an active key it
//! had, never deactivate or delete a key without a stored, active successor, never touch an
//! exempt user, never fight a human who re-activated a key. The executor (in
//! `keywarden-aws`) re-reads live state before every write and carries out exactly the step
//! planned here.
//!
//! ```text
//!  one active key, age ≥ rotate_after
//!    │ intent tag → CreateAccessKey → store secret → grace tag
//!    ▼
//!  GRACE (both active) ── old key used within the in-use window at the end? ─► HOLD
//!    │ after grace                                                          │ not used
//!    ▼                                                                      ▼
//!  INACTIVE (old deactivated) ── re-activated by a human? ─► HOLD
//!    │ after the inactive period, unused
//!    ▼
//!  DELETED (old key deleted, record cleared)
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

/// The user tag that holds keywarden's rotation record.
pub const ROTATION_TAG: &str = "keywarden:rotation";

/// Rotation thresholds; validated together, and defaulted, in [`crate::config`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RotationPolicy {
    pub rotate_after_days: u32,
    pub warn_days: u32,
    pub grace_days: u32,
    pub inactive_days: u32,
    /// A key used within this many hours counts as still in use.
    pub in_use_hours: u32,
}

/// One key as the executor read it just now (`ListAccessKeys` + `GetAccessKeyLastUsed`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveKey {
    pub id: String,
    pub active: bool,
    pub created: DateTime<Utc>,
    pub last_used: Option<DateTime<Utc>>,
}

/// Where a rotation stands, as recorded in the user's `keywarden:rotation` tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "phase")]
pub enum RotationState {
    /// Written before `CreateAccessKey`, so a crash between the two is recoverable.
    Intent { old: String, at: DateTime<Utc> },
    /// The new key exists and its secret is stored; both keys work until `at + grace`.
    Grace { old: String, new: String, at: DateTime<Utc> },
    /// The old key was still in use when the grace period ended; both stay active.
    Hold { old: String, new: String, at: DateTime<Utc> },
    /// The old key was deactivated at `at`.
    Inactive { old: String, new: String, at: DateTime<Utc> },
    /// A human re-activated the old key after keywarden deactivated it (noticed at `at`).
    /// keywarden never deactivates or deletes that key again: the hold ends only when a human
    /// deactivates or deletes the old key, or removes the record.
    HumanHold { old: String, new: String, at: DateTime<Utc> },
}

impl RotationState {
    pub fn phase(&self) -> &'static str {
        match self {
            RotationState::Intent { .. } => "intent",
            RotationState::Grace { .. } => "grace",
            RotationState::Hold { .. } => "hold",
            RotationState::Inactive { .. } => "inactive",
            RotationState::HumanHold { .. } => "human-hold",
        }
    }

    pub fn old(&self) -> &str {
        match self {
            RotationState::Intent { old, .. }
            | RotationState::Grace { old, .. }
            | RotationState::Hold { old, .. }
            | RotationState::Inactive { old, .. }
            | RotationState::HumanHold { old, .. } => old,
        }
    }

    pub fn new_key(&self) -> Option<&str> {
        match self {
            RotationState::Intent { .. } => None,
            RotationState::Grace { new, .. }
            | RotationState::Hold { new, .. }
            | RotationState::Inactive { new, .. }
            | RotationState::HumanHold { new, .. } => Some(new),
        }
    }

    pub fn at(&self) -> DateTime<Utc> {
        match self {
            RotationState::Intent { at, .. }
            | RotationState::Grace { at, .. }
            | RotationState::Hold { at, .. }
            | RotationState::Inactive { at, .. }
            | RotationState::HumanHold { at, .. } => *at,
        }
    }

    /// The tag value. IAM tag values allow letters, digits, spaces and `_ . : / = + - @`.
    pub fn to_tag(&self) -> String {
        let at = self.at().format("%Y%m%dT%H%M%SZ");
        match self.new_key() {
            None => format!("v1 {} old={} at={at}", self.phase(), self.old()),
            Some(new) => format!("v1 {} old={} new={new} at={at}", self.phase(), self.old()),
        }
    }

    /// Parses a tag value; anything unexpected is an error, and the planner then refuses to
    /// act on the user rather than guess.
    pub fn from_tag(value: &str) -> Result<Self, String> {
        let mut words = value.split_whitespace();
        if words.next() != Some("v1") {
            return Err(format!("unsupported rotation record `{value}`"));
        }
        let phase = words.next().ok_or_else(|| format!("rotation record `{value}` has no phase"))?;
        let (mut old, mut new, mut at) = (None, None, None);
        for word in words {
            match word.split_once('=') {
                Some(("old", v)) if is_key_id(v) => old = Some(v.to_string()),
                Some(("new", v)) if is_key_id(v) => new = Some(v.to_string()),
                Some(("at", v)) => {
                    at = NaiveDateTime::parse_from_str(v, "%Y%m%dT%H%M%SZ").ok().map(|t| t.and_utc());
                    if at.is_none() {
                        return Err(format!("rotation record `{value}` has a bad time `{v}`"));
                    }
                }
                _ => return Err(format!("rotation record `{value}` has an unexpected `{word}`")),
            }
        }
        let old = old.ok_or_else(|| format!("rotation record `{value}` names no old key"))?;
        let at = at.ok_or_else(|| format!("rotation record `{value}` has no time"))?;
        let need_new = || new.clone().ok_or_else(|| format!("rotation record `{value}` names no new key"));
        match phase {
            "intent" if new.is_none() => Ok(RotationState::Intent { old, at }),
            "grace" => Ok(RotationState::Grace { old, new: need_new()?, at }),
            "hold" => Ok(RotationState::Hold { old, new: need_new()?, at }),
            "inactive" => Ok(RotationState::Inactive { old, new: need_new()?, at }),
            "human-hold" => Ok(RotationState::HumanHold { old, new: need_new()?, at }),
            _ => Err(format!("rotation record `{value}` has an unknown phase `{phase}`")),
        }
    }
}

fn is_key_id(s: &str) -> bool {
    (16..=128).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The secret's tag that says keywarden created it. It is written by `CreateSecret` itself,
/// in the same call, so a secret without it was made by someone else.
pub const MANAGED_SECRET_TAG: &str = "keywarden:managed";

/// The Secrets Manager version id keywarden writes a key's secret under.
///
/// Writing the value and naming the key it holds is then one call (`PutSecretValue` with
/// this `ClientRequestToken`), so no failure between two writes can leave a stored value
/// whose key a later run cannot tell; and a retried `PutSecretValue` with the same token
/// and value is a no-op, which makes the write idempotent.
pub fn version_id(key_id: &str) -> String {
    // ClientRequestToken must be 32 to 64 characters; key ids are 16 to 128, in practice 20.
    format!("keywarden-{key_id}-version")
}

/// The access key id a secret version holds, if keywarden wrote that version.
pub fn key_of_version(version_id: &str) -> Option<&str> {
    version_id.strip_prefix("keywarden-")?.strip_suffix("-version").filter(|k| is_key_id(k))
}

/// What `DescribeSecret` says about a user's `keywarden/<user>` secret: only metadata,
/// never the value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretFacts {
    pub arn: String,
    /// It carries [`MANAGED_SECRET_TAG`]: keywarden created it.
    pub managed: bool,
    /// Someone scheduled it for deletion (`DeletedDate`).
    pub scheduled_for_deletion: bool,
    /// The KMS key it is encrypted under, as AWS names it; `None` for the AWS managed key.
    pub kms_key_id: Option<String>,
    /// Version id → staging labels (`AWSCURRENT`, `AWSPREVIOUS`, …).
    pub versions: BTreeMap<String, Vec<String>>,
}

/// Whether keywarden may write a user's new key into their secret, and which keys it holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum SecretState {
    /// There is no `keywarden/<user>` secret yet.
    #[default]
    Missing,
    /// A secret keywarden created, under the expected KMS key, not being deleted.
    Usable {
        arn: String,
        /// The key id of the `AWSCURRENT` version, when keywarden wrote that version.
        current: Option<String>,
        /// Every key id a version is named after: their secrets are (or were) stored.
        held: BTreeSet<String>,
        /// Some version was not written by keywarden, so what it holds is unknown.
        foreign_versions: bool,
    },
    /// A secret keywarden must not put a user's key into: a human must look.
    Refused { arn: String, reason: String },
}

impl SecretState {
    /// Judges what `DescribeSecret` said (`None`: no such secret) against the KMS key
    /// keywarden was configured with (`SECRET_KMS_KEY_ID`; `None` for the AWS managed key).
    pub fn judge(facts: Option<SecretFacts>, expected_kms: Option<&str>) -> SecretState {
        let Some(f) = facts else { return SecretState::Missing };
        let refuse = |reason: String| SecretState::Refused { arn: f.arn.clone(), reason };
        if f.scheduled_for_deletion {
            return refuse(format!(
                "the secret {} is scheduled for deletion; restore it (RestoreSecret) or let it go before keywarden stores a key there",
                f.arn
            ));
        }
        if !f.managed {
            return refuse(format!(
                "the secret {} was not created by keywarden (no {MANAGED_SECRET_TAG} tag); keywarden will not write a user's key into a secret someone else controls",
                f.arn
            ));
        }
        if !kms_matches(f.kms_key_id.as_deref(), expected_kms) {
            return refuse(format!(
                "the secret {} is encrypted under {}, not {}; the owner may be unable to decrypt it",
                f.arn,
                f.kms_key_id.as_deref().unwrap_or("the AWS managed key"),
                expected_kms
                    .map(|k| format!("SECRET_KMS_KEY_ID={k}"))
                    .unwrap_or("the AWS managed key".into()),
            ));
        }
        let mut current = None;
        let mut held = BTreeSet::new();
        let mut foreign_versions = false;
        for (version, stages) in &f.versions {
            match key_of_version(version) {
                Some(key) => {
                    held.insert(key.to_string());
                    if stages.iter().any(|s| s == "AWSCURRENT") {
                        current = Some(key.to_string());
                    }
                }
                None => foreign_versions = true,
            }
        }
        SecretState::Usable { arn: f.arn, current, held, foreign_versions }
    }

    pub fn arn(&self) -> Option<&str> {
        match self {
            SecretState::Missing => None,
            SecretState::Usable { arn, .. } | SecretState::Refused { arn, .. } => Some(arn),
        }
    }

    /// The key whose secret the owner gets when they read the secret now.
    pub fn current_key(&self) -> Option<&str> {
        match self {
            SecretState::Usable { current, .. } => current.as_deref(),
            _ => None,
        }
    }

    /// Whether the secret may hold `key_id`'s secret: a version named after it, a version
    /// keywarden did not write, or a secret it cannot judge. Only a key for which this is
    /// false is one whose secret nobody can have got from keywarden.
    pub fn may_hold(&self, key_id: &str) -> bool {
        match self {
            SecretState::Missing => false,
            SecretState::Usable { held, foreign_versions, .. } => *foreign_versions || held.contains(key_id),
            SecretState::Refused { .. } => true,
        }
    }
}

/// Whether the key a secret is encrypted under is the one configured. AWS names a key by id,
/// key ARN, alias or alias ARN; two names match when one ends with the other at a `/` or `:`
/// boundary (`arn:…:key/1234` and `1234`), or both name the AWS managed key.
fn kms_matches(actual: Option<&str>, expected: Option<&str>) -> bool {
    const MANAGED: &str = "alias/aws/secretsmanager";
    let is_managed = |k: Option<&str>| k.is_none_or(|k| k == MANAGED || k.ends_with(&format!(":{MANAGED}")));
    let suffix_of = |long: &str, short: &str| {
        long == short
            || long.strip_suffix(short).is_some_and(|head| head.ends_with('/') || head.ends_with(':'))
    };
    match (actual, expected) {
        (a, e) if is_managed(a) && is_managed(e) => true,
        (Some(a), Some(e)) => suffix_of(a, e) || suffix_of(e, a),
        _ => false,
    }
}

/// One user's state as read live just before planning: never the credential report's
/// hours-old view.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiveUser {
    pub user: String,
    pub arn: String,
    pub keys: Vec<LiveKey>,
    pub tags: BTreeMap<String, String>,
    /// The user's `keywarden/<user>` secret, judged.
    pub secret: SecretState,
}

impl LiveUser {
    /// The planner's view, with the exemption decided by the caller.
    pub fn planner_input(&self, exempt: Option<String>) -> UserKeys {
        UserKeys {
            user: self.user.clone(),
            keys: self.keys.clone(),
            state: self.tags.get(ROTATION_TAG).map(|v| RotationState::from_tag(v)),
            secret: self.secret.clone(),
            exempt,
        }
    }
}

/// The users worth a live read: an active key due (or nearly due) by the credential
/// report, or a rotation record. Keeps per-user calls O(users needing action).
pub fn candidates(inv: &crate::Inventory, policy: &RotationPolicy, now: DateTime<Utc>) -> BTreeSet<String> {
    let mut users = BTreeSet::new();
    if let Ok(report) = &inv.credential_report {
        let soon = now + days(policy.warn_days);
        for row in &report.users {
            let due = row
                .active_keys()
                .filter_map(|k| k.last_rotated.at())
                .any(|created| soon >= created + days(policy.rotate_after_days));
            if due {
                users.insert(row.user.clone());
            }
        }
    }
    if let Ok(auth) = &inv.authorization {
        users.extend(
            auth.users.values().filter(|u| u.tags.contains_key(ROTATION_TAG)).map(|u| u.name.clone()),
        );
    }
    users
}

/// Everything the planner looks at for one user.
#[derive(Debug, Clone)]
pub struct UserKeys {
    pub user: String,
    pub keys: Vec<LiveKey>,
    /// `None`: no record; `Some(Err)`: a record keywarden cannot read.
    pub state: Option<Result<RotationState, String>>,
    /// The user's secret, judged: which keys it holds, and whether keywarden may write it.
    pub secret: SecretState,
    /// Why the user is exempt from rotation, if they are.
    pub exempt: Option<String>,
}

/// Why both keys stay active past the grace period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldCause {
    /// The old key was used within the in-use window when the grace period ended; keywarden
    /// deactivates it once it goes quiet.
    InUse,
    /// A human re-activated the old key after keywarden deactivated it; keywarden never
    /// touches it again until a human ends the hold.
    HumanReactivated,
}

/// The one next step for a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "step")]
pub enum Step {
    /// Nothing to do now.
    None,
    /// The key is due soon; tell the owner.
    Warn {
        key: String,
        due: DateTime<Utc>,
    },
    /// Start a rotation: record the intent, create a key, store its secret.
    Create {
        old: String,
    },
    /// An earlier run created `unstored` (inside its window, never used, its secret stored
    /// nowhere) and stopped or lost the answer before storing it: delete it, then start over.
    Recover {
        old: String,
        unstored: String,
    },
    /// A previous run stored the secret but stopped before recording it: record the grace.
    Resume {
        old: String,
        new: String,
    },
    /// Both keys stay active; alert. `recorded`: the record already says so, nothing to write.
    Hold {
        old: String,
        new: String,
        last_used: Option<DateTime<Utc>>,
        cause: HoldCause,
        recorded: bool,
    },
    Deactivate {
        old: String,
        new: String,
    },
    Delete {
        old: String,
        new: String,
    },
    /// The rotation is over (or was finished by a human): remove the record.
    Clear,
    /// Rotation is due or under way but needs a human.
    Blocked {
        reason: String,
    },
}

/// The kind of a step, without its keys: what the report, the digest and the rotation
/// events name, so the three agree and nobody matches on strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// Nothing to do now.
    None,
    /// The key is due soon.
    Warn,
    /// A rotation starts.
    Create,
    /// An unstored key of an interrupted run is deleted before starting over.
    Recover,
    /// A stored secret's grace period is recorded.
    Resume,
    /// Both keys stay active.
    Hold,
    /// The old key is deactivated.
    Deactivate,
    /// The old key is deleted.
    Delete,
    /// The record is removed.
    Clear,
    /// The rotation needs a human.
    Blocked,
    /// Not known: the user's keys were not read, so no step was planned.
    Unknown,
}

impl StepKind {
    /// The name in reports, digests and SNS message attributes.
    pub fn as_str(self) -> &'static str {
        match self {
            StepKind::None => "none",
            StepKind::Warn => "warn",
            StepKind::Create => "create",
            StepKind::Recover => "recover",
            StepKind::Resume => "resume",
            StepKind::Hold => "hold",
            StepKind::Deactivate => "deactivate",
            StepKind::Delete => "delete",
            StepKind::Clear => "clear",
            StepKind::Blocked => "blocked",
            StepKind::Unknown => "unknown",
        }
    }

    /// Whether a done step of this kind is an event a human wants on its own (the key
    /// changed hands, or both keys stay active); the rest go in the digest only.
    pub fn alerts_when_done(self) -> bool {
        matches!(
            self,
            StepKind::Create | StepKind::Recover | StepKind::Hold | StepKind::Deactivate | StepKind::Delete
        )
    }
}

impl fmt::Display for StepKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad`, so the digest's column widths apply.
        f.pad(self.as_str())
    }
}

impl PartialEq<&str> for StepKind {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<str> for StepKind {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl Step {
    /// The step's kind, for the report.
    pub fn kind(&self) -> StepKind {
        match self {
            Step::None => StepKind::None,
            Step::Warn { .. } => StepKind::Warn,
            Step::Create { .. } => StepKind::Create,
            Step::Recover { .. } => StepKind::Recover,
            Step::Resume { .. } => StepKind::Resume,
            Step::Hold { .. } => StepKind::Hold,
            Step::Deactivate { .. } => StepKind::Deactivate,
            Step::Delete { .. } => StepKind::Delete,
            Step::Clear => StepKind::Clear,
            Step::Blocked { .. } => StepKind::Blocked,
        }
    }

    /// The step's name, as in the report.
    pub fn name(&self) -> &'static str {
        self.kind().as_str()
    }

    /// The old and new key ids the step is about.
    pub fn key_ids(&self) -> (Option<&str>, Option<&str>) {
        match self {
            Step::Warn { key, .. } => (Some(key), None),
            Step::Create { old } => (Some(old), None),
            Step::Recover { old, .. } => (Some(old), None),
            Step::Resume { old, new }
            | Step::Hold { old, new, .. }
            | Step::Deactivate { old, new }
            | Step::Delete { old, new } => (Some(old), Some(new)),
            Step::None | Step::Clear | Step::Blocked { .. } => (None, None),
        }
    }

    /// Whether carrying the step out changes anything in AWS.
    pub fn writes(&self) -> bool {
        match self {
            Step::None | Step::Warn { .. } | Step::Blocked { .. } => false,
            Step::Hold { recorded, .. } => !recorded,
            _ => true,
        }
    }
}

/// A step with the reason a human reads in the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub user: String,
    #[serde(flatten)]
    pub step: Step,
    pub reason: String,
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} ({})", self.user, self.step.name(), self.reason)
    }
}

/// Longer than any Lambda invocation can last (15 minutes): a rotation whose intent is
/// younger may still be carried out by a run in flight.
pub const IN_FLIGHT: Duration = Duration::minutes(20);

/// How much earlier than keywarden's intent IAM may date the key it created: the two clocks
/// are not the same clock.
const CLOCK_SKEW: Duration = Duration::minutes(5);

fn days(n: u32) -> Duration {
    Duration::days(i64::from(n))
}

/// Decides the next step for one user.
pub fn plan(u: &UserKeys, policy: &RotationPolicy, now: DateTime<Utc>) -> Plan {
    let (step, reason) = decide(u, policy, now);
    Plan { user: u.user.clone(), step, reason }
}

fn blocked(reason: impl Into<String>, why: &str) -> (Step, String) {
    (Step::Blocked { reason: reason.into() }, why.to_string())
}

fn decide(u: &UserKeys, p: &RotationPolicy, now: DateTime<Utc>) -> (Step, String) {
    if let Some(why) = &u.exempt {
        return (Step::None, format!("exempt: {why}"));
    }
    let key = |id: &str| u.keys.iter().find(|k| k.id == id);
    let in_use =
        |k: &LiveKey| k.last_used.is_some_and(|t| now - t < Duration::hours(i64::from(p.in_use_hours)));

    let state = match &u.state {
        None => return decide_fresh(u, p, now),
        Some(Err(e)) => return blocked(e.clone(), "unreadable rotation record"),
        Some(Ok(s)) => s,
    };
    if u.keys.len() > 2 {
        return blocked("more than two keys", "IAM state is unexpected");
    }
    if state.new_key() == Some(state.old()) {
        return blocked("the rotation record names one key as both old and new", "corrupt record");
    }
    match state {
        RotationState::Intent { old, at } => decide_intent(u, old, *at, now),
        RotationState::Grace { old, new, at } | RotationState::Hold { old, new, at } => {
            let (Some(old_key), Some(new_key)) = (key(old), key(new)) else {
                return match (key(old), key(new)) {
                    (None, Some(_)) => (Step::Clear, "the old key is already gone".into()),
                    _ => blocked(format!("the new key {new} is gone"), "needs a human"),
                };
            };
            if !new_key.active {
                return blocked(format!("the new key {new} is inactive"), "needs a human");
            }
            if !old_key.active {
                // Someone deactivated the old key for us: continue from there.
                return (
                    Step::Deactivate { old: old.clone(), new: new.clone() },
                    "the old key is already inactive; recording it".into(),
                );
            }
            let held = matches!(state, RotationState::Hold { .. });
            let grace_over = held || now >= *at + days(p.grace_days);
            if !grace_over {
                return (Step::None, format!("grace period until {}", *at + days(p.grace_days)));
            }
            match old_key.last_used.filter(|_| in_use(old_key)) {
                Some(last_used) => (
                    Step::Hold {
                        old: old.clone(),
                        new: new.clone(),
                        last_used: Some(last_used),
                        cause: HoldCause::InUse,
                        recorded: held,
                    },
                    format!("the old key was used at {last_used}, within {}h", p.in_use_hours),
                ),
                None => (
                    Step::Deactivate { old: old.clone(), new: new.clone() },
                    "grace period over; old key not in use".into(),
                ),
            }
        }
        RotationState::Inactive { old, new, at } | RotationState::HumanHold { old, new, at } => {
            let human = matches!(state, RotationState::HumanHold { .. });
            let Some(old_key) = key(old) else {
                return (Step::Clear, "the old key is already gone".into());
            };
            if key(new).is_none_or(|k| !k.active) {
                return blocked(format!("the new key {new} is gone or inactive"), "needs a human");
            }
            if old_key.active {
                // A human re-activated it: never fight a human. Record it, hold and alert
                // on every run until a human ends the hold.
                return (
                    Step::Hold {
                        old: old.clone(),
                        new: new.clone(),
                        last_used: old_key.last_used,
                        cause: HoldCause::HumanReactivated,
                        recorded: human,
                    },
                    if human {
                        format!(
                            "a human re-activated the old key (noticed {at}); keywarden leaves it active until a human deactivates or deletes it"
                        )
                    } else {
                        "the old key was re-activated after keywarden deactivated it".into()
                    },
                );
            }
            if human {
                // The human who held the key has deactivated it: their hold is over, and
                // the inactive period starts from now.
                return (
                    Step::Deactivate { old: old.clone(), new: new.clone() },
                    "a human deactivated the held key; the inactive period starts again".into(),
                );
            }
            if old_key.last_used.is_some_and(|t| t > *at) {
                return (Step::None, "the deactivated key was used since; waiting".into());
            }
            if now >= *at + days(p.inactive_days) {
                (Step::Delete { old: old.clone(), new: new.clone() }, "inactive period over".into())
            } else {
                (Step::None, format!("inactive until {}", *at + days(p.inactive_days)))
            }
        }
    }
}

/// An intent is written before `CreateAccessKey`; what happened after it is settled from
/// IAM and the secret alone, because the answer to the create may never have arrived.
fn decide_intent(u: &UserKeys, old: &str, at: DateTime<Utc>, now: DateTime<Utc>) -> (Step, String) {
    let Some(old_key) = u.keys.iter().find(|k| k.id == old) else {
        return blocked(format!("the key {old} being rotated is gone"), "record is stale");
    };
    let others: Vec<&LiveKey> = u.keys.iter().filter(|k| k.id != old).collect();
    let [new] = others.as_slice() else {
        if !old_key.active {
            return (Step::Clear, "the old key was deactivated by someone else; nothing to rotate".into());
        }
        return match refused(&u.secret) {
            Some(reason) => blocked(reason, "the user's secret cannot take the new key"),
            None => (
                Step::Create { old: old.into() },
                "an earlier rotation stopped before creating the key".into(),
            ),
        };
    };
    if u.secret.current_key() == Some(new.id.as_str()) {
        return if new.active {
            (
                Step::Resume { old: old.into(), new: new.id.clone() },
                "the new key's secret is stored; recording the grace period".into(),
            )
        } else {
            blocked(format!("the stored new key {} was deactivated", new.id), "needs a human")
        };
    }
    // A run still in flight may be storing the secret right now: leave its key alone.
    if now - at < IN_FLIGHT {
        return (Step::None, "another run started this rotation moments ago".into());
    }
    let window_end = at + IN_FLIGHT;
    let why_not_ours = if !old_key.active {
        Some(format!("the old key {old} is inactive"))
    } else if new.created < at - CLOCK_SKEW || new.created > window_end {
        Some(format!("the key {} was created at {}, outside the rotation begun at {at}", new.id, new.created))
    } else if let Some(used) = new.last_used {
        Some(format!("the key {} was used at {used}, so someone holds its secret", new.id))
    } else if u.secret.may_hold(&new.id) {
        Some(format!("the user's secret may hold the key {} (a version keywarden did not write)", new.id))
    } else {
        None
    };
    match why_not_ours {
        // Created inside the run's window, never used, its secret stored nowhere: the key a
        // run created and lost, which nobody can hold. Deleting it strands nobody.
        None => (
            Step::Recover { old: old.into(), unstored: new.id.clone() },
            "an earlier run created a key whose secret was never stored".into(),
        ),
        Some(why) => blocked(
            format!(
                "a second key appeared during rotation that keywarden cannot prove is its own: {why}; delete the key nobody uses, or remove the {ROTATION_TAG} tag"
            ),
            "needs a human",
        ),
    }
}

/// Why the user's secret cannot take a new key, if it cannot.
fn refused(secret: &SecretState) -> Option<String> {
    match secret {
        SecretState::Refused { reason, .. } => Some(reason.clone()),
        _ => None,
    }
}

fn decide_fresh(u: &UserKeys, p: &RotationPolicy, now: DateTime<Utc>) -> (Step, String) {
    let active: Vec<&LiveKey> = u.keys.iter().filter(|k| k.active).collect();
    let due_at = |k: &LiveKey| k.created + days(p.rotate_after_days);
    let due: Vec<&&LiveKey> = active.iter().filter(|k| now >= due_at(k)).collect();
    match (u.keys.len(), active.len()) {
        (_, 0) => (Step::None, "no active key".into()),
        (1, 1) => {
            let k = active[0];
            if now >= due_at(k) {
                match refused(&u.secret) {
                    Some(reason) => blocked(reason, "the user's secret cannot take the new key"),
                    None => (
                        Step::Create { old: k.id.clone() },
                        format!("key is older than {} days", p.rotate_after_days),
                    ),
                }
            } else if now >= due_at(k) - days(p.warn_days) {
                (Step::Warn { key: k.id.clone(), due: due_at(k) }, "rotation due soon".into())
            } else {
                (Step::None, "key is young enough".into())
            }
        }
        _ if due.is_empty() => (Step::None, "no key is due".into()),
        _ => blocked(
            "the user has two keys and no keywarden rotation record; rotating would need a third",
            "a human must delete one key first",
        ),
    }
}
