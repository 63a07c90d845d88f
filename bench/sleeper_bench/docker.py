"""The docker rows: the same FROM-scratch images as the podman rows (saved from podman,
loaded into docker), run by a dockerd of the benchmark's own for each engine that
scripts/setup-docker installs: Debian 12's docker.io 20.10 and sid's docker.

Each dockerd runs as the tests run theirs (tests/tests/common/docker.rs): in a scratch
directory (data root, exec root, socket, pidfile), in a private mount namespace with tmpfs
on /run and /opt, cgroupfs under a cgroup parent of its own, no iptables, no bridge (the
holders get --network none). Everything is removed on every exit path."""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

from .common import READY_TIMEOUT, STEP_TIMEOUT, Abort, die
from .containers import DEFAULT_STOP_TIMEOUT, exit_text, podman
from .procfs import cgroup_memory, memory, wait_asleep

SID = os.path.join(os.environ.get("SLEEPER_DOCKER_CACHE", "/var/cache/sleeper/docker-sid"), "root")
# (label, dockerd, docker CLI): by absolute path, as another docker may come first on PATH.
ENGINES = (
    ("Debian 12", "/usr/sbin/dockerd", "/usr/bin/docker"),
    ("sid", os.path.join(SID, "usr/sbin/dockerd"), os.path.join(SID, "usr/bin/docker")),
)
SETUP = "scripts/setup-docker (run by scripts/setup-debian and bench/setup-debian)"


def preflight():
    """Fail early, naming the setup command, when an engine is missing."""
    for _, dockerd, cli in ENGINES:
        for program in (dockerd, cli, "/usr/bin/containerd", "/usr/sbin/runc"):
            if not os.path.exists(program):
                die(f"{program} is missing: run {SETUP}, or pass --no-containers")


class Daemon:
    """One dockerd in a scratch directory; `stop()` ends it and removes what it made."""

    def __init__(self, dockerd, cli):
        self.cli = cli
        self.dir = tempfile.mkdtemp(prefix="sleeper-bench-docker-")
        self.cgroup = os.path.basename(self.dir)
        config = os.path.join(self.dir, "daemon.json")
        with open(config, "w") as f:
            json.dump({"deprecated-key-path": os.path.join(self.dir, "key.json")}, f)
        self.env = dict(os.environ, DOCKER_HOST=f"unix://{self.dir}/sock",
                        DOCKER_CONFIG=os.path.join(self.dir, "client"))
        self.env.pop("DOCKER_CONTEXT", None)
        log = open(os.path.join(self.dir, "dockerd.log"), "w")
        self.process = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
             'mount -t tmpfs tmpfs /run && mount -t tmpfs tmpfs /opt && exec "$@"', "sh",
             dockerd, "--config-file", config, "--data-root", f"{self.dir}/data",
             "--exec-root", f"{self.dir}/exec", "--pidfile", f"{self.dir}/dockerd.pid",
             "-H", f"unix://{self.dir}/sock", "--exec-opt", "native.cgroupdriver=cgroupfs",
             "--iptables=false", "--ip6tables=false", "--bridge=none", "--ip-masq=false",
             f"--cgroup-parent=/{self.cgroup}"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + 60
        while True:
            r = self("version", "--format", "{{.Server.Version}}", check=False)
            if r.returncode == 0:
                self.version = r.stdout.strip()
                return
            if time.monotonic() > deadline or self.process.poll() is not None:
                with open(os.path.join(self.dir, "dockerd.log")) as f:
                    tail = f.read()[-2000:]
                self.stop()
                raise Abort(f"{dockerd} did not answer within 60 s:\n{tail}")
            time.sleep(0.1)

    def __call__(self, *args, timeout=STEP_TIMEOUT, check=True):
        r = subprocess.run([self.cli, *args], capture_output=True, text=True,
                           timeout=timeout, env=self.env)
        if check and r.returncode != 0:
            raise Abort(f"`docker {' '.join(args)}` failed ({r.returncode}):\n{r.stderr.strip()}")
        return r

    def stop(self):
        if self.process.poll() is None:
            ids = self("ps", "--all", "--quiet", check=False).stdout.split()
            if ids:
                self("rm", "--force", *ids, check=False)
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        deadline = time.monotonic() + 10
        for hierarchy in os.listdir("/sys/fs/cgroup"):
            d = os.path.join("/sys/fs/cgroup", hierarchy, self.cgroup)
            while os.path.isdir(d):
                try:
                    os.rmdir(d)
                except OSError:
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.1)
        shutil.rmtree(self.dir, ignore_errors=True)


def one_container(docker, image, name):
    """As containers.one_container: run detached, measure it asleep, stop with docker's
    default timeout. The monitor is the container's parent, containerd-shim-runc-v2."""
    r = {}
    t0 = time.monotonic_ns()
    docker("run", "--detach", "--name", name, "--network", "none", image)
    r["run_us"] = (time.monotonic_ns() - t0) / 1000
    pid = int(docker("container", "inspect", "--format", "{{.State.Pid}}", name).stdout)
    _, r["sig"], _ = wait_asleep(pid, timeout=READY_TIMEOUT)
    r["rss"], r["pss"] = memory(pid)
    cgroup = cgroup_memory(pid) or {}
    r["cg_total"] = cgroup.get("total")
    with open(f"/proc/{pid}/stat") as f:
        shim = int(f.read().rsplit(")", 1)[1].split()[1])
    r["shim_pss"] = memory(shim)[1]
    t0 = time.monotonic_ns()
    docker("stop", name, timeout=DEFAULT_STOP_TIMEOUT + STEP_TIMEOUT)
    r["stop_us"] = (time.monotonic_ns() - t0) / 1000
    code = int(docker("container", "inspect", "--format", "{{.State.ExitCode}}", name).stdout)
    r["exit"] = exit_text(code)
    docker("rm", name)
    return r


def measure(chosen, tags, runs, progress):
    """runs × (run, measure, stop) of each holder's image in each docker engine.
    Returns ({engine label: {key: [per-run figures]}}, {engine label: docker version})."""
    results, versions = {}, {}
    archives = tempfile.mkdtemp(prefix="sleeper-bench-archives-")
    try:
        for h in chosen:
            podman("save", "--format", "docker-archive", "--output",
                   os.path.join(archives, f"{h.key}.tar"), tags[h.key], timeout=120)
        for label, dockerd, cli in ENGINES:
            docker = Daemon(dockerd, cli)
            try:
                versions[label] = docker.version
                for h in chosen:
                    docker("load", "--quiet", "--input", os.path.join(archives, f"{h.key}.tar"))
                progress(f"docker {docker.version}: warm-up (not counted)")
                one_container(docker, tags[chosen[0].key], "warm-up")
                rows = results[label] = {h.key: [] for h in chosen}
                for run in range(runs):
                    for h in (chosen if run % 2 == 0 else chosen[::-1]):
                        progress(f"docker {docker.version} run {run + 1}/{runs}: {h.label}")
                        rows[h.key].append(one_container(docker, tags[h.key], f"{h.key}-{run}"))
            finally:
                docker.stop()
        return results, versions
    finally:
        shutil.rmtree(archives, ignore_errors=True)
