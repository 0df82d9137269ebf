//! Crash injection for the crash-recovery tests: when `EVALGATE_FAILPOINT` names a point the
//! process reaches, it aborts on the spot (like a kill -9: no unwinding, no cleanup). Unset in
//! production, where `hit` is one environment lookup per tick step.

/// The environment variable naming the point to crash at.
pub const ENV: &str = "EVALGATE_FAILPOINT";

/// Aborts the process when `EVALGATE_FAILPOINT` equals `name`.
pub fn hit(name: &str) {
    if std::env::var(ENV).is_ok_and(|wanted| wanted == name) {
        eprintln!("failpoint {name}: aborting");
        std::process::abort();
    }
}
