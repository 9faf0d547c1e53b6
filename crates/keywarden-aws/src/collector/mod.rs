//! The IAM collector: turns a handful of account-wide IAM reads into an [`Inventory`].
//!
//! The reads are chosen so that the number of calls does not grow with the number of users
//! (credential report, one paged authorization-details listing, one paged MFA listing, two
//! account calls); per-user calls happen only in [`Directory::live_details`], for the users
//! that have findings. All reads run concurrently, and each one's failure is recorded in its
//! own section of the inventory, so one denied permission costs only the checks that need it.
//!
//! One submodule per read: [`credential_report`] polls the report, [`authorization`] maps
//! users, groups and local policies, [`managed_policies`] reads the AWS-managed policies they
//! attach, [`account`] holds the account-wide reads, and [`live`] the per-user ones.

use std::collections::BTreeMap;
use std::time::Duration;

use keywarden_core::model::{LiveDetails, LiveRequest};
use keywarden_core::ports::Directory;
use keywarden_core::Inventory;
use percent_encoding::percent_decode_str;
use tracing::info;

use crate::counter::ApiCallCounter;
use crate::sdk::collected;

pub mod account;
pub mod authorization;
pub mod credential_report;
pub mod live;
pub mod managed_policies;

/// IAM's largest page (`MaxItems`): its default of 100 would make the MFA listing of a
/// 5,000-user account 35 calls instead of 4.
const MAX_PAGE: i32 = 1000;

/// How patiently to wait for IAM.
#[derive(Debug, Clone)]
pub struct CollectorOptions {
    /// Total time to wait for the credential report to be generated: the configuration's
    /// setting, since only the operator knows how long a run may take.
    pub report_max_wait: Duration,
    /// First pause between credential-report polls; it doubles up to `report_poll_max`.
    pub report_poll_initial: Duration,
    /// The longest pause between two polls, so a report that is nearly ready is not missed
    /// by a long sleep.
    pub report_poll_max: Duration,
    /// Parallel per-user live reads; IAM's rate limits are per account, so keep it modest.
    pub live_concurrency: usize,
}

impl CollectorOptions {
    /// The production pacing around the configured report wait. There is no `Default`: a
    /// second default wait here would silently win over the configuration's.
    pub fn new(report_max_wait: Duration) -> Self {
        Self {
            report_max_wait,
            report_poll_initial: Duration::from_millis(500),
            report_poll_max: Duration::from_secs(8),
            live_concurrency: 8,
        }
    }
}

/// The production [`Directory`]: IAM and STS through the AWS SDK.
#[derive(Debug, Clone)]
pub struct IamDirectory {
    iam: aws_sdk_iam::Client,
    sts: aws_sdk_sts::Client,
    counter: ApiCallCounter,
    options: CollectorOptions,
}

impl IamDirectory {
    /// `counter` must be the interceptor installed on both clients' configs; it is held here
    /// only to report the tally.
    pub fn new(
        iam: aws_sdk_iam::Client,
        sts: aws_sdk_sts::Client,
        counter: ApiCallCounter,
        options: CollectorOptions,
    ) -> Self {
        Self { iam, sts, counter, options }
    }
}

/// IAM returns policy documents URL-encoded (RFC 3986, so `+` is a plus, not a space);
/// emulators sometimes return them plain. A document that already looks like JSON is kept.
/// An escape that is not two hex digits stays as it is; bytes that are not UTF-8 become
/// U+FFFD rather than failing the whole read.
pub fn policy_text(raw: &str) -> String {
    if raw.trim_start().starts_with('{') {
        return raw.to_string();
    }
    percent_decode_str(raw).decode_utf8_lossy().into_owned()
}

impl Directory for IamDirectory {
    async fn collect(&self) -> Inventory {
        let started = std::time::Instant::now();
        let (account_id, report, auth, mfa, summary, password) = tokio::join!(
            self.account_id(),
            self.credential_report(),
            self.authorization(),
            self.virtual_mfa_devices(),
            self.account_summary(),
            self.password_policy(),
        );
        let inventory = Inventory {
            account_id: collected("the account id", account_id),
            credential_report: collected("the credential report", report),
            authorization: collected("users and groups", auth),
            virtual_mfa_devices: collected("virtual MFA devices", mfa),
            account_summary: collected("the account summary", summary),
            password_policy: collected("the password policy", password),
        };
        info!(
            users = inventory.credential_report.as_ref().map(|r| r.users.len()).ok(),
            api_calls = self.counter.total(),
            collect_ms = started.elapsed().as_secs_f64() * 1000.0,
            "inventory collected"
        );
        inventory
    }

    async fn live_details(&self, request: &LiveRequest) -> LiveDetails {
        self.live(request).await
    }

    fn api_calls(&self) -> BTreeMap<String, u64> {
        self.counter.snapshot()
    }
}

#[cfg(test)]
mod tests {
    use super::policy_text;

    #[test]
    fn policy_documents_are_url_decoded_once() {
        assert_eq!(
            policy_text("%7B%22Version%22%3A%222012-10-17%22%2C%22Sid%22%3A%22a+b%25%22%7D"),
            r#"{"Version":"2012-10-17","Sid":"a+b%"}"#
        );
        let plain = r#"{"Sid": "100%7B"}"#;
        assert_eq!(policy_text(plain), plain, "plain JSON is not decoded again");
        assert_eq!(policy_text("%7"), "%7", "a truncated escape stays as it is");
    }

    #[test]
    fn a_plus_stays_a_plus_as_rfc_3986_says() {
        // Form encoding would make `+` a space; IAM's documents are RFC 3986, where it is
        // literal, and only `%20` is a space.
        assert_eq!(policy_text("%22a+b%20c%22"), "\"a+b c\"");
        assert_eq!(policy_text("%zz%4"), "%zz%4", "escapes that are not hex stay as they are");
        assert_eq!(policy_text("%FF"), "\u{FFFD}", "bytes that are not UTF-8 are replaced, not fatal");
    }
}
