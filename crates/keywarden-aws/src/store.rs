//! The evidence archive: every run's full report in S3, and the previous one read back so the
//! digest can say what is new and what was resolved.
//!
//! Reports live at `<account>/<yyyy>/<mm>/<dd>/<run_id>.json`; `<account>/latest.json` names
//! the newest, because run ids are not ordered and listing a growing prefix every run would
//! cost more calls as the archive grows.

use aws_sdk_s3::primitives::ByteStream;
use keywarden_core::ports::ReportStore;
use keywarden_core::{ReadFailure, Report};
use serde::{Deserialize, Serialize};

use crate::error::AwsError;

/// The production [`ReportStore`]: one bucket, keyed by account and date.
#[derive(Debug, Clone)]
pub struct S3ReportStore {
    s3: aws_sdk_s3::Client,
    bucket: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Latest {
    key: String,
}

impl S3ReportStore {
    /// `bucket` is the configured archive; the account's reports go under its id, so one
    /// bucket can serve several accounts.
    pub fn new(s3: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        Self { s3, bucket: bucket.into() }
    }

    /// Where a run's report goes.
    pub fn key_for(report: &Report) -> String {
        format!(
            "{}/{}/{}.json",
            report.run.account_id,
            report.run.generated_at.format("%Y/%m/%d"),
            report.run.run_id
        )
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, AwsError> {
        match self.s3.get_object().bucket(&self.bucket).key(key).send().await {
            Ok(out) => {
                let body = out
                    .body
                    .collect()
                    .await
                    .map_err(|e| AwsError::Transport { operation: "s3:GetObject", message: e.to_string() })?;
                Ok(Some(body.into_bytes().to_vec()))
            }
            Err(e) if e.as_service_error().is_some_and(|se| se.is_no_such_key()) => Ok(None),
            Err(e) => Err(AwsError::from_sdk("s3:GetObject", &e)),
        }
    }

    async fn put(&self, key: &str, body: Vec<u8>) -> Result<(), AwsError> {
        self.s3
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/json")
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("s3:PutObject", &e))?;
        Ok(())
    }
}

impl ReportStore for S3ReportStore {
    async fn previous(&self, account_id: &str) -> Result<Option<Report>, ReadFailure> {
        let malformed = |m: String| ReadFailure::new("s3:GetObject", None, m);
        let Some(pointer) = self.get(&format!("{account_id}/latest.json")).await? else { return Ok(None) };
        let latest: Latest = serde_json::from_slice(&pointer)
            .map_err(|e| malformed(format!("{account_id}/latest.json is not a keywarden pointer: {e}")))?;
        let Some(body) = self.get(&latest.key).await? else {
            return Err(malformed(format!("{account_id}/latest.json names {} which is gone", latest.key)));
        };
        serde_json::from_slice(&body)
            .map(Some)
            .map_err(|e| malformed(format!("{} is not a keywarden report: {e}", latest.key)))
    }

    async fn save(&self, report: &Report) -> Result<String, ReadFailure> {
        let key = Self::key_for(report);
        let body =
            serde_json::to_vec(report).map_err(|e| ReadFailure::new("s3:PutObject", None, e.to_string()))?;
        self.put(&key, body).await?;
        let pointer = serde_json::to_vec(&Latest { key: key.clone() })
            .map_err(|e| ReadFailure::new("s3:PutObject", None, e.to_string()))?;
        self.put(&format!("{}/latest.json", report.run.account_id), pointer).await?;
        Ok(format!("s3://{}/{key}", self.bucket))
    }
}
