//! `hookline dev`'s live status: one line redrawn in place on a terminal, or a line whenever it
//! changed (at most every interval) when stderr is not a terminal. Log lines go through
//! [`LogWriter`], which clears the status line, writes the log line and draws the status again,
//! so the two never garble each other.

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hookline_local::RunningStack;
use tracing_subscriber::fmt::MakeWriter;

/// How often the status is refreshed on a terminal.
const TERMINAL_REFRESH: Duration = Duration::from_secs(1);
/// The default interval between status lines when stderr is not a terminal.
pub const DEFAULT_LINE_INTERVAL: Duration = Duration::from_secs(10);
/// Erase the current terminal line and return to its start.
const CLEAR_LINE: &str = "\r\x1b[2K";

/// The status line currently drawn at the bottom of the terminal, if any.
#[derive(Debug, Clone, Default)]
pub struct Shown(Arc<Mutex<Option<String>>>);

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Shown {
    /// Draws `line` in place of the current status line.
    fn draw(&self, line: String) {
        let mut shown = lock(&self.0);
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "{CLEAR_LINE}{line}");
        let _ = err.flush();
        *shown = Some(line);
    }

    /// Removes the status line (before the stack's last words).
    pub fn clear(&self) {
        let mut shown = lock(&self.0);
        if shown.take().is_some() {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "{CLEAR_LINE}");
            let _ = err.flush();
        }
    }
}

/// The tracing writer: stderr, keeping the status line below the log.
#[derive(Debug, Clone)]
pub struct LogWriter(pub Shown);

impl<'a> MakeWriter<'a> for LogWriter {
    type Writer = LogLine;

    fn make_writer(&'a self) -> Self::Writer {
        LogLine { buffer: Vec::new(), shown: self.0.clone() }
    }
}

/// One formatted log event, written out whole when dropped.
pub struct LogLine {
    buffer: Vec<u8>,
    shown: Shown,
}

impl Write for LogLine {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LogLine {
    fn drop(&mut self) {
        let shown = lock(&self.shown.0);
        let mut err = std::io::stderr().lock();
        if shown.is_some() {
            let _ = err.write_all(CLEAR_LINE.as_bytes());
        }
        let _ = err.write_all(&self.buffer);
        if let Some(line) = shown.as_ref() {
            let _ = err.write_all(line.as_bytes());
        }
        let _ = err.flush();
    }
}

/// Shows the stack's status until the future is dropped.
pub async fn show(stack: &RunningStack, shown: &Shown, line_interval: Duration) {
    let terminal = std::io::stderr().is_terminal();
    let mut last = String::new();
    loop {
        match stack.status().await {
            Ok(status) => {
                let text = format!("hookline dev: {status}");
                if terminal {
                    shown.draw(text);
                } else if text != last {
                    eprintln!("{text}");
                    last = text;
                }
            }
            Err(error) => tracing::debug!(%error, "could not read the queues for the status line"),
        }
        tokio::time::sleep(if terminal { TERMINAL_REFRESH } else { line_interval }).await;
    }
}
