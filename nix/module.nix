# nixosModules.default: pods of containers that share a namespace holder.
#
# A pod `services.sleeper.pods.<name>` is a `virtualisation.oci-containers` container named
# <name> that runs this flake's image (loaded from the Nix store, never pulled) and holds the
# network namespace, and optionally the PID namespace, for its members: existing
# `virtualisation.oci-containers.containers` entries, which this module joins to it and binds to
# its lifetime. Works with either backend of oci-containers (podman or docker).
#
# `packagesFor` is nix/packages.nix applied to crane and rust-overlay (see flake.nix); it gives
# the image for the configured machine's system from the build machine's package set.
{ packagesFor }:
{
  config,
  lib,
  pkgs,
  ...
}:
let
  inherit (lib)
    concatMap
    literalExpression
    literalMD
    mapAttrs
    mapAttrs'
    mapAttrsToList
    mkIf
    mkOption
    optional
    types
    ;

  cfg = config.services.sleeper;
  oci = config.virtualisation.oci-containers;

  imageRef = "${cfg.imageFile.imageName}:${cfg.imageFile.imageTag}";

  unitOf = name: oci.containers.${name}.serviceName or "${oci.backend}-${name}";
  serviceOf = name: "${unitOf name}.service";

  # How long a docker holder's unit waits for its container to run before it fails (and
  # Restart=always tries again). Natively it runs within a second; under emulation on a loaded
  # machine, 25 s.
  holderReadySeconds = 300;

  podOptions =
    { name, ... }:
    {
      options = {
        autoStart = mkOption {
          type = types.bool;
          default = true;
          description = ''
            Whether the holder starts at boot. The members follow the holder: they are
            started with it, stopped with it and restarted with it, and their own `autoStart`
            defaults to this value.
          '';
        };

        ports = mkOption {
          type = types.listOf types.str;
          default = [ ];
          example = [
            "53:53/udp"
            "53:53/tcp"
          ];
          description = ''
            Ports published from the pod's network namespace to the host, in the format of
            `virtualisation.oci-containers.containers.<name>.ports`. The members share the
            namespace, so a member's listening socket is reachable through these; members
            cannot publish ports of their own.
          '';
        };

        extraOptions = mkOption {
          type = types.listOf types.str;
          default = [ ];
          example = [
            "--network=anycast"
            "--ip=192.0.2.53"
          ];
          description = ''
            Extra options for the holder's `run` command: its own networking (`--network=...`,
            `--ip=...`, `--ip6=...`, `--mac-address=...`, `--dns=...`, `--hostname=...`) and
            anything else the backend accepts. The members inherit the network namespace
            that these options create.
          '';
        };

        members = mkOption {
          type = types.listOf types.str;
          default = [ ];
          example = [
            "bird"
            "unbound"
          ];
          description = ''
            Names of entries of `virtualisation.oci-containers.containers` that join this pod.
            Each member runs with `--network=container:${name}` (and `--pid=container:${name}`
            when `sharePid` is set), depends on the holder (`dependsOn`), and its systemd unit
            is bound to the holder's (`bindsTo`, `partOf`, and wanted by it): stopping the
            holder stops the members, restarting it restarts them into the new namespace.
            A member must not set networking of its own (`ports`, `networks`, `hostname`, or
            `--network`, `--hostname`, `--dns`, `--ip`, ... in `extraOptions`): an assertion
            names what it finds. Its `autoStart` defaults to the pod's.
          '';
        };

        sharePid = mkOption {
          type = types.bool;
          default = false;
          example = true;
          description = ''
            Whether the members also join the holder's PID namespace. sleeper is then PID 1 of
            the pod and reaps the members' orphaned zombies, as the Kubernetes pause container
            does with `shareProcessNamespace`.
          '';
        };
      };
    };

  podNames = builtins.attrNames cfg.pods;

  # `run` options that set up a network namespace's configuration, which a container that joins
  # another's namespace cannot have (docker and podman refuse them, or ignore them silently).
  # Each is matched as `--flag`, `--flag=value` and `--flag value` (the flag alone is an element).
  networkingFlags = [
    "--network"
    "--net"
    "-p"
    "--publish"
    "-P"
    "--publish-all"
    "--expose"
    "--hostname"
    "-h"
    "--dns"
    "--dns-option"
    "--dns-opt"
    "--dns-search"
    "--add-host"
    "--ip"
    "--ip6"
    "--mac-address"
    "--network-alias"
  ];

  # (member, pod) pairs of every pod.
  memberships = concatMap (
    pod: map (member: { inherit member pod; }) cfg.pods.${pod}.members
  ) podNames;
in
{
  # Error messages and the option docs name this file, not <unknown-file>.
  _file = ./module.nix;
  _class = "nixos";

  options.services.sleeper = {
    imageFile = mkOption {
      type = types.package;
      default = (packagesFor pkgs).packages.default;
      defaultText = literalMD "this flake's image for the configured machine's system (`packages.<system>.default`)";
      description = ''
        The docker-archive of the sleeper image that every pod's holder runs, loaded from the
        Nix store with `docker load`/`podman load`. The default is this flake's image for the
        configured machine's platform, built from the build machine's package set (every row
        of platforms.toml is cross-built). It must come from `pkgs.dockerTools.buildImage`
        (its `imageName` and `imageTag` name the image that is run).
      '';
    };

    pods = mkOption {
      type = types.attrsOf (types.submodule podOptions);
      default = { };
      example = literalExpression ''
        {
          dns = {
            extraOptions = [ "--network=anycast" "--ip=192.0.2.53" ];
            members = [ "bird" "unbound" ];
            sharePid = true;
          };
        }
      '';
      description = ''
        Pods: each is a container named after the attribute that runs sleeper and holds the
        namespaces its members join. The holder's systemd service is the one
        `virtualisation.oci-containers` gives a container of that name (`podman-<name>` or
        `docker-<name>`).
      '';
    };
  };

  config = mkIf (cfg.pods != { }) {
    assertions =
      map (pod: {
        assertion = !(builtins.elem pod (map (m: m.member) memberships));
        message = "services.sleeper.pods.${pod}: a pod cannot be a member of a pod.";
      }) podNames
      ++ concatMap (
        { member, pod }:
        let
          container = oci.containers.${member};
          # The options this module adds for the member's pods; a member of two pods is
          # reported once, by the assertion below.
          joins = concatMap (m: [
            "--network=container:${m.pod}"
            "--pid=container:${m.pod}"
          ]) (builtins.filter (m: m.member == member) memberships);
          ownNetworking =
            optional (container.ports != [ ]) "ports"
            ++ optional ((container.networks or [ ]) != [ ]) "networks"
            ++ optional ((container.hostname or null) != null) "hostname"
            ++ builtins.filter (
              option:
              !(builtins.elem option joins)
              && builtins.any (flag: option == flag || lib.hasPrefix "${flag}=" option) networkingFlags
            ) container.extraOptions;
        in
        [
          {
            assertion = (builtins.tryEval container.image).success;
            message = "services.sleeper.pods.${pod}.members: \"${member}\" must be an entry of virtualisation.oci-containers.containers with an image.";
          }
          {
            assertion = ownNetworking == [ ];
            message = "virtualisation.oci-containers.containers.${member} joins the network namespace of pod ${pod}, so it cannot set networking of its own; found: ${lib.concatStringsSep ", " ownNetworking}. Set it on services.sleeper.pods.${pod} instead.";
          }
        ]
      ) memberships
      ++ mapAttrsToList (member: pods: {
        assertion = builtins.length pods == 1;
        message = "virtualisation.oci-containers.containers.${member} is a member of more than one pod: ${toString pods}.";
      }) (mapAttrs (_: map (m: m.pod)) (builtins.groupBy (m: m.member) memberships));

    virtualisation.oci-containers.containers =
      mapAttrs (_: pod: {
        image = imageRef;
        inherit (cfg) imageFile;
        inherit (pod) autoStart ports extraOptions;
      }) cfg.pods
      // builtins.listToAttrs (
        map (
          { member, pod }:
          {
            name = member;
            value = {
              extraOptions = [
                "--network=container:${pod}"
              ]
              ++ optional cfg.pods.${pod}.sharePid "--pid=container:${pod}";
              dependsOn = [ pod ];
              # A member bound to a holder that does not start at boot must not start it.
              autoStart = lib.mkDefault cfg.pods.${pod}.autoStart;
            };
          }
        ) memberships
      );

    # The members' bindings. dependsOn already gives each member Requires= and After= the
    # holder: a member's start starts the holder first, and an explicit stop or restart of the
    # holder (also its own Restart=always restart job) stops or restarts the member. PartOf=
    # states that stop/restart rule here, independent of how oci-containers implements
    # dependsOn. BindsTo= adds the holder that goes down without a job: one that fails for
    # good (its start limit hit, or Restart= off) stops its members instead of leaving them in
    # a namespace that nothing holds. wantedBy: starting the holder starts its members.
    systemd.services =
      builtins.listToAttrs (
        map (
          { member, pod }:
          {
            name = unitOf member;
            value = {
              bindsTo = [ (serviceOf pod) ];
              partOf = [ (serviceOf pod) ];
              wantedBy = [ (serviceOf pod) ];
            };
          }
        ) memberships
      )
      # docker's units are Type=simple around a foreground `docker run`, so systemd counts the
      # holder as started as soon as it forks, and starts the members (After= it) before there
      # is a namespace to join. For Type=simple, ExecStartPost must finish before the unit is
      # active: wait there until the container runs. podman's units are Type=notify with
      # --sdnotify=conmon, active only once the container runs.
      // lib.optionalAttrs (oci.backend == "docker") (
        mapAttrs' (
          pod: _:
          lib.nameValuePair (unitOf pod) {
            postStart = ''
              while [ "$(docker inspect --format '{{.State.Running}}' ${lib.escapeShellArg pod} 2>/dev/null)" != true ]; do
                # systemd waits for ExecStartPost even when the main process has exited.
                if [ -n "''${MAINPID:-}" ] && ! kill -0 "$MAINPID" 2>/dev/null; then
                  echo "docker run of container ${pod} exited before the container ran" >&2
                  exit 1
                fi
                if [ "$SECONDS" -ge ${toString holderReadySeconds} ]; then
                  echo "container ${pod} is not running ${toString holderReadySeconds} s after docker run; the members of pod ${pod} would have no namespace to join" >&2
                  exit 1
                fi
                sleep 0.2
              done
            '';
          }
        ) cfg.pods
      );
  };
}
