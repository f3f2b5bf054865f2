//! Drives one size: deploys its target, sends its share of the schedule one request at a time,
//! turns each answer (or its absence) into a [`RequestRow`], journals it, and restarts the
//! target after a timeout, an OOM kill or a crash.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use dataset::{Journal, Outcome, RequestRow, Usage};
use deploy::{Backend, Deployed, Exit, PodSize};
use experiment::ScheduledRequest;
use indicatif::ProgressBar;

use crate::HarnessError;
use crate::collector::Collector;

/// How long to wait for the target's log line after its answer arrived.
const RECORD_PATIENCE: Duration = Duration::from_secs(10);
/// How long a target that dropped a connection gets to show that it died.
const EXIT_PATIENCE: Duration = Duration::from_secs(3);

/// What every size's driver shares.
pub struct Shared<'a> {
    pub run_id: &'a str,
    pub backend: &'a dyn Backend,
    pub journal: &'a Mutex<Journal>,
    pub collector: &'a Collector<'a>,
    pub scrape_interval: Duration,
    pub completed: &'a BTreeSet<u64>,
    pub interrupted: &'a AtomicBool,
}

/// What a size's driver learned about its target, for the manifest.
#[derive(Debug, Default)]
pub struct SizeReport {
    pub build_info: Option<serde_json::Value>,
    pub startup_seconds: Vec<f64>,
    pub restarts: u32,
}

pub fn drive_size(
    shared: &Shared<'_>,
    pod: &PodSize,
    requests: &[ScheduledRequest],
    progress: &ProgressBar,
) -> Result<SizeReport, HarnessError> {
    let mut report = SizeReport::default();
    let pending: Vec<&ScheduledRequest> = requests
        .iter()
        .filter(|r| !shared.completed.contains(&r.seq))
        .collect();
    progress.set_length(requests.len() as u64);
    progress.set_position((requests.len() - pending.len()) as u64);
    if pending.is_empty() {
        progress.finish_with_message("done earlier");
        return Ok(report);
    }
    let mut target = shared.backend.deploy(pod)?;
    report.build_info = Some(target.build_info().clone());
    report
        .startup_seconds
        .push(target.startup_time().as_secs_f64());
    let mut watch = shared
        .collector
        .watch(&*target, pod, shared.scrape_interval)?;
    let mut last_end_ns = 0;
    for request in pending {
        if shared.interrupted.load(Ordering::Relaxed) {
            break;
        }
        progress.set_message(format!("{} {}", request.function, target.instance()));
        let row = execute(shared.run_id, &mut *target, pod, request);
        last_end_ns = row.end_ns.max(row.client_end_ns);
        shared
            .journal
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .append(&row)?;
        progress.inc(1);
        if matches!(
            row.outcome,
            Outcome::Timeout | Outcome::Oom | Outcome::Crashed
        ) {
            tracing::warn!(instance = target.instance(), seq = row.seq, outcome = %row.outcome, "restarting the target");
            watch.finish(0);
            target.restart()?;
            report.restarts += 1;
            report
                .startup_seconds
                .push(target.startup_time().as_secs_f64());
            watch = shared
                .collector
                .watch(&*target, pod, shared.scrape_interval)?;
        }
    }
    watch.finish(last_end_ns);
    target.shutdown()?;
    progress.finish_with_message("done");
    Ok(report)
}

/// Sends one request and records what happened, whatever happened.
pub fn execute(
    run_id: &str,
    target: &mut dyn Deployed,
    pod: &PodSize,
    request: &ScheduledRequest,
) -> RequestRow {
    let body = request.payload.body();
    let url = format!("{}/{}", target.api_url(), request.function);
    let timeout = Duration::from_secs(request.timeout_s);
    let client_start_ns = realtime_ns();
    let sent = Instant::now();
    let answer = deploy::http::post_json(&url, &body, timeout);
    let waited = sent.elapsed();
    let client_end_ns = realtime_ns();
    let mut row = RequestRow {
        run_id: run_id.to_owned(),
        seq: request.seq,
        size: pod.name.clone(),
        target: target.instance().to_owned(),
        cpu_millicores: pod.cpu_millicores,
        memory_bytes: pod.memory_bytes,
        function: request.function,
        repetition: request.repetition,
        warmup: request.warmup,
        payload: request.payload.clone(),
        http_status: None,
        outcome: Outcome::Error,
        error: None,
        start_ns: client_start_ns,
        end_ns: client_end_ns,
        duration_ns: waited.as_nanos() as i64,
        queued_ns: None,
        client_start_ns,
        client_end_ns,
        usage: Usage::default(),
        response: None,
    };
    match answer {
        Ok(response) => {
            row.http_status = Some(response.status);
            let json = response.json().ok();
            match find_record(target, &url_path(request), &body) {
                Some(record) => apply_record(&mut row, &record),
                None => {
                    row.outcome = if response.status == 200 {
                        Outcome::Ok
                    } else {
                        Outcome::Error
                    };
                    row.error = Some("the target answered but wrote no request record".into());
                }
            }
            if response.status == 200 {
                row.response = json;
            } else if row.error.is_none() {
                row.error = json
                    .as_ref()
                    .and_then(|j| j["error_message"].as_str().map(str::to_owned))
                    .or_else(|| Some(response.body_text()));
            }
        }
        Err(err) if is_timeout(&err) => {
            row.outcome = Outcome::Timeout;
            row.error = Some(format!("no answer within {} s", request.timeout_s));
        }
        Err(err) => {
            let exit = target.wait_for_exit(EXIT_PATIENCE);
            row.outcome = match exit {
                Some(Exit::Oom { .. }) => Outcome::Oom,
                Some(_) => Outcome::Crashed,
                None => Outcome::Error,
            };
            row.error = Some(match exit {
                Some(exit) => format!("target died during the request: {exit:?} ({err})"),
                None => format!("request failed: {err}"),
            });
        }
    }
    row
}

fn url_path(request: &ScheduledRequest) -> String {
    format!("/{}", request.function)
}

/// The target's log line for this request. Lines for other requests (e.g. one that finished
/// after the harness gave up on it) are skipped.
fn find_record(
    target: &mut dyn Deployed,
    endpoint: &str,
    body: &serde_json::Value,
) -> Option<serde_json::Value> {
    let deadline = Instant::now() + RECORD_PATIENCE;
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        let record = target.next_record(left)?;
        if record["endpoint"] == endpoint && record["payload"] == *body {
            return Some(record);
        }
        tracing::warn!(
            instance = target.instance(),
            "skipping a request record that matches no pending request"
        );
    }
}

/// Copies the server's view of the request into the row.
fn apply_record(row: &mut RequestRow, record: &serde_json::Value) {
    let int = |key: &str| record[key].as_u64().map(|v| v as i64);
    row.outcome = record["outcome"]
        .as_str()
        .and_then(Outcome::from_name)
        .unwrap_or(Outcome::Error);
    row.error = record["error"].as_str().map(str::to_owned);
    if let (Some(start), Some(end), Some(duration)) = (
        int("start_timestamp_ns"),
        int("end_timestamp_ns"),
        int("duration_ns"),
    ) {
        row.start_ns = start;
        row.end_ns = end;
        row.duration_ns = duration;
    }
    row.queued_ns = int("queued_ns");
    if let Ok(usage) = serde_json::from_value::<Usage>(record["usage"].clone()) {
        row.usage = usage;
    }
}

fn is_timeout(err: &std::io::Error) -> bool {
    matches!(
        err.kind(),
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
    )
}

pub fn realtime_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}
