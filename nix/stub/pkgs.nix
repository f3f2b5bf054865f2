# The nixpkgs package set as far as the project's Nix files use it. Functions check their
# arguments the way nixpkgs would reject them; packages are inert derivations.
{ lib, system }:
let
  inherit (builtins)
    all
    concatStringsSep
    filter
    isAttrs
    isFunction
    isList
    isString
    match
    removeAttrs
    toJSON
    ;

  fail = function: message: throw "${function}: ${message}";

  requireArgs =
    function: required: args:
    let
      missing = filter (name: !(args ? ${name})) required;
    in
    if missing == [ ] then
      true
    else
      fail function "missing required argument(s): ${concatStringsSep ", " missing}";

  requireDerivations =
    function: name: args:
    let
      value = args.${name} or [ ];
    in
    if !isList value then
      fail function "${name} must be a list"
    else if !(all lib.isDerivation value) then
      fail function "${name} must hold only derivations (a function not called? a set?)"
    else
      true;

  requireInputLists =
    function: args:
    all (name: requireDerivations function name args) [
      "nativeBuildInputs"
      "buildInputs"
      "packages"
      "inputsFrom"
      "contents"
    ];

  # SRI sha256 (what `hash` takes) or 64 hex digits (what `sha256` takes).
  requireHash =
    function: args:
    let
      hash = args.hash or args.sha256 or null;
      sri = match "sha256-[A-Za-z0-9+/]{43}=" hash;
      hex = match "[0-9a-f]{64}" hash;
    in
    if !(args ? url) then
      fail function "missing required argument: url"
    else if hash == null then
      fail function "missing required argument: hash (or sha256)"
    else if !isString hash || (sri == null && hex == null) then
      fail function "malformed hash '${toString hash}'"
    else
      true;

  # A derivation's attributes must be strings, numbers, booleans, paths, derivations or lists
  # of those; nested sets are serialised, functions dropped (the builder never runs anyway).
  toDerivationValue =
    value:
    if isAttrs value && !(lib.isDerivation value) && !(value ? outPath) then toJSON value else value;
  derivationArgs =
    args:
    lib.mapAttrs (_: toDerivationValue) (
      removeAttrs (lib.filterAttrs (_: value: !isFunction value) args) [
        "name"
        "system"
        "builder"
        "args"
        "outputs"
        "meta"
        "passthru"
        "env"
      ]
    )
    // (args.env or { });

  # An inert derivation: evaluates, instantiates and shows like a real one; building it fails.
  stub =
    name: args:
    derivation (
      derivationArgs args
      // {
        inherit name system;
        outputs = args.outputs or [ "out" ];
        builder = "/bin/sh";
        args = [
          "-c"
          "echo 'built from the evaluation-only nixpkgs stub (nix/stub)' >&2; exit 1"
        ];
      }
    )
    // {
      meta = args.meta or { };
    }
    // (args.passthru or { });

  package = name: stub name { };

  mkDerivation =
    args:
    assert
      args ? name
      || (args ? pname && args ? version)
      || fail "stdenv.mkDerivation" "needs name, or pname and version";
    assert requireInputLists "stdenv.mkDerivation" args;
    stub (args.name or "${args.pname}-${args.version}") args;

  # Fixed-output like the real fetchers, so the store path is the one the real fetch would
  # produce (for fetchurl: the URL's basename and the file's hash).
  fixedOutput =
    function: mode: defaultName: args:
    assert requireHash function args;
    stub (args.name or (defaultName args)) (
      removeAttrs args [
        "hash"
        "sha256"
      ]
      // {
        outputHashMode = mode;
        outputHashAlgo = "sha256";
        outputHash = args.hash or args.sha256;
      }
    );

  writeShellScriptBin =
    name: text:
    assert isString text || fail "writeShellScriptBin" "text must be a string";
    stub name { inherit text; };

  pythonPackages = lib.genAttrs [
    "openapi-spec-validator"
    "pyarrow"
  ] package;

  self = lib.genAttrs [
    "autoPatchelfHook"
    "cargo-nextest"
    "clang"
    "clippy"
    "curl"
    "deadnix"
    "ffmpeg-headless"
    "nixfmt-tree"
    "pkg-config"
    "prometheus"
    "rust-analyzer"
    "rustfmt"
    "unzip"
    "x264"
  ] package
  // {
    inherit lib writeShellScriptBin;

    callPackage =
      fn: overrides:
      let
        f = if isFunction fn then fn else import fn;
      in
      f (builtins.intersectAttrs (builtins.functionArgs f) self // overrides);

    stdenv = {
      inherit mkDerivation;
      hostPlatform = { inherit system; };
      cc = package "gcc-wrapper" // {
        cc = package "gcc" // {
          lib = package "gcc-lib";
        };
      };
    };

    fetchurl = fixedOutput "fetchurl" "flat" (args: baseNameOf args.url);
    fetchzip = fixedOutput "fetchzip" "recursive" (_: "source");

    runCommand =
      name: env: buildCommand:
      assert isAttrs env || fail "runCommand" "the second argument is the environment set";
      assert requireInputLists "runCommand" env;
      stub name (env // { inherit buildCommand; });

    mkShell =
      args:
      assert requireInputLists "mkShell" args;
      stub (args.name or "nix-shell") args;

    python3 = package "python3" // {
      withPackages =
        select:
        assert isFunction select || fail "python3.withPackages" "expects a function of the package set";
        stub "python3-env" { packages = select pythonPackages; };
    };

    rustPlatform = {
      bindgenHook = package "rust-bindgen-hook";
      buildRustPackage =
        args:
        assert requireArgs "rustPlatform.buildRustPackage" [ "pname" "version" "src" ] args;
        assert
          (args ? cargoLock && args.cargoLock ? lockFile)
          || args ? cargoHash
          || fail "rustPlatform.buildRustPackage" "needs cargoLock.lockFile or cargoHash";
        assert
          !(args ? cargoLock)
          || builtins.pathExists args.cargoLock.lockFile
          || fail "rustPlatform.buildRustPackage" "cargoLock.lockFile does not exist";
        assert requireInputLists "rustPlatform.buildRustPackage" args;
        mkDerivation (args // { cargoDeps = toString args.cargoLock.lockFile or args.cargoHash; });
    };

    dockerTools.buildLayeredImage =
      args:
      assert requireArgs "dockerTools.buildLayeredImage" [ "name" "tag" "contents" "config" ] args;
      assert requireInputLists "dockerTools.buildLayeredImage" args;
      assert
        isAttrs args.config || fail "dockerTools.buildLayeredImage" "config must be an attribute set";
      stub "${baseNameOf args.name}.tar.gz" (
        args
        // {
          passthru = {
            imageName = args.name;
            imageTag = args.tag;
          };
        }
      );
  };
in
self
