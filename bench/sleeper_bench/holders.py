"""The programs under test: building the hand-made alternatives from bench/alternatives
and describing every holder (what is exec'd, which file it is, how it was made)."""

import gzip
import io
import os
import shutil
import subprocess
import tarfile
from dataclasses import dataclass, field

from .common import HERE, die


@dataclass
class Holder:
    key: str
    label: str
    argv: list            # what is exec'd
    file: str             # the program file the size and layer refer to
    build: str = ""       # how it was made / where it comes from
    qemu: bool = False    # runs under qemu-user: single-instance only
    ref: str = "sleeper"  # ratios are taken against this row (same arch/emulation)
    # filled in by the measurements
    asleep: dict = field(default_factory=dict)   # mode -> signature seen when asleep


# tool -> the Debian package bench/setup-debian installs it from
TOOLS = {"musl-gcc": "musl-tools", "as": "binutils", "gcc": "gcc",
         "aarch64-linux-gnu-gcc": "gcc-aarch64-linux-gnu", "catatonit": "catatonit",
         "qemu-aarch64-static": "qemu-user-static", "qemu-riscv64-static": "qemu-user-static",
         "nsenter": "util-linux"}


def build_alternatives(build_dir):
    """Compile the hand-made alternatives from bench/alternatives into build_dir.
    Returns a function mapping a program name to its path there."""
    src = os.path.join(HERE, "alternatives")
    os.makedirs(build_dir, exist_ok=True)
    out = lambda n: os.path.join(build_dir, n)
    steps = [
        ["musl-gcc", "-Os", "-static", "-s", "-o", out("pause-loop"), f"{src}/pause-loop.c"],
        ["as", "-o", out("pause-loop-x86_64.o"), f"{src}/pause-loop-x86_64.S"],
        ["ld", "-s", "-o", out("pause-loop-asm"), out("pause-loop-x86_64.o")],
        ["aarch64-linux-gnu-gcc", "-Os", "-static", "-nostdlib", "-s",
         "-o", out("yield-loop-aarch64"), f"{src}/yield-loop-aarch64.c"],
        ["gcc", "-Os", "-static", "-s", "-o", out("k8s-pause"), f"{src}/k8s-pause.c"],
        # Not a holder: what starts each holder (see launch.c).
        ["musl-gcc", "-Os", "-static", "-s", "-o", out("launch"), f"{HERE}/launch.c"],
    ]
    for cmd in steps:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            die(f"building {cmd[-1]} failed:\n{r.stderr}")
    return out


def holders(dist, build_dir):
    """Check the inputs, build the alternatives, and return (holders, path of launch)."""
    sleepers = {a: os.path.join(dist, a, "sleeper") for a in ("x86_64", "aarch64", "riscv64")}
    missing = [p for p in sleepers.values() if not os.path.isfile(p)]
    if missing:
        die("missing " + ", ".join(missing) + "\n"
            "  Run scripts/dist first (it builds dist/<arch>/sleeper), or pass --dist DIR.")
    absent = [f"{t} ({p})" for t, p in TOOLS.items() if not shutil.which(t)]
    if not os.path.isfile("/bin/busybox"):
        absent.append("/bin/busybox (busybox-static)")
    if absent:
        die("missing tools: " + ", ".join(absent) + "\n  Run bench/setup-debian first (as root).")
    out = build_alternatives(build_dir)
    catatonit = shutil.which("catatonit")
    qa, qr = shutil.which("qemu-aarch64-static"), shutil.which("qemu-riscv64-static")
    return [
        Holder("sleeper", "sleeper (x86_64)", [sleepers["x86_64"]], sleepers["x86_64"],
               "dist/x86_64"),
        Holder("k8s", "k8s-pause-style (glibc static)", [out("k8s-pause")], out("k8s-pause"),
               "gcc -Os -static -s"),
        Holder("catatonit", "catatonit -P", [catatonit, "-P"], catatonit, "Debian catatonit"),
        Holder("busybox", "busybox tail -f /dev/null", ["/bin/busybox", "tail", "-f", "/dev/null"],
               "/bin/busybox", "Debian busybox-static"),
        Holder("pause-c", "pause() loop, C (musl)", [out("pause-loop")], out("pause-loop"),
               "musl-gcc -Os -static -s"),
        Holder("pause-asm", "pause() loop, x86_64 asm", [out("pause-loop-asm")], out("pause-loop-asm"),
               "as; ld -s"),
        Holder("sleeper-a64", "sleeper (aarch64, qemu)", [qa, sleepers["aarch64"]],
               sleepers["aarch64"], "dist/aarch64", qemu=True, ref="sleeper-a64"),
        Holder("yield-a64", "-nostdlib C loop (aarch64: sched_yield, qemu)",
               [qa, out("yield-loop-aarch64")], out("yield-loop-aarch64"),
               "aarch64-linux-gnu-gcc -Os -static -nostdlib -s", qemu=True, ref="sleeper-a64"),
        Holder("sleeper-rv64", "sleeper (riscv64, qemu)", [qr, sleepers["riscv64"]],
               sleepers["riscv64"], "dist/riscv64", qemu=True, ref="sleeper-rv64"),
    ], out("launch")


def layer_gz_size(path):
    """Gzipped size of a reproducible tar layer holding just this file (as Docker would
    ship it: gzip level 6, no timestamps, root-owned)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo(os.path.basename(path))
        info.size, info.mode, info.mtime = os.path.getsize(path), 0o755, 0
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        with open(path, "rb") as f:
            tar.addfile(info, f)
    return len(gzip.compress(buf.getvalue(), compresslevel=6, mtime=0))
