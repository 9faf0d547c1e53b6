//! End-to-end: the real binary with `SECURITY_HUB=true` imports its findings into moto's
//! Security Hub, read back with `GetFindings`; a finding resolved between two runs is
//! archived (and passed) by the second, and every finding is re-sent with a new `UpdatedAt`.

use std::collections::BTreeMap;

use aws_sdk_securityhub::types::AwsSecurityFinding;
use keywarden_e2e::{lambda, scenario, Aws, Moto, Watch};

const ACCOUNT: &str = "123456789012";

async fn findings(moto: &Moto) -> BTreeMap<String, AwsSecurityFinding> {
    let config = keywarden_e2e::seed::sdk_config(&moto.endpoint(), "testing", "testing").await;
    let hub = aws_sdk_securityhub::Client::new(&config);
    let out = hub.get_findings().send().await.unwrap_or_else(|e| panic!("GetFindings: {e:?}"));
    out.findings().iter().map(|f| (f.id().unwrap_or_default().to_string(), f.clone())).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn findings_are_imported_and_a_resolved_one_is_archived_by_the_next_run() {
    let moto = Moto::start();
    let aws = Aws::connect(&moto.endpoint()).await;
    aws.create_user("dev").await;
    aws.create_login_profile("dev").await;
    aws.create_group("Team").await;
    keywarden_e2e::seed::create_bucket(&moto.endpoint(), "kw-hub").await;
    let mut env = scenario::scenario_env(&moto);
    env.insert("SECURITY_HUB".into(), "true".into());
    env.insert("REPORT_BUCKET".into(), "kw-hub".into());
    let watch = Watch::start(&env);

    let first = watch.invoke(&lambda::event("events/scheduled.json")).report();
    assert!(first["errors"].as_array().is_some_and(Vec::is_empty), "{}", first["errors"]);
    let user = format!("arn:aws:iam::{ACCOUNT}:user/dev");
    let no_mfa = format!("keywarden/{ACCOUNT}/console_user_without_mfa:{user}");
    let no_group = format!("keywarden/{ACCOUNT}/user_in_no_group:{user}");
    let imported = findings(&moto).await;
    let total = first["summary"]["findings"].as_u64().unwrap_or(0) as usize;
    assert!(imported.len() >= total, "every open finding is in Security Hub: {} of {total}", imported.len());
    for id in [&no_mfa, &no_group] {
        let f = imported.get(id).unwrap_or_else(|| panic!("{id} was not imported: {:?}", imported.keys()));
        assert_eq!(
            f.product_arn(),
            Some(format!("arn:aws:securityhub:us-east-1:{ACCOUNT}:product/{ACCOUNT}/default").as_str())
        );
        assert_eq!(f.aws_account_id(), Some(ACCOUNT));
        assert_eq!(f.schema_version(), Some("2018-10-08"));
        assert_eq!(f.record_state().map(|s| s.as_str()), Some("ACTIVE"));
        assert_eq!(f.compliance().and_then(|c| c.status()).map(|s| s.as_str()), Some("FAILED"));
        assert_eq!(f.resources().first().and_then(|r| r.id()), Some(user.as_str()));
    }
    let first_update = imported[&no_mfa].updated_at().unwrap_or_default().to_string();

    // A human fixes one finding; the next run archives it and re-sends the other.
    aws.add_to_group("dev", "Team").await;
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let second = watch.invoke(&lambda::event("events/scheduled.json")).report();
    let resolved: Vec<&str> = second["changes"]["resolved"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["check"].as_str())
        .collect();
    assert_eq!(resolved, ["user_in_no_group"], "{}", second["changes"]);
    let after = findings(&moto).await;
    let archived = &after[&no_group];
    assert_eq!(archived.record_state().map(|s| s.as_str()), Some("ARCHIVED"));
    assert_eq!(archived.compliance().and_then(|c| c.status()).map(|s| s.as_str()), Some("PASSED"));
    let kept = &after[&no_mfa];
    assert_eq!(kept.record_state().map(|s| s.as_str()), Some("ACTIVE"));
    assert!(kept.updated_at().unwrap_or_default() > first_update.as_str(), "re-sent with a new UpdatedAt");
    assert_eq!(after.len(), imported.len(), "updated in place by Id, not duplicated");
}
