//! `make demo`: a local AWS account with a little of everything wrong, audited by the real
//! function through `cargo lambda`, and the report printed for a person.
//!
//! It starts moto (under a movable clock), seeds users whose keys and passwords are 10 to 100
//! days old, runs `keywarden` with `cargo lambda watch` + `cargo lambda invoke`, prints the
//! findings by severity, the counts and the API calls, writes the full JSON report to
//! `out/report.json`, and stops everything it started.

use std::time::Instant;

use keywarden_e2e::{lambda, report, scenario, workspace_root, Aws, Moto, Watch};

#[tokio::main]
async fn main() {
    let started = Instant::now();
    println!("starting moto (local AWS) ...");
    let moto = Moto::start();
    println!("  moto on {}", moto.endpoint());

    println!("seeding a demo account (users created 100, 70, 50 and 10 days ago) ...");
    let aws = Aws::connect(&moto.endpoint()).await;
    let seeded = scenario::violations(&moto, &aws).await;
    println!("  {} users, {} access keys", seeded.users.len(), seeded.keys.len());

    println!("starting `cargo lambda watch` ...");
    let watch = Watch::start(&scenario::scenario_env(&moto));
    println!("invoking keywarden with events/audit.json ...");
    let invocation = watch.invoke(&lambda::event("events/audit.json"));
    if !invocation.success {
        eprintln!("the invocation failed:\n{}\n{}", invocation.output(), watch.log_tail());
        std::process::exit(1);
    }
    let report = invocation.json();

    println!("\n{}", report::render(&report));
    if report["data_as_of"].as_str().is_some_and(|t| t.starts_with("2015-02-02")) {
        println!(
            "(data as of: moto dates every credential report 2015-02-02T20:02:02Z; AWS gives the real time)"
        );
    }
    println!("invocation (cargo lambda invoke, wall time): {:.2?}", invocation.elapsed);

    let out_dir = workspace_root().join("out");
    std::fs::create_dir_all(&out_dir).expect("create out/");
    let path = out_dir.join("report.json");
    let json = serde_json::to_string_pretty(&report).expect("serialize the report");
    std::fs::write(&path, json + "\n").expect("write out/report.json");
    println!("full report: {}", path.display());

    drop(watch);
    drop(moto);
    println!("demo finished in {:.1?} (moto and watch stopped)", started.elapsed());
}
