"""Readings from /proc (and the cgroup files it points to): what a holder looks like
from outside, its memory and CPU time, zombies, and the machine's memory."""

import os
import statistics
import time

from .common import READY_TIMEOUT, SETTLE
from .processes import exec_time

USER_HZ = os.sysconf("SC_CLK_TCK")


def signature(pid, fd=None):
    """What a holder looks like from outside: program name, scheduler state and signal
    masks. 'Asleep' is State S with these no longer changing."""
    try:
        if fd is not None:
            st = os.pread(fd, 4096, 0)
        else:
            with open(f"/proc/{pid}/status", "rb") as f:
                st = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    d = {}
    for line in st.split(b"\n"):
        k, _, v = line.partition(b":")
        if k in (b"Name", b"State", b"SigBlk", b"SigIgn", b"SigCgt"):
            d[k.decode()] = v.strip().decode()
    d["State"] = d.get("State", "?")[:1]
    return tuple(sorted(d.items()))


def blocked_syscall(pid):
    """The syscall number it sleeps in. Read once, after the fact: reading
    /proc/<pid>/syscall can wait a scheduler tick for the target to get off its CPU
    (wait_task_inactive), far too coarse for the polling loop."""
    try:
        with open(f"/proc/{pid}/syscall") as f:
            return f.read().split(" ", 1)[0].strip()
    except OSError:
        return "?"


def wait_asleep(pid, pipe=None, timeout=READY_TIMEOUT):
    """Poll /proc/<pid>/status until it has shown State S with the same name and signal
    masks for SETTLE. Returns (exec->asleep in us, or None if it never got there or
    pipe is None; signature; median poll step in us). Polling starts before the exec
    time is read from pipe, so a fast holder can't be asleep before the first poll."""
    fd = os.open(f"/proc/{pid}/status", os.O_RDONLY)  # survives the exec: same pid
    t_exec = None
    try:
        cur, since, polls = None, 0, []
        t_end = time.monotonic_ns() + int(timeout * 1e9)
        while True:
            now = time.monotonic_ns()
            polls.append(now)
            sig = signature(pid, fd)
            if sig != cur:
                cur, since = sig, now
            if sig and dict(sig)["State"] == "S" and now - since >= SETTLE * 1e9:
                # The first poll that saw this signature; it appeared since the one before.
                t_exec = exec_time(pipe) if pipe is not None else None
                return (since - t_exec) / 1000 if t_exec else None, sig, _poll_step(polls)
            if now > t_end or sig is None:
                return None, sig, _poll_step(polls)
    finally:
        os.close(fd)
        if pipe is not None and t_exec is None:
            os.close(pipe)


def _poll_step(polls):
    early = [b - a for a, b in zip(polls, polls[1:])][:2000]
    return statistics.median(early) / 1000 if early else None


def memory(pid):
    """RSS and PSS in KiB from smaps_rollup."""
    out = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("Rss", "Pss"):
                out[k] = int(v.split()[0])
    return out["Rss"], out["Pss"]


# Per cgroup version: the directory under /sys/fs/cgroup, and the files and memory.stat
# keys for (total charged, user pages, kernel memory).
CGROUP_MEMORY = {
    "v1": ("memory", "memory.usage_in_bytes", ("total_rss", "total_cache"),
           "memory.kmem.usage_in_bytes"),
    "v2": ("", "memory.current", ("anon", "file"), "kernel"),
}


def cgroup_memory(pid):
    """What pid's memory cgroup is charged, in KiB: "total" (memory.current or
    memory.usage_in_bytes: includes the per-CPU charge batches, so it is coarse),
    "user" (anon + page cache from memory.stat: what the kernel docs call exact) and
    "kernel" (v1: memory.kmem.usage_in_bytes; v2: memory.stat's kernel). "version" says
    which layout was read; None when pid has no readable memory cgroup."""
    with open(f"/proc/{pid}/cgroup") as f:
        lines = [line.rstrip("\n").split(":", 2) for line in f]
    dirs = []
    for _, controllers, path in lines:
        path = path.lstrip("/")
        if "memory" in controllers.split(","):
            dirs.append(("v1", os.path.join("/sys/fs/cgroup/memory", path)))
        elif controllers == "":   # the v2 hierarchy: unified, or beside v1 in a hybrid layout
            dirs += [("v2", os.path.join("/sys/fs/cgroup", path)),
                     ("v2", os.path.join("/sys/fs/cgroup/unified", path))]
    for version, d in dirs:
        _, total_file, user_keys, kernel_source = CGROUP_MEMORY[version]
        try:
            with open(os.path.join(d, total_file)) as f:
                total = int(f.read())
            with open(os.path.join(d, "memory.stat")) as f:
                stat = {k: int(v) for k, v in (line.split() for line in f)}
        except (OSError, ValueError):
            continue
        if version == "v1":
            with open(os.path.join(d, kernel_source)) as f:
                kernel = int(f.read())
        else:
            kernel = stat.get(kernel_source)
        return {"version": version, "total": total // 1024,
                "user": sum(stat[k] for k in user_keys) // 1024,
                "kernel": None if kernel is None else kernel // 1024}
    return None


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])   # utime + stime, whole thread group


def zombie_children(pid):
    n = 0
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    rest = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if rest[0] == "Z" and rest[1] == str(pid):
                n += 1
    return n


def meminfo():
    out = {}
    with open("/proc/meminfo") as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = int(v.split()[0])
    return out


def wait_mem_settled(max_wait):
    """Let MemAvailable stop moving (at most max_wait) before a scale run, so the
    previous run's exits are not counted. The kernel frees network namespaces lazily:
    here a batch was seen to stay allocated until the next namespace was created, which
    is one reason the MemAvailable figure is noisy."""
    t_end, last = time.monotonic() + max_wait, meminfo()["MemAvailable"]
    while time.monotonic() < t_end:
        time.sleep(0.5)
        now = meminfo()["MemAvailable"]
        if abs(now - last) < 1024:
            return
        last = now


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])
