//! keywarden's SNS notifier: tells the security team what a run found.
//!
//! It publishes two kinds of message to one topic: a digest per run (a JSON message
//! structure with an email text and a one-line form, see [`digest`]), and an event per
//! key-rotation step ([`SnsNotifier`]'s `publish_rotation`). Every message carries the
//! message attributes `severity`, `event_type` (`digest` or `rotation`) and `account`, and
//! rotation events also `rotation_step` and `user`, so subscribers can filter with SNS
//! subscription filter policies instead of parsing bodies. It never includes anything secret: the report it renders carries key
//! ids, never secret keys. SNS limits are respected here rather than trusted to the caller:
//! a subject of at most 100 characters without newlines, a body under 256 KB.

#![warn(missing_docs)]

use std::fmt::Write as _;

pub mod digest;
pub mod organization;

pub use digest::{email_text, one_line, sns_message, subject, MAX_MESSAGE_BYTES, MAX_SUBJECT_CHARS};
pub use organization::{org_email_text, org_sns_message, org_subject};

use aws_sdk_sns::error::ProvideErrorMetadata;
use aws_sdk_sns::types::MessageAttributeValue;
use keywarden_core::model::error_chain;
use keywarden_core::organization::OrgReport;
use keywarden_core::ports::{Notifier, NotifyError};
use keywarden_core::report::{ActionStatus, RotationAction};
use keywarden_core::rotation::StepKind;
use keywarden_core::Report;

/// The [`Notifier`] that publishes to one SNS topic; cheap to clone (the client is shared).
#[derive(Debug, Clone)]
pub struct SnsNotifier {
    client: aws_sdk_sns::Client,
    topic_arn: String,
}

impl SnsNotifier {
    /// Publishes to `topic_arn` with `client`; nothing is checked until the first publish.
    pub fn new(client: aws_sdk_sns::Client, topic_arn: impl Into<String>) -> Self {
        Self { client, topic_arn: topic_arn.into() }
    }
}

fn attribute(value: &str) -> Result<MessageAttributeValue, NotifyError> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .map_err(|e| NotifyError { code: None, message: e.to_string() })
}

impl Notifier for SnsNotifier {
    async fn publish(&self, report: &Report) -> Result<String, NotifyError> {
        let worst = report.summary.worst.map_or("none", |s| s.as_str());
        let out = self
            .client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(subject(report))
            .message_structure("json")
            .message(sns_message(report).map_err(|e| NotifyError { code: None, message: e.to_string() })?)
            .message_attributes("severity", attribute(worst)?)
            .message_attributes("event_type", attribute("digest")?)
            .message_attributes("account", attribute(&report.run.account_id)?)
            .send()
            .await
            .map_err(|e| NotifyError { code: e.code().map(str::to_string), message: error_chain(&e) })?;
        Ok(out.message_id().unwrap_or_default().to_string())
    }

    async fn publish_organization(&self, report: &OrgReport) -> Result<String, NotifyError> {
        let worst = report.summary.worst.map_or("none", |s| s.as_str());
        let out = self
            .client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(org_subject(report))
            .message_structure("json")
            .message(org_sns_message(report).map_err(|e| NotifyError { code: None, message: e.to_string() })?)
            .message_attributes("severity", attribute(worst)?)
            .message_attributes("event_type", attribute("organization_digest")?)
            .send()
            .await
            .map_err(|e| NotifyError { code: e.code().map(str::to_string), message: error_chain(&e) })?;
        Ok(out.message_id().unwrap_or_default().to_string())
    }

    async fn publish_rotation(
        &self,
        account_id: &str,
        action: &RotationAction,
    ) -> Result<String, NotifyError> {
        let (severity, event) = rotation_event(action);
        let out = self
            .client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(one_line(&format!("keywarden {account_id}: {event} for {}", action.user)))
            .message(rotation_text(account_id, action))
            .message_attributes("severity", attribute(severity)?)
            .message_attributes("event_type", attribute("rotation")?)
            .message_attributes("rotation_step", attribute(action.step.as_str())?)
            .message_attributes("account", attribute(account_id)?)
            .message_attributes("user", attribute(&action.user)?)
            .send()
            .await
            .map_err(|e| NotifyError { code: e.code().map(str::to_string), message: error_chain(&e) })?;
        Ok(out.message_id().unwrap_or_default().to_string())
    }
}

/// The severity and the words of a rotation event: a failure or a held key needs a human.
pub fn rotation_event(action: &RotationAction) -> (&'static str, String) {
    if action.status == ActionStatus::Failed {
        return ("high", format!("key rotation step `{}` failed", action.step));
    }
    match action.step {
        StepKind::Create | StepKind::Recover => ("info", "key rotation started".into()),
        StepKind::Resume => ("info", "key rotation resumed".into()),
        StepKind::Hold => ("high", "old key still in use; rotation held".into()),
        StepKind::Deactivate => ("low", "old key deactivated".into()),
        StepKind::Delete => ("low", "old key deleted; rotation finished".into()),
        StepKind::Blocked => ("medium", "key rotation blocked".into()),
        other @ (StepKind::None | StepKind::Warn | StepKind::Clear | StepKind::Unknown) => {
            ("info", format!("key rotation step `{other}`"))
        }
    }
}

fn status_word(s: ActionStatus) -> &'static str {
    match s {
        ActionStatus::Planned => "planned",
        ActionStatus::Noted => "noted",
        ActionStatus::Done => "done",
        ActionStatus::Failed => "failed",
        ActionStatus::Deferred => "deferred",
    }
}

fn rotation_text(account_id: &str, a: &RotationAction) -> String {
    let (_, event) = rotation_event(a);
    let mut out = format!(
        "{event}\n\nAccount: {account_id}\nUser:    {}\nStep:    {} ({})\nReason:  {}\n",
        a.user,
        a.step,
        status_word(a.status),
        a.reason
    );
    if let Some(old) = &a.old_key_id {
        let _ = writeln!(out, "Old key: {old}");
    }
    if let Some(new) = &a.new_key_id {
        let _ = writeln!(out, "New key: {new}");
    }
    if let Some(arn) = &a.secret_arn {
        let _ =
            writeln!(out, "The new key is stored in Secrets Manager: {arn} (readable only by {}).", a.user);
    }
    if let Some(e) = &a.error {
        let _ = writeln!(out, "Error:   {e}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_sns::operation::publish::{PublishError, PublishOutput};
    use aws_smithy_mocks::{mock, mock_client};
    use chrono::{TimeZone, Utc};
    use keywarden_core::checks::Evaluation;
    use keywarden_core::report::{RunAction, RunInfo};
    use keywarden_core::RotationMode;

    fn report(account: &str) -> Report {
        let run = RunInfo {
            run_id: "run-1".into(),
            account_id: account.into(),
            action: RunAction::Audit,
            mode: RotationMode::DryRun,
            generated_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().expect("valid date"),
            data_as_of: None,
        };
        Report::build(run, Evaluation::default(), vec![], Default::default())
    }

    #[test]
    fn subject_is_one_short_line() {
        let r = report(&format!("12345\n{}", "9".repeat(200)));
        let s = subject(&r);
        assert!(s.chars().count() <= MAX_SUBJECT_CHARS);
        assert!(!s.contains('\n'));
        assert!(subject(&report("123456789012")).ends_with("0 open findings, none high or critical"));
    }

    #[tokio::test]
    async fn publishes_to_the_topic_with_attributes() {
        let rule = mock!(aws_sdk_sns::Client::publish)
            .match_requests(|req| {
                req.topic_arn() == Some("arn:aws:sns:us-east-1:123456789012:sec")
                    && req.message_structure() == Some("json")
                    && req
                        .message_attributes()
                        .and_then(|a| a.get("event_type"))
                        .and_then(|v| v.string_value())
                        == Some("digest")
                    && req.subject().is_some_and(|s| s.starts_with("keywarden 123456789012"))
            })
            .then_output(|| PublishOutput::builder().message_id("m-1").build());
        let client = mock_client!(aws_sdk_sns, [&rule]);
        let n = SnsNotifier::new(client, "arn:aws:sns:us-east-1:123456789012:sec");
        assert_eq!(n.publish(&report("123456789012")).await, Ok("m-1".to_string()));
        assert_eq!(rule.num_calls(), 1);
    }

    #[tokio::test]
    async fn a_publish_failure_keeps_the_aws_code() {
        let rule = mock!(aws_sdk_sns::Client::publish).then_error(|| {
            PublishError::AuthorizationErrorException(
                aws_sdk_sns::types::error::AuthorizationErrorException::builder()
                    .message("denied")
                    .meta(
                        aws_sdk_sns::error::ErrorMetadata::builder()
                            .code("AuthorizationError")
                            .message("denied")
                            .build(),
                    )
                    .build(),
            )
        });
        let client = mock_client!(aws_sdk_sns, [&rule]);
        let n = SnsNotifier::new(client, "arn:aws:sns:us-east-1:123456789012:sec");
        let err = n.publish(&report("123456789012")).await.expect_err("denied");
        assert_eq!(err.code.as_deref(), Some("AuthorizationError"));
    }
}
