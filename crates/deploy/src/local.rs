//! The local backend: each target is a child process of this one, in its own process group and
//! (unless limits are off) its own fresh cgroup with the size's CPU quota and memory limit.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cgroup::{Cgroup, Counters, Hierarchy, Limits, Version};
use serde_json::Value;

use crate::{Backend, DeployError, Deployed, Exit, PodSize, Preflight, host, http};

/// The record type of a request line in the target's log.
const REQUEST_RECORD: &str = "prev_request_history";
/// How long [`Deployed::shutdown`] lets a target finish its queue after SIGTERM.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// Lines of the target's stderr kept for start-up errors.
const STDERR_TAIL_LINES: usize = 20;
const POLL_PAUSE: Duration = Duration::from_millis(50);
/// Bound on one `/health` probe; a throttled target may answer slowly.
const HEALTH_PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long to wait for a dead target's pipes to reach end-of-file.
const PIPE_DRAIN_PATIENCE: Duration = Duration::from_secs(1);

/// How the local backend runs targets.
#[derive(Clone, Debug)]
pub struct LocalOptions {
    /// `false` (`--no-limits`): no cgroups; targets share the host unlimited.
    pub limits: bool,
    /// Where each instance's request log (`<instance>.jsonl`, via the target's `--log-file`) and
    /// stderr (`<instance>.stderr.log`) go. Without it, stderr is forwarded to this process's
    /// stderr with an `[<instance>]` prefix.
    pub log_dir: Option<PathBuf>,
    /// From spawn to a healthy answer. A 100m quota stretches libtorch's load about tenfold.
    pub startup_timeout: Duration,
    /// Cgroup names are `<prefix>-<size>-<n>`: make it unique per run (e.g.
    /// `computelocator-<run-id>`) so parallel runs do not collide.
    pub cgroup_prefix: String,
    /// Environment added for every target.
    pub extra_env: Vec<(String, String)>,
    /// Number of the first instance of each size (`small#<n>`): a resumed run starts above
    /// the instances it already had, so instance names stay unique within a run.
    pub first_instance: u32,
}

impl Default for LocalOptions {
    fn default() -> Self {
        Self {
            limits: true,
            log_dir: None,
            startup_timeout: Duration::from_secs(60),
            cgroup_prefix: format!("computelocator-{}", std::process::id()),
            extra_env: Vec::new(),
            first_instance: 0,
        }
    }
}

/// What every target of one backend shares.
#[derive(Debug)]
struct Shared {
    binary: PathBuf,
    options: LocalOptions,
    /// `None` exactly when limits are off.
    hierarchy: Option<Hierarchy>,
}

/// Runs `cl-target` processes on this host, each in a fresh cgroup per instance.
#[derive(Debug)]
pub struct LocalBackend {
    shared: Arc<Shared>,
}

impl LocalBackend {
    /// A backend that spawns `target_binary`; with limits on, it uses the cgroup hierarchy
    /// detected for this process.
    pub fn new(target_binary: PathBuf, options: LocalOptions) -> Result<Self, DeployError> {
        let hierarchy = if options.limits {
            Some(Hierarchy::detect()?)
        } else {
            None
        };
        Self::build(target_binary, options, hierarchy)
    }

    /// Like [`LocalBackend::new`] with a given hierarchy (used when `options.limits` is set).
    pub fn with_hierarchy(
        target_binary: PathBuf,
        options: LocalOptions,
        hierarchy: Hierarchy,
    ) -> Result<Self, DeployError> {
        let hierarchy = options.limits.then_some(hierarchy);
        Self::build(target_binary, options, hierarchy)
    }

    fn build(
        binary: PathBuf,
        options: LocalOptions,
        hierarchy: Option<Hierarchy>,
    ) -> Result<Self, DeployError> {
        if !binary.is_file() {
            return Err(DeployError::Spawn {
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
                binary,
            });
        }
        if let Some(dir) = &options.log_dir {
            std::fs::create_dir_all(dir).map_err(|e| {
                DeployError::io(format!("create the log directory {}", dir.display()), e)
            })?;
        }
        Ok(Self {
            shared: Arc::new(Shared {
                binary,
                options,
                hierarchy,
            }),
        })
    }
}

impl Backend for LocalBackend {
    fn name(&self) -> &'static str {
        "local"
    }

    fn preflight(&self, sizes: &[PodSize]) -> Result<Preflight, DeployError> {
        for size in sizes {
            size.validate()?;
        }
        let cgroup_mode = match &self.shared.hierarchy {
            Some(h) => {
                probe_cgroup(h, &self.shared.options.cgroup_prefix, sizes)?;
                match h.version() {
                    Version::V1 => "v1",
                    Version::V2 => "v2",
                }
            }
            None => "none (--no-limits)",
        };
        let host_cores = host::cores();
        let (host_memory_bytes, free_memory_bytes) =
            host::memory().map_err(|e| DeployError::io("read /proc/meminfo", e))?;
        let mut warnings = host::warnings(sizes, host_cores, free_memory_bytes);
        if self.shared.hierarchy.is_none() {
            warnings.push(
                "limits are off (--no-limits): every target may use the whole host, so sizes \
                 differ only by name"
                    .to_owned(),
            );
        }
        Ok(Preflight {
            cgroup_mode: cgroup_mode.to_owned(),
            limits_enforced: self.shared.hierarchy.is_some(),
            host_cores,
            host_memory_bytes,
            free_memory_bytes,
            requested_cpu_millicores: sizes.iter().map(|s| s.cpu_millicores).sum(),
            requested_memory_bytes: sizes.iter().map(|s| s.memory_bytes).sum(),
            warnings,
        })
    }

    fn deploy(&self, size: &PodSize) -> Result<Box<dyn Deployed>, DeployError> {
        size.validate()?;
        let generation = self.shared.options.first_instance;
        let (current, started) = Instance::start(&self.shared, size, generation)?;
        Ok(Box::new(LocalTarget {
            shared: Arc::clone(&self.shared),
            size: size.clone(),
            generation,
            instance: instance_name(size, generation),
            current: Some(current),
            started,
            pending: VecDeque::new(),
            last_exit: None,
        }))
    }
}

/// Creates and removes a cgroup with the largest limits asked for, proving that deploys will
/// be able to.
fn probe_cgroup(h: &Hierarchy, prefix: &str, sizes: &[PodSize]) -> Result<(), DeployError> {
    let cpu = sizes.iter().map(|s| u64::from(s.cpu_millicores)).max();
    let memory = sizes.iter().map(|s| s.memory_bytes).max();
    let probe = Cgroup::create(
        h,
        &format!("{prefix}-preflight"),
        &Limits::from_millicores(cpu, memory),
    )?;
    probe.remove()?;
    Ok(())
}

fn instance_name(size: &PodSize, generation: u32) -> String {
    format!("{}#{generation}", size.name)
}

/// Facts of a started instance that outlive it (the trait hands out references).
#[derive(Debug)]
struct Started {
    api_url: String,
    metrics_url: String,
    build_info: Value,
    startup_time: Duration,
}

/// The cgroup counters that tell an OOM kill apart from other deaths.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct OomCounters {
    oom_kill: Option<u64>,
    memory_failcnt: Option<u64>,
}

impl From<Counters> for OomCounters {
    fn from(c: Counters) -> Self {
        Self {
            oom_kill: c.oom_kill,
            memory_failcnt: c.memory_failcnt,
        }
    }
}

/// Whether the process was killed for its memory limit: SIGKILL, and the OOM-kill counter went
/// up (kernels without that counter: the failure counter went up).
fn classify(status: ExitStatus, before: OomCounters, after: Option<OomCounters>) -> Exit {
    let grew = |b: Option<u64>, a: Option<u64>| matches!((b, a), (Some(b), Some(a)) if a > b);
    let oom = after.is_some_and(|after| match (before.oom_kill, after.oom_kill) {
        (Some(_), Some(_)) => grew(before.oom_kill, after.oom_kill),
        _ => grew(before.memory_failcnt, after.memory_failcnt),
    });
    match (status.code(), status.signal()) {
        (_, Some(libc::SIGKILL)) if oom => Exit::Oom {
            signal: libc::SIGKILL,
        },
        (Some(0), _) => Exit::Exited { code: 0 },
        (code, signal) => Exit::Crashed { code, signal },
    }
}

/// One running process of a target and what it holds.
struct Instance {
    name: String,
    child: Child,
    pid: i32,
    cgroup: Option<Cgroup>,
    oom_baseline: OomCounters,
    /// JSON lines of the target's stdout, in order.
    lines: Receiver<Value>,
    stderr_tail: Arc<Mutex<VecDeque<String>>>,
    /// Disconnects when the stderr reader has seen end-of-file.
    stderr_done: Receiver<()>,
    /// Set once the process has been reaped.
    status: Option<ExitStatus>,
    exit: Option<Exit>,
}

impl Instance {
    /// Spawns the target in a fresh cgroup and waits until it answers `/health`. On any error
    /// the process and cgroup are gone when this returns.
    fn start(
        shared: &Shared,
        size: &PodSize,
        generation: u32,
    ) -> Result<(Instance, Started), DeployError> {
        let name = instance_name(size, generation);
        let spawned_at = Instant::now();
        let mut instance = Self::spawn(shared, size, generation, &name)?;
        match instance.wait_ready(spawned_at + shared.options.startup_timeout) {
            Ok((api_url, metrics_url, build_info)) => {
                let started = Started {
                    api_url,
                    metrics_url,
                    build_info,
                    startup_time: spawned_at.elapsed(),
                };
                tracing::info!(instance = %name, pid = instance.pid, startup = ?started.startup_time, api = %started.api_url, "target healthy");
                Ok((instance, started))
            }
            Err(reason) => {
                if let Err(e) = instance.teardown(Duration::ZERO) {
                    tracing::warn!(instance = %name, "cleanup after a failed start: {e}");
                }
                let _ = instance.stderr_done.recv_timeout(PIPE_DRAIN_PATIENCE);
                Err(DeployError::Startup {
                    instance: name,
                    reason,
                    stderr_tail: instance.stderr_tail(),
                })
            }
        }
    }

    fn spawn(
        shared: &Shared,
        size: &PodSize,
        generation: u32,
        name: &str,
    ) -> Result<Instance, DeployError> {
        let options = &shared.options;
        let cgroup = match &shared.hierarchy {
            Some(h) => Some(Cgroup::create(
                h,
                &format!("{}-{}-{generation}", options.cgroup_prefix, size.name),
                &Limits::from_millicores(
                    Some(u64::from(size.cpu_millicores)),
                    Some(size.memory_bytes),
                ),
            )?),
            None => None,
        };
        let oom_baseline = match &cgroup {
            Some(cg) => cg.counters()?.into(),
            None => OomCounters::default(),
        };

        let mut cmd = Command::new(&shared.binary);
        cmd.args(["--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"])
            .arg("--label")
            .arg(format!("size={}", size.name))
            .arg("--label")
            .arg(format!("instance={name}"))
            .envs(options.extra_env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group: Ctrl-C in this terminal reaches only this process, which
            // then records and tears down the targets itself.
            .process_group(0);
        let stderr_sink = match &options.log_dir {
            Some(dir) => {
                cmd.arg("--log-file").arg(dir.join(format!("{name}.jsonl")));
                let path = dir.join(format!("{name}.stderr.log"));
                let file = File::create(&path)
                    .map_err(|e| DeployError::io(format!("create {}", path.display()), e))?;
                StderrSink::File(file)
            }
            None => StderrSink::Forward(format!("[{name}] ")),
        };
        if let Some(cg) = &cgroup {
            cg.attach_before_exec(&mut cmd)?;
        }
        // If the harness dies without tearing down (SIGKILL, crash), its targets die with it
        // instead of burning CPU in the background. (The signal follows the spawning thread,
        // which outlives its targets: drivers shut their target down before they return.)
        // SAFETY: prctl is async-signal-safe and touches only the child's own state.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn().map_err(|source| DeployError::Spawn {
            binary: shared.binary.clone(),
            source,
        })?;
        let pid = child.id() as i32;
        let (stdout, stderr) = (child.stdout.take(), child.stderr.take());

        let (line_tx, lines) = mpsc::channel();
        let (stderr_done_tx, stderr_done) = mpsc::channel::<()>();
        let stderr_tail = Arc::new(Mutex::new(VecDeque::new()));
        // Built before the reader threads so that an error below still tears the child down.
        let instance = Instance {
            name: name.to_owned(),
            child,
            pid,
            cgroup,
            oom_baseline,
            lines,
            stderr_tail: Arc::clone(&stderr_tail),
            stderr_done,
            status: None,
            exit: None,
        };
        if let Some(stdout) = stdout {
            let label = name.to_owned();
            spawn_reader(format!("{name}-stdout"), move || {
                read_json_lines(stdout, &label, |value| line_tx.send(value).is_ok())
            })?;
        }
        if let Some(stderr) = stderr {
            spawn_reader(format!("{name}-stderr"), move || {
                copy_stderr(stderr, stderr_sink, &stderr_tail);
                drop(stderr_done_tx);
            })?;
        }
        Ok(instance)
    }

    /// Waits for the `listening` line, then for `/health` to answer 200. Returns the API and
    /// metrics URLs and the `build_info` line, or why the target is not ready.
    fn wait_ready(&mut self, deadline: Instant) -> Result<(String, String, Value), String> {
        let mut build_info = Value::Null;
        let (api_url, metrics_url) = loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err("no `listening` line before the start-up timeout".into());
            }
            match self.lines.recv_timeout(remaining.min(POLL_PAUSE * 4)) {
                Ok(line) => match line.get("type").and_then(Value::as_str) {
                    Some("build_info") => build_info = line,
                    Some("listening") => {
                        let url = |key: &str| {
                            line.get(key)
                                .and_then(Value::as_str)
                                .map(|addr| format!("http://{addr}"))
                                .ok_or_else(|| format!("`listening` line without {key}: {line}"))
                        };
                        break (url("api")?, url("metrics")?);
                    }
                    _ => tracing::debug!(instance = %self.name, %line, "start-up line"),
                },
                Err(RecvTimeoutError::Timeout) => self.fail_if_dead("before listening")?,
                Err(RecvTimeoutError::Disconnected) => {
                    self.wait_exit(PIPE_DRAIN_PATIENCE);
                    self.fail_if_dead("before listening")?;
                    return Err("closed its stdout before listening".into());
                }
            }
        };
        let health = format!("{api_url}/health");
        loop {
            let problem = match http::get(&health, HEALTH_PROBE_TIMEOUT) {
                Ok(answer) if answer.status == 200 => {
                    return Ok((api_url, metrics_url, build_info));
                }
                Ok(answer) => format!("/health answered {}", answer.status),
                Err(e) => format!("/health: {e}"),
            };
            self.fail_if_dead("before answering /health")?;
            if Instant::now() >= deadline {
                return Err(format!(
                    "not healthy before the start-up timeout ({problem})"
                ));
            }
            std::thread::sleep(POLL_PAUSE);
        }
    }

    /// `Err` with the exit status if the process has died.
    fn fail_if_dead(&mut self, when: &str) -> Result<(), String> {
        match self.poll_exit() {
            Some(exit) => Err(format!("{} {when}", describe(exit))),
            None => Ok(()),
        }
    }

    /// Polls the process until it has exited or `patience` is over.
    fn wait_exit(&mut self, patience: Duration) -> Option<Exit> {
        let deadline = Instant::now() + patience;
        loop {
            if let Some(exit) = self.poll_exit() {
                return Some(exit);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Non-blocking: reaps the process if it has died and classifies how. The cgroup is still
    /// there, so its counters tell an OOM kill from other deaths.
    fn poll_exit(&mut self) -> Option<Exit> {
        if self.exit.is_none() && self.status.is_none() {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    self.status = Some(status);
                    let after = self
                        .cgroup
                        .as_ref()
                        .and_then(|cg| cg.counters().ok())
                        .map(OomCounters::from);
                    self.exit = Some(classify(status, self.oom_baseline, after));
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(instance = %self.name, "cannot poll the target: {e}"),
            }
        }
        self.exit
    }

    /// Stops the process (SIGTERM and up to `grace` to finish, then SIGKILL to its group and
    /// everything in its cgroup), reaps it and removes the cgroup. Idempotent.
    fn teardown(&mut self, grace: Duration) -> Result<(), DeployError> {
        if self.status.is_none() && !grace.is_zero() {
            // SAFETY: kill(2) has no memory-safety preconditions; the pid is our unreaped
            // child, so it cannot have been reused.
            unsafe { libc::kill(self.pid, libc::SIGTERM) };
            self.wait_exit(grace);
        }
        if self.status.is_none() {
            // SAFETY: as above; the group id is the unreaped child's pid.
            unsafe { libc::kill(-self.pid, libc::SIGKILL) };
        }
        let mut first_error: Option<DeployError> = None;
        if let Some(cg) = &self.cgroup
            && let Err(e) = cg.kill_all()
        {
            first_error.get_or_insert(e.into());
        }
        if self.status.is_none() {
            match self.child.wait() {
                Ok(status) => self.status = Some(status),
                Err(e) => {
                    first_error.get_or_insert(DeployError::io("wait for the target", e));
                }
            }
        }
        if let Some(cg) = self.cgroup.take()
            && let Err(e) = cg.remove()
        {
            first_error.get_or_insert(e.into());
        }
        first_error.map_or(Ok(()), Err)
    }

    /// The request records still in the pipe of a stopped process.
    fn drain_records(&self) -> Vec<Value> {
        let deadline = Instant::now() + PIPE_DRAIN_PATIENCE;
        let mut records = Vec::new();
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(remaining) {
                Ok(line) if is_request_record(&line) => records.push(line),
                Ok(_) => {}
                Err(_) => return records,
            }
        }
    }

    fn stderr_tail(&self) -> String {
        let tail = self
            .stderr_tail
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        tail.iter().cloned().collect::<Vec<_>>().join("\n")
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Err(e) = self.teardown(Duration::ZERO) {
            tracing::warn!(instance = %self.name, "teardown on drop: {e}");
        }
    }
}

fn describe(exit: Exit) -> String {
    match exit {
        Exit::Oom { .. } => "was killed for exceeding its memory limit".into(),
        Exit::Exited { code } => format!("exited with code {code}"),
        Exit::Crashed {
            signal: Some(signal),
            ..
        } => format!("died by signal {signal}"),
        Exit::Crashed {
            code: Some(code), ..
        } => format!("exited with code {code}"),
        Exit::Crashed { .. } => "ended with an unknown status".into(),
    }
}

fn is_request_record(line: &Value) -> bool {
    line.get("type").and_then(Value::as_str) == Some(REQUEST_RECORD)
}

fn spawn_reader(name: String, work: impl FnOnce() + Send + 'static) -> Result<(), DeployError> {
    std::thread::Builder::new()
        .name(name)
        .spawn(work)
        .map(drop)
        .map_err(|e| DeployError::io("start a pipe reader thread", e))
}

/// Parses each stdout line as JSON and hands it to `deliver` until end-of-file or until
/// `deliver` returns false (nobody listens any more). Lines that are not JSON are logged.
fn read_json_lines(pipe: impl Read, instance: &str, mut deliver: impl FnMut(Value) -> bool) {
    let mut reader = BufReader::new(pipe);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(instance, "reading the target's stdout: {e}");
                return;
            }
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<Value>(&line) {
            Ok(value) => {
                if !deliver(value) {
                    return;
                }
            }
            Err(e) => tracing::warn!(
                instance,
                line = %String::from_utf8_lossy(&line).trim_end(),
                "non-JSON line on the target's stdout: {e}"
            ),
        }
    }
}

enum StderrSink {
    File(File),
    /// This process's stderr, each line prefixed.
    Forward(String),
}

/// Copies the target's stderr to `sink` and keeps its last lines in `tail`.
fn copy_stderr(pipe: impl Read, mut sink: StderrSink, tail: &Mutex<VecDeque<String>>) {
    let mut reader = BufReader::new(pipe);
    let mut raw = Vec::new();
    loop {
        raw.clear();
        match reader.read_until(b'\n', &mut raw) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let line = String::from_utf8_lossy(&raw);
        let line = line.trim_end_matches(['\n', '\r']);
        // A full disk or closed terminal must not stop the copy: the tail still matters.
        let _ = match &mut sink {
            StderrSink::File(file) => writeln!(file, "{line}"),
            StderrSink::Forward(prefix) => writeln!(std::io::stderr().lock(), "{prefix}{line}"),
        };
        let mut tail = tail.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if tail.len() == STDERR_TAIL_LINES {
            tail.pop_front();
        }
        tail.push_back(line.to_owned());
    }
}

/// A target deployed by [`LocalBackend`].
struct LocalTarget {
    shared: Arc<Shared>,
    size: PodSize,
    generation: u32,
    instance: String,
    /// `None` only after a failed restart.
    current: Option<Instance>,
    /// The last successful start (still reported after a failed restart).
    started: Started,
    /// Records of replaced instances not yet handed out.
    pending: VecDeque<Value>,
    /// How the last instance that died on its own ended.
    last_exit: Option<Exit>,
}

impl Deployed for LocalTarget {
    fn instance(&self) -> &str {
        &self.instance
    }

    fn size(&self) -> &PodSize {
        &self.size
    }

    fn api_url(&self) -> &str {
        &self.started.api_url
    }

    fn metrics_url(&self) -> &str {
        &self.started.metrics_url
    }

    fn pid(&self) -> Option<i32> {
        self.current.as_ref().map(|i| i.pid)
    }

    fn build_info(&self) -> &Value {
        &self.started.build_info
    }

    fn startup_time(&self) -> Duration {
        self.started.startup_time
    }

    fn next_record(&mut self, timeout: Duration) -> Option<Value> {
        if let Some(record) = self.pending.pop_front() {
            return Some(record);
        }
        let current = self.current.as_ref()?;
        let deadline = Instant::now() + timeout;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            match current.lines.recv_timeout(remaining) {
                Ok(line) if is_request_record(&line) => return Some(line),
                Ok(line) => tracing::debug!(instance = %self.instance, %line, "other log line"),
                Err(_) => return None,
            }
        }
    }

    fn check_exit(&mut self) -> Option<Exit> {
        match &mut self.current {
            Some(current) => {
                let exit = current.poll_exit();
                if exit.is_some() {
                    self.last_exit = exit;
                }
                exit
            }
            // A failed restart left nothing running.
            None => Some(self.last_exit.unwrap_or(Exit::Crashed {
                code: None,
                signal: None,
            })),
        }
    }

    fn restart(&mut self) -> Result<(), DeployError> {
        if let Some(mut old) = self.current.take() {
            if let Some(exit) = old.poll_exit() {
                self.last_exit = Some(exit);
            }
            let stopped = old.teardown(Duration::ZERO);
            self.pending.extend(old.drain_records());
            stopped?;
        }
        self.generation += 1;
        self.instance = instance_name(&self.size, self.generation);
        let (current, started) = Instance::start(&self.shared, &self.size, self.generation)?;
        self.current = Some(current);
        self.started = started;
        Ok(())
    }

    fn shutdown(mut self: Box<Self>) -> Result<(), DeployError> {
        match self.current.take() {
            Some(mut current) => current.teardown(SHUTDOWN_GRACE),
            None => Ok(()),
        }
    }
}

impl LocalBackend {
    /// The cgroup directories a deploy of `size` as instance number `generation` uses (empty
    /// without limits).
    pub fn cgroup_dirs(&self, size: &PodSize, generation: u32) -> Vec<PathBuf> {
        let Some(h) = &self.shared.hierarchy else {
            return Vec::new();
        };
        let name = format!(
            "{}-{}-{generation}",
            self.shared.options.cgroup_prefix, size.name
        );
        let mut dirs: Vec<PathBuf> = h
            .controllers()
            .into_iter()
            .filter_map(|c| h.own_dir(c))
            .map(|dir| dir.join(&name))
            .collect();
        dirs.dedup();
        dirs
    }

    pub fn target_binary(&self) -> &Path {
        &self.shared.binary
    }

    /// Kills the targets and removes the cgroups a killed earlier process left behind under
    /// `prefix` (e.g. `cl-<run-id>-` when resuming that run). Returns how many cgroups went.
    pub fn remove_leftovers(&self, prefix: &str) -> Result<usize, DeployError> {
        let Some(hierarchy) = &self.shared.hierarchy else {
            return Ok(0);
        };
        let stale = Cgroup::existing_with_prefix(hierarchy, prefix)?;
        let count = stale.len();
        for cgroup in stale {
            tracing::info!(cgroup = cgroup.name(), "removing a leftover cgroup");
            cgroup.kill_all()?;
            cgroup.remove()?;
        }
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status_of(raw: i32) -> ExitStatus {
        ExitStatus::from_raw(raw)
    }

    /// Raw wait statuses: a signal number in the low bits, an exit code shifted by 8.
    const KILLED: i32 = libc::SIGKILL;
    const SEGV: i32 = libc::SIGSEGV;

    fn counters(oom_kill: Option<u64>, failcnt: Option<u64>) -> OomCounters {
        OomCounters {
            oom_kill,
            memory_failcnt: failcnt,
        }
    }

    #[test]
    fn sigkill_with_a_new_oom_kill_is_oom() {
        let exit = classify(
            status_of(KILLED),
            counters(Some(0), Some(0)),
            Some(counters(Some(1), Some(40))),
        );
        assert_eq!(exit, Exit::Oom { signal: 9 });
    }

    #[test]
    fn sigkill_without_a_new_oom_kill_is_a_crash_even_if_failcnt_grew() {
        let exit = classify(
            status_of(KILLED),
            counters(Some(1), Some(5)),
            Some(counters(Some(1), Some(9))),
        );
        assert_eq!(
            exit,
            Exit::Crashed {
                code: None,
                signal: Some(9)
            }
        );
    }

    #[test]
    fn without_an_oom_kill_counter_failcnt_decides() {
        let before = counters(None, Some(0));
        assert_eq!(
            classify(status_of(KILLED), before, Some(counters(None, Some(3)))),
            Exit::Oom { signal: 9 }
        );
        assert!(matches!(
            classify(status_of(KILLED), before, None),
            Exit::Crashed { .. }
        ));
    }

    #[test]
    fn other_signals_and_exit_codes_are_told_apart() {
        let grown = Some(counters(Some(1), Some(1)));
        let zero = counters(Some(0), Some(0));
        assert_eq!(
            classify(status_of(SEGV), zero, grown),
            Exit::Crashed {
                code: None,
                signal: Some(11)
            }
        );
        assert_eq!(
            classify(status_of(3 << 8), zero, grown),
            Exit::Crashed {
                code: Some(3),
                signal: None
            }
        );
        assert_eq!(
            classify(status_of(0), zero, grown),
            Exit::Exited { code: 0 }
        );
    }

    #[test]
    fn stdout_lines_become_json_values_and_garbage_is_skipped() {
        let text = b"{\"type\":\"build_info\"}\nnot json\n\n{\"type\":\"prev_request_history\",\"seq\":0}\n{\"partial\":";
        let mut seen = Vec::new();
        read_json_lines(&text[..], "t#0", |v| {
            seen.push(v);
            true
        });
        assert_eq!(seen.len(), 2);
        assert!(!is_request_record(&seen[0]));
        assert!(is_request_record(&seen[1]));
    }

    #[test]
    fn the_stderr_tail_keeps_the_last_lines() {
        let text: String = (0..30).map(|i| format!("line {i}\n")).collect();
        let file = tempfile::tempfile().unwrap();
        let tail = Mutex::new(VecDeque::new());
        copy_stderr(text.as_bytes(), StderrSink::File(file), &tail);
        let tail = tail.into_inner().unwrap();
        assert_eq!(tail.len(), STDERR_TAIL_LINES);
        assert_eq!(tail.front().map(String::as_str), Some("line 10"));
        assert_eq!(tail.back().map(String::as_str), Some("line 29"));
    }

    #[test]
    fn invalid_sizes_are_refused_before_anything_runs() {
        for size in [
            PodSize::new("", 100, 1 << 30),
            PodSize::new("a/b", 100, 1 << 30),
            PodSize::new("small", 0, 1 << 30),
            PodSize::new("small", 100, 0),
        ] {
            assert!(
                matches!(size.validate(), Err(DeployError::InvalidSize { .. })),
                "{size:?}"
            );
        }
        PodSize::new("x-large_2", 2000, 1).validate().unwrap();
    }
}
