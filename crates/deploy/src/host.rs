//! Host facts for the preflight: cores and memory, and the warnings they imply for a set of
//! sizes running side by side.

use crate::PodSize;

/// Online CPUs of the host (not this process's affinity or quota: targets get their own).
pub(crate) fn cores() -> usize {
    // SAFETY: sysconf has no memory-safety preconditions.
    let online = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    usize::try_from(online).ok().filter(|&n| n > 0).unwrap_or(1)
}

/// `(MemTotal, MemAvailable)` in bytes from /proc/meminfo.
pub(crate) fn memory() -> std::io::Result<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/meminfo")?;
    let field = |key: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(key)?.strip_prefix(':'))
            .and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
            .map(|kib| kib * 1024)
            .ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("/proc/meminfo has no {key}"),
                )
            })
    };
    Ok((field("MemTotal")?, field("MemAvailable")?))
}

/// Requests that the host cannot honour in full, in words for the manifest.
pub(crate) fn warnings(sizes: &[PodSize], cores: usize, free_memory_bytes: u64) -> Vec<String> {
    let host_millicores = u64::try_from(cores)
        .unwrap_or(u64::MAX)
        .saturating_mul(1000);
    let mut warnings = Vec::new();
    for size in sizes {
        if u64::from(size.cpu_millicores) > host_millicores {
            warnings.push(format!(
                "size {} requests {}m CPU but the host has {cores} cores ({host_millicores}m): its \
                 quota can never be used in full",
                size.name, size.cpu_millicores
            ));
        }
    }
    let total_cpu: u64 = sizes.iter().map(|s| u64::from(s.cpu_millicores)).sum();
    if sizes.len() > 1 && total_cpu > host_millicores {
        warnings.push(format!(
            "the sizes together request {total_cpu}m CPU on {cores} cores ({host_millicores}m): \
             targets running side by side compete for CPU beyond their quotas"
        ));
    }
    let total_memory: u64 = sizes.iter().map(|s| s.memory_bytes).sum();
    if total_memory > free_memory_bytes {
        warnings.push(format!(
            "the sizes together may use {} MiB of memory but only {} MiB are available: the host \
             may run out before a target reaches its own limit",
            total_memory >> 20,
            free_memory_bytes >> 20
        ));
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_host_reports_cores_and_memory() {
        assert!(cores() >= 1);
        let (total, available) = memory().unwrap();
        assert!(total > 0 && available <= total, "{total} {available}");
    }

    #[test]
    fn oversized_requests_warn_and_fitting_ones_do_not() {
        let gib = 1u64 << 30;
        let fitting = [
            PodSize::new("small", 100, gib),
            PodSize::new("large", 500, 4 * gib),
        ];
        assert!(warnings(&fitting, 2, 8 * gib).is_empty());

        let too_big = [
            PodSize::new("small", 100, gib),
            PodSize::new("huge", 3000, 8 * gib),
        ];
        let found = warnings(&too_big, 2, 8 * gib);
        assert_eq!(found.len(), 3, "{found:#?}");
        assert!(
            found[0].contains("size huge requests 3000m"),
            "{}",
            found[0]
        );
        assert!(found[1].contains("3100m CPU on 2 cores"), "{}", found[1]);
        assert!(found[2].contains("9216 MiB"), "{}", found[2]);
    }
}
