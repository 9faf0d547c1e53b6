//! The report in the formats security tooling reads: OCSF for a SIEM or a data lake, ASFF for
//! AWS Security Hub.
//!
//! Both are views of one [`Report`], built here with no I/O: the same findings, the same ids
//! (account + check + resource, as [`crate::organization::OrgReport::finding_id`] names them
//! across an organization), and a check that could not run shown as such, never as a pass.

pub mod asff;
pub mod document;
pub mod html;
pub mod ocsf;

use crate::checks::Finding;
use crate::report::Report;

/// A finding's id across accounts and runs: stable while the finding lasts, so a consumer
/// updates one record instead of piling up copies.
pub fn finding_uid(account_id: &str, finding: &Finding) -> String {
    format!("keywarden/{account_id}/{}", finding.id())
}

/// What a finding is about, as an AWS resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceRef {
    /// The ARN (or, for the account itself, `AWS::::Account:<id>` as Security Hub names it).
    pub id: String,
    /// Security Hub's resource type (`AwsIamUser`, `AwsIamGroup`, `AwsAccount`).
    pub asff_type: &'static str,
    /// The CloudFormation-style type OCSF resources carry (`AWS::IAM::User`, …).
    pub ocsf_type: &'static str,
    /// The user or group name, or the account id.
    pub name: String,
}

/// The resource of a finding: a user's ARN as the report has it, `group/<name>` for a group,
/// anything else the account.
pub fn resource(report: &Report, resource: &str) -> ResourceRef {
    let account = &report.run.account_id;
    if resource.starts_with("arn:aws:iam::") && resource.contains(":user/") {
        let name = resource.rsplit('/').next().unwrap_or(resource).to_string();
        return ResourceRef {
            id: resource.to_string(),
            asff_type: "AwsIamUser",
            ocsf_type: "AWS::IAM::User",
            name,
        };
    }
    if let Some(group) = resource.strip_prefix("group/") {
        return ResourceRef {
            id: format!("arn:aws:iam::{account}:group/{group}"),
            asff_type: "AwsIamGroup",
            ocsf_type: "AWS::IAM::Group",
            name: group.to_string(),
        };
    }
    ResourceRef {
        id: format!("AWS::::Account:{account}"),
        asff_type: "AwsAccount",
        ocsf_type: "AWS::::Account",
        name: account.clone(),
    }
}
