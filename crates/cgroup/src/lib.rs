//! Linux cgroups v1 and v2 for pod-like limits: create a child cgroup with a CPU quota and a
//! memory limit, put a process in it before it runs, read its counters, and remove it.
//!
//! Invariant: a [`Cgroup`] only ever creates, writes and removes directories *below this
//! process's own cgroup* in each controller it uses, and a process attached with
//! [`Cgroup::attach_before_exec`] is inside the cgroup before its first instruction of the new
//! program runs (no window in which it runs unlimited).
//!
//! Which version is used is decided at runtime by [`Hierarchy::detect`]: hybrid hosts (v1 `cpu`
//! and `memory` mounted, cgroup2 without them) use v1, pure v2 hosts use the unified tree.

mod counters;
mod error;
mod group;
mod hierarchy;
mod sys;

pub use counters::{CounterFiles, Counters};
pub use error::Error;
pub use group::{Cgroup, Limits};
pub use hierarchy::{Controller, Hierarchy, Version};
/// Kernel-file reading shared with the procfs probe.
pub use sys::pread_all;
