//! The account-level checks: the root user's MFA and keys, unassigned virtual MFA devices,
//! and the password policy against the configured requirements.

use crate::catalogue::CheckId;
use crate::config::AuditPolicy;
use crate::model::Inventory;

use super::finding::{account_finding, Finding};

/// Root MFA, root keys, unassigned virtual MFA devices and the password policy, each only
/// when its check runs on complete data.
pub(super) fn check(
    inv: &Inventory,
    policy: &AuditPolicy,
    evaluated: &dyn Fn(CheckId) -> bool,
    findings: &mut Vec<Finding>,
) {
    if let Ok(summary) = &inv.account_summary {
        if evaluated(CheckId::RootMfaDisabled) && !summary.root_mfa_enabled {
            findings.push(account_finding(
                CheckId::RootMfaDisabled,
                "account",
                "the root user has no MFA device".into(),
            ));
        }
        if evaluated(CheckId::RootAccessKeyPresent) && summary.root_access_keys_present {
            findings.push(account_finding(
                CheckId::RootAccessKeyPresent,
                "account",
                "the root user has access keys".into(),
            ));
        }
    }
    if let Ok(devices) = &inv.virtual_mfa_devices {
        if evaluated(CheckId::VirtualMfaUnassigned) {
            for d in devices.iter().filter(|d| d.user.is_none()) {
                findings.push(account_finding(
                    CheckId::VirtualMfaUnassigned,
                    &d.serial_number,
                    format!("virtual MFA device {} is not assigned to any user", d.serial_number),
                ));
            }
        }
    }
    if let Ok(pp) = &inv.password_policy {
        if evaluated(CheckId::PasswordPolicyWeak) {
            if let Some(message) = password_policy_weakness(pp.as_ref(), policy) {
                findings.push(account_finding(CheckId::PasswordPolicyWeak, "account", message));
            }
        }
    }
}

fn password_policy_weakness(
    pp: Option<&crate::model::PasswordPolicy>,
    policy: &AuditPolicy,
) -> Option<String> {
    let Some(pp) = pp else {
        return Some("the account has no password policy".into());
    };
    let want = &policy.password;
    let mut weak = Vec::new();
    if pp.minimum_length < want.min_length {
        weak.push(format!("minimum length {} < {}", pp.minimum_length, want.min_length));
    }
    match pp.reuse_prevention {
        Some(n) if n >= want.reuse_prevention => {}
        Some(n) => weak.push(format!("reuse prevention {n} < {}", want.reuse_prevention)),
        None => weak.push("password reuse is not prevented".into()),
    }
    if want.require_all_classes {
        for (required, what) in [
            (pp.require_uppercase, "uppercase"),
            (pp.require_lowercase, "lowercase"),
            (pp.require_numbers, "numbers"),
            (pp.require_symbols, "symbols"),
        ] {
            if !required {
                weak.push(format!("{what} not required"));
            }
        }
    }
    (!weak.is_empty()).then(|| format!("password policy is weak: {}", weak.join(", ")))
}
