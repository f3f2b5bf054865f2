//! The outside sampler: reads a target's procfs and cgroup files by PID from the harness's own,
//! unthrottled process at a fixed rate, and journals every metric of every sample.
//!
//! Ticks are scheduled on absolute times (start + k·interval), so a slow sample delays one
//! reading instead of shifting all later ones.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use dataset::{SampleJournal, SampleRow};
use probe::ProcessProbe;

pub struct Sampler {
    stop: Arc<AtomicBool>,
    /// Timestamp of the latest sample taken (0 before the first).
    last_sample_ns: Arc<AtomicI64>,
    interval: Duration,
    handle: Option<JoinHandle<()>>,
}

/// Which target a sampler watches, and how often.
pub struct SamplerTarget<'a> {
    pub pid: i32,
    pub size: &'a str,
    pub instance: &'a str,
    pub interval: Duration,
}

impl Sampler {
    pub fn start(
        target: SamplerTarget<'_>,
        cgroups: Option<&cgroup::Hierarchy>,
        journal: Arc<Mutex<SampleJournal>>,
    ) -> Result<Sampler, probe::Error> {
        let mut probe = ProcessProbe::open(target.pid, cgroups)?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let last_sample_ns = Arc::new(AtomicI64::new(0));
        let last = Arc::clone(&last_sample_ns);
        let (size, instance, interval) = (
            target.size.to_owned(),
            target.instance.to_owned(),
            target.interval,
        );
        let handle = std::thread::Builder::new()
            .name(format!("sampler-{instance}"))
            .spawn(move || {
                let started = Instant::now();
                let mut tick: u32 = 0;
                while !flag.load(Ordering::Relaxed) {
                    match probe.sample() {
                        Ok(sample) => {
                            let mut journal = journal.lock().unwrap_or_else(|p| p.into_inner());
                            for (metric, value) in sample.metrics() {
                                let row = SampleRow {
                                    ts_ns: sample.timestamp_ns as i64,
                                    size: size.clone(),
                                    target: instance.clone(),
                                    metric: metric.to_owned(),
                                    value,
                                };
                                if let Err(err) = journal.push(&row) {
                                    tracing::error!("sample journal: {err}");
                                }
                            }
                            last.store(sample.timestamp_ns as i64, Ordering::Release);
                        }
                        // The target died or was replaced; the driver starts a new sampler.
                        Err(err) => {
                            tracing::debug!(%instance, "sampler stops: {err}");
                            return;
                        }
                    }
                    tick += 1;
                    let next = started + interval * tick;
                    // Sleep in short steps so stop() answers quickly.
                    while !flag.load(Ordering::Relaxed) {
                        let now = Instant::now();
                        if now >= next {
                            break;
                        }
                        std::thread::sleep((next - now).min(Duration::from_millis(50)));
                    }
                }
            })
            .expect("spawning a sampler thread");
        let sampler = Sampler {
            stop,
            last_sample_ns,
            interval,
            handle: Some(handle),
        };
        // Every request must have a sample before it: return once the first one is in.
        let deadline = Instant::now() + interval.max(Duration::from_secs(1));
        while sampler.last_sample_ns.load(Ordering::Acquire) == 0
            && Instant::now() < deadline
            && sampler.handle.as_ref().is_some_and(|h| !h.is_finished())
        {
            std::thread::sleep(Duration::from_millis(2));
        }
        Ok(sampler)
    }

    /// Waits for a sample taken at or after `after_ns` (so the last request's window has its
    /// closing state), at most two intervals, then stops.
    pub fn stop_after(mut self, after_ns: i64) {
        let deadline = Instant::now() + 2 * self.interval;
        while self.last_sample_ns.load(Ordering::Acquire) < after_ns
            && Instant::now() < deadline
            && self.handle.as_ref().is_some_and(|h| !h.is_finished())
        {
            std::thread::sleep(Duration::from_millis(10));
        }
        self.stop_now();
    }

    fn stop_now(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop_now();
    }
}
