//! Failure-injecting wrappers of the ports, for tests of the code that drives them.
//!
//! After mountpoint-s3's `countdown_failure_client`: a [`Failures`] plan says "the k-th call
//! (1-based) of this operation fails with this error", and each `Failing*` wrapper counts its
//! calls and delegates to the wrapped port unless the plan says this call fails. The handler
//! promises a report even when a read, a rotation step, the archive or the topic fails; those
//! promises live on error paths that a healthy mock never takes, so each port is tested at
//! each of its failure points and the handler's error handling is proved, not hoped.
//!
//! One plan is shared (it is cheap to clone) by all the wrappers of a test, so one counter per
//! [`Operation`] sees every call and a test can ask how often the handler called each port.
//! Each wrapper keeps its inner port reachable ([`FailingRotator::inner`] and the like), so a
//! test can look at the mock's state: what was executed, published or saved.
//!
//! Behind the `mock` feature, like [`crate::mock`]: test code only, no runtime, no SDK.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};

use crate::model::{Inventory, LiveDetails, LiveRequest, ReadFailure};
use crate::ports::{Directory, Executed, Notifier, NotifyError, ReportStore, Rotator};
use crate::report::{Report, RotationAction};
use crate::rotation::{LiveUser, SecretState, Step};

/// One operation of one port: what a [`Failures`] plan counts and fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Operation {
    /// [`Directory::collect`].
    Collect,
    /// [`Directory::live_details`].
    LiveDetails,
    /// [`Rotator::secrets`].
    Secrets,
    /// [`Rotator::read`].
    Read,
    /// [`Rotator::execute`].
    Execute,
    /// [`ReportStore::previous`].
    Previous,
    /// [`ReportStore::save`].
    Save,
    /// [`ReportStore::save_page`].
    SavePage,
    /// [`Notifier::publish`].
    Publish,
    /// [`Notifier::publish_rotation`].
    PublishRotation,
}

impl Operation {
    /// Every operation, in declaration order.
    pub const ALL: [Operation; 10] = [
        Operation::Collect,
        Operation::LiveDetails,
        Operation::Secrets,
        Operation::Read,
        Operation::Execute,
        Operation::Previous,
        Operation::Save,
        Operation::SavePage,
        Operation::Publish,
        Operation::PublishRotation,
    ];
}

/// A failing [`Directory::collect`] replaces the sections its plan names, because in
/// production each section is its own IAM read that fails alone. The sections are the
/// model's own, so a new section cannot be forgotten here.
pub use crate::model::Section;

/// Which calls of an operation a rule fails (calls are numbered from 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum When {
    /// Only the k-th call.
    Nth(usize),
    /// The k-th call and every one after it.
    From(usize),
}

impl When {
    fn matches(self, call: usize) -> bool {
        match self {
            When::Nth(k) => call == k,
            When::From(k) => k > 0 && call >= k,
        }
    }
}

#[derive(Debug, Clone)]
struct Rule {
    when: When,
    failure: ReadFailure,
    /// For [`Operation::Collect`] only: the sections replaced by the failure.
    sections: BTreeSet<Section>,
}

#[derive(Debug, Default)]
struct State {
    rules: BTreeMap<Operation, Vec<Rule>>,
    calls: BTreeMap<Operation, usize>,
    injected: BTreeMap<Operation, usize>,
}

/// The failure plan and the call counters, shared by the wrappers of one test.
///
/// Calls are numbered from 1 per operation, counting every call, failed or not; a plan for
/// call 0 never fires. When several rules match a call, the first one added wins.
///
/// ```
/// use keywarden_core::failure::{Failures, Operation, Section};
/// use keywarden_core::ReadFailure;
///
/// let denied = |op: &str| ReadFailure::new(op, Some("AccessDenied".into()), "denied");
/// let plan = Failures::new()
///     .fail_sections(1, [Section::Authorization], denied(Section::Authorization.operation()))
///     .fail(Operation::Read, 2, denied("iam:ListAccessKeys"))
///     .fail_from(Operation::Publish, 1, denied("sns:Publish"));
/// assert_eq!(plan.calls(Operation::Read), 0);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Failures {
    state: Arc<Mutex<State>>,
}

/// What a wrapper does with one call.
#[derive(Debug)]
enum Verdict {
    Pass,
    Fail { failure: ReadFailure, sections: BTreeSet<Section> },
}

impl Failures {
    /// A plan that fails nothing (yet): every call goes to the inner port and is counted.
    pub fn new() -> Self {
        Self::default()
    }

    /// Fails the `k`-th call (1-based) of `op` with `failure`. For [`Operation::Collect`] every
    /// section of the inventory fails; [`Failures::fail_sections`] names some.
    pub fn fail(self, op: Operation, k: usize, failure: ReadFailure) -> Self {
        self.add(op, When::Nth(k), failure, Section::ALL)
    }

    /// Fails the `k`-th call (1-based) of `op` and every later one with `failure`: a port that
    /// breaks and stays broken.
    pub fn fail_from(self, op: Operation, k: usize, failure: ReadFailure) -> Self {
        self.add(op, When::From(k), failure, Section::ALL)
    }

    /// Fails the `k`-th [`Directory::collect`] by replacing the named sections of the inner
    /// inventory with `Err(failure)`; the other sections are read as usual.
    pub fn fail_sections(
        self,
        k: usize,
        sections: impl IntoIterator<Item = Section>,
        failure: ReadFailure,
    ) -> Self {
        self.add(Operation::Collect, When::Nth(k), failure, sections)
    }

    /// How many times `op` was called so far, failed calls included.
    pub fn calls(&self, op: Operation) -> usize {
        self.lock().calls.get(&op).copied().unwrap_or(0)
    }

    /// How many calls of `op` the plan failed so far.
    pub fn injected(&self, op: Operation) -> usize {
        self.lock().injected.get(&op).copied().unwrap_or(0)
    }

    fn add(
        self,
        op: Operation,
        when: When,
        failure: ReadFailure,
        sections: impl IntoIterator<Item = Section>,
    ) -> Self {
        let rule = Rule { when, failure, sections: sections.into_iter().collect() };
        self.lock().rules.entry(op).or_default().push(rule);
        self
    }

    /// Counts one call of `op` and says whether it fails.
    fn call(&self, op: Operation) -> Verdict {
        let mut state = self.lock();
        let n = {
            let n = state.calls.entry(op).or_insert(0);
            *n += 1;
            *n
        };
        let rule = state.rules.get(&op).and_then(|rules| rules.iter().find(|r| r.when.matches(n))).cloned();
        match rule {
            Some(rule) => {
                *state.injected.entry(op).or_insert(0) += 1;
                Verdict::Fail { failure: rule.failure, sections: rule.sections }
            }
            None => Verdict::Pass,
        }
    }

    /// A test that panicked while holding the lock leaves counters that are still right.
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A [`Directory`] that fails as its plan says, and otherwise asks the inner one.
#[derive(Debug)]
pub struct FailingDirectory<D> {
    inner: D,
    failures: Failures,
}

impl<D> FailingDirectory<D> {
    /// Wraps `inner`; clones of one [`Failures`] given to several wrappers share its counters.
    pub fn new(inner: D, failures: Failures) -> Self {
        Self { inner, failures }
    }

    /// The wrapped directory, to look at its state.
    pub fn inner(&self) -> &D {
        &self.inner
    }

    /// The shared plan and its counters.
    pub fn failures(&self) -> &Failures {
        &self.failures
    }
}

impl<D: Directory + Sync> Directory for FailingDirectory<D> {
    /// A failing collect still reads the inner inventory, then replaces the planned sections:
    /// `collect` never fails as a whole, only section by section.
    async fn collect(&self) -> Inventory {
        let verdict = self.failures.call(Operation::Collect);
        let mut inventory = self.inner.collect().await;
        if let Verdict::Fail { failure, sections } = verdict {
            for section in sections {
                section.fail(&mut inventory, failure.clone());
            }
        }
        inventory
    }

    /// A failing call does not reach the inner directory: every requested entry is `Err`.
    async fn live_details(&self, request: &LiveRequest) -> LiveDetails {
        match self.failures.call(Operation::LiveDetails) {
            Verdict::Pass => self.inner.live_details(request).await,
            Verdict::Fail { failure, .. } => LiveDetails {
                access_keys: request
                    .access_keys_for
                    .iter()
                    .map(|u| (u.clone(), Err(failure.clone())))
                    .collect(),
                login_profiles: request
                    .login_profile_for
                    .iter()
                    .map(|u| (u.clone(), Err(failure.clone())))
                    .collect(),
            },
        }
    }

    fn api_calls(&self) -> BTreeMap<String, u64> {
        self.inner.api_calls()
    }
}

/// A [`Rotator`] that fails as its plan says; a failing call never reaches the inner one, so
/// a failed `execute` changes nothing in the mock.
#[derive(Debug)]
pub struct FailingRotator<R> {
    inner: R,
    failures: Failures,
}

impl<R> FailingRotator<R> {
    /// Wraps `inner`; clones of one [`Failures`] given to several wrappers share its counters.
    pub fn new(inner: R, failures: Failures) -> Self {
        Self { inner, failures }
    }

    /// The wrapped rotator, to look at what it executed.
    pub fn inner(&self) -> &R {
        &self.inner
    }

    /// The shared plan and its counters.
    pub fn failures(&self) -> &Failures {
        &self.failures
    }
}

impl<R: Rotator + Sync> Rotator for FailingRotator<R> {
    async fn secrets(&self) -> Result<BTreeMap<String, SecretState>, ReadFailure> {
        match self.failures.call(Operation::Secrets) {
            Verdict::Pass => self.inner.secrets().await,
            Verdict::Fail { failure, .. } => Err(failure),
        }
    }

    async fn read(&self, user: &str, listed: Option<&SecretState>) -> Result<LiveUser, ReadFailure> {
        match self.failures.call(Operation::Read) {
            Verdict::Pass => self.inner.read(user, listed).await,
            Verdict::Fail { failure, .. } => Err(failure),
        }
    }

    async fn execute(
        &self,
        live: &LiveUser,
        step: &Step,
        now: DateTime<Utc>,
    ) -> Result<Executed, ReadFailure> {
        match self.failures.call(Operation::Execute) {
            Verdict::Pass => self.inner.execute(live, step, now).await,
            Verdict::Fail { failure, .. } => Err(failure),
        }
    }
}

/// A [`ReportStore`] that fails as its plan says; a failing `save` archives nothing.
#[derive(Debug)]
pub struct FailingStore<S> {
    inner: S,
    failures: Failures,
}

impl<S> FailingStore<S> {
    /// Wraps `inner`; clones of one [`Failures`] given to several wrappers share its counters.
    pub fn new(inner: S, failures: Failures) -> Self {
        Self { inner, failures }
    }

    /// The wrapped store, to look at what it saved.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// The shared plan and its counters.
    pub fn failures(&self) -> &Failures {
        &self.failures
    }
}

impl<S: ReportStore + Sync> ReportStore for FailingStore<S> {
    async fn previous(&self, account_id: &str) -> Result<Option<Report>, ReadFailure> {
        match self.failures.call(Operation::Previous) {
            Verdict::Pass => self.inner.previous(account_id).await,
            Verdict::Fail { failure, .. } => Err(failure),
        }
    }

    async fn save(&self, report: &Report) -> Result<String, ReadFailure> {
        match self.failures.call(Operation::Save) {
            Verdict::Pass => self.inner.save(report).await,
            Verdict::Fail { failure, .. } => Err(failure),
        }
    }

    async fn save_page(&self, report: &Report, page: &str) -> Result<String, ReadFailure> {
        match self.failures.call(Operation::SavePage) {
            Verdict::Pass => self.inner.save_page(report, page).await,
            Verdict::Fail { failure, .. } => Err(failure),
        }
    }
}

/// A [`Notifier`] that fails as its plan says, with a [`NotifyError`] carrying the planned
/// failure's code and message (its `operation` has no place in a `NotifyError`); a failing
/// call publishes nothing.
#[derive(Debug)]
pub struct FailingNotifier<N> {
    inner: N,
    failures: Failures,
}

impl<N> FailingNotifier<N> {
    /// Wraps `inner`; clones of one [`Failures`] given to several wrappers share its counters.
    pub fn new(inner: N, failures: Failures) -> Self {
        Self { inner, failures }
    }

    /// The wrapped notifier, to look at what it published.
    pub fn inner(&self) -> &N {
        &self.inner
    }

    /// The shared plan and its counters.
    pub fn failures(&self) -> &Failures {
        &self.failures
    }
}

fn notify_error(failure: ReadFailure) -> NotifyError {
    NotifyError { code: failure.code, message: failure.message }
}

impl<N: Notifier + Sync> Notifier for FailingNotifier<N> {
    async fn publish(&self, report: &Report) -> Result<String, NotifyError> {
        match self.failures.call(Operation::Publish) {
            Verdict::Pass => self.inner.publish(report).await,
            Verdict::Fail { failure, .. } => Err(notify_error(failure)),
        }
    }

    async fn publish_rotation(
        &self,
        account_id: &str,
        action: &RotationAction,
    ) -> Result<String, NotifyError> {
        match self.failures.call(Operation::PublishRotation) {
            Verdict::Pass => self.inner.publish_rotation(account_id, action).await,
            Verdict::Fail { failure, .. } => Err(notify_error(failure)),
        }
    }

    async fn publish_organization(
        &self,
        report: &crate::organization::OrgReport,
    ) -> Result<String, NotifyError> {
        // The consolidated digest is the same SNS publish as the account digest.
        match self.failures.call(Operation::Publish) {
            Verdict::Pass => self.inner.publish_organization(report).await,
            Verdict::Fail { failure, .. } => Err(notify_error(failure)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn denied(op: &str) -> ReadFailure {
        ReadFailure::new(op, Some("AccessDenied".into()), "denied")
    }

    #[test]
    fn the_kth_call_fails_and_the_others_pass() {
        let plan = Failures::new().fail(Operation::Read, 2, denied("iam:ListAccessKeys"));
        let got: Vec<bool> =
            (0..4).map(|_| matches!(plan.call(Operation::Read), Verdict::Fail { .. })).collect();
        assert_eq!(got, [false, true, false, false]);
        assert_eq!(plan.calls(Operation::Read), 4);
        assert_eq!(plan.injected(Operation::Read), 1);
        assert_eq!(plan.calls(Operation::Execute), 0, "counted per operation");
    }

    #[test]
    fn from_k_on_every_call_fails_and_call_zero_never_does() {
        let plan = Failures::new()
            .fail_from(Operation::Save, 2, denied("s3:PutObject"))
            .fail(Operation::Previous, 0, denied("s3:GetObject"))
            .fail_from(Operation::Publish, 0, denied("sns:Publish"));
        let save: Vec<bool> =
            (0..4).map(|_| matches!(plan.call(Operation::Save), Verdict::Fail { .. })).collect();
        assert_eq!(save, [false, true, true, true]);
        for op in [Operation::Previous, Operation::Publish] {
            assert!((0..3).all(|_| matches!(plan.call(op), Verdict::Pass)), "{op:?}");
        }
    }

    #[test]
    fn clones_share_one_plan_and_one_counter() {
        let plan = Failures::new();
        let other = plan.clone().fail(Operation::Collect, 1, denied("iam:GetCredentialReport"));
        assert!(matches!(plan.call(Operation::Collect), Verdict::Fail { .. }));
        assert_eq!(other.calls(Operation::Collect), 1);
    }

    #[test]
    fn sections_name_their_production_operation() {
        let ops: BTreeSet<&str> = Section::ALL.iter().map(|s| s.operation()).collect();
        assert_eq!(ops.len(), Section::ALL.len());
    }
}
