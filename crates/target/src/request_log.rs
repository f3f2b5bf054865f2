//! The per-request log: one JSON object per line, on stdout and optionally appended to a file.
//!
//! Keeps the original's keys (`type`, `start_timestamp_ns`, `end_timestamp_ns`, `endpoint`,
//! `method`, `payload`, `status`) so its log pipeline still parses it, and adds what the original
//! lacked: a monotonic duration, the outcome, the error text and the exact usage.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

pub use workloads::{Outcome, Usage};

/// The original's record type, kept so its consumers can select these lines.
pub const RECORD_TYPE: &str = "prev_request_history";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestRecord {
    #[serde(rename = "type")]
    pub record_type: String,
    /// Position of this request in the server's life, from 0.
    pub seq: u64,
    /// CLOCK_REALTIME when the kernel started (for refused requests: when the request arrived).
    pub start_timestamp_ns: u64,
    /// CLOCK_REALTIME when the kernel finished.
    pub end_timestamp_ns: u64,
    /// CLOCK_MONOTONIC length of the kernel's run.
    pub duration_ns: u64,
    /// Time spent waiting in the queue before the kernel started.
    pub queued_ns: u64,
    pub endpoint: String,
    pub method: String,
    /// The effective parameters (defaults filled in), or the raw body when it did not parse.
    pub payload: serde_json::Value,
    /// HTTP status code of the answer.
    pub status: u16,
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}

/// Writes records as JSON lines. Each record goes out in one `write` so lines from concurrent
/// requests never interleave.
pub struct RequestLog {
    stdout: bool,
    file: Option<Mutex<File>>,
}

impl RequestLog {
    pub fn new(stdout: bool, file: Option<&Path>) -> std::io::Result<Self> {
        let file = file
            .map(|path| {
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
            })
            .transpose()?
            .map(Mutex::new);
        Ok(Self { stdout, file })
    }

    /// Writes any serialisable line (request records, the start-up build facts).
    pub fn write<T: Serialize>(&self, record: &T) {
        let mut line = match serde_json::to_vec(record) {
            Ok(line) => line,
            Err(err) => {
                tracing::error!("cannot serialise a log record: {err}");
                return;
            }
        };
        line.push(b'\n');
        if self.stdout {
            let mut out = std::io::stdout().lock();
            if let Err(err) = out.write_all(&line).and_then(|()| out.flush()) {
                tracing::error!("cannot write the request log to stdout: {err}");
            }
        }
        if let Some(file) = &self.file {
            let mut file = file.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if let Err(err) = file.write_all(&line) {
                tracing::error!("cannot append to the request log file: {err}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_append_to_the_file_one_per_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("requests.jsonl");
        let log = RequestLog::new(false, Some(&path)).unwrap();
        for seq in 0..3 {
            log.write(&RequestRecord {
                record_type: RECORD_TYPE.into(),
                seq,
                start_timestamp_ns: 1,
                end_timestamp_ns: 2,
                duration_ns: 1,
                queued_ns: 0,
                endpoint: "/ml".into(),
                method: "POST".into(),
                payload: serde_json::json!({"input": 5}),
                status: 200,
                outcome: Outcome::Ok,
                error: None,
                usage: Some(Usage::default()),
            });
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<RequestRecord> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[2].seq, 2);
        let raw: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        for key in [
            "type",
            "start_timestamp_ns",
            "end_timestamp_ns",
            "endpoint",
            "method",
            "payload",
            "status",
        ] {
            assert!(raw.get(key).is_some(), "original key {key} missing");
        }
        assert_eq!(raw["type"], RECORD_TYPE);
    }
}
