use std::io;
use std::path::{Path, PathBuf};

/// Everything that can go wrong while detecting, creating, using or removing a cgroup.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The kernel refused an operation (EACCES, EPERM or EROFS).
    #[error(
        "permission denied to {op} {path}: {source}; run as root, or delegate a cgroup to this \
         user (e.g. `systemd-run --user --scope -p Delegate=yes …`) and run inside it"
    )]
    PermissionDenied {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    /// Any other I/O failure, with the operation and the file it concerned.
    #[error("cannot {op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    /// A cgroup name that is not a single, plain path component.
    #[error("invalid cgroup name {name:?}: {reason}")]
    InvalidName { name: String, reason: &'static str },
    /// Limits the kernel would reject.
    #[error("invalid limits: {0}")]
    InvalidLimits(String),
    /// Neither a usable v1 (cpu + memory) nor a v2 (cpu + memory) hierarchy is mounted.
    #[error("no usable cgroup hierarchy: {0}")]
    NoHierarchy(String),
    /// The parent cgroup cannot hand a controller down to children.
    #[error("controller {controller} is not available in {path}")]
    ControllerUnavailable {
        controller: &'static str,
        path: PathBuf,
    },
    /// A cgroup directory of that name is already there (a leftover from an earlier run?).
    #[error("cgroup {path} already exists; remove it (rmdir) or choose another name")]
    AlreadyExists { path: PathBuf },
    /// Tasks remained in the cgroup for longer than removal waits.
    #[error("cgroup {path} is still busy (tasks or children remain); kill its tasks first")]
    Busy { path: PathBuf },
    /// A kernel file whose content is not what this crate understands.
    #[error("cannot parse {path}: {reason}")]
    Parse { path: PathBuf, reason: String },
    /// The process has no entry for a needed controller in its `/proc/<pid>/cgroup`.
    #[error("process {pid} has no {controller} cgroup in /proc/{pid}/cgroup")]
    NotInController { pid: i32, controller: &'static str },
}

impl Error {
    /// Maps an I/O error on `path` to [`Error::PermissionDenied`] when the kernel refused the
    /// operation, otherwise to [`Error::Io`].
    pub fn from_io(op: &'static str, path: &Path, source: io::Error) -> Self {
        let path = path.to_path_buf();
        match source.raw_os_error() {
            Some(libc::EACCES | libc::EPERM | libc::EROFS) => {
                Error::PermissionDenied { op, path, source }
            }
            _ => Error::Io { op, path, source },
        }
    }

    pub(crate) fn parse(path: &Path, reason: impl Into<String>) -> Self {
        Error::Parse {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn denied_errnos_map_to_permission_denied_with_advice() {
        for errno in [libc::EACCES, libc::EPERM, libc::EROFS] {
            let err = Error::from_io(
                "mkdir",
                Path::new("/x"),
                io::Error::from_raw_os_error(errno),
            );
            assert!(matches!(err, Error::PermissionDenied { .. }), "{err:?}");
            let message = err.to_string();
            assert!(message.contains("run as root"), "{message}");
            assert!(message.contains("delegate"), "{message}");
        }
    }

    #[test]
    fn other_errnos_stay_io_errors() {
        let err = Error::from_io(
            "mkdir",
            Path::new("/x"),
            io::Error::from_raw_os_error(libc::ENOENT),
        );
        assert!(matches!(err, Error::Io { .. }), "{err:?}");
    }
}
