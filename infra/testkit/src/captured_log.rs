//! [`CapturedLog`]: a log writer that keeps what a `tracing` subscriber writes, for tests that
//! check log lines.

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

/// Shared bytes a subscriber writes into; clone it into the subscriber's writer
/// (`.with_writer(move || log.clone())`) and read the lines back with [`CapturedLog::lines`].
#[derive(Debug, Clone, Default)]
pub struct CapturedLog(Arc<Mutex<Vec<u8>>>);

impl CapturedLog {
    /// Everything written so far, one entry per line.
    pub fn lines(&self) -> Vec<String> {
        let bytes = self.0.lock().unwrap_or_else(PoisonError::into_inner).clone();
        String::from_utf8_lossy(&bytes).lines().map(str::to_owned).collect()
    }
}

impl Write for CapturedLog {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::CapturedLog;

    #[test]
    fn clones_share_the_lines() {
        let log = CapturedLog::default();
        let mut writer = log.clone();
        writer.write_all(b"one\ntwo\n").expect("write");
        assert_eq!(log.lines(), ["one", "two"]);
    }
}
