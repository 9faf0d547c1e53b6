//! The command line end to end: the real `keywarden` binary, run as a CI job runs it (stdout
//! and stderr piped), over the real AWS SDK to moto, through the proxy where a fault or a
//! write log matters.
//!
//! What a user checks: the table, the exit code a CI gate reads, OCSF that validates, a
//! rotation without `--enforce` that writes nothing, and plain output when piped.

use std::collections::BTreeSet;

use keywarden_e2e::cli::{self, CliRun};
use keywarden_e2e::proxy::{Intercept, Proxy};
use keywarden_e2e::report::{finding_set, findings};
use keywarden_e2e::{scenario, Aws, Moto};
use serde_json::Value;

/// No terminal escape (colour, cursor movement) and no carriage return (a redrawn progress
/// bar) on either stream.
fn assert_plain(run: &CliRun) {
    for (name, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
        assert!(!text.contains('\u{1b}'), "{name} holds a terminal escape:\n{}", run.output());
        assert!(!text.contains('\r'), "{name} holds a carriage return (a progress bar):\n{}", run.output());
    }
}

/// The OCSF 1.3.0 Compliance Finding fields a consumer relies on, with their enum values.
fn validate_ocsf(event: &Value) {
    let int = |path: &str| -> u64 {
        event.pointer(path).and_then(Value::as_u64).unwrap_or_else(|| panic!("{path} missing: {event:#}"))
    };
    let text = |path: &str| -> &str {
        event.pointer(path).and_then(Value::as_str).unwrap_or_else(|| panic!("{path} missing: {event:#}"))
    };
    assert_eq!(int("/class_uid"), 2003);
    assert_eq!(int("/category_uid"), 2);
    let activity = int("/activity_id");
    assert!((1..=3).contains(&activity), "activity_id {activity}");
    assert_eq!(int("/type_uid"), 2003 * 100 + activity);
    assert!([0, 1, 2, 3, 4, 5, 6, 99].contains(&int("/severity_id")));
    assert!([0, 1, 2, 3, 4, 99].contains(&int("/status_id")));
    assert!([0, 1, 2, 3, 99].contains(&int("/compliance/status_id")));
    assert!(int("/time") > 1_600_000_000_000, "time is epoch milliseconds");
    assert_eq!(text("/metadata/version"), "1.3.0");
    assert_eq!(text("/metadata/product/name"), "keywarden");
    assert!(!text("/finding_info/uid").is_empty());
    assert!(!text("/finding_info/title").is_empty());
    assert_eq!(text("/cloud/provider"), "AWS");
    let resources = event["resources"].as_array().unwrap_or_else(|| panic!("no resources: {event:#}"));
    assert!(
        !resources.is_empty() && resources.iter().all(|r| r["uid"].as_str().is_some_and(|u| !u.is_empty()))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_account_prints_its_table_exits_one_and_gives_valid_ocsf() {
    let moto = Moto::start();
    let aws = Aws::connect(&moto.endpoint()).await;
    let seeded = scenario::violations(&moto, &aws).await;
    let env = cli::quiet(scenario::scenario_env(&moto));
    let dir = tempfile::tempdir().expect("tempdir");
    let json_path = dir.path().join("report.json");
    let json_arg = json_path.to_string_lossy().to_string();

    let table = cli::run(&env, &["audit", "--fail-on", "high"]);
    assert_eq!(table.code, 1, "high findings with --fail-on high exit 1:\n{}", table.output());
    assert_plain(&table);
    assert!(table.stdout.contains("Severity") && table.stdout.contains("Finding"), "{}", table.output());
    let report_run = cli::run(&env, &["audit", "--format", "json", "--output", &json_arg]);
    assert_eq!(report_run.code, 1, "{}", report_run.output());
    assert!(report_run.stdout.is_empty(), "--output leaves stdout empty:\n{}", report_run.output());
    let report: Value = serde_json::from_slice(&std::fs::read(&json_path).expect("the --output file"))
        .expect("a JSON report");
    // The table shows every open finding the report has, by check and user.
    let open: Vec<&Value> = findings(&report).iter().filter(|f| f["exempted"] == false).collect();
    assert!(open.len() >= 10, "the demo account has many open findings: {}", open.len());
    for f in &open {
        let check = f["check"].as_str().unwrap_or_default();
        let line = table
            .stdout
            .lines()
            .find(|l| l.contains(check) && f["user"].as_str().is_none_or(|u| l.contains(u)));
        assert!(line.is_some(), "no table row for {check} / {}:\n{}", f["user"], table.stdout);
    }
    assert_eq!(finding_set(&report), seeded.expected.iter().cloned().collect::<BTreeSet<_>>());

    // The threshold moves the exit code; `never` leaves only missing data to fail on.
    let critical_only = cli::run(&env, &["audit", "--fail-on", "critical", "--format", "json"]);
    assert_eq!(critical_only.code, 1, "root has no MFA (critical):\n{}", critical_only.stderr);
    let never = cli::run(&env, &["audit", "--fail-on", "never", "--format", "json"]);
    assert_eq!(never.code, 0, "{}", never.stderr);

    let ocsf = cli::run(&env, &["audit", "--format", "ocsf"]);
    assert_plain(&ocsf);
    let events: Vec<Value> = serde_json::from_str(&ocsf.stdout).expect("--format ocsf is a JSON array");
    assert_eq!(events.len(), findings(&report).len(), "one event per finding");
    let mut uids = BTreeSet::new();
    for event in &events {
        validate_ocsf(event);
        assert!(uids.insert(event["finding_info"]["uid"].to_string()), "finding uids are unique");
    }
    let asff = cli::run(&env, &["audit", "--format", "asff"]);
    let asff: Vec<Value> = serde_json::from_str(&asff.stdout).expect("--format asff is a JSON array");
    assert_eq!(asff.len(), findings(&report).len());
    assert!(asff.iter().all(|f| f["SchemaVersion"] == "2018-10-08" && f["AwsAccountId"] == "123456789012"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compliant_account_exits_zero() {
    let moto = Moto::start();
    let aws = Aws::connect(&moto.endpoint()).await;
    scenario::compliant(&moto, &aws).await;
    // moto cannot give the root user MFA; AWS can, and this is how its summary says so.
    let proxy = Proxy::start(moto.port(), |req| {
        if req.operation() == "GetAccountSummary" {
            Intercept::Rewrite {
                from: "<key>AccountMFAEnabled</key><value>0</value>",
                to: "<key>AccountMFAEnabled</key><value>1</value>",
            }
        } else {
            Intercept::Forward
        }
    });
    let mut env = cli::quiet(scenario::scenario_env(&moto));
    env.insert("AWS_ENDPOINT_URL".into(), proxy.endpoint());
    let run = cli::run(&env, &["audit"]);
    assert_eq!(run.code, 0, "a compliant account passes the gate:\n{}", run.output());
    assert_plain(&run);
    assert!(
        run.stdout.contains("0 open findings") && run.stdout.contains("0 checks unknown"),
        "{}",
        run.output()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_credential_report_exits_two_and_says_why() {
    let moto = Moto::start();
    let aws = Aws::connect(&moto.endpoint()).await;
    scenario::compliant(&moto, &aws).await;
    let proxy = Proxy::start(moto.port(), |req| match req.operation().as_str() {
        "GenerateCredentialReport" | "GetCredentialReport" => Intercept::Refuse {
            status: 403,
            code: "AccessDenied".into(),
            message: "not authorized to perform iam:GetCredentialReport".into(),
        },
        _ => Intercept::Forward,
    });
    let mut env = cli::quiet(scenario::scenario_env(&moto));
    env.insert("AWS_ENDPOINT_URL".into(), proxy.endpoint());
    // Even with findings allowed, missing data fails the gate.
    let run = cli::run(&env, &["audit", "--fail-on", "never"]);
    assert_eq!(run.code, 2, "a denied credential report is never a pass:\n{}", run.output());
    assert_plain(&run);
    assert!(run.stderr.contains("incomplete:") && run.stderr.contains("AccessDenied"), "{}", run.output());
    assert!(run.stdout.contains("could not be judged") && run.stdout.contains("unknown"), "{}", run.output());
    // Relaxed on purpose, the same run exits on its findings alone.
    let relaxed = cli::run(&env, &["audit", "--fail-on", "never", "--allow-unknown"]);
    assert_eq!(relaxed.code, 0, "{}", relaxed.output());
}

/// IAM, STS and Secrets Manager operations that change something.
fn is_write(operation: &str) -> bool {
    [
        "Create",
        "Update",
        "Delete",
        "Put",
        "Tag",
        "Untag",
        "Attach",
        "Detach",
        "Add",
        "Remove",
        "Enable",
        "Deactivate",
        "Restore",
        "Rotate",
    ]
    .iter()
    .any(|verb| operation.starts_with(verb))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_without_enforce_writes_nothing_and_bad_input_changes_nothing() {
    let moto = Moto::start();
    let aws = Aws::connect(&moto.endpoint()).await;
    scenario::violations(&moto, &aws).await;
    let proxy = Proxy::start(moto.port(), |_| Intercept::Forward);
    let mut env = cli::quiet(scenario::scenario_env(&moto));
    env.insert("AWS_ENDPOINT_URL".into(), proxy.endpoint());
    let before = aws.snapshot().await;

    // old-key's only key is 100 days old: a rotation is due, and only planned.
    let plan = cli::run(&env, &["rotate", "--users", "old-key", "--rotation-mode", "enforce"]);
    assert_plain(&plan);
    assert!(plan.code != 2, "{}", plan.output());
    let planned = plan.stdout.lines().find(|l| l.contains("old-key") && l.contains("planned"));
    assert!(planned.is_some(), "the table shows the planned step:\n{}", plan.output());
    assert!(plan.stdout.contains("mode dry-run"), "{}", plan.output());
    let ops: Vec<String> = proxy.log().iter().map(|e| e.operation.clone()).collect();
    assert!(ops.iter().any(|o| o == "ListAccessKeys"), "the rotation read the user's keys: {ops:?}");
    let writes: Vec<&String> = ops.iter().filter(|o| is_write(o)).collect();
    assert!(writes.is_empty(), "a rotation without --enforce wrote: {writes:?}");
    assert_eq!(aws.snapshot().await, before, "IAM changed");

    // Bad input: refused by name, before any AWS call.
    let calls = proxy.log().len();
    let bad = cli::run(&env, &["audit", "--max-key-age-days", "0"]);
    assert_eq!(bad.code, 2, "{}", bad.output());
    assert!(bad.stderr.contains("MAX_KEY_AGE_DAYS"), "the error names the setting:\n{}", bad.output());
    let conflict =
        cli::run(&env, &["rotate", "--users", "old-key", "--enforce", "--rotation-mode", "dry-run"]);
    assert_eq!(conflict.code, 2, "{}", conflict.output());
    assert!(conflict.stderr.contains("contradicts"), "{}", conflict.output());
    let usage = cli::run(&env, &["rotate"]);
    assert_eq!(usage.code, 2, "clap's usage error: {}", usage.output());
    assert_eq!(proxy.log().len(), calls, "refused input made AWS calls: {:?}", &proxy.log()[calls..]);
    let unknown = cli::run(&env, &["audit", "--users", "no-such-user"]);
    assert_eq!(unknown.code, 2, "{}", unknown.output());
    assert!(unknown.stderr.contains("no-such-user"), "{}", unknown.output());
    assert_eq!(aws.snapshot().await, before, "IAM changed");
}

/// Runs `keywarden ARGS` on a pseudo-terminal (util-linux's `script`), 120 columns wide, and
/// returns everything the terminal showed (stdout and stderr both).
fn on_a_terminal(env: &std::collections::BTreeMap<String, String>, args: &str) -> String {
    let bin = cli::binary();
    let command = format!("stty cols 120; {} {args}", bin.display());
    let out = std::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env_clear()
        .envs(env)
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("TERM", "xterm-256color")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("util-linux's `script` runs keywarden on a pseudo-terminal");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// SGR sequences that set a colour (`ESC[31m`, `ESC[38;5;9m`, …), not cursor movement.
fn colours(text: &str) -> usize {
    text.match_indices("\u{1b}[")
        .filter(|(i, _)| {
            let rest = &text[i + 2..];
            let code: String = rest.chars().take_while(|c| c.is_ascii_digit() || *c == ';').collect();
            rest[code.len()..].starts_with('m') && code.split(';').any(|p| p.starts_with('3') && p.len() == 2)
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_terminal_there_is_colour_and_progress_and_no_colour_with_no_color() {
    let moto = Moto::start();
    let aws = Aws::connect(&moto.endpoint()).await;
    scenario::violations(&moto, &aws).await;
    let env = cli::quiet(scenario::scenario_env(&moto));
    let shown = on_a_terminal(&env, "audit");
    assert!(colours(&shown) > 0, "severities are coloured on a terminal:\n{shown}");
    assert!(shown.contains("reading the IAM inventory"), "the progress bar shows the stage:\n{shown}");
    assert!(shown.contains("root_mfa_disabled"), "{shown}");
    // The table fits the terminal's 120 columns.
    let widest =
        shown.lines().filter(|l| l.contains('│')).map(|l| strip(l).chars().count()).max().unwrap_or(0);
    assert!(widest > 0 && widest <= 120, "table rows are at most 120 wide, widest {widest}:\n{shown}");

    let mut no_color = env.clone();
    no_color.insert("NO_COLOR".into(), "1".into());
    let plain = on_a_terminal(&no_color, "audit");
    assert!(plain.contains("root_mfa_disabled"), "{plain}");
    assert_eq!(colours(&plain), 0, "NO_COLOR: no colour, even on a terminal:\n{plain}");
}

/// The text without terminal escapes, for measuring.
fn strip(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for d in chars.by_ref() {
                    if d.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
        } else if c != '\r' {
            out.push(c);
        }
    }
    out
}
