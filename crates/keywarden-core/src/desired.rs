//! The desired state of group membership, and the drift between it and the account.
//!
//! The document is small JSON that a security team writes once and deploys with the
//! function:
//!
//! ```json
//! {
//!   "required_for_all": ["SelfEdit"],
//!   "restricted": {"Admins": ["alice", "bob"]},
//!   "other_groups": "ignore"
//! }
//! ```
//!
//! - `required_for_all`: every user must be in these groups (default: the MFA-enforcing
//!   `SelfEdit` group of the seeds);
//! - `restricted`: only the listed users may be in these groups;
//! - `other_groups`: `ignore` (default) or `flag` membership in any group the document does
//!   not name.
//!
//! It is validated by hand over `serde_json::Value` so that an error names its JSON path
//! (`$.restricted.Admins[1]`): the person fixing a deployment needs the place, not a column.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use thiserror::Error;

use crate::text::is_iam_name;

/// The group keywarden expects every user in when the document names none.
pub const DEFAULT_REQUIRED_GROUP: &str = "SelfEdit";

/// A desired-state document that cannot be used; the run refuses it rather than judge against half of it.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("desired state {path}: {reason}")]
pub struct DesiredStateError {
    /// Where in the document, as a JSON path (`$` is the whole document).
    pub path: String,
    /// What is wrong there, in words that suggest the fix.
    pub reason: String,
}

/// What to do about membership of a group the document does not name (`other_groups`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OtherGroups {
    /// Such membership is not drift.
    Ignore,
    /// Such membership is a [`Drift::Unexpected`].
    Flag,
}

/// A validated document: every name is a valid IAM name, and no group is both required and restricted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DesiredState {
    /// Groups every user must be in (`required_for_all`).
    pub required_for_all: BTreeSet<String>,
    /// Group to the only users allowed in it (`restricted`); a listed user need not be a member.
    pub restricted: BTreeMap<String, BTreeSet<String>>,
    /// The document's `other_groups`, [`OtherGroups::Ignore`] when absent.
    pub other_groups: OtherGroups,
}

/// One difference between the desired and the live membership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drift {
    /// The user is not in a group every user must be in.
    Missing {
        /// The IAM user name.
        user: String,
        /// The required group the user is not in.
        group: String,
    },
    /// The user is in a restricted group without being listed, or in an unnamed group while
    /// `other_groups` is `flag`.
    Unexpected {
        /// The IAM user name.
        user: String,
        /// The group the user should not be in.
        group: String,
        /// Which rule the membership breaks, for the finding's message.
        why: &'static str,
    },
}

fn err(path: &str, reason: impl Into<String>) -> DesiredStateError {
    DesiredStateError { path: path.to_string(), reason: reason.into() }
}

/// Longest name repeated in an error, in characters: a pasted blob must not flood the log.
const MAX_SHOWN_NAME: usize = 100;

fn shown(name: &str) -> String {
    crate::text::shorten(name, MAX_SHOWN_NAME)
}

/// What a value is, for "expected X, found Y": the fix depends on what was written.
fn kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "a list",
        serde_json::Value::Object(_) => "an object",
    }
}

fn names(value: &serde_json::Value, path: &str) -> Result<BTreeSet<String>, DesiredStateError> {
    let list = value
        .as_array()
        .ok_or_else(|| err(path, format!("expected a list of names, found {}", kind(value))))?;
    let mut first_at = BTreeMap::new();
    for (i, v) in list.iter().enumerate() {
        let p = format!("{path}[{i}]");
        let name = v.as_str().ok_or_else(|| err(&p, format!("expected a string, found {}", kind(v))))?;
        if !is_iam_name(name) {
            return Err(err(&p, format!("`{}` is not a valid IAM name", shown(name))));
        }
        // A name listed twice is usually a copy-paste slip for another name; say so rather
        // than guess which one was meant.
        if let Some(first) = first_at.insert(name, i) {
            return Err(err(&p, format!("`{name}` is listed twice (first at {path}[{first}])")));
        }
    }
    Ok(first_at.into_keys().map(str::to_string).collect())
}

impl DesiredState {
    /// Parses a document whose `required_for_all` defaults to [`DEFAULT_REQUIRED_GROUP`].
    pub fn parse(text: &str) -> Result<Self, DesiredStateError> {
        Self::parse_with_default_group(text, DEFAULT_REQUIRED_GROUP)
    }

    /// Parses a document whose `required_for_all` defaults to `group` (the configured
    /// MFA-enforcing group, so renaming it does not leave the default requiring the old one).
    pub fn parse_with_default_group(text: &str, group: &str) -> Result<Self, DesiredStateError> {
        let doc = crate::json::parse_strict(text).map_err(|e| match e.classify() {
            // Well-formed JSON that the reader refused: a duplicate key (with its line).
            serde_json::error::Category::Data => err("$", e.to_string()),
            _ => err("$", format!("not JSON: {e}")),
        })?;
        let obj =
            doc.as_object().ok_or_else(|| err("$", format!("expected an object, found {}", kind(&doc))))?;
        for key in obj.keys() {
            if !["required_for_all", "restricted", "other_groups"].contains(&key.as_str()) {
                return Err(err(
                    &format!("$.{}", shown(key)),
                    "unknown field; expected required_for_all, restricted or other_groups",
                ));
            }
        }
        let required_for_all = match obj.get("required_for_all") {
            None => [group.to_string()].into(),
            Some(v) => names(v, "$.required_for_all")?,
        };
        let mut restricted = BTreeMap::new();
        if let Some(v) = obj.get("restricted") {
            let groups = v.as_object().ok_or_else(|| {
                err("$.restricted", format!("expected an object of group: [users], found {}", kind(v)))
            })?;
            for (group, members) in groups {
                let p = format!("$.restricted.{}", shown(group));
                if !is_iam_name(group) {
                    return Err(err(&p, format!("`{}` is not a valid IAM group name", shown(group))));
                }
                if required_for_all.contains(group) {
                    return Err(err(&p, "a group cannot be both required for all and restricted"));
                }
                restricted.insert(group.clone(), names(members, &p)?);
            }
        }
        let other_groups = match obj.get("other_groups") {
            None => OtherGroups::Ignore,
            Some(v) => match v.as_str() {
                Some("ignore") => OtherGroups::Ignore,
                Some("flag") => OtherGroups::Flag,
                _ => {
                    return Err(err(
                        "$.other_groups",
                        format!("expected \"ignore\" or \"flag\", found {}", shown(&v.to_string())),
                    ))
                }
            },
        };
        Ok(Self { required_for_all, restricted, other_groups })
    }

    /// The drift of one user's live groups, in a stable order.
    pub fn drift(&self, user: &str, groups: &BTreeSet<String>) -> Vec<Drift> {
        let mut out = Vec::new();
        for g in self.required_for_all.difference(groups) {
            out.push(Drift::Missing { user: user.to_string(), group: g.clone() });
        }
        for g in groups {
            if let Some(allowed) = self.restricted.get(g) {
                if !allowed.contains(user) {
                    out.push(Drift::Unexpected {
                        user: user.to_string(),
                        group: g.clone(),
                        why: "not on the group's list of allowed members",
                    });
                }
            } else if !self.required_for_all.contains(g) && self.other_groups == OtherGroups::Flag {
                out.push(Drift::Unexpected {
                    user: user.to_string(),
                    group: g.clone(),
                    why: "a group the desired state does not name",
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(v: &[&str]) -> BTreeSet<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn defaults_require_the_mfa_group_and_ignore_others() {
        let d = DesiredState::parse("{}").expect("empty is valid");
        assert_eq!(d.required_for_all, set(&["SelfEdit"]));
        assert_eq!(d.other_groups, OtherGroups::Ignore);
        assert_eq!(
            d.drift("alice", &set(&["Developers"])),
            vec![Drift::Missing { user: "alice".into(), group: "SelfEdit".into() }]
        );
        assert!(d.drift("bob", &set(&["SelfEdit", "Developers"])).is_empty());
    }

    #[test]
    fn restricted_groups_allow_only_their_members() {
        let d = DesiredState::parse(r#"{"required_for_all": ["SelfEdit"], "restricted": {"Admins": ["alice"]}, "other_groups": "flag"}"#)
            .expect("valid");
        assert!(d.drift("alice", &set(&["SelfEdit", "Admins"])).is_empty());
        assert_eq!(
            d.drift("mallory", &set(&["SelfEdit", "Admins", "Sandbox"])),
            vec![
                Drift::Unexpected {
                    user: "mallory".into(),
                    group: "Admins".into(),
                    why: "not on the group's list of allowed members"
                },
                Drift::Unexpected {
                    user: "mallory".into(),
                    group: "Sandbox".into(),
                    why: "a group the desired state does not name"
                },
            ]
        );
    }

    #[test]
    fn errors_name_the_json_path() {
        for (doc, path) in [
            ("[1]", "$"),
            ("nope", "$"),
            (r#"{"required": []}"#, "$.required"),
            (r#"{"required_for_all": "SelfEdit"}"#, "$.required_for_all"),
            (r#"{"required_for_all": ["SelfEdit", 3]}"#, "$.required_for_all[1]"),
            (r#"{"restricted": {"Admins": ["alice", "bad name"]}}"#, "$.restricted.Admins[1]"),
            (r#"{"restricted": {"SelfEdit": []}}"#, "$.restricted.SelfEdit"),
            (r#"{"other_groups": "maybe"}"#, "$.other_groups"),
        ] {
            let e = DesiredState::parse(doc).expect_err(doc);
            assert_eq!(e.path, path, "{doc}: {e}");
            assert!(e.to_string().contains(path));
        }
    }
}
