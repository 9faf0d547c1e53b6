//! The audit under faults, end to end: the real `keywarden` binary, every request through
//! the fault-injecting proxy to moto, at a 30% fault rate on every operation.
//!
//! A fault the SDK can retry (throttling, 503, a connection reset before the request was
//! forwarded, an answer dropped after moto acted) must not change what the audit says: the
//! findings and every check's status equal the fault-free run's, `errors` is empty, and the
//! report's API-call counts include the retries.

use std::sync::{Arc, Mutex};

use keywarden_e2e::proxy::{FaultKind, FaultPlan, Intercept, Proxy};
use keywarden_e2e::report::{assert_summary_consistent, check_statuses, finding_set};
use keywarden_e2e::{lambda, scenario, Aws, Moto, Watch};
use serde_json::Value;

const RATE: f64 = 0.3;
const SEEDS: [u64; 5] = [3001, 3002, 3003, 3004, 3005];
const KINDS: [FaultKind; 4] =
    [FaultKind::Throttle, FaultKind::Unavailable, FaultKind::ResetBeforeForward, FaultKind::DropResponse];

fn calls_total(report: &Value) -> u64 {
    report["summary"]["api_calls_total"].as_u64().expect("api_calls_total")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_percent_faults_change_nothing_the_audit_says() {
    let moto = Moto::start();
    let aws = Aws::connect(&moto.endpoint()).await;
    scenario::violations(&moto, &aws).await;
    // The plan in force; `None` forwards everything.
    let plan: Arc<Mutex<Option<FaultPlan>>> = Arc::new(Mutex::new(None));
    let proxy = {
        let plan = plan.clone();
        Proxy::start(moto.port(), move |req| match plan.lock() {
            Ok(p) => p.as_ref().map_or(Intercept::Forward, |p| p.decide(req)),
            Err(_) => Intercept::Forward,
        })
    };
    let mut env = scenario::scenario_env(&moto);
    env.insert("AWS_ENDPOINT_URL".into(), proxy.endpoint());
    let watch = Watch::start(&env);
    let audit = lambda::event("events/audit.json");

    let run = |what: &str| {
        let inv = watch.invoke(&audit);
        assert!(inv.success, "{what}: the invocation failed:\n{}\n{}", inv.output(), watch.log_tail());
        eprintln!("{what}: invocation took {:?}", inv.elapsed);
        inv.json()
    };
    // The first run also waits for moto to generate the credential report (one more
    // GenerateCredentialReport); the baseline is the second.
    run("warm-up");
    let clean = run("fault-free");
    assert_eq!(clean["errors"], Value::Array(vec![]), "fault-free errors: {:#}", clean["errors"]);
    let (want_findings, want_statuses) = (finding_set(&clean), check_statuses(&clean));
    let clean_calls = calls_total(&clean);

    for seed in SEEDS {
        let before = proxy.log().len();
        if let Ok(mut p) = plan.lock() {
            *p = Some(FaultPlan::new(seed, RATE).kinds(KINDS));
        }
        let report = run(&format!("seed {seed}"));
        if let Ok(mut p) = plan.lock() {
            *p = None;
        }
        let faults: Vec<_> = proxy.log()[before..].iter().filter_map(|e| e.fault).collect();
        eprintln!(
            "seed {seed}: {} requests, {} faults, {} API calls (fault-free {clean_calls})",
            proxy.log().len() - before,
            faults.len(),
            calls_total(&report)
        );
        assert!(!faults.is_empty(), "seed {seed} injected no fault: the test would prove nothing");
        assert_eq!(report["errors"], Value::Array(vec![]), "seed {seed}: errors {:#}", report["errors"]);
        assert_eq!(
            finding_set(&report),
            want_findings,
            "seed {seed}: findings differ from the fault-free run"
        );
        assert_eq!(check_statuses(&report), want_statuses, "seed {seed}: check statuses differ");
        assert_summary_consistent(&report);
        // Every attempt, the faulted ones included, is in the report's counts.
        let requests = (proxy.log().len() - before) as u64;
        assert_eq!(
            calls_total(&report),
            requests,
            "seed {seed}: the report counts every attempt the proxy saw: {:#}",
            report["summary"]["api_calls"]
        );
        assert!(calls_total(&report) > clean_calls, "seed {seed}: the retries show in the counts");
    }
}
