"""The CRI rows: sleeper and the pause() loop as the pod sandbox ("pause") image of
containerd's CRI, for each containerd release scripts/setup-containerd provides (1.6, 1.7,
2.x), with the wall time of RunPodSandbox and StopPodSandbox. The CRI client is the test
crate's (tests/src/cri.rs, generated from the CRI api.proto), driven by its small
`cri-bench` binary; each image gets a private containerd whose sandbox image it is, all in
the same run, the order alternating run by run. Everything is removed on exit."""

import json
import os
import shutil
import subprocess

from .common import REPO, Abort, die
from .report import agree, med, table, with_ratio

RELEASES = ("1.6", "1.7", "2.x")
# Holder.key -> what the sandbox image holds.
KEYS = ("sleeper", "pause-c")
BIN = os.path.join(REPO, "target", "debug", "cri-bench")
TIMEOUT = 600


def cargo():
    # As scripts/toolchain.sh: Debian's cargo (rustc-web) when it is there.
    return "/usr/bin/cargo" if os.path.exists("/usr/bin/cargo") else shutil.which("cargo")


def preflight():
    """Build the cri-bench binary; fail early, with what to do, when something is missing."""
    if not cargo():
        die("cargo not found: the CRI rows need scripts/setup-debian's toolchain, "
            "or pass --no-cri to skip them")
    env = dict(os.environ, PATH="/usr/bin:" + os.environ.get("PATH", ""))
    r = subprocess.run([cargo(), "build", "--quiet", "--locked", "-p", "sleeper-tests",
                        "--bin", "cri-bench"], cwd=REPO, env=env, capture_output=True,
                       text=True, timeout=TIMEOUT)
    if r.returncode != 0:
        die(f"building cri-bench failed:\n{r.stderr.strip()}\n  Pass --no-cri to skip the CRI rows.")


def measure(hs, dist, runs, progress):
    """{release: cri-bench's JSON} for every release; a release that fails aborts the run."""
    by_key = {h.key: h for h in hs}
    images = [f"sleeper={os.path.join(dist, 'images', 'x86_64.tar.gz')}",
              f"pause-c={by_key['pause-c'].file}"]
    results = {}
    for release in RELEASES:
        progress(f"CRI: containerd {release}, {runs} run(s)")
        r = subprocess.run([BIN, "--containerd", release, "--runs", str(runs), *images],
                           capture_output=True, text=True, timeout=TIMEOUT)
        if r.returncode != 0:
            raise Abort(f"cri-bench (containerd {release}) failed:\n{r.stderr.strip()}\n"
                        "  Run scripts/setup-containerd (scripts/setup-debian runs it), "
                        "or pass --no-cri.")
        results[release] = json.loads(r.stdout)
    return results


def section(hs, results, runs):
    """The Markdown table and the note on method."""
    by_key = {h.key: h for h in hs}
    rows = []
    for release, result in results.items():
        figures = result["images"]
        ref = figures["sleeper"]
        for key in KEYS:
            f = figures[key]
            rows.append([f"{result['version']} ({release})", by_key[key].label,
                         with_ratio(med(f["run_s"]) * 1000, med(ref["run_s"]) * 1000, "ms"),
                         with_ratio(med(f["stop_s"]) * 1000, med(ref["stop_s"]) * 1000, "ms"),
                         agree([str(x) for x in f["exit"]])])
    return ["", f"## In Kubernetes' CRI: containerd's pod sandbox image (medians of {runs} run(s))",
            "", table(["containerd", "Sandbox image", "RunPodSandbox", "StopPodSandbox",
                       "Exit status containerd reports"], rows),
            "", "- **CRI**: `target/debug/cri-bench` (the test crate's CRI client, generated from "
            "the CRI `api.proto` by the `k8s-cri` crate) runs one private containerd per sandbox "
            "image, configured from `docs/kubernetes.md`, with Debian 12's runc; each run is "
            "RunPodSandbox, StopPodSandbox and RemovePodSandbox of a pod with its own network "
            "namespace (a test CNI plugin gives it `eth0`), timed as the wall time of each gRPC "
            "call. One untimed pod per image runs first. containerd stops a sandbox with SIGKILL, "
            "never SIGTERM, so the exit status (from its `/tasks/exit` event) is 137 for every "
            "image."]
