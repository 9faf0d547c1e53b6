//! Adapter edge cases the emulator cannot show: paging, throttling, the credential report's
//! life cycle and error codes, with `aws-smithy-mocks` standing in for IAM.

use std::time::Duration;

use aws_sdk_iam::operation::generate_credential_report::{
    GenerateCredentialReportError, GenerateCredentialReportOutput,
};
use aws_sdk_iam::operation::get_account_authorization_details::GetAccountAuthorizationDetailsOutput;
use aws_sdk_iam::operation::get_account_password_policy::{
    GetAccountPasswordPolicyError, GetAccountPasswordPolicyOutput,
};
use aws_sdk_iam::operation::get_account_summary::GetAccountSummaryOutput;
use aws_sdk_iam::operation::get_credential_report::{GetCredentialReportError, GetCredentialReportOutput};
use aws_sdk_iam::operation::get_login_profile::GetLoginProfileError;
use aws_sdk_iam::operation::list_access_keys::ListAccessKeysOutput;
use aws_sdk_iam::operation::list_virtual_mfa_devices::ListVirtualMfaDevicesOutput;
use aws_sdk_iam::types::error::{
    CredentialReportNotPresentException, CredentialReportNotReadyException, LimitExceededException,
    NoSuchEntityException,
};
use aws_sdk_iam::types::{
    AccessKeyMetadata, GroupDetail, PasswordPolicy, ReportStateType, StatusType, SummaryKeyType, Tag,
    UserDetail, VirtualMfaDevice,
};
use aws_sdk_iam::Client;
use aws_sdk_sts::operation::get_caller_identity::GetCallerIdentityOutput;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use aws_smithy_types::error::ErrorMetadata;
use aws_smithy_types::{Blob, DateTime};
use keywarden_aws::{ApiCallCounter, AwsError, CollectorOptions, IamDirectory};
use keywarden_core::model::LiveRequest;
use keywarden_core::ports::Directory;

use keywarden_core::fixtures::{user_arn, ACCOUNT_ID, CREDENTIAL_REPORT_HEADER as HEADER};

fn report_csv() -> String {
    format!(
        "{HEADER}\nalice,arn:aws:iam::123456789012:user/alice,2025-01-01T00:00:00+00:00,true,no_information,2025-01-01T00:00:00+00:00,N/A,false,true,2025-02-01T00:00:00+00:00,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n"
    )
}

fn meta(code: &str) -> ErrorMetadata {
    ErrorMetadata::builder().code(code).message(format!("{code} (mocked)")).build()
}

fn fast() -> CollectorOptions {
    CollectorOptions {
        report_max_wait: Duration::from_millis(200),
        report_poll_initial: Duration::from_millis(1),
        report_poll_max: Duration::from_millis(5),
        live_concurrency: 4,
    }
}

/// An IAM client answering from `rules`, with retries on (as in production) and the counter.
fn iam(rules: &[&Rule], counter: &ApiCallCounter) -> Client {
    let counter = counter.clone();
    mock_client!(aws_sdk_iam, RuleMode::MatchAny, rules, move |c| {
        c.retry_config(aws_sdk_iam::config::retry::RetryConfig::standard().with_max_attempts(3))
            .interceptor(counter.clone())
    })
}

fn sts(counter: &ApiCallCounter) -> aws_sdk_sts::Client {
    let rule = mock!(aws_sdk_sts::Client::get_caller_identity)
        .then_output(|| GetCallerIdentityOutput::builder().account(ACCOUNT_ID).build());
    let counter = counter.clone();
    mock_client!(aws_sdk_sts, RuleMode::MatchAny, [&rule], move |c| c.interceptor(counter.clone()))
}

fn directory(rules: &[&Rule]) -> (IamDirectory, ApiCallCounter) {
    let counter = ApiCallCounter::new();
    let d = IamDirectory::new(iam(rules, &counter), sts(&counter), counter.clone(), fast());
    (d, counter)
}

fn complete() -> GenerateCredentialReportOutput {
    GenerateCredentialReportOutput::builder().state(ReportStateType::Complete).build()
}

fn report_output() -> GetCredentialReportOutput {
    GetCredentialReportOutput::builder()
        .content(Blob::new(report_csv()))
        .generated_time(DateTime::from_secs(1_767_225_600))
        .build()
}

fn user(name: &str, groups: &[&str]) -> UserDetail {
    let mut b = UserDetail::builder().user_name(name).arn(user_arn(name));
    for g in groups {
        b = b.group_list(*g);
    }
    b.build()
}

#[tokio::test]
async fn authorization_details_are_read_across_pages() {
    let first = mock!(Client::get_account_authorization_details)
        .match_requests(|r| r.marker().is_none())
        .then_output(|| {
            GetAccountAuthorizationDetailsOutput::builder()
                .user_detail_list(user("alice", &["SelfEdit"]))
                .user_detail_list(
                    user("bob", &[])
                        .to_builder_for_test()
                        .tags(Tag::builder().key("keywarden:exempt").value("all").build().expect("tag"))
                        .build(),
                )
                .group_detail_list(GroupDetail::builder().group_name("SelfEdit").build())
                .is_truncated(true)
                .marker("page-2")
                .build()
        });
    let second = mock!(Client::get_account_authorization_details)
        .match_requests(|r| r.marker() == Some("page-2"))
        .then_output(|| {
            GetAccountAuthorizationDetailsOutput::builder()
                .user_detail_list(user("carol", &["Admins"]))
                .group_detail_list(
                    GroupDetail::builder()
                        .group_name("Admins")
                        .group_policy_list(
                            aws_sdk_iam::types::PolicyDetail::builder()
                                .policy_name("admin")
                                .policy_document("%7B%22Statement%22%3A%5B%5D%7D")
                                .build(),
                        )
                        .build(),
                )
                .policies(
                    aws_sdk_iam::types::ManagedPolicyDetail::builder()
                        .policy_name("SelfService")
                        .arn("arn:aws:iam::123456789012:policy/SelfService")
                        .policy_version_list(
                            aws_sdk_iam::types::PolicyVersion::builder()
                                .version_id("v1")
                                .is_default_version(false)
                                .document("%7B%22old%22%3Atrue%7D")
                                .build(),
                        )
                        .policy_version_list(
                            aws_sdk_iam::types::PolicyVersion::builder()
                                .version_id("v2")
                                .is_default_version(true)
                                .document("%7B%22Version%22%3A%222012-10-17%22%7D")
                                .build(),
                        )
                        .build(),
                )
                .is_truncated(false)
                .build()
        });
    let (d, counter) = directory(&[&first, &second]);
    let auth = d.authorization().await.expect("both pages");
    assert_eq!(auth.users.keys().collect::<Vec<_>>(), ["alice", "bob", "carol"]);
    assert_eq!(auth.groups.keys().collect::<Vec<_>>(), ["Admins", "SelfEdit"]);
    assert_eq!(auth.users["bob"].tags.get("keywarden:exempt").map(String::as_str), Some("all"));
    assert!(auth.users["bob"].groups.is_empty());
    assert_eq!(auth.groups["Admins"].inline_documents["admin"], r#"{"Statement":[]}"#);
    let managed = &auth.managed_policies["arn:aws:iam::123456789012:policy/SelfService"];
    assert_eq!(
        managed.document.as_deref().ok(),
        Some(r#"{"Version":"2012-10-17"}"#),
        "the default version, decoded"
    );
    assert_eq!(counter.snapshot().get("iam:GetAccountAuthorizationDetails"), Some(&2));
}

const ADMIN_ARN: &str = "arn:aws:iam::aws:policy/AdministratorAccess";
const POWER_ARN: &str = "arn:aws:iam::aws:policy/PowerUserAccess";

fn attached(arn: &str) -> aws_sdk_iam::types::AttachedPolicy {
    aws_sdk_iam::types::AttachedPolicy::builder()
        .policy_arn(arn)
        .policy_name(arn.rsplit('/').next().unwrap_or(arn))
        .build()
}

#[tokio::test]
async fn attached_aws_managed_policies_are_read_once_each_and_a_failed_read_is_kept() {
    // Two users and a group share AdministratorAccess; one user has PowerUserAccess, whose
    // read is denied.
    let listing = mock!(Client::get_account_authorization_details).then_output(|| {
        GetAccountAuthorizationDetailsOutput::builder()
            .user_detail_list(
                user("alice", &["Ops"])
                    .to_builder_for_test()
                    .attached_managed_policies(attached(ADMIN_ARN))
                    .build(),
            )
            .user_detail_list(
                user("bob", &[])
                    .to_builder_for_test()
                    .attached_managed_policies(attached(ADMIN_ARN))
                    .attached_managed_policies(attached(POWER_ARN))
                    .build(),
            )
            .group_detail_list(
                GroupDetail::builder()
                    .group_name("Ops")
                    .attached_managed_policies(attached(ADMIN_ARN))
                    .build(),
            )
            .is_truncated(false)
            .build()
    });
    let get_admin =
        mock!(Client::get_policy).match_requests(|r| r.policy_arn() == Some(ADMIN_ARN)).then_output(|| {
            aws_sdk_iam::operation::get_policy::GetPolicyOutput::builder()
                .policy(aws_sdk_iam::types::Policy::builder().arn(ADMIN_ARN).default_version_id("v3").build())
                .build()
        });
    let get_admin_version = mock!(Client::get_policy_version)
        .match_requests(|r| r.policy_arn() == Some(ADMIN_ARN) && r.version_id() == Some("v3"))
        .then_output(|| {
            aws_sdk_iam::operation::get_policy_version::GetPolicyVersionOutput::builder()
                .policy_version(
                    aws_sdk_iam::types::PolicyVersion::builder()
                        .version_id("v3")
                        .is_default_version(true)
                        .document("%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22*%22%2C%22Resource%22%3A%22*%22%7D%5D%7D")
                        .build(),
                )
                .build()
        });
    let get_power = mock!(Client::get_policy)
        .match_requests(|r| r.policy_arn() == Some(POWER_ARN))
        .then_error(|| aws_sdk_iam::operation::get_policy::GetPolicyError::generic(meta("AccessDenied")));
    let (d, counter) = directory(&[&listing, &get_admin, &get_admin_version, &get_power]);
    let auth = d.authorization().await.expect("the listing itself was read");
    assert_eq!(
        auth.managed_policies[ADMIN_ARN].document.as_deref().ok(),
        Some(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#)
    );
    let denied = auth.managed_policies[POWER_ARN].document.as_ref().expect_err("the read was denied");
    assert_eq!((denied.operation.as_str(), denied.code.as_deref()), ("iam:GetPolicy", Some("AccessDenied")));
    let calls = counter.snapshot();
    assert_eq!(calls.get("iam:GetPolicy"), Some(&2), "one read per distinct policy: {calls:?}");
    assert_eq!(calls.get("iam:GetPolicyVersion"), Some(&1), "{calls:?}");
}

/// `to_builder` is not generated for output shapes; rebuild the fields we need.
trait ToBuilder {
    fn to_builder_for_test(&self) -> aws_sdk_iam::types::builders::UserDetailBuilder;
}
impl ToBuilder for UserDetail {
    fn to_builder_for_test(&self) -> aws_sdk_iam::types::builders::UserDetailBuilder {
        UserDetail::builder()
            .set_user_name(self.user_name().map(str::to_string))
            .set_arn(self.arn().map(str::to_string))
            .set_group_list(Some(self.group_list().to_vec()))
    }
}

#[tokio::test]
async fn a_failed_second_page_is_an_error_not_a_short_list() {
    let first = mock!(Client::get_account_authorization_details)
        .match_requests(|r| r.marker().is_none())
        .then_output(|| {
            GetAccountAuthorizationDetailsOutput::builder()
                .user_detail_list(user("alice", &[]))
                .is_truncated(true)
                .marker("m2")
                .build()
        });
    let second = mock!(Client::get_account_authorization_details)
        .match_requests(|r| r.marker() == Some("m2"))
        .then_http_response(|| {
            aws_smithy_runtime_api::http::Response::new(
                aws_smithy_runtime_api::http::StatusCode::try_from(403).expect("status"),
                aws_smithy_types::body::SdkBody::from(
                    "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>no</Message></Error></ErrorResponse>",
                ),
            )
        });
    let (d, _) = directory(&[&first, &second]);
    let err = d.authorization().await.expect_err("second page denied");
    assert_eq!(err.code(), Some("AccessDenied"));
    assert_eq!(err.operation(), "iam:GetAccountAuthorizationDetails");
}

#[tokio::test]
async fn credential_report_is_polled_until_ready() {
    let generate = mock!(Client::generate_credential_report)
        .sequence()
        .output(|| GenerateCredentialReportOutput::builder().state(ReportStateType::Started).build())
        .output(|| GenerateCredentialReportOutput::builder().state(ReportStateType::Inprogress).build())
        .output(complete)
        .build();
    let get = mock!(Client::get_credential_report)
        .sequence()
        .error(|| {
            GetCredentialReportError::CredentialReportNotReadyException(
                CredentialReportNotReadyException::builder().meta(meta("ReportInProgress")).build(),
            )
        })
        .output(report_output)
        .build();
    let (d, counter) = directory(&[&generate, &get]);
    let report = d.credential_report().await.expect("report after polling");
    assert_eq!(report.users.len(), 1);
    assert_eq!(report.users[0].user, "alice");
    assert_eq!(report.generated_at.timestamp(), 1_767_225_600);
    assert_eq!(generate.num_calls(), 3);
    assert_eq!(get.num_calls(), 2);
    assert_eq!(counter.snapshot().get("iam:GenerateCredentialReport"), Some(&3));
}

#[tokio::test]
async fn credential_report_not_present_is_generated_again() {
    let generate = mock!(Client::generate_credential_report).then_output(complete);
    let get = mock!(Client::get_credential_report)
        .sequence()
        .error(|| {
            GetCredentialReportError::CredentialReportNotPresentException(
                CredentialReportNotPresentException::builder().meta(meta("ReportNotPresent")).build(),
            )
        })
        .output(report_output)
        .build();
    let (d, _) = directory(&[&generate, &get]);
    d.credential_report().await.expect("regenerated");
    assert_eq!(generate.num_calls(), 2);
}

#[tokio::test]
async fn limit_exceeded_on_generate_waits_instead_of_failing() {
    let generate = mock!(Client::generate_credential_report)
        .sequence()
        .error(|| {
            GenerateCredentialReportError::LimitExceededException(
                LimitExceededException::builder().meta(meta("LimitExceeded")).build(),
            )
        })
        .output(complete)
        .build();
    let get = mock!(Client::get_credential_report).then_output(report_output);
    let (d, _) = directory(&[&generate, &get]);
    d.credential_report().await.expect("report after the limit cleared");
}

#[tokio::test]
async fn a_report_that_never_completes_times_out_with_a_clear_error() {
    let generate = mock!(Client::generate_credential_report)
        .then_output(|| GenerateCredentialReportOutput::builder().state(ReportStateType::Inprogress).build());
    let (d, _) = directory(&[&generate]);
    let err = d.credential_report().await.expect_err("never ready");
    assert!(matches!(err, AwsError::ReportTimeout { .. }), "{err}");
    assert!(err.to_string().contains("not ready"));
}

#[tokio::test]
async fn a_malformed_report_is_an_error() {
    let generate = mock!(Client::generate_credential_report).then_output(complete);
    let get = mock!(Client::get_credential_report).then_output(|| {
        GetCredentialReportOutput::builder()
            .content(Blob::new("user,arn\nalice,arn\n"))
            .generated_time(DateTime::from_secs(0))
            .build()
    });
    let (d, _) = directory(&[&generate, &get]);
    let err = d.credential_report().await.expect_err("missing columns");
    assert!(matches!(err, AwsError::Malformed { .. }));
    assert!(err.to_string().contains("user_creation_time"), "{err}");
}

#[tokio::test]
async fn throttling_is_retried() {
    let throttled = || {
        aws_smithy_runtime_api::http::Response::new(
            aws_smithy_runtime_api::http::StatusCode::try_from(400).expect("status"),
            aws_smithy_types::body::SdkBody::from(
                "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error></ErrorResponse>",
            ),
        )
    };
    let summary = mock!(Client::get_account_summary)
        .sequence()
        .http_response(throttled)
        .times(2)
        .output(|| {
            GetAccountSummaryOutput::builder()
                .summary_map(SummaryKeyType::AccountMfaEnabled, 1)
                .summary_map(SummaryKeyType::AccountAccessKeysPresent, 0)
                .build()
        })
        .build();
    let (d, counter) = directory(&[&summary]);
    let s = d.account_summary().await.expect("third attempt succeeds");
    assert!(s.root_mfa_enabled && !s.root_access_keys_present);
    assert_eq!(summary.num_calls(), 3);
    assert_eq!(counter.snapshot().get("iam:GetAccountSummary"), Some(&3), "retries are counted");
}

#[tokio::test]
async fn persistent_throttling_becomes_an_error_with_its_code() {
    let summary = mock!(Client::get_account_summary).then_http_response(|| {
        aws_smithy_runtime_api::http::Response::new(
            aws_smithy_runtime_api::http::StatusCode::try_from(400).expect("status"),
            aws_smithy_types::body::SdkBody::from(
                "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error></ErrorResponse>",
            ),
        )
    });
    let (d, _) = directory(&[&summary]);
    let err = d.account_summary().await.expect_err("throttled every time");
    assert_eq!(err.code(), Some("Throttling"));
}

#[tokio::test]
async fn no_password_policy_is_none_but_access_denied_is_an_error() {
    let none = mock!(Client::get_account_password_policy).then_error(|| {
        GetAccountPasswordPolicyError::NoSuchEntityException(
            NoSuchEntityException::builder().meta(meta("NoSuchEntity")).build(),
        )
    });
    let (d, _) = directory(&[&none]);
    assert_eq!(d.password_policy().await, Ok(None));

    let denied = mock!(Client::get_account_password_policy).then_http_response(|| {
        aws_smithy_runtime_api::http::Response::new(
            aws_smithy_runtime_api::http::StatusCode::try_from(403).expect("status"),
            aws_smithy_types::body::SdkBody::from(
                "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>not allowed</Message></Error></ErrorResponse>",
            ),
        )
    });
    let (d, _) = directory(&[&denied]);
    let err = d.password_policy().await.expect_err("denied");
    assert_eq!(err.code(), Some("AccessDenied"));

    let strong = mock!(Client::get_account_password_policy).then_output(|| {
        GetAccountPasswordPolicyOutput::builder()
            .password_policy(
                PasswordPolicy::builder()
                    .minimum_password_length(14)
                    .password_reuse_prevention(24)
                    .require_symbols(true)
                    .build(),
            )
            .build()
    });
    let (d, _) = directory(&[&strong]);
    let p = d.password_policy().await.expect("read").expect("present");
    assert_eq!((p.minimum_length, p.reuse_prevention, p.require_symbols), (14, Some(24), true));
}

#[tokio::test]
async fn virtual_mfa_devices_are_read_across_pages() {
    let first =
        mock!(Client::list_virtual_mfa_devices).match_requests(|r| r.marker().is_none()).then_output(|| {
            ListVirtualMfaDevicesOutput::builder()
                .virtual_mfa_devices(
                    VirtualMfaDevice::builder()
                        .serial_number("arn:aws:iam::123456789012:mfa/alice")
                        .user(
                            aws_sdk_iam::types::User::builder()
                                .user_name("alice")
                                .path("/")
                                .user_id("AIDA1")
                                .arn("arn:aws:iam::123456789012:user/alice")
                                .create_date(DateTime::from_secs(0))
                                .build()
                                .expect("user"),
                        )
                        .build()
                        .expect("device"),
                )
                .is_truncated(true)
                .marker("next")
                .build()
                .expect("output")
        });
    let second = mock!(Client::list_virtual_mfa_devices)
        .match_requests(|r| r.marker() == Some("next"))
        .then_output(|| {
            ListVirtualMfaDevicesOutput::builder()
                .virtual_mfa_devices(
                    VirtualMfaDevice::builder()
                        .serial_number("arn:aws:iam::123456789012:mfa/orphan")
                        .build()
                        .expect("device"),
                )
                .is_truncated(false)
                .build()
                .expect("output")
        });
    let (d, _) = directory(&[&first, &second]);
    let devices = d.virtual_mfa_devices().await.expect("two pages");
    assert_eq!(devices.len(), 2);
    assert_eq!(devices[0].user.as_deref(), Some("alice"));
    assert_eq!(devices[1].user, None);
}

#[tokio::test]
async fn live_details_read_keys_and_login_profiles_per_user() {
    let keys = mock!(Client::list_access_keys)
        .match_requests(|r| r.user_name() == Some("alice"))
        .then_output(|| {
            ListAccessKeysOutput::builder()
                .access_key_metadata(
                    AccessKeyMetadata::builder()
                        .user_name("alice")
                        .access_key_id("AKIAALICE1")
                        .status(StatusType::Active)
                        .create_date(DateTime::from_secs(1_738_368_000))
                        .build(),
                )
                .build()
                .expect("output")
        });
    let no_profile = mock!(Client::get_login_profile).then_error(|| {
        GetLoginProfileError::NoSuchEntityException(
            NoSuchEntityException::builder().meta(meta("NoSuchEntity")).build(),
        )
    });
    let (d, counter) = directory(&[&keys, &no_profile]);
    let req = LiveRequest {
        access_keys_for: ["alice".to_string()].into_iter().collect(),
        login_profile_for: ["alice".to_string()].into_iter().collect(),
    };
    let live = d.live_details(&req).await;
    let alice = live.access_keys["alice"].as_ref().expect("keys");
    assert_eq!(alice[0].access_key_id, "AKIAALICE1");
    assert!(alice[0].active);
    assert_eq!(live.login_profiles["alice"], Ok(false));
    assert_eq!(counter.total(), 2);
}

#[tokio::test]
async fn collect_records_each_failure_in_its_own_section() {
    // Only the account summary answers; everything else is refused by the mock HTTP layer.
    let summary = mock!(Client::get_account_summary).then_output(|| {
        GetAccountSummaryOutput::builder()
            .summary_map(SummaryKeyType::AccountMfaEnabled, 0)
            .summary_map(SummaryKeyType::AccountAccessKeysPresent, 0)
            .build()
    });
    let denied = |op: &'static str| {
        move || {
            aws_smithy_runtime_api::http::Response::new(
                aws_smithy_runtime_api::http::StatusCode::try_from(403).expect("status"),
                aws_smithy_types::body::SdkBody::from(format!(
                    "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>{op}</Message></Error></ErrorResponse>"
                )),
            )
        }
    };
    let gen = mock!(Client::generate_credential_report).then_http_response(denied("generate"));
    let auth = mock!(Client::get_account_authorization_details).then_http_response(denied("auth"));
    let mfa = mock!(Client::list_virtual_mfa_devices).then_http_response(denied("mfa"));
    let pp = mock!(Client::get_account_password_policy).then_http_response(denied("pp"));
    let (d, _) = directory(&[&summary, &gen, &auth, &mfa, &pp]);
    let inv = d.collect().await;
    assert_eq!(inv.account_id.as_deref(), Ok("123456789012"));
    assert!(inv.account_summary.is_ok());
    for failure in [
        inv.credential_report.as_ref().err(),
        inv.authorization.as_ref().err(),
        inv.virtual_mfa_devices.as_ref().err(),
        inv.password_policy.as_ref().err(),
    ] {
        let failure = failure.expect("a denied read is an error, not empty data");
        assert_eq!(failure.code.as_deref(), Some("AccessDenied"));
    }
}
