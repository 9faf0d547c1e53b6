//! AWS-managed policies (AdministratorAccess, PowerUserAccess, …) are not in the
//! authorization listing: asking for them there returns every AWS-managed policy in
//! existence. Only the ones attached to a user or group matter, so each is read on its own
//! (two calls per distinct policy, not per user).

use std::collections::BTreeSet;

use futures::stream::{self, StreamExt};
use keywarden_core::model::{Authorization, ManagedPolicy, ReadFailure};
use tracing::warn;

use super::{policy_text, IamDirectory};
use crate::error::AwsError;

impl IamDirectory {
    /// Reads every attached policy the listing did not return. A failed read is kept with
    /// the policy, so the checks that need its document say `unknown` for whom it applies to.
    pub(super) async fn read_attached_aws_policies(&self, auth: &mut Authorization) {
        let wanted: BTreeSet<String> = auth
            .users
            .values()
            .flat_map(|u| u.attached_policies.iter())
            .chain(auth.groups.values().flat_map(|g| g.attached_policies.iter()))
            .filter(|arn| !auth.managed_policies.contains_key(*arn))
            .cloned()
            .collect();
        let limit = self.options.live_concurrency.max(1);
        let read: Vec<ManagedPolicy> = stream::iter(wanted)
            .map(|arn| async move {
                let name = arn.rsplit('/').next().unwrap_or(&arn).to_string();
                let document = self.policy_document(&arn).await.map_err(ReadFailure::from);
                ManagedPolicy { name, arn, document }
            })
            .buffer_unordered(limit)
            .collect()
            .await;
        for p in read {
            if let Err(e) = &p.document {
                warn!(policy = %p.arn, error = %e, "could not read a managed policy");
            }
            auth.managed_policies.insert(p.arn.clone(), p);
        }
    }

    /// The default version's document of one managed policy: `GetPolicy` names the default
    /// version, `GetPolicyVersion` holds its text.
    pub async fn policy_document(&self, arn: &str) -> Result<String, AwsError> {
        let policy = self
            .iam
            .get_policy()
            .policy_arn(arn)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("iam:GetPolicy", &e))?;
        let version = policy.policy().and_then(|p| p.default_version_id()).ok_or(AwsError::Malformed {
            operation: "iam:GetPolicy",
            message: format!("policy {arn} has no default version"),
        })?;
        let out = self
            .iam
            .get_policy_version()
            .policy_arn(arn)
            .version_id(version)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("iam:GetPolicyVersion", &e))?;
        out.policy_version().and_then(|v| v.document()).map(policy_text).ok_or(AwsError::Malformed {
            operation: "iam:GetPolicyVersion",
            message: format!("policy {arn} version {version} has no document"),
        })
    }
}
