//! Kept-open procfs files and directories, and parsers for their content.

use std::ffi::CStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

pub(crate) use cgroup::pread_all;

/// A directory kept open and re-listed with `getdents64` (no path lookup, no allocation per
/// listing).
pub(crate) struct Dir {
    fd: OwnedFd,
}

const DIRENT_NAME_OFFSET: usize = 19;
const DIRENT_RECLEN_OFFSET: usize = 16;

impl Dir {
    pub(crate) fn open(path: &CStr) -> io::Result<Dir> {
        // SAFETY: `path` is NUL-terminated; the returned fd is checked before use.
        let fd = unsafe {
            libc::open(
                path.as_ptr(),
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor that nothing else owns.
        Ok(Dir {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// Calls `each` with every entry name except `.` and `..`, from the start of the directory.
    pub(crate) fn for_each_entry(
        &self,
        buf: &mut Vec<u8>,
        mut each: impl FnMut(&CStr),
    ) -> io::Result<()> {
        if buf.len() < 8192 {
            buf.resize(8192, 0);
        }
        // SAFETY: lseek on an fd we own.
        if unsafe { libc::lseek(self.fd.as_raw_fd(), 0, libc::SEEK_SET) } < 0 {
            return Err(io::Error::last_os_error());
        }
        loop {
            // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`.
            let n = unsafe {
                libc::syscall(
                    libc::SYS_getdents64,
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr(),
                    buf.len(),
                )
            };
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            if n == 0 {
                return Ok(());
            }
            let mut records = &buf[..n as usize];
            while records.len() > DIRENT_NAME_OFFSET {
                let reclen = usize::from(u16::from_ne_bytes([
                    records[DIRENT_RECLEN_OFFSET],
                    records[DIRENT_RECLEN_OFFSET + 1],
                ]));
                if reclen <= DIRENT_NAME_OFFSET || reclen > records.len() {
                    return Err(io::Error::other("malformed getdents64 record"));
                }
                if let Ok(name) = CStr::from_bytes_until_nul(&records[DIRENT_NAME_OFFSET..reclen])
                    && name != c"."
                    && name != c".."
                {
                    each(name);
                }
                records = &records[reclen..];
            }
        }
    }

    /// Whether the symlink `name` in this directory points to a socket (`socket:[inode]`).
    pub(crate) fn link_is_socket(&self, name: &CStr) -> bool {
        const PREFIX: &[u8] = b"socket:[";
        let mut target = [0u8; 32];
        // SAFETY: `name` is NUL-terminated; the kernel writes at most `target.len()` bytes.
        let n = unsafe {
            libc::readlinkat(
                self.fd.as_raw_fd(),
                name.as_ptr(),
                target.as_mut_ptr().cast(),
                target.len(),
            )
        };
        n >= PREFIX.len() as isize && target.starts_with(PREFIX)
    }

    /// Opens `relative` (a path below this directory) for reading.
    pub(crate) fn open_file(&self, relative: &CStr) -> io::Result<File> {
        // SAFETY: `relative` is NUL-terminated; the returned fd is checked before use.
        let fd = unsafe {
            libc::openat(
                self.fd.as_raw_fd(),
                relative.as_ptr(),
                libc::O_RDONLY | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor that nothing else owns.
        Ok(unsafe { File::from_raw_fd(fd) })
    }
}

/// The fields used from `/proc/<pid>/stat`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Stat {
    pub utime_ticks: u64,
    pub stime_ticks: u64,
    pub num_threads: u64,
    /// Since boot, in clock ticks.
    pub start_ticks: u64,
}

/// Parses `/proc/<pid>/stat`. The command name (field 2) is in parentheses and may itself
/// contain spaces and parentheses, so fields are counted from the last `)`.
pub(crate) fn parse_stat(text: &str) -> Option<Stat> {
    let after_name = &text[text.rfind(')')? + 1..];
    // Field 3 (state) is index 0 here.
    let fields: Vec<&str> = after_name.split_whitespace().take(20).collect();
    let field = |number: usize| fields.get(number - 3)?.parse::<u64>().ok();
    Some(Stat {
        utime_ticks: field(14)?,
        stime_ticks: field(15)?,
        num_threads: field(20)?,
        start_ticks: field(22)?,
    })
}

/// The fields used from `/proc/<pid>/status` (sizes in bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Status {
    pub vm_size: u64,
    pub vm_rss: u64,
    pub vm_hwm: u64,
    pub voluntary_ctxt_switches: u64,
    pub nonvoluntary_ctxt_switches: u64,
}

/// Parses `/proc/<pid>/status`; kernel threads have no Vm* lines, which then read 0.
pub(crate) fn parse_status(text: &str) -> Option<Status> {
    let mut status = Status::default();
    let mut switches_seen = 0;
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let number = || value.split_whitespace().next()?.parse::<u64>().ok();
        match key {
            "VmSize" => status.vm_size = number()? * 1024,
            "VmRSS" => status.vm_rss = number()? * 1024,
            "VmHWM" => status.vm_hwm = number()? * 1024,
            "voluntary_ctxt_switches" => {
                status.voluntary_ctxt_switches = number()?;
                switches_seen += 1;
            }
            "nonvoluntary_ctxt_switches" => {
                status.nonvoluntary_ctxt_switches = number()?;
                switches_seen += 1;
            }
            _ => {}
        }
    }
    (switches_seen == 2).then_some(status)
}

/// The context-switch counts of a thread's `status`, which come last in the file.
pub(crate) fn parse_ctx_switches(text: &str) -> Option<(u64, u64)> {
    let mut voluntary = None;
    let mut involuntary = None;
    for line in text.lines().rev() {
        if let Some(v) = line.strip_prefix("voluntary_ctxt_switches:") {
            voluntary = v.trim().parse().ok();
        } else if let Some(v) = line.strip_prefix("nonvoluntary_ctxt_switches:") {
            involuntary = v.trim().parse().ok();
        }
        if voluntary.is_some() && involuntary.is_some() {
            break;
        }
    }
    Some((voluntary?, involuntary?))
}

/// `read_bytes` and `write_bytes` of `/proc/<pid>/io` (bytes that reached the storage layer,
/// as psutil reports them).
pub(crate) fn parse_io(text: &str) -> Option<(u64, u64)> {
    let value = |key: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(key)?.strip_prefix(": ")?.parse().ok())
    };
    Some((value("read_bytes")?, value("write_bytes")?))
}

/// `MemTotal` of `/proc/meminfo`, in bytes.
pub(crate) fn parse_mem_total(text: &str) -> Option<u64> {
    let line = text.lines().find_map(|l| l.strip_prefix("MemTotal:"))?;
    Some(line.split_whitespace().next()?.parse::<u64>().ok()? * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_parentheses_and_spaces_in_the_name() {
        let text = "1234 (my (odd) name) S 1 1234 1234 0 -1 4194304 100 0 0 0 \
                    250 30 0 0 20 0 7 0 5000 10000000 500 18446744073709551615\n";
        let stat = parse_stat(text).unwrap();
        assert_eq!(
            stat,
            Stat {
                utime_ticks: 250,
                stime_ticks: 30,
                num_threads: 7,
                start_ticks: 5000
            }
        );
        assert_eq!(parse_stat("1234 (truncated) S 1 2"), None);
    }

    #[test]
    fn status_fields_are_bytes_and_switches_are_required() {
        let text = "Name:\tx\nVmPeak:\t 9000 kB\nVmSize:\t 8000 kB\nVmHWM:\t 3000 kB\n\
                    VmRSS:\t 2000 kB\nThreads:\t3\nvoluntary_ctxt_switches:\t17\n\
                    nonvoluntary_ctxt_switches:\t4\n";
        let status = parse_status(text).unwrap();
        assert_eq!(status.vm_size, 8000 * 1024);
        assert_eq!(status.vm_rss, 2000 * 1024);
        assert_eq!(status.vm_hwm, 3000 * 1024);
        assert_eq!(
            (
                status.voluntary_ctxt_switches,
                status.nonvoluntary_ctxt_switches
            ),
            (17, 4)
        );
        assert_eq!(parse_ctx_switches(text), Some((17, 4)));
        assert_eq!(parse_status("Name:\tx\n"), None);
    }

    #[test]
    fn io_and_meminfo() {
        let io = "rchar: 10\nwchar: 20\nsyscr: 1\nsyscw: 2\nread_bytes: 4096\n\
                  write_bytes: 8192\ncancelled_write_bytes: 0\n";
        assert_eq!(parse_io(io), Some((4096, 8192)));
        assert_eq!(
            parse_mem_total("MemTotal:        8000000 kB\nMemFree: 1 kB\n"),
            Some(8_000_000 * 1024)
        );
    }
}
