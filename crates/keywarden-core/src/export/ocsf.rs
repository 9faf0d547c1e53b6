//! Findings as OCSF Compliance Finding events (class 2003, category Findings), schema 1.3.0:
//! the first version whose Compliance Finding carries a `resources` array (1.1.0 has a single
//! `resource`).
//!
//! One event per open finding (status New, compliance Fail), per exempted finding (status
//! Suppressed), per finding resolved since the previous run (activity Close, status
//! Resolved, compliance Pass), and per check that could not run (compliance Warning, which
//! the class defines as "did not yield a result due to missing information"): a SIEM
//! reading these never sees a pass for a control nobody could verify. The `cloud` profile
//! carries the account; `metadata.product` names keywarden and its version.

use serde::Serialize;

use super::{finding_uid, resource};
use crate::catalogue::{CheckId, Severity};
use crate::checks::Finding;
use crate::report::Report;

/// The OCSF schema version these events follow.
pub const OCSF_VERSION: &str = "1.3.0";
/// Compliance Finding.
pub const CLASS_UID: u32 = 2003;
/// Findings.
pub const CATEGORY_UID: u32 = 2;

/// One Compliance Finding event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// 1 Create (an open, exempted or unknown finding) or 3 Close (resolved).
    pub activity_id: u8,
    /// The activity's caption.
    pub activity_name: &'static str,
    /// Always [`CATEGORY_UID`].
    pub category_uid: u32,
    /// `Findings`.
    pub category_name: &'static str,
    /// Always [`CLASS_UID`].
    pub class_uid: u32,
    /// `Compliance Finding`.
    pub class_name: &'static str,
    /// `class_uid * 100 + activity_id`.
    pub type_uid: u32,
    /// `Compliance Finding: Create` and so on.
    pub type_name: String,
    /// When the run judged it, in milliseconds since the epoch.
    pub time: i64,
    /// 1 Informational … 5 Critical; 0 Unknown for a check that could not run.
    pub severity_id: u8,
    /// The severity's caption.
    pub severity: &'static str,
    /// 1 New, 3 Suppressed (exempted), 4 Resolved; 0 Unknown for a check that could not run.
    pub status_id: u8,
    /// The status's caption.
    pub status: &'static str,
    /// The finding's message.
    pub message: String,
    /// Product and schema.
    pub metadata: Metadata,
    /// What was found.
    pub finding_info: FindingInfo,
    /// The control and whether it holds.
    pub compliance: Compliance,
    /// The account.
    pub cloud: Cloud,
    /// What the finding is about.
    pub resources: Vec<Resource>,
    /// How to fix it.
    pub remediation: Remediation,
}

/// `metadata`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metadata {
    /// keywarden.
    pub product: Product,
    /// [`OCSF_VERSION`].
    pub version: &'static str,
    /// `cloud`.
    pub profiles: Vec<&'static str>,
}

/// `metadata.product`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Product {
    /// `keywarden`.
    pub name: &'static str,
    /// `keywarden`.
    pub vendor_name: &'static str,
    /// The binary's version.
    pub version: String,
}

/// `finding_info`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FindingInfo {
    /// Account + check + resource: stable across runs.
    pub uid: String,
    /// The check's title.
    pub title: String,
    /// The check's rationale.
    pub desc: String,
    /// The check id.
    pub types: Vec<String>,
}

/// `compliance`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Compliance {
    /// The standards the check maps to (CIS AWS Foundations, AWS FSBP), at least keywarden's own.
    pub standards: Vec<String>,
    /// The check id.
    pub control: String,
    /// CIS and Security Hub control ids.
    pub requirements: Vec<String>,
    /// 1 Pass, 2 Warning (could not be checked), 3 Fail.
    pub status_id: u8,
    /// The status's caption.
    pub status: &'static str,
}

/// `cloud`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cloud {
    /// `AWS`.
    pub provider: &'static str,
    /// The account the finding is in.
    pub account: Account,
}

/// `cloud.account`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Account {
    /// The 12-digit id.
    pub uid: String,
    /// 10, AWS Account.
    pub type_id: u8,
    /// `AWS Account`.
    #[serde(rename = "type")]
    pub kind: &'static str,
}

/// One of `resources`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Resource {
    /// The ARN.
    pub uid: String,
    /// `AWS::IAM::User` and so on.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The user, group or account.
    pub name: String,
}

/// `remediation`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Remediation {
    /// The catalogue's remediation.
    pub desc: String,
}

/// OCSF's severity ids for keywarden's severities.
pub fn severity_id(s: Severity) -> (u8, &'static str) {
    match s {
        Severity::Info => (1, "Informational"),
        Severity::Low => (2, "Low"),
        Severity::Medium => (3, "Medium"),
        Severity::High => (4, "High"),
        Severity::Critical => (5, "Critical"),
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Open,
    Exempted,
    Resolved,
    Unknown,
}

fn event(report: &Report, check: CheckId, f: Option<&Finding>, kind: Kind, version: &str) -> Event {
    let meta = check.meta();
    let (activity_id, activity_name) = match kind {
        Kind::Resolved => (3, "Close"),
        _ => (1, "Create"),
    };
    let (status_id, status) = match kind {
        Kind::Open => (1, "New"),
        Kind::Exempted => (3, "Suppressed"),
        Kind::Resolved => (4, "Resolved"),
        Kind::Unknown => (0, "Unknown"),
    };
    let (compliance_id, compliance) = match kind {
        Kind::Open | Kind::Exempted => (3, "Fail"),
        Kind::Resolved => (1, "Pass"),
        Kind::Unknown => (2, "Warning"),
    };
    let (severity_id, severity) = match (kind, f) {
        (Kind::Unknown, _) => (0, "Unknown"),
        (_, Some(f)) => severity_id(f.severity),
        (_, None) => severity_id(meta.severity),
    };
    let account = &report.run.account_id;
    let target = resource(report, f.map_or("account", |f| f.resource.as_str()));
    let uid = match f {
        Some(f) => finding_uid(account, f),
        None => format!("keywarden/{account}/{check}:unknown"),
    };
    let message = match (f, kind) {
        (Some(f), _) => f.message.clone(),
        (None, _) => format!("{} could not be checked: its data could not be read", meta.title),
    };
    let mut standards = vec!["keywarden".to_string()];
    if !meta.cis.is_empty() {
        standards.push("CIS AWS Foundations Benchmark".into());
    }
    if !meta.security_hub.is_empty() {
        standards.push("AWS Foundational Security Best Practices".into());
    }
    let requirements = meta
        .cis
        .iter()
        .map(|c| format!("CIS {c}"))
        .chain(meta.security_hub.iter().map(|c| c.to_string()))
        .collect();
    Event {
        activity_id,
        activity_name,
        category_uid: CATEGORY_UID,
        category_name: "Findings",
        class_uid: CLASS_UID,
        class_name: "Compliance Finding",
        type_uid: CLASS_UID * 100 + u32::from(activity_id),
        type_name: format!("Compliance Finding: {activity_name}"),
        time: report.run.generated_at.timestamp_millis(),
        severity_id,
        severity,
        status_id,
        status,
        message,
        metadata: Metadata {
            product: Product { name: "keywarden", vendor_name: "keywarden", version: version.to_string() },
            version: OCSF_VERSION,
            profiles: vec!["cloud"],
        },
        finding_info: FindingInfo {
            uid,
            title: meta.title.to_string(),
            desc: meta.rationale.to_string(),
            types: vec![check.as_str().to_string()],
        },
        compliance: Compliance {
            standards,
            control: check.as_str().to_string(),
            requirements,
            status_id: compliance_id,
            status: compliance,
        },
        cloud: Cloud {
            provider: "AWS",
            account: Account { uid: account.clone(), type_id: 10, kind: "AWS Account" },
        },
        resources: vec![Resource { uid: target.id, kind: target.ocsf_type, name: target.name }],
        remediation: Remediation { desc: meta.remediation.to_string() },
    }
}

/// Every event of the report; `version` is keywarden's own, for `metadata.product.version`.
pub fn events(report: &Report, version: &str) -> Vec<Event> {
    let mut out = Vec::new();
    for f in &report.findings {
        let kind = if f.exempted { Kind::Exempted } else { Kind::Open };
        out.push(event(report, f.check, Some(f), kind, version));
    }
    if let Some(changes) = &report.changes {
        for f in &changes.resolved {
            out.push(event(report, f.check, Some(f), Kind::Resolved, version));
        }
    }
    for check in report.unknown_checks() {
        out.push(event(report, check, None, Kind::Unknown, version));
    }
    out
}
