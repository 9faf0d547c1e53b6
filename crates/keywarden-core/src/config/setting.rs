//! What one environment variable is: [`Setting`], and the parsers its definitions use.
//!
//! A [`Setting`] holds all that the code, the README and the tests know of a variable: its
//! name, the words of its README row, its default, its bounds and how its value is parsed.
//! [`super::settings::VARIABLES`] lists them in the README's order; the README test compares each row with
//! its definition, [`super::Config::from_lookup`] reads each value through it, and the
//! `Default` impls take their values from it, so no default is written down twice.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use super::error::{cut, ConfigError, MAX_SHOWN_VALUE};
use super::mode::RotationMode;
use crate::desired::DesiredState;
use crate::text::{is_iam_name, is_role_arn};

/// How a setting turns its trimmed, non-empty value into a `T`. `C` is what it needs of the
/// settings read before it: only `DESIRED_STATE` needs anything (the MFA group).
type Parse<T, C> = fn(&Setting<T, C>, String, &C) -> Result<T, ConfigError>;

/// One environment variable. A `static` per variable, so that its name, documentation,
/// default and rule cannot drift apart the way three hand-kept copies did.
#[derive(Debug)]
pub struct Setting<T: 'static, C: ?Sized + 'static = ()> {
    /// The variable's name in the environment.
    pub name: &'static str,
    /// Its meaning, word for word as the README table's third column says it.
    pub doc: &'static str,
    /// The value when the variable is unset or empty.
    pub default: T,
    /// The inclusive range a number must lie in; `None` for anything else.
    pub bounds: Option<(T, T)>,
    parse: Parse<T, C>,
    /// The default as the README writes it, `None` for "(none)".
    show: fn(&T) -> Option<String>,
}

impl<T, C: ?Sized> Setting<T, C> {
    /// The error for `value`, named after this variable so the operator knows what to fix.
    pub fn reject(&self, value: String, reason: impl Into<String>) -> ConfigError {
        ConfigError { variable: self.name, value, reason: reason.into() }
    }

    /// The value through `lookup` (trimmed; unset and empty take the default), with `context`
    /// for the settings whose meaning depends on another's.
    pub fn read_with(&self, lookup: &dyn Fn(&str) -> Option<String>, context: &C) -> Result<T, ConfigError>
    where
        T: Clone,
    {
        match lookup(self.name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty()) {
            None => Ok(self.default.clone()),
            Some(raw) => (self.parse)(self, raw, context),
        }
    }
}

impl<T: Clone> Setting<T> {
    /// The value through `lookup`, for the settings that stand on their own.
    pub fn read(&self, lookup: &dyn Fn(&str) -> Option<String>) -> Result<T, ConfigError> {
        self.read_with(lookup, &())
    }
}

impl<T: Copy + FromStr + PartialOrd + fmt::Display> Setting<T> {
    /// A whole number in `min..=max`.
    pub(super) const fn number(name: &'static str, default: T, min: T, max: T, doc: &'static str) -> Self {
        Self { name, doc, default, bounds: Some((min, max)), parse: number::<T>, show: displayed::<T> }
    }
}

impl Setting<bool> {
    /// `true` or `false`, nothing looser: `yes` may mean either to whoever typed it.
    pub(super) const fn flag(name: &'static str, default: bool, doc: &'static str) -> Self {
        Self { name, doc, default, bounds: None, parse: boolean, show: displayed::<bool> }
    }
}

impl<T, C: ?Sized> Setting<T, C> {
    /// A value with a parser of its own.
    pub(super) const fn custom(
        name: &'static str,
        default: T,
        parse: Parse<T, C>,
        show: fn(&T) -> Option<String>,
        doc: &'static str,
    ) -> Self {
        Self { name, doc, default, bounds: None, parse, show }
    }
}

/// What the README test and the unit tests need of any setting, whatever its type.
pub trait Variable: Sync {
    /// The variable's name in the environment.
    fn name(&self) -> &'static str;
    /// Its README description.
    fn doc(&self) -> &'static str;
    /// The default as the README writes it: `` `90` ``, or `(none)` when unset means absent.
    fn shown_default(&self) -> String;
    /// Whether the default, written as the README writes it, reads back as the default: so
    /// a default outside its bounds, or a README default the parser refuses, is caught.
    fn default_reads_back(&self) -> Result<(), String>;

    /// The variable's README row, exactly: the README test looks for it line for line.
    fn readme_row(&self) -> String {
        format!("| `{}` | {} | {} |", self.name(), self.shown_default(), self.doc())
    }
}

fn readme_default<T, C: ?Sized>(s: &Setting<T, C>) -> String {
    (s.show)(&s.default).map_or_else(|| "(none)".to_string(), |v| format!("`{v}`"))
}

impl<T: Clone + PartialEq + fmt::Debug + Sync> Variable for Setting<T> {
    fn name(&self) -> &'static str {
        self.name
    }
    fn doc(&self) -> &'static str {
        self.doc
    }
    fn shown_default(&self) -> String {
        readme_default(self)
    }
    fn default_reads_back(&self) -> Result<(), String> {
        let Some(text) = (self.show)(&self.default) else { return Ok(()) };
        match (self.parse)(self, text, &()) {
            Ok(v) if v == self.default => Ok(()),
            Ok(v) => Err(format!("{}: the default reads back as {v:?}, not {:?}", self.name, self.default)),
            Err(e) => Err(e.to_string()),
        }
    }
}

impl Variable for Setting<Option<DesiredState>, str> {
    fn name(&self) -> &'static str {
        self.name
    }
    fn doc(&self) -> &'static str {
        self.doc
    }
    fn shown_default(&self) -> String {
        readme_default(self)
    }
    fn default_reads_back(&self) -> Result<(), String> {
        match &self.default {
            None => Ok(()),
            Some(_) => Err(format!("{}: a default document cannot be shown in the README", self.name)),
        }
    }
}

fn displayed<T: fmt::Display>(v: &T) -> Option<String> {
    Some(v.to_string())
}

fn number<T: Copy + FromStr + PartialOrd + fmt::Display>(
    s: &Setting<T>,
    raw: String,
    _: &(),
) -> Result<T, ConfigError> {
    let Some((min, max)) = s.bounds else {
        return raw.parse().map_err(|_| s.reject(raw, "expected a whole number"));
    };
    // The range too: `-1` or `99999999999` is a number to whoever wrote it.
    let Ok(parsed) = raw.parse::<T>() else {
        return Err(s.reject(raw, format!("expected a whole number between {min} and {max}")));
    };
    if parsed < min || parsed > max {
        return Err(s.reject(raw, format!("must be between {min} and {max}")));
    }
    Ok(parsed)
}

fn boolean(s: &Setting<bool>, raw: String, _: &()) -> Result<bool, ConfigError> {
    match raw.as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(s.reject(raw, "expected `true` or `false`")),
    }
}

/// An unset optional value is shown as "(none)"; a set one as itself.
pub(super) fn optional(v: &Option<String>) -> Option<String> {
    v.clone()
}

pub(super) fn rotation_mode(
    s: &Setting<RotationMode>,
    raw: String,
    _: &(),
) -> Result<RotationMode, ConfigError> {
    raw.parse().map_err(|e: super::mode::UnknownRotationMode| s.reject(raw, e.to_string()))
}

pub(super) fn group_list(
    s: &Setting<BTreeSet<String>>,
    raw: String,
    _: &(),
) -> Result<BTreeSet<String>, ConfigError> {
    let mut groups = BTreeSet::new();
    for name in raw.split(',').map(str::trim) {
        if !is_iam_name(name) {
            let reason = format!("`{}` is not a valid IAM group name", cut(name));
            return Err(s.reject(raw, reason));
        }
        groups.insert(name.to_string());
    }
    Ok(groups)
}

pub(super) fn group_name(
    s: &Setting<Cow<'static, str>>,
    raw: String,
    _: &(),
) -> Result<Cow<'static, str>, ConfigError> {
    if is_iam_name(&raw) {
        Ok(Cow::Owned(raw))
    } else {
        Err(s.reject(raw, "expected an IAM group name (1-128 of letters, digits and +=,.@_-)"))
    }
}

pub(super) fn topic_arn(
    s: &Setting<Option<String>>,
    raw: String,
    _: &(),
) -> Result<Option<String>, ConfigError> {
    let parts: Vec<&str> = raw.split(':').collect();
    if parts.len() != 6 || parts[0] != "arn" || parts[2] != "sns" || parts[5].is_empty() {
        return Err(s.reject(raw, "expected an SNS topic ARN, arn:<partition>:sns:<region>:<account>:<name>"));
    }
    Ok(Some(raw))
}

pub(super) fn any_text(
    _: &Setting<Option<String>>,
    raw: String,
    _: &(),
) -> Result<Option<String>, ConfigError> {
    Ok(Some(raw))
}

pub(super) fn role_arn(
    s: &Setting<Option<String>>,
    raw: String,
    _: &(),
) -> Result<Option<String>, ConfigError> {
    if !is_role_arn(&raw) {
        let reason = "expected an IAM role ARN with its path, arn:<partition>:iam::<12-digit account>:role/<path/><name>";
        return Err(s.reject(raw, reason));
    }
    Ok(Some(raw))
}

pub(super) fn bucket(
    s: &Setting<Option<String>>,
    raw: String,
    _: &(),
) -> Result<Option<String>, ConfigError> {
    let allowed = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'.';
    if !(3..=63).contains(&raw.len()) || !raw.bytes().all(allowed) {
        return Err(s.reject(raw, "expected an S3 bucket name (3-63 lowercase letters, digits, `-` and `.`)"));
    }
    Ok(Some(raw))
}

/// The document is read against the configured MFA group, so that renaming the group does
/// not leave the document's default requiring the old one.
pub(super) fn desired_state(
    s: &Setting<Option<DesiredState>, str>,
    raw: String,
    mfa_group: &str,
) -> Result<Option<DesiredState>, ConfigError> {
    DesiredState::parse_with_default_group(&raw, mfa_group).map(Some).map_err(|e| ConfigError {
        variable: s.name,
        // Cut here rather than in the message: the field keeps no more than it shows.
        value: raw.chars().take(MAX_SHOWN_VALUE).collect(),
        reason: e.to_string(),
    })
}
