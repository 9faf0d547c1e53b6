//! The report as one self-contained HTML page for auditors: the latest run of each account,
//! its findings (filterable by check, severity, user and account), rotation actions, check
//! statuses, and the trend of open findings over the archived runs.
//!
//! Everything is inline (CSS, SVG, a few lines of script) and the page's own
//! Content-Security-Policy forbids every fetch, so it can be mailed, attached to an audit or
//! opened offline and shows the same thing. Every value from a report goes through `maud`'s
//! escaping: user names and messages come from IAM, and IAM names may hold `+=,.@-`.

mod chart;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use maud::{html, Markup, PreEscaped, DOCTYPE};

pub use chart::{trend, TrendPoint};

use super::document::{AccountView, Document};
use crate::catalogue::{CheckId, Severity};
use crate::report::{CheckOutcome, Report};

const CSS: &str = include_str!("page.css");
const SCRIPT: &str = include_str!("page.js");
/// No fetch of any kind; only the page's own inline style and script run.
const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:";

/// The page for `documents` (in any order), written at `now`. The latest document of each
/// account is the page's "current" state; all of them make the trend.
pub fn render(documents: &[Document], now: DateTime<Utc>) -> String {
    let current = latest_per_account(documents);
    let points = trend(documents);
    let reports: Vec<(&AccountView<'_>, &Report)> =
        current.iter().filter_map(|a| a.report.map(|r| (a, r))).collect();
    let mut open: BTreeMap<Severity, usize> = Severity::ALL.iter().map(|s| (*s, 0)).collect();
    for (_, r) in &reports {
        for (s, n) in &r.summary.by_severity {
            *open.entry(*s).or_default() += n;
        }
    }
    let unknown: usize = reports.iter().map(|(_, r)| r.unknown_checks().len()).sum();
    let incomplete = current.iter().filter(|a| a.report.is_none()).count();
    let title = match current.as_slice() {
        [one] => format!("keywarden report: account {}", one.account_id),
        many => format!("keywarden report: {} accounts", many.len()),
    };
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta http-equiv="Content-Security-Policy" content=(CSP);
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                style { (PreEscaped(CSS)) }
            }
            body {
                header {
                    h1 { (title) }
                    p.meta {
                        "Written " (now.format("%Y-%m-%d %H:%M UTC")) " from " (documents.len())
                        " archived run" @if documents.len() != 1 { "s" } "."
                    }
                }
                section #summary {
                    h2 { "Open findings" }
                    div.cards {
                        @for s in Severity::ALL {
                            div.card data-severity=(s.as_str()) style={ "border-color:" (chart::colour(s)) } {
                                span.count { (open.get(&s).copied().unwrap_or(0)) }
                                span.label { (s.as_str()) }
                            }
                        }
                        div.card.unknown {
                            span.count { (unknown) }
                            span.label { "checks unknown" }
                        }
                    }
                    @if unknown > 0 || incomplete > 0 {
                        p.warning {
                            "Incomplete: "
                            @if unknown > 0 { (unknown) " check result(s) are unknown (the data they need could not be read). " }
                            @if incomplete > 0 { (incomplete) " account(s) have no report in their latest run." }
                            " An unknown check is not a pass."
                        }
                    }
                }
                (accounts_table(&current))
                section #trend-section {
                    h2 { "Trend" }
                    p.meta { "Open findings by severity at each archived run; each account counts with its latest report at that time." }
                    (chart::svg(&points))
                }
                (findings_table(&reports, current.len() > 1))
                (actions_table(&reports))
                (checks_table(&reports))
                script { (PreEscaped(SCRIPT)) }
            }
        }
    };
    page.into_string()
}

/// The newest view of each account, by account id.
fn latest_per_account(documents: &[Document]) -> Vec<AccountView<'_>> {
    let mut latest: BTreeMap<&str, AccountView<'_>> = BTreeMap::new();
    for view in documents.iter().flat_map(Document::accounts) {
        match latest.get(view.account_id) {
            Some(kept) if kept.generated_at >= view.generated_at => {}
            _ => {
                latest.insert(view.account_id, view);
            }
        }
    }
    latest.into_values().collect()
}

fn accounts_table(current: &[AccountView<'_>]) -> Markup {
    html! {
        section #accounts {
            h2 { "Accounts" }
            table {
                thead { tr { th { "Account" } th { "Name" } th { "Latest run" } th { "Status" } th { "Open" } th { "Worst" } th { "Unknown checks" } th { "Errors" } } }
                tbody {
                    @for a in current {
                        tr data-account=(a.account_id) {
                            td { code { (a.account_id) } }
                            td { (a.name.unwrap_or("")) }
                            td { (a.generated_at.format("%Y-%m-%d %H:%M UTC")) }
                            @match a.report {
                                Some(r) => {
                                    td { @if r.errors.is_empty() && r.unknown_checks().is_empty() { "audited" } @else { span.badge.unknown { "partial" } } }
                                    td { (r.summary.findings) }
                                    td { @match r.summary.worst { Some(w) => { (badge(w)) }, None => { "none" } } }
                                    td { (r.unknown_checks().len()) }
                                    td {
                                        @for e in &r.errors { div.error { (e.to_string()) } }
                                    }
                                },
                                None => {
                                    td colspan="5" { span.badge.unknown { "no report" } " " (a.why_not.clone().unwrap_or_default()) }
                                },
                            }
                        }
                    }
                }
            }
        }
    }
}

fn badge(s: Severity) -> Markup {
    html! { span.badge style={ "background:" (chart::colour(s)) } { (s.as_str()) } }
}

fn options(label: &str, filter: &str, values: &BTreeSet<String>) -> Markup {
    html! {
        label {
            (label) " "
            select data-filter=(filter) {
                option value="" { "all" }
                @for v in values { option value=(v) { (v) } }
            }
        }
    }
}

fn findings_table(reports: &[(&AccountView<'_>, &Report)], many: bool) -> Markup {
    let rows: Vec<(&str, &crate::report::Finding)> =
        reports.iter().flat_map(|(a, r)| r.findings.iter().map(move |f| (a.account_id, f))).collect();
    let collect = |f: &dyn Fn(&(&str, &crate::report::Finding)) -> Option<String>| -> BTreeSet<String> {
        rows.iter().filter_map(f).collect()
    };
    let checks = collect(&|(_, f)| Some(f.check.as_str().to_string()));
    let severities: BTreeSet<String> = Severity::ALL
        .iter()
        .filter(|s| rows.iter().any(|(_, f)| f.severity == **s))
        .map(|s| s.as_str().to_string())
        .collect();
    let users = collect(&|(_, f)| f.user.clone());
    let accounts = collect(&|(a, _)| Some(a.to_string()));
    let omitted: usize = reports.iter().map(|(_, r)| r.findings_omitted).sum();
    html! {
        section #findings-section {
            h2 { "Findings" }
            div.filters {
                (options("Severity", "severity", &severities))
                (options("Check", "check", &checks))
                (options("User", "user", &users))
                @if many { (options("Account", "account", &accounts)) }
                span.meta { span #shown { (rows.len()) } " of " (rows.len()) " shown" }
            }
            @if omitted > 0 {
                p.warning { (omitted) " least severe finding(s) were left out of the archived report by its size cap." }
            }
            table #findings {
                thead { tr { th { "Severity" } th { "Check" } th { "User" } th { "Key or resource" } th { "Finding" } @if many { th { "Account" } } } }
                tbody {
                    @for (account, f) in &rows {
                        tr data-severity=(f.severity.as_str()) data-check=(f.check.as_str())
                            data-user=(f.user.as_deref().unwrap_or("")) data-account=(account)
                            class=[f.exempted.then_some("exempted")] {
                            td { (badge(f.severity)) }
                            td { code { (f.check.as_str()) } }
                            td { (f.user.as_deref().unwrap_or("")) }
                            td { code { (f.key_or_resource()) } }
                            td {
                                (f.message)
                                @if let Some(why) = &f.exemption { br; span.meta { "exempted: " (why) } }
                            }
                            @if many { td { code { (account) } } }
                        }
                    }
                }
            }
        }
    }
}

fn actions_table(reports: &[(&AccountView<'_>, &Report)]) -> Markup {
    let actions: Vec<_> =
        reports.iter().flat_map(|(a, r)| r.actions.iter().map(move |act| (a.account_id, act))).collect();
    html! {
        section #actions {
            h2 { "Rotation actions" }
            @if actions.is_empty() {
                p.empty { "No rotation ran in the latest runs." }
            } @else {
                table {
                    thead { tr { th { "Account" } th { "User" } th { "Step" } th { "Status" } th { "Old key" } th { "New key" } th { "Why" } } }
                    tbody {
                        @for (account, act) in &actions {
                            tr {
                                td { code { (account) } }
                                td { (act.user) }
                                td { (act.step.to_string()) }
                                td { (serde_json::to_value(act.status).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()) }
                                td { code { (act.old_key_id.as_deref().unwrap_or("")) } }
                                td { code { (act.new_key_id.as_deref().unwrap_or("")) } }
                                td {
                                    (act.reason)
                                    @if let Some(e) = &act.error { div.error { (e) } }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// One row per check: its status in each account, unknown first named as such.
fn checks_table(reports: &[(&AccountView<'_>, &Report)]) -> Markup {
    let statuses = |id: CheckId| -> Vec<(&str, CheckOutcome, Option<&str>, usize)> {
        reports
            .iter()
            .filter_map(|(a, r)| {
                r.summary.checks.get(&id).map(|c| (a.account_id, c.status, c.reason.as_deref(), c.findings))
            })
            .collect()
    };
    html! {
        section #checks {
            h2 { "Checks" }
            table {
                thead { tr { th { "Check" } th { "Title" } th { "Status" } th { "Open" } th { "Why not judged" } } }
                tbody {
                    @for id in CheckId::ALL {
                        @let rows = statuses(id);
                        @let worst = rows.iter().map(|r| r.1).max_by_key(|s| outcome_rank(*s));
                        tr data-status=(worst.map_or("none", CheckOutcome::as_str)) {
                            td { code { (id.as_str()) } }
                            td { (id.meta().title) }
                            td {
                                @for (account, status, _, _) in &rows {
                                    span class={ "badge status " (status.as_str()) } title=(account) { (status.as_str()) } " "
                                }
                            }
                            td { (rows.iter().map(|r| r.3).sum::<usize>()) }
                            td {
                                @for (account, _, reason, _) in &rows {
                                    @if let Some(reason) = reason { div { @if reports.len() > 1 { code { (account) } ": " } (reason) } }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Unknown before fail before skipped before pass: the status that needs a human most.
fn outcome_rank(s: CheckOutcome) -> u8 {
    match s {
        CheckOutcome::Unknown => 3,
        CheckOutcome::Fail => 2,
        CheckOutcome::Skipped => 1,
        CheckOutcome::Pass => 0,
    }
}
