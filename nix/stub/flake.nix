# A stand-in for nixpkgs, for evaluating this project's flake where nixpkgs cannot be fetched
# (`nix/check-offline` passes `--override-input nixpkgs path:<this directory>`).
#
# It mimics only the nixpkgs functions the flake calls, with the same names and argument
# names, and asserts what nixpkgs requires of their arguments (buildRustPackage needs pname,
# version, src and cargoLock.lockFile; fetchers need a url and a well-formed hash; images need
# name, tag, contents and config; input lists hold derivations). Every result is a
# derivation-shaped value with a real drvPath that cannot be built.
#
# What evaluating against it proves: the flake's wiring (every output exists and is of the
# right kind), names (packages, apps, checks, images, binaries), shapes (apps are type "app"
# with a program path in the store) and that every call passes the arguments nixpkgs requires.
# What it cannot prove: that anything builds or runs, that the fetch URLs and hashes are
# right, that the real nixpkgs functions behave as mimicked, or that the pinned nixpkgs has
# these attribute names. Only a real `nix flake check` with network access proves those.
{
  description = "Evaluation-only stand-in for the nixpkgs functions this project's flake uses";

  outputs =
    { self }:
    let
      lib = import ./lib.nix;
      system = "x86_64-linux";
    in
    {
      inherit lib;
      legacyPackages.${system} = import ./pkgs.nix { inherit lib system; };
      # Keeps deadnix from reporting the conventional `self` argument as unused.
      stubRoot = self.outPath;
    };
}
