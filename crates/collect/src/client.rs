//! A blocking client for the Prometheus HTTP API (`/api/v1/...`), and the conversion of raw
//! scrapes into [`SampleRow`]s.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use dataset::SampleRow;
use reqwest::blocking::{Client, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::error::CollectError;

/// Longest stretch of time one raw-sample query covers. At a 1 s interval that is 3,600 samples
/// per series, so one answer stays a few MB even with dozens of targets.
pub const DEFAULT_RAW_WINDOW: Duration = Duration::from_secs(3600);

/// How much of an error body to keep in [`CollectError::HttpStatus`].
const BODY_EXCERPT_CHARS: usize = 512;

/// Labels that become [`SampleRow`] columns instead of part of the metric name.
const SIZE_LABEL: &str = "size";
const TARGET_LABEL: &str = "instance";
const NAME_LABEL: &str = "__name__";
/// Added by Prometheus to every sample of the job; says nothing about the sample itself.
const JOB_LABEL: &str = "job";
/// Labels a cluster's pod discovery attaches to every series of a target (see `crates/manifests`):
/// they name the target again, so they are not part of the metric.
const TARGET_IDENTITY_LABELS: [&str; 3] = ["pod", "pod_ip", "run_id"];

/// One series of a `query_range` answer: its labels and its step-aligned evaluations.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeSeries {
    pub labels: BTreeMap<String, String>,
    /// (CLOCK_REALTIME ns, value), in time order.
    pub points: Vec<(i64, f64)>,
}

/// The health Prometheus gives a target after its last scrape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetHealth {
    Up,
    Down,
    /// Not scraped yet.
    #[serde(other)]
    Unknown,
}

/// One active target of `/api/v1/targets`.
#[derive(Debug, Clone, PartialEq)]
pub struct ActiveTarget {
    /// `host:port` as discovered (the `__address__` label).
    pub address: String,
    pub scrape_pool: String,
    pub scrape_url: String,
    /// Labels after relabelling (`job`, `instance`, the file's own labels).
    pub labels: BTreeMap<String, String>,
    pub health: TargetHealth,
    /// CLOCK_REALTIME ns of the last scrape; `None` before the first.
    pub last_scrape_ns: Option<i64>,
    /// The last scrape's error, empty when it succeeded.
    pub last_error: String,
}

/// A Prometheus server's HTTP API.
#[derive(Debug, Clone)]
pub struct PrometheusClient {
    base_url: String,
    timeout: Duration,
    raw_window: Duration,
    http: Client,
}

impl PrometheusClient {
    /// A client for the server at `base_url` (e.g. `http://127.0.0.1:9090`); every request gives
    /// up after `timeout`. Makes no request.
    pub fn new(base_url: &str, timeout: Duration) -> Result<Self, CollectError> {
        let trimmed = base_url.trim_end_matches('/');
        let invalid = |detail: String| CollectError::InvalidUrl {
            url: base_url.to_owned(),
            detail,
        };
        let parsed = reqwest::Url::parse(trimmed).map_err(|e| invalid(e.to_string()))?;
        if parsed.scheme() != "http" {
            return Err(invalid("only plain http:// is supported".into()));
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(invalid("a base URL has no query or fragment".into()));
        }
        let http = Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| invalid(e.to_string()))?;
        Ok(Self {
            base_url: trimmed.to_owned(),
            timeout,
            raw_window: DEFAULT_RAW_WINDOW,
            http,
        })
    }

    /// Splits [`raw_samples`](Self::raw_samples) into queries of at most `window` (minimum 1 s).
    pub fn with_raw_window(mut self, window: Duration) -> Self {
        self.raw_window = window.max(Duration::from_secs(1));
        self
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Whether `/-/ready` answers 200 (the TSDB is loaded and queries work).
    pub fn is_ready(&self) -> Result<bool, CollectError> {
        let url = format!("{}/-/ready", self.base_url);
        let response = self.http.get(&url).send().map_err(|e| self.transport(e))?;
        Ok(response.status().is_success())
    }

    /// `/api/v1/query_range`: `query` evaluated every `step` from `start_ns` to `end_ns`.
    /// These are step-aligned evaluations, not scrapes: see [`raw_samples`](Self::raw_samples).
    pub fn query_range(
        &self,
        query: &str,
        start_ns: i64,
        end_ns: i64,
        step: Duration,
    ) -> Result<Vec<RangeSeries>, CollectError> {
        check_range(start_ns, end_ns)?;
        let step = format!("{}ms", step.as_millis().max(1));
        let data: QueryData = self.get(
            "/api/v1/query_range",
            &[
                ("query", query),
                ("start", &api_time(start_ns)),
                ("end", &api_time(end_ns)),
                ("step", &step),
            ],
        )?;
        self.matrix(data)?
            .into_iter()
            .map(|series| {
                Ok(RangeSeries {
                    points: self.points(&series.values)?,
                    labels: series.metric,
                })
            })
            .collect()
    }

    /// `/api/v1/series`: the label sets of the series matching `selector` between the times.
    pub fn series(
        &self,
        selector: &str,
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<BTreeMap<String, String>>, CollectError> {
        check_range(start_ns, end_ns)?;
        self.get(
            "/api/v1/series",
            &[
                ("match[]", selector),
                ("start", &api_time(start_ns)),
                ("end", &api_time(end_ns)),
            ],
        )
    }

    /// `/api/v1/targets?state=active`.
    pub fn targets(&self) -> Result<Vec<ActiveTarget>, CollectError> {
        let data: TargetsData = self.get("/api/v1/targets", &[("state", "active")])?;
        Ok(data
            .active_targets
            .into_iter()
            .map(|t| ActiveTarget {
                address: t
                    .discovered_labels
                    .get("__address__")
                    .cloned()
                    .unwrap_or_default(),
                scrape_pool: t.scrape_pool,
                scrape_url: t.scrape_url,
                labels: t.labels,
                health: t.health,
                last_scrape_ns: t.last_scrape.as_deref().and_then(rfc3339_to_ns),
                last_error: t.last_error,
            })
            .collect())
    }

    /// Every sample scraped for the series matching `selector` (a vector selector such as
    /// [`DEFAULT_SELECTOR`](crate::DEFAULT_SELECTOR)) with `start_ns <= ts <= end_ns`, at its
    /// real scrape time, as rows sorted by (target, metric, ts).
    ///
    /// Reads raw samples with instant queries of a range vector (`selector[Nms]` at the window's
    /// end), one per window of at most the client's raw window, never one per metric. Series
    /// without `size` and `instance` labels are left out; labels other than those and `job`
    /// become part of the metric name (`name{k="v"}`) so distinct series never share a row key.
    pub fn raw_samples(
        &self,
        selector: &str,
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<SampleRow>, CollectError> {
        check_range(start_ns, end_ns)?;
        let mut rows = Vec::new();
        for window in raw_windows(start_ns, end_ns, self.raw_window) {
            let query = format!("{selector}[{}ms]", window.end_ms - window.after_ms);
            let data: QueryData = self.get(
                "/api/v1/query",
                &[("query", &query), ("time", &api_time_ms(window.end_ms))],
            )?;
            for series in self.matrix(data)? {
                let Some(key) = SeriesKey::of(&series.metric) else {
                    continue;
                };
                for (ts_ns, value) in self.points(&series.values)? {
                    // Range selectors include their left edge in Prometheus 2 and exclude it in
                    // 3: filter here so adjacent windows never both return the same sample.
                    let ts_ms = ts_ns / 1_000_000;
                    if ts_ms > window.after_ms && ts_ms <= window.end_ms {
                        rows.push(key.row(ts_ns, value));
                    }
                }
            }
        }
        rows.sort_by(|a, b| (&a.target, &a.metric, a.ts_ns).cmp(&(&b.target, &b.metric, b.ts_ns)));
        Ok(rows)
    }

    fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        params: &[(&str, &str)],
    ) -> Result<T, CollectError> {
        let url = format!("{}{path}", self.base_url);
        let response = self
            .http
            .get(&url)
            .query(params)
            .send()
            .map_err(|e| self.transport(e))?;
        self.decode(&url, response)
    }

    fn decode<T: DeserializeOwned>(
        &self,
        url: &str,
        response: Response,
    ) -> Result<T, CollectError> {
        let status = response.status();
        let body = response.text().map_err(|e| self.transport(e))?;
        // Prometheus reports bad queries as `"status":"error"` with a 4xx/5xx code: prefer its
        // own explanation over the bare status.
        let envelope: Option<Envelope> = serde_json::from_str(&body).ok();
        if let Some(Envelope {
            status: api_status,
            error_type,
            error,
            ..
        }) = &envelope
            && api_status == "error"
        {
            return Err(CollectError::Query {
                url: url.to_owned(),
                error_type: error_type.clone().unwrap_or_default(),
                error: error.clone().unwrap_or_default(),
            });
        }
        if !status.is_success() {
            return Err(CollectError::HttpStatus {
                url: url.to_owned(),
                status: status.as_u16(),
                body: body.chars().take(BODY_EXCERPT_CHARS).collect(),
            });
        }
        let decode_error = |detail: String| CollectError::Decode {
            url: url.to_owned(),
            detail,
        };
        let envelope =
            envelope.ok_or_else(|| decode_error("not a Prometheus API answer".into()))?;
        if envelope.status != "success" {
            return Err(decode_error(format!("status {:?}", envelope.status)));
        }
        for warning in &envelope.warnings {
            tracing::warn!(url, warning, "Prometheus warning");
        }
        serde_json::from_value(envelope.data).map_err(|e| decode_error(e.to_string()))
    }

    fn transport(&self, error: reqwest::Error) -> CollectError {
        let url = error
            .url()
            .map_or_else(|| self.base_url.clone(), |u| u.as_str().to_owned());
        if error.is_timeout() {
            CollectError::Timeout {
                url,
                timeout: self.timeout,
            }
        } else {
            CollectError::Unreachable {
                url,
                detail: error_chain(&error),
            }
        }
    }

    fn matrix(&self, data: QueryData) -> Result<Vec<MatrixSeries>, CollectError> {
        if data.result_type != "matrix" {
            return Err(CollectError::Decode {
                url: self.base_url.clone(),
                detail: format!("expected a matrix, got a {}", data.result_type),
            });
        }
        serde_json::from_value(data.result).map_err(|e| CollectError::Decode {
            url: self.base_url.clone(),
            detail: e.to_string(),
        })
    }

    fn points(&self, values: &[(f64, String)]) -> Result<Vec<(i64, f64)>, CollectError> {
        values
            .iter()
            .map(|(seconds, value)| {
                let value = parse_value(value).ok_or_else(|| CollectError::Decode {
                    url: self.base_url.clone(),
                    detail: format!("sample value {value:?} is not a number"),
                })?;
                Ok((seconds_to_ns(*seconds), value))
            })
            .collect()
    }
}

/// The (size, target, metric) of a series, or `None` when it lacks size or instance.
struct SeriesKey {
    size: String,
    target: String,
    metric: String,
}

impl SeriesKey {
    fn of(labels: &BTreeMap<String, String>) -> Option<Self> {
        let size = labels.get(SIZE_LABEL)?;
        let target = labels.get(TARGET_LABEL)?;
        let name = labels.get(NAME_LABEL)?;
        let extra: Vec<String> = labels
            .iter()
            .filter(|(k, _)| {
                ![SIZE_LABEL, TARGET_LABEL, NAME_LABEL, JOB_LABEL].contains(&k.as_str())
                    && !TARGET_IDENTITY_LABELS.contains(&k.as_str())
            })
            .map(|(k, v)| format!("{k}={v:?}"))
            .collect();
        let metric = if extra.is_empty() {
            name.clone()
        } else {
            format!("{name}{{{}}}", extra.join(","))
        };
        Some(Self {
            size: size.clone(),
            target: target.clone(),
            metric,
        })
    }

    fn row(&self, ts_ns: i64, value: f64) -> SampleRow {
        SampleRow {
            ts_ns,
            size: self.size.clone(),
            target: self.target.clone(),
            metric: self.metric.clone(),
            value,
        }
    }
}

/// One raw-sample query: samples with `after_ms < ts <= end_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RawWindow {
    after_ms: i64,
    end_ms: i64,
}

/// Covers `[start_ns, end_ns]` at Prometheus's millisecond resolution with windows of at most
/// `window`, earliest first.
fn raw_windows(start_ns: i64, end_ns: i64, window: Duration) -> Vec<RawWindow> {
    let first_ms = start_ns.div_euclid(1_000_000) + i64::from(start_ns.rem_euclid(1_000_000) != 0);
    let last_ms = end_ns.div_euclid(1_000_000);
    let window_ms = i64::try_from(window.as_millis()).unwrap_or(i64::MAX).max(1);
    let mut windows = Vec::new();
    let mut after_ms = first_ms - 1;
    while after_ms < last_ms {
        let end_ms = after_ms.saturating_add(window_ms).min(last_ms);
        windows.push(RawWindow { after_ms, end_ms });
        after_ms = end_ms;
    }
    windows
}

fn check_range(start_ns: i64, end_ns: i64) -> Result<(), CollectError> {
    if start_ns > end_ns {
        return Err(CollectError::InvalidRange { start_ns, end_ns });
    }
    Ok(())
}

/// An API time parameter (seconds since the epoch) at millisecond precision.
fn api_time(ns: i64) -> String {
    api_time_ms(ns.div_euclid(1_000_000))
}

fn api_time_ms(ms: i64) -> String {
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

/// API timestamps are seconds with millisecond precision; round to the millisecond so float
/// error never moves a sample.
fn seconds_to_ns(seconds: f64) -> i64 {
    (seconds * 1000.0).round() as i64 * 1_000_000
}

/// Sample values are strings: numbers, `NaN`, `+Inf`, `-Inf`.
fn parse_value(value: &str) -> Option<f64> {
    value.parse().ok()
}

/// RFC 3339 with optional fraction and `Z` or `±hh:mm` offset, as Go prints `time.Time`, to ns.
/// Go's zero time (`0001-01-01T00:00:00Z`, "never scraped") gives `None`.
fn rfc3339_to_ns(text: &str) -> Option<i64> {
    let (date, rest) = text.split_once('T')?;
    let mut date_parts = date.splitn(3, '-');
    let year: i64 = date_parts.next()?.parse().ok()?;
    let month: u32 = date_parts.next()?.parse().ok()?;
    let day: u32 = date_parts.next()?.parse().ok()?;
    if year < 1970 {
        return None;
    }
    let offset_at = rest.find(['Z', '+', '-'])?;
    let (clock, zone) = rest.split_at(offset_at);
    let offset_seconds: i64 = match zone {
        "Z" => 0,
        _ => {
            let sign = if zone.starts_with('-') { -1 } else { 1 };
            let (h, m) = zone[1..].split_once(':')?;
            sign * (h.parse::<i64>().ok()? * 3600 + m.parse::<i64>().ok()? * 60)
        }
    };
    let (hms, fraction) = clock.split_once('.').unwrap_or((clock, ""));
    let mut hms_parts = hms.splitn(3, ':');
    let hour: i64 = hms_parts.next()?.parse().ok()?;
    let minute: i64 = hms_parts.next()?.parse().ok()?;
    let second: i64 = hms_parts.next()?.parse().ok()?;
    let fraction_ns: i64 = if fraction.is_empty() {
        0
    } else {
        let digits: String = fraction.chars().take(9).collect();
        format!("{digits:0<9}").parse().ok()?
    };
    let days = days_from_civil(year, month, day)?;
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_seconds;
    Some(seconds * 1_000_000_000 + fraction_ns)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> Option<i64> {
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[derive(Deserialize)]
struct Envelope {
    status: String,
    #[serde(default)]
    data: serde_json::Value,
    #[serde(rename = "errorType")]
    error_type: Option<String>,
    error: Option<String>,
    #[serde(default)]
    warnings: Vec<String>,
}

#[derive(Deserialize)]
struct QueryData {
    #[serde(rename = "resultType")]
    result_type: String,
    result: serde_json::Value,
}

#[derive(Deserialize)]
struct MatrixSeries {
    metric: BTreeMap<String, String>,
    #[serde(default)]
    values: Vec<(f64, String)>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TargetsData {
    #[serde(default)]
    active_targets: Vec<TargetEntry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TargetEntry {
    #[serde(default)]
    discovered_labels: BTreeMap<String, String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    scrape_pool: String,
    #[serde(default)]
    scrape_url: String,
    health: TargetHealth,
    last_scrape: Option<String>,
    #[serde(default)]
    last_error: String,
}

/// Distinct metric names in `rows`, for callers checking coverage.
pub fn metric_names(rows: &[SampleRow]) -> BTreeSet<&str> {
    rows.iter().map(|r| r.metric.as_str()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_cover_the_range_once_at_millisecond_edges() {
        let windows = raw_windows(1_000_000_000_500, 1_010_000_000_000, Duration::from_secs(4));
        // 1,000,000.0005 ms rounds up to 1,000,001 ms: the first window starts after 1,000,000.
        let expected = [
            (1_000_000, 1_004_000),
            (1_004_000, 1_008_000),
            (1_008_000, 1_010_000),
        ];
        assert_eq!(
            windows,
            expected.map(|(after_ms, end_ms)| RawWindow { after_ms, end_ms })
        );
        assert_eq!(
            raw_windows(7_000_000, 7_000_000, Duration::from_secs(1)),
            vec![RawWindow {
                after_ms: 6,
                end_ms: 7
            }]
        );
        assert!(raw_windows(7_000_001, 7_500_000, Duration::from_secs(1)).is_empty());
    }

    #[test]
    fn series_keys_take_size_and_instance_and_keep_other_labels_in_the_name() {
        let labels = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let key = SeriesKey::of(&labels(&[
            ("__name__", "process_num_threads"),
            ("job", "computelocator"),
            ("size", "small"),
            ("instance", "small#3"),
        ]))
        .unwrap();
        assert_eq!(
            (key.size.as_str(), key.target.as_str(), key.metric.as_str()),
            ("small", "small#3", "process_num_threads")
        );
        let key = SeriesKey::of(&labels(&[
            ("__name__", "cl_target_requests_total"),
            ("size", "small"),
            ("instance", "small#3"),
            ("outcome", "ok"),
            ("endpoint", "pi"),
        ]))
        .unwrap();
        assert_eq!(
            key.metric,
            r#"cl_target_requests_total{endpoint="pi",outcome="ok"}"#
        );
        assert!(SeriesKey::of(&labels(&[("__name__", "up"), ("instance", "a:1")])).is_none());
        // On a cluster, pod discovery names the target again: not part of the metric.
        let key = SeriesKey::of(&labels(&[
            ("__name__", "cgroup_cpu_quota_cores"),
            ("size", "small"),
            ("instance", "target-small-abc-5d9f"),
            ("pod", "target-small-abc-5d9f"),
            ("pod_ip", "10.244.0.7"),
            ("run_id", "20261204t210857z-cf99"),
        ]))
        .unwrap();
        assert_eq!(key.metric, "cgroup_cpu_quota_cores");
    }

    #[test]
    fn times_convert_at_millisecond_precision() {
        assert_eq!(api_time(1_700_000_000_123_456_789), "1700000000.123");
        assert_eq!(seconds_to_ns(1_700_000_000.123), 1_700_000_000_123_000_000);
        assert_eq!(parse_value("+Inf"), Some(f64::INFINITY));
        assert!(parse_value("NaN").unwrap().is_nan());
        assert_eq!(parse_value("x"), None);
    }

    #[test]
    fn go_timestamps_parse_with_offsets_and_zero_time_is_none() {
        assert_eq!(
            rfc3339_to_ns("2023-11-14T22:13:20.5Z"),
            Some(1_700_000_000_500_000_000)
        );
        assert_eq!(
            rfc3339_to_ns("2023-11-14T23:13:20.000000001+01:00"),
            Some(1_700_000_000_000_000_001)
        );
        assert_eq!(rfc3339_to_ns("0001-01-01T00:00:00Z"), None);
        assert_eq!(rfc3339_to_ns("yesterday"), None);
    }

    #[test]
    fn base_urls_must_be_plain_http() {
        let client =
            PrometheusClient::new("http://127.0.0.1:9090/", Duration::from_secs(1)).unwrap();
        assert_eq!(client.base_url(), "http://127.0.0.1:9090");
        for bad in ["https://x:9090", "not a url", "http://x:9090/?q=1"] {
            assert!(
                matches!(
                    PrometheusClient::new(bad, Duration::from_secs(1)),
                    Err(CollectError::InvalidUrl { .. })
                ),
                "{bad}"
            );
        }
    }
}
