//! Cgroup behaviour against fake trees in temporary directories.
//!
//! This machine cannot set v2 limits (its cgroup2 tree has no cpu or memory controller), so the
//! v2 paths are checked against a fake unified tree: the files written and parsed must be the
//! kernel's names with the kernel's formats. v1 parsing is checked the same way; real v1 cgroups
//! are exercised in `real_cgroup.rs`.

use std::fs;
use std::path::Path;
use std::process::Command;

use cgroup::{Cgroup, Controller, CounterFiles, Error, Hierarchy, Limits, Version};

fn write(path: &Path, content: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, content).unwrap();
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap()
}

const TEN_PERCENT_256M: Limits = Limits {
    cpu_quota_us: Some(10_000),
    cpu_period_us: 100_000,
    memory_bytes: Some(256 << 20),
};

/// A v2 parent at `root/pods` with both controllers available and none enabled yet.
fn fake_v2_parent(root: &Path) -> Hierarchy {
    write(
        &root.join("pods/cgroup.controllers"),
        "cpuset cpu io memory pids\n",
    );
    write(&root.join("pods/cgroup.subtree_control"), "");
    Hierarchy::v2_at(root, "/pods")
}

#[test]
fn fake_v2_tree_create_enables_controllers_and_writes_cpu_max_and_memory_max() {
    let root = tempfile::tempdir().unwrap();
    let h = fake_v2_parent(root.path());
    let cg = Cgroup::create(&h, "small", &TEN_PERCENT_256M).unwrap();

    assert_eq!(cg.version(), Version::V2);
    assert_eq!(cg.dirs(), vec![root.path().join("pods/small")]);
    assert_eq!(cg.cgroup_path(), "/pods/small");
    assert_eq!(
        read(&root.path().join("pods/cgroup.subtree_control")),
        "+cpu +memory"
    );
    let dir = root.path().join("pods/small");
    assert_eq!(read(&dir.join("cpu.max")), "10000 100000");
    assert_eq!(read(&dir.join("memory.max")), (256u64 << 20).to_string());
}

#[test]
fn fake_v2_tree_unlimited_cpu_is_written_as_max() {
    let root = tempfile::tempdir().unwrap();
    let h = fake_v2_parent(root.path());
    let limits = Limits {
        cpu_period_us: 50_000,
        ..Limits::default()
    };
    let cg = Cgroup::create(&h, "free", &limits).unwrap();
    let dir = cg.dir(Controller::Cpu).unwrap();
    assert_eq!(read(&dir.join("cpu.max")), "max 50000");
    assert!(!dir.join("memory.max").exists());
}

#[test]
fn fake_v2_tree_already_enabled_controllers_are_left_alone() {
    let root = tempfile::tempdir().unwrap();
    let h = fake_v2_parent(root.path());
    write(
        &root.path().join("pods/cgroup.subtree_control"),
        "cpu memory\n",
    );
    let _cg = Cgroup::create(&h, "small", &TEN_PERCENT_256M).unwrap();
    assert_eq!(
        read(&root.path().join("pods/cgroup.subtree_control")),
        "cpu memory\n"
    );
}

#[test]
fn fake_v2_tree_parent_without_memory_controller_is_reported() {
    let root = tempfile::tempdir().unwrap();
    write(&root.path().join("cgroup.controllers"), "cpu pids\n");
    let h = Hierarchy::v2_at(root.path(), "/");
    let err = Cgroup::create(&h, "small", &TEN_PERCENT_256M).unwrap_err();
    assert!(
        matches!(
            err,
            Error::ControllerUnavailable {
                controller: "memory",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(!root.path().join("small").exists());
}

#[test]
fn fake_v2_tree_existing_directory_is_not_reused() {
    let root = tempfile::tempdir().unwrap();
    let h = fake_v2_parent(root.path());
    fs::create_dir(root.path().join("pods/small")).unwrap();
    let err = Cgroup::create(&h, "small", &TEN_PERCENT_256M).unwrap_err();
    assert!(matches!(err, Error::AlreadyExists { .. }), "{err:?}");
}

#[test]
fn fake_v2_tree_counters_parse_kernel_formats() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("pods/small");
    write(
        &dir.join("cpu.stat"),
        "usage_usec 512000\nuser_usec 500000\nsystem_usec 12000\nnr_periods 51\n\
         nr_throttled 50\nthrottled_usec 4500000\nnr_bursts 0\nburst_usec 0\n",
    );
    write(&dir.join("cpu.max"), "10000 100000\n");
    write(&dir.join("memory.current"), "1048576\n");
    write(&dir.join("memory.peak"), "2097152\n");
    write(&dir.join("memory.max"), "max\n");
    write(
        &dir.join("memory.events"),
        "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\noom_group_kill 0\n",
    );
    let h = Hierarchy::v2_at(root.path(), "/");
    let mut files = CounterFiles::from_proc_cgroup(&h, "0::/pods/small\n", 42).unwrap();
    assert_eq!(files.cgroup_path(), "/pods/small");

    let counters = files.read().unwrap();
    assert_eq!(counters.cpu_usage_ns, Some(512_000_000));
    assert_eq!(counters.cpu_quota_us, Some(10_000));
    assert_eq!(counters.cpu_period_us, Some(100_000));
    assert_eq!(counters.nr_periods, Some(51));
    assert_eq!(counters.nr_throttled, Some(50));
    assert_eq!(counters.throttled_ns, Some(4_500_000_000));
    assert_eq!(counters.memory_usage_bytes, Some(1 << 20));
    assert_eq!(counters.memory_max_usage_bytes, Some(2 << 20));
    assert_eq!(counters.memory_limit_bytes, None);
    assert_eq!(counters.memory_failcnt, Some(3));
    assert_eq!(counters.oom_kill, Some(1));

    // The files stay open: a rewritten value is seen by the next read.
    write(&dir.join("memory.current"), "4096\n");
    assert_eq!(files.read().unwrap().memory_usage_bytes, Some(4096));
}

#[test]
fn fake_v2_tree_attach_writes_zero_to_cgroup_procs_before_exec() {
    let root = tempfile::tempdir().unwrap();
    let h = fake_v2_parent(root.path());
    let cg = Cgroup::create(&h, "small", &TEN_PERCENT_256M).unwrap();
    let procs = cg.dir(Controller::Cpu).unwrap().join("cgroup.procs");
    write(&procs, "");

    let mut cmd = Command::new("true");
    cg.attach_before_exec(&mut cmd).unwrap();
    let status = cmd.status().unwrap();
    assert!(status.success());
    assert_eq!(read(&procs), "0");
}

#[test]
fn fake_v2_tree_failed_join_fails_the_spawn() {
    let root = tempfile::tempdir().unwrap();
    let h = fake_v2_parent(root.path());
    let cg = Cgroup::create(&h, "small", &TEN_PERCENT_256M).unwrap();
    // A directory cannot be opened for writing: attach reports it before any spawn.
    fs::create_dir(cg.dir(Controller::Cpu).unwrap().join("cgroup.procs")).unwrap();
    let mut cmd = Command::new("true");
    assert!(cg.attach_before_exec(&mut cmd).is_err());

    // A procs file the child cannot write to (here: /dev/full) makes spawn itself fail.
    let procs = cg.dir(Controller::Cpu).unwrap().join("cgroup.procs");
    fs::remove_dir(&procs).unwrap();
    std::os::unix::fs::symlink("/dev/full", &procs).unwrap();
    let mut cmd = Command::new("true");
    cg.attach_before_exec(&mut cmd).unwrap();
    let err = cmd.spawn().unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENOSPC), "{err}");
}

#[test]
fn fake_v1_tree_create_writes_quota_period_and_limit_in_every_controller() {
    let root = tempfile::tempdir().unwrap();
    for controller in ["cpu", "cpuacct", "memory"] {
        fs::create_dir_all(root.path().join(controller).join("job")).unwrap();
    }
    let h = Hierarchy::v1_at(root.path(), "/job");
    let cg = Cgroup::create(&h, "small", &TEN_PERCENT_256M).unwrap();

    assert_eq!(cg.dirs().len(), 3);
    let cpu = root.path().join("cpu/job/small");
    assert_eq!(read(&cpu.join("cpu.cfs_period_us")), "100000");
    assert_eq!(read(&cpu.join("cpu.cfs_quota_us")), "10000");
    assert!(root.path().join("cpuacct/job/small").is_dir());
    let memory = root.path().join("memory/job/small");
    assert_eq!(
        read(&memory.join("memory.limit_in_bytes")),
        (256u64 << 20).to_string()
    );
    assert_eq!(cg.cgroup_path(), "/job/small");
}

#[test]
fn fake_v1_tree_counters_parse_kernel_formats_and_unlimited() {
    let root = tempfile::tempdir().unwrap();
    let cpu = root.path().join("cpu/a");
    let cpuacct = root.path().join("cpuacct/a");
    let memory = root.path().join("memory/b");
    write(&cpuacct.join("cpuacct.usage"), "510000000\n");
    write(
        &cpu.join("cpu.stat"),
        "nr_periods 51\nnr_throttled 51\nthrottled_time 4400000000\nnr_bursts 0\nburst_time 0\n",
    );
    write(&cpu.join("cpu.cfs_quota_us"), "-1\n");
    write(&cpu.join("cpu.cfs_period_us"), "100000\n");
    write(&memory.join("memory.usage_in_bytes"), "8192\n");
    write(&memory.join("memory.max_usage_in_bytes"), "16384\n");
    write(
        &memory.join("memory.limit_in_bytes"),
        "9223372036854771712\n",
    );
    write(&memory.join("memory.failcnt"), "12\n");
    write(
        &memory.join("memory.oom_control"),
        "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n",
    );
    let h = Hierarchy::v1_at(root.path(), "/");
    let proc_cgroup = "9:name=systemd:/\n4:memory:/b\n2:cpuacct:/a\n1:cpu:/a\n0::/\n";
    let mut files = CounterFiles::from_proc_cgroup(&h, proc_cgroup, 42).unwrap();
    assert_eq!(files.cgroup_path(), "/b");

    let c = files.read().unwrap();
    assert_eq!(c.cpu_usage_ns, Some(510_000_000));
    assert_eq!((c.cpu_quota_us, c.cpu_period_us), (None, Some(100_000)));
    assert_eq!(
        (c.nr_periods, c.nr_throttled, c.throttled_ns),
        (Some(51), Some(51), Some(4_400_000_000))
    );
    assert_eq!(c.memory_usage_bytes, Some(8192));
    assert_eq!(c.memory_max_usage_bytes, Some(16384));
    assert_eq!(c.memory_limit_bytes, None);
    assert_eq!((c.memory_failcnt, c.oom_kill), (Some(12), Some(1)));

    // The kernel resets the peak on any write; the fake file just shows the "0" written.
    assert!(files.reset_memory_peak().unwrap());
    assert!(read(&memory.join("memory.max_usage_in_bytes")).starts_with('0'));
}

#[test]
fn fake_v1_tree_process_missing_a_controller_is_reported() {
    let root = tempfile::tempdir().unwrap();
    let h = Hierarchy::v1_at(root.path(), "/");
    let err = CounterFiles::from_proc_cgroup(&h, "1:cpu:/a\n2:cpuacct:/a\n", 7).unwrap_err();
    assert!(
        matches!(
            err,
            Error::NotInController {
                pid: 7,
                controller: "memory"
            }
        ),
        "{err:?}"
    );
}

#[test]
fn fake_v1_tree_garbage_counter_is_a_parse_error() {
    let root = tempfile::tempdir().unwrap();
    write(&root.path().join("cpuacct/cpuacct.usage"), "n/a\n");
    let h = Hierarchy::v1_at(root.path(), "/");
    let mut files =
        CounterFiles::from_proc_cgroup(&h, "1:cpu:/\n2:cpuacct:/\n3:memory:/\n", 1).unwrap();
    assert!(matches!(files.read(), Err(Error::Parse { .. })));
}

/// Root ignores file modes, but sysfs refuses `mkdir` to everyone: a v1 tree whose controller
/// directories lead into /sys/kernel gets a real EPERM from the kernel.
#[test]
fn permission_denied_names_the_path_and_advises_root_or_delegation() {
    let root = tempfile::tempdir().unwrap();
    for controller in ["cpu", "cpuacct", "memory"] {
        std::os::unix::fs::symlink("/sys/kernel", root.path().join(controller)).unwrap();
    }
    let h = Hierarchy::v1_at(root.path(), "/");
    let err = Cgroup::create(&h, "denied", &TEN_PERCENT_256M).unwrap_err();
    match &err {
        Error::PermissionDenied { path, .. } => {
            assert_eq!(path, &root.path().join("cpu/denied"));
        }
        other => panic!("expected PermissionDenied, got {other:?}"),
    }
    let message = err.to_string();
    assert!(message.contains("run as root"), "{message}");
    assert!(message.contains("delegate"), "{message}");
}

#[test]
fn invalid_names_are_rejected_before_touching_the_tree() {
    let root = tempfile::tempdir().unwrap();
    let h = fake_v2_parent(root.path());
    for bad in ["", "../escape", "a/b", ".."] {
        let err = Cgroup::create(&h, bad, &TEN_PERCENT_256M).unwrap_err();
        assert!(matches!(err, Error::InvalidName { .. }), "{bad:?}: {err:?}");
    }
    assert_eq!(
        read(&root.path().join("pods/cgroup.subtree_control")),
        "",
        "nothing was enabled for an invalid name"
    );
}
