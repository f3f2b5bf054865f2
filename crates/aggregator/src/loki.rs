//! A blocking client for Loki's `query_range` API: the target servers' request log lines of one
//! time window in ONE query (never one per request), as the live source reads them.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use crate::error::{ApiError, Result};

/// LogQL selecting the target servers' per-request JSON lines by label, parsed with `| json`.
pub const REQUEST_LINES_QUERY: &str = r#"{app="cl-target"} |= "prev_request_history" | json"#;

/// One log line with its stream's labels (after `| json`, the line's fields are labels too).
#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    /// Loki's timestamp of the line, ns.
    pub ts_ns: i64,
    pub labels: BTreeMap<String, String>,
    pub line: String,
}

#[derive(Debug, Clone)]
pub struct LokiClient {
    base_url: String,
    http: reqwest::blocking::Client,
}

#[derive(Deserialize)]
struct Envelope {
    status: String,
    data: Option<StreamsData>,
    error: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StreamsData {
    result_type: String,
    result: Vec<Stream>,
}

#[derive(Deserialize)]
struct Stream {
    stream: BTreeMap<String, String>,
    values: Vec<(String, String)>,
}

impl LokiClient {
    /// A client for the Loki at `base_url`; every request gives up after `timeout`.
    pub fn new(base_url: &str, timeout: Duration) -> Result<LokiClient> {
        let http = reqwest::blocking::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        Ok(LokiClient {
            base_url: base_url.trim_end_matches('/').to_owned(),
            http,
        })
    }

    /// `GET /loki/api/v1/query_range` over `[start_ns, end_ns]`, oldest first, at most `limit`
    /// lines; lines of all streams merged in time order.
    pub fn query_range(
        &self,
        query: &str,
        start_ns: i64,
        end_ns: i64,
        limit: usize,
    ) -> Result<Vec<LogLine>> {
        let upstream = |detail: String| ApiError::Upstream {
            upstream: "loki",
            detail,
        };
        let url = format!("{}/loki/api/v1/query_range", self.base_url);
        let response = self
            .http
            .get(&url)
            .query(&[
                ("query", query),
                ("start", &start_ns.to_string()),
                ("end", &end_ns.to_string()),
                ("limit", &limit.to_string()),
                ("direction", "forward"),
            ])
            .send()
            .map_err(|e| {
                if e.is_timeout() {
                    ApiError::UpstreamTimeout {
                        upstream: "loki",
                        detail: format!("{url}: {e}"),
                    }
                } else {
                    upstream(format!("{url} is unreachable: {e}"))
                }
            })?;
        let status = response.status();
        let body = response
            .text()
            .map_err(|e| upstream(format!("{url}: {e}")))?;
        let envelope: Envelope = serde_json::from_str(&body).map_err(|e| {
            upstream(format!(
                "{url} answered HTTP {status} with an unreadable body: {e}"
            ))
        })?;
        if envelope.status != "success" || !status.is_success() {
            return Err(upstream(format!(
                "{url} answered HTTP {status}: {}",
                envelope.error.unwrap_or(envelope.status)
            )));
        }
        let data = envelope
            .data
            .ok_or_else(|| upstream(format!("{url}: no data")))?;
        if data.result_type != "streams" {
            return Err(upstream(format!(
                "{url}: expected streams, got {}",
                data.result_type
            )));
        }
        let mut lines = Vec::new();
        for stream in data.result {
            for (ts, line) in stream.values {
                let ts_ns = ts
                    .parse()
                    .map_err(|_| upstream(format!("{url}: timestamp {ts:?} is not ns")))?;
                lines.push(LogLine {
                    ts_ns,
                    labels: stream.stream.clone(),
                    line,
                });
            }
        }
        lines.sort_by_key(|l| l.ts_ns);
        Ok(lines)
    }
}
