//! The organization digest: one message per organization run, the worst accounts first.
//!
//! Like the single-account digest it is a JSON message structure: `email` text and a
//! `default` JSON summary. It names every selected account (an account that failed or was
//! not reached is listed with why, never left out), details the findings of the worst few,
//! and points to the consolidated report for the rest; at 100 accounts it stays far under
//! SNS's 256 KB, and past that the per-account lines are cut before the summary is.

use std::fmt::Write as _;

use keywarden_core::organization::{AccountEntry, AccountResult, OrgReport};
use keywarden_core::Severity;
use serde_json::json;

use crate::digest::{one_line, MAX_MESSAGE_BYTES};

/// Accounts whose worst findings the email details.
const DETAILED_ACCOUNTS: usize = 10;
/// Findings shown per detailed account.
const FINDINGS_PER_ACCOUNT: usize = 5;

/// `keywarden organization: 2 critical, 9 high in 3 of 12 accounts, 1 failed`.
pub fn org_subject(report: &OrgReport) -> String {
    let s = &report.summary;
    let counts: Vec<String> = Severity::ALL
        .iter()
        .filter(|sev| **sev >= Severity::High)
        .filter_map(|sev| s.by_severity.get(sev).filter(|n| **n > 0).map(|n| format!("{n} {sev}")))
        .collect();
    let mut text = String::from("keywarden organization: ");
    if counts.is_empty() {
        let _ = write!(text, "{} open findings, none high or critical", s.findings);
    } else {
        let with_high = s
            .by_account
            .values()
            .filter(|m| m.iter().any(|(sev, n)| *sev >= Severity::High && *n > 0))
            .count();
        let _ = write!(text, "{} in {with_high} of {} accounts", counts.join(", "), s.accounts);
    }
    if s.failed > 0 {
        let _ = write!(text, ", {} failed", s.failed);
    }
    if s.not_audited > 0 {
        let _ = write!(text, ", {} not audited", s.not_audited);
    }
    one_line(&text)
}

fn count(entry: &AccountEntry, sev: Severity) -> usize {
    entry.report().and_then(|r| r.summary.by_severity.get(&sev).copied()).unwrap_or(0)
}

fn state(entry: &AccountEntry) -> String {
    match &entry.result {
        AccountResult::Audited { report }
            if !report.errors.is_empty() || !report.unknown_checks().is_empty() =>
        {
            "partial".into()
        }
        AccountResult::Audited { .. } => "audited".into(),
        AccountResult::Failed { .. } => "FAILED".into(),
        AccountResult::NotAudited { .. } => "NOT AUDITED".into(),
    }
}

fn why(entry: &AccountEntry) -> Option<String> {
    match &entry.result {
        AccountResult::Audited { .. } => None,
        AccountResult::Failed { error } => Some(error.to_string()),
        AccountResult::NotAudited { reason } => Some(reason.clone()),
    }
}

/// The email body, with at most `account_lines` lines in the account table.
pub fn org_email_text(report: &OrgReport, account_lines: usize) -> String {
    let s = &report.summary;
    let mut out = String::new();
    let _ = writeln!(out, "keywarden {} of an AWS organization", report.run.action);
    let _ = writeln!(out, "Run:          {}", report.run.run_id);
    let _ = writeln!(out, "Run at:       {}", report.run.generated_at.format("%Y-%m-%d %H:%M UTC"));
    let _ = writeln!(out, "Rotation:     {}", report.run.mode);
    let _ = writeln!(
        out,
        "Accounts:     {} selected: {} audited ({} partial), {} failed, {} not audited",
        s.accounts, s.audited, s.incomplete, s.failed, s.not_audited
    );
    let _ = writeln!(out, "Users:        {}", s.users_scanned);
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "Open findings: {} ({} new, {} resolved since each account's last run)",
        s.findings, s.new, s.resolved
    );
    for sev in Severity::ALL {
        let _ = writeln!(out, "  {:<10}{:>6}", sev.as_str(), s.by_severity.get(&sev).copied().unwrap_or(0));
    }
    let _ = writeln!(out);
    let worst = report.worst_first();
    let name_width = worst.iter().map(|e| e.account.name.chars().count()).max().unwrap_or(0).clamp(4, 28);
    let _ = writeln!(out, "ACCOUNTS, WORST FIRST");
    let _ = writeln!(
        out,
        "  {:<12}  {:<name_width$}  {:<11}  {:>4} {:>4} {:>4} {:>4}",
        "account", "name", "status", "crit", "high", "med", "low"
    );
    for entry in worst.iter().take(account_lines) {
        let name: String = entry.account.name.chars().take(name_width).collect();
        let _ = writeln!(
            out,
            "  {:<12}  {:<name_width$}  {:<11}  {:>4} {:>4} {:>4} {:>4}",
            entry.account.id,
            name,
            state(entry),
            count(entry, Severity::Critical),
            count(entry, Severity::High),
            count(entry, Severity::Medium),
            count(entry, Severity::Low),
        );
        if let Some(why) = why(entry) {
            let _ = writeln!(out, "      {}", one_line(&why).chars().take(160).collect::<String>());
        }
    }
    if worst.len() > account_lines {
        let _ =
            writeln!(out, "  ... and {} more accounts (all are in the report)", worst.len() - account_lines);
    }
    let _ = writeln!(out);
    let detailed: Vec<&&AccountEntry> = worst
        .iter()
        .filter(|e| e.report().is_some_and(|r| r.summary.findings > 0))
        .take(DETAILED_ACCOUNTS)
        .collect();
    if !detailed.is_empty() {
        let _ = writeln!(out, "WORST FINDINGS OF THE WORST ACCOUNTS");
        for entry in detailed {
            let Some(r) = entry.report() else { continue };
            let _ = writeln!(out, "\n{} {}", entry.account.id, entry.account.name);
            for f in r.findings.iter().filter(|f| !f.exempted).take(FINDINGS_PER_ACCOUNT) {
                let who = f.user.as_deref().unwrap_or(&f.resource);
                let _ = writeln!(
                    out,
                    "  [{}] {} {who}: {}",
                    f.severity.as_str().to_uppercase(),
                    f.check,
                    f.message
                );
            }
            if r.summary.findings > FINDINGS_PER_ACCOUNT {
                let _ = writeln!(out, "  ... and {} more", r.summary.findings - FINDINGS_PER_ACCOUNT);
            }
        }
        let _ = writeln!(out);
    }
    if !report.errors.is_empty() {
        let _ = writeln!(out, "ERRORS OF THE RUN");
        for e in report.errors.iter().take(20) {
            let _ = writeln!(out, "  {e}");
        }
        let _ = writeln!(out);
    }
    match &report.archive {
        Some(uri) => {
            let _ = writeln!(out, "Full report: {uri}");
        }
        None => {
            let _ = writeln!(out, "Full report: the invocation's response (no archive configured).");
        }
    }
    out
}

fn account_json(entry: &AccountEntry) -> serde_json::Value {
    let mut v = json!({
        "id": entry.account.id,
        "name": entry.account.name,
        "status": entry.status(),
    });
    if let Some(r) = entry.report() {
        v["by_severity"] = json!(r.summary.by_severity);
        v["findings"] = json!(r.summary.findings);
        v["errors"] = json!(r.errors.len());
        v["unknown_checks"] = json!(r.unknown_checks());
        v["archive"] = json!(r.archive);
        v["page"] = json!(r.page);
    }
    if let Some(why) = why(entry) {
        v["reason"] = json!(why);
    }
    v
}

/// The SNS message: `email` text and a `default` JSON summary listing every account, worst
/// first; past SNS's limit, accounts are dropped from both copies (the summary counts stay).
pub fn org_sns_message(report: &OrgReport) -> serde_json::Result<String> {
    let worst = report.worst_first();
    let mut lines = worst.len();
    loop {
        let email = org_email_text(report, lines);
        let accounts: Vec<serde_json::Value> = worst.iter().take(lines).map(|e| account_json(e)).collect();
        let default = json!({
            "kind": report.kind,
            "run_id": report.run.run_id,
            "action": report.run.action,
            "mode": report.run.mode,
            "generated_at": report.run.generated_at,
            "summary": {
                "accounts": report.summary.accounts,
                "audited": report.summary.audited,
                "failed": report.summary.failed,
                "not_audited": report.summary.not_audited,
                "incomplete": report.summary.incomplete,
                "users_scanned": report.summary.users_scanned,
                "findings": report.summary.findings,
                "by_severity": report.summary.by_severity,
                "worst": report.summary.worst,
                "new": report.summary.new,
                "resolved": report.summary.resolved,
            },
            "accounts": accounts,
            "accounts_omitted": worst.len() - lines,
            "errors": report.errors,
            "archive": report.archive,
        })
        .to_string();
        let message = json!({ "default": default, "email": email }).to_string();
        if message.len() <= MAX_MESSAGE_BYTES || lines == 0 {
            return Ok(message);
        }
        lines = lines * 3 / 4;
    }
}
