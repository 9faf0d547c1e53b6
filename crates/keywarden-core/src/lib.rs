//! keywarden's core: the domain model, the check catalogue, the checks, configuration and
//! the report, with no I/O.
//!
//! Everything here is a pure function of its inputs (including `now`), which is why the
//! crate has no tokio and no AWS SDK: the checks that decide whether someone's credentials
//! are a risk are tested exhaustively without a network, a clock or an account. The AWS
//! side lives in `keywarden-aws` and `keywarden-sns`, behind the traits of [`ports`].
//!
//! Data flows one way: an [`model::Inventory`] (collected by a [`ports::Directory`]) is
//! evaluated by [`checks::evaluate`] into findings, enriched by live reads
//! ([`checks::apply_live`]) and assembled into a [`report::Report`].

#![warn(missing_docs)]

pub mod analysis;
pub mod catalogue;
pub mod checks;
pub mod config;
pub mod credential_report;
pub mod desired;
pub mod export;
#[cfg(feature = "mock")]
pub mod failure;
#[cfg(feature = "mock")]
pub mod fixtures;
#[cfg(feature = "mock")]
pub mod fuzzing;
mod json;
#[cfg(feature = "mock")]
pub mod mock;
pub mod model;
pub mod organization;
pub mod policy;
pub mod ports;
pub mod report;
pub mod rotation;
mod text;

pub use catalogue::{CheckId, Severity};
pub use checks::Finding;
pub use checks::{evaluate, UserScope};
pub use config::{AuditPolicy, Config, ConfigError, RotationMode};
pub use credential_report::CredentialReport;
pub use model::{Collected, Inventory, ReadFailure};
pub use report::Report;
