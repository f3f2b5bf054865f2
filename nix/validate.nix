# Checks of the flake's outputs and lock that `nix flake check` does not make (Nix 2.8 does not
# look inside apps at all). Each function returns the list of problems it found; check-offline
# prints them and fails if any list is non-empty.
let
  inherit (builtins)
    attrNames
    concatMap
    filter
    isString
    match
    toJSON
    ;
  missingNames = what: expected: set: map (name: "${what} '${name}' is missing") (
    filter (name: !(set ? ${name})) expected
  );
in
{
  # flake.lock: the format Nix 2.8 reads, nixpkgs as the only input, locked to a revision of
  # the branch flake.nix names.
  lock =
    { lockFile, flakeFile }:
    let
      lock = builtins.fromJSON (builtins.readFile lockFile);
      url = (import flakeFile).inputs.nixpkgs.url;
      nixpkgs = lock.nodes.nixpkgs or { };
      locked = nixpkgs.locked or { };
      original = nixpkgs.original or { };
      check = ok: message: if ok then [ ] else [ message ];
    in
    check (lock.version or null == 7) "flake.lock: version must be 7"
    ++ check (lock.root or null == "root") "flake.lock: root must be \"root\""
    ++ check (attrNames lock.nodes == [
      "nixpkgs"
      "root"
    ]) "flake.lock: nodes must be exactly nixpkgs and root, found ${toString (attrNames lock.nodes)}"
    ++ check (lock.nodes.root.inputs or { } == {
      nixpkgs = "nixpkgs";
    }) "flake.lock: the root's only input must be nixpkgs"
    ++ check (
      locked.type or null == "github" && locked.owner or null == "NixOS" && locked.repo or null == "nixpkgs"
    ) "flake.lock: nixpkgs must be locked to github:NixOS/nixpkgs"
    ++ check (match "[0-9a-f]{40}" (locked.rev or "") != null) "flake.lock: nixpkgs rev must be 40 hex digits"
    ++ check (
      match "sha256-[A-Za-z0-9+/]{43}=" (locked.narHash or "") != null
    ) "flake.lock: nixpkgs narHash must be an SRI sha256"
    ++ check (builtins.isInt (locked.lastModified or null)) "flake.lock: nixpkgs lastModified must be an integer"
    ++ check (
      url == "github:${original.owner or ""}/${original.repo or ""}/${original.ref or ""}"
    ) "flake.lock: nixpkgs original (${toJSON original}) does not match flake.nix's url ${url}";

  apps =
    apps:
    missingNames "app" [
      "default"
      "experiment"
      "paper"
    ] apps
    ++ concatMap (
      name:
      let
        app = apps.${name};
      in
      (if app.type or null == "app" then [ ] else [ "app '${name}': type must be \"app\", is ${toJSON (app.type or null)}" ])
      ++ (
        if isString (app.program or null) && match "/nix/store/[^/]+/bin/[^/]+" app.program != null then
          [ ]
        else
          [ "app '${name}': program must be a string /nix/store/…/bin/NAME, is ${toJSON (app.program or null)}" ]
      )
    ) (attrNames apps);

  packages =
    { packages, version }:
    missingNames "package" [
      "default"
      "computelocator"
      "cl-target"
      "cl-aggregator"
      "target-image"
      "aggregator-image"
      "harness-image"
    ] packages
    ++ concatMap (
      component:
      let
        image = packages."${component}-image" or { };
        expected = "computelocator/${component}:${version}";
        actual = "${image.imageName or "?"}:${image.imageTag or "?"}";
      in
      if actual == expected then [ ] else [ "image ${component}: expected ${expected}, found ${actual}" ]
    ) [
      "target"
      "aggregator"
      "harness"
    ];

  checks =
    checks:
    missingNames "check" [
      "build"
      "tests"
      "paper-snapshots"
      "manifest-drift"
      "clippy"
      "fmt"
    ] checks;

  # "name:tag" of every image the flake builds, for comparing with the Kubernetes manifests.
  imageRefs =
    packages:
    map (name: "${packages.${name}.imageName}:${packages.${name}.imageTag}") (
      filter (name: packages.${name} ? imageName) (attrNames packages)
    );
}
