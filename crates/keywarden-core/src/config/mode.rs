//! What the function may do to credentials (`ROTATION_MODE`).
//!
//! Its own module so that the settings can parse it and the configuration can hold it without
//! either importing the other; its default is in [`super::settings::ROTATION_MODE`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// What the function may do to credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RotationMode {
    /// Audit only; no rotation is planned.
    Off,
    /// Plan and report rotations, change nothing. The default: nobody's keys change until a
    /// human has read what keywarden would do.
    DryRun,
    /// Carry out the plan.
    Enforce,
}

impl RotationMode {
    /// The spelling `ROTATION_MODE` and the report use, so that what an operator reads back
    /// is what they can write.
    pub fn as_str(self) -> &'static str {
        match self {
            RotationMode::Off => "off",
            RotationMode::DryRun => "dry-run",
            RotationMode::Enforce => "enforce",
        }
    }
}

impl fmt::Display for RotationMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `ROTATION_MODE` that is none of the three: refused rather than guessed, since guessing
/// `enforce` from a typo would change people's keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("expected one of off, dry-run, enforce")]
pub struct UnknownRotationMode;

impl FromStr for RotationMode {
    type Err = UnknownRotationMode;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "off" => Ok(RotationMode::Off),
            "dry-run" => Ok(RotationMode::DryRun),
            "enforce" => Ok(RotationMode::Enforce),
            _ => Err(UnknownRotationMode),
        }
    }
}
