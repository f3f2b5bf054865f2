# `nix develop`: what scripts/setup installs on Debian, from the same pins where they matter
# (libtorch 1.13.1, XGBoost 3.4.1) and from nixpkgs otherwise (FFmpeg, x264, Prometheus,
# pyarrow, whose versions differ from Debian's).
{
  mkShell,
  clippy,
  rustfmt,
  rust-analyzer,
  cargo-nextest,
  clang,
  python3,
  prometheus,
  unzip,
  curl,
  deadnix,
  nixfmt-tree,
  libtorch,
  xgboost,
  workspace,
}:
mkShell {
  # The build's compilers and libraries: cargo, rustc, pkg-config, bindgen's libclang, FFmpeg.
  inputsFrom = [ workspace.binaries.computelocator ];
  packages = [
    clippy
    rustfmt
    rust-analyzer
    cargo-nextest
    clang
    (python3.withPackages (ps: [
      ps.pyarrow
      ps.openapi-spec-validator
    ]))
    prometheus
    unzip
    curl
    deadnix
    nixfmt-tree
  ];
  # Set here, these win over .cargo/config.toml's Debian paths (cargo does not override them).
  LIBTORCH = "${libtorch}";
  XGBOOST_LIB_DIR = "${xgboost}/lib";
}
