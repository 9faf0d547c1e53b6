//! The one error a bad variable produces.
//!
//! Apart from the settings so that every parser in [`super::settings`] and every rule in
//! [`super`] builds the same message, and so that neither imports the other for it.

use thiserror::Error;

/// A variable that cannot be used, and why. The message shows at most
/// [`MAX_SHOWN_VALUE`] characters of the value: a pasted document must not flood the log.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[error("invalid configuration: {variable}={}: {reason}", shown(.value))]
pub struct ConfigError {
    /// The variable to fix, so the operator does not have to guess among 27.
    pub variable: &'static str,
    /// The value as read (trimmed); the message cuts it, the field keeps it for the caller.
    pub value: String,
    /// What is wrong with it, in words that say what would be accepted.
    pub reason: String,
}

/// Longest part of a bad value repeated in a [`ConfigError`]'s message, in characters.
pub const MAX_SHOWN_VALUE: usize = 200;

/// At most [`MAX_SHOWN_VALUE`] characters of `value`, marked when cut.
pub(super) fn cut(value: &str) -> String {
    crate::text::shorten(value, MAX_SHOWN_VALUE)
}

fn shown(value: &str) -> String {
    if value.chars().count() <= MAX_SHOWN_VALUE {
        format!("{value:?}")
    } else {
        let cut: String = value.chars().take(MAX_SHOWN_VALUE).collect();
        format!("{cut:?}… ({} characters)", value.chars().count())
    }
}
