//! The evidence archive: every run's full report in S3, and the previous one read back so the
//! digest can say what is new and what was resolved.
//!
//! Reports live at `<account>/<yyyy>/<mm>/<dd>/<run_id>.json`, each with its HTML page
//! beside it (`<run_id>.html`, for people); `<account>/latest.json` names
//! the newest, because run ids are not ordered and listing a growing prefix every run would
//! cost more calls as the archive grows.
//!
//! An organization run keeps its state beside them ([`RunStore`]): the listing at
//! `runs/<run_id>/listing.json`, each account's result at `runs/<run_id>/accounts/<id>.json`,
//! and the consolidated report at `organization/<yyyy>/<mm>/<dd>/<run_id>.json`. Run ids are
//! validated where events are parsed, so no key is built from a path.

use aws_sdk_s3::primitives::ByteStream;
use keywarden_core::organization::{AccountEntry, Listing, OrgReport};
use keywarden_core::ports::{ReportStore, RunStore};
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

    /// Where a run's HTML page goes: beside its report, same name, `.html`.
    pub fn page_key_for(report: &Report) -> String {
        let json = Self::key_for(report);
        format!("{}.html", json.strip_suffix(".json").unwrap_or(&json))
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

    /// The newest `limit` archived reports under `prefix` (account and organization reports;
    /// no pointers, no fan-out state), by key, with their bodies. Keys sort by date within
    /// an account, so "newest" is the last keys. A failed page is an error, never a shorter
    /// history.
    pub async fn archived(&self, prefix: &str, limit: usize) -> Result<Vec<(String, Vec<u8>)>, ReadFailure> {
        let mut keys = Vec::new();
        let mut pages = self.s3.list_objects_v2().bucket(&self.bucket).prefix(prefix).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::from_sdk("s3:ListObjectsV2", &e))?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key())
                    .filter(|k| keywarden_core::export::document::is_archived_report(k))
                    .map(str::to_string),
            );
        }
        keys.sort();
        let newest = keys.split_off(keys.len().saturating_sub(limit));
        let mut out = Vec::with_capacity(newest.len());
        for key in newest {
            let Some(body) = self.get(&key).await? else {
                return Err(ReadFailure::new(
                    "s3:GetObject",
                    Some("NoSuchKey".into()),
                    format!("{key} was listed but is gone"),
                ));
            };
            out.push((key, body));
        }
        Ok(out)
    }

    async fn put(&self, key: &str, body: Vec<u8>) -> Result<(), AwsError> {
        self.put_typed(key, body, "application/json").await
    }

    async fn put_typed(&self, key: &str, body: Vec<u8>, content_type: &str) -> Result<(), AwsError> {
        self.s3
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
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

    async fn save_page(&self, report: &Report, page: &str) -> Result<String, ReadFailure> {
        let key = Self::page_key_for(report);
        self.put_typed(&key, page.as_bytes().to_vec(), "text/html; charset=utf-8").await?;
        Ok(format!("s3://{}/{key}", self.bucket))
    }
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, ReadFailure> {
    serde_json::to_vec(value).map_err(|e| ReadFailure::new("s3:PutObject", None, e.to_string()))
}

impl S3ReportStore {
    async fn read_json<T: serde::de::DeserializeOwned>(&self, key: &str) -> Result<Option<T>, ReadFailure> {
        let Some(body) = self.get(key).await? else { return Ok(None) };
        serde_json::from_slice(&body).map(Some).map_err(|e| {
            ReadFailure::new("s3:GetObject", None, format!("{key} is not what keywarden wrote: {e}"))
        })
    }

    async fn write_json<T: Serialize>(&self, key: &str, value: &T) -> Result<String, ReadFailure> {
        self.put(key, encode(value)?).await?;
        Ok(format!("s3://{}/{key}", self.bucket))
    }
}

impl RunStore for S3ReportStore {
    async fn save_listing(&self, listing: &Listing) -> Result<String, ReadFailure> {
        self.write_json(&format!("runs/{}/listing.json", listing.run_id), listing).await
    }

    async fn listing(&self, run_id: &str) -> Result<Option<Listing>, ReadFailure> {
        self.read_json(&format!("runs/{run_id}/listing.json")).await
    }

    async fn save_account(&self, run_id: &str, entry: &AccountEntry) -> Result<String, ReadFailure> {
        self.write_json(&format!("runs/{run_id}/accounts/{}.json", entry.account.id), entry).await
    }

    async fn account(&self, run_id: &str, account_id: &str) -> Result<Option<AccountEntry>, ReadFailure> {
        self.read_json(&format!("runs/{run_id}/accounts/{account_id}.json")).await
    }

    async fn save_organization(&self, report: &OrgReport) -> Result<String, ReadFailure> {
        let key =
            format!("organization/{}/{}.json", report.run.generated_at.format("%Y/%m/%d"), report.run.run_id);
        self.write_json(&key, report).await
    }
}
