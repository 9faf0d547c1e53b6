//! Analyses of identity policies, built on the evaluator of [`crate::policy`]: whether a
//! self-service policy reaches other users' credentials ([`overbroad`]), and whether MFA is
//! enforced for a user ([`mfa`]).
//!
//! They live apart from the policy language because they ask questions IAM itself never
//! does ("is there any request that…"), answered with probes and glob automata; `policy`
//! knows nothing of them.

mod concrete;
mod credentials;
pub mod mfa;
pub mod overbroad;

pub use mfa::{Holds, MfaEnforcement, MfaGap, MfaProber, PreMfaScope, Session, PRE_MFA_BOOTSTRAP_ACTIONS};
pub use overbroad::{
    overbroad_in, overbroad_self_service, overbroad_self_service_json, Overbroad, OverbroadIn, PROBE_CALLER,
    PROBE_VICTIM_MFA_ARN, PROBE_VICTIM_USER_ARN,
};
