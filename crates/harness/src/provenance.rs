//! Facts about the machine and libraries a run records so its numbers can be interpreted later.

use std::ffi::CString;

/// The version of the XGBoost library the model will use (the vendored PyPI wheel that
/// `scripts/setup` unpacks), asked of the library itself through its C API.
pub fn xgboost_version() -> Option<String> {
    let dir = option_env!("XGBOOST_LIB_DIR")?;
    let path = CString::new(format!("{dir}/libxgboost.so")).ok()?;
    let symbol = CString::new("XGBoostVersion").ok()?;
    // SAFETY: dlopen/dlsym with valid C strings; the symbol has the C signature
    // `void XGBoostVersion(int*, int*, int*)` (xgboost/c_api.h), called with valid pointers. The
    // handle is closed again before returning.
    unsafe {
        let handle = libc::dlopen(path.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL);
        if handle.is_null() {
            return None;
        }
        let function = libc::dlsym(handle, symbol.as_ptr());
        let version = (!function.is_null()).then(|| {
            let version: extern "C" fn(*mut i32, *mut i32, *mut i32) =
                std::mem::transmute(function);
            let (mut major, mut minor, mut patch) = (0, 0, 0);
            version(&mut major, &mut minor, &mut patch);
            format!("{major}.{minor}.{patch}")
        });
        libc::dlclose(handle);
        version
    }
}

/// `/proc/loadavg`'s three averages: how busy the host was besides the run.
pub fn load_average() -> Option<String> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    Some(
        text.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
    )
}

/// CPU seconds this process (the harness, its sampler included; not the targets) has used.
pub fn own_cpu_seconds() -> f64 {
    // SAFETY: getrusage fills the struct we pass; RUSAGE_SELF excludes reaped children (the
    // targets).
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vendored_xgboost_is_3_4_1() {
        // scripts/setup installs it; a build without it records no version.
        assert_eq!(xgboost_version().as_deref(), Some("3.4.1"));
    }

    #[test]
    fn load_average_has_three_numbers() {
        let load = load_average().unwrap();
        assert_eq!(
            load.split(' ').filter(|v| v.parse::<f64>().is_ok()).count(),
            3,
            "{load}"
        );
    }
}
