//! Small file-system helpers that attach the operation and path to every error.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::Error;

pub(crate) fn read_to_string(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|e| Error::from_io("read", path, e))
}

/// Writes `value` to a cgroup interface file. The kernel creates those files itself, so the
/// file is only created when `create` is set (fake trees in tests have no kernel behind them).
pub(crate) fn write_value(path: &Path, value: &str, create: bool) -> Result<(), Error> {
    let mut file = OpenOptions::new()
        .write(true)
        .truncate(create)
        .create(create)
        .open(path)
        .map_err(|e| Error::from_io("open for writing", path, e))?;
    file.write_all(value.as_bytes())
        .map_err(|e| Error::from_io("write", path, e))
}

/// Reads the whole file from offset 0 into `buf` without reopening it (kernel files regenerate
/// their content on every read at offset 0) and returns the number of bytes read. A short read
/// means the end of the file, which saves the second `pread` per file.
pub fn pread_all(file: &File, buf: &mut Vec<u8>) -> io::Result<usize> {
    if buf.len() < 4096 {
        buf.resize(4096, 0);
    }
    let mut filled = 0;
    loop {
        let n = file.read_at(&mut buf[filled..], filled as u64)?;
        filled += n;
        if n == 0 || filled < buf.len() {
            return Ok(filled);
        }
        buf.resize(buf.len() * 2, 0);
    }
}
