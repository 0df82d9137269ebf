//! Fault injection for the crash and concurrency tests: `EVALGATE_FAILPOINT` names a point the
//! process may reach. `NAME` aborts the process on the spot (like a kill -9: no unwinding, no
//! cleanup); `NAME=sleep:MS` pauses there for MS milliseconds (to widen a race on purpose).
//! Several points can be given, separated by commas. Unset in production, where `hit` is one
//! environment lookup per tick step.

/// The environment variable naming the points.
pub const ENV: &str = "EVALGATE_FAILPOINT";

/// Aborts (or pauses) the process when `EVALGATE_FAILPOINT` names `name`.
pub fn hit(name: &str) {
    let Ok(wanted) = std::env::var(ENV) else {
        return;
    };
    for point in wanted.split(',').map(str::trim) {
        let (point_name, action) = point.split_once('=').unwrap_or((point, "abort"));
        if point_name != name {
            continue;
        }
        if let Some(ms) = action.strip_prefix("sleep:") {
            let ms: u64 = ms.parse().unwrap_or(0);
            crate::errln!("failpoint {name}: sleeping {ms} ms");
            std::thread::sleep(std::time::Duration::from_millis(ms));
            continue;
        }
        crate::errln!("failpoint {name}: aborting");
        std::process::abort();
    }
}
