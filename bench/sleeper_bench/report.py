"""Turning the measurements into the Markdown bench/results.md holds: number and ratio
formatting, the environment lines, every table and the notes on method."""

import datetime
import os
import platform
import signal
import statistics
import subprocess

from . import containers, docker
from .common import (ORPHANS, ORPHAN_LIFE, REPO, SETTLE, STEP_TIMEOUT, STRAY_WAIT,
                     TERM_TIMEOUT)
from .holders import layer_gz_size
from .procfs import USER_HZ, meminfo

PACKAGES = ("catatonit", "busybox-static", "musl-tools", "gcc", "libc6-dev", "qemu-user-static")
CONTAINER_PACKAGES = ("podman", "runc", "conmon", "netavark", "docker.io", "containerd")


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def spread(xs):
    """(max - min) / median, as a fraction; None when it can't be computed."""
    xs = [x for x in xs if x is not None]
    if len(xs) < 2 or statistics.median(xs) == 0:
        return None
    return (max(xs) - min(xs)) / statistics.median(xs)


def num(x, unit="", digits=0):
    if x is None:
        return "–"
    s = f"{x:,.{digits}f}"
    return f"{s} {unit}".strip()


def ratio(x, ref):
    if x is None or ref in (None, 0):
        return ""
    r = x / ref
    return f" (×{r:.2g})" if r < 10 else f" (×{r:,.0f})"


def with_ratio(x, ref, unit="", digits=0):
    return num(x, unit, digits) + ratio(x, ref)


def agree(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return "–"
    distinct = sorted(set(xs), key=xs.index)
    if len(distinct) == 1:
        return distinct[0]
    return " / ".join(f"{d} ({xs.count(d)} of {len(xs)} runs)" for d in distinct)


def term_cell(outcomes, lat):
    o = agree(outcomes)
    if o == "ignored":
        return f"ignored ({TERM_TIMEOUT:g} s)"
    return o if med(lat) is None else f"{o} in {num(med(lat), 'µs')}"


def sig_text(sig, syscall):
    if not sig:
        return "never asleep"
    d = dict(sig)
    return (f"{d['Name']}: State {d['State']}, SigBlk {d['SigBlk']}, SigIgn {d['SigIgn']}, "
            f"SigCgt {d['SigCgt']}; in syscall {syscall}")


def table(head, rows):
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def cmd_out(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=STEP_TIMEOUT).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "?"


def environment(argv_shown, runtime):
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    packages = PACKAGES + (CONTAINER_PACKAGES if runtime else ())
    pkgs = cmd_out(["dpkg-query", "-W", "-f", "${Package} ${Version}\\n", *packages])
    with open("/etc/debian_version") as f:
        debian = f.read().strip()
    lines = [
        f"- Date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}",
        f"- Command: `{argv_shown}`",
        f"- Kernel: Linux {platform.release()} ({platform.machine()}), Debian {debian}",
        f"- CPU: {cpu}, {os.cpu_count()} cores; RAM {meminfo()['MemTotal'] // 1024:,} MiB",
        "- Packages: " + "; ".join(pkgs.splitlines()),
    ]
    if runtime:
        conf = os.path.relpath(runtime["conf"], REPO)
        lines.append(
            f"- Containers: podman {runtime['podman']}, {runtime['runtime_version']}, "
            f"{runtime['conmon']}; {runtime['cgroup']}; network {runtime['network']}; "
            f"storage {runtime['storage']}; CONTAINERS_CONF={conf}")
    return lines


def container_section(hs, ct, entrypoints, runs):
    """The podman table, and which cgroup layout its memory columns were read from."""
    by_key = {h.key: h for h in hs}
    g = lambda key, f: med([r.get(f) for r in ct[key]])

    def cell(key, f, unit="KiB", digits=0, per=1):
        """Median of field f, in units of per, with its ratio to the sleeper row."""
        x, ref = g(key, f), g("sleeper", f)
        return with_ratio(None if x is None else x / per,
                          None if ref is None else ref / per, unit, digits)

    rows = []
    for key, rs in ct.items():
        rows.append([by_key[key].label,
                     "`" + " ".join(entrypoints[key]) + "`",
                     cell(key, "run_us", "ms", per=1000),
                     cell(key, "rss"), cell(key, "pss"),
                     cell(key, "cg_user"), cell(key, "cg_kernel"), cell(key, "cg_total"),
                     num(g(key, "conmon_pss"), "KiB"),
                     cell(key, "stop_us", "s", 2, per=1e6),
                     agree([r["exit"] for r in rs])])
    out = ["", f"## In a container: podman, FROM-scratch image, ENTRYPOINT the holder "
           f"(medians of {runs} run(s))", ""]
    out.append(table(["Holder", "ENTRYPOINT", "`podman run -d`", "Holder RSS", "Holder PSS",
                      "cgroup: anon + file", "cgroup: kernel", "cgroup: total charged",
                      "conmon PSS",
                      f"`podman stop` (default {containers.DEFAULT_STOP_TIMEOUT} s timeout)",
                      "Exit code after stop"], rows))
    return out, agree([r["cg_version"] for rs in ct.values() for r in rs])


def docker_section(hs, dk, runs):
    """The docker table: one row per engine and holder, beside the podman table."""
    results, versions = dk
    by_key = {h.key: h for h in hs}
    rows = []
    for label, by_holder in results.items():
        g = lambda key, f: med([r.get(f) for r in by_holder[key]])

        def cell(key, f, unit="KiB", digits=0, per=1):
            x, ref = g(key, f), g("sleeper", f)
            return with_ratio(None if x is None else x / per,
                              None if ref is None else ref / per, unit, digits)

        for key, rs in by_holder.items():
            rows.append([f"docker {versions[label]} ({label})", by_key[key].label,
                         cell(key, "run_us", "ms", per=1000),
                         cell(key, "rss"), cell(key, "pss"), cell(key, "cg_total"),
                         num(g(key, "shim_pss"), "KiB"),
                         cell(key, "stop_us", "s", 2, per=1e6),
                         agree([r["exit"] for r in rs])])
    out = ["", f"## In a container: docker, the same images (medians of {runs} run(s))", ""]
    out.append(table(["Engine", "Holder", "`docker run -d`", "Holder RSS", "Holder PSS",
                      "cgroup: total charged", "containerd-shim PSS",
                      f"`docker stop` (default {containers.DEFAULT_STOP_TIMEOUT} s timeout)",
                      "Exit code after stop"], rows))
    return out


def report(a, shown, load, hs, by_key, S, stray, idle, idle_s, sc, ct, entrypoints, runtime,
           dk=None):
    def m(key, pid1, field_):
        return med([r.get(field_) for r in S[(key, pid1)]])

    out = ["# sleeper vs. other namespace holders", ""]
    out += environment(shown, runtime)
    out.append(f"- Load average (1/5/15 min) before: {load[0]}; after: {load[1]}")
    if a.quick:
        out.append(f"- **Quick mode** ({a.scale} holders at scale, {a.idle:g} s idle, "
                   f"{a.runs} run): a smoke test, not figures to publish.")
    out += ["", f"Medians of {a.runs} run(s); ratios in parentheses are against the sleeper "
            "row of the same architecture (native x86_64, or the same qemu-user emulator).", ""]

    # Files
    out += ["## Files", ""]
    sizes = {h.key: (os.path.getsize(h.file), layer_gz_size(h.file)) for h in hs}
    out.append(table(
        ["Holder", "Built with / from", "File", "Layer (.tar.gz)"],
        [[h.label, h.build,
          with_ratio(sizes[h.key][0], sizes[h.ref][0], "B"),
          with_ratio(sizes[h.key][1], sizes[h.ref][1], "B")] for h in hs]))

    idle_med = lambda key, pid1: med([t[(key, pid1)] for t in idle])
    for pid1 in (True, False):
        out += ["", "## As PID 1 of a fresh PID + network namespace" if pid1 else
                "## As an ordinary process (not PID 1)", ""]
        head = ["Holder", "RSS", "PSS", f"CPU ticks in {med(idle_s):.0f} s idle",
                "exec → asleep", "SIGTERM from the host PID namespace" if pid1 else "SIGTERM"]
        head += [f"Zombies left (of {ORPHANS} orphans)"] if pid1 else ["Stray SIGHUP", "Stray SIGUSR1"]
        rows = []
        for h in hs:
            row = [h.label,
                   with_ratio(m(h.key, pid1, "rss"), m(h.ref, pid1, "rss"), "KiB"),
                   with_ratio(m(h.key, pid1, "pss"), m(h.ref, pid1, "pss"), "KiB"),
                   num(idle_med(h.key, pid1)),
                   (with_ratio(m(h.key, pid1, "ready_us"), m(h.ref, pid1, "ready_us"), "µs")
                    if m(h.key, pid1, "ready_us") is not None else "never (busy)"),
                   term_cell([r.get("term") for r in S[(h.key, pid1)]],
                             [r.get("term_us") for r in S[(h.key, pid1)]])]
            if pid1:
                row.append(agree([r.get("zombies") for r in S[(h.key, True)]]))
            else:
                row += [agree([s[(h.key, signal.SIGHUP)] for s in stray]),
                        agree([s[(h.key, signal.SIGUSR1)] for s in stray])]
            rows.append(row)
        out.append(table(head, rows))

    if any(sc.values()):
        n = a.scale
        out += ["", f"## At scale: {n:,} holders of each kind, each PID 1 of its own PID + "
                f"network namespace (medians of {a.scale_runs} run(s))", ""]
        ref = lambda f: med([r[f] for r in sc["sleeper"]])
        rows = []
        for key, rs in sc.items():
            h = by_key[key]
            g = lambda f: med([r.get(f) for r in rs])
            if all(r["term_exited"] == n for r in rs):
                stop = with_ratio(g("stop_us"), ref("stop_us"), "µs", 1)
            else:
                stop = (f"TERM ignored by {n - int(g('term_exited')):,}; "
                        f"KILL: {num(g('kill_us'), 'µs', 1)}")
            rows.append([h.label,
                         with_ratio(g("pss_total") / 1024, ref("pss_total") / 1024, "MiB", 1),
                         num(g("pss_total") / n, "KiB", 1),
                         num(g("avail_drop") / n, "KiB"),
                         num(g("committed") / n, "KiB", 1),
                         with_ratio(g("start_us"), ref("start_us"), "µs"),
                         num(g("ns_us"), "µs"),
                         stop])
        out.append(table(["Holder", "Σ PSS", "PSS / holder", "MemAvailable drop / holder",
                          "Committed_AS / holder", "Start / holder", "… of which namespace creation",
                          "Stop / holder (SIGTERM)"], rows))
        out += ["", "The qemu-user rows are single-instance only: at scale they would measure "
                "the emulator, not the holder."]

    cg_version = None
    if ct:
        section, cg_version = container_section(hs, ct, entrypoints, a.runs)
        out += section
    if dk:
        out += docker_section(hs, dk, a.runs)

    # How much each timing/memory figure moved between runs: which figures are noisy.
    cols = [("exec → asleep, PID 1", lambda k: [r.get("ready_us") for r in S[(k, True)]]),
            ("exec → asleep, ordinary", lambda k: [r.get("ready_us") for r in S[(k, False)]]),
            ("SIGTERM latency, PID 1", lambda k: [r.get("term_us") for r in S[(k, True)]]),
            ("SIGTERM latency, ordinary", lambda k: [r.get("term_us") for r in S[(k, False)]]),
            ("PSS, PID 1", lambda k: [r.get("pss") for r in S[(k, True)]])]
    if a.scale_runs > 1 and any(sc.values()):
        cols += [(name, lambda k, f=f: [r.get(f) for r in sc.get(k, [])]) for name, f in
                 (("Σ PSS at scale", "pss_total"), ("MemAvailable drop", "avail_drop"),
                  ("Start / holder", "start_us"), ("Stop / holder", "stop_us"))]
    if ct:
        cols += [(name, lambda k, f=f: [r.get(f) for r in ct.get(k, [])]) for name, f in
                 (("`podman run -d`", "run_us"), ("`podman stop`", "stop_us"))]
    pct = lambda x: "–" if x is None else f"{x * 100:.0f} %"
    if a.runs > 1:
        out += ["", f"## Noise: spread between runs, (max − min) / median", ""]
        out.append(table(["Holder"] + [c for c, _ in cols],
                         [[h.label] + [pct(spread(f(h.key))) for _, f in cols] for h in hs]))

    # What "asleep" means, per holder: measured, not assumed.
    out += ["", "## What \"asleep\" looked like (the signature `exec → asleep` waits for)", ""]
    rows = [[h.label, "PID 1" if pid1 else "ordinary",
             sig_text(h.asleep.get(pid1), agree([r.get("syscall") for r in S[(h.key, pid1)]
                                                 if r.get("ready_us") is not None]))]
            for h in hs for pid1 in (True, False)]
    out.append(table(["Holder", "As", "`/proc/<pid>/status` when asleep; `/proc/<pid>/syscall` number"],
                     rows))

    poll = med([r.get("poll_us") for rs in S.values() for r in rs])
    out += ["", "## How it was measured", "",
            "- The benchmark pins itself to one CPU and the holders to the others (when there are "
            "two or more), so its busy polling of `/proc` never delays the process it times. Other "
            "load on the machine still does: see the load average above and the noise table.",
            "- Each holder is a direct child of the benchmark, so no wrapper process is counted: for the "
            "PID 1 case the benchmark calls `unshare(CLONE_NEWPID|CLONE_NEWNET)`, `posix_spawn`s "
            "`bench/launch.c` (a tiny static program that sets PR_SET_PDEATHSIG, pins the CPU, notes "
            "the time and execs the holder), then returns to its own namespaces with `setns`. The "
            "holder starts with default signal dispositions, an empty mask and its own session.",
            "- **exec → asleep**: from just before `execve` until the first poll of `/proc/<pid>/status` "
            "that shows the holder's final signature (table above: its name, State S and its signal "
            f"masks) which then holds for {SETTLE * 1000:.0f} ms. This "
            "signature is observed, not assumed; it is per holder because each waits differently. "
            "sleeper shows SigBlk 0 while it waits: the kernel swaps the mask for the set "
            f"`rt_sigtimedwait` waits on. The poll step was {num(poll, 'µs', 1)} (median), which bounds "
            "the resolution.",
            "- **RSS/PSS**: `/proc/<pid>/smaps_rollup` once asleep. For qemu rows they are the emulator's.",
            f"- **CPU ticks**: utime+stime from `/proc/<pid>/stat` (USER_HZ = {USER_HZ}) over the idle "
            "window, with every holder of both tables running side by side on all CPUs (not pinned), so "
            "a busy loop gets whatever CPU it can take.",
            f"- **SIGTERM from outside**: sent from the host PID namespace; `ignored` means still "
            f"alive after {TERM_TIMEOUT:g} s. The latency is from `kill` until its pidfd reports the exit.",
            f"- **Zombies**: {ORPHANS} times `nsenter --target <pid> --pid -- sh -c 'sleep "
            f"{ORPHAN_LIFE:g} & exit'`, then the Z-state children of the holder are counted. Only "
            "meaningful as PID 1: an ordinary process only inherits orphans it made itself.",
            f"- **Stray SIGHUP/SIGUSR1**: sent to an ordinary-process instance; checked {STRAY_WAIT:g} s later.",
            "- **Scale**: holders start one after the other; start/holder is the time until all are "
            "asleep, divided by N. Σ PSS sums `smaps_rollup` of the holders; the MemAvailable and "
            "Committed_AS changes also include the kernel's namespaces, task structs and page tables. "
            "Stop/holder is the time from the first SIGTERM until the last holder has exited, divided "
            "by N; holders that ignore TERM are killed with SIGKILL and that time is reported. The "
            "kernel frees the network namespaces asynchronously after that, not counted. Before each "
            "kind, MemAvailable is left to settle; the kinds run in alternating order between runs.",
            "- **Layer**: a tar holding only the program file (mtime 0, root-owned), gzip level 6.",
            ]
    if ct:
        out += [
            "- **Containers**: for each holder a FROM-scratch image is built with `podman build` from "
            f"a temporary context: the program file, `USER {containers.USER}` (as sleeper's own image) "
            "and ENTRYPOINT as in the table; the program must be static (no ELF interpreter), and "
            "Debian's catatonit is. Each run does `podman run -d` (default bridge network), waits for "
            "the holder to be asleep, reads its memory, then `podman stop` without `--time`, so "
            f"podman's default applies: the stop signal (SIGTERM), then SIGKILL after "
            f"{containers.DEFAULT_STOP_TIMEOUT} s. Both times are wall time of the podman command, its "
            "own start-up included; the benchmark is not pinned to one CPU while they run. The exit "
            "code is `State.ExitCode` from `podman inspect` afterwards (128 + n: killed by signal n). "
            "One untimed container runs first; then the runs alternate the order of the holders; everything named "
            f"`{containers.NAME_PREFIX}*` is removed afterwards.",
            "- **Container memory**: holder RSS/PSS from `/proc/<pid>/smaps_rollup` of `State.Pid`. "
            f"The cgroup columns read the memory cgroup `/proc/<pid>/cgroup` names (cgroup {cg_version} "
            "here): anon + file is `memory.stat` "
            + ("total_rss + total_cache; kernel is `memory.kmem.usage_in_bytes`; total is "
               "`memory.usage_in_bytes`" if cg_version == "v1" else
               "anon + file; kernel is its kernel; total is `memory.current`")
            + ". The program's own pages are page cache charged to whoever read the file first "
            "(`podman build`), so they count in RSS but rarely in the container's cgroup. The total "
            "includes charges the kernel batches per CPU, so it is coarse; `memory.stat` is exact. "
            "conmon is the monitor podman runs next to each container, outside its cgroup; it is "
            "the same program for every holder.",
            "- **docker**: the same images, saved from podman (`podman save`) and loaded with "
            "`docker load` into a dockerd of the benchmark's own per engine (Debian 12's docker.io "
            "and sid's, from `scripts/setup-docker`), started in a scratch directory and private "
            "mount namespace as the tests start theirs (cgroupfs, no iptables, no bridge). Each run "
            "is `docker run -d --network none`, the same readings, then `docker stop` without "
            f"`--time` (docker's default: SIGKILL after {containers.DEFAULT_STOP_TIMEOUT} s) and "
            "`State.ExitCode`. The monitor docker runs beside each container is "
            "containerd-shim-runc-v2, the holder's parent.",
        ]
    print("\n".join(out))
