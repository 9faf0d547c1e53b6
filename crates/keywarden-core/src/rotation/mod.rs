//! The rotation planner: from one user's live key state, keywarden's own record and `now`,
//! decide the one next step.
//!
//! It is a pure state machine so that its safety rules are proved by property tests rather
//! than hoped for: never more than two keys, never leave a user without an active key it
//! had, never deactivate or delete a key without a stored, active successor, never touch an
//! exempt user, never fight a human who re-activated a key. The executor (in
//! `keywarden-aws`) re-reads live state before every write and carries out exactly the step
//! planned here.
//!
//! ```text
//!  one active key, age ≥ rotate_after
//!    │ intent tag → CreateAccessKey → store secret → grace tag
//!    ▼
//!  GRACE (both active) ── old key used within the in-use window at the end? ─► HOLD
//!    │ after grace                                                          │ not used
//!    ▼                                                                      ▼
//!  INACTIVE (old deactivated) ── re-activated by a human? ─► HOLD
//!    │ after the inactive period, unused
//!    ▼
//!  DELETED (old key deleted, record cleared)
//! ```
//!
//! The stages inside, each importing only the ones before it: [`record`] (the user tag
//! that lets the next run recover), [`secret`] (what the user's secret may hold),
//! [`live`] (a user's keys as read just now), [`step`] (what the planner may decide) and
//! [`planner`] (the decision).

pub mod live;
pub mod planner;
pub mod record;
pub mod secret;
pub mod step;

pub use live::{LiveKey, LiveUser, UserKeys};
pub use planner::{candidates, plan, RotationPolicy, IN_FLIGHT};
pub use record::{RecordError, RotationState, ROTATION_TAG};
pub use secret::{key_of_version, version_id, SecretFacts, SecretState, MANAGED_SECRET_TAG};
pub use step::{HoldCause, Plan, Step, StepKind};
