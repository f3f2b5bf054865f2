//! Which libtorch and which BLAS this process actually runs on.
//!
//! The BLAS matters: Debian's libtorch links `libblas.so.3`, which the alternatives system may
//! resolve to the reference implementation (~9× slower) instead of OpenBLAS, silently.

/// The libtorch build and the BLAS library loaded into this process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TorchInfo {
    /// From the libtorch headers at build time, e.g. `1.13.0`; `unknown` if they were unreadable.
    pub libtorch_version: String,
    /// The BLAS behind `libblas.so.3`, e.g. `openblas-openmp`, `openblas`, `reference`, `mkl`,
    /// or `unknown`.
    pub blas_backend: String,
    /// True when the reference BLAS (unoptimised) is the one loaded.
    pub blas_is_reference: bool,
}

const LIBTORCH_VERSION: &str = env!("LIBTORCH_VERSION");
pub(crate) const REFERENCE_BLAS: &str = "reference";
const UNKNOWN: &str = "unknown";

pub fn torch_info() -> TorchInfo {
    // A call into libtorch keeps it (and the BLAS it depends on) linked and mapped.
    let _ = tch::utils::get_num_threads();
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    let blas_backend = classify_blas(&maps);
    TorchInfo {
        libtorch_version: LIBTORCH_VERSION.to_owned(),
        blas_is_reference: blas_backend == REFERENCE_BLAS,
        blas_backend,
    }
}

/// Names the BLAS from the file-backed mappings listed in `/proc/<pid>/maps`. The library mapped
/// as `libblas.so*` is the one libtorch's BLAS calls resolve to (it is libtorch's direct
/// dependency), so it decides; other BLAS-looking mappings only count when it is absent.
pub(crate) fn classify_blas(maps: &str) -> String {
    let paths: Vec<&str> = maps.lines().filter_map(mapped_path).collect();
    if let Some(blas) = paths
        .iter()
        .find(|path| file_name(path).starts_with("libblas.so"))
    {
        return classify_path(blas);
    }
    paths
        .iter()
        .map(|path| classify_path(path))
        .find(|backend| backend != UNKNOWN)
        .unwrap_or_else(|| UNKNOWN.to_owned())
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// The sixth field of a maps line, when it is a file path (it may contain spaces).
fn mapped_path(line: &str) -> Option<&str> {
    let path = line.splitn(6, char::is_whitespace).nth(5)?.trim_start();
    path.starts_with('/').then_some(path)
}

/// Classifies by directory, as Debian installs each BLAS in its own: `.../blas/libblas.so.3`
/// (reference), `.../openblas-openmp/`, `.../openblas-pthread/`, `.../atlas/`, `.../blis-openmp/`.
fn classify_path(path: &str) -> String {
    let (dir, file) = path.rsplit_once('/').unwrap_or(("", path));
    let dir_name = dir.rsplit('/').next().unwrap_or(dir);
    if dir_name.starts_with("openblas") {
        dir_name.to_owned()
    } else if file.starts_with("libopenblas") {
        "openblas".to_owned()
    } else if file.starts_with("libmkl") {
        "mkl".to_owned()
    } else if dir_name.starts_with("blis") || file.starts_with("libblis") {
        "blis".to_owned()
    } else if dir_name == "atlas" {
        "atlas".to_owned()
    } else if dir_name == "blas" && file.starts_with("libblas.so") {
        REFERENCE_BLAS.to_owned()
    } else {
        UNKNOWN.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn maps(paths: &[&str]) -> String {
        paths
            .iter()
            .map(|path| format!("7f0000000000-7f0000001000 r-xp 00000000 08:01 1234    {path}\n"))
            .collect::<String>()
            + "7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0          [stack]\n"
    }

    #[test]
    fn reference_blas_is_recognised_even_next_to_openblas_lapack() {
        let text = maps(&[
            "/usr/lib/x86_64-linux-gnu/libtorch_cpu.so.1.13.0",
            "/usr/lib/x86_64-linux-gnu/blas/libblas.so.3.11.0",
            "/usr/lib/x86_64-linux-gnu/openblas-pthread/liblapack.so.3",
            "/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblasp-r0.3.21.so",
        ]);
        assert_eq!(classify_blas(&text), REFERENCE_BLAS);
    }

    #[test]
    fn openblas_variants_are_named_by_their_directory() {
        for variant in ["openblas-openmp", "openblas-pthread", "openblas-serial"] {
            let text = maps(&[&format!("/usr/lib/x86_64-linux-gnu/{variant}/libblas.so.3")]);
            assert_eq!(classify_blas(&text), variant);
        }
    }

    #[test]
    fn without_a_libblas_mapping_other_blas_libraries_count() {
        assert_eq!(
            classify_blas(&maps(&["/opt/intel/lib/libmkl_rt.so.2"])),
            "mkl"
        );
        assert_eq!(
            classify_blas(&maps(&["/opt/lib/libopenblas.so.0"])),
            "openblas"
        );
        assert_eq!(classify_blas(&maps(&["/usr/lib/libc.so.6"])), UNKNOWN);
        assert_eq!(classify_blas(""), UNKNOWN);
    }

    #[test]
    fn this_process_runs_libtorch_1_13_on_openblas() {
        let info = torch_info();
        assert!(info.libtorch_version.starts_with("1.13"), "{info:?}");
        assert!(info.blas_backend.starts_with("openblas"), "{info:?}");
        assert!(!info.blas_is_reference);
    }
}
