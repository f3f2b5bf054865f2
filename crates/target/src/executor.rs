//! Runs kernels on dedicated threads, a bounded number at a time, with a bounded queue in front.
//!
//! One request at a time is the default and the measurement model: a request's usage is then its
//! own. Beyond the queue the server answers 503 instead of piling up work whose timing would be
//! meaningless.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use tokio::sync::oneshot;
use workloads::{ExecEnv, Payload};

use crate::usage::{Usage, UsageMeter, monotonic_ns, realtime_ns};

/// Why a kernel produced no result.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum KernelFailure {
    #[error("{0}")]
    Error(String),
    #[error("kernel panicked: {0}")]
    Panic(String),
}

/// A finished request: the kernel's JSON answer or failure, its time window and its usage.
#[derive(Debug)]
pub struct Completed {
    pub result: Result<serde_json::Value, KernelFailure>,
    pub start_timestamp_ns: u64,
    pub end_timestamp_ns: u64,
    pub duration_ns: u64,
    pub queued_ns: u64,
    pub usage: Usage,
}

/// The queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("all {capacity} places (running and queued) are taken")]
pub struct Overloaded {
    pub capacity: usize,
}

struct Job {
    payload: Payload,
    method: String,
    queued_at_mono_ns: u64,
    reply: oneshot::Sender<Completed>,
}

/// Called on the worker thread when a request finishes, before the answer is handed back, so the
/// request is recorded even when its client has gone away or the server is shutting down.
pub type OnDone = Arc<dyn Fn(&Payload, &str, &Completed) + Send + Sync>;

/// Runs one payload's kernel. Kernel errors come back as [`KernelFailure::Error`].
pub fn run_kernel(payload: &Payload, env: &ExecEnv) -> Result<serde_json::Value, KernelFailure> {
    fn json<T: serde::Serialize, E: std::fmt::Display>(
        r: Result<T, E>,
    ) -> Result<serde_json::Value, KernelFailure> {
        let value = r.map_err(|e| KernelFailure::Error(e.to_string()))?;
        serde_json::to_value(value).map_err(|e| KernelFailure::Error(e.to_string()))
    }
    match payload {
        Payload::Ml(p) => json(workloads::ml::run(p)),
        Payload::Pi(p) => json(workloads::pi::run(p)),
        Payload::Dense(p) => json(workload_dense::run(p, env)),
        Payload::Video(p) => json(workload_video::run(p, env)),
    }
}

/// Runs `kernel`, turning a panic into [`KernelFailure::Panic`] so the worker thread survives.
fn run_catching(
    kernel: Kernel,
    payload: &Payload,
    env: &ExecEnv,
) -> Result<serde_json::Value, KernelFailure> {
    catch_unwind(AssertUnwindSafe(|| kernel(payload, env)))
        .unwrap_or_else(|panic| Err(KernelFailure::Panic(panic_message(panic.as_ref()))))
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_owned())
}

/// The kernel runner used by [`Executor`]; tests swap in their own to inject panics.
pub type Kernel = fn(&Payload, &ExecEnv) -> Result<serde_json::Value, KernelFailure>;

pub struct Executor {
    sender: Option<SyncSender<Job>>,
    capacity: usize,
    pending: Arc<AtomicUsize>,
    workers: Vec<JoinHandle<()>>,
}

impl Executor {
    /// `concurrency` kernels run at once; `queue` more may wait.
    pub fn start(
        concurrency: usize,
        queue: usize,
        env: ExecEnv,
        cgroups: Option<cgroup::Hierarchy>,
        kernel: Kernel,
        on_done: OnDone,
    ) -> std::io::Result<Self> {
        let concurrency = concurrency.max(1);
        let (sender, receiver) = sync_channel::<Job>(queue);
        let receiver = Arc::new(Mutex::new(receiver));
        let pending = Arc::new(AtomicUsize::new(0));
        let cgroups = Arc::new(cgroups);
        let workers = (0..concurrency)
            .map(|i| {
                let receiver = Arc::clone(&receiver);
                let pending = Arc::clone(&pending);
                let cgroups = Arc::clone(&cgroups);
                let on_done = Arc::clone(&on_done);
                std::thread::Builder::new()
                    .name(format!("kernel-{i}"))
                    .spawn(move || {
                        worker(
                            &receiver,
                            &pending,
                            env,
                            cgroups.as_ref().as_ref(),
                            kernel,
                            &*on_done,
                        )
                    })
            })
            .collect::<std::io::Result<_>>()?;
        Ok(Self {
            sender: Some(sender),
            capacity: concurrency + queue,
            pending,
            workers,
        })
    }

    /// Queues a payload; the answer arrives on the returned channel.
    pub fn submit(
        &self,
        payload: Payload,
        method: &str,
    ) -> Result<oneshot::Receiver<Completed>, Overloaded> {
        let (reply, receiver) = oneshot::channel();
        let job = Job {
            payload,
            method: method.to_owned(),
            queued_at_mono_ns: monotonic_ns(),
            reply,
        };
        let overloaded = Overloaded {
            capacity: self.capacity,
        };
        let sender = self.sender.as_ref().ok_or(overloaded)?;
        // Count before sending so a worker's decrement can never run first.
        self.pending.fetch_add(1, Ordering::SeqCst);
        match sender.try_send(job) {
            Ok(()) => Ok(receiver),
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.pending.fetch_sub(1, Ordering::SeqCst);
                Err(overloaded)
            }
        }
    }

    /// Requests queued or running.
    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::SeqCst)
    }

    /// Stops taking work and waits for the running and queued requests to finish.
    pub fn shutdown(mut self) {
        self.sender.take();
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

fn worker(
    receiver: &Mutex<Receiver<Job>>,
    pending: &AtomicUsize,
    env: ExecEnv,
    cgroups: Option<&cgroup::Hierarchy>,
    kernel: Kernel,
    on_done: &(dyn Fn(&Payload, &str, &Completed) + Send + Sync),
) {
    let mut meter = UsageMeter::for_this_process(cgroups);
    loop {
        // Hold the lock only to take one job, not while running it.
        let job = match receiver.lock().unwrap_or_else(|p| p.into_inner()).recv() {
            Ok(job) => job,
            Err(_) => return,
        };
        let queued_ns = monotonic_ns().saturating_sub(job.queued_at_mono_ns);
        let mark = meter.start();
        let start_timestamp_ns = realtime_ns();
        let started = monotonic_ns();
        let result = run_catching(kernel, &job.payload, &env);
        let duration_ns = monotonic_ns() - started;
        let end_timestamp_ns = realtime_ns();
        let usage = meter.finish(mark);
        let completed = Completed {
            result,
            start_timestamp_ns,
            end_timestamp_ns,
            duration_ns,
            queued_ns,
            usage,
        };
        on_done(&job.payload, &job.method, &completed);
        pending.fetch_sub(1, Ordering::SeqCst);
        // The client may have gone away; the request is recorded all the same.
        let _ = job.reply.send(completed);
    }
}

impl Drop for Executor {
    fn drop(&mut self) {
        self.sender.take();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn slow_kernel(payload: &Payload, _: &ExecEnv) -> Result<serde_json::Value, KernelFailure> {
        if let Payload::Ml(p) = payload {
            if p.input == 666 {
                panic!("injected failure");
            }
            std::thread::sleep(Duration::from_millis(p.input));
        }
        Ok(serde_json::json!({"ok": true}))
    }

    fn quiet() -> OnDone {
        Arc::new(|_, _, _| {})
    }

    fn ml(input: u64) -> Payload {
        Payload::Ml(workloads::ml::MlParams { input, seed: None })
    }

    #[test]
    fn beyond_running_plus_queued_requests_are_refused() {
        let executor =
            Executor::start(1, 1, ExecEnv::default(), None, slow_kernel, quiet()).unwrap();
        let first = executor.submit(ml(300), "POST").unwrap();
        // Let the worker take the first job so the second waits in the queue.
        std::thread::sleep(Duration::from_millis(50));
        let second = executor.submit(ml(1), "POST").unwrap();
        assert_eq!(
            executor.submit(ml(1), "POST").unwrap_err(),
            Overloaded { capacity: 2 }
        );
        assert_eq!(executor.pending(), 2);
        let first = first.blocking_recv().unwrap();
        let second = second.blocking_recv().unwrap();
        assert!(first.result.is_ok());
        // The second waited for the first.
        assert!(
            second.queued_ns > 100_000_000,
            "queued {} ns",
            second.queued_ns
        );
        assert!(second.start_timestamp_ns >= first.end_timestamp_ns);
        executor.shutdown();
    }

    #[test]
    fn every_finished_request_is_reported_even_without_a_listener() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&seen);
        let on_done: OnDone = Arc::new(move |payload, method, done| {
            sink.lock()
                .unwrap()
                .push((payload.function(), method.to_owned(), done.result.is_ok()));
        });
        let executor =
            Executor::start(1, 4, ExecEnv::default(), None, slow_kernel, on_done).unwrap();
        // The client gives up at once: its receiver is dropped before the kernel finishes.
        drop(executor.submit(ml(50), "POST").unwrap());
        executor.shutdown();
        assert_eq!(
            *seen.lock().unwrap(),
            vec![(workloads::Function::Ml, "POST".to_owned(), true)]
        );
    }

    #[test]
    fn a_panicking_kernel_is_reported_and_the_worker_survives() {
        let executor =
            Executor::start(1, 4, ExecEnv::default(), None, slow_kernel, quiet()).unwrap();
        let failed = executor
            .submit(ml(666), "POST")
            .unwrap()
            .blocking_recv()
            .unwrap();
        assert_eq!(
            failed.result,
            Err(KernelFailure::Panic("injected failure".into()))
        );
        let next = executor
            .submit(ml(1), "POST")
            .unwrap()
            .blocking_recv()
            .unwrap();
        assert!(next.result.is_ok());
        executor.shutdown();
    }

    #[test]
    fn real_kernels_answer_with_the_original_keys() {
        let pi = run_kernel(
            &Payload::Pi(workloads::pi::PiParams {
                num_samples: 100_000,
                seed: Some(1),
            }),
            &ExecEnv::default(),
        )
        .unwrap();
        for key in [
            "execution_time",
            "estimated_pi",
            "actual_pi",
            "error",
            "num_samples",
            "success",
        ] {
            assert!(pi.get(key).is_some(), "{key} missing from {pi}");
        }
        let ml = run_kernel(&ml(10), &ExecEnv::default()).unwrap();
        assert_eq!(ml["data"], "endpoint OK\n");
    }
}
