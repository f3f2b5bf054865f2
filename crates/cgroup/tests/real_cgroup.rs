//! Real cgroups on this machine (root required). Each test makes its own uniquely named child
//! of this process's cgroup and removes it again.

use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use cgroup::{Cgroup, CounterFiles, Hierarchy, Limits};

fn unique_name(purpose: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "cgroup-test-{}-{purpose}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn spawn_in(cg: &Cgroup, script: &str) -> Child {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", script]);
    cg.attach_before_exec(&mut cmd).unwrap();
    cmd.spawn().unwrap()
}

fn teardown(cg: Cgroup, mut child: Child) {
    cg.kill_all().unwrap();
    let _ = child.kill();
    child.wait().unwrap();
    let dirs = cg.dirs();
    cg.remove().unwrap();
    for dir in dirs {
        assert!(!dir.exists(), "{} left behind", dir.display());
    }
}

#[test]
fn real_cgroup_quota_throttles_a_busy_child() {
    let h = Hierarchy::detect().unwrap();
    let limits = Limits {
        cpu_quota_us: Some(10_000),
        cpu_period_us: 100_000,
        memory_bytes: None,
    };
    let cg = Cgroup::create(&h, &unique_name("quota"), &limits).unwrap();
    let started = Instant::now();
    let child = spawn_in(&cg, "while :; do :; done");
    assert_eq!(cg.pids().unwrap(), vec![child.id() as i32]);

    std::thread::sleep(Duration::from_millis(1500));
    let counters = cg.counters().unwrap();
    let wall = started.elapsed();
    teardown(cg, child);

    assert_eq!(counters.cpu_quota_us, Some(10_000));
    assert_eq!(counters.cpu_period_us, Some(100_000));
    assert!(counters.nr_throttled.unwrap() > 0, "{counters:?}");
    assert!(counters.throttled_ns.unwrap() > 0, "{counters:?}");
    let share = counters.cpu_usage_ns.unwrap() as f64 / wall.as_nanos() as f64;
    eprintln!("CPU share {share:.3} of wall over {wall:?}: {counters:?}");
    assert!(
        (0.05..=0.20).contains(&share),
        "CPU share {share:.3} of wall, expected ≈ 0.10: {counters:?}"
    );
}

#[test]
fn real_cgroup_memory_limit_kills_an_allocating_child() {
    let h = Hierarchy::detect().unwrap();
    let limits = Limits {
        memory_bytes: Some(64 << 20),
        ..Limits::default()
    };
    let cg = Cgroup::create(&h, &unique_name("memory"), &limits).unwrap();
    // `tail` keeps a newline-free stream in memory: 300 MiB against a 64 MiB limit.
    let mut child = spawn_in(&cg, "head -c 300M /dev/zero | tail");
    let status = child.wait().unwrap();
    let counters = cg.counters().unwrap();
    teardown(cg, child);

    // sh reports its killed pipeline as 128 + SIGKILL.
    assert_eq!(status.code(), Some(128 + libc::SIGKILL), "{status:?}");
    assert_eq!(status.signal(), None);
    assert_eq!(counters.memory_limit_bytes, Some(64 << 20));
    assert!(counters.oom_kill.unwrap() >= 1, "{counters:?}");
    assert!(counters.memory_failcnt.unwrap() > 0, "{counters:?}");
    assert!(
        counters.memory_max_usage_bytes.unwrap() <= 64 << 20,
        "{counters:?}"
    );
}

#[test]
fn real_cgroup_counter_files_follow_a_pid_into_its_cgroup() {
    let h = Hierarchy::detect().unwrap();
    let limits = Limits::from_millicores(Some(250), Some(128 << 20));
    let cg = Cgroup::create(&h, &unique_name("pid"), &limits).unwrap();
    let child = spawn_in(&cg, "exec sleep 30");

    let mut files = CounterFiles::for_pid(&h, child.id() as i32).unwrap();
    let first = files.read().unwrap();
    let again = files.read().unwrap();
    let peak_reset = files.reset_memory_peak().unwrap();
    let after_reset = files.read().unwrap();
    let path = files.cgroup_path().to_string();
    drop(files);
    let expected_path = cg.cgroup_path().to_string();
    teardown(cg, child);

    assert_eq!(path, expected_path);
    assert_eq!(first.cpu_quota_us, Some(25_000));
    assert_eq!(first.memory_limit_bytes, Some(128 << 20));
    assert!(first.memory_usage_bytes.unwrap() > 0, "{first:?}");
    assert!(again.cpu_usage_ns >= first.cpu_usage_ns);
    assert!(peak_reset);
    // The peak restarts from the current usage.
    assert!(
        after_reset.memory_max_usage_bytes.unwrap() <= first.memory_max_usage_bytes.unwrap(),
        "{first:?} then {after_reset:?}"
    );
}

#[test]
fn real_cgroup_remove_waits_for_killed_tasks_and_leaves_nothing() {
    let h = Hierarchy::detect().unwrap();
    let cg = Cgroup::create(&h, &unique_name("remove"), &Limits::default()).unwrap();
    let dirs = cg.dirs();
    assert!(dirs.iter().all(|d| d.is_dir()));
    // Children that fork grandchildren: kill_all must reach them all.
    let mut child = spawn_in(&cg, "sleep 30 & sleep 30 & wait");
    while cg.pids().unwrap().len() < 3 {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(cg.kill_all().unwrap(), 3);
    child.wait().unwrap();
    cg.remove().unwrap();
    for dir in dirs {
        assert!(!dir.exists(), "{} left behind", dir.display());
    }
}

#[test]
fn real_cgroup_drop_removes_an_empty_cgroup() {
    let h = Hierarchy::detect().unwrap();
    let cg = Cgroup::create(&h, &unique_name("drop"), &Limits::default()).unwrap();
    let dirs = cg.dirs();
    drop(cg);
    for dir in dirs {
        assert!(!dir.exists(), "{} left behind", dir.display());
    }
}

#[test]
fn real_cgroup_remove_with_live_tasks_is_busy() {
    let h = Hierarchy::detect().unwrap();
    let cg = Cgroup::create(&h, &unique_name("busy"), &Limits::default()).unwrap();
    let dirs = cg.dirs();
    let mut child = spawn_in(&cg, "exec sleep 30");
    let pid = child.id() as i32;
    let err = cg.remove().unwrap_err();
    assert!(matches!(err, cgroup::Error::Busy { .. }), "{err:?}");

    // Clean up by hand: the Cgroup is gone, the directories are not.
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    child.wait().unwrap();
    for dir in &dirs {
        remove_dir_when_idle(dir);
    }
}

/// The kernel unlinks an exited task from its cgroup just after the parent can reap it, so an
/// immediate rmdir may still see EBUSY.
fn remove_dir_when_idle(dir: &std::path::Path) {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        match std::fs::remove_dir(dir) {
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            result => return result.unwrap(),
        }
    }
}

#[test]
fn real_cgroup_leftovers_of_a_killed_run_are_found_by_prefix_and_removed() {
    let h = Hierarchy::detect().unwrap();
    let prefix = unique_name("stale");
    // A run that died without cleaning up: its cgroups (one with a live task) stay behind.
    let left = Cgroup::create(&h, &format!("{prefix}-small-0"), &Limits::default()).unwrap();
    let mut child = spawn_in(&left, "sleep 30");
    let empty = Cgroup::create(&h, &format!("{prefix}-large-0"), &Limits::default()).unwrap();
    let dirs: Vec<_> = left.dirs().into_iter().chain(empty.dirs()).collect();
    std::mem::forget(left);
    std::mem::forget(empty);
    let unrelated = Cgroup::create(&h, &unique_name("unrelated"), &Limits::default()).unwrap();

    let stale = Cgroup::existing_with_prefix(&h, &prefix).unwrap();
    assert_eq!(stale.len(), 2);
    for cg in &stale {
        cg.kill_all().unwrap();
    }
    child.wait().unwrap();
    for cg in stale {
        cg.remove().unwrap();
    }
    for dir in dirs {
        assert!(!dir.exists(), "{} left behind", dir.display());
    }
    assert!(
        unrelated.dirs().iter().all(|d| d.is_dir()),
        "an unrelated cgroup was touched"
    );
    unrelated.remove().unwrap();
}
