//! A report document as a file or an archive holds it: one account's [`Report`], or an
//! organization's [`OrgReport`], told apart by the organization report's `kind` field.
//!
//! Readers of archived runs (the CLI's `report`, the HTML page) take whatever a run wrote
//! and must refuse anything else by name: a file that is not a keywarden report is an
//! error, never an empty account.

use chrono::{DateTime, Utc};
use thiserror::Error;

use crate::organization::{AccountEntry, AccountResult, OrgReport};
use crate::report::Report;

/// One archived or returned run.
#[derive(Debug, Clone, PartialEq)]
pub enum Document {
    /// A single account's run.
    Account(Box<Report>),
    /// An organization run: every selected account's outcome.
    Organization(Box<OrgReport>),
}

/// Why a document is not a keywarden report.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DocumentError {
    /// Not JSON at all, or JSON of another shape.
    #[error("not a keywarden report: {0}")]
    NotAReport(String),
    /// A report of a schema this build does not read.
    #[error("report schema version {found} is newer than this keywarden reads ({supported})")]
    NewerSchema {
        /// The document's `schema_version`.
        found: u64,
        /// [`crate::report::SCHEMA_VERSION`].
        supported: u32,
    },
}

/// Whether a path in the archive (an S3 key, or a file under a directory `aws s3 sync`
/// mirrored it to) is a run's report: a `.json` that is neither an account's
/// `latest.json` pointer nor the fan-out's state under `runs/`.
pub fn is_archived_report(path: &str) -> bool {
    let mut parts = path.split(['/', '\\']).filter(|p| !p.is_empty());
    let name = path.rsplit(['/', '\\']).next().unwrap_or("");
    name.ends_with(".json") && name != "latest.json" && !parts.any(|p| p == "runs")
}

/// One account's part of a document: its id, name when the organization knows it, and what
/// became of it.
#[derive(Debug, Clone)]
pub struct AccountView<'a> {
    /// The 12-digit id (`unknown` when a run could not read it).
    pub account_id: &'a str,
    /// The organization's name for the account; `None` outside an organization run.
    pub name: Option<&'a str>,
    /// When the run that judged it started.
    pub generated_at: DateTime<Utc>,
    /// The account's report; `None` when it failed or was not reached.
    pub report: Option<&'a Report>,
    /// Why there is no report, when there is none.
    pub why_not: Option<String>,
}

impl Document {
    /// Reads a document, refusing anything that is not a report this build understands.
    pub fn parse(bytes: &[u8]) -> Result<Self, DocumentError> {
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| DocumentError::NotAReport(e.to_string()))?;
        let version = value.get("schema_version").and_then(serde_json::Value::as_u64).ok_or_else(|| {
            DocumentError::NotAReport("no `schema_version` (a keywarden report always has one)".into())
        })?;
        if version > u64::from(crate::report::SCHEMA_VERSION) {
            return Err(DocumentError::NewerSchema {
                found: version,
                supported: crate::report::SCHEMA_VERSION,
            });
        }
        let organization = value.get("kind").and_then(serde_json::Value::as_str) == Some("organization");
        let parsed = if organization {
            serde_json::from_value(value).map(|r| Document::Organization(Box::new(r)))
        } else {
            serde_json::from_value(value).map(|r| Document::Account(Box::new(r)))
        };
        parsed.map_err(|e| DocumentError::NotAReport(e.to_string()))
    }

    /// When the run started.
    pub fn generated_at(&self) -> DateTime<Utc> {
        match self {
            Document::Account(r) => r.run.generated_at,
            Document::Organization(o) => o.run.generated_at,
        }
    }

    /// The run's id.
    pub fn run_id(&self) -> &str {
        match self {
            Document::Account(r) => &r.run.run_id,
            Document::Organization(o) => &o.run.run_id,
        }
    }

    /// Every account the document speaks of, in its order.
    pub fn accounts(&self) -> Vec<AccountView<'_>> {
        match self {
            Document::Account(r) => vec![AccountView {
                account_id: &r.run.account_id,
                name: None,
                generated_at: r.run.generated_at,
                report: Some(r),
                why_not: None,
            }],
            Document::Organization(o) => {
                o.accounts.iter().map(|entry| entry_view(entry, o.run.generated_at)).collect()
            }
        }
    }

    /// Every account report of the document.
    pub fn reports(&self) -> Vec<&Report> {
        self.accounts().into_iter().filter_map(|a| a.report).collect()
    }
}

fn entry_view(entry: &AccountEntry, generated_at: DateTime<Utc>) -> AccountView<'_> {
    let why_not = match &entry.result {
        AccountResult::Audited { .. } => None,
        AccountResult::Failed { error } => Some(format!("failed: {error}")),
        AccountResult::NotAudited { reason } => Some(format!("not audited: {reason}")),
    };
    AccountView {
        account_id: &entry.account.id,
        name: Some(&entry.account.name),
        generated_at,
        report: entry.report(),
        why_not,
    }
}
