//! One experiment run from start to dataset: run directory, preflight, per-size drivers (side
//! by side when the spec says so), then alignment and the Parquet files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dataset::{AlignedRequest, Host, Journal, Manifest, SampleJournal, SizeSpec};
use deploy::{Backend, DeployError, LocalBackend, LocalOptions, PodSize};
use experiment::{LoadedSpec, Schedule};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::HarnessError;
use crate::collector::Collector;
use crate::driver::{Shared, SizeReport, drive_size, realtime_ns};
use crate::provenance;

/// The in-progress manifest; `manifest.json` appears only when the run is complete.
const PARTIAL_MANIFEST: &str = "manifest.partial.json";
/// Samples are fsync'd in batches of this many rows (about a second of three targets).
const SAMPLE_FLUSH_ROWS: usize = 128;

pub struct RunOptions {
    /// The spec, with any `--seed` override already applied.
    pub spec: LoadedSpec,
    /// Runs go to `<out>/<experiment>/<run-id>/`.
    pub out: PathBuf,
    /// Continue this interrupted run instead of starting a new one.
    pub resume: Option<PathBuf>,
    /// Where the targets run.
    pub backend: BackendChoice,
    /// Where metric samples come from.
    pub collector: CollectorChoice,
    /// Draw progress bars on stderr.
    pub progress: bool,
    /// Set by the caller's signal handler: stop after the running requests.
    pub interrupted: Arc<AtomicBool>,
}

/// What a run tells the backend it makes.
#[derive(Debug, Clone, Copy)]
pub struct BackendContext<'a> {
    /// The run's id, which a backend labels its objects with.
    pub run_id: &'a str,
    /// The first target instance number: a resumed run continues after the interrupted one's,
    /// so records of the two never share an instance.
    pub first_instance: u32,
}

/// Makes a run's backend.
pub type BackendFactory = Box<dyn Fn(BackendContext<'_>) -> Result<Box<dyn Backend>, DeployError>>;

/// Where the targets run.
pub enum BackendChoice {
    /// `cl-target` processes on this host, each in its own cgroup.
    Local {
        /// The `cl-target` binary to deploy.
        target_binary: PathBuf,
        /// `false` (`--no-limits`): run without cgroups; recorded in the manifest.
        limits: bool,
    },
    /// A backend made elsewhere (Kubernetes), which enforces its own limits.
    External(BackendFactory),
}

impl BackendChoice {
    fn limits(&self) -> bool {
        match self {
            BackendChoice::Local { limits, .. } => *limits,
            BackendChoice::External(_) => true,
        }
    }
}

/// Where metric samples come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CollectorChoice {
    /// The harness's own sampler, reading each target's procfs and cgroup files from outside.
    Probe,
    /// A real Prometheus (`prometheus` on PATH) that the harness starts on loopback, with its
    /// storage in the run directory, scraping every target's `/metrics`.
    StartPrometheus,
}

pub struct RunResult {
    pub dir: PathBuf,
    pub manifest: Manifest,
    pub requests: Vec<AlignedRequest>,
}

pub fn run(options: RunOptions) -> Result<RunResult, HarnessError> {
    let spec = &options.spec.spec;
    let schedule = experiment::schedule(spec);
    let (dir, mut manifest) = match &options.resume {
        Some(dir) => resume_manifest(dir, &options.spec)?,
        None => new_run(&options, &schedule)?,
    };
    let io = |what: &str| {
        let what = format!("{what} in {}", dir.display());
        move |source| HarnessError::Io { what, source }
    };
    // A journal that exists but cannot be read must stop the run, not restart it from zero
    // (which would repeat every finished request).
    let journal_path = dir.join(dataset::REQUESTS_JOURNAL);
    let done_rows = if journal_path.exists() {
        Journal::read(&journal_path)?
    } else {
        Vec::new()
    };
    let completed = dataset::completed_seqs(&done_rows);
    let samples_path = dir.join(dataset::SAMPLES_JOURNAL);
    let done_samples = if samples_path.exists() {
        SampleJournal::read(&samples_path)?
    } else {
        Vec::new()
    };
    let first_instance = next_instance_number(
        done_rows
            .iter()
            .map(|r| r.target.as_str())
            .chain(done_samples.iter().map(|s| s.target.as_str())),
    );
    drop(done_samples);
    let pods: Vec<PodSize> = spec
        .sizes
        .iter()
        .map(|s| PodSize::new(&s.name, s.cpu_millicores, s.memory_bytes()))
        .collect();

    let cgroups = cgroup::Hierarchy::detect().ok();
    let backend: Box<dyn Backend> = match &options.backend {
        BackendChoice::Local {
            target_binary,
            limits,
        } => {
            let local = LocalBackend::new(
                target_binary.clone(),
                LocalOptions {
                    limits: *limits,
                    log_dir: Some(dir.join("logs")),
                    // Unique per harness process: a resumed run must not meet a killed run's
                    // cgroups.
                    cgroup_prefix: format!("cl-{}-{}", manifest.run_id, std::process::id()),
                    startup_timeout: Duration::from_secs(120),
                    first_instance,
                    ..LocalOptions::default()
                },
            )?;
            if options.resume.is_some() {
                // A run killed outright leaves its cgroups (and, without the parent-death
                // signal, its targets) behind; the run id makes the prefix this run's own.
                let removed = local.remove_leftovers(&format!("cl-{}-", manifest.run_id))?;
                if removed > 0 {
                    push_note(
                        &mut manifest,
                        format!(
                            "resume: removed {removed} cgroup(s) left by the interrupted process"
                        ),
                    );
                }
            }
            Box::new(local)
        }
        BackendChoice::External(make) => make(BackendContext {
            run_id: &manifest.run_id,
            first_instance,
        })?,
    };
    push_note(&mut manifest, format!("backend: {}", backend.name()));
    let preflight = backend.preflight(&pods)?;
    manifest.limits_enforced = preflight.limits_enforced;
    manifest.host.cgroup_mode = preflight.cgroup_mode.clone();
    for warning in &preflight.warnings {
        tracing::warn!("{warning}");
        push_note(&mut manifest, format!("preflight: {warning}"));
    }
    push_note(
        &mut manifest,
        format!(
            "preflight: host {} cores, load average {}, {} MiB available; sizes request {}m CPU, {} MiB",
            preflight.host_cores,
            provenance::load_average().unwrap_or_default(),
            preflight.free_memory_bytes >> 20,
            preflight.requested_cpu_millicores,
            preflight.requested_memory_bytes >> 20
        ),
    );
    if !completed.is_empty() {
        push_note(
            &mut manifest,
            format!("resumed with {} requests already done", completed.len()),
        );
    }
    manifest.write(dir.join(PARTIAL_MANIFEST))?;

    let journal = Mutex::new(Journal::open(dir.join(dataset::REQUESTS_JOURNAL))?);
    let interval = Duration::from_millis(spec.scrape_interval_ms);
    // Started here, on the thread that outlives the run: it dies with this thread.
    let prometheus = match options.collector {
        CollectorChoice::Probe => None,
        CollectorChoice::StartPrometheus => Some(
            collect::PrometheusServer::start(collect::ServerOptions {
                scrape_interval: interval,
                ..collect::ServerOptions::new(dir.join("prometheus"))
            })
            .map_err(|e| HarnessError::Collector(e.to_string()))?,
        ),
    };
    let collector = match &prometheus {
        None => Collector::Probe {
            cgroups: cgroups.as_ref(),
            journal: Arc::new(Mutex::new(SampleJournal::open(
                dir.join(dataset::SAMPLES_JOURNAL),
                SAMPLE_FLUSH_ROWS,
            )?)),
        },
        Some(server) => Collector::Prometheus {
            server,
            client: collect::PrometheusClient::new(server.url(), Duration::from_secs(30))
                .map_err(|e| HarnessError::Collector(e.to_string()))?,
            targets: Mutex::default(),
        },
    };
    manifest.collector = collector.dataset_collector();
    let shared = Shared {
        run_id: &manifest.run_id,
        backend: backend.as_ref(),
        journal: &journal,
        collector: &collector,
        scrape_interval: interval,
        completed: &completed,
        interrupted: &options.interrupted,
    };
    let bars = MultiProgress::with_draw_target(if options.progress {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    });
    let style = ProgressStyle::with_template(
        "{prefix:>8} [{bar:30}] {pos}/{len} {elapsed_precise} ETA {eta_precise} {msg}",
    )
    .expect("a valid progress template")
    .progress_chars("=> ");
    let work: Vec<(PodSize, &[experiment::ScheduledRequest], ProgressBar)> = pods
        .iter()
        .zip(&schedule.sizes)
        .map(|(pod, sized)| {
            let bar = bars.add(ProgressBar::new(sized.requests.len() as u64));
            bar.set_style(style.clone());
            bar.set_prefix(pod.name.clone());
            (pod.clone(), sized.requests.as_slice(), bar)
        })
        .collect();
    let reports: Vec<Result<SizeReport, HarnessError>> = if spec.concurrent_sizes {
        std::thread::scope(|scope| {
            let handles: Vec<_> = work
                .iter()
                .map(|(pod, requests, bar)| scope.spawn(|| drive_size(&shared, pod, requests, bar)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a size driver panicked"))
                .collect()
        })
    } else {
        work.iter()
            .map(|(pod, requests, bar)| drive_size(&shared, pod, requests, bar))
            .collect()
    };

    let mut first_error = None;
    for (pod, report) in pods.iter().zip(reports) {
        match report {
            Ok(report) => record_report(&mut manifest, pod, &report),
            Err(err) => {
                push_note(&mut manifest, format!("{}: stopped: {err}", pod.name));
                first_error.get_or_insert(err);
            }
        }
    }
    manifest.write(dir.join(PARTIAL_MANIFEST))?;
    if let Some(err) = first_error {
        return Err(err);
    }
    if options
        .interrupted
        .load(std::sync::atomic::Ordering::Relaxed)
    {
        return Err(HarnessError::Interrupted {
            spec: manifest.experiment.clone(),
            dir,
        });
    }

    let rows = Journal::read(dir.join(dataset::REQUESTS_JOURNAL))?;
    // Every request lies inside [first send − 1 min, now]: the window asked of the collector.
    let from_ns = rows
        .iter()
        .map(|r| r.client_start_ns)
        .min()
        .unwrap_or_else(realtime_ns)
        - 60_000_000_000;
    let sample_rows =
        collector.samples(&dir.join(dataset::SAMPLES_JOURNAL), from_ns, realtime_ns())?;
    drop(collector);
    let prometheus_storage = dir.join("prometheus");
    if let Some(server) = prometheus {
        server
            .stop()
            .map_err(|e| HarnessError::Collector(e.to_string()))?;
    }
    manifest.counts = dataset::outcome_counts(&rows);
    push_note(
        &mut manifest,
        format!(
            "harness CPU: {:.2} s for {} requests (sampling included)",
            provenance::own_cpu_seconds(),
            rows.len()
        ),
    );
    manifest.finished_at = Some(dataset::rfc3339_utc(realtime_ns()));
    let requests = dataset::write_run(&dir, &manifest, &rows, &sample_rows)?;
    // The Parquet files now hold everything the journals (and Prometheus's storage) did.
    for leftover in [
        PARTIAL_MANIFEST,
        dataset::REQUESTS_JOURNAL,
        dataset::SAMPLES_JOURNAL,
    ] {
        match std::fs::remove_file(dir.join(leftover)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(io("removing the journals")(e));
            }
            _ => {}
        }
    }
    if prometheus_storage.exists() {
        std::fs::remove_dir_all(&prometheus_storage)
            .map_err(io("removing Prometheus's storage"))?;
    }
    Ok(RunResult {
        dir,
        manifest,
        requests,
    })
}

fn new_run(options: &RunOptions, schedule: &Schedule) -> Result<(PathBuf, Manifest), HarnessError> {
    let spec = &options.spec.spec;
    let started_ns = realtime_ns();
    let run_id = run_id(started_ns);
    let dir = options.out.join(&spec.name).join(&run_id);
    std::fs::create_dir_all(&dir).map_err(|source| HarnessError::Io {
        what: format!("creating {}", dir.display()),
        source,
    })?;
    let manifest = Manifest {
        schema_version: dataset::SCHEMA_VERSION,
        run_id,
        experiment: spec.name.clone(),
        spec: options.spec.source.clone(),
        spec_sha256: options.spec.sha256.clone(),
        seed: spec.seed,
        schedule_len: schedule.len() as u64,
        started_at: dataset::rfc3339_utc(started_ns),
        finished_at: None,
        host: host(),
        versions: versions(),
        sizes: spec
            .sizes
            .iter()
            .map(|s| SizeSpec {
                name: s.name.clone(),
                cpu_millicores: s.cpu_millicores,
                memory_bytes: s.memory_bytes(),
                price_per_core_second: s.price_per_core_second,
                price_per_gib_second: s.price_per_gib_second,
            })
            .collect(),
        limits_enforced: options.backend.limits(),
        collector: dataset::Collector::Probe,
        counts: BTreeMap::new(),
        notes: Vec::new(),
    };
    Ok((dir, manifest))
}

fn resume_manifest(dir: &Path, spec: &LoadedSpec) -> Result<(PathBuf, Manifest), HarnessError> {
    let fail = |reason: String| HarnessError::Resume {
        dir: dir.to_owned(),
        reason,
    };
    if dir.join(dataset::MANIFEST_FILE).exists() {
        return Err(fail("the run is already complete".into()));
    }
    let manifest = Manifest::read(dir.join(PARTIAL_MANIFEST)).map_err(|e| fail(e.to_string()))?;
    if manifest.spec_sha256 != spec.sha256 {
        return Err(fail(format!(
            "the spec changed since the run started (sha256 {} then, {} now)",
            manifest.spec_sha256, spec.sha256
        )));
    }
    if manifest.seed != spec.spec.seed {
        return Err(fail(format!(
            "the run used seed {}, not {}",
            manifest.seed, spec.spec.seed
        )));
    }
    Ok((dir.to_owned(), manifest))
}

/// `20261204T211530Z-3f9c`: sortable by start time, unique enough for one machine.
fn run_id(started_ns: i64) -> String {
    let stamp: String = dataset::rfc3339_utc(started_ns)
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(15)
        .collect();
    let salt = (started_ns as u64 ^ (u64::from(std::process::id()) << 16)) & 0xffff;
    format!("{stamp}Z-{salt:04x}")
}

fn host() -> Host {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as u32;
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_owned();
    let memory_bytes = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            let line = m.lines().find(|l| l.starts_with("MemTotal:"))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .map_or(0, |kib| kib * 1024);
    let cgroup_mode = match cgroup::Hierarchy::detect().map(|h| h.version()) {
        Ok(cgroup::Version::V1) => "v1",
        Ok(cgroup::Version::V2) => "v2",
        Err(_) => "none",
    };
    Host {
        cores,
        kernel,
        cgroup_mode: cgroup_mode.to_owned(),
        memory_bytes,
    }
}

fn versions() -> BTreeMap<String, String> {
    let mut versions = BTreeMap::new();
    versions.insert(
        "computelocator".to_owned(),
        env!("CARGO_PKG_VERSION").to_owned(),
    );
    versions.insert("git_rev".to_owned(), env!("CL_GIT_REV").to_owned());
    versions.insert(
        "xgboost".to_owned(),
        provenance::xgboost_version().unwrap_or_else(|| "not found (run scripts/setup)".to_owned()),
    );
    versions
}

/// Adds what a size's target reported about itself (libraries, threads) and its restarts.
fn record_report(manifest: &mut Manifest, pod: &PodSize, report: &SizeReport) {
    if let Some(info) = &report.build_info {
        for key in [
            "libtorch",
            "blas",
            "libavcodec",
            "libavformat",
            "libswscale",
            "x264",
        ] {
            if let Some(value) = info[key].as_str() {
                manifest
                    .versions
                    .entry(key.to_owned())
                    .or_insert_with(|| value.to_owned());
            }
        }
        if info["blas_is_reference"] == true {
            push_note(
                manifest,
                format!("{}: libtorch used reference BLAS (slow)", pod.name),
            );
        }
    }
    if !report.startup_seconds.is_empty() {
        let list: Vec<String> = report
            .startup_seconds
            .iter()
            .map(|s| format!("{s:.1}"))
            .collect();
        push_note(
            manifest,
            format!(
                "{}: {} restart(s); target start-up took {} s",
                pod.name,
                report.restarts,
                list.join(", ")
            ),
        );
    }
}

/// One above the highest `<size>#<n>` instance number among `targets` (0 for a new run).
fn next_instance_number<'a>(targets: impl Iterator<Item = &'a str>) -> u32 {
    targets
        .filter_map(|t| t.rsplit_once('#')?.1.parse::<u32>().ok())
        .max()
        .map_or(0, |n| n + 1)
}

fn push_note(manifest: &mut Manifest, note: String) {
    if !manifest.notes.contains(&note) {
        manifest.notes.push(note);
    }
}

#[cfg(test)]
mod tests {
    use super::next_instance_number;

    #[test]
    fn resumed_instances_start_above_the_ones_already_used() {
        assert_eq!(next_instance_number([].into_iter()), 0);
        assert_eq!(
            next_instance_number(["small#0", "large#2", "medium#1", "odd"].into_iter()),
            3
        );
    }
}
