//! `GetAccountAuthorizationDetails` mapped into the core's [`Authorization`]: users with
//! their groups, groups, their inline and attached policies with documents, and the
//! account's own managed policies, all from one paged listing.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_iam::types::{AttachedPolicy, EntityType, PolicyDetail};
use keywarden_core::model::{Authorization, GroupDetail, ManagedPolicy, ReadFailure, UserDetail};

use super::{policy_text, IamDirectory, MAX_PAGE};
use crate::error::AwsError;

/// The names and decoded documents of a user's or a group's inline policies. A policy
/// without a name is skipped; one without a document is named but has no document.
fn inline_policies(list: &[PolicyDetail]) -> (Vec<String>, BTreeMap<String, String>) {
    let names = list.iter().filter_map(|p| p.policy_name().map(str::to_string)).collect();
    let documents = list
        .iter()
        .filter_map(|p| Some((p.policy_name()?.to_string(), policy_text(p.policy_document()?))))
        .collect();
    (names, documents)
}

/// The ARNs of a user's or a group's attached managed policies.
fn attached_policies(list: &[AttachedPolicy]) -> Vec<String> {
    list.iter().filter_map(|p| p.policy_arn().map(str::to_string)).collect()
}

impl IamDirectory {
    /// Users and groups with memberships, attachments and tags, all pages.
    pub async fn authorization(&self) -> Result<Authorization, AwsError> {
        const OP: &str = "iam:GetAccountAuthorizationDetails";
        let mut auth = Authorization::default();
        let mut pages = self
            .iam
            .get_account_authorization_details()
            .filter(EntityType::User)
            .filter(EntityType::Group)
            .filter(EntityType::LocalManagedPolicy)
            .max_items(MAX_PAGE)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::from_sdk(OP, &e))?;
            for u in page.user_detail_list() {
                let name = u.user_name().ok_or(AwsError::Malformed {
                    operation: OP,
                    message: "a user without UserName".into(),
                })?;
                let (inline_policies, inline_documents) = inline_policies(u.user_policy_list());
                auth.users.insert(
                    name.to_string(),
                    UserDetail {
                        name: name.to_string(),
                        arn: u.arn().unwrap_or_default().to_string(),
                        path: u.path().unwrap_or("/").to_string(),
                        groups: u.group_list().iter().cloned().collect::<BTreeSet<_>>(),
                        inline_policies,
                        attached_policies: attached_policies(u.attached_managed_policies()),
                        tags: u.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect(),
                        inline_documents,
                    },
                );
            }
            for g in page.group_detail_list() {
                let name = g.group_name().ok_or(AwsError::Malformed {
                    operation: OP,
                    message: "a group without GroupName".into(),
                })?;
                let (inline_policies, inline_documents) = inline_policies(g.group_policy_list());
                auth.groups.insert(
                    name.to_string(),
                    GroupDetail {
                        name: name.to_string(),
                        arn: g.arn().unwrap_or_default().to_string(),
                        inline_policies,
                        attached_policies: attached_policies(g.attached_managed_policies()),
                        inline_documents,
                    },
                );
            }
            for p in page.policies() {
                let Some(arn) = p.arn() else { continue };
                let document = p
                    .policy_version_list()
                    .iter()
                    .find(|v| v.is_default_version())
                    .and_then(|v| v.document())
                    .map(policy_text)
                    .ok_or_else(|| ReadFailure::new(OP, None, "no default version document was returned"));
                auth.managed_policies.insert(
                    arn.to_string(),
                    ManagedPolicy {
                        name: p.policy_name().unwrap_or_default().to_string(),
                        arn: arn.to_string(),
                        document,
                    },
                );
            }
        }
        self.read_attached_aws_policies(&mut auth).await;
        Ok(auth)
    }
}
