//! A run directory as a whole: its file names, writing it at the end of a run, opening it.

use std::path::Path;

use crate::{
    AlignedRequest, DatasetError, Manifest, RequestRow, Result, SampleRow, align, read_requests,
    read_samples, write_requests, write_samples,
};

pub const MANIFEST_FILE: &str = "manifest.json";
pub const REQUESTS_FILE: &str = "requests.parquet";
pub const SAMPLES_FILE: &str = "samples.parquet";
/// The request journal ([`crate::Journal`]) of a run in progress, beside the final files.
pub const REQUESTS_JOURNAL: &str = "requests.jsonl";
/// The sample journal ([`crate::SampleJournal`]) of a run in progress.
pub const SAMPLES_JOURNAL: &str = "samples.jsonl";

/// A run directory, loaded.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub manifest: Manifest,
    pub requests: Vec<AlignedRequest>,
    pub samples: Vec<SampleRow>,
}

/// Loads a run directory, checking the schema version of all three files.
pub fn open_run(dir: impl AsRef<Path>) -> Result<Run> {
    let dir = dir.as_ref();
    Ok(Run {
        manifest: Manifest::read(dir.join(MANIFEST_FILE))?,
        requests: read_requests(dir.join(REQUESTS_FILE))?,
        samples: read_samples(dir.join(SAMPLES_FILE))?,
    })
}

/// Finishes a run directory: aligns the requests with the samples and writes
/// `samples.parquet`, `requests.parquet` and, last, `manifest.json` — so a directory with a
/// manifest is a complete run. Returns the aligned requests.
pub fn write_run(
    dir: impl AsRef<Path>,
    manifest: &Manifest,
    requests: &[RequestRow],
    samples: &[SampleRow],
) -> Result<Vec<AlignedRequest>> {
    let dir = dir.as_ref();
    std::fs::create_dir_all(dir).map_err(DatasetError::io(dir))?;
    let aligned = align(requests, samples);
    write_samples(dir.join(SAMPLES_FILE), samples)?;
    write_requests(dir.join(REQUESTS_FILE), &aligned)?;
    manifest.write(dir.join(MANIFEST_FILE))?;
    Ok(aligned)
}
