use std::io;
use std::path::{Path, PathBuf};

/// Everything that can go wrong while probing a process or exporting its metrics.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The process exited (its procfs files no longer answer).
    #[error("process {pid} is gone")]
    ProcessGone { pid: i32 },
    #[error("cannot {op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    /// A procfs file whose content is not what this crate understands.
    #[error("cannot parse {path}")]
    Parse { path: PathBuf },
    #[error(transparent)]
    Cgroup(#[from] cgroup::Error),
    #[error("prometheus: {0}")]
    Prometheus(#[from] prometheus::Error),
}

impl Error {
    /// ESRCH/ENOENT on a procfs file of `pid` mean the process has exited.
    pub(crate) fn from_proc_io(pid: i32, op: &'static str, path: &Path, source: io::Error) -> Self {
        match source.raw_os_error() {
            Some(libc::ESRCH | libc::ENOENT) => Error::ProcessGone { pid },
            _ => Error::Io {
                op,
                path: path.to_path_buf(),
                source,
            },
        }
    }
}
