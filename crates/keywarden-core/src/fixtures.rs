//! Shared test fixtures: the account, the clock and the builders every test suite starts from.
//!
//! Shipped behind the `mock` feature with [`crate::mock`], so the core's, the adapters' and
//! the handler's tests build their accounts from one definition: a test that says "a
//! compliant user in the MFA group" means the same thing in every crate, and a change to the
//! credential report's columns or to the canonical self-service policy is made once.
//!
//! Everything here panics on a malformed literal instead of returning an error: the inputs
//! are the tests' own constants, and a panic names the test that wrote them.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};

use crate::config::Config;
use crate::credential_report::CredentialReport;
use crate::model::{AccountSummary, Authorization, GroupDetail, Inventory, UserDetail};
use crate::policy::CANONICAL_SELF_SERVICE;

/// The account every fixture lives in; also moto's default account, so the unit tests and
/// the end-to-end tests name the same ARNs.
pub const ACCOUNT_ID: &str = "123456789012";

/// The 22 columns of IAM's credential report in IAM's order, without a line break: tests
/// write their rows under it, so the parser is always fed the header AWS actually sends.
pub const CREDENTIAL_REPORT_HEADER: &str = "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated";

/// The group that enforces MFA in the fixtures: the default of the configuration, so an
/// account built here passes the control checks without further setup.
pub const MFA_GROUP: &str = "SelfEdit";

/// The name of [`MFA_GROUP`]'s inline policy, whose document is the canonical one.
pub const SELF_SERVICE_POLICY: &str = "self-service";

/// The instant every test runs at, so that no test reads the clock and every age ("a key
/// of 120 days") is a fixed distance from it: 2026-06-01T12:00:00Z.
pub fn now() -> DateTime<Utc> {
    at("2026-06-01T12:00:00Z")
}

/// The instant written as RFC 3339 (`"2026-02-01T12:00:00Z"`), the shape the credential
/// report's cells have, so a test's instants read like the rows it writes.
///
/// # Panics
///
/// If `rfc3339` is not a valid RFC 3339 timestamp: it is a test's own literal.
#[track_caller]
pub fn at(rfc3339: &str) -> DateTime<Utc> {
    match DateTime::parse_from_rfc3339(rfc3339) {
        Ok(t) => t.with_timezone(&Utc),
        Err(e) => panic!("fixture instant {rfc3339:?} is not RFC 3339: {e}"),
    }
}

/// `days` whole days before [`now`]: the ages the checks' thresholds are stated in.
pub fn days_ago(days: i64) -> DateTime<Utc> {
    now() - Duration::days(days)
}

/// The ARN of user `name` at path `/` in [`ACCOUNT_ID`].
pub fn user_arn(name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT_ID}:user/{name}")
}

/// The ARN of group `name` in [`ACCOUNT_ID`].
pub fn group_arn(name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT_ID}:group/{name}")
}

/// The serial number (an ARN) of the virtual MFA device named after user `name`.
pub fn mfa_arn(name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT_ID}:mfa/{name}")
}

/// A credential report's CSV: [`CREDENTIAL_REPORT_HEADER`] and then each of `rows` (without
/// line breaks) on a line of its own, every line ended by `\n` as IAM ends them.
pub fn credential_report_csv<R: AsRef<str>>(rows: impl IntoIterator<Item = R>) -> String {
    let mut csv = format!("{CREDENTIAL_REPORT_HEADER}\n");
    for row in rows {
        csv.push_str(row.as_ref());
        csv.push('\n');
    }
    csv
}

/// The parsed report of [`credential_report_csv`] over `rows`, generated at [`now`]: tests
/// of what follows the parser start from a report that went through it.
///
/// # Panics
///
/// If the rows do not parse: they are a test's own literals.
#[track_caller]
pub fn credential_report<R: AsRef<str>>(rows: impl IntoIterator<Item = R>) -> CredentialReport {
    let csv = credential_report_csv(rows);
    match CredentialReport::parse(csv.as_bytes(), now()) {
        Ok(report) => report,
        Err(e) => panic!("fixture credential report does not parse: {e}"),
    }
}

/// User `name` at path `/` in `groups`, with no policies or tags of its own: a user the
/// policy checks have nothing to say about unless a test gives them something.
pub fn user(name: &str, groups: &[&str]) -> UserDetail {
    UserDetail {
        name: name.to_string(),
        arn: user_arn(name),
        path: "/".into(),
        groups: groups.iter().map(|g| g.to_string()).collect::<BTreeSet<_>>(),
        ..UserDetail::default()
    }
}

/// [`MFA_GROUP`] with the canonical self-service policy inline, so the checks that look for
/// an MFA-enforcing group find one.
pub fn self_service_group() -> GroupDetail {
    GroupDetail {
        name: MFA_GROUP.into(),
        arn: group_arn(MFA_GROUP),
        inline_policies: vec![SELF_SERVICE_POLICY.into()],
        attached_policies: Vec::new(),
        inline_documents: BTreeMap::from([(
            SELF_SERVICE_POLICY.to_string(),
            CANONICAL_SELF_SERVICE.to_string(),
        )]),
    }
}

/// Authorization details with `users` (by name) and only [`self_service_group`]: the
/// control checks pass, and each user's own policies are the only thing left to judge.
pub fn authorization_with_self_service(users: impl IntoIterator<Item = UserDetail>) -> Authorization {
    Authorization {
        users: users.into_iter().map(|u| (u.name.clone(), u)).collect(),
        groups: BTreeMap::from([(MFA_GROUP.to_string(), self_service_group())]),
        managed_policies: BTreeMap::new(),
    }
}

/// An inventory of [`ACCOUNT_ID`] from `credential_report` and `authorization`, every other
/// read successful: root has MFA and no keys, there are no virtual MFA devices and no
/// password policy. Tests override the fields they are about with struct update syntax.
pub fn inventory(credential_report: CredentialReport, authorization: Authorization) -> Inventory {
    Inventory {
        account_id: Ok(ACCOUNT_ID.into()),
        credential_report: Ok(credential_report),
        authorization: Ok(authorization),
        virtual_mfa_devices: Ok(Vec::new()),
        account_summary: Ok(AccountSummary { root_mfa_enabled: true, root_access_keys_present: false }),
        password_policy: Ok(None),
    }
}

/// The configuration the Lambda would read from an environment holding exactly `vars`, so
/// tests configure it the way an operator does.
///
/// # Panics
///
/// If `vars` is not a valid configuration: the tests of invalid ones call
/// [`Config::from_lookup`] themselves.
#[track_caller]
pub fn config(vars: &[(&str, &str)]) -> Config {
    let vars: BTreeMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    match Config::from_lookup(|k| vars.get(k).cloned()) {
        Ok(config) => config,
        Err(e) => panic!("fixture configuration {vars:?} is invalid: {e}"),
    }
}
