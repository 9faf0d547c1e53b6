//! In-memory implementations of the ports, for tests of code that drives them.
//!
//! Shipped behind the `mock` feature (enabled only in dev-dependencies), in the manner of
//! mountpoint-s3's mock client: the handler's tests exercise the real flow against these
//! instead of swapping code under `#[cfg(test)]`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::model::{Inventory, LiveDetails, LiveRequest};
use crate::ports::{Directory, Notifier, NotifyError};
use crate::report::Report;

/// A directory that answers from a fixed inventory and counts one call per read.
#[derive(Debug)]
pub struct MockDirectory {
    pub inventory: Inventory,
    pub live: LiveDetails,
    collects: AtomicU64,
    lives: AtomicU64,
    requests: Mutex<Vec<LiveRequest>>,
}

impl MockDirectory {
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
    pub fail_with: Option<NotifyError>,
    published: Mutex<Vec<Report>>,
}

impl MockNotifier {
    pub fn failing(error: NotifyError) -> Self {
        Self { fail_with: Some(error), published: Mutex::new(Vec::new()) }
    }

    pub fn published(&self) -> Vec<Report> {
        self.published.lock().map(|p| p.clone()).unwrap_or_default()
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
}
