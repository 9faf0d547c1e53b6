//! Rotation under faults, end to end: the real `keywarden` binary (under `cargo lambda
//! watch`), its every request through the fault-injecting proxy (`AWS_ENDPOINT_URL` points at
//! it), moto behind it, both clocks moved by libfaketime.
//!
//! Each test drives whole rotations (+0 create, +8d deactivate, +16d delete) and, after the
//! faulty run of each phase, normal runs an hour apart; it then checks the invariants of
//! `keywarden_e2e::invariants` from IAM, Secrets Manager and STS: no key whose secret nobody
//! holds, no user without a working key, and the phase completed within two later runs.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};

use keywarden_e2e::invariants::{check, Stage};
use keywarden_e2e::proxy::{Intercept, Proxy, Request};
use keywarden_e2e::scan::assert_no_secret_leaked;
use keywarden_e2e::seed::AccessKey;
use keywarden_e2e::{function_env, Aws, Moto, Watch};
use serde_json::{json, Value};

const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/keywarden";
const SCHEDULED: &str = "events/scheduled.json";

/// The phases of a rotation: the clock offset of its first run (in hours), and the stage the
/// phase must reach.
const PHASES: [(i64, &str); 3] = [(0, "grace"), (8 * 24, "inactive"), (16 * 24, "done")];

/// Later runs a phase may need after its faulty one.
const LATER_RUNS: i64 = 2;

fn stage_name(s: &Stage) -> &'static str {
    match s {
        Stage::NotStarted => "not started",
        Stage::Grace { .. } => "grace",
        Stage::Inactive { .. } => "inactive",
        Stage::Done { .. } => "done",
        Stage::Unsettled(_) => "unsettled",
    }
}

/// The user a request is about: IAM's `UserName`, or the `keywarden/<user>` secret a Secrets
/// Manager request names (by name or ARN, whose random suffix is dropped).
fn target_user(req: &Request) -> Option<String> {
    if let Some(u) = req.form_field("UserName") {
        return Some(u);
    }
    let body: Value = serde_json::from_slice(&req.body).ok()?;
    let id = body["SecretId"].as_str().or(body["Name"].as_str())?;
    let rest = id.rsplit_once("keywarden/")?.1;
    let user =
        if id.starts_with("arn:") { rest.rsplit_once('-').map(|(u, _)| u).unwrap_or(rest) } else { rest };
    Some(user.to_string())
}

struct Rig {
    moto: Moto,
    aws: Aws,
}

impl Rig {
    async fn start() -> Self {
        let moto = Moto::start();
        let aws = Aws::connect(&moto.endpoint()).await;
        aws.create_group("BreakGlass").await;
        Rig { moto, aws }
    }

    /// The function's environment, with every AWS request through `endpoint`.
    fn env(&self, endpoint: &str) -> BTreeMap<String, String> {
        let mut env = function_env(endpoint);
        for (k, v) in [
            ("ROTATION_MODE", "enforce"),
            ("KEYWARDEN_ROLE_ARN", ROLE_ARN),
            ("EXEMPT_GROUPS", "BreakGlass"),
            ("CREDENTIAL_REPORT_MAX_WAIT_SECONDS", "20"),
        ] {
            env.insert(k.into(), v.into());
        }
        env
    }

    /// Creates `user` with one key made 100 days ago.
    async fn due_user(&self, user: &str) -> AccessKey {
        self.moto.set_clock("-100d");
        self.aws.create_user(user).await;
        let key = self.aws.create_access_key(user).await;
        self.moto.set_clock("+0");
        key
    }

    fn at_hours(&self, hours: i64) {
        self.moto.set_clock(&format!("+{}m", hours * 60));
    }

    /// Invokes `event`; returns the report, or `None` when the invocation failed (a crash).
    fn run(&self, watch: &Watch, event: &Path) -> Option<Value> {
        let inv = watch.invoke(event);
        eprintln!("invoke {} took {:.1?} (success: {})", event.display(), inv.elapsed, inv.success);
        inv.success.then(|| inv.json())
    }
}

/// Runs the three phases for `users`: the first run of each phase through `first` (faults
/// armed), then normal runs through `normal`, an hour apart, until every user reached the
/// phase's stage or `LATER_RUNS` are spent. Checks the invariants after every run. Returns,
/// per user, the number of runs each phase needed.
async fn drive(
    rig: &Rig,
    users: &[(String, AccessKey)],
    mut first: impl FnMut(usize) -> Option<Value>,
    mut normal: impl FnMut() -> Option<Value>,
) -> BTreeMap<String, Vec<i64>> {
    let mut runs: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for (phase, (start, want)) in PHASES.iter().enumerate() {
        let mut pending: BTreeSet<&str> = users.iter().map(|(u, _)| u.as_str()).collect();
        for attempt in 0..=LATER_RUNS {
            rig.at_hours(start + attempt);
            let _ = if attempt == 0 { first(phase) } else { normal() };
            for (user, original) in users {
                let stage =
                    check(&rig.aws, user, original).await.unwrap_or_else(|e| panic!("phase {want}: {e}"));
                if pending.contains(user.as_str()) && stage_name(&stage) == *want {
                    pending.remove(user.as_str());
                    runs.entry(user.clone()).or_default().push(attempt + 1);
                }
            }
            if pending.is_empty() {
                break;
            }
        }
        assert!(
            pending.is_empty(),
            "phase {want}: not reached within {} runs by {pending:?}",
            LATER_RUNS + 1
        );
    }
    rig.moto.set_clock("+0");
    runs
}

/// Every write the rotator makes, the n-th time it is made in a rotation, with its answer
/// lost after moto acted on it. One user per write, all in the same account and runs.
const LOST: &[(&str, usize)] = &[
    ("TagUser", 1),           // the intent
    ("CreateAccessKey", 1),   // the new key
    ("CreateSecret", 1),      // keywarden/<user>
    ("PutResourcePolicy", 1), // owner-only policy
    ("PutSecretValue", 1),    // the new key's secret
    ("TagUser", 2),           // the grace record
    ("UpdateAccessKey", 1),   // the old key deactivated
    ("TagUser", 3),           // the inactive record
    ("DeleteAccessKey", 1),   // the old key deleted
    ("UntagUser", 1),         // the record removed
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_answer_to_any_rotation_write_is_recovered() {
    let rig = Rig::start().await;
    let mut users = Vec::new();
    for (i, _) in LOST.iter().enumerate() {
        let user = format!("lost{i}");
        let key = rig.due_user(&user).await;
        users.push((user, key));
    }
    // An exempt user beside them: never touched, whatever happens.
    let exempt = rig.due_user("exempt").await;
    rig.aws.add_to_group("exempt", "BreakGlass").await;
    let exempt_state =
        || async { format!("{:?} {:?}", rig.aws.keys("exempt").await, rig.aws.user_tags("exempt").await) };
    let exempt_before = exempt_state().await;

    // Per (operation, user): how many times it was seen, and which were dropped.
    let seen: Arc<Mutex<BTreeMap<(String, String), usize>>> = Arc::default();
    let dropped: Arc<Mutex<Vec<String>>> = Arc::default();
    let proxy = {
        let (seen, dropped) = (seen.clone(), dropped.clone());
        Proxy::start(rig.moto.port(), move |req| {
            let (Some(user), op) = (target_user(req), req.operation()) else { return Intercept::Forward };
            let Some(i) = user.strip_prefix("lost").and_then(|i| i.parse::<usize>().ok()) else {
                return Intercept::Forward;
            };
            let mut seen = seen.lock().unwrap_or_else(|p| p.into_inner());
            let n = seen.entry((op.clone(), user.clone())).or_default();
            *n += 1;
            match LOST.get(i) {
                Some((want, nth)) if *want == op && *n == *nth => {
                    dropped.lock().unwrap_or_else(|p| p.into_inner()).push(format!("{op} {user}"));
                    Intercept::DropResponse
                }
                _ => Intercept::Forward,
            }
        })
    };
    let watch = Watch::start_in_step(&rig.env(&proxy.endpoint()), &rig.moto);
    let scheduled = keywarden_e2e::lambda::event(SCHEDULED);
    let runs = drive(&rig, &users, |_| rig.run(&watch, &scheduled), || rig.run(&watch, &scheduled)).await;

    let dropped = dropped.lock().map(|d| d.clone()).unwrap_or_default();
    let reached = proxy.log().iter().filter(|e| e.fault.is_some() && e.reached_aws).count();
    assert_eq!(reached, dropped.len(), "every dropped answer was to a call moto acted on");
    eprintln!("answers dropped after moto acted: {dropped:?}");
    for (i, (op, nth)) in LOST.iter().enumerate() {
        let user = format!("lost{i}");
        assert!(
            dropped.contains(&format!("{op} {user}")),
            "the answer to {op} #{nth} of {user} was never dropped: {dropped:?}"
        );
        eprintln!("{op} #{nth} lost for {user}: runs per phase {:?}", runs.get(&user));
    }
    assert!(
        !proxy.log().iter().any(|e| e.operation == "TagResource"),
        "the secret is not tagged after its value is written"
    );
    assert_eq!(exempt_state().await, exempt_before, "the exempt user was touched");
    let _ = exempt;
    assert_no_secret_leaked(&rig.aws, &rig.moto, &watch).await;
    drop(proxy);
}

/// The function killed (abort: no unwinding, no cleanup) right after each of its rotation
/// writes in turn, one user per write; then a normal run. Create has six writes, deactivate
/// and delete two each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_any_rotation_write_is_recovered() {
    const CRASHES: [(usize, u32); 10] =
        [(0, 1), (0, 2), (0, 3), (0, 4), (0, 5), (0, 6), (1, 1), (1, 2), (2, 1), (2, 2)];
    let rig = Rig::start().await;
    let mut users = Vec::new();
    for i in 0..CRASHES.len() {
        let user = format!("crash{i}");
        let key = rig.due_user(&user).await;
        users.push((user, key));
    }
    // Through a pass-through proxy (one request per connection): moto serves one connection
    // at a time, and an idle keep-alive connection of one function process would stall the other.
    let proxy = Proxy::start(rig.moto.port(), |_| Intercept::Forward);
    let env = rig.env(&proxy.endpoint());
    let watch = Watch::start_in_step(&env, &rig.moto);
    let dir = tempfile::tempdir().expect("temp dir");
    let event_for = |name: &str, users: &[&str]| {
        let path = dir.path().join(format!("{name}.json"));
        let event = json!({"action": "rotate", "users": users, "dry_run": false, "notify": false});
        std::fs::write(&path, event.to_string()).expect("write event");
        path
    };
    let scheduled = keywarden_e2e::lambda::event(SCHEDULED);
    let mut crashed = Vec::new();
    let runs = drive(
        &rig,
        &users,
        |phase| {
            // The users crashed in this phase, each in a function of its own that dies after
            // its n-th write; everyone else's step is taken normally.
            let mut others = Vec::new();
            for (i, (p, n)) in CRASHES.iter().enumerate() {
                let user = users[i].0.as_str();
                if *p != phase {
                    others.push(user);
                    continue;
                }
                let mut env = env.clone();
                env.insert("KEYWARDEN_CRASH_AFTER_WRITE".into(), n.to_string());
                let crashable = Watch::start_crashable_in_step(&env, &rig.moto);
                let line = crashable.invoke_expecting_crash(&event_for(user, &[user]));
                assert!(line.contains(&format!("dying after rotation write {n} ")), "{user}: {line}");
                crashed.push(format!(
                    "{user}: phase {phase}, {}",
                    line.rsplit("write ").next().unwrap_or_default()
                ));
            }
            rig.run(&watch, &event_for(&format!("others-{phase}"), &others))
        },
        || rig.run(&watch, &scheduled),
    )
    .await;
    eprintln!("crashes: {crashed:?}\nruns per phase: {runs:?}");
    assert_eq!(crashed.len(), CRASHES.len());
    assert_no_secret_leaked(&rig.aws, &rig.moto, &watch).await;
}

/// Two invocations of two function processes started at the same moment on the same account,
/// with five due users: exactly one new key per user, nothing deleted that should not be,
/// and the rotations complete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runs_at_once_make_one_new_key_per_user() {
    let rig = Rig::start().await;
    let mut users = Vec::new();
    for i in 0..5 {
        let user = format!("race{i}");
        let key = rig.due_user(&user).await;
        users.push((user, key));
    }
    // Through a pass-through proxy (one request per connection): moto serves one connection
    // at a time, and an idle keep-alive connection of one function process would stall the other.
    let proxy = Proxy::start(rig.moto.port(), |_| Intercept::Forward);
    let env = rig.env(&proxy.endpoint());
    let (a, b) = (Watch::start_in_step(&env, &rig.moto), Watch::start_in_step(&env, &rig.moto));
    let scheduled = keywarden_e2e::lambda::event(SCHEDULED);
    // Warm both processes (an audit-only event), so the two rotations really start together.
    let warm = keywarden_e2e::lambda::event("events/audit.json");
    a.invoke(&warm);
    b.invoke(&warm);
    let runs = drive(
        &rig,
        &users,
        |_| {
            std::thread::scope(|s| {
                let ra = s.spawn(|| rig.run(&a, &scheduled));
                let rb = s.spawn(|| rig.run(&b, &scheduled));
                let _ = (ra.join(), rb.join());
            });
            None
        },
        || rig.run(&a, &scheduled),
    )
    .await;
    let issued = rig.moto.issued_keys();
    for (user, original) in &users {
        let made: Vec<&String> = issued
            .iter()
            .filter(|(u, id, _)| u == user && *id != original.access_key_id)
            .map(|(_, id, _)| id)
            .collect();
        assert_eq!(made.len(), 1, "{user}: exactly one new key was made: {made:?}");
    }
    eprintln!("runs per phase: {runs:?}");
    assert_no_secret_leaked(&rig.aws, &rig.moto, &a).await;
    assert_no_secret_leaked(&rig.aws, &rig.moto, &b).await;
}

/// Rotations whose every request may fail: one seeded fault plan per user (10 users and 10
/// seeds per test, five tests: 50 seeded sequences) over all of that user's IAM and Secrets
/// Manager requests, and one more over the account-wide reads, with every kind of fault
/// (throttling, 503, a reset before forwarding, latency, an answer dropped after moto acted).
/// Each phase gets up to four faulty runs, then up to two clean ones; after each run the
/// invariants hold for everyone, the exempt users are untouched and no deleted key had been
/// used within `IN_USE_HOURS`.
async fn seeded_faults_never_strand_a_key(first_seed: u64) {
    use keywarden_e2e::proxy::FaultPlan;
    const USERS: usize = 10;
    const RATE: f64 = 0.15;
    let rig = Rig::start().await;
    let mut users = Vec::new();
    for i in 0..USERS {
        let user = format!("rnd{i}");
        let key = rig.due_user(&user).await;
        users.push((user, key));
    }
    let mut exempt = BTreeMap::new();
    for i in 0..3 {
        let user = format!("exempt{i}");
        rig.due_user(&user).await;
        rig.aws.add_to_group(&user, "BreakGlass").await;
        exempt.insert(
            user.clone(),
            format!("{:?} {:?}", rig.aws.keys(&user).await, rig.aws.user_tags(&user).await),
        );
    }
    let plans: Arc<Vec<FaultPlan>> =
        Arc::new((0..=USERS as u64).map(|seed| FaultPlan::new(first_seed + seed, RATE)).collect());
    let proxy = {
        let plans = plans.clone();
        Proxy::start(rig.moto.port(), move |req| {
            let i = target_user(req)
                .and_then(|u| u.strip_prefix("rnd").and_then(|i| i.parse::<usize>().ok()))
                .unwrap_or(USERS);
            plans.get(i).map(|p| p.decide(req)).unwrap_or(Intercept::Forward)
        })
    };
    let watch = Watch::start_in_step(&rig.env(&proxy.endpoint()), &rig.moto);
    let scheduled = keywarden_e2e::lambda::event(SCHEDULED);
    let mut runs_needed: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for (start, want) in PHASES {
        let mut pending: BTreeSet<String> = users.iter().map(|(u, _)| u.clone()).collect();
        for attempt in 0..6i64 {
            let faulty = attempt < 4;
            plans.iter().for_each(|p| p.set_enabled(faulty));
            rig.at_hours(start + attempt);
            // The old keys' last use before the run, to prove no key in use is deleted.
            let mut used_before = BTreeMap::new();
            for (user, original) in &users {
                if let Ok(out) =
                    rig.aws.iam.get_access_key_last_used().access_key_id(&original.access_key_id).send().await
                {
                    used_before.insert(user.clone(), out.access_key_last_used.and_then(|u| u.last_used_date));
                }
            }
            rig.run(&watch, &scheduled);
            for (user, original) in &users {
                let stage = check(&rig.aws, user, original).await.unwrap_or_else(|e| {
                    panic!("phase {want}, run {} (seeds from {first_seed}): {e}", attempt + 1)
                });
                let gone = !rig.aws.keys(user).await.iter().any(|k| k.id == original.access_key_id);
                if let (true, Some(Some(used))) = (gone, used_before.get(user)) {
                    let hours = chrono::Utc::now().timestamp() + (start + attempt) * 3600 - used.secs();
                    assert!(hours >= 24, "{user}'s old key was deleted {hours} h after its last use");
                }
                if pending.contains(user) && stage_name(&stage) == want {
                    pending.remove(user);
                    runs_needed.entry(user.clone()).or_default().push(attempt + 1);
                }
            }
            if pending.is_empty() {
                break;
            }
        }
        assert!(
            pending.is_empty(),
            "phase {want}: not reached after 4 faulty and 2 clean runs by {pending:?}"
        );
    }
    rig.moto.set_clock("+0");
    for (user, before) in &exempt {
        let now = format!("{:?} {:?}", rig.aws.keys(user).await, rig.aws.user_tags(user).await);
        assert_eq!(&now, before, "exempt user {user} was touched");
    }
    let mut histogram: BTreeMap<Vec<i64>, usize> = BTreeMap::new();
    for runs in runs_needed.values() {
        *histogram.entry(runs.clone()).or_default() += 1;
    }
    eprintln!(
        "seeds {first_seed}..{}: faults injected by kind: {:?}",
        first_seed + USERS as u64,
        proxy.fault_counts()
    );
    eprintln!("requests: {}", proxy.log().len());
    eprintln!("runs each rotation needed per phase (create, deactivate, delete) → users: {histogram:?}");
    assert_no_secret_leaked(&rig.aws, &rig.moto, &watch).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeded_faults_1000() {
    seeded_faults_never_strand_a_key(1000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeded_faults_1011() {
    seeded_faults_never_strand_a_key(1011).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeded_faults_1022() {
    seeded_faults_never_strand_a_key(1022).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeded_faults_1033() {
    seeded_faults_never_strand_a_key(1033).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeded_faults_1044() {
    seeded_faults_never_strand_a_key(1044).await;
}
