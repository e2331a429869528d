"""`python -m bench` (`make bench`): the benchmarks; `--quick` for a short smoke run."""

import sys

from bench.run import main

sys.exit(main())
