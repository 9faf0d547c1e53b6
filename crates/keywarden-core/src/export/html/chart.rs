//! The trend of open findings by severity over archived runs, as inline SVG: no script, no
//! font and no image to fetch, so the page stays one self-contained file.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use maud::{html, Markup};

use super::super::document::Document;
use crate::catalogue::Severity;

/// Open findings at one moment, summed over accounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrendPoint {
    /// A run's start.
    pub at: DateTime<Utc>,
    /// Open findings per severity, every severity present.
    pub open: BTreeMap<Severity, usize>,
    /// How many accounts the sum covers.
    pub accounts: usize,
}

/// One point per distinct run time. Each account counts with its latest report at or before
/// that time, so a run of one account among several does not make the others look fixed. An
/// account that failed or was not reached in a run keeps its previous count: the chart shows
/// what was last known, and the page's account table says which accounts are out of date.
pub fn trend(documents: &[Document]) -> Vec<TrendPoint> {
    let mut entries: Vec<(DateTime<Utc>, &str, &BTreeMap<Severity, usize>)> = documents
        .iter()
        .flat_map(Document::accounts)
        .filter_map(|a| a.report.map(|r| (a.generated_at, a.account_id, &r.summary.by_severity)))
        .collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(b.1)));
    let mut latest: BTreeMap<&str, &BTreeMap<Severity, usize>> = BTreeMap::new();
    let mut points: Vec<TrendPoint> = Vec::new();
    let mut i = 0;
    while i < entries.len() {
        let at = entries[i].0;
        while i < entries.len() && entries[i].0 == at {
            latest.insert(entries[i].1, entries[i].2);
            i += 1;
        }
        let mut open: BTreeMap<Severity, usize> = Severity::ALL.iter().map(|s| (*s, 0)).collect();
        for by_severity in latest.values() {
            for (severity, n) in by_severity.iter() {
                *open.entry(*severity).or_default() += n;
            }
        }
        points.push(TrendPoint { at, open, accounts: latest.len() });
    }
    points
}

/// The colour of a severity, in the chart, the badges and the summary cards.
pub fn colour(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "#7f1d1d",
        Severity::High => "#dc2626",
        Severity::Medium => "#d97706",
        Severity::Low => "#2563eb",
        Severity::Info => "#6b7280",
    }
}

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 240.0;
const LEFT: f64 = 44.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 36.0;

/// The chart: one line per severity (a dot per run), the axes labelled with the first and
/// last run and the largest count. A single run is a row of dots, not a line.
pub fn svg(points: &[TrendPoint]) -> Markup {
    let max = points.iter().flat_map(|p| p.open.values().copied()).max().unwrap_or(0).max(1);
    let (first, last) = match (points.first(), points.last()) {
        (Some(f), Some(l)) => (f.at, l.at),
        _ => return html! { p.empty { "No archived runs to chart." } },
    };
    let span = (last - first).num_milliseconds().max(0) as f64;
    // Runs minutes apart (an engineer trying it) need the seconds to tell them apart.
    let label = if span < 3_600_000.0 { "%Y-%m-%d %H:%M:%S" } else { "%Y-%m-%d %H:%M" };
    let x = |at: DateTime<Utc>| {
        if span == 0.0 {
            LEFT + (WIDTH - LEFT - RIGHT) / 2.0
        } else {
            LEFT + (at - first).num_milliseconds() as f64 / span * (WIDTH - LEFT - RIGHT)
        }
    };
    let y = |n: usize| TOP + (1.0 - n as f64 / max as f64) * (HEIGHT - TOP - BOTTOM);
    let base = HEIGHT - BOTTOM;
    html! {
        svg #trend role="img" viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } width="100%"
            aria-label="Open findings by severity over archived runs" {
            line x1=(LEFT) y1=(base) x2=(WIDTH - RIGHT) y2=(base) stroke="#9ca3af" {}
            line x1=(LEFT) y1=(TOP) x2=(LEFT) y2=(base) stroke="#9ca3af" {}
            text x=(LEFT - 6.0) y=(TOP + 4.0) text-anchor="end" { (max) }
            text x=(LEFT - 6.0) y=(base) text-anchor="end" { "0" }
            text x=(LEFT) y=(HEIGHT - 10.0) { (first.format(label)) }
            @if span > 0.0 {
                text x=(WIDTH - RIGHT) y=(HEIGHT - 10.0) text-anchor="end" { (last.format(label)) }
            }
            @for severity in Severity::ALL {
                @let coords: Vec<(f64, f64)> = points.iter()
                    .map(|p| (x(p.at), y(p.open.get(&severity).copied().unwrap_or(0)))).collect();
                g.series data-severity=(severity.as_str()) {
                    @if coords.len() > 1 {
                        polyline fill="none" stroke=(colour(severity)) stroke-width="2"
                            points=(coords.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect::<Vec<_>>().join(" ")) {}
                    }
                    @for (point, (cx, cy)) in points.iter().zip(&coords) {
                        circle.point cx=(format!("{cx:.1}")) cy=(format!("{cy:.1}")) r="3.5" fill=(colour(severity)) {
                            title {
                                (point.at.format("%Y-%m-%d %H:%M:%S UTC")) ": "
                                (point.open.get(&severity).copied().unwrap_or(0)) " " (severity.as_str())
                            }
                        }
                    }
                }
            }
        }
        ul.legend {
            @for severity in Severity::ALL {
                li { span.swatch style={ "background:" (colour(severity)) } {} (severity.as_str()) }
            }
        }
    }
}
