//! The run-directory source: every complete run (a directory with a `manifest.json`) one or two
//! levels under the data root, opened with [`dataset::open_run`] and cached.
//!
//! Invariant: nothing outside the root is ever read. Run ids are checked component by component
//! (no `..`, `.`, empty or absolute parts), symlinks are never followed, and the resolved
//! directory must be one the discovery walk found.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use dataset::{AlignedRequest, MANIFEST_FILE, Manifest, SampleRow};

use crate::error::{ApiError, Result};
use crate::query::{Cursor, Query};
use crate::record::{Endpoint, HistoryRecord, Page, RunSummary};
use crate::source::Source;

/// Where the harness keeps each target's server log (`<target>.jsonl`).
const LOGS_DIR: &str = "logs";
/// How much of a target's log is read looking for its `listening` line.
const LOG_HEAD_BYTES: u64 = 64 * 1024;
/// How many run ids an unknown-run error lists.
const LISTED_RUNS: usize = 20;

/// (target instance, metric) → its samples `(ts_ns, value)` in time order.
pub(crate) type SeriesMap = HashMap<(String, String), Vec<(i64, f64)>>;

/// Run directories under one data root.
pub struct RunDirSource {
    root: PathBuf,
    cache: Mutex<HashMap<String, Arc<LoadedRun>>>,
}

/// A run held in memory: its requests in `seq` order and, on first use, its samples by series.
struct LoadedRun {
    id: String,
    manifest: Manifest,
    requests: Vec<AlignedRequest>,
    samples: Vec<SampleRow>,
    series: OnceLock<SeriesMap>,
    /// Target instance → API address, from the target's own log.
    addresses: BTreeMap<String, String>,
}

impl RunDirSource {
    /// A source over `root`, which must be a readable directory.
    pub fn new(root: impl AsRef<Path>) -> std::io::Result<RunDirSource> {
        let root = root.as_ref().canonicalize()?;
        if !root.is_dir() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotADirectory,
                format!("{} is not a directory", root.display()),
            ));
        }
        Ok(RunDirSource {
            root,
            cache: Mutex::new(HashMap::new()),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The ids of every complete run, sorted: `<dir>` and `<dir>/<dir>` holding a manifest,
    /// reached without following any symlink.
    pub fn run_ids(&self) -> Result<Vec<String>> {
        let mut ids = Vec::new();
        for first in real_subdirs(&self.root) {
            let first_dir = self.root.join(&first);
            if is_regular_file(&first_dir.join(MANIFEST_FILE)) {
                ids.push(first.clone());
            }
            for second in real_subdirs(&first_dir) {
                if is_regular_file(&first_dir.join(&second).join(MANIFEST_FILE)) {
                    ids.push(format!("{first}/{second}"));
                }
            }
        }
        ids.sort();
        Ok(ids)
    }

    /// Checks a client-given run id: well-formed (else 400) and one of the discovered runs
    /// (else 404).
    pub fn check_run_id(&self, run_id: &str) -> Result<()> {
        let components: Vec<&str> = run_id.split('/').collect();
        let well_formed = !run_id.is_empty()
            && components.len() <= 2
            && components.iter().all(|c| is_plain_name(c));
        if !well_formed {
            return Err(ApiError::bad(
                "run",
                format!("{run_id:?} is not a run id"),
                "a run id from /runs: one or two plain directory names joined by '/'",
            ));
        }
        let ids = self.run_ids()?;
        if ids.iter().any(|id| id == run_id) {
            Ok(())
        } else {
            Err(ApiError::UnknownRun {
                run: run_id.to_owned(),
                allowed: listed(&ids),
            })
        }
    }

    fn manifest(&self, run_id: &str) -> Result<Manifest> {
        Manifest::read(self.root.join(run_id).join(MANIFEST_FILE)).map_err(|e| {
            ApiError::UnreadableRun {
                run: run_id.to_owned(),
                detail: e.to_string(),
            }
        })
    }

    /// Opens a discovered run, or returns it from the cache. Runs are complete before they are
    /// discovered (the manifest is written last), so a cached run never goes stale.
    fn load(&self, run_id: &str) -> Result<Arc<LoadedRun>> {
        if let Some(run) = self.lock_cache().get(run_id) {
            return Ok(Arc::clone(run));
        }
        let dir = self.root.join(run_id);
        let mut run = dataset::open_run(&dir).map_err(|e| ApiError::UnreadableRun {
            run: run_id.to_owned(),
            detail: e.to_string(),
        })?;
        run.requests.sort_by_key(|r| r.request.seq);
        let mut targets: Vec<&str> = run
            .requests
            .iter()
            .map(|r| r.request.target.as_str())
            .collect();
        targets.sort_unstable();
        targets.dedup();
        let addresses = targets
            .into_iter()
            .filter_map(|t| Some((t.to_owned(), api_address(&dir, t)?)))
            .collect();
        let loaded = Arc::new(LoadedRun {
            id: run_id.to_owned(),
            manifest: run.manifest,
            requests: run.requests,
            samples: run.samples,
            series: OnceLock::new(),
            addresses,
        });
        self.lock_cache()
            .insert(run_id.to_owned(), Arc::clone(&loaded));
        Ok(loaded)
    }

    fn lock_cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<LoadedRun>>> {
        // A panic elsewhere while holding the lock leaves a valid map: keep using it.
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The runs a query may touch, in id order, checked against the discovered ones.
    fn selected_runs(&self, query: &Query) -> Result<Vec<String>> {
        for run in &query.runs {
            self.check_run_id(run)?;
        }
        let mut selected = Vec::new();
        for id in self.run_ids()? {
            if !query.runs.is_empty() && !query.runs.contains(&id) {
                continue;
            }
            if !query.experiments.is_empty()
                && !query.experiments.contains(&self.manifest(&id)?.experiment)
            {
                continue;
            }
            selected.push(id);
        }
        Ok(selected)
    }
}

impl LoadedRun {
    fn record(&self, aligned: &AlignedRequest, with_samples: bool) -> HistoryRecord {
        let target = &aligned.request.target;
        let mut record = HistoryRecord::of(
            aligned,
            &self.manifest.experiment,
            self.addresses.get(target).cloned(),
        );
        // The run's id is its place under the root, which is what the `run` filter takes.
        record.run_id.clone_from(&self.id);
        if with_samples {
            let series = self.series.get_or_init(|| series_by_target(&self.samples));
            for (metric, state) in record.states.iter_mut() {
                state.samples = Some(in_window(
                    series.get(&(target.clone(), metric.clone())),
                    aligned.request.start_ns,
                    aligned.request.end_ns,
                ));
            }
        }
        record
    }
}

impl Source for RunDirSource {
    fn kind(&self) -> &'static str {
        "runs"
    }

    fn history(&self, query: &Query) -> Result<Page<HistoryRecord>> {
        let mut records = Vec::with_capacity(query.limit.min(1024));
        let mut more = false;
        'runs: for run_id in self.selected_runs(query)? {
            if let Some(cursor) = &query.cursor
                && run_id < cursor.run
            {
                continue;
            }
            let run = self.load(&run_id)?;
            for aligned in &run.requests {
                let request = &aligned.request;
                if let Some(cursor) = &query.cursor
                    && (run_id.as_str(), request.seq) <= (cursor.run.as_str(), cursor.seq)
                {
                    continue;
                }
                if !matches(query, request) {
                    continue;
                }
                if records.len() == query.limit {
                    more = true;
                    break 'runs;
                }
                records.push(run.record(aligned, query.samples));
            }
        }
        let next_cursor = more
            .then(|| records.last())
            .flatten()
            .map(|last: &HistoryRecord| {
                Cursor {
                    start_ns: last.start_ns,
                    run: last.run_id.clone(),
                    seq: last.seq,
                }
                .encode()
            });
        Ok(Page {
            records,
            next_cursor,
        })
    }

    fn endpoints(&self) -> Result<Vec<Endpoint>> {
        let mut endpoints = Vec::new();
        for run_id in self.run_ids()? {
            let run = self.load(&run_id)?;
            let mut seen: BTreeMap<&str, &AlignedRequest> = BTreeMap::new();
            for aligned in &run.requests {
                seen.entry(aligned.request.target.as_str())
                    .or_insert(aligned);
            }
            for (target, aligned) in seen {
                let size = &aligned.request.size;
                let spec = run.manifest.sizes.iter().find(|s| &s.name == size);
                endpoints.push(Endpoint {
                    pod: target.to_owned(),
                    size: Some(size.clone()),
                    address: run.addresses.get(target).cloned(),
                    cpu_millicores: Some(
                        spec.map_or(aligned.request.cpu_millicores, |s| s.cpu_millicores),
                    ),
                    memory_bytes: Some(
                        spec.map_or(aligned.request.memory_bytes, |s| s.memory_bytes),
                    ),
                    run_id: Some(run_id.clone()),
                    health: None,
                    labels: BTreeMap::from([
                        ("experiment".to_owned(), run.manifest.experiment.clone()),
                        (
                            "limits_enforced".to_owned(),
                            run.manifest.limits_enforced.to_string(),
                        ),
                    ]),
                });
            }
        }
        Ok(endpoints)
    }

    fn runs(&self) -> Result<Vec<RunSummary>> {
        self.run_ids()?
            .into_iter()
            .map(|id| {
                let manifest = self.manifest(&id)?;
                Ok(RunSummary::of(id, &manifest))
            })
            .collect()
    }
}

/// Whether a request passes the query's filters (the run and experiment ones are applied per run).
pub fn matches(query: &Query, request: &dataset::RequestRow) -> bool {
    (query.functions.is_empty() || query.functions.contains(&request.function))
        && (query.sizes.is_empty() || query.sizes.contains(&request.size))
        && (query.outcomes.is_empty() || query.outcomes.contains(&request.outcome))
        && (query.statuses.is_empty()
            || request
                .http_status
                .is_some_and(|s| query.statuses.contains(&s)))
        && query.from_ns.is_none_or(|from| request.start_ns >= from)
        && query.to_ns.is_none_or(|to| request.start_ns < to)
}

/// A directory entry name that stays in its directory.
fn is_plain_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', '\0'])
}

/// Names of the real (non-symlink) subdirectories of `dir`, unreadable entries skipped.
fn real_subdirs(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| {
            let entry = entry.ok()?;
            // `file_type` does not follow symlinks: a link to a directory is not a directory here.
            entry
                .file_type()
                .ok()?
                .is_dir()
                .then(|| entry.file_name().into_string().ok())?
        })
        .filter(|name| is_plain_name(name))
        .collect()
}

fn is_regular_file(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_file())
}

/// The API address a target announced in its log's `listening` line, if the run kept its logs.
fn api_address(run_dir: &Path, target: &str) -> Option<String> {
    if !is_plain_name(target) {
        return None;
    }
    let logs = run_dir.join(LOGS_DIR);
    let path = logs.join(format!("{target}.jsonl"));
    // Neither the logs directory nor the log may be a link out of the run.
    if std::fs::symlink_metadata(&logs).is_ok_and(|m| m.is_symlink()) || !is_regular_file(&path) {
        return None;
    }
    let file = std::fs::File::open(path).ok()?;
    BufReader::new(file.take(LOG_HEAD_BYTES))
        .lines()
        .map_while(|line| line.ok())
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(&line).ok())
        .find(|value| value["type"] == "listening")
        .and_then(|value| value["api"].as_str().map(str::to_owned))
}

/// Every (target, metric) series of a run, sorted by time, NaN samples kept out as the aligner
/// keeps them out.
pub(crate) fn series_by_target(samples: &[SampleRow]) -> SeriesMap {
    let mut series = SeriesMap::new();
    for sample in samples.iter().filter(|s| !s.value.is_nan()) {
        series
            .entry((sample.target.clone(), sample.metric.clone()))
            .or_default()
            .push((sample.ts_ns, sample.value));
    }
    for points in series.values_mut() {
        points.sort_by_key(|&(ts, _)| ts);
    }
    series
}

/// The samples with `start_ns <= ts <= end_ns`: the ones [`dataset::MetricWindow`]'s mean and
/// max summarise.
pub(crate) fn in_window(
    series: Option<&Vec<(i64, f64)>>,
    start_ns: i64,
    end_ns: i64,
) -> Vec<(i64, f64)> {
    let Some(points) = series else {
        return Vec::new();
    };
    let from = points.partition_point(|&(ts, _)| ts < start_ns);
    let to = points.partition_point(|&(ts, _)| ts <= end_ns);
    points[from..to.max(from)].to_vec()
}

fn listed(ids: &[String]) -> String {
    let mut text = ids
        .iter()
        .take(LISTED_RUNS)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if ids.len() > LISTED_RUNS {
        text.push_str(&format!(", … ({} runs, see /runs)", ids.len()));
    }
    if text.is_empty() {
        text.push_str("no runs under the data root");
    }
    text
}
