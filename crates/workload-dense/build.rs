//! Records the libtorch version this crate is compiled against (from the headers under
//! `$LIBTORCH`, the same ones torch-sys builds with) as `LIBTORCH_VERSION`. A missing or
//! unexpected header yields "unknown" rather than a failed build.

use std::path::PathBuf;

const VERSION_HEADER: &str = "torch/csrc/api/include/torch/version.h";

fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    println!("cargo:rerun-if-env-changed=LIBTORCH_INCLUDE");
    let version = header_candidates()
        .into_iter()
        .find_map(|header| {
            println!("cargo:rerun-if-changed={}", header.display());
            std::fs::read_to_string(&header)
                .ok()
                .and_then(|text| parse_version(&text))
        })
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=LIBTORCH_VERSION={version}");
}

/// Where torch-sys looks for headers: `$LIBTORCH_INCLUDE/include`, then `$LIBTORCH/include`.
fn header_candidates() -> Vec<PathBuf> {
    ["LIBTORCH_INCLUDE", "LIBTORCH"]
        .iter()
        .filter_map(std::env::var_os)
        .map(|root| PathBuf::from(root).join("include").join(VERSION_HEADER))
        .collect()
}

/// Reads `TORCH_VERSION_{MAJOR,MINOR,PATCH}` from the header text.
fn parse_version(header: &str) -> Option<String> {
    let component = |name: &str| -> Option<u32> {
        header.lines().find_map(|line| {
            let mut words = line.split_whitespace();
            match (words.next(), words.next(), words.next()) {
                (Some("#define"), Some(defined), Some(value)) if defined == name => {
                    value.parse().ok()
                }
                _ => None,
            }
        })
    };
    let major = component("TORCH_VERSION_MAJOR")?;
    let minor = component("TORCH_VERSION_MINOR")?;
    let patch = component("TORCH_VERSION_PATCH")?;
    Some(format!("{major}.{minor}.{patch}"))
}
