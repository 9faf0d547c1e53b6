//! The IAM credential report: one CSV that describes every user's credentials.
//!
//! It is the cheapest honest source for an audit (one call for the whole account), but its
//! cells are not all dates: `N/A` (never happened), `no_information` (AWS did not track it,
//! e.g. before 2014 or a password never used) and `not_supported` (root has no password
//! rotation) each mean something different to a check, so they stay distinct here.
//! A report whose header lacks a column we read, or whose cell is neither a date nor one of
//! those markers, is rejected whole: a half-understood report must not pass any check.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use thiserror::Error;

/// The user name AWS gives the root account's row.
pub const ROOT_ACCOUNT_ROW: &str = "<root_account>";

/// Why a credential report was rejected. Every variant names the place (line, column) so
/// that whoever looks at the failed run can find it in the CSV.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum CredentialReportError {
    /// The bytes are not CSV we can split into records: the text says where and why.
    #[error("credential report is not valid CSV: {0}")]
    Csv(String),
    /// A column of [`COLUMNS`] is absent: AWS changed the format, or the file is not a credential report.
    #[error("credential report has no column `{0}`")]
    MissingColumn(&'static str),
    /// A column we read appears twice: which one AWS meant cannot be known.
    #[error("credential report has column `{0}` twice")]
    DuplicateColumn(&'static str),
    /// `value` is cut to [`MAX_SHOWN_VALUE`] characters so a huge cell does not flood the log.
    #[error("credential report line {line}, column `{column}`: cannot read {value:?}")]
    BadCell {
        /// 1-based line of the CSV, the header being line 1.
        line: usize,
        /// The column's header name.
        column: &'static str,
        /// The cell as written, shortened.
        value: String,
    },
    /// Two rows for one user: a check would judge whichever came last, so neither is trusted.
    #[error("credential report line {line}: user `{user}` appears again (first at line {first})")]
    DuplicateUser {
        /// Line of the second row.
        line: usize,
        /// Line of the first row for the same user.
        first: usize,
        /// The user name, shortened like a cell value.
        user: String,
    },
}

/// Longest cell value repeated in an error, in characters.
pub const MAX_SHOWN_VALUE: usize = 100;

/// A cell's value as an error shows it: at most [`MAX_SHOWN_VALUE`] characters, marked when cut.
fn shown(value: &str) -> String {
    crate::text::shorten(value, MAX_SHOWN_VALUE)
}

fn bad_cell(line: usize, column: &'static str, value: &str) -> CredentialReportError {
    CredentialReportError::BadCell { line, column, value: shown(value) }
}

/// Says what csv could not read in words that name the line, without csv's internal record
/// numbering (which counts from 0 and skips nothing a user can see).
fn csv_error(e: csv::Error) -> CredentialReportError {
    let reason = match e.kind() {
        csv::ErrorKind::Utf8 { pos: Some(pos), err } => format!(
            "line {}, field {}: not UTF-8 (invalid byte after {} valid bytes)",
            pos.line(),
            err.field() + 1,
            err.valid_up_to()
        ),
        csv::ErrorKind::UnequalLengths { pos: Some(pos), expected_len, len } => {
            format!("line {}: {len} fields where the header has {expected_len}", pos.line())
        }
        _ => e.to_string(),
    };
    CredentialReportError::Csv(reason)
}

/// The UTF-8 byte-order mark a spreadsheet adds when it saves a CSV.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// A time cell of the credential report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "at")]
pub enum ReportTime {
    /// A timestamp, as AWS writes it (`2026-11-23T06:00:00+00:00`).
    At(DateTime<Utc>),
    /// `N/A`: the event never happened (a key never used, no key in the slot).
    NotApplicable,
    /// `no_information`: AWS has no record (e.g. a password never used since tracking began).
    NoInformation,
    /// `not_supported`: the field does not apply to this principal.
    NotSupported,
}

impl ReportTime {
    /// The time, or `None` for every marker: callers that care which marker must match instead.
    pub fn at(self) -> Option<DateTime<Utc>> {
        match self {
            ReportTime::At(t) => Some(t),
            _ => None,
        }
    }
}

/// One access-key slot (`access_key_1_*` or `access_key_2_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeySlot {
    /// 1 or 2, as AWS numbers them.
    pub slot: u8,
    /// `access_key_N_active`.
    pub active: bool,
    /// For an existing key this is its creation time.
    pub last_rotated: ReportTime,
    /// `access_key_N_last_used_date`.
    pub last_used: ReportTime,
}

impl KeySlot {
    /// A slot holds a key when AWS reports a creation time for it.
    pub fn exists(&self) -> bool {
        matches!(self.last_rotated, ReportTime::At(_))
    }
}

/// One row of the report: one IAM user, or root (`<root_account>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialRow {
    /// The `user` column; [`ROOT_ACCOUNT_ROW`] for root.
    pub user: String,
    /// The `arn` column; root's is `arn:aws:iam::<account>:root`.
    pub arn: String,
    /// `user_creation_time`.
    pub user_creation_time: ReportTime,
    /// `None` for root, whose password state the report marks `not_supported`.
    pub password_enabled: Option<bool>,
    /// `password_last_used`.
    pub password_last_used: ReportTime,
    /// `password_last_changed`; `not_supported` for root.
    pub password_last_changed: ReportTime,
    /// `mfa_active`: any MFA device, virtual or hardware.
    pub mfa_active: bool,
    /// Slots 1 and 2, in that order.
    pub keys: [KeySlot; 2],
}

impl CredentialRow {
    /// True for the `<root_account>` row, which [`CredentialReport::parse`] keeps out of `users`.
    pub fn is_root(&self) -> bool {
        self.user == ROOT_ACCOUNT_ROW
    }

    /// A console password is enabled (root, whose state is unknown, has none).
    pub fn has_password(&self) -> bool {
        self.password_enabled == Some(true)
    }

    /// Slots holding a key that AWS reports active.
    pub fn active_keys(&self) -> impl Iterator<Item = &KeySlot> {
        self.keys.iter().filter(|k| k.active && k.exists())
    }
}

/// A parsed credential report: root's row split from the users' rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialReport {
    /// When AWS generated the report: the data may be up to four hours older than the run.
    pub generated_at: DateTime<Utc>,
    /// `None` when the report has no `<root_account>` row; read for [`CredentialReport::account_id`]
    /// only, the root checks use the account summary.
    pub root: Option<CredentialRow>,
    /// Every non-root row, in the report's order.
    pub users: Vec<CredentialRow>,
}

/// The columns the parser reads (every other column is carried along unread).
pub const COLUMNS: [&str; 15] = [
    "user",
    "arn",
    "user_creation_time",
    "password_enabled",
    "password_last_used",
    "password_last_changed",
    "mfa_active",
    "access_key_1_active",
    "access_key_1_last_rotated",
    "access_key_1_last_used_date",
    "access_key_2_active",
    "access_key_2_last_rotated",
    "access_key_2_last_used_date",
    // Read only to make sure the report is the shape we think it is.
    "access_key_1_last_used_service",
    "access_key_2_last_used_service",
];

/// Positions in [`COLUMNS`], so each cell is found by index, not by name.
const USER: usize = 0;
const ARN: usize = 1;
const USER_CREATION_TIME: usize = 2;
const PASSWORD_ENABLED: usize = 3;
const PASSWORD_LAST_USED: usize = 4;
const PASSWORD_LAST_CHANGED: usize = 5;
const MFA_ACTIVE: usize = 6;
const ACCESS_KEY_1_ACTIVE: usize = 7;
const ACCESS_KEY_1_LAST_ROTATED: usize = 8;
const ACCESS_KEY_1_LAST_USED_DATE: usize = 9;
const ACCESS_KEY_2_ACTIVE: usize = 10;
const ACCESS_KEY_2_LAST_ROTATED: usize = 11;
const ACCESS_KEY_2_LAST_USED_DATE: usize = 12;

impl CredentialReport {
    /// Parses the report's CSV bytes (already base64-decoded by the SDK).
    ///
    /// A leading byte-order mark is skipped (csv does not), so a report saved by a
    /// spreadsheet is not rejected as having "no column `user`".
    pub fn parse(csv_bytes: &[u8], generated_at: DateTime<Utc>) -> Result<Self, CredentialReportError> {
        let csv_bytes = csv_bytes.strip_prefix(BOM).unwrap_or(csv_bytes);
        let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(csv_bytes);
        let headers = reader.headers().map_err(csv_error)?.clone();
        let mut index: HashMap<&str, usize> = HashMap::new();
        for (i, h) in headers.iter().enumerate() {
            if let Some(name) = COLUMNS.iter().find(|c| **c == h.trim()) {
                if index.insert(name, i).is_some() {
                    return Err(CredentialReportError::DuplicateColumn(name));
                }
            }
        }
        let mut col = [0usize; COLUMNS.len()];
        for (at, name) in col.iter_mut().zip(COLUMNS) {
            *at = *index.get(name).ok_or(CredentialReportError::MissingColumn(name))?;
        }

        let mut root = None;
        let mut users = Vec::new();
        let mut seen: HashMap<String, usize> = HashMap::new();
        // One record, refilled: no allocation per row.
        let mut record = csv::StringRecord::new();
        let mut n = 0;
        while reader.read_record(&mut record).map_err(csv_error)? {
            n += 1;
            // The line the record starts on, as an editor shows it (a quoted cell may span
            // lines); the header is line 1.
            let line = record.position().and_then(|p| usize::try_from(p.line()).ok()).unwrap_or(n + 1);
            let cell = |c: usize| -> &str { record.get(col[c]).unwrap_or("").trim() };
            let time = |c: usize| parse_time(cell(c), line, COLUMNS[c]);
            let flag = |c: usize| parse_bool(cell(c), line, COLUMNS[c]);
            let user = cell(USER).to_string();
            if user.is_empty() {
                return Err(bad_cell(line, "user", ""));
            }
            if let Some(&first) = seen.get(&user) {
                return Err(CredentialReportError::DuplicateUser { line, first, user: shown(&user) });
            }
            seen.insert(user.clone(), line);
            let password_enabled = match cell(PASSWORD_ENABLED) {
                "not_supported" => None,
                v => Some(parse_bool(v, line, "password_enabled")?),
            };
            let row = CredentialRow {
                arn: cell(ARN).to_string(),
                user_creation_time: time(USER_CREATION_TIME)?,
                password_enabled,
                password_last_used: time(PASSWORD_LAST_USED)?,
                password_last_changed: time(PASSWORD_LAST_CHANGED)?,
                mfa_active: flag(MFA_ACTIVE)?,
                keys: [
                    KeySlot {
                        slot: 1,
                        active: flag(ACCESS_KEY_1_ACTIVE)?,
                        last_rotated: time(ACCESS_KEY_1_LAST_ROTATED)?,
                        last_used: time(ACCESS_KEY_1_LAST_USED_DATE)?,
                    },
                    KeySlot {
                        slot: 2,
                        active: flag(ACCESS_KEY_2_ACTIVE)?,
                        last_rotated: time(ACCESS_KEY_2_LAST_ROTATED)?,
                        last_used: time(ACCESS_KEY_2_LAST_USED_DATE)?,
                    },
                ],
                user,
            };
            if row.is_root() {
                root = Some(row);
            } else {
                users.push(row);
            }
        }
        Ok(Self { generated_at, root, users })
    }

    /// The account id, read from the root row's ARN (`arn:aws:iam::123456789012:root`).
    pub fn account_id(&self) -> Option<&str> {
        let arn = &self.root.as_ref()?.arn;
        arn.split(':').nth(4).filter(|id| id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit()))
    }
}

fn parse_bool(value: &str, line: usize, column: &'static str) -> Result<bool, CredentialReportError> {
    match value {
        "true" | "TRUE" | "True" => Ok(true),
        "false" | "FALSE" | "False" => Ok(false),
        other => Err(bad_cell(line, column, other)),
    }
}

fn parse_time(value: &str, line: usize, column: &'static str) -> Result<ReportTime, CredentialReportError> {
    match value {
        "N/A" => Ok(ReportTime::NotApplicable),
        "no_information" => Ok(ReportTime::NoInformation),
        "not_supported" => Ok(ReportTime::NotSupported),
        other => match utc_seconds(other) {
            Some(t) => Ok(ReportTime::At(t)),
            None => DateTime::parse_from_rfc3339(other)
                .map(|t| ReportTime::At(t.with_timezone(&Utc)))
                .map_err(|_| bad_cell(line, column, other)),
        },
    }
}

/// The one shape IAM writes, `2026-11-23T06:00:00+00:00`, read without chrono's general
/// RFC 3339 parser: a 5,000-user report has up to 30,000 of them, and the general parser
/// is most of the time of reading one. Anything else (another offset, fractions, a leap
/// second, an invalid date) is left to the general parser, which decides as before.
fn utc_seconds(value: &str) -> Option<DateTime<Utc>> {
    let b = value.as_bytes();
    if b.len() != 25 || &b[19..] != b"+00:00" || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<u32> {
        b[from..to].iter().try_fold(0u32, |n, c| c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0')))
    };
    let year = i32::try_from(num(0, 4)?).ok()?;
    let date = chrono::NaiveDate::from_ymd_opt(year, num(5, 7)?, num(8, 10)?)?;
    Some(date.and_hms_opt(num(11, 13)?, num(14, 16)?, num(17, 19)?)?.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The fast path reads IAM's timestamps exactly as the general parser does, and
        /// leaves it everything else (out-of-range fields, other offsets).
        #[test]
        fn the_fast_timestamp_path_agrees_with_rfc3339(
            y in 0u32..10_000, mo in 0u32..14, d in 0u32..33, h in 0u32..26, mi in 0u32..62, s in 0u32..62,
            offset in proptest::sample::select(vec!["+00:00", "Z", "+01:00", "-00:00"]),
        ) {
            let text = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{offset}");
            let general = DateTime::parse_from_rfc3339(&text).ok().map(|t| t.with_timezone(&Utc));
            match utc_seconds(&text) {
                Some(fast) => proptest::prop_assert_eq!(Some(fast), general),
                None => proptest::prop_assert!(offset != "+00:00" || general.is_none() || s == 60, "{text} left to the general parser"),
            }
            proptest::prop_assert_eq!(
                parse_time(&text, 2, "c").ok(),
                general.map(ReportTime::At)
            );
        }
    }

    const HEADER: &str = "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated";

    fn generated() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .expect("fixed date")
    }

    #[test]
    fn parses_root_and_users_with_every_marker() {
        let csv = format!(
            "{HEADER}\n\
<root_account>,arn:aws:iam::123456789012:root,2020-01-01T00:00:00+00:00,not_supported,2025-12-01T10:00:00+00:00,not_supported,not_supported,true,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n\
alice,arn:aws:iam::123456789012:user/alice,2025-01-01T00:00:00+00:00,true,no_information,2025-01-01T00:00:00+00:00,N/A,false,true,2025-02-01T00:00:00+00:00,N/A,N/A,N/A,false,2025-03-01T00:00:00+00:00,2025-04-01T12:00:00+00:00,us-east-1,iam,false,N/A,false,N/A\n"
        );
        let report = CredentialReport::parse(csv.as_bytes(), generated()).expect("valid report");
        assert_eq!(report.account_id(), Some("123456789012"));
        let root = report.root.as_ref().expect("root row");
        assert_eq!(root.password_enabled, None);
        assert!(root.mfa_active);
        assert_eq!(report.users.len(), 1);
        let alice = &report.users[0];
        assert!(alice.has_password());
        assert_eq!(alice.password_last_used, ReportTime::NoInformation);
        assert!(alice.keys[0].active && alice.keys[0].exists());
        assert_eq!(alice.keys[0].last_used, ReportTime::NotApplicable);
        assert!(!alice.keys[1].active && alice.keys[1].exists());
        assert!(matches!(alice.keys[1].last_used, ReportTime::At(_)));
        assert_eq!(alice.active_keys().count(), 1);
    }

    #[test]
    fn missing_column_is_an_error() {
        let csv = "user,arn\nalice,arn:aws:iam::123456789012:user/alice\n";
        assert_eq!(
            CredentialReport::parse(csv.as_bytes(), generated()),
            Err(CredentialReportError::MissingColumn("user_creation_time"))
        );
    }

    #[test]
    fn garbage_cell_is_an_error_naming_line_and_column() {
        let csv = format!(
            "{HEADER}\nalice,arn:aws:iam::1:user/alice,yesterday,true,N/A,N/A,N/A,false,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n"
        );
        let err = CredentialReport::parse(csv.as_bytes(), generated()).expect_err("bad date");
        assert_eq!(
            err,
            CredentialReportError::BadCell {
                line: 2,
                column: "user_creation_time",
                value: "yesterday".into()
            }
        );
        assert!(err.to_string().contains("line 2"));
    }

    #[test]
    fn bad_boolean_is_an_error() {
        let csv = format!(
            "{HEADER}\nalice,arn:aws:iam::1:user/alice,2025-01-01T00:00:00+00:00,maybe,N/A,N/A,N/A,false,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n"
        );
        assert!(matches!(
            CredentialReport::parse(csv.as_bytes(), generated()),
            Err(CredentialReportError::BadCell { column: "password_enabled", .. })
        ));
    }

    #[test]
    fn binary_garbage_is_an_error() {
        assert!(CredentialReport::parse(&[0xff, 0xfe, b'\n', 0x00], generated()).is_err());
    }

    #[test]
    fn empty_account_has_no_users_but_parses() {
        let report =
            CredentialReport::parse(format!("{HEADER}\n").as_bytes(), generated()).expect("header only");
        assert!(report.users.is_empty());
        assert!(report.root.is_none());
        assert_eq!(report.account_id(), None);
    }
}
