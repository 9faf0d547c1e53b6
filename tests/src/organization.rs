//! An emulated AWS organization in moto: the management account (moto's default) creates
//! the organization and its member accounts, and each member is seeded through an assumed
//! role, whose credentials moto maps to the member's account.

use aws_sdk_organizations::types::OrganizationFeatureSet;

use crate::call;
use crate::seed::Aws;

/// The role the seeding assumes in a member (the one Organizations creates in new accounts).
pub const SEED_ROLE: &str = "OrganizationAccountAccessRole";

/// The management account's Organizations client.
pub async fn organizations(endpoint: &str) -> aws_sdk_organizations::Client {
    let config = crate::seed::sdk_config(endpoint, crate::seed::ADMIN_KEY_ID, "testing").await;
    aws_sdk_organizations::Client::new(&config)
}

/// Creates the organization (all features) with moto's default account as management.
pub async fn create_organization(org: &aws_sdk_organizations::Client) {
    call!("CreateOrganization", org.create_organization().feature_set(OrganizationFeatureSet::All).send());
}

/// Creates a member account named `name`; returns its id.
pub async fn create_account(org: &aws_sdk_organizations::Client, name: &str) -> String {
    let out = call!(
        format!("CreateAccount {name}"),
        org.create_account().account_name(name).email(format!("{name}@example.invalid")).send()
    );
    out.create_account_status
        .and_then(|s| s.account_id)
        .unwrap_or_else(|| panic!("CreateAccount {name} returned no account id"))
}

/// Clients for a member account.
pub async fn member(endpoint: &str, account_id: &str) -> Aws {
    Aws::assume(endpoint, &format!("arn:aws:iam::{account_id}:role/{SEED_ROLE}")).await
}
