//! How long the pure part of a run takes for the largest account IAM allows (5,000 users),
//! and for 1,000 so growth shows: parse the credential report, evaluate every check, build
//! and serialise the report, compare two runs; each phase measured on its own. Run with
//! `cargo bench -p keywarden-core --bench evaluate`; it prints figures, it asserts nothing
//! (the bar: parse + evaluate of 5,000 users under 20 ms).

mod fixture;

use std::collections::BTreeMap;

use chrono::Duration;
use divan::{black_box, Bencher};
use keywarden_core::checks::{evaluate as evaluate_all, UserScope};
use keywarden_core::credential_report::CredentialReport;
use keywarden_core::report::{Changes, Report};
use keywarden_core::AuditPolicy;

use fixture::{run, Account};

const SIZES: [usize; 2] = [1_000, 5_000];
/// Well above any report the fixture makes: nothing is dropped.
const NO_CAP: usize = 64 * 1024 * 1024;

fn main() {
    divan::main();
    figures();
}

#[divan::bench(args = SIZES)]
fn parse_credential_report(bencher: Bencher, users: usize) {
    let account = Account::new(users);
    bencher.bench_local(|| CredentialReport::parse(black_box(account.csv.as_bytes()), account.now));
}

#[divan::bench(args = SIZES)]
fn evaluate(bencher: Bencher, users: usize) {
    let account = Account::new(users);
    let inventory = account.inventory();
    let policy = AuditPolicy::default();
    bencher.bench_local(|| evaluate_all(black_box(&inventory), &policy, &UserScope::All, account.now));
}

/// The bar: under 20 ms for 5,000 users. The authorization details are moved in,
/// not cloned in the timed part: a run reads them once.
#[divan::bench(args = SIZES)]
fn parse_and_evaluate(bencher: Bencher, users: usize) {
    let account = Account::new(users);
    let policy = AuditPolicy::default();
    bencher.with_inputs(|| account.inventory()).bench_local_refs(|inventory| {
        let report = CredentialReport::parse(account.csv.as_bytes(), account.now).expect("parses");
        inventory.credential_report = Ok(report);
        evaluate_all(inventory, &policy, &UserScope::All, account.now)
    });
}

#[divan::bench(args = SIZES)]
fn build_report(bencher: Bencher, users: usize) {
    let account = Account::new(users);
    let evaluation =
        evaluate_all(&account.inventory(), &AuditPolicy::default(), &UserScope::All, account.now);
    bencher
        .with_inputs(|| evaluation.clone())
        .bench_local_values(|ev| Report::build(run("bench", account.now), ev, vec![], BTreeMap::new()));
}

#[divan::bench(args = SIZES)]
fn serialise_report(bencher: Bencher, users: usize) {
    let report = Account::new(users).report("bench");
    bencher
        .with_inputs(|| report.clone())
        .bench_local_refs(|r| r.to_json_capped(NO_CAP).expect("serialises"));
}

/// A cap that forces about half the findings out: the size search is measured.
#[divan::bench(args = SIZES)]
fn serialise_capped(bencher: Bencher, users: usize) {
    let report = Account::new(users).report("bench");
    let cap = full_size(&report) / 2;
    bencher.with_inputs(|| report.clone()).bench_local_refs(|r| r.to_json_capped(cap).expect("serialises"));
}

/// Two runs 45 days apart (older keys: new findings), over credential reports that lack
/// every 10th and every 7th user respectively (unknown subjects of every credential check,
/// so findings neither new nor resolved: every lookup of `judged` is exercised).
#[divan::bench(args = SIZES)]
fn changes_between(bencher: Bencher, users: usize) {
    let (previous, current) = two_runs(users);
    bencher.bench_local(|| Changes::between(black_box(&previous), black_box(&current)));
}

fn two_runs(users: usize) -> (Report, Report) {
    let account = Account::new(users);
    let previous = account.report_at("previous", account.now, &account.parse_without_every(10));
    let current =
        account.report_at("current", account.now + Duration::days(45), &account.parse_without_every(7));
    (previous, current)
}

fn full_size(report: &Report) -> usize {
    serde_json::to_string(report).map(|s| s.len()).unwrap_or(0)
}

/// What the timings are of, printed after divan's table.
fn figures() {
    for users in SIZES {
        let account = Account::new(users);
        let report = account.report("bench");
        let (previous, current) = two_runs(users);
        let changes = Changes::between(&previous, &current);
        println!(
            "{users} users: {} findings ({} exempted), report {} bytes, credential report CSV {} bytes; \
             changes: {} unknown subjects before, {} new, {} resolved, {} ongoing, {} unverified",
            report.findings.len(),
            report.summary.exempted,
            full_size(&report),
            account.csv.len(),
            previous.unknown.len(),
            changes.new.len(),
            changes.resolved.len(),
            changes.ongoing,
            changes.unverified.len(),
        );
    }
    println!("peak memory (VmHWM): {}", peak_memory().unwrap_or_else(|| "unavailable".into()));
}

/// The process's peak resident set, from Linux's /proc.
fn peak_memory() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .map(|l| l.trim_start_matches("VmHWM:").trim().to_string())
}
