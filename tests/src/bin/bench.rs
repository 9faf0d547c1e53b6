//! `make bench`, the account-scale half: the real release function, run by `cargo lambda
//! watch`, against a moto account of 1,000 and of 5,000 users in a realistic mix.
//!
//! For each size it runs (1) a full audit (once to warm up, then measured), (2) a dry-run
//! rotation plan and (3) an enforce rotation of the users due (a tenth of the account), and
//! prints, as one table: wall time, API calls by operation, the function's peak RSS, and for
//! the audit moto's own time to serve exactly those calls (made again by a tiny client,
//! `tests/bench/replay.py`) and the ratio. It also builds the deployable `bootstrap` with
//! `cargo lambda build --release` and prints its size and the function's cold-start init
//! time. Figures go to `<target>/bench/bench.json`. It measures; it asserts nothing.
//!
//! Then the organization: `KEYWARDEN_BENCH_ORG` accounts × users (default `50x100`, `none`
//! to skip), audited in one invocation in Organizations mode at `ACCOUNT_CONCURRENCY` 8:
//! wall time, calls per account and peak RSS.
//!
//! The account is seeded by `tests/bench/seed_moto.py`, which writes moto's in-process
//! backend directly (seconds for 5,000 users, where 25,000 API calls would take minutes)
//! and then serves it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, Table};
use keywarden_e2e::process::Supervised;
use keywarden_e2e::{find_in_path, free_port, function_env, lambda, workspace_root, Invocation, Watch};
use serde_json::{json, Value};

/// How long seeding may take before the bench gives up.
const SEED_TIMEOUT: Duration = Duration::from_secs(300);

fn main() {
    let sizes: Vec<usize> = std::env::var("KEYWARDEN_BENCH_USERS")
        .unwrap_or_else(|_| "1000,5000".into())
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect();
    let out_dir = target_dir().join("bench");
    std::fs::create_dir_all(&out_dir).expect("create the bench output directory");

    let mut results = Vec::new();
    for users in sizes {
        results.push(run_size(users));
    }
    let org = match std::env::var("KEYWARDEN_BENCH_ORG").unwrap_or_else(|_| "50x100".into()).as_str() {
        "none" => None,
        spec => {
            let (a, u) = spec
                .split_once('x')
                .unwrap_or_else(|| panic!("KEYWARDEN_BENCH_ORG={spec}: want ACCOUNTSxUSERS"));
            let parse = |v: &str| {
                v.trim().parse::<usize>().unwrap_or_else(|e| panic!("KEYWARDEN_BENCH_ORG={spec}: {e}"))
            };
            Some(run_org(parse(a), parse(u)))
        }
    };
    // Last: cargo-lambda builds with its own release settings, a second release build.
    let bootstrap = bootstrap_size();

    println!();
    if !results.is_empty() {
        println!("{}", table(&results));
    }
    if let Some((bytes, path)) = &bootstrap {
        println!("release bootstrap: {:.1} MB ({})", *bytes as f64 / 1e6, path.display());
    }
    for r in &results {
        println!(
            "{} users: cold start init {} ms; first (cold) audit {:.2} s; {} of {} due users rotated (calls per rotated user: {:.2})",
            r["users"],
            r["init_ms"].as_f64().map_or("?".into(), |ms| format!("{ms:.1}")),
            r["audit_cold_seconds"].as_f64().unwrap_or_default(),
            r["rotated"],
            r["due"],
            r["calls_per_rotated_user"].as_f64().unwrap_or_default(),
        );
    }
    if let Some(o) = &org {
        println!(
            "organization of {} accounts x {} users, one invocation at ACCOUNT_CONCURRENCY=8: function {:.2} s (invoke {:.2} s), {} audited, {} failed, {} not audited; {} API calls, {:.1} per account ({}); peak RSS {}",
            o["accounts"],
            o["users_per_account"],
            o["function_seconds"].as_f64().unwrap_or(f64::NAN),
            o["invoke_seconds"].as_f64().unwrap_or(f64::NAN),
            o["audited"],
            o["failed"],
            o["not_audited"],
            o["api_calls_total"],
            o["calls_per_account"].as_f64().unwrap_or(f64::NAN),
            o["calls_per_account_by_operation"]
                .as_object()
                .map(|m| m.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", "))
                .unwrap_or_default(),
            o["peak_rss_kb"].as_f64().map_or("?".into(), |kb| format!("{:.1} MB", kb / 1024.0)),
        );
    }
    let doc = json!({
        "bootstrap_bytes": bootstrap.as_ref().map(|(b, _)| *b),
        "runs": results,
        "organization": org,
    });
    let path = out_dir.join("bench.json");
    std::fs::write(&path, serde_json::to_string_pretty(&doc).expect("serialise") + "\n").expect("write");
    println!("figures: {}", path.display());
}

/// One account size: seed, audit twice, plan, enforce.
fn run_size(users: usize) -> Value {
    let due = users / 10;
    println!("== {users} users, {due} due for rotation ==");
    let dir = tempfile::Builder::new().prefix("keywarden-bench-").tempdir().expect("temp dir");
    let port = free_port();
    let ready = dir.path().join("ready.json");
    let mut cmd = Command::new(python());
    cmd.arg(workspace_root().join("tests/bench/seed_moto.py"))
        .args(["--users", &users.to_string(), "--due", &due.to_string(), "--port", &port.to_string()])
        .arg("--ready-file")
        .arg(&ready)
        .arg("--report-ready")
        .env("PYTHONUNBUFFERED", "1");
    let mut moto = Supervised::spawn("seed_moto", &cmd, &dir.path().join("moto.log"));
    let seeded = wait_ready(&ready, &mut moto);
    println!("  seeded in {:.1} s: {seeded}", seeded["seconds"].as_f64().unwrap_or_default());
    let endpoint = format!("http://127.0.0.1:{port}");

    let mut env = function_env(&endpoint);
    env.insert("ROTATION_MODE".into(), "enforce".into());
    let watch = Watch::start_release(&env);

    let audit = lambda::event("events/audit.json");
    let cold = watch.invoke(&audit);
    let cold_report = cold.report();
    let pid = watch.function_pid().expect("the function runs after its first invocation");
    let init_ms = init_ms(&watch.log());
    println!(
        "  cold audit {:.2} s, {} findings",
        cold.elapsed.as_secs_f64(),
        cold_report["summary"]["findings"]
    );

    let handled = handled_lines(&watch.log());
    let (audit_run, audit_peak) = measured(pid, || watch.invoke(&audit));
    let audit_report = audit_run.report();
    let audit_own = handled_seconds(&watch.log(), handled);
    let audit_calls = calls(&audit_report);
    let moto_seconds = replay(&endpoint, &audit_calls);
    println!(
        "  warm audit {:.2} s in the function ({:.2} s through cargo lambda invoke), moto alone {moto_seconds:.2} s",
        audit_own.unwrap_or(f64::NAN),
        audit_run.elapsed.as_secs_f64()
    );

    let handled = handled_lines(&watch.log());
    let (plan_run, plan_peak) =
        measured(pid, || watch.invoke_json(&json!({"action": "rotate", "dry_run": true})));
    let plan_report = plan_run.report();
    let plan_own = handled_seconds(&watch.log(), handled);
    let planned = count_actions(&plan_report, "create", "planned");
    println!("  dry run {:.2} s, {planned} creates planned", plan_run.elapsed.as_secs_f64());

    let handled = handled_lines(&watch.log());
    let (enforce_run, enforce_peak) =
        measured(pid, || watch.invoke_json(&json!({"action": "rotate", "dry_run": false})));
    let enforce_report = enforce_run.report();
    let enforce_own = handled_seconds(&watch.log(), handled);
    let rotated = count_actions(&enforce_report, "create", "done");
    let enforce_calls = calls(&enforce_report);
    let per_user = per_rotated_user(&enforce_calls, &audit_calls, rotated);
    println!("  enforce {:.2} s, {rotated} keys rotated", enforce_run.elapsed.as_secs_f64());
    let statuses = action_statuses(&enforce_report);
    drop(watch);
    moto.stop(Duration::from_secs(5));

    json!({
        "users": users,
        "due": seeded["due"],
        "seeded": seeded,
        "init_ms": init_ms,
        "audit_cold_seconds": cold.elapsed.as_secs_f64(),
        "phases": [
            phase("audit", &audit_run, audit_own, &audit_calls, audit_peak, Some(moto_seconds)),
            phase("dry-run plan", &plan_run, plan_own, &calls(&plan_report), plan_peak, None),
            phase("enforce", &enforce_run, enforce_own, &enforce_calls, enforce_peak, None),
        ],
        "findings": audit_report["summary"]["findings"],
        "planned": planned,
        "rotated": rotated,
        "enforce_actions": statuses,
        "calls_per_rotated_user": per_user,
    })
}

/// An organization of `accounts` accounts of `users` users each, audited in one invocation.
fn run_org(accounts: usize, users: usize) -> Value {
    println!("== organization: {accounts} accounts x {users} users ==");
    let dir = tempfile::Builder::new().prefix("keywarden-bench-org-").tempdir().expect("temp dir");
    let port = free_port();
    let ready = dir.path().join("ready.json");
    let mut cmd = Command::new(python());
    cmd.arg(workspace_root().join("tests/bench/seed_moto.py"))
        .args(["--accounts", &accounts.to_string(), "--users", &users.to_string()])
        .args(["--due", &(users / 10).to_string(), "--port", &port.to_string()])
        .arg("--ready-file")
        .arg(&ready)
        .arg("--report-ready")
        .env("PYTHONUNBUFFERED", "1");
    let mut moto = Supervised::spawn("seed_moto", &cmd, &dir.path().join("moto.log"));
    let seeded = wait_ready(&ready, &mut moto);
    println!("  seeded in {:.1} s", seeded["seconds"].as_f64().unwrap_or_default());
    let mut env = function_env(&format!("http://127.0.0.1:{port}"));
    env.insert("ORGANIZATION".into(), "true".into());
    env.insert("ACCOUNT_CONCURRENCY".into(), "8".into());
    let watch = Watch::start_release(&env);
    let audit = lambda::event("events/audit.json");
    let cold = watch.invoke(&audit);
    cold.report();
    let pid = watch.function_pid().expect("the function runs after its first invocation");
    let handled = handled_lines(&watch.log());
    let (run, peak) = measured(pid, || watch.invoke(&audit));
    let report = run.report();
    let own = handled_seconds(&watch.log(), handled);
    drop(watch);
    moto.stop(Duration::from_secs(5));
    let total = calls(&report);
    let members = report["summary"]["accounts"].as_u64().unwrap_or(0).max(1);
    let per_account: BTreeMap<String, f64> =
        total.iter().map(|(op, n)| (op.clone(), *n as f64 / members as f64)).collect();
    println!(
        "  audit {:.2} s in the function, {} calls",
        own.unwrap_or(f64::NAN),
        total.values().sum::<u64>()
    );
    json!({
        "accounts": accounts,
        "users_per_account": users,
        "cold_invoke_seconds": cold.elapsed.as_secs_f64(),
        "function_seconds": own,
        "invoke_seconds": run.elapsed.as_secs_f64(),
        "audited": report["summary"]["audited"],
        "failed": report["summary"]["failed"],
        "not_audited": report["summary"]["not_audited"],
        "findings": report["summary"]["findings"],
        "api_calls": total,
        "api_calls_total": total.values().sum::<u64>(),
        "calls_per_account": total.values().sum::<u64>() as f64 / members as f64,
        "calls_per_account_by_operation": per_account,
        "peak_rss_kb": peak,
    })
}

/// One phase's figures. `function_seconds` is the function's own duration from its
/// `invocation handled` log line (what Lambda bills); `invoke_seconds` adds what the local
/// harness costs on top (starting `cargo lambda invoke`, the emulated runtime relaying a
/// report of megabytes), which a deployed function does not pay. The ratio is taken on the
/// function's own time.
fn phase(
    name: &str,
    run: &Invocation,
    function_seconds: Option<f64>,
    calls: &BTreeMap<String, u64>,
    peak_kb: Option<u64>,
    moto: Option<f64>,
) -> Value {
    json!({
        "phase": name,
        "function_seconds": function_seconds,
        "invoke_seconds": run.elapsed.as_secs_f64(),
        "api_calls": calls,
        "api_calls_total": calls.values().sum::<u64>(),
        "peak_rss_kb": peak_kb,
        "moto_seconds": moto,
        "ratio_to_moto": moto.zip(function_seconds).map(|(m, f)| f / m),
    })
}

/// The function's `invocation handled` lines so far.
fn handled_lines(log: &str) -> usize {
    log.lines().filter(|l| l.contains("invocation handled")).count()
}

/// The function's own duration of the invocation after the first `before` ones, from its
/// `invocation handled` line; `None` when that invocation logged none (it crashed, say),
/// rather than an earlier invocation's figure.
fn handled_seconds(log: &str, before: usize) -> Option<f64> {
    let line = log.lines().filter(|l| l.contains("invocation handled")).nth(before)?;
    let ms: f64 = line.split("elapsed_ms=").nth(1)?.split_whitespace().next()?.parse().ok()?;
    Some(ms / 1000.0)
}

/// Resets the function's peak RSS (Linux `clear_refs` 5), runs `f`, reads the peak back.
fn measured(pid: u32, f: impl FnOnce() -> Invocation) -> (Invocation, Option<u64>) {
    let proc = PathBuf::from(format!("/proc/{pid}"));
    if let Err(e) = std::fs::write(proc.join("clear_refs"), "5") {
        eprintln!("  (could not reset the peak RSS of pid {pid}: {e}; the figure includes earlier runs)");
    }
    let run = f();
    let peak = std::fs::read_to_string(proc.join("status")).ok().and_then(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    });
    (run, peak)
}

fn calls(report: &Value) -> BTreeMap<String, u64> {
    report["summary"]["api_calls"]
        .as_object()
        .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_u64()?))).collect())
        .unwrap_or_default()
}

fn count_actions(report: &Value, step: &str, status: &str) -> usize {
    report["actions"]
        .as_array()
        .map_or(0, |a| a.iter().filter(|x| x["step"] == step && x["status"] == status).count())
}

fn action_statuses(report: &Value) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for a in report["actions"].as_array().into_iter().flatten() {
        *out.entry(format!(
            "{} {}",
            a["step"].as_str().unwrap_or("?"),
            a["status"].as_str().unwrap_or("?")
        ))
        .or_default() += 1;
    }
    out
}

/// The rotation's own calls per rotated user: the enforce run's calls minus the inventory it
/// shares with the audit, its one bulk secret listing and the two reads of each candidate that
/// was read but needed no write (a rotation blocked on a human), over the users rotated.
fn per_rotated_user(enforce: &BTreeMap<String, u64>, audit: &BTreeMap<String, u64>, rotated: usize) -> f64 {
    if rotated == 0 {
        return 0.0;
    }
    let mut own: i64 = 0;
    for (op, n) in enforce {
        if op == "secretsmanager:ListSecrets" || op.starts_with("sts:") {
            continue;
        }
        own += *n as i64 - audit.get(op).copied().unwrap_or(0) as i64;
    }
    let read = enforce.get("iam:GetUser").copied().unwrap_or(0) as i64;
    let unrotated_reads = 2 * (read - rotated as i64).max(0);
    (own - unrotated_reads) as f64 / rotated as f64
}

fn replay(endpoint: &str, calls: &BTreeMap<String, u64>) -> f64 {
    let out = Command::new(python())
        .arg(workspace_root().join("tests/bench/replay.py"))
        .args(["--endpoint", endpoint, "--calls"])
        .arg(serde_json::to_string(calls).expect("serialise"))
        .output()
        .expect("run replay.py");
    let parsed: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "replay.py printed no JSON ({e}):\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    if parsed["mismatch"].as_array().is_some_and(|m| !m.is_empty()) {
        println!("  replay could not repeat every call exactly: {}", parsed["mismatch"]);
    }
    parsed["total_seconds"].as_f64().unwrap_or(f64::NAN)
}

fn wait_ready(ready: &Path, moto: &mut Supervised) -> Value {
    let start = Instant::now();
    loop {
        if let Some(v) = std::fs::read_to_string(ready).ok().and_then(|s| serde_json::from_str(&s).ok()) {
            return v;
        }
        if let Some(status) = moto.exited() {
            panic!("seed_moto.py exited ({status}):\n{}", moto.log_tail(4000));
        }
        assert!(
            start.elapsed() < SEED_TIMEOUT,
            "seeding took over {SEED_TIMEOUT:?}:\n{}",
            moto.log_tail(4000)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The function's `initialised` log line (`init_ms=…`), the first one of this watch.
fn init_ms(log: &str) -> Option<f64> {
    log.lines()
        .filter(|l| l.contains("initialised"))
        .find_map(|l| l.split("init_ms=").nth(1)?.split_whitespace().next()?.parse().ok())
}

/// `cargo lambda build --release`: the artifact a deployment uploads, for this machine.
fn bootstrap_size() -> Option<(u64, PathBuf)> {
    println!("building the release bootstrap (cargo lambda build --release) ...");
    let status = Command::new(lambda::cargo_lambda())
        .args(["lambda", "build", "--release", "--bin", "keywarden"])
        .current_dir(workspace_root())
        .status()
        .ok()?;
    if !status.success() {
        eprintln!("cargo lambda build failed ({status}); no bootstrap size");
        return None;
    }
    let path = target_dir().join("lambda/keywarden/bootstrap");
    Some((std::fs::metadata(&path).ok()?.len(), path))
}

/// The venv's Python (next to moto_server), which has moto and boto3.
fn python() -> PathBuf {
    find_in_path("moto_server")
        .and_then(|m| Some(m.parent()?.join("python3")))
        .filter(|p| p.exists())
        .unwrap_or_else(|| "python3".into())
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| workspace_root().join("target"))
}

fn table(results: &[Value]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
        "users",
        "phase",
        "function (s)",
        "invoke (s)",
        "API calls",
        "calls by operation",
        "peak RSS (MB)",
        "moto alone (s)",
        "ratio",
    ]);
    for r in results {
        for p in r["phases"].as_array().into_iter().flatten() {
            let ops: Vec<String> = p["api_calls"]
                .as_object()
                .map(|m| m.iter().map(|(k, v)| format!("{k} {v}")).collect())
                .unwrap_or_default();
            let num = |v: &Value, f: fn(f64) -> String| v.as_f64().map_or("-".into(), f);
            t.add_row(vec![
                Cell::new(&r["users"]).set_alignment(CellAlignment::Right),
                Cell::new(p["phase"].as_str().unwrap_or_default()),
                Cell::new(num(&p["function_seconds"], |v| format!("{v:.2}")))
                    .set_alignment(CellAlignment::Right),
                Cell::new(num(&p["invoke_seconds"], |v| format!("{v:.2}")))
                    .set_alignment(CellAlignment::Right),
                Cell::new(&p["api_calls_total"]).set_alignment(CellAlignment::Right),
                Cell::new(ops.join("\n")),
                Cell::new(num(&p["peak_rss_kb"], |v| format!("{:.1}", v / 1024.0)))
                    .set_alignment(CellAlignment::Right),
                Cell::new(num(&p["moto_seconds"], |v| format!("{v:.2}"))).set_alignment(CellAlignment::Right),
                Cell::new(num(&p["ratio_to_moto"], |v| format!("{v:.2}×")))
                    .set_alignment(CellAlignment::Right),
            ]);
        }
    }
    t
}
