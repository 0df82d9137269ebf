//! Printing that survives a closed pipe (`evalgate rollout status --json | head -c 1`): results
//! go to stdout and messages to stderr through [`outln!`](crate::outln)/[`errln!`](crate::errln)
//! instead of `println!`/`eprintln!`, which panic (exit 101) when the reader has gone. A reader
//! that stopped reading is not an error: the command finishes its work and exits with its own
//! code, its remaining output dropped. Any other stdout failure (a full disk) is remembered and
//! turned into exit 2 by `main` ([`stdout_failure`]).

use std::io::{ErrorKind, Write};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

static STDOUT_FAILURE: Mutex<Option<String>> = Mutex::new(None);

/// Set once a stdout write met a closed pipe: a command that would write forever (`rollout get
/// --watch | head -1`) stops when its reader has gone.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Writes `args` and a newline to stdout; a closed pipe drops the text, another error is kept
/// for [`stdout_failure`].
pub fn stdout_line(args: std::fmt::Arguments<'_>) {
    let mut stdout = std::io::stdout().lock();
    let written = stdout
        .write_fmt(args)
        .and_then(|()| stdout.write_all(b"\n"))
        .and_then(|()| stdout.flush());
    remember(written);
}

/// Writes `args` to stdout without a newline (same error handling as [`stdout_line`]).
pub fn stdout_text(args: std::fmt::Arguments<'_>) {
    let mut stdout = std::io::stdout().lock();
    let written = stdout.write_fmt(args).and_then(|()| stdout.flush());
    remember(written);
}

/// Writes `args` and a newline to stderr; errors are dropped (there is nowhere left to say them).
pub fn stderr_line(args: std::fmt::Arguments<'_>) {
    let mut stderr = std::io::stderr().lock();
    let _ignored = stderr
        .write_fmt(args)
        .and_then(|()| stderr.write_all(b"\n"));
}

fn remember(written: std::io::Result<()>) {
    let Err(err) = written else {
        return;
    };
    if err.kind() == ErrorKind::BrokenPipe {
        STDOUT_CLOSED.store(true, Ordering::Relaxed);
        return;
    }
    if let Ok(mut slot) = STDOUT_FAILURE.lock()
        && slot.is_none()
    {
        *slot = Some(err.to_string());
    }
}

/// True once stdout's reader has gone (a write met a closed pipe).
pub fn stdout_closed() -> bool {
    STDOUT_CLOSED.load(Ordering::Relaxed)
}

/// The first stdout write error other than a closed pipe, if any.
pub fn stdout_failure() -> Option<String> {
    STDOUT_FAILURE.lock().ok().and_then(|slot| slot.clone())
}

/// A writer that treats a closed pipe as a reader that left: the first `BrokenPipe` error and
/// every later write succeed without writing, so a streaming command (`evals run … | head`)
/// finishes its work and exits with its own code. Other errors pass through.
#[derive(Debug)]
pub struct ClosedPipeTolerant<W> {
    inner: W,
    closed: bool,
}

impl<W: Write> ClosedPipeTolerant<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> ClosedPipeTolerant<W> {
        ClosedPipeTolerant {
            inner,
            closed: false,
        }
    }

    fn absorb<T>(&mut self, result: std::io::Result<T>, quiet: T) -> std::io::Result<T> {
        match result {
            Err(err) if err.kind() == ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(quiet)
            }
            other => other,
        }
    }
}

impl<W: Write> Write for ClosedPipeTolerant<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.closed {
            return Ok(buf.len());
        }
        let written = self.inner.write(buf);
        self.absorb(written, buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.closed {
            return Ok(());
        }
        let flushed = self.inner.flush();
        self.absorb(flushed, ())
    }
}

/// A `MakeWriter` for tracing: stderr, where a closed pipe swallows the event instead of failing.
#[derive(Debug, Clone, Copy, Default)]
pub struct QuietStderr;

impl Write for QuietStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match std::io::stderr().write(buf) {
            Err(err) if err.kind() == ErrorKind::BrokenPipe => Ok(buf.len()),
            other => other,
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match std::io::stderr().flush() {
            Err(err) if err.kind() == ErrorKind::BrokenPipe => Ok(()),
            other => other,
        }
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for QuietStderr {
    type Writer = QuietStderr;
    fn make_writer(&'a self) -> Self::Writer {
        QuietStderr
    }
}

/// `println!` that survives a closed stdout (see the module docs).
#[macro_export]
macro_rules! outln {
    () => {
        $crate::out::stdout_line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::out::stdout_line(format_args!($($arg)*))
    };
}

/// `print!` that survives a closed stdout.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::out::stdout_text(format_args!($($arg)*))
    };
}

/// `eprintln!` that survives a closed stderr.
#[macro_export]
macro_rules! errln {
    () => {
        $crate::out::stderr_line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::out::stderr_line(format_args!($($arg)*))
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer whose reader has gone after `room` bytes.
    struct Closing {
        room: usize,
        written: Vec<u8>,
    }

    impl Write for Closing {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.written.len() + buf.len() > self.room {
                return Err(std::io::Error::from(ErrorKind::BrokenPipe));
            }
            self.written.extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_closed_pipe_swallows_the_rest_of_the_output_without_an_error() {
        let mut out = ClosedPipeTolerant::new(Closing {
            room: 4,
            written: Vec::new(),
        });
        out.write_all(b"abc").unwrap();
        out.write_all(b"defgh").unwrap();
        out.write_all(b"i").unwrap();
        out.flush().unwrap();
        assert_eq!(out.inner.written, b"abc");
    }

    #[test]
    fn other_write_errors_still_fail() {
        struct Full;
        impl Write for Full {
            fn write(&mut self, _buf: &[u8]) -> std::io::Result<usize> {
                Err(std::io::Error::other("disk full"))
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let mut out = ClosedPipeTolerant::new(Full);
        assert!(out.write_all(b"x").is_err());
    }
}

/// `err` and its causes joined by `: `, each said once: a cause whose text the message before it
/// already holds (thiserror's `{0}` next to `#[from]`) is skipped.
pub fn error_chain(err: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in err.chain() {
        let part = cause.to_string();
        if text.contains(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

#[cfg(test)]
mod error_chain_tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("database error: {0}")]
    struct Wrapping(#[from] std::io::Error);

    #[test]
    fn an_error_chain_says_each_cause_once() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
        let err = anyhow::Error::from(Wrapping(io)).context("cannot open store");
        assert_eq!(
            format!("{err:#}").matches("connection refused").count(),
            2,
            "anyhow repeats a cause that the message already holds"
        );
        let text = error_chain(&err);
        assert_eq!(
            text,
            "cannot open store: database error: connection refused"
        );
    }
}
