{
  description = "ComputeLocator: benchmark workloads in size-limited pods, measured, modelled and placed";

  # The only input. Everything else (libtorch, XGBoost) is fetched by the expressions in nix/,
  # pinned by hash to the versions scripts/setup installs on Debian.
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.11";

  outputs =
    { self, nixpkgs, ... }:
    let
      inherit (nixpkgs) lib;
      # The libtorch CPU build and the XGBoost wheel are published for x86_64 Linux only.
      systems = [ "x86_64-linux" ];
      forAllSystems = f: lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
      # One evaluation of nix/ per system, shared by every output below.
      # Recorded in every run's manifest, as git rev-parse does on the Debian path.
      gitRev = self.shortRev or (self.dirtyShortRev or "unknown");
      perSystem = forAllSystems (pkgs: import ./nix { inherit pkgs gitRev; });
      outputOf = name: lib.mapAttrs (_: project: project.${name}) perSystem;
    in
    {
      packages = outputOf "packages";
      apps = outputOf "apps";
      checks = outputOf "checks";
      devShells = outputOf "devShells";
      formatter = outputOf "formatter";
    };
}
