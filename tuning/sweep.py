"""Ray Tune sweep over learning-rate schedules: ``python tuning/sweep.py --help``.

A thin script; the work is in the :mod:`tuning` package (installed with the project).
"""

import sys

from tuning.cli import main

if __name__ == "__main__":
    sys.exit(main())
