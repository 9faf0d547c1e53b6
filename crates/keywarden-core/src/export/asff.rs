//! Findings in the AWS Security Finding Format, for `BatchImportFindings`.
//!
//! Security Hub keeps one finding per `Id` and product, so the ids are deterministic
//! (account + check + resource) and every run re-sends every open finding with a new
//! `UpdatedAt`, which keeps it fresh. A finding resolved since the previous archived run is
//! sent once more with `Compliance.Status=PASSED` and `RecordState=ARCHIVED`, so Security
//! Hub closes it instead of keeping a finding nobody will update again. A check that could
//! not run is `NOT_AVAILABLE`, never `PASSED`. Findings are imported into the account that
//! owns them, under that account's default product ARN.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use super::{finding_uid, resource};
use crate::catalogue::{CheckId, Severity};
use crate::checks::Finding;
use crate::report::Report;

/// The ASFF schema version Security Hub accepts.
pub const SCHEMA_VERSION: &str = "2018-10-08";
/// Security Hub refuses a longer `Description`.
pub const MAX_DESCRIPTION: usize = 1024;
/// Security Hub refuses a longer `Title`.
pub const MAX_TITLE: usize = 256;

/// One finding, shaped as the API's JSON (`PascalCase`), so it can be read and checked
/// without the SDK.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AsffFinding {
    /// [`SCHEMA_VERSION`].
    pub schema_version: &'static str,
    /// Deterministic: `keywarden/<account>/<check>:<resource>[…]`.
    pub id: String,
    /// `arn:aws:securityhub:<region>:<account>:product/<account>/default`.
    pub product_arn: String,
    /// The check id.
    pub generator_id: String,
    /// The account that owns the finding.
    pub aws_account_id: String,
    /// `Software and Configuration Checks/AWS Security Best Practices`.
    pub types: Vec<String>,
    /// When the run judged it (RFC 3339).
    pub created_at: String,
    /// When this run sent it (RFC 3339): new every run.
    pub updated_at: String,
    /// `INFORMATIONAL` … `CRITICAL`.
    pub severity: AsffSeverity,
    /// The check's title.
    pub title: String,
    /// The finding's message, at most [`MAX_DESCRIPTION`] characters.
    pub description: String,
    /// What the finding is about.
    pub resources: Vec<AsffResource>,
    /// `FAILED`, `PASSED` or `NOT_AVAILABLE`.
    pub compliance: AsffCompliance,
    /// `NEW`, or `SUPPRESSED` for an exempted finding.
    pub workflow: AsffWorkflow,
    /// `ACTIVE`, or `ARCHIVED` for a resolved one.
    pub record_state: &'static str,
    /// How to fix it.
    pub remediation: AsffRemediation,
}

/// `Severity`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AsffSeverity {
    /// `INFORMATIONAL`, `LOW`, `MEDIUM`, `HIGH` or `CRITICAL`.
    pub label: &'static str,
}

/// One of `Resources`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AsffResource {
    /// `AwsIamUser`, `AwsIamGroup` or `AwsAccount`.
    #[serde(rename = "Type")]
    pub kind: &'static str,
    /// The ARN, or `AWS::::Account:<id>`.
    pub id: String,
    /// `aws`.
    pub partition: &'static str,
    /// The region the findings are imported in (IAM is global).
    pub region: String,
}

/// `Compliance`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AsffCompliance {
    /// `FAILED`, `PASSED` or `NOT_AVAILABLE`.
    pub status: &'static str,
    /// CIS and Security Hub control ids.
    pub related_requirements: Vec<String>,
}

/// `Workflow`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AsffWorkflow {
    /// `NEW` or `SUPPRESSED`.
    pub status: &'static str,
}

/// `Remediation.Recommendation`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AsffRemediation {
    /// `{"Text": …}`.
    pub recommendation: AsffRecommendation,
}

/// `Remediation.Recommendation.Text`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AsffRecommendation {
    /// The catalogue's remediation, cut to [`MAX_DESCRIPTION`].
    pub text: String,
}

/// Security Hub's label for a severity.
pub fn label(s: Severity) -> &'static str {
    match s {
        Severity::Info => "INFORMATIONAL",
        Severity::Low => "LOW",
        Severity::Medium => "MEDIUM",
        Severity::High => "HIGH",
        Severity::Critical => "CRITICAL",
    }
}

/// The account's own product: findings a customer imports go there.
pub fn product_arn(region: &str, account: &str) -> String {
    format!("arn:aws:securityhub:{region}:{account}:product/{account}/default")
}

fn cut(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Open,
    Exempted,
    Resolved,
    Unknown,
}

fn finding(
    report: &Report,
    check: CheckId,
    f: Option<&Finding>,
    state: State,
    region: &str,
    now: &str,
) -> AsffFinding {
    let meta = check.meta();
    let account = &report.run.account_id;
    let target = resource(report, f.map_or("account", |f| f.resource.as_str()));
    AsffFinding {
        schema_version: SCHEMA_VERSION,
        id: match f {
            Some(f) => finding_uid(account, f),
            None => format!("keywarden/{account}/{check}:unknown"),
        },
        product_arn: product_arn(region, account),
        generator_id: format!("keywarden/{check}"),
        aws_account_id: account.clone(),
        types: vec!["Software and Configuration Checks/AWS Security Best Practices".into()],
        created_at: report.run.generated_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        updated_at: now.to_string(),
        severity: AsffSeverity { label: label(f.map_or(meta.severity, |f| f.severity)) },
        title: cut(meta.title, MAX_TITLE),
        description: cut(
            &f.map_or_else(
                || format!("{} could not be checked: its data could not be read", meta.title),
                |f| f.message.clone(),
            ),
            MAX_DESCRIPTION,
        ),
        resources: vec![AsffResource {
            kind: target.asff_type,
            id: target.id,
            partition: "aws",
            region: region.to_string(),
        }],
        compliance: AsffCompliance {
            status: match state {
                State::Open | State::Exempted => "FAILED",
                State::Resolved => "PASSED",
                State::Unknown => "NOT_AVAILABLE",
            },
            related_requirements: meta
                .cis
                .iter()
                .map(|c| format!("CIS AWS Foundations {c}"))
                .chain(meta.security_hub.iter().map(|c| c.to_string()))
                .collect(),
        },
        workflow: AsffWorkflow { status: if state == State::Exempted { "SUPPRESSED" } else { "NEW" } },
        record_state: if state == State::Resolved { "ARCHIVED" } else { "ACTIVE" },
        remediation: AsffRemediation {
            recommendation: AsffRecommendation { text: cut(meta.remediation, MAX_DESCRIPTION) },
        },
    }
}

/// Every finding of the report for Security Hub in `region`, sent at `now`: open and
/// exempted ones active, those resolved since the previous archived run archived, and one
/// `NOT_AVAILABLE` per check that could not run. Without an archive the report knows of no
/// resolved finding, and Security Hub keeps such a finding until it ages out.
pub fn findings(report: &Report, region: &str, now: DateTime<Utc>) -> Vec<AsffFinding> {
    let now = now.to_rfc3339_opts(SecondsFormat::Millis, true);
    let mut out = Vec::new();
    for f in &report.findings {
        let state = if f.exempted { State::Exempted } else { State::Open };
        out.push(finding(report, f.check, Some(f), state, region, &now));
    }
    if let Some(changes) = &report.changes {
        for f in &changes.resolved {
            out.push(finding(report, f.check, Some(f), State::Resolved, region, &now));
        }
    }
    for check in report.unknown_checks() {
        out.push(finding(report, check, None, State::Unknown, region, &now));
    }
    out
}
