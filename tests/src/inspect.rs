//! Reading back what a rotation left in IAM, Secrets Manager and STS, the way an auditor (or
//! the key's owner) would: the user's keys and tags, the stored secret, its tags and resource
//! policy, and whether a stored key really works.
//!
//! Secrets are read into [`AccessKey`], whose `Debug` hides the secret, so a failing assertion
//! never prints one.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use aws_sdk_iam::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_iam::types::StatusType;
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::call;
use crate::seed::{sdk_config, AccessKey, Aws};

/// The name of the secret keywarden stores a user's new key in.
pub fn secret_name(user: &str) -> String {
    format!("keywarden/{user}")
}

/// One of a user's access keys as `ListAccessKeys` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyState {
    pub id: String,
    pub active: bool,
    pub created: DateTime<Utc>,
}

/// What `DescribeSecret` says about a secret (nothing secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretInfo {
    pub arn: String,
    pub name: String,
    pub tags: BTreeMap<String, String>,
    pub kms_key_id: Option<String>,
    /// Version id → its staging labels (`AWSCURRENT`, `AWSPREVIOUS`, …).
    pub versions: BTreeMap<String, Vec<String>>,
}

/// A stored secret's value: the key it holds, and the JSON field names it has.
#[derive(Debug, Clone)]
pub struct StoredKey {
    pub key: AccessKey,
    pub fields: Vec<String>,
}

fn smithy_time(t: &aws_sdk_iam::primitives::DateTime) -> DateTime<Utc> {
    DateTime::from_timestamp(t.secs(), t.subsec_nanos()).expect("a valid timestamp")
}

/// Parses a secret's JSON value; panics naming the secret, never showing its value.
fn parse_stored(name: &str, value: &str) -> StoredKey {
    let json: Value = serde_json::from_str(value)
        .unwrap_or_else(|e| panic!("the value of secret {name} is not JSON ({e}); it must be an object"));
    let obj = json.as_object().unwrap_or_else(|| panic!("the value of secret {name} is not a JSON object"));
    let field = |f: &str| {
        obj.get(f).and_then(Value::as_str).unwrap_or_else(|| panic!("secret {name} has no string field {f}"))
    };
    let mut fields: Vec<String> = obj.keys().cloned().collect();
    fields.sort();
    StoredKey {
        key: AccessKey::new(field("UserName"), field("AccessKeyId"), field("SecretAccessKey")),
        fields,
    }
}

impl Aws {
    /// The user's keys, oldest first.
    pub async fn keys(&self, user: &str) -> Vec<KeyState> {
        let out = call!(format!("ListAccessKeys {user}"), self.iam.list_access_keys().user_name(user).send());
        let mut keys: Vec<KeyState> = out
            .access_key_metadata
            .into_iter()
            .map(|k| KeyState {
                id: k.access_key_id.unwrap_or_default(),
                active: k.status == Some(StatusType::Active),
                created: k.create_date.as_ref().map(smithy_time).unwrap_or_default(),
            })
            .collect();
        keys.sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
        keys
    }

    /// The user's tags.
    pub async fn user_tags(&self, user: &str) -> BTreeMap<String, String> {
        let out = call!(format!("ListUserTags {user}"), self.iam.list_user_tags().user_name(user).send());
        out.tags.into_iter().map(|t| (t.key, t.value)).collect()
    }

    /// The user's ARN.
    pub async fn user_arn(&self, user: &str) -> String {
        let out = call!(format!("GetUser {user}"), self.iam.get_user().user_name(user).send());
        out.user.map(|u| u.arn).unwrap_or_else(|| panic!("GetUser {user} returned no user"))
    }

    /// Sets a key's status, as a human would in the console.
    pub async fn set_key_status(&self, user: &str, key_id: &str, active: bool) {
        let status = if active { StatusType::Active } else { StatusType::Inactive };
        call!(
            format!("UpdateAccessKey {user} {key_id} active={active}"),
            self.iam.update_access_key().user_name(user).access_key_id(key_id).status(status).send()
        );
    }

    /// The ARN of the caller a request signed with `key` is taken for (STS
    /// GetCallerIdentity), or the error. Signing at moto's clock also marks the key used.
    ///
    /// moto's limits: it takes a request signed with an inactive key for its user (and marks
    /// the key used), and answers an unknown or deleted key with a default identity
    /// (`…:user/moto`). So "the key works" is `caller_arn == user's ARN`, and a test never
    /// signs with a key it expects to be inactive.
    pub async fn caller_arn(&self, key: &AccessKey) -> Result<String, String> {
        let config = sdk_config(&self.endpoint, &key.access_key_id, key.reveal_secret()).await;
        let sts = aws_sdk_sts::Client::new(&config);
        match sts.get_caller_identity().send().await {
            Ok(who) => who.arn.ok_or_else(|| "GetCallerIdentity returned no ARN".to_string()),
            Err(e) => Err(DisplayErrorContext(e).to_string()),
        }
    }

    /// `DescribeSecret keywarden/<user>`; `None` when there is no such secret.
    pub async fn secret_info(&self, user: &str) -> Option<SecretInfo> {
        let name = secret_name(user);
        match self.secrets.describe_secret().secret_id(&name).send().await {
            Ok(out) => Some(SecretInfo {
                arn: out.arn.unwrap_or_default(),
                name: out.name.unwrap_or_default(),
                tags: out
                    .tags
                    .unwrap_or_default()
                    .into_iter()
                    .map(|t| (t.key.unwrap_or_default(), t.value.unwrap_or_default()))
                    .collect(),
                kms_key_id: out.kms_key_id,
                versions: out.version_ids_to_stages.unwrap_or_default().into_iter().collect(),
            }),
            Err(e) if e.code() == Some("ResourceNotFoundException") => None,
            Err(e) => panic!("DescribeSecret {name}: {}", DisplayErrorContext(e)),
        }
    }

    /// The key stored in `keywarden/<user>` (its `AWSCURRENT` version); `None` when there is
    /// no such secret.
    pub async fn stored_key(&self, user: &str) -> Option<StoredKey> {
        let name = secret_name(user);
        match self.secrets.get_secret_value().secret_id(&name).send().await {
            Ok(out) => {
                let value = out.secret_string.unwrap_or_else(|| panic!("secret {name} has no SecretString"));
                Some(parse_stored(&name, &value))
            }
            Err(e) if e.code() == Some("ResourceNotFoundException") => None,
            Err(e) => panic!("GetSecretValue {name}: {}", DisplayErrorContext(e)),
        }
    }

    /// The resource policy of `keywarden/<user>`, parsed; `None` when the secret has none.
    pub async fn secret_policy(&self, user: &str) -> Option<Value> {
        let name = secret_name(user);
        let out = call!(
            format!("GetResourcePolicy {name}"),
            self.secrets.get_resource_policy().secret_id(&name).send()
        );
        out.resource_policy.map(|p| {
            serde_json::from_str(&p)
                .unwrap_or_else(|e| panic!("the resource policy of {name} is not JSON: {e}"))
        })
    }

    /// The names of every secret.
    pub async fn secret_names(&self) -> Vec<String> {
        let mut names = Vec::new();
        let mut token = None;
        loop {
            let out = call!(
                "ListSecrets".to_string(),
                self.secrets.list_secrets().include_planned_deletion(true).set_next_token(token).send()
            );
            names.extend(out.secret_list.unwrap_or_default().into_iter().filter_map(|s| s.name));
            token = out.next_token.filter(|t| !t.is_empty());
            if token.is_none() {
                break;
            }
        }
        names.sort();
        names
    }

    /// Every version of every secret, parsed as a stored key: `(secret name, version id, key)`.
    /// A value that is not keywarden's JSON makes the test fail.
    pub async fn all_stored_keys(&self) -> Vec<(String, String, AccessKey)> {
        let mut all = Vec::new();
        for name in self.secret_names().await {
            let versions = call!(
                format!("ListSecretVersionIds {name}"),
                self.secrets.list_secret_version_ids().secret_id(&name).include_deprecated(true).send()
            );
            for v in versions.versions.unwrap_or_default() {
                let Some(id) = v.version_id else { continue };
                let out = call!(
                    format!("GetSecretValue {name} {id}"),
                    self.secrets.get_secret_value().secret_id(&name).version_id(&id).send()
                );
                let value =
                    out.secret_string.unwrap_or_else(|| panic!("secret {name} {id} has no SecretString"));
                all.push((name.clone(), id, parse_stored(&name, &value).key));
            }
        }
        all
    }

    /// A text description of everything in Secrets Manager (names, versions and their
    /// stages, tags, KMS key, resource policy, and the key id each version holds — never the
    /// secret), to show that a run changed nothing there.
    pub async fn secrets_snapshot(&self) -> String {
        let mut out = String::new();
        for name in self.secret_names().await {
            let d = call!(
                format!("DescribeSecret {name}"),
                self.secrets.describe_secret().secret_id(&name).send()
            );
            let mut tags: Vec<String> = d
                .tags
                .unwrap_or_default()
                .into_iter()
                .map(|t| format!("{}={}", t.key.unwrap_or_default(), t.value.unwrap_or_default()))
                .collect();
            tags.sort();
            let versions: BTreeMap<String, Vec<String>> =
                d.version_ids_to_stages.unwrap_or_default().into_iter().collect();
            let _ = writeln!(
                out,
                "secret {name} arn {:?} kms {:?} changed {:?} deleted {:?} tags {tags:?} versions {versions:?}",
                d.arn, d.kms_key_id, d.last_changed_date, d.deleted_date
            );
            let policy = call!(
                format!("GetResourcePolicy {name}"),
                self.secrets.get_resource_policy().secret_id(&name).send()
            );
            let _ = writeln!(out, "  policy {:?}", policy.resource_policy);
        }
        for (name, version, key) in self.all_stored_keys().await {
            let _ = writeln!(out, "  {name} {version} holds {} of {}", key.access_key_id, key.user);
        }
        out
    }

    /// Creates an SNS topic; returns its ARN.
    pub async fn create_topic(&self, name: &str) -> String {
        let out = call!(format!("CreateTopic {name}"), self.sns.create_topic().name(name).send());
        out.topic_arn.unwrap_or_else(|| panic!("CreateTopic {name} returned no ARN"))
    }
}

/// The statements of a policy document (a single statement object counts as one).
pub fn statements(policy: &Value) -> Vec<Value> {
    match &policy["Statement"] {
        Value::Array(s) => s.clone(),
        Value::Object(_) => vec![policy["Statement"].clone()],
        _ => Vec::new(),
    }
}

/// A policy field that may be a string or a list of strings, as a list.
pub fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).map(String::from).collect(),
        _ => Vec::new(),
    }
}
