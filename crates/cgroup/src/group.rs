//! Creating, joining, killing and removing one child cgroup.

use std::fs::OpenOptions;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::{Controller, CounterFiles, Counters, Error, Hierarchy, Version, sys};

/// Pod-like limits for a cgroup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// CPU time per period; `None` = unlimited.
    pub cpu_quota_us: Option<u64>,
    pub cpu_period_us: u64,
    /// Memory limit (also the memory+swap limit where the host has swap, so the cgroup does
    /// not swap); `None` = unlimited.
    pub memory_bytes: Option<u64>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            cpu_quota_us: None,
            cpu_period_us: DEFAULT_PERIOD_US,
            memory_bytes: None,
        }
    }
}

const DEFAULT_PERIOD_US: u64 = 100_000;
/// The kernel accepts periods of 1 ms to 1 s and quotas of at least 1 ms.
const MIN_PERIOD_US: u64 = 1_000;
const MAX_PERIOD_US: u64 = 1_000_000;
const MIN_QUOTA_US: u64 = 1_000;

impl Limits {
    /// Kubernetes-style limits: `millicores` thousandths of a core (100 = "100m") over the
    /// default 100 ms period.
    pub fn from_millicores(millicores: Option<u64>, memory_bytes: Option<u64>) -> Limits {
        Limits {
            cpu_quota_us: millicores.map(|m| m * DEFAULT_PERIOD_US / 1000),
            cpu_period_us: DEFAULT_PERIOD_US,
            memory_bytes,
        }
    }

    /// Checks the limits against what the kernel accepts.
    pub fn validate(&self) -> Result<(), Error> {
        if !(MIN_PERIOD_US..=MAX_PERIOD_US).contains(&self.cpu_period_us) {
            return Err(Error::InvalidLimits(format!(
                "cpu period {} µs is outside {MIN_PERIOD_US}..={MAX_PERIOD_US}",
                self.cpu_period_us
            )));
        }
        if let Some(quota) = self.cpu_quota_us.filter(|&q| q < MIN_QUOTA_US) {
            return Err(Error::InvalidLimits(format!(
                "cpu quota {quota} µs is below {MIN_QUOTA_US}"
            )));
        }
        if self.memory_bytes == Some(0) {
            return Err(Error::InvalidLimits("memory limit of 0 bytes".into()));
        }
        Ok(())
    }
}

/// A child cgroup created by this process, removed on [`Cgroup::remove`] or (best effort) on
/// drop.
#[derive(Debug)]
pub struct Cgroup {
    version: Version,
    name: String,
    /// The path `/proc/<pid>/cgroup` shows for members (v1: in the memory controller).
    cgroup_path: String,
    /// Each controller's directory; on v2, and for co-mounted v1 controllers, several
    /// controllers share one directory.
    controller_dirs: Vec<(Controller, PathBuf)>,
    removed: bool,
}

/// How long [`Cgroup::remove`] waits for exiting tasks to leave.
const REMOVE_PATIENCE: Duration = Duration::from_secs(2);
/// Drop must not hang: it tries only briefly.
const DROP_PATIENCE: Duration = Duration::from_millis(200);
const RETRY_PAUSE: Duration = Duration::from_millis(5);

impl Cgroup {
    /// Creates the child cgroup `name` below this process's own cgroups and applies `limits`.
    /// On failure nothing is left behind.
    pub fn create(h: &Hierarchy, name: &str, limits: &Limits) -> Result<Cgroup, Error> {
        validate_name(name)?;
        limits.validate()?;
        let controller_dirs: Vec<(Controller, PathBuf)> = h
            .controllers()
            .into_iter()
            .map(|c| {
                let parent = h
                    .own_dir(c)
                    .expect("controllers() lists only placed controllers");
                (c, parent.join(name))
            })
            .collect();
        let own = h.own_path(Controller::Memory).unwrap_or("/");
        let mut cgroup = Cgroup {
            version: h.version(),
            name: name.to_string(),
            cgroup_path: format!("{}/{name}", own.trim_end_matches('/')),
            controller_dirs,
            removed: true,
        };
        if cgroup.version == Version::V2 {
            let parent = h.own_dir(Controller::Cpu).expect("v2 always has cpu");
            enable_v2_controllers(&parent, h.create_missing_files)?;
        }
        for dir in cgroup.dirs() {
            match std::fs::create_dir(&dir) {
                Ok(()) => cgroup.removed = false,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    return Err(Error::AlreadyExists { path: dir });
                }
                Err(e) => return Err(Error::from_io("create cgroup", &dir, e)),
            }
        }
        // On error `cgroup` is dropped here, which removes the directories made so far.
        cgroup.write_limits(limits, h.create_missing_files)?;
        Ok(cgroup)
    }

    fn write_limits(&self, limits: &Limits, create: bool) -> Result<(), Error> {
        let cpu = self.dir(Controller::Cpu).expect("cpu is always placed");
        let memory = self
            .dir(Controller::Memory)
            .expect("memory is always placed");
        match self.version {
            Version::V1 => {
                // Period first: the kernel checks the quota against the current period.
                let period = limits.cpu_period_us.to_string();
                sys::write_value(&cpu.join("cpu.cfs_period_us"), &period, create)?;
                if let Some(quota) = limits.cpu_quota_us {
                    sys::write_value(&cpu.join("cpu.cfs_quota_us"), &quota.to_string(), create)?;
                }
                if let Some(bytes) = limits.memory_bytes {
                    let bytes = bytes.to_string();
                    sys::write_value(&memory.join("memory.limit_in_bytes"), &bytes, create)?;
                    // memsw (memory + swap) equal to the memory limit forbids swapping. Only
                    // set where swap exists: without swap it changes nothing, except that the
                    // charge then fails on memsw, whose failcnt the kernel (6.x) does not
                    // track, and `memory.failcnt` stays 0.
                    let memsw = memory.join("memory.memsw.limit_in_bytes");
                    if memsw.exists() && host_has_swap() {
                        sys::write_value(&memsw, &bytes, create)?;
                    }
                }
            }
            Version::V2 => {
                let quota = limits
                    .cpu_quota_us
                    .map_or_else(|| "max".to_string(), |q| q.to_string());
                let cpu_max = format!("{quota} {}", limits.cpu_period_us);
                sys::write_value(&cpu.join("cpu.max"), &cpu_max, create)?;
                if let Some(bytes) = limits.memory_bytes {
                    sys::write_value(&memory.join("memory.max"), &bytes.to_string(), create)?;
                    let swap = memory.join("memory.swap.max");
                    if swap.exists() {
                        sys::write_value(&swap, "0", create)?;
                    }
                }
            }
        }
        Ok(())
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn version(&self) -> Version {
        self.version
    }

    /// The path `/proc/<pid>/cgroup` shows for this cgroup's members (v1: the memory
    /// controller's).
    pub fn cgroup_path(&self) -> &str {
        &self.cgroup_path
    }

    /// The cgroup's directory for `controller`.
    pub fn dir(&self, controller: Controller) -> Option<&Path> {
        self.controller_dirs
            .iter()
            .find(|(c, _)| *c == controller)
            .map(|(_, dir)| dir.as_path())
    }

    /// The distinct directories of this cgroup (one on v2, one per mounted controller on v1).
    pub fn dirs(&self) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = Vec::new();
        for (_, dir) in &self.controller_dirs {
            if !dirs.contains(dir) {
                dirs.push(dir.clone());
            }
        }
        dirs
    }

    /// Arranges for the process that `cmd` spawns to join this cgroup (every controller)
    /// before it executes the new program.
    ///
    /// The `cgroup.procs` files are opened here, close-on-exec; between fork and exec the child
    /// only writes "0" ("the calling process") to each, which is async-signal-safe. Writing the
    /// PID after spawn would let the child run unlimited for a moment. If a write fails, spawn
    /// fails with that error.
    pub fn attach_before_exec(&self, cmd: &mut Command) -> Result<(), Error> {
        let procs_files: Vec<OwnedFd> = self
            .dirs()
            .into_iter()
            .map(|dir| {
                let path = dir.join("cgroup.procs");
                OpenOptions::new()
                    .write(true)
                    .custom_flags(libc::O_CLOEXEC)
                    .open(&path)
                    .map(OwnedFd::from)
                    .map_err(|e| Error::from_io("open", &path, e))
            })
            .collect::<Result<_, _>>()?;
        // SAFETY: the closure only calls write(2) on fds it owns and reads errno; it neither
        // allocates nor takes locks, so it is safe to run between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                for fd in &procs_files {
                    let written = libc::write(fd.as_raw_fd(), b"0".as_ptr().cast(), 1);
                    if written != 1 {
                        return Err(io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        Ok(())
    }

    /// Opens this cgroup's counter files for repeated reads.
    pub fn counter_files(&self) -> Result<CounterFiles, Error> {
        CounterFiles::open(
            self.version,
            &self.controller_dirs,
            self.cgroup_path.clone(),
        )
    }

    /// Takes over the existing children of this process's cgroups whose names start with
    /// `prefix`, e.g. those a killed run left behind. The caller kills their tasks and removes
    /// them like any cgroup it created.
    pub fn existing_with_prefix(h: &Hierarchy, prefix: &str) -> Result<Vec<Cgroup>, Error> {
        validate_name(prefix)?;
        let mut names = std::collections::BTreeSet::new();
        for controller in h.controllers() {
            let Some(parent) = h.own_dir(controller) else {
                continue;
            };
            let entries =
                std::fs::read_dir(&parent).map_err(|e| Error::from_io("list", &parent, e))?;
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with(prefix) && entry.path().is_dir() {
                    names.insert(name);
                }
            }
        }
        let own = h.own_path(Controller::Memory).unwrap_or("/");
        Ok(names
            .into_iter()
            .map(|name| Cgroup {
                version: h.version(),
                cgroup_path: format!("{}/{name}", own.trim_end_matches('/')),
                controller_dirs: h
                    .controllers()
                    .into_iter()
                    .filter_map(|c| Some((c, h.own_dir(c)?.join(&name))))
                    .filter(|(_, dir)| dir.is_dir())
                    .collect(),
                name,
                removed: false,
            })
            .collect())
    }

    /// Reads the counters once.
    pub fn counters(&self) -> Result<Counters, Error> {
        self.counter_files()?.read()
    }

    /// The processes (thread-group ids) in this cgroup, in any controller.
    pub fn pids(&self) -> Result<Vec<i32>, Error> {
        let mut pids = Vec::new();
        for dir in self.dirs() {
            let path = dir.join("cgroup.procs");
            let text = match std::fs::read_to_string(&path) {
                Ok(text) => text,
                // A fake tree has no procs file until something joins.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::from_io("read", &path, e)),
            };
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                let pid = line
                    .trim()
                    .parse::<i32>()
                    .map_err(|_| Error::parse(&path, format!("bad pid {line:?}")))?;
                pids.push(pid);
            }
        }
        pids.sort_unstable();
        pids.dedup();
        Ok(pids)
    }

    /// Sends SIGKILL to every process in the cgroup, repeating briefly for processes forked
    /// meanwhile. Never signals this process itself. Returns how many processes were signalled.
    pub fn kill_all(&self) -> Result<usize, Error> {
        let own_pid = std::process::id() as i32;
        let mut signalled = Vec::new();
        for _ in 0..10 {
            let pids: Vec<i32> = self
                .pids()?
                .into_iter()
                .filter(|&p| p != own_pid && p > 0)
                .collect();
            if pids.iter().all(|p| signalled.contains(p)) {
                break;
            }
            for pid in pids {
                // SAFETY: kill(2) has no memory-safety preconditions; ESRCH (already gone) is
                // fine.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                if !signalled.contains(&pid) {
                    signalled.push(pid);
                }
            }
            std::thread::sleep(RETRY_PAUSE);
        }
        Ok(signalled.len())
    }

    /// Removes the cgroup's directories (and any nested cgroups, deepest first). Tasks must be
    /// gone: exiting tasks are waited for briefly (EBUSY is retried), live ones give
    /// [`Error::Busy`] — call [`Cgroup::kill_all`] first. (The kernel unlinks an exited task
    /// from its cgroup only after its parent can already reap it, hence the retries.) On error,
    /// drop still makes a last brief attempt.
    pub fn remove(mut self) -> Result<(), Error> {
        self.remove_dirs(REMOVE_PATIENCE)?;
        self.removed = true;
        Ok(())
    }

    fn remove_dirs(&mut self, patience: Duration) -> Result<(), Error> {
        let deadline = Instant::now() + patience;
        let mut first_error = None;
        for dir in self.dirs() {
            if let Err(e) = remove_tree(&dir, deadline) {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        if !self.removed {
            let _ = self.remove_dirs(DROP_PATIENCE);
        }
    }
}

/// Whether any swap space is configured (`SwapTotal` in /proc/meminfo above 0).
fn host_has_swap() -> bool {
    std::fs::read_to_string("/proc/meminfo").is_ok_and(|meminfo| {
        meminfo
            .lines()
            .find_map(|line| line.strip_prefix("SwapTotal:"))
            .and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
            .is_some_and(|kib| kib > 0)
    })
}

/// Cgroup names are one plain path component.
fn validate_name(name: &str) -> Result<(), Error> {
    let reason = if name.is_empty() {
        Some("empty")
    } else if name.contains('/') {
        Some("contains '/'")
    } else if name.contains("..") || name == "." {
        Some("contains '..' or is '.'")
    } else if name.contains('\0') || name.contains('\n') {
        Some("contains a NUL or newline")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(Error::InvalidName {
            name: name.to_string(),
            reason,
        }),
        None => Ok(()),
    }
}

/// v2 hands controllers to children only when the parent lists them in
/// `cgroup.subtree_control`; enables the missing ones of cpu and memory.
fn enable_v2_controllers(parent: &Path, create: bool) -> Result<(), Error> {
    let available = sys::read_to_string(&parent.join("cgroup.controllers"))?;
    let subtree_path = parent.join("cgroup.subtree_control");
    let enabled = match std::fs::read_to_string(&subtree_path) {
        Ok(text) => text,
        Err(e) if create && e.kind() == io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(Error::from_io("read", &subtree_path, e)),
    };
    let mut missing = Vec::new();
    for controller in ["cpu", "memory"] {
        if !available.split_whitespace().any(|c| c == controller) {
            return Err(Error::ControllerUnavailable {
                controller,
                path: parent.to_path_buf(),
            });
        }
        if !enabled.split_whitespace().any(|c| c == controller) {
            missing.push(format!("+{controller}"));
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    // EBUSY here is v2's "no internal processes" rule: a cgroup holding processes itself cannot
    // enable controllers for children. The io error says so; the fix is to run from a leaf of a
    // delegated subtree whose parent has the controllers enabled.
    sys::write_value(&subtree_path, &missing.join(" "), create)
}

/// Removes `dir` after its nested cgroups, retrying EBUSY until `deadline`.
fn remove_tree(dir: &Path, deadline: Instant) -> Result<(), Error> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::from_io("list", dir, e)),
    };
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            remove_tree(&entry.path(), deadline)?;
        }
    }
    loop {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                if Instant::now() >= deadline {
                    return Err(Error::Busy {
                        path: dir.to_path_buf(),
                    });
                }
                std::thread::sleep(RETRY_PAUSE);
            }
            Err(e) => return Err(Error::from_io("remove cgroup", dir, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_must_be_one_plain_component() {
        for bad in ["", "a/b", "..", ".", "x..y", "nul\0", "/abs"] {
            assert!(
                matches!(validate_name(bad), Err(Error::InvalidName { .. })),
                "{bad:?}"
            );
        }
        for good in ["pod-small-1", "size_medium", "a.b"] {
            validate_name(good).unwrap();
        }
    }

    #[test]
    fn limits_outside_the_kernel_range_are_rejected() {
        let bad = [
            Limits {
                cpu_period_us: 500,
                ..Limits::default()
            },
            Limits {
                cpu_quota_us: Some(999),
                ..Limits::default()
            },
            Limits {
                memory_bytes: Some(0),
                ..Limits::default()
            },
        ];
        for limits in bad {
            assert!(
                matches!(limits.validate(), Err(Error::InvalidLimits(_))),
                "{limits:?}"
            );
        }
        Limits::default().validate().unwrap();
    }

    #[test]
    fn millicores_become_quota_over_the_default_period() {
        let limits = Limits::from_millicores(Some(250), Some(1 << 30));
        assert_eq!(limits.cpu_quota_us, Some(25_000));
        assert_eq!(limits.cpu_period_us, 100_000);
        assert_eq!(Limits::from_millicores(None, None), Limits::default());
    }
}
