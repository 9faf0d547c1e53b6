//! The configuration's unit tests.

use super::settings as s;
use super::*;
use std::collections::HashMap;

fn parse(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Config::from_lookup(|k| map.get(k).cloned())
}

#[test]
fn empty_environment_gives_safe_defaults() {
    let c = parse(&[]).expect("defaults are valid");
    assert_eq!(c.rotation_mode, RotationMode::DryRun);
    assert_eq!(c.audit, AuditPolicy::default());
    assert_eq!(c.topic_arn, None);
    assert!(c.notify_scheduled);
    assert_eq!(c.report_max_bytes, 5_000_000);
}

#[test]
fn values_are_read() {
    let c = parse(&[
        ("ROTATION_MODE", "enforce"),
        ("MAX_KEY_AGE_DAYS", "30"),
        ("UNUSED_DAYS", " 10 "),
        ("EXEMPT_GROUPS", "BreakGlass, Robots"),
        ("TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:security"),
        ("NOTIFY_SCHEDULED", "false"),
        ("MFA_GROUP", "Force_MFA"),
    ])
    .expect("valid");
    assert_eq!(c.audit.mfa_group, "Force_MFA");
    // The desired state's default requirement follows the configured group.
    let renamed = parse(&[("MFA_GROUP", "Force_MFA"), ("DESIRED_STATE", "{}")]).expect("valid");
    let required = renamed.audit.desired.expect("a desired state").required_for_all;
    assert_eq!(required, ["Force_MFA".to_string()].into());
    assert_eq!(c.rotation_mode, RotationMode::Enforce);
    assert_eq!(c.audit.max_key_age_days, 30);
    assert_eq!(c.audit.unused_days, 10);
    assert_eq!(c.audit.exempt_groups, ["BreakGlass", "Robots"].iter().map(|s| s.to_string()).collect());
    assert_eq!(c.topic_arn.as_deref(), Some("arn:aws:sns:us-east-1:123456789012:security"));
    assert!(!c.notify_scheduled);
}

#[test]
fn bad_values_name_the_variable() {
    for (var, value) in [
        ("MAX_KEY_AGE_DAYS", "ninety"),
        ("MAX_KEY_AGE_DAYS", "0"),
        ("UNUSED_DAYS", "-1"),
        ("ROTATION_MODE", "yolo"),
        ("TOPIC_ARN", "security-topic"),
        ("TOPIC_ARN", "arn:aws:sqs:us-east-1:123456789012:q"),
        ("NOTIFY_SCHEDULED", "yes"),
        ("EXEMPT_GROUPS", "ok,bad group"),
        ("REPORT_MAX_BYTES", "7000000"),
        ("PASSWORD_REUSE_PREVENTION", "25"),
        ("MFA_GROUP", "Self Edit"),
    ] {
        let err = parse(&[(var, value)]).expect_err(var);
        assert_eq!(err.variable, var);
        assert!(err.to_string().contains(var), "{err}");
    }
}

#[test]
fn rotation_thresholds_are_validated_together() {
    let c =
        parse(&[("ROTATE_AFTER_DAYS", "30"), ("GRACE_DAYS", "3"), ("INACTIVE_DAYS", "2")]).expect("valid");
    assert_eq!(c.rotation.rotate_after_days, 30);
    assert_eq!(c.rotation.grace_days, 3);
    let err = parse(&[("ROTATE_AFTER_DAYS", "10"), ("GRACE_DAYS", "7")]).expect_err("10 <= 7 + 7");
    assert_eq!(err.variable, "ROTATE_AFTER_DAYS");
    assert!(err.to_string().contains("GRACE_DAYS + INACTIVE_DAYS"), "{err}");
    assert_eq!(parse(&[("GRACE_DAYS", "0")]).expect_err("zero").variable, "GRACE_DAYS");
    assert_eq!(parse(&[("ROTATION_WARN_DAYS", "90")]).expect_err("warn").variable, "ROTATION_WARN_DAYS");
    assert_eq!(
        parse(&[("KEYWARDEN_ROLE_ARN", "keywarden")]).expect_err("arn").variable,
        "KEYWARDEN_ROLE_ARN"
    );
}

#[test]
fn every_variable_read_is_documented() {
    let documented: Vec<&str> = VARIABLES.iter().map(|v| v.name()).collect();
    let seen = std::cell::RefCell::new(Vec::new());
    // ORGANIZATION=true, so the organization settings are read too.
    let _ = Config::from_lookup(|k| {
        seen.borrow_mut().push(k.to_string());
        (k == "ORGANIZATION").then(|| "true".to_string())
    });
    for name in seen.borrow().iter() {
        assert!(documented.contains(&name.as_str()), "{name} is read but not documented");
    }
    assert_eq!(seen.borrow().len(), documented.len());
}

#[test]
fn no_variable_is_defined_twice() {
    let mut names: Vec<&str> = VARIABLES.iter().map(|v| v.name()).collect();
    let listed = names.len();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), listed, "a variable is listed twice in VARIABLES");
}

#[test]
fn an_empty_environment_gives_exactly_the_defaults() {
    let c = parse(&[]).expect("defaults are valid");
    assert_eq!(c.audit, AuditPolicy::default());
    assert_eq!(c.rotation, RotationPolicy::default());
    assert_eq!(c.rotation_mode, RotationMode::default());
    assert_eq!(c.rotation_mode, s::ROTATION_MODE.default);
    assert_eq!(c.audit.max_key_age_days, s::MAX_KEY_AGE_DAYS.default);
    assert_eq!(c.audit.unused_days, s::UNUSED_DAYS.default);
    assert_eq!(c.audit.inactive_key_max_days, s::INACTIVE_KEY_MAX_DAYS.default);
    assert_eq!(c.audit.setup_window_minutes, s::KEY_SETUP_WINDOW_MINUTES.default);
    assert_eq!(c.audit.password.min_length, s::PASSWORD_MIN_LENGTH.default);
    assert_eq!(c.audit.password.reuse_prevention, s::PASSWORD_REUSE_PREVENTION.default);
    assert_eq!(c.audit.password.require_all_classes, s::PASSWORD_REQUIRE_ALL_CLASSES.default);
    assert_eq!(c.audit.exempt_groups, s::EXEMPT_GROUPS.default);
    assert_eq!(c.audit.mfa_group, s::MFA_GROUP.default);
    assert_eq!(c.audit.desired, s::DESIRED_STATE.default);
    assert_eq!(c.audit.rotation_grace_days, s::GRACE_DAYS.default);
    assert_eq!(c.audit.live_confirmation, s::LIVE_CONFIRMATION.default);
    assert_eq!(c.topic_arn, s::TOPIC_ARN.default);
    assert_eq!(c.notify_scheduled, s::NOTIFY_SCHEDULED.default);
    assert_eq!(c.report_max_bytes as u64, s::REPORT_MAX_BYTES.default);
    assert_eq!(c.credential_report_max_wait_secs, s::CREDENTIAL_REPORT_MAX_WAIT_SECONDS.default);
    assert_eq!(c.rotation.rotate_after_days, s::ROTATE_AFTER_DAYS.default);
    assert_eq!(c.rotation.warn_days, s::ROTATION_WARN_DAYS.default);
    assert_eq!(c.rotation.grace_days, s::GRACE_DAYS.default);
    assert_eq!(c.rotation.inactive_days, s::INACTIVE_DAYS.default);
    assert_eq!(c.rotation.in_use_hours, s::IN_USE_HOURS.default);
    assert_eq!(c.secret_kms_key_id, s::SECRET_KMS_KEY_ID.default);
    assert_eq!(c.role_arn, s::KEYWARDEN_ROLE_ARN.default);
    assert_eq!(c.report_bucket, s::REPORT_BUCKET.default);
    assert_eq!(c.notify_clean_runs, s::NOTIFY_CLEAN_RUNS.default);
    assert_eq!(c.deadline_margin_secs, s::DEADLINE_MARGIN_SECONDS.default);
    assert_eq!(c.rotation_concurrency as u64, u64::from(s::ROTATION_CONCURRENCY.default));
}

#[test]
fn every_default_lies_within_its_bounds_and_reads_back() {
    for v in VARIABLES {
        v.default_reads_back().unwrap_or_else(|e| panic!("{}: {e}", v.name()));
    }
    // The numbers' bounds directly too, so a default at the edge is seen for what it is.
    for n in [
        &s::MAX_KEY_AGE_DAYS,
        &s::UNUSED_DAYS,
        &s::INACTIVE_KEY_MAX_DAYS,
        &s::KEY_SETUP_WINDOW_MINUTES,
        &s::PASSWORD_MIN_LENGTH,
        &s::PASSWORD_REUSE_PREVENTION,
        &s::ROTATE_AFTER_DAYS,
        &s::ROTATION_WARN_DAYS,
        &s::GRACE_DAYS,
        &s::INACTIVE_DAYS,
        &s::IN_USE_HOURS,
        &s::ROTATION_CONCURRENCY,
    ] {
        let (min, max) = n.bounds.expect("a number has bounds");
        assert!((min..=max).contains(&n.default), "{}", n.name);
    }
    for n in [&s::REPORT_MAX_BYTES, &s::CREDENTIAL_REPORT_MAX_WAIT_SECONDS, &s::DEADLINE_MARGIN_SECONDS] {
        let (min, max) = n.bounds.expect("a number has bounds");
        assert!((min..=max).contains(&n.default), "{}", n.name);
    }
}

#[test]
fn error_messages_are_pinned() {
    for (var, value, message) in [
        (
            "MAX_KEY_AGE_DAYS",
            "ninety",
            r#"invalid configuration: MAX_KEY_AGE_DAYS="ninety": expected a whole number between 1 and 3650"#,
        ),
        (
            "UNUSED_DAYS",
            "-1",
            r#"invalid configuration: UNUSED_DAYS="-1": expected a whole number between 1 and 3650"#,
        ),
        (
            "NOTIFY_SCHEDULED",
            "yes",
            r#"invalid configuration: NOTIFY_SCHEDULED="yes": expected `true` or `false`"#,
        ),
        (
            "REPORT_MAX_BYTES",
            "7000000",
            r#"invalid configuration: REPORT_MAX_BYTES="7000000": must be between 10000 and 6000000"#,
        ),
        ("GRACE_DAYS", "0", r#"invalid configuration: GRACE_DAYS="0": must be between 1 and 3650"#),
        (
            "ROTATION_MODE",
            "yolo",
            r#"invalid configuration: ROTATION_MODE="yolo": expected one of off, dry-run, enforce"#,
        ),
    ] {
        assert_eq!(parse(&[(var, value)]).expect_err(var).to_string(), message);
    }
    let err = parse(&[("ROTATE_AFTER_DAYS", "10")]).expect_err("10 <= 7 + 7").to_string();
    assert_eq!(
        err,
        r#"invalid configuration: ROTATE_AFTER_DAYS="10": must exceed GRACE_DAYS + INACTIVE_DAYS (7 + 7), or a key would be due again before its rotation ends"#
    );
    let err = parse(&[("ROTATION_WARN_DAYS", "90")]).expect_err("warn").to_string();
    assert_eq!(
        err,
        r#"invalid configuration: ROTATION_WARN_DAYS="90": must be less than ROTATE_AFTER_DAYS (90)"#
    );
}

#[test]
fn the_mode_parser_has_a_typed_error() {
    assert_eq!("enforce".parse::<RotationMode>(), Ok(RotationMode::Enforce));
    assert_eq!("Enforce".parse::<RotationMode>(), Err(UnknownRotationMode));
}

#[test]
fn organization_settings_are_read_only_in_organization_mode() {
    assert!(parse(&[("EXCLUDE_ACCOUNTS", "not-an-id")]).expect("ignored").organization.is_none());
    let c = parse(&[
        ("ORGANIZATION", "true"),
        ("MEMBER_AUDIT_ROLE", "audit-ro"),
        ("MEMBER_EXTERNAL_ID", "s3cr3t-ext"),
        ("ACCOUNT_CONCURRENCY", "3"),
        ("INCLUDE_OUS", "ou-ab12-cdefgh12, r-ab12"),
        ("EXCLUDE_ACCOUNTS", "111111111111,222222222222"),
        ("INCLUDE_ACCOUNT_TAGS", "env=prod,env=stage,team=sec"),
    ])
    .expect("valid");
    let org = c.organization.expect("organization mode");
    assert_eq!(org.audit_role, "audit-ro");
    assert_eq!(org.rotation_role, "keywarden-rotation");
    assert_eq!(org.external_id.as_deref(), Some("s3cr3t-ext"));
    assert_eq!(org.account_concurrency, 3);
    assert!(org.selection.needs_ous() && org.selection.needs_tags() && org.selection.has_inclusions());
    assert_eq!(org.selection.exclude_accounts.len(), 2);
    assert_eq!(org.selection.include_tags.len(), 3);
}

#[test]
fn bad_organization_settings_are_refused_by_name() {
    let org = |k: &'static str, v: &'static str| parse(&[("ORGANIZATION", "true"), (k, v)]);
    assert_eq!(org("EXCLUDE_ACCOUNTS", "12345").expect_err("short").variable, "EXCLUDE_ACCOUNTS");
    assert_eq!(org("INCLUDE_OUS", "ou-x").expect_err("ou").variable, "INCLUDE_OUS");
    assert_eq!(org("INCLUDE_ACCOUNT_TAGS", "novalue").expect_err("tag").variable, "INCLUDE_ACCOUNT_TAGS");
    assert_eq!(org("ACCOUNT_CONCURRENCY", "0").expect_err("zero").variable, "ACCOUNT_CONCURRENCY");
    assert_eq!(org("ACCOUNT_CONCURRENCY", "65").expect_err("max").variable, "ACCOUNT_CONCURRENCY");
    assert_eq!(org("MEMBER_AUDIT_ROLE", "bad role").expect_err("role").variable, "MEMBER_AUDIT_ROLE");
    let err = org("MEMBER_EXTERNAL_ID", "a").expect_err("too short");
    assert_eq!(err.variable, "MEMBER_EXTERNAL_ID");
    assert!(!format!("{err} {err:?}").contains("value: \"a\""), "{err:?}");
}
