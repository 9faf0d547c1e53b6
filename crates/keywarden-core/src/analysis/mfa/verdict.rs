//! What the MFA prover answers: the verdict, the gap it found, and whom the verdict holds for.

use std::fmt;

/// How a request without MFA reaches AWS. The two differ in what IAM sees: a long-term
/// access key carries no `aws:MultiFactorAuthPresent` key at all, a console session without
/// MFA carries it as `false`. A deny written with `Bool` instead of `BoolIfExists` stops the
/// second and lets the first through, which is the classic broken MFA policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Session {
    /// A long-term access key: no `aws:MultiFactorAuthPresent` in the request.
    AccessKey,
    /// A console session without MFA: `aws:MultiFactorAuthPresent` is `false`.
    ConsoleWithoutMfa,
}

impl fmt::Display for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Session::AccessKey => "with a long-term access key (no MFA context)",
            Session::ConsoleWithoutMfa => "in a console session without MFA",
        })
    }
}

/// A request a user may make without MFA, and the statement that grants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MfaGap {
    /// The action allowed, e.g. `s3:GetObject`.
    pub action: String,
    /// The resource as the granting statement writes it (e.g. `*`).
    pub resource: String,
    /// The concrete request resource the evaluator allowed, e.g. `arn:aws:s3:::…` for `*`.
    pub example: String,
    /// The session the request is made in.
    pub session: Session,
    /// `<policy label>, statement <sid or #n>`.
    pub granted_by: String,
}

/// The answer to "can this user do something sensitive without MFA?".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MfaEnforcement {
    /// Every sensitive request the user's policies allow is denied without MFA (or the user
    /// is allowed nothing sensitive at all).
    Enforced,
    /// A request allowed without MFA, to show the user and fix.
    NotEnforced(MfaGap),
    /// Some request could not be decided; the reason says which and why.
    Unknown(String),
}

/// Whom an [`MfaEnforcement`] answer holds for
/// ([`MfaProber::check_reusable`](super::MfaProber::check_reusable)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holds {
    /// Every user with the same documents in the same account: the user's name decided
    /// nothing on the way to the answer, so the next member need not be analysed again.
    ForEveryName,
    /// This user only: the name entered a condition, or a resource compared beyond a
    /// Deny on every resource (the user's own ARNs, `${aws:username}`, an example ARN).
    ForThisUser,
}
