//! The fault-injecting proxy, against real moto and the real AWS SDK for Rust: each fault
//! looks to the SDK like the real thing (throttling and 503s are retried and then surface
//! with AWS's codes, a reset is a dispatch failure), the log says truthfully whether moto
//! acted on a call (a reset before forwarding: no; a dropped answer: yes), and a seeded
//! fault plan replays the same faults from the same seed.
//!
//! A test that relies on the proxy to make keywarden face a fault can only be trusted if
//! these pass.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_sdk_iam::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use keywarden_e2e::proxy::{Entry, FaultKind, FaultPlan, Intercept, Proxy};
use keywarden_e2e::seed::{sdk_config, ADMIN_KEY_ID};
use keywarden_e2e::{Aws, Moto};

/// The standard retry strategy's default: the first attempt and two retries.
const STANDARD_ATTEMPTS: usize = 3;

/// IAM and Secrets Manager clients that never retry, so that one call is exactly one
/// request, and the proxy's log shows what the SDK made of a single fault.
struct OneShot {
    iam: aws_sdk_iam::Client,
    secrets: aws_sdk_secretsmanager::Client,
}

async fn one_shot(endpoint: &str) -> OneShot {
    let config = sdk_config(endpoint, ADMIN_KEY_ID, "testing")
        .await
        .into_builder()
        .retry_config(RetryConfig::disabled())
        .build();
    OneShot { iam: aws_sdk_iam::Client::new(&config), secrets: aws_sdk_secretsmanager::Client::new(&config) }
}

/// A proxy whose rule is the plan.
fn proxy_with(moto: &Moto, plan: &Arc<FaultPlan>) -> Proxy {
    let plan = plan.clone();
    Proxy::start(moto.port(), move |req| plan.decide(req))
}

/// The log entries of one operation on one target, in order (one per attempt).
fn attempts(proxy: &Proxy, operation: &str, target: &str) -> Vec<Entry> {
    proxy
        .log()
        .into_iter()
        .filter(|e| e.operation == operation && e.target.as_deref() == Some(target))
        .collect()
}

/// `(fault, reached_aws)` of each attempt, the shape most assertions compare.
fn outcomes(entries: &[Entry]) -> Vec<(Option<FaultKind>, bool)> {
    entries.iter().map(|e| (e.fault, e.reached_aws)).collect()
}

/// Whether moto has the user, asked of moto directly.
async fn user_exists(direct: &Aws, user: &str) -> bool {
    match direct.iam.get_user().user_name(user).send().await {
        Ok(_) => true,
        Err(e) if e.code() == Some("NoSuchEntity") => false,
        Err(e) => panic!("GetUser {user} from moto: {}", DisplayErrorContext(e)),
    }
}

/// Whether the SDK gave up on the call as an I/O failure of the connection (no answer at
/// all), rather than with an answer from the service.
fn is_io_failure<E, R>(err: &SdkError<E, R>) -> bool {
    matches!(err, SdkError::DispatchFailure(d) if d.is_io())
}

/// Makes `kind` the answer to the first attempt of `CreateUser ann` and `CreateSecret
/// keywarden/ann` (the SDK's retry must then succeed), and to every attempt for `bob` (the
/// SDK must give up with `iam_code` / `secrets_code`, and moto must never have seen them).
async fn retried_then_surfaced(kind: Intercept, iam_code: &str, secrets_code: &str) {
    let moto = Moto::start();
    let direct = Aws::connect(&moto.endpoint()).await;
    let fault = kind.kind();
    let plan = Arc::new(FaultPlan::new(0, 0.0).nth("CreateUser", 1, kind.clone()).nth(
        "CreateSecret",
        1,
        kind.clone(),
    ));
    let proxy = {
        let plan = plan.clone();
        let kind = kind.clone();
        Proxy::start(moto.port(), move |req| match req.target().as_deref() {
            Some("bob" | "keywarden/bob") => kind.clone(),
            _ => plan.decide(req),
        })
    };
    let via = Aws::connect(&proxy.endpoint()).await;

    // Only the first attempt faulted: the SDK's standard retry gets through.
    via.iam.create_user().user_name("ann").send().await.expect("CreateUser ann, retried");
    via.secrets
        .create_secret()
        .name("keywarden/ann")
        .secret_string("{}")
        .send()
        .await
        .expect("CreateSecret keywarden/ann, retried");
    assert!(user_exists(&direct, "ann").await);
    assert_eq!(direct.secret_names().await, ["keywarden/ann"]);
    for (op, target) in [("CreateUser", "ann"), ("CreateSecret", "keywarden/ann")] {
        assert_eq!(
            outcomes(&attempts(&proxy, op, target)),
            [(fault, false), (None, true)],
            "{op} {target}: one faulted attempt that moto never saw, then one retry: {:?}",
            proxy.seen()
        );
    }

    // Every attempt faulted: the SDK retries, then surfaces the service's own code.
    let err = via.iam.create_user().user_name("bob").send().await.expect_err("CreateUser bob");
    assert_eq!(err.code(), Some(iam_code), "{}", DisplayErrorContext(&err));
    let err = via
        .secrets
        .create_secret()
        .name("keywarden/bob")
        .secret_string("{}")
        .send()
        .await
        .expect_err("CreateSecret keywarden/bob");
    assert_eq!(err.code(), Some(secrets_code), "{}", DisplayErrorContext(&err));
    for (op, target) in [("CreateUser", "bob"), ("CreateSecret", "keywarden/bob")] {
        assert_eq!(
            outcomes(&attempts(&proxy, op, target)),
            vec![(fault, false); STANDARD_ATTEMPTS],
            "{op} {target}: every attempt faulted, none reached moto"
        );
    }
    assert!(!user_exists(&direct, "bob").await, "moto never saw CreateUser bob");
    assert_eq!(direct.secret_names().await, ["keywarden/ann"], "moto never saw CreateSecret keywarden/bob");
    assert_eq!(proxy.fault_counts().get(&fault.expect("a fault")), Some(&(2 + 2 * STANDARD_ATTEMPTS)));
}

/// Throttling in each protocol's own shape is what the SDK retries as throttling: a 400 is
/// retried only when its code is a throttling code, so a retried 400 proves the SDK read
/// `Throttling` out of IAM's XML and `ThrottlingException` out of Secrets Manager's JSON. A
/// refused call (also a 400) is not retried, for contrast.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_is_retried_then_surfaces_with_aws_codes() {
    retried_then_surfaced(Intercept::Throttle, "Throttling", "ThrottlingException").await;

    let moto = Moto::start();
    let proxy = Proxy::start(moto.port(), |_| Intercept::Throttle);
    let err = Aws::connect(&proxy.endpoint())
        .await
        .iam
        .list_users()
        .send()
        .await
        .expect_err("ListUsers, throttled");
    assert_eq!(err.message(), Some("Rate exceeded"));
    drop(proxy);

    let proxy = Proxy::start(moto.port(), |_| Intercept::ServiceError {
        status: 400,
        code: "AccessDeniedException".into(),
        message: "refused by the test".into(),
    });
    let via = Aws::connect(&proxy.endpoint()).await;
    let err = via.secrets.list_secrets().send().await.expect_err("ListSecrets, refused");
    assert_eq!(err.code(), Some("AccessDeniedException"));
    assert_eq!(proxy.log().len(), 1, "a refusal is not retried: {:?}", proxy.seen());
}

/// A 503 in each protocol's shape: retried (by status), then `ServiceUnavailable`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unavailable_is_retried_then_surfaces_as_service_unavailable() {
    retried_then_surfaced(Intercept::Unavailable, "ServiceUnavailable", "ServiceUnavailable").await;
}

/// A reset before forwarding: the SDK sees an I/O dispatch failure, moto never sees the call.
/// The SDK retries a reset like any transient error, so one reset is invisible to a caller.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_before_forward_never_reaches_moto() {
    let moto = Moto::start();
    let direct = Aws::connect(&moto.endpoint()).await;
    let plan = Arc::new(
        FaultPlan::new(0, 0.0)
            .nth("CreateUser", 1, Intercept::ResetBeforeForward)
            .nth("CreateUser", 2, Intercept::ResetBeforeForward)
            .nth("CreateUser", 3, Intercept::ResetBeforeForward)
            .nth("CreateUser", 4, Intercept::ResetBeforeForward),
    );
    let proxy = proxy_with(&moto, &plan);

    // One call, one request: the reset is the answer.
    let once = one_shot(&proxy.endpoint()).await;
    let err = once.iam.create_user().user_name("carl").send().await.expect_err("CreateUser carl, reset");
    eprintln!("a reset, as the SDK reports it: {}", DisplayErrorContext(&err));
    assert!(is_io_failure(&err), "{}", DisplayErrorContext(&err));
    assert_eq!(
        outcomes(&attempts(&proxy, "CreateUser", "carl")),
        [(Some(FaultKind::ResetBeforeForward), false)]
    );
    assert!(!user_exists(&direct, "carl").await, "moto never saw CreateUser carl");

    // Standard retries: three resets (requests 2 to 4) exhaust them, still an I/O failure …
    let via = Aws::connect(&proxy.endpoint()).await;
    let err =
        via.iam.create_user().user_name("dora").send().await.expect_err("CreateUser dora, reset 3 times");
    assert!(is_io_failure(&err), "{}", DisplayErrorContext(&err));
    assert_eq!(
        outcomes(&attempts(&proxy, "CreateUser", "dora")),
        vec![(Some(FaultKind::ResetBeforeForward), false); STANDARD_ATTEMPTS]
    );
    assert!(!user_exists(&direct, "dora").await);
    // … and a call after them goes through.
    via.create_user("dora").await;
    assert!(user_exists(&direct, "dora").await);
    assert_eq!(proxy.fault_counts(), [(FaultKind::ResetBeforeForward, 4)].into());
}

/// A dropped answer: moto acted, the caller saw a reset. Without retries the caller has an
/// error for a call that took effect; with the SDK's standard retries, it sends the call
/// again: a second `CreateAccessKey` makes a second key (the first one's secret is lost),
/// a second `CreateUser` fails with `EntityAlreadyExists` for a user that the call created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_answer_means_aws_acted() {
    let moto = Moto::start();
    let direct = Aws::connect(&moto.endpoint()).await;
    let plan = Arc::new(
        FaultPlan::new(0, 0.0)
            .nth("CreateUser", 1, Intercept::DropResponse)
            .nth("CreateSecret", 1, Intercept::DropResponse)
            .nth("CreateUser", 2, Intercept::DropResponse)
            .nth("CreateAccessKey", 1, Intercept::DropResponse)
            .nth("CreateSecret", 2, Intercept::DropResponse),
    );
    let proxy = proxy_with(&moto, &plan);
    let dropped = (Some(FaultKind::DropResponse), true);

    let once = one_shot(&proxy.endpoint()).await;
    let err =
        once.iam.create_user().user_name("fay").send().await.expect_err("CreateUser fay, answer dropped");
    eprintln!("a dropped answer, as the SDK reports it: {}", DisplayErrorContext(&err));
    assert!(is_io_failure(&err), "{}", DisplayErrorContext(&err));
    assert!(user_exists(&direct, "fay").await, "moto created fay although the caller saw an error");
    assert_eq!(outcomes(&attempts(&proxy, "CreateUser", "fay")), [dropped]);

    let err = once
        .secrets
        .create_secret()
        .name("keywarden/fay")
        .secret_string("{}")
        .send()
        .await
        .expect_err("CreateSecret keywarden/fay, answer dropped");
    assert!(is_io_failure(&err), "{}", DisplayErrorContext(&err));
    assert_eq!(direct.secret_names().await, ["keywarden/fay"], "moto created the secret");
    assert_eq!(outcomes(&attempts(&proxy, "CreateSecret", "keywarden/fay")), [dropped]);

    // With retries, the SDK sends the call again, and moto answers the second one.
    let via = Aws::connect(&proxy.endpoint()).await;
    let err = via.iam.create_user().user_name("gus").send().await.expect_err("CreateUser gus, retried");
    assert_eq!(err.code(), Some("EntityAlreadyExists"), "{}", DisplayErrorContext(&err));
    assert!(user_exists(&direct, "gus").await);
    assert_eq!(outcomes(&attempts(&proxy, "CreateUser", "gus")), [dropped, (None, true)]);

    let created =
        via.iam.create_access_key().user_name("gus").send().await.expect("CreateAccessKey, retried");
    let returned = created.access_key.map(|k| k.access_key_id).unwrap_or_default();
    let keys: Vec<String> = direct.keys("gus").await.into_iter().map(|k| k.id).collect();
    assert_eq!(keys.len(), 2, "the dropped call made a key too: {keys:?}");
    assert_eq!(keys.iter().filter(|k| **k == returned).count(), 1, "{returned} in {keys:?}");
    assert_eq!(outcomes(&attempts(&proxy, "CreateAccessKey", "gus")), [dropped, (None, true)]);

    // CreateSecret is different: the SDK fills in its idempotency token
    // (`ClientRequestToken`) once per call, the retry carries the same one, and Secrets
    // Manager (moto too) answers a repeat with the same token and value as a success.
    via.secrets
        .create_secret()
        .name("keywarden/gus")
        .secret_string("{}")
        .send()
        .await
        .expect("CreateSecret keywarden/gus, retried with the same idempotency token");
    let names = direct.secret_names().await;
    assert_eq!(names.iter().filter(|n| *n == "keywarden/gus").count(), 1, "{names:?}");
    let versions = direct.secret_info("gus").await.map(|s| s.versions.len());
    assert_eq!(versions, Some(1), "the retry made no second version");
    assert_eq!(outcomes(&attempts(&proxy, "CreateSecret", "keywarden/gus")), [dropped, (None, true)]);
}

/// A delay only delays; the log names users and secrets, never a secret value (requests carry
/// `SecretString`, responses carry secret access keys).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delayed_calls_succeed_and_the_log_holds_no_secret() {
    let moto = Moto::start();
    let direct = Aws::connect(&moto.endpoint()).await;
    let delay = Duration::from_millis(250);
    let plan = Arc::new(FaultPlan::new(0, 0.0).nth("ListUsers", 1, Intercept::Delay(delay)));
    let proxy = proxy_with(&moto, &plan);
    let via = Aws::connect(&proxy.endpoint()).await;

    via.create_user("hal").await;
    let start = Instant::now();
    let users = via.iam.list_users().send().await.expect("ListUsers, delayed");
    assert!(start.elapsed() >= delay, "the answer came after {:?}", start.elapsed());
    assert_eq!(users.users.len(), 1);
    assert!(proxy.seen().contains(&"ListUsers (delayed 250 ms)".to_string()), "{:?}", proxy.seen());

    let key = via.create_access_key("hal").await;
    let value = serde_json::json!({
        "UserName": "hal",
        "AccessKeyId": key.access_key_id,
        "SecretAccessKey": key.reveal_secret(),
    });
    via.secrets
        .create_secret()
        .name("keywarden/hal")
        .secret_string(value.to_string())
        .send()
        .await
        .expect("CreateSecret");
    via.secrets.get_secret_value().secret_id("keywarden/hal").send().await.expect("GetSecretValue");
    assert_eq!(direct.stored_key("hal").await.map(|s| s.key.access_key_id), Some(key.access_key_id.clone()));

    let log = proxy.log();
    let named: Vec<(&str, Option<&str>)> =
        log.iter().map(|e| (e.operation.as_str(), e.target.as_deref())).collect();
    assert_eq!(
        named,
        [
            ("CreateUser", Some("hal")),
            ("ListUsers", None),
            ("CreateAccessKey", Some("hal")),
            ("CreateSecret", Some("keywarden/hal")),
            ("GetSecretValue", Some("keywarden/hal")),
        ]
    );
    assert!(log.iter().all(|e| e.reached_aws), "{log:?}");
    assert_eq!(proxy.fault_counts(), [(FaultKind::Delay, 1)].into());
    let everything = format!("{log:?} {:?} {proxy:?}", proxy.seen());
    assert!(!everything.contains(key.reveal_secret()), "the proxy's log holds a secret access key");
}

/// One step of the request sequence the plan tests drive: five operations over two
/// services, on names of their own (`prefix`), so several sequences can share one moto.
async fn drive(proxy: &Proxy, prefix: &str, requests: usize) {
    let c = one_shot(&proxy.endpoint()).await;
    for i in 0..requests {
        let user = format!("{prefix}-{}", i / 5);
        let secret = format!("keywarden/{user}");
        // Errors are the point (faults, and calls on users that a fault kept from existing).
        let _ = match i % 5 {
            0 => c.iam.create_user().user_name(&user).send().await.map(drop).map_err(drop),
            1 => c.iam.get_user().user_name(&user).send().await.map(drop).map_err(drop),
            2 => c
                .secrets
                .create_secret()
                .name(&secret)
                .secret_string("{}")
                .send()
                .await
                .map(drop)
                .map_err(drop),
            3 => c.secrets.describe_secret().secret_id(&secret).send().await.map(drop).map_err(drop),
            _ => c.iam.list_users().send().await.map(drop).map_err(drop),
        };
    }
}

/// The sequence of `(operation, fault)` a proxy logged.
fn faults(proxy: &Proxy) -> Vec<(String, Option<FaultKind>)> {
    proxy.log().into_iter().map(|e| (e.operation, e.fault)).collect()
}

/// The same seed and the same requests give the same faults; another seed others; a rate of
/// 0 or a disabled plan none; `fault_counts` agrees with the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_plan_is_deterministic() {
    const REQUESTS: usize = 40;
    // Enough to see that nothing is injected; moto's throughput is what the test waits on.
    const FEW: usize = 10;
    let moto = Moto::start();
    let plans = [
        FaultPlan::new(7, 0.5),
        FaultPlan::new(7, 0.5),
        FaultPlan::new(8, 0.5),
        FaultPlan::new(7, 0.0),
        FaultPlan::new(7, 0.5),
        FaultPlan::new(7, 0.5).operations(["CreateUser"]),
        FaultPlan::new(7, 0.5).operations(["CreateUser"]),
    ]
    .map(Arc::new);
    plans[4].set_enabled(false);
    let [a, b, c, zero, off, scoped, scoped_alone] = plans.each_ref().map(|p| proxy_with(&moto, p));
    tokio::join!(
        drive(&a, "a", REQUESTS),
        drive(&b, "b", REQUESTS),
        drive(&c, "c", REQUESTS),
        drive(&zero, "zero", FEW),
        drive(&off, "off", FEW),
        drive(&scoped, "scoped", REQUESTS),
        // Only the CreateUser requests of the same sequence.
        async {
            let c = one_shot(&scoped_alone.endpoint()).await;
            for i in 0..REQUESTS / 5 {
                let _ = c.iam.create_user().user_name(format!("alone-{i}")).send().await;
            }
        },
    );

    let fa = faults(&a);
    eprintln!("seed 7, rate 0.5: {:?}", a.fault_counts());
    assert_eq!(fa.len(), REQUESTS, "one request per call: {:?}", a.seen());
    let injected = fa.iter().filter(|(_, f)| f.is_some()).count();
    assert!((5..=35).contains(&injected), "rate 0.5 injected {injected} of {REQUESTS}");
    assert_eq!(faults(&b), fa, "the same seed and requests, other faults");
    assert_ne!(faults(&c), fa, "seed 8 injected the faults of seed 7");
    assert_eq!(faults(&c).len(), REQUESTS);
    for (name, proxy) in [("rate 0", &zero), ("disabled", &off)] {
        assert_eq!(proxy.log().len(), FEW);
        assert!(proxy.fault_counts().is_empty(), "{name} injected {:?}", proxy.seen());
        assert!(proxy.log().iter().all(|e| e.reached_aws), "{name}: {:?}", proxy.seen());
    }

    // Out-of-scope requests draw nothing: the CreateUser faults are those of CreateUser alone.
    let scoped_faults = faults(&scoped);
    assert!(scoped_faults.iter().all(|(op, f)| op == "CreateUser" || f.is_none()), "{scoped_faults:?}");
    let creates: Vec<_> = scoped_faults.into_iter().filter(|(op, _)| op == "CreateUser").collect();
    assert_eq!(creates, faults(&scoped_alone));

    // A plan enabled again draws what it would have drawn first: nothing was drawn while off.
    plans[4].set_enabled(true);
    drive(&off, "on", REQUESTS).await;
    assert_eq!(faults(&off)[FEW..], fa[..]);

    for proxy in [&a, &c, &off] {
        let mut counted = BTreeMap::new();
        for kind in proxy.log().iter().filter_map(|e| e.fault) {
            *counted.entry(kind).or_insert(0) += 1;
        }
        assert_eq!(proxy.fault_counts(), counted);
    }
    // Which faults moto acted on follows from the kind, whatever the seed.
    for e in a.log().iter().chain(c.log().iter()) {
        let acted = matches!(e.fault, None | Some(FaultKind::Delay | FaultKind::DropResponse));
        assert_eq!(e.reached_aws, acted, "{e:?}");
    }
}
