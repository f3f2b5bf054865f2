//! Links the vendored XGBoost library and records its directory as an rpath, so binaries and
//! tests find `libxgboost.so.3` without LD_LIBRARY_PATH.

fn main() {
    println!("cargo:rerun-if-env-changed=XGBOOST_LIB_DIR");
    match std::env::var("XGBOOST_LIB_DIR") {
        Ok(dir) => {
            println!("cargo:rustc-link-search=native={dir}");
            println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
            // Link args do not reach dependants' binaries; they read this and add the rpath.
            println!("cargo:lib_dir={dir}");
        }
        Err(_) => println!(
            "cargo:warning=XGBOOST_LIB_DIR is not set (see .cargo/config.toml); linking libxgboost from the system path"
        ),
    }
    println!("cargo:rustc-link-lib=dylib=xgboost");
}
