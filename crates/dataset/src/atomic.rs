//! Files that appear whole or not at all: written to a temp file beside the destination,
//! fsync'd, renamed over it, and the directory fsync'd so the rename itself survives a crash.

use std::fs::File;
use std::path::Path;

use crate::{DatasetError, Result};

/// The directory a path lives in (`.` for a bare file name).
pub(crate) fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// Makes a directory entry change (create, rename) durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(DatasetError::io(dir))
}

/// Writes `path` atomically: `fill` writes the content into a temp file in the same directory;
/// on any error the temp file is removed and `path` is untouched.
pub(crate) fn write_atomically(
    path: &Path,
    fill: impl FnOnce(&mut File) -> Result<()>,
) -> Result<()> {
    let dir = parent_dir(path);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut temp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        // A dataset is for reading by others too, not private like tempfile's default 0600
        // (the process umask still applies).
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))
        .tempfile_in(dir)
        .map_err(DatasetError::io(dir))?;
    fill(temp.as_file_mut())?;
    temp.as_file()
        .sync_all()
        .map_err(DatasetError::io(temp.path()))?;
    temp.persist(path)
        .map_err(|err| DatasetError::io(path)(err.error))?;
    sync_dir(dir)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn written_files_are_readable_by_others() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shared.json");
        write_atomically(&path, |f| {
            f.write_all(b"{}").map_err(DatasetError::io(&path))
        })
        .unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & 0o044, 0o044, "mode {mode:o}");
    }

    #[test]
    fn replaces_the_file_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.json");
        std::fs::write(&path, "old").unwrap();
        write_atomically(&path, |f| {
            f.write_all(b"new").map_err(DatasetError::io("x"))
        })
        .unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        assert_eq!(entries(dir.path()), ["x.json"]);
    }

    #[test]
    fn a_failed_write_keeps_the_old_file_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.json");
        std::fs::write(&path, "old").unwrap();
        let result = write_atomically(&path, |f| {
            f.write_all(b"half").unwrap();
            Err(DatasetError::InconsistentRow {
                seq: 0,
                problem: "stop".into(),
            })
        });
        assert!(result.is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
        assert_eq!(entries(dir.path()), ["x.json"]);
    }
}
