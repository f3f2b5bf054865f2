//! Where the cgroup controllers are mounted and where this process sits in them.

use std::path::{Path, PathBuf};

use crate::{Error, sys};

/// The cgroup interface in use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Version {
    /// One hierarchy per controller (`cpu.cfs_quota_us`, `memory.limit_in_bytes`, …).
    V1,
    /// The unified hierarchy (`cpu.max`, `memory.max`, …).
    V2,
}

/// The controllers this crate uses. On v2 all of them live in the one unified directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Controller {
    Cpu,
    /// v1 only: CPU usage in ns (`cpuacct.usage`); on v2 usage is in `cpu.stat`.
    Cpuacct,
    Memory,
}

impl Controller {
    pub fn name(self) -> &'static str {
        match self {
            Controller::Cpu => "cpu",
            Controller::Cpuacct => "cpuacct",
            Controller::Memory => "memory",
        }
    }
}

/// One controller's mount and a cgroup path inside it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Placement {
    /// Mount point of the hierarchy.
    mount: PathBuf,
    /// The cgroup that the mount shows at its mount point (mountinfo's "root" field; "/" unless
    /// a container mounted only its own subtree).
    mount_root: String,
    /// This process's cgroup path, as `/proc/self/cgroup` names it.
    own: String,
}

impl Placement {
    fn dir_of(&self, cgroup_path: &str) -> PathBuf {
        let inside_mount = if self.mount_root == "/" {
            cgroup_path
        } else {
            cgroup_path
                .strip_prefix(self.mount_root.as_str())
                .unwrap_or(cgroup_path)
        };
        let relative = inside_mount.trim_start_matches('/');
        if relative.is_empty() {
            self.mount.clone()
        } else {
            self.mount.join(relative)
        }
    }
}

/// Detected mount points plus this process's own cgroup paths.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hierarchy {
    version: Version,
    cpu: Placement,
    cpuacct: Option<Placement>,
    memory: Placement,
    /// Fake trees have no kernel that creates interface files in new directories.
    pub(crate) create_missing_files: bool,
}

const MOUNTINFO: &str = "/proc/self/mountinfo";
const SELF_CGROUP: &str = "/proc/self/cgroup";

impl Hierarchy {
    /// Detects the hierarchy from `/proc/self/mountinfo` and `/proc/self/cgroup`.
    ///
    /// Pure v2 is used when the cgroup2 root lists both `cpu` and `memory` in
    /// `cgroup.controllers`; otherwise v1 is used when its `cpu` and `memory` controllers are
    /// mounted (the hybrid layout, where cgroup2 carries no resource controllers).
    pub fn detect() -> Result<Hierarchy, Error> {
        let mountinfo = sys::read_to_string(Path::new(MOUNTINFO))?;
        let self_cgroup = sys::read_to_string(Path::new(SELF_CGROUP))?;
        Self::from_proc_text(&mountinfo, &self_cgroup, |path| {
            std::fs::read_to_string(path).ok()
        })
    }

    /// Detection from the text of mountinfo and `/proc/self/cgroup`; `read_controllers` returns
    /// the content of a cgroup2 root's `cgroup.controllers`.
    pub(crate) fn from_proc_text(
        mountinfo: &str,
        self_cgroup: &str,
        read_controllers: impl Fn(&Path) -> Option<String>,
    ) -> Result<Hierarchy, Error> {
        let mounts = parse_mountinfo(mountinfo);
        let memberships = parse_proc_cgroup(self_cgroup);

        if let Some(unified) = mounts.iter().find(|m| m.fs_type == "cgroup2") {
            let controllers = read_controllers(&unified.mount_point.join("cgroup.controllers"))
                .unwrap_or_default();
            let has = |name: &str| controllers.split_whitespace().any(|c| c == name);
            if has("cpu") && has("memory") {
                let own = memberships
                    .iter()
                    .find(|m| m.hierarchy_id == "0" && m.controllers.is_empty())
                    .map(|m| m.path.to_string())
                    .ok_or_else(|| {
                        Error::NoHierarchy(
                            "cgroup2 is mounted but /proc/self/cgroup has no 0:: line".into(),
                        )
                    })?;
                let placement = Placement {
                    mount: unified.mount_point.clone(),
                    mount_root: unified.root.clone(),
                    own,
                };
                return Ok(Hierarchy {
                    version: Version::V2,
                    cpu: placement.clone(),
                    cpuacct: None,
                    memory: placement,
                    create_missing_files: false,
                });
            }
        }

        let v1_placement = |controller: Controller| -> Option<Placement> {
            let mount = mounts.iter().find(|m| {
                m.fs_type == "cgroup" && m.super_options.iter().any(|o| o == controller.name())
            })?;
            let own = memberships
                .iter()
                .find(|m| m.controllers.contains(&controller.name()))?;
            Some(Placement {
                mount: mount.mount_point.clone(),
                mount_root: mount.root.clone(),
                own: own.path.to_string(),
            })
        };
        match (v1_placement(Controller::Cpu), v1_placement(Controller::Memory)) {
            (Some(cpu), Some(memory)) => Ok(Hierarchy {
                version: Version::V1,
                cpu,
                cpuacct: v1_placement(Controller::Cpuacct),
                memory,
                create_missing_files: false,
            }),
            _ => Err(Error::NoHierarchy(
                "neither cgroup2 with cpu+memory nor cgroup v1 cpu and memory controllers are mounted"
                    .into(),
            )),
        }
    }

    /// A v1 layout under a fake root: controllers at `root/cpu`, `root/cpuacct`, `root/memory`,
    /// this process at `own_cgroup` in each. Writes create missing files (no kernel does).
    pub fn v1_at(root: impl Into<PathBuf>, own_cgroup: &str) -> Hierarchy {
        let root = root.into();
        let placement = |controller: Controller| Placement {
            mount: root.join(controller.name()),
            mount_root: "/".into(),
            own: own_cgroup.into(),
        };
        Hierarchy {
            version: Version::V1,
            cpu: placement(Controller::Cpu),
            cpuacct: Some(placement(Controller::Cpuacct)),
            memory: placement(Controller::Memory),
            create_missing_files: true,
        }
    }

    /// A v2 layout with the unified tree at a fake `root`, this process at `own_cgroup`.
    /// Writes create missing files (no kernel does).
    pub fn v2_at(root: impl Into<PathBuf>, own_cgroup: &str) -> Hierarchy {
        let placement = Placement {
            mount: root.into(),
            mount_root: "/".into(),
            own: own_cgroup.into(),
        };
        Hierarchy {
            version: Version::V2,
            cpu: placement.clone(),
            cpuacct: None,
            memory: placement,
            create_missing_files: true,
        }
    }

    pub fn version(&self) -> Version {
        self.version
    }

    fn placement(&self, controller: Controller) -> Option<&Placement> {
        match controller {
            Controller::Cpu => Some(&self.cpu),
            Controller::Cpuacct => self.cpuacct.as_ref(),
            Controller::Memory => Some(&self.memory),
        }
    }

    /// The controllers this hierarchy uses (v1: cpu, cpuacct when mounted, memory; v2: cpu and
    /// memory, both in the unified tree).
    pub fn controllers(&self) -> Vec<Controller> {
        [Controller::Cpu, Controller::Cpuacct, Controller::Memory]
            .into_iter()
            .filter(|&c| self.placement(c).is_some())
            .collect()
    }

    /// This process's own cgroup directory for `controller`.
    pub fn own_dir(&self, controller: Controller) -> Option<PathBuf> {
        self.placement(controller).map(|p| p.dir_of(&p.own))
    }

    /// This process's own cgroup path for `controller`, as `/proc/self/cgroup` names it.
    pub fn own_path(&self, controller: Controller) -> Option<&str> {
        self.placement(controller).map(|p| p.own.as_str())
    }

    /// The directory of `cgroup_path` (as `/proc/<pid>/cgroup` names it) for `controller`.
    pub fn dir_of(&self, controller: Controller, cgroup_path: &str) -> Option<PathBuf> {
        self.placement(controller).map(|p| p.dir_of(cgroup_path))
    }

    /// The cgroup path of `controller` in the text of a `/proc/<pid>/cgroup` file.
    pub(crate) fn path_in_proc_cgroup<'a>(
        &self,
        controller: Controller,
        proc_cgroup: &'a str,
    ) -> Option<&'a str> {
        let memberships = parse_proc_cgroup(proc_cgroup);
        let found = match self.version {
            Version::V2 => memberships
                .into_iter()
                .find(|m| m.hierarchy_id == "0" && m.controllers.is_empty()),
            Version::V1 => memberships
                .into_iter()
                .find(|m| m.controllers.contains(&controller.name())),
        };
        found.map(|m| m.path)
    }
}

struct Mount {
    root: String,
    mount_point: PathBuf,
    fs_type: String,
    super_options: Vec<String>,
}

/// Parses mountinfo lines: `id parent major:minor root mount-point options [optional…] - type
/// source super-options`.
fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let mut left = left.split(' ');
            let root = unescape_mount_field(left.nth(3)?);
            let mount_point = PathBuf::from(unescape_mount_field(left.next()?));
            let mut right = right.split(' ');
            let fs_type = right.next()?.to_string();
            let _source = right.next()?;
            let super_options = right
                .next()
                .unwrap_or("")
                .split(',')
                .map(str::to_string)
                .collect();
            Some(Mount {
                root,
                mount_point,
                fs_type,
                super_options,
            })
        })
        .collect()
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo` octal.
fn unescape_mount_field(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| bytes[i] == b'\\' && d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match octal {
            Some(d) => {
                let value = d.iter().fold(0u32, |acc, b| acc * 8 + u32::from(b - b'0'));
                out.push(value as u8);
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

struct Membership<'a> {
    hierarchy_id: &'a str,
    controllers: Vec<&'a str>,
    path: &'a str,
}

/// Parses `/proc/<pid>/cgroup` lines: `hierarchy-id:controller,list:path` (v2: `0::path`).
fn parse_proc_cgroup(text: &str) -> Vec<Membership<'_>> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ':');
            let hierarchy_id = parts.next()?;
            let controllers = parts.next()?;
            let path = parts.next()?;
            Some(Membership {
                hierarchy_id,
                controllers: controllers.split(',').filter(|c| !c.is_empty()).collect(),
                path,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID_MOUNTINFO: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
    const HYBRID_SELF: &str = "\
9:name=systemd:/
4:memory:/process_api/abc
2:cpuacct:/
1:cpu:/
0::/
";

    #[test]
    fn hybrid_layout_without_v2_controllers_uses_v1() {
        let h =
            Hierarchy::from_proc_text(HYBRID_MOUNTINFO, HYBRID_SELF, |_| Some("hugetlb\n".into()))
                .unwrap();
        assert_eq!(h.version(), Version::V1);
        assert_eq!(
            h.own_dir(Controller::Memory).unwrap(),
            Path::new("/sys/fs/cgroup/memory/process_api/abc")
        );
        assert_eq!(
            h.own_dir(Controller::Cpu).unwrap(),
            Path::new("/sys/fs/cgroup/cpu")
        );
        assert_eq!(
            h.own_dir(Controller::Cpuacct).unwrap(),
            Path::new("/sys/fs/cgroup/cpuacct")
        );
    }

    #[test]
    fn pure_v2_with_cpu_and_memory_uses_the_unified_tree() {
        let mountinfo = "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n";
        let h = Hierarchy::from_proc_text(mountinfo, "0::/user.slice/app.scope\n", |path| {
            assert_eq!(path, Path::new("/sys/fs/cgroup/cgroup.controllers"));
            Some("cpuset cpu io memory pids\n".into())
        })
        .unwrap();
        assert_eq!(h.version(), Version::V2);
        assert_eq!(h.controllers(), vec![Controller::Cpu, Controller::Memory]);
        assert_eq!(
            h.own_dir(Controller::Memory).unwrap(),
            Path::new("/sys/fs/cgroup/user.slice/app.scope")
        );
    }

    #[test]
    fn co_mounted_cpu_and_cpuacct_share_one_directory() {
        let mountinfo = "\
25 24 0:22 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
26 24 0:23 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
";
        let self_cgroup = "3:cpu,cpuacct:/job\n2:memory:/job\n";
        let h = Hierarchy::from_proc_text(mountinfo, self_cgroup, |_| None).unwrap();
        assert_eq!(h.own_dir(Controller::Cpu), h.own_dir(Controller::Cpuacct));
        assert_eq!(
            h.own_dir(Controller::Cpu).unwrap(),
            Path::new("/sys/fs/cgroup/cpu,cpuacct/job")
        );
    }

    #[test]
    fn container_mount_of_a_subtree_strips_its_root() {
        let mountinfo = "\
25 24 0:22 /docker/c1 /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu
26 24 0:23 /docker/c1 /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
";
        let self_cgroup = "3:cpu:/docker/c1\n2:memory:/docker/c1/inner\n";
        let h = Hierarchy::from_proc_text(mountinfo, self_cgroup, |_| None).unwrap();
        assert_eq!(
            h.own_dir(Controller::Cpu).unwrap(),
            Path::new("/sys/fs/cgroup/cpu")
        );
        assert_eq!(
            h.own_dir(Controller::Memory).unwrap(),
            Path::new("/sys/fs/cgroup/memory/inner")
        );
    }

    #[test]
    fn no_cpu_or_memory_anywhere_is_an_error() {
        let mountinfo = "41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n";
        let err =
            Hierarchy::from_proc_text(mountinfo, "0::/\n", |_| Some("pids\n".into())).unwrap_err();
        assert!(matches!(err, Error::NoHierarchy(_)), "{err:?}");
    }

    #[test]
    fn escaped_mount_points_are_decoded() {
        assert_eq!(
            unescape_mount_field(r"/mnt/my\040cgroups"),
            "/mnt/my cgroups"
        );
        assert_eq!(unescape_mount_field(r"/plain\x"), r"/plain\x");
    }

    #[test]
    fn this_machine_is_detected() {
        let h = Hierarchy::detect().unwrap();
        for controller in h.controllers() {
            let dir = h.own_dir(controller).unwrap();
            assert!(dir.join("cgroup.procs").exists(), "{}", dir.display());
        }
    }
}
