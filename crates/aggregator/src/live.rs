//! The live source: targets and samples from a Prometheus, request records from a Loki, joined
//! by [`dataset::align`] exactly as the harness joins a run.
//!
//! What it expects of the cluster:
//! - Prometheus scrapes every `cl-target` with the target labels `size` (pod size name) and
//!   `instance` (target instance, e.g. `small#0`), as the harness configures it; targets without
//!   a `size` label are not cl-targets and are left out of `/endpoints`.
//! - Limits come from the `cgroup_cpu_quota_cores` and `cgroup_memory_limit_bytes` gauges (one
//!   instant query each), absent gauges giving null limits.
//! - Loki holds each target's stdout with the stream labels `app="cl-target"`, `size` and
//!   `instance` (the same values as Prometheus's); the request lines are cl-target's
//!   `prev_request_history` JSON records.
//!
//! A `/history` page costs ONE Loki `query_range` (filters pushed into the LogQL) and ONE
//! Prometheus raw-sample query over the page's time span (more only when the span exceeds the
//! client's raw window), never one per request. Records are ordered by Loki's line timestamp;
//! the cursor keeps that timestamp. `/runs` lists the single pseudo-run `live`.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use collect::{PrometheusClient, TargetHealth};
use dataset::RequestRow;
use serde::Deserialize;
use workloads::{Function, Outcome, Payload, Usage};

use crate::error::{ApiError, Result};
use crate::loki::{LogLine, LokiClient, REQUEST_LINES_QUERY};
use crate::query::{Cursor, Query};
use crate::record::{Endpoint, HistoryRecord, Page, RunSummary};
use crate::source::Source;

/// The run id, and experiment, of every live record.
pub const LIVE_RUN: &str = "live";
/// Gauges giving a target's limits.
pub const CPU_QUOTA_METRIC: &str = "cgroup_cpu_quota_cores";
pub const MEMORY_LIMIT_METRIC: &str = "cgroup_memory_limit_bytes";
/// Loki stream labels naming the target of a request line.
pub const SIZE_LABEL: &str = "size";
pub const INSTANCE_LABEL: &str = "instance";
/// Prometheus target label of a run's own targets on a cluster (`crates/manifests`).
pub const RUN_ID_LABEL: &str = "run_id";
/// How far back `/history` reads when the query gives no `from`.
pub const DEFAULT_LOOKBACK: Duration = Duration::from_secs(3600);
/// Samples fetched either side of a page's requests, so the last sample before a start and the
/// first after an end are found at scrape intervals up to this long.
pub const SAMPLE_MARGIN: Duration = Duration::from_secs(30);

/// cl-target's request record as it is logged (`target::request_log::RequestRecord`), read
/// leniently: only what a [`RequestRow`] needs.
#[derive(Debug, Deserialize)]
struct LoggedRequest {
    seq: u64,
    start_timestamp_ns: u64,
    end_timestamp_ns: u64,
    duration_ns: u64,
    #[serde(default)]
    queued_ns: Option<u64>,
    endpoint: String,
    payload: serde_json::Value,
    status: u16,
    outcome: Outcome,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    usage: Option<Usage>,
}

/// A request line turned into the aligner's row, and the payload as logged (which may not parse
/// as a valid payload when the request was refused).
struct LiveRequest {
    loki_ts_ns: i64,
    row: RequestRow,
    input: serde_json::Value,
}

/// Prometheus (+ optionally Loki) of a live cluster.
pub struct LiveSource {
    prometheus: PrometheusClient,
    loki: Option<LokiClient>,
    selector: String,
}

impl LiveSource {
    /// A source reading targets and samples from `prometheus` and request records from `loki`;
    /// without Loki, `/history` answers 501.
    pub fn new(prometheus: PrometheusClient, loki: Option<LokiClient>) -> LiveSource {
        LiveSource {
            prometheus,
            loki,
            selector: collect::DEFAULT_SELECTOR.to_owned(),
        }
    }

    /// The latest value of `metric` per target instance, in one instant query.
    fn gauge_by_instance(&self, metric: &str) -> Result<BTreeMap<String, f64>> {
        let now = now_ns();
        let series = self
            .prometheus
            .query_range(metric, now, now, Duration::from_secs(1))?;
        Ok(series
            .into_iter()
            .filter_map(|s| {
                let value = s.points.last()?.1;
                value
                    .is_finite()
                    .then(|| Some((s.labels.get(INSTANCE_LABEL)?.clone(), value)))?
            })
            .collect())
    }

    fn loki(&self) -> Result<&LokiClient> {
        self.loki.as_ref().ok_or(ApiError::NotAvailable {
            what: "live /history",
            detail: "request records are read from Loki: start cl-aggregator with --loki URL"
                .to_owned(),
        })
    }
}

impl Source for LiveSource {
    fn kind(&self) -> &'static str {
        "live"
    }

    fn history(&self, query: &Query) -> Result<Page<HistoryRecord>> {
        let loki = self.loki()?;
        if query.runs.iter().any(|r| r != LIVE_RUN) {
            return Err(ApiError::UnknownRun {
                run: query.runs.join(","),
                allowed: LIVE_RUN.to_owned(),
            });
        }
        if query.experiments.iter().any(|e| e != LIVE_RUN) {
            return Ok(empty_page());
        }
        let end_ns = query.to_ns.unwrap_or_else(now_ns);
        let from_ns = query
            .from_ns
            .unwrap_or_else(|| end_ns.saturating_sub(DEFAULT_LOOKBACK.as_nanos() as i64));
        let start_ns = query
            .cursor
            .as_ref()
            .map_or(from_ns, |c| c.start_ns.max(from_ns));
        if start_ns > end_ns {
            return Err(ApiError::bad(
                "from",
                format!("from ({start_ns}) is after to ({end_ns})"),
                "from <= to",
            ));
        }
        // Lines sharing the cursor's timestamp come back again: ask for enough to skip them.
        let fetch = query.limit + 1 + usize::from(query.cursor.is_some()) * query.limit;
        let lines = loki.query_range(&logql(query), start_ns, end_ns, fetch)?;
        let mut requests: Vec<LiveRequest> = lines
            .iter()
            .filter_map(parse_line)
            .filter(|r| {
                query
                    .cursor
                    .as_ref()
                    .is_none_or(|c| (r.loki_ts_ns, r.row.seq) > (c.start_ns, c.seq))
            })
            .filter(|r| crate::runs::matches(query, &r.row))
            .collect();
        let more = requests.len() > query.limit;
        requests.truncate(query.limit);
        if requests.is_empty() {
            return Ok(empty_page());
        }

        let margin = SAMPLE_MARGIN.as_nanos() as i64;
        let window_start = requests.iter().map(|r| r.row.start_ns).min().unwrap_or(0);
        let window_end = requests.iter().map(|r| r.row.end_ns).max().unwrap_or(0);
        let samples = self.prometheus.raw_samples(
            &self.selector,
            window_start.saturating_sub(margin),
            window_end.saturating_add(margin),
        )?;
        let rows: Vec<RequestRow> = requests.iter().map(|r| r.row.clone()).collect();
        let aligned = dataset::align(&rows, &samples);
        let series = query
            .samples
            .then(|| crate::runs::series_by_target(&samples));
        let records = aligned
            .iter()
            .zip(&requests)
            .map(|(aligned, request)| {
                let mut record = HistoryRecord::of(aligned, LIVE_RUN, None);
                record.input = request.input.clone();
                record.cpu_millicores = None;
                record.memory_bytes = None;
                if let Some(series) = &series {
                    for (metric, state) in record.states.iter_mut() {
                        state.samples = Some(crate::runs::in_window(
                            series.get(&(record.pod.clone(), metric.clone())),
                            record.start_ns,
                            record.end_ns,
                        ));
                    }
                }
                record
            })
            .collect();
        let next_cursor = more.then(|| requests.last()).flatten().map(|last| {
            Cursor {
                start_ns: last.loki_ts_ns,
                run: LIVE_RUN.to_owned(),
                seq: last.row.seq,
            }
            .encode()
        });
        Ok(Page {
            records,
            next_cursor,
        })
    }

    fn endpoints(&self) -> Result<Vec<Endpoint>> {
        let targets = self.prometheus.targets()?;
        let cpu_cores = self.gauge_by_instance(CPU_QUOTA_METRIC)?;
        let memory = self.gauge_by_instance(MEMORY_LIMIT_METRIC)?;
        let mut endpoints: Vec<Endpoint> = targets
            .into_iter()
            .filter(|t| t.labels.contains_key(SIZE_LABEL))
            .map(|target| {
                let mut labels = target.labels;
                let size = labels.remove(SIZE_LABEL);
                let pod = labels
                    .remove(INSTANCE_LABEL)
                    .unwrap_or_else(|| target.address.clone());
                // Set by a cluster's pod discovery for a run's own targets.
                let run_id = labels.remove(RUN_ID_LABEL);
                Endpoint {
                    cpu_millicores: cpu_cores
                        .get(&pod)
                        .map(|cores| (cores * 1000.0).round() as u32),
                    memory_bytes: memory.get(&pod).map(|&bytes| bytes as u64),
                    pod,
                    size,
                    address: Some(target.address),
                    run_id,
                    health: Some(
                        match target.health {
                            TargetHealth::Up => "up",
                            TargetHealth::Down => "down",
                            TargetHealth::Unknown => "unknown",
                        }
                        .to_owned(),
                    ),
                    labels,
                }
            })
            .collect();
        endpoints.sort_by(|a, b| a.pod.cmp(&b.pod));
        Ok(endpoints)
    }

    /// The single pseudo-run `live`: the cluster as it is now.
    fn runs(&self) -> Result<Vec<RunSummary>> {
        let sizes = self
            .endpoints()?
            .into_iter()
            .filter_map(|e| e.size)
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        Ok(vec![RunSummary {
            run_id: LIVE_RUN.to_owned(),
            experiment: LIVE_RUN.to_owned(),
            started_at: String::new(),
            finished_at: None,
            seed: 0,
            collector: "prometheus".to_owned(),
            counts: BTreeMap::new(),
            sizes,
        }])
    }
}

fn empty_page() -> Page<HistoryRecord> {
    Page {
        records: Vec::new(),
        next_cursor: None,
    }
}

/// The LogQL of one page: the request lines, with the query's size, function, status and
/// outcome filters pushed down so a page is filled by matching lines only.
pub fn logql(query: &Query) -> String {
    let mut logql = REQUEST_LINES_QUERY.to_owned();
    let any_of = |values: Vec<String>| values.join("|");
    if !query.sizes.is_empty() {
        let sizes = query.sizes.iter().map(|s| regex_escape(s)).collect();
        logql.push_str(&format!(" | {SIZE_LABEL}=~`{}`", any_of(sizes)));
    }
    if !query.functions.is_empty() {
        let endpoints = query
            .functions
            .iter()
            .map(|f| format!("/{}", f.name()))
            .collect();
        logql.push_str(&format!(" | endpoint=~`{}`", any_of(endpoints)));
    }
    if !query.statuses.is_empty() {
        let statuses = query.statuses.iter().map(u16::to_string).collect();
        logql.push_str(&format!(" | status=~`{}`", any_of(statuses)));
    }
    if !query.outcomes.is_empty() {
        let outcomes = query
            .outcomes
            .iter()
            .map(|o| o.as_str().to_owned())
            .collect();
        logql.push_str(&format!(" | outcome=~`{}`", any_of(outcomes)));
    }
    logql
}

/// Escapes a value for a LogQL regex inside backticks (which the value may not close).
fn regex_escape(value: &str) -> String {
    value
        .chars()
        .filter(|&c| c != '`')
        .flat_map(|c| {
            let special = "\\.+*?()|[]{}^$".contains(c);
            special
                .then_some('\\')
                .into_iter()
                .chain(std::iter::once(c))
        })
        .collect()
}

/// A Loki line as the aligner's row; `None` (with a warning) for lines that are not request
/// records of a known function or lack the target labels.
fn parse_line(line: &LogLine) -> Option<LiveRequest> {
    let skip = |why: &str| {
        tracing::warn!(ts = line.ts_ns, "skipping a Loki line: {why}");
    };
    let logged: LoggedRequest = match serde_json::from_str(&line.line) {
        Ok(logged) => logged,
        Err(e) => {
            skip(&format!("not a request record: {e}"));
            return None;
        }
    };
    let (Some(size), Some(target)) = (line.labels.get(SIZE_LABEL), line.labels.get(INSTANCE_LABEL))
    else {
        skip("the stream lacks the size or instance label");
        return None;
    };
    let Some(function) = Function::ALL
        .into_iter()
        .find(|f| logged.endpoint.trim_start_matches('/') == f.name())
    else {
        skip(&format!("unknown endpoint {:?}", logged.endpoint));
        return None;
    };
    let payload = typed_payload(function, &logged.payload);
    let as_i64 = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    let row = RequestRow {
        run_id: LIVE_RUN.to_owned(),
        seq: logged.seq,
        size: size.clone(),
        target: target.clone(),
        cpu_millicores: 0,
        memory_bytes: 0,
        function,
        repetition: 0,
        warmup: false,
        payload,
        http_status: Some(logged.status),
        outcome: logged.outcome,
        error: logged.error,
        start_ns: as_i64(logged.start_timestamp_ns),
        end_ns: as_i64(logged.end_timestamp_ns),
        duration_ns: as_i64(logged.duration_ns),
        queued_ns: logged.queued_ns.map(as_i64),
        client_start_ns: as_i64(logged.start_timestamp_ns),
        client_end_ns: as_i64(logged.end_timestamp_ns),
        usage: logged.usage.unwrap_or_default(),
        response: None,
    };
    Some(LiveRequest {
        loki_ts_ns: line.ts_ns,
        row,
        input: logged.payload,
    })
}

/// The logged parameters as a typed payload; a refused request's raw body falls back to the
/// function's defaults (the record's `input` keeps the body as logged).
fn typed_payload(function: Function, logged: &serde_json::Value) -> Payload {
    let mut tagged = logged.clone();
    if let Some(map) = tagged.as_object_mut() {
        map.insert("function".to_owned(), function.name().into());
        if let Ok(payload) = serde_json::from_value(tagged) {
            return payload;
        }
    }
    match function {
        Function::Ml => Payload::Ml(Default::default()),
        Function::Pi => Payload::Pi(Default::default()),
        Function::Dense => Payload::Dense(Default::default()),
        Function::Video => Payload::Video(Default::default()),
    }
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(labels: &[(&str, &str)], text: &str) -> LogLine {
        LogLine {
            ts_ns: 5,
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            line: text.to_owned(),
        }
    }

    const RECORD: &str = r#"{"type":"prev_request_history","seq":3,"start_timestamp_ns":100,
        "end_timestamp_ns":200,"duration_ns":90,"queued_ns":4,"endpoint":"/ml",
        "method":"POST","payload":{"input":7},"status":400,"outcome":"invalid",
        "error":"input out of range"}"#;

    #[test]
    fn filters_are_pushed_into_the_logql_with_regex_metacharacters_escaped() {
        let query = Query {
            sizes: vec!["a.b".to_owned(), "c`|d".to_owned()],
            functions: vec![Function::Pi, Function::Video],
            statuses: vec![200],
            outcomes: vec![Outcome::Timeout],
            ..Query::default()
        };
        assert_eq!(
            logql(&query),
            format!(
                r"{REQUEST_LINES_QUERY} | size=~`a\.b|c\|d` | endpoint=~`/pi|/video` | status=~`200` | outcome=~`timeout`"
            )
        );
        assert_eq!(logql(&Query::default()), REQUEST_LINES_QUERY);
    }

    #[test]
    fn a_request_line_becomes_a_row_with_the_stream_labels_and_the_logged_body() {
        let parsed = parse_line(&line(&[("size", "small"), ("instance", "small#1")], RECORD))
            .expect("a request record");
        let row = &parsed.row;
        assert_eq!(
            (row.size.as_str(), row.target.as_str()),
            ("small", "small#1")
        );
        assert_eq!((row.seq, row.start_ns, row.end_ns), (3, 100, 200));
        assert_eq!((row.duration_ns, row.queued_ns), (90, Some(4)));
        assert_eq!(row.function, Function::Ml);
        assert_eq!(
            (row.http_status, row.outcome),
            (Some(400), Outcome::Invalid)
        );
        assert_eq!(row.run_id, LIVE_RUN);
        assert_eq!(parsed.input, serde_json::json!({"input": 7}));
        assert_eq!(parsed.loki_ts_ns, 5);
    }

    #[test]
    fn lines_without_target_labels_or_of_unknown_endpoints_are_skipped() {
        assert!(parse_line(&line(&[("size", "small")], RECORD)).is_none());
        let other = RECORD.replace("/ml", "/nope");
        assert!(parse_line(&line(&[("size", "s"), ("instance", "s#0")], &other)).is_none());
        assert!(parse_line(&line(&[("size", "s"), ("instance", "s#0")], "garbage")).is_none());
    }
}
