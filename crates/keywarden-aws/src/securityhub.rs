//! Security Hub behind [`FindingSink`]: `BatchImportFindings` in batches of at most 100, the
//! API's limit.
//!
//! An import is not a key write: sending the same findings again only updates them (the ids
//! are deterministic), so a batch whose answer is lost may be sent again by the SDK's
//! retries. Findings Security Hub refuses one by one are returned with their error codes;
//! a batch refused as a whole fails the import with its AWS code, and the batches before it
//! stay imported.

use aws_sdk_securityhub::types::{
    AwsSecurityFinding, Compliance, ComplianceStatus, Partition, Recommendation, RecordState, Remediation,
    Resource, Severity, SeverityLabel, Workflow, WorkflowStatus,
};
use chrono::{DateTime, Utc};
use keywarden_core::export::asff::{self, AsffFinding};
use keywarden_core::ports::{FindingSink, ImportOutcome};
use keywarden_core::ReadFailure;
use keywarden_core::Report;

use crate::error::AwsError;

/// `BatchImportFindings` takes at most this many findings per call.
pub const BATCH: usize = 100;

/// The production [`FindingSink`]: one account's Security Hub.
#[derive(Debug, Clone)]
pub struct SecurityHubSink {
    client: aws_sdk_securityhub::Client,
    region: String,
}

impl SecurityHubSink {
    /// Imports through `client`, whose credentials are the account's that owns the
    /// findings; the product ARN and the resources name the client's region.
    pub fn new(client: aws_sdk_securityhub::Client) -> Self {
        let region = client.config().region().map_or_else(|| "us-east-1".to_string(), |r| r.to_string());
        Self { client, region }
    }

    /// Imports findings already built, in batches of [`BATCH`].
    pub async fn import_findings(&self, findings: &[AsffFinding]) -> Result<ImportOutcome, ReadFailure> {
        self.send(findings).await
    }
}

/// The SDK's form of a finding; the core's is the API's JSON shape, so this is field by field.
pub fn to_sdk(f: &AsffFinding) -> AwsSecurityFinding {
    let resources = f
        .resources
        .iter()
        .map(|r| {
            Resource::builder()
                .r#type(r.kind)
                .id(&r.id)
                .partition(Partition::from(r.partition))
                .region(&r.region)
                .build()
        })
        .collect();
    AwsSecurityFinding::builder()
        .schema_version(f.schema_version)
        .id(&f.id)
        .product_arn(&f.product_arn)
        .generator_id(&f.generator_id)
        .aws_account_id(&f.aws_account_id)
        .set_types(Some(f.types.clone()))
        .created_at(&f.created_at)
        .updated_at(&f.updated_at)
        .severity(Severity::builder().label(SeverityLabel::from(f.severity.label)).build())
        .title(&f.title)
        .description(&f.description)
        .set_resources(Some(resources))
        .compliance(
            Compliance::builder()
                .status(ComplianceStatus::from(f.compliance.status))
                .set_related_requirements(Some(f.compliance.related_requirements.clone()))
                .build(),
        )
        .workflow(Workflow::builder().status(WorkflowStatus::from(f.workflow.status)).build())
        .record_state(RecordState::from(f.record_state))
        .remediation(
            Remediation::builder()
                .recommendation(Recommendation::builder().text(&f.remediation.recommendation.text).build())
                .build(),
        )
        .build()
}

impl FindingSink for SecurityHubSink {
    async fn import(&self, report: &Report, now: DateTime<Utc>) -> Result<ImportOutcome, ReadFailure> {
        self.import_findings(&asff::findings(report, &self.region, now)).await
    }
}

impl SecurityHubSink {
    async fn send(&self, findings: &[AsffFinding]) -> Result<ImportOutcome, ReadFailure> {
        const OP: &str = "securityhub:BatchImportFindings";
        let mut outcome = ImportOutcome::default();
        for batch in findings.chunks(BATCH) {
            let out = self
                .client
                .batch_import_findings()
                .set_findings(Some(batch.iter().map(to_sdk).collect()))
                .send()
                .await
                .map_err(|e| AwsError::from_sdk(OP, &e))?;
            for failed in out.failed_findings() {
                outcome.failed.push((
                    failed.id().unwrap_or("?").to_string(),
                    failed.error_code().unwrap_or("unknown").to_string(),
                ));
            }
            let refused = out.failed_findings().len();
            outcome.imported += out
                .success_count()
                .and_then(|n| usize::try_from(n).ok())
                .unwrap_or(batch.len() - refused.min(batch.len()));
        }
        Ok(outcome)
    }
}
