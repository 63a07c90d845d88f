"""bench/compare's benchmark: sleeper next to other namespace holders.

Where each part lives:
    cli.py         arguments, the order of the runs, cleanup on every exit path
    holders.py     the programs under test: building bench/alternatives, describing each
    processes.py   starting holders in fresh namespaces, signalling and reaping them
    procfs.py      /proc and cgroup readings: asleep or not, memory, CPU ticks, zombies
    measure.py     the bare-process measurements: single instance, stray signals, idle, scale
    containers.py  the podman rows: scratch images, `podman run`/`stop`, container memory
    report.py      the Markdown: tables, ratios, environment, how it was measured
    common.py      paths, time limits and the error exit they all share
"""
