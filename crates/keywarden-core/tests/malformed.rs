//! The corpus of malformed inputs under `tests/fixtures/malformed/`: each file must be
//! rejected with a message that names the problem (the column, line, field or variable), so
//! that whoever reads a failed run can fix the input without reading our code.
//!
//! Every file in the corpus must appear in a table below (files named `valid-*` must parse):
//! a new fixture without an expectation fails the test. `config/*.env` files hold
//! `NAME=value` lines, as a Lambda's environment would; they go through
//! `Config::from_lookup`, the function the Lambda calls with `std::env::var`.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use keywarden_core::desired::DesiredState;
use keywarden_core::fixtures::CREDENTIAL_REPORT_HEADER;
use keywarden_core::policy::PolicyDocument;
use keywarden_core::{Config, CredentialReport};

/// Longest message we accept: one that quotes a whole 10 MB cell is not one a person reads.
const MAX_MESSAGE: usize = 1024;

fn dir(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/malformed").join(kind)
}

fn read(kind: &str, file: &str) -> Vec<u8> {
    let path = dir(kind).join(file);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn text(kind: &str, file: &str) -> String {
    String::from_utf8(read(kind, file)).unwrap_or_else(|e| panic!("{kind}/{file} is not UTF-8: {e}"))
}

/// Every file of `kind` is in `expected` (and the other way round).
fn covers(kind: &str, expected: &[(&str, &[&str])], valid: &[&str]) {
    let on_disk: BTreeSet<String> = std::fs::read_dir(dir(kind))
        .unwrap_or_else(|e| panic!("listing {kind}: {e}"))
        .filter_map(|entry| entry.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    let listed: BTreeSet<String> =
        expected.iter().map(|(f, _)| f.to_string()).chain(valid.iter().map(|f| f.to_string())).collect();
    assert_eq!(on_disk, listed, "{kind}: the corpus and the expectations differ");
}

/// `message` contains every fragment and is short enough to read.
fn assert_names(file: &str, message: &str, fragments: &[&str]) {
    for fragment in fragments {
        assert!(message.contains(fragment), "{file}: {message:?} does not name {fragment:?}");
    }
    assert!(message.len() <= MAX_MESSAGE, "{file}: a {}-byte message", message.len());
}

fn generated_at() -> DateTime<Utc> {
    DateTime::from_timestamp(1_767_225_600, 0).unwrap_or_default()
}

#[test]
fn malformed_credential_reports_are_rejected_by_name() {
    let expected: &[(&str, &[&str])] = &[
        ("missing-column.csv", &["no column `mfa_active`"]),
        ("duplicate-column.csv", &["column `mfa_active` twice"]),
        ("extra-cell.csv", &["line 2", "23 fields", "header has 22"]),
        ("short-row.csv", &["line 3", "19 fields", "header has 22"]),
        ("quoted-header-garbled.csv", &["no column `user_creation_time`"]),
        ("bad-date.csv", &["line 3", "`access_key_1_last_rotated`", "\"01/02/2025\""]),
        ("bad-boolean.csv", &["line 2", "`mfa_active`", "\"no\""]),
        ("non-utf8.csv", &["line 2", "field 1", "not UTF-8"]),
        ("duplicate-user.csv", &["line 4", "`alice`", "first at line 2"]),
        ("duplicate-root.csv", &["line 3", "`<root_account>`", "first at line 2"]),
        ("empty-user.csv", &["line 2", "`user`"]),
        ("empty.csv", &["no column `user`"]),
        ("not-csv.csv", &["no column `user`"]),
    ];
    let valid = ["valid-header-only.csv", "valid-bom.csv", "valid-crlf.csv", "valid-quoted-reordered.csv"];
    covers("credential-report", expected, &valid);
    for (file, fragments) in expected {
        let err = CredentialReport::parse(&read("credential-report", file), generated_at())
            .expect_err(&format!("{file} must be rejected"));
        assert_names(file, &err.to_string(), fragments);
    }
    for file in valid {
        let report = CredentialReport::parse(&read("credential-report", file), generated_at())
            .unwrap_or_else(|e| panic!("{file} must parse: {e}"));
        if file != "valid-header-only.csv" {
            assert!(report.users.iter().any(|u| u.user == "alice"), "{file}: {report:?}");
        }
    }
}

/// A header and `rows` valid users, about 200 bytes each.
fn big_report(rows: usize) -> String {
    let mut csv = format!("{CREDENTIAL_REPORT_HEADER}\n");
    for i in 0..rows {
        let _ = writeln!(
            csv,
            "user{i},arn:aws:iam::123456789012:user/user{i},2025-01-01T00:00:00+00:00,true,N/A,N/A,N/A,true,true,2025-02-01T00:00:00+00:00,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A"
        );
    }
    csv
}

/// Generated rather than committed: 10 MB in git for one test is not worth it.
#[test]
fn ten_megabyte_reports_fail_at_the_right_line_with_a_short_message() {
    // Many valid rows and one bad cell at the very end.
    let mut csv = big_report(55_000);
    assert!(csv.len() > 10_000_000, "{} bytes", csv.len());
    csv.push_str("late,arn:aws:iam::123456789012:user/late,soon,true,N/A,N/A,N/A,true,true,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n");
    let err = CredentialReport::parse(csv.as_bytes(), generated_at()).expect_err("bad last row");
    assert_names("10 MB, bad last row", &err.to_string(), &["line 55002", "`user_creation_time`"]);

    // One 10 MB cell.
    let mut csv = big_report(1);
    csv.push_str("huge,arn:aws:iam::123456789012:user/huge,");
    csv.push_str(&"9".repeat(10_000_000));
    csv.push_str(",true,N/A,N/A,N/A,true,true,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n");
    let err = CredentialReport::parse(csv.as_bytes(), generated_at()).expect_err("huge cell");
    assert_names("10 MB cell", &err.to_string(), &["line 3", "`user_creation_time`", "…"]);
}

#[test]
fn malformed_policies_are_rejected_by_path() {
    let expected: &[(&str, &[&str])] = &[
        ("wrong-version.json", &["$.Version", "2012-10-18"]),
        ("statement-number.json", &["$.Statement", "object or an array"]),
        ("effect-misspelled.json", &["$.Statement[0].Effect", "\"Allow\" or \"Deny\""]),
        // A Deny that a later key turns into an Allow: refused, not read as the last one.
        ("duplicate-effect.json", &["duplicate key `Effect`", "line 1"]),
        ("action-missing.json", &["$.Statement[0]", "missing Action"]),
        ("condition-not-object.json", &["$.Statement[0].Condition", "object of operators"]),
        ("nested-100.json", &["$.Statement[0]", "must be a JSON object"]),
        ("nested-200.json", &["recursion limit", "line 1"]),
        ("truncated.json", &["not valid JSON", "line 1"]),
    ];
    covers("policy", expected, &[]);
    for (file, fragments) in expected {
        let err =
            PolicyDocument::parse(&text("policy", file)).expect_err(&format!("{file} must be rejected"));
        assert_names(file, &err.to_string(), fragments);
    }
}

#[test]
fn malformed_desired_states_are_rejected_by_path() {
    let expected: &[(&str, &[&str])] = &[
        (
            "unknown-field.json",
            &["$.restrict", "unknown field", "required_for_all, restricted or other_groups"],
        ),
        ("required-not-list.json", &["$.required_for_all", "list of names", "found a string"]),
        ("restricted-not-object.json", &["$.restricted", "found a list"]),
        ("member-not-string.json", &["$.restricted.Admins[1]", "found a number"]),
        ("other-groups-bool.json", &["$.other_groups", "found true"]),
        ("duplicate-user.json", &["$.restricted.Admins[2]", "`alice` is listed twice", "Admins[0]"]),
        ("duplicate-group.json", &["duplicate key `Admins`", "line 1"]),
        ("duplicate-field.json", &["duplicate key `restricted`", "line 1"]),
        ("not-object.json", &["expected an object", "found a list"]),
        ("not-json.json", &["not JSON", "line 1"]),
    ];
    covers("desired", expected, &[]);
    for (file, fragments) in expected {
        let err = DesiredState::parse(&text("desired", file)).expect_err(&format!("{file} must be rejected"));
        assert_names(file, &err.to_string(), fragments);
    }
}

/// `NAME=value` lines; `#` comments and blank lines are skipped.
fn env_file(file: &str) -> HashMap<String, String> {
    text("config", file)
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap_or_else(|| panic!("{file}: {l:?} is not NAME=value"));
            (k.trim().to_string(), v.to_string())
        })
        .collect()
}

#[test]
fn malformed_configurations_are_rejected_by_variable() {
    let expected: &[(&str, &[&str])] = &[
        ("bad-mode.env", &["ROTATION_MODE=\"Enforce\"", "off, dry-run, enforce"]),
        ("bad-topic-arn.env", &["TOPIC_ARN=", "SNS topic ARN"]),
        ("bad-role-arn.env", &["KEYWARDEN_ROLE_ARN=", "12-digit account"]),
        ("negative-days.env", &["MAX_KEY_AGE_DAYS=\"-30\"", "between 1 and 3650"]),
        ("non-numeric.env", &["UNUSED_DAYS=\"forty-five\"", "whole number"]),
        ("overflow-days.env", &["INACTIVE_KEY_MAX_DAYS=", "between 1 and 3650"]),
        ("bad-boolean.env", &["NOTIFY_SCHEDULED=\"yes\"", "`true` or `false`"]),
        ("empty-group.env", &["EXEMPT_GROUPS=", "`` is not a valid IAM group name"]),
        ("rotation-too-short.env", &["ROTATE_AFTER_DAYS=\"10\"", "GRACE_DAYS + INACTIVE_DAYS"]),
        ("bad-bucket.env", &["REPORT_BUCKET=\"My_Bucket\"", "S3 bucket name"]),
        ("desired-duplicate-user.env", &["DESIRED_STATE=", "$.restricted.Admins[1]", "listed twice"]),
        ("bad-mfa-group.env", &["MFA_GROUP=\"Self Edit\"", "IAM group name"]),
    ];
    covers("config", expected, &[]);
    for (file, fragments) in expected {
        let env = env_file(file);
        let err =
            Config::from_lookup(|k| env.get(k).cloned()).expect_err(&format!("{file} must be rejected"));
        assert!(env.contains_key(err.variable), "{file}: blames {}, which it does not set", err.variable);
        assert_names(file, &err.to_string(), fragments);
    }
}
