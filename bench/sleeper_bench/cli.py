"""Measure sleeper next to the namespace holders people use today, on this machine,
in one run, and print the figures as Markdown tables.

    bench/setup-debian            # once, as root: installs the alternatives' toolchains, podman, docker
    scripts/dist                  # builds dist/<arch>/sleeper
    bench/compare [--quick] [--no-containers] [--no-cri] [--dist DIR] [--runs R] [--scale N] ...

Must run as root (namespaces, /proc/<pid>/syscall, nsenter, rootful podman, dockerd).
Python 3.11 stdlib only. Every figure printed is measured in this run; none is typed in.
"""

import argparse
import os
import platform
import resource
import shlex
import signal
import sys
import time

from . import containers, cri, docker
from .common import HERE, REPO, Abort, die
from .holders import holders
from .measure import idle_cpu, scale, single, stray_signals
from .processes import CPU, NS, cleanup
from .procfs import loadavg
from .report import report


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="bench/compare", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dist", default=os.path.join(REPO, "dist"),
                    help="directory with <arch>/sleeper from scripts/dist (default: dist/ in the repo)")
    ap.add_argument("--build-dir", default=os.path.join(HERE, "build"),
                    help="where the alternatives are compiled (default: bench/build)")
    ap.add_argument("--runs", type=int, default=5,
                    help="runs of the single-instance and container measurements")
    ap.add_argument("--scale", type=int, default=1000, metavar="N", help="holders per kind at scale (0: skip)")
    ap.add_argument("--scale-runs", type=int, default=2)
    ap.add_argument("--idle", type=float, default=10.0, help="seconds of idle for the CPU figure")
    ap.add_argument("--no-containers", action="store_true",
                    help="skip the podman and docker rows (otherwise a missing engine is an error)")
    ap.add_argument("--no-cri", action="store_true",
                    help="skip the CRI rows (containerd's pod sandbox; scripts/setup-containerd)")
    ap.add_argument("--quick", action="store_true",
                    help="smoke mode: --runs 1 --scale 50 --scale-runs 1 --idle 2")
    a = ap.parse_args(argv)
    if a.quick:
        a.runs, a.scale, a.scale_runs, a.idle = 1, 50, 1, 2.0
    return a


def progress(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    a = parse_args(argv)
    if os.geteuid() != 0:
        die("must run as root (it creates PID and network namespaces)")
    if platform.machine() != "x86_64":
        die("runs on x86_64 hosts only: the native rows are x86_64 programs")
    # Before the long part, so a host without podman fails in seconds.
    runtime = None if a.no_containers else containers.preflight()
    if runtime:
        docker.preflight()
    if not a.no_cri:
        cri.preflight()

    shown = " ".join(["bench/compare"] + [shlex.quote(x) for x in argv])
    hs, CPU.launch = holders(os.path.abspath(a.dist), os.path.abspath(a.build_dir))
    by_key = {h.key: h for h in hs}
    native = [h for h in hs if not h.qemu]

    # Enough descriptors for one pidfd per holder at scale.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if a.scale and hard < a.scale + 100:
        die(f"RLIMIT_NOFILE hard limit {hard} is too low for --scale {a.scale}")
    cpus = sorted(os.sched_getaffinity(0))
    CPU.all = set(cpus)
    if len(cpus) > 1:
        CPU.bench, CPU.holders = {cpus[0]}, set(cpus[1:])
        os.sched_setaffinity(0, CPU.bench)
    NS.pid = os.open("/proc/self/ns/pid", os.O_RDONLY)
    NS.net = os.open("/proc/self/ns/net", os.O_RDONLY)

    # Turn TERM/HUP into an exception so the finally below cleans up (Ctrl-C already is one).
    def stop(signum, _):
        raise Abort(f"interrupted by {signal.Signals(signum).name}")
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, stop)

    load0 = loadavg()
    S = {(h.key, m): [] for h in hs for m in (True, False)}   # single-instance results
    stray, idle, idle_s, sc = [], [], [], {h.key: [] for h in native}
    ct, entrypoints, dk, cri_results = {}, {}, None, {}
    try:
        for run in range(a.runs):
            progress(f"single-instance run {run + 1}/{a.runs}")
            for h in hs:
                for pid1 in (True, False):
                    S[(h.key, pid1)].append(single(h, pid1))
            stray.append(stray_signals(hs))
            progress(f"idle CPU, {a.idle:g} s")
            ticks, secs = idle_cpu(hs, a.idle)
            idle.append(ticks)
            idle_s.append(secs)
        for h in hs:
            for pid1 in (True, False):
                sigs = [r["sig"] for r in S[(h.key, pid1)] if r.get("ready_us") is not None]
                h.asleep[pid1] = max(set(sigs), key=sigs.count) if sigs else None
        for run in range(a.scale_runs if a.scale else 0):
            # Alternate the order, so no kind always runs first or right after another.
            for h in (native if run % 2 == 0 else native[::-1]):
                progress(f"scale run {run + 1}/{a.scale_runs}: {a.scale} × {h.label}")
                sc[h.key].append(scale(h, a.scale, 3.0 if a.quick else 10.0))
        if runtime:
            # podman, conmon and runc inherit our affinity: give them every CPU, as a node would.
            os.sched_setaffinity(0, CPU.all)
            try:
                ct, entrypoints, dk = containers.measure(
                    hs, a.runs, progress,
                    also=lambda chosen, tags: docker.measure(chosen, tags, a.runs, progress))
            finally:
                if CPU.bench:
                    os.sched_setaffinity(0, CPU.bench)
        if not a.no_cri:
            os.sched_setaffinity(0, CPU.all)
            try:
                cri_results = cri.measure(hs, os.path.abspath(a.dist), a.runs, progress)
            finally:
                if CPU.bench:
                    os.sched_setaffinity(0, CPU.bench)
    except KeyboardInterrupt:
        cleanup()
        die("interrupted; everything it started has been stopped")
    except Abort as e:
        cleanup()
        die(str(e))
    finally:
        cleanup()

    report(a, shown, (load0, loadavg()), hs, by_key, S, stray, idle, idle_s, sc,
           ct, entrypoints, runtime, dk)
    if cri_results:
        print("\n".join(cri.section(hs, cri_results, a.runs)))
