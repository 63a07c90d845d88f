# What `nix flake check` builds on each build system:
#   size-<name>        the binary is at most its size-budget from platforms.toml;
#   image-size-<name>  the gzipped docker archive is at most its image-budget;
#   smoke-<name>       tests/smoke.sh under nixpkgs' qemu-user, in the build sandbox;
#   smoke-native       tests/smoke.sh on the build machine's own binary, without qemu;
#   layout-size        the multi-arch OCI layout is at most platforms.toml's layout-budget;
#   nix-lint           deadnix and nixfmt --check over every .nix file;
#   vm-pod-podman,
#   vm-pod-docker      the NixOS module in a VM, per backend (x86_64-linux only; needs kvm).
{
  pkgs,
  platforms,
  sleeper,
  nixosModule,
}:
let
  inherit (pkgs) lib;
  inherit (pkgs.stdenv.hostPlatform) system;

  smokeScript = ../tests/smoke.sh;

  perRow =
    row:
    let
      binary = sleeper.binaries.${row.binaryPackage};
      image = sleeper.images.${row.imagePackage};
    in
    {
      "size-${row.name}" = pkgs.runCommand "sleeper-size-${row.name}" { } ''
        size=$(stat -c %s ${binary}/bin/sleeper)
        echo "sleeper-${row.name}: $size bytes, budget ${toString row.sizeBudget}"
        if [ "$size" -gt ${toString row.sizeBudget} ]; then
          echo "FAIL: sleeper-${row.name} is $size bytes, over its size-budget of ${toString row.sizeBudget} in platforms.toml" >&2
          exit 1
        fi
        echo "$size" > "$out"
      '';

      "image-size-${row.name}" = pkgs.runCommand "sleeper-image-size-${row.name}" { } ''
        size=$(stat -c %s ${image})
        echo "image-${row.name}: $size bytes gzipped, budget ${toString row.imageBudget}"
        if [ "$size" -gt ${toString row.imageBudget} ]; then
          echo "FAIL: image-${row.name} is $size bytes, over its image-budget of ${toString row.imageBudget} in platforms.toml" >&2
          exit 1
        fi
        echo "$size" > "$out"
      '';

      "smoke-${row.name}" =
        pkgs.runCommand "sleeper-smoke-${row.name}" { nativeBuildInputs = [ pkgs.qemu-user ]; }
          ''
            set -o pipefail
            bash ${smokeScript} ${binary}/bin/sleeper ${row.qemu} | tee "$out"
          '';
    };

  host = platforms.forSystem system;
in
lib.foldl' (acc: row: acc // perRow row) { } platforms.rows
// {
  layout-size = pkgs.runCommand "sleeper-layout-size" { } ''
    size=$(find ${sleeper.multiarch} -type f -printf '%s\n' | awk '{ total += $1 } END { print total }')
    echo "image-multiarch: $size bytes in all, budget ${toString platforms.layoutBudget}"
    if [ "$size" -gt ${toString platforms.layoutBudget} ]; then
      echo "FAIL: image-multiarch is $size bytes, over the layout-budget of ${toString platforms.layoutBudget} in platforms.toml" >&2
      exit 1
    fi
    echo "$size" > "$out"
  '';

  smoke-native = pkgs.runCommand "sleeper-smoke-native" { } ''
    set -o pipefail
    bash ${smokeScript} ${sleeper.binaries.${host.binaryPackage}}/bin/sleeper | tee "$out"
  '';

  nix-lint =
    let
      nixFiles = lib.fileset.toSource {
        root = ../.;
        fileset = lib.fileset.fileFilter (file: file.hasExt "nix") ../.;
      };
    in
    pkgs.runCommand "sleeper-nix-lint"
      {
        nativeBuildInputs = [
          pkgs.deadnix
          pkgs.nixfmt
        ];
      }
      ''
        cd ${nixFiles}
        files=$(find . -name '*.nix' | sort)
        echo "checking:" $files
        deadnix --fail $files
        nixfmt --check $files
        touch "$out"
      '';
}
// lib.optionalAttrs (system == "x86_64-linux") (
  lib.genAttrs' [ "podman" "docker" ] (
    backend:
    lib.nameValuePair "vm-pod-${backend}" (import ./vm-test.nix { inherit pkgs nixosModule backend; })
  )
)
