//! The account-wide reads besides the report and the authorization details: who we are,
//! the root account's flags, the password policy and the virtual MFA devices. Each is one
//! call (or one paged listing) whatever the number of users.

use aws_sdk_iam::types::SummaryKeyType;
use keywarden_core::model::{AccountSummary, PasswordPolicy, VirtualMfaDevice};

use super::{IamDirectory, MAX_PAGE};
use crate::error::AwsError;
use crate::sdk::to_chrono;

impl IamDirectory {
    /// Asks STS who we are: the one source of the account id that needs no permission and
    /// does not depend on the credential report (whose root row emulators omit, and which
    /// may be the very read that failed).
    pub async fn account_id(&self) -> Result<String, AwsError> {
        const OP: &str = "sts:GetCallerIdentity";
        let out = self.sts.get_caller_identity().send().await.map_err(|e| AwsError::from_sdk(OP, &e))?;
        out.account()
            .map(str::to_string)
            .ok_or(AwsError::Malformed { operation: OP, message: "no Account in the response".into() })
    }

    /// Every virtual MFA device with its user, all pages: the credential report says only
    /// whether a user has MFA, not whether it is a virtual device or a hardware one.
    pub async fn virtual_mfa_devices(&self) -> Result<Vec<VirtualMfaDevice>, AwsError> {
        const OP: &str = "iam:ListVirtualMFADevices";
        let mut devices = Vec::new();
        let mut items =
            self.iam.list_virtual_mfa_devices().max_items(MAX_PAGE).into_paginator().items().send();
        while let Some(d) = items.next().await {
            let d = d.map_err(|e| AwsError::from_sdk(OP, &e))?;
            devices.push(VirtualMfaDevice {
                serial_number: d.serial_number().to_string(),
                user: d.user().map(|u| u.user_name().to_string()),
                enable_date: d.enable_date().and_then(to_chrono),
            });
        }
        Ok(devices)
    }

    /// The root account's MFA and access-key flags: the one source that does not depend on
    /// the credential report's root row, which emulators omit.
    pub async fn account_summary(&self) -> Result<AccountSummary, AwsError> {
        const OP: &str = "iam:GetAccountSummary";
        let out = self.iam.get_account_summary().send().await.map_err(|e| AwsError::from_sdk(OP, &e))?;
        let map = out
            .summary_map()
            .ok_or(AwsError::Malformed { operation: OP, message: "no SummaryMap".into() })?;
        let flag = |key: SummaryKeyType| -> Result<bool, AwsError> {
            map.get(&key).map(|v| *v > 0).ok_or(AwsError::Malformed {
                operation: OP,
                message: format!("SummaryMap has no {}", key.as_str()),
            })
        };
        Ok(AccountSummary {
            root_mfa_enabled: flag(SummaryKeyType::AccountMfaEnabled)?,
            root_access_keys_present: flag(SummaryKeyType::AccountAccessKeysPresent)?,
        })
    }

    /// `Ok(None)` when the account has no password policy (`NoSuchEntity`): having none is a
    /// finding, not a read error.
    pub async fn password_policy(&self) -> Result<Option<PasswordPolicy>, AwsError> {
        const OP: &str = "iam:GetAccountPasswordPolicy";
        match self.iam.get_account_password_policy().send().await {
            Ok(out) => {
                let p = out
                    .password_policy()
                    .ok_or(AwsError::Malformed { operation: OP, message: "no PasswordPolicy".into() })?;
                Ok(Some(PasswordPolicy {
                    minimum_length: p.minimum_password_length().map_or(0, |n| n.max(0) as u32),
                    require_symbols: p.require_symbols(),
                    require_numbers: p.require_numbers(),
                    require_uppercase: p.require_uppercase_characters(),
                    require_lowercase: p.require_lowercase_characters(),
                    reuse_prevention: p.password_reuse_prevention().map(|n| n.max(0) as u32),
                    max_age_days: p.max_password_age().map(|n| n.max(0) as u32),
                }))
            }
            Err(e) if e.as_service_error().is_some_and(|se| se.is_no_such_entity_exception()) => Ok(None),
            Err(e) => Err(AwsError::from_sdk(OP, &e)),
        }
    }
}
