//! The rotation executor against mocked IAM and Secrets Manager: the write order, and what
//! it leaves behind when a call fails.

use std::sync::{Arc, Mutex};

use aws_sdk_iam::operation::create_access_key::{CreateAccessKeyError, CreateAccessKeyOutput};
use aws_sdk_iam::operation::delete_access_key::DeleteAccessKeyOutput;
use aws_sdk_iam::operation::tag_user::TagUserOutput;
use aws_sdk_iam::operation::untag_user::UntagUserOutput;
use aws_sdk_iam::types::error::LimitExceededException;
use aws_sdk_iam::types::{AccessKey, StatusType};
use aws_sdk_secretsmanager::operation::create_secret::CreateSecretOutput;
use aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretError;
use aws_sdk_secretsmanager::operation::put_resource_policy::PutResourcePolicyOutput;
use aws_sdk_secretsmanager::operation::put_secret_value::PutSecretValueOutput;
use aws_sdk_secretsmanager::operation::tag_resource::TagResourceOutput;
use aws_sdk_secretsmanager::types::error::ResourceNotFoundException;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use aws_smithy_types::error::ErrorMetadata;
use chrono::{TimeZone, Utc};
use keywarden_aws::{ApiCallCounter, IamRotator};
use keywarden_core::ports::Rotator;
use keywarden_core::rotation::{LiveKey, LiveUser, Step};

const USER_ARN: &str = "arn:aws:iam::123456789012:user/team/alice";
const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/keywarden";
const OLD: &str = "AKIAOLD0000000000001";
const NEW: &str = "AKIANEW0000000000002";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY";
const SECRET_ARN: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:keywarden/alice-AbCdEf";

fn meta(code: &str) -> ErrorMetadata {
    ErrorMetadata::builder().code(code).message(format!("{code} (mocked)")).build()
}

fn alice() -> LiveUser {
    LiveUser {
        user: "alice".into(),
        arn: USER_ARN.into(),
        keys: vec![LiveKey {
            id: OLD.into(),
            active: true,
            created: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().expect("date"),
            last_used: None,
        }],
        ..LiveUser::default()
    }
}

fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 1, 6, 0, 0).single().expect("date")
}

/// Records the order of operations across both clients.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    fn push(&self, s: impl Into<String>) {
        if let Ok(mut v) = self.0.lock() {
            v.push(s.into());
        }
    }
    fn get(&self) -> Vec<String> {
        self.0.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

fn rotator(iam_rules: &[&Rule], sm_rules: &[&Rule]) -> IamRotator {
    let iam = mock_client!(aws_sdk_iam, RuleMode::MatchAny, iam_rules);
    let sm = mock_client!(aws_sdk_secretsmanager, RuleMode::MatchAny, sm_rules);
    let sts = mock_client!(aws_sdk_sts, RuleMode::MatchAny, &[] as &[&Rule]);
    IamRotator::new(iam, sm, sts, None, Some(ROLE_ARN.into()), ApiCallCounter::new())
}

fn iam_rules(log: &Log, create_fails_with_limit: bool) -> Vec<Rule> {
    let (l1, l2, l3, l4) = (log.clone(), log.clone(), log.clone(), log.clone());
    let tag = mock!(aws_sdk_iam::Client::tag_user).then_compute_output(move |r| {
        let value = r.tags().iter().find(|t| t.key() == "keywarden:rotation").map(|t| t.value().to_string());
        l1.push(format!("TagUser {}", value.unwrap_or_default().split_whitespace().nth(1).unwrap_or("-")));
        TagUserOutput::builder().build()
    });
    let create = if create_fails_with_limit {
        mock!(aws_sdk_iam::Client::create_access_key).then_compute_response(move |_| {
            l2.push("CreateAccessKey LimitExceeded");
            aws_smithy_mocks::MockResponse::Error(CreateAccessKeyError::LimitExceededException(
                LimitExceededException::builder().meta(meta("LimitExceeded")).build(),
            ))
        })
    } else {
        mock!(aws_sdk_iam::Client::create_access_key).then_compute_output(move |_| {
            l2.push("CreateAccessKey");
            CreateAccessKeyOutput::builder()
                .access_key(
                    AccessKey::builder()
                        .user_name("alice")
                        .access_key_id(NEW)
                        .status(StatusType::Active)
                        .secret_access_key(SECRET)
                        .build()
                        .expect("key"),
                )
                .build()
        })
    };
    let delete = mock!(aws_sdk_iam::Client::delete_access_key).then_compute_output(move |r| {
        l3.push(format!("DeleteAccessKey {}", r.access_key_id().unwrap_or("-")));
        DeleteAccessKeyOutput::builder().build()
    });
    let untag = mock!(aws_sdk_iam::Client::untag_user).then_compute_output(move |_| {
        l4.push("UntagUser");
        UntagUserOutput::builder().build()
    });
    vec![tag, create, delete, untag]
}

fn sm_rules(log: &Log, put_value_fails: bool, captured_policy: Arc<Mutex<String>>) -> Vec<Rule> {
    let (l1, l2, l3, l4, l5) = (log.clone(), log.clone(), log.clone(), log.clone(), log.clone());
    let describe = mock!(aws_sdk_secretsmanager::Client::describe_secret).then_compute_response(move |_| {
        l1.push("DescribeSecret");
        aws_smithy_mocks::MockResponse::Error(DescribeSecretError::ResourceNotFoundException(
            ResourceNotFoundException::builder().meta(meta("ResourceNotFoundException")).build(),
        ))
    });
    let create = mock!(aws_sdk_secretsmanager::Client::create_secret).then_compute_output(move |r| {
        assert!(r.secret_string().is_none(), "the secret is created empty, before its policy");
        l2.push("CreateSecret");
        CreateSecretOutput::builder().arn(SECRET_ARN).build()
    });
    let policy = mock!(aws_sdk_secretsmanager::Client::put_resource_policy).then_compute_output(move |r| {
        if let Ok(mut p) = captured_policy.lock() {
            *p = r.resource_policy().unwrap_or_default().to_string();
        }
        l3.push("PutResourcePolicy");
        PutResourcePolicyOutput::builder().arn(SECRET_ARN).build()
    });
    let put = if put_value_fails {
        mock!(aws_sdk_secretsmanager::Client::put_secret_value).then_http_response(move || {
            l4.push("PutSecretValue 500");
            aws_smithy_runtime_api::http::Response::new(
                aws_smithy_runtime_api::http::StatusCode::try_from(400).expect("status"),
                aws_smithy_types::body::SdkBody::from(
                    r#"{"__type":"AccessDeniedException","message":"not allowed"}"#,
                ),
            )
        })
    } else {
        mock!(aws_sdk_secretsmanager::Client::put_secret_value).then_compute_output(move |r| {
            let value: serde_json::Value =
                serde_json::from_str(r.secret_string().unwrap_or("{}")).expect("secret value is JSON");
            assert_eq!(value["AccessKeyId"], NEW);
            assert_eq!(value["SecretAccessKey"], SECRET);
            l4.push("PutSecretValue");
            PutSecretValueOutput::builder().arn(SECRET_ARN).build()
        })
    };
    let tag = mock!(aws_sdk_secretsmanager::Client::tag_resource).then_compute_output(move |r| {
        let id = r.tags().iter().find(|t| t.key() == Some("keywarden:access-key-id")).and_then(|t| t.value());
        l5.push(format!("TagResource {}", id.unwrap_or("-")));
        TagResourceOutput::builder().build()
    });
    vec![describe, create, policy, put, tag]
}

#[tokio::test]
async fn create_writes_intent_first_and_the_policy_before_the_secret() {
    let log = Log::default();
    let policy = Arc::new(Mutex::new(String::new()));
    let iam = iam_rules(&log, false);
    let sm = sm_rules(&log, false, policy.clone());
    let r = rotator(&iam.iter().collect::<Vec<_>>(), &sm.iter().collect::<Vec<_>>());
    let done = r.execute(&alice(), &Step::Create { old: OLD.into() }, now()).await.expect("rotation starts");
    assert_eq!(done.new_key_id.as_deref(), Some(NEW));
    assert_eq!(done.secret_arn.as_deref(), Some(SECRET_ARN));
    assert_eq!(
        log.get(),
        [
            "TagUser intent",
            "CreateAccessKey",
            "DescribeSecret",
            "CreateSecret",
            "PutResourcePolicy",
            "PutSecretValue",
            &format!("TagResource {NEW}"),
            "TagUser grace",
        ]
    );
    let policy = policy.lock().map(|p| p.clone()).unwrap_or_default();
    assert!(
        policy.contains(USER_ARN) && policy.contains(ROLE_ARN) && policy.contains("\"Deny\""),
        "{policy}"
    );
}

#[tokio::test]
async fn a_secret_that_cannot_be_stored_gets_its_key_deleted_at_once() {
    let log = Log::default();
    let iam = iam_rules(&log, false);
    let sm = sm_rules(&log, true, Arc::default());
    let r = rotator(&iam.iter().collect::<Vec<_>>(), &sm.iter().collect::<Vec<_>>());
    let err = r.execute(&alice(), &Step::Create { old: OLD.into() }, now()).await.expect_err("store fails");
    let calls = log.get();
    assert!(calls.contains(&format!("DeleteAccessKey {NEW}")), "{calls:?}");
    assert!(
        !calls.contains(&format!("DeleteAccessKey {OLD}")),
        "the working key is never touched: {calls:?}"
    );
    assert!(!calls.iter().any(|c| c == "TagUser grace"), "{calls:?}");
    assert_eq!(calls.last().map(String::as_str), Some("UntagUser"), "the intent is withdrawn: {calls:?}");
    assert_eq!(err.operation, "secretsmanager:PutSecretValue");
    assert!(err.message.contains("was deleted") && err.message.contains(OLD), "{err}");
    assert!(!format!("{err:?}").contains(SECRET), "the secret never reaches an error");
}

fn tags_rule(value: String) -> Rule {
    mock!(aws_sdk_iam::Client::list_user_tags).then_compute_output(move |_| {
        aws_sdk_iam::operation::list_user_tags::ListUserTagsOutput::builder()
            .tags(
                aws_sdk_iam::types::Tag::builder()
                    .key("keywarden:rotation")
                    .value(value.clone())
                    .build()
                    .expect("tag"),
            )
            .is_truncated(false)
            .build()
            .expect("output")
    })
}

#[tokio::test]
async fn losing_the_race_for_the_second_key_withdraws_our_intent_and_deletes_nothing() {
    let log = Log::default();
    let mut iam = iam_rules(&log, true);
    let ours = keywarden_core::rotation::RotationState::Intent { old: OLD.into(), at: now() }.to_tag();
    iam.push(tags_rule(ours));
    let sm = sm_rules(&log, false, Arc::default());
    let r = rotator(&iam.iter().collect::<Vec<_>>(), &sm.iter().collect::<Vec<_>>());
    let err = r.execute(&alice(), &Step::Create { old: OLD.into() }, now()).await.expect_err("limit");
    assert_eq!(err.code.as_deref(), Some("LimitExceeded"));
    let calls = log.get();
    assert!(!calls.iter().any(|c| c.starts_with("DeleteAccessKey")), "{calls:?}");
    assert!(
        !calls.iter().any(|c| c.starts_with("CreateSecret") || c.starts_with("PutSecretValue")),
        "{calls:?}"
    );
    assert_eq!(calls.last().map(String::as_str), Some("UntagUser"), "our intent is withdrawn: {calls:?}");
}

#[tokio::test]
async fn losing_the_race_to_another_run_leaves_its_record_alone() {
    let log = Log::default();
    let mut iam = iam_rules(&log, true);
    let theirs = keywarden_core::rotation::RotationState::Intent {
        old: OLD.into(),
        at: now() + chrono::Duration::seconds(3),
    }
    .to_tag();
    iam.push(tags_rule(theirs));
    let sm = sm_rules(&log, false, Arc::default());
    let r = rotator(&iam.iter().collect::<Vec<_>>(), &sm.iter().collect::<Vec<_>>());
    r.execute(&alice(), &Step::Create { old: OLD.into() }, now()).await.expect_err("limit");
    let calls = log.get();
    assert!(!calls.iter().any(|c| c.starts_with("DeleteAccessKey") || c == "UntagUser"), "{calls:?}");
}

#[tokio::test]
async fn recovery_deletes_the_unstored_key_before_rotating_again() {
    let log = Log::default();
    let iam = iam_rules(&log, false);
    let sm = sm_rules(&log, false, Arc::default());
    let r = rotator(&iam.iter().collect::<Vec<_>>(), &sm.iter().collect::<Vec<_>>());
    let mut live = alice();
    live.keys.push(LiveKey {
        id: "AKIAORPHAN000000003".into(),
        active: true,
        created: now(),
        last_used: None,
    });
    r.execute(&live, &Step::Recover { old: OLD.into(), unstored: "AKIAORPHAN000000003".into() }, now())
        .await
        .expect("recovered");
    let calls = log.get();
    assert_eq!(calls.first().map(String::as_str), Some("DeleteAccessKey AKIAORPHAN000000003"));
    assert!(calls.contains(&"TagUser grace".to_string()), "{calls:?}");
}
