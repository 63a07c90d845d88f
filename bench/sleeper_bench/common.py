"""What every part of the benchmark shares: paths, time limits, the error exit."""

import os
import sys

PACKAGE = os.path.dirname(os.path.realpath(__file__))
HERE = os.path.dirname(PACKAGE)       # bench/
REPO = os.path.dirname(HERE)

TERM_TIMEOUT = 3.0      # the limit for "ignored"
STRAY_WAIT = 1.0        # how long a stray HUP/USR1 gets to kill a holder
ORPHANS = 5             # orphans re-parented to each PID 1 in the zombie test
ORPHAN_LIFE = 0.2       # seconds each orphan lives before it becomes a zombie
READY_TIMEOUT = 2.0     # give up on "asleep" (a busy loop never gets there)
SETTLE = 0.1            # the asleep signature must hold this long to count
STEP_TIMEOUT = 30       # any helper command
SCALE_READY_TIMEOUT = 120.0


class Abort(Exception):
    pass


def die(msg):
    print(f"bench/compare: {msg}", file=sys.stderr)
    sys.exit(2)
