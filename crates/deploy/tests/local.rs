//! The local backend against the real `cl-target` binary and real cgroups. Tests that create
//! cgroups have `real_cgroup` in their names (CI runs those one at a time).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use deploy::{Backend, DeployError, Deployed, Exit, LocalBackend, LocalOptions, PodSize, http};
use serde_json::json;

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

fn target_binary() -> PathBuf {
    testkit::cl_target_binary()
}

fn options(test: &str) -> LocalOptions {
    LocalOptions {
        cgroup_prefix: format!("cl-deploy-test-{}-{test}", std::process::id()),
        startup_timeout: Duration::from_secs(120),
        ..LocalOptions::default()
    }
}

fn backend(options: LocalOptions) -> LocalBackend {
    LocalBackend::new(target_binary(), options).expect("backend")
}

fn process_exists(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(pid, 0) == 0 }
}

fn post(
    target: &dyn Deployed,
    path: &str,
    body: serde_json::Value,
) -> std::io::Result<http::Response> {
    http::post_json(
        &format!("{}{path}", target.api_url()),
        &body,
        REQUEST_TIMEOUT,
    )
}

fn wait_for_exit(target: &mut dyn Deployed, patience: Duration) -> Option<Exit> {
    let deadline = Instant::now() + patience;
    while Instant::now() < deadline {
        if let Some(exit) = target.check_exit() {
            return Some(exit);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// The first line of `file` in the cgroup directory among `dirs` that has it.
fn cgroup_value(dirs: &[PathBuf], file: &str) -> String {
    dirs.iter()
        .find_map(|dir| std::fs::read_to_string(dir.join(file)).ok())
        .unwrap_or_else(|| panic!("no {file} in {dirs:?}"))
        .trim()
        .to_owned()
}

fn assert_ml_served(target: &mut dyn Deployed, expected_seq: u64) {
    let answer = post(target, "/ml", json!({"input": 1000})).expect("POST /ml");
    assert_eq!(answer.status, 200, "{}", answer.body_text());
    let record = target
        .next_record(Duration::from_secs(10))
        .expect("a request record");
    assert_eq!(record["type"], "prev_request_history");
    assert_eq!(record["endpoint"], "/ml");
    assert_eq!(record["outcome"], "ok");
    assert_eq!(record["seq"], expected_seq);
}

#[test]
fn real_cgroup_deploy_serves_and_tears_down() {
    let logs = tempfile::tempdir().unwrap();
    let backend = backend(LocalOptions {
        log_dir: Some(logs.path().to_owned()),
        // Loading libtorch on a tenth of a core, in a debug build.
        startup_timeout: Duration::from_secs(240),
        ..options("serve")
    });
    let small = PodSize::new("small", 100, GIB);

    let preflight = backend.preflight(std::slice::from_ref(&small)).unwrap();
    assert!(preflight.limits_enforced);
    assert!(
        ["v1", "v2"].contains(&preflight.cgroup_mode.as_str()),
        "{preflight:?}"
    );
    assert_eq!(
        (
            preflight.requested_cpu_millicores,
            preflight.requested_memory_bytes
        ),
        (100, GIB)
    );

    let mut target = backend.deploy(&small).unwrap();
    eprintln!("small (100m) started in {:?}", target.startup_time());
    assert_eq!(target.instance(), "small#0");
    let pid = target.pid().expect("local targets have a pid");
    let dirs = backend.cgroup_dirs(&small, 0);
    assert!(
        !dirs.is_empty() && dirs.iter().all(|d| d.is_dir()),
        "{dirs:?}"
    );

    // The limits are the size's, and the target runs under them.
    let v1 = preflight.cgroup_mode == "v1";
    if v1 {
        assert_eq!(cgroup_value(&dirs, "cpu.cfs_quota_us"), "10000");
        assert_eq!(cgroup_value(&dirs, "cpu.cfs_period_us"), "100000");
        assert_eq!(
            cgroup_value(&dirs, "memory.limit_in_bytes"),
            GIB.to_string()
        );
    } else {
        assert_eq!(cgroup_value(&dirs, "cpu.max"), "10000 100000");
        assert_eq!(cgroup_value(&dirs, "memory.max"), GIB.to_string());
    }
    let cgroup_name = format!("{}-small-0", options("serve").cgroup_prefix);
    let proc_cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(proc_cgroup.contains(&cgroup_name), "{proc_cgroup}");
    assert_eq!(target.build_info()["type"], "build_info");
    assert_eq!(
        target.build_info()["kernel_threads"],
        1,
        "a 100m quota allows one thread"
    );

    let health = http::get(&format!("{}/health", target.api_url()), REQUEST_TIMEOUT).unwrap();
    assert_eq!(health.status, 200);
    assert_eq!(health.json().unwrap()["status"], "healthy");
    let metrics = http::get(
        &format!("{}/metrics", target.metrics_url()),
        REQUEST_TIMEOUT,
    )
    .unwrap();
    assert_eq!(metrics.status, 200);
    assert!(metrics.body_text().contains("instance=\"small#0\""));
    assert_ml_served(target.as_mut(), 0);

    let log_file = logs.path().join("small#0.jsonl");
    let logged = std::fs::read_to_string(&log_file).unwrap();
    assert!(logged.contains("\"prev_request_history\""), "{logged}");
    assert!(logs.path().join("small#0.stderr.log").is_file());

    target.shutdown().unwrap();
    assert!(
        dirs.iter().all(|d| !d.exists()),
        "cgroup left behind: {dirs:?}"
    );
    assert!(!process_exists(pid), "target {pid} still running");
}

#[test]
fn real_cgroup_oom_is_detected_and_restart_works() {
    let backend = backend(options("oom"));
    // The target rests at ~180 MB with libtorch loaded; encoding 1440p needs ~650 MB.
    let tight = PodSize::new("tight", 1000, 400 * MIB);
    let mut target = backend.deploy(&tight).unwrap();
    let first_pid = target.pid().unwrap();

    let answer = post(
        target.as_ref(),
        "/video",
        json!({"profile": 2, "seconds": 2}),
    );
    assert!(answer.is_err(), "the encode should not survive: {answer:?}");
    let exit = wait_for_exit(target.as_mut(), Duration::from_secs(10));
    assert_eq!(
        exit,
        Some(Exit::Oom {
            signal: libc::SIGKILL
        })
    );
    assert_eq!(target.check_exit(), exit, "the answer does not change");

    target.restart().unwrap();
    assert_eq!(target.instance(), "tight#1");
    assert_ne!(target.pid(), Some(first_pid));
    assert!(backend.cgroup_dirs(&tight, 0).iter().all(|d| !d.exists()));
    assert!(backend.cgroup_dirs(&tight, 1).iter().all(|d| d.is_dir()));
    assert_eq!(target.check_exit(), None, "the new instance is alive");
    assert_ml_served(target.as_mut(), 0);

    target.shutdown().unwrap();
    assert!(backend.cgroup_dirs(&tight, 1).iter().all(|d| !d.exists()));
}

#[test]
fn real_cgroup_crash_is_reported() {
    let backend = backend(options("crash"));
    let size = PodSize::new("crashy", 1000, GIB);
    let mut target = backend.deploy(&size).unwrap();

    // Killed from outside, not by the memory limit: a crash, not an OOM.
    let pid = target.pid().unwrap();
    // SAFETY: kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    let exit = wait_for_exit(target.as_mut(), Duration::from_secs(10));
    assert_eq!(
        exit,
        Some(Exit::Crashed {
            code: None,
            signal: Some(libc::SIGKILL)
        })
    );

    // SIGTERM makes the target stop gracefully: an exit, not a crash.
    target.restart().unwrap();
    assert_eq!(target.instance(), "crashy#1");
    let pid = target.pid().unwrap();
    // SAFETY: kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let exit = wait_for_exit(target.as_mut(), Duration::from_secs(10));
    assert_eq!(exit, Some(Exit::Exited { code: 0 }));
    target.shutdown().unwrap();
    assert!(backend.cgroup_dirs(&size, 1).iter().all(|d| !d.exists()));
}

#[test]
fn real_cgroup_drop_without_shutdown_removes_the_cgroup_and_process() {
    let backend = backend(options("drop"));
    let size = PodSize::new("dropped", 1000, GIB);
    let target = backend.deploy(&size).unwrap();
    let pid = target.pid().unwrap();
    let dirs = backend.cgroup_dirs(&size, 0);
    assert!(dirs.iter().all(|d| d.is_dir()));

    drop(target);
    assert!(
        dirs.iter().all(|d| !d.exists()),
        "cgroup left behind: {dirs:?}"
    );
    assert!(!process_exists(pid), "target {pid} still running");
}

#[test]
fn real_cgroup_startup_timeout_kills_the_target_and_removes_its_cgroup() {
    let scripts = tempfile::tempdir().unwrap();
    let silent = write_script(
        scripts.path(),
        "silent",
        "echo 'starting slowly' >&2\nexec sleep 60\n",
    );
    let backend = LocalBackend::new(
        silent,
        LocalOptions {
            startup_timeout: Duration::from_secs(1),
            ..options("timeout")
        },
    )
    .unwrap();
    let size = PodSize::new("slow", 100, 64 * MIB);
    let begun = Instant::now();
    let err = backend.deploy(&size).err().expect("start-up must time out");
    assert!(
        begun.elapsed() < Duration::from_secs(10),
        "{:?}",
        begun.elapsed()
    );
    match &err {
        DeployError::Startup {
            instance,
            reason,
            stderr_tail,
        } => {
            assert_eq!(instance, "slow#0");
            assert!(reason.contains("no `listening` line"), "{reason}");
            assert_eq!(stderr_tail, "starting slowly");
        }
        other => panic!("expected Startup, got {other:?}"),
    }
    assert!(backend.cgroup_dirs(&size, 0).iter().all(|d| !d.exists()));
}

#[test]
fn no_limits_mode_runs_without_cgroups() {
    let backend = backend(LocalOptions {
        limits: false,
        ..options("nolimits")
    });
    let size = PodSize::new("free", 100, GIB);
    let preflight = backend.preflight(std::slice::from_ref(&size)).unwrap();
    assert!(!preflight.limits_enforced);
    assert_eq!(preflight.cgroup_mode, "none (--no-limits)");
    assert!(
        preflight.warnings.iter().any(|w| w.contains("--no-limits")),
        "{preflight:?}"
    );
    assert!(backend.cgroup_dirs(&size, 0).is_empty());

    let mut target = backend.deploy(&size).unwrap();
    eprintln!("unlimited target started in {:?}", target.startup_time());
    let pid = target.pid().unwrap();
    // SAFETY: getpgid(2) only reads.
    let group = unsafe { libc::getpgid(pid) };
    assert_eq!(
        group, pid,
        "the target leads its own process group (Ctrl-C spares it)"
    );
    let memory_line = |text: &str| {
        text.lines()
            .find(|l| {
                l.split(':')
                    .nth(1)
                    .is_some_and(|c| c.split(',').any(|c| c == "memory"))
            })
            .map(str::to_owned)
    };
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let theirs = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert_eq!(
        memory_line(&theirs),
        memory_line(&own),
        "the target stays in our cgroup"
    );
    assert_ml_served(target.as_mut(), 0);

    target.shutdown().unwrap();
    assert!(!process_exists(pid));
}

#[test]
fn a_target_that_dies_at_startup_reports_its_exit_and_stderr() {
    let scripts = tempfile::tempdir().unwrap();
    let failing = write_script(
        scripts.path(),
        "failing",
        "echo 'first line' >&2\necho 'error: cannot load libtorch' >&2\nexit 3\n",
    );
    let backend = LocalBackend::new(
        failing,
        LocalOptions {
            limits: false,
            ..options("dies")
        },
    )
    .unwrap();
    let err = backend
        .deploy(&PodSize::new("doomed", 100, GIB))
        .err()
        .expect("start-up must fail");
    let message = err.to_string();
    match err {
        DeployError::Startup {
            instance,
            reason,
            stderr_tail,
        } => {
            assert_eq!(instance, "doomed#0");
            assert!(reason.contains("exited with code 3"), "{reason}");
            assert_eq!(stderr_tail, "first line\nerror: cannot load libtorch");
            assert!(message.contains("cannot load libtorch"), "{message}");
        }
        other => panic!("expected Startup, got {other:?}"),
    }
}

#[test]
fn a_missing_binary_is_a_spawn_error() {
    let err = LocalBackend::new(PathBuf::from("/nonexistent/cl-target"), options("missing"))
        .expect_err("no backend for a missing binary");
    assert!(matches!(err, DeployError::Spawn { .. }), "{err:?}");
}

/// Root ignores file modes, but sysfs refuses `mkdir` to everyone: a v1 tree whose controller
/// directories lead into /sys/kernel gets a real EPERM from the kernel.
#[test]
fn refused_cgroups_fail_preflight_and_deploy_with_the_way_out() {
    let root = tempfile::tempdir().unwrap();
    for controller in ["cpu", "cpuacct", "memory"] {
        std::os::unix::fs::symlink("/sys/kernel", root.path().join(controller)).unwrap();
    }
    let hierarchy = cgroup::Hierarchy::v1_at(root.path(), "/");
    // Nothing may be spawned: any existing file will do as the binary.
    let backend =
        LocalBackend::with_hierarchy(PathBuf::from("/bin/true"), options("denied"), hierarchy)
            .unwrap();
    let small = PodSize::new("small", 100, GIB);
    for err in [
        backend.preflight(std::slice::from_ref(&small)).unwrap_err(),
        backend.deploy(&small).err().expect("deploy must fail"),
    ] {
        let DeployError::NoPermission { path, .. } = &err else {
            panic!("expected NoPermission, got {err:?}");
        };
        assert!(path.starts_with(root.path()), "{}", path.display());
        let message = err.to_string();
        assert!(message.contains("--no-limits"), "{message}");
        assert!(message.contains("root"), "{message}");
    }
}

fn write_script(dir: &Path, name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}
