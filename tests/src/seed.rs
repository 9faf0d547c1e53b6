//! Seeding IAM in moto through the real AWS SDK, as an administrator would, plus "using" a
//! user's access key with that user's own credentials (moto then records the key as last
//! used at moto's current, possibly faked, time).

use std::fmt;
use std::fmt::Write as _;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_iam::error::DisplayErrorContext;
use aws_sdk_iam::types::{StatusType, Tag};

/// The credentials the harness itself uses against moto (any value works there).
pub const ADMIN_KEY_ID: &str = "testing";
const ADMIN_SECRET: &str = "testing";
/// A password that satisfies any password policy the scenarios set.
const PASSWORD: &str = "Correct-Horse-Battery-9-Staple";

/// An access key created for a user. The secret never appears in `Debug` output, so a
/// failing assertion cannot print it.
#[derive(Clone)]
pub struct AccessKey {
    pub user: String,
    pub access_key_id: String,
    secret: String,
}

impl AccessKey {
    pub(crate) fn new(user: &str, access_key_id: &str, secret: &str) -> Self {
        AccessKey {
            user: user.to_string(),
            access_key_id: access_key_id.to_string(),
            secret: secret.to_string(),
        }
    }

    /// The secret access key itself. Only for signing requests and for the leak scanner;
    /// never format it into a message.
    pub fn reveal_secret(&self) -> &str {
        &self.secret
    }
}

impl fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessKey")
            .field("user", &self.user)
            .field("access_key_id", &self.access_key_id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// IAM, Secrets Manager and SNS clients (and STS, per key) pointed at a moto endpoint.
#[derive(Debug, Clone)]
pub struct Aws {
    pub iam: aws_sdk_iam::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub sns: aws_sdk_sns::Client,
    pub(crate) endpoint: String,
}

/// Awaits an SDK call; a failure panics with the operation and the full error chain.
#[macro_export]
#[doc(hidden)]
macro_rules! call {
    ($what:expr, $fut:expr) => {
        match $fut.await {
            Ok(out) => out,
            Err(e) => panic!("{}: {}", $what, aws_sdk_iam::error::DisplayErrorContext(e)),
        }
    };
}

/// An SDK config for moto at `endpoint`, signed with the given key.
pub async fn sdk_config(endpoint: &str, key_id: &str, secret: &str) -> SdkConfig {
    let credentials = aws_sdk_iam::config::Credentials::new(key_id, secret, None, None, "keywarden-e2e");
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(credentials)
        .load()
        .await
}

/// An S3 bucket in the moto at `endpoint` (path-style, as moto serves it), for
/// `REPORT_BUCKET`.
pub async fn create_bucket(endpoint: &str, name: &str) {
    let config = sdk_config(endpoint, "testing", "testing").await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config).force_path_style(true).build(),
    );
    s3.create_bucket().bucket(name).send().await.unwrap_or_else(|e| panic!("CreateBucket {name}: {e}"));
}

impl Aws {
    /// Clients for the moto at `endpoint`, signed with the harness's admin credentials.
    pub async fn connect(endpoint: &str) -> Self {
        let config = sdk_config(endpoint, ADMIN_KEY_ID, ADMIN_SECRET).await;
        Aws {
            iam: aws_sdk_iam::Client::new(&config),
            secrets: aws_sdk_secretsmanager::Client::new(&config),
            sns: aws_sdk_sns::Client::new(&config),
            endpoint: endpoint.to_string(),
        }
    }

    /// Clients for the account of `role_arn`, signed with the credentials of an AssumeRole
    /// from the admin: moto maps an assumed role's credentials to the role's account, which
    /// is how a test seeds a member account of an organization.
    pub async fn assume(endpoint: &str, role_arn: &str) -> Self {
        let admin = sdk_config(endpoint, ADMIN_KEY_ID, ADMIN_SECRET).await;
        let sts = aws_sdk_sts::Client::new(&admin);
        let out = call!(
            format!("AssumeRole {role_arn}"),
            sts.assume_role().role_arn(role_arn).role_session_name("keywarden-e2e-seed").send()
        );
        let c = out.credentials.unwrap_or_else(|| panic!("AssumeRole {role_arn} returned no credentials"));
        let credentials = aws_sdk_iam::config::Credentials::new(
            c.access_key_id,
            c.secret_access_key,
            Some(c.session_token),
            None,
            "keywarden-e2e-member",
        );
        let config = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(endpoint)
            .credentials_provider(credentials)
            .load()
            .await;
        Aws {
            iam: aws_sdk_iam::Client::new(&config),
            secrets: aws_sdk_secretsmanager::Client::new(&config),
            sns: aws_sdk_sns::Client::new(&config),
            endpoint: endpoint.to_string(),
        }
    }

    pub async fn create_user(&self, name: &str) {
        call!(format!("CreateUser {name}"), self.iam.create_user().user_name(name).send());
    }

    pub async fn tag_user(&self, user: &str, key: &str, value: &str) {
        let tag = Tag::builder().key(key).value(value).build().expect("tag has key and value");
        call!(format!("TagUser {user}"), self.iam.tag_user().user_name(user).tags(tag).send());
    }

    /// Gives the user a console password.
    pub async fn create_login_profile(&self, user: &str) {
        call!(
            format!("CreateLoginProfile {user}"),
            self.iam.create_login_profile().user_name(user).password(PASSWORD).send()
        );
    }

    pub async fn create_access_key(&self, user: &str) -> AccessKey {
        let out =
            call!(format!("CreateAccessKey {user}"), self.iam.create_access_key().user_name(user).send());
        let key = out.access_key.expect("CreateAccessKey returns the key");
        AccessKey { user: user.to_string(), access_key_id: key.access_key_id, secret: key.secret_access_key }
    }

    pub async fn deactivate_access_key(&self, key: &AccessKey) {
        call!(
            format!("UpdateAccessKey {} {}", key.user, key.access_key_id),
            self.iam
                .update_access_key()
                .user_name(&key.user)
                .access_key_id(&key.access_key_id)
                .status(StatusType::Inactive)
                .send()
        );
    }

    /// Makes one request signed with `key` (STS GetCallerIdentity), so moto records the key
    /// as used now (at moto's clock), and checks moto took it for the key's user.
    pub async fn use_key(&self, key: &AccessKey) {
        let config = sdk_config(&self.endpoint, &key.access_key_id, &key.secret).await;
        let sts = aws_sdk_sts::Client::new(&config);
        let who = sts
            .get_caller_identity()
            .send()
            .await
            .unwrap_or_else(|e| panic!("GetCallerIdentity as {}: {}", key.user, DisplayErrorContext(e)));
        let arn = who.arn().unwrap_or_default();
        assert!(
            arn.ends_with(&format!(":user/{}", key.user)),
            "moto did not recognise the key of {} (caller {arn})",
            key.user
        );
    }

    /// Creates a virtual MFA device and enables it for `user`; returns its serial number.
    pub async fn enable_mfa(&self, user: &str) -> String {
        let serial = self.create_virtual_mfa(&format!("{user}-mfa")).await;
        call!(
            format!("EnableMFADevice {user}"),
            self.iam
                .enable_mfa_device()
                .user_name(user)
                .serial_number(&serial)
                .authentication_code1("123456")
                .authentication_code2("654321")
                .send()
        );
        serial
    }

    /// Creates a virtual MFA device assigned to nobody; returns its serial number.
    pub async fn create_virtual_mfa(&self, name: &str) -> String {
        let out = call!(
            format!("CreateVirtualMFADevice {name}"),
            self.iam.create_virtual_mfa_device().virtual_mfa_device_name(name).send()
        );
        out.virtual_mfa_device.expect("CreateVirtualMFADevice returns the device").serial_number
    }

    pub async fn create_group(&self, name: &str) {
        call!(format!("CreateGroup {name}"), self.iam.create_group().group_name(name).send());
    }

    pub async fn add_to_group(&self, user: &str, group: &str) {
        call!(
            format!("AddUserToGroup {user} {group}"),
            self.iam.add_user_to_group().user_name(user).group_name(group).send()
        );
    }

    pub async fn put_inline_policy(&self, user: &str, policy_name: &str) {
        call!(
            format!("PutUserPolicy {user}"),
            self.iam
                .put_user_policy()
                .user_name(user)
                .policy_name(policy_name)
                .policy_document(READ_ONLY_POLICY)
                .send()
        );
    }

    /// Puts an inline policy with the given document on a user.
    pub async fn put_user_policy_document(&self, user: &str, policy_name: &str, document: &str) {
        call!(
            format!("PutUserPolicy {user} {policy_name}"),
            self.iam
                .put_user_policy()
                .user_name(user)
                .policy_name(policy_name)
                .policy_document(document)
                .send()
        );
    }

    /// Puts an inline policy with the given document on a group.
    pub async fn put_group_policy(&self, group: &str, policy_name: &str, document: &str) {
        call!(
            format!("PutGroupPolicy {group} {policy_name}"),
            self.iam
                .put_group_policy()
                .group_name(group)
                .policy_name(policy_name)
                .policy_document(document)
                .send()
        );
    }

    /// Attaches a managed policy (customer or AWS managed) to a group.
    pub async fn attach_group_policy(&self, group: &str, policy_arn: &str) {
        call!(
            format!("AttachGroupPolicy {group}"),
            self.iam.attach_group_policy().group_name(group).policy_arn(policy_arn).send()
        );
    }

    /// Creates a customer managed policy; returns its ARN.
    pub async fn create_managed_policy(&self, name: &str) -> String {
        let out = call!(
            format!("CreatePolicy {name}"),
            self.iam.create_policy().policy_name(name).policy_document(READ_ONLY_POLICY).send()
        );
        out.policy.and_then(|p| p.arn).expect("CreatePolicy returns the ARN")
    }

    pub async fn attach_user_policy(&self, user: &str, policy_arn: &str) {
        call!(
            format!("AttachUserPolicy {user}"),
            self.iam.attach_user_policy().user_name(user).policy_arn(policy_arn).send()
        );
    }

    /// Sets the account password policy: CIS-strong (length 14, reuse 24, every character
    /// class) or weak (length 8, nothing else).
    pub async fn set_password_policy(&self, strong: bool) {
        let req = self.iam.update_account_password_policy();
        let req = if strong {
            req.minimum_password_length(14)
                .password_reuse_prevention(24)
                .require_uppercase_characters(true)
                .require_lowercase_characters(true)
                .require_numbers(true)
                .require_symbols(true)
                .max_password_age(90)
        } else {
            req.minimum_password_length(8)
        };
        call!("UpdateAccountPasswordPolicy".to_string(), req.send());
    }

    /// A text description of everything in IAM a run could change (users, their keys and
    /// key status and last use, tags, groups, login profiles, MFA, policies, virtual MFA
    /// devices, the password policy), to show that a run changed nothing.
    pub async fn snapshot(&self) -> String {
        let mut out = String::new();
        let users = call!("ListUsers".to_string(), self.iam.list_users().send());
        let mut names: Vec<String> = users.users.into_iter().map(|u| u.user_name).collect();
        names.sort();
        for user in &names {
            let _ = writeln!(out, "user {user}");
            let keys =
                call!(format!("ListAccessKeys {user}"), self.iam.list_access_keys().user_name(user).send());
            for k in keys.access_key_metadata {
                let id = k.access_key_id.unwrap_or_default();
                let used = call!(
                    format!("GetAccessKeyLastUsed {id}"),
                    self.iam.get_access_key_last_used().access_key_id(&id).send()
                );
                let last_used = used.access_key_last_used.and_then(|u| u.last_used_date);
                let _ = writeln!(
                    out,
                    "  key {id} {:?} created {:?} last used {:?}",
                    k.status, k.create_date, last_used
                );
            }
            let tags =
                call!(format!("ListUserTags {user}"), self.iam.list_user_tags().user_name(user).send());
            for t in tags.tags {
                let _ = writeln!(out, "  tag {}={}", t.key, t.value);
            }
            let groups = call!(
                format!("ListGroupsForUser {user}"),
                self.iam.list_groups_for_user().user_name(user).send()
            );
            for g in groups.groups {
                let _ = writeln!(out, "  group {}", g.group_name);
            }
            let login = self.iam.get_login_profile().user_name(user).send().await.is_ok();
            let _ = writeln!(out, "  login profile {login}");
            let mfa =
                call!(format!("ListMFADevices {user}"), self.iam.list_mfa_devices().user_name(user).send());
            for d in mfa.mfa_devices {
                let _ = writeln!(out, "  mfa {}", d.serial_number);
            }
            let inline = call!(
                format!("ListUserPolicies {user}"),
                self.iam.list_user_policies().user_name(user).send()
            );
            for p in inline.policy_names {
                let _ = writeln!(out, "  inline policy {p}");
            }
            let attached = call!(
                format!("ListAttachedUserPolicies {user}"),
                self.iam.list_attached_user_policies().user_name(user).send()
            );
            for p in attached.attached_policies.unwrap_or_default() {
                let _ = writeln!(out, "  attached policy {:?}", p.policy_arn);
            }
        }
        let devices = call!("ListVirtualMFADevices".to_string(), self.iam.list_virtual_mfa_devices().send());
        let mut serials: Vec<String> = devices
            .virtual_mfa_devices
            .into_iter()
            .map(|d| format!("{} -> {:?}", d.serial_number, d.user.map(|u| u.user_name)))
            .collect();
        serials.sort();
        for s in serials {
            let _ = writeln!(out, "virtual mfa {s}");
        }
        let policy = self.iam.get_account_password_policy().send().await.ok().and_then(|p| p.password_policy);
        let _ = writeln!(out, "password policy {policy:?}");
        out
    }
}

const READ_ONLY_POLICY: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "*"}]
}"#;
