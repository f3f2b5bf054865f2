//! `manifest.json`: what a run was (spec, seed, host, versions, sizes) and what it produced.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::atomic::write_atomically;
use crate::{DatasetError, Outcome, RequestRow, Result, SCHEMA_VERSION};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`SCHEMA_VERSION`] of the whole run directory.
    pub schema_version: u32,
    pub run_id: String,
    pub experiment: String,
    /// The experiment spec, verbatim TOML.
    pub spec: String,
    /// Lower-case hex SHA-256 of `spec`'s UTF-8 bytes.
    pub spec_sha256: String,
    pub seed: u64,
    /// Requests in the schedule (warm-ups included).
    pub schedule_len: u64,
    /// RFC 3339 UTC, see [`rfc3339_utc`].
    pub started_at: String,
    /// `None` while the run is in progress or when it never finished.
    pub finished_at: Option<String>,
    pub host: Host,
    /// Versions of everything that shaped the numbers: crate, git rev, libtorch, blas, ffmpeg,
    /// x264, xgboost, …
    pub versions: BTreeMap<String, String>,
    pub sizes: Vec<SizeSpec>,
    /// False when limits were not applied (`--no-limits`): sizes are then labels only.
    pub limits_enforced: bool,
    pub collector: Collector,
    /// Requests per outcome, see [`outcome_counts`].
    pub counts: BTreeMap<String, u64>,
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Host {
    pub cores: u32,
    /// `uname -r`.
    pub kernel: String,
    /// `v1`, `v2` or `hybrid`.
    pub cgroup_mode: String,
    pub memory_bytes: u64,
}

/// One pod size and the limits its targets ran under.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SizeSpec {
    pub name: String,
    pub cpu_millicores: u32,
    pub memory_bytes: u64,
    pub price_per_core_second: f64,
    pub price_per_gib_second: f64,
}

/// Where the samples came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Collector {
    /// The harness's own 1 Hz procfs + cgroup sampler, outside the measured cgroup.
    Probe,
    /// Scraped from the targets' `/metrics` by Prometheus.
    Prometheus,
}

impl Manifest {
    /// Reads a manifest, refusing one of another schema version before looking at the rest.
    pub fn read(path: impl AsRef<Path>) -> Result<Manifest> {
        let path = path.as_ref();
        let json_error = |source| DatasetError::Json {
            path: path.to_path_buf(),
            source,
        };
        let text = std::fs::read(path).map_err(DatasetError::io(path))?;
        let value: serde_json::Value = serde_json::from_slice(&text).map_err(json_error)?;
        let found = value.get("schema_version");
        if found.and_then(serde_json::Value::as_u64) != Some(u64::from(SCHEMA_VERSION)) {
            return Err(DatasetError::SchemaVersion {
                path: path.to_path_buf(),
                found: found.map(|v| v.to_string()),
                expected: SCHEMA_VERSION,
            });
        }
        serde_json::from_value(value).map_err(json_error)
    }

    /// Writes the manifest as pretty JSON, atomically.
    pub fn write(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let mut text = serde_json::to_vec_pretty(self).map_err(|source| DatasetError::Json {
            path: path.to_path_buf(),
            source,
        })?;
        text.push(b'\n');
        write_atomically(path, |file| {
            file.write_all(&text).map_err(DatasetError::io(path))
        })
    }
}

/// The manifest's `counts`: `total`, `ok`, `failed` (everything not ok), `warmup`, and one entry
/// per [`Outcome`] name (zeros included, so every manifest has the same keys).
pub fn outcome_counts(rows: &[RequestRow]) -> BTreeMap<String, u64> {
    let mut counts: BTreeMap<String, u64> = Outcome::ALL
        .iter()
        .map(|o| (o.as_str().to_owned(), 0))
        .collect();
    for row in rows {
        *counts.entry(row.outcome.as_str().to_owned()).or_default() += 1;
    }
    let total = rows.len() as u64;
    let ok = counts[Outcome::Ok.as_str()];
    counts.insert("total".into(), total);
    counts.insert("failed".into(), total - ok);
    counts.insert(
        "warmup".into(),
        rows.iter().filter(|row| row.warmup).count() as u64,
    );
    counts
}

/// Formats ns since the Unix epoch as RFC 3339 UTC with nanoseconds,
/// e.g. `2023-11-14T22:13:20.000000000Z`.
pub fn rfc3339_utc(unix_ns: i64) -> String {
    let secs = unix_ns.div_euclid(1_000_000_000);
    let nanos = unix_ns.rem_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let second_of_day = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60
    )
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_matches_known_instants() {
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(
            rfc3339_utc(1_700_000_000_000_000_000),
            "2023-11-14T22:13:20.000000000Z"
        );
        // A leap day, and a non-zero fraction.
        assert_eq!(
            rfc3339_utc(951_782_400_000_000_000 + 1_500),
            "2000-02-29T00:00:00.000001500Z"
        );
        assert_eq!(rfc3339_utc(-1), "1969-12-31T23:59:59.999999999Z");
    }
}
