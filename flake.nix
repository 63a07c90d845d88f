{
  description = "sleeper: the smallest correct pause container, cross-built for every row of platforms.toml";

  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-26.05";
    crane.url = "github:ipetkov/crane";
    rust-overlay = {
      url = "github:oxalica/rust-overlay";
      inputs.nixpkgs.follows = "nixpkgs";
    };
  };

  # Thin wiring only; the logic lives in nix/ (see README.md).
  outputs =
    {
      self,
      nixpkgs,
      crane,
      rust-overlay,
    }:
    let
      inherit (nixpkgs) lib;

      platforms = import ./nix/platforms.nix { };

      forBuildSystems = lib.genAttrs platforms.buildSystems;

      # nix/packages.nix for a native package set `pkgs`; `hostSystem` picks `default`/`sleeper`.
      packagesFor =
        {
          pkgs,
          hostSystem ? pkgs.stdenv.hostPlatform.system,
        }:
        import ./nix/packages.nix {
          inherit
            pkgs
            crane
            rust-overlay
            platforms
            hostSystem
            ;
        };

      sleeperOf = system: packagesFor { pkgs = nixpkgs.legacyPackages.${system}; };
    in
    {
      packages = forBuildSystems (system: (sleeperOf system).packages);

      apps = forBuildSystems (system: (sleeperOf system).apps);

      checks = forBuildSystems (
        system:
        import ./nix/checks.nix {
          pkgs = nixpkgs.legacyPackages.${system};
          inherit platforms;
          sleeper = sleeperOf system;
          nixosModule = self.nixosModules.default;
        }
      );

      # `nix fmt` passes no paths; nixfmt-tree (treefmt with nixfmt) then formats every .nix file.
      formatter = forBuildSystems (system: nixpkgs.legacyPackages.${system}.nixfmt-tree);

      devShells = forBuildSystems (
        system:
        let
          pkgs = nixpkgs.legacyPackages.${system};
        in
        {
          default = pkgs.mkShell {
            packages = [
              (sleeperOf system).devToolchain
              pkgs.qemu-user
              pkgs.deadnix
              self.formatter.${system}
            ];
          };
        }
      );

      # Adds the sleeper packages, built on the build machine for the machine being configured.
      overlays.default =
        final: _prev:
        let
          sleeper = packagesFor {
            pkgs = final.buildPackages;
            hostSystem = final.stdenv.hostPlatform.system;
          };
        in
        {
          sleeper = sleeper.packages.sleeper;
          sleeper-image = sleeper.packages.default;
          sleeperPackages = sleeper.packages;
        };

      nixosModules.default = import ./nix/module.nix {
        packagesFor =
          pkgs:
          packagesFor {
            pkgs = pkgs.buildPackages;
            hostSystem = pkgs.stdenv.hostPlatform.system;
          };
      };
    };
}
