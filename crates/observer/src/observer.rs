//! The watched target: its probe and exporter, replaced whenever the target process changes.

use std::collections::HashMap;
use std::sync::Mutex;

use probe::{Exporter, ProcessProbe};
use prometheus::{Encoder, IntCounter, IntGauge, Registry, TextEncoder};

use crate::find::{FindError, find_process};

/// Why a sampling round or a scrape failed.
#[derive(Debug, thiserror::Error)]
pub enum ObserverError {
    #[error(transparent)]
    Find(#[from] FindError),
    #[error("sampling the target: {0}")]
    Probe(#[from] probe::Error),
    #[error("observer metrics: {0}")]
    Prometheus(#[from] prometheus::Error),
}

/// What the observer is doing now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Sampling the target process with this PID.
    Watching { pid: i32 },
    /// No target process found (not started yet, or restarting).
    Searching,
}

struct Watched {
    probe: ProcessProbe,
    /// One exporter per target process, so a restarted target starts from absent values
    /// instead of the previous process's last ones.
    exporter: Exporter,
}

/// Finds and samples one target process. Every call is short (tens of microseconds when the
/// target is known; one pass over `/proc` when it is not), so callers may use it from async code.
pub struct Observer {
    exe_name: String,
    const_labels: HashMap<String, String>,
    cgroups: Option<cgroup::Hierarchy>,
    registry: Registry,
    target_up: IntGauge,
    targets_found: IntCounter,
    watched: Mutex<Option<Watched>>,
}

impl Observer {
    /// Watches the process whose executable is named `exe_name`. `const_labels` go on every
    /// target metric; with `cgroups`, the target's cgroup counters are read too when its cgroup
    /// is reachable from here (from a sidecar it usually is not: each container has its own
    /// cgroup namespace).
    pub fn new(
        exe_name: impl Into<String>,
        const_labels: HashMap<String, String>,
        cgroups: Option<cgroup::Hierarchy>,
    ) -> Result<Self, ObserverError> {
        let registry = Registry::new();
        let target_up = IntGauge::new(
            "cl_observer_target_up",
            "1 while the target process is found and sampled, else 0.",
        )?;
        let targets_found = IntCounter::new(
            "cl_observer_targets_found_total",
            "Target processes found since the observer started; more than one means restarts.",
        )?;
        registry.register(Box::new(target_up.clone()))?;
        registry.register(Box::new(targets_found.clone()))?;
        Ok(Self {
            exe_name: exe_name.into(),
            const_labels,
            cgroups,
            registry,
            target_up,
            targets_found,
            watched: Mutex::new(None),
        })
    }

    /// One round: samples the watched target; when there is none, or it has exited, looks it
    /// up again and starts watching what it finds.
    pub fn refresh(&self) -> Result<Status, ObserverError> {
        let mut watched = self.watched.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(current) = watched.as_mut() {
            match current.probe.sample() {
                Ok(sample) => {
                    current.exporter.update(&sample);
                    return Ok(Status::Watching { pid: sample.pid });
                }
                Err(err) => {
                    tracing::info!(pid = current.probe.pid(), "target lost: {err}");
                    *watched = None;
                    self.target_up.set(0);
                }
            }
        }
        let Some(pid) = find_process(&self.exe_name)? else {
            return Ok(Status::Searching);
        };
        match self.watch(pid) {
            Ok(found) => {
                tracing::info!(pid, exe = %self.exe_name, "watching the target");
                *watched = Some(found);
                self.target_up.set(1);
                self.targets_found.inc();
                Ok(Status::Watching { pid })
            }
            // It exited between the lookup and the opening of its files.
            Err(probe::Error::ProcessGone { .. }) => Ok(Status::Searching),
            Err(err) => Err(err.into()),
        }
    }

    fn watch(&self, pid: i32) -> Result<Watched, probe::Error> {
        let mut probe = match ProcessProbe::open(pid, self.cgroups.as_ref()) {
            Err(probe::Error::Cgroup(err)) => {
                tracing::debug!(pid, "target's cgroup not readable from here: {err}");
                ProcessProbe::open(pid, None)?
            }
            opened => opened?,
        };
        let exporter = Exporter::new(self.const_labels.clone())?;
        exporter.set_info(pid, &probe.name()?, &probe.cmdline()?);
        exporter.update(&probe.sample()?);
        Ok(Watched { probe, exporter })
    }

    /// The current status without sampling.
    pub fn status(&self) -> Status {
        match &*self.watched.lock().unwrap_or_else(|p| p.into_inner()) {
            Some(current) => Status::Watching {
                pid: current.probe.pid(),
            },
            None => Status::Searching,
        }
    }

    /// Samples now (so a scrape never sees a value older than itself) and renders the
    /// observer's own metrics followed by the target's, in Prometheus text format.
    pub fn render(&self) -> Result<String, ObserverError> {
        self.refresh()?;
        let mut out = Vec::with_capacity(8192);
        TextEncoder::new().encode(&self.registry.gather(), &mut out)?;
        let mut text = String::from_utf8_lossy(&out).into_owned();
        if let Some(current) = &*self.watched.lock().unwrap_or_else(|p| p.into_inner()) {
            text.push_str(&current.exporter.encode()?);
        }
        Ok(text)
    }
}
