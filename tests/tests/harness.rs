//! The harness itself, without the function: moto starts under a movable clock, seeding
//! lands at the faked times, and the credential report moto serves (the function's main
//! source) shows them. If these fail, the end-to-end tests cannot be trusted either way.

use chrono::{DateTime, Duration, Utc};
use keywarden_e2e::{scenario, Aws, Moto};

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
