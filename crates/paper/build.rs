//! The paper links XGBoost through the `model` crate: give its tests, examples and binaries the
//! library's directory as an rpath (the model crate's own link arguments do not reach them).
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_XGBOOST_LIB_DIR");
    if let Ok(dir) = std::env::var("DEP_XGBOOST_LIB_DIR") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
}
