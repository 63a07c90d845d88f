# A NixOS VM test of nixosModules.default (modelled on nixpkgs' nixos/tests/oci-containers.nix):
# one pod, whose holder runs this flake's image, and two members built with dockerTools from
# nixpkgs' busybox. It checks that
#   - both members are in the holder's network (and PID) namespace: same /proc/<pid>/ns inodes;
#   - one member reaches a service that the other binds on 127.0.0.1;
#   - `systemctl stop` of the holder returns in under 2 s and the holder exited with 0;
#   - after the holder restarts, the members have restarted into the new namespace.
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

  webImage = busyboxImage "sleeper-test-web" {
    Cmd = [
      "/bin/httpd"
      "-f"
      "-p"
      "127.0.0.1:8080"
      "-h"
      "/www"
    ];
  };
  clientImage = busyboxImage "sleeper-test-client" {
    Cmd = [
      "/bin/sleep"
      "86400"
    ];
  };
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
    import json
    import time

    backend = "${backend}"


    def unit(name):
        return backend + "-" + name + ".service"


    def pid_of(name):
        return machine.succeed(
            backend + " inspect --format '{{.State.Pid}}' " + name
        ).strip()


    def ns_of(name, kind):
        return machine.succeed(
            "readlink /proc/" + pid_of(name) + "/ns/" + kind
        ).strip()


    def wait_for_pod():
        for name in ["netpod", "web", "client"]:
            machine.wait_for_unit(unit(name))
            machine.wait_until_succeeds(
                backend + " inspect --format '{{.State.Running}}' " + name + " | grep -x true"
            )


    def check_shared(expect_not=None):
        net = ns_of("netpod", "net")
        pid = ns_of("netpod", "pid")
        for member in ["web", "client"]:
            member_net = ns_of(member, "net")
            assert member_net == net, member + " is in " + member_net + ", the pod holds " + net
            member_pid = ns_of(member, "pid")
            assert member_pid == pid, member + " is in " + member_pid + ", the pod holds " + pid
        if expect_not is not None:
            assert net != expect_not, "the holder did not get a new namespace: " + net
        machine.wait_until_succeeds(
            backend + " exec client wget -q -O - http://127.0.0.1:8080/ | grep 'hello from the web member'"
        )
        return net


    start_all()
    machine.wait_for_unit("multi-user.target")

    with subtest("the members share the holder's namespaces and reach each other on 127.0.0.1"):
        wait_for_pod()
        first_net = check_shared()

    with subtest("stopping the holder takes under 2 s, exits 0, and stops the members"):
        started = time.monotonic()
        machine.succeed("systemctl stop " + unit("netpod"))
        took = time.monotonic() - started
        print("systemctl stop of the holder took %.2f s" % took)
        assert took < 2.0, "systemctl stop of the holder took %.2f s" % took
        for name in ["netpod", "web", "client"]:
            machine.fail("systemctl is-active " + unit(name))
        died = [
            json.loads(line)
            for line in machine.succeed(
                backend + " events --stream=false --since 10m --filter container=netpod"
                + " --filter event=died --format json"
            ).splitlines()
            if line.strip()
        ]
        assert died, "no died event for the holder"
        # ContainerExitCode is omitted from the JSON when it is 0.
        code = died[-1].get("ContainerExitCode", 0)
        assert code == 0, "the holder exited with %s" % code

    with subtest("after the holder restarts, the members are in its new namespace"):
        machine.succeed("systemctl start " + unit("netpod"))
        wait_for_pod()
        second_net = check_shared(expect_not=first_net)
        machine.succeed("systemctl restart " + unit("netpod"))
        wait_for_pod()
        check_shared(expect_not=second_net)

    with subtest("the image on its own: TERM and INT give exit status 0"):
        image = machine.succeed(backend + " inspect --format '{{.ImageName}}' netpod").strip()
        for signal in ["TERM", "INT"]:
            machine.succeed(backend + " run -d --name probe " + image)
            machine.sleep(1)
            machine.succeed(backend + " inspect --format '{{.State.Running}}' probe | grep -x true")
            machine.succeed(backend + " kill --signal " + signal + " probe")
            machine.wait_until_succeeds(
                backend + " inspect --format '{{.State.Running}}' probe | grep -x false"
            )
            code = machine.succeed(backend + " inspect --format '{{.State.ExitCode}}' probe").strip()
            assert code == "0", "sleeper exited with " + code + " on " + signal
            machine.succeed(backend + " rm probe")
  '';
}
