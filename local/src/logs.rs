//! The functions' log lines on the local stack, as CloudWatch Logs gets them on AWS.
//!
//! On AWS each function writes JSON lines to stdout ([`leadsync::aws::telemetry::json_logs`]) and
//! its EMF metric documents beside them. The local stack runs the functions of every stack in
//! one process, so, as for metrics, each invocation runs in its stack's scope and a global
//! subscriber, in the Lambda's format, hands every line to the stack whose invocation wrote it.
//! Tests read them back ([`StackLogs::lines`]) to check that no personal data reaches a log.

use std::future::Future;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::util::SubscriberInitExt;

/// Every level of leadsync's own events, and what the Lambda's default filter lets through of
/// its dependencies: a line that only `RUST_LOG=debug` would print must not carry personal data
/// either.
const FILTER: &str = "info,leadsync=trace";

tokio::task_local! {
    static CURRENT: Arc<StackLogs>;
}

/// The log lines one stack's functions wrote, in order.
pub struct StackLogs {
    /// False when another subscriber was installed first (the `leadsync` command's own): the
    /// functions then log there and nothing is kept here.
    kept: bool,
    lines: Mutex<Vec<String>>,
}

impl StackLogs {
    pub fn start() -> Arc<Self> {
        Arc::new(Self {
            kept: install(),
            lines: Mutex::default(),
        })
    }

    /// Runs one invocation with its log lines kept here.
    pub async fn capture<F: Future>(self: &Arc<Self>, invocation: F) -> F::Output {
        CURRENT.scope(self.clone(), invocation).await
    }

    /// Keeps a line the stack wrote outside the subscriber (its metric documents).
    pub fn push(&self, line: String) {
        if !self.kept {
            return;
        }
        if let Ok(mut lines) = self.lines.lock() {
            lines.push(line);
        }
    }

    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

/// Installs the routing subscriber once per process; false when another one was first.
fn install() -> bool {
    static INSTALLED: OnceLock<bool> = OnceLock::new();
    *INSTALLED.get_or_init(|| {
        leadsync::aws::telemetry::json_logs(
            leadsync::aws::telemetry::log_filter(Some(FILTER)),
            Routing,
        )
        .try_init()
        .is_ok()
    })
}

/// Gives each event a buffer that, once the line is written, goes to the stack of the
/// invocation it was written in; a line written outside any invocation (the harness's own, the
/// sandbox's) is not a function's and goes nowhere.
struct Routing;

impl<'a> MakeWriter<'a> for Routing {
    type Writer = Line;

    fn make_writer(&'a self) -> Line {
        Line(Vec::new())
    }
}

struct Line(Vec<u8>);

impl Write for Line {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for Line {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.0);
        let line = text.trim_end();
        if !line.is_empty() {
            let _ = CURRENT.try_with(|logs| logs.push(line.to_string()));
        }
    }
}
