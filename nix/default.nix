# Everything the flake exports for one system: packages, apps, checks, the dev shell and the
# formatter, all from one pinned nixpkgs.
{
  pkgs,
  # The flake's short revision ("<rev>-dirty" for an uncommitted tree).
  gitRev ? "unknown",
}:
let
  inherit (pkgs) lib;
  version = (lib.importTOML ../Cargo.toml).workspace.package.version;

  libtorch = pkgs.callPackage ./libtorch.nix { };
  xgboost = pkgs.callPackage ./xgboost.nix { };
  workspace = pkgs.callPackage ./workspace.nix {
    inherit
      libtorch
      xgboost
      version
      gitRev
      ;
  };
  images = pkgs.callPackage ./images.nix { inherit (workspace) binaries; inherit version; };

  # `nix run .#NAME -- ARGS` runs `computelocator SUBCOMMAND ARGS`. exec keeps the real binary's
  # path as the process image, so it still finds cl-target beside itself.
  subcommand =
    name:
    pkgs.writeShellScriptBin "computelocator-${name}" ''
      exec ${workspace.binaries.computelocator}/bin/computelocator ${name} "$@"
    '';
  app = package: program: {
    type = "app";
    program = "${package}/bin/${program}";
  };
in
{
  packages = {
    default = workspace.binaries.computelocator;
    computelocator = workspace.binaries.computelocator;
    cl-target = workspace.binaries.cl-target;
    cl-aggregator = workspace.binaries.cl-aggregator;
    cl-observer = workspace.binaries.cl-observer;
    inherit libtorch xgboost;
  }
  // images;

  apps = {
    default = app workspace.binaries.computelocator "computelocator";
    experiment = app (subcommand "experiment") "computelocator-experiment";
    paper = app (subcommand "paper") "computelocator-paper";
    cl-target = app workspace.binaries.cl-target "cl-target";
    cl-aggregator = app workspace.binaries.cl-aggregator "cl-aggregator";
  };

  checks = {
    build = workspace.binaries.computelocator;
  }
  // workspace.checks;

  devShells.default = pkgs.callPackage ./shell.nix { inherit libtorch xgboost workspace; };

  formatter = pkgs.nixfmt-tree;
}
