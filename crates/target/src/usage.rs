//! Exact per-request resource use: what one request cost, measured on the thread that ran it.
//!
//! procfs CPU times tick at 10 ms, far too coarse for short requests, so CPU comes from the ns
//! clocks: `CLOCK_THREAD_CPUTIME_ID` (the worker thread alone), `CLOCK_PROCESS_CPUTIME_ID` (all
//! threads, including x264's and OpenMP's helpers, which escape the worker's clock) and the
//! cgroup's CPU counter (everything in the pod). Peak memory is *this request's*: the process
//! high-water mark is reset before the request (`/proc/self/clear_refs` "5") as is the cgroup's.

use probe::{ProcessProbe, Sample};
pub use workloads::Usage;

/// A reading taken at the start of a request.
pub struct Mark {
    /// Whether the cgroup's peak was reset, i.e. whether its peak after the request is this
    /// request's own.
    cgroup_peak_reset: bool,
    thread_cpu_ns: u64,
    process_cpu_ns: u64,
    sample: Option<Sample>,
}

/// Measures requests on the thread that owns it. One per executor thread.
pub struct UsageMeter {
    probe: Option<ProcessProbe>,
    clear_refs: Option<std::fs::File>,
}

impl UsageMeter {
    /// A meter for this process. Without procfs access it still measures CPU from the clocks.
    pub fn for_this_process(cgroups: Option<&cgroup::Hierarchy>) -> Self {
        let probe = ProcessProbe::open(std::process::id() as i32, cgroups)
            .map_err(|err| tracing::warn!("per-request usage without procfs counters: {err}"))
            .ok();
        let clear_refs = std::fs::OpenOptions::new()
            .write(true)
            .open("/proc/self/clear_refs")
            .map_err(|err| tracing::warn!("cannot reset peak RSS per request: {err}"))
            .ok();
        Self { probe, clear_refs }
    }

    /// Resets the peak-memory marks and takes the starting reading. Call on the thread that
    /// will run the request.
    pub fn start(&mut self) -> Mark {
        if let Some(file) = &mut self.clear_refs {
            use std::io::Write;
            // "5" resets VmHWM to the current RSS (Linux ≥ 4.0).
            let _ = file.write_all(b"5");
        }
        let cgroup_peak_reset = self
            .probe
            .as_ref()
            .is_some_and(|probe| probe.reset_cgroup_memory_peak().unwrap_or(false));
        let sample = self.probe.as_mut().and_then(|p| p.sample().ok());
        // Process clock first here and last in `finish`: its window encloses the thread's.
        let process_cpu_ns = clock_ns(libc::CLOCK_PROCESS_CPUTIME_ID);
        Mark {
            cgroup_peak_reset,
            thread_cpu_ns: clock_ns(libc::CLOCK_THREAD_CPUTIME_ID),
            process_cpu_ns,
            sample,
        }
    }

    /// Takes the closing reading and returns the difference. Same thread as [`start`](Self::start).
    pub fn finish(&mut self, mark: Mark) -> Usage {
        let thread_cpu_ns = clock_ns(libc::CLOCK_THREAD_CPUTIME_ID) - mark.thread_cpu_ns;
        let process_cpu_ns = clock_ns(libc::CLOCK_PROCESS_CPUTIME_ID) - mark.process_cpu_ns;
        let end = self.probe.as_mut().and_then(|p| p.sample().ok());
        let mut usage = Usage {
            thread_cpu_ns: Some(thread_cpu_ns),
            process_cpu_ns: Some(process_cpu_ns),
            ..Usage::default()
        };
        if let (Some(before), Some(after)) = (mark.sample, end) {
            fill_from_samples(&mut usage, &before, &after);
        }
        if !mark.cgroup_peak_reset {
            // A lifetime peak would be misread as this request's.
            usage.cgroup_memory_peak_bytes = None;
        }
        usage
    }
}

fn fill_from_samples(usage: &mut Usage, before: &Sample, after: &Sample) {
    let delta = |a: u64, b: u64| b.saturating_sub(a);
    let opt_delta = |x: Option<u64>, y: Option<u64>| Some(delta(x?, y?));
    usage.peak_rss_bytes = Some(after.memory_peak_rss_bytes);
    usage.ctx_switches_voluntary = Some(delta(
        before.ctx_switches_voluntary,
        after.ctx_switches_voluntary,
    ));
    usage.ctx_switches_involuntary = Some(delta(
        before.ctx_switches_involuntary,
        after.ctx_switches_involuntary,
    ));
    usage.io_read_bytes = opt_delta(before.io_read_bytes, after.io_read_bytes);
    usage.io_write_bytes = opt_delta(before.io_write_bytes, after.io_write_bytes);
    if let (Some(b), Some(a)) = (&before.cgroup, &after.cgroup) {
        usage.cgroup_cpu_ns = opt_delta(b.cpu_usage_ns, a.cpu_usage_ns);
        usage.cgroup_memory_peak_bytes = a.memory_max_usage_bytes;
        usage.cgroup_periods = opt_delta(b.nr_periods, a.nr_periods);
        usage.cgroup_throttled_periods = opt_delta(b.nr_throttled, a.nr_throttled);
        usage.cgroup_throttled_ns = opt_delta(b.throttled_ns, a.throttled_ns);
    }
}

/// Reads a POSIX clock in nanoseconds.
pub fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock ids used here always exist on Linux.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    debug_assert_eq!(rc, 0);
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Wall-clock time in ns since the Unix epoch (the log's `*_timestamp_ns`).
pub fn realtime_ns() -> u64 {
    clock_ns(libc::CLOCK_REALTIME)
}

/// Monotonic time in ns (durations that NTP steps cannot bend).
pub fn monotonic_ns() -> u64 {
    clock_ns(libc::CLOCK_MONOTONIC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_loop_is_charged_to_thread_and_process() {
        let mut meter = UsageMeter::for_this_process(None);
        let mark = meter.start();
        // Spin until this thread has burnt 30 ms of CPU, however busy the machine is.
        let until = clock_ns(libc::CLOCK_THREAD_CPUTIME_ID) + 30_000_000;
        let mut x = 1u64;
        while clock_ns(libc::CLOCK_THREAD_CPUTIME_ID) < until {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
        let usage = meter.finish(mark);
        assert!(usage.thread_cpu_ns >= Some(30_000_000), "{usage:?}");
        assert!(usage.process_cpu_ns >= usage.thread_cpu_ns, "{usage:?}");
    }

    #[test]
    fn peak_rss_is_this_requests_not_the_lifetime_peak() {
        let mut meter = UsageMeter::for_this_process(None);
        // A large earlier allocation raises the lifetime high-water mark ...
        let big = vec![1u8; 200 << 20];
        std::hint::black_box(&big);
        drop(big);
        // ... which a later, small request must not inherit.
        let resting = resident_bytes();
        let mark = meter.start();
        let small = vec![1u8; 32 << 20];
        std::hint::black_box(&small);
        let usage = meter.finish(mark);
        let above_rest = usage.peak_rss_bytes.unwrap().saturating_sub(resting) >> 20;
        assert!(
            (24..150).contains(&above_rest),
            "peak {above_rest} MiB above resting RSS"
        );
    }

    fn resident_bytes() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        kib * 1024
    }
}
