//! How a result is written: a table for a person (`comfy-table`, as wide as the terminal,
//! colour by severity only on a terminal and never with `NO_COLOR`), or the report, OCSF
//! or ASFF as JSON for a program.

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{Attribute, Cell, Color, ContentArrangement, Table};
use keywarden_core::catalogue::Severity;
use keywarden_core::export::document::{AccountView, Document};
use keywarden_core::export::{asff, ocsf};
use keywarden_core::report::{CheckOutcome, Report};

use super::args::Format;

/// Where the text goes, which decides width and colour.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    /// Colour by severity.
    pub colour: bool,
    /// Fit the terminal's width (only when writing to one).
    pub terminal: bool,
}

/// The result in `format`. `region` names the ASFF product; `now` is ASFF's `UpdatedAt`.
pub fn render(
    document: &Document,
    format: Format,
    style: Style,
    region: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> serde_json::Result<String> {
    Ok(match format {
        Format::Table => table(document, style),
        Format::Json => {
            let json = match document {
                Document::Account(r) => serde_json::to_string_pretty(r)?,
                Document::Organization(o) => serde_json::to_string_pretty(o)?,
            };
            json + "\n"
        }
        Format::Ocsf => {
            let events: Vec<_> = document
                .reports()
                .into_iter()
                .flat_map(|r| ocsf::events(r, env!("CARGO_PKG_VERSION")))
                .collect();
            serde_json::to_string_pretty(&events)? + "\n"
        }
        Format::Asff => {
            let findings: Vec<_> =
                document.reports().into_iter().flat_map(|r| asff::findings(r, region, now)).collect();
            serde_json::to_string_pretty(&findings)? + "\n"
        }
    })
}

fn new_table(style: Style) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED).set_content_arrangement(ContentArrangement::Dynamic);
    if !style.terminal {
        t.force_no_tty();
        // Piped: as wide as the content, unless the caller says how wide its log is.
        if let Some(width) = std::env::var("COLUMNS").ok().and_then(|c| c.trim().parse::<u16>().ok()) {
            t.set_width(width);
        }
    }
    t
}

fn severity_cell(s: Severity, style: Style) -> Cell {
    let cell = Cell::new(s.as_str());
    if !style.colour {
        return cell;
    }
    match s {
        Severity::Critical => cell.fg(Color::Red).add_attribute(Attribute::Bold),
        Severity::High => cell.fg(Color::Red),
        Severity::Medium => cell.fg(Color::Yellow),
        Severity::Low => cell.fg(Color::Blue),
        Severity::Info => cell.fg(Color::Grey),
    }
}

/// The readable result: what was judged, the findings worst first, what could not be
/// judged, rotation steps, failures, then one line of counts.
pub fn table(document: &Document, style: Style) -> String {
    let accounts = document.accounts();
    let many = accounts.len() > 1 || matches!(document, Document::Organization(_));
    let mut out = String::new();
    if many {
        out += &accounts_table(&accounts, style);
        out.push('\n');
    }
    for account in &accounts {
        let Some(report) = account.report else { continue };
        out += &account_section(account, report, many, style);
    }
    if let Document::Organization(org) = document {
        for e in &org.errors {
            out += &format!("error: {e}\n");
        }
        for w in &org.warnings {
            out += &format!("warning: {w}\n");
        }
    }
    out
}

fn accounts_table(accounts: &[AccountView<'_>], style: Style) -> String {
    let mut t = new_table(style);
    t.set_header(["Account", "Name", "Status", "Open", "Worst", "Unknown checks", "Errors"]);
    for a in accounts {
        match a.report {
            Some(r) => t.add_row(vec![
                Cell::new(a.account_id),
                Cell::new(a.name.unwrap_or("")),
                Cell::new("audited"),
                Cell::new(r.summary.findings),
                r.summary.worst.map_or_else(|| Cell::new("none"), |w| severity_cell(w, style)),
                Cell::new(r.unknown_checks().len()),
                Cell::new(r.errors.len()),
            ]),
            None => t.add_row(vec![
                Cell::new(a.account_id),
                Cell::new(a.name.unwrap_or("")),
                Cell::new(a.why_not.as_deref().unwrap_or("no report")),
                Cell::new("?"),
                Cell::new("?"),
                Cell::new("?"),
                Cell::new("?"),
            ]),
        };
    }
    format!("{t}\n")
}

fn account_section(account: &AccountView<'_>, r: &Report, many: bool, style: Style) -> String {
    let mut out = String::new();
    let name = account.name.map(|n| format!(" ({n})")).unwrap_or_default();
    out += &format!(
        "account {}{name} · {} · mode {} · run {} · {}\n",
        account.account_id,
        r.run.action,
        r.run.mode.as_str(),
        r.run.run_id,
        r.run.generated_at.format("%Y-%m-%d %H:%M:%S UTC"),
    );
    if let Some(as_of) = r.run.data_as_of {
        out += &format!("credential report generated {}\n", as_of.format("%Y-%m-%d %H:%M:%S UTC"));
    }
    let open: Vec<_> = r.findings.iter().filter(|f| !f.exempted).collect();
    if !open.is_empty() {
        let mut t = new_table(style);
        t.set_header(["Severity", "Check", "User", "Key or resource", "Finding"]);
        for f in &open {
            t.add_row(vec![
                severity_cell(f.severity, style),
                Cell::new(f.check.as_str()),
                Cell::new(f.user.as_deref().unwrap_or("")),
                Cell::new(f.key_or_resource()),
                Cell::new(&f.message),
            ]);
        }
        out += &format!("{t}\n");
    }
    let not_judged: Vec<_> =
        r.summary.checks.iter().filter(|(_, c)| c.status == CheckOutcome::Unknown).collect();
    if !not_judged.is_empty() {
        let mut t = new_table(style);
        t.set_header(["Check", "Status", "Why"]);
        for (id, c) in not_judged {
            let status = Cell::new("unknown");
            let status = if style.colour { status.fg(Color::Magenta) } else { status };
            t.add_row(vec![Cell::new(id.as_str()), status, Cell::new(c.reason.as_deref().unwrap_or(""))]);
        }
        out += &format!("checks that could not be judged (not a pass):\n{t}\n");
    }
    if !r.actions.is_empty() {
        let mut t = new_table(style);
        t.set_header(["User", "Step", "Status", "Old key", "New key", "Why"]);
        for a in &r.actions {
            let status = serde_json::to_value(a.status).ok().and_then(|v| v.as_str().map(str::to_string));
            let why = match &a.error {
                Some(e) => format!("{} ({e})", a.reason),
                None => a.reason.clone(),
            };
            t.add_row(vec![
                Cell::new(&a.user),
                Cell::new(a.step.to_string()),
                Cell::new(status.unwrap_or_default()),
                Cell::new(a.old_key_id.as_deref().unwrap_or("")),
                Cell::new(a.new_key_id.as_deref().unwrap_or("")),
                Cell::new(why),
            ]);
        }
        out += &format!("rotation:\n{t}\n");
    }
    for e in &r.errors {
        out += &format!("error: {e}\n");
    }
    for w in &r.warnings {
        out += &format!("warning: {w}\n");
    }
    let counts: Vec<String> = Severity::ALL
        .iter()
        .filter_map(|s| r.summary.by_severity.get(s).filter(|n| **n > 0).map(|n| format!("{n} {s}")))
        .collect();
    let skipped = r.summary.checks.values().filter(|c| c.status == CheckOutcome::Skipped).count();
    out += &format!(
        "{} open finding{}{}{} · {} exempted · {} user{} · {} check{} unknown{} · {} API calls{}\n",
        r.summary.findings,
        if r.summary.findings == 1 { "" } else { "s" },
        if counts.is_empty() { String::new() } else { format!(" ({})", counts.join(", ")) },
        if many { format!(" in {}", account.account_id) } else { String::new() },
        r.summary.exempted,
        r.summary.users_scanned,
        if r.summary.users_scanned == 1 { "" } else { "s" },
        r.unknown_checks().len(),
        if r.unknown_checks().len() == 1 { "" } else { "s" },
        if skipped > 0 { format!(" · {skipped} skipped") } else { String::new() },
        r.summary.api_calls_total,
        if r.findings_omitted > 0 {
            format!(" · {} findings left out by REPORT_MAX_BYTES", r.findings_omitted)
        } else {
            String::new()
        },
    );
    if let Some(uri) = &r.archive {
        out += &format!("archived: {uri}\n");
    }
    if let Some(uri) = &r.page {
        out += &format!("page: {uri}\n");
    }
    if many {
        out.push('\n');
    }
    out
}
