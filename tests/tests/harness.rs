//! The harness itself, without the function: moto starts under a movable clock, seeding
//! lands at the faked times, and the credential report moto serves (the function's main
//! source) shows them; the function's clock follows moto's; the leak scanner finds what it
//! is looking for; the intercepting proxy does what the rotation tests rely on. If these fail, the end-to-end tests cannot be trusted either way.

use chrono::{DateTime, Duration, Utc};
use keywarden_e2e::proxy::{Intercept, Proxy};
use keywarden_e2e::{function_env, lambda, scan, scenario, Aws, Moto, Watch};

fn days_ago(t: DateTime<Utc>) -> i64 {
    (Utc::now() - t).num_days()
}

fn smithy_time(t: &aws_sdk_iam::primitives::DateTime) -> DateTime<Utc> {
    DateTime::from_timestamp(t.secs(), 0).expect("a valid timestamp")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faked_clock_moves_key_creation_and_last_use() {
    let moto = Moto::start();
    let aws = Aws::connect(&moto.endpoint()).await;
    let seeded = scenario::violations(&moto, &aws).await;

    let key_of = |user: &str| seeded.key_id(user, 1).expect("scenario created the key").to_string();

    // Creation times follow the clock the key was made at.
    for (user, days) in [("old-key", 100), ("unused-key", 70), ("never-used-key", 50), ("alice", 10)] {
        let keys = aws.iam.list_access_keys().user_name(user).send().await.expect("ListAccessKeys");
        let meta = &keys.access_key_metadata[0];
        assert_eq!(meta.access_key_id.as_deref(), Some(key_of(user).as_str()));
        let created = smithy_time(meta.create_date.as_ref().expect("create date"));
        assert_eq!(days_ago(created), days, "{user}'s key should be {days} days old, created {created}");
    }

    // Last use follows the clock the key was used at.
    let used = aws
        .iam
        .get_access_key_last_used()
        .access_key_id(key_of("unused-key"))
        .send()
        .await
        .expect("GetAccessKeyLastUsed");
    let at = used.access_key_last_used.and_then(|u| u.last_used_date).expect("the key was used");
    assert_eq!(days_ago(smithy_time(&at)), 60, "unused-key was used 60 days ago");

    // The credential report shows the same, as the function will read it.
    aws.iam.generate_credential_report().send().await.expect("GenerateCredentialReport");
    let report = aws.iam.get_credential_report().send().await.expect("GetCredentialReport");
    let csv = String::from_utf8(report.content.expect("report content").into_inner()).expect("UTF-8");
    let header: Vec<&str> = csv.lines().next().expect("header").split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).expect("column");
    let row = |user: &str| -> Vec<String> {
        csv.lines()
            .find(|l| l.starts_with(&format!("{user},")))
            .unwrap_or_else(|| panic!("no row for {user}"))
            .split(',')
            .map(String::from)
            .collect()
    };
    let parse = |s: &str| DateTime::parse_from_rfc3339(s).expect("a date").with_timezone(&Utc);
    assert_eq!(days_ago(parse(&row("old-key")[col("access_key_1_last_rotated")])), 100);
    assert!(days_ago(parse(&row("old-key")[col("access_key_1_last_used_date")])) < 1);
    assert_eq!(row("never-used-key")[col("access_key_1_last_used_date")], "N/A");
    assert_eq!(row("lingering")[col("access_key_1_active")], "false");
    assert_eq!(row("stale-console")[col("password_enabled")], "true");
    assert_eq!(days_ago(parse(&row("stale-console")[col("password_last_changed")])), 100);
    assert_eq!(row("alice")[col("mfa_active")], "false");
    assert_eq!(row("compliant-console")[col("mfa_active")], "true");
    assert!(!csv.contains("<root_account>"), "moto's report has no root row (the tests assume so)");
    assert_eq!(row("two-keys")[col("access_key_2_active")], "true");

    // Back at +0, moto's own clock is the real one again.
    moto.set_clock("+0");
    aws.create_user("now-user").await;
    let user = aws.iam.get_user().user_name("now-user").send().await.expect("GetUser");
    let created = smithy_time(&user.user.expect("user").create_date);
    assert!((Utc::now() - created).abs() < Duration::minutes(1), "clock back to now: {created}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_sees_every_change() {
    let moto = Moto::start();
    let aws = Aws::connect(&moto.endpoint()).await;
    aws.create_user("bob").await;
    let before = aws.snapshot().await;
    assert_eq!(before, aws.snapshot().await, "reading changes nothing");
    let key = aws.create_access_key("bob").await;
    let after_key = aws.snapshot().await;
    assert_ne!(before, after_key);
    aws.use_key(&key).await;
    assert_ne!(after_key, aws.snapshot().await, "using a key shows in the snapshot");
    assert!(!format!("{key:?}").contains("secret\": \""), "Debug never shows the secret");
    assert!(format!("{key:?}").contains("<redacted>"));
}

/// The function's clock follows moto's (both under libfaketime, one timestamp file), in the
/// warm process, without cargo rebuilding anything or running under the faked clock itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn function_clock_moves_with_moto() {
    let moto = Moto::start();
    let watch = Watch::start_in_step(&function_env(&moto.endpoint()), &moto);
    let generated_at = |offset: &str| {
        moto.set_clock(offset);
        let inv = watch.invoke(&lambda::event("events/audit.json"));
        assert!(inv.success, "invoke at {offset}:\n{}\n{}", inv.output(), watch.log_tail());
        let report = inv.json();
        let at: DateTime<Utc> = report["generated_at"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("generated_at is a time: {report}"));
        at
    };
    let close = |a: DateTime<Utc>, b: DateTime<Utc>| (a - b).abs() < Duration::minutes(2);

    let at_now = generated_at("+0");
    assert!(close(at_now, Utc::now()), "at +0 the function's now is the real time: {at_now}");
    let at_8d = generated_at("+8d");
    assert!(close(at_8d, Utc::now() + Duration::days(8)), "at +8d the function's now moved: {at_8d}");
    let at_16d = generated_at("+16d");
    assert!(close(at_16d, Utc::now() + Duration::days(16)), "at +16d: {at_16d}");
    moto.set_clock("+0");

    let log = watch.log();
    assert!(!log.contains("Compiling "), "cargo run inside watch rebuilt something:\n{log}");
    assert!(
        // cargo shows the runner's program only: `Running `env …/debug/keywarden``.
        log.contains("Running `env "),
        "the function was not started through the faketime runner:\n{log}"
    );
}

/// The leak scanner finds a secret that is there (whole, wrapped, in an SNS message, of a
/// deleted key), reports it by key id only, and checks stored secrets are real keys.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leak_scanner_finds_planted_secrets() {
    let moto = Moto::start();
    let aws = Aws::connect(&moto.endpoint()).await;
    aws.create_user("carol").await;
    let kept = aws.create_access_key("carol").await;
    let deleted = aws.create_access_key("carol").await;
    aws.iam
        .delete_access_key()
        .user_name("carol")
        .access_key_id(&deleted.access_key_id)
        .send()
        .await
        .expect("DeleteAccessKey");
    let issued: Vec<String> = moto.issued_keys().into_iter().map(|(_, id, _)| id).collect();
    assert!(issued.contains(&deleted.access_key_id), "moto lists deleted keys too: {issued:?}");

    let clean = vec![("clean".to_string(), format!("rotated {} for carol", kept.access_key_id))];
    let scan = scan::scan_texts(&aws, &moto, &clean).await;
    assert!(scan.leaks.is_empty(), "key ids are not secrets: {:?}", scan.leaks);
    assert_eq!(scan.secrets, 2);

    let topic = aws.create_topic("alerts").await;
    let secret = kept.reveal_secret();
    aws.sns.publish().topic_arn(&topic).message(format!("oops {secret}")).send().await.expect("Publish");
    let (head, tail) = deleted.reveal_secret().split_at(20);
    let texts = vec![
        ("sns".to_string(), moto.sns_text()),
        ("wrapped".to_string(), format!("× error\n│ {head}\n│ {tail}\n")),
    ];
    let scan = scan::scan_texts(&aws, &moto, &texts).await;
    assert_eq!(
        scan.leaks,
        vec![
            format!("sns: the secret of {} of carol", kept.access_key_id),
            format!("wrapped: the secret of {} of carol", deleted.access_key_id),
        ]
    );
    assert!(scan.leaks.iter().all(|l| !l.contains(secret)), "a leak report never shows the secret");

    // A stored secret is read back (every version) and must be a key moto issued.
    let value = serde_json::json!({
        "UserName": "carol", "AccessKeyId": kept.access_key_id, "SecretAccessKey": secret,
    });
    aws.secrets
        .create_secret()
        .name("keywarden/carol")
        .secret_string(value.to_string())
        .send()
        .await
        .expect("CreateSecret");
    let forged = serde_json::json!({
        "UserName": "carol", "AccessKeyId": kept.access_key_id, "SecretAccessKey": "x".repeat(40),
    });
    aws.secrets
        .put_secret_value()
        .secret_id("keywarden/carol")
        .secret_string(forged.to_string())
        .send()
        .await
        .expect("PutSecretValue");
    let scan = scan::scan_texts(&aws, &moto, &clean).await;
    assert_eq!(scan.stored_versions, 2, "both versions of the secret are read back");
    assert_eq!(scan.leaks.len(), 1, "{:?}", scan.leaks);
    assert!(scan.leaks[0].contains("is not the one of key"), "{:?}", scan.leaks);
}

/// The intercepting proxy forwards requests to moto, answers refused ones with an AWS error,
/// and makes a race by sending a request twice (the second answer is the caller's).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_forwards_refuses_and_races() {
    let moto = Moto::start();
    let proxy = Proxy::start(moto.port(), |req| match req.operation().as_str() {
        "CreateAccessKey" => Intercept::RaceWithCopy,
        "PutSecretValue" => Intercept::ServiceError {
            status: 400,
            code: "AccessDeniedException".into(),
            message: "refused by the test".into(),
        },
        _ => Intercept::Forward,
    });
    let via = Aws::connect(&proxy.endpoint()).await;
    let direct = Aws::connect(&moto.endpoint()).await;
    via.create_user("dave").await;
    assert_eq!(direct.user_arn("dave").await, via.user_arn("dave").await);

    // The copy makes the first key, the caller's request the second.
    let created = via.iam.create_access_key().user_name("dave").send().await.expect("CreateAccessKey");
    let second = created.access_key.map(|k| k.access_key_id).unwrap_or_default();
    let keys: Vec<String> = direct.keys("dave").await.into_iter().map(|k| k.id).collect();
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(keys.contains(&second));
    // With both slots taken, the copy and the caller's request both fail: the caller sees
    // IAM's own LimitExceeded.
    let err = via.iam.create_access_key().user_name("dave").send().await.expect_err("a third key");
    assert_eq!(aws_sdk_iam::error::ProvideErrorMetadata::code(&err), Some("LimitExceeded"));

    via.secrets.create_secret().name("keywarden/dave").send().await.expect("CreateSecret via the proxy");
    let err = via
        .secrets
        .put_secret_value()
        .secret_id("keywarden/dave")
        .secret_string("{}")
        .send()
        .await
        .expect_err("PutSecretValue is refused");
    assert_eq!(
        aws_sdk_secretsmanager::error::ProvideErrorMetadata::code(&err),
        Some("AccessDeniedException")
    );
    assert_eq!(
        aws_sdk_secretsmanager::error::ProvideErrorMetadata::message(&err),
        Some("refused by the test")
    );
    let seen = proxy.seen();
    for op in [
        "CreateUser",
        "CreateAccessKey (raced by a copy)",
        "CreateSecret",
        "PutSecretValue refused (AccessDeniedException)",
    ] {
        assert!(seen.iter().any(|s| s == op), "{op} not in {seen:?}");
    }
}
