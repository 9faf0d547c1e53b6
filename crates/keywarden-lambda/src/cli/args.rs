//! The command line: subcommands with `clap`'s derive, and one flag per setting generated
//! from the settings' own definitions ([`keywarden_core::config::VARIABLES`]), so the flag,
//! the environment variable, the README row and the default cannot drift apart.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::{Arg, ArgMatches, Args, Command, FromArgMatches, Parser, Subcommand, ValueEnum};
use keywarden_core::catalogue::Severity;
use keywarden_core::config::VARIABLES;

/// keywarden from a laptop or a CI job: the same audit and rotation as the Lambda function,
/// with your own AWS credentials (AWS_PROFILE, SSO, environment).
#[derive(Debug, Parser)]
#[command(name = "keywarden", version, propagate_version = true)]
#[command(
    after_help = "Exit codes: 0 clean; 1 open findings at or above --fail-on; 2 an error, or any check \
                  unknown (missing data is never a pass; --allow-unknown relaxes this).\n\
                  Logs go to stderr (RUST_LOG, default warn); results to stdout or --output."
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Commands,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Commands {
    /// Audit the account's IAM users. Reads only (unless REPORT_BUCKET is set: then the report and its page are archived there).
    Audit(AuditArgs),
    /// Plan the next rotation step of these users; carry it out only with --enforce.
    Rotate(RotateArgs),
    /// Render reports from a file, a directory of archived reports, or the S3 archive.
    Report(ReportArgs),
    /// Many accounts of an AWS Organization, from its management or delegated account.
    Org {
        /// What to do with the organization.
        #[command(subcommand)]
        command: OrgCommands,
    },
}

/// `keywarden org …`.
#[derive(Debug, Subcommand)]
pub enum OrgCommands {
    /// Audit every selected member account through its audit role, in this process.
    Audit(OrgAuditArgs),
}

/// `keywarden audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Only these users (comma-separated); account-level checks are then `skipped`.
    #[arg(long, value_delimiter = ',', value_name = "USER,...")]
    pub users: Vec<String>,
    /// Publish the digest to TOPIC_ARN, as a scheduled run would.
    #[arg(long)]
    pub notify: bool,
    /// Rendering and the exit code.
    #[command(flatten)]
    pub output: OutputArgs,
    /// Credentials and region.
    #[command(flatten)]
    pub aws: AwsArgs,
    /// The function's settings.
    #[command(flatten)]
    pub settings: SettingsArgs,
}

/// `keywarden rotate`.
#[derive(Debug, Args)]
pub struct RotateArgs {
    /// Whose keys (comma-separated); required, so a rotation never widens to every user.
    #[arg(long, value_delimiter = ',', required = true, value_name = "USER,...")]
    pub users: Vec<String>,
    /// Carry the steps out (ROTATION_MODE=enforce). Without it nothing in AWS changes.
    #[arg(long)]
    pub enforce: bool,
    /// Publish the digest and the rotation events to TOPIC_ARN.
    #[arg(long)]
    pub notify: bool,
    /// Rendering and the exit code.
    #[command(flatten)]
    pub output: OutputArgs,
    /// Credentials and region.
    #[command(flatten)]
    pub aws: AwsArgs,
    /// The function's settings.
    #[command(flatten)]
    pub settings: SettingsArgs,
}

/// `keywarden org audit`.
#[derive(Debug, Args)]
pub struct OrgAuditArgs {
    /// Publish the organization digest to TOPIC_ARN.
    #[arg(long)]
    pub notify: bool,
    /// Rendering and the exit code.
    #[command(flatten)]
    pub output: OutputArgs,
    /// Credentials and region.
    #[command(flatten)]
    pub aws: AwsArgs,
    /// The function's settings (ORGANIZATION is set for you).
    #[command(flatten)]
    pub settings: SettingsArgs,
}

/// `keywarden report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Report files, directories of archived reports (as `aws s3 sync` mirrors the bucket),
    /// or `s3://bucket[/prefix]`.
    #[arg(required = true, value_name = "SOURCE")]
    pub sources: Vec<String>,
    /// Write the self-contained HTML page here.
    #[arg(long, value_name = "OUT.html")]
    pub html: Option<PathBuf>,
    /// At most this many archived reports are read from an S3 source (the newest).
    #[arg(long, default_value_t = 400, value_name = "N")]
    pub history: usize,
    /// Rendering of the latest report and the exit code.
    #[command(flatten)]
    pub output: OutputArgs,
    /// Credentials and region, for an S3 source.
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// How results are written, and what makes the exit code non-zero.
#[derive(Debug, Clone, Args)]
pub struct OutputArgs {
    /// How to write the result.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Write the result to this file instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Exit 1 when an open finding is at least this severe.
    #[arg(long, value_enum, default_value_t = FailOn::High, value_name = "SEVERITY")]
    pub fail_on: FailOn,
    /// Do not exit 2 for unknown checks or failed reads (the report still lists them).
    #[arg(long)]
    pub allow_unknown: bool,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A readable table (colour by severity on a terminal, never with NO_COLOR).
    Table,
    /// The report as the function returns it.
    Json,
    /// OCSF 1.3.0 Compliance Finding events (a JSON array).
    Ocsf,
    /// AWS Security Finding Format, as BatchImportFindings takes it (a JSON array).
    Asff,
}

/// The `--fail-on` threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    /// Any open finding.
    Info,
    /// Low and above.
    Low,
    /// Medium and above.
    Medium,
    /// High and above (the default).
    High,
    /// Critical only.
    Critical,
    /// Findings never fail (errors and unknown checks still do).
    Never,
}

impl FailOn {
    /// The least severity that fails, `None` for `never`.
    pub fn threshold(self) -> Option<Severity> {
        match self {
            FailOn::Info => Some(Severity::Info),
            FailOn::Low => Some(Severity::Low),
            FailOn::Medium => Some(Severity::Medium),
            FailOn::High => Some(Severity::High),
            FailOn::Critical => Some(Severity::Critical),
            FailOn::Never => None,
        }
    }
}

/// Where AWS credentials come from: the SDK's standard chain, optionally with a profile.
#[derive(Debug, Clone, Args)]
pub struct AwsArgs {
    /// A profile of ~/.aws/config (SSO profiles included); default: AWS_PROFILE, then the chain.
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// The region; default: AWS_REGION, then the profile's.
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
}

/// The help heading of the generated setting flags.
const SETTINGS_HEADING: &str = "Settings (each overrides its environment variable)";

/// The value of each setting flag given, by variable name.
#[derive(Debug, Clone, Default)]
pub struct SettingsArgs {
    /// Variable name → the flag's value.
    pub overrides: BTreeMap<&'static str, String>,
}

/// `MAX_KEY_AGE_DAYS` → `max-key-age-days`.
pub fn flag_name(variable: &str) -> String {
    variable.to_ascii_lowercase().replace('_', "-")
}

impl FromArgMatches for SettingsArgs {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let mut overrides = BTreeMap::new();
        for v in VARIABLES {
            if let Some(value) = matches.get_one::<String>(v.name()) {
                overrides.insert(v.name(), value.clone());
            }
        }
        Ok(Self { overrides })
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

impl Args for SettingsArgs {
    fn augment_args(cmd: Command) -> Command {
        VARIABLES.iter().fold(cmd, |cmd, v| {
            cmd.arg(
                Arg::new(v.name())
                    .long(flag_name(v.name()))
                    .value_name("VALUE")
                    .help(format!(
                        "{} [env: {}] [default: {}]",
                        v.doc().replace('`', ""),
                        v.name(),
                        v.shown_default().replace('`', "")
                    ))
                    .help_heading(SETTINGS_HEADING),
            )
        })
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_consistent_and_every_setting_has_a_flag() {
        Cli::command().debug_assert();
        let audit = Cli::try_parse_from(["keywarden", "audit", "--max-key-age-days", "30", "--users", "a,b"]);
        let Ok(Cli { command: Commands::Audit(audit) }) = audit else {
            panic!("audit did not parse: {audit:?}")
        };
        assert_eq!(audit.users, ["a", "b"]);
        assert_eq!(audit.settings.overrides.get("MAX_KEY_AGE_DAYS").map(String::as_str), Some("30"));
        assert_eq!(audit.settings.overrides.len(), 1);
        let help = Cli::command().find_subcommand_mut("audit").map(|c| c.render_long_help().to_string());
        let help = help.unwrap_or_default();
        for v in VARIABLES {
            assert!(help.contains(&format!("--{}", flag_name(v.name()))), "no flag for {}", v.name());
        }
    }

    #[test]
    fn rotate_needs_users_and_report_needs_a_source() {
        assert!(Cli::try_parse_from(["keywarden", "rotate"]).is_err());
        assert!(Cli::try_parse_from(["keywarden", "report"]).is_err());
        assert!(Cli::try_parse_from(["keywarden", "audit", "--fail-on", "severe"]).is_err());
        assert!(Cli::try_parse_from(["keywarden", "audit", "--no-such-setting", "1"]).is_err());
    }
}
