# The Cargo workspace built with the pinned nixpkgs' Rust toolchain, against the same libtorch
# and XGBoost as the Debian path (FFmpeg and x264 come from nixpkgs; their versions go into
# every run's manifest). Returns the binaries and the workspace's checks.
{
  lib,
  rustPlatform,
  pkg-config,
  ffmpeg-headless,
  cargo-nextest,
  clippy,
  rustfmt,
  python3,
  runCommand,
  libtorch,
  xgboost,
  version,
  # The flake's revision, for each run's provenance (the sandbox has no git to ask).
  gitRev,
}:
let
  tests = import ./sandbox-tests.nix;

  # What cargo and the tests read; a git flake sees only tracked files, and this narrows it
  # further so that editing docs or scripts does not rebuild the workspace.
  src = lib.fileset.toSource {
    root = ../.;
    fileset = lib.fileset.unions [
      ../Cargo.toml
      ../Cargo.lock
      ../.config/nextest.toml
      ../crates
      ../experiments
      ../data/reference
      ../paper
      ../k8s
    ];
  };

  # One output per image: each holds only its binaries' closure. The observer sidecar runs from
  # the target image. `computelocator` starts `cl-target` from its own directory, hence the link
  # in `out`.
  binaryOutputs = {
    out = [ "computelocator" ];
    target = [
      "cl-target"
      "cl-observer"
    ];
    aggregator = [ "cl-aggregator" ];
  };
  targetOutput = "target";
  targetBinary = "cl-target";

  common = {
    pname = "computelocator";
    inherit version src;
    cargoLock.lockFile = ../Cargo.lock;

    nativeBuildInputs = [
      pkg-config
      rustPlatform.bindgenHook
    ];
    buildInputs = [
      ffmpeg-headless
      libtorch
      xgboost
    ];
    # The Debian path sets these in .cargo/config.toml (left out of `src`: its values are
    # Debian paths). torch-sys reads $LIBTORCH/{include,lib}; the model crate links and
    # rpaths $XGBOOST_LIB_DIR.
    env = {
      LIBTORCH = "${libtorch}";
      XGBOOST_LIB_DIR = "${xgboost}/lib";
      CL_GIT_REV = gitRev;
    };

    meta = {
      description = "Runs benchmark workloads in size-limited pods, measures them and predicts where to place them";
      license = lib.licenses.mit;
      platforms = [ "x86_64-linux" ];
      mainProgram = "computelocator";
    };
  };

  build =
    assert builtins.elem targetBinary binaryOutputs.${targetOutput};
    rustPlatform.buildRustPackage (
    common
    // {
      outputs = builtins.attrNames binaryOutputs;
      cargoBuildFlags = lib.concatMap (bin: [
        "--bin"
        bin
      ]) (lib.concatLists (builtins.attrValues binaryOutputs));
      # Tests run as the checks below, each with the subset the build sandbox allows.
      doCheck = false;
      postInstall =
        lib.concatStrings (
          lib.mapAttrsToList (
            output: bins:
            lib.optionalString (output != "out") (
              lib.concatMapStrings (bin: "moveToOutput bin/${bin} \"\$${output}\"\n") bins
            )
          ) binaryOutputs
        )
        + ''
          ln -s "''$${targetOutput}/bin/${targetBinary}" "$out/bin/${targetBinary}"
        '';
    }
  );

  # A check: the workspace's sources and vendored crates, one cargo command instead of the
  # build, and an empty result.
  cargoCheck =
    name:
    {
      command,
      extraInputs ? [ ],
    }:
    rustPlatform.buildRustPackage (
      common
      // {
        pname = "computelocator-${name}";
        nativeBuildInputs = common.nativeBuildInputs ++ extraInputs;
        # The tests write into temporary directories only; insta must not write new snapshots.
        env = common.env // {
          INSTA_UPDATE = "no";
          CI = "true";
        };
        buildPhase = ''
          runHook preBuild
          ${command}
          runHook postBuild
        '';
        installPhase = ''
          runHook preInstall
          touch $out
          runHook postInstall
        '';
        doCheck = false;
      }
    );

  nextest =
    filter:
    "cargo nextest run --offline --workspace --cargo-profile release --no-fail-fast "
    + "--test-threads $NIX_BUILD_CORES -E ${lib.escapeShellArg filter}";
  testInputs = [
    cargo-nextest
    # The dataset must load outside Rust (the pyarrow test), and the aggregator's OpenAPI document
    # must validate (openapi-spec-validator): both tests run python3.
    (python3.withPackages (ps: [
      ps.pyarrow
      ps.openapi-spec-validator
    ]))
  ];
in
{
  # Binary name → the output holding it.
  binaries = lib.listToAttrs (
    lib.concatLists (
      lib.mapAttrsToList (output: map (bin: lib.nameValuePair bin build.${output})) binaryOutputs
    )
  );

  checks = {
    tests = cargoCheck "tests" {
      command = nextest tests.sandbox;
      extraInputs = testInputs;
    };
    paper-snapshots = cargoCheck "paper-snapshots" {
      command = nextest tests.paperSnapshots;
      extraInputs = testInputs;
    };
    manifest-drift = cargoCheck "manifest-drift" {
      command = nextest tests.manifestDrift;
      extraInputs = testInputs;
    };
    clippy = cargoCheck "clippy" {
      command = "cargo clippy --offline --workspace --all-targets -- -D warnings";
      extraInputs = [ clippy ];
    };
    # rustfmt alone: no build, no vendored crates.
    fmt = runCommand "computelocator-fmt" { nativeBuildInputs = [ rustfmt ]; } ''
      cd ${src}
      find crates -name '*.rs' -print0 | xargs -0 rustfmt --check --edition 2024
      touch $out
    '';
  };
}
