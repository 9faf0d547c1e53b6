//! The user's `keywarden/<user>` secret, judged from its metadata: whether keywarden may
//! write a new key there, and which keys' secrets it may hold. The planner asks the second
//! question before it deletes a key, so that a key whose secret someone may hold is never
//! treated as a lost, unstored one.

use std::collections::{BTreeMap, BTreeSet};

use super::record::is_key_id;

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
    /// The secret's ARN, as `DescribeSecret` returns it (with its random suffix).
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
        /// Where [`crate::ports::Rotator::execute`] stores the new key.
        arn: String,
        /// The key id of the `AWSCURRENT` version, when keywarden wrote that version.
        current: Option<String>,
        /// Every key id a version is named after: their secrets are (or were) stored.
        held: BTreeSet<String>,
        /// Some version was not written by keywarden, so what it holds is unknown.
        foreign_versions: bool,
    },
    /// A secret keywarden must not put a user's key into: a human must look.
    Refused {
        /// The secret's ARN, for the human to look at.
        arn: String,
        /// What is wrong with it and how to fix it, for the blocked finding.
        reason: String,
    },
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

    /// The secret's ARN; `None` when there is no secret.
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
