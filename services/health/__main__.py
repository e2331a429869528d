"""`python -m services.health`: the same as `switchboard serve monitor`."""

import sys

from switchboard.cli import main

sys.exit(main(["serve", "monitor", *sys.argv[1:]]))
