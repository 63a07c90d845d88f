"""Starting, signalling and reaping holders, and the namespace work around that.

Every process we start is in LIVE until reaped, so the cleanup on any exit path can
SIGKILL it; launch.c's PR_SET_PDEATHSIG covers a SIGKILLed benchmark."""

import ctypes
import os
import select
import signal
import sys
import time

from .common import Abort

CLONE_NEWNET = 0x40000000
CLONE_NEWPID = 0x20000000

libc = ctypes.CDLL(None, use_errno=True)

LIVE = {}  # pid -> pidfd


class CPU:
    """With 2+ CPUs the benchmark pins itself to one and its holders to the others, so
    its busy /proc polling never competes with the process it is timing."""
    bench = holders = all = None
    launch = None   # bench/launch.c, built next to the alternatives


class NS:
    """Handles on our own namespaces, to step back out after unshare()."""
    pid = net = None


def _check(ret, what):
    if ret != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"{what}: {os.strerror(e)}")


def spawn(argv, pid1, keep_pipe=False, cpus=None):
    """Start argv; with pid1, as PID 1 of a fresh PID and network namespace.

    The namespaces are created by unshare() in this process; posix_spawn (vfork-like, so
    cheap even from Python) starts bench/launch.c in them, and we step back out with
    setns(). So each holder is our direct child: no unshare(1) parent in between to skew
    memory or timing, and we can wait for it.
    cpus overrides the CPUs it may run on (default: all but the benchmark's).
    Returns (pid, pipe, ns_setup_ns). With keep_pipe, pipe is the fd that delivers
    CLOCK_MONOTONIC just before the holder's execve (read it with exec_time() once
    polling has begun); otherwise the launch has been confirmed and pipe is None.
    """
    cpus = cpus or CPU.holders
    cpus = ",".join(map(str, sorted(cpus))) if cpus else "-"
    r, w = os.pipe()
    os.set_inheritable(w, True)
    t0 = time.monotonic_ns()
    try:
        if pid1:
            _check(libc.unshare(CLONE_NEWPID | CLONE_NEWNET), "unshare")
        t_ns = time.monotonic_ns() - t0
        # Its own session, so terminal signals (Ctrl-C) reach only the benchmark, which
        # then stops everything itself. launch.c resets dispositions and the mask.
        pid = os.posix_spawn(
            CPU.launch, [CPU.launch, str(w), cpus] + argv, {"PATH": "/usr/bin:/bin"},
            setsid=True,
            file_actions=[(os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDWR, 0),
                          (os.POSIX_SPAWN_DUP2, 0, 1), (os.POSIX_SPAWN_DUP2, 0, 2)])
    except BaseException:
        os.close(r)
        raise
    finally:
        if pid1:
            _check(libc.setns(NS.net, CLONE_NEWNET), "setns net")
            _check(libc.setns(NS.pid, CLONE_NEWPID), "setns pid")
        os.close(w)
    LIVE[pid] = os.pidfd_open(pid)
    if keep_pipe:
        return pid, r, t_ns
    exec_time(r)
    return pid, None, t_ns


def exec_time(r):
    data = os.read(r, 8)
    os.close(r)
    if len(data) != 8:
        raise Abort("a holder failed to start (bench/build/launch could not run it)")
    return int.from_bytes(data, sys.byteorder)


def reap(pid):
    """Wait for an exited (or SIGKILLed) child; returns its wait status."""
    fd = LIVE.pop(pid, None)
    _, status = os.waitpid(pid, 0)
    if fd is not None:
        os.close(fd)
    return status


def kill_reap(pid):
    if pid in LIVE:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        reap(pid)


def cleanup():
    for pid in list(LIVE):
        try:
            kill_reap(pid)
        except ChildProcessError:
            LIVE.pop(pid, None)


def wait_exit(pids, timeout):
    """Wait until the children exit; returns {pid: monotonic_ns of exit} for those that did."""
    poller = select.poll()
    fd2pid = {LIVE[p]: p for p in pids}
    for fd in fd2pid:
        poller.register(fd, select.POLLIN)
    done, deadline = {}, time.monotonic() + timeout
    while len(done) < len(pids):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        for fd, _ in poller.poll(left * 1000):
            done[fd2pid[fd]] = time.monotonic_ns()
            poller.unregister(fd)
    return done


def signal_outcome(pid, sig, timeout):
    """Send sig, wait up to timeout. Returns (description, latency_us or None)."""
    t0 = time.monotonic_ns()
    os.kill(pid, sig)
    done = wait_exit([pid], timeout)
    if pid not in done:
        return "ignored", None
    status = reap(pid)
    code = os.waitstatus_to_exitcode(status)
    desc = f"exit {code}" if code >= 0 else f"killed by {signal.Signals(-code).name}"
    return desc, (done[pid] - t0) / 1000
