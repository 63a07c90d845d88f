# The platform mapping, read from the one table: platforms.toml at the repository root.
# Pure: it needs neither nixpkgs nor a build, so `nix-instantiate --eval` tests it anywhere
# (tests/tests/flake.rs does, against its own reading of the same file).
{
  platformsToml ? ../platforms.toml,
  cargoToml ? ../Cargo.toml,
}:
let
  inherit (builtins)
    all
    elem
    filter
    foldl'
    fromTOML
    genericClosure
    hasAttr
    length
    listToAttrs
    map
    readFile
    throw
    ;

  table = fromTOML (readFile platformsToml);
  crate = (fromTOML (readFile cargoToml)).package;

  required = [
    "name"
    "docker"
    "nix-system"
    "rust-target"
    "rust-std"
    "qemu"
    "elf-machine"
    "size-budget"
    "image-budget"
  ];

  check =
    row:
    let
      missing = filter (key: !(hasAttr key row)) required;
    in
    if missing != [ ] then
      throw "platforms.toml: row ${row.name or "?"} lacks ${toString missing}"
    else if
      !(elem row.rust-std [
        "prebuilt"
        "build-std"
      ])
    then
      throw "platforms.toml: row ${row.name}: rust-std must be \"prebuilt\" or \"build-std\""
    else
      row;

  normalise =
    raw:
    let
      row = check raw;
      variant = row.docker.variant or null;
    in
    {
      inherit (row) name qemu;
      os = row.docker.os;
      goArch = row.docker.architecture;
      inherit variant;
      ociPlatform =
        "${row.docker.os}/${row.docker.architecture}" + (if variant == null then "" else "/${variant}");
      nixSystem = row.nix-system;
      rustTarget = row.rust-target;
      rustStd = row.rust-std;
      buildStd = row.rust-std == "build-std";
      elfMachine = row.elf-machine;
      sizeBudget = row.size-budget;
      imageBudget = row.image-budget;
      binaryPackage = "sleeper-${row.name}";
      imagePackage = "image-${row.name}";
    };

  rows = map normalise table.platform;

  unique =
    what: values:
    let
      distinct = genericClosure {
        startSet = map (key: { inherit key; }) values;
        operator = _: [ ];
      };
    in
    if length distinct == length values then values else throw "platforms.toml: duplicate ${what}";

  byKey =
    key:
    listToAttrs (
      map (row: {
        name = row.${key};
        value = row;
      }) rows
    );

  byName = byKey "name";
  bySystem = byKey "nixSystem";

  # The systems that build everything. Each must also be a row, so that `default`
  # (the image for the build host) and `sleeper` (the host binary) exist.
  buildSystems = filter (system: hasAttr system bySystem) [
    "x86_64-linux"
    "aarch64-linux"
  ];
in
assert length (unique "name" (map (row: row.name) rows)) > 0;
assert length (unique "nix-system" (map (row: row.nixSystem) rows)) > 0;
assert all (system: hasAttr system bySystem) buildSystems;
{
  inherit
    rows
    byName
    bySystem
    buildSystems
    ;

  names = map (row: row.name) rows;

  # The ceiling in bytes for the multi-arch OCI layout of all rows.
  layoutBudget = table.multiarch.layout-budget;

  packageNames = foldl' (
    acc: row:
    acc
    ++ [
      row.binaryPackage
      row.imagePackage
    ]
  ) [ ] rows;

  # Which row a system runs: the image and binary that are `default` and `sleeper` there.
  forSystem =
    system: bySystem.${system} or (throw "sleeper: no row of platforms.toml has nix-system ${system}");

  # The fields the image labels and the packages' metadata come from.
  crate = {
    inherit (crate)
      name
      version
      description
      license
      repository
      ;
  };
}
