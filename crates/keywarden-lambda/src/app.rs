//! One invocation, start to finish: parse, collect, evaluate, enrich, report, notify.
//!
//! Generic over the core's ports so the whole flow is unit-tested with in-memory fakes;
//! `main` only wires the AWS adapters in.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use keywarden_core::checks::{apply_live, evaluate, live_request, UserScope};
use keywarden_core::ports::{Directory, Notifier};
use keywarden_core::report::RunInfo;
use keywarden_core::{Config, ReadFailure, Report};
use serde_json::value::RawValue;
use serde_json::Value;
use tracing::{info, warn};

use crate::error::HandlerError;
use crate::event::{self, Action, Request, Trigger};

/// What a run needs: configuration and the ports.
#[derive(Debug)]
pub struct App<D, N> {
    pub config: Config,
    pub directory: D,
    /// `None` when no topic is configured.
    pub notifier: Option<N>,
}

impl<D: Directory, N: Notifier> App<D, N> {
    /// Handles one event; `run_id` is the Lambda request id, so logs and report correlate.
    pub async fn handle(
        &self,
        event: Value,
        run_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Box<RawValue>, HandlerError> {
        let request = event::parse(event)?;
        let mut report = self.run(&request, run_id, now).await?;
        let json = report
            .to_json_capped(self.config.report_max_bytes)
            .map_err(|e| HandlerError::Internal(e.to_string()))?;
        if report.findings_omitted > 0 {
            warn!(
                omitted = report.findings_omitted,
                "report exceeded REPORT_MAX_BYTES; least severe findings left out"
            );
        }
        RawValue::from_string(json).map_err(|e| HandlerError::Internal(e.to_string()))
    }

    pub async fn run(
        &self,
        request: &Request,
        run_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Report, HandlerError> {
        if request.action == Action::Rotate {
            return Err(HandlerError::BadRequest(
                "action `rotate` is not available in this version; use `audit`".into(),
            ));
        }
        let mut warnings = Vec::new();
        let notify = match (request.notify, &request.trigger) {
            (Some(true), _) if self.notifier.is_none() => {
                return Err(HandlerError::BadRequest("`notify` is true but TOPIC_ARN is not set".into()))
            }
            (Some(n), _) => n,
            (None, Trigger::OnDemand) => false,
            (None, Trigger::Scheduled) if !self.config.notify_scheduled => false,
            (None, Trigger::Scheduled) => {
                if self.notifier.is_none() {
                    warnings.push("TOPIC_ARN is not set: this scheduled run alerted nobody".to_string());
                }
                self.notifier.is_some()
            }
        };

        // The clients live as long as the warm process; count only this invocation's calls.
        let calls_before = self.directory.api_calls();
        let inventory = self.directory.collect().await;
        let scope = match &request.users {
            None => UserScope::All,
            Some(users) => {
                check_users_exist(&inventory, users)?;
                UserScope::Only(users.clone())
            }
        };

        let mut evaluation = evaluate(&inventory, &self.config.audit, &scope, now);
        let live_req = live_request(&evaluation.findings);
        let mut errors: Vec<ReadFailure> = [
            inventory.account_id.as_ref().err(),
            inventory.credential_report.as_ref().err(),
            inventory.authorization.as_ref().err(),
            inventory.virtual_mfa_devices.as_ref().err(),
            inventory.account_summary.as_ref().err(),
            inventory.password_policy.as_ref().err(),
        ]
        .into_iter()
        .flatten()
        .cloned()
        .collect();
        if !live_req.is_empty() {
            let live = self.directory.live_details(&live_req).await;
            errors.extend(live.access_keys.values().filter_map(|r| r.as_ref().err()).cloned());
            errors.extend(live.login_profiles.values().filter_map(|r| r.as_ref().err()).cloned());
            apply_live(&mut evaluation, &live);
        }
        evaluation.warnings.extend(warnings);

        let run = RunInfo {
            run_id: run_id.to_string(),
            account_id: inventory.account_id.clone().unwrap_or_else(|_| "unknown".into()),
            action: request.action.as_str().to_string(),
            mode: self.config.rotation_mode,
            generated_at: now,
            data_as_of: inventory.credential_report.as_ref().ok().map(|r| r.generated_at),
        };
        let mut api_calls = self.directory.api_calls();
        for (op, n) in &calls_before {
            if let Some(total) = api_calls.get_mut(op) {
                *total -= (*n).min(*total);
            }
        }
        api_calls.retain(|_, n| *n > 0);
        let mut report = Report::build(run, evaluation, errors, api_calls);
        info!(
            account = %report.account_id,
            users = report.summary.users_scanned,
            findings = report.summary.findings,
            errors = report.errors.len(),
            api_calls = report.summary.api_calls_total,
            "audit finished"
        );

        if notify {
            if let Some(notifier) = &self.notifier {
                match notifier.publish(&report).await {
                    Ok(id) => info!(message_id = %id, "summary published"),
                    Err(e) => {
                        warn!(error = %e, "could not publish the summary");
                        report.errors.push(ReadFailure::new(
                            "sns:Publish",
                            e.code.clone(),
                            e.message.clone(),
                        ));
                    }
                }
            }
        }
        Ok(report)
    }
}

/// Refuses a run scoped to users that do not exist, before anything is evaluated. When the
/// user list itself could not be read, the run goes on and its report says so.
fn check_users_exist(
    inventory: &keywarden_core::Inventory,
    users: &BTreeSet<String>,
) -> Result<(), HandlerError> {
    // Both lists, because a user created after the credential report is only in the other.
    if inventory.credential_report.is_err() && inventory.authorization.is_err() {
        return Ok(());
    }
    let mut known: BTreeSet<&str> = BTreeSet::new();
    if let Ok(r) = &inventory.credential_report {
        known.extend(r.users.iter().map(|u| u.user.as_str()));
    }
    if let Ok(a) = &inventory.authorization {
        known.extend(a.users.keys().map(String::as_str));
    }
    let unknown: Vec<String> = users.iter().filter(|u| !known.contains(u.as_str())).cloned().collect();
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(HandlerError::UnknownUsers(unknown))
    }
}
