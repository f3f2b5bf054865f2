//! Reading a cgroup's CPU and memory counters from kept-open files.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use crate::{Controller, Error, Hierarchy, Version, sys};

/// A cgroup's CPU and memory counters. A field is `None` when the cgroup version (or kernel)
/// does not provide it; limits are `None` when unlimited.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Total CPU time of all tasks (v1 `cpuacct.usage`, v2 `cpu.stat` usage_usec × 1000).
    pub cpu_usage_ns: Option<u64>,
    pub cpu_quota_us: Option<u64>,
    pub cpu_period_us: Option<u64>,
    /// Enforcement periods that had runnable tasks.
    pub nr_periods: Option<u64>,
    /// Periods in which the group ran out of quota.
    pub nr_throttled: Option<u64>,
    pub throttled_ns: Option<u64>,
    pub memory_usage_bytes: Option<u64>,
    /// v1 `memory.max_usage_in_bytes`, v2 `memory.peak` (kernel ≥ 5.19).
    pub memory_max_usage_bytes: Option<u64>,
    pub memory_limit_bytes: Option<u64>,
    /// How often usage hit the limit (v1 `memory.failcnt` + `memory.memsw.failcnt`, v2
    /// `memory.events` max).
    pub memory_failcnt: Option<u64>,
    /// Processes killed by the OOM killer in this cgroup.
    pub oom_kill: Option<u64>,
}

/// v1 reports "unlimited" as the largest page-aligned i64 (9223372036854771712); anything at or
/// above 2^62 bytes is no real limit.
const V1_UNLIMITED_THRESHOLD: u64 = 1 << 62;

/// One cgroup interface file and how it fills [`Counters`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    V1CpuacctUsage,
    V1CpuStat,
    V1CfsQuota,
    V1CfsPeriod,
    V1MemoryUsage,
    V1MemoryMaxUsage,
    V1MemoryLimit,
    V1MemoryFailcnt,
    V1MemswFailcnt,
    V1OomControl,
    V2CpuStat,
    V2CpuMax,
    V2MemoryCurrent,
    V2MemoryPeak,
    V2MemoryMax,
    V2MemoryEvents,
}

const V1_SOURCES: [Source; 10] = [
    Source::V1CpuacctUsage,
    Source::V1CpuStat,
    Source::V1CfsQuota,
    Source::V1CfsPeriod,
    Source::V1MemoryUsage,
    Source::V1MemoryMaxUsage,
    Source::V1MemoryLimit,
    Source::V1MemoryFailcnt,
    Source::V1MemswFailcnt,
    Source::V1OomControl,
];

const V2_SOURCES: [Source; 6] = [
    Source::V2CpuStat,
    Source::V2CpuMax,
    Source::V2MemoryCurrent,
    Source::V2MemoryPeak,
    Source::V2MemoryMax,
    Source::V2MemoryEvents,
];

impl Source {
    fn file_name(self) -> &'static str {
        match self {
            Source::V1CpuacctUsage => "cpuacct.usage",
            Source::V1CpuStat | Source::V2CpuStat => "cpu.stat",
            Source::V1CfsQuota => "cpu.cfs_quota_us",
            Source::V1CfsPeriod => "cpu.cfs_period_us",
            Source::V1MemoryUsage => "memory.usage_in_bytes",
            Source::V1MemoryMaxUsage => "memory.max_usage_in_bytes",
            Source::V1MemoryLimit => "memory.limit_in_bytes",
            Source::V1MemoryFailcnt => "memory.failcnt",
            Source::V1MemswFailcnt => "memory.memsw.failcnt",
            Source::V1OomControl => "memory.oom_control",
            Source::V2CpuMax => "cpu.max",
            Source::V2MemoryCurrent => "memory.current",
            Source::V2MemoryPeak => "memory.peak",
            Source::V2MemoryMax => "memory.max",
            Source::V2MemoryEvents => "memory.events",
        }
    }

    fn controller(self) -> Controller {
        match self {
            Source::V1CpuacctUsage => Controller::Cpuacct,
            Source::V1CpuStat | Source::V1CfsQuota | Source::V1CfsPeriod => Controller::Cpu,
            Source::V2CpuStat | Source::V2CpuMax => Controller::Cpu,
            _ => Controller::Memory,
        }
    }

    /// The peak-usage file, which is also written to reset the peak.
    fn is_peak(self) -> bool {
        matches!(self, Source::V1MemoryMaxUsage | Source::V2MemoryPeak)
    }

    /// Parses the file's content into `c`; `None` means the content was not understood.
    fn apply(self, text: &str, c: &mut Counters) -> Option<()> {
        let number = || text.trim().parse::<u64>().ok();
        match self {
            Source::V1CpuacctUsage => c.cpu_usage_ns = Some(number()?),
            Source::V1CpuStat => {
                c.nr_periods = Some(keyed(text, "nr_periods")?);
                c.nr_throttled = Some(keyed(text, "nr_throttled")?);
                c.throttled_ns = Some(keyed(text, "throttled_time")?);
            }
            Source::V1CfsQuota => {
                let quota = text.trim().parse::<i64>().ok()?;
                c.cpu_quota_us = u64::try_from(quota).ok();
            }
            Source::V1CfsPeriod => c.cpu_period_us = Some(number()?),
            Source::V1MemoryUsage => c.memory_usage_bytes = Some(number()?),
            Source::V1MemoryMaxUsage | Source::V2MemoryPeak => {
                c.memory_max_usage_bytes = Some(number()?)
            }
            Source::V1MemoryLimit => {
                c.memory_limit_bytes = Some(number()?).filter(|&l| l < V1_UNLIMITED_THRESHOLD)
            }
            // With swap accounting a charge fails against memory or memory+swap (whichever
            // limit is hit first); both count as hitting the limit.
            Source::V1MemoryFailcnt | Source::V1MemswFailcnt => {
                c.memory_failcnt = Some(c.memory_failcnt.unwrap_or(0) + number()?)
            }
            Source::V1OomControl => c.oom_kill = Some(keyed(text, "oom_kill")?),
            Source::V2CpuStat => {
                c.cpu_usage_ns = Some(keyed(text, "usage_usec")?.saturating_mul(1000));
                // The throttling keys exist only where the cpu controller is enabled.
                c.nr_periods = keyed(text, "nr_periods");
                c.nr_throttled = keyed(text, "nr_throttled");
                c.throttled_ns = keyed(text, "throttled_usec").map(|us| us.saturating_mul(1000));
            }
            Source::V2CpuMax => {
                let mut fields = text.split_whitespace();
                c.cpu_quota_us = max_or_number(fields.next()?)?;
                c.cpu_period_us = Some(fields.next()?.parse().ok()?);
            }
            Source::V2MemoryCurrent => c.memory_usage_bytes = Some(number()?),
            Source::V2MemoryMax => c.memory_limit_bytes = max_or_number(text.trim())?,
            Source::V2MemoryEvents => {
                c.memory_failcnt = Some(keyed(text, "max")?);
                c.oom_kill = Some(keyed(text, "oom_kill")?);
            }
        }
        Some(())
    }
}

/// The value of `key` in a flat-keyed file of `key value` lines.
fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(' ')?;
        if k == key {
            v.trim().parse().ok()
        } else {
            None
        }
    })
}

/// v2's "max" means unlimited: `Some(None)`; a number: `Some(Some(n))`; garbage: `None`.
fn max_or_number(field: &str) -> Option<Option<u64>> {
    if field == "max" {
        Some(None)
    } else {
        field.parse().ok().map(Some)
    }
}

struct OpenCounter {
    source: Source,
    path: PathBuf,
    file: File,
    /// Whether `file` was opened for writing too (to reset the peak through it).
    writable: bool,
}

/// The counter files of one cgroup, kept open and re-read with `pread` (no path lookup per
/// read). Files a kernel does not provide are skipped and their counters stay `None`.
pub struct CounterFiles {
    version: Version,
    cgroup_path: String,
    files: Vec<OpenCounter>,
    buf: Vec<u8>,
}

impl std::fmt::Debug for CounterFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CounterFiles")
            .field("version", &self.version)
            .field("cgroup_path", &self.cgroup_path)
            .field(
                "files",
                &self.files.iter().map(|o| &o.path).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl CounterFiles {
    /// Opens the counters of the cgroups `pid` belongs to, as its `/proc/<pid>/cgroup` says.
    pub fn for_pid(h: &Hierarchy, pid: i32) -> Result<CounterFiles, Error> {
        let path = PathBuf::from(format!("/proc/{pid}/cgroup"));
        let text = sys::read_to_string(&path)?;
        Self::from_proc_cgroup(h, &text, pid)
    }

    /// Like [`CounterFiles::for_pid`], from the text of a `/proc/<pid>/cgroup` file.
    pub fn from_proc_cgroup(
        h: &Hierarchy,
        proc_cgroup: &str,
        pid: i32,
    ) -> Result<CounterFiles, Error> {
        let mut dirs = Vec::new();
        for controller in h.controllers() {
            let path =
                h.path_in_proc_cgroup(controller, proc_cgroup)
                    .ok_or(Error::NotInController {
                        pid,
                        controller: controller.name(),
                    })?;
            let dir = h
                .dir_of(controller, path)
                .expect("controllers() lists only placed controllers");
            dirs.push((controller, dir, path.to_string()));
        }
        let label = dirs
            .iter()
            .find(|(c, ..)| *c == Controller::Memory)
            .map(|(.., path)| path.clone())
            .unwrap_or_default();
        let dirs: Vec<_> = dirs.into_iter().map(|(c, dir, _)| (c, dir)).collect();
        Self::open(h.version(), &dirs, label)
    }

    /// Opens the counter files of a cgroup whose directory per controller is known.
    pub(crate) fn open(
        version: Version,
        dirs: &[(Controller, PathBuf)],
        cgroup_path: String,
    ) -> Result<CounterFiles, Error> {
        let sources: &[Source] = match version {
            Version::V1 => &V1_SOURCES,
            Version::V2 => &V2_SOURCES,
        };
        let mut files = Vec::with_capacity(sources.len());
        for &source in sources {
            let Some((_, dir)) = dirs.iter().find(|(c, _)| *c == source.controller()) else {
                continue;
            };
            let path = dir.join(source.file_name());
            if let Some(open) = open_counter(source, path)? {
                files.push(open);
            }
        }
        Ok(CounterFiles {
            version,
            cgroup_path,
            files,
            buf: Vec::new(),
        })
    }

    /// Re-reads every file.
    pub fn read(&mut self) -> Result<Counters, Error> {
        let mut counters = Counters::default();
        for open in &self.files {
            let n = sys::pread_all(&open.file, &mut self.buf)
                .map_err(|e| Error::from_io("read", &open.path, e))?;
            let text = std::str::from_utf8(&self.buf[..n])
                .map_err(|_| Error::parse(&open.path, "not UTF-8"))?;
            open.source
                .apply(text, &mut counters)
                .ok_or_else(|| Error::parse(&open.path, format!("unexpected content {text:?}")))?;
        }
        Ok(counters)
    }

    /// The cgroup's path as `/proc/<pid>/cgroup` names it (v1: the memory controller's), for
    /// labels.
    pub fn cgroup_path(&self) -> &str {
        &self.cgroup_path
    }

    pub fn version(&self) -> Version {
        self.version
    }

    /// Resets the peak memory usage so that the next read shows the peak since now (used per
    /// request). v1: writes "0" to `memory.max_usage_in_bytes` (an error if refused). v2: writes
    /// to `memory.peak`, which kernels ≥ 6.12 accept and apply to reads through this same open
    /// file; older kernels refuse and the call is a no-op. Returns whether the peak was reset.
    pub fn reset_memory_peak(&self) -> Result<bool, Error> {
        let Some(peak) = self.files.iter().find(|o| o.source.is_peak()) else {
            return Ok(false);
        };
        let written = if peak.writable {
            peak.file.write_at(b"0", 0).map(|_| ())
        } else {
            OpenOptions::new()
                .write(true)
                .open(&peak.path)
                .and_then(|file| file.write_at(b"0", 0).map(|_| ()))
        };
        match (written, self.version) {
            (Ok(()), _) => Ok(true),
            (Err(_), Version::V2) => Ok(false),
            (Err(e), Version::V1) => Err(Error::from_io("reset", &peak.path, e)),
        }
    }
}

fn open_counter(source: Source, path: PathBuf) -> Result<Option<OpenCounter>, Error> {
    if source.is_peak()
        && let Ok(file) = OpenOptions::new().read(true).write(true).open(&path)
    {
        return Ok(Some(OpenCounter {
            source,
            path,
            file,
            writable: true,
        }));
    }
    match File::open(&path) {
        Ok(file) => Ok(Some(OpenCounter {
            source,
            path,
            file,
            writable: false,
        })),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::from_io("open", &path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_files_parse_and_unlimited_means_none() {
        let mut c = Counters::default();
        Source::V1CfsQuota.apply("-1\n", &mut c).unwrap();
        Source::V1MemoryLimit
            .apply("9223372036854771712\n", &mut c)
            .unwrap();
        assert_eq!(c.cpu_quota_us, None);
        assert_eq!(c.memory_limit_bytes, None);

        Source::V1CpuStat
            .apply(
                "nr_periods 51\nnr_throttled 50\nthrottled_time 4500000000\nnr_bursts 0\nburst_time 0\n",
                &mut c,
            )
            .unwrap();
        Source::V1OomControl
            .apply("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n", &mut c)
            .unwrap();
        assert_eq!(
            (c.nr_periods, c.nr_throttled, c.throttled_ns, c.oom_kill),
            (Some(51), Some(50), Some(4_500_000_000), Some(2))
        );
    }

    #[test]
    fn v2_files_parse_and_max_means_none() {
        let mut c = Counters::default();
        Source::V2CpuMax.apply("max 100000\n", &mut c).unwrap();
        Source::V2MemoryMax.apply("max\n", &mut c).unwrap();
        assert_eq!((c.cpu_quota_us, c.cpu_period_us), (None, Some(100_000)));
        assert_eq!(c.memory_limit_bytes, None);

        Source::V2CpuMax.apply("25000 100000\n", &mut c).unwrap();
        Source::V2MemoryMax.apply("1073741824\n", &mut c).unwrap();
        Source::V2MemoryEvents
            .apply(
                "low 0\nhigh 0\nmax 7\noom 1\noom_kill 1\noom_group_kill 0\n",
                &mut c,
            )
            .unwrap();
        assert_eq!(c.cpu_quota_us, Some(25_000));
        assert_eq!(c.memory_limit_bytes, Some(1 << 30));
        assert_eq!((c.memory_failcnt, c.oom_kill), (Some(7), Some(1)));
    }

    #[test]
    fn garbage_is_rejected_not_zeroed() {
        let mut c = Counters::default();
        assert!(Source::V1CpuacctUsage.apply("lots\n", &mut c).is_none());
        assert!(Source::V2CpuMax.apply("10000\n", &mut c).is_none());
        assert!(Source::V1CpuStat.apply("nr_periods 1\n", &mut c).is_none());
    }
}
