//! A small safe layer over the XGBoost C API (the vendored 3.4.1 library): matrices, boosters,
//! JSON model bytes and gain importance. Every call's status is checked and turned into
//! [`XgbError`] with the library's own message; handles are freed on drop.

use std::ffi::{CStr, CString, c_char, c_float, c_int, c_void};
use std::sync::OnceLock;

type BstUlong = u64;
type DMatrixHandle = *mut c_void;
type BoosterHandle = *mut c_void;

#[link(name = "xgboost")]
unsafe extern "C" {
    fn XGBoostVersion(major: *mut c_int, minor: *mut c_int, patch: *mut c_int);
    fn XGBGetLastError() -> *const c_char;
    fn XGDMatrixCreateFromMat(
        data: *const c_float,
        nrow: BstUlong,
        ncol: BstUlong,
        missing: c_float,
        out: *mut DMatrixHandle,
    ) -> c_int;
    fn XGDMatrixSetFloatInfo(
        handle: DMatrixHandle,
        field: *const c_char,
        array: *const c_float,
        len: BstUlong,
    ) -> c_int;
    fn XGDMatrixSetInfoFromInterface(
        handle: DMatrixHandle,
        field: *const c_char,
        interface: *const c_char,
    ) -> c_int;
    fn XGDMatrixFree(handle: DMatrixHandle) -> c_int;
    fn XGBoosterCreate(
        dmats: *const DMatrixHandle,
        len: BstUlong,
        out: *mut BoosterHandle,
    ) -> c_int;
    fn XGBoosterFree(handle: BoosterHandle) -> c_int;
    fn XGBoosterSetParam(handle: BoosterHandle, name: *const c_char, value: *const c_char)
    -> c_int;
    fn XGBoosterSetStrFeatureInfo(
        handle: BoosterHandle,
        field: *const c_char,
        features: *const *const c_char,
        size: BstUlong,
    ) -> c_int;
    fn XGBoosterUpdateOneIter(handle: BoosterHandle, iter: c_int, dtrain: DMatrixHandle) -> c_int;
    fn XGBoosterPredict(
        handle: BoosterHandle,
        dmat: DMatrixHandle,
        option_mask: c_int,
        ntree_limit: u32,
        training: c_int,
        out_len: *mut BstUlong,
        out_result: *mut *const c_float,
    ) -> c_int;
    fn XGBoosterSaveModelToBuffer(
        handle: BoosterHandle,
        config: *const c_char,
        out_len: *mut BstUlong,
        out_dptr: *mut *const c_char,
    ) -> c_int;
    fn XGBoosterLoadModelFromBuffer(
        handle: BoosterHandle,
        buf: *const c_void,
        len: BstUlong,
    ) -> c_int;
    fn XGBoosterGetNumFeature(handle: BoosterHandle, out: *mut BstUlong) -> c_int;
    fn XGBoosterFeatureScore(
        handle: BoosterHandle,
        config: *const c_char,
        out_n_features: *mut BstUlong,
        out_features: *mut *const *const c_char,
        out_dim: *mut BstUlong,
        out_shape: *mut *const BstUlong,
        out_scores: *mut *const c_float,
    ) -> c_int;
}

/// The XGBoost release this crate is built and tested against (DESIGN.md's pin).
pub const REQUIRED_VERSION: (i32, i32, i32) = (3, 4, 1);

#[derive(Debug, thiserror::Error)]
pub enum XgbError {
    #[error("XGBoost {found} is loaded but {expected} is required (check XGBOOST_LIB_DIR)")]
    Version { found: String, expected: String },
    #[error("XGBoost {call} failed: {message}")]
    Call { call: &'static str, message: String },
    #[error("a string passed to XGBoost contains a NUL byte: {0:?}")]
    Nul(String),
    #[error("matrix of {rows} rows × {columns} columns has {len} values")]
    Shape {
        rows: usize,
        columns: usize,
        len: usize,
    },
}

type Result<T> = std::result::Result<T, XgbError>;

/// The loaded library's version, `major.minor.patch`.
pub fn library_version() -> String {
    let (mut major, mut minor, mut patch) = (0, 0, 0);
    // SAFETY: XGBoostVersion only writes the three ints through valid pointers.
    unsafe { XGBoostVersion(&mut major, &mut minor, &mut patch) };
    format!("{major}.{minor}.{patch}")
}

/// Fails unless the loaded library is [`REQUIRED_VERSION`]: an older system library silently
/// ignores newer parameters and mispredicts newer models. Checked once per process.
pub fn check_version() -> Result<()> {
    static CHECKED: OnceLock<std::result::Result<(), (String, String)>> = OnceLock::new();
    let (major, minor, patch) = REQUIRED_VERSION;
    let expected = format!("{major}.{minor}.{patch}");
    CHECKED
        .get_or_init(|| {
            let found = library_version();
            if found == expected {
                Ok(())
            } else {
                Err((found, expected))
            }
        })
        .clone()
        .map_err(|(found, expected)| XgbError::Version { found, expected })
}

fn check(call: &'static str, status: c_int) -> Result<()> {
    if status == 0 {
        return Ok(());
    }
    // SAFETY: XGBGetLastError returns a thread-local, NUL-terminated string owned by the library.
    let message = unsafe { CStr::from_ptr(XGBGetLastError()) }
        .to_string_lossy()
        .into_owned();
    Err(XgbError::Call { call, message })
}

fn c_string(text: &str) -> Result<CString> {
    CString::new(text).map_err(|_| XgbError::Nul(text.to_owned()))
}

/// A dense row-major matrix of features (NaN = missing), optionally with labels.
pub struct DMatrix {
    handle: DMatrixHandle,
}

impl DMatrix {
    pub fn from_dense(values: &[f32], rows: usize, columns: usize) -> Result<Self> {
        if rows.checked_mul(columns) != Some(values.len()) {
            return Err(XgbError::Shape {
                rows,
                columns,
                len: values.len(),
            });
        }
        check_version()?;
        let mut handle = std::ptr::null_mut();
        // SAFETY: `values` holds rows × columns floats (checked above); the library copies them.
        check("XGDMatrixCreateFromMat", unsafe {
            XGDMatrixCreateFromMat(
                values.as_ptr(),
                rows as BstUlong,
                columns as BstUlong,
                f32::NAN,
                &mut handle,
            )
        })?;
        Ok(Self { handle })
    }

    pub fn set_labels(&mut self, labels: &[f32]) -> Result<()> {
        let field = c_string("label")?;
        // SAFETY: valid handle, NUL-terminated field, `labels.len()` floats; the library copies.
        check("XGDMatrixSetFloatInfo", unsafe {
            XGDMatrixSetFloatInfo(
                self.handle,
                field.as_ptr(),
                labels.as_ptr(),
                labels.len() as BstUlong,
            )
        })
    }
}

impl DMatrix {
    /// Labels of several targets: `labels` is rows × `targets`, row-major (for multi-output
    /// boosters).
    pub fn set_label_matrix(&mut self, labels: &[f32], targets: usize) -> Result<()> {
        if targets == 0 || !labels.len().is_multiple_of(targets) {
            return Err(XgbError::Shape {
                rows: labels.len() / targets.max(1),
                columns: targets,
                len: labels.len(),
            });
        }
        let field = c_string("label")?;
        // The array interface protocol: a pointer, a shape and a little-endian f32 type string.
        let interface = c_string(&format!(
            r#"{{"data": [{}, true], "shape": [{}, {targets}], "typestr": "<f4", "version": 3}}"#,
            labels.as_ptr() as usize,
            labels.len() / targets
        ))?;
        // SAFETY: valid handle; the interface describes `labels`, which outlives the call; the
        // library copies the labels.
        check("XGDMatrixSetInfoFromInterface", unsafe {
            XGDMatrixSetInfoFromInterface(self.handle, field.as_ptr(), interface.as_ptr())
        })
    }
}

impl Drop for DMatrix {
    fn drop(&mut self) {
        // SAFETY: the handle came from XGDMatrixCreateFromMat and is freed once.
        unsafe { XGDMatrixFree(self.handle) };
    }
}

/// One gradient-boosted model.
pub struct Booster {
    handle: BoosterHandle,
}

// SAFETY: the handle is owned exclusively by this value and XGBoost boosters may move between
// threads; the type is not `Sync`, so no two threads call into one booster at once.
unsafe impl Send for Booster {}

impl Booster {
    fn empty(training: &[&DMatrix]) -> Result<Self> {
        check_version()?;
        let handles: Vec<DMatrixHandle> = training.iter().map(|m| m.handle).collect();
        let mut handle = std::ptr::null_mut();
        // SAFETY: `handles` are live matrices (borrowed for this call); the library keeps its own
        // references.
        check("XGBoosterCreate", unsafe {
            XGBoosterCreate(handles.as_ptr(), handles.len() as BstUlong, &mut handle)
        })?;
        Ok(Self { handle })
    }

    /// Trains `rounds` boosting rounds on `training` (which must carry labels).
    pub fn train(
        training: &DMatrix,
        params: &[(&str, String)],
        feature_names: &[String],
        rounds: u32,
    ) -> Result<Self> {
        let booster = Self::empty(&[training])?;
        for (name, value) in params {
            booster.set_param(name, value)?;
        }
        booster.set_feature_names(feature_names)?;
        for iteration in 0..rounds {
            // SAFETY: both handles are live for the call.
            check("XGBoosterUpdateOneIter", unsafe {
                XGBoosterUpdateOneIter(booster.handle, iteration as c_int, training.handle)
            })?;
        }
        Ok(booster)
    }

    fn set_param(&self, name: &str, value: &str) -> Result<()> {
        let (name, value) = (c_string(name)?, c_string(value)?);
        // SAFETY: live handle and NUL-terminated strings.
        check("XGBoosterSetParam", unsafe {
            XGBoosterSetParam(self.handle, name.as_ptr(), value.as_ptr())
        })
    }

    fn set_feature_names(&self, names: &[String]) -> Result<()> {
        let owned = names
            .iter()
            .map(|n| c_string(n))
            .collect::<Result<Vec<_>>>()?;
        let pointers: Vec<*const c_char> = owned.iter().map(|n| n.as_ptr()).collect();
        let field = c_string("feature_name")?;
        // SAFETY: `pointers` point into `owned`, alive for the call; the library copies them.
        check("XGBoosterSetStrFeatureInfo", unsafe {
            XGBoosterSetStrFeatureInfo(
                self.handle,
                field.as_ptr(),
                pointers.as_ptr(),
                pointers.len() as BstUlong,
            )
        })
    }

    /// Loads a model from the bytes [`save_json`](Self::save_json) produced.
    pub fn load_json(bytes: &[u8]) -> Result<Self> {
        let booster = Self::empty(&[])?;
        // SAFETY: live handle; `bytes` is readable for its length; the library copies it.
        check("XGBoosterLoadModelFromBuffer", unsafe {
            XGBoosterLoadModelFromBuffer(
                booster.handle,
                bytes.as_ptr().cast(),
                bytes.len() as BstUlong,
            )
        })?;
        Ok(booster)
    }

    /// The model as XGBoost JSON.
    pub fn save_json(&self) -> Result<Vec<u8>> {
        let config = c_string(r#"{"format": "json"}"#)?;
        let mut len: BstUlong = 0;
        let mut data: *const c_char = std::ptr::null();
        // SAFETY: live handle; the output buffer belongs to the booster and stays valid until the
        // next call on it, so it is copied at once.
        check("XGBoosterSaveModelToBuffer", unsafe {
            XGBoosterSaveModelToBuffer(self.handle, config.as_ptr(), &mut len, &mut data)
        })?;
        // SAFETY: the library returned `len` bytes at `data`.
        Ok(unsafe { std::slice::from_raw_parts(data.cast::<u8>(), len as usize) }.to_vec())
    }

    pub fn num_features(&self) -> Result<usize> {
        let mut out: BstUlong = 0;
        // SAFETY: live handle, valid out pointer.
        check("XGBoosterGetNumFeature", unsafe {
            XGBoosterGetNumFeature(self.handle, &mut out)
        })?;
        Ok(out as usize)
    }

    /// One prediction per row of `matrix` (rows × targets, row-major, for a multi-output booster).
    pub fn predict(&self, matrix: &DMatrix) -> Result<Vec<f32>> {
        let mut len: BstUlong = 0;
        let mut out: *const c_float = std::ptr::null();
        // SAFETY: live handles; the result buffer is owned by the booster and copied at once.
        check("XGBoosterPredict", unsafe {
            XGBoosterPredict(self.handle, matrix.handle, 0, 0, 0, &mut len, &mut out)
        })?;
        // SAFETY: the library returned `len` floats at `out`.
        Ok(unsafe { std::slice::from_raw_parts(out, len as usize) }.to_vec())
    }

    /// Average gain of the splits on each feature that is used at all, by feature name.
    pub fn gain_importance(&self) -> Result<Vec<(String, f64)>> {
        let config = c_string(r#"{"importance_type": "gain"}"#)?;
        let mut n_features: BstUlong = 0;
        let mut features: *const *const c_char = std::ptr::null();
        let mut dim: BstUlong = 0;
        let mut shape: *const BstUlong = std::ptr::null();
        let mut scores: *const c_float = std::ptr::null();
        // SAFETY: live handle and valid out pointers; outputs are owned by the booster and copied
        // before any other call on it.
        check("XGBoosterFeatureScore", unsafe {
            XGBoosterFeatureScore(
                self.handle,
                config.as_ptr(),
                &mut n_features,
                &mut features,
                &mut dim,
                &mut shape,
                &mut scores,
            )
        })?;
        let n = n_features as usize;
        if n == 0 {
            return Ok(Vec::new());
        }
        // SAFETY: for a single-output model the library returns n names and n scores.
        let (names, values) = unsafe {
            (
                std::slice::from_raw_parts(features, n),
                std::slice::from_raw_parts(scores, n),
            )
        };
        Ok(names
            .iter()
            // SAFETY: each name is a NUL-terminated string owned by the booster.
            .map(|&name| {
                unsafe { CStr::from_ptr(name) }
                    .to_string_lossy()
                    .into_owned()
            })
            .zip(values.iter().map(|&v| f64::from(v)))
            .collect())
    }
}

impl Drop for Booster {
    fn drop(&mut self) {
        // SAFETY: the handle came from XGBoosterCreate and is freed once.
        unsafe { XGBoosterFree(self.handle) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_linked_library_is_the_pinned_release() {
        assert_eq!(library_version(), "3.4.1");
        check_version().unwrap();
    }

    #[test]
    fn library_errors_carry_its_message() {
        let error = Booster::load_json(b"not a model").err().unwrap();
        assert!(
            matches!(&error, XgbError::Call { call: "XGBoosterLoadModelFromBuffer", message } if !message.is_empty()),
            "{error}"
        );
    }

    #[test]
    fn a_matrix_of_the_wrong_shape_is_refused() {
        assert!(matches!(
            DMatrix::from_dense(&[1.0, 2.0, 3.0], 2, 2),
            Err(XgbError::Shape { .. })
        ));
    }
}
