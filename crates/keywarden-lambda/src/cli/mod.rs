//! The `keywarden` binary as a command-line tool, when no Lambda runtime started it.
//!
//! One code path with the function: a command builds the event the Lambda would receive,
//! hands it to the same [`crate::Function::handle`], then renders what came back. The
//! settings are the function's own ([`args::SettingsArgs`]), read from the flags first and
//! the environment second, through the same parser and bounds.

pub mod args;
pub mod gate;
pub mod progress;
pub mod render;
pub mod source;

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use chrono::Utc;
use clap::Parser;
use indicatif::ProgressBar;
use keywarden_core::export::document::{Document, DocumentError};
use keywarden_core::{ConfigError, ReadFailure};
use serde_json::{json, Value};
use thiserror::Error;

use self::args::{AwsArgs, Cli, Commands, OrgCommands, OutputArgs, SettingsArgs};
use self::gate::Verdict;
use self::render::Style;
use crate::error::HandlerError;

/// Why a command ended without a result; every one exits 2.
#[derive(Debug, Error)]
pub enum CliError {
    /// The run itself was refused or failed (bad request, unknown user, a read it needs).
    #[error(transparent)]
    Handler(#[from] HandlerError),
    /// A setting, from a flag or the environment, is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// Which file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A source is not a keywarden report.
    #[error("{path}: {source}")]
    Document {
        /// The file or S3 object.
        path: String,
        /// Why.
        source: DocumentError,
    },
    /// Reading the S3 archive failed.
    #[error("{0}")]
    Read(ReadFailure),
    /// Flags that contradict each other, or a source with nothing in it.
    #[error("{0}")]
    Usage(String),
    /// The result could not be serialised.
    #[error("could not write the result: {0}")]
    Render(String),
}

/// Parses the command line, runs it, and turns the outcome into the exit code.
pub async fn main() -> ExitCode {
    let cli = Cli::parse();
    let no_colour = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let stderr_terminal = std::io::stderr().is_terminal();
    let bar = progress::init(stderr_terminal, stderr_terminal && !no_colour);
    let outcome = run(cli, &bar, no_colour).await;
    bar.finish_and_clear();
    match outcome {
        Ok(verdict) => {
            if let Verdict::Incomplete(why) = &verdict {
                for reason in why {
                    eprintln!("incomplete: {reason}");
                }
            }
            verdict.exit_code()
        }
        Err(e) => {
            eprintln!("keywarden: {e}");
            ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli, bar: &ProgressBar, no_colour: bool) -> Result<Verdict, CliError> {
    let out = Out { bar, no_colour };
    match cli.command {
        Commands::Audit(a) => {
            let mut event = json!({"action": "audit", "notify": a.notify});
            if !a.users.is_empty() {
                event["users"] = json!(a.users);
            }
            invoke(event, &a.settings, &[], &a.aws, &a.output, out).await
        }
        Commands::Rotate(r) => {
            let forced: &[(&str, &str)] = if r.enforce { &[("ROTATION_MODE", "enforce")] } else { &[] };
            let event =
                json!({"action": "rotate", "users": r.users, "dry_run": !r.enforce, "notify": r.notify});
            invoke(event, &r.settings, forced, &r.aws, &r.output, out).await
        }
        Commands::Org { command: OrgCommands::Audit(o) } => {
            let event = json!({"action": "audit", "notify": o.notify});
            invoke(event, &o.settings, &[("ORGANIZATION", "true")], &o.aws, &o.output, out).await
        }
        Commands::Report(r) => {
            let documents = source::load(&r.sources, r.history, &r.aws).await?;
            let Some(latest) = documents.iter().max_by_key(|d| d.generated_at()) else {
                return Err(CliError::Usage(format!("no keywarden reports in {}", r.sources.join(", "))));
            };
            if let Some(path) = &r.html {
                let page = keywarden_core::export::html::render(&documents, Utc::now());
                std::fs::write(path, page).map_err(|source| CliError::Io { path: path.clone(), source })?;
                eprintln!("wrote {} ({} runs)", path.display(), documents.len());
            }
            let region = r.aws.region.clone().or_else(|| std::env::var("AWS_REGION").ok());
            out.write(latest, &r.output, region.as_deref().unwrap_or("us-east-1"))?;
            Ok(gate::judge(latest, r.output.fail_on, r.output.allow_unknown))
        }
    }
}

/// The settings for this command: what it forces, then the flags, then the environment.
/// A flag that contradicts what the command forces is refused rather than overruled.
fn lookup<'a>(
    settings: &'a SettingsArgs,
    forced: &'a [(&'a str, &'a str)],
) -> Result<impl Fn(&str) -> Option<String> + 'a, CliError> {
    for (name, value) in forced {
        if let Some(given) = settings.overrides.get(name).filter(|g| g.trim() != *value) {
            return Err(CliError::Usage(format!(
                "--{} {given} contradicts this command, which needs {name}={value}",
                args::flag_name(name)
            )));
        }
    }
    let forced: BTreeMap<&str, &str> = forced.iter().copied().collect();
    Ok(move |name: &str| {
        forced
            .get(name)
            .map(|v| (*v).to_string())
            .or_else(|| settings.overrides.get(name).cloned())
            .or_else(|| std::env::var(name).ok())
    })
}

async fn invoke(
    event: Value,
    settings: &SettingsArgs,
    forced: &[(&str, &str)],
    aws: &AwsArgs,
    output: &OutputArgs,
    out: Out<'_>,
) -> Result<Verdict, CliError> {
    let config = keywarden_core::Config::from_lookup(lookup(settings, forced)?)?;
    let sdk = crate::sdk_config(aws.profile.as_deref(), aws.region.as_deref()).await;
    let region = sdk.region().map_or_else(|| "us-east-1".to_string(), ToString::to_string);
    let function = crate::wire(config, &sdk).await;
    let now = Utc::now();
    let run_id = format!("cli-{}-{}", now.format("%Y%m%dT%H%M%SZ"), std::process::id());
    // No deadline on a laptop: every account and user is started.
    let raw = function.handle(event, &run_id, now, &|| None).await?;
    let document = Document::parse(raw.get().as_bytes())
        .map_err(|source| CliError::Document { path: "the run's report".into(), source })?;
    out.write(&document, output, &region)?;
    Ok(gate::judge(&document, output.fail_on, output.allow_unknown))
}

/// Where results go.
#[derive(Debug, Clone, Copy)]
struct Out<'a> {
    bar: &'a ProgressBar,
    no_colour: bool,
}

impl Out<'_> {
    fn write(&self, document: &Document, output: &OutputArgs, region: &str) -> Result<(), CliError> {
        let style = match &output.output {
            Some(_) => Style { colour: false, terminal: false },
            None => {
                let terminal = std::io::stdout().is_terminal();
                Style { colour: terminal && !self.no_colour, terminal }
            }
        };
        let text = render::render(document, output.format, style, region, Utc::now())
            .map_err(|e| CliError::Render(e.to_string()))?;
        match &output.output {
            Some(path) => {
                std::fs::write(path, text).map_err(|source| CliError::Io { path: path.clone(), source })
            }
            None => self.bar.suspend(|| {
                let mut stdout = std::io::stdout().lock();
                stdout
                    .write_all(text.as_bytes())
                    .and_then(|()| stdout.flush())
                    .map_err(|source| CliError::Io { path: PathBuf::from("stdout"), source })
            }),
        }
    }
}
