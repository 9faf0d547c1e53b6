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
use aws_sdk_secretsmanager::types::error::ResourceNotFoundException;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use aws_smithy_types::error::ErrorMetadata;
use chrono::{TimeZone, Utc};
use keywarden_aws::{ApiCallCounter, IamRotator};
use keywarden_core::ports::Rotator;
use keywarden_core::rotation::{version_id, LiveKey, LiveUser, RotationState, SecretState, Step};

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
    keywarden_core::fixtures::at("2026-05-01T06:00:00Z")
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
        assert!(
            r.tags().iter().any(|t| t.key() == Some("keywarden:managed") && t.value() == Some("true")),
            "CreateSecret itself marks the secret as keywarden's"
        );
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
            assert_eq!(r.client_request_token(), Some(version_id(NEW).as_str()), "the version names its key");
            l4.push("PutSecretValue");
            PutSecretValueOutput::builder().arn(SECRET_ARN).build()
        })
    };
    let _ = l5;
    vec![describe, create, policy, put]
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
            "CreateSecret",
            "PutResourcePolicy",
            "PutSecretValue",
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
    let mut iam = iam_rules(&log, false);
    iam.push(tags_rule(RotationState::Intent { old: OLD.into(), at: now() }.to_tag()));
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

/// With retries disabled for CreateAccessKey, `LimitExceeded` means somebody else made the
/// second key: nothing is deleted, and the record stays so the next run can tell a stored
/// key (resume) from one nobody holds (recover, only if unused and made in the window).
#[tokio::test]
async fn losing_the_race_for_the_second_key_deletes_nothing_and_keeps_the_record() {
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
    assert!(!calls.iter().any(|c| c == "UntagUser"), "the record stays: {calls:?}");
    assert_eq!(calls, ["TagUser intent", "CreateAccessKey LimitExceeded"], "tried once, never retried");
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

fn http(status: u16, body: &'static str) -> aws_smithy_runtime_api::http::Response {
    aws_smithy_runtime_api::http::Response::new(
        aws_smithy_runtime_api::http::StatusCode::try_from(status).expect("status"),
        aws_smithy_types::body::SdkBody::from(body),
    )
}

const IAM_500: &str = "<ErrorResponse><Error><Type>Receiver</Type><Code>ServiceFailure</Code><Message>oops</Message></Error></ErrorResponse>";
const IAM_THROTTLED: &str = "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error></ErrorResponse>";

/// IAM's answers to `CreateAccessKey`, in order; every call is logged.
fn create_rule(log: &Log, answers: Vec<Option<(u16, &'static str)>>) -> Rule {
    let log = log.clone();
    let n = Arc::new(Mutex::new(0usize));
    mock!(aws_sdk_iam::Client::create_access_key).then_compute_response(move |_| {
        let i = n.lock().map(|mut n| {
            *n += 1;
            *n - 1
        });
        let answer = answers.get(i.unwrap_or(0)).cloned().flatten();
        match answer {
            Some((status, body)) => {
                log.push(format!("CreateAccessKey {status}"));
                aws_smithy_mocks::MockResponse::Http(http(status, body))
            }
            None => {
                log.push("CreateAccessKey");
                aws_smithy_mocks::MockResponse::Output(
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
                        .build(),
                )
            }
        }
    })
}

/// A 5xx answer to `CreateAccessKey` says nothing about whether IAM acted. The SDK must not
/// retry it (a second key, or LimitExceeded for our own first one), and the intent stays for
/// the next run to settle from IAM.
#[tokio::test]
async fn an_unanswered_create_is_never_retried_and_keeps_the_intent() {
    let log = Log::default();
    let mut iam = iam_rules(&log, false);
    iam.insert(0, create_rule(&log, vec![Some((500, IAM_500)), None]));
    let sm = sm_rules(&log, false, Arc::default());
    let r = rotator(&iam.iter().collect::<Vec<_>>(), &sm.iter().collect::<Vec<_>>());
    let err = r.execute(&alice(), &Step::Create { old: OLD.into() }, now()).await.expect_err("unknown");
    assert_eq!(log.get(), ["TagUser intent", "CreateAccessKey 500"], "one attempt, nothing undone");
    assert!(err.message.contains("may have created a key"), "{err}");
}

/// Throttling is IAM refusing before it acts: the rotator itself tries again.
#[tokio::test]
async fn a_throttled_create_is_tried_again() {
    let log = Log::default();
    let mut iam = iam_rules(&log, false);
    iam.insert(0, create_rule(&log, vec![Some((400, IAM_THROTTLED)), None]));
    let sm = sm_rules(&log, false, Arc::default());
    let r = rotator(&iam.iter().collect::<Vec<_>>(), &sm.iter().collect::<Vec<_>>());
    let done = r.execute(&alice(), &Step::Create { old: OLD.into() }, now()).await.expect("created");
    assert_eq!(done.new_key_id.as_deref(), Some(NEW));
    let calls = log.get();
    assert_eq!(&calls[..3], ["TagUser intent", "CreateAccessKey 400", "CreateAccessKey"], "{calls:?}");
}

/// `DescribeSecret`'s answer when the secret is read back after a failed write: keywarden's
/// secret with the new key's version current (the lost PutSecretValue did land), or none.
fn describe_rule(log: &Log, stored: bool) -> Rule {
    let log = log.clone();
    mock!(aws_sdk_secretsmanager::Client::describe_secret).then_compute_response(move |_| {
        log.push("DescribeSecret");
        if stored {
            aws_smithy_mocks::MockResponse::Output(
                aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretOutput::builder()
                    .arn(SECRET_ARN)
                    .tags(
                        aws_sdk_secretsmanager::types::Tag::builder()
                            .key("keywarden:managed")
                            .value("true")
                            .build(),
                    )
                    .version_ids_to_stages(version_id(NEW), vec!["AWSCURRENT".to_string()])
                    .build(),
            )
        } else {
            aws_smithy_mocks::MockResponse::Error(DescribeSecretError::ResourceNotFoundException(
                ResourceNotFoundException::builder().meta(meta("ResourceNotFoundException")).build(),
            ))
        }
    })
}

/// PutSecretValue's answer is lost (cut off mid-body): the secret is read back. When the new
/// key's version is current the rotation goes on and nothing is deleted; when it is not, the
/// unstored key is deleted at once.
#[tokio::test]
async fn a_lost_put_secret_value_answer_is_settled_by_reading_the_secret() {
    for stored in [true, false] {
        let log = Log::default();
        let mut iam = iam_rules(&log, false);
        iam.push(tags_rule(RotationState::Intent { old: OLD.into(), at: now() }.to_tag()));
        let mut sm = sm_rules(&log, false, Arc::default());
        sm.insert(0, describe_rule(&log, stored));
        let l = log.clone();
        sm.insert(
            0,
            mock!(aws_sdk_secretsmanager::Client::put_secret_value).then_compute_response(move |_| {
                // Secrets Manager acted, and its answer arrived cut off.
                l.push("PutSecretValue garbled");
                aws_smithy_mocks::MockResponse::Http(http(200, r#"{"ARN": "arn:aws:secre"#))
            }),
        );
        let r = rotator(&iam.iter().collect::<Vec<_>>(), &sm.iter().collect::<Vec<_>>());
        let res = r.execute(&alice(), &Step::Create { old: OLD.into() }, now()).await;
        let calls = log.get();
        if stored {
            let done = res.expect("stored after all");
            assert_eq!(done.new_key_id.as_deref(), Some(NEW));
            assert!(!calls.iter().any(|c| c.starts_with("DeleteAccessKey")), "{calls:?}");
            assert_eq!(calls.last().map(String::as_str), Some("TagUser grace"), "{calls:?}");
        } else {
            res.expect_err("not stored");
            assert!(calls.contains(&format!("DeleteAccessKey {NEW}")), "{calls:?}");
            assert!(!calls.iter().any(|c| c == "TagUser grace"), "{calls:?}");
        }
    }
}

/// A `keywarden/<user>` secret keywarden did not create is refused at read time: the
/// planner then blocks instead of writing a user's key into it.
#[tokio::test]
async fn a_secret_someone_else_made_is_refused() {
    let iam = [
        mock!(aws_sdk_iam::Client::get_user).then_output(|| {
            aws_sdk_iam::operation::get_user::GetUserOutput::builder()
                .user(
                    aws_sdk_iam::types::User::builder()
                        .user_name("alice")
                        .user_id("AIDA0000000000000001")
                        .arn(USER_ARN)
                        .path("/team/")
                        .create_date(aws_smithy_types::DateTime::from_secs(0))
                        .build()
                        .expect("user"),
                )
                .build()
        }),
        mock!(aws_sdk_iam::Client::list_access_keys).then_output(|| {
            aws_sdk_iam::operation::list_access_keys::ListAccessKeysOutput::builder()
                .set_access_key_metadata(Some(vec![]))
                .is_truncated(false)
                .build()
                .expect("keys")
        }),
        mock!(aws_sdk_iam::Client::list_user_tags).then_output(|| {
            aws_sdk_iam::operation::list_user_tags::ListUserTagsOutput::builder()
                .set_tags(Some(vec![]))
                .is_truncated(false)
                .build()
                .expect("tags")
        }),
    ];
    let sm = [mock!(aws_sdk_secretsmanager::Client::describe_secret).then_output(|| {
        aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretOutput::builder()
            .arn(SECRET_ARN)
            .build()
    })];
    let r = rotator(&iam.iter().collect::<Vec<_>>(), &sm.iter().collect::<Vec<_>>());
    let live = r.read("alice", None).await.expect("read");
    assert!(
        matches!(&live.secret, SecretState::Refused { reason, .. } if reason.contains("not created by keywarden")),
        "{:?}",
        live.secret
    );
}

/// Without KEYWARDEN_ROLE_ARN, keywarden's role is read from IAM, path included: the
/// session ARN drops the path that `aws:PrincipalArn` keeps.
#[tokio::test]
async fn the_role_arn_keeps_its_path() {
    let log = Log::default();
    let policy = Arc::new(Mutex::new(String::new()));
    let mut iam = iam_rules(&log, false);
    iam.push(
        mock!(aws_sdk_iam::Client::get_role)
            .match_requests(|r| r.role_name() == Some("keywarden"))
            .then_output(|| {
                aws_sdk_iam::operation::get_role::GetRoleOutput::builder()
                    .role(
                        aws_sdk_iam::types::Role::builder()
                            .role_name("keywarden")
                            .role_id("AROA0000000000000001")
                            .path("/security/")
                            .arn("arn:aws:iam::123456789012:role/security/keywarden")
                            .create_date(aws_smithy_types::DateTime::from_secs(0))
                            .build()
                            .expect("role"),
                    )
                    .build()
            }),
    );
    let sm = sm_rules(&log, false, policy.clone());
    let sts = [mock!(aws_sdk_sts::Client::get_caller_identity).then_output(|| {
        aws_sdk_sts::operation::get_caller_identity::GetCallerIdentityOutput::builder()
            .arn("arn:aws:sts::123456789012:assumed-role/keywarden/keywarden-fn")
            .account("123456789012")
            .build()
    })];
    let r = IamRotator::new(
        mock_client!(aws_sdk_iam, RuleMode::MatchAny, &iam.iter().collect::<Vec<_>>()),
        mock_client!(aws_sdk_secretsmanager, RuleMode::MatchAny, &sm.iter().collect::<Vec<_>>()),
        mock_client!(aws_sdk_sts, RuleMode::MatchAny, &sts.iter().collect::<Vec<_>>()),
        None,
        None,
        ApiCallCounter::new(),
    );
    r.execute(&alice(), &Step::Create { old: OLD.into() }, now()).await.expect("rotation starts");
    let policy = policy.lock().map(|p| p.clone()).unwrap_or_default();
    assert!(policy.contains("arn:aws:iam::123456789012:role/security/keywarden"), "{policy}");
}

fn listed_secret(name: &str, managed: bool, deleted: bool) -> aws_sdk_secretsmanager::types::SecretListEntry {
    let mut e = aws_sdk_secretsmanager::types::SecretListEntry::builder()
        .name(name)
        .arn(format!("arn:aws:secretsmanager:us-east-1:123456789012:secret:{name}-AbCdEf"))
        .secret_versions_to_stages(version_id(OLD), vec!["AWSCURRENT".to_string()]);
    if managed {
        e = e.tags(
            aws_sdk_secretsmanager::types::Tag::builder().key("keywarden:managed").value("true").build(),
        );
    }
    if deleted {
        e = e.deleted_date(aws_smithy_types::DateTime::from_secs(1_700_000_000));
    }
    e.build()
}

/// One paged ListSecrets judges every keywarden secret as DescribeSecret would: the key a
/// version names, someone else's secret refused, one scheduled for deletion refused, and only
/// exact `keywarden/<user>` names taken (the name filter also matches other cases).
#[tokio::test]
async fn the_secret_listing_judges_each_users_secret_like_describe_secret() {
    let pages = Arc::new(Mutex::new(Vec::new()));
    let seen = pages.clone();
    let sm = [mock!(aws_sdk_secretsmanager::Client::list_secrets).then_compute_output(move |r| {
        let token = r.next_token().map(str::to_string);
        if let Ok(mut s) = seen.lock() {
            s.push((token.clone(), r.include_planned_deletion(), r.filters().len()));
        }
        let out = aws_sdk_secretsmanager::operation::list_secrets::ListSecretsOutput::builder();
        match token {
            None => out
                .secret_list(listed_secret("keywarden/alice", true, false))
                .secret_list(listed_secret("keywarden/bob", false, false))
                .next_token("page2")
                .build(),
            Some(_) => out
                .secret_list(listed_secret("keywarden/carol", true, true))
                .secret_list(listed_secret("Keywarden/dave", true, false))
                .build(),
        }
    })];
    let r = rotator(&[], &sm.iter().collect::<Vec<_>>());
    let listed = r.secrets().await.expect("listed");
    assert_eq!(listed.keys().map(String::as_str).collect::<Vec<_>>(), ["alice", "bob", "carol"]);
    assert_eq!(listed["alice"].current_key(), Some(OLD));
    assert!(
        matches!(&listed["bob"], SecretState::Refused { reason, .. } if reason.contains("not created by keywarden"))
    );
    assert!(
        matches!(&listed["carol"], SecretState::Refused { reason, .. } if reason.contains("scheduled for deletion"))
    );
    let pages = pages.lock().map(|p| p.clone()).unwrap_or_default();
    assert_eq!(pages, [(None, Some(true), 1), (Some("page2".to_string()), Some(true), 1)]);
}

fn get_user_with_tags(tags: &[(&str, &str)]) -> Rule {
    let tags: Vec<aws_sdk_iam::types::Tag> = tags
        .iter()
        .map(|(k, v)| aws_sdk_iam::types::Tag::builder().key(*k).value(*v).build().expect("tag"))
        .collect();
    mock!(aws_sdk_iam::Client::get_user).then_output(move || {
        aws_sdk_iam::operation::get_user::GetUserOutput::builder()
            .user(
                aws_sdk_iam::types::User::builder()
                    .user_name("alice")
                    .user_id("AIDA0000000000000001")
                    .arn(USER_ARN)
                    .path("/team/")
                    .create_date(aws_smithy_types::DateTime::from_secs(0))
                    .set_tags(Some(tags.clone()))
                    .build()
                    .expect("user"),
            )
            .build()
    })
}

fn one_key() -> Rule {
    mock!(aws_sdk_iam::Client::list_access_keys).then_output(|| {
        aws_sdk_iam::operation::list_access_keys::ListAccessKeysOutput::builder()
            .access_key_metadata(
                aws_sdk_iam::types::AccessKeyMetadata::builder()
                    .user_name("alice")
                    .access_key_id(OLD)
                    .status(StatusType::Active)
                    .create_date(aws_smithy_types::DateTime::from_secs(1_600_000_000))
                    .build(),
            )
            .is_truncated(false)
            .build()
            .expect("keys")
    })
}

/// A user with no rotation record is read with GetUser (ARN and tags) and ListAccessKeys
/// alone: the listed secret stands in for DescribeSecret, and no last use is asked for.
/// A user mid-rotation gets both, because recovering depends on them.
#[tokio::test]
async fn a_first_rotation_reads_two_calls_and_a_record_reads_everything() {
    let describe = Arc::new(Mutex::new(0));
    let d = describe.clone();
    let sm = [mock!(aws_sdk_secretsmanager::Client::describe_secret).then_compute_response(move |_| {
        if let Ok(mut n) = d.lock() {
            *n += 1;
        }
        aws_smithy_mocks::MockResponse::Error(DescribeSecretError::ResourceNotFoundException(
            ResourceNotFoundException::builder().meta(meta("ResourceNotFoundException")).build(),
        ))
    })];
    let last_used = Arc::new(Mutex::new(0));
    let lu = last_used.clone();
    let used = move || {
        mock!(aws_sdk_iam::Client::get_access_key_last_used).then_compute_output({
            let lu = lu.clone();
            move |_| {
                if let Ok(mut n) = lu.lock() {
                    *n += 1;
                }
                aws_sdk_iam::operation::get_access_key_last_used::GetAccessKeyLastUsedOutput::builder()
                    .build()
            }
        })
    };

    let iam = [get_user_with_tags(&[("team", "a")]), one_key(), used()];
    let r = rotator(&iam.iter().collect::<Vec<_>>(), &sm.iter().collect::<Vec<_>>());
    let live = r.read("alice", Some(&SecretState::Missing)).await.expect("read");
    assert_eq!((live.arn.as_str(), live.tags.get("team").map(String::as_str)), (USER_ARN, Some("a")));
    assert_eq!(live.keys.len(), 1);
    assert_eq!((*describe.lock().expect("n"), *last_used.lock().expect("n")), (0, 0));

    // No listing: the secret is described.
    let live = r.read("alice", None).await.expect("read");
    assert_eq!(live.secret, SecretState::Missing);
    assert_eq!((*describe.lock().expect("n"), *last_used.lock().expect("n")), (1, 0));

    let record = RotationState::Intent {
        old: OLD.into(),
        at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().expect("t"),
    };
    let iam = [get_user_with_tags(&[("keywarden:rotation", &record.to_tag())]), one_key(), used()];
    let r = rotator(&iam.iter().collect::<Vec<_>>(), &sm.iter().collect::<Vec<_>>());
    let live = r.read("alice", Some(&SecretState::Missing)).await.expect("read");
    assert!(live.tags.contains_key("keywarden:rotation"));
    assert_eq!(
        (*describe.lock().expect("n"), *last_used.lock().expect("n")),
        (2, 1),
        "mid-rotation reads all"
    );
}
