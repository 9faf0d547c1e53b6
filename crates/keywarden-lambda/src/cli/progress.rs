//! Logs to stderr and, on a terminal, a progress bar that follows the run's
//! [`crate::app::PROGRESS`] events. The pipeline only emits events, as it does in Lambda;
//! this layer turns them into a spinner (a stage) or a bar (`done` of `total`). When stderr
//! is not a terminal there is no bar at all, so piped and CI output stays plain text.

use std::fmt::Debug;
use std::io::{self, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::app::PROGRESS;

/// Installs the subscriber; the bar is hidden unless `bar` (stderr is a terminal). Logs are
/// `warn` and above unless `RUST_LOG` says otherwise.
pub fn init(bar: bool, colour: bool) -> ProgressBar {
    let progress = if bar {
        let p = ProgressBar::new_spinner();
        p.set_style(spinner_style());
        p.enable_steady_tick(Duration::from_millis(120));
        p
    } else {
        ProgressBar::hidden()
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let logs = tracing_subscriber::fmt::layer()
        .with_writer(Suspended(progress.clone()))
        .with_ansi(colour)
        .with_target(false)
        .with_filter(filter);
    // A second install (tests) keeps the first; nothing else depends on which.
    let _ = tracing_subscriber::registry().with(logs).with(Follow(progress.clone())).try_init();
    progress
}

fn spinner_style() -> ProgressStyle {
    ProgressStyle::with_template("{spinner} {elapsed} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
}

fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template("{spinner} {elapsed} {msg} [{bar:30}] {pos}/{len}")
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar())
}

/// Writes a log line with the bar cleared, then redraws it, so the two never interleave.
#[derive(Debug, Clone)]
struct Suspended(ProgressBar);

impl<'a> MakeWriter<'a> for Suspended {
    type Writer = Suspended;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl Write for Suspended {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.suspend(|| io::stderr().write_all(buf))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

/// The layer that moves the bar.
struct Follow(ProgressBar);

#[derive(Default)]
struct Fields {
    message: String,
    done: Option<u64>,
    total: Option<u64>,
}

impl Visit for Fields {
    fn record_u64(&mut self, field: &Field, value: u64) {
        match field.name() {
            "done" => self.done = Some(value),
            "total" => self.total = Some(value),
            _ => {}
        }
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.record_u64(field, value.max(0).unsigned_abs());
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_string();
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        }
    }
}

impl<S: Subscriber> Layer<S> for Follow {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        if event.metadata().target() != PROGRESS || self.0.is_hidden() {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        match (fields.done, fields.total) {
            (Some(done), Some(total)) => {
                self.0.set_style(bar_style());
                self.0.set_length(total);
                self.0.set_position(done);
            }
            _ => {
                self.0.set_style(spinner_style());
            }
        }
        self.0.set_message(fields.message);
    }
}
