//! Where log lines go: standard error, written in batches.
//!
//! Every SCIM request logs one INFO line. Written one `write(2)` each, that was a
//! system call per request, made under standard error's lock by whichever runtime
//! thread answered (tens of thousands a second under a lookup load). So INFO
//! and more verbose lines are gathered and written together: when the batch reaches
//! [`FLUSH_AT`] bytes, every [`FLUSH_EVERY`] by a background thread, and when the
//! process ends normally ([`flush`]). A WARN or ERROR line is never held back: it goes
//! out at once, after the lines gathered before it, so the order is kept. The price is
//! that a process killed with SIGKILL loses at most the last [`FLUSH_EVERY`] of INFO
//! lines (docs/operations.md, "Health, logs and metrics").
use std::io::{self, Write};
use std::sync::{Mutex, Once, PoisonError};
use std::time::Duration;

use tracing::{Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;

/// A batch this large is written at once.
pub const FLUSH_AT: usize = 16 * 1024;
/// The longest an INFO line waits.
pub const FLUSH_EVERY: Duration = Duration::from_millis(50);

/// Lines gathered for `out`. Adding a line holds only the batch's lock, for a copy;
/// the write to `out` happens under `out`'s lock with the batch swapped out, so a
/// thread logging during a write does not wait for it. Batches are taken under `out`'s
/// lock, so they are written in the order they were gathered.
pub struct Batched<W: Write> {
    batch: Mutex<Vec<u8>>,
    out: Mutex<(W, Vec<u8>)>,
}

impl<W: Write> Batched<W> {
    pub const fn new(out: W) -> Self {
        Self {
            batch: Mutex::new(Vec::new()),
            out: Mutex::new((out, Vec::new())),
        }
    }

    /// Adds `line`; writes the batch when `urgent` or when it is full.
    fn add(&self, line: &[u8], urgent: bool) -> io::Result<()> {
        let full = {
            let mut batch = self.batch.lock().unwrap_or_else(PoisonError::into_inner);
            batch.extend_from_slice(line);
            batch.len() >= FLUSH_AT
        };
        if urgent || full {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes what is gathered.
    pub fn flush(&self) -> io::Result<()> {
        let mut out = self.out.lock().unwrap_or_else(PoisonError::into_inner);
        let (out, taken) = &mut *out;
        {
            let mut batch = self.batch.lock().unwrap_or_else(PoisonError::into_inner);
            std::mem::swap(&mut *batch, taken);
        }
        if taken.is_empty() {
            return Ok(());
        }
        // Cleared even when the write fails: a broken stderr must not grow the batch.
        let result = out.write_all(taken).and_then(|()| out.flush());
        taken.clear();
        result
    }
}

/// The process's standard error, reached on each write (`io::stderr()` is not `const`).
struct ToStderr;

impl Write for ToStderr {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        io::stderr().write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

static STDERR: Batched<ToStderr> = Batched::new(ToStderr);
static FLUSHER: Once = Once::new();

/// Writes the INFO lines still gathered (before the process exits, or prints to
/// stderr itself).
pub fn flush() {
    let _ = STDERR.flush();
}

/// The subscriber's writer: each event's line into [`STDERR`].
#[derive(Clone, Copy)]
pub struct LogWriter;

impl LogWriter {
    /// Starts the thread that writes the batch every [`FLUSH_EVERY`], and makes a panic
    /// message come after the lines logged before it.
    pub fn start() -> Self {
        FLUSHER.call_once(|| {
            let spawned = std::thread::Builder::new()
                .name("log-flush".into())
                .spawn(|| loop {
                    std::thread::sleep(FLUSH_EVERY);
                    flush();
                });
            if spawned.is_err() {
                eprintln!("warning: no log flush thread; INFO lines are written when 16 KiB gather or at exit");
            }
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                flush();
                previous(info);
            }));
        });
        Self
    }
}

/// One event's line.
pub struct Line {
    urgent: bool,
}

impl Write for Line {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        STDERR.add(buf, self.urgent)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// WARN and ERROR lines are written at once. Levels order by verbosity, so those are
/// the ones at or below WARN.
fn urgent(level: &Level) -> bool {
    *level <= Level::WARN
}

impl<'a> MakeWriter<'a> for LogWriter {
    type Writer = Line;

    fn make_writer(&'a self) -> Line {
        Line { urgent: true }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Line {
        Line {
            urgent: urgent(meta.level()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(b: &Batched<Vec<u8>>) -> String {
        String::from_utf8(b.out.lock().unwrap().0.clone()).unwrap()
    }

    #[test]
    fn info_lines_wait_for_a_flush() {
        let b = Batched::new(Vec::new());
        b.add(b"one\n", false).unwrap();
        b.add(b"two\n", false).unwrap();
        assert_eq!(written(&b), "");
        b.flush().unwrap();
        assert_eq!(written(&b), "one\ntwo\n");
        b.flush().unwrap();
        assert_eq!(written(&b), "one\ntwo\n", "nothing is written twice");
    }

    #[test]
    fn an_urgent_line_goes_out_at_once_after_the_lines_before_it() {
        let b = Batched::new(Vec::new());
        b.add(b"info\n", false).unwrap();
        b.add(b"warn\n", true).unwrap();
        assert_eq!(written(&b), "info\nwarn\n");
    }

    #[test]
    fn a_full_batch_is_written_without_waiting() {
        let b = Batched::new(Vec::new());
        let line = vec![b'x'; 1000];
        let mut added = 0;
        while added + line.len() < FLUSH_AT {
            b.add(&line, false).unwrap();
            added += line.len();
        }
        assert_eq!(written(&b), "");
        b.add(&line, false).unwrap();
        assert_eq!(written(&b).len(), added + line.len());
    }

    #[test]
    fn warn_and_error_are_urgent_info_and_debug_are_not() {
        assert!(urgent(&Level::ERROR));
        assert!(urgent(&Level::WARN));
        assert!(!urgent(&Level::INFO));
        assert!(!urgent(&Level::DEBUG));
        assert!(!urgent(&Level::TRACE));
    }

    struct Broken;
    impl Write for Broken {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::other("closed"))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_failed_write_drops_the_batch_rather_than_growing_it() {
        let b = Batched::new(Broken);
        b.add(b"one\n", false).unwrap();
        assert!(b.flush().is_err());
        assert!(b.batch.lock().unwrap().is_empty());
        assert!(b.out.lock().unwrap().1.is_empty());
    }
}
