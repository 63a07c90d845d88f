# The sleeper binaries and images, one of each per row of platforms.toml.
#
# `pkgs` is a native package set of the machine that builds (x86_64-linux or aarch64-linux);
# every row is cross-built from it with `cargo --target`, like the cargo path does. The
# rustc flags, the linker and the linker script come from link/cargo.toml and link/sleeper.ld,
# the files the cargo path loads: nothing of them is repeated here.
{
  pkgs,
  crane,
  rust-overlay,
  platforms ? import ./platforms.nix { },
  # The system the binaries and images are for when one is picked as "the host's":
  # `default` (image) and `sleeper` (binary). The NixOS module and the overlay pass the
  # system of the machine being configured.
  hostSystem ? pkgs.stdenv.hostPlatform.system,
}:
let
  inherit (pkgs) lib;
  inherit (platforms) crate;
  image = import ./image.nix { inherit platforms; };

  inherit (import ./toolchain.nix) rustVersion libraryLock;

  prebuiltRows = lib.filter (row: !row.buildStd) platforms.rows;

  # The prebuilt rust-std of every "prebuilt" row, and rust-src for the "build-std" rows
  # (which compile core from it, with -Zbuild-std=core, as the cargo path does for all rows).
  # rust-overlay refuses, at evaluation, a target it has no rust-std for: a wrong "prebuilt"
  # in the table fails early.
  toolchainWith =
    extensions: p:
    (rust-overlay.lib.mkRustBin { } p).stable.${rustVersion}.minimal.override {
      targets = map (row: row.rustTarget) prebuiltRows;
      extensions = [ "rust-src" ] ++ extensions;
    };

  craneLib = (crane.mkLib pkgs).overrideToolchain (toolchainWith [ ]);

  # Only what cargo needs for `-p sleeper` in this workspace: the manifests, the lock, the
  # sources, the link files, and the test crate's manifest and library (a workspace member).
  src = lib.fileset.toSource {
    root = ../.;
    fileset = lib.fileset.unions [
      ../Cargo.toml
      ../Cargo.lock
      ../src
      ../link/cargo.toml
      ../link/sleeper.ld
      ../tests/Cargo.toml
      ../tests/src
    ];
  };

  mkSleeper =
    row:
    let
      buildStd = lib.optionalString row.buildStd "-Zbuild-std=core";
    in
    craneLib.buildPackage (
      {
        pname = "sleeper-${row.name}";
        inherit (crate) version;
        inherit src;
        strictDeps = true;

        # No dependency-only pre-build: it would build a dummy std `main` for the target.
        cargoArtifacts = null;
        # Nothing to test on the build machine; the checks run the binary under qemu-user.
        doCheck = false;

        # The cargo path's build, word for word.
        buildPhaseCargoCommand = ''
          cargo --config link/cargo.toml build -p sleeper --release --locked \
            --target ${row.rustTarget} ${buildStd}
        '';
        # What ships is rust-objcopy's output, installed below, not cargo's artifact: so crane's
        # post-build hook, which would copy the unstripped binary out of cargo's build log,
        # stays off.
        doNotPostBuildInstallCargoBinaries = true;
        # The cargo path's strip: rust-objcopy from the toolchain's own sysroot.
        installPhaseCommand = ''
          sysroot=$(rustc --print sysroot)
          host=$(rustc -vV | sed -n 's/^host: //p')
          mkdir -p "$out/bin"
          "$sysroot/lib/rustlib/$host/bin/rust-objcopy" --strip-sections \
            "''${CARGO_TARGET_DIR:-target}/${row.rustTarget}/release/sleeper" "$out/bin/sleeper"
        '';

        # The output must stay byte-identical to the cargo path's: no stdenv strip, no
        # patchelf, and no rewriting of store paths (there are none: allowedReferences).
        dontStrip = true;
        dontPatchELF = true;
        doNotRemoveReferencesToVendorDir = true;
        allowedReferences = [ ];

        passthru = { inherit row; };

        meta = {
          inherit (crate) description;
          homepage = crate.repository;
          mainProgram = "sleeper";
          platforms = lib.platforms.linux;
        };
      }
      // lib.optionalAttrs row.buildStd {
        # -Zbuild-std on a stable compiler, as the cargo path does.
        RUSTC_BOOTSTRAP = 1;
        # core's own dependencies must be vendored too (crane's examples/build-std), from the
        # committed library lock (nix/toolchain.nix).
        cargoVendorDir = craneLib.vendorMultipleCargoDeps {
          inherit (craneLib.findCargoFiles src) cargoConfigs;
          cargoLockList = [
            ../Cargo.lock
            libraryLock
          ];
        };
      }
    );

  mkImage =
    row: binary:
    pkgs.dockerTools.buildImage {
      inherit (image) name tag created;
      # dockerTools takes the Go name and has no variant: arm v5, v6 and v7 are all "arm"
      # here; the multi-arch index adds the variant.
      architecture = row.goArch;
      copyToRoot = pkgs.runCommand "sleeper-root-${row.name}" { } ''
        mkdir "$out"
        cp ${binary}/bin/sleeper "$out${image.binaryPath}"
      '';
      inherit (image) config;
    };

  binaries = lib.listToAttrs (
    map (row: lib.nameValuePair row.binaryPackage (mkSleeper row)) platforms.rows
  );
  images = lib.listToAttrs (
    map (
      row: lib.nameValuePair row.imagePackage (mkImage row binaries.${row.binaryPackage})
    ) platforms.rows
  );

  # All rows' images as one OCI image layout whose index lists every platform, so that a
  # registry serves each machine its own; scripts/oci-layout is the cargo path's assembler too.
  multiarch = pkgs.runCommand "sleeper-oci-${image.tag}" { nativeBuildInputs = [ pkgs.jq ]; } ''
    bash ${../scripts/oci-layout} index --out "$out" --tag ${image.tag} ${
      lib.concatMapStringsSep " " (row: "${row.ociPlatform}=${images.${row.imagePackage}}") platforms.rows
    }
  '';

  # `nix run .#push -- docker://REGISTRY/sleeper:TAG` pushes every platform of the layout.
  push = pkgs.writeShellApplication {
    name = "sleeper-push";
    runtimeInputs = [
      pkgs.podman
      pkgs.jq
    ];
    text = ''
      exec bash ${../scripts/oci-layout} push ${multiarch}:${image.tag} "$@"
    '';
  };

  host = platforms.forSystem hostSystem;
in
{
  inherit binaries images multiarch;

  # The build toolchain plus clippy and rustfmt, for the development shell.
  devToolchain = toolchainWith [
    "clippy"
    "rustfmt"
  ] pkgs;

  packages =
    binaries
    // images
    // {
      image-multiarch = multiarch;
      inherit push;
      default = images.${host.imagePackage};
      sleeper = binaries.${host.binaryPackage};
    };

  apps.push = {
    type = "app";
    program = lib.getExe push;
    meta.description = "Push the multi-arch index of every platform: nix run .#push -- docker://REGISTRY/sleeper:TAG";
  };
}
