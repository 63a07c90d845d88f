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

  # The stable toolchain, pinned by exact version: the same rustc the cargo path uses.
  stableVersion = "1.96.0";
  # The nightly for rows whose rust-std is not shipped ("build-std" in platforms.toml).
  nightlyDate = "2026-05-27";

  prebuiltRows = lib.filter (row: !row.buildStd) platforms.rows;

  rustBin = p: rust-overlay.lib.mkRustBin { } p;

  # One toolchain with the prebuilt rust-std of every "prebuilt" row. rust-overlay refuses,
  # at evaluation, a target it has no rust-std for: a wrong "prebuilt" in the table fails early.
  stableFor =
    p:
    (rustBin p).stable.${stableVersion}.minimal.override {
      targets = map (row: row.rustTarget) prebuiltRows;
    };
  nightlyFor = p: (rustBin p).nightly.${nightlyDate}.minimal.override { extensions = [ "rust-src" ]; };

  craneStable = (crane.mkLib pkgs).overrideToolchain stableFor;
  craneNightly = (crane.mkLib pkgs).overrideToolchain nightlyFor;

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
      craneLib = if row.buildStd then craneNightly else craneStable;
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

        # The cargo path's build, word for word, apart from RUSTC_BOOTSTRAP (a nightly needs none).
        buildPhaseCargoCommand = ''
          cargo --config link/cargo.toml build -p sleeper --release --locked \
            --target ${row.rustTarget} ${buildStd}
        '';
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
        # -Zbuild-std compiles core from rust-src, whose Cargo.lock must be vendored too
        # (crane's examples/build-std). Reading it from the toolchain is import-from-derivation.
        cargoVendorDir = craneLib.vendorMultipleCargoDeps {
          inherit (craneLib.findCargoFiles src) cargoConfigs;
          cargoLockList = [
            ../Cargo.lock
            "${(nightlyFor pkgs).passthru.availableComponents.rust-src}/lib/rustlib/src/rust/library/Cargo.lock"
          ];
        };
      }
    );

  mkImage =
    row: binary:
    pkgs.dockerTools.buildImage {
      inherit (crate) name;
      # `docker load < result` gives sleeper:<version>.
      tag = crate.version;
      # dockerTools takes the Go name and has no variant: arm v5, v6 and v7 are all "arm".
      architecture = row.goArch;
      created = "1970-01-01T00:00:01Z";
      # A scratch image that holds /sleeper and nothing else.
      copyToRoot = pkgs.runCommand "sleeper-root-${row.name}" { } ''
        mkdir "$out"
        cp ${binary}/bin/sleeper "$out/sleeper"
      '';
      config = {
        Entrypoint = [ "/sleeper" ];
        User = "65534:65534";
        Labels = {
          "org.opencontainers.image.title" = crate.name;
          "org.opencontainers.image.description" = crate.description;
          "org.opencontainers.image.version" = crate.version;
          "org.opencontainers.image.source" = crate.repository;
          "org.opencontainers.image.licenses" = crate.license;
        };
      };
    };

  binaries = lib.listToAttrs (
    map (row: lib.nameValuePair row.binaryPackage (mkSleeper row)) platforms.rows
  );
  images = lib.listToAttrs (
    map (
      row: lib.nameValuePair row.imagePackage (mkImage row binaries.${row.binaryPackage})
    ) platforms.rows
  );

  host = platforms.forSystem hostSystem;
in
{
  inherit binaries images;

  # The stable toolchain with rust-src added: what the cargo path needs for every row
  # (RUSTC_BOOTSTRAP=1 ... -Zbuild-std=core), for the development shell.
  devToolchain = (rustBin pkgs).stable.${stableVersion}.minimal.override {
    targets = map (row: row.rustTarget) prebuiltRows;
    extensions = [
      "rust-src"
      "clippy"
      "rustfmt"
    ];
  };

  packages = binaries // images // {
    default = images.${host.imagePackage};
    sleeper = binaries.${host.binaryPackage};
  };
}
