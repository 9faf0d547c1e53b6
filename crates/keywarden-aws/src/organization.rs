//! The organization behind [`Organization`]: its accounts from AWS Organizations, and a way
//! into each through the member roles.
//!
//! The listing pages through every account and is all or nothing: a page that fails fails
//! the listing, because a shorter list would leave accounts unaudited with nobody told. OU
//! paths (one `ListParents` per account and per OU above it, each OU asked once) and tags
//! (one `ListTagsForResource` per account) are read only when the selection needs them.
//!
//! Entering an account assumes its audit role, and its rotation role only when the run may
//! write, so an audit never holds credentials that could change a key. The function's own
//! account is entered with its own credentials: a StackSet does not deploy the member roles
//! to the management account. Each member gets its own call counter and clients, so its
//! report counts its own calls, its AssumeRole included.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use aws_sdk_organizations::types::{AccountState, AccountStatus, ParentType};
use aws_sdk_sts::config::{Credentials, SharedCredentialsProvider};
use keywarden_core::config::{AccountSelection, OrganizationConfig};
use keywarden_core::organization::{AccountRef, MemberAccount};
use keywarden_core::ports::{Member, Organization};
use keywarden_core::ReadFailure;
use tokio::sync::OnceCell;

use crate::collector::{CollectorOptions, IamDirectory};
use crate::counter::ApiCallCounter;
use crate::error::AwsError;
use crate::rotator::IamRotator;
use crate::securityhub::SecurityHubSink;

/// The production [`Organization`].
#[derive(Debug)]
pub struct AwsOrganization {
    organizations: aws_sdk_organizations::Client,
    sts: aws_sdk_sts::Client,
    counter: ApiCallCounter,
    sdk: aws_config::SdkConfig,
    config: OrganizationConfig,
    options: CollectorOptions,
    /// The function's own account and its `SECRET_KMS_KEY_ID` / `KEYWARDEN_ROLE_ARN`, which
    /// name resources of that account only.
    own: OnceCell<String>,
    own_kms_key_id: Option<String>,
    own_role_arn: Option<String>,
}

impl AwsOrganization {
    /// `sdk` is the function's own SDK configuration; `counter` counts the listing's calls.
    pub fn new(
        sdk: aws_config::SdkConfig,
        counter: ApiCallCounter,
        config: OrganizationConfig,
        options: CollectorOptions,
        own_kms_key_id: Option<String>,
        own_role_arn: Option<String>,
    ) -> Self {
        let organizations = {
            let conf = aws_sdk_organizations::config::Builder::from(&sdk)
                .retry_config(crate::retry::retry_config())
                .retry_classifier(crate::retry::LostConnectionIsTransient)
                .interceptor(counter.clone())
                .build();
            aws_sdk_organizations::Client::from_conf(conf)
        };
        let sts = crate::clients(&sdk, &counter).sts;
        Self {
            organizations,
            sts,
            counter,
            sdk,
            config,
            options,
            own: OnceCell::new(),
            own_kms_key_id,
            own_role_arn,
        }
    }

    async fn own_account(&self) -> Result<&str, AwsError> {
        self.own
            .get_or_try_init(|| async {
                const OP: &str = "sts:GetCallerIdentity";
                let out =
                    self.sts.get_caller_identity().send().await.map_err(|e| AwsError::from_sdk(OP, &e))?;
                out.account().map(str::to_string).ok_or(AwsError::Malformed {
                    operation: OP,
                    message: "no Account in the response".into(),
                })
            })
            .await
            .map(String::as_str)
    }

    async fn list(&self) -> Result<Vec<MemberAccount>, AwsError> {
        const OP: &str = "organizations:ListAccounts";
        let mut accounts = Vec::new();
        let mut pages = self.organizations.list_accounts().into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::from_sdk(OP, &e))?;
            for a in page.accounts() {
                let (Some(id), Some(name)) = (a.id(), a.name()) else {
                    return Err(AwsError::Malformed {
                        operation: OP,
                        message: "an account without Id or Name".into(),
                    });
                };
                // `State` replaced `Status`; either one saying active is active.
                #[allow(deprecated)]
                let active = match a.state() {
                    Some(state) => *state == AccountState::Active,
                    None => a.status() == Some(&AccountStatus::Active),
                };
                accounts.push(MemberAccount {
                    id: id.into(),
                    name: name.into(),
                    active,
                    ..Default::default()
                });
            }
        }
        Ok(accounts)
    }

    /// The parent of `child`: an OU or the root, with whether it is the root.
    async fn parent(&self, child: &str) -> Result<(String, bool), AwsError> {
        const OP: &str = "organizations:ListParents";
        let out = self
            .organizations
            .list_parents()
            .child_id(child)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(OP, &e))?;
        let Some(p) = out.parents().first() else {
            return Err(AwsError::Malformed { operation: OP, message: format!("{child} has no parent") });
        };
        let id = p.id().ok_or(AwsError::Malformed {
            operation: OP,
            message: format!("a parent of {child} without Id"),
        })?;
        Ok((id.to_string(), p.r#type() == Some(&ParentType::Root)))
    }

    /// Every OU above `account` and the root, nearest first; `cache` keeps each OU's parent.
    async fn ous(
        &self,
        account: &str,
        cache: &Mutex<HashMap<String, (String, bool)>>,
    ) -> Result<Vec<String>, AwsError> {
        let mut path = Vec::new();
        let (mut id, mut root) = self.parent(account).await?;
        loop {
            path.push(id.clone());
            // An organization is at most five OUs deep; a longer chain is a malformed answer.
            if root || path.len() > 6 {
                break;
            }
            let known = cache.lock().ok().and_then(|c| c.get(&id).cloned());
            let next = match known {
                Some(next) => next,
                None => {
                    let next = self.parent(&id).await?;
                    if let Ok(mut c) = cache.lock() {
                        c.insert(id.clone(), next.clone());
                    }
                    next
                }
            };
            (id, root) = next;
        }
        Ok(path)
    }

    async fn tags(&self, account: &str) -> Result<BTreeMap<String, String>, AwsError> {
        const OP: &str = "organizations:ListTagsForResource";
        let mut tags = BTreeMap::new();
        let mut pages =
            self.organizations.list_tags_for_resource().resource_id(account).into_paginator().send();
        while let Some(page) = pages.next().await {
            for t in page.map_err(|e| AwsError::from_sdk(OP, &e))?.tags() {
                tags.insert(t.key().to_string(), t.value().to_string());
            }
        }
        Ok(tags)
    }

    /// Credentials of `role` in `account`, checked to belong to that account.
    async fn assume(
        &self,
        sts: &aws_sdk_sts::Client,
        account: &str,
        role: &str,
        session: &str,
    ) -> Result<aws_config::SdkConfig, AwsError> {
        const OP: &str = "sts:AssumeRole";
        let arn = format!("arn:aws:iam::{account}:role/{role}");
        let out = sts
            .assume_role()
            .role_arn(&arn)
            .role_session_name(session)
            .set_external_id(self.config.external_id.clone())
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(OP, &e))?;
        let malformed = |m: &str| AwsError::Malformed { operation: OP, message: format!("{arn}: {m}") };
        // Refused unless the session is in the account asked for: keys must never be read,
        // let alone rotated, in an account the report would name wrongly.
        let session_account = out.assumed_role_user().and_then(|u| u.arn().split(':').nth(4));
        if session_account != Some(account) {
            return Err(malformed(&format!(
                "the session belongs to account {}",
                session_account.unwrap_or("unknown")
            )));
        }
        let c = out.credentials().ok_or_else(|| malformed("no Credentials in the response"))?;
        let expiry =
            SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(c.expiration().secs()).unwrap_or(0));
        let credentials = Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_string()),
            Some(expiry),
            "keywarden-member-role",
        );
        Ok(self.sdk.to_builder().credentials_provider(SharedCredentialsProvider::new(credentials)).build())
    }

    async fn member(
        &self,
        account: &AccountRef,
        writes: bool,
    ) -> Result<Member<IamDirectory, IamRotator, SecurityHubSink>, AwsError> {
        let counter = ApiCallCounter::new();
        let own = self.own_account().await? == account.id;
        let (audit, rotation, kms, role_arn) = if own {
            (self.sdk.clone(), self.sdk.clone(), self.own_kms_key_id.clone(), self.own_role_arn.clone())
        } else {
            let sts = crate::clients(&self.sdk, &counter).sts;
            let audit = self.assume(&sts, &account.id, &self.config.audit_role, "keywarden-audit").await?;
            let rotation = if writes {
                self.assume(&sts, &account.id, &self.config.rotation_role, "keywarden-rotation").await?
            } else {
                audit.clone()
            };
            // The member's secrets use its default key; the secret's policy names the role
            // that writes them.
            (
                audit,
                rotation,
                None,
                Some(format!("arn:aws:iam::{}:role/{}", account.id, self.config.rotation_role)),
            )
        };
        let a = crate::clients(&audit, &counter);
        let r = crate::clients(&rotation, &counter);
        Ok(Member {
            sink: SecurityHubSink::new(a.securityhub),
            directory: IamDirectory::new(a.iam, a.sts, counter.clone(), self.options.clone()),
            rotator: IamRotator::new(r.iam, r.secrets, r.sts, kms, role_arn, counter),
        })
    }
}

impl Organization for AwsOrganization {
    type Directory = IamDirectory;
    type Rotator = IamRotator;
    type Sink = SecurityHubSink;

    async fn accounts(&self, selection: &AccountSelection) -> Result<Vec<MemberAccount>, ReadFailure> {
        // Asked here, so the listing's calls count it; `connect` reuses the answer.
        self.own_account().await?;
        let mut accounts = self.list().await?;
        if selection.needs_ous() {
            let cache = Mutex::new(HashMap::new());
            for a in accounts.iter_mut().filter(|a| a.active) {
                a.ous = self.ous(&a.id, &cache).await?;
            }
        }
        if selection.needs_tags() {
            for a in accounts.iter_mut().filter(|a| a.active) {
                a.tags = self.tags(&a.id).await?;
            }
        }
        Ok(accounts)
    }

    async fn connect(
        &self,
        account: &AccountRef,
        writes: bool,
    ) -> Result<Member<IamDirectory, IamRotator, SecurityHubSink>, ReadFailure> {
        Ok(self.member(account, writes).await?)
    }

    fn api_calls(&self) -> BTreeMap<String, u64> {
        self.counter.snapshot()
    }
}
