//! SDK plumbing both adapters need: the collector's live read and the rotator's read list a
//! user's keys the same way, and both turn SDK timestamps and tags into keywarden's types.
//! Kept here so neither adapter borrows from the other.

use aws_sdk_iam::types::{StatusType, Tag};
use chrono::{DateTime, Utc};
use keywarden_core::model::{AccessKeyMeta, Collected};
use tracing::warn;

use crate::error::AwsError;

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

/// `None` for an instant chrono cannot represent, which no IAM timestamp is.
pub(crate) fn to_chrono(t: &aws_smithy_types::DateTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.secs(), t.subsec_nanos())
}

/// A section of the inventory from its read, logging the failure the report will carry.
pub(crate) fn collected<T>(what: &str, r: Result<T, AwsError>) -> Collected<T> {
    r.map_err(|e| {
        warn!(error = %e, "could not read {what}");
        e.into()
    })
}

/// An IAM user tag; the builder fails only on a missing key or value, reported as the
/// `TagUser` call it was for.
pub(crate) fn iam_tag(key: &str, value: &str) -> Result<Tag, AwsError> {
    Tag::builder()
        .key(key)
        .value(value)
        .build()
        .map_err(|e| AwsError::Malformed { operation: "iam:TagUser", message: e.to_string() })
}

/// A Secrets Manager tag (its builder cannot fail).
pub(crate) fn secrets_tag(key: &str, value: &str) -> aws_sdk_secretsmanager::types::Tag {
    aws_sdk_secretsmanager::types::Tag::builder().key(key).value(value).build()
}
