//! Fuzz targets for the parsers of the core crate: whatever the input, a parser returns an
//! error value, never panics, and its error names the place.
//!
//! They are proptest strategies run against a wall-clock budget rather than a case count,
//! because cargo-fuzz needs a nightly toolchain and this project builds on stable. Each
//! target loops over [`TestRunner`] batches until `KEYWARDEN_FUZZ_SECONDS` (default 30) have
//! passed and prints how many cases it ran (`--nocapture` shows it). A panic fails the test
//! with the shrunk input that caused it.
//!
//! The generators are structure-aware: random bytes alone rarely get past a CSV header or
//! a JSON brace, so most cases start from a valid document and damage it in one place. Cases
//! built to be valid must parse (and, for semantics-preserving changes, parse to the same
//! value), which catches a generator that has quietly started to produce only garbage.
//!
//! A long local session:
//! `KEYWARDEN_FUZZ_SECONDS=1800 cargo test -p keywarden-core --features mock --release --test fuzz -- --nocapture`

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Debug;

use chrono::{DateTime, Utc};
use keywarden_core::config::VARIABLES;
use keywarden_core::desired::{DesiredState, OtherGroups};
use keywarden_core::policy::{PolicyDocument, PolicyError};
use keywarden_core::{Config, CredentialReport};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::{json, Value};

use keywarden_core::fuzzing::*;

// --- credential report -------------------------------------------------------------------

/// The header of a real report, in AWS's order.
const AWS_HEADER: [&str; 22] = [
    "user",
    "arn",
    "user_creation_time",
    "password_enabled",
    "password_last_used",
    "password_last_changed",
    "password_next_rotation",
    "mfa_active",
    "access_key_1_active",
    "access_key_1_last_rotated",
    "access_key_1_last_used_date",
    "access_key_1_last_used_region",
    "access_key_1_last_used_service",
    "access_key_2_active",
    "access_key_2_last_rotated",
    "access_key_2_last_used_date",
    "access_key_2_last_used_region",
    "access_key_2_last_used_service",
    "cert_1_active",
    "cert_1_last_rotated",
    "cert_2_active",
    "cert_2_last_rotated",
];

/// The columns the parser reads; every other column is carried along unread.
const READ: [&str; 15] = keywarden_core::credential_report::COLUMNS;

fn generated_at() -> DateTime<Utc> {
    DateTime::from_timestamp(1_767_225_600, 0).unwrap_or_default()
}

fn time_cell() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => Just("N/A".to_string()),
        1 => Just("no_information".to_string()),
        1 => Just("not_supported".to_string()),
        3 => (0i64..4_102_444_800).prop_map(|s| {
            DateTime::from_timestamp(s, 0).map_or_else(|| "N/A".to_string(), |t| t.to_rfc3339())
        }),
    ]
}

fn bool_cell() -> impl Strategy<Value = String> {
    prop::sample::select(&["true", "false", "TRUE", "False"][..]).prop_map(String::from)
}

fn cell(column: &'static str, user: String) -> BoxedStrategy<String> {
    match column {
        "user" => Just(user).boxed(),
        "arn" => Just(format!("arn:aws:iam::123456789012:user/{user}")).boxed(),
        "password_enabled" => prop_oneof![bool_cell(), Just("not_supported".to_string())].boxed(),
        c if c.ends_with("_active") => bool_cell().boxed(),
        c if c.ends_with("_region") => {
            prop_oneof![Just("N/A".to_string()), Just("us-east-1".to_string())].boxed()
        }
        c if c.ends_with("_service") => prop_oneof![Just("N/A".to_string()), Just("iam".to_string())].boxed(),
        _ => time_cell().boxed(),
    }
}

/// A report as a table of cells, before it is written as CSV.
#[derive(Debug, Clone)]
struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

fn table() -> impl Strategy<Value = Table> {
    (prop::collection::btree_set("[A-Za-z0-9+=,.@_-]{1,16}", 0..5), any::<bool>()).prop_flat_map(
        |(names, root)| {
            let names: Vec<String> =
                root.then(|| "<root_account>".to_string()).into_iter().chain(names).collect();
            let rows: Vec<_> = names
                .into_iter()
                .map(|user| AWS_HEADER.iter().map(|c| cell(c, user.clone())).collect::<Vec<_>>())
                .collect();
            rows.prop_map(|rows| Table { header: AWS_HEADER.iter().map(|s| s.to_string()).collect(), rows })
        },
    )
}

/// How a table is written; none of it changes what the report says.
#[derive(Debug, Clone)]
struct Layout {
    order: Vec<usize>,
    extra_columns: usize,
    quote_all: bool,
    crlf: bool,
    pad: bool,
    bom: bool,
}

fn layout() -> impl Strategy<Value = Layout> {
    (
        Just((0..AWS_HEADER.len()).collect::<Vec<_>>()).prop_shuffle(),
        0usize..3,
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(order, extra_columns, quote_all, crlf, pad, bom)| Layout {
            order,
            extra_columns,
            quote_all,
            crlf,
            pad,
            bom,
        })
}

fn canonical() -> Layout {
    Layout {
        order: (0..AWS_HEADER.len()).collect(),
        extra_columns: 0,
        quote_all: false,
        crlf: false,
        pad: false,
        bom: false,
    }
}

fn render(table: &Table, layout: &Layout) -> Result<Vec<u8>, TestCaseError> {
    let mut writer = csv::WriterBuilder::new()
        .flexible(true)
        .quote_style(if layout.quote_all { csv::QuoteStyle::Always } else { csv::QuoteStyle::Necessary })
        .terminator(if layout.crlf { csv::Terminator::CRLF } else { csv::Terminator::Any(b'\n') })
        .from_writer(Vec::new());
    let lay = |cells: &[String], extra: &dyn Fn(usize) -> String| -> Vec<String> {
        let mut out: Vec<String> = layout.order.iter().filter_map(|&i| cells.get(i).cloned()).collect();
        // Cells past the header's width (a ragged row) stay at the end.
        out.extend(cells.iter().skip(layout.order.len()).cloned());
        out.extend((0..layout.extra_columns).map(extra));
        if layout.pad {
            out = out.into_iter().map(|c| format!(" {c} ")).collect();
        }
        out
    };
    let fail = |e: csv::Error| TestCaseError::fail(format!("writing the CSV: {e}"));
    writer.write_record(lay(&table.header, &|i| format!("extra_{i}"))).map_err(fail)?;
    for row in &table.rows {
        writer.write_record(lay(row, &|_| "whatever, \"quoted\"".to_string())).map_err(fail)?;
    }
    let mut bytes = writer.into_inner().map_err(|e| TestCaseError::fail(e.to_string()))?;
    if layout.bom {
        bytes.splice(0..0, *b"\xEF\xBB\xBF");
    }
    Ok(bytes)
}

/// One place where a valid report is broken.
#[derive(Debug, Clone)]
enum ReportDamage {
    DropColumn(usize),
    DuplicateColumn(usize),
    RenameColumn { column: usize, name: String },
    Garbage { row: usize, column: usize, value: String },
    Huge { row: usize, column: usize, len: usize },
    Ragged { row: usize, extra: bool },
    Truncate(usize),
    InsertBytes { at: usize, bytes: Vec<u8> },
    NonUtf8 { at: usize },
}

fn garbage_cell() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,24}",
        "[0-9T:+\\-Z ]{0,30}",
        prop::sample::select(
            &[
                "",
                "n/a",
                "N/A ",
                "yes",
                "1",
                "2025-13-01T00:00:00+00:00",
                "2025-01-01",
                "\u{0}",
                "\"",
                "a\nb",
                "a\r\nb",
                "<root_account>",
                "\u{feff}true",
            ][..]
        )
        .prop_map(String::from),
    ]
}

fn report_damage() -> impl Strategy<Value = ReportDamage> {
    prop_oneof![
        1 => (0..READ.len()).prop_map(ReportDamage::DropColumn),
        1 => (0..READ.len()).prop_map(ReportDamage::DuplicateColumn),
        1 => (0..AWS_HEADER.len(), garbage_cell()).prop_map(|(column, name)| ReportDamage::RenameColumn { column, name }),
        4 => (any::<usize>(), 0..AWS_HEADER.len(), garbage_cell())
            .prop_map(|(row, column, value)| ReportDamage::Garbage { row, column, value }),
        1 => (any::<usize>(), 0..AWS_HEADER.len(), 1usize..200_000)
            .prop_map(|(row, column, len)| ReportDamage::Huge { row, column, len }),
        1 => (any::<usize>(), any::<bool>()).prop_map(|(row, extra)| ReportDamage::Ragged { row, extra }),
        1 => (0usize..1000).prop_map(ReportDamage::Truncate),
        1 => (any::<usize>(), prop::collection::vec(any::<u8>(), 1..6))
            .prop_map(|(at, bytes)| ReportDamage::InsertBytes { at, bytes }),
        1 => any::<usize>().prop_map(|at| ReportDamage::NonUtf8 { at }),
    ]
}

#[derive(Debug, Clone)]
enum ReportCase {
    Bytes(Vec<u8>),
    /// Valid, written in some layout: must parse to what the plain layout parses to.
    Relaid(Table, Layout),
    Damaged(Table, ReportDamage),
}

fn index_of(column: &str) -> usize {
    AWS_HEADER.iter().position(|c| *c == column).unwrap_or(0)
}

/// The line a row starts on once written: quoted newlines in earlier rows push it down.
fn line_of(table: &Table, row: usize) -> usize {
    2 + row + table.rows[..row].iter().flatten().map(|c| c.matches('\n').count()).sum::<usize>()
}

fn check_damaged(mut table: Table, damage: &ReportDamage) -> Result<bool, TestCaseError> {
    let rows = table.rows.len();
    // What the error must name, when the damage is sure to cause one.
    let mut must_name: Option<String> = None;
    let mut must_fail = false;
    let mut line = None;
    let bytes = match damage {
        ReportDamage::DropColumn(c) => {
            let i = index_of(READ[*c]);
            table.header.remove(i);
            for r in &mut table.rows {
                r.remove(i);
            }
            must_name = Some(format!("`{}`", READ[*c]));
            render(&table, &canonical())?
        }
        ReportDamage::DuplicateColumn(c) => {
            let i = index_of(READ[*c]);
            table.header.push(format!(" {} ", READ[*c]));
            table.rows.iter_mut().for_each(|r| r.push(r[i].clone()));
            must_name = Some(format!("`{}` twice", READ[*c]));
            render(&table, &canonical())?
        }
        ReportDamage::RenameColumn { column, name } => {
            table.header[*column] = name.clone();
            render(&table, &canonical())?
        }
        ReportDamage::Garbage { row, column, value } if rows > 0 => {
            let r = row % rows;
            table.rows[r][*column] = value.clone();
            // A changed user name may collide with a later row, which is then the one named.
            if AWS_HEADER[*column] != "user" {
                line = Some(line_of(&table, r));
            }
            render(&table, &canonical())?
        }
        ReportDamage::Huge { row, column, len } if rows > 0 => {
            let r = row % rows;
            table.rows[r][*column] = "9".repeat(*len);
            line = Some(line_of(&table, r));
            render(&table, &canonical())?
        }
        ReportDamage::Ragged { row, extra } if rows > 0 => {
            let r = row % rows;
            if *extra {
                table.rows[r].push("N/A".into());
            } else {
                table.rows[r].pop();
            }
            must_fail = true;
            line = Some(line_of(&table, r));
            render(&table, &canonical())?
        }
        ReportDamage::Truncate(per_mille) => {
            let mut bytes = render(&table, &canonical())?;
            bytes.truncate(bytes.len() * per_mille / 1000);
            bytes
        }
        ReportDamage::InsertBytes { at, bytes: inserted } => {
            let mut bytes = render(&table, &canonical())?;
            let at = at % (bytes.len() + 1);
            bytes.splice(at..at, inserted.iter().copied());
            bytes
        }
        ReportDamage::NonUtf8 { at } => {
            let mut bytes = render(&table, &canonical())?;
            let at = at % (bytes.len() + 1);
            bytes.insert(at, 0xFF);
            // Usually named as "not UTF-8"; after the last newline it is a one-field record.
            must_fail = true;
            bytes
        }
        // Cell damage to a report without rows changes nothing.
        _ => render(&table, &canonical())?,
    };
    match CredentialReport::parse(&bytes, generated_at()) {
        Ok(_) => {
            prop_assert!(!must_fail && must_name.is_none(), "{damage:?} was accepted");
            Ok(true)
        }
        Err(e) => {
            let message = e.to_string();
            check_message(&message)?;
            if let Some(name) = must_name {
                prop_assert!(message.contains(&name), "{damage:?}: {message:?} does not name {name}");
            }
            if let Some(n) = line {
                prop_assert!(names_line(&message, n), "{damage:?}: {message:?} does not name line {n}");
            }
            Ok(false)
        }
    }
}

fn report_case() -> impl Strategy<Value = ReportCase> {
    prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..512).prop_map(ReportCase::Bytes),
        1 => "[a-z_,\"\n\r <>:0-9TN/A-]{0,300}".prop_map(|s| ReportCase::Bytes(s.into_bytes())),
        3 => (table(), layout()).prop_map(|(t, l)| ReportCase::Relaid(t, l)),
        6 => (table(), report_damage()).prop_map(|(t, d)| ReportCase::Damaged(t, d)),
    ]
}

#[test]
fn fuzz_credential_report() {
    fuzz("credential_report", report_case(), |case| match case {
        ReportCase::Bytes(bytes) => match CredentialReport::parse(&bytes, generated_at()) {
            Ok(_) => Ok(true),
            Err(e) => check_message(&e.to_string()).map(|()| false),
        },
        ReportCase::Relaid(table, layout) => {
            let plain = CredentialReport::parse(&render(&table, &canonical())?, generated_at());
            let plain = plain.map_err(|e| TestCaseError::fail(format!("a valid report is rejected: {e}")))?;
            let relaid = CredentialReport::parse(&render(&table, &layout)?, generated_at());
            prop_assert_eq!(relaid, Ok(plain), "{:?} changed what the report says", layout);
            Ok(true)
        }
        ReportCase::Damaged(table, damage) => check_damaged(table, &damage),
    });
}

// --- policy ------------------------------------------------------------------------------

const POLICY_WORDS: &[&str] = &[
    "Version",
    "2012-10-17",
    "2008-10-17",
    "Id",
    "Statement",
    "Sid",
    "Effect",
    "Allow",
    "Deny",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
    "Principal",
    "iam:*",
    "*",
    "Bool",
    "BoolIfExists",
    "StringEquals",
    "ForAnyValue:StringLike",
    "Null",
    "aws:MultiFactorAuthPresent",
    "aws:username",
    "true",
];

const OPERATORS: &[&str] = &[
    "StringEquals",
    "StringLike",
    "StringNotEqualsIgnoreCase",
    "NumericLessThan",
    "DateGreaterThan",
    "Bool",
    "IpAddress",
    "ArnLike",
    "Null",
];

fn string_or_list(s: impl Strategy<Value = String> + Clone) -> impl Strategy<Value = Value> {
    prop_oneof![
        s.clone().prop_map(Value::String),
        prop::collection::vec(s, 1..4).prop_map(|v| Value::Array(v.into_iter().map(Value::String).collect())),
    ]
}

fn condition() -> impl Strategy<Value = Value> {
    let operator = (
        prop::option::of(prop::sample::select(&["ForAllValues", "ForAnyValue"][..])),
        prop::sample::select(OPERATORS),
        any::<bool>(),
    )
        .prop_map(|(q, base, if_exists)| {
            let suffix = if if_exists && base != "Null" { "IfExists" } else { "" };
            q.map_or_else(|| format!("{base}{suffix}"), |q| format!("{q}:{base}{suffix}"))
        });
    let scalar = prop_oneof![
        "[a-z0-9:/*${}.-]{0,16}".prop_map(Value::String),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(Value::from),
    ];
    let values = prop_oneof![scalar.clone(), prop::collection::vec(scalar, 1..3).prop_map(Value::Array)];
    let keys = prop::collection::btree_map("aws:[A-Za-z]{1,12}", values, 1..3);
    prop::collection::btree_map(operator, keys, 1..3).prop_map(|ops| {
        json!(ops.into_iter().map(|(op, keys)| (op, json!(keys))).collect::<BTreeMap<_, _>>())
    })
}

fn statement() -> impl Strategy<Value = Value> {
    let action = prop_oneof![Just("*".to_string()), "[a-z0-9-]{1,10}:[A-Za-z*?]{1,16}"];
    let resource =
        prop_oneof![Just("*".to_string()), "arn:aws:[a-z0-9]{1,8}::[0-9]{0,12}:[A-Za-z0-9/*${}:_-]{1,24}"];
    (
        prop::option::of("[A-Za-z0-9]{0,12}"),
        any::<bool>(),
        any::<bool>(),
        string_or_list(action),
        any::<bool>(),
        string_or_list(resource),
        prop::option::of(condition()),
    )
        .prop_map(|(sid, allow, not_action, actions, not_resource, resources, condition)| {
            let mut s = serde_json::Map::new();
            if let Some(sid) = sid {
                s.insert("Sid".into(), sid.into());
            }
            s.insert("Effect".into(), if allow { "Allow" } else { "Deny" }.into());
            s.insert(if not_action { "NotAction" } else { "Action" }.into(), actions);
            s.insert(if not_resource { "NotResource" } else { "Resource" }.into(), resources);
            if let Some(c) = condition {
                s.insert("Condition".into(), c);
            }
            Value::Object(s)
        })
}

/// A valid policy and its number of statements.
fn policy() -> impl Strategy<Value = (Value, usize)> {
    (
        prop::option::of(prop::sample::select(&["2012-10-17", "2008-10-17"][..])),
        prop::collection::vec(statement(), 1..4),
        any::<bool>(),
    )
        .prop_map(|(version, statements, single)| {
            let n = if single { 1 } else { statements.len() };
            let statement = if single { statements[0].clone() } else { Value::Array(statements) };
            let mut doc = json!({ "Statement": statement });
            if let Some(v) = version {
                doc["Version"] = v.into();
            }
            (doc, n)
        })
}

#[derive(Debug, Clone)]
enum PolicyCase {
    Text(String),
    Random(Value),
    Valid(Value, usize),
    Damaged(Value, JsonDamage),
}

fn policy_outcome(text: &str) -> Result<bool, TestCaseError> {
    match PolicyDocument::parse(text) {
        Ok(_) => Ok(true),
        Err(e) => {
            // Policy messages are not bounded here (policy.rs quotes whole patterns); only
            // that they say where.
            let message = e.to_string();
            prop_assert!(!message.is_empty());
            if let PolicyError::Invalid { path, .. } = &e {
                prop_assert!(path.starts_with('$'), "{message}");
            }
            Ok(false)
        }
    }
}

#[test]
fn fuzz_policy() {
    let case = prop_oneof![
        1 => ".{0,200}".prop_map(PolicyCase::Text),
        2 => json_from(POLICY_WORDS).prop_map(PolicyCase::Random),
        2 => policy().prop_map(|(doc, n)| PolicyCase::Valid(doc, n)),
        5 => (policy(), json_damage()).prop_map(|((doc, _), d)| PolicyCase::Damaged(doc, d)),
    ];
    fuzz("policy", case, |case| match case {
        PolicyCase::Text(text) => policy_outcome(&text),
        PolicyCase::Random(doc) => policy_outcome(&doc.to_string()),
        PolicyCase::Valid(doc, n) => {
            let parsed = PolicyDocument::parse(&doc.to_string())
                .map_err(|e| TestCaseError::fail(format!("a valid policy is rejected: {e}")))?;
            prop_assert_eq!(parsed.statements.len(), n);
            Ok(true)
        }
        PolicyCase::Damaged(doc, damage) => policy_outcome(&damage_json(doc, &damage)),
    });
}

// --- desired state -----------------------------------------------------------------------

const DESIRED_WORDS: &[&str] = &[
    "required_for_all",
    "restricted",
    "other_groups",
    "ignore",
    "flag",
    "SelfEdit",
    "Admins",
    "alice",
    "bob",
];

/// A valid document, and what it must parse to.
fn desired() -> impl Strategy<Value = (Value, DesiredState)> {
    let name = || "[A-Za-z0-9+=,.@_-]{1,20}";
    (
        prop::option::of(prop::collection::btree_set(name(), 0..4)),
        prop::option::of(prop::collection::btree_map(
            name(),
            prop::collection::btree_set(name(), 0..4),
            0..4,
        )),
        prop::option::of(any::<bool>()),
    )
        .prop_map(|(required, restricted, flag)| {
            let mut doc = serde_json::Map::new();
            let required_for_all = match required {
                Some(r) => {
                    doc.insert("required_for_all".into(), json!(r));
                    r
                }
                None => ["SelfEdit".to_string()].into(),
            };
            let restricted: BTreeMap<String, BTreeSet<String>> = restricted
                .unwrap_or_default()
                .into_iter()
                .filter(|(g, _)| !required_for_all.contains(g))
                .collect();
            if !restricted.is_empty() || flag.is_some() {
                doc.insert("restricted".into(), json!(restricted));
            }
            if let Some(flag) = flag {
                doc.insert("other_groups".into(), if flag { "flag" } else { "ignore" }.into());
            }
            let other_groups = if flag == Some(true) { OtherGroups::Flag } else { OtherGroups::Ignore };
            (Value::Object(doc), DesiredState { required_for_all, restricted, other_groups })
        })
}

#[derive(Debug, Clone)]
enum DesiredDamage {
    Json(JsonDamage),
    UnknownField(String),
    /// A name repeated in a list; `at` picks the list.
    DuplicateName(usize),
    /// A top-level key written twice (serde_json would keep the second silently).
    DuplicateKey,
}

#[derive(Debug, Clone)]
enum DesiredCase {
    Text(String),
    Random(Value),
    Valid(Value, DesiredState),
    Damaged(Value, DesiredDamage),
}

fn desired_outcome(text: &str) -> Result<bool, TestCaseError> {
    match DesiredState::parse(text) {
        Ok(_) => Ok(true),
        Err(e) => {
            let message = e.to_string();
            check_message(&message)?;
            prop_assert!(e.path.starts_with('$'), "{message}");
            Ok(false)
        }
    }
}

/// Repeats the first name of the `at`-th non-empty list of names, if there is one.
fn duplicate_a_name(doc: &mut Value, at: usize) -> Option<String> {
    let mut lists: Vec<&mut Vec<Value>> = Vec::new();
    let obj = doc.as_object_mut()?;
    let (required, restricted) = {
        let mut required = None;
        let mut restricted = None;
        for (k, v) in obj.iter_mut() {
            match k.as_str() {
                "required_for_all" => required = Some(v),
                "restricted" => restricted = Some(v),
                _ => {}
            }
        }
        (required, restricted)
    };
    if let Some(Value::Array(list)) = required {
        lists.push(list);
    }
    if let Some(Value::Object(groups)) = restricted {
        lists.extend(groups.values_mut().filter_map(Value::as_array_mut));
    }
    lists.retain(|l| !l.is_empty());
    if lists.is_empty() {
        return None;
    }
    let n = lists.len();
    let list = &mut lists[at % n];
    let name = list[0].clone();
    list.push(name.clone());
    name.as_str().map(str::to_string)
}

#[test]
fn fuzz_desired_state() {
    let damage = prop_oneof![
        4 => json_damage().prop_map(DesiredDamage::Json),
        1 => "[a-z_]{1,20}".prop_map(DesiredDamage::UnknownField),
        1 => any::<usize>().prop_map(DesiredDamage::DuplicateName),
        1 => Just(DesiredDamage::DuplicateKey),
    ];
    let case = prop_oneof![
        1 => ".{0,120}".prop_map(DesiredCase::Text),
        2 => json_from(DESIRED_WORDS).prop_map(DesiredCase::Random),
        2 => desired().prop_map(|(doc, d)| DesiredCase::Valid(doc, d)),
        5 => (desired(), damage).prop_map(|((doc, _), d)| DesiredCase::Damaged(doc, d)),
    ];
    fuzz("desired_state", case, |case| match case {
        DesiredCase::Text(text) => desired_outcome(&text),
        DesiredCase::Random(doc) => desired_outcome(&doc.to_string()),
        DesiredCase::Valid(doc, expected) => {
            let parsed = DesiredState::parse(&doc.to_string())
                .map_err(|e| TestCaseError::fail(format!("a valid desired state is rejected: {e}")))?;
            prop_assert_eq!(parsed, expected);
            Ok(true)
        }
        DesiredCase::Damaged(mut doc, damage) => match damage {
            DesiredDamage::Json(d) => desired_outcome(&damage_json(doc, &d)),
            DesiredDamage::UnknownField(field) => {
                let known = ["required_for_all", "restricted", "other_groups"].contains(&field.as_str());
                doc[&field] = json!([]);
                let outcome = desired_outcome(&doc.to_string())?;
                if !known {
                    let e = DesiredState::parse(&doc.to_string());
                    prop_assert!(
                        matches!(&e, Err(e) if e.path == format!("$.{field}")),
                        "unknown field {field:?}: {e:?}"
                    );
                }
                Ok(outcome)
            }
            DesiredDamage::DuplicateName(at) => {
                let name = duplicate_a_name(&mut doc, at);
                let outcome = desired_outcome(&doc.to_string())?;
                if let Some(name) = name {
                    let e = DesiredState::parse(&doc.to_string());
                    prop_assert!(
                        matches!(&e, Err(e) if e.reason.contains("listed twice") && e.reason.contains(&name)),
                        "duplicate {name:?}: {e:?}"
                    );
                }
                Ok(outcome)
            }
            DesiredDamage::DuplicateKey => {
                let text = doc.to_string();
                let Some(body) = text.strip_prefix('{') else { return Ok(false) };
                let text = format!("{{\"other_groups\": \"flag\", {body}");
                let text = text.replace(", }", "}");
                let e = DesiredState::parse(&text);
                let repeated = doc.get("other_groups").is_some();
                prop_assert_eq!(repeated, e.is_err(), "{}: {:?}", text, e);
                if let Err(e) = &e {
                    prop_assert!(e.reason.contains("duplicate key `other_groups`"), "{e}");
                }
                Ok(e.is_ok())
            }
        },
    });
}

// --- config ------------------------------------------------------------------------------

/// A valid value for each variable; the rotation thresholds are drawn so that any subset of
/// them, with the others at their defaults, is consistent.
fn valid_env() -> impl Strategy<Value = BTreeMap<&'static str, String>> {
    let n = |lo: u32, hi: u32| (lo..=hi).prop_map(|v| v.to_string()).boxed();
    let b = || any::<bool>().prop_map(|v| v.to_string()).boxed();
    let name = || "[A-Za-z0-9+=,.@_-]{1,20}".boxed();
    let fields: Vec<(&'static str, BoxedStrategy<String>)> = vec![
        (
            "ROTATION_MODE",
            prop::sample::select(&["off", "dry-run", "enforce"][..]).prop_map(String::from).boxed(),
        ),
        ("MAX_KEY_AGE_DAYS", n(1, 3650)),
        ("UNUSED_DAYS", n(1, 3650)),
        ("INACTIVE_KEY_MAX_DAYS", n(1, 3650)),
        ("KEY_SETUP_WINDOW_MINUTES", n(1, 1440)),
        ("PASSWORD_MIN_LENGTH", n(6, 128)),
        ("PASSWORD_REUSE_PREVENTION", n(1, 24)),
        ("PASSWORD_REQUIRE_ALL_CLASSES", b()),
        (
            "EXEMPT_GROUPS",
            prop::collection::vec("[A-Za-z0-9+=.@_-]{1,20}", 1..4).prop_map(|v| v.join(", ")).boxed(),
        ),
        ("MFA_GROUP", name()),
        (
            "TOPIC_ARN",
            "[a-zA-Z0-9_-]{1,20}".prop_map(|t| format!("arn:aws:sns:eu-west-1:123456789012:{t}")).boxed(),
        ),
        ("NOTIFY_SCHEDULED", b()),
        ("REPORT_MAX_BYTES", n(10_000, 6_000_000)),
        ("CREDENTIAL_REPORT_MAX_WAIT_SECONDS", n(1, 600)),
        ("ROTATE_AFTER_DAYS", n(30, 3650)),
        ("ROTATION_WARN_DAYS", n(1, 29)),
        ("GRACE_DAYS", n(1, 10)),
        ("INACTIVE_DAYS", n(1, 10)),
        ("IN_USE_HOURS", n(1, 720)),
        ("SECRET_KMS_KEY_ID", "[a-z0-9-]{1,36}".boxed()),
        (
            "KEYWARDEN_ROLE_ARN",
            "([a-z]{1,8}/){0,2}[A-Za-z0-9_-]{1,20}"
                .prop_map(|r| format!("arn:aws:iam::123456789012:role/{r}"))
                .boxed(),
        ),
        (
            "DESIRED_STATE",
            prop::sample::select(&["{}", r#"{"other_groups": "flag"}"#][..]).prop_map(String::from).boxed(),
        ),
        ("REPORT_BUCKET", "[a-z0-9][a-z0-9.-]{2,40}".boxed()),
        ("NOTIFY_CLEAN_RUNS", b()),
        ("DEADLINE_MARGIN_SECONDS", n(0, 600)),
    ];
    fields
        .into_iter()
        .map(|(k, s)| prop::option::of(s).prop_map(move |v| v.map(|v| (k, v))))
        .collect::<Vec<_>>()
        .prop_map(|pairs| pairs.into_iter().flatten().collect())
}

fn garbage_value() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,30}",
        "-?[0-9]{1,25}",
        "[0-9 .e+x-]{1,8}",
        prop::sample::select(
            &[
                "",
                " ",
                "-1",
                "0",
                "+5",
                "1e3",
                "0x10",
                "4294967296",
                "NaN",
                "TRUE",
                "yes",
                "Enforce",
                "dry_run",
                "arn:aws:sns:us-east-1:123456789012:",
                "arn:aws:iam::12345678901:role/x",
                "arn:aws:iam::123456789012:role//x",
                "arn:aws:iam::123456789012:user/x",
                "a,,b",
                "{",
                "[]",
                r#"{"restricted": {"SelfEdit": []}}"#,
            ][..]
        )
        .prop_map(String::from),
        (1usize..100_000).prop_map(|n| "x".repeat(n)),
    ]
}

/// The variables whose error may be reported under another name (cross-checked together).
const LINKED: &[&str] = &["ROTATE_AFTER_DAYS", "ROTATION_WARN_DAYS", "GRACE_DAYS", "INACTIVE_DAYS"];

#[test]
fn fuzz_config() {
    let names: Vec<&'static str> = VARIABLES.iter().map(|v| v.name()).collect();
    let case = (valid_env(), prop::option::of((prop::sample::select(names.clone()), garbage_value())));
    fuzz("config", case, |(mut env, garbage)| {
        if let Some((var, value)) = &garbage {
            env.insert(var, value.clone());
        }
        let env: HashMap<&str, String> = env.into_iter().collect();
        match Config::from_lookup(|k| env.get(k).cloned()) {
            Ok(config) => {
                if let Some(mode) = env.get("ROTATION_MODE").filter(|_| garbage.is_none()) {
                    prop_assert_eq!(config.rotation_mode.as_str(), mode.as_str());
                }
                Ok(true)
            }
            Err(e) => {
                let message = e.to_string();
                check_message(&message)?;
                let Some((var, _)) = garbage else {
                    return Err(TestCaseError::fail(format!("a valid configuration is rejected: {message}")));
                };
                prop_assert!(message.contains(e.variable), "{message}");
                if LINKED.contains(&var) {
                    prop_assert!(LINKED.contains(&e.variable), "{var}: {message}");
                } else if var == "MFA_GROUP" {
                    prop_assert!(["MFA_GROUP", "DESIRED_STATE"].contains(&e.variable), "{message}");
                } else {
                    prop_assert_eq!(e.variable, var, "{}", message);
                }
                Ok(false)
            }
        }
    });
}
