//! Seeded accounts with a known answer: every user is built, at a chosen point of moto's
//! faked clock, to trip exactly the checks named next to it, under the default thresholds
//! (keys rotate at 90 days, unused after 45, inactive keys deleted after 30, a key made
//! within 60 minutes of its console user counts as made at setup, CIS password policy).
//!
//! moto facts the expectations rely on:
//! - its credential report never shows a password as used, so a console password is judged
//!   by its age, which moto reports as the user's creation time;
//! - `GetAccountSummary` always says the root user has no MFA and no access keys, so
//!   `root_mfa_disabled` is always a finding and `root_access_key_present` can never be
//!   produced (there is no API to give root an access key);
//! - a request signed with a user's key marks that key used at moto's current time.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::moto::Moto;
use crate::seed::{AccessKey, Aws};

/// Members of this group are exempt from every check (passed as `EXEMPT_GROUPS`).
pub const EXEMPT_GROUP: &str = "BreakGlass";
/// The ordinary group compliant users are in.
pub const TEAM_GROUP: &str = "Developers";
/// The exemption tag the checks read.
pub const EXEMPT_TAG: &str = "keywarden:exempt";
/// The MFA-enforcing self-service group (keywarden's default `MFA_GROUP`).
pub const MFA_GROUP: &str = "SelfEdit";
/// The canonical self-service policy: the repository's one copy, as the CDK stack deploys it.
pub const CANONICAL_SELF_SERVICE: &str =
    include_str!("../../crates/keywarden-core/policies/self-service.json");

/// The canonical policy tampered the way seed 002 does it: the statement that lets a user
/// manage their own virtual MFA device reaches every user's device (`mfa/*`).
pub fn tampered_self_service() -> String {
    let tampered =
        CANONICAL_SELF_SERVICE.replace("arn:aws:iam::*:mfa/${aws:username}", "arn:aws:iam::*:mfa/*");
    assert_ne!(tampered, CANONICAL_SELF_SERVICE, "the canonical policy names the caller's own MFA device");
    tampered
}

/// The MFA-enforcing group with `document` as its inline policy `self-service`.
async fn mfa_group(aws: &Aws, document: &str) {
    aws.create_group(MFA_GROUP).await;
    aws.put_group_policy(MFA_GROUP, "self-service", document).await;
}

/// One finding a scenario must produce: `(check, user, key slot)` identifies it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Expected {
    pub check: String,
    pub user: Option<String>,
    pub key_slot: Option<u8>,
    pub exempted: bool,
}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} user={} slot={}",
            self.check,
            self.user.as_deref().unwrap_or("-"),
            match self.key_slot {
                Some(s) => s.to_string(),
                None => "-".into(),
            }
        )?;
        if self.exempted {
            write!(f, " (exempted)")?;
        }
        Ok(())
    }
}

fn open(check: &str, user: Option<&str>, key_slot: Option<u8>) -> Expected {
    Expected { check: check.into(), user: user.map(Into::into), key_slot, exempted: false }
}

fn exempted(check: &str, user: &str, key_slot: Option<u8>) -> Expected {
    Expected { check: check.into(), user: Some(user.into()), key_slot, exempted: true }
}

/// What a scenario seeded and what an audit of it must report.
#[derive(Debug, Default)]
pub struct Seeded {
    /// Every IAM user created.
    pub users: BTreeSet<String>,
    /// The access keys created, by `(user, slot)` (slot 1 is the first key created).
    pub keys: BTreeMap<(String, u8), AccessKey>,
    /// The exact set of findings a full audit must return.
    pub expected: BTreeSet<Expected>,
    /// Serial numbers of virtual MFA devices left unassigned.
    pub unassigned_mfa: Vec<String>,
    /// Why a user is exempted, by user (the report must say so).
    pub exemption_reasons: BTreeMap<String, String>,
}

impl Seeded {
    /// The id of the key in `slot` of `user`.
    pub fn key_id(&self, user: &str, slot: u8) -> Option<&str> {
        self.keys.get(&(user.to_string(), slot)).map(|k| k.access_key_id.as_str())
    }

    /// The expected findings about `user` only (what a run scoped to that user returns).
    pub fn expected_for(&self, user: &str) -> BTreeSet<Expected> {
        self.expected.iter().filter(|e| e.user.as_deref() == Some(user)).cloned().collect()
    }

    fn user(&mut self, name: &str) {
        self.users.insert(name.to_string());
    }

    fn key(&mut self, key: AccessKey, slot: u8) -> AccessKey {
        self.keys.insert((key.user.clone(), slot), key.clone());
        key
    }
}

/// The function environment the scenarios are written for (thresholds left at defaults).
pub fn scenario_env(moto: &Moto) -> BTreeMap<String, String> {
    let mut env = crate::lambda::function_env(&moto.endpoint());
    env.insert("EXEMPT_GROUPS".into(), EXEMPT_GROUP.into());
    // moto answers GenerateCredentialReport at once; keep a failure from hanging a test.
    env.insert("CREDENTIAL_REPORT_MAX_WAIT_SECONDS".into(), "20".into());
    env
}

/// A user who does everything right: in a group, MFA enabled, a young key used today and,
/// for a console user, a password younger than the unused threshold.
async fn compliant_user(aws: &Aws, s: &mut Seeded, name: &str, console: bool) -> AccessKey {
    aws.create_user(name).await;
    s.user(name);
    if console {
        aws.create_login_profile(name).await;
    }
    aws.add_to_group(name, TEAM_GROUP).await;
    aws.enable_mfa(name).await;
    let key = aws.create_access_key(name).await;
    s.key(key, 1)
}

/// An account with at least one violation of every check moto can exhibit, compliant users
/// beside them, a user exempted by tag and one exempted by group.
///
/// `root_access_key_present` cannot be produced in moto (root has no API to create keys and
/// `GetAccountSummary` always reports `AccountAccessKeysPresent=0`); it must report `pass`.
pub async fn violations(moto: &Moto, aws: &Aws) -> Seeded {
    let mut s = Seeded::default();

    // ---- 100 days ago -------------------------------------------------------------------
    moto.set_clock("-100d");
    aws.create_group(TEAM_GROUP).await;
    aws.create_group(EXEMPT_GROUP).await;
    // The MFA group's policy was edited to reach every user's MFA device.
    mfa_group(aws, &tampered_self_service()).await;
    s.expected.insert(open("self_service_policy_drift", None, None));
    s.expected.insert(open("self_service_policy_overbroad", None, None));

    // old-key: API user with MFA whose only key is 100 days old (but used today).
    aws.create_user("old-key").await;
    s.user("old-key");
    aws.add_to_group("old-key", TEAM_GROUP).await;
    let old_key = s.key(aws.create_access_key("old-key").await, 1);
    s.expected.insert(open("access_key_not_rotated", Some("old-key"), Some(1)));

    // stale-console: console user whose password was set 100 days ago and never used.
    aws.create_user("stale-console").await;
    s.user("stale-console");
    aws.create_login_profile("stale-console").await;
    aws.add_to_group("stale-console", TEAM_GROUP).await;
    s.expected.insert(open("console_password_unused", Some("stale-console"), None));

    // lingering: a key made 100 days ago, deactivated and never deleted (nor used).
    aws.create_user("lingering").await;
    s.user("lingering");
    aws.add_to_group("lingering", TEAM_GROUP).await;
    let lingering = s.key(aws.create_access_key("lingering").await, 1);
    aws.deactivate_access_key(&lingering).await;
    s.expected.insert(open("inactive_access_key_lingering", Some("lingering"), Some(1)));

    // exempt-tag: exempted by tag from two checks it fails (an old key, no group), but not
    // from the third (a policy of its own).
    aws.create_user("exempt-tag").await;
    s.user("exempt-tag");
    let exempt_value = "access_key_not_rotated user_in_no_group";
    aws.tag_user("exempt-tag", EXEMPT_TAG, exempt_value).await;
    let exempt_key = s.key(aws.create_access_key("exempt-tag").await, 1);
    aws.put_inline_policy("exempt-tag", "exempt-tag-extra").await;
    s.exemption_reasons.insert("exempt-tag".into(), format!("{EXEMPT_TAG}={exempt_value}"));
    s.expected.insert(exempted("access_key_not_rotated", "exempt-tag", Some(1)));
    s.expected.insert(exempted("user_in_no_group", "exempt-tag", None));
    s.expected.insert(open("user_has_direct_policies", Some("exempt-tag"), None));
    // Its own policy allows s3:GetObject, and it is outside the MFA group: no MFA needed.
    s.expected.insert(open("user_mfa_not_enforced", Some("exempt-tag"), None));

    // break-glass: a console user without MFA, password never used, in the exempt group.
    aws.create_user("break-glass").await;
    s.user("break-glass");
    aws.create_login_profile("break-glass").await;
    aws.add_to_group("break-glass", EXEMPT_GROUP).await;
    s.exemption_reasons.insert("break-glass".into(), EXEMPT_GROUP.into());
    s.expected.insert(exempted("console_user_without_mfa", "break-glass", None));
    s.expected.insert(exempted("console_password_unused", "break-glass", None));

    // ---- 70 and 60 days ago: a key made, then last used 60 days ago ---------------------
    moto.set_clock("-70d");
    aws.create_user("unused-key").await;
    s.user("unused-key");
    aws.add_to_group("unused-key", TEAM_GROUP).await;
    let unused = s.key(aws.create_access_key("unused-key").await, 1);
    moto.set_clock("-60d");
    aws.use_key(&unused).await;
    s.expected.insert(open("access_key_unused", Some("unused-key"), Some(1)));

    // ---- 50 days ago: a key never used, past the grace for new keys ---------------------
    moto.set_clock("-50d");
    aws.create_user("never-used-key").await;
    s.user("never-used-key");
    aws.add_to_group("never-used-key", TEAM_GROUP).await;
    s.key(aws.create_access_key("never-used-key").await, 1);
    s.expected.insert(open("access_key_unused", Some("never-used-key"), Some(1)));

    // ---- 10 days ago: young users --------------------------------------------------------
    moto.set_clock("-10d");
    // setup-key: console user whose key was made with the user and never used (the key is
    // too young to be unused).
    aws.create_user("setup-key").await;
    s.user("setup-key");
    aws.create_login_profile("setup-key").await;
    aws.add_to_group("setup-key", TEAM_GROUP).await;
    s.key(aws.create_access_key("setup-key").await, 1);
    s.expected.insert(open("access_key_created_at_setup", Some("setup-key"), Some(1)));

    // two-keys: two active keys, both used today.
    aws.create_user("two-keys").await;
    s.user("two-keys");
    aws.add_to_group("two-keys", TEAM_GROUP).await;
    let two_a = s.key(aws.create_access_key("two-keys").await, 1);
    let two_b = s.key(aws.create_access_key("two-keys").await, 2);
    s.expected.insert(open("two_active_access_keys", Some("two-keys"), None));

    // alice: console user without MFA and in no group; her key is used today.
    aws.create_user("alice").await;
    s.user("alice");
    aws.create_login_profile("alice").await;
    let alice_key = s.key(aws.create_access_key("alice").await, 1);
    s.expected.insert(open("console_user_without_mfa", Some("alice"), None));
    s.expected.insert(open("user_in_no_group", Some("alice"), None));

    // no-mfa-api: API-only user (no password) with an active key and no MFA.
    aws.create_user("no-mfa-api").await;
    s.user("no-mfa-api");
    aws.add_to_group("no-mfa-api", TEAM_GROUP).await;
    let no_mfa_key = s.key(aws.create_access_key("no-mfa-api").await, 1);
    s.expected.insert(open("user_without_mfa", Some("no-mfa-api"), None));

    // Compliant users, created 10 days ago.
    let compliant_console = compliant_user(aws, &mut s, "compliant-console", true).await;
    let compliant_api = compliant_user(aws, &mut s, "compliant-api", false).await;

    // ---- today ---------------------------------------------------------------------------
    moto.set_clock("+0");
    for key in
        [&old_key, &exempt_key, &two_a, &two_b, &alice_key, &no_mfa_key, &compliant_console, &compliant_api]
    {
        aws.use_key(key).await;
    }
    // MFA for the API users that must not trip the MFA checks.
    for user in ["old-key", "stale-console", "lingering", "exempt-tag", "unused-key", "never-used-key"] {
        aws.enable_mfa(user).await;
    }
    for user in ["setup-key", "two-keys"] {
        aws.enable_mfa(user).await;
    }

    // direct-policy: no credentials at all, in a group, with an inline and an attached policy
    // (both allow s3:GetObject), and in the MFA group, whose deny still holds.
    aws.create_user("direct-policy").await;
    s.user("direct-policy");
    aws.add_to_group("direct-policy", TEAM_GROUP).await;
    aws.add_to_group("direct-policy", MFA_GROUP).await;
    aws.put_inline_policy("direct-policy", "direct-policy-inline").await;
    let arn = aws.create_managed_policy("DirectAttached").await;
    aws.attach_user_policy("direct-policy", &arn).await;
    s.expected.insert(open("user_has_direct_policies", Some("direct-policy"), None));

    // A compliant user without any credential.
    aws.create_user("compliant-bare").await;
    s.user("compliant-bare");
    aws.add_to_group("compliant-bare", TEAM_GROUP).await;

    // A virtual MFA device nobody enabled.
    let orphan = aws.create_virtual_mfa("orphan-device").await;
    s.unassigned_mfa.push(orphan);
    s.expected.insert(open("virtual_mfa_unassigned", None, None));

    // A weak password policy.
    aws.set_password_policy(false).await;
    s.expected.insert(open("password_policy_weak", None, None));

    // moto cannot give root MFA.
    s.expected.insert(open("root_mfa_disabled", None, None));
    s
}

/// An account where everything that can pass does: compliant users and a strong password
/// policy. Only `root_mfa_disabled` remains (moto cannot give root MFA).
pub async fn compliant(moto: &Moto, aws: &Aws) -> Seeded {
    let mut s = Seeded::default();
    moto.set_clock("-20d");
    aws.create_group(TEAM_GROUP).await;
    mfa_group(aws, CANONICAL_SELF_SERVICE).await;
    let console = compliant_user(aws, &mut s, "compliant-console", true).await;
    let api = compliant_user(aws, &mut s, "compliant-api", false).await;
    moto.set_clock("-5d");
    aws.use_key(&api).await;
    moto.set_clock("+0");
    aws.use_key(&console).await;
    aws.create_user("compliant-bare").await;
    s.user("compliant-bare");
    aws.add_to_group("compliant-bare", TEAM_GROUP).await;
    aws.set_password_policy(true).await;
    s.expected.insert(open("root_mfa_disabled", None, None));
    s
}

/// The desired state of [`policy_control`]: everyone in the MFA group, only `boss` in Admins.
pub const DESIRED_STATE: &str =
    r#"{"required_for_all": ["SelfEdit"], "restricted": {"Admins": ["boss"]}, "other_groups": "ignore"}"#;

/// AWS's own AdministratorAccess (moto must load AWS-managed policies).
pub const ADMINISTRATOR_ACCESS: &str = "arn:aws:iam::aws:policy/AdministratorAccess";

/// An administrator policy written by hand.
const ADMIN_LIKE: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Everything","Effect":"Allow","Action":"*","Resource":"*"}]}"#;

/// The self-service control under [`DESIRED_STATE`]: users with no credentials at all (so no
/// credential check speaks), a strong password policy, and `Admins` carrying AWS's
/// AdministratorAccess.
///
/// With `broken`: the MFA group's policy is tampered ([`tampered_self_service`]), `outsider`
/// is not in the MFA group, `sneaky` is in Admins without being listed, and `admin-direct`
/// has an administrator policy of its own and is outside the MFA group. Without it, every
/// user is in the MFA group, whose policy is the canonical one written compactly (the check
/// compares meaning, not text), and only `boss` is in Admins: nothing but
/// `root_mfa_disabled` (moto's root has no MFA) may be reported.
pub async fn policy_control(aws: &Aws, broken: bool) -> Seeded {
    let mut s = Seeded::default();
    aws.create_group(TEAM_GROUP).await;
    aws.create_group("Admins").await;
    aws.attach_group_policy("Admins", ADMINISTRATOR_ACCESS).await;
    let compact: serde_json::Value =
        serde_json::from_str(CANONICAL_SELF_SERVICE).expect("the canonical policy is JSON");
    mfa_group(aws, &if broken { tampered_self_service() } else { compact.to_string() }).await;
    aws.set_password_policy(true).await;
    s.expected.insert(open("root_mfa_disabled", None, None));

    // member: in the MFA group and a team, nothing else.
    for (name, groups) in [
        ("member", vec![MFA_GROUP, TEAM_GROUP]),
        ("boss", vec![MFA_GROUP, "Admins"]),
        ("outsider", if broken { vec![TEAM_GROUP] } else { vec![MFA_GROUP, TEAM_GROUP] }),
        ("sneaky", if broken { vec![MFA_GROUP, "Admins"] } else { vec![MFA_GROUP, TEAM_GROUP] }),
    ] {
        aws.create_user(name).await;
        s.user(name);
        for g in groups {
            aws.add_to_group(name, g).await;
        }
    }
    aws.create_user("admin-direct").await;
    s.user("admin-direct");
    if broken {
        aws.add_to_group("admin-direct", TEAM_GROUP).await;
        aws.put_user_policy_document("admin-direct", "admin", ADMIN_LIKE).await;
        s.expected.insert(open("self_service_policy_drift", None, None));
        s.expected.insert(open("self_service_policy_overbroad", None, None));
        s.expected.insert(open("group_membership_missing", Some("outsider"), None));
        s.expected.insert(open("group_membership_missing", Some("admin-direct"), None));
        s.expected.insert(open("group_membership_unexpected", Some("sneaky"), None));
        s.expected.insert(open("user_has_direct_policies", Some("admin-direct"), None));
        s.expected.insert(open("user_mfa_not_enforced", Some("admin-direct"), None));
    } else {
        aws.add_to_group("admin-direct", MFA_GROUP).await;
        aws.add_to_group("admin-direct", TEAM_GROUP).await;
    }
    s
}
