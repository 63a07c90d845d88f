# A NixOS VM test of nixosModules.default (modelled on nixpkgs' nixos/tests/oci-containers.nix),
# run once per oci-containers backend with one backend-neutral script: one pod, whose holder
# runs this flake's image, and two members built with dockerTools from nixpkgs' busybox. It
# checks that
#   - the holder's unit is active only once its container runs, and no member failed to start
#     (each starts once, after the holder's container is up);
#   - both members are in the holder's network and PID namespaces;
#   - one member reaches a service that the other binds on 127.0.0.1;
#   - `systemctl stop` of the holder stops the members, is quick, and the holder exits with 0;
#   - after the holder restarts, the members have restarted into its new namespace: namespace
#     inode numbers are reused at once, so "new" is proven by the members' processes starting
#     after the new holder, while sharing its namespace.
{
  pkgs,
  nixosModule,
  backend,
}:
let
  busyboxImage =
    name: config:
    pkgs.dockerTools.buildImage {
      inherit name config;
      tag = "latest";
      copyToRoot = [
        pkgs.busybox
        (pkgs.writeTextDir "www/index.html" "hello from the web member\n")
      ];
    };

  # A shell as PID 1 ignores TERM unless it traps it: without the trap every stop of the pod
  # would wait for the backend's stop timeout.
  untilTerm = command: {
    Cmd = [
      "/bin/sh"
      "-c"
      "trap 'exit 0' TERM; ${command} & wait"
    ];
  };
  webImage = busyboxImage "sleeper-test-web" (untilTerm "httpd -f -p 127.0.0.1:8080 -h /www");
  clientImage = busyboxImage "sleeper-test-client" (untilTerm "sleep 86400");
in
pkgs.testers.runNixOSTest {
  name = "sleeper-pod-${backend}";

  nodes.machine = {
    imports = [ nixosModule ];

    virtualisation.oci-containers = {
      inherit backend;
      containers = {
        web = {
          image = "sleeper-test-web:latest";
          imageFile = webImage;
        };
        client = {
          image = "sleeper-test-client:latest";
          imageFile = clientImage;
        };
      };
    };

    services.sleeper.pods.netpod = {
      members = [
        "web"
        "client"
      ];
      sharePid = true;
    };
  };

  testScript = ''
    import time

    backend = "${backend}"
    members = ["web", "client"]


    def unit(name):
        return backend + "-" + name + ".service"


    def inspect(name, field):
        return machine.succeed(
            backend + " inspect --format '{{" + field + "}}' " + name
        ).strip()


    def pid_of(name):
        return inspect(name, ".State.Pid")


    def ns_of(name, kind):
        return machine.succeed("readlink /proc/" + pid_of(name) + "/ns/" + kind).strip()


    def started_at(name):
        # Field 22 of /proc/<pid>/stat: the process's start, in clock ticks since boot.
        stat = machine.succeed("cat /proc/" + pid_of(name) + "/stat")
        return int(stat.rsplit(")", 1)[1].split()[19])


    def wait_for_pod():
        for name in ["netpod"] + members:
            machine.wait_for_unit(unit(name))
            machine.wait_until_succeeds(
                backend + " inspect --format '{{.State.Running}}' " + name + " | grep -x true"
            )


    def seconds(timestamp):
        return float(machine.succeed("date -d '" + timestamp + "' +%s.%N").strip())


    def check_started_in_order():
        """The holder's unit became active only once its container ran, so no member failed."""
        active = machine.succeed(
            "systemctl show -p ActiveEnterTimestamp --timestamp=us+utc --value " + unit("netpod")
        ).strip()
        running = inspect("netpod", ".State.StartedAt").removesuffix(" UTC")
        lead = seconds(running) - seconds(active)
        print("%s active %.3f s after its container started" % (unit("netpod"), -lead))
        assert lead <= 0, "%s was active %.3f s before its container started" % (unit("netpod"), lead)
        for member in members:
            restarts = machine.succeed("systemctl show -p NRestarts --value " + unit(member)).strip()
            assert restarts == "0", unit(member) + " failed and was restarted " + restarts + " times"


    def check_shared():
        """The members are in the holder's namespaces, started after it, and reach each other."""
        check_started_in_order()
        holder_started = started_at("netpod")
        for kind in ["net", "pid"]:
            holder_ns = ns_of("netpod", kind)
            for member in members:
                member_ns = ns_of(member, kind)
                assert member_ns == holder_ns, (
                    member + " is in " + member_ns + ", the pod holds " + holder_ns
                )
        for member in members:
            assert started_at(member) >= holder_started, (
                member + " started before the holder it is meant to share"
            )
        machine.wait_until_succeeds(
            backend
            + " exec client wget -q -O - http://127.0.0.1:8080/ | grep 'hello from the web member'"
        )
        return {name: pid_of(name) for name in ["netpod"] + members}


    def stop_holder():
        """systemctl stop of the holder: quick, stops the members, and sleeper exits with 0."""
        # `wait` prints the exit code on both backends; the unit removes the container after.
        machine.succeed(backend + " wait netpod > /tmp/holder-exit 2>&1 &")
        started = time.monotonic()
        machine.succeed("systemctl stop " + unit("netpod"))
        took = time.monotonic() - started
        print("systemctl stop of the pod took %.2f s" % took)
        # A holder or member that ignored TERM would take the backend's 10 s stop timeout.
        assert took < 5.0, "systemctl stop of the pod took %.2f s" % took
        for name in ["netpod"] + members:
            machine.fail("systemctl is-active " + unit(name))
        machine.wait_until_succeeds("grep -qx '[0-9]*' /tmp/holder-exit")
        code = machine.succeed("cat /tmp/holder-exit").strip()
        assert code == "0", "the holder exited with " + code


    start_all()
    machine.wait_for_unit("multi-user.target")

    with subtest("the members share the holder's namespaces and reach each other on 127.0.0.1"):
        wait_for_pod()
        first = check_shared()

    with subtest("stopping the holder is quick, exits 0, and stops the members"):
        stop_holder()

    with subtest("after the holder starts again, the members are in its new namespace"):
        machine.succeed("systemctl start " + unit("netpod"))
        wait_for_pod()
        second = check_shared()
        assert all(second[name] != first[name] for name in second), (first, second)

    with subtest("after the holder restarts, the members restart into its new namespace"):
        machine.succeed("systemctl restart " + unit("netpod"))
        wait_for_pod()
        third = check_shared()
        assert all(third[name] != second[name] for name in third), (second, third)

    with subtest("the image on its own: TERM and INT give exit status 0"):
        image = inspect("netpod", ".Config.Image")
        for signal in ["TERM", "INT"]:
            machine.succeed(backend + " run -d --name probe " + image)
            machine.wait_until_succeeds(backend + " inspect --format '{{.State.Running}}' probe | grep -x true")
            machine.succeed(backend + " kill --signal " + signal + " probe")
            machine.wait_until_succeeds(backend + " inspect --format '{{.State.Running}}' probe | grep -x false")
            code = inspect("probe", ".State.ExitCode")
            assert code == "0", "sleeper exited with " + code + " on " + signal
            machine.succeed(backend + " rm probe")
  '';
}
