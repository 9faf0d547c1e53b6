//! The Security Hub sink against the API as `aws-smithy-mocks` plays it: batches of at most
//! 100, findings refused one by one reported, a refused batch an error with its AWS code.

use std::collections::BTreeMap;

use aws_sdk_securityhub::operation::batch_import_findings::{
    BatchImportFindingsError, BatchImportFindingsOutput,
};
use aws_sdk_securityhub::types::error::InvalidAccessException;
use aws_sdk_securityhub::types::ImportFindingsError;
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use aws_smithy_types::error::ErrorMetadata;
use keywarden_aws::SecurityHubSink;
use keywarden_core::checks::{Evaluation, Finding};
use keywarden_core::export::asff;
use keywarden_core::fixtures::{now, ACCOUNT_ID};
use keywarden_core::report::{RunAction, RunInfo};
use keywarden_core::{CheckId, Report, RotationMode};

fn findings(n: usize) -> Vec<asff::AsffFinding> {
    let ev = Evaluation {
        findings: (0..n)
            .map(|i| Finding {
                check: CheckId::UserInNoGroup,
                severity: CheckId::UserInNoGroup.meta().severity,
                user: Some(format!("u{i}")),
                resource: format!("arn:aws:iam::{ACCOUNT_ID}:user/u{i}"),
                access_key_id: None,
                key_slot: None,
                key_created: None,
                message: format!("u{i} belongs to no group"),
                exempted: false,
                exemption: None,
            })
            .collect(),
        users_scanned: n,
        ..Evaluation::default()
    };
    let run = RunInfo {
        run_id: "r".into(),
        account_id: ACCOUNT_ID.into(),
        action: RunAction::Audit,
        mode: RotationMode::Off,
        generated_at: now(),
        data_as_of: Some(now()),
    };
    asff::findings(&Report::build(run, ev, vec![], BTreeMap::new()), "us-east-1", now())
}

#[tokio::test]
async fn findings_go_in_batches_of_at_most_100() {
    let rule = mock!(aws_sdk_securityhub::Client::batch_import_findings)
        .match_requests(|req| req.findings().len() <= 100)
        .then_output(|| BatchImportFindingsOutput::builder().failed_count(0).success_count(0).build());
    let client = mock_client!(aws_sdk_securityhub, RuleMode::MatchAny, [&rule]);
    let outcome = SecurityHubSink::new(client).import_findings(&findings(250)).await.expect("imported");
    assert_eq!(rule.num_calls(), 3, "100 + 100 + 50");
    assert!(outcome.failed.is_empty());
}

#[tokio::test]
async fn a_finding_refused_alone_is_reported_with_its_code() {
    let rule = mock!(aws_sdk_securityhub::Client::batch_import_findings).then_output(|| {
        BatchImportFindingsOutput::builder()
            .failed_count(1)
            .success_count(2)
            .failed_findings(
                ImportFindingsError::builder()
                    .id("keywarden/x")
                    .error_code("InvalidInput")
                    .error_message("bad")
                    .build(),
            )
            .build()
    });
    let client = mock_client!(aws_sdk_securityhub, [&rule]);
    let outcome = SecurityHubSink::new(client).import_findings(&findings(3)).await.expect("imported");
    assert_eq!(outcome.imported, 2);
    assert_eq!(outcome.failed, [("keywarden/x".to_string(), "InvalidInput".to_string())]);
}

#[tokio::test]
async fn a_refused_batch_is_an_error_that_keeps_the_aws_code() {
    let rule = mock!(aws_sdk_securityhub::Client::batch_import_findings).then_error(|| {
        BatchImportFindingsError::InvalidAccessException(
            InvalidAccessException::builder()
                .message("Security Hub is not enabled")
                .meta(ErrorMetadata::builder().code("InvalidAccessException").message("not enabled").build())
                .build(),
        )
    });
    let client = mock_client!(aws_sdk_securityhub, [&rule]);
    let err = SecurityHubSink::new(client).import_findings(&findings(3)).await.expect_err("refused");
    assert_eq!(err.operation, "securityhub:BatchImportFindings");
    assert_eq!(err.code.as_deref(), Some("InvalidAccessException"));
}
