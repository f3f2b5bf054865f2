//! Finding a process by the file name of its executable.

use std::ffi::OsStr;
use std::io;
use std::path::{Path, PathBuf};

/// The process list could not be read at all (single unreadable processes are skipped).
#[derive(Debug, thiserror::Error)]
#[error("cannot list processes in {}: {source}", path.display())]
pub struct FindError {
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

/// The PID of the process whose executable's file name is `exe_name`, looked up in `/proc`;
/// the lowest PID when several match (in a pod there is one). This process itself is never
/// returned.
///
/// Reading `/proc/<pid>/exe` of another process needs ptrace read access, which a process of the
/// same user has: the observer therefore runs as the target's user, and processes it may not
/// inspect are skipped rather than reported.
pub fn find_process(exe_name: &str) -> Result<Option<i32>, FindError> {
    find_in(Path::new("/proc"), exe_name)
}

fn find_in(proc_root: &Path, exe_name: &str) -> Result<Option<i32>, FindError> {
    let own_pid = std::process::id() as i32;
    let entries = std::fs::read_dir(proc_root).map_err(|source| FindError {
        path: proc_root.to_owned(),
        source,
    })?;
    let found = entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| pid != own_pid)
        .filter(|&pid| {
            std::fs::read_link(proc_root.join(pid.to_string()).join("exe"))
                .is_ok_and(|exe| exe_file_name_is(&exe, exe_name))
        })
        .min();
    Ok(found)
}

/// Whether the link target names `exe_name`, also when the binary was replaced on disk after the
/// process started (the kernel then appends " (deleted)").
fn exe_file_name_is(exe: &Path, exe_name: &str) -> bool {
    let Some(file_name) = exe.file_name().and_then(OsStr::to_str) else {
        return false;
    };
    file_name == exe_name || file_name.strip_suffix(" (deleted)") == Some(exe_name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exe_names_match_whole_file_names_only() {
        assert!(exe_file_name_is(Path::new("/bin/cl-target"), "cl-target"));
        assert!(exe_file_name_is(
            Path::new("/nix/store/x/bin/cl-target (deleted)"),
            "cl-target"
        ));
        assert!(!exe_file_name_is(Path::new("/bin/cl-target2"), "cl-target"));
        assert!(!exe_file_name_is(
            Path::new("/bin/cl-observer"),
            "cl-target"
        ));
        assert!(!exe_file_name_is(Path::new("/"), "cl-target"));
    }

    #[test]
    fn a_missing_proc_root_is_an_error_naming_it() {
        let err = find_in(Path::new("/nonexistent-proc"), "cl-target").unwrap_err();
        assert!(err.to_string().contains("/nonexistent-proc"), "{err}");
    }
}
