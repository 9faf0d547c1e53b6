//! Condition operators, parsed once when the document is.
//!
//! An operator is written as one word (`ForAnyValue:StringLikeIfExists`), but it is three
//! independent choices: the comparison, how a multi-valued key is quantified, and whether a
//! missing key passes. Parsing them into [`Operator`] at parse time means an operator the
//! evaluator has never heard of is a malformed document, not a surprise during evaluation,
//! and evaluation matches on variants instead of re-splitting strings for every request.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

/// Declares [`BaseOperator`] with its IAM spelling, so the spelling lives in one place for
/// both parsing and display.
macro_rules! base_operators {
    ($($variant:ident),* $(,)?) => {
        /// The comparison a condition operator makes, without `IfExists`, `ForAllValues:` or
        /// `ForAnyValue:`: the base operators of the IAM policy language. An operator outside
        /// this list makes a document malformed, so every variant is one IAM defines.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum BaseOperator {
            $(
                #[doc = concat!("IAM's `", stringify!($variant), "`.")]
                $variant
            ),*
        }

        impl BaseOperator {
            /// Every base operator, in IAM's documentation order: lets parsing and tests
            /// enumerate the language instead of repeating it.
            pub const ALL: &'static [BaseOperator] = &[$(BaseOperator::$variant),*];

            /// The spelling IAM uses (and the only one it accepts: operators are
            /// case-sensitive), so that messages quote the operator as the policy writes it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(BaseOperator::$variant => stringify!($variant)),*
                }
            }
        }
    };
}

base_operators!(
    StringEquals,
    StringNotEquals,
    StringEqualsIgnoreCase,
    StringNotEqualsIgnoreCase,
    StringLike,
    StringNotLike,
    NumericEquals,
    NumericNotEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    DateEquals,
    DateNotEquals,
    DateLessThan,
    DateLessThanEquals,
    DateGreaterThan,
    DateGreaterThanEquals,
    Bool,
    BinaryEquals,
    IpAddress,
    NotIpAddress,
    ArnEquals,
    ArnLike,
    ArnNotEquals,
    ArnNotLike,
    Null,
);

impl BaseOperator {
    /// Operators whose result is the negation of a positive form: IAM documents that each of
    /// them matches a request that lacks the key ("If the key that you specify in a policy
    /// condition is not present in the request context, the values do not match" holds for the
    /// positive form; the negated one is then true).
    pub(crate) fn is_negated(self) -> bool {
        matches!(
            self,
            BaseOperator::StringNotEquals
                | BaseOperator::StringNotEqualsIgnoreCase
                | BaseOperator::StringNotLike
                | BaseOperator::ArnNotEquals
                | BaseOperator::ArnNotLike
                | BaseOperator::NumericNotEquals
                | BaseOperator::DateNotEquals
                | BaseOperator::NotIpAddress
        )
    }
}

impl fmt::Display for BaseOperator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a condition on a multi-valued key is quantified over the request's values: the
/// `ForAnyValue:` and `ForAllValues:` prefixes. They change the answer for an absent key too
/// (the empty set is a subset of anything), which is why they are kept apart from the base.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SetQualifier {
    /// `ForAnyValue:`: at least one request value must pass.
    ForAnyValue,
    /// `ForAllValues:`: every request value must pass (vacuously true for none).
    ForAllValues,
}

impl SetQualifier {
    /// The prefix as IAM spells it, without the colon.
    pub fn as_str(self) -> &'static str {
        match self {
            SetQualifier::ForAnyValue => "ForAnyValue",
            SetQualifier::ForAllValues => "ForAllValues",
        }
    }
}

/// A condition operator as IAM reads it: `[qualifier:]base[IfExists]`.
///
/// [`Display`](fmt::Display) writes it back exactly as the policy spelled it (IAM accepts one
/// spelling per operator), so messages and comparisons keep quoting what the author wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Operator {
    /// The comparison made.
    pub base: BaseOperator,
    /// `ForAnyValue:` or `ForAllValues:`, if written.
    pub qualifier: Option<SetQualifier>,
    /// Whether `IfExists` was appended: a request without the key then passes.
    pub if_exists: bool,
}

/// A condition operator IAM does not define: the document is malformed. The message is the
/// one a parse error has always carried, so reports and tests read the same.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown condition operator {0:?}")]
pub struct UnknownOperator(pub String);

impl FromStr for Operator {
    type Err = UnknownOperator;

    fn from_str(op: &str) -> Result<Self, Self::Err> {
        let unknown = || UnknownOperator(op.to_string());
        let (qualifier, rest) = match op.split_once(':') {
            Some(("ForAnyValue", r)) => (Some(SetQualifier::ForAnyValue), r),
            Some(("ForAllValues", r)) => (Some(SetQualifier::ForAllValues), r),
            Some(_) => return Err(unknown()),
            None => (None, op),
        };
        let (base, if_exists) = match rest.strip_suffix("IfExists") {
            Some(base) => (base, true),
            None => (rest, false),
        };
        let base = BaseOperator::ALL.iter().copied().find(|b| b.as_str() == base).ok_or_else(unknown)?;
        // `Null` asks whether the key exists; IAM has no `NullIfExists`.
        if base == BaseOperator::Null && if_exists {
            return Err(unknown());
        }
        Ok(Operator { base, qualifier, if_exists })
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(q) = self.qualifier {
            write!(f, "{}:", q.as_str())?;
        }
        f.write_str(self.base.as_str())?;
        if self.if_exists {
            f.write_str("IfExists")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every spelling IAM accepts: each base, with and without each qualifier and `IfExists`
    /// (except `NullIfExists`).
    fn accepted() -> Vec<String> {
        let mut out = Vec::new();
        for base in BaseOperator::ALL {
            for q in ["", "ForAnyValue:", "ForAllValues:"] {
                out.push(format!("{q}{base}"));
                if *base != BaseOperator::Null {
                    out.push(format!("{q}{base}IfExists"));
                }
            }
        }
        out
    }

    #[test]
    fn every_accepted_spelling_round_trips() {
        let spellings = accepted();
        assert_eq!(spellings.len(), 27 * 3 * 2 - 3);
        for s in spellings {
            let op: Operator = s.parse().unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(op.to_string(), s);
            assert_eq!(op.to_string().parse::<Operator>(), Ok(op));
        }
    }

    #[test]
    fn the_parts_are_read_from_the_spelling() {
        let op: Operator = "ForAllValues:StringNotLikeIfExists".parse().expect("known");
        assert_eq!(
            op,
            Operator {
                base: BaseOperator::StringNotLike,
                qualifier: Some(SetQualifier::ForAllValues),
                if_exists: true
            }
        );
        assert!(op.base.is_negated());
        let op: Operator = "Bool".parse().expect("known");
        assert_eq!(op, Operator { base: BaseOperator::Bool, qualifier: None, if_exists: false });
    }

    #[test]
    fn unknown_spellings_are_rejected_as_before() {
        for s in [
            "",
            "IfExists",
            "NullIfExists",
            "ForAnyValue:NullIfExists",
            "stringequals",
            "StringEquals ",
            "StringEqualsIfExistsIfExists",
            "ForSomeValue:StringEquals",
            "forallvalues:StringEquals",
            "ForAnyValue:",
            "ForAnyValue:ForAllValues:StringEquals",
            "ForAnyValue:String:Equals",
            "Bogus",
        ] {
            assert_eq!(s.parse::<Operator>(), Err(UnknownOperator(s.to_string())), "{s:?}");
            assert_eq!(
                UnknownOperator(s.to_string()).to_string(),
                format!("unknown condition operator {s:?}")
            );
            let doc = format!(
                r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Action":"s3:GetObject",
                    "Resource":"*","Condition":{{"{s}":{{"aws:username":"x"}}}}}}}}"#
            );
            assert_eq!(
                crate::policy::PolicyDocument::parse(&doc),
                Err(crate::policy::PolicyError::Invalid {
                    path: format!("$.Statement.Condition.{s}"),
                    reason: format!("unknown condition operator {s:?}"),
                })
            );
        }
    }
}
