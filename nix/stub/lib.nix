# The part of nixpkgs' `lib` the project's Nix files use, with the same semantics.
let
  inherit (builtins)
    all
    attrNames
    concatMap
    filter
    isPath
    listToAttrs
    pathExists
    ;
  nameValuePair = name: value: { inherit name value; };
  genAttrs = names: f: listToAttrs (map (name: nameValuePair name (f name)) names);

  isFileset = value: value._type or null == "fileset";
  filesetPaths = value: if isFileset value then value.paths else [ value ];
in
{
  inherit genAttrs nameValuePair;
  inherit (builtins) mapAttrs;

  filterAttrs =
    pred: set:
    listToAttrs (
      map (name: nameValuePair name set.${name}) (filter (name: pred name set.${name}) (attrNames set))
    );
  inherit concatMap;
  concatStrings = builtins.concatStringsSep "";
  concatMapStrings = f: list: builtins.concatStringsSep "" (map f list);
  inherit (builtins) concatLists listToAttrs;
  mapAttrsToList = f: set: map (name: f name set.${name}) (attrNames set);
  optionalString = condition: string: if condition then string else "";
  importTOML = path: builtins.fromTOML (builtins.readFile path);
  escapeShellArg =
    arg: "'" + builtins.replaceStrings [ "'" ] [ "'\\''" ] (toString arg) + "'";
  assertMsg = pred: msg: pred || throw msg;

  isDerivation = value: value.type or null == "derivation";

  # nixpkgs' lib.fileset refuses paths that do not exist; so does this one. The source it
  # returns is the whole root (the flake's own store copy), not a filtered one.
  fileset = {
    unions =
      members:
      assert all (member: isFileset member || isPath member) members;
      {
        _type = "fileset";
        paths = concatMap filesetPaths members;
      };
    toSource =
      { root, fileset }:
      let
        missing = filter (path: !pathExists path) (filesetPaths fileset);
      in
      if !isPath root then
        throw "lib.fileset.toSource: root must be a path"
      else if missing != [ ] then
        throw "lib.fileset.toSource: these paths do not exist: ${toString missing}"
      else
        root;
  };

  licenses = genAttrs [
    "asl20"
    "bsd3"
    "mit"
  ] (spdxId: { inherit spdxId; });
}
