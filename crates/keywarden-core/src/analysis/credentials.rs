//! The IAM actions that act on one user's credentials: what both analyses probe with.

/// Which resource an IAM credential action is authorised on (AWS service authorisation
/// reference): the virtual MFA device, or the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// `arn:aws:iam::<account>:user/<name>`.
    User,
    /// `arn:aws:iam::<account>:mfa/<name>`.
    Mfa,
}

/// IAM actions that act on one user's credentials, and the resource they are authorised on.
pub(crate) const CREDENTIAL_ACTIONS: &[(&str, Target)] = &[
    ("iam:ChangePassword", Target::User),
    ("iam:CreateLoginProfile", Target::User),
    ("iam:DeleteLoginProfile", Target::User),
    ("iam:GetLoginProfile", Target::User),
    ("iam:UpdateLoginProfile", Target::User),
    ("iam:GetUser", Target::User),
    ("iam:CreateAccessKey", Target::User),
    ("iam:DeleteAccessKey", Target::User),
    ("iam:ListAccessKeys", Target::User),
    ("iam:UpdateAccessKey", Target::User),
    ("iam:DeleteSigningCertificate", Target::User),
    ("iam:ListSigningCertificates", Target::User),
    ("iam:UpdateSigningCertificate", Target::User),
    ("iam:UploadSigningCertificate", Target::User),
    ("iam:DeleteSSHPublicKey", Target::User),
    ("iam:GetSSHPublicKey", Target::User),
    ("iam:ListSSHPublicKeys", Target::User),
    ("iam:UpdateSSHPublicKey", Target::User),
    ("iam:UploadSSHPublicKey", Target::User),
    ("iam:CreateServiceSpecificCredential", Target::User),
    ("iam:DeleteServiceSpecificCredential", Target::User),
    ("iam:ListServiceSpecificCredentials", Target::User),
    ("iam:ResetServiceSpecificCredential", Target::User),
    ("iam:UpdateServiceSpecificCredential", Target::User),
    ("iam:CreateVirtualMFADevice", Target::Mfa),
    ("iam:DeleteVirtualMFADevice", Target::Mfa),
    ("iam:DeactivateMFADevice", Target::User),
    ("iam:EnableMFADevice", Target::User),
    ("iam:ListMFADevices", Target::User),
    ("iam:ResyncMFADevice", Target::User),
];
