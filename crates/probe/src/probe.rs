//! Sampling one process by PID.

use std::ffi::CString;
use std::fs::File;
use std::path::PathBuf;

use crate::Error;
use crate::procfs::{self, Dir};

/// One reading of a process and its cgroup.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub pid: i32,
    /// CLOCK_REALTIME, ns since the epoch, taken just before the files were read.
    pub timestamp_ns: u64,
    /// CPU use since this probe's previous sample (or since it was opened); 100 = one core.
    pub cpu_percent: f64,
    pub cpu_user_seconds: f64,
    pub cpu_system_seconds: f64,
    /// User + system.
    pub cpu_seconds_total: f64,
    pub memory_rss_bytes: u64,
    pub memory_vms_bytes: u64,
    /// RSS as a percentage of the memory available to the process: the cgroup's memory limit
    /// when it has one below MemTotal, otherwise the host's MemTotal.
    pub memory_percent: f64,
    /// Lifetime peak RSS (VmHWM).
    pub memory_peak_rss_bytes: u64,
    pub num_threads: u64,
    /// Bytes read from storage (`/proc/<pid>/io` read_bytes); `None` when that file is not
    /// readable (another user's process without privileges).
    pub io_read_bytes: Option<u64>,
    pub io_write_bytes: Option<u64>,
    /// Summed over the live threads (`/proc/<pid>/status` alone counts only the main thread,
    /// while a server works on others). Switches of threads that already exited are not
    /// included.
    pub ctx_switches_voluntary: u64,
    pub ctx_switches_involuntary: u64,
    pub open_fds: u64,
    /// Open socket file descriptors of any kind (TCP, UDP, Unix…), counted from the
    /// `socket:[…]` links in `/proc/<pid>/fd` (walking `/proc/net/tcp` would cost ms).
    pub connections: u64,
    pub uptime_seconds: f64,
    /// Process start, seconds since the epoch (10 ms resolution).
    pub start_time_seconds: f64,
    /// Counters of the process's cgroup, when the probe was given a hierarchy.
    pub cgroup: Option<cgroup::Counters>,
}

/// A thread's `status` file, kept open between samples.
struct ThreadStatus {
    tid: i32,
    file: File,
}

/// Samples one process from its procfs files and its cgroup's counter files, all kept open and
/// re-read with `pread`.
///
/// Kept-open procfs files stay bound to the process they were opened for: once it exits,
/// reads fail with [`Error::ProcessGone`] instead of reading a new process that reused the PID.
pub struct ProcessProbe {
    pid: i32,
    stat: File,
    status: File,
    io: Option<File>,
    fd_dir: Dir,
    task_dir: Dir,
    /// Threads other than the main one (whose counts come from `status`).
    threads: Vec<ThreadStatus>,
    cgroup: Option<cgroup::CounterFiles>,
    ticks_per_second: f64,
    mem_total_bytes: u64,
    /// CLOCK_REALTIME − CLOCK_BOOTTIME, to turn "ticks since boot" into epoch time.
    boot_epoch_seconds: f64,
    previous: CpuReading,
    buf: Vec<u8>,
    dir_buf: Vec<u8>,
    tids: Vec<i32>,
}

#[derive(Clone, Copy)]
struct CpuReading {
    monotonic_ns: u64,
    cpu_ticks: u64,
}

impl ProcessProbe {
    /// Opens the procfs files of `pid` and, given a hierarchy, its cgroup's counter files.
    /// `pid = std::process::id()` probes the calling process itself.
    pub fn open(pid: i32, cgroups: Option<&cgroup::Hierarchy>) -> Result<Self, Error> {
        let proc_dir = proc_path(pid, "");
        let open = |name: &str| {
            let path = proc_dir.join(name);
            File::open(&path).map_err(|e| Error::from_proc_io(pid, "open", &path, e))
        };
        let open_dir = |name: &str| {
            let path = proc_dir.join(name);
            let c_path = CString::new(path.as_os_str().as_encoded_bytes())
                .map_err(|_| Error::Parse { path: path.clone() })?;
            Dir::open(&c_path).map_err(|e| Error::from_proc_io(pid, "open", &path, e))
        };
        let stat = open("stat")?;
        let status = open("status")?;
        // Needs ptrace-level access to the target: absent for other users' processes.
        let io = open("io").ok();
        let fd_dir = open_dir("fd")?;
        let task_dir = open_dir("task")?;
        let meminfo_path = PathBuf::from("/proc/meminfo");
        let mem_total_bytes = procfs::parse_mem_total(&read_text(&meminfo_path, pid)?)
            .ok_or(Error::Parse { path: meminfo_path })?;
        let cgroup = cgroups
            .map(|h| cgroup::CounterFiles::for_pid(h, pid))
            .transpose()?;
        // SAFETY: sysconf has no preconditions.
        let ticks_per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;

        let mut probe = ProcessProbe {
            pid,
            stat,
            status,
            io,
            fd_dir,
            task_dir,
            threads: Vec::new(),
            cgroup,
            ticks_per_second,
            mem_total_bytes,
            boot_epoch_seconds: (clock_ns(libc::CLOCK_REALTIME) as f64
                - clock_ns(libc::CLOCK_BOOTTIME) as f64)
                / 1e9,
            previous: CpuReading {
                monotonic_ns: 0,
                cpu_ticks: 0,
            },
            buf: Vec::new(),
            dir_buf: Vec::new(),
            tids: Vec::new(),
        };
        let stat = probe.read_stat()?;
        probe.previous = CpuReading {
            monotonic_ns: clock_ns(libc::CLOCK_MONOTONIC),
            cpu_ticks: stat.utime_ticks + stat.stime_ticks,
        };
        Ok(probe)
    }

    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// The process's command name (`/proc/<pid>/comm`), read now (an exec changes it).
    pub fn name(&self) -> Result<String, Error> {
        let comm = read_text(&proc_path(self.pid, "comm"), self.pid)?;
        Ok(comm.trim_end().to_string())
    }

    /// The process's command line, arguments separated by spaces, read now.
    pub fn cmdline(&self) -> Result<String, Error> {
        let cmdline = read_text(&proc_path(self.pid, "cmdline"), self.pid)?;
        Ok(cmdline.trim_end_matches('\0').replace('\0', " "))
    }

    /// The probed cgroup's path (as `/proc/<pid>/cgroup` names it), when probing one.
    pub fn cgroup_path(&self) -> Option<&str> {
        self.cgroup.as_ref().map(|c| c.cgroup_path())
    }

    /// Resets the cgroup's peak memory usage (see [`cgroup::CounterFiles::reset_memory_peak`]).
    pub fn reset_cgroup_memory_peak(&self) -> Result<bool, Error> {
        match &self.cgroup {
            Some(files) => Ok(files.reset_memory_peak()?),
            None => Ok(false),
        }
    }

    /// Reads everything once.
    pub fn sample(&mut self) -> Result<Sample, Error> {
        let timestamp_ns = clock_ns(libc::CLOCK_REALTIME);
        let monotonic_ns = clock_ns(libc::CLOCK_MONOTONIC);
        let boottime_ns = clock_ns(libc::CLOCK_BOOTTIME);

        let stat = self.read_stat()?;
        let status = self.read_status()?;
        let (threads_voluntary, threads_involuntary) = if stat.num_threads > 1 {
            self.thread_ctx_switches()?
        } else {
            // Single-threaded: the main thread's counts are all; skip listing the task dir.
            self.threads.clear();
            (0, 0)
        };
        let (io_read_bytes, io_write_bytes) = self.read_io()?;
        let (open_fds, connections) = self.count_fds()?;
        let cgroup = self.cgroup.as_mut().map(|c| c.read()).transpose()?;

        let cpu_ticks = stat.utime_ticks + stat.stime_ticks;
        let elapsed_ns = monotonic_ns.saturating_sub(self.previous.monotonic_ns);
        let cpu_percent = if elapsed_ns == 0 {
            0.0
        } else {
            let cpu_ns = cpu_ticks.saturating_sub(self.previous.cpu_ticks) as f64
                / self.ticks_per_second
                * 1e9;
            100.0 * cpu_ns / elapsed_ns as f64
        };
        self.previous = CpuReading {
            monotonic_ns,
            cpu_ticks,
        };

        let memory_available = cgroup
            .and_then(|c| c.memory_limit_bytes)
            .map_or(self.mem_total_bytes, |limit| {
                limit.min(self.mem_total_bytes)
            });
        let started_after_boot = stat.start_ticks as f64 / self.ticks_per_second;
        Ok(Sample {
            pid: self.pid,
            timestamp_ns,
            cpu_percent,
            cpu_user_seconds: stat.utime_ticks as f64 / self.ticks_per_second,
            cpu_system_seconds: stat.stime_ticks as f64 / self.ticks_per_second,
            cpu_seconds_total: cpu_ticks as f64 / self.ticks_per_second,
            memory_rss_bytes: status.vm_rss,
            memory_vms_bytes: status.vm_size,
            memory_percent: 100.0 * status.vm_rss as f64 / memory_available.max(1) as f64,
            memory_peak_rss_bytes: status.vm_hwm,
            num_threads: stat.num_threads,
            io_read_bytes,
            io_write_bytes,
            ctx_switches_voluntary: status.voluntary_ctxt_switches + threads_voluntary,
            ctx_switches_involuntary: status.nonvoluntary_ctxt_switches + threads_involuntary,
            open_fds,
            connections,
            uptime_seconds: (boottime_ns as f64 / 1e9 - started_after_boot).max(0.0),
            start_time_seconds: self.boot_epoch_seconds + started_after_boot,
            cgroup,
        })
    }

    /// Reads the kept-open file `name` of process `pid`.
    fn read_file<'a>(
        pid: i32,
        file: &File,
        buf: &'a mut Vec<u8>,
        name: &str,
    ) -> Result<&'a str, Error> {
        let n = procfs::pread_all(file, buf)
            .map_err(|e| Error::from_proc_io(pid, "read", &proc_path(pid, name), e))?;
        if n == 0 {
            // A reaped process's files read empty.
            return Err(Error::ProcessGone { pid });
        }
        std::str::from_utf8(&buf[..n]).map_err(|_| Error::Parse {
            path: proc_path(pid, name),
        })
    }

    fn read_stat(&mut self) -> Result<procfs::Stat, Error> {
        let text = Self::read_file(self.pid, &self.stat, &mut self.buf, "stat")?;
        procfs::parse_stat(text).ok_or_else(|| Error::Parse {
            path: proc_path(self.pid, "stat"),
        })
    }

    fn read_status(&mut self) -> Result<procfs::Status, Error> {
        let text = Self::read_file(self.pid, &self.status, &mut self.buf, "status")?;
        procfs::parse_status(text).ok_or_else(|| Error::Parse {
            path: proc_path(self.pid, "status"),
        })
    }

    fn read_io(&mut self) -> Result<(Option<u64>, Option<u64>), Error> {
        let Some(io) = &self.io else {
            return Ok((None, None));
        };
        let text = Self::read_file(self.pid, io, &mut self.buf, "io")?;
        let (read, write) = procfs::parse_io(text).ok_or_else(|| Error::Parse {
            path: proc_path(self.pid, "io"),
        })?;
        Ok((Some(read), Some(write)))
    }

    /// Open fds and, among them, sockets.
    fn count_fds(&mut self) -> Result<(u64, u64), Error> {
        let (mut open_fds, mut sockets) = (0, 0);
        let fd_dir = &self.fd_dir;
        fd_dir
            .for_each_entry(&mut self.dir_buf, |name| {
                open_fds += 1;
                if fd_dir.link_is_socket(name) {
                    sockets += 1;
                }
            })
            .map_err(|e| Error::from_proc_io(self.pid, "list", &proc_path(self.pid, "fd"), e))?;
        Ok((open_fds, sockets))
    }

    /// Context switches summed over the threads other than the main one. Thread status files
    /// stay open while the thread lives; new threads are opened, exited ones dropped.
    fn thread_ctx_switches(&mut self) -> Result<(u64, u64), Error> {
        let pid = self.pid;
        let tids = &mut self.tids;
        tids.clear();
        self.task_dir
            .for_each_entry(&mut self.dir_buf, |name| {
                if let Some(tid) = name.to_str().ok().and_then(|s| s.parse::<i32>().ok())
                    && tid != pid
                {
                    tids.push(tid);
                }
            })
            .map_err(|e| Error::from_proc_io(pid, "list", &proc_path(pid, "task"), e))?;
        tids.sort_unstable();
        self.threads.retain(|t| tids.binary_search(&t.tid).is_ok());
        for &tid in tids.iter() {
            if let Err(at) = self.threads.binary_search_by_key(&tid, |t| t.tid) {
                let relative = CString::new(format!("{tid}/status")).expect("digits only");
                // A thread that exited since the listing is simply not counted.
                if let Ok(file) = self.task_dir.open_file(&relative) {
                    self.threads.insert(at, ThreadStatus { tid, file });
                }
            }
        }

        let (mut voluntary, mut involuntary) = (0, 0);
        for thread in &self.threads {
            let Ok(n) = procfs::pread_all(&thread.file, &mut self.buf) else {
                continue; // exited meanwhile
            };
            let counts = std::str::from_utf8(&self.buf[..n])
                .ok()
                .and_then(procfs::parse_ctx_switches);
            if let Some((v, i)) = counts {
                voluntary += v;
                involuntary += i;
            }
        }
        Ok((voluntary, involuntary))
    }
}

fn proc_path(pid: i32, name: &str) -> PathBuf {
    PathBuf::from(format!("/proc/{pid}/{name}"))
}

fn read_text(path: &std::path::Path, pid: i32) -> Result<String, Error> {
    let bytes = std::fs::read(path).map_err(|e| Error::from_proc_io(pid, "read", path, e))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write into; these clocks always exist on Linux.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}
