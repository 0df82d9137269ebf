//! Names of the processes that hold leases (the scheduler lease, rollout writer leases), and
//! whether such a process is known to be dead: a lease whose holder ran on this machine and whose
//! pid no longer exists can be taken over at once instead of after its expiry (a `tick` killed
//! with SIGKILL and rerun, a `serve` restarted after a crash).

/// This machine's name (from `/etc/hostname`; `localhost` when unreadable).
pub fn this_host() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|host| host.trim().to_string())
        .filter(|host| !host.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

/// A holder name for this process: `{host}-{pid}` (the pid is the part after the last `-`).
pub fn this_process() -> String {
    format!("{}-{}", this_host(), std::process::id())
}

/// True when `holder` (ending with a name made by [`this_process`]) ran on this machine and its
/// process is gone. False whenever that cannot be told (another host, no `/proc`).
pub fn is_dead(holder: &str) -> bool {
    let Some((rest, pid)) = holder.rsplit_once('-') else {
        return false;
    };
    let Ok(pid) = pid.parse::<u32>() else {
        return false;
    };
    let host = this_host();
    let on_this_host = rest == host || rest.ends_with(&format!("-{host}"));
    on_this_host && is_dead_pid(pid)
}

/// True when no process `pid` runs on this machine (Linux `/proc`; false without it).
pub fn is_dead_pid(pid: u32) -> bool {
    let proc_root = std::path::Path::new("/proc");
    if !proc_root.join("self").exists() || pid == std::process::id() {
        return false;
    }
    !proc_root.join(pid.to_string()).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_process_is_not_dead_and_a_foreign_host_is_never_judged() {
        assert!(!is_dead(&this_process()));
        assert!(!is_dead("some-other-host-1"));
        assert!(!is_dead("no pid here"));
    }

    #[test]
    fn a_finished_child_on_this_host_is_dead() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        if std::path::Path::new("/proc/self").exists() {
            assert!(is_dead(&format!("{}-{pid}", this_host())));
            assert!(is_dead(&format!("pid-{pid}-abc-{}-{pid}", this_host())));
        }
    }
}
