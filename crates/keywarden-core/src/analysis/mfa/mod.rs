//! Is MFA enforced for a user? [`MfaProber`] proves that every request the user's Allows grant
//! in a session without MFA is denied there, or names one that is not.
//!
//! `verdict` holds the answer types, `examples` the concrete requests tried, `prober` the
//! proof by glob containment; the by-design exemptions are here, as the control's contract.

mod cover;
mod examples;
mod prober;
mod verdict;

pub use prober::MfaProber;
pub use verdict::{Holds, MfaEnforcement, MfaGap, Session};

/// The actions AWS's `Force_MFA` tutorial lets a user call before signing in with MFA
/// ("IAM: Allows MFA-authenticated IAM users to manage their own credentials on the Security
/// credentials page", IAM User Guide): the `NotAction` list of its `DenyAllExceptListedIfNoMFA`
/// statement (set up and resynchronise one's own virtual MFA device, see one's own user),
/// and the options the same page documents: `iam:ListUsers` (to use the Users page),
/// `iam:CreateLoginProfile` (to set one's password from one's own user page), and
/// `iam:ChangePassword` with `iam:GetAccountPasswordPolicy` (to change an expired password
/// at sign-in). A user who can call these without MFA is not an MFA-enforcement failure where
/// [`PreMfaScope`] says; anywhere else they are judged like any other action. Whether a policy
/// reaches other users with them is the over-broad check's concern too.
pub const PRE_MFA_BOOTSTRAP_ACTIONS: &[(&str, PreMfaScope)] = &[
    ("iam:CreateVirtualMFADevice", PreMfaScope::AnyResource),
    ("iam:EnableMFADevice", PreMfaScope::AnyResource),
    ("iam:GetUser", PreMfaScope::AnyResource),
    ("iam:ListMFADevices", PreMfaScope::AnyResource),
    ("iam:ResyncMFADevice", PreMfaScope::AnyResource),
    ("iam:ChangePassword", PreMfaScope::OwnResources),
    ("iam:CreateLoginProfile", PreMfaScope::OwnResources),
    ("iam:ListVirtualMFADevices", PreMfaScope::Account),
    ("iam:ListUsers", PreMfaScope::Account),
    ("iam:GetAccountPasswordPolicy", PreMfaScope::Account),
];

/// Where a [`PRE_MFA_BOOTSTRAP_ACTIONS`] action needs no MFA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreMfaScope {
    /// The canonical control's own exemptions (its Deny's `NotAction` list): that Deny spares
    /// them on every resource, so they need no MFA wherever the user's Allows reach. Judged
    /// more narrowly, every administrator in the MFA group would be a finding that only a
    /// drift from the canonical policy could fix; where the self-service policy itself
    /// reaches other users' devices, the over-broad check says so.
    AnyResource,
    /// The documented options beyond the canonical policy (`iam:CreateLoginProfile`,
    /// `iam:ChangePassword`), on the user's own IAM user (under any path) and own virtual MFA device
    /// (`arn:aws:iam::*:user/<name>`, `…:user/*/<name>`, `…:mfa/<name>`).
    OwnResources,
    /// Account-level listings that support no resource-level scoping: any resource.
    Account,
}
