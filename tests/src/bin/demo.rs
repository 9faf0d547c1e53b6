//! `make demo`: a local AWS account with a little of everything wrong, audited twice by the
//! real binary, and the result shown as a person meets it.
//!
//! It starts moto (under a movable clock), seeds users whose keys and passwords are 10 to 100
//! days old, then:
//! 1. runs the Lambda function with `cargo lambda watch` + `cargo lambda invoke`
//!    (`events/audit.json`), which archives its report in the emulated S3 bucket;
//! 2. runs one `keywarden audit` from the command line against the same account, which
//!    prints its table (and archives a second report);
//! 3. writes the HTML report of both archived runs with `keywarden report --html`.
//!
//! The Lambda's JSON report goes to `out/report.json`, the page to `out/report.html`.
//! Everything it started is stopped at the end.

use std::process::Command;
use std::time::Instant;

use keywarden_e2e::{cli, lambda, scenario, seed, workspace_root, Aws, Moto, Watch};

const BUCKET: &str = "keywarden-demo-archive";

#[tokio::main]
async fn main() {
    let started = Instant::now();
    println!("starting moto (local AWS) ...");
    let moto = Moto::start();
    println!("  moto on {}", moto.endpoint());

    println!("seeding a demo account (users created 100, 70, 50 and 10 days ago) ...");
    let aws = Aws::connect(&moto.endpoint()).await;
    let seeded = scenario::violations(&moto, &aws).await;
    seed::create_bucket(&moto.endpoint(), BUCKET).await;
    println!(
        "  {} users, {} access keys, report archive s3://{BUCKET}",
        seeded.users.len(),
        seeded.keys.len()
    );
    let mut env = scenario::scenario_env(&moto);
    env.insert("REPORT_BUCKET".into(), BUCKET.into());

    println!("\n1. the Lambda function: `cargo lambda watch`, then `cargo lambda invoke --data-file events/audit.json` ...");
    let watch = Watch::start(&env);
    let invocation = watch.invoke(&lambda::event("events/audit.json"));
    if !invocation.success {
        eprintln!("the invocation failed:\n{}\n{}", invocation.output(), watch.log_tail());
        std::process::exit(1);
    }
    let report = invocation.json();
    let summary = &report["summary"];
    println!(
        "  answered in {:.2?}: {} open findings (worst {}), {} exempted, {} users, {} API calls; archived to {}",
        invocation.elapsed,
        summary["findings"],
        summary["worst"].as_str().unwrap_or("none"),
        summary["exempted"],
        summary["users_scanned"],
        summary["api_calls_total"],
        report["archive"].as_str().unwrap_or("(not archived)"),
    );
    if let Some(page) = report["page"].as_str() {
        println!("  and its page beside it, {page} (the digest links it)");
    }
    drop(watch);
    let out_dir = workspace_root().join("out");
    std::fs::create_dir_all(&out_dir).expect("create out/");
    let json_path = out_dir.join("report.json");
    let json = serde_json::to_string_pretty(&report).expect("serialize the report");
    std::fs::write(&json_path, json + "\n").expect("write out/report.json");
    println!("  its JSON report: {}", json_path.display());

    let bin = cli::binary();
    let env = cli::quiet(env);
    println!("\n2. the command line: `keywarden audit` against the same account ...\n");
    let audit = Command::new(&bin).env_clear().envs(&env).arg("audit").status().expect("run keywarden audit");
    println!(
        "\n  exit code {} (0 clean, 1 findings at or above --fail-on high, 2 an error or an unknown check)",
        audit.code().unwrap_or(-1)
    );
    if report["data_as_of"].as_str().is_some_and(|t| t.starts_with("2015-02-02")) {
        println!("  (moto dates every credential report 2015-02-02T20:02:02Z; AWS gives the real time)");
    }

    println!("\n3. the HTML report of both archived runs: `keywarden report --html out/report.html s3://{BUCKET}` ...");
    let html_path = out_dir.join("report.html");
    let html = Command::new(&bin)
        .env_clear()
        .envs(&env)
        .args(["report", "--html"])
        .arg(&html_path)
        .arg(format!("s3://{BUCKET}"))
        .args(["--format", "json", "--output", "/dev/null"])
        .status()
        .expect("run keywarden report");
    if !html_path.is_file() || html.code() == Some(2) {
        eprintln!("keywarden report --html failed (exit {:?})", html.code());
        std::process::exit(1);
    }
    println!("  open it in a browser: file://{}", html_path.display());

    drop(moto);
    println!("\ndemo finished in {:.1?} (moto and watch stopped)", started.elapsed());
}
