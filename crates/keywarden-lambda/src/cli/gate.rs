//! The exit code a CI job gates on. Missing data outranks findings: a run that could not read
//! something proves nothing about it, so it never exits 0 and never hides behind a 1.

use std::process::ExitCode;

use keywarden_core::export::document::Document;

use super::args::FailOn;

/// What the run amounts to, for the exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing open at or above the threshold, and every check judged.
    Clean,
    /// This many open findings at or above the threshold.
    Findings(usize),
    /// Why the result is not complete (a failed read, an unknown check, an account not audited).
    Incomplete(Vec<String>),
}

impl Verdict {
    /// 0, 1 or 2.
    pub fn code(&self) -> u8 {
        match self {
            Verdict::Clean => 0,
            Verdict::Findings(_) => 1,
            Verdict::Incomplete(_) => 2,
        }
    }

    /// As the process's exit code.
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.code())
    }
}

/// Judges a document. `allow_unknown` lets unknown checks and failed reads through (they
/// stay in the report); an account with no report at all is never let through.
pub fn judge(document: &Document, fail_on: FailOn, allow_unknown: bool) -> Verdict {
    let mut incomplete = Vec::new();
    if let Document::Organization(org) = document {
        incomplete.extend(org.errors.iter().map(|e| e.to_string()));
    }
    let mut failing = 0;
    for account in document.accounts() {
        let Some(report) = account.report else {
            incomplete.push(format!(
                "account {}: {}",
                account.account_id,
                account.why_not.as_deref().unwrap_or("no report")
            ));
            continue;
        };
        if !allow_unknown {
            incomplete.extend(report.errors.iter().map(|e| format!("account {}: {e}", account.account_id)));
            let unknown = report.unknown_checks();
            if !unknown.is_empty() {
                let names: Vec<&str> = unknown.iter().map(|c| c.as_str()).collect();
                incomplete.push(format!(
                    "account {}: unknown checks: {}",
                    account.account_id,
                    names.join(", ")
                ));
            }
        }
        if let Some(threshold) = fail_on.threshold() {
            failing += report
                .summary
                .by_severity
                .iter()
                .filter(|(s, _)| **s >= threshold)
                .map(|(_, n)| n)
                .sum::<usize>();
        }
    }
    match (incomplete.is_empty(), failing) {
        (false, _) => Verdict::Incomplete(incomplete),
        (true, 0) => Verdict::Clean,
        (true, n) => Verdict::Findings(n),
    }
}

#[cfg(test)]
mod tests {
    use keywarden_core::catalogue::{CheckId, Severity};
    use keywarden_core::report::{CheckOutcome, CheckSummary, Report};
    use keywarden_core::ReadFailure;

    use super::*;

    fn report(high: usize, low: usize) -> Report {
        let mut r: Report = serde_json::from_value(serde_json::json!({
            "schema_version": 1, "run_id": "r", "account_id": "123456789012", "action": "audit",
            "mode": "off", "generated_at": "2026-12-01T00:00:00Z", "data_as_of": null,
            "summary": {"users_scanned": 1, "findings": 0, "exempted": 0, "by_severity": {}, "by_check": {},
                        "checks": {}, "worst": null, "api_calls": {}, "api_calls_total": 0},
            "findings": [], "findings_omitted": 0, "errors": [], "warnings": []
        }))
        .unwrap_or_else(|e| panic!("fixture: {e}"));
        r.summary.by_severity.insert(Severity::High, high);
        r.summary.by_severity.insert(Severity::Low, low);
        r
    }

    fn doc(r: Report) -> Document {
        Document::Account(Box::new(r))
    }

    #[test]
    fn the_threshold_decides_between_zero_and_one() {
        assert_eq!(judge(&doc(report(0, 3)), FailOn::High, false), Verdict::Clean);
        assert_eq!(judge(&doc(report(2, 3)), FailOn::High, false), Verdict::Findings(2));
        assert_eq!(judge(&doc(report(2, 3)), FailOn::Low, false), Verdict::Findings(5));
        assert_eq!(judge(&doc(report(0, 3)), FailOn::Critical, false), Verdict::Clean);
        assert_eq!(judge(&doc(report(2, 3)), FailOn::Never, false), Verdict::Clean);
    }

    #[test]
    fn missing_data_is_two_even_with_findings_unless_allowed() {
        let mut r = report(2, 0);
        r.errors.push(ReadFailure::new("iam:GetCredentialReport", Some("AccessDenied".into()), "denied"));
        r.summary.checks.insert(
            CheckId::UserWithoutMfa,
            CheckSummary {
                status: CheckOutcome::Unknown,
                findings: 0,
                exempted: 0,
                reason: Some("x".into()),
            },
        );
        let verdict = judge(&doc(r.clone()), FailOn::High, false);
        assert_eq!(verdict.code(), 2);
        let Verdict::Incomplete(why) = verdict else { unreachable!() };
        assert!(why.iter().any(|w| w.contains("AccessDenied")), "{why:?}");
        assert!(why.iter().any(|w| w.contains("user_without_mfa")), "{why:?}");
        assert_eq!(judge(&doc(r), FailOn::High, true), Verdict::Findings(2));
    }
}
