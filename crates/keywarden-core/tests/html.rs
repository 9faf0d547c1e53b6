//! The HTML page and the documents it is built from: what an auditor reads must be what the
//! reports say, escaped, with unknown shown as unknown and the trend counting each account
//! once.

use keywarden_core::catalogue::Severity;
use keywarden_core::export::document::{is_archived_report, Document, DocumentError};
use keywarden_core::export::html::{render, trend};
use serde_json::{json, Value};

fn report(account: &str, at: &str, medium: usize, message: &str, unknown: bool) -> Value {
    let mut checks = json!({"user_in_no_group": {"status": "fail", "findings": medium, "exempted": 0}});
    if unknown {
        checks["user_without_mfa"] = json!({"status": "unknown", "findings": 0, "exempted": 0, "reason": "iam:GetCredentialReport failed (AccessDenied)"});
    }
    let findings: Vec<Value> = (0..medium)
        .map(|i| {
            json!({"check": "user_in_no_group", "severity": "medium", "user": format!("u{i}"),
                   "resource": format!("arn:aws:iam::{account}:user/u{i}"), "access_key_id": null,
                   "key_slot": null, "key_created": null, "message": message, "exempted": false, "exemption": null})
        })
        .collect();
    json!({
        "schema_version": 1, "run_id": format!("run-{at}"), "account_id": account, "action": "audit",
        "mode": "off", "generated_at": at, "data_as_of": null,
        "summary": {"users_scanned": medium, "findings": medium, "exempted": 0,
                    "by_severity": {"critical": 0, "high": 0, "medium": medium, "low": 0, "info": 0},
                    "by_check": {}, "checks": checks, "worst": if medium > 0 { json!("medium") } else { Value::Null },
                    "api_calls": {}, "api_calls_total": 0},
        "findings": findings, "findings_omitted": 0, "errors": [], "warnings": []
    })
}

fn doc(v: &Value) -> Document {
    Document::parse(v.to_string().as_bytes()).unwrap_or_else(|e| panic!("{e}: {v:#}"))
}

#[test]
fn report_text_is_escaped_and_the_page_fetches_nothing() {
    let page = render(
        &[doc(&report("111111111111", "2026-12-01T00:00:00Z", 1, "<script>alert(1)</script>", false))],
        chrono::Utc::now(),
    );
    assert!(!page.contains("<script>alert(1)</script>"), "report text reached the page unescaped");
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(page.contains("default-src 'none'"), "the page's CSP forbids fetches");
    assert!(!page.contains("http://") && !page.contains("https://"), "no URL to fetch");
}

#[test]
fn an_unknown_check_is_shown_as_unknown_never_as_a_pass() {
    let page =
        render(&[doc(&report("111111111111", "2026-12-01T00:00:00Z", 0, "x", true))], chrono::Utc::now());
    assert!(page.contains("Incomplete:"), "the page warns that a check is unknown");
    assert!(page.contains(r#"<tr data-status="unknown"><td><code>user_without_mfa</code>"#), "{page}");
    assert!(page.contains("AccessDenied"), "and says why");
}

#[test]
fn the_trend_counts_each_account_with_its_latest_report() {
    let docs = [
        doc(&report("111111111111", "2026-12-01T00:00:00Z", 3, "x", false)),
        doc(&report("222222222222", "2026-12-02T00:00:00Z", 2, "x", false)),
        doc(&report("111111111111", "2026-12-03T00:00:00Z", 1, "x", false)),
    ];
    let medium: Vec<(usize, usize)> = trend(&docs)
        .iter()
        .map(|p| (p.open.get(&Severity::Medium).copied().unwrap_or(99), p.accounts))
        .collect();
    assert_eq!(medium, [(3, 1), (5, 2), (3, 2)]);
    // The page's current state is each account's latest run: 1 + 2 rows.
    let page = render(&docs, chrono::Utc::now());
    assert_eq!(page.matches(r#"<tr data-severity="medium""#).count(), 3);
    assert_eq!(page.matches("<circle").count(), 3 * 5);
}

#[test]
fn anything_but_a_report_is_refused_by_name() {
    assert!(matches!(Document::parse(b"{\"key\": \"x\"}"), Err(DocumentError::NotAReport(_))));
    assert!(matches!(Document::parse(b"not json"), Err(DocumentError::NotAReport(_))));
    let mut newer = report("111111111111", "2026-12-01T00:00:00Z", 0, "x", false);
    newer["schema_version"] = json!(99);
    assert!(matches!(
        Document::parse(newer.to_string().as_bytes()),
        Err(DocumentError::NewerSchema { found: 99, .. })
    ));
    assert!(is_archived_report("111111111111/2026/12/01/run.json"));
    assert!(!is_archived_report("111111111111/latest.json"));
    assert!(!is_archived_report("runs/r1/listing.json"));
    assert!(is_archived_report("organization/2026/12/01/run.json"));
    assert!(!is_archived_report("111111111111/2026/12/01/run.html"));
}
