//! Peak resident memory of a child process: VmHWM from `/proc/PID/status`, sampled every 10 ms on
//! a thread until the process exits (the last reading before exit is the peak). Shared by the
//! benches that run the `evalgate` binary as a user would.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// A running watch of one process.
pub struct PeakRss {
    peak_kib: Arc<AtomicU64>,
    thread: JoinHandle<()>,
}

impl PeakRss {
    /// Starts watching `pid`.
    pub fn watch(pid: u32) -> PeakRss {
        let peak_kib = Arc::new(AtomicU64::new(0));
        let thread = {
            let peak_kib = peak_kib.clone();
            std::thread::spawn(move || {
                let path = format!("/proc/{pid}/status");
                while let Ok(status) = std::fs::read_to_string(&path) {
                    let hwm = status
                        .lines()
                        .find_map(|line| line.strip_prefix("VmHWM:"))
                        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok());
                    match hwm {
                        Some(kib) => peak_kib.fetch_max(kib, Ordering::Relaxed),
                        None => break, // a zombie has no memory lines
                    };
                    std::thread::sleep(Duration::from_millis(10));
                }
            })
        };
        PeakRss { peak_kib, thread }
    }

    /// Waits for the process to be gone (call after it exited) and returns its peak in MiB.
    pub fn finish(self) -> f64 {
        let _ = self.thread.join();
        self.peak_kib.load(Ordering::Relaxed) as f64 / 1024.0
    }
}
