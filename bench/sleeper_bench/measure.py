"""The measurements on bare processes: one instance at a time (readiness, memory,
zombies, SIGTERM), stray signals, idle CPU, and N holders at scale."""

import os
import signal
import subprocess
import time

from .common import (Abort, ORPHANS, ORPHAN_LIFE, SCALE_READY_TIMEOUT, STEP_TIMEOUT,
                     STRAY_WAIT, TERM_TIMEOUT)
from .processes import CPU, LIVE, kill_reap, reap, signal_outcome, spawn, wait_exit
from .procfs import (blocked_syscall, cpu_ticks, meminfo, memory, signature,
                     wait_asleep, wait_mem_settled, zombie_children)


def single(h, pid1):
    """One instance: readiness, memory, zombies (as PID 1), and SIGTERM from outside."""
    r = {}
    pid, pipe, _ = spawn(h.argv, pid1, keep_pipe=True)
    try:
        r["ready_us"], sig, r["poll_us"] = wait_asleep(pid, pipe)
        r["sig"], r["syscall"] = sig, blocked_syscall(pid)
        if pid not in LIVE or os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT):
            r["term"] = "exited by itself"
            return r
        r["rss"], r["pss"] = memory(pid)
        if pid1:
            for _ in range(ORPHANS):
                subprocess.run(["nsenter", "--target", str(pid), "--pid", "--",
                                "/bin/sh", "-c", f"sleep {ORPHAN_LIFE} & exit"],
                               timeout=STEP_TIMEOUT, check=True)
            time.sleep(ORPHAN_LIFE + 0.3)
            r["zombies"] = zombie_children(pid)
        r["term"], r["term_us"] = signal_outcome(pid, signal.SIGTERM, TERM_TIMEOUT)
    finally:
        kill_reap(pid)
    return r


def stray_signals(hs):
    """Does a stray SIGHUP or SIGUSR1 kill it when it is an ordinary process?
    All holders at once, so this costs one STRAY_WAIT per run."""
    started = {}
    try:
        for h in hs:
            for sig in (signal.SIGHUP, signal.SIGUSR1):
                pid, _, _ = spawn(h.argv, False)
                started[(h.key, sig)] = pid
                wait_asleep(pid, timeout=1.0)
        t0 = time.monotonic()
        for (_, sig), pid in started.items():
            os.kill(pid, sig)
        time.sleep(max(0.0, STRAY_WAIT - (time.monotonic() - t0)))
        out = {}
        for (key, sig), pid in started.items():
            res = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            if res is None:
                out[(key, sig)] = "survives"
            else:
                code = os.waitstatus_to_exitcode(reap(pid))
                out[(key, sig)] = ("dies: exit %d" % code if code >= 0
                                   else "dies: " + signal.Signals(-code).name)
        return out
    finally:
        for pid in started.values():
            kill_reap(pid)


def idle_cpu(hs, seconds):
    """CPU ticks each holder uses while idle, all holders (both modes) side by side.
    Not pinned: a busy loop may take a whole CPU, as it would on a node."""
    started = {}
    try:
        for h in hs:
            for pid1 in (True, False):
                pid, _, _ = spawn(h.argv, pid1, cpus=CPU.all)
                started[(h.key, pid1)] = pid
        for pid in started.values():
            wait_asleep(pid, timeout=1.0)   # a busy loop never sleeps; don't wait for it
        before = {k: cpu_ticks(p) for k, p in started.items()}
        t0 = time.monotonic()
        time.sleep(seconds)
        after = {k: cpu_ticks(p) for k, p in started.items()}
        elapsed = time.monotonic() - t0
        return {k: after[k] - before[k] for k in started}, elapsed
    finally:
        for pid in started.values():
            kill_reap(pid)


def scale(h, n, settle):
    """N holders, each PID 1 of its own PID and network namespace."""
    wait_mem_settled(settle)
    m0 = meminfo()
    want = h.asleep.get(True)
    if want is None:
        raise Abort(f"{h.label} never got asleep as PID 1; can't time it at scale")
    pids, ns_ns = [], 0
    try:
        t0 = time.monotonic_ns()
        for _ in range(n):
            pid, _, t_ns = spawn(h.argv, True)
            pids.append(pid)
            ns_ns += t_ns
        waiting, t_end = set(pids), time.monotonic() + SCALE_READY_TIMEOUT
        while waiting and time.monotonic() < t_end:
            waiting = {p for p in waiting if signature(p) != want}
        t_ready = time.monotonic_ns()
        if waiting:
            raise Abort(f"{len(waiting)} of {n} {h.label} never got asleep")
        m1 = meminfo()
        mem = [memory(p) for p in pids]
        r = {
            "pss_total": sum(p for _, p in mem),
            "rss_total": sum(r for r, _ in mem),
            "avail_drop": m0["MemAvailable"] - m1["MemAvailable"],
            "committed": m1["Committed_AS"] - m0["Committed_AS"],
            "start_us": (t_ready - t0) / 1000 / n,
            "ns_us": ns_ns / 1000 / n,
        }
        # Stop: TERM to all; whatever is still there after TERM_TIMEOUT gets KILL.
        t0 = time.monotonic_ns()
        for p in pids:
            os.kill(p, signal.SIGTERM)
        done = wait_exit(pids, TERM_TIMEOUT)
        r["term_exited"] = len(done)
        if len(done) == n:
            r["stop_us"] = (max(done.values()) - t0) / 1000 / n
        else:
            rest = [p for p in pids if p not in done]
            t0 = time.monotonic_ns()
            for p in rest:
                os.kill(p, signal.SIGKILL)
            killed = wait_exit(rest, STEP_TIMEOUT)
            r["kill_us"] = (max(killed.values()) - t0) / 1000 / len(rest)
        for p in pids:
            reap(p)
        return r
    finally:
        for p in pids:
            kill_reap(p)
