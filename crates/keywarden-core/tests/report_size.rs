//! The size-capped report is exactly what serde makes of the report with the longest prefix
//! of findings that fits: the cap's arithmetic is checked against the plain search that
//! serialises every candidate prefix.

#[path = "../benches/fixture/mod.rs"]
mod fixture;

use keywarden_core::Report;

/// The longest prefix whose serialised report fits in `max_bytes`, found by serialising
/// each prefix (what `to_json_capped` did before it measured findings once).
fn plain(report: &Report, max_bytes: usize) -> String {
    let full = serde_json::to_string(report).expect("serialises");
    if full.len() <= max_bytes {
        return full;
    }
    let total = report.findings.len();
    let with = |k: usize| {
        let mut r = report.clone();
        r.findings.truncate(k);
        r.findings_omitted = total - k;
        serde_json::to_string(&r).expect("serialises")
    };
    let k = (0..=total).rev().find(|k| with(*k).len() <= max_bytes).unwrap_or(0);
    with(k)
}

#[test]
fn capped_report_is_serde_of_the_longest_prefix_that_fits() {
    let report = fixture::Account::new(40).report("cap");
    let full = serde_json::to_string(&report).expect("serialises").len();
    assert!(report.findings.len() > 20, "enough findings to drop");
    // Around every boundary: the size of the report without findings, each finding's end,
    // and caps that fit nothing or everything.
    for cap in (0..full + 10).step_by(331).chain([full - 1, full, full + 1, 0, 1]) {
        let mut capped = report.clone();
        let got = capped.to_json_capped(cap).expect("serialises");
        assert_eq!(got, plain(&report, cap), "cap {cap}");
        let back: Report = serde_json::from_str(&got).expect("parses");
        assert_eq!(back, capped, "the report keeps what it returned, cap {cap}");
    }
}

#[test]
fn omitted_count_losing_a_digit_is_measured() {
    // 10 omitted (two digits) and 9 (one) around the same cap.
    let report = fixture::Account::new(8).report("digits");
    let total = report.findings.len();
    assert!(total > 12, "enough findings: {total}");
    let size = |k: usize| {
        let mut r = report.clone();
        r.findings.truncate(k);
        r.findings_omitted = total - k;
        serde_json::to_string(&r).expect("serialises").len()
    };
    for k in [total - 11, total - 10, total - 9] {
        for cap in [size(k) - 1, size(k), size(k) + 1] {
            let mut capped = report.clone();
            assert_eq!(capped.to_json_capped(cap).expect("serialises"), plain(&report, cap), "cap {cap}");
        }
    }
}
