use std::io;
use std::path::PathBuf;

/// Everything that can stop a target from being deployed, restarted or torn down.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// The kernel refused to create or write a cgroup.
    #[error(
        "no permission to create cgroups at {path} ({hint}): run as root, delegate a cgroup to \
         this user (e.g. `systemd-run --user --scope -p Delegate=yes …`) and run inside it, or \
         pass --no-limits to run without limits (recorded in the manifest)"
    )]
    NoPermission { path: PathBuf, hint: String },
    /// The target binary could not be started at all.
    #[error("cannot start {binary}: {source}")]
    Spawn { binary: PathBuf, source: io::Error },
    /// The target started but did not become healthy.
    #[error("{instance} did not start: {reason}{}", tail_suffix(stderr_tail))]
    Startup {
        instance: String,
        reason: String,
        /// The last lines the target wrote to stderr (empty if none).
        stderr_tail: String,
    },
    /// A size that cannot be deployed.
    #[error("invalid pod size {name:?}: {reason}")]
    InvalidSize { name: String, reason: String },
    #[error(transparent)]
    Cgroup(cgroup::Error),
    #[error("cannot {op}: {source}")]
    Io { op: String, source: io::Error },
}

fn tail_suffix(stderr_tail: &str) -> String {
    if stderr_tail.trim().is_empty() {
        String::new()
    } else {
        format!("\n--- last lines of its stderr ---\n{stderr_tail}")
    }
}

/// A refused cgroup operation becomes [`DeployError::NoPermission`] (with the way out); any
/// other cgroup error stays as it is.
impl From<cgroup::Error> for DeployError {
    fn from(err: cgroup::Error) -> Self {
        match err {
            cgroup::Error::PermissionDenied { op, path, source } => DeployError::NoPermission {
                path,
                hint: format!("{op}: {source}"),
            },
            other => DeployError::Cgroup(other),
        }
    }
}

impl DeployError {
    pub(crate) fn io(op: impl Into<String>, source: io::Error) -> Self {
        DeployError::Io {
            op: op.into(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permission_denied_becomes_no_permission_with_every_way_out() {
        let denied = cgroup::Error::from_io(
            "create cgroup",
            std::path::Path::new("/sys/fs/cgroup/memory/x"),
            io::Error::from_raw_os_error(libc::EACCES),
        );
        let err = DeployError::from(denied);
        let DeployError::NoPermission { path, hint } = &err else {
            panic!("expected NoPermission, got {err:?}");
        };
        assert_eq!(path, std::path::Path::new("/sys/fs/cgroup/memory/x"));
        assert!(hint.starts_with("create cgroup: "), "{hint}");
        let message = err.to_string();
        for needle in ["run as root", "Delegate=yes", "--no-limits", "manifest"] {
            assert!(message.contains(needle), "{needle:?} missing in {message}");
        }
    }

    #[test]
    fn other_cgroup_errors_keep_their_kind() {
        let busy = cgroup::Error::Busy {
            path: PathBuf::from("/x"),
        };
        assert!(matches!(
            DeployError::from(busy),
            DeployError::Cgroup(cgroup::Error::Busy { .. })
        ));
    }

    #[test]
    fn startup_error_shows_the_stderr_tail_only_when_there_is_one() {
        let with_tail = DeployError::Startup {
            instance: "small#0".into(),
            reason: "exited with code 3".into(),
            stderr_tail: "boom".into(),
        };
        assert!(with_tail.to_string().ends_with("stderr ---\nboom"));
        let without = DeployError::Startup {
            instance: "small#0".into(),
            reason: "exited with code 3".into(),
            stderr_tail: String::new(),
        };
        assert_eq!(
            without.to_string(),
            "small#0 did not start: exited with code 3"
        );
    }
}
