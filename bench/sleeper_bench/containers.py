"""The runtime rows: each holder as the entrypoint of a FROM-scratch image, run by
podman (rootful) the way the image says, then stopped with `podman stop` and its
default timeout.

Everything created here is named sleeper-bench-*-<our pid> and removed on every exit
path: containers, images, the build contexts."""

import json
import os
import shutil
import signal
import struct
import subprocess
import tempfile
import time

from .common import READY_TIMEOUT, REPO, STEP_TIMEOUT, Abort, die
from .procfs import cgroup_memory, memory, wait_asleep

# The holders that get a container, by Holder.key: sleeper, the Kubernetes pause
# program, catatonit and the simplest pause() loop (the foreign-arch and shell rows
# would measure qemu or busybox, not a runtime difference).
KEYS = ("sleeper", "k8s", "catatonit", "pause-c")
NAME_PREFIX = "sleeper-bench-"
# As nix/image.nix builds sleeper's image (the Kubernetes pause image uses 65535).
USER = "65534:65534"
# podman's own default for `podman stop`; we don't pass --time so it applies.
DEFAULT_STOP_TIMEOUT = 10
PT_INTERP = 3


def podman_env():
    """Our environment, plus the repo's containers.conf unless the caller chose one:
    it holds the runtime, cgroup manager and ulimits that work on this kind of host."""
    env = dict(os.environ)
    env.setdefault("CONTAINERS_CONF", os.path.join(REPO, "scripts", "containers.conf"))
    return env


def podman(*args, timeout=STEP_TIMEOUT, check=True):
    r = subprocess.run(["podman", *args], capture_output=True, text=True,
                       timeout=timeout, env=podman_env())
    if check and r.returncode != 0:
        raise Abort(f"`podman {' '.join(args)}` failed ({r.returncode}):\n{r.stderr.strip()}")
    return r


def preflight():
    """Fail early, with what to do, when podman can't run containers here.
    Returns the facts the report states about the runtime."""
    if not shutil.which("podman"):
        die("podman not found: the container rows need it (bench/setup-debian installs "
            "podman, runc, netavark and iptables), or pass --no-containers to skip them")
    try:
        r = podman("info", "--format", "json")
    except (Abort, subprocess.SubprocessError) as e:
        die(f"podman can't run here: {e}\n  Pass --no-containers to skip the container rows.")
    info = json.loads(r.stdout)
    host, store = info["host"], info["store"]
    return {
        "podman": info["version"]["Version"],
        "runtime": host["ociRuntime"]["name"],
        "runtime_version": host["ociRuntime"]["version"].splitlines()[0],
        "conmon": host["conmon"]["version"].splitlines()[0],
        "cgroup": f"{host['cgroupManager']}, cgroup {host['cgroupVersion']}",
        "network": host.get("networkBackend", "?"),
        "storage": store["graphDriverName"],
        "conf": podman_env()["CONTAINERS_CONF"],
    }


def is_static(path):
    """True when the ELF file has no program interpreter, so it runs alone in a
    FROM-scratch image."""
    with open(path, "rb") as f:
        head = f.read(64)
        if head[:4] != b"\x7fELF" or head[4] != 2 or head[5] != 1:
            raise Abort(f"{path}: not a 64-bit little-endian ELF file")
        phoff, = struct.unpack_from("<Q", head, 32)
        phentsize, phnum = struct.unpack_from("<HH", head, 54)
        for i in range(phnum):
            f.seek(phoff + i * phentsize)
            p_type, = struct.unpack("<I", f.read(4))
            if p_type == PT_INTERP:
                return False
    return True


def build_image(h, context_root, tag):
    """A FROM-scratch image holding just h's program, ENTRYPOINT its argv."""
    if not is_static(h.file):
        raise Abort(f"{h.file} is dynamically linked: it can't run alone in a scratch image")
    context = os.path.join(context_root, h.key)
    os.makedirs(context)
    name = os.path.basename(h.file)
    shutil.copy2(h.file, os.path.join(context, name))
    entrypoint = [f"/{name}"] + h.argv[1:]
    with open(os.path.join(context, "Containerfile"), "w") as f:
        f.write(f"FROM scratch\nCOPY {name} /{name}\nUSER {USER}\n"
                f"ENTRYPOINT {json.dumps(entrypoint)}\n")
    podman("build", "--quiet", "--tag", tag, context, timeout=120)
    return entrypoint


def inspect(name):
    return json.loads(podman("inspect", "--type", "container", name).stdout)[0]


def exit_text(code):
    """podman reports 128 + n when signal n ended the container's PID 1."""
    if code > 128:
        try:
            return f"exit {code} ({signal.Signals(code - 128).name})"
        except ValueError:
            pass
    return f"exit {code}"


def one_container(tag, name):
    """Run one container detached, measure it asleep, stop it with podman's default
    timeout. Returns the figures of this run."""
    r = {}
    t0 = time.monotonic_ns()
    podman("run", "--detach", "--name", name, tag)
    r["run_us"] = (time.monotonic_ns() - t0) / 1000
    state = inspect(name)["State"]
    pid, conmon = state["Pid"], state["ConmonPid"]
    _, r["sig"], _ = wait_asleep(pid, timeout=READY_TIMEOUT)
    r["rss"], r["pss"] = memory(pid)
    cgroup = cgroup_memory(pid) or {}   # empty: no memory cgroup to read
    r["cg_version"] = cgroup.get("version")
    r["cg_total"], r["cg_user"], r["cg_kernel"] = (cgroup.get(k) for k in ("total", "user", "kernel"))
    r["conmon_pss"] = memory(conmon)[1]
    t0 = time.monotonic_ns()
    # Generous: the figure is how long podman itself takes, its timeout included.
    podman("stop", name, timeout=DEFAULT_STOP_TIMEOUT + STEP_TIMEOUT)
    r["stop_us"] = (time.monotonic_ns() - t0) / 1000
    state = inspect(name)["State"]
    r["exit"] = exit_text(state["ExitCode"])
    podman("rm", name)
    return r


def measure(hs, runs, progress, also=None):
    """runs × (run, measure, stop) of each container holder, alternating the order; then
    also(chosen holders, {key: image tag}), while the images exist (the docker rows).
    Returns ({key: [per-run figures]}, {key: entrypoint}, what also returned)."""
    chosen = [h for h in hs if h.key in KEYS]
    suffix = f"-{os.getpid()}"
    tags = {h.key: f"localhost/{NAME_PREFIX}{h.key}{suffix}" for h in chosen}
    names = []
    results = {h.key: [] for h in chosen}
    context_root = tempfile.mkdtemp(prefix=NAME_PREFIX)
    try:
        entrypoints = {h.key: build_image(h, context_root, tags[h.key]) for h in chosen}
        # One untimed container first, so no holder's first run pays for cold caches.
        progress("container warm-up (not counted)")
        names.append(f"{NAME_PREFIX}warm-up{suffix}")
        one_container(tags[chosen[0].key], names[-1])
        for run in range(runs):
            for h in (chosen if run % 2 == 0 else chosen[::-1]):
                progress(f"container run {run + 1}/{runs}: {h.label}")
                name = f"{NAME_PREFIX}{h.key}{suffix}-{run}"
                names.append(name)
                results[h.key].append(one_container(tags[h.key], name))
        return results, entrypoints, also and also(chosen, tags)
    finally:
        # --time 0: a holder that ignores SIGTERM must not keep a failed run waiting.
        for name in names:
            podman("rm", "--force", "--ignore", "--time", "0", name, check=False)
        for tag in tags.values():
            podman("rmi", "--force", "--ignore", tag, check=False)
        shutil.rmtree(context_root, ignore_errors=True)
