//! How long and how much memory the pure part of a run takes for the largest account IAM
//! allows (5,000 users): parse the credential report, evaluate every check, build and
//! serialise the report. Run with `make bench`; it prints figures, it asserts nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::time::Instant;

use chrono::{Duration, TimeZone, Utc};
use keywarden_core::checks::{evaluate, UserScope};
use keywarden_core::credential_report::CredentialReport;
use keywarden_core::model::{AccountSummary, Authorization, GroupDetail, ManagedPolicy, UserDetail};
use keywarden_core::policy::CANONICAL_SELF_SERVICE;
use keywarden_core::report::{Report, RunInfo};
use keywarden_core::{AuditPolicy, Inventory, RotationMode};

const USERS: usize = 5_000;
const ROUNDS: usize = 20;
const ADMIN: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
const ADMIN_ARN: &str = "arn:aws:iam::aws:policy/AdministratorAccess";

fn main() {
    let now = Utc.with_ymd_and_hms(2026, 11, 23, 6, 0, 0).single().expect("valid date");
    let ts = |days: i64| (now - Duration::days(days)).format("%Y-%m-%dT%H:%M:%S+00:00").to_string();
    let mut csv = String::from("user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated\n");
    let mut auth = Authorization::default();
    for i in 0..USERS {
        let name = format!("user{i:05}");
        let age = (i % 400) as i64;
        let _ = writeln!(
            csv,
            "{name},arn:aws:iam::123456789012:user/{name},{},{},{},{},N/A,{},true,{},{},us-east-1,s3,{},{},N/A,N/A,N/A,false,N/A,false,N/A",
            ts(age + 10),
            i % 3 == 0,
            if i % 3 == 0 { ts(age / 2) } else { "not_supported".into() },
            ts(age + 10),
            i % 5 == 0,
            ts(age),
            if i % 2 == 0 { ts(age / 3) } else { "N/A".into() },
            i % 7 == 0,
            if i % 7 == 0 { ts(age / 4) } else { "N/A".into() },
        );
        // A quarter in no group; the rest in the MFA group, half of those also Developers,
        // every 10th also Admins; every 50th has an administrator policy of its own.
        let mut groups: BTreeSet<String> = BTreeSet::new();
        if i % 4 != 0 {
            groups.insert("SelfEdit".into());
            if i % 2 == 1 {
                groups.insert("Developers".into());
            }
            if i % 10 == 1 {
                groups.insert("Admins".into());
            }
        }
        let mut user = UserDetail {
            arn: format!("arn:aws:iam::123456789012:user/{name}"),
            groups,
            name: name.clone(),
            ..Default::default()
        };
        if i % 50 == 0 {
            user.inline_policies.push("admin".into());
            user.inline_documents.insert("admin".into(), ADMIN.into());
        }
        auth.users.insert(name, user);
    }
    // The control's groups: the canonical policy, a developer policy of many statements, and
    // an AWS-managed administrator policy.
    let group = |name: &str, inline: Vec<(&str, String)>, attached: Vec<&str>| GroupDetail {
        name: name.into(),
        arn: format!("arn:aws:iam::123456789012:group/{name}"),
        inline_policies: inline.iter().map(|(n, _)| n.to_string()).collect(),
        inline_documents: inline.into_iter().map(|(n, d)| (n.to_string(), d)).collect(),
        attached_policies: attached.into_iter().map(str::to_string).collect(),
    };
    let developer: Vec<String> = ["ec2", "s3", "lambda", "dynamodb", "logs", "cloudwatch", "sqs", "sns", "kms", "ssm"]
        .iter()
        .map(|svc| format!(r#"{{"Effect":"Allow","Action":["{svc}:Describe*","{svc}:Get*","{svc}:List*","{svc}:Put*"],"Resource":"arn:aws:{svc}:*:123456789012:*"}}"#))
        .collect();
    let developer = format!(r#"{{"Version":"2012-10-17","Statement":[{}]}}"#, developer.join(","));
    auth.groups.insert(
        "SelfEdit".into(),
        group("SelfEdit", vec![("self-service", CANONICAL_SELF_SERVICE.into())], vec![]),
    );
    auth.groups.insert("Developers".into(), group("Developers", vec![("developer", developer)], vec![]));
    auth.groups.insert("Admins".into(), group("Admins", vec![], vec![ADMIN_ARN]));
    auth.managed_policies.insert(
        ADMIN_ARN.into(),
        ManagedPolicy {
            name: "AdministratorAccess".into(),
            arn: ADMIN_ARN.into(),
            document: Ok(ADMIN.into()),
        },
    );

    let policy = AuditPolicy::default();
    let started = Instant::now();
    let mut findings = 0;
    let mut bytes = 0;
    for round in 0..ROUNDS {
        let report = CredentialReport::parse(csv.as_bytes(), now).expect("generated report parses");
        let inventory = Inventory {
            account_id: Ok("123456789012".into()),
            credential_report: Ok(report),
            authorization: Ok(auth.clone()),
            virtual_mfa_devices: Ok(vec![]),
            account_summary: Ok(AccountSummary { root_mfa_enabled: true, root_access_keys_present: false }),
            password_policy: Ok(None),
        };
        let evaluation = evaluate(&inventory, &policy, &UserScope::All, now);
        findings = evaluation.findings.len();
        let run = RunInfo {
            run_id: format!("bench-{round}"),
            account_id: "123456789012".into(),
            action: "audit".into(),
            mode: RotationMode::DryRun,
            generated_at: now,
            data_as_of: Some(now),
        };
        let mut report = Report::build(run, evaluation, vec![], BTreeMap::new());
        bytes = report.to_json_capped(5_000_000).expect("serialises").len();
    }
    let per_run = started.elapsed() / ROUNDS as u32;
    // The same evaluation without the policy documents: what the self-service control costs.
    let mut bare = auth.clone();
    bare.groups.clear();
    bare.managed_policies.clear();
    bare.users.values_mut().for_each(|u| u.inline_documents.clear());
    let report = CredentialReport::parse(csv.as_bytes(), now).expect("generated report parses");
    let time_evaluate = |auth: &Authorization| {
        let inventory = Inventory {
            account_id: Ok("123456789012".into()),
            credential_report: Ok(report.clone()),
            authorization: Ok(auth.clone()),
            virtual_mfa_devices: Ok(vec![]),
            account_summary: Ok(AccountSummary { root_mfa_enabled: true, root_access_keys_present: false }),
            password_policy: Ok(None),
        };
        let t = Instant::now();
        let ev = evaluate(&inventory, &policy, &UserScope::All, now);
        (t.elapsed(), ev.findings.iter().filter(|f| f.check.as_str() == "user_mfa_not_enforced").count())
    };
    let (with_docs, unenforced) = time_evaluate(&auth);
    let (without_docs, _) = time_evaluate(&bare);
    println!("bench evaluate: {USERS} users, {findings} findings, report {bytes} bytes");
    println!("  wall time per run (parse + evaluate + report + JSON): {per_run:?} (mean of {ROUNDS})");
    println!("  credential report CSV: {} bytes", csv.len());
    println!(
        "  evaluate alone: {with_docs:?} with policy documents ({unenforced} users without enforced MFA), {without_docs:?} without"
    );
    println!("  peak memory (VmHWM): {}", peak_memory().unwrap_or_else(|| "unavailable".into()));
}

/// The process's peak resident set, from Linux's /proc.
fn peak_memory() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .map(|l| l.trim_start_matches("VmHWM:").trim().to_string())
}
