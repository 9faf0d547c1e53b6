//! The credential report's life cycle: IAM generates it asynchronously, so it is requested,
//! polled with exponential backoff and re-requested when it expires or vanishes meanwhile.

use aws_sdk_iam::operation::generate_credential_report::GenerateCredentialReportError;
use aws_sdk_iam::types::ReportStateType;
use keywarden_core::credential_report::CredentialReport;
use tracing::debug;

use super::IamDirectory;
use crate::error::AwsError;
use crate::sdk::to_chrono;

impl IamDirectory {
    /// Generates (if needed) and fetches the credential report, polling with exponential
    /// backoff up to `report_max_wait`.
    pub async fn credential_report(&self) -> Result<CredentialReport, AwsError> {
        const GENERATE: &str = "iam:GenerateCredentialReport";
        const GET: &str = "iam:GetCredentialReport";
        let started = tokio::time::Instant::now();
        let deadline = started + self.options.report_max_wait;
        let mut delay = self.options.report_poll_initial;
        let mut need_generate = true;
        loop {
            if need_generate {
                match self.iam.generate_credential_report().send().await {
                    Ok(out) if out.state() == Some(&ReportStateType::Complete) => {
                        need_generate = false;
                        continue;
                    }
                    Ok(out) => debug!(state = ?out.state(), "credential report is being generated"),
                    // Someone else (another tool, a previous run) is generating it: wait.
                    Err(e)
                        if matches!(
                            e.as_service_error(),
                            Some(GenerateCredentialReportError::LimitExceededException(_))
                        ) =>
                    {
                        debug!("credential report generation limit exceeded; waiting")
                    }
                    Err(e) => return Err(AwsError::from_sdk(GENERATE, &e)),
                }
            } else {
                match self.iam.get_credential_report().send().await {
                    Ok(out) => {
                        let content = out.content().ok_or(AwsError::Malformed {
                            operation: GET,
                            message: "no Content in the response".into(),
                        })?;
                        let generated_at =
                            out.generated_time().and_then(to_chrono).ok_or(AwsError::Malformed {
                                operation: GET,
                                message: "no GeneratedTime".into(),
                            })?;
                        return CredentialReport::parse(content.as_ref(), generated_at)
                            .map_err(|e| AwsError::Malformed { operation: GET, message: e.to_string() });
                    }
                    Err(e) => match e.as_service_error() {
                        Some(se) if se.is_credential_report_not_ready_exception() => {
                            debug!("credential report not ready")
                        }
                        Some(se)
                            if se.is_credential_report_not_present_exception()
                                || se.is_credential_report_expired_exception() =>
                        {
                            need_generate = true;
                        }
                        _ => return Err(AwsError::from_sdk(GET, &e)),
                    },
                }
            }
            let now = tokio::time::Instant::now();
            if now + delay > deadline {
                return Err(AwsError::ReportTimeout {
                    operation: if need_generate { GENERATE } else { GET },
                    waited_secs: (now - started).as_secs(),
                });
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(self.options.report_poll_max);
        }
    }
}
