//! The IAM collector: turns a handful of account-wide IAM reads into an [`Inventory`].
//!
//! The reads are chosen so that the number of calls does not grow with the number of users
//! (credential report, one paged authorization-details listing, one paged MFA listing, two
//! account calls); per-user calls happen only in [`Directory::live_details`], for the users
//! that have findings. All reads run concurrently, and each one's failure is recorded in its
//! own section of the inventory, so one denied permission costs only the checks that need it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use aws_sdk_iam::operation::generate_credential_report::GenerateCredentialReportError;
use aws_sdk_iam::types::{EntityType, ReportStateType, StatusType, SummaryKeyType};
use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt};
use keywarden_core::credential_report::CredentialReport;
use keywarden_core::model::{
    AccessKeyMeta, AccountSummary, Authorization, Collected, GroupDetail, LiveDetails, LiveRequest,
    ManagedPolicy, PasswordPolicy, ReadFailure, UserDetail, VirtualMfaDevice,
};
use keywarden_core::ports::Directory;
use keywarden_core::Inventory;
use tracing::{debug, info, warn};

use crate::counter::ApiCallCounter;
use crate::error::AwsError;

/// IAM's largest page (`MaxItems`): its default of 100 would make the MFA listing of a
/// 5,000-user account 35 calls instead of 4.
const MAX_PAGE: i32 = 1000;

/// How patiently to wait for IAM.
#[derive(Debug, Clone)]
pub struct CollectorOptions {
    /// Total time to wait for the credential report to be generated.
    pub report_max_wait: Duration,
    /// First pause between credential-report polls; it doubles up to `report_poll_max`.
    pub report_poll_initial: Duration,
    pub report_poll_max: Duration,
    /// Parallel per-user live reads; IAM's rate limits are per account, so keep it modest.
    pub live_concurrency: usize,
}

impl Default for CollectorOptions {
    fn default() -> Self {
        Self {
            report_max_wait: Duration::from_secs(120),
            report_poll_initial: Duration::from_millis(500),
            report_poll_max: Duration::from_secs(8),
            live_concurrency: 8,
        }
    }
}

/// The production [`Directory`]: IAM and STS through the AWS SDK.
#[derive(Debug, Clone)]
pub struct IamDirectory {
    iam: aws_sdk_iam::Client,
    sts: aws_sdk_sts::Client,
    counter: ApiCallCounter,
    options: CollectorOptions,
}

impl IamDirectory {
    /// `counter` must be the interceptor installed on both clients' configs; it is held here
    /// only to report the tally.
    pub fn new(
        iam: aws_sdk_iam::Client,
        sts: aws_sdk_sts::Client,
        counter: ApiCallCounter,
        options: CollectorOptions,
    ) -> Self {
        Self { iam, sts, counter, options }
    }

    /// Asks STS who we are: the one source of the account id that needs no permission and
    /// does not depend on the credential report (whose root row emulators omit, and which
    /// may be the very read that failed).
    pub async fn account_id(&self) -> Result<String, AwsError> {
        const OP: &str = "sts:GetCallerIdentity";
        let out = self.sts.get_caller_identity().send().await.map_err(|e| AwsError::from_sdk(OP, &e))?;
        out.account()
            .map(str::to_string)
            .ok_or(AwsError::Malformed { operation: OP, message: "no Account in the response".into() })
    }

    /// Generates (if needed) and fetches the credential report, polling with exponential
    /// backoff up to `report_max_wait`.
    pub async fn credential_report(&self) -> Result<CredentialReport, AwsError> {
        const GENERATE: &str = "iam:GenerateCredentialReport";
        const GET: &str = "iam:GetCredentialReport";
        let started = tokio::time::Instant::now();
        let deadline = started + self.options.report_max_wait;
        let mut delay = self.options.report_poll_initial;
        let mut need_generate = true;
        loop {
            if need_generate {
                match self.iam.generate_credential_report().send().await {
                    Ok(out) if out.state() == Some(&ReportStateType::Complete) => {
                        need_generate = false;
                        continue;
                    }
                    Ok(out) => debug!(state = ?out.state(), "credential report is being generated"),
                    // Someone else (another tool, a previous run) is generating it: wait.
                    Err(e)
                        if matches!(
                            e.as_service_error(),
                            Some(GenerateCredentialReportError::LimitExceededException(_))
                        ) =>
                    {
                        debug!("credential report generation limit exceeded; waiting")
                    }
                    Err(e) => return Err(AwsError::from_sdk(GENERATE, &e)),
                }
            } else {
                match self.iam.get_credential_report().send().await {
                    Ok(out) => {
                        let content = out.content().ok_or(AwsError::Malformed {
                            operation: GET,
                            message: "no Content in the response".into(),
                        })?;
                        let generated_at =
                            out.generated_time().and_then(to_chrono).ok_or(AwsError::Malformed {
                                operation: GET,
                                message: "no GeneratedTime".into(),
                            })?;
                        return CredentialReport::parse(content.as_ref(), generated_at)
                            .map_err(|e| AwsError::Malformed { operation: GET, message: e.to_string() });
                    }
                    Err(e) => match e.as_service_error() {
                        Some(se) if se.is_credential_report_not_ready_exception() => {
                            debug!("credential report not ready")
                        }
                        Some(se)
                            if se.is_credential_report_not_present_exception()
                                || se.is_credential_report_expired_exception() =>
                        {
                            need_generate = true;
                        }
                        _ => return Err(AwsError::from_sdk(GET, &e)),
                    },
                }
            }
            let now = tokio::time::Instant::now();
            if now + delay > deadline {
                return Err(AwsError::ReportTimeout {
                    operation: if need_generate { GENERATE } else { GET },
                    waited_secs: (now - started).as_secs(),
                });
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(self.options.report_poll_max);
        }
    }

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
                auth.users.insert(
                    name.to_string(),
                    UserDetail {
                        name: name.to_string(),
                        arn: u.arn().unwrap_or_default().to_string(),
                        path: u.path().unwrap_or("/").to_string(),
                        groups: u.group_list().iter().cloned().collect::<BTreeSet<_>>(),
                        inline_policies: u
                            .user_policy_list()
                            .iter()
                            .filter_map(|p| p.policy_name().map(str::to_string))
                            .collect(),
                        attached_policies: u
                            .attached_managed_policies()
                            .iter()
                            .filter_map(|p| p.policy_arn().map(str::to_string))
                            .collect(),
                        tags: u.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect(),
                        inline_documents: u
                            .user_policy_list()
                            .iter()
                            .filter_map(|p| {
                                Some((p.policy_name()?.to_string(), policy_text(p.policy_document()?)))
                            })
                            .collect(),
                    },
                );
            }
            for g in page.group_detail_list() {
                let name = g.group_name().ok_or(AwsError::Malformed {
                    operation: OP,
                    message: "a group without GroupName".into(),
                })?;
                auth.groups.insert(
                    name.to_string(),
                    GroupDetail {
                        name: name.to_string(),
                        arn: g.arn().unwrap_or_default().to_string(),
                        inline_policies: g
                            .group_policy_list()
                            .iter()
                            .filter_map(|p| p.policy_name().map(str::to_string))
                            .collect(),
                        attached_policies: g
                            .attached_managed_policies()
                            .iter()
                            .filter_map(|p| p.policy_arn().map(str::to_string))
                            .collect(),
                        inline_documents: g
                            .group_policy_list()
                            .iter()
                            .filter_map(|p| {
                                Some((p.policy_name()?.to_string(), policy_text(p.policy_document()?)))
                            })
                            .collect(),
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

    /// AWS-managed policies (AdministratorAccess, PowerUserAccess, …) are not in the listing
    /// above: asking for them there returns every AWS-managed policy in existence. Only the
    /// ones attached to a user or group matter, so each is read on its own (two calls per
    /// distinct policy, not per user). A failed read is kept with the policy, so the checks
    /// that need its document say `unknown` for whom it applies to.
    async fn read_attached_aws_policies(&self, auth: &mut Authorization) {
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

    /// The default version's document of one managed policy.
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

    pub async fn virtual_mfa_devices(&self) -> Result<Vec<VirtualMfaDevice>, AwsError> {
        const OP: &str = "iam:ListVirtualMFADevices";
        let mut devices = Vec::new();
        let mut items =
            self.iam.list_virtual_mfa_devices().max_items(MAX_PAGE).into_paginator().items().send();
        while let Some(d) = items.next().await {
            let d = d.map_err(|e| AwsError::from_sdk(OP, &e))?;
            devices.push(VirtualMfaDevice {
                serial_number: d.serial_number().to_string(),
                user: d.user().map(|u| u.user_name().to_string()),
                enable_date: d.enable_date().and_then(to_chrono),
            });
        }
        Ok(devices)
    }

    pub async fn account_summary(&self) -> Result<AccountSummary, AwsError> {
        const OP: &str = "iam:GetAccountSummary";
        let out = self.iam.get_account_summary().send().await.map_err(|e| AwsError::from_sdk(OP, &e))?;
        let map = out
            .summary_map()
            .ok_or(AwsError::Malformed { operation: OP, message: "no SummaryMap".into() })?;
        let flag = |key: SummaryKeyType| -> Result<bool, AwsError> {
            map.get(&key).map(|v| *v > 0).ok_or(AwsError::Malformed {
                operation: OP,
                message: format!("SummaryMap has no {}", key.as_str()),
            })
        };
        Ok(AccountSummary {
            root_mfa_enabled: flag(SummaryKeyType::AccountMfaEnabled)?,
            root_access_keys_present: flag(SummaryKeyType::AccountAccessKeysPresent)?,
        })
    }

    /// `Ok(None)` when the account has no password policy (`NoSuchEntity`).
    pub async fn password_policy(&self) -> Result<Option<PasswordPolicy>, AwsError> {
        const OP: &str = "iam:GetAccountPasswordPolicy";
        match self.iam.get_account_password_policy().send().await {
            Ok(out) => {
                let p = out
                    .password_policy()
                    .ok_or(AwsError::Malformed { operation: OP, message: "no PasswordPolicy".into() })?;
                Ok(Some(PasswordPolicy {
                    minimum_length: p.minimum_password_length().map_or(0, |n| n.max(0) as u32),
                    require_symbols: p.require_symbols(),
                    require_numbers: p.require_numbers(),
                    require_uppercase: p.require_uppercase_characters(),
                    require_lowercase: p.require_lowercase_characters(),
                    reuse_prevention: p.password_reuse_prevention().map(|n| n.max(0) as u32),
                    max_age_days: p.max_password_age().map(|n| n.max(0) as u32),
                }))
            }
            Err(e) if e.as_service_error().is_some_and(|se| se.is_no_such_entity_exception()) => Ok(None),
            Err(e) => Err(AwsError::from_sdk(OP, &e)),
        }
    }

    pub async fn access_keys(&self, user: &str) -> Result<Vec<AccessKeyMeta>, AwsError> {
        list_access_keys(&self.iam, user).await
    }

    /// Whether the user still has a console password.
    pub async fn has_login_profile(&self, user: &str) -> Result<bool, AwsError> {
        const OP: &str = "iam:GetLoginProfile";
        match self.iam.get_login_profile().user_name(user).send().await {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_no_such_entity_exception()) => Ok(false),
            Err(e) => Err(AwsError::from_sdk(OP, &e)),
        }
    }
}

/// IAM returns policy documents URL-encoded (RFC 3986, so `+` is a plus, not a space);
/// emulators sometimes return them plain. A document that already looks like JSON is kept.
pub fn policy_text(raw: &str) -> String {
    if raw.trim_start().starts_with('{') {
        return raw.to_string();
    }
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Every key of a user, all pages: shared by the audit's live read and the rotator's.
pub(crate) async fn list_access_keys(
    iam: &aws_sdk_iam::Client,
    user: &str,
) -> Result<Vec<AccessKeyMeta>, AwsError> {
    const OP: &str = "iam:ListAccessKeys";
    let mut keys = Vec::new();
    let mut items = iam.list_access_keys().user_name(user).into_paginator().items().send();
    while let Some(k) = items.next().await {
        let k = k.map_err(|e| AwsError::from_sdk(OP, &e))?;
        let (Some(id), Some(created)) = (k.access_key_id(), k.create_date().and_then(to_chrono)) else {
            return Err(AwsError::Malformed {
                operation: OP,
                message: format!("a key of {user} without AccessKeyId or CreateDate"),
            });
        };
        keys.push(AccessKeyMeta {
            access_key_id: id.to_string(),
            active: k.status() == Some(&StatusType::Active),
            created,
        });
    }
    Ok(keys)
}

pub(crate) fn to_chrono(t: &aws_smithy_types::DateTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.secs(), t.subsec_nanos())
}

fn collected<T>(what: &str, r: Result<T, AwsError>) -> Collected<T> {
    r.map_err(|e| {
        warn!(error = %e, "could not read {what}");
        e.into()
    })
}

impl Directory for IamDirectory {
    async fn collect(&self) -> Inventory {
        let started = std::time::Instant::now();
        let (account_id, report, auth, mfa, summary, password) = tokio::join!(
            self.account_id(),
            self.credential_report(),
            self.authorization(),
            self.virtual_mfa_devices(),
            self.account_summary(),
            self.password_policy(),
        );
        let inventory = Inventory {
            account_id: collected("the account id", account_id),
            credential_report: collected("the credential report", report),
            authorization: collected("users and groups", auth),
            virtual_mfa_devices: collected("virtual MFA devices", mfa),
            account_summary: collected("the account summary", summary),
            password_policy: collected("the password policy", password),
        };
        info!(
            users = inventory.credential_report.as_ref().map(|r| r.users.len()).ok(),
            api_calls = self.counter.total(),
            collect_ms = started.elapsed().as_secs_f64() * 1000.0,
            "inventory collected"
        );
        inventory
    }

    async fn live_details(&self, request: &LiveRequest) -> LiveDetails {
        let limit = self.options.live_concurrency.max(1);
        // Owned names: a borrowed-string closure trips the higher-ranked `Send` check.
        let users: Vec<String> = request.access_keys_for.iter().cloned().collect();
        let access_keys: BTreeMap<_, _> = stream::iter(users)
            .map(|user| async move {
                let keys = collected("access keys", self.access_keys(&user).await);
                (user, keys)
            })
            .buffer_unordered(limit)
            .collect()
            .await;
        let users: Vec<String> = request.login_profile_for.iter().cloned().collect();
        let login_profiles: BTreeMap<_, _> = stream::iter(users)
            .map(|user| async move {
                let profile = collected("the login profile", self.has_login_profile(&user).await);
                (user, profile)
            })
            .buffer_unordered(limit)
            .collect()
            .await;
        LiveDetails { access_keys, login_profiles }
    }

    fn api_calls(&self) -> BTreeMap<String, u64> {
        self.counter.snapshot()
    }
}

#[cfg(test)]
mod tests {
    use super::policy_text;

    #[test]
    fn policy_documents_are_url_decoded_once() {
        assert_eq!(
            policy_text("%7B%22Version%22%3A%222012-10-17%22%2C%22Sid%22%3A%22a+b%25%22%7D"),
            r#"{"Version":"2012-10-17","Sid":"a+b%"}"#
        );
        let plain = r#"{"Sid": "100%7B"}"#;
        assert_eq!(policy_text(plain), plain, "plain JSON is not decoded again");
        assert_eq!(policy_text("%7"), "%7", "a truncated escape stays as it is");
    }
}
