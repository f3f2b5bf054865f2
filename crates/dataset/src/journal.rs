//! Append-only JSON Lines journals: the run's rows, durable as they happen.
//!
//! Each record is one line written with one `write()`; the request journal fsyncs every append,
//! the sample journal every batch. A crash can therefore tear only the last line. Readers drop a
//! torn last line (bytes after the final newline) and treat any other unparsable line as
//! corruption. Opening a journal for append first cuts a torn tail off, so new lines never glue
//! onto a fragment.
//!
//! Resume: [`Journal::read`] the request journal and skip every schedule position whose `seq`
//! is in [`completed_seqs`] — whatever its outcome; a request that timed out or crashed its
//! target is a result, not a gap.

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::atomic::{parent_dir, sync_dir};
use crate::{DatasetError, RequestRow, Result, SampleRow};

/// The crash-safe log of finished requests.
pub struct Journal {
    file: File,
    path: PathBuf,
}

impl Journal {
    /// Opens (creating if needed) the journal at `path` for appending, after cutting off a line
    /// torn by a crash.
    pub fn open(path: impl AsRef<Path>) -> Result<Journal> {
        let path = path.as_ref().to_path_buf();
        let file = open_for_append(&path)?;
        Ok(Journal { file, path })
    }

    /// Appends one row and returns once it is on disk.
    pub fn append(&mut self, row: &RequestRow) -> Result<()> {
        let mut line = Vec::with_capacity(1024);
        push_line(&mut line, row, &self.path)?;
        write_durably(&mut self.file, &line, &self.path)
    }

    /// All complete rows of the journal at `path`, in append order.
    pub fn read(path: impl AsRef<Path>) -> Result<Vec<RequestRow>> {
        read_lines(path.as_ref())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The `seq`s a journal already holds: the requests a resumed run must not send again.
pub fn completed_seqs(rows: &[RequestRow]) -> BTreeSet<u64> {
    rows.iter().map(|row| row.seq).collect()
}

/// The crash-safe log of metric samples. Samples arrive many per second, so rows are buffered
/// and written (one `write()`, then fsync) every `flush_every` rows or on [`flush`](Self::flush).
/// A crash loses at most the unflushed rows.
pub struct SampleJournal {
    file: File,
    path: PathBuf,
    buffer: Vec<u8>,
    pending: usize,
    flush_every: usize,
}

impl SampleJournal {
    /// Opens (creating if needed) the journal at `path`; rows are flushed every `flush_every`
    /// pushes (at least 1).
    pub fn open(path: impl AsRef<Path>, flush_every: usize) -> Result<SampleJournal> {
        let path = path.as_ref().to_path_buf();
        let file = open_for_append(&path)?;
        Ok(SampleJournal {
            file,
            path,
            buffer: Vec::with_capacity(64 * 1024),
            pending: 0,
            flush_every: flush_every.max(1),
        })
    }

    /// Buffers one row, flushing when `flush_every` rows are pending.
    pub fn push(&mut self, row: &SampleRow) -> Result<()> {
        push_line(&mut self.buffer, row, &self.path)?;
        self.pending += 1;
        if self.pending >= self.flush_every {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes and fsyncs the buffered rows.
    pub fn flush(&mut self) -> Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        write_durably(&mut self.file, &self.buffer, &self.path)?;
        self.buffer.clear();
        self.pending = 0;
        Ok(())
    }

    /// Rows pushed but not yet on disk.
    pub fn pending(&self) -> usize {
        self.pending
    }

    /// All complete rows of the sample journal at `path`, in append order.
    pub fn read(path: impl AsRef<Path>) -> Result<Vec<SampleRow>> {
        read_lines(path.as_ref())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for SampleJournal {
    /// Best effort on the way out; call [`flush`](Self::flush) to see errors.
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

fn push_line<T: Serialize>(buffer: &mut Vec<u8>, row: &T, path: &Path) -> Result<()> {
    serde_json::to_writer(&mut *buffer, row).map_err(|source| DatasetError::Json {
        path: path.to_path_buf(),
        source,
    })?;
    buffer.push(b'\n');
    Ok(())
}

/// One `write()` (O_APPEND, so concurrent appenders never interleave within it), then fsync.
fn write_durably(file: &mut File, bytes: &[u8], path: &Path) -> Result<()> {
    file.write_all(bytes)
        .and_then(|()| file.sync_data())
        .map_err(DatasetError::io(path))
}

fn open_for_append(path: &Path) -> Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)
        .map_err(DatasetError::io(path))?;
    let len = file.metadata().map_err(DatasetError::io(path))?.len();
    let complete = complete_prefix_len(&file, len).map_err(DatasetError::io(path))?;
    if complete < len {
        file.set_len(complete)
            .and_then(|()| file.sync_all())
            .map_err(DatasetError::io(path))?;
    }
    // The file may have just been created: make its directory entry durable too.
    sync_dir(parent_dir(path))?;
    Ok(file)
}

/// Length of the file up to and including its last newline, found by reading backwards so a
/// large journal is not read whole.
fn complete_prefix_len(file: &File, len: u64) -> std::io::Result<u64> {
    const CHUNK: u64 = 64 * 1024;
    let mut end = len;
    let mut chunk = vec![0u8; CHUNK as usize];
    while end > 0 {
        let start = end.saturating_sub(CHUNK);
        let buf = &mut chunk[..(end - start) as usize];
        file.read_exact_at(buf, start)?;
        if let Some(newline) = buf.iter().rposition(|&b| b == b'\n') {
            return Ok(start + newline as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

fn read_lines<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
    let bytes = std::fs::read(path).map_err(DatasetError::io(path))?;
    // Bytes after the last newline are a line torn by a crash mid-write: not a record.
    let complete = match bytes.iter().rposition(|&b| b == b'\n') {
        Some(last_newline) => &bytes[..last_newline],
        None => return Ok(Vec::new()),
    };
    complete
        .split(|&b| b == b'\n')
        .enumerate()
        .map(|(index, line)| {
            serde_json::from_slice(line).map_err(|source| DatasetError::JournalLine {
                path: path.to_path_buf(),
                line: index + 1,
                source,
            })
        })
        .collect()
}
