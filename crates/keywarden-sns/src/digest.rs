//! The run digest: one message per run, readable in an inbox and parseable by a SIEM.
//!
//! Published with `MessageStructure=json`: the `email` key carries plain text (aligned
//! columns, worst first, no JSON); `default` carries the JSON summary, which SNS delivers to
//! every protocol not named (SQS, Lambda, HTTPS). Both copies share SNS's 256 KB limit, so the
//! text lists a bounded number of findings and the JSON keeps the summary and the worst
//! findings, each pointing to the archived report for the rest.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use keywarden_core::report::{ActionStatus, Finding};
use keywarden_core::{CheckId, Report, Severity};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// SNS rejects subjects longer than this.
pub const MAX_SUBJECT_CHARS: usize = 100;
/// SNS rejects messages over 256 KiB; keep a margin for the attributes.
pub const MAX_MESSAGE_BYTES: usize = 250 * 1024;
/// Findings listed per check in the email before it only counts them.
const PER_CHECK: usize = 10;
/// Findings listed in the email in all.
const LISTED: usize = 200;

/// `keywarden 123456789012: 1 critical, 3 high (2 new)`: one line, at most 100 characters.
pub fn subject(report: &Report) -> String {
    let counts: Vec<String> = Severity::ALL
        .iter()
        .filter(|s| **s >= Severity::High)
        .filter_map(|s| report.summary.by_severity.get(s).filter(|n| **n > 0).map(|n| format!("{n} {s}")))
        .collect();
    let mut text = format!("keywarden {}: ", report.run.account_id);
    if counts.is_empty() {
        let _ = write!(text, "{} open findings, none high or critical", report.summary.findings);
    } else {
        text.push_str(&counts.join(", "));
    }
    if let Some(c) = &report.changes {
        let _ = write!(text, " ({} new)", c.new.len());
    }
    if !report.errors.is_empty() {
        let _ = write!(text, ", {} errors", report.errors.len());
    }
    one_line(&text)
}

/// Control characters become spaces and the text is cut to SNS's subject limit.
pub fn one_line(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { ' ' } else { c }).take(MAX_SUBJECT_CHARS).collect()
}

fn who(f: &Finding) -> String {
    let mut s = f.user.clone().unwrap_or_else(|| f.resource.clone());
    if let Some(k) = &f.access_key_id {
        let _ = write!(s, " {k}");
    } else if let Some(slot) = f.key_slot {
        // Without a live read the key has no id here: its creation date tells it apart.
        let _ = write!(s, " key {slot}");
        if let Some(created) = f.key_created {
            let _ = write!(s, " (created {})", created.format("%Y-%m-%d"));
        }
    }
    s
}

/// The email body.
pub fn email_text(report: &Report) -> String {
    let archive = report.archive.as_deref();
    let mut out = String::new();
    let s = &report.summary;
    let _ = writeln!(out, "keywarden {} of AWS account {}", report.run.action, report.run.account_id);
    let _ = writeln!(out, "Run:          {}", report.run.run_id);
    let _ = writeln!(out, "Run at:       {}", report.run.generated_at.format("%Y-%m-%d %H:%M UTC"));
    let _ = writeln!(
        out,
        "Data as of:   {}",
        report.run.data_as_of.map_or("unknown (credential report not read)".into(), |t| {
            t.format("%Y-%m-%d %H:%M UTC").to_string()
        })
    );
    let _ = writeln!(out, "Rotation:     {}", report.run.mode);
    let _ = writeln!(out, "Users:        {}", s.users_scanned);
    let _ = writeln!(out);

    let new_by_sev: BTreeMap<Severity, usize> = match &report.changes {
        Some(c) => {
            let new: std::collections::BTreeSet<&str> = c.new.iter().map(String::as_str).collect();
            let mut m = BTreeMap::new();
            for f in report.findings.iter().filter(|f| !f.exempted && new.contains(f.id().as_str())) {
                *m.entry(f.severity).or_default() += 1;
            }
            m
        }
        None => BTreeMap::new(),
    };
    let _ = writeln!(out, "Open findings: {} ({} exempted)", s.findings, s.exempted);
    for sev in Severity::ALL {
        let n = s.by_severity.get(&sev).copied().unwrap_or(0);
        let new = new_by_sev.get(&sev).copied().unwrap_or(0);
        let note = if new > 0 { format!("  ({new} new)") } else { String::new() };
        let _ = writeln!(out, "  {:<10}{n:>6}{note}", sev.as_str());
    }
    let _ = writeln!(out);
    match &report.changes {
        Some(c) => {
            let _ = writeln!(
                out,
                "Since the last run ({}): {} new, {} resolved, {} ongoing",
                c.previous_generated_at.format("%Y-%m-%d %H:%M UTC"),
                c.new.len(),
                c.resolved.len(),
                c.ongoing
            );
            if !c.unverified.is_empty() {
                let _ = writeln!(
                    out,
                    "  {} not compared: their check could not run in one of the two runs",
                    c.unverified.len()
                );
            }
        }
        None if archive.is_some() => {
            let _ = writeln!(
                out,
                "Since the last run: no earlier report in the archive yet; next time this says"
            );
        }
        None => {
            let _ = writeln!(out, "Since the last run: not known (no report archive is configured)");
        }
    }
    let _ = writeln!(out);

    let open: Vec<&Finding> = report.findings.iter().filter(|f| !f.exempted).collect();
    let new_ids: std::collections::BTreeSet<&str> =
        report.changes.iter().flat_map(|c| c.new.iter().map(String::as_str)).collect();
    if !open.is_empty() {
        let _ = writeln!(out, "WORST FINDINGS FIRST");
        let mut groups: Vec<(CheckId, Vec<&Finding>)> = Vec::new();
        for f in &open {
            match groups.iter_mut().find(|(c, _)| *c == f.check) {
                Some((_, v)) => v.push(f),
                None => groups.push((f.check, vec![f])),
            }
        }
        let width = open.iter().take(LISTED).map(|f| who(f).chars().count()).max().unwrap_or(0).min(48);
        let mut listed = 0;
        for (check, findings) in &groups {
            let meta = check.meta();
            let total = s.by_check.get(check).copied().unwrap_or(findings.len());
            let _ = writeln!(
                out,
                "\n[{}] {} - {} ({total})",
                meta.severity.as_str().to_uppercase(),
                check,
                meta.title
            );
            for f in findings.iter().take(PER_CHECK) {
                if listed >= LISTED {
                    break;
                }
                let mark = if new_ids.contains(f.id().as_str()) { "NEW " } else { "    " };
                let _ = writeln!(out, "  {mark}{:<width$}  {}", who(f), f.message);
                listed += 1;
            }
            if total > PER_CHECK.min(findings.len()) {
                let _ = writeln!(out, "      ... and {} more", total - PER_CHECK.min(findings.len()));
            }
            let _ = writeln!(out, "      Fix: {}", meta.remediation);
        }
        let _ = writeln!(out);
    }
    if let Some(c) = &report.changes {
        if !c.resolved.is_empty() {
            let _ = writeln!(out, "RESOLVED SINCE THE LAST RUN");
            for f in c.resolved.iter().take(LISTED) {
                let _ = writeln!(out, "  {:<32}{}", f.check.as_str(), who(f));
            }
            let _ = writeln!(out);
        }
    }
    if !report.actions.is_empty() {
        let _ = writeln!(out, "KEY ROTATION");
        for a in report.actions.iter().take(LISTED) {
            let status = match a.status {
                ActionStatus::Planned => "planned",
                ActionStatus::Noted => "noted",
                ActionStatus::Done => "done",
                ActionStatus::Failed => "FAILED",
                ActionStatus::Deferred => "deferred",
            };
            let keys = match (&a.old_key_id, &a.new_key_id) {
                (Some(o), Some(n)) => format!("{o} -> {n}"),
                (Some(o), None) => o.clone(),
                _ => String::new(),
            };
            let _ = writeln!(out, "  {:<12}{:<8}{:<24}{keys}  {}", a.step, status, a.user, a.reason);
        }
        let _ = writeln!(out);
    }
    let unknown = report.unknown_checks();
    if !unknown.is_empty() {
        let names: Vec<&str> = unknown.iter().map(|c| c.as_str()).collect();
        let _ = writeln!(out, "CHECKS THAT COULD NOT RUN (unknown, not passed): {}", names.join(", "));
        let _ = writeln!(out);
    }
    if !report.errors.is_empty() {
        let _ = writeln!(out, "ERRORS");
        for e in report.errors.iter().take(50) {
            let _ = writeln!(out, "  {e}");
        }
        let _ = writeln!(out);
    }
    if report.findings_omitted > 0 || open.len() > LISTED {
        let _ = writeln!(out, "This digest lists the worst findings only.");
    }
    match archive {
        Some(uri) => {
            let _ = writeln!(out, "Full report: {uri}");
        }
        None => {
            let _ = writeln!(out, "Full report: the invocation's response (no archive configured).");
        }
    }
    if let Some(page) = report.page.as_deref() {
        let _ = writeln!(out, "Report page: {page}");
        if let Some(link) = console_link(page) {
            let _ = writeln!(out, "  open it from the S3 console: {link}");
        }
    }
    out
}

/// The S3 console's page for an archived object, from which a reader with access opens it
/// (the console signs the download); `None` for anything but an `s3://bucket/key` URI.
pub fn console_link(uri: &str) -> Option<String> {
    /// Everything but what S3 keys written by keywarden are made of is escaped.
    const KEY: &AsciiSet = &NON_ALPHANUMERIC.remove(b'/').remove(b'-').remove(b'_').remove(b'.');
    let (bucket, key) = uri.strip_prefix("s3://")?.split_once('/')?;
    if bucket.is_empty() || key.is_empty() {
        return None;
    }
    Some(format!(
        "https://s3.console.aws.amazon.com/s3/object/{}?prefix={}",
        utf8_percent_encode(bucket, KEY),
        utf8_percent_encode(key, KEY)
    ))
}

/// The SNS message with `MessageStructure=json`: `email` text and a `default` JSON summary,
/// shrunk until the whole message fits SNS's limit.
pub fn sns_message(report: &Report) -> serde_json::Result<String> {
    let email = email_text(report);
    let mut cap = MAX_MESSAGE_BYTES.saturating_sub(email.len()) / 2;
    loop {
        let mut summary = report.clone();
        let json = summary.to_json_capped(cap)?;
        let message = serde_json::json!({ "default": json, "email": email }).to_string();
        if message.len() <= MAX_MESSAGE_BYTES || cap < 4096 {
            return Ok(message);
        }
        cap = cap * 3 / 4;
    }
}
