"""`python3 -m sleeper_bench` (from bench/) does what bench/compare does."""

from .cli import main

main()
