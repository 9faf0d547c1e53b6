//! In-memory implementations of the ports, for tests of code that drives them.
//!
//! Shipped behind the `mock` feature (enabled only in dev-dependencies), in the manner of
//! mountpoint-s3's mock client: the handler's tests exercise the real flow against these
//! instead of swapping code under `#[cfg(test)]`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use crate::config::AccountSelection;
use crate::export::asff::AsffFinding;
use crate::model::{Inventory, LiveDetails, LiveRequest, ReadFailure};
use crate::organization::{AccountEntry, AccountRef, Listing, MemberAccount, OrgReport};
use crate::ports::{
    Directory, Executed, FindingSink, ImportOutcome, Member, Notifier, NotifyError, Organization,
    ReportStore, Rotator, RunStore,
};
use crate::report::{Report, RotationAction};
use crate::rotation::{HoldCause, LiveKey, LiveUser, RotationState, SecretState, Step, ROTATION_TAG};

/// A directory that answers from a fixed inventory and counts one call per read.
#[derive(Debug)]
pub struct MockDirectory {
    /// What every [`Directory::collect`] returns, cloned; tests may edit it between runs.
    pub inventory: Inventory,
    /// What every [`Directory::live_details`] returns, whatever users the request names.
    pub live: LiveDetails,
    collects: AtomicU64,
    lives: AtomicU64,
    requests: Mutex<Vec<LiveRequest>>,
}

impl MockDirectory {
    /// A directory with no calls counted yet.
    pub fn new(inventory: Inventory, live: LiveDetails) -> Self {
        Self {
            inventory,
            live,
            collects: AtomicU64::new(0),
            lives: AtomicU64::new(0),
            requests: Mutex::new(Vec::new()),
        }
    }

    /// How many times the inventory was read.
    pub fn collects(&self) -> u64 {
        self.collects.load(Ordering::SeqCst)
    }

    /// The live requests received, in order.
    pub fn live_requests(&self) -> Vec<LiveRequest> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

impl Directory for MockDirectory {
    async fn collect(&self) -> Inventory {
        self.collects.fetch_add(1, Ordering::SeqCst);
        self.inventory.clone()
    }

    async fn live_details(&self, request: &LiveRequest) -> LiveDetails {
        self.lives.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut r) = self.requests.lock() {
            r.push(request.clone());
        }
        self.live.clone()
    }

    fn api_calls(&self) -> BTreeMap<String, u64> {
        let mut calls = BTreeMap::new();
        let collects = self.collects.load(Ordering::SeqCst);
        if collects > 0 {
            calls.insert("mock:Collect".to_string(), collects);
        }
        let lives = self.lives.load(Ordering::SeqCst);
        if lives > 0 {
            calls.insert("mock:LiveDetails".to_string(), lives);
        }
        calls
    }
}

/// A notifier that records what it was asked to publish, or fails with a given error.
#[derive(Debug, Default)]
pub struct MockNotifier {
    /// When set, every publish fails with this error and records nothing.
    pub fail_with: Option<NotifyError>,
    published: Mutex<Vec<Report>>,
    rotations: Mutex<Vec<RotationAction>>,
    organizations: Mutex<Vec<OrgReport>>,
}

impl MockNotifier {
    /// A notifier whose every publish fails with `error`.
    pub fn failing(error: NotifyError) -> Self {
        Self { fail_with: Some(error), ..Self::default() }
    }

    /// The rotation events published, in order.
    pub fn rotation_events(&self) -> Vec<RotationAction> {
        self.rotations.lock().map(|p| p.clone()).unwrap_or_default()
    }

    /// The reports published, in order.
    pub fn published(&self) -> Vec<Report> {
        self.published.lock().map(|p| p.clone()).unwrap_or_default()
    }

    /// The consolidated digests published, in order.
    pub fn published_organizations(&self) -> Vec<OrgReport> {
        self.organizations.lock().map(|p| p.clone()).unwrap_or_default()
    }
}

impl Notifier for MockNotifier {
    async fn publish(&self, report: &Report) -> Result<String, NotifyError> {
        if let Some(e) = &self.fail_with {
            return Err(e.clone());
        }
        let mut published =
            self.published.lock().map_err(|e| NotifyError { code: None, message: e.to_string() })?;
        published.push(report.clone());
        Ok(format!("mock-message-{}", published.len()))
    }

    async fn publish_rotation(
        &self,
        _account_id: &str,
        action: &RotationAction,
    ) -> Result<String, NotifyError> {
        if let Some(e) = &self.fail_with {
            return Err(e.clone());
        }
        let mut events =
            self.rotations.lock().map_err(|e| NotifyError { code: None, message: e.to_string() })?;
        events.push(action.clone());
        Ok(format!("mock-rotation-{}", events.len()))
    }

    async fn publish_organization(&self, report: &OrgReport) -> Result<String, NotifyError> {
        if let Some(e) = &self.fail_with {
            return Err(e.clone());
        }
        let mut published =
            self.organizations.lock().map_err(|e| NotifyError { code: None, message: e.to_string() })?;
        published.push(report.clone());
        Ok(format!("mock-organization-{}", published.len()))
    }
}

/// An in-memory IAM for rotation: steps change its users as AWS would.
#[derive(Debug, Default)]
pub struct MockRotator {
    users: Mutex<BTreeMap<String, LiveUser>>,
    /// Steps (by name) that fail instead of running.
    pub fail_steps: Vec<&'static str>,
    executed: Mutex<Vec<(String, Step)>>,
    next_key: AtomicU64,
}

impl MockRotator {
    /// An account holding `users`, keyed by [`LiveUser::user`]; their new keys are numbered from 0.
    pub fn new(users: impl IntoIterator<Item = LiveUser>) -> Self {
        Self {
            users: Mutex::new(users.into_iter().map(|u| (u.user.clone(), u)).collect()),
            ..Self::default()
        }
    }

    /// The user's current state after the steps so far; `None` for a user the mock does not hold.
    pub fn user(&self, name: &str) -> Option<LiveUser> {
        self.users.lock().ok().and_then(|u| u.get(name).cloned())
    }

    /// The steps carried out, in order.
    pub fn executed(&self) -> Vec<(String, Step)> {
        self.executed.lock().map(|e| e.clone()).unwrap_or_default()
    }
}

impl Rotator for MockRotator {
    async fn secrets(&self) -> Result<BTreeMap<String, SecretState>, ReadFailure> {
        let users = self.users.lock().map_err(|e| ReadFailure::new("mock:Secrets", None, e.to_string()))?;
        Ok(users
            .iter()
            .filter(|(_, u)| u.secret != SecretState::Missing)
            .map(|(name, u)| (name.clone(), u.secret.clone()))
            .collect())
    }

    /// Always the user's own state: the mock's secrets never go stale.
    async fn read(&self, user: &str, _listed: Option<&SecretState>) -> Result<LiveUser, ReadFailure> {
        self.user(user)
            .ok_or_else(|| ReadFailure::new("iam:ListAccessKeys", Some("NoSuchEntity".into()), user))
    }

    async fn execute(
        &self,
        live: &LiveUser,
        step: &Step,
        now: DateTime<Utc>,
    ) -> Result<Executed, ReadFailure> {
        if self.fail_steps.contains(&step.name()) {
            return Err(ReadFailure::new("mock:Execute", Some("InjectedFailure".into()), step.name()));
        }
        let mut users =
            self.users.lock().map_err(|e| ReadFailure::new("mock:Execute", None, e.to_string()))?;
        let u = users
            .get_mut(&live.user)
            .ok_or_else(|| ReadFailure::new("mock:Execute", None, "no such user"))?;
        if let Ok(mut e) = self.executed.lock() {
            e.push((live.user.clone(), step.clone()));
        }
        let mut out = Executed::default();
        let set = |u: &mut LiveUser, s: Option<RotationState>| match s {
            Some(s) => {
                u.tags.insert(ROTATION_TAG.into(), s.to_tag());
            }
            None => {
                u.tags.remove(ROTATION_TAG);
            }
        };
        match step {
            Step::Create { old } | Step::Recover { old, .. } => {
                if let Step::Recover { unstored, .. } = step {
                    u.keys.retain(|k| k.id != *unstored);
                }
                let id = format!("AKIAMOCK{:012}", self.next_key.fetch_add(1, Ordering::SeqCst));
                u.keys.push(LiveKey { id: id.clone(), active: true, created: now, last_used: None });
                let arn =
                    format!("arn:aws:secretsmanager:us-east-1:123456789012:secret:keywarden/{}", u.user);
                let mut held = match &u.secret {
                    SecretState::Usable { held, .. } => held.clone(),
                    _ => Default::default(),
                };
                held.insert(id.clone());
                u.secret = SecretState::Usable {
                    arn: arn.clone(),
                    current: Some(id.clone()),
                    held,
                    foreign_versions: false,
                };
                set(u, Some(RotationState::Grace { old: old.clone(), new: id.clone(), at: now }));
                out = Executed { new_key_id: Some(id), secret_arn: Some(arn) };
            }
            Step::Resume { old, new } => {
                set(u, Some(RotationState::Grace { old: old.clone(), new: new.clone(), at: now }))
            }
            Step::Hold { old, new, cause, .. } => {
                let (old, new) = (old.clone(), new.clone());
                set(
                    u,
                    Some(match cause {
                        HoldCause::InUse => RotationState::Hold { old, new, at: now },
                        HoldCause::HumanReactivated => RotationState::HumanHold { old, new, at: now },
                    }),
                )
            }
            Step::Deactivate { old, new } => {
                u.keys.iter_mut().filter(|k| k.id == *old).for_each(|k| k.active = false);
                set(u, Some(RotationState::Inactive { old: old.clone(), new: new.clone(), at: now }));
            }
            Step::Delete { old, .. } => {
                u.keys.retain(|k| k.id != *old);
                set(u, None);
            }
            Step::Clear => set(u, None),
            Step::None | Step::Warn { .. } | Step::Blocked { .. } => {}
        }
        Ok(out)
    }
}

/// One member account of a [`MockOrganization`]: what its directory and rotator answer, or
/// why it cannot be entered.
pub type MockMember = Result<(Inventory, Vec<LiveUser>), ReadFailure>;

/// An organization whose accounts answer from fixed inventories; each [`Organization::connect`]
/// builds a fresh [`MockDirectory`] and [`MockRotator`] from them.
#[derive(Debug)]
pub struct MockOrganization {
    /// What [`Organization::accounts`] answers.
    pub accounts: Result<Vec<MemberAccount>, ReadFailure>,
    /// Each account's member, by id; an account absent here fails to connect with `NoSuchEntity`.
    pub members: BTreeMap<String, MockMember>,
    connects: Mutex<Vec<(String, bool)>>,
}

impl MockOrganization {
    /// An organization of these accounts and members.
    pub fn new(accounts: Vec<MemberAccount>, members: BTreeMap<String, MockMember>) -> Self {
        Self { accounts: Ok(accounts), members, connects: Mutex::new(Vec::new()) }
    }

    /// Every connect asked for, `(account id, writes)`, in order.
    pub fn connects(&self) -> Vec<(String, bool)> {
        self.connects.lock().map(|c| c.clone()).unwrap_or_default()
    }
}

impl Organization for MockOrganization {
    type Directory = MockDirectory;
    type Rotator = MockRotator;
    type Sink = MockSink;

    async fn accounts(&self, _selection: &AccountSelection) -> Result<Vec<MemberAccount>, ReadFailure> {
        self.accounts.clone()
    }

    async fn connect(
        &self,
        account: &AccountRef,
        writes: bool,
    ) -> Result<Member<MockDirectory, MockRotator, MockSink>, ReadFailure> {
        if let Ok(mut c) = self.connects.lock() {
            c.push((account.id.clone(), writes));
        }
        match self.members.get(&account.id) {
            Some(Ok((inventory, users))) => Ok(Member {
                directory: MockDirectory::new(inventory.clone(), LiveDetails::default()),
                rotator: MockRotator::new(users.clone()),
                sink: MockSink::default(),
            }),
            Some(Err(e)) => Err(e.clone()),
            None => {
                Err(ReadFailure::new("sts:AssumeRole", Some("NoSuchEntity".into()), "no such mock account"))
            }
        }
    }

    fn api_calls(&self) -> BTreeMap<String, u64> {
        BTreeMap::from([("mock:ListAccounts".to_string(), 1)])
    }
}

/// An in-memory evidence archive.
#[derive(Debug, Default)]
pub struct MockStore {
    reports: Mutex<Vec<Report>>,
    pages: Mutex<Vec<(String, String)>>,
    listings: Mutex<BTreeMap<String, Listing>>,
    entries: Mutex<BTreeMap<(String, String), AccountEntry>>,
    organizations: Mutex<Vec<OrgReport>>,
}

impl MockStore {
    /// Every report saved, oldest first; [`ReportStore::previous`] answers with the account's newest.
    pub fn saved(&self) -> Vec<Report> {
        self.reports.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Every HTML page saved, oldest first, as `(run id, page)`.
    pub fn saved_pages(&self) -> Vec<(String, String)> {
        self.pages.lock().map(|p| p.clone()).unwrap_or_default()
    }
}

impl ReportStore for MockStore {
    async fn previous(&self, account_id: &str) -> Result<Option<Report>, ReadFailure> {
        Ok(self.saved().into_iter().rev().find(|r| r.run.account_id == account_id))
    }

    async fn save(&self, report: &Report) -> Result<String, ReadFailure> {
        let mut reports =
            self.reports.lock().map_err(|e| ReadFailure::new("mock:Save", None, e.to_string()))?;
        reports.push(report.clone());
        Ok(format!("mock://{}/{}.json", report.run.account_id, report.run.run_id))
    }

    async fn save_page(&self, report: &Report, page: &str) -> Result<String, ReadFailure> {
        let mut pages =
            self.pages.lock().map_err(|e| ReadFailure::new("mock:SavePage", None, e.to_string()))?;
        pages.push((report.run.run_id.clone(), page.to_string()));
        Ok(format!("mock://{}/{}.html", report.run.account_id, report.run.run_id))
    }
}

impl MockStore {
    /// Every consolidated report saved, oldest first.
    pub fn saved_organizations(&self) -> Vec<OrgReport> {
        self.organizations.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

fn poisoned(e: impl std::fmt::Display) -> ReadFailure {
    ReadFailure::new("mock:Store", None, e.to_string())
}

impl RunStore for MockStore {
    async fn save_listing(&self, listing: &Listing) -> Result<String, ReadFailure> {
        self.listings.lock().map_err(poisoned)?.insert(listing.run_id.clone(), listing.clone());
        Ok(format!("mock://runs/{}/listing.json", listing.run_id))
    }

    async fn listing(&self, run_id: &str) -> Result<Option<Listing>, ReadFailure> {
        Ok(self.listings.lock().map_err(poisoned)?.get(run_id).cloned())
    }

    async fn save_account(&self, run_id: &str, entry: &AccountEntry) -> Result<String, ReadFailure> {
        let key = (run_id.to_string(), entry.account.id.clone());
        self.entries.lock().map_err(poisoned)?.insert(key, entry.clone());
        Ok(format!("mock://runs/{run_id}/accounts/{}.json", entry.account.id))
    }

    async fn account(&self, run_id: &str, account_id: &str) -> Result<Option<AccountEntry>, ReadFailure> {
        let key = (run_id.to_string(), account_id.to_string());
        Ok(self.entries.lock().map_err(poisoned)?.get(&key).cloned())
    }

    async fn save_organization(&self, report: &OrgReport) -> Result<String, ReadFailure> {
        self.organizations.lock().map_err(poisoned)?.push(report.clone());
        Ok(format!("mock://organization/{}.json", report.run.run_id))
    }
}

/// A Security Hub that keeps what it was sent, or refuses every import.
#[derive(Debug, Default)]
pub struct MockSink {
    imports: Mutex<Vec<Vec<AsffFinding>>>,
    /// When set, every import fails with it.
    pub fail_with: Option<ReadFailure>,
}

impl MockSink {
    /// Every import's findings, in order.
    pub fn imports(&self) -> Vec<Vec<AsffFinding>> {
        self.imports.lock().map(|i| i.clone()).unwrap_or_default()
    }
}

impl FindingSink for MockSink {
    async fn import(&self, report: &Report, now: DateTime<Utc>) -> Result<ImportOutcome, ReadFailure> {
        if let Some(e) = &self.fail_with {
            return Err(e.clone());
        }
        let findings = crate::export::asff::findings(report, "us-east-1", now);
        let findings = findings.as_slice();
        self.imports.lock().map_err(poisoned)?.push(findings.to_vec());
        Ok(ImportOutcome { imported: findings.len(), failed: Vec::new() })
    }
}
